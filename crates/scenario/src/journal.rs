//! What a run records, shared by the scenario's callbacks, its notifiers and the platform's
//! tracer: the events in order, the resources the callbacks hold, the planned failures, and
//! every call that could have failed (the failure points `explore` tries).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use cpuhp::{Context, Errno, FailureKind, Rule, TraceEvent};
use serde::{Serialize, Serializer};

fn rule_name<S: Serializer>(rule: &Rule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.name())
}

fn failure_name<S: Serializer>(kind: &Option<FailureKind>, s: S) -> Result<S::Ok, S::Error> {
    match kind {
        Some(k) => s.serialize_some(k.name()),
        None => s.serialize_none(),
    }
}

/// One thing that happened during a run.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{run, Event, Scenario};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
/// let rec = run(&s, false);
/// assert!(matches!(rec.events.last(), Some(Event::StepDone { index: 0, .. })));
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step of the run begins: a setup step (`setup-state`, `add-instance`,
    /// `register-notifier`) or one of the scenario's operations.
    Step {
        /// The step's number (setup steps first, then the operations).
        index: usize,
        /// The step, as written.
        what: String,
        /// It is one of the scenario's operations (not setup).
        op: bool,
    },
    /// The step ended.
    StepDone {
        /// The step's number.
        index: usize,
        /// `ok`, or what failed.
        outcome: Outcome,
    },
    /// A callback is about to run (Linux's `cpuhp_enter` / `cpuhp_multi_enter`).
    Enter {
        /// The CPU it is for.
        cpu: u32,
        /// The CPU's target.
        target: u32,
        /// The state.
        step: u32,
        /// The callback's name.
        symbol: String,
        /// Startup (`true`) or teardown.
        bringup: bool,
        /// The instance, for a multi-instance state.
        instance: Option<String>,
        /// Where it runs: `control`, `cpu-thread` or `cpu-atomic`.
        context: &'static str,
        /// The call undoes part of a failed operation.
        rollback: bool,
        /// The rule it runs under (its stable name in JSON).
        #[serde(serialize_with = "rule_name")]
        rule: Rule,
    },
    /// A callback returned (Linux's `cpuhp_exit`).
    Exit {
        /// The CPU it was for.
        cpu: u32,
        /// The CPU's state after the call.
        state: u32,
        /// The state.
        step: u32,
        /// Startup or teardown.
        bringup: bool,
        /// The instance.
        instance: Option<String>,
        /// 0 or a negative errno.
        ret: i32,
        /// Where it ran.
        context: &'static str,
        /// The call undid part of a failed operation.
        rollback: bool,
        /// Its `Enter`'s rule, or — when it failed — the rule that decides what follows.
        #[serde(serialize_with = "rule_name")]
        rule: Rule,
        /// What kind of failure it was, when it failed.
        #[serde(serialize_with = "failure_name")]
        failure: Option<FailureKind>,
    },
    /// An injected failure fired without calling the callback.
    Injected {
        /// The CPU.
        cpu: u32,
        /// The state.
        step: u32,
        /// Startup or teardown.
        bringup: bool,
        /// The instance.
        instance: Option<String>,
        /// The negative errno returned.
        ret: i32,
        /// It hit a call that would have undone part of a failed operation.
        rollback: bool,
        /// The rule that decides what follows.
        #[serde(serialize_with = "rule_name")]
        rule: Rule,
    },
    /// A legacy CPU notifier was called.
    Notify {
        /// The notifier.
        notifier: String,
        /// The event (`CPU_UP_PREPARE`, …, `_FROZEN` variants).
        action: String,
        /// The CPU.
        cpu: u32,
        /// 0 or the veto's negative errno.
        ret: i32,
        /// The answer had the stop bit (`NOTIFY_STOP`, `NOTIFY_BAD`, a veto): the walk ended
        /// here.
        stop: bool,
    },
    /// Linux would warn here.
    Warning {
        /// The CPU.
        cpu: u32,
        /// The Linux function that warns.
        function: &'static str,
    },
    /// A deliberate difference from Linux happened here.
    Divergence {
        /// The CPU.
        cpu: u32,
        /// What differs.
        text: String,
    },
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// It failed.
    Failed {
        /// The errno returned (`ENOMEM`, …).
        errno: String,
        /// The error's kind (`Callback`, `LastCpu`, …).
        kind: String,
        /// The callback that failed.
        failure: Option<String>,
        /// The callback that failed while undoing it (the machine is then undefined).
        rollback_failure: Option<String>,
    },
}

