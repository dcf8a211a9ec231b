//! [`AtomicChain`]: calls that never block, never allocate and never lock.
//!
//! The chain is a pointer to an immutable [`Snapshot`]. A call enters a read section of the
//! chain's [`Rcu`] domain, loads the pointer and walks the snapshot. A change (register,
//! unregister) copies the snapshot under a writer lock, publishes the copy with one atomic swap,
//! and *retires* the old one; retired snapshots — and the `Arc`s of unregistered blocks they hold
//! — are freed only after a grace period, when no call can still be walking them.
//!
//! **Invariants.**
//! * A published or retired snapshot is never written and never freed before a grace period that
//!   began after it was unpublished has ended (so every walk sees a live, immutable slice).
//! * `unregister` returns after that grace period: once it returns, the block's callback is not
//!   running in any call of this chain and is never called by it again.
//! * The writer lock is never held while waiting for a grace period or while user code (a block's
//!   `Drop`) runs, so neither can deadlock a writer.
//!
//! Linux dropped `atomic_notifier_call_chain_robust` because an RCU list can change between the up
//! and the down walk. Here a robust call walks one snapshot twice, so it is exact.

#![allow(unsafe_code)]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ptr;
use core::sync::atomic::Ordering::{AcqRel, Acquire};

use crate::block::{BlockId, BlockRef};
use crate::chain::impl_chain;
use crate::entry::Entry;
use crate::rcu::Rcu;
use crate::snapshot::Snapshot;
use crate::sync::{AtomicPtr, WriterLock};
use crate::{RegisterError, UnregisterError};

#[cfg(feature = "std")]
use crate::rcu::ThreadRcu;

/// A published snapshot, on the heap.
struct Node<E, D: ?Sized> {
    snapshot: Snapshot<E, D>,
    /// Under loom, every walk reads this cell and freeing writes it, so loom reports any walk
    /// that is not ordered before the free (a use-after-free in the real build).
    #[cfg(loom)]
    canary: loom::cell::UnsafeCell<()>,
}

impl<E, D: ?Sized> Node<E, D> {
    fn boxed(snapshot: Snapshot<E, D>) -> *mut Node<E, D> {
        Box::into_raw(Box::new(Node {
            snapshot,
            #[cfg(loom)]
            canary: loom::cell::UnsafeCell::new(()),
        }))
    }

    /// The snapshot, as a walk sees it.
    #[inline(always)]
    fn walk(&self) -> &Snapshot<E, D> {
        #[cfg(loom)]
        self.canary.with(|_| ());
        &self.snapshot
    }
}

#[cfg(loom)]
impl<E, D: ?Sized> Drop for Node<E, D> {
    fn drop(&mut self) {
        self.canary.with_mut(|_| ());
    }
}

/// Nodes unpublished but perhaps still being walked.
type Retired<E, D> = Vec<Box<Node<E, D>>>;

macro_rules! atomic_chain {
    ($($generics:tt)*) => {
        /// A notifier chain whose calls never block, allocate or lock, while blocks are registered
        /// and unregistered concurrently: Linux's `struct atomic_notifier_head`, with the read side
        /// of an [`Rcu`] domain ([`ThreadRcu`](crate::ThreadRcu) by default with `std`).
        ///
        /// Calls may run on any number of threads at once and from any context your `Rcu` allows
        /// (callbacks must not block, as in Linux). Robust calls are exact: both walks see one
        /// snapshot. [`docs::soundness`](crate::docs::soundness) states the invariants.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use notifier::{AtomicChain, Chain, NotifierBlock, NotifyResult};
        ///
        /// static CHAIN: AtomicChain<u64, u32> = AtomicChain::new();
        ///
        /// let block = Arc::new(NotifierBlock::new(
        ///     |event: u64, cpu: &u32| if *cpu == 3 { NotifyResult::BAD } else { NotifyResult::OK },
        ///     0,
        /// ));
        /// let reg = CHAIN.register(block)?;
        /// std::thread::scope(|s| {
        ///     for cpu in 0..4u32 {
        ///         s.spawn(move || {
        ///             let want = if cpu == 3 { NotifyResult::BAD } else { NotifyResult::OK };
        ///             assert_eq!(CHAIN.call(1, &cpu), want);
        ///         });
        ///     }
        /// });
        /// reg.unregister()?; // returns once no call can still run the callback
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub struct AtomicChain<$($generics)*> {
            /// The published snapshot; null while the chain is empty (so `new` is `const`).
            head: AtomicPtr<Node<E, D>>,
            /// Serialises writers; holds the retired snapshots not yet freed.
            writer: WriterLock<Retired<E, D>>,
            rcu: R,
        }
    };
}

