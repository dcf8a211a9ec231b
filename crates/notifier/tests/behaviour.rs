//! What each chain kind does at its edges: callbacks that change their own chain, misuse that
//! would deadlock in Linux, panicking callbacks, and the lifetime of `Arc`'d blocks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use notifier::{
    AtomicChain, BlockingChain, Chain, FnBlock, Notifier, NotifierBlock, NotifyResult, RawChain,
    RegisterError, UnregisterError,
};

/// A callback that logs its name and returns OK.
struct Named(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl Notifier<u64> for Named {
    fn notify(&self, _: u64, _: &()) -> NotifyResult {
        self.1.lock().unwrap().push(self.0);
        NotifyResult::OK
    }
}

fn named(
    name: &'static str,
    prio: i32,
    log: &Arc<Mutex<Vec<&'static str>>>,
) -> Arc<NotifierBlock<Named>> {
    Arc::new(NotifierBlock::new(Named(name, log.clone()), prio))
}

fn take(log: &Mutex<Vec<&'static str>>) -> Vec<&'static str> {
    std::mem::take(&mut *log.lock().unwrap())
}

// ----- every kind ------------------------------------------------------------------------------

fn empty_chain_results<C: Chain<u64>>(chain: &C) {
    assert_eq!(chain.call(1, &()), NotifyResult::DONE);
    assert_eq!(chain.call_robust(1, 2, &()), NotifyResult::DONE);
    assert_eq!(chain.call_robust_reversed(1, 2, &()), NotifyResult::DONE);
    assert_eq!(chain.call_bounded(1, &(), usize::MAX).nr_calls, 0);
    assert!(chain.is_empty());
}

#[test]
fn an_empty_chain_returns_done_everywhere() {
    empty_chain_results(&RawChain::new());
    empty_chain_results(&AtomicChain::new());
    empty_chain_results(&BlockingChain::new());
}

fn misuse_leaves_the_chain_unchanged<C: Chain<u64>>(chain: &C) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let a = named("a", 5, &log);
    let b = named("b", 5, &log);
    chain.register(a.clone()).unwrap().keep();
    assert_eq!(
        chain.register(a.clone()).err(),
        Some(RegisterError::AlreadyRegistered)
    );
    assert_eq!(
        chain.register_unique_prio(b.clone()).err(),
        Some(RegisterError::PriorityTaken)
    );
    assert_eq!(chain.unregister(&b), Err(UnregisterError::NotRegistered));
    assert_eq!(chain.len(), 1);
    chain.call(1, &());
    assert_eq!(take(&log), ["a"]);
    // The refused `Arc`s were dropped again: only our handles are left.
    assert_eq!(Arc::strong_count(&b), 1);
    chain.unregister(&a).unwrap();
    assert_eq!(Arc::strong_count(&a), 1);
}

#[test]
fn misuse_leaves_every_kind_unchanged() {
    misuse_leaves_the_chain_unchanged(&RawChain::new());
    misuse_leaves_the_chain_unchanged(&AtomicChain::new());
    misuse_leaves_the_chain_unchanged(&BlockingChain::new());
}

fn registration_guard_unregisters<C: Chain<u64>>(chain: &C) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let a = named("a", 0, &log);
    {
        let _reg = chain.register(a.clone()).unwrap();
        assert!(chain.is_registered(&a));
    }
    assert!(!chain.is_registered(&a));
    assert_eq!(Arc::strong_count(&a), 1, "the chain let go of the block");
    chain.register(a.clone()).unwrap().keep();
    assert!(chain.is_registered(&a));
}

#[test]
fn registration_guards_unregister_on_drop_unless_kept() {
    registration_guard_unregisters(&RawChain::new());
    registration_guard_unregisters(&AtomicChain::new());
    registration_guard_unregisters(&BlockingChain::new());
}

