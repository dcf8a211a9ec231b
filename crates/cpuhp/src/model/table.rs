//! The state table: one step per state number, from offline to online.
//!
//! A step with a name is installed; one without is a free slot. Dynamic slots are handed out
//! lowest first from the section's range (`CPUHP_BP_PREPARE_DYN`, `CPUHP_AP_ONLINE_DYN`), and
//! `ENOSPC` when the range is full — Linux's `cpuhp_reserve_state`.
//!
//! **Invariant:** `steps.len() == layout.online + 1`; a multi-instance step's `instances` are in
//! call order, newest first (Linux adds them at the head of an `hlist`).

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::{Any, TypeId};

use crate::model::callbacks::Callback;
use crate::{Errno, InstanceId, Layout, Section, StateId};

/// One instance of a multi-instance state.
#[derive(Clone)]
pub(crate) struct Instance {
    pub(crate) id: InstanceId,
    pub(crate) value: Value,
}

/// An instance's value. Shared (`Arc`) so that a table can be cloned; a fork
/// (`Hotplug::fork`) then puts a copy of its own in its clone, so that every machine owns its
/// values and `remove_instance` can hand them back.
#[derive(Clone)]
pub(crate) struct Value {
    value: Arc<dyn Any + Send + Sync>,
    /// The value back in a box (the one function that knows its type).
    unshare: fn(Arc<dyn Any + Send + Sync>) -> Box<dyn Any + Send + Sync>,
}

impl Value {
    pub(crate) fn new<T: Any + Send + Sync>(value: T) -> Value {
        Value {
            value: Arc::new(value),
            unshare: unshare::<T>,
        }
    }

    /// The value in the box `remove_instance` returns.
    pub(crate) fn into_box(self) -> Box<dyn Any + Send + Sync> {
        (self.unshare)(self.value)
    }

    /// Replaces the value by `copy`, which must have the same type; gives `copy` back if not.
    pub(crate) fn replace(
        &mut self,
        copy: Box<dyn Any + Send + Sync>,
    ) -> Result<(), Box<dyn Any + Send + Sync>> {
        if (*copy).type_id() != (*self.value).type_id() {
            return Err(copy);
        }
        self.value = Arc::from(copy);
        Ok(())
    }
}

impl core::ops::Deref for Value {
    type Target = dyn Any + Send + Sync;

    fn deref(&self) -> &Self::Target {
        &*self.value
    }
}

fn unshare<T: Any + Send + Sync>(value: Arc<dyn Any + Send + Sync>) -> Box<dyn Any + Send + Sync> {
    match value.downcast::<T>().map(Arc::try_unwrap) {
        Ok(Ok(value)) => Box::new(value),
        // Not reached: a machine owns its values (see `Value`). Still the value, behind its `Arc`.
        Ok(Err(shared)) => Box::new(shared),
        Err(other) => Box::new(other),
    }
}

/// One state.
#[derive(Clone, Default)]
pub(crate) struct Step {
    /// `None`: a free slot.
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) startup: Option<Callback>,
    pub(crate) teardown: Option<Callback>,
    pub(crate) multi_instance: bool,
    /// The instance type `add_instance` must be given (`None`: any, for preset stand-ins).
    pub(crate) instance_type: Option<(TypeId, &'static str)>,
    pub(crate) instances: Vec<Instance>,
    /// Bringup/teardown cannot stop here (not a valid `hotplug/target`).
    pub(crate) cant_stop: bool,
}

impl Step {
    pub(crate) fn callback(&self, bringup: bool) -> Option<&Callback> {
        if bringup {
            self.startup.as_ref()
        } else {
            self.teardown.as_ref()
        }
    }

    pub(crate) fn has_callbacks(&self) -> bool {
        self.startup.is_some() || self.teardown.is_some()
    }
}

/// "No such state" in the skip indices.
const NONE: u32 = u32::MAX;

#[derive(Clone)]
pub(crate) struct Table {
    steps: Vec<Step>,
    /// `next_startup[i]`: the lowest state above `i` with a startup (`NONE` if none). Lets a walk
    /// up skip empty states in one step instead of testing each number, as Linux does.
    next_startup: Vec<u32>,
    /// `prev_teardown[i]`: the highest state at or below `i` with a teardown (`NONE` if none).
    prev_teardown: Vec<u32>,
}

impl Table {
    pub(crate) fn new(layout: &Layout) -> Table {
        let mut steps = Vec::new();
        steps.resize_with(layout.online.index() + 1, Step::default);
        let mut t = Table {
            steps,
            next_startup: Vec::new(),
            prev_teardown: Vec::new(),
        };
        t.reindex();
        t
    }

    /// Rebuilds the skip indices; call after any change to a step's callbacks.
    pub(crate) fn reindex(&mut self) {
        let n = self.steps.len();
        self.next_startup = alloc::vec![NONE; n];
        let mut next = NONE;
        for i in (0..n).rev() {
            self.next_startup[i] = next;
            if self.steps[i].startup.is_some() {
                next = i as u32;
            }
        }
        self.prev_teardown = alloc::vec![NONE; n];
        let mut prev = NONE;
        for i in 0..n {
            if self.steps[i].teardown.is_some() {
                prev = i as u32;
            }
            self.prev_teardown[i] = prev;
        }
    }

    /// The lowest state above `s` with a startup.
    #[inline]
    pub(crate) fn next_startup(&self, s: StateId) -> Option<StateId> {
        match self.next_startup.get(s.index()) {
            Some(&n) if n != NONE => Some(StateId(n)),
            _ => None,
        }
    }

    /// The highest state at or below `s` with a teardown.
    #[inline]
    pub(crate) fn prev_teardown(&self, s: StateId) -> Option<StateId> {
        let i = s.index().min(self.prev_teardown.len().saturating_sub(1));
        match self.prev_teardown.get(i) {
            Some(&n) if n != NONE => Some(StateId(n)),
            _ => None,
        }
    }

    /// The step for `s`; states beyond `online` have none.
    pub(crate) fn get(&self, s: StateId) -> Option<&Step> {
        self.steps.get(s.index())
    }

    pub(crate) fn get_mut(&mut self, s: StateId) -> Option<&mut Step> {
        self.steps.get_mut(s.index())
    }

    /// Linux's `cpuhp_step_empty`: no callback for this direction.
    #[inline]
    pub(crate) fn is_empty(&self, bringup: bool, s: StateId) -> bool {
        self.steps
            .get(s.index())
            .is_none_or(|step| step.callback(bringup).is_none())
    }

    /// The lowest free slot of a section's dynamic range.
    pub(crate) fn reserve(&self, layout: &Layout, section: Section) -> Result<StateId, Errno> {
        let (lo, hi) = layout.dyn_range(section).ok_or(Errno::EINVAL)?;
        (lo.0..=hi.0)
            .map(StateId)
            .find(|s| self.steps[s.index()].name.is_none())
            .ok_or(Errno::ENOSPC)
    }

    /// Every instance of every state.
    pub(crate) fn instances_mut(&mut self) -> impl Iterator<Item = &mut Instance> {
        self.steps.iter_mut().flat_map(|s| s.instances.iter_mut())
    }

    /// Installed states, ascending: `(number, name)`.
    pub(crate) fn named(&self) -> impl Iterator<Item = (StateId, &str)> {
        self.steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.name.as_deref().map(|n| (StateId(i as u32), n)))
    }
}
