//! The torture test: random hotplug operations with random failures on one threaded simulator,
//! every invariant checked after each operation and at quiescent points.

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
        seed: 0x8,
        ..TortureConfig::default()
    };
    let r = torture::run(&config, |_| {});
    eprintln!("{}", show(&r));
    assert!(r.is_clean(), "{}", show(&r));
    assert!(r.total_ops() > 0);
    assert_eq!(r.quiescent_checks as u64 * 2 * 64 >= r.total_ops(), true);
}

#[test]
#[ignore]
fn scan_seeds() {
    for seed in 0..200u64 {
        let config = TortureConfig { threads: 1, cpus: 4, max_ops: Some(2000), seed, ..TortureConfig::default() };
        let r = torture::run(&config, |_| {});
        if !r.is_clean() {
            eprintln!("SEED {seed}: {}", r.first_violation().unwrap());
        }
    }
}
