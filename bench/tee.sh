#!/usr/bin/env bash
# tee.sh - hashing on the way: plumb's tee into SHA-256 against SHA-256 alone
# (OpenSSL, one call over the buffer) and against Go's io.TeeReader.
#
#   BUILD=build bench/tee.sh          (RUNS=5, BUF=32768, MIB=1024 to change)
#
# Builds bench_tee (ninja) and the Go peer (go build, standard library only,
# offline) under $BUILD, then runs each contender RUNS times, interleaved, each
# run a fresh process over the same 1 GiB pattern, and prints the medians and
# their ratios to OpenSSL.  "plumb writer" is the hash writer fed straight
# from the buffer (no reader, no copy), to tell the interfaces' cost from the
# copy's.  Every run must produce the same digest.
#
# The goal: plumb's tee within 5% of plain SHA-256.  Exits non-zero only when
# a run fails or the digests differ, not when the goal is missed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD
RUNS=${RUNS:-5}
BUF=${BUF:-32768}
MIB=${MIB:-1024}

ninja -C "$BUILD" bench/bench_tee >/dev/null
bench_tee=$BUILD/bench/bench_tee
gobin=$BUILD/bench/go/tee
have_go=0
if command -v go >/dev/null; then
	mkdir -p "$BUILD/bench/go"
	GOCACHE=$BUILD/bench/go/cache GO111MODULE=off GOPROXY=off GOFLAGS='' \
		go build -o "$gobin" "$root/bench/go/tee/main.go"
	have_go=1
else
	echo "go not found: the Go peer is skipped" >&2
fi

declare -A rates digests
contenders=("openssl" "plumb" "writer")
[ $have_go = 0 ] || contenders+=("go")

# run_one NAME: one run; appends its GB/s to rates[NAME], keeps its digest.
run_one() {
	local name=$1 out
	if [ "$name" = go ]; then
		out=$("$gobin" -b "$BUF" -n "$MIB")
	else
		out=$("$bench_tee" "$name" -b "$BUF" -n "$MIB")
	fi
	rates[$name]+="$(awk '$3 == "GB/s" { print $2 }' <<<"$out") "
	local d
	d=$(awk '$2 == "sha256" { print $3 }' <<<"$out")
	[ -n "$d" ] || { echo "tee.sh: $name printed no digest" >&2; return 1; }
	digests[$d]=1
}

median() {
	tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for ((i = 0; i < RUNS; i++)); do
	# Rotate the order each round so no contender always goes first.
	for ((j = 0; j < ${#contenders[@]}; j++)); do
		run_one "${contenders[(i + j) % ${#contenders[@]}]}"
	done
done

if [ "${#digests[@]}" -ne 1 ]; then
	echo "tee.sh: the contenders computed different digests: ${!digests[*]}" >&2
	exit 1
fi

declare -A label=([openssl]="OpenSSL SHA-256 (one call)" [plumb]="plumb tee -> plumb_hash"
	[writer]="plumb_hash writer (no copy)" [go]="Go io.TeeReader -> sha256")
base=$(median "${rates[openssl]}")
printf '%d MiB, %d-byte reads, median of %d interleaved runs\n\n' "$MIB" "$BUF" "$RUNS"
printf '%-30s %10s %10s   %s\n' "contender" "GB/s" "vs OpenSSL" "runs (GB/s)"
for name in "${contenders[@]}"; do
	m=$(median "${rates[$name]}")
	printf '%-30s %10.3f %10.3f   %s\n' "${label[$name]}" "$m" \
		"$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')" "${rates[$name]}"
done
# The same ratio taken round by round (each plumb run against the OpenSSL run
# next to it), which a load that comes and goes disturbs less.
read -ra o_runs <<<"${rates[openssl]}"
read -ra p_runs <<<"${rates[plumb]}"
paired=""
for ((i = 0; i < RUNS; i++)); do
	paired+="$(awk -v a="${p_runs[i]}" -v b="${o_runs[i]}" 'BEGIN { printf "%.3f", a / b }') "
done
printf '\nplumb tee / OpenSSL, round by round: %s(median %s)\n' "$paired" "$(median "$paired")"
plumb=$(median "${rates[plumb]}")
if awk -v a="$plumb" -v b="$base" 'BEGIN { exit !(a >= 0.95 * b) }'; then
	verdict="met"
else
	verdict="NOT met"
fi
printf '\ngoal: plumb tee within 5%% of plain SHA-256 (ratio >= 0.95): %s\n' "$verdict"
