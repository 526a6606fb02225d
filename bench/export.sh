#!/usr/bin/env bash
# export.sh - `plumb export` against the tools people use for the same job,
# side by side in one run (bench/race.py: interleaved runs, medians, ratios).
#
#   SQLite -> NDJSON and CSV to /dev/null   vs sqlite3 -json / -csv
#   the same export to an HTTP endpoint     vs to /dev/null
#   the SHA-256 on the way                  vs --no-checksum
#   PostgreSQL -> CSV and NDJSON            vs psql's COPY
#   ~1 GiB into S3 (a local radosgw)        vs sqlite3 -json | aws s3 cp -
#   peak memory for 1M and 10M rows
#
# Environment: BUILD (default build), RUNS (default 5), ROWS (default
# 1000000), BIG (rows of the memory check, default 10000000; 0 skips it),
# S3 (0 skips the S3 race; it needs Debian's awscli), S3ROWS (8500000).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BUILD=${BUILD:-build}
case $BUILD in /*) build=$BUILD ;; *) build=$root/$BUILD ;; esac
ROWS=${ROWS:-1000000}
BIG=${BIG:-10000000}
export RUNS=${RUNS:-5}
plumb=$build/src/plumb
race=$here/race.py
work=$build/bench/export
mkdir -p "$work"

people() { # people DB ROWS: the demo's table with ROWS rows, made once
	[ -s "$1" ] && return
	echo "  (generating $1: $2 rows)"
	{ echo "CREATE TEMP TABLE want(n); INSERT INTO want VALUES ($2);"; cat "$root/scripts/people.sql"; } |
		sqlite3 "$1.tmp" >/dev/null
	mv "$1.tmp" "$1"
}

db=$work/people-$ROWS.db
people "$db" "$ROWS"
sel="select * from people"

python3 "$race" --title "SQLite -> NDJSON, $ROWS rows, to /dev/null (goal: >= 2x sqlite3 -json, <= 0.8 s)" \
	"plumb export=$plumb export $db --table people -q" \
	"sqlite3 -json=sqlite3 -json $db '$sel'"
python3 "$race" --title "SQLite -> CSV, $ROWS rows, to /dev/null (goal: >= 2x sqlite3 -csv)" \
	"plumb export -f csv=$plumb export $db --table people -f csv -q" \
	"sqlite3 -csv=sqlite3 -csv -header $db '$sel'"

python3 "$race" --title "the tee'd SHA-256: the same export with and without it (goal: <= 10% more time)" \
	"with SHA-256=$plumb export $db --table people -q" \
	"--no-checksum=$plumb export $db --table people -q --no-checksum"

# HTTP: a sink on loopback that reads and drops the body
port_file=$work/sink.port
rm -f "$port_file"
python3 "$root/tests/services/httpsink.py" --port-file "$port_file" >/dev/null &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$port_file")/discard"
python3 "$race" --title "SQLite -> NDJSON to HTTP (chunked POST) vs to /dev/null (goal: within 15%)" \
	"to /dev/null=$plumb export $db --table people -q" \
	"to HTTP=$plumb export $db --table people -q --to $url"

# PostgreSQL: a throwaway server with the same table
pgdir=$(mktemp -d /tmp/plumb-bench-pg.XXXXXX)
if out=$("$root/tests/services/postgres.sh" start "$pgdir"); then
	eval "$out"
	trap 'kill $sink 2>/dev/null || true; "$root/tests/services/postgres.sh" stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$pgdir"' EXIT
	psql -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP TABLE IF EXISTS people;
CREATE TABLE people(id bigint PRIMARY KEY, name text NOT NULL, email text,
                    amount numeric(12,2) NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO people
SELECT i, (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Margaret','Ken'])[1 + i % 8]
          || ' ' || (ARRAY['Lovelace','O''Brien','Allen, Jr.','"The Hoare"','Knuth','Wirth'])[1 + i % 6],
       CASE WHEN i % 50 = 0 THEN NULL ELSE 'user' || i || '@example.com' END,
       ((i * 7919) % 1000000) / 100.0,
       timestamptz '2020-09-13 12:26:40+00' + i * interval '37 seconds'
FROM generate_series(1::bigint, $ROWS) AS i;
VACUUM ANALYZE people;
SQL
	python3 "$race" --title "PostgreSQL -> CSV, $ROWS rows (goal: within 10% of psql \\copy)" \
		"plumb export -f csv=$plumb export postgres: --table people -f csv -q" \
		"psql \\copy csv=psql -c '\\copy people to stdout csv header'"
	python3 "$race" --title "PostgreSQL -> NDJSON, $ROWS rows (goal: >= 2x psql copy row_to_json)" \
		"plumb export=$plumb export postgres: --table people -q" \
		"psql copy row_to_json=psql -c 'copy (select row_to_json(t) from people t) to stdout'"
else
	echo "  PostgreSQL did not start: its benchmarks are skipped"
fi

# peak_memory CMD...: runs CMD once, sampling /proc/PID/smaps_rollup every
# 20 ms; prints the peak RSS and, at that moment, how much of it was the
# process's own anonymous memory and how much pages of files (the shared
# libraries' code and data, which every process using them shares).
peak_memory() {
	python3 - "$@" <<-'EOF'
		import subprocess, sys, time
		p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
		best = {}
		while p.poll() is None:
		    try:
		        with open(f"/proc/{p.pid}/smaps_rollup") as f:
		            m = {l.split()[0].rstrip(":"): int(l.split()[1]) for l in f if l.split()[-1] == "kB"}
		    except OSError:
		        break
		    if m.get("Rss", 0) > best.get("Rss", 0):
		        best = m
		    time.sleep(0.02)
		if p.wait() != 0 or not best:
		    sys.exit("peak_memory: the command failed")
		mib = lambda k: best.get(k, 0) / 1024
		print(f"    sampled peak RSS {mib('Rss'):.1f} MiB: anonymous (its own) {mib('Anonymous'):.1f} MiB,"
		      f" file pages (shared libraries) {mib('Rss') - mib('Anonymous'):.1f} MiB")
	EOF
}

# S3: 1 GiB of NDJSON into a local radosgw, against sqlite3 -json | aws s3 cp -
if [ "${S3:-1}" = 1 ] && [ -x /usr/bin/aws ]; then
	s3dir=$(mktemp -d /tmp/plumb-bench-s3.XXXXXX)
	# Each run overwrites a 1 GiB object, and radosgw frees the old one's
	# data only when its garbage collector gets to it (after 2 hours by
	# default): the memory store would fill up.  Collect at once instead.
	if [ -z "${PLUMB_S3_EXTRA_CONF:-}" ]; then
		printf '%s\n' '[client.rgw.a]' 'rgw gc obj min wait = 1' 'rgw gc processor period = 5' \
			>"$s3dir.conf"
		export PLUMB_S3_EXTRA_CONF=$s3dir.conf
	fi
	if out=$("$root/tests/services/s3.sh" start "$s3dir"); then
		eval "$out"
		s3rows=${S3ROWS:-8500000}
		s3db=$work/people-$s3rows.db
		people "$s3db" "$s3rows"
		ep=$PLUMB_TEST_S3_ENDPOINT
		b=$PLUMB_TEST_S3_BUCKET
		RUNS=${S3RUNS:-3} python3 "$race" --title "SQLite -> NDJSON -> S3 multipart, $s3rows rows (~1 GiB) (goal: >= 1.4x aws, <= 1/3 of its memory)" \
			"plumb export=$plumb export $s3db --table people -q --to s3://$b/bench-plumb --endpoint $ep" \
			"sqlite3 -json | aws s3 cp -=sqlite3 -json $s3db '$sel' | /usr/bin/aws --endpoint-url $ep s3 cp - s3://$b/bench-aws"
		echo "  where plumb's memory goes in that export (cap: 8 MiB + 5 part buffers of 8 MiB = 48 MiB):"
		peak_memory "$plumb" export "$s3db" --table people -q --to "s3://$b/bench-plumb" --endpoint "$ep"
		"$root/tests/services/s3.sh" stop "$s3dir" >/dev/null 2>&1 || true
	else
		echo "  the S3 server did not start: the S3 benchmark is skipped"
	fi
	rm -rf "$s3dir" "$s3dir.conf"
fi

# Memory: the same for 1M and 10M rows
if [ "$BIG" -gt 0 ]; then
	big=$work/people-$BIG.db
	people "$big" "$BIG"
	RUNS=1 python3 "$race" --title "peak memory, $ROWS vs $BIG rows to /dev/null (goal: <= 16 MiB, equal within 2 MiB)" \
		"$ROWS rows=$plumb export $db --table people -q" \
		"$BIG rows=$plumb export $big --table people -q"
fi
