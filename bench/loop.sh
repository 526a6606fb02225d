#!/usr/bin/env bash
# loop.sh - attaching and detaching loop devices: plumb against losetup.
#
#   BUILD=build bench/loop.sh      (N=200 cycles, RUNS=3; CONC_P=16 CONC_R=100
#                                   for plumb, PEER_P=8 PEER_R=20 for losetup)
#
# Needs root and /dev/loop-control.  Builds bench/bench_loop.c, then,
# interleaved, RUNS times each:
#   - one process, N cycles of attach + detach: `losetup -f --show F;
#     losetup -d D` against `plumb loop -f --show F; plumb loop -d D` and
#     against the library calls in one process;
#   - the concurrent case: P processes attaching and detaching files of
#     their own at once (the library with 16x100, and losetup, plumb loop
#     and the library with 8 processes), with the median and worst attach.
# Every cycle checks that the device it got shows its own file; a failed
# attach, a shared device or a device left attached makes the script fail.
# Beside the wall-clock figures it prints the CPU time a cycle costs (the
# tool's processes and the bench's own): other load on the machine moves
# the first, not the second, and with more processes than cores the
# concurrent attach times follow the CPU time.
# The goals: plumb loop at least as fast as losetup; the library at least
# 3x losetup's cycles per second; with 8 processes a median attach under
# 5 ms and a worst under 50 ms.  Missing a goal is reported, not an error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD
N=${N:-200}
RUNS=${RUNS:-3}
CONC_P=${CONC_P:-16} CONC_R=${CONC_R:-100} PEER_P=${PEER_P:-8} PEER_R=${PEER_R:-20}

if [ ! -e /dev/loop-control ] || [ "$(id -u)" != 0 ]; then
	echo "loop.sh: skipped: needs root and /dev/loop-control" >&2
	exit 0
fi
ninja -C "$BUILD" src/plumb bench/bench_loop >/dev/null
bin=$BUILD/bench/bench_loop
plumb=$BUILD/src/plumb

work=$(mktemp -d /tmp/plumb-loop-bench.XXXXXX)
cleanup() {
	local name file
	losetup -l -n --raw -O NAME,BACK-FILE | while read -r name file; do
		case "$file" in "$work"/*) losetup -d "$name" ;; esac
	done
	rm -rf "$work"
}
trap cleanup EXIT

declare -A vals
# field LINE KEY: the value of KEY= in bench_loop's line.
field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
median() {
	tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
maxof() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -1; }
# run KEY ARGS...: one bench_loop run, its figures kept under KEY.
run() {
	local key=$1 out
	shift
	out=$("$bin" "$@" "$work")
	vals[$key.rate]+="$(field "$out" cycles_per_s) "
	vals[$key.med]+="$(field "$out" median_attach_ms) "
	vals[$key.max]+="$(field "$out" max_attach_ms) "
	vals[$key.cpu]+="$(field "$out" cpu_ms_per_cycle) "
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"

for ((i = 0; i < RUNS; i++)); do
	run seq.losetup cycle losetup "$N"
	run seq.plumb cycle "$plumb" "$N"
	run seq.lib cycle lib "$N"
	run conc.losetup conc losetup "$PEER_P" "$PEER_R"
	run conc.plumb conc "$plumb" "$PEER_P" "$PEER_R"
	run conc.lib8 conc lib "$PEER_P" "$CONC_R"
	run conc.lib16 conc lib "$CONC_P" "$CONC_R"
done
left=$(losetup -l -n --raw -O BACK-FILE | grep -c "^$work/" || true)

printf '%-34s %12s %14s %12s %14s\n' "one process, $N cycles" "cycles/s" "median attach" \
	"vs losetup" "CPU a cycle"
base=$(median "${vals[seq.losetup.rate]}")
for k in losetup plumb lib; do
	r=$(median "${vals[seq.$k.rate]}")
	printf '%-34s %12.1f %11.3f ms %11.2fx %11.3f ms\n' "$k" "$r" "$(median "${vals[seq.$k.med]}")" \
		"$(awk -v a="$r" -v b="$base" 'BEGIN { print a / b }')" "$(median "${vals[seq.$k.cpu]}")"
done
printf '\n%-34s %12s %14s %12s %14s\n' "concurrent" "cycles/s" "median attach" "worst attach" \
	"CPU a cycle"
for k in "losetup:losetup, $PEER_P procs x $PEER_R" "plumb:plumb loop, $PEER_P procs x $PEER_R" \
	"lib8:library, $PEER_P procs x $CONC_R" "lib16:library, $CONC_P procs x $CONC_R"; do
	printf '%-34s %12.1f %11.3f ms %9.3f ms %11.3f ms\n' "${k#*:}" \
		"$(median "${vals[conc.${k%%:*}.rate]}")" "$(median "${vals[conc.${k%%:*}.med]}")" \
		"$(maxof "${vals[conc.${k%%:*}.max]}")" "$(median "${vals[conc.${k%%:*}.cpu]}")"
done
echo "devices left attached: $left"
[ "$left" = 0 ]
