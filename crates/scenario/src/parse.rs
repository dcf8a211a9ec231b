//! Scenario files: TOML in, a checked [`Scenario`] or a [`ParseError`] that says where
//! (file:line:column), shows the offending text, says what was expected and suggests the closest
//! name.
//!
//! The language is described by the parser's own tables: [`FIELDS`] (every key, with an example)
//! and [`OPS`] (every operation); [`reference()`] prints them, as `cpuhp ops` does.
//!
//! ```toml
//! ops = ["down 1", "up 1", "up 2 to 60", "add-instance nvme:queues nvme2", "freeze", "thaw"]
//!
//! [machine]
//! cpus = 4
//!
//! [[state]]
//! name = "nvme:queues"
//! section = "online"
//! multi = true
//! instances = ["nvme0"]
//! fail = [{ on = "startup", cpu = 3, errno = "ENOMEM" }]
//!
//! [[notifier]]
//! name = "workqueue"
//! priority = 10
//! veto = [{ event = "up_prepare", cpu = 3, errno = "ENOMEM" }]
//! answer = [{ event = "online", ret = "stop" }]
//!
//! [[fault]]
//! on = "boot"
//! cpu = 2
//! times = 1
//! ```

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use cpuhp::legacy::CpuEvent;
use cpuhp::{Errno, Section, SmtControl};
use serde::Deserialize;
use toml::Spanned;

use crate::scenario::{
    AnswerSpec, Bug, FailSpec, FaultSpec, MachineSpec, NotifierSpec, Op, OpSpec, PlatformStep,
    PresetName, Scenario, SlotSpec, StateSpec, Target, VetoSpec,
};
use notifier::NotifyResult;

/// The events a notifier may be given an answer for, by their names in scenario files.
const EVENTS: [(&str, CpuEvent); 9] = [
    ("up_prepare", CpuEvent::UpPrepare),
    ("up_canceled", CpuEvent::UpCanceled),
    ("starting", CpuEvent::Starting),
    ("online", CpuEvent::Online),
    ("down_prepare", CpuEvent::DownPrepare),
    ("down_failed", CpuEvent::DownFailed),
    ("dying", CpuEvent::Dying),
    ("dead", CpuEvent::Dead),
    ("post_dead", CpuEvent::PostDead),
];

/// A notifier's answers by name (an errno is the other kind).
const ANSWERS: [(&str, NotifyResult); 6] = [
    ("ok", NotifyResult::OK),
    ("done", NotifyResult::DONE),
    ("stop", NotifyResult::STOP),
    ("ok|stop", NotifyResult::STOP),
    ("done|stop", NotifyResult::STOP_MASK),
    ("bad", NotifyResult::BAD),
];

/// A scenario file that could not be read: where, what, and what was expected.
///
/// `Display` prints `file:line:column: error: …`, the offending line with a caret under the
/// offending text, and a help line (expected values, or the closest known name).
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::Scenario;
///
/// let e = Scenario::parse("s.toml", "ops = [\"dwn 1\"]\n[machine]\ncpus = 2\n").unwrap_err();
/// assert_eq!((e.line, e.column), (1, 9));
/// assert_eq!(e.help.as_deref(), Some("did you mean `down`?"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file's name, as given.
    pub file: String,
    /// 1-based line of the offending text.
    pub line: u32,
    /// 1-based column (in characters) of the offending text.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// The whole line it is on.
    pub source_line: String,
    /// What was expected, or the closest known name.
    pub help: Option<String>,
    /// The byte range of the offending text in the file.
    pub span: Range<usize>,
}

impl ParseError {
    fn at(file: &str, src: &str, span: Range<usize>, message: impl Into<String>) -> ParseError {
        let start = span.start.min(src.len());
        let end = span.end.clamp(start, src.len());
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        ParseError {
            file: file.to_string(),
            line: count(src[..start].matches('\n').count() + 1),
            column: count(src[line_start..start].chars().count() + 1),
            message: message.into(),
            source_line: src[line_start..line_end].to_string(),
            help: None,
            span: start..end,
        }
    }

    /// The offending text (on its first line).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::Scenario;
    ///
    /// let e = Scenario::parse("s.toml", "[machine]\ncpus = 2\npreset = \"bsd\"\n").unwrap_err();
    /// assert_eq!(e.snippet(), "\"bsd\"");
    /// ```
    pub fn snippet(&self) -> &str {
        let line = self.source_line.as_str();
        let start = line
            .char_indices()
            .nth(self.column as usize - 1)
            .map_or(line.len(), |(i, _)| i);
        let mut end = (start + self.span.len()).min(line.len());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        &line[start..end]
    }

    fn help(mut self, help: impl Into<String>) -> ParseError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )?;
        let gutter = self.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        let shown = Window::around(
            &self.source_line,
            self.column as usize - 1,
            self.snippet().chars().count(),
        );
        writeln!(f, "{} | {}", self.line, shown.text)?;
        write!(
            f,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(shown.caret),
            "^".repeat(shown.width)
        )?;
        if let Some(h) = &self.help {
            write!(f, "\n{:gutter$} = help: {h}", "")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// The part of an offending line an error shows: at most [`Window::COLUMNS`] characters around
/// the offending text, `…` where it was cut, and where the caret goes. A scenario generated onto
/// one long line would otherwise make an error as long as the file.
#[derive(Debug, PartialEq, Eq)]
struct Window {
    /// The characters shown, with `…` at each cut end.
    text: String,
    /// Characters before the caret.
    caret: usize,
    /// Carets (at least one).
    width: usize,
}

impl Window {
    /// The most characters of the line shown.
    const COLUMNS: usize = 100;
    /// How many characters before the offending text are kept as context.
    const BEFORE: usize = 40;

    /// `column` and `width` count characters (0-based column); cuts fall between characters.
    fn around(line: &str, column: usize, width: usize) -> Window {
        let len = line.chars().count();
        let column = column.min(len);
        if len <= Self::COLUMNS {
            return Window {
                text: line.to_string(),
                caret: column,
                width: width.max(1),
            };
        }
        let mut first = column.saturating_sub(Self::BEFORE);
        let end = (first + Self::COLUMNS).min(len);
        // Near the end of the line: show the full width anyway.
        first = first.min(end.saturating_sub(Self::COLUMNS));
        let mut text = String::new();
        if first > 0 {
            text.push('…');
        }
        text.extend(line.chars().skip(first).take(end - first));
        if end < len {
            text.push('…');
        }
        Window {
            text,
            caret: column - first + usize::from(first > 0),
            width: width.clamp(1, (end - column).max(1)),
        }
    }
}

/// The closest of `known` to `word`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(word, k), k))
        .filter(|&(score, _)| score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn expected_or_closest(word: &str, known: &[&str]) -> String {
    match closest(word, known.iter().copied()) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("expected one of: {}", known.join(", ")),
    }
}

// ----- the language's own description: what `cpuhp ops` prints and the README shows ------------

/// One key of a scenario file: where it goes, an example, and what it means. [`FIELDS`] lists
/// every key the parser accepts; a test holds the two together.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::FIELDS;
///
/// let cpus = FIELDS.iter().find(|f| f.table == "machine" && f.key == "cpus").unwrap();
/// assert_eq!(cpus.example, "cpus = 4");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDoc {
    /// The table it belongs to: `""` (top level), `"machine"`, `"state"`, `"state.fail"`,
    /// `"notifier"`, `"notifier.veto"`.
    pub table: &'static str,
    /// The key.
    pub key: &'static str,
    /// One line of TOML using it.
    pub example: &'static str,
    /// What it means, its values and its default.
    pub doc: &'static str,
}

