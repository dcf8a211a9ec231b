//! [`ThreadRcu`]: a process-wide RCU domain with one reader slot per thread.
//!
//! # How it works
//!
//! Every thread that enters a read section owns a *slot*: a sequence number on a cache line of its
//! own, odd while the thread is inside a read section. Entering the outermost section stores the
//! next odd value and issues the *read-side barrier*; leaving stores the next even value
//! (`Release`). Only the owner writes its slot, so readers never contend and never execute a
//! read-modify-write.
//!
//! `synchronize` issues the *write-side barrier* and then reads every slot; for each slot that is
//! odd, it waits until the value changes (the section it saw has ended).
//!
//! The barrier pair comes in two flavours (see [`RcuFlavour`] and the `flavour` module): on
//! Linux a compiler fence in the reader and `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` in the
//! writer; elsewhere a `SeqCst` fence on each side. The argument below is written for the fences;
//! the `flavour` module shows that the membarrier pair gives the reader the same full barrier
//! between its store and its loads, at a point ordered with the writer's.
//!
//! # Why it is correct (the [`Rcu`] contract)
//!
//! The two fences make a Dekker pair. Take a writer that published a pointer `P` (a `Release` store)
//! before calling `synchronize`, and a reader section whose slot store `S` precedes its fence `Fr`,
//! which precedes its load `L` of the pointer. The writer's fence `Fw` precedes its load `C` of the
//! slot. `SeqCst` fences are totally ordered:
//!
//! * if `Fw` comes before `Fr`, then `L` sees `P` or later (C++ [atomics.fences], SC fence rule):
//!   the section reads the new pointer and never the old one;
//! * if `Fr` comes before `Fw`, then `C` sees `S` or later: the writer either sees the section
//!   open (odd) and waits for its end, or sees a later value stored by the same thread — the end
//!   of that section (an `Acquire` load of its `Release` store: the section happens-before the
//!   writer continues) or of a later one.
//!
//! Slots are claimed with an `Acquire` compare-exchange and given back with a `Release` store at
//! thread exit, so a new owner continues the sequence where the old one left it (even). Slots are
//! never freed: 64 live in a static array (claiming one does not allocate), more are leaked on a
//! lock-free list that only grows to the peak number of threads ever inside a read section at once.
//!
//! # Thread exit, and guards that outlive their section
//!
//! Safe code can end a thread with a section open: `std::mem::forget(ThreadRcu.read_lock())`, or a
//! guard kept in a thread-local. A slot given back with an odd value would hand its next owner an
//! inverted parity (its sections even, its idle time odd), and `synchronize` would then return
//! while that thread is inside a section — freeing what it reads. So the teardown at thread exit
//! (`Local::exit`, run by `OWNER`'s destructor) *closes* any open section before it gives the slot
//! back: it stores the next even value (`Release`), resets the depth, and bumps the thread's
//! section *generation*. Why that is sound:
//!
//! * `OWNER`'s destructor runs after the thread's main function has returned, and thread-local
//!   destructors run one after another, never nested inside user code of the same thread. So no
//!   frame that entered a section is still on the stack: `AtomicChain` only uses sections scoped
//!   to a call, and none is running. A *forgotten* guard protects nothing.
//! * A guard can still be alive in another thread-local whose destructor runs later (destructors
//!   run in reverse order of registration). Its section was closed for it — a section of
//!   `ThreadRcu` ends at the latest when its thread's `ThreadRcu` state is torn down, and this is
//!   part of the type's contract. Each guard carries the generation it was opened in; `leave`
//!   ignores a guard of an older generation, so the late drop neither underflows the depth nor
//!   closes a section that a later destructor opened since.
//! * A section opened after the teardown (a later destructor calling an atomic chain) claims a
//!   slot *transiently*: it is announced like any other (odd value, fence) and the slot is given
//!   back when its outermost guard drops.
//! * Closing at exit means a dead thread never blocks `synchronize` for good. (A guard forgotten
//!   on a live thread, or by a destructor after the teardown, does: the section never ends — as
//!   a forgotten lock guard keeps its lock.)
//!
//! `tests/loom.rs` model-checks this argument together with `AtomicChain`, the thread-exit case
//! included; `tests/thread_exit.rs` runs it with real threads.

#![allow(unsafe_code)]

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ptr;
#[cfg(not(loom))]
use core::sync::atomic::Ordering::SeqCst;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use alloc::boxed::Box;

use super::Rcu;
use super::flavour::{self, RcuFlavour};
use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, Backoff};

