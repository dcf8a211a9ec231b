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

# Every step leaves what it is doing in /tmp/progress, for /init's watchdog.
step() { echo "$*" > /tmp/progress; }
# Each check also prints the guest's uptime, so a slow or stuck host shows where the time went.
check() { echo "CHECK $1 $2 ${3:-}"; echo "UPTIME $(cut -d' ' -f1 /proc/uptime) after $1"; step "after CHECK $1"; }
begin() { echo "===BEGIN $1==="; }
end() { echo "===END $1==="; }
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
		step "sysfs_offline_online cpu$c"
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
		# Every ring buffer is an instance of trace/RB:prepare: a trace instance adds its own.
		echo "INFO cpu$c bring-up with one private trace instance: $(echo "$tr" | grep -c 'trace_rb_cpu_prepare') trace_rb_cpu_prepare calls"
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

# --- The simulator replays a live recording of plain sysfs writes -------------------------------
# The same line format as the project's conformance recordings (CMD write / WRITE / TRACE /
# ONLINE / CPUSTATE), recorded here on the live kernel without any test module, then replayed
# line by line by `cpuhp replay`: every callback, return code and per-CPU state must agree.
errno_of() {
	case $1 in
	'') echo "0 0" ;;
	*'Resource temporarily unavailable'*) echo "-11 EAGAIN" ;;
	*'Device or resource busy'*) echo "-16 EBUSY" ;;
	*'Invalid argument'*) echo "-22 EINVAL" ;;
	*'Input/output error'*) echo "-5 EIO" ;;
	*'Cannot allocate memory'*) echo "-12 ENOMEM" ;;
	*) echo "-1 UNKNOWN" ;;
	esac
}
# rw PATH VALUE: one write, as "CMD write" + "WRITE ... rc= err=" (the shell's error text mapped
# back to the errno name).
rw() {
	echo "CMD write $1 $2"
	step "write $2 > $1"
	msg=$( { echo "$2" > "$1"; } 2>&1 )
	set -- "$1" "$2" $(errno_of "$msg")
	echo "WRITE path=$1 val=$2 rc=$3 err=$4"
}
rsnap() {
	echo "ONLINE $(cat $S/online)"
	for c in 0 $CPUS; do
		echo "CPUSTATE cpu=$c state=$(cat $S/cpu$c/hotplug/state) target=$(cat $S/cpu$c/hotplug/target) fail=$(cat $S/cpu$c/hotplug/fail)"
	done
}
# The global buffer, as the recordings used: each trace instance adds a trace_rb_cpu_prepare
# instance callback to every bring-up.
rtstart() { echo 0 > $T/tracing_on; echo > $T/trace; echo 1 > $T/events/cpuhp/enable; echo 1 > $T/tracing_on; }
# The CPU's hotplug thread (cpuhp/N) is ctx=ap, anything else (the writer, a kworker) ctx=bp.
rtstop() {
	echo 0 > $T/tracing_on; echo 0 > $T/events/cpuhp/enable
	grep -v '^#' $T/trace | sed -e 's/^ *cpuhp\/[0-9]*-[0-9]* *\[[0-9]*\] [^ ]* *[0-9.]*: /TRACE ctx=ap /' \
		-e 't sp' -e 's/^ *.*-[0-9]* *\[[0-9]*\] [^ ]* *[0-9.]*: /TRACE ctx=bp /' -e ': sp' -e 's/  */ /g'
}
sysfs_replay() {
	act=$(statenum sched:active)
	{
		echo "KERNEL $(uname -r)"
		rsnap
		rtstart; rw $S/cpu1/online 0; rtstop; rsnap
		rtstart; rw $S/cpu1/online 1; rtstop; rsnap
		# A failure injected through the fail file, down and up.
		echo "INFO state_active=$act"
		rw $S/cpu2/hotplug/fail "$act"; rsnap
		rtstart; rw $S/cpu2/online 0; rtstop; rsnap
		rw $S/cpu2/online 0; rsnap
		rw $S/cpu2/hotplug/fail "$act"
		rtstart; rw $S/cpu2/online 1; rtstop; rsnap
		rw $S/cpu2/online 1; rsnap
		# target: only offline and online without CONFIG_CPU_HOTPLUG_STATE_CONTROL.
		rw $S/cpu3/hotplug/target 100
		rtstart; rw $S/cpu3/hotplug/target 0; rtstop; rsnap
		rw $S/cpu3/hotplug/target "$(statenum online)"; rsnap
		rw $S/cpu3/hotplug/fail 5000
		rw $S/cpu1/online 2
		rsnap
	} > /tmp/live.txt 2>&1
	begin live_recording; cat /tmp/live.txt; end live_recording
	# The same recording with the kernel's EAGAIN turned into success must not replay: the
	# comparison can fail.
	sed 's/rc=-11 err=EAGAIN/rc=0 err=0/' /tmp/live.txt > /tmp/tampered.txt
	rt=same-file
	cmp -s /tmp/live.txt /tmp/tampered.txt || { run replay_tampered cpuhp replay /tmp/tampered.txt; rt=$RC; }
	run replay cpuhp replay /tmp/live.txt
	if [ $RC = 0 ] && [ $rt != 0 ] && [ $rt != same-file ] && [ "$(clean_state)" = ok ]; then
		check sysfs_replay PASS "cpuhp replay of a live recording ($(grep -c '^TRACE' /tmp/live.txt) trace lines, $(grep -c '^WRITE' /tmp/live.txt) writes): identical; a tampered copy rc=$rt"
	else
		check sysfs_replay FAIL "replay rc=$RC, tampered copy rc=$rt, state=$(clean_state)"
	fi
	restore
}

