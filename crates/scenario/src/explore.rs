//! Exhaustive failure exploration: every failure point a scenario reaches — each callback ×
//! CPU × direction × instance, each notifier's PREPARE answer, each CPU's boot and death — run
//! with that one failure injected, and then each callback of the rollback it causes with a second
//! failure injected there; the invariants ([`crate::check`]) checked after every step of every
//! run. At every failure point of a scenario callback, one more run has the callback panic
//! instead of returning its errno: the machine must roll back exactly as for the errno (`EIO`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cpuhp::Errno;
use serde::Serialize;

use crate::check::Violation;
use crate::journal::{Event, Outcome, Point};
use crate::run::{run_with, Reached, Record};
use crate::scenario::Scenario;

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
}

impl Default for Options {
    fn default() -> Options {
        Options {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            rollback_failures: true,
            errno: Errno::EIO,
            panics: true,
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
/// let found = explore(&s, &ExploreOptions::default(), |_, _| {});
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
    /// Every run, ordered: single failures by where they fire, then double failures.
    pub cases: Vec<Case>,
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
    /// assert!(explore(&s, &ExploreOptions::default(), |_, _| {}).first_violation().is_none());
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
    /// assert!(explore(&s, &ExploreOptions::default(), |_, _| {}).is_clean());
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
    /// let found = explore(&s, &ExploreOptions::default(), |_, _| {});
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

/// A run's events as they must be equal for a callback's panic and its `EIO` failure: the
/// error's kind (`Panicked`, not `Callback`) and the panic's message in the failure aside.
fn comparable(events: &[Event]) -> Vec<Event> {
    let strip = |f: &Option<String>| {
        f.as_ref()
            .map(|f| f.split(" (panicked: ").next().unwrap_or(f).to_string())
    };
    events
        .iter()
        .map(|e| match e {
            Event::StepDone {
                index,
                outcome:
                    Outcome::Failed {
                        errno,
                        kind,
                        failure,
                        rollback_failure,
                    },
            } => Event::StepDone {
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
            },
            other => other.clone(),
        })
        .collect()
}

/// Where two runs' events first differ.
fn first_difference(errno: &[Event], panic: &[Event]) -> Option<String> {
    let (a, b) = (comparable(errno), comparable(panic));
    let at = a.iter().zip(&b).position(|(x, y)| x != y);
    match at {
        Some(i) => Some(format!(
            "event {}: {:?} with EIO, {:?} with the panic",
            i + 1,
            a[i],
            b[i]
        )),
        None if a.len() != b.len() => Some(format!(
            "{} events with EIO, {} with the panic",
            a.len(),
            b.len()
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

/// Explores `scenario` (inline, so runs are fast and deterministic). `progress(done, total)` is
/// called as runs finish (total grows once the rollbacks to try are known).
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
/// let found = explore(&s, &ExploreOptions::default(), |_, _| {});
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
    progress: impl Fn(usize, usize) + Sync,
) -> Exploration {
    let baseline = run_with(scenario, false, &[], &[], None);
    let singles: Vec<Failure> = candidates(&baseline)
        .into_iter()
        .map(|(r, _)| Failure {
            point: r.point,
            occurrence: r.occurrence,
        })
        .collect();
    let total = AtomicUsize::new(singles.len());
    let done = AtomicUsize::new(0);
    let errnos = [options.errno, options.errno];
    let run_case = |first: &Failure, second: Option<&Failure>, panic: bool| -> (Case, Record) {
        let mut extra = vec![(first.point.clone(), first.occurrence)];
        if let Some(s) = second {
            extra.push((s.point.clone(), s.occurrence));
        }
        let panic_at = (first.point.clone(), first.occurrence);
        let eio = [Errno::EIO];
        let rec = if panic {
            run_with(scenario, false, &extra, &eio, Some(&panic_at))
        } else {
            run_with(scenario, false, &extra, &errnos, None)
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
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(n, total.load(Ordering::Relaxed));
        (case, rec)
    };

    // Single failures; each failing operation's rollback gives the second failures to try.
    let single_results: Vec<(Case, Vec<Failure>)> = parallel(&singles, options.jobs, |f| {
        let (case, rec) = run_case(f, None, false);
        let mut seconds = Vec::new();
        if options.rollback_failures && case.failed {
            if let Some(at) = rec
                .reached
                .iter()
                .position(|r| r.point == f.point && r.occurrence == f.occurrence)
            {
                seconds = rec.reached[at + 1..]
                    .iter()
                    .take_while(|r| r.step == case.step)
                    .filter(|r| !r.failed)
                    .map(|r| Failure {
                        point: r.point.clone(),
                        occurrence: r.occurrence,
                    })
                    .collect();
            }
        }
        total.fetch_add(seconds.len(), Ordering::Relaxed);
        (case, seconds)
    });
    let doubles: Vec<(Failure, Failure)> = single_results
        .iter()
        .flat_map(|(c, seconds)| seconds.iter().map(|s| (c.first.clone(), s.clone())))
        .collect();
    let double_cases = parallel(&doubles, options.jobs, |(a, b)| {
        run_case(a, Some(b), false).0
    });
    // Every failure point of a scenario callback once more, the callback panicking: the same
    // run as with EIO is expected, event for event.
    let panics: Vec<Failure> = if options.panics {
        singles
            .iter()
            .filter(|f| matches!(f.point, Point::Callback { .. }))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    total.fetch_add(panics.len(), Ordering::Relaxed);
    let panic_cases = parallel(&panics, options.jobs, |f| {
        let extra = [(f.point.clone(), f.occurrence)];
        let with_eio = run_with(scenario, false, &extra, &[Errno::EIO], None);
        let (mut case, rec) = run_case(f, None, true);
        // Exactly the EIO run: the events (the error's kind and the panic's message aside).
        case.differs = first_difference(&with_eio.events, &rec.events);
        case
    });
    let mut cases: Vec<Case> = single_results.into_iter().map(|(c, _)| c).collect();
    cases.extend(double_cases);
    cases.extend(panic_cases);
    Exploration {
        steps: baseline.steps.clone(),
        baseline: baseline.violations,
        cases,
    }
}

/// `f` over `items` on `jobs` threads; results in the items' order.
fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
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
