//! The human timeline: each operation as a block, one line per callback, notifier event and
//! platform failure, each saying where it ran, what it returned and which rule of DESIGN.md put
//! it there. Setup steps are summarised in one line each unless something in them failed.

use std::collections::BTreeMap;
use std::fmt::Write;

use anstyle::{AnsiColor, Effects, Style};

use crate::journal::{Event, Outcome};
use crate::run::Record;
use crate::scenario::Scenario;

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
}

const OK: Style = AnsiColor::Green.on_default();
const FAIL: Style = AnsiColor::Red.on_default().effects(Effects::BOLD);
const UNDO: Style = AnsiColor::Yellow.on_default();
const RULE: Style = Style::new().effects(Effects::DIMMED);
const HEAD: Style = Style::new().effects(Effects::BOLD);
const NOTE: Style = AnsiColor::Cyan.on_default();

fn errno_name(ret: i32) -> String {
    if ret == 0 {
        "ok".into()
    } else {
        cpuhp::Errno::from_neg(ret).map_or_else(|| ret.to_string(), |e| e.to_string())
    }
}

/// An error kind recorded by name, in the words the state machine gives it.
fn kind_text(kind: &str) -> String {
    cpuhp::ErrorKind::ALL
        .iter()
        .find(|k| format!("{k:?}") == kind)
        .map_or_else(|| kind.to_string(), |k| k.describe().to_string())
}

fn place(context: &str, cpu: u32) -> String {
    match context {
        "cpu-thread" => format!("CPU{cpu} thread"),
        "cpu-atomic" => format!("CPU{cpu} irqs-off"),
        _ => "control".into(),
    }
}

/// A CPU list like `0-2,5`.
fn cpu_list(cpus: &[u32]) -> String {
    let mut v: Vec<u32> = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// Why a notifier event happened, by the legacy rules 7–9.
fn notifier_rule(action: &str, ret: i32) -> &'static str {
    let base = action.trim_end_matches("_FROZEN");
    match (base, ret != 0) {
        ("CPU_UP_PREPARE", true) => {
            "rule 7, the seed: veto → CPU_UP_CANCELED to the notifiers before it only"
        }
        ("CPU_UP_PREPARE", false) => "rule 7: may veto",
        ("CPU_DOWN_PREPARE", true) => {
            "rule 8, the seed: veto → CPU_DOWN_FAILED to the notifiers before it only"
        }
        ("CPU_DOWN_PREPARE", false) => "rule 8: may veto",
        ("CPU_UP_CANCELED", _) => "rule 7: undo, only for those that said OK",
        ("CPU_DOWN_FAILED", _) => "rule 8: undo, only for those that said OK",
        ("CPU_STARTING", _) => "rule 7: on the new CPU, interrupts off; cannot fail",
        ("CPU_DYING", _) => "rule 8: on the dying CPU, interrupts off; cannot fail",
        ("CPU_ONLINE", _) => "rule 7: the CPU is up",
        ("CPU_DEAD", _) => "rule 8: cannot fail",
        ("CPU_POST_DEAD", _) => "rule 8: after the hotplug lock is released",
        _ => "",
    }
}

/// What a core state's callback does, for the reader.
fn builtin_note(symbol: &str, cpu: u32) -> Option<String> {
    Some(match symbol {
        "bringup_cpu" => format!("boots CPU {cpu}, waits for it, hands it on"),
        "cpuhp_kick_ap_work" => format!("CPU {cpu}'s hotplug thread walks its ONLINE section"),
        "cpuhp_kick_ap_alive" => format!("kicks CPU {cpu} (it boots meanwhile)"),
        "takedown_cpu" => format!("stops CPU {cpu} (stop_machine)"),
        "sched_cpu_activate" => "the scheduler uses the CPU".into(),
        "sched_cpu_deactivate" => "the scheduler stops using the CPU".into(),
        "notify_prepare"
        | "notify_dead"
        | "notify_starting"
        | "notify_dying"
        | "notify_online"
        | "notify_down_prepare" => "legacy notifier chain".into(),
        _ => return None,
    })
}

