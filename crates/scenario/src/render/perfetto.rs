//! Chrome trace-event JSON, which the Perfetto UI (and `chrome://tracing`) opens: one track per
//! CPU for the callbacks that run on it (its hotplug thread, or the CPU itself with interrupts
//! off), one for the control side, one for the steps. Callbacks are complete events (`"X"`),
//! notifier calls and failures are instant events (`"i"`). Time is logical: one microsecond per
//! recorded event, so runs compare.

use serde_json::{Value, json};

use crate::journal::Event;
use crate::run::Record;
use crate::scenario::Scenario;

const PID: u32 = 1;
const STEPS: u32 = 0;
const CONTROL: u32 = 1;

fn cpu_track(cpu: u32) -> u32 {
    100 + cpu
}

fn track(context: &str, cpu: u32) -> u32 {
    if context == "control" {
        CONTROL
    } else {
        cpu_track(cpu)
    }
}

pub(super) fn render(rec: &Record, scenario: &Scenario) -> String {
    let mut events: Vec<Value> = Vec::new();
    let meta = |tid: u32, name: String, sort: u32| {
        [
            json!({"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": name}}),
            json!({"ph": "M", "pid": PID, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": sort}}),
        ]
    };
    events.push(
        json!({"ph": "M", "pid": PID, "tid": STEPS, "name": "process_name",
        "args": {"name": format!("cpuhp: {} CPUs", scenario.machine.cpus)}}),
    );
    events.extend(meta(STEPS, "steps".into(), 0));
    events.extend(meta(CONTROL, "control side".into(), 1));
    for c in 0..scenario.machine.cpus {
        events.extend(meta(cpu_track(c), format!("CPU {c}"), 2 + c));
    }
    // Open callbacks and steps: (index of the enter event, its track).
    let mut open: Vec<(usize, u32)> = Vec::new();
    let mut step_open: Option<(usize, String, bool)> = None;
    let name = |step: u32, symbol: &str| match rec.state_names.get(&step) {
        Some(n) if n != symbol => format!("{step} {n} ({symbol})"),
        _ => format!("{step} {symbol}"),
    };
    for (n, e) in rec.events.iter().enumerate() {
        let ts = n as u64;
        match e {
            Event::Step { what, op, .. } => step_open = Some((n, what.clone(), *op)),
            Event::StepDone { outcome, .. } => {
                if let Some((start, what, op)) = step_open.take() {
                    events.push(
                        json!({"ph": "X", "pid": PID, "tid": STEPS, "ts": start as u64,
                        "dur": ts - start as u64, "name": what,
                        "cat": if op { "operation" } else { "setup" },
                        "args": {"outcome": outcome}}),
                    );
                }
            }
            Event::Enter { cpu, context, .. } => open.push((n, track(context, *cpu))),
            Event::Exit {
                cpu,
                state,
                step,
                bringup,
                instance,
                ret,
                ..
            } => {
                let Some((start, tid)) = open.pop() else {
                    continue;
                };
                let (symbol, target, context) = match &rec.events[start] {
                    Event::Enter {
                        symbol,
                        target,
                        context,
                        ..
                    } => (symbol.clone(), *target, *context),
                    _ => (String::new(), 0, ""),
                };
                let dir = if *bringup { "startup" } else { "teardown" };
                let mut title = format!("{dir} {}", name(*step, &symbol));
                if let Some(i) = instance {
                    title.push_str(&format!(" [{i}]"));
                }
                events.push(
                    json!({"ph": "X", "pid": PID, "tid": tid, "ts": start as u64,
                    "dur": (ts - start as u64).max(1), "name": title, "cat": dir,
                    "args": {"cpu": cpu, "target": target, "state_after": state, "ret": ret,
                             "context": context, "instance": instance}}),
                );
            }
            Event::Notify {
                notifier,
                action,
                cpu,
                ret,
                ..
            } => {
                let tid = open.last().map_or(CONTROL, |&(_, t)| t);
                events.push(
                    json!({"ph": "i", "s": "t", "pid": PID, "tid": tid, "ts": ts,
                    "name": format!("{notifier}: {action} {cpu}"), "cat": "notifier",
                    "args": {"ret": ret}}),
                );
            }
            Event::Injected { cpu, step, ret, .. } => {
                events.push(
                    json!({"ph": "i", "s": "t", "pid": PID, "tid": cpu_track(*cpu),
                    "ts": ts, "name": format!("injected failure at {step}: {ret}"),
                    "cat": "failure"}),
                );
            }
            Event::Warning { cpu, function } => {
                events.push(
                    json!({"ph": "i", "s": "g", "pid": PID, "tid": cpu_track(*cpu),
                    "ts": ts, "name": format!("WARNING in {function}"), "cat": "warning"}),
                );
            }
            Event::Divergence { cpu, text } => {
                events.push(
                    json!({"ph": "i", "s": "t", "pid": PID, "tid": cpu_track(*cpu),
                    "ts": ts, "name": text, "cat": "divergence"}),
                );
            }
        }
    }
    for v in &rec.violations {
        events.push(json!({"ph": "i", "s": "g", "pid": PID, "tid": STEPS,
            "ts": rec.events.len() as u64, "name": format!("violation: {v}"), "cat": "violation"}));
    }
    let doc = json!({"displayTimeUnit": "ns", "traceEvents": events});
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
