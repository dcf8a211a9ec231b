//! Suspend (freeze/thaw of the secondary CPUs, the `_FROZEN` events), SMT control and parallel
//! bring-up.

use std::sync::{Arc, Mutex};

use cpuhp::legacy::CpuAction;
use cpuhp::preset::DEMO;
use cpuhp::sim::{self, Machine};
use cpuhp::{
    CpuId, Errno, ErrorKind, Fault, Hotplug, Inline, Online, Prepare, Slot, SmtControl, StateId,
    Topology,
};
use notifier::{NotifierBlock, NotifyResult};

const ONLINE: StateId = StateId(99);
const OFFLINE: StateId = StateId::OFFLINE;

type Log = Arc<Mutex<Vec<String>>>;

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// A machine whose notifier and ONLINE state log what they see, including `tasks_frozen`.
fn logged_machine(cpus: u32) -> (Machine, Log) {
    let m = Machine::new(&DEMO, Topology::new(cpus)).unwrap();
    let log = Log::default();
    m.enable_cpu_notifiers(None).unwrap();
    let l = log.clone();
    m.register_cpu_notifier(Arc::new(NotifierBlock::new(
        move |a: CpuAction, cpu: &CpuId| {
            l.lock().unwrap().push(format!("{a} {cpu}"));
            NotifyResult::OK
        },
        0,
    )))
    .unwrap();
    let (up, down) = (log.clone(), log.clone());
    m.setup_state(
        Slot::OnlineDyn,
        "frozen?",
        Online::new()
            .startup(move |cpu| {
                up.lock()
                    .unwrap()
                    .push(format!("state up {cpu} frozen={}", sim::tasks_frozen()));
                Ok(())
            })
            .teardown(move |cpu| {
                down.lock()
                    .unwrap()
                    .push(format!("state down {cpu} frozen={}", sim::tasks_frozen()));
                Ok(())
            }),
    )
    .unwrap();
    take(&log);
    (m, log)
}

fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| s.to_string()).collect()
}

// ----- suspend -----------------------------------------------------------------------------------

#[test]
fn freeze_and_thaw_deliver_the_frozen_events_cpu_by_cpu() {
    let (m, log) = logged_machine(3);
    m.freeze_secondary_cpus(None).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            // The dynamic state goes down before the notifiers hear (Linux 4.9's order).
            "state down 1 frozen=true",
            "CPU_DOWN_PREPARE_FROZEN 1",
            "CPU_DYING_FROZEN 1",
            "CPU_DEAD_FROZEN 1",
            // POST_DEAD after each CPU, before the next goes down (one `_cpu_down` per CPU).
            "CPU_POST_DEAD_FROZEN 1",
            "state down 2 frozen=true",
            "CPU_DOWN_PREPARE_FROZEN 2",
            "CPU_DYING_FROZEN 2",
            "CPU_DEAD_FROZEN 2",
            "CPU_POST_DEAD_FROZEN 2",
        ])
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
    // Frozen: hotplug is disabled, and a second freeze is refused.
    assert_eq!(
        m.cpu_up(CpuId(1), ONLINE).unwrap_err().kind(),
        ErrorKind::Disabled
    );
    assert_eq!(
        m.freeze_secondary_cpus(None).unwrap_err().kind(),
        ErrorKind::AlreadyFrozen
    );
    m.thaw_secondary_cpus().unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "CPU_UP_PREPARE_FROZEN 1",
            "CPU_STARTING_FROZEN 1",
            "CPU_ONLINE_FROZEN 1",
            "state up 1 frozen=true",
            "CPU_UP_PREPARE_FROZEN 2",
            "CPU_STARTING_FROZEN 2",
            "CPU_ONLINE_FROZEN 2",
            "state up 2 frozen=true",
        ])
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0-2");
    // Thawed: ordinary hotplug again, not frozen.
    m.cpu_down(CpuId(2), OFFLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "state down 2 frozen=false",
            "CPU_DOWN_PREPARE 2",
            "CPU_DYING 2",
            "CPU_DEAD 2",
            "CPU_POST_DEAD 2",
        ])
    );
}

