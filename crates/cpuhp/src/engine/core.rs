//! The state machine's data: the table, the per-CPU states, the masks, and what the current
//! operation has seen go wrong.
//!
//! [`Core`] is everything the walks in `walk` and `install` touch. It is handed, by exclusive
//! reference, to whichever CPU runs the next part of a walk (the [`Platform`] contract makes the
//! caller wait), so it needs no locks of its own.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::features::fault::Faults;
use crate::features::smt::Smt;
use crate::features::suspend::Suspend;
use crate::features::sysfs::Devices;
use crate::model::percpu::CpuHp;
use crate::model::table::Table;
use crate::trace::{Divergence, Warning};
use crate::{
    Context, CpuId, CpuMask, Errno, Failure, FailureKind, InstanceId, Layout, Platform, Rule,
    StateId, TraceEvent,
};

/// What went wrong during the current operation (reset at its start).
#[derive(Clone, Debug, Default)]
pub(crate) struct Report {
    /// The first callback failure.
    pub(crate) failed: Option<Failure>,
    /// The first failure while undoing.
    pub(crate) rollback_failed: Option<Failure>,
    /// The most recently recorded failure (first or not): a rollback failure is noted right
    /// after the failure it reports, and takes its kind.
    pub(crate) recent: Option<Failure>,
    /// Panic messages, once a callback panicked (boxed: an operation without a panic pays one
    /// `None` for them).
    panics: Option<alloc::boxed::Box<PanicNotes>>,
}

/// The panic messages of a [`Report`].
#[derive(Clone, Debug, Default)]
struct PanicNotes {
    /// The message, if `failed` was a panic.
    failed: Option<Arc<str>>,
    /// The message, if `rollback_failed` was a panic.
    rollback: Option<Arc<str>>,
    /// Set by a fallible callback that panicked, until its failure is recorded (`fail`).
    panicking: Option<Arc<str>>,
    /// The message of the most recently recorded failure, if it was a panic: a rollback failure
    /// is noted right after the failure it reports.
    recent: Option<Arc<str>>,
}

impl Report {
    fn notes(&mut self) -> &mut PanicNotes {
        self.panics.get_or_insert_with(Default::default)
    }

    /// A fallible callback panicked with `message`: its failure is about to be recorded.
    pub(crate) fn set_panicking(&mut self, message: Arc<str>) {
        self.notes().panicking = Some(message);
    }

    /// The message of a fallible callback that panicked and whose failure is not recorded.
    pub(crate) fn take_panicking(&mut self) -> Option<Arc<str>> {
        self.panics.as_mut()?.panicking.take()
    }

    /// Whether a fallible callback panicked and its failure is not recorded yet.
    pub(crate) fn is_panicking(&self) -> bool {
        self.panics.as_ref().is_some_and(|n| n.panicking.is_some())
    }

    /// The message of the most recently recorded failure, if it was a panic.
    pub(crate) fn take_recent_panic(&mut self) -> Option<Arc<str>> {
        self.panics.as_mut()?.recent.take()
    }

    /// The message of `failed`, if it was a panic.
    pub(crate) fn failed_panic(&self) -> Option<&Arc<str>> {
        self.panics.as_ref()?.failed.as_ref()
    }

    /// The message of `rollback_failed`, if it was a panic.
    pub(crate) fn rollback_panic(&self) -> Option<&Arc<str>> {
        self.panics.as_ref()?.rollback.as_ref()
    }

    /// Records a callback failure unless an earlier one is recorded (a field of its own, so that
    /// callers holding a borrow of the table can record too).
    pub(crate) fn fail(
        &mut self,
        cpu: CpuId,
        state: StateId,
        instance: Option<InstanceId>,
        bringup: bool,
        errno: Errno,
        kind: FailureKind,
    ) {
        let panic = self.take_panicking();
        let failure = Failure {
            cpu,
            state,
            instance,
            bringup,
            errno,
            kind: if panic.is_some() {
                FailureKind::Panic
            } else {
                kind
            },
        };
        self.recent = Some(failure);
        if self.failed.is_none() {
            self.failed = Some(failure);
            if let Some(m) = &panic {
                self.notes().failed = Some(m.clone());
            }
        }
        match (&mut self.panics, panic) {
            (Some(notes), panic) => notes.recent = panic,
            (None, Some(m)) => self.notes().recent = Some(m),
            (None, None) => {}
        }
    }

    /// Records a failure while undoing unless an earlier one is recorded; `panic`: its message.
    pub(crate) fn rollback_fail(&mut self, failure: Failure, panic: Option<Arc<str>>) {
        if self.rollback_failed.is_none() {
            self.rollback_failed = Some(failure);
            if panic.is_some() {
                self.notes().rollback = panic;
            }
        }
    }
}

