//! The torture test: random hotplug operations with random failures on one threaded simulator,
//! every invariant checked after each operation and at quiescent points.
//!
//! Budget: about 8 s of wall time (2 threads × 6 s, plus two short single-thread runs).

use std::time::Duration;

use cpuhp_scenario::torture::{self, TortureConfig, TortureReport, OP_KINDS};

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
    assert!(r
        .violations
        .iter()
        .all(|v| v.check != torture::Check::NoPanic));
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
