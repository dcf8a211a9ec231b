//! `cpuhp linux`, run as a user runs it, against directory trees shaped like `/sys` (never the
//! host's) and against the simulator (`--simulate N`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::Command;
use predicates::prelude::*;

fn cpuhp() -> Command {
    Command::cargo_bin("cpuhp").unwrap()
}

/// The live table of the simulated Linux 6.1 machine, as its `hotplug/states` prints it.
fn states_text() -> String {
    let hp = cpuhp::Hotplug::new(
        &cpuhp::preset::LINUX_6_1,
        cpuhp::Topology::new(1),
        cpuhp::Inline,
    )
    .unwrap();
    hp.sysfs_read("hotplug/states").unwrap()
}

/// A root with `sys/devices/system/cpu` for `cpus` online CPUs (those in `online_files` with an
/// `online` file), `isolated`, `proc/mounts` naming a tracefs at `sys/kernel/tracing` (a plain
/// directory with `instances/`), and `proc/sys/kernel/osrelease`.
fn tree(cpus: u32, online_files: &[u32], isolated: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cpu = dir.path().join("sys/devices/system/cpu");
    let all = format!("0-{}\n", cpus - 1);
    std::fs::create_dir_all(cpu.join("hotplug")).unwrap();
    for f in ["online", "possible", "present"] {
        std::fs::write(cpu.join(f), &all).unwrap();
    }
    std::fs::write(cpu.join("isolated"), format!("{isolated}\n")).unwrap();
    std::fs::write(cpu.join("hotplug/states"), states_text()).unwrap();
    for c in 0..cpus {
        let h = cpu.join(format!("cpu{c}/hotplug"));
        std::fs::create_dir_all(&h).unwrap();
        std::fs::write(h.join("state"), "236\n").unwrap();
        std::fs::write(h.join("target"), "236\n").unwrap();
        std::fs::write(h.join("fail"), "-1\n").unwrap();
        if online_files.contains(&c) {
            std::fs::write(cpu.join(format!("cpu{c}/online")), "1\n").unwrap();
        }
    }
    std::fs::create_dir_all(dir.path().join("proc/sys/kernel")).unwrap();
    std::fs::write(
        dir.path().join("proc/mounts"),
        "sysfs /sys sysfs rw 0 0\ntracefs /sys/kernel/tracing tracefs rw,nosuid 0 0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("proc/sys/kernel/osrelease"),
        "6.1.0-56-amd64\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("sys/kernel/tracing/instances")).unwrap();
    dir
}

fn root_arg(d: &Path) -> [String; 2] {
    ["--sysfs-root".into(), d.display().to_string()]
}

fn cpu_file(d: &Path, rel: &str) -> PathBuf {
    d.join("sys/devices/system/cpu").join(rel)
}

#[test]
fn linux_probe_reports_each_finding_with_its_reason() {
    let d = tree(4, &[1, 2, 3], "3");
    let out = cpuhp()
        .args(["linux", "probe"])
        .args(root_arg(d.path()))
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let tracefs = d.path().join("sys/kernel/tracing").display().to_string();
    for (key, value, reason) in [
        ("kernel", "6.1.0-56-amd64", "proc/sys/kernel/osrelease"),
        ("hotplug", "yes", "cpu1/online exists"),
        ("online files", "1-3", "cpu0/online is missing"),
        (
            "state control",
            "unknown",
            "only a write of an intermediate target would tell",
        ),
        ("fail", "yes", "cpu0/hotplug/fail exists"),
        ("tracefs", tracefs.as_str(), "from /proc/mounts"),
        ("isolated", "3", "isolated"),
        ("nohz_full", "none", "nohz_full does not exist"),
        ("housekeeping", "0-2", "online minus isolated"),
        (
            "must stay",
            "0",
            "CPU 0 is the lowest online housekeeping CPU",
        ),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key:<17} ")))
            .unwrap_or_else(|| panic!("no {key} in\n{text}"));
        let rest = line[17..].trim_start();
        assert!(rest.starts_with(value), "{line}");
        assert!(rest.contains(reason), "{line}");
    }

    let out = cpuhp()
        .args(["linux", "probe", "--json"])
        .args(root_arg(d.path()))
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["hotplug"]["value"], true);
    assert_eq!(v["state_control"]["value"], "unknown");
    assert_eq!(v["housekeeping"]["value"], "0-2");
    assert_eq!(v["tracefs"]["value"], tracefs.as_str());
}