/// One operation of `ops`: its verb, its form, an example and what it does. The parser knows
/// exactly these verbs.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::OPS;
///
/// assert!(OPS.iter().any(|o| o.verb == "parallel-up" && o.example == "parallel-up 1 2 3"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpDoc {
    /// The first word.
    pub verb: &'static str,
    /// Its form, with the arguments in capitals.
    pub usage: &'static str,
    /// An example.
    pub example: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// The tables of a scenario file, in the order [`reference()`] describes them, each with a line
/// saying what it is.
const TABLES: &[(&str, &str, &str)] = &[
    ("machine", "[machine]", "the simulated machine (required)"),
    (
        "state",
        "[[state]]",
        "a cpuhp state with its callbacks; installed in file order",
    ),
    (
        "state.fail",
        "fail = [{ … }]",
        "in a [[state]]: planned failures of its callbacks",
    ),
    (
        "notifier",
        "[[notifier]]",
        "a legacy CPU notifier; registered in file order after the states",
    ),
    (
        "notifier.veto",
        "veto = [{ … }]",
        "in a [[notifier]]: planned vetoes of a PREPARE event",
    ),
    (
        "notifier.answer",
        "answer = [{ … }]",
        "in a [[notifier]]: what it answers to an event, other than OK",
    ),
    (
        "fault",
        "[[fault]]",
        "a platform failure: a CPU that fails to boot, a kick that fails, a CPU that refuses \
         to stop",
    ),
    (
        "",
        "ops = [ … ]",
        "at the top: the operations, run in order after the setup",
    ),
];

