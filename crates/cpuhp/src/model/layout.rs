//! The shape of the state space: where each section begins and ends.
//!
//! Linux orders every hotplug step on one number line (`enum cpuhp_state`) and gives a handful of
//! positions special meaning. A [`Layout`] names those positions for one machine; a preset (for
//! example "Linux 6.1 x86_64") supplies the numbers, so that state numbers and dynamic slots come
//! out as on that kernel.
//!
//! ```text
//!  OFFLINE ─ PREPARE section ─ BRINGUP_CPU │ IDLE_DEAD  AP_OFFLINE ─ STARTING ─ AP_ONLINE │
//!    0        control CPU;       (boots     │ (the dying CPU       on the new CPU,          │
//!             startup may fail,  the CPU)   │  parks here)          interrupts off,          │
//!             teardown may not              │                       neither may fail         │
//!  TEARDOWN_CPU  AP_ONLINE_IDLE ─ ONLINE section ───────────────────────────────── ONLINE
//!  (kills the    (the CPU        on the CPU's hotplug thread; both may fail
//!   CPU)          reports here)
//! ```

use crate::StateId;

/// The three sections of the state space (ARCHITECTURE.md, "The state machine").
///
/// # Examples
///
/// ```
/// use cpuhp::{preset, Section, StateId};
///
/// let layout = preset::LINUX_6_1.layout;
/// assert_eq!(layout.section(StateId(71)), Some(Section::Prepare));
/// assert_eq!(layout.section(StateId(94)), Some(Section::Starting));
/// assert_eq!(layout.section(StateId(211)), Some(Section::Online));
/// assert_eq!(layout.section(StateId(153)), None); // cpu:teardown, the core's own
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Section {
    /// Run on the control CPU for the CPU going up or down; startup may fail, teardown may not.
    Prepare,
    /// Run on the CPU itself with interrupts off; neither direction may fail.
    Starting,
    /// Run on the CPU's hotplug thread; both directions may fail.
    Online,
}

impl core::fmt::Display for Section {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Section::Prepare => "PREPARE",
            Section::Starting => "STARTING",
            Section::Online => "ONLINE",
        })
    }
}

/// The special positions of a state space. Invariant (checked by [`Layout::validate`]):
/// `0 < bringup_cpu < ap_idle_dead < ap_offline < ap_online < teardown_cpu < ap_online_idle <
/// online`, and the dynamic ranges lie inside their sections.
///
/// # Examples
///
/// ```
/// use cpuhp::preset;
///
/// let l = preset::LINUX_6_1.layout;
/// assert_eq!((l.bringup_cpu.get(), l.teardown_cpu.get(), l.online.get()), (91, 153, 236));
/// assert!(l.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// `CPUHP_BP_KICK_AP` (Linux 6.5's split startup, `None` before): a PREPARE state whose
    /// startup starts the CPU booting without waiting, so that many CPUs boot in parallel.
    pub bp_kick_ap: Option<StateId>,
    /// `CPUHP_BRINGUP_CPU`: the last PREPARE state; its startup boots the CPU (or, after a kick,
    /// waits for it).
    pub bringup_cpu: StateId,
    /// `CPUHP_AP_IDLE_DEAD`: where a dying CPU ends up once it has run its DYING callbacks.
    pub ap_idle_dead: StateId,
    /// `CPUHP_AP_OFFLINE`: the lower end of the STARTING section.
    pub ap_offline: StateId,
    /// `CPUHP_AP_ONLINE`: the upper end of the STARTING section.
    pub ap_online: StateId,
    /// `CPUHP_TEARDOWN_CPU`: its teardown, run by the control CPU, stops the CPU.
    pub teardown_cpu: StateId,
    /// `CPUHP_AP_ONLINE_IDLE`: where a booted CPU reports itself; the ONLINE section starts above.
    pub ap_online_idle: StateId,
    /// `CPUHP_AP_ACTIVE`: its startup marks the CPU active, its teardown inactive.
    pub ap_active: StateId,
    /// `CPUHP_ONLINE`: the top; a CPU here is fully up.
    pub online: StateId,
    /// `CPUHP_BP_PREPARE_DYN ..= CPUHP_BP_PREPARE_DYN_END`: slots handed out to PREPARE states.
    pub prepare_dyn: (StateId, StateId),
    /// `CPUHP_AP_ONLINE_DYN ..= CPUHP_AP_ONLINE_DYN_END`: slots handed out to ONLINE states.
    pub online_dyn: (StateId, StateId),
}

