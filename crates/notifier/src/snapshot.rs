//! The ordered list of registered blocks, and Linux's registration rules over it.
//!
//! All three chain kinds keep their blocks in a [`Snapshot`]: the entries in call order, and beside
//! them what keeps each block alive. [`RawChain`](crate::RawChain) and
//! [`AtomicChain`](crate::AtomicChain) treat a snapshot as immutable once published and replace it
//! on every change (copy-on-write); [`BlockingChain`](crate::BlockingChain) edits one in place under
//! its write lock. Either way the rules live here, once.
//!
//! Guarantee a test can check: after any sequence of `insert` / `remove`, `entries` is sorted by
//! priority, descending, and blocks of equal priority appear in insertion order (Linux's
//! `notifier_chain_register`).

use alloc::vec::Vec;

use crate::RegisterError;
use crate::block::{BlockId, BlockRef};
use crate::entry::{Entry, Holder};

/// Registered blocks in call order, with their keep-alive handles (`holders[i]` for `entries[i]`).
pub(crate) struct Snapshot<E, D: ?Sized> {
    pub(crate) entries: Vec<Entry<E, D>>,
    holders: Vec<Holder>,
}

impl<E, D: ?Sized> Clone for Snapshot<E, D> {
    fn clone(&self) -> Self {
        Snapshot {
            entries: self.entries.clone(),
            holders: self.holders.clone(),
        }
    }
}

impl<E, D: ?Sized> Snapshot<E, D> {
    pub(crate) const fn new() -> Snapshot<E, D> {
        Snapshot {
            entries: Vec::new(),
            holders: Vec::new(),
        }
    }

    pub(crate) fn position(&self, id: BlockId) -> Option<usize> {
        self.entries.iter().position(|e| e.id() == id)
    }

    /// Links `block` where Linux would: before the first block of lower priority. Takes the block
    /// by reference (cloning its keep-alive handle) so that a refused block is dropped by the
    /// caller, outside any lock: its `Drop` is user code.
    ///
    /// # Errors
    ///
    /// [`RegisterError::AlreadyRegistered`] if the block is on the chain;
    /// [`RegisterError::PriorityTaken`] if `unique` and a block with its priority is.
    pub(crate) fn insert(
        &mut self,
        block: &BlockRef<E, D>,
        unique: bool,
    ) -> Result<(), RegisterError> {
        let new = block.entry;
        // The same walk as `notifier_chain_register`: the duplicate and unique-priority checks see
        // the blocks before the insertion point, in order. A registered block always lies before
        // that point (its own priority is never greater than itself), so duplicates are always
        // found; and which error wins when both apply matches the kernel.
        let mut at = self.entries.len();
        for (i, e) in self.entries.iter().enumerate() {
            if e.id() == new.id() {
                return Err(RegisterError::AlreadyRegistered);
            }
            if new.priority > e.priority {
                at = i;
                break;
            }
            if unique && new.priority == e.priority {
                return Err(RegisterError::PriorityTaken);
            }
        }
        self.entries.insert(at, new);
        self.holders.insert(at, block.holder.clone());
        Ok(())
    }

    /// Unlinks the block `id`, returning what kept it alive (to be dropped once no call can still
    /// reach it), or `None` if it is not on the chain.
    pub(crate) fn remove(&mut self, id: BlockId) -> Option<Holder> {
        let at = self.position(id)?;
        self.entries.remove(at);
        Some(self.holders.remove(at))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
