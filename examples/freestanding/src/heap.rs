//! The global allocator: a bump allocator over a static arena.
//!
//! Allocation moves a cursor forward past alignment padding and the block; freeing rewinds the
//! cursor to the block's start only when it is the last block handed out (and `realloc` grows or
//! shrinks that block in place), so short-lived temporaries and a growing `Vec` cost nothing.
//! Everything else — blocks freed out of order, the padding before a block — stays used until
//! exit: right for a program that builds its structures once, wrong for a long-running kernel. Exhaustion returns null, which `alloc` turns into `handle_alloc_error` (a
//! panic: exit status 101). A kernel replaces this with its page/slab allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{
    AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed},
};

/// The arena's size: the program's peak is a few KiB (it prints it).
pub const ARENA_SIZE: usize = 64 * 1024;

/// A bump allocator over `ARENA_SIZE` static bytes.
pub struct Bump {
    arena: UnsafeCell<[u8; ARENA_SIZE]>,
    /// Offset of the first free byte. Only ever changed by compare-and-swap, so two callers can
    /// never be handed overlapping blocks even with threads.
    next: AtomicUsize,
    /// The highest `next` ever reached, for the report.
    peak: AtomicUsize,
}

// SAFETY: the allocator never reads or writes the arena's bytes itself; it only hands out
// disjoint ranges of it (each `next` advance is one successful CAS, so each byte belongs to at
// most one live block), and the cursor is atomic. A block is touched only by its owner, who got it
// through `alloc`; a rewind (`dealloc`) is a Release CAS that the next `alloc`'s Acquire CAS
// synchronises with, so the old owner's writes happen-before the new owner's.
unsafe impl Sync for Bump {}

impl Bump {
    /// An empty arena.
    pub const fn new() -> Bump {
        Bump {
            arena: UnsafeCell::new([0; ARENA_SIZE]),
            next: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// The most bytes (padding included) ever in use at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Relaxed)
    }

    /// Bytes in use now.
    pub fn in_use(&self) -> usize {
        self.next.load(Relaxed)
    }

    fn base(&self) -> *mut u8 {
        self.arena.get().cast::<u8>()
    }

    /// The arena offset `block` starts at, for a block this allocator handed out.
    fn offset_of(&self, block: *mut u8) -> usize {
        block.addr() - self.base().addr()
    }
}

impl Default for Bump {
    fn default() -> Bump {
        Bump::new()
    }
}

// SAFETY: `alloc` returns null or a block of `layout.size()` bytes aligned to `layout.align()`
// inside the arena, disjoint from every other live block (see `Sync` above); `dealloc` and
// `realloc` only move the cursor over the block they are given, which the caller owns.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut next = self.next.load(Relaxed);
        loop {
            // Pad from the *address* (the arena itself is only byte-aligned): `align` is a power of
            // two, so `-addr mod align` is `addr.wrapping_neg() & (align - 1)`.
            let addr = self.base().addr().wrapping_add(next);
            let pad = addr.wrapping_neg() & (layout.align() - 1);
            let Some(end) = next
                .checked_add(pad)
                .and_then(|start| start.checked_add(layout.size()))
            else {
                return ptr::null_mut();
            };
            if end > ARENA_SIZE {
                return ptr::null_mut(); // exhausted
            }
            match self.next.compare_exchange_weak(next, end, AcqRel, Relaxed) {
                Ok(_) => {
                    self.peak.fetch_max(end, Relaxed);
                    // SAFETY: `next + pad <= end <= ARENA_SIZE`, so the offset stays inside the
                    // arena (or one past its end, for a zero-sized tail); the pointer keeps the
                    // arena's provenance.
                    return unsafe { self.base().add(next + pad) };
                }
                Err(current) => next = current,
            }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // Rewind if this is the last block; otherwise it stays used until exit.
        let start = self.offset_of(block);
        let _ = self
            .next
            .compare_exchange(start + layout.size(), start, AcqRel, Relaxed);
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The last block grows or shrinks in place (its alignment is unchanged).
        let start = self.offset_of(block);
        if let Some(new_end) = start.checked_add(new_size).filter(|&e| e <= ARENA_SIZE) {
            if self
                .next
                .compare_exchange(start + layout.size(), new_end, AcqRel, Acquire)
                .is_ok()
            {
                self.peak.fetch_max(new_end, Relaxed);
                return block;
            }
        }
        if new_size <= layout.size() {
            // A block in the middle shrinks where it is; its tail stays used until exit.
            return block;
        }
        // Otherwise: a new block, the contents copied, the old block freed.
        // SAFETY: `new_size` is non-zero and, rounded to `layout.align()`, does not overflow
        // `isize` (the caller's `realloc` contract), so the layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size (as above).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: `block` is valid for `layout.size()` reads and `new` for `new_size` writes;
            // they are distinct live blocks, so they do not overlap.
            unsafe { ptr::copy_nonoverlapping(block, new, layout.size().min(new_size)) };
            // SAFETY: `block` was allocated by us with `layout` and the caller gives it up.
            unsafe { self.dealloc(block, layout) };
        }
        new
    }
}
