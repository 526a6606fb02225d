#!/usr/bin/env bats
#
# memtrace-tracer.bats - is what the tracer records true?
#
# Each program of tests/memtrace makes known allocations; it runs under
# `plumb memtrace run --output F`, and `plumb memtrace report|leaks|diff
# --json` (read with jq) must give back exactly what its source says: the
# blocks, bytes and file:line of each leak, the threads' totals at the peak
# and at exit, the fork and exec children's own files, realloc and aligned
# allocations, C++ names demangled, a snapshot on SIGUSR2, a SIGKILLed
# program's file read as truncated.  The expected numbers are the programs'
# constants (copied here next to the name they have there); the lines are
# found by grepping the sources for the marker comment on each allocation.
# Then programs nobody here wrote (Debian's sqlite3 and python3): traced
# without crashing, with a peak within 5% of valgrind massif's.  And the
# memleak example: the note's output, with its exact numbers.
#
# $PLUMB is the built command; the programs are built in
# $EXAMPLES/../tests/memtrace (or $MEMTRACE_TESTS).

bats_require_minimum_version 1.5.0

PLUMB=${PLUMB:-plumb}
case $PLUMB in */*) PLUMB=$(cd "$(dirname "$PLUMB")" && pwd)/$(basename "$PLUMB") ;; esac

setup() {
	T=$BATS_TEST_TMPDIR
	TESTS=${MEMTRACE_TESTS:-$EXAMPLES/../tests/memtrace}
	SRC=$BATS_TEST_DIRNAME/../memtrace
}

teardown() {
	if [ -n "${BG_PID:-}" ]; then
		kill "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
}

# ---- Helpers ----

# line_of FILE MARKER: the number of the one line of FILE carrying the
# comment /* MARKER */.
line_of() {
	local n
	n=$(grep -n "/\* $2 \*/" "$1" | cut -d: -f1)
	if [ -z "$n" ] || [ "$(printf '%s\n' "$n" | wc -l)" -ne 1 ]; then
		echo "marker $2 is not on exactly one line of $1" >&2
		return 1
	fi
	echo "$n"
}

# trace OUT PROG ARGS...: runs PROG under the tracer, trace file OUT.
trace() {
	local out=$1
	shift
	run --separate-stderr "$PLUMB" memtrace run --output "$out" -- "$@"
}

# json CMD ARGS...: a `plumb memtrace CMD ... --json` that must succeed;
# its output on stdout.
json() {
	local out rc=0
	out=$("$PLUMB" memtrace "$@" --json) || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "plumb memtrace $* --json: exit $rc" >&2
		return 1
	fi
	printf '%s\n' "$out"
}

# snap_index FILE KIND: the index of the last snapshot of KIND (exit, peak,
# signal, interval, api) in FILE, or nothing.
snap_index() {
	"$PLUMB" memtrace report "$1" --list --json 2>/dev/null |
		jq -r --arg k "$2" '[.snapshots[] | select(.kind == $k) | .index] | last // empty' 2>/dev/null
}

# wait_snapshot FILE KIND: waits (at most a minute) until FILE, still being
# written, holds a snapshot of KIND; prints its index.
wait_snapshot() {
	local i idx
	for i in $(seq 600); do
		idx=$(snap_index "$1" "$2")
		if [ -n "$idx" ]; then
			echo "$idx"
			return 0
		fi
		sleep 0.1
	done
	echo "no $2 snapshot in $1 after a minute" >&2
	return 1
}

# report_at FILE KIND OUT: the lineno report (--json) of the last snapshot
# of KIND in FILE, into OUT; fails when FILE holds none.
report_at() {
	local idx
	idx=$(snap_index "$1" "$2")
	if [ -z "$idx" ]; then
		echo "no $2 snapshot in $1" >&2
		return 1
	fi
	json report "$1" --snapshot "$idx" --by lineno --top 0 >"$3"
}

# start_signal MODE OUT: starts tests/memtrace/signal MODE under the tracer
# in the background (its pid in BG_PID), trace file OUT; it writes its pid
# to $T/ready and waits for $T/go.
start_signal() {
	"$PLUMB" memtrace run --output "$2" -- "$TESTS/signal" "$1" "$T/ready" "$T/go" \
		>"$T/out" 2>&1 &
	BG_PID=$!
}

# finish_signal: lets the program started by start_signal go on and waits
# for it; its exit status in rc.
finish_signal() {
	touch "$T/go"
	rc=0
	wait "$BG_PID" || rc=$?
	BG_PID=
}

