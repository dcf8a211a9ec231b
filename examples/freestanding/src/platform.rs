//! The state machine's `Platform`: a uniprocessor that runs every hand-off inline, as a kernel
//! with one CPU (or one that drives hotplug from one context) would, and keeps a log of every
//! callback the state machine reports.

use alloc::vec::Vec;

use cpuhp::{CpuId, Errno, Platform, StateId, TraceEvent};
use spin::Mutex;

/// One callback as the state machine reported it (`TraceEvent::Exit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The CPU it was for.
    pub cpu: u32,
    /// The state whose callback ran.
    pub step: u32,
    /// Startup (`true`) or teardown.
    pub up: bool,
    /// What it returned: 0 or a negative errno.
    pub ret: i32,
}

/// Shorthand for the expected sequences: `call(cpu, step, up, ret)`.
pub const fn call(cpu: u32, step: u32, up: bool, ret: i32) -> Call {
    Call { cpu, step, up, ret }
}

/// Runs everything on the caller and logs each callback.
pub struct Uniprocessor {
    log: Mutex<Vec<Call>>,
}

impl Uniprocessor {
    /// An empty log.
    pub const fn new() -> Uniprocessor {
        Uniprocessor {
            log: Mutex::new(Vec::new()),
        }
    }

    /// Takes the log, leaving it empty.
    pub fn take_log(&self) -> Vec<Call> {
        core::mem::take(&mut *self.log.lock())
    }
}

impl Default for Uniprocessor {
    fn default() -> Uniprocessor {
        Uniprocessor::new()
    }
}

impl Platform for Uniprocessor {
    // A kernel would queue `work` to the CPU's hotplug thread and wait; here the caller is the
    // only context, so it runs the work itself.
    fn run_on_ap(&self, _cpu: CpuId, work: &mut (dyn FnMut() + Send)) {
        work();
    }

    // A kernel would boot the CPU (INIT/SIPI on x86) and wait for it to run `starting` with
    // interrupts off; here the CPU always comes up.
    fn start_cpu(&self, _cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        starting();
        Ok(())
    }

    // A kernel would `stop_machine` and have the CPU run `dying` on itself, then park it.
    fn stop_cpu(&self, _cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        dying();
        Ok(())
    }

    fn trace(&self, event: &TraceEvent<'_>) {
        if let TraceEvent::Exit {
            cpu,
            step: StateId(step),
            bringup,
            result,
            ..
        } = *event
        {
            self.log.lock().push(Call {
                cpu: cpu.0,
                step,
                up: bringup,
                ret: result.map_or_else(Errno::to_neg, |()| 0),
            });
        }
    }
}
