//! Documentation only: no items, nothing to call.
//!
//! # Soundness: every `unsafe` in this crate
//!
//! The crate denies `unsafe_code`; one module opts back in, the simulator's CPU thread
//! (`sim/cpu_thread.rs`, `std` only), for its hand-off of a borrowed closure to another thread.
//! Each block below states its argument, and each argument was checked against what a safe
//! caller can do: call from several threads at once, call again from inside the work (re-entry),
//! `mem::forget` a value, let a thread exit or a closure panic.
//!
//! | where | what | why a safe caller cannot break it |
//! |---|---|---|
//! | `unsafe impl Sync for Mailbox`, `unsafe impl Send for Mailbox` | the job and panic cells are `UnsafeCell`s shared by a submitter and the CPU thread | The mailbox is private to its `CpuThread` and the CPU thread. Each cell has one owner at a time, handed over by a Release store of the mailbox state and taken by an Acquire load of it. There is one submitter at a time because `CpuThread::run` holds the CPU's submit lock from its write of the job until it has reset the mailbox to idle, whoever calls it and from however many threads (`Platform::run_on_ap` on a shared `SimPlatform` reaches it). |
//! | `CpuThread::run`: `transmute` of the job's lifetime to `'static` | the CPU thread calls a closure that borrows the submitter's stack | The CPU thread dereferences the pointer only between seeing JOB and posting DONE, and `run` returns or unwinds only after it has seen DONE: nothing between the two can unwind (atomic loads, `park`, `unpark`), and there is nothing for a caller to forget. A job that panics is caught on the CPU thread, reported through the mailbox, and resumed on the submitter after DONE. |
//! | `CpuThread::run`: write of the job cell | the submitter fills the mailbox | The submit lock is held and the last hand-off ended idle, so the CPU thread is not reading the cell; it reads it only after the Release store of JOB that follows. |
//! | `CpuThread::run`: take of the panic cell | the submitter reads the job's outcome | DONE was seen with Acquire; the CPU thread wrote the cell before its Release store of DONE and does not touch it again before the next JOB, which only this submitter (holding the submit lock) can post. |
//! | `serve`: take of the job cell, call of the job, write of the panic cell | the CPU thread runs the job | JOB was seen with Acquire, so the job is published; the submitter is blocked in `run` until DONE, so the borrowed closure is alive and used by no one else; it is `Send`, so calling it from this thread is allowed. |
//!
//! What remains possible, and is not undefined behaviour: a job that hands work to its own CPU
//! from another thread it then waits for (the second hand-off queues behind the first, which
//! waits for it) deadlocks, as a thread waiting for itself would. The state machine never does
//! this; it runs work for the CPU it is on inline.
//!
//! The notifier crate's `unsafe` (the lock-free chain and its RCU domain) is argued in that
//! crate's own `docs` module.
//!
//! # Examples
//!
//! This module has nothing to call; the state machine it argues about is used like this:
//!
//! ```
//! use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
//!
//! let m = Machine::new(&preset::DEMO, Topology::new(2))?;
//! m.cpu_down(CpuId(1), StateId::OFFLINE)?;
//! # Ok::<(), cpuhp::Error>(())
//! ```
