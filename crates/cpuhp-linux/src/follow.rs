//! [`Follower`]: userspace cpuhp states that follow the kernel's CPUs.
//!
//! A follower is a [`cpuhp::Hotplug`] whose CPUs mirror the kernel's online set, with the
//! program's states installed in its ONLINE section ([`cpuhp::Online`] callbacks, as in the
//! simulator). Its platform runs each CPU's callbacks on a thread pinned to that CPU with
//! `sched_setaffinity(2)` — the model of a CPU's hotplug thread. When the kernel brings a CPU
//! online, the follower brings its model CPU up (the startups run, on that CPU); when the kernel
//! took one offline on its own, the follower brings it down (the teardowns run, unpinned: the CPU
//! is gone). [`Follower::offline`] does it in the other order: the teardowns run first, on the CPU,
//! and may veto; only then is `online` written, and if the kernel refuses, the teardowns are
//! undone. Rollback is the state machine's: exact, in reverse.

use std::cell::Cell;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use cpuhp::preset::DEMO;
use cpuhp::{
    CpuId, CpuMask, Errno, Hotplug, Online, Platform, Slot, StateId, Topology, TraceEvent,
};

use crate::io::SysfsIo;
use crate::ops::{Op, execute, plan};
use crate::uevent::CpuAction;
use crate::watch::{CpuChange, CpuSets};

thread_local! {
    /// The CPU this thread is pinned to, if the platform pinned it.
    static PINNED: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The CPU the calling thread runs on now (`sched_getcpu(3)`; `None` off Linux).
///
/// # Examples
///
/// ```
/// # if cfg!(target_os = "linux") {
/// let cpu = cpuhp_linux::current_cpu().unwrap();
/// assert!(cpuhp_linux::CpuSets::read(&cpuhp_linux::HostIo::new("/".as_ref(), None)?)?
///     .online.contains(cpuhp::CpuId(cpu)));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn current_cpu() -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        u32::try_from(rustix::thread::sched_getcpu()).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Pins the calling thread to `cpu`; the CPU on success.
fn pin_to(cpu: u32) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{CpuSet, sched_setaffinity};
        let i = usize::try_from(cpu).ok().filter(|&i| i < CpuSet::MAX_CPU)?;
        let mut set = CpuSet::new();
        set.set(i);
        sched_setaffinity(None, &set).ok().map(|()| cpu)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        None
    }
}

/// One userspace callback the follower ran.
///
/// # Examples
///
/// ```
/// use cpuhp::StateId;
/// use cpuhp_linux::Step;
/// let s = Step { cpu: 1, state: StateId(70), name: "pool:online".into(), startup: true,
///     result: Ok(()), pinned: Some(1), ran_on: Some(1) };
/// assert_eq!(s.to_string(), "startup pool:online for cpu 1: ok (pinned to 1, ran on 1)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The CPU it was for.
    pub cpu: u32,
    /// The state.
    pub state: StateId,
    /// The state's name.
    pub name: String,
    /// Startup (`true`) or teardown.
    pub startup: bool,
    /// What it returned.
    pub result: Result<(), Errno>,
    /// The CPU its thread was pinned to (`None`: not pinned — the kernel had already taken the
    /// CPU offline, or `sched_setaffinity` refused).
    pub pinned: Option<u32>,
    /// The CPU it returned on (`sched_getcpu`).
    pub ran_on: Option<u32>,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = if self.startup { "startup" } else { "teardown" };
        let res = match self.result {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        let opt = |c: Option<u32>| c.map_or_else(|| "-".to_string(), |c| c.to_string());
        let pin = match self.pinned {
            Some(c) => format!("pinned to {c}"),
            None => "not pinned".into(),
        };
        write!(
            f,
            "{dir} {} for cpu {}: {res} ({pin}, ran on {})",
            self.name,
            self.cpu,
            opt(self.ran_on)
        )
    }
}

/// The follower's platform: each hand-off to a CPU runs on a fresh thread pinned to it.
struct Pinned {
    /// Pin (the CPU is online in the kernel) or not (it is already gone).
    pin: AtomicBool,
    /// The first and last dynamic ONLINE state: the program's states.
    user: (u32, u32),
    steps: Mutex<Vec<Step>>,
}

