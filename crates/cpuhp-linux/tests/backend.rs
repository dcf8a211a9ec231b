//! The backend against the simulator behind `SysfsIo` (a kernel that reacts to writes and
//! traces), and against directory trees shaped like `/sys`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicBool;

use cpuhp::Errno;
use cpuhp_linux::{
    CpuInfo, Error, Fs, HostIo, Op, RecordFormat, SimKernel, SysfsIo, Transaction, Tristate,
    execute, parse_trace, plan, probe, read_status, record, render_recording,
};

fn sim(cpus: u32) -> SimKernel {
    SimKernel::new(&cpuhp::preset::LINUX_6_1, cpus).unwrap()
}

fn states(k: &SimKernel) -> Vec<Option<u32>> {
    read_status(k).unwrap().iter().map(|r| r.state).collect()
}

#[test]
fn refuses_the_last_online_cpu_the_last_housekeeping_cpu_and_cpus_without_online_file() {
    let k = sim(4);
    let e = plan(&k, &Op::Offline(vec![0])).unwrap_err();
    assert!(
        matches!(&e, Error::Refused(m) if m.starts_with("CPU 0 has no online file")),
        "{e}"
    );
    assert_eq!(e.exit_code(), 2);

    // CPUs 2-3 isolated: they may go; then 0 and 1 are online and keep house.
    let mut k2 = sim(4).with_isolation("2-3", None);
    let p = plan(&k2, &Op::Offline(vec![2, 3])).unwrap();
    execute(&mut k2, &p, None).unwrap();
    assert_eq!(states(&k2), [Some(236), Some(236), Some(0), Some(0)]);
    // 0 stays (no online file), so 1 can go; but not 1 with the last online CPU's partner.
    assert!(plan(&k2, &Op::Offline(vec![1])).is_ok());
    let mut k3 = sim(2);
    let p = plan(&k3, &Op::Offline(vec![1])).unwrap();
    execute(&mut k3, &p, None).unwrap();
    assert_eq!(CpuInfo::read(&k3).unwrap().online.to_string(), "0");

    // Housekeeping: 0 and 1 are isolated, 2 is nohz_full: only 3 keeps house.
    let k = sim(4).with_isolation("0-1", Some("2"));
    let e = plan(&k, &Op::Offline(vec![3])).unwrap_err();
    assert!(
        matches!(&e, Error::Refused(m) if m.contains("last housekeeping CPU")),
        "{e}"
    );
    assert!(
        plan(&k, &Op::Offline(vec![1, 2])).is_ok(),
        "isolated CPUs may go"
    );
    assert_eq!(CpuInfo::read(&k).unwrap().must_stay().to_string(), "0,3");
}

#[test]
fn refuses_a_target_that_would_take_the_last_housekeeping_cpu_down() {
    let k = sim(2).with_isolation("0", None);
    let e = plan(&k, &Op::Target(1, "offline".into())).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e}");
    // Staying in the ONLINE section keeps the CPU online: allowed (the kernel decides EINVAL).
    let p = plan(&k, &Op::Target(1, "sched:active".into())).unwrap();
    assert_eq!(p.writes[0].file, "cpu1/hotplug/target");
    assert_eq!(p.writes[0].value, "235");
    assert!(matches!(
        plan(&k, &Op::Target(1, "no:such".into())),
        Err(Error::Usage(_))
    ));
    assert!(matches!(
        plan(&k, &Op::Offline(vec![7])),
        Err(Error::Usage(_))
    ));
}

