//! SMT (hyper-threading) control: `/sys/devices/system/cpu/smt/control`.
//!
//! Hardware threads of a core are consecutive CPU numbers; the first of each core is its primary
//! thread. With SMT off, only primary threads may come up: `cpu_up` of a sibling is `EPERM`.
//! Linux lets a sibling that has never booted come up once anyway (x86 must set CR4.MCE on every
//! thread) and then cancels the bring-up — reproduced here.

use core::fmt;
use core::str::FromStr;

use crate::engine::core::Core;
use crate::{CpuId, CpuMask, Error, ErrorKind, Hotplug, Platform, StateId};

/// The SMT control setting (Linux's `cpu_smt_control`).
///
/// # Examples
///
/// ```
/// use cpuhp::SmtControl;
///
/// assert_eq!("forceoff".parse::<SmtControl>(), Ok(SmtControl::ForceOff));
/// assert_eq!(SmtControl::NotSupported.to_string(), "notsupported");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmtControl {
    /// All hardware threads may be online.
    On,
    /// Only primary threads may be online.
    Off,
    /// Off, for good: writes to `smt/control` fail with `EPERM`.
    ForceOff,
    /// One thread per core: writes fail with `ENODEV`.
    NotSupported,
}

impl fmt::Display for SmtControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SmtControl::On => "on",
            SmtControl::Off => "off",
            SmtControl::ForceOff => "forceoff",
            SmtControl::NotSupported => "notsupported",
        })
    }
}

impl FromStr for SmtControl {
    type Err = ();

    fn from_str(s: &str) -> Result<SmtControl, ()> {
        match s.trim_end_matches('\n') {
            "on" => Ok(SmtControl::On),
            "off" => Ok(SmtControl::Off),
            "forceoff" => Ok(SmtControl::ForceOff),
            "notsupported" => Ok(SmtControl::NotSupported),
            _ => Err(()),
        }
    }
}

/// SMT's state: a feature of its own beside the engine's data.
#[derive(Clone, Debug)]
pub(crate) struct Smt {
    /// `cpu_smt_control`.
    pub(crate) control: SmtControl,
    /// Hardware threads per core; siblings are consecutive CPU numbers.
    pub(crate) threads_per_core: u32,
    /// CPUs that have booted at least once (a sibling that never booted may come up once).
    pub(crate) booted_once: CpuMask,
}

impl Smt {
    pub(crate) fn new(nr_cpus: u32) -> Smt {
        Smt {
            control: SmtControl::NotSupported,
            threads_per_core: 1,
            booted_once: CpuMask::new(nr_cpus),
        }
    }

    /// The engine's hook: `cpu` has booted (its STARTING section ran).
    pub(crate) fn booted(&mut self, cpu: CpuId) {
        self.booted_once.set(cpu, true);
    }
}

impl Core {
    pub(crate) fn is_primary_thread(&self, cpu: CpuId) -> bool {
        cpu.0 % self.smt.threads_per_core.max(1) == 0
    }

    /// Linux's `cpu_smt_allowed`.
    pub(crate) fn smt_allowed(&self, cpu: CpuId) -> bool {
        if matches!(self.smt.control, SmtControl::On | SmtControl::NotSupported)
            || self.is_primary_thread(cpu)
        {
            return true;
        }
        // x86 must boot every thread once (to set CR4.MCE): a sibling that never booted may.
        !self.smt.booted_once.contains(cpu)
    }
}

