//! The bridge states: where the legacy chain is called from inside the state machine.

use alloc::vec::Vec;

use notifier::{Chain, RawChain};

use super::{CpuAction, CpuEvent};
use crate::core::Core;
use crate::{CpuId, Errno, Platform, StateId};

/// Where the three bridge states go; [`Hotplug::default_legacy_slots`](crate::Hotplug::default_legacy_slots)
/// picks them where Linux 4.9 had them.
///
/// # Examples
///
/// ```
/// use cpuhp::legacy::LegacySlots;
/// use cpuhp::{preset, Hotplug, Inline, StateId, Topology};
///
/// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
/// let slots = LegacySlots { prepare: StateId(5), starting: StateId(59), online: StateId(65) };
/// hp.enable_cpu_notifiers(Some(slots))?;
/// assert_eq!(hp.state_name(StateId(65)), Some("notify:online"));
/// # Ok::<(), cpuhp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LegacySlots {
    /// `notify:prepare`, in the PREPARE section.
    pub prepare: StateId,
    /// `notify:starting`, in the STARTING section.
    pub starting: StateId,
    /// `notify:online`, in the ONLINE section.
    pub online: StateId,
}

/// What a CPU's notifiers were last told, so that each bridge sends the event that follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Told {
    /// Nothing since the CPU was last dead (or before notifiers were enabled).
    Nothing,
    /// `CPU_UP_PREPARE` went through.
    Prepared,
    /// `CPU_STARTING`, not yet `CPU_ONLINE`.
    Started,
    /// `CPU_ONLINE` (or `CPU_DOWN_FAILED`).
    Online,
    /// `CPU_DOWN_PREPARE` went through.
    DownPrepared,
    /// `CPU_DYING` of a CPU that had been told `CPU_ONLINE`.
    Dying,
    /// `CPU_DYING` of a CPU never told `CPU_ONLINE`: its bring-up is being canceled.
    DyingCanceled,
}

impl Told {
    /// What notifiers enabled while a CPU stands at `state` count as having heard.
    pub(crate) fn at(state: StateId, slots: LegacySlots) -> Told {
        if state >= slots.online {
            Told::Online
        } else if state >= slots.starting {
            Told::Started
        } else if state >= slots.prepare {
            Told::Prepared
        } else {
            Told::Nothing
        }
    }
}

/// The legacy chain and its per-CPU bookkeeping.
pub(crate) struct Legacy {
    pub(crate) chain: RawChain<CpuAction, CpuId>,
    pub(crate) slots: LegacySlots,
    pub(crate) told: Vec<Told>,
}

impl Legacy {
    pub(crate) fn new(slots: LegacySlots, nr_cpus: usize) -> Legacy {
        Legacy {
            chain: RawChain::new(),
            slots,
            told: alloc::vec![Told::Nothing; nr_cpus],
        }
    }

    /// Sends `event` to every notifier; the results are ignored (the event cannot fail).
    pub(crate) fn notify_all(&self, event: CpuEvent, frozen: bool, cpu: CpuId) {
        let _ = self
            .chain
            .call_bounded(CpuAction { event, frozen }, &cpu, usize::MAX);
    }

    /// Sends a PREPARE event; on a veto, sends `undo` to exactly the notifiers that said OK (the
    /// seed's `nr_calls--`) and returns the veto's errno. A bare `NOTIFY_STOP` is not a veto.
    pub(crate) fn prepare(
        &self,
        event: CpuEvent,
        undo: CpuEvent,
        frozen: bool,
        cpu: CpuId,
    ) -> Result<(), Errno> {
        let walk = self
            .chain
            .call_bounded(CpuAction { event, frozen }, &cpu, usize::MAX);
        let err = walk.result.to_errno();
        if err == 0 {
            return Ok(());
        }
        let _ = self.chain.call_bounded(
            CpuAction {
                event: undo,
                frozen,
            },
            &cpu,
            walk.nr_calls - 1,
        );
        Err(Errno::from_neg(err).unwrap_or(Errno::EINVAL))
    }
}

/// The bridge steps, run by the state machine as builtins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bridge {
    Prepare,
    Starting,
    Online,
}

impl Core {
    /// Runs a bridge state's callback for `cpu` (`bringup`: its startup).
    pub(crate) fn run_bridge<P: Platform>(
        &mut self,
        _p: &P,
        cpu: CpuId,
        bridge: Bridge,
        bringup: bool,
    ) -> Result<(), Errno> {
        let frozen = self.tasks_frozen;
        let rollback = self.cpus[cpu.index()].rollback;
        let Some(legacy) = &mut self.legacy else {
            return Ok(());
        };
        let c = cpu.index();
        let told = legacy.told[c];
        match (bridge, bringup) {
            (Bridge::Prepare, true) => {
                legacy.prepare(CpuEvent::UpPrepare, CpuEvent::UpCanceled, frozen, cpu)?;
                legacy.told[c] = Told::Prepared;
            }
            (Bridge::Prepare, false) => {
                // Never told CPU_ONLINE: the bring-up is canceled (it failed after every notifier
                // said OK, or the CPU goes back down from a partial target).
                let canceled = matches!(told, Told::Prepared | Told::Started | Told::DyingCanceled);
                let event = if canceled {
                    CpuEvent::UpCanceled
                } else {
                    CpuEvent::Dead
                };
                legacy.notify_all(event, frozen, cpu);
                legacy.told[c] = Told::Nothing;
            }
            (Bridge::Starting, true) => {
                legacy.notify_all(CpuEvent::Starting, frozen, cpu);
                legacy.told[c] = Told::Started;
            }
            (Bridge::Starting, false) => {
                legacy.notify_all(CpuEvent::Dying, frozen, cpu);
                legacy.told[c] = if told == Told::Started {
                    Told::DyingCanceled
                } else {
                    Told::Dying
                };
            }
            (Bridge::Online, true) => {
                // Undoing a failed tear-down: every notifier said OK to CPU_DOWN_PREPARE.
                let event = if told == Told::DownPrepared {
                    CpuEvent::DownFailed
                } else {
                    CpuEvent::Online
                };
                legacy.notify_all(event, frozen, cpu);
                legacy.told[c] = Told::Online;
            }
            (Bridge::Online, false) => {
                if rollback {
                    // Undoing a failed bring-up: the CPU goes down whatever the notifiers say
                    // (no second reversal); they hear the usual sequence.
                    let _ = legacy.chain.call_bounded(
                        CpuAction {
                            event: CpuEvent::DownPrepare,
                            frozen,
                        },
                        &cpu,
                        usize::MAX,
                    );
                } else {
                    legacy.prepare(CpuEvent::DownPrepare, CpuEvent::DownFailed, frozen, cpu)?;
                }
                legacy.told[c] = Told::DownPrepared;
            }
        }
        Ok(())
    }

    /// `CPU_POST_DEAD` for a CPU a tear-down just killed.
    pub(crate) fn post_dead(&self, cpu: CpuId, frozen: bool) {
        if let Some(legacy) = &self.legacy {
            legacy.notify_all(CpuEvent::PostDead, frozen, cpu);
        }
    }
}
