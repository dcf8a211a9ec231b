//! Property test of the legacy CPU-notifier API (`cpuhp::legacy`) against a small reference
//! model: the seed patch's rule (ARCHITECTURE.md, "The legacy CPU-notifier API") and the module's documented delivery rules.
//!
//! A case is a machine (DEMO preset, 3 CPUs, `Inline`, bridge states at the default slots,
//! `enable_cpu_notifiers(None)`: `notify:prepare` 9, `notify:starting` 59, `notify:online` 69,
//! just below the dynamic ranges as in Linux 4.9), a PREPARE state at 10 and an ONLINE state at
//! 70 (both logging, so both run after the bridge below them going up and before it going down),
//! 1–5 notifiers with priorities in -1..=1 (so ties happen),
//! each answering `CPU_UP_PREPARE` / `CPU_DOWN_PREPARE` per CPU with OK, DONE, `NOTIFY_STOP`, a
//! bare `NOTIFY_STOP_MASK` or a veto with an errno (`NOTIFY_BAD` for `EPERM`), and every other
//! event per CPU with (mostly) OK or DONE, sometimes a stop or an error; then a random sequence
//! of `cpu_up(cpu, online)` / `cpu_down(cpu, OFFLINE)` on CPUs 0–2, each with at most one later
//! failure planned (a state's own callback failing, or a `Fault` on a builtin step: the kick, the
//! bring-up, `notify:online`, `sched:active`, the take-down), interleaved with
//! `register_cpu_notifier` (duplicates included), `register_cpu_notifier_replay` and
//! `unregister_cpu_notifier`.
//!
//! Every notifier call and every state callback goes to one shared log. After every operation
//! the test compares, with what the model predicts:
//!
//! * the exact log of the operation (who heard what, for which CPU, in which order, interleaved
//!   with the state callbacks);
//! * the operation's result: `Ok`, or the error's kind, errno, first failing (state, direction),
//!   and that undoing it did not fail;
//! * the online mask, each CPU's state (0 or 99), the number of registered notifiers, and whether
//!   the planned failure fired.
//!
//! The model's rules:
//!
//! * a chain walk calls the notifiers in chain order (higher priority first, FIFO among equals)
//!   and ends at the first result with the stop bit — for every event (Linux's
//!   `notifier_call_chain`; a stopping result of an event that cannot fail ends the walk but is
//!   otherwise ignored — `STOP_ENDS_EVERY_WALK` below);
//! * `cpu_up`: `CPU_UP_PREPARE`, the PREPARE state, `CPU_STARTING`, `CPU_ONLINE`, the ONLINE
//!   state; a veto by notifier k (an errno, not a bare stop) sends `CPU_UP_CANCELED` to
//!   notifiers 0..k only and returns the errno; later failures, with the states below undone in
//!   reverse order: before `CPU_STARTING`, `CPU_UP_CANCELED` to all; after `CPU_STARTING` but
//!   before `CPU_ONLINE`, `CPU_DYING` then `CPU_UP_CANCELED`; after `CPU_ONLINE` (the ONLINE
//!   state at 70 or `sched:active`), the usual tear-down `CPU_DOWN_PREPARE` (cannot veto here),
//!   `CPU_DYING`, `CPU_DEAD` and no `CPU_POST_DEAD` (`legacy/mod.rs`; `Told` in
//!   `legacy/bridge.rs`);
//! * `cpu_down`: the ONLINE state, `CPU_DOWN_PREPARE`, `CPU_DYING`, the PREPARE state,
//!   `CPU_DEAD`, `CPU_POST_DEAD`; a failure of the ONLINE state's teardown (or above) reaches
//!   no notifier; a veto by notifier k sends `CPU_DOWN_FAILED` to 0..k only; a later failure
//!   sends `CPU_DOWN_FAILED` to all (before the ONLINE state runs again);
//! * a failed operation leaves the CPU where it was; the last online CPU cannot go (`EBUSY`);
//! * replay: for every online CPU ascending, `CPU_UP_PREPARE` then `CPU_ONLINE` to the new
//!   notifier alone; on a veto, `CPU_DOWN_PREPARE` and `CPU_DEAD` to it for the CPUs already
//!   replayed, in reverse, and it is not registered;
//! * registering a block twice fails with `AlreadyRegistered` (`EEXIST`) and changes nothing;
//!   unregistering one that is not registered fails with `NotRegistered` (`ENOENT`).

