//! The legacy CPU-notifier events, typed, with Linux's numeric values.

use core::fmt;

/// A CPU hotplug event of the legacy notifier API (`include/linux/cpu.h`, 2.6.22–4.9).
///
/// # Examples
///
/// ```
/// use cpuhp::legacy::CpuEvent;
///
/// assert_eq!(CpuEvent::UpPrepare.raw(), 0x3);
/// assert_eq!(CpuEvent::from_raw(0xA), Some(CpuEvent::Starting));
/// assert_eq!(CpuEvent::UpCanceled.to_string(), "CPU_UP_CANCELED");
/// assert!(CpuEvent::DownPrepare.can_veto());
/// assert!(!CpuEvent::Dying.can_veto());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuEvent {
    /// `CPU_ONLINE` (0x2): the CPU is up.
    Online,
    /// `CPU_UP_PREPARE` (0x3): the CPU is about to come up; may veto.
    UpPrepare,
    /// `CPU_UP_CANCELED` (0x4): bringing the CPU up failed after `CPU_UP_PREPARE` said OK.
    UpCanceled,
    /// `CPU_DOWN_PREPARE` (0x5): the CPU is about to go down; may veto.
    DownPrepare,
    /// `CPU_DOWN_FAILED` (0x6): taking the CPU down failed after `CPU_DOWN_PREPARE` said OK.
    DownFailed,
    /// `CPU_DEAD` (0x7): the CPU is dead.
    Dead,
    /// `CPU_DYING` (0x8): on the dying CPU, interrupts off.
    Dying,
    /// `CPU_POST_DEAD` (0x9): after the hotplug lock is released, once the CPU is dead.
    PostDead,
    /// `CPU_STARTING` (0xA): on the starting CPU, interrupts off.
    Starting,
}

impl CpuEvent {
    /// Every event.
    pub const ALL: [CpuEvent; 9] = [
        CpuEvent::Online,
        CpuEvent::UpPrepare,
        CpuEvent::UpCanceled,
        CpuEvent::DownPrepare,
        CpuEvent::DownFailed,
        CpuEvent::Dead,
        CpuEvent::Dying,
        CpuEvent::PostDead,
        CpuEvent::Starting,
    ];

    /// Linux's value (`CPU_ONLINE` is `0x0002` … `CPU_STARTING` `0x000A`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::CpuEvent;
    ///
    /// assert_eq!(CpuEvent::Online.raw(), 0x2);
    /// assert_eq!(CpuEvent::Starting.raw(), 0xA);
    /// assert!(CpuEvent::ALL.iter().all(|&e| CpuEvent::from_raw(e.raw()) == Some(e)));
    /// ```
    pub const fn raw(self) -> u64 {
        match self {
            CpuEvent::Online => 0x2,
            CpuEvent::UpPrepare => 0x3,
            CpuEvent::UpCanceled => 0x4,
            CpuEvent::DownPrepare => 0x5,
            CpuEvent::DownFailed => 0x6,
            CpuEvent::Dead => 0x7,
            CpuEvent::Dying => 0x8,
            CpuEvent::PostDead => 0x9,
            CpuEvent::Starting => 0xA,
        }
    }

    /// The event with Linux's value `raw` (without `CPU_TASKS_FROZEN`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::{CpuEvent, CPU_TASKS_FROZEN};
    ///
    /// assert_eq!(CpuEvent::from_raw(0x7), Some(CpuEvent::Dead));
    /// assert_eq!(CpuEvent::from_raw(0x1), None);
    /// assert_eq!(CpuEvent::from_raw(0x7 | CPU_TASKS_FROZEN), None); // see `CpuAction::from_raw`
    /// ```
    pub const fn from_raw(raw: u64) -> Option<CpuEvent> {
        Some(match raw {
            0x2 => CpuEvent::Online,
            0x3 => CpuEvent::UpPrepare,
            0x4 => CpuEvent::UpCanceled,
            0x5 => CpuEvent::DownPrepare,
            0x6 => CpuEvent::DownFailed,
            0x7 => CpuEvent::Dead,
            0x8 => CpuEvent::Dying,
            0x9 => CpuEvent::PostDead,
            0xA => CpuEvent::Starting,
            _ => return None,
        })
    }

    /// Whether a notifier may refuse this event: only the two PREPARE events.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::CpuEvent;
    ///
    /// let vetoable: Vec<CpuEvent> = CpuEvent::ALL.into_iter().filter(|e| e.can_veto()).collect();
    /// assert_eq!(vetoable, [CpuEvent::UpPrepare, CpuEvent::DownPrepare]);
    /// ```
    pub const fn can_veto(self) -> bool {
        matches!(self, CpuEvent::UpPrepare | CpuEvent::DownPrepare)
    }

