//! Trace events: one `Enter` and one `Exit` per callback, plus warnings and the points where
//! this implementation deliberately differs from Linux.
//!
//! The events carry what Linux's `cpuhp_enter` / `cpuhp_multi_enter` / `cpuhp_exit` tracepoints
//! carry (CPU, target, step, function, result, the CPU's state after the call) and what they do
//! not: the direction, the instance and the context the callback ran in. They are plain data,
//! usable without std; the [`Platform`](crate::Platform) receives them.

use alloc::format;
use alloc::string::String;
use core::fmt;

use crate::{CpuId, Errno, InstanceId, StateId};

/// Where a callback ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    /// On the control side: the CPU driving the operation (Linux: the task writing sysfs, or
    /// `cpuhp_issue_call` for PREPARE states). Linux's trace shows it as the `bp`.
    Control,
    /// On the target CPU's hotplug thread (Linux: `cpuhp/N`).
    ApThread,
    /// On the target CPU with interrupts off: STARTING callbacks while it boots, DYING callbacks
    /// while it dies. (Linux records no tracepoints here: RCU is not watching that CPU.)
    ApAtomic,
}

/// A kernel warning (`WARN`/`WARN_ON_ONCE` in `kernel/cpu.c`) at the same point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// `cpuhp_thread_fun`: a callback failed while the hotplug thread was already rolling back —
    /// "up a creek without no paddle". The thread stops where it is.
    RollbackFailed,
    /// `cpuhp_up_callbacks`: rolling back a failed bring-up failed again.
    UpRollbackFailed,
    /// `cpuhp_down_callbacks`: rolling back a failed tear-down failed again.
    DownRollbackFailed,
    /// `_cpu_down`: "DEAD callback error for CPU%d" — a tear-down failed below
    /// `CPUHP_TEARDOWN_CPU`, after the CPU was stopped, and the CPU is stuck in between.
    DeadCallbackError,
    /// `cpuhp_invoke_callback`: undoing the instances before a failed instance failed ("Rollback
    /// must not fail").
    InstanceRollbackFailed,
    /// `cpuhp_invoke_callback`: called for a state without a callback.
    EmptyStep,
    /// `bringup_wait_for_ap`: the booted CPU did not come online.
    ApNotOnline,
    /// `target_store`: a CPU already at the written target had another target recorded.
    TargetMismatch,
    /// `cpuhp_rollback_install` / removal: a teardown failed where Linux would `BUG()`.
    TeardownFailedOnRemove,
    /// Undoing a removal that failed (bringing back the CPUs already torn down) failed too. Linux
    /// has no such point: a teardown failing during a removal is a `BUG()` there.
    RemoveRollbackFailed,
    /// `cpu_hotplug_enable`: "Unbalanced cpu hotplug enable".
    UnbalancedEnable,
    /// A callback that cannot fail panicked (a STARTING callback, a PREPARE or DYING teardown,
    /// or a CPU notifier on an event that cannot be vetoed): the walk went on as if it had
    /// returned. Linux has no such point — a kernel callback that crashes is an oops; we report it
    /// where the callback is invoked. (With `std` only.)
    CallbackPanicked,
    /// A kernel callback that must run on the CPU it is for ran elsewhere — on the control side,
    /// which walks the ONLINE section by itself after the hotplug thread's rollback failed — and
    /// refused: Linux's `workqueue_offline_cpu` does `if (WARN_ON(cpu != smp_processor_id()))
    /// return -1;`. It fails with `EPERM` (-1), so the control side's rollback stops there.
    ForeignCpuRefused,
    /// The same for a startup that only warns and carries on (Linux 6.1's
    /// `lockup_detector_online_cpu`: `WARN_ON_ONCE` in `watchdog_enable`). Once per boot.
    ForeignCpuStartup,
    /// The same for a teardown that only warns (`watchdog_disable`). Once per boot.
    ForeignCpuTeardown,
}

impl Warning {
    /// Whether the warning says a rollback failed on its CPU, leaving that CPU where the failure
    /// stopped it (Linux: "undefined"): what is held there no longer follows the rollback rules.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::Warning;
    ///
    /// assert!(Warning::RollbackFailed.leaves_cpu_undefined());
    /// assert!(!Warning::UnbalancedEnable.leaves_cpu_undefined());
    /// ```
    pub fn leaves_cpu_undefined(self) -> bool {
        matches!(
            self,
            Warning::RollbackFailed
                | Warning::UpRollbackFailed
                | Warning::DownRollbackFailed
                | Warning::DeadCallbackError
                | Warning::InstanceRollbackFailed
                | Warning::TeardownFailedOnRemove
                | Warning::RemoveRollbackFailed
                | Warning::ForeignCpuRefused
        )
    }