impl Outcome {
    pub(crate) fn of(r: &Result<(), cpuhp::Error>) -> Outcome {
        match r {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::Failed {
                errno: e.errno().to_string(),
                kind: format!("{:?}", e.kind()),
                failure: e.failure().map(|f| f.to_string()),
                rollback_failure: e.rollback_failure().map(|f| f.to_string()),
            },
        }
    }

    /// Whether it succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cpuhp_scenario::Outcome::Ok.is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// A place where a failure can be injected: a scenario callback, a notifier's PREPARE event, or
/// the platform (a CPU that fails to boot, or refuses to die).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "point", rename_all = "snake_case")]
pub enum Point {
    /// A state's startup or teardown (one instance of a multi-instance state).
    Callback {
        /// The state.
        state: String,
        /// The CPU.
        cpu: u32,
        /// Startup or teardown.
        bringup: bool,
        /// The instance.
        instance: Option<String>,
    },
    /// A notifier's answer to `CPU_UP_PREPARE` or `CPU_DOWN_PREPARE`.
    Notifier {
        /// The notifier.
        notifier: String,
        /// `CPU_UP_PREPARE` (`true`) or `CPU_DOWN_PREPARE`.
        up: bool,
        /// The CPU.
        cpu: u32,
    },
    /// The platform step of a core state: booting (`cpu:bringup`, `cpu:kick_ap`) or stopping
    /// (`cpu:teardown`) the CPU.
    Platform {
        /// The core state's name.
        state: String,
        /// Its number.
        step: u32,
        /// The CPU.
        cpu: u32,
        /// Startup or teardown.
        bringup: bool,
    },
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = |b: bool| if b { "startup" } else { "teardown" };
        match self {
            Point::Callback {
                state,
                cpu,
                bringup,
                instance,
            } => {
                write!(f, "{} of {state}", dir(*bringup))?;
                if let Some(i) = instance {
                    write!(f, " instance {i}")?;
                }
                write!(f, " on CPU {cpu}")
            }
            Point::Notifier { notifier, up, cpu } => {
                let ev = if *up {
                    "CPU_UP_PREPARE"
                } else {
                    "CPU_DOWN_PREPARE"
                };
                write!(f, "notifier {notifier} vetoes {ev} for CPU {cpu}")
            }
            // The words of a scenario's [[fault]] (boot, kick, stop).
            Point::Platform {
                state,
                cpu,
                bringup,
                ..
            } => match (*bringup, state.as_str()) {
                (true, "cpuhp_kick_ap_alive") => write!(f, "the kick of CPU {cpu} fails ({state})"),
                (true, _) => write!(f, "CPU {cpu} fails to boot ({state})"),
                (false, _) => write!(f, "CPU {cpu} refuses to stop ({state})"),
            },
        }
    }
}

/// A planned failure: the `skip + 1`-th call at a point matching `at` fails, `times` times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Injection {
    /// What it matches: a point whose `cpu`/`instance` are `None` matches any (see `matches`).
    pub(crate) at: Pattern,
    pub(crate) errno: Errno,
    pub(crate) skip: u32,
    pub(crate) times: Option<u32>,
}

/// A [`Point`] with wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    Callback {
        state: String,
        cpu: Option<u32>,
        bringup: bool,
        instance: Option<String>,
    },
    Notifier {
        notifier: String,
        up: bool,
        cpu: Option<u32>,
    },
}

impl Pattern {
    pub(crate) fn exact(p: &Point) -> Option<Pattern> {
        match p {
            Point::Callback {
                state,
                cpu,
                bringup,
                instance,
            } => Some(Pattern::Callback {
                state: state.clone(),
                cpu: Some(*cpu),
                bringup: *bringup,
                instance: instance.clone(),
            }),
            Point::Notifier { notifier, up, cpu } => Some(Pattern::Notifier {
                notifier: notifier.clone(),
                up: *up,
                cpu: Some(*cpu),
            }),
            Point::Platform { .. } => None,
        }
    }