# --- The cpuhp CLI on the real kernel -----------------------------------------------------------
# has SUB: `cpuhp linux SUB` exists in this build (a check whose command is missing prints SKIP).
has() { cpuhp linux "$1" --help >/dev/null 2>&1; }
skip_unless() {
	for sub in "$@"; do
		has "$sub" || { check "$CHK" SKIP "command not available: cpuhp linux $sub"; return 1; }
	done
}
# run NAME CMD...: runs CMD, its output (stdout+stderr) between markers, exit code in $RC.
# stdin is not the console (a prompt must not wait for an answer), and a command that hangs is
# killed after CMD_TIMEOUT seconds (exit 143) so the checks after it still run.
CMD_TIMEOUT=${CMD_TIMEOUT:-120}
run() {
	name=$1; shift
	echo "CMD $*"
	step "CMD $*"
	timeout "$CMD_TIMEOUT" "$@" < /dev/null > /tmp/out 2>&1; RC=$?
	begin "$name"; cat /tmp/out; end "$name"
	echo "RC $name $RC"
}
# json_value KEY FILE: the "value" of a probe finding, from pretty or compact JSON.
json_value() {
	tr -d ' \n\t' < "$2" | grep -o "\"$1\":{\"value\":[^,}]*" | head -n 1 | sed 's/.*"value"://; s/^"//; s/"$//'
}

# 1. probe says what sysfs says.
linux_probe() {
	CHK=linux_probe; skip_unless probe || return
	run probe cpuhp linux probe --json
	cp /tmp/out /tmp/probe.json
	bad=
	[ $RC = 0 ] || bad="$bad rc=$RC"
	v=$(json_value kernel /tmp/probe.json); [ "$v" = "$(uname -r)" ] || bad="$bad kernel=$v"
	v=$(json_value online /tmp/probe.json); [ "$v" = "$(cat $S/online)" ] || bad="$bad online=$v"
	files=$(for c in 0 $CPUS; do [ -e $S/cpu$c/online ] && echo $c; done | tr '\n' ' ')
	want=$(echo $files | sed 's/ /,/g')
	[ "$want" = 1,2,3 ] && want=1-3
	v=$(json_value online_files /tmp/probe.json); [ "$v" = "$want" ] || bad="$bad online_files=$v(want $want)"
	v=$(json_value root /tmp/probe.json); [ "$v" = true ] || bad="$bad root=$v"
	v=$(json_value hotplug /tmp/probe.json); [ "$v" = true ] || bad="$bad hotplug=$v"
	v=$(json_value fail /tmp/probe.json); [ "$v" = true ] || bad="$bad fail=$v"
	v=$(json_value tracefs /tmp/probe.json); [ "$v" = "$T" ] || bad="$bad tracefs=$v(want $T)"
	v=$(json_value tracefs_writable /tmp/probe.json); [ "$v" = true ] || bad="$bad tracefs_writable=$v"
	v=$(json_value must_stay /tmp/probe.json); [ "$v" = 0 ] || bad="$bad must_stay=$v"
	[ -z "$bad" ] && check $CHK PASS "kernel, online, online_files, root, hotplug, fail, tracefs, must_stay as sysfs says" \
		|| check $CHK FAIL "$bad"
}

# 2. offline/online of CPUs 1-3 through the tool, recorded.
linux_offline_online() {
	CHK=linux_offline_online; skip_unless record offline online || return
	bad=
	for c in $CPUS; do
		run "record_offline_$c" cpuhp linux record --yes --format ftrace -- offline $c
		[ $RC = 0 ] || bad="$bad offline$c.rc=$RC"
		want=$(case $c in 1) echo 0,2-3 ;; 2) echo 0-1,3 ;; 3) echo 0-2 ;; esac)
		[ "$(cat $S/online)" = "$want" ] || bad="$bad after-offline$c=$(cat $S/online)"
		n=$(grep -c "cpuhp_enter: cpu: 000$c " /tmp/out); x=$(grep -c "cpuhp_exit: *cpu: 000$c " /tmp/out)
		[ "$n" -gt 0 ] && [ "$x" -gt 0 ] || bad="$bad record-offline$c:enter=$n,exit=$x"
		run "record_online_$c" cpuhp linux record --yes --format ftrace -- online $c
		[ $RC = 0 ] || bad="$bad online$c.rc=$RC"
		[ "$(cat $S/online)" = 0-3 ] || bad="$bad after-online$c=$(cat $S/online)"
		n=$(grep -c "cpuhp_enter: cpu: 000$c " /tmp/out); x=$(grep -c "cpuhp_exit: *cpu: 000$c " /tmp/out)
		[ "$n" -gt 0 ] && [ "$x" -gt 0 ] || bad="$bad record-online$c:enter=$n,exit=$x"
	done
	left=$(ls $T/instances)
	[ -z "$left" ] || bad="$bad instances-left=$left"
	[ -z "$bad" ] && check $CHK PASS "cpus 1-3 offline and online, ONLINE mask after each, cpuhp_enter/exit for that CPU, no instance left" \
		|| check $CHK FAIL "$bad"
	restore
}

# 3. The live kernel learned equals the built-in linux-6.1 preset; a learned file with one
# callback renamed does not (the comparison can fail).
linux_learn() {
	CHK=linux_learn; skip_unless learn diff-preset || return
	run learn cpuhp linux learn --yes --cpu 1 -o /tmp/learned.json
	[ $RC = 0 ] || { check $CHK FAIL "learn rc=$RC state=$(clean_state)"; restore; return; }
	begin learned; cat /tmp/learned.json; end learned
	run learn_diff cpuhp linux diff-preset /tmp/learned.json --preset linux-6.1; r1=$RC
	same=$(grep -m 1 '^identical' /tmp/out)
	sed 's/"rcutree_offline_cpu"/"renamed_offline_cpu"/' /tmp/learned.json > /tmp/renamed.json
	r2=same-file
	cmp -s /tmp/learned.json /tmp/renamed.json \
		|| { run learn_diff_renamed cpuhp linux diff-preset /tmp/renamed.json --preset linux-6.1; r2=$RC; }
	if [ $r1 = 0 ] && [ "$r2" = 1 ] && [ "$(clean_state)" = ok ]; then
		check $CHK PASS "learn --cpu 1 rc 0; diff-preset rc 0 ($same); with rcutree_offline_cpu renamed rc 1"
	else
		check $CHK FAIL "diff-preset rc=$r1, renamed rc=$r2, state=$(clean_state)"
	fi
	restore
}

