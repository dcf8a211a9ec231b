//! Running a scenario: build the machine, install the subsystems (each a setup step), run the
//! operations, and record everything into a [`Record`], with the invariants checked after
//! every step.

use std::collections::BTreeMap;
use std::sync::Arc;

use cpuhp::legacy::{CpuAction, CpuEvent};
use cpuhp::sim::Machine;
use cpuhp::{
    CpuId, Errno, Error, ErrorKind, Fault, Hotplug, InstanceId, Online, OnlineMulti, Operations,
    Prepare, PrepareMulti, Section, Slot, Starting, StartingMulti, StateId, Topology, TraceEvent,
    Traced, Tracer,
};
use notifier::{NotifierBlock, NotifyResult};

use crate::check::{self, Snapshot, Violation};
use crate::journal::{Event, Injection, Journal, Outcome, Pattern, Point, Shared};
use crate::scenario::{self, AnswerSpec, Bug, NotifierSpec, Op, Scenario, SlotSpec, StateSpec};

/// What a run recorded.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{run, Scenario};
///
/// let s = Scenario::parse("s.toml", r#"
///     ops = ["down 1"]
///     [machine]
///     cpus = 2
///     [[state]]
///     name = "drv:online"
///     section = "online"
/// "#)?;
/// let rec = run(&s, true); // on the threaded simulator
/// assert!(rec.violations.is_empty());
/// assert_eq!(rec.final_states, [99, 0]);
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Everything that happened, in order.
    pub events: Vec<Event>,
    /// The steps: setup steps, then the operations.
    pub steps: Vec<String>,
    /// How many of the steps are setup (the rest are the scenario's operations).
    pub setup_steps: usize,
    /// Broken invariants, by step.
    pub violations: Vec<Violation>,
    /// Each CPU's state at the end.
    pub final_states: Vec<u32>,
    /// Each CPU's state before the first step (after the boot).
    pub states_before: Vec<u32>,
    /// Each CPU's state after each step.
    pub states_after: Vec<Vec<u32>>,
    /// State numbers by name, for the scenario's states and the preset's.
    pub state_names: BTreeMap<u32, String>,
    /// The run ended early: a step's rollback failed, which leaves the machine undefined (as in
    /// Linux); the steps after it were not run.
    pub stopped_at: Option<usize>,
    /// Every call that could have failed, in order: the failure points this run reached.
    pub reached: Vec<Reached>,
}

/// A failure point a run reached.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reached {
    /// Where.
    pub point: Point,
    /// How many earlier calls at the same point the run made.
    pub occurrence: u32,
    /// In which step.
    pub step: usize,
    /// It failed (a planned or injected failure).
    pub failed: bool,
}

/// One step of a run, as [`run_streaming`] hands it on as soon as the step has run and been
/// checked.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{run_streaming, Scenario};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\", \"up 1\"]\n[machine]\ncpus = 2\n")?;
/// let mut seen = Vec::new();
/// run_streaming(&s, false, |step, _names| seen.push((step.what().to_string(), step.states_after.clone())));
/// assert_eq!(seen, [("down 1".to_string(), vec![99, 0]), ("up 1".to_string(), vec![99, 99])]);
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// The step's number (setup steps first, then the operations).
    pub index: usize,
    /// Its events, from its [`Event::Step`] to its [`Event::StepDone`].
    pub events: Vec<Event>,
    /// Each CPU's state before the step (empty when unknown: the machine did not boot).
    pub states_before: Vec<u32>,
    /// Each CPU's state after the step (empty when unknown).
    pub states_after: Vec<u32>,
    /// The broken invariants first seen after this step (one seen after an earlier step is not
    /// reported again).
    pub violations: Vec<Violation>,
    /// The calls that could have failed during the step, in order.
    pub reached: Vec<Reached>,
}

impl StepRecord {
    /// The step as written (`down 1`, `setup-state mydrv:online`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{run_streaming, Scenario};
    ///
    /// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
    /// let mut what = Vec::new();
    /// run_streaming(&s, false, |step, _| what.push(step.what().to_string()));
    /// assert_eq!(what, ["down 1"]);
    /// # Ok::<(), cpuhp_scenario::ParseError>(())
    /// ```
    pub fn what(&self) -> &str {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Step { what, .. } => Some(what.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }
}

/// How a run ended: what [`run_streaming`] returns once it handed on its last step.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{run_streaming, Scenario};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
/// let end = run_streaming(&s, false, |_, _| {});
/// assert_eq!(end.final_states, [99, 0]);
/// assert!(end.violations.is_empty() && end.stopped_at.is_none());
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEnd {
    /// How many of the steps are setup (the rest are the scenario's operations).
    pub setup_steps: usize,
    /// Each CPU's state before the first step (after the boot).
    pub states_before: Vec<u32>,
    /// Each CPU's state at the end.
    pub final_states: Vec<u32>,
    /// Every broken invariant, in the order the steps reported them.
    pub violations: Vec<Violation>,
    /// State numbers by name, for the scenario's states and the preset's.
    pub state_names: BTreeMap<u32, String>,
    /// The run ended early: this step's rollback failed (see [`Record::stopped_at`]).
    pub stopped_at: Option<usize>,
}

/// One step of a run.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Setup(usize),
    AddInstance(usize, String),
    Register(usize),
    Op(usize),
}