pub(super) fn render(rec: &Record, s: &Scenario, color: bool) -> String {
    let p = Painter { color };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        p.paint(
            HEAD,
            &format!(
                "cpuhp · {} CPUs{} · preset {} · {} states, {} notifiers, {} operations",
                s.machine.cpus,
                if s.machine.threads_per_core > 1 {
                    format!(" ({} threads per core)", s.machine.threads_per_core)
                } else {
                    String::new()
                },
                crate::scenario::PresetName::ALL
                    .iter()
                    .find(|(_, p)| *p == s.machine.preset)
                    .map_or("", |(n, _)| n),
                s.states.len(),
                s.notifiers.len(),
                s.ops.len(),
            )
        )
    );
    let mut in_setup_header = false;
    // Per step: the events, grouped.
    let mut i = 0;
    let events = &rec.events;
    while i < events.len() {
        let Event::Step { index, what, op } = &events[i] else {
            i += 1;
            continue;
        };
        let end = events[i..]
            .iter()
            .position(|e| matches!(e, Event::StepDone { index: j, .. } if j == index))
            .map_or(events.len(), |n| i + n);
        let body = &events[i + 1..end];
        let outcome = match events.get(end) {
            Some(Event::StepDone { outcome, .. }) => outcome.clone(),
            _ => Outcome::Ok,
        };
        let failed = !outcome.is_ok();
        if !op {
            if !in_setup_header {
                let _ = writeln!(out, "\n{}", p.paint(HEAD, "── setup"));
                in_setup_header = true;
            }
            if !failed {
                summary_line(&mut out, &p, what, body, rec, *index);
                i = end + 1;
                continue;
            }
        }
        let n = index + 1 - rec.setup_steps.min(*index + 1);
        let title = if *op {
            format!("── {n}. {what}")
        } else {
            format!("── {what}")
        };
        let _ = writeln!(out, "\n{}", p.paint(HEAD, &title));
        let install = !op
            || ["add-instance ", "remove-instance ", "remove-state "]
                .iter()
                .any(|w| what.starts_with(w));
        step_lines(&mut out, &p, body, !install);
        // The result, and where the CPUs stand.
        let states = rec.states_after.get(*index);
        let moved: Vec<String> = match (
            index.checked_sub(1).and_then(|k| rec.states_after.get(k)),
            states,
        ) {
            (Some(b), Some(a)) => b
                .iter()
                .zip(a)
                .enumerate()
                .filter(|(_, (b, a))| b != a)
                .map(|(c, (b, a))| format!("CPU {c}: {b} → {a}"))
                .collect(),
            _ => Vec::new(),
        };
        let rollback_failed = matches!(
            &outcome,
            Outcome::Failed {
                rollback_failure: Some(_),
                ..
            }
        );
        let where_ = if moved.is_empty() {
            if failed && !rollback_failed {
                "every CPU is where it began".to_string()
            } else {
                "no CPU moved".to_string()
            }
        } else {
            moved.join(", ")
        };
        match &outcome {
            Outcome::Ok => {
                let _ = writeln!(out, "  {} {where_}", p.paint(OK, "⇒ ok:"));
            }
            Outcome::Failed {
                errno,
                kind,
                failure,
                rollback_failure,
            } => {
                let why = failure.clone().unwrap_or_else(|| kind_text(kind));
                let _ = writeln!(
                    out,
                    "  {} {why}; {where_}",
                    p.paint(FAIL, &format!("⇒ failed with {errno}:"))
                );
                if let Some(r) = rollback_failure {
                    let _ = writeln!(
                        out,
                        "  {} rolling back, {r}: the machine is left as it stands (rule 14)",
                        p.paint(FAIL, "⇒")
                    );
                }
            }
        }
        for v in rec.violations.iter().filter(|v| v.step == *index) {
            let _ = writeln!(out, "  {}", p.paint(FAIL, &format!("✗ invariant {v}")));
        }
        i = end + 1;
    }
    if let Some(at) = rec.stopped_at {
        let _ = writeln!(
            out,
            "\n{}",
            p.paint(
                FAIL,
                &format!(
                    "stopped after `{}`: a rollback failed, the machine is undefined from here on",
                    rec.steps.get(at).map_or("", String::as_str)
                )
            )
        );
    }
    let _ = writeln!(
        out,
        "\n{} {}",
        p.paint(HEAD, "end:"),
        rec.final_states
            .iter()
            .enumerate()
            .map(|(c, s)| format!("CPU {c} at {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let broken = rec.violations.len();
    let _ = writeln!(
        out,
        "{}",
        if broken == 0 {
            p.paint(OK, "invariants: all held")
        } else {
            p.paint(FAIL, &format!("invariants: {broken} broken"))
        }
    );
    out
}

fn summary_line(
    out: &mut String,
    p: &Painter,
    what: &str,
    body: &[Event],
    rec: &Record,
    index: usize,
) {
    let mut ups: Vec<u32> = Vec::new();
    for e in body {
        if let Event::Exit {
            cpu, bringup: true, ..
        } = e
        {
            ups.push(*cpu);
        }
    }
    let number = what
        .strip_prefix("setup-state ")
        .and_then(|n| rec.state_names.iter().find(|(_, v)| v.as_str() == n))
        .map(|(k, _)| format!(" → state {k}"))
        .unwrap_or_default();
    let ran = if ups.is_empty() {
        String::new()
    } else {
        format!("; startup on CPUs {}", cpu_list(&ups))
    };
    let _ = index;
    let _ = writeln!(out, "  {} {what}{number}{ran}", p.paint(OK, "ok"));
}

fn step_lines(out: &mut String, p: &Painter, body: &[Event], op: bool) {
    // Each callback is printed where it begins, with the result of its matching exit, so that
    // what runs inside it (the hotplug thread's walk inside `cpuhp_kick_ap_work`, the notifiers
    // inside a bridge) follows it, indented.
    let mut exit_of: BTreeMap<usize, usize> = BTreeMap::new();
    let mut stack: Vec<usize> = Vec::new();
    for (i, e) in body.iter().enumerate() {
        match e {
            Event::Enter { .. } => stack.push(i),
            Event::Exit { .. } => {
                if let Some(open) = stack.pop() {
                    exit_of.insert(open, i);
                }
            }
            _ => {}
        }
    }
    // Per CPU: the direction the operation walks, and whether a failure turned it around.
    let mut forward: BTreeMap<u32, bool> = BTreeMap::new();
    let mut failed: BTreeMap<u32, bool> = BTreeMap::new();
    let mut depth = 0usize;
    for (i, e) in body.iter().enumerate() {
        let indent = "  ".repeat(depth);
        match e {
            Event::Enter {
                cpu,
                step,
                symbol,
                bringup,
                instance,
                context,
                ..
            } => {
                let ret = match exit_of.get(&i).map(|&x| &body[x]) {
                    Some(Event::Exit { ret, .. }) => *ret,
                    _ => 0,
                };
                let nested = exit_of.get(&i).is_some_and(|&x| x > i + 1);
                if nested {
                    depth += 1;
                }
                // A transition turns around per CPU; an install (rule 16) across CPUs.
                let key = if op { *cpu } else { u32::MAX };
                let fwd = *forward.entry(key).or_insert(*bringup);
                let after_failure = failed.get(&key).copied().unwrap_or(false);
                let rollback = after_failure && *bringup != fwd;
                let rule = if !op {
                    if rollback {
                        "rule 16: undone on the CPUs before the failure".to_string()
                    } else if ret != 0 {
                        "rule 16: the install fails; nothing stays".to_string()
                    } else {
                        "rule 16: on each CPU that reached the state, ascending".to_string()
                    }
                } else if ret != 0 && nested && symbol.starts_with("notify_") {
                    "rule 12: the chain vetoed; this state gets no teardown".into()
                } else if ret != 0 && nested {
                    "passes on the failure of a callback inside it".into()
                } else if ret != 0 {
                    if rollback {
                        "rule 14: a failure during rollback: no second reversal, reported".into()
                    } else if *bringup {
                        "rule 12: it gets no teardown; what succeeded is undone".into()
                    } else {
                        "rule 13: it and the states below stay up; the ones above come back".into()
                    }
                } else if rollback {
                    if fwd {
                        "rule 12: undo, descending".into()
                    } else {
                        "rule 13: startup again, ascending".into()
                    }
                } else if instance.is_some() {
                    "rule 15: instances newest first".into()
                } else if let Some(note) = builtin_note(symbol, *cpu) {
                    format!("rule 11 · {note}")
                } else if *bringup {
                    "rule 11: startups ascending".into()
                } else {
                    "rule 11: teardowns descending".into()
                };
                if ret != 0 && !nested {
                    // A failure turns this CPU's walk around from here on.
                    failed.insert(key, true);
                }
                let arrow = if *bringup { "↑" } else { "↓" };
                let mut what = format!("{indent}{symbol}");
                if let Some(inst) = instance {
                    what.push_str(&format!(" [{inst}]"));
                }
                let result = errno_name(ret);
                let result = if ret != 0 {
                    p.paint(FAIL, &format!("{result:<7}"))
                } else if rollback {
                    p.paint(UNDO, &format!("{result:<7}"))
                } else {
                    p.paint(OK, &format!("{result:<7}"))
                };
                let line = format!(
                    "  {:<15} {step:>3} {arrow} {what:<36} {result} {}",
                    place(context, *cpu),
                    p.paint(RULE, &rule)
                );
                let _ = writeln!(out, "{}", line.trim_end());
            }
            Event::Exit { .. } => {
                if i > 0 && !matches!(body[i - 1], Event::Enter { .. }) {
                    depth = depth.saturating_sub(1);
                }
            }
            Event::Notify {
                notifier,
                action,
                cpu,
                ret,
            } => {
                let vetoed_before = failed.get(cpu).copied().unwrap_or(false);
                if *ret != 0 {
                    failed.insert(*cpu, true);
                }
                let result = errno_name(*ret);
                let result = if *ret != 0 {
                    p.paint(FAIL, &format!("{result:<7}"))
                } else {
                    p.paint(OK, &format!("{result:<7}"))
                };
                let what = format!("{indent}{notifier}: {action} {cpu}");
                let line = format!(
                    "  {:<15}     {} {what:<36} {result} {}",
                    "",
                    p.paint(NOTE, "•"),
                    p.paint(
                        RULE,
                        if vetoed_before && action.starts_with("CPU_DOWN_PREPARE") {
                            "rule 12: undoing a bring-up, a veto cannot stop it"
                        } else {
                            notifier_rule(action, *ret)
                        }
                    )
                );
                let _ = writeln!(out, "{}", line.trim_end());
            }
            Event::Injected {
                cpu,
                step,
                bringup,
                ret,
                ..
            } => {
                failed.insert(*cpu, true);
                forward.entry(*cpu).or_insert(*bringup);
                let what = if *bringup {
                    format!("{indent}CPU {cpu} fails to come up")
                } else {
                    format!("{indent}CPU {cpu} refuses to go")
                };
                let line = format!(
                    "  {:<15} {step:>3} ✗ {what:<36} {} {}",
                    "platform",
                    p.paint(FAIL, &format!("{:<7}", errno_name(*ret))),
                    p.paint(RULE, "injected failure")
                );
                let _ = writeln!(out, "{}", line.trim_end());
            }
            Event::Warning { cpu, function } => {
                let _ = writeln!(
                    out,
                    "  {}",
                    p.paint(
                        FAIL,
                        &format!(
                            "WARNING: CPU {cpu}: Linux warns in {function} (rule 14: reported)"
                        )
                    )
                );
            }
            Event::Divergence { cpu, text } => {
                let _ = writeln!(
                    out,
                    "  {}",
                    p.paint(
                        NOTE,
                        &format!("note: CPU {cpu}: {text} (deliberate difference from Linux)")
                    )
                );
            }
            Event::Step { .. } | Event::StepDone { .. } => {}
        }
    }
}
