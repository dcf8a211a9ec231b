//! Exhaustive failure exploration: every failure point a scenario reaches — each callback ×
//! CPU × direction × instance, each notifier's PREPARE answer, each CPU's boot and death — run
//! with that one failure injected, and then each callback of the rollback it causes with a second
//! failure injected there; the invariants ([`crate::check`]) checked after every step of every
//! run. At every failure point of a scenario callback, one more run has the callback panic
//! instead of returning its errno: the machine must roll back exactly as for the errno (`EIO`).
//! On CPUs that nothing tells apart, a few representatives stand for all ([`CpuClass`]).

use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cpuhp::Errno;
use serde::Serialize;

use crate::check::Violation;
use crate::checkpoint::Checkpoints;
use crate::journal::{Event, Outcome, Point};
use crate::run::{Reached, Record, run_with};
use crate::scenario::{Op, Scenario};

/// How to explore.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads (default: the available cores).
    pub jobs: usize,
    /// Also inject a second failure at every callback of each rollback.
    pub rollback_failures: bool,
    /// The errno injected failures return.
    pub errno: Errno,
    /// Also run every failure point of a scenario callback with the callback panicking
    /// instead (a buggy driver), expecting the same rollback as for an `EIO` failure.
    pub panics: bool,
    /// Explore one representative failure point per class of interchangeable CPUs (see
    /// [`CpuClass`]); `false` tries every CPU, the reference the reduction is tested against.
    pub symmetry: bool,
    /// Start each run from a copy of the baseline's machine taken before the step where its
    /// failure fires, instead of from boot: the same cases, faster. `false` runs every case
    /// from boot, the reference the checkpoints are tested against.
    pub checkpoints: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            rollback_failures: true,
            errno: Errno::EIO,
            panics: true,
            symmetry: true,
            checkpoints: true,
        }
    }
}

/// One injected failure: the `occurrence`-th call (0-based) at `point`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Failure {
    /// Where.
    pub point: Point,
    /// Which call there (0: the first).
    pub occurrence: u32,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.point)?;
        if self.occurrence > 0 {
            write!(f, " (call {})", self.occurrence + 1)?;
        }
        Ok(())
    }
}

impl Failure {
    /// The failure as a scenario plants it, to watch it with `cpuhp run`: a `fail` entry for a
    /// callback, a `veto` for a notifier, a `[[fault]]` for the platform — with `errno`, and with
    /// `after` counting the calls let through first.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{Failure, Point};
    ///
    /// let f = Failure {
    ///     point: Point::Platform { state: "bringup_cpu".into(), step: 30, cpu: 2, bringup: true },
    ///     occurrence: 1,
    /// };
    /// assert_eq!(f.to_string(), "CPU 2 fails to boot (bringup_cpu) (call 2)");
    /// assert_eq!(
    ///     f.as_scenario(cpuhp::Errno::EIO),
    ///     "[[fault]]\non = \"boot\"\ncpu = 2\nerrno = \"EIO\"\nafter = 1\ntimes = 1\n"
    /// );
    /// ```
    pub fn as_scenario(&self, errno: Errno) -> String {
        let name = errno
            .name()
            .map_or_else(|| errno.code().to_string(), |n| format!("\"{n}\""));
        let after = self.occurrence;
        match &self.point {
            Point::Callback {
                state,
                cpu,
                bringup,
                instance,
            } => format!(
                "# in the [[state]] named \"{state}\":\nfail = [{{ on = \"{}\", cpu = {cpu}, {}errno \
                 = {name}, after = {after}, times = 1 }}]\n",
                if *bringup { "startup" } else { "teardown" },
                instance
                    .as_ref()
                    .map(|i| format!("instance = \"{i}\", "))
                    .unwrap_or_default(),
            ),
            Point::Notifier { notifier, up, cpu } => format!(
                "# in the [[notifier]] named \"{notifier}\":\nveto = [{{ event = \"{}\", cpu = {cpu}, \
                 errno = {name}, after = {after}, times = 1 }}]\n",
                if *up { "up_prepare" } else { "down_prepare" },
            ),
            Point::Platform {
                state,
                cpu,
                bringup,
                ..
            } => format!(
                "[[fault]]\non = \"{}\"\ncpu = {cpu}\nerrno = {name}\nafter = {after}\ntimes = 1\n",
                match (*bringup, state.as_str()) {
                    (true, "cpuhp_kick_ap_alive") => "kick",
                    (true, _) => "boot",
                    (false, _) => "stop",
                }
            ),
        }
    }
}

