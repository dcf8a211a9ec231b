//! Panicking callbacks: caught where the callback is called, rolled back like an errno (or
//! reported, for a callback that cannot fail), and the machine goes on — on the inline machine
//! and on the simulator, whose callbacks run on other threads.
//!
//! The panics print their messages through the default hook: these tests do not replace it (they
//! run in parallel; a global hook is shared).

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use cpuhp::legacy::{CpuAction, CpuEvent, CpuNotifierBlock, LegacySlots};
use cpuhp::preset::DEMO;
use cpuhp::sim::Machine;
use cpuhp::{
    Callbacks, CpuId, Errno, Error, ErrorKind, Failure, FailureKind, Fault, Hotplug, Inline,
    InstanceId, Online, OnlineMulti, Prepare, PrepareMulti, Slot, Starting, StateId, Topology,
};
use notifier::{NotifierBlock, NotifyResult};

const ONLINE: StateId = StateId(99);
const OFFLINE: StateId = StateId::OFFLINE;
const SLOTS: LegacySlots = LegacySlots {
    prepare: StateId(9),
    starting: StateId(59),
    online: StateId(69),
};

/// The operations the tests use, on either machine.
trait Rig {
    fn name(&self) -> &'static str;
    fn setup(&mut self, name: &'static str, cbs: Callbacks) -> Result<StateId, Error>;
    fn setup_at(
        &mut self,
        slot: Slot,
        name: &'static str,
        cbs: Callbacks,
    ) -> Result<StateId, Error>;
    fn remove(&mut self, state: StateId) -> Result<(), Error>;
    fn add_instance(&mut self, state: StateId, value: u32) -> Result<InstanceId, Error>;
    fn instances(&mut self, state: StateId) -> Vec<InstanceId>;
    fn find_state(&mut self, name: &str) -> Option<StateId>;
    fn up(&mut self, cpu: u32) -> Result<(), Error>;
    fn down(&mut self, cpu: u32) -> Result<(), Error>;
    fn state(&mut self, cpu: u32) -> StateId;
    fn inject(&mut self, fault: Fault);
    fn notifiers(&mut self);
    fn register(&mut self, block: CpuNotifierBlock) -> Result<(), Error>;
    fn register_replay(&mut self, block: CpuNotifierBlock) -> Result<(), Error>;
    fn nr_notifiers(&mut self) -> usize;
    fn freeze(&mut self) -> Result<(), Error>;
    fn thaw(&mut self) -> Result<(), Error>;
    fn write(&mut self, path: &str, value: &str) -> Result<(), Errno>;
    fn read(&mut self, path: &str) -> String;
}

impl Rig for Hotplug<Inline> {
    fn name(&self) -> &'static str {
        "inline"
    }
    fn setup(&mut self, name: &'static str, cbs: Callbacks) -> Result<StateId, Error> {
        self.setup_state(Slot::OnlineDyn, name, cbs)
    }
    fn setup_at(
        &mut self,
        slot: Slot,
        name: &'static str,
        cbs: Callbacks,
    ) -> Result<StateId, Error> {
        self.setup_state(slot, name, cbs)
    }
    fn remove(&mut self, state: StateId) -> Result<(), Error> {
        self.remove_state(state)
    }
    fn add_instance(&mut self, state: StateId, value: u32) -> Result<InstanceId, Error> {
        Hotplug::add_instance(self, state, value)
    }
    fn instances(&mut self, state: StateId) -> Vec<InstanceId> {
        Hotplug::instances(self, state)
    }
    fn find_state(&mut self, name: &str) -> Option<StateId> {
        Hotplug::find_state(self, name)
    }
    fn up(&mut self, cpu: u32) -> Result<(), Error> {
        self.cpu_up(CpuId(cpu), ONLINE)
    }
    fn down(&mut self, cpu: u32) -> Result<(), Error> {
        self.cpu_down(CpuId(cpu), OFFLINE)
    }
    fn state(&mut self, cpu: u32) -> StateId {
        self.cpu_status(CpuId(cpu)).unwrap().state
    }
    fn inject(&mut self, fault: Fault) {
        Hotplug::inject(self, fault);
    }
    fn notifiers(&mut self) {
        self.enable_cpu_notifiers(Some(SLOTS)).unwrap();
    }
    fn register(&mut self, block: CpuNotifierBlock) -> Result<(), Error> {
        self.register_cpu_notifier(block)
    }
    fn register_replay(&mut self, block: CpuNotifierBlock) -> Result<(), Error> {
        self.register_cpu_notifier_replay(block)
    }
    fn freeze(&mut self) -> Result<(), Error> {
        self.freeze_secondary_cpus(None)
    }
    fn thaw(&mut self) -> Result<(), Error> {
        self.thaw_secondary_cpus()
    }
    fn write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        self.sysfs_write(path, value)
    }
    fn read(&mut self, path: &str) -> String {
        self.sysfs_read(path).unwrap()
    }
    fn nr_notifiers(&mut self) -> usize {
        self.cpu_notifiers()
    }
}