use std::fmt;
use std::sync::{Arc, Mutex};

use cpuhp::legacy::{CpuAction, CpuEvent};
use cpuhp::preset::DEMO;
use cpuhp::{
    CpuId, Errno, ErrorKind, Fault, Hotplug, Inline, Online, Prepare, Slot, StateId, Topology,
};
use notifier::{Notifier, NotifierBlock, NotifyResult};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const CPUS: usize = 3;
const ONLINE: StateId = StateId(99);
const OFFLINE: StateId = StateId::OFFLINE;

/// The PREPARE and ONLINE states the test installs (the first dynamic slots of DEMO).
const S_PREPARE: u32 = 10;
const S_ONLINE: u32 = 70;
/// DEMO's builtin steps a `Fault` can make fail.
const KICK_AP: StateId = StateId(29);
const BRINGUP_CPU: StateId = StateId(30);
const TEARDOWN_CPU: StateId = StateId(61);
const SCHED_ACTIVE: StateId = StateId(98);
/// The bridge states (`Hotplug::default_legacy_slots` on DEMO: just below the dynamic ranges,
/// where Linux 4.9 had them).
const NOTIFY_PREPARE: StateId = StateId(9);
const NOTIFY_STARTING: StateId = StateId(59);
const NOTIFY_ONLINE: StateId = StateId(69);

// ----- what a notifier answers ----------------------------------------------------------------

/// A notifier's answer to one (event, CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Beh {
    Ok,
    Done,
    /// `NOTIFY_STOP`: ends the walk, not a failure.
    Stop,
    /// A bare `NOTIFY_STOP_MASK` (0x8000): ends the walk, errno 0, not a failure.
    StopMask,
    /// `notifier_from_errno(-e)`; `NOTIFY_BAD` for `EPERM`.
    Veto(Errno),
}

impl Beh {
    fn result(self) -> NotifyResult {
        match self {
            Beh::Ok => NotifyResult::OK,
            Beh::Done => NotifyResult::DONE,
            Beh::Stop => NotifyResult::STOP,
            Beh::StopMask => NotifyResult::STOP_MASK,
            Beh::Veto(Errno::EPERM) => NotifyResult::BAD,
            Beh::Veto(e) => NotifyResult::from_error(e),
        }
    }

    /// Whether the walk ends here.
    fn stops(self) -> bool {
        !matches!(self, Beh::Ok | Beh::Done)
    }

    fn veto(self) -> Option<Errno> {
        match self {
            Beh::Veto(e) => Some(e),
            _ => None,
        }
    }
}

/// One notifier: its priority, its answers, and whether it starts registered.
#[derive(Clone, Copy, Debug)]
struct Spec {
    priority: i32,
    up: [Beh; CPUS],
    down: [Beh; CPUS],
    other: [Beh; CPUS],
    initially: bool,
}

impl Spec {
    fn answer(&self, event: CpuEvent, cpu: u32) -> Beh {
        let c = cpu as usize;
        match event {
            CpuEvent::UpPrepare => self.up[c],
            CpuEvent::DownPrepare => self.down[c],
            _ => self.other[c],
        }
    }
}

// ----- the shared log -------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Notifier `id` heard `event` (with `frozen`) for `cpu`.
    Heard {
        id: usize,
        event: CpuEvent,
        frozen: bool,
        cpu: u32,
    },
    /// The startup (`up`) or teardown of the test's state `state` ran for `cpu`.
    State { state: u32, up: bool, cpu: u32 },
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Entry::Heard {
                id,
                event,
                frozen,
                cpu,
            } => {
                let frozen = if frozen { "_FROZEN" } else { "" };
                write!(f, "n{id} {event}{frozen} {cpu}")
            }
            Entry::State { state, up, cpu } => {
                let dir = if up { "up" } else { "down" };
                write!(f, "S{state} {dir} {cpu}")
            }
        }
    }
}

