//! Property test: bad input never panics.
//!
//! `Scenario::parse` is fed
//!
//! * (a) arbitrary strings, and a soup of TOML and scenario tokens that gets past the TOML
//!   syntax more often;
//! * (b) mutations of the valid scenarios (`examples/*.toml` and the demo): byte ranges deleted,
//!   inserted or replaced at char boundaries, lines swapped, key lines duplicated, numbers
//!   replaced with huge, negative or odd values, names and words replaced with near-misses;
//! * (c) well-formed scenarios generated from a small grammar: a machine of 1–6 CPUs, 0–5 states
//!   in random sections and slots (fixed slots that may collide), multi-instance states with
//!   instances, planned failures, 0–3 notifiers with vetoes, 0–8 operations of every kind.
//!
//! For every input, parsing must not panic; a `ParseError` must point into the text (line and
//! column ≥ 1, a span on char boundaries within it, agreeing with its line, column and snippet)
//! and display without panicking; a scenario that parses (of at most [`RUN_MAX_CPUS`] CPUs) must
//! run inline and render in every format without panicking; and a generated scenario without a
//! planted `bug` must run without breaking an invariant.

use std::ops::Range;

use cpuhp_scenario::{
    Event, Format, Record, Renderer, Scenario, Width, render, render_with, run, run_streaming,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

/// The valid scenarios the mutations start from.
const SEEDS: &[(&str, &str)] = &[
    ("demo.toml", include_str!("../src/demo.toml")),
    (
        "leaky-driver.toml",
        include_str!("../../../examples/leaky-driver.toml"),
    ),
    (
        "linux-6.1.toml",
        include_str!("../../../examples/linux-6.1.toml"),
    ),
    (
        "multi-instance.toml",
        include_str!("../../../examples/multi-instance.toml"),
    ),
    (
        "parallel-boot.toml",
        include_str!("../../../examples/parallel-boot.toml"),
    ),
    (
        "rollback-failure.toml",
        include_str!("../../../examples/rollback-failure.toml"),
    ),
    ("seed.toml", include_str!("../../../examples/seed.toml")),
    (
        "suspend.toml",
        include_str!("../../../examples/suspend.toml"),
    ),
];

/// Scenarios of more CPUs than this are only parsed, not run (a mutation may ask for 256).
const RUN_MAX_CPUS: u32 = 8;

/// What a test asks of one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Anything goes, as long as nothing panics.
    Anything,
    /// It is well formed: it must parse, and (without a planted bug) run with no violation.
    WellFormed,
}