impl Rig for Machine {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn setup(&mut self, name: &'static str, cbs: Callbacks) -> Result<StateId, Error> {
        self.setup_state(Slot::OnlineDyn, name, cbs)
    }
    fn setup_at(
        &mut self,
        slot: Slot,
        name: &'static str,
        cbs: Callbacks,
    ) -> Result<StateId, Error> {
        self.setup_state(slot, name, cbs)
    }
    fn remove(&mut self, state: StateId) -> Result<(), Error> {
        self.remove_state(state)
    }
    fn add_instance(&mut self, state: StateId, value: u32) -> Result<InstanceId, Error> {
        Machine::add_instance(self, state, value)
    }
    fn instances(&mut self, state: StateId) -> Vec<InstanceId> {
        self.with(|hp| hp.instances(state)).unwrap()
    }
    fn find_state(&mut self, name: &str) -> Option<StateId> {
        self.with(|hp| hp.find_state(name)).unwrap()
    }
    fn up(&mut self, cpu: u32) -> Result<(), Error> {
        self.cpu_up(CpuId(cpu), ONLINE)
    }
    fn down(&mut self, cpu: u32) -> Result<(), Error> {
        self.cpu_down(CpuId(cpu), OFFLINE)
    }
    fn state(&mut self, cpu: u32) -> StateId {
        self.cpu_status(CpuId(cpu)).unwrap().unwrap().state
    }
    fn inject(&mut self, fault: Fault) {
        Machine::inject(self, fault).unwrap();
    }
    fn notifiers(&mut self) {
        self.enable_cpu_notifiers(Some(SLOTS)).unwrap();
    }
    fn register(&mut self, block: CpuNotifierBlock) -> Result<(), Error> {
        self.register_cpu_notifier(block)
    }
    fn register_replay(&mut self, block: CpuNotifierBlock) -> Result<(), Error> {
        self.register_cpu_notifier_replay(block)
    }
    fn freeze(&mut self) -> Result<(), Error> {
        self.freeze_secondary_cpus(None)
    }
    fn thaw(&mut self) -> Result<(), Error> {
        self.thaw_secondary_cpus()
    }
    fn write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        self.sysfs_write(path, value)
    }
    fn read(&mut self, path: &str) -> String {
        self.sysfs_read(path).unwrap()
    }
    fn nr_notifiers(&mut self) -> usize {
        self.with(|hp| hp.cpu_notifiers()).unwrap()
    }
}

/// Runs `test` on a 4-CPU inline machine and a 4-CPU simulator.
fn on_both(test: impl Fn(&mut dyn Rig, &Log)) {
    let rigs: [Box<dyn Rig>; 2] = [
        Box::new(Hotplug::new(&DEMO, Topology::new(4), Inline).unwrap()),
        Box::new(Machine::new(&DEMO, Topology::new(4)).unwrap()),
    ];
    for mut rig in rigs {
        test(&mut *rig, &Log::default());
    }
}