/// A run's failures and what they found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Case {
    /// The injected failure.
    pub first: Failure,
    /// A second failure, during the rollback the first caused.
    pub second: Option<Failure>,
    /// The step in which the (first) failure fired.
    pub step: usize,
    /// The first failure is a panic of the callback instead of an errno.
    pub panic: bool,
    /// For a panic: where its run differs from the run with the callback failing with `EIO`
    /// (it must not).
    pub differs: Option<String>,
    /// The operation failed (the failure was not absorbed).
    pub failed: bool,
    /// Broken invariants.
    pub violations: Vec<Violation>,
}

/// What an exploration found.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{explore, ExploreOptions, Scenario};
///
/// let s = Scenario::parse("s.toml", r#"
///     ops = ["down 1", "up 1"]
///     [machine]
///     cpus = 2
///     [[state]]
///     name = "drv:online"
///     section = "online"
///     bug = "leak-on-failure"
/// "#)?;
/// let found = explore(&s, &ExploreOptions::default(), |_, _, _| {});
/// let first = found.first_violation().expect("the planted bug");
/// assert_eq!(first.first.to_string(), "startup of drv:online on CPU 0");
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exploration {
    /// The steps of the scenario (setup steps, then operations).
    pub steps: Vec<String>,
    /// Invariants broken without any injected failure.
    pub baseline: Vec<Violation>,
    /// Every run, ordered: single failures by where they fire, then double failures, then the
    /// panics.
    pub cases: Vec<Case>,
    /// The classes of interchangeable CPUs whose members were not all explored (empty without
    /// [`Options::symmetry`]).
    pub classes: Vec<CpuClass>,
}

impl Exploration {
    /// The minimal case that breaks an invariant: a single failure before a double one, the
    /// earliest step, the earliest failure point.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{explore, ExploreOptions, Scenario};
    ///
    /// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
    /// assert!(explore(&s, &ExploreOptions::default(), |_, _, _| {}).first_violation().is_none());
    /// # Ok::<(), cpuhp_scenario::ParseError>(())
    /// ```
    pub fn first_violation(&self) -> Option<&Case> {
        self.cases
            .iter()
            .filter(|c| c.is_broken())
            .min_by_key(|c| (c.second.is_some(), c.panic, c.step))
    }

    /// Whether every invariant held in every run.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{explore, ExploreOptions, Scenario};
    ///
    /// let s = Scenario::parse("s.toml", "[machine]\ncpus = 1\n")?;
    /// assert!(explore(&s, &ExploreOptions::default(), |_, _, _| {}).is_clean());
    /// # Ok::<(), cpuhp_scenario::ParseError>(())
    /// ```
    pub fn is_clean(&self) -> bool {
        self.baseline.is_empty() && self.cases.iter().all(|c| !c.is_broken())
    }
}

impl Case {
    /// An invariant broke in this run, or (for a panic) it rolled back otherwise than the same
    /// failure with `EIO`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{explore, ExploreOptions, Scenario};
    ///
    /// let s = Scenario::parse("s.toml", r#"
    ///     ops = ["down 1", "up 1"]
    ///     [machine]
    ///     cpus = 2
    ///     [[state]]
    ///     name = "drv:online"
    ///     section = "online"
    /// "#)?;
    /// let found = explore(&s, &ExploreOptions::default(), |_, _, _| {});
    /// // Each callback's failure, once as EIO and once as a panic; neither breaks anything.
    /// assert!(found.cases.iter().any(|c| c.panic));
    /// assert!(found.cases.iter().all(|c| !c.is_broken()));
    /// # Ok::<(), cpuhp_scenario::ParseError>(())
    /// ```
    pub fn is_broken(&self) -> bool {
        !self.violations.is_empty() || self.differs.is_some()
    }
}