impl Step {
    pub(crate) fn describe(&self, s: &Scenario) -> String {
        match self {
            Step::Setup(i) => format!("setup-state {}", s.states[*i].name),
            Step::AddInstance(i, n) => format!("add-instance {} {n}", s.states[*i].name),
            Step::Register(i) => format!("register-notifier {}", s.notifiers[*i].name),
            Step::Op(i) => s.ops[*i].op.to_string(),
        }
    }
}

/// The steps of a scenario.
pub(crate) fn steps(s: &Scenario) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, st) in s.states.iter().enumerate() {
        steps.push(Step::Setup(i));
        for n in &st.instances {
            steps.push(Step::AddInstance(i, n.clone()));
        }
    }
    steps.extend((0..s.notifiers.len()).map(Step::Register));
    steps.extend((0..s.ops.len()).map(Step::Op));
    steps
}

/// Runs a scenario, inline (`threads: false`: every callback on the calling thread, fast and
/// deterministic) or on the threaded simulator (`threads: true`: each CPU an OS thread). Both
/// record the same events.
///
/// Never panics on a well-formed scenario; a step that fails is recorded as failed.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{run, Scenario};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 0\", \"down 1\"]\n[machine]\ncpus = 2\n")?;
/// let rec = run(&s, false);
/// assert_eq!(rec.steps, ["down 0", "down 1"]);
/// assert_eq!(rec.final_states, [0, 99], "CPU 1 was the last one online");
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
pub fn run(s: &Scenario, threads: bool) -> Record {
    run_with(s, threads, false, &[], &[], None)
}

/// Runs a scenario as [`run`] does, but hands each step to `sink` as soon as it has run and been
/// checked — with the state numbers' names known so far — and keeps nothing of it afterwards: a
/// long scenario shows its first steps at once, and the memory a run takes does not grow with
/// its operations. Returns how the run ended.
///
/// The steps handed on, put together, are the [`Record`] that [`run`] returns: its events,
/// states after each step, violations and failure points. A sink that returns
/// [`ControlFlow::Break`](std::ops::ControlFlow::Break) ends the run there: the later steps are
/// not run (one that returns nothing lets it go on).
///
/// # Examples
///
/// ```
/// use std::ops::ControlFlow;
/// use cpuhp_scenario::{run_streaming, Format, Renderer, Scenario, Width};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\", \"up 1\"]\n[machine]\ncpus = 2\n")?;
/// let mut r = Renderer::new(&s, Format::Jsonl, false, Width::Wide);
/// let mut lines = 0;
/// let end = run_streaming(&s, false, |step, names| lines += r.step(step, names).lines().count());
/// assert!(lines > 10);
/// assert_eq!(end.final_states, [99, 99]);
///
/// // Only the first operation: `up 1` never runs.
/// let end = run_streaming(&s, false, |_, _| ControlFlow::Break(()));
/// assert_eq!(end.final_states, [99, 0]);
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
pub fn run_streaming<F: Flow>(
    s: &Scenario,
    threads: bool,
    mut sink: impl FnMut(&StepRecord, &BTreeMap<u32, String>) -> F,
) -> RunEnd {
    run_core(
        s,
        threads,
        false,
        &[],
        &[],
        None,
        &mut |step, names| sink(&step, names).go_on(),
        None,
    )
    .0
}

/// What the sink of [`run_streaming`] answers after a step: nothing (the run goes on), or
/// whether it goes on ([`ControlFlow`](std::ops::ControlFlow)).
///
/// # Examples
///
/// ```
/// use std::ops::ControlFlow;
/// use cpuhp_scenario::Flow;
///
/// assert!(().go_on());
/// assert!(!ControlFlow::Break(()).go_on());
/// ```
pub trait Flow {
    /// Whether the run goes on.
    fn go_on(self) -> bool;
}

impl Flow for () {
    fn go_on(self) -> bool {
        true
    }
}

impl Flow for std::ops::ControlFlow<()> {
    fn go_on(self) -> bool {
        self.is_continue()
    }
}

/// [`run`] with extra injected failures: at scenario points (the `skip`-th call fails) and at
/// platform points (through the state machine's fault injection); `panic_at`: the failing
/// scenario callback call that panics instead. A `lean` run records only the events the
/// invariants need (see `Journal::lean`): its violations and failure points are those of a full
/// run.
pub(crate) fn run_with(
    s: &Scenario,
    threads: bool,
    lean: bool,
    extra: &[(Point, u32)],
    errno_for: &[Errno],
    panic_at: Option<&(Point, u32)>,
) -> Record {
    run_with_at(s, threads, lean, extra, errno_for, panic_at, None)
}

