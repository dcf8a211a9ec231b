//! Scenarios end to end: the demo and every example scenario run, rendered in every format
//! (snapshots of the timeline and ftrace text), the Perfetto JSON checked track by track,
//! `explore` on a clean and on a deliberately broken callback set, and the parser's error
//! messages.

use std::collections::BTreeMap;

use cpuhp_scenario::{
    DEMO_SCENARIO, Event, ExploreOptions, FIELDS, Format, Invariant, OPS, Point, Scenario, Width,
    explore, reference, render, render_with, run,
};

fn example(name: &str) -> Scenario {
    let path = format!("{}/../../examples/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::parse(&format!("examples/{name}.toml"), &text).unwrap()
}

fn demo() -> Scenario {
    Scenario::parse("demo.toml", DEMO_SCENARIO).unwrap()
}

const EXAMPLES: [&str; 9] = [
    "seed",
    "seed-platform-failure",
    "notifier-stop",
    "multi-instance",
    "rollback-failure",
    "suspend",
    "parallel-boot",
    "linux-6.1",
    "leaky-driver",
];

// ----- runs and snapshots ------------------------------------------------------------------------

/// The timeline as an 80-column terminal shows it.
fn timeline80(s: &Scenario) -> String {
    let rec = run(s, false);
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
    let text = render_with(&rec, s, Format::Timeline, false, Width::Columns(80));
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    text
}

#[test]
fn the_demo_timeline() {
    insta::assert_snapshot!("demo_timeline", timeline80(&demo()));
}

/// `--wide`: the layout before fitting, each rule spelled out on its line.
#[test]
fn the_demo_timeline_wide() {
    let s = demo();
    let rec = run(&s, false);
    insta::assert_snapshot!(
        "demo_timeline_wide",
        render_with(&rec, &s, Format::Timeline, false, Width::Wide)
    );
}

#[test]
fn every_example_timeline() {
    for name in EXAMPLES {
        insta::assert_snapshot!(format!("example_{name}"), timeline80(&example(name)));
    }
}

#[test]
fn ftrace_text_is_linuxs() {
    let s = example("linux-6.1");
    let text = render(&run(&s, false), &s, Format::Ftrace, false);
    insta::assert_snapshot!("linux_6_1_ftrace", text);
    // The kernel's own format strings (include/trace/events/cpuhp.h).
    assert!(text.contains(
        "cpuhp/1-20      [001] .....     0.000015: cpuhp_enter: cpu: 0001 target: 153 step: 235 (sched_cpu_deactivate)"
    ));
    assert!(text.contains("cpuhp_exit:  cpu: 0001  state: 234 step: 235 ret: 0"));
}

#[test]
fn threads_and_inline_record_the_same_events() {
    for s in [demo(), example("seed"), example("suspend")] {
        let inline = run(&s, false);
        let threads = run(&s, true);
        assert_eq!(inline.events, threads.events);
        assert_eq!(inline.final_states, threads.final_states);
    }
}

#[test]
fn the_demo_tells_the_seed_story() {
    let s = demo();
    let rec = run(&s, false);
    // The fourth operation (`up 3`): kvm vetoes CPU_UP_PREPARE; slab and workqueue, which said OK,
    // hear CPU_UP_CANCELED; kvm and cpufreq do not.
    let step = rec.setup_steps + 3;
    let start = rec
        .events
        .iter()
        .position(|e| matches!(e, Event::Step { index, .. } if *index == step))
        .unwrap();
    let notes: Vec<String> = rec.events[start..]
        .iter()
        .take_while(|e| !matches!(e, Event::StepDone { .. }))
        .filter_map(|e| match e {
            Event::Notify {
                notifier, action, ..
            } => Some(format!("{notifier} {action}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        notes,
        [
            "slab CPU_UP_PREPARE",
            "workqueue CPU_UP_PREPARE",
            "kvm CPU_UP_PREPARE",
            "slab CPU_UP_CANCELED",
            "workqueue CPU_UP_CANCELED",
        ]
    );
    assert_eq!(rec.final_states, [99, 99, 99, 0]);
}

#[test]
fn a_failed_rollback_stops_the_run_and_says_so() {
    let s = example("rollback-failure");
    let rec = run(&s, false);
    assert_eq!(rec.stopped_at, Some(rec.setup_steps + 1));
    assert!(rec.events.iter().any(|e| matches!(
        e,
        Event::Warning {
            cpu: 1,
            function: "cpuhp_thread_fun"
        }
    )));
    let text = render(&rec, &s, Format::Timeline, false);
    assert!(
        text.contains("rolling back, teardown of state 70 (net/dev:online) on CPU 1 failed: EBUSY")
    );
}

// ----- Perfetto and JSON lines -------------------------------------------------------------------

#[test]
fn perfetto_json_has_a_track_per_cpu_with_its_callbacks() {
    let s = demo();
    let text = render(&run(&s, false), &s, Format::Perfetto, false);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    // Track names by thread id.
    let tracks: BTreeMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(tracks[&0], "steps");
    assert_eq!(tracks[&1], "control side");
    for c in 0..4 {
        assert_eq!(tracks[&(100 + c)], format!("CPU {c}"));
    }
    let complete: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    let on = |tid: u64, name: &str| {
        complete
            .iter()
            .filter(|e| e["tid"] == tid && e["name"].as_str().unwrap().contains(name))
            .count()
    };
    // STARTING callbacks on the CPU itself, ONLINE ones on its track too (its hotplug thread),
    // PREPARE ones on the control side; CPU 1 went down and up once after setup.
    assert_eq!(
        on(101, "startup 40 irqchip/gic:starting"),
        2,
        "setup and `up 1`"
    );
    assert_eq!(on(101, "teardown 40 irqchip/gic:starting"), 1);
    assert_eq!(
        on(101, "startup 72 mm/vmstat:online"),
        2,
        "setup and `up 1`"
    );
    // Setup on CPUs 0-3, `up 1`, and the second `up 3` (the first was vetoed below it).
    assert_eq!(on(1, "startup 10 mm/percpu:prepare"), 4 + 1 + 1);
    assert_eq!(on(101, "mm/percpu:prepare"), 0);
    // Every complete event has a duration; the steps are on their own track.
    assert!(complete.iter().all(|e| e["dur"].as_u64().unwrap() >= 1));
    assert_eq!(on(0, "up 3"), 2);
    // Notifier calls are instants on the track of the bridge that made them.
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "i" && e["tid"] == 103 && e["name"] == "kvm: CPU_STARTING 3")
    );
}

#[test]
fn jsonl_is_one_object_per_event() {
    let s = example("seed");
    let rec = run(&s, false);
    let text = render(&rec, &s, Format::Jsonl, false);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), rec.events.len());
    assert!(lines.iter().any(|l| l["event"] == "notify"
        && l["notifier"] == "c"
        && l["action"] == "CPU_UP_PREPARE"
        && l["ret"] == -12));
}

