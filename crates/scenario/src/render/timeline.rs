//! The human timeline: each operation as a block, one line per callback, notifier event and
//! platform failure, each saying where it ran, what it returned and which rule put it there.
//! Setup steps are summarised in one line each unless something in them failed.
//!
//! Fitted to a width (the default), contexts are abbreviated and each rule is a short key that a
//! legend, printed once at the end, spells out; long lines wrap. Wide, each line spells its rule
//! out however long it gets.

use std::collections::BTreeMap;
use std::fmt::Write;

use anstyle::{AnsiColor, Effects, Style};

use crate::journal::{Event, Outcome};
use crate::run::Record;
use crate::scenario::{Op, PlatformStep, Scenario};

use super::{Chunk, Ending, Width};

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

/// Where a line's callback ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Control,
    /// The CPU's hotplug thread.
    Thread(u32),
    /// On the CPU, interrupts off.
    Atomic(u32),
    Platform,
    /// A notifier's event: where its bridge callback runs.
    None,
}

impl Place {
    fn of(context: &str, cpu: u32) -> Place {
        match context {
            "cpu-thread" => Place::Thread(cpu),
            "cpu-atomic" => Place::Atomic(cpu),
            _ => Place::Control,
        }
    }

    fn wide(self) -> String {
        match self {
            Place::Control => "control".into(),
            Place::Thread(c) => format!("CPU{c} thread"),
            Place::Atomic(c) => format!("CPU{c} irqs-off"),
            Place::Platform => "platform".into(),
            Place::None => String::new(),
        }
    }

    fn short(self) -> String {
        match self {
            Place::Control => "ctl".into(),
            Place::Thread(c) => format!("cpu{c}"),
            Place::Atomic(c) => format!("irq{c}"),
            Place::Platform => "plat".into(),
            Place::None => String::new(),
        }
    }
}

/// `1 state`, `2 states`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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

/// Why a line is where it is: the short key of the fitted layout (spelled out in the legend)
/// and the text of the wide layout.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Why {
    key: &'static str,
    wide: String,
}

fn why(key: &'static str, wide: impl Into<String>) -> Why {
    Why {
        key,
        wide: wide.into(),
    }
}

/// The legend of the fitted layout: every rule key, in the order the legend lists them.
const RULES: &[(&str, &str)] = &[
    ("7", "rule 7: CPU_UP_PREPARE; a notifier may veto it"),
    (
        "7 seed",
        "rule 7, the seed: a veto of CPU_UP_PREPARE sends CPU_UP_CANCELED to the notifiers \
         called before it only",
    ),
    (
        "7 undo",
        "rule 7: CPU_UP_CANCELED, only to the notifiers that said OK",
    ),
    (
        "7 irq",
        "rule 7: CPU_STARTING, on the new CPU with interrupts off; cannot fail",
    ),
    ("7 up", "rule 7: CPU_ONLINE: the CPU is up"),
    ("8", "rule 8: CPU_DOWN_PREPARE; a notifier may veto it"),
    (
        "8 seed",
        "rule 8, the seed: a veto of CPU_DOWN_PREPARE sends CPU_DOWN_FAILED to the notifiers \
         called before it only",
    ),
    (
        "8 undo",
        "rule 8: CPU_DOWN_FAILED, only to the notifiers that said OK",
    ),
    (
        "8 irq",
        "rule 8: CPU_DYING, on the dying CPU with interrupts off; cannot fail",
    ),
    ("8 dead", "rule 8: CPU_DEAD; cannot fail"),
    (
        "8 post",
        "rule 8: CPU_POST_DEAD, after the hotplug lock is released",
    ),
    (
        "11",
        "rule 11: a walk calls the startups in ascending state order, the teardowns descending",
    ),
    (
        "11 boot",
        "rule 11: bringup_cpu boots the CPU, waits for it and hands it on",
    ),
    (
        "11 alive",
        "rule 11: cpuhp_kick_ap_alive kicks the CPU, which boots meanwhile",
    ),
    (
        "11 kick",
        "rule 11: cpuhp_kick_ap_work hands the ONLINE section to the CPU's hotplug thread",
    ),
    (
        "11 stop",
        "rule 11: takedown_cpu stops the CPU (stop_machine)",
    ),
    (
        "11 sched",
        "rule 11: the scheduler starts (activate) or stops (deactivate) using the CPU",
    ),
    (
        "11 chain",
        "rule 11: a bridge state; it calls the legacy notifier chain",
    ),
    (
        "12",
        "rule 12: a failed startup gets no teardown; what succeeded is undone",
    ),
    ("12 undo", "rule 12: undoing a failed bring-up, descending"),
    (
        "12 veto",
        "rule 12: the notifier chain vetoed; this state gets no teardown",
    ),
    (
        "12 noveto",
        "rule 12: undoing a bring-up; a notifier's veto cannot stop it",
    ),
    (
        "13",
        "rule 13: a failed teardown: it and the states below stay up; the ones above come back",
    ),
    (
        "13 redo",
        "rule 13: undoing a failed tear-down: startups again, ascending",
    ),
    (
        "14",
        "rule 14: a failure during a rollback: no second reversal; reported",
    ),
    (
        "15",
        "rule 15: a multi-instance state calls its instances newest first",
    ),
    (
        "16",
        "rule 16: installing a state or an instance runs its startup on each CPU that reached \
         it, ascending",
    ),
    ("16 fail", "rule 16: the install fails; nothing of it stays"),
    ("16 undo", "rule 16: undone on the CPUs before the failure"),
    (
        "end",
        "the notifier answered with the stop bit (NOTIFY_STOP): the walk ends there, without a \
         failure; the notifiers after it do not hear the event",
    ),
    (
        "inner",
        "passes on the failure of a callback that ran inside it",
    ),
    ("fault", "a platform failure, injected"),
];