/// [`run_with`], with `at_step` called before each step of an inline run.
pub(crate) fn run_with_at(
    s: &Scenario,
    threads: bool,
    lean: bool,
    extra: &[(Point, u32)],
    errno_for: &[Errno],
    panic_at: Option<&(Point, u32)>,
    at_step: Option<&mut AtStep<'_>>,
) -> Record {
    let mut collected = Collected::default();
    let (end, booted) = run_core(
        s,
        threads,
        lean,
        extra,
        errno_for,
        panic_at,
        &mut |step, _| collected.push(step),
        at_step,
    );
    if !booted {
        // The boot failed: it is the only step, and no CPU's state is known after it.
        collected.states_after.clear();
        return collected.into_record(end, vec!["boot".to_string()]);
    }
    collected.into_record(end, steps(s).iter().map(|st| st.describe(s)).collect())
}

/// What a run's steps handed on, kept for its [`Record`].
#[derive(Default)]
pub(crate) struct Collected {
    events: Vec<Event>,
    states_after: Vec<Vec<u32>>,
    reached: Vec<Reached>,
}

impl Collected {
    /// Keeps a step; the run goes on (a [`Sink`]'s answer).
    pub(crate) fn push(&mut self, step: StepRecord) -> bool {
        self.events.extend(step.events);
        self.states_after.push(step.states_after);
        self.reached.extend(step.reached);
        true
    }

    /// The whole run's record: its end, the steps' descriptions and what they handed on.
    pub(crate) fn into_record(self, end: RunEnd, steps: Vec<String>) -> Record {
        Record {
            events: self.events,
            steps,
            setup_steps: end.setup_steps,
            violations: end.violations,
            final_states: end.final_states,
            states_before: end.states_before,
            states_after: self.states_after,
            state_names: end.state_names,
            stopped_at: end.stopped_at,
            reached: self.reached,
        }
    }
}

/// Adds a run's extra failures to its journal, each `(point, skip, errno)`: the call at `point`
/// after `skip` more fails with `errno` — a scenario point's first among the journal's
/// injections, a platform point's returned as a fault to inject ahead of the scenario's own.
pub(crate) fn inject_extra(
    j: &mut Journal,
    extra: impl IntoIterator<Item = (Point, u32, Errno)>,
) -> Vec<Fault> {
    let mut faults = Vec::new();
    for (point, skip, errno) in extra {
        match Pattern::exact(&point) {
            Some(at) => j.injections.insert(
                0,
                Injection {
                    at,
                    errno,
                    skip,
                    times: Some(1),
                },
            ),
            None => {
                if let Point::Platform {
                    step, cpu, bringup, ..
                } = point
                {
                    let f = if bringup {
                        Fault::startup(StateId(step), errno)
                    } else {
                        Fault::teardown(StateId(step), errno)
                    };
                    faults.push(f.on_cpu(CpuId(cpu)).after(skip).once());
                }
            }
        }
    }
    faults
}

/// The errno of the `k`-th extra failure of a run.
pub(crate) fn errno_of(errno_for: &[Errno], k: usize) -> Errno {
    errno_for.get(k).copied().unwrap_or(Errno::EIO)
}

/// A step handed on, with the state numbers' names so far; answers whether the run goes on.
pub(crate) type Sink<'a> = dyn FnMut(StepRecord, &BTreeMap<u32, String>) -> bool + 'a;

/// The inline machine of a run.
pub(crate) type InlineMachine = Hotplug<Traced<Recorder>>;

/// Called before each step of an inline run with the step's number, the runner's state, the
/// machine and the journal: where checkpoints are taken.
pub(crate) type AtStep<'a> = dyn FnMut(usize, &Progress, &InlineMachine, &Shared) + 'a;

