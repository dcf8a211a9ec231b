//! [`Machine`] and its platform.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::cpu_thread::{CpuThread, BUSY_WITH, CURRENT_CPU, IRQS_OFF};
use crate::preset::Preset;
use crate::{
    Callbacks, CpuId, CpuMask, CpuStatus, Errno, Error, ErrorKind, Hotplug, InstanceId, Platform,
    Slot, StateId, Topology, TraceEvent,
};

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

type Tracer = Arc<dyn Fn(&TraceEvent<'_>) + Send + Sync>;

/// One-shot platform failures, for tests.
#[derive(Default)]
struct Faults {
    start: Vec<(CpuId, Errno)>,
    stop: Vec<(CpuId, Errno)>,
}

/// The simulator's [`Platform`]: one OS thread per possible CPU.
pub struct SimPlatform {
    cpus: Vec<CpuThread>,
    tracer: Option<Tracer>,
    faults: Mutex<Faults>,
}

impl fmt::Debug for SimPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimPlatform")
            .field("cpus", &self.cpus.len())
            .finish_non_exhaustive()
    }
}

impl SimPlatform {
    fn take_fault(&self, stop: bool, cpu: CpuId) -> Option<Errno> {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let list = if stop {
            &mut faults.stop
        } else {
            &mut faults.start
        };
        let at = list.iter().position(|&(c, _)| c == cpu)?;
        Some(list.remove(at).1)
    }
}

impl Platform for SimPlatform {
    fn run_on_ap(&self, cpu: CpuId, work: &mut (dyn FnMut() + Send)) {
        self.cpus[cpu.index()].run(work, false);
    }

    fn start_cpu(&self, cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        if let Some(e) = self.take_fault(false, cpu) {
            return Err(e);
        }
        self.cpus[cpu.index()].run(starting, true);
        Ok(())
    }

    fn stop_cpu(&self, cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        if let Some(e) = self.take_fault(true, cpu) {
            return Err(e);
        }
        self.cpus[cpu.index()].run(dying, true);
        Ok(())
    }

    fn set_irqs_disabled(&self, _cpu: CpuId, disabled: bool) {
        IRQS_OFF.set(disabled);
    }

    fn trace(&self, event: &TraceEvent<'_>) {
        if let Some(t) = &self.tracer {
            t(event);
        }
    }
}

static NEXT_MACHINE: AtomicU64 = AtomicU64::new(1);

