//! Errors of hotplug operations: the errno Linux would return, plus what failed where.

use alloc::sync::Arc;
use core::fmt;

use crate::{CpuId, Errno, InstanceId, StateId};

/// Why an operation failed. The errno is fixed per kind except for `Callback` and `Platform`,
/// which carry the callback's (or the platform's) own errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such CPU, or not possible/present (`EINVAL`).
    InvalidCpu,
    /// No such state, or not installed (`EINVAL`).
    InvalidState,
    /// A target outside the state space, or one a CPU cannot stop at (`EINVAL`).
    InvalidTarget,
    /// The callbacks are typed for another section than the slot (`EINVAL`).
    WrongSection,
    /// The slot is taken (`EBUSY`).
    SlotTaken,
    /// No free dynamic slot (`ENOSPC`).
    NoSpace,
    /// An instance operation on a state that is not multi-instance (`EINVAL`).
    NotMultiInstance,
    /// The instance's type is not the one the state's callbacks take (`EINVAL`).
    WrongInstanceType,
    /// No such instance on this state (`ENOENT`).
    UnknownInstance,
    /// Removing a multi-instance state that still has instances (`EBUSY`; Linux warns and
    /// removes it anyway).
    HasInstances,
    /// Taking down the last online CPU (`EBUSY`).
    LastCpu,
    /// Hotplug is disabled (`EBUSY`).
    Disabled,
    /// SMT control forbids this CPU (`EPERM`).
    SmtForbidden,
    /// A callback failed; `Error::failure` says which.
    Callback,
    /// The platform failed to start or stop the CPU.
    Platform,
    /// Called from inside a hotplug callback of the same machine, which would deadlock in Linux
    /// (`EDEADLK`).
    WouldDeadlock,
    /// The simulator's state machine was left mid-operation by a panic that did not come from a
    /// callback (a panicking [`Platform`](crate::Platform) or a bug in this crate): it is in an
    /// unknown state (`EIO`). Callback panics never cause it — they are caught where the callback
    /// is called (see [`Panicked`](Self::Panicked)).
    Poisoned,
    /// A callback panicked (`EIO`). Only with `std`: without it a panic unwinds through the
    /// operation, and the machine is left mid-walk.
    ///
    /// * A callback that can fail panicked: that is its failure, rolled back exactly like an
    ///   errno; [`Error::failure`] names the callback, [`Error::panic_message`] has the message.
    /// * A callback that cannot fail (a STARTING callback, a PREPARE or DYING teardown) panicked:
    ///   the walk went on as if it had returned, and the operation completed — the CPU is where
    ///   the operation took it. The error reports it: [`Error::failure`] is `None`,
    ///   [`Error::rollback_failure`] names the callback and
    ///   [`Error::rollback_panic_message`] has the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, ErrorKind, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state_nocalls(Slot::OnlineDyn, "buggy", Online::new().startup(|_| panic!("bad driver")))?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// let e = hp.cpu_up(CpuId(1), StateId(99)).unwrap_err();
    /// assert_eq!((e.kind(), e.errno(), e.panic_message()), (ErrorKind::Panicked, Errno::EIO, Some("bad driver")));
    /// assert_eq!(e.failure().map(|f| (f.state, f.cpu)), Some((s, CpuId(1))));
    /// assert_eq!(hp.cpu_status(CpuId(1)).map(|s| s.state), Some(StateId::OFFLINE)); // rolled back
    /// hp.remove_state_nocalls(s)?;
    /// hp.cpu_up(CpuId(1), StateId(99))?; // and the machine goes on
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    Panicked,
    /// The CPU notifier is already registered (`EEXIST`).
    AlreadyRegistered,
    /// The CPU notifier is not registered (`ENOENT`).
    NotRegistered,
    /// The legacy CPU-notifier API is not enabled on this machine, or enabled twice (`EINVAL`).
    CpuNotifiers,
    /// `cpu_hotplug_enable` without a matching `cpu_hotplug_disable` (`EINVAL`; Linux warns).
    Unbalanced,
    /// `thaw_secondary_cpus` without a freeze (`EINVAL`).
    NotFrozen,
    /// A wakeup event is pending: the freeze is aborted (`EBUSY`).
    WakeupPending,
    /// A freeze while the secondary CPUs are frozen, or being frozen (`EBUSY`).
    AlreadyFrozen,
    /// SMT control was forced off; it cannot change any more (`EPERM`).
    SmtForcedOff,
    /// The machine has no SMT (`ENODEV`).
    SmtNotSupported,
}

