//! Runs resumed from checkpoints: `explore`'s faulty runs start from a copy of the baseline's
//! machine and journal taken at the start of the step before their first failure, instead of
//! from boot (ARCHITECTURE.md, "Exploring from checkpoints", has the argument why such a run is
//! the run from boot).
//!
//! A checkpoint is taken before every step of the baseline: the machine (`Hotplug::fork`, onto
//! the plain `Inline` platform), the journal (what the callbacks hold, every point's call count,
//! the planned failures and answers with what is left of their counters, the instance names)
//! and the runner's state between steps ([`Progress`]: ids handed out, state names, the machine
//! as the checks last saw it, the violations reported so far). A resumed run forks the
//! checkpoint's machine again onto a platform tracing into a copy of its journal, and redirects
//! the callbacks it shares with the baseline to that copy ([`Shared::redirect_here`]): every run
//! owns its machine and its journal, so runs stay independent and run in parallel.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;

use cpuhp::{CpuId, Errno, Fault, Hotplug, Inline, StateId, Traced};

use crate::journal::{Event, Injection, Journal, Point, Shared};
use crate::run::{
    Collected, Progress, Record, Recorder, drive_from, errno_of, inject_extra, planned,
    planned_faults, run_with_at, steps,
};
use crate::scenario::Scenario;

/// The baseline's machine and run state before each of its steps.
pub(crate) struct Checkpoints {
    /// By step number (the steps the baseline ran).
    at: Vec<Checkpoint>,
    /// The step of the baseline's first call at each failure point.
    first_call: HashMap<Point, usize>,
    /// The scenario's planned failures, vetoes and platform faults.
    injections: Vec<Injection>,
    faults: Vec<Fault>,
}

/// The machine and the run before one step of the baseline.
struct Checkpoint {
    step: usize,
    /// Behind a lock only because the legacy chain is `Send` but not `Sync`: resumed runs on
    /// every worker fork it, each for a moment.
    machine: Mutex<Hotplug<Inline>>,
    journal: Journal,
    progress: Progress,
    /// How many events the baseline recorded before the step.
    events_before: usize,
}

/// A scenario's instance values are their names.
fn copy_instance(v: &(dyn Any + Send + Sync)) -> Option<Box<dyn Any + Send + Sync>> {
    v.downcast_ref::<String>()
        .map(|s| Box::new(s.clone()) as Box<dyn Any + Send + Sync>)
}

/// A run resumed from a checkpoint: what [`run_with`](crate::run::run_with) records, from the
/// checkpoint's step on.
pub(crate) struct Resumed {
    /// `events`, `reached` and `states_after` from the checkpoint's step on; `violations`
    /// and everything else as for the whole run.
    pub(crate) record: Record,
    /// How many events a run from boot records before the checkpoint's step (for a full
    /// baseline's checkpoints; a lean one's count lean events).
    pub(crate) events_before: usize,
    /// The checkpoint's step.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) from: usize,
}

impl Checkpoints {
    /// The baseline run of `s` (inline, lean or not) and its checkpoints; `None` for the
    /// checkpoints when the machine cannot be copied (it did not boot).
    pub(crate) fn baseline(s: &Scenario, lean: bool) -> (Record, Option<Checkpoints>) {
        let mut at = Vec::new();
        let mut copied = true;
        let rec = run_with_at(
            s,
            false,
            lean,
            &[],
            &[],
            None,
            Some(&mut |step, progress, hp, sh| {
                if !copied {
                    return;
                }
                match hp.fork(Inline, copy_instance) {
                    Ok(machine) => at.push(Checkpoint {
                        step,
                        machine: Mutex::new(machine),
                        journal: sh.lock().clone(),
                        progress: progress.clone(),
                        events_before: 0,
                    }),
                    Err(_) => copied = false,
                }
            }),
        );
        if !copied || at.is_empty() {
            return (rec, None);
        }
        for cp in &mut at {
            cp.events_before = rec
                .events
                .iter()
                .position(|e| matches!(e, Event::Step { index, .. } if *index == cp.step))
                .unwrap_or(rec.events.len());
        }
        let mut first_call = HashMap::new();
        for r in &rec.reached {
            first_call.entry(r.point.clone()).or_insert(r.step);
        }
        let cps = Checkpoints {
            at,
            first_call,
            injections: planned(s),
            faults: planned_faults(s),
        };
        (rec, Some(cps))
    }

    /// Whether a planned failure, veto or platform fault of the scenario could take a call at
    /// `p`: an injected failure at `p` comes first in the list and takes the calls at `p` it
    /// lets through, which the planned one then does not count.
    fn planned_at(&self, p: &Point) -> bool {
        match p {
            Point::Platform {
                step, cpu, bringup, ..
            } => self.faults.iter().any(|f| {
                f.state == StateId(*step)
                    && f.bringup == *bringup
                    && f.cpu.is_none_or(|c| c == CpuId(*cpu))
            }),
            _ => self.injections.iter().any(|i| i.at.matches(p)),
        }
    }

    /// The checkpoint a run with the failures `extra` starts from, the first failing in step
    /// `fires_in` of the baseline: the one before that step, or before the step of the first
    /// call at a failure point where a run from boot leaves the baseline's path earlier (one a
    /// planned failure could take, or that is failed twice).
    fn choose(&self, fires_in: usize, extra: &[(Point, u32)]) -> Option<&Checkpoint> {
        let mut step = fires_in;
        for (i, (p, _)) in extra.iter().enumerate() {
            let twice = extra[..i].iter().any(|(q, _)| q == p);
            if twice || self.planned_at(p) {
                if let Some(&first) = self.first_call.get(p) {
                    step = step.min(first);
                }
            }
        }
        // Checkpoints are by step number, from 0 up to where the baseline stopped.
        self.at.get(step).filter(|cp| cp.step == step)
    }

