//! `linux record`: the kernel's `cpuhp` tracepoints in a private tracefs instance around a list
//! of operations, converted to the project's events and rendered as `cpuhp run` renders a
//! simulation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use cpuhp::{Context, FailureKind, Rule};
use cpuhp_scenario::{Event, MachineSpec, Outcome, PresetName, Record, Scenario};
use serde_json::Value;

use crate::io::{Fs, SysfsIo};
use crate::ops::{Op, Report, Transaction, plan};
use crate::status::{StateRow, read_states, read_status};
use crate::trace::{Latency, TraceLine, TracePoint, latency_table, latency_text, parse_trace};

/// The tracepoints a recording enables.
pub(crate) const EVENTS: [&str; 3] = ["cpuhp_enter", "cpuhp_multi_enter", "cpuhp_exit"];

/// Distinguishes the instances of one process.
static INSTANCES: AtomicU32 = AtomicU32::new(0);

/// One callback as the kernel traced it: enter and exit paired.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{record, Op, SimKernel};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let r = record(&mut k, &[Op::Offline(vec![1])], None, "doc")?;
/// let c = &r.calls[1];
/// assert_eq!((c.step, c.symbol.as_str(), c.bringup, c.ret), (235, "sched_cpu_deactivate", false, Some(0)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Call {
    /// The operation it belongs to (index into [`Recording::ops`]).
    pub op: usize,
    /// The CPU it was for.
    pub cpu: u32,
    /// The state.
    pub step: u32,
    /// The callback.
    pub symbol: String,
    /// Startup (`true`: the step is at or below the target) or teardown.
    pub bringup: bool,
    /// `cpuhp_multi_enter`.
    pub multi: bool,
    /// Where it ran.
    #[serde(serialize_with = "ser_context")]
    pub context: Context,
    /// 0 or a negative errno (`None` if the exit was not recorded).
    pub ret: Option<i32>,
    /// The CPU's state after it.
    pub state_after: Option<u32>,
}

fn context_name(c: Context) -> &'static str {
    match c {
        Context::Control => "control",
        Context::ApThread => "cpu-thread",
        Context::ApAtomic => "cpu-atomic",
    }
}

fn ser_context<S: serde::Serializer>(c: &Context, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(context_name(*c))
}

/// What a recording captured.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{record, Op, SimKernel};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let r = record(&mut k, &[Op::Offline(vec![1])], None, "doc")?;
/// assert_eq!((r.ops.len(), r.op_results[0].is_none(), r.nr_cpus), (1, true, 2));
/// assert_eq!(r.raw.len(), 2 * r.calls.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Recording {
    /// The operations, as written.
    pub ops: Vec<String>,
    /// How each operation that ran ended: `None` ok, else the error.
    pub op_results: Vec<Option<String>>,
    /// Ok, or the first failed operation's error (the transaction then restored).
    pub outcome: Result<(), crate::Error>,
    /// The writes and what was restored.
    pub report: Report,
    /// The tracepoints, per operation.
    pub lines: Vec<Vec<TraceLine>>,
    /// The `cpuhp_*` lines of `trace`, verbatim, in order.
    pub raw: Vec<String>,
    /// The callbacks, enter and exit paired, in order.
    pub calls: Vec<Call>,
    /// The live state table.
    pub states: Vec<StateRow>,
    /// Each CPU's state before the first operation.
    pub states_before: Vec<u32>,
    /// Each CPU's state after each operation.
    pub states_after: Vec<Vec<u32>>,
    /// How many CPUs.
    pub nr_cpus: u32,
    /// The kernel release.
    pub kernel: Option<String>,
    /// The tracefs instance used (removed again).
    pub instance: String,
    /// The ring buffers that instance allocated while it existed ([`ring_buffers_of`]): each is
    /// an instance of [`RING_BUFFER_STATE`], so bring-ups recorded here call that state's
    /// startup this many times more than they would without the recording.
    pub own_ring_buffers: u32,
}

/// The multi-instance state whose instances are the tracing ring buffers: every ring buffer the
/// kernel allocates registers with it (`trace_rb_cpu_prepare` then runs once per buffer when a
/// CPU comes up). A recording's own tracefs instance adds to them.
pub const RING_BUFFER_STATE: &str = "trace/RB:prepare";

