//! Installing and removing states and instances at run time (Linux's `__cpuhp_setup_state`,
//! `__cpuhp_remove_state`, `__cpuhp_state_add_instance`, `__cpuhp_state_remove_instance`).
//!
//! Rules (docs/rules.md, `install` and `remove`): with `invoke`, the startup runs for every present CPU that has reached
//! the state, in ascending CPU order. If it fails on CPU k, the teardown runs on the CPUs before k
//! that reached the state (ascending), the state is uninstalled — its slot freed — or the
//! instance not linked, and the errno is returned. Removal tears down ascending, on the CPUs that
//! reached the state only.
//!
//! Where Linux would `BUG()` — a teardown failing during removal or during that rollback — we
//! undo what we did and report it instead (see `remove_state`).

use alloc::borrow::Cow;
use alloc::boxed::Box;
use core::any::{Any, TypeId};

use crate::engine::core::Core;
use crate::model::callbacks::Callbacks;
use crate::model::table::Instance;
use crate::trace::Warning;
use crate::{CpuId, Errno, Error, ErrorKind, InstanceId, Platform, Rule, Section, StateId};

/// Where a new state goes.
///
/// # Examples
///
/// ```
/// use cpuhp::{Slot, StateId};
///
/// let dynamic = Slot::OnlineDyn;   // CPUHP_AP_ONLINE_DYN: lowest free slot
/// let fixed = Slot::Fixed(StateId(162)); // a state number of its own
/// # let _ = (dynamic, fixed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// A fixed number.
    Fixed(StateId),
    /// The lowest free slot of the PREPARE section's dynamic range (`CPUHP_BP_PREPARE_DYN`).
    PrepareDyn,
    /// The lowest free slot of the ONLINE section's dynamic range (`CPUHP_AP_ONLINE_DYN`).
    OnlineDyn,
}

