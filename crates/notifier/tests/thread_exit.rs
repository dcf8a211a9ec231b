//! A thread that exits with a read section of `ThreadRcu` open (a leaked guard) must not break
//! grace periods for the next thread that gets its slot; a guard kept in a thread-local that
//! outlives the teardown must drop harmlessly.
//!
//! Its own test binary: slot reuse is deterministic only while no other test of the process
//! holds slots, so the tests here run one after another under a lock.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use notifier::{AtomicChain, Chain, NotifierBlock, NotifyResult, Rcu, ThreadRcu, ThreadReadGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// A thread leaks a guard and exits; a new thread gets the recycled slot and enters a section;
/// `synchronize` must wait for that section and return once it ends.
#[test]
fn a_leaked_guard_at_thread_exit_does_not_break_grace_periods() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let leaked_slot = thread::spawn(|| {
        std::mem::forget(ThreadRcu.read_lock());
        ThreadRcu::__slot_index().expect("a thread in a section holds a slot")
    })
    .join()
    .unwrap();

    let (inside_tx, inside_rx) = mpsc::channel();
    let (leave_tx, leave_rx) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let guard = ThreadRcu.read_lock();
        inside_tx.send(ThreadRcu::__slot_index()).unwrap();
        leave_rx.recv().unwrap();
        drop(guard);
    });
    let reader_slot = inside_rx.recv().unwrap();
    assert_eq!(
        reader_slot,
        Some(leaked_slot),
        "the new reader got the recycled slot"
    );

    let returned = Arc::new(AtomicBool::new(false));
    let writer = {
        let returned = returned.clone();
        thread::spawn(move || {
            ThreadRcu.synchronize();
            returned.store(true, SeqCst);
        })
    };
    // Either the writer reports that it waits on the reader's slot (correct), or it returns while
    // the reader is still inside (the bug). The reader cannot leave before we tell it to.
    loop {
        if ThreadRcu::__waiting_on() == Some(leaked_slot) {
            break;
        }
        assert!(
            !returned.load(SeqCst),
            "synchronize returned while a reader on the recycled slot was inside its section"
        );
        thread::yield_now();
    }
    assert!(
        !returned.load(SeqCst),
        "synchronize is waiting on the reader"
    );
    leave_tx.send(()).unwrap();
    writer.join().unwrap();
    assert!(returned.load(SeqCst));
    reader.join().unwrap();
}

/// The same through an `AtomicChain`: after a thread leaked a guard and exited, `unregister`
/// still waits for a call running on the recycled slot.
#[test]
fn unregister_waits_for_a_call_on_a_recycled_slot() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let leaked_slot = thread::spawn(|| {
        std::mem::forget(ThreadRcu.read_lock());
        ThreadRcu::__slot_index()
    })
    .join()
    .unwrap();

    static CHAIN: AtomicChain<u64> = AtomicChain::new();
    let (inside_tx, inside_rx) = mpsc::channel();
    let (leave_tx, leave_rx) = mpsc::channel::<()>();
    let leave_rx = Mutex::new(leave_rx);
    let block = Arc::new(NotifierBlock::new(
        move |_: u64, _: &()| {
            inside_tx.send(ThreadRcu::__slot_index()).unwrap();
            leave_rx.lock().unwrap().recv().unwrap();
            NotifyResult::OK
        },
        0,
    ));
    let reg = CHAIN.register(block).unwrap();
    let caller = thread::spawn(|| CHAIN.call(1, &()));
    let slot = inside_rx.recv().unwrap();
    assert_eq!(slot, leaked_slot, "the caller got the recycled slot");
    let slot = slot.expect("a caller holds a slot");

    let done = Arc::new(AtomicBool::new(false));
    let unregistering = {
        let done = done.clone();
        thread::spawn(move || {
            reg.unregister().unwrap();
            done.store(true, SeqCst);
        })
    };
    while ThreadRcu::__waiting_on() != Some(slot) {
        assert!(
            !done.load(SeqCst),
            "unregister returned while its callback was running"
        );
        thread::yield_now();
    }
    assert!(!done.load(SeqCst));
    leave_tx.send(()).unwrap();
    unregistering.join().unwrap();
    assert_eq!(caller.join().unwrap(), NotifyResult::OK);
    assert!(CHAIN.is_empty());
}