#[test]
fn a_failed_write_restores_every_cpu_touched_and_names_errno_and_file() {
    let mut k = sim(4);
    k.fail_path("write", Fs::Cpu, "cpu3/online", Errno::EBUSY);
    let p = plan(&k, &Op::Offline(vec![1, 2, 3])).unwrap();
    let f = execute(&mut k, &p, None).unwrap_err();
    let (e, report) = (f.error, f.report);
    assert_eq!(
        e.to_string(),
        "write /sys/devices/system/cpu/cpu3/online: EBUSY"
    );
    assert_eq!(
        report.restored,
        ["cpu1: online 1 (state 236)", "cpu2: online 1 (state 236)"]
    );
    assert!(report.not_restored.is_empty());
    let journal: Vec<(String, String, String, bool)> = report
        .journal
        .iter()
        .map(|j| (j.file.clone(), j.value.clone(), j.result.clone(), j.restore))
        .collect();
    let f = |c: u32| format!("/sys/devices/system/cpu/cpu{c}/online");
    assert_eq!(
        journal,
        [
            (f(1), "0".into(), "ok".into(), false),
            (f(2), "0".into(), "ok".into(), false),
            (f(3), "0".into(), "EBUSY".into(), false),
            (f(2), "1".into(), "ok".into(), true),
            (f(1), "1".into(), "ok".into(), true),
        ]
    );
    assert_eq!(states(&k), [Some(236); 4]);
}

#[test]
fn a_kernel_rollback_is_reported_and_the_armed_fail_is_disarmed() {
    let mut k = sim(3);
    let mut tx = Transaction::new(&mut k, None);
    tx.apply(&plan_of(&tx, Op::Offline(vec![1]))).unwrap();
    tx.apply(&plan_of(&tx, Op::Fail(2, 235))).unwrap();
    let e = tx.apply(&plan_of(&tx, Op::Offline(vec![2]))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "write /sys/devices/system/cpu/cpu2/online: EAGAIN"
    );
    let report = tx.rollback();
    assert_eq!(
        report.restored,
        ["cpu1: online 1 (state 236)", "cpu2: online 1 (state 236)"]
    );
    assert_eq!(states(&k), [Some(236); 3]);
    assert_eq!(k.read(Fs::Cpu, "cpu2/hotplug/fail").unwrap(), "-1\n");
}

fn plan_of(tx: &Transaction<'_>, op: Op) -> cpuhp_linux::Plan {
    // Plans read through the transaction's view of the files.
    let _ = tx;
    cpuhp_linux::Plan {
        op: op.to_string(),
        writes: match op {
            Op::Offline(c) => vec![w(c[0], "online", "0")],
            Op::Fail(c, s) => vec![w(c, "hotplug/fail", &s.to_string())],
            _ => unreachable!("not used"),
        },
    }
}

fn w(cpu: u32, file: &str, value: &str) -> cpuhp_linux::Write {
    cpuhp_linux::Write {
        cpu,
        file: format!("cpu{cpu}/{file}"),
        value: value.into(),
        before: String::new(),
    }
}

#[test]
fn a_panic_inside_a_transaction_restores() {
    let mut k = sim(4);
    let p = plan(&k, &Op::Offline(vec![2, 3])).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut tx = Transaction::new(&mut k, None);
        tx.apply(&p).unwrap();
        panic!("a bug while the CPUs are down");
    }));
    assert!(r.is_err());
    assert_eq!(states(&k), [Some(236); 4]);
}

#[test]
fn an_interrupt_stops_before_the_next_write_and_restores() {
    let mut k = sim(4);
    let flag = AtomicBool::new(true);
    let p = plan(&k, &Op::Offline(vec![1])).unwrap();
    let f = execute(&mut k, &p, Some(&flag)).unwrap_err();
    let (e, report) = (f.error, f.report);
    assert!(matches!(e, Error::Interrupted));
    assert!(report.journal.is_empty(), "nothing written");
    assert_eq!(states(&k), [Some(236); 4]);
}

#[test]
fn a_target_write_is_restored_by_target() {
    let mut preset = cpuhp::preset::LINUX_6_1;
    preset.state_control = true;
    let mut k = SimKernel::new(&preset, 2).unwrap();
    assert_eq!(probe(&k).unwrap().state_control.value, Tristate::Yes);
    let p = plan(&k, &Op::Target(1, "RCU/tree:online".into())).unwrap();
    let mut tx = Transaction::new(&mut k, None);
    tx.apply(&p).unwrap();
    let report = tx.rollback();
    assert_eq!(report.restored, ["cpu1: online 1 (state 236)"]);
    assert_eq!(
        report
            .journal
            .last()
            .map(|j| (j.file.as_str(), j.value.as_str())),
        Some(("/sys/devices/system/cpu/cpu1/hotplug/target", "236"))
    );
    assert_eq!(states(&k), [Some(236); 2]);
}

