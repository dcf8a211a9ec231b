//! Random CPU hotplug under load, modelled on Linux's rcutorture hotplug stress: several threads
//! drive one threaded simulator ([`cpuhp::sim::Machine`]) with random operations and random
//! failures for a bounded time while the invariants are checked continuously.
//!
//! Every operation of the public API takes part: `cpu_up`/`cpu_down` to full and partial
//! targets, sysfs `online`/`target`/`fail` writes, setting up and removing states of every
//! section, adding and removing instances of multi-instance states, registering and unregistering
//! legacy CPU notifiers (plain and replaying), `cpus_read_lock` sections, suspend (freeze/thaw,
//! with wakeups), `cpu_hotplug_disable`, SMT switches and parallel bring-up. Failures come from
//! callbacks and notifiers armed by a seeded coin, from [`cpuhp::Fault`]s, from `hotplug/fail`
//! and from the platform (a CPU that does not start or stop).
//!
//! Checked after every operation (half of the operations run under the machine's lock, so the
//! check sees exactly what the operation left) and at quiescent points, where every thread waits
//! at a barrier every [`TortureConfig::quiesce_every`] operations:
//!
//! * every operation returns a value or a typed error: no panic escapes, and a watchdog reports a
//!   hang when no operation completes for [`TortureConfig::watchdog`];
//! * a failed operation leaves its CPU — every CPU's state and every callback's resource — where
//!   it began, unless the machine warned that a rollback failed;
//! * each state's callbacks hold a per-CPU (per-instance) resource exactly while the CPU is at or
//!   above the state; no startup of something up, no teardown of something down;
//! * the online mask agrees with each CPU's state; no CPU rests between states;
//! * each legacy notifier hears, per CPU, a legal sequence of events (`CPU_UP_PREPARE` →
//!   `CPU_STARTING` → `CPU_ONLINE` …), and an undo event only after a PREPARE it said OK to;
//! * inside a `cpus_read_lock` section the online CPUs do not change.
//!
//! One armed failure in ten is a panic instead (of a callback that can fail, one that cannot, or
//! a notifier): the machine must catch it and report it as a failure (`EIO`) or as a rollback
//! failure; a panic out of an operation is a violation.
//!
//! A CPU for which an operation reported a rollback failure (in its error, in a warning, or for
//! sysfs writes, which return only an errno, by leaving the CPU inconsistent) is excused from the
//! checks: Linux leaves such a CPU undefined. Once half of the CPUs are excused, the next
//! quiescent point starts over on a fresh machine. The report counts the checks made and those
//! skipped.
//!
//! The notifier protocol has documented exceptions, counted in the report and not checked: a
//! notifier registered while a CPU rests at a partial target hears the rest of that cycle,
//! undo events included (the chain sends every event to every notifier, as Linux does); and a
//! veto of `CPU_DOWN_PREPARE` ignored while a failed bring-up is undone still ends that chain
//! call, so later notifiers miss it (see [`TortureReport::veto_ignored_events`]).
//!
//! Each thread draws from its own RNG seeded from (seed, thread index): with one thread a run is
//! reproducible from its seed; with several, the interleaving is not.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use cpuhp::legacy::{CpuAction, CpuEvent};
use cpuhp::sim::{Machine, SimPlatform};
use cpuhp::{
    CpuId, Errno, Error, ErrorKind, Fault, Hotplug, InstanceId, Layout, Online, OnlineMulti,
    Prepare, PrepareMulti, Slot, SmtControl, Starting, StateId, TraceEvent, Warning, preset,
};
use notifier::{NotifierBlock, NotifyResult};
use serde::Serialize;

/// What a torture run does.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use cpuhp_scenario::torture::TortureConfig;
///
/// let c = TortureConfig { threads: 2, max_ops: Some(100), ..TortureConfig::default() };
/// assert_eq!(c.cpus, 4);
/// assert_eq!(c.duration, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug)]
pub struct TortureConfig {
    /// Threads issuing operations (default: 2 + the host's hardware threads).
    pub threads: usize,
    /// Simulated CPUs (each is an OS thread), 1 to 64; with an even count the CPUs are pairs of
    /// SMT siblings.
    pub cpus: u32,
    /// How long to run; the run ends at the first quiescent point after it.
    pub duration: Duration,
    /// Stop once every thread issued this many operations (whichever comes first).
    pub max_ops: Option<u64>,
    /// Seeds every thread's RNG.
    pub seed: u64,
    /// Operations per thread between two quiescent points.
    pub quiesce_every: u32,
    /// Report a hang when no operation completes for this long.
    pub watchdog: Duration,
}

impl Default for TortureConfig {
    fn default() -> Self {
        TortureConfig {
            threads: 2 + std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpus: 4,
            duration: Duration::from_secs(10),
            max_ops: None,
            seed: 1,
            quiesce_every: 64,
            watchdog: Duration::from_secs(10),
        }
    }
}

/// The kinds of operation: the keys of [`TortureReport::ops`].
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::torture::{self, TortureConfig, OP_KINDS};
///
/// let r = torture::run(&TortureConfig { threads: 1, max_ops: Some(64), ..TortureConfig::default() }, |_| {});
/// assert!(OP_KINDS.iter().all(|k| r.ops.contains_key(*k)));
/// assert_eq!(r.ops.len(), OP_KINDS.len());
/// ```
pub const OP_KINDS: [&str; 19] = [
    "up",
    "down",
    "partial-up",
    "partial-down",
    "sysfs-target",
    "sysfs-online",
    "sysfs-fail",
    "setup-state",
    "remove-state",
    "add-instance",
    "remove-instance",
    "register-notifier",
    "unregister-notifier",
    "read-section",
    "suspend",
    "hotplug-disable",
    "smt",
    "parallel-up",
    "inject",
];

/// Which invariant broke.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::torture::Check;
///
/// assert_eq!(serde_json::to_string(&Check::NotifierProtocol).unwrap(), "\"notifier-protocol\"");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A panic escaped an operation.
    NoPanic,
    /// No operation completed for the watchdog's time.
    Progress,
    /// A failed operation did not leave the machine where it began.
    WhereItBegan,
    /// A resource held (or not) against where the CPU stands.
    Consistent,
    /// A second startup, or a teardown of something that is not up.
    Accounting,
    /// The online mask disagrees with a CPU's state.
    OnlineMask,
    /// A CPU rests between states without a rollback failure that says so.
    Stuck,
    /// A legacy notifier heard an event that cannot follow the previous one.
    NotifierProtocol,
    /// The online CPUs changed inside a `cpus_read_lock` section, or a hotplug operation from
    /// inside one did not refuse with `EDEADLK`.
    ReadLock,
    /// An operation returned what it never may (e.g. success where only a refusal is legal).
    Outcome,
}

impl Check {
    /// A short name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp_scenario::torture::Check::WhereItBegan.name(), "where-it-began");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Check::NoPanic => "no-panic",
            Check::Progress => "progress",
            Check::WhereItBegan => "where-it-began",
            Check::Consistent => "consistent",
            Check::Accounting => "accounting",
            Check::OnlineMask => "online-mask",
            Check::Stuck => "stuck",
            Check::NotifierProtocol => "notifier-protocol",
            Check::ReadLock => "read-lock",
            Check::Outcome => "outcome",
        }
    }
}

/// A broken invariant.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::torture::{Check, TortureViolation};
///
/// let v = TortureViolation { check: Check::Stuck, thread: Some(1), text: "CPU 2 rests at 40".into() };
/// assert_eq!(v.to_string(), "stuck (thread 1): CPU 2 rests at 40");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TortureViolation {
    /// Which invariant.
    pub check: Check,
    /// The thread whose operation found it (`None`: a callback, the watchdog or a quiescent
    /// point).
    pub thread: Option<usize>,
    /// What exactly.
    pub text: String,
}

impl fmt::Display for TortureViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.thread {
            Some(t) => write!(f, "{} (thread {t}): {}", self.check.name(), self.text),
            None => write!(f, "{}: {}", self.check.name(), self.text),
        }
    }
}

/// How often one kind of operation ran.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::torture::{self, TortureConfig};
///
/// let r = torture::run(&TortureConfig { threads: 1, max_ops: Some(200), seed: 3, ..TortureConfig::default() }, |_| {});
/// let up = r.ops["up"];
/// assert!(up.succeeded <= up.attempted);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpCount {
    /// Issued.
    pub attempted: u64,
    /// Returned success.
    pub succeeded: u64,
}

/// What a torture run did and found.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use cpuhp_scenario::torture::{self, TortureConfig};
///
/// let r = torture::run(&TortureConfig { threads: 1, max_ops: Some(64), seed: 7, ..TortureConfig::default() }, |_| {});
/// assert!(r.is_clean(), "{:?}", r.first_violation());
/// assert_eq!(r.total_ops(), 64);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TortureReport {
    /// The seed (print it to reproduce a run).
    pub seed: u64,
    /// Threads issuing operations.
    pub threads: usize,
    /// Simulated CPUs.
    pub cpus: u32,
    /// Wall time.
    pub seconds: f64,
    /// Operations by kind.
    pub ops: BTreeMap<String, OpCount>,
    /// Failed operations by error (`ErrorKind` name, or `sysfs:ERRNO` for sysfs writes).
    pub errors: BTreeMap<String, u64>,
    /// Failures injected (armed or fired) by source.
    pub injected: BTreeMap<String, u64>,
    /// Warnings the machine printed, by kind.
    pub warnings: BTreeMap<String, u64>,
    /// Failed operations whose failure was rolled back (a callback's or the platform's).
    pub rollbacks: u64,
    /// Errors reporting that the rollback failed too.
    pub rollback_failures: u64,
    /// Failed sysfs writes that left their CPU inconsistent: sysfs returns only an errno, so a
    /// rollback failure there is reported only by the machine's (once-only) warning.
    pub sysfs_rollback_failures: u64,
    /// CPUs a failed freeze, thaw or SMT switch left inconsistent although its error named
    /// another CPU (a thaw returns its first error only; the machine's warning is once-only).
    pub unreported_rollback_failures: u64,
    /// Per-CPU checks (state, online mask, every resource) of CPUs no rollback failure excused.
    pub cpu_checks: u64,
    /// Per-CPU checks skipped because a rollback failure left the CPU undefined.
    pub excused_cpu_checks: u64,
    /// CPUs a rollback failure left undefined by the end of the run.
    pub excused_cpus: u32,
    /// Fresh machines started because rollback failures had left half of the CPUs undefined.
    pub reboots: u64,
    /// Quiescent points checked.
    pub quiescent_checks: u64,
    /// Invariant checks run (after operations and at quiescent points).
    pub checks: u64,
    /// Events heard by a notifier registered while the CPU rested at a partial target, before
    /// the CPU was next fully up or down: not checked, since the chain sends every event to every
    /// notifier, as Linux does — also an undo event (`CPU_UP_CANCELED`, `CPU_DOWN_FAILED`) for a
    /// PREPARE event this one never heard.
    pub late_events: u64,
    /// Events that break the notifier protocol because a veto of `CPU_DOWN_PREPARE` was ignored
    /// while a failed bring-up was undone: the veto still ends that chain call, so the notifiers
    /// after the vetoing one go from `CPU_ONLINE` to `CPU_DYING`; and a CPU left at a partial
    /// target above the online bridge hears `CPU_DOWN_FAILED` at its next bring-up — also the
    /// notifier that vetoed (an undo event for a PREPARE it refused).
    pub veto_ignored_events: u64,
    /// Violations (at most the first 100 are kept).
    pub violations: Vec<TortureViolation>,
    /// Violations found, kept or not.
    pub violation_count: u64,
}

