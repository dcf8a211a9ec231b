//! The read side of [`AtomicChain`](crate::AtomicChain): an RCU domain.
//!
//! An atomic chain's callers never lock, never write shared memory and never allocate: they enter
//! a read-side critical section, load the current snapshot and walk it. A writer publishes a new
//! snapshot and then waits for a *grace period* — until every read section that might still see the
//! old one has ended — before it frees the old snapshot, and before `unregister` returns. That is
//! Linux's RCU, and [`Rcu`] is the interface to one.
//!
//! With `std`, [`ThreadRcu`] is a process-wide domain built on per-thread reader slots (a read
//! section costs a store to the thread's own cache line, and on Linux no fence instruction: grace
//! periods issue `membarrier(2)` instead). A kernel without std
//! implements [`Rcu`] on its own RCU (`rcu_read_lock` / `synchronize_rcu` /
//! `rcu_read_lock_held`).

mod domain;
#[cfg(feature = "std")]
mod flavour;
#[cfg(feature = "std")]
mod thread;

pub use domain::Rcu;
#[cfg(feature = "std")]
pub use flavour::RcuFlavour;
#[cfg(feature = "std")]
pub use thread::{ThreadRcu, ThreadReadGuard};