#[test]
fn record_pairs_kernel_events_and_always_removes_its_instance() {
    let mut k = sim(2);
    let r = record(
        &mut k,
        &[Op::Offline(vec![1]), Op::Online(vec![1])],
        None,
        "t",
    )
    .unwrap();
    assert!(k.instances().is_empty());
    assert!(r.outcome.is_ok());
    // Down: the control side kicks the hotplug thread, which walks the ONLINE section.
    let first: Vec<(u32, &str, bool, &str)> = r
        .calls
        .iter()
        .take(3)
        .map(|c| (c.step, c.symbol.as_str(), c.bringup, context(c.context)))
        .collect();
    assert_eq!(
        first,
        [
            (236, "cpuhp_kick_ap_work", false, "control"),
            (235, "sched_cpu_deactivate", false, "thread"),
            (209, "mce_cpu_pre_down", false, "thread"),
        ]
    );
    assert!(r.calls.iter().all(|c| c.ret == Some(0)));
    assert_eq!(r.states_before, [236, 236]);
    assert_eq!(r.states_after, [vec![236, 0], vec![236, 236]]);
    // No STARTING/DYING callbacks: the kernel does not trace them.
    assert!(!r.calls.iter().any(|c| (93..153).contains(&c.step)));
    let ftrace = render_recording(&r, RecordFormat::Ftrace, false);
    assert_eq!(ftrace.lines().count(), 2 + r.raw.len());
    assert_eq!(parse_trace(&ftrace).unwrap().len(), 2 * r.calls.len());
    let jsonl = render_recording(&r, RecordFormat::Jsonl, false);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().nth(3).unwrap()).unwrap();
    assert_eq!(first["event"], "enter");
    assert_eq!(first["symbol"], "cpuhp_kick_ap_work");
    assert_eq!(first["ts_us"], 0);
    let perfetto: serde_json::Value =
        serde_json::from_str(&render_recording(&r, RecordFormat::Perfetto, false)).unwrap();
    assert!(perfetto.to_string().contains("cpuhp_kick_ap_work"));
    // The latency table, slowest first: kick_ap_work spans the hotplug thread's whole walk.
    let lat = r.latencies();
    assert!(lat.windows(2).all(|w| w[0].total_us >= w[1].total_us));
    let total = |step: u32, up: bool| {
        lat.iter()
            .find(|l| l.step == step && l.bringup == up)
            .map(|l| l.total_us)
            .unwrap()
    };
    assert!(total(236, false) > total(235, false) + total(209, false));
}

fn context(c: cpuhp::Context) -> &'static str {
    match c {
        cpuhp::Context::Control => "control",
        _ => "thread",
    }
}

#[test]
fn record_of_a_failing_operation_shows_the_kernel_rollback_and_restores() {
    let mut k = sim(3);
    let r = record(
        &mut k,
        &[Op::Offline(vec![1]), Op::Fail(2, 199), Op::Offline(vec![2])],
        None,
        "t",
    )
    .unwrap();
    assert!(k.instances().is_empty());
    assert_eq!(
        r.outcome.as_ref().map_err(ToString::to_string).unwrap_err(),
        "write /sys/devices/system/cpu/cpu2/online: EAGAIN"
    );
    assert_eq!(
        r.op_results[2].as_deref(),
        Some("write /sys/devices/system/cpu/cpu2/online: EAGAIN")
    );
    // The kernel tore down 235..200 on CPU 2 (the states with a teardown), failed 199 (not
    // traced: the injection returns before the tracepoint), and brought 200.. back up (the
    // states with a startup).
    let op3: Vec<(u32, bool)> = r
        .calls
        .iter()
        .filter(|c| c.op == 2 && c.context == cpuhp::Context::ApThread)
        .map(|c| (c.step, c.bringup))
        .collect();
    assert_eq!(
        op3,
        [
            (235, false),
            (209, false),
            (208, false),
            (202, false),
            (200, false),
            (200, true),
            (201, true),
            (202, true),
            (204, true),
            (206, true),
            (207, true),
            (208, true),
            (209, true),
            (210, true),
            (235, true)
        ]
    );
    assert_eq!(
        r.report.restored,
        ["cpu1: online 1 (state 236)", "cpu2: online 1 (state 236)"]
    );
    assert_eq!(states(&k), [Some(236); 3]);
    let timeline = render_recording(&r, RecordFormat::Timeline, false);
    assert!(timeline.contains("⇒ failed with EAGAIN"), "{timeline}");
}