/// Builds the machine and drives the scenario into `sink`; also says whether the machine booted.
#[allow(clippy::too_many_arguments)]
fn run_core(
    s: &Scenario,
    threads: bool,
    lean: bool,
    extra: &[(Point, u32)],
    errno_for: &[Errno],
    panic_at: Option<&(Point, u32)>,
    sink: &mut Sink<'_>,
    at_step: Option<&mut AtStep<'_>>,
) -> (RunEnd, bool) {
    let sh = Shared::default();
    let mut platform_faults = {
        let mut j = sh.lock();
        j.panic_at = panic_at.cloned();
        j.lean = lean;
        j.answers = s.notifiers.iter().map(|nb| nb.answer.clone()).collect();
        // The threaded machine's tracer is set after its boot; the inline one traces its boot.
        j.booting = !threads;
        j.injections = planned(s);
        let l = s.machine.preset.preset().layout;
        j.platform = vec![
            (l.bringup_cpu.get(), true, "bringup_cpu"),
            (l.teardown_cpu.get(), false, "takedown_cpu"),
        ];
        if let Some(k) = l.bp_kick_ap {
            j.platform.push((k.get(), true, "cpuhp_kick_ap_alive"));
        }
        inject_extra(
            &mut j,
            extra
                .iter()
                .enumerate()
                .map(|(k, (point, skip))| (point.clone(), *skip, errno_of(errno_for, k))),
        )
    };
    // The scenario's own platform faults, after the ones injected above (those fire first).
    platform_faults.extend(planned_faults(s));
    let topology = Topology::new(s.machine.cpus)
        .with_threads_per_core(s.machine.threads_per_core)
        .with_smt_control(s.machine.smt);
    let preset = s.machine.preset.preset();
    if threads {
        match Machine::new(preset, topology) {
            Ok(mut m) => {
                let tsh = sh.clone();
                let _ = m.set_tracer(move |e| tsh.lock().trace(e));
                for f in platform_faults {
                    let _ = m.inject(f);
                }
                (drive(s, &sh, &mut m, sink, &mut |_, _, _| {}), true)
            }
            Err(e) => (boot_failure(s, &sh, e, sink), false),
        }
    } else {
        match Hotplug::new(preset, topology, Traced(Recorder(sh.clone(), lean))) {
            Ok(mut hp) => {
                for f in platform_faults {
                    hp.inject(f);
                }
                let end = match at_step {
                    Some(at_step) => drive(s, &sh, &mut hp, sink, &mut |i, p, hp| {
                        at_step(i, p, hp, &sh)
                    }),
                    None => drive(s, &sh, &mut hp, sink, &mut |_, _, _| {}),
                };
                (end, true)
            }
            Err(e) => (boot_failure(s, &sh, e, sink), false),
        }
    }
}

/// The machine did not boot: the boot is the one step, failed, and the run stops there.
fn boot_failure(s: &Scenario, sh: &Shared, e: Error, sink: &mut Sink<'_>) -> RunEnd {
    let events = {
        let mut j = sh.lock();
        j.events.clear();
        j.calls.clear();
        vec![
            Event::Step {
                index: 0,
                what: "boot".into(),
                op: false,
            },
            Event::StepDone {
                index: 0,
                outcome: Outcome::of(&Err(e)),
            },
        ]
    };
    let state_names = BTreeMap::new();
    // The run ends here whatever the sink answers.
    let _ = sink(
        StepRecord {
            index: 0,
            events,
            states_before: Vec::new(),
            states_after: Vec::new(),
            violations: Vec::new(),
            reached: Vec::new(),
        },
        &state_names,
    );
    RunEnd {
        setup_steps: 1,
        states_before: Vec::new(),
        final_states: vec![0; s.machine.cpus as usize],
        violations: Vec::new(),
        state_names,
        stopped_at: Some(0),
    }
}

/// The scenario's own planned failures and vetoes.
pub(crate) fn planned(s: &Scenario) -> Vec<Injection> {
    let mut v = Vec::new();
    for st in &s.states {
        for f in &st.fail {
            v.push(Injection {
                at: Pattern::Callback {
                    state: st.name.clone(),
                    cpu: f.cpu,
                    bringup: f.bringup,
                    instance: f.instance.clone(),
                },
                errno: f.errno,
                skip: f.after,
                times: f.times,
            });
        }
    }
    for nb in &s.notifiers {
        for veto in &nb.veto {
            v.push(Injection {
                at: Pattern::Notifier {
                    notifier: nb.name.clone(),
                    up: veto.event == CpuEvent::UpPrepare,
                    cpu: veto.cpu,
                },
                errno: veto.errno,
                skip: veto.after,
                times: veto.times,
            });
        }
    }
    v
}

/// The scenario's platform faults, as the state machine's: each fails its core state's startup
/// (boot, kick) or teardown (stop).
pub(crate) fn planned_faults(s: &Scenario) -> Vec<Fault> {
    let preset = s.machine.preset.preset();
    s.faults
        .iter()
        .filter_map(|f| {
            // The parser refuses a kick on a preset without a kick state.
            let (state, startup) = f.on.state(preset)?;
            let mut fault = if startup {
                Fault::startup(state, f.errno)
            } else {
                Fault::teardown(state, f.errno)
            };
            if let Some(c) = f.cpu {
                fault = fault.on_cpu(CpuId(c));
            }
            if let Some(t) = f.times {
                fault = fault.times(t);
            }
            Some(fault.after(f.after))
        })
        .collect()
}

/// The inline platform's tracer (`Traced<Recorder>`): trace events into the journal (for a lean
/// run, only those it keeps: the others are dropped before taking the journal's lock).
pub(crate) struct Recorder(pub(crate) Shared, pub(crate) bool);

impl Tracer for Recorder {
    fn trace(&self, event: &TraceEvent<'_>) {
        let kept = matches!(
            event,
            TraceEvent::Enter { .. } | TraceEvent::Injected { .. } | TraceEvent::Warning { .. }
        );
        if self.1 && !kept {
            return;
        }
        self.0.lock().trace(event);
    }
}

