//! The legacy CPU-notifier API: the seed's rule, the events of every path, registration and its
//! replay, and the relative order of notifiers and cpuhp states across up, down and rollback.

use std::sync::{Arc, Mutex};

use cpuhp::legacy::{CpuAction, CpuEvent, CpuNotifier, LegacySlots, Typed};
use cpuhp::preset::DEMO;
use cpuhp::sim::Machine;
use cpuhp::{
    CpuId, Errno, ErrorKind, Fault, Hotplug, Inline, Online, Prepare, Slot, Starting, StateId,
    Topology,
};
use notifier::{NotifierBlock, NotifyResult, Verdict};

const ONLINE: StateId = StateId(99);
const OFFLINE: StateId = StateId::OFFLINE;

type Log = Arc<Mutex<Vec<String>>>;

fn new_log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// A raw notifier named `name` that logs "`name` EVENT cpu" and answers `answer(event, cpu)`.
fn raw_notifier(
    log: &Log,
    name: &'static str,
    priority: i32,
    answer: impl Fn(CpuAction, CpuId) -> NotifyResult + Send + Sync + 'static,
) -> Arc<NotifierBlock<impl Fn(CpuAction, &CpuId) -> NotifyResult + Send + Sync + 'static>> {
    let log = log.clone();
    Arc::new(NotifierBlock::new(
        move |action: CpuAction, cpu: &CpuId| {
            log.lock().unwrap().push(format!("{name} {action} {cpu}"));
            answer(action, *cpu)
        },
        priority,
    ))
}

/// A notifier that says OK to everything.
fn ok_notifier(
    log: &Log,
    name: &'static str,
    priority: i32,
) -> Arc<NotifierBlock<impl Fn(CpuAction, &CpuId) -> NotifyResult + Send + Sync + 'static>> {
    raw_notifier(log, name, priority, |_, _| NotifyResult::OK)
}

/// A notifier that vetoes `event` with `errno`.
fn vetoing(
    log: &Log,
    name: &'static str,
    priority: i32,
    event: CpuEvent,
    errno: Errno,
) -> Arc<NotifierBlock<impl Fn(CpuAction, &CpuId) -> NotifyResult + Send + Sync + 'static>> {
    raw_notifier(log, name, priority, move |a, _| {
        if a.event == event {
            NotifyResult::from_error(errno)
        } else {
            NotifyResult::OK
        }
    })
}

fn inline(cpus: u32) -> Hotplug<Inline> {
    let mut hp = Hotplug::new(&DEMO, Topology::new(cpus), Inline).unwrap();
    hp.enable_cpu_notifiers(None).unwrap();
    hp
}

fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| s.to_string()).collect()
}

// ----- the seed --------------------------------------------------------------------------------

/// The seed's own scenario: four callbacks, the third vetoes CPU_UP_PREPARE.
#[test]
fn a_vetoed_up_prepare_is_canceled_to_exactly_the_callbacks_that_said_ok() {
    let mut hp = inline(2);
    let log = new_log();
    hp.register_cpu_notifier(ok_notifier(&log, "a", 40))
        .unwrap();
    hp.register_cpu_notifier(ok_notifier(&log, "b", 30))
        .unwrap();
    hp.register_cpu_notifier(vetoing(&log, "c", 20, CpuEvent::UpPrepare, Errno::ENOMEM))
        .unwrap();
    hp.register_cpu_notifier(ok_notifier(&log, "d", 10))
        .unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    take(&log);

    let e = hp.cpu_up(CpuId(1), ONLINE).unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Callback, Errno::ENOMEM));
    let notify_prepare = hp.legacy_slots().unwrap().prepare;
    assert_eq!(e.failure().unwrap().state, notify_prepare);
    assert_eq!(
        take(&log),
        lines(&[
            "a CPU_UP_PREPARE 1",
            "b CPU_UP_PREPARE 1",
            "c CPU_UP_PREPARE 1",
            "a CPU_UP_CANCELED 1",
            "b CPU_UP_CANCELED 1",
        ])
    );
    assert_eq!(hp.cpu_status(CpuId(1)).unwrap().state, OFFLINE);
    assert_eq!(hp.online_mask().to_string(), "0");
}

