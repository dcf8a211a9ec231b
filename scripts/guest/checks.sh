#!/bin/busybox sh
# The real-kernel checks, run by /init inside the test guest (busybox sh, 4 CPUs, cpu0 not
# hotpluggable). Each check prints one line
#     CHECK <name> PASS|FAIL|SKIP <detail>
# and output the host compares goes between "===BEGIN <name>===" and "===END <name>===".
# Timings print as "BENCH <key> <value> <unit> <note>". Every check starts and ends with all
# CPUs online and every hotplug/fail at -1; `restore` puts the machine back after a failure so
# one broken check cannot fail the ones after it.
S=/sys/devices/system/cpu
T=/sys/kernel/tracing
CPUS="1 2 3"

check() { echo "CHECK $1 $2 ${3:-}"; }
begin() { echo "===BEGIN $1==="; }
end() { echo "===END $1==="; }
# Nanoseconds since boot-ish; busybox date has %N when built with nanosecond support.
now_ns() {
	n=$(date +%s%N)
	case $n in *N) awk '{ printf "%d\n", $1 * 1000000000 }' /proc/uptime ;; *) echo "$n" ;; esac
}
restore() {
	for c in $CPUS; do
		echo -1 > $S/cpu$c/hotplug/fail 2>/dev/null
		[ "$(cat $S/cpu$c/online)" = 1 ] || echo 1 > $S/cpu$c/online 2>/dev/null
	done
}
# "ok" when every CPU is online and every fail file reads -1, else what differs.
clean_state() {
	bad=
	[ "$(cat $S/online)" = "0-3" ] || bad="$bad online=$(cat $S/online)"
	for c in 0 $CPUS; do
		f=$(cat $S/cpu$c/hotplug/fail)
		[ "$f" = -1 ] || bad="$bad cpu$c.fail=$f"
	done
	echo "${bad:-ok}"
}
statenum() { sed -n "s/^ *\([0-9]*\): $1\$/\1/p" $S/hotplug/states; }
have_cli() { cpuhp linux --help >/dev/null 2>&1; }

# --- 1. What the machine is ------------------------------------------------------------------
facts() {
	begin facts
	echo "KERNEL $(uname -r)"
	echo "PRESENT $(cat $S/present) POSSIBLE $(cat $S/possible) ONLINE $(cat $S/online)"
	for c in 0 $CPUS; do
		echo "HAS_ONLINE_FILE cpu=$c $([ -e $S/cpu$c/online ] && echo yes || echo no)"
	done
	echo "TRACEFS $([ -d $T/events/cpuhp ] && echo yes || echo no)"
	echo "UID $(id -u)"
	end facts
	if [ "$(cat $S/online)" = 0-3 ] && [ ! -e $S/cpu0/online ] && [ -e $S/cpu3/online ] \
		&& [ -d $T/events/cpuhp ]; then
		check sysfs_facts PASS "kernel $(uname -r), CPUs 0-3 online, cpu0 not hotpluggable, tracefs"
	else
		check sysfs_facts FAIL "online=$(cat $S/online) tracefs=$([ -d $T/events/cpuhp ] && echo yes)"
	fi
}

