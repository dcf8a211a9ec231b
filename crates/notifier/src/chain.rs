//! The API every chain kind offers, and the registration guard.

use core::fmt;

use crate::block::{BlockId, BlockRef, NotifierBlock};
use crate::{Bounded, NotifyResult, RegisterError, UnregisterError};

/// A notifier chain: registration and the three kinds of call. Implemented by
/// [`RawChain`](crate::RawChain), [`AtomicChain`](crate::AtomicChain) and
/// [`BlockingChain`](crate::BlockingChain), which differ only in how calls and changes are
/// synchronised.
///
/// Every call walks the chain as it stood when the call began: blocks registered or unregistered
/// during a call (by a callback, or by another thread) take effect for later calls. A robust call
/// is one call: its up and down walks see the same chain.
///
/// # Examples
///
/// The seed patch's rule, on any chain kind:
///
/// ```
/// use notifier::{Chain, FnBlock, NotifyResult, RawChain};
/// use std::sync::Mutex;
///
/// static LOG: Mutex<Vec<(u8, u64)>> = Mutex::new(Vec::new());
/// fn ok1(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((1, e)); NotifyResult::OK }
/// fn ok2(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((2, e)); NotifyResult::OK }
/// fn veto(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((3, e)); NotifyResult::BAD }
/// fn last(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((4, e)); NotifyResult::OK }
/// static B1: FnBlock<u64> = FnBlock::new(ok1, 40);
/// static B2: FnBlock<u64> = FnBlock::new(ok2, 30);
/// static B3: FnBlock<u64> = FnBlock::new(veto, 20);
/// static B4: FnBlock<u64> = FnBlock::new(last, 10);
///
/// const UP_PREPARE: u64 = 0x3;
/// const UP_CANCELED: u64 = 0x4;
/// let chain = RawChain::<u64>::new();
/// for b in [&B1, &B2, &B3, &B4] {
///     chain.register(b)?.keep();
/// }
/// let ret = chain.call_robust(UP_PREPARE, UP_CANCELED, &());
/// assert_eq!(ret, NotifyResult::BAD);
/// // B3 vetoed: B1 and B2 get the cancel, B3 (which failed) and B4 (never called) do not.
/// assert_eq!(*LOG.lock().unwrap(), [(1, 3), (2, 3), (3, 3), (1, 4), (2, 4)]);
/// # Ok::<(), notifier::RegisterError>(())
/// ```
pub trait Chain<E: Copy, D: ?Sized = ()> {
    /// Links a block: Linux's `*_notifier_chain_register`. The block goes before the first block of
    /// lower priority (higher first; FIFO among equals). Returns a guard that unregisters the block
    /// when dropped; call [`Registration::keep`] to keep it registered for good.
    ///
    /// # Errors
    ///
    /// [`RegisterError::AlreadyRegistered`] if the block is already on the chain;
    /// [`RegisterError::WouldDeadlock`] from inside a callback of the same `BlockingChain`.
    /// The chain is unchanged on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{AtomicChain, Chain, FnBlock, NotifyResult};
    ///
    /// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::STOP, 0);
    /// let chain = AtomicChain::<u64>::new();
    /// {
    ///     let _reg = chain.register(&B)?;
    ///     assert_eq!(chain.call(0, &()), NotifyResult::STOP);
    /// } // dropped: unregistered
    /// assert_eq!(chain.call(0, &()), NotifyResult::DONE);
    /// # Ok::<(), notifier::RegisterError>(())
    /// ```
    fn register<B: Into<BlockRef<E, D>>>(
        &self,
        block: B,
    ) -> Result<Registration<'_, Self>, RegisterError>
    where
        Self: Sized;

    /// Like [`register`](Self::register), but refuses a block whose priority is already taken:
    /// Linux's `*_notifier_chain_register_unique_prio`.
    ///
    /// # Errors
    ///
    /// [`RegisterError::PriorityTaken`] (`EBUSY`), or any error of `register`.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{BlockingChain, Chain, FnBlock, NotifyResult, RegisterError};
    ///
    /// static A: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 10);
    /// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 10);
    /// let chain = BlockingChain::<u64>::new();
    /// chain.register_unique_prio(&A)?.keep();
    /// assert_eq!(chain.register_unique_prio(&B).err(), Some(RegisterError::PriorityTaken));
    /// # Ok::<(), RegisterError>(())
    /// ```
    fn register_unique_prio<B: Into<BlockRef<E, D>>>(
        &self,
        block: B,
    ) -> Result<Registration<'_, Self>, RegisterError>
    where
        Self: Sized;