    pub(crate) fn matches(&self, p: &Point) -> bool {
        match (self, p) {
            (
                Pattern::Callback {
                    state,
                    cpu,
                    bringup,
                    instance,
                },
                Point::Callback {
                    state: s,
                    cpu: c,
                    bringup: b,
                    instance: i,
                },
            ) => {
                state == s
                    && bringup == b
                    && cpu.is_none_or(|cpu| cpu == *c)
                    && (instance.is_none() || instance == i)
            }
            (
                Pattern::Notifier { notifier, up, cpu },
                Point::Notifier {
                    notifier: n,
                    up: u,
                    cpu: c,
                },
            ) => notifier == n && up == u && cpu.is_none_or(|cpu| cpu == *c),
            _ => false,
        }
    }
}

/// A call at a failure point, in order: which step it happened in, and how many earlier calls
/// at the same point there were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) point: Point,
    pub(crate) step: usize,
    pub(crate) occurrence: u32,
    /// It failed (a planned or injected failure).
    pub(crate) failed: bool,
}

/// The resource a state's callbacks account for: (state, CPU, instance).
pub(crate) type Resource = (String, u32, Option<String>);

/// Everything a run records. A checkpoint keeps a copy, taken between two steps.
#[derive(Clone, Debug, Default)]
pub(crate) struct Journal {
    pub(crate) events: Vec<Event>,
    /// Resources held, by callbacks that succeeded.
    pub(crate) held: BTreeMap<Resource, u32>,
    /// How `held` changed during the current step, per resource (what the check of a failed
    /// step compares, instead of a copy of `held` before every step).
    pub(crate) delta: BTreeMap<Resource, i64>,
    /// Accounting errors seen as they happened (double startup, teardown of nothing).
    pub(crate) violations: Vec<(usize, String)>,
    /// CPUs a failed rollback left undefined (a warning said so): their startups and teardowns
    /// are still booked, but no longer judged against the accounting rules.
    pub(crate) undefined: std::collections::BTreeSet<u32>,
    pub(crate) injections: Vec<Injection>,
    pub(crate) calls: Vec<Call>,
    /// Calls so far per point (hashed: a large machine has many points, and ordering them
    /// compared their names over and over).
    occurrences: HashMap<Point, u32>,
    /// The step running now.
    pub(crate) step: usize,
    /// Instance names by the state machine's instance ids.
    pub(crate) instance_names: BTreeMap<u64, String>,
    /// Instances removed by the current step: their names are forgotten once its events are
    /// named, so that a long run does not keep one per instance it ever added.
    pub(crate) forget: Vec<u64>,
    /// The core's platform steps: (state, startup?, name) — booting and stopping CPUs.
    pub(crate) platform: Vec<(u32, bool, &'static str)>,
    /// The failing call (point, occurrence) that panics instead of returning its errno
    /// (exploration's "panic" failure kind).
    pub(crate) panic_at: Option<(Point, u32)>,
    /// Record only what the invariants and the failure points need (`explore`'s runs): the
    /// `Enter` of each callback without its symbol and instance, warnings, and the steps. Most
    /// of a run's cost on a large machine was building events nobody reads.
    pub(crate) lean: bool,
    /// The inline machine is booting: what it traces is forgotten ([`Journal::forget_boot`]),
    /// so it is not recorded at all.
    pub(crate) booting: bool,
    /// Each notifier's planned answers (by its index in the scenario), with what is left of
    /// their `after` and `times`: here rather than in the notifier, so that a checkpoint has them.
    pub(crate) answers: Vec<Vec<crate::scenario::AnswerSpec>>,
}

/// Adds `by` to `key`'s count and returns the sum; the key is copied into the map only when it
/// is new (a copy per callback call was a good part of a run's allocations).
fn add<V: Copy + core::ops::Add<Output = V>>(
    map: &mut BTreeMap<Resource, V>,
    key: &Resource,
    by: V,
) -> V {
    match map.get_mut(key) {
        Some(v) => {
            *v = *v + by;
            *v
        }
        None => {
            map.insert(key.clone(), by);
            by
        }
    }
}

impl Journal {
    /// A callback learns its instance's name: the state machine's `Enter` just before it
    /// carries the instance's id.
    pub(crate) fn name_instance(&mut self, name: Option<&String>) {
        let (
            Some(name),
            Some(Event::Enter {
                instance: Some(id), ..
            }),
        ) = (name, self.events.last())
        else {
            return;
        };
        if let Some(n) = id.strip_prefix('#').and_then(|n| n.parse::<u64>().ok()) {
            self.instance_names.insert(n, name.clone());
        }
    }

