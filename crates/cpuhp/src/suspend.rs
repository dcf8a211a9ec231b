//! Suspend and resume of the secondary CPUs, and disabling hotplug (Linux's
//! `freeze_secondary_cpus`, `thaw_secondary_cpus`, `cpu_hotplug_disable`, `cpu_hotplug_enable`).
//!
//! A freeze takes every online CPU but one down with tasks frozen: legacy notifiers receive the
//! `_FROZEN` events and state callbacks can ask [`Hotplug::tasks_frozen`] (or, in the simulator,
//! `sim::tasks_frozen`). A pending wakeup aborts the freeze with `EBUSY`. Hotplug stays disabled
//! until the thaw, which brings back exactly the CPUs the freeze took down.

use crate::trace::Warning;
use crate::{CpuId, Error, ErrorKind, Hotplug, Platform, StateId};

impl<P: Platform> Hotplug<P> {
    /// Whether the current operation runs with tasks frozen (Linux's `cpuhp_tasks_frozen`).
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
    pub fn cpu_hotplug_disabled(&self) -> bool {
        self.core().disabled > 0
    }

    /// Makes `pm_wakeup_pending()` report a pending wakeup (it aborts a freeze) or not.
    pub fn set_wakeup_pending(&mut self, pending: bool) {
        self.core_mut().0.wakeup_after = pending.then_some(0);
    }

    /// Injects a wakeup that arrives during the next freeze, once it took `after_cpus` CPUs
    /// down: the freeze stops there with `EBUSY`.
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
        self.core_mut().0.wakeup_after = Some(after_cpus);
    }

    /// Takes every online CPU except `primary` (default: the first online CPU) down with tasks
    /// frozen, then disables hotplug — also on failure, as Linux does, since every caller thaws.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WakeupPending`] if a wakeup is pending (the CPUs taken down so far stay down
    /// until the thaw); a failing `cpu_down` (likewise).
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
        let primary = match primary {
            Some(p) if self.online_mask().contains(p) => p,
            _ => self.online_mask().iter().next().unwrap_or(CpuId(0)),
        };
        let others: alloc::vec::Vec<CpuId> = self.online_mask().iter().filter(|&c| c != primary).collect();
        self.core_mut().0.frozen_cpus = crate::CpuMask::new(self.nr_cpus());
        let mut result = Ok(());
        for cpu in others {
            if self.core().wakeup_after == Some(0) {
                result = Err(Error::new(ErrorKind::WakeupPending));
                break;
            }
            match self.cpu_down_frozen(cpu, true) {
                Ok(()) => {
                    let core = self.core_mut().0;
                    core.frozen_cpus.set(cpu, true);
                    if let Some(n) = &mut core.wakeup_after {
                        *n = n.saturating_sub(1);
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let core = self.core_mut().0;
        core.disabled += 1;
        core.freeze_done = true;
        result
    }

    /// Re-enables hotplug and brings back exactly the CPUs the freeze took down, with tasks
    /// frozen. A CPU that fails to come up is skipped (Linux warns and goes on); the first such
    /// error is returned once all were tried.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFrozen`] without a freeze (nothing changes); the first failing `cpu_up`.
    pub fn thaw_secondary_cpus(&mut self) -> Result<(), Error> {
        if !self.core().freeze_done {
            return Err(Error::new(ErrorKind::NotFrozen));
        }
        let core = self.core_mut().0;
        core.disabled = core.disabled.saturating_sub(1);
        core.freeze_done = false;
        let cpus: alloc::vec::Vec<CpuId> = core.frozen_cpus.iter().collect();
        let online = self.layout().online;
        let mut first = Ok(());
        for cpu in cpus {
            if let Err(e) = self.cpu_up_frozen(cpu, online, true) {
                first = first.and(Err(e));
            }
        }
        self.core_mut().0.frozen_cpus = crate::CpuMask::new(self.nr_cpus());
        first
    }

    /// `_cpu_down(cpu, frozen, OFFLINE)` bypassing the disabled check (suspend holds it), with
    /// `CPU_POST_DEAD` after.
    fn cpu_down_frozen(&mut self, cpu: CpuId, frozen: bool) -> Result<(), Error> {
        self.down_locked(cpu, frozen, StateId::OFFLINE)?;
        self.finish_down();
        Ok(())
    }

    /// `_cpu_up(cpu, frozen, target)` bypassing the disabled check.
    fn cpu_up_frozen(&mut self, cpu: CpuId, target: StateId, frozen: bool) -> Result<(), Error> {
        self.up_locked(cpu, frozen, target)
    }
}
