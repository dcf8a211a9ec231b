//! Chrome trace-event JSON, which the Perfetto UI (and `chrome://tracing`) opens: one track per
//! CPU for the callbacks that run on it (its hotplug thread, or the CPU itself with interrupts
//! off), one for the control side, one for the steps. Callbacks are complete events (`"X"`),
//! notifier calls and failures are instant events (`"i"`). Time is logical: one microsecond per
//! recorded event, so runs compare.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::check::Violation;
use crate::journal::Event;
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

/// The document a step at a time: its head and the tracks' metadata first, each event as its
/// step is given, the violations and the document's end last. Pretty-printed as one document
/// would be: each element of `traceEvents` on its own lines, indented two levels.
#[derive(Default)]
pub(super) struct Perfetto {
    /// Events seen so far (the time of the next one).
    n: u64,
    /// Elements of `traceEvents` written so far.
    written: usize,
    /// Open callbacks: the time of their enter, its track, symbol, target and context.
    open: Vec<(u64, u32, String, u32, &'static str)>,
    /// The open step: its start, text, and whether it is an operation.
    step_open: Option<(u64, String, bool)>,
}

impl Perfetto {
    fn push(&mut self, element: &Value, out: &mut String) {
        out.push_str(if self.written == 0 { "\n" } else { ",\n" });
        self.written += 1;
        let text = serde_json::to_string_pretty(element).unwrap_or_default();
        for (k, line) in text.lines().enumerate() {
            if k > 0 {
                out.push('\n');
            }
            out.push_str("    ");
            out.push_str(line);
        }
    }

    pub(super) fn start(&mut self, scenario: &Scenario, out: &mut String) {
        out.push_str("{\n  \"displayTimeUnit\": \"ns\",\n  \"traceEvents\": [");
        let meta = |tid: u32, name: String, sort: u32| {
            [
                json!({"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": name}}),
                json!({"ph": "M", "pid": PID, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": sort}}),
            ]
        };
        self.push(
            &json!({"ph": "M", "pid": PID, "tid": STEPS, "name": "process_name",
            "args": {"name": format!("cpuhp: {} CPUs", scenario.machine.cpus)}}),
            out,
        );
        for e in meta(STEPS, "steps".into(), 0) {
            self.push(&e, out);
        }
        for e in meta(CONTROL, "control side".into(), 1) {
            self.push(&e, out);
        }
        for c in 0..scenario.machine.cpus {
            for e in meta(cpu_track(c), format!("CPU {c}"), 2 + c) {
                self.push(&e, out);
            }
        }
    }

    pub(super) fn events(
        &mut self,
        events: &[Event],
        state_names: &BTreeMap<u32, String>,
        out: &mut String,
    ) {
        let name = |step: u32, symbol: &str| match state_names.get(&step) {
            Some(n) if n != symbol => format!("{step} {n} ({symbol})"),
            _ => format!("{step} {symbol}"),
        };
        for e in events {
            let ts = self.n;
            self.n += 1;
            match e {
                Event::Step { what, op, .. } => self.step_open = Some((ts, what.clone(), *op)),
                Event::StepDone { outcome, .. } => {
                    if let Some((start, what, op)) = self.step_open.take() {
                        self.push(
                            &json!({"ph": "X", "pid": PID, "tid": STEPS, "ts": start,
                            "dur": ts - start, "name": what,
                            "cat": if op { "operation" } else { "setup" },
                            "args": {"outcome": outcome}}),
                            out,
                        );
                    }
                }
                Event::Enter {
                    cpu,
                    context,
                    symbol,
                    target,
                    ..
                } => self
                    .open
                    .push((ts, track(context, *cpu), symbol.clone(), *target, context)),
                Event::Exit {
                    cpu,
                    state,
                    step,
                    bringup,
                    instance,
                    ret,
                    ..
                } => {
                    let Some((start, tid, symbol, target, context)) = self.open.pop() else {
                        continue;
                    };
                    let dir = if *bringup { "startup" } else { "teardown" };
                    let mut title = format!("{dir} {}", name(*step, &symbol));
                    if let Some(i) = instance {
                        title.push_str(&format!(" [{i}]"));
                    }
                    self.push(
                        &json!({"ph": "X", "pid": PID, "tid": tid, "ts": start,
                        "dur": (ts - start).max(1), "name": title, "cat": dir,
                        "args": {"cpu": cpu, "target": target, "state_after": state, "ret": ret,
                                 "context": context, "instance": instance}}),
                        out,
                    );
                }
                Event::Notify {
                    notifier,
                    action,
                    cpu,
                    ret,
                    ..
                } => {
                    let tid = self.open.last().map_or(CONTROL, |o| o.1);
                    self.push(
                        &json!({"ph": "i", "s": "t", "pid": PID, "tid": tid, "ts": ts,
                        "name": format!("{notifier}: {action} {cpu}"), "cat": "notifier",
                        "args": {"ret": ret}}),
                        out,
                    );
                }
                Event::Injected { cpu, step, ret, .. } => {
                    self.push(
                        &json!({"ph": "i", "s": "t", "pid": PID, "tid": cpu_track(*cpu),
                        "ts": ts, "name": format!("injected failure at {step}: {ret}"),
                        "cat": "failure"}),
                        out,
                    );
                }
                Event::Warning { cpu, function } => {
                    self.push(
                        &json!({"ph": "i", "s": "g", "pid": PID, "tid": cpu_track(*cpu),
                        "ts": ts, "name": format!("WARNING in {function}"), "cat": "warning"}),
                        out,
                    );
                }
                Event::Divergence { cpu, text } => {
                    self.push(
                        &json!({"ph": "i", "s": "t", "pid": PID, "tid": cpu_track(*cpu),
                        "ts": ts, "name": text, "cat": "divergence"}),
                        out,
                    );
                }
            }
        }
    }

    pub(super) fn finish(&mut self, violations: &[Violation], out: &mut String) {
        for v in violations {
            self.push(
                &json!({"ph": "i", "s": "g", "pid": PID, "tid": STEPS,
                "ts": self.n, "name": format!("violation: {v}"), "cat": "violation"}),
                out,
            );
        }
        out.push_str(if self.written == 0 {
            "]\n}\n"
        } else {
            "\n  ]\n}\n"
        });
    }
}