/// State numbers and instance ids handed out so far, and the preset's table for targets by name.
#[derive(Clone, Debug)]
pub(crate) struct Ids {
    pub(crate) states: BTreeMap<String, StateId>,
    pub(crate) instances: BTreeMap<(String, String), InstanceId>,
    pub(crate) preset: &'static cpuhp::preset::Preset,
}

impl Default for Ids {
    fn default() -> Ids {
        Ids {
            states: BTreeMap::new(),
            instances: BTreeMap::new(),
            preset: &cpuhp::preset::DEMO,
        }
    }
}

impl Ids {
    fn state(&self, name: &str) -> Result<StateId, Error> {
        self.states
            .get(name)
            .copied()
            .ok_or(Error::new(ErrorKind::InvalidState))
    }

    /// Where an `up`/`down` stops: `default` without a target, a scenario state by the number
    /// it got, a preset state by its table's.
    fn target(
        &self,
        target: Option<&scenario::Target>,
        default: StateId,
    ) -> Result<StateId, Error> {
        match target {
            None => Ok(default),
            Some(scenario::Target::Number(n)) => Ok(StateId(*n)),
            Some(scenario::Target::Name(name)) => self
                .states
                .get(name)
                .copied()
                .or_else(|| {
                    self.preset
                        .states
                        .iter()
                        .find(|s| s.name == name)
                        .map(|s| StateId(s.number))
                })
                .ok_or(Error::new(ErrorKind::InvalidState)),
        }
    }

    /// The state to add instance `name` to: instance names are unique per state.
    fn new_instance(&self, state: &str, name: &str) -> Result<StateId, Error> {
        if self
            .instances
            .contains_key(&(state.to_string(), name.to_string()))
        {
            return Err(Error::new(ErrorKind::AlreadyRegistered));
        }
        self.state(state)
    }

    fn instance(&self, state: &str, name: &str) -> Result<(StateId, InstanceId), Error> {
        let s = self.state(state)?;
        let i = self
            .instances
            .get(&(state.to_string(), name.to_string()))
            .copied()
            .ok_or(Error::new(ErrorKind::UnknownInstance))?;
        Ok((s, i))
    }
}

/// Runs a scenario operation on any machine: the inline `Hotplug` or the threaded `Machine`.
fn op(m: &mut impl Operations, op: &Op, ids: &Ids) -> Result<(), Error> {
    match op {
        Op::Up { cpu, target } => {
            let online = m.inspect(|hp| hp.layout().online)?;
            m.cpu_up(CpuId(*cpu), ids.target(target.as_ref(), online)?)
        }
        Op::Down { cpu, target } => {
            m.cpu_down(CpuId(*cpu), ids.target(target.as_ref(), StateId::OFFLINE)?)
        }
        Op::AddInstance { state, name } => m
            .add_instance(ids.new_instance(state, name)?, name.clone())
            .map(drop),
        Op::RemoveInstance { state, name } => {
            let (s, i) = ids.instance(state, name)?;
            m.remove_instance(s, i)
        }
        Op::RemoveState { state } => m.remove_state(ids.state(state)?),
        Op::Freeze => m.freeze_secondary_cpus(None),
        Op::Thaw => m.thaw_secondary_cpus(),
        Op::Smt(c) => m.set_smt_control(*c),
        Op::ParallelUp(cpus) => {
            let cpus: Vec<CpuId> = cpus.iter().map(|&c| CpuId(c)).collect();
            m.bringup_cpus_parallel(&cpus)?
                .into_iter()
                .try_for_each(|(_, r)| r)
        }
        Op::DisableHotplug => m.cpu_hotplug_disable(),
        Op::EnableHotplug => m.cpu_hotplug_enable(),
    }
}

/// What the runner carries from one step to the next besides the machine and the journal (a
/// checkpoint keeps a copy).
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    pub(crate) ids: Ids,
    /// Every violation reported so far.
    pub(crate) violations: Vec<Violation>,
    /// A broken invariant is reported where it is first seen, not again after every later step.
    pub(crate) seen: std::collections::HashSet<(check::Invariant, String)>,
    pub(crate) state_names: BTreeMap<u32, String>,
    /// The machine after the last step (before the first: after the boot).
    pub(crate) before: Option<Snapshot>,
    /// Each CPU's state after the boot.
    pub(crate) states_before: Vec<u32>,
}

/// Runs every step on `target`, recording and checking as it goes; hands each step to `sink` as
/// soon as it is checked, and keeps nothing of it. `at_step` sees each step before it runs.
fn drive<T: Operations>(
    s: &Scenario,
    sh: &Shared,
    target: &mut T,
    sink: &mut Sink<'_>,
    at_step: &mut dyn FnMut(usize, &Progress, &T),
) -> RunEnd {
    // The boot is no step: its calls are not failure points (the faults for platform points are
    // injected after it, and count calls from there).
    sh.lock().forget_boot();
    let before = target
        .inspect(|hp| check::snapshot(hp, &Ids::default()))
        .ok();
    let progress = Progress {
        ids: Ids {
            preset: s.machine.preset.preset(),
            ..Ids::default()
        },
        violations: Vec::new(),
        seen: std::collections::HashSet::new(),
        state_names: BTreeMap::new(),
        states_before: before
            .as_ref()
            .map(|b| b.states.clone())
            .unwrap_or_default(),
        before,
    };
    drive_from(s, sh, target, sink, progress, 0, at_step)
}

