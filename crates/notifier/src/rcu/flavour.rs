//! The barrier pair of `ThreadRcu`'s grace periods: asymmetric (membarrier) where the kernel
//! offers it, symmetric `SeqCst` fences elsewhere. Decided once per process.
//!
//! # The two flavours
//!
//! A read section must order its slot store `S` before its loads `L`, and a grace period must
//! order the writer's publication `P` before its slot loads `C` (the Dekker pair of the
//! `thread` module docs).
//!
//! * **Fences** (any platform): a `SeqCst` fence on each side, between `S` and `L` and between
//!   `P` and `C`.
//! * **Membarrier** (Linux ≥ 4.14, the default there): the reader issues only a *compiler* fence
//!   between `S` and `L` (no instruction: it only stops the compiler from moving `L` above `S`);
//!   the writer issues `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` between `P` and `C`, after a
//!   `SeqCst` fence of its own. membarrier(2) guarantees that on return every running thread of
//!   the process has executed a full memory barrier during the call — "all its running thread
//!   siblings have passed through a state where all memory accesses to user-space addresses
//!   match program order between entry to and return from the system call" — and a thread that
//!   is not running is in that state anyway (a context switch is a full barrier). So a reader's
//!   program-ordered `S; L` (the compiler fence keeps them in that order in the instruction
//!   stream) meets a full barrier `M` of its own at some point during the writer's call:
//!   - `M` after `L`: `S` and `L` were performed before `M`, which precedes the writer's return
//!     and hence `C`: `C` sees `S` (the writer waits), or the section is over (`L` read before the
//!     writer frees);
//!   - `M` before `S`: the writer's `P` was ordered (its own fence, then the syscall) before `M`,
//!     which precedes `S` and `L`: `L` sees `P` — the new pointer;
//!   - `M` between `S` and `L`: a full barrier between them, which is the fences flavour's case.
//!
//!   The read side thus costs a store and no fence instruction; the write side pays an IPI to
//!   each CPU running a thread of the process, which a grace period can afford.
//!
//! # Deciding once, safely
//!
//! The flavour starts *undecided* and moves once, to `Fences` or `Membarrier`, when first needed
//! by a grace period (or by [`ThreadRcu::flavour`](super::ThreadRcu::flavour)); it never changes
//! again. A reader that sees undecided (or `Fences`) issues a full fence, which is correct under
//! either writer. A reader that sees `Membarrier` issues a compiler fence only, and every grace
//! period that can observe its slot issues the membarrier: a writer resolves the flavour (probing
//! if it is the first) *before* its slot loads, and both outcomes are final. The store of
//! `Membarrier` comes after the registration succeeded, so no writer can try an unregistered
//! barrier.
//!
//! The probe registers with `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`; it falls back to fences if
//! the kernel lacks the commands, a seccomp filter refuses them, the platform is not Linux, or the
//! environment variable `NOTIFIER_THREAD_RCU` is `fences` when the probe runs.
//!
//! Under loom the membarrier is modelled by the fences flavour: the barrier the kernel makes the
//! reader execute is placed at the reader's compiler fence (the third case above), the writer's
//! by its own `SeqCst` fence. The model thus checks the protocol built on the barrier pair, not
//! the kernel's guarantee nor the first two placements (which order more, not less).

use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::sync::fence;

const UNDECIDED: u8 = 0;
const FENCES: u8 = 1;
const MEMBARRIER: u8 = 2;

/// The flavour in force (not a loom atomic: under loom it stays undecided, i.e. fences).
static FLAVOUR: AtomicU8 = AtomicU8::new(UNDECIDED);

/// How [`ThreadRcu`](super::ThreadRcu)'s read sections are ordered against grace periods: the
/// answer of [`ThreadRcu::flavour`](super::ThreadRcu::flavour).
///
/// # Examples
///
/// ```
/// use notifier::{RcuFlavour, ThreadRcu};
///
/// match ThreadRcu::flavour() {
///     RcuFlavour::Membarrier => println!("read sections cost a store; grace periods an IPI"),
///     RcuFlavour::Fences => println!("read sections cost a store and a fence"),
///     _ => {}
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RcuFlavour {
    /// Read sections issue a compiler fence only; grace periods issue
    /// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`. Linux's default.
    Membarrier,
    /// Both sides issue a `SeqCst` fence: where membarrier is unavailable.
    Fences,
}