/// Every key a scenario file may hold.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::FIELDS;
///
/// let state: Vec<&str> = FIELDS.iter().filter(|f| f.table == "state").map(|f| f.key).collect();
/// assert!(state.contains(&"startup") && state.contains(&"bug"));
/// ```
pub const FIELDS: &[FieldDoc] = &[
    FieldDoc {
        table: "machine",
        key: "cpus",
        example: "cpus = 4",
        doc: "How many CPUs: numbered from 0, all present and booted at the start.",
    },
    FieldDoc {
        table: "machine",
        key: "threads_per_core",
        example: "threads_per_core = 2",
        doc: "Hardware threads per core, 1 (default) to 8. SMT siblings are consecutive CPU \
              numbers: with 2, CPUs 0 and 1 are core 0, CPUs 2 and 3 core 1; the first thread \
              of each core is its primary.",
    },
    FieldDoc {
        table: "machine",
        key: "smt",
        example: "smt = \"off\"",
        doc: "SMT control at boot: on (default), off or forceoff; needs threads_per_core > 1. \
              With off, the siblings boot once and are taken back down.",
    },
    FieldDoc {
        table: "machine",
        key: "preset",
        example: "preset = \"linux-6.1\"",
        doc: "The state table the machine boots with: demo (default: only the core's states), \
              linux-6.1 or linux-6.12 (`cpuhp states --preset NAME` lists it).",
    },
    FieldDoc {
        table: "state",
        key: "name",
        example: "name = \"mm/vmstat:online\"",
        doc: "Its name, unique among states and notifiers; also its callbacks' name in traces.",
    },
    FieldDoc {
        table: "state",
        key: "section",
        example: "section = \"online\"",
        doc: "prepare (run by the control CPU before the CPU boots), starting (on the new CPU, \
              interrupts off; cannot fail) or online (on the CPU's hotplug thread).",
    },
    FieldDoc {
        table: "state",
        key: "slot",
        example: "slot = 60",
        doc: "\"dynamic\" (default: the lowest free dynamic slot of a prepare or online state) \
              or a state number inside its section. STARTING states have no dynamic slots: \
              they need a number.",
    },
    FieldDoc {
        table: "state",
        key: "startup",
        example: "startup = false",
        doc: "A boolean: the state has a startup callback (default true).",
    },
    FieldDoc {
        table: "state",
        key: "teardown",
        example: "teardown = false",
        doc: "A boolean: the state has a teardown callback (default true).",
    },
    FieldDoc {
        table: "state",
        key: "multi",
        example: "multi = true",
        doc: "A boolean: multi-instance (default false); its callbacks run once per instance.",
    },
    FieldDoc {
        table: "state",
        key: "instances",
        example: "instances = [\"nvme0\", \"nvme1\"]",
        doc: "For a multi-instance state: the instances added at setup, in order.",
    },
    FieldDoc {
        table: "state",
        key: "fail",
        example: "fail = [{ on = \"startup\", cpu = 3, errno = \"ENOMEM\" }]",
        doc: "Planned failures of its callbacks (keys below). STARTING callbacks and PREPARE \
              teardowns cannot fail, by type.",
    },
    FieldDoc {
        table: "state",
        key: "bug",
        example: "bug = \"leak-on-failure\"",
        doc: "A planted bug for `cpuhp explore` to find: leak-on-failure (a failing startup \
              keeps what it took) or teardown-leaks (the teardown releases nothing).",
    },
    FieldDoc {
        table: "state.fail",
        key: "on",
        example: "on = \"teardown\"",
        doc: "The callback that fails: startup or teardown.",
    },
    FieldDoc {
        table: "state.fail",
        key: "cpu",
        example: "cpu = 3",
        doc: "Only on this CPU (default: every CPU).",
    },
    FieldDoc {
        table: "state.fail",
        key: "instance",
        example: "instance = \"nvme1\"",
        doc: "Only for this instance of a multi-instance state (declared in `instances` or \
              added by an add-instance operation).",
    },
    FieldDoc {
        table: "state.fail",
        key: "errno",
        example: "errno = \"EBUSY\"",
        doc: "What the callback returns: an errno name, or its number (12 or -12).",
    },
    FieldDoc {
        table: "state.fail",
        key: "after",
        example: "after = 1",
        doc: "Let this many matching calls succeed first (default 0).",
    },
    FieldDoc {
        table: "state.fail",
        key: "times",
        example: "times = 1",
        doc: "Fail this many times, then succeed again (default: every time).",
    },
    FieldDoc {
        table: "notifier",
        key: "name",
        example: "name = \"kvm\"",
        doc: "Its name, unique among states and notifiers.",
    },
    FieldDoc {
        table: "notifier",
        key: "priority",
        example: "priority = 10",
        doc: "Higher is called first (default 0); equal priorities in registration order.",
    },
    FieldDoc {
        table: "notifier",
        key: "veto",
        example: "veto = [{ event = \"up_prepare\", cpu = 3, errno = \"EBUSY\" }]",
        doc: "Planned vetoes (keys below): the notifiers that already said OK hear \
              CPU_UP_CANCELED (CPU_DOWN_FAILED), the others nothing.",
    },
    FieldDoc {
        table: "notifier",
        key: "answer",
        example: "answer = [{ event = \"up_prepare\", cpu = 2, ret = \"stop\" }]",
        doc: "Planned answers (keys below), with Linux's semantics: ok and done let the walk go \
              on; stop ends it without a failure (the notifiers after it do not hear the \
              event); bad or an errno vetoes a PREPARE event.",
    },
    FieldDoc {
        table: "notifier.veto",
        key: "event",
        example: "event = \"down_prepare\"",
        doc: "The event vetoed: up_prepare (CPU_UP_PREPARE) or down_prepare \
              (CPU_DOWN_PREPARE), the only ones a notifier may refuse.",
    },
    FieldDoc {
        table: "notifier.veto",
        key: "cpu",
        example: "cpu = 2",
        doc: "Only for this CPU (default: every CPU).",
    },
    FieldDoc {
        table: "notifier.veto",
        key: "errno",
        example: "errno = \"EBUSY\"",
        doc: "The veto's errno: a name, or its number.",
    },
    FieldDoc {
        table: "notifier.veto",
        key: "after",
        example: "after = 1",
        doc: "Let this many matching events through first (default 0).",
    },
    FieldDoc {
        table: "notifier.veto",
        key: "times",
        example: "times = 1",
        doc: "Veto this many times (default: every time).",
    },
    FieldDoc {
        table: "notifier.answer",
        key: "event",
        example: "event = \"online\"",
        doc: "The event: up_prepare, up_canceled, starting, online, down_prepare, down_failed, \
              dying, dead or post_dead (each also in its _FROZEN form).",
    },
    FieldDoc {
        table: "notifier.answer",
        key: "cpu",
        example: "cpu = 2",
        doc: "Only for this CPU (default: every CPU).",
    },
    FieldDoc {
        table: "notifier.answer",
        key: "ret",
        example: "ret = \"ok|stop\"",
        doc: "What it returns: ok (NOTIFY_OK), done (NOTIFY_DONE), stop or ok|stop \
              (NOTIFY_STOP), done|stop (the stop bit alone), bad (NOTIFY_BAD: EPERM), or an \
              errno (a name or number, as notifier_from_errno). bad and errnos only on \
              up_prepare and down_prepare, the events that may fail.",
    },
    FieldDoc {
        table: "notifier.answer",
        key: "after",
        example: "after = 1",
        doc: "Answer OK to this many matching events first (default 0).",
    },
    FieldDoc {
        table: "notifier.answer",
        key: "times",
        example: "times = 1",
        doc: "Answer so this many times (default: every time).",
    },
    FieldDoc {
        table: "fault",
        key: "on",
        example: "on = \"boot\"",
        doc: "The platform step that fails: boot (bringup_cpu: the CPU does not come up), kick \
              (cpuhp_kick_ap_alive: the kick that starts a CPU booting; presets with a kick \
              state: demo, linux-6.12) or stop (takedown_cpu: the CPU refuses to die).",
    },
    FieldDoc {
        table: "fault",
        key: "cpu",
        example: "cpu = 2",
        doc: "Only for this CPU (default: every CPU).",
    },
    FieldDoc {
        table: "fault",
        key: "errno",
        example: "errno = \"ETIMEDOUT\"",
        doc: "What the step returns (default EIO).",
    },
    FieldDoc {
        table: "fault",
        key: "after",
        example: "after = 1",
        doc: "Let this many matching calls succeed first (default 0).",
    },
    FieldDoc {
        table: "fault",
        key: "times",
        example: "times = 1",
        doc: "Fail this many times (default: every time).",
    },
    FieldDoc {
        table: "",
        key: "ops",
        example: "ops = [\"down 1\", \"up 1\"]",
        doc: "The operations (below), run in order after the setup; every step is checked.",
    },
];

