//! What a callback can ask about the thread it runs on: which simulated CPU it is, whether
//! interrupts are off, whether tasks are frozen.

use std::fmt;

use super::cpu_thread::{CURRENT_CPU, IRQS_OFF, TASKS_FROZEN};
use crate::CpuId;

/// The simulated CPU the calling thread is, if it is one (a callback running on a CPU's
/// hotplug thread, or in its STARTING/DYING context).
///
/// # Examples
///
/// ```
/// assert_eq!(cpuhp::sim::current_cpu(), None); // the test's own thread is the control side
/// ```
pub fn current_cpu() -> Option<CpuId> {
    CURRENT_CPU.get()
}

/// Whether the calling thread is a simulated CPU with interrupts off (running STARTING or DYING
/// callbacks).
///
/// # Examples
///
/// ```
/// assert!(!cpuhp::sim::irqs_disabled());
/// ```
pub fn irqs_disabled() -> bool {
    IRQS_OFF.get()
}

/// Whether the hotplug operation the calling callback belongs to runs with tasks frozen
/// (suspend/resume; Linux's `cpuhp_tasks_frozen`).
///
/// # Examples
///
/// ```
/// assert!(!cpuhp::sim::tasks_frozen());
/// ```
pub fn tasks_frozen() -> bool {
    TASKS_FROZEN.get()
}

/// A blocking operation was attempted with interrupts off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicContext {
    /// The CPU that was in atomic context.
    pub cpu: Option<CpuId>,
}

impl fmt::Display for AtomicContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cpu {
            Some(c) => write!(
                f,
                "BUG: sleeping function called from invalid context on CPU {c}"
            ),
            None => f.write_str("BUG: sleeping function called from invalid context"),
        }
    }
}

impl std::error::Error for AtomicContext {}

/// Linux's `might_sleep()`: call it before blocking. Inside a STARTING or DYING callback
/// (interrupts off) it reports the bug instead of letting the block happen.
///
/// # Errors
///
/// [`AtomicContext`] when called with interrupts off.
///
/// # Examples
///
/// ```
/// assert!(cpuhp::sim::might_sleep().is_ok());
/// ```
pub fn might_sleep() -> Result<(), AtomicContext> {
    if irqs_disabled() {
        Err(AtomicContext { cpu: current_cpu() })
    } else {
        Ok(())
    }
}
