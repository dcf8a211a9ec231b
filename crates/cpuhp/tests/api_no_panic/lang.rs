//! The operation language of the "no panic, no hang" tests: every public operation of
//! [`Hotplug`] with arbitrary arguments, an executor that checks the invariants after every step,
//! and a byte decoder for the cargo-fuzz target (`crates/cpuhp/fuzz`), which includes this file.
//!
//! The invariants are read from the public API only:
//!
//! * sysfs agrees with the typed API: every CPU's `hotplug/{state,target,fail}`, the `online`,
//!   `present` and `possible` masks, `hotplug/states`;
//! * at rest a CPU is online exactly when it is at or above `ap_online_idle`, active exactly when
//!   at or above `ap_active`, and never stands inside the bring-up/STARTING stretch;
//! * a failed single-CPU operation leaves every CPU where it was, unless its error reports a
//!   rollback failure; installing or removing states and instances never moves a CPU;
//! * a reference model of the installed states (number → name) and of each state's instances
//!   equals what `states()` / `instances()` report.
//!
//! Once an error reports a rollback failure the machine is, as in Linux, undefined: the case goes
//! on (nothing may panic or hang) but only the sysfs-agreement invariants are checked.

#![allow(dead_code)] // each includer uses its own part

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cpuhp::legacy::{CpuAction, CpuEvent, CpuNotifier, LegacySlots, Typed};
use cpuhp::{
    Callbacks, CpuId, Errno, Error, ErrorKind, Fault, Hotplug, InstanceId, Online, OnlineMulti,
    Platform, Prepare, PrepareMulti, Slot, SmtControl, Starting, StartingMulti, StateId,
};
use notifier::{Notifier, NotifierBlock, NotifyResult, Verdict};

/// A callback's section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sec {
    /// PREPARE (control side).
    Prepare,
    /// STARTING (on the CPU, interrupts off; cannot fail).
    Starting,
    /// ONLINE (the CPU's hotplug thread).
    Online,
}

/// A call back into the machine from inside a callback (simulator only; a no-op inline, where
/// the borrow checker already forbids it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reenter {
    /// `cpu_up(cpu, online)`.
    CpuUp(u32),
    /// `cpu_down(cpu, offline)`.
    CpuDown(u32),
    /// `setup_state(OnlineDyn, …)` of a state without callbacks.
    Setup,
    /// `remove_state(n)`.
    Remove(u32),
    /// `sysfs_read("online")`.
    SysfsRead,
    /// `sysfs_write("cpuN/hotplug/target", "0")`.
    SysfsWrite(u32),
    /// `cpus_read_lock()`, dropped at once.
    ReadLock,
    /// `with(|hp| hp.nr_cpus())`.
    With,
    /// `cpu_hotplug_disable()` (and `enable` if it worked).
    Disable,
    /// `freeze_secondary_cpus(None)` (and thaw if it worked).
    Freeze,
    /// `bringup_cpus_parallel(&[cpu])`.
    Parallel(u32),
}

/// What a callback does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beh {
    /// Succeeds.
    Ok,
    /// Fails with this errno for this CPU (where the section lets it fail).
    FailOn(u32, Errno),
    /// Fails everywhere (where the section lets it fail).
    Fail(Errno),
    /// Calls back into the machine, then succeeds.
    Reenter(Reenter),
}

/// A state's callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cbs {
    /// The section the callbacks are typed for.
    pub sec: Sec,
    /// Multi-instance (`*Multi<u32>`).
    pub multi: bool,
    /// The startup, if any.
    pub startup: Option<Beh>,
    /// The teardown, if any.
    pub teardown: Option<Beh>,
}

/// Where a new state goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotPick {
    /// `Slot::PrepareDyn`.
    PrepareDyn,
    /// `Slot::OnlineDyn`.
    OnlineDyn,
    /// `Slot::Fixed(n)`, any `n`.
    Fixed(u32),
}

/// A new state's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamePick {
    /// A name no state has.
    Fresh,
    /// The name of the `i`-th installed state.
    Dup(usize),
    /// This text (possibly empty).
    Text(String),
}

/// Which state an operation names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatePick {
    /// Mostly one of the states the case installed, else the `i`-th installed state.
    Known(usize),
    /// Any number.
    Raw(u32),
}

/// Which instance an operation names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstPick {
    /// The `i`-th instance of the state (modulo their number).
    Known(usize),
    /// Any id.
    Raw(u64),
}

/// A legacy CPU notifier's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifierBeh {
    /// OK to everything.
    Ok,
    /// Vetoes `CPU_UP_PREPARE` (or `CPU_DOWN_PREPARE`) for this CPU with this errno.
    Veto {
        /// `CPU_UP_PREPARE` (`true`) or `CPU_DOWN_PREPARE`.
        up: bool,
        /// Which CPU.
        cpu: u32,
        /// The errno.
        errno: Errno,
    },
    /// Answers `STOP` (`NOTIFY_STOP_MASK` without an error) to every event.
    Stop,
    /// Calls back into the machine on every event, then says OK.
    Reenter(Reenter),
}

/// Whether `bringup_cpus_parallel` may be asked for CPUs that do not exist (see `Op::Parallel`
/// in [`exec`]).
pub const PARALLEL_ANY_CPU: bool = true;

