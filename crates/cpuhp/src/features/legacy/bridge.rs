//! The bridge states: where the legacy chain is called from inside the state machine.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use notifier::{Chain, Notifier, NotifierBlock, NotifyResult, RawChain};

use super::{CpuAction, CpuEvent};
use crate::engine::core::Core;
use crate::engine::walk::{Site, guarded};
use crate::{Context, CpuId, Errno, Platform, StateId};

type NotifyFn = dyn Fn(CpuAction, &CpuId) -> NotifyResult + Send + Sync;

/// A CPU notifier to register: a `&'static` [`NotifierBlock`] or an `Arc`'d one, as for any
/// notifier chain. Built by `From`, so the registering methods take either directly.
///
/// The legacy chain calls it through a guard of its own (with `std`): a notifier that panics on
/// `CPU_UP_PREPARE` or `CPU_DOWN_PREPARE` vetoes (`EIO`) at its position — the undo event goes
/// to exactly the notifiers before it — and a panic on any other event is reported
/// ([`Warning::CallbackPanicked`](crate::Warning::CallbackPanicked)) while the rest of the chain
/// still hears the event.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use cpuhp::legacy::{CpuAction, CpuNotifierBlock};
/// use cpuhp::CpuId;
/// use notifier::{FnBlock, NotifierBlock, NotifyResult};
///
/// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|_, _| NotifyResult::OK, 10);
/// let a = CpuNotifierBlock::from(&NB);
/// let b = CpuNotifierBlock::from(Arc::new(NotifierBlock::new(|_: CpuAction, _: &CpuId| NotifyResult::OK, 0)));
/// assert_eq!((a.priority(), b.priority()), (10, 0));
/// ```
#[derive(Clone)]
pub struct CpuNotifierBlock {
    call: Arc<NotifyFn>,
    /// The user's block's address: its identity, for `unregister_cpu_notifier`.
    addr: usize,
    priority: i32,
}

impl CpuNotifierBlock {
    /// The block's priority (higher is called first).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::{CpuAction, CpuNotifierBlock};
    /// use cpuhp::CpuId;
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|_, _| NotifyResult::OK, -3);
    /// assert_eq!(CpuNotifierBlock::from(&NB).priority(), -3);
    /// ```
    pub fn priority(&self) -> i32 {
        self.priority
    }

    pub(crate) fn is<F>(&self, block: &NotifierBlock<F>) -> bool {
        self.addr == addr_of(block)
    }
}

fn addr_of<F>(block: &NotifierBlock<F>) -> usize {
    core::ptr::from_ref(block).cast::<()>() as usize
}

impl fmt::Debug for CpuNotifierBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuNotifierBlock")
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

impl<F: Notifier<CpuAction, CpuId> + 'static> From<&'static NotifierBlock<F>> for CpuNotifierBlock {
    fn from(block: &'static NotifierBlock<F>) -> CpuNotifierBlock {
        CpuNotifierBlock {
            call: Arc::new(move |action, cpu| block.callback().notify(action, cpu)),
            addr: addr_of(block),
            priority: block.priority(),
        }
    }
}

impl<F: Notifier<CpuAction, CpuId> + Send + 'static> From<Arc<NotifierBlock<F>>>
    for CpuNotifierBlock
{
    fn from(block: Arc<NotifierBlock<F>>) -> CpuNotifierBlock {
        let (addr, priority) = (addr_of(&block), block.priority());
        CpuNotifierBlock {
            call: Arc::new(move |action, cpu| block.callback().notify(action, cpu)),
            addr,
            priority,
        }
    }
}

/// The panic messages the guards caught since they were last taken.
#[derive(Default)]
pub(crate) struct Caught {
    /// Each message, and whether its event could veto (a PREPARE event: the panic was a veto).
    #[cfg(feature = "std")]
    messages: std::sync::Mutex<Vec<(bool, Arc<str>)>>,
}

impl Caught {
    #[cfg_attr(not(feature = "std"), allow(clippy::unused_self, unused_variables))]
    fn push(&self, veto: bool, message: Arc<str>) {
        #[cfg(feature = "std")]
        self.lock().push((veto, message));
    }

    /// Every message caught since the last take.
    #[cfg_attr(not(feature = "std"), allow(clippy::unused_self))]
    pub(crate) fn take(&self) -> Vec<Arc<str>> {
        #[cfg(feature = "std")]
        return core::mem::take(&mut *self.lock())
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        #[cfg(not(feature = "std"))]
        Vec::new()
    }

    /// The message of the panic that vetoed a PREPARE event (it ended the walk, so there is at
    /// most one); the others stay.
    #[cfg_attr(not(feature = "std"), allow(clippy::unused_self))]
    fn take_veto(&self) -> Option<Arc<str>> {
        #[cfg(feature = "std")]
        let veto = {
            let mut messages = self.lock();
            let at = messages.iter().position(|(veto, _)| *veto);
            at.map(|at| messages.remove(at).1)
        };
        #[cfg(not(feature = "std"))]
        let veto = None;
        veto
    }

