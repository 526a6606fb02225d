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

# same_k ARGS...: plumb batch -k ARGS and parallel -k ARGS print the same,
# in the same order, and exit the same.  ARGS must mean the same run
# directly and through a shell (plain words, echo).
same_k() {
	local ps=0 gs=0
	"$PLUMB" batch -k "$@" >"$T/same.p" 2>"$T/same.pe" || ps=$?
	parallel -k "$@" >"$T/same.g" 2>/dev/null || gs=$?
	diff "$T/same.p" "$T/same.g"
	[ "$ps" -eq "$gs" ]
}

@test ":::: FILE reads inputs from files; several sources give every combination, as parallel" {
	cd "$T"
	printf '%s\n' a b >f1
	printf '%s\n' 1 2 3 >f2
	same_k echo :::: f1 f2
	same_k echo ::: x y :::: f1
	same_k echo :::: f1 ::: x y ::: p q
	same_k -a f1 echo ::: x y
	same_k -a f1 -a f2 echo
	same_k -a f1 echo :::: f2
	[ "$(wc -l <"$T/same.p")" -eq 6 ]
	# Standard input as a source of its own (read once, combined again and again).
	printf '%s\n' p q r >in
	"$PLUMB" batch -k echo ::: a b :::: - <in >"$T/p"
	parallel -k echo ::: a b :::: - <in >"$T/g"
	cmp "$T/p" "$T/g"
	seq 3 | "$PLUMB" batch -k echo :::: - f1 >"$T/p"
	seq 3 | parallel -k echo :::: - f1 >"$T/g"
	cmp "$T/p" "$T/g"
	# -0 applies to the files too.
	printf 'a b\0c\nd\0' >z
	"$PLUMB" batch -0 -k printf '[%s %s]\n' :::: z ::: 1 2 >"$T/p"
	parallel -0 -k printf "'[%s %s]\n'" :::: z ::: 1 2 >"$T/g"
	cmp "$T/p" "$T/g"
	[ "$(wc -l <"$T/p")" -eq 6 ]
}

@test ":::+ and ::::+ pair a source with the one before (the shortest decides); --link wraps" {
	cd "$T"
	printf '%s\n' a b >f1
	printf '%s\n' 1 2 3 >f2
	same_k echo :::: f1 :::+ x y z
	same_k echo ::: a b c :::+ 1 2
	same_k echo :::: f1 ::::+ f2
	same_k echo ::: a b c :::+ 1 2 ::: x y
	same_k echo ::: a b ::: 1 2 3 :::+ x y
	[ "$(cat "$T/same.p" | tr '\n' ' ')" = "a 1 x a 2 y b 1 x b 2 y " ]
	same_k --link echo ::: a b c ::: 1 2 ::: x
	same_k --link echo ::: a b c d e :::: f2
	[ "$(wc -l <"$T/same.p")" -eq 5 ]
	seq 3 | "$PLUMB" batch -k --link echo ::: a b c d e :::: - >"$T/p"
	seq 3 | parallel -k --link echo ::: a b c d e :::: - >"$T/g"
	cmp "$T/p" "$T/g"
}

@test "an empty source among others stands for one empty input, as in parallel" {
	cd "$T"
	: >empty
	printf '%s\n' a b >f1
	same_k echo X ::: a :::
	same_k echo X :::: empty ::: a b
	same_k echo X ::: a b :::+
	same_k echo X :::: f1 :::: empty
	# Only empty sources: no job at all.
	"$PLUMB" batch echo X :::: empty ::: >"$T/p"
	[ ! -s "$T/p" ]
}