#[test]
fn thaw_brings_back_exactly_the_cpus_the_freeze_took_down() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(5), Inline).unwrap();
    hp.cpu_down(CpuId(3), OFFLINE).unwrap();
    // The primary CPU may be any online CPU.
    hp.freeze_secondary_cpus(Some(CpuId(2))).unwrap();
    assert_eq!(hp.online_mask().to_string(), "2");
    hp.thaw_secondary_cpus().unwrap();
    assert_eq!(
        hp.online_mask().to_string(),
        "0-2,4",
        "CPU 3 was down before"
    );
    assert!(!hp.cpu_hotplug_disabled());
}

#[test]
fn thaw_without_freeze_is_refused_and_changes_nothing() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(3), Inline).unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    let e = hp.thaw_secondary_cpus().unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::NotFrozen, Errno::EINVAL));
    assert_eq!(hp.online_mask().to_string(), "0,2");
    assert!(!hp.cpu_hotplug_disabled());
    // A thaw is good for one freeze only.
    hp.freeze_secondary_cpus(None).unwrap();
    hp.thaw_secondary_cpus().unwrap();
    assert_eq!(
        hp.thaw_secondary_cpus().unwrap_err().kind(),
        ErrorKind::NotFrozen
    );
    assert_eq!(hp.online_mask().to_string(), "0,2");
}

#[test]
fn a_pending_wakeup_aborts_the_freeze_with_ebusy() {
    let (m, log) = logged_machine(4);
    // Pending before the freeze: no CPU goes down.
    m.set_wakeup_pending(true).unwrap();
    let e = m.freeze_secondary_cpus(None).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::WakeupPending, Errno::EBUSY)
    );
    assert!(take(&log).is_empty());
    assert_eq!(m.online_mask().unwrap().to_string(), "0-3");
    // Every caller thaws after a failed freeze; hotplug stays disabled until it does.
    assert_eq!(
        m.cpu_down(CpuId(1), OFFLINE).unwrap_err().kind(),
        ErrorKind::Disabled
    );
    m.thaw_secondary_cpus().unwrap();
    m.set_wakeup_pending(false).unwrap();

    // Arriving after two CPUs went down: those come back at the thaw, the third never left.
    m.inject_wakeup(2).unwrap();
    let e = m.freeze_secondary_cpus(None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WakeupPending);
    assert_eq!(m.online_mask().unwrap().to_string(), "0,3");
    m.thaw_secondary_cpus().unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0-3");
    take(&log);
    m.set_wakeup_pending(false).unwrap();
    m.freeze_secondary_cpus(None).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
    m.thaw_secondary_cpus().unwrap();
}

#[test]
fn a_cpu_refusing_to_freeze_stops_the_freeze() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(4), Inline).unwrap();
    let s = hp
        .setup_state(
            Slot::OnlineDyn,
            "busy",
            Online::new().startup(|_| Ok(())).teardown(|_| Ok(())),
        )
        .unwrap();
    hp.inject(Fault::teardown(s, Errno::EBUSY).on_cpu(CpuId(2)).once());
    let e = hp.freeze_secondary_cpus(None).unwrap_err();
    assert_eq!(e.errno(), Errno::EBUSY);
    assert_eq!(e.failure().unwrap().cpu, CpuId(2));
    assert_eq!(hp.online_mask().to_string(), "0,2-3");
    assert!(hp.cpu_hotplug_disabled());
    hp.thaw_secondary_cpus().unwrap();
    assert_eq!(hp.online_mask().to_string(), "0-3");
}

#[test]
fn state_callbacks_can_ask_whether_tasks_are_frozen() {
    let (m, log) = logged_machine(2);
    assert!(!m.with(|hp| hp.tasks_frozen()).unwrap());
    m.freeze_secondary_cpus(None).unwrap();
    m.thaw_secondary_cpus().unwrap();
    // Like Linux's `cpuhp_tasks_frozen`, the flag keeps the last operation's value.
    assert!(m.with(|hp| hp.tasks_frozen()).unwrap());
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert!(!m.with(|hp| hp.tasks_frozen()).unwrap());
    let got = take(&log);
    assert!(
        got.contains(&"state down 1 frozen=true".to_string()),
        "{got:?}"
    );
    assert!(
        got.contains(&"state up 1 frozen=true".to_string()),
        "{got:?}"
    );
}

