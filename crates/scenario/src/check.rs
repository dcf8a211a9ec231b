//! The invariants checked after every step of a run (docs/rules.md):
//!
//! * **where it began**: after a failed operation on one CPU or one state, every CPU is at the
//!   state it started from and every callback's resource is as it was;
//! * **consistent**: a state with a startup and a teardown holds its resource on a CPU (for each
//!   of its instances) exactly when the CPU is at or above the state, and holds nothing once the
//!   state or instance is gone;
//! * **accounting**: no startup of something already up, no teardown of something that is not
//!   (so a callback that failed never gets its counterpart);
//! * **no oscillation**: within one operation a CPU's walk turns around at most once;
//! * **reported**: a failure during a rollback leaves the machine undefined (as in Linux), but
//!   the error names it and a warning is printed.

use std::collections::BTreeMap;

use cpuhp::{CpuId, Hotplug, Platform};
use serde::Serialize;

use crate::journal::{Event, Journal};
use crate::run::{Ids, Step};
use crate::scenario::{Op, Scenario};

/// Which invariant broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    /// A failed operation did not leave the machine where it began.
    WhereItBegan,
    /// A resource held (or not) against where the CPU stands.
    Consistent,
    /// A second startup, or a teardown of something that is not up.
    Accounting,
    /// A walk turned around more than once.
    NoOscillation,
    /// A failure during a rollback went unreported.
    Reported,
}

impl Invariant {
    /// A short name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp_scenario::Invariant::WhereItBegan.name(), "where-it-began");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Invariant::WhereItBegan => "where-it-began",
            Invariant::Consistent => "consistent",
            Invariant::Accounting => "accounting",
            Invariant::NoOscillation => "no-oscillation",
            Invariant::Reported => "reported",
        }
    }
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    /// The step after which it was found.
    pub step: usize,
    /// Which invariant.
    pub invariant: Invariant,
    /// What exactly.
    pub text: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.invariant.name(), self.text)
    }
}

/// The machine between two steps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// Each CPU's state.
    pub(crate) states: Vec<u32>,
    /// The scenario's states installed, by name.
    pub(crate) installed: BTreeMap<String, u32>,
    /// Linked instances: (state, instance).
    pub(crate) linked: Vec<(String, String)>,
}

pub(crate) fn snapshot<P: Platform>(hp: &Hotplug<P>, ids: &Ids) -> Snapshot {
    Snapshot {
        states: (0..hp.nr_cpus())
            .map(|c| hp.cpu_status(CpuId(c)).map_or(0, |s| s.state.get()))
            .collect(),
        installed: ids
            .states
            .iter()
            .map(|(n, s)| (n.clone(), s.get()))
            .collect(),
        linked: ids.instances.keys().cloned().collect(),
    }
}

/// Operations whose failure may legitimately leave some CPUs changed.
fn multi_cpu(step: &Step, s: &Scenario) -> bool {
    match step {
        Step::Op(i) => matches!(
            s.ops[*i].op,
            Op::Freeze | Op::Thaw | Op::Smt(_) | Op::ParallelUp(_)
        ),
        _ => false,
    }
}