/// The same rule going down: CPU_DOWN_FAILED to the callbacks before the veto only.
#[test]
fn a_vetoed_down_prepare_fails_to_exactly_the_callbacks_that_said_ok() {
    let mut hp = inline(2);
    let log = new_log();
    hp.register_cpu_notifier(ok_notifier(&log, "a", 40))
        .unwrap();
    hp.register_cpu_notifier(ok_notifier(&log, "b", 30))
        .unwrap();
    hp.register_cpu_notifier(vetoing(&log, "c", 20, CpuEvent::DownPrepare, Errno::EBUSY))
        .unwrap();
    hp.register_cpu_notifier(ok_notifier(&log, "d", 10))
        .unwrap();

    let e = hp.cpu_down(CpuId(1), OFFLINE).unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Callback, Errno::EBUSY));
    assert_eq!(
        take(&log),
        lines(&[
            "a CPU_DOWN_PREPARE 1",
            "b CPU_DOWN_PREPARE 1",
            "c CPU_DOWN_PREPARE 1",
            "a CPU_DOWN_FAILED 1",
            "b CPU_DOWN_FAILED 1",
        ])
    );
    assert_eq!(hp.cpu_status(CpuId(1)).unwrap().state, ONLINE);
    assert_eq!(hp.online_mask().to_string(), "0-1");
    // No CPU_POST_DEAD: the tear-down did not succeed.
    assert!(take(&log).is_empty());
}

/// What we deliberately do not do: before the seed (2006), the cancel went to the whole chain —
/// the vetoing callback undid what it never did, and callbacks never asked were told to undo.
#[test]
fn the_2006_cancel_to_everyone_is_not_what_happens() {
    for (event, cancel) in [
        (CpuEvent::UpPrepare, "CPU_UP_CANCELED"),
        (CpuEvent::DownPrepare, "CPU_DOWN_FAILED"),
    ] {
        let mut hp = inline(2);
        let log = new_log();
        hp.register_cpu_notifier(ok_notifier(&log, "first", 2))
            .unwrap();
        hp.register_cpu_notifier(vetoing(&log, "vetoer", 1, event, Errno::EINVAL))
            .unwrap();
        hp.register_cpu_notifier(ok_notifier(&log, "last", 0))
            .unwrap();
        if event == CpuEvent::UpPrepare {
            hp.cpu_down(CpuId(1), OFFLINE).unwrap();
        }
        take(&log);
        let r = if event == CpuEvent::UpPrepare {
            hp.cpu_up(CpuId(1), ONLINE)
        } else {
            hp.cpu_down(CpuId(1), OFFLINE)
        };
        assert_eq!(r.unwrap_err().errno(), Errno::EINVAL);
        let got = take(&log);
        assert!(!got.contains(&format!("vetoer {cancel} 1")), "{got:?}");
        assert!(!got.iter().any(|l| l.starts_with("last")), "{got:?}");
        assert_eq!(
            got.iter().filter(|l| l.contains(cancel)).count(),
            1,
            "{got:?}"
        );
    }
}

#[test]
fn a_veto_by_the_first_callback_cancels_to_nobody() {
    let mut hp = inline(2);
    let log = new_log();
    hp.register_cpu_notifier(vetoing(&log, "a", 9, CpuEvent::UpPrepare, Errno::EAGAIN))
        .unwrap();
    hp.register_cpu_notifier(ok_notifier(&log, "b", 0)).unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    take(&log);
    assert_eq!(
        hp.cpu_up(CpuId(1), ONLINE).unwrap_err().errno(),
        Errno::EAGAIN
    );
    assert_eq!(take(&log), lines(&["a CPU_UP_PREPARE 1"]));
}

