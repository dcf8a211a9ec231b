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

use cpuhp::{FailureKind, Rule};

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

/// The legend of the fitted layout: every key, in the order the legend lists them. A key is a
/// rule's stable name (docs/rules.md), sometimes with a word saying which part of it applied.
const KEYS: &[(&str, &str)] = &[
    ("legacy-up", "CPU_UP_PREPARE; a notifier may veto it"),
    (
        "robust-call",
        "the seed: a veto of CPU_UP_PREPARE or CPU_DOWN_PREPARE sends the undo \
         event to the notifiers called before it only",
    ),
    (
        "legacy-up undo",
        "CPU_UP_CANCELED, only to the notifiers that said OK",
    ),
    (
        "legacy-up irq",
        "CPU_STARTING, on the new CPU with interrupts off; cannot fail",
    ),
    ("legacy-up online", "CPU_ONLINE: the CPU is up"),
    ("legacy-down", "CPU_DOWN_PREPARE; a notifier may veto it"),
    (
        "legacy-down undo",
        "CPU_DOWN_FAILED, only to the notifiers that said OK",
    ),
    (
        "legacy-down irq",
        "CPU_DYING, on the dying CPU with interrupts off; cannot fail",
    ),
    ("legacy-down dead", "CPU_DEAD; cannot fail"),
    (
        "legacy-down post",
        "CPU_POST_DEAD, after the hotplug lock is released",
    ),
    (
        "legacy-down noveto",
        "heard while a failed bring-up is undone: a veto cannot stop the undo",
    ),
    (
        "chain-stop",
        "the notifier answered with the stop bit (NOTIFY_STOP): the walk ends there, \
         without a failure; the notifiers after it do not hear the event",
    ),
    (
        "walk",
        "a transition calls the startups in ascending state order, the teardowns descending",
    ),
    (
        "walk boot",
        "bringup_cpu boots the CPU, waits for it and hands it on",
    ),
    (
        "walk alive",
        "cpuhp_kick_ap_alive kicks the CPU, which boots meanwhile",
    ),
    (
        "walk kick",
        "cpuhp_kick_ap_work hands the ONLINE section to the CPU's hotplug thread",
    ),
    ("walk stop", "takedown_cpu stops the CPU (stop_machine)"),
    (
        "walk sched",
        "the scheduler starts (activate) or stops (deactivate) using the CPU",
    ),
    (
        "legacy-bridge",
        "a bridge state; it calls the legacy notifier chain",
    ),
    (
        "startup-failure",
        "a failed startup gets no teardown; what succeeded is undone",
    ),
    (
        "startup-failure undo",
        "undoing a failed bring-up, descending",
    ),
    (
        "startup-failure veto",
        "the notifier chain vetoed CPU_UP_PREPARE; this state gets no teardown",
    ),
    (
        "teardown-failure",
        "a failed teardown: it and the states below stay up; the ones above \
         come back",
    ),
    (
        "teardown-failure redo",
        "undoing a failed tear-down: startups again, ascending",
    ),
    (
        "teardown-failure veto",
        "the notifier chain vetoed CPU_DOWN_PREPARE: this state and the ones \
         below stay up; the ones above come back",
    ),
    (
        "rollback-failure",
        "a failure while undoing: no second reversal; reported",
    ),
    (
        "multi-instance",
        "a multi-instance state calls its instances newest first",
    ),
    (
        "multi-instance undo",
        "the instances before the failed one are undone; it is not",
    ),
    (
        "install",
        "installing a state or an instance runs its startup on each CPU that reached \
         it, ascending",
    ),
    ("install fail", "the install fails; nothing of it stays"),
    ("install undo", "undone on the CPUs before the failure"),
    (
        "remove",
        "removing a state or an instance runs its teardown on each CPU that reached it",
    ),
    (
        "remove fail",
        "the removal fails; the state or instance stays",
    ),
    ("remove redo", "brought back on the CPUs before the failure"),
    (
        "callback-panic",
        "the callback panicked: it failed with EIO, undone like any failure",
    ),
    (
        "nested",
        "passes on the failure of a callback that ran inside it",
    ),
    (
        "injected-failure",
        "a platform failure, injected: the step fails without running",
    ),
];

/// The widest key: the room the fitted layout leaves for the key column.
fn max_key_width() -> usize {
    KEYS.iter().map(|(k, _)| k.len()).max().unwrap_or(0)
}

/// The legend's text of a key.
fn key_text(key: &'static str) -> &'static str {
    KEYS.iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, text)| *text)
}

/// A key with its legend text (`wide` layout: spelled out on the line, after the key).
fn keyed(key: &'static str) -> Why {
    why(key, format!("{key}: {}", key_text(key)))
}

/// Why a notifier event happened: its event, by the legacy rules. `undoing`: the bridge state
/// that sent it undoes a failed bring-up.
fn notifier_rule(action: &str, ret: i32, undoing: bool) -> Option<Why> {
    let base = action.trim_end_matches("_FROZEN");
    let key = match (base, ret != 0) {
        ("CPU_UP_PREPARE" | "CPU_DOWN_PREPARE", true) if !undoing => "robust-call",
        ("CPU_UP_PREPARE", _) => "legacy-up",
        ("CPU_DOWN_PREPARE", _) if undoing => "legacy-down noveto",
        ("CPU_DOWN_PREPARE", _) => "legacy-down",
        ("CPU_UP_CANCELED", _) => "legacy-up undo",
        ("CPU_DOWN_FAILED", _) => "legacy-down undo",
        ("CPU_STARTING", _) => "legacy-up irq",
        ("CPU_DYING", _) => "legacy-down irq",
        ("CPU_ONLINE", _) => "legacy-up online",
        ("CPU_DEAD", _) => "legacy-down dead",
        ("CPU_POST_DEAD", _) => "legacy-down post",
        _ => return None,
    };
    Some(keyed(key))
}