# 4. check: the real kernel and the simulator walk the same callbacks, for plain operations and
# for a failure the kernel rolls back; with a learned preset that misnames a callback, it differs.
linux_check() {
	CHK=linux_check; skip_unless check || return
	st=$(statenum sched:active)
	run check_offline cpuhp linux check --yes -- offline 2; r1=$RC
	p1=$(grep -m 1 '^PASS' /tmp/out)
	run check_online cpuhp linux check --yes -- online 2; r2=$RC
	run check_both cpuhp linux check --yes -- offline 2 then online 2; r3=$RC
	run check_fail cpuhp linux check --yes -- fail 2 "$st" then offline 2; r4=$RC
	st_before=$(clean_state)
	r5=skipped
	if [ -s /tmp/renamed.json ]; then
		run check_renamed cpuhp linux check --yes --preset-file /tmp/renamed.json -- offline 2; r5=$RC
	fi
	if [ $r1 = 0 ] && [ $r2 = 0 ] && [ $r3 = 0 ] && [ $r4 = 0 ] && [ "$r5" = 1 ] && [ "$st_before" = ok ]; then
		check $CHK PASS "offline 2 ($p1), online 2, both in one run, fail $st then offline 2: rc 0; a renamed callback in the preset: rc 1"
	else
		check $CHK FAIL "rc offline=$r1 online=$r2 both=$r3 fail=$r4 renamed-preset=$r5 state-before-renamed=$st_before"
	fi
	restore
}

# 5. sweep: each real rollback against the simulator's prediction. Cases the time limit left out
# are counted in the detail (the summary line says how many ran).
SWEEP_SECONDS=${SWEEP_SECONDS:-120}
linux_sweep() {
	CHK=linux_sweep; skip_unless sweep || return
	echo $((SWEEP_SECONDS + 150)) > /tmp/stall
	CMD_TIMEOUT=$((SWEEP_SECONDS + 120)) run sweep cpuhp linux sweep --cpus 2 --max-seconds "$SWEEP_SECONDS" --yes
	rm -f /tmp/stall
	st=$(clean_state)
	summary=$(grep -m 1 'cases run of' /tmp/out)
	if [ $RC = 0 ] && [ "$st" = ok ] && [ -n "$summary" ]; then
		check $CHK PASS "cpu2: $summary; all online, fail -1 after"
	else
		# Name the differences: what the kernel did at each first differing callback, counted.
		diffs=$(grep '^  -  *[0-9]' /tmp/out | sed 's/^  -  *[0-9]*  *//; s/  */ /g' | sort | uniq -c \
			| sed 's/^ *//' | tr '\n' ';')
		check $CHK FAIL "rc=$RC state=$st: ${summary:-no summary line}; first kernel line of each difference (count kernel-line): $diffs"
	fi
	restore
}

# 6. An injected failure in a multi-CPU operation: the tool puts back the CPUs it had taken.
# (a) fail set from outside, (b) fail set by the tool itself inside a recorded transaction, and
# (c) an armed fail the operation never reaches: the tool disarms it when it commits.
linux_fail_restore() {
	CHK=linux_fail_restore; skip_unless offline record || return
	st=$(statenum sched:active)
	bad=
	echo "$st" > $S/cpu3/hotplug/fail
	run fail_restore cpuhp linux offline 1-3 --yes
	after=$(clean_state)
	{ [ $RC = 1 ] && [ "$after" = ok ] && grep -q EAGAIN /tmp/out && grep -q 'cpu3/online' /tmp/out \
		&& grep -q 'restored' /tmp/out; } || bad="$bad (a) rc=$RC after=$after"
	restore
	run fail_restore_recorded cpuhp linux record --yes --format ftrace -- fail 3 "$st" then offline 1-3
	after=$(clean_state)
	{ [ $RC = 1 ] && [ "$after" = ok ] && grep -q EAGAIN /tmp/out; } || bad="$bad (b) rc=$RC after=$after"
	restore
	run fail_disarmed cpuhp linux record --yes --format ftrace -- fail 3 "$st" then offline 1-2
	mid="online=$(cat $S/online) cpu3.fail=$(cat $S/cpu3/hotplug/fail)"
	[ $RC = 0 ] && [ "$mid" = "online=0,3 cpu3.fail=-1" ] || bad="$bad (c) rc=$RC $mid"
	restore
	# (d) The same kind of failure on one CPU, as the timeline shows it (README's example): the
	# kernel's own rollback, callback by callback, and the tool putting the fail file back.
	wq=$(statenum workqueue:online)
	run timeline_rollback cpuhp linux record --yes --format timeline -- fail 2 "$wq" then offline 2
	after=$(clean_state)
	# The injected failure itself is not traced (the kernel returns before its tracepoint): the
	# teardowns above workqueue:online run, then their startups again, and the operation fails.
	{ [ $RC = 1 ] && [ "$after" = ok ] && grep -q 'rcutree_offline_cpu' /tmp/out \
		&& grep -q 'rcutree_online_cpu' /tmp/out && grep -q 'failed with EAGAIN' /tmp/out; } \
		|| bad="$bad (d) rc=$RC after=$after"
	restore
	[ -z "$bad" ] && check $CHK PASS "fail=$st on cpu3: offline 1-3 fails with EAGAIN on cpu3/online and cpus 1-2 are put back, set from outside and by the tool; an unreached fail is disarmed on commit" \
		|| check $CHK FAIL "$bad"
}