impl TortureReport {
    /// Every operation issued.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp_scenario::torture::TortureReport::default().total_ops(), 0);
    /// ```
    pub fn total_ops(&self) -> u64 {
        self.ops.values().map(|c| c.attempted).sum()
    }

    /// Operations per second.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp_scenario::torture::TortureReport::default().ops_per_sec(), 0.0);
    /// ```
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.total_ops() as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// No invariant broke.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cpuhp_scenario::torture::TortureReport::default().is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        self.violation_count == 0
    }

    /// The first violation found.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cpuhp_scenario::torture::TortureReport::default().first_violation().is_none());
    /// ```
    pub fn first_violation(&self) -> Option<&TortureViolation> {
        self.violations.first()
    }
}

/// Where a running torture stands, for progress bars.
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
/// use cpuhp_scenario::torture::{self, TortureConfig};
///
/// let seen = Mutex::new(Vec::new());
/// let config = TortureConfig { threads: 1, max_ops: Some(128), quiesce_every: 32, ..TortureConfig::default() };
/// torture::run(&config, |p| seen.lock().unwrap().push(p.ops));
/// assert_eq!(*seen.lock().unwrap(), [32, 64, 96, 128]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TortureProgress {
    /// Since the start.
    pub elapsed: Duration,
    /// Operations completed.
    pub ops: u64,
    /// Violations found so far.
    pub violations: u64,
}

/// Runs a torture test (see the [module documentation](self)) and reports what it did and
/// found; `progress` is called at every quiescent point.
///
/// Never panics and never hangs: a panic escaping an operation and a hang are reported as
/// violations (a hung run returns without its stuck threads, which are left behind).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use cpuhp_scenario::torture::{self, TortureConfig};
///
/// let config = TortureConfig { threads: 2, duration: Duration::from_millis(200), seed: 42, ..TortureConfig::default() };
/// let report = torture::run(&config, |p| assert!(p.ops > 0));
/// assert!(report.is_clean(), "seed {}: {}", report.seed, report.first_violation().unwrap());
/// assert!(report.ops["up"].attempted > 0);
/// ```
pub fn run(config: &TortureConfig, progress: impl Fn(&TortureProgress)) -> TortureReport {
    let threads = config.threads.max(1);
    let cpus = config.cpus.clamp(1, 64);
    let mut report = TortureReport {
        seed: config.seed,
        threads,
        cpus,
        ..TortureReport::default()
    };
    let start = Instant::now();
    let sh = match Shared::new(config, cpus) {
        Ok(sh) => Arc::new(sh),
        Err(e) => {
            report.violation_count = 1;
            report.violations.push(TortureViolation {
                check: Check::Outcome,
                thread: None,
                text: format!("the machine did not boot: {e}"),
            });
            return report;
        }
    };
    let (done_tx, done_rx) = mpsc::channel::<Stats>();
    let (prog_tx, prog_rx) = mpsc::channel::<TortureProgress>();
    let barrier = Arc::new(Barrier::new(threads));
    for index in 0..threads {
        let shared = Arc::clone(&sh);
        let barrier = Arc::clone(&barrier);
        let done = done_tx.clone();
        let prog = prog_tx.clone();
        let config = config.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("torture/{index}"))
            .spawn(move || {
                let stats = Worker::new(&shared, &config, index).run(&barrier, start, &prog);
                let _ = done.send(stats);
            });
        if spawned.is_err() {
            // Without every thread the barrier never opens: nothing can run.
            report.violation_count = 1;
            report.violations.push(TortureViolation {
                check: Check::Outcome,
                thread: None,
                text: "cannot spawn a torture thread".to_string(),
            });
            sh.stop.store(true, SeqCst);
            return report;
        }
    }
    drop(done_tx);
    drop(prog_tx);
    let mut stats = Stats::default();
    let mut finished = 0;
    let mut last_seen = (sh.completed.load(SeqCst), Instant::now());
    while finished < threads {
        match done_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(s) => {
                stats.merge(s);
                finished += 1;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        while let Ok(p) = prog_rx.try_recv() {
            progress(&p);
        }
        let now = sh.completed.load(SeqCst);
        if now != last_seen.0 {
            last_seen = (now, Instant::now());
        } else if last_seen.1.elapsed() >= config.watchdog {
            let doing: Vec<String> = sh
                .doing
                .iter()
                .enumerate()
                .map(|(t, k)| {
                    let k = k.load(SeqCst);
                    format!(
                        "thread {t}: {}",
                        OP_KINDS.get(k).copied().unwrap_or("barrier")
                    )
                })
                .collect();
            sh.sink.violation(
                Check::Progress,
                None,
                format!(
                    "no operation completed for {:?} (seed {}); {}",
                    config.watchdog,
                    config.seed,
                    doing.join(", ")
                ),
            );
            sh.stop.store(true, SeqCst);
            break;
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    stats.into_report(&mut report);
    for (k, v) in sh.sink.injected() {
        *report.injected.entry(k).or_default() += v;
    }
    report.warnings = sh
        .sink
        .warnings
        .lock()
        .map(|w| w.clone())
        .unwrap_or_default();
    report.late_events = sh.sink.late_undo.load(SeqCst);
    report.reboots = sh.reboots.load(SeqCst);
    report.cpu_checks = sh.sink.cpu_checks.load(SeqCst);
    report.excused_cpu_checks = sh.sink.cpu_checks_excused.load(SeqCst);
    report.excused_cpus = sh.sink.excused.iter().filter(|e| e.load(SeqCst)).count() as u32;
    report.sysfs_rollback_failures = sh.sink.sysfs_excuses.load(SeqCst);
    report.unreported_rollback_failures = sh.sink.unreported_excuses.load(SeqCst);
    report.veto_ignored_events = sh.sink.veto_cut.load(SeqCst);
    sh.sink.judge();
    report.violation_count = sh.sink.count.load(SeqCst);
    report.violations = sh
        .sink
        .violations
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    report
}

/// Where violations and callback-side counts go (callbacks run on the CPU threads).
#[derive(Default)]
struct Sink {
    violations: Mutex<Vec<TortureViolation>>,
    count: AtomicU64,
    /// Callback failures fired by the coin.
    callback_failures: AtomicU64,
    /// Notifier vetoes fired by the coin.
    vetoes: AtomicU64,
    /// Panics fired by the coin (callbacks and notifiers).
    panics: AtomicU64,
    /// `Fault`s and `hotplug/fail` that fired (the trace's `Injected`).
    faults_fired: AtomicU64,
    warnings: Mutex<BTreeMap<String, u64>>,
    /// CPUs a rollback failure left undefined: Linux gives up on such a CPU ("we lose, thanks
    /// for playing"), and so do the checks — for the rest of the run. Whether the CPU looks
    /// consistent again says nothing: the machine's own bookkeeping of the walk (the failed
    /// instance, the notifiers' last event) may still be off.
    /// Checks of CPUs not excused, and of excused ones.
    cpu_checks: AtomicU64,
    cpu_checks_excused: AtomicU64,
    excused: Vec<AtomicBool>,
    /// Per CPU: bumped at every excuse, so that the notifiers forget what they heard.
    epoch: Vec<AtomicU64>,
    /// Per CPU: bumped at every excuse only (a suspect found before is no violation).
    excuse_epoch: Vec<AtomicU64>,
    /// Excuses so far.
    excuses: AtomicU64,
    /// Per CPU: operations through the machine's own API under way (their thread settles the
    /// outcome afterwards, so the checks of other threads leave the CPU alone meanwhile).
    in_flight: Vec<AtomicU32>,
    /// Operations on many CPUs under way (suspend, SMT, parallel bring-up).
    all_in_flight: AtomicU32,
    /// What a callback or notifier found wrong for a CPU, with the CPU's excuse epoch then: a
    /// violation unless the operation then under way reports a rollback failure for the CPU
    /// (which makes everything it did afterwards undefined). Judged at the next check.
    suspects: Mutex<Vec<(Check, CpuId, u64, String)>>,
    /// The machine's last trace lines (for the first violation's report).
    trace: Mutex<std::collections::VecDeque<String>>,
    /// The last operations (for the first violation's report).
    recent: Mutex<std::collections::VecDeque<String>>,
    /// Failed sysfs writes that left their CPU inconsistent.
    sysfs_excuses: AtomicU64,
    /// CPUs a failed freeze, thaw or SMT switch left inconsistent without naming them.
    unreported_excuses: AtomicU64,
    /// Undo events heard by a notifier registered after the CPU's PREPARE event.
    late_undo: AtomicU64,
    /// Per CPU: a notifier vetoed `CPU_DOWN_PREPARE` in the current cycle.
    down_vetoed: Vec<AtomicBool>,
    /// `CPU_DYING` heard without `CPU_DOWN_PREPARE` because a veto, ignored while undoing a
    /// failed bring-up, cut that chain call short.
    veto_cut: AtomicU64,
}

impl Sink {
    fn note(&self, text: String) {
        if let Ok(mut r) = self.recent.lock() {
            if r.len() == 12 {
                r.pop_front();
            }
            r.push_back(text);
        }
    }

    fn violation(&self, check: Check, thread: Option<usize>, mut text: String) {
        if self.count.fetch_add(1, SeqCst) == 0 {
            if let Ok(r) = self.recent.lock() {
                text.push_str("; the last operations: ");
                text.push_str(&r.iter().cloned().collect::<Vec<_>>().join("; "));
            }
            if let Ok(t) = self.trace.lock() {
                text.push_str("; the last trace lines:\n");
                text.push_str(&t.iter().cloned().collect::<Vec<_>>().join("\n"));
            }
        }
        if let Ok(mut v) = self.violations.lock() {
            if v.len() < 100 {
                v.push(TortureViolation {
                    check,
                    thread,
                    text,
                });
            }
        }
    }

    fn new(cpus: u32) -> Sink {
        Sink {
            excused: (0..cpus).map(|_| AtomicBool::new(false)).collect(),
            epoch: (0..cpus).map(|_| AtomicU64::new(0)).collect(),
            excuse_epoch: (0..cpus).map(|_| AtomicU64::new(0)).collect(),
            in_flight: (0..cpus).map(|_| AtomicU32::new(0)).collect(),
            down_vetoed: (0..cpus).map(|_| AtomicBool::new(false)).collect(),
            ..Sink::default()
        }
    }

    fn excused(&self, cpu: CpuId) -> bool {
        self.excused
            .get(cpu.index())
            .is_some_and(|e| e.load(SeqCst))
    }

    /// A rollback failure left `cpu` undefined (as Linux leaves it).
    fn excuse(&self, cpu: CpuId) {
        if let (Some(e), Some(n)) = (self.excused.get(cpu.index()), self.epoch.get(cpu.index())) {
            e.store(true, SeqCst);
            n.fetch_add(1, SeqCst);
            self.excuse_epoch[cpu.index()].fetch_add(1, SeqCst);
            self.excuses.fetch_add(1, SeqCst);
        }
    }

    /// Only the notifiers forget what they heard about `cpu`.
    fn forget(&self, cpu: CpuId) {
        if let Some(n) = self.epoch.get(cpu.index()) {
            n.fetch_add(1, SeqCst);
        }
    }

    fn excuse_epoch(&self, cpu: CpuId) -> u64 {
        self.excuse_epoch
            .get(cpu.index())
            .map_or(0, |n| n.load(SeqCst))
    }

    fn epoch(&self, cpu: CpuId) -> u64 {
        self.epoch.get(cpu.index()).map_or(0, |n| n.load(SeqCst))
    }

    /// Excuses the CPU an error's rollback failure names.
    fn settle(&self, e: &Error) {
        if let Some(f) = e.rollback_failure() {
            self.excuse(f.cpu);
        }
    }

    fn suspect(&self, check: Check, cpu: CpuId, text: String) {
        if let Ok(mut s) = self.suspects.lock() {
            s.push((check, cpu, self.excuse_epoch(cpu), text));
        }
    }

    /// Turns the suspects of settled CPUs into violations (or drops them, if a rollback failure
    /// was reported for the CPU since).
    fn judge(&self) {
        let Ok(mut suspects) = self.suspects.lock() else {
            return;
        };
        let mut keep = Vec::new();
        for (check, cpu, epoch, text) in suspects.drain(..) {
            if self.excuse_epoch(cpu) != epoch {
                continue;
            }
            if self.in_flight(cpu.index()) {
                keep.push((check, cpu, epoch, text));
            } else {
                self.violation(check, None, text);
            }
        }
        *suspects = keep;
    }

    fn in_flight(&self, cpu: usize) -> bool {
        self.all_in_flight.load(SeqCst) > 0
            || self.in_flight.get(cpu).is_some_and(|n| n.load(SeqCst) > 0)
    }

    fn injected(&self) -> Vec<(String, u64)> {
        vec![
            (
                "callback (fired)".to_string(),
                self.callback_failures.load(SeqCst),
            ),
            (
                "notifier veto (fired)".to_string(),
                self.vetoes.load(SeqCst),
            ),
            ("panic (fired)".to_string(), self.panics.load(SeqCst)),
            (
                "fault/hotplug-fail (fired)".to_string(),
                self.faults_fired.load(SeqCst),
            ),
        ]
    }
}

/// A one-shot failure armed to fire at the `n`-th next call (0: disarmed).
#[derive(Default)]
struct Arm(AtomicU32);

/// What a fired [`Arm`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fire {
    /// Return an errno (or veto).
    Fail,
    /// Panic (a buggy driver): the machine treats it as a failure with `EIO`, or as a rollback
    /// failure where a callback cannot fail.
    Panic,
}

impl Arm {
    /// The top bit: panic instead of failing.
    const PANIC: u32 = 1 << 31;

    fn arm(&self, n: u32, panic: bool) {
        self.0
            .store(n | if panic { Self::PANIC } else { 0 }, SeqCst);
    }

    fn disarm(&self) {
        self.0.store(0, SeqCst);
    }

    /// Counts one call; `Some` if this is the armed one.
    fn fires(&self) -> Option<Fire> {
        let before = self
            .0
            .fetch_update(SeqCst, SeqCst, |v| {
                let n = v & !Self::PANIC;
                match n {
                    0 => None,
                    1 => Some(0),
                    _ => Some((n - 1) | (v & Self::PANIC)),
                }
            })
            .ok()?;
        (before & !Self::PANIC == 1).then_some(if before & Self::PANIC != 0 {
            Fire::Panic
        } else {
            Fire::Fail
        })
    }
}

/// The payload of every panic the torture injects into callbacks and notifiers (a panic hook
/// may recognise it to keep them off the terminal).
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::torture::INJECTED_PANIC;
///
/// let payload: Box<dyn std::any::Any + Send> = Box::new(INJECTED_PANIC);
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"torture: injected panic"));
/// ```
pub const INJECTED_PANIC: &str = "torture: injected panic";