type Log = Arc<Mutex<Vec<Entry>>>;

/// A planned failure of one of the test's own state callbacks: (state, startup?, errno); taken
/// when it fires.
type Plan = Arc<Mutex<Option<(u32, bool, Errno)>>>;

/// The notifier callback: logs, then answers per its spec.
struct Recorder {
    id: usize,
    spec: Spec,
    log: Log,
}

impl Notifier<CpuAction, CpuId> for Recorder {
    fn notify(&self, action: CpuAction, cpu: &CpuId) -> NotifyResult {
        self.log.lock().unwrap().push(Entry::Heard {
            id: self.id,
            event: action.event,
            frozen: action.frozen,
            cpu: cpu.0,
        });
        self.spec.answer(action.event, cpu.0).result()
    }
}

/// Logs a state callback and fails it if that is the plan.
fn state_callback(log: &Log, plan: &Plan, state: u32, up: bool, cpu: CpuId) -> Result<(), Errno> {
    log.lock().unwrap().push(Entry::State {
        state,
        up,
        cpu: cpu.0,
    });
    let mut plan = plan.lock().unwrap();
    match *plan {
        Some((s, u, e)) if s == state && u == up => {
            *plan = None;
            Err(e)
        }
        _ => Ok(()),
    }
}

// ----- operations -----------------------------------------------------------------------------

/// A failure planned for a `cpu_up`, at or after the PREPARE state at 10 (so after `CPU_UP_PREPARE`).
#[derive(Clone, Copy, Debug)]
enum UpFail {
    None,
    /// The PREPARE state's startup (after `CPU_UP_PREPARE`).
    PrepareState(Errno),
    /// `cpuhp_kick_ap_alive` (after `CPU_UP_PREPARE`, before the CPU boots).
    KickAp(Errno),
    /// `bringup_cpu` (the platform does not boot the CPU).
    BringupCpu(Errno),
    /// The ONLINE state's startup (after `CPU_ONLINE`).
    OnlineState(Errno),
    /// `notify:online`'s own step (after `CPU_STARTING`, `CPU_ONLINE` never sent).
    NotifyOnline(Errno),
    /// `sched:active` (after `CPU_ONLINE`).
    SchedActive(Errno),
}

/// A failure planned for a `cpu_down`.
#[derive(Clone, Copy, Debug)]
enum DownFail {
    None,
    /// `sched:active`'s teardown (before `CPU_DOWN_PREPARE`).
    SchedActive(Errno),
    /// `notify:online`'s own step (`CPU_DOWN_PREPARE` never sent).
    NotifyOnline(Errno),
    /// The ONLINE state's teardown (before `CPU_DOWN_PREPARE`).
    OnlineState(Errno),
    /// `takedown_cpu`: the CPU refuses to die (after `CPU_DOWN_PREPARE` and the ONLINE state).
    TakedownCpu(Errno),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Up {
        cpu: u32,
        fail: UpFail,
    },
    Down {
        cpu: u32,
        fail: DownFail,
    },
    /// `Down` if the CPU is online, else `Up`: most operations then move a CPU.
    Toggle {
        cpu: u32,
        up: UpFail,
        down: DownFail,
    },
    Register {
        pick: usize,
    },
    Replay {
        pick: usize,
    },
    Unregister {
        pick: usize,
    },
}

fn errno() -> impl Strategy<Value = Errno> {
    prop_oneof![
        Just(Errno::EPERM),
        Just(Errno::EBUSY),
        Just(Errno::ENOMEM),
        Just(Errno::EINVAL),
        Just(Errno::EIO),
        Just(Errno::EAGAIN),
        Just(Errno::ENODEV),
    ]
}

fn prepare_beh() -> impl Strategy<Value = Beh> {
    prop_oneof![
        5 => Just(Beh::Ok),
        2 => Just(Beh::Done),
        1 => Just(Beh::Stop),
        1 => Just(Beh::StopMask),
        2 => errno().prop_map(Beh::Veto),
    ]
}

