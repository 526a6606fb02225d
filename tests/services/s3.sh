#!/usr/bin/env bash
# s3.sh - a real S3 server for plumb's tests: Ceph's radosgw on a throwaway
# one-node Ceph cluster (one monitor, one OSD keeping its objects in memory),
# all on 127.0.0.1.
#
#   s3.sh start DIR    make the cluster in DIR, start it, create the S3 user
#                      and bucket plumb-test; print `export` lines on stdout.
#                      A DIR whose cluster was stopped is wiped and reused
#                      (memstore's objects do not outlive the OSD anyway)
#   s3.sh env DIR      print the export lines again (server running)
#   s3.sh stop DIR     stop radosgw, then the OSD, then the monitor; wait for
#                      each to be gone.  DIR is kept (the caller removes it)
#   s3.sh status DIR   say which daemons run; exit 1 if not all three
#
# Typical use:
#   dir=$(mktemp -d)
#   out=$(tests/services/s3.sh start "$dir") && eval "$out"
#   tests/services/s3check.py ls plumb-test
#   tests/services/s3.sh stop "$dir"; rm -rf "$dir"
#
# Printed: PLUMB_TEST_S3_ENDPOINT (http://127.0.0.1:PORT, path-style),
# PLUMB_TEST_S3_BUCKET (plumb-test), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_DEFAULT_REGION (us-east-1; radosgw accepts any region in a SigV4
# scope), AWS_EC2_METADATA_DISABLED=true, PLUMB_TEST_S3_DIR.
#
# Needs Debian's packages ceph-mon ceph-osd radosgw ceph-common (and
# python3 with botocore for the bucket: python3-botocore).  When a command is
# missing and we run as root, they are installed with apt-get.
#
# Everything lives in DIR: ceph.conf, keyring, monitor and OSD data, logs
# (DIR/log), pid files and admin sockets (DIR/run).  Every command gets -c
# DIR/ceph.conf; nothing is read from or written to /etc/ceph, /var/lib/ceph
# or /var/log/ceph.  Each start makes a new fsid and picks free ports (the
# OSD takes free ones in 6800-7300 by itself), so several clusters can run
# side by side in different DIRs.  The OSD's objectstore is memstore:
# objects live in RAM only (the OSD takes about 2.5 times the bytes stored:
# delete big test objects when done) up to PLUMB_S3_MEMSTORE_MB (default
# 8192); they are gone when the OSD stops.
#
# Knobs: PLUMB_S3_TIMEOUT (seconds for each daemon to come up, default 60),
# PLUMB_S3_PORT (the S3 port; default: one the kernel picks),
# PLUMB_S3_MON_PORT (try this monitor port first),
# PLUMB_S3_VERBOSE=1 (time each step of start-up), PLUMB_S3_MEMSTORE_MB,
# PLUMB_S3_EXTRA_CONF (a file appended to ceph.conf, e.g. to set
# `rgw multipart min part size` under [client.rgw.a]).
set -euo pipefail

SVC=s3.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

ACCESS_KEY=PLUMBTESTACCESSKEY00
SECRET_KEY=plumbTestSecretKey0000000000000000000000
BUCKET=plumb-test
REGION=us-east-1
RGW_NAME=client.rgw.a

