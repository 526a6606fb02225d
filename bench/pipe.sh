#!/bin/sh
#
# pipe.sh - plumb's synchronous pipe against Go's io.Pipe, side by side.
#
# Builds bench_pipe (C) in $BUILD and its Go peer into $BUILD/bench/go/, then
# runs both, interleaved, RUNS times each, and prints the medians:
#   throughput: a writer thread moves TOTAL bytes in writes of 512 B, 4 KiB,
#     32 KiB and 1 MiB; the reader reads with a buffer of max(write, 32 KiB)
#     (the same in both programs); memcpy of the write size in one thread,
#     measured in the same run, is the ceiling.
#   ping-pong: 1-byte round trips between two threads over two pipes: plumb,
#     Go's io.Pipe, and the kernel's pipe(2).
#
# Two threads handing bytes to each other need both CPUs of a small machine;
# other processes taking one of them change the picture (Go's scheduler then
# runs both goroutines on one thread, two OS threads must switch).  So before
# each pair of runs the script waits a little for the machine to be idle (at
# most QUIET seconds in all), and each run reports how many CPUs others kept
# busy meanwhile; the table shows the worst of those medians.
#
# It says whether the goals are met, but exits non-zero only when something
# fails to build or run.
#
# Environment:
#   BUILD        the meson build directory (default: build)
#   TOTAL        bytes per throughput run (default: 4 GiB, the issue's)
#   SECS         stop a throughput run early after this long (default: 3)
#   RUNS         repetitions of each measurement (default: 5)
#   PINGS        plumb and Go round trips per run (default: 300000)
#   KPINGS       kernel pipe round trips per run (default: 50000)
#   QUIET        seconds to wait in all for an idle machine (default: 20)
#   RESULTS      keep every result line in this file (default: not kept)
#
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BUILD=${BUILD:-build}
case $BUILD in
/*) build=$BUILD ;;
*) build=$root/$BUILD ;;
esac
TOTAL=${TOTAL:-4294967296}
SECS=${SECS:-3}
RUNS=${RUNS:-5}
PINGS=${PINGS:-300000}
KPINGS=${KPINGS:-50000}
QUIET=${QUIET:-20}
SIZES="512 4096 32768 1048576"

die() {
	echo "pipe.sh: $*" >&2
	exit 1
}

[ -d "$build" ] || die "no build directory $build (meson setup $BUILD)"
ninja -C "$build" bench/bench_pipe >/dev/null || die "cannot build bench_pipe"
cbench=$build/bench/bench_pipe
gobench=$build/bench/go/pipe
mkdir -p "$build/bench/go"
GOCACHE=$build/bench/go/cache GOFLAGS='' \
	go build -o "$gobench" "$here/go/pipe/main.go" || die "cannot build the Go peer"

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# busy - the machine's busy CPU time so far, in clock ticks.
busy() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# wait_quiet - waits until the CPUs look idle (under 0.15 of a CPU busy over
# a quarter of a second), for up to 3 seconds, while the QUIET budget lasts.
quarters=$((QUIET * 4))
wait_quiet() {
	tries=12
	while [ "$tries" -gt 0 ] && [ "$quarters" -gt 0 ]; do
		b0=$(busy)
		sleep 0.25
		b1=$(busy)
		# ticks are 1/100 s: 0.15 CPU over 0.25 s is about 4 ticks
		[ $((b1 - b0)) -le 4 ] && return 0
		tries=$((tries - 1))
		quarters=$((quarters - 1))
	done
	echo "pipe.sh: the machine is busy; measuring anyway" >&2
}

# run PROGRAM ARGS... - runs one measurement and keeps its line.
run() {
	out=$("$@") || die "failed: $*"
	echo "$out" >>"$results"
}

# pair ARGS... - the C and the Go program on the same arguments, after the
# machine settles, alternating which goes first.
pair() {
	wait_quiet
	if [ $((i % 2)) -eq 1 ]; then
		run "$cbench" "$@"
		run "$gobench" "$@"
	else
		run "$gobench" "$@"
		run "$cbench" "$@"
	fi
}

# median IMPL MODE SIZE FIELD - the median of FIELD over the matching lines
# (SIZE empty for ping-pong).
median() {
	pattern="impl=$1 mode=$2"
	[ -n "$3" ] && pattern="$pattern size=$3 "
	grep -F "$pattern" "$results" | tr ' ' '\n' | sed -n "s/^$4=//p" | sort -g |
		awk '{ v[NR] = $1 }
		END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
		      else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "pipe.sh: $RUNS runs of each, $TOTAL bytes per throughput run, $(nproc) CPUs" >&2
i=1
while [ "$i" -le "$RUNS" ]; do
	echo "pipe.sh: run $i of $RUNS" >&2
	for size in $SIZES; do
		pair throughput "$size" "$TOTAL" "$SECS"
		run "$cbench" memcpy "$size" "$TOTAL"
	done
	pair pingpong "$PINGS"
	run "$cbench" kpingpong "$KPINGS"
	i=$((i + 1))
done
[ -n "${RESULTS:-}" ] && cp "$results" "$RESULTS"

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'
}

# at_least A B FACTOR - "yes" if A >= FACTOR * B.
at_least() {
	awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { print (a >= f * b) ? "yes" : "NO" }'
}

# worst A B - the larger of two numbers.
worst() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'
}

echo
echo "Throughput, GB/s (10^9 bytes/s), median of $RUNS; reads of max(write, 32 KiB)"
echo "(others: CPUs kept busy by other processes during the runs, worst median)"
printf '%-8s %8s %8s %8s %9s %10s %7s  %s\n' size plumb go memcpy plumb/go plumb/mcpy others goal
for size in $SIZES; do
	c=$(median plumb throughput "$size" gbps)
	g=$(median go throughput "$size" gbps)
	m=$(median memcpy memcpy "$size" gbps)
	o=$(worst "$(median plumb throughput "$size" others)" "$(median go throughput "$size" others)")
	if [ "$size" -eq 1048576 ]; then
		goal="plumb >= 1.5 x go: $(at_least "$c" "$g" 1.5)"
	else
		goal="plumb >= go: $(at_least "$c" "$g" 1)"
	fi
	printf '%-8s %8s %8s %8s %9s %10s %7s  %s\n' "$size" "$c" "$g" "$m" \
		"$(ratio "$c" "$g")" "$(ratio "$c" "$m")" "$o" "$goal"
done

echo
echo "Ping-pong, 1-byte round trips per second, median of $RUNS"
c=$(median plumb pingpong "" rtps)
g=$(median go pingpong "" rtps)
k=$(median kernel pingpong "" rtps)
o=$(worst "$(median plumb pingpong "" others)" "$(median go pingpong "" others)")
printf '%-14s %10s\n' plumb "$c" go "$g" "kernel pipe" "$k"
printf '%-14s %10s\n' plumb/go "$(ratio "$c" "$g")" plumb/kernel "$(ratio "$c" "$k")"
printf '%-14s %10s\n' others "$o"
echo "goal plumb >= go: $(at_least "$c" "$g" 1)"