/// Runs `s` again, streamed into a renderer of each format: the text is the whole run's
/// rendering, but for the fitted timeline's padding (its columns are sized from the scenario,
/// never narrower than the run needs) — and Perfetto's callback titles after a failed setup
/// step whose state number a later state took: rendered whole, they can only name the number
/// by the state that has it at the end.
fn streamed_is_whole(s: &Scenario, rec: &Record, text: &str) -> Result<(), TestCaseError> {
    let setup_failed = rec.events.iter().any(|e| {
        matches!(e, Event::StepDone { index, outcome } if *index < rec.setup_steps && !outcome.is_ok())
    });
    let settings: Vec<(Format, Width)> = Format::ALL
        .iter()
        .map(|&(_, f)| (f, Width::Columns(100)))
        .chain([(Format::Timeline, Width::Wide)])
        .collect();
    let mut renderers: Vec<Renderer> = settings
        .iter()
        .map(|&(f, w)| Renderer::new(s, f, false, w))
        .collect();
    let mut streamed = vec![String::new(); settings.len()];
    let end = run_streaming(s, false, |step, names| {
        for (r, out) in renderers.iter_mut().zip(&mut streamed) {
            out.push_str(&r.step(step, names));
        }
    });
    for ((r, out), &(format, width)) in renderers.iter_mut().zip(&mut streamed).zip(&settings) {
        out.push_str(&r.finish(&end));
        let whole = render_with(rec, s, format, false, width);
        if format == Format::Perfetto && setup_failed {
            continue;
        }
        if format == Format::Timeline && width != Width::Wide {
            // No row cut shorter than in the whole run's.
            let squeeze = |t: &str| {
                t.split(' ')
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            prop_assert_eq!(squeeze(out), squeeze(&whole), "--- input ---\n{}", text);
        } else {
            prop_assert_eq!(
                &*out,
                &whole,
                "{:?} {:?}\n--- input ---\n{}",
                format,
                width,
                text
            );
        }
    }
    Ok(())
}

/// Parses `text`; checks the error, or runs and renders the scenario.
fn check(text: &str, expect: Expect) -> Result<(), TestCaseError> {
    match Scenario::parse("input.toml", text) {
        Err(e) => {
            prop_assert!(
                expect != Expect::WellFormed,
                "a well-formed scenario did not parse:\n{}\n--- input ---\n{}",
                e,
                text
            );
            prop_assert!(e.line >= 1, "line {} in {:?}", e.line, e);
            prop_assert!(e.column >= 1, "column {} in {:?}", e.column, e);
            let Range { start, end } = e.span.clone();
            prop_assert!(
                start <= end && end <= text.len(),
                "span {:?} outside the text ({} bytes): {:?}",
                e.span,
                text.len(),
                e
            );
            prop_assert!(
                text.is_char_boundary(start) && text.is_char_boundary(end),
                "span {:?} not on char boundaries: {:?}",
                e.span,
                e
            );
            // The snippet is the offending text's first line.
            let first_line = text[start..end].split('\n').next().unwrap_or_default();
            prop_assert_eq!(e.snippet(), first_line);
            prop_assert_eq!(e.line as usize, text[..start].matches('\n').count() + 1);
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            prop_assert_eq!(
                e.column as usize,
                text[line_start..start].chars().count() + 1
            );
            prop_assert!(!e.source_line.contains('\n'));
            let shown = e.to_string();
            prop_assert!(shown.contains(&e.message), "{}", shown);
        }
        Ok(s) => {
            if s.machine.cpus > RUN_MAX_CPUS {
                return Ok(());
            }
            let rec = run(&s, false);
            for (_, format) in Format::ALL {
                let _ = render(&rec, &s, format, false);
            }
            let _ = render(&rec, &s, Format::Timeline, true);
            streamed_is_whole(&s, &rec, text)?;
            let planted = s.states.iter().any(|st| st.bug.is_some());
            if expect == Expect::WellFormed && !planted {
                prop_assert!(
                    rec.violations.is_empty(),
                    "violations: {:#?}\n--- input ---\n{}",
                    rec.violations,
                    text
                );
            }
        }
    }
    Ok(())
}

// ----- (a) arbitrary strings --------------------------------------------------------------------

/// Tokens of scenario files, for a soup that gets past the TOML syntax now and then.
const TOKENS: &[&str] = &[
    "[machine]\n",
    "[[state]]\n",
    "[[notifier]]\n",
    "[state]\n",
    "cpus = ",
    "threads_per_core = ",
    "smt = ",
    "preset = ",
    "name = ",
    "section = ",
    "slot = ",
    "startup = ",
    "teardown = ",
    "multi = ",
    "instances = ",
    "fail = ",
    "bug = ",
    "priority = ",
    "veto = ",
    "ops = ",
    "on = ",
    "cpu = ",
    "instance = ",
    "errno = ",
    "after = ",
    "times = ",
    "event = ",
    "\"online\"",
    "\"prepare\"",
    "\"starting\"",
    "\"dynamic\"",
    "\"startup\"",
    "\"teardown\"",
    "\"up_prepare\"",
    "\"down_prepare\"",
    "\"ENOMEM\"",
    "\"EBUSY\"",
    "\"on\"",
    "\"off\"",
    "\"forceoff\"",
    "\"demo\"",
    "\"linux-6.1\"",
    "\"leak-on-failure\"",
    "\"a:online\"",
    "\"up 1\"",
    "\"down 1 to 60\"",
    "\"up 0 to 4294967296\"",
    "\"parallel-up 1 1 2\"",
    "\"add-instance a:online x\"",
    "\"remove-instance a:online x\"",
    "\"remove-state a:online\"",
    "\"smt off\"",
    "\"freeze\"",
    "\"thaw\"",
    "\"\\t\u{e9}\u{e9}\"",
    "'''\nup 1'''",
    "\"\"\"\nup 1\"\"\"",
    "\"\\u00e9 1\"",
    "true",
    "false",
    "0",
    "1",
    "2",
    "3",
    "-1",
    "12",
    "40",
    "999",
    "1000",
    "256",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1.5",
    "inf",
    "nan",
    "1979-05-27",
    "[",
    "]",
    "{",
    "}",
    ",",
    "=",
    ".",
    "\"",
    "'",
    "#",
    " ",
    "\n",
    "\r\n",
    "\t",
    "\u{e9}",
    "\u{1F600}",
    "\u{0}",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
}

// ----- (b) mutations of the valid scenarios -----------------------------------------------------

/// Replacements for numbers.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0",
    "+1",
    "1",
    "2",
    "7",
    "8",
    "9",
    "255",
    "256",
    "257",
    "999",
    "1000",
    "999999",
    "1000000",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1_000",
    "0x10",
    "0o7",
    "0b1",
    "1e3",
    "1.0",
    "nan",
    "-inf",
    "\"3\"",
    "true",
    "[]",
    "{}",
];