fn survives_a_panicking_callback<C: Chain<u64> + std::panic::RefUnwindSafe>(chain: &C) {
    static BOOM: FnBlock<u64> = FnBlock::new(
        |e, _| {
            if e == 9 {
                panic!("boom")
            } else {
                NotifyResult::OK
            }
        },
        0,
    );
    chain.register(&BOOM).unwrap().keep();
    let r = std::panic::catch_unwind(|| chain.call(9, &()));
    assert!(r.is_err());
    // The read section / read lock / call frame was released by unwinding.
    assert_eq!(chain.call(1, &()), NotifyResult::OK);
    assert_eq!(chain.unregister(&BOOM), Ok(()));
}

#[test]
fn a_panicking_callback_leaves_the_chain_usable() {
    survives_a_panicking_callback(&AtomicChain::new());
    survives_a_panicking_callback(&BlockingChain::new());
}

// ----- RawChain --------------------------------------------------------------------------------

#[test]
fn raw_a_callback_unregisters_itself_and_the_walk_goes_on() {
    thread_local! {
        static CHAIN: RawChain<u64> = const { RawChain::new() };
        static LOG: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    fn first(_: u64, _: &()) -> NotifyResult {
        LOG.with(|l| l.borrow_mut().push("first"));
        CHAIN.with(|c| c.unregister(&FIRST)).unwrap();
        NotifyResult::OK
    }
    fn second(_: u64, _: &()) -> NotifyResult {
        LOG.with(|l| l.borrow_mut().push("second"));
        // Registering during a call: takes effect for the next call.
        let _ = CHAIN.with(|c| c.register(&THIRD).map(|r| r.keep()));
        NotifyResult::OK
    }
    fn third(_: u64, _: &()) -> NotifyResult {
        LOG.with(|l| l.borrow_mut().push("third"));
        NotifyResult::OK
    }
    static FIRST: FnBlock<u64> = FnBlock::new(first, 10);
    static SECOND: FnBlock<u64> = FnBlock::new(second, 5);
    static THIRD: FnBlock<u64> = FnBlock::new(third, 0);
    CHAIN.with(|c| {
        c.register(&FIRST).unwrap().keep();
        c.register(&SECOND).unwrap().keep();
        assert_eq!(c.call(1, &()), NotifyResult::OK);
        assert_eq!(c.call(1, &()), NotifyResult::OK);
    });
    assert_eq!(
        LOG.with(|l| l.take()),
        ["first", "second", "second", "third"]
    );
}

#[test]
fn raw_an_arc_block_unregistered_mid_call_lives_until_the_walk_ends() {
    struct Cb {
        dropped: Arc<AtomicBool>,
    }
    impl Drop for Cb {
        fn drop(&mut self) {
            self.dropped.store(true, SeqCst);
        }
    }
    thread_local! {
        static CHAIN: RawChain<u64> = const { RawChain::new() };
        static ME: std::cell::RefCell<Option<Arc<NotifierBlock<Cb>>>> = const { std::cell::RefCell::new(None) };
    }
    impl Notifier<u64> for Cb {
        fn notify(&self, _: u64, _: &()) -> NotifyResult {
            // Drop the last handle outside the chain, then unlink: only the running walk still
            // holds the block, so `self` must stay alive until the walk ends.
            let me = ME.with(|m| m.borrow_mut().take()).unwrap();
            CHAIN.with(|c| c.unregister(&me)).unwrap();
            drop(me);
            assert!(!self.dropped.load(SeqCst));
            NotifyResult::OK
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let block = Arc::new(NotifierBlock::new(
        Cb {
            dropped: dropped.clone(),
        },
        0,
    ));
    CHAIN.with(|c| c.register(block.clone()).unwrap().keep());
    ME.with(|m| *m.borrow_mut() = Some(block));
    assert_eq!(CHAIN.with(|c| c.call(1, &())), NotifyResult::OK);
    assert!(dropped.load(SeqCst), "freed once the walk released it");
    assert!(CHAIN.with(|c| c.is_empty()));
}

// ----- AtomicChain -----------------------------------------------------------------------------

static A_CHAIN: AtomicChain<u64> = AtomicChain::new();
static A_RESULT: Mutex<Option<Result<(), UnregisterError>>> = Mutex::new(None);

#[test]
fn atomic_unregister_from_inside_a_callback_reports_would_deadlock() {
    fn cb(_: u64, _: &()) -> NotifyResult {
        *A_RESULT.lock().unwrap() = Some(A_CHAIN.unregister(&A_BLOCK));
        NotifyResult::OK
    }
    static A_BLOCK: FnBlock<u64> = FnBlock::new(cb, 0);
    A_CHAIN.register(&A_BLOCK).unwrap().keep();
    assert_eq!(A_CHAIN.call(1, &()), NotifyResult::OK);
    assert_eq!(
        A_RESULT.lock().unwrap().take(),
        Some(Err(UnregisterError::WouldDeadlock))
    );
    assert!(A_CHAIN.is_registered(&A_BLOCK), "chain unchanged");
    assert_eq!(A_CHAIN.unregister(&A_BLOCK), Ok(()));
}

#[test]
fn atomic_register_from_inside_a_callback_takes_effect_for_the_next_call() {
    static CHAIN: AtomicChain<u64> = AtomicChain::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn registrar(_: u64, _: &()) -> NotifyResult {
        let _ = CHAIN.register(&LATE).map(|r| r.keep());
        NotifyResult::OK
    }
    fn late(_: u64, _: &()) -> NotifyResult {
        CALLS.fetch_add(1, SeqCst);
        NotifyResult::OK
    }
    static REGISTRAR: FnBlock<u64> = FnBlock::new(registrar, 10);
    static LATE: FnBlock<u64> = FnBlock::new(late, 0);
    CHAIN.register(&REGISTRAR).unwrap().keep();
    CHAIN.call(1, &());
    assert_eq!(CALLS.load(SeqCst), 0, "not in the call that registered it");
    CHAIN.call(1, &());
    assert_eq!(CALLS.load(SeqCst), 1);
}

#[test]
fn atomic_a_guard_dropped_inside_its_callback_unlinks_the_block() {
    static CHAIN: AtomicChain<u64> = AtomicChain::new();
    static GUARD: Mutex<Option<notifier::Registration<'static, AtomicChain<u64>>>> =
        Mutex::new(None);
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn once(_: u64, _: &()) -> NotifyResult {
        CALLS.fetch_add(1, SeqCst);
        drop(GUARD.lock().unwrap().take());
        NotifyResult::OK
    }
    static ONCE: FnBlock<u64> = FnBlock::new(once, 0);
    *GUARD.lock().unwrap() = Some(CHAIN.register(&ONCE).unwrap());
    CHAIN.call(1, &());
    CHAIN.call(1, &());
    assert_eq!(CALLS.load(SeqCst), 1);
    assert!(CHAIN.is_empty());
}

/// Stress: readers call continuously; after `unregister` returns, the callback is not running
/// and never runs again, and the block is freed exactly once.
#[test]
fn atomic_unregister_waits_for_running_calls() {
    struct Slow {
        running: AtomicUsize,
        after: Arc<AtomicBool>,
        violations: Arc<AtomicUsize>,
        drops: Arc<AtomicUsize>,
    }
    impl Notifier<u64> for Slow {
        fn notify(&self, _: u64, _: &()) -> NotifyResult {
            if self.after.load(SeqCst) {
                self.violations.fetch_add(1, SeqCst);
            }
            self.running.fetch_add(1, SeqCst);
            for _ in 0..200 {
                std::hint::spin_loop();
            }
            self.running.fetch_sub(1, SeqCst);
            NotifyResult::OK
        }
    }
    impl Drop for Slow {
        fn drop(&mut self) {
            self.drops.fetch_add(1, SeqCst);
        }
    }
    let chain = AtomicChain::<u64>::new();
    let stop = AtomicBool::new(false);
    let violations = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(SeqCst) {
                    chain.call(1, &());
                }
            });
        }
        for _ in 0..200 {
            let after = Arc::new(AtomicBool::new(false));
            let block = Arc::new(NotifierBlock::new(
                Slow {
                    running: AtomicUsize::new(0),
                    after: after.clone(),
                    violations: violations.clone(),
                    drops: drops.clone(),
                },
                0,
            ));
            chain.register(block.clone()).unwrap().keep();
            std::thread::yield_now();
            chain.unregister(&block).unwrap();
            assert_eq!(
                block.callback().running.load(SeqCst),
                0,
                "callback still running"
            );
            after.store(true, SeqCst);
        }
        stop.store(true, SeqCst);
    });
    assert_eq!(
        violations.load(SeqCst),
        0,
        "a callback ran after unregister returned"
    );
    assert_eq!(drops.load(SeqCst), 200, "every block freed exactly once");
}

