//! Symmetry reduction in `explore`: on random small scenarios, exploring one representative per
//! class of interchangeable CPUs finds exactly what exploring every CPU finds, up to renaming the
//! CPUs of a class.
//!
//! The machines have 8–11 CPUs (not fewer: a class is reduced from 7 members on, and the boot CPU
//! is never in one), a few states in every section with planted bugs and planned failures, a
//! notifier or two, SMT siblings or none, and a few operations that name some CPUs (which splits
//! the classes).

use std::collections::BTreeSet;

use cpuhp_scenario::{Case, CpuClass, ExploreOptions, Point, Scenario, explore};
use proptest::prelude::*;

/// `text` with every "CPU n" of a class member renamed to the class's first CPU.
fn rename_text(text: &str, rename: &impl Fn(u32) -> u32) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("CPU ") {
        out.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        match rest[..digits].parse::<u32>() {
            Ok(n) => out.push_str(&rename(n).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

fn rename_point(p: &Point, rename: &impl Fn(u32) -> u32) -> Point {
    let mut p = p.clone();
    match &mut p {
        Point::Callback { cpu, .. } | Point::Notifier { cpu, .. } | Point::Platform { cpu, .. } => {
            *cpu = rename(*cpu)
        }
    }
    p
}

/// A case with the CPUs renamed, its violations as a set.
type Canonical = (
    (Point, u32),
    Option<(Point, u32)>,
    usize,
    (bool, Option<String>),
    bool,
    BTreeSet<(usize, String, String)>,
);

fn canonical(cases: &[Case], classes: &[CpuClass]) -> BTreeSet<Canonical> {
    let rename = |cpu: u32| {
        classes
            .iter()
            .find(|c| c.contains(cpu))
            .map_or(cpu, |c| c.first)
    };
    cases
        .iter()
        .map(|c| {
            (
                (rename_point(&c.first.point, &rename), c.first.occurrence),
                c.second
                    .as_ref()
                    .map(|s| (rename_point(&s.point, &rename), s.occurrence)),
                c.step,
                (c.panic, c.differs.as_ref().map(|d| rename_text(d, &rename))),
                c.failed,
                c.violations
                    .iter()
                    .map(|v| {
                        (
                            v.step,
                            format!("{:?}", v.invariant),
                            rename_text(&v.text, &rename),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

fn gen_state(i: usize, cpus: u32) -> impl Strategy<Value = String> {
    (
        0..4usize,
        any::<bool>(),
        0..3usize,
        prop::option::of(1..cpus),
        0..3usize,
    )
        .prop_map(move |(section, multi, bug, fail_cpu, fail_kind)| {
            let section = ["prepare", "online", "online", "starting"][section];
            let mut t = format!("[[state]]\nname = \"s{i}:{section}\"\nsection = \"{section}\"\n");
            if section == "starting" {
                t += &format!("slot = {}\n", 40 + i);
            }
            let multi = multi && section != "starting";
            if multi {
                t += "multi = true\ninstances = [\"a\"]\n";
            }
            t += ["", "bug = \"leak-on-failure\"\n", "bug = \"teardown-leaks\"\n"][bug];
            // A planned failure on one CPU (which names it), or on every CPU every time.
            if section != "starting" {
                match (fail_kind, fail_cpu) {
                    (1, Some(c)) => {
                        t += &format!("fail = [{{ on = \"startup\", cpu = {c}, errno = \"ENOMEM\", times = 1 }}]\n")
                    }
                    (2, _) if section == "online" => {
                        t += "fail = [{ on = \"teardown\", errno = \"EBUSY\" }]\n"
                    }
                    _ => {}
                }
            }
            t
        })
}

fn gen_op(cpus: u32, states: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        (1..cpus).prop_map(|c| format!("down {c}")),
        (1..cpus).prop_map(|c| format!("up {c}")),
        Just("freeze".to_string()),
        Just("thaw".to_string()),
        (0..states).prop_map(|i| format!("add-instance s{i} b")),
        (0..states).prop_map(|i| format!("remove-instance s{i} a")),
        (0..states).prop_map(|i| format!("remove-state s{i}")),
    ]
}

/// A scenario as TOML text; ops that do not apply (an instance of a single-instance state, a
/// state name without its section) are fixed up by matching the names below.
fn gen_scenario() -> impl Strategy<Value = String> {
    (8..12u32, 1..4usize, 0..3usize, 1..3u32)
        .prop_flat_map(|(cpus, nstates, nnotifiers, threads)| {
            (
                Just((cpus, threads)),
                (0..nstates).map(|i| gen_state(i, cpus)).collect::<Vec<_>>(),
                Just(nnotifiers),
                prop::collection::vec(gen_op(cpus, nstates), 1..4),
                prop::option::of(1..cpus),
            )
        })
        .prop_map(|((cpus, threads), states, nnotifiers, ops, veto_cpu)| {
            let names: Vec<String> = states
                .iter()
                .map(|s| s.split('"').nth(1).unwrap_or_default().to_string())
                .collect();
            let ops: Vec<String> = ops
                .into_iter()
                .map(|op| {
                    let mut words: Vec<String> = op.split(' ').map(String::from).collect();
                    if let Some(i) = words
                        .get(1)
                        .and_then(|w| w.strip_prefix('s'))
                        .and_then(|n| n.parse::<usize>().ok())
                    {
                        words[1] = names[i].clone();
                    }
                    format!("\"{}\"", words.join(" "))
                })
                .collect();
            let mut t = format!(
                "ops = [{}]\n[machine]\ncpus = {cpus}\nthreads_per_core = {threads}\n",
                ops.join(", ")
            );
            for s in &states {
                t += s;
            }
            for n in 0..nnotifiers {
                t += &format!("[[notifier]]\nname = \"n{n}\"\npriority = {n}\n");
                if let (0, Some(c)) = (n, veto_cpu) {
                    t += &format!(
                        "veto = [{{ event = \"up_prepare\", cpu = {c}, errno = \"EBUSY\" }}]\n"
                    );
                }
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn symmetry_finds_what_every_cpu_finds(text in gen_scenario()) {
        // Generated ops may be refused (an instance of a single-instance state): skip those.
        let Ok(s) = Scenario::parse("gen.toml", &text) else { return Ok(()); };
        let options = ExploreOptions { jobs: 1, ..ExploreOptions::default() };
        let reduced = explore(&s, &options, |_, _, _| {});
        let full = explore(&s, &ExploreOptions { symmetry: false, ..options }, |_, _, _| {});
        prop_assert!(full.classes.is_empty());
        prop_assert_eq!(&reduced.baseline, &full.baseline);
        // The runs tried are runs of the full exploration, with the very same results.
        for c in &reduced.cases {
            prop_assert!(full.cases.contains(c), "{:?} is not a run of the full exploration", c);
        }
        // Every run of the full exploration has a counterpart with the same outcome.
        prop_assert_eq!(
            canonical(&reduced.cases, &reduced.classes),
            canonical(&full.cases, &reduced.classes),
            "scenario:\n{}", text
        );
        prop_assert!(reduced.cases.len() <= full.cases.len());
    }
}

/// A named CPU, the boot CPU and SMT control split or prevent the classes.
#[test]
fn classes_leave_out_what_the_scenario_names() {
    let explore_text = |text: &str| {
        let s = Scenario::parse("s.toml", text).unwrap();
        explore(&s, &ExploreOptions::default(), |_, _, _| {}).classes
    };
    let class = |first, last, explored: &[u32]| CpuClass {
        first,
        last,
        explored: explored.to_vec(),
    };
    // CPU 9 is named: CPUs 1–8 and 10–19 are two classes.
    assert_eq!(
        explore_text("ops = [\"down 9\"]\n[machine]\ncpus = 20\n"),
        [
            class(1, 8, &[1, 2, 5, 7, 8]),
            class(10, 19, &[10, 11, 15, 18, 19])
        ]
    );
    // Too few interchangeable CPUs: every CPU is explored.
    assert_eq!(
        explore_text("ops = [\"down 7\"]\n[machine]\ncpus = 8\n"),
        []
    );
    // A planned failure that counts calls across CPUs: which CPU it hits depends on the order.
    assert_eq!(
        explore_text(
            "[machine]\ncpus = 16\n[[state]]\nname = \"a:online\"\nsection = \"online\"\n\
             fail = [{ on = \"startup\", errno = \"EIO\", after = 3, times = 1 }]\n"
        ),
        []
    );
    // SMT off: a CPU's thread number decides whether it may come up.
    assert_eq!(
        explore_text("[machine]\ncpus = 16\nthreads_per_core = 2\nsmt = \"off\"\n"),
        []
    );
    // A freeze takes every CPU but the boot CPU down alike.
    let s = "ops = [\"freeze\", \"thaw\"]\n[machine]\ncpus = 32\n";
    assert_eq!(explore_text(s), [class(1, 31, &[1, 2, 16, 30, 31])]);
}

/// The report names the representative of each class.
#[test]
fn a_class_says_which_cpus_stand_for_which() {
    let s = Scenario::parse(
        "s.toml",
        "ops = [\"down 1\"]\n[machine]\ncpus = 64\n[[state]]\nname = \"a:online\"\nsection = \"online\"\nbug = \"leak-on-failure\"\n",
    )
    .unwrap();
    let reduced = explore(&s, &ExploreOptions::default(), |_, _, _| {});
    assert_eq!(reduced.classes.len(), 1);
    assert_eq!(
        reduced.classes[0].to_string(),
        "CPUs 2, 3, 33, 62, 63 stand for CPUs 2–63"
    );
    // No failure point on CPUs outside the explored members.
    for c in &reduced.cases {
        for p in std::iter::once(&c.first).chain(&c.second) {
            let cpu = match &p.point {
                Point::Callback { cpu, .. }
                | Point::Notifier { cpu, .. }
                | Point::Platform { cpu, .. } => *cpu,
            };
            // First failures on 2, 3, 33, 62, 63; second ones on the first, second and last
            // member of the part before and after the first.
            assert!(
                cpu < 2 || [2, 3, 4, 5, 32, 33, 34, 35, 61, 62, 63].contains(&cpu),
                "{p}"
            );
        }
    }
    let first = reduced.first_violation().unwrap();
    assert_eq!(first.first.to_string(), "startup of a:online on CPU 0");
}

/// Found by the property above: a freeze fails on the first CPU it takes (a teardown that fails
/// everywhere), so that CPU's callbacks ran and were rolled back while the others' never ran; with
/// a teardown that leaks, what it holds differs although its state after each step is the same
/// as theirs. It is no longer in a class with them, and both explorations agree.
#[test]
fn a_cpu_where_the_baseline_failed_is_not_interchangeable() {
    let text = r#"ops = ["freeze", "remove-state s2:online"]
[machine]
cpus = 10
[[state]]
name = "s0:online"
section = "online"
fail = [{ on = "teardown", errno = "EBUSY" }]
[[state]]
name = "s1:prepare"
section = "prepare"
[[state]]
name = "s2:online"
section = "online"
bug = "teardown-leaks"
[[notifier]]
name = "n0"
priority = 0
"#;
    let s = Scenario::parse("freeze.toml", text).unwrap();
    let options = ExploreOptions {
        jobs: 1,
        ..ExploreOptions::default()
    };
    let reduced = explore(&s, &options, |_, _, _| {});
    let full = explore(
        &s,
        &ExploreOptions {
            symmetry: false,
            ..options
        },
        |_, _, _| {},
    );
    // CPU 0 boots, CPU 1 is where the freeze failed: 2–9 are alike.
    assert_eq!(reduced.classes.len(), 1);
    assert_eq!((reduced.classes[0].first, reduced.classes[0].last), (2, 9));
    assert_eq!(
        canonical(&reduced.cases, &reduced.classes),
        canonical(&full.cases, &reduced.classes)
    );
    assert!(reduced.cases.len() < full.cases.len());
}
