//! Suspend and resume of the secondary CPUs, and disabling hotplug (Linux's
//! `freeze_secondary_cpus`, `thaw_secondary_cpus`, `cpu_hotplug_disable`, `cpu_hotplug_enable`).
//!
//! A freeze takes every online CPU but one down with tasks frozen: legacy notifiers receive the
//! `_FROZEN` events and state callbacks can ask [`Hotplug::tasks_frozen`] (or, in the simulator,
//! `sim::tasks_frozen`). A pending wakeup aborts the freeze with `EBUSY`. Hotplug stays disabled
//! until the thaw, which brings back exactly the CPUs the freeze took down.

use alloc::vec::Vec;

use crate::trace::Warning;
use crate::{CpuId, CpuMask, Error, ErrorKind, Hotplug, Platform, StateId};

/// Where suspend stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Freeze {
    /// No freeze (or thawed).
    Thawed,
    /// A freeze is taking CPUs down.
    Freezing,
    /// Frozen, waiting for the thaw.
    Frozen,
}

/// Suspend's state: a feature of its own beside the engine's data.
#[derive(Clone, Debug)]
pub(crate) struct Suspend {
    /// Where suspend stands.
    pub(crate) state: Freeze,
    /// The CPUs `freeze_secondary_cpus` took down, for `thaw_secondary_cpus` to bring back.
    pub(crate) frozen_cpus: CpuMask,
    /// `pm_wakeup_pending()`: a wakeup event is pending; it aborts a freeze.
    pub(crate) wakeup_pending: bool,
    /// An injected wakeup: it arrives once the next freeze took this many more CPUs down.
    pub(crate) wakeup_after: Option<u32>,
}

impl Suspend {
    pub(crate) fn new(nr_cpus: u32) -> Suspend {
        Suspend {
            state: Freeze::Thawed,
            frozen_cpus: CpuMask::new(nr_cpus),
            wakeup_pending: false,
            wakeup_after: None,
        }
    }
}

