#!/usr/bin/env bash
# Real-kernel tests: boots Debian's Linux 6.1 under QEMU (TCG, 4 CPUs) with an initramfs that
# holds busybox, a static `cpuhp` and the check script, and asserts the CHECK lines the guest
# prints on its serial console. Run as root on Debian 12; installs what it needs with apt-get.
#
# Environment:
#   GUEST_STRICT=1        a SKIP counts as a failure (default: only FAIL and missing checks do)
#   GUEST_WORK=DIR        scratch dir (default: target/guest)
#   GUEST_KERNEL_PKG=PKG  the kernel package (default: linux-image-6.1.0-56-amd64 if apt has it,
#                         else the one linux-image-amd64 depends on)
#   GUEST_SILENCE=SECS    a guest whose console prints nothing for this long is stopped as hung
#                         (default: 420; the longest quiet step, the sweep, allows SWEEP_SECONDS+120)
#   GUEST_TIMEOUT=SECS    hard limit for all QEMU runs together (default: 3600). TCG's speed
#                         depends on the host and its load (a CI host has run the checks 5x
#                         slower than the machine BENCHMARKS.md names), so a slow guest that
#                         keeps printing is waited for; only silence or this ceiling stop it
#   GUEST_BENCH_N=N       timing iterations in the guest (default: 20)
#   GUEST_BENCH_BUDGET_S=SECS  the timing loop stops early after this long (default: 90)
#   GUEST_SWEEP_SECONDS=SECS   `linux sweep --max-seconds` (default: 120)
#   GUEST_STRESS_N=N      random offline/online writes while `linux watch` runs (default: 200)
#   GUEST_FOLLOW_BENCH_N=N  samples per variant of the follow latency timing (default: 15)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/scripts/guest
WORK=${GUEST_WORK:-$ROOT/target/guest}
TIMEOUT=${GUEST_TIMEOUT:-3600}
SILENCE=${GUEST_SILENCE:-420}
STRICT=${GUEST_STRICT:-0}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

say() { echo "guest: $*"; }
# ldd exits 0 for a static-pie binary ("statically linked"), so read what it says.
# (ldd exits 1 for a non-PIE static binary, hence no pipe under pipefail.)
is_static() {
	local out
	out=$(ldd "$1" 2>&1 || true)
	case $out in *'not a dynamic executable'* | *'statically linked'*) return 0 ;; *) return 1 ;; esac
}
die() { echo "guest: FAILED: $*" >&2; exit 1; }
T0=$(date +%s)

# --- Host tools -----------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# busybox-static's /bin/busybox (Debian's plain busybox package is dynamic and useless in the guest)
{ [ -x /bin/busybox ] && is_static /bin/busybox; } || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v python3 >/dev/null || need+=(python3)
APT_UPDATED=0
apt_update() { [ $APT_UPDATED = 1 ] || { apt-get update -qq; APT_UPDATED=1; }; }
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
BUSYBOX=/bin/busybox
is_static "$BUSYBOX" || die "$BUSYBOX is not static (install busybox-static)"

# --- Kernel: extracted from the .deb into the scratch dir, never installed into /boot ---------
pick_kernel() {
	if [ -n "${GUEST_KERNEL_PKG:-}" ]; then echo "$GUEST_KERNEL_PKG"; return; fi
	if apt-cache show linux-image-6.1.0-56-amd64 >/dev/null 2>&1; then
		echo linux-image-6.1.0-56-amd64; return
	fi
	apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*\)$/\1/p' | head -n1
}
KPKG=$(pick_kernel)
if [ -z "$KPKG" ] || ! apt-cache show "$KPKG" >/dev/null 2>&1; then
	apt_update
	KPKG=$(pick_kernel)