// ----- explore -----------------------------------------------------------------------------------

#[test]
fn explore_finds_the_planted_leak_and_names_it() {
    let s = example("leaky-driver");
    // As written, nothing fails: `run` sees nothing wrong.
    assert!(run(&s, false).violations.is_empty());
    let found = explore(&s, &ExploreOptions::default(), |_, _, _| {});
    assert!(!found.is_clean());
    let first = found.first_violation().unwrap();
    assert_eq!(
        first.first.point,
        Point::Callback {
            state: "leaky:online".into(),
            cpu: 0,
            bringup: true,
            instance: None
        }
    );
    assert_eq!(first.second, None);
    assert_eq!(found.steps[first.step], "setup-state leaky:online");
    assert_eq!(first.violations[0].invariant, Invariant::WhereItBegan);
    assert_eq!(
        first.violations[0].text,
        "leaky:online on CPU 0 is held after the failed operation undid it"
    );
    // Every broken run involves the leaky callback, never the fine one.
    for c in found.cases.iter().filter(|c| !c.violations.is_empty()) {
        let leaky =
            |p: &Point| matches!(p, Point::Callback { state, .. } if state == "leaky:online");
        assert!(
            leaky(&c.first.point) || c.second.as_ref().is_some_and(|s| leaky(&s.point)),
            "{c:?}"
        );
    }
}

#[test]
fn explore_of_the_demo_and_the_examples_is_clean() {
    let options = ExploreOptions {
        jobs: 2,
        ..ExploreOptions::default()
    };
    for (s, doubles) in [
        (demo(), true),
        (example("seed"), false),
        (example("multi-instance"), true),
        (example("suspend"), true),
        (example("parallel-boot"), true),
    ] {
        let found = explore(&s, &options, |_, _, _| {});
        assert!(found.is_clean(), "{:?}", found.first_violation());
        assert!(found.cases.len() > 5);
        // Failures during rollbacks were tried where a rollback has callbacks that can fail.
        assert_eq!(found.cases.iter().any(|c| c.second.is_some()), doubles);
    }
}

#[test]
fn explore_tries_every_kind_of_failure_point() {
    let found = explore(&demo(), &ExploreOptions::default(), |_, _, _| {});
    let kinds: std::collections::BTreeSet<&str> = found
        .cases
        .iter()
        .map(|c| match &c.first.point {
            Point::Callback {
                instance: Some(_), ..
            } => "instance",
            Point::Callback { bringup: true, .. } => "startup",
            Point::Callback { bringup: false, .. } => "teardown",
            Point::Notifier { .. } => "notifier",
            Point::Platform { bringup: true, .. } => "boot",
            Point::Platform { bringup: false, .. } => "death",
        })
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "boot", "death", "instance", "notifier", "startup", "teardown"
        ]
    );
    // Callbacks that cannot fail by type are never failure points.
    assert!(!found.cases.iter().any(|c| matches!(&c.first.point,
        Point::Callback { state, .. } if state.ends_with(":starting"))));
}

#[test]
fn progress_is_reported_per_phase_with_a_fixed_total() {
    use cpuhp_scenario::Phase;
    // Per phase: the total it started with, and the most runs done.
    let seen = std::sync::Mutex::new(std::collections::HashMap::new());
    let found = explore(
        &example("multi-instance"),
        &ExploreOptions {
            panics: false,
            ..ExploreOptions::default()
        },
        |phase, done, total| {
            let mut seen = seen.lock().unwrap();
            let entry = seen.entry(phase).or_insert((0, total));
            assert!(done <= total);
            assert_eq!(entry.1, total, "the total of {phase} changed");
            entry.0 = entry.0.max(done);
        },
    );
    let seen = seen.into_inner().unwrap();
    let singles = found.cases.iter().filter(|c| c.second.is_none()).count();
    let doubles = found.cases.len() - singles;
    assert!(doubles > 0);
    assert_eq!(seen[&Phase::Single], (singles, singles));
    assert_eq!(seen[&Phase::Double], (doubles, doubles));
    assert!(!seen.contains_key(&Phase::Panic));
}