/// Odd text to insert or replace with.
const FRAGMENTS: &[&str] = &[
    "",
    " ",
    "\n",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    ",",
    "=",
    "#",
    "\\",
    "\\t\u{e9}\u{e9}",
    "\\u00e9",
    "\u{e9}",
    "\u{1F600}",
    "\u{0}",
    "\r",
    "[machine]\n",
    "[[state]]\nname = \"x\"\nsection = \"online\"\n",
    "[[notifier]]\nname = \"x\"\n",
    "ops = [\"up 1\"]\n",
    "cpus = 2\n",
    "slot = 40\n",
    "multi = true\n",
    "fail = [{ on = \"teardown\", errno = 0 }]\n",
    "veto = [{ event = \"up_prepare\", errno = \"EFOO\" }]\n",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete(Index, usize),
    Insert(Index, String),
    Replace(Index, usize, String),
    SwapLines(Index, Index),
    DuplicateLine(Index),
    Number(Index, &'static str),
    NearMiss(Index, NearMiss),
}

/// How a quoted word (a name, a section, an operation…) is changed.
#[derive(Clone, Debug)]
enum NearMiss {
    /// A character dropped.
    Drop(Index),
    /// Two neighbouring characters swapped.
    Transpose(Index),
    /// A character inserted.
    Insert(Index, char),
    /// Upper case.
    Upper,
    /// Emptied.
    Empty,
    /// Replaced by one of the other quoted words of the file.
    Other(Index),
    /// Extra words appended.
    Append(&'static str),
    /// An escape sequence inserted, and a non-ASCII character after the first word: the
    /// decoded text is shorter than the source.
    Escape(Index, &'static str, &'static str),
}

fn text_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FRAGMENTS).prop_map(str::to_string),
        2 => prop::sample::select(TOKENS).prop_map(str::to_string),
        1 => any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ]
}

fn near_miss() -> impl Strategy<Value = NearMiss> {
    prop_oneof![
        any::<Index>().prop_map(NearMiss::Drop),
        any::<Index>().prop_map(NearMiss::Transpose),
        (
            any::<Index>(),
            prop::sample::select(vec!['x', '-', '_', ':', ' ', '"', '\\', 'é', '1'])
        )
            .prop_map(|(i, c)| NearMiss::Insert(i, c)),
        Just(NearMiss::Upper),
        Just(NearMiss::Empty),
        any::<Index>().prop_map(NearMiss::Other),
        prop::sample::select(vec![
            " ",
            " 1",
            " to",
            " to 60",
            " to x",
            " to -1",
            " to 4294967296",
            " x y",
            "  1",
        ])
        .prop_map(NearMiss::Append),
        (
            any::<Index>(),
            prop::sample::select(vec!["\\t", "\\u00e9", "\\U0001F600", "\\\"", "\\\\"]),
            prop::sample::select(vec!["", "\u{e9}", "\u{1F600}", "\u{e9}\u{e9}"])
        )
            .prop_map(|(i, e, t)| NearMiss::Escape(i, e, t)),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => (any::<Index>(), 1..20usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<Index>(), text_fragment()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        2 => (any::<Index>(), 1..10usize, text_fragment())
            .prop_map(|(i, n, s)| Mutation::Replace(i, n, s)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        3 => (any::<Index>(), prop::sample::select(NUMBERS))
            .prop_map(|(i, n)| Mutation::Number(i, n)),
        3 => (any::<Index>(), near_miss()).prop_map(|(i, m)| Mutation::NearMiss(i, m)),
    ]
}

/// The char boundaries of `s`, its end included.
fn boundaries(s: &str) -> Vec<usize> {
    s.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect()
}

/// The byte ranges of the maximal runs of ASCII digits (with a leading `-`) in `s`.
fn numbers(s: &str) -> Vec<Range<usize>> {
    let b = s.as_bytes();
    let mut v = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
            let mut end = i;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            v.push(start..end);
            i = end;
        } else {
            i += 1;
        }
    }
    v
}

