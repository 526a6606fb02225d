#!/usr/bin/env bash
#
# export_encode.sh - rows out of SQLite and PostgreSQL as NDJSON and CSV:
# plumb's sources and encoders against sqlite3 and psql, side by side.
#
# The table (both databases): id, name, email, amount (a float), created_at
# (SQLite: ISO text; PostgreSQL: timestamptz), ROWS rows, every 7th name
# holding quotes and every 11th a comma.  Each contender writes everything
# and the bytes go nowhere (plumb: a writer that counts; the peers:
# /dev/null).  Times are wall clock around the whole process, interleaved,
# RUNS times each; medians are printed with the ratio peer / plumb.
#
#   sqlite NDJSON  bench_export_encode      vs  sqlite3 -json
#   sqlite CSV     bench_export_encode      vs  sqlite3 -csv -header
#   pg NDJSON      bench_export_encode      vs  psql: COPY (SELECT row_to_json(t) ...)
#   pg CSV         bench_export_encode copy vs  psql: \copy t TO STDOUT csv header
#
# Goals (the issue's): SQLite NDJSON under 0.8 s for 1,000,000 rows and at
# least 2x sqlite3 -json; CSV at least 2x sqlite3 -csv; PostgreSQL NDJSON at
# least 2x the row_to_json COPY; PostgreSQL CSV within 10% of psql's \copy.
#
# PostgreSQL: the server of PLUMB_TEST_PG_URI, or one started here with
# tests/services/postgres.sh (and stopped at the end); without either the
# PostgreSQL rows are skipped.
#
# Environment: BUILD (default build), ROWS (1000000), RUNS (5).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BUILD=${BUILD:-build}
case $BUILD in
/*) build=$BUILD ;;
*) build=$root/$BUILD ;;
esac
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}

die() {
	echo "export_encode.sh: $*" >&2
	exit 1
}

command -v sqlite3 >/dev/null || die "sqlite3 is needed (apt-get install sqlite3)"
[ -d "$build" ] || die "no build directory $build (meson setup $BUILD)"
ninja -C "$build" bench/bench_export_encode >/dev/null || die "cannot build bench_export_encode"
bench=$build/bench/bench_export_encode
mkdir -p "$build/bench"

# ---- the data ----

db=$build/bench/export_encode.db
if [ ! -f "$db" ] || [ "$(sqlite3 "$db" 'SELECT count(*) FROM t' 2>/dev/null)" != "$ROWS" ]; then
	rm -f "$db"
	sqlite3 "$db" <<EOF
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, email TEXT, amount REAL, created_at TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $ROWS)
INSERT INTO t SELECT i,
  CASE WHEN i % 7 = 0 THEN 'O''Brien "Bob" ' || i WHEN i % 11 = 0 THEN 'Smith, ' || i
       ELSE 'Person ' || i END,
  'person' || i || '@example.com',
  ((i * 7919) % 1000000) / 100.0,
  strftime('%Y-%m-%dT%H:%M:%SZ', 1704067200 + i * 61, 'unixepoch')
FROM c;
EOF
fi

pgdir=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$pgdir" ]; then
		"$root/tests/services/postgres.sh" stop "$pgdir" 2>/dev/null || true
		rm -rf "$pgdir"
	fi
}
trap cleanup EXIT

pg=${PLUMB_TEST_PG_URI:-}
if [ -z "$pg" ] && command -v psql >/dev/null; then
	pgdir=$(mktemp -d /tmp/plumb-bench-pg.XXXXXX)
	if out=$("$root/tests/services/postgres.sh" start "$pgdir" 2>/dev/null); then
		eval "$out"
		pg=$PLUMB_TEST_PG_URI
	else
		echo "export_encode.sh: PostgreSQL did not start; its rows are skipped" >&2
	fi
fi
if [ -n "$pg" ]; then
	have=$(psql -X -At -d "$pg" -c "SELECT count(*) FROM bench_export" 2>/dev/null || true)
	if [ "$have" != "$ROWS" ]; then
		psql -X -q -v ON_ERROR_STOP=1 -d "$pg" >/dev/null <<EOF
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_export;
CREATE TABLE bench_export (id bigint PRIMARY KEY, name text, email text,
                           amount double precision, created_at timestamptz);
INSERT INTO bench_export SELECT i,
  CASE WHEN i % 7 = 0 THEN 'O''Brien "Bob" ' || i WHEN i % 11 = 0 THEN 'Smith, ' || i
       ELSE 'Person ' || i END,
  'person' || i || '@example.com', ((i * 7919) % 1000000) / 100.0,
  timestamptz '2024-01-01 00:00:00+00' + i * interval '61 seconds'
FROM generate_series(1::bigint, $ROWS) i;
VACUUM ANALYZE bench_export;
EOF
	fi
fi

# ---- measuring ----

results=$(mktemp)
trap 'rm -f "$results"; cleanup' EXIT

# timed KEY CMD... - wall seconds of CMD (output to /dev/null) into results.
timed() {
	local key=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$@" >/dev/null || die "failed: $*"
	t1=$(date +%s.%N)
	echo "$key $(echo "$t1 - $t0" | bc -l)" >>"$results"
}

median() {
	awk -v k="$1" '$1 == k { print $2 }' "$results" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for _ in $(seq "$RUNS"); do
	timed sq_nd_plumb "$bench" "$db" ndjson 'SELECT * FROM t'
	timed sq_nd_peer sqlite3 -json "$db" 'SELECT * FROM t'
	timed sq_csv_plumb "$bench" "$db" csv 'SELECT * FROM t'
	timed sq_csv_peer sqlite3 -csv -header "$db" 'SELECT * FROM t'
	if [ -n "$pg" ]; then
		timed pg_nd_plumb "$bench" "$pg" ndjson @bench_export
		timed pg_nd_peer psql -X -d "$pg" -c 'COPY (SELECT row_to_json(t) FROM bench_export t) TO STDOUT'
		timed pg_csv_plumb "$bench" "$pg" csv @bench_export copy
		timed pg_csv_peer psql -X -d "$pg" -c '\copy bench_export to stdout csv header'
	fi
done

status=0
printf '%-16s %10s %10s %8s   %s\n' "$ROWS rows" plumb peer ratio goal
row() {
	local name=$1 key=$2 goal=$3 p q ratio verdict
	p=$(median "${key}_plumb")
	q=$(median "${key}_peer")
	[ "$p" != nan ] || return 0
	ratio=$(echo "$q / $p" | bc -l)
	verdict=$(awk -v r="$ratio" -v p="$p" -v g="$goal" 'BEGIN {
		if (g == "2x") ok = r >= 2; else if (g == "2x,0.8s") ok = r >= 2 && p <= 0.8;
		else ok = r >= 1 / 1.1;
		print (ok ? "met" : "NOT met") }')
	[ "$verdict" = met ] || status=1
	printf '%-16s %9.3fs %9.3fs %7.2fx   %s: %s\n' "$name" "$p" "$q" "$ratio" "$goal" "$verdict"
}
row "sqlite ndjson" sq_nd "2x,0.8s"
row "sqlite csv" sq_csv 2x
row "pg ndjson" pg_nd 2x
row "pg csv (COPY)" pg_csv "within 10%"
[ $status -eq 0 ] || echo "export_encode.sh: some goals were not met on this run (noisy machine?)"
exit 0
