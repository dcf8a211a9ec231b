//! The state machine's edges: bad input, calls from inside callbacks, the contexts callbacks run
//! in, platform failures, failures during rollback, hand-off counts.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use cpuhp::preset::DEMO;
use cpuhp::sim::{self, Machine};
use cpuhp::{
    Context, CpuId, Errno, ErrorKind, Fault, Hotplug, Inline, InstanceId, Online, OnlineMulti,
    Platform, Prepare, Slot, Starting, StateId, Topology, TraceEvent, Warning,
};

fn demo(cpus: u32) -> Hotplug<Inline> {
    Hotplug::new(&DEMO, Topology::new(cpus), Inline).unwrap()
}

const ONLINE: StateId = StateId(99);
const OFFLINE: StateId = StateId::OFFLINE;

// ----- bad input ---------------------------------------------------------------------------------

#[test]
fn unknown_cpus_states_instances_and_targets_are_refused() {
    let mut hp = demo(2);
    assert_eq!(
        hp.cpu_up(CpuId(7), ONLINE).unwrap_err().kind(),
        ErrorKind::InvalidCpu
    );
    assert_eq!(
        hp.cpu_down(CpuId(7), OFFLINE).unwrap_err().errno(),
        Errno::EINVAL
    );
    assert_eq!(
        hp.cpu_up(CpuId(1), StateId(1000)).unwrap_err().kind(),
        ErrorKind::InvalidTarget
    );
    // Inside the STARTING section, or at the core's positions: a CPU cannot stop there.
    assert_eq!(
        hp.cpu_down(CpuId(1), StateId(45)).unwrap_err().kind(),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        hp.remove_state(StateId(75)).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    assert_eq!(
        hp.remove_state(StateId(30)).unwrap_err().kind(),
        ErrorKind::InvalidState,
        "cpu:bringup is the core's"
    );
    let s = hp
        .setup_state(
            Slot::OnlineDyn,
            "m",
            OnlineMulti::<u8>::new().startup(|_, _| Ok(())),
        )
        .unwrap();
    assert_eq!(
        hp.remove_instance(s, InstanceId(12345))
            .unwrap_err()
            .errno(),
        Errno::ENOENT
    );
    assert_eq!(
        hp.add_instance(s, "not a u8").unwrap_err().kind(),
        ErrorKind::WrongInstanceType
    );
    let plain = hp.setup_state(Slot::OnlineDyn, "p", Online::new()).unwrap();
    assert_eq!(
        hp.add_instance(plain, 1u8).unwrap_err().kind(),
        ErrorKind::NotMultiInstance
    );
    // Nothing changed.
    assert_eq!(hp.online_mask().to_string(), "0-1");
    assert_eq!(hp.states().len(), DEMO.states.len() + 2);
}

#[test]
fn a_state_with_instances_left_cannot_be_removed() {
    let mut hp = demo(2);
    let s = hp
        .setup_state(
            Slot::OnlineDyn,
            "m",
            OnlineMulti::<u8>::new().teardown(|_, _| Ok(())),
        )
        .unwrap();
    let i = hp.add_instance(s, 1u8).unwrap();
    let e = hp.remove_state(s).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::HasInstances, Errno::EBUSY)
    );
    assert_eq!(hp.instances(s), vec![i]);
    hp.remove_instance(s, i).unwrap();
    hp.remove_state(s).unwrap();
}

