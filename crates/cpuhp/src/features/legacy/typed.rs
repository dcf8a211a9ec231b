//! A typed CPU notifier: only the PREPARE events can veto; the others return `()`.

use notifier::{Notifier, NotifyResult, Verdict};

use super::{CpuAction, CpuEvent};
use crate::CpuId;

/// A legacy CPU notifier in Rust types: the two PREPARE events answer with a [`Verdict`] (OK,
/// a veto with an errno, or a bare `Stop`, which ends the walk without failing); every other
/// event cannot fail — its method returns `()`. Wrap one in [`Typed`] to register it.
///
/// # Examples
///
/// ```
/// use cpuhp::legacy::{CpuEvent, CpuNotifier};
/// use cpuhp::{CpuId, Errno};
/// use notifier::Verdict;
///
/// struct Buffers;
/// impl CpuNotifier for Buffers {
///     fn prepare(&self, event: CpuEvent, cpu: CpuId, _frozen: bool) -> Verdict {
///         if event == CpuEvent::UpPrepare && cpu.0 > 63 { Verdict::Errno(Errno::ENOMEM) } else { Verdict::Ok }
///     }
///     fn event(&self, _event: CpuEvent, _cpu: CpuId, _frozen: bool) {}
/// }
/// assert_eq!(Buffers.prepare(CpuEvent::UpPrepare, CpuId(64), false), Verdict::Errno(Errno::ENOMEM));
/// ```
pub trait CpuNotifier: Sync {
    /// `CPU_UP_PREPARE` or `CPU_DOWN_PREPARE`: may veto.
    fn prepare(&self, event: CpuEvent, cpu: CpuId, frozen: bool) -> Verdict {
        let _ = (event, cpu, frozen);
        Verdict::Ok
    }

    /// Every other event: cannot fail.
    fn event(&self, event: CpuEvent, cpu: CpuId, frozen: bool);
}

/// Adapts a [`CpuNotifier`] to the legacy chain's callback type.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use cpuhp::legacy::{CpuEvent, CpuNotifier, Typed};
/// use cpuhp::CpuId;
/// use notifier::NotifierBlock;
///
/// struct Quiet;
/// impl CpuNotifier for Quiet {
///     fn event(&self, _: CpuEvent, _: CpuId, _: bool) {}
/// }
/// let block = Arc::new(NotifierBlock::new(Typed(Quiet), 10));
/// # let _ = block;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Typed<T>(pub T);

impl<T: CpuNotifier> Notifier<CpuAction, CpuId> for Typed<T> {
    fn notify(&self, action: CpuAction, cpu: &CpuId) -> NotifyResult {
        if action.event.can_veto() {
            self.0.prepare(action.event, *cpu, action.frozen).into()
        } else {
            self.0.event(action.event, *cpu, action.frozen);
            NotifyResult::OK
        }
    }
}