    /// Linux's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::CpuEvent;
    ///
    /// assert_eq!(CpuEvent::PostDead.name(), "CPU_POST_DEAD");
    /// assert_eq!(CpuEvent::Dying.to_string(), CpuEvent::Dying.name());
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            CpuEvent::Online => "CPU_ONLINE",
            CpuEvent::UpPrepare => "CPU_UP_PREPARE",
            CpuEvent::UpCanceled => "CPU_UP_CANCELED",
            CpuEvent::DownPrepare => "CPU_DOWN_PREPARE",
            CpuEvent::DownFailed => "CPU_DOWN_FAILED",
            CpuEvent::Dead => "CPU_DEAD",
            CpuEvent::Dying => "CPU_DYING",
            CpuEvent::PostDead => "CPU_POST_DEAD",
            CpuEvent::Starting => "CPU_STARTING",
        }
    }
}

impl fmt::Display for CpuEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `CPU_TASKS_FROZEN` (0x10): the event happens during suspend or resume, with tasks frozen.
pub const CPU_TASKS_FROZEN: u64 = 0x10;

/// What the legacy chain delivers: an event, and whether tasks are frozen (the `_FROZEN`
/// variants: `CPU_UP_PREPARE_FROZEN` is `CPU_UP_PREPARE | CPU_TASKS_FROZEN`).
///
/// # Examples
///
/// ```
/// use cpuhp::legacy::{CpuAction, CpuEvent};
///
/// let a = CpuAction::frozen(CpuEvent::DownPrepare);
/// assert_eq!(a.raw(), 0x15);
/// assert_eq!(CpuAction::from_raw(0x15), Some(a));
/// assert_eq!(a.to_string(), "CPU_DOWN_PREPARE_FROZEN");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpuAction {
    /// The event.
    pub event: CpuEvent,
    /// Tasks are frozen (suspend/resume).
    pub frozen: bool,
}

impl CpuAction {
    /// `event`, tasks not frozen.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::{CpuAction, CpuEvent};
    ///
    /// let a = CpuAction::new(CpuEvent::Online);
    /// assert!(!a.frozen);
    /// assert_eq!(a.raw(), 0x2);
    /// assert_eq!(a.to_string(), "CPU_ONLINE");
    /// ```
    pub const fn new(event: CpuEvent) -> CpuAction {
        CpuAction {
            event,
            frozen: false,
        }
    }

    /// `event`, with tasks frozen.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::{CpuAction, CpuEvent, CPU_TASKS_FROZEN};
    ///
    /// let a = CpuAction::frozen(CpuEvent::UpPrepare);
    /// assert!(a.frozen);
    /// assert_eq!(a.raw(), CpuEvent::UpPrepare.raw() | CPU_TASKS_FROZEN);
    /// assert_eq!(a.to_string(), "CPU_UP_PREPARE_FROZEN");
    /// ```
    pub const fn frozen(event: CpuEvent) -> CpuAction {
        CpuAction {
            event,
            frozen: true,
        }
    }

    /// Linux's value: the event, or'ed with `CPU_TASKS_FROZEN`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::{CpuAction, CpuEvent};
    ///
    /// assert_eq!(CpuAction::new(CpuEvent::Dead).raw(), 0x7);
    /// assert_eq!(CpuAction::frozen(CpuEvent::Dead).raw(), 0x17); // CPU_DEAD_FROZEN
    /// ```
    pub const fn raw(self) -> u64 {
        self.event.raw() | if self.frozen { CPU_TASKS_FROZEN } else { 0 }
    }

    /// The action with Linux's value `raw`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::{CpuAction, CpuEvent};
    ///
    /// assert_eq!(CpuAction::from_raw(0x12), Some(CpuAction::frozen(CpuEvent::Online)));
    /// assert_eq!(CpuAction::from_raw(0x3), Some(CpuAction::new(CpuEvent::UpPrepare)));
    /// assert_eq!(CpuAction::from_raw(0x10), None); // the frozen bit alone
    /// ```
    pub const fn from_raw(raw: u64) -> Option<CpuAction> {
        match CpuEvent::from_raw(raw & !CPU_TASKS_FROZEN) {
            Some(event) => Some(CpuAction {
                event,
                frozen: raw & CPU_TASKS_FROZEN != 0,
            }),
            None => None,
        }
    }
}

impl fmt::Display for CpuAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.event.name())?;
        if self.frozen {
            f.write_str("_FROZEN")?;
        }
        Ok(())
    }
}