#[test]
fn slots_sections_and_dynamic_ranges() {
    let mut hp = demo(1);
    // Callbacks typed for one section do not fit another's slot.
    assert_eq!(
        hp.setup_state(Slot::PrepareDyn, "x", Online::new())
            .unwrap_err()
            .kind(),
        ErrorKind::WrongSection
    );
    assert_eq!(
        hp.setup_state(Slot::Fixed(StateId(40)), "x", Prepare::new())
            .unwrap_err()
            .kind(),
        ErrorKind::WrongSection
    );
    assert_eq!(
        hp.setup_state(Slot::Fixed(StateId(40)), "x", Starting::new())
            .unwrap(),
        StateId(40)
    );
    assert_eq!(
        hp.setup_state(Slot::Fixed(StateId(40)), "y", Starting::new())
            .unwrap_err()
            .kind(),
        ErrorKind::SlotTaken
    );
    assert_eq!(
        hp.setup_state(Slot::OnlineDyn, "", Online::new())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidState
    );
    // PREPARE_DYN is 10..=28: 19 slots, lowest free first, then ENOSPC.
    let got: Vec<u32> = (0..19)
        .map(|i| {
            hp.setup_state(Slot::PrepareDyn, format!("p{i}"), Prepare::new())
                .unwrap()
                .get()
        })
        .collect();
    assert_eq!(got, (10..29).collect::<Vec<_>>());
    assert_eq!(
        hp.setup_state(Slot::PrepareDyn, "one too many", Prepare::new())
            .unwrap_err()
            .errno(),
        Errno::ENOSPC
    );
    hp.remove_state(StateId(15)).unwrap();
    assert_eq!(
        hp.setup_state(Slot::PrepareDyn, "again", Prepare::new())
            .unwrap(),
        StateId(15)
    );
}

#[test]
fn nocalls_variants_call_nothing() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (a, b) = (calls.clone(), calls.clone());
    let mut hp = demo(3);
    let s = hp
        .setup_state_nocalls(
            Slot::OnlineDyn,
            "quiet",
            OnlineMulti::<u8>::new()
                .startup(move |_, _| {
                    a.fetch_add(1, SeqCst);
                    Ok(())
                })
                .teardown(move |_, _| {
                    b.fetch_add(1, SeqCst);
                    Ok(())
                }),
        )
        .unwrap();
    let i = hp.add_instance_nocalls(s, 1u8).unwrap();
    hp.remove_instance_nocalls(s, i).unwrap();
    hp.remove_state_nocalls(s).unwrap();
    assert_eq!(calls.load(SeqCst), 0);
}

// ----- contexts ----------------------------------------------------------------------------------

#[test]
fn callbacks_run_where_their_section_says() {
    let m = Machine::new(&DEMO, Topology::new(3)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
    m.setup_state(
        Slot::PrepareDyn,
        "p",
        Prepare::new().startup(move |cpu| {
            s1.lock()
                .unwrap()
                .push(("prepare", cpu, sim::current_cpu(), sim::irqs_disabled()));
            Ok(())
        }),
    )
    .unwrap();
    m.setup_state(
        Slot::Fixed(StateId(40)),
        "s",
        Starting::new().startup(move |cpu| {
            // A blocking call here is a bug the simulator reports.
            assert!(sim::might_sleep().is_err());
            s2.lock()
                .unwrap()
                .push(("starting", cpu, sim::current_cpu(), sim::irqs_disabled()));
        }),
    )
    .unwrap();
    m.setup_state(
        Slot::OnlineDyn,
        "o",
        Online::new().startup(move |cpu| {
            assert!(sim::might_sleep().is_ok());
            s3.lock()
                .unwrap()
                .push(("online", cpu, sim::current_cpu(), sim::irqs_disabled()));
            Ok(())
        }),
    )
    .unwrap();
    seen.lock().unwrap().clear();
    m.cpu_down(CpuId(2), OFFLINE).unwrap();
    m.cpu_up(CpuId(2), ONLINE).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("prepare", CpuId(2), None, false),
            ("starting", CpuId(2), Some(CpuId(2)), true),
            ("online", CpuId(2), Some(CpuId(2)), false),
        ]
    );
}

#[test]
fn a_hotplug_call_from_inside_a_callback_is_refused_not_deadlocked() {
    let m = Arc::new(Machine::new(&DEMO, Topology::new(2)).unwrap());
    let result = Arc::new(Mutex::new(Vec::new()));
    for slot in [Slot::OnlineDyn, Slot::PrepareDyn] {
        let (m2, r) = (Arc::downgrade(&m), result.clone());
        let startup = move |_cpu: CpuId| {
            let m = m2.upgrade().unwrap();
            r.lock()
                .unwrap()
                .push(m.cpu_down(CpuId(1), OFFLINE).unwrap_err().errno());
            Ok(())
        };
        let s = match slot {
            Slot::OnlineDyn => {
                m.setup_state(slot, "reenter-online", Online::new().startup(startup))
            }
            _ => m.setup_state(slot, "reenter-prep", Prepare::new().startup(startup)),
        };
        let s = s.unwrap();
        m.remove_state(s).unwrap();
    }
    assert_eq!(*result.lock().unwrap(), [Errno::EDEADLK; 4]);
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
}