/// Why a notifier event happened, by the legacy rules 7–9.
fn notifier_rule(action: &str, ret: i32) -> Option<Why> {
    let base = action.trim_end_matches("_FROZEN");
    Some(match (base, ret != 0) {
        ("CPU_UP_PREPARE", true) => why(
            "7 seed",
            "rule 7, the seed: veto → CPU_UP_CANCELED to the notifiers before it only",
        ),
        ("CPU_UP_PREPARE", false) => why("7", "rule 7: may veto"),
        ("CPU_DOWN_PREPARE", true) => why(
            "8 seed",
            "rule 8, the seed: veto → CPU_DOWN_FAILED to the notifiers before it only",
        ),
        ("CPU_DOWN_PREPARE", false) => why("8", "rule 8: may veto"),
        ("CPU_UP_CANCELED", _) => why("7 undo", "rule 7: undo, only for those that said OK"),
        ("CPU_DOWN_FAILED", _) => why("8 undo", "rule 8: undo, only for those that said OK"),
        ("CPU_STARTING", _) => why(
            "7 irq",
            "rule 7: on the new CPU, interrupts off; cannot fail",
        ),
        ("CPU_DYING", _) => why(
            "8 irq",
            "rule 8: on the dying CPU, interrupts off; cannot fail",
        ),
        ("CPU_ONLINE", _) => why("7 up", "rule 7: the CPU is up"),
        ("CPU_DEAD", _) => why("8 dead", "rule 8: cannot fail"),
        ("CPU_POST_DEAD", _) => why("8 post", "rule 8: after the hotplug lock is released"),
        _ => return None,
    })
}

/// What a core state's callback does, for the reader.
fn builtin_note(symbol: &str, cpu: u32) -> Option<Why> {
    let (key, note) = match symbol {
        "bringup_cpu" => (
            "11 boot",
            format!("boots CPU {cpu}, waits for it, hands it on"),
        ),
        "cpuhp_kick_ap_work" => (
            "11 kick",
            format!("CPU {cpu}'s hotplug thread walks its ONLINE section"),
        ),
        "cpuhp_kick_ap_alive" => ("11 alive", format!("kicks CPU {cpu} (it boots meanwhile)")),
        "takedown_cpu" => ("11 stop", format!("stops CPU {cpu} (stop_machine)")),
        "sched_cpu_activate" => ("11 sched", "the scheduler uses the CPU".into()),
        "sched_cpu_deactivate" => ("11 sched", "the scheduler stops using the CPU".into()),
        "notify_prepare"
        | "notify_dead"
        | "notify_starting"
        | "notify_dying"
        | "notify_online"
        | "notify_down_prepare" => ("11 chain", "legacy notifier chain".into()),
        _ => return None,
    };
    Some(why(key, format!("rule 11 · {note}")))
}

/// A piece of text, painted or not.
type Seg = (Option<Style>, String);

/// One line of the timeline, before it is laid out.
enum Line {
    /// A blank line, then a bold heading.
    Head(String),
    /// Free text: wrapped when fitted, with continuation lines indented by `indent + 2`.
    Text { indent: usize, segs: Vec<Seg> },
    /// A callback, a notifier's event or a platform failure.
    Row(Row),
}

struct Row {
    place: Place,
    step: Option<u32>,
    /// `↑`, `↓`, `•` or `✗`, with its style.
    mark: Seg,
    what: String,
    result: String,
    style: Style,
    why: Option<Why>,
}

fn text(indent: usize, segs: Vec<Seg>) -> Line {
    Line::Text { indent, segs }
}

