//! The `cpuhp` binary, run as a user runs it.
//!
//! Index:
//! * `replay_*`: `cpuhp replay` — exit codes 0 (pass), 1 (mismatch), 2 (bad input),
//!   3 (deliberate difference only); `--emit`.
//! * `demo_*`, `run_*`, `explore_*`, `states_*`: the scenario commands — exit codes 0 (ran, every
//!   invariant held), 1 (an invariant broke), 2 (bad usage or input, with file:line:column).
//! * `torture_*`: `cpuhp torture` — 0 (every invariant held), 2 (bad usage).

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

/// The last line sums the run up, each deliberate difference named once.
#[test]
fn replay_ends_with_a_summary_line() {
    let out = cpuhp()
        .args([
            "replay",
            &data("cpuhp_basic"),
            &data("trace_cpuhp"),
            &data("cpuhp_offline_fail_prep_teardown"),
        ])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("3 recordings: 2 identical, 1 deliberate difference (PREPARE-section teardowns cannot fail by type"),
        "{last}"
    );
    assert!(last.ends_with(", 0 different"), "{last}");
}

/// A file that is no recording is bad input (exit 2), never a pass of zero lines.
#[test]
fn replay_refuses_an_empty_file() {
    let dir = std::env::temp_dir().join(format!("cpuhp-cli-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    cpuhp()
        .args(["replay", empty.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a recording"))
        .stdout(predicate::str::contains(
            "1 recording: 0 identical, 0 deliberate differences, 0 different, 1 not replayed (bad input)",
        ));
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

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn demo_tells_the_seed_story_without_colour_when_piped() {
    cpuhp().arg("demo").assert().code(0).stdout(
        predicate::str::contains("kvm: CPU_UP_PREPARE 3")
            .and(predicate::str::contains(
                "robust-call           the seed: a veto of CPU_UP_PREPARE or CPU_DOWN_PREPARE",
            ))
            .and(predicate::str::contains("invariants: all held"))
            .and(predicate::str::contains("\u{1b}[").not()),
    );
}

#[test]
fn demo_as_perfetto_json() {
    let out = cpuhp()
        .args(["demo", "--format", "perfetto", "--inline"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(doc["traceEvents"].as_array().unwrap().len() > 100);
}

#[test]
fn run_renders_every_format_and_writes_files() {
    cpuhp()
        .args(["run", &example("seed"), "--format", "ftrace"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::starts_with("# tracer: nop").and(predicate::str::contains(
                "cpuhp_enter: cpu: 0002 target:  99 step:   9 (notify_prepare)",
            )),
        );
    cpuhp()
        .args(["run", &example("seed"), "-f", "jsonl"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            r#"{"event":"step","index":0,"what":"register-notifier a","op":false}"#,
        ));
    let dir = std::env::temp_dir().join(format!("cpuhp-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("seed.json");
    cpuhp()
        .args(["run", &example("seed"), "-f", "perfetto", "-o"])
        .arg(&file)
        .assert()
        .code(0)
        .stdout("");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(doc["traceEvents"].is_array());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_reports_a_bad_scenario_with_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("cpuhp-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "ops = [\"down 1\"]\n[machine]\ncpus = 2\npreset = \"linux-6.2\"\n",
    )
    .unwrap();
    cpuhp()
        .arg("run")
        .arg(&file)
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("bad.toml:4:10: error: unknown preset `linux-6.2`")
                .and(predicate::str::contains("4 | preset = \"linux-6.2\""))
                .and(predicate::str::contains("^^^^^^^^^^^"))
                // `linux-6.1` and `linux-6.12` are equally close.
                .and(predicate::str::contains("help: did you mean `linux-6.1")),
        );
    std::fs::remove_dir_all(&dir).unwrap();
    cpuhp()
        .args(["run", "/nonexistent/scenario.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read /nonexistent/scenario.toml",
        ));
}

#[test]
fn explore_names_the_minimal_failure_of_a_broken_driver() {
    cpuhp()
        .args(["explore", &example("leaky-driver")])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("The minimal one:")
                .and(predicate::str::contains(
                    "inject: startup of leaky:online on CPU 0 — in step 1 (setup-state leaky:online)",
                ))
                .and(predicate::str::contains(
                    "where-it-began: leaky:online on CPU 0 is held after the failed operation undid it",
                )),
        );
}

#[test]
fn explore_of_a_sound_scenario_passes() {
    cpuhp()
        .args(["explore", &example("multi-instance"), "--jobs", "2"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("every invariant held in all"));
    let out = cpuhp()
        .args([
            "explore",
            &example("seed"),
            "--json",
            "--no-rollback-failures",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    assert!(cases.iter().all(|c| c["second"].is_null()));
}

#[test]
fn states_prints_the_preset_table() {
    cpuhp()
        .args(["states", "--preset", "linux-6.1"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::starts_with("  0: offline\n  1: threads:prepare\n").and(
                predicate::str::ends_with("235: sched:active\n236: online\n"),
            ),
        );
    cpuhp()
        .args(["states", "--preset", "linux"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a similar value exists: 'linux-6.1'",
        ));
}

#[test]
fn usage_errors_suggest_the_closest_command() {
    cpuhp()
        .arg("demp")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a similar subcommand exists: 'demo'",
        ));
}

/// Runs `cpuhp ARGS | head -c 100`: reads 100 bytes of standard output, closes the pipe, and
/// returns the exit code and standard error.
fn with_head(args: &[&str]) -> (Option<i32>, String) {
    use std::io::Read;
    use std::process::{Command as Std, Stdio};
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("cpuhp"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explore_json_into_a_closed_pipe_exits_with_its_verdict_not_a_panic() {
    // 120 KB of JSON: more than a pipe holds, so the write meets the closed pipe.
    let (code, stderr) = with_head(&["explore", "--json", &example("parallel-boot")]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    // As `run`: the exit code is the exploration's verdict (clean), not 101.
    assert_eq!(code, Some(0));
    let (code, stderr) = with_head(&["explore", "--json", &example("leaky-driver")]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(1));
}

/// `run` writes each operation as it goes: into a pipe closed after 100 bytes, it still ends
/// with its verdict, without a panic or a complaint.
#[test]
fn run_into_a_closed_pipe_exits_with_its_verdict_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // 2,000 operations: far more text than a pipe holds.
    let ops = vec!["\"down 1\", \"up 1\""; 1000].join(", ");
    for (bug, code) in [("", 0), ("bug = \"teardown-leaks\"\n", 1)] {
        let file = dir.path().join("long.toml");
        std::fs::write(
            &file,
            format!("ops = [{ops}]\n[machine]\ncpus = 2\n[[state]]\nname = \"drv:online\"\nsection = \"online\"\n{bug}"),
        )
        .unwrap();
        let file = file.to_str().unwrap();
        for args in [
            vec!["run", file],
            vec!["run", "--inline", "-f", "jsonl", file],
        ] {
            let (exit, stderr) = with_head(&args);
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(!stderr.contains("Broken pipe"), "{stderr}");
            assert_eq!(exit, Some(code), "{args:?} {bug}");
        }
    }
}

#[test]
fn a_bad_cpu_at_the_end_of_a_5_mb_line_gives_a_short_error() {
    // A generated scenario: 5 MB of operations on one line, the last names a CPU that does not
    // exist.
    let dir = std::env::temp_dir().join(format!("cpuhp-cli-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("long.toml");
    let ops = "\"down 1\", \"up 1\", ".repeat(5_000_000 / 18);
    let column = "ops = [".len() + ops.len() + "\"down ".len() + 1;
    std::fs::write(
        &file,
        format!("ops = [{ops}\"down 7\"]\n[machine]\ncpus = 2\n"),
    )
    .unwrap();
    let out = cpuhp()
        .args(["run", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.len() < 1024, "{} bytes", stderr.len());
    assert!(
        stderr.contains(&format!(
            "long.toml:1:{column}: error: no CPU 7 on this machine"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("= help: the machine has CPUs 0 to 1"),
        "{stderr}"
    );
    // The caret still points at the 7.
    let lines: Vec<&str> = stderr.lines().collect();
    let shown = lines.iter().find(|l| l.starts_with("1 | ")).unwrap();
    let caret = lines.iter().find(|l| l.trim_end().ends_with('^')).unwrap();
    let at = caret.chars().position(|c| c == '^').unwrap();
    assert_eq!(shown.chars().nth(at), Some('7'), "{stderr}");
    assert!(shown.starts_with("1 | …") && shown.ends_with("\"down 7\"]"));
}

#[test]
fn torture_for_a_second_prints_the_summary_and_exits_0() {
    let out = cpuhp()
        .args([
            "torture",
            "--seconds",
            "1",
            "--threads",
            "2",
            "--cpus",
            "4",
            "--seed",
            "99",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("torture: 2 threads, 4 CPUs, seed 99, "),
        "{stdout}"
    );
    for kind in [
        "up ",
        "partial-down ",
        "sysfs-target ",
        "add-instance ",
        "suspend ",
        "smt ",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(kind)),
            "no {kind}in {stdout}"
        );
    }
    assert!(stdout.contains("ops/s)"));
    assert!(
        stdout.trim_end().ends_with("every invariant held"),
        "{stdout}"
    );
}

#[test]
fn torture_json_is_the_report() {
    let out = cpuhp()
        .args([
            "torture",
            "--seconds",
            "1",
            "--threads",
            "1",
            "--cpus",
            "2",
            "--seed",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["seed"], 3);
    assert_eq!(v["threads"], 1);
    assert_eq!(v["cpus"], 2);
    assert_eq!(v["violation_count"], 0);
    assert_eq!(v["violations"], serde_json::json!([]));
    assert!(v["ops"]["down"]["attempted"].as_u64().unwrap() > 0);
    assert_eq!(v["ops"].as_object().unwrap().len(), 19);
}

#[test]
fn torture_rejects_bad_usage_with_exit_2() {
    for (args, message) in [
        (
            &["torture", "--seconds", "0"][..],
            "--seconds 0 must be more than 0",
        ),
        (&["torture", "--cpus", "65"][..], "--cpus 65 is not 1 to 64"),
        (
            &["torture", "--threads", "0"][..],
            "--threads must be 1 to 1024",
        ),
        (
            &["torture", "--seconds", "soon"][..],
            "invalid value 'soon'",
        ),
    ] {
        cpuhp()
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(message));
    }
}

#[test]
fn explore_also_makes_each_failing_callback_panic_unless_told_not_to() {
    // multi-instance.toml: 37 runs with errnos; its 17 callback failure points once more panicking.
    cpuhp()
        .args(["explore", &example("multi-instance")])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("+panic").and(predicate::str::contains(
                "every invariant held in all 54 runs",
            )),
        );
    cpuhp()
        .args(["explore", "--no-panics", &example("multi-instance")])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "every invariant held in all 37 runs",
        ));
}

/// The README's fenced block that follows `marker`.
fn readme_block(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let after = &readme[readme.find(marker).unwrap()..];
    let start = after.find("```text\n").unwrap() + "```text\n".len();
    let len = after[start..].find("```\n").unwrap();
    after[start..start + len].to_string()
}

/// `cpuhp ops` lists every key and operation; the README shows exactly that list, so the two
/// cannot drift apart.
#[test]
fn ops_lists_the_language_as_the_readme_does() {
    let out = cpuhp()
        .arg("ops")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for word in [
        "remove-instance STATE NAME",
        "remove-state STATE",
        "parallel-up CPU…",
        "disable-hotplug",
        "enable-hotplug",
        "startup = false",
        "instance = \"nvme1\"",
        "event = \"down_prepare\"",
    ] {
        assert!(text.contains(word), "{word}");
    }
    assert!(
        text.replace("\n      ", " ")
            .contains("STARTING states have no dynamic slots: they need a number.")
    );
    assert_eq!(readme_block("`cpuhp ops` prints this list"), text);
}

#[test]
fn run_help_points_at_cpuhp_ops() {
    cpuhp().args(["run", "--help"]).assert().code(0).stdout(
        predicate::str::contains("`cpuhp ops` lists every key and operation")
            .and(predicate::str::contains("see `cpuhp run --help`").not())
            .and(predicate::str::contains("--wide")),
    );
}

/// Piped, the timeline fits 100 columns and ends with its legend; `--wide` spells every rule out
/// on its line, past 100 columns.
#[test]
fn run_fits_100_columns_when_piped_and_wide_spells_rules_out() {
    let out = cpuhp()
        .args(["run", &example("seed")])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    assert!(text.contains("\n           •   c: CPU_UP_PREPARE 2     ENOMEM robust-call\n"));
    assert!(text.contains("\nlegend\n  where: ctl = the control CPU, cpuN = CPU N's hotplug thread, irqN = CPU N with interrupts off\n"));
    assert!(text.contains("\n  robust-call            the seed: a veto of CPU_UP_PREPARE or CPU_DOWN_PREPARE sends the undo event\n"));
    let out = cpuhp()
        .args(["run", "--wide", &example("seed")])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let wide = String::from_utf8(out).unwrap();
    assert!(wide.contains("•   c: CPU_UP_PREPARE 2                ENOMEM  robust-call: the seed: a veto of CPU_UP_PREPARE or CPU_DOWN_PREPARE sends the undo event to the notifiers called before it only\n"));
    assert!(!wide.contains("legend"));
}

/// Counts in words: one state, one notifier, one operation.
#[test]
fn run_counts_with_the_right_plurals() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.toml");
    std::fs::write(
        &file,
        "ops = [\"down 1\"]\n[machine]\ncpus = 2\n[[state]]\nname = \"a:online\"\nsection = \"online\"\n[[notifier]]\nname = \"n\"\n",
    )
    .unwrap();
    cpuhp().arg("run").arg(&file).assert().code(0).stdout(
        predicate::str::starts_with(
            "cpuhp · 2 CPUs · preset demo · 1 state, 1 notifier, 1 operation\n",
        )
        .and(predicate::str::contains(
            "ok setup-state a:online → state 70; startup on CPUs 0-1",
        )),
    );
}

/// The slot hint for a STARTING state names a free STARTING number of the chosen preset (40 is a
/// PREPARE number on linux-6.1).
#[test]
fn run_suggests_a_free_starting_slot_of_the_preset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("starting.toml");
    std::fs::write(
        &file,
        "[machine]\ncpus = 2\npreset = \"linux-6.1\"\n[[state]]\nname = \"irq:starting\"\nsection = \"starting\"\n",
    )
    .unwrap();
    cpuhp().arg("run").arg(&file).assert().code(2).stderr(
        predicate::str::contains("error: STARTING states have no dynamic slots").and(
            predicate::str::contains(
                "help: give the state a free number of the STARTING section (94 to 151 on linux-6.1): `slot = 96`",
            ),
        ),
    );
}

/// With no setup steps, the first operation's result still says which CPU moved (from where the
/// boot left it), and a second `down` of the same CPU moves nothing.
#[test]
fn run_says_which_cpu_the_first_operation_moved() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bare.toml");
    std::fs::write(
        &file,
        "ops = [\"down 1\", \"down 1\"]\n[machine]\ncpus = 2\n",
    )
    .unwrap();
    let out = cpuhp()
        .arg("run")
        .arg(&file)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let results: Vec<&str> = text.lines().filter(|l| l.starts_with("  ⇒")).collect();
    assert_eq!(results, ["  ⇒ ok: CPU 1: 99 → 0", "  ⇒ ok: no CPU moved"]);
    assert!(text.contains("\nend: CPU 0 at 99, CPU 1 at 0\n"));
}

/// `explore` gives its minimal failure in the scenario's own words; planted into the scenario,
/// `run` shows the same broken invariant.
#[test]
fn explore_prints_the_minimal_failure_as_scenario_text_that_run_reproduces() {
    let out = cpuhp()
        .args(["explore", &example("leaky-driver")])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let planted = "    # in the [[state]] named \"leaky:online\":\n    fail = [{ on = \"startup\", cpu = 0, errno = \"EIO\", after = 0, times = 1 }]\n";
    assert!(
        text.contains(&format!(
            "  to watch it with `cpuhp run`, add to the scenario:\n{planted}"
        )),
        "{text}"
    );
    let scenario = std::fs::read_to_string(example("leaky-driver")).unwrap();
    let line = planted.lines().nth(1).unwrap().trim();
    let with = scenario.replacen(
        "name = \"leaky:online\"\n",
        &format!("name = \"leaky:online\"\n{line}\n"),
        1,
    );
    assert_ne!(with, scenario);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("planted.toml");
    std::fs::write(&file, with).unwrap();
    cpuhp().arg("run").arg(&file).assert().code(1).stdout(
        predicate::str::contains("✗ invariant where-it-began: leaky:online on CPU 0 is held after the failed operation undid it"),
    );
}

/// The two seed-shaped examples, as `cpuhp run` prints them: the platform failure after
/// CPU_UP_PREPARE cancels every notifier that said OK; NOTIFY_STOP ends the walk and the CPU comes
/// up.
#[test]
fn run_shows_platform_faults_and_notifier_answers() {
    cpuhp()
        .args(["run", &example("seed-platform-failure")])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("✗ CPU 2 fails to boot")
                .and(predicate::str::contains("•   c: CPU_UP_CANCELED 2"))
                .and(predicate::str::contains(
                    "⇒ failed with EIO: startup of state 30 (cpu:bringup) on CPU 2 failed: EIO;",
                ))
                .and(predicate::str::contains(
                    "end: CPU 0 at 99, CPU 1 at 99, CPU 2 at 99, CPU 3 at 99",
                )),
        );
    let out = cpuhp()
        .args(["run", "--wide", &example("notifier-stop")])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("•   b: CPU_UP_PREPARE 1                stop    chain-stop: the notifier answered with the stop bit (NOTIFY_STOP): the walk ends there, without a failure; the notifiers after it do not hear the event\n"), "{text}");
    assert!(!text.contains("c: CPU_UP_PREPARE 1"));
    assert!(text.contains("c: CPU_ONLINE 1"));
    assert!(text.contains("⇒ ok: CPU 1: 0 → 99"));
}

/// `up … to NAME` stops at the named state; an unknown name is bad input with a suggestion.
#[test]
fn run_takes_targets_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("named.toml");
    std::fs::write(
        &file,
        "ops = [\"down 1\", \"up 1 to mydrv:online\"]\n[machine]\ncpus = 2\n[[state]]\nname = \"mydrv:online\"\nsection = \"online\"\n",
    )
    .unwrap();
    cpuhp().arg("run").arg(&file).assert().code(0).stdout(
        predicate::str::contains("── 2. up 1 to mydrv:online")
            .and(predicate::str::contains("⇒ ok: CPU 1: 0 → 70")),
    );
    std::fs::write(
        &file,
        "ops = [\"up 1 to sched:actve\"]\n[machine]\ncpus = 2\n",
    )
    .unwrap();
    cpuhp().arg("run").arg(&file).assert().code(2).stderr(
        predicate::str::contains(
            "error: no state `sched:actve` in this scenario or the demo preset",
        )
        .and(predicate::str::contains(
            "help: did you mean `sched:active`?",
        )),
    );
}

/// `cpuhp rules` lists every rule by the name the timeline prints; a timeline key ("startup-failure
/// undo") finds its rule; an unknown name is refused with the list.
#[test]
fn rules_lists_the_names_the_timeline_cites() {
    let out = cpuhp()
        .arg("rules")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for rule in cpuhp::Rule::ALL {
        assert!(
            text.contains(&format!("\n{:<18}  ", rule.name())) || text.starts_with(rule.name()),
            "{rule}: {text}"
        );
    }
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    cpuhp()
        .args(["rules", "startup-failure undo"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(
            "startup-failure  a failed startup gets no teardown;",
        ));
    cpuhp()
        .args(["rules", "rule 12"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no rule is named `rule 12`; the rules are: chain-order",
        ));
}
