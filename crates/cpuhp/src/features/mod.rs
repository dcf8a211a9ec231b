//! What Linux builds around the state machine, each on the engine's walks: the legacy CPU
//! notifiers and their bridge states, suspend's freeze and thaw, SMT control, parallel bring-up,
//! the sysfs surface, and injected faults.

pub(crate) mod fault;
pub mod legacy;
pub(crate) mod parallel;
pub(crate) mod smt;
pub(crate) mod suspend;
pub(crate) mod sysfs;