/// Every operation of `ops`.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::OPS;
///
/// let verbs: Vec<&str> = OPS.iter().map(|o| o.verb).collect();
/// assert_eq!(&verbs[..2], ["up", "down"]);
/// ```
pub const OPS: &[OpDoc] = &[
    OpDoc {
        verb: "up",
        usage: "up CPU [to STATE]",
        example: "up 1 to mm/vmstat:online",
        doc: "Brings the CPU up to online, or only up to a state where a walk may stop: a \
              number, or the name of one of the scenario's states or the preset's.",
    },
    OpDoc {
        verb: "down",
        usage: "down CPU [to STATE]",
        example: "down 2 to 60",
        doc: "Takes the CPU down to offline (0), or only down to a state (number or name).",
    },
    OpDoc {
        verb: "add-instance",
        usage: "add-instance STATE NAME",
        example: "add-instance nvme:queues nvme2",
        doc: "Adds an instance to a multi-instance state: its startup runs on every CPU that \
              reached the state.",
    },
    OpDoc {
        verb: "remove-instance",
        usage: "remove-instance STATE NAME",
        example: "remove-instance nvme:queues nvme0",
        doc: "Removes an instance: its teardown runs on every CPU that reached the state.",
    },
    OpDoc {
        verb: "remove-state",
        usage: "remove-state STATE",
        example: "remove-state mm/vmstat:online",
        doc: "Removes a state (with no instances left): its teardown runs on every CPU that \
              reached it, and its slot is free again.",
    },
    OpDoc {
        verb: "freeze",
        usage: "freeze",
        example: "freeze",
        doc: "Suspend: takes every CPU but the first down, with the _FROZEN notifier events; \
              hotplug is disabled until thaw.",
    },
    OpDoc {
        verb: "thaw",
        usage: "thaw",
        example: "thaw",
        doc: "Resume: brings the CPUs that freeze took down back up.",
    },
    OpDoc {
        verb: "smt",
        usage: "smt on|off|forceoff",
        example: "smt off",
        doc: "SMT control: off takes every sibling thread down and keeps it down; forceoff \
              cannot be undone; on lets them come up again.",
    },
    OpDoc {
        verb: "parallel-up",
        usage: "parallel-up CPU…",
        example: "parallel-up 1 2 3",
        doc: "Parallel bring-up: kicks every CPU, then waits for each (primary threads first); \
              one CPU that fails is rolled back alone.",
    },
    OpDoc {
        verb: "disable-hotplug",
        usage: "disable-hotplug",
        example: "disable-hotplug",
        doc: "cpu_hotplug_disable: up and down fail with EBUSY until enable-hotplug.",
    },
    OpDoc {
        verb: "enable-hotplug",
        usage: "enable-hotplug",
        example: "enable-hotplug",
        doc: "cpu_hotplug_enable: undoes one disable-hotplug.",
    },
];

/// The keys of one table, as the parser accepts them (the top level also holds the tables).
fn keys(table: &str) -> Vec<&'static str> {
    let tables = if table.is_empty() {
        &["machine", "state", "notifier", "fault"][..]
    } else {
        &[]
    };
    tables
        .iter()
        .copied()
        .chain(FIELDS.iter().filter(|f| f.table == table).map(|f| f.key))
        .collect()
}

fn op_words() -> Vec<&'static str> {
    OPS.iter().map(|o| o.verb).collect()
}

/// The scenario language described from the parser's own tables ([`FIELDS`], [`OPS`]), wrapped
/// to 80 columns: what `cpuhp ops` prints and the README shows.
///
/// # Examples
///
/// ```
/// let text = cpuhp_scenario::reference();
/// assert!(text.contains("[[notifier]]"));
/// assert!(text.contains("parallel-up CPU…"));
/// assert!(text.lines().all(|l| l.chars().count() <= 80));
/// ```
pub fn reference() -> String {
    let wrap = |text: &str, indent: &str| -> String {
        // A table's heading continues indented, under its name.
        let rest = if indent.is_empty() { "    " } else { indent };
        let opts = textwrap::Options::new(80)
            .initial_indent(indent)
            .subsequent_indent(rest);
        textwrap::fill(text, opts)
    };
    let mut out = textwrap::fill(
        "A scenario is a TOML file: one [machine], any number of [[state]], [[notifier]] and \
         [[fault]] tables, and `ops`. Every key, with an example:",
        80,
    );
    out.push('\n');
    for (table, head, what) in TABLES {
        out.push('\n');
        out.push_str(&wrap(&format!("{head}  {what}"), ""));
        out.push('\n');
        for f in FIELDS.iter().filter(|f| f.table == *table) {
            out.push_str(&format!("  {}\n", f.example));
            out.push_str(&wrap(f.doc, "      "));
            out.push('\n');
        }
    }
    out.push_str("\nOperations (each a string in `ops`):\n");
    for o in OPS {
        out.push_str(&format!("  {:<28} e.g. \"{}\"\n", o.usage, o.example));
        out.push_str(&wrap(o.doc, "      "));
        out.push('\n');
    }
    out
}