/// What the callbacks of one torture state (or one instance of it) hold, per CPU.
struct Held(Vec<AtomicU32>);

impl Held {
    fn new(cpus: u32) -> Held {
        Held((0..cpus).map(|_| AtomicU32::new(0)).collect())
    }

    fn get(&self, cpu: usize) -> u32 {
        self.0.get(cpu).map_or(0, |h| h.load(SeqCst))
    }

    fn all(&self) -> Vec<u32> {
        self.0.iter().map(|h| h.load(SeqCst)).collect()
    }

    /// Something held on a CPU no rollback failure excuses.
    fn any_held(&self, sink: &Sink) -> bool {
        self.0
            .iter()
            .enumerate()
            .any(|(c, h)| h.load(SeqCst) != 0 && !sink.excused(CpuId(c as u32)))
    }

    /// A startup: acquire; `false` if it was held already.
    fn up(&self, cpu: CpuId) -> bool {
        self.0
            .get(cpu.index())
            .is_some_and(|h| h.fetch_add(1, SeqCst) == 0)
    }

    /// A teardown: release; `false` if it was not held.
    fn down(&self, cpu: CpuId) -> bool {
        self.0
            .get(cpu.index())
            .is_some_and(|h| h.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok())
    }
}

/// The shared part of a torture state's callbacks.
struct Counters {
    name: &'static str,
    sink: Arc<Sink>,
    arm_up: Arm,
    arm_down: Arm,
    /// Panics in a callback that cannot fail.
    arm_panic: Arm,
}

const ERRNOS: [Errno; 4] = [Errno::ENOMEM, Errno::EBUSY, Errno::EIO, Errno::EAGAIN];

impl Counters {
    /// A fallible callback's body.
    fn call(&self, held: &Held, what: &str, cpu: CpuId, bringup: bool) -> Result<(), Errno> {
        let arm = if bringup {
            &self.arm_up
        } else {
            &self.arm_down
        };
        match arm.fires() {
            Some(Fire::Fail) => {
                let n = self.sink.callback_failures.fetch_add(1, SeqCst);
                return Err(ERRNOS[n as usize % ERRNOS.len()]);
            }
            Some(Fire::Panic) => {
                self.sink.panics.fetch_add(1, SeqCst);
                std::panic::panic_any(INJECTED_PANIC);
            }
            None => {}
        }
        self.account(held, what, cpu, bringup);
        Ok(())
    }

    /// An infallible callback's body: it may still panic (a rollback failure for the machine).
    fn infallible(&self, held: &Held, what: &str, cpu: CpuId, bringup: bool) {
        if self.arm_panic.fires().is_some() {
            self.sink.panics.fetch_add(1, SeqCst);
            std::panic::panic_any(INJECTED_PANIC);
        }
        self.account(held, what, cpu, bringup);
    }

    /// An infallible callback's body.
    fn account(&self, held: &Held, what: &str, cpu: CpuId, bringup: bool) {
        let ok = if bringup {
            held.up(cpu)
        } else {
            held.down(cpu)
        };
        if !ok && !self.sink.excused(cpu) {
            let text = if bringup {
                format!(
                    "startup of {what} on CPU {cpu} while it held its resource ({:?})",
                    held.all()
                )
            } else {
                format!("teardown of {what} on CPU {cpu} while it held nothing")
            };
            self.sink.suspect(Check::Accounting, cpu, text);
        }
    }
}

/// One instance of a multi-instance torture state.
struct Inst {
    key: u64,
    id: OnceLock<InstanceId>,
    held: Held,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Prepare,
    Starting,
    Online,
    PrepareMulti,
    OnlineMulti,
}

/// A torture state: set up and removed at random.
struct Entry {
    kind: Kind,
    slot: Slot,
    counters: Arc<Counters>,
    /// Single-instance states: what the callbacks hold.
    held: Arc<Held>,
    /// Serialises this entry's operations (set up, remove, add/remove instance) among the torture
    /// threads; held across the machine call.
    installed: Mutex<Option<StateId>>,
    /// The instances that may be linked (a leaf lock: never held across a machine call, so the
    /// checks under the machine's lock may take it).
    live: Mutex<Vec<Arc<Inst>>>,
    /// An operation through the machine's own API is under way: the checks of other threads
    /// leave this entry alone until its thread settled the outcome.
    in_flight: AtomicBool,
}

impl Entry {
    fn multi(&self) -> bool {
        matches!(self.kind, Kind::PrepareMulti | Kind::OnlineMulti)
    }

    fn callbacks(&self) -> cpuhp::Callbacks {
        let c = Arc::clone(&self.counters);
        let h = Arc::clone(&self.held);
        let (c2, h2) = (Arc::clone(&c), Arc::clone(&h));
        let name = c.name;
        match self.kind {
            Kind::Prepare => Prepare::new()
                .startup(move |cpu| c.call(&h, name, cpu, true))
                .teardown(move |cpu| c2.infallible(&h2, name, cpu, false))
                .into(),
            Kind::Starting => Starting::new()
                .startup(move |cpu| c.infallible(&h, name, cpu, true))
                .teardown(move |cpu| c2.infallible(&h2, name, cpu, false))
                .into(),
            Kind::Online => Online::new()
                .startup(move |cpu| c.call(&h, name, cpu, true))
                .teardown(move |cpu| c2.call(&h2, name, cpu, false))
                .into(),
            Kind::PrepareMulti => PrepareMulti::<Arc<Inst>>::new()
                .startup(move |cpu, i| c.call(&i.held, name, cpu, true))
                .teardown(move |cpu, i| c2.infallible(&i.held, name, cpu, false))
                .into(),
            Kind::OnlineMulti => OnlineMulti::<Arc<Inst>>::new()
                .startup(move |cpu, i| c.call(&i.held, name, cpu, true))
                .teardown(move |cpu, i| c2.call(&i.held, name, cpu, false))
                .into(),
        }
    }
}

/// What a legacy notifier last heard for one CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Heard {
    /// Nothing since it was registered.
    Unknown,
    /// Registered while the CPU rested at a partial target: anything goes until the CPU is
    /// fully up or down (the chain's events go to every notifier, as in Linux, also undo events
    /// for a PREPARE this one never heard).
    Late,
    UpPrepare {
        ok: bool,
    },
    Starting,
    Online,
    DownPrepare {
        ok: bool,
    },
    DownFailed,
    /// `canceled`: the CPU never got `CPU_ONLINE` (a bring-up being undone); `None`: unknown
    /// (the first event heard).
    Dying {
        canceled: Option<bool>,
    },
    Dead,
    PostDead,
    UpCanceled,
}

