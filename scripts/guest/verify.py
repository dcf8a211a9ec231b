#!/usr/bin/env python3
"""Reads the guest's serial console and decides: every expected CHECK line must be PASS (SKIP
too, unless --strict 1), no check may be FAIL, missing or unexpected. Writes the BENCH lines to
--bench and echoes them. Prints the console lines of each failed check's section."""
import argparse
import re
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--console", required=True, action="append", help="one per guest run")
    ap.add_argument("--expected", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--strict", default="0")
    a = ap.parse_args()

    consoles = [
        open(c, encoding="utf-8", errors="replace").read().splitlines() for c in a.console
    ]
    lines = [l for c in consoles for l in c]
    expected = [
        l.strip()
        for l in open(a.expected, encoding="utf-8")
        if l.strip() and not l.startswith("#")
    ]
    strict = a.strict == "1"

    results = {}
    where = {}
    for i, line in enumerate(lines):
        m = re.match(r"^CHECK (\S+) (PASS|FAIL|SKIP)\b ?(.*)$", line)
        if m:
            name, status, detail = m.groups()
            if name in results:
                results[name] = ("FAIL", f"printed twice: {results[name][0]} then {status}")
            else:
                results[name] = (status, detail)
            where[name] = i

    bench = [l for l in lines if l.startswith("BENCH ")]
    with open(a.bench, "w", encoding="utf-8") as f:
        f.write("# Measured in a QEMU TCG guest (no KVM), Linux %s, 4 vCPUs\n" % kernel(lines))
        for l in bench:
            f.write(l + "\n")
    for l in bench:
        print(l)

    failed = []
    for name in expected:
        status, detail = results.get(name, ("MISSING", "the guest printed no CHECK line"))
        ok = status == "PASS" or (status == "SKIP" and not strict)
        print(f"  {'ok ' if ok else 'BAD'} {name:<28} {status} {detail}")
        if not ok:
            failed.append(name)
    for name in sorted(set(results) - set(expected)):
        print(f"  BAD {name:<28} {results[name][0]} (not in the expected list)")
        failed.append(name)

    for path, c in zip(a.console, consoles):
        final = [l for l in c if l.startswith("FINAL ")]
        if final != ["FINAL ok"]:
            print(f"  BAD machine state at the end of {path}: {final or 'no FINAL line'}")
            failed.append(f"final-state ({path})")

    passed = sum(1 for n in expected if results.get(n, ("",))[0] == "PASS")
    skipped = sum(1 for n in expected if results.get(n, ("",))[0] == "SKIP")
    if failed:
        for name in failed:
            show_context(lines, where.get(name))
        print(f"guest: FAILED: {', '.join(failed)}", file=sys.stderr)
    print(f"guest: {passed} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed else 0


def kernel(lines):
    for l in lines:
        if l.startswith("KERNEL "):
            return l.split()[1]
    return "?"


def show_context(lines, idx):
    """The console lines from the previous CHECK line up to this one."""
    if idx is None:
        return
    start = idx
    while start > 0 and not lines[start - 1].startswith("CHECK "):
        start -= 1
    print("---- console ----")
    for l in lines[max(start, idx - 60) : idx + 1]:
        print("  | " + l)


if __name__ == "__main__":
    sys.exit(main())
