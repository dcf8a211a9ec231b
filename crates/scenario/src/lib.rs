//! Scenarios for the cpuhp state machine.
//!
//! A scenario describes a machine (CPUs, SMT, the preset state table), the subsystems on it —
//! cpuhp states in the three sections, multi-instance drivers, legacy CPU notifiers — with the
//! failures planned for their callbacks, and a list of operations (`up 1`, `down 2 to 60`,
//! `add-instance`, `freeze`, `smt off`, `parallel-up 1 2 3`, …). It is written in TOML
//! ([`Scenario::parse`], with file:line:column errors; [`reference()`] describes every key and
//! operation) or built in Rust.
//!
//! [`run`] builds the machine — inline or on the threaded simulator — installs the subsystems
//! and runs the operations, recording every callback, notifier call and failure into a
//! [`Record`]; [`render`] turns that into a timeline for people, Linux's ftrace text,
//! Perfetto-readable trace-event JSON or JSON lines. [`run_streaming`] hands each step on as
//! soon as it is checked and keeps nothing of it, and a [`Renderer`] renders it then: a long
//! scenario prints as it runs, in memory that does not grow with its operations.
//!
//! Every callback of a scenario accounts for a per-CPU (per-instance) resource: a startup that
//! succeeds acquires it, a teardown releases it. After every step the invariants are checked
//! against that accounting and against where the CPUs stand ([`Invariant`]).
//! [`explore`] runs the scenario once per failure point — every callback × CPU × direction ×
//! instance, every notifier's PREPARE answer, every CPU's boot and death — with that failure
//! injected, and once more per callback of the rollback it causes with a second failure there,
//! and reports the runs that broke an invariant.
//!
//! # Examples
//!
//! ```
//! use cpuhp_scenario::{explore, render, run, ExploreOptions, Format, Scenario};
//!
//! let s = Scenario::parse("mini.toml", r#"
//!     ops = ["down 1", "up 1"]
//!
//!     [machine]
//!     cpus = 2
//!
//!     [[state]]
//!     name = "drv:prepare"
//!     section = "prepare"
//!
//!     [[state]]
//!     name = "drv:online"
//!     section = "online"
//!     fail = [{ on = "startup", cpu = 1, errno = "ENOMEM" }]
//! "#)?;
//! let rec = run(&s, false);
//! let timeline = render(&rec, &s, Format::Timeline, false);
//! assert!(timeline.contains("⇒ failed with ENOMEM"));
//! assert!(rec.violations.is_empty());
//! assert!(explore(&s, &ExploreOptions::default(), |_, _, _| {}).is_clean());
//! # Ok::<(), cpuhp_scenario::ParseError>(())
//! ```

mod check;
mod checkpoint;
mod explore;
mod journal;
mod parse;
mod render;
mod run;
mod scenario;
pub mod torture;

pub use check::{Invariant, Violation};
pub use explore::{
    Case, CpuClass, Exploration, Failure, Options as ExploreOptions, Phase, explore,
};
pub use journal::{Event, Outcome, Point};
pub use parse::{FIELDS, FieldDoc, MAX_CPUS, OPS, OpDoc, ParseError, reference};
pub use render::{Format, Renderer, Width, render, render_with};
pub use run::{Flow, Reached, Record, RunEnd, StepRecord, run, run_streaming};
pub use scenario::{
    AnswerSpec, Bug, FailSpec, FaultSpec, MachineSpec, NotifierSpec, Op, OpSpec, PlatformStep,
    PresetName, Scenario, SlotSpec, StateSpec, Target, VetoSpec,
};

/// The scenario `cpuhp demo` runs: four CPUs, subsystems in all three sections, a
/// multi-instance driver, a vetoing legacy notifier, and an offline, an online and a failing
/// online.
pub const DEMO_SCENARIO: &str = include_str!("demo.toml");

/// The README's examples, compiled and run as doc tests (this crate depends on every crate they
/// use).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
