#!/usr/bin/env bats
#
# batch.bats - `plumb batch` against GNU parallel and xargs.
#
# Most tests run the same job list through plumb batch and through GNU
# parallel (and xargs where it has the option) and compare what matters:
# the set of output lines (or the exact output where the order is
# promised), whole job blocks never interleaved, the exit status, and the
# joblog columns.  GNU parallel runs every command through a shell, plumb
# spawns it directly, so the commands used are ones that mean the same both
# ways.  $PLUMB is the built command.

PLUMB=${PLUMB:-plumb}
case $PLUMB in */*) PLUMB=$(cd "$(dirname "$PLUMB")" && pwd)/$(basename "$PLUMB") ;; esac

setup() {
	T=$BATS_TEST_TMPDIR
	export PARALLEL_HOME=$T/.parallel
	mkdir -p "$PARALLEL_HOME"
	touch "$PARALLEL_HOME/will-cite"
}

# ---- Inputs ----

@test "stdin lines: the same outputs as parallel and xargs -P" {
	seq 200 >"$T/in"
	"$PLUMB" batch -j 4 echo x <"$T/in" | sort >"$T/plumb"
	parallel -j 4 echo x <"$T/in" | sort >"$T/parallel"
	xargs -P 4 -n 1 echo x <"$T/in" | sort >"$T/xargs"
	[ "$(wc -l <"$T/plumb")" -eq 200 ]
	cmp "$T/plumb" "$T/parallel"
	cmp "$T/plumb" "$T/xargs"
}

@test "::: arguments and -a FILE give the same jobs as parallel" {
	printf '%s\n' one two 'with space' >"$T/in"
	"$PLUMB" batch -k echo ::: one two 'with space' >"$T/p1"
	"$PLUMB" batch -k -a "$T/in" echo >"$T/p2"
	parallel -k echo ::: one two 'with space' >"$T/g"
	cmp "$T/p1" "$T/g"
	cmp "$T/p2" "$T/g"
}

@test "-0 reads NUL-separated inputs, as xargs -0 and parallel -0" {
	printf 'a b\0c\nd\0e\0' >"$T/in"
	"$PLUMB" batch -0 -k printf '[%s]\n' <"$T/in" >"$T/p"
	xargs -0 -n 1 printf '[%s]\n' <"$T/in" >"$T/x"
	parallel -0 -k printf "'[%s]\n'" <"$T/in" >"$T/g"
	cmp "$T/p" "$T/x"
	cmp "$T/p" "$T/g"
}

@test "-n 2 groups inputs like parallel -n 2 and xargs -n 2" {
	"$PLUMB" batch -k -n 2 echo ::: 1 2 3 4 5 >"$T/p"
	parallel -k -n 2 echo ::: 1 2 3 4 5 >"$T/g"
	printf '%s\n' 1 2 3 4 5 | xargs -n 2 echo >"$T/x"
	cmp "$T/p" "$T/g"
	cmp "$T/p" "$T/x"
}

# ---- Placeholders ----

@test "placeholders {} {.} {/} {//} {/.} expand as in parallel" {
	set -- a/b/c.txt c.d noext /x.y dir.d/file .hidden
	"$PLUMB" batch -k echo {} {.} {/} {//} {/.} ::: "$@" >"$T/p"
	parallel -k echo {} {.} {/} {//} {/.} ::: "$@" >"$T/g"
	cmp "$T/p" "$T/g"
	"$PLUMB" batch -k echo pre{.}post ::: a.b >"$T/p"
	[ "$(cat "$T/p")" = "preapost" ]
}

@test "job numbers count from 1 and slots stay within -j" {
	"$PLUMB" batch -k -j 3 echo {#} {%} ::: a b c d e f g >"$T/p"
	[ "$(cut -d' ' -f1 "$T/p" | tr '\n' ' ')" = "1 2 3 4 5 6 7 " ]
	while read -r _ slot; do
		[ "$slot" -ge 1 ] && [ "$slot" -le 3 ]
	done <"$T/p"
	parallel -k -j 3 echo {#} ::: a b c d e f g >"$T/g"
	cmp <(cut -d' ' -f1 "$T/p") "$T/g"
}

@test "without a placeholder the input is appended; --shell quotes it" {
	"$PLUMB" batch -k printf '<%s>\n' ::: 'a b' "it's" '$HOME' >"$T/p"
	printf '<%s>\n' 'a b' "it's" '$HOME' >"$T/want"
	cmp "$T/p" "$T/want"
	"$PLUMB" batch -k --shell 'printf "<%s>\n" {} | tr a-z A-Z' ::: 'a b' "it's" '$HOME' >"$T/p"
	parallel -k 'printf "<%s>\n" {} | tr a-z A-Z' ::: 'a b' "it's" '$HOME' >"$T/g"
	cmp "$T/p" "$T/g"
}

@test "--dry-run prints the commands as parallel does and runs nothing" {
	"$PLUMB" batch --dry-run -k touch "$T/made" ::: 'a b' x >"$T/p"
	[ ! -e "$T/made" ]
	parallel --dry-run -k echo ::: 'a b' "it's" '' plain >"$T/g"
	"$PLUMB" batch --dry-run -k echo ::: 'a b' "it's" '' plain >"$T/p"
	cmp "$T/p" "$T/g"
	# Words of the command that need quoting are quoted too, and -n with
	# several {} words gives each input as a word of its own every time.
	"$PLUMB" batch --dry-run printf '%s\n' ::: 'a b' >"$T/p"
	parallel --dry-run printf "'%s\n'" ::: 'a b' >"$T/g"
	cmp "$T/p" "$T/g"
	"$PLUMB" batch --dry-run -n 10 echo {} {} {} x{}y ::: $(seq 12) >"$T/p"
	[ "$(head -1 "$T/p")" = "echo $(echo $(seq 10) $(seq 10) $(seq 10)) 'x$(echo $(seq 10))y'" ]
	[ "$(tail -1 "$T/p")" = "echo 11 12 11 12 11 12 'x11 12y'" ]
}

# ---- Output ----

# blocks_whole FILE: every "N a" line is followed at once by "N b", "N c".
blocks_whole() {
	awk '{ if (want != "" && $0 != want) { bad = 1 }
	       split($0, f, " ");
	       if (f[2] == "a") want = f[1] " b"; else if (f[2] == "b") want = f[1] " c"; else want = "" }
	     END { exit bad }' "$1"
}

@test "grouped output: a job's lines are never split by another's" {
	job='echo $0 a; sleep 0.01; echo $0 b; sleep 0.01; echo $0 c'
	"$PLUMB" batch -j 8 sh -c "$job" ::: $(seq 40) >"$T/p"
	parallel -j 8 sh -c "'$job'" ::: $(seq 40) >"$T/g"
	[ "$(wc -l <"$T/p")" -eq 120 ]
	blocks_whole "$T/p"
	blocks_whole "$T/g"
	cmp <(sort "$T/p") <(sort "$T/g")
}

@test "stderr is grouped too and goes to stderr" {
	"$PLUMB" batch -j 4 sh -c 'echo out $0; echo err $0 >&2' ::: 1 2 3 >"$T/o" 2>"$T/e"
	[ "$(sort "$T/o" | tr '\n' ' ')" = "out 1 out 2 out 3 " ]
	[ "$(sort "$T/e" | tr '\n' ' ')" = "err 1 err 2 err 3 " ]
}

@test "-k keeps input order even when later jobs end first" {
	"$PLUMB" batch -k -j 4 sh -c 'sleep $0; echo $0' ::: 0.3 0.2 0.1 0 >"$T/p"
	parallel -k -j 4 sh -c "'sleep \$0; echo \$0'" ::: 0.3 0.2 0.1 0 >"$T/g"
	cmp "$T/p" "$T/g"
	[ "$(head -1 "$T/p")" = "0.3" ]
}

@test "--tag prefixes each line with the input, as parallel --tag" {
	"$PLUMB" batch -k --tag sh -c 'echo $0; echo two' ::: a 'b c' >"$T/p"
	parallel -k --tag sh -c "'echo \$0; echo two'" ::: a 'b c' >"$T/g"
	cmp "$T/p" "$T/g"
}

@test "--line-buffer prints a job's lines while it runs, never half a line" {
	cd "$T"
	# The job says "early", then waits for the test to have seen it.
	"$PLUMB" batch --line-buffer sh -c \
		'echo early $0; n=0; while [ ! -e go ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; echo late $0' \
		::: x >"$T/out" &
	pid=$!
	for _ in $(seq 200); do
		grep -q early "$T/out" && break
		sleep 0.05
	done
	grep -q early "$T/out"
	! grep -q late "$T/out"
	touch go
	wait "$pid"
	[ "$(cat "$T/out" | tr '\n' ' ')" = "early x late x " ]
	# Many jobs writing long lines in pieces: every line comes out whole.
	job='for i in 1 2 3; do printf "%s-" $0 $0 $0; sleep 0.01; printf "%s\n" $0; done'
	"$PLUMB" batch --line-buffer --tag -j 8 sh -c "$job" ::: $(seq 30) >"$T/p"
	parallel --line-buffer --tag -j 8 sh -c "'$job'" ::: $(seq 30) >"$T/g"
	[ "$(wc -l <"$T/p")" -eq 90 ]
	awk -F'\t' '{ split($2, f, "-"); if (f[1] != $1 || f[4] != $1) exit 1 }' "$T/p"
	cmp <(sort "$T/p") <(sort "$T/g")
	run "$PLUMB" batch --line-buffer -k echo ::: a
	[ "$status" -eq 255 ]
}

@test "--bar shows done/total, running and ETA on a terminal, nothing elsewhere" {
	command -v script >/dev/null || skip "script(1) is not installed"
	script -qec "'$PLUMB' batch --bar -j 2 sh -c 'echo out \$0' ::: 1 2 3 4 5" /dev/null >"$T/tty"
	grep -q '100% 5/5 done, 0 running, 0 failed' "$T/tty"
	grep -q 'running' "$T/tty"
	# Output lines come out whole, each after the bar line was cleared.
	[ "$(sed 's/\x1b\[K//g' "$T/tty" | tr '\r' '\n' | grep -c '^out [1-5]$')" -eq 5 ]
	"$PLUMB" batch --bar -j 2 echo ::: 1 2 3 >"$T/o" 2>"$T/e"
	[ ! -s "$T/e" ]
	[ "$(wc -l <"$T/o")" -eq 3 ]
}

@test "-k behind a slow job waits for descriptors instead of failing" {
	# 64 descriptors: room for 24 jobs' files; 200 jobs queue behind job 1.
	(
		ulimit -n 64
		seq 200 | "$PLUMB" batch -k -j 4 sh -c 'if [ $0 = 1 ]; then sleep 0.5; fi; echo $0' >"$T/p"
	)
	seq 200 | cmp - "$T/p"
}

@test "10,000 jobs with -j 64: no output lost or duplicated" {
	seq 10000 | "$PLUMB" batch -j 64 echo >"$T/p"
	seq 10000 >"$T/want"
	cmp <(sort -n "$T/p") "$T/want"
}

@test "--batch runs SIZE jobs, then waits for all of them (a barrier)" {
	mkdir "$T/m"
	# Job i checks that every job of the batches before its own has ended.
	job='i=$0; k=1; while [ $k -le $(( (i - 1) / 3 * 3 )) ]; do
	       [ -e m/done.$k ] || echo "job $i started before $k ended"; k=$((k + 1)); done
	     sleep 0.0$((i % 4)); touch m/done.$i'
	cd "$T"
	"$PLUMB" batch --batch 3 -j 3 sh -c "$job" ::: $(seq 12) >"$T/p"
	[ ! -s "$T/p" ]
	[ "$(ls m | wc -l)" -eq 12 ]
}

@test "the example: 100 integers each once, per approach" {
	for mode in batches window; do
		"$EXAMPLES/batch" "$mode" >"$T/out"
		[ "$(tail -1 "$T/out")" = "done processing all data" ]
		cmp <(head -n 100 "$T/out" | sort -n) <(seq 0 99)
	done
}

# ---- Exit status, joblog, halt, retries, timeout ----

@test "exit status: the number of failed jobs, as parallel" {
	run "$PLUMB" batch sh -c 'exit $0' ::: 0 3 0 2 1
	[ "$status" -eq 3 ]
	run parallel sh -c "'exit \$0'" ::: 0 3 0 2 1
	[ "$status" -eq 3 ]
	run "$PLUMB" batch true ::: a b
	[ "$status" -eq 0 ]
}

@test "exit status is capped at 101, as parallel" {
	run bash -c "seq 150 | '$PLUMB' batch -j 8 false"
	[ "$status" -eq 101 ]
	run bash -c "seq 150 | parallel -j 8 false"
	[ "$status" -eq 101 ]
}

# cols FILE: the joblog without the time columns, sorted by Seq.
cols() {
	head -1 "$1"
	tail -n +2 "$1" | cut -f1,2,5,6,7,8,9 | sort -n
}

@test "--joblog: the same columns and values as parallel's" {
	"$PLUMB" batch --joblog "$T/pj" -j 3 echo ::: a bb 'c c' >/dev/null
	parallel --joblog "$T/gj" -j 3 echo ::: a bb 'c c' >/dev/null
	cmp <(cols "$T/pj") <(cols "$T/gj")
	"$PLUMB" batch --joblog "$T/pj" -j 3 false ::: a b || true
	parallel --joblog "$T/gj" -j 3 false ::: a b || true
	cmp <(cols "$T/pj") <(cols "$T/gj")
	# Starttime and JobRuntime are numbers with three decimals.
	tail -n +2 "$T/pj" | cut -f3,4 | grep -Evq '^[0-9]+\.[0-9]{3}	 *[0-9]+\.[0-9]{3}$' && false
	true
}

@test "--timeout kills a job: Exitval -1 Signal 15, as parallel" {
	run "$PLUMB" batch --joblog "$T/pj" --timeout 0.3 sleep ::: 30.77 0
	[ "$status" -eq 1 ]
	[[ "$output" == *"timed out"* ]]
	! pgrep -f 'sleep 30.77' >/dev/null
	parallel --joblog "$T/gj" --timeout 0.3 sleep ::: 30.77 0 2>/dev/null || true
	cmp <(cols "$T/pj") <(cols "$T/gj")
}

@test "--halt now,fail=1 and soon,fail=1: the failing job's status, as parallel" {
	for how in now soon; do
		run "$PLUMB" batch -j 1 --halt "$how,fail=1" sh -c 'exit $0' ::: 0 5 0
		[ "$status" -eq 5 ]
		[[ "$output" == *"exit"* ]]
		run parallel -j 1 --halt "$how,fail=1" sh -c "'exit \$0'" ::: 0 5 0
		[ "$status" -eq 5 ]
	done
	# After the halt no further job starts.
	"$PLUMB" batch -j 1 --halt soon,fail=1 sh -c 'echo $0; exit $0' ::: 0 4 0 0 >"$T/p" || true
	[ "$(cat "$T/p" | tr '\n' ' ')" = "0 4 " ]
	# A percentage: 50% of the jobs done so far.
	run "$PLUMB" batch -j 1 --halt soon,fail=50% sh -c 'exit $0' ::: 0 0 0 0 3 3 3 3 3 3 0
	[ "$status" -eq 3 ]
}

@test "--retries N runs a failing job up to N times, as parallel" {
	cd "$T"
	job='echo x >>count.$0; [ $(wc -l <count.$0) -ge 3 ]'
	run "$PLUMB" batch --retries 3 sh -c "$job" ::: p
	[ "$status" -eq 0 ]
	[ "$(wc -l <count.p)" -eq 3 ]
	run "$PLUMB" batch --retries 2 sh -c "$job" ::: q
	[ "$status" -eq 1 ]
	[ "$(wc -l <count.q)" -eq 2 ]
	run parallel --retries 2 sh -c "'$job'" ::: r
	[ "$status" -eq 1 ]
	[ "$(wc -l <count.r)" -eq 2 ]
}

@test "--resume skips the jobs already in the joblog" {
	"$PLUMB" batch -k --joblog "$T/jl" echo ::: a b c >/dev/null
	# Keep the header and job 2 only: jobs 1 and 3 run again.
	{ head -1 "$T/jl"; grep -P '^2\t' "$T/jl"; } >"$T/jl2"
	"$PLUMB" batch -k --resume --joblog "$T/jl2" echo ::: a b c >"$T/p"
	[ "$(cat "$T/p" | tr '\n' ' ')" = "a c " ]
	[ "$(tail -n +2 "$T/jl2" | cut -f1 | sort | tr '\n' ' ')" = "1 2 3 " ]
	[ "$(grep -c Seq "$T/jl2")" -eq 1 ]
}

# ---- Signals ----

@test "SIGTERM reaches every running job; plumb waits, prints, leaves nothing behind" {
	cd "$T"
	job='trap "echo stopped \$0; exit 7" TERM; touch started.$0; sleep 31.4159 & wait'
	"$PLUMB" batch -j 3 sh -c "$job" ::: 1 2 3 4 5 >"$T/out" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		[ "$(ls started.* 2>/dev/null | wc -l)" -eq 3 ] && break
		sleep 0.05
	done
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	[ "$(grep -c stopped "$T/out")" -eq 3 ]
	[ "$(ls started.* | wc -l)" -eq 3 ]
	! pgrep -f 'sleep 31.4159' >/dev/null
}

@test "SIGINT too is forwarded, waited for, and gives 130" {
	command -v python3 >/dev/null || skip "python3 is not installed"
	cd "$T"
	job='trap "echo interrupted \$0; exit 5" INT; touch started.$0; sleep 27.1828 & wait'
	# A shell's background job ignores SIGINT; python gives it back its default.
	python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
		"$PLUMB" batch -j 2 sh -c "$job" ::: 1 2 3 >"$T/out" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		[ "$(ls started.* 2>/dev/null | wc -l)" -eq 2 ] && break
		sleep 0.05
	done
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 130 ]
	[ "$(grep -c interrupted "$T/out")" -eq 2 ]
	! pgrep -f 'sleep 27.1828' >/dev/null
}

# ---- Bad input ----

@test "bad options: a clear message and status 255" {
	run "$PLUMB" batch --frobnicate echo
	[ "$status" -eq 255 ]
	[[ "$output" == *"unknown option"* ]]
	run "$PLUMB" batch -j many echo
	[ "$status" -eq 255 ]
	[[ "$output" == *"-j: 'many' is not a number"* ]]
	run "$PLUMB" batch --halt sometimes echo
	[ "$status" -eq 255 ]
	run "$PLUMB" batch --timeout -1 echo
	[ "$status" -eq 255 ]
	run "$PLUMB" batch
	[ "$status" -eq 255 ]
	[[ "$output" == *"no command"* ]]
	run "$PLUMB" batch --resume echo
	[ "$status" -eq 255 ]
}

@test "an unreadable input file: a clear message and status 255" {
	run "$PLUMB" batch -a "$T/missing" echo
	[ "$status" -eq 255 ]
	[[ "$output" == *"cannot read $T/missing"* ]]
	run "$PLUMB" batch -a "$T" echo
	[ "$status" -eq 255 ]
}

@test "a command that does not exist: each job fails with the reason, counted" {
	run "$PLUMB" batch no-such-command-xyz ::: a b c
	[ "$status" -eq 3 ]
	[ "$(grep -c 'no-such-command-xyz: No such file or directory' <<<"$output")" -eq 3 ]
	run parallel no-such-command-xyz ::: a b c
	[ "$status" -eq 3 ]
	"$PLUMB" batch --joblog "$T/pj" no-such-command-xyz ::: a 2>/dev/null || true
	[ "$(tail -1 "$T/pj" | cut -f7)" = "127" ]
}

@test "-j 0 runs every job at once" {
	cd "$T"
	# Each of 20 jobs waits until all 20 have started: only -j 0 finishes.
	job='touch s.$0; n=0; while [ $(ls s.* | wc -l) -lt 20 ] && [ $n -lt 400 ]; do sleep 0.02; n=$((n+1)); done; [ $n -lt 400 ]'
	run "$PLUMB" batch -j 0 sh -c "$job" ::: $(seq 20)
	[ "$status" -eq 0 ]
}