usage() {
	echo "usage: $SVC start|stop|env|status DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
[ -d "$dir" ] || svc_die "$dir is not a directory (the caller makes it, e.g. with mktemp -d)"
dir=$(svc_abs "$dir")
conf=$dir/ceph.conf
timeout=${PLUMB_S3_TIMEOUT:-60}

# Ceph commands, always with our conf (which also sends their own logs to
# DIR/log/client.admin.log).
ceph_() { timeout 30 ceph -c "$conf" --connect-timeout 10 "$@"; }

need_packages() {
	local missing=() c p
	for c in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:ceph-common \
		ceph:ceph-common ceph-authtool:ceph-common monmaptool:ceph-base; do
		command -v "${c%%:*}" >/dev/null 2>&1 || missing+=("${c#*:}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if [ "$(id -u)" -ne 0 ]; then
		svc_die "missing commands: install the Debian packages ${missing[*]} (apt-get install ceph-mon ceph-osd radosgw ceph-common)"
	fi
	svc_say "installing ${missing[*]} with apt-get"
	p=(ceph-mon ceph-osd radosgw ceph-common)
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${p[@]}" >"$dir/apt.log" 2>&1; then
		apt-get update -q >>"$dir/apt.log" 2>&1 || true
		apt-get install -y -q --no-install-recommends "${p[@]}" >>"$dir/apt.log" 2>&1 || {
			svc_tail "$dir/apt.log"
			svc_die "apt-get install ${p[*]} failed (log: $dir/apt.log)"
		}
	fi
}

# pid_of NAME - the pid in DIR/run/NAME.pid if that process still runs the
# expected program (guards against a stale pid file and a reused pid).
pid_of() {
	local name=$1 pid prog cmdline
	case $name in
	mon.a) prog=ceph-mon ;;
	osd.0) prog=ceph-osd ;;
	*) prog=radosgw ;;
	esac
	[ -s "$dir/run/$name.pid" ] || return 1
	pid=$(tr -dc 0-9 <"$dir/run/$name.pid")
	svc_alive "$pid" || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmdline == "$prog "*"-c $conf "* ]] || return 1
	echo "$pid"
}

print_env() {
	local port
	port=$(cat "$dir/rgw.port")
	cat <<EOF
export PLUMB_TEST_S3_ENDPOINT=http://127.0.0.1:$port
export PLUMB_TEST_S3_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_DEFAULT_REGION=$REGION
export AWS_EC2_METADATA_DISABLED=true
export PLUMB_TEST_S3_DIR=$dir
EOF
}

write_conf() {
	local fsid=$1 monport=$2 rgwport=$3
	cat >"$conf" <<EOF
# Made by tests/services/s3.sh: a throwaway one-node cluster for tests.
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$monport
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
# No cephx: nothing here is secret, and no keys to hand around.
auth cluster required = none
auth service required = none
auth client required = none
# Every path in DIR.
run dir = $dir/run
keyring = $dir/keyring
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = true
crash dir = $dir/crash
mon cluster log file = $dir/log/cluster.log
mon cluster log to file = true
admin socket =
# One OSD: pools of size 1 with few PGs, placed without regard to hosts.
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
# Decide faster than the 1 s default: start-up takes 13 s without this.
paxos propose interval = 0.1
# A taken port: give up quickly (start-up then picks another).
ms bind retry count = 1
ms bind retry delay = 1
debug ms = 0

[mon]
mon data = $dir/mon
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid

[osd]
osd data = $dir/osd
osd objectstore = memstore
memstore device bytes = $((${PLUMB_S3_MEMSTORE_MB:-8192} * 1024 * 1024))
osd crush initial weight = 1
osd crush update on start = true
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid

[client]
# Without this radosgw keeps failing to authenticate to the monitor.
ms mon client mode = crc

[$RGW_NAME]
rgw frontends = beast endpoint=127.0.0.1:$rgwport
rgw data = $dir/rgw
pid file = $dir/run/\$name.pid
rgw thread pool size = 64
rgw enable usage log = false
rgw enable ops log = false
rgw dns name =
debug rgw = 1
EOF
	if [ -n "${PLUMB_S3_EXTRA_CONF:-}" ]; then
		{
			echo
			echo "# ---- from $PLUMB_S3_EXTRA_CONF ----"
			cat "$PLUMB_S3_EXTRA_CONF"
		} >>"$conf"
	fi
}

# fail_start MESSAGE LOG... - report, show the logs, stop what runs, exit 1.
fail_start() {
	local msg=$1
	shift
	svc_tail "$@"
	do_stop >/dev/null 2>&1 || true
	svc_die "$msg (logs: $dir/log)"
}