# 7. SIGINT in the middle of an operation: everything it changed is put back.
# sigint_during CHECK WANT_RC READY CMD...: starts CMD in the background, waits until the shell
# function READY succeeds (the operation is under way), sends SIGINT, and requires CMD to exit by
# itself with WANT_RC ("any" for any non-zero), leaving all CPUs online, every fail at -1 and no
# trace instance behind.
sigint_during() {
	chk=$1 want=$2 ready=$3; shift 3
	echo "CMD $* (SIGINT once $ready)"
	"$@" < /dev/null > /tmp/sigint.out 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 1000 ] && ! $ready && kill -0 $pid 2>/dev/null; do
		i=$((i + 1)); usleep 20000
	done
	mid="$(clean_state), instances: $(ls $T/instances | tr '\n' ' ')"
	grep -E '^Sig(Ign|Cgt)' /proc/$pid/status 2>/dev/null | tr '\n\t' '  ' | sed 's/^/SIGNALS /'; echo
	kill -INT $pid 2>/dev/null
	# It must exit by itself; one that does not within a minute is killed and the check fails.
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do i=$((i + 1)); usleep 100000; done
	hung=
	kill -0 $pid 2>/dev/null && { kill -KILL $pid; hung=" (still running 60 s after SIGINT: killed)"; }
	wait $pid; rc=$?
	begin "$chk"; cat /tmp/sigint.out; end "$chk"
	after=$(clean_state)
	left=$(ls $T/instances)
	[ -z "$left" ] || after="$after instances-left=$left"
	rc_ok=no
	case $want in any) [ $rc != 0 ] && rc_ok=yes ;; *) [ $rc = "$want" ] && rc_ok=yes ;; esac
	if [ "$mid" != "ok, instances: " ] && [ "$after" = ok ] && [ -z "$hung" ] && [ $rc_ok = yes ]; then
		check "$chk" PASS "SIGINT at $mid: rc=$rc, $(grep -c '^restored' /tmp/sigint.out) restored lines, all online and fail -1 after"
	else
		check "$chk" FAIL "interrupted at '$mid', rc=$rc (want $want)$hung, after: $after"
	fi
	restore
}
# The sweep records each case in its own instance, cpuhp-sweep-N: inside the fourth case or later.
sweep_under_way() { ls $T/instances | grep -Eq '^cpuhp-.*-([3-9]|[1-9][0-9]+)$'; }
machine_changed() { [ "$(clean_state)" != ok ]; }
linux_sigint() {
	CHK=linux_sigint; skip_unless sweep || return
	sigint_during linux_sigint 130 sweep_under_way cpuhp linux sweep --cpus 1 --yes
}
# The same for a recorded chain of operations (a transaction of several writes): exit 130.
linux_sigint_record() {
	CHK=linux_sigint_record; skip_unless record || return
	sigint_during linux_sigint_record 130 machine_changed cpuhp linux record --yes -- offline 1 then offline 2 \
		then offline 3 then online 1 then online 2 then online 3 then offline 1-3 then online 1-3
}

# 8. The last CPU: offline 1-3, then cpu0 (the last online CPU, no online file) is refused.
linux_last_cpu() {
	CHK=linux_last_cpu; skip_unless offline online || return
	run last_offline cpuhp linux offline 1-3 --yes; r1=$RC
	run last_refused cpuhp linux offline 0 --yes; r2=$RC
	why=$(grep -m 1 'refused' /tmp/out) || r2="$r2(no refusal message)"
	left=$(cat $S/online)
	run last_online cpuhp linux online 1-3 --yes; r3=$RC
	if [ $r1 = 0 ] && [ $r2 = 2 ] && [ "$left" = 0 ] && [ $r3 = 0 ] && [ "$(clean_state)" = ok ]; then
		check $CHK PASS "offline 1-3 rc=0; offline 0 rc=2 ($why); online 1-3 rc=0"
	else
		check $CHK FAIL "rc offline1-3=$r1 offline0=$r2 (online then $left) online1-3=$r3 after=$(clean_state)"
	fi
	restore
}

