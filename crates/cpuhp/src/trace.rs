//! Trace events: one `Enter` and one `Exit` per callback, plus warnings and the points where
//! this implementation deliberately differs from Linux.
//!
//! The events carry what Linux's `cpuhp_enter` / `cpuhp_multi_enter` / `cpuhp_exit` tracepoints
//! carry (CPU, target, step, function, result, the CPU's state after the call) and what they do
//! not: the direction, the instance and the context the callback ran in. They are plain data,
//! usable without std; the [`Platform`](crate::Platform) receives them.

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
            Warning::TeardownFailedOnRemove => "cpuhp_issue_call",
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
    /// rollback continues (ARCHITECTURE.md, rollback rule 4).
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
                 we return it and roll the state back (rollback rule 4, multi-instance)"
            }
        }
    }
}

/// One trace event.
///
/// # Examples
///
/// ```
/// use cpuhp::{Context, CpuId, StateId, TraceEvent};
///
/// let ev = TraceEvent::Exit {
///     cpu: CpuId(1), state: StateId(211), step: StateId(211), bringup: true,
///     instance: None, result: Ok(()), context: Context::ApThread,
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