    #[cfg(feature = "std")]
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(bool, Arc<str>)>> {
        // Only pushes and takes run under it: a poisoned list is still a list.
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the legacy chain holds: a registered notifier behind the panic boundary.
pub(crate) struct Guard {
    block: CpuNotifierBlock,
    caught: Arc<Caught>,
}

impl Guard {
    /// Whether it guards the same user block.
    pub(crate) fn is_block(&self, block: &CpuNotifierBlock) -> bool {
        self.block.addr == block.addr
    }

    /// The user block it guards.
    pub(crate) fn block(&self) -> &CpuNotifierBlock {
        &self.block
    }
}

impl Notifier<CpuAction, CpuId> for Guard {
    fn notify(&self, action: CpuAction, cpu: &CpuId) -> NotifyResult {
        match guarded(|| (self.block.call)(action, cpu)) {
            Ok(r) => r,
            Err(message) => {
                self.caught.push(action.event.can_veto(), message);
                if action.event.can_veto() {
                    // A veto at its position: the notifiers before it hear the undo event.
                    NotifyResult::from_error(Errno::EIO)
                } else {
                    // The event cannot fail: the rest of the chain hears it.
                    NotifyResult::OK
                }
            }
        }
    }
}

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
    /// The registered notifiers' guards (what `chain` holds), for unregistering by the user's
    /// block.
    pub(crate) guards: Vec<Arc<NotifierBlock<Guard>>>,
    /// The panics the guards caught, until the bridge reports them.
    pub(crate) caught: Arc<Caught>,
    pub(crate) slots: LegacySlots,
    pub(crate) told: Vec<Told>,
    /// CPUs a tear-down killed, due `CPU_POST_DEAD` (tasks frozen or not) once the hotplug lock
    /// is released.
    pub(crate) post_dead_due: Vec<(CpuId, bool)>,
}

impl Legacy {
    pub(crate) fn new(slots: LegacySlots, nr_cpus: usize) -> Legacy {
        Legacy {
            chain: RawChain::new(),
            guards: Vec::new(),
            caught: Arc::default(),
            slots,
            told: alloc::vec![Told::Nothing; nr_cpus],
            post_dead_due: Vec::new(),
        }
    }

    /// `block` behind a guard reporting to this chain's `caught`.
    pub(crate) fn guard(&self, block: CpuNotifierBlock) -> Arc<NotifierBlock<Guard>> {
        let priority = block.priority;
        let guard = Guard {
            block,
            caught: self.caught.clone(),
        };
        Arc::new(NotifierBlock::new(guard, priority))
    }

    /// The guard of a registered block.
    pub(crate) fn position<F>(&self, block: &NotifierBlock<F>) -> Option<usize> {
        self.guards
            .iter()
            .position(|g| g.callback().block.is(block))
    }

    /// Sends `event` to every notifier; the results are ignored (the event cannot fail).
    pub(crate) fn notify_all(&self, event: CpuEvent, frozen: bool, cpu: CpuId) {
        let _ = self
            .chain
            .call_bounded(CpuAction { event, frozen }, &cpu, usize::MAX);
    }

    /// Sends a PREPARE event through the chain's robust call: on a veto, `undo` goes to exactly
    /// the notifiers that said OK (the seed's `nr_calls--`). Returns the veto's errno, and its
    /// panic message if the veto was a panic. A bare `NOTIFY_STOP` is not a veto.
    pub(crate) fn prepare(
        &self,
        event: CpuEvent,
        undo: CpuEvent,
        frozen: bool,
        cpu: CpuId,
    ) -> Result<(), (Errno, Option<Arc<str>>)> {
        let r = self.chain.call_robust_errno(
            CpuAction { event, frozen },
            CpuAction {
                event: undo,
                frozen,
            },
            &cpu,
        );
        match r.to_errno() {
            0 => Ok(()),
            err => Err((
                Errno::from_neg(err).unwrap_or(Errno::EINVAL),
                self.caught.take_veto(),
            )),
        }
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
        p: &P,
        cpu: CpuId,
        bridge: Bridge,
        bringup: bool,
    ) -> Result<(), Errno> {
        let r = self.notify_bridge(cpu, bridge, bringup);
        let Some(legacy) = &self.legacy else {
            return Ok(());
        };
        let step = match bridge {
            Bridge::Prepare => legacy.slots.prepare,
            Bridge::Starting => legacy.slots.starting,
            Bridge::Online => legacy.slots.online,
        };
        let at = self.site(cpu, step, "", bringup);
        // The panics of events that cannot fail (the undo of a veto included): reported.
        for message in legacy.caught.take() {
            let _ = self.report.panicked(p, &at, message, false);
        }
        match r {
            Ok(()) => Ok(()),
            Err((errno, None)) => Err(errno),
            // A veto by panic: the bridge's failure, recorded as the panic.
            Err((_, Some(message))) => self.report.panicked(p, &at, message, true),
        }
    }

    /// The events a bridge state sends for `cpu`; a PREPARE event's veto (and its panic message).
    fn notify_bridge(
        &mut self,
        cpu: CpuId,
        bridge: Bridge,
        bringup: bool,
    ) -> Result<(), (Errno, Option<Arc<str>>)> {
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

    /// `CPU_POST_DEAD` for a CPU a tear-down just killed (after the operation: a notifier's
    /// panic is traced and warned about, not part of the operation's error).
    pub(crate) fn post_dead<P: Platform>(&mut self, p: &P, cpu: CpuId, frozen: bool) {
        let Some(legacy) = &self.legacy else {
            return;
        };
        legacy.notify_all(CpuEvent::PostDead, frozen, cpu);
        let at = Site {
            cpu,
            target: StateId::OFFLINE,
            step: StateId::OFFLINE,
            symbol: "",
            bringup: false,
            instance: None,
            context: Context::Control,
            rollback: false,
            rule: crate::Rule::LegacyDown,
        };
        for message in legacy.caught.take() {
            let _ = self.report.panicked(p, &at, message, false);
        }
    }
}
