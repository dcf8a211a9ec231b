//! The walks: Linux 6.1's `kernel/cpu.c` state machine, ported function by function.
//!
//! A CPU's progress is one number, `st.state`. Going up, each step runs the startup of the next
//! state that has one; going down, the teardown of the current one. A failure resets the
//! transition (`reset_state`): the target becomes where the CPU started, the direction flips and
//! `rollback` is set; the walk then runs back over exactly what succeeded. A failure *during* a
//! rollback does not flip again — the walk stops, a warning is reported (docs/rules.md: `startup-failure`, `teardown-failure`, `rollback-failure`).
//!
//! Who runs what mirrors Linux:
//! * the control side runs the PREPARE section (`up_callbacks` / `down_callbacks`), ending in
//!   `bringup_cpu` (boot the CPU: it runs its STARTING callbacks itself, interrupts off) or
//!   starting with `takedown_cpu` (stop the CPU: it runs its DYING callbacks itself);
//! * the CPU's hotplug thread runs the ONLINE section (`kick_ap` hands it one whole range);
//! * after a failed rollback on the hotplug thread, the control side walks on by itself — so an
//!   ONLINE callback can then run on the control side, as in Linux.
//!
//! Comments quote or paraphrase the kernel's where they explain an invariant.

use alloc::sync::Arc;
use core::cmp::{max, min};

use crate::engine::core::{Core, Report};
use crate::model::callbacks::{Body, Builtin};
use crate::trace::{Divergence, Warning};
use crate::{
    Context, CpuId, Errno, Failure, FailureKind, InstanceId, Platform, Rule, StateId, TraceEvent,
};

/// Calls one body for one CPU (and instance).
#[inline(always)]
fn call_body(
    body: &Body,
    cpu: CpuId,
    instance: Option<&(dyn core::any::Any + Send + Sync)>,
) -> Result<(), Errno> {
    match (body, instance) {
        (Body::Fallible(f), _) => f(cpu),
        (Body::Infallible(f), _) => {
            f(cpu);
            Ok(())
        }
        (Body::MultiFallible(f), Some(i)) => f(cpu, i),
        (Body::MultiInfallible(f), Some(i)) => {
            f(cpu, i);
            Ok(())
        }
        // A multi-instance body without an instance, or a preset stand-in: nothing to run.
        (Body::MultiFallible(_) | Body::MultiInfallible(_), None) | (Body::Builtin(_), _) => Ok(()),
    }
}

/// Runs a user callback; with `std`, a panic is caught here, at the callback boundary, and
/// returned as its message. Costs nothing while nothing panics.
#[cfg(feature = "std")]
#[inline(always)]
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, Arc<str>> {
    // AssertUnwindSafe: a callback reaches nothing of the machine — it gets a CPU number and its
    // instance — so the machine is consistent after its panic; what it left half-done of its own
    // data is its own business, as with an errno it returns.
    std::panic::catch_unwind(core::panic::AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
}

/// Without `std` there is no unwinding to catch: a panic goes on up, through the operation.
#[cfg(not(feature = "std"))]
#[inline(always)]
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, Arc<str>> {
    Ok(f())
}

/// A panic payload as text: the `&str` or `String` that `panic!` makes, or a placeholder.
#[cfg(feature = "std")]
#[cold]
pub(crate) fn panic_message(payload: &(dyn core::any::Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<alloc::string::String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("Box<dyn Any>")
    }
}

/// Calls one user body, catching its panic ([`Report::panicked`]). On failure, the kind:
/// the callback's errno, or its panic.
#[inline(always)]
fn call<P: Platform>(
    p: &P,
    report: &mut Report,
    at: &Site<'_>,
    body: &Body,
    instance: Option<&(dyn core::any::Any + Send + Sync)>,
) -> (Result<(), Errno>, FailureKind) {
    match guarded(|| call_body(body, at.cpu, instance)) {
        Ok(r) => (r, FailureKind::Callback),
        Err(message) => {
            let fallible = matches!(body, Body::Fallible(_) | Body::MultiFallible(_));
            (
                report.panicked(p, at, message, fallible),
                FailureKind::Panic,
            )
        }
    }
}

/// An injected failure fired for the call at `at` instead of its callback: traced and recorded
/// as `kind` (`Injected`, or `Platform` for a platform step: that is how a CPU that does not
/// boot, is not kicked or does not stop is simulated).
#[cold]
fn injected<P: Platform>(
    p: &P,
    report: &mut Report,
    at: &Site<'_>,
    errno: Errno,
    kind: FailureKind,
) {
    p.trace(&TraceEvent::Injected {
        cpu: at.cpu,
        step: at.step,
        bringup: at.bringup,
        instance: at.instance,
        errno,
        rollback: at.rollback,
        rule: failure_rule(at.rollback, at.rule, at.bringup),
    });
    report.fail(at.cpu, at.step, at.instance, at.bringup, errno, kind);
}

/// The rule that decides what follows a failed call made under `rule` (`rollback`: the call
/// was undoing). An install's or a removal's own failure is undone by its rule; anything else
/// by the transition's failure rules.
#[inline]
fn failure_rule(rollback: bool, rule: Rule, bringup: bool) -> Rule {
    match rule {
        Rule::Install | Rule::Remove if !rollback => rule,
        _ => Rule::of_failure(rollback, bringup),
    }
}

impl Report {
    /// A user callback panicked (caught at its boundary). A callback that can fail has failed:
    /// `EIO`, its message kept for the failure record (`fail`), and the walk rolls back as for
    /// any errno. One that cannot fail (by type) counts as having returned: the panic is reported
    /// as a failure that cannot be undone — a rollback failure — and a warning, and the walk goes
    /// on.
    #[cold]
    #[inline(never)]
    pub(crate) fn panicked<P: Platform>(
        &mut self,
        p: &P,
        at: &Site<'_>,
        message: Arc<str>,
        fallible: bool,
    ) -> Result<(), Errno> {
        p.trace(&TraceEvent::Panicked {
            cpu: at.cpu,
            step: at.step,
            bringup: at.bringup,
            instance: at.instance,
            message: &message,
            context: at.context,
        });
        if fallible {
            self.set_panicking(message);
            return Err(Errno::EIO);
        }
        let failure = Failure {
            cpu: at.cpu,
            state: at.step,
            instance: at.instance,
            bringup: at.bringup,
            errno: Errno::EIO,
            kind: FailureKind::Panic,
        };
        self.rollback_fail(failure, Some(message));
        p.trace(&TraceEvent::Warning {
            warning: Warning::CallbackPanicked,
            cpu: at.cpu,
            context: at.context,
        });
        Ok(())
    }
}

/// Where a traced callback call runs: what Linux's `cpuhp_enter` / `cpuhp_multi_enter` and
/// `cpuhp_exit` tracepoints report about it.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    pub(crate) cpu: CpuId,
    pub(crate) target: StateId,
    pub(crate) step: StateId,
    pub(crate) symbol: &'a str,
    pub(crate) bringup: bool,
    pub(crate) instance: Option<InstanceId>,
    pub(crate) context: Context,
    /// The call undoes part of a failed operation.
    pub(crate) rollback: bool,
    /// The rule it runs under.
    pub(crate) rule: Rule,
}