fn other_beh() -> impl Strategy<Value = Beh> {
    prop_oneof![
        12 => Just(Beh::Ok),
        3 => Just(Beh::Done),
        1 => Just(Beh::Stop),
        1 => errno().prop_map(Beh::Veto),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        -1..=1i32,
        [prepare_beh(), prepare_beh(), prepare_beh()],
        [prepare_beh(), prepare_beh(), prepare_beh()],
        [other_beh(), other_beh(), other_beh()],
        prop::bool::weighted(0.6),
    )
        .prop_map(|(priority, up, down, other, initially)| Spec {
            priority,
            up,
            down,
            other,
            initially,
        })
}

fn cpu() -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(0u32), 3 => Just(1u32), 3 => Just(2u32)]
}

fn up_fail() -> impl Strategy<Value = UpFail> {
    prop_oneof![
        12 => Just(UpFail::None),
        1 => errno().prop_map(UpFail::PrepareState),
        1 => errno().prop_map(UpFail::KickAp),
        1 => errno().prop_map(UpFail::BringupCpu),
        1 => errno().prop_map(UpFail::OnlineState),
        1 => errno().prop_map(UpFail::NotifyOnline),
        1 => errno().prop_map(UpFail::SchedActive),
    ]
}

fn down_fail() -> impl Strategy<Value = DownFail> {
    prop_oneof![
        10 => Just(DownFail::None),
        1 => errno().prop_map(DownFail::SchedActive),
        1 => errno().prop_map(DownFail::NotifyOnline),
        1 => errno().prop_map(DownFail::OnlineState),
        1 => errno().prop_map(DownFail::TakedownCpu),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (cpu(), up_fail()).prop_map(|(cpu, fail)| Op::Up { cpu, fail }),
        2 => (cpu(), down_fail()).prop_map(|(cpu, fail)| Op::Down { cpu, fail }),
        7 => (cpu(), up_fail(), down_fail()).prop_map(|(cpu, up, down)| Op::Toggle { cpu, up, down }),
        1 => any::<usize>().prop_map(|pick| Op::Register { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Unregister { pick }),
    ]
}

// ----- the model ------------------------------------------------------------------------------

/// Whether a stopping answer (`NOTIFY_STOP`, `NOTIFY_BAD`, an errno) to an event whose result
/// is ignored (`CPU_STARTING`, `CPU_DYING`, `CPU_DEAD`, `CPU_POST_DEAD`, `CPU_ONLINE`, the
/// cancels, and `CPU_DOWN_PREPARE` when undoing a failed bring-up) still ends the walk, so that
/// the notifiers after it do not hear the event. That is Linux's `notifier_call_chain` (and
/// `cpu_notify_nofail` only ignores the *result*), and what `Legacy::notify_all` does: it walks
/// with `call_bounded`. `legacy/mod.rs` only says such results are "ignored"; flip this if that
/// is meant to include the stop bit.
const STOP_ENDS_EVERY_WALK: bool = true;

/// An operation's outcome as the test compares it: the error's kind, errno, first failing
/// (state, startup?), and whether undoing it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Failed {
    kind: ErrorKind,
    errno: Errno,
    failure: Option<(StateId, bool)>,
    rollback_failed: bool,
}

fn callback_error(errno: Errno, state: StateId, bringup: bool) -> Failed {
    // A failure injected at the platform's own steps (kick 29, bring-up 30, takedown 61 on DEMO)
    // is how a platform failure is simulated.
    let platform = matches!(state.get(), 29 | 30 | 61);
    Failed {
        kind: if platform {
            ErrorKind::Platform
        } else {
            ErrorKind::Callback
        },
        errno,
        failure: Some((state, bringup)),
        rollback_failed: false,
    }
}

fn plain_error(kind: ErrorKind, errno: Errno) -> Failed {
    Failed {
        kind,
        errno,
        failure: None,
        rollback_failed: false,
    }
}

fn outcome(r: Result<(), cpuhp::Error>) -> Result<(), Failed> {
    r.map_err(|e| Failed {
        kind: e.kind(),
        errno: e.errno(),
        failure: e.failure().map(|f| (f.state, f.bringup)),
        rollback_failed: e.rollback_failure().is_some(),
    })
}

