//! [`BlockingChain`]: callbacks may sleep; a readers/writer lock.
//!
//! Calls hold the chain's read lock for their whole walk (both walks of a robust call), so
//! callbacks may block and calls on different threads run in parallel; register and unregister
//! take the write lock, so `unregister` returns only once no call is running — Linux's
//! `blocking_notifier_head` with its `rw_semaphore`.
//!
//! A thread remembers which blocking chains it is calling. A callback that calls its own chain
//! again takes the read lock recursively (a plain read lock would queue behind a waiting writer
//! and deadlock); one that registers or unregisters on its own chain gets `WouldDeadlock` instead
//! of waiting for a write lock its own call prevents.

#![allow(unsafe_code)]

use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use parking_lot::{Mutex, RwLock};

use crate::block::{BlockId, BlockRef};
use crate::chain::impl_chain;
use crate::entry::Entry;
use crate::snapshot::Snapshot;
use crate::{RegisterError, UnregisterError};

std::thread_local! {
    /// The blocking chains this thread is inside a call of, innermost last (by address).
    static CALLING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// A notifier chain whose callbacks may sleep: Linux's `struct blocking_notifier_head`.
///
/// Needs `std` (a sleeping lock and thread identity).
///
/// # Examples
///
/// ```
/// use notifier::{BlockingChain, Chain, FnBlock, NotifyResult};
///
/// fn slow(_: u64, _: &()) -> NotifyResult {
///     std::thread::sleep(std::time::Duration::from_millis(1)); // allowed here
///     NotifyResult::OK
/// }
/// static B: FnBlock<u64> = FnBlock::new(slow, 0);
/// static REBOOT: BlockingChain<u64> = BlockingChain::new();
///
/// let reg = REBOOT.register(&B)?;
/// assert_eq!(REBOOT.call(1, &()), NotifyResult::OK);
/// reg.unregister()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BlockingChain<E, D: ?Sized = ()> {
    chain: RwLock<Snapshot<E, D>>,
    /// Blocks whose `Registration` was dropped inside a callback of this chain: unlinked when the
    /// dropping thread's outermost call returns (it cannot take the write lock before).
    pending: Mutex<Vec<BlockId>>,
}

impl<E, D: ?Sized> BlockingChain<E, D> {
    /// An empty chain. `const`, for `static` chains.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{BlockingChain, Chain};
    ///
    /// static CHAIN: BlockingChain<u64> = BlockingChain::new();
    /// assert!(CHAIN.is_empty());
    /// ```
    pub const fn new() -> BlockingChain<E, D> {
        BlockingChain {
            chain: parking_lot::const_rwlock(Snapshot::new()),
            pending: parking_lot::const_mutex(Vec::new()),
        }
    }

    fn key(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// Whether this thread is inside a call of this chain.
    fn calling(&self) -> bool {
        let key = self.key();
        CALLING.with(|c| c.borrow().contains(&key))
    }

    pub(crate) fn insert(
        &self,
        block: BlockRef<E, D>,
        unique: bool,
    ) -> Result<BlockId, RegisterError> {
        if self.calling() {
            return Err(RegisterError::WouldDeadlock);
        }
        let id = block.entry.id();
        self.chain.write().insert(&block, unique)?;
        // `block` drops here, after the lock: a refused block's `Drop` may use the chain.
        Ok(id)
    }

    pub(crate) fn remove(&self, id: BlockId) -> Result<(), UnregisterError> {
        if self.calling() {
            return Err(UnregisterError::WouldDeadlock);
        }
        let holder = self.chain.write().remove(id);
        // The write lock waited for every running call; dropping the holder (user `Drop`) happens
        // after the lock is released.
        holder.map(drop).ok_or(UnregisterError::NotRegistered)
    }

    pub(crate) fn drop_registration(&self, id: BlockId) {
        if self.calling() {
            self.pending.lock().push(id);
        } else {
            let _ = self.remove(id);
        }
    }

    pub(crate) fn with_snapshot<T>(&self, f: impl FnOnce(&Snapshot<E, D>) -> T) -> T {
        if self.calling() {
            f(&self.chain.read_recursive())
        } else {
            f(&self.chain.read())
        }
    }

    #[inline]
    pub(crate) fn with_entries<T>(&self, f: impl FnOnce(&[Entry<E, D>]) -> T) -> T {
        let key = self.key();
        let nested = CALLING.with(|c| {
            let mut c = c.borrow_mut();
            let nested = c.contains(&key);
            c.push(key);
            nested
        });
        let frame = Frame {
            chain: self,
            nested,
        };
        let out = if nested {
            f(&frame.chain.chain.read_recursive().entries)
        } else {
            f(&frame.chain.chain.read().entries)
        };
        drop(frame);
        out
    }
}

/// One call's entry on this thread's `CALLING` stack; popped on drop, also when a callback
/// panics. Dropped after the call's read guard.
struct Frame<'a, E, D: ?Sized> {
    chain: &'a BlockingChain<E, D>,
    nested: bool,
}

impl<E, D: ?Sized> Drop for Frame<'_, E, D> {
    fn drop(&mut self) {
        CALLING.with(|c| c.borrow_mut().pop());
        if !self.nested {
            let pending = core::mem::take(&mut *self.chain.pending.lock());
            for id in pending {
                let _ = self.chain.remove(id);
            }
        }
    }
}

// A callback that panics leaves the chain as it was: no borrow, lock or half-done edit is held
// while user code runs, so observing the chain after a caught panic is sound and consistent.
impl<E, D: ?Sized> core::panic::UnwindSafe for BlockingChain<E, D> {}
impl<E, D: ?Sized> core::panic::RefUnwindSafe for BlockingChain<E, D> {}

impl_chain!(impl<> for BlockingChain<E, D>);

impl<E, D: ?Sized> Default for BlockingChain<E, D> {
    fn default() -> Self {
        BlockingChain::new()
    }
}

impl<E, D: ?Sized> fmt::Debug for BlockingChain<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.with_snapshot(|s| s.len());
        f.debug_struct("BlockingChain")
            .field("len", &len)
            .finish_non_exhaustive()
    }
}
