#!/usr/bin/env bash
# check.sh BUILD [meson test args...] - run the test suites of one build dir,
# then print the project's own summary line of every case.
set -uo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)

meson test -C "$build" --print-errorlogs "$@"
python3 "$here/summary.py" "$build"