# stat_at REPORT.json BASENAME LINE: "size count" of the lineno statistic
# for BASENAME:LINE, or nothing when there is none.
stat_at() {
	jq -r --arg b "$2" --argjson l "$3" '
		.stats[] | select((.filename // "" | split("/") | last) == $b and .lineno == $l)
		| "\(.size) \(.count)"' "$1"
}

# leak_sites LEAKS.json BASENAME: for each leaked group whose stack passes
# through BASENAME, "line size count" with the line of its most recent
# frame in BASENAME; sorted.
leak_sites() {
	jq -r --arg b "$2" '
		.groups[] | . as $g
		| [.traceback[] | select((.filename // "" | split("/") | last) == $b)]
		| select(length > 0)
		| "\(.[0].lineno) \($g.size) \($g.count)"' "$1" | sort -n
}

# leaks_at LINE: "bytes blocks" of the leak_sites lines (on stdin) at LINE,
# summed ("0 0" when there is none).
leaks_at() {
	awk -v l="$1" '$1 == l { s += $2; c += $3 } END { print s + 0, c + 0 }'
}

# expect_sites "line size count"...: the same lines, sorted as leak_sites.
expect_sites() {
	printf '%s\n' "$@" | sort -n
}

# same_sites GOT WANT: GOT is WANT (both printed, for the log when not).
same_sites() {
	echo "got:"$'\n'"$1"$'\n'"want:"$'\n'"$2"
	[ "$1" = "$2" ]
}

# within PCT A B: A is within PCT percent of B.
within() {
	awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d * 100 <= p * b) }'
}

# massif_peak FILE: the highest heap bytes of a massif profile.
massif_peak() {
	awk -F= '/^mem_heap_B=/ { if ($2 + 0 > max) max = $2 + 0 } END { print max + 0 }' "$1"
}

# ---- A program that leaks on purpose ----

# leaker.c: A_SIZE=1000; B_N=3 x B_SIZE=333; C_TEXT "leaked on purpose"
# (17 characters + NUL); 2 x D_SIZE=64; E_SIZE=4242 at DEPTH=100.
leaker_sites() {
	local src=$SRC/leaker.c
	expect_sites "$(line_of "$src" LEAK_A) 1000 1" \
		"$(line_of "$src" LEAK_B) 999 3" \
		"$(line_of "$src" LEAK_C) $((${#1} + 1)) 1" \
		"$(line_of "$src" LEAK_D) 64 1" \
		"$(line_of "$src" LEAK_D) 64 1" \
		"$(line_of "$src" LEAK_E) 4242 1"
}

@test "leaker: exactly its 8 leaked blocks, each at its file:line, and nothing freed" {
	trace "$T/l.pmt" "$TESTS/leaker"
	[ "$status" -eq 0 ]
	json leaks --top 0 "$T/l.pmt" >"$T/leaks.json"
	got=$(leak_sites "$T/leaks.json" leaker.c)
	want=$(leaker_sites "leaked on purpose")
	same_sites "$got" "$want"
	# And nothing else: the process leaks exactly 8 blocks, 1000 + 999 + 18 +
	# 2 * 64 + 4242 = 6387 bytes (valgrind's "in use at exit" says the same).
	jq -e '.leaked_blocks == 8 and .leaked_bytes == 6387' "$T/leaks.json"
	json report "$T/l.pmt" >"$T/r.json"
	jq -e '.summary.leaked_blocks == 8 and .summary.leaked_bytes == 6387' "$T/r.json"
	# Groups come largest first.
	jq -e '[.groups[].size] | . == (sort | reverse)' "$T/leaks.json"
}

@test "leaker: a leak's traceback names its function and its caller's line" {
	trace "$T/l.pmt" "$TESTS/leaker"
	[ "$status" -eq 0 ]
	json leaks --top 0 "$T/l.pmt" >"$T/leaks.json"
	a=$(line_of "$SRC/leaker.c" LEAK_A)
	call=$(line_of "$SRC/leaker.c" LEAK_A_CALL)
	tb=$(jq -c --argjson a "$a" '.groups[] | select(.traceback[0].lineno == $a
		and (.traceback[0].filename | endswith("leaker.c"))) | .traceback' "$T/leaks.json")
	[ -n "$tb" ]
	[ "$(jq -r '.[0].function' <<<"$tb")" = leak_a ]
	[ "$(jq -r '.[1].function' <<<"$tb")" = main ]
	[ "$(jq -r '.[1].lineno' <<<"$tb")" -eq "$call" ]
	# The inlined helper is a frame of its own, marked inlined, over its caller.
	d=$(line_of "$SRC/leaker.c" LEAK_D)
	d1=$(line_of "$SRC/leaker.c" LEAK_D1_CALL)
	tb=$(jq -c --argjson d "$d" --argjson d1 "$d1" '.groups[] | .traceback
		| select(.[0].lineno == $d and .[1].lineno == $d1)' "$T/leaks.json")
	[ -n "$tb" ]
	[ "$(jq -r '.[0].function' <<<"$tb")" = inlined_alloc ]
	[ "$(jq -r '.[0].inlined' <<<"$tb")" = true ]
	[ "$(jq -r '.[1].function' <<<"$tb")" = leak_d1 ]
}

@test "a block allocated in a signal handler: its traceback goes on through the signal frame" {
	for unwind in auto fp; do
		trace "$T/h.pmt" env PLUMB_MEMTRACE_UNWIND=$unwind "$TESTS/handler"
		[ "$status" -eq 0 ]
		json leaks --top 0 "$T/h.pmt" >"$T/h.json"
		tb=$(jq -c '.groups[] | select(.size == 4321) | [.traceback[] | select(.filename | endswith("handler.c"))]' "$T/h.json")
		[ "$(jq -r '.[0].function' <<<"$tb")" = on_usr1 ]
		[ "$(jq -r '.[0].lineno' <<<"$tb")" -eq "$(line_of "$SRC/handler.c" IN_HANDLER)" ]
		[ "$unwind" = auto ] || continue # frame pointers end at the trampoline
		[ "$(jq -r '.[1].function' <<<"$tb")" = interrupted ]
		[ "$(jq -r '.[1].lineno' <<<"$tb")" -eq "$(line_of "$SRC/handler.c" RAISED_HERE)" ]
		[ "$(jq -r '.[2].function' <<<"$tb")" = main ]
		[ "$(jq -r '.[2].lineno' <<<"$tb")" -eq "$(line_of "$SRC/handler.c" INTERRUPTED_CALL)" ]
	done
}

@test "leaker: stacks are cut at --frames (default 64)" {
	e=$(line_of "$SRC/leaker.c" LEAK_E)
	trace "$T/l.pmt" "$TESTS/leaker"
	[ "$status" -eq 0 ]
	json leaks --top 0 "$T/l.pmt" >"$T/leaks.json"
	n=$(jq --argjson e "$e" '.groups[] | select(.traceback[0].lineno == $e) | .traceback | length' "$T/leaks.json")
	[ "$n" -eq 64 ]
	run --separate-stderr "$PLUMB" memtrace run --frames 8 --output "$T/l8.pmt" -- "$TESTS/leaker"
	[ "$status" -eq 0 ]
	json leaks --top 0 "$T/l8.pmt" >"$T/leaks8.json"
	n=$(jq --argjson e "$e" '.groups[] | select(.traceback[0].lineno == $e) | .traceback | length' "$T/leaks8.json")
	[ "$n" -eq 8 ]
	# Cut stacks change nothing to what leaked where.
	[ "$(leak_sites "$T/leaks8.json" leaker.c)" = "$(leaker_sites "leaked on purpose")" ]
}

@test "leaker built with frame pointers, walked by them: the same leaks" {
	export PLUMB_MEMTRACE_UNWIND=fp
	trace "$T/fp.pmt" "$TESTS/leaker_fp"
	[ "$status" -eq 0 ]
	json leaks --top 0 "$T/fp.pmt" >"$T/leaks.json"
	got=$(leak_sites "$T/leaks.json" leaker.c)
	echo "$got"
	# libc has no frame pointers: the frame-pointer chain ends in strdup,
	# so that block's stack may not reach leaker.c.  Every other is exact.
	c=$(line_of "$SRC/leaker.c" LEAK_C)
	want=$(leaker_sites "leaked on purpose" | grep -v "^$c ")
	[ "$(grep -v "^$c 18 1$" <<<"$got")" = "$want" ]
	jq -e '[.groups[] | select(.size == 18 and .count == 1)] | length == 1' "$T/leaks.json"
	jq -e '.leaked_blocks == 8 and .leaked_bytes == 6387' "$T/leaks.json"
}

@test "the program's exit status passes through; report reads the file's summary" {
	trace "$T/l.pmt" "$TESTS/leaker" 7
	[ "$status" -eq 7 ]
	json leaks --top 0 "$T/l.pmt" >"$T/leaks.json"
	[ "$(leak_sites "$T/leaks.json" leaker.c)" = "$(leaker_sites "leaked on purpose")" ]
	json report "$T/l.pmt" >"$T/r.json"
	jq -e '.truncated == false and .summary != null' "$T/r.json"
	jq -e '.summary.allocs >= 3 * 10000 and .summary.frees >= 3 * 10000' "$T/r.json"
	jq -e '.summary.allocs - .summary.frees >= 8' "$T/r.json"
	jq -e '.summary.tracer_memory > 0' "$T/r.json"
	jq -e '(.exe | endswith("/leaker")) and .pid > 0' "$T/r.json"
}

# ---- Threads ----

# threads.c: NTHREADS=4, NBLOCKS=1000, NFREE=500, BLOCK_SIZE=64, CHURN=20000;
# thread t's blocks are BLOCK_SIZE * (t + 1): 1 + 2 + 3 + 4 = 10.
@test "threads: exact blocks and bytes at the peak and at exit, frees across threads" {
	trace "$T/t.pmt" "$TESTS/threads"
	[ "$status" -eq 0 ]
	bl=$(line_of "$SRC/threads.c" THREADS_BLOCK)
	ch=$(line_of "$SRC/threads.c" THREADS_CHURN)
	peak=$(snap_index "$T/t.pmt" peak)
	fin=$(snap_index "$T/t.pmt" exit)
	[ -n "$peak" ]
	[ -n "$fin" ]

	json report "$T/t.pmt" --snapshot "$peak" --by lineno --top 0 >"$T/peak.json"
	[ "$(stat_at "$T/peak.json" threads.c "$bl")" = "$((1000 * 64 * 10)) $((4 * 1000))" ]
	[ -z "$(stat_at "$T/peak.json" threads.c "$ch")" ]
	# The peak snapshot is the heap at the peak: its total is the peak.
	jq -e '.snapshot.kind == "peak" and .total_size == .summary.peak
		and .snapshot.current == .summary.peak' "$T/peak.json"

	json report "$T/t.pmt" --snapshot "$fin" --by lineno --top 0 >"$T/exit.json"
	[ "$(stat_at "$T/exit.json" threads.c "$bl")" = "$(((1000 - 500) * 64 * 10)) $((4 * 500))" ]
	[ -z "$(stat_at "$T/exit.json" threads.c "$ch")" ]
	jq -e '.summary.allocs >= 4 * (20000 + 1000) and .summary.frees >= 4 * (20000 + 500)' "$T/exit.json"
	jq -e '.summary.bytes_allocated >= 1000 * 64 * 10' "$T/exit.json"

	json leaks --top 0 "$T/t.pmt" >"$T/leaks.json"
	[ "$(leak_sites "$T/leaks.json" threads.c | leaks_at "$bl")" = "320000 2000" ]
	# Nothing else is left but glibc's TLS block of each thread, cached with
	# its stack, allocated under pthread_create.
	cr=$(line_of "$SRC/threads.c" THREADS_CREATE)
	leak_sites "$T/leaks.json" threads.c | awk -v l="$bl" -v cr="$cr" '
		$1 == l { next }
		$1 == cr { c += $3; next }
		{ print "unexpected leak:", $0; bad = 1 }
		END { exit bad || c != 4 }'
	all=$(leak_sites "$T/leaks.json" threads.c | awk '{ s += $2; c += $3 } END { print s, c }')
	[ "$(jq -r '"\(.leaked_bytes) \(.leaked_blocks)"' "$T/leaks.json")" = "$all" ]

	# compare_to between the two: exactly the freed half.
	json diff "$T/t.pmt" --from "$peak" --to "$fin" --top 0 >"$T/diff.json"
	d=$(jq -r --argjson l "$bl" '.stats[] | select((.filename | endswith("threads.c")) and .lineno == $l)
		| "\(.size) \(.size_diff) \(.count) \(.count_diff)"' "$T/diff.json")
	[ "$d" = "320000 -320000 2000 -2000" ]
}

# handoff.c: NBLOCK=300000 blocks handed over, one in KEEP_EVERY=1000 kept;
# each thread churns one block per handoff.  It prints the kept bytes.
@test "blocks handed between two busy threads: every free matched with its own block" {
	trace "$T/h.pmt" "$TESTS/handoff"
	[ "$status" -eq 0 ]
	kept=$output
	bl=$(line_of "$SRC/handoff.c" HANDOFF_BLOCK)
	cr=$(line_of "$SRC/handoff.c" HANDOFF_CREATE)

	json leaks --top 0 "$T/h.pmt" >"$T/leaks.json"
	leak_sites "$T/leaks.json" handoff.c >"$T/sites"
	[ "$(leaks_at "$bl" <"$T/sites")" = "$kept 300" ]
	awk -v b="$bl" -v cr="$cr" '
		$1 == b { next }
		$1 == cr { c += $3; next }
		{ print "unexpected leak:", $0; bad = 1 }
		END { exit bad || c != 2 }' "$T/sites"
	# Three allocations per handoff and the two TLS blocks; all freed but
	# the kept ones.
	json report "$T/h.pmt" >"$T/report.json"
	jq -e '.summary.allocs == 900002 and .summary.frees == 900000 - 300
		and .summary.leaked_blocks == 302' "$T/report.json"
}

# sampled.c: NTHREADS=4, CHURN=100000 of 16 + (0..4095), NLIVE=4000 x
# LIVE_SIZE=4000 of which NLEAK=1000 kept, NBIG=2 x BIG_SIZE=4 MiB;
# --sample 64K.  The estimates have a known spread (the kept blocks' is
# the widest: about 240 of them recorded, 6.5%); each bound is more than
# 4.5 of those spreads away.  The big blocks are exact, and no recorded
# block that was freed, by its own thread or another, may be left.
@test "--sample: estimates close to the truth, big blocks exact, every recorded free seen" {
	run --separate-stderr "$PLUMB" memtrace run --sample 64K --output "$T/s.pmt" -- "$TESTS/sampled"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"sampled: one sampling point per 64.0 KiB allocated, on average; sizes and counts are estimates"* ]]
	shared=$(line_of "$SRC/sampled.c" SAMPLED_SHARED)
	kept=$(line_of "$SRC/sampled.c" SAMPLED_KEPT)
	bigl=$(line_of "$SRC/sampled.c" SAMPLED_BIG)
	churn=$(line_of "$SRC/sampled.c" SAMPLED_CHURN)
	cr=$(line_of "$SRC/sampled.c" SAMPLED_CREATE)
	peak=$(snap_index "$T/s.pmt" peak)

	json report "$T/s.pmt" --snapshot "$peak" --by lineno --top 0 >"$T/peak.json"
	jq -e '.sample_bytes == 65536' "$T/peak.json"
	[ "$(stat_at "$T/peak.json" sampled.c "$bigl")" = "$((8 * 4194304)) 8" ]
	read -r s1 c1 <<<"$(stat_at "$T/peak.json" sampled.c "$shared")"
	read -r s2 c2 <<<"$(stat_at "$T/peak.json" sampled.c "$kept")"
	within 15 $((s1 + s2)) $((4 * 4000 * 4000))
	within 15 $((c1 + c2)) $((4 * 4000))
	within 10 "$(jq .summary.peak "$T/peak.json")" $((4 * 4000 * 4000 + 8 * 4194304))
	[ -z "$(stat_at "$T/peak.json" sampled.c "$churn")" ]
	# 400,000 churned blocks of 2063.5 bytes on average, the live and big ones.
	within 5 "$(jq .summary.bytes_allocated "$T/peak.json")" $((400000 * 20635 / 10 + 4 * 4000 * 4000 + 8 * 4194304))
	within 10 "$(jq .summary.allocs "$T/peak.json")" $((400000 + 16000 + 8))

	json leaks --top 0 "$T/s.pmt" >"$T/leaks.json"
	jq -e '.sample_bytes == 65536 and .at_exit' "$T/leaks.json"
	leak_sites "$T/leaks.json" sampled.c >"$T/sites"
	[ "$(leaks_at "$bigl" <"$T/sites")" = "$((8 * 4194304)) 8" ]
	read -r size count <<<"$(leaks_at "$kept" <"$T/sites")"
	within 30 "$size" $((4 * 1000 * 4000))
	within 30 "$count" $((4 * 1000))
	# Nothing churned is left, nor any block another thread freed: exactly.
	awk -v k="$kept" -v b="$bigl" -v c="$cr" '
		$1 == k || $1 == b || $1 == c { next }
		{ print "unexpected leak:", $0; bad = 1 }
		END { exit bad }' "$T/sites"

	# Every reader says its numbers are estimates.
	for cmd in report leaks; do
		run --separate-stderr "$PLUMB" memtrace $cmd "$T/s.pmt"
		[ "$status" -eq 0 ]
		[[ "$stderr" == *"traced with --sample 65536 (one sampling point per 64.0 KiB allocated, on average): its sizes and counts are estimates"* ]]
	done
}

# ---- fork and exec ----

# forkexec.c: PARENT_SIZE=1111; FORK_N=3 x FORK_SIZE=2222; EXEC_N=5 x EXEC_SIZE=3333.
@test "fork and exec: each process writes its own file with its own numbers" {
	trace "$T/fe.pmt" "$TESTS/forkexec" "$T/pids"
	[ "$status" -eq 0 ]
	parent=$(awk '$1 == "parent" { print $2 }' "$T/pids")
	forked=$(awk '$1 == "fork" { print $2 }' "$T/pids")
	execed=$(awk '$1 == "exec" { print $2 }' "$T/pids")
	[ -n "$parent" ]
	[ -n "$forked" ]
	[ -n "$execed" ]
	[ -f "$T/fe.pmt" ]
	[ -f "$T/fe.pmt.$forked" ]
	[ -f "$T/fe.pmt.$execed" ]
	[ "$(find "$T" -name 'fe.pmt*' | wc -l)" -eq 3 ]

	src=$SRC/forkexec.c
	p=$(line_of "$src" FE_PARENT)
	f=$(line_of "$src" FE_FORK)
	e=$(line_of "$src" FE_EXEC)

	json leaks --top 0 "$T/fe.pmt" >"$T/parent.json"
	json report "$T/fe.pmt" >"$T/parent-r.json"
	jq -e --argjson pid "$parent" '.pid == $pid and .truncated == false' "$T/parent-r.json"
	[ "$(leak_sites "$T/parent.json" forkexec.c | grep -v "^$p ")" = "" ]
	[ "$(leak_sites "$T/parent.json" forkexec.c | grep "^$p ")" = "$p 1111 1" ]
	jq -e '.leaked_bytes == 1111 and .leaked_blocks == 1' "$T/parent.json"

	json leaks --top 0 "$T/fe.pmt.$forked" >"$T/fork.json"
	json report "$T/fe.pmt.$forked" >"$T/fork-r.json"
	jq -e --argjson pid "$forked" '.pid == $pid and .truncated == false' "$T/fork-r.json"
	[ "$(leak_sites "$T/fork.json" forkexec.c | grep "^$f ")" = "$f $((3 * 2222)) 3" ]
	[ -z "$(leak_sites "$T/fork.json" forkexec.c | grep "^$e ")" ]
	# The forked child's heap also holds the block it inherited.
	[ "$(leak_sites "$T/fork.json" forkexec.c | grep "^$p ")" = "$p 1111 1" ]
	jq -e '.leaked_bytes == 3 * 2222 + 1111 and .leaked_blocks == 4' "$T/fork.json"

	json leaks --top 0 "$T/fe.pmt.$execed" >"$T/exec.json"
	json report "$T/fe.pmt.$execed" >"$T/exec-r.json"
	jq -e --argjson pid "$execed" '.pid == $pid and .truncated == false' "$T/exec-r.json"
	# A new image: only its own blocks, none of its parent's.
	[ "$(leak_sites "$T/exec.json" forkexec.c)" = "$e $((5 * 3333)) 5" ]
	jq -e '.leaked_bytes == 5 * 3333 and .leaked_blocks == 5' "$T/exec.json"
}

# ---- Before main, and in a library loaded and unloaded at run time ----

# dlopen.c: PREMAIN_SIZE=2345 in a constructor; N times, plugin.c leaks
# 4321 bytes when it is loaded and PLUGIN_SIZE=5432 in plugin_alloc, and
# is dlclose'd.
@test "allocations before main and in a dlopen'ed library unloaded before exit" {
	pre=$(line_of "$SRC/dlopen.c" DL_PREMAIN)
	init=$(line_of "$SRC/plugin.c" PLUGIN_INIT)
	alloc=$(line_of "$SRC/plugin.c" PLUGIN_ALLOC)
	for n in 2 8; do
		trace "$T/dl$n.pmt" "$TESTS/dlopen" "$TESTS/libmtplugin.so" "$n"
		[ "$status" -eq 0 ]
		json leaks --top 0 "$T/dl$n.pmt" >"$T/leaks$n.json"
		[ "$(leak_sites "$T/leaks$n.json" dlopen.c | grep "^$pre ")" = "$pre 2345 1" ]
		# Per line: each load's blocks, whatever address it was loaded at.
		got=$(leak_sites "$T/leaks$n.json" plugin.c |
			awk '{ s[$1] += $2; c[$1] += $3 } END { for (l in s) print l, s[l], c[l] }' | sort -n)
		want=$(expect_sites "$init $((n * 4321)) $n" "$alloc $((n * 5432)) $n")
		same_sites "$got" "$want"
		jq -e '[.groups[].traceback[] | select(.function == "plugin_alloc")
			| .module | endswith("/libmtplugin.so")] | length > 0 and all' "$T/leaks$n.json"
		# Everything leaked happened under this program's code.
		jq -e '[.groups[] | select(all(.traceback[]; (.filename // "" | endswith("dlopen.c")) | not))]
			== []' "$T/leaks$n.json"
		jq -r --argjson n "$n" '"\(.leaked_bytes - 2345 - $n * (4321 + 5432)) bytes in \(
			.leaked_blocks - 1 - 2 * $n) blocks"' "$T/leaks$n.json" >"$T/rest$n"
	done
	# What the loader still holds at exit (it frees a load's bookkeeping at
	# dlclose) is the same after 2 loads as after 8.
	cat "$T/rest2" "$T/rest8"
	[ "$(cat "$T/rest2")" = "$(cat "$T/rest8")" ]
}

# ---- realloc and aligned allocations ----

# realloc_aligned.c: CHAIN_END=24, CHAIN_BIG=1<<20, KEPT_SIZE=777,
# ARR_N2=9 x ARR_SZ=100, CAL_N=13 x CAL_SZ=17, POSIX_SIZE=1000,
# ALIGNED_SIZE=512, MEMALIGN_SIZE=100, VALLOC_SIZE=3000, PVALLOC_SIZE=5000
# rounded up to the page.
@test "realloc chains and aligned allocators: exact sizes at exact lines" {
	trace "$T/ra.pmt" "$TESTS/realloc_aligned"
	[ "$status" -eq 0 ]
	src=$SRC/realloc_aligned.c
	page=$(getconf PAGESIZE)
	pv=$(((5000 + page - 1) / page * page))
	json leaks --top 0 "$T/ra.pmt" >"$T/leaks.json"
	got=$(leak_sites "$T/leaks.json" realloc_aligned.c)
	want=$(expect_sites "$(line_of "$src" RA_SHRINK) 24 1" \
		"$(line_of "$src" RA_KEPT) 777 1" \
		"$(line_of "$src" RA_ARRAY2) 900 1" \
		"$(line_of "$src" RA_CALLOC) 221 1" \
		"$(line_of "$src" RA_POSIX) 1000 1" \
		"$(line_of "$src" RA_ALIGNED) 512 1" \
		"$(line_of "$src" RA_MEMALIGN) 100 1" \
		"$(line_of "$src" RA_VALLOC) 3000 1" \
		"$(line_of "$src" RA_PVALLOC) $pv 1")
	same_sites "$got" "$want"

	jq -e --argjson pv "$pv" '.leaked_blocks == 9
		and .leaked_bytes == 24 + 777 + 900 + 221 + 1000 + 512 + 100 + 3000 + $pv' "$T/leaks.json"

	# At the peak the chain's block was the 1 MiB one, and only it: a
	# realloc moves the trace, it does not add one.
	report_at "$T/ra.pmt" peak "$T/peak.json"
	big=$(line_of "$src" RA_BIG)
	jq -c '[.stats[] | select(.filename | endswith("realloc_aligned.c")) | [.lineno, .size, .count]]' "$T/peak.json"
	jq -e --argjson big "$big" '[.stats[] | select(.filename | endswith("realloc_aligned.c"))
		| [.lineno, .size, .count]] == [[$big, 1048576, 1]]' "$T/peak.json"
	jq -e '.total_size == .summary.peak and .summary.peak == 1048576' "$T/peak.json"
}

