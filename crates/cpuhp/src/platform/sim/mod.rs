//! The simulator: a [`Machine`] of N CPUs, each an OS thread (`cpuhp/N`), behind the
//! [`Platform`](crate::Platform) trait.
//!
//! Each simulated CPU is a thread that waits for work. The state machine hands a CPU one job per
//! section and transition — "walk the ONLINE section up to the target", "boot: run the STARTING
//! callbacks", "die: run the DYING callbacks" — never one per state, as Linux wakes a CPU's
//! hotplug thread once per transition. While a CPU runs STARTING or DYING callbacks its thread
//! has "interrupts off": [`irqs_disabled`] is true and [`might_sleep`] reports the bug that
//! blocking there would be.
//!
//! [`Machine`] serialises operations with one lock, as Linux's hotplug locks do. A hotplug
//! operation started from inside one of the machine's own callbacks (a deadlock in Linux) is
//! refused with `EDEADLK`.

mod context;
mod cpu_thread;
mod locks;
mod machine;
mod platform;

pub use context::{AtomicContext, current_cpu, irqs_disabled, might_sleep, tasks_frozen};
pub use locks::{CpusReadGuard, LockWaiters};
pub use machine::Machine;
pub use platform::SimPlatform;