impl Heard {
    /// What `event` (answered `ok`) makes of `self`, or `None` if it cannot follow it.
    /// `replaying`: `register_cpu_notifier_replay` sends `CPU_UP_PREPARE`, `CPU_ONLINE` to each
    /// online CPU and undoes with `CPU_DOWN_PREPARE`, `CPU_DEAD`.
    fn then(self, event: CpuEvent, ok: bool, replaying: bool) -> Option<Heard> {
        use CpuEvent as E;
        use Heard as H;
        let next = match event {
            E::UpPrepare => H::UpPrepare { ok },
            E::Starting => H::Starting,
            E::Online => H::Online,
            E::DownPrepare => H::DownPrepare { ok },
            E::DownFailed => H::DownFailed,
            E::Dying => H::Dying {
                canceled: match self {
                    H::Starting => Some(true),
                    H::DownPrepare { .. } => Some(false),
                    _ => None,
                },
            },
            E::Dead => H::Dead,
            E::PostDead => H::PostDead,
            E::UpCanceled => H::UpCanceled,
        };
        if self == H::Late {
            let settled = !replaying
                && matches!(
                    event,
                    E::Online | E::DownFailed | E::Dead | E::PostDead | E::UpCanceled
                );
            return Some(if settled { next } else { H::Late });
        }
        let legal = match (self, event) {
            // Undo events only for a PREPARE this notifier said OK to.
            (H::Unknown, E::UpCanceled | E::DownFailed) => false,
            (H::Unknown, _) => true,
            (H::UpPrepare { ok: true }, E::Starting | E::UpCanceled) => true,
            (H::UpPrepare { ok: true }, E::Online) => replaying,
            (H::UpPrepare { ok: false }, E::UpPrepare) => true,
            (H::Starting, E::Online | E::Dying) => true,
            (H::Online | H::DownFailed, E::DownPrepare) => true,
            (H::DownPrepare { ok: true }, E::DownFailed | E::Dying) => true,
            (H::DownPrepare { ok: false }, E::DownPrepare) => true,
            // Undoing a failed bring-up takes the CPU down whatever the notifiers answer.
            (H::DownPrepare { ok: false }, E::Dying) => true,
            (H::Dying { canceled }, E::Dead) => canceled != Some(true),
            (H::Dying { canceled }, E::UpCanceled) => canceled != Some(false),
            (H::Dying { .. }, E::Starting) => true,
            (H::Dead | H::PostDead, E::UpPrepare) => true,
            // Linux 4.9's `hasdied`: a tear-down to offline from a partial PREPARE target below
            // the notifier bridge sends CPU_POST_DEAD again.
            (H::Dead | H::UpCanceled | H::PostDead | H::UpPrepare { ok: false }, E::PostDead) => {
                true
            }
            // Undoing a replayed registration ignores a veto too.
            (H::DownPrepare { .. }, E::Dead) => replaying,
            (H::UpCanceled, E::UpPrepare) => true,
            _ => false,
        };
        legal.then_some(next)
    }
}

/// The state of one torture notifier.
struct NotifState {
    index: usize,
    sink: Arc<Sink>,
    /// Per CPU: what it heard last, in which excuse epoch of the CPU, and the last few events
    /// (for the report).
    heard: Mutex<Vec<(Heard, u64, Vec<String>)>>,
    arm_up: Arm,
    arm_down: Arm,
    replaying: AtomicBool,
}

impl NotifState {
    fn hear(&self, action: CpuAction, cpu: CpuId) -> NotifyResult {
        let event = action.event;
        let fire = match event {
            CpuEvent::UpPrepare => self.arm_up.fires(),
            CpuEvent::DownPrepare => self.arm_down.fires(),
            _ => None,
        };
        // A panic on a PREPARE event is a veto (EIO) for the machine.
        let veto = fire.is_some();
        let replaying = self.replaying.load(SeqCst);
        let epoch = self.sink.epoch(cpu);
        if let Ok(mut heard) = self.heard.lock() {
            if let Some((h, seen, last)) = heard.get_mut(cpu.index()) {
                if *seen != epoch || self.sink.excused(cpu) {
                    // A rollback failure left the CPU (and what its notifiers hear) undefined,
                    // or may have: start over once the CPU is next fully up or down.
                    *h = Heard::Late;
                    *seen = epoch;
                }
                if last.len() == 6 {
                    last.remove(0);
                }
                last.push(format!("{action}{}", if veto { " (veto)" } else { "" }));
                if *h == Heard::Late {
                    self.sink.late_undo.fetch_add(1, SeqCst);
                }
                let vetoed = &self.sink.down_vetoed[cpu.index()];
                match event {
                    CpuEvent::DownPrepare => vetoed.store(veto, SeqCst),
                    // A replayed registration's events say nothing about the CPU's cycle.
                    CpuEvent::UpPrepare | CpuEvent::Online if !replaying => {
                        vetoed.store(false, SeqCst);
                    }
                    _ => {}
                }
                // Undoing a failed bring-up ignores a veto of CPU_DOWN_PREPARE, but the veto
                // still ends that chain call; and if the CPU rests at a partial target above
                // the online bridge, its next bring-up sends CPU_DOWN_FAILED to every notifier.
                let cut = vetoed.load(SeqCst)
                    && matches!(
                        (*h, event),
                        (
                            Heard::Online | Heard::DownFailed,
                            CpuEvent::Dying | CpuEvent::DownFailed
                        ) | (Heard::DownPrepare { ok: false }, CpuEvent::DownFailed)
                    );
                match h.then(event, !veto, replaying) {
                    Some(next) => *h = next,
                    // Registered while the CPU rested at a partial target after its PREPARE
                    // event: the chain's undo event goes to every notifier, as in Linux.
                    None if cut => {
                        self.sink.veto_cut.fetch_add(1, SeqCst);
                        *h = if event == CpuEvent::Dying {
                            Heard::Dying {
                                canceled: Some(false),
                            }
                        } else {
                            Heard::DownFailed
                        };
                    }
                    None => {
                        self.sink.suspect(
                            Check::NotifierProtocol,
                            cpu,
                            format!(
                                "notifier {} heard {action} for CPU {cpu} after {h:?} (last events: {})",
                                self.index,
                                last.join(", ")
                            ),
                        );
                        *h = Heard::Unknown;
                    }
                }
            }
        }
        if fire == Some(Fire::Panic) {
            self.sink.panics.fetch_add(1, SeqCst);
            std::panic::panic_any(INJECTED_PANIC);
        }
        if veto {
            self.sink.vetoes.fetch_add(1, SeqCst);
            NotifyResult::from_error(Errno::EBUSY)
        } else {
            NotifyResult::OK
        }
    }
}

type NotifFn = Box<dyn Fn(CpuAction, &CpuId) -> NotifyResult + Send + Sync>;

/// A torture notifier: registered and unregistered at random.
struct Notif {
    state: Arc<NotifState>,
    block: Arc<NotifierBlock<NotifFn>>,
    /// Serialises its registration among the torture threads.
    registered: Mutex<bool>,
}

/// Everything the threads share.
struct Shared {
    /// The machine; replaced by a fresh one ("rebooted") at a quiescent point once rollback
    /// failures left half of its CPUs undefined.
    m: Mutex<Arc<Machine>>,
    reboots: AtomicU64,
    layout: Layout,
    cpus: u32,
    smt: bool,
    entries: Vec<Entry>,
    notifs: Vec<Notif>,
    sink: Arc<Sink>,
    /// One suspend (or hotplug-disable section) at a time, as one system suspends at a time.
    suspend: Mutex<()>,
    next_key: AtomicU64,
    /// Operations completed (the watchdog's pulse).
    completed: AtomicU64,
    /// What each thread is doing (an index into `OP_KINDS`, or `usize::MAX` at a barrier).
    doing: Vec<AtomicUsize>,
    stop: AtomicBool,
    stop_early: AtomicBool,
}

const ENTRIES: [(&str, Kind); 7] = [
    ("torture/prep0", Kind::Prepare),
    ("torture/prep1", Kind::Prepare),
    ("torture/starting", Kind::Starting),
    ("torture/online0", Kind::Online),
    ("torture/online1", Kind::Online),
    ("torture/multi-prep", Kind::PrepareMulti),
    ("torture/multi-online", Kind::OnlineMulti),
];

/// A free STARTING slot of the DEMO preset (33..=59 is empty).
const STARTING_SLOT: StateId = StateId(45);

/// Boots a machine for a torture run: the legacy notifiers enabled, and a tracer that counts
/// injected failures and warnings and excuses the CPUs a rollback-failure warning names.
fn boot(cpus: u32, sink: &Arc<Sink>) -> Result<Machine, Error> {
    let smt = cpus >= 2 && cpus % 2 == 0;
    let topology = cpuhp::Topology::new(cpus).with_threads_per_core(if smt { 2 } else { 1 });
    let m = Machine::new(&preset::DEMO, topology)?;
    m.enable_cpu_notifiers(None)?;
    let tracer_sink = Arc::clone(sink);
    m.set_tracer(move |ev| {
        if let Ok(mut t) = tracer_sink.trace.lock() {
            if t.len() == 40 {
                t.pop_front();
            }
            t.push_back(ev.to_string());
        }
        match *ev {
            TraceEvent::Injected { .. } => {
                tracer_sink.faults_fired.fetch_add(1, SeqCst);
            }
            TraceEvent::Warning { warning, cpu, .. } => {
                if rollback_warning(warning) {
                    tracer_sink.excuse(cpu);
                }
                if let Ok(mut w) = tracer_sink.warnings.lock() {
                    *w.entry(format!("{warning:?}")).or_default() += 1;
                }
            }
            _ => {}
        }
    })?;
    Ok(m)
}

impl Shared {
    fn m(&self) -> Arc<Machine> {
        match self.m.lock() {
            Ok(m) => Arc::clone(&m),
            Err(e) => Arc::clone(&e.into_inner()),
        }
    }

    /// At a quiescent point (no operation runs): once rollback failures left half of the CPUs
    /// undefined, starts over on a fresh machine, so that the rest of the run is checked again.
    fn maybe_reboot(&self) -> Result<(), Error> {
        let excused = self.sink.excused.iter().filter(|e| e.load(SeqCst)).count();
        if excused * 2 < self.cpus as usize {
            return Ok(());
        }
        let fresh = boot(self.cpus, &self.sink)?;
        for e in &self.entries {
            if let Ok(mut i) = e.installed.lock() {
                *i = None;
            }
            if let Ok(mut l) = e.live.lock() {
                l.clear();
            }
            for h in &e.held.0 {
                h.store(0, SeqCst);
            }
            e.counters.arm_up.disarm();
            e.counters.arm_down.disarm();
            e.counters.arm_panic.disarm();
        }
        for n in &self.notifs {
            if let Ok(mut r) = n.registered.lock() {
                *r = false;
            }
            n.state.arm_up.disarm();
            n.state.arm_down.disarm();
        }
        for c in 0..self.cpus {
            let cpu = CpuId(c);
            self.sink.excused[cpu.index()].store(false, SeqCst);
            self.sink.down_vetoed[cpu.index()].store(false, SeqCst);
            self.sink.forget(cpu);
        }
        if let Ok(mut s) = self.sink.suspects.lock() {
            s.clear();
        }
        if let Ok(mut m) = self.m.lock() {
            *m = Arc::new(fresh);
        }
        self.reboots.fetch_add(1, SeqCst);
        Ok(())
    }

