//! The torture test: random hotplug operations with random failures on one threaded simulator,
//! every invariant checked after each operation and at quiescent points.
//!
//! Budget: about 8 s of wall time (2 threads × 6 s, plus two short single-thread runs).

use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cpuhp_scenario::torture::{self, INJECTED_PANIC, OP_KINDS, TortureConfig, TortureReport};

/// Panics the exploration injected (the machine catches them).
static EXPLORE_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Keeps the injected panics (caught by the machine) off the test output, and counts
/// exploration's; any other panic is printed as usual.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            match info.payload().downcast_ref::<&str>() {
                Some(&"explore: injected panic") => {
                    EXPLORE_PANICS.fetch_add(1, SeqCst);
                }
                Some(&m) if m == INJECTED_PANIC => {}
                _ => default_hook(info),
            }
        }));
    });
}

fn show(r: &TortureReport) -> String {
    format!(
        "seed {}: {} violations, first: {}\nops {:?}\nerrors {:?}\ninjected {:?}\nwarnings {:?}",
        r.seed,
        r.violation_count,
        r.first_violation().map_or(String::new(), |v| v.to_string()),
        r.ops,
        r.errors,
        r.injected,
        r.warnings
    )
}

#[test]
fn two_threads_on_four_cpus_keep_every_invariant() {
    let config = TortureConfig {
        threads: 2,
        cpus: 4,
        duration: Duration::from_secs(6),
        seed: 0x5EED,
        ..TortureConfig::default()
    };
    quiet_injected_panics();
    let r = torture::run(&config, |_| {});
    assert!(r.is_clean(), "{}", show(&r));
    assert_eq!(r.violations, []);
    // Every thread stopped at the same quiescent point.
    assert_eq!(r.total_ops(), r.quiescent_checks * 2 * 64);
    // Most of the run was checked: a rollback failure ends the checks of its CPU until the
    // machine is rebooted (once half of its CPUs are undefined).
    assert!(r.cpu_checks > 2 * r.excused_cpu_checks, "{}", show(&r));
    assert!(r.checks > r.total_ops() / 4, "{}", show(&r));
}

fn single(seed: u64) -> TortureReport {
    quiet_injected_panics();
    torture::run(
        &TortureConfig {
            threads: 1,
            cpus: 4,
            max_ops: Some(3000),
            duration: Duration::from_secs(60),
            seed,
            ..TortureConfig::default()
        },
        |_| {},
    )
}

#[test]
fn one_thread_does_every_kind_of_operation_and_failure_reproducibly() {
    let r = single(7);
    assert!(r.is_clean(), "{}", show(&r));
    assert_eq!(r.total_ops(), 3000);
    for kind in OP_KINDS {
        let c = r.ops[kind];
        assert!(c.attempted > 0, "{kind} never ran: {}", show(&r));
        assert!(c.succeeded > 0, "{kind} never succeeded: {}", show(&r));
    }
    for source in [
        "callback (armed)",
        "callback (fired)",
        "notifier veto (armed)",
        "notifier veto (fired)",
        "fault (armed)",
        "fault/hotplug-fail (fired)",
        "hotplug/fail (armed)",
        "platform start (armed)",
        "platform stop (armed)",
        "wakeup (armed)",
        "panic (armed)",
        "panic (fired)",
    ] {
        assert!(r.injected[source] > 0, "no {source}: {}", show(&r));
    }
    for kind in [
        "Callback",
        "Platform",
        "LastCpu",
        "SmtForbidden",
        "InvalidTarget",
        "SlotTaken",
    ] {
        assert!(
            r.errors.get(kind).is_some_and(|&n| n > 0),
            "no {kind}: {}",
            show(&r)
        );
    }
    assert!(r.rollbacks > 0);
    // Injected panics are failures the machine reports, never a panic out of an operation.
    assert!(
        r.violations
            .iter()
            .all(|v| v.check != torture::Check::NoPanic)
    );
    assert!(r.quiescent_checks > 0);
    // One thread: the same seed runs the same operations with the same outcomes.
    let again = single(7);
    assert_eq!(again.ops, r.ops);
    assert_eq!(again.errors, r.errors);
    assert_eq!(again.injected, r.injected);
    assert_eq!(again.rollbacks, r.rollbacks);
    // Another seed, another run.
    assert_ne!(single(8).ops, r.ops);
}

// ----- exploration's "panic" failure kind ---------------------------------------------------------

fn example(name: &str) -> cpuhp_scenario::Scenario {
    let path = format!("{}/../../examples/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    cpuhp_scenario::Scenario::parse(&path, &text).unwrap()
}

#[test]
fn explore_makes_every_callback_failure_point_panic_once_and_expects_the_eio_rollback() {
    use cpuhp_scenario::{ExploreOptions, Point, explore};
    quiet_injected_panics();
    let found = explore(
        &example("multi-instance"),
        &ExploreOptions::default(),
        |_, _, _| {},
    );
    assert!(found.is_clean(), "{:?}", found.first_violation());
    let callback = |c: &&cpuhp_scenario::Case| matches!(c.first.point, Point::Callback { .. });
    let errno_points: Vec<_> = found
        .cases
        .iter()
        .filter(|c| !c.panic && c.second.is_none())
        .filter(callback)
        .map(|c| (&c.first, c.step, c.failed))
        .collect();
    let panic_points: Vec<_> = found
        .cases
        .iter()
        .filter(|c| c.panic)
        .map(|c| (&c.first, c.step, c.failed))
        .collect();
    // The same points, in the same steps, with the same outcome; only callbacks panic.
    assert_eq!(panic_points, errno_points);
    assert!(!panic_points.is_empty());
    assert!(
        found
            .cases
            .iter()
            .filter(|c| c.panic)
            .all(|c| c.second.is_none()
                && c.differs.is_none()
                && matches!(c.first.point, Point::Callback { .. }))
    );
    // Off: no panic runs.
    let options = ExploreOptions {
        panics: false,
        ..ExploreOptions::default()
    };
    let without = explore(&example("multi-instance"), &options, |_, _, _| {});
    assert_eq!(without.cases.len() + panic_points.len(), found.cases.len());
}

#[test]
fn a_panicking_leaky_driver_breaks_the_same_invariants_as_a_failing_one() {
    use cpuhp_scenario::{ExploreOptions, explore};
    quiet_injected_panics();
    let found = explore(
        &example("leaky-driver"),
        &ExploreOptions::default(),
        |_, _, _| {},
    );
    let panic_runs = found.cases.iter().filter(|c| c.panic).count();
    assert!(panic_runs > 0);
    // One panic per panic run (this test's own exploration, at least).
    assert!(EXPLORE_PANICS.load(SeqCst) >= panic_runs);
    let broken = |panic: bool| -> Vec<_> {
        found
            .cases
            .iter()
            .filter(|c| c.panic == panic && c.second.is_none() && !c.violations.is_empty())
            .map(|c| (c.first.to_string(), c.violations.clone()))
            .collect()
    };
    assert!(!broken(false).is_empty());
    // Same leak, same step, same words: the machine rolled back identically.
    assert_eq!(broken(true), broken(false));
    assert!(found.cases.iter().all(|c| c.differs.is_none()));
    // The minimal case stays the errno one.
    assert!(!found.first_violation().unwrap().panic);
}