# wait_until SECONDS NAME CMD... - run CMD every 0.2 s until it succeeds
# (return 0).  Gives up early when daemon NAME has died (return 3) or its
# log or output (DIR/log/NAME.log, .out) says its address is in use
# (return 2); 1 after SECONDS.
wait_until() {
	local secs=$1 name=$2 end nopid=0
	shift 2
	end=$((SECONDS + secs))
	while ! "$@" >/dev/null 2>&1; do
		if bind_failed "$name"; then
			return 2
		fi
		if ! pid_of "$name" >/dev/null; then
			# The pid file is written just after the daemon forks.
			nopid=$((nopid + 1))
			[ $nopid -lt 25 ] || return 3
		fi
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

bind_failed() {
	grep -q -i -e 'address already in use' -e 'failed to bind' -e 'unable to bind' \
		"$dir/log/$1.log" "$dir/log/$1.out" 2>/dev/null
}

# set_aside NAME N - move NAME's log and output aside after failed attempt N.
set_aside() {
	local f
	for f in "$dir/log/$1.log" "$dir/log/$1.out"; do
		[ ! -e "$f" ] || mv "$f" "$f.$2"
	done
}

osd_up() {
	local n
	n=$(ceph_ osd stat -f json 2>/dev/null | "$(svc_python)" -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])') || return 1
	[ "$n" = 1 ]
}

# rgw_listening - true once radosgw listens; writes its port to DIR/rgw.port.
rgw_listening() {
	local pid port
	pid=$(pid_of "$RGW_NAME") || return 1
	port=$(svc_listen_port "$pid" | head -n 1) || return 1
	[ -n "$port" ] || return 1
	echo "$port" >"$dir/rgw.port"
}

s3_answers() {
	local port body
	port=$(cat "$dir/rgw.port")
	body=$(curl -s -m 5 "http://127.0.0.1:$port/" 2>/dev/null) || return 1
	case $body in *ListAllMyBucketsResult* | *"<Error>"*) return 0 ;; esac
	return 1
}

