//! The Linux CPU hotplug state machine.
//!
//! Since Linux 4.10 a CPU comes up and goes down through an ordered list of *states*, each with an
//! optional startup and teardown callback: the PREPARE section runs on the control CPU before the
//! CPU boots (and after it died), the STARTING section on the CPU itself with interrupts off, the
//! ONLINE section on the CPU's hotplug thread. Going up runs startups in ascending order; going
//! down, teardowns in descending order. When a callback fails, the machine walks back over exactly
//! what succeeded — the failing callback gets no counterpart — and the CPU ends where it started.
//!
//! This crate is that state machine, ported from Linux 6.1's `kernel/cpu.c` function by function
//! and checked against traces recorded on a real Linux 6.1 kernel (the `conformance` crate):
//!
//! * [`Hotplug`]: a machine's CPUs and state table, and the operations — `cpu_up`/`cpu_down` to
//!   a full or partial target, `setup_state`/`remove_state`, multi-instance states with
//!   `add_instance`/`remove_instance`, the per-CPU `hotplug/fail` injection, and the
//!   sysfs-shaped surface (`sysfs_read`/`sysfs_write`).
//! * [`Prepare`], [`Starting`], [`Online`] (and their `Multi` forms): callbacks typed by section,
//!   so that a STARTING callback or a PREPARE teardown *cannot* fail — it returns `()`.
//! * [`Platform`]: how work reaches a CPU. [`Inline`] runs everything on the caller; the
//!   simulator (`sim::Machine`, with `std`) runs each CPU as an OS thread.
//! * [`preset`]: real state tables as data — "Linux 6.1 x86_64" numbers its states and hands out
//!   dynamic slots (71, 211, …) exactly as that kernel does.
//! * [`TraceEvent`]: every callback, with its CPU, state, direction, instance, result and where it
//!   ran; printable as Linux's `cpuhp_enter`/`cpuhp_exit` tracepoint text.
//!
//! # Rollback, in one picture
//!
//! ```text
//!   up:    prep ✓   a ✓   b ✗        → b gets nothing; a, prep are torn down: CPU back at 0
//!   down:  c ✓   b ✗                 → c starts up again; CPU stays up
//! ```
//!
//! # Deliberate differences from Linux 6.1
//!
//! * PREPARE teardowns and STARTING callbacks cannot fail (by type). Linux lets a PREPARE teardown
//!   fail and leaves the CPU stuck half-way (the recording `crates/conformance/data/cpuhp_offline_fail_prep_teardown.txt`).
//! * A multi-instance failure on the control side is returned, not swallowed
//!   ([`Divergence::InstanceFailureKept`]).
//! * Where Linux would `BUG()` (a teardown failing while a state or instance is removed), the
//!   removal is undone and an error returned.
//! * A callback that panics (with `std`) is a callback that fails, caught where it is called —
//!   Linux has no counterpart (a crashing kernel callback is an oops). See
//!   [`ErrorKind::Panicked`]. Without `std`, a panic unwinds through the operation.
//!
//! # Example
//!
//! ```
//! use cpuhp::{preset, CpuId, Errno, Hotplug, Inline, Online, Slot, StateId, Topology};
//!
//! let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(4), Inline)?;
//! let s = hp.setup_state(Slot::OnlineDyn, "demo:online",
//!     Online::new()
//!         .startup(|cpu: CpuId| if cpu.0 == 2 { Err(Errno::ENOMEM) } else { Ok(()) })
//!         .teardown(|_| Ok(())))
//!     .unwrap_err(); // fails on CPU 2 at setup: rolled back on 0 and 1
//! # let _ = s;
//! let s = hp.setup_state(Slot::OnlineDyn, "demo:online", Online::new().startup(|_| Ok(())))?;
//! hp.cpu_down(CpuId(3), StateId::OFFLINE)?;
//! assert_eq!(hp.online_mask().to_string(), "0-2");
//! # let _ = s;
//! # Ok::<(), cpuhp::Error>(())
//! ```

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

extern crate alloc;

pub mod docs;
mod engine;
mod error;
mod features;
mod model;
mod platform;
pub mod preset;
mod trace;

pub use features::legacy;
#[cfg(feature = "std")]
pub use platform::sim;

pub use engine::hotplug::{CpuStatus, Hotplug, Topology};
pub use engine::install::Slot;
pub use engine::operations::Operations;
pub use error::{Error, ErrorKind, Failure};
pub use features::fault::Fault;
pub use features::parallel::BringupOutcomes;
pub use features::smt::SmtControl;
pub use model::callbacks::{
    Callbacks, Online, OnlineMulti, Prepare, PrepareMulti, Starting, StartingMulti,
};
pub use model::ids::{CpuId, InstanceId, StateId};
pub use model::layout::{Layout, LayoutError, Section};
pub use model::mask::CpuMask;
pub use notifier::Errno;
pub use platform::{Inline, Platform, Traced, Tracer};
pub use trace::{
    Context, Divergence, FailureKind, Rule, TraceEvent, Warning, ftrace_enter_text,
    ftrace_exit_text,
};