/// [`drive`] from step `first` on, the runner's state being `progress` (a checkpoint's, for a
/// run resumed from it).
pub(crate) fn drive_from<T: Operations>(
    s: &Scenario,
    sh: &Shared,
    target: &mut T,
    sink: &mut Sink<'_>,
    progress: Progress,
    first: usize,
    at_step: &mut dyn FnMut(usize, &Progress, &T),
) -> RunEnd {
    let steps = steps(s);
    let mut p = progress;
    let mut stopped_at = None;
    let setup_steps = steps.iter().filter(|st| !matches!(st, Step::Op(_))).count();
    let snap = |target: &mut dyn FnMut() -> Option<Snapshot>| target();
    for (index, step) in steps.iter().enumerate().skip(first) {
        at_step(index, &p, target);
        let what = step.describe(s);
        let from = {
            let mut j = sh.lock();
            j.step = index;
            j.delta.clear();
            let from = j.events.len();
            j.events.push(Event::Step {
                index,
                what,
                op: matches!(step, Step::Op(_)),
            });
            from
        };
        let r = exec(s, sh, target, step, &mut p.ids);
        let outcome = Outcome::of(&r);
        sh.lock().events.push(Event::StepDone { index, outcome });
        // Only setup steps change the state table (a removed state keeps its name here), and
        // reading it is dear on a large preset: once per setup step, not per operation.
        if index == 0 || !matches!(step, Step::Op(_)) {
            if let Ok(names) = target.inspect(|hp| hp.states()) {
                p.state_names
                    .extend(names.into_iter().map(|(n, name)| (n.get(), name)));
            }
        }
        let after = snap(&mut || target.inspect(|hp| check::snapshot(hp, &p.ids)).ok());
        let mut found = Vec::new();
        let record = {
            let mut j = sh.lock();
            if let (Some(b), Some(a)) = (&p.before, &after) {
                found = check::step(s, index, from, step, &r, b, a, &j);
            }
            // Accounting errors seen live (double startups, teardowns of nothing), after the
            // checks of the same step.
            found.extend(
                std::mem::take(&mut j.violations)
                    .into_iter()
                    .map(|(step, text)| Violation {
                        step,
                        invariant: check::Invariant::Accounting,
                        text,
                    }),
            );
            found.retain(|v| p.seen.insert((v.invariant, v.text.clone())));
            let mut events = std::mem::take(&mut j.events);
            name_instances(&mut events, &j.instance_names, &p.state_names);
            for id in std::mem::take(&mut j.forget) {
                j.instance_names.remove(&id);
            }
            let reached = std::mem::take(&mut j.calls)
                .into_iter()
                .map(|c| Reached {
                    point: c.point,
                    occurrence: c.occurrence,
                    step: c.step,
                    failed: c.failed,
                })
                .collect();
            StepRecord {
                index,
                events,
                states_before: p
                    .before
                    .as_ref()
                    .map(|b| b.states.clone())
                    .unwrap_or_default(),
                states_after: after.as_ref().map(|a| a.states.clone()).unwrap_or_default(),
                violations: found.clone(),
                reached,
            }
        };
        p.violations.extend(found);
        let go_on = sink(record, &p.state_names);
        p.before = after;
        if r.as_ref().is_err_and(|e| e.rollback_failure().is_some()) {
            stopped_at = Some(index);
            break;
        }
        if !go_on {
            break;
        }
    }
    RunEnd {
        setup_steps,
        states_before: p.states_before,
        final_states: p.before.map(|b| b.states).unwrap_or_default(),
        violations: p.violations,
        state_names: p.state_names,
        stopped_at,
    }
}

/// Puts names where a step's events have the state machine's numbers: instance ids the trace
/// saw (`#7` → `nvme2`), and the failing state's name after its number in a failure's text.
/// Each failure text is scanned once, whatever the number of instances the run has seen.
fn name_instances(
    events: &mut [Event],
    names: &BTreeMap<u64, String>,
    state_names: &BTreeMap<u32, String>,
) {
    for e in events {
        match e {
            Event::StepDone {
                outcome:
                    Outcome::Failed {
                        failure,
                        rollback_failure,
                        ..
                    },
                ..
            } => {
                for text in [failure, rollback_failure].into_iter().flatten() {
                    *text = name_instances_in(text, names);
                    // "startup of state 72 on …" → "startup of state 72 (mm/vmstat:online) on …".
                    if let Some(n) = text
                        .split_once("of state ")
                        .and_then(|(_, rest)| rest.split(' ').next())
                        .and_then(|n| n.parse::<u32>().ok())
                    {
                        if let Some(name) = state_names.get(&n) {
                            *text = text.replacen(
                                &format!("of state {n} "),
                                &format!("of state {n} ({name}) "),
                                1,
                            );
                        }
                    }
                }
            }
            Event::Enter { instance, .. }
            | Event::Exit { instance, .. }
            | Event::Injected { instance, .. } => {
                if let Some(name) = instance
                    .as_deref()
                    .and_then(|i| i.strip_prefix('#'))
                    .and_then(|n| n.parse::<u64>().ok())
                    .and_then(|n| names.get(&n))
                {
                    *instance = Some(name.clone());
                }
            }
            _ => {}
        }
    }
}