    fn new(config: &TortureConfig, cpus: u32) -> Result<Shared, Error> {
        let smt = cpus >= 2 && cpus % 2 == 0;
        let sink = Arc::new(Sink::new(cpus));
        let m = boot(cpus, &sink)?;
        let layout = m.with(|hp| *hp.layout())?;
        let entries = ENTRIES
            .iter()
            .map(|&(name, kind)| Entry {
                kind,
                slot: match kind {
                    Kind::Prepare | Kind::PrepareMulti => Slot::PrepareDyn,
                    Kind::Starting => Slot::Fixed(STARTING_SLOT),
                    Kind::Online | Kind::OnlineMulti => Slot::OnlineDyn,
                },
                counters: Arc::new(Counters {
                    name,
                    sink: Arc::clone(&sink),
                    arm_up: Arm::default(),
                    arm_down: Arm::default(),
                    arm_panic: Arm::default(),
                }),
                held: Arc::new(Held::new(cpus)),
                installed: Mutex::new(None),
                live: Mutex::new(Vec::new()),
                in_flight: AtomicBool::new(false),
            })
            .collect();
        let notifs = (0..3)
            .map(|index| {
                let state = Arc::new(NotifState {
                    index,
                    sink: Arc::clone(&sink),
                    heard: Mutex::new(vec![(Heard::Unknown, 0, Vec::new()); cpus as usize]),
                    arm_up: Arm::default(),
                    arm_down: Arm::default(),
                    replaying: AtomicBool::new(false),
                });
                let s = Arc::clone(&state);
                let f: NotifFn = Box::new(move |action, cpu| s.hear(action, *cpu));
                Notif {
                    state,
                    block: Arc::new(NotifierBlock::new(f, index as i32 - 1)),
                    registered: Mutex::new(false),
                }
            })
            .collect();
        Ok(Shared {
            m: Mutex::new(Arc::new(m)),
            reboots: AtomicU64::new(0),
            layout,
            cpus,
            smt,
            entries,
            notifs,
            sink,
            suspend: Mutex::new(()),
            next_key: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            doing: (0..config.threads.max(1))
                .map(|_| AtomicUsize::new(usize::MAX))
                .collect(),
            stop: AtomicBool::new(false),
            stop_early: AtomicBool::new(false),
        })
    }

    /// What every callback holds, in a fixed order (for "where it began").
    fn all_held(&self) -> Vec<(u64, Vec<u32>)> {
        let mut all = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if e.multi() {
                if let Ok(live) = e.live.lock() {
                    all.extend(live.iter().map(|inst| (inst.key, inst.held.all())));
                }
            } else {
                all.push((u64::MAX - i as u64, e.held.all()));
            }
        }
        all
    }

    /// The invariants that hold between operations, read under the machine's lock. Returns the
    /// problems of the CPUs no rollback failure excused.
    fn check(&self, hp: &Hotplug<SimPlatform>) -> Vec<(Check, String)> {
        self.sink.judge();
        let mut bad = Vec::new();
        for (c, problems) in self.problems(hp).into_iter().enumerate() {
            let excused = &self.sink.excused[c];
            if self.sink.in_flight(c) {
                continue;
            }
            if excused.load(SeqCst) {
                self.sink.cpu_checks_excused.fetch_add(1, SeqCst);
            } else {
                self.sink.cpu_checks.fetch_add(1, SeqCst);
                bad.extend(problems);
            }
        }
        bad
    }

    /// What is wrong, per CPU (excused or not).
    fn problems(&self, hp: &Hotplug<SimPlatform>) -> Vec<Vec<(Check, String)>> {
        let online = hp.online_mask();
        let mut states = Vec::with_capacity(self.cpus as usize);
        let mut cpu_bad = vec![Vec::new(); self.cpus as usize];
        for c in 0..self.cpus {
            let cpu = CpuId(c);
            let Some(st) = hp.cpu_status(cpu) else {
                continue;
            };
            states.push(st.state);
            let mine = &mut cpu_bad[c as usize];
            if st.state != st.target {
                mine.push((
                    Check::Stuck,
                    format!(
                        "CPU {c} rests at {} with target {}",
                        st.state.get(),
                        st.target.get()
                    ),
                ));
            }
            if st.state > self.layout.bringup_cpu && st.state < self.layout.ap_online_idle {
                mine.push((
                    Check::Stuck,
                    format!(
                        "CPU {c} rests at {} (inside the CPU's own states)",
                        st.state.get()
                    ),
                ));
            }
            let up = st.state >= self.layout.ap_online_idle;
            if online.contains(cpu) != up {
                mine.push((
                    Check::OnlineMask,
                    format!(
                        "CPU {c} at {} is {} the online mask",
                        st.state.get(),
                        if up { "missing from" } else { "in" }
                    ),
                ));
            }
        }
        for e in self.entries.iter().filter(|e| !e.in_flight.load(SeqCst)) {
            let name = e.counters.name;
            let state = hp.find_state(name);
            let pattern = |held: &Held| -> Vec<u32> {
                (0..states.len())
                    .map(|c| u32::from(state.is_some_and(|s| states[c] >= s)))
                    .chain((states.len()..held.0.len()).map(|_| 0))
                    .collect()
            };
            let sink = &self.sink;
            let mut compare = |what: String, held: &Held, expect: &[u32], or_zero: bool| {
                // Linked everywhere it should be, or nowhere (CPUs a rollback failure left
                // undefined aside).
                let zero_ok = or_zero && !held.any_held(sink);
                let all_ok = or_zero
                    && expect
                        .iter()
                        .enumerate()
                        .all(|(c, &w)| held.get(c) == w || sink.excused(CpuId(c as u32)));
                if zero_ok || all_ok {
                    return;
                }
                for (c, &want) in expect.iter().enumerate() {
                    let have = held.get(c);
                    if have != want {
                        cpu_bad[c].push((
                            Check::Consistent,
                            format!(
                                "{what} holds {have} on CPU {c} at state {} (installed at {})",
                                states.get(c).map_or(0, |s| s.get()),
                                state.map_or("nowhere".to_string(), |s| s.get().to_string())
                            ),
                        ));
                    }
                }
            };
            if e.multi() {
                let ids = state.map(|s| hp.instances(s)).unwrap_or_default();
                let live: Vec<Arc<Inst>> = e.live.lock().map(|l| l.clone()).unwrap_or_default();
                for inst in live {
                    let what = format!("{name} instance {}", inst.key);
                    match inst.id.get() {
                        Some(id) if ids.contains(id) => {
                            compare(what, &inst.held, &pattern(&inst.held), false);
                        }
                        Some(_) => {
                            let zero = vec![0; inst.held.0.len()];
                            compare(what, &inst.held, &zero, false);
                        }
                        // Being added by a thread that has not seen the result yet: linked
                        // everywhere it should be, or nowhere.
                        None => compare(what, &inst.held, &pattern(&inst.held), true),
                    }
                }
            } else {
                compare(name.to_string(), &e.held, &pattern(&e.held), false);
            }
        }
        cpu_bad
    }
}

fn rollback_warning(w: Warning) -> bool {
    matches!(
        w,
        Warning::RollbackFailed
            | Warning::UpRollbackFailed
            | Warning::DownRollbackFailed
            | Warning::DeadCallbackError
            | Warning::InstanceRollbackFailed
            | Warning::TeardownFailedOnRemove
            // A callback that cannot fail panicked: the machine counts it as having run.
            | Warning::CallbackPanicked
    )
}

/// Marks an entry's operation under way until dropped: the checks of other threads leave the
/// entry alone until its thread settled the outcome.
struct Flight<'a>(&'a AtomicBool);

impl<'a> Flight<'a> {
    fn start(flag: &'a AtomicBool) -> Flight<'a> {
        flag.store(true, SeqCst);
        Flight(flag)
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.0.store(false, SeqCst);
    }
}

/// One thread's counts.
#[derive(Default)]
struct Stats {
    ops: BTreeMap<&'static str, OpCount>,
    errors: BTreeMap<String, u64>,
    injected: BTreeMap<&'static str, u64>,
    rollbacks: u64,
    rollback_failures: u64,
    quiescent: u64,
    checks: u64,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        for (k, v) in o.ops {
            let c = self.ops.entry(k).or_default();
            c.attempted += v.attempted;
            c.succeeded += v.succeeded;
        }
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in o.injected {
            *self.injected.entry(k).or_default() += v;
        }
        self.rollbacks += o.rollbacks;
        self.rollback_failures += o.rollback_failures;
        self.quiescent += o.quiescent;
        self.checks += o.checks;
    }

    fn into_report(self, r: &mut TortureReport) {
        r.ops = OP_KINDS
            .iter()
            .map(|&k| (k.to_string(), self.ops.get(k).copied().unwrap_or_default()))
            .collect();
        r.errors = self.errors;
        r.injected = self
            .injected
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        r.rollbacks = self.rollbacks;
        r.rollback_failures = self.rollback_failures;
        r.quiescent_checks = self.quiescent;
        r.checks = self.checks;
    }

    fn error(&mut self, e: &Error) {
        *self.errors.entry(format!("{:?}", e.kind())).or_default() += 1;
        if e.failure().is_some() {
            self.rollbacks += 1;
        }
        if e.rollback_failure().is_some() {
            self.rollback_failures += 1;
        }
    }
}

/// The outcome of one operation, for the counts.
enum Outcome {
    Ok,
    Err(Error),
    Errno(Errno),
}

impl From<Result<(), Error>> for Outcome {
    fn from(r: Result<(), Error>) -> Outcome {
        r.map_or_else(Outcome::Err, |()| Outcome::Ok)
    }
}

impl From<Result<(), Errno>> for Outcome {
    fn from(r: Result<(), Errno>) -> Outcome {
        r.map_or_else(Outcome::Errno, |()| Outcome::Ok)
    }
}

struct Worker<'a> {
    sh: &'a Shared,
    config: &'a TortureConfig,
    index: usize,
    rng: fastrand::Rng,
    stats: Stats,
    /// The current operation's arguments, for the log of recent operations.
    doing: String,
}

/// The CPU states and every held resource, before and after an operation.
type Picture = (Vec<StateId>, Vec<(u64, Vec<u32>)>);

