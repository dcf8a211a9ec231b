#!/usr/bin/env bash
# Builds examples/freestanding (a no_std program with its own entry, allocator, Rcu and Platform),
# proves the binary links nothing from std or libc, runs it and checks that every check passed
# (exit status 0; examples/freestanding/README.md lists the other codes). Prints its size and
# run time. x86_64 Linux only (the program's entry is Linux system calls).
#
#   scripts/freestanding.sh            # from anywhere in the repository
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=examples/freestanding
bin=$pkg/target/release/cpuhp-freestanding

if [[ "$(uname -sm)" != "Linux x86_64" ]]; then
    echo "freestanding: needs x86_64 Linux (the program's entry is Linux system calls); skipped" >&2
    exit 0
fi

echo "== freestanding: fmt, clippy, build"
cargo fmt --manifest-path "$pkg/Cargo.toml" --check
cargo clippy --manifest-path "$pkg/Cargo.toml" --locked --release -- -D warnings
cargo build --manifest-path "$pkg/Cargo.toml" --locked --release

# Fails (with the reason) unless $1 is a static executable with no interpreter, no dynamic
# section and no symbol from std or the C library.
links_no_std() {
    local f=$1 syms
    if readelf -lW "$f" | grep -q 'INTERP'; then
        echo "$f: has a program interpreter (dynamically linked)"; return 1
    fi
    if readelf -dW "$f" | grep -q 'NEEDED'; then
        echo "$f: needs shared libraries: $(readelf -dW "$f" | grep NEEDED | tr -s ' ' | cut -d' ' -f6 | tr '\n' ' ')"
        return 1
    fi
    syms=$(nm "$f" 2>/dev/null; nm -C "$f" 2>/dev/null) || true
    # Without symbols the search below would prove nothing.
    if ! grep -qE ' [Tt] _start$' <<<"$syms"; then
        echo "$f: no symbol table (or no _start) to inspect"; return 1
    fi
    # std's symbols, mangled (legacy `_ZN3std`, v0 `..3std..`) and demangled; C++'s std; glibc.
    local bad
    bad=$(grep -E '_ZN3std|_ZNSt|C[0-9a-zA-Z_]*_3std|(^| )std::|<std::|__libc_start_main|GLIBC|@@' <<<"$syms" | head -5) || true
    if [[ -n "$bad" ]]; then
        echo "$f: links std or libc:"; cut -c1-160 <<<"$bad"; return 1
    fi
    if ! file -L "$f" | grep -q 'statically linked'; then
        echo "$f: file(1) does not say statically linked"; return 1
    fi
}

echo "== freestanding: links no std"
# The inspection must be able to fail: a dynamically linked system binary does not pass it.
if links_no_std /bin/sh >/dev/null; then
    echo "freestanding: the inspection passed /bin/sh, so it proves nothing" >&2
    exit 1
fi
if ! why=$(links_no_std "$bin"); then
    echo "freestanding: $why" >&2
    exit 1
fi
file -L "$bin" | cut -d, -f1-4

echo "== freestanding: run"
start=$(date +%s%N)
set +e
"$bin"
status=$?
set -e
end=$(date +%s%N)
if [[ $status -ne 0 ]]; then
    echo "freestanding: exit status $status (see $pkg/README.md for the codes)" >&2
    exit 1
fi
size=$(stat -c %s "$bin")
text=$(size -A "$bin" | awk '$1 == ".text" { print $2 }')
echo "freestanding: passed; binary $size bytes (.text $text), ran in $(( (end - start) / 1000 )) µs"