/// What the callbacks did, in order: `a+1` is the startup of `a` for CPU 1, `a-1` its teardown;
/// `!` marks the call that panicked.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// ONLINE callbacks that log; the startup (`up`) or teardown panics for `cpu` while `armed`.
fn online(log: &Log, name: &'static str, up: bool, cpu: u32, armed: &Arc<AtomicBool>) -> Callbacks {
    let (l1, l2, a1, a2) = (log.clone(), log.clone(), armed.clone(), armed.clone());
    Online::new()
        .startup(move |c: CpuId| {
            if up && c.0 == cpu && a1.load(SeqCst) {
                l1.push(format!("{name}+{c}!"));
                panic!("{name} broke on CPU {c}");
            }
            l1.push(format!("{name}+{c}"));
            Ok(())
        })
        .teardown(move |c: CpuId| {
            if !up && c.0 == cpu && a2.load(SeqCst) {
                l2.push(format!("{name}-{c}!"));
                panic!("{name} broke on CPU {c}");
            }
            l2.push(format!("{name}-{c}"));
            Ok(())
        })
        .into()
}

/// ONLINE callbacks that log and never panic.
fn plain(log: &Log, name: &'static str) -> Callbacks {
    online(log, name, true, u32::MAX, &Arc::new(AtomicBool::new(false)))
}

fn armed() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(true))
}

fn failure(cpu: u32, state: StateId, instance: Option<InstanceId>, bringup: bool) -> Failure {
    Failure {
        cpu: CpuId(cpu),
        state,
        instance,
        bringup,
        errno: Errno::EIO,
        kind: FailureKind::Panic,
    }
}

/// The machine goes on: CPU 2 goes down and up, CPU 1 (wherever it is) up.
fn keeps_working(rig: &mut dyn Rig) {
    rig.down(2).unwrap();
    rig.up(2).unwrap();
    assert_eq!(rig.state(2), ONLINE, "{}", rig.name());
}

// ----- callbacks that can fail -------------------------------------------------------------------

#[test]
fn a_panicking_online_startup_is_rolled_back_like_an_errno() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        let a = rig.setup("a", plain(log, "a")).unwrap();
        let b = rig.setup("b", online(log, "b", true, 1, &armed())).unwrap();
        rig.setup("c", plain(log, "c")).unwrap();
        log.take();

        let e = rig.up(1).unwrap_err();
        assert_eq!((e.kind(), e.errno()), (ErrorKind::Panicked, Errno::EIO));
        assert_eq!(e.panic_message(), Some("b broke on CPU 1"));
        assert_eq!(e.failure(), Some(failure(1, b, None, true)));
        assert_eq!(e.rollback_failure(), None);
        // b gets nothing; a is undone; the CPU is back where it began.
        assert_eq!(log.take(), ["a+1", "b+1!", "a-1"], "{}", rig.name());
        assert_eq!(rig.state(1), OFFLINE);
        assert_eq!(a, StateId(70));
        keeps_working(rig);
    });
}

#[test]
fn the_trace_says_the_panicking_callback_failed() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    let log = Log::default();
    let b = m
        .setup_state(Slot::OnlineDyn, "b", online(&log, "b", true, 1, &armed()))
        .unwrap();
    m.set_tracer(move |ev| sink.lock().unwrap().push(ev.to_string()))
        .unwrap();
    m.cpu_up(CpuId(1), ONLINE).unwrap_err();
    let lines = lines.lock().unwrap();
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| x == l)
            .unwrap_or_else(|| panic!("no {l:?} in {lines:#?}"))
    };
    let enter = at(&format!(
        "cpuhp_enter: cpu: 0001 target: 99 step: {b} (b:startup)"
    ));
    let panic = at(&format!(
        "panic: cpu: 0001 step: {b} startup: b broke on CPU 1"
    ));
    let exit = at(&format!(
        "cpuhp_exit: cpu: 0001 state: {b} step: {b} ret: -5"
    ));
    assert!(enter < panic && panic < exit);
}

