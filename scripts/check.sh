#!/usr/bin/env bash
# check.sh BUILD [meson test args...] - start the real servers the tests need
# (PostgreSQL, S3) unless they are already given in the environment, run the
# suites of one build dir, stop the servers, then print the project's own
# summary line of every case.
set -uo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${PLUMB_TEST_PG_URI:-}" ] || [ -z "${PLUMB_TEST_S3_ENDPOINT:-}" ]; then
	run=$(mktemp -d /tmp/plumb-services.XXXXXX)
	trap '"$here/services.sh" stop "$run"; rm -rf "$run"' EXIT
	if ! env=$("$here/services.sh" start "$run"); then
		echo "check.sh: the test servers did not start" >&2
		exit 1
	fi
	eval "$env"
fi

meson test -C "$build" --print-errorlogs "$@"
python3 "$here/summary.py" "$build"
