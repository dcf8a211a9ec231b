//! Panicking callbacks on every chain kind (std builds): a robust call treats a panic as a veto at
//! the callback's position and returns `NotifyResult::PANICKED`; plain and bounded calls let the
//! panic propagate, leaving the chain consistent — no read section, lock or call record leaked.

use std::panic::{AssertUnwindSafe, RefUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use notifier::{
    AtomicChain, BlockingChain, Bounded, Chain, Notifier, NotifierBlock, NotifyResult, RawChain,
    Rcu, ThreadRcu, take_callback_panic,
};

const UP: u64 = 1;
const DOWN: u64 = 2;

type Log = Arc<Mutex<Vec<(&'static str, u64)>>>;

/// Logs `(name, event)`, then panics on `panic_on` or returns `ret` for UP and OK for DOWN.
struct Cb {
    name: &'static str,
    log: Log,
    panic_on: Option<u64>,
    ret: NotifyResult,
}

impl Notifier<u64> for Cb {
    fn notify(&self, event: u64, _: &()) -> NotifyResult {
        self.log.lock().unwrap().push((self.name, event));
        if self.panic_on == Some(event) {
            panic!("{} panicked on {}", self.name, event);
        }
        if event == UP {
            self.ret
        } else {
            NotifyResult::OK
        }
    }
}

fn cb(
    log: &Log,
    name: &'static str,
    prio: i32,
    panic_on: Option<u64>,
    ret: NotifyResult,
) -> Arc<NotifierBlock<Cb>> {
    Arc::new(NotifierBlock::new(
        Cb {
            name,
            log: log.clone(),
            panic_on,
            ret,
        },
        prio,
    ))
}

fn take(log: &Log) -> Vec<(&'static str, u64)> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn payload_message() -> Option<String> {
    take_callback_panic().map(|p| match p.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => format!("{:?}", p.type_id()),
    })
}

/// A robust up walk: a, b (panics), c. The cancel reaches exactly `a`; the payload is kept.
fn robust_panic_is_a_veto<C: Chain<u64>>(chain: &C) {
    let log = Log::default();
    let a = cb(&log, "a", 3, None, NotifyResult::OK);
    let b = cb(&log, "b", 2, Some(UP), NotifyResult::OK);
    let c = cb(&log, "c", 1, None, NotifyResult::OK);
    let _ = take_callback_panic();
    let _regs = [a, b, c].map(|blk| chain.register(blk).unwrap());

    assert_eq!(chain.call_robust(UP, DOWN, &()), NotifyResult::PANICKED);
    assert_eq!(take(&log), [("a", UP), ("b", UP), ("a", DOWN)]);
    assert_eq!(payload_message().as_deref(), Some("b panicked on 1"));
    assert_eq!(take_callback_panic().map(|_| ()), None, "taken once");

    assert_eq!(
        chain.call_robust_reversed(UP, DOWN, &()),
        NotifyResult::PANICKED
    );
    assert_eq!(take(&log), [("a", UP), ("b", UP), ("a", DOWN)]);
    assert_eq!(payload_message().as_deref(), Some("b panicked on 1"));

    // The chain is intact and usable: a plain call reaches a and b, and b's panic propagates.
    assert_eq!(chain.len(), 3);
    let r = catch_unwind(AssertUnwindSafe(|| chain.call(UP, &())));
    assert!(r.is_err());
    assert_eq!(take(&log), [("a", UP), ("b", UP)]);
}

/// The first callback panics: nobody gets a cancel.
fn robust_panic_in_the_first_callback<C: Chain<u64>>(chain: &C) {
    let log = Log::default();
    let a = cb(&log, "a", 3, Some(UP), NotifyResult::OK);
    let b = cb(&log, "b", 2, None, NotifyResult::OK);
    let _regs = [a, b].map(|blk| chain.register(blk).unwrap());
    assert_eq!(chain.call_robust(UP, DOWN, &()), NotifyResult::PANICKED);
    assert_eq!(take(&log), [("a", UP)]);
    assert!(take_callback_panic().is_some());
}

/// A down callback that panics ends the rollback, as a STOP_MASK result would; the call returns
/// the up walk's veto, and no payload is kept for it.
fn robust_panic_in_the_rollback_ends_it<C: Chain<u64>>(chain: &C) {
    let log = Log::default();
    let a = cb(&log, "a", 4, None, NotifyResult::OK);
    let b = cb(&log, "b", 3, Some(DOWN), NotifyResult::OK);
    let c = cb(&log, "c", 2, None, NotifyResult::OK);
    let veto = cb(&log, "veto", 1, None, NotifyResult::BAD);
    let _ = take_callback_panic();
    let _regs = [a, b, c, veto].map(|blk| chain.register(blk).unwrap());

    assert_eq!(chain.call_robust(UP, DOWN, &()), NotifyResult::BAD);
    assert_eq!(
        take(&log),
        [
            ("a", UP),
            ("b", UP),
            ("c", UP),
            ("veto", UP),
            ("a", DOWN),
            ("b", DOWN)
        ]
    );
    assert!(take_callback_panic().is_none());

    assert_eq!(chain.call_robust_reversed(UP, DOWN, &()), NotifyResult::BAD);
    assert_eq!(
        take(&log),
        [
            ("a", UP),
            ("b", UP),
            ("c", UP),
            ("veto", UP),
            ("c", DOWN),
            ("b", DOWN)
        ]
    );
}

/// Plain and bounded calls propagate; the chain stays exactly as it was and works afterwards.
fn plain_and_bounded_propagate<C: Chain<u64> + RefUnwindSafe>(chain: &C, after: impl Fn(&C)) {
    let log = Log::default();
    let a = cb(&log, "a", 2, None, NotifyResult::OK);
    let b = cb(&log, "b", 1, Some(UP), NotifyResult::OK);
    let reg_a = chain.register(a.clone()).unwrap();
    let reg_b = chain.register(b.clone()).unwrap();

    let r = catch_unwind(|| chain.call(UP, &()));
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert_eq!(*msg, "b panicked on 1");
    after(chain);
    let r = catch_unwind(|| chain.call_bounded(UP, &(), usize::MAX));
    assert!(r.is_err());
    after(chain);
    assert_eq!(take(&log), [("a", UP), ("b", UP), ("a", UP), ("b", UP)]);

    // Bounded short of the panicking block: no panic at all.
    assert_eq!(
        chain.call_bounded(UP, &(), 1),
        Bounded {
            result: NotifyResult::OK,
            nr_calls: 1
        }
    );
    assert_eq!(take(&log), [("a", UP)]);
    assert!(chain.is_registered(&a) && chain.is_registered(&b));
    assert_eq!(chain.len(), 2);
    reg_b.unregister().unwrap();
    assert_eq!(chain.call(DOWN, &()), NotifyResult::OK);
    reg_a.unregister().unwrap();
    assert!(chain.is_empty());
}

#[test]
fn raw_chain_panics() {
    robust_panic_is_a_veto(&RawChain::new());
    robust_panic_in_the_first_callback(&RawChain::new());
    robust_panic_in_the_rollback_ends_it(&RawChain::new());
    plain_and_bounded_propagate(&RawChain::new(), |c| {
        // No borrow left behind: the chain can change.
        let extra = Arc::new(NotifierBlock::new(|_: u64, _: &()| NotifyResult::OK, 9));
        c.register(extra).unwrap().unregister().unwrap();
    });
}

#[test]
fn atomic_chain_panics() {
    robust_panic_is_a_veto(&AtomicChain::new());
    robust_panic_in_the_first_callback(&AtomicChain::new());
    robust_panic_in_the_rollback_ends_it(&AtomicChain::new());
    plain_and_bounded_propagate(&AtomicChain::new(), |c| {
        // The read section was left on unwind: unregister can wait for a grace period.
        assert!(!ThreadRcu.in_read_section());
        let extra = Arc::new(NotifierBlock::new(|_: u64, _: &()| NotifyResult::OK, 9));
        c.register(extra).unwrap().unregister().unwrap();
    });
}

#[test]
fn blocking_chain_panics() {
    robust_panic_is_a_veto(&BlockingChain::new());
    robust_panic_in_the_first_callback(&BlockingChain::new());
    robust_panic_in_the_rollback_ends_it(&BlockingChain::new());
    plain_and_bounded_propagate(&BlockingChain::new(), |c| {
        // The read lock was released and the call record popped: this thread may write.
        assert!(!c.__is_locked());
        let extra = Arc::new(NotifierBlock::new(|_: u64, _: &()| NotifyResult::OK, 9));
        c.register(extra).unwrap().unregister().unwrap();
    });
}

/// A panic in a nested call of the same blocking chain unwinds both calls' records and locks.
#[test]
fn blocking_nested_call_panic_unwinds_both_levels() {
    static CHAIN: BlockingChain<u64> = BlockingChain::new();
    let outer = Arc::new(NotifierBlock::new(
        |e: u64, _: &()| {
            if e == UP {
                CHAIN.call(DOWN, &());
            }
            NotifyResult::OK
        },
        2,
    ));
    let inner = Arc::new(NotifierBlock::new(
        |e: u64, _: &()| {
            if e == DOWN {
                panic!("inner");
            }
            NotifyResult::OK
        },
        1,
    ));
    let _o = CHAIN.register(outer).unwrap();
    let _i = CHAIN.register(inner).unwrap();
    assert!(catch_unwind(|| CHAIN.call(UP, &())).is_err());
    assert!(!CHAIN.__is_locked());
    // A robust call catches it at the outer callback's boundary: the inner call propagated it.
    assert_eq!(CHAIN.call_robust(UP, DOWN, &()), NotifyResult::PANICKED);
    assert_eq!(
        take_callback_panic().and_then(|p| p.downcast_ref::<&str>().copied()),
        Some("inner")
    );
    assert!(!CHAIN.__is_locked());
}