#[test]
fn record_removes_its_instance_when_setup_fails_midway() {
    let mut k = sim(2);
    k.fail_path(
        "write",
        Fs::Tracing,
        "events/cpuhp/cpuhp_exit/enable",
        Errno::EACCES,
    );
    let e = record(&mut k, &[Op::Offline(vec![1])], None, "t").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("/events/cpuhp/cpuhp_exit/enable: EACCES"),
        "{e}"
    );
    assert!(k.instances().is_empty());
    assert_eq!(states(&k), [Some(236); 2], "no operation ran");

    let mut k = sim(2);
    k.fail_path("read", Fs::Tracing, "trace", Errno::EIO);
    let e = record(&mut k, &[Op::Offline(vec![1])], None, "t").unwrap_err();
    assert!(e.to_string().ends_with("/trace: EIO"), "{e}");
    assert!(k.instances().is_empty());
    assert_eq!(states(&k), [Some(236); 2], "the offline was undone");
}

#[test]
fn parses_trace_text_as_tracefs_prints_it() {
    let text = "# tracer: nop\n\
#\n\
# entries-in-buffer/entries-written: 4/4   #P:2\n\
            bash-412     [000] .....    61.912004: cpuhp_enter: cpu: 0001 target: 153 step: 236 (cpuhp_kick_ap_work)\n\
         cpuhp/1-19      [001] .....    61.912030: cpuhp_multi_enter: cpu: 0001 target: 153 step: 214 (multi_teardown [hporacle])\n\
         cpuhp/1-19      [001] .....    61.912033: cpuhp_exit:  cpu: 0001  state: 213 step: 214 ret: 0\n\
            bash-412     [000] .....    61.913001: cpuhp_exit:  cpu: 0001  state: 153 step: 236 ret: -16\n";
    let t = parse_trace(text).unwrap();
    assert_eq!(t.len(), 4);
    assert_eq!(t[0].ts_us, Some(61_912_004));
    assert_eq!(t[1].task, "cpuhp/1");
    assert_eq!(t[1].context, cpuhp::Context::ApThread);
    assert!(matches!(
        &t[1].point,
        cpuhp_linux::TracePoint::Enter { multi: true, symbol, .. } if symbol == "multi_teardown [hporacle]"
    ));
    assert!(matches!(
        t[3].point,
        cpuhp_linux::TracePoint::Exit {
            ret: -16,
            state: 153,
            ..
        }
    ));
    let lat = cpuhp_linux::latency_table(&t);
    assert_eq!((lat[0].step, lat[0].total_us), (236, 997));
    assert_eq!((lat[1].step, lat[1].total_us), (214, 3));
}

#[test]
fn host_io_reads_a_tree_shaped_like_sys() {
    let dir = tempfile::tempdir().unwrap();
    let cpu = dir.path().join("sys/devices/system/cpu");
    for c in 0..2 {
        std::fs::create_dir_all(cpu.join(format!("cpu{c}/hotplug"))).unwrap();
        std::fs::write(cpu.join(format!("cpu{c}/hotplug/state")), "236\n").unwrap();
    }
    std::fs::write(cpu.join("cpu1/online"), "1\n").unwrap();
    std::fs::write(cpu.join("online"), "0-1\n").unwrap();
    std::fs::write(cpu.join("possible"), "0-1\n").unwrap();
    std::fs::create_dir_all(dir.path().join("proc/sys/kernel")).unwrap();
    std::fs::write(dir.path().join("proc/sys/kernel/osrelease"), "6.1.0-test\n").unwrap();
    let io = HostIo::new(dir.path(), None).unwrap();
    let p = probe(&io).unwrap();
    assert_eq!(p.kernel.value.as_deref(), Some("6.1.0-test"));
    assert_eq!(p.online_files.value, "1");
    assert!(!p.fail.value, "no hotplug/fail in this tree");
    assert_eq!(p.tracefs.value, None);
    assert_eq!(p.state_control.value, Tristate::Unknown);
    assert!(matches!(
        HostIo::new(&dir.path().join("nope"), None),
        Err(Error::Io(_))
    ));
}

