//! A counting global allocator proves that calls on `AtomicChain` never allocate — not even the
//! first call a thread ever makes (its reader slot comes from a static array).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use notifier::{AtomicChain, Chain, NotifierBlock, NotifyResult};

/// Counts the allocations of the current thread only, so the test harness's threads don't
/// interfere.
struct Counting;

std::thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to `System`; the counter is a const thread-local without destructor, so
// touching it never allocates or recurses.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn calls_on_an_atomic_chain_allocate_nothing() {
    let chain = Arc::new(AtomicChain::<u64>::new());
    let blocks: Vec<_> = (0..8)
        .map(|i| {
            Arc::new(NotifierBlock::new(
                move |e: u64, _: &()| {
                    if e == 2 && i == 5 {
                        NotifyResult::BAD
                    } else {
                        NotifyResult::OK
                    }
                },
                i,
            ))
        })
        .collect();
    for b in &blocks {
        chain.register(b.clone()).unwrap().keep();
    }
    let c = chain.clone();
    // A thread that has never called a chain: its first call claims a reader slot.
    let counted = std::thread::spawn(move || {
        let before = allocations();
        let mut sink = 0;
        for i in 0..10_000u64 {
            sink += c.call(i % 3, &()).raw();
            sink += c.call_bounded(i % 3, &(), 4).result.raw();
            sink += c.call_robust(2, 1, &()).raw();
            sink += c.call_robust_reversed(2, 1, &()).raw();
        }
        std::hint::black_box(sink);
        let during_calls = allocations() - before;
        // The counter sees this thread's allocations.
        let b = allocations();
        std::hint::black_box(vec![1u8; 3]);
        assert_eq!(allocations(), b + 1);
        during_calls
    })
    .join()
    .unwrap();
    assert_eq!(counted, 0, "calls allocated");

    // Meanwhile registration does allocate (the new snapshot): the counter works.
    let before = allocations();
    let extra = Arc::new(NotifierBlock::new(|_: u64, _: &()| NotifyResult::OK, 0));
    chain.register(extra).unwrap().keep();
    assert!(allocations() > before);
}