#[test]
fn linux_status_and_states_read_the_tree() {
    let d = tree(2, &[1], "");
    std::fs::write(cpu_file(d.path(), "cpu0/hotplug/target"), "0\n").unwrap();
    cpuhp()
        .args(["linux", "status"])
        .args(root_arg(d.path()))
        .assert()
        .code(0)
        .stdout("CPU ONLINE STATE TARGET FAIL\n  0 1(-)     236      0   -1\n  1 1        236    236   -1\n");
    let out = cpuhp()
        .args(["linux", "status", "--json"])
        .args(root_arg(d.path()))
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[1]["online_file"], true);
    assert_eq!(v[0]["online_file"], serde_json::Value::Null);
    assert_eq!(v[1]["state"], 236);

    // The same table as the simulator's `cpuhp states`.
    let sim = cpuhp()
        .args(["states"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    cpuhp()
        .args(["linux", "states"])
        .args(root_arg(d.path()))
        .assert()
        .code(0)
        .stdout(String::from_utf8(sim).unwrap());
    let out = cpuhp()
        .args(["linux", "states", "--json"])
        .args(root_arg(d.path()))
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 65);
    assert_eq!(v[64], serde_json::json!({"number": 236, "name": "online"}));
}

#[test]
fn linux_offline_refuses_unsafe_cpus_with_exit_2() {
    let d = tree(4, &[1, 2, 3], "1-3");
    cpuhp()
        .args(["linux", "offline", "0", "--yes"])
        .args(root_arg(d.path()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "refused: CPU 0 has no online file",
        ));
    // All four online files, CPUs 1-3 isolated: 0 is the last housekeeping CPU.
    let d = tree(4, &[0, 1, 2, 3], "1-3");
    cpuhp()
        .args(["linux", "offline", "0", "--yes"])
        .args(root_arg(d.path()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "would take the last housekeeping CPU offline",
        ));
    cpuhp()
        .args(["linux", "offline", "0-3", "--yes"])
        .args(root_arg(d.path()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "would take the last online CPU offline",
        ));
    cpuhp()
        .args(["linux", "offline", "9", "--yes"])
        .args(root_arg(d.path()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no CPU 9"));
    cpuhp()
        .args(["linux", "target", "1", "no:such", "--yes"])
        .args(root_arg(d.path()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no state \"no:such\" in hotplug/states",
        ));
    for c in 0..4 {
        assert_eq!(
            std::fs::read_to_string(cpu_file(d.path(), &format!("cpu{c}/online"))).unwrap(),
            "1\n"
        );
    }
}

#[test]
fn linux_offline_prints_the_plan_and_needs_yes_without_a_terminal() {
    let d = tree(4, &[1, 2, 3], "");
    cpuhp()
        .args(["linux", "offline", "1,3"])
        .args(root_arg(d.path()))
        .write_stdin("")
        .assert()
        .code(2)
        .stdout("plan: offline 1,3\n  write 0 > cpu1/online  (was 1)\n  write 0 > cpu3/online  (was 1)\n")
        .stderr(predicate::str::contains("pass --yes"));
    assert_eq!(
        std::fs::read_to_string(cpu_file(d.path(), "cpu1/online")).unwrap(),
        "1\n"
    );
    let cpu = d.path().join("sys/devices/system/cpu");
    cpuhp()
        .args(["linux", "offline", "1,3", "--yes"])
        .args(root_arg(d.path()))
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "wrote 0 > {}: ok\nwrote 0 > {}: ok\n",
            cpu.join("cpu1/online").display(),
            cpu.join("cpu3/online").display()
        )));
    // A tree cannot react: the file holds what was written (one write(2) of "0", no
    // truncation, as sysfs is written).
    assert_eq!(
        std::fs::read_to_string(cpu_file(d.path(), "cpu1/online")).unwrap(),
        "0\n"
    );
    assert_eq!(
        std::fs::read_to_string(cpu_file(d.path(), "cpu2/online")).unwrap(),
        "1\n"
    );
}

