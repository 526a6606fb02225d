#!/usr/bin/env bash
# services.sh start|stop DIR - the real servers the test suites talk to:
# PostgreSQL (with the fixtures loaded) and S3 (Ceph's radosgw), all living
# in DIR on 127.0.0.1.  `start` prints export lines for eval and leaves
# DIR/env with the same; `stop` stops whatever DIR holds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)/tests/services
cmd=${1:?usage: services.sh start|stop DIR}
dir=${2:?usage: services.sh start|stop DIR}

case "$cmd" in
start)
	mkdir -p "$dir/pg" "$dir/s3"
	dir=$(cd "$dir" && pwd)
	pg=$("$here/postgres.sh" start "$dir/pg")
	eval "$pg"
	"$here/postgres.sh" fixtures "$dir/pg" >/dev/null
	if ! s3=$("$here/s3.sh" start "$dir/s3"); then
		"$here/postgres.sh" stop "$dir/pg" >/dev/null 2>&1 || true
		exit 1
	fi
	printf '%s\n%s\n' "$pg" "$s3" | tee "$dir/env"
	;;
stop)
	[ -d "$dir/s3" ] && "$here/s3.sh" stop "$dir/s3" >/dev/null 2>&1 || true
	[ -d "$dir/pg" ] && "$here/postgres.sh" stop "$dir/pg" >/dev/null 2>&1 || true
	;;
*)
	echo "services.sh: unknown command '$cmd' (start, stop)" >&2
	exit 2
	;;
esac
