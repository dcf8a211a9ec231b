//! `cpuhp explore` on a machine large enough for classes of interchangeable CPUs: the summary
//! names them, `--no-symmetry` tries every CPU and finds the same bug, `--no-panics` leaves out
//! the panic runs, `--no-checkpoints` runs every case from boot and reports the same.

use assert_cmd::Command;
use predicates::prelude::*;

const SCENARIO: &str = r#"
ops = ["down 1", "up 1"]
[machine]
cpus = 12
[[state]]
name = "leaky:online"
section = "online"
bug = "leak-on-failure"
"#;

fn explore(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    std::fs::write(&path, SCENARIO).unwrap();
    let out = Command::cargo_bin("cpuhp")
        .unwrap()
        .arg("explore")
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn the_summary_names_the_classes_and_both_modes_find_the_bug() {
    let (code, reduced) = explore(&["--jobs", "2"]);
    assert_eq!(code, 1);
    // CPU 0 boots, CPU 1 is named: 2–11 are interchangeable.
    assert!(
        reduced.contains("CPUs 2, 3, 7, 10, 11 stand for CPUs 2–11\n"),
        "{reduced}"
    );
    let (code, full) = explore(&["--jobs", "2", "--no-symmetry"]);
    assert_eq!(code, 1);
    assert!(!full.contains("stand for"), "{full}");
    let minimal = "inject: startup of leaky:online on CPU 0 — in step 1 (setup-state leaky:online)";
    assert!(reduced.contains(minimal) && full.contains(minimal));
    // Fewer runs with the reduction.
    let runs = |text: &str| -> usize {
        let line = text
            .lines()
            .find(|l| l.contains(" of ") && l.contains(" runs "))
            .unwrap();
        line.split(" of ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(runs(&reduced) < runs(&full), "{reduced}\n{full}");
}

#[test]
fn no_panics_leaves_out_the_panic_runs() {
    let (_, with) = explore(&["--json"]);
    let (_, without) = explore(&["--json", "--no-panics"]);
    let panics = |text: &str| {
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["panic"] == true)
            .count()
    };
    assert!(panics(&with) > 0);
    assert_eq!(panics(&without), 0);
    assert!(predicate::str::contains("\"classes\"").eval(&with));
}

#[test]
fn no_checkpoints_reports_the_same() {
    let (code, with) = explore(&["--json", "--jobs", "2"]);
    let (code2, without) = explore(&["--json", "--jobs", "2", "--no-checkpoints"]);
    assert_eq!((code, code2), (1, 1));
    assert_eq!(with, without);
}