fn plain(s: impl Into<String>) -> Seg {
    (None, s.into())
}

fn styled(style: Style, s: impl Into<String>) -> Seg {
    (Some(style), s.into())
}

/// The column widths of the fitted layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Columns {
    columns: usize,
    place_w: usize,
    result_w: usize,
    what_w: usize,
}

impl Columns {
    /// Sized to the rows: what a whole run shows.
    fn exact<'a>(rows: impl Iterator<Item = &'a Row> + Clone, columns: usize) -> Columns {
        let place_w = rows
            .clone()
            .map(|r| r.place.short().len())
            .max()
            .unwrap_or(0)
            .max(3);
        let result_w = rows
            .clone()
            .map(|r| r.result.chars().count())
            .max()
            .unwrap_or(0);
        let key_w = rows
            .clone()
            .map(|r| r.why.as_ref().map_or(0, |w| w.key.len()))
            .max()
            .unwrap_or(0);
        let longest = rows.map(|r| r.what.chars().count()).max().unwrap_or(0);
        Columns::fit(columns, place_w, result_w, key_w, longest)
    }

    /// Sized before the run, from the scenario: at least as wide as anything its run can show
    /// (every CPU, errno, rule key and callback, notifier or platform failure it could print,
    /// nested as deep as it could be), and as wide as what it shows when the run shows each of
    /// them — so that a run can be printed as it goes.
    pub(super) fn bound(s: &Scenario, columns: usize) -> Columns {
        let preset = s.machine.preset.preset();
        let layout = preset.layout;
        let digits = |n: u32| n.to_string().len();
        // The CPUs rows can name: those the operations name, or all of them when an operation
        // (or a failing install) walks every CPU.
        let every_cpu = s.states.iter().any(|st| !st.fail.is_empty())
            || s.ops.iter().any(|o| {
                !matches!(
                    o.op,
                    Op::Up { .. }
                        | Op::Down { .. }
                        | Op::ParallelUp(_)
                        | Op::DisableHotplug
                        | Op::EnableHotplug
                )
            });
        let top_cpu = if every_cpu {
            s.machine.cpus.saturating_sub(1)
        } else {
            s.ops
                .iter()
                .flat_map(|o| match &o.op {
                    Op::Up { cpu, .. } | Op::Down { cpu, .. } => vec![*cpu],
                    Op::ParallelUp(cpus) => cpus.clone(),
                    _ => Vec::new(),
                })
                .max()
                .unwrap_or(0)
        };
        let cpu_w = digits(top_cpu);
        let place_w = (3 + cpu_w).max(3);
        // Results: ok, a notifier's stop, every errno the scenario plans.
        let mut results = vec!["ok".to_string()];
        let errno = |e: cpuhp::Errno| errno_name(e.to_neg());
        for st in &s.states {
            results.extend(st.fail.iter().map(|f| errno(f.errno)));
        }
        for nb in &s.notifiers {
            results.extend(nb.veto.iter().map(|v| errno(v.errno)));
            results.extend(nb.answer.iter().map(|a| match a.ret.to_errno() {
                0 if a.ret.is_stop() => "stop".to_string(),
                ret => errno_name(ret),
            }));
        }
        results.extend(s.faults.iter().map(|f| errno(f.errno)));
        let result_w = results.iter().map(|r| r.chars().count()).max().unwrap_or(0);
        let key_w = RULES.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        // Callbacks: on the control side unindented, on the CPU inside the control side's
        // hand-off (one level, two columns).
        let on_cpu = |n: u32| {
            n > layout.bringup_cpu.get()
                && n != layout.teardown_cpu.get()
                && n < layout.online.get()
        };
        let preset_instances: u32 = preset
            .states
            .iter()
            .map(|st| match st.kind {
                cpuhp::preset::PresetKind::Multi(n) => n,
                cpuhp::preset::PresetKind::Single => 0,
            })
            .sum();
        let mut longest = "cpuhp_kick_ap_work".len();
        for st in preset.states {
            let indent = if on_cpu(st.number) { 2 } else { 0 };
            let inst = match st.kind {
                // No instance, no call (a scenario adds instances to its own states only).
                cpuhp::preset::PresetKind::Multi(0) => continue,
                cpuhp::preset::PresetKind::Multi(_) => " [#]".len() + digits(preset_instances),
                cpuhp::preset::PresetKind::Single => 0,
            };
            for sym in [st.startup, st.teardown].into_iter().flatten() {
                longest = longest.max(indent + sym.chars().count() + inst);
            }
        }
        for st in s.states.iter().filter(|st| st.startup || st.teardown) {
            let indent = if st.section == cpuhp::Section::Prepare {
                0
            } else {
                2
            };
            let inst = if st.multi {
                // Its instances: those it starts with and those the operations add.
                let added = s.ops.iter().filter_map(|o| match &o.op {
                    Op::AddInstance { state, name } if *state == st.name => Some(name),
                    _ => None,
                });
                match st
                    .instances
                    .iter()
                    .chain(added)
                    .map(|n| n.chars().count())
                    .max()
                {
                    Some(n) => " []".len() + n,
                    // No instance, no call.
                    None => continue,
                }
            } else {
                0
            };
            longest = longest.max(indent + st.name.chars().count() + inst);
        }
        if !s.notifiers.is_empty() {
            // The bridge states, and the notifiers' events one level inside them.
            for (indent, sym) in [
                (0, "notify_prepare"),
                (0, "notify_dead"),
                (2, "notify_starting"),
                (2, "notify_dying"),
                (2, "notify_online"),
                (2, "notify_down_prepare"),
            ] {
                longest = longest.max(indent + sym.len());
            }
            let frozen = s.ops.iter().any(|o| matches!(o.op, Op::Freeze | Op::Thaw));
            let suffix = if frozen { "_FROZEN".len() } else { 0 };
            let events = [
                (0, "CPU_POST_DEAD"),
                (2, "CPU_UP_PREPARE"),
                (2, "CPU_UP_CANCELED"),
                (2, "CPU_DEAD"),
                (4, "CPU_STARTING"),
                (4, "CPU_DYING"),
                (4, "CPU_ONLINE"),
                (4, "CPU_DOWN_PREPARE"),
                (4, "CPU_DOWN_FAILED"),
            ];
            for nb in &s.notifiers {
                for (indent, ev) in events {
                    // `{notifier}: {event} {cpu}`
                    let n = indent + nb.name.chars().count() + 2 + ev.len() + suffix + 1 + cpu_w;
                    longest = longest.max(n);
                }
            }
        }
        for f in &s.faults {
            let cpu = f.cpu.map_or(cpu_w, digits);
            let words = match f.on {
                PlatformStep::Kick => "the kick of CPU  fails".len(),
                PlatformStep::Boot => "CPU  fails to boot".len(),
                PlatformStep::Stop => "CPU  refuses to stop".len(),
            };
            longest = longest.max(words + cpu);
        }
        Columns::fit(columns, place_w, result_w, key_w, longest)
    }

    fn fit(
        columns: usize,
        place_w: usize,
        result_w: usize,
        key_w: usize,
        longest: usize,
    ) -> Columns {
        // Two spaces, place, step, mark, what, result, key, with a space between each.
        let fixed = 2 + place_w + 1 + 3 + 1 + 1 + 1 + 1 + result_w + 1 + key_w;
        let what_w = longest.min(columns.saturating_sub(fixed)).max(12);
        Columns {
            columns,
            place_w,
            result_w,
            what_w,
        }
    }
}

