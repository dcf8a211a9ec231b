//! The only OS-specific part: process entry, output and exit on x86_64 Linux, by raw system
//! calls. A kernel replaces this file with its own entry point (called from its boot code) and
//! its own console and shutdown.

use core::arch::{asm, global_asm};

// `_start` is where Linux begins a static executable: no return address on the stack, and `rsp`
// 16-byte aligned (pointing at `argc`). A Rust function expects the alignment a `call` leaves
// (`rsp` = 8 mod 16), so a two-line stub aligns the stack and calls into Rust; a plain
// `extern "C" fn _start` would run with a misaligned stack.
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    // Mark the outermost frame for debuggers and unwinders.
    "xor ebp, ebp",
    "and rsp, -16",
    "call {main}",
    // `main` never returns; trap if it ever did.
    "ud2",
    main = sym crate::freestanding_main,
);

/// Writes all of `bytes` to file descriptor `fd` (`write(2)`), giving up on an error.
pub fn write(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let ret: isize;
        // SAFETY: `write(2)` (syscall 1) only reads `len` bytes at `ptr`, which `bytes` borrows
        // for the duration of the call; the kernel clobbers only rax (the result), rcx and r11,
        // all declared, and touches no stack of ours (`nostack`).
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") 1isize => ret,
                in("rdi") fd,
                in("rsi") bytes.as_ptr(),
                in("rdx") bytes.len(),
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack, readonly),
            );
        }
        if ret <= 0 {
            return; // EINTR cannot happen (no signal handlers); anything else: nowhere to report it.
        }
        bytes = &bytes[(ret as usize).min(bytes.len())..];
    }
}

/// Ends the process with `status` (`exit_group(2)`).
pub fn exit(status: u8) -> ! {
    // SAFETY: `exit_group(2)` (syscall 231) reads no memory and does not return (`noreturn`);
    // there is nothing to flush or run at exit (no libc, no destructors to honour).
    unsafe {
        asm!(
            "syscall",
            in("rax") 231usize,
            in("rdi") status as usize,
            options(noreturn, nostack, nomem),
        );
    }
}

/// Standard output, for `write!`: formats straight to `write(2)`, no buffer, no allocation.
pub struct Stdout;

impl core::fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write(1, s.as_bytes());
        Ok(())
    }
}

/// Standard error, for `write!` (usable in the panic handler: it never allocates).
pub struct Stderr;

impl core::fmt::Write for Stderr {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write(2, s.as_bytes());
        Ok(())
    }
}