impl Core {
    /// Linux's `cpuhp_issue_call`: one callback for one CPU, on its hotplug thread for AP states.
    pub(crate) fn issue_call<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        node: Option<InstanceId>,
    ) -> Result<(), Errno> {
        if self.table.is_empty(bringup, state) {
            return Ok(());
        }
        if self.layout.is_ap_state(state) {
            self.invoke_ap_callback(p, cpu, state, bringup, node)
        } else {
            self.invoke_callback(p, cpu, state, bringup, node, false)
        }
    }

    /// The present CPUs that have reached `state`, ascending.
    fn reached(&self, state: StateId) -> impl Iterator<Item = CpuId> + '_ {
        self.present
            .iter()
            .filter(move |c| self.cpus[c.index()].state >= state)
    }

    /// Undoes an install or a removal that failed on CPU `failed`: the other direction's callback
    /// on the CPUs before it that reached the state (Linux's `cpuhp_rollback_install` for an
    /// install; `bringup` is the undo's direction).
    fn rollback_before<P: Platform>(
        &mut self,
        p: &P,
        failed: CpuId,
        state: StateId,
        bringup: bool,
        node: Option<InstanceId>,
    ) {
        let cpus: alloc::vec::Vec<CpuId> = self.reached(state).filter(|&c| c < failed).collect();
        let rule = self.calling.map_or(Rule::Install, |(rule, _)| rule);
        self.calling = Some((rule, true));
        for cpu in cpus {
            if let Err(e) = self.issue_call(p, cpu, state, bringup, node) {
                self.note_rollback_failure(cpu, state, bringup, e);
                // A teardown failing (undoing an install): Linux's BUG_ON(ret && !bringup) in
                // cpuhp_issue_call, reported instead. A startup failing (undoing a removal,
                // which Linux never does: it BUG()s first): the undo failed.
                let warning = if bringup {
                    Warning::RemoveRollbackFailed
                } else {
                    Warning::TeardownFailedOnRemove
                };
                self.warn(p, warning, cpu, false);
            }
        }
    }

    /// Runs `bringup`'s callback on every CPU that reached `state` — an install (`bringup`) or a
    /// removal; on failure undoes the CPUs before the failing one. Returns the errno of the
    /// failure.
    fn invoke_on_all<P: Platform>(
        &mut self,
        p: &P,
        state: StateId,
        bringup: bool,
        node: Option<InstanceId>,
    ) -> Result<(), Errno> {
        let rule = if bringup { Rule::Install } else { Rule::Remove };
        self.calling = Some((rule, false));
        let r = self.invoke_each(p, state, bringup, node);
        self.calling = None;
        r
    }

    fn invoke_each<P: Platform>(
        &mut self,
        p: &P,
        state: StateId,
        bringup: bool,
        node: Option<InstanceId>,
    ) -> Result<(), Errno> {
        let cpus: alloc::vec::Vec<CpuId> = self.reached(state).collect();
        for cpu in cpus {
            if let Err(e) = self.issue_call(p, cpu, state, bringup, node) {
                if !self.table.is_empty(!bringup, state) {
                    self.rollback_before(p, cpu, state, !bringup, node);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// The state a slot designates, checked against the callbacks' section.
    fn resolve_slot(&self, slot: Slot, section: Section) -> Result<StateId, Error> {
        let state = match slot {
            Slot::Fixed(s) => s,
            Slot::PrepareDyn => {
                if section != Section::Prepare {
                    return Err(Error::new(ErrorKind::WrongSection));
                }
                return self
                    .table
                    .reserve(&self.layout, section)
                    .map_err(|_| Error::new(ErrorKind::NoSpace));
            }
            Slot::OnlineDyn => {
                if section != Section::Online {
                    return Err(Error::new(ErrorKind::WrongSection));
                }
                return self
                    .table
                    .reserve(&self.layout, section)
                    .map_err(|_| Error::new(ErrorKind::NoSpace));
            }
        };
        // cpuhp_cb_check: not offline, not online, and not one of the core's own positions.
        if state <= StateId::OFFLINE || state >= self.layout.online {
            return Err(Error::new(ErrorKind::InvalidState));
        }
        if self.core_position(state) {
            return Err(Error::new(ErrorKind::SlotTaken));
        }
        if self.layout.section(state) != Some(section) {
            return Err(Error::new(ErrorKind::WrongSection));
        }
        if self.table.get(state).is_some_and(|s| s.name.is_some()) {
            return Err(Error::new(ErrorKind::SlotTaken));
        }
        Ok(state)
    }

    /// The positions whose callbacks the core owns.
    pub(crate) fn core_position(&self, s: StateId) -> bool {
        let l = &self.layout;
        [
            l.bringup_cpu,
            l.teardown_cpu,
            l.ap_online_idle,
            l.ap_idle_dead,
            l.ap_offline,
            l.ap_online,
            l.ap_active,
        ]
        .contains(&s)
            || l.bp_kick_ap == Some(s)
    }

    /// Linux's `__cpuhp_setup_state_cpuslocked`.
    pub(crate) fn setup_state<P: Platform>(
        &mut self,
        p: &P,
        slot: Slot,
        name: Cow<'static, str>,
        mut callbacks: Callbacks,
        invoke: bool,
    ) -> Result<StateId, Error> {
        if name.is_empty() {
            return Err(Error::new(ErrorKind::InvalidState));
        }
        let state = self.resolve_slot(slot, callbacks.section)?;
        callbacks.name_defaults(&name);
        let has_startup = callbacks.startup.is_some();
        let has_teardown = callbacks.teardown.is_some();
        let multi = callbacks.is_multi();
        let step = self
            .table
            .get_mut(state)
            .ok_or(Error::new(ErrorKind::InvalidState))?;
        step.name = Some(name);
        step.startup = callbacks.startup;
        step.teardown = callbacks.teardown;
        step.multi_instance = multi;
        step.instance_type = callbacks.instance_type;
        step.instances.clear();
        step.cant_stop = false;
        self.table.reindex();
        // Multi-instance states have no instances yet: nothing to invoke (Linux passes
        // invoke = false for them).
        if !invoke || !has_startup || multi {
            return Ok(state);
        }
        if let Err(e) = self.invoke_on_all(p, state, true, None) {
            let _ = has_teardown;
            self.uninstall(state);
            return Err(Error::with_errno(ErrorKind::Callback, e));
        }
        Ok(state)
    }

    fn uninstall(&mut self, state: StateId) {
        if let Some(step) = self.table.get_mut(state) {
            *step = crate::model::table::Step::default();
        }
        self.table.reindex();
    }

    fn installed(&self, state: StateId) -> Result<&crate::model::table::Step, Error> {
        // The legacy API's bridge states belong to it, like the core's positions: removing one
        // would tell the notifiers CPU_DEAD (or CPU_DYING) for CPUs that stay online.
        let bridge = self
            .legacy
            .as_ref()
            .is_some_and(|l| [l.slots.prepare, l.slots.starting, l.slots.online].contains(&state));
        match self.table.get(state) {
            Some(step)
                if step.name.is_some()
                    && state > StateId::OFFLINE
                    && state < self.layout.online
                    && !self.core_position(state)
                    && !bridge =>
            {
                Ok(step)
            }
            _ => Err(Error::new(ErrorKind::InvalidState)),
        }
    }

    /// Linux's `__cpuhp_remove_state_cpuslocked`; a failing teardown (Linux: `BUG()`) undoes the
    /// CPUs already torn down and leaves the state installed.
    pub(crate) fn remove_state<P: Platform>(
        &mut self,
        p: &P,
        state: StateId,
        invoke: bool,
    ) -> Result<(), Error> {
        let step = self.installed(state)?;
        if step.multi_instance && !step.instances.is_empty() {
            return Err(Error::new(ErrorKind::HasInstances));
        }
        if invoke && !step.multi_instance && step.teardown.is_some() {
            self.invoke_on_all(p, state, false, None)
                .map_err(|e| Error::with_errno(ErrorKind::Callback, e))?;
        }
        self.uninstall(state);
        Ok(())
    }

    /// Linux's `__cpuhp_state_add_instance_cpuslocked`.
    pub(crate) fn add_instance<P: Platform>(
        &mut self,
        p: &P,
        state: StateId,
        value: crate::model::table::Value,
        type_id: TypeId,
        invoke: bool,
    ) -> Result<InstanceId, Error> {
        let step = self.installed(state)?;
        if !step.multi_instance {
            return Err(Error::new(ErrorKind::NotMultiInstance));
        }
        if step.instance_type.is_some_and(|(t, _)| t != type_id) {
            return Err(Error::new(ErrorKind::WrongInstanceType));
        }
        let call = invoke && step.startup.is_some();
        self.next_instance += 1;
        let id = InstanceId(self.next_instance);
        // Linked at the head (newest first) before the calls: they address it by id, and no walk
        // can run meanwhile (we hold the machine). Unlinked again if a call fails.
        self.table
            .get_mut(state)
            .ok_or(Error::new(ErrorKind::InvalidState))?
            .instances
            .insert(0, Instance { id, value });
        if call {
            if let Err(e) = self.invoke_on_all(p, state, true, Some(id)) {
                self.unlink(state, id);
                return Err(Error::with_errno(ErrorKind::Callback, e));
            }
        }
        Ok(id)
    }

    fn unlink(&mut self, state: StateId, id: InstanceId) -> Option<Instance> {
        let step = self.table.get_mut(state)?;
        let at = step.instances.iter().position(|i| i.id == id)?;
        Some(step.instances.remove(at))
    }

    /// Linux's `__cpuhp_state_remove_instance`; a failing teardown undoes and keeps the instance.
    pub(crate) fn remove_instance<P: Platform>(
        &mut self,
        p: &P,
        state: StateId,
        id: InstanceId,
        invoke: bool,
    ) -> Result<Box<dyn Any + Send + Sync>, Error> {
        let step = self.installed(state)?;
        if !step.multi_instance {
            return Err(Error::new(ErrorKind::NotMultiInstance));
        }
        if !step.instances.iter().any(|i| i.id == id) {
            return Err(Error::new(ErrorKind::UnknownInstance));
        }
        if invoke && step.teardown.is_some() {
            self.invoke_on_all(p, state, false, Some(id))
                .map_err(|e| Error::with_errno(ErrorKind::Callback, e))?;
        }
        let inst = self
            .unlink(state, id)
            .ok_or(Error::new(ErrorKind::UnknownInstance))?;
        Ok(inst.value.into_box())
    }
}
