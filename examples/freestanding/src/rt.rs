//! What the C library or the compiler runtime would provide: the memory functions LLVM emits
//! calls to (`compiler_builtins` exports them only on targets without a libc, and this target
//! has one), and the two unwinding symbols that precompiled `core`/`alloc` still reference.
//! A kernel has its own `memcpy` family; it keeps the unwinding stubs.
//!
//! The copy and fill functions are single `rep movsb`/`rep stosb` instructions (fast on every
//! x86_64 since Ivy Bridge): written as loops, LLVM would recognise them as `memcpy` and
//! compile them into calls to themselves. The comparisons read through `read_volatile`, which
//! LLVM never turns into a call to `memcmp`/`bcmp`.
//!
//! Exporting them unmangled (`#[unsafe(no_mangle)]`) is sound because nothing else defines these
//! symbols: the binary links no C library or unwinder (build.rs), so each name has exactly one
//! definition, and each function has the signature its callers (LLVM, `core`, `alloc`) expect.

use core::arch::asm;
use core::ptr::read_volatile;

/// Copies `n` bytes from `src` to `dest`, which do not overlap.
///
/// # Safety
///
/// `src` is valid for `n` reads, `dest` for `n` writes, and they do not overlap (C's contract).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: `rep movsb` copies rcx bytes from [rsi] to [rdi] forwards (the direction flag is
    // clear, as the ABI guarantees at calls); the caller guarantees both ranges. rdi, rsi and rcx
    // are clobbered, so they are declared as outputs.
    unsafe {
        asm!("rep movsb", inout("rdi") dest => _, inout("rsi") src => _, inout("rcx") n => _,
             options(nostack, preserves_flags));
    }
    dest
}

/// Copies `n` bytes from `src` to `dest`, which may overlap.
///
/// # Safety
///
/// `src` is valid for `n` reads and `dest` for `n` writes (C's contract).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if dest.cast_const() <= src || dest.cast_const() >= src.wrapping_add(n) {
        // A forward copy reads each byte before it is overwritten.
        // SAFETY: as `memcpy`, and a forward copy is correct when `dest` is not inside
        // `src+1..src+n`.
        unsafe { memcpy(dest, src, n) }
    } else {
        // `dest` lies inside the source: copy backwards, from the last byte (direction flag set
        // for the copy only, cleared again as the ABI requires).
        // SAFETY: n >= 1 here (else `dest >= src + n` above), so `src + n - 1` and `dest + n - 1`
        // are the last bytes of the caller-guaranteed ranges; `rep movsb` with DF set copies rcx
        // bytes downwards from there. Clobbered registers are declared; `cld` restores the flag.
        unsafe {
            asm!("std", "rep movsb", "cld",
                 inout("rdi") dest.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
                 inout("rcx") n => _, options(nostack));
        }
        dest
    }
}

/// Sets `n` bytes at `dest` to `c as u8`.
///
/// # Safety
///
/// `dest` is valid for `n` writes (C's contract).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: `rep stosb` stores al into rcx bytes from [rdi] forwards; the caller guarantees the
    // range. rdi and rcx are clobbered and declared.
    unsafe {
        asm!("rep stosb", inout("rdi") dest => _, inout("rcx") n => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dest
}

/// Compares `n` bytes: negative, zero or positive as `a` sorts before, equal to or after `b`.
///
/// # Safety
///
/// `a` and `b` are valid for `n` reads (C's contract).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n, inside both caller-guaranteed ranges.
        let (x, y) = unsafe { (read_volatile(a.add(i)), read_volatile(b.add(i))) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// Zero when the `n` bytes are equal, non-zero otherwise (`memcmp` without the order).
///
/// # Safety
///
/// As [`memcmp`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the same contract.
    unsafe { memcmp(a, b, n) }
}

// `core` and `alloc` come precompiled for `panic = "unwind"`, so their cleanup paths name the
// unwinder's `_Unwind_Resume` and Rust's personality routine. Nothing here ever unwinds — the
// panic handler exits, and no code raises an exception (there is no unwinder to do it) — so the
// cleanup paths never run and these are never called. If one ever were, stop rather than guess.

/// Never called: nothing unwinds (see above).
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    crate::entry::exit(crate::UNWIND_STATUS)
}

/// Never called: nothing unwinds (see above).
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {
    crate::entry::exit(crate::UNWIND_STATUS)
}