#[test]
fn a_panicking_teardown_keeps_the_cpu_up() {
    on_both(|rig, log| {
        rig.setup("a", plain(log, "a")).unwrap();
        let b = rig
            .setup("b", online(log, "b", false, 1, &armed()))
            .unwrap();
        rig.setup("c", plain(log, "c")).unwrap();
        log.take();

        let e = rig.down(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic_message(), Some("b broke on CPU 1"));
        assert_eq!(e.failure(), Some(failure(1, b, None, false)));
        // The states above b run their startups again; b and below are untouched.
        assert_eq!(log.take(), ["c-1", "b-1!", "c+1"], "{}", rig.name());
        assert_eq!(rig.state(1), ONLINE);
        keeps_working(rig);
    });
}

#[test]
fn a_panicking_prepare_startup_is_rolled_back() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        let l = log.clone();
        let q = Prepare::new()
            .startup(move |c: CpuId| {
                l.push(format!("q+{c}"));
                Ok(())
            })
            .teardown({
                let l = log.clone();
                move |c: CpuId| l.push(format!("q-{c}"))
            });
        rig.setup_at(Slot::Fixed(StateId(5)), "q", q.into())
            .unwrap();
        let l = log.clone();
        let p = Prepare::new().startup(move |c: CpuId| {
            if c.0 == 1 {
                l.push(format!("p+{c}!"));
                panic!("no memory for CPU {c}");
            }
            Ok(())
        });
        let p = rig.setup_at(Slot::PrepareDyn, "p", p.into()).unwrap();
        rig.setup("a", plain(log, "a")).unwrap();
        log.take();

        let e = rig.up(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic_message(), Some("no memory for CPU 1"));
        assert_eq!(e.failure(), Some(failure(1, p, None, true)));
        assert_eq!(log.take(), ["q+1", "p+1!", "q-1"], "{}", rig.name());
        assert_eq!(rig.state(1), OFFLINE);
        keeps_working(rig);
    });
}

// ----- callbacks that cannot fail ----------------------------------------------------------------

/// STARTING callbacks for state 40 that log; the startup (`up`) or teardown panics for CPU 1.
fn starting(log: &Log, up: bool) -> Callbacks {
    let (l1, l2) = (log.clone(), log.clone());
    Starting::new()
        .startup(move |c: CpuId| {
            if up && c.0 == 1 {
                l1.push(format!("s+{c}!"));
                panic!("s broke on CPU {c}");
            }
            l1.push(format!("s+{c}"));
        })
        .teardown(move |c: CpuId| {
            if !up && c.0 == 1 {
                l2.push(format!("s-{c}!"));
                panic!("s broke on CPU {c}");
            }
            l2.push(format!("s-{c}"));
        })
        .into()
}

#[test]
fn a_panicking_starting_startup_is_reported_and_the_cpu_comes_up() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        let s = rig
            .setup_at(Slot::Fixed(StateId(40)), "s", starting(log, true))
            .unwrap();
        rig.setup("a", plain(log, "a")).unwrap();
        log.take();

        let e = rig.up(1).unwrap_err();
        assert_eq!((e.kind(), e.errno()), (ErrorKind::Panicked, Errno::EIO));
        assert_eq!((e.failure(), e.panic_message()), (None, None));
        assert_eq!(e.rollback_failure(), Some(failure(1, s, None, true)));
        assert_eq!(e.rollback_panic_message(), Some("s broke on CPU 1"));
        // It cannot fail: the walk went on as if it had returned.
        assert_eq!(log.take(), ["s+1!", "a+1"], "{}", rig.name());
        assert_eq!(rig.state(1), ONLINE);
        keeps_working(rig);
    });
}