# now_ms - milliseconds since the epoch.
now_ms() {
	local t=${EPOCHREALTIME/,/.}
	echo $((${t%.*} * 1000 + 10#${t#*.} / 1000))
}

# phase WHAT - with PLUMB_S3_VERBOSE=1, say how long start-up has taken.
phase() {
	[ -n "${PLUMB_S3_VERBOSE:-}" ] || return 0
	local ms=$(($(now_ms) - start_ms))
	svc_say "$(printf '%d.%03ds' $((ms / 1000)) $((ms % 1000))) $*"
}

do_start() {
	local fsid monport rgwport attempt pid log rc
	start_ms=$(now_ms)
	# Interrupted half-way: leave no daemon behind.
	trap 'do_stop >/dev/null 2>&1; exit 130' INT TERM HUP
	need_packages
	command -v curl >/dev/null 2>&1 || svc_die "curl is needed (apt-get install curl)"
	if [ -f "$conf" ]; then
		if pid_of mon.a >/dev/null || pid_of osd.0 >/dev/null || pid_of "$RGW_NAME" >/dev/null; then
			svc_die "a cluster already runs from $dir (stop it first: $SVC stop $dir)"
		fi
		# A stopped cluster of ours: its objects died with the OSD, so
		# start afresh in the same place.
		head -n 1 "$conf" | grep -q 'tests/services/s3.sh' ||
			svc_die "$conf was not made by $SVC: give an empty directory"
		rm -rf "$conf" "$dir/keyring" "$dir/monmap" "$dir/rgw.port" "$dir/mon" "$dir/osd" \
			"$dir/rgw" "$dir/run" "$dir/log" "$dir/crash"
	fi
	if [ ${#dir} -gt 80 ]; then
		svc_die "$dir is too long a path for the admin sockets (over 80 characters)"
	fi
	mkdir -p "$dir/run" "$dir/log" "$dir/mon" "$dir/osd" "$dir/rgw" "$dir/crash"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	phase "packages checked"

	# ---- monitor: retried on another port if its port was taken meanwhile
	for attempt in 1 2 3 4 5; do
		if [ "$attempt" -eq 1 ] && [ -n "${PLUMB_S3_MON_PORT:-}" ]; then
			monport=$PLUMB_S3_MON_PORT
		else
			monport=$(svc_free_port)
		fi
		rgwport=${PLUMB_S3_PORT:-0}
		if [ "$rgwport" != 0 ] && svc_port_busy "$rgwport"; then
			svc_say "S3 port $rgwport is taken; letting the kernel pick one"
			rgwport=0
		fi
		write_conf "$fsid" "$monport" "$rgwport"
		rm -rf "$dir/mon" "$dir/monmap" "$dir/keyring"
		mkdir -p "$dir/mon"
		ceph-authtool -C "$dir/keyring" -n mon. --gen-key --cap mon 'allow *' >/dev/null
		monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" \
			"$dir/monmap" >"$dir/log/monmaptool.log" 2>&1 ||
			fail_start "monmaptool failed" "$dir/log/monmaptool.log"
		ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" \
			>"$dir/log/mon-mkfs.log" 2>&1 ||
			fail_start "ceph-mon --mkfs failed" "$dir/log/mon-mkfs.log" "$dir/log/mon.a.log"
		rc=0
		ceph-mon -c "$conf" -i a </dev/null >>"$dir/log/mon.a.out" 2>&1 || rc=$?
		if [ $rc -ne 0 ]; then
			# It binds before it forks: a taken port makes it exit.
			if bind_failed mon.a; then
				rc=2
			else
				fail_start "ceph-mon failed to start (exit $rc)" "$dir/log/mon.a.out" "$dir/log/mon.a.log"
			fi
		else
			wait_until "$timeout" mon.a ceph_ mon stat || rc=$?
		fi
		case $rc in
		0) break ;;
		2)
			svc_say "monitor port $monport was taken meanwhile (attempt $attempt); trying another"
			if pid=$(pid_of mon.a); then svc_kill_wait ceph-mon "$pid" 10; fi
			set_aside mon.a "$attempt"
			;;
		3) fail_start "the monitor died during start-up" "$dir/log/mon.a.out" "$dir/log/mon.a.log" ;;
		*) fail_start "the monitor did not answer within ${timeout}s" "$dir/log/mon.a.out" "$dir/log/mon.a.log" ;;
		esac
	done
	pid_of mon.a >/dev/null || fail_start "the monitor is not running" "$dir/log/mon.a.log"
	phase "monitor up on 127.0.0.1:$monport"

	# ---- OSD
	local uuid id
	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(ceph_ osd new "$uuid" 2>"$dir/log/osd-new.log") ||
		fail_start "ceph osd new failed" "$dir/log/osd-new.log"
	[ "$id" = 0 ] || fail_start "ceph osd new gave id '$id', not 0" "$dir/log/osd-new.log"
	phase "OSD id allocated"
	ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >"$dir/log/osd-mkfs.log" 2>&1 ||
		fail_start "ceph-osd --mkfs failed" "$dir/log/osd-mkfs.log" "$dir/log/osd.0.log"
	phase "OSD made"
	rc=0
	ceph-osd -c "$conf" -i 0 </dev/null >>"$dir/log/osd.0.out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || fail_start "ceph-osd failed to start (exit $rc)" "$dir/log/osd.0.out" "$dir/log/osd.0.log"
	rc=0
	wait_until "$timeout" osd.0 osd_up || rc=$?
	case $rc in
	0) ;;
	3) fail_start "the OSD died during start-up" "$dir/log/osd.0.out" "$dir/log/osd.0.log" ;;
	*) fail_start "the OSD did not come up within ${timeout}s" "$dir/log/osd.0.out" "$dir/log/osd.0.log" "$dir/log/mon.a.log" ;;
	esac

	phase "OSD up"

	# ---- radosgw.  It listens on port 0, so the kernel picks a free port
	# (no race with other programs), unless PLUMB_S3_PORT asks for one; the
	# port is read back from /proc.  A radosgw that can not bind does not
	# exit, and the watches it left on the cluster would make the admin
	# commands below wait 30 s: a taken PLUMB_S3_PORT falls back to port 0.
	log=$dir/log/$RGW_NAME.log
	for attempt in 1 2; do
		rc=0
		radosgw -c "$conf" -n "$RGW_NAME" </dev/null >>"$dir/log/$RGW_NAME.out" 2>&1 || rc=$?
		[ $rc -eq 0 ] || fail_start "radosgw failed to start (exit $rc)" "$dir/log/$RGW_NAME.out" "$log"
		rc=0
		wait_until "$timeout" "$RGW_NAME" rgw_listening || rc=$?
		case $rc in
		0) break ;;
		2)
			[ "$rgwport" != 0 ] || fail_start "radosgw could not bind a port" "$dir/log/$RGW_NAME.out" "$log"
			svc_say "S3 port $rgwport is taken; letting the kernel pick one"
			if pid=$(pid_of "$RGW_NAME"); then svc_kill_wait radosgw "$pid" 10; fi
			rgwport=0
			sed -i "s|^rgw frontends = .*|rgw frontends = beast endpoint=127.0.0.1:$rgwport|" "$conf"
			set_aside "$RGW_NAME" "$attempt"
			;;
		3) fail_start "radosgw died during start-up" "$dir/log/$RGW_NAME.out" "$log" ;;
		*) fail_start "radosgw did not listen within ${timeout}s" "$dir/log/$RGW_NAME.out" "$log" ;;
		esac
	done
	rgwport=$(cat "$dir/rgw.port")
	rc=0
	wait_until "$timeout" "$RGW_NAME" s3_answers || rc=$?
	[ $rc -eq 0 ] || fail_start "radosgw did not answer S3 requests on 127.0.0.1:$rgwport within ${timeout}s" \
		"$dir/log/$RGW_NAME.out" "$log"

	phase "radosgw answers on 127.0.0.1:$rgwport"

	# ---- the S3 user and the bucket
	timeout 60 radosgw-admin -c "$conf" user create --uid=plumb --display-name="plumb tests" \
		--access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$dir/log/user-create.log" 2>&1 ||
		fail_start "radosgw-admin user create failed" "$dir/log/user-create.log"
	(
		eval "$(print_env)"
		timeout 60 "$(svc_python)" "$here/s3check.py" mkbucket "$BUCKET"
	) >"$dir/log/mkbucket.log" 2>&1 || fail_start "could not create bucket $BUCKET" "$dir/log/mkbucket.log" "$log"
	phase "user and bucket made"

	local ms=$(($(now_ms) - start_ms))
	trap - INT TERM HUP
	svc_say "S3 (radosgw $(radosgw --version | awk '{print $3}')) up on http://127.0.0.1:$(cat "$dir/rgw.port") in $((ms / 1000)).$((ms % 1000 / 100))s (cluster in $dir)"
	print_env
}

