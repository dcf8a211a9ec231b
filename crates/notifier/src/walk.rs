//! The call algorithms, over a slice of entries: Linux's `notifier_call_chain` and
//! `notifier_call_chain_robust`, once, for every chain kind.
//!
//! Rules (DESIGN.md 3–4): a walk stops at the first result with `STOP_MASK` set and returns it;
//! otherwise it returns the last callback's result, or `DONE` if none was called. `nr_calls`
//! counts the callback that stopped the walk. A robust call that stops sends the down event to
//! the first `nr_calls - 1` callbacks (those that did not stop it), forward (Linux) or in reverse;
//! a down callback returning `STOP_MASK` ends the rollback. Robust calls take one slice, so both
//! walks see the same chain.

#![allow(unsafe_code)]

use crate::entry::Entry;
use crate::NotifyResult;

/// The outcome of a bounded call: Linux's return value and `*nr_calls`.
///
/// # Examples
///
/// ```
/// use notifier::{Bounded, Chain, FnBlock, NotifyResult, RawChain};
///
/// static A: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 2);
/// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::BAD, 1);
/// let chain = RawChain::<u64>::new();
/// chain.register(&A)?.keep();
/// chain.register(&B)?.keep();
/// assert_eq!(
///     chain.call_bounded(0, &(), usize::MAX),
///     Bounded { result: NotifyResult::BAD, nr_calls: 2 },
/// );
/// assert_eq!(chain.call_bounded(0, &(), 1), Bounded { result: NotifyResult::OK, nr_calls: 1 });
/// # Ok::<(), notifier::RegisterError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bounded {
    /// What the walk returned: the stopping value, the last callback's value, or `DONE`.
    pub result: NotifyResult,
    /// How many callbacks were called, the one that stopped the walk included.
    pub nr_calls: usize,
}

/// Plain call.
///
/// # Safety
///
/// Every entry's block must stay alive for the duration of the call.
#[inline(always)]
pub(crate) unsafe fn call<E: Copy, D: ?Sized>(
    entries: &[Entry<E, D>],
    event: E,
    data: &D,
) -> NotifyResult {
    let mut ret = NotifyResult::DONE;
    for e in entries {
        // SAFETY: the caller keeps every block alive.
        ret = unsafe { e.invoke(event, data) };
        if ret.is_stop() {
            break;
        }
    }
    ret
}

/// Bounded call: at most `nr_to_call` callbacks.
///
/// # Safety
///
/// As for [`call`].
#[inline]
pub(crate) unsafe fn call_bounded<E: Copy, D: ?Sized>(
    entries: &[Entry<E, D>],
    event: E,
    data: &D,
    nr_to_call: usize,
) -> Bounded {
    let mut result = NotifyResult::DONE;
    let mut nr_calls = 0;
    for e in entries.iter().take(nr_to_call) {
        // SAFETY: the caller keeps every block alive.
        result = unsafe { e.invoke(event, data) };
        nr_calls += 1;
        if result.is_stop() {
            break;
        }
    }
    Bounded { result, nr_calls }
}

/// Which way a robust call walks back over the callbacks that said OK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rollback {
    /// In call order, as Linux's `notifier_call_chain_robust` does.
    Forward,
    /// In reverse call order, as Xen's notifier rollback (and destructors) do.
    Reverse,
}

/// Robust call.
///
/// # Safety
///
/// As for [`call`].
#[inline]
pub(crate) unsafe fn call_robust<E: Copy, D: ?Sized>(
    entries: &[Entry<E, D>],
    up: E,
    down: E,
    data: &D,
    order: Rollback,
) -> NotifyResult {
    // SAFETY: the caller keeps every block alive.
    let up_walk = unsafe { call_bounded(entries, up, data, usize::MAX) };
    if up_walk.result.is_stop() {
        // A stopping walk called at least one callback: the one that stopped it, which gets no
        // down event (the seed's `nr_calls--`), like every callback after it.
        let said_ok = &entries[..up_walk.nr_calls - 1];
        match order {
            Rollback::Forward => {
                // SAFETY: as above. The rollback's own result is ignored, as in Linux.
                unsafe { call(said_ok, down, data) };
            }
            Rollback::Reverse => {
                for e in said_ok.iter().rev() {
                    // SAFETY: as above.
                    if unsafe { e.invoke(down, data) }.is_stop() {
                        break;
                    }
                }
            }
        }
    }
    up_walk.result
}