/// SIGINT in the middle of `offline 1,2`: CPU 1 is already written; CPU 2's `hotplug/state` is
/// a FIFO, so the test knows exactly where the CLI is (reading it, just before writing CPU 2's
/// `online`) when the signal is sent. Before answering that one read, the test puts a regular
/// file in the FIFO's place for every later read.
#[test]
fn linux_offline_restores_everything_on_sigint() {
    let d = tree(3, &[1, 2], "");
    let state = cpu_file(d.path(), "cpu2/hotplug/state");
    std::fs::remove_file(&state).unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(&state)
        .status()
        .unwrap();
    assert!(st.success());
    let regular = cpu_file(d.path(), "cpu2/hotplug/state.new");
    std::fs::write(&regular, "236\n").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("cpuhp");
    let child = std::process::Command::new(bin)
        .args(["linux", "offline", "1,2", "--yes"])
        .args(root_arg(d.path()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the FIFO for writing returns once the CLI has opened it for reading: it has
    // written CPU 1, checked for a signal, and is remembering where CPU 2 is.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&state)
        .unwrap();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    std::fs::rename(&regular, &state).unwrap();
    f.write_all(b"236\n").unwrap();
    drop(f);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_eq!(
        stderr,
        "error: interrupted\nrestored cpu1: online 1 (state 236)\nrestored cpu2: online 1 (state 236)\n\
         everything touched is back where it was\n"
    );
    // One write(2) each, no truncation: "0" then "1" over the original "1\n".
    for c in [1, 2] {
        assert_eq!(
            std::fs::read_to_string(cpu_file(d.path(), &format!("cpu{c}/online"))).unwrap(),
            "1\n"
        );
    }
}

#[test]
fn linux_record_always_removes_its_tracefs_instance() {
    // A plain directory is no tracefs: the instance has no events/ to enable.
    let d = tree(2, &[1], "");
    cpuhp()
        .args(["linux"])
        .args(root_arg(d.path()))
        .args(["record", "--yes", "--", "offline", "1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "events/cpuhp/cpuhp_enter/enable: ENOENT",
        ));
    let left: Vec<_> = std::fs::read_dir(d.path().join("sys/kernel/tracing/instances"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        std::fs::read_to_string(cpu_file(d.path(), "cpu1/online")).unwrap(),
        "1\n",
        "nothing operated"
    );
}

#[test]
fn linux_record_on_the_simulator_renders_every_format() {
    let ftrace = cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "record",
            "--yes",
            "--format",
            "ftrace",
        ])
        .args(["--", "offline", "1", "then", "online", "1"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let ftrace = String::from_utf8(ftrace).unwrap();
    let lines: Vec<&str> = ftrace.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        lines[0].ends_with("cpuhp_enter: cpu: 0001 target: 153 step: 236 (cpuhp_kick_ap_work)")
    );
    assert!(lines[0].trim_start().starts_with("bash-1000"));
    assert!(lines[1].trim_start().starts_with("cpuhp/1-20"));
    assert_eq!(parse_count(&ftrace), lines.len());

    let jsonl = cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "record",
            "--yes",
            "--format",
            "jsonl",
        ])
        .args(["--", "offline", "1"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let events: Vec<serde_json::Value> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[2]["event"], "step");
    assert_eq!(events[2]["what"], "offline 1");
    assert_eq!(events[3]["context"], "control");
    assert_eq!(events[4]["context"], "cpu-thread");
    assert_eq!(events.last().unwrap()["event"], "step_done");

    let perfetto = cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "record",
            "--yes",
            "--format",
            "perfetto",
        ])
        .args(["--", "offline", "1"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&perfetto).unwrap();
    assert!(
        v.to_string()
            .contains("teardown 235 sched:active (sched_cpu_deactivate)")
    );

    cpuhp()
        .args(["linux", "--simulate", "3", "record", "--yes"])
        .args(["--", "fail", "2", "235", "then", "offline", "2"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("── 2. offline 2"))
        .stdout(predicate::str::contains("⇒ failed with EAGAIN"))
        .stdout(predicate::str::contains(
            "STATE DIR      CALLS TOTAL_US   MAX_US CALLBACK",
        ))
        .stderr(predicate::str::contains(
            "error: write /sys/devices/system/cpu/cpu2/online: EAGAIN",
        ));
}

fn parse_count(text: &str) -> usize {
    cpuhp_linux::parse_trace(text).unwrap().len()
}

#[test]
fn linux_bad_input_exits_2() {
    cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "record",
            "--yes",
            "--",
            "reboot",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an operation: \"reboot\""));
    cpuhp()
        .args(["linux", "--simulate", "2", "offline", "3-1", "--yes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a CPU list"));
    cpuhp()
        .args(["linux", "--sysfs-root", "/nonexistent-root", "status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "/nonexistent-root/sys/devices/system/cpu: ENOENT",
        ));
}

