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
use core::cell::Cell;
use core::fmt;
use core::ptr;

use parking_lot::{Mutex, RwLock};

use crate::block::{BlockId, BlockRef};
use crate::chain::impl_chain;
use crate::entry::Entry;
use crate::snapshot::Snapshot;
use crate::{RegisterError, UnregisterError};

/// One call of a blocking chain on this thread's stack: a link of the thread's list of the
/// blocking chains it is inside a call of, innermost first.
struct Link {
    /// The chain's address.
    key: usize,
    /// The enclosing call's link (null for the outermost).
    prev: *const Link,
}

std::thread_local! {
    /// The innermost call's [`Link`]. A `const` cell with no destructor: usable while other
    /// thread-locals are being destroyed (a chain called from their destructors), and it never
    /// allocates. (A `Vec` here would make such calls panic once it was destroyed.)
    static CALLING: Cell<*const Link> = const { Cell::new(ptr::null()) };
}

/// Whether this thread is inside a call of the chain at `key`.
fn calling(key: usize) -> bool {
    let mut link = CALLING.with(Cell::get);
    // SAFETY: every pointer on the list is the address of a `Link` local to a `with_entries`
    // frame that is still running on this thread: it is pushed after the link is made and popped
    // by its `Pop` guard, which borrows the link (so the link cannot move or die first) and runs
    // on return and on unwind alike. Frames end in LIFO order, so the list only holds live links.
    while let Some(l) = unsafe { link.as_ref() } {
        if l.key == key {
            return true;
        }
        link = l.prev;
    }
    false
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
        calling(self.key())
    }

    /// Test hook: whether the chain's lock is held (by a call or a writer) right now.
    #[doc(hidden)]
    pub fn __is_locked(&self) -> bool {
        self.chain.is_locked()
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
        let nested = calling(key);
        let link = Link {
            key,
            prev: CALLING.with(Cell::get),
        };
        CALLING.with(|c| c.set(&link));
        let pop = Pop {
            chain: self,
            link: &link,
            nested,
        };
        let out = if nested {
            f(&self.chain.read_recursive().entries)
        } else {
            f(&self.chain.read().entries)
        };
        // The read guard (a temporary above) is gone: pending unlinks can take the write lock.
        drop(pop);
        out
    }
}

/// Pops one call's link off this thread's list, also when a callback panics; the outermost call
/// then unlinks the blocks whose guards were dropped inside it.
struct Pop<'a, E, D: ?Sized> {
    chain: &'a BlockingChain<E, D>,
    link: &'a Link,
    nested: bool,
}

impl<E, D: ?Sized> Drop for Pop<'_, E, D> {
    fn drop(&mut self) {
        CALLING.with(|c| c.set(self.link.prev));
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