/// The process-wide RCU domain of `std` builds: the default read side of
/// [`AtomicChain`](crate::AtomicChain).
///
/// A read section costs a thread-local access and one store to the thread's own cache line — on
/// Linux no fence instruction (grace periods issue `membarrier(2)` instead; see
/// [`flavour`](ThreadRcu::flavour)), elsewhere a fence — no shared write, no lock, no
/// allocation. A grace period reads one slot per thread that ever entered a read section and
/// waits only for sections already running. All chains share the domain: [`in_read_section`](Rcu::in_read_section) is true inside a callback of *any* atomic
/// chain, which is why `unregister` from there reports
/// [`WouldDeadlock`](crate::UnregisterError::WouldDeadlock) rather than waiting for itself.
///
/// A thread's sections end, at the latest, when the thread exits: a guard leaked with
/// [`mem::forget`](core::mem::forget) does not hold up grace periods once its thread is gone, and
/// a guard kept in a thread-local destroyed after `ThreadRcu`'s own state protects nothing (its
/// drop does nothing). A guard forgotten on a live thread keeps its section open for good, and
/// with it every `synchronize` (as a forgotten lock guard keeps its lock).
///
/// # Examples
///
/// ```
/// use notifier::{Rcu, ThreadRcu};
///
/// let rcu = ThreadRcu;
/// assert!(!rcu.in_read_section());
/// {
///     let _guard = rcu.read_lock();
///     assert!(rcu.in_read_section());
/// }
/// rcu.synchronize(); // no section open: returns at once
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadRcu;

impl fmt::Debug for ThreadRcu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThreadRcu")
    }
}

/// A read section of [`ThreadRcu`]; leaves it when dropped. Not `Send`: a section belongs to the
/// thread that entered it.
///
/// # Examples
///
/// ```
/// use notifier::{Rcu, ThreadRcu};
///
/// let outer = ThreadRcu.read_lock();
/// let inner = ThreadRcu.read_lock(); // sections nest
/// drop(inner);
/// assert!(ThreadRcu.in_read_section());
/// drop(outer);
/// assert!(!ThreadRcu.in_read_section());
/// ```
pub struct ThreadReadGuard {
    /// The thread's section generation when the guard was made: a guard of an older generation
    /// had its section closed at thread exit, and its drop does nothing (module docs).
    generation: u32,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for ThreadReadGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThreadReadGuard")
    }
}

// SAFETY: see the module docs: `read_lock` announces the section in the thread's slot and issues
// the read-side barrier before the caller loads anything (points 1 and 3); `synchronize` issues
// the write-side barrier of the same flavour, then waits for every odd
// slot to change, reading with `Acquire` (point 2); the thread-local depth answers point 4.
unsafe impl Rcu for ThreadRcu {
    type Guard<'a> = ThreadReadGuard;

    #[inline]
    fn read_lock(&self) -> ThreadReadGuard {
        ThreadReadGuard {
            generation: LOCAL.with(Local::enter),
            _not_send: PhantomData,
        }
    }

    fn synchronize(&self) {
        synchronize();
    }

    #[inline]
    fn in_read_section(&self) -> bool {
        LOCAL.with(|l| l.depth.get() > 0)
    }
}

impl Drop for ThreadReadGuard {
    #[inline]
    fn drop(&mut self) {
        LOCAL.with(|l| l.leave(self.generation));
    }
}

/// One thread's announcement of its read sections.
#[repr(align(128))] // a cache line (pair) of its own: readers never share a line
struct Slot {
    /// Odd while the owning thread is inside a read section. Written only by the owner.
    seq: AtomicU64,
    /// Whether a thread owns the slot.
    owned: AtomicBool,
    /// The next slot on the overflow list (null at the end, and for the static slots).
    next: AtomicPtr<Slot>,
}