// ----- the raw, spanned shape of the file -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    machine: Option<Spanned<RawMachine>>,
    #[serde(default)]
    state: Vec<Spanned<RawState>>,
    #[serde(default)]
    notifier: Vec<Spanned<RawNotifier>>,
    #[serde(default)]
    fault: Vec<Spanned<RawFault>>,
    #[serde(default)]
    ops: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    cpus: Spanned<i64>,
    threads_per_core: Option<Spanned<i64>>,
    smt: Option<Spanned<String>>,
    preset: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    name: Spanned<String>,
    section: Spanned<String>,
    slot: Option<Spanned<toml::Value>>,
    startup: Option<bool>,
    teardown: Option<bool>,
    multi: Option<bool>,
    #[serde(default)]
    instances: Vec<Spanned<String>>,
    #[serde(default)]
    fail: Vec<Spanned<RawFail>>,
    bug: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFail {
    on: Spanned<String>,
    cpu: Option<Spanned<i64>>,
    instance: Option<Spanned<String>>,
    errno: Spanned<toml::Value>,
    after: Option<Spanned<i64>>,
    times: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifier {
    name: Spanned<String>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    veto: Vec<Spanned<RawVeto>>,
    #[serde(default)]
    answer: Vec<Spanned<RawAnswer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    event: Spanned<String>,
    cpu: Option<Spanned<i64>>,
    ret: Spanned<toml::Value>,
    after: Option<Spanned<i64>>,
    times: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    on: Spanned<String>,
    cpu: Option<Spanned<i64>>,
    errno: Option<Spanned<toml::Value>>,
    after: Option<Spanned<i64>>,
    times: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVeto {
    event: Spanned<String>,
    cpu: Option<Spanned<i64>>,
    errno: Spanned<toml::Value>,
    after: Option<Spanned<i64>>,
    times: Option<Spanned<i64>>,
}

/// Most CPUs a scenario may ask for (every CPU is an OS thread in the threaded simulator; `explore`
/// runs inline and reduces symmetric CPUs, so large machines stay cheap to explore).
pub const MAX_CPUS: u32 = 1024;

struct Ctx<'s> {
    file: &'s str,
    src: &'s str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ParseError {
        ParseError::at(self.file, self.src, span, message)
    }

    fn count(&self, v: &Spanned<i64>, what: &str, range: Range<i64>) -> Result<u32, ParseError> {
        let n = *v.get_ref();
        if range.contains(&n) {
            Ok(n as u32)
        } else {
            Err(self
                .err(v.span(), format!("{what} out of range"))
                .help(format!(
                    "expected {} to {}",
                    range.start,
                    range.end.saturating_sub(1)
                )))
        }
    }

    fn cpu(&self, v: &Spanned<i64>, cpus: u32) -> Result<u32, ParseError> {
        let n = *v.get_ref();
        if (0..i64::from(cpus)).contains(&n) {
            Ok(n as u32)
        } else {
            Err(self
                .err(v.span(), format!("no CPU {n} on this machine"))
                .help(format!("the machine has CPUs 0 to {}", cpus - 1)))
        }
    }

    fn word<T: Copy>(
        &self,
        v: &Spanned<String>,
        what: &str,
        known: &[(&str, T)],
    ) -> Result<T, ParseError> {
        let w = v.get_ref().as_str();
        known
            .iter()
            .find(|(k, _)| *k == w)
            .map(|&(_, t)| t)
            .ok_or_else(|| {
                let names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
                self.err(v.span(), format!("unknown {what} `{w}`"))
                    .help(expected_or_closest(w, &names))
            })
    }

    fn errno(&self, v: &Spanned<toml::Value>) -> Result<Errno, ParseError> {
        let bad = |msg: String| {
            self.err(v.span(), msg)
                .help("expected an errno name such as \"ENOMEM\", or a number such as 12")
        };
        match v.get_ref() {
            toml::Value::String(s) => Errno::from_name(s).ok_or_else(|| {
                let e = self.err(v.span(), format!("unknown errno `{s}`"));
                match closest(s, errno_names()) {
                    Some(k) => e.help(format!("did you mean `{k}`?")),
                    None => e.help("expected an errno name such as \"ENOMEM\", or a number"),
                }
            }),
            toml::Value::Integer(n) => i32::try_from(n.unsigned_abs())
                .ok()
                .and_then(Errno::new)
                .ok_or_else(|| bad(format!("no errno {n}"))),
            other => Err(bad(format!("an errno cannot be a {}", other.type_str()))),
        }
    }
}

fn errno_names() -> impl Iterator<Item = &'static str> {
    (1..4096).filter_map(|n| Errno::new(n).and_then(Errno::name))
}

/// Turns toml's own error (syntax, types, unknown keys) into ours, with a suggestion for an
/// unknown key.
fn toml_error(file: &str, src: &str, e: toml::de::Error) -> ParseError {
    let span = e.span().unwrap_or(0..0);
    let message = e.message().trim().to_string();
    let mut err = ParseError::at(file, src, span, message.clone());
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, _)) = rest.split_once('`') {
            // The keys the message says are expected, else none.
            let expected: Vec<&str> = TABLES
                .iter()
                .map(|(t, _, _)| keys(t))
                .find(|keys| keys.iter().all(|k| message.contains(&format!("`{k}`"))))
                .unwrap_or_default();
            err = match closest(field, expected.iter().copied()) {
                Some(k) => err.help(format!("did you mean `{k}`?")),
                None if !expected.is_empty() => {
                    err.help(format!("expected one of: {}", expected.join(", ")))
                }
                None => err,
            };
        }
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((field, _)) = rest.split_once('`') {
            err = err.help(format!("add `{field} = …`"));
        }
    }
    err
}

impl Scenario {
    /// Parses and checks a scenario file. `file` is only used in error messages.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] for the first problem found: TOML syntax, an unknown key, a wrong
    /// type, an unknown name, a number out of range, a reference to an undeclared state or
    /// instance, a malformed operation.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{Op, Scenario, Target};
    ///
    /// let s = Scenario::parse("s.toml", r#"
    ///     ops = ["down 1", "up 1 to 60", "down 1 to drv:online"]
    ///     [machine]
    ///     cpus = 2
    ///     [[state]]
    ///     name = "drv:online"
    ///     section = "online"
    /// "#)?;
    /// assert_eq!(s.ops[1].op, Op::Up { cpu: 1, target: Some(Target::Number(60)) });
    /// # Ok::<(), cpuhp_scenario::ParseError>(())
    /// ```
    pub fn parse(file: &str, src: &str) -> Result<Scenario, ParseError> {
        let cx = Ctx { file, src };
        let raw: RawScenario = toml::from_str(src).map_err(|e| toml_error(file, src, e))?;
        let machine = match &raw.machine {
            None => {
                return Err(cx
                    .err(0..0, "no [machine] table")
                    .help("add `[machine]` with `cpus = N`"));
            }
            Some(m) => {
                let span = m.span();
                let m = m.get_ref();
                let cpus = cx.count(&m.cpus, "cpus", 1..i64::from(MAX_CPUS) + 1)?;
                let threads_per_core = match &m.threads_per_core {
                    Some(t) => cx.count(t, "threads_per_core", 1..9)?,
                    None => 1,
                };
                let smt = match &m.smt {
                    Some(s) => cx.word(
                        s,
                        "SMT control",
                        &[
                            ("on", SmtControl::On),
                            ("off", SmtControl::Off),
                            ("forceoff", SmtControl::ForceOff),
                        ],
                    )?,
                    None => SmtControl::On,
                };
                if smt != SmtControl::On && threads_per_core == 1 {
                    return Err(cx
                        .err(span, "SMT control without SMT")
                        .help("set `threads_per_core` to 2 or more, or drop `smt`"));
                }
                let preset = match &m.preset {
                    Some(p) => cx.word(p, "preset", &PresetName::ALL)?,
                    None => PresetName::Demo,
                };
                MachineSpec {
                    cpus,
                    threads_per_core,
                    smt,
                    preset,
                }
            }
        };
        let mut names = HashSet::new();
        let mut states = Vec::new();
        for st in &raw.state {
            states.push(cx.state(st, &machine, &states, &mut names)?);
        }
        let mut notifiers = Vec::new();
        for nb in &raw.notifier {
            notifiers.push(cx.notifier(nb, &machine, &mut names)?);
        }
        let mut ops = Vec::new();
        for op in &raw.ops {
            ops.push(OpSpec {
                op: cx.op(op, &machine, &states)?,
                span: Some(op.span()),
            });
        }
        // A planned failure's instance: declared with the state or added by an operation.
        for (st, raw_st) in states.iter().zip(&raw.state) {
            let mut known: Vec<&str> = st.instances.iter().map(String::as_str).collect();
            for op in &ops {
                if let Op::AddInstance { state, name } = &op.op {
                    if *state == st.name {
                        known.push(name);
                    }
                }
            }
            for f in &raw_st.get_ref().fail {
                if let Some(i) = &f.get_ref().instance {
                    if !known.contains(&i.get_ref().as_str()) {
                        return Err(cx
                            .err(i.span(), format!("unknown instance `{}`", i.get_ref()))
                            .help(if known.is_empty() {
                                "declare it in `instances`, or add it with an `add-instance` operation"
                                    .to_string()
                            } else {
                                expected_or_closest(i.get_ref(), &known)
                            }));
                    }
                }
            }
        }
        let faults = raw
            .fault
            .iter()
            .map(|f| cx.fault(f, &machine))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scenario {
            machine,
            states,
            notifiers,
            ops,
            faults,
        })
    }
}