/// The payload of the panics exploration injects into scenario callbacks.
pub(crate) const INJECTED_PANIC: &str = "explore: injected panic";

/// An event as it must be equal for a callback's panic and its `EIO` failure: the error's kind
/// (`Panicked`, not `Callback`), the panic's message in the failure and the kinds of the failed
/// calls (`panic`, not `callback` or `veto`) aside. Only those events are copied.
fn comparable(e: &Event) -> Cow<'_, Event> {
    let strip = |f: &Option<String>| {
        f.as_ref()
            .map(|f| f.split(" (panicked: ").next().unwrap_or(f).to_string())
    };
    match e {
        Event::StepDone {
            index,
            outcome:
                Outcome::Failed {
                    errno,
                    kind,
                    failure,
                    rollback_failure,
                },
        } => Cow::Owned(Event::StepDone {
            index: *index,
            outcome: Outcome::Failed {
                errno: errno.clone(),
                kind: if kind == "Panicked" {
                    "Callback".to_string()
                } else {
                    kind.clone()
                },
                failure: strip(failure),
                rollback_failure: strip(rollback_failure),
            },
        }),
        Event::Exit {
            failure: Some(_), ..
        } => {
            let mut e = e.clone();
            if let Event::Exit { failure: f, .. } = &mut e {
                *f = Some(cpuhp::FailureKind::Callback);
            }
            Cow::Owned(e)
        }
        other => Cow::Borrowed(other),
    }
}

/// Where two runs' events first differ; `before`: how many events both recorded before the
/// ones given (runs resumed from the same checkpoint), for numbering them as from boot.
fn first_difference(errno: &[Event], panic: &[Event], before: usize) -> Option<String> {
    let at = errno
        .iter()
        .zip(panic)
        .position(|(x, y)| comparable(x) != comparable(y));
    match at {
        Some(i) => Some(format!(
            "event {}: {:?} with EIO, {:?} with the panic",
            before + i + 1,
            comparable(&errno[i]),
            comparable(&panic[i])
        )),
        None if errno.len() != panic.len() => Some(format!(
            "{} events with EIO, {} with the panic",
            before + errno.len(),
            before + panic.len()
        )),
        None => None,
    }
}

/// The failure points a run reached that are not failing already.
fn candidates(rec: &Record) -> Vec<(Reached, usize)> {
    rec.reached
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.failed)
        .map(|(i, r)| (r.clone(), i))
        .collect()
}

/// The phases of an exploration, as [`explore`] reports its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// One run per failure point of the baseline.
    Single,
    /// One run per failure point of each rollback the single failures caused (a second failure
    /// while undoing the first).
    Double,
    /// Each failure point of a scenario callback once more, the callback panicking (two runs:
    /// the panic's and the `EIO` run it must equal).
    Panic,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Single => "single failures",
            Phase::Double => "rollback failures",
            Phase::Panic => "panics",
        })
    }
}

/// Consecutive CPUs that nothing in the scenario tells apart: none is the boot CPU or named by
/// an operation, a planned failure, a veto, an answer or a platform fault, and all went through the same states after every
/// step of the baseline. A failure on one of them finds what a failure on another does, up to
/// renaming the CPUs, so [`explore`] tries only the members in `explored`: what differs between
/// members is whether other members come before or after them in the state machine's ascending
/// walks (the first, the middle and the last member stand for every case of a single failure; the
/// second and the second-to-last are needed for a second failure right next to the first;
/// ARCHITECTURE.md has the argument).
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{explore, ExploreOptions, Scenario};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 64\n")?;
/// let found = explore(&s, &ExploreOptions::default(), |_, _, _| {});
/// // CPU 0 boots, CPU 1 is named: CPUs 2–63 are interchangeable.
/// assert_eq!(found.classes.len(), 1);
/// assert_eq!(found.classes[0].explored, [2, 3, 33, 62, 63]);
/// assert_eq!(found.classes[0].to_string(), "CPUs 2, 3, 33, 62, 63 stand for CPUs 2–63");
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CpuClass {
    /// Its first CPU.
    pub first: u32,
    /// Its last CPU.
    pub last: u32,
    /// The members whose failure points were explored.
    pub explored: Vec<u32>,
}

