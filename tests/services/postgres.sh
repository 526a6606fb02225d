#!/usr/bin/env bash
# postgres.sh - a throwaway PostgreSQL server on 127.0.0.1 for plumb's tests.
#
#   postgres.sh start DIR      initdb into DIR/pgdata, start the server on a
#                              free port, create role and database `plumb`;
#                              print `export` lines on stdout
#   postgres.sh env DIR        print the same export lines for a running server
#   postgres.sh fixtures DIR [FILE]
#                              load FILE (default: pg-fixtures.sql beside this
#                              script) into database plumb
#   postgres.sh stop DIR       stop the server (fast shutdown); DIR is kept
#
# Typical use:
#   dir=$(mktemp -d)
#   out=$(tests/services/postgres.sh start "$dir") && eval "$out"
#   tests/services/postgres.sh fixtures "$dir"
#   psql -c 'select 1'      # PGHOST/PGPORT/PGUSER/PGDATABASE are set
#   tests/services/postgres.sh stop "$dir"; rm -rf "$dir"
#
# Everything lives in DIR: the cluster (DIR/pgdata), the log
# (DIR/postgres.log) and the unix socket (DIR/.s.PGSQL.PORT).  Nothing is
# written to /etc or /var.  PostgreSQL refuses to run as root, so when run
# as root the server runs as the `postgres` system user of Debian's package
# (override with PLUMB_PG_OSUSER) and DIR is chowned to it.  That user must
# get through DIR's parents: those under $TMPDIR (or /tmp) that are closed
# to others, as mktemp -d makes them, get o+x (pass through, not list).
#
# Settings are for speed, not safety: fsync, synchronous_commit and
# full_page_writes are off.  Authentication is trust, TCP only on
# 127.0.0.1.  The session time zone is UTC, the encoding UTF8, locale C.
#
# `start` on a DIR whose server was stopped starts that cluster again (no
# initdb, data kept), on its old port if that is still free.
#
# Environment knobs: PLUMB_PG_BIN (directory of initdb/pg_ctl/psql, default
# the newest /usr/lib/postgresql/*/bin), PLUMB_PG_OSUSER, PLUMB_PG_PORT (try
# this port first), PLUMB_PG_TIMEOUT (seconds to wait for start-up,
# default 60).
set -euo pipefail

SVC=postgres.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