impl ErrorKind {
    /// Every kind, for tools that render a kind recorded by name (its `Debug` form).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::ErrorKind;
    ///
    /// let named = ErrorKind::ALL.iter().find(|k| format!("{k:?}") == "LastCpu");
    /// assert_eq!(named, Some(&ErrorKind::LastCpu));
    /// ```
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::InvalidCpu,
        ErrorKind::InvalidState,
        ErrorKind::InvalidTarget,
        ErrorKind::WrongSection,
        ErrorKind::SlotTaken,
        ErrorKind::NoSpace,
        ErrorKind::NotMultiInstance,
        ErrorKind::WrongInstanceType,
        ErrorKind::UnknownInstance,
        ErrorKind::HasInstances,
        ErrorKind::LastCpu,
        ErrorKind::Disabled,
        ErrorKind::SmtForbidden,
        ErrorKind::Callback,
        ErrorKind::Platform,
        ErrorKind::WouldDeadlock,
        ErrorKind::Poisoned,
        ErrorKind::Panicked,
        ErrorKind::AlreadyRegistered,
        ErrorKind::NotRegistered,
        ErrorKind::CpuNotifiers,
        ErrorKind::Unbalanced,
        ErrorKind::NotFrozen,
        ErrorKind::WakeupPending,
        ErrorKind::AlreadyFrozen,
        ErrorKind::SmtForcedOff,
        ErrorKind::SmtNotSupported,
    ];

    /// What went wrong, in words (for messages; the variant names are for code).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::ErrorKind;
    ///
    /// assert_eq!(ErrorKind::SmtNotSupported.describe(), "the machine has no SMT");
    /// assert_eq!(ErrorKind::LastCpu.to_string(), "the last online CPU cannot go");
    /// ```
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidCpu => "no such CPU",
            ErrorKind::InvalidState => "no such state",
            ErrorKind::InvalidTarget => "no such target state",
            ErrorKind::WrongSection => "the callbacks are for another section than the slot",
            ErrorKind::SlotTaken => "the slot is taken",
            ErrorKind::NoSpace => "no free dynamic slot",
            ErrorKind::NotMultiInstance => "the state is not multi-instance",
            ErrorKind::WrongInstanceType => "the instance is not of the type the callbacks take",
            ErrorKind::UnknownInstance => "no such instance",
            ErrorKind::HasInstances => "the state still has instances",
            ErrorKind::LastCpu => "the last online CPU cannot go",
            ErrorKind::Disabled => "hotplug is disabled",
            ErrorKind::SmtForbidden => "SMT is off: a secondary thread may not come up",
            ErrorKind::Callback => "a callback failed",
            ErrorKind::Platform => "the CPU did not start or stop",
            ErrorKind::WouldDeadlock => "called from inside the machine's own operation",
            ErrorKind::Poisoned => "the machine was left mid-operation by a panic",
            ErrorKind::Panicked => "a callback panicked",
            ErrorKind::AlreadyRegistered => "already registered",
            ErrorKind::NotRegistered => "not registered",
            ErrorKind::CpuNotifiers => "the CPU-notifier API is not enabled, or enabled twice",
            ErrorKind::Unbalanced => "more enables than disables",
            ErrorKind::NotFrozen => "nothing to thaw",
            ErrorKind::WakeupPending => "a wakeup is pending: the freeze is aborted",
            ErrorKind::AlreadyFrozen => "already frozen",
            ErrorKind::SmtForcedOff => "SMT was forced off for good",
            ErrorKind::SmtNotSupported => "the machine has no SMT",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One failed callback: which state, for which CPU and instance, in which direction. A callback
/// that panicked is recorded with `errno` `EIO` (its message is in the [`Error`]).
///
/// # Examples
///
/// ```
/// use cpuhp::{CpuId, Errno, Failure, FailureKind, StateId};
///
/// let f = Failure {
///     cpu: CpuId(1), state: StateId(212), instance: None, bringup: true, errno: Errno::EINVAL,
///     kind: FailureKind::Callback,
/// };
/// assert_eq!(f.to_string(), "startup of state 212 on CPU 1 failed: EINVAL");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Failure {
    /// The CPU the callback was for.
    pub cpu: CpuId,
    /// The state.
    pub state: StateId,
    /// The instance, for a multi-instance state.
    pub instance: Option<InstanceId>,
    /// Startup (`true`) or teardown.
    pub bringup: bool,
    /// What it returned.
    pub errno: Errno,
    /// What kind of failure it was (decided where it happened).
    pub kind: crate::FailureKind,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = if self.bringup { "startup" } else { "teardown" };
        write!(f, "{dir} of state {}", self.state)?;
        if let Some(i) = self.instance {
            write!(f, " instance {i}")?;
        }
        write!(f, " on CPU {} failed: {}", self.cpu, self.errno)
    }
}