    /// Unlinks a block: Linux's `*_notifier_chain_unregister`. On an `AtomicChain` or a
    /// `BlockingChain` this returns only once no call can still be running the block's callback:
    /// after it returns, the callback is never called again by this chain.
    ///
    /// # Errors
    ///
    /// [`UnregisterError::NotRegistered`] (`ENOENT`) if the block is not on the chain;
    /// [`UnregisterError::WouldDeadlock`] (`EDEADLK`) from inside a callback of the same atomic or
    /// blocking chain. The chain is unchanged on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, FnBlock, NotifyResult, RawChain, UnregisterError};
    ///
    /// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let chain = RawChain::<u64>::new();
    /// chain.register(&B)?.keep();
    /// assert_eq!(chain.unregister(&B), Ok(()));
    /// assert_eq!(chain.unregister(&B), Err(UnregisterError::NotRegistered));
    /// # Ok::<(), notifier::RegisterError>(())
    /// ```
    fn unregister<F>(&self, block: &NotifierBlock<F>) -> Result<(), UnregisterError>;

    /// Whether `block` is on the chain.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, FnBlock, NotifyResult, RawChain};
    ///
    /// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let chain = RawChain::<u64>::new();
    /// assert!(!chain.is_registered(&B));
    /// ```
    fn is_registered<F>(&self, block: &NotifierBlock<F>) -> bool;

    /// How many blocks are registered.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, RawChain};
    /// assert_eq!(RawChain::<u64>::new().len(), 0);
    /// ```
    fn len(&self) -> usize;

    /// Whether no block is registered.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, RawChain};
    /// assert!(RawChain::<u64>::new().is_empty());
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls every block in order until one returns a value with `STOP_MASK` set: Linux's
    /// `*_notifier_call_chain`. Returns that value, else the last callback's, else `DONE`.
    ///
    /// A callback's panic propagates to the caller (here and in
    /// [`call_bounded`](Self::call_bounded)); the chain stays as it was, with no lock, read section
    /// or call record left behind.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, NotifyResult, RawChain};
    /// assert_eq!(RawChain::<u64>::new().call(1, &()), NotifyResult::DONE);
    /// ```
    fn call(&self, event: E, data: &D) -> NotifyResult;

    /// Calls at most `nr_to_call` blocks (`usize::MAX`: all) and reports how many were called,
    /// the one that stopped the walk included: Linux's `nr_to_call` / `nr_calls`.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Bounded, Chain, NotifyResult, RawChain};
    /// let r = RawChain::<u64>::new().call_bounded(1, &(), 0);
    /// assert_eq!(r, Bounded { result: NotifyResult::DONE, nr_calls: 0 });
    /// ```
    fn call_bounded(&self, event: E, data: &D, nr_to_call: usize) -> Bounded;

    /// Calls every block with `up`; if a block stops the walk, sends `down` to exactly the blocks
    /// before it, in the same order (the seed's rule; Linux's `*_notifier_call_chain_robust`).
    /// The block that stopped the walk and those after it get nothing; a down callback returning
    /// `STOP_MASK` ends the rollback. Returns the up walk's value (`DONE` on an empty chain).
    ///
    /// With `std`, a callback that panics in the up walk is a veto at its position: the down event
    /// goes to the blocks before it, and the call returns [`NotifyResult::PANICKED`]
    /// ([`take_callback_panic`](crate::take_callback_panic) has the payload); a down callback that
    /// panics ends the rollback. Without `std` the panic propagates.
    ///
    /// # Examples
    ///
    /// See the [trait-level example](Chain).
    fn call_robust(&self, up: E, down: E, data: &D) -> NotifyResult;

    /// [`call_robust`](Self::call_robust) under the veto rule of Linux 4.9's CPU notifiers
    /// (`__cpu_notify` then `notifier_to_errno`): only a result that carries an errno is a veto.
    /// A bare `NOTIFY_STOP` ends the walk and nobody hears `down`; an errno result without
    /// `STOP_MASK` lets the walk go on, and then the last block called is the one left out.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, FnBlock, NotifyResult, RawChain};
    /// use std::sync::Mutex;
    ///
    /// static LOG: Mutex<Vec<(u8, u64)>> = Mutex::new(Vec::new());
    /// fn a(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((1, e)); NotifyResult::OK }
    /// fn b(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((2, e)); NotifyResult::STOP }
    /// static A: FnBlock<u64> = FnBlock::new(a, 2);
    /// static B: FnBlock<u64> = FnBlock::new(b, 1);
    /// let chain = RawChain::<u64>::new();
    /// for blk in [&A, &B] { chain.register(blk)?.keep(); }
    /// // A stop is no veto here: no `down` event (`call_robust` would send one to `a`).
    /// assert_eq!(chain.call_robust_errno(1, 2, &()), NotifyResult::STOP);
    /// assert_eq!(*LOG.lock().unwrap(), [(1, 1), (2, 1)]);
    /// # Ok::<(), notifier::RegisterError>(())
    /// ```
    fn call_robust_errno(&self, up: E, down: E, data: &D) -> NotifyResult;