/// `instance #7 on` → `instance nvme2 on`, for every id with a name.
fn name_instances_in(text: &str, names: &BTreeMap<u64, String>) -> String {
    const MARK: &str = "instance #";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let digits = rest[at + MARK.len()..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - MARK.len());
        let tail = &rest[at + MARK.len() + digits..];
        let name = rest[at + MARK.len()..at + MARK.len() + digits]
            .parse::<u64>()
            .ok()
            .and_then(|id| names.get(&id))
            .filter(|_| tail.starts_with(" on"));
        match name {
            Some(name) => {
                out.push_str(&rest[..at]);
                out.push_str("instance ");
                out.push_str(name);
            }
            None => out.push_str(&rest[..at + MARK.len() + digits]),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn exec(
    s: &Scenario,
    sh: &Shared,
    target: &mut impl Operations,
    step: &Step,
    ids: &mut Ids,
) -> Result<(), Error> {
    match step {
        Step::Setup(i) => {
            let st = &s.states[*i];
            let slot = match (st.slot, st.section) {
                (SlotSpec::Fixed(n), _) => Slot::Fixed(StateId(n)),
                (SlotSpec::Dynamic, Section::Prepare) => Slot::PrepareDyn,
                (SlotSpec::Dynamic, _) => Slot::OnlineDyn,
            };
            let cbs = callbacks(st, sh);
            let n = target.setup_state(slot, st.name.clone().into(), cbs)?;
            ids.states.insert(st.name.clone(), n);
            Ok(())
        }
        Step::AddInstance(i, name) => {
            let st = &s.states[*i];
            let state = ids.state(&st.name)?;
            let id = target.add_instance(state, name.clone())?;
            ids.instances.insert((st.name.clone(), name.clone()), id);
            sh.lock().instance_names.insert(id.0, name.clone());
            Ok(())
        }
        Step::Register(i) => {
            let nb = &s.notifiers[*i];
            let block = notifier_block(nb, *i, sh);
            target.ensure_cpu_notifiers(None)?;
            target.register_cpu_notifier(block.into())
        }
        Step::Op(i) => {
            let op = &s.ops[*i].op;
            let r = self::op(target, op, ids);
            match (op, &r) {
                (Op::AddInstance { state, name }, Ok(())) => {
                    // The newest instance of the state is the one just added.
                    let st = ids.state(state)?;
                    let newest = target.inspect(|hp| hp.instances(st))?.into_iter().max();
                    if let Some(id) = newest {
                        ids.instances.insert((state.clone(), name.clone()), id);
                        sh.lock().instance_names.insert(id.0, name.clone());
                    }
                }
                (Op::RemoveInstance { state, name }, Ok(())) => {
                    if let Some(id) = ids.instances.remove(&(state.clone(), name.clone())) {
                        // Its name is still needed for this step's events, not after.
                        sh.lock().forget.push(id.0);
                    }
                }
                (Op::RemoveState { state }, Ok(())) => {
                    ids.states.remove(state);
                    let mut j = sh.lock();
                    ids.instances.retain(|(s, _), id| {
                        if s == state {
                            j.forget.push(id.0);
                        }
                        s != state
                    });
                }
                _ => {}
            }
            r
        }
    }
}

/// A notifier that records every event, vetoes as planned (and as `explore` injects), and gives
/// its planned answers.
fn notifier_block(
    nb: &NotifierSpec,
    index: usize,
    sh: &Shared,
) -> Arc<NotifierBlock<impl Fn(CpuAction, &CpuId) -> NotifyResult + Send + Sync + 'static>> {
    let (name, sh) = (nb.name.clone(), sh.clone());
    Arc::new(NotifierBlock::new(
        move |action: CpuAction, cpu: &CpuId| {
            let sh = sh.current();
            let mut j = sh.lock();
            let mut ret = NotifyResult::OK;
            let mut vetoed = false;
            let lean = j.lean;
            if action.event.can_veto() {
                let point = Point::Notifier {
                    notifier: name.clone(),
                    up: action.event == CpuEvent::UpPrepare,
                    cpu: cpu.0,
                };
                if let Some(errno) = j.call(point) {
                    ret = NotifyResult::from_error(errno);
                    vetoed = true;
                }
            }
            if !vetoed {
                // Each answer with what is left of its `after` and `times`.
                let r = j
                    .answers
                    .get_mut(index)
                    .and_then(|a| answer(a, action.event, cpu.0));
                if let Some(r) = r {
                    ret = r;
                    // A planned veto given as an answer fails the call like a `veto`.
                    if ret.error().is_some() {
                        if let Some(call) = j.calls.last_mut() {
                            call.failed = true;
                        }
                    }
                }
            }
            if !lean {
                j.events.push(Event::Notify {
                    notifier: name.clone(),
                    action: action.to_string(),
                    cpu: cpu.0,
                    ret: ret.to_errno(),
                    stop: ret.is_stop(),
                });
            }
            ret
        },
        nb.priority,
    ))
}

/// The planned answer to `event` for `cpu`, if one fires now: the first matching answer not
/// spent, once its `after` events went by.
fn answer(answers: &mut [AnswerSpec], event: CpuEvent, cpu: u32) -> Option<NotifyResult> {
    let a = answers
        .iter_mut()
        .find(|a| a.event == event && a.cpu.is_none_or(|c| c == cpu) && a.times != Some(0))?;
    if a.after > 0 {
        a.after -= 1;
        return None;
    }
    if let Some(t) = &mut a.times {
        *t -= 1;
    }
    Some(a.ret)
}

/// The callbacks of a state: each records its call, fails as planned, and accounts for its
/// resource (with the planted bug, if any).
fn callbacks(st: &StateSpec, sh: &Shared) -> cpuhp::Callbacks {
    let name = st.name.clone();
    let bug = st.bug;
    let paired = st.startup && st.teardown;
    // Callbacks that cannot fail by type are no failure points.
    let (up_can_fail, down_can_fail) = match st.section {
        Section::Prepare => (true, false),
        Section::Starting => (false, false),
        Section::Online => (true, true),
    };
    // One body for both directions: record the call, fail as planned, account for the resource.
    let body = |bringup: bool, can_fail: bool| {
        let (name, sh) = (name.clone(), sh.clone());
        move |cpu: CpuId, inst: Option<&String>| -> Result<(), Errno> {
            let sh = sh.current();
            let mut j = sh.lock();
            j.name_instance(inst);
            let point = Point::Callback {
                state: name.clone(),
                cpu: cpu.0,
                bringup,
                instance: inst.cloned(),
            };
            let r = (name.clone(), cpu.0, inst.cloned());
            let fails = if can_fail { j.call(point) } else { None };
            // What the callback holds afterwards: a startup acquires when it succeeds (or, with
            // the planted leak, even when it fails); a teardown releases when it succeeds
            // (unless the planted bug forgets to).
            let acquire = bringup && (fails.is_none() || bug == Some(Bug::LeakOnFailure));
            let release = !bringup && fails.is_none() && bug != Some(Bug::TeardownLeaks);
            if paired && acquire {
                j.acquire(r);
            } else if paired && release {
                j.release(r);
            }
            if fails.is_some() && j.panics_now() {
                // A buggy driver: the machine must roll back as for the errno (EIO).
                drop(j);
                std::panic::panic_any(crate::explore::INJECTED_PANIC);
            }
            fails.map_or(Ok(()), Err)
        }
    };
    let up = body(true, up_can_fail);
    let down = body(false, down_can_fail);
    let sym = name.clone();
    macro_rules! single {
        ($builder:expr, $wrap_up:expr, $wrap_down:expr) => {{
            let mut b = $builder;
            if st.startup {
                let up = up.clone();
                b = b.startup_named(sym.clone(), move |c| $wrap_up(up(c, None)));
            }
            if st.teardown {
                let down = down.clone();
                b = b.teardown_named(sym.clone(), move |c| $wrap_down(down(c, None)));
            }
            b.into()
        }};
    }
    macro_rules! multi {
        ($builder:expr, $wrap_up:expr, $wrap_down:expr) => {{
            let mut b = $builder;
            if st.startup {
                let up = up.clone();
                b = b.startup_named(sym.clone(), move |c, i: &String| $wrap_up(up(c, Some(i))));
            }
            if st.teardown {
                let down = down.clone();
                b = b.teardown_named(sym.clone(), move |c, i: &String| {
                    $wrap_down(down(c, Some(i)))
                });
            }
            b.into()
        }};
    }
    // Infallible by type: a planned failure there is refused by the parser; the result of the
    // accounting is all that is left.
    let fallible = |r: Result<(), Errno>| r;
    let infallible = |r: Result<(), Errno>| {
        let _ = r;
    };
    match (st.section, st.multi) {
        (Section::Prepare, false) => single!(Prepare::new(), fallible, infallible),
        (Section::Starting, false) => single!(Starting::new(), infallible, infallible),
        (Section::Online, false) => single!(Online::new(), fallible, fallible),
        (Section::Prepare, true) => multi!(PrepareMulti::<String>::new(), fallible, infallible),
        (Section::Starting, true) => {
            multi!(StartingMulti::<String>::new(), infallible, infallible)
        }
        (Section::Online, true) => multi!(OnlineMulti::<String>::new(), fallible, fallible),
    }
}
