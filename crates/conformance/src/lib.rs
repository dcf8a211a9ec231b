//! Conformance with Linux: this project's implementation driven the way the test module
//! `hporacle` drove real Linux 6.1 and 6.12 kernels, producing the same log lines.
//!
//! The traces in `data/` (Linux 6.1), `data/linux-6.12/` and `data/boot/` (the boot-time
//! bring-up on both) were recorded on Linux with that module; [`replay`] describes their line
//! format. This crate re-enacts the module on our implementation — the same blocks, priorities, cases and
//! failure parameters — and emits the module's `HPORACLE` lines, so a trace can be compared line
//! by line.
//!
//! * [`module`]: the module's parameters and its `HPORACLE` log (`seq` numbering included).
//! * [`notifier_cases`]: the notifier part (`run_notifier=1|2`), on any chain kind.
//! * [`AnyChain`]: one of the three chain kinds, chosen at run time.
//! * [`boot`]: the states each kernel has when it brings up the secondary CPUs at boot.
//! * [`replay`]: re-enact a recording on the kernel it names and compare.

pub mod any_chain;
pub mod boot;
pub mod hporacle;
pub mod module;
pub mod notifier_cases;
pub mod replay;

pub use any_chain::{AnyChain, ChainKind};
pub use module::{LogEntry, ModuleParams, OracleLog, ParamError};