    /// [`call_robust`](Self::call_robust), rolling back in reverse order: the last block that
    /// said OK is undone first, as destructors run (Xen's order). Not in Linux.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, FnBlock, NotifyResult, RawChain};
    /// use std::sync::Mutex;
    ///
    /// static LOG: Mutex<Vec<(u8, u64)>> = Mutex::new(Vec::new());
    /// fn a(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((1, e)); NotifyResult::OK }
    /// fn b(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((2, e)); NotifyResult::OK }
    /// fn c(e: u64, _: &()) -> NotifyResult { LOG.lock().unwrap().push((3, e)); NotifyResult::BAD }
    /// static A: FnBlock<u64> = FnBlock::new(a, 3);
    /// static B: FnBlock<u64> = FnBlock::new(b, 2);
    /// static C: FnBlock<u64> = FnBlock::new(c, 1);
    /// let chain = RawChain::<u64>::new();
    /// for blk in [&A, &B, &C] { chain.register(blk)?.keep(); }
    /// assert_eq!(chain.call_robust_reversed(1, 2, &()), NotifyResult::BAD);
    /// assert_eq!(*LOG.lock().unwrap(), [(1, 1), (2, 1), (3, 1), (2, 2), (1, 2)]);
    /// # Ok::<(), notifier::RegisterError>(())
    /// ```
    fn call_robust_reversed(&self, up: E, down: E, data: &D) -> NotifyResult;
}

/// A registered block: unregisters it when dropped, unless [`kept`](Registration::keep).
///
/// Dropping the guard inside a callback of its own chain, where [`Chain::unregister`] would
/// return [`UnregisterError::WouldDeadlock`], still unlinks the block: at once on a `RawChain`
/// and an `AtomicChain` (calls already running may still reach it), and when this thread's
/// outermost call returns on a `BlockingChain`.
///
/// # Examples
///
/// ```
/// use notifier::{AtomicChain, Chain, FnBlock, NotifyResult};
///
/// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
/// static CHAIN: AtomicChain<u64> = AtomicChain::new();
///
/// let reg = CHAIN.register(&B)?;
/// assert_eq!(CHAIN.len(), 1);
/// reg.unregister()?; // or drop(reg), or reg.keep()
/// assert_eq!(CHAIN.len(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a Registration unregisters the block at once; call .keep() to keep it"]
pub struct Registration<'c, C: ?Sized> {
    chain: &'c C,
    id: BlockId,
    /// The chain kind's own "unregister, or unlink without waiting if waiting would deadlock".
    on_drop: fn(&C, BlockId),
    /// The chain kind's own `unregister`.
    unregister: fn(&C, BlockId) -> Result<(), UnregisterError>,
}

impl<'c, C: ?Sized> Registration<'c, C> {
    pub(crate) fn new(
        chain: &'c C,
        id: BlockId,
        on_drop: fn(&C, BlockId),
        unregister: fn(&C, BlockId) -> Result<(), UnregisterError>,
    ) -> Registration<'c, C> {
        Registration {
            chain,
            id,
            on_drop,
            unregister,
        }
    }

    /// Keeps the block registered for good (until someone calls [`Chain::unregister`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, FnBlock, NotifyResult, RawChain};
    ///
    /// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let chain = RawChain::<u64>::new();
    /// chain.register(&B)?.keep();
    /// assert!(chain.is_registered(&B));
    /// # Ok::<(), notifier::RegisterError>(())
    /// ```
    pub fn keep(self) {
        core::mem::forget(self);
    }

    /// Unregisters now, reporting the outcome that dropping would swallow.
    ///
    /// # Errors
    ///
    /// As [`Chain::unregister`]: on [`UnregisterError::WouldDeadlock`] the block stays registered
    /// and the guard is consumed without unregistering.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, FnBlock, NotifyResult, RawChain, UnregisterError};
    ///
    /// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let chain = RawChain::<u64>::new();
    /// let reg = chain.register(&B)?;
    /// chain.unregister(&B)?; // someone else got there first
    /// assert_eq!(reg.unregister(), Err(UnregisterError::NotRegistered));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unregister(self) -> Result<(), UnregisterError> {
        let result = (self.unregister)(self.chain, self.id);
        core::mem::forget(self);
        result
    }

    /// The chain the block is registered on.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Chain, FnBlock, NotifyResult, RawChain};
    ///
    /// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let chain = RawChain::<u64>::new();
    /// let reg = chain.register(&B)?;
    /// assert!(std::ptr::eq(reg.chain(), &chain));
    /// # Ok::<(), notifier::RegisterError>(())
    /// ```
    pub fn chain(&self) -> &'c C {
        self.chain
    }
}

