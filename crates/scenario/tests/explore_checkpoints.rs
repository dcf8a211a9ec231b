//! Checkpoints in `explore`: an exploration whose runs start from the baseline's checkpoints
//! reports exactly what one whose runs all start from boot reports — the same cases in the same
//! order (failures, step, outcome, violations, a panic's difference), the same baseline
//! violations, classes and minimal case — on every example and on random scenarios.

use cpuhp_scenario::{Exploration, ExploreOptions, Scenario, explore};
use proptest::prelude::*;

mod generate;
use generate::gen_scenario;

fn both(s: &Scenario, options: &ExploreOptions) -> (Exploration, Exploration) {
    let with = explore(
        s,
        &ExploreOptions {
            checkpoints: true,
            ..options.clone()
        },
        |_, _, _| {},
    );
    let without = explore(
        s,
        &ExploreOptions {
            checkpoints: false,
            ..options.clone()
        },
        |_, _, _| {},
    );
    (with, without)
}

#[test]
fn examples_explore_alike_with_and_without_checkpoints() {
    let mut broken = 0;
    let mut files: Vec<_> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
    files.push(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../benches/explore-16cpu.toml"
        )
        .into(),
    );
    files.sort();
    assert!(files.len() >= 9);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let s = Scenario::parse(&path.display().to_string(), &text).unwrap();
        let (with, without) = both(&s, &ExploreOptions::default());
        assert_eq!(with, without, "{}", path.display());
        assert_eq!(with.first_violation(), without.first_violation());
        broken += with.cases.iter().filter(|c| c.is_broken()).count();
    }
    // The examples plant bugs: the comparison covers violations, not only clean runs.
    assert!(broken > 0);
}

/// A planned failure for any CPU with `after` shares its counter with the failure explore
/// injects at the same point (the injected one comes first and takes the calls it lets
/// through): such a run leaves the baseline's path at the first call there, and must start from
/// a checkpoint before it.
#[test]
fn a_planned_failure_counting_calls_at_the_injected_point() {
    let s = Scenario::parse(
        "s.toml",
        r#"
        ops = ["down 1", "down 2", "up 1", "up 2", "freeze", "thaw", "down 3", "up 3"]
        [machine]
        cpus = 4
        [[state]]
        name = "x:online"
        section = "online"
        bug = "leak-on-failure"
        fail = [{ on = "startup", errno = "ENOMEM", after = 4, times = 1 }]
        [[notifier]]
        name = "n"
        veto = [{ event = "down_prepare", errno = "EBUSY", after = 3, times = 1 }]
        [[fault]]
        on = "boot"
        errno = "EIO"
        after = 2
        times = 1
        "#,
    )
    .unwrap();
    let (with, without) = both(&s, &ExploreOptions::default());
    assert_eq!(with, without);
    assert!(with.cases.iter().any(|c| c.is_broken()));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn checkpoints_find_what_runs_from_boot_find(g in gen_scenario()) {
        let text = g.to_toml();
        let s = Scenario::parse("gen.toml", &text).unwrap();
        let options = ExploreOptions { jobs: 2, ..ExploreOptions::default() };
        let (with, without) = both(&s, &options);
        prop_assert_eq!(&with, &without, "scenario:\n{}", text);
        prop_assert_eq!(with.first_violation(), without.first_violation());
    }
}