impl CpuClass {
    /// Whether `cpu` is a member.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = cpuhp_scenario::CpuClass { first: 2, last: 9, explored: vec![2, 3, 6, 8, 9] };
    /// assert!(c.contains(9) && !c.contains(10));
    /// ```
    pub fn contains(&self, cpu: u32) -> bool {
        (self.first..=self.last).contains(&cpu)
    }

    /// Whether a second failure on `cpu` (a member), during the rollback of a first failure on
    /// `first_cpu`, is one to try. The first failure splits the class into the members before
    /// it and those after it; within that part, as for a single failure, what matters is
    /// whether members come before and after the second one: its first, second and last
    /// member are tried (the second standing for every member with others on both sides).
    fn explores_second(&self, first_cpu: u32, cpu: u32) -> bool {
        if self.explored.len() as u32 == self.last - self.first + 1 || cpu == first_cpu {
            return true;
        }
        let (lo, hi) = if !self.contains(first_cpu) {
            (self.first, self.last)
        } else if cpu < first_cpu {
            (self.first, first_cpu - 1)
        } else {
            (first_cpu + 1, self.last)
        };
        cpu == lo || cpu == lo + 1 || cpu == hi
    }
}

impl std::fmt::Display for CpuClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self.explored.iter().map(u32::to_string).collect();
        let verb = if list.len() == 1 { "stands" } else { "stand" };
        let s = if list.len() == 1 { "" } else { "s" };
        write!(
            f,
            "CPU{s} {} {verb} for CPUs {}–{}",
            list.join(", "),
            self.first,
            self.last
        )
    }
}

/// Classes smaller than this are explored in full: with a first failure in the middle member,
/// the parts before and after it need three members each for every placement of a second
/// failure to have a representative (first, second and last of the part), and the middle must
/// differ from the second and the second-to-last member.
const REDUCE_FROM: u32 = 7;

/// The CPU a failure point is on.
fn cpu_of(p: &Point) -> u32 {
    match p {
        Point::Callback { cpu, .. } | Point::Notifier { cpu, .. } | Point::Platform { cpu, .. } => {
            *cpu
        }
    }
}