#[test]
fn a_panicking_callback_fails_the_operation_and_the_machine_goes_on() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    let e = m
        .setup_state(
            Slot::OnlineDyn,
            "boom",
            Online::new().startup(|_| panic!("boom")),
        )
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.panic_message()),
        (ErrorKind::Panicked, Some("boom"))
    );
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
}

// ----- failures ----------------------------------------------------------------------------------

#[test]
fn platform_failures_roll_back() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    m.setup_state(
        Slot::PrepareDyn,
        "p",
        Prepare::new()
            .startup({
                let l = log.clone();
                move |c| {
                    l.lock().unwrap().push(format!("up {c}"));
                    Ok(())
                }
            })
            .teardown(move |c| l.lock().unwrap().push(format!("down {c}"))),
    )
    .unwrap();
    log.lock().unwrap().clear();
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    m.inject_start_failure(CpuId(1), Errno::EIO).unwrap();
    let e = m.cpu_up(CpuId(1), ONLINE).unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Platform, Errno::EIO));
    assert_eq!(
        e.failure().unwrap().state,
        StateId(29),
        "cpu:kick_ap failed: the CPU is started there, waited for at cpu:bringup"
    );
    assert_eq!(m.cpu_status(CpuId(1)).unwrap().unwrap().state, OFFLINE);
    assert_eq!(*log.lock().unwrap(), ["down 1", "up 1", "down 1"]);
    // The CPU refuses to die: the teardown stops at cpu:teardown and walks back up.
    m.cpu_up(CpuId(1), ONLINE).unwrap();
    m.inject_stop_failure(CpuId(1), Errno::EBUSY).unwrap();
    let e = m.cpu_down(CpuId(1), OFFLINE).unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Platform, Errno::EBUSY));
    assert_eq!(m.cpu_status(CpuId(1)).unwrap().unwrap().state, ONLINE);
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
}

#[test]
fn a_failure_during_rollback_does_not_reverse_again_and_is_reported() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let w = warnings.clone();
    m.set_tracer(move |ev| {
        if let TraceEvent::Warning {
            warning,
            cpu,
            context,
        } = ev
        {
            w.lock().unwrap().push((*warning, *cpu, *context));
        }
    })
    .unwrap();
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    for name in ["a", "b", "c"] {
        let (l1, l2) = (log.clone(), log.clone());
        let cbs = Online::new()
            .startup(move |cpu: CpuId| {
                l1.lock()
                    .unwrap()
                    .push(format!("{name} up on {:?}", sim::current_cpu()));
                if name == "c" && cpu.0 == 1 {
                    Err(Errno::EIO)
                } else {
                    Ok(())
                }
            })
            .teardown(move |cpu: CpuId| {
                l2.lock()
                    .unwrap()
                    .push(format!("{name} down on {:?}", sim::current_cpu()));
                if name == "b" && cpu.0 == 1 {
                    Err(Errno::EBUSY)
                } else {
                    Ok(())
                }
            });
        m.setup_state(Slot::OnlineDyn, name, cbs).unwrap();
    }
    log.lock().unwrap().clear();

    let e = m.cpu_up(CpuId(1), ONLINE).unwrap_err();
    assert_eq!(e.errno(), Errno::EIO);
    assert_eq!(
        e.failure().map(|f| (f.state, f.bringup)),
        Some((StateId(72), true)),
        "c's startup"
    );
    assert_eq!(
        e.rollback_failure().map(|f| (f.state, f.bringup, f.errno)),
        Some((StateId(71), false, Errno::EBUSY)),
        "b's teardown"
    );
    // c failed: no teardown for it. b's teardown failed during the rollback: no second reversal
    // (b is not started again); the hotplug thread stops, and the control side finishes the walk
    // down by itself — so a's teardown runs on the control side, as in Linux.
    let up = |n: &str| format!("{n} up on Some(CpuId(1))");
    assert_eq!(
        *log.lock().unwrap(),
        [
            up("a"),
            up("b"),
            up("c"),
            "b down on Some(CpuId(1))".into(),
            "a down on None".into()
        ]
    );
    assert_eq!(
        *warnings.lock().unwrap(),
        [(Warning::RollbackFailed, CpuId(1), Context::ApThread)]
    );
    assert_eq!(m.cpu_status(CpuId(1)).unwrap().unwrap().state, OFFLINE);
}

