//! A run streamed step by step: `run_streaming` hands each step on before the next one runs and
//! keeps nothing of it, and a `Renderer` fed the steps writes exactly what `render_with` writes
//! for the whole run — in every format, width and colour, inline and on the threaded simulator.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use cpuhp_scenario::{
    DEMO_SCENARIO, Event, Format, Renderer, Scenario, StepRecord, Width, render_with, run,
    run_streaming,
};

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

fn example(name: &str) -> Scenario {
    let path = format!("{}/../../examples/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::parse(&format!("examples/{name}.toml"), &text).unwrap()
}

/// A scenario of `n` operations that keep failing and rolling back: a teardown that always fails
/// on CPU 2, a notifier that always vetoes taking CPU 3 down, instances added and removed (each
/// with a new id), a freeze and a thaw, a CPU that fails to boot once.
fn long(n: usize) -> Scenario {
    let cycle = [
        "down 1",
        "up 1",
        "down 2",
        "down 3",
        "add-instance nvme:queues q",
        "remove-instance nvme:queues q",
        "freeze",
        "thaw",
    ];
    let ops: Vec<String> = (0..n)
        .map(|i| format!("\"{}\"", cycle[i % cycle.len()]))
        .collect();
    let text = format!(
        r#"ops = [{}]
[machine]
cpus = 4
[[state]]
name = "drv:prepare"
section = "prepare"
[[state]]
name = "drv:starting"
section = "starting"
slot = 40
[[state]]
name = "drv:online"
section = "online"
fail = [{{ on = "teardown", cpu = 2, errno = "EBUSY" }}]
[[state]]
name = "nvme:queues"
section = "online"
multi = true
instances = ["nvme0"]
[[notifier]]
name = "a"
priority = 20
[[notifier]]
name = "b"
priority = 10
veto = [{{ event = "down_prepare", cpu = 3, errno = "EBUSY" }}]
[[fault]]
on = "boot"
cpu = 1
after = 2
times = 1
"#,
        ops.join(", ")
    );
    Scenario::parse("long.toml", &text).unwrap()
}

/// Every scenario whose streamed text must be byte for byte the whole run's.
fn scenarios() -> Vec<(String, Scenario)> {
    let mut v: Vec<(String, Scenario)> = EXAMPLES
        .iter()
        .map(|n| (n.to_string(), example(n)))
        .collect();
    v.push((
        "demo".into(),
        Scenario::parse("demo.toml", DEMO_SCENARIO).unwrap(),
    ));
    v.push(("long".into(), long(40)));
    v
}

/// The text a `Renderer` writes as `run_streaming` hands it the steps.
fn streamed(s: &Scenario, threads: bool, format: Format, color: bool, width: Width) -> String {
    let mut r = Renderer::new(s, format, color, width);
    let mut text = String::new();
    let end = run_streaming(s, threads, |step, names| {
        text.push_str(&r.step(step, names))
    });
    text + &r.finish(&end)
}

#[test]
fn streamed_text_is_the_whole_runs_rendering_in_every_format() {
    for (name, s) in scenarios() {
        for threads in [false, true] {
            let rec = run(&s, threads);
            for (_, format) in Format::ALL {
                for width in [Width::Columns(80), Width::Columns(100), Width::Wide] {
                    for color in [false, true] {
                        let whole = render_with(&rec, &s, format, color, width);
                        let text = streamed(&s, threads, format, color, width);
                        assert!(
                            text == whole,
                            "{name}, {format:?} {width:?}, colour {color}, threads {threads}:\n\
                             --- streamed ---\n{text}\n--- whole ---\n{whole}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_streamed_steps_make_up_the_record() {
    let s = long(40);
    let rec = run(&s, false);
    let mut steps: Vec<StepRecord> = Vec::new();
    let mut names = BTreeMap::new();
    let end = run_streaming(&s, false, |step, n| {
        steps.push(step.clone());
        names = n.clone();
    });
    let events: Vec<Event> = steps.iter().flat_map(|st| st.events.clone()).collect();
    assert_eq!(events, rec.events);
    let after: Vec<Vec<u32>> = steps.iter().map(|st| st.states_after.clone()).collect();
    assert_eq!(after, rec.states_after);
    let violations: Vec<_> = steps.iter().flat_map(|st| st.violations.clone()).collect();
    assert_eq!(violations, rec.violations);
    assert_eq!(end.violations, rec.violations);
    let reached: Vec<_> = steps.iter().flat_map(|st| st.reached.clone()).collect();
    assert_eq!(reached, rec.reached);
    assert_eq!(end.final_states, rec.final_states);
    assert_eq!(end.states_before, rec.states_before);
    assert_eq!(end.state_names, rec.state_names);
    assert_eq!(names, rec.state_names);
    assert_eq!(end.setup_steps, rec.setup_steps);
    let what: Vec<&str> = steps.iter().map(StepRecord::what).collect();
    assert_eq!(what, rec.steps);
    // Each step holds its own events only: from its `Step` to its `StepDone`.
    for (k, st) in steps.iter().enumerate() {
        assert_eq!(st.index, k);
        assert!(
            matches!(st.events.first(), Some(Event::Step { index, .. }) if *index == k),
            "{:?}",
            st.events.first()
        );
        assert!(
            matches!(st.events.last(), Some(Event::StepDone { index, .. }) if *index == k),
            "{:?}",
            st.events.last()
        );
        let before = if k == 0 {
            &rec.states_before
        } else {
            &rec.states_after[k - 1]
        };
        assert_eq!(&st.states_before, before);
    }
}

/// The sink has the first operation's text while the second has not run: told to stop there,
/// the run ends with the CPUs where the first operation left them.
#[test]
fn each_step_is_handed_on_before_the_next_one_runs() {
    let s = Scenario::parse(
        "s.toml",
        "ops = [\"down 1\", \"down 2\", \"up 1\"]\n[machine]\ncpus = 3\n",
    )
    .unwrap();
    for threads in [false, true] {
        let mut r = Renderer::new(&s, Format::Timeline, false, Width::Wide);
        let mut seen = Vec::new();
        let end = run_streaming(&s, threads, |step, names| {
            seen.push(r.step(step, names));
            ControlFlow::Break(())
        });
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("── 1. down 1"), "{}", seen[0]);
        assert!(seen[0].contains("⇒ ok: CPU 1: 99 → 0"), "{}", seen[0]);
        // `down 2` never ran.
        assert_eq!(end.final_states, [99, 0, 99]);
        assert!(!r.finish(&end).contains("down 2"));
    }
}

/// A run that fails to roll back stops there; the streamed text says where, as the whole run's
/// does.
#[test]
fn a_run_that_stops_early_says_so_when_streamed() {
    let s = example("rollback-failure");
    let rec = run(&s, false);
    let at = rec.stopped_at.expect("the example's rollback fails");
    let text = streamed(&s, false, Format::Timeline, false, Width::Columns(100));
    assert!(
        text.contains(&format!("stopped after `{}`", rec.steps[at])),
        "{text}"
    );
}
