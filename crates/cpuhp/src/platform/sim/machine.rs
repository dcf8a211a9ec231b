//! [`Machine`]: the state machine behind the simulator's locks, its CPUs as OS threads.
//!
//! The locks and the rules that keep them from deadlocking are in `locks`; the platform that
//! runs each CPU's part on its thread is in `platform`.

use std::borrow::Cow;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cpu_thread::{CpuThread, Held};
use super::locks::OpMark;
use super::platform::{Boot, SimPlatform};
use crate::legacy::LegacySlots;
use crate::preset::Preset;
use crate::{
    Callbacks, CpuId, CpuMask, CpuStatus, Errno, Error, ErrorKind, Hotplug, InstanceId, Slot,
    SmtControl, StateId, Topology, TraceEvent,
};

static NEXT_MACHINE: AtomicU64 = AtomicU64::new(1);

/// A simulated machine: CPUs as OS threads, the state machine behind the machine's locks.
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
    pub(super) id: u64,
    /// Linux's `cpu_add_remove_lock`: serialises hotplug operations and what decides whether
    /// they may run (disabling hotplug); outermost. Held across a whole freeze and while
    /// `CPU_POST_DEAD` goes out, so no writer can be waiting for the hotplug lock then.
    pub(super) add_remove: Mutex<()>,
    /// Linux's `cpu_hotplug_lock`.
    pub(super) hotplug_lock: Arc<parking_lot::RwLock<()>>,
    /// The state machine; its mutex is Linux's `cpu_add_remove_lock` (and `cpuhp_state_mutex`).
    pub(super) hp: Mutex<Hotplug<SimPlatform>>,
    /// Threads between deciding to take a lock and having it: what [`Machine::lock_waiters`]
    /// reports, so tests observe a queued writer instead of guessing with a sleep.
    pub(super) waiting_add_remove: AtomicUsize,
    pub(super) waiting_write: AtomicUsize,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Boots a machine: one thread per possible CPU, the boot CPU up, every other present CPU
    /// brought up to online through the preset's states.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::new`]; [`ErrorKind::Platform`] if a thread cannot be spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-1");
    /// let e = Machine::new(&preset::DEMO, Topology::new(0)).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::InvalidCpu);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn new(preset: &Preset, topology: Topology) -> Result<Machine, Error> {
        let id = NEXT_MACHINE.fetch_add(1, Ordering::Relaxed);
        // Refused before a thread is spawned: `Hotplug::new` would refuse it too, but only after
        // this machine had started one thread per possible CPU.
        if topology.possible > crate::engine::hotplug::MAX_CPUS {
            return Err(Error::new(ErrorKind::InvalidCpu));
        }
        let cpus = (0..topology.possible)
            .map(|c| CpuThread::spawn(CpuId(c)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::new(ErrorKind::Platform))?;
        let platform = SimPlatform {
            cpus,
            tracer: None,
            boot: Mutex::new(Boot {
                kicked: vec![None; topology.possible as usize],
                ..Boot::default()
            }),
        };
        let _mark = OpMark::enter(id, Held::Write);
        let hp = Hotplug::new(preset, topology, platform)?;
        Ok(Machine {
            id,
            add_remove: Mutex::new(()),
            hotplug_lock: Arc::new(parking_lot::RwLock::new(())),
            hp: Mutex::new(hp),
            waiting_add_remove: AtomicUsize::new(0),
            waiting_write: AtomicUsize::new(0),
        })
    }

    /// Runs `f` with exclusive access to the state machine — one serialised hotplug operation
    /// (both locks; `CPU_POST_DEAD` after).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`] from inside one of this machine's callbacks or with the read
    /// side held; [`ErrorKind::Poisoned`] after a panic that left the state machine mid-operation
    /// (not a callback's: those are caught where the callback runs; not `f`'s own either: it is
    /// resumed on the caller once the machine is released, and the machine stays usable).
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
        // `f` can only panic between two operations of the machine (a panic inside one comes
        // from a callback, and is caught there): the machine is consistent, so the panic must not
        // poison it. It goes on to the caller once the machine is released.
        match self.write_op(|hp| std::panic::catch_unwind(AssertUnwindSafe(|| f(hp))))? {
            Ok(r) => Ok(r),
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// [`Hotplug::cpu_up`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_up`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// m.cpu_up(CpuId(1), StateId(99))?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-1");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_up(&self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.write_op(|hp| hp.cpu_up(cpu, target))?
    }

    /// [`Hotplug::cpu_down`], with `CPU_POST_DEAD` after the hotplug lock is released.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_down`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// assert_eq!(m.cpu_status(CpuId(1))?.unwrap().state, StateId::OFFLINE);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_down(&self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.write_op(|hp| hp.cpu_down(cpu, target))?
    }

    /// [`Hotplug::setup_state`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::setup_state`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, Online, Slot, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// // The startup runs on each CPU's own thread.
    /// let on_own_thread = |cpu: CpuId| if cpuhp::sim::current_cpu() == Some(cpu) { Ok(()) } else { Err(Errno::EINVAL) };
    /// let s = m.setup_state(Slot::OnlineDyn, "demo:online", Online::new().startup(on_own_thread))?;
    /// assert_eq!(s, StateId(70));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn setup_state(
        &self,
        slot: Slot,
        name: impl Into<Cow<'static, str>>,
        callbacks: impl Into<Callbacks>,
    ) -> Result<StateId, Error> {
        self.read_op(|hp| hp.setup_state(slot, name, callbacks))?
    }

    /// [`Hotplug::setup_state_nocalls`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::setup_state_nocalls`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, Online, Slot, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.setup_state_nocalls(Slot::OnlineDyn, "flaky", Online::new().startup(|_| Err(Errno::EIO)))?;
    /// // Not called now, but at the next bring-up:
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(m.cpu_up(CpuId(1), StateId(99)).unwrap_err().errno(), Errno::EIO);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn setup_state_nocalls(
        &self,
        slot: Slot,
        name: impl Into<Cow<'static, str>>,
        callbacks: impl Into<Callbacks>,
    ) -> Result<StateId, Error> {
        self.read_op(|hp| hp.setup_state_nocalls(slot, name, callbacks))?
    }

    /// [`Hotplug::remove_state`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::remove_state`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    /// use cpuhp::{preset, sim::Machine, Online, Slot, Topology};
    ///
    /// static DOWN: AtomicU32 = AtomicU32::new(0);
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let s = m.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| { DOWN.fetch_add(1, Relaxed); Ok(()) }))?;
    /// m.remove_state(s)?;
    /// assert_eq!(DOWN.load(Relaxed), 2); // torn down on both CPUs
    /// assert!(m.remove_state(s).is_err()); // gone
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn remove_state(&self, state: StateId) -> Result<(), Error> {
        self.read_op(|hp| hp.remove_state(state))?
    }

    /// [`Hotplug::add_instance`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::add_instance`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Errno, OnlineMulti, Slot, Topology};
    ///
    /// struct Nic(&'static str);
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let cbs = OnlineMulti::<Nic>::new().startup(|_, nic| if nic.0.is_empty() { Err(Errno::EINVAL) } else { Ok(()) });
    /// let s = m.setup_state(Slot::OnlineDyn, "net/nic:online", cbs)?;
    /// let eth0 = m.add_instance(s, Nic("eth0"))?;
    /// assert!(m.add_instance(s, Nic("")).is_err()); // its startup failed: not added
    /// assert_eq!(m.with(|hp| hp.instances(s))?, vec![eth0]);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn add_instance<T: std::any::Any + Send + Sync>(
        &self,
        state: StateId,
        instance: T,
    ) -> Result<InstanceId, Error> {
        self.read_op(|hp| hp.add_instance(state, instance))?
    }

    /// [`Hotplug::remove_instance`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::remove_instance`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, OnlineMulti, Slot, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let s = m.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new().teardown(|_, _| Ok(())))?;
    /// let i = m.add_instance(s, 7u8)?;
    /// m.remove_instance(s, i)?; // unlike `Hotplug::remove_instance`, drops the instance
    /// assert!(m.with(|hp| hp.instances(s))?.is_empty());
    /// m.remove_state(s)?; // no instances left: the state may go
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn remove_instance(&self, state: StateId, instance: InstanceId) -> Result<(), Error> {
        self.read_op(|hp| hp.remove_instance(state, instance).map(drop))?
    }

    /// [`Hotplug::sysfs_read`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::sysfs_read`]; `EDEADLK`/`EIO` as [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Errno, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// assert_eq!(m.sysfs_read("online")?, "0-1\n");
    /// assert_eq!(m.sysfs_read("/sys/devices/system/cpu/cpu1/hotplug/state")?, "99\n");
    /// assert_eq!(m.sysfs_read("cpu7/hotplug/state"), Err(Errno::ENOENT));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sysfs_read(&self, path: &str) -> Result<String, Errno> {
        self.read_op(|hp| hp.sysfs_read(path))?
    }

    /// [`Hotplug::sysfs_write`] (a hotplug operation: it may change the online CPUs).
    ///
    /// # Errors
    ///
    /// As [`Hotplug::sysfs_write`]; `EDEADLK`/`EIO` as [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Errno, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.sysfs_write("cpu1/hotplug/target", "0")?;
    /// assert_eq!(m.sysfs_read("online")?, "0\n");
    /// assert_eq!(m.sysfs_write("online", "0-1"), Err(Errno::EACCES)); // read-only
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sysfs_write(&self, path: &str, value: &str) -> Result<(), Errno> {
        if crate::features::sysfs::is_smt_control(path) {
            // Many CPUs, one hotplug operation each (see `set_smt_control`).
            let control = self.write_op(|hp| hp.smt_control_value(value))??;
            return self.set_smt_control(control).map_err(Errno::from);
        }
        self.write_op(|hp| hp.sysfs_write(path, value))?
    }

    /// [`Hotplug::cpu_status`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId(62))?;
    /// let st = m.cpu_status(CpuId(1))?.unwrap();
    /// assert_eq!((st.state, st.target), (StateId(62), StateId(62)));
    /// assert_eq!(m.cpu_status(CpuId(5))?, None);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_status(&self, cpu: CpuId) -> Result<Option<CpuStatus>, Error> {
        self.read_op(|hp| hp.cpu_status(cpu))
    }

    /// The online mask.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// let online = m.online_mask()?; // a copy: it does not follow later changes
    /// assert_eq!(online.to_string(), "0,2");
    /// assert_eq!(online.weight(), 2);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn online_mask(&self) -> Result<CpuMask, Error> {
        self.read_op(|hp| hp.online_mask().clone())
    }

    /// [`Hotplug::enable_cpu_notifiers`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::enable_cpu_notifiers`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.enable_cpu_notifiers(None)?;
    /// assert!(m.with(|hp| hp.cpu_notifiers_enabled())?);
    /// assert_eq!(m.enable_cpu_notifiers(None).unwrap_err().kind(), ErrorKind::CpuNotifiers); // only once
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn enable_cpu_notifiers(&self, slots: Option<LegacySlots>) -> Result<(), Error> {
        self.read_op(|hp| hp.enable_cpu_notifiers(slots))?
    }

    /// [`Hotplug::register_cpu_notifier`] (under the machine lock: Linux's
    /// `cpu_maps_update_begin`).
    ///
    /// # Errors
    ///
    /// As [`Hotplug::register_cpu_notifier`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use cpuhp::legacy::CpuAction;
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|action, cpu| {
    ///     LOG.lock().unwrap().push(format!("{action} {cpu}"));
    ///     NotifyResult::OK
    /// }, 0);
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.enable_cpu_notifiers(None)?;
    /// m.register_cpu_notifier(&NB)?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(*LOG.lock().unwrap(), ["CPU_DOWN_PREPARE 1", "CPU_DYING 1", "CPU_DEAD 1", "CPU_POST_DEAD 1"]);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn register_cpu_notifier(
        &self,
        block: impl Into<crate::legacy::CpuNotifierBlock>,
    ) -> Result<(), Error> {
        self.read_op(|hp| hp.register_cpu_notifier(block))?
    }

    /// [`Hotplug::register_cpu_notifier_replay`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::register_cpu_notifier_replay`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use cpuhp::legacy::{CpuAction, CpuEvent};
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|action, cpu| {
    ///     LOG.lock().unwrap().push(format!("{action} {cpu}"));
    ///     let veto = action.event == CpuEvent::UpPrepare && cpu.0 == 1;
    ///     if veto { NotifyResult::from_error(Errno::ENOMEM) } else { NotifyResult::OK }
    /// }, 0);
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.enable_cpu_notifiers(None)?;
    /// assert_eq!(m.register_cpu_notifier_replay(&NB).unwrap_err().errno(), Errno::ENOMEM);
    /// // CPU 0's replay is undone; the notifier is not registered.
    /// assert_eq!(*LOG.lock().unwrap(), ["CPU_UP_PREPARE 0", "CPU_ONLINE 0", "CPU_UP_PREPARE 1", "CPU_DOWN_PREPARE 0", "CPU_DEAD 0"]);
    /// assert_eq!(m.with(|hp| hp.cpu_notifiers())?, 0);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn register_cpu_notifier_replay(
        &self,
        block: impl Into<crate::legacy::CpuNotifierBlock>,
    ) -> Result<(), Error> {
        self.read_op(|hp| hp.register_cpu_notifier_replay(block))?
    }

    /// [`Hotplug::unregister_cpu_notifier`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::unregister_cpu_notifier`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::CpuAction;
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.enable_cpu_notifiers(None)?;
    /// m.register_cpu_notifier(&NB)?;
    /// m.unregister_cpu_notifier(&NB)?;
    /// assert_eq!(m.with(|hp| hp.cpu_notifiers())?, 0);
    /// assert_eq!(m.unregister_cpu_notifier(&NB).unwrap_err().kind(), ErrorKind::NotRegistered);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn unregister_cpu_notifier<F>(
        &self,
        block: &notifier::NotifierBlock<F>,
    ) -> Result<(), Error> {
        self.read_op(|hp| hp.unregister_cpu_notifier(block))?
    }

    /// [`Hotplug::cpu_hotplug_disable`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_hotplug_disable()?;
    /// assert_eq!(m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err().kind(), ErrorKind::Disabled);
    /// m.cpu_hotplug_enable()?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_hotplug_disable(&self) -> Result<(), Error> {
        self.maps_op(|hp| hp.cpu_hotplug_disable())
    }

    /// [`Hotplug::cpu_hotplug_enable`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_hotplug_enable`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// assert_eq!(m.cpu_hotplug_enable().unwrap_err().kind(), ErrorKind::Unbalanced);
    /// m.cpu_hotplug_disable()?;
    /// m.cpu_hotplug_enable()?;
    /// assert!(!m.with(|hp| hp.cpu_hotplug_disabled())?);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_hotplug_enable(&self) -> Result<(), Error> {
        self.maps_op(|hp| hp.cpu_hotplug_enable())?
    }

    /// [`Hotplug::freeze_secondary_cpus`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::freeze_secondary_cpus`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// m.freeze_secondary_cpus(None)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// // Hotplug stays disabled until the thaw.
    /// assert_eq!(m.cpu_up(CpuId(1), StateId(99)).unwrap_err().kind(), ErrorKind::Disabled);
    /// m.thaw_secondary_cpus()?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn freeze_secondary_cpus(&self, primary: Option<CpuId>) -> Result<(), Error> {
        // One hotplug operation per CPU, as Linux's `_cpu_down` per CPU: the write side is
        // released, and `CPU_POST_DEAD_FROZEN` delivered, before the next CPU goes down. Hotplug
        // is disabled in between, so no other operation gets in.
        self.check_may_serialise()?;
        let _add_remove = self.lock_add_remove();
        let cpus = self.write_locked(|hp| hp.freeze_begin(primary))??;
        let mut result = Ok(());
        for cpu in cpus {
            result = self.write_locked(|hp| hp.freeze_one(cpu)).and_then(|r| r);
            if result.is_err() {
                break;
            }
        }
        self.write_locked(|hp| hp.freeze_end())?;
        result
    }

    /// [`Hotplug::thaw_secondary_cpus`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::thaw_secondary_cpus`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Online, Slot, Topology};
    ///
    /// static RESUMED: AtomicU32 = AtomicU32::new(0);
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// let cbs = Online::new().startup(|_| { if cpuhp::sim::tasks_frozen() { RESUMED.fetch_add(1, Relaxed); } Ok(()) });
    /// m.setup_state(Slot::OnlineDyn, "x", cbs)?;
    /// assert_eq!(m.thaw_secondary_cpus().unwrap_err().kind(), ErrorKind::NotFrozen);
    /// m.freeze_secondary_cpus(None)?;
    /// m.thaw_secondary_cpus()?;
    /// assert_eq!(RESUMED.load(Relaxed), 2); // CPUs 1 and 2 came back with tasks frozen
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn thaw_secondary_cpus(&self) -> Result<(), Error> {
        self.write_op(|hp| hp.thaw_secondary_cpus())?
    }

    /// [`Hotplug::set_wakeup_pending`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.set_wakeup_pending(true)?;
    /// assert_eq!(m.freeze_secondary_cpus(None).unwrap_err().kind(), ErrorKind::WakeupPending);
    /// m.thaw_secondary_cpus()?; // a failed freeze is thawed too
    /// m.set_wakeup_pending(false)?;
    /// m.freeze_secondary_cpus(None)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_wakeup_pending(&self, pending: bool) -> Result<(), Error> {
        self.read_op(|hp| hp.set_wakeup_pending(pending))
    }

    /// [`Hotplug::inject_wakeup`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Errno, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// m.inject_wakeup(1)?;
    /// assert_eq!(m.freeze_secondary_cpus(None).unwrap_err().errno(), Errno::EBUSY);
    /// assert_eq!(m.online_mask()?.to_string(), "0,2"); // CPU 1 went down, then the wakeup came
    /// m.thaw_secondary_cpus()?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject_wakeup(&self, after_cpus: u32) -> Result<(), Error> {
        self.read_op(|hp| hp.inject_wakeup(after_cpus))
    }

    /// [`Hotplug::set_smt_control`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::set_smt_control`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, SmtControl, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2).with_threads_per_core(2))?;
    /// m.set_smt_control(SmtControl::Off)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// assert_eq!(m.cpu_up(CpuId(1), StateId(99)).unwrap_err().kind(), ErrorKind::SmtForbidden);
    /// m.set_smt_control(SmtControl::On)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-1");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_smt_control(&self, control: SmtControl) -> Result<(), Error> {
        self.check_may_serialise()?;
        let _add_remove = self.lock_add_remove();
        if !self.write_locked(|hp| hp.smt_disabling(control))?? {
            return self.write_locked(|hp| hp.set_smt_control(control))?;
        }
        // One hotplug operation per sibling, as Linux's `cpu_down_maps_locked` per CPU: the
        // write side is released, and CPU_POST_DEAD delivered, before the next goes down.
        for cpu in self.write_locked(|hp| hp.smt_siblings_online())? {
            self.write_locked(|hp| hp.smt_disable_one(cpu))??;
        }
        self.write_locked(|hp| hp.smt_disabled(control))
    }

    /// [`Hotplug::bringup_cpus_parallel`].
    ///
    /// # Errors
    ///
    /// Those of [`Machine::with`]; each CPU's outcome is in the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// m.cpu_down(CpuId(2), StateId::OFFLINE)?;
    /// let outcomes = m.bringup_cpus_parallel(&[CpuId(1), CpuId(2)])?;
    /// assert!(outcomes.iter().all(|(_, r)| r.is_ok()));
    /// assert_eq!(m.online_mask()?.to_string(), "0-2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn bringup_cpus_parallel(&self, cpus: &[CpuId]) -> Result<crate::BringupOutcomes, Error> {
        self.write_op(|hp| hp.bringup_cpus_parallel(cpus))
    }

    /// How long a simulated CPU takes to boot once kicked (default: no time).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// m.set_boot_delay(Duration::from_millis(20))?;
    /// let start = Instant::now();
    /// m.cpu_up(CpuId(1), StateId(99))?; // waits for the CPU to boot
    /// assert!(start.elapsed() >= Duration::from_millis(20));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_boot_delay(&self, delay: Duration) -> Result<(), Error> {
        self.read_op(|hp| hp.platform().boot().delay = delay)
    }

    /// [`Hotplug::inject`]: a callback failure.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, Fault, Online, Slot, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let s = m.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// m.inject(Fault::teardown(s, Errno::EBUSY).once())?;
    /// assert_eq!(m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err().errno(), Errno::EBUSY);
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?; // once: gone
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject(&self, fault: crate::Fault) -> Result<(), Error> {
        self.read_op(|hp| hp.inject(fault))
    }

    /// Sends every trace event to `tracer` (replacing any previous one), from whichever thread
    /// the event happens on. Should the tracer panic, that event is lost to it; the operation
    /// goes on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
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
        self.read_op(|hp| hp.platform_mut().tracer = Some(Arc::new(tracer)))
    }

    /// Stops tracing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// static EVENTS: AtomicUsize = AtomicUsize::new(0);
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.set_tracer(|_| { EVENTS.fetch_add(1, Relaxed); })?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// let seen = EVENTS.load(Relaxed);
    /// assert!(seen > 0);
    /// m.clear_tracer()?;
    /// m.cpu_up(CpuId(1), StateId(99))?;
    /// assert_eq!(EVENTS.load(Relaxed), seen); // nothing since
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn clear_tracer(&self) -> Result<(), Error> {
        self.read_op(|hp| hp.platform_mut().tracer = None)
    }

    /// Makes the next boot (or kick) of `cpu` fail with `errno` before it runs anything (a
    /// one-shot platform failure: the CPU did not come up).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// m.inject_start_failure(CpuId(1), Errno::EIO)?;
    /// assert_eq!(m.cpu_up(CpuId(1), StateId(99)).unwrap_err().errno(), Errno::EIO);
    /// assert_eq!(m.online_mask()?.to_string(), "0"); // rolled back
    /// m.cpu_up(CpuId(1), StateId(99))?; // one shot
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject_start_failure(&self, cpu: CpuId, errno: Errno) -> Result<(), Error> {
        self.read_op(|hp| hp.platform().boot().start_faults.push((cpu, errno)))
    }

    /// Makes the next stop of `cpu` fail with `errno` (the CPU refuses to die).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.inject_stop_failure(CpuId(1), Errno::EBUSY)?;
    /// assert_eq!(m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err().errno(), Errno::EBUSY);
    /// assert_eq!(m.online_mask()?.to_string(), "0-1"); // it refused to die: still up
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?; // one shot
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject_stop_failure(&self, cpu: CpuId, errno: Errno) -> Result<(), Error> {
        self.read_op(|hp| hp.platform().boot().stop_faults.push((cpu, errno)))
    }
}

