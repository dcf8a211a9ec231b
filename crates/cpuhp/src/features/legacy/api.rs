//! The legacy API on [`Hotplug`]: enabling the bridge states, registering CPU notifiers.

use alloc::vec::Vec;

use notifier::{Chain, Notifier, NotifierBlock};

use super::{CpuAction, CpuEvent, CpuNotifierBlock, Legacy, LegacySlots};
use crate::engine::core::Report;
use crate::engine::walk::Site;
use crate::legacy::Bridge;
use crate::model::callbacks::{Builtin, Callback};
use crate::{Context, CpuId, Error, ErrorKind, Hotplug, Platform, Section, StateId};

fn map_register(e: notifier::RegisterError) -> Error {
    match e {
        notifier::RegisterError::AlreadyRegistered => Error::new(ErrorKind::AlreadyRegistered),
        notifier::RegisterError::WouldDeadlock => Error::new(ErrorKind::WouldDeadlock),
        // Only unique chains refuse a taken priority; the legacy chain is not one.
        _ => Error::new(ErrorKind::SlotTaken),
    }
}

impl<P: Platform> Hotplug<P> {
    /// Where Linux 4.9 had the bridge states: the highest free slot below each dynamic range
    /// (`CPUHP_NOTIFY_PREPARE` just before `CPUHP_BP_PREPARE_DYN`, `CPUHP_AP_NOTIFY_ONLINE` just
    /// before `CPUHP_AP_ONLINE_DYN`), and the last free STARTING slot (`CPUHP_AP_NOTIFY_STARTING`
    /// just before `CPUHP_AP_ONLINE`). So states registered dynamically come up after the notifiers
    /// heard `CPU_UP_PREPARE` and `CPU_ONLINE`, and go down before they hear `CPU_DOWN_PREPARE` and
    /// `CPU_DEAD`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NoSpace`] if a section has no free slot there.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// let hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.default_legacy_slots()?;
    /// assert_eq!((s.prepare.get(), s.starting.get(), s.online.get()), (9, 59, 69));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn default_legacy_slots(&self) -> Result<LegacySlots, Error> {
        let core = self.core();
        let l = core.layout;
        let highest_free = |below: StateId, section: Section| {
            (1..below.0)
                .rev()
                .map(StateId)
                .find(|&s| {
                    core.layout.section(s) == Some(section)
                        && !core.core_position(s)
                        && core.table.get(s).is_some_and(|step| step.name.is_none())
                })
                .ok_or(Error::new(ErrorKind::NoSpace))
        };
        Ok(LegacySlots {
            prepare: highest_free(l.prepare_dyn.0, Section::Prepare)?,
            starting: highest_free(l.ap_online, Section::Starting)?,
            online: highest_free(l.online_dyn.0, Section::Online)?,
        })
    }

    /// Installs the three bridge states of the legacy CPU-notifier API (see [`crate::legacy`]),
    /// at `slots` or (`None`) at [`default_legacy_slots`](Self::default_legacy_slots). CPUs
    /// already up count as having heard the events of the bridges below their state.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CpuNotifiers`] if already enabled; [`ErrorKind::WrongSection`] or
    /// [`ErrorKind::SlotTaken`] for bad slots; [`ErrorKind::NoSpace`] without free default slots.
    /// Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// hp.enable_cpu_notifiers(None)?;
    /// let slots = hp.legacy_slots().unwrap();
    /// assert_eq!(hp.state_name(slots.prepare), Some("notify:prepare"));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn enable_cpu_notifiers(&mut self, slots: Option<LegacySlots>) -> Result<(), Error> {
        if self.core().legacy.is_some() {
            return Err(Error::new(ErrorKind::CpuNotifiers));
        }
        let slots = match slots {
            Some(s) => s,
            None => self.default_legacy_slots()?,
        };
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
        for (told, cpu) in legacy.told.iter_mut().zip(&core.cpus) {
            *told = super::bridge::Told::at(cpu.state, slots);
        }
        core.legacy = Some(legacy);
        Ok(())
    }

    /// Whether the legacy CPU-notifier API is enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// assert!(!hp.cpu_notifiers_enabled());
    /// hp.enable_cpu_notifiers(None)?;
    /// assert!(hp.cpu_notifiers_enabled());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_notifiers_enabled(&self) -> bool {
        self.core().legacy.is_some()
    }

    fn legacy(&self) -> Result<&Legacy, Error> {
        self.core()
            .legacy
            .as_ref()
            .ok_or(Error::new(ErrorKind::CpuNotifiers))
    }

    fn legacy_mut(&mut self) -> Result<&mut Legacy, Error> {
        self.core_mut()
            .0
            .legacy
            .as_mut()
            .ok_or(Error::new(ErrorKind::CpuNotifiers))
    }

    /// Linux's `register_cpu_notifier`: adds a notifier to the legacy chain (higher priority
    /// first). A `&'static` block or an `Arc`'d one ([`CpuNotifierBlock`]); wrap a
    /// [`CpuNotifier`](super::CpuNotifier) in [`Typed`](super::Typed) for the typed form. With
    /// `std`, a notifier's panic is caught: see [`CpuNotifierBlock`].
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
    /// hp.enable_cpu_notifiers(None)?;
    /// hp.register_cpu_notifier(&NB)?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?; // CPU_DOWN_PREPARE, CPU_DYING, CPU_DEAD, CPU_POST_DEAD
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn register_cpu_notifier(
        &mut self,
        block: impl Into<CpuNotifierBlock>,
    ) -> Result<(), Error> {
        let block = block.into();
        let legacy = self.legacy_mut()?;
        if legacy.guards.iter().any(|g| g.callback().is_block(&block)) {
            return Err(Error::new(ErrorKind::AlreadyRegistered));
        }
        let guard = legacy.guard(block);
        legacy
            .chain
            .register(guard.clone())
            .map(|r| r.keep())
            .map_err(map_register)?;
        legacy.guards.push(guard);
        Ok(())
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use cpuhp::legacy::CpuAction;
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|action, cpu| {
    ///     LOG.lock().unwrap().push(format!("{action} {cpu}"));
    ///     NotifyResult::OK
    /// }, 0);
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.enable_cpu_notifiers(None)?;
    /// hp.register_cpu_notifier_replay(&NB)?; // as if it had been there since boot
    /// assert_eq!(*LOG.lock().unwrap(), ["CPU_UP_PREPARE 0", "CPU_ONLINE 0", "CPU_UP_PREPARE 1", "CPU_ONLINE 1"]);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn register_cpu_notifier_replay(
        &mut self,
        block: impl Into<CpuNotifierBlock>,
    ) -> Result<(), Error> {
        let block = block.into();
        let online: Vec<CpuId> = self.online_mask().iter().collect();
        let legacy = self.legacy()?;
        if legacy.guards.iter().any(|g| g.callback().is_block(&block)) {
            return Err(Error::new(ErrorKind::AlreadyRegistered));
        }
        let prepare = legacy.slots.prepare;
        // The notifier alone, behind its guard, for the replay.
        let guard = legacy.guard(block);
        let solo = guard.callback();
        let mut done: Vec<CpuId> = Vec::new();
        for cpu in online {
            let r = solo.notify(CpuAction::new(CpuEvent::UpPrepare), &cpu);
            let panic = self.legacy()?.caught.take().pop();
            if r.to_errno() != 0 {
                for &undo in done.iter().rev() {
                    let _ = solo.notify(CpuAction::new(CpuEvent::DownPrepare), &undo);
                    let _ = solo.notify(CpuAction::new(CpuEvent::Dead), &undo);
                }
                self.report_caught(prepare, false);
                let errno =
                    notifier::Errno::from_neg(r.to_errno()).unwrap_or(notifier::Errno::EINVAL);
                // The veto, as if `notify:prepare` had failed for that CPU.
                let mut report = Report::default();
                if let Some(m) = panic {
                    report.set_panicking(m);
                }
                report.fail(cpu, prepare, None, true, errno, crate::FailureKind::Veto);
                return Err(Error::with_errno(ErrorKind::Callback, errno).with_report(report));
            }
            let _ = solo.notify(CpuAction::new(CpuEvent::Online), &cpu);
            self.report_caught(prepare, true);
            done.push(cpu);
        }
        let legacy = self.legacy_mut()?;
        legacy
            .chain
            .register(guard.clone())
            .map(|r| r.keep())
            .map_err(map_register)?;
        legacy.guards.push(guard);
        Ok(())
    }

    /// Traces the panics the notifiers' guards caught on events that cannot fail, outside a
    /// hotplug operation (the replay).
    fn report_caught(&mut self, state: StateId, bringup: bool) {
        let (core, p) = self.core_mut();
        let Some(legacy) = &core.legacy else {
            return;
        };
        for message in legacy.caught.take() {
            let at = Site {
                cpu: CpuId(0),
                target: state,
                step: state,
                symbol: "",
                bringup,
                instance: None,
                context: Context::Control,
                rollback: false,
                rule: if bringup {
                    crate::Rule::LegacyUp
                } else {
                    crate::Rule::LegacyDown
                },
            };
            let _ = core.report.panicked(p, &at, message, false);
        }
    }

    /// Linux's `unregister_cpu_notifier`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CpuNotifiers`] if the API is not enabled; [`ErrorKind::NotRegistered`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::CpuAction;
    /// use cpuhp::{preset, CpuId, ErrorKind, Hotplug, Inline, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.enable_cpu_notifiers(None)?;
    /// hp.register_cpu_notifier(&NB)?;
    /// hp.unregister_cpu_notifier(&NB)?;
    /// assert_eq!(hp.unregister_cpu_notifier(&NB).unwrap_err().kind(), ErrorKind::NotRegistered);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn unregister_cpu_notifier<F>(&mut self, block: &NotifierBlock<F>) -> Result<(), Error> {
        let legacy = self.legacy_mut()?;
        let at = legacy
            .position(block)
            .ok_or(Error::new(ErrorKind::NotRegistered))?;
        let guard = legacy.guards.remove(at);
        legacy
            .chain
            .unregister(&guard)
            .map_err(|_| Error::new(ErrorKind::NotRegistered))
    }

    /// The legacy chain's notifiers, how many.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::CpuAction;
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static A: FnBlock<CpuAction, CpuId> = FnBlock::new(|_, _| NotifyResult::OK, 10);
    /// static B: FnBlock<CpuAction, CpuId> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// assert_eq!(hp.cpu_notifiers(), 0); // not even enabled
    /// hp.enable_cpu_notifiers(None)?;
    /// hp.register_cpu_notifier(&A)?;
    /// hp.register_cpu_notifier(&B)?;
    /// assert_eq!(hp.cpu_notifiers(), 2);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_notifiers(&self) -> usize {
        self.legacy().map_or(0, |l| l.chain.len())
    }

    /// The bridge states, if enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// assert!(hp.legacy_slots().is_none());
    /// hp.enable_cpu_notifiers(None)?;
    /// let slots = hp.legacy_slots().unwrap();
    /// assert_eq!(slots.online.get(), 69); // just below the dynamic ONLINE range
    /// assert_eq!(hp.state_name(slots.online), Some("notify:online"));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn legacy_slots(&self) -> Option<LegacySlots> {
        self.core().legacy.as_ref().map(|l| l.slots)
    }
}
