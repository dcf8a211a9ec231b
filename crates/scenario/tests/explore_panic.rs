//! Panicking callbacks in `explore`: every failure point of a scenario callback is also tried as
//! a panic, which the state machine must undo exactly as the errno failure.

use cpuhp_scenario::{explore, Case, ExploreOptions, Invariant, Point, Scenario};

const LEAKY: &str = r#"
    ops = ["down 1", "up 1"]
    [machine]
    cpus = 2
    [[state]]
    name = "leaky:online"
    section = "online"
    bug = "leak-on-failure"
    [[state]]
    name = "fine:online"
    section = "online"
    [[notifier]]
    name = "n"
    priority = 0
"#;

fn errno_twin<'a>(cases: &'a [Case], panic: &Case) -> &'a Case {
    cases
        .iter()
        .find(|c| {
            !c.first.panic
                && c.second.is_none()
                && c.first.point == panic.first.point
                && c.first.occurrence == panic.first.occurrence
        })
        .expect("the errno run of the same point")
}

#[test]
fn every_scenario_callback_point_panics_once_and_is_undone_like_an_errno() {
    let s = Scenario::parse("leaky.toml", LEAKY).unwrap();
    let found = explore(&s, &ExploreOptions::default(), |_, _, _| {});
    let singles: Vec<&Case> = found
        .cases
        .iter()
        .filter(|c| c.second.is_none() && !c.first.panic)
        .collect();
    let panics: Vec<&Case> = found.cases.iter().filter(|c| c.first.panic).collect();
    // One panic run per callback point, none for notifiers or the platform.
    let callback_points = singles
        .iter()
        .filter(|c| matches!(c.first.point, Point::Callback { .. }))
        .count();
    assert_eq!(panics.len(), callback_points);
    assert!(singles
        .iter()
        .any(|c| !matches!(c.first.point, Point::Callback { .. })));
    for p in &panics {
        let twin = errno_twin(&found.cases, p);
        assert!(p.second.is_none());
        assert_eq!((p.step, p.failed), (twin.step, twin.failed), "{}", p.first);
        // The planted leak leaks on a panic as on an errno; nothing else differs.
        assert_eq!(p.violations, twin.violations, "{}", p.first);
        assert!(p
            .violations
            .iter()
            .all(|v| v.invariant != Invariant::PanicLikeErrno));
    }
    // The leak is found through panics too.
    let leak = panics
        .iter()
        .find(|c| !c.violations.is_empty())
        .expect("a panicking leaky startup");
    assert_eq!(
        leak.first.to_string(),
        "startup of leaky:online on CPU 0, panicking"
    );
    // Panic runs come after the errno runs, before the double failures.
    let first_panic = found.cases.iter().position(|c| c.first.panic).unwrap();
    assert!(found.cases[..first_panic]
        .iter()
        .all(|c| c.second.is_none() && !c.first.panic));
    assert!(found.cases[first_panic..panics.len() + first_panic]
        .iter()
        .all(|c| c.first.panic));
    // The minimal violation is still the errno one.
    assert!(!found.first_violation().unwrap().first.panic);
}

#[test]
fn panics_can_be_left_out() {
    let s = Scenario::parse("leaky.toml", LEAKY).unwrap();
    let with = explore(&s, &ExploreOptions::default(), |_, _, _| {});
    let without = explore(
        &s,
        &ExploreOptions {
            panics: false,
            ..ExploreOptions::default()
        },
        |_, _, _| {},
    );
    assert!(without.cases.iter().all(|c| !c.first.panic));
    let errno_only: Vec<&Case> = with.cases.iter().filter(|c| !c.first.panic).collect();
    assert_eq!(without.cases.iter().collect::<Vec<_>>(), errno_only);
}
