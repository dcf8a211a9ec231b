//! The `cpuhp` binary, run as a user runs it.
//!
//! Index:
//! * `replay_*`: `cpuhp replay` — exit codes 0 (pass), 1 (mismatch), 2 (bad input),
//!   3 (deliberate difference only); `--emit`.

use assert_cmd::Command;
use predicates::prelude::*;

fn data(name: &str) -> String {
    format!(
        "{}/../conformance/data/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn cpuhp() -> Command {
    Command::cargo_bin("cpuhp").unwrap()
}

#[test]
fn replay_passes_a_recording() {
    cpuhp()
        .args(["replay", &data("cpuhp_basic"), &data("trace_cpuhp")])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("PASS")
                .and(predicate::str::contains("trace_cpuhp.txt (286 lines)")),
        );
}

#[test]
fn replay_reports_the_deliberate_difference_never_as_a_pass() {
    cpuhp()
        .args(["replay", &data("cpuhp_offline_fail_prep_teardown")])
        .assert()
        .code(3)
        .stdout(
            predicate::str::contains("DELIBERATE DIFFERENCE")
                .and(predicate::str::contains("line 36")),
        );
}

#[test]
fn replay_fails_on_a_mismatch_and_shows_where() {
    let dir = std::env::temp_dir().join(format!("cpuhp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("edited.txt");
    let text = std::fs::read_to_string(data("cpuhp_offline_fail_b")).unwrap();
    std::fs::write(&bad, text.replace("rc=-16 err=EBUSY", "rc=0 err=0")).unwrap();
    cpuhp()
        .args(["replay", bad.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("FAIL")
                .and(predicate::str::contains("-    37  WRITE path=/sys/devices/system/cpu/cpu1/online val=0 rc=0 err=0"))
                .and(predicate::str::contains("+    37  WRITE path=/sys/devices/system/cpu/cpu1/online val=0 rc=-16 err=EBUSY")),
        );
}

#[test]
fn replay_rejects_a_malformed_file_with_its_line() {
    let dir = std::env::temp_dir().join(format!("cpuhp-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "ONLINE 0-3\nCMD reboot now\n").unwrap();
    cpuhp()
        .args(["replay", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bad.txt:2: line 2: `CMD reboot now`: expected CMD insmod",
        ));
    cpuhp()
        .args(["replay", "/nonexistent/file.txt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/file.txt"));
}

#[test]
fn replay_emits_the_complete_file() {
    let expected = std::fs::read_to_string(data("multi_basic")).unwrap();
    cpuhp()
        .args(["replay", "--emit", &data("multi_basic")])
        .assert()
        .code(0)
        .stdout(expected);
}