impl fmt::Display for RcuFlavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RcuFlavour::Membarrier => "membarrier",
            RcuFlavour::Fences => "fences",
        })
    }
}

/// The reader's barrier between announcing a section and its first load.
#[inline(always)]
pub(super) fn read_side() {
    #[cfg(not(loom))]
    if FLAVOUR.load(Relaxed) == MEMBARRIER {
        // Every grace period that can see this section issues the membarrier (module docs).
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        return;
    }
    fence(core::sync::atomic::Ordering::SeqCst);
}

/// The writer's barrier between publishing and reading the slots.
pub(super) fn write_side() {
    fence(core::sync::atomic::Ordering::SeqCst);
    // Resolved before any slot is read, so that a reader that saw `Membarrier` is covered.
    let flavour = decide();
    #[cfg(all(target_os = "linux", not(loom)))]
    if flavour == RcuFlavour::Membarrier {
        membarrier();
    }
    let _ = flavour;
}

/// The flavour in force, probing once if undecided.
pub(super) fn decide() -> RcuFlavour {
    match FLAVOUR.load(Relaxed) {
        MEMBARRIER => RcuFlavour::Membarrier,
        FENCES => RcuFlavour::Fences,
        _ => probe(),
    }
}

/// Fixes the flavour to fences if it is still undecided; returns the flavour in force.
pub(super) fn force_fences() -> RcuFlavour {
    let _ = FLAVOUR.compare_exchange(UNDECIDED, FENCES, Relaxed, Relaxed);
    decide()
}

#[cold]
fn probe() -> RcuFlavour {
    let want = if membarrier_usable() {
        MEMBARRIER
    } else {
        FENCES
    };
    // Racing probers agree (the registration is idempotent) unless the environment changed under
    // them; the first store wins either way, and the value in force is what everyone uses.
    let _ = FLAVOUR.compare_exchange(UNDECIDED, want, Relaxed, Relaxed);
    if FLAVOUR.load(Relaxed) == MEMBARRIER {
        RcuFlavour::Membarrier
    } else {
        RcuFlavour::Fences
    }
}

#[cfg(all(target_os = "linux", not(loom)))]
fn membarrier_usable() -> bool {
    use rustix::thread::{MembarrierCommand as Cmd, membarrier as mb, membarrier_query};
    if std::env::var_os("NOTIFIER_THREAD_RCU").is_some_and(|v| v == "fences") {
        return false;
    }
    let offered = membarrier_query();
    offered.contains_command(Cmd::PrivateExpedited)
        && offered.contains_command(Cmd::RegisterPrivateExpedited)
        && mb(Cmd::RegisterPrivateExpedited).is_ok()
        && mb(Cmd::PrivateExpedited).is_ok()
}

#[cfg(not(all(target_os = "linux", not(loom))))]
fn membarrier_usable() -> bool {
    false
}

/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`. The process registered before the flavour was
/// set, so this does not fail — except in a child forked after the registration (the kernel may
/// not carry it over): register again. If even that failed, no barrier would order the readers'
/// compiler fences, so the process aborts rather than free memory under a reader.
#[cfg(all(target_os = "linux", not(loom)))]
fn membarrier() {
    use rustix::thread::{MembarrierCommand as Cmd, membarrier as mb};
    if mb(Cmd::PrivateExpedited).is_ok() {
        return;
    }
    if mb(Cmd::RegisterPrivateExpedited).is_ok() && mb(Cmd::PrivateExpedited).is_ok() {
        return;
    }
    // The slow, registration-free command orders the same accesses (a grace period of the
    // kernel's own RCU: every CPU passes through a full barrier).
    if mb(Cmd::Global).is_ok() {
        return;
    }
    std::eprintln!("notifier: membarrier stopped working after it was probed; aborting");
    std::process::abort();
}
