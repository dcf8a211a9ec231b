//! [`Hotplug`]: the state machine's public face — a machine's CPUs, its state table, and the
//! operations on them.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::any::{Any, TypeId};
use core::fmt;

use crate::engine::core::{Core, Report};
use crate::model::callbacks::{Builtin, Callback, Callbacks};
use crate::model::table::{Instance, Value};
use crate::preset::{Preset, PresetKind};
use crate::{CpuId, CpuMask, Errno, Error, ErrorKind, InstanceId, Layout, Platform, Slot, StateId};

/// The most possible CPUs a machine may have (Linux's largest `NR_CPUS`, x86's `MAXSMP`).
pub(crate) const MAX_CPUS: u32 = 8192;

/// The highest state number a layout may use (Linux 6.1 x86_64 ends at 236).
const MAX_STATE: u32 = 4095;

/// Which CPUs a machine has.
///
/// # Examples
///
/// ```
/// use cpuhp::Topology;
///
/// let t = Topology::new(8).with_present(6);
/// assert_eq!((t.possible, t.present), (8, 6));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Topology {
    /// CPUs `0..possible` can exist.
    pub possible: u32,
    /// CPUs `0..present` are there (and are brought online at boot).
    pub present: u32,
    /// Hardware threads per core (SMT siblings are consecutive CPU numbers).
    pub threads_per_core: u32,
    /// The SMT control setting at boot (Linux's `nosmt` / `nosmt=force` kernel parameters);
    /// ignored with one thread per core.
    pub smt_control: crate::SmtControl,
}

impl Topology {
    /// `n` CPUs, all present, one thread per core.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{SmtControl, Topology};
    ///
    /// let t = Topology::new(4);
    /// assert_eq!((t.possible, t.present, t.threads_per_core), (4, 4, 1));
    /// assert_eq!(t.smt_control, SmtControl::On);
    /// ```
    pub fn new(n: u32) -> Topology {
        Topology {
            possible: n,
            present: n,
            threads_per_core: 1,
            smt_control: crate::SmtControl::On,
        }
    }

    /// Only the first `present` CPUs are present.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// assert_eq!(Topology::new(4).with_present(9).present, 4); // at most `possible`
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_present(2), Inline)?;
    /// assert_eq!(hp.possible_mask().to_string(), "0-3");
    /// assert_eq!(hp.online_mask().to_string(), "0-1");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn with_present(self, present: u32) -> Topology {
        Topology {
            present: present.min(self.possible),
            ..self
        }
    }

    /// `threads` hardware threads per core.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// assert_eq!(Topology::new(4).with_threads_per_core(0).threads_per_core, 1); // at least one
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_threads_per_core(2), Inline)?;
    /// assert!(hp.smt_active()); // CPUs 0 and 1 are one core's two threads, both up
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn with_threads_per_core(self, threads: u32) -> Topology {
        Topology {
            threads_per_core: threads.max(1),
            ..self
        }
    }

    /// Boots with SMT control `control`: `Off` is Linux's `nosmt`, `ForceOff` its `nosmt=force`.
    /// The siblings still boot once and are then taken back down, as on x86 (which must set
    /// CR4.MCE on every thread).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, SmtControl, Topology};
    ///
    /// let t = Topology::new(4).with_threads_per_core(2).with_smt_control(SmtControl::Off);
    /// let hp = Hotplug::new(&preset::DEMO, t, Inline)?;
    /// assert_eq!(hp.online_mask().to_string(), "0,2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn with_smt_control(self, control: crate::SmtControl) -> Topology {
        Topology {
            smt_control: control,
            ..self
        }
    }
}

/// One CPU's `hotplug/{state,target,fail}`.
///
/// # Examples
///
/// ```
/// use cpuhp::{preset, CpuId, Hotplug, Inline, Topology};
///
/// let hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
/// let s = hp.cpu_status(CpuId(1)).unwrap();
/// assert_eq!((s.state.get(), s.target.get(), s.fail), (236, 236, None));
/// # Ok::<(), cpuhp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpuStatus {
    /// Where the CPU is.
    pub state: StateId,
    /// Where its last transition was headed.
    pub target: StateId,
    /// The armed one-shot failure, if any.
    pub fail: Option<StateId>,
}