/// A simulated machine: CPUs as OS threads, the state machine behind one lock.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use cpuhp::{preset, sim::Machine, CpuId, Online, Slot, StateId, Topology};
///
/// let m = Machine::new(&preset::LINUX_6_1, Topology::new(4))?;
/// let ran_on = Arc::new(Mutex::new(Vec::new()));
/// let log = ran_on.clone();
/// let s = m.setup_state(Slot::OnlineDyn, "demo:online", Online::new().startup(move |cpu| {
///     log.lock().unwrap().push((cpu, cpuhp::sim::current_cpu()));
///     Ok(())
/// }))?;
/// assert_eq!(s, StateId(211));
/// // Each CPU's startup ran on that CPU's own thread.
/// assert!(ran_on.lock().unwrap().iter().all(|&(cpu, on)| on == Some(cpu)));
/// m.cpu_down(CpuId(2), StateId::OFFLINE)?;
/// assert_eq!(m.online_mask()?.to_string(), "0-1,3");
/// # Ok::<(), cpuhp::Error>(())
/// ```
pub struct Machine {
    id: u64,
    hp: Mutex<Hotplug<SimPlatform>>,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Marks the calling thread busy with a machine for the duration of an operation.
struct Busy(u64);

impl Busy {
    fn enter(id: u64) -> Busy {
        Busy(BUSY_WITH.replace(id))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY_WITH.set(self.0);
    }
}

impl Machine {
    /// Boots a machine: one thread per possible CPU, the boot CPU up, every other present CPU
    /// brought up to online through the preset's states.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::new`]; [`ErrorKind::Platform`] if a thread cannot be spawned.
    pub fn new(preset: &Preset, topology: Topology) -> Result<Machine, Error> {
        let id = NEXT_MACHINE.fetch_add(1, Ordering::Relaxed);
        let cpus = (0..topology.possible)
            .map(|c| CpuThread::spawn(CpuId(c), id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::new(ErrorKind::Platform))?;
        let platform = SimPlatform {
            cpus,
            tracer: None,
            faults: Mutex::new(Faults::default()),
        };
        let _busy = Busy::enter(id);
        let hp = Hotplug::new(preset, topology, platform)?;
        Ok(Machine {
            id,
            hp: Mutex::new(hp),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Hotplug<SimPlatform>>, Error> {
        if BUSY_WITH.get() == self.id {
            // A callback of this machine calling back into it: Linux deadlocks here.
            return Err(Error::new(ErrorKind::WouldDeadlock));
        }
        self.hp.lock().map_err(|_| Error::new(ErrorKind::Poisoned))
    }

    /// Runs `f` with exclusive access to the state machine — one serialised operation.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`] from inside one of this machine's callbacks;
    /// [`ErrorKind::Poisoned`] after a callback panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Topology};
    ///
    /// let m = Machine::new(&preset::LINUX_6_1, Topology::new(2))?;
    /// let n = m.with(|hp| hp.states().len())?;
    /// assert_eq!(n, 65);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R) -> Result<R, Error> {
        let mut hp = self.lock()?;
        let _busy = Busy::enter(self.id);
        Ok(f(&mut hp))
    }

    fn op<R>(
        &self,
        f: impl FnOnce(&mut Hotplug<SimPlatform>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.with(f)?
    }

    /// [`Hotplug::cpu_up`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_up`], plus those of [`Machine::with`].
    pub fn cpu_up(&self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.op(|hp| hp.cpu_up(cpu, target))
    }

    /// [`Hotplug::cpu_down`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_down`], plus those of [`Machine::with`].
    pub fn cpu_down(&self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.op(|hp| hp.cpu_down(cpu, target))
    }

    /// [`Hotplug::setup_state`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::setup_state`], plus those of [`Machine::with`].
    pub fn setup_state(
        &self,
        slot: Slot,
        name: impl Into<Cow<'static, str>>,
        callbacks: impl Into<Callbacks>,
    ) -> Result<StateId, Error> {
        self.op(|hp| hp.setup_state(slot, name, callbacks))
    }

    /// [`Hotplug::remove_state`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::remove_state`], plus those of [`Machine::with`].
    pub fn remove_state(&self, state: StateId) -> Result<(), Error> {
        self.op(|hp| hp.remove_state(state))
    }

    /// [`Hotplug::add_instance`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::add_instance`], plus those of [`Machine::with`].
    pub fn add_instance<T: std::any::Any + Send + Sync>(
        &self,
        state: StateId,
        instance: T,
    ) -> Result<InstanceId, Error> {
        self.op(|hp| hp.add_instance(state, instance))
    }

    /// [`Hotplug::remove_instance`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::remove_instance`], plus those of [`Machine::with`].
    pub fn remove_instance(&self, state: StateId, instance: InstanceId) -> Result<(), Error> {
        self.op(|hp| hp.remove_instance(state, instance).map(drop))
    }

    /// [`Hotplug::sysfs_read`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::sysfs_read`]; `EDEADLK`/`EIO` as [`Machine::with`].
    pub fn sysfs_read(&self, path: &str) -> Result<String, Errno> {
        self.with(|hp| hp.sysfs_read(path))?
    }

    /// [`Hotplug::sysfs_write`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::sysfs_write`]; `EDEADLK`/`EIO` as [`Machine::with`].
    pub fn sysfs_write(&self, path: &str, value: &str) -> Result<(), Errno> {
        self.with(|hp| hp.sysfs_write(path, value))?
    }

    /// [`Hotplug::cpu_status`].
    ///
    /// # Errors
    ///
    /// As [`Machine::with`].
    pub fn cpu_status(&self, cpu: CpuId) -> Result<Option<CpuStatus>, Error> {
        self.with(|hp| hp.cpu_status(cpu))
    }

    /// The online mask.
    ///
    /// # Errors
    ///
    /// As [`Machine::with`].
    pub fn online_mask(&self) -> Result<CpuMask, Error> {
        self.with(|hp| hp.online_mask().clone())
    }

    /// Sends every trace event to `tracer` (replacing any previous one), from whichever thread
    /// the event happens on.
    ///
    /// # Errors
    ///
    /// As [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::LINUX_6_1, Topology::new(2))?;
    /// let lines = Arc::new(Mutex::new(Vec::new()));
    /// let sink = lines.clone();
    /// m.set_tracer(move |ev| sink.lock().unwrap().push(ev.to_string()))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(lines.lock().unwrap()[0], "cpuhp_enter: cpu: 0001 target: 153 step: 236 (cpuhp_kick_ap_work)");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_tracer(
        &self,
        tracer: impl Fn(&TraceEvent<'_>) + Send + Sync + 'static,
    ) -> Result<(), Error> {
        self.with(|hp| hp.platform_mut().tracer = Some(Arc::new(tracer)))
    }

    /// Stops tracing.
    ///
    /// # Errors
    ///
    /// As [`Machine::with`].
    pub fn clear_tracer(&self) -> Result<(), Error> {
        self.with(|hp| hp.platform_mut().tracer = None)
    }

    /// [`Hotplug::inject`]: a callback failure.
    ///
    /// # Errors
    ///
    /// As [`Machine::with`].
    pub fn inject(&self, fault: crate::Fault) -> Result<(), Error> {
        self.with(|hp| hp.inject(fault))
    }

    /// Makes the next boot of `cpu` fail with `errno` before it runs anything (a one-shot
    /// platform failure: the CPU did not come up).
    ///
    /// # Errors
    ///
    /// As [`Machine::with`].
    pub fn inject_start_failure(&self, cpu: CpuId, errno: Errno) -> Result<(), Error> {
        self.with(|hp| {
            hp.platform()
                .faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .start
                .push((cpu, errno))
        })
    }

    /// Makes the next stop of `cpu` fail with `errno` (the CPU refuses to die).
    ///
    /// # Errors
    ///
    /// As [`Machine::with`].
    pub fn inject_stop_failure(&self, cpu: CpuId, errno: Errno) -> Result<(), Error> {
        self.with(|hp| {
            hp.platform()
                .faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .stop
                .push((cpu, errno))
        })
    }
}