// The defaults (`D = ()`, `R = ThreadRcu`) exist only where `ThreadRcu` does.
#[cfg(feature = "std")]
atomic_chain!(E, D: ?Sized = (), R: Rcu = ThreadRcu);
#[cfg(not(feature = "std"))]
atomic_chain!(E, D: ?Sized, R: Rcu);

// SAFETY: the chain owns its snapshots (a `Box` behind `head`, and the retired list); snapshots
// hold `Entry`s and `Arc<dyn Send + Sync>`s, both `Send + Sync`. Moving or sharing the chain
// moves or shares exactly that, plus `R`.
unsafe impl<E, D: ?Sized, R: Rcu + Send> Send for AtomicChain<E, D, R> {}
// SAFETY: shared access reads snapshots through the read-side protocol of the module docs and
// changes them only under the writer lock; `R` is shared as a `Sync` value.
unsafe impl<E, D: ?Sized, R: Rcu + Sync> Sync for AtomicChain<E, D, R> {}

#[cfg(feature = "std")]
impl<E, D: ?Sized> AtomicChain<E, D, ThreadRcu> {
    /// An empty chain on the process-wide [`ThreadRcu`] domain. `const`, for `static` chains.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{AtomicChain, Chain, NotifyResult};
    ///
    /// static PANIC_NOTIFIERS: AtomicChain<u64> = AtomicChain::new();
    /// assert_eq!(PANIC_NOTIFIERS.call(0, &()), NotifyResult::DONE);
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self::with_rcu(ThreadRcu)
    }

    /// An empty chain on the process-wide [`ThreadRcu`] domain (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self::with_rcu(ThreadRcu)
    }
}

#[cfg(feature = "std")]
impl<E, D: ?Sized> Default for AtomicChain<E, D, ThreadRcu> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, D: ?Sized, R: Rcu> AtomicChain<E, D, R> {
    /// An empty chain whose calls run in read sections of `rcu`. `const`, for `static` chains.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{AtomicChain, Chain, ThreadRcu};
    ///
    /// static CHAIN: AtomicChain<u64, (), ThreadRcu> = AtomicChain::with_rcu(ThreadRcu);
    /// assert!(CHAIN.is_empty());
    /// ```
    #[cfg(not(loom))]
    pub const fn with_rcu(rcu: R) -> Self {
        AtomicChain {
            head: AtomicPtr::new(ptr::null_mut()),
            writer: WriterLock::new(Vec::new()),
            rcu,
        }
    }

    /// An empty chain whose calls run in read sections of `rcu` (loom build: not `const`).
    #[cfg(loom)]
    pub fn with_rcu(rcu: R) -> Self {
        AtomicChain {
            head: AtomicPtr::new(ptr::null_mut()),
            writer: WriterLock::new(Vec::new()),
            rcu,
        }
    }

    /// The RCU domain the chain's calls run in.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{AtomicChain, Rcu};
    ///
    /// let chain = AtomicChain::<u64>::new();
    /// assert!(!chain.rcu().in_read_section());
    /// ```
    pub fn rcu(&self) -> &R {
        &self.rcu
    }

    /// Publishes an edited copy of the chain, then frees what no call can reach any more —
    /// after a grace period if `wait`, else later (by the next writer that waits, or `Drop`).
    fn update<T, X>(
        &self,
        wait: bool,
        edit: impl FnOnce(&mut Snapshot<E, D>) -> Result<T, X>,
    ) -> Result<T, X> {
        let mut retired = self.writer.lock();
        let current = self.head.load(Acquire);
        // SAFETY: only writers replace `head`, and we hold the writer lock; a published snapshot
        // is freed only by a writer (after unpublishing it) or by `Drop` (which has `&mut self`).
        let mut next = match unsafe { current.as_ref() } {
            Some(node) => node.snapshot.clone(),
            None => Snapshot::new(),
        };
        let out = edit(&mut next)?;
        let next = if next.len() == 0 {
            ptr::null_mut()
        } else {
            Node::boxed(next)
        };
        // AcqRel: Release publishes the new snapshot's contents to callers' Acquire loads.
        let old = self.head.swap(next, AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from `Box::into_raw` (above, in an earlier update) and is no
            // longer reachable from `head`; the retired list now owns it.
            retired.push(unsafe { Box::from_raw(old) });
        }
        let reclaim = if wait {
            core::mem::take(&mut *retired)
        } else {
            Vec::new()
        };
        drop(retired);
        if wait {
            // Every snapshot in `reclaim` was unpublished before this grace period began.
            self.rcu.synchronize();
        }
        // Dropping snapshots drops the `Arc`s of unregistered blocks: user `Drop` code, run with
        // no lock held.
        drop(reclaim);
        Ok(out)
    }