/// A machine's CPU hotplug: the state table, per-CPU states, masks and operations, driven through
/// a [`Platform`].
///
/// Every operation takes `&mut self`: operations are serialised, as Linux serialises them with
/// its hotplug locks. A failed operation leaves every CPU where it was (unless undoing it failed
/// too, which the error reports).
///
/// # Examples
///
/// ```
/// use cpuhp::{preset, CpuId, Errno, Hotplug, Inline, Online, Slot, StateId, Topology};
///
/// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(4), Inline)?;
/// let state = hp.setup_state(
///     Slot::OnlineDyn,
///     "demo:online",
///     Online::new().startup(|cpu: CpuId| if cpu.0 == 3 { Err(Errno::EBUSY) } else { Ok(()) }),
/// );
/// // The startup failed on CPU 3: rolled back on CPUs 0-2, the slot freed.
/// assert_eq!(state.unwrap_err().errno(), Errno::EBUSY);
/// assert_eq!(hp.state_name(StateId(211)), None);
/// # Ok::<(), cpuhp::Error>(())
/// ```
pub struct Hotplug<P: Platform> {
    platform: P,
    core: Core,
}

impl<P: Platform> fmt::Debug for Hotplug<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotplug")
            .field("online", &self.core.online)
            .field("states", &self.core.table.named().count())
            .finish_non_exhaustive()
    }
}

/// An operation that went through although a callback that cannot fail panicked on the way (a
/// STARTING callback, a PREPARE or DYING teardown): [`ErrorKind::Panicked`] with the panic as the
/// rollback failure — reported, not hidden behind an `Ok`. (Only a panic records a rollback failure
/// in an operation that succeeds.)
fn completed_with_panic<T, E>(r: Result<T, E>, report: &Report) -> Result<Result<T, E>, Error> {
    match r {
        Ok(_) if report.rollback_failed.is_some() => {
            Err(Error::new(ErrorKind::Panicked).with_report(report.clone()))
        }
        r => Ok(r),
    }
}