/// How many notifiers a case has (registered and unregistered by index).
pub const NOTIFIERS: usize = 4;

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `cpu_up(cpu, target)`.
    Up { cpu: u32, target: u32 },
    /// `cpu_down(cpu, target)`.
    Down { cpu: u32, target: u32 },
    /// `device_online` / `device_offline`.
    Device { cpu: u32, online: bool },
    /// `setup_state` / `setup_state_nocalls`.
    Setup {
        slot: SlotPick,
        name: NamePick,
        cbs: Cbs,
        calls: bool,
    },
    /// `remove_state` / `remove_state_nocalls`.
    Remove { state: StatePick, calls: bool },
    /// `add_instance(_nocalls)` of a `u32` (or, `wrong_type`, a `u8`).
    AddInstance {
        state: StatePick,
        calls: bool,
        wrong_type: bool,
    },
    /// `remove_instance(_nocalls)`.
    RemoveInstance {
        state: StatePick,
        inst: InstPick,
        calls: bool,
    },
    /// `inject(Fault { .. })`, fields as given.
    Inject {
        state: StatePick,
        bringup: bool,
        cpu: Option<u32>,
        inst: Option<InstPick>,
        errno: Errno,
        times: Option<u32>,
        skip: u32,
    },
    /// `clear_faults()`.
    ClearFaults,
    /// `sysfs_read(path)`.
    SysfsRead(String),
    /// `sysfs_write(path, value)`.
    SysfsWrite(String, String),
    /// `cpu_hotplug_disable()` / `cpu_hotplug_enable()`.
    Hotplug { disable: bool },
    /// `freeze_secondary_cpus(primary)`.
    Freeze(Option<u32>),
    /// `thaw_secondary_cpus()`.
    Thaw,
    /// `set_wakeup_pending(p)`.
    WakeupPending(bool),
    /// `inject_wakeup(after)`.
    InjectWakeup(u32),
    /// `set_smt_control(c)`.
    Smt(SmtControl),
    /// `bringup_cpus_parallel(cpus)`.
    Parallel(Vec<u32>),
    /// `enable_cpu_notifiers(slots)`.
    EnableNotifiers(Option<[u32; 3]>),
    /// `register_cpu_notifier(_replay)` of notifier `id % NOTIFIERS`.
    Register { id: usize, replay: bool },
    /// `unregister_cpu_notifier` of notifier `id % NOTIFIERS`.
    Unregister { id: usize },
    /// The read-only queries about a state: `state_name`, `instances`, `has_callback`,
    /// `find_state`, `cpu_status`, `default_legacy_slots`, …
    Query { state: StatePick, cpu: u32 },
}

/// The interesting strings of sysfs paths and values, for generators and the decoder.
pub const PATH_WORDS: &[&str] = &[
    "online",
    "present",
    "possible",
    "hotplug/states",
    "smt/control",
    "smt/active",
    "cpu/online",
    "cpu-1/online",
    "cpu01/hotplug/state",
    "cpu99999999999999999999/online",
    "cpu0/hotplug/",
    "/sys/devices/system/cpu/",
    "",
    "cpu0//hotplug/state",
    "cpu1/hotplug/states",
];

/// Per-CPU file names.
pub const CPU_FILES: &[&str] = &["online", "hotplug/state", "hotplug/target", "hotplug/fail"];

/// Values written to sysfs files.
pub const VALUE_WORDS: &[&str] = &[
    "0",
    "1",
    "-1",
    "-2",
    "0\n",
    "1\n",
    "+5",
    "99",
    "236",
    "100",
    "2147483647",
    "2147483648",
    "-2147483649",
    "99999999999999999999999",
    "",
    "\n",
    "on",
    "off",
    "forceoff",
    "notsupported",
    "y",
    "N",
    "o",
    "garbage",
    " 1",
    "1 ",
    "0x10",
    "é",
];

/// A sysfs path: `cpuN/file` (N possibly out of range), a fixed word, with or without the
/// `/sys/devices/system/cpu/` prefix and a trailing slash.
pub fn sysfs_path(word: usize, cpu: Option<u32>, prefix: bool, slash: bool) -> String {
    let rel = match cpu {
        Some(n) => format!("cpu{n}/{}", CPU_FILES[word % CPU_FILES.len()]),
        None => PATH_WORDS[word % PATH_WORDS.len()].to_string(),
    };
    let mut p = if prefix {
        format!("/sys/devices/system/cpu/{rel}")
    } else {
        rel
    };
    if slash {
        p.push('/');
    }
    p
}

/// A log of what callbacks and notifiers saw going wrong (they cannot fail a test themselves).
pub type Violations = Arc<Mutex<Vec<String>>>;

/// What a callback tells its hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// A state callback of section `sec` runs for `cpu` (before it does anything else).
    Ran {
        /// Its section.
        sec: Sec,
        /// Startup or teardown.
        startup: bool,
        /// For which CPU.
        cpu: CpuId,
    },
    /// It calls back into the machine.
    Reenter(Reenter),
}

/// Where callbacks report and call back into the machine (the simulator's tests check the
/// context and call back in; inline: nothing).
pub type Hook = Arc<dyn Fn(Call) + Send + Sync>;

/// A hook that does nothing.
pub fn no_hook() -> Hook {
    Arc::new(|_| {})
}

fn behave(
    beh: Beh,
    hook: &Hook,
    sec: Sec,
    startup: bool,
) -> Arc<dyn Fn(CpuId) -> Result<(), Errno> + Send + Sync> {
    let hook = hook.clone();
    Arc::new(move |cpu: CpuId| {
        hook(Call::Ran { sec, startup, cpu });
        match beh {
            Beh::Ok => Ok(()),
            Beh::FailOn(c, e) if c == cpu.0 => Err(e),
            Beh::FailOn(..) => Ok(()),
            Beh::Fail(e) => Err(e),
            Beh::Reenter(r) => {
                hook(Call::Reenter(r));
                Ok(())
            }
        }
    })
}