# --- Timings (TCG) ------------------------------------------------------------------------------
# One loop, the variants interleaved so that a change in the host's load hits them all alike:
# each iteration times one offline+online pair of cpu1 per variant. The clock is the trace
# clock: a marker written to the top-level buffer's trace_marker before and after each pair (a
# shell builtin write, no fork: Debian's busybox date has no %N, /proc/uptime counts in 10 ms
# steps and /proc/timer_list costs ~50 ms to read under TCG); the markers' microsecond
# timestamps are subtracted afterwards.
N=${BENCH_N:-20}
# A loaded host slows TCG down many times over: the loop stops early (with fewer samples, said in
# the output) rather than let the guest run into the host's hard timeout.
BENCH_BUDGET_S=${BENCH_BUDGET_S:-90}
uptime_s() { read u _ < /proc/uptime; echo "${u%.*}"; }
ratio() {
	[ "$2" -gt 0 ] 2>/dev/null || { echo n/a; return; }
	printf '%d.%02d' $(($1 * 100 / $2 / 100)) $(($1 * 100 / $2 % 100))
}
mark() { echo "$1" > $T/trace_marker; }
pair_bare() { step "bench $i"; echo 0 > $S/cpu1/online; echo 1 > $S/cpu1/online; }
pair_tool() {
	cpuhp linux offline 1 --yes < /dev/null > /dev/null 2>&1
	cpuhp linux online 1 --yes < /dev/null > /dev/null 2>&1
}
pair_rec() {
	cpuhp linux record --yes -- offline 1 < /dev/null > /dev/null 2>&1
	cpuhp linux record --yes -- online 1 < /dev/null > /dev/null 2>&1
}
# samples KEY: the time between each "KEY_s" and the next "KEY_e" marker, in microseconds, sorted.
samples() {
	grep 'tracing_mark_write: '"$1"'_[se]$' /tmp/marks \
		| sed 's/.* \([0-9]*\.[0-9]*\): tracing_mark_write: .*_\([se]\)$/\2 \1/' \
		| awk '$1 == "s" { t = $2 } $1 == "e" { printf "%d\n", ($2 - t) * 1000000 }' | sort -n
}
# median_us KEY: the median sample (TCG has outliers of several times the median, which the mean
# would follow).
median_us() {
	samples "$1" > /tmp/samples
	n=$(wc -l < /tmp/samples)
	[ "$n" -gt 0 ] && sed -n "$(((n + 1) / 2))p" /tmp/samples || echo 0
}
bench() {
	tool=no; has offline && has online && tool=yes
	rec=no; has record && rec=yes
	echo 0 > $T/tracing_on; echo > $T/trace; echo 1 > $T/tracing_on
	i=0
	start=$(uptime_s)
	while [ $i -lt $N ] && [ $(($(uptime_s) - start)) -lt $BENCH_BUDGET_S ]; do
		mark bare_s; pair_bare; mark bare_e
		trace_on
		mark traced_s; pair_bare; mark traced_e
		trace_off > /dev/null; trace_drop
		if [ $tool = yes ]; then mark tool_s; pair_tool; mark tool_e; fi
		if [ $rec = yes ]; then mark rec_s; pair_rec; mark rec_e; fi
		i=$((i + 1))
	done
	[ $i -lt $N ] && echo "BENCH budget ${BENCH_BUDGET_S} s used up after $i of $N iterations"
	N=$i
	grep tracing_mark_write $T/trace > /tmp/marks
	echo > $T/trace
	restore
	for k in bare traced tool rec; do
		grep -q "tracing_mark_write: ${k}_e" /tmp/marks \
			&& echo "BENCH samples_${k}_us $(samples $k | tr '\n' ' ')"
	done
	bare=$(median_us bare); traced=$(median_us traced)
	echo "BENCH bare_offline_online_us $bare us per offline+online of cpu1 with echo (median of $N)"
	echo "BENCH bare_traced_offline_online_us $traced us the same with the cpuhp events on in a private trace instance"
	echo "BENCH bare_trace_cost_ratio $(ratio $traced $bare) x traced over untraced echo"
	if [ $tool = yes ]; then
		tl=$(median_us tool)
		echo "BENCH tool_offline_online_us $tl us per cpuhp linux offline 1 --yes + online 1 --yes"
		echo "BENCH tool_overhead_ratio $(ratio $tl $bare) x cpuhp linux over bare echo"
	else
		echo "BENCH tool_overhead SKIP command not available"
	fi
	if [ $rec = yes ] && [ $tool = yes ]; then
		rc=$(median_us rec)
		echo "BENCH tool_recorded_offline_online_us $rc us per cpuhp linux record -- offline 1, then -- online 1"
		echo "BENCH record_cost_ratio $(ratio $rc $tl) x recorded over unrecorded cpuhp linux"
		cpuhp linux record --yes -- offline 1 then online 1 < /dev/null > /tmp/lat.out 2>&1
		begin latency_recording; cat /tmp/lat.out; end latency_recording
		# The table under the recording's "STATE DIR" header, slowest first.
		sed -n '/^STATE DIR/,/^$/p' /tmp/lat.out | grep . | sed 's/^/BENCH latency /'
		restore
	else
		echo "BENCH record_cost SKIP command not available"
	fi
}

# --- The second boot, with cpu0_hotplug: cpu0 has an online file too ------------------------------
# Only here can the last online CPU be one the kernel would let go: the tool must refuse it.
sysfs_cpu0_facts() {
	begin facts_cpu0
	for c in $CPUS; do
		echo "HAS_ONLINE_FILE cpu=$c $([ -e $S/cpu$c/online ] && echo yes || echo no)"
	done
	end facts_cpu0
	[ "$(cat $S/cpu0/online 2>/dev/null)" = 1 ] && [ "$(cat $S/online)" = 0-3 ] \
		&& check sysfs_cpu0_facts PASS "booted with cpu0_hotplug: cpu0/online exists and reads 1" \
		|| check sysfs_cpu0_facts FAIL "cpu0/online=$(cat $S/cpu0/online 2>&1) online=$(cat $S/online)"
}
# The kernel's own rule underneath: the last online CPU's offline write fails with EBUSY.
sysfs_last_online() {
	for c in 1 2 3; do echo 0 > $S/cpu$c/online; done
	msg=$( { echo 0 > $S/cpu0/online; } 2>&1 )
	left=$(cat $S/online)
	restore
	set -- $(errno_of "$msg")
	[ "$2" = EBUSY ] && [ "$left" = 0 ] && [ "$(clean_state)" = ok ] \
		&& check sysfs_last_online PASS "cpus 1-3 offline, then cpu0: EBUSY, cpu0 stays online; restored" \
		|| check sysfs_last_online FAIL "cpu0 write: $2 ($msg), online then $left, after: $(clean_state)"
}
linux_last_online() {
	CHK=linux_last_online; skip_unless offline online || return
	run last_all cpuhp linux offline 0-3 --yes; r0=$RC
	grep -q 'last online CPU' /tmp/out || r0="$r0(no message)"
	all=$(cat $S/online)
	run last_three cpuhp linux offline 1-3 --yes; r1=$RC
	run last_one cpuhp linux offline 0 --yes; r2=$RC
	why=$(grep -m 1 'last online CPU' /tmp/out) || r2="$r2(no message)"
	left=$(cat $S/online)
	run last_back cpuhp linux online 1-3 --yes; r3=$RC
	if [ "$r0" = 2 ] && [ "$all" = 0-3 ] && [ $r1 = 0 ] && [ "$r2" = 2 ] && [ "$left" = 0 ] \
		&& [ $r3 = 0 ] && [ "$(clean_state)" = ok ]; then
		check $CHK PASS "offline 0-3 refused (rc 2, nothing written); offline 1-3 rc 0; offline 0 rc 2 ($why); online 1-3 rc 0"
	else
		check $CHK FAIL "offline0-3=$r0 (online then $all) offline1-3=$r1 offline0=$r2 (online then $left) online1-3=$r3 after=$(clean_state)"
	fi
	restore
}