#[test]
fn a_panicking_dying_teardown_is_reported_and_the_cpu_goes_down() {
    on_both(|rig, log| {
        let s = rig
            .setup_at(Slot::Fixed(StateId(40)), "s", starting(log, false))
            .unwrap();
        rig.setup("a", plain(log, "a")).unwrap();
        log.take();

        let e = rig.down(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.failure(), None);
        assert_eq!(e.rollback_failure(), Some(failure(1, s, None, false)));
        assert_eq!(e.rollback_panic_message(), Some("s broke on CPU 1"));
        assert_eq!(log.take(), ["a-1", "s-1!"], "{}", rig.name());
        assert_eq!(rig.state(1), OFFLINE);
        rig.up(1).unwrap();
        assert_eq!(log.take(), ["s+1", "a+1"]);
        keeps_working(rig);
    });
}

#[test]
fn a_panicking_prepare_teardown_is_reported_and_the_cpu_goes_down() {
    on_both(|rig, log| {
        let l = log.clone();
        let p = Prepare::new().teardown(move |c: CpuId| {
            if c.0 == 1 {
                l.push(format!("p-{c}!"));
                panic!("p broke on CPU {c}");
            }
        });
        let p = rig.setup_at(Slot::PrepareDyn, "p", p.into()).unwrap();
        rig.setup("a", plain(log, "a")).unwrap();
        log.take();

        let e = rig.down(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.failure(), None);
        assert_eq!(e.rollback_failure(), Some(failure(1, p, None, false)));
        assert_eq!(e.rollback_panic_message(), Some("p broke on CPU 1"));
        assert_eq!(log.take(), ["a-1", "p-1!"], "{}", rig.name());
        assert_eq!(rig.state(1), OFFLINE);
        keeps_working(rig);
    });
}

#[test]
fn a_panic_while_rolling_back_is_a_reported_rollback_failure() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        let a = rig
            .setup("a", online(log, "a", false, 1, &armed()))
            .unwrap();
        let b = rig.setup("b", plain(log, "b")).unwrap();
        rig.inject(Fault::startup(b, Errno::ENOMEM).times(1));
        log.take();

        let e = rig.up(1).unwrap_err();
        // The failure is b's errno; undoing a panicked: no second reversal, reported.
        assert_eq!((e.kind(), e.errno()), (ErrorKind::Callback, Errno::ENOMEM));
        assert_eq!(e.panic_message(), None);
        assert_eq!(e.rollback_failure(), Some(failure(1, a, None, false)));
        assert_eq!(e.rollback_panic_message(), Some("a broke on CPU 1"));
        assert_eq!(log.take(), ["a+1", "a-1!"], "{}", rig.name());
        keeps_working(rig);
    });
}

// ----- multi-instance states and installing ------------------------------------------------------

#[test]
fn a_panicking_instance_is_a_failing_instance() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        let (l1, l2) = (log.clone(), log.clone());
        let m = OnlineMulti::<u32>::new()
            .startup(move |c: CpuId, i: &u32| {
                if c.0 == 1 && *i == 2 {
                    l1.push(format!("m{i}+{c}!"));
                    panic!("instance {i} broke");
                }
                l1.push(format!("m{i}+{c}"));
                Ok(())
            })
            .teardown(move |c: CpuId, i: &u32| {
                l2.push(format!("m{i}-{c}"));
                Ok(())
            });
        let m = rig.setup("m", m.into()).unwrap();
        let ids: Vec<InstanceId> = (1..=3).map(|v| rig.add_instance(m, v).unwrap()).collect();
        log.take();

        let e = rig.up(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic_message(), Some("instance 2 broke"));
        assert_eq!(e.failure(), Some(failure(1, m, Some(ids[1]), true)));
        // Newest first: 3 ran, 2 panicked; only 3 is undone, 1 never ran.
        assert_eq!(log.take(), ["m3+1", "m2+1!", "m3-1"], "{}", rig.name());
        assert_eq!(rig.state(1), OFFLINE);
        keeps_working(rig);
    });
}