/// The callbacks `cbs` describes.
pub fn callbacks(cbs: &Cbs, hook: &Hook) -> Callbacks {
    let su = cbs.startup.map(|b| behave(b, hook, cbs.sec, true));
    let td = cbs.teardown.map(|b| behave(b, hook, cbs.sec, false));
    macro_rules! single {
        ($ty:ident, |$f:ident, $cpu:ident| $su:expr, |$g:ident, $cpu2:ident| $td:expr) => {{
            let mut c = $ty::new();
            if let Some($f) = su {
                c = c.startup(move |$cpu: CpuId| $su);
            }
            if let Some($g) = td {
                c = c.teardown(move |$cpu2: CpuId| $td);
            }
            c.into()
        }};
    }
    macro_rules! multi {
        ($ty:ident, |$f:ident, $cpu:ident| $su:expr, |$g:ident, $cpu2:ident| $td:expr) => {{
            let mut c = $ty::<u32>::new();
            if let Some($f) = su {
                c = c.startup(move |$cpu: CpuId, _: &u32| $su);
            }
            if let Some($g) = td {
                c = c.teardown(move |$cpu2: CpuId, _: &u32| $td);
            }
            c.into()
        }};
    }
    match (cbs.sec, cbs.multi) {
        (Sec::Prepare, false) => single!(Prepare, |f, c| f(c), |g, c| g(c).unwrap_or(())),
        (Sec::Starting, false) => single!(Starting, |f, c| f(c).unwrap_or(()), |g, c| g(c)
            .unwrap_or(())),
        (Sec::Online, false) => single!(Online, |f, c| f(c), |g, c| g(c)),
        (Sec::Prepare, true) => multi!(PrepareMulti, |f, c| f(c), |g, c| g(c).unwrap_or(())),
        (Sec::Starting, true) => multi!(StartingMulti, |f, c| f(c).unwrap_or(()), |g, c| g(c)
            .unwrap_or(())),
        (Sec::Online, true) => multi!(OnlineMulti, |f, c| f(c), |g, c| g(c)),
    }
}

/// A legacy notifier's callback.
pub type NotifierFn = Box<dyn Fn(CpuAction, &CpuId) -> NotifyResult + Send + Sync>;

/// A legacy notifier block.
pub type Block = Arc<NotifierBlock<NotifierFn>>;

/// The case's notifiers.
pub fn notifiers(behs: &[NotifierBeh], hook: &Hook) -> Vec<Block> {
    (0..NOTIFIERS)
        .map(|i| {
            let beh = behs.get(i).copied().unwrap_or(NotifierBeh::Ok);
            let hook = hook.clone();
            let f: NotifierFn = if i == NOTIFIERS - 1 {
                // The last one through the typed adapter.
                let typed = Typed(TypedBeh(beh, hook));
                Box::new(move |action: CpuAction, cpu: &CpuId| typed.notify(action, cpu))
            } else {
                Box::new(move |action: CpuAction, cpu: &CpuId| match beh {
                    NotifierBeh::Ok => NotifyResult::OK,
                    NotifierBeh::Veto { up, cpu: c, errno } => {
                        if action.event == veto_event(up) && cpu.0 == c {
                            NotifyResult::from_errno(errno.to_neg())
                        } else {
                            NotifyResult::OK
                        }
                    }
                    NotifierBeh::Stop => NotifyResult::STOP,
                    NotifierBeh::Reenter(r) => {
                        hook(Call::Reenter(r));
                        NotifyResult::OK
                    }
                })
            };
            // Priorities collide on purpose (FIFO among equals).
            Arc::new(NotifierBlock::new(f, (i % 2) as i32))
        })
        .collect()
}

fn veto_event(up: bool) -> CpuEvent {
    if up {
        CpuEvent::UpPrepare
    } else {
        CpuEvent::DownPrepare
    }
}

/// A notifier behaviour as a [`CpuNotifier`].
struct TypedBeh(NotifierBeh, Hook);

impl CpuNotifier for TypedBeh {
    fn prepare(&self, event: CpuEvent, cpu: CpuId, _frozen: bool) -> Verdict {
        match self.0 {
            NotifierBeh::Veto { up, cpu: c, errno } if event == veto_event(up) && cpu.0 == c => {
                Verdict::Errno(errno)
            }
            NotifierBeh::Stop => Verdict::Stop,
            NotifierBeh::Reenter(r) => {
                (self.1)(Call::Reenter(r));
                Verdict::Ok
            }
            _ => Verdict::Ok,
        }
    }

    fn event(&self, _event: CpuEvent, _cpu: CpuId, _frozen: bool) {
        if let NotifierBeh::Reenter(r) = self.0 {
            (self.1)(Call::Reenter(r));
        }
    }
}

/// What the model knows about the machine.
#[derive(Debug, Default)]
pub struct Model {
    /// Installed states: number → (name, instances in any order).
    pub states: BTreeMap<u32, (String, Vec<u64>)>,
    /// Instance values handed out (the `u32` stored with each instance id).
    pub values: BTreeMap<u64, u32>,
    /// An error reported a rollback failure: the machine is undefined from here on.
    pub broken: bool,
    /// Fresh names handed out.
    pub fresh: u32,
    /// The states this case installed, in order (removed ones included).
    pub mine: Vec<u32>,
}

