//! The bridge states: where the legacy chain is called from inside the state machine.

use alloc::vec::Vec;

use notifier::{Chain, RawChain};

use super::{CpuAction, CpuEvent};
use crate::core::Core;
use crate::{CpuId, Errno, Layout, Platform, StateId};

/// Where the three bridge states go.
///
/// # Examples
///
/// ```
/// use cpuhp::legacy::LegacySlots;
/// use cpuhp::preset::LINUX_6_1;
///
/// let s = LegacySlots::default_for(&LINUX_6_1.layout);
/// assert_eq!((s.prepare.get(), s.starting.get(), s.online.get()), (90, 151, 231));
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

impl LegacySlots {
    /// Where Linux 4.9 had them: the last PREPARE slot before bringing the CPU up (before the
    /// kick, if the layout has one), the last STARTING slot, and the top of the ONLINE dynamic
    /// range (so that states registered dynamically come up before the notifiers hear
    /// `CPU_ONLINE`, and go down after they heard `CPU_DOWN_PREPARE`).
    pub fn default_for(layout: &Layout) -> LegacySlots {
        let before_bringup = layout.bp_kick_ap.unwrap_or(layout.bringup_cpu);
        LegacySlots {
            prepare: StateId(before_bringup.0 - 1),
            starting: StateId(layout.ap_online.0 - 1),
            online: layout.online_dyn.1,
        }
    }
}

/// What a CPU's notifiers were last told, so that each teardown sends the event that undoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Told {
    /// Nothing since the CPU was last dead (or before notifiers were enabled).
    Nothing,
    /// `CPU_UP_PREPARE` went through; not yet `CPU_ONLINE`.
    Prepared,
    /// `CPU_ONLINE` (or `CPU_DOWN_FAILED`).
    Online,
    /// `CPU_DOWN_PREPARE` went through.
    DownPrepared,
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
                // Prepared but never online: the bring-up failed after every notifier said OK.
                let event = if told == Told::Prepared {
                    CpuEvent::UpCanceled
                } else {
                    CpuEvent::Dead
                };
                legacy.notify_all(event, frozen, cpu);
                legacy.told[c] = Told::Nothing;
            }
            (Bridge::Starting, true) => legacy.notify_all(CpuEvent::Starting, frozen, cpu),
            (Bridge::Starting, false) => legacy.notify_all(CpuEvent::Dying, frozen, cpu),
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