#[test]
fn a_panicking_instance_on_the_control_side_is_a_failing_instance() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        let (l1, l2) = (log.clone(), log.clone());
        let m = PrepareMulti::<u32>::new()
            .startup(move |c: CpuId, i: &u32| {
                if c.0 == 1 && *i == 2 {
                    l1.push(format!("m{i}+{c}!"));
                    panic!("instance {i} broke");
                }
                l1.push(format!("m{i}+{c}"));
                Ok(())
            })
            .teardown(move |c: CpuId, i: &u32| l2.push(format!("m{i}-{c}")));
        let m = rig.setup_at(Slot::PrepareDyn, "m", m.into()).unwrap();
        let ids: Vec<InstanceId> = (1..=3).map(|v| rig.add_instance(m, v).unwrap()).collect();
        log.take();

        let e = rig.up(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic_message(), Some("instance 2 broke"));
        assert_eq!(e.failure(), Some(failure(1, m, Some(ids[1]), true)));
        assert_eq!(log.take(), ["m3+1", "m2+1!", "m3-1"], "{}", rig.name());
        assert_eq!(rig.state(1), OFFLINE);
        keeps_working(rig);
    });
}

#[test]
fn a_startup_panicking_during_setup_state_is_undone_on_the_cpus_before() {
    on_both(|rig, log| {
        let e = rig
            .setup("x", online(log, "x", true, 2, &armed()))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic_message(), Some("x broke on CPU 2"));
        assert_eq!(e.failure(), Some(failure(2, StateId(70), None, true)));
        assert_eq!(
            log.take(),
            ["x+0", "x+1", "x+2!", "x-0", "x-1"],
            "{}",
            rig.name()
        );
        assert_eq!(rig.find_state("x"), None, "uninstalled");
        keeps_working(rig);
    });
}

#[test]
fn a_startup_panicking_during_add_instance_is_undone_on_the_cpus_before() {
    on_both(|rig, log| {
        let (l1, l2) = (log.clone(), log.clone());
        let m = OnlineMulti::<u32>::new()
            .startup(move |c: CpuId, i: &u32| {
                if c.0 == 2 {
                    l1.push(format!("m{i}+{c}!"));
                    panic!("instance {i} broke on CPU {c}");
                }
                l1.push(format!("m{i}+{c}"));
                Ok(())
            })
            .teardown(move |c: CpuId, i: &u32| {
                l2.push(format!("m{i}-{c}"));
                Ok(())
            });
        let m = rig.setup("m", m.into()).unwrap();
        let e = rig.add_instance(m, 7).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic_message(), Some("instance 7 broke on CPU 2"));
        assert_eq!(e.failure().map(|f| (f.cpu, f.state)), Some((CpuId(2), m)));
        assert_eq!(
            log.take(),
            ["m7+0", "m7+1", "m7+2!", "m7-0", "m7-1"],
            "{}",
            rig.name()
        );
        assert!(rig.instances(m).is_empty(), "not linked");
        keeps_working(rig);
    });
}

// ----- legacy CPU notifiers ----------------------------------------------------------------------

/// Registers notifiers `A`, `B`, `C` (called in that order); `B` panics on `panics_on`.
fn notifiers(rig: &mut dyn Rig, log: &Log, panics_on: CpuEvent) {
    rig.notifiers();
    for (name, prio) in [("A", 30), ("B", 20), ("C", 10)] {
        let l = log.clone();
        let block = Arc::new(NotifierBlock::new(
            move |a: CpuAction, c: &CpuId| {
                if c.0 != 1 {
                    return NotifyResult::OK;
                }
                if name == "B" && a.event == panics_on {
                    l.push(format!("{name} {a}!"));
                    panic!("{name} broke on {a}");
                }
                l.push(format!("{name} {a}"));
                NotifyResult::OK
            },
            prio,
        ));
        rig.register(block.into()).unwrap();
    }
}