usage() {
	echo "usage: $SVC start|stop|env DIR | $SVC fixtures DIR [FILE]" >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
[ -d "$dir" ] || svc_die "$dir is not a directory (the caller makes it, e.g. with mktemp -d)"
dir=$(svc_abs "$dir")
data=$dir/pgdata
log=$dir/postgres.log
timeout=${PLUMB_PG_TIMEOUT:-60}
role=plumb
db=plumb

find_bin() {
	local d
	if [ -n "${PLUMB_PG_BIN:-}" ]; then
		[ -x "$PLUMB_PG_BIN/pg_ctl" ] || svc_die "PLUMB_PG_BIN=$PLUMB_PG_BIN has no pg_ctl"
		echo "$PLUMB_PG_BIN"
		return
	fi
	# Debian installs the server binaries outside PATH, one directory per
	# major version; take the newest.
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
		sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/pg_ctl" ]; then
		echo "$d"
		return
	fi
	if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
		pg_config --bindir
		return
	fi
	svc_die "PostgreSQL server binaries not found: apt-get install postgresql (or set PLUMB_PG_BIN)"
}
bin=$(find_bin)

# as_owner CMD... - run CMD as the user that owns the cluster, from DIR so
# that a working directory the user can't read does not matter.
osuser=
if [ "$(id -u)" -eq 0 ]; then
	osuser=${PLUMB_PG_OSUSER:-postgres}
	id "$osuser" >/dev/null 2>&1 ||
		svc_die "running as root needs a non-root user to run the server: user '$osuser' does not exist (apt-get install postgresql creates 'postgres', or set PLUMB_PG_OSUSER)"
fi
as_owner() {
	if [ -n "$osuser" ]; then
		(cd "$dir" && runuser -u "$osuser" -- env -u PGDATA -u PGHOST -u PGPORT "$@")
	else
		(cd "$dir" && env -u PGDATA -u PGHOST -u PGPORT "$@")
	fi
}

# The port of the running server: line 4 of postmaster.pid.
running_port() {
	[ -f "$data/postmaster.pid" ] || return 1
	sed -n 4p "$data/postmaster.pid"
}

print_env() {
	local port=$1
	cat <<EOF
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=$role
export PGDATABASE=$db
export PLUMB_TEST_PG_URI=postgresql://$role@127.0.0.1:$port/$db
export PLUMB_TEST_PG_DIR=$dir
EOF
}

psql_cmd() {
	local port=$1
	shift
	# -X: no ~/.psqlrc; connect through the socket in DIR as the bootstrap
	# superuser (named after the OS user).
	as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" "$@"
}

# open_parents - the server runs as $osuser and must pass through DIR's
# parents.  A parent under the temporary directory that is closed to others
# (mktemp -d makes them 0700) gets o+x: others may pass through it, still not
# list it.  Parents elsewhere are left alone.
open_parents() {
	local tmp p
	tmp=$(cd "${TMPDIR:-/tmp}" 2>/dev/null && pwd -P) || tmp=/tmp
	p=$(dirname "$dir")
	while [ "$p" != / ] && [ "${p#"$tmp"/}" != "$p" ]; do
		if ! runuser -u "$osuser" -- test -x "$p" 2>/dev/null; then
			svc_say "letting $osuser through $p (chmod o+x)"
			chmod o+x "$p"
		fi
		p=$(dirname "$p")
	done
}

do_start() {
	local port attempt rc superuser logsize fresh=1 t0=$SECONDS
	# Interrupted half-way: leave no server behind.
	trap 'as_owner "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1; exit 130' INT TERM HUP
	if [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		svc_die "a server already runs from $data (stop it first: $SVC stop $dir)"
	fi
	if [ -f "$data/PG_VERSION" ]; then
		# A cluster made by an earlier start: start it again, on its
		# old port when that is still free.
		fresh=0
	elif [ -e "$data" ]; then
		svc_die "$data exists but holds no cluster: give an empty directory"
	fi
	if [ -n "$osuser" ]; then
		chown "$osuser:" "$dir"
		chmod 700 "$dir"
		open_parents
		runuser -u "$osuser" -- test -w "$dir" -a -x "$dir" ||
			svc_die "user $osuser cannot reach $dir: a parent directory is closed to it (chmod o+x it, or use a directory under /tmp)"
	fi
	superuser=${osuser:-$(id -un)}

	if [ $fresh -eq 1 ]; then
		if ! as_owner "$bin/initdb" -D "$data" -U "$superuser" --auth=trust --encoding=UTF8 \
			--locale=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
			svc_tail "$dir/initdb.log"
			svc_die "initdb failed (log: $dir/initdb.log)"
		fi
		cat >>"$data/postgresql.conf" <<EOF

# ---- added by tests/services/postgres.sh: a fast, throwaway test server ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
unix_socket_permissions = 0770
max_connections = 50
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
checkpoint_timeout = 1h
max_wal_size = 1GB
autovacuum = off
timezone = 'UTC'
log_timezone = 'UTC'
datestyle = 'iso, ymd'
intervalstyle = 'postgres'
extra_float_digits = 1
lc_messages = 'C'
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] '
include_if_exists = 'plumb-port.conf'
EOF
	fi

	port=${PLUMB_PG_PORT:-}
	if [ -z "$port" ] && [ $fresh -eq 0 ] && [ -f "$data/plumb-port.conf" ]; then
		port=$(sed -n 's/^port = //p' "$data/plumb-port.conf")
		if [ -n "$port" ] && svc_port_busy "$port"; then port=; fi
	fi
	for attempt in 1 2 3 4 5; do
		[ -n "$port" ] || port=$(svc_free_port)
		echo "port = $port" >"$data/plumb-port.conf"
		[ -z "$osuser" ] || chown "$osuser:" "$data/plumb-port.conf"
		rc=0
		logsize=$(stat -c %s "$log" 2>/dev/null || echo 0)
		as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t "$timeout" start >"$dir/pg_ctl.log" 2>&1 || rc=$?
		if [ "$rc" -eq 0 ]; then
			break
		fi
		if tail -c +$((logsize + 1)) "$log" 2>/dev/null | grep -q -e 'could not bind' -e 'Address already in use'; then
			svc_say "port $port was taken meanwhile (attempt $attempt); trying another"
			as_owner "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
			port=
			continue
		fi
		svc_tail "$dir/pg_ctl.log" "$log"
		as_owner "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
		svc_die "the server did not start within ${timeout}s (log: $log)"
	done
	[ "$rc" -eq 0 ] || svc_die "no free port could be bound after $attempt attempts (log: $log)"

	if [ $fresh -eq 1 ] && ! psql_cmd "$port" -d postgres -U "$superuser" >"$dir/setup.log" 2>&1 <<EOF; then
CREATE ROLE $role LOGIN SUPERUSER;
CREATE DATABASE $db OWNER $role;
EOF
		svc_tail "$dir/setup.log" "$log"
		as_owner "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
		svc_die "could not create role and database $db"
	fi
	trap - INT TERM HUP
	svc_say "PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') up on 127.0.0.1:$port in $((SECONDS - t0))s (data: $data, log: $log)"
	print_env "$port"
}

do_stop() {
	local rc=0 out
	if [ ! -f "$data/postmaster.pid" ]; then
		svc_say "no server runs from $data"
		return 0
	fi
	out=$(as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t "$timeout" stop 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		# pg_ctl says 'Is server running?' when the pid file is stale.
		if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
			return 0
		fi
		echo "$out" >&2
		svc_say "fast stop failed; trying immediate"
		as_owner "$bin/pg_ctl" -D "$data" -m immediate -w -t "$timeout" stop >&2 ||
			svc_die "could not stop the server of $data"
	fi
}

case $cmd in
start) do_start ;;
stop) do_stop ;;
env)
	port=$(running_port) || svc_die "no server runs from $data"
	print_env "$port"
	;;
fixtures)
	file=${3:-$here/pg-fixtures.sql}
	[ -r "$file" ] || svc_die "cannot read $file"
	port=$(running_port) || svc_die "no server runs from $data"
	# psql runs as the cluster's OS user, which may not be able to read
	# FILE where it is: feed it on stdin.
	if ! psql_cmd "$port" -U "$role" -d "$db" -1 -f - <"$file" >"$dir/fixtures.log" 2>&1; then
		svc_tail "$dir/fixtures.log"
		svc_die "loading $file failed (log: $dir/fixtures.log)"
	fi
	svc_say "loaded $(basename "$file") into $db"
	;;
*) usage ;;
esac