impl<P: Platform> Hotplug<P> {
    /// The SMT control setting.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, SmtControl, Topology};
    ///
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_threads_per_core(2), Inline)?;
    /// assert_eq!(hp.smt_control(), SmtControl::On);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn smt_control(&self) -> SmtControl {
        self.core().smt.control
    }

    /// Whether some core has two or more threads active (`smt/active`: Linux's
    /// `sched_smt_active()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_threads_per_core(2), Inline)?;
    /// assert!(hp.smt_active());
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// hp.cpu_down(CpuId(2), StateId::OFFLINE)?;
    /// assert!(!hp.smt_active(), "CPUs 0 and 3 are on different cores");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn smt_active(&self) -> bool {
        let core = self.core();
        let threads = core.smt.threads_per_core.max(1);
        threads > 1
            && core.active.iter().any(|c| {
                !core.is_primary_thread(c)
                    && (c.0 / threads * threads..c.0).any(|s| core.active.contains(CpuId(s)))
            })
    }

    /// Writes `smt/control`: `On` brings every present, offline sibling up; `Off` and `ForceOff`
    /// take the online non-primary threads down (marking their devices offline).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SmtForcedOff`] after `ForceOff`; [`ErrorKind::SmtNotSupported`] on a machine
    /// with one thread per core or for `NotSupported`; a failing `cpu_up`/`cpu_down` (the CPUs
    /// already changed stay changed, as in Linux).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, ErrorKind, Hotplug, Inline, SmtControl, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_threads_per_core(2), Inline)?;
    /// hp.set_smt_control(SmtControl::Off)?;
    /// assert_eq!(hp.online_mask().to_string(), "0,2");
    /// assert_eq!(hp.cpu_up(CpuId(1), StateId(99)).unwrap_err().kind(), ErrorKind::SmtForbidden);
    /// hp.set_smt_control(SmtControl::On)?;
    /// assert_eq!(hp.online_mask().to_string(), "0-3");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_smt_control(&mut self, control: SmtControl) -> Result<(), Error> {
        match self.core().smt.control {
            SmtControl::ForceOff => return Err(Error::new(ErrorKind::SmtForcedOff)),
            SmtControl::NotSupported => return Err(Error::new(ErrorKind::SmtNotSupported)),
            _ => {}
        }
        if control == SmtControl::NotSupported {
            return Err(Error::new(ErrorKind::SmtNotSupported));
        }
        if control == self.core().smt.control {
            return Ok(());
        }
        let online = self.layout().online;
        match control {
            SmtControl::On => {
                self.core_mut().0.smt.control = SmtControl::On;
                let offline: alloc::vec::Vec<CpuId> = self
                    .present_mask()
                    .iter()
                    .filter(|&c| !self.online_mask().contains(c))
                    .collect();
                for cpu in offline {
                    // Linux's `cpuhp_smt_enable` uses `_cpu_up`: no disabled check.
                    let r = self.up_locked(cpu, false, online);
                    // Up also when the error reports a panic of a callback that cannot fail.
                    if self.core().cpus[cpu.index()].state == online {
                        self.core_mut().0.devices.offline[cpu.index()] = false;
                    }
                    r?;
                }
            }
            SmtControl::Off | SmtControl::ForceOff => {
                for cpu in self.smt_siblings_online() {
                    self.smt_disable_one(cpu)?;
                }
                self.core_mut().0.smt.control = control;
            }
            SmtControl::NotSupported => {}
        }
        Ok(())
    }

    /// Checks a change of the SMT control to `control`: `Ok(true)` if it takes siblings down
    /// (then [`smt_siblings_online`](Self::smt_siblings_online) says which), `Ok(false)` if it is
    /// anything else (or nothing to do).
    #[cfg(feature = "std")] // the simulator's per-CPU SMT off
    pub(crate) fn smt_disabling(&self, control: SmtControl) -> Result<bool, Error> {
        match self.core().smt.control {
            SmtControl::ForceOff => return Err(Error::new(ErrorKind::SmtForcedOff)),
            SmtControl::NotSupported => return Err(Error::new(ErrorKind::SmtNotSupported)),
            _ => {}
        }
        match control {
            SmtControl::NotSupported => Err(Error::new(ErrorKind::SmtNotSupported)),
            c if c == self.core().smt.control => Ok(false),
            SmtControl::Off | SmtControl::ForceOff => Ok(true),
            SmtControl::On => Ok(false),
        }
    }

    /// The online secondary threads, which SMT off takes down.
    pub(crate) fn smt_siblings_online(&self) -> alloc::vec::Vec<CpuId> {
        self.online_mask()
            .iter()
            .filter(|&c| !self.core().is_primary_thread(c))
            .collect()
    }

    /// One sibling of `cpuhp_smt_disable`: down, and its device marked offline.
    pub(crate) fn smt_disable_one(&mut self, cpu: CpuId) -> Result<(), Error> {
        let r = self.cpu_down(cpu, StateId::OFFLINE);
        // Down also when the error reports a panic of a callback that cannot fail.
        if self.core().cpus[cpu.index()].state == StateId::OFFLINE {
            self.core_mut().0.devices.offline[cpu.index()] = true;
        }
        r
    }

    /// The end of a successful `cpuhp_smt_disable`.
    #[cfg(feature = "std")] // the simulator's per-CPU SMT off
    pub(crate) fn smt_disabled(&mut self, control: SmtControl) {
        self.core_mut().0.smt.control = control;
    }
}