#[test]
fn a_notifier_panicking_on_up_prepare_vetoes_at_its_position() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        notifiers(rig, log, CpuEvent::UpPrepare);
        log.take();

        let e = rig.up(1).unwrap_err();
        assert_eq!((e.kind(), e.errno()), (ErrorKind::Panicked, Errno::EIO));
        assert_eq!(e.panic_message(), Some("B broke on CPU_UP_PREPARE"));
        assert_eq!(e.failure(), Some(failure(1, SLOTS.prepare, None, true)));
        // The cancel goes to exactly the notifiers before it.
        assert_eq!(
            log.take(),
            ["A CPU_UP_PREPARE", "B CPU_UP_PREPARE!", "A CPU_UP_CANCELED"],
            "{}",
            rig.name()
        );
        assert_eq!(rig.state(1), OFFLINE);
        keeps_working(rig);
    });
}

#[test]
fn a_notifier_panicking_on_down_prepare_vetoes_at_its_position() {
    on_both(|rig, log| {
        notifiers(rig, log, CpuEvent::DownPrepare);
        let e = rig.down(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic_message(), Some("B broke on CPU_DOWN_PREPARE"));
        assert_eq!(e.failure(), Some(failure(1, SLOTS.online, None, false)));
        assert_eq!(
            log.take(),
            [
                "A CPU_DOWN_PREPARE",
                "B CPU_DOWN_PREPARE!",
                "A CPU_DOWN_FAILED"
            ],
            "{}",
            rig.name()
        );
        assert_eq!(rig.state(1), ONLINE);
        keeps_working(rig);
    });
}

#[test]
fn a_notifier_panicking_on_cpu_starting_does_not_stop_the_chain() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        notifiers(rig, log, CpuEvent::Starting);
        log.take();

        let e = rig.up(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.failure(), None);
        assert_eq!(
            e.rollback_failure(),
            Some(failure(1, SLOTS.starting, None, true))
        );
        assert_eq!(e.rollback_panic_message(), Some("B broke on CPU_STARTING"));
        assert_eq!(
            log.take(),
            [
                "A CPU_UP_PREPARE",
                "B CPU_UP_PREPARE",
                "C CPU_UP_PREPARE",
                "A CPU_STARTING",
                "B CPU_STARTING!",
                "C CPU_STARTING",
                "A CPU_ONLINE",
                "B CPU_ONLINE",
                "C CPU_ONLINE",
            ],
            "{}",
            rig.name()
        );
        assert_eq!(rig.state(1), ONLINE);
        keeps_working(rig);
    });
}

