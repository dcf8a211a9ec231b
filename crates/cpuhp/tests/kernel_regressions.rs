//! Regression tests named after historical fixes to Linux's CPU hotplug code (`kernel/cpu.c`,
//! `kernel/notifier.c`). Each test's doc comment names the commit and what broke; the test shows
//! the fixed behaviour where this crate models the kernel, or that the case is refused or
//! harmless where the design rules the bug out. All of them drive the public API and assert exact
//! outcomes: return codes, callback sequences, per-CPU state and warnings.

use std::sync::{Arc, Mutex};

use cpuhp::preset::{LINUX_6_1, LINUX_6_12};
use cpuhp::{
    CpuId, Errno, ErrorKind, Fault, Hotplug, Online, OnlineMulti, Platform, Prepare, PrepareMulti,
    Slot, Starting, StateId, Topology, TraceEvent,
};

/// A platform that runs everything inline and keeps every callback entry, injected failure and
/// warning as a line.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Platform for Recorder {
    fn run_on_ap(&self, _: CpuId, work: &mut (dyn FnMut() + Send)) {
        work();
    }
    fn start_cpu(&self, _: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        starting();
        Ok(())
    }
    fn stop_cpu(&self, _: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        dying();
        Ok(())
    }
    fn trace(&self, event: &TraceEvent<'_>) {
        let line = match *event {
            TraceEvent::Enter {
                cpu,
                step,
                bringup,
                instance,
                ..
            } => {
                let dir = if bringup { "up" } else { "down" };
                match instance {
                    Some(i) => format!("{dir} {step}/{} cpu{}", i.0, cpu.0),
                    None => format!("{dir} {step} cpu{}", cpu.0),
                }
            }
            TraceEvent::Injected { step, errno, .. } => format!("injected {step} {errno}"),
            TraceEvent::Warning { warning, cpu, .. } => format!("WARN {warning:?} cpu{}", cpu.0),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

fn machine(preset: &cpuhp::preset::Preset) -> Hotplug<Recorder> {
    Hotplug::new(preset, Topology::new(4), Recorder::default()).unwrap()
}

const OFFLINE: StateId = StateId::OFFLINE;
const ONLINE: StateId = StateId(236);

/// A shared log that callbacks append to.
type Log = Arc<Mutex<Vec<String>>>;

fn logged(log: &Log, what: String) {
    log.lock().unwrap().push(what);
}

fn drain(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// `1db49484f21e` ("smp/hotplug: Hotplug state fail injection") added `hotplug/fail` without
/// checking the written number; `33d4a5a7a5b4` ("cpu/hotplug: Fix out-of-bounds read when setting
/// fail state") bounds it: `echo -2 > cpu0/hotplug/fail` indexed the state table before its
/// start. Here every out-of-range value is `EINVAL`, the table is never indexed with it, and
/// nothing changes.
#[test]
fn fail_file_out_of_range_is_einval_33d4a5a7a5b4() {
    let mut hp = machine(&LINUX_6_1);
    hp.platform().take();
    for value in ["-2", "-100", "237", "1000", "-2147483648", "2147483647"] {
        for cpu in 0..4 {
            let path = format!("cpu{cpu}/hotplug/fail");
            assert_eq!(hp.sysfs_write(&path, value), Err(Errno::EINVAL), "{value}");
            assert_eq!(hp.sysfs_read(&path).as_deref(), Ok("-1\n"));
        }
    }
    // Beyond `int`: the kernel's parser says so before any bounds check.
    assert_eq!(
        hp.sysfs_write("cpu1/hotplug/fail", "99999999999"),
        Err(Errno::ERANGE)
    );
    // In range but not injectable: a STARTING state (sched:starting) and a number without
    // callbacks.
    assert_eq!(
        hp.sysfs_write("cpu1/hotplug/fail", "94"),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        hp.sysfs_write("cpu1/hotplug/fail", "100"),
        Err(Errno::EINVAL)
    );
    assert!(hp.platform().take().is_empty(), "no callback ran");
    assert_eq!(hp.online_mask().to_string(), "0-3");
}

/// `3ae70c251f34` ("cpu/hotplug: Allowing to reset fail injection"): before it, an armed
/// `hotplug/fail` could only be cleared by a hotplug operation that consumed it. Writing -1 now
/// resets it, with no operation needed — and a later operation then runs normally.
#[test]
fn writing_minus_one_resets_the_fail_file_3ae70c251f34() {
    let mut hp = machine(&LINUX_6_1);
    hp.platform().take();
    // RCU/tree:online, an ONLINE state with callbacks.
    hp.sysfs_write("cpu1/hotplug/fail", "199").unwrap();
    assert_eq!(hp.sysfs_read("cpu1/hotplug/fail").as_deref(), Ok("199\n"));
    hp.sysfs_write("cpu1/hotplug/fail", "-1").unwrap();
    assert_eq!(hp.sysfs_read("cpu1/hotplug/fail").as_deref(), Ok("-1\n"));
    assert!(hp.platform().take().is_empty(), "resetting ran no callback");
    // Nothing is left armed: the CPU goes down and up through state 199 both ways.
    hp.sysfs_write("cpu1/online", "0").unwrap();
    hp.sysfs_write("cpu1/online", "1").unwrap();
    let ran = hp.platform().take();
    assert!(!ran.iter().any(|l| l.starts_with("injected")), "{ran:?}");
    assert!(ran.contains(&"down 199 cpu1".to_string()));
    assert!(ran.contains(&"up 199 cpu1".to_string()));
    assert_eq!(hp.online_mask().to_string(), "0-3");
}

/// `62f250694092` ("cpu/hotplug: CPUHP_BRINGUP_CPU failure exception"): a CPU above
/// `cpu:bringup` is going down when it reaches that state, and nothing at or below it may fail
/// then (the teardowns there run after the CPU is dead). `fail` refuses those states for such a
/// CPU; for a CPU that is offline, the bring-up may be made to fail, and rolls back.
#[test]
fn fail_refuses_states_at_or_below_bringup_for_a_cpu_above_it_62f250694092() {
    let mut hp = machine(&LINUX_6_12);
    // cpu:bringup (86), cpu:kick_ap (85), perf:prepare (2).
    for state in ["86", "85", "2"] {
        assert_eq!(
            hp.sysfs_write("cpu1/hotplug/fail", state),
            Err(Errno::EINVAL),
            "{state}"
        );
    }
    // Above cpu:bringup it is fine (smpboot/threads:online).
    hp.sysfs_write("cpu1/hotplug/fail", "150").unwrap();
    hp.sysfs_write("cpu1/hotplug/fail", "-1").unwrap();

    // Offline, cpu:bringup can be failed: the bring-up stops there and rolls back to offline.
    hp.sysfs_write("cpu1/online", "0").unwrap();
    hp.sysfs_write("cpu1/hotplug/fail", "86").unwrap();
    hp.platform().take();
    assert_eq!(hp.sysfs_write("cpu1/online", "1"), Err(Errno::EAGAIN));
    let ran = hp.platform().take();
    assert!(ran.contains(&"injected 86 EAGAIN".to_string()), "{ran:?}");
    let status = hp.cpu_status(CpuId(1)).unwrap();
    assert_eq!((status.state, status.fail), (OFFLINE, None));
    assert_eq!(hp.online_mask().to_string(), "0,2-3");
}

/// `453e41085183` ("cpu/hotplug: Add cpuhp_invoke_callback_range()") unified the two unplug
/// paths — the CPU's hotplug thread (ONLINE section) decremented the state before a callback,
/// `take_cpu_down` (DYING) after it — so that a rollback starts at the same place on both.
/// `6f855b39e460` ("cpu/hotplug: Do not bail-out in DYING/STARTING sections") then made a
/// failing DYING/STARTING callback be logged and skipped instead of leaving the CPU stuck.
///
/// Here: on the thread path, a failing teardown is rolled back from exactly the state above it
/// (the failing one gets no startup); on the stop-machine path, a DYING callback cannot fail at
/// all — `Starting`'s callbacks return `()` — so one that "would fail" can only log, and the
/// walk goes on to offline.
#[test]
fn unplug_rollback_starts_at_the_failing_state_and_dying_cannot_fail_453e41085183_6f855b39e460() {
    let mut hp = machine(&LINUX_6_1);
    let log: Log = Arc::default();
    let mut states = Vec::new();
    for name in ["a", "b", "c"] {
        let (up, down) = (log.clone(), log.clone());
        let s = hp
            .setup_state(
                Slot::OnlineDyn,
                name,
                Online::new()
                    .startup(move |cpu| {
                        logged(&up, format!("{name} up cpu{}", cpu.0));
                        Ok(())
                    })
                    .teardown(move |cpu| {
                        logged(&down, format!("{name} down cpu{}", cpu.0));
                        if name == "b" && cpu == CpuId(1) {
                            Err(Errno::EBUSY)
                        } else {
                            Ok(())
                        }
                    }),
            )
            .unwrap();
        states.push(s);
    }
    assert_eq!(states, [StateId(211), StateId(212), StateId(213)]);
    drain(&log);
    let err = hp.cpu_down(CpuId(1), OFFLINE).unwrap_err();
    assert_eq!(
        (err.kind(), err.errno()),
        (ErrorKind::Callback, Errno::EBUSY)
    );
    let f = err.failure().unwrap();
    assert_eq!((f.state, f.bringup, f.cpu), (StateId(212), false, CpuId(1)));
    // c down, b down (fails), then back up from the state above b: c only.
    assert_eq!(drain(&log), ["c down cpu1", "b down cpu1", "c up cpu1"]);
    let status = hp.cpu_status(CpuId(1)).unwrap();
    assert_eq!((status.state, status.target), (ONLINE, ONLINE));

    // The DYING path. A STARTING teardown returns `()`: the closure below is its whole
    // signature, and a driver that hit an error can only record it.
    let dying: Log = Arc::default();
    let (d1, d2) = (dying.clone(), dying.clone());
    let would_fail = move |cpu: CpuId| logged(&d1, format!("x would fail cpu{}", cpu.0));
    let _: &dyn Fn(CpuId) = &would_fail;
    hp.setup_state(
        Slot::Fixed(StateId(100)),
        "x:starting",
        Starting::new().teardown(would_fail),
    )
    .unwrap();
    hp.setup_state(
        Slot::Fixed(StateId(99)),
        "y:starting",
        Starting::new().teardown(move |cpu| logged(&d2, format!("y down cpu{}", cpu.0))),
    )
    .unwrap();
    // Nor can it be made to fail from sysfs.
    assert_eq!(
        hp.sysfs_write("cpu2/hotplug/fail", "100"),
        Err(Errno::EINVAL)
    );
    hp.cpu_down(CpuId(2), OFFLINE).unwrap();
    assert_eq!(drain(&dying), ["x would fail cpu2", "y down cpu2"]);
    assert_eq!(hp.cpu_status(CpuId(2)).unwrap().state, OFFLINE);
    assert_eq!(hp.online_mask().to_string(), "0-1,3");
}

/// `724a86881d03` ("smp/hotplug: Callback vs state-machine consistency") made a failing
/// atomic (STARTING/DYING) callback warn, made a failing rollback warn ("Rollback must not
/// fail"), and gave multi-instance callbacks a rollback loop that undoes exactly the instances
/// before the one that failed.
///
/// Here: atomic callbacks cannot fail (their type returns `()`), nor can the undo of a PREPARE
/// instance (a PREPARE teardown); a rollback that fails anyway (an ONLINE instance's teardown
/// undoing a failed bring-up) is reported as a warning on that CPU and in the error; a failing
/// instance is undone on the instances before it only — not itself, not those after.
#[test]
fn failing_rollbacks_warn_and_instance_rollback_undoes_only_earlier_instances_724a86881d03() {
    let mut hp = machine(&LINUX_6_1);
    let log: Log = Arc::default();
    let (up, down) = (log.clone(), log.clone());
    let m = hp
        .setup_state(
            Slot::OnlineDyn,
            "m",
            OnlineMulti::<&'static str>::new()
                .startup(move |cpu, name| {
                    logged(&up, format!("{name} up cpu{}", cpu.0));
                    Ok(())
                })
                .teardown(move |cpu, name| {
                    logged(&down, format!("{name} down cpu{}", cpu.0));
                    Ok(())
                }),
        )
        .unwrap();
    let _i0 = hp.add_instance(m, "i0").unwrap();
    let i1 = hp.add_instance(m, "i1").unwrap();
    let _i2 = hp.add_instance(m, "i2").unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    drain(&log);
    hp.platform().take();

    // Instances are walked newest first, as Linux keeps them (`hlist_add_head`): i2, i1, i0.
    // i1's startup fails on CPU 1: i2 is undone, i1 and i0 get nothing.
    hp.inject(
        Fault::startup(m, Errno::ENOMEM)
            .on_cpu(CpuId(1))
            .for_instance(i1)
            .once(),
    );
    let err = hp.cpu_up(CpuId(1), ONLINE).unwrap_err();
    assert_eq!(err.errno(), Errno::ENOMEM);
    assert_eq!(err.failure().unwrap().instance, Some(i1));
    assert_eq!(drain(&log), ["i2 up cpu1", "i2 down cpu1"]);
    assert_eq!(hp.cpu_status(CpuId(1)).unwrap().state, OFFLINE);
    assert!(!hp.platform().take().iter().any(|l| l.starts_with("WARN")));

    // Now the instance rollback itself fails (i2's teardown). On the hotplug thread that undo
    // is the thread's own rollback, so the warning is the thread's ("up a creek"), exactly
    // once; the error keeps the original failure and reports the failed undo.
    hp.inject(
        Fault::startup(m, Errno::ENOMEM)
            .on_cpu(CpuId(1))
            .for_instance(i1)
            .once(),
    );
    hp.inject(Fault::teardown(m, Errno::EIO).on_cpu(CpuId(1)).once());
    let err = hp.cpu_up(CpuId(1), ONLINE).unwrap_err();
    assert_eq!(err.errno(), Errno::ENOMEM);
    assert_eq!(err.failure().unwrap().instance, Some(i1));
    let rb = err
        .rollback_failure()
        .expect("the failed rollback is reported");
    assert_eq!((rb.state, rb.bringup, rb.errno), (m, false, Errno::EIO));
    assert_eq!(
        drain(&log),
        ["i2 up cpu1"],
        "the failed undo ran no teardown"
    );
    let warnings: Vec<String> = hp
        .platform()
        .take()
        .into_iter()
        .filter(|l| l.starts_with("WARN"))
        .collect();
    // Then the control side walks the ONLINE section down by itself (`cpuhp_up_callbacks`; with
    // CONFIG_HOTPLUG_CPU `can_rollback_cpu` is always true) until `workqueue_offline_cpu`, which
    // must run on its own CPU, refuses: it warns, `cpuhp_up_callbacks` warns, and the CPU stays
    // just below `workqueue:online` (197).
    assert_eq!(
        warnings,
        [
            "WARN RollbackFailed cpu1",
            "WARN ForeignCpuRefused cpu1",
            "WARN UpRollbackFailed cpu1"
        ]
    );
    assert_eq!(hp.cpu_status(CpuId(1)).unwrap().state, StateId(196));
}

/// `64ea6e44f85b` ("cpu/hotplug: Make target_store() a nop when target == state"): writing a
/// CPU's current state back to `hotplug/target` went through `cpu_down` and left the CPU marked
/// dying. `d385febc9a19` ("cpu/hotplug: Set cpuhp target for boot cpu"): the boot CPU's target
/// stayed at 0 (offline) though it is online, so that write also warned.
///
/// Here writing the current state is a no-op that runs no callback; on Linux 6.1 (before
/// `d385febc9a19`) the boot CPU's target reads 0 and the write warns once and repairs it; on
/// 6.12 it reads 236 and nothing warns.
#[test]
fn writing_the_current_state_to_target_is_a_noop_and_the_boot_cpu_has_its_target_64ea6e44f85b_d385febc9a19()
 {
    for (preset, boot_target) in [(&LINUX_6_1, "0\n"), (&LINUX_6_12, "236\n")] {
        let mut hp = machine(preset);
        hp.platform().take();
        assert_eq!(
            hp.sysfs_read("cpu0/hotplug/target").as_deref(),
            Ok(boot_target)
        );
        hp.sysfs_write("cpu1/hotplug/target", "236").unwrap();
        assert!(
            hp.platform().take().is_empty(),
            "{}: no callback",
            preset.name
        );
        hp.sysfs_write("cpu0/hotplug/target", "236").unwrap();
        let warned = hp.platform().take();
        if boot_target == "0\n" {
            assert_eq!(warned, ["WARN TargetMismatch cpu0"], "{}", preset.name);
        } else {
            assert!(warned.is_empty(), "{}: {warned:?}", preset.name);
        }
        assert_eq!(hp.sysfs_read("cpu0/hotplug/target").as_deref(), Ok("236\n"));
        // An offline CPU written its current state (0): nothing happens either.
        hp.sysfs_write("cpu2/online", "0").unwrap();
        hp.platform().take();
        hp.sysfs_write("cpu2/hotplug/target", "0").unwrap();
        assert!(hp.platform().take().is_empty());
        let st = hp.cpu_status(CpuId(2)).unwrap();
        assert_eq!((st.state, st.target), (OFFLINE, OFFLINE));
        assert_eq!(hp.online_mask().to_string(), "0-1,3");
    }
}

/// `932d8476399f` ("cpu/hotplug: Fix dynstate assignment in __cpuhp_setup_state_cpuslocked()"):
/// a state set up in the dynamic PREPARE range got its slot, but its startup was not run on the
/// CPUs already up. Here it runs on every online CPU, in order, on both kernels' numbering.
#[test]
fn a_state_in_the_dynamic_prepare_range_runs_its_startups_932d8476399f() {
    for (preset, slot) in [(&LINUX_6_1, 71), (&LINUX_6_12, 66)] {
        let mut hp = machine(preset);
        hp.sysfs_write("cpu3/online", "0").unwrap();
        let log: Log = Arc::default();
        let up = log.clone();
        let s = hp
            .setup_state(
                Slot::PrepareDyn,
                "prep",
                Prepare::new().startup(move |cpu| {
                    logged(&up, format!("prep up cpu{}", cpu.0));
                    Ok(())
                }),
            )
            .unwrap();
        assert_eq!(s, StateId(slot), "{}", preset.name);
        assert_eq!(
            drain(&log),
            ["prep up cpu0", "prep up cpu1", "prep up cpu2"],
            "{}: the online CPUs, not the offline one",
            preset.name
        );
        // And the offline CPU gets it when it comes up.
        hp.sysfs_write("cpu3/online", "1").unwrap();
        assert_eq!(drain(&log), ["prep up cpu3"]);
    }
}

/// `70d932985757` ("notifier: Fix broken error handling pattern") added the `_robust` calls: on
/// a veto, roll back by calling the *same* chain with the cancel event, on the first
/// `nr_calls - 1` blocks. Linux walks the chain twice, so a callback that changes the chain
/// during the call shifts the rollback: a block unregistered misses its cancel, a block
/// registered in front gets a cancel without an up event. Here a robust call is one walk of one
/// snapshot: the cancel reaches exactly the blocks that said OK, whatever the callbacks do to
/// the chain, and the changes take effect for the next call.
#[test]
fn a_robust_call_cancels_exactly_the_blocks_that_said_ok_when_the_chain_changes_70d932985757() {
    use notifier::{Chain, FnBlock, NotifyResult, RawChain};

    const UP: u64 = 1;
    const CANCEL: u64 = 2;
    static LOG: Mutex<Vec<(&str, u64)>> = Mutex::new(Vec::new());
    thread_local! { static CHAIN: RawChain<u64> = const { RawChain::new() }; }

    fn first(e: u64, _: &()) -> NotifyResult {
        LOG.lock().unwrap().push(("first", e));
        NotifyResult::OK
    }
    fn adder(e: u64, _: &()) -> NotifyResult {
        LOG.lock().unwrap().push(("adder", e));
        if e == UP {
            // Registers a block in front of everyone during the up walk.
            CHAIN.with(|c| c.register(&NEWCOMER).unwrap().keep());
        }
        NotifyResult::OK
    }
    fn remover(e: u64, _: &()) -> NotifyResult {
        LOG.lock().unwrap().push(("remover", e));
        // Unregisters the first block, which already said OK, then vetoes.
        CHAIN.with(|c| c.unregister(&FIRST)).unwrap();
        NotifyResult::BAD
    }
    fn newcomer(e: u64, _: &()) -> NotifyResult {
        LOG.lock().unwrap().push(("newcomer", e));
        NotifyResult::OK
    }
    static FIRST: FnBlock<u64> = FnBlock::new(first, 30);
    static ADDER: FnBlock<u64> = FnBlock::new(adder, 20);
    static REMOVER: FnBlock<u64> = FnBlock::new(remover, 10);
    static NEWCOMER: FnBlock<u64> = FnBlock::new(newcomer, 40);

    CHAIN.with(|c| {
        for b in [&FIRST, &ADDER, &REMOVER] {
            c.register(b).unwrap().keep();
        }
        assert_eq!(c.call_robust(UP, CANCEL, &()), NotifyResult::BAD);
    });
    assert_eq!(
        std::mem::take(&mut *LOG.lock().unwrap()),
        [
            ("first", UP),
            ("adder", UP),
            ("remover", UP),
            // Linux would cancel `newcomer` (never called) and `first`'s successor instead.
            ("first", CANCEL),
            ("adder", CANCEL),
        ]
    );
    // The changes hold for the next call (another event, so nobody registers again):
    // newcomer in front, first gone.
    const OTHER: u64 = 3;
    CHAIN.with(|c| {
        c.unregister(&REMOVER).unwrap();
        assert_eq!(c.call(OTHER, &()), NotifyResult::OK);
    });
    assert_eq!(
        std::mem::take(&mut *LOG.lock().unwrap()),
        [("newcomer", OTHER), ("adder", OTHER)]
    );
}

/// The multi-instance rollback that overwrote the return value: `cpuhp_invoke_callback` undid
/// the instances before a failing one and reused the failure's return variable for the undo, so
/// a successful undo turned the failed transition into a success (fixed upstream by "keep the
/// rollback result separate from the original error", `Fixes: 724a86881d03`). Here the failure
/// is kept — on the control side (a PREPARE state) where Linux 6.1 loses it, and the CPU does not
/// come up.
#[test]
fn a_failed_instance_stays_failed_after_its_rollback() {
    let mut hp = machine(&LINUX_6_1);
    let log: Log = Arc::default();
    let (up, down) = (log.clone(), log.clone());
    let p = hp
        .setup_state(
            Slot::PrepareDyn,
            "pm",
            PrepareMulti::<u8>::new()
                .startup(move |cpu, i| {
                    logged(&up, format!("i{i} up cpu{}", cpu.0));
                    Ok(())
                })
                .teardown(move |cpu, i| logged(&down, format!("i{i} down cpu{}", cpu.0))),
        )
        .unwrap();
    assert_eq!(p, StateId(71));
    // Walked newest first: i1, then i0.
    let i0 = hp.add_instance(p, 0u8).unwrap();
    let _i1 = hp.add_instance(p, 1u8).unwrap();
    hp.sysfs_write("cpu2/online", "0").unwrap();
    drain(&log);
    hp.platform().take();
    hp.inject(
        Fault::startup(p, Errno::ENOSPC)
            .on_cpu(CpuId(2))
            .for_instance(i0),
    );
    assert_eq!(hp.sysfs_write("cpu2/online", "1"), Err(Errno::ENOSPC));
    assert_eq!(drain(&log), ["i1 up cpu2", "i1 down cpu2"]);
    let st = hp.cpu_status(CpuId(2)).unwrap();
    assert_eq!(st.state, OFFLINE);
    assert_eq!(hp.online_mask().to_string(), "0-1,3");
    assert_eq!(hp.sysfs_read("cpu2/online").as_deref(), Ok("0\n"));
    // Not a warning: the undo itself succeeded.
    assert!(!hp.platform().take().iter().any(|l| l.starts_with("WARN")));
}