/// A [`Layout`] whose positions are out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutError(pub &'static str);

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid state layout: {}", self.0)
    }
}

impl core::error::Error for LayoutError {}

impl Layout {
    /// Checks the ordering invariant.
    ///
    /// # Errors
    ///
    /// [`LayoutError`] naming the first position out of order.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, LayoutError, StateId};
    ///
    /// assert_eq!(preset::DEMO.layout.validate(), Ok(()));
    /// let mut bad = preset::DEMO.layout;
    /// bad.online = StateId(50); // below ap_active (98)
    /// assert_eq!(bad.validate(), Err(LayoutError("online")));
    /// assert_eq!(bad.validate().unwrap_err().to_string(), "invalid state layout: online");
    /// ```
    pub fn validate(&self) -> Result<(), LayoutError> {
        let order = [
            (StateId::OFFLINE, "offline"),
            (self.bringup_cpu, "bringup_cpu"),
            (self.ap_idle_dead, "ap_idle_dead"),
            (self.ap_offline, "ap_offline"),
            (self.ap_online, "ap_online"),
            (self.teardown_cpu, "teardown_cpu"),
            (self.ap_online_idle, "ap_online_idle"),
            (self.ap_active, "ap_active"),
            (self.online, "online"),
        ];
        for w in order.windows(2) {
            if w[0].0 >= w[1].0 {
                return Err(LayoutError(w[1].1));
            }
        }
        if let Some(k) = self.bp_kick_ap {
            if !(StateId::OFFLINE < k && k < self.bringup_cpu) {
                return Err(LayoutError(
                    "bp_kick_ap must lie inside the PREPARE section",
                ));
            }
            // Linux: BP_PREPARE_DYN_END < BP_KICK_AP < BRINGUP_CPU.
            if self.prepare_dyn.1 >= k {
                return Err(LayoutError("prepare_dyn must lie below bp_kick_ap"));
            }
        }
        let (pl, ph) = self.prepare_dyn;
        if !(StateId::OFFLINE < pl && pl <= ph && ph < self.bringup_cpu) {
            return Err(LayoutError(
                "prepare_dyn must lie inside the PREPARE section",
            ));
        }
        let (ol, oh) = self.online_dyn;
        if !(self.ap_online_idle < ol && ol <= oh && oh < self.ap_active) {
            return Err(LayoutError("online_dyn must lie inside the ONLINE section"));
        }
        Ok(())
    }

    /// The section a state belongs to; `None` for the core's own positions (offline,
    /// `teardown_cpu`, `ap_online_idle`, and everything outside `0..=online`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Section, StateId};
    ///
    /// let l = preset::DEMO.layout;
    /// assert_eq!(l.section(StateId(10)), Some(Section::Prepare));
    /// assert_eq!(l.section(StateId(40)), Some(Section::Starting));
    /// assert_eq!(l.section(StateId(70)), Some(Section::Online));
    /// assert_eq!(l.section(StateId(61)), None); // cpu:teardown, the core's own
    /// ```
    pub fn section(&self, s: StateId) -> Option<Section> {
        if s > StateId::OFFLINE && s <= self.bringup_cpu {
            Some(Section::Prepare)
        } else if self.is_atomic(s) || s == self.ap_online {
            Some(Section::Starting)
        } else if s > self.ap_online_idle && s <= self.online {
            Some(Section::Online)
        } else {
            None
        }
    }

    /// Linux's `cpuhp_is_ap_state`: run by (or on) the CPU itself, not by the control CPU.
    pub(crate) fn is_ap_state(&self, s: StateId) -> bool {
        s > self.bringup_cpu && s != self.teardown_cpu
    }

    /// Linux's `cpuhp_is_atomic_state`: the former STARTING/DYING states, run with interrupts off.
    pub(crate) fn is_atomic(&self, s: StateId) -> bool {
        self.ap_idle_dead <= s && s < self.ap_online
    }

    /// The dynamic range for a section, if it has one.
    pub(crate) fn dyn_range(&self, section: Section) -> Option<(StateId, StateId)> {
        match section {
            Section::Prepare => Some(self.prepare_dyn),
            Section::Online => Some(self.online_dyn),
            Section::Starting => None,
        }
    }
}
