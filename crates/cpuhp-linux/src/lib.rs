//! The Linux backend of cpuhp: probes what a real kernel allows, shows its CPUs' hotplug state
//! and state table, takes CPUs offline and online (or to a state) inside a journaled transaction
//! that restores everything on an error, an interrupt or a panic, and records the kernel's
//! `cpuhp` tracepoints into a private tracefs instance, converted to the project's events and
//! rendered as `cpuhp run` renders a simulation.
//!
//! The backend has no hotplug logic of its own: it reads, writes, records and converts. Every
//! file access goes through [`SysfsIo`]: [`HostIo`] is the real file system under a root (a
//! directory tree shaped like one in tests); [`SimKernel`] is the simulator behind the same
//! interface, reacting to writes as a kernel does.
//!
//! # Examples
//!
//! ```
//! use cpuhp_linux::{execute, plan, probe, read_status, record, Op, SimKernel};
//!
//! let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?;
//! assert!(probe(&k)?.hotplug.value);
//! let rec = record(&mut k, &[Op::Offline(vec![2])], None, "doc")?;
//! assert!(rec.outcome.is_ok());
//! assert_eq!(read_status(&k)?[2].state, Some(0));
//! assert_eq!(rec.calls.first().map(|c| c.symbol.as_str()), Some("cpuhp_kick_ap_work"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod follow;
mod io;
mod learn;
mod ops;
mod probe;
mod record;
mod sim;
mod status;
mod trace;
mod uevent;
mod watch;

pub use check::{Check, Sweep, SweepCase, check, preset_for_kernel, sweep};
pub use follow::{FollowKind, FollowReport, Follower, Outcome, Step, current_cpu};
pub use io::{Fs, HostIo, IoError, SysfsIo};
pub use learn::{LearnedCallback, LearnedState, PRESET_FORMAT, PresetFile, learn};
pub use ops::{
    Failed, JournalEntry, Op, Plan, Report, Transaction, Write, execute, parse_cpus, parse_op, plan,
};
pub use probe::{CpuInfo, Finding, Probe, Tristate, probe};
pub use record::{
    Call, RING_BUFFER_STATE, RecordFormat, Recording, record, render_recording, ring_buffers_of,
};
pub use sim::SimKernel;
pub use status::{
    CpuRow, StateRow, parse_states, read_states, read_status, resolve_state, states_json,
    states_text, status_table,
};
pub use trace::{Latency, TraceLine, TracePoint, latency_table, parse_trace};
pub use uevent::{CpuAction, Uevent, UeventError, parse_uevent};
#[cfg(feature = "tokio")]
pub use watch::CpuChangeStream;
pub use watch::{Cause, CpuChange, CpuSets, CpuWatcher, WatchStats};

use std::fmt;

/// Re-exported so that callers can serialise the findings without naming serde.
pub use serde::Serialize;

/// What can go wrong.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{plan, Error, Op, SimKernel};
/// let k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let e = plan(&k, &Op::Offline(vec![0])).unwrap_err();
/// assert!(matches!(e, Error::Refused(_)));
/// assert!(e.to_string().starts_with("refused: CPU 0 has no online file"));
/// # Ok::<(), cpuhp::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Not on Linux.
    Unsupported,
    /// A file access failed (with the errno and the file).
    Io(IoError),
    /// A file held something unexpected.
    Parse(String),
    /// Bad input: an unknown CPU, state or operation.
    Usage(String),
    /// A safety rule forbids the operation (last online CPU, last housekeeping CPU, no `online`
    /// file).
    Refused(String),
    /// SIGINT or SIGTERM arrived.
    Interrupted,
}

impl Error {
    /// The process exit code for this error: 2 for refusals and bad input, 1 otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp_linux::Error::Refused("x".into()).exit_code(), 2);
    /// assert_eq!(cpuhp_linux::Error::Interrupted.exit_code(), 1);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Refused(_) | Error::Usage(_) | Error::Unsupported => 2,
            Error::Io(_) | Error::Parse(_) | Error::Interrupted => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unsupported => {
                f.write_str("unsupported on this OS: the Linux backend needs Linux")
            }
            Error::Io(e) => write!(f, "{e}"),
            Error::Parse(m) | Error::Usage(m) => f.write_str(m),
            Error::Refused(m) => write!(f, "refused: {m}"),
            Error::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for Error {}

impl From<IoError> for Error {
    fn from(e: IoError) -> Error {
        Error::Io(e)
    }
}