// ----- errors ------------------------------------------------------------------------------------

fn error(text: &str) -> String {
    Scenario::parse("bad.toml", text).unwrap_err().to_string()
}

#[test]
fn errors_say_where_what_and_what_was_expected() {
    assert_eq!(
        error("[machine]\ncpus = 2\n\n[[state]]\nname = \"x\"\nsection = \"onlin\"\n"),
        "bad.toml:6:11: error: unknown section `onlin`\n  |\n6 | section = \"onlin\"\n  |           ^^^^^^^\n  = help: did you mean `online`?"
    );
    assert_eq!(
        error("ops = [\"up 1\", \"dwon 1\"]\n[machine]\ncpus = 2\n"),
        "bad.toml:1:17: error: unknown operation `dwon`\n  |\n1 | ops = [\"up 1\", \"dwon 1\"]\n  |                 ^^^^\n  = help: did you mean `down`?"
    );
    assert_eq!(
        error("ops = [\"up 7\"]\n[machine]\ncpus = 2\n"),
        "bad.toml:1:12: error: no CPU 7 on this machine\n  |\n1 | ops = [\"up 7\"]\n  |            ^\n  = help: the machine has CPUs 0 to 1"
    );
    assert_eq!(
        error("[machine]\ncpu = 2\n"),
        "bad.toml:2:1: error: unknown field `cpu`, expected one of `cpus`, `threads_per_core`, `smt`, `preset`\n  |\n2 | cpu = 2\n  | ^^^\n  = help: did you mean `cpus`?"
    );
}

#[test]
fn more_errors() {
    // One case per line: input, the error, the help.
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str)] = &[
        ("cpus = 2\n", "error: unknown field `cpus`", ""),
        ("", "bad.toml:1:1: error: no [machine] table", "add `[machine]`"),
        ("[machine]\ncpus = 0\n", "bad.toml:2:8: error: cpus out of range", "expected 1 to 1024"),
        ("[machine]\ncpus = \"two\"\n", "bad.toml:2:8: error: invalid type", ""),
        ("[machine]\ncpus = 2\npreset = \"linux-6.2\"\n", "unknown preset `linux-6.2`", "did you mean `linux-6.1"), // or 6.12: equally close
        ("[machine]\ncpus = 2\nsmt = \"off\"\n", "SMT control without SMT", "threads_per_core"),
        ("[machine]\ncpus = 2\n[[state]]\nname = \"s\"\nsection = \"starting\"\n", "STARTING states have no dynamic slots", "help: give the state a free number of the STARTING section (33 to 59 on demo): `slot = 33`"),
        // On linux-6.1, 40 is a PREPARE number; 94 and 95 are the preset's, 96 the scenario's.
        ("[machine]\ncpus = 2\npreset = \"linux-6.1\"\n[[state]]\nname = \"a\"\nsection = \"starting\"\nslot = 96\n[[state]]\nname = \"s\"\nsection = \"starting\"\n", "STARTING states have no dynamic slots", "help: give the state a free number of the STARTING section (94 to 151 on linux-6.1): `slot = 97`"),
        ("[machine]\ncpus = 2\n[[state]]\nname = \"s\"\nsection = \"online\"\n[[state]]\nname = \"s\"\nsection = \"online\"\n", "bad.toml:7:8: error: `s` is declared twice", ""),
        ("[machine]\ncpus = 2\n[[state]]\nname = \"s\"\nsection = \"online\"\nfail = [{ on = \"startup\", errno = \"ENOMEN\" }]\n", "unknown errno `ENOMEN`", "did you mean `ENOMEM`?"),
        ("[machine]\ncpus = 2\n[[state]]\nname = \"s\"\nsection = \"prepare\"\nfail = [{ on = \"teardown\", errno = 5 }]\n", "this callback cannot fail", "PREPARE teardowns cannot fail"),
        ("ops = [\"remove-state drv:onlin\"]\n[machine]\ncpus = 2\n[[state]]\nname = \"drv:online\"\nsection = \"online\"\n", "no state `drv:onlin` in this scenario", "did you mean `drv:online`?"),
        ("ops = [\"add-instance drv x\"]\n[machine]\ncpus = 2\n[[state]]\nname = \"drv\"\nsection = \"online\"\n", "`drv` is not multi-instance", "multi = true"),
        ("ops = [\"up 1 at 60\"]\n[machine]\ncpus = 2\n", "malformed `up`", "expected `up CPU [to STATE]`"),
        ("ops = [\"\"]\n[machine]\ncpus = 2\n", "empty operation", "expected one of: up, down"),
        ("[machine]\ncpus = 2\n[[notifier]]\nname = \"n\"\nveto = [{ event = \"dying\", errno = \"EIO\" }]\n", "unknown vetoable event `dying`", "expected one of: up_prepare, down_prepare"),
        ("[machine\ncpus = 2\n", "bad.toml:1:9: error:", ""),
        ("[machine]\ncpus = 2\n[[notifier]]\nname = \"n\"\nanswer = [{ event = \"online\", ret = \"EBUSY\" }]\n", "bad.toml:5:37: error: CPU_ONLINE cannot fail", "only up_prepare and down_prepare may be answered with bad or an errno"),
        ("[machine]\ncpus = 2\n[[notifier]]\nname = \"n\"\nanswer = [{ event = \"dead\", ret = \"bad\" }]\n", "CPU_DEAD cannot fail", "answer ok, done or stop"),
        ("[machine]\ncpus = 2\n[[notifier]]\nname = \"n\"\nanswer = [{ event = \"up_prepare\", ret = \"sotp\" }]\n", "unknown answer `sotp`", "did you mean `stop`?"),
        ("[machine]\ncpus = 2\n[[notifier]]\nname = \"n\"\nanswer = [{ event = \"onlin\", ret = \"ok\" }]\n", "unknown event `onlin`", "did you mean `online`?"),
        ("[machine]\ncpus = 2\npreset = \"linux-6.1\"\n[[fault]]\non = \"kick\"\n", "bad.toml:5:6: error: the linux-6.1 preset has no kick state", "CPUHP_BP_KICK_AP came with Linux 6.5"),
        ("[machine]\ncpus = 2\n[[fault]]\non = \"boto\"\n", "unknown platform step `boto`", "did you mean `boot`?"),
        ("[machine]\ncpus = 2\n[[fault]]\non = \"stop\"\ncpu = 2\n", "no CPU 2 on this machine", "the machine has CPUs 0 to 1"),
    ];
    for (text, message, help) in cases {
        let e = error(text);
        assert!(e.contains(message), "{text:?}\n{e}");
        assert!(e.contains(help), "{text:?}\n{e}");
    }
}