    /// The kernel function that prints this warning.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::Warning;
    /// assert_eq!(Warning::DeadCallbackError.linux_function(), "_cpu_down");
    /// ```
    pub fn linux_function(self) -> &'static str {
        match self {
            Warning::RollbackFailed => "cpuhp_thread_fun",
            Warning::UpRollbackFailed => "cpuhp_up_callbacks",
            Warning::DownRollbackFailed => "cpuhp_down_callbacks",
            Warning::DeadCallbackError => "_cpu_down",
            Warning::InstanceRollbackFailed | Warning::EmptyStep => "cpuhp_invoke_callback",
            Warning::ApNotOnline => "bringup_wait_for_ap",
            Warning::TargetMismatch => "target_store",
            Warning::TeardownFailedOnRemove | Warning::RemoveRollbackFailed => "cpuhp_issue_call",
            Warning::UnbalancedEnable => "__cpu_hotplug_enable",
            Warning::CallbackPanicked => "cpuhp_invoke_callback",
            Warning::ForeignCpuRefused => "workqueue_offline_cpu",
            Warning::ForeignCpuStartup => "watchdog_enable",
            Warning::ForeignCpuTeardown => "watchdog_disable",
        }
    }
}

/// A point where this implementation deliberately behaves differently from Linux 6.1, so that a
/// trace comparison can say so instead of reporting a bare mismatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Divergence {
    /// A multi-instance startup (or teardown) failed on the control side after earlier
    /// instances succeeded. Linux 6.1 undoes those instances and then returns the *undo's*
    /// result (usually 0), losing the failure; here the failure is returned and the state
    /// rollback continues (docs/rules.md, `multi-instance`).
    InstanceFailureKept,
}

impl Divergence {
    /// One sentence for reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::Divergence;
    /// assert!(Divergence::InstanceFailureKept.explain().contains("multi-instance"));
    /// ```
    pub fn explain(self) -> &'static str {
        match self {
            Divergence::InstanceFailureKept => {
                "Linux 6.1 loses a multi-instance failure once earlier instances were undone; \
                 we return it and roll the state back (multi-instance)"
            }
        }
    }
}

/// The project's rules, by stable name: each is stated once in `docs/rules.md` (the anchor is
/// the name), and every output that says why something happened cites it by that name.
///
/// Trace events carry the rule that applied to each callback call ([`TraceEvent::Enter`],
/// [`TraceEvent::Exit`], [`TraceEvent::Injected`]); the engine decides it where it decides what
/// to call, so that renderers only render.
///
/// # Examples
///
/// ```
/// use cpuhp::Rule;
///
/// assert_eq!(Rule::StartupFailure.name(), "startup-failure");
/// assert_eq!(Rule::from_name("robust-call"), Some(Rule::RobustCall));
/// // A call while a failed bring-up is undone: a teardown, under startup-failure.
/// assert_eq!(Rule::of_call(true, false), Rule::StartupFailure);
/// // That teardown failing in turn: no second reversal.
/// assert_eq!(Rule::of_failure(true, false), Rule::RollbackFailure);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// `chain-order`: a notifier chain calls higher priorities first, equal priorities in
    /// registration order.
    ChainOrder,
    /// `chain-stop`: a walk stops at the first answer with the stop bit and returns it.
    ChainStop,
    /// `robust-call` (the seed): when the up walk stops after `nr_calls` callbacks, the down
    /// event reaches exactly the `nr_calls - 1` before the one that stopped it.
    RobustCall,
    /// `chain-registration`: `EEXIST`, `EBUSY`, `ENOENT`; an error leaves the chain unchanged.
    ChainRegistration,
    /// `legacy-up`: a legacy CPU notifier hears `CPU_UP_PREPARE` (may veto), `CPU_STARTING`
    /// (interrupts off, cannot fail), `CPU_ONLINE`; `CPU_UP_CANCELED` undoes a prepare.
    LegacyUp,
    /// `legacy-down`: `CPU_DOWN_PREPARE` (may veto), `CPU_DYING`, `CPU_DEAD`, `CPU_POST_DEAD`;
    /// `CPU_DOWN_FAILED` undoes a down-prepare.
    LegacyDown,
    /// `legacy-bridge`: three bridge states call the legacy chain from inside the walk; which
    /// event a bridge sends depends on what that CPU's notifiers were last told.
    LegacyBridge,
    /// `walk`: a transition calls the startups in ascending state order, the teardowns
    /// descending; each section runs where Linux runs it.
    Walk,
    /// `startup-failure`: a failed startup gets no teardown; the states below it that ran are
    /// torn down, descending, back to where the CPU began.
    StartupFailure,
    /// `teardown-failure`: a failed teardown leaves its state and the ones below up; the states
    /// above it that were torn down get their startup again, ascending.
    TeardownFailure,
    /// `rollback-failure`: a failure while undoing does not reverse again; it is warned about
    /// and reported, and the CPU stays where it stopped.
    RollbackFailure,
    /// `multi-instance`: a multi-instance state calls its instances newest first; when one
    /// fails, the ones before it are undone and it is not.
    MultiInstance,
    /// `install`: installing a state or adding an instance runs its startup on every CPU that
    /// reached the state, ascending; a failure at CPU k undoes it on the CPUs before k and
    /// nothing of the install stays.
    Install,
    /// `remove`: removing a state or an instance runs its teardown on every CPU that reached the
    /// state, ascending; a failure at CPU k (Linux: `BUG()`) brings the CPUs before k back, and
    /// the state or instance stays.
    Remove,
    /// `injected-failure`: `hotplug/fail` (or a [`Fault`](crate::Fault)) makes the next matching
    /// callback fail without being called; never one that cannot fail by type.
    InjectedFailure,
    /// `callback-panic`: a callback that panics has failed with `EIO` if it can fail; otherwise
    /// it counts as a failure that cannot be undone, reported, and the walk goes on.
    CallbackPanic,
}