impl Model {
    /// The model of a freshly booted machine.
    pub fn of<P: Platform>(hp: &Hotplug<P>) -> Model {
        let mut m = Model::default();
        m.resync(hp);
        m
    }

    fn resync<P: Platform>(&mut self, hp: &Hotplug<P>) {
        self.states = hp
            .states()
            .into_iter()
            .map(|(s, n)| (s.get(), (n, hp.instances(s).iter().map(|i| i.0).collect())))
            .collect();
    }

    fn state(&self, pick: StatePick) -> StateId {
        self.state_where(pick, |_| true)
    }

    /// Mostly one of the installed states this case set up for which `pred` holds.
    fn state_where(&self, pick: StatePick, pred: impl Fn(&[u64]) -> bool) -> StateId {
        let mine: Vec<u32> = self
            .mine
            .iter()
            .copied()
            .filter(|s| self.states.get(s).is_some_and(|(_, i)| pred(i)))
            .collect();
        match pick {
            StatePick::Raw(n) => StateId(n),
            StatePick::Known(i) if !mine.is_empty() && i % 4 != 0 => {
                StateId(mine[(i / 4) % mine.len()])
            }
            StatePick::Known(i) if !self.states.is_empty() => {
                StateId(*self.states.keys().nth(i % self.states.len()).unwrap_or(&0))
            }
            StatePick::Known(_) => StateId(0),
        }
    }

    fn inst(&self, state: StateId, pick: InstPick) -> InstanceId {
        match pick {
            InstPick::Raw(n) => InstanceId(n),
            InstPick::Known(i) => match self.states.get(&state.get()) {
                Some((_, v)) if !v.is_empty() => InstanceId(v[i % v.len()]),
                _ => InstanceId(i as u64),
            },
        }
    }
}

/// Everything an executor needs besides the machine.
pub struct Env {
    /// The reference model.
    pub model: Model,
    /// The case's notifiers.
    pub blocks: Vec<Block>,
    /// The hook callbacks call back through.
    pub hook: Hook,
}

fn states_of<P: Platform>(hp: &Hotplug<P>) -> Vec<u32> {
    (0..hp.nr_cpus())
        .map(|c| hp.cpu_status(CpuId(c)).map_or(u32::MAX, |s| s.state.get()))
        .collect()
}

/// Checks that an error is well formed: a typed kind whose errno is a real errno, a failing
/// callback named for `Callback` errors, and that it displays.
fn check_error(e: &Error) -> Result<(), String> {
    let code = e.errno().code();
    if !(1..=4095).contains(&code) {
        return Err(format!("errno {code} out of range in {e:?}"));
    }
    if e.kind() == ErrorKind::Callback && e.failure().is_none() {
        return Err(format!(
            "a Callback error without the failing callback: {e:?}"
        ));
    }
    if e.to_string().is_empty() {
        return Err(format!("{e:?} displays as nothing"));
    }
    Ok(())
}

/// How an operation may move CPUs when it fails.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Moves {
    /// Never (install operations, queries, knobs).
    Never,
    /// Only on success, or with a rollback failure reported (one CPU's up/down).
    OnSuccess,
    /// Any way (many CPUs, one after the other: freeze, thaw, SMT, parallel bring-up).
    Any,
}

/// Checks the outcome of `cpu_up`/`cpu_down(cpu, target)`: refused while hotplug is disabled;
/// on success the CPU is at `want`.
#[allow(clippy::too_many_arguments)]
fn updown<P: Platform>(
    hp: &Hotplug<P>,
    model: &Model,
    what: &str,
    cpu: u32,
    target: u32,
    disabled: bool,
    r: &Result<(), Error>,
    before: &[u32],
    want: Option<u32>,
) -> Result<(), String> {
    if disabled && r.is_ok() {
        return Err(format!(
            "{what}({cpu}, {target}) worked with hotplug disabled"
        ));
    }
    let now = states_of(hp);
    if r.is_ok() && !model.broken && now.get(cpu as usize).copied() != want {
        return Err(format!("{what}({cpu}, {target}) from {before:?}: {now:?}"));
    }
    Ok(())
}

