//! `cpuhp linux watch` and `cpuhp linux follow`, run as a user runs them, against directory trees
//! shaped like `/sys` (polled: a tree sends no uevents) and the simulator.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn tree(online: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cpu = dir.path().join("sys/devices/system/cpu");
    std::fs::create_dir_all(&cpu).unwrap();
    for (f, v) in [("possible", "0-1"), ("present", "0-1"), ("online", online)] {
        std::fs::write(cpu.join(f), format!("{v}\n")).unwrap();
    }
    dir
}

/// Runs `cpuhp linux --sysfs-root ROOT ARGS`, waits for its first line (the sets), writes
/// `online` into the tree, and returns the exit code and every line.
fn run_then_set(root: &Path, args: &[&str], online: &str) -> (i32, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cpuhp"))
        .arg("linux")
        .arg("--sysfs-root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    std::fs::write(
        root.join("sys/devices/system/cpu/online"),
        format!("{online}\n"),
    )
    .unwrap();
    let mut lines = vec![first.trim_end().to_string()];
    lines.extend(out.lines().map(Result::unwrap));
    let code = child.wait().unwrap().code().unwrap();
    (code, lines)
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn watch_prints_the_sets_then_each_change_as_json_lines() {
    let t = tree("0-1");
    let (code, lines) = run_then_set(
        t.path(),
        &["watch", "--poll", "1", "--count", "1", "--format", "jsonl"],
        "0",
    );
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let sets = json(&lines[0]);
    assert_eq!(
        (&sets["event"], &sets["online"], &sets["source"]),
        (&"sets".into(), &"0-1".into(), &"poll".into())
    );
    let c = json(&lines[1]);
    assert_eq!(c["event"], "change");
    assert_eq!(
        (c["cpu"].as_u64(), c["action"].as_str()),
        (Some(1), Some("offline"))
    );
    assert_eq!(
        (c["cause"].as_str(), c["online"].as_str()),
        (Some("reread"), Some("0"))
    );
    assert!(c["ts_us"].as_u64().unwrap() >= sets["ts_us"].as_u64().unwrap());
}

#[test]
fn watch_timeline_lines_carry_a_clock_and_the_change() {
    let t = tree("0");
    let (code, lines) = run_then_set(t.path(), &["watch", "--poll", "1", "--count", "1"], "0-1");
    assert_eq!(code, 0);
    assert!(lines[0].ends_with("sets: online 0 · present 0-1 · possible 0-1 · source poll"));
    let (clock, rest) = lines[1].split_once("  ").unwrap();
    assert_eq!(clock.len(), "06:40:01.123456".len(), "{clock}");
    assert_eq!(rest, "cpu 1 online  (reread)  online 0-1");
}

#[test]
fn follow_rolls_back_a_failed_startup_and_says_the_kernel_cpu_stays_online() {
    let t = tree("0");
    let (code, lines) = run_then_set(
        t.path(),
        &[
            "follow",
            "--poll",
            "1",
            "--count",
            "1",
            "--states",
            "pool:a,pool:b",
            "--fail-startup",
            "pool:b@1",
        ],
        "0-1",
    );
    assert_eq!(code, 1, "{lines:?}");
    let steps: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l.split_once("    ").map_or("", |(_, s)| s))
        .filter(|s| !s.is_empty())
        .map(|s| s.split(" (").next().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "startup pool:a for cpu 1: ok",
            "startup pool:b for cpu 1: ENOMEM",
            "teardown pool:a for cpu 1: ok",
        ]
    );
    assert!(lines.last().unwrap().ends_with(
        "cpu 1: startup: startup of pool:b failed with ENOMEM; rolled back; the kernel's CPU 1 \
         stays online (the kernel cannot be vetoed after the fact)"
    ));
}

#[test]
fn follow_offline_vetoed_writes_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_cpuhp"))
        .args([
            "linux",
            "--simulate",
            "2",
            "follow",
            "--offline",
            "1",
            "--yes",
        ])
        .args(["--veto", "follow:a@1", "--format", "jsonl"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    let steps: Vec<(String, bool, String)> = lines
        .iter()
        .filter(|l| l["event"] == "step")
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["startup"].as_bool().unwrap(),
                l["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("follow:b".into(), false, "ok".into()),
            ("follow:a".into(), false, "EBUSY".into()),
            ("follow:b".into(), true, "ok".into()),
        ]
    );
    let report = lines.last().unwrap();
    assert_eq!(report["outcome"], "vetoed");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("plan: offline 1")
    );
}

#[test]
fn follow_offline_refuses_bad_input() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cpuhp"))
            .args(["linux", "--simulate", "2", "follow"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["--offline", "0", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CPU 0 has no online file"));
    let out = run(&["--veto", "nosuch@1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no state \"nosuch\""));
    let out = run(&["--veto", "follow:a"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--offline", "1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no terminal, no --yes: nothing written"
    );
    let out = run(&["--seconds", "-1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn follow_marks_each_startup_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("marks");
    std::fs::write(&mark, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cpuhp"))
        .args([
            "linux",
            "--simulate",
            "2",
            "follow",
            "--seconds",
            "0",
            "--mark",
        ])
        .arg(&mark)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&mark).unwrap(),
        "startup follow:a cpu 0\nstartup follow:a cpu 1\nstartup follow:b cpu 0\nstartup follow:b cpu 1\n"
    );
}