# --- Following the kernel: cpuhp linux watch / follow ---------------------------------------------
# wait_for FILE PATTERN N: until N lines of FILE match PATTERN (a command running in the
# background writes FILE); at most 60 s. Synchronisation only: what is asserted is the content.
wait_for() {
	k=0
	while :; do
		m=$(grep -c "$2" "$1" 2>/dev/null)
		[ "${m:-0}" -ge "$3" ] && return 0
		k=$((k + 1)); [ $k -gt 600 ] && return 1
		sleep 0.1
	done
}
# follow_steps FILE: the `follow --format jsonl` step lines as "up|down NAME CPU PINNED RAN RESULT;"
# (RAN is "-" for an unpinned step: it may run anywhere).
follow_steps() {
	grep '"event":"step"' "$1" \
		| sed 's/.*"cpu":\([0-9]*\),"event":"step","name":"\([^"]*\)","pinned":\([0-9a-z]*\),"ran_on":\([0-9a-z]*\),"result":"\([A-Za-z]*\)","startup":\([a-z]*\).*/\6 \2 \1 \3 \4 \5/' \
		| sed 's/^true /up /; s/^false /down /' \
		| awk '{ if ($4 == "null") $5 = "-"; print }' | tr '\n' ';'
}
# The online set in the last line of a `watch --format jsonl` output.
last_online() { grep '"online":"' "$1" | tail -n 1 | sed 's/.*"online":"\([0-9,-]*\)".*/\1/'; }
rand() { echo $(( $(od -An -N1 -tu1 /dev/urandom) % $1 )); }

# 1. watch: CPUs 1-3 offline and online, one at a time; the six changes from uevents, in order.
linux_watch() {
	CHK=linux_watch; skip_unless watch || return
	: > /tmp/watch.out
	echo "CMD cpuhp linux watch --format jsonl --count 6"
	timeout "$CMD_TIMEOUT" cpuhp linux watch --format jsonl --count 6 < /dev/null > /tmp/watch.out 2>&1 &
	pid=$!
	bad=
	wait_for /tmp/watch.out '"event":"sets"' 1 || bad="$bad no-sets-line"
	n=0
	for c in $CPUS; do
		for v in 0 1; do
			step "linux_watch cpu$c=$v"
			echo $v > $S/cpu$c/online || bad="$bad write$c=$v"
			n=$((n + 1))
			wait_for /tmp/watch.out '"event":"change"' $n || bad="$bad no-change-$n"
		done
	done
	wait $pid; rc=$?
	begin watch; cat /tmp/watch.out; end watch
	got=$(grep '"event":"change"' /tmp/watch.out \
		| sed 's/.*"action":"\([a-z]*\)","cause":"\([a-z]*\)","cpu":\([0-9]*\),.*"online":"\([0-9,-]*\)".*/\1 \3 \2 \4/' \
		| tr '\n' ';')
	want="offline 1 uevent 0,2-3;online 1 uevent 0-3;offline 2 uevent 0-1,3;online 2 uevent 0-3;offline 3 uevent 0-2;online 3 uevent 0-3;"
	src=$(grep -o '"source":"[a-z]*"' /tmp/watch.out)
	if [ $rc = 0 ] && [ -z "$bad" ] && [ "$got" = "$want" ] && [ "$src" = '"source":"netlink"' ] \
		&& [ "$(clean_state)" = ok ]; then
		check $CHK PASS "6 changes, each from its uevent, in order, with the online set after it (netlink)"
	else
		check $CHK FAIL "rc=$rc$bad $src got=$got"
	fi
	restore
}

# 2. follow: the kernel takes CPUs 1-3 offline and back on its own; the userspace teardowns run
# after the fact (unpinned), the startups on a thread pinned to the CPU, and ran there.
linux_follow() {
	CHK=linux_follow; skip_unless follow || return
	: > /tmp/follow.out
	echo "CMD cpuhp linux follow --format jsonl --count 6"
	timeout "$CMD_TIMEOUT" cpuhp linux follow --format jsonl --count 6 < /dev/null > /tmp/follow.out 2>&1 &
	pid=$!
	bad=
	wait_for /tmp/follow.out '"event":"sets"' 1 || bad="$bad no-sets-line"
	n=0; want=
	for c in $CPUS; do
		for v in 0 1; do
			step "linux_follow cpu$c=$v"
			echo $v > $S/cpu$c/online || bad="$bad write$c=$v"
			n=$((n + 1))
			wait_for /tmp/follow.out '"event":"report"' $n || bad="$bad no-report-$n"
		done
		want="${want}down follow:b $c null - ok;down follow:a $c null - ok;up follow:a $c $c $c ok;up follow:b $c $c $c ok;"
	done
	wait $pid; rc=$?
	begin follow; cat /tmp/follow.out; end follow
	got=$(follow_steps /tmp/follow.out)
	done_n=$(grep -c '"outcome":"done"' /tmp/follow.out)
	if [ $rc = 0 ] && [ -z "$bad" ] && [ "$got" = "$want" ] && [ "$done_n" = 6 ] \
		&& [ "$(clean_state)" = ok ]; then
		check $CHK PASS "CPUs 1-3 offline and online: teardowns after the kernel, startups pinned to and run on each CPU, in order"
	else
		check $CHK FAIL "rc=$rc$bad done=$done_n got=$got"
	fi
	restore
}

