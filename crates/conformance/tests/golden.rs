//! Every trace recorded on Linux 6.1 (`data/`) replays identically on the simulated machine —
//! except `cpuhp_offline_fail_prep_teardown`, which must be reported as the documented,
//! deliberate difference (PREPARE teardowns cannot fail), never as a pass.

use conformance::ChainKind;
use conformance::replay::{Options, Verdict, compare, replay};

fn check(name: &str, opts: &Options) -> Verdict {
    let path = format!("{}/data/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("golden file");
    let ours = replay(&text, opts).expect("replayable");
    let verdict = compare(&text, &ours);
    if let Verdict::Mismatch { at, expected, got } = &verdict {
        let ctx: Vec<_> = ours
            .lines
            .iter()
            .skip(at.saturating_sub(6))
            .take(8)
            .map(|l| l.text.as_str())
            .collect();
        panic!(
            "{name}: line {}: expected {expected:?}, got {got:?}\n--- ours around it:\n{}",
            at + 1,
            ctx.join("\n")
        );
    }
    verdict
}

fn pass(name: &str) {
    let v = check(name, &Options::default());
    assert!(matches!(v, Verdict::Pass { .. }), "{name}: {v:?}");
}

#[test]
fn states_baseline() {
    pass("states_baseline");
}

#[test]
fn notifier() {
    pass("notifier");
}

#[test]
fn notifier_on_every_pairing_of_chain_kinds() {
    for blocking in ChainKind::ALL {
        for raw in ChainKind::ALL {
            let v = check(
                "notifier",
                &Options {
                    blocking,
                    raw,
                    ..Options::default()
                },
            );
            assert!(matches!(v, Verdict::Pass { .. }), "{blocking}/{raw}: {v:?}");
        }
    }
}

#[test]
fn cpuhp_basic() {
    pass("cpuhp_basic");
}

#[test]
fn cpuhp_offline_fail_b() {
    pass("cpuhp_offline_fail_b");
}

#[test]
fn cpuhp_online_fail_c() {
    pass("cpuhp_online_fail_c");
}

#[test]
fn cpuhp_setup_fail_b_on_cpu2() {
    pass("cpuhp_setup_fail_b_on_cpu2");
}

#[test]
fn kernel_fail_file() {
    pass("kernel_fail_file");
}

#[test]
fn multi_basic() {
    pass("multi_basic");
}

#[test]
fn multi_online_fail_i1() {
    pass("multi_online_fail_i1");
}

#[test]
fn trace_cpuhp() {
    pass("trace_cpuhp");
}

#[test]
fn trace_cpuhp_online_fail_b() {
    pass("trace_cpuhp_online_fail_b");
}

#[test]
fn prep_teardown_failure_is_a_reported_deliberate_difference() {
    match check("cpuhp_offline_fail_prep_teardown", &Options::default()) {
        Verdict::Deliberate {
            expected,
            got,
            reason,
            ..
        } => {
            assert_eq!(
                expected.as_deref(),
                Some("HPORACLE seq=30 cpuhp state=prep phase=teardown cpu=1 on=bp ret=-22")
            );
            assert_eq!(
                got.as_deref(),
                Some("HPORACLE seq=30 cpuhp state=prep phase=teardown cpu=1 on=bp ret=0")
            );
            assert!(reason.contains("cannot fail by type"));
        }
        v => panic!("expected a deliberate difference, got {v:?}"),
    }
}