impl Platform for Pinned {
    fn run_on_ap(&self, cpu: CpuId, work: &mut (dyn FnMut() + Send)) {
        let pin = self.pin.load(Ordering::SeqCst);
        std::thread::scope(|s| {
            let t = s.spawn(move || {
                PINNED.with(|p| p.set(if pin { pin_to(cpu.0) } else { None }));
                work();
            });
            // The state machine catches a callback's panic; anything else is a bug to surface.
            if let Err(panic) = t.join() {
                std::panic::resume_unwind(panic);
            }
        });
    }

    fn start_cpu(&self, _cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        // The kernel already booted the CPU; the model has no STARTING callbacks of its own.
        starting();
        Ok(())
    }

    fn stop_cpu(&self, _cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        dying();
        Ok(())
    }

    fn trace(&self, event: &TraceEvent<'_>) {
        if let TraceEvent::Exit {
            cpu,
            step,
            bringup,
            result,
            ..
        } = *event
        {
            if (self.user.0..=self.user.1).contains(&step.get()) {
                let step = Step {
                    cpu: cpu.0,
                    state: step,
                    name: String::new(),
                    startup: bringup,
                    result,
                    pinned: PINNED.with(Cell::get),
                    ran_on: current_cpu(),
                };
                self.steps
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(step);
            }
        }
    }
}

/// What the follower did for one CPU.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{FollowKind, FollowReport, Outcome};
/// let r = FollowReport { cpu: 2, kind: FollowKind::Startup, steps: vec![], outcome: Outcome::Done };
/// assert_eq!(r.to_string(), "cpu 2: startup: done");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowReport {
    /// The CPU.
    pub cpu: u32,
    /// What was done.
    pub kind: FollowKind,
    /// The userspace callbacks that ran, in order.
    pub steps: Vec<Step>,
    /// How it ended.
    pub outcome: Outcome,
}

/// What the follower did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowKind {
    /// The kernel brought the CPU online: the startups ran, pinned to it.
    Startup,
    /// The kernel took the CPU offline on its own: the teardowns ran, after the fact, unpinned.
    Teardown,
    /// [`Follower::offline`]: teardowns first (pinned), then the kernel.
    CoordinatedOffline,
}

impl fmt::Display for FollowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FollowKind::Startup => "startup",
            FollowKind::Teardown => "teardown",
            FollowKind::CoordinatedOffline => "offline",
        })
    }
}

/// How a [`FollowReport`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every callback succeeded.
    Done,
    /// A startup failed: what had succeeded was torn down. The kernel's CPU stays online (the
    /// kernel cannot be vetoed after the fact); the follower will not retry it until the kernel
    /// takes it offline and brings it back.
    StartupFailed {
        /// The state whose startup failed.
        name: String,
        /// What it returned.
        errno: Errno,
    },
    /// The kernel took the CPU offline on its own, and a teardown failed: the teardowns that had
    /// run were undone by running their startups again (unpinned), so the model still counts the
    /// CPU as up; the next [`sync`](Follower::sync) tries again.
    TeardownFailed {
        /// The state whose teardown failed.
        name: String,
        /// What it returned.
        errno: Errno,
    },
    /// [`Follower::offline`]: a teardown refused. The teardowns that had run were undone; `online`
    /// was not written; the CPU stays online.
    Vetoed {
        /// The state that refused.
        name: String,
        /// What it returned.
        errno: Errno,
    },
    /// [`Follower::offline`]: the kernel refused the `online` write; the userspace teardowns were
    /// undone (their startups ran again, pinned).
    KernelRefused {
        /// The failed write (`write …/cpu2/online: EBUSY`).
        error: String,
        /// Whether the startups all succeeded again (`false`: see the steps).
        restored: bool,
    },
    /// Nothing ran: a safety rule refused the operation, or the CPU is not one the follower can
    /// follow (not online, or beyond the CPUs it was started with).
    Refused(String),
}

