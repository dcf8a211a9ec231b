#!/usr/bin/env python3
"""Turns criterion's results (target/criterion) for `benches/chains.rs` into the markdown table
of BENCHMARKS.md: median time per call and its ratio to the floor measured in the same setting.

Usage: scripts/bench-table.py [target/criterion]
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
SETTINGS = ["1-reader", "2-readers", "reader+writer"]
SIZES = ["1", "8", "64"]
IMPLS = ["floor", "AtomicChain", "BlockingChain", "RawChain", "RwLock<Vec>", "registry-io", "signals2"]


def median_ns(group, bench):
    # criterion escapes '/', '<' and '>' in directory names
    def esc(s):
        return s.replace("/", "_").replace("<", "_").replace(">", "_")
    path = os.path.join(root, esc(group), esc(bench), "new", "estimates.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


print("| setting | callbacks | " + " | ".join(IMPLS) + " |")
print("|---|---:|" + "---:|" * len(IMPLS))
for setting in SETTINGS:
    for n in SIZES:
        group = f"{setting}/{n}"
        floor = median_ns(group, "floor")
        cells = []
        for impl in IMPLS:
            t = median_ns(group, impl)
            if t is None:
                cells.append("–")
            elif impl == "floor" or floor is None:
                cells.append(f"{t:.1f} ns")
            else:
                cells.append(f"{t:.1f} ns ({t / floor:.2f}×)")
        print(f"| {setting} | {n} | " + " | ".join(cells) + " |")

print()
print("| RawChain, unshared | callbacks | floor | RawChain |")
print("|---|---:|---:|---:|")
for n in SIZES:
    floor = median_ns("raw-unshared", f"floor/{n}")
    raw = median_ns("raw-unshared", f"RawChain/{n}")
    if floor and raw:
        print(f"| 1 thread, no lock | {n} | {floor:.1f} ns | {raw:.1f} ns ({raw / floor:.2f}×) |")