/// The byte ranges of the contents of the one-line double-quoted strings of `s`.
fn quoted(s: &str) -> Vec<Range<usize>> {
    let mut v = Vec::new();
    let mut open = None;
    for (i, c) in s.char_indices() {
        match (c, open) {
            ('"', None) => open = Some(i + 1),
            ('"', Some(o)) => {
                v.push(o..i);
                open = None;
            }
            ('\n', Some(_)) => open = None,
            _ => {}
        }
    }
    v
}

fn apply_near_miss(word: &str, m: &NearMiss, others: &[String]) -> String {
    let chars: Vec<char> = word.chars().collect();
    match m {
        NearMiss::Drop(i) if !chars.is_empty() => {
            let k = i.index(chars.len());
            chars[..k].iter().chain(&chars[k + 1..]).collect()
        }
        NearMiss::Transpose(i) if chars.len() >= 2 => {
            let mut c = chars;
            let k = i.index(c.len() - 1);
            c.swap(k, k + 1);
            c.into_iter().collect()
        }
        NearMiss::Insert(i, ch) => {
            let mut c = chars;
            let k = i.index(c.len() + 1);
            c.insert(k, *ch);
            c.into_iter().collect()
        }
        NearMiss::Upper => word.to_uppercase(),
        NearMiss::Empty => String::new(),
        NearMiss::Other(i) if !others.is_empty() => others[i.index(others.len())].clone(),
        NearMiss::Append(a) => format!("{word}{a}"),
        NearMiss::Escape(i, esc, tail) => {
            let mut c: Vec<String> = chars.iter().map(char::to_string).collect();
            let first = chars.iter().position(|&ch| ch == ' ').unwrap_or(c.len());
            c.insert(first, tail.to_string());
            c.insert(i.index(first + 1), esc.to_string());
            c.concat()
        }
        _ => word.to_string(),
    }
}

fn mutate(src: &str, m: &Mutation) -> String {
    let mut s = src.to_string();
    let at = |s: &str, i: &Index| {
        let b = boundaries(s);
        b[i.index(b.len())]
    };
    // The char boundary `n` chars after byte `from` (or the end).
    let after = |s: &str, from: usize, n: usize| {
        s[from..]
            .char_indices()
            .nth(n)
            .map_or(s.len(), |(i, _)| from + i)
    };
    match m {
        Mutation::Delete(i, n) => {
            let a = at(&s, i);
            let b = after(&s, a, *n);
            s.replace_range(a..b, "");
        }
        Mutation::Insert(i, t) => {
            let a = at(&s, i);
            s.insert_str(a, t);
        }
        Mutation::Replace(i, n, t) => {
            let a = at(&s, i);
            let b = after(&s, a, *n);
            s.replace_range(a..b, t);
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = s.split('\n').collect();
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            s = lines.join("\n");
        }
        Mutation::DuplicateLine(i) => {
            // Prefer a `key = value` line: a duplicate key.
            let lines: Vec<&str> = s.split('\n').collect();
            let keys: Vec<usize> = (0..lines.len())
                .filter(|&k| lines[k].contains('='))
                .collect();
            let k = if keys.is_empty() {
                i.index(lines.len())
            } else {
                keys[i.index(keys.len())]
            };
            let mut out: Vec<&str> = lines[..=k].to_vec();
            out.push(lines[k]);
            out.extend_from_slice(&lines[k + 1..]);
            s = out.join("\n");
        }
        Mutation::Number(i, n) => {
            let nums = numbers(&s);
            if !nums.is_empty() {
                let r = nums[i.index(nums.len())].clone();
                s.replace_range(r, n);
            }
        }
        Mutation::NearMiss(i, nm) => {
            let q = quoted(&s);
            if !q.is_empty() {
                let others: Vec<String> = q.iter().map(|r| s[r.clone()].to_string()).collect();
                let r = q[i.index(q.len())].clone();
                let w = apply_near_miss(&s[r.clone()], nm, &others);
                s.replace_range(r, &w);
            }
        }
    }
    s
}