# ---- C++ ----

# cxx.cpp: Widget is 32 bytes; 2 leaked by make; new Widget[MANY_N=3]
# is 3 * 32 + an 8-byte cookie; long[ARRAY_N=25]; Box<int> is 10 ints.
@test "C++: new and new[] leaks at their lines, with demangled names" {
	[ -x "$TESTS/cxx" ] || skip "no C++ compiler: tests/memtrace/cxx was not built"
	trace "$T/cxx.pmt" "$TESTS/cxx"
	[ "$status" -eq 0 ]
	src=$SRC/cxx.cpp
	json leaks --top 0 "$T/cxx.pmt" >"$T/leaks.json"
	got=$(leak_sites "$T/leaks.json" cxx.cpp)
	want=$(expect_sites "$(line_of "$src" CXX_MAKE) 32 1" \
		"$(line_of "$src" CXX_MAKE) 32 1" \
		"$(line_of "$src" CXX_MANY) $((3 * 32 + 8)) 1" \
		"$(line_of "$src" CXX_ARRAY) $((25 * 8)) 1" \
		"$(line_of "$src" CXX_BOX) 40 1")
	same_sites "$got" "$want"
	names=$(jq -r '.groups[] | [.traceback[] | select(.filename // "" | endswith("cxx.cpp"))]
		| select(length > 0) | .[0].function' "$T/leaks.json" | sort -u)
	echo "$names"
	[ "$names" = "$(printf '%s\n' 'long* ns::make_array<long>(unsigned long)' \
		'ns::Box<int>::create()' 'ns::Widget::make(int)' 'ns::Widget::make_many(int)' | sort)" ]
}

# ---- Signals and death ----

# signal.c: BEFORE_N=5 x BEFORE_SIZE=1000, then AFTER_N=2 x AFTER_SIZE=7777.
check_signal_run() {
	local f=$1 b a
	b=$(line_of "$SRC/signal.c" SIG_BEFORE)
	a=$(line_of "$SRC/signal.c" SIG_AFTER)
	report_at "$f" signal "$T/sig.json"
	[ "$(stat_at "$T/sig.json" signal.c "$b")" = "5000 5" ]
	[ -z "$(stat_at "$T/sig.json" signal.c "$a")" ]
	report_at "$f" exit "$T/exit.json"
	[ "$(stat_at "$T/exit.json" signal.c "$a")" = "15554 2" ]
	[ -z "$(stat_at "$T/exit.json" signal.c "$b")" ]
}

@test "SIGUSR2 raised by the program: a signal snapshot of the heap at that moment" {
	start_signal raise "$T/s.pmt"
	wait_snapshot "$T/s.pmt" signal
	finish_signal
	[ "$rc" -eq 0 ]
	check_signal_run "$T/s.pmt"
}

@test "SIGUSR2 sent from outside: the same" {
	start_signal wait "$T/s.pmt"
	for _ in $(seq 600); do [ -s "$T/ready" ] && break; sleep 0.1; done
	pid=$(cat "$T/ready")
	[ -n "$pid" ]
	kill -USR2 "$pid"
	wait_snapshot "$T/s.pmt" signal
	finish_signal
	[ "$rc" -eq 0 ]
	check_signal_run "$T/s.pmt"
}

@test "a SIGKILLed program leaves a file every reader takes as truncated, not a crash" {
	start_signal kill "$T/k.pmt"
	wait_snapshot "$T/k.pmt" signal
	finish_signal
	[ "$rc" -eq 137 ]

	run --separate-stderr "$PLUMB" memtrace report "$T/k.pmt"
	echo "$output$stderr"
	[ "$status" -eq 0 ]
	[[ "$output$stderr" == *"ends early"* ]] || [[ "$output$stderr" == *truncated* ]]

	json report "$T/k.pmt" >"$T/k.json"
	jq -e '.truncated == true and .summary == null' "$T/k.json"
	[ -z "$(snap_index "$T/k.pmt" exit)" ]
	report_at "$T/k.pmt" signal "$T/sig.json"
	[ "$(stat_at "$T/sig.json" signal.c "$(line_of "$SRC/signal.c" SIG_BEFORE)")" = "5000 5" ]

	# The other readers: an answer or a clear refusal, never a crash.
	for cmd in leaks diff; do
		run --separate-stderr "$PLUMB" memtrace "$cmd" "$T/k.pmt"
		echo "$cmd: $status: $output$stderr"
		[ "$status" -lt 128 ]
		[ "$status" -eq 0 ] || [ -n "$stderr" ]
	done
}

# ---- Programs nobody here wrote ----

# A query that builds a table of a few MB in memory.
SQL="CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60000)
INSERT INTO t SELECT x, printf('%0120d', x) FROM c;
CREATE INDEX tb ON t(b);
SELECT count(*), sum(length(b)) FROM t;"

@test "sqlite3 (Debian's): traced without crashing, peak within 5% of valgrind massif's" {
	command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	sqlite=$(command -v sqlite3)
	trace "$T/sq.pmt" "$sqlite" :memory: "$SQL"
	[ "$status" -eq 0 ]
	[[ "$output" == *"60000|7200000"* ]]
	json report "$T/sq.pmt" >"$T/sq.json"
	ours=$(jq '.summary.peak' "$T/sq.json")
	valgrind --tool=massif --pages-as-heap=no --threshold=0 --massif-out-file="$T/sq.massif" \
		"$sqlite" :memory: "$SQL" >/dev/null 2>"$T/valgrind.err"
	theirs=$(massif_peak "$T/sq.massif")
	echo "plumb memtrace peak $ours, massif $theirs"
	[ "$theirs" -gt 5000000 ]
	within 5 "$ours" "$theirs"
}

@test "python3 (Debian's) building a known list: peak within 5% of massif's" {
	py=/usr/bin/python3
	[ -x "$py" ] || skip "Debian's python3 is not installed"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	# A list of 4,000,000 references: 32 MB in one malloc.
	prog='x = [0] * 4000000; print(len(x))'
	trace "$T/py.pmt" "$py" -I -S -c "$prog"
	[ "$status" -eq 0 ]
	[[ "$output" == *4000000* ]]
	json report "$T/py.pmt" >"$T/py.json"
	ours=$(jq '.summary.peak' "$T/py.json")
	[ "$ours" -ge 32000000 ]
	valgrind --tool=massif --pages-as-heap=no --threshold=0 --massif-out-file="$T/py.massif" \
		"$py" -I -S -c "$prog" >/dev/null 2>"$T/valgrind.err"
	theirs=$(massif_peak "$T/py.massif")
	echo "plumb memtrace peak $ours, massif $theirs"
	within 5 "$ours" "$theirs"
}

# ---- The memleak example ----

@test "examples/memleak: the note's output, 80,000 bytes more at the leaking line each step" {
	src=$BATS_TEST_DIRNAME/../../examples/memleak.c
	nn=$(grep -n 'malloc(NELEM' "$src" | cut -d: -f1)
	call=$(grep -n '^		mem_leaker();' "$src" | cut -d: -f1)
	[ -n "$nn" ]
	[ -n "$call" ]
	run --separate-stderr "$EXAMPLES/memleak"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$T/out"

	# 10,000 int64 = 80,000 bytes a block; in tracemalloc's format, after k
	# calls: k * 80000 bytes (156, 234, 312, 391 KiB: %.0f rounds 312.5 to
	# even), k - 1 blocks more than the first snapshot.
	want_diffs=(
		"memleak.c:$nn: size=156 KiB (+78.1 KiB), count=2 (+1), average=78.1 KiB"
		"memleak.c:$nn: size=234 KiB (+156 KiB), count=3 (+2), average=78.1 KiB"
		"memleak.c:$nn: size=312 KiB (+234 KiB), count=4 (+3), average=78.1 KiB"
		"memleak.c:$nn: size=391 KiB (+312 KiB), count=5 (+4), average=78.1 KiB"
	)
	mapfile -t L <"$T/out"
	[ "${L[0]}" = "" ]
	[ "${L[1]}" = "*** top 5 stats grouped by filename ***" ]
	[ "${L[2]##*/}" = "memleak.c:0: size=78.1 KiB, count=1, average=78.1 KiB" ]
	i=3
	for want in "${want_diffs[@]}"; do
		[ "${L[i]}" = "" ]
		[ "${L[i + 1]}" = "*** top 10 stats ***" ]
		echo "${L[i + 2]}"
		[ "${L[i + 2]##*/}" = "$want" ]
		i=$((i + 3))
	done
	[ "${L[i]}" = "" ]
	[ "${L[i + 1]}" = "*** Trace for largest memory block - (5 blocks, 390.625 Kb) ***" ]
	# The traceback, oldest frame first: main's call, then the malloc line.
	n=${#L[@]}
	[[ "${L[n - 2]}" == '  File "'*'memleak.c", line '"$nn" ]]
	[ "${L[n - 1]}" = "    int64_t *block = malloc(NELEM * sizeof(int64_t));" ]
	[[ "${L[n - 4]}" == '  File "'*'memleak.c", line '"$call" ]]
	[ "${L[n - 3]}" = "    mem_leaker();" ]
	# Only those two frames are in memleak.c (the C start-up code before
	# them, _start, has no line of its own).
	[ "$(sed -n '/Trace for largest/,$p' "$T/out" | grep -c 'memleak.c", line')" -eq 2 ]
}