/// How many ring buffers the tracefs instance at `dir` allocated: its trace buffer, plus the
/// "max" buffer that kernels with snapshot support (a `snapshot` file) allocate beside it.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{ring_buffers_of, Fs, SimKernel, SysfsIo};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// k.mkdir(Fs::Tracing, "instances/doc")?;
/// assert_eq!(ring_buffers_of(&k, "instances/doc"), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ring_buffers_of(io: &dyn SysfsIo, dir: &str) -> u32 {
    1 + u32::from(io.exists(Fs::Tracing, &format!("{dir}/snapshot")))
}

/// A private tracefs instance, removed on drop (also when a panic unwinds).
struct InstanceGuard<'a> {
    io: &'a mut dyn SysfsIo,
    dir: String,
    removed: Option<Result<(), crate::IoError>>,
}

impl InstanceGuard<'_> {
    fn remove(&mut self) -> Result<(), crate::IoError> {
        if let Some(r) = &self.removed {
            return r.clone();
        }
        // Stop recording first: an instance with tracing on and events enabled can still be
        // removed, but disabling first leaves nothing behind if rmdir fails.
        let _ = self
            .io
            .write(Fs::Tracing, &format!("{}/tracing_on", self.dir), "0");
        let r = self.io.rmdir(Fs::Tracing, &self.dir);
        self.removed = Some(r.clone());
        r
    }
}

impl Drop for InstanceGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("warning: tracefs instance not removed: {e}");
        }
    }
}

fn cpu_states(io: &dyn SysfsIo, top: u32) -> Result<Vec<u32>, crate::Error> {
    Ok(read_status(io)?
        .iter()
        .map(|r| r.state.unwrap_or(if r.online { top } else { 0 }))
        .collect())
}

/// Records `ops` (applied in one [`Transaction`]: kept if all succeed, restored if one fails or
/// the interrupt flag is set) into the private instance `instances/cpuhp-<pid>-<n>` (`tag`
/// replaces `<pid>` when given — tests), which is always removed afterwards.
///
/// # Errors
///
/// The instance cannot be created or set up, the plan is refused, `trace` cannot be read or
/// parsed. A failing *operation* is not an error: it is in [`Recording::outcome`].
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{record, Op, SimKernel};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let r = record(&mut k, &[Op::Offline(vec![1]), Op::Online(vec![1])], None, "doc")?;
/// assert_eq!(r.instance, "cpuhp-doc-0");
/// assert!(k.instances().is_empty(), "removed");
/// assert_eq!(r.states_after, [vec![236, 0], vec![236, 236]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn record(
    io: &mut dyn SysfsIo,
    ops: &[Op],
    interrupt: Option<&AtomicBool>,
    tag: &str,
) -> Result<Recording, crate::Error> {
    record_with(io, ops, interrupt, tag, true)
}

