//! [`Operations`]: one set of hotplug operations, whatever runs the CPUs.
//!
//! [`Hotplug`] runs an operation on the caller's thread, handing work to CPUs through its
//! [`Platform`]; the simulator's `sim::Machine` takes its locks first and runs each CPU's part on
//! that CPU's thread. Code that drives a machine — a scenario runner, a test, a tool — is written
//! once against this trait and runs on both.

use alloc::borrow::Cow;
use alloc::string::String;
use core::any::Any;

use crate::legacy::{CpuNotifierBlock, LegacySlots};
use crate::{
    BringupOutcomes, Callbacks, CpuId, Errno, Error, Fault, Hotplug, InstanceId, Platform, Slot,
    SmtControl, StateId,
};

/// The hotplug operations of a machine.
///
/// Every method is the [`Hotplug`] method of the same name. Where `Hotplug`'s cannot fail, this
/// one still returns a `Result`: a machine with locks may refuse a call that would wait for
/// itself ([`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock)).
/// [`remove_instance`](Self::remove_instance) drops the instance it removes.
///
/// # Examples
///
/// One function, two machines:
///
/// ```
/// use cpuhp::{preset, CpuId, Hotplug, Inline, Online, Operations, Slot, StateId, Topology};
///
/// fn cycle(m: &mut impl Operations) -> Result<String, cpuhp::Error> {
///     m.setup_state(Slot::OnlineDyn, "demo:online".into(), Online::new().startup(|_| Ok(())).into())?;
///     m.cpu_down(CpuId(1), StateId::OFFLINE)?;
///     m.inspect(|hp| hp.online_mask().to_string())
/// }
///
/// let mut inline = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
/// assert_eq!(cycle(&mut inline)?, "0");
/// # #[cfg(feature = "std")] {
/// let mut threads = cpuhp::sim::Machine::new(&preset::DEMO, Topology::new(2))?;
/// assert_eq!(cycle(&mut threads)?, "0");
/// # }
/// # Ok::<(), cpuhp::Error>(())
/// ```
pub trait Operations {
    /// The platform of the [`Hotplug`] inside.
    type Platform: Platform;

    /// Runs `f` on the state machine between operations, to read it (CPU states, masks, the
    /// installed states). On a `sim::Machine` it takes the read side, as `cpu_status` does: a
    /// freeze or an SMT switch, which are one hotplug operation per CPU, may be half-way.
    ///
    /// # Errors
    ///
    /// Those of taking the machine's locks.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// assert_eq!(hp.inspect(|hp| hp.nr_cpus())?, 3);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn inspect<R>(&mut self, f: impl FnOnce(&Hotplug<Self::Platform>) -> R) -> Result<R, Error>;

    /// [`Hotplug::cpu_up`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_up`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, Operations, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let online = hp.layout().online;
    /// Operations::cpu_down(&mut hp, CpuId(1), StateId::OFFLINE)?;
    /// Operations::cpu_up(&mut hp, CpuId(1), online)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn cpu_up(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error>;

    /// [`Hotplug::cpu_down`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_down`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, Operations, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// Operations::cpu_down(&mut hp, CpuId(1), StateId::OFFLINE)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn cpu_down(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error>;