impl Site<'_> {
    /// Its `Enter` event.
    #[inline(always)]
    fn enter(&self) -> TraceEvent<'_> {
        TraceEvent::Enter {
            cpu: self.cpu,
            target: self.target,
            step: self.step,
            symbol: self.symbol,
            bringup: self.bringup,
            instance: self.instance,
            context: self.context,
            rollback: self.rollback,
            rule: self.rule,
        }
    }

    /// Its `Exit` event: the rule that decides what follows when it failed, and the kind.
    #[inline(always)]
    fn exit(&self, after: StateId, result: Result<(), Errno>, kind: FailureKind) -> TraceEvent<'_> {
        let (rule, failure) = match result {
            Ok(()) => (self.rule, None),
            Err(_) => (
                failure_rule(self.rollback, self.rule, self.bringup),
                Some(kind),
            ),
        };
        TraceEvent::Exit {
            cpu: self.cpu,
            state: after,
            step: self.step,
            bringup: self.bringup,
            instance: self.instance,
            result,
            context: self.context,
            rollback: self.rollback,
            rule,
            failure,
        }
    }
}

/// One traced call: `Enter`, the call (which returns its result, the CPU's state after it and
/// — read only if it failed — the kind of failure), `Exit`. Returns the result and that kind.
#[inline(always)]
fn traced<P: Platform>(
    p: &P,
    at: Site<'_>,
    f: impl FnOnce() -> (Result<(), Errno>, StateId, FailureKind),
) -> (Result<(), Errno>, FailureKind) {
    p.trace(&at.enter());
    let (r, after, kind) = f();
    p.trace(&at.exit(after, r, kind));
    (r, kind)
}

impl Builtin {
    fn symbol(self, bringup: bool) -> &'static str {
        use crate::legacy::Bridge;
        match (self, bringup) {
            (Builtin::Noop | Builtin::OwnCpu(_), _) => "",
            (Builtin::BringupCpu, _) => "bringup_cpu",
            (Builtin::FinishCpu, _) => "finish_cpu",
            (Builtin::TakedownCpu, _) => "takedown_cpu",
            (Builtin::Activate, _) => "sched_cpu_activate",
            (Builtin::Deactivate, _) => "sched_cpu_deactivate",
            (Builtin::KickAp, _) => "cpuhp_kick_ap_alive",
            (Builtin::Bridge(Bridge::Prepare), true) => "notify_prepare",
            (Builtin::Bridge(Bridge::Prepare), false) => "notify_dead",
            (Builtin::Bridge(Bridge::Starting), true) => "notify_starting",
            (Builtin::Bridge(Bridge::Starting), false) => "notify_dying",
            (Builtin::Bridge(Bridge::Online), true) => "notify_online",
            (Builtin::Bridge(Bridge::Online), false) => "notify_down_prepare",
        }
    }
}