impl Slot {
    #[cfg(not(loom))]
    const fn new(owned: bool) -> Slot {
        Slot {
            seq: AtomicU64::new(0),
            owned: AtomicBool::new(owned),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[cfg(loom)]
    fn new(owned: bool) -> Slot {
        Slot {
            seq: AtomicU64::new(0),
            owned: AtomicBool::new(owned),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    fn try_claim(&self) -> bool {
        // Acquire: pairs with the previous owner's Release in `release`, so we continue its
        // sequence from its last (even) value.
        !self.owned.load(Relaxed)
            && self
                .owned
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
    }

    fn release(&self) {
        self.owned.store(false, Release);
    }
}

/// Static slots: enough for most processes, so that claiming one never allocates.
const FIXED: usize = if cfg!(loom) { 4 } else { 64 };

struct Registry {
    fixed: [Slot; FIXED],
    /// Head of the overflow list: leaked slots, pushed with `Release`, never unlinked or freed.
    overflow: AtomicPtr<Slot>,
}

#[cfg(not(loom))]
static REGISTRY: Registry = Registry {
    fixed: [const { Slot::new(false) }; FIXED],
    overflow: AtomicPtr::new(ptr::null_mut()),
};

#[cfg(loom)]
loom::lazy_static! {
    static ref REGISTRY: Registry = Registry {
        fixed: core::array::from_fn(|_| Slot::new(false)),
        overflow: AtomicPtr::new(ptr::null_mut()),
    };
}

fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    fn slots(&'static self) -> impl Iterator<Item = &'static Slot> {
        let mut next = self.overflow.load(Acquire);
        let overflow = core::iter::from_fn(move || {
            // SAFETY: overflow slots are leaked `Box`es (never freed), fully initialised before
            // the `Release` push that made them reachable, which our `Acquire` loads pair with.
            let slot: &'static Slot = unsafe { next.as_ref()? };
            next = slot.next.load(Acquire);
            Some(slot)
        });
        self.fixed.iter().chain(overflow)
    }

    #[cold]
    fn claim(&'static self) -> &'static Slot {
        if let Some(slot) = self.slots().find(|s| s.try_claim()) {
            return slot;
        }
        let slot: &'static Slot = Box::leak(Box::new(Slot::new(true)));
        let mut head = self.overflow.load(Relaxed);
        loop {
            slot.next.store(head, Relaxed);
            // Release: publishes the slot's initialisation to `slots()`.
            match self.overflow.compare_exchange_weak(
                head,
                ptr::from_ref(slot).cast_mut(),
                Release,
                Relaxed,
            ) {
                Ok(_) => return slot,
                Err(current) => head = current,
            }
        }
    }
}

/// This thread's view of its slot.
struct Local {
    slot: Cell<Option<&'static Slot>>,
    /// Read-section nesting depth: the number of live guards of the current generation (`u64`:
    /// forgetting guards one by one can never overflow it).
    depth: Cell<u64>,
    /// Bumped when thread exit closes an open section (module docs); at most once per thread.
    generation: Cell<u32>,
    /// The value last stored in the slot (the owner's copy: saves a load).
    seq: Cell<u64>,
    /// Give the slot back when the outermost section ends: it was claimed while this thread's
    /// thread-locals were being destroyed, too late for [`Owner`] to give it back at exit.
    transient: Cell<bool>,
}

/// Gives this thread's slot back when the thread exits.
struct Owner;

#[cfg(not(loom))]
std::thread_local! {
    // `const` and without `Drop`: the fast path is a plain thread-local access, and `LOCAL` is
    // usable even while other thread-locals are being destroyed.
    static LOCAL: Local = const {
        Local {
            slot: Cell::new(None),
            depth: Cell::new(0),
            generation: Cell::new(0),
            seq: Cell::new(0),
            transient: Cell::new(false),
        }
    };
    static OWNER: Owner = const { Owner };
}

#[cfg(loom)]
loom::thread_local! {
    static LOCAL: Local = Local {
        slot: Cell::new(None),
        depth: Cell::new(0),
        generation: Cell::new(0),
        seq: Cell::new(0),
        transient: Cell::new(false),
    };
    static OWNER: Owner = Owner;
}

impl Drop for Owner {
    fn drop(&mut self) {
        // `LOCAL` has no destructor, so it is still there.
        let _ = LOCAL.try_with(Local::exit);
    }
}

impl Local {
    /// Enters a section; returns the generation its guard belongs to.
    #[inline]
    fn enter(&self) -> u32 {
        let depth = self.depth.get();
        if depth == 0 {
            let slot = match self.slot.get() {
                Some(slot) => slot,
                None => self.claim(),
            };
            let seq = self.seq.get() + 1;
            slot.seq.store(seq, Relaxed);
            // Orders the announcement above before every load of the section: a `SeqCst` fence,
            // or a compiler fence under the membarrier flavour. Pairs with the writer's barrier
            // in `synchronize` (module docs: the Dekker pair).
            flavour::read_side();
            self.seq.set(seq);
        }
        self.depth.set(depth + 1);
        self.generation.get()
    }

    #[inline]
    fn leave(&self, generation: u32) {
        if generation != self.generation.get() {
            // Its section was closed at thread exit (module docs).
            return;
        }
        // A guard of the current generation is one of the `depth` live ones: no underflow.
        let depth = self.depth.get() - 1;
        self.depth.set(depth);
        if depth == 0 {
            if let Some(slot) = self.slot.get() {
                let seq = self.seq.get() + 1;
                // Release: the section's loads happen-before a writer's Acquire load of this
                // value, and so before the writer frees what the section read.
                slot.seq.store(seq, Release);
                self.seq.set(seq);
                if self.transient.replace(false) {
                    self.slot.set(None);
                    slot.release();
                }
            }
        }
    }

    /// Thread exit (`OWNER`'s destructor; loom calls it directly): closes a section left open by
    /// a guard that outlives this point, then gives the slot back, even (module docs).
    fn exit(&self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        if self.depth.get() > 0 {
            let seq = self.seq.get() + 1;
            // Release, as in `leave`: whatever the section read happens-before a writer that sees
            // it closed.
            slot.seq.store(seq, Release);
            self.seq.set(seq);
            self.depth.set(0);
            self.generation.set(self.generation.get().wrapping_add(1));
        }
        self.transient.set(false);
        slot.release();
    }

    #[cold]
    fn claim(&self) -> &'static Slot {
        let slot = registry().claim();
        // The previous owner left the slot even; our Acquire claim made its last value visible.
        self.seq.set(slot.seq.load(Relaxed));
        self.slot.set(Some(slot));
        // Registers `OWNER`'s destructor; fails only while thread-locals are being destroyed.
        self.transient.set(OWNER.try_with(|_| ()).is_err());
        slot
    }
}

/// Test hook: the slot (index + 1) a `synchronize` is waiting on, 0 if none. Written only on the
/// slow path (a section is open), so a grace period with no reader pays nothing for it.
#[cfg(not(loom))]
static WAITING_ON: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

// Under loom the index feeds no test hook.
#[cfg_attr(loom, allow(clippy::unused_enumerate_index))]
fn synchronize() {
    // Orders the caller's publication before the slot loads below (a `SeqCst` fence, then the
    // membarrier under that flavour). Pairs with the reader's barrier in `Local::enter`.
    flavour::write_side();
    for (_index, slot) in registry().slots().enumerate() {
        let seq = slot.seq.load(Acquire);
        if seq & 1 == 1 {
            #[cfg(not(loom))]
            WAITING_ON.store(_index + 1, SeqCst);
            let mut backoff = Backoff::new();
            while slot.seq.load(Acquire) == seq {
                backoff.snooze();
            }
            #[cfg(not(loom))]
            WAITING_ON.store(0, SeqCst);
        }
    }
}

impl ThreadRcu {
    /// How read sections are ordered against grace periods in this process: decided once, at the
    /// first grace period or the first call of this function, and never changed afterwards.
    ///
    /// [`RcuFlavour::Membarrier`] on Linux 4.14 and later (read sections issue no fence
    /// instruction; grace periods issue `membarrier(2)`), [`RcuFlavour::Fences`] elsewhere, when a
    /// seccomp filter refuses membarrier, or when the environment variable `NOTIFIER_THREAD_RCU`
    /// is `fences` at that moment.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{RcuFlavour, ThreadRcu};
    ///
    /// let flavour = ThreadRcu::flavour();
    /// assert_eq!(ThreadRcu::flavour(), flavour); // fixed for the life of the process
    /// if !cfg!(target_os = "linux") {
    ///     assert_eq!(flavour, RcuFlavour::Fences);
    /// }
    /// ```
    pub fn flavour() -> RcuFlavour {
        flavour::decide()
    }

    /// Test hook: fixes the flavour to fences if it is still undecided (as the environment
    /// variable would); returns the flavour in force.
    #[doc(hidden)]
    pub fn __force_fences() -> RcuFlavour {
        flavour::force_fences()
    }
}

/// Hooks for the crate's own tests (thread exit and slot reuse); not part of the API.
impl ThreadRcu {
    /// The index of the calling thread's slot, if it holds one.
    #[doc(hidden)]
    pub fn __slot_index() -> Option<usize> {
        let mine = LOCAL.with(|l| l.slot.get())?;
        registry().slots().position(|s| ptr::eq(s, mine))
    }

    /// The index of the slot a `synchronize` is waiting on right now (it saw that slot's
    /// section open and waits for it to end), if any.
    #[doc(hidden)]
    #[cfg(not(loom))]
    pub fn __waiting_on() -> Option<usize> {
        WAITING_ON.load(SeqCst).checked_sub(1)
    }

    /// Runs the calling thread's exit teardown now, as its `OWNER` destructor would (loom's
    /// thread-local destructors run in no fixed order, so the model calls it explicitly).
    #[doc(hidden)]
    #[cfg(loom)]
    pub fn __thread_exit() {
        LOCAL.with(Local::exit);
    }
}