impl fmt::Display for FollowReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.cpu;
        write!(f, "cpu {c}: {}: ", self.kind)?;
        match &self.outcome {
            Outcome::Done => f.write_str("done"),
            Outcome::StartupFailed { name, errno } => write!(
                f,
                "startup of {name} failed with {errno}; rolled back; the kernel's CPU {c} stays \
                 online (the kernel cannot be vetoed after the fact)"
            ),
            Outcome::TeardownFailed { name, errno } => write!(
                f,
                "teardown of {name} failed with {errno} after the kernel took CPU {c} offline; \
                 rolled back; retried at the next sync"
            ),
            Outcome::Vetoed { name, errno } => write!(
                f,
                "vetoed by {name} ({errno}); rolled back; online not written, CPU {c} stays online"
            ),
            Outcome::KernelRefused { error, restored } => write!(
                f,
                "the kernel refused: {error}; userspace teardowns {}",
                if *restored {
                    "undone"
                } else {
                    "NOT all undone"
                }
            ),
            Outcome::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

/// The error of [`Follower::add_state`].
impl std::error::Error for FollowReport {}

/// Userspace cpuhp states that follow the kernel's CPUs.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use cpuhp::{CpuId, Online};
/// use cpuhp_linux::{CpuSets, Follower, Fs, HostIo, SimKernel, SysfsIo};
///
/// # if cfg!(target_os = "linux") {
/// // The host's CPUs: callbacks run pinned to each.
/// let host = CpuSets::read(&HostIo::new("/".as_ref(), None)?)?;
/// let mut f = Follower::new(&host)?;
/// let started = Arc::new(Mutex::new(Vec::new()));
/// let s = started.clone();
/// f.add_state("pool:online", Online::new().startup(move |cpu: CpuId| {
///     s.lock().unwrap().push((cpu.0, cpuhp_linux::current_cpu()));
///     Ok(())
/// }))?;
/// for (cpu, ran_on) in started.lock().unwrap().iter() {
///     assert_eq!(Some(*cpu), *ran_on); // each startup ran on its own CPU
/// }
/// assert_eq!(f.followed(), host.online);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Follower {
    hp: Hotplug<Pinned>,
    /// Online in the kernel, but a startup failed: not retried until the kernel takes it offline.
    failed: CpuMask,
}

impl fmt::Debug for Follower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follower")
            .field("followed", &self.followed())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// The first state of a failure, from a state-machine error.
fn failed_state(hp: &Hotplug<Pinned>, e: &cpuhp::Error) -> (String, Errno) {
    match e.failure() {
        Some(f) => (
            hp.state_name(f.state)
                .map_or_else(|| f.state.to_string(), str::to_string),
            f.errno,
        ),
        None => (format!("{e}"), e.errno()),
    }
}