/// The classes of interchangeable CPUs of `s`, given its baseline run; only those with members
/// left unexplored.
fn classes(s: &Scenario, baseline: &Record) -> Vec<CpuClass> {
    let n = s.machine.cpus as usize;
    let mut named = vec![false; n];
    // The boot CPU boots the others and never leaves during a freeze.
    named[0] = true;
    let mut name = |c: u32| {
        if let Some(x) = named.get_mut(c as usize) {
            *x = true;
        }
    };
    for op in &s.ops {
        match &op.op {
            Op::Up { cpu, .. } | Op::Down { cpu, .. } => name(*cpu),
            Op::ParallelUp(cpus) => cpus.iter().for_each(|&c| name(c)),
            _ => {}
        }
    }
    // A planned failure for any CPU that skips calls or fires a limited number of times counts
    // calls across CPUs: which CPU it hits depends on the order, so no CPU is like another.
    let planned = s
        .states
        .iter()
        .flat_map(|st| st.fail.iter().map(|f| (f.cpu, f.after, f.times)))
        .chain(
            s.notifiers
                .iter()
                .flat_map(|nb| nb.veto.iter().map(|v| (v.cpu, v.after, v.times))),
        )
        .chain(
            s.notifiers
                .iter()
                .flat_map(|nb| nb.answer.iter().map(|a| (a.cpu, a.after, a.times))),
        )
        .chain(s.faults.iter().map(|f| (f.cpu, f.after, f.times)));
    for (cpu, after, times) in planned {
        match cpu {
            Some(c) => name(c),
            None if after > 0 || times.is_some() => return Vec::new(),
            None => {}
        }
    }
    // A CPU where the baseline itself failed (a planned failure for every CPU fires on the first
    // one an operation reaches, and the operation stops there) went through other calls than
    // the rest: rolled back, or never reached. Its states after each step may match theirs while
    // what its callbacks hold does not.
    for r in baseline.reached.iter().filter(|r| r.failed) {
        name(cpu_of(&r.point));
    }
    // With SMT control in play, a CPU's thread number decides whether it may come up.
    let smt_matters = s.machine.threads_per_core > 1
        && (s.machine.smt != cpuhp::SmtControl::On
            || s.ops.iter().any(|o| matches!(o.op, Op::Smt(_))));
    if smt_matters || baseline.states_after.is_empty() {
        return Vec::new();
    }
    let history = |c: usize| -> Vec<Option<u32>> {
        baseline
            .states_after
            .iter()
            .map(|states| states.get(c).copied())
            .collect()
    };
    let mut out = Vec::new();
    let mut c = 0;
    while c < n {
        if named[c] {
            c += 1;
            continue;
        }
        let h = history(c);
        let mut last = c;
        while last + 1 < n && !named[last + 1] && history(last + 1) == h {
            last += 1;
        }
        let (first, last_u) = (c as u32, last as u32);
        let size = last_u - first + 1;
        if size >= REDUCE_FROM {
            out.push(CpuClass {
                first,
                last: last_u,
                explored: vec![first, first + 1, first + size / 2, last_u - 1, last_u],
            });
        }
        c = last + 1;
    }
    out
}