    /// [`Hotplug::setup_state`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::setup_state`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Prepare, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// Operations::setup_state(&mut hp, Slot::PrepareDyn, "p".into(), Prepare::new().into())?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn setup_state(
        &mut self,
        slot: Slot,
        name: Cow<'static, str>,
        callbacks: Callbacks,
    ) -> Result<StateId, Error>;

    /// [`Hotplug::setup_state_nocalls`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::setup_state_nocalls`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Operations, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let quiet = Online::new().startup(|_| panic!("not called"));
    /// Operations::setup_state_nocalls(&mut hp, Slot::OnlineDyn, "q".into(), quiet.into())?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn setup_state_nocalls(
        &mut self,
        slot: Slot,
        name: Cow<'static, str>,
        callbacks: Callbacks,
    ) -> Result<StateId, Error>;

    /// [`Hotplug::remove_state`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::remove_state`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Online, Operations, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = Operations::setup_state(&mut hp, Slot::OnlineDyn, "x".into(), Online::new().into())?;
    /// Operations::remove_state(&mut hp, s)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn remove_state(&mut self, state: StateId) -> Result<(), Error>;

    /// [`Hotplug::add_instance`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::add_instance`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, OnlineMulti, Operations, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new())?;
    /// Operations::add_instance(&mut hp, s, 7u8)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn add_instance<T: Any + Send + Sync>(
        &mut self,
        state: StateId,
        instance: T,
    ) -> Result<InstanceId, Error>;

    /// [`Hotplug::remove_instance`], dropping the instance.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::remove_instance`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, OnlineMulti, Operations, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new())?;
    /// let i = hp.add_instance(s, 7u8)?;
    /// Operations::remove_instance(&mut hp, s, i)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn remove_instance(&mut self, state: StateId, instance: InstanceId) -> Result<(), Error>;

    /// [`Hotplug::enable_cpu_notifiers`] unless the legacy API is enabled already.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::enable_cpu_notifiers`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.ensure_cpu_notifiers(None)?;
    /// hp.ensure_cpu_notifiers(None)?; // no-op
    /// assert!(hp.cpu_notifiers_enabled());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn ensure_cpu_notifiers(&mut self, slots: Option<LegacySlots>) -> Result<(), Error>;

    /// [`Hotplug::register_cpu_notifier`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::register_cpu_notifier`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, Operations, Topology};
    /// use cpuhp::legacy::CpuAction;
    /// use notifier::{NotifierBlock, NotifyResult};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.ensure_cpu_notifiers(None)?;
    /// let block = Arc::new(NotifierBlock::new(|_: CpuAction, _: &CpuId| NotifyResult::OK, 0));
    /// Operations::register_cpu_notifier(&mut hp, block.into())?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn register_cpu_notifier(&mut self, block: CpuNotifierBlock) -> Result<(), Error>;

    /// [`Hotplug::cpu_hotplug_disable`].
    ///
    /// # Errors
    ///
    /// Those of taking the machine's locks.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// Operations::cpu_hotplug_disable(&mut hp)?;
    /// assert!(hp.cpu_hotplug_disabled());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn cpu_hotplug_disable(&mut self) -> Result<(), Error>;

    /// [`Hotplug::cpu_hotplug_enable`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_hotplug_enable`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// Operations::cpu_hotplug_disable(&mut hp)?;
    /// Operations::cpu_hotplug_enable(&mut hp)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn cpu_hotplug_enable(&mut self) -> Result<(), Error>;

    /// [`Hotplug::freeze_secondary_cpus`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::freeze_secondary_cpus`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// Operations::freeze_secondary_cpus(&mut hp, None)?;
    /// assert_eq!(hp.online_mask().to_string(), "0");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn freeze_secondary_cpus(&mut self, primary: Option<CpuId>) -> Result<(), Error>;

    /// [`Hotplug::thaw_secondary_cpus`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::thaw_secondary_cpus`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// Operations::freeze_secondary_cpus(&mut hp, None)?;
    /// Operations::thaw_secondary_cpus(&mut hp)?;
    /// assert_eq!(hp.online_mask().to_string(), "0-2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn thaw_secondary_cpus(&mut self) -> Result<(), Error>;

    /// [`Hotplug::set_smt_control`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::set_smt_control`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, SmtControl, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4).with_threads_per_core(2), Inline)?;
    /// Operations::set_smt_control(&mut hp, SmtControl::Off)?;
    /// assert_eq!(hp.online_mask().to_string(), "0,2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn set_smt_control(&mut self, control: SmtControl) -> Result<(), Error>;

    /// [`Hotplug::bringup_cpus_parallel`].
    ///
    /// # Errors
    ///
    /// Those of taking the machine's locks; each CPU's own result is in the outcomes.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, Operations, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// let outcomes = Operations::bringup_cpus_parallel(&mut hp, &[CpuId(1)])?;
    /// assert!(outcomes.iter().all(|(_, r)| r.is_ok()));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn bringup_cpus_parallel(&mut self, cpus: &[CpuId]) -> Result<BringupOutcomes, Error>;

    /// [`Hotplug::inject`].
    ///
    /// # Errors
    ///
    /// Those of taking the machine's locks.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Errno, Fault, Hotplug, Inline, Operations, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// Operations::inject(&mut hp, Fault::startup(StateId(1), Errno::EIO).once())?;
    /// assert_eq!(hp.faults().len(), 1);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    fn inject(&mut self, fault: Fault) -> Result<(), Error>;

    /// [`Hotplug::sysfs_read`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::sysfs_read`]; a machine whose locks refuse the call answers `EDEADLK`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// assert_eq!(Operations::sysfs_read(&mut hp, "online")?, "0-1\n");
    /// # Ok::<(), cpuhp::Errno>(())
    /// ```
    fn sysfs_read(&mut self, path: &str) -> Result<String, Errno>;

    /// [`Hotplug::sysfs_write`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::sysfs_write`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Operations, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// Operations::sysfs_write(&mut hp, "cpu1/online", "0")?;
    /// assert_eq!(hp.online_mask().to_string(), "0");
    /// # Ok::<(), cpuhp::Errno>(())
    /// ```
    fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno>;
}

