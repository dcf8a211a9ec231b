//! A freestanding program — no std, no libc, no C runtime — that runs the notifier chains and
//! the CPU hotplug state machine and checks their rollback exactly. It is the template a kernel
//! author copies: the four pieces a kernel supplies are each in one file.
//!
//! * `entry.rs`: process entry, output and exit (x86_64 Linux system calls; the only OS-specific
//!   part).
//! * `heap.rs`: the global allocator (a bump allocator over a static arena).
//! * `rcu.rs`: the `notifier::Rcu` domain `AtomicChain` runs its calls in.
//! * `platform.rs`: the `cpuhp::Platform` the state machine hands work to.
//!
//! `checks.rs` holds the two scenarios. Exit status: 0 when every check passes, otherwise the
//! failed check's code (listed in [`Code`]), or 101 for a panic (including heap exhaustion).

#![no_std]
#![no_main]

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!(
    "entry.rs is written for x86_64 Linux; on another target, replace it with your own entry, \
     output and exit"
);

extern crate alloc;

mod checks;
mod entry;
mod heap;
mod platform;
mod rcu;
mod rt;

use core::fmt::{Debug, Write};
use core::panic::PanicInfo;

use entry::{Stderr, Stdout};

/// Exit status of a panic (including heap exhaustion).
pub const PANIC_STATUS: u8 = 101;
/// Exit status if anything ever tried to unwind (it cannot: see rt.rs).
pub const UNWIND_STATUS: u8 = 102;

#[global_allocator]
pub static HEAP: heap::Bump = heap::Bump::new();

/// Why the program failed: its exit status. Each check has its own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Registering the four notifier blocks failed.
    ChainRegister = 1,
    /// The vetoed `CPU_UP_PREPARE` for CPU 2 did not return `-ENOMEM`.
    ChainVetoResult = 2,
    /// The vetoed call's callback sequence is not `a b c` up, `a b` cancelled.
    ChainVetoSequence = 3,
    /// The unvetoed call for CPU 1 did not reach all four blocks exactly once, or failed.
    ChainPlainCall = 4,
    /// A callback ran outside a read section of the chain's RCU domain.
    ChainOutsideReadSection = 5,
    /// Unregistering a block (a grace period) failed or left the wrong blocks.
    ChainUnregister = 6,
    /// Building the 4-CPU machine failed, or not all CPUs came up.
    MachineBoot = 10,
    /// `setup_state` with a startup failing on CPU 3 did not fail with `ENOMEM`.
    SetupResult = 11,
    /// Its callback sequence is not startups on 0–3, teardowns on 0–2.
    SetupSequence = 12,
    /// After the failed `setup_state`, a CPU left `online` or the state stayed installed.
    SetupState = 13,
    /// Installing the PREPARE and ONLINE states for the bring-up scenario failed.
    BringupInstall = 20,
    /// Taking CPU 2 down failed or ran the wrong teardowns.
    BringupDown = 21,
    /// The bring-up whose ONLINE startup fails did not fail with `ENOMEM`.
    BringupResult = 22,
    /// Its callback sequence (startups, the failure, the rollback) is not the expected one.
    BringupSequence = 23,
    /// After the failed bring-up, CPU 2 is not back offline, or the masks are wrong.
    BringupState = 24,
    /// Bringing CPU 2 up again without the failure did not succeed.
    BringupRetry = 25,
    /// An allocation larger than the arena did not return null.
    HeapExhaustion = 30,
    /// A block was misaligned, freeing did not rewind, or a grown `Vec` lost its contents.
    HeapAlignment = 31,
    /// `memmove` of overlapping ranges is wrong.
    MemMove = 32,
    /// `memcpy` or `memset` is wrong.
    MemCopy = 33,
    /// `memcmp` or `bcmp` is wrong.
    MemCompare = 34,
}

/// Fails the program with `code` unless `got == want`, printing both.
pub fn ensure_eq<T: PartialEq + Debug>(got: T, want: T, code: Code, what: &str) {
    if got != want {
        let _ = writeln!(Stderr, "FAIL {} ({code:?}): {what}", code as u8);
        let _ = writeln!(Stderr, "  got:  {got:?}\n  want: {want:?}");
        entry::exit(code as u8)
    }
}

/// Fails the program with `code` unless `ok`.
pub fn ensure(ok: bool, code: Code, what: &str) {
    if !ok {
        fail(code, what);
    }
}

/// Prints the failed check and exits with its code.
pub fn fail(code: Code, what: &str) -> ! {
    let _ = writeln!(Stderr, "FAIL {} ({code:?}): {what}", code as u8);
    entry::exit(code as u8)
}

/// Called by `_start` (entry.rs) with a 16-byte aligned stack.
extern "C" fn freestanding_main() -> ! {
    checks::runtime();
    checks::notifier_chain();
    checks::state_machine();
    let _ = writeln!(
        Stdout,
        "cpuhp-freestanding: all checks passed (heap peak {} of {} bytes, {} in use at exit)",
        HEAP.peak(),
        heap::ARENA_SIZE,
        HEAP.in_use()
    );
    entry::exit(0)
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    // `Stderr` does not allocate: the panic may be the heap running out.
    let _ = writeln!(Stderr, "PANIC: {info}");
    entry::exit(PANIC_STATUS)
}