#[test]
fn injected_failures_fire_once_where_linux_allows_them() {
    let mut hp = demo(2);
    let s = hp
        .setup_state(
            Slot::OnlineDyn,
            "x",
            Online::new().startup(|_| Ok(())).teardown(|_| Ok(())),
        )
        .unwrap();
    // STARTING states, states without callbacks, states beyond online: EINVAL.
    assert_eq!(
        hp.sysfs_write("cpu1/hotplug/fail", "40"),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        hp.sysfs_write("cpu1/hotplug/fail", "75"),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        hp.sysfs_write("cpu1/hotplug/fail", "100"),
        Err(Errno::EINVAL)
    );
    // A PREPARE state while the CPU is up: its teardown cannot fail.
    hp.setup_state(Slot::PrepareDyn, "p", Prepare::new().startup(|_| Ok(())))
        .unwrap();
    assert_eq!(
        hp.sysfs_write("cpu1/hotplug/fail", "10"),
        Err(Errno::EINVAL)
    );
    hp.sysfs_write("cpu1/hotplug/fail", &s.to_string()).unwrap();
    let e = hp.cpu_down(CpuId(1), OFFLINE).unwrap_err();
    assert_eq!(e.errno(), Errno::EAGAIN);
    assert_eq!(
        hp.sysfs_read("cpu1/hotplug/fail").unwrap(),
        "-1\n",
        "one shot"
    );
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
}

// ----- hand-offs ---------------------------------------------------------------------------------

/// Counts hand-offs; runs inline.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Platform for Counting {
    fn run_on_ap(&self, _: CpuId, work: &mut (dyn FnMut() + Send)) {
        self.0.fetch_add(1, SeqCst);
        work();
    }
    fn start_cpu(&self, _: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        self.0.fetch_add(1, SeqCst);
        starting();
        Ok(())
    }
    fn stop_cpu(&self, _: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        self.0.fetch_add(1, SeqCst);
        dying();
        Ok(())
    }
}

#[test]
fn one_hand_off_per_section_not_per_state() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(2), Counting::default()).unwrap();
    for i in 0..19 {
        hp.setup_state(
            Slot::OnlineDyn,
            format!("o{i}"),
            Online::new().startup(|_| Ok(())).teardown(|_| Ok(())),
        )
        .unwrap();
        hp.setup_state(
            Slot::Fixed(StateId(33 + i)),
            format!("s{i}"),
            Starting::new().startup(|_| {}).teardown(|_| {}),
        )
        .unwrap();
        hp.setup_state(
            Slot::PrepareDyn,
            format!("p{i}"),
            Prepare::new().startup(|_| Ok(())).teardown(|_| {}),
        )
        .unwrap();
    }
    hp.platform().0.store(0, SeqCst);
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    // The ONLINE section on the hotplug thread, then the stop (DYING on the CPU).
    assert_eq!(hp.platform().0.swap(0, SeqCst), 2);
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    // The boot (STARTING on the CPU), then the ONLINE section on the hotplug thread.
    assert_eq!(hp.platform().0.swap(0, SeqCst), 2);
}