/// The numbers of `section` on `preset` a scenario's state may take: `(low, high)`, inclusive.
fn section_range(preset: &cpuhp::preset::Preset, section: Section) -> (u32, u32) {
    let l = &preset.layout;
    match section {
        Section::Prepare => (1, l.bringup_cpu.get() - 1),
        Section::Starting => (l.ap_offline.get() + 1, l.ap_online.get() - 1),
        Section::Online => (l.ap_online_idle.get() + 1, l.online.get() - 1),
    }
}

/// The help for a state that needs a number of `section`: the lowest one that neither the preset
/// nor an earlier state of the scenario uses, and the section's bounds on this preset.
fn slot_hint(preset: PresetName, section: Section, earlier: &[StateSpec]) -> String {
    let p = preset.preset();
    let (low, high) = section_range(p, section);
    let taken = |n: u32| {
        p.states.iter().any(|s| s.number == n)
            || earlier.iter().any(|s| s.slot == SlotSpec::Fixed(n))
    };
    let name = section_name(section);
    match (low..=high).find(|&n| !taken(n)) {
        Some(n) => format!(
            "give the state a free number of the {name} section ({low} to {high} on {}): \
             `slot = {n}`",
            p.name
        ),
        None => format!(
            "the {name} section ({low} to {high} on {}) has no free number left",
            p.name
        ),
    }
}

fn section_name(section: Section) -> &'static str {
    match section {
        Section::Prepare => "PREPARE",
        Section::Starting => "STARTING",
        Section::Online => "ONLINE",
    }
}

