//! The read side of `AtomicChain`: an RCU domain for a program with one execution context.
//!
//! A kernel implements [`Rcu`] on its own RCU: `read_lock` is `rcu_read_lock` (on a
//! non-preemptible uniprocessor kernel: disabling preemption), `synchronize` is `synchronize_rcu`,
//! `in_read_section` is `rcu_read_lock_held`. This program never starts a thread and installs no
//! signal handler, so it is a uniprocessor that is never preempted: a read section is a nesting
//! counter and a grace period has nothing to wait for.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use notifier::Rcu;

/// RCU for a single execution context.
pub struct UpRcu {
    /// How many read guards are alive (sections nest).
    depth: AtomicUsize,
}

impl UpRcu {
    /// A domain with no read section open.
    pub const fn new() -> UpRcu {
        UpRcu {
            depth: AtomicUsize::new(0),
        }
    }
}

impl Default for UpRcu {
    fn default() -> UpRcu {
        UpRcu::new()
    }
}

/// A read section; dropping it leaves the section.
pub struct ReadGuard<'a>(&'a UpRcu);

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.0.depth.fetch_sub(1, Relaxed);
    }
}

// SAFETY: the contract is per execution context, and this program has exactly one (the thread
// `_start` runs on: no threads, no signal handlers, no interrupts).
// 1. Read sections: `depth` counts the live guards, so the context is in a section from
//    `read_lock` until its outermost guard drops. Guards cannot outlive the context (it ends only
//    with the process).
// 2. Grace periods: when `synchronize` is called, no read section of another context can exist
//    (there is none), and none of this context's (chains never call `synchronize` inside one,
//    point 4; the assert catches a caller that does). Every section that began earlier has
//    therefore ended, and its end is sequenced before the call, hence happens-before its return.
// 3. Publication: a store made before `synchronize` is sequenced before every later load in the
//    same context, which observes it or a later store.
// 4. Self-knowledge: `in_read_section` is `depth > 0`, true exactly inside a section.
// A second thread or an interrupt handler calling the chain would break 2 and 4: a kernel with
// either uses its real RCU instead.
unsafe impl Rcu for UpRcu {
    type Guard<'a> = ReadGuard<'a>;

    fn read_lock(&self) -> ReadGuard<'_> {
        self.depth.fetch_add(1, Relaxed);
        ReadGuard(self)
    }

    fn synchronize(&self) {
        assert!(
            !self.in_read_section(),
            "synchronize() inside a read section would wait for itself"
        );
    }

    fn in_read_section(&self) -> bool {
        self.depth.load(Relaxed) > 0
    }
}