impl<P: Platform> Hotplug<P> {
    /// Whether the current operation runs with tasks frozen (Linux's `cpuhp_tasks_frozen`;
    /// between operations, the last one's).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// assert!(!hp.tasks_frozen());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn tasks_frozen(&self) -> bool {
        self.core().tasks_frozen
    }

    /// Disables CPU hotplug: `cpu_up`/`cpu_down` fail with `EBUSY` until as many
    /// [`cpu_hotplug_enable`](Self::cpu_hotplug_enable) calls as disables.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.cpu_hotplug_disable();
    /// assert_eq!(hp.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err().errno(), Errno::EBUSY);
    /// hp.cpu_hotplug_enable()?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_hotplug_disable(&mut self) {
        self.core_mut().0.disabled += 1;
    }

    /// Undoes one [`cpu_hotplug_disable`](Self::cpu_hotplug_disable).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unbalanced`] if hotplug is not disabled (Linux warns "Unbalanced cpu hotplug
    /// enable"); nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, ErrorKind, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// assert_eq!(hp.cpu_hotplug_enable().unwrap_err().kind(), ErrorKind::Unbalanced);
    /// hp.cpu_hotplug_disable();
    /// hp.cpu_hotplug_enable()?;
    /// assert!(!hp.cpu_hotplug_disabled());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_hotplug_enable(&mut self) -> Result<(), Error> {
        let (core, p) = self.core_mut();
        if core.disabled == 0 {
            core.warn(p, Warning::UnbalancedEnable, CpuId(0), false);
            return Err(Error::new(ErrorKind::Unbalanced));
        }
        core.disabled -= 1;
        Ok(())
    }

    /// Whether hotplug is disabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.cpu_hotplug_disable();
    /// hp.cpu_hotplug_disable();
    /// hp.cpu_hotplug_enable()?;
    /// assert!(hp.cpu_hotplug_disabled()); // one disable still outstanding
    /// hp.cpu_hotplug_enable()?;
    /// assert!(!hp.cpu_hotplug_disabled());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_hotplug_disabled(&self) -> bool {
        self.core().disabled > 0
    }

    /// Makes `pm_wakeup_pending()` report a pending wakeup (it aborts a freeze) or not.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, ErrorKind, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// hp.set_wakeup_pending(true);
    /// assert_eq!(hp.freeze_secondary_cpus(None).unwrap_err().kind(), ErrorKind::WakeupPending);
    /// assert_eq!(hp.online_mask().to_string(), "0-2"); // aborted before any CPU went down
    /// hp.thaw_secondary_cpus()?; // a failed freeze is thawed too
    /// hp.set_wakeup_pending(false);
    /// hp.freeze_secondary_cpus(None)?;
    /// assert_eq!(hp.online_mask().to_string(), "0");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_wakeup_pending(&mut self, pending: bool) {
        self.core_mut().0.suspend.wakeup_pending = pending;
    }

    /// Injects a wakeup that arrives during the next freeze, once it took `after_cpus` CPUs
    /// down: the freeze stops there with `EBUSY`. One shot: the freeze's end clears it, whether it
    /// arrived or not (a larger count than CPUs to freeze never arrives).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Errno, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4), Inline)?;
    /// hp.inject_wakeup(1);
    /// assert_eq!(hp.freeze_secondary_cpus(None).unwrap_err().errno(), Errno::EBUSY);
    /// assert_eq!(hp.online_mask().to_string(), "0,2-3"); // CPU 1 went down, then the wakeup
    /// hp.thaw_secondary_cpus()?;
    /// assert_eq!(hp.online_mask().to_string(), "0-3");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject_wakeup(&mut self, after_cpus: u32) {
        self.core_mut().0.suspend.wakeup_after = Some(after_cpus);
    }

    /// Takes every online CPU except `primary` (default: the first online CPU) down with tasks
    /// frozen, one after the other, and leaves hotplug disabled until the thaw — also on failure,
    /// as Linux does, since every caller thaws.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyFrozen`] before a thaw (nothing changes); [`ErrorKind::WakeupPending`]
    /// if a wakeup is pending before a CPU goes down (the CPUs taken down so far stay down until
    /// the thaw); a failing `cpu_down` (likewise).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4), Inline)?;
    /// hp.freeze_secondary_cpus(None)?;
    /// assert_eq!(hp.online_mask().to_string(), "0");
    /// assert!(hp.cpu_hotplug_disabled());
    /// hp.thaw_secondary_cpus()?;
    /// assert_eq!(hp.online_mask().to_string(), "0-3");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn freeze_secondary_cpus(&mut self, primary: Option<CpuId>) -> Result<(), Error> {
        let cpus = self.freeze_begin(primary)?;
        let result = cpus.into_iter().try_for_each(|cpu| self.freeze_one(cpu));
        self.freeze_end();
        result
    }

    /// The first step of a freeze: which CPUs go down. Hotplug is disabled from here on, so that
    /// nothing else brings CPUs up or down between the steps (Linux holds
    /// `cpu_add_remove_lock` across the freeze, and disables hotplug at its end).
    pub(crate) fn freeze_begin(&mut self, primary: Option<CpuId>) -> Result<Vec<CpuId>, Error> {
        if self.core().suspend.state != Freeze::Thawed {
            return Err(Error::new(ErrorKind::AlreadyFrozen));
        }
        let online = self.online_mask().clone();
        let primary = match primary {
            Some(p) if online.contains(p) => p,
            _ => online.iter().next().unwrap_or(CpuId(0)),
        };
        let core = self.core_mut().0;
        core.suspend.frozen_cpus = CpuMask::new(core.nr_cpus());
        core.suspend.state = Freeze::Freezing;
        core.disabled += 1;
        Ok(online.iter().filter(|&c| c != primary).collect())
    }

    /// One CPU of a freeze (`_cpu_down(cpu, 1, CPUHP_OFFLINE)` after the wakeup check).
    pub(crate) fn freeze_one(&mut self, cpu: CpuId) -> Result<(), Error> {
        let core = self.core();
        if core.suspend.wakeup_pending || core.suspend.wakeup_after == Some(0) {
            return Err(Error::new(ErrorKind::WakeupPending));
        }
        let r = self.cpu_down_frozen(cpu, true);
        let core = self.core_mut().0;
        // Down, even if the tear-down reports a panic of a callback that cannot fail: the thaw
        // brings it back. (The freeze stops at that error all the same.)
        if core.cpus[cpu.index()].state == StateId::OFFLINE {
            core.suspend.frozen_cpus.set(cpu, true);
        }
        r?;
        if let Some(n) = &mut core.suspend.wakeup_after {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }

    /// The end of a freeze, whether it succeeded or not.
    pub(crate) fn freeze_end(&mut self) {
        let core = self.core_mut().0;
        core.suspend.state = Freeze::Frozen;
        core.suspend.wakeup_after = None;
    }

    /// Re-enables hotplug and brings back exactly the CPUs the freeze took down, with tasks
    /// frozen. A CPU that fails to come up is skipped (Linux warns and goes on); the first such
    /// error is returned once all were tried.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFrozen`] without a freeze (nothing changes); the first failing `cpu_up`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, ErrorKind, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// assert_eq!(hp.thaw_secondary_cpus().unwrap_err().kind(), ErrorKind::NotFrozen);
    /// hp.cpu_down(CpuId(2), StateId::OFFLINE)?;
    /// hp.freeze_secondary_cpus(None)?; // takes CPU 1 down
    /// hp.thaw_secondary_cpus()?;
    /// assert_eq!(hp.online_mask().to_string(), "0-1"); // CPU 2 was down before the freeze
    /// assert!(!hp.cpu_hotplug_disabled());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn thaw_secondary_cpus(&mut self) -> Result<(), Error> {
        if self.core().suspend.state != Freeze::Frozen {
            return Err(Error::new(ErrorKind::NotFrozen));
        }
        let (core, p) = self.core_mut();
        if core.disabled == 0 {
            // Someone enabled hotplug while frozen: Linux's `__cpu_hotplug_enable` warns.
            core.warn(p, Warning::UnbalancedEnable, CpuId(0), false);
        }
        core.disabled = core.disabled.saturating_sub(1);
        core.suspend.state = Freeze::Thawed;
        let cpus: Vec<CpuId> = core.suspend.frozen_cpus.iter().collect();
        let online = self.layout().online;
        let mut first = Ok(());
        for cpu in cpus {
            if let Err(e) = self.cpu_up_frozen(cpu, online, true) {
                first = first.and(Err(e));
            }
        }
        self.core_mut().0.suspend.frozen_cpus = CpuMask::new(self.nr_cpus());
        first
    }

    /// `_cpu_down(cpu, frozen, OFFLINE)` bypassing the disabled check (suspend holds it), with
    /// `CPU_POST_DEAD` after.
    fn cpu_down_frozen(&mut self, cpu: CpuId, frozen: bool) -> Result<(), Error> {
        let r = self.down_locked(cpu, frozen, StateId::OFFLINE);
        self.finish_down();
        r
    }

    /// `_cpu_up(cpu, frozen, target)` bypassing the disabled check.
    fn cpu_up_frozen(&mut self, cpu: CpuId, target: StateId, frozen: bool) -> Result<(), Error> {
        self.up_locked(cpu, frozen, target)
    }
}