#[test]
fn a_bare_stop_on_prepare_ends_the_walk_without_failing() {
    let mut hp = inline(2);
    let log = new_log();
    hp.register_cpu_notifier(ok_notifier(&log, "a", 2)).unwrap();
    hp.register_cpu_notifier(raw_notifier(&log, "stop", 1, |a, _| {
        if a.event.can_veto() {
            NotifyResult::STOP
        } else {
            NotifyResult::OK
        }
    }))
    .unwrap();
    hp.register_cpu_notifier(ok_notifier(&log, "c", 0)).unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "a CPU_DOWN_PREPARE 1",
            "stop CPU_DOWN_PREPARE 1",
            "a CPU_DYING 1",
            "stop CPU_DYING 1",
            "c CPU_DYING 1",
            "a CPU_DEAD 1",
            "stop CPU_DEAD 1",
            "c CPU_DEAD 1",
            "a CPU_POST_DEAD 1",
            "stop CPU_POST_DEAD 1",
            "c CPU_POST_DEAD 1",
        ])
    );
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "a CPU_UP_PREPARE 1",
            "stop CPU_UP_PREPARE 1",
            "a CPU_STARTING 1",
            "stop CPU_STARTING 1",
            "c CPU_STARTING 1",
            "a CPU_ONLINE 1",
            "stop CPU_ONLINE 1",
            "c CPU_ONLINE 1",
        ])
    );
}

/// STARTING, DYING, DEAD and POST_DEAD cannot fail: a raw callback's error is ignored.
#[test]
fn errors_from_events_that_cannot_fail_are_ignored() {
    let mut hp = inline(2);
    let log = new_log();
    hp.register_cpu_notifier(raw_notifier(&log, "grumpy", 0, |a, _| {
        if a.event.can_veto() {
            NotifyResult::OK
        } else {
            NotifyResult::BAD
        }
    }))
    .unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    assert_eq!(take(&log).len(), 4 + 3);
    assert_eq!(hp.online_mask().to_string(), "0-1");
}

/// The typed form: PREPARE answers with a verdict, the rest return `()`.
#[test]
fn typed_notifiers_veto_only_prepare() {
    struct NoCpu2(Log);
    impl CpuNotifier for NoCpu2 {
        fn prepare(&self, event: CpuEvent, cpu: CpuId, frozen: bool) -> Verdict {
            self.event(event, cpu, frozen);
            if cpu == CpuId(2) {
                Verdict::Errno(Errno::ENODEV)
            } else {
                Verdict::Ok
            }
        }
        fn event(&self, event: CpuEvent, cpu: CpuId, _: bool) {
            self.0.lock().unwrap().push(format!("{event} {cpu}"));
        }
    }
    let mut hp = inline(3);
    let log = new_log();
    let nb = Arc::new(NotifierBlock::new(Typed(NoCpu2(log.clone())), 0));
    hp.register_cpu_notifier(nb.clone()).unwrap();
    assert_eq!(
        hp.cpu_down(CpuId(2), OFFLINE).unwrap_err().errno(),
        Errno::ENODEV
    );
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "CPU_DOWN_PREPARE 2",
            "CPU_DOWN_PREPARE 1",
            "CPU_DYING 1",
            "CPU_DEAD 1",
            "CPU_POST_DEAD 1",
        ])
    );
    hp.unregister_cpu_notifier(&nb).unwrap();
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    assert!(take(&log).is_empty());
}

// ----- platform failures and later failures ------------------------------------------------------