    /// The run of `s` with the failures `extra` (as [`run_with`](crate::run::run_with) takes
    /// them), the first failing in step `fires_in` of the baseline, resumed from a checkpoint.
    /// `None` when there is none to resume from: the run must start from boot.
    pub(crate) fn resume(
        &self,
        s: &Scenario,
        fires_in: usize,
        lean: bool,
        extra: &[(Point, u32)],
        errno_for: &[Errno],
        panic_at: Option<&(Point, u32)>,
    ) -> Option<Resumed> {
        let cp = self.choose(fires_in, extra)?;
        let mut journal = cp.journal.clone();
        journal.lean = lean;
        journal.panic_at = panic_at.cloned();
        // The failures, as a run from boot injects them, counting the calls from the checkpoint.
        let extra = extra
            .iter()
            .enumerate()
            .map(|(k, (point, occurrence))| {
                let skip = occurrence.checked_sub(journal.occurrences_of(point))?;
                Some((point.clone(), skip, errno_of(errno_for, k)))
            })
            .collect::<Option<Vec<_>>>()?;
        let mut faults = inject_extra(&mut journal, extra);
        let sh = Shared::new(journal);
        let machine = cp.machine.lock().unwrap_or_else(|e| e.into_inner());
        let mut hp = machine
            .fork(Traced(Recorder(sh.clone(), lean)), copy_instance)
            .ok()?;
        drop(machine);
        faults.extend_from_slice(hp.faults());
        hp.clear_faults();
        for f in faults {
            hp.inject(f);
        }
        let _redirect = sh.redirect_here();
        let mut collected = Collected::default();
        let end = drive_from(
            s,
            &sh,
            &mut hp,
            &mut |step, _| collected.push(step),
            cp.progress.clone(),
            cp.step,
            &mut |_, _, _| {},
        );
        let record = collected.into_record(end, steps(s).iter().map(|st| st.describe(s)).collect());
        Some(Resumed {
            record,
            events_before: cp.events_before,
            from: cp.step,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::run_with;

    /// Every failure point of the baseline (alone, with the next call failing too, as a panic),
    /// resumed from its checkpoint, records what the run from boot records from that step on.
    fn resumed_runs_are_runs_from_boot(s: &Scenario) {
        for lean in [true, false] {
            let (base, cps) = Checkpoints::baseline(s, lean);
            let cps = cps.expect("checkpoints");
            assert_eq!(base, run_with(s, false, lean, &[], &[], None));
            let mut plans: Vec<(Vec<(Point, u32)>, bool)> = Vec::new();
            for (i, r) in base.reached.iter().enumerate() {
                let at = (r.point.clone(), r.occurrence);
                plans.push((vec![at.clone()], false));
                plans.push((vec![at.clone()], true));
                if let Some(next) = base.reached.get(i + 1) {
                    plans.push((vec![at, (next.point.clone(), next.occurrence)], false));
                }
            }
            let mut resumed = 0;
            for (plan, panic) in plans {
                let first = &plan[0];
                let fires_in = base
                    .reached
                    .iter()
                    .find(|r| r.point == first.0 && r.occurrence == first.1)
                    .map(|r| r.step)
                    .unwrap();
                let panic_at = plan.first().filter(|_| panic);
                let errnos = [Errno::ENOMEM, Errno::EBUSY];
                let scratch = run_with(s, false, lean, &plan, &errnos, panic_at);
                let Some(r) = cps.resume(s, fires_in, lean, &plan, &errnos, panic_at) else {
                    continue;
                };
                resumed += 1;
                let (rec, from) = (r.record, r.from);
                assert!(from <= fires_in, "{plan:?}");
                assert_eq!(rec.violations, scratch.violations, "{plan:?}");
                assert_eq!(rec.stopped_at, scratch.stopped_at, "{plan:?}");
                assert_eq!(rec.final_states, scratch.final_states, "{plan:?}");
                assert_eq!(rec.states_after, scratch.states_after[from..], "{plan:?}");
                assert_eq!(r.events_before + rec.events.len(), scratch.events.len());
                assert_eq!(rec.events, scratch.events[r.events_before..], "{plan:?}");
                let reached: Vec<_> = scratch
                    .reached
                    .iter()
                    .filter(|x| x.step >= from)
                    .cloned()
                    .collect();
                assert_eq!(rec.reached, reached, "{plan:?}");
            }
            assert!(resumed > 0);
        }
    }

    #[test]
    fn resumed_runs_equal_runs_from_boot() {
        let s = Scenario::parse(
            "s.toml",
            r#"
            ops = ["down 1", "up 1", "freeze", "thaw", "add-instance d:q c", "remove-instance d:q a", "down 2", "up 2"]
            [machine]
            cpus = 4
            preset = "linux-6.1"
            [[state]]
            name = "x:online"
            section = "online"
            bug = "teardown-leaks"
            fail = [{ on = "startup", errno = "ENOMEM", after = 3, times = 1 }]
            [[state]]
            name = "p:prepare"
            section = "prepare"
            [[state]]
            name = "d:q"
            section = "online"
            multi = true
            instances = ["a", "b"]
            bug = "leak-on-failure"
            [[notifier]]
            name = "n"
            priority = 0
            answer = [{ event = "down_prepare", cpu = 2, ret = "stop", after = 1 }]
            [[notifier]]
            name = "m"
            priority = 0
            veto = [{ event = "up_prepare", errno = "EBUSY", after = 2, times = 1 }]
            [[fault]]
            on = "stop"
            errno = "EBUSY"
            after = 2
            times = 1
            "#,
        )
        .unwrap();
        resumed_runs_are_runs_from_boot(&s);
    }
}