/// The invariants after step `index`, whose events start at `j.events[from]` (so that checking a
/// step costs what the step recorded, not what the whole run did).
#[allow(clippy::too_many_arguments)]
pub(crate) fn step(
    s: &Scenario,
    index: usize,
    from: usize,
    step: &Step,
    r: &Result<(), cpuhp::Error>,
    before: &Snapshot,
    after: &Snapshot,
    j: &Journal,
) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut add = |invariant, text: String| {
        v.push(Violation {
            step: index,
            invariant,
            text,
        })
    };
    let rollback_failed = r.as_ref().is_err_and(|e| e.rollback_failure().is_some());
    let events = step_events(j.events.get(from..).unwrap_or_default(), index);

    // No oscillation (a retried parallel bring-up turns around by design).
    let retries = matches!(step, Step::Op(i) if matches!(s.ops[*i].op, Op::ParallelUp(_)));
    if !retries {
        // Per CPU: the direction of its last callback, and how often it turned.
        let mut last: Vec<Option<(bool, u32)>> = vec![None; after.states.len()];
        for e in events {
            if let Event::Enter { cpu, bringup, .. } = e {
                let Some(slot) = last.get_mut(*cpu as usize) else {
                    continue;
                };
                let entry = slot.get_or_insert((*bringup, 0));
                if entry.0 != *bringup {
                    *entry = (*bringup, entry.1 + 1);
                    if entry.1 == 2 {
                        add(
                            Invariant::NoOscillation,
                            format!("CPU {cpu}'s walk turned around twice"),
                        );
                    }
                }
            }
        }
    }

    if rollback_failed {
        // Undefined afterwards, as in Linux; it must at least have been said.
        if !events.iter().any(|e| matches!(e, Event::Warning { .. })) {
            add(
                Invariant::Reported,
                "a rollback failed without a warning".into(),
            );
        }
        return v;
    }

    let held = &j.held;
    if r.is_err() && !multi_cpu(step, s) {
        for (c, (b, a)) in before.states.iter().zip(&after.states).enumerate() {
            if b != a {
                add(
                    Invariant::WhereItBegan,
                    format!("CPU {c} began at state {b} and ended at {a}"),
                );
            }
        }
        // What the step changed: resources it left held or released on balance.
        for (k, d) in &j.delta {
            let a = i64::from(held.get(k).copied().unwrap_or(0));
            let b = a - d;
            if b != a {
                let (state, cpu, inst) = k;
                let what = describe(state, inst);
                add(
                    Invariant::WhereItBegan,
                    if a > b {
                        format!("{what} on CPU {cpu} is held after the failed operation undid it")
                    } else {
                        format!("{what} on CPU {cpu} was released by the failed operation")
                    },
                );
            }
        }
    }

    // Consistency of every paired state with where the CPUs stand.
    for st in s.states.iter().filter(|st| st.startup && st.teardown) {
        let Some(&number) = after.installed.get(&st.name) else {
            continue;
        };
        let instances: Vec<Option<String>> = if st.multi {
            after
                .linked
                .iter()
                .filter(|(s, _)| *s == st.name)
                .map(|(_, i)| Some(i.clone()))
                .collect()
        } else {
            vec![None]
        };
        // Which CPUs hold each instance: one pass over the state's keys (ordered by state, CPU,
        // instance), not a lookup per CPU — a large machine checks many CPUs.
        let mut holds = vec![vec![false; after.states.len()]; instances.len()];
        for ((name, cpu, inst), n) in held.range((st.name.clone(), 0, None)..) {
            if *name != st.name {
                break;
            }
            if let (true, Some(i)) = (*n > 0, instances.iter().position(|x| x == inst)) {
                if let Some(h) = holds[i].get_mut(*cpu as usize) {
                    *h = true;
                }
            }
        }
        for (c, &state) in after.states.iter().enumerate() {
            for (inst, holds) in instances.iter().zip(&holds) {
                let is_held = holds[c];
                let should = state >= number;
                if is_held != should {
                    let what = describe(&st.name, inst);
                    add(
                        Invariant::Consistent,
                        if is_held {
                            format!(
                                "{what} is held on CPU {c}, which is at state {state}, below it ({number})"
                            )
                        } else {
                            format!(
                                "{what} is not held on CPU {c}, which is at state {state}, at or above it ({number})"
                            )
                        },
                    );
                }
            }
        }
    }
    // Nothing held for what is gone.
    for ((state, cpu, inst), _) in held.iter() {
        let gone = !after.installed.contains_key(state)
            || inst
                .as_ref()
                .is_some_and(|i| !after.linked.contains(&(state.clone(), i.clone())));
        if gone {
            add(
                Invariant::Consistent,
                format!(
                    "{} is still held on CPU {cpu} after it was removed",
                    describe(state, inst)
                ),
            );
        }
    }
    v
}

fn describe(state: &str, inst: &Option<String>) -> String {
    match inst {
        Some(i) => format!("{state} instance {i}"),
        None => state.to_string(),
    }
}

/// The events of step `index`.
pub(crate) fn step_events(events: &[Event], index: usize) -> &[Event] {
    let start = events
        .iter()
        .position(|e| matches!(e, Event::Step { index: i, .. } if *i == index));
    let Some(start) = start else {
        return &[];
    };
    let end = events[start..]
        .iter()
        .position(|e| matches!(e, Event::StepDone { index: i, .. } if *i == index))
        .map_or(events.len(), |n| start + n);
    &events[start..end]
}