/// What a core state's callback does, for the reader (a call under `walk`).
fn builtin_note(symbol: &str, cpu: u32) -> Option<Why> {
    let (key, note) = match symbol {
        "bringup_cpu" => (
            "walk boot",
            format!("boots CPU {cpu}, waits for it, hands it on"),
        ),
        "cpuhp_kick_ap_work" => (
            "walk kick",
            format!("CPU {cpu}'s hotplug thread walks its ONLINE section"),
        ),
        "cpuhp_kick_ap_alive" => (
            "walk alive",
            format!("kicks CPU {cpu} (it boots meanwhile)"),
        ),
        "takedown_cpu" => ("walk stop", format!("stops CPU {cpu} (stop_machine)")),
        "sched_cpu_activate" => ("walk sched", "the scheduler uses the CPU".into()),
        "sched_cpu_deactivate" => ("walk sched", "the scheduler stops using the CPU".into()),
        "notify_prepare"
        | "notify_dead"
        | "notify_starting"
        | "notify_dying"
        | "notify_online"
        | "notify_down_prepare" => return Some(keyed("legacy-bridge")),
        _ => return None,
    };
    Some(why(key, format!("walk · {note}")))
}

/// The key of a callback's line, from the facts the engine traced: its `Enter`'s rollback flag
/// and rule, and — when it failed — its `Exit`'s rule and kind of failure.
fn call_rule(
    rollback: bool,
    rule: Rule,
    failed: Option<(Rule, Option<FailureKind>)>,
) -> &'static str {
    if let Some((rule, kind)) = failed {
        return match (kind, rule) {
            (Some(FailureKind::Nested), _) => "nested",
            (Some(FailureKind::Panic), _) => "callback-panic",
            (_, Rule::RollbackFailure) => "rollback-failure",
            (Some(FailureKind::Veto), Rule::StartupFailure) => "startup-failure veto",
            (Some(FailureKind::Veto), Rule::TeardownFailure) => "teardown-failure veto",
            (_, Rule::StartupFailure) => "startup-failure",
            (_, Rule::TeardownFailure) => "teardown-failure",
            (_, Rule::Install) => "install fail",
            (_, Rule::Remove) => "remove fail",
            _ => "walk",
        };
    }
    match (rollback, rule) {
        (true, Rule::StartupFailure) => "startup-failure undo",
        (true, Rule::TeardownFailure) => "teardown-failure redo",
        (true, Rule::MultiInstance) => "multi-instance undo",
        (true, Rule::Install) => "install undo",
        (true, Rule::Remove) => "remove redo",
        (_, Rule::MultiInstance) => "multi-instance",
        (_, Rule::Install) => "install",
        (_, Rule::Remove) => "remove",
        _ => "walk",
    }
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
        // Room for any key, as `bound` leaves: a streamed run cannot know its keys in advance,
        // and the two layouts must cut names alike.
        let key_w = max_key_width();
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
        let key_w = max_key_width();
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
        let rules = "why: a rule of docs/rules.md by its name (`cpuhp rules` prints them), with the \
                     part of it that applied";
        let _ = writeln!(out, "{}", wrap(columns, 2, rules));
        for (key, text) in KEYS.iter().filter(|(k, _)| keys.contains(k)) {
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
        let kick = s.machine.preset.preset().layout.bp_kick_ap.map(|k| k.get());
        step_lines(&mut out, body, kick);
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
                                " rolling back, {r}: the machine is left as it stands \
                                 (rollback-failure)"
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

fn step_lines(out: &mut Vec<Line>, body: &[Event], kick: Option<u32>) {
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
    // The open calls' rollback flags: a notifier's event is heard inside its bridge's call.
    let mut open: Vec<bool> = Vec::new();
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
                rollback,
                rule,
                ..
            } => {
                let exit = exit_of.get(&i).map(|&x| &body[x]);
                let (ret, failed) = match exit {
                    Some(Event::Exit {
                        ret, rule, failure, ..
                    }) if *ret != 0 => (*ret, Some((*rule, *failure))),
                    _ => (0, None),
                };
                let nested = exit_of.get(&i).is_some_and(|&x| x > i + 1);
                if nested {
                    depth += 1;
                    open.push(*rollback);
                }
                let key = call_rule(*rollback, *rule, failed);
                let rule = match builtin_note(symbol, *cpu) {
                    Some(note) if key == "walk" => note,
                    _ => keyed(key),
                };
                let mut what = format!("{indent}{symbol}");
                if let Some(inst) = instance {
                    what.push_str(&format!(" [{inst}]"));
                }
                let (result, style) = result_of(ret, *rollback);
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
                    open.pop();
                }
            }
            Event::Notify {
                notifier,
                action,
                cpu,
                ret,
                stop,
            } => {
                let undoing = open.last().copied().unwrap_or(false);
                let (mut result, mut style) = result_of(*ret, false);
                if *stop && *ret == 0 {
                    (result, style) = ("stop".into(), NOTE);
                }
                let rule = if *stop && *ret == 0 {
                    Some(keyed("chain-stop"))
                } else {
                    notifier_rule(action, *ret, undoing)
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
                    why: Some(keyed("injected-failure")),
                }));
            }
            Event::Warning { cpu, function } => {
                out.push(text(
                    2,
                    vec![styled(
                        FAIL,
                        format!("WARNING: CPU {cpu}: Linux warns in {function}"),
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