#[test]
fn every_example_and_the_demo_parse() {
    demo();
    for name in EXAMPLES {
        example(name);
    }
}

// ----- the language's own description -----------------------------------------------------------

/// The keys toml names as expected after an unknown key `zzz` placed in `table`.
fn expected_keys(table: &str) -> Vec<String> {
    let text = match table {
        "" => "zzz = 1\n[machine]\ncpus = 2\n".to_string(),
        "machine" => "[machine]\ncpus = 2\nzzz = 1\n".to_string(),
        "state" => "[machine]\ncpus = 2\n[[state]]\nname = \"s\"\nsection = \"online\"\nzzz = 1\n".to_string(),
        "state.fail" => "[machine]\ncpus = 2\n[[state]]\nname = \"s\"\nsection = \"online\"\nfail = [{ on = \"startup\", errno = 5, zzz = 1 }]\n".to_string(),
        "notifier" => "[machine]\ncpus = 2\n[[notifier]]\nname = \"n\"\nzzz = 1\n".to_string(),
        "notifier.veto" => "[machine]\ncpus = 2\n[[notifier]]\nname = \"n\"\nveto = [{ event = \"up_prepare\", errno = 5, zzz = 1 }]\n".to_string(),
        "notifier.answer" => "[machine]\ncpus = 2\n[[notifier]]\nname = \"n\"\nanswer = [{ event = \"online\", ret = \"ok\", zzz = 1 }]\n".to_string(),
        "fault" => "[machine]\ncpus = 2\n[[fault]]\non = \"boot\"\nzzz = 1\n".to_string(),
        other => panic!("no table {other}"),
    };
    let e = Scenario::parse("t.toml", &text).unwrap_err();
    let (_, list) = e.message.split_once("expected one of ").unwrap();
    list.split(", ")
        .map(|k| k.trim_matches('`').to_string())
        .collect()
}

/// FIELDS lists exactly the keys the parser accepts, table by table, in the parser's order.
#[test]
fn the_documented_keys_are_the_parsers_keys() {
    let mut tables: Vec<&str> = FIELDS.iter().map(|f| f.table).collect();
    tables.dedup();
    assert_eq!(
        tables,
        [
            "machine",
            "state",
            "state.fail",
            "notifier",
            "notifier.veto",
            "notifier.answer",
            "fault",
            ""
        ]
    );
    for table in tables {
        let mut documented: Vec<&str> = FIELDS
            .iter()
            .filter(|f| f.table == table)
            .map(|f| f.key)
            .collect();
        if table.is_empty() {
            documented.splice(0..0, ["machine", "state", "notifier", "fault"]);
        }
        assert_eq!(expected_keys(table), documented, "table `{table}`");
    }
}

/// Every documented operation's example parses to an operation that prints as written, and a
/// verb the table does not know is refused with the table's list.
#[test]
fn every_documented_operation_parses() {
    let states = "[[state]]\nname = \"nvme:queues\"\nsection = \"online\"\nmulti = true\ninstances = [\"nvme0\"]\n[[state]]\nname = \"mm/vmstat:online\"\nsection = \"online\"\n";
    for o in OPS {
        let text = format!(
            "ops = [\"{}\"]\n[machine]\ncpus = 4\nthreads_per_core = 2\n{states}",
            o.example
        );
        let s = Scenario::parse("t.toml", &text).unwrap_or_else(|e| panic!("{}: {e}", o.verb));
        assert_eq!(s.ops[0].op.to_string(), o.example);
        assert!(o.usage.starts_with(o.verb));
    }
    let verbs: Vec<&str> = OPS.iter().map(|o| o.verb).collect();
    let e = Scenario::parse("t.toml", "ops = [\"\"]\n[machine]\ncpus = 2\n").unwrap_err();
    assert_eq!(
        e.help.unwrap(),
        format!("expected one of: {}", verbs.join(", "))
    );
}

