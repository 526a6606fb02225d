#!/usr/bin/env bash
# hash.sh - `plumb hash` against coreutils on a 1 GiB file in the page cache.
#
#   BUILD=build bench/hash.sh         (RUNS=5, MIB=1024 to change)
#
# Makes a random file under $BUILD/bench (kept for the next time), reads it
# into the page cache, checks that plumb and coreutils agree on its digests,
# then times, RUNS times and interleaved (the order rotating each round):
#   plumb hash -a sha256             against  sha256sum
#   plumb hash -a md5 -a sha1 -a sha256  against  md5sum; sha1sum; sha256sum
# and prints the medians, the ratios and whether the goals are met:
#   sha256 at least 4x sha256sum; the three at once faster than the three
#   coreutils commands one after another.
# The times are wall-clock; the CPU column (user + system, median) shows how
# much work each did, which is what to look at on a loaded machine.
# Needs GNU time (/usr/bin/time).  Exits non-zero only when a command fails,
# not when a goal is missed.
set -euo pipefail

BUILD=${BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD
RUNS=${RUNS:-5}
MIB=${MIB:-1024}

ninja -C "$BUILD" src/plumb >/dev/null
plumb=$BUILD/src/plumb
mkdir -p "$BUILD/bench"
file=$BUILD/bench/hash-$MIB.bin
if [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" -ne $((MIB << 20)) ]; then
	echo "making $file ($MIB MiB of random bytes)" >&2
	head -c $((MIB << 20)) /dev/urandom >"$file.tmp"
	mv "$file.tmp" "$file"
fi
cat "$file" >/dev/null
cat "$file" >/dev/null

# The digests first: a fast wrong answer is no answer.
want=$(md5sum "$file"; sha1sum "$file"; sha256sum "$file")
got=$("$plumb" hash -a md5 "$file"; "$plumb" hash -a sha1 "$file"; "$plumb" hash "$file")
if [ "$want" != "$got" ]; then
	printf 'hash.sh: plumb and coreutils disagree:\n%s\n--\n%s\n' "$want" "$got" >&2
	exit 1
fi

# The contenders, as command lines for bash -c: $1 is the file, $2 plumb.
names=(plumb1 sha256sum plumb3 coreutils3)
# shellcheck disable=SC2016 # expanded by bash -c, not here
declare -A cmd=(
	[plumb1]='"$2" hash -a sha256 "$1"'
	[sha256sum]='sha256sum "$1"'
	[plumb3]='"$2" hash -a md5 -a sha1 -a sha256 "$1"'
	[coreutils3]='md5sum "$1" && sha1sum "$1" && sha256sum "$1"'
)
declare -A label=(
	[plumb1]="plumb hash -a sha256"
	[sha256sum]="sha256sum"
	[plumb3]="plumb hash -a md5 -a sha1 -a sha256"
	[coreutils3]="md5sum; sha1sum; sha256sum"
)
declare -A times cpu
tfile=$(mktemp)
trap 'rm -f "$tfile"' EXIT

# time_one NAME: runs it once; appends the wall seconds to times[NAME] and
# the CPU seconds (user + system) to cpu[NAME], which tell how much of a slow
# run was other load on the machine.
time_one() {
	local name=$1 t0 t1 user sys
	t0=$(date +%s.%N)
	if ! /usr/bin/time -f '%U %S' -o "$tfile" \
		bash -c "${cmd[$name]}" _ "$file" "$plumb" >/dev/null; then
		echo "hash.sh: '${label[$name]}' failed" >&2
		return 1
	fi
	t1=$(date +%s.%N)
	read -r user sys <"$tfile"
	times[$name]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
	cpu[$name]+="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') "
}

median() {
	tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for ((i = 0; i < RUNS; i++)); do
	for ((j = 0; j < ${#names[@]}; j++)); do
		time_one "${names[(i + j) % ${#names[@]}]}"
	done
done

printf '%d MiB file in the page cache, median of %d interleaved runs, %s CPUs\n\n' \
	"$MIB" "$RUNS" "$(nproc)"
printf '%-38s %8s %8s   %s\n' "command" "median s" "CPU s" "runs (s)"
for name in "${names[@]}"; do
	printf '%-38s %8.3f %8.2f   %s\n' "${label[$name]}" "$(median "${times[$name]}")" \
		"$(median "${cpu[$name]}")" "${times[$name]}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
r1=$(ratio "$(median "${times[sha256sum]}")" "$(median "${times[plumb1]}")")
r3=$(ratio "$(median "${times[coreutils3]}")" "$(median "${times[plumb3]}")")
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r >= g) ? "met" : "NOT met" }'; }
printf '\nsha256: plumb is %sx sha256sum (goal >= 4x): %s\n' "$r1" "$(verdict "$r1" 4)"
printf 'md5+sha1+sha256: plumb is %sx the three coreutils runs (goal > 1x): %s\n' "$r3" \
	"$(verdict "$r3" 1.0001)"