// ----- SMT ---------------------------------------------------------------------------------------

#[test]
fn smt_control_through_sysfs() {
    let m = Machine::new(&DEMO, Topology::new(4).with_threads_per_core(2)).unwrap();
    assert_eq!(m.sysfs_read("smt/control").unwrap(), "on\n");
    assert_eq!(m.sysfs_read("smt/active").unwrap(), "1\n");
    m.sysfs_write("smt/control", "off").unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0,2");
    assert_eq!(m.sysfs_read("smt/active").unwrap(), "0\n");
    assert_eq!(m.sysfs_read("cpu1/online").unwrap(), "0\n");
    // A disabled sibling may not come up, by any path.
    let e = m.cpu_up(CpuId(3), ONLINE).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::SmtForbidden, Errno::EPERM)
    );
    assert_eq!(m.sysfs_write("cpu3/online", "1"), Err(Errno::EPERM));
    // Primary threads still go up and down.
    m.cpu_down(CpuId(2), OFFLINE).unwrap();
    m.cpu_up(CpuId(2), ONLINE).unwrap();
    m.sysfs_write("smt/control", "on").unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0-3");
    assert_eq!(m.sysfs_write("smt/control", "sideways"), Err(Errno::EINVAL));
    // forceoff: for good.
    m.sysfs_write("smt/control", "forceoff").unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0,2");
    assert_eq!(m.sysfs_read("smt/control").unwrap(), "forceoff\n");
    assert_eq!(m.sysfs_write("smt/control", "on"), Err(Errno::EPERM));
    assert_eq!(
        m.set_smt_control(SmtControl::Off).unwrap_err().kind(),
        ErrorKind::SmtForcedOff
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0,2");
}

#[test]
fn smt_control_without_smt_is_not_supported() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    assert_eq!(m.sysfs_read("smt/control").unwrap(), "notsupported\n");
    assert_eq!(m.sysfs_write("smt/control", "off"), Err(Errno::ENODEV));
    assert_eq!(
        m.set_smt_control(SmtControl::Off).unwrap_err().errno(),
        Errno::ENODEV
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
}

#[test]
fn smt_on_brings_up_every_present_offline_cpu() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(6).with_threads_per_core(2), Inline).unwrap();
    hp.set_smt_control(SmtControl::Off).unwrap();
    assert_eq!(hp.online_mask().to_string(), "0,2,4");
    // Linux's cpuhp_smt_enable brings up every present offline CPU, a primary thread taken
    // down by hand included.
    hp.cpu_down(CpuId(4), OFFLINE).unwrap();
    hp.set_smt_control(SmtControl::On).unwrap();
    assert_eq!(hp.online_mask().to_string(), "0-5");
}

// ----- parallel bring-up -------------------------------------------------------------------------

/// A machine with CPUs 1.. down and a PREPARE and an ONLINE state logging their calls.
fn parallel_machine(cpus: u32) -> (Machine, Log, StateId) {
    let m = Machine::new(&DEMO, Topology::new(cpus)).unwrap();
    let log = Log::default();
    let (p, pd, o) = (log.clone(), log.clone(), log.clone());
    m.setup_state(
        Slot::PrepareDyn,
        "P",
        Prepare::new()
            .startup(move |c| {
                p.lock().unwrap().push(format!("P up {c}"));
                Ok(())
            })
            .teardown(move |c| pd.lock().unwrap().push(format!("P down {c}"))),
    )
    .unwrap();
    let online = m
        .setup_state(
            Slot::OnlineDyn,
            "O",
            Online::new()
                .startup(move |c| {
                    o.lock().unwrap().push(format!("O up {c}"));
                    Ok(())
                })
                .teardown(|_| Ok(())),
        )
        .unwrap();
    for c in 1..cpus {
        m.cpu_down(CpuId(c), OFFLINE).unwrap();
    }
    take(&log);
    (m, log, online)
}