/// Every documented key's example is valid TOML for its key, and the reference names every key
/// and every operation and fits 80 columns.
#[test]
fn the_reference_names_everything_in_80_columns() {
    let text = reference();
    for f in FIELDS {
        let v: toml::Table = toml::from_str(f.example).unwrap();
        assert!(v.contains_key(f.key), "{}", f.example);
        assert!(text.contains(&format!("\n  {}\n", f.example)), "{}", f.key);
    }
    for o in OPS {
        assert!(text.contains(&format!("\n  {:<28} e.g. \"{}\"\n", o.usage, o.example)));
    }
    assert!(
        text.replace("\n      ", " ")
            .contains("SMT siblings are consecutive CPU numbers: with 2, CPUs 0 and 1 are core 0")
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80));
}

// ----- the fitted timeline, line by line ---------------------------------------------------------

/// The rows of a timeline (callbacks, notifier events, platform failures), each reduced to its
/// state number, its mark and the first word of what ran: the same in both layouts.
fn rows(text: &str) -> Vec<(String, String, String)> {
    let body = text.split("\nlegend\n").next().unwrap();
    body.lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words
                .iter()
                .position(|w| ["↑", "↓", "•", "✗"].contains(w))?;
            let step = if at > 0 { words[at - 1] } else { "" };
            let step = if step.parse::<u32>().is_ok() {
                step
            } else {
                ""
            };
            Some((
                step.to_string(),
                words[at].to_string(),
                words[at + 1].to_string(),
            ))
        })
        .collect()
}

/// Fitting changes the layout only: every example shows the same rows, in the same order, as
/// with `--wide`, and no line of the fitted one exceeds its width.
#[test]
fn fitted_and_wide_timelines_show_the_same_rows() {
    let mut all = vec![demo()];
    all.extend(EXAMPLES.iter().map(|n| example(n)));
    for s in &all {
        let rec = run(s, false);
        let wide = render_with(&rec, s, Format::Timeline, false, Width::Wide);
        for columns in [60, 80, 100] {
            let fitted = render_with(&rec, s, Format::Timeline, false, Width::Columns(columns));
            // A name too long for a narrow layout is cut with `…`.
            let (f, w) = (rows(&fitted), rows(&wide));
            assert_eq!(f.len(), w.len(), "{fitted}");
            for (f, w) in f.iter().zip(&w) {
                assert_eq!((&f.0, &f.1), (&w.0, &w.1));
                let cut = f.2.strip_suffix('…').unwrap_or(&f.2);
                assert!(
                    w.2.starts_with(cut) && (cut == w.2 || cut.len() < w.2.len()),
                    "{f:?} {w:?}"
                );
            }
            if columns >= 80 {
                assert_eq!(f, w, "at {columns} columns every name fits");
            }
            assert!(!rows(&wide).is_empty());
            assert!(
                fitted.lines().all(|l| l.chars().count() <= columns),
                "{fitted}"
            );
        }
        assert!(
            wide.lines().any(|l| l.chars().count() > 100),
            "the wide one is wide"
        );
    }
}

/// The seed's lines at 80 columns: the veto, the cancels to those before it only, the outcome
/// wrapped, and the legend spelling out the keys those lines use (and no other).
#[test]
fn the_seed_at_80_columns() {
    let text = timeline80(&example("seed"));
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "           •   c: CPU_UP_PREPARE 2     ENOMEM robust-call")
        .unwrap();
    assert_eq!(
        lines[at - 3..at + 5],
        [
            "  ctl    9 ↑ notify_prepare            ENOMEM startup-failure veto",
            "           •   a: CPU_UP_PREPARE 2     ok     legacy-up",
            "           •   b: CPU_UP_PREPARE 2     ok     legacy-up",
            "           •   c: CPU_UP_PREPARE 2     ENOMEM robust-call",
            "           •   a: CPU_UP_CANCELED 2    ok     legacy-up undo",
            "           •   b: CPU_UP_CANCELED 2    ok     legacy-up undo",
            "  ⇒ failed with ENOMEM: startup of state 9 (notify:prepare) on CPU 2 failed:",
            "    ENOMEM; every CPU is where it began",
        ]
    );
    // A veto of CPU_DOWN_PREPARE is a failed teardown: the states above come back (it was once
    // mislabelled as a startup failure that "gets no teardown").
    let at = lines
        .iter()
        .position(|l| l.contains("notify_down_prepare     EBUSY"))
        .unwrap();
    assert_eq!(
        lines[at..at + 7],
        [
            "  cpu3  69 ↓   notify_down_prepare     EBUSY  teardown-failure veto",
            "           •     a: CPU_DOWN_PREPARE 3 ok     legacy-down",
            "           •     b: CPU_DOWN_PREPARE 3 ok     legacy-down",
            "           •     c: CPU_DOWN_PREPARE 3 EBUSY  robust-call",
            "           •     a: CPU_DOWN_FAILED 3  ok     legacy-down undo",
            "           •     b: CPU_DOWN_FAILED 3  ok     legacy-down undo",
            "  cpu3  98 ↑   sched_cpu_activate      ok     teardown-failure redo",
        ]
    );
    let legend = &text[text.find("\nlegend\n").unwrap()..];
    assert!(legend.contains("\n  where: ctl = the control CPU, cpuN = CPU N's hotplug thread,\n    irqN = CPU N with interrupts off\n"));
    assert!(legend.contains("\n  robust-call            the seed: a veto of CPU_UP_PREPARE or CPU_DOWN_PREPARE\n                         sends the undo event to the notifiers called before it\n                         only\n"));
    assert!(legend.contains("(0 is offline, 99 online;"));
    let keys: Vec<&str> = legend
        .lines()
        .skip(9)
        .filter(|l| !l.starts_with("          "))
        .map(|l| l[2..25].trim_end())
        .collect();
    assert_eq!(
        keys,
        [
            "legacy-up",
            "robust-call",
            "legacy-up undo",
            "legacy-down",
            "legacy-down undo",
            "legacy-down irq",
            "legacy-down dead",
            "legacy-down post",
            "walk",
            "walk kick",
            "walk stop",
            "walk sched",
            "legacy-bridge",
            "startup-failure veto",
            "teardown-failure redo",
            "teardown-failure veto",
            "nested"
        ]
    );
    // Every key names a rule of docs/rules.md (or the kind of failure `nested`).
    for key in keys {
        let name = key.split(' ').next().unwrap();
        assert!(
            name == "nested" || cpuhp::Rule::from_name(name).is_some(),
            "{key}"
        );
    }
}

