#!/usr/bin/env bash
# selftest.sh - check the test services of this directory end to end:
# start, use and stop each of them, as the tests of `plumb export` will.
#
#   tests/services/selftest.sh [pg] [sink] [s3]     (default: all three)
#
# Knobs: SELFTEST_SINK_BYTES (size of the chunked upload to the sink,
# default 1073741824 = 1 GiB).  Needs root or the services' packages
# installed (postgresql, ceph-mon ceph-osd radosgw ceph-common,
# python3-botocore, curl).  Prints one line per check, then
# "N passed, N failed"; exit status 1 if a check failed.
set -euo pipefail

SVC=selftest.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

passed=0
failed=0
check() {
	local name=$1
	shift
	if "$@" >>"$work/checks.log" 2>&1; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name (see $work/checks.log)"
	fi
}

work=$(mktemp -d /tmp/plumb-selftest.XXXXXX)
pids=()
pgdirs=()
s3dirs=()
cleanup() {
	local p d
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for d in "${s3dirs[@]}"; do "$here/s3.sh" stop "$d" >/dev/null 2>&1 || true; done
	for d in "${pgdirs[@]}"; do "$here/postgres.sh" stop "$d" >/dev/null 2>&1 || true; done
	if [ "$failed" -eq 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# wait_file F - wait up to 20 s for F to exist and be non-empty.
wait_file() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# no_daemons_in PATH - no Ceph daemon runs with a ceph.conf under PATH.
no_daemons_in() {
	! pgrep -f -- "^(ceph-mon|ceph-osd|radosgw) -c $1" >/dev/null
}

# ---------------------------------------------------------------- pg
test_pg() {
	local a=$work/pg1 b=$work/pg2 out
	mkdir -p "$a" "$b"
	pgdirs+=("$a" "$b")
	out=$("$here/postgres.sh" start "$a") && eval "$out"
	check "postgres: starts and prints PGPORT" test -n "${PGPORT:-}"
	check "postgres: loads pg-fixtures.sql" "$here/postgres.sh" fixtures "$a"
	check "postgres: people has 10000 rows" \
		test "$(psql -X -At -c 'select count(*) from people')" = 10000
	check "postgres: the URI works" \
		test "$(psql -X -At "${PLUMB_TEST_PG_URI:-}" -c 'select current_user')" = plumb
	out=$("$here/postgres.sh" start "$b")
	check "postgres: a second server in another DIR on another port" \
		test "$(eval "$out"; echo "$PGPORT")" != "$PGPORT"
	check "postgres: stop" "$here/postgres.sh" stop "$a"
	check "postgres: stopped" bash -c "! psql -X -At -c 'select 1'"
	out=$("$here/postgres.sh" start "$a") && eval "$out"
	check "postgres: start again keeps the data" \
		test "$(psql -X -At -c 'select count(*) from t_text')" = 40
	check "postgres: stop both" "$here/postgres.sh" stop "$a"
	check "postgres: stop the second" "$here/postgres.sh" stop "$b"
}

# ---------------------------------------------------------------- sink
test_sink() {
	local port bytes=${SELFTEST_SINK_BYTES:-1073741824} want got
	"$(svc_python)" "$here/httpsink.py" --port-file "$work/sink.port" >/dev/null 2>"$work/sink.log" &
	pids+=($!)
	check "httpsink: listens" wait_file "$work/sink.port"
	port=$(cat "$work/sink.port")
	want=$(head -c "$bytes" /dev/zero | sha256sum | cut -d' ' -f1)
	got=$(head -c "$bytes" /dev/zero |
		curl -sS -T - -H 'Transfer-Encoding: chunked' "http://127.0.0.1:$port/selftest" |
		"$(svc_python)" -c 'import json,sys; d=json.load(sys.stdin); print(d["sha256"], d["bytes"], d["chunked"])')
	check "httpsink: chunked upload of $bytes bytes, sha256 matches" test "$got" = "$want $bytes True"
	check "httpsink: /status/503 answers 503 and says why" bash -c \
		"curl -s -w '%{http_code}' --data-binary x http://127.0.0.1:$port/status/503 | grep -q 'sink: forced status 503' &&
		 test \"\$(curl -s -o /dev/null -w '%{http_code}' --data-binary x http://127.0.0.1:$port/status/503)\" = 503"
	check "httpsink: /drop closes the connection without an answer" bash -c \
		"! head -c 1000000 /dev/zero | curl -s -T - http://127.0.0.1:$port/drop?after=1000"
}

# ---------------------------------------------------------------- s3
test_s3() {
	local a=$work/s3a b=$work/s3b out ep pport res
	mkdir -p "$a" "$b"
	s3dirs+=("$a" "$b")
	out=$("$here/s3.sh" start "$a") && eval "$out"
	check "s3: starts and prints the endpoint" test -n "${PLUMB_TEST_S3_ENDPOINT:-}"
	ep=$PLUMB_TEST_S3_ENDPOINT
	check "s3: the bucket plumb-test exists" "$here/s3check.py" ls plumb-test
	check "s3: the server checks what the export relies on (s3check.py probe)" "$here/s3check.py" probe
	out=$("$here/s3.sh" start "$b")
	check "s3: a second cluster in another DIR (own fsid and ports)" bash -c \
		"test \"\$(grep '^fsid' $a/ceph.conf)\" != \"\$(grep '^fsid' $b/ceph.conf)\" &&
		 test \"\$(cat $a/rgw.port)\" != \"\$(cat $b/rgw.port)\""

	"$(svc_python)" "$here/faultproxy.py" --upstream "$ep" --port-file "$work/proxy.port" \
		--fault kind=UploadPart,nth=2,action=error --fault kind=UploadPart,nth=4,action=drop \
		>/dev/null 2>"$work/proxy.log" &
	pids+=($!)
	check "faultproxy: listens" wait_file "$work/proxy.port"
	pport=$(cat "$work/proxy.port")
	res=$(PLUMB_TEST_S3_ENDPOINT=http://127.0.0.1:$pport "$here/s3check.py" mpupload plumb-test selftest/mp 3 5242880 || true)
	echo "mpupload through the proxy: $res" >>"$work/checks.log"
	check "faultproxy: a multipart upload survives an injected 500 and a dropped part" \
		"$(svc_python)" -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(not (d['ok'] and
			d['attempts'] == [[1,'ok'],[2,'500 InternalError'],[2,'ok'],[3,'ConnectionClosedError'],[3,'ok']]))" "$res"
	check "faultproxy: /__stats counts 5 UploadPart, 2 faulted" bash -c \
		"curl -s http://127.0.0.1:$pport/__stats | $(svc_python) -c 'import json,sys; k=json.load(sys.stdin)[\"kinds\"][\"UploadPart\"]; sys.exit(not (k[\"seen\"]==5 and k[\"faulted\"]==2))'"
	check "s3: no upload left in progress" test "$("$here/s3check.py" uploads plumb-test)" = "[]"

	check "s3: stop" "$here/s3.sh" stop "$a"
	check "s3: no daemon left after stop" no_daemons_in "$a"
	check "s3: start again in the same DIR" bash -c "$here/s3.sh start $a >/dev/null"
	check "s3: stop both" "$here/s3.sh" stop "$a"
	check "s3: stop the second" "$here/s3.sh" stop "$b"
	check "s3: no daemon left at all" no_daemons_in "$work/"
}

[ $# -gt 0 ] || set -- pg sink s3
for t in "$@"; do
	case $t in
	pg) test_pg ;;
	sink) test_sink ;;
	s3) test_s3 ;;
	*)
		echo "usage: $SVC [pg] [sink] [s3]" >&2
		exit 2
		;;
	esac
done
echo "services: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