impl Rule {
    /// Every rule, in the order `docs/rules.md` states them.
    pub const ALL: [Rule; 16] = [
        Rule::ChainOrder,
        Rule::ChainStop,
        Rule::RobustCall,
        Rule::ChainRegistration,
        Rule::LegacyUp,
        Rule::LegacyDown,
        Rule::LegacyBridge,
        Rule::Walk,
        Rule::StartupFailure,
        Rule::TeardownFailure,
        Rule::RollbackFailure,
        Rule::MultiInstance,
        Rule::Install,
        Rule::Remove,
        Rule::InjectedFailure,
        Rule::CallbackPanic,
    ];

    /// The stable name: the rule's anchor in `docs/rules.md` and what outputs cite.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp::Rule::TeardownFailure.name(), "teardown-failure");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Rule::ChainOrder => "chain-order",
            Rule::ChainStop => "chain-stop",
            Rule::RobustCall => "robust-call",
            Rule::ChainRegistration => "chain-registration",
            Rule::LegacyUp => "legacy-up",
            Rule::LegacyDown => "legacy-down",
            Rule::LegacyBridge => "legacy-bridge",
            Rule::Walk => "walk",
            Rule::StartupFailure => "startup-failure",
            Rule::TeardownFailure => "teardown-failure",
            Rule::RollbackFailure => "rollback-failure",
            Rule::MultiInstance => "multi-instance",
            Rule::Install => "install",
            Rule::Remove => "remove",
            Rule::InjectedFailure => "injected-failure",
            Rule::CallbackPanic => "callback-panic",
        }
    }

    /// The rule with this stable name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp::Rule::from_name("walk"), Some(cpuhp::Rule::Walk));
    /// assert_eq!(cpuhp::Rule::from_name("rule 11"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// One sentence: the rule in the project's words (the first of `docs/rules.md`'s).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cpuhp::Rule::RobustCall.summary().contains("nr_calls - 1"));
    /// ```
    pub const fn summary(self) -> &'static str {
        match self {
            Rule::ChainOrder => {
                "a chain calls higher priorities first, equal priorities in registration order"
            }
            Rule::ChainStop => "a walk stops at the first answer with the stop bit and returns it",
            Rule::RobustCall => {
                "when the up walk stops after nr_calls callbacks, the down event reaches exactly \
                 the nr_calls - 1 before the one that stopped it"
            }
            Rule::ChainRegistration => {
                "registering twice is EEXIST, a taken unique priority EBUSY, an unknown block \
                 ENOENT; an error leaves the chain unchanged"
            }
            Rule::LegacyUp => {
                "CPU_UP_PREPARE (may veto), CPU_STARTING (interrupts off, cannot fail), \
                 CPU_ONLINE; CPU_UP_CANCELED undoes a prepare"
            }
            Rule::LegacyDown => {
                "CPU_DOWN_PREPARE (may veto), CPU_DYING, CPU_DEAD, CPU_POST_DEAD; \
                 CPU_DOWN_FAILED undoes a down-prepare"
            }
            Rule::LegacyBridge => {
                "three bridge states call the legacy notifier chain from inside the walk"
            }
            Rule::Walk => {
                "a transition calls the startups in ascending state order, the teardowns \
                 descending"
            }
            Rule::StartupFailure => {
                "a failed startup gets no teardown; the states below it that ran are torn down, \
                 descending"
            }
            Rule::TeardownFailure => {
                "a failed teardown leaves its state and the ones below up; the states above it \
                 get their startup again, ascending"
            }
            Rule::RollbackFailure => {
                "a failure while undoing does not reverse again; it is reported and the CPU \
                 stays where it stopped"
            }
            Rule::MultiInstance => {
                "instances are called newest first; when one fails, the ones before it are \
                 undone and it is not"
            }
            Rule::Install => {
                "an install runs its startup on each CPU that reached the state, ascending; a \
                 failure undoes it on the CPUs before and nothing of it stays"
            }
            Rule::Remove => {
                "a removal runs its teardown on each CPU that reached the state; a failure \
                 brings the CPUs before back and the state stays"
            }
            Rule::InjectedFailure => {
                "an injected failure makes the next matching callback fail without being called"
            }
            Rule::CallbackPanic => {
                "a panicking callback has failed with EIO if it can fail; otherwise it is \
                 reported and the walk goes on"
            }
        }
    }

    /// The rule a callback call of a state transition runs under: [`Walk`](Rule::Walk), or, while
    /// the transition is undone (`rollback`), the failure rule being applied — a teardown undoes
    /// a failed bring-up ([`StartupFailure`](Rule::StartupFailure)), a startup a failed tear-down
    /// ([`TeardownFailure`](Rule::TeardownFailure)).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::Rule;
    /// assert_eq!(Rule::of_call(false, true), Rule::Walk);
    /// assert_eq!(Rule::of_call(true, true), Rule::TeardownFailure);
    /// ```
    pub const fn of_call(rollback: bool, bringup: bool) -> Rule {
        match (rollback, bringup) {
            (false, _) => Rule::Walk,
            (true, true) => Rule::TeardownFailure,
            (true, false) => Rule::StartupFailure,
        }
    }

    /// The rule that decides what follows a failed callback of a state transition: a startup's
    /// failure is undone by [`StartupFailure`](Rule::StartupFailure), a teardown's by
    /// [`TeardownFailure`](Rule::TeardownFailure), and a failure while undoing
    /// (`rollback`) is a [`RollbackFailure`](Rule::RollbackFailure).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::Rule;
    /// assert_eq!(Rule::of_failure(false, false), Rule::TeardownFailure);
    /// assert_eq!(Rule::of_failure(true, true), Rule::RollbackFailure);
    /// ```
    pub const fn of_failure(rollback: bool, bringup: bool) -> Rule {
        match (rollback, bringup) {
            (true, _) => Rule::RollbackFailure,
            (false, true) => Rule::StartupFailure,
            (false, false) => Rule::TeardownFailure,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of failure a failed callback call was: carried by a failing
/// [`TraceEvent::Exit`] and by [`Failure`](crate::Failure), decided where the failure happened.
///
/// # Examples
///
/// ```
/// use cpuhp::FailureKind;
/// assert_eq!(FailureKind::Veto.name(), "veto");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FailureKind {
    /// The callback returned an errno.
    Callback,
    /// The platform failed to boot, kick or stop the CPU (`bringup_cpu`, `cpuhp_kick_ap_alive`,
    /// `takedown_cpu`).
    Platform,
    /// An injected failure (`hotplug/fail`, or a [`Fault`](crate::Fault)): the callback was not
    /// called. (Injected at a platform step, it is a `Platform` failure: how a CPU that does not
    /// boot, is not kicked or does not stop is simulated; the trace's `Injected` event says it
    /// was injected.)
    Injected,
    /// A legacy CPU notifier vetoed, and the bridge state that called the chain failed with its
    /// errno.
    Veto,
    /// The callback panicked (with `std`): it failed with `EIO`.
    Panic,
    /// A step that drives other callbacks passes on their failure: `bringup_cpu` or
    /// `cpuhp_kick_ap_work` when a callback on the CPU's hotplug thread failed.
    Nested,
}

impl FailureKind {
    /// The name outputs use.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp::FailureKind::Nested.name(), "nested");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            FailureKind::Callback => "callback",
            FailureKind::Platform => "platform",
            FailureKind::Injected => "injected",
            FailureKind::Veto => "veto",
            FailureKind::Panic => "panic",
            FailureKind::Nested => "nested",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One trace event.
///
/// # Examples
///
/// ```
/// use cpuhp::{Context, CpuId, Rule, StateId, TraceEvent};
///
/// let ev = TraceEvent::Exit {
///     cpu: CpuId(1), state: StateId(211), step: StateId(211), bringup: true,
///     instance: None, result: Ok(()), context: Context::ApThread,
///     rollback: false, rule: Rule::Walk, failure: None,
/// };
/// assert_eq!(ev.to_string(), "cpuhp_exit: cpu: 0001 state: 211 step: 211 ret: 0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceEvent<'a> {
    /// About to call `symbol` for `step` on `cpu` (`cpuhp_enter`, or `cpuhp_multi_enter` when
    /// `instance` is set).
    Enter {
        /// The CPU the callback is for.
        cpu: CpuId,
        /// The CPU's target at the time.
        target: StateId,
        /// The state whose callback runs.
        step: StateId,
        /// The callback's symbol.
        symbol: &'a str,
        /// Startup (`true`) or teardown.
        bringup: bool,
        /// The instance, for a multi-instance state.
        instance: Option<InstanceId>,
        /// Where it runs.
        context: Context,
        /// The call undoes part of a failed operation.
        rollback: bool,
        /// The rule the call runs under ([`Rule::of_call`] for a state transition;
        /// [`Rule::Install`], [`Rule::Remove`] or [`Rule::MultiInstance`] otherwise).
        rule: Rule,
    },
    /// The callback returned (`cpuhp_exit`).
    Exit {
        /// The CPU the callback was for.
        cpu: CpuId,
        /// The CPU's state after the call.
        state: StateId,
        /// The state whose callback ran.
        step: StateId,
        /// Startup (`true`) or teardown.
        bringup: bool,
        /// The instance, for a multi-instance state.
        instance: Option<InstanceId>,
        /// What it returned.
        result: Result<(), Errno>,
        /// Where it ran.
        context: Context,
        /// The call undid part of a failed operation (as its `Enter` said).
        rollback: bool,
        /// Its `Enter`'s rule when it succeeded; when it failed, the rule that decides what
        /// follows ([`Rule::of_failure`] for a state transition).
        rule: Rule,
        /// What kind of failure it was (`None` when it succeeded).
        failure: Option<FailureKind>,
    },
    /// An injected failure fired: the callback for `step` on `cpu` failed with `errno` without
    /// being called (`hotplug/fail`: `EAGAIN`; or a [`Fault`](crate::Fault)).
    Injected {
        /// The CPU.
        cpu: CpuId,
        /// The state that failed.
        step: StateId,
        /// The direction.
        bringup: bool,
        /// The instance, for a multi-instance state.
        instance: Option<InstanceId>,
        /// The errno returned.
        errno: Errno,
        /// The failure hit a call that would have undone part of a failed operation.
        rollback: bool,
        /// The rule that decides what follows, as for a failing [`Exit`](TraceEvent::Exit).
        rule: Rule,
    },
    /// Linux would print a warning here.
    Warning {
        /// Which one.
        warning: Warning,
        /// The CPU it concerns.
        cpu: CpuId,
        /// Where it would be printed (`Control`: on the control CPU).
        context: Context,
    },
    /// The callback for `step` on `cpu` panicked (with `std`; the panic was caught where the
    /// callback was called). Comes between its `Enter` and `Exit`: a callback that can fail failed
    /// (its `Exit` says `EIO`), one that cannot counts as having returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use cpuhp::{preset, CpuId, Errno, Hotplug, Online, Platform, Slot, StateId, Topology, TraceEvent};
    ///
    /// #[derive(Default)]
    /// struct Log(Mutex<Vec<String>>);
    /// impl Platform for Log {
    ///     fn run_on_ap(&self, _: CpuId, work: &mut (dyn FnMut() + Send)) { work() }
    ///     fn start_cpu(&self, _: CpuId, f: &mut (dyn FnMut() + Send)) -> Result<(), Errno> { f(); Ok(()) }
    ///     fn stop_cpu(&self, _: CpuId, f: &mut (dyn FnMut() + Send)) -> Result<(), Errno> { f(); Ok(()) }
    ///     fn trace(&self, ev: &TraceEvent<'_>) {
    ///         if let TraceEvent::Panicked { step, message, .. } = ev {
    ///             self.0.lock().unwrap().push(format!("{step}: {message}"));
    ///         }
    ///     }
    /// }
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Log::default())?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| panic!("stuck")))?;
    /// assert!(hp.cpu_down(CpuId(1), StateId::OFFLINE).is_err()); // the CPU stays up
    /// assert_eq!(*hp.platform().0.lock().unwrap(), [format!("{s}: stuck")]);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    Panicked {
        /// The CPU the callback was for.
        cpu: CpuId,
        /// The state whose callback panicked.
        step: StateId,
        /// Startup (`true`) or teardown.
        bringup: bool,
        /// The instance, for a multi-instance state.
        instance: Option<InstanceId>,
        /// The panic's message (`"Box<dyn Any>"` for a payload that is not a string).
        message: &'a str,
        /// Where it ran.
        context: Context,
    },
    /// A deliberate difference from Linux happened here.
    Divergence {
        /// Which one.
        divergence: Divergence,
        /// The CPU it concerns.
        cpu: CpuId,
    },
}