impl Follower {
    /// A follower of the kernel whose sets are `sets`: a model CPU per possible CPU, up exactly
    /// where the kernel's is online. No states yet.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`](crate::Error::Usage) when no CPU is online.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{CpuSets, Follower, SimKernel};
    /// let f = Follower::new(&CpuSets::read(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?)?)?;
    /// assert_eq!(f.followed().to_string(), "0-3");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(sets: &CpuSets) -> Result<Follower, crate::Error> {
        let nr = sets
            .possible
            .iter()
            .chain(sets.online.iter())
            .map(|c| c.0 + 1)
            .max()
            .unwrap_or(0);
        if sets.online.weight() == 0 {
            return Err(crate::Error::Usage("no CPU is online".into()));
        }
        let (lo, hi) = DEMO.layout.online_dyn;
        let platform = Pinned {
            pin: AtomicBool::new(false),
            user: (lo.get(), hi.get()),
            steps: Mutex::new(Vec::new()),
        };
        let usage = |e: cpuhp::Error| crate::Error::Usage(format!("cannot model the CPUs: {e}"));
        let mut hp = Hotplug::new(&DEMO, Topology::new(nr), platform).map_err(usage)?;
        // Mirror the kernel before any program state exists: only the model's own steps run.
        // The kernel has a CPU online, so the model never loses its last one.
        for c in (0..nr).rev().map(CpuId) {
            if !sets.online.contains(c) {
                hp.cpu_down(c, StateId::OFFLINE).map_err(usage)?;
            }
        }
        Ok(Follower {
            hp,
            failed: CpuMask::new(nr),
        })
    }

    fn take_steps(&self) -> Vec<Step> {
        let mut steps = std::mem::take(
            &mut *self
                .hp
                .platform()
                .steps
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for s in &mut steps {
            s.name = self
                .hp
                .state_name(s.state)
                .map_or_else(|| s.state.to_string(), str::to_string);
        }
        steps
    }

    fn set_pin(&self, pin: bool) {
        self.hp.platform().pin.store(pin, Ordering::SeqCst);
    }

    /// Installs a userspace state and runs its startup on every followed CPU, each pinned to
    /// its CPU (ascending). If one fails, it is torn down where it succeeded and not installed.
    ///
    /// # Errors
    ///
    /// The failed report ([`Outcome::StartupFailed`], with the steps); [`Outcome::Refused`] when
    /// no slot is left (28 states).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, Errno, Online};
    /// use cpuhp_linux::{CpuSets, Follower, Outcome, SimKernel};
    ///
    /// let mut f = Follower::new(&CpuSets::read(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 1)?)?)?;
    /// let r = f.add_state("bad", Online::new().startup(|_: CpuId| Err(Errno::ENOMEM))).unwrap_err();
    /// assert_eq!(r.outcome, Outcome::StartupFailed { name: "bad".into(), errno: Errno::ENOMEM });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_state(
        &mut self,
        name: &str,
        callbacks: Online,
    ) -> Result<StateId, Box<FollowReport>> {
        self.set_pin(true);
        let r = self
            .hp
            .setup_state(Slot::OnlineDyn, name.to_string(), callbacks);
        let mut steps = self.take_steps();
        // Only the new state's callbacks ran; after a failure it is gone and has no name to find.
        for s in &mut steps {
            s.name = name.to_string();
        }
        r.map_err(|e| {
            let outcome = match e.failure() {
                Some(fl) => Outcome::StartupFailed {
                    name: name.to_string(),
                    errno: fl.errno,
                },
                None => Outcome::Refused(format!("cannot install {name}: {e}")),
            };
            Box::new(FollowReport {
                cpu: e.failure().map_or(0, |f| f.cpu.0),
                kind: FollowKind::Startup,
                steps,
                outcome,
            })
        })
    }

    /// The CPUs whose userspace states are up.
    pub fn followed(&self) -> CpuMask {
        self.hp.online_mask().clone()
    }

    /// Kernel-online CPUs whose startup failed (not retried until they go offline and back).
    pub fn failed(&self) -> &CpuMask {
        &self.failed
    }

    /// Follows the kernel to `sets`: tears down CPUs the kernel took offline (after the fact,
    /// unpinned), then starts up CPUs it brought online (pinned). One report per CPU acted on,
    /// ascending within each direction.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, Online};
    /// use cpuhp_linux::{CpuSets, Follower, FollowKind, Fs, Outcome, SimKernel, SysfsIo};
    ///
    /// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
    /// let mut f = Follower::new(&CpuSets::read(&k)?)?;
    /// f.add_state("x", Online::new().teardown(|_: CpuId| Ok(())))?;
    /// k.write(Fs::Cpu, "cpu1/online", "0")?; // the kernel acts alone
    /// let r = f.sync(&CpuSets::read(&k)?);
    /// assert_eq!((r[0].kind, &r[0].outcome), (FollowKind::Teardown, &Outcome::Done));
    /// assert_eq!(r[0].steps[0].pinned, None); // CPU 1 was already gone
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync(&mut self, sets: &CpuSets) -> Vec<FollowReport> {
        let mut reports = Vec::new();
        for c in self.hp.online_mask().clone().iter() {
            if !sets.online.contains(c) && sets.online.weight() > 0 {
                reports.push(self.stop(c, false));
            }
        }
        for c in self.failed.clone().iter() {
            if !sets.online.contains(c) {
                self.failed.set(c, false);
            }
        }
        for c in sets.online.iter() {
            if !self.hp.online_mask().contains(c) && !self.failed.contains(c) {
                reports.push(self.start(c));
            }
        }
        reports
    }

    /// Follows one change: an `offline` tears the CPU's states down (pinned if the CPU is
    /// already back online, as after a quick offline and online), an `online` starts them up;
    /// `add` and `remove` need nothing. A change the follower is already past does nothing.
    /// Use [`sync`](Self::sync) to catch up with a set instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{CpuWatcher, Follower, Fs, SimKernel, SysfsIo};
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let mut w = CpuWatcher::with_packets(SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?, rx)?;
    /// let mut f = Follower::new(w.sets())?;
    /// w.io_mut().write(Fs::Cpu, "cpu1/online", "0")?;
    /// tx.send(b"offline@/devices/system/cpu/cpu1\0SUBSYSTEM=cpu\0".to_vec())?;
    /// let change = w.next().unwrap()?;
    /// assert_eq!(f.apply(&change).len(), 1);
    /// assert_eq!(f.followed().to_string(), "0");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply(&mut self, change: &CpuChange) -> Vec<FollowReport> {
        let c = CpuId(change.cpu);
        match change.action {
            CpuAction::Offline => {
                self.failed.set(c, false);
                if self.hp.online_mask().contains(c) {
                    vec![self.stop(c, change.online.contains(c))]
                } else {
                    Vec::new()
                }
            }
            CpuAction::Online => {
                if self.hp.online_mask().contains(c) || self.failed.contains(c) {
                    Vec::new()
                } else {
                    vec![self.start(c)]
                }
            }
            CpuAction::Add | CpuAction::Remove => Vec::new(),
        }
    }

    /// Tears down a CPU the kernel took offline on its own (`pin`: it is back online).
    fn stop(&mut self, c: CpuId, pin: bool) -> FollowReport {
        self.set_pin(pin);
        let r = self.hp.cpu_down(c, StateId::OFFLINE);
        let steps = self.take_steps();
        let outcome = match r {
            Ok(()) => Outcome::Done,
            Err(e) => {
                let (name, errno) = failed_state(&self.hp, &e);
                Outcome::TeardownFailed { name, errno }
            }
        };
        FollowReport {
            cpu: c.0,
            kind: FollowKind::Teardown,
            steps,
            outcome,
        }
    }

    fn start(&mut self, c: CpuId) -> FollowReport {
        let nr = self.hp.nr_cpus();
        if c.0 >= nr {
            return FollowReport {
                cpu: c.0,
                kind: FollowKind::Startup,
                steps: Vec::new(),
                outcome: Outcome::Refused(format!(
                    "CPU {c} is beyond the {nr} possible CPUs the follower started with"
                )),
            };
        }
        self.set_pin(true);
        let r = self.hp.cpu_up(c, self.hp.layout().online);
        let steps = self.take_steps();
        let outcome = match r {
            Ok(()) => Outcome::Done,
            Err(e) => {
                self.failed.set(c, true);
                let (name, errno) = failed_state(&self.hp, &e);
                Outcome::StartupFailed { name, errno }
            }
        };
        FollowReport {
            cpu: c.0,
            kind: FollowKind::Startup,
            steps,
            outcome,
        }
    }

    /// Takes `cpu` offline in coordination: checks the safety rules (nothing runs if they
    /// refuse), runs the userspace teardowns pinned to the CPU (a failure vetoes: the teardowns
    /// that ran are undone, `online` is not written), then writes `0` to its `online` in a
    /// journaled transaction; if the kernel refuses, the userspace teardowns are undone.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, Errno, Online};
    /// use cpuhp_linux::{CpuSets, Follower, Fs, Outcome, SimKernel, SysfsIo};
    ///
    /// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
    /// let mut f = Follower::new(&CpuSets::read(&k)?)?;
    /// f.add_state("busy", Online::new().teardown(|_: CpuId| Err(Errno::EBUSY)))?;
    /// let r = f.offline(&mut k, 1);
    /// assert_eq!(r.outcome, Outcome::Vetoed { name: "busy".into(), errno: Errno::EBUSY });
    /// assert_eq!(k.read(Fs::Cpu, "online")?, "0-1\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn offline(&mut self, io: &mut dyn SysfsIo, cpu: u32) -> FollowReport {
        let report = |steps, outcome| FollowReport {
            cpu,
            kind: FollowKind::CoordinatedOffline,
            steps,
            outcome,
        };
        let p = match plan(io, &Op::Offline(vec![cpu])) {
            Ok(p) => p,
            Err(e) => return report(Vec::new(), Outcome::Refused(e.to_string())),
        };
        if !self.hp.online_mask().contains(CpuId(cpu)) {
            return report(
                Vec::new(),
                Outcome::Refused(format!(
                    "CPU {cpu} is not followed (its userspace states are not up)"
                )),
            );
        }
        self.set_pin(true);
        let r = self.hp.cpu_down(CpuId(cpu), StateId::OFFLINE);
        let mut steps = self.take_steps();
        if let Err(e) = r {
            let (name, errno) = failed_state(&self.hp, &e);
            return report(steps, Outcome::Vetoed { name, errno });
        }
        match execute(io, &p, None) {
            Ok(_) => report(steps, Outcome::Done),
            Err(failed) => {
                let error = failed.error.to_string();
                self.set_pin(true);
                let again = self.hp.cpu_up(CpuId(cpu), self.hp.layout().online);
                steps.extend(self.take_steps());
                if again.is_err() {
                    self.failed.set(CpuId(cpu), true);
                }
                report(
                    steps,
                    Outcome::KernelRefused {
                        error,
                        restored: again.is_ok(),
                    },
                )
            }
        }
    }
}