struct Model {
    specs: Vec<Spec>,
    /// Registered notifiers, in call order.
    chain: Vec<usize>,
    online: [bool; CPUS],
    /// What the current operation should log.
    log: Vec<Entry>,
}

impl Model {
    fn heard(&mut self, id: usize, event: CpuEvent, cpu: u32) {
        self.log.push(Entry::Heard {
            id,
            event,
            frozen: false,
            cpu,
        });
    }

    fn state(&mut self, state: u32, up: bool, cpu: u32) {
        self.log.push(Entry::State { state, up, cpu });
    }

    /// A walk over at most `bound` notifiers, ending at the first stopping answer (see
    /// [`STOP_ENDS_EVERY_WALK`]). Returns how many were called and the errno of the answer that
    /// ended it, if a veto.
    fn walk(&mut self, event: CpuEvent, cpu: u32, bound: usize) -> (usize, Option<Errno>) {
        let chain = self.chain.clone();
        let mut calls = 0;
        for id in chain.into_iter().take(bound) {
            self.heard(id, event, cpu);
            calls += 1;
            let b = self.specs[id].answer(event, cpu);
            if b.stops() && (STOP_ENDS_EVERY_WALK || event.can_veto()) {
                return (calls, b.veto());
            }
        }
        (calls, None)
    }

    /// An event that cannot fail: to everyone (until a stopping answer).
    fn notify_all(&mut self, event: CpuEvent, cpu: u32) {
        self.walk(event, cpu, usize::MAX);
    }

