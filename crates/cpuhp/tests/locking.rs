//! The simulator's hotplug lock: readers keep the online CPUs stable, writers wait for them,
//! `CPU_POST_DEAD` runs after the write side is released, hotplug can be disabled — and every
//! call that would wait for itself fails with `EDEADLK` instead of hanging.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cpuhp::legacy::{CpuAction, CpuEvent};
use cpuhp::preset::DEMO;
use cpuhp::sim::{self, Machine};
use cpuhp::{
    CpuId, Errno, ErrorKind, Online, Slot, Starting, StateId, Topology, TraceEvent, Warning,
};
use notifier::{NotifierBlock, NotifyResult};

const ONLINE: StateId = StateId(99);
const OFFLINE: StateId = StateId::OFFLINE;

type Results = Arc<Mutex<Vec<(String, Result<(), ErrorKind>)>>>;

fn machine(cpus: u32) -> Arc<Machine> {
    Arc::new(Machine::new(&DEMO, Topology::new(cpus)).unwrap())
}

/// Waits for another thread to reach a point that `cond` observes. The bound only turns a bug
/// (the point is never reached) into a failure instead of a hang; no assertion relies on time.
fn wait_until(cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "never reached");
        std::thread::yield_now();
    }
}

fn record(results: &Results, what: impl Into<String>, r: Result<(), ErrorKind>) {
    results.lock().unwrap().push((what.into(), r));
}

fn kind<T>(r: Result<T, cpuhp::Error>) -> Result<(), ErrorKind> {
    r.map(|_| ()).map_err(|e| e.kind())
}

/// A legacy notifier that, on `event`, runs `probe` against the machine.
fn probing_notifier(
    m: &Arc<Machine>,
    event: CpuEvent,
    probe: impl Fn(&Machine, CpuId) + Send + Sync + 'static,
) -> Arc<NotifierBlock<impl Fn(CpuAction, &CpuId) -> NotifyResult + Send + Sync + 'static>> {
    let weak: Weak<Machine> = Arc::downgrade(m);
    Arc::new(NotifierBlock::new(
        move |a: CpuAction, cpu: &CpuId| {
            if a.event == event {
                probe(&weak.upgrade().unwrap(), *cpu);
            }
            NotifyResult::OK
        },
        0,
    ))
}

