//! Notes that belong to no single item. Documentation only: nothing here is code.

pub mod soundness {
    //! Every `unsafe` block and `unsafe impl` of the crate, with the argument that safe code
    //! cannot break it. The full comment stands beside each one (`// SAFETY:`); this is the index.
    //!
    //! For each we asked what safe code can do against it: leak a guard or a registration
    //! (`mem::forget`), end a thread (with a section open, or from a thread-local destructor),
    //! call concurrently from many threads, call back into the chain from a callback (register,
    //! unregister, call, drop a `Registration`), panic in a callback, and run arbitrary code in the
    //! `Drop` of a block when the chain releases it.
    //!
    //! # Blocks and calls
    //!
    //! * `entry.rs`, `unsafe impl Send/Sync for Entry` — an entry is a type-erased
    //!   `&NotifierBlock<F>`: `Entry::new` is only reached through `BlockRef::from`, which requires
    //!   `F: Notifier` (so `F: Sync`) and, for an `Arc`'d block, `F: Send`; `E`/`D` values are
    //!   never stored.
    //! * `entry.rs`, `trampoline` — casts the erased pointer back to `&NotifierBlock<F>`:
    //!   `Entry::new::<F>` is the only place that pairs `trampoline::<F>` with a pointer, taken
    //!   from a `&NotifierBlock<F>`; liveness is the caller's obligation (next items).
    //! * `entry.rs`, `Entry::invoke`; `walk.rs`, `call`, `call_bounded`, `call_counting`,
    //!   `call_robust` — call a block through its entry: `unsafe fn`s whose obligation (every block
    //!   of the slice alive for the call) is passed up to `with_entries`. A panicking callback
    //!   unwinds out of them (or is caught in `call_robust`) without touching the slice again
    //!   except to call blocks before it.
    //! * `chain.rs`, `impl_chain!` (`call`, `call_bounded`, `call_robust`, `call_robust_errno`,
    //!   `call_robust_reversed`)
    //!   — run a walk inside `with_entries`: each kind's `with_entries` keeps every block of the
    //!   slice alive until the closure returns (items below).
    //!
    //! # RawChain
    //!
    //! * `raw.rs`, `unsafe impl Send for RawChain` — the chain holds an `Rc`: every clone of the
    //!   `Rc` is made by a `&self` method and dropped before it returns (also on unwind); a
    //!   callback that changes the chain swaps in a new `Rc` and the walk keeps its own clone, so
    //!   the `Arc` of a block unregistered mid-walk lives until the walk ends. `RawChain` is
    //!   `!Sync`, so no other thread can hold `&RawChain` while a method runs, and moving the chain
    //!   needs it unborrowed.
    //!
    //! # AtomicChain
    //!
    //! * `atomic.rs`, `unsafe impl Send/Sync for AtomicChain` — the chain owns raw snapshot
    //!   pointers: it owns exactly its snapshots (entries and `Arc<dyn Send + Sync>` holders) and
    //!   `R`; shared access reads through the RCU protocol and writes under the writer lock.
    //! * `atomic.rs`, `update`: `current.as_ref()` — reads the published snapshot as a writer:
    //!   under the writer lock; only writers (under that lock) unpublish a snapshot, and the
    //!   published one is never on the retired list.
    //! * `atomic.rs`, `update`: `Box::from_raw(old)` — takes ownership of the unpublished snapshot:
    //!   `old` came from `Box::into_raw` and the swap made it unreachable from `head`; it is freed
    //!   only after a grace period (`wait`), or kept on the retired list when the writer is inside
    //!   a read section (a callback registering, or dropping a `Registration`) — never freed by a
    //!   writer that cannot wait.
    //! * `atomic.rs`, `with_snapshot` / `with_entries`: `current.as_ref()` — walks a snapshot
    //!   without a lock: inside a read section of `R`; the snapshot is freed only after a grace
    //!   period that began after it was unpublished (contract points 2–3 of `Rcu`). `unregister`
    //!   from inside any section returns `WouldDeadlock` instead of waiting for itself; a panicking
    //!   callback leaves the section as its guard unwinds.
    //! * `atomic.rs`, `Drop for AtomicChain` — frees everything at once: `&mut self`: no call can
    //!   be walking (a walk borrows the chain, and so does every `Registration`).
    //!
    //! # RCU
    //!
    //! * `rcu/domain.rs`, `unsafe trait Rcu` — the contract `AtomicChain` relies on: implementing
    //!   it is `unsafe`; calling it is safe (a `synchronize` inside a section only waits for ever,
    //!   as point 4 says).
    //! * `rcu/thread.rs`, `unsafe impl Rcu for ThreadRcu` — the grace-period protocol: the argument
    //!   is the module docs of `rcu/thread.rs` (Dekker pair of fences, or membarrier; slots; thread
    //!   exit). A leaked guard on a thread that exits is closed by the exit teardown, so the slot's
    //!   next owner keeps the right parity; a guard that outlives the teardown carries an older
    //!   generation and its drop does nothing; `depth` counts exactly the live guards of the
    //!   current generation, so it cannot underflow. Model-checked by `tests/loom.rs`;
    //!   `tests/thread_exit.rs` runs the exit cases.
    //! * `rcu/thread.rs`, `Registry::slots`: `next.as_ref()` — follows the overflow list: overflow
    //!   slots are leaked `Box`es, never freed or unlinked, fully initialised before the `Release`
    //!   push that the `Acquire` loads pair with.
    //!
    //! # BlockingChain
    //!
    //! * `blocking.rs`, `calling`: `link.as_ref()` — walks this thread's stack-linked list of
    //!   running calls: each link is a local of a running `with_entries` frame, pushed after it is
    //!   made and popped by a guard that borrows it (so the link can neither move nor die first)
    //!   and runs on return and unwind alike; frames end LIFO. The list is a `const` thread-local
    //!   with no destructor, so it is usable from other thread-locals' destructors.
    //!
    //! # Panics
    //!
    //! No lock, borrow or half-done edit is held while user code runs (callbacks, a block's
    //! `Drop`), so a panic anywhere leaves every chain consistent: `RawChain`'s `RefCell` is never
    //! borrowed across a callback, `AtomicChain`'s writer lock is released before reclaiming (which
    //! drops blocks) and never held during a call, `BlockingChain`'s read guard and call record
    //! unwind with the call. A robust call catches a panicking callback (with `std`) and treats it
    //! as a veto; plain and bounded calls let it propagate.
}