# 3. follow --offline: coordinated. Teardowns first, pinned; then the kernel. A userspace veto
# keeps the CPU online (online never written); a kernel refusal (fail at sched:active) undoes
# the teardowns.
linux_follow_offline() {
	CHK=linux_follow_offline; skip_unless follow || return
	bad=
	run follow_offline cpuhp linux follow --offline 2 --yes --format jsonl; r1=$RC
	s1=$(follow_steps /tmp/out); o1=$(cat $S/online)
	restore
	run follow_veto cpuhp linux follow --offline 2 --yes --veto follow:a@2 --format jsonl; r2=$RC
	s2=$(follow_steps /tmp/out); o2=$(cat $S/online)
	grep -q '"outcome":"vetoed"' /tmp/out || bad="$bad no-vetoed"
	restore
	st=$(statenum sched:active)
	echo "$st" > $S/cpu2/hotplug/fail || bad="$bad fail-write"
	run follow_refused cpuhp linux follow --offline 2 --yes --format jsonl; r3=$RC
	s3=$(follow_steps /tmp/out); o3=$(cat $S/online)
	grep -q '"outcome":"kernel_refused"' /tmp/out || bad="$bad no-kernel_refused"
	grep -q 'cpu2/online: EAGAIN' /tmp/out || bad="$bad no-EAGAIN"
	restore
	w1="down follow:b 2 2 2 ok;down follow:a 2 2 2 ok;"
	w2="down follow:b 2 2 2 ok;down follow:a 2 2 2 EBUSY;up follow:b 2 2 2 ok;"
	w3="down follow:b 2 2 2 ok;down follow:a 2 2 2 ok;up follow:a 2 2 2 ok;up follow:b 2 2 2 ok;"
	if [ $r1 = 0 ] && [ "$s1" = "$w1" ] && [ "$o1" = 0-1,3 ] && [ $r2 = 1 ] && [ "$s2" = "$w2" ] \
		&& [ "$o2" = 0-3 ] && [ $r3 = 1 ] && [ "$s3" = "$w3" ] && [ "$o3" = 0-3 ] && [ -z "$bad" ] \
		&& [ "$(clean_state)" = ok ]; then
		check $CHK PASS "offline 2: teardowns pinned to cpu2, then the kernel; veto: online not written, cpu2 stays; kernel EAGAIN: teardowns undone"
	else
		check $CHK FAIL "rc=$r1/$r2/$r3 online=$o1/$o2/$o3$bad steps: $s1 | $s2 | $s3"
	fi
	restore
}

# 4. follow: a userspace startup fails when the kernel brings cpu3 back: rolled back, reported,
# and the kernel's CPU stays online. (cpu3 is offline when follow starts: its state would fail
# to install otherwise.)
linux_follow_startup_fail() {
	CHK=linux_follow_startup_fail; skip_unless follow || return
	: > /tmp/ff.out
	bad=
	echo 0 > $S/cpu3/online || bad="$bad offline3"
	echo "CMD cpuhp linux follow --format jsonl --count 1 --fail-startup follow:b@3"
	timeout "$CMD_TIMEOUT" cpuhp linux follow --format jsonl --count 1 --fail-startup follow:b@3 \
		< /dev/null > /tmp/ff.out 2>&1 &
	pid=$!
	wait_for /tmp/ff.out '"event":"sets"' 1 || bad="$bad no-sets-line"
	echo 1 > $S/cpu3/online; wait_for /tmp/ff.out '"event":"report"' 1 || bad="$bad no-report"
	wait $pid; rc=$?
	online=$(cat $S/online)
	begin follow_startup_fail; cat /tmp/ff.out; end follow_startup_fail
	got=$(follow_steps /tmp/ff.out)
	want="up follow:a 3 3 3 ok;up follow:b 3 3 3 ENOMEM;down follow:a 3 3 3 ok;"
	msg=$(grep -c "the kernel's CPU 3 stays online (the kernel cannot be vetoed after the fact)" /tmp/ff.out)
	if [ $rc = 1 ] && [ -z "$bad" ] && [ "$got" = "$want" ] && [ "$online" = 0-3 ] && [ "$msg" = 1 ] \
		&& [ "$(clean_state)" = ok ]; then
		check $CHK PASS "startup of follow:b fails on cpu3: follow:a torn down on cpu3, reported; cpu3 stays online"
	else
		check $CHK FAIL "rc=$rc$bad online=$online msg=$msg got=$got"
	fi
	restore
}

