//! The type-erased form of a registered block, as the call path sees it.
//!
//! An [`Entry`] is two words and a priority: a pointer to the block and a monomorphised
//! trampoline that calls it. Calling an entry is one indirect call, with no vtable load in
//! between: this is what keeps a chain call as cheap as a loop over `Box<dyn Fn>`.
//!
//! **Invariant:** an entry is only invoked while its block is alive. Each chain upholds it in its
//! own way (a `'static` borrow; an `Arc` in [`Holder`] dropped only after the last call that could
//! see the entry), which is why [`Entry::invoke`] is `unsafe`.

#![allow(unsafe_code)]

use alloc::sync::Arc;
use core::marker::PhantomData;

use crate::NotifyResult;
use crate::block::{BlockId, Notifier, NotifierBlock};

/// What keeps a shared block alive: its `Arc`, type-erased; `None` for a `'static` block.
pub(crate) type Holder = Option<Arc<dyn Send + Sync>>;

/// A registered block, type-erased. See the module docs for the invariant.
pub(crate) struct Entry<E, D: ?Sized> {
    call: unsafe fn(*const (), E, &D) -> NotifyResult,
    block: *const (),
    pub(crate) priority: i32,
    _marker: PhantomData<fn(E, &D)>,
}

impl<E, D: ?Sized> Clone for Entry<E, D> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E, D: ?Sized> Copy for Entry<E, D> {}

// SAFETY: an entry is, semantically, a `&NotifierBlock<F>` with `F: Notifier` (hence `F: Sync`), and
// a shared reference to a `Sync` value may be sent and shared between threads. The `fn` pointer and
// the `PhantomData<fn(..)>` are `Send + Sync` whatever `E` and `D` are.
unsafe impl<E, D: ?Sized> Send for Entry<E, D> {}
// SAFETY: as for `Send` above.
unsafe impl<E, D: ?Sized> Sync for Entry<E, D> {}

/// Calls the block behind `block`.
///
/// # Safety
///
/// `block` must come from a `&NotifierBlock<F>` (see [`Entry::new`]) whose block is still alive.
unsafe fn trampoline<E, D: ?Sized, F: Notifier<E, D>>(
    block: *const (),
    event: E,
    data: &D,
) -> NotifyResult {
    // SAFETY: the caller guarantees `block` is a live `NotifierBlock<F>`: `Entry::new::<F>` is the
    // only place that pairs this trampoline with a pointer, and it takes that pointer from a
    // `&NotifierBlock<F>`.
    let block = unsafe { &*block.cast::<NotifierBlock<F>>() };
    block.callback().notify(event, data)
}

impl<E, D: ?Sized> Entry<E, D> {
    /// The entry for `block`. The caller must keep `block` alive as long as the entry can be
    /// invoked (the module invariant).
    pub(crate) fn new<F: Notifier<E, D>>(block: &NotifierBlock<F>) -> Entry<E, D> {
        Entry {
            call: trampoline::<E, D, F>,
            block: (block as *const NotifierBlock<F>).cast(),
            priority: block.priority(),
            _marker: PhantomData,
        }
    }

    pub(crate) fn id(&self) -> BlockId {
        BlockId(self.block as usize)
    }

    /// Calls the block.
    ///
    /// # Safety
    ///
    /// The block must still be alive (the module invariant).
    #[inline(always)]
    pub(crate) unsafe fn invoke(&self, event: E, data: &D) -> NotifyResult {
        // SAFETY: `self.call` and `self.block` were paired by `Entry::new`, and the caller
        // guarantees the block is alive.
        unsafe { (self.call)(self.block, event, data) }
    }
}