impl<P: Platform> Operations for Hotplug<P> {
    type Platform = P;

    fn inspect<R>(&mut self, f: impl FnOnce(&Hotplug<P>) -> R) -> Result<R, Error> {
        Ok(f(self))
    }

    fn cpu_up(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        Hotplug::cpu_up(self, cpu, target)
    }

    fn cpu_down(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        Hotplug::cpu_down(self, cpu, target)
    }

    fn setup_state(
        &mut self,
        slot: Slot,
        name: Cow<'static, str>,
        callbacks: Callbacks,
    ) -> Result<StateId, Error> {
        Hotplug::setup_state(self, slot, name, callbacks)
    }

    fn setup_state_nocalls(
        &mut self,
        slot: Slot,
        name: Cow<'static, str>,
        callbacks: Callbacks,
    ) -> Result<StateId, Error> {
        Hotplug::setup_state_nocalls(self, slot, name, callbacks)
    }

    fn remove_state(&mut self, state: StateId) -> Result<(), Error> {
        Hotplug::remove_state(self, state)
    }

    fn add_instance<T: Any + Send + Sync>(
        &mut self,
        state: StateId,
        instance: T,
    ) -> Result<InstanceId, Error> {
        Hotplug::add_instance(self, state, instance)
    }

    fn remove_instance(&mut self, state: StateId, instance: InstanceId) -> Result<(), Error> {
        Hotplug::remove_instance(self, state, instance).map(drop)
    }

    fn ensure_cpu_notifiers(&mut self, slots: Option<LegacySlots>) -> Result<(), Error> {
        if self.cpu_notifiers_enabled() {
            return Ok(());
        }
        self.enable_cpu_notifiers(slots)
    }

    fn register_cpu_notifier(&mut self, block: CpuNotifierBlock) -> Result<(), Error> {
        Hotplug::register_cpu_notifier(self, block)
    }

    fn cpu_hotplug_disable(&mut self) -> Result<(), Error> {
        Hotplug::cpu_hotplug_disable(self);
        Ok(())
    }

    fn cpu_hotplug_enable(&mut self) -> Result<(), Error> {
        Hotplug::cpu_hotplug_enable(self)
    }

    fn freeze_secondary_cpus(&mut self, primary: Option<CpuId>) -> Result<(), Error> {
        Hotplug::freeze_secondary_cpus(self, primary)
    }

    fn thaw_secondary_cpus(&mut self) -> Result<(), Error> {
        Hotplug::thaw_secondary_cpus(self)
    }

    fn set_smt_control(&mut self, control: SmtControl) -> Result<(), Error> {
        Hotplug::set_smt_control(self, control)
    }

    fn bringup_cpus_parallel(&mut self, cpus: &[CpuId]) -> Result<BringupOutcomes, Error> {
        Ok(Hotplug::bringup_cpus_parallel(self, cpus))
    }

    fn inject(&mut self, fault: Fault) -> Result<(), Error> {
        Hotplug::inject(self, fault);
        Ok(())
    }

    fn sysfs_read(&mut self, path: &str) -> Result<String, Errno> {
        Hotplug::sysfs_read(self, path)
    }

    fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        Hotplug::sysfs_write(self, path, value)
    }
}