/// What Linux's trace buffer holds for a `cpuhp_enter` event (`multi`: `cpuhp_multi_enter`): the
/// tracepoint's `TP_printk` text, numbers padded as `%3d`.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     cpuhp::ftrace_enter_text(1, 236, 91, "bringup_cpu", false),
///     "cpuhp_enter: cpu: 0001 target: 236 step:  91 (bringup_cpu)"
/// );
/// ```
pub fn ftrace_enter_text(cpu: u32, target: u32, step: u32, symbol: &str, multi: bool) -> String {
    let ev = if multi {
        "cpuhp_multi_enter"
    } else {
        "cpuhp_enter"
    };
    format!("{ev}: cpu: {cpu:04} target: {target:3} step: {step:3} ({symbol})")
}

/// What Linux's trace buffer holds for a `cpuhp_exit` event.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     cpuhp::ftrace_exit_text(1, 90, 91, -11),
///     "cpuhp_exit:  cpu: 0001  state:  90 step:  91 ret: -11"
/// );
/// ```
pub fn ftrace_exit_text(cpu: u32, state: u32, step: u32, ret: i32) -> String {
    format!("cpuhp_exit:  cpu: {cpu:04}  state: {state:3} step: {step:3} ret: {ret}")
}

fn ret(r: Result<(), Errno>) -> i32 {
    r.map_or_else(Errno::to_neg, |()| 0)
}

