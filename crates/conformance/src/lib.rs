//! Conformance with Linux: this project's implementation driven the way the test module
//! `harness/hporacle.c` drove a real Linux 6.1 kernel, producing the same log lines.
//!
//! The traces in `data/` (copied from the shared `conformance/golden/`) were recorded on Linux
//! with that module; their line format is documented in the shared `conformance/README.md`. This
//! crate re-enacts the module on our implementation — the same blocks, priorities, cases and
//! failure parameters — and emits the module's `HPORACLE` lines, so a trace can be compared line
//! by line.
//!
//! * [`module`]: the module's parameters and its `HPORACLE` log (`seq` numbering included).
//! * [`notifier_cases`]: the notifier part (`run_notifier=1|2`), on any chain kind.
//! * [`AnyChain`]: one of the three chain kinds, chosen at run time.

pub mod any_chain;
pub mod boot;
pub mod hporacle;
pub mod module;
pub mod notifier_cases;
pub mod replay;

pub use any_chain::{AnyChain, ChainKind};
pub use module::{LogEntry, ModuleParams, OracleLog, ParamError};