/// A failed hotplug operation: the errno Linux returns, what failed, and — if undoing the
/// operation failed too — what failed then (no second reversal; reported). When a callback
/// panicked, the panic's message too ([`panic_message`](Self::panic_message),
/// [`rollback_panic_message`](Self::rollback_panic_message)).
///
/// # Examples
///
/// ```
/// use cpuhp::{Error, ErrorKind, Errno};
///
/// let e = Error::new(ErrorKind::LastCpu);
/// assert_eq!(e.errno(), Errno::EBUSY);
/// assert_eq!(e.kind(), ErrorKind::LastCpu);
/// assert!(e.failure().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Error {
    kind: ErrorKind,
    errno: Errno,
    failure: Option<Failure>,
    rollback_failure: Option<Failure>,
    /// The message of the panic that was `failure`, if it was one (shared: errors are cloned).
    panic: Option<Arc<str>>,
    /// The message of the panic that was `rollback_failure`, if it was one.
    rollback_panic: Option<Arc<str>>,
}

impl Error {
    /// An error of `kind` with that kind's errno.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{Errno, Error, ErrorKind};
    ///
    /// let e = Error::new(ErrorKind::NoSpace);
    /// assert_eq!(e.errno(), Errno::ENOSPC);
    /// assert_eq!(e.to_string(), "no free dynamic slot (ENOSPC)");
    /// assert!(e.failure().is_none() && e.rollback_failure().is_none());
    /// ```
    pub fn new(kind: ErrorKind) -> Error {
        let errno = match kind {
            ErrorKind::InvalidCpu
            | ErrorKind::InvalidState
            | ErrorKind::InvalidTarget
            | ErrorKind::WrongSection
            | ErrorKind::NotMultiInstance
            | ErrorKind::WrongInstanceType
            | ErrorKind::Callback
            | ErrorKind::Platform => Errno::EINVAL,
            ErrorKind::SlotTaken
            | ErrorKind::HasInstances
            | ErrorKind::LastCpu
            | ErrorKind::Disabled
            | ErrorKind::WakeupPending
            | ErrorKind::AlreadyFrozen => Errno::EBUSY,
            ErrorKind::AlreadyRegistered => Errno::EEXIST,
            ErrorKind::NotRegistered => Errno::ENOENT,
            ErrorKind::CpuNotifiers | ErrorKind::Unbalanced | ErrorKind::NotFrozen => Errno::EINVAL,
            ErrorKind::SmtForcedOff => Errno::EPERM,
            ErrorKind::SmtNotSupported => Errno::ENODEV,
            ErrorKind::NoSpace => Errno::ENOSPC,
            ErrorKind::UnknownInstance => Errno::ENOENT,
            ErrorKind::SmtForbidden => Errno::EPERM,
            ErrorKind::WouldDeadlock => Errno::EDEADLK,
            // A panic has no errno of its own: EIO, "something went wrong in there".
            ErrorKind::Poisoned | ErrorKind::Panicked => Errno::EIO,
        };
        Error {
            kind,
            errno,
            failure: None,
            rollback_failure: None,
            panic: None,
            rollback_panic: None,
        }
    }

    pub(crate) fn with_errno(kind: ErrorKind, errno: Errno) -> Error {
        Error {
            errno,
            ..Error::new(kind)
        }
    }

    /// Adds what an operation's report recorded: the failures and, for panics, their messages. A
    /// callback failure whose callback panicked becomes [`ErrorKind::Panicked`].
    pub(crate) fn with_report(mut self, report: crate::engine::core::Report) -> Error {
        self.failure = report.failed;
        self.rollback_failure = report.rollback_failed;
        if report.failed_panic().is_some() && self.kind == ErrorKind::Callback {
            self.kind = ErrorKind::Panicked;
        }
        self.panic = report.failed_panic().cloned();
        self.rollback_panic = report.rollback_panic().cloned();
        self
    }

