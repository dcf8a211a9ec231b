//! [`SimPlatform`]: the [`Platform`] of the simulator, one OS thread per possible CPU, with
//! one-shot boot and stop failures and a boot delay.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::cpu_thread::{CpuThread, IRQS_OFF, TASKS_FROZEN};
use crate::{CpuId, Errno, Platform, TraceEvent};

pub(super) type Tracer = Arc<dyn Fn(&TraceEvent<'_>) + Send + Sync>;

/// One-shot platform failures, and the simulated boot.
#[derive(Default)]
pub(super) struct Boot {
    pub(super) start_faults: Vec<(CpuId, Errno)>,
    pub(super) stop_faults: Vec<(CpuId, Errno)>,
    /// When each CPU was kicked (split startup), if it was and has not booted since.
    pub(super) kicked: Vec<Option<Instant>>,
    /// How long a CPU takes to boot once kicked.
    pub(super) delay: Duration,
}

/// The simulator's [`Platform`]: one OS thread per possible CPU.
pub struct SimPlatform {
    pub(super) cpus: Vec<CpuThread>,
    pub(super) tracer: Option<Tracer>,
    pub(super) boot: Mutex<Boot>,
}

impl fmt::Debug for SimPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimPlatform")
            .field("cpus", &self.cpus.len())
            .finish_non_exhaustive()
    }
}

impl SimPlatform {
    pub(super) fn boot(&self) -> MutexGuard<'_, Boot> {
        self.boot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn take_fault(list: &mut Vec<(CpuId, Errno)>, cpu: CpuId) -> Option<Errno> {
    let at = list.iter().position(|&(c, _)| c == cpu)?;
    Some(list.remove(at).1)
}

/// Callable by anyone holding a `&SimPlatform` (`Hotplug::platform`), from any number of threads at
/// once: hand-offs to one CPU queue on its submit lock, and a CPU the machine does not have is
/// refused (`EINVAL`) or, for [`run_on_ap`](Platform::run_on_ap), which cannot fail, has its work
/// run on the calling thread. The state machine itself only names CPUs it has validated.
impl Platform for SimPlatform {
    fn run_on_ap(&self, cpu: CpuId, work: &mut (dyn FnMut() + Send)) {
        match self.cpus.get(cpu.index()) {
            Some(t) => t.run(work, false),
            None => work(),
        }
    }

    fn kick_cpu(&self, cpu: CpuId) -> Result<(), Errno> {
        if cpu.index() >= self.cpus.len() {
            return Err(Errno::EINVAL);
        }
        if let Some(e) = take_fault(&mut self.boot().start_faults, cpu) {
            return Err(e);
        }
        self.boot().kicked[cpu.index()] = Some(Instant::now());
        Ok(())
    }

    fn start_cpu(&self, cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        if cpu.index() >= self.cpus.len() {
            return Err(Errno::EINVAL);
        }
        let (kicked, delay) = {
            let mut boot = self.boot();
            if let Some(e) = take_fault(&mut boot.start_faults, cpu) {
                return Err(e);
            }
            (boot.kicked[cpu.index()].take(), boot.delay)
        };
        // The CPU boots for `delay` from its kick (now, if nobody kicked it): waiting for it here
        // is the control side waiting for the CPU to be alive.
        let alive = kicked.unwrap_or_else(Instant::now) + delay;
        let now = Instant::now();
        if alive > now {
            std::thread::sleep(alive - now);
        }
        self.cpus[cpu.index()].run(starting, true);
        Ok(())
    }

    fn stop_cpu(&self, cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        if cpu.index() >= self.cpus.len() {
            return Err(Errno::EINVAL);
        }
        if let Some(e) = take_fault(&mut self.boot().stop_faults, cpu) {
            return Err(e);
        }
        self.cpus[cpu.index()].run(dying, true);
        Ok(())
    }

    fn set_tasks_frozen(&self, frozen: bool) {
        TASKS_FROZEN.set(frozen);
    }

    fn set_irqs_disabled(&self, _cpu: CpuId, disabled: bool) {
        IRQS_OFF.set(disabled);
    }

    /// The machine delivers `CPU_POST_DEAD` after releasing the hotplug lock's write side
    /// (`Machine::write_locked`).
    fn defers_post_dead(&self) -> bool {
        true
    }

    fn trace(&self, event: &TraceEvent<'_>) {
        if let Some(t) = &self.tracer {
            // The tracer runs in the middle of a walk: its panic must not leave the walk half
            // done. It loses that one event; the walk, and later events, go on.
            let _ = crate::engine::walk::guarded(|| t(event));
        }
    }
}