    /// Whether the call just recorded failed and is the one planned to panic instead.
    pub(crate) fn panics_now(&self) -> bool {
        match (&self.panic_at, self.calls.last()) {
            (Some((point, k)), Some(c)) => c.failed && c.point == *point && c.occurrence == *k,
            _ => false,
        }
    }

    /// Counts a call at `point`; returns how many came before it. (The point is copied into
    /// the map only the first time: a copy per call was a good part of a run's allocations.)
    fn count(&mut self, point: &Point) -> u32 {
        if let Some(n) = self.occurrences.get_mut(point) {
            *n += 1;
            return *n - 1;
        }
        self.occurrences.insert(point.clone(), 1);
        0
    }

    /// How many calls at `point` the run has made so far.
    pub(crate) fn occurrences_of(&self, point: &Point) -> u32 {
        self.occurrences.get(point).copied().unwrap_or(0)
    }

    /// Forgets the calls and events of the boot.
    pub(crate) fn forget_boot(&mut self) {
        self.booting = false;
        self.calls.clear();
        self.occurrences.clear();
        self.events.clear();
    }

    /// Records a call of a platform step (from the trace).
    fn platform_call(&mut self, step: u32, cpu: u32, bringup: bool, failed: bool) {
        let Some(&(_, _, name)) = self
            .platform
            .iter()
            .find(|&&(s, b, _)| s == step && b == bringup)
        else {
            return;
        };
        let point = Point::Platform {
            state: name.to_string(),
            step,
            cpu,
            bringup,
        };
        let occurrence = self.count(&point);
        self.calls.push(Call {
            point,
            step: self.step,
            occurrence,
            failed,
        });
    }

    /// Records a call at `point`; returns the errno if a planned failure fires there.
    pub(crate) fn call(&mut self, point: Point) -> Option<Errno> {
        let occurrence = self.count(&point);
        let mut fired = None;
        if let Some(inj) = self
            .injections
            .iter_mut()
            .find(|i| i.at.matches(&point) && i.times != Some(0))
        {
            if inj.skip > 0 {
                inj.skip -= 1;
            } else {
                if let Some(t) = &mut inj.times {
                    *t -= 1;
                }
                fired = Some(inj.errno);
            }
        }
        self.calls.push(Call {
            point,
            step: self.step,
            occurrence,
            failed: fired.is_some(),
        });
        fired
    }

    pub(crate) fn acquire(&mut self, r: Resource) {
        add(&mut self.delta, &r, 1);
        let held = add(&mut self.held, &r, 1);
        if held > 1 && !self.undefined.contains(&r.1) {
            let (s, c, i) = r;
            self.violations.push((
                self.step,
                format!(
                    "startup of {} on CPU {c} while it is up (a second startup)",
                    inst(&s, &i)
                ),
            ));
        }
    }