/// [`record`], and with `keep: false` everything is put back afterwards even when every
/// operation succeeded (a sweep case leaves the machine as it found it).
pub(crate) fn record_with(
    io: &mut dyn SysfsIo,
    ops: &[Op],
    interrupt: Option<&AtomicBool>,
    tag: &str,
    keep: bool,
) -> Result<Recording, crate::Error> {
    let states = read_states(io)?;
    let top = states.last().map_or(0, |r| r.number);
    let nr_cpus = read_status(io)?.len() as u32;
    let kernel = io
        .read(Fs::Root, "proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
        .or_else(|| io.uname_release());
    if let Err(why) = io.tracefs() {
        return Err(crate::Error::Usage(format!("cannot record: {why}")));
    }
    let states_before = cpu_states(io, top)?;
    let n = INSTANCES.fetch_add(1, Ordering::SeqCst);
    let tag = if tag.is_empty() {
        std::process::id().to_string()
    } else {
        tag.to_string()
    };
    let instance = format!("cpuhp-{tag}-{n}");
    let dir = format!("instances/{instance}");
    io.mkdir(Fs::Tracing, &dir)?;
    let own_ring_buffers = ring_buffers_of(&*io, &dir);
    let mut guard = InstanceGuard {
        io,
        dir: dir.clone(),
        removed: None,
    };
    // The hotplug thread and the control task trace on different CPUs; the default (local)
    // clock is not ordered across CPUs, the global one is. Best effort: an older kernel without
    // it still records, with per-CPU timestamps.
    let _ = guard
        .io
        .write(Fs::Tracing, &format!("{dir}/trace_clock"), "global");
    for ev in EVENTS {
        guard
            .io
            .write(Fs::Tracing, &format!("{dir}/events/cpuhp/{ev}/enable"), "1")?;
    }
    guard
        .io
        .write(Fs::Tracing, &format!("{dir}/tracing_on"), "1")?;
    let trace_file = format!("{dir}/trace");

    let mut lines: Vec<Vec<TraceLine>> = Vec::new();
    let mut raw: Vec<String> = Vec::new();
    let mut op_results = Vec::new();
    let mut states_after = Vec::new();
    let mut outcome = Ok(());
    let report;
    {
        let mut tx = Transaction::new(&mut *guard.io, interrupt);
        let mut seen = 0;
        for op in ops {
            let p = plan(tx.io(), op)?;
            let r = tx.apply(&p);
            let text = tx.io().read(Fs::Tracing, &trace_file)?;
            let cpuhp: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#') && l.contains(": cpuhp_"))
                .collect();
            let new = cpuhp.get(seen..).unwrap_or_default();
            seen = cpuhp.len();
            raw.extend(new.iter().map(|s| (*s).to_string()));
            lines.push(parse_trace(&new.join("\n")).map_err(crate::Error::Parse)?);
            states_after.push(cpu_states(tx.io(), top)?);
            match r {
                Ok(()) => op_results.push(None),
                Err(e) => {
                    op_results.push(Some(e.to_string()));
                    outcome = Err(e);
                    break;
                }
            }
        }
        report = if outcome.is_ok() && keep {
            tx.commit()
        } else {
            tx.rollback()
        };
    }
    guard.remove()?;
    let calls = pair_calls(&lines);
    Ok(Recording {
        ops: ops.iter().map(ToString::to_string).collect(),
        op_results,
        outcome,
        report,
        lines,
        raw,
        calls,
        states,
        states_before,
        states_after,
        nr_cpus,
        kernel,
        instance,
        own_ring_buffers,
    })
}

/// Pairs each exit with the open enter of the same CPU and step.
fn pair_calls(lines: &[Vec<TraceLine>]) -> Vec<Call> {
    let mut calls: Vec<Call> = Vec::new();
    for (op, ls) in lines.iter().enumerate() {
        let mut open: Vec<usize> = Vec::new();
        for l in ls {
            match &l.point {
                TracePoint::Enter {
                    cpu,
                    target,
                    step,
                    symbol,
                    multi,
                } => {
                    open.push(calls.len());
                    calls.push(Call {
                        op,
                        cpu: *cpu,
                        step: *step,
                        symbol: symbol.clone(),
                        bringup: step <= target,
                        multi: *multi,
                        context: l.context,
                        ret: None,
                        state_after: None,
                    });
                }
                TracePoint::Exit {
                    cpu,
                    state,
                    step,
                    ret,
                } => {
                    if let Some(i) = open
                        .iter()
                        .rposition(|&c| calls[c].cpu == *cpu && calls[c].step == *step)
                    {
                        let c = open.remove(i);
                        calls[c].ret = Some(*ret);
                        calls[c].state_after = Some(*state);
                    }
                }
            }
        }
    }
    calls
}

/// A kernel call whose exit is still to come.
struct Open {
    cpu: u32,
    step: u32,
    bringup: bool,
    instance: Option<String>,
    context: &'static str,
    rollback: bool,
    /// Its `Enter`'s index among the events.
    at: usize,
}

/// The rollback facts of one operation's kernel calls. The kernel's tracepoints do not say
/// whether a call undoes a failure, so they are read here, once, by the rules the kernel walks
/// by (docs/rules.md, `walk`, `startup-failure` and `teardown-failure`): within one operation a
/// CPU's walk goes one way, the way of its first call, and turns around only to undo a failure —
/// which may not be traced itself (an injected failure returns before the tracepoint).
#[derive(Default)]
struct KernelWalks {
    /// Per CPU: the operation's direction.
    cpus: BTreeMap<u32, bool>,
}

impl KernelWalks {
    /// A call on `cpu` begins: whether it undoes a failure.
    fn enter(&mut self, cpu: u32, bringup: bool) -> bool {
        let forward = *self.cpus.entry(cpu).or_insert(bringup);
        bringup != forward
    }
}

impl Recording {
    /// The per-state latency table, slowest first.
    pub fn latencies(&self) -> Vec<Latency> {
        latency_table(&self.lines.concat())
    }

    /// The recording as a simulator [`Record`] (steps, enters and exits), and the kernel
    /// timestamp of each of its events (a step's begin and end take their neighbours').
    pub fn to_record(&self) -> (Record, Vec<Option<u64>>) {
        // A setup step with no events carries the states before the first operation, which
        // the timeline compares the first operation's result with.
        let mut events = vec![
            Event::Step {
                index: 0,
                what: "read the CPUs' states".into(),
                op: false,
            },
            Event::StepDone {
                index: 0,
                outcome: Outcome::Ok,
            },
        ];
        let first = self.lines.iter().flatten().find_map(|l| l.ts_us);
        let mut ts = vec![first, first];
        for (i, ls) in self.lines.iter().enumerate() {
            events.push(Event::Step {
                index: i + 1,
                what: self.ops[i].clone(),
                op: true,
            });
            ts.push(ls.iter().find_map(|l| l.ts_us));
            // Which instance a multi-instance call is: its position among consecutive calls.
            let mut last_multi: Option<(u32, u32, bool)> = None;
            let mut nth = 0;
            let mut open: Vec<Open> = Vec::new();
            let mut walks = KernelWalks::default();
            for l in ls {
                let context = context_name(l.context);
                match &l.point {
                    TracePoint::Enter {
                        cpu,
                        target,
                        step,
                        symbol,
                        multi,
                    } => {
                        let bringup = step <= target;
                        let instance = multi.then(|| {
                            if last_multi == Some((*cpu, *step, bringup)) {
                                nth += 1;
                            } else {
                                nth = 1;
                            }
                            last_multi = Some((*cpu, *step, bringup));
                            format!("#{nth}")
                        });
                        let rollback = walks.enter(*cpu, bringup);
                        open.push(Open {
                            cpu: *cpu,
                            step: *step,
                            bringup,
                            instance: instance.clone(),
                            context,
                            rollback,
                            at: events.len(),
                        });
                        events.push(Event::Enter {
                            cpu: *cpu,
                            target: *target,
                            step: *step,
                            symbol: symbol.clone(),
                            bringup,
                            instance,
                            context,
                            rollback,
                            rule: Rule::of_call(rollback, bringup),
                        });
                    }
                    TracePoint::Exit {
                        cpu,
                        state,
                        step,
                        ret,
                    } => {
                        let o = match open.iter().rposition(|o| o.cpu == *cpu && o.step == *step) {
                            Some(k) => open.remove(k),
                            None => Open {
                                cpu: *cpu,
                                step: *step,
                                bringup: false,
                                instance: None,
                                context,
                                rollback: false,
                                at: events.len(),
                            },
                        };
                        let (rule, failure) = if *ret == 0 {
                            (Rule::of_call(o.rollback, o.bringup), None)
                        } else {
                            // A call with calls inside it (`bringup_cpu` waiting for the CPU's
                            // hotplug thread) passes their failure on.
                            let nested = events.len() > o.at + 1;
                            let kind = if nested {
                                FailureKind::Nested
                            } else {
                                FailureKind::Callback
                            };
                            (Rule::of_failure(o.rollback, o.bringup), Some(kind))
                        };
                        events.push(Event::Exit {
                            cpu: *cpu,
                            state: *state,
                            step: *step,
                            bringup: o.bringup,
                            instance: o.instance,
                            ret: *ret,
                            context: o.context,
                            rollback: o.rollback,
                            rule,
                            failure,
                        });
                    }
                }
                ts.push(l.ts_us);
            }
            let outcome = match self.op_results.get(i).cloned().flatten() {
                None => Outcome::Ok,
                Some(e) => Outcome::Failed {
                    errno: e.rsplit(": ").next().unwrap_or(&e).to_string(),
                    kind: "Write".into(),
                    failure: self
                        .calls
                        .iter()
                        .find(|c| c.op == i && c.ret.is_some_and(|r| r != 0))
                        .map(|c| format!("{} {}", c.step, c.symbol)),
                    rollback_failure: None,
                },
            };
            events.push(Event::StepDone {
                index: i + 1,
                outcome,
            });
            ts.push(ls.iter().rev().find_map(|l| l.ts_us));
        }
        let state_names: BTreeMap<u32, String> = self
            .states
            .iter()
            .map(|r| (r.number, r.name.clone()))
            .collect();
        let mut states_after = vec![self.states_before.clone()];
        states_after.extend(self.states_after.iter().cloned());
        let mut steps = vec!["read the CPUs' states".to_string()];
        steps.extend(self.ops.iter().cloned());
        let record = Record {
            events,
            steps,
            setup_steps: 1,
            violations: Vec::new(),
            final_states: states_after.last().cloned().unwrap_or_default(),
            states_before: self.states_before.clone(),
            states_after,
            state_names,
            stopped_at: None,
            reached: Vec::new(),
        };
        (record, ts)
    }
}

/// How to render a recording.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{record, render_recording, Op, RecordFormat, SimKernel};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let r = record(&mut k, &[Op::Offline(vec![1])], None, "doc")?;
/// assert!(render_recording(&r, RecordFormat::Ftrace, false).starts_with("# tracer: nop\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// The simulator's timeline, then the latency table.
    Timeline,
    /// The kernel's own `trace` lines, verbatim (real timestamps).
    Ftrace,
    /// Chrome trace-event JSON with the kernel's timestamps (microseconds from the first event).
    Perfetto,
    /// One JSON object per event (the simulator's event objects plus `ts_us`).
    Jsonl,
}