# 5. 200 random offline/online writes to CPUs 1-3 while watch runs; after each, once the watcher
# has settled, its online set is sysfs's; exactly one change per write that changed something.
linux_watch_stress() {
	CHK=linux_watch_stress; skip_unless watch || return
	N_OPS=${STRESS_N:-200}
	: > /tmp/ws.out
	echo "CMD cpuhp linux watch --format jsonl (while $N_OPS random writes)"
	timeout $((CMD_TIMEOUT * 5)) cpuhp linux watch --format jsonl < /dev/null > /tmp/ws.out 2>&1 &
	pid=$!
	bad=
	wait_for /tmp/ws.out '"event":"sets"' 1 || bad="$bad no-sets-line"
	i=0; changed=0; prev=$(cat $S/online)
	while [ $i -lt $N_OPS ] && [ -z "$bad" ]; do
		c=$(($(rand 3) + 1)); v=$(rand 2)
		step "linux_watch_stress $i cpu$c=$v"
		echo $v > $S/cpu$c/online 2>/dev/null
		now=$(cat $S/online)
		[ "$now" != "$prev" ] && changed=$((changed + 1))
		prev=$now
		k=0
		while [ "$(last_online /tmp/ws.out)" != "$now" ]; do
			k=$((k + 1))
			[ $k -gt 300 ] && { bad="$bad op$i:cpu$c=$v:watcher=$(last_online /tmp/ws.out):sysfs=$now"; break; }
			sleep 0.1
		done
		i=$((i + 1))
	done
	kill $pid 2>/dev/null; wait $pid
	changes=$(grep -c '"event":"change"' /tmp/ws.out)
	begin watch_stress; tail -n 20 /tmp/ws.out; end watch_stress
	restore
	if [ -z "$bad" ] && [ $i = $N_OPS ] && [ "$changes" = "$changed" ] && [ "$(clean_state)" = ok ]; then
		check $CHK PASS "$N_OPS random writes ($changed changed the set): the watcher's set equals sysfs's after each; $changes changes reported"
	else
		check $CHK FAIL "after $i writes:$bad; $changed writes changed the set, $changes changes reported"
	fi
}

# Timing (TCG): from the kernel finishing cpu1's bring-up (its last cpuhp_exit at the online
# state, just before the online uevent) to the userspace startup having run (follow --mark
# writes to trace_marker from the startup): uevents against a 1 s polling loop, both in the
# trace clock. Each online write comes at a random phase of the poll loop.
bench_follow() {
	has follow || { echo "BENCH follow_latency SKIP command not available"; return; }
	FN=${FOLLOW_BENCH_N:-15}
	online_st=$(statenum online)
	for variant in uevent poll1s; do
		opt=; [ $variant = poll1s ] && opt="--poll 1000"
		: > /tmp/bf.out
		echo 0 > $T/tracing_on; echo > $T/trace
		echo 1 > $T/events/cpuhp/cpuhp_exit/enable; echo 1 > $T/tracing_on
		cpuhp linux follow --format jsonl --states bench:a --mark $T/trace_marker $opt \
			< /dev/null > /tmp/bf.out 2>&1 &
		pid=$!
		wait_for /tmp/bf.out '"event":"sets"' 1
		n=0; i=0
		while [ $i -lt $FN ]; do
			step "bench_follow $variant $i"
			echo 0 > $S/cpu1/online; n=$((n + 1)); wait_for /tmp/bf.out '"event":"report"' $n || break
			# A random phase against the poll loop's ticks (the offline report came right after
			# one): 0-999 ms.
			sleep "0.$(printf %03d $(( $(od -An -N2 -tu2 /dev/urandom) % 1000 )))"
			mark "${variant}_s"
			echo 1 > $S/cpu1/online; n=$((n + 1)); wait_for /tmp/bf.out '"event":"report"' $n || break
			i=$((i + 1))
		done
		kill $pid 2>/dev/null; wait $pid
		echo 0 > $T/tracing_on; echo 0 > $T/events/cpuhp/cpuhp_exit/enable
		sed -n 's/^.* \([0-9][0-9]*\.[0-9]*\): \([a-z_]*\): *\(.*\)$/\1 \2 \3/p' $T/trace \
			| awk -v st="$online_st" '
				$2 == "tracing_mark_write" && $3 ~ /_s$/ { armed = 1; t = 0; next }
				armed && $2 == "cpuhp_exit" && $0 ~ ("cpu: 0001 +state: +" st " ") { t = $1; next }
				armed && $2 == "tracing_mark_write" && $3 == "startup" && t > 0 {
					printf "%.0f\n", ($1 - t) * 1000000; armed = 0 }' \
			| sort -n > /tmp/bf.samples
		echo > $T/trace
		restore
		s=$(wc -l < /tmp/bf.samples)
		echo "BENCH samples_follow_${variant}_us $(tr '\n' ' ' < /tmp/bf.samples)"
		if [ "$s" -gt 0 ]; then
			med=$(sed -n "$(((s + 1) / 2))p" /tmp/bf.samples)
			p99=$(sed -n "$(((s * 99 + 99) / 100))p" /tmp/bf.samples)
			echo "BENCH follow_latency_${variant}_median_us $med us kernel bring-up done -> userspace startup ran ($s samples)"
			echo "BENCH follow_latency_${variant}_p99_us $p99 us the same, 99th percentile (of $s: the maximum)"
		else
			echo "BENCH follow_latency_${variant} FAIL no samples"
		fi
	done
}

echo "CHECKS-START uptime=$(cut -d' ' -f1 /proc/uptime)"
case ${1:-main} in
watch)
	# The watch/follow checks and their timing, in a boot of their own (cpuhp_guest=watch):
	# after the 200 random writes of the stress check, a TCG guest on a loaded host has been
	# seen to lock up in the next tracepoint enable (text_poke_bp waiting for an IPI), so
	# nothing traced follows the stress check, and the main guest's checks do not share a boot
	# with it.
	linux_watch
	linux_follow
	linux_follow_offline
	linux_follow_startup_fail
	bench_follow
	linux_watch_stress
	;;
cpu0)
	CPUS="0 1 2 3"
	sysfs_cpu0_facts
	sysfs_last_online
	linux_last_online
	;;
*)
	facts
	sysfs_offline_online
	sysfs_fail
	sysfs_last_cpu
	sysfs_replay
	linux_probe
	linux_offline_online
	linux_learn
	linux_check
	linux_sweep
	linux_fail_restore
	linux_sigint
	linux_sigint_record
	linux_last_cpu
	bench
	;;
esac
echo "FINAL $(clean_state)"