    /// What kind of failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, ErrorKind, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(1), Inline)?;
    /// let e = hp.cpu_down(CpuId(0), StateId::OFFLINE).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::LastCpu);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno Linux returns for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Errno, ErrorKind, Hotplug, Inline, Online, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let cbs = Online::new().startup(|_| Err(Errno::ENOMEM));
    /// let e = hp.setup_state(Slot::OnlineDyn, "x", cbs).unwrap_err();
    /// // A failed callback's own errno, not the kind's usual one.
    /// assert_eq!((e.kind(), e.errno()), (ErrorKind::Callback, Errno::ENOMEM));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// The callback that failed first, if a callback failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Failure, FailureKind, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let cbs = Online::new().startup(|cpu: CpuId| if cpu.0 == 1 { Err(Errno::EIO) } else { Ok(()) });
    /// let e = hp.setup_state(Slot::OnlineDyn, "x", cbs).unwrap_err();
    /// let expected = Failure {
    ///     cpu: CpuId(1), state: StateId(70), instance: None, bringup: true, errno: Errno::EIO,
    ///     kind: FailureKind::Callback,
    /// };
    /// assert_eq!(e.failure(), Some(expected));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    /// The message of the panic that was the failure ([`ErrorKind::Panicked`]): the panic's
    /// `&str` or `String` payload, or `"Box<dyn Any>"` for any other payload.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, ErrorKind, Hotplug, Inline, Online, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let cbs = Online::new().startup(|cpu: CpuId| if cpu.0 == 1 { panic!("no buffer for CPU {cpu}") } else { Ok(()) });
    /// let e = hp.setup_state(Slot::OnlineDyn, "x", cbs).unwrap_err(); // undone on CPU 0
    /// assert_eq!(e.kind(), ErrorKind::Panicked);
    /// assert_eq!(e.panic_message(), Some("no buffer for CPU 1"));
    /// assert_eq!(e.to_string(), "startup of state 70 on CPU 1 failed: EIO (panicked: no buffer for CPU 1)");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        self.panic.as_deref()
    }

    /// The message of the panic that was the [`rollback_failure`](Self::rollback_failure): a
    /// callback panicked while the operation was being undone, or a callback that cannot fail
    /// (a STARTING callback, a PREPARE teardown) panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, ErrorKind, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// let a = hp.setup_state(Slot::OnlineDyn, "a", Online::new().teardown(|_| panic!("cannot undo")))?;
    /// let b = hp.setup_state(Slot::OnlineDyn, "b", Online::new().startup(|_| Ok(())))?;
    /// hp.inject(Fault::startup(b, Errno::ENOMEM)); // b fails going up; undoing a panics
    /// let e = hp.cpu_up(CpuId(1), StateId(99)).unwrap_err();
    /// assert_eq!((e.kind(), e.errno()), (ErrorKind::Callback, Errno::ENOMEM));
    /// assert_eq!(e.rollback_failure().map(|f| (f.state, f.errno)), Some((a, Errno::EIO)));
    /// assert_eq!(e.rollback_panic_message(), Some("cannot undo"));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn rollback_panic_message(&self) -> Option<&str> {
        self.rollback_panic.as_deref()
    }

    /// A callback that failed while undoing the operation: the machine is not where it started
    /// (Linux warns here).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let cbs = || Online::new().startup(|_| Ok(())).teardown(|_| Ok(()));
    /// let (a, b) = (hp.setup_state(Slot::OnlineDyn, "a", cbs())?, hp.setup_state(Slot::OnlineDyn, "b", cbs())?);
    /// hp.inject(Fault::teardown(a, Errno::EBUSY)); // going down: b's teardown runs, a's fails…
    /// hp.inject(Fault::startup(b, Errno::ENOMEM)); // …and undoing b's fails too
    /// let e = hp.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err();
    /// assert_eq!(e.failure().map(|f| f.state), Some(a));
    /// assert_eq!(e.rollback_failure().map(|f| (f.state, f.errno)), Some((b, Errno::ENOMEM)));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn rollback_failure(&self) -> Option<Failure> {
        self.rollback_failure
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failure {
            Some(failure) => write!(f, "{failure}")?,
            None => write!(f, "{} ({})", self.kind, self.errno)?,
        }
        if let Some(m) = &self.panic {
            write!(f, " (panicked: {m})")?;
        }
        if let Some(r) = self.rollback_failure {
            write!(f, "; rolling back, {r}")?;
            if let Some(m) = &self.rollback_panic {
                write!(f, " (panicked: {m})")?;
            }
        }
        Ok(())
    }
}

impl core::error::Error for Error {}

impl From<Error> for Errno {
    fn from(e: Error) -> Errno {
        e.errno
    }
}