#[test]
fn linux_learn_writes_a_preset_file_the_simulator_and_diff_accept() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("learned.json");
    cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "learn",
            "--cpu",
            "1",
            "--yes",
            "-o",
        ])
        .arg(&file)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "65 states, 50 with a traced callback, kernel 6.1.0-56-amd64",
        ));
    let text = std::fs::read_to_string(&file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["format"], "cpuhp-preset/1");
    let rcu = v["states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["number"] == 199)
        .unwrap();
    assert_eq!(
        rcu["teardown"],
        serde_json::json!({"symbol": "rcutree_offline_cpu", "ctx": "cpu"})
    );
    cpuhp()
        .args(["linux", "diff-preset"])
        .arg(&file)
        .assert()
        .code(0)
        .stdout("identical: 65 states (6.1.0-56-amd64 vs linux-6.1)\n");
    let sim = cpuhp()
        .args(["states"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    cpuhp()
        .args(["states", "--preset-file"])
        .arg(&file)
        .assert()
        .code(0)
        .stdout(String::from_utf8(sim).unwrap());
    // A scenario runs on the learned table as on the built-in one: the same timeline, state
    // numbers and dynamic slots included.
    let scenario = d.path().join("s.toml");
    std::fs::write(
        &scenario,
        "ops = [\"down 1\", \"up 1\"]\n[machine]\ncpus = 2\npreset = \"linux-6.1\"\n\
         [[state]]\nname = \"drv:online\"\nsection = \"online\"\n",
    )
    .unwrap();
    let built_in = cpuhp()
        .args(["run", "--wide"])
        .arg(&scenario)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let learned = cpuhp()
        .args(["run", "--wide", "--preset-file"])
        .arg(&file)
        .arg(&scenario)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let (on_learned, on_built_in) = (
        String::from_utf8(learned).unwrap(),
        String::from_utf8(built_in).unwrap(),
    );
    assert!(on_learned.contains("211 ↓   drv:online"), "{on_learned}");
    // The header names the table (`preset file` here, `linux-6.1` there); the rest is the same.
    assert!(
        on_learned.starts_with("cpuhp · 2 CPUs · preset file ·"),
        "{on_learned}"
    );
    let body = |t: &str| t.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&on_learned), body(&on_built_in));
    cpuhp()
        .args(["run", "--preset-file", "/nonexistent.json"])
        .arg(&scenario)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent.json"));
    cpuhp()
        .args([
            "linux",
            "--simulate",
            "3",
            "check",
            "--yes",
            "--preset-file",
        ])
        .arg(&file)
        .args(["--", "offline", "2", "then", "online", "2"])
        .assert()
        .code(0)
        // 73 callbacks, plus the startup of the two ring buffers the recording's own trace
        // instance allocated (`trace/RB:prepare` instances), on the kernel and the simulator alike.
        .stdout("PASS (75 callbacks)\n");

    // Another kernel's callback: diff and check both find it.
    let other = d.path().join("other.json");
    std::fs::write(
        &other,
        text.replace("rcutree_offline_cpu", "rcu_other_offline"),
    )
    .unwrap();
    cpuhp()
        .args(["linux", "diff-preset"])
        .arg(&other)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "199 RCU/tree:online: teardown rcu_other_offline in the file, rcutree_offline_cpu in the preset",
        ));
    cpuhp()
        .args(["linux", "--simulate", "3", "check", "--yes", "--preset-file"])
        .arg(&other)
        .args(["--", "offline", "2"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL: callback 7 differs (- kernel, + simulator)"))
        .stdout(predicate::str::contains(
            "  -     7  cpu 2 down 199 rcutree_offline_cpu ret 0 state 198 (cpu)\n  +     7  cpu 2 down 199 rcu_other_offline ret 0 state 198 (cpu)",
        ));
    std::fs::write(&other, "{\"format\": \"something-else\"}").unwrap();
    cpuhp()
        .args(["linux", "diff-preset"])
        .arg(&other)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("preset file:"));
}