/// Long names are cut with `…` rather than pushing the line past its width; the legend gives the
/// preset's own online number.
#[test]
fn long_names_are_cut_to_fit() {
    let s = Scenario::parse(
        "long.toml",
        &format!(
            "ops = [\"down 1\"]\n[machine]\ncpus = 2\npreset = \"linux-6.1\"\n[[state]]\nname = \"{}\"\nsection = \"online\"\n",
            "x".repeat(90)
        ),
    )
    .unwrap();
    let rec = run(&s, false);
    let text = render_with(&rec, &s, Format::Timeline, false, Width::Columns(60));
    assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("xxx") && l.contains('↓'))
        .unwrap();
    assert!(row.contains("x… ok"), "{row}");
    assert!(
        text.replace("\n    ", " ")
            .contains("(0 is offline, 236 online;"),
        "{text}"
    );
}

fn readme() -> String {
    std::fs::read_to_string(format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The README's fenced block of `kind` that follows `marker`.
fn readme_block(marker: &str, kind: &str) -> String {
    let readme = readme();
    let after = &readme[readme.find(marker).unwrap()..];
    let fence = format!("```{kind}\n");
    let start = after.find(&fence).unwrap() + fence.len();
    let len = after[start..].find("```\n").unwrap();
    after[start..start + len].to_string()
}

/// The README's timeline is what `cpuhp run examples/seed.toml` prints at 80 columns: each run of
/// lines between `...` appears as it is, in order.
#[test]
fn the_readmes_timeline_is_the_80_column_output() {
    let shown = readme_block("The seed's veto at 80", "text");
    let real = timeline80(&example("seed"));
    let mut from = 0;
    for part in shown.split("...\n") {
        let at = real[from..]
            .find(part)
            .unwrap_or_else(|| panic!("not in the output:\n{part}"));
        from += at + part.len();
    }
}

/// The README's example scenario parses and runs with every invariant held, and uses the SMT
/// numbering it states.
#[test]
fn the_readmes_scenario_runs() {
    let text = readme_block("### Scenarios", "toml");
    let s = Scenario::parse("README.md", &text).unwrap();
    let rec = run(&s, false);
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
    // `smt off` took the second thread of each core (CPUs 1 and 3) down.
    assert_eq!(rec.final_states, [99, 0, 99, 0]);
}

// ----- targets by name ---------------------------------------------------------------------------

/// `up`/`down` stop at a state given by name: one of the scenario's (at the number it got) or of
/// the preset's table; an unknown name is refused with the closest.
#[test]
fn targets_by_name_stop_where_the_state_is() {
    let s = Scenario::parse(
        "t.toml",
        r#"
        ops = ["down 1", "up 1 to mydrv:online", "up 1", "down 1 to smpboot/threads:online", "down 1 to 140"]
        [machine]
        cpus = 2
        preset = "linux-6.1"
        [[state]]
        name = "mydrv:online"
        section = "online"
        "#,
    )
    .unwrap();
    let rec = run(&s, false);
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
    let k = rec.setup_steps;
    let cpu1: Vec<u32> = rec.states_after[k..].iter().map(|st| st[1]).collect();
    // mydrv:online got a dynamic ONLINE slot; smpboot/threads:online is 156 on 6.1, where 140
    // is no state at all (refused: the CPU stays).
    let mydrv = *rec
        .state_names
        .iter()
        .find(|(_, n)| n.as_str() == "mydrv:online")
        .unwrap()
        .0;
    assert_eq!(cpu1, [0, mydrv, 236, 156, 156]);
    assert!((201..=231).contains(&mydrv));
    assert_eq!(rec.steps[k + 1], "up 1 to mydrv:online");
    let threads = run(&s, true);
    assert_eq!(threads.final_states, rec.final_states);
    assert_eq!(
        error(
            "ops = [\"up 1 to mydrv:onlin\"]\n[machine]\ncpus = 2\n[[state]]\nname = \"mydrv:online\"\nsection = \"online\"\n"
        ),
        "bad.toml:1:17: error: no state `mydrv:onlin` in this scenario or the demo preset\n  |\n1 | ops = [\"up 1 to mydrv:onlin\"]\n  |                 ^^^^^^^^^^^\n  = help: did you mean `mydrv:online`?"
    );
}

// ----- platform faults ---------------------------------------------------------------------------

/// The notifier events of step `step` (counted from the first operation), as `name EVENT`.
fn notes_of(rec: &cpuhp_scenario::Record, op: usize) -> Vec<String> {
    let step = rec.setup_steps + op;
    let start = rec
        .events
        .iter()
        .position(|e| matches!(e, Event::Step { index, .. } if *index == step))
        .unwrap();
    rec.events[start..]
        .iter()
        .take_while(|e| !matches!(e, Event::StepDone { .. }))
        .filter_map(|e| match e {
            Event::Notify {
                notifier, action, ..
            } => Some(format!("{notifier} {action}")),
            _ => None,
        })
        .collect()
}

/// The seed's platform failure: CPU 2 does not boot after every notifier said OK to
/// CPU_UP_PREPARE: all of them hear CPU_UP_CANCELED, the PREPARE state is undone, `up` fails with
/// the platform's errno; the fault fires once, so the second `up` works.
#[test]
fn a_cpu_that_fails_to_boot_cancels_every_notifier_that_said_ok() {
    let s = example("seed-platform-failure");
    for threads in [false, true] {
        let rec = run(&s, threads);
        assert!(rec.violations.is_empty(), "{:?}", rec.violations);
        assert_eq!(
            notes_of(&rec, 1),
            [
                "a CPU_UP_PREPARE",
                "b CPU_UP_PREPARE",
                "c CPU_UP_PREPARE",
                "a CPU_UP_CANCELED",
                "b CPU_UP_CANCELED",
                "c CPU_UP_CANCELED",
            ]
        );
        let k = rec.setup_steps;
        assert_eq!(rec.states_after[k + 1], [99, 99, 0, 99]);
        assert_eq!(rec.final_states, [99, 99, 99, 99]);
    }
    let text = timeline80(&s);
    assert!(text.contains(
        "\n  plat  30 ✗ CPU 2 fails to boot       EIO injected-failure\n  ctl   10 ↓ mydrv:prepare             ok  startup-failure undo\n"
    ), "{text}");
    assert!(
        text.contains(
            "\n  ⇒ failed with EIO: startup of state 30 (cpu:bringup) on CPU 2 failed: EIO;\n"
        ),
        "{text}"
    );
}

/// A kick that fails (parallel bring-up's first pass) and a CPU that refuses to stop, each with
/// `after` and `times`; `cpu` left out means any CPU.
#[test]
fn kick_and_stop_faults_fire_as_counted() {
    let s = Scenario::parse(
        "f.toml",
        r#"
        ops = ["down 1", "down 2", "down 3", "down 3", "up 1", "up 1", "up 2"]
        [machine]
        cpus = 4
        [[fault]]
        on = "stop"
        after = 2
        times = 1
        errno = "EBUSY"
        [[fault]]
        on = "kick"
        cpu = 1
        times = 1
        "#,
    )
    .unwrap();
    assert_eq!(s.faults.len(), 2);
    let rec = run(&s, false);
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
    let k = rec.setup_steps;
    let outcomes: Vec<String> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StepDone { index, outcome } if *index >= k => Some(match outcome {
                cpuhp_scenario::Outcome::Ok => "ok".to_string(),
                cpuhp_scenario::Outcome::Failed { errno, .. } => errno.clone(),
            }),
            _ => None,
        })
        .collect();
    // The third stop (CPU 3) refuses once; the retry works. CPU 1's first kick fails.
    assert_eq!(outcomes, ["ok", "ok", "EBUSY", "ok", "EIO", "ok", "ok"]);
    assert_eq!(rec.final_states, [99, 99, 99, 0]);
    assert_eq!(run(&s, true).final_states, rec.final_states);
}