/// How the lines are laid out.
#[derive(Clone, Copy, Debug)]
enum Layout {
    Wide,
    Fitted(Columns),
}

/// The timeline, a step at a time: each step's lines laid out as soon as it is given, the
/// legend (the rule keys and places the run used) at the end.
pub(super) struct Timeline {
    p: Painter,
    layout: Layout,
    in_setup_header: bool,
    keys: Vec<&'static str>,
    places: [bool; 4],
}

impl Timeline {
    /// `columns`: the fitted layout's widths (`None` for [`Width::Wide`]).
    pub(super) fn new(color: bool, width: Width, columns: Option<Columns>) -> Timeline {
        let layout = match (width, columns) {
            (Width::Columns(_), Some(c)) => Layout::Fitted(c),
            _ => Layout::Wide,
        };
        Timeline {
            p: Painter { color },
            layout,
            in_setup_header: false,
            keys: Vec::new(),
            places: [false; 4],
        }
    }

    /// The first line: the machine and what the scenario has.
    pub(super) fn start(&mut self, s: &Scenario, out: &mut String) {
        let line = header(s);
        self.emit(out, &line);
    }

    /// A step's lines.
    pub(super) fn step(&mut self, s: &Scenario, c: &Chunk<'_>, out: &mut String) {
        for line in self.lines(s, c) {
            self.emit(out, &line);
        }
    }

    /// The end of the run, and the legend.
    pub(super) fn finish(&mut self, s: &Scenario, e: &Ending<'_>, out: &mut String) {
        for line in ending(e) {
            self.emit(out, &line);
        }
        if let Layout::Fitted(c) = self.layout {
            self.legend(out, s, e.state_names, c.columns);
        }
    }

