//! Kernel callbacks that insist on running on their own CPU. After the hotplug thread's rollback
//! fails, the control side walks the ONLINE section down by itself; Linux's
//! `workqueue_offline_cpu` then refuses (`WARN_ON(cpu != smp_processor_id())`, -1), the control
//! side's rollback stops there with a warning, and the CPU stays at that state. Later operations
//! start from there.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use cpuhp::preset::{LINUX_6_1, LINUX_6_12};
use cpuhp::sim::Machine;
use cpuhp::{
    Context, CpuId, Errno, ErrorKind, Online, Slot, StateId, Topology, TraceEvent, Warning,
};

/// What the tracer saw that matters here: warnings (where), and the ONLINE-section teardowns the
/// control side ran (not its `cpuhp_kick_ap_work` pseudo-step at 236), with their results.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Seen {
    Warn(Warning, Context),
    ControlTeardown(u32, i32),
}

fn machine(preset: &'static cpuhp::preset::Preset) -> (Machine, Arc<Mutex<Vec<Seen>>>) {
    let m = Machine::new(preset, Topology::new(2)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    m.set_tracer(move |ev| {
        let s = match *ev {
            TraceEvent::Warning {
                warning, context, ..
            } => Seen::Warn(warning, context),
            TraceEvent::Exit {
                step,
                bringup: false,
                context: Context::Control,
                result,
                ..
            } if (154..236).contains(&step.0) => {
                Seen::ControlTeardown(step.0, result.err().map_or(0, Errno::to_neg))
            }
            _ => return,
        };
        sink.lock().unwrap().push(s);
    })
    .unwrap();
    (m, seen)
}

/// Two driver states that fail once `armed`: `drv:a`'s teardown (the rollback's failure) and
/// `drv:b`'s startup (the operation's), both on CPU 1. Returns the state numbers.
fn rollback_that_fails(m: &Machine, armed: &Arc<AtomicBool>) -> (StateId, StateId) {
    let arm = armed.clone();
    let a = m
        .setup_state(
            Slot::OnlineDyn,
            "drv:a",
            Online::new().startup(|_| Ok(())).teardown(move |cpu| {
                if cpu.0 == 1 && arm.load(SeqCst) {
                    Err(Errno::EBUSY)
                } else {
                    Ok(())
                }
            }),
        )
        .unwrap();
    let arm = armed.clone();
    let b = m
        .setup_state(
            Slot::OnlineDyn,
            "drv:b",
            Online::new().startup(move |cpu| {
                if cpu.0 == 1 && arm.load(SeqCst) {
                    Err(Errno::ENOMEM)
                } else {
                    Ok(())
                }
            }),
        )
        .unwrap();
    (a, b)
}

/// Brings CPU 1 up with both failures armed; returns the error and what the tracer saw.
fn failed_bringup(preset: &'static cpuhp::preset::Preset) -> (Machine, cpuhp::Error, Vec<Seen>) {
    let (m, seen) = machine(preset);
    let armed = Arc::new(AtomicBool::new(false));
    rollback_that_fails(&m, &armed);
    m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap();
    armed.store(true, SeqCst);
    seen.lock().unwrap().clear();
    let e = m.cpu_up(CpuId(1), StateId(236)).unwrap_err();
    armed.store(false, SeqCst);
    let seen = seen.lock().unwrap().clone();
    (m, e, seen)
}

/// Linux 6.1: the hotplug thread's rollback fails at `drv:a` (211, "up a creek"); the control
/// side then tears down 210 and below itself, until `workqueue_offline_cpu` (197) refuses with a
/// warning and -1; `cpuhp_up_callbacks` warns and stops. The CPU stays at 196, alive.
#[test]
fn the_control_sides_rollback_stops_at_workqueue_offline_cpu_on_6_1() {
    use Seen::*;
    let (m, e, seen) = failed_bringup(&LINUX_6_1);
    assert_eq!(
        (e.kind(), e.errno(), e.failure().map(|f| f.state)),
        (ErrorKind::Callback, Errno::ENOMEM, Some(StateId(212)))
    );
    assert_eq!(e.rollback_failure().map(|f| f.state), Some(StateId(211)));
    assert_eq!(
        seen,
        [
            Warn(Warning::RollbackFailed, Context::ApThread),
            ControlTeardown(209, 0),
            ControlTeardown(208, 0),
            ControlTeardown(202, 0),
            ControlTeardown(200, 0),
            ControlTeardown(199, 0),
            Warn(Warning::ForeignCpuRefused, Context::Control),
            ControlTeardown(197, -1),
            Warn(Warning::UpRollbackFailed, Context::Control),
        ]
    );
    assert_eq!(m.cpu_status(CpuId(1)).unwrap().unwrap().state, StateId(196));
    // Later operations start from there, on the CPU's own hotplug thread again.
    m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
    m.cpu_up(CpuId(1), StateId(236)).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
}

/// The same on Linux 6.12, whose table moved: `workqueue:online` is 188.
#[test]
fn the_control_sides_rollback_stops_at_workqueue_offline_cpu_on_6_12() {
    use Seen::*;
    let (m, e, seen) = failed_bringup(&LINUX_6_12);
    assert_eq!(e.failure().map(|f| f.state), Some(StateId(203)));
    assert_eq!(
        seen,
        [
            Warn(Warning::RollbackFailed, Context::ApThread),
            ControlTeardown(200, 0),
            ControlTeardown(198, 0),
            ControlTeardown(193, 0),
            ControlTeardown(191, 0),
            ControlTeardown(190, 0),
            Warn(Warning::ForeignCpuRefused, Context::Control),
            ControlTeardown(188, -1),
            Warn(Warning::UpRollbackFailed, Context::Control),
        ]
    );
    assert_eq!(m.cpu_status(CpuId(1)).unwrap().unwrap().state, StateId(187));
    m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap();
    m.cpu_up(CpuId(1), StateId(236)).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
}

/// On their own CPU the same callbacks never warn: a plain offline/online runs them on the
/// hotplug thread.
#[test]
fn on_their_own_cpu_they_run_silently() {
    let (m, seen) = machine(&LINUX_6_1);
    m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap();
    m.cpu_up(CpuId(1), StateId(236)).unwrap();
    assert_eq!(*seen.lock().unwrap(), []);
}
