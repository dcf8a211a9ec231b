//! Loom model checks of `AtomicChain` on `ThreadRcu`: every interleaving (and every outcome the
//! memory model allows) of a call racing with register and unregister.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p notifier --release --test loom` (CI does).
//! Under loom each published snapshot carries a cell that walks read and freeing writes, so a walk
//! not ordered before the free of its snapshot is reported as a causality violation.
//!
//! `ThreadRcu`'s membarrier flavour is modelled by its fences flavour: the full barrier that
//! `membarrier(2)` makes each running reader execute is placed at the reader's compiler fence (a
//! `SeqCst` fence there, on the reader's behalf) and the writer's side is its own `SeqCst` fence.
//! The models thus check the slot protocol built on that barrier pair — including thread exit and
//! slot reuse — not the kernel's guarantee, nor barrier placements outside the section (which
//! order more, not less; the argument is in the `flavour` module's docs).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;

use notifier::{AtomicChain, Chain, Notifier, NotifierBlock, NotifyResult};

/// Counts its calls; fails the model if called after its chain's `unregister` returned, or
/// after being dropped.
struct Probe {
    calls: Arc<AtomicUsize>,
    unregistered: Arc<AtomicBool>,
    alive: Arc<AtomicBool>,
    result: NotifyResult,
}

impl Notifier<u64> for Probe {
    fn notify(&self, _: u64, _: &()) -> NotifyResult {
        assert!(self.alive.load(SeqCst), "callback of a dropped block ran");
        assert!(
            !self.unregistered.load(SeqCst),
            "callback ran after unregister returned"
        );
        self.calls.fetch_add(1, SeqCst);
        self.result
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.alive.store(false, SeqCst);
    }
}

struct Handle {
    block: std::sync::Arc<NotifierBlock<Probe>>,
    calls: Arc<AtomicUsize>,
    unregistered: Arc<AtomicBool>,
}

fn probe(prio: i32, result: NotifyResult) -> Handle {
    let calls = Arc::new(AtomicUsize::new(0));
    let unregistered = Arc::new(AtomicBool::new(false));
    let block = std::sync::Arc::new(NotifierBlock::new(
        Probe {
            calls: calls.clone(),
            unregistered: unregistered.clone(),
            alive: Arc::new(AtomicBool::new(true)),
            result,
        },
        prio,
    ));
    Handle {
        block,
        calls,
        unregistered,
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A block registered before the call and never unregistered is called exactly once; a block
/// unregistered concurrently is called at most once, never after `unregister` returned, and its
/// memory outlives every walk that can see it.
#[test]
fn call_races_with_unregister() {
    model(|| {
        let chain = Arc::new(AtomicChain::<u64>::new());
        let stays = probe(1, NotifyResult::OK);
        let goes = probe(2, NotifyResult::OK);
        chain.register(stays.block.clone()).unwrap().keep();
        chain.register(goes.block.clone()).unwrap().keep();

        let reader = {
            let chain = chain.clone();
            thread::spawn(move || chain.call(0, &()))
        };
        chain.unregister(&goes.block).unwrap();
        goes.unregistered.store(true, SeqCst);
        drop(goes.block); // the last handle: the block is freed here

        assert_eq!(reader.join().unwrap(), NotifyResult::OK);
        assert_eq!(stays.calls.load(SeqCst), 1);
        assert!(goes.calls.load(SeqCst) <= 1);
    });
}

/// A block registered during a call is called at most once by it; the blocks already there
/// exactly once.
#[test]
fn call_races_with_register() {
    model(|| {
        let chain = Arc::new(AtomicChain::<u64>::new());
        let old = probe(1, NotifyResult::OK);
        let new = probe(2, NotifyResult::OK);
        chain.register(old.block.clone()).unwrap().keep();

        let reader = {
            let chain = chain.clone();
            thread::spawn(move || chain.call(0, &()))
        };
        chain.register(new.block.clone()).unwrap().keep();

        reader.join().unwrap();
        assert_eq!(old.calls.load(SeqCst), 1);
        assert!(new.calls.load(SeqCst) <= 1);
        chain.unregister(&new.block).unwrap();
        chain.unregister(&old.block).unwrap();
    });
}

/// A robust call racing with an unregister and a register: both walks see one snapshot, so the
/// rollback reaches exactly the blocks before the veto in the chain the up walk saw.
#[test]
fn robust_call_sees_one_chain() {
    model(|| {
        let chain = Arc::new(AtomicChain::<u64>::new());
        let first = probe(3, NotifyResult::OK);
        let veto = probe(1, NotifyResult::BAD);
        let late = probe(2, NotifyResult::OK);
        chain.register(first.block.clone()).unwrap().keep();
        chain.register(veto.block.clone()).unwrap().keep();

        let reader = {
            let chain = chain.clone();
            thread::spawn(move || chain.call_robust(0, 1, &()))
        };
        chain.register(late.block.clone()).unwrap().keep();
        chain.unregister(&first.block).unwrap();
        first.unregistered.store(true, SeqCst);

        assert_eq!(reader.join().unwrap(), NotifyResult::BAD);
        assert_eq!(
            veto.calls.load(SeqCst),
            1,
            "the veto is called once, and gets no rollback"
        );
        let (f, l) = (first.calls.load(SeqCst), late.calls.load(SeqCst));
        // Snapshots the call may have seen: {first, veto} -> first up+down;
        // {first, late, veto} -> first and late up+down; {late, veto} -> late up+down.
        assert!(
            matches!((f, l), (2, 0) | (2, 2) | (0, 2)),
            "first={f} late={l}"
        );
        chain.unregister(&late.block).unwrap();
        chain.unregister(&veto.block).unwrap();
    });
}

/// A thread leaks a guard and exits; the next thread to enter a section gets the recycled slot.
/// A call on that thread racing with `unregister` must still be waited for: the exit teardown
/// closes the leaked section, so the new owner's sections are odd again. (Loom runs thread-local
/// destructors in no fixed order, so the exit is modelled by calling the teardown `OWNER`'s
/// destructor runs; the real destructor then finds nothing to do.)
#[test]
fn a_leaked_guard_at_thread_exit_keeps_grace_periods() {
    use notifier::{Rcu, ThreadRcu};
    model(|| {
        thread::spawn(|| {
            std::mem::forget(ThreadRcu.read_lock());
            ThreadRcu::__thread_exit();
        })
        .join()
        .unwrap();

        let chain = Arc::new(AtomicChain::<u64>::new());
        let goes = probe(1, NotifyResult::OK);
        chain.register(goes.block.clone()).unwrap().keep();
        let reader = {
            let chain = chain.clone();
            thread::spawn(move || {
                let r = chain.call(0, &());
                // The reader reused the leaker's slot (loom has 4; the leaker held the first).
                assert_eq!(ThreadRcu::__slot_index(), Some(0));
                r
            })
        };
        chain.unregister(&goes.block).unwrap();
        goes.unregistered.store(true, SeqCst);
        drop(goes.block);
        let r = reader.join().unwrap();
        assert!(r == NotifyResult::OK || r == NotifyResult::DONE);
        assert!(goes.calls.load(SeqCst) <= 1);
    });
}
