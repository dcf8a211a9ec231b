//! The legacy API on [`Hotplug`]: enabling the bridge states, registering CPU notifiers.

use alloc::vec::Vec;

use notifier::{BlockRef, Chain, NotifierBlock, RawChain};

use super::{CpuAction, CpuEvent, Legacy, LegacySlots};
use crate::callbacks::{Builtin, Callback};
use crate::legacy::Bridge;
use crate::{CpuId, Error, ErrorKind, Hotplug, Platform, Section};

fn map_register(e: notifier::RegisterError) -> Error {
    match e {
        notifier::RegisterError::AlreadyRegistered => Error::new(ErrorKind::AlreadyRegistered),
        _ => Error::new(ErrorKind::WouldDeadlock),
    }
}

impl<P: Platform> Hotplug<P> {
    /// Installs the three bridge states of the legacy CPU-notifier API (see [`crate::legacy`]).
    /// CPUs already online count as having been told `CPU_ONLINE`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CpuNotifiers`] if already enabled; [`ErrorKind::WrongSection`] or
    /// [`ErrorKind::SlotTaken`] for bad slots. Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::LegacySlots;
    /// use cpuhp::{preset, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// hp.enable_cpu_notifiers(LegacySlots::default_for(hp.layout()))?;
    /// assert_eq!(hp.state_name(StateId(90)), Some("notify:prepare"));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn enable_cpu_notifiers(&mut self, slots: LegacySlots) -> Result<(), Error> {
        let (core, _) = self.core_mut();
        if core.legacy.is_some() {
            return Err(Error::new(ErrorKind::CpuNotifiers));
        }
        let wanted = [
            (slots.prepare, Section::Prepare),
            (slots.starting, Section::Starting),
            (slots.online, Section::Online),
        ];
        for (state, section) in wanted {
            if core.layout.section(state) != Some(section) {
                return Err(Error::new(ErrorKind::WrongSection));
            }
            if core.core_position(state) || core.table.get(state).is_none_or(|s| s.name.is_some()) {
                return Err(Error::new(ErrorKind::SlotTaken));
            }
        }
        let bridges = [
            (slots.prepare, "notify:prepare", Bridge::Prepare, true),
            (slots.starting, "notify:starting", Bridge::Starting, true),
            (slots.online, "notify:online", Bridge::Online, false),
        ];
        for (state, name, bridge, cant_stop) in bridges {
            let step = core
                .table
                .get_mut(state)
                .ok_or(Error::new(ErrorKind::InvalidState))?;
            step.name = Some(alloc::borrow::Cow::Borrowed(name));
            step.startup = Some(Callback::builtin("", Builtin::Bridge(bridge)));
            step.teardown = Some(Callback::builtin("", Builtin::Bridge(bridge)));
            step.cant_stop = cant_stop;
        }
        core.table.reindex();
        let mut legacy = Legacy::new(slots, core.cpus.len());
        for cpu in core.online.iter() {
            if core.cpus[cpu.index()].state >= slots.online {
                legacy.told[cpu.index()] = super::bridge::Told::Online;
            }
        }
        core.legacy = Some(legacy);
        Ok(())
    }

    /// Whether the legacy CPU-notifier API is enabled.
    pub fn cpu_notifiers_enabled(&self) -> bool {
        self.core().legacy.is_some()
    }

    fn legacy_chain(&self) -> Result<&RawChain<CpuAction, CpuId>, Error> {
        self.core()
            .legacy
            .as_ref()
            .map(|l| &l.chain)
            .ok_or(Error::new(ErrorKind::CpuNotifiers))
    }

    /// Linux's `register_cpu_notifier`: adds a notifier to the legacy chain (higher priority
    /// first). A `&'static` block or an `Arc`'d one; wrap a [`CpuNotifier`](super::CpuNotifier)
    /// in [`Typed`](super::Typed) for the typed form.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CpuNotifiers`] if the API is not enabled; [`ErrorKind::AlreadyRegistered`].
    /// Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::{CpuAction, LegacySlots};
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// fn on_cpu(action: CpuAction, cpu: &CpuId) -> NotifyResult {
    ///     println!("{action} {cpu}");
    ///     NotifyResult::OK
    /// }
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(on_cpu, 0);
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.enable_cpu_notifiers(LegacySlots::default_for(hp.layout()))?;
    /// hp.register_cpu_notifier(&NB)?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?; // CPU_DOWN_PREPARE, CPU_DYING, CPU_DEAD, CPU_POST_DEAD
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn register_cpu_notifier(
        &mut self,
        block: impl Into<BlockRef<CpuAction, CpuId>>,
    ) -> Result<(), Error> {
        self.legacy_chain()?
            .register(block)
            .map(|r| r.keep())
            .map_err(map_register)
    }

    /// Registers a notifier and replays what it missed: for every online CPU, ascending,
    /// `CPU_UP_PREPARE` then `CPU_ONLINE` — the pattern Linux's old hotplug FAQ told every user to
    /// write by hand. If the notifier vetoes `CPU_UP_PREPARE` for a CPU, the CPUs already replayed
    /// get `CPU_DOWN_PREPARE` and `CPU_DEAD` (in reverse), the notifier is not registered, and the
    /// veto's errno is returned.
    ///
    /// # Errors
    ///
    /// As [`register_cpu_notifier`](Self::register_cpu_notifier); [`ErrorKind::Callback`] with
    /// the veto. Nothing changes on error.
    pub fn register_cpu_notifier_replay<B>(&mut self, block: B) -> Result<(), Error>
    where
        B: Into<BlockRef<CpuAction, CpuId>> + Clone,
    {
        let online: Vec<CpuId> = self.online_mask().iter().collect();
        let chain = self.legacy_chain()?;
        let registration = chain.register(block.clone()).map_err(map_register)?;
        // The notifier alone, for the replay.
        let solo: RawChain<CpuAction, CpuId> = RawChain::new();
        solo.register(block).map_err(map_register)?.keep();
        let mut done: Vec<CpuId> = Vec::new();
        for cpu in online {
            let r = solo.call(CpuAction::new(CpuEvent::UpPrepare), &cpu);
            if r.to_errno() != 0 {
                for &undo in done.iter().rev() {
                    let _ = solo.call(CpuAction::new(CpuEvent::DownPrepare), &undo);
                    let _ = solo.call(CpuAction::new(CpuEvent::Dead), &undo);
                }
                drop(registration);
                let errno =
                    notifier::Errno::from_neg(r.to_errno()).unwrap_or(notifier::Errno::EINVAL);
                return Err(Error::with_errno(ErrorKind::Callback, errno));
            }
            let _ = solo.call(CpuAction::new(CpuEvent::Online), &cpu);
            done.push(cpu);
        }
        registration.keep();
        Ok(())
    }

    /// Linux's `unregister_cpu_notifier`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CpuNotifiers`] if the API is not enabled; [`ErrorKind::NotRegistered`].
    pub fn unregister_cpu_notifier<F>(&mut self, block: &NotifierBlock<F>) -> Result<(), Error> {
        self.legacy_chain()?
            .unregister(block)
            .map_err(|_| Error::new(ErrorKind::NotRegistered))
    }

    /// The legacy chain's notifiers, how many.
    pub fn cpu_notifiers(&self) -> usize {
        self.legacy_chain().map_or(0, |c| c.len())
    }

    /// The bridge states, if enabled.
    pub fn legacy_slots(&self) -> Option<LegacySlots> {
        self.core().legacy.as_ref().map(|l| l.slots)
    }
}