#[test]
fn parallel_bringup_kicks_every_cpu_before_finishing_any() {
    let (m, log, _) = parallel_machine(4);
    let cpus = [CpuId(1), CpuId(2), CpuId(3)];
    let done = m.bringup_cpus_parallel(&cpus).unwrap();
    assert!(done.iter().all(|(_, r)| r.is_ok()), "{done:?}");
    assert_eq!(
        take(&log),
        lines(&["P up 1", "P up 2", "P up 3", "O up 1", "O up 2", "O up 3"])
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0-3");
    for c in cpus {
        assert_eq!(m.cpu_status(c).unwrap().unwrap().state, ONLINE);
    }
}

#[test]
fn a_cpu_failing_parallel_bringup_is_rolled_back_alone() {
    let (m, log, online) = parallel_machine(6);
    // CPU 2 fails its kick, and again when the second pass retries it; CPU 4 fails after it
    // booted (second pass).
    m.inject_start_failure(CpuId(2), Errno::EIO).unwrap();
    m.inject_start_failure(CpuId(2), Errno::EIO).unwrap();
    m.inject(
        Fault::startup(online, Errno::ENOMEM)
            .on_cpu(CpuId(4))
            .once(),
    )
    .unwrap();
    let cpus: Vec<CpuId> = (1..6).map(CpuId).collect();
    let done = m.bringup_cpus_parallel(&cpus).unwrap();
    let outcome: Vec<(u32, Result<(), Errno>)> = done
        .iter()
        .map(|(c, r)| (c.0, r.as_ref().map(|_| ()).map_err(|e| e.errno())))
        .collect();
    assert_eq!(
        outcome,
        [
            (1, Ok(())),
            (2, Err(Errno::EIO)),
            (3, Ok(())),
            (4, Err(Errno::ENOMEM)),
            (5, Ok(())),
        ]
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1,3,5");
    for c in [2, 4] {
        assert_eq!(m.cpu_status(CpuId(c)).unwrap().unwrap().state, OFFLINE);
    }
    let got = take(&log);
    // Each failed CPU's PREPARE state was undone, nobody else's: CPU 2 once per pass, CPU 4 by
    // the clean-up from the kick state.
    let downs: Vec<&String> = got.iter().filter(|l| l.contains("down")).collect();
    assert_eq!(downs, ["P down 2", "P down 2", "P down 4"]);
    // No CPU_POST_DEAD-style tear-down: the clean-up is a plain teardown walk (it also works
    // with a single CPU online — see `parallel_cleanup_needs_no_second_online_cpu`).
    // Both come up normally afterwards.
    m.cpu_up(CpuId(2), ONLINE).unwrap();
    m.cpu_up(CpuId(4), ONLINE).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0-5");
}

#[test]
fn parallel_bringup_without_a_kick_state_goes_one_by_one() {
    let mut hp = Hotplug::new(&cpuhp::preset::LINUX_6_1, Topology::new(3), Inline).unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    hp.cpu_down(CpuId(2), OFFLINE).unwrap();
    let done = hp.bringup_cpus_parallel(&[CpuId(2), CpuId(1)]);
    let order: Vec<u32> = done.iter().map(|(c, _)| c.0).collect();
    assert_eq!(order, [2, 1]);
    assert_eq!(hp.online_mask().to_string(), "0-2");
}

#[test]
fn a_kick_failing_once_is_retried_by_the_second_pass() {
    let (m, log, _) = parallel_machine(3);
    m.inject_start_failure(CpuId(1), Errno::EIO).unwrap();
    let done = m.bringup_cpus_parallel(&[CpuId(1), CpuId(2)]).unwrap();
    assert!(done.iter().all(|(_, r)| r.is_ok()), "{done:?}");
    assert_eq!(
        take(&log),
        lines(&["P up 1", "P down 1", "P up 2", "P up 1", "O up 1", "O up 2"])
    );
}

/// The usual boot situation: only the boot CPU online. The clean-up of a failed CPU is not a
/// `cpu_down` (which would refuse to take down "the last CPU") and sends no CPU_POST_DEAD.
#[test]
fn parallel_cleanup_needs_no_second_online_cpu() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(3), Inline).unwrap();
    hp.enable_cpu_notifiers(None).unwrap();
    let log = Log::default();
    let l = log.clone();
    hp.register_cpu_notifier(Arc::new(NotifierBlock::new(
        move |a: CpuAction, cpu: &CpuId| {
            l.lock().unwrap().push(format!("{a} {cpu}"));
            NotifyResult::OK
        },
        0,
    )))
    .unwrap();
    let o = hp
        .setup_state(Slot::OnlineDyn, "O", Online::new().startup(|_| Ok(())))
        .unwrap();
    hp.cpu_down(CpuId(2), OFFLINE).unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    take(&log);
    hp.inject(Fault::startup(o, Errno::ENOMEM).on_cpu(CpuId(1)).once());
    let done = hp.bringup_cpus_parallel(&[CpuId(1), CpuId(2)]);
    assert_eq!(done[0].1.as_ref().unwrap_err().errno(), Errno::ENOMEM);
    assert!(done[1].1.is_ok());
    assert_eq!(hp.cpu_status(CpuId(1)).unwrap().state, OFFLINE);
    assert_eq!(hp.online_mask().to_string(), "0,2");
    assert_eq!(
        take(&log),
        lines(&[
            "CPU_UP_PREPARE 1",
            "CPU_UP_PREPARE 2",
            "CPU_STARTING 1",
            "CPU_ONLINE 1",
            "CPU_DOWN_PREPARE 1",
            "CPU_DYING 1",
            "CPU_DEAD 1",
            "CPU_STARTING 2",
            "CPU_ONLINE 2",
        ])
    );
    // Nothing left queued: the next tear-down sends its own POST_DEAD only.
    hp.cpu_down(CpuId(2), OFFLINE).unwrap();
    let got = take(&log);
    let post_dead: Vec<&String> = got.iter().filter(|l| l.contains("POST_DEAD")).collect();
    assert_eq!(post_dead, ["CPU_POST_DEAD 2"]);
}