/// Linux's tracepoint text (`cpuhp_enter: cpu: 0001 target: 236 step: 91 (bringup_cpu)`) for
/// `Enter` and `Exit`; a short description for the others.
impl fmt::Display for TraceEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TraceEvent::Enter {
                cpu,
                target,
                step,
                symbol,
                instance,
                ..
            } => {
                let ev = if instance.is_some() {
                    "cpuhp_multi_enter"
                } else {
                    "cpuhp_enter"
                };
                write!(
                    f,
                    "{ev}: cpu: {:04} target: {target} step: {step} ({symbol})",
                    cpu.0
                )
            }
            TraceEvent::Exit {
                cpu,
                state,
                step,
                result,
                ..
            } => {
                write!(
                    f,
                    "cpuhp_exit: cpu: {:04} state: {state} step: {step} ret: {}",
                    cpu.0,
                    ret(result)
                )
            }
            TraceEvent::Injected {
                cpu,
                step,
                bringup,
                errno,
                ..
            } => {
                let dir = if bringup { "startup" } else { "teardown" };
                write!(
                    f,
                    "cpuhp_fail: cpu: {:04} step: {step} {dir} ret: {}",
                    cpu.0,
                    errno.to_neg()
                )
            }
            TraceEvent::Warning { warning, cpu, .. } => {
                write!(f, "WARNING: {} (CPU {cpu})", warning.linux_function())
            }
            TraceEvent::Panicked {
                cpu,
                step,
                bringup,
                message,
                ..
            } => {
                let dir = if bringup { "startup" } else { "teardown" };
                write!(f, "panic: cpu: {:04} step: {step} {dir}: {message}", cpu.0)
            }
            TraceEvent::Divergence { divergence, cpu } => {
                write!(f, "divergence on CPU {cpu}: {}", divergence.explain())
            }
        }
    }
}