#[test]
fn sweep_injects_both_directions_restores_each_case_and_reports_refusals() {
    let mut k = sim(3);
    let s = cpuhp_linux::sweep(
        &mut k,
        &[2],
        Some(&[1, 50, 93, 199]),
        &cpuhp::preset::LINUX_6_1,
        None,
        None,
        |_, _| {},
    )
    .unwrap();
    /// state, direction, fail refused with, errno, matches
    type Row<'a> = (u32, &'a str, Option<&'a str>, Option<&'a str>, bool);
    let rows: Vec<Row<'_>> = s
        .cases
        .iter()
        .map(|c| {
            (
                c.state,
                c.direction,
                c.fail_refused.as_deref(),
                c.errno.as_deref(),
                c.matches,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            // A PREPARE state below cpu:bringup cannot fail while the CPU is up (EINVAL).
            (1, "down", Some("EINVAL"), None, true),
            (1, "up", None, Some("EAGAIN"), true),
            (50, "down", Some("EINVAL"), None, true),
            (50, "up", None, Some("EAGAIN"), true),
            // STARTING/DYING states cannot fail.
            (93, "down", Some("EINVAL"), None, true),
            (93, "up", Some("EINVAL"), None, true),
            (199, "down", None, Some("EAGAIN"), true),
            (199, "up", None, Some("EAGAIN"), true),
        ]
    );
    assert_eq!(s.planned, 8);
    assert_eq!(s.stopped, None);
    assert!(s.table().ends_with(
        "8 cases run of 8; fail accepted in 4, refused in 4; 4 of 4 match the simulator\n"
    ));
    assert_eq!(states(&k), [Some(236); 3]);
    for c in 0..3 {
        assert_eq!(
            k.read(Fs::Cpu, &format!("cpu{c}/hotplug/fail")).unwrap(),
            "-1\n"
        );
    }
    assert!(k.instances().is_empty());
}

#[test]
fn sweep_against_another_table_reports_the_difference_and_stops_when_told() {
    let mut k = sim(2);
    let s = cpuhp_linux::sweep(
        &mut k,
        &[1],
        Some(&[199]),
        &cpuhp::preset::DEMO,
        None,
        None,
        |_, _| {},
    )
    .unwrap();
    assert!(s.cases.iter().all(|c| !c.matches));
    let d = s.cases[0].difference.as_deref().unwrap();
    assert!(d.starts_with("FAIL: callback "), "{d}");
    assert!(d.contains("  - "), "{d}");

    let stop = AtomicBool::new(true);
    let s = cpuhp_linux::sweep(
        &mut k,
        &[1],
        None,
        &cpuhp::preset::LINUX_6_1,
        None,
        Some(&stop),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(
        (s.cases.len(), s.stopped.as_deref()),
        (0, Some("interrupted"))
    );
    let s = cpuhp_linux::sweep(
        &mut k,
        &[1],
        None,
        &cpuhp::preset::LINUX_6_1,
        Some(std::time::Duration::ZERO),
        None,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(
        (s.cases.len(), s.stopped.as_deref()),
        (0, Some("time limit"))
    );
    assert!(matches!(
        cpuhp_linux::sweep(
            &mut k,
            &[0],
            None,
            &cpuhp::preset::LINUX_6_1,
            None,
            None,
            |_, _| {}
        ),
        Err(Error::Refused(_))
    ));
}
