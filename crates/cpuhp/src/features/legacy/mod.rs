//! The legacy CPU-notifier API (Linux 2.6.22–4.9), bridged onto the state machine.
//!
//! `register_cpu_notifier` puts a notifier block on one raw notifier chain; three *bridge states*
//! of the state machine call that chain, as Linux 4.6–4.9 did (`notify:prepare`,
//! `notify:starting`, `notify:online`), so that code written against either API runs on the
//! same machine and keeps its place in the order:
//!
//! | bridge state | section | startup (going up) | teardown (going down) |
//! |---|---|---|---|
//! | `notify:prepare` | PREPARE | `CPU_UP_PREPARE` (may veto) | `CPU_DEAD`, or `CPU_UP_CANCELED` if the CPU never came online |
//! | `notify:starting` | STARTING | `CPU_STARTING` | `CPU_DYING` |
//! | `notify:online` | ONLINE | `CPU_ONLINE`, or `CPU_DOWN_FAILED` when undoing a failed tear-down | `CPU_DOWN_PREPARE` (may veto) |
//!
//! and `CPU_POST_DEAD` after a successful tear-down, once the hotplug lock is released.
//!
//! **The seed's rule** (Akinobu Mita, 2007; ARCHITECTURE.md, "The legacy CPU-notifier API"): when a notifier vetoes
//! `CPU_UP_PREPARE`, `CPU_UP_CANCELED` goes to exactly the notifiers before it (those that said
//! OK) — not to the one that vetoed, not to those after it — and `cpu_up` returns the veto's errno;
//! likewise `CPU_DOWN_FAILED` after a vetoed `CPU_DOWN_PREPARE`. A bare `NOTIFY_STOP` ends the walk
//! without failing. Once `CPU_UP_PREPARE` went through, a later failure before `CPU_ONLINE` (the
//! platform did not boot the CPU, or another state's startup failed) sends `CPU_UP_CANCELED` to the
//! whole chain (after `CPU_DYING` if the CPU had started) — as Linux's `cpu_notify_nofail`, also to
//! notifiers after a bare `NOTIFY_STOP` that never heard `CPU_UP_PREPARE`. A failure after
//! `CPU_ONLINE` (a state above `notify:online`) takes the CPU back down through the usual
//! `CPU_DOWN_PREPARE` (a veto cannot stop it), `CPU_DYING`, `CPU_DEAD`, without `CPU_POST_DEAD` —
//! as Linux 4.9 did. Likewise, once `CPU_DOWN_PREPARE` went through, a later failure of the
//! tear-down sends `CPU_DOWN_FAILED` to the whole chain.
//!
//! `CPU_STARTING`, `CPU_DYING`, `CPU_DEAD`, `CPU_POST_DEAD` and the events that undo cannot fail:
//! with [`CpuNotifier`] by type; a raw callback's error for them never fails the operation (Linux:
//! `cpu_notify_nofail`). Its stop bit still ends that walk, as in every Linux notifier chain.
//!
//! With `std`, a notifier that panics is caught ([`CpuNotifierBlock`]): on a PREPARE event the
//! panic is a veto (`EIO`, [`ErrorKind::Panicked`](crate::ErrorKind::Panicked)) at its position;
//! on any other event it is reported and the rest of the chain still hears the event.

mod api;
mod bridge;
mod event;
mod typed;

pub(crate) use bridge::{Bridge, Legacy};
pub use bridge::{CpuNotifierBlock, LegacySlots};
pub use event::{CPU_TASKS_FROZEN, CpuAction, CpuEvent};
pub use typed::{CpuNotifier, Typed};