    fn emit(&mut self, out: &mut String, line: &Line) {
        let p = &self.p;
        match self.layout {
            Layout::Wide => match line {
                Line::Head(h) => {
                    let _ = writeln!(out, "\n{}", p.paint(HEAD, h));
                }
                Line::Text { indent, segs } => {
                    let _ = writeln!(out, "{}{}", " ".repeat(*indent), paint_segs(p, segs));
                }
                Line::Row(r) => {
                    let _ = writeln!(out, "{}", wide_row(p, r));
                }
            },
            Layout::Fitted(c) => match line {
                Line::Head(h) => {
                    let _ = writeln!(out, "\n{}", p.paint(HEAD, &wrap(c.columns, 0, h)));
                }
                Line::Text { indent, segs } => {
                    let _ = writeln!(out, "{}", wrap(c.columns, *indent, &paint_segs(p, segs)));
                }
                Line::Row(r) => {
                    let key = r.why.as_ref().map_or("", |w| w.key);
                    if !key.is_empty() && !self.keys.contains(&key) {
                        self.keys.push(key);
                    }
                    match r.place {
                        Place::Control => self.places[0] = true,
                        Place::Thread(_) => self.places[1] = true,
                        Place::Atomic(_) => self.places[2] = true,
                        Place::Platform => self.places[3] = true,
                        Place::None => {}
                    }
                    fitted_row(out, p, r, key, c);
                }
            },
        }
    }

    /// The legend: the columns, then every rule key the run used.
    fn legend(
        &self,
        out: &mut String,
        s: &Scenario,
        state_names: &BTreeMap<u32, String>,
        columns: usize,
    ) {
        let (p, keys, places) = (&self.p, &self.keys, self.places);
        if keys.is_empty() && !places.contains(&true) {
            return;
        }
        let key_w = keys.iter().map(|k| k.len()).max().unwrap_or(0);
        let _ = writeln!(out, "\n{}", p.paint(HEAD, "legend"));
        let names = [
            "ctl = the control CPU",
            "cpuN = CPU N's hotplug thread",
            "irqN = CPU N with interrupts off",
            "plat = the platform",
        ];
        let used: Vec<&str> = names
            .iter()
            .zip(places)
            .filter(|(_, u)| *u)
            .map(|(n, _)| *n)
            .collect();
        let preset = s.machine.preset.preset();
        let online = state_names
            .iter()
            .find(|(_, n)| n.as_str() == "online")
            .map_or(preset.layout.online.get(), |(k, _)| *k);
        // The places, packed into lines whole: a line never breaks inside one.
        let mut line = String::from("  where:");
        for (k, item) in used.iter().enumerate() {
            let sep = if k + 1 < used.len() { "," } else { "" };
            if line.chars().count() + 1 + item.chars().count() + sep.len() > columns {
                let _ = writeln!(out, "{line}");
                line = "   ".to_string();
            }
            line.push(' ');
            line.push_str(item);
            line.push_str(sep);
        }
        let _ = writeln!(out, "{line}");
        let step = format!(
            "step: the state the callback belongs to (0 is offline, {online} online; \
             `cpuhp states --preset {}` lists the preset's); ↑ a startup, ↓ a teardown, \
             • a legacy notifier's event, ✗ a platform failure",
            preset.name
        );
        let _ = writeln!(out, "{}", wrap(columns, 2, &step));
        for (key, text) in RULES.iter().filter(|(k, _)| keys.contains(k)) {
            let first = format!("  {}  ", p.paint(RULE, &format!("{key:<key_w$}")));
            let rest = " ".repeat(2 + key_w + 2);
            let opts = textwrap::Options::new(columns)
                .initial_indent(&first)
                .subsequent_indent(&rest);
            let _ = writeln!(out, "{}", textwrap::fill(text, opts));
        }
    }