#[test]
fn linux_check_passes_a_kernel_rollback_the_simulator_predicts() {
    cpuhp()
        .args(["linux", "--simulate", "3", "check", "--yes"])
        .args(["--", "fail", "2", "200", "then", "offline", "2"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("PASS ("))
        .stderr(predicate::str::contains(
            "restored cpu2: online 1 (state 236)",
        ));
}

#[test]
fn linux_sweep_prints_the_summary_and_json() {
    cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "sweep",
            "--yes",
            "--states",
            "199,235",
        ])
        .assert()
        .code(0)
        .stdout(
            "CPU STATE NAME                           DIR  ERRNO   ROLLBACK MATCHES\n\
             \x20 1   199 RCU/tree:online                down EAGAIN  yes\n\
             \x20 1   199 RCU/tree:online                up   EAGAIN  yes\n\
             \x20 1   235 sched:active                   down EAGAIN  yes\n\
             \x20 1   235 sched:active                   up   EAGAIN  yes\n\
             4 cases run of 4; fail accepted in 4, refused in 0; 4 of 4 match the simulator\n",
        );
    let out = cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "sweep",
            "--yes",
            "--json",
            "--max-seconds",
            "0",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["stopped"], "time limit");
    assert_eq!(v["planned"], 126);
    cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "sweep",
            "--yes",
            "--states",
            "x",
        ])
        .assert()
        .code(2);
}

#[test]
fn linux_target_names_the_kernels_errno() {
    // Linux 6.1 without CONFIG_CPU_HOTPLUG_STATE_CONTROL: only offline and online are targets.
    cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "target",
            "1",
            "RCU/tree:online",
            "--yes",
        ])
        .assert()
        .code(1)
        .stdout("plan: target 1 RCU/tree:online\n  write 199 > cpu1/hotplug/target  (was 236)\n")
        .stderr(
            "error: write /sys/devices/system/cpu/cpu1/hotplug/target: EINVAL\n\
             everything touched is back where it was\n",
        );
    cpuhp()
        .args([
            "linux",
            "--simulate",
            "2",
            "target",
            "1",
            "offline",
            "--yes",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::ends_with(
            "wrote 0 > /sys/devices/system/cpu/cpu1/hotplug/target: ok\n",
        ));
}