impl Core {
    /// Where a call of `step`'s callback for `cpu` runs: the walk's context, the CPU's target,
    /// and whether it undoes a failure under which rule ([`Core::call_rule`]).
    #[inline(always)]
    pub(crate) fn site<'a>(
        &self,
        cpu: CpuId,
        step: StateId,
        symbol: &'a str,
        bringup: bool,
    ) -> Site<'a> {
        let (rollback, rule) = self.call_rule(cpu, bringup);
        Site {
            cpu,
            target: self.cpus[cpu.index()].target,
            step,
            symbol,
            bringup,
            instance: None,
            context: self.ctx,
            rollback,
            rule,
        }
    }

    /// Whether `hotplug/fail` may fire for this callback: never for one that cannot fail by type
    /// (STARTING callbacks, PREPARE teardowns); the injection then stays armed.
    fn fail_applies(&self, state: StateId, bringup: bool) -> bool {
        use crate::Section;
        match self.layout.section(state) {
            Some(Section::Starting) => false,
            Some(Section::Prepare) => bringup,
            _ => true,
        }
    }

    /// An injected failure fires for `state`'s callback on `cpu` (`node`: that instance).
    #[cold]
    fn injected<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        node: Option<InstanceId>,
        errno: Errno,
    ) {
        let at = Site {
            instance: node,
            ..self.site(cpu, state, "", bringup)
        };
        let platform = self
            .table
            .get(state)
            .and_then(|s| s.callback(bringup))
            .is_some_and(|cb| {
                matches!(
                    cb.body,
                    Body::Builtin(Builtin::BringupCpu | Builtin::TakedownCpu | Builtin::KickAp)
                )
            });
        let kind = if platform {
            FailureKind::Platform
        } else {
            FailureKind::Injected
        };
        injected(p, &mut self.report, &at, errno, kind);
    }

    /// Linux's `cpuhp_invoke_callback`. `node`: call only that instance (instance add/remove).
    /// `use_last`: a state transition on the hotplug thread, which records in `st.last` the
    /// instance that failed so the rollback can stop there; without it (the control side), a
    /// failing instance's predecessors are undone here.
    #[inline]
    pub(crate) fn invoke_callback<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        node: Option<InstanceId>,
        use_last: bool,
    ) -> Result<(), Errno> {
        if node.is_none() {
            if let Some(r) = self.run_plain::<P, true>(p, cpu, state, bringup) {
                return r;
            }
        }
        self.invoke_callback_slow(p, cpu, state, bringup, node, use_last)
    }

    /// The common case of `invoke_callback`, small enough to inline into the walks: a
    /// single-instance state with a plain fallible callback and no injected failure pending.
    /// `None`: not the common case; nothing was done.
    ///
    /// `GUARDED`: the callback's panic is caught here. Without it, the caller catches it around a
    /// whole run of plain callbacks (`run_plain_batch`), and `plain_running` says whose it is.
    #[inline(always)]
    fn run_plain<P: Platform, const GUARDED: bool>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
    ) -> Option<Result<(), Errno>> {
        let c = cpu.index();
        let st = &self.cpus[c];
        if st.fail == Some(state) || !self.faults.is_empty() {
            return None;
        }
        let step = self.table.get(state)?;
        if step.multi_instance {
            return None;
        }
        let cb = step.callback(bringup)?;
        let Body::Fallible(f) = &cb.body else {
            return None;
        };
        let at = self.site(cpu, state, &cb.symbol, bringup);
        let report = &mut self.report;
        let running = &mut self.plain_running;
        let (r, kind) = traced(p, at, || {
            let (r, kind) = if GUARDED {
                match guarded(|| f(cpu)) {
                    Ok(r) => (r, FailureKind::Callback),
                    Err(message) => (report.panicked(p, &at, message, true), FailureKind::Panic),
                }
            } else {
                // Read only if `f` unwinds, by the catch in `run_plain_batch` (the lint does not
                // see that path).
                #[allow(unused_assignments)]
                {
                    *running = Some(state);
                }
                let r = f(cpu);
                *running = None;
                (r, FailureKind::Callback)
            };
            (r, self.cpus[c].state, kind)
        });
        if let Err(e) = r {
            self.report.fail(cpu, state, None, bringup, e, kind);
        }
        Some(r)
    }

    /// The hotplug thread's run of plain callbacks toward `target`, back to back: Linux runs one
    /// callback per wake-up of the thread function; running the plain ones in one go is the same
    /// walk without the round trips. Returns the next state that is not plain (`None`: the walk
    /// ended, or failed).
    ///
    /// Their panics are caught once, around the run, rather than around each callback (a catch
    /// there costs the common path ~30 instructions per callback): a panic is attributed to the
    /// callback `plain_running` names and handled exactly as `run_plain::<true>` would have; a
    /// panic from anything else goes on up.
    #[inline(always)]
    fn run_plain_batch<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        bringup: bool,
        target: StateId,
    ) -> Option<StateId> {
        #[cfg(feature = "std")]
        {
            let r = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
                self.plain_run(p, cpu, bringup, target)
            }));
            match r {
                Ok(next) => next,
                Err(payload) => {
                    // AssertUnwindSafe: the panic left the machine as a failing callback
                    // leaves it before its failure is handled — `st.state` at the callback's
                    // state, its `Enter` traced — and it is handled now.
                    let Some(state) = self.plain_running.take() else {
                        std::panic::resume_unwind(payload)
                    };
                    self.plain_panicked(p, cpu, state, bringup, &*payload);
                    self.thread_failed(p, cpu, state, bringup, Errno::EIO);
                    None
                }
            }
        }
        #[cfg(not(feature = "std"))]
        self.plain_run(p, cpu, bringup, target)
    }

    #[inline(always)]
    fn plain_run<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        bringup: bool,
        target: StateId,
    ) -> Option<StateId> {
        loop {
            let Some(s) = self.next_state(cpu, bringup, target) else {
                self.cpus[cpu.index()].should_run = false;
                return None;
            };
            if self.layout.is_atomic(s) {
                return Some(s);
            }
            match self.run_plain::<P, false>(p, cpu, s, bringup) {
                Some(Ok(())) => continue,
                Some(Err(e)) => {
                    self.thread_failed(p, cpu, s, bringup, e);
                    return None;
                }
                None => return Some(s),
            }
        }
    }

    /// The plain callback of `state` panicked inside a run of them (`run_plain_batch`,
    /// `invoke_range`): what `run_plain::<true>` does with a failing callback — the panic, the
    /// `Exit` saying `EIO`, the failure record.
    #[cfg(feature = "std")]
    #[cold]
    #[inline(never)]
    fn plain_panicked<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        payload: &(dyn core::any::Any + Send),
    ) {
        let c = cpu.index();
        let symbol = self
            .table
            .get(state)
            .and_then(|s| s.callback(bringup))
            .map_or("", |cb| &cb.symbol);
        let at = self.site(cpu, state, symbol, bringup);
        let r = self.report.panicked(p, &at, panic_message(payload), true);
        p.trace(&at.exit(self.cpus[c].state, r, FailureKind::Panic));
        self.report
            .fail(cpu, state, None, bringup, Errno::EIO, FailureKind::Panic);
    }

    /// Everything else: injected failures, builtins, infallible and multi-instance callbacks.
    #[inline(never)]
    fn invoke_callback_slow<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        node: Option<InstanceId>,
        use_last: bool,
    ) -> Result<(), Errno> {
        let c = cpu.index();
        if self.cpus[c].fail == Some(state) && self.fail_applies(state, bringup) {
            self.cpus[c].fail = None;
            self.injected(p, cpu, state, bringup, node, Errno::EAGAIN);
            return Err(Errno::EAGAIN);
        }
        if !self.faults.is_empty() && self.fail_applies(state, bringup) {
            let multi = self.table.get(state).is_some_and(|s| s.multi_instance);
            // A multi-instance state transition is checked per instance below.
            if !multi || node.is_some() {
                if let Some(errno) = self.faults.take(state, cpu, bringup, node) {
                    self.injected(p, cpu, state, bringup, node, errno);
                    return Err(errno);
                }
            }
        }

        let Some((step, cb)) = self
            .table
            .get(state)
            .and_then(|s| Some((s, s.callback(bringup)?)))
        else {
            self.warn(p, Warning::EmptyStep, cpu, true);
            return Ok(());
        };
        if let Body::Builtin(b) = cb.body {
            if !matches!(b, Builtin::Noop | Builtin::OwnCpu(_)) {
                return self.run_builtin(p, cpu, state, bringup, b);
            }
        }
        let ctx = self.ctx;
        // Every call below is this one, for an instance or undoing one.
        let base = self.site(cpu, state, &cb.symbol, bringup);
        // A kernel callback that checks it runs on its CPU, run by the control side: it warns
        // (as it prints) and maybe refuses, inside its Enter/Exit pair.
        let foreign = match cb.body {
            // Only ONLINE-section callbacks belong on the CPU's hotplug thread; PREPARE ones run
            // on the control side by design, STARTING ones on the CPU itself.
            Body::Builtin(Builtin::OwnCpu(own))
                if ctx == Context::Control && state > self.layout.ap_online_idle =>
            {
                let warning = match (own, bringup) {
                    (crate::preset::OwnCpu::Refuses, _) => Warning::ForeignCpuRefused,
                    (_, true) => Warning::ForeignCpuStartup,
                    (_, false) => Warning::ForeignCpuTeardown,
                };
                let once = warning != Warning::ForeignCpuRefused;
                let print = Core::should_warn(&mut self.warned_once, warning, once);
                let refuse = own == crate::preset::OwnCpu::Refuses;
                Some((print.then_some(warning), refuse))
            }
            _ => None,
        };

        if !step.multi_instance {
            let at = base;
            let report = &mut self.report;
            let (r, kind) = traced(p, at, || {
                let (r, kind) = match foreign {
                    Some((warning, refuse)) => {
                        if let Some(warning) = warning {
                            p.trace(&TraceEvent::Warning {
                                warning,
                                cpu,
                                context: ctx,
                            });
                        }
                        let r = if refuse { Err(Errno::EPERM) } else { Ok(()) };
                        (r, FailureKind::Callback)
                    }
                    None => call(p, report, &at, &cb.body, None),
                };
                (r, self.cpus[c].state, kind)
            });
            if let Err(e) = r {
                self.report.fail(cpu, state, None, bringup, e, kind);
            }
            return r;
        }

        // Single invocation for instance add/remove.
        if let Some(node) = node {
            let value = step
                .instances
                .iter()
                .find(|i| i.id == node)
                .map(|i| &*i.value);
            let at = Site {
                instance: Some(node),
                ..base
            };
            let report = &mut self.report;
            let (r, kind) = traced(p, at, || {
                let (r, kind) = match value {
                    Some(v) => call(p, report, &at, &cb.body, Some(v)),
                    None => (Err(Errno::ENOENT), FailureKind::Callback),
                };
                (r, self.cpus[c].state, kind)
            });
            if let Err(e) = r {
                self.report.fail(cpu, state, Some(node), bringup, e, kind);
            }
            return r;
        }

        // State transition: invoke on all instances, newest first.
        let last = if use_last { self.cpus[c].last } else { None };
        let multi = Site {
            rule: match base.rule {
                Rule::Walk => Rule::MultiInstance,
                other => other,
            },
            ..base
        };
        let mut done = 0;
        let mut failed = None;
        // As above: no fault fires for a callback that cannot fail by type.
        let may_fail = self.fail_applies(state, bringup);
        for inst in &step.instances {
            if last == Some(inst.id) {
                break;
            }
            let fault = may_fail
                .then(|| self.faults.take(state, cpu, bringup, Some(inst.id)))
                .flatten();
            if let Some(errno) = fault {
                let at = Site {
                    instance: Some(inst.id),
                    ..multi
                };
                injected(p, &mut self.report, &at, errno, FailureKind::Injected);
                failed = Some((inst.id, errno));
                break;
            }
            let at = Site {
                instance: Some(inst.id),
                ..multi
            };
            let report = &mut self.report;
            let (r, kind) = traced(p, at, || {
                let (r, kind) = call(p, report, &at, &cb.body, Some(&*inst.value));
                (r, self.cpus[c].state, kind)
            });
            if let Err(e) = r {
                self.report
                    .fail(cpu, state, Some(inst.id), bringup, e, kind);
                failed = Some((inst.id, e));
                break;
            }
            done += 1;
        }
        let Some((failed_id, err)) = failed else {
            if use_last {
                self.cpus[c].last = None;
            }
            return Ok(());
        };
        if use_last {
            // The hotplug thread's rollback undoes the instances before this one.
            self.cpus[c].last = Some(failed_id);
            return Err(err);
        }

        // Roll back the instances before the failed one, with the other direction's callback;
        // the failed instance gets nothing.
        let Some(undo) = step.callback(!bringup) else {
            return Err(err);
        };
        let mut undo_failed = None;
        for inst in step.instances.iter().take(done) {
            let at = Site {
                symbol: &undo.symbol,
                bringup: !bringup,
                instance: Some(inst.id),
                rollback: true,
                rule: Rule::MultiInstance,
                ..base
            };
            let report = &mut self.report;
            let (r, kind) = traced(p, at, || {
                let (r, kind) = call(p, report, &at, &undo.body, Some(&*inst.value));
                (r, self.cpus[c].state, kind)
            });
            if let Err(e) = r {
                // The first failure is reported, with its panic message if it panicked.
                let panic = self.report.take_panicking();
                undo_failed.get_or_insert((e, inst.id, kind, panic));
            }
        }
        if let Some((errno, id, kind, panic)) = undo_failed {
            // "Rollback must not fail"
            let failure = Failure {
                cpu,
                state,
                instance: Some(id),
                bringup: !bringup,
                errno,
                kind,
            };
            self.report.rollback_fail(failure, panic);
            self.warn(p, Warning::InstanceRollbackFailed, cpu, true);
        }
        if done > 0 {
            self.diverge(p, Divergence::InstanceFailureKept, cpu);
        }
        Err(err)
    }

    fn run_builtin<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        b: Builtin,
    ) -> Result<(), Errno> {
        let c = cpu.index();
        let (r, kind) = traced(p, self.site(cpu, state, b.symbol(bringup), bringup), || {
            let (r, kind) = match b {
                Builtin::BringupCpu => match self.bringup_cpu(p, cpu) {
                    Ok(()) => (Ok(()), FailureKind::Platform),
                    Err((e, kind)) => (Err(e), kind),
                },
                Builtin::TakedownCpu => (self.takedown_cpu(p, cpu), FailureKind::Platform),
                Builtin::Activate => {
                    self.active.set(cpu, true);
                    (Ok(()), FailureKind::Callback)
                }
                Builtin::Deactivate => {
                    self.active.set(cpu, false);
                    (Ok(()), FailureKind::Callback)
                }
                Builtin::KickAp => (p.kick_cpu(cpu), FailureKind::Platform),
                Builtin::Bridge(bridge) => {
                    let r = self.run_bridge(p, cpu, bridge, bringup);
                    // A veto by panic is recorded as the panic (`Report::panicked`).
                    let kind = if self.report.is_panicking() {
                        FailureKind::Panic
                    } else {
                        FailureKind::Veto
                    };
                    (r, kind)
                }
                Builtin::FinishCpu | Builtin::Noop | Builtin::OwnCpu(_) => {
                    (Ok(()), FailureKind::Callback)
                }
            };
            (r, self.cpus[c].state, kind)
        });
        if let Err(e) = r {
            self.report.fail(cpu, state, None, bringup, e, kind);
        }
        r
    }

    /// Linux's `cpuhp_next_state`: the next state with a callback for this direction, with
    /// `st.state` moved ahead as if it had already run. `None` when the target is reached (and
    /// `st.state` is then the target). Linux tests every number on the way; the table's skip
    /// indices jump over the empty ones with the same result.
    #[inline]
    pub(crate) fn next_state(
        &mut self,
        cpu: CpuId,
        bringup: bool,
        target: StateId,
    ) -> Option<StateId> {
        let st = &mut self.cpus[cpu.index()];
        if bringup {
            if st.state >= target {
                return None;
            }
            match self.table.next_startup(st.state) {
                Some(n) if n <= target => {
                    st.state = n;
                    Some(n)
                }
                _ => {
                    st.state = target;
                    None
                }
            }
        } else {
            if st.state <= target {
                return None;
            }
            match self.table.prev_teardown(st.state) {
                Some(m) if m > target => {
                    st.state = StateId(m.0 - 1);
                    Some(m)
                }
                _ => {
                    st.state = target;
                    None
                }
            }
        }
    }

    /// Linux's `__cpuhp_invoke_callback_range`: runs states toward `target` until one fails
    /// (`nofail`: keep going; only the STARTING/DYING walks use it, and they cannot fail by type).
    ///
    /// As on the hotplug thread (`run_plain_batch`), the plain callbacks' panics are caught once,
    /// around the walk; the others' where they are called.
    pub(crate) fn invoke_range<P: Platform>(
        &mut self,
        p: &P,
        bringup: bool,
        cpu: CpuId,
        target: StateId,
        nofail: bool,
    ) -> Result<(), Errno> {
        #[cfg(feature = "std")]
        {
            let r = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
                self.range_run(p, bringup, cpu, target, nofail)
            }));
            match r {
                Ok(r) => r,
                Err(payload) => {
                    // AssertUnwindSafe: as in `run_plain_batch`.
                    let Some(state) = self.plain_running.take() else {
                        std::panic::resume_unwind(payload)
                    };
                    self.plain_panicked(p, cpu, state, bringup, &*payload);
                    // What `range_run` does with a failure: stop, or (`nofail`) go on.
                    if nofail {
                        let _ = self.invoke_range(p, bringup, cpu, target, true);
                    }
                    Err(Errno::EIO)
                }
            }
        }
        #[cfg(not(feature = "std"))]
        self.range_run(p, bringup, cpu, target, nofail)
    }

    #[inline(always)]
    fn range_run<P: Platform>(
        &mut self,
        p: &P,
        bringup: bool,
        cpu: CpuId,
        target: StateId,
        nofail: bool,
    ) -> Result<(), Errno> {
        let mut ret = Ok(());
        while let Some(state) = self.next_state(cpu, bringup, target) {
            let r = match self.run_plain::<P, false>(p, cpu, state, bringup) {
                Some(r) => r,
                None => self.invoke_callback_slow(p, cpu, state, bringup, None, false),
            };
            if let Err(e) = r {
                if nofail {
                    debug_assert!(
                        false,
                        "a STARTING/DYING callback failed: impossible by type"
                    );
                    ret = Err(e);
                } else {
                    return Err(e);
                }
            }
        }
        ret
    }

    /// Linux's `cpuhp_set_state`: begins a transition toward `target`; returns where the CPU is.
    pub(crate) fn set_state(&mut self, cpu: CpuId, target: StateId) -> StateId {
        let st = self.st(cpu);
        let prev = st.state;
        let bringup = st.state < target;
        st.rollback = false;
        st.last = None;
        st.target = target;
        st.single = false;
        st.bringup = bringup;
        self.set_dying(cpu, !bringup);
        prev
    }

    /// Linux's `cpuhp_reset_state`: turns the transition around, back to `prev`.
    pub(crate) fn reset_state(&mut self, cpu: CpuId, prev: StateId) {
        let st = self.st(cpu);
        let bringup = !st.bringup;
        st.target = prev;
        // Already rolling back. No need to invert the bringup value or to change the current
        // state: a failure during a rollback does not reverse again.
        if st.rollback {
            return;
        }
        st.rollback = true;
        // With `st.last` set, a multi-instance state was half done: undo its instances first.
        // Otherwise the failed state did not run: start the undo at the one before it.
        if st.last.is_none() {
            if st.bringup {
                st.state.0 -= 1;
            } else {
                st.state.0 += 1;
            }
        }
        st.bringup = bringup;
        self.set_dying(cpu, !bringup);
    }

    /// Linux's `__cpuhp_kick_ap`: hands the hotplug thread its work and waits (one hand-off).
    fn kick_ap_thread<P: Platform>(&mut self, p: &P, cpu: CpuId) {
        let st = self.st(cpu);
        if !st.single && st.state == st.target {
            return;
        }
        st.result = Ok(());
        st.should_run = true;
        let core = &mut *self;
        p.run_on_ap(cpu, &mut || core.ap_thread(p, cpu));
    }

    /// The hotplug thread (`smpboot_thread_fn` calling `cpuhp_thread_fun` while it should run).
    fn ap_thread<P: Platform>(&mut self, p: &P, cpu: CpuId) {
        let saved = core::mem::replace(&mut self.ctx, Context::ApThread);
        while self.cpus[cpu.index()].should_run {
            self.thread_fun(p, cpu);
        }
        self.ctx = saved;
    }

    /// Linux's `cpuhp_thread_fun`: one callback per call — the single one, or the next of the
    /// range toward `st.target`.
    fn thread_fun<P: Platform>(&mut self, p: &P, cpu: CpuId) {
        let c = cpu.index();
        let bringup = self.cpus[c].bringup;
        let state = if self.cpus[c].single {
            self.cpus[c].should_run = false;
            self.cpus[c].cb_state
        } else {
            let target = self.cpus[c].target;
            match self.run_plain_batch(p, cpu, bringup, target) {
                Some(s) => s,
                None => return,
            }
        };
        let node = self.cpus[c].node;
        let atomic = self.layout.is_atomic(state);
        let saved = self.ctx;
        if atomic {
            self.ctx = Context::ApAtomic;
            p.set_irqs_disabled(cpu, true);
        }
        let result = self.invoke_callback(p, cpu, state, bringup, node, true);
        if atomic {
            p.set_irqs_disabled(cpu, false);
        }
        self.ctx = saved;
        self.cpus[c].result = result;
        if let Err(e) = result {
            self.thread_failed(p, cpu, state, bringup, e);
        }
    }

    /// The hotplug thread's callback for `state` failed: stop, and report a failure during a
    /// rollback.
    #[cold]
    fn thread_failed<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        e: Errno,
    ) {
        let c = cpu.index();
        self.cpus[c].result = Err(e);
        if self.cpus[c].rollback {
            // "If we fail on a rollback, we're up a creek without no paddle, no way forward,
            // no way back. We lose, thanks for playing."
            self.note_rollback_failure(cpu, state, bringup, e);
            self.warn(p, Warning::RollbackFailed, cpu, true);
        }
        self.cpus[c].should_run = false;
    }

    /// Linux's `cpuhp_kick_ap`: the hotplug thread walks to `target`; on failure it walks back.
    pub(crate) fn kick_ap<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        target: StateId,
    ) -> Result<(), Errno> {
        let prev = self.set_state(cpu, target);
        self.kick_ap_thread(p, cpu);
        let ret = self.cpus[cpu.index()].result;
        if ret.is_err() {
            self.reset_state(cpu, prev);
            self.kick_ap_thread(p, cpu);
        }
        ret
    }

    /// Linux's `cpuhp_kick_ap_work`: the control side's view of the hotplug thread's walk, traced
    /// as one step.
    pub(crate) fn kick_ap_work<P: Platform>(&mut self, p: &P, cpu: CpuId) -> Result<(), Errno> {
        let c = cpu.index();
        let at = self.site(
            cpu,
            self.cpus[c].state,
            "cpuhp_kick_ap_work",
            self.cpus[c].bringup,
        );
        p.trace(&at.enter());
        let r = self.kick_ap(p, cpu, at.target);
        // A rollback on the hotplug thread flips the direction: the exit says where it ended.
        let at = Site {
            bringup: self.cpus[c].bringup,
            ..at
        };
        p.trace(&at.exit(self.cpus[c].state, r, FailureKind::Nested));
        r
    }

    /// Linux's `cpuhp_invoke_ap_callback`: one callback on the CPU's hotplug thread (state or
    /// instance install/remove). Offline CPUs are skipped.
    pub(crate) fn invoke_ap_callback<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        state: StateId,
        bringup: bool,
        node: Option<InstanceId>,
    ) -> Result<(), Errno> {
        if !self.online.contains(cpu) {
            return Ok(());
        }
        let st = self.st(cpu);
        st.rollback = false;
        st.last = None;
        st.node = node;
        st.bringup = bringup;
        st.cb_state = state;
        st.single = true;
        self.kick_ap_thread(p, cpu);
        let ret = self.cpus[cpu.index()].result;
        // If we failed and did a partial, do a rollback.
        if ret.is_err() && self.cpus[cpu.index()].last.is_some() {
            let st = self.st(cpu);
            st.rollback = true;
            st.bringup = !bringup;
            self.kick_ap_thread(p, cpu);
        }
        // Clean up the leftovers so the next hotplug operation won't use stale data.
        let st = self.st(cpu);
        st.node = None;
        st.last = None;
        ret
    }

    /// Linux's `cpuhp_up_callbacks`: the control side walks up to `target`, and back on failure.
    pub(crate) fn up_callbacks<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        target: StateId,
    ) -> Result<(), Errno> {
        let prev = self.cpus[cpu.index()].state;
        let ret = self.invoke_range(p, true, cpu, target, false);
        if ret.is_err() {
            self.reset_state(cpu, prev);
            if let Err(e) = self.invoke_range(p, false, cpu, prev, false) {
                let state = self.cpus[cpu.index()].state;
                self.note_rollback_failure(cpu, state, false, e);
                self.warn(p, Warning::UpRollbackFailed, cpu, false);
            }
        }
        ret
    }

    /// Linux's `cpuhp_down_callbacks`: the control side walks down to `target`, and back up on
    /// failure.
    pub(crate) fn down_callbacks<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        target: StateId,
    ) -> Result<(), Errno> {
        let prev = self.cpus[cpu.index()].state;
        let ret = self.invoke_range(p, false, cpu, target, false);
        if ret.is_err() {
            self.reset_state(cpu, prev);
            if self.cpus[cpu.index()].state < prev {
                if let Err(e) = self.invoke_range(p, true, cpu, prev, false) {
                    let state = self.cpus[cpu.index()].state;
                    self.note_rollback_failure(cpu, state, true, e);
                    self.warn(p, Warning::DownRollbackFailed, cpu, false);
                }
            }
        }
        ret
    }

    /// `bringup_cpu` (the startup of `CPUHP_BRINGUP_CPU`): boot the CPU, wait for it to report
    /// online, then let its hotplug thread take it the rest of the way.
    /// Fails as the platform when the CPU did not boot (or may not run: SMT control), as
    /// `Nested` when a callback on its hotplug thread failed.
    fn bringup_cpu<P: Platform>(&mut self, p: &P, cpu: CpuId) -> Result<(), (Errno, FailureKind)> {
        let platform = |e| (e, FailureKind::Platform);
        {
            let core = &mut *self;
            p.start_cpu(cpu, &mut || core.ap_starting(p, cpu))
                .map_err(platform)?;
        }
        // bringup_wait_for_ap
        if !self.online.contains(cpu) {
            self.warn(p, Warning::ApNotOnline, cpu, true);
            return Err(platform(Errno::ECANCELED));
        }
        if !self.smt_allowed(cpu) {
            return Err(platform(Errno::ECANCELED));
        }
        let target = self.cpus[cpu.index()].target;
        if target <= self.layout.ap_online_idle {
            return Ok(());
        }
        self.kick_ap(p, cpu, target)
            .map_err(|e| (e, FailureKind::Nested))
    }

    /// Runs on the booting CPU, interrupts off: `notify_cpu_starting`, then the CPU marks itself
    /// online and reports idle (`cpuhp_online_idle`).
    fn ap_starting<P: Platform>(&mut self, p: &P, cpu: CpuId) {
        let saved = core::mem::replace(&mut self.ctx, Context::ApAtomic);
        let target = min(self.cpus[cpu.index()].target, self.layout.ap_online);
        self.smt.booted(cpu);
        // STARTING must not fail: by type it cannot.
        let _ = self.invoke_range(p, true, cpu, target, true);
        self.online.set(cpu, true);
        self.cpus[cpu.index()].state = self.layout.ap_online_idle;
        self.ctx = saved;
    }

    /// `takedown_cpu` (the teardown of `CPUHP_TEARDOWN_CPU`): stop the CPU, which runs its DYING
    /// callbacks and dies.
    fn takedown_cpu<P: Platform>(&mut self, p: &P, cpu: CpuId) -> Result<(), Errno> {
        let core = &mut *self;
        // On failure the CPU refused to die; its hotplug thread is still there for the rollback.
        p.stop_cpu(cpu, &mut || core.take_cpu_down(p, cpu))
    }

    /// `take_cpu_down`, on the dying CPU with interrupts off, and its death (`cpuhp_report_idle_dead`).
    fn take_cpu_down<P: Platform>(&mut self, p: &P, cpu: CpuId) {
        let saved = core::mem::replace(&mut self.ctx, Context::ApAtomic);
        // __cpu_disable: the CPU stops taking interrupts and leaves the online mask.
        self.online.set(cpu, false);
        let target = max(self.cpus[cpu.index()].target, self.layout.ap_offline);
        // "Invoke the former CPU_DYING callbacks. DYING must not fail!" — by type it cannot.
        let _ = self.invoke_range(p, false, cpu, target, true);
        self.cpus[cpu.index()].state = self.layout.ap_idle_dead;
        self.ctx = saved;
    }

    /// Linux's `_cpu_up` (requires the hotplug lock: `&mut self`).
    pub(crate) fn cpu_up_locked<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        frozen: bool,
        target: StateId,
    ) -> Result<(), Errno> {
        if !self.present.contains(cpu) {
            return Err(Errno::EINVAL);
        }
        // The caller might have raced with another caller. Nothing to do.
        if self.cpus[cpu.index()].state >= target {
            return Ok(());
        }
        self.tasks_frozen = frozen;
        p.set_tasks_frozen(frozen);
        self.set_state(cpu, target);
        // A CPU already in the hotplug thread's range: kick the thread once more.
        if self.cpus[cpu.index()].state > self.layout.bringup_cpu {
            self.kick_ap_work(p, cpu)?;
        }
        // The control side walks up to CPUHP_BRINGUP_CPU; from there the hotplug thread takes over.
        let target = min(target, self.layout.bringup_cpu);
        self.up_callbacks(p, cpu, target)
    }

    /// Linux's `_cpu_down` (requires the hotplug lock: `&mut self`).
    pub(crate) fn cpu_down_locked<P: Platform>(
        &mut self,
        p: &P,
        cpu: CpuId,
        frozen: bool,
        target: StateId,
    ) -> Result<(), Errno> {
        if self.online.weight() == 1 {
            return Err(Errno::EBUSY);
        }
        if !self.present.contains(cpu) {
            return Err(Errno::EINVAL);
        }
        self.tasks_frozen = frozen;
        p.set_tasks_frozen(frozen);
        let teardown = self.layout.teardown_cpu;
        let prev = self.set_state(cpu, target);
        // In the hotplug thread's range: let it walk down to CPUHP_TEARDOWN_CPU.
        if self.cpus[cpu.index()].state > teardown {
            self.st(cpu).target = max(target, teardown);
            // On failure the hotplug thread has rolled back already.
            self.kick_ap_work(p, cpu)?;
            // We might have stopped still in the range of the hotplug thread.
            if self.cpus[cpu.index()].state > teardown {
                return Ok(());
            }
            self.st(cpu).target = target;
        }
        // The CPU brought itself down to CPUHP_TEARDOWN_CPU; the control side does the rest.
        let ret = self.down_callbacks(p, cpu, target);
        if ret.is_err() && self.cpus[cpu.index()].state < prev {
            if self.cpus[cpu.index()].state == teardown {
                self.reset_state(cpu, prev);
                self.kick_ap_thread(p, cpu);
            } else {
                self.warn(p, Warning::DeadCallbackError, cpu, false);
            }
        }
        ret
    }
}