// ----- notifier answers --------------------------------------------------------------------------

/// NOTIFY_STOP ends the walk without a failure: c never hears CPU_UP_PREPARE, and CPU 1 comes up,
/// c hearing CPU_STARTING and CPU_ONLINE like the others.
#[test]
fn notify_stop_ends_the_walk_and_the_cpu_comes_up() {
    let s = example("notifier-stop");
    for threads in [false, true] {
        let rec = run(&s, threads);
        assert!(rec.violations.is_empty(), "{:?}", rec.violations);
        assert_eq!(
            notes_of(&rec, 1),
            [
                "a CPU_UP_PREPARE",
                "b CPU_UP_PREPARE",
                "a CPU_STARTING",
                "b CPU_STARTING",
                "c CPU_STARTING",
                "a CPU_ONLINE",
                "b CPU_ONLINE",
                "c CPU_ONLINE",
            ]
        );
        assert_eq!(rec.final_states, [99, 99]);
    }
    let text = timeline80(&s);
    assert!(text.contains("\n           •   b: CPU_UP_PREPARE 1     stop chain-stop\n  ctl   29 ↑ cpuhp_kick_ap_alive       ok   walk alive\n"), "{text}");
    assert!(text.contains("\n  ⇒ ok: CPU 1: 0 → 99\n"));
    assert!(
        text.contains(
            "\n  chain-stop        the notifier answered with the stop bit (NOTIFY_STOP): the\n"
        ),
        "{text}"
    );
}

fn three_notifiers(b_answers: &str, ops: &str) -> Scenario {
    Scenario::parse(
        "answers.toml",
        &format!(
            "ops = {ops}\n[machine]\ncpus = 3\n[[notifier]]\nname = \"a\"\npriority = 3\n\
             [[notifier]]\nname = \"b\"\npriority = 2\nanswer = {b_answers}\n\
             [[notifier]]\nname = \"c\"\npriority = 1\n"
        ),
    )
    .unwrap()
}

