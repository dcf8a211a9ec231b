//! Notifier blocks: a callback and its priority, the unit a chain links.
//!
//! As in Linux, the caller owns the block and the chain only refers to it. A block can be a
//! `static` (built by the `const fn` [`NotifierBlock::new`]) or shared through an [`Arc`]; in the
//! second case the chain keeps the `Arc` alive until no call can still reach the block, so dropping
//! your own handle right after `unregister` is always safe. A block is identified by its address:
//! registering the same block twice is refused, and [`Chain::unregister`](crate::Chain::unregister)
//! takes a reference to it.

use alloc::sync::Arc;
use core::fmt;

use crate::NotifyResult;
use crate::entry::{Entry, Holder};

/// A notifier callback: Linux's `notifier_call(nb, val, v)`, with a typed event `E` (the kernel's
/// `unsigned long val`) and typed data `D` (its `void *v`).
///
/// Every `Fn(E, &D) -> NotifyResult + Sync` is a `Notifier`; implement the trait yourself for a
/// callback that carries state. Callbacks run concurrently on [`AtomicChain`](crate::AtomicChain)
/// and [`BlockingChain`](crate::BlockingChain), hence `Sync`.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use notifier::{Notifier, NotifyResult};
///
/// struct Counter(AtomicU32);
/// impl Notifier<u64> for Counter {
///     fn notify(&self, _event: u64, _data: &()) -> NotifyResult {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         NotifyResult::OK
///     }
/// }
/// let c = Counter(AtomicU32::new(0));
/// assert_eq!(c.notify(7, &()), NotifyResult::OK);
/// ```
pub trait Notifier<E, D: ?Sized = ()>: Sync {
    /// Handles one event. A result with [`NotifyResult::STOP_MASK`] set stops the chain.
    fn notify(&self, event: E, data: &D) -> NotifyResult;
}

impl<E, D: ?Sized, F> Notifier<E, D> for F
where
    F: Fn(E, &D) -> NotifyResult + Sync,
{
    #[inline(always)]
    fn notify(&self, event: E, data: &D) -> NotifyResult {
        self(event, data)
    }
}

/// A callback with a priority: Linux's `struct notifier_block`.
///
/// Higher priorities are called first; among equal priorities, registration order (FIFO).
///
/// # Examples
///
/// A `static` block, as a kernel writes it:
///
/// ```
/// use notifier::{Chain, FnBlock, NotifyResult, RawChain};
///
/// fn on_event(event: u64, _: &()) -> NotifyResult {
///     if event == 0 { NotifyResult::BAD } else { NotifyResult::OK }
/// }
/// static BLOCK: FnBlock<u64> = FnBlock::new(on_event, 10);
///
/// let chain = RawChain::<u64>::new();
/// chain.register(&BLOCK)?.keep();
/// assert_eq!(chain.call(1, &()), NotifyResult::OK);
/// assert_eq!(chain.call(0, &()), NotifyResult::BAD);
/// # Ok::<(), notifier::RegisterError>(())
/// ```
pub struct NotifierBlock<F> {
    callback: F,
    priority: i32,
}

/// A block whose callback is a plain function pointer: the type a `static` block usually has.
///
/// # Examples
///
/// ```
/// use notifier::{FnBlock, NotifyResult};
///
/// static B: FnBlock<u64, u32> = FnBlock::new(|_, _| NotifyResult::DONE, -5);
/// assert_eq!(B.priority(), -5);
/// ```
pub type FnBlock<E, D = ()> = NotifierBlock<fn(E, &D) -> NotifyResult>;

impl<F> NotifierBlock<F> {
    /// A block calling `callback`, with `priority` (higher first).
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{NotifierBlock, NotifyResult};
    ///
    /// let b = NotifierBlock::new(|_: u64, _: &()| NotifyResult::OK, 3);
    /// assert_eq!(b.priority(), 3);
    /// ```
    pub const fn new(callback: F, priority: i32) -> NotifierBlock<F> {
        NotifierBlock { callback, priority }
    }

    /// The priority the block registers with.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::{NotifierBlock, NotifyResult};
    /// assert_eq!(NotifierBlock::new(|_: u64, _: &()| NotifyResult::OK, -1).priority(), -1);
    /// ```
    pub const fn priority(&self) -> i32 {
        self.priority
    }

    /// The callback.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::{Notifier, NotifierBlock, NotifyResult};
    /// let b = NotifierBlock::new(|e: u64, _: &()| NotifyResult::from_raw(e as i32), 0);
    /// assert_eq!(b.callback().notify(5, &()).raw(), 5);
    /// ```
    pub const fn callback(&self) -> &F {
        &self.callback
    }

    /// The block's identity: its address.
    pub(crate) fn id(&self) -> BlockId {
        BlockId(self as *const Self as *const () as usize)
    }
}

impl<F> fmt::Debug for NotifierBlock<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifierBlock")
            .field("priority", &self.priority)
            .field("at", &(self as *const Self))
            .finish_non_exhaustive()
    }
}

/// A block's identity within a chain: its address (blocks are never zero-sized, so two live
/// blocks never share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockId(pub(crate) usize);

/// Something a chain can register: a `&'static` block, or an `Arc`'d one that the chain keeps
/// alive while it may still call it. Built by `From`, so `register` takes either directly.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use notifier::{AtomicChain, Chain, NotifierBlock, NotifyResult};
///
/// let chain = AtomicChain::<u64>::new();
/// let block = Arc::new(NotifierBlock::new(|_: u64, _: &()| NotifyResult::OK, 0));
/// let reg = chain.register(block.clone())?; // `Arc<NotifierBlock<_>>` → `BlockRef`
/// assert!(chain.is_registered(&block));
/// drop(reg); // unregisters
/// assert!(chain.is_empty());
/// # Ok::<(), notifier::RegisterError>(())
/// ```
pub struct BlockRef<E, D: ?Sized = ()> {
    pub(crate) entry: Entry<E, D>,
    pub(crate) holder: Holder,
}

impl<E, D: ?Sized> fmt::Debug for BlockRef<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockRef")
            .field("priority", &self.entry.priority)
            .field("shared", &self.holder.is_some())
            .finish_non_exhaustive()
    }
}

impl<E, D: ?Sized, F: Notifier<E, D> + 'static> From<&'static NotifierBlock<F>> for BlockRef<E, D> {
    fn from(block: &'static NotifierBlock<F>) -> BlockRef<E, D> {
        BlockRef {
            entry: Entry::new(block),
            holder: None,
        }
    }
}

impl<E, D: ?Sized, F: Notifier<E, D> + Send + 'static> From<Arc<NotifierBlock<F>>>
    for BlockRef<E, D>
{
    fn from(block: Arc<NotifierBlock<F>>) -> BlockRef<E, D> {
        BlockRef {
            // The entry points into the Arc's allocation, which `holder` keeps alive.
            entry: Entry::new(&*block),
            holder: Some(block),
        }
    }
}