/// Each operation is the [`Machine`] method of the same name: it takes the machine's locks, and
/// refuses with [`ErrorKind::WouldDeadlock`] a call that would wait for itself.
impl crate::Operations for Machine {
    type Platform = SimPlatform;

    fn inspect<R>(&mut self, f: impl FnOnce(&Hotplug<SimPlatform>) -> R) -> Result<R, Error> {
        self.read_op(|hp| f(hp))
    }

    fn cpu_up(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        Machine::cpu_up(self, cpu, target)
    }

    fn cpu_down(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        Machine::cpu_down(self, cpu, target)
    }

    fn setup_state(
        &mut self,
        slot: Slot,
        name: Cow<'static, str>,
        callbacks: Callbacks,
    ) -> Result<StateId, Error> {
        Machine::setup_state(self, slot, name, callbacks)
    }

    fn setup_state_nocalls(
        &mut self,
        slot: Slot,
        name: Cow<'static, str>,
        callbacks: Callbacks,
    ) -> Result<StateId, Error> {
        Machine::setup_state_nocalls(self, slot, name, callbacks)
    }

    fn remove_state(&mut self, state: StateId) -> Result<(), Error> {
        Machine::remove_state(self, state)
    }

    fn add_instance<T: std::any::Any + Send + Sync>(
        &mut self,
        state: StateId,
        instance: T,
    ) -> Result<InstanceId, Error> {
        Machine::add_instance(self, state, instance)
    }

