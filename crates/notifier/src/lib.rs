//! Linux-style notifier chains with exact rollback.
//!
//! A *notifier chain* is an ordered list of callbacks (*blocks*, each with a priority) that a
//! subsystem calls when something happens — a CPU coming up, a reboot, a memory hotplug. Each
//! callback answers with a [`NotifyResult`] in Linux's exact encoding; a result with
//! `NOTIFY_STOP_MASK` set stops the walk. This crate reproduces Linux's `kernel/notifier.c`
//! semantics bit for bit (the conformance test replays a trace recorded on Linux 6.1) and adds
//! what Rust can guarantee on top.
//!
//! # The rule this crate is built around
//!
//! When a callback vetoes an "up" event, the "down" event must reach exactly the callbacks that
//! already said OK — never the one that failed, never those not yet called. Like a constructor
//! that failed, the vetoing callback gets no destructor. That is Akinobu Mita's 2007 patch to the
//! CPU notifier chain, generalised by Linux as `notifier_call_chain_robust`, and it is
//! [`Chain::call_robust`] here — on all three chain kinds, including the lock-free one where Linux
//! dropped it.
//!
//! # Layers
//!
//! * [`NotifyResult`] / [`Verdict`] / [`Errno`]: return values, raw and typed.
//! * [`NotifierBlock`] + [`Notifier`]: a callback and its priority; `static` or `Arc`'d.
//! * [`Chain`]: the API all chains share — register (with a [`Registration`] guard), unregister,
//!   plain, bounded and robust calls.
//! * The chain kinds, which differ only in synchronisation:
//!   [`RawChain`] (the caller synchronises; `Send`, not `Sync`),
//!   [`AtomicChain`] (calls never block, lock or allocate; writers wait for a grace period of an
//!   [`Rcu`] domain, [`ThreadRcu`] by default), and
//!   [`BlockingChain`] (callbacks may sleep; a readers/writer lock; `std` only).
//!
//! # Features
//!
//! * `std` (default): [`ThreadRcu`] and [`BlockingChain`]. Without it the crate is `#![no_std]` +
//!   `alloc`; [`RawChain`] and [`AtomicChain`] (on your kernel's [`Rcu`]) remain.
//!
//! # Soundness
//!
//! The crate's `unsafe` is confined to a few places, each argued where it stands and indexed, with
//! the ways safe code could try to break it, in [`docs::soundness`]: the type-erased call in
//! `entry` (a block is invoked only while alive), `RawChain`'s `Send` impl (its `Rc` never escapes
//! a method call), `AtomicChain`'s snapshot publication and reclamation (freed only after a grace
//! period), `ThreadRcu`'s slot list (leaked, never freed) and `BlockingChain`'s stack-linked call
//! record. The grace-period argument is written out in `ThreadRcu`'s module and model-checked with
//! loom (`tests/loom.rs`).
//!
//! # Panicking callbacks
//!
//! With `std`, a robust call ([`Chain::call_robust`], [`Chain::call_robust_errno`],
//! [`Chain::call_robust_reversed`]) treats a
//! callback that panics as a veto at its position: the callbacks before it get the down event and
//! the call returns [`NotifyResult::PANICKED`] ([`take_callback_panic`] has the payload). Plain
//! and bounded calls let the panic propagate, and the chain stays consistent (no lock, read section
//! or call record is left behind). Without `std`, every panic propagates.
//!
//! # Example
//!
//! ```
//! use notifier::{AtomicChain, Chain, NotifierBlock, NotifyResult, Verdict, Errno};
//! use std::sync::Arc;
//!
//! const UP: u64 = 1;
//! const DOWN: u64 = 2;
//! let chain: AtomicChain<u64, u32> = AtomicChain::new();
//! let good = Arc::new(NotifierBlock::new(|_: u64, _: &u32| NotifyResult::OK, 10));
//! let picky = Arc::new(NotifierBlock::new(
//!     |ev: u64, cpu: &u32| match (ev, *cpu) {
//!         (UP, 3) => Verdict::Errno(Errno::EBUSY).into(),
//!         _ => NotifyResult::OK,
//!     },
//!     0,
//! ));
//! let _g = chain.register(good)?;
//! let _p = chain.register(picky)?;
//! assert_eq!(chain.call_robust(UP, DOWN, &1), NotifyResult::OK);
//! assert_eq!(chain.call_robust(UP, DOWN, &3).to_errno(), -16); // `good` got DOWN
//! # Ok::<(), notifier::RegisterError>(())
//! ```

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

extern crate alloc;

mod atomic;
mod block;
#[cfg(feature = "std")]
mod blocking;
mod chain;
pub mod docs;
mod entry;
mod errno;
mod error;
mod raw;
mod rcu;
mod result;
mod snapshot;
mod sync;
mod walk;

pub use atomic::AtomicChain;
pub use block::{BlockRef, FnBlock, Notifier, NotifierBlock};
#[cfg(feature = "std")]
pub use blocking::BlockingChain;
pub use chain::{Chain, Registration};
pub use errno::{Errno, MAX_ERRNO};
pub use error::{RegisterError, UnregisterError};
pub use raw::RawChain;
pub use rcu::Rcu;
#[cfg(feature = "std")]
pub use rcu::{RcuFlavour, ThreadRcu, ThreadReadGuard};
pub use result::{NotifyResult, Verdict};
pub use walk::Bounded;
#[cfg(feature = "std")]
pub use walk::take_callback_panic;

#[cfg(all(loom, not(feature = "std")))]
compile_error!("the loom model tests need the `std` feature");