impl<P: Platform> Hotplug<P> {
    /// A machine with `preset`'s state table and `topology`'s CPUs: CPU 0 is up (the boot CPU),
    /// and every other present CPU is brought up to online, as at boot.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidCpu`] for a topology without CPUs or with more than 8192;
    /// [`ErrorKind::InvalidState`] for a preset whose layout is invalid or ends above state 4095,
    /// whose states lie outside it, or that lacks a state of the core's own steps
    /// (`bringup_cpu`, `teardown_cpu`, `ap_active`, and `bp_kick_ap` if the layout has one); a
    /// failed boot of a secondary CPU.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, ErrorKind, Hotplug, Inline, StateId, Topology};
    ///
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// assert_eq!(hp.online_mask().to_string(), "0-2");
    /// assert_eq!(hp.cpu_status(CpuId(2)).unwrap().state, StateId(99));
    /// let e = Hotplug::new(&preset::DEMO, Topology::new(0), Inline).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::InvalidCpu);
    /// let e = Hotplug::new(&preset::DEMO, Topology::new(u32::MAX).with_present(1), Inline);
    /// assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidCpu);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn new(preset: &Preset, topology: Topology, platform: P) -> Result<Hotplug<P>, Error> {
        let layout = preset.layout;
        layout
            .validate()
            .map_err(|_| Error::new(ErrorKind::InvalidState))?;
        // Every state and every possible CPU gets a record up front: absurd sizes would abort
        // on allocation instead of returning an error.
        if layout.online.get() > MAX_STATE {
            return Err(Error::new(ErrorKind::InvalidState));
        }
        if topology.possible == 0 || topology.present == 0 || topology.possible > MAX_CPUS {
            return Err(Error::new(ErrorKind::InvalidCpu));
        }
        let mut core = Core::new(layout, topology.possible);
        core.devices.state_control = preset.state_control;
        core.smt.threads_per_core = topology.threads_per_core;
        core.smt.control = if topology.threads_per_core > 1 {
            topology.smt_control
        } else {
            crate::SmtControl::NotSupported
        };
        for ps in preset.states {
            install_preset_state(&mut core, ps)?;
        }
        // The core's own steps (booting, kicking, stopping the CPU, (de)activating it) exist only
        // if the preset lists their states: without them a CPU would "come up" without booting.
        let core_steps = [layout.bringup_cpu, layout.teardown_cpu, layout.ap_active];
        let named = |s: StateId| core.table.get(s).is_some_and(|step| step.name.is_some());
        if !core_steps.into_iter().chain(layout.bp_kick_ap).all(named) {
            return Err(Error::new(ErrorKind::InvalidState));
        }
        core.table.reindex();
        for c in 0..topology.possible {
            core.possible.set(CpuId(c), true);
        }
        for c in 0..topology.present {
            core.present.set(CpuId(c), true);
        }
        let boot = CpuId(0);
        core.devices.hotpluggable[0] = preset.boot_cpu_hotpluggable;
        let st = core.st(boot);
        st.state = layout.online;
        st.target = preset.boot_cpu_target;
        core.online.set(boot, true);
        core.active.set(boot, true);
        core.smt.booted_once.set(boot, true);
        core.devices.offline[0] = false;
        let mut hp = Hotplug { platform, core };
        for c in 1..topology.present {
            let cpu = CpuId(c);
            match hp.cpu_up(cpu, layout.online) {
                Ok(()) => hp.core.devices.offline[c as usize] = false,
                // SMT off at boot: the sibling booted once, and its bring-up was canceled.
                Err(e) if e.errno() == crate::Errno::ECANCELED && !hp.core.smt_allowed(cpu) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(hp)
    }

    /// The platform.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Topology};
    ///
    /// // The simulator's `Hotplug` runs on a `SimPlatform`: one thread per CPU.
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let platform = m.with(|hp| format!("{:?}", hp.platform()))?;
    /// assert_eq!(platform, "SimPlatform { cpus: 2, .. }");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The platform, mutably (between operations).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    /// use cpuhp::{preset, CpuId, Errno, Hotplug, Platform, StateId, Topology};
    ///
    /// // A platform that counts the work it hands to the CPUs' hotplug threads.
    /// #[derive(Default)]
    /// struct Counting(AtomicUsize);
    /// impl Platform for Counting {
    ///     fn run_on_ap(&self, _: CpuId, work: &mut (dyn FnMut() + Send)) {
    ///         self.0.fetch_add(1, Relaxed);
    ///         work();
    ///     }
    ///     # fn start_cpu(&self, _: CpuId, f: &mut (dyn FnMut() + Send)) -> Result<(), Errno> { f(); Ok(()) }
    ///     # fn stop_cpu(&self, _: CpuId, f: &mut (dyn FnMut() + Send)) -> Result<(), Errno> { f(); Ok(()) }
    /// }
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Counting::default())?;
    /// *hp.platform_mut().0.get_mut() = 0; // forget the boot's hand-offs
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert!(hp.platform().0.load(Relaxed) > 0);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// The state space.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, StateId, Topology};
    ///
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(1), Inline)?;
    /// assert_eq!(hp.layout(), &preset::DEMO.layout);
    /// assert_eq!(hp.layout().online, StateId(99));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn layout(&self) -> &Layout {
        &self.core.layout
    }

    /// Runs `op` with a fresh report and turns an errno into a full [`Error`].
    fn run<T>(
        &mut self,
        kind: ErrorKind,
        op: impl FnOnce(&mut Core, &P) -> Result<T, Errno>,
    ) -> Result<T, Error> {
        self.core.report = Report::default();
        let r = op(&mut self.core, &self.platform);
        let report = core::mem::take(&mut self.core.report);
        let r = completed_with_panic(r, &report)?;
        r.map_err(|errno| {
            // The walk recorded what failed first, and what kind of failure it was.
            let kind = match report.failed {
                Some(f) if f.kind == crate::FailureKind::Platform => ErrorKind::Platform,
                Some(_) => ErrorKind::Callback,
                None => kind,
            };
            Error::with_errno(kind, errno).with_report(report)
        })
    }

    fn run_install<T>(
        &mut self,
        op: impl FnOnce(&mut Core, &P) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.core.report = Report::default();
        let r = op(&mut self.core, &self.platform);
        let report = core::mem::take(&mut self.core.report);
        completed_with_panic(r, &report)?.map_err(|e| e.with_report(report))
    }

    fn check_cpu(&self, cpu: CpuId) -> Result<(), Error> {
        if cpu.0 < self.core.nr_cpus() && self.core.possible.contains(cpu) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::InvalidCpu))
        }
    }

    /// A target a CPU can stop at: not inside the STARTING section or at the core's positions
    /// between `ap_idle_dead` and `ap_online_idle` (Linux would `BUG()` going down there).
    fn check_target(&self, target: StateId) -> Result<(), Error> {
        let l = &self.core.layout;
        // From the bring-up to the end of the STARTING section a CPU cannot stop: at
        // `bringup_cpu` itself Linux would leave it online without its STARTING callbacks (its
        // sysfs `target` refuses that state, `cant_stop`); inside the section the walk `BUG()`s.
        // Nor between `teardown_cpu` and `ap_online_idle` (adjacent in Linux; a layout may leave
        // a gap): the CPU would stay online below the state that marks it so.
        if target > l.online || (target >= l.bringup_cpu && target < l.ap_online_idle) {
            return Err(Error::new(ErrorKind::InvalidTarget));
        }
        Ok(())
    }

    /// Brings `cpu` up to `target` (Linux's `cpu_up`): the control side runs the PREPARE
    /// startups, boots the CPU (its STARTING startups run on it), and its hotplug thread runs the
    /// ONLINE startups. On a failure, exactly the startups that succeeded are torn down, in
    /// reverse, and the CPU ends where it began. Already at or above `target`: nothing happens.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidCpu`], [`ErrorKind::InvalidTarget`], [`ErrorKind::Disabled`],
    /// [`ErrorKind::SmtForbidden`]; [`ErrorKind::Callback`] with the failing callback's errno
    /// (`EAGAIN` for an injected failure); [`ErrorKind::Platform`] if the CPU did not boot.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// hp.cpu_up(CpuId(1), hp.layout().online)?;
    /// assert_eq!(hp.online_mask().to_string(), "0-1");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_up(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.check_cpu(cpu)?;
        self.check_target(target)?;
        if self.core.disabled > 0 {
            return Err(Error::new(ErrorKind::Disabled));
        }
        if !self.core.smt_allowed(cpu) {
            return Err(Error::new(ErrorKind::SmtForbidden));
        }
        self.up_locked(cpu, false, target)
    }

    /// Linux's `_cpu_up`: no disabled or SMT check (the caller holds them).
    pub(crate) fn up_locked(
        &mut self,
        cpu: CpuId,
        frozen: bool,
        target: StateId,
    ) -> Result<(), Error> {
        // Linux's `_cpu_up` refuses a CPU that is possible but not present with EINVAL.
        if !self.core.present.contains(cpu) {
            return Err(Error::new(ErrorKind::InvalidCpu));
        }
        self.run(ErrorKind::Platform, |core, p| {
            core.cpu_up_locked(p, cpu, frozen, target)
        })
    }

    /// Takes `cpu` down to `target` (Linux's `cpu_down`): its hotplug thread runs the ONLINE
    /// teardowns, the control side stops the CPU (its DYING teardowns run on it) and runs the
    /// PREPARE teardowns. On a failure, the teardowns that succeeded are undone by their startups
    /// and the CPU stays up.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidCpu`], [`ErrorKind::InvalidTarget`], [`ErrorKind::Disabled`],
    /// [`ErrorKind::LastCpu`]; [`ErrorKind::Callback`] with the failing teardown's errno;
    /// [`ErrorKind::Platform`] if the CPU refused to stop.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(hp.cpu_status(CpuId(1)).unwrap().state, StateId::OFFLINE);
    /// // The last online CPU cannot go.
    /// assert_eq!(hp.cpu_down(CpuId(0), StateId::OFFLINE).unwrap_err().errno().code(), 16);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_down(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.check_cpu(cpu)?;
        self.check_target(target)?;
        if self.core.disabled > 0 {
            return Err(Error::new(ErrorKind::Disabled));
        }
        // Already at or below the target: nothing to do. (Linux's callers never ask for this;
        // its `_cpu_down` would read a stale hotplug-thread result and turn around.)
        if self.core.cpus[cpu.index()].state <= target {
            return Ok(());
        }
        // A CPU that went down although a callback that cannot fail panicked (an error) is due
        // its `CPU_POST_DEAD` too.
        let r = self.down_locked(cpu, false, target);
        self.finish_down();
        r
    }

    /// Linux's `_cpu_down` up to releasing the hotplug lock: no disabled check. A CPU it kills
    /// is due `CPU_POST_DEAD` ([`finish_down`](Self::finish_down)).
    pub(crate) fn down_locked(
        &mut self,
        cpu: CpuId,
        frozen: bool,
        target: StateId,
    ) -> Result<(), Error> {
        let last = self.core.online.weight() == 1;
        let prev = self.core.cpus[cpu.index()].state;
        let kind = if last {
            ErrorKind::LastCpu
        } else {
            ErrorKind::Platform
        };
        let r = self.run(kind, |core, p| core.cpu_down_locked(p, cpu, frozen, target));
        // "This post dead nonsense must die": only once the CPU went all the way down — also
        // when a callback that cannot fail panicked on the way (`ErrorKind::Panicked`).
        if prev != StateId::OFFLINE && self.core.cpus[cpu.index()].state == StateId::OFFLINE {
            if let Some(legacy) = &mut self.core.legacy {
                legacy.post_dead_due.push((cpu, frozen));
            }
        }
        r
    }

    /// After the hotplug lock is released: `CPU_POST_DEAD` for the CPUs the tear-down killed,
    /// unless the platform delivers them itself ([`Platform::defers_post_dead`]).
    pub(crate) fn finish_down(&mut self) {
        if !self.platform.defers_post_dead() {
            self.deliver_post_dead();
        }
    }

    /// Sends the legacy notifiers the `CPU_POST_DEAD` events due since the last call: for a
    /// platform that [defers them](Platform::defers_post_dead), to be called once it released the
    /// lock its operations run under. Without such a platform, operations deliver them
    /// themselves and this finds none due.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use cpuhp::legacy::CpuAction;
    /// use cpuhp::{preset, CpuId, Errno, Hotplug, Platform, StateId, Topology};
    /// use notifier::{NotifierBlock, NotifyResult};
    ///
    /// /// Runs everything inline, under a lock of its own (not shown), so POST_DEAD waits.
    /// struct Locked;
    /// impl Platform for Locked {
    ///     fn run_on_ap(&self, _: CpuId, work: &mut (dyn FnMut() + Send)) { work() }
    ///     fn start_cpu(&self, _: CpuId, f: &mut (dyn FnMut() + Send)) -> Result<(), Errno> { f(); Ok(()) }
    ///     fn stop_cpu(&self, _: CpuId, f: &mut (dyn FnMut() + Send)) -> Result<(), Errno> { f(); Ok(()) }
    ///     fn defers_post_dead(&self) -> bool { true }
    /// }
    ///
    /// let heard = Arc::new(Mutex::new(Vec::new()));
    /// let log = heard.clone();
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Locked)?;
    /// hp.enable_cpu_notifiers(None)?;
    /// hp.register_cpu_notifier(Arc::new(NotifierBlock::new(move |a: CpuAction, _: &CpuId| {
    ///     log.lock().unwrap().push(a.to_string());
    ///     NotifyResult::OK
    /// }, 0)))?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert!(!heard.lock().unwrap().contains(&"CPU_POST_DEAD".to_string()));
    /// hp.deliver_post_dead(); // the platform released its lock
    /// assert_eq!(heard.lock().unwrap().last().unwrap(), "CPU_POST_DEAD");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn deliver_post_dead(&mut self) {
        let Some(legacy) = &mut self.core.legacy else {
            return;
        };
        for (cpu, frozen) in core::mem::take(&mut legacy.post_dead_due) {
            self.core.post_dead(&self.platform, cpu, frozen);
        }
    }

    /// Installs a state and runs its startup on every CPU that has reached it (Linux's
    /// `cpuhp_setup_state`). Returns the state's number (for a dynamic slot, the one handed out).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WrongSection`] if the callbacks' section is not the slot's;
    /// [`ErrorKind::SlotTaken`]; [`ErrorKind::NoSpace`]; [`ErrorKind::InvalidState`] for an
    /// empty name or a slot outside the state space; [`ErrorKind::Callback`] if a startup failed
    /// (the CPUs before it were torn down and the state is not installed).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Prepare, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(4), Inline)?;
    /// let s = hp.setup_state(Slot::PrepareDyn, "demo/prep", Prepare::new().startup(|_| Ok(())))?;
    /// assert_eq!(s.get(), 71); // 70 is fork:vm_stack_cache
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn setup_state(
        &mut self,
        slot: Slot,
        name: impl Into<Cow<'static, str>>,
        callbacks: impl Into<Callbacks>,
    ) -> Result<StateId, Error> {
        let (name, callbacks) = (name.into(), callbacks.into());
        self.run_install(|core, p| core.setup_state(p, slot, name, callbacks, true))
    }

    /// Installs a state without calling anything (Linux's `cpuhp_setup_state_nocalls`).
    ///
    /// # Errors
    ///
    /// As [`setup_state`](Self::setup_state), minus callback failures.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// let s = hp.setup_state_nocalls(Slot::OnlineDyn, "quiet", Online::new().startup(|_| panic!()))?;
    /// assert_eq!(hp.state_name(s), Some("quiet"));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn setup_state_nocalls(
        &mut self,
        slot: Slot,
        name: impl Into<Cow<'static, str>>,
        callbacks: impl Into<Callbacks>,
    ) -> Result<StateId, Error> {
        let (name, callbacks) = (name.into(), callbacks.into());
        self.run_install(|core, p| core.setup_state(p, slot, name, callbacks, false))
    }

    /// Runs the state's teardown on every CPU that reached it, ascending, and uninstalls it
    /// (Linux's `cpuhp_remove_state`). A multi-instance state must have no instances left.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`] if not installed, or one of the core's or the legacy
    /// API's own states; [`ErrorKind::HasInstances`];
    /// [`ErrorKind::Callback`] if a teardown failed — where Linux would `BUG()`, the CPUs already
    /// torn down get their startup again and the state stays installed.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// hp.remove_state(s)?;
    /// assert_eq!(hp.state_name(s), None);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn remove_state(&mut self, state: StateId) -> Result<(), Error> {
        self.run_install(|core, p| core.remove_state(p, state, true))
    }

    /// Uninstalls a state without calling anything (Linux's `cpuhp_remove_state_nocalls`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`], [`ErrorKind::HasInstances`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| panic!()))?;
    /// hp.remove_state_nocalls(s)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn remove_state_nocalls(&mut self, state: StateId) -> Result<(), Error> {
        self.run_install(|core, p| core.remove_state(p, state, false))
    }

    /// Adds an instance to a multi-instance state and runs its startup on every CPU that reached
    /// the state (Linux's `cpuhp_state_add_instance`). Instances are called newest first.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`], [`ErrorKind::NotMultiInstance`],
    /// [`ErrorKind::WrongInstanceType`]; [`ErrorKind::Callback`] if a startup failed (the CPUs
    /// before it were torn down and the instance is not added).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, OnlineMulti, Slot, Topology};
    ///
    /// struct Nic(&'static str);
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "net/nic:online", OnlineMulti::<Nic>::new().startup(|_, _| Ok(())))?;
    /// let eth0 = hp.add_instance(s, Nic("eth0"))?;
    /// assert_eq!(hp.instances(s), vec![eth0]);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn add_instance<T: Any + Send + Sync>(
        &mut self,
        state: StateId,
        instance: T,
    ) -> Result<InstanceId, Error> {
        self.run_install(|core, p| {
            core.add_instance(p, state, Value::new(instance), TypeId::of::<T>(), true)
        })
    }

    /// Adds an instance without calling anything (Linux's `cpuhp_state_add_instance_nocalls`).
    ///
    /// # Errors
    ///
    /// As [`add_instance`](Self::add_instance), minus callback failures.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, OnlineMulti, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new().startup(|_, _| panic!()))?;
    /// hp.add_instance_nocalls(s, 7u8)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn add_instance_nocalls<T: Any + Send + Sync>(
        &mut self,
        state: StateId,
        instance: T,
    ) -> Result<InstanceId, Error> {
        self.run_install(|core, p| {
            core.add_instance(p, state, Value::new(instance), TypeId::of::<T>(), false)
        })
    }

    /// Runs the instance's teardown on every CPU that reached the state, then removes it and
    /// hands it back (Linux's `cpuhp_state_remove_instance`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`], [`ErrorKind::NotMultiInstance`],
    /// [`ErrorKind::UnknownInstance`]; [`ErrorKind::Callback`] if a teardown failed (undone; the
    /// instance stays).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, OnlineMulti, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new().teardown(|_, _| Ok(())))?;
    /// let i = hp.add_instance(s, 7u8)?;
    /// let back = hp.remove_instance(s, i)?;
    /// assert_eq!(back.downcast_ref::<u8>(), Some(&7));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn remove_instance(
        &mut self,
        state: StateId,
        instance: InstanceId,
    ) -> Result<Box<dyn Any + Send + Sync>, Error> {
        self.run_install(|core, p| core.remove_instance(p, state, instance, true))
    }

    /// Removes an instance without calling anything.
    ///
    /// # Errors
    ///
    /// As [`remove_instance`](Self::remove_instance), minus callback failures.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, OnlineMulti, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new().teardown(|_, _| panic!()))?;
    /// let i = hp.add_instance(s, 7u8)?;
    /// hp.remove_instance_nocalls(s, i)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn remove_instance_nocalls(
        &mut self,
        state: StateId,
        instance: InstanceId,
    ) -> Result<Box<dyn Any + Send + Sync>, Error> {
        self.run_install(|core, p| core.remove_instance(p, state, instance, false))
    }

    /// Injects a callback failure (see [`Fault`](crate::Fault)). Faults are checked in the order
    /// injected; the first that matches a callback fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4), Inline)?;
    /// let s = hp.setup_state_nocalls(Slot::OnlineDyn, "x", Online::new().startup(|_| Ok(())))?;
    /// hp.inject(Fault::startup(s, Errno::ENOMEM).on_cpu(CpuId(2)));
    /// hp.remove_state_nocalls(s)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject(&mut self, fault: crate::Fault) {
        // A fault with no shots left would never fire.
        if fault.times != Some(0) {
            self.core.faults.0.push(fault);
        }
    }

    /// Removes every injected fault.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(1), Inline)?;
    /// hp.clear_faults();
    /// assert!(hp.faults().is_empty());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn clear_faults(&mut self) {
        self.core.faults.0.clear();
    }

    /// The injected faults that have not fired out.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// hp.inject(Fault::teardown(s, Errno::EBUSY).times(2));
    /// assert!(hp.cpu_down(CpuId(1), StateId::OFFLINE).is_err());
    /// assert_eq!(hp.faults()[0].times, Some(1)); // one shot left
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn faults(&self) -> &[crate::Fault] {
        &self.core.faults.0
    }

    /// A CPU's state, target and armed failure; `None` for an unknown CPU.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.cpu_down(CpuId(1), StateId(62))?; // ap_online_idle: below the ONLINE section
    /// let st = hp.cpu_status(CpuId(1)).unwrap();
    /// assert_eq!((st.state, st.target, st.fail), (StateId(62), StateId(62), None));
    /// assert!(hp.cpu_status(CpuId(2)).is_none());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_status(&self, cpu: CpuId) -> Option<CpuStatus> {
        self.core.cpus.get(cpu.index()).map(|st| CpuStatus {
            state: st.state,
            target: st.target,
            fail: st.fail,
        })
    }

    /// Bytes of hotplug bookkeeping per CPU: its state record, two flags and its bit in each of
    /// the six masks. Independent of the number of states and instances (those live in the
    /// shared table).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{Hotplug, Inline};
    /// assert!(Hotplug::<Inline>::per_cpu_bytes() < 128);
    /// ```
    pub const fn per_cpu_bytes() -> usize {
        core::mem::size_of::<crate::model::percpu::CpuHp>() + 2 + 1
    }

    /// The number of CPU slots (possible CPUs).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_present(2), Inline)?;
    /// assert_eq!(hp.nr_cpus(), 4); // possible, not present
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn nr_cpus(&self) -> u32 {
        self.core.nr_cpus()
    }

    /// CPUs that can exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_present(1), Inline)?;
    /// assert_eq!(hp.possible_mask().to_string(), "0-3");
    /// assert_eq!(hp.possible_mask().weight(), hp.nr_cpus());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn possible_mask(&self) -> &CpuMask {
        &self.core.possible
    }

    /// CPUs that are there.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_present(3), Inline)?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(hp.present_mask().to_string(), "0-2"); // offline CPUs are still present
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn present_mask(&self) -> &CpuMask {
        &self.core.present
    }

    /// CPUs that are online (between booting and being stopped).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4), Inline)?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(hp.online_mask().to_string(), "0,2-3");
    /// assert!(!hp.online_mask().contains(CpuId(1)));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn online_mask(&self) -> &CpuMask {
        &self.core.online
    }

    /// CPUs the scheduler may use (above `sched:active`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.cpu_down(CpuId(1), StateId(97))?; // just below sched:active (98)
    /// assert_eq!(hp.online_mask().to_string(), "0-1");
    /// assert_eq!(hp.active_mask().to_string(), "0");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn active_mask(&self) -> &CpuMask {
        &self.core.active
    }

    /// The name of an installed state.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(1), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "demo/net:online", Online::new())?;
    /// assert_eq!(hp.state_name(s), Some("demo/net:online"));
    /// assert_eq!(hp.state_name(StateId(98)), Some("sched:active"));
    /// assert_eq!(hp.state_name(StateId(71)), None); // a free slot
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn state_name(&self, state: StateId) -> Option<&str> {
        self.core.table.get(state).and_then(|s| s.name.as_deref())
    }

    /// The installed state with this name.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(1), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "demo:online", Online::new())?;
    /// assert_eq!(hp.find_state("demo:online"), Some(s));
    /// assert_eq!(hp.find_state("cpu:bringup"), Some(StateId(30)));
    /// assert_eq!(hp.find_state("no:such"), None);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn find_state(&self, name: &str) -> Option<StateId> {
        self.core
            .table
            .named()
            .find(|&(_, n)| n == name)
            .map(|(s, _)| s)
    }

    /// Installed states, ascending: what `hotplug/states` lists.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(1), Inline)?;
    /// hp.setup_state(Slot::OnlineDyn, "demo:online", Online::new())?;
    /// let states = hp.states();
    /// assert_eq!(states[0], (StateId(0), "offline".to_string()));
    /// assert!(states.contains(&(StateId(70), "demo:online".to_string())));
    /// assert_eq!(states.last(), Some(&(StateId(99), "online".to_string())));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn states(&self) -> Vec<(StateId, String)> {
        self.core
            .table
            .named()
            .map(|(s, n)| (s, String::from(n)))
            .collect()
    }

    /// A multi-instance state's instances, in call order (newest first).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, OnlineMulti, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new())?;
    /// let (a, b) = (hp.add_instance(s, 1u8)?, hp.add_instance(s, 2u8)?);
    /// assert_eq!(hp.instances(s), vec![b, a]); // newest first
    /// assert!(hp.instances(StateId(98)).is_empty()); // not multi-instance
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn instances(&self, state: StateId) -> Vec<InstanceId> {
        self.core
            .table
            .get(state)
            .map(|s| s.instances.iter().map(|i| i.id).collect())
            .unwrap_or_default()
    }

    /// Whether `state` has a callback for this direction.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(1), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().startup(|_| Ok(())))?;
    /// assert!(hp.has_callback(s, true));
    /// assert!(!hp.has_callback(s, false)); // no teardown
    /// assert!(hp.has_callback(StateId(61), false)); // cpu:teardown's `takedown_cpu`
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn has_callback(&self, state: StateId, bringup: bool) -> bool {
        !self.core.table.is_empty(bringup, state)
    }

    /// A machine of `core`, run on `platform` (a fork: `engine::checkpoint`).
    pub(crate) fn from_core(core: Core, platform: P) -> Hotplug<P> {
        Hotplug { platform, core }
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    pub(crate) fn core_mut(&mut self) -> (&mut Core, &P) {
        (&mut self.core, &self.platform)
    }
}