/// Explores `scenario` (inline, so runs are fast and deterministic). `progress(phase, done,
/// total)` is called as runs finish; a phase's total is known when it starts.
///
/// With [`Options::symmetry`], failure points on CPUs of a [`CpuClass`] are tried on its
/// `explored` members only: the set of violations found is the same as without, up to renaming
/// the CPUs of a class.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{explore, ExploreOptions, Point, Scenario};
///
/// let s = Scenario::parse("s.toml", r#"
///     ops = ["down 1"]
///     [machine]
///     cpus = 2
///     [[state]]
///     name = "drv:online"
///     section = "online"
/// "#)?;
/// let found = explore(&s, &ExploreOptions::default(), |_, _, _| {});
/// assert!(found.is_clean());
/// // Among the failures tried: the teardown on CPU 1 during `down 1`, and CPU 1 refusing to die.
/// assert!(found.cases.iter().any(|c| matches!(&c.first.point,
///     Point::Callback { cpu: 1, bringup: false, .. })));
/// assert!(found.cases.iter().any(|c| matches!(&c.first.point,
///     Point::Platform { cpu: 1, bringup: false, .. })));
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
pub fn explore(
    scenario: &Scenario,
    options: &Options,
    progress: impl Fn(Phase, usize, usize) + Sync,
) -> Exploration {
    let (baseline, checkpoints) = if options.checkpoints {
        Checkpoints::baseline(scenario, true)
    } else {
        (run_with(scenario, false, true, &[], &[], None), None)
    };
    let classes = if options.symmetry {
        classes(scenario, &baseline)
    } else {
        Vec::new()
    };
    let class_of = |cpu: u32| classes.iter().find(|c| c.contains(cpu));
    // Each failure with the step of the baseline in which it fires.
    let singles: Vec<(Failure, usize)> = candidates(&baseline)
        .into_iter()
        .map(|(r, _)| {
            let f = Failure {
                point: r.point,
                occurrence: r.occurrence,
            };
            (f, r.step)
        })
        .filter(|(f, _)| {
            let cpu = cpu_of(&f.point);
            class_of(cpu).is_none_or(|c| c.explored.contains(&cpu))
        })
        .collect();
    let done = AtomicUsize::new(0);
    let errnos = [options.errno, options.errno];
    // Runs are lean (only what the invariants need) except a panic and its EIO twin, which are
    // compared event for event.
    // Each run from the checkpoint before the step its first failure fires in (the panics and
    // their EIO twins from a full baseline's), or from boot; with how many events a run from
    // boot records before the ones returned.
    let full_checkpoints = if checkpoints.is_some() && options.panics {
        Checkpoints::baseline(scenario, false).1
    } else {
        None
    };
    let run = |fires_in: Option<usize>,
               lean: bool,
               extra: &[(Point, u32)],
               errnos: &[Errno],
               panic_at: Option<&(Point, u32)>|
     -> (Record, Option<usize>) {
        let cps = if lean {
            checkpoints.as_ref()
        } else {
            full_checkpoints.as_ref()
        };
        // `None`: from boot.
        let cps = cps.zip(fires_in);
        match cps.and_then(|(c, at)| c.resume(scenario, at, lean, extra, errnos, panic_at)) {
            Some(r) => (r.record, Some(r.events_before)),
            None => (
                run_with(scenario, false, lean, extra, errnos, panic_at),
                None,
            ),
        }
    };
    let run_case = |first: &Failure,
                    second: Option<&Failure>,
                    panic: bool,
                    fires_in: Option<usize>|
     -> (Case, Record, Option<usize>) {
        let mut extra = vec![(first.point.clone(), first.occurrence)];
        if let Some(s) = second {
            extra.push((s.point.clone(), s.occurrence));
        }
        let panic_at = (first.point.clone(), first.occurrence);
        let eio = [Errno::EIO];
        let (rec, before) = if panic {
            run(fires_in, false, &extra, &eio, Some(&panic_at))
        } else {
            run(fires_in, true, &extra, &errnos, None)
        };
        // Where the first failure fired.
        let fired = rec
            .reached
            .iter()
            .position(|r| r.point == first.point && r.occurrence == first.occurrence);
        let step = fired.map_or(usize::MAX, |i| rec.reached[i].step);
        let failed = rec.events.iter().any(|e| {
            matches!(e, crate::Event::StepDone { index, outcome } if *index == step && !outcome.is_ok())
        });
        let case = Case {
            first: first.clone(),
            second: second.cloned(),
            step,
            panic,
            differs: None,
            failed,
            violations: rec.violations.clone(),
        };
        (case, rec, before)
    };
    let tick = |phase: Phase, total: usize| {
        progress(phase, done.fetch_add(1, Ordering::Relaxed) + 1, total);
    };

    // Single failures; each failing operation's rollback gives the second failures to try.
    let total = singles.len();
    let single_results: Vec<(Case, Vec<Failure>)> = parallel(&singles, options.jobs, |(f, at)| {
        let (case, rec, _) = run_case(f, None, false, Some(*at));
        let mut seconds = Vec::new();
        if options.rollback_failures && case.failed {
            if let Some(at) = rec
                .reached
                .iter()
                .position(|r| r.point == f.point && r.occurrence == f.occurrence)
            {
                let first_cpu = cpu_of(&f.point);
                seconds = rec.reached[at + 1..]
                    .iter()
                    .take_while(|r| r.step == case.step)
                    .filter(|r| !r.failed)
                    .filter(|r| {
                        let cpu = cpu_of(&r.point);
                        class_of(cpu).is_none_or(|c| c.explores_second(first_cpu, cpu))
                    })
                    .map(|r| Failure {
                        point: r.point.clone(),
                        occurrence: r.occurrence,
                    })
                    .collect();
            }
        }
        tick(Phase::Single, total);
        (case, seconds)
    });
    let doubles: Vec<(Failure, Failure, usize)> = single_results
        .iter()
        .zip(&singles)
        .flat_map(|((c, seconds), (_, at))| {
            seconds.iter().map(|s| (c.first.clone(), s.clone(), *at))
        })
        .collect();
    done.store(0, Ordering::Relaxed);
    let total = doubles.len();
    let double_cases = parallel(&doubles, options.jobs, |(a, b, at)| {
        let case = run_case(a, Some(b), false, Some(*at)).0;
        tick(Phase::Double, total);
        case
    });
    // Every failure point of a scenario callback once more, the callback panicking: the same
    // run as with EIO is expected, event for event.
    let panics: Vec<(Failure, usize)> = if options.panics {
        singles
            .iter()
            .filter(|(f, _)| matches!(f.point, Point::Callback { .. }))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    done.store(0, Ordering::Relaxed);
    let total = panics.len();
    let panic_cases = parallel(&panics, options.jobs, |(f, at)| {
        let extra = [(f.point.clone(), f.occurrence)];
        let (mut with_eio, mut eio_before) = run(Some(*at), false, &extra, &[Errno::EIO], None);
        let (mut case, mut rec, mut before) = run_case(f, None, true, Some(*at));
        // Compared event for event: both resumed from the same checkpoint, or both from boot.
        if eio_before != before {
            (with_eio, eio_before) = run(None, false, &extra, &[Errno::EIO], None);
            (case, rec, before) = run_case(f, None, true, None);
        }
        debug_assert_eq!(eio_before, before);
        // Exactly the EIO run: the events (the error's kind and the panic's message aside).
        case.differs = first_difference(&with_eio.events, &rec.events, before.unwrap_or(0));
        tick(Phase::Panic, total);
        case
    });
    let mut cases: Vec<Case> = single_results.into_iter().map(|(c, _)| c).collect();
    cases.extend(double_cases);
    cases.extend(panic_cases);
    Exploration {
        steps: baseline.steps.clone(),
        baseline: baseline.violations,
        cases,
        classes,
    }
}

/// `f` over `items` on `jobs` threads; results in the items' order.
fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lean run (what `explore` runs) finds what a fully recorded one does: the same failure
    /// points, states and violations, with and without injected failures.
    #[test]
    fn lean_runs_find_what_full_runs_find() {
        let s = Scenario::parse(
            "s.toml",
            r#"
            ops = ["down 1", "up 1", "freeze", "thaw", "remove-instance d:q a"]
            [machine]
            cpus = 4
            [[state]]
            name = "x:online"
            section = "online"
            bug = "teardown-leaks"
            [[state]]
            name = "d:q"
            section = "online"
            multi = true
            instances = ["a", "b"]
            bug = "leak-on-failure"
            [[notifier]]
            name = "n"
            priority = 0
            "#,
        )
        .unwrap();
        let full = run_with(&s, false, false, &[], &[], None);
        assert!(!full.violations.is_empty());
        // Every failure point of the baseline, alone, as a panic, and with a second failure.
        let mut plans: Vec<(Vec<(Point, u32)>, bool)> = vec![(Vec::new(), false)];
        for (i, r) in full.reached.iter().enumerate() {
            let at = (r.point.clone(), r.occurrence);
            plans.push((vec![at.clone()], false));
            plans.push((vec![at.clone()], true));
            if let Some(next) = full.reached.get(i + 1) {
                plans.push((vec![at, (next.point.clone(), next.occurrence)], false));
            }
        }
        for (plan, panic) in plans {
            let panic_at = plan.first().filter(|_| panic);
            let a = run_with(&s, false, false, &plan, &[], panic_at);
            let b = run_with(&s, false, true, &plan, &[], panic_at);
            assert_eq!(a.violations, b.violations, "{plan:?}");
            assert_eq!(a.reached, b.reached, "{plan:?}");
            assert_eq!(a.states_after, b.states_after, "{plan:?}");
            assert_eq!(a.stopped_at, b.stopped_at, "{plan:?}");
            assert!(b.events.len() < a.events.len());
        }
    }
}