    /// The lines of one step (none for events outside a step).
    fn lines(&mut self, s: &Scenario, c: &Chunk<'_>) -> Vec<Line> {
        let mut out = Vec::new();
        let events = c.events;
        let Some(i) = events.iter().position(|e| matches!(e, Event::Step { .. })) else {
            return out;
        };
        let Event::Step { index, what, op } = &events[i] else {
            return out;
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
            if !self.in_setup_header {
                out.push(Line::Head("── setup".into()));
                self.in_setup_header = true;
            }
            if !failed {
                out.push(summary_line(what, body, c.state_names));
                return out;
            }
        }
        let n = index + 1 - c.setup_steps.min(*index + 1);
        out.push(Line::Head(if *op {
            format!("── {n}. {what}")
        } else {
            format!("── {what}")
        }));
        let install = !op
            || ["add-instance ", "remove-instance ", "remove-state "]
                .iter()
                .any(|w| what.starts_with(w));
        let kick = s.machine.preset.preset().layout.bp_kick_ap.map(|k| k.get());
        step_lines(&mut out, body, !install, kick);
        // The result, and where the CPUs stand.
        let moved: Vec<String> = c
            .before
            .iter()
            .zip(c.after)
            .enumerate()
            .filter(|(_, (b, a))| b != a)
            .map(|(c, (b, a))| format!("CPU {c}: {b} → {a}"))
            .collect();
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
            Outcome::Ok => out.push(text(
                2,
                vec![styled(OK, "⇒ ok:"), plain(format!(" {where_}"))],
            )),
            Outcome::Failed {
                errno,
                kind,
                failure,
                rollback_failure,
            } => {
                let why = failure.clone().unwrap_or_else(|| kind_text(kind));
                out.push(text(
                    2,
                    vec![
                        styled(FAIL, format!("⇒ failed with {errno}:")),
                        plain(format!(" {why}; {where_}")),
                    ],
                ));
                if let Some(r) = rollback_failure {
                    out.push(text(
                        2,
                        vec![
                            styled(FAIL, "⇒"),
                            plain(format!(
                                " rolling back, {r}: the machine is left as it stands (rule 14)"
                            )),
                        ],
                    ));
                }
            }
        }
        for v in c.violations.iter().filter(|v| v.step == *index) {
            out.push(text(2, vec![styled(FAIL, format!("✗ invariant {v}"))]));
        }
        out
    }
}

/// Renders a whole run at once: the fitted layout's columns sized to what the run shows.
pub(super) fn render(rec: &Record, s: &Scenario, color: bool, width: Width) -> String {
    // The lines first, to size the columns to them.
    let mut t = Timeline::new(color, Width::Wide, None);
    let mut lines: Vec<Line> = Vec::new();
    super::for_each_chunk(rec, |c| lines.extend(t.lines(s, c)));
    let columns = match width {
        Width::Columns(columns) => {
            let rows = lines.iter().filter_map(|l| match l {
                Line::Row(r) => Some(r),
                _ => None,
            });
            Some(Columns::exact(rows, columns.max(60)))
        }
        Width::Wide => None,
    };
    let mut t = Timeline::new(color, width, columns);
    let mut out = String::new();
    t.start(s, &mut out);
    for line in &lines {
        t.emit(&mut out, line);
    }
    t.finish(s, &super::ending(rec), &mut out);
    out
}

/// A row of the fitted layout, written straight into `out` (a long run writes millions): place,
/// step, mark, `what` (cut with `…` to fit), result and rule key, trailing blanks trimmed.
fn fitted_row(out: &mut String, p: &Painter, r: &Row, key: &str, c: Columns) {
    let pad = |out: &mut String, from: usize, width: usize| {
        let n = out[from..].chars().count();
        out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    };
    let paint = |out: &mut String, style: Option<Style>, text: &str| match style {
        Some(style) if p.color => {
            let _ = write!(out, "{}{text}{}", style.render(), style.render_reset());
        }
        _ => out.push_str(text),
    };
    let line = out.len();
    out.push_str("  ");
    let from = out.len();
    match r.place {
        Place::Control => out.push_str("ctl"),
        Place::Thread(n) => {
            let _ = write!(out, "cpu{n}");
        }
        Place::Atomic(n) => {
            let _ = write!(out, "irq{n}");
        }
        Place::Platform => out.push_str("plat"),
        Place::None => {}
    }
    pad(out, from, c.place_w);
    match r.step {
        Some(n) => {
            let _ = write!(out, " {n:>3} ");
        }
        None => out.push_str("     "),
    }
    paint(out, r.mark.0, &r.mark.1);
    out.push(' ');
    let from = out.len();
    if r.what.chars().count() > c.what_w {
        out.extend(r.what.chars().take(c.what_w.saturating_sub(1)));
        out.push('…');
    } else {
        out.push_str(&r.what);
    }
    pad(out, from, c.what_w);
    out.push(' ');
    if p.color {
        let _ = write!(out, "{}", r.style.render());
    }
    let from = out.len();
    out.push_str(&r.result);
    pad(out, from, c.result_w);
    if p.color {
        let _ = write!(out, "{}", r.style.render_reset());
    }
    out.push(' ');
    paint(out, Some(RULE), key);
    let kept = out[line..].trim_end().len();
    out.truncate(line + kept);
    out.push('\n');
}

fn wrap(columns: usize, indent: usize, text: &str) -> String {
    // Most lines fit: then filling them changes nothing but the indent.
    let bare = !text.contains('\n') && text.trim() == text;
    if bare && indent + textwrap::core::display_width(text) <= columns {
        let mut s = " ".repeat(indent);
        s.push_str(text);
        return s;
    }
    let first = " ".repeat(indent);
    let rest = " ".repeat(indent + 2);
    let opts = textwrap::Options::new(columns)
        .initial_indent(&first)
        .subsequent_indent(&rest);
    textwrap::fill(text, opts)
}