/// Each answer with Linux's semantics: done goes on; bad is a veto with EPERM; an errno is a veto
/// with that errno (counted with after/times); the stop bit alone or with OK ends the walk of any
/// event, without a failure.
#[test]
fn every_answer_means_what_it_means_in_linux() {
    // done: the walk goes on, nothing fails.
    let s = three_notifiers(
        r#"[{ event = "up_prepare", ret = "done" }]"#,
        r#"["down 1", "up 1"]"#,
    );
    let rec = run(&s, false);
    assert_eq!(
        &notes_of(&rec, 1)[..3],
        ["a CPU_UP_PREPARE", "b CPU_UP_PREPARE", "c CPU_UP_PREPARE"]
    );
    assert_eq!(rec.final_states, [99, 99, 99]);

    // bad: a veto (EPERM); only a, before b, hears CPU_UP_CANCELED.
    let s = three_notifiers(
        r#"[{ event = "up_prepare", ret = "bad" }]"#,
        r#"["down 1", "up 1"]"#,
    );
    let rec = run(&s, false);
    assert_eq!(
        notes_of(&rec, 1),
        ["a CPU_UP_PREPARE", "b CPU_UP_PREPARE", "a CPU_UP_CANCELED"]
    );
    assert_eq!(rec.final_states, [99, 0, 99]);
    assert!(render(&rec, &s, Format::Timeline, false).contains(
        "⇒ failed with EPERM: startup of state 9 (notify:prepare) on CPU 1 failed: EPERM"
    ));

    // An errno on down_prepare, after one and once: the second `down` is vetoed, the third not.
    let s = three_notifiers(
        r#"[{ event = "down_prepare", ret = "EBUSY", after = 1, times = 1 }]"#,
        r#"["down 1", "down 2", "down 2"]"#,
    );
    let rec = run(&s, false);
    assert_eq!(
        notes_of(&rec, 1),
        [
            "a CPU_DOWN_PREPARE",
            "b CPU_DOWN_PREPARE",
            "a CPU_DOWN_FAILED"
        ]
    );
    assert_eq!(rec.final_states, [99, 0, 0]);
    assert!(rec.reached.iter().filter(|r| r.failed).count() == 1);

    // ok|stop on CPU_ONLINE for CPU 2 only: c misses CPU_ONLINE 2; CPU 2 is up all the same.
    let s = three_notifiers(
        r#"[{ event = "online", cpu = 2, ret = "ok|stop" }]"#,
        r#"["down 1", "down 2", "up 1", "up 2"]"#,
    );
    let rec = run(&s, false);
    let online = |op| -> Vec<String> {
        notes_of(&rec, op)
            .into_iter()
            .filter(|n| n.ends_with("CPU_ONLINE"))
            .collect()
    };
    assert_eq!(online(2), ["a CPU_ONLINE", "b CPU_ONLINE", "c CPU_ONLINE"]);
    assert_eq!(online(3), ["a CPU_ONLINE", "b CPU_ONLINE"]);
    assert_eq!(rec.final_states, [99, 99, 99]);

    // done|stop (the stop bit alone) ends the walk too, and is no failure.
    let s = three_notifiers(
        r#"[{ event = "up_prepare", ret = "done|stop" }]"#,
        r#"["down 1", "up 1"]"#,
    );
    let rec = run(&s, true);
    assert_eq!(
        &notes_of(&rec, 1)[..3],
        ["a CPU_UP_PREPARE", "b CPU_UP_PREPARE", "a CPU_STARTING"]
    );
    assert_eq!(rec.final_states, [99, 99, 99]);
}

/// Every single failure `explore` tries, planted into the scenario with the words
/// `Failure::as_scenario` gives, fails (or is absorbed) in `run` at the same step: explore and
/// scenarios speak the same language, platform faults included.
#[test]
fn every_failure_explore_tries_can_be_planted_in_the_scenario() {
    let text = "ops = [\"down 1\", \"up 1\", \"down 2\"]\n[machine]\ncpus = 3\n\
                [[state]]\nname = \"drv:online\"\nsection = \"online\"\n\
                [[state]]\nname = \"drv:prepare\"\nsection = \"prepare\"\n\
                [[notifier]]\nname = \"n\"\n";
    let s = Scenario::parse("p.toml", text).unwrap();
    let found = explore(&s, &ExploreOptions::default(), |_, _, _| {});
    let mut kinds = std::collections::BTreeSet::new();
    for c in found
        .cases
        .iter()
        .filter(|c| c.second.is_none() && !c.panic)
    {
        let planted = c.first.as_scenario(cpuhp::Errno::EIO);
        let (with, kind) = match &c.first.point {
            Point::Callback { state, .. } => (
                text.replacen(
                    &format!("name = \"{state}\"\n"),
                    &format!("name = \"{state}\"\n{planted}"),
                    1,
                ),
                "callback".to_string(),
            ),
            Point::Notifier { notifier, .. } => (
                text.replacen(
                    &format!("name = \"{notifier}\"\n"),
                    &format!("name = \"{notifier}\"\n{planted}"),
                    1,
                ),
                "notifier".to_string(),
            ),
            Point::Platform { .. } => (
                format!("{text}{planted}"),
                planted.lines().nth(1).unwrap().to_string(),
            ),
        };
        let rec = run(&Scenario::parse("p.toml", &with).unwrap(), false);
        let outcome = rec
            .events
            .iter()
            .find_map(|e| match e {
                Event::StepDone { index, outcome } if *index == c.step => Some(outcome.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            !outcome.is_ok(),
            c.failed,
            "{} planted as\n{planted}",
            c.first
        );
        kinds.insert(kind);
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "callback",
            "notifier",
            "on = \"boot\"",
            "on = \"kick\"",
            "on = \"stop\""
        ]
    );
}