impl Ctx<'_> {
    fn state(
        &self,
        st: &Spanned<RawState>,
        machine: &MachineSpec,
        earlier: &[StateSpec],
        names: &mut HashSet<String>,
    ) -> Result<StateSpec, ParseError> {
        let span = st.span();
        let st = st.get_ref();
        let name = st.name.get_ref().clone();
        if name.is_empty() {
            return Err(self.err(st.name.span(), "empty state name"));
        }
        if !names.insert(name.clone()) {
            return Err(self
                .err(st.name.span(), format!("`{name}` is declared twice"))
                .help("state and notifier names must be unique"));
        }
        let section = self.word(
            &st.section,
            "section",
            &[
                ("prepare", Section::Prepare),
                ("starting", Section::Starting),
                ("online", Section::Online),
            ],
        )?;
        let slot = match &st.slot {
            None => SlotSpec::Dynamic,
            Some(v) => match v.get_ref() {
                toml::Value::String(s) if s == "dynamic" => SlotSpec::Dynamic,
                toml::Value::Integer(n) if (1..1000).contains(n) => SlotSpec::Fixed(*n as u32),
                _ => {
                    return Err(self
                        .err(v.span(), "not a slot")
                        .help("expected \"dynamic\" or a state number from 1 to 999"));
                }
            },
        };
        if section == Section::Starting && slot == SlotSpec::Dynamic {
            return Err(self
                .err(st.section.span(), "STARTING states have no dynamic slots")
                .help(slot_hint(machine.preset, section, earlier)));
        }
        let multi = st.multi.unwrap_or(false);
        let mut instances = Vec::new();
        for i in &st.instances {
            if !multi {
                return Err(self
                    .err(i.span(), "instances on a state that is not multi-instance")
                    .help("add `multi = true`"));
            }
            if instances.contains(i.get_ref()) {
                return Err(self.err(i.span(), format!("instance `{}` twice", i.get_ref())));
            }
            instances.push(i.get_ref().clone());
        }
        let startup = st.startup.unwrap_or(true);
        let teardown = st.teardown.unwrap_or(true);
        let mut fail = Vec::new();
        for f in &st.fail {
            let fspan = f.span();
            let f = f.get_ref();
            let bringup =
                self.word(&f.on, "callback", &[("startup", true), ("teardown", false)])?;
            let can_fail = match section {
                Section::Prepare => bringup,
                Section::Starting => false,
                Section::Online => true,
            };
            if !can_fail {
                return Err(self
                    .err(f.on.span(), "this callback cannot fail")
                    .help("STARTING callbacks and PREPARE teardowns cannot fail, by type"));
            }
            if (bringup && !startup) || (!bringup && !teardown) {
                return Err(self.err(fspan, format!("the state has no {}", f.on.get_ref())));
            }
            let instance = match &f.instance {
                Some(_) if !multi => {
                    return Err(self
                        .err(fspan, "an instance on a state that is not multi-instance")
                        .help("add `multi = true`, or drop `instance`"));
                }
                // Checked once the operations are known (`add-instance` may add it).
                Some(i) => Some(i.get_ref().clone()),
                None => None,
            };
            fail.push(FailSpec {
                bringup,
                cpu: f
                    .cpu
                    .as_ref()
                    .map(|c| self.cpu(c, machine.cpus))
                    .transpose()?,
                instance,
                errno: self.errno(&f.errno)?,
                after: f
                    .after
                    .as_ref()
                    .map(|a| self.count(a, "after", 0..1_000_000))
                    .transpose()?
                    .unwrap_or(0),
                times: f
                    .times
                    .as_ref()
                    .map(|t| self.count(t, "times", 1..1_000_000))
                    .transpose()?,
            });
        }
        let bug = st
            .bug
            .as_ref()
            .map(|b| self.word(b, "bug", &Bug::ALL))
            .transpose()?;
        Ok(StateSpec {
            name,
            section,
            slot,
            startup,
            teardown,
            multi,
            instances,
            fail,
            bug,
            span: Some(span),
        })
    }

    fn notifier(
        &self,
        nb: &Spanned<RawNotifier>,
        machine: &MachineSpec,
        names: &mut HashSet<String>,
    ) -> Result<NotifierSpec, ParseError> {
        let span = nb.span();
        let nb = nb.get_ref();
        let name = nb.name.get_ref().clone();
        if name.is_empty() {
            return Err(self.err(nb.name.span(), "empty notifier name"));
        }
        if !names.insert(name.clone()) {
            return Err(self
                .err(nb.name.span(), format!("`{name}` is declared twice"))
                .help("state and notifier names must be unique"));
        }
        let mut veto = Vec::new();
        for v in &nb.veto {
            let v = v.get_ref();
            veto.push(VetoSpec {
                event: self.word(
                    &v.event,
                    "vetoable event",
                    &[
                        ("up_prepare", CpuEvent::UpPrepare),
                        ("down_prepare", CpuEvent::DownPrepare),
                    ],
                )?,
                cpu: v
                    .cpu
                    .as_ref()
                    .map(|c| self.cpu(c, machine.cpus))
                    .transpose()?,
                errno: self.errno(&v.errno)?,
                after: v
                    .after
                    .as_ref()
                    .map(|a| self.count(a, "after", 0..1_000_000))
                    .transpose()?
                    .unwrap_or(0),
                times: v
                    .times
                    .as_ref()
                    .map(|t| self.count(t, "times", 1..1_000_000))
                    .transpose()?,
            });
        }
        let mut answer = Vec::new();
        for a in &nb.answer {
            let a = a.get_ref();
            let event = self.word(&a.event, "event", &EVENTS)?;
            let ret = self.answer(&a.ret)?;
            if ret.error().is_some() && !event.can_veto() {
                return Err(self.err(a.ret.span(), format!("{event} cannot fail")).help(
                    "only up_prepare and down_prepare may be answered with bad or an errno; \
                         answer ok, done or stop",
                ));
            }
            answer.push(AnswerSpec {
                event,
                cpu: a
                    .cpu
                    .as_ref()
                    .map(|c| self.cpu(c, machine.cpus))
                    .transpose()?,
                ret,
                after: a
                    .after
                    .as_ref()
                    .map(|n| self.count(n, "after", 0..1_000_000))
                    .transpose()?
                    .unwrap_or(0),
                times: a
                    .times
                    .as_ref()
                    .map(|t| self.count(t, "times", 1..1_000_000))
                    .transpose()?,
            });
        }
        Ok(NotifierSpec {
            name,
            priority: nb.priority,
            veto,
            answer,
            span: Some(span),
        })
    }

    /// A notifier's answer: a word or an errno.
    fn answer(&self, v: &Spanned<toml::Value>) -> Result<NotifyResult, ParseError> {
        if let toml::Value::String(w) = v.get_ref() {
            if let Some(&(_, r)) = ANSWERS.iter().find(|(k, _)| k == w) {
                return Ok(r);
            }
            if Errno::from_name(w).is_none() {
                let mut known: Vec<&str> = ANSWERS.iter().map(|(k, _)| *k).collect();
                known.extend(errno_names());
                let e = self.err(v.span(), format!("unknown answer `{w}`"));
                return Err(match closest(w, known) {
                    Some(k) => e.help(format!("did you mean `{k}`?")),
                    None => e.help(
                        "expected ok, done, stop, ok|stop, done|stop, bad, or an errno such as \
                         \"EBUSY\"",
                    ),
                });
            }
        }
        Ok(NotifyResult::from_error(self.errno(v)?))
    }

    fn fault(&self, f: &Spanned<RawFault>, machine: &MachineSpec) -> Result<FaultSpec, ParseError> {
        let f = f.get_ref();
        let on = self.word(&f.on, "platform step", &PlatformStep::ALL)?;
        let preset = machine.preset.preset();
        if on.state(preset).is_none() {
            return Err(self
                .err(
                    f.on.span(),
                    format!("the {} preset has no kick state", preset.name),
                )
                .help(
                    "CPUHP_BP_KICK_AP came with Linux 6.5: use preset demo or linux-6.12, or \
                     on = \"boot\"",
                ));
        }
        Ok(FaultSpec {
            on,
            cpu: f
                .cpu
                .as_ref()
                .map(|c| self.cpu(c, machine.cpus))
                .transpose()?,
            errno: f
                .errno
                .as_ref()
                .map(|e| self.errno(e))
                .transpose()?
                .unwrap_or(Errno::EIO),
            after: f
                .after
                .as_ref()
                .map(|n| self.count(n, "after", 0..1_000_000))
                .transpose()?
                .unwrap_or(0),
            times: f
                .times
                .as_ref()
                .map(|t| self.count(t, "times", 1..1_000_000))
                .transpose()?,
        })
    }

    fn op(
        &self,
        op: &Spanned<String>,
        machine: &MachineSpec,
        states: &[StateSpec],
    ) -> Result<Op, ParseError> {
        // Spans of the words: inside the quotes when the string is written as it reads (no
        // escapes, not multi-line), else the whole string's.
        let span = op.span();
        let text = op.get_ref().as_str();
        let raw = self.src.get(span.clone()).unwrap_or("");
        let verbatim = raw.len() == text.len() + 2
            && (raw.starts_with('"') || raw.starts_with('\''))
            && raw.get(1..raw.len() - 1) == Some(text);
        let mut words: Vec<(&str, Range<usize>)> = Vec::new();
        let mut at = 0;
        for w in text.split(' ') {
            if !w.is_empty() {
                let s = span.start + 1 + at;
                words.push((
                    w,
                    if verbatim {
                        s..s + w.len()
                    } else {
                        span.clone()
                    },
                ));
            }
            at += w.len() + 1;
        }
        let Some(&(verb, ref verb_span)) = words.first() else {
            return Err(self
                .err(span, "empty operation")
                .help(format!("expected one of: {}", op_words().join(", "))));
        };
        let args = &words[1..];
        let usage = |u: &str| {
            self.err(span.clone(), format!("malformed `{verb}`"))
                .help(format!("expected `{u}`"))
        };
        let cpu_at = |i: usize, u: &str| -> Result<u32, ParseError> {
            let (w, s) = args.get(i).ok_or_else(|| usage(u))?;
            let n: i64 = w
                .parse()
                .map_err(|_| self.err(s.clone(), format!("`{w}` is not a CPU number")))?;
            self.cpu(&Spanned::new(s.clone(), n), machine.cpus)
        };
        let state_at = |i: usize, u: &str| -> Result<&StateSpec, ParseError> {
            let (w, s) = args.get(i).ok_or_else(|| usage(u))?;
            states.iter().find(|st| st.name == *w).ok_or_else(|| {
                let known: Vec<&str> = states.iter().map(|s| s.name.as_str()).collect();
                let e = self.err(s.clone(), format!("no state `{w}` in this scenario"));
                match closest(w, known.iter().copied()) {
                    Some(k) => e.help(format!("did you mean `{k}`?")),
                    None => e.help("declare it with a [[state]] table"),
                }
            })
        };
        let target = |u: &str| -> Result<Option<Target>, ParseError> {
            match args.get(1..) {
                Some([]) | None => Ok(None),
                Some([(to, _), (n, s)]) if *to == "to" => {
                    if let Ok(n) = n.parse::<u32>() {
                        return Ok(Some(Target::Number(n)));
                    }
                    // A name: the scenario's states, then the preset's table.
                    let preset = machine.preset.preset();
                    let known = states
                        .iter()
                        .map(|st| st.name.as_str())
                        .chain(preset.states.iter().map(|st| st.name));
                    if known.clone().any(|k| k == *n) {
                        return Ok(Some(Target::Name(n.to_string())));
                    }
                    let e = self.err(
                        s.clone(),
                        format!(
                            "no state `{n}` in this scenario or the {} preset",
                            preset.name
                        ),
                    );
                    Err(match closest(n, known) {
                        Some(k) => e.help(format!("did you mean `{k}`?")),
                        None => e.help(format!(
                            "expected a state number or name (`cpuhp states --preset {}` lists \
                             the preset's)",
                            preset.name
                        )),
                    })
                }
                _ => Err(usage(u)),
            }
        };
        let no_args = |op: Op| {
            if args.is_empty() {
                Ok(op)
            } else {
                Err(usage(verb))
            }
        };
        match verb {
            "up" => {
                let u = "up CPU [to STATE]";
                Ok(Op::Up {
                    cpu: cpu_at(0, u)?,
                    target: target(u)?,
                })
            }
            "down" => {
                let u = "down CPU [to STATE]";
                Ok(Op::Down {
                    cpu: cpu_at(0, u)?,
                    target: target(u)?,
                })
            }
            "add-instance" | "remove-instance" => {
                let u = format!("{verb} STATE NAME");
                let st = state_at(0, &u)?;
                if !st.multi {
                    return Err(self
                        .err(
                            args[0].1.clone(),
                            format!("`{}` is not multi-instance", st.name),
                        )
                        .help("add `multi = true` to the state"));
                }
                let [_, (name, _)] = args else {
                    return Err(usage(&u));
                };
                let (state, name) = (st.name.clone(), name.to_string());
                Ok(if verb == "add-instance" {
                    Op::AddInstance { state, name }
                } else {
                    Op::RemoveInstance { state, name }
                })
            }
            "remove-state" => {
                let st = state_at(0, "remove-state STATE")?;
                if args.len() != 1 {
                    return Err(usage("remove-state STATE"));
                }
                Ok(Op::RemoveState {
                    state: st.name.clone(),
                })
            }
            "freeze" => no_args(Op::Freeze),
            "thaw" => no_args(Op::Thaw),
            "disable-hotplug" => no_args(Op::DisableHotplug),
            "enable-hotplug" => no_args(Op::EnableHotplug),
            "smt" => {
                let [(w, s)] = args else {
                    return Err(usage("smt on|off|forceoff"));
                };
                let w = Spanned::new(s.clone(), w.to_string());
                Ok(Op::Smt(self.word(
                    &w,
                    "SMT control",
                    &[
                        ("on", SmtControl::On),
                        ("off", SmtControl::Off),
                        ("forceoff", SmtControl::ForceOff),
                    ],
                )?))
            }
            "parallel-up" => {
                if args.is_empty() {
                    return Err(usage("parallel-up CPU…"));
                }
                let cpus = (0..args.len())
                    .map(|i| cpu_at(i, "parallel-up CPU…"))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Op::ParallelUp(cpus))
            }
            _ => Err(self
                .err(verb_span.clone(), format!("unknown operation `{verb}`"))
                .help(expected_or_closest(verb, &op_words()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Window;

    #[test]
    fn a_short_line_is_shown_whole() {
        let w = Window::around("ops = [\"down 7\"]", 12, 1);
        assert_eq!(
            (w.text.as_str(), w.caret, w.width),
            ("ops = [\"down 7\"]", 12, 1)
        );
    }

    #[test]
    fn a_long_line_is_cut_around_the_column_between_characters() {
        // 300 two-byte characters, then the offending `X`, then 300 more.
        let line = format!("{}X{}", "é".repeat(300), "ü".repeat(300));
        let w = Window::around(&line, 300, 1);
        assert_eq!(w.text, format!("…{}X{}…", "é".repeat(40), "ü".repeat(59)));
        assert_eq!(w.text.chars().nth(w.caret), Some('X'));
        assert_eq!(w.width, 1);
    }

    #[test]
    fn at_the_end_of_a_long_line_the_window_keeps_its_width() {
        let line = format!("{}\"down 7\"]", "a".repeat(1000));
        let w = Window::around(&line, 1006, 1);
        assert_eq!(w.text.chars().count(), 1 + Window::COLUMNS);
        assert!(w.text.starts_with('…') && w.text.ends_with("\"down 7\"]"));
        assert_eq!(w.text.chars().nth(w.caret), Some('7'));
    }

    #[test]
    fn a_huge_span_gets_carets_only_to_the_window_end() {
        let line = "b".repeat(10_000);
        let w = Window::around(&line, 0, 10_000);
        assert_eq!((w.caret, w.width), (0, Window::COLUMNS));
        assert!(w.text.ends_with('…'));
    }
}