/// Once every notifier said OK to CPU_UP_PREPARE, a platform failure cancels to all of them.
#[test]
fn a_platform_failure_after_prepare_cancels_to_all() {
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    m.enable_cpu_notifiers(None).unwrap();
    let log = new_log();
    for (name, prio) in [("a", 2), ("b", 1), ("c", 0)] {
        m.register_cpu_notifier(ok_notifier(&log, name, prio))
            .unwrap();
    }
    m.cpu_down(CpuId(1), OFFLINE).unwrap();
    take(&log);
    m.inject_start_failure(CpuId(1), Errno::EIO).unwrap();
    let e = m.cpu_up(CpuId(1), ONLINE).unwrap_err();
    assert_eq!(e.errno(), Errno::EIO);
    assert_eq!(
        take(&log),
        lines(&[
            "a CPU_UP_PREPARE 1",
            "b CPU_UP_PREPARE 1",
            "c CPU_UP_PREPARE 1",
            "a CPU_UP_CANCELED 1",
            "b CPU_UP_CANCELED 1",
            "c CPU_UP_CANCELED 1",
        ])
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
    // The CPU that refuses to die: CPU_DOWN_FAILED to all, no POST_DEAD.
    m.cpu_up(CpuId(1), ONLINE).unwrap();
    take(&log);
    m.inject_stop_failure(CpuId(1), Errno::EBUSY).unwrap();
    assert_eq!(
        m.cpu_down(CpuId(1), OFFLINE).unwrap_err().errno(),
        Errno::EBUSY
    );
    assert_eq!(
        take(&log),
        lines(&[
            "a CPU_DOWN_PREPARE 1",
            "b CPU_DOWN_PREPARE 1",
            "c CPU_DOWN_PREPARE 1",
            "a CPU_DOWN_FAILED 1",
            "b CPU_DOWN_FAILED 1",
            "c CPU_DOWN_FAILED 1",
        ])
    );
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
}

// ----- legacy notifiers and cpuhp states on one machine ------------------------------------------

/// The states of [`mixed`]: PREPARE below and above `notify:prepare` (9), a STARTING state below
/// `notify:starting` (59), ONLINE below and above `notify:online` (69).
struct Mixed {
    hp: Hotplug<Inline>,
    log: Log,
    o_low: StateId,
    o_high: StateId,
}

/// A machine whose states and one notifier `N` all log, on three CPUs (Linux 6.1 refuses any
/// cpu_down while a single CPU is online, even of a CPU stopped half-way up).
fn mixed() -> Mixed {
    let mut hp = inline(3);
    let log = new_log();
    let l = |tag: &'static str| {
        let log = log.clone();
        move |cpu: CpuId| log.lock().unwrap().push(format!("{tag} {cpu}"))
    };
    for (slot, name) in [(Slot::Fixed(StateId(5)), "P0"), (Slot::PrepareDyn, "P")] {
        let (up, down) = (l(name), l(name));
        hp.setup_state(
            slot,
            name,
            Prepare::new()
                .startup(move |c| {
                    up(c);
                    Ok(())
                })
                .teardown(down),
        )
        .unwrap();
    }
    let (su, sd) = (l("S up"), l("S down"));
    hp.setup_state(
        Slot::Fixed(StateId(40)),
        "S",
        Starting::new().startup(su).teardown(sd),
    )
    .unwrap();
    let mut online = Vec::new();
    for (slot, name) in [(Slot::Fixed(StateId(65)), "O0"), (Slot::OnlineDyn, "O")] {
        let (up, down) = (l(name), l(name));
        online.push(
            hp.setup_state(
                slot,
                name,
                Online::new()
                    .startup(move |c| {
                        up(c);
                        Ok(())
                    })
                    .teardown(move |c| {
                        down(c);
                        Ok(())
                    }),
            )
            .unwrap(),
        );
    }
    hp.register_cpu_notifier(ok_notifier(&log, "N", 0)).unwrap();
    take(&log);
    Mixed {
        hp,
        log,
        o_low: online[0],
        o_high: online[1],
    }
}

#[test]
fn notifiers_and_states_keep_their_order_up_and_down() {
    let Mixed { mut hp, log, .. } = mixed();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "O 1",
            "N CPU_DOWN_PREPARE 1",
            "O0 1",
            "N CPU_DYING 1",
            "S down 1",
            "P 1",
            "N CPU_DEAD 1",
            "P0 1",
            "N CPU_POST_DEAD 1",
        ])
    );
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "P0 1",
            "N CPU_UP_PREPARE 1",
            "P 1",
            "S up 1",
            "N CPU_STARTING 1",
            "O0 1",
            "N CPU_ONLINE 1",
            "O 1",
        ])
    );
}