impl<'a> Worker<'a> {
    fn new(sh: &'a Shared, config: &'a TortureConfig, index: usize) -> Worker<'a> {
        // SplitMix64's increment keeps the threads' streams apart for nearby seeds.
        let seed = config
            .seed
            .wrapping_add((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Worker {
            sh,
            config,
            index,
            rng: fastrand::Rng::with_seed(seed),
            stats: Stats::default(),
            doing: String::new(),
        }
    }

    fn violation(&self, check: Check, text: String) {
        self.sh.sink.violation(check, Some(self.index), text);
    }

    /// Reports that `held` is still held where it must not be (`text`), on the CPUs no rollback
    /// failure excuses. Held on a CPU whose operation by another thread is not settled yet, it is
    /// a suspect instead, judged once the CPU settles: a rollback failure that operation reports
    /// excuses the CPU, but only when its thread settles it, after the machine's lock is released.
    fn leaked(&self, held: &Held, check: Check, text: impl FnOnce() -> String) {
        let sink = &self.sh.sink;
        let cpus =
            (0..held.0.len()).filter(|&c| held.get(c) != 0 && !sink.excused(CpuId(c as u32)));
        let (unsettled, settled): (Vec<usize>, Vec<usize>) = cpus.partition(|&c| sink.in_flight(c));
        if !settled.is_empty() {
            self.violation(check, text());
        } else if !unsettled.is_empty() {
            let text = text();
            for c in unsettled {
                sink.suspect(
                    check,
                    CpuId(c as u32),
                    format!("{text} (CPU {c} then settling)"),
                );
            }
        }
    }

    fn run(
        mut self,
        barrier: &Barrier,
        start: Instant,
        prog: &mpsc::Sender<TortureProgress>,
    ) -> Stats {
        let mut done: u64 = 0;
        loop {
            for _ in 0..self.config.quiesce_every.max(1) {
                if self.config.max_ops.is_some_and(|m| done >= m) || self.sh.stop.load(SeqCst) {
                    break;
                }
                let kind = self.pick();
                self.sh.doing[self.index].store(kind, SeqCst);
                let r = catch_unwind(AssertUnwindSafe(|| self.op(kind)));
                if let Err(p) = r {
                    let msg = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    self.violation(
                        Check::NoPanic,
                        format!(
                            "{} panicked: {msg} (seed {})",
                            OP_KINDS[kind], self.config.seed
                        ),
                    );
                }
                self.sh.doing[self.index].store(usize::MAX, SeqCst);
                self.sh.completed.fetch_add(1, SeqCst);
                done += 1;
            }
            // A quiescent point: every thread is here, no operation runs.
            if self.sh.stop.load(SeqCst) {
                // The watchdog gave up on some thread: do not wait for it.
                return self.stats;
            }
            let leader = barrier.wait().is_leader();
            if leader {
                self.quiescent();
                let out_of_ops = self.config.max_ops.is_some_and(|m| done >= m);
                if start.elapsed() >= self.config.duration
                    || out_of_ops
                    || self.sh.stop_early.load(SeqCst)
                {
                    self.sh.stop.store(true, SeqCst);
                }
                let _ = prog.send(TortureProgress {
                    elapsed: start.elapsed(),
                    ops: self.sh.completed.load(SeqCst),
                    violations: self.sh.sink.count.load(SeqCst),
                });
            }
            barrier.wait();
            if self.sh.stop.load(SeqCst) {
                return self.stats;
            }
        }
    }

    fn quiescent(&mut self) {
        self.stats.quiescent += 1;
        self.stats.checks += 1;
        match self.sh.m().with(|hp| self.sh.check(hp)) {
            Ok(bad) => {
                for (check, text) in bad {
                    self.violation(
                        check,
                        format!("at a quiescent point: {text} (seed {})", self.config.seed),
                    );
                }
            }
            Err(e) => self.violation(
                Check::Outcome,
                format!("the quiescent check could not lock the machine: {e}"),
            ),
        }
        if self.sh.sink.count.load(SeqCst) > 0 {
            // Keep the first violation's context: stop at this quiescent point.
            self.sh.stop_early.store(true, SeqCst);
        } else if let Err(e) = self.sh.maybe_reboot() {
            self.violation(Check::Outcome, format!("the machine did not reboot: {e}"));
        }
    }

    /// A random operation kind, weighted towards hotplug.
    fn pick(&mut self) -> usize {
        const WEIGHTS: [u32; 19] = [10, 10, 5, 5, 4, 3, 2, 4, 3, 4, 3, 2, 2, 3, 1, 1, 1, 2, 3];
        let total: u32 = WEIGHTS.iter().sum();
        let mut x = self.rng.u32(0..total);
        for (i, &w) in WEIGHTS.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        0
    }

    fn cpu(&mut self) -> CpuId {
        CpuId(self.rng.u32(0..self.sh.cpus))
    }

    fn errno(&mut self) -> Errno {
        ERRNOS[self.rng.usize(0..ERRNOS.len())]
    }

    /// A target: mostly the section borders and installed states, sometimes any number (some
    /// of which a CPU cannot stop at: a typed refusal).
    fn target(&mut self) -> StateId {
        let l = self.sh.layout;
        match self.rng.u32(0..6) {
            0 => StateId::OFFLINE,
            1 => l.online,
            2 => l.bp_kick_ap.unwrap_or(l.bringup_cpu),
            3 => l.ap_online_idle,
            4 => {
                let e = &self.sh.entries[self.rng.usize(0..self.sh.entries.len())];
                let name = e.counters.name;
                self.sh
                    .m()
                    .with(|hp| hp.find_state(name))
                    .ok()
                    .flatten()
                    .unwrap_or(l.online)
            }
            _ => StateId(self.rng.u32(0..=l.online.get() + 2)),
        }
    }

    /// With probability 1/3, arms a callback or notifier to fail at one of its next calls.
    fn maybe_arm(&mut self) {
        if self.rng.u32(0..3) != 0 {
            return;
        }
        let n = self.rng.u32(1..=4);
        // Failing teardowns mostly fail rollbacks, after which a CPU is no longer checked:
        // rarer, so that most of a run is checked.
        let up = self.rng.u32(0..16) != 0;
        // One armed failure in ten is a panic.
        let panic = self.rng.u32(0..10) == 0;
        let (what, arm) = if self.rng.u32(0..4) == 0 {
            let nb = &self.sh.notifs[self.rng.usize(0..self.sh.notifs.len())].state;
            (
                "notifier veto (armed)",
                if up { &nb.arm_up } else { &nb.arm_down },
            )
        } else {
            let e = &self.sh.entries[self.rng.usize(0..self.sh.entries.len())].counters;
            if panic && self.rng.u32(0..4) == 0 {
                // Where a callback cannot fail: a rollback failure for the machine.
                ("callback (armed)", &e.arm_panic)
            } else {
                ("callback (armed)", if up { &e.arm_up } else { &e.arm_down })
            }
        };
        arm.arm(n, panic);
        *self.stats.injected.entry(what).or_default() += 1;
        if panic {
            *self.stats.injected.entry("panic (armed)").or_default() += 1;
        }
    }

    fn count(&mut self, kind: usize, outcome: &Outcome) {
        let shown = match outcome {
            Outcome::Ok => "ok".to_string(),
            Outcome::Err(e) => e.to_string(),
            Outcome::Errno(e) => e.to_string(),
        };
        let what = std::mem::take(&mut self.doing);
        self.sh.sink.note(format!(
            "[{}] {} {what} → {shown}",
            self.index, OP_KINDS[kind]
        ));
        let c = self.stats.ops.entry(OP_KINDS[kind]).or_default();
        c.attempted += 1;
        match outcome {
            Outcome::Ok => c.succeeded += 1,
            Outcome::Err(e) => self.stats.error(e),
            Outcome::Errno(e) => {
                *self.stats.errors.entry(format!("sysfs:{e}")).or_default() += 1;
            }
        }
    }

    fn op(&mut self, kind: usize) {
        self.maybe_arm();
        let outcome = match OP_KINDS[kind] {
            "up" | "down" | "partial-up" | "partial-down" => self.hotplug(kind),
            "sysfs-target" => self.sysfs_target(),
            "sysfs-online" => {
                let cpu = self.cpu();
                let v = if self.rng.bool() { "1" } else { "0" };
                self.sysfs_move(cpu, &format!("cpu{}/online", cpu.0), v)
            }
            "sysfs-fail" => {
                let cpu = self.cpu();
                let t = self.target();
                let r = self
                    .sh
                    .m()
                    .sysfs_write(&format!("cpu{}/hotplug/fail", cpu.0), &t.get().to_string());
                if r.is_ok() {
                    *self
                        .stats
                        .injected
                        .entry("hotplug/fail (armed)")
                        .or_default() += 1;
                }
                r.into()
            }
            "setup-state" | "remove-state" => self.install(kind),
            "add-instance" => self.add_instance(),
            "remove-instance" => self.remove_instance(),
            "register-notifier" | "unregister-notifier" => self.notifier(kind),
            "read-section" => self.read_section(),
            "suspend" => self.suspend(),
            "hotplug-disable" => self.hotplug_disable(),
            "smt" => {
                let c = if self.rng.bool() {
                    SmtControl::On
                } else {
                    SmtControl::Off
                };
                let m = &*self.sh.m();
                let r = self.many_cpus(
                    || m.set_smt_control(c),
                    |r| r.as_ref().err().into_iter().collect(),
                );
                if !self.sh.smt && !matches!(&r, Err(e) if e.kind() == ErrorKind::SmtNotSupported) {
                    self.violation(
                        Check::Outcome,
                        format!("SMT {c} without SMT returned {r:?}"),
                    );
                }
                r.into()
            }
            "parallel-up" => self.parallel(),
            _ => self.inject(),
        };
        self.count(kind, &outcome);
    }

    /// Runs `f` under the machine's lock with a picture of every CPU and resource before and
    /// after, then the invariants; `cpu`: the one CPU a failure must leave untouched.
    fn checked(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Hotplug<SimPlatform>) -> Result<(), Error>,
    ) -> Outcome {
        self.doing = what.to_string();
        let sh = self.sh;
        let picture = |hp: &Hotplug<SimPlatform>| -> Picture {
            let states = (0..sh.cpus)
                .map(|c| {
                    hp.cpu_status(CpuId(c))
                        .map_or(StateId::OFFLINE, |s| s.state)
                })
                .collect();
            (states, sh.all_held())
        };
        let r = sh.m().with(|hp| {
            let excuses = sh.sink.excuses.load(SeqCst);
            let was_excused = (0..sh.cpus).any(|c| sh.sink.excused(CpuId(c)));
            let before = picture(hp);
            let r = f(hp);
            let after = picture(hp);
            if let Err(e) = &r {
                sh.sink.settle(e);
            }
            let excused = was_excused || sh.sink.excuses.load(SeqCst) != excuses;
            (r, before, after, excused, sh.check(hp))
        });
        self.stats.checks += 1;
        let (r, before, after, excused, bad) = match r {
            Ok(x) => x,
            Err(e) => return Outcome::Err(e),
        };
        for (check, text) in bad {
            self.violation(check, format!("after {what} → {r:?}: {text}"));
        }
        if let Err(e) = &r {
            let rollback_failed = e.rollback_failure().is_some() || excused;
            // Instances other threads add or drop (outside the lock) come and go from the picture.
            let common = |a: &Picture, b: &Picture| -> Vec<(u64, Vec<u32>)> {
                a.1.iter()
                    .filter(|(k, _)| b.1.iter().any(|(j, _)| j == k))
                    .cloned()
                    .collect()
            };
            let moved = before.0 != after.0 || common(&before, &after) != common(&after, &before);
            if !rollback_failed && moved {
                self.violation(
                    Check::WhereItBegan,
                    format!(
                        "{what} failed ({e}) but moved the machine: states {:?} → {:?}, held {:?} → {:?}",
                        before.0.iter().map(|s| s.get()).collect::<Vec<_>>(),
                        after.0.iter().map(|s| s.get()).collect::<Vec<_>>(),
                        before.1,
                        after.1
                    ),
                );
            }
        }
        r.into()
    }

    fn hotplug(&mut self, kind: usize) -> Outcome {
        let cpu = self.cpu();
        let name = OP_KINDS[kind];
        let target = match name {
            "up" => self.sh.layout.online,
            "down" => StateId::OFFLINE,
            _ => self.target(),
        };
        let up = name.ends_with("up");
        let what = format!("{name} CPU {} to {}", cpu.0, target.get());
        if self.rng.bool() {
            self.checked(&what, |hp| {
                if up {
                    hp.cpu_up(cpu, target)
                } else {
                    hp.cpu_down(cpu, target)
                }
            })
        } else {
            self.doing = format!("{what} (unlocked)");
            let sink = &self.sh.sink;
            sink.in_flight[cpu.index()].fetch_add(1, SeqCst);
            let r = if up {
                self.sh.m().cpu_up(cpu, target)
            } else {
                self.sh.m().cpu_down(cpu, target)
            };
            if let Err(e) = &r {
                sink.settle(e);
            }
            sink.in_flight[cpu.index()].fetch_sub(1, SeqCst);
            r.into()
        }
    }