// ----- BlockingChain ---------------------------------------------------------------------------

#[test]
fn blocking_changes_from_inside_a_callback_report_would_deadlock() {
    static CHAIN: BlockingChain<u64> = BlockingChain::new();
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    fn cb(e: u64, _: &()) -> NotifyResult {
        if e == 1 {
            let u = CHAIN.unregister(&BLOCK);
            let r = CHAIN.register(&OTHER).map(|r| r.keep());
            // A nested call of the same chain works (recursive read lock).
            let n = CHAIN.call(2, &());
            SEEN.lock().unwrap().push(format!("{u:?} {r:?} {n:?}"));
        }
        NotifyResult::OK
    }
    static BLOCK: FnBlock<u64> = FnBlock::new(cb, 0);
    static OTHER: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    CHAIN.register(&BLOCK).unwrap().keep();
    assert_eq!(CHAIN.call(1, &()), NotifyResult::OK);
    assert_eq!(
        *SEEN.lock().unwrap(),
        ["Err(WouldDeadlock) Err(WouldDeadlock) NotifyResult(0x1: NOTIFY_OK)"]
    );
    assert_eq!(CHAIN.len(), 1, "chain unchanged");
}

#[test]
fn blocking_a_guard_dropped_inside_its_callback_unlinks_after_the_call() {
    static CHAIN: BlockingChain<u64> = BlockingChain::new();
    static GUARD: Mutex<Option<notifier::Registration<'static, BlockingChain<u64>>>> =
        Mutex::new(None);
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn once(_: u64, _: &()) -> NotifyResult {
        CALLS.fetch_add(1, SeqCst);
        drop(GUARD.lock().unwrap().take());
        NotifyResult::OK
    }
    static ONCE: FnBlock<u64> = FnBlock::new(once, 0);
    *GUARD.lock().unwrap() = Some(CHAIN.register(&ONCE).unwrap());
    CHAIN.call(1, &());
    assert!(
        CHAIN.is_empty(),
        "unlinked when the outermost call returned"
    );
    CHAIN.call(1, &());
    assert_eq!(CALLS.load(SeqCst), 1);
}

#[test]
fn blocking_unregister_waits_for_a_sleeping_callback() {
    static CHAIN: BlockingChain<u64> = BlockingChain::new();
    static INSIDE: AtomicBool = AtomicBool::new(false);
    fn sleepy(_: u64, _: &()) -> NotifyResult {
        INSIDE.store(true, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(50));
        INSIDE.store(false, SeqCst);
        NotifyResult::OK
    }
    static SLEEPY: FnBlock<u64> = FnBlock::new(sleepy, 0);
    CHAIN.register(&SLEEPY).unwrap().keep();
    std::thread::scope(|s| {
        s.spawn(|| CHAIN.call(1, &()));
        while !INSIDE.load(SeqCst) {
            std::thread::yield_now();
        }
        CHAIN.unregister(&SLEEPY).unwrap();
        assert!(
            !INSIDE.load(SeqCst),
            "unregister returned while the callback slept"
        );
    });
}