#[test]
fn post_dead_runs_after_the_write_side_is_released() {
    let m = machine(2);
    m.enable_cpu_notifiers(None).unwrap();
    let results = Results::default();
    let r = results.clone();
    m.register_cpu_notifier(probing_notifier(&m, CpuEvent::Dead, move |m, _| {
        // CPU_DEAD: the operation holds the write side.
        record(&r, "read in DEAD", kind(m.cpus_read_lock()));
    }))
    .unwrap();
    let r = results.clone();
    m.register_cpu_notifier(probing_notifier(&m, CpuEvent::PostDead, move |m, cpu| {
        // CPU_POST_DEAD: the write side is released; the read side is free to take — the
        // reason the event exists.
        record(&r, "read in POST_DEAD", kind(m.cpus_read_lock()));
        // A new hotplug operation would still wait for this one (Linux holds
        // cpu_add_remove_lock around POST_DEAD).
        record(&r, "cpu_up in POST_DEAD", kind(m.cpu_up(cpu, ONLINE)));
    }))
    .unwrap();
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(
        *results.lock().unwrap(),
        [
            ("read in DEAD".into(), Err(ErrorKind::WouldDeadlock)),
            ("read in POST_DEAD".into(), Ok(())),
            ("cpu_up in POST_DEAD".into(), Err(ErrorKind::WouldDeadlock)),
        ]
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
    m.cpu_up(CpuId(1), ONLINE).unwrap();
}

#[test]
fn a_reader_keeps_the_online_cpus_stable_and_writers_wait_for_it() {
    let m = machine(2);
    let guard = m.cpus_read_lock().unwrap();
    // Nested read sides are fine.
    let nested = m.cpus_read_lock().unwrap();
    let (tx, rx) = mpsc::channel();
    let writer = {
        let m = m.clone();
        std::thread::spawn(move || {
            let r = m.cpu_down(CpuId(1), OFFLINE);
            tx.send(r.map_err(|e| e.kind())).unwrap();
        })
    };
    // The writer queues for the write side and cannot finish while the read side is held.
    wait_until(|| m.lock_waiters().hotplug_write == 1);
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
    drop(nested);
    // One guard left: still held, the writer still queued.
    assert_eq!(m.lock_waiters().hotplug_write, 1);
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    drop(guard);
    assert_eq!(rx.recv().unwrap(), Ok(()));
    writer.join().unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
}

#[test]
fn hotplug_while_holding_the_read_side_is_refused() {
    let m = machine(2);
    let guard = m.cpus_read_lock().unwrap();
    for r in [
        m.cpu_down(CpuId(1), OFFLINE),
        m.cpu_up(CpuId(1), ONLINE),
        m.freeze_secondary_cpus(None),
        m.with(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::WouldDeadlock);
    }
    // Installing a state only needs the read side: allowed.
    let s = m
        .setup_state(Slot::OnlineDyn, "under read", Online::new())
        .unwrap();
    m.remove_state(s).unwrap();
    drop(guard);
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
}

#[test]
fn calls_from_callbacks_that_would_deadlock_are_refused() {
    let m = machine(2);
    let results = Results::default();
    let weak = Arc::downgrade(&m);

    // STARTING/DYING: interrupts off, nothing may sleep.
    let (r, w) = (results.clone(), weak.clone());
    let starting = m
        .setup_state(
            Slot::Fixed(StateId(40)),
            "atomic",
            Starting::new().startup(move |_| {
                let m = w.upgrade().unwrap();
                record(&r, "read in STARTING", kind(m.cpus_read_lock()));
                let sleep = sim::might_sleep().map_err(|_| ErrorKind::WouldDeadlock);
                record(&r, "might_sleep in STARTING", sleep);
            }),
        )
        .unwrap();
    // ONLINE, during cpu_up (write side held) and during setup_state (read side held).
    let (r, w) = (results.clone(), weak.clone());
    let during = Arc::new(Mutex::new("setup"));
    let d = during.clone();
    let online = m
        .setup_state(
            Slot::OnlineDyn,
            "thread",
            Online::new().startup(move |cpu| {
                let m = w.upgrade().unwrap();
                let what = *d.lock().unwrap();
                if cpu == CpuId(1) {
                    record(
                        &r,
                        format!("read in ONLINE ({what})"),
                        kind(m.cpus_read_lock()),
                    );
                    record(
                        &r,
                        format!("cpu_down in ONLINE ({what})"),
                        kind(m.cpu_down(CpuId(0), OFFLINE)),
                    );
                    record(
                        &r,
                        format!("setup_state in ONLINE ({what})"),
                        kind(m.setup_state(Slot::OnlineDyn, "x", Online::new())),
                    );
                    record(
                        &r,
                        format!("sysfs in ONLINE ({what})"),
                        m.sysfs_read("online")
                            .map(|_| ())
                            .map_err(|_| ErrorKind::WouldDeadlock),
                    );
                }
                Ok(())
            }),
        )
        .unwrap();
    *during.lock().unwrap() = "cpu_up";
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    m.cpu_up(CpuId(1), ONLINE).unwrap();
    let wd = Err(ErrorKind::WouldDeadlock);
    assert_eq!(
        *results.lock().unwrap(),
        [
            // setup_state of "atomic" ran its startup on CPUs 0 and 1.
            ("read in STARTING".to_string(), wd),
            ("might_sleep in STARTING".to_string(), wd),
            ("read in STARTING".to_string(), wd),
            ("might_sleep in STARTING".to_string(), wd),
            // setup_state of "thread", on CPU 1: the installer lends its read side.
            ("read in ONLINE (setup)".to_string(), Ok(())),
            ("cpu_down in ONLINE (setup)".to_string(), wd),
            ("setup_state in ONLINE (setup)".to_string(), wd),
            ("sysfs in ONLINE (setup)".to_string(), wd),
            // cpu_up of CPU 1.
            ("read in STARTING".to_string(), wd),
            ("might_sleep in STARTING".to_string(), wd),
            ("read in ONLINE (cpu_up)".to_string(), wd),
            ("cpu_down in ONLINE (cpu_up)".to_string(), wd),
            ("setup_state in ONLINE (cpu_up)".to_string(), wd),
            ("sysfs in ONLINE (cpu_up)".to_string(), wd),
        ]
    );
    // Nothing was left half-done.
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
    m.remove_state(online).unwrap();
    m.remove_state(starting).unwrap();
}

#[test]
fn a_notifier_registering_from_inside_the_chain_is_refused() {
    let m = machine(2);
    m.enable_cpu_notifiers(None).unwrap();
    let failed = Arc::new(AtomicBool::new(false));
    let f = failed.clone();
    let inner = probing_notifier(&m, CpuEvent::Online, |_, _| {});
    m.register_cpu_notifier(probing_notifier(&m, CpuEvent::DownPrepare, move |m, _| {
        let r = m.register_cpu_notifier(inner.clone());
        f.store(r.unwrap_err().kind() == ErrorKind::WouldDeadlock, SeqCst);
    }))
    .unwrap();
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert!(failed.load(SeqCst));
    assert_eq!(m.with(|hp| hp.cpu_notifiers()).unwrap(), 1);
}

#[test]
fn hotplug_disable_is_a_counter_and_an_unbalanced_enable_is_reported() {
    let m = machine(2);
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let w = warnings.clone();
    m.set_tracer(move |e| {
        if let TraceEvent::Warning { warning, .. } = e {
            w.lock().unwrap().push(*warning);
        }
    })
    .unwrap();
    m.cpu_hotplug_disable().unwrap();
    m.cpu_hotplug_disable().unwrap();
    let e = m.cpu_down(CpuId(1), OFFLINE).unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Disabled, Errno::EBUSY));
    assert_eq!(m.sysfs_write("cpu1/online", "0"), Err(Errno::EBUSY));
    m.cpu_hotplug_enable().unwrap();
    assert_eq!(
        m.cpu_up(CpuId(1), ONLINE).unwrap_err().kind(),
        ErrorKind::Disabled,
        "one disable is left"
    );
    m.cpu_hotplug_enable().unwrap();
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    let e = m.cpu_hotplug_enable().unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::Unbalanced, Errno::EINVAL)
    );
    assert_eq!(*warnings.lock().unwrap(), [Warning::UnbalancedEnable]);
    // Still enabled, the counter did not go negative: one disable disables.
    m.cpu_hotplug_disable().unwrap();
    assert_eq!(
        m.cpu_up(CpuId(1), ONLINE).unwrap_err().kind(),
        ErrorKind::Disabled
    );
}