/// Runs one operation and checks its result and the invariants after it.
pub fn exec<P: Platform>(hp: &mut Hotplug<P>, env: &mut Env, op: &Op) -> Result<(), String> {
    let before = states_of(hp);
    let disabled = hp.cpu_hotplug_disabled();
    let mut moves = Moves::Never;
    let res: Result<(), Error> = match op {
        &Op::Up { cpu, target } => {
            moves = Moves::OnSuccess;
            let r = hp.cpu_up(CpuId(cpu), StateId(target));
            // A CPU brought up stops exactly at its target (or stays, if it was above).
            let want = before.get(cpu as usize).map(|&b| b.max(target));
            updown(
                hp, &env.model, "cpu_up", cpu, target, disabled, &r, &before, want,
            )?;
            r
        }
        &Op::Down { cpu, target } => {
            moves = Moves::OnSuccess;
            let r = hp.cpu_down(CpuId(cpu), StateId(target));
            let want = before.get(cpu as usize).map(|&b| b.min(target));
            updown(
                hp, &env.model, "cpu_down", cpu, target, disabled, &r, &before, want,
            )?;
            r
        }
        &Op::Device { cpu, online } => {
            moves = Moves::OnSuccess;
            if online {
                hp.device_online(CpuId(cpu))
            } else {
                hp.device_offline(CpuId(cpu))
            }
        }
        Op::Setup {
            slot,
            name,
            cbs,
            calls,
        } => {
            let slot = match *slot {
                SlotPick::PrepareDyn => Slot::PrepareDyn,
                SlotPick::OnlineDyn => Slot::OnlineDyn,
                SlotPick::Fixed(n) => Slot::Fixed(StateId(n)),
            };
            let name = match name {
                NamePick::Fresh => {
                    env.model.fresh += 1;
                    format!("t/{}", env.model.fresh)
                }
                NamePick::Dup(i) => {
                    let names: Vec<&String> = env.model.states.values().map(|(n, _)| n).collect();
                    match names.len() {
                        0 => "dup".to_string(),
                        n => names[i % n].clone(),
                    }
                }
                NamePick::Text(t) => t.clone(),
            };
            let cbs = callbacks(cbs, &env.hook);
            let r = if *calls {
                hp.setup_state(slot, name.clone(), cbs)
            } else {
                hp.setup_state_nocalls(slot, name.clone(), cbs)
            };
            match r {
                Ok(s) => {
                    if env.model.states.contains_key(&s.get()) {
                        return Err(format!("setup_state handed out {s}, which is installed"));
                    }
                    env.model.states.insert(s.get(), (name, Vec::new()));
                    env.model.mine.push(s.get());
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        &Op::Remove { state, calls } => {
            let s = env.model.state(state);
            let r = if calls {
                hp.remove_state(s)
            } else {
                hp.remove_state_nocalls(s)
            };
            if r.is_ok() {
                match env.model.states.remove(&s.get()) {
                    Some((_, insts)) if !insts.is_empty() => {
                        return Err(format!("removed {s}, which has instances {insts:?}"));
                    }
                    Some(_) => {}
                    None => return Err(format!("removed {s}, which was not installed")),
                }
            }
            r
        }
        &Op::AddInstance {
            state,
            calls,
            wrong_type,
        } => {
            let s = env.model.state(state);
            let value = env.model.values.len() as u32 + 1000;
            let r = match (calls, wrong_type) {
                (true, false) => hp.add_instance(s, value),
                (false, false) => hp.add_instance_nocalls(s, value),
                (true, true) => hp.add_instance(s, value as u8),
                (false, true) => hp.add_instance_nocalls(s, value as u8),
            };
            match r {
                Ok(id) => {
                    let Some((_, insts)) = env.model.states.get_mut(&s.get()) else {
                        return Err(format!("added instance {id:?} to {s}, not installed"));
                    };
                    if insts.contains(&id.0) {
                        return Err(format!("instance id {id:?} handed out twice"));
                    }
                    insts.push(id.0);
                    if !wrong_type {
                        env.model.values.insert(id.0, value);
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        &Op::RemoveInstance { state, inst, calls } => {
            let s = env.model.state_where(state, |i| !i.is_empty());
            let i = env.model.inst(s, inst);
            let r = if calls {
                hp.remove_instance(s, i)
            } else {
                hp.remove_instance_nocalls(s, i)
            };
            match r {
                Ok(value) => {
                    let Some((_, insts)) = env.model.states.get_mut(&s.get()) else {
                        return Err(format!("removed instance {i:?} of {s}, not installed"));
                    };
                    let Some(at) = insts.iter().position(|&x| x == i.0) else {
                        return Err(format!("removed instance {i:?}, unknown to {s}"));
                    };
                    insts.remove(at);
                    if let Some(want) = env.model.values.get(&i.0) {
                        if value.downcast_ref::<u32>() != Some(want) {
                            return Err(format!("instance {i:?} came back as another value"));
                        }
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        &Op::Inject {
            state,
            bringup,
            cpu,
            inst,
            errno,
            times,
            skip,
        } => {
            let s = env.model.state(state);
            let fault = Fault {
                state: s,
                cpu: cpu.map(CpuId),
                bringup,
                instance: inst.map(|p| env.model.inst(s, p)),
                errno,
                times,
                skip,
            };
            let n = hp.faults().len();
            hp.inject(fault);
            let want = n + usize::from(times != Some(0));
            if hp.faults().len() != want {
                return Err(format!(
                    "{} faults after injecting one to {n}",
                    hp.faults().len()
                ));
            }
            Ok(())
        }
        Op::ClearFaults => {
            hp.clear_faults();
            if !hp.faults().is_empty() {
                return Err("faults left after clear_faults".into());
            }
            Ok(())
        }
        Op::SysfsRead(path) => {
            if let Ok(text) = hp.sysfs_read(path) {
                if !text.ends_with('\n') && !text.is_empty() {
                    return Err(format!("sysfs_read({path:?}) = {text:?}: no newline"));
                }
            }
            Ok(())
        }
        Op::SysfsWrite(path, value) => {
            let rel = path
                .strip_prefix("/sys/devices/system/cpu/")
                .unwrap_or(path);
            moves = if rel.starts_with("smt") {
                Moves::Any
            } else {
                Moves::OnSuccess
            };
            match hp.sysfs_write(path, value) {
                Ok(()) => {
                    // A written target is where the CPU ends; a written fail is armed.
                    let file = rel.trim_end_matches('/').strip_prefix("cpu");
                    let (cpu, file) = file.and_then(|f| f.split_once('/')).unwrap_or(("", ""));
                    let (Ok(cpu), Ok(v)) = (cpu.parse::<u32>(), value.trim_end().parse::<i64>())
                    else {
                        return check(hp, &env.model);
                    };
                    let st = hp
                        .cpu_status(CpuId(cpu))
                        .ok_or("wrote a CPU without status")?;
                    let ok = match file {
                        "hotplug/target" => env.model.broken || i64::from(st.state.get()) == v,
                        "hotplug/fail" => st.fail.map_or(-1, |s| i64::from(s.get())) == v,
                        _ => true,
                    };
                    if !ok {
                        return Err(format!("wrote {value:?} to {path}; now {st:?}"));
                    }
                    Ok(())
                }
                Err(errno) => {
                    // Errno only: a rollback failure cannot be told apart; a CPU that moved
                    // on a failed write is checked only when the machine is not broken.
                    if !(1..=4095).contains(&errno.code()) {
                        return Err(format!("sysfs_write errno {errno:?}"));
                    }
                    if moves == Moves::OnSuccess && states_of(hp) != before {
                        // A callback may have failed during rollback: ask the errno-free way.
                        env.model.broken = true;
                    }
                    Ok(())
                }
            }
        }
        &Op::Hotplug { disable } => {
            if disable {
                hp.cpu_hotplug_disable();
                if !hp.cpu_hotplug_disabled() {
                    return Err("cpu_hotplug_disable did not disable".into());
                }
                Ok(())
            } else {
                hp.cpu_hotplug_enable()
            }
        }
        &Op::Freeze(primary) => {
            moves = Moves::Any;
            let r = hp.freeze_secondary_cpus(primary.map(CpuId));
            if r.is_ok() && !env.model.broken && hp.online_mask().weight() != 1 {
                return Err(format!("froze; still online: {}", hp.online_mask()));
            }
            r
        }
        Op::Thaw => {
            moves = Moves::Any;
            hp.thaw_secondary_cpus()
        }
        &Op::WakeupPending(p) => {
            hp.set_wakeup_pending(p);
            Ok(())
        }
        &Op::InjectWakeup(n) => {
            hp.inject_wakeup(n);
            Ok(())
        }
        &Op::Smt(c) => {
            moves = Moves::Any;
            let r = hp.set_smt_control(c);
            if r.is_ok() && hp.smt_control() != c {
                return Err(format!("set_smt_control({c}) left {}", hp.smt_control()));
            }
            if r.is_ok() && c != SmtControl::On && !env.model.broken && hp.smt_active() {
                return Err(format!("SMT {c}, yet active: online {}", hp.online_mask()));
            }
            r
        }
        Op::Parallel(cpus) => {
            moves = Moves::Any;
            // Known bug, being fixed by the lead (`parallel.rs`): a CPU that does not exist
            // panics `bringup_cpus_parallel` (regression test
            // `bringup_cpus_parallel_with_a_cpu_that_does_not_exist`). Until then only CPUs
            // that exist are asked for.
            let nr = hp.nr_cpus();
            let cpus: Vec<CpuId> = cpus
                .iter()
                .filter(|&&c| PARALLEL_ANY_CPU || c < nr)
                .map(|&c| CpuId(c))
                .collect();
            let outcomes = hp.bringup_cpus_parallel(&cpus);
            if outcomes.len() != cpus.len() {
                return Err(format!(
                    "{} outcomes for {} CPUs",
                    outcomes.len(),
                    cpus.len()
                ));
            }
            for (cpu, r) in &outcomes {
                match r {
                    Ok(()) if !hp.online_mask().contains(*cpu) => {
                        return Err(format!("parallel bring-up of {cpu} said OK; not online"));
                    }
                    Err(e) => {
                        check_error(e)?;
                        if e.rollback_failure().is_some() {
                            env.model.broken = true;
                        }
                    }
                    Ok(()) => {}
                }
            }
            Ok(())
        }
        Op::EnableNotifiers(slots) => {
            let slots = slots.map(|[p, s, o]| LegacySlots {
                prepare: StateId(p),
                starting: StateId(s),
                online: StateId(o),
            });
            let r = hp.enable_cpu_notifiers(slots);
            if r.is_ok() {
                let Some(got) = hp.legacy_slots() else {
                    return Err("enable_cpu_notifiers worked; no legacy slots".into());
                };
                for (s, name) in [
                    (got.prepare, "notify:prepare"),
                    (got.starting, "notify:starting"),
                    (got.online, "notify:online"),
                ] {
                    if env
                        .model
                        .states
                        .insert(s.get(), (name.to_string(), Vec::new()))
                        .is_some()
                    {
                        return Err(format!("a bridge state took installed state {s}"));
                    }
                }
            }
            r
        }
        &Op::Register { id, replay } => {
            let b = env.blocks[id % env.blocks.len()].clone();
            let n = hp.cpu_notifiers();
            let r = if replay {
                moves = Moves::Never;
                hp.register_cpu_notifier_replay(b)
            } else {
                hp.register_cpu_notifier(b)
            };
            let want = n + usize::from(r.is_ok());
            if hp.cpu_notifiers() != want {
                return Err(format!("{} notifiers, want {want}", hp.cpu_notifiers()));
            }
            r
        }
        &Op::Unregister { id } => {
            let b = env.blocks[id % env.blocks.len()].clone();
            hp.unregister_cpu_notifier(&b)
        }
        &Op::Query { state, cpu } => {
            let s = env.model.state(state);
            let name = hp.state_name(s).map(str::to_string);
            if let Some(n) = &name {
                if hp.find_state(n).is_none() {
                    return Err(format!("find_state({n:?}) finds nothing"));
                }
            }
            let _ = (hp.has_callback(s, true), hp.has_callback(s, false));
            let _ = hp.instances(s);
            let st = hp.cpu_status(CpuId(cpu));
            if st.is_some() != (cpu < hp.nr_cpus()) {
                return Err(format!(
                    "cpu_status({cpu}) = {st:?} with {} CPUs",
                    hp.nr_cpus()
                ));
            }
            let _ = (hp.default_legacy_slots(), hp.legacy_slots());
            let _ = (
                hp.smt_active(),
                hp.tasks_frozen(),
                hp.cpu_notifiers_enabled(),
            );
            let _ = (hp.active_mask(), hp.present_mask(), hp.possible_mask());
            let _ = (format!("{hp:?}"), hp.layout(), hp.platform());
            Ok(())
        }
    };
    if let Err(e) = &res {
        check_error(e)?;
        if e.rollback_failure().is_some() {
            env.model.broken = true;
        }
        if !env.model.broken && moves == Moves::OnSuccess && states_of(hp) != before {
            return Err(format!(
                "{op:?} failed ({e}) without a rollback failure, yet CPUs moved: {before:?} -> {:?}",
                states_of(hp)
            ));
        }
    }
    if moves == Moves::Never && states_of(hp) != before {
        return Err(format!(
            "{op:?} ({res:?}) moved CPUs: {before:?} -> {:?}",
            states_of(hp)
        ));
    }
    check(hp, &env.model)
}

/// The invariants (see the module documentation).
pub fn check<P: Platform>(hp: &Hotplug<P>, model: &Model) -> Result<(), String> {
    let sysfs = |path: &str| {
        hp.sysfs_read(path)
            .map_err(|e| format!("sysfs_read({path:?}): {e:?}"))
    };
    let l = *hp.layout();
    for c in 0..hp.nr_cpus() {
        let cpu = CpuId(c);
        let st = hp
            .cpu_status(cpu)
            .ok_or_else(|| format!("no status for {cpu}"))?;
        let fail = st.fail.map_or("-1".to_string(), |s| s.to_string());
        for (file, want) in [
            ("state", st.state.to_string()),
            ("target", st.target.to_string()),
            ("fail", fail),
        ] {
            let got = sysfs(&format!("cpu{c}/hotplug/{file}"))?;
            if got != format!("{want}\n") {
                return Err(format!(
                    "cpu{c}/hotplug/{file} = {got:?}, status says {want}"
                ));
            }
        }
        if model.broken {
            continue;
        }
        let online = st.state >= l.ap_online_idle;
        if hp.online_mask().contains(cpu) != online {
            return Err(format!(
                "{cpu} at {} but online mask {}",
                st.state,
                hp.online_mask()
            ));
        }
        if hp.active_mask().contains(cpu) != (st.state >= l.ap_active) {
            return Err(format!(
                "{cpu} at {} but active mask {}",
                st.state,
                hp.active_mask()
            ));
        }
        if st.state >= l.bringup_cpu && st.state <= l.teardown_cpu || st.state > l.online {
            return Err(format!("{cpu} rests at {}", st.state));
        }
        if !hp.present_mask().contains(cpu) && st.state != StateId::OFFLINE {
            return Err(format!("{cpu} is not present but at {}", st.state));
        }
    }
    for (file, mask) in [
        ("online", hp.online_mask()),
        ("present", hp.present_mask()),
        ("possible", hp.possible_mask()),
    ] {
        let got = sysfs(file)?;
        if got != format!("{mask}\n") {
            return Err(format!("{file} = {got:?}, mask says {mask}"));
        }
    }
    let listed: String = hp
        .states()
        .iter()
        .map(|(s, n)| format!("{:3}: {n}\n", s.get()))
        .collect();
    if sysfs("hotplug/states")? != listed {
        return Err("hotplug/states differs from states()".into());
    }
    let installed: BTreeMap<u32, (String, Vec<u64>)> = hp
        .states()
        .into_iter()
        .map(|(s, n)| {
            let mut i: Vec<u64> = hp.instances(s).iter().map(|i| i.0).collect();
            i.sort_unstable();
            (s.get(), (n, i))
        })
        .collect();
    let mut want = model.states.clone();
    for (_, insts) in want.values_mut() {
        insts.sort_unstable();
    }
    if installed != want {
        return Err(format!(
            "installed states differ from the model:\n got  {installed:?}\n want {want:?}"
        ));
    }
    Ok(())
}

/// Reads bytes as an operation list (for the fuzz target): each operation is a tag byte and
/// its arguments; running out of bytes reads zeros.
pub struct Decoder<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Decoder { data, at: 0 }
    }

    /// Whether every byte was read.
    pub fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    /// The next byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// A small number mostly, sometimes a huge one.
    fn num(&mut self, small: u32) -> u32 {
        match self.byte() {
            0..=239 => u32::from(self.byte()) % small.max(1),
            240..=247 => u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]),
            248..=251 => u32::MAX,
            _ => u32::from(self.byte()),
        }
    }

    fn errno(&mut self) -> Errno {
        Errno::new(i32::from(self.byte() % 133) + 1).unwrap_or(Errno::EIO)
    }

    fn reenter(&mut self) -> Reenter {
        match self.byte() % 11 {
            0 => Reenter::CpuUp(self.num(4)),
            1 => Reenter::CpuDown(self.num(4)),
            2 => Reenter::Setup,
            3 => Reenter::Remove(self.num(100)),
            4 => Reenter::SysfsRead,
            5 => Reenter::SysfsWrite(self.num(4)),
            6 => Reenter::ReadLock,
            7 => Reenter::With,
            8 => Reenter::Disable,
            9 => Reenter::Freeze,
            _ => Reenter::Parallel(self.num(4)),
        }
    }

    fn beh(&mut self) -> Option<Beh> {
        match self.byte() % 8 {
            0 => None,
            1 => Some(Beh::FailOn(self.num(4), self.errno())),
            2 => Some(Beh::Fail(self.errno())),
            3 => Some(Beh::Reenter(self.reenter())),
            _ => Some(Beh::Ok),
        }
    }

    fn state(&mut self) -> StatePick {
        if self.byte() < 200 {
            StatePick::Known(usize::from(self.byte()))
        } else {
            StatePick::Raw(self.num(240))
        }
    }

    fn inst(&mut self) -> InstPick {
        if self.byte() < 200 {
            InstPick::Known(usize::from(self.byte()))
        } else {
            InstPick::Raw(u64::from(self.num(64)))
        }
    }

    fn text(&mut self, words: &[&str]) -> String {
        let n = self.byte();
        if n < 200 {
            words[usize::from(n) % words.len()].to_string()
        } else {
            let len = usize::from(self.byte() % 12);
            let bytes: Vec<u8> = (0..len).map(|_| self.byte()).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }

    /// The notifiers' behaviours.
    pub fn notifier_behs(&mut self) -> Vec<NotifierBeh> {
        (0..NOTIFIERS)
            .map(|_| match self.byte() % 6 {
                0 => NotifierBeh::Veto {
                    up: self.bool(),
                    cpu: self.num(4),
                    errno: self.errno(),
                },
                1 => NotifierBeh::Stop,
                2 => NotifierBeh::Reenter(self.reenter()),
                _ => NotifierBeh::Ok,
            })
            .collect()
    }

    /// The next operation.
    pub fn op(&mut self) -> Op {
        match self.byte() % 24 {
            0 | 1 => Op::Up {
                cpu: self.num(5),
                target: self.num(240),
            },
            2 | 3 => Op::Down {
                cpu: self.num(5),
                target: self.num(240),
            },
            4 => Op::Device {
                cpu: self.num(5),
                online: self.bool(),
            },
            5 | 6 => {
                let slot = match self.byte() % 3 {
                    0 => SlotPick::PrepareDyn,
                    1 => SlotPick::OnlineDyn,
                    _ => SlotPick::Fixed(self.num(240)),
                };
                let name = match self.byte() % 6 {
                    0 => NamePick::Dup(usize::from(self.byte())),
                    1 => NamePick::Text(self.text(&["", "x", "online"])),
                    _ => NamePick::Fresh,
                };
                let sec = match self.byte() % 3 {
                    0 => Sec::Prepare,
                    1 => Sec::Starting,
                    _ => Sec::Online,
                };
                Op::Setup {
                    slot,
                    name,
                    cbs: Cbs {
                        sec,
                        multi: self.bool(),
                        startup: self.beh(),
                        teardown: self.beh(),
                    },
                    calls: self.byte() % 4 != 0,
                }
            }
            7 => Op::Remove {
                state: self.state(),
                calls: self.byte() % 4 != 0,
            },
            8 => Op::AddInstance {
                state: self.state(),
                calls: self.byte() % 4 != 0,
                wrong_type: self.byte() % 8 == 0,
            },
            9 => Op::RemoveInstance {
                state: self.state(),
                inst: self.inst(),
                calls: self.byte() % 4 != 0,
            },
            10 => Op::Inject {
                state: self.state(),
                bringup: self.bool(),
                cpu: self.bool().then(|| self.num(5)),
                inst: self.bool().then(|| self.inst()),
                errno: self.errno(),
                times: self.bool().then(|| self.num(4)),
                skip: self.num(4),
            },
            11 => Op::ClearFaults,
            12 => {
                let cpu = self.bool().then(|| self.num(5));
                let word = usize::from(self.byte());
                Op::SysfsRead(sysfs_path(word, cpu, self.bool(), self.byte() % 8 == 0))
            }
            13 | 14 => {
                let cpu = self.bool().then(|| self.num(5));
                let word = usize::from(self.byte());
                let path = sysfs_path(word, cpu, self.bool(), self.byte() % 8 == 0);
                Op::SysfsWrite(path, self.text(VALUE_WORDS))
            }
            15 => Op::Hotplug {
                disable: self.bool(),
            },
            16 => Op::Freeze(self.bool().then(|| self.num(5))),
            17 => Op::Thaw,
            18 => match self.byte() % 2 {
                0 => Op::WakeupPending(self.bool()),
                _ => Op::InjectWakeup(self.num(4)),
            },
            19 => Op::Smt(match self.byte() % 4 {
                0 => SmtControl::On,
                1 => SmtControl::Off,
                2 => SmtControl::ForceOff,
                _ => SmtControl::NotSupported,
            }),
            20 => {
                let n = self.byte() % 6;
                Op::Parallel((0..n).map(|_| self.num(4)).collect())
            }
            21 => Op::EnableNotifiers(
                self.bool()
                    .then(|| [self.num(100), self.num(100), self.num(100)]),
            ),
            22 => match self.byte() % 3 {
                0 => Op::Unregister {
                    id: usize::from(self.byte()),
                },
                r => Op::Register {
                    id: usize::from(self.byte()),
                    replay: r == 2,
                },
            },
            _ => Op::Query {
                state: self.state(),
                cpu: self.num(5),
            },
        }
    }
}