    /// Runs `f` with every CPU marked in flight, and settles its errors.
    fn many_cpus<R>(&self, f: impl FnOnce() -> R, errors: impl Fn(&R) -> Vec<&Error>) -> R {
        let sink = &self.sh.sink;
        sink.all_in_flight.fetch_add(1, SeqCst);
        let r = f();
        let errors = errors(&r);
        for e in &errors {
            sink.settle(e);
        }
        if !errors.is_empty() {
            // A thaw reports only its first error, and a freeze stops at its first: a CPU that a
            // rollback failure the error does not name left inconsistent is excused (the machine
            // warns once), and what the notifiers hear is no longer checked against the past.
            let sh = self.sh;
            let problems = sh.m().with(|hp| sh.problems(hp)).unwrap_or_default();
            for (c, p) in problems.iter().enumerate() {
                let cpu = CpuId(c as u32);
                sink.forget(cpu);
                if !p.is_empty() && !sink.excused(cpu) {
                    sink.excuse(cpu);
                    sink.unreported_excuses.fetch_add(1, SeqCst);
                }
            }
        }
        sink.all_in_flight.fetch_sub(1, SeqCst);
        r
    }

    /// A sysfs write that may move `cpu`, under the machine's lock. A sysfs write returns only
    /// an errno, so a rollback failure shows only as a CPU left between states (Linux warns
    /// once): such a CPU is excused.
    fn sysfs_move(&mut self, cpu: CpuId, path: &str, value: &str) -> Outcome {
        let mut errno = None;
        let what = format!("echo {value} > {path}");
        let sh = self.sh;
        let sink = &sh.sink;
        let r = self.checked(&what, |hp| {
            hp.sysfs_write(path, value).map_err(|e| {
                errno = Some(e);
                // What the failure left inconsistent is a rollback failure the errno cannot
                // report; and what the notifiers hear about this CPU is no longer checked
                // against the past, in case it hides one that left everything consistent.
                sink.forget(cpu);
                if !sink.excused(cpu)
                    && sh
                        .problems(hp)
                        .get(cpu.index())
                        .is_some_and(|p| !p.is_empty())
                {
                    sink.excuse(cpu);
                    sink.sysfs_excuses.fetch_add(1, SeqCst);
                }
                Error::new(ErrorKind::Callback)
            })
        });
        match (r, errno) {
            (Outcome::Err(_), Some(e)) => Outcome::Errno(e),
            (r, _) => r,
        }
    }

    fn sysfs_target(&mut self) -> Outcome {
        let cpu = self.cpu();
        let target = self.target();
        let path = format!("cpu{}/hotplug/target", cpu.0);
        self.sysfs_move(cpu, &path, &target.get().to_string())
    }

    fn install(&mut self, kind: usize) -> Outcome {
        let sh = self.sh;
        let e = &sh.entries[self.rng.usize(0..sh.entries.len())];
        let Ok(mut installed) = e.installed.lock() else {
            return Outcome::Err(Error::new(ErrorKind::Poisoned));
        };
        let _flight = Flight::start(&e.in_flight);
        let setup = OP_KINDS[kind] == "setup-state";
        let name = e.counters.name;
        match (*installed, setup) {
            (None, true) => {
                let r = if self.rng.bool() {
                    sh.m().setup_state(e.slot, name, e.callbacks())
                } else {
                    let mut id = None;
                    let r = self.checked(&format!("setup {name}"), |hp| {
                        id = Some(hp.setup_state(e.slot, name, e.callbacks())?);
                        Ok(())
                    });
                    match (r, id) {
                        (Outcome::Ok, Some(id)) => Ok(id),
                        (Outcome::Err(err), _) => Err(err),
                        _ => Err(Error::new(ErrorKind::InvalidState)),
                    }
                };
                match r {
                    Ok(id) => {
                        *installed = Some(id);
                        Outcome::Ok
                    }
                    Err(err) if err.rollback_failure().is_some() => {
                        sh.sink.settle(&err);
                        // A panic in a callback that cannot fail is reported, but the install
                        // completes anyway: installed after all?
                        *installed = sh.m().with(|hp| hp.find_state(name)).ok().flatten();
                        if installed.is_none() {
                            // Undoing the install failed: the resources of the CPUs whose
                            // teardown failed leak (Linux `BUG()`s). Not installed, so no
                            // callback can race with forgetting them.
                            for h in &e.held.0 {
                                h.store(0, SeqCst);
                            }
                        }
                        Outcome::Err(err)
                    }
                    Err(err) => {
                        // Not installed: nothing may be held (no other thread can install it).
                        if !e.multi() {
                            self.leaked(&e.held, Check::WhereItBegan, || {
                                format!(
                                    "setup of {name} failed ({err}) and left {:?} held",
                                    e.held.all()
                                )
                            });
                        }
                        Outcome::Err(err)
                    }
                }
            }
            (Some(id), false) => {
                let r = if self.rng.bool() {
                    let r = sh.m().remove_state(id);
                    if let Err(err) = &r {
                        sh.sink.settle(err);
                    }
                    r.into()
                } else {
                    self.checked(&format!("remove {name}"), |hp| hp.remove_state(id))
                };
                if let Outcome::Err(err) = &r {
                    if err.rollback_failure().is_some() {
                        // A removal may complete despite a reported failure (a panic in a
                        // teardown that cannot fail): removed after all?
                        if sh
                            .m()
                            .with(|hp| hp.find_state(name))
                            .ok()
                            .flatten()
                            .is_none()
                        {
                            *installed = None;
                            if let Ok(mut l) = e.live.lock() {
                                l.clear();
                            }
                        }
                    }
                }
                if let Outcome::Ok = r {
                    *installed = None;
                    self.leaked(&e.held, Check::Consistent, || {
                        format!("{name} removed but {:?} still held", e.held.all())
                    });
                }
                r
            }
            // The wrong way round: the machine must refuse, with a typed error.
            (Some(id), true) => {
                let r = sh.m().setup_state(Slot::Fixed(id), name, e.callbacks());
                match r {
                    Ok(_) => {
                        self.violation(
                            Check::Outcome,
                            format!(
                                "a second {name} was installed in the taken slot {}",
                                id.get()
                            ),
                        );
                        Outcome::Ok
                    }
                    Err(err) => Outcome::Err(err),
                }
            }
            (None, false) => {
                let r = sh.m().remove_state(StateId(sh.layout.online_dyn.1.get()));
                match r {
                    Ok(()) => {
                        self.violation(Check::Outcome, "removed a state never set up".into());
                        Outcome::Ok
                    }
                    Err(err) => Outcome::Err(err),
                }
            }
        }
    }