/// A writer arriving while CPU_POST_DEAD runs cannot be waiting on the hotplug lock (it waits
/// for the add/remove lock first), so a POST_DEAD notifier taking the read side never hangs.
#[test]
fn post_dead_reading_while_another_writer_arrives_does_not_hang() {
    let m = machine(3);
    m.enable_cpu_notifiers(None).unwrap();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let results = Results::default();
    let r = results.clone();
    m.register_cpu_notifier(probing_notifier(&m, CpuEvent::PostDead, move |m, cpu| {
        if cpu != CpuId(1) {
            return;
        }
        // Let the other thread start its hotplug operation and wait until it is queued: it
        // waits for the add/remove lock (held across POST_DEAD), not for the hotplug lock.
        entered_tx.lock().unwrap().send(()).unwrap();
        wait_until(|| m.lock_waiters().add_remove == 1);
        assert_eq!(m.lock_waiters().hotplug_write, 0);
        record(&r, "read in POST_DEAD", kind(m.cpus_read_lock()));
    }))
    .unwrap();
    let other = {
        let m = m.clone();
        std::thread::spawn(move || {
            entered_rx.recv().unwrap();
            m.cpu_down(CpuId(2), OFFLINE).map_err(|e| e.kind())
        })
    };
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(other.join().unwrap(), Ok(()));
    assert_eq!(
        *results.lock().unwrap(),
        [("read in POST_DEAD".to_string(), Ok(()))]
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
}

/// Nested read sides may be released in any order: the lock is held until the last goes.
#[test]
fn nested_read_guards_release_in_any_order() {
    let m = machine(2);
    let outer = m.cpus_read_lock().unwrap();
    let inner = m.cpus_read_lock().unwrap();
    drop(outer);
    let (tx, rx) = mpsc::channel();
    let writer = {
        let m = m.clone();
        std::thread::spawn(move || {
            tx.send(m.cpu_down(CpuId(1), OFFLINE).map_err(|e| e.kind()))
                .unwrap();
        })
    };
    // Still held by `inner`: the writer waits, the online CPUs stay as they are.
    wait_until(|| m.lock_waiters().hotplug_write == 1);
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
    assert_eq!(
        m.cpu_up(CpuId(1), ONLINE).unwrap_err().kind(),
        ErrorKind::WouldDeadlock,
        "this thread still holds the read side"
    );
    drop(inner);
    assert_eq!(rx.recv().unwrap(), Ok(()));
    writer.join().unwrap();
    // Released for good: this thread may write now.
    m.cpu_up(CpuId(1), ONLINE).unwrap();
}

/// cpu_hotplug_disable and enable serialise with hotplug operations (Linux's
/// `cpu_maps_update_begin`): from a thread holding the read side they would wait for a writer
/// that waits for this thread.
#[test]
fn disabling_hotplug_while_holding_the_read_side_is_refused() {
    let m = machine(2);
    let guard = m.cpus_read_lock().unwrap();
    assert_eq!(
        m.cpu_hotplug_disable().unwrap_err().kind(),
        ErrorKind::WouldDeadlock
    );
    drop(guard);
    m.cpu_hotplug_disable().unwrap();
    m.cpu_hotplug_enable().unwrap();
}
