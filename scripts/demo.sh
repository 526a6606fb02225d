#!/usr/bin/env bash
# demo.sh BUILD - plumb's main job, shown: a generated SQLite database of a
# million realistic rows exported to NDJSON in a file (progress line and
# summary on the way), then the file's SHA-256 checked with `plumb hash`
# against the one the export computed while streaming.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
plumb=$build/src/plumb
work=$build/demo
mkdir -p "$work"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -s "$work/people.db" ]; then
	say "generating $work/people.db (1,000,000 rows, once)"
	rm -f "$work/people.db.tmp"
	sqlite3 "$work/people.db.tmp" <"$here/people.sql" >/dev/null
	mv "$work/people.db.tmp" "$work/people.db"
fi

say "plumb export $work/people.db --table people --to $work/people.ndjson"
"$plumb" export "$work/people.db" --table people --to "$work/people.ndjson" --force \
	--progress --summary-json "$work/summary.json"

say "the first rows"
head -n 3 "$work/people.ndjson"

say "plumb hash: the file against the summary"
streamed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' \
	"$work/summary.json")
echo "$streamed  $work/people.ndjson" | "$plumb" hash --check -