#[test]
fn parallel_bringup_with_smt_on_brings_primary_threads_first() {
    let m = Machine::new(&DEMO, Topology::new(6).with_threads_per_core(2)).unwrap();
    let log = Log::default();
    let p = log.clone();
    m.setup_state(
        Slot::PrepareDyn,
        "P",
        Prepare::new().startup(move |c| {
            p.lock().unwrap().push(format!("P up {c}"));
            Ok(())
        }),
    )
    .unwrap();
    for c in 1..6 {
        m.cpu_down(CpuId(c), OFFLINE).unwrap();
    }
    take(&log);
    let cpus: Vec<CpuId> = (1..6).map(CpuId).collect();
    let done = m.bringup_cpus_parallel(&cpus).unwrap();
    let order: Vec<u32> = done.iter().map(|(c, _)| c.0).collect();
    assert_eq!(order, [2, 4, 1, 3, 5]);
    assert_eq!(
        take(&log),
        lines(&["P up 2", "P up 4", "P up 1", "P up 3", "P up 5"])
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0-5");
}

// ----- SMT, continued ----------------------------------------------------------------------------

#[test]
fn smt_active_means_two_threads_of_one_core() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(4).with_threads_per_core(2), Inline).unwrap();
    assert!(hp.smt_active());
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert!(hp.smt_active(), "CPUs 2 and 3 share a core");
    hp.cpu_down(CpuId(2), OFFLINE).unwrap();
    assert!(!hp.smt_active(), "CPUs 0 and 3 are on different cores");
    assert_eq!(hp.sysfs_read("smt/active").unwrap(), "0\n");
}