fn paint_segs(p: &Painter, segs: &[Seg]) -> String {
    segs.iter()
        .map(|(style, t)| match style {
            Some(st) => p.paint(*st, t),
            None => t.clone(),
        })
        .collect()
}

fn wide_row(p: &Painter, r: &Row) -> String {
    let result = p.paint(r.style, &format!("{:<7}", r.result));
    let rule = r.why.as_ref().map_or("", |w| w.wide.as_str());
    let mark = paint_segs(p, std::slice::from_ref(&r.mark));
    let step = r.step.map_or("   ".to_string(), |n| format!("{n:>3}"));
    let line = format!(
        "  {:<15} {step} {mark} {:<36} {result} {}",
        r.place.wide(),
        r.what,
        p.paint(RULE, rule)
    );
    line.trim_end().to_string()
}

/// The first line: the machine and what the scenario has.
fn header(s: &Scenario) -> Line {
    text(
        0,
        vec![styled(
            HEAD,
            format!(
                "cpuhp · {}{} · preset {} · {}, {}, {}",
                count(s.machine.cpus as usize, "CPU", "CPUs"),
                if s.machine.threads_per_core > 1 {
                    format!(" ({} threads per core)", s.machine.threads_per_core)
                } else {
                    String::new()
                },
                s.machine.preset.preset().name,
                count(s.states.len(), "state", "states"),
                count(s.notifiers.len(), "notifier", "notifiers"),
                count(s.ops.len(), "operation", "operations"),
            ),
        )],
    )
}

