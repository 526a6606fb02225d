#!/usr/bin/env bats
#
# loop.bats - `plumb loop` against util-linux losetup on real loop devices.
#
# Each test works on files of its own in $BATS_TEST_TMPDIR.  What one tool
# does is read back with the other: the same --list --json (key for key,
# types included), the same -j answers, the same one-line and table forms,
# and the same exit codes.  The teardown detaches every device backed by a
# file of this test, and only those, pass or fail.  Without
# /dev/loop-control or root the tests are skipped and say why.

PLUMB=${PLUMB:-plumb}

setup() {
	[ -e /dev/loop-control ] || skip "no /dev/loop-control on this machine"
	[ "$(id -u)" = 0 ] || skip "loop devices need root"
	command -v losetup >/dev/null || skip "losetup (util-linux) is not installed"
	command -v jq >/dev/null || skip "jq is not installed"
	T=$BATS_TEST_TMPDIR
	truncate -s 16M "$T/a.img"
	truncate -s 4M "$T/b.img"
}

teardown() {
	[ -n "${T:-}" ] || return 0
	local name file
	losetup -l -n --raw -O NAME,BACK-FILE | while read -r name file; do
		case "$file" in "$T"/*) losetup -d "$name" ;; esac
	done
}

# jnorm: losetup 2.38 pads the maj:min strings for its table, and lists
# devices in /sys/block's directory order where plumb sorts them by number;
# trim the strings and sort by name.
jnorm() {
	jq -S '.loopdevices |= (map(with_entries(if (.value|type) == "string" then .value |= gsub("^ +| +$"; "") else . end)) | sort_by(.name))'
}

# status_of CMD...: prints CMD's exit status.
status_of() {
	local s=0
	"$@" >/dev/null 2>&1 || s=$?
	echo "$s"
}

@test "-f --show attaches; --list --json --output-all matches losetup key for key" {
	dev=$("$PLUMB" loop -f --show "$T/a.img")
	[[ $dev == /dev/loop* ]]
	losetup --list --json --output-all "$dev" | jnorm >"$T/want"
	"$PLUMB" loop --list --json --output-all "$dev" | jnorm >"$T/got"
	diff -u "$T/want" "$T/got"
	[ "$(jq -r '.loopdevices[0]."back-file"' "$T/got")" = "$T/a.img" ]
	# Types too: numbers are numbers and flags are booleans.
	[ "$(jq -r '.loopdevices[0] | [(.offset|type), (.ro|type), (."log-sec"|type)] | join(",")' "$T/got")" = "number,boolean,number" ]
}

@test "the default --json and table are byte for byte losetup's" {
	dev=$("$PLUMB" loop -f --show "$T/a.img")
	diff -u <(losetup --list --json "$dev") <("$PLUMB" loop --list --json "$dev")
	diff -u <(losetup -l "$dev") <("$PLUMB" loop -l "$dev")
	diff -u <(losetup -l -n --raw -O NAME,BACK-FILE,RO,OFFSET "$dev") \
		<("$PLUMB" loop -l -n --raw -O NAME,BACK-FILE,RO,OFFSET "$dev")
	diff -u <(losetup "$dev") <("$PLUMB" loop "$dev")
}

# ours: keeps the devices of this test (others may come and go meanwhile).
ours() {
	jq --arg t "$T/" '.loopdevices |= map(select(."back-file" | startswith($t)))'
}

@test "listing all devices: --list --json and -a match losetup's" {
	"$PLUMB" loop -f "$T/a.img"
	losetup -f "$T/b.img"
	diff -u <(losetup --list --json --output-all | ours | jnorm) \
		<("$PLUMB" loop --list --json --output-all | ours | jnorm)
	[ "$("$PLUMB" loop --list --json | ours | jq '.loopdevices | length')" = 2 ]
	diff -u <(losetup -a | grep -F "($T/" | sort) <("$PLUMB" loop -a | grep -F "($T/" | sort)
}

@test "-j finds what losetup -j finds, with and without -o" {
	losetup -f "$T/a.img"
	losetup -f -o 1048576 "$T/a.img"
	"$PLUMB" loop -f -o 2M "$T/a.img"
	losetup -f "$T/b.img"
	diff -u <(losetup -j "$T/a.img" | sort) <("$PLUMB" loop -j "$T/a.img" | sort)
	[ "$("$PLUMB" loop -j "$T/a.img" | wc -l)" = 3 ]
	diff -u <(losetup -j "$T/a.img" -o 1048576) <("$PLUMB" loop -j "$T/a.img" -o 1M)
	[ "$("$PLUMB" loop -j "$T/a.img" -o 1M | wc -l)" = 1 ]
	diff -u <(losetup -l -j "$T/b.img") <("$PLUMB" loop -l -j "$T/b.img") # one device
	[ -z "$("$PLUMB" loop -j "$T/missing")" ]
	touch "$T/none.img"
	diff -u <(losetup -l -j "$T/none.img") <("$PLUMB" loop -l -j "$T/none.img")
	diff -u <(losetup -J -j "$T/none.img") <("$PLUMB" loop -J -j "$T/none.img")
}

@test "attach options are what losetup reads back" {
	dev=$("$PLUMB" loop -f --show -o 1M --sizelimit 4M -b 4096 -r -P "$T/a.img")
	losetup --list --json --output-all "$dev" >"$T/j"
	[ "$(jq -c '.loopdevices[0] | [.offset, .sizelimit, ."log-sec", .ro, .partscan, .autoclear]' "$T/j")" = "[1048576,4194304,4096,true,true,false]" ]
	[ "$(blockdev --getsize64 "$dev")" = 4194304 ]
	run "$PLUMB" loop -v -f --show --direct-io "$T/b.img"
	[ "$status" = 0 ]
	dev2=${lines[-1]}
	[[ $output == *"$dev2: attached $T/b.img"* ]]
	[ "$(losetup -l -n -O DIO,RO,PARTSCAN --raw "$dev2")" = "1 0 0" ]
}

@test "what losetup attached with options, plumb reads the same" {
	dev=$(losetup -f --show -o 1048576 --sizelimit 2097152 -b 4096 -r -P "$T/a.img")
	diff -u <(losetup --list --json --output-all "$dev" | jnorm) \
		<("$PLUMB" loop --list --json --output-all "$dev" | jnorm)
	diff -u <(losetup "$dev") <("$PLUMB" loop "$dev")
	losetup -c "$dev"
	[ "$(jq -c '.loopdevices[0] | [.offset, .sizelimit, ."log-sec", .ro, .partscan]' \
		<("$PLUMB" loop -J -O OFFSET,SIZELIMIT,LOG-SEC,RO,PARTSCAN "$dev"))" = "[1048576,2097152,4096,true,true]" ]
}

@test "--direct-io on and off, read back by losetup" {
	dev=$("$PLUMB" loop -f --show "$T/a.img")
	"$PLUMB" loop --direct-io=on "$dev"
	[ "$(losetup -l -n -O DIO "$dev" | tr -d ' ')" = 1 ]
	"$PLUMB" loop --direct-io=off "$dev"
	[ "$(losetup -l -n -O DIO "$dev" | tr -d ' ')" = 0 ]
	run "$PLUMB" loop --direct-io=maybe "$dev"
	[ "$status" = 1 ]
	[[ $output == *"unsupported --direct-io argument"* ]]
}

@test "DEVICE FILE attaches to that device; a busy one fails as losetup does" {
	dev=$(losetup -f --show "$T/b.img")
	# Another process may take the free device first: then ask again.
	for try in 1 2 3 4 5; do
		free=$("$PLUMB" loop -f)
		[[ $free == /dev/loop* ]]
		[ "$free" != "$dev" ]
		! "$PLUMB" loop "$free" "$T/a.img" 2>"$T/err" || break
		grep -q busy "$T/err"
	done
	[ "$(losetup -l -n -O BACK-FILE "$free")" = "$T/a.img" ]
	run "$PLUMB" loop "$dev" "$T/a.img"
	[ "$status" = 1 ]
	[[ $output == *busy* ]]
	[ "$(status_of losetup "$dev" "$T/a.img")" = 1 ]
}

@test "-d detaches what either tool attached (losetup sees them gone)" {
	d1=$("$PLUMB" loop -f --show "$T/a.img")
	d2=$(losetup -f --show "$T/b.img")
	"$PLUMB" loop -d "$d1" "$d2"
	[ -z "$(losetup -j "$T/a.img")" ]
	[ -z "$(losetup -j "$T/b.img")" ]
	# (Detaching a free device is checked in the unit tests, on a device of
	# their own: here another process may have taken $d1 by now.)
}

@test "-c makes the device show the grown file, as losetup -c does" {
	dev=$("$PLUMB" loop -f --show "$T/b.img")
	truncate -s 8M "$T/b.img"
	[ "$(blockdev --getsize64 "$dev")" = $((4 << 20)) ]
	"$PLUMB" loop -c "$dev"
	[ "$(blockdev --getsize64 "$dev")" = $((8 << 20)) ]
}

@test "-L reuses the device that shows the same bytes and refuses an overlap, like losetup" {
	dev=$(losetup -f --show "$T/a.img")
	[ "$("$PLUMB" loop -L -f --show "$T/a.img")" = "$dev" ]
	run "$PLUMB" loop -L -f --show -o 1M "$T/a.img"
	[ "$status" = 1 ]
	[[ $output == *overlapping* ]]
	[ "$(status_of losetup -L -f --show -o 1M "$T/a.img")" = 1 ]
	[ "$(losetup -j "$T/a.img" | wc -l)" = 1 ]
}

@test "errors: exit codes as losetup's and messages that say what is wrong" {
	for args in "-d /dev/null" "-f $T/missing" "--bogus" "-f $T" "-j $T/missing" "-c /dev/null"; do
		# shellcheck disable=SC2086
		want=$(status_of losetup $args)
		# shellcheck disable=SC2086
		got=$(status_of "$PLUMB" loop $args)
		[ "$want" = "$got" ] || { echo "$args: plumb $got, losetup $want"; return 1; }
	done
	run "$PLUMB" loop -f "$T/missing"
	[[ $output == *"no such file"* ]]
	run "$PLUMB" loop -f "$T"
	[[ $output == *"directory"* ]]
	run "$PLUMB" loop -d /dev/null
	[[ $output == *"not a loop device"* ]]
	run "$PLUMB" loop -O NAME,NOPE -l
	[ "$status" = 1 ]
	[[ $output == *"unknown column"* ]]
}

@test "plumb refuses an offset past the end or off the sector size (losetup lets them through)" {
	run "$PLUMB" loop -f -o 20M "$T/b.img"
	[ "$status" = 1 ]
	[[ $output == *"too small"* ]]
	run "$PLUMB" loop -f -b 4096 -o 1000 "$T/b.img"
	[ "$status" = 1 ]
	[[ $output == *"not a multiple of the sector size"* ]]
	[ -z "$(losetup -j "$T/b.img")" ]
}

@test "a user who is not root is told so" {
	# bats' own directory is private; the file must be one nobody can open.
	NR=$(mktemp -d /tmp/plumb-loop-nr.XXXXXX)
	chmod 755 "$NR"
	truncate -s 1M "$NR/n.img"
	chmod 666 "$NR/n.img"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$PLUMB" loop -f "$NR/n.img"
	rm -rf "$NR"
	[ "$status" = 1 ]
	[[ $output == *"need root"* ]]
}

@test "plumb loop starts without the libraries of other commands (crypto, network, database)" {
	# losetup-like calls in a loop pay the start-up each time: mapping
	# libcrypto alone cost about 1 ms of CPU a call (see bench/loop.sh).
	loaded=$(LD_DEBUG=files "$PLUMB" loop --version 2>&1 >/dev/null | grep -o 'file=[^ ]*' | sort -u)
	[[ $loaded == *libc.so* ]] # LD_DEBUG works here
	extra=$(grep -E 'lib(crypto|ssl|curl|pq|sqlite3|expat|zstd|z)\.so' <<<"$loaded" || true)
	[ -z "$extra" ] || { echo "plumb loop loaded: $extra"; return 1; }
}

@test "--help and --version" {
	run "$PLUMB" loop --help
	[ "$status" = 0 ]
	[[ $output == *"--associated"* ]]
	run "$PLUMB" loop --version
	[ "$status" = 0 ]
	[[ $output == "plumb loop "* ]]
}

@test "-D detaches every device (only with PLUMB_LOOP_TEST_DETACH_ALL=1)" {
	[ "${PLUMB_LOOP_TEST_DETACH_ALL:-}" = 1 ] ||
		skip "-D detaches every loop device on the machine, not only this test's; set PLUMB_LOOP_TEST_DETACH_ALL=1 on a machine of your own"
	"$PLUMB" loop -f "$T/a.img"
	losetup -f "$T/b.img"
	"$PLUMB" loop -D
	[ -z "$(losetup -a)" ]
}