    fn remove_instance(&mut self, state: StateId, instance: InstanceId) -> Result<(), Error> {
        Machine::remove_instance(self, state, instance)
    }

    fn ensure_cpu_notifiers(&mut self, slots: Option<LegacySlots>) -> Result<(), Error> {
        self.read_op(|hp| crate::Operations::ensure_cpu_notifiers(hp, slots))?
    }

    fn register_cpu_notifier(
        &mut self,
        block: crate::legacy::CpuNotifierBlock,
    ) -> Result<(), Error> {
        Machine::register_cpu_notifier(self, block)
    }

    fn cpu_hotplug_disable(&mut self) -> Result<(), Error> {
        Machine::cpu_hotplug_disable(self)
    }

    fn cpu_hotplug_enable(&mut self) -> Result<(), Error> {
        Machine::cpu_hotplug_enable(self)
    }

    fn freeze_secondary_cpus(&mut self, primary: Option<CpuId>) -> Result<(), Error> {
        Machine::freeze_secondary_cpus(self, primary)
    }

    fn thaw_secondary_cpus(&mut self) -> Result<(), Error> {
        Machine::thaw_secondary_cpus(self)
    }

    fn set_smt_control(&mut self, control: SmtControl) -> Result<(), Error> {
        Machine::set_smt_control(self, control)
    }

    fn bringup_cpus_parallel(&mut self, cpus: &[CpuId]) -> Result<crate::BringupOutcomes, Error> {
        Machine::bringup_cpus_parallel(self, cpus)
    }

    fn inject(&mut self, fault: crate::Fault) -> Result<(), Error> {
        Machine::inject(self, fault)
    }

    fn sysfs_read(&mut self, path: &str) -> Result<String, Errno> {
        Machine::sysfs_read(self, path)
    }

    fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        Machine::sysfs_write(self, path, value)
    }
}