    /// A PREPARE event; on a veto by notifier k, `undo` to notifiers 0..k only.
    fn prepare(&mut self, event: CpuEvent, undo: CpuEvent, cpu: u32) -> Result<(), Errno> {
        let (calls, veto) = self.walk(event, cpu, usize::MAX);
        match veto {
            Some(e) => {
                self.walk(undo, cpu, calls - 1);
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn cpu_up(&mut self, cpu: u32, fail: UpFail) -> Result<(), Failed> {
        if self.online[cpu as usize] {
            return Ok(());
        }
        // notify:prepare at 9: a veto by notifier k cancels to 0..k only.
        if let Err(e) = self.prepare(CpuEvent::UpPrepare, CpuEvent::UpCanceled, cpu) {
            return Err(callback_error(e, NOTIFY_PREPARE, true));
        }
        // Every notifier said OK: from here on, a failure before CPU_ONLINE cancels to all, after
        // the states below the failure are undone (and after CPU_DYING if the CPU had started).
        // The PREPARE state at 10.
        self.state(S_PREPARE, true, cpu);
        if let UpFail::PrepareState(e) = fail {
            self.notify_all(CpuEvent::UpCanceled, cpu);
            return Err(callback_error(e, StateId(S_PREPARE), true));
        }
        let cancel = |m: &mut Model| {
            m.state(S_PREPARE, false, cpu);
            m.notify_all(CpuEvent::UpCanceled, cpu);
        };
        // The kick at 29 and the bring-up at 30: the CPU never boots.
        if let UpFail::KickAp(e) | UpFail::BringupCpu(e) = fail {
            cancel(self);
            let state = if matches!(fail, UpFail::KickAp(_)) {
                KICK_AP
            } else {
                BRINGUP_CPU
            };
            return Err(callback_error(e, state, true));
        }
        // notify:starting at 59, on the booting CPU.
        self.notify_all(CpuEvent::Starting, cpu);
        // notify:online at 69: its own step failing means CPU_ONLINE is never sent, so the
        // bring-up is canceled (CPU_DYING, then CPU_UP_CANCELED).
        if let UpFail::NotifyOnline(e) = fail {
            self.notify_all(CpuEvent::Dying, cpu);
            cancel(self);
            return Err(callback_error(e, NOTIFY_ONLINE, true));
        }
        self.notify_all(CpuEvent::Online, cpu);
        // After CPU_ONLINE, a failure takes the CPU down the usual way (bridge.rs: "they hear
        // the usual sequence"): CPU_DOWN_PREPARE (a veto is not a veto here, but a stopping
        // answer still ends the walk), CPU_DYING, CPU_DEAD; no CPU_POST_DEAD.
        let back_down = |m: &mut Model| {
            m.notify_all(CpuEvent::DownPrepare, cpu);
            m.notify_all(CpuEvent::Dying, cpu);
            m.state(S_PREPARE, false, cpu);
            m.notify_all(CpuEvent::Dead, cpu);
        };
        // The ONLINE state at 70.
        self.state(S_ONLINE, true, cpu);
        if let UpFail::OnlineState(e) = fail {
            back_down(self);
            return Err(callback_error(e, StateId(S_ONLINE), true));
        }
        // sched:active at 98.
        if let UpFail::SchedActive(e) = fail {
            self.state(S_ONLINE, false, cpu);
            back_down(self);
            return Err(callback_error(e, SCHED_ACTIVE, true));
        }
        self.online[cpu as usize] = true;
        Ok(())
    }

    fn cpu_down(&mut self, cpu: u32, fail: DownFail) -> Result<(), Failed> {
        if !self.online[cpu as usize] {
            return Ok(());
        }
        if self.online.iter().filter(|&&o| o).count() == 1 {
            return Err(plain_error(ErrorKind::LastCpu, Errno::EBUSY));
        }
        // sched:active at 98.
        if let DownFail::SchedActive(e) = fail {
            return Err(callback_error(e, SCHED_ACTIVE, false));
        }
        // The ONLINE state at 70, before the notifiers hear anything: its failure is undone by
        // nothing the notifiers hear.
        self.state(S_ONLINE, false, cpu);
        if let DownFail::OnlineState(e) = fail {
            return Err(callback_error(e, StateId(S_ONLINE), false));
        }
        // notify:online at 69 (its own step failing: CPU_DOWN_PREPARE never sent); the way back
        // up runs the ONLINE state again.
        if let DownFail::NotifyOnline(e) = fail {
            self.state(S_ONLINE, true, cpu);
            return Err(callback_error(e, NOTIFY_ONLINE, false));
        }
        if let Err(e) = self.prepare(CpuEvent::DownPrepare, CpuEvent::DownFailed, cpu) {
            self.state(S_ONLINE, true, cpu);
            return Err(callback_error(e, NOTIFY_ONLINE, false));
        }
        // takedown_cpu at 61: every notifier said OK to CPU_DOWN_PREPARE, so all hear
        // CPU_DOWN_FAILED on the way back up (notify:online at 69), then the ONLINE state runs.
        if let DownFail::TakedownCpu(e) = fail {
            self.notify_all(CpuEvent::DownFailed, cpu);
            self.state(S_ONLINE, true, cpu);
            return Err(callback_error(e, TEARDOWN_CPU, false));
        }
        self.notify_all(CpuEvent::Dying, cpu);
        self.state(S_PREPARE, false, cpu);
        self.notify_all(CpuEvent::Dead, cpu);
        self.notify_all(CpuEvent::PostDead, cpu);
        self.online[cpu as usize] = false;
        Ok(())
    }

    /// Links `id` before the first notifier of lower priority.
    fn insert(&mut self, id: usize) {
        let p = self.specs[id].priority;
        let at = self
            .chain
            .iter()
            .position(|&o| self.specs[o].priority < p)
            .unwrap_or(self.chain.len());
        self.chain.insert(at, id);
    }

    fn register(&mut self, id: usize) -> Result<(), Failed> {
        if self.chain.contains(&id) {
            return Err(plain_error(ErrorKind::AlreadyRegistered, Errno::EEXIST));
        }
        self.insert(id);
        Ok(())
    }

    fn replay(&mut self, id: usize) -> Result<(), Failed> {
        if self.chain.contains(&id) {
            return Err(plain_error(ErrorKind::AlreadyRegistered, Errno::EEXIST));
        }
        let mut done = Vec::new();
        for cpu in 0..CPUS as u32 {
            if !self.online[cpu as usize] {
                continue;
            }
            self.heard(id, CpuEvent::UpPrepare, cpu);
            if let Some(e) = self.specs[id].up[cpu as usize].veto() {
                for &d in done.iter().rev() {
                    self.heard(id, CpuEvent::DownPrepare, d);
                    self.heard(id, CpuEvent::Dead, d);
                }
                // Reported as a failure of notify:prepare for that CPU.
                return Err(callback_error(e, NOTIFY_PREPARE, true));
            }
            self.heard(id, CpuEvent::Online, cpu);
            done.push(cpu);
        }
        self.insert(id);
        Ok(())
    }

    fn unregister(&mut self, id: usize) -> Result<(), Failed> {
        match self.chain.iter().position(|&o| o == id) {
            Some(at) => {
                self.chain.remove(at);
                Ok(())
            }
            None => Err(plain_error(ErrorKind::NotRegistered, Errno::ENOENT)),
        }
    }
}

// ----- the test -------------------------------------------------------------------------------

fn run(specs: Vec<Spec>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let plan: Plan = Arc::new(Mutex::new(None));
    let mut hp = Hotplug::new(&DEMO, Topology::new(CPUS as u32), Inline).unwrap();
    hp.enable_cpu_notifiers(None).unwrap();
    let slots = hp.legacy_slots().unwrap();
    prop_assert_eq!(
        (slots.prepare, slots.starting, slots.online),
        (NOTIFY_PREPARE, NOTIFY_STARTING, NOTIFY_ONLINE)
    );

    let (l1, p1, l2) = (log.clone(), plan.clone(), log.clone());
    let prep = hp
        .setup_state(
            Slot::PrepareDyn,
            "test:prepare",
            Prepare::new()
                .startup(move |c| state_callback(&l1, &p1, S_PREPARE, true, c))
                .teardown(move |c| {
                    l2.lock().unwrap().push(Entry::State {
                        state: S_PREPARE,
                        up: false,
                        cpu: c.0,
                    })
                }),
        )
        .unwrap();
    prop_assert_eq!(prep, StateId(S_PREPARE));
    let (l1, p1, l2, p2) = (log.clone(), plan.clone(), log.clone(), plan.clone());
    let onl = hp
        .setup_state(
            Slot::OnlineDyn,
            "test:online",
            Online::new()
                .startup(move |c| state_callback(&l1, &p1, S_ONLINE, true, c))
                .teardown(move |c| state_callback(&l2, &p2, S_ONLINE, false, c)),
        )
        .unwrap();
    prop_assert_eq!(onl, StateId(S_ONLINE));

    let blocks: Vec<Arc<NotifierBlock<Recorder>>> = specs
        .iter()
        .enumerate()
        .map(|(id, &spec)| {
            Arc::new(NotifierBlock::new(
                Recorder {
                    id,
                    spec,
                    log: log.clone(),
                },
                spec.priority,
            ))
        })
        .collect();
    let mut model = Model {
        specs: specs.clone(),
        chain: Vec::new(),
        online: [true; CPUS],
        log: Vec::new(),
    };
    for (id, spec) in specs.iter().enumerate() {
        if spec.initially {
            hp.register_cpu_notifier(blocks[id].clone()).unwrap();
            model.insert(id);
        }
    }
    log.lock().unwrap().clear();

    let n = specs.len();
    for (step, op) in ops.into_iter().enumerate() {
        let op = match op {
            Op::Toggle { cpu, down, .. } if model.online[cpu as usize] => {
                Op::Down { cpu, fail: down }
            }
            Op::Toggle { cpu, up, .. } => Op::Up { cpu, fail: up },
            op => op,
        };
        model.log.clear();
        // The planned failure: (the step that fails, startup?, whether it is a `Fault`).
        let mut planned: Option<(StateId, bool, bool)> = None;
        let (expected, actual) = match op {
            Op::Up { cpu, fail } => {
                let c = CpuId(cpu);
                match fail {
                    UpFail::None => {}
                    UpFail::PrepareState(e) => {
                        *plan.lock().unwrap() = Some((S_PREPARE, true, e));
                        planned = Some((StateId(S_PREPARE), true, false));
                    }
                    UpFail::OnlineState(e) => {
                        *plan.lock().unwrap() = Some((S_ONLINE, true, e));
                        planned = Some((StateId(S_ONLINE), true, false));
                    }
                    UpFail::KickAp(e)
                    | UpFail::BringupCpu(e)
                    | UpFail::NotifyOnline(e)
                    | UpFail::SchedActive(e) => {
                        let state = match fail {
                            UpFail::KickAp(_) => KICK_AP,
                            UpFail::BringupCpu(_) => BRINGUP_CPU,
                            UpFail::NotifyOnline(_) => NOTIFY_ONLINE,
                            _ => SCHED_ACTIVE,
                        };
                        hp.inject(Fault::startup(state, e).on_cpu(c).once());
                        planned = Some((state, true, true));
                    }
                }
                (model.cpu_up(cpu, fail), outcome(hp.cpu_up(c, ONLINE)))
            }
            Op::Down { cpu, fail } => {
                let c = CpuId(cpu);
                match fail {
                    DownFail::None => {}
                    DownFail::OnlineState(e) => {
                        *plan.lock().unwrap() = Some((S_ONLINE, false, e));
                        planned = Some((StateId(S_ONLINE), false, false));
                    }
                    DownFail::SchedActive(e)
                    | DownFail::NotifyOnline(e)
                    | DownFail::TakedownCpu(e) => {
                        let state = match fail {
                            DownFail::SchedActive(_) => SCHED_ACTIVE,
                            DownFail::NotifyOnline(_) => NOTIFY_ONLINE,
                            _ => TEARDOWN_CPU,
                        };
                        hp.inject(Fault::teardown(state, e).on_cpu(c).once());
                        planned = Some((state, false, true));
                    }
                }
                (model.cpu_down(cpu, fail), outcome(hp.cpu_down(c, OFFLINE)))
            }
            Op::Register { pick } => {
                let id = pick % n;
                (
                    model.register(id),
                    outcome(hp.register_cpu_notifier(blocks[id].clone())),
                )
            }
            Op::Replay { pick } => {
                let id = pick % n;
                (
                    model.replay(id),
                    outcome(hp.register_cpu_notifier_replay(blocks[id].clone())),
                )
            }
            Op::Unregister { pick } => {
                let id = pick % n;
                (
                    model.unregister(id),
                    outcome(hp.unregister_cpu_notifier(&blocks[id])),
                )
            }
            Op::Toggle { .. } => unreachable!("resolved above"),
        };
        let got = std::mem::take(&mut *log.lock().unwrap());
        let ctx = || {
            format!(
                "step {step}: {op:?}\n  chain after (model): {:?}\n  expected log {:?}\n  actual log   {:?}",
                model.chain, model.log, got
            )
        };
        prop_assert_eq!(&actual, &expected, "result\n{}", ctx());
        prop_assert_eq!(&got, &model.log, "log\n{}", ctx());

        // Did the planned failure fire exactly when the model says it was reached?
        if let Some((state, bringup, is_fault)) = planned {
            let fired = matches!(expected, Err(f) if f.failure == Some((state, bringup)));
            let left = if is_fault {
                !hp.faults().is_empty()
            } else {
                plan.lock().unwrap().is_some()
            };
            prop_assert_eq!(left, !fired, "planned failure fired?\n{}", ctx());
        }
        hp.clear_faults();
        *plan.lock().unwrap() = None;

        let mask: Vec<u32> = hp.online_mask().iter().map(|c| c.0).collect();
        let want: Vec<u32> = (0..CPUS as u32)
            .filter(|&c| model.online[c as usize])
            .collect();
        prop_assert_eq!(mask, want, "online mask\n{}", ctx());
        for c in 0..CPUS as u32 {
            let state = hp.cpu_status(CpuId(c)).unwrap().state;
            let want = if model.online[c as usize] {
                ONLINE
            } else {
                OFFLINE
            };
            prop_assert_eq!(state, want, "CPU {} state\n{}", c, ctx());
        }
        prop_assert_eq!(
            hp.cpu_notifiers(),
            model.chain.len(),
            "chain length\n{}",
            ctx()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn legacy_notifiers_match_the_reference_model(
        specs in prop::collection::vec(spec(), 1..=5),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(specs, ops)?;
    }
}