@test "{N} {-N} and their . / // /. forms; -n with several sources, as parallel" {
	same_k echo {2}-{1} ::: a b ::: 1 2
	same_k --dry-run echo {1.} {2/} {2//} {1/.} {-1} ::: a.b/c.d ::: 'x/y z.w'
	"$PLUMB" batch printf '<%s>\n' {1.} x{2}y {2/} {2//} {1/.} {-1} {3} x{3}y ::: a.b/c.d ::: 'x/y z.w' >"$T/p"
	parallel printf "'<%s>\n'" {1.} x{2}y {2/} {2//} {1/.} {-1} {3} x{3}y ::: a.b/c.d ::: 'x/y z.w' >"$T/g"
	cmp "$T/p" "$T/g"
	[ "$(wc -l <"$T/p")" -eq 7 ]
	same_k -n 2 echo {1}-{2}-{3}-{4} ::: a b ::: 1 2
	same_k -n 3 echo ::: a b ::: 1 2
	same_k -n 2 echo {1} {2} {3} ::: a b c
	same_k --tag echo ::: a b ::: 1 2
	# The joblog shows each command as parallel does.
	"$PLUMB" batch --joblog "$T/pj" echo {2} ::: a 'b c' ::: 1 2 >/dev/null
	parallel --joblog "$T/gj" echo {2} ::: a 'b c' ::: 1 2 >/dev/null
	cmp <(cols "$T/pj") <(cols "$T/gj")
	# {N} in a --shell command is quoted like {}.
	"$PLUMB" batch -k --shell 'printf "<%s>\n" {2} {1}' ::: "it's" ::: 'a b' >"$T/p"
	parallel -k 'printf "<%s>\n" {2} {1}' ::: "it's" ::: 'a b' >"$T/g"
	cmp "$T/p" "$T/g"
}

@test "a long pipe as a later source is rewound from a temporary file, nothing lost" {
	seq 20000 | "$PLUMB" batch -j 4 -n 5000 sh -c 'echo $#' sh ::: a b :::: - >"$T/p"
	# 2 x 20,000 combinations of two values each, 5,000 combinations a job.
	[ "$(cat "$T/p" | sort | uniq -c | awk '{ print $1, $2 }')" = "8 10000" ]
	seq 2000 | "$PLUMB" batch -k --dry-run echo ::: a b :::: - >"$T/p"
	seq 2000 | awk '{ print "echo a " $1 } END { for (i = 1; i <= NR; i++) print "echo b " i }' >"$T/want"
	cmp "$T/p" "$T/want"
}

@test "bad sources: a clear message and status 255" {
	run "$PLUMB" batch echo ::::
	[ "$status" -eq 255 ]
	[[ "$output" == *":::: must be followed by the name of a file"* ]]
	run "$PLUMB" batch echo ::: a :::: "$T/missing"
	[ "$status" -eq 255 ]
	[[ "$output" == *"cannot read $T/missing"* ]]
	run parallel echo ::: a :::: "$T/missing"
	[ "$status" -eq 255 ]
	run "$PLUMB" batch echo :::: "$T"
	[ "$status" -eq 255 ]
	[[ "$output" == *"Is a directory"* ]]
	run "$PLUMB" batch echo :::: - -
	[ "$status" -eq 255 ]
	[[ "$output" == *"standard input"* ]]
	run "$PLUMB" batch -a - echo :::: -
	[ "$status" -eq 255 ]
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

@test "spool files reused well past the size that empties them: each job's bytes are its own" {
	# 30 jobs of 180 kB out and 60 kB err through 2 slots: each spool file
	# takes about 2.7 MB and is emptied twice on the way.
	job='seq -f "$0 %g" 20000; seq -f "$0 e%g" 8000 >&2'
	"$PLUMB" batch -j 2 --joblog "$T/jl" sh -c "$job" ::: $(seq 30) >"$T/o" 2>"$T/e"
	parallel -j 2 sh -c "'$job'" ::: $(seq 30) >"$T/go" 2>"$T/ge"
	[ "$(wc -l <"$T/o")" -eq 600000 ]
	cmp <(sort "$T/o") <(sort "$T/go")
	cmp <(sort "$T/e") <(sort "$T/ge")
	# Each job's block is whole: its first field changes exactly 29 times.
	[ "$(awk '$1 != last { n++; last = $1 } END { print n }' "$T/o")" -eq 30 ]
	[ "$(awk '$1 != last { n++; last = $1 } END { print n }' "$T/e")" -eq 30 ]
	# The joblog's Receive is each job's own stdout, not the file's size.
	for i in 1 9 30; do
		[ "$(awk -F'\t' -v i="$i" '$1 == i { print $6 }' "$T/jl")" = "$(seq -f "$i %g" 20000 | wc -c)" ]
	done
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
}

@test "--line-buffer -k: the first job prints as it goes, later ones wait their turn" {
	cd "$T"
	# Job 1 says "1 early", then waits for the test; job 2 says everything
	# at once and ends.  Until job 1 ends, job 2's lines are held.
	job='if [ $0 = 1 ]; then echo 1 early; n=0; while [ ! -e go ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done; echo 1 late; else echo 2 a; echo 2 err >&2; echo 2 b; fi'
	"$PLUMB" batch -k --line-buffer -j 2 --joblog jl sh -c "$job" ::: 1 2 >"$T/out" 2>"$T/err" &
	pid=$!
	# Job 2 is in the joblog once plumb has read all it wrote.
	for _ in $(seq 400); do
		grep -q early "$T/out" && grep -q '^2' jl && break
		sleep 0.05
	done
	grep -q '^2' jl
	[ "$(cat "$T/out")" = "1 early" ]
	[ ! -s "$T/err" ]
	touch go
	wait "$pid"
	[ "$(cat "$T/out" | tr '\n' ' ')" = "1 early 1 late 2 a 2 b " ]
	[ "$(cat "$T/err")" = "2 err" ]
	# Many jobs: the same lines, in the same order, as parallel --line-buffer -k.
	job='for i in 1 2 3; do printf "%s-" $0 $0; sleep 0.0$(( $0 % 3 )); printf "%s\n" $0; done'
	"$PLUMB" batch --line-buffer -k --tag -j 8 sh -c "$job" ::: $(seq 30) >"$T/p"
	parallel --line-buffer -k --tag -j 8 sh -c "'$job'" ::: $(seq 30) >"$T/g"
	cmp "$T/p" "$T/g"
	[ "$(wc -l <"$T/p")" -eq 90 ]
}

@test "--line-buffer -k: a job that writes much before its turn does not block" {
	cd "$T"
	# Job 1 waits until job 2 has written 2 MB (far more than a pipe holds)
	# and ended; job 2 could not end if its output were not taken.
	job='if [ $0 = 1 ]; then n=0; while [ ! -e done2 ]; do sleep 0.05; n=$((n+1)); [ $n -lt 600 ] || exit 9; done; echo one; else head -c 2000000 /dev/zero | tr "\0" x; echo; touch done2; fi'
	run "$PLUMB" batch -k --line-buffer -j 2 sh -c "$job" ::: 1 2
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "one" ]
	[ "${#lines[1]}" -eq 2000000 ]
	[ "${#lines[@]}" -eq 2 ]
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

@test "no temporary file: --line-buffer -k holds the output in memory, loses nothing, exits 255" {
	run env TMPDIR="$T/missing" "$PLUMB" batch -k --line-buffer -j 3 sh -c 'sleep 0.$0; echo $0 a; echo $0 b' ::: 3 1 2
	[ "$status" -eq 255 ]
	[[ "$output" == *"creating a temporary file in $T/missing"* ]]
	[ "$(grep -v temporary <<<"$output" | tr '\n' ' ')" = "3 a 3 b 1 a 1 b 2 a 2 b " ]
	# Grouped output needs the files: no job runs, and the reason is given.
	run env TMPDIR="$T/missing" "$PLUMB" batch echo ::: a
	[ "$status" -eq 255 ]
	[[ "$output" == *"cannot create a temporary file in $T/missing"* ]]
}

@test "--bar and --halt N% count the jobs first; a pipe is counted from a temporary file" {
	command -v script >/dev/null || skip "script(1) is not installed"
	script -qec "seq 3 | '$PLUMB' batch --bar -j 2 echo ::: a b :::: -" /dev/null >"$T/tty"
	grep -q '100% 6/6 done, 0 running, 0 failed' "$T/tty"
	[ "$(sed 's/\x1b\[K//g' "$T/tty" | tr '\r' '\n' | grep -c '^[ab] [123]$')" -eq 6 ]
	# 5 jobs from a pipe: 2 failures are 40%, and the status is that share.
	run bash -c "printf '%s\n' 0 3 0 3 0 | '$PLUMB' batch -j 1 --halt soon,fail=40% sh -c 'exit \$0'"
	[ "$status" -eq 40 ]
	run bash -c "printf '%s\n' 0 3 0 3 0 | parallel -j 1 --halt soon,fail=40% sh -c \"'exit \\\$0'\""
	[ "$status" -eq 40 ]
}

@test "-k behind a slow job waits for descriptors instead of failing" {
	# 64 descriptors: room for 24 jobs' files; 200 jobs queue behind job 1.
	(
		ulimit -n 64
		seq 200 | "$PLUMB" batch -k -j 4 sh -c 'if [ $0 = 1 ]; then sleep 0.5; fi; echo $0' >"$T/p"
	)
	seq 200 | cmp - "$T/p"
	# The same with --line-buffer, where a job may hold two pipes and two files.
	(
		ulimit -n 64
		seq 200 | "$PLUMB" batch -k --line-buffer -j 4 sh -c 'if [ $0 = 1 ]; then sleep 0.5; fi; echo $0' >"$T/p"
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
	# A percentage is of all the jobs: 6 of 11 must fail, and the status
	# is the share that failed, rounded up (ceil(6 / 11 * 100) = 55).
	run "$PLUMB" batch -j 1 --halt soon,fail=50% sh -c 'exit $0' ::: 0 0 0 0 3 3 3 3 3 3 0
	[ "$status" -eq 55 ]
	run parallel -j 1 --halt soon,fail=50% sh -c "'exit \$0'" ::: 0 0 0 0 3 3 3 3 3 3 0
	[ "$status" -eq 55 ]
}

# halt_same STATUS HALT INPUT...: with -j 1, plumb batch and parallel run
# 'echo $0; exit $0' for each input under --halt HALT: both exit STATUS and
# print the same outputs in the same order.
halt_same() {
	local want=$1 halt=$2 job='echo $0; exit $0'
	shift 2
	run "$PLUMB" batch -j 1 --halt "$halt" sh -c "$job" ::: "$@"
	echo "plumb --halt $halt: $status"
	[ "$status" -eq "$want" ]
	local p=$(grep -v '^plumb batch: halting' <<<"$output")
	run parallel -j 1 --halt "$halt" sh -c "'$job'" ::: "$@"
	echo "parallel --halt $halt: $status"
	[ "$status" -eq "$want" ]
	[ "$p" = "$(grep -v -e '^parallel: ' -e '^sh -c' <<<"$output")" ]
}

@test "--halt success=, done= and the short forms: parallel's outputs and exit statuses" {
	halt_same 0 soon,success=1 1 0 2
	halt_same 0 now,success=2 1 0 2 0 3
	halt_same 4 soon,success=2 1 0 2 4 3 # never met: the number failed
	halt_same 0 soon,success=50% 3 0 0 4 0 0 0 0
	halt_same 84 soon,success=50% 3 0 4 4 4 5 # never met: ceil(5 / 6 * 100)
	halt_same 2 soon,fail=2 0 5 7 0             # more than one: the number failed
	halt_same 10 soon,fail=50% 0 3 0 0 0 0 0 0 0 0
	halt_same 1 now,done=2 3 0 4
	halt_same 3 now,done=1 3 0 4
	halt_same 0 -1 3 0 4  # soon,success=1
	halt_same 0 -2 3 0 4  # now,success=1
	halt_same 3 1 0 3 4   # soon,fail=1
	halt_same 3 2 0 3 4   # now,fail=1
	halt_same 2 0 3 0 4   # never
	halt_same 34 30% 3 0 4 # soon,fail=30%: ceil(1 / 3 * 100)
	halt_same 2 never,fail=1 3 0 4
	# A job killed by a signal: 128 + the signal.
	run "$PLUMB" batch -j 1 --halt now,fail=1 sh -c 'kill -9 $$' ::: 1 2
	[ "$status" -eq 137 ]
	run parallel -j 1 --halt now,fail=1 sh -c "'kill -9 \$\$'" ::: 1 2
	[ "$status" -eq 137 ]
}

@test "--halt now,success=1 kills the others; only the winner is printed and logged, as parallel" {
	"$PLUMB" batch -j 3 --joblog "$T/pj" --halt now,success=1 sh -c 'sleep $0; echo $0' \
		::: 30.1 0.1 30.2 >"$T/p" 2>"$T/e"
	[ "$(cat "$T/p")" = "0.1" ]
	grep -q 'halting (now): this job succeeded' "$T/e"
	! pgrep -f 'sleep 30.[12]' >/dev/null
	parallel -j 3 --joblog "$T/gj" --halt now,success=1 sh -c "'sleep \$0; echo \$0'" \
		::: 30.1 0.1 30.2 >"$T/g" 2>/dev/null
	cmp "$T/p" "$T/g"
	cmp <(cols "$T/pj") <(cols "$T/gj")
	# A job that ignores SIGTERM gets SIGKILL a second later.
	run "$PLUMB" batch -j 2 --halt now,fail=1 sh -c 'trap "" TERM; sleep $0; exit 3' ::: 0.1 31.3
	[ "$status" -eq 3 ]
	! pgrep -f 'sleep 31.3' >/dev/null
}

@test "bad --halt values: a clear message and 255, as parallel" {
	for bad in success=1 sometimes now,success= now,succes=1 soon,fail=1.5 soon,fail=x%; do
		run "$PLUMB" batch --halt "$bad" true ::: a
		[ "$status" -eq 255 ]
		[[ "$output" == *"--halt: "*"$bad"* ]]
		run parallel --halt "$bad" true ::: a
		[ "$status" -eq 255 ]
	done
	# plumb also refuses limits that cannot mean anything.
	for bad in soon,fail=0 now,success=0% soon,fail=101%; do
		run "$PLUMB" batch --halt "$bad" true ::: a
		[ "$status" -eq 255 ]
		[[ "$output" == *"the limit must be"* ]]
	done
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

# term_leaves_nothing N PAT CMD...: runs CMD (plumb batch) in the
# background until N processes match PAT (pgrep -f), sends plumb SIGTERM,
# and checks it exits 143 with none of them left.
term_leaves_nothing() {
	local n=$1 pat=$2 pid status=0
	shift 2
	"$@" >"$T/out" 2>&1 &
	pid=$!
	for _ in $(seq 400); do
		[ "$(pgrep -fc "$pat")" -eq "$n" ] && break
		sleep 0.05
	done
	[ "$(pgrep -fc "$pat")" -eq "$n" ]
	kill -TERM "$pid"
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	! pgrep -f "$pat" >/dev/null
}

@test "after SIGTERM, what jobs left in the background dies too, even ignoring TERM or in a session of its own" {
	cd "$T"
	job='touch started.$0; (trap "" TERM; exec sleep 29.9792) & setsid sleep 29.9792 & wait'
	term_leaves_nothing 4 '^sleep 29.9792' "$PLUMB" batch -j 2 sh -c "$job" ::: 1 2
}

@test "after SIGTERM, a thousand orphans that ignore TERM all die: more than one read of /proc's list" {
	cd "$T"
	# Job 1 leaves 1000 sleeps that ignore TERM and ends; job 2 keeps plumb
	# running.  /proc/.../children gives about a page (~680 pids) a read.
	job='if [ $0 = 1 ]; then trap "" TERM; i=0; while [ $i -lt 1000 ]; do
		sleep 29.9793 & i=$((i + 1)); done; else exec sleep 29.9794; fi'
	term_leaves_nothing 1001 '^sleep 29.979[34]' "$PLUMB" batch -j 2 sh -c "$job" ::: 1 2
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

@test "each job starts clean: its own process group, default signals, fds 0-2 only, /dev/null in" {
	cd "$T"
	# plumb itself started with SIGINT and SIGPIPE ignored, as a shell's
	# background job may be, and with a joblog and an input file open: the
	# job gets the default actions back, no signal blocked, and none of
	# plumb's descriptors.  Each probe is the job's own process.
	ignoring() { (trap '' INT PIPE; "$@"); }
	echo /proc/self/status >list
	ignoring "$PLUMB" batch -a list --joblog jl grep -E '^Sig(Blk|Ign)' </dev/null >"$T/p"
	# Signals ignored where the tests run (a background job's SIGQUIT, say)
	# stay ignored, as with any exec; SIGINT, SIGTERM and SIGPIPE must not.
	ref=$(awk '$1 == "SigIgn:" { print $2 }' /proc/self/status)
	want=$(printf '%016x' $((0x$ref & ~((1 << 1) | (1 << 12) | (1 << 14)))))
	[ "$(cat "$T/p" | tr '\t\n' '  ')" = "SigBlk: 0000000000000000 SigIgn: $want " ]
	ignoring "$PLUMB" batch --joblog jl cat ::: /proc/self/stat >"$T/p"
	read -r pid _ _ _ pgrp _ <"$T/p"
	[ "$pid" = "$pgrp" ]
	echo /proc/self/fd >list
	ignoring "$PLUMB" batch -a list --joblog jl ls </dev/null >"$T/p"
	ls /proc/self/fd </dev/null >"$T/ref"
	cmp "$T/p" "$T/ref"
	"$PLUMB" batch readlink ::: /proc/self/fd/0 >"$T/p"
	[ "$(cat "$T/p")" = /dev/null ]
}

@test "the command is looked up per job when it varies: the same statuses as parallel" {
	cd "$T"
	mkdir bin
	touch bin/noexec
	printf '#!/bin/sh\necho script "$@"\n' >bin/scr
	chmod +x bin/scr
	cp bin/scr here
	run env PATH="$T/bin:$PATH" "$PLUMB" batch -k --joblog "$T/pj" {} ::: true false no-such-cmd-xyz noexec scr ./here
	[ "$status" -eq 3 ]
	[[ "$output" == *"noexec: Permission denied"* ]]
	[ "$(grep -c '^script$' <<<"$output")" -eq 2 ]
	run env PATH="$T/bin:$PATH" parallel -k --joblog "$T/gj" {} ::: true false no-such-cmd-xyz noexec scr ./here
	[ "$status" -eq 3 ]
	cmp <(cols "$T/pj") <(cols "$T/gj")
	# A fixed name is looked up once; an empty PATH entry is the current directory.
	run env PATH="/usr/bin:/bin:" "$PLUMB" batch here ::: a
	[ "$status" -eq 0 ]
	[ "$output" = "script a" ]
}

@test "-j 0 runs every job at once" {
	cd "$T"
	# Each of 20 jobs waits until all 20 have started: only -j 0 finishes.
	job='touch s.$0; n=0; while [ $(ls s.* | wc -l) -lt 20 ] && [ $n -lt 400 ]; do sleep 0.02; n=$((n+1)); done; [ $n -lt 400 ]'
	run "$PLUMB" batch -j 0 sh -c "$job" ::: $(seq 20)
	[ "$status" -eq 0 ]
}