    fn multi_entry(&mut self) -> &'a Entry {
        let multi: Vec<&Entry> = self.sh.entries.iter().filter(|e| e.multi()).collect();
        multi[self.rng.usize(0..multi.len())]
    }

    fn add_instance(&mut self) -> Outcome {
        let e = self.multi_entry();
        let Ok(installed) = e.installed.lock() else {
            return Outcome::Err(Error::new(ErrorKind::Poisoned));
        };
        let _flight = Flight::start(&e.in_flight);
        // Sometimes on a state that is not installed: a typed refusal.
        let state = installed.unwrap_or(StateId(self.sh.layout.online_dyn.1.get()));
        let inst = Arc::new(Inst {
            key: self.sh.next_key.fetch_add(1, SeqCst),
            id: OnceLock::new(),
            held: Held::new(self.sh.cpus),
        });
        if let Ok(mut live) = e.live.lock() {
            live.push(Arc::clone(&inst));
        }
        // Only this thread changes this state's instances (the entry's lock).
        let linked = |sh: &Shared| sh.m().with(|hp| hp.instances(state)).unwrap_or_default();
        let before = linked(self.sh);
        let r = if self.rng.bool() {
            self.sh.m().add_instance(state, Arc::clone(&inst))
        } else {
            let mut id = None;
            let i2 = Arc::clone(&inst);
            let r = self.checked(&format!("add instance {}", inst.key), |hp| {
                id = Some(hp.add_instance(state, i2)?);
                Ok(())
            });
            match (r, id) {
                (Outcome::Ok, Some(id)) => Ok(id),
                (Outcome::Err(err), _) => Err(err),
                _ => Err(Error::new(ErrorKind::UnknownInstance)),
            }
        };
        match r {
            Ok(id) => {
                let _ = inst.id.set(id);
                Outcome::Ok
            }
            Err(err)
                if err.rollback_failure().is_some() && {
                    // A panic in a callback that cannot fail is reported, but the add completes
                    // anyway: added after all?
                    let new: Vec<InstanceId> = linked(self.sh)
                        .into_iter()
                        .filter(|i| !before.contains(i))
                        .collect();
                    new.len() == 1 && inst.id.set(new[0]).is_ok()
                } =>
            {
                self.sh.sink.settle(&err);
                Outcome::Err(err)
            }
            Err(err) => {
                // Undoing the add failed: the resources whose teardown failed leak, as the
                // error says.
                self.sh.sink.settle(&err);
                if err.rollback_failure().is_none() {
                    self.leaked(&inst.held, Check::WhereItBegan, || {
                        format!(
                            "adding instance {} failed ({err}) and left {:?} held",
                            inst.key,
                            inst.held.all()
                        )
                    });
                }
                if let Ok(mut live) = e.live.lock() {
                    live.retain(|i| i.key != inst.key);
                }
                Outcome::Err(err)
            }
        }
    }

    fn remove_instance(&mut self) -> Outcome {
        let e = self.multi_entry();
        let Ok(installed) = e.installed.lock() else {
            return Outcome::Err(Error::new(ErrorKind::Poisoned));
        };
        let _flight = Flight::start(&e.in_flight);
        let live: Vec<Arc<Inst>> = e.live.lock().map(|l| l.clone()).unwrap_or_default();
        let Some(state) = *installed else {
            // No state: a typed refusal for a made-up instance.
            return self
                .sh
                .m()
                .remove_instance(StateId(self.sh.layout.online_dyn.1.get()), InstanceId(0))
                .into();
        };
        if live.is_empty() {
            return self
                .sh
                .m()
                .remove_instance(state, InstanceId(u64::MAX))
                .into();
        }
        let inst = Arc::clone(&live[self.rng.usize(0..live.len())]);
        let Some(&id) = inst.id.get() else {
            return Outcome::Err(Error::new(ErrorKind::UnknownInstance));
        };
        let r = if self.rng.bool() {
            let r = self.sh.m().remove_instance(state, id);
            if let Err(err) = &r {
                self.sh.sink.settle(err);
            }
            r.into()
        } else {
            self.checked(&format!("remove instance {}", inst.key), |hp| {
                hp.remove_instance(state, id).map(drop)
            })
        };
        if let Outcome::Err(err) = &r {
            // A removal may complete despite a reported failure (a panic in a teardown that
            // cannot fail): removed after all?
            let gone = err.rollback_failure().is_some()
                && self
                    .sh
                    .m()
                    .with(|hp| !hp.instances(state).contains(&id))
                    .unwrap_or(false);
            if gone {
                if let Ok(mut live) = e.live.lock() {
                    live.retain(|i| i.key != inst.key);
                }
            }
        }
        if let Outcome::Ok = r {
            self.leaked(&inst.held, Check::Consistent, || {
                format!(
                    "instance {} removed but {:?} still held",
                    inst.key,
                    inst.held.all()
                )
            });
            if let Ok(mut live) = e.live.lock() {
                live.retain(|i| i.key != inst.key);
            }
        }
        r
    }

    fn notifier(&mut self, kind: usize) -> Outcome {
        let n = &self.sh.notifs[self.rng.usize(0..self.sh.notifs.len())];
        let Ok(mut registered) = n.registered.lock() else {
            return Outcome::Err(Error::new(ErrorKind::Poisoned));
        };
        if OP_KINDS[kind] == "register-notifier" {
            let replay = self.rng.bool();
            let sh = self.sh;
            let was = *registered;
            // Under the machine's lock, to know where each CPU stands when the notifier joins.
            let r = sh
                .m()
                .with(|hp| {
                    if !was {
                        // Not in the chain: no event can race with the reset. A CPU resting at
                        // a partial target is in the middle of a cycle the notifier missed.
                        let online = sh.layout.online;
                        if let Ok(mut heard) = n.state.heard.lock() {
                            for (c, h) in heard.iter_mut().enumerate() {
                                let at = hp.cpu_status(CpuId(c as u32)).map(|s| s.state);
                                let partial =
                                    at.is_some_and(|s| s != StateId::OFFLINE && s != online);
                                let start = if partial { Heard::Late } else { Heard::Unknown };
                                *h = (start, sh.sink.epoch(CpuId(c as u32)), Vec::new());
                            }
                        }
                    }
                    n.state.replaying.store(replay, SeqCst);
                    let r = if replay {
                        hp.register_cpu_notifier_replay(Arc::clone(&n.block))
                    } else {
                        hp.register_cpu_notifier(Arc::clone(&n.block))
                    };
                    n.state.replaying.store(false, SeqCst);
                    r
                })
                .and_then(|r| r);
            match &r {
                Ok(()) => *registered = true,
                Err(e) if *registered && e.kind() != ErrorKind::AlreadyRegistered => {
                    self.violation(
                        Check::Outcome,
                        format!("registering notifier {} twice returned {e}", n.state.index),
                    );
                }
                Err(e) if !*registered && e.kind() == ErrorKind::AlreadyRegistered => {
                    self.violation(
                        Check::Outcome,
                        format!("notifier {} was registered already", n.state.index),
                    );
                }
                Err(_) => {}
            }
            r.into()
        } else {
            let r = self.sh.m().unregister_cpu_notifier(&*n.block);
            match (&r, *registered) {
                (Ok(()), true) => *registered = false,
                (Err(e), false) if e.kind() == ErrorKind::NotRegistered => {}
                (r, was) => self.violation(
                    Check::Outcome,
                    format!(
                        "unregistering notifier {} (registered: {was}) returned {r:?}",
                        n.state.index
                    ),
                ),
            }
            r.into()
        }
    }

    fn read_section(&mut self) -> Outcome {
        let m = &*self.sh.m();
        let guard = match m.cpus_read_lock() {
            Ok(g) => g,
            Err(e) => return Outcome::Err(e),
        };
        let before = m.online_mask();
        let cpu = self.cpu();
        // A hotplug operation would wait for this thread's own read side.
        let r = if self.rng.bool() {
            m.cpu_down(cpu, StateId::OFFLINE)
        } else {
            m.cpu_up(cpu, self.sh.layout.online)
        };
        if !matches!(&r, Err(e) if e.kind() == ErrorKind::WouldDeadlock) {
            self.violation(
                Check::ReadLock,
                format!("a hotplug operation inside cpus_read_lock returned {r:?}"),
            );
        }
        let statuses = m.cpu_status(cpu);
        let after = m.online_mask();
        drop(guard);
        match (before, after, statuses) {
            (Ok(b), Ok(a), Ok(_)) => {
                if a != b {
                    self.violation(
                        Check::ReadLock,
                        format!("the online CPUs changed inside cpus_read_lock: {b} → {a}"),
                    );
                }
                Outcome::Ok
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Outcome::Err(e),
        }
    }

    fn suspend(&mut self) -> Outcome {
        let Ok(_one) = self.sh.suspend.lock() else {
            return Outcome::Err(Error::new(ErrorKind::Poisoned));
        };
        let m = &*self.sh.m();
        match self.rng.u32(0..4) {
            0 => {
                let after = self.rng.u32(0..self.sh.cpus);
                let _ = m.inject_wakeup(after);
                *self.stats.injected.entry("wakeup (armed)").or_default() += 1;
            }
            1 => {
                let _ = m.set_wakeup_pending(true);
                *self.stats.injected.entry("wakeup (armed)").or_default() += 1;
            }
            _ => {}
        }
        let primary = self.rng.bool().then(|| self.cpu());
        self.doing = format!("primary {primary:?}");
        let frozen = self.many_cpus(
            || m.freeze_secondary_cpus(primary),
            |r| r.as_ref().err().into_iter().collect(),
        );
        let _ = m.set_wakeup_pending(false);
        if matches!(&frozen, Err(e) if e.kind() == ErrorKind::AlreadyFrozen) {
            self.violation(Check::Outcome, "a freeze found the CPUs frozen".into());
        }
        // Every caller thaws, also after a failed freeze.
        let thawed = self.many_cpus(
            || m.thaw_secondary_cpus(),
            |r| r.as_ref().err().into_iter().collect(),
        );
        match frozen {
            Err(e) => Outcome::Err(e),
            Ok(()) => thawed.into(),
        }
    }

    fn hotplug_disable(&mut self) -> Outcome {
        let Ok(_one) = self.sh.suspend.lock() else {
            return Outcome::Err(Error::new(ErrorKind::Poisoned));
        };
        let m = &*self.sh.m();
        if let Err(e) = m.cpu_hotplug_disable() {
            return Outcome::Err(e);
        }
        let cpu = CpuId(self.rng.u32(1..self.sh.cpus.max(2)));
        let r = m.cpu_down(cpu, StateId::OFFLINE);
        let refused = matches!(&r, Err(e) if e.kind() == ErrorKind::Disabled || e.kind() == ErrorKind::InvalidCpu);
        if !refused {
            self.violation(
                Check::Outcome,
                format!("cpu_down with hotplug disabled returned {r:?}"),
            );
        }
        m.cpu_hotplug_enable().into()
    }

    fn parallel(&mut self) -> Outcome {
        let sh = self.sh;
        let pick: Vec<bool> = (0..sh.cpus).map(|_| self.rng.bool()).collect();
        if self.rng.bool() {
            let cpus: Vec<CpuId> = (1..sh.cpus)
                .filter(|&c| pick[c as usize])
                .map(CpuId)
                .collect();
            let r = self.many_cpus(
                || sh.m().bringup_cpus_parallel(&cpus),
                |r| match r {
                    Ok(outcomes) => outcomes
                        .iter()
                        .filter_map(|(_, r)| r.as_ref().err())
                        .collect(),
                    Err(e) => vec![e],
                },
            );
            return match r {
                Ok(outcomes) => {
                    for (_, r) in &outcomes {
                        if let Err(e) = r {
                            self.stats.error(e);
                        }
                    }
                    Outcome::Ok
                }
                Err(e) => Outcome::Err(e),
            };
        }
        // Under the lock: only CPUs that are offline, each of which must end online or offline.
        let online = sh.layout.online;
        let r = sh.m().with(|hp| {
            let cpus: Vec<CpuId> = (1..sh.cpus)
                .map(CpuId)
                .filter(|&c| pick[c.index()])
                .filter(|&c| {
                    hp.cpu_status(c)
                        .is_some_and(|s| s.state == StateId::OFFLINE && !sh.sink.excused(c))
                })
                .collect();
            let outcomes = hp.bringup_cpus_parallel(&cpus);
            for (_, r) in &outcomes {
                if let Err(e) = r {
                    sh.sink.settle(e);
                }
            }
            let ends: Vec<(CpuId, Result<(), Error>, StateId)> = outcomes
                .into_iter()
                .map(|(c, r)| (c, r, hp.cpu_status(c).map_or(StateId::OFFLINE, |s| s.state)))
                .collect();
            (cpus.len(), ends, sh.check(hp))
        });
        self.stats.checks += 1;
        let (asked, ends, bad) = match r {
            Ok(x) => x,
            Err(e) => return Outcome::Err(e),
        };
        for (check, text) in bad {
            self.violation(check, format!("after a parallel bring-up: {text}"));
        }
        if ends.len() != asked {
            self.violation(
                Check::Outcome,
                format!(
                    "parallel bring-up of {asked} CPUs reported {} outcomes",
                    ends.len()
                ),
            );
        }
        for (cpu, r, end) in ends {
            let want = if r.is_ok() { online } else { StateId::OFFLINE };
            if let Err(e) = &r {
                self.stats.error(e);
            }
            let excused =
                r.as_ref().is_err_and(|e| e.rollback_failure().is_some()) || sh.sink.excused(cpu);
            if end != want && !excused {
                self.violation(
                    Check::WhereItBegan,
                    format!(
                        "parallel bring-up of CPU {cpu} returned {r:?} and left it at {}",
                        end.get()
                    ),
                );
            }
        }
        Outcome::Ok
    }

    fn inject(&mut self) -> Outcome {
        let m = &*self.sh.m();
        let cpu = self.cpu();
        let errno = self.errno();
        match self.rng.u32(0..10) {
            0..=3 => {
                let r = m.inject_start_failure(cpu, errno);
                *self
                    .stats
                    .injected
                    .entry("platform start (armed)")
                    .or_default() += 1;
                r.into()
            }
            4 => {
                // Left armed, a CPU that refuses to stop mostly fails the rollback of some
                // later failed bring-up (after which the CPU is no longer checked): armed only
                // for the tear-down that follows at once.
                if let Err(e) = m.inject_stop_failure(cpu, errno) {
                    return Outcome::Err(e);
                }
                *self
                    .stats
                    .injected
                    .entry("platform stop (armed)")
                    .or_default() += 1;
                let what = format!("down CPU {} with a stop failure armed", cpu.0);
                self.checked(&what, |hp| hp.cpu_down(cpu, StateId::OFFLINE))
            }
            _ => {
                let t = self.target();
                // Teardowns only where they can fail by type (the ONLINE section): a `Fault`
                // also fires on a PREPARE teardown, which the machine does not undo cleanly
                // (the CPU is booted again and left with its target below its state).
                let online_section = t > self.sh.layout.ap_online_idle;
                let mut f = if !online_section || self.rng.u32(0..8) != 0 {
                    Fault::startup(t, errno)
                } else {
                    Fault::teardown(t, errno)
                };
                if self.rng.bool() {
                    f = f.on_cpu(cpu);
                }
                let r = m.inject(f.once());
                *self.stats.injected.entry("fault (armed)").or_default() += 1;
                r.into()
            }
        }
    }
}