/// A guard kept in a thread-local that is destroyed after `ThreadRcu`'s own teardown: its section
/// was closed at the teardown; its late drop neither underflows nor closes the section another
/// late destructor opened meanwhile; and the thread's grace periods are not blocked afterwards.
#[test]
fn a_guard_in_a_late_thread_local_drops_harmlessly() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());

    struct Late {
        guard: Option<ThreadReadGuard>,
        report: Option<mpsc::Sender<(bool, bool, bool)>>,
    }
    impl Drop for Late {
        fn drop(&mut self) {
            // Runs after `ThreadRcu`'s teardown (registered before it, destroyed after it).
            let closed_at_exit = !ThreadRcu.in_read_section();
            let fresh = ThreadRcu.read_lock(); // a new, transient section
            drop(self.guard.take()); // the stale guard: must not close `fresh`
            let fresh_still_open = ThreadRcu.in_read_section();
            drop(fresh);
            let all_closed = !ThreadRcu.in_read_section();
            if let Some(report) = self.report.take() {
                let _ = report.send((closed_at_exit, fresh_still_open, all_closed));
            }
        }
    }
    thread_local! {
        static LATE: RefCell<Late> = const { RefCell::new(Late { guard: None, report: None }) };
    }

    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // Touch LATE first so its destructor is registered before ThreadRcu's.
        LATE.with(|l| l.borrow_mut().report = Some(tx));
        let guard = ThreadRcu.read_lock();
        LATE.with(|l| l.borrow_mut().guard = Some(guard));
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv().unwrap(), (true, true, true));
    // No section of the dead thread is left open: this returns.
    ThreadRcu.synchronize();
}

/// Chains called from a thread-local destructor that runs after the crate's own thread-locals
/// are gone: every kind still works (no "thread-local destroyed" panic), a robust call still
/// catches a panicking callback, and the transient read section ends.
#[test]
fn chains_work_from_late_thread_local_destructors() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    static BLOCKING: notifier::BlockingChain<u64> = notifier::BlockingChain::new();
    static ATOMIC: AtomicChain<u64> = AtomicChain::new();
    static OK: notifier::FnBlock<u64> = notifier::FnBlock::new(|_, _| NotifyResult::OK, 1);
    static BOOM: notifier::FnBlock<u64> = notifier::FnBlock::new(
        |e, _| {
            if e == 7 {
                panic!("late")
            }
            NotifyResult::OK
        },
        0,
    );
    BLOCKING.register(&OK).unwrap().keep();
    BLOCKING.register(&BOOM).unwrap().keep();
    ATOMIC.register(&OK).unwrap().keep();
    ATOMIC.register(&BOOM).unwrap().keep();

    type Report = (NotifyResult, NotifyResult, NotifyResult, NotifyResult, bool);
    struct Late(Option<mpsc::Sender<Report>>);
    impl Drop for Late {
        fn drop(&mut self) {
            let report = (
                BLOCKING.call(1, &()),
                BLOCKING.call_robust(7, 8, &()),
                ATOMIC.call(1, &()),
                ATOMIC.call_robust(7, 8, &()),
                ThreadRcu.in_read_section(),
            );
            if let Some(tx) = self.0.take() {
                let _ = tx.send(report);
            }
        }
    }
    thread_local! {
        static LATE: RefCell<Late> = const { RefCell::new(Late(None)) };
    }

    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        LATE.with(|l| l.borrow_mut().0 = Some(tx));
        // Initialise the crate's thread-locals after LATE: they are destroyed before it.
        assert_eq!(BLOCKING.call(1, &()), NotifyResult::OK);
        assert_eq!(BLOCKING.call_robust(7, 8, &()), NotifyResult::PANICKED);
        assert_eq!(ATOMIC.call(1, &()), NotifyResult::OK);
        assert!(notifier::take_callback_panic().is_some());
    })
    .join()
    .unwrap();
    let got = rx.recv().expect("the late destructor ran to the end");
    assert_eq!(
        got,
        (
            NotifyResult::OK,
            NotifyResult::PANICKED,
            NotifyResult::OK,
            NotifyResult::PANICKED,
            false
        )
    );
    // The transient slot was given back and closed: no grace period waits for the dead thread.
    ThreadRcu.synchronize();
}
