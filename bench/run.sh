#!/usr/bin/env bash
# run.sh - every benchmark, each side by side with its peer, ratios printed.
#
#   BUILD=build bench/run.sh [NAME...]     (names: pipe tee hash export loop batch memtrace; default all)
#
# Each bench/NAME.sh builds what its peer needs under $BUILD/bench and prints
# its own table.  The machines are noisy: the scripts interleave runs and
# report medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export BUILD=${BUILD:-build}
[ $# -gt 0 ] || set -- pipe tee hash export loop batch memtrace
status=0
for name in "$@"; do
	printf '\n### %s  (%s, %s, %s cores)\n' "$name" "$(date -u +%Y-%m-%d)" "$(uname -m)" "$(nproc)"
	"$here/$name.sh" || status=1
done
exit $status