fn mutated() -> impl Strategy<Value = String> {
    let seed = prop_oneof![
        prop::sample::select(SEEDS).prop_map(|(_, src)| src.to_string()),
        gen_scenario().prop_map(|g| g.to_toml()),
    ];
    (seed, prop::collection::vec(mutation(), 1..5))
        .prop_map(|(src, ms)| ms.iter().fold(src, |s, m| mutate(&s, m)))
}

// ----- (c) well-formed scenarios from a grammar -------------------------------------------------

const SECTIONS: [&str; 3] = ["prepare", "starting", "online"];
const ERRNOS: &[&str] = &[
    "\"ENOMEM\"",
    "\"EBUSY\"",
    "\"EAGAIN\"",
    "\"EINVAL\"",
    "\"EIO\"",
    "12",
    "-16",
    "1",
];
const INSTANCES: &[&str] = &["i0", "i1", "i2", "i3"];

#[derive(Clone, Debug)]
struct GenMachine {
    cpus: u32,
    /// `threads_per_core` and `smt`, if written.
    smt: Option<(u32, Option<&'static str>)>,
    linux: bool,
}

#[derive(Clone, Debug)]
struct GenFail {
    startup: bool,
    cpu: Option<Index>,
    instance: Option<Index>,
    errno: &'static str,
    after: Option<u32>,
    times: Option<u32>,
}

#[derive(Clone, Debug)]
struct GenState {
    section: usize,
    /// A fixed slot: one of a few per section (so they collide), or any number.
    slot: Option<u32>,
    startup: Option<bool>,
    teardown: Option<bool>,
    multi: bool,
    instances: usize,
    fail: Vec<GenFail>,
    bug: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct GenVeto {
    up: bool,
    cpu: Option<Index>,
    errno: &'static str,
    after: Option<u32>,
    times: Option<u32>,
}

#[derive(Clone, Debug)]
struct GenNotifier {
    priority: Option<i32>,
    veto: Vec<GenVeto>,
}

#[derive(Clone, Debug)]
enum GenOp {
    Up(Index, Option<u32>),
    Down(Index, Option<u32>),
    AddInstance(Index, Index),
    RemoveInstance(Index, Index),
    RemoveState(Index),
    Freeze,
    Thaw,
    Smt(&'static str),
    ParallelUp(Vec<Index>),
    DisableHotplug,
    EnableHotplug,
}

#[derive(Clone, Debug)]
struct GenScenario {
    machine: GenMachine,
    states: Vec<GenState>,
    notifiers: Vec<GenNotifier>,
    ops: Vec<GenOp>,
}

fn gen_machine() -> impl Strategy<Value = GenMachine> {
    let smt = prop_oneof![
        2 => Just(None),
        1 => Just(Some((1, None))),
        1 => Just(Some((2, None))),
        2 => prop::sample::select(vec!["on", "off", "forceoff"]).prop_map(|c| Some((2, Some(c)))),
    ];
    (1..=6u32, smt, prop::bool::weighted(0.15)).prop_map(|(cpus, smt, linux)| GenMachine {
        cpus,
        smt,
        linux,
    })
}

fn gen_fail() -> impl Strategy<Value = GenFail> {
    (
        any::<bool>(),
        prop::option::of(any::<Index>()),
        prop::option::weighted(0.3, any::<Index>()),
        prop::sample::select(ERRNOS),
        prop::option::of(0..3u32),
        prop::option::of(1..3u32),
    )
        .prop_map(|(startup, cpu, instance, errno, after, times)| GenFail {
            startup,
            cpu,
            instance,
            errno,
            after,
            times,
        })
}

fn gen_state() -> impl Strategy<Value = GenState> {
    (
        0..3usize,
        prop::option::weighted(0.4, any::<Index>()),
        prop::option::weighted(0.2, any::<bool>()),
        prop::option::weighted(0.2, any::<bool>()),
        prop::bool::weighted(0.3),
        0..=3usize,
        prop::collection::vec(gen_fail(), 0..3),
        prop::option::weighted(
            0.1,
            prop::sample::select(vec!["leak-on-failure", "teardown-leaks"]),
        ),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(section, slot, startup, teardown, multi, instances, fail, bug, wild)| {
                // Slots of the demo preset's sections (PREPARE 1–28, STARTING 33–59, ONLINE
                // 63–97), a few each so that they collide; now and then anything.
                let few: [&[u32]; 3] = [&[1, 5, 28, 30], &[33, 40, 45, 59], &[63, 70, 97, 99]];
                let slot = slot.map(|i| {
                    if wild {
                        1 + i.index(999) as u32
                    } else {
                        few[section][i.index(few[section].len())]
                    }
                });
                // STARTING states have no dynamic slots.
                let slot = if section == 1 {
                    Some(slot.unwrap_or(40))
                } else {
                    slot
                };
                GenState {
                    section,
                    slot,
                    startup,
                    teardown,
                    multi,
                    instances,
                    fail,
                    bug,
                }
            },
        )
}

fn gen_notifier() -> impl Strategy<Value = GenNotifier> {
    let veto = (
        any::<bool>(),
        prop::option::of(any::<Index>()),
        prop::sample::select(ERRNOS),
        prop::option::of(0..3u32),
        prop::option::of(1..3u32),
    )
        .prop_map(|(up, cpu, errno, after, times)| GenVeto {
            up,
            cpu,
            errno,
            after,
            times,
        });
    (
        prop::option::of(-5..=5i32),
        prop::collection::vec(veto, 0..3),
    )
        .prop_map(|(priority, veto)| GenNotifier { priority, veto })
}

/// `to N`: offline, PREPARE, the kick and bring-up, AP states, `ap_online_idle`, ONLINE, active,
/// online — and past the end.
fn gen_target() -> impl Strategy<Value = Option<u32>> {
    prop::option::weighted(
        0.35,
        prop::sample::select(vec![
            0,
            1,
            10,
            28,
            29,
            30,
            31,
            32,
            40,
            59,
            60,
            61,
            62,
            63,
            70,
            97,
            98,
            99,
            100,
            154,
            236,
            1000,
            u32::MAX,
        ]),
    )
}

fn gen_op() -> impl Strategy<Value = GenOp> {
    prop_oneof![
        4 => (any::<Index>(), gen_target()).prop_map(|(c, t)| GenOp::Up(c, t)),
        4 => (any::<Index>(), gen_target()).prop_map(|(c, t)| GenOp::Down(c, t)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(s, i)| GenOp::AddInstance(s, i)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(s, i)| GenOp::RemoveInstance(s, i)),
        1 => any::<Index>().prop_map(GenOp::RemoveState),
        1 => Just(GenOp::Freeze),
        1 => Just(GenOp::Thaw),
        1 => prop::sample::select(vec!["on", "off", "forceoff"]).prop_map(GenOp::Smt),
        2 => prop::collection::vec(any::<Index>(), 1..5).prop_map(GenOp::ParallelUp),
        1 => Just(GenOp::DisableHotplug),
        1 => Just(GenOp::EnableHotplug),
    ]
}

fn gen_scenario() -> impl Strategy<Value = GenScenario> {
    (
        gen_machine(),
        prop::collection::vec(gen_state(), 0..=5),
        prop::collection::vec(gen_notifier(), 0..=3),
        prop::collection::vec(gen_op(), 0..=8),
    )
        .prop_map(|(machine, states, notifiers, ops)| GenScenario {
            machine,
            states,
            notifiers,
            ops,
        })
}

impl GenScenario {
    /// The scenario file. Only what the parser accepts is written: planned failures only of
    /// callbacks that exist and may fail, instances only on multi-instance states, SMT control
    /// only with SMT.
    fn to_toml(&self) -> String {
        use std::fmt::Write as _;

        let m = &self.machine;
        let name = |i: usize| format!("s{i}:{}", SECTIONS[self.states[i].section]);
        let cpu = |i: &Index| i.index(m.cpus as usize);
        let mut t = String::new();
        // The operations first: `ops` is a top-level key.
        let multi: Vec<usize> = (0..self.states.len())
            .filter(|&i| self.states[i].multi)
            .collect();
        let to = |target: &Option<u32>| target.map(|n| format!(" to {n}")).unwrap_or_default();
        let ops: Vec<String> = self
            .ops
            .iter()
            .filter_map(|op| {
                Some(match op {
                    GenOp::Up(c, target) => format!("up {}{}", cpu(c), to(target)),
                    GenOp::Down(c, target) => format!("down {}{}", cpu(c), to(target)),
                    GenOp::AddInstance(s, i) | GenOp::RemoveInstance(s, i) => {
                        if multi.is_empty() {
                            return None;
                        }
                        let verb = if matches!(op, GenOp::AddInstance(..)) {
                            "add-instance"
                        } else {
                            "remove-instance"
                        };
                        let s = multi[s.index(multi.len())];
                        let i = INSTANCES[i.index(INSTANCES.len())];
                        format!("{verb} {} {i}", name(s))
                    }
                    GenOp::RemoveState(s) => {
                        if self.states.is_empty() {
                            return None;
                        }
                        format!("remove-state {}", name(s.index(self.states.len())))
                    }
                    GenOp::Freeze => "freeze".into(),
                    GenOp::Thaw => "thaw".into(),
                    GenOp::Smt(c) => format!("smt {c}"),
                    GenOp::ParallelUp(cpus) => {
                        let mut s = "parallel-up".to_string();
                        for c in cpus {
                            let _ = write!(s, " {}", cpu(c));
                        }
                        s
                    }
                    GenOp::DisableHotplug => "disable-hotplug".into(),
                    GenOp::EnableHotplug => "enable-hotplug".into(),
                })
            })
            .collect();
        if !ops.is_empty() || self.ops.len() % 2 == 1 {
            let quoted: Vec<String> = ops.iter().map(|o| format!("\"{o}\"")).collect();
            let _ = writeln!(t, "ops = [{}]\n", quoted.join(", "));
        }
        let _ = writeln!(t, "[machine]\ncpus = {}", m.cpus);
        if let Some((tpc, smt)) = m.smt {
            let _ = writeln!(t, "threads_per_core = {tpc}");
            if let Some(smt) = smt {
                let _ = writeln!(t, "smt = \"{smt}\"");
            }
        }
        if m.linux {
            t.push_str("preset = \"linux-6.1\"\n");
        }
        for (k, st) in self.states.iter().enumerate() {
            let _ = write!(
                t,
                "\n[[state]]\nname = \"{}\"\nsection = \"{}\"\n",
                name(k),
                SECTIONS[st.section]
            );
            match st.slot {
                Some(n) => {
                    let _ = writeln!(t, "slot = {n}");
                }
                None if k % 2 == 1 => t.push_str("slot = \"dynamic\"\n"),
                None => {}
            }
            if let Some(b) = st.startup {
                let _ = writeln!(t, "startup = {b}");
            }
            if let Some(b) = st.teardown {
                let _ = writeln!(t, "teardown = {b}");
            }
            if st.multi {
                t.push_str("multi = true\n");
                let inst: Vec<String> = INSTANCES[..st.instances]
                    .iter()
                    .map(|i| format!("\"{i}\""))
                    .collect();
                let _ = writeln!(t, "instances = [{}]", inst.join(", "));
            }
            let (startup, teardown) = (st.startup.unwrap_or(true), st.teardown.unwrap_or(true));
            let fails: Vec<String> = st
                .fail
                .iter()
                .filter(|f| match (st.section, f.startup) {
                    (0, true) | (2, true) => startup,
                    (2, false) => teardown,
                    _ => false,
                })
                .map(|f| {
                    let on = if f.startup { "startup" } else { "teardown" };
                    let mut s = format!("{{ on = \"{on}\", errno = {}", f.errno);
                    if let Some(c) = &f.cpu {
                        let _ = write!(s, ", cpu = {}", cpu(c));
                    }
                    // Only instances declared with the state (an added one would need its
                    // `add-instance`).
                    if let (Some(i), true, true) = (&f.instance, st.multi, st.instances > 0) {
                        let _ = write!(s, ", instance = \"{}\"", INSTANCES[i.index(st.instances)]);
                    }
                    if let Some(a) = f.after {
                        let _ = write!(s, ", after = {a}");
                    }
                    if let Some(n) = f.times {
                        let _ = write!(s, ", times = {n}");
                    }
                    s + " }"
                })
                .collect();
            if !fails.is_empty() {
                let _ = writeln!(t, "fail = [{}]", fails.join(", "));
            }
            if let Some(b) = st.bug {
                let _ = writeln!(t, "bug = \"{b}\"");
            }
        }
        for (k, nb) in self.notifiers.iter().enumerate() {
            let _ = write!(t, "\n[[notifier]]\nname = \"n{k}\"\n");
            if let Some(p) = nb.priority {
                let _ = writeln!(t, "priority = {p}");
            }
            if !nb.veto.is_empty() {
                let vetoes: Vec<String> = nb
                    .veto
                    .iter()
                    .map(|v| {
                        let event = if v.up { "up_prepare" } else { "down_prepare" };
                        let mut s = format!("{{ event = \"{event}\", errno = {}", v.errno);
                        if let Some(c) = &v.cpu {
                            let _ = write!(s, ", cpu = {}", cpu(c));
                        }
                        if let Some(a) = v.after {
                            let _ = write!(s, ", after = {a}");
                        }
                        if let Some(n) = v.times {
                            let _ = write!(s, ", times = {n}");
                        }
                        s + " }"
                    })
                    .collect();
                let _ = writeln!(t, "veto = [{}]", vetoes.join(", "));
            }
        }
        t
    }
}

// ----- the properties ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    /// (a) Arbitrary text: almost always a TOML error, which must point into the text.
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text, Expect::Anything)?;
    }