/// The last lines: where the run stopped, if early, where the CPUs ended, the invariants.
fn ending(e: &Ending<'_>) -> Vec<Line> {
    let mut out = Vec::new();
    if let Some(what) = e.stopped {
        out.push(text(0, vec![plain("")]));
        out.push(text(
            0,
            vec![styled(
                FAIL,
                format!(
                    "stopped after `{what}`: a rollback failed, the machine is undefined from here on"
                ),
            )],
        ));
    }
    out.push(text(0, vec![plain("")]));
    out.push(text(
        0,
        vec![
            styled(HEAD, "end:"),
            plain(format!(
                " {}",
                e.final_states
                    .iter()
                    .enumerate()
                    .map(|(c, s)| format!("CPU {c} at {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ],
    ));
    let broken = e.violations.len();
    out.push(text(
        0,
        vec![if broken == 0 {
            styled(OK, "invariants: all held")
        } else {
            styled(FAIL, format!("invariants: {broken} broken"))
        }],
    ));
    out
}

fn summary_line(what: &str, body: &[Event], state_names: &BTreeMap<u32, String>) -> Line {
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
        .and_then(|n| state_names.iter().find(|(_, v)| v.as_str() == n))
        .map(|(k, _)| format!(" → state {k}"))
        .unwrap_or_default();
    ups.sort_unstable();
    ups.dedup();
    let ran = match ups.len() {
        0 => String::new(),
        1 => format!("; startup on CPU {}", ups[0]),
        _ => format!("; startup on CPUs {}", cpu_list(&ups)),
    };
    text(
        2,
        vec![styled(OK, "ok"), plain(format!(" {what}{number}{ran}"))],
    )
}

fn result_of(ret: i32, rollback: bool) -> (String, Style) {
    let style = if ret != 0 {
        FAIL
    } else if rollback {
        UNDO
    } else {
        OK
    };
    (errno_name(ret), style)
}

fn step_lines(out: &mut Vec<Line>, body: &[Event], op: bool, kick: Option<u32>) {
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
                        why("16 undo", "rule 16: undone on the CPUs before the failure")
                    } else if ret != 0 {
                        why("16 fail", "rule 16: the install fails; nothing stays")
                    } else {
                        why(
                            "16",
                            "rule 16: on each CPU that reached the state, ascending",
                        )
                    }
                } else if ret != 0 && nested && symbol.starts_with("notify_") {
                    why(
                        "12 veto",
                        "rule 12: the chain vetoed; this state gets no teardown",
                    )
                } else if ret != 0 && nested {
                    why("inner", "passes on the failure of a callback inside it")
                } else if ret != 0 {
                    if rollback {
                        why(
                            "14",
                            "rule 14: a failure during rollback: no second reversal, reported",
                        )
                    } else if *bringup {
                        why(
                            "12",
                            "rule 12: it gets no teardown; what succeeded is undone",
                        )
                    } else {
                        why(
                            "13",
                            "rule 13: it and the states below stay up; the ones above come back",
                        )
                    }
                } else if rollback {
                    if fwd {
                        why("12 undo", "rule 12: undo, descending")
                    } else {
                        why("13 redo", "rule 13: startup again, ascending")
                    }
                } else if instance.is_some() {
                    why("15", "rule 15: instances newest first")
                } else if let Some(note) = builtin_note(symbol, *cpu) {
                    note
                } else if *bringup {
                    why("11", "rule 11: startups ascending")
                } else {
                    why("11", "rule 11: teardowns descending")
                };
                if ret != 0 && !nested {
                    // A failure turns this CPU's walk around from here on.
                    failed.insert(key, true);
                }
                let mut what = format!("{indent}{symbol}");
                if let Some(inst) = instance {
                    what.push_str(&format!(" [{inst}]"));
                }
                let (result, style) = result_of(ret, rollback);
                out.push(Line::Row(Row {
                    place: Place::of(context, *cpu),
                    step: Some(*step),
                    mark: plain(if *bringup { "↑" } else { "↓" }),
                    what,
                    result,
                    style,
                    why: Some(rule),
                }));
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
                stop,
            } => {
                let vetoed_before = failed.get(cpu).copied().unwrap_or(false);
                if *ret != 0 {
                    failed.insert(*cpu, true);
                }
                let (mut result, mut style) = result_of(*ret, false);
                if *stop && *ret == 0 {
                    (result, style) = ("stop".into(), NOTE);
                }
                let rule = if *stop && *ret == 0 {
                    Some(why(
                        "end",
                        "NOTIFY_STOP: the walk ends here, not a failure; the notifiers after it \
                         do not hear this event",
                    ))
                } else if vetoed_before && action.starts_with("CPU_DOWN_PREPARE") {
                    Some(why(
                        "12 noveto",
                        "rule 12: undoing a bring-up, a veto cannot stop it",
                    ))
                } else {
                    notifier_rule(action, *ret)
                };
                out.push(Line::Row(Row {
                    place: Place::None,
                    step: None,
                    mark: styled(NOTE, "•"),
                    what: format!("{indent}{notifier}: {action} {cpu}"),
                    result,
                    style,
                    why: rule,
                }));
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
                // The words of a scenario's [[fault]]: boot, kick, stop.
                let what = if *bringup && Some(*step) == kick {
                    format!("{indent}the kick of CPU {cpu} fails")
                } else if *bringup {
                    format!("{indent}CPU {cpu} fails to boot")
                } else {
                    format!("{indent}CPU {cpu} refuses to stop")
                };
                out.push(Line::Row(Row {
                    place: Place::Platform,
                    step: Some(*step),
                    mark: plain("✗"),
                    what,
                    result: errno_name(*ret),
                    style: FAIL,
                    why: Some(why("fault", "injected failure")),
                }));
            }
            Event::Warning { cpu, function } => {
                out.push(text(
                    2,
                    vec![styled(
                        FAIL,
                        format!(
                            "WARNING: CPU {cpu}: Linux warns in {function} (rule 14: reported)"
                        ),
                    )],
                ));
            }
            Event::Divergence { cpu, text: t } => {
                out.push(text(
                    2,
                    vec![styled(
                        NOTE,
                        format!("note: CPU {cpu}: {t} (deliberate difference from Linux)"),
                    )],
                ));
            }
            Event::Step { .. } | Event::StepDone { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line that fits is indented and left alone, as filling it would.
    #[test]
    fn wrapping_a_line_that_fits_is_what_textwrap_does() {
        let p = Painter { color: true };
        let painted = format!("{} ok: CPU 1: 99 → 0", p.paint(OK, "⇒"));
        let texts = [
            "⇒ ok: CPU 1: 99 → 0",
            "⇒ failed with EBUSY: teardown of state 70 (drv:online) on CPU 2 failed: EBUSY; every CPU is where it began",
            "ok setup-state nvme:queues → state 71",
            "two  spaces  inside",
            " leading",
            "trailing ",
            "",
            "x",
            "── 1. down 1",
            "宽字符宽字符宽字符宽字符宽字符宽字符宽字符宽字符宽字符宽字符宽字符宽字符宽字符",
            painted.as_str(),
        ];
        for columns in [10, 20, 38, 40, 60, 80, 100] {
            for indent in [0, 2, 4] {
                for text in texts {
                    let first = " ".repeat(indent);
                    let rest = " ".repeat(indent + 2);
                    let opts = textwrap::Options::new(columns)
                        .initial_indent(&first)
                        .subsequent_indent(&rest);
                    assert_eq!(
                        wrap(columns, indent, text),
                        textwrap::fill(text, opts),
                        "{columns} {indent} {text:?}"
                    );
                }
            }
        }
    }
}