#[test]
fn notifiers_and_states_keep_their_order_in_every_rollback() {
    let Mixed {
        mut hp,
        log,
        o_low,
        o_high,
    } = mixed();
    // A veto of CPU_UP_PREPARE undoes the PREPARE state below it.
    let v = vetoing(&log, "V", -1, CpuEvent::UpPrepare, Errno::ENOMEM);
    hp.register_cpu_notifier(v.clone()).unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    take(&log);
    assert_eq!(
        hp.cpu_up(CpuId(1), ONLINE).unwrap_err().errno(),
        Errno::ENOMEM
    );
    assert_eq!(
        take(&log),
        lines(&[
            "P0 1",
            "N CPU_UP_PREPARE 1",
            "V CPU_UP_PREPARE 1",
            "N CPU_UP_CANCELED 1",
            "P0 1",
        ])
    );
    hp.unregister_cpu_notifier(&v).unwrap();

    // An ONLINE state failing after CPU_STARTING, before CPU_ONLINE: the CPU dies again and the
    // notifiers, which all said OK, hear CPU_DYING then CPU_UP_CANCELED.
    hp.inject(Fault::startup(o_low, Errno::EIO).once());
    assert_eq!(hp.cpu_up(CpuId(1), ONLINE).unwrap_err().errno(), Errno::EIO);
    assert_eq!(
        take(&log),
        lines(&[
            "P0 1",
            "N CPU_UP_PREPARE 1",
            "P 1",
            "S up 1",
            "N CPU_STARTING 1",
            "N CPU_DYING 1",
            "S down 1",
            "P 1",
            "N CPU_UP_CANCELED 1",
            "P0 1",
        ])
    );
    assert_eq!(hp.cpu_status(CpuId(1)).unwrap().state, OFFLINE);

    // An ONLINE state failing after CPU_ONLINE: the notifiers hear the CPU go down as usual
    // (Linux 4.9), without CPU_POST_DEAD.
    hp.inject(Fault::startup(o_high, Errno::EIO).once());
    assert_eq!(hp.cpu_up(CpuId(1), ONLINE).unwrap_err().errno(), Errno::EIO);
    assert_eq!(
        take(&log)[5..],
        lines(&[
            "O0 1",
            "N CPU_ONLINE 1",
            "N CPU_DOWN_PREPARE 1",
            "O0 1",
            "N CPU_DYING 1",
            "S down 1",
            "P 1",
            "N CPU_DEAD 1",
            "P0 1",
        ])
    );

    // A failing ONLINE teardown after CPU_DOWN_PREPARE: CPU_DOWN_FAILED, no POST_DEAD.
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    take(&log);
    hp.inject(Fault::teardown(o_low, Errno::EBUSY).once());
    assert_eq!(
        hp.cpu_down(CpuId(1), OFFLINE).unwrap_err().errno(),
        Errno::EBUSY
    );
    assert_eq!(
        take(&log),
        lines(&["O 1", "N CPU_DOWN_PREPARE 1", "N CPU_DOWN_FAILED 1", "O 1"])
    );
    assert_eq!(hp.cpu_status(CpuId(1)).unwrap().state, ONLINE);

    // A veto of CPU_DOWN_PREPARE: what went down above it comes back.
    let v = vetoing(&log, "V", -1, CpuEvent::DownPrepare, Errno::EPERM);
    hp.register_cpu_notifier(v).unwrap();
    assert_eq!(
        hp.cpu_down(CpuId(1), OFFLINE).unwrap_err().errno(),
        Errno::EPERM
    );
    assert_eq!(
        take(&log),
        lines(&[
            "O 1",
            "N CPU_DOWN_PREPARE 1",
            "V CPU_DOWN_PREPARE 1",
            "N CPU_DOWN_FAILED 1",
            "O 1",
        ])
    );
}