    /// (a) A soup of scenario tokens: deeper into the checks.
    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        check(&text, Expect::Anything)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 8_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    /// (b) The valid scenarios, mutated.
    #[test]
    fn mutated_examples_never_panic(text in mutated()) {
        check(&text, Expect::Anything)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 5_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    /// (c) Well-formed scenarios: they parse, run and render, and without a planted bug no
    /// invariant breaks.
    #[test]
    fn generated_scenarios_run_clean(g in gen_scenario()) {
        check(&g.to_toml(), Expect::WellFormed)?;
    }
}

/// The seeds themselves are valid, and check out.
#[test]
fn seeds_parse_and_run() {
    for (name, src) in SEEDS {
        let s = Scenario::parse(name, src).unwrap_or_else(|e| panic!("{e}"));
        let rec = run(&s, false);
        for (_, format) in Format::ALL {
            let _ = render(&rec, &s, format, false);
        }
    }
}

/// Runs [`check`] on one input, outside proptest.
fn check_one(text: &str, expect: Expect) {
    if let Err(e) = check(text, expect) {
        panic!("{e}");
    }
}

/// Found by these tests: an operation string with an escape sequence (the decoded text is
/// shorter than the source) and a non-ASCII character. The error's span is computed in the
/// decoded text, so it ends inside the `é` of the source (once a panic in `ParseError::at`,
/// which sliced there; `&text[e.span]` still panics).
#[test]
fn regression_escape_in_operation() {
    check_one(
        "ops = [\"\\t\u{e9}\"]\n[machine]\ncpus = 1\n",
        Expect::Anything,
    );
}

/// Found by these tests: `add-instance` of a name the state already has parses, and then the
/// run reports a broken accounting invariant (a second startup of the instance).
#[test]
fn regression_add_instance_twice() {
    check_one(
        r#"ops = ["add-instance s:online i0"]
[machine]
cpus = 1
[[state]]
name = "s:online"
section = "online"
multi = true
instances = ["i0"]
"#,
        Expect::WellFormed,
    );
}

/// Found by these tests: `up 1 to 30` (the demo's `bringup_cpu`) is accepted and leaves CPU 1
/// at `ap_online_idle` (62) without its STARTING callbacks: a broken consistency invariant.
#[test]
fn regression_up_to_bringup_cpu() {
    check_one(
        r#"ops = ["down 1", "up 1 to 30"]
[machine]
cpus = 2
[[state]]
name = "s:starting"
section = "starting"
slot = 40
"#,
        Expect::WellFormed,
    );
}

/// Found by these tests: a parallel bring-up that names CPU 0 twice, whose first bring-up fails
/// and whose rollback fails too (`i1`'s teardown), brings it up a second time — as Linux's
/// `cpuhp_bringup_mask` walks on — and `i1`'s startup runs again. After a failed rollback that CPU
/// is undefined; its startups and teardowns are booked but no longer an accounting violation.
#[test]
fn regression_parallel_retry_after_a_failed_rollback() {
    check_one(
        r#"ops = ["add-instance s0:online i1", "down 0", "parallel-up 0 0"]
[machine]
cpus = 2
[[state]]
name = "s0:online"
section = "online"
multi = true
instances = ["i0"]
fail = [{on="teardown", errno="ENOMEM", after=2}, {on="startup", errno="ENOMEM", cpu=0, instance="i0", after=1}]
"#,
        Expect::WellFormed,
    );
}