#[test]
fn a_cpu_that_went_down_despite_a_dying_panic_hears_cpu_post_dead() {
    on_both(|rig, log| {
        notifiers(rig, log, CpuEvent::Dying);
        let e = rig.down(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(
            e.rollback_failure(),
            Some(failure(1, SLOTS.starting, None, false))
        );
        assert_eq!(e.rollback_panic_message(), Some("B broke on CPU_DYING"));
        let heard = log.take();
        let expected: Vec<String> = ["CPU_DOWN_PREPARE", "CPU_DYING", "CPU_DEAD", "CPU_POST_DEAD"]
            .iter()
            .flat_map(|ev| {
                ["A", "B", "C"].map(|n| {
                    let bang = if n == "B" && *ev == "CPU_DYING" {
                        "!"
                    } else {
                        ""
                    };
                    format!("{n} {ev}{bang}")
                })
            })
            .collect();
        assert_eq!(heard, expected, "{}", rig.name());
        assert_eq!(rig.state(1), OFFLINE);
        keeps_working(rig);
    });
}

// ----- suspend and sysfs around a reported panic -------------------------------------------------

#[test]
fn a_freeze_stopped_by_a_dying_panic_is_thawed_completely() {
    on_both(|rig, log| {
        rig.setup_at(Slot::Fixed(StateId(40)), "s", starting(log, false))
            .unwrap();
        log.take();
        // CPU 1 goes down (its DYING teardown panics); the freeze stops there.
        let e = rig.freeze().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(rig.state(1), OFFLINE);
        assert_eq!(rig.state(2), ONLINE);
        rig.thaw().unwrap();
        assert_eq!(log.take(), ["s-1!", "s+1"], "{}", rig.name());
        assert_eq!(rig.read("online"), "0-3\n");
        keeps_working(rig);
    });
}

#[test]
fn sysfs_online_follows_a_cpu_that_went_down_despite_a_panic() {
    on_both(|rig, log| {
        rig.setup_at(Slot::Fixed(StateId(40)), "s", starting(log, false))
            .unwrap();
        assert_eq!(rig.write("cpu1/online", "0"), Err(Errno::EIO));
        assert_eq!(rig.read("cpu1/online"), "0\n", "{}", rig.name());
        rig.write("cpu1/online", "1").unwrap();
        assert_eq!(rig.read("cpu1/online"), "1\n");
        assert_eq!(rig.read("online"), "0-3\n");
    });
}

#[test]
fn a_notifier_panicking_on_its_replay_is_not_registered() {
    on_both(|rig, log| {
        rig.notifiers();
        let l = log.clone();
        let block = Arc::new(NotifierBlock::new(
            move |a: CpuAction, c: &CpuId| {
                if a.event == CpuEvent::UpPrepare && c.0 == 1 {
                    l.push(format!("{a} {c}!"));
                    panic!("replay broke on CPU {c}");
                }
                l.push(format!("{a} {c}"));
                NotifyResult::OK
            },
            0,
        ));
        let e = rig.register_replay(block.into()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic_message(), Some("replay broke on CPU 1"));
        assert_eq!(e.failure(), Some(failure(1, SLOTS.prepare, None, true)));
        assert_eq!(
            log.take(),
            [
                "CPU_UP_PREPARE 0",
                "CPU_ONLINE 0",
                "CPU_UP_PREPARE 1!",
                "CPU_DOWN_PREPARE 0",
                "CPU_DEAD 0"
            ],
            "{}",
            rig.name()
        );
        assert_eq!(rig.nr_notifiers(), 0);
        keeps_working(rig);
    });
}

// ----- the machine keeps working -----------------------------------------------------------------

#[test]
fn a_hundred_operations_after_a_panic_all_succeed() {
    on_both(|rig, log| {
        rig.down(1).unwrap();
        let once = armed();
        rig.setup("a", plain(log, "a")).unwrap();
        let b = rig.setup("b", online(log, "b", true, 1, &once)).unwrap();
        assert_eq!(rig.up(1).unwrap_err().kind(), ErrorKind::Panicked);
        once.store(false, SeqCst);
        log.take();
        for i in 0..100u32 {
            let cpu = 1 + i % 3;
            let r = if i % 6 < 3 {
                rig.down(cpu)
            } else {
                rig.up(cpu)
            };
            r.unwrap_or_else(|e| panic!("{}: operation {i}: {e}", rig.name()));
        }
        // 16 rounds of down 1, 2, 3, up 1, 2, 3; then down 1, 2, 3 and up 1.
        assert_eq!(rig.state(1), ONLINE);
        for cpu in 2..=3 {
            assert_eq!(rig.state(cpu), OFFLINE);
            rig.up(cpu).unwrap();
        }
        rig.remove(b).unwrap();
        assert_eq!(log.take().last().map(String::as_str), Some("b-3"));
    });
}

#[test]
fn a_panicking_tracer_or_with_closure_does_not_poison_the_simulator() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    m.set_tracer(|_| panic!("tracer broke")).unwrap();
    // Every event's tracer call panics; the walk goes on regardless.
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    m.cpu_up(CpuId(1), ONLINE).unwrap();
    m.clear_tracer().unwrap();
    // The closure's own panic reaches the caller, after the machine was released.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.with(|_| panic!("closure broke")).unwrap();
    }));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"closure broke"));
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
}