/// Partial targets: a CPU stopped between the bridges hears only what it passed, and what
/// follows matches what it heard.
#[test]
fn partial_targets_deliver_the_events_of_the_states_passed() {
    let Mixed { mut hp, log, .. } = mixed();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    take(&log);
    hp.cpu_up(CpuId(1), StateId(5)).unwrap();
    assert_eq!(take(&log), lines(&["P0 1"]));
    let prepare = hp.legacy_slots().unwrap().prepare;
    hp.cpu_up(CpuId(1), prepare).unwrap();
    assert_eq!(take(&log), lines(&["N CPU_UP_PREPARE 1"]));
    // Prepared but never online: going back down cancels. The CPU went from another state to
    // OFFLINE, so CPU_POST_DEAD follows (Linux 4.9's `hasdied`).
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&["N CPU_UP_CANCELED 1", "P0 1", "N CPU_POST_DEAD 1"])
    );

    // Booted (CPU_STARTING) but stopped before CPU_ONLINE: going down, DYING then UP_CANCELED.
    let idle = hp.layout().ap_online_idle;
    hp.cpu_up(CpuId(1), idle).unwrap();
    take(&log);
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "N CPU_DYING 1",
            "S down 1",
            "P 1",
            "N CPU_UP_CANCELED 1",
            "P0 1",
            "N CPU_POST_DEAD 1",
        ])
    );

    // Taken down to the kick state (DOWN_PREPARE, DYING) and back up: a fresh CPU_ONLINE, not
    // CPU_DOWN_FAILED — the CPU did die.
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    let kick = hp.layout().bp_kick_ap.unwrap();
    hp.cpu_down(CpuId(1), kick).unwrap();
    take(&log);
    hp.cpu_up(CpuId(1), ONLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "S up 1",
            "N CPU_STARTING 1",
            "O0 1",
            "N CPU_ONLINE 1",
            "O 1"
        ])
    );
    hp.cpu_down(CpuId(1), kick).unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    let got = take(&log);
    assert_eq!(
        got[got.len() - 3..],
        lines(&["N CPU_DEAD 1", "P0 1", "N CPU_POST_DEAD 1"])
    );
}

/// Notifiers enabled on a running machine: each CPU counts as having heard the events of the
/// bridges below its state.
#[test]
fn enabling_on_a_running_machine_counts_what_each_cpu_passed() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(3), Inline).unwrap();
    let idle = hp.layout().ap_online_idle;
    hp.cpu_down(CpuId(2), idle).unwrap();
    hp.enable_cpu_notifiers(None).unwrap();
    let log = new_log();
    hp.register_cpu_notifier(ok_notifier(&log, "a", 0)).unwrap();
    hp.cpu_down(CpuId(2), OFFLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&["a CPU_DYING 2", "a CPU_UP_CANCELED 2", "a CPU_POST_DEAD 2"])
    );
}

// ----- registration -----------------------------------------------------------------------------

#[test]
fn registration_misuse_is_refused_and_changes_nothing() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(2), Inline).unwrap();
    let log = new_log();
    let a = ok_notifier(&log, "a", 0);
    assert_eq!(
        hp.register_cpu_notifier(a.clone()).unwrap_err().kind(),
        ErrorKind::CpuNotifiers,
        "not enabled"
    );
    hp.enable_cpu_notifiers(None).unwrap();
    assert_eq!(
        hp.enable_cpu_notifiers(None).unwrap_err().kind(),
        ErrorKind::CpuNotifiers
    );
    hp.register_cpu_notifier(a.clone()).unwrap();
    let e = hp.register_cpu_notifier(a.clone()).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::AlreadyRegistered, Errno::EEXIST)
    );
    assert_eq!(hp.cpu_notifiers(), 1);
    hp.unregister_cpu_notifier(&a).unwrap();
    let e = hp.unregister_cpu_notifier(&a).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::NotRegistered, Errno::ENOENT)
    );
    assert_eq!(hp.cpu_notifiers(), 0);
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert!(take(&log).is_empty());
}