/// Renders a recording as `cpuhp run` renders a simulation.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{record, render_recording, Op, RecordFormat, SimKernel};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let r = record(&mut k, &[Op::Offline(vec![1])], None, "doc")?;
/// let text = render_recording(&r, RecordFormat::Timeline, false);
/// assert!(text.contains("── 1. offline 1"));
/// assert!(text.contains("STATE DIR"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_recording(r: &Recording, format: RecordFormat, color: bool) -> String {
    let (rec, ts) = r.to_record();
    let scenario = Scenario {
        machine: MachineSpec {
            cpus: r.nr_cpus,
            threads_per_core: 1,
            smt: cpuhp::SmtControl::NotSupported,
            preset: PresetName::Linux61,
        },
        states: Vec::new(),
        notifiers: Vec::new(),
        ops: Vec::new(),
        faults: Vec::new(),
    };
    let t0 = ts.iter().flatten().copied().min().unwrap_or(0);
    match format {
        RecordFormat::Timeline => {
            let text =
                cpuhp_scenario::render(&rec, &scenario, cpuhp_scenario::Format::Timeline, color);
            // The simulator's header describes a scenario; this is a kernel.
            let body = text.split_once('\n').map_or("", |(_, b)| b);
            format!(
                "linux · {} CPUs · kernel {} · {} operations\n{body}\n{}",
                r.nr_cpus,
                r.kernel.as_deref().unwrap_or("unknown"),
                r.ops.len(),
                latency_text(&r.latencies())
            )
        }
        RecordFormat::Ftrace => {
            let mut out = String::from("# tracer: nop\n#\n");
            for l in &r.raw {
                out.push_str(l);
                out.push('\n');
            }
            out
        }
        RecordFormat::Perfetto => {
            let text =
                cpuhp_scenario::render(&rec, &scenario, cpuhp_scenario::Format::Perfetto, false);
            retime_perfetto(&text, &ts, t0)
        }
        RecordFormat::Jsonl => {
            let mut out = String::new();
            for (e, t) in rec.events.iter().zip(&ts) {
                let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "ts_us".into(),
                        t.map_or(Value::Null, |t| Value::from(t - t0)),
                    );
                }
                out.push_str(&v.to_string());
                out.push('\n');
            }
            out
        }
    }
}

/// The simulator's Perfetto output uses the event index as time; put the kernel's there.
fn retime_perfetto(text: &str, ts: &[Option<u64>], t0: u64) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(text) else {
        return text.to_string();
    };
    let at = |i: u64| ts.get(i as usize).copied().flatten().map_or(i, |t| t - t0);
    let list = match &mut v {
        Value::Array(a) => Some(a),
        Value::Object(m) => m.get_mut("traceEvents").and_then(Value::as_array_mut),
        _ => None,
    };
    for e in list.into_iter().flatten() {
        let Some(m) = e.as_object_mut() else { continue };
        let Some(start) = m.get("ts").and_then(Value::as_u64) else {
            continue;
        };
        let new_start = at(start);
        if let Some(dur) = m.get("dur").and_then(Value::as_u64) {
            let end = at(start + dur);
            m.insert(
                "dur".into(),
                Value::from(end.saturating_sub(new_start).max(1)),
            );
        }
        m.insert("ts".into(), Value::from(new_start));
    }
    v.to_string()
}
