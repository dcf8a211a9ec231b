//! [`RawChain`]: the caller synchronises.
//!
//! Linux's raw chain takes no lock at all; whoever uses it holds one of their own (the CPU
//! notifier chain lived under `cpu_add_remove_lock`). Here that contract is in the types: a
//! `RawChain` is `Send` but not `Sync`, so it is used from one thread at a time, by ownership or
//! behind a lock of yours.
//!
//! A callback may change the chain it is called from — unregister itself, register another
//! block — through a shared reference: a call walks the snapshot that was current when it began
//! and holds it (an `Rc`, no atomics) until it returns, so a change replaces the snapshot without
//! disturbing the walk, and an unregistered `Arc` block lives until the walk is done.

#![allow(unsafe_code)]

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;

use crate::block::{BlockId, BlockRef};
use crate::chain::impl_chain;
use crate::entry::Entry;
use crate::snapshot::Snapshot;
use crate::{RegisterError, UnregisterError};

/// A notifier chain synchronised by its caller: Linux's `struct raw_notifier_head`.
///
/// Calls cost one non-atomic reference-count increment over a bare loop; registration copies the
/// chain. A callback may change its own chain (register, unregister itself): the running call
/// keeps walking the chain as it was when it began, and an unregistered `Arc`'d block lives until
/// that walk is done.
///
/// # Examples
///
/// A callback that unregisters itself during a call:
///
/// ```
/// use std::rc::Rc;
/// use std::sync::{Arc, OnceLock};
/// use notifier::{Chain, FnBlock, NotifierBlock, NotifyResult, RawChain};
///
/// thread_local! { static CHAIN: RawChain<u64> = RawChain::new(); }
/// static ONE_SHOT: FnBlock<u64> = FnBlock::new(|_, _| {
///     CHAIN.with(|c| c.unregister(&ONE_SHOT)).unwrap();
///     NotifyResult::OK
/// }, 0);
///
/// CHAIN.with(|c| {
///     c.register(&ONE_SHOT).unwrap().keep();
///     assert_eq!(c.call(1, &()), NotifyResult::OK); // called, and gone
///     assert_eq!(c.call(1, &()), NotifyResult::DONE);
/// });
/// ```
pub struct RawChain<E, D: ?Sized = ()> {
    /// The current chain; `None` while empty (so that `new` is `const`). Borrowed only for an
    /// instant — never across a callback — so callbacks may change the chain.
    current: RefCell<Option<Rc<Snapshot<E, D>>>>,
}

// SAFETY: the only non-`Send` part is the `Rc`. Every clone of it is made by a `&self` method
// (`with_entries`) and dropped before that method returns; while the chain is moved to another
// thread no method runs (the move needs the chain unborrowed), so the count is 1 and no other
// thread can touch it. The snapshot itself holds `Entry`s (`Send + Sync`) and `Arc<dyn Send + Sync>`.
unsafe impl<E, D: ?Sized> Send for RawChain<E, D> {}

impl<E, D: ?Sized> RawChain<E, D> {
    /// An empty chain. `const`, so it can sit in a `static` behind your own lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use notifier::{Chain, NotifyResult, RawChain};
    ///
    /// static CPU_CHAIN: Mutex<RawChain<u64, u32>> = Mutex::new(RawChain::new());
    /// assert_eq!(CPU_CHAIN.lock().unwrap().call(2, &1), NotifyResult::DONE);
    /// ```
    pub const fn new() -> RawChain<E, D> {
        RawChain {
            current: RefCell::new(None),
        }
    }

    /// Publishes an edited copy of the chain (copy-on-write), or nothing if `edit` fails.
    fn update<R, X>(&self, edit: impl FnOnce(&mut Snapshot<E, D>) -> Result<R, X>) -> Result<R, X> {
        let mut next = match &*self.current.borrow() {
            Some(s) => Snapshot::clone(s),
            None => Snapshot::new(),
        };
        let r = edit(&mut next)?;
        let next = (next.len() > 0).then(|| Rc::new(next));
        let old = self.current.replace(next);
        // Dropped after the `RefCell` is released: dropping the last handle of an unregistered
        // block runs the user's `Drop`, which may use this chain.
        drop(old);
        Ok(r)
    }

    pub(crate) fn insert(
        &self,
        block: BlockRef<E, D>,
        unique: bool,
    ) -> Result<BlockId, RegisterError> {
        let id = block.entry.id();
        self.update(|s| s.insert(&block, unique))?;
        Ok(id)
    }

    pub(crate) fn remove(&self, id: BlockId) -> Result<(), UnregisterError> {
        // The removed holder is dropped here, after the update: a walk in progress holds its own
        // clone of the old snapshot, and with it the block.
        self.update(|s| s.remove(id).ok_or(UnregisterError::NotRegistered))
            .map(drop)
    }

    pub(crate) fn drop_registration(&self, id: BlockId) {
        // Never deadlocks: nothing here waits. NotRegistered means someone unregistered it first.
        let _ = self.remove(id);
    }

    pub(crate) fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot<E, D>) -> R) -> R {
        match &*self.current.borrow() {
            Some(s) => f(s),
            None => f(&Snapshot::new()),
        }
    }

    /// Runs `f` over the current entries, holding the snapshot (and so every block) alive.
    #[inline(always)]
    pub(crate) fn with_entries<R>(&self, f: impl FnOnce(&[Entry<E, D>]) -> R) -> R {
        let snapshot = self.current.borrow().clone();
        match &snapshot {
            Some(s) => f(&s.entries),
            None => f(&[]),
        }
    }
}

// A callback that panics leaves the chain as it was: no borrow, lock or half-done edit is held
// while user code runs, so observing the chain after a caught panic is sound and consistent.
impl<E, D: ?Sized> core::panic::UnwindSafe for RawChain<E, D> {}
impl<E, D: ?Sized> core::panic::RefUnwindSafe for RawChain<E, D> {}

impl_chain!(impl<> for RawChain<E, D>);

impl<E, D: ?Sized> Default for RawChain<E, D> {
    fn default() -> Self {
        RawChain::new()
    }
}

impl<E, D: ?Sized> fmt::Debug for RawChain<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.with_snapshot(|s| s.len());
        f.debug_struct("RawChain").field("len", &len).finish()
    }
}