#[test]
fn bridge_slots_must_be_free_and_in_their_section() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(2), Inline).unwrap();
    let good = hp.default_legacy_slots().unwrap();
    assert_eq!(
        (good.prepare, good.starting, good.online),
        (StateId(9), StateId(59), StateId(69)),
        "below the dynamic ranges, as Linux 4.9"
    );
    let wrong_section = LegacySlots {
        starting: StateId(70),
        ..good
    };
    assert_eq!(
        hp.enable_cpu_notifiers(Some(wrong_section))
            .unwrap_err()
            .kind(),
        ErrorKind::WrongSection
    );
    let o = hp
        .setup_state(Slot::Fixed(good.online), "taken", Online::new())
        .unwrap();
    assert_eq!(
        hp.enable_cpu_notifiers(Some(good)).unwrap_err().kind(),
        ErrorKind::SlotTaken
    );
    assert!(!hp.cpu_notifiers_enabled());
    // The default moves to the next free slot below.
    assert_eq!(hp.default_legacy_slots().unwrap().online, StateId(68));
    hp.remove_state(o).unwrap();
    hp.enable_cpu_notifiers(Some(good)).unwrap();
    assert_eq!(hp.state_name(good.starting), Some("notify:starting"));
}

#[test]
fn registering_with_replay_tells_the_notifier_about_every_online_cpu() {
    let mut hp = inline(3);
    let log = new_log();
    hp.register_cpu_notifier_replay(ok_notifier(&log, "a", 0))
        .unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "a CPU_UP_PREPARE 0",
            "a CPU_ONLINE 0",
            "a CPU_UP_PREPARE 1",
            "a CPU_ONLINE 1",
            "a CPU_UP_PREPARE 2",
            "a CPU_ONLINE 2",
        ])
    );
    assert_eq!(hp.cpu_notifiers(), 1);
    // Registered: it hears what happens next.
    hp.cpu_down(CpuId(2), OFFLINE).unwrap();
    assert_eq!(take(&log).len(), 4);
}

#[test]
fn a_replay_failing_half_way_is_rolled_back_and_registers_nothing() {
    let mut hp = inline(3);
    let log = new_log();
    let other = ok_notifier(&log, "other", 5);
    hp.register_cpu_notifier(other).unwrap();
    let picky = raw_notifier(&log, "picky", 0, |a, cpu| {
        if a.event == CpuEvent::UpPrepare && cpu == CpuId(2) {
            NotifyResult::from_error(Errno::ENOMEM)
        } else {
            NotifyResult::OK
        }
    });
    let e = hp.register_cpu_notifier_replay(picky.clone()).unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Callback, Errno::ENOMEM));
    assert_eq!(
        take(&log),
        lines(&[
            "picky CPU_UP_PREPARE 0",
            "picky CPU_ONLINE 0",
            "picky CPU_UP_PREPARE 1",
            "picky CPU_ONLINE 1",
            "picky CPU_UP_PREPARE 2",
            "picky CPU_DOWN_PREPARE 1",
            "picky CPU_DEAD 1",
            "picky CPU_DOWN_PREPARE 0",
            "picky CPU_DEAD 0",
        ])
    );
    assert_eq!(hp.cpu_notifiers(), 1, "only `other`");
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert!(take(&log).iter().all(|l| l.starts_with("other")));
    // And it can be registered afterwards (no stale entry).
    hp.register_cpu_notifier(picky).unwrap();
}

#[test]
fn cpus_online_before_enabling_hear_the_down_events() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(2), Inline).unwrap();
    hp.enable_cpu_notifiers(None).unwrap();
    let log = new_log();
    hp.register_cpu_notifier(ok_notifier(&log, "a", 0)).unwrap();
    hp.cpu_down(CpuId(1), OFFLINE).unwrap();
    assert_eq!(
        take(&log),
        lines(&[
            "a CPU_DOWN_PREPARE 1",
            "a CPU_DYING 1",
            "a CPU_DEAD 1",
            "a CPU_POST_DEAD 1",
        ])
    );
}

#[test]
fn event_values_are_linuxs() {
    let raw: Vec<u64> = CpuEvent::ALL.iter().map(|e| e.raw()).collect();
    assert_eq!(raw, [0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xA]);
    for e in CpuEvent::ALL {
        assert_eq!(
            CpuAction::from_raw(e.raw() | 0x10),
            Some(CpuAction::frozen(e))
        );
        assert_eq!(CpuAction::frozen(e).to_string(), format!("{e}_FROZEN"));
    }
    assert_eq!(CpuAction::from_raw(0x1), None);
    assert_eq!(CpuAction::from_raw(0xB), None);
}