/// The engine's data, and each feature's state in a field of its own type, defined in its module
/// under `features/`. The walks reach a feature through its type's methods (`Faults::take`,
/// `Smt::booted`, the legacy bridge's builtins); the boot and the feature's own module set its
/// fields.
#[derive(Clone)]
pub(crate) struct Core {
    pub(crate) layout: Layout,
    pub(crate) table: Table,
    pub(crate) cpus: Vec<CpuHp>,
    pub(crate) possible: CpuMask,
    pub(crate) present: CpuMask,
    pub(crate) online: CpuMask,
    pub(crate) active: CpuMask,
    /// Linux's `cpu_dying_mask`: CPUs whose current transition goes down.
    pub(crate) dying: CpuMask,
    /// Where the walk is executing right now.
    pub(crate) ctx: Context,
    /// `cpuhp_tasks_frozen`: the current operation is part of suspend.
    pub(crate) tasks_frozen: bool,
    /// `cpu_hotplug_disabled`: a counter; operations fail with `EBUSY` while it is non-zero.
    pub(crate) disabled: u32,
    /// `WARN_ON_ONCE` sites that have fired.
    pub(crate) warned_once: u32,
    pub(crate) next_instance: u64,
    pub(crate) report: Report,
    /// The plain callback running inside a run of them on a hotplug thread, whose panic is caught
    /// around the run (see `run_plain_batch`); `None` between callbacks.
    pub(crate) plain_running: Option<StateId>,
    /// The rule of the calls an install or a removal makes, and whether they undo it; `None`
    /// during a state transition, whose calls follow the CPU's `rollback` flag.
    pub(crate) calling: Option<(Rule, bool)>,
    /// Injected callback failures (tests, exploration); empty in normal operation, and then the
    /// walks do not look at it.
    pub(crate) faults: Faults,
    /// The legacy CPU-notifier chain and its bridge states, once enabled.
    pub(crate) legacy: Option<crate::legacy::Legacy>,
    /// Suspend: freeze and thaw of the secondary CPUs.
    pub(crate) suspend: Suspend,
    /// SMT control.
    pub(crate) smt: Smt,
    /// The device model behind sysfs.
    pub(crate) devices: Devices,
}

impl Core {
    pub(crate) fn new(layout: Layout, nr_cpus: u32) -> Core {
        Core {
            layout,
            table: Table::new(&layout),
            cpus: (0..nr_cpus)
                .map(|_| CpuHp::new(StateId::OFFLINE, StateId::OFFLINE))
                .collect(),
            possible: CpuMask::new(nr_cpus),
            present: CpuMask::new(nr_cpus),
            online: CpuMask::new(nr_cpus),
            active: CpuMask::new(nr_cpus),
            dying: CpuMask::new(nr_cpus),
            ctx: Context::Control,
            tasks_frozen: false,
            disabled: 0,
            warned_once: 0,
            next_instance: 0,
            report: Report::default(),
            plain_running: None,
            calling: None,
            faults: Faults::default(),
            legacy: None,
            suspend: Suspend::new(nr_cpus),
            smt: Smt::new(nr_cpus),
            devices: Devices::new(nr_cpus),
        }
    }

    pub(crate) fn nr_cpus(&self) -> u32 {
        self.cpus.len() as u32
    }

    pub(crate) fn st(&mut self, cpu: CpuId) -> &mut CpuHp {
        &mut self.cpus[cpu.index()]
    }

    /// Whether a warning is printed now: always, or — for a `WARN_ON_ONCE` site (`once`) — the
    /// first time only.
    pub(crate) fn should_warn(warned_once: &mut u32, warning: Warning, once: bool) -> bool {
        let bit = 1 << (warning as u32);
        let first = *warned_once & bit == 0;
        if once {
            *warned_once |= bit;
        }
        !once || first
    }

    /// Reports a kernel warning. `once`: a `WARN_ON_ONCE` site, reported the first time only.
    pub(crate) fn warn<P: Platform>(&mut self, p: &P, warning: Warning, cpu: CpuId, once: bool) {
        if !Core::should_warn(&mut self.warned_once, warning, once) {
            return;
        }
        p.trace(&TraceEvent::Warning {
            warning,
            cpu,
            context: self.ctx,
        });
    }

    pub(crate) fn diverge<P: Platform>(&self, p: &P, divergence: Divergence, cpu: CpuId) {
        p.trace(&TraceEvent::Divergence { divergence, cpu });
    }

    pub(crate) fn note_rollback_failure(
        &mut self,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        errno: Errno,
    ) {
        // Noted right after the failure it reports: that failure's kind, instance and panic
        // message.
        let (kind, instance) = match self.report.recent {
            Some(r) if r.cpu == cpu => (r.kind, r.instance.filter(|_| r.state == state)),
            _ => (FailureKind::Callback, None),
        };
        let f = Failure {
            cpu,
            state,
            instance,
            bringup,
            errno,
            kind,
        };
        let panic = self.report.take_recent_panic();
        self.report.rollback_fail(f, panic);
    }

    /// Whether a callback call for `cpu` in direction `bringup` undoes part of a failed
    /// operation, and the rule it runs under.
    #[inline(always)]
    pub(crate) fn call_rule(&self, cpu: CpuId, bringup: bool) -> (bool, Rule) {
        match self.calling {
            Some((rule, undo)) => (undo, rule),
            None => {
                let rollback = self.cpus[cpu.index()].rollback;
                (rollback, Rule::of_call(rollback, bringup))
            }
        }
    }

    /// Linux's `set_cpu_dying`.
    pub(crate) fn set_dying(&mut self, cpu: CpuId, dying: bool) {
        self.dying.set(cpu, dying);
    }
}
