//! Grace-period checks shared by the flavour tests (each flavour runs in its own test binary,
//! since the flavour is fixed once per process).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::thread;

use notifier::{AtomicChain, Chain, Notifier, NotifierBlock, NotifyResult, Rcu, ThreadRcu};

/// Opens a read section on a new thread and returns (its slot, a sender that ends it, the
/// thread). The section stays open until the sender sends or is dropped.
pub fn open_reader() -> (usize, mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (inside_tx, inside_rx) = mpsc::channel();
    let (leave_tx, leave_rx) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let guard = ThreadRcu.read_lock();
        inside_tx.send(ThreadRcu::__slot_index()).unwrap();
        let _ = leave_rx.recv();
        drop(guard);
    });
    let slot = inside_rx.recv().unwrap().expect("a reader holds a slot");
    (slot, leave_tx, reader)
}

/// `synchronize` on another thread waits for the open section in `slot` (reported by the test
/// hook, before the reader is let go) and returns once it ends.
pub fn synchronize_waits_for(slot: usize, leave: mpsc::Sender<()>, reader: thread::JoinHandle<()>) {
    let returned = Arc::new(AtomicBool::new(false));
    let writer = {
        let returned = returned.clone();
        thread::spawn(move || {
            ThreadRcu.synchronize();
            returned.store(true, SeqCst);
        })
    };
    while ThreadRcu::__waiting_on() != Some(slot) {
        assert!(
            !returned.load(SeqCst),
            "synchronize returned while a reader was inside its section"
        );
        thread::yield_now();
    }
    assert!(!returned.load(SeqCst));
    leave.send(()).unwrap();
    writer.join().unwrap();
    assert!(returned.load(SeqCst));
    reader.join().unwrap();
}

/// A block that records any call after its `unregister` returned or after it was dropped.
struct Probe {
    unregistered: AtomicBool,
    alive: Arc<AtomicBool>,
    violations: Arc<AtomicUsize>,
}

impl Notifier<u64> for Probe {
    fn notify(&self, _: u64, _: &()) -> NotifyResult {
        if self.unregistered.load(SeqCst) || !self.alive.load(SeqCst) {
            self.violations.fetch_add(1, SeqCst);
        }
        NotifyResult::OK
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.alive.store(false, SeqCst);
    }
}

/// Two threads call an atomic chain without pause while the main thread registers and
/// unregisters `rounds` fresh blocks: no callback may run after its `unregister` returned, and
/// no block is called after it was freed. Counted, not timed.
pub fn unregister_stress(rounds: usize) {
    static CHAIN: AtomicChain<u64> = AtomicChain::new();
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(SeqCst) {
                    CHAIN.call(1, &());
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    for _ in 0..rounds {
        let alive = Arc::new(AtomicBool::new(true));
        let block = Arc::new(NotifierBlock::new(
            Probe {
                unregistered: AtomicBool::new(false),
                alive: alive.clone(),
                violations: violations.clone(),
            },
            0,
        ));
        let reg = CHAIN.register(block.clone()).unwrap();
        reg.unregister().unwrap();
        block.callback().unregistered.store(true, SeqCst);
        drop(block); // the chain's reference went with the grace period: freed here
        assert!(!alive.load(SeqCst), "the chain released the block");
    }
    stop.store(true, SeqCst);
    for c in callers {
        c.join().unwrap();
    }
    assert_eq!(violations.load(SeqCst), 0);
    assert!(CHAIN.is_empty());
}
