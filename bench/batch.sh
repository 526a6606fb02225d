#!/usr/bin/env bash
#
# batch.sh - `plumb batch` against xargs -P and GNU parallel, and the batch
# library's own costs, side by side in one run.
#
# Jobs: JOBS trivial jobs (`true`, then `echo {}`) with -j 2, through
#   plumb batch (grouped, --keep-order, --joblog), xargs -P 2 -n 1, and
#   GNU parallel -j 2 (grouped and -k), and the floor: bench_spawn, a loop
#   that only posix_spawns and waits (no capture, no order, no log); jobs
#   per second, median of RUNS
#   interleaved runs; ratios against xargs and parallel: of the medians,
#   and the median of each round's ratio (a round runs every contender
#   back to back, so on a machine that others use too it is the steadier
#   figure; the goals are judged on it).  Start-up: plumb batch and
#   parallel with no input, median of 9 runs.
# Library: bench_batch (built by meson in $BUILD): empty
#   tasks per second through a 2-thread pool, and the note's two approaches
#   on 500 tasks of 1-10 ms (fixed seed) with a limit of 10.
#
# Says whether the goals are met; exits non-zero only when something fails
# to build or run.
#
# Environment: BUILD (default build), JOBS (2000), RUNS (3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BUILD=${BUILD:-build}
case $BUILD in /*) build=$BUILD ;; *) build=$root/$BUILD ;; esac
JOBS=${JOBS:-2000}
RUNS=${RUNS:-3}
plumb=$build/src/plumb
[ -x "$plumb" ] || { echo "batch.sh: no $plumb; build first" >&2; exit 1; }
command -v parallel >/dev/null || { echo "batch.sh: GNU parallel is not installed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PARALLEL_HOME=$tmp/parallel
mkdir -p "$PARALLEL_HOME"
touch "$PARALLEL_HOME/will-cite"
seq "$JOBS" >"$tmp/in"

ninja -C "$build" src/plumb bench/bench_batch bench/bench_spawn >/dev/null

median() {
	tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# secs CMD...: wall seconds of one run, stdin from the list, stdout dropped.
secs() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" <"$tmp/in" >/dev/null 2>&1 || true
	t1=$(date +%s%N)
	echo "scale=4; ($t1 - $t0) / 1000000000" | bc
}

declare -A rate
names=(plumb plumb-k plumb-joblog xargs parallel parallel-k floor)
run_one() { # KIND NAME
	local kind=$1 name=$2 cmd
	if [ "$kind" = true ]; then cmd=(true); else cmd=(echo); fi
	local s
	case $name in
	plumb) s=$(secs "$plumb" batch -j 2 "${cmd[@]}") ;;
	plumb-k) s=$(secs "$plumb" batch -j 2 -k "${cmd[@]}") ;;
	plumb-joblog) s=$(secs "$plumb" batch -j 2 --joblog "$tmp/jl" "${cmd[@]}") ;;
	xargs) s=$(secs xargs -P 2 -n 1 "${cmd[@]}") ;;
	parallel) s=$(secs parallel -j 2 "${cmd[@]}") ;;
	parallel-k) s=$(secs parallel -j 2 -k "${cmd[@]}") ;;
	floor) s=$(secs "$build/bench/bench_spawn" 2 "${cmd[@]}") ;;
	esac
	rate[$kind/$name]+="$(echo "scale=1; $JOBS / $s" | bc) "
}

for kind in true echo; do
	for ((i = 0; i < RUNS; i++)); do
		for ((j = 0; j < ${#names[@]}; j++)); do
			run_one "$kind" "${names[(i + j) % ${#names[@]}]}"
		done
	done
done

start_ms() { # CMD...: median start-up in ms over 9 runs with no input
	local all="" t0 t1
	for _ in 1 2 3 4 5 6 7 8 9; do
		t0=$(date +%s%N)
		"$@" </dev/null >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		all+="$(echo "scale=2; ($t1 - $t0) / 1000000" | bc) "
	done
	median "$all"
}

# ratio A B: the median over the rounds of A's rate over B's in that round.
ratio() {
	local -a a=(${rate[$1]}) b=(${rate[$2]})
	local all="" i
	for ((i = 0; i < ${#a[@]}; i++)); do
		all+="$(echo "${a[i]} / ${b[i]}" | bc -l) "
	done
	median "$all"
}

printf '%d jobs, -j 2, median of %d interleaved runs (jobs/s)\n\n' "$JOBS" "$RUNS"
printf '%-8s %-14s %10s %9s %11s   %s\n' job contender jobs/s "vs xargs" "vs parallel" \
	"per round: vs xargs, vs parallel"
ok=1
for kind in true echo; do
	x=$(median "${rate[$kind/xargs]}")
	g=$(median "${rate[$kind/parallel]}")
	for name in "${names[@]}"; do
		m=$(median "${rate[$kind/$name]}")
		printf '%-8s %-14s %10.1f %8.2fx %10.2fx   %8.2fx %10.2fx\n' "$kind" "$name" "$m" \
			"$(echo "$m / $x" | bc -l)" "$(echo "$m / $g" | bc -l)" \
			"$(ratio "$kind/$name" "$kind/xargs")" "$(ratio "$kind/$name" "$kind/parallel")"
	done
	# The goals, on the per-round ratios: plumb against xargs and parallel,
	# and what -k and --joblog cost against plain plumb.
	p=1
	x=$(ratio "$kind/xargs" "$kind/plumb")
	g=$(ratio "$kind/parallel" "$kind/plumb")
	pk=$(ratio "$kind/plumb-k" "$kind/plumb")
	pj=$(ratio "$kind/plumb-joblog" "$kind/plumb")
	fx=$(ratio "$kind/floor" "$kind/xargs")
	pf=$(ratio "$kind/plumb" "$kind/floor")
	awk -v p="$p" -v x="$x" -v g="$g" -v k="$pk" -v j="$pj" -v kind="$kind" -v fx="$fx" -v pf="$pf" 'BEGIN {
		printf "  goals (%s): >= 1.3x xargs %s, >= 5x parallel %s (10x %s), -k cost %.1f%%, joblog cost %.1f%%\n",
			kind, (p >= 1.3 * x ? "met" : "NOT met"), (p >= 5 * g ? "met" : "NOT met"),
			(p >= 10 * g ? "met" : "not met"), 100 * (1 - k / p), 100 * (1 - j / p)
		printf "  the floor (spawn and wait, nothing else) is %.2fx xargs; plumb runs at %.2f of the floor\n", fx, pf }'
done
ps=$(start_ms "$plumb" batch true)
pv=$(start_ms "$plumb" --version)
ts=$(start_ms /bin/true)
gs=$(start_ms parallel true)
printf '\nstart-up (no input, ms, including this script'"'"'s own fork and exec, which /bin/true shows):\n'
printf '  plumb batch %s, plumb --version %s, /bin/true %s, parallel %s\n' "$ps" "$pv" "$ts" "$gs"
printf '  plumb batch beyond /bin/true: %s ms (goal < 5 ms: %s)\n' "$(echo "$ps - $ts" | bc)" \
	"$(awk -v s="$ps" -v t="$ts" 'BEGIN { print (s - t < 5 ? "met" : "NOT met") }')"

printf '\nlibrary:\n'
all=""
for ((i = 0; i < RUNS; i++)); do
	all+="$("$build/bench/bench_batch" pool 2 2000000 | awk '$1 == "pool" { print $2 }') "
done
t=$(median "$all")
printf '  empty tasks, 2-thread pool: %.0f tasks/s (goal >= 1000000: %s)\n' "$t" \
	"$(awk -v t="$t" 'BEGIN { print (t >= 1000000 ? "met" : "NOT met") }')"
"$build/bench/bench_batch" uneven 500 10 | awk '
	$1 == "batches" { b = $2 } $1 == "window" { w = $2 }
	END { printf "  500 tasks of 1-10 ms, 10 at a time: batches %.3f s, window %.3f s, window %.2fx faster\n", b, w, b / w }'
[ $ok = 1 ]