    pub(crate) fn insert(
        &self,
        block: BlockRef<E, D>,
        unique: bool,
    ) -> Result<BlockId, RegisterError> {
        let id = block.entry.id();
        // Registering from inside a call is fine (Linux allows it in atomic context); the old
        // snapshot, which that very call may be walking, is then freed later.
        let wait = !self.rcu.in_read_section();
        self.update(wait, |s| s.insert(&block, unique))?;
        Ok(id)
    }

    pub(crate) fn remove(&self, id: BlockId) -> Result<(), UnregisterError> {
        if self.rcu.in_read_section() {
            // Waiting for running calls would wait for this one (Linux: synchronize_rcu() under
            // rcu_read_lock()). Refuse, with the chain unchanged.
            return Err(UnregisterError::WouldDeadlock);
        }
        self.update(true, |s| s.remove(id).ok_or(UnregisterError::NotRegistered))
            .map(drop)
    }

    pub(crate) fn drop_registration(&self, id: BlockId) {
        // Inside a read section: unlink now and free later, since waiting would never end.
        let wait = !self.rcu.in_read_section();
        let _ = self.update(wait, |s| s.remove(id).ok_or(UnregisterError::NotRegistered));
    }

    pub(crate) fn with_snapshot<T>(&self, f: impl FnOnce(&Snapshot<E, D>) -> T) -> T {
        let _guard = self.rcu.read_lock();
        let current = self.head.load(Acquire);
        // SAFETY: inside a read section, a snapshot loaded from `head` is not freed before the
        // section ends (module invariants).
        match unsafe { current.as_ref() } {
            Some(node) => f(node.walk()),
            None => f(&Snapshot::new()),
        }
    }

    /// The call path: one read section, one load, the walk.
    #[inline(always)]
    pub(crate) fn with_entries<T>(&self, f: impl FnOnce(&[Entry<E, D>]) -> T) -> T {
        let _guard = self.rcu.read_lock();
        // Acquire: pairs with the writer's AcqRel swap, so the snapshot's contents are visible.
        let current = self.head.load(Acquire);
        // SAFETY: as in `with_snapshot`; the guard lives until `f` returns.
        match unsafe { current.as_ref() } {
            Some(node) => f(&node.walk().entries),
            None => f(&[]),
        }
    }
}

// A callback that panics leaves the chain as it was: no borrow, lock or half-done edit is held
// while user code runs, so observing the chain after a caught panic is sound and consistent.
impl<E, D: ?Sized, R: Rcu + core::panic::UnwindSafe> core::panic::UnwindSafe
    for AtomicChain<E, D, R>
{
}
impl<E, D: ?Sized, R: Rcu + core::panic::RefUnwindSafe> core::panic::RefUnwindSafe
    for AtomicChain<E, D, R>
{
}

impl_chain!(impl<R: Rcu> for AtomicChain<E, D, R>);

impl<E, D: ?Sized, R: Rcu> Drop for AtomicChain<E, D, R> {
    fn drop(&mut self) {
        // `&mut self`: no call is running, so everything can go at once.
        let head = crate::sync::atomic_ptr_get_mut(&mut self.head);
        if !head.is_null() {
            // SAFETY: `head` came from `Box::into_raw` and nothing else can reach it now.
            drop(unsafe { Box::from_raw(head) });
        }
        self.writer.get_mut().clear();
    }
}

impl<E, D: ?Sized, R: Rcu> fmt::Debug for AtomicChain<E, D, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.with_snapshot(|s| s.len());
        f.debug_struct("AtomicChain")
            .field("len", &len)
            .finish_non_exhaustive()
    }
}
