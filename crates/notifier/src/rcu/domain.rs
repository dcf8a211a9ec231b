//! The [`Rcu`] trait and its contract.

#![allow(unsafe_code)]

/// An RCU domain: what [`AtomicChain`](crate::AtomicChain) needs to let calls run without locks
/// while blocks come and go.
///
/// # Safety
///
/// An implementation must guarantee, for every execution context (thread, or CPU with preemption
/// off) that calls it:
///
/// 1. **Read sections.** From `read_lock()` returning until its guard is dropped, the context is in
///    a read section. Read sections nest; the context is in one until its outermost guard drops,
///    or until the context itself ends (a thread exits), whichever comes first: a guard that
///    outlives its context (say, in a thread-local destroyed late) protects nothing any more.
/// 2. **Grace periods.** `synchronize()` returns only after every read section that began before
///    `synchronize()` was called has ended, and the end of each such section *happens-before*
///    `synchronize()` returns.
/// 3. **Publication.** If a value is stored (with `Release` or stronger) before `synchronize()` is
///    called, then any read section that `synchronize()` does not wait for observes, in loads made
///    after its `read_lock()`, that store or a later one. (In Linux terms: `read_lock` is
///    `rcu_read_lock` and contains whatever barrier your `synchronize` relies on.)
/// 4. **Self-knowledge.** `in_read_section()` returns `true` exactly when the calling context is
///    inside a read section of this domain. Chains never call `synchronize()` when it is `true`,
///    since waiting for oneself never ends.
///
/// `AtomicChain`'s memory safety rests on these four points; `ThreadRcu` states how it meets them.
///
/// # Examples
///
/// A kernel delegates to its own RCU (`rcu_read_lock`, `synchronize_rcu`, `rcu_read_lock_held`).
/// A minimal, slow but correct domain built from a readers/writer lock shows the shape:
///
/// ```
/// use std::cell::Cell;
/// use std::sync::{RwLock, RwLockReadGuard};
/// use notifier::{AtomicChain, Chain, FnBlock, NotifyResult, Rcu};
///
/// /// Read sections share a lock; a grace period takes it exclusively once.
/// struct LockRcu(RwLock<()>);
/// thread_local! { static DEPTH: Cell<u32> = const { Cell::new(0) }; }
///
/// struct Guard<'a>(Option<RwLockReadGuard<'a, ()>>);
/// impl Drop for Guard<'_> {
///     fn drop(&mut self) { DEPTH.with(|d| d.set(d.get() - 1)); }
/// }
///
/// // SAFETY: a section holds the read lock from `read_lock` to its guard's drop (nested sections
/// // ride on the outermost one); `synchronize` takes the write lock, which waits for every section
/// // holding the read lock and synchronises with its release; `DEPTH` tracks the nesting.
/// unsafe impl Rcu for LockRcu {
///     type Guard<'a> = Guard<'a>;
///     fn read_lock(&self) -> Guard<'_> {
///         let outermost = DEPTH.with(|d| { d.set(d.get() + 1); d.get() == 1 });
///         Guard(outermost.then(|| self.0.read().unwrap()))
///     }
///     fn synchronize(&self) { drop(self.0.write().unwrap()); }
///     fn in_read_section(&self) -> bool { DEPTH.with(|d| d.get() > 0) }
/// }
///
/// static CHAIN: AtomicChain<u64, (), LockRcu> = AtomicChain::with_rcu(LockRcu(RwLock::new(())));
/// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
/// let reg = CHAIN.register(&B)?;
/// assert_eq!(CHAIN.call(1, &()), NotifyResult::OK);
/// reg.unregister()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe trait Rcu {
    /// Proof of being in a read section; dropping it leaves the section.
    type Guard<'a>
    where
        Self: 'a;

    /// Enters a read section. Must not block, allocate (after a first, per-context setup) or fail.
    fn read_lock(&self) -> Self::Guard<'_>;

    /// Waits for a grace period (contract point 2).
    fn synchronize(&self);

    /// Whether the calling context is inside a read section of this domain (contract point 4).
    fn in_read_section(&self) -> bool;
}