fi
[ -n "$KPKG" ] || die "no Linux 6.1 kernel package found (apt-cache search linux-image-6.1)"
fetch_kernel() {
	KDIR=$WORK/kernel/$KPKG
	VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
	[ -z "$VMLINUZ" ] || return 0
	say "downloading $KPKG"
	rm -rf "$KDIR"
	mkdir -p "$KDIR/deb"
	# apt-get download writes to the current directory; _apt must be able to write there.
	chmod 777 "$KDIR/deb"
	(cd "$KDIR/deb" && apt-get download -qq "$KPKG" 2>&1 | grep -v 'unsandboxed' || true)
	local deb
	deb=$(ls "$KDIR"/deb/*.deb 2>/dev/null | head -n1 || true)
	[ -n "$deb" ] || return 1
	dpkg-deb -x "$deb" "$KDIR"
	rm -rf "$KDIR/deb"
	VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -n1)
}
if ! fetch_kernel; then
	# Stale package lists can name a version the mirror no longer has.
	[ $APT_UPDATED = 1 ] && die "apt-get download $KPKG produced no .deb"
	apt_update
	KPKG=$(pick_kernel)
	fetch_kernel || die "apt-get download $KPKG produced no .deb"
fi
say "kernel $VMLINUZ"

# --- The static CLI ---------------------------------------------------------------------------
say "building a static cpuhp"
export CARGO_TARGET_DIR=$WORK/cargo
(cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" \
	cargo build --release --quiet -p cpuhp-cli --target x86_64-unknown-linux-gnu)
CPUHP=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/cpuhp
is_static "$CPUHP" || die "$CPUHP is not static"
T_BUILD=$(date +%s)

# --- Initramfs --------------------------------------------------------------------------------
IR=$WORK/initramfs
rm -rf "$IR"
mkdir -p "$IR"/{bin,sbin,proc,sys,dev,tmp,etc}
cp "$BUSYBOX" "$IR/bin/busybox"
cp "$CPUHP" "$IR/bin/cpuhp"
cp "$HERE/init" "$IR/init"
cp "$HERE/checks.sh" "$IR/checks.sh"
chmod 755 "$IR/init" "$IR/checks.sh"
INITRD=$WORK/initramfs.cpio.gz
(cd "$IR" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$INITRD"

# --- Boot -------------------------------------------------------------------------------------
# boot MODE CPU [EXTRA KERNEL ARGS]: one guest run; its console in $WORK/console-MODE.log.
boot() {
	local mode=$1 cpu=$2 console=$WORK/console-$1.log qrc qpid start now last=0 size quiet=0 left why=
	shift 2
	start=$(date +%s)
	left=$((TIMEOUT - (start - T_BOOT)))
	[ $left -gt 0 ] || die "no time left for the $mode guest (GUEST_TIMEOUT=${TIMEOUT}s for all guests)"
	say "booting the $mode guest (TCG, 4 CPUs; stopped after ${SILENCE}s of silence or ${left}s); console in $console"
	qemu-system-x86_64 -accel tcg,thread=single -cpu "$cpu" -smp 4 -m 1G \
		-nographic -no-reboot -monitor none -serial stdio -display none -nodefaults \
		-kernel "$VMLINUZ" -initrd "$INITRD" \
		-append "console=ttyS0 panic=-1 quiet cpuhp_guest=$mode $BENCH_ENV $*" </dev/null >"$console.raw" 2>&1 &
	qpid=$!
	trap 'kill -KILL $qpid 2>/dev/null' EXIT
	# The watchdog: the checks must keep printing (the kernel's own lines, "[  12.3] ...", do
	# not count: a locked-up guest prints RCU stall reports forever), and all guests share one
	# ceiling.
	while kill -0 $qpid 2>/dev/null; do
		sleep 2
		now=$(date +%s)
		size=$(grep -a -c -v '^\[' "$console.raw" || true)
		if [ "$size" != "$last" ]; then last=$size; quiet=$now; fi
		[ $quiet = 0 ] && quiet=$now
		if [ $((now - quiet)) -ge "$SILENCE" ]; then why="printed no check output for ${SILENCE}s"; fi
		if [ $((now - start)) -ge "$left" ]; then why="was still running when the ${TIMEOUT}s for all guests ran out"; fi
		if [ -n "$why" ]; then
			kill -TERM $qpid 2>/dev/null || true
			sleep 5
			kill -KILL $qpid 2>/dev/null || true
			break
		fi
	done
	set +e
	wait $qpid
	qrc=$?
	set -e
	trap - EXIT
	tr -d '\r' <"$console.raw" >"$console"
	rm -f "$console.raw"
	if grep -q '^GUEST-STALLED' "$console"; then
		# The guest's watchdog fired: what was running, the blocked tasks, the CPUs' backtraces.
		sed -n '/^GUEST-STALLED/,$p' "$console" | head -n 200
		die "the $mode guest stalled: $(grep -m1 '^GUEST-STALLED' "$console")"
	fi
	if [ -n "$why" ]; then
		# The checks' last lines, then the kernel's first complaint (a stall names the stuck CPU).
		grep -a -v '^\[' "$console" | tail -n 30
		grep -a -m 1 -A 60 'stall\|soft lockup\|hung_task\|BUG' "$console" || true
		die "the $mode guest $why (after $(($(date +%s) - start))s)"
	fi
	[ $qrc = 0 ] || { tail -n 40 "$console"; die "QEMU ($mode) exited with $qrc"; }
	grep -q '^GUEST-DONE' "$console" || { tail -n 40 "$console"; die "the $mode guest did not finish its checks (no GUEST-DONE line)"; }
}
# Unknown name=value kernel parameters reach /init as environment variables.
BENCH_ENV="BENCH_N=${GUEST_BENCH_N:-20} BENCH_BUDGET_S=${GUEST_BENCH_BUDGET_S:-90} SWEEP_SECONDS=${GUEST_SWEEP_SECONDS:-120} STRESS_N=${GUEST_STRESS_N:-200} FOLLOW_BENCH_N=${GUEST_FOLLOW_BENCH_N:-15}"
T_BOOT=$(date +%s)
boot main qemu64
T_MAIN=$(date +%s)
# cpu0_hotplug gives cpu0 an online file (6.1 honours it on Intel CPUs only): the only way the
# last online CPU is one the kernel would take offline, so the tool's own refusal is what stops it.
boot cpu0 qemu64,vendor=GenuineIntel cpu0_hotplug
# CpuWatcher and Follower on the real kernel, and their timing: a boot of their own (checks.sh).
boot watch qemu64
T_END=$(date +%s)

# --- Assertions -------------------------------------------------------------------------------
VRC=0
python3 "$HERE/verify.py" --console "$WORK/console-main.log" --console "$WORK/console-cpu0.log" \
	--console "$WORK/console-watch.log" --expected "$HERE/expected-checks" \
	--bench "$WORK/bench.txt" --strict "$STRICT" || VRC=$?
say "times: setup (tools, kernel, static build) $((T_BUILD - T0)) s, guests $((T_MAIN - T_BOOT)) s + $((T_END - T_MAIN)) s, total $((T_END - T0)) s"
exit $VRC