# --- 2. Offline/online through sysfs with a private trace instance -----------------------------
trace_on() {
	mkdir -p $T/instances/guest
	echo 1 > $T/instances/guest/events/cpuhp/enable
	echo > $T/instances/guest/trace
	echo 1 > $T/instances/guest/tracing_on
}
trace_off() { echo 0 > $T/instances/guest/tracing_on; cat $T/instances/guest/trace | grep -v '^#'; }
trace_drop() { echo 0 > $T/instances/guest/events/cpuhp/enable; rmdir $T/instances/guest; }
sysfs_offline_online() {
	bad=
	for c in $CPUS; do
		trace_on
		echo 0 > $S/cpu$c/online || bad="$bad offline$c.rc"
		tr=$(trace_off)
		want=$(case $c in 1) echo 0,2-3 ;; 2) echo 0-1,3 ;; 3) echo 0-2 ;; esac)
		[ "$(cat $S/online)" = "$want" ] || bad="$bad after-offline$c=$(cat $S/online)"
		n=$(echo "$tr" | grep -c "cpuhp_enter: cpu: 000$c ")
		x=$(echo "$tr" | grep -c "cpuhp_exit: *cpu: 000$c ")
		[ "$n" -gt 0 ] && [ "$x" -gt 0 ] || bad="$bad trace$c:enter=$n,exit=$x"
		trace_on
		echo 1 > $S/cpu$c/online || bad="$bad online$c.rc"
		tr=$(trace_off)
		[ "$(cat $S/online)" = 0-3 ] || bad="$bad after-online$c=$(cat $S/online)"
		n=$(echo "$tr" | grep -c "cpuhp_enter: cpu: 000$c ")
		[ "$n" -gt 0 ] || bad="$bad trace-up$c:enter=$n"
		trace_drop
	done
	[ -z "$bad" ] && check sysfs_offline_online PASS "cpus 1-3 down and up, masks and traces as expected" \
		|| check sysfs_offline_online FAIL "$bad"
	restore
}

# --- 6. An injected failure: the kernel rolls back and clears fail ----------------------------
sysfs_fail() {
	st=$(statenum sched:active)
	on=$(statenum online)
	echo "$st" > $S/cpu1/hotplug/fail
	echo 0 > $S/cpu1/online 2>/dev/null; rc=$?
	got="rc=$rc online=$(cat $S/online) cpu1.state=$(cat $S/cpu1/hotplug/state) fail=$(cat $S/cpu1/hotplug/fail)"
	if [ $rc != 0 ] && [ "$(cat $S/online)" = 0-3 ] && [ "$(cat $S/cpu1/hotplug/state)" = "$on" ] \
		&& [ "$(cat $S/cpu1/hotplug/fail)" = -1 ]; then
		check sysfs_fail PASS "fail=$st (sched:active) on cpu1: offline refused, rolled back: $got"
	else
		check sysfs_fail FAIL "$got"
	fi
	restore
}

# --- 8. The kernel's own refusal: cpu0 has no online file on x86 ------------------------------
sysfs_last_cpu() {
	for c in $CPUS; do echo 0 > $S/cpu$c/online; done
	left=$(cat $S/online)
	restore
	if [ "$left" = 0 ] && [ ! -e $S/cpu0/online ] && [ "$(clean_state)" = ok ]; then
		check sysfs_last_cpu PASS "cpus 1-3 offline leaves 0, which has no online file; restored"
	else
		check sysfs_last_cpu FAIL "left=$left after-restore=$(clean_state)"
	fi
}

# --- Timings (TCG) ------------------------------------------------------------------------------
N=${BENCH_N:-20}
bench_bare() {
	t0=$(now_ns)
	i=0; while [ $i -lt $N ]; do echo 0 > $S/cpu1/online; echo 1 > $S/cpu1/online; i=$((i + 1)); done
	t1=$(now_ns)
	BARE_NS=$(((t1 - t0) / N))
	echo "BENCH bare_offline_online_ns $BARE_NS ns per offline+online of cpu1 via echo (mean of $N)"
	trace_on
	t0=$(now_ns)
	i=0; while [ $i -lt $N ]; do echo 0 > $S/cpu1/online; echo 1 > $S/cpu1/online; i=$((i + 1)); done
	t1=$(now_ns)
	trace_off > /dev/null; trace_drop
	TRACED_NS=$(((t1 - t0) / N))
	echo "BENCH bare_traced_offline_online_ns $TRACED_NS ns per offline+online of cpu1 via echo with the cpuhp events on in a private instance (mean of $N)"
	restore
}

echo "CHECKS-START uptime=$(cut -d' ' -f1 /proc/uptime)"
facts
sysfs_offline_online
sysfs_fail
sysfs_last_cpu
bench_bare
echo "FINAL $(clean_state)"