fn install_preset_state(core: &mut Core, ps: &crate::preset::PresetState) -> Result<(), Error> {
    use crate::preset::OwnCpu;
    let layout = core.layout;
    let state = StateId(ps.number);
    let builtin = |b: Builtin, sym: &'static str| Callback::builtin(sym, b);
    let noop = |sym: Option<&'static str>| sym.map(|s| Callback::builtin(s, Builtin::Noop));
    let (startup, teardown) = if state == layout.bringup_cpu {
        (
            Some(builtin(Builtin::BringupCpu, "bringup_cpu")),
            Some(builtin(Builtin::FinishCpu, "finish_cpu")),
        )
    } else if Some(state) == layout.bp_kick_ap {
        (Some(builtin(Builtin::KickAp, "cpuhp_kick_ap_alive")), None)
    } else if state == layout.teardown_cpu {
        (None, Some(builtin(Builtin::TakedownCpu, "takedown_cpu")))
    } else if state == layout.ap_active {
        (
            Some(builtin(Builtin::Activate, "sched_cpu_activate")),
            Some(builtin(Builtin::Deactivate, "sched_cpu_deactivate")),
        )
    } else {
        let stand_in = |sym: Option<&'static str>, own: OwnCpu| match own {
            OwnCpu::Any => noop(sym),
            own => sym.map(|s| Callback::builtin(s, Builtin::OwnCpu(own))),
        };
        (
            stand_in(ps.startup, ps.startup_own_cpu),
            stand_in(ps.teardown, ps.teardown_own_cpu),
        )
    };
    let step = core
        .table
        .get_mut(state)
        .ok_or(Error::new(ErrorKind::InvalidState))?;
    step.name = Some(Cow::Borrowed(ps.name));
    step.startup = startup;
    step.teardown = teardown;
    step.cant_stop = ps.cant_stop;
    if let PresetKind::Multi(n) = ps.kind {
        step.multi_instance = true;
        for _ in 0..n {
            core.next_instance += 1;
            let id = InstanceId(core.next_instance);
            core.table
                .get_mut(state)
                .ok_or(Error::new(ErrorKind::InvalidState))?
                .instances
                .push(Instance {
                    id,
                    value: Value::new(()),
                });
        }
    }
    Ok(())
}
