//! Link the binary without the C runtime: no crt1.o (`_start` is ours), no libc, no dynamic
//! loader. Only the binary gets these flags (`-bins`); the library crates build as usual.

fn main() {
    // No crt1.o/crti.o: `_start` is defined in src/entry.rs.
    println!("cargo:rustc-link-arg-bins=-nostartfiles");
    // No libc, libgcc or libm: everything comes from `core`, `alloc` and `compiler_builtins`.
    println!("cargo:rustc-link-arg-bins=-nostdlib");
    // A static, position-dependent executable: nothing to relocate at start-up, since there is
    // no loader and no start-up code to apply relocations (a static PIE would need both).
    println!("cargo:rustc-link-arg-bins=-static");
    println!("cargo:rustc-link-arg-bins=-no-pie");
    // Drop unreferenced sections: most of `core::fmt` and the unused cpuhp presets.
    println!("cargo:rustc-link-arg-bins=-Wl,--gc-sections");
    println!("cargo:rerun-if-changed=build.rs");
}