impl<C: ?Sized> Drop for Registration<'_, C> {
    fn drop(&mut self) {
        (self.on_drop)(self.chain, self.id);
    }
}

impl<C: ?Sized> fmt::Debug for Registration<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("block", &(self.id.0 as *const ()))
            .finish()
    }
}

/// Implements [`Chain`] for a chain kind from its inherent `pub(crate)` primitives, so the three
/// kinds share one signature and one set of docs.
macro_rules! impl_chain {
    (impl<$($g:ident $(: $b:path)?),*> for $ty:ty) => {
        impl<E: Copy, D: ?Sized, $($g $(: $b)?),*> $crate::Chain<E, D> for $ty {
            fn register<B: Into<$crate::BlockRef<E, D>>>(
                &self,
                block: B,
            ) -> Result<$crate::Registration<'_, Self>, $crate::RegisterError> {
                let id = self.insert(block.into(), false)?;
                Ok($crate::Registration::new(self, id, Self::drop_registration, Self::remove))
            }

            fn register_unique_prio<B: Into<$crate::BlockRef<E, D>>>(
                &self,
                block: B,
            ) -> Result<$crate::Registration<'_, Self>, $crate::RegisterError> {
                let id = self.insert(block.into(), true)?;
                Ok($crate::Registration::new(self, id, Self::drop_registration, Self::remove))
            }

            fn unregister<F>(
                &self,
                block: &$crate::NotifierBlock<F>,
            ) -> Result<(), $crate::UnregisterError> {
                self.remove(block.id())
            }

            fn is_registered<F>(&self, block: &$crate::NotifierBlock<F>) -> bool {
                self.with_snapshot(|s| s.position(block.id()).is_some())
            }

            fn len(&self) -> usize {
                self.with_snapshot(|s| s.len())
            }

            #[inline]
            fn call(&self, event: E, data: &D) -> $crate::NotifyResult {
                // SAFETY: `with_entries` keeps every block of the slice alive while `f` runs.
                self.with_entries(|entries| unsafe { $crate::walk::call(entries, event, data) })
            }

            #[inline]
            fn call_bounded(&self, event: E, data: &D, nr_to_call: usize) -> $crate::Bounded {
                // SAFETY: as in `call`.
                self.with_entries(|entries| unsafe {
                    $crate::walk::call_bounded(entries, event, data, nr_to_call)
                })
            }

            fn call_robust(&self, up: E, down: E, data: &D) -> $crate::NotifyResult {
                // SAFETY: as in `call`; one slice for both walks.
                self.with_entries(|entries| unsafe {
                    $crate::walk::call_robust(
                        entries,
                        up,
                        down,
                        data,
                        $crate::walk::Rollback::Forward,
                        $crate::walk::Veto::Stop,
                    )
                })
            }

            fn call_robust_errno(&self, up: E, down: E, data: &D) -> $crate::NotifyResult {
                // SAFETY: as in `call`; one slice for both walks.
                self.with_entries(|entries| unsafe {
                    $crate::walk::call_robust(
                        entries,
                        up,
                        down,
                        data,
                        $crate::walk::Rollback::Forward,
                        $crate::walk::Veto::Errno,
                    )
                })
            }

            fn call_robust_reversed(&self, up: E, down: E, data: &D) -> $crate::NotifyResult {
                // SAFETY: as in `call`; one slice for both walks.
                self.with_entries(|entries| unsafe {
                    $crate::walk::call_robust(
                        entries,
                        up,
                        down,
                        data,
                        $crate::walk::Rollback::Reverse,
                        $crate::walk::Veto::Stop,
                    )
                })
            }
        }
    };
}
pub(crate) use impl_chain;