do_stop() {
	local name pid prog rc=0
	# radosgw first (a client of the cluster), then the OSD, then the
	# monitor: each gets SIGTERM, 30 s to go, then SIGKILL.
	for name in "$RGW_NAME" osd.0 mon.a; do
		case $name in
		mon.a) prog=ceph-mon ;;
		osd.0) prog=ceph-osd ;;
		*) prog=radosgw ;;
		esac
		if pid=$(pid_of "$name"); then
			svc_kill_wait "$prog" "$pid" 30 || rc=1
		fi
	done
	# A daemon whose pid file is missing (killed during start-up): find it
	# by its conf path, which is unique to DIR.
	local conf_re
	conf_re=$(printf '%s' "$conf" | sed 's/[][\.*^$+?(){}|]/\\&/g')
	for prog in radosgw ceph-osd ceph-mon; do
		for pid in $(pgrep -f -- "^(/usr/bin/)?$prog .*-c $conf_re( |\$)" || true); do
			svc_kill_wait "$prog" "$pid" 10 || rc=1
		done
	done
	return $rc
}

do_status() {
	local name pid ok=0
	for name in mon.a osd.0 "$RGW_NAME"; do
		if pid=$(pid_of "$name"); then
			svc_say "$name runs (pid $pid)"
		else
			svc_say "$name does not run"
			ok=1
		fi
	done
	return $ok
}

case $cmd in
start) do_start ;;
stop) do_stop ;;
env)
	pid_of "$RGW_NAME" >/dev/null || svc_die "radosgw does not run from $dir"
	print_env
	;;
status) do_status ;;
*) usage ;;
esac