    pub(crate) fn release(&mut self, r: Resource) {
        match self.held.get_mut(&r) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    self.held.remove(&r);
                }
                add(&mut self.delta, &r, -1);
            }
            _ if self.undefined.contains(&r.1) => {}
            _ => {
                let (s, c, i) = r;
                self.violations.push((
                    self.step,
                    format!(
                        "teardown of {} on CPU {c} that is not up (a teardown without a startup)",
                        inst(&s, &i)
                    ),
                ));
            }
        }
    }

    /// Records a trace event of the state machine.
    pub(crate) fn trace(&mut self, e: &TraceEvent<'_>) {
        let ctx = |c: Context| match c {
            Context::Control => "control",
            Context::ApThread => "cpu-thread",
            Context::ApAtomic => "cpu-atomic",
        };
        if self.booting {
            return;
        }
        if self.lean {
            match *e {
                TraceEvent::Enter {
                    cpu,
                    target,
                    step,
                    bringup,
                    context,
                    rollback,
                    rule,
                    ..
                } => {
                    self.platform_call(step.get(), cpu.0, bringup, false);
                    self.events.push(Event::Enter {
                        cpu: cpu.0,
                        target: target.get(),
                        step: step.get(),
                        symbol: String::new(),
                        bringup,
                        instance: None,
                        context: ctx(context),
                        rollback,
                        rule,
                    });
                }
                TraceEvent::Injected {
                    cpu, step, bringup, ..
                } => self.platform_call(step.get(), cpu.0, bringup, true),
                TraceEvent::Warning { warning, cpu, .. } => {
                    if warning.leaves_cpu_undefined() {
                        self.undefined.insert(cpu.0);
                    }
                    self.events.push(Event::Warning {
                        cpu: cpu.0,
                        function: warning.linux_function(),
                    })
                }
                _ => {}
            }
            return;
        }
        let inst = |i: Option<cpuhp::InstanceId>| {
            i.map(|i| {
                self.instance_names
                    .get(&i.0)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", i.0))
            })
        };
        let ev = match *e {
            TraceEvent::Enter {
                cpu,
                target,
                step,
                symbol,
                bringup,
                instance,
                context,
                rollback,
                rule,
            } => Event::Enter {
                cpu: cpu.0,
                target: target.get(),
                step: step.get(),
                symbol: symbol.to_string(),
                bringup,
                instance: inst(instance),
                context: ctx(context),
                rollback,
                rule,
            },
            TraceEvent::Exit {
                cpu,
                state,
                step,
                bringup,
                instance,
                result,
                context,
                rollback,
                rule,
                failure,
            } => Event::Exit {
                cpu: cpu.0,
                state: state.get(),
                step: step.get(),
                bringup,
                instance: inst(instance),
                ret: result.map_or_else(Errno::to_neg, |()| 0),
                context: ctx(context),
                rollback,
                rule,
                failure,
            },
            TraceEvent::Injected {
                cpu,
                step,
                bringup,
                instance,
                errno,
                rollback,
                rule,
            } => Event::Injected {
                cpu: cpu.0,
                step: step.get(),
                bringup,
                instance: inst(instance),
                ret: errno.to_neg(),
                rollback,
                rule,
            },
            TraceEvent::Warning { warning, cpu, .. } => {
                if warning.leaves_cpu_undefined() {
                    self.undefined.insert(cpu.0);
                }
                Event::Warning {
                    cpu: cpu.0,
                    function: warning.linux_function(),
                }
            }
            TraceEvent::Divergence { divergence, cpu } => Event::Divergence {
                cpu: cpu.0,
                text: divergence.explain().to_string(),
            },
            // Scenario callbacks do not panic; should one, its `Exit` (EIO) or its warning is
            // what the journal shows.
            TraceEvent::Panicked { .. } => return,
        };
        match ev {
            Event::Enter {
                cpu, step, bringup, ..
            } => self.platform_call(step, cpu, bringup, false),
            Event::Injected {
                cpu, step, bringup, ..
            } => self.platform_call(step, cpu, bringup, true),
            _ => {}
        }
        self.events.push(ev);
    }
}

fn inst(state: &str, i: &Option<String>) -> String {
    match i {
        Some(i) => format!("{state} instance {i}"),
        None => state.to_string(),
    }
}

/// The journal, shared by everything that records into it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shared(Arc<Mutex<Journal>>);

impl Shared {
    pub(crate) fn new(journal: Journal) -> Shared {
        Shared(Arc::new(Mutex::new(journal)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Journal> {
        // A panicking callback poisons the machine, not the journal: keep recording.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The journal a scenario callback or notifier built with this one records into now: this
    /// one, unless a run resumed from a checkpoint is running on this thread. Its machine is a
    /// fork of the baseline's, whose callbacks it shares and which captured the baseline's
    /// journal; they record into the resumed run's. (Resumed runs are inline: their callbacks
    /// run on the thread that resumed them.)
    pub(crate) fn current(&self) -> Shared {
        RESUMED
            .with(|r| r.borrow().clone())
            .unwrap_or_else(|| self.clone())
    }

    /// Makes every callback and notifier on this thread record into this journal until the
    /// guard is dropped ([`Shared::current`]).
    pub(crate) fn redirect_here(&self) -> Redirect {
        Redirect(RESUMED.with(|r| r.replace(Some(self.clone()))))
    }
}

thread_local! {
    /// The journal of the run resumed on this thread, if one is.
    static RESUMED: std::cell::RefCell<Option<Shared>> = const { std::cell::RefCell::new(None) };
}

/// Until dropped, callbacks on this thread record into a resumed run's journal
/// ([`Shared::redirect_here`]); then into whatever they recorded into before.
pub(crate) struct Redirect(Option<Shared>);

impl Drop for Redirect {
    fn drop(&mut self) {
        let before = self.0.take();
        RESUMED.with(|r| *r.borrow_mut() = before);
    }
}