#[test]
fn injected_faults_target_a_callback_instance_and_direction() {
    use cpuhp::Fault;
    let mut hp = demo(3);
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let s = hp
        .setup_state(
            Slot::OnlineDyn,
            "m",
            OnlineMulti::<&'static str>::new()
                .startup(move |c, i: &&str| {
                    l1.lock().unwrap().push(format!("up {i} {c}"));
                    Ok(())
                })
                .teardown(move |c, i: &&str| {
                    l2.lock().unwrap().push(format!("down {i} {c}"));
                    Ok(())
                }),
        )
        .unwrap();
    let i0 = hp.add_instance(s, "i0").unwrap();
    let _i1 = hp.add_instance(s, "i1").unwrap();
    log.lock().unwrap().clear();
    // i0's startup fails on CPU 2, once: i1 (called first, newest) is undone, i0 gets nothing.
    hp.cpu_down(CpuId(2), OFFLINE).unwrap();
    log.lock().unwrap().clear();
    hp.inject(
        Fault::startup(s, Errno::ENODEV)
            .on_cpu(CpuId(2))
            .for_instance(i0)
            .once(),
    );
    let e = hp.cpu_up(CpuId(2), ONLINE).unwrap_err();
    assert_eq!(e.errno(), Errno::ENODEV);
    assert_eq!(e.failure().unwrap().instance, Some(i0));
    assert_eq!(*log.lock().unwrap(), ["up i1 2", "down i1 2"]);
    assert!(hp.faults().is_empty(), "fired once, gone");
    hp.cpu_up(CpuId(2), ONLINE).unwrap();
    // Faults never fire for callbacks that cannot fail: a STARTING startup.
    let st = hp
        .setup_state(
            Slot::Fixed(StateId(40)),
            "s",
            Starting::new().startup(|_| {}),
        )
        .unwrap();
    hp.inject(Fault::startup(st, Errno::EIO));
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    assert_eq!(hp.faults().len(), 1);
}

#[test]
fn a_possible_cpu_that_is_not_present_cannot_come_up() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(4).with_present(2), Inline).unwrap();
    let e = hp.cpu_up(CpuId(3), ONLINE).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::InvalidCpu, Errno::EINVAL)
    );
    assert_eq!(hp.online_mask().to_string(), "0-1");
}

#[test]
fn a_fault_with_no_shots_is_not_kept() {
    use cpuhp::Fault;
    let mut hp = demo(2);
    hp.inject(Fault::startup(StateId(70), Errno::EIO).times(0));
    assert!(hp.faults().is_empty());
}

#[test]
fn a_failed_instance_undo_names_its_instance() {
    // Instances are called newest first: `b`, then `a`. `a`'s startup fails on CPU 2, and undoing
    // `b` there fails too: the rollback failure names `b`, as the first failure names `a`.
    for parallel in [false, true] {
        let mut hp = demo(4);
        let s = hp
            .setup_state(
                Slot::OnlineDyn,
                "m",
                OnlineMulti::<u8>::new()
                    .startup(|_, _| Ok(()))
                    .teardown(|_, _| Ok(())),
            )
            .unwrap();
        let a = hp.add_instance(s, 1u8).unwrap();
        let b = hp.add_instance(s, 2u8).unwrap();
        hp.cpu_down(CpuId(2), StateId::OFFLINE).unwrap();
        hp.inject(
            Fault::startup(s, Errno::EBUSY)
                .on_cpu(CpuId(2))
                .for_instance(a)
                .once(),
        );
        hp.inject(
            Fault::teardown(s, Errno::EIO)
                .on_cpu(CpuId(2))
                .for_instance(b)
                .once(),
        );
        let e = if parallel {
            let mut outcomes = hp.bringup_cpus_parallel(&[CpuId(2)]);
            outcomes.pop().unwrap().1.unwrap_err()
        } else {
            hp.cpu_up(CpuId(2), StateId(99)).unwrap_err()
        };
        let first = e.failure().unwrap();
        assert_eq!(
            (first.state, first.instance, first.errno),
            (s, Some(a), Errno::EBUSY)
        );
        let undo = e.rollback_failure().unwrap();
        assert_eq!(
            (
                undo.cpu,
                undo.state,
                undo.instance,
                undo.bringup,
                undo.errno
            ),
            (CpuId(2), s, Some(b), false, Errno::EIO),
            "parallel: {parallel}"
        );
    }
}
