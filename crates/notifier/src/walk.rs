//! The call algorithms, over a slice of entries: Linux's `notifier_call_chain` and
//! `notifier_call_chain_robust`, once, for every chain kind.
//!
//! Rules: a walk stops at the first result with `STOP_MASK` set and returns it;
//! otherwise it returns the last callback's result, or `DONE` if none was called. `nr_calls`
//! counts the callback that stopped the walk. A robust call whose up walk is a veto (a stop; or,
//! for Linux 4.9's CPU notifiers, a result with an errno) sends the down event to the first
//! `nr_calls - 1` callbacks (those before the last one called), forward (Linux) or in reverse;
//! a down callback returning `STOP_MASK` ends the rollback. Robust calls take one slice, so both
//! walks see the same chain.

#![allow(unsafe_code)]

use crate::NotifyResult;
use crate::entry::Entry;

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

/// What makes a robust call's up walk a veto.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Veto {
    /// A result with `STOP_MASK` (Linux's `notifier_call_chain_robust`).
    Stop,
    /// A result that carries an errno (`notifier_to_errno` non-zero): Linux 4.9's CPU notifiers,
    /// where a bare `NOTIFY_STOP` ends the walk without a cancel.
    Errno,
}

/// Robust call.
///
/// With `std`, a callback that panics during the up walk is a veto at its position: the unwind is
/// caught there, the down event goes to exactly the callbacks before it, and the call returns
/// [`NotifyResult::PANICKED`]; the payload is kept for [`take_callback_panic`]. A down callback
/// that panics ends the rollback, as a `STOP_MASK` result would. Without `std` the panic
/// propagates (there is no `catch_unwind` in `core`).
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
    veto: Veto,
) -> NotifyResult {
    let mut nr_calls = 0;
    // SAFETY: the caller keeps every block alive.
    let up_walk = guarded(|| unsafe { call_counting(entries, up, data, &mut nr_calls) });
    let vetoed = |r: NotifyResult| match veto {
        Veto::Stop => r.is_stop(),
        Veto::Errno => r.to_errno() != 0,
    };
    let result = match up_walk {
        Ok(result) if !vetoed(result) => return result,
        Ok(result) => result,
        Err(payload) => {
            keep_panic(payload);
            NotifyResult::PANICKED
        }
    };
    // The up walk stopped at callback `nr_calls - 1` (it returned a stop value or panicked, and
    // was counted before it ran): it gets no down event (the seed's `nr_calls--`), like every
    // callback after it. Under `Veto::Errno` an errno without `STOP_MASK` lets the walk go on,
    // and then the last callback called is the one left out, as in Linux 4.9.
    let said_ok = &entries[..nr_calls - 1];
    let rollback = match order {
        // SAFETY: as above. The rollback's own result is ignored, as in Linux.
        Rollback::Forward => guarded(|| {
            let _ = unsafe { call(said_ok, down, data) };
        }),
        Rollback::Reverse => guarded(|| {
            for e in said_ok.iter().rev() {
                // SAFETY: as above.
                if unsafe { e.invoke(down, data) }.is_stop() {
                    break;
                }
            }
        }),
    };
    // A down callback that panicked ended the rollback; the veto's payload is the one kept.
    if let Err(payload) = rollback {
        drop_payload(payload);
    }
    result
}

/// A plain walk that counts each callback *before* calling it, so that the count survives a
/// callback that unwinds.
///
/// # Safety
///
/// As for [`call`].
#[inline(always)]
unsafe fn call_counting<E: Copy, D: ?Sized>(
    entries: &[Entry<E, D>],
    event: E,
    data: &D,
    nr_calls: &mut usize,
) -> NotifyResult {
    let mut ret = NotifyResult::DONE;
    for e in entries {
        *nr_calls += 1;
        // SAFETY: the caller keeps every block alive.
        ret = unsafe { e.invoke(event, data) };
        if ret.is_stop() {
            break;
        }
    }
    ret
}

/// A caught panic's payload.
#[cfg(feature = "std")]
type Payload = alloc::boxed::Box<dyn core::any::Any + Send>;
/// Without `std` nothing is caught.
#[cfg(not(feature = "std"))]
type Payload = core::convert::Infallible;

/// Runs `f`; with `std`, a panic in it is caught and returned. `catch_unwind` costs nothing on
/// the path that does not unwind. Without `std` a panic propagates.
#[inline(always)]
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Payload> {
    // AssertUnwindSafe: after a caught panic the walk only reads the immutable entry slice and
    // calls other callbacks, which must cope with a peer that panicked as with one that vetoed.
    #[cfg(feature = "std")]
    return std::panic::catch_unwind(core::panic::AssertUnwindSafe(f));
    #[cfg(not(feature = "std"))]
    return Ok(f());
}

#[cfg(feature = "std")]
std::thread_local! {
    /// The payload of the panic that this thread's latest panicking robust call caught.
    static CAUGHT: core::cell::Cell<Option<Payload>> = const { core::cell::Cell::new(None) };
}

/// Keeps a caught veto's payload for [`take_callback_panic`].
#[cold]
fn keep_panic(payload: Payload) {
    #[cfg(feature = "std")]
    {
        let mut payload = Some(payload);
        let _ = CAUGHT.try_with(|c| drop_payload_opt(c.replace(payload.take())));
        // The thread-local is gone (a robust call from a late thread-local destructor).
        drop_payload_opt(payload);
    }
    #[cfg(not(feature = "std"))]
    match payload {}
}

#[cfg(feature = "std")]
fn drop_payload_opt(payload: Option<Payload>) {
    if let Some(p) = payload {
        drop_payload(p);
    }
}

/// Drops a payload whose `Drop` may itself panic (a payload is any type): that second panic is
/// caught and its payload forgotten, so a robust call never unwinds from here.
#[cold]
fn drop_payload(payload: Payload) {
    #[cfg(feature = "std")]
    if let Err(again) = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| drop(payload))) {
        core::mem::forget(again);
    }
    #[cfg(not(feature = "std"))]
    match payload {}
}

/// Takes the payload of the panic caught by this thread's latest robust call whose callback
/// panicked ([`Chain::call_robust`](crate::Chain::call_robust) and
/// [`call_robust_reversed`](crate::Chain::call_robust_reversed) return
/// [`NotifyResult::PANICKED`] then), if not taken yet. `std` only.
///
/// A callback may also return `PANICKED`'s value (`-EIO`) itself; this tells the two apart.
///
/// # Examples
///
/// ```
/// use notifier::{Chain, FnBlock, NotifyResult, RawChain};
///
/// static FINE: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 1);
/// static BROKEN: FnBlock<u64> = FnBlock::new(|_, _| panic!("no such CPU"), 0);
/// let chain = RawChain::<u64>::new();
/// chain.register(&FINE)?.keep();
/// chain.register(&BROKEN)?.keep();
/// # std::panic::set_hook(Box::new(|_| {})); // keep the doctest's output clean
/// assert_eq!(chain.call_robust(1, 2, &()), NotifyResult::PANICKED); // FINE got the 2
/// let payload = notifier::take_callback_panic().expect("a panic was caught");
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"no such CPU"));
/// assert!(notifier::take_callback_panic().is_none());
/// # Ok::<(), notifier::RegisterError>(())
/// ```
#[cfg(feature = "std")]
pub fn take_callback_panic() -> Option<Payload> {
    CAUGHT.try_with(core::cell::Cell::take).ok().flatten()
}