/// Booting with `nosmt`: every sibling boots once (x86 must set CR4.MCE on each thread), its
/// bring-up is then canceled; afterwards siblings may not come up.
#[test]
fn booting_with_smt_off_boots_each_sibling_once() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let topology = Topology::new(4)
        .with_threads_per_core(2)
        .with_smt_control(SmtControl::Off);
    let m = Machine::new(&DEMO, topology).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0,2");
    assert_eq!(m.sysfs_read("smt/control").unwrap(), "off\n");
    assert_eq!(m.sysfs_read("cpu1/online").unwrap(), "0\n");
    for c in [1, 3] {
        assert_eq!(m.cpu_status(CpuId(c)).unwrap().unwrap().state, OFFLINE);
        assert_eq!(
            m.cpu_up(CpuId(c), ONLINE).unwrap_err().kind(),
            ErrorKind::SmtForbidden
        );
    }
    let s = seen.clone();
    m.setup_state(
        Slot::PrepareDyn,
        "P",
        Prepare::new().startup(move |c| {
            s.lock().unwrap().push(c.0);
            Ok(())
        }),
    )
    .unwrap();
    m.sysfs_write("smt/control", "on").unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0-3");
    assert_eq!(*seen.lock().unwrap(), [0, 2, 1, 3]);
    // nosmt=force: for good.
    let forced = Topology::new(4)
        .with_threads_per_core(2)
        .with_smt_control(SmtControl::ForceOff);
    let m = Machine::new(&DEMO, forced).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0,2");
    assert_eq!(m.sysfs_write("smt/control", "on"), Err(Errno::EPERM));
}

#[test]
fn smt_on_works_while_hotplug_is_disabled() {
    // Linux's cpuhp_smt_enable uses `_cpu_up`, which does not look at cpu_hotplug_disabled.
    let mut hp = Hotplug::new(&DEMO, Topology::new(4).with_threads_per_core(2), Inline).unwrap();
    hp.set_smt_control(SmtControl::Off).unwrap();
    hp.cpu_hotplug_disable();
    hp.set_smt_control(SmtControl::On).unwrap();
    assert_eq!(hp.online_mask().to_string(), "0-3");
    // SMT off does go through cpu_down, which does.
    assert_eq!(
        hp.set_smt_control(SmtControl::Off).unwrap_err().kind(),
        ErrorKind::Disabled
    );
    assert_eq!(hp.smt_control(), SmtControl::On);
}

// ----- suspend, continued ------------------------------------------------------------------------

#[test]
fn an_injected_wakeup_is_one_shot() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(3), Inline).unwrap();
    // More CPUs than the freeze takes down: it never arrives, and does not linger.
    hp.inject_wakeup(5);
    hp.freeze_secondary_cpus(None).unwrap();
    hp.thaw_secondary_cpus().unwrap();
    hp.inject_wakeup(0);
    assert_eq!(
        hp.freeze_secondary_cpus(None).unwrap_err().kind(),
        ErrorKind::WakeupPending
    );
    hp.thaw_secondary_cpus().unwrap();
    hp.freeze_secondary_cpus(None).unwrap();
    hp.thaw_secondary_cpus().unwrap();
    assert_eq!(hp.online_mask().to_string(), "0-2");
}

#[test]
fn enabling_hotplug_while_frozen_is_reported_at_the_thaw() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let w = warnings.clone();
    m.set_tracer(move |e| {
        if let cpuhp::TraceEvent::Warning { warning, .. } = e {
            w.lock().unwrap().push(*warning);
        }
    })
    .unwrap();
    m.freeze_secondary_cpus(None).unwrap();
    m.cpu_hotplug_enable().unwrap();
    m.thaw_secondary_cpus().unwrap();
    assert_eq!(
        *warnings.lock().unwrap(),
        [cpuhp::Warning::UnbalancedEnable]
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
}

/// CPUs the machine does not have fail with `InvalidCpu` before anything is kicked (it used to
/// index out of bounds and panic); duplicates are harmless and the CPUs that exist come up.
#[test]
fn parallel_bringup_of_unknown_cpus_is_refused_without_a_panic() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    let kinds = |done: cpuhp::BringupOutcomes| {
        done.into_iter()
            .map(|(c, r)| (c.0, r.map_err(|e| e.kind())))
            .collect::<Vec<_>>()
    };
    let done = m.bringup_cpus_parallel(&[CpuId(7)]).unwrap();
    assert_eq!(kinds(done), [(7, Err(ErrorKind::InvalidCpu))]);

    m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap();
    let done = m
        .bringup_cpus_parallel(&[CpuId(1), CpuId(7), CpuId(1), CpuId(u32::MAX)])
        .unwrap();
    assert_eq!(
        kinds(done),
        [
            (7, Err(ErrorKind::InvalidCpu)),
            (u32::MAX, Err(ErrorKind::InvalidCpu)),
            (1, Ok(())),
            (1, Ok(())),
        ]
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
}
