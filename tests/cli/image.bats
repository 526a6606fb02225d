#!/usr/bin/env bats
#
# image.bats - `plumb image`: file -> loop device -> filesystem -> mount, and
# back, on real loop devices and real mounts.
#
# What plumb did is checked with the system's own tools (losetup, blkid,
# findmnt, df).  The failure tests make one step fail each (a full disk on
# a tiny tmpfs, a missing mkfs, a mount point that is a file, a busy mount)
# and check that nothing was left: no device, no mount, no file.  The
# teardown unmounts whatever is mounted under this test's directory and
# detaches every device backed by its files, pass or fail, and nothing else.

PLUMB=${PLUMB:-plumb}

setup() {
	[ -e /dev/loop-control ] || skip "no /dev/loop-control on this machine"
	[ "$(id -u)" = 0 ] || skip "loop devices and mounts need root"
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 (e2fsprogs) is not installed"
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/mnt"
}

teardown() {
	[ -n "${T:-}" ] || return 0
	local m name file
	findmnt -rn -o TARGET | grep "^$T/" | sort -r | while read -r m; do umount "$m"; done
	losetup -l -n --raw -O NAME,BACK-FILE | while read -r name file; do
		case "$file" in "$T"/*) losetup -d "$name" ;; esac
	done
}

# nothing_left FILE: no device is backed by FILE and nothing is mounted under $T.
nothing_left() {
	[ -z "$(losetup -l -n --raw -O BACK-FILE | grep -F "$1")" ] || { losetup -a; return 1; }
	[ -z "$(findmnt -rn -o TARGET | grep "^$T/")" ]
}

@test "create --mount: a mounted ext4 of the asked size, label and UUID; umount DIR leaves nothing" {
	run "$PLUMB" image create "$T/a.img" --size 50MiB --label DATA --mount "$T/mnt"
	[ "$status" = 0 ]
	dev=$(sed -n 's/^device: //p' <<<"$output")
	uuid=$(sed -n 's/^uuid: //p' <<<"$output")
	[[ $dev == /dev/loop* ]]
	[ "$(losetup -l -n -O BACK-FILE "$dev")" = "$T/a.img" ]
	[ "$(blkid -o value -s TYPE "$dev")" = ext4 ]
	[ "$(blkid -o value -s UUID "$dev")" = "$uuid" ]
	[ "$(blkid -o value -s LABEL "$dev")" = DATA ]
	[ "$(findmnt -n -o SOURCE "$T/mnt")" = "$dev" ]
	[ "$(stat -c %s "$T/a.img")" = $((50 << 20)) ]
	# sparse by default
	[ "$(stat -c %b "$T/a.img")" -lt $((50 << 11)) ]
	echo hello >"$T/mnt/f"
	# info on a mounted image: the kernel's counts, as df has them
	run "$PLUMB" image info "$T/a.img"
	[ "$status" = 0 ]
	[[ $output == *"mounted: $T/mnt"* ]]
	[[ $output == *"inodes: $(df --output=itotal "$T/mnt" | tail -1 | tr -d ' ')"* ]]
	[[ $output == *"free inodes: $(df --output=iavail "$T/mnt" | tail -1 | tr -d ' ')"* ]]
	"$PLUMB" image umount "$T/mnt"
	nothing_left "$T/a.img"
	[ -f "$T/a.img" ]
}

@test "create without --mount leaves it attached; info matches blkid and tune2fs; umount FILE detaches" {
	run "$PLUMB" image create "$T/b.img" --size 20M --allocate
	[ "$status" = 0 ]
	dev=$(sed -n 's/^device: //p' <<<"$output")
	[ "$(stat -c %b "$T/b.img")" -ge $((20 << 11)) ]
	run "$PLUMB" image info "$dev"
	[ "$status" = 0 ]
	[[ $output == *"filesystem: ext4"* ]]
	[[ $output == *"uuid: $(blkid -o value -s UUID "$dev")"* ]]
	inodes=$(tune2fs -l "$dev" | sed -n 's/^Inode count: *//p')
	bs=$(tune2fs -l "$dev" | sed -n 's/^Block size: *//p')
	[[ $output == *"inodes: $inodes"* ]]
	[[ $output == *"block size: $bs"* ]]
	[[ $output == *"state: clean"* ]]
	# The file itself probes the same without a device.
	run "$PLUMB" image info "$T/b.img"
	[[ $output == *"inodes: $inodes"* ]]
	"$PLUMB" image umount "$T/b.img"
	nothing_left "$T/b.img"
}

@test "mount -r and list --json; umount DEVICE" {
	"$PLUMB" image create "$T/c.img" --size 20M --keep
	"$PLUMB" image umount "$T/c.img"
	dev=$("$PLUMB" image mount -r "$T/c.img" "$T/mnt")
	[[ $(findmnt -n -o OPTIONS "$T/mnt") == ro,* ]]
	[ "$(losetup -l -n -O RO "$dev" | tr -d ' ')" = 1 ]
	"$PLUMB" image list --json >"$T/list.json"
	[ "$(jq -r --arg d "$dev" '.images[] | select(.device == $d) | .mountpoints[0]' "$T/list.json")" = "$T/mnt" ]
	[ "$(jq -r --arg d "$dev" '.images[] | select(.device == $d) | .file' "$T/list.json")" = "$T/c.img" ]
	"$PLUMB" image list | grep -F "$T/mnt"
	"$PLUMB" image umount "$dev"
	nothing_left "$T/c.img"
}

@test "xfs, when mkfs.xfs is installed" {
	command -v mkfs.xfs >/dev/null || skip "mkfs.xfs (xfsprogs) is not installed"
	run "$PLUMB" image create "$T/x.img" --size 300M --fs xfs --label XL --mount "$T/mnt"
	[ "$status" = 0 ]
	[ "$(findmnt -n -o FSTYPE "$T/mnt")" = xfs ]
	[ "$(blkid -o value -s LABEL "$(findmnt -n -o SOURCE "$T/mnt")")" = XL ]
	"$PLUMB" image umount "$T/mnt"
	nothing_left "$T/x.img"
}

@test "rollback: a full disk (tiny tmpfs) leaves no file and no device" {
	mkdir "$T/tiny"
	mount -t tmpfs -o size=1m tmpfs "$T/tiny"
	run "$PLUMB" image create "$T/tiny/full.img" --size 50MiB --allocate
	[ "$status" = 1 ]
	[[ $output == *"No space left"* ]]
	[ ! -e "$T/tiny/full.img" ]
	umount "$T/tiny"
	nothing_left "$T/tiny/full.img"
}

@test "rollback: a missing mkfs detaches and removes the file" {
	run env PATH=/nonexistent "$PLUMB" image create "$T/m.img" --size 20M
	[ "$status" = 1 ]
	[[ $output == *"mkfs.ext4"* ]]
	[ ! -e "$T/m.img" ]
	nothing_left "$T/m.img"
	# --keep keeps the file, still detached
	run env PATH=/nonexistent "$PLUMB" image create "$T/m.img" --size 20M --keep
	[ "$status" = 1 ]
	[ -f "$T/m.img" ]
	nothing_left "$T/m.img"
}

@test "rollback: a mount point that is a file unmounts nothing, detaches, removes" {
	touch "$T/notadir"
	run "$PLUMB" image create "$T/n.img" --size 20M --mount "$T/notadir"
	[ "$status" = 1 ]
	[[ $output == *"not a directory"* ]]
	[ ! -e "$T/n.img" ]
	nothing_left "$T/n.img"
	# image mount undoes its attach the same way
	"$PLUMB" image create "$T/n2.img" --size 20M
	"$PLUMB" image umount "$T/n2.img"
	run "$PLUMB" image mount "$T/n2.img" "$T/notadir"
	[ "$status" = 1 ]
	nothing_left "$T/n2.img"
}

@test "a busy mount is not torn down: umount says so, and works once it is free" {
	"$PLUMB" image create "$T/busy.img" --size 20M --mount "$T/mnt"
	(cd "$T/mnt" && exec sleep 60) &
	pid=$!
	sleep 0.2
	run "$PLUMB" image umount "$T/mnt"
	kill "$pid"
	wait "$pid" || true
	[ "$status" = 1 ]
	[[ $output == *busy* ]]
	findmnt "$T/mnt"
	"$PLUMB" image umount "$T/mnt"
	nothing_left "$T/busy.img"
}

@test "bad input: existing file, bad size, no filesystem, not a mount point" {
	echo keep >"$T/exists.img"
	run "$PLUMB" image create "$T/exists.img" --size 20M
	[ "$status" = 1 ]
	[[ $output == *"already exists"* ]]
	[ "$(cat "$T/exists.img")" = keep ]
	run "$PLUMB" image create "$T/s.img" --size lots
	[ "$status" = 1 ]
	[[ $output == *"invalid size"* ]]
	[ ! -e "$T/s.img" ]
	run "$PLUMB" image info "$T/exists.img"
	[ "$status" = 1 ]
	[[ $output == *"no filesystem"* ]]
	run "$PLUMB" image umount "$T/mnt"
	[ "$status" = 1 ]
	[[ $output == *"not a mount point of a loop device"* ]]
	run "$PLUMB" image bogus
	[ "$status" = 1 ]
}

@test "examples/loop runs the note's steps and leaves nothing behind" {
	[ -x "${EXAMPLES:-}/loop" ] || skip "EXAMPLES is not set to the built examples"
	run "$EXAMPLES/loop" "$T/note.img"
	[ "$status" = 0 ]
	[[ ${lines[0]} == "/dev/loop"*": ["*"]:"*" ($T/note.img)" ]]
	[[ ${lines[1]} == Filesystem*Size*Used*Avail*Mounted\ on ]]
	[[ ${lines[2]} =~ ^/dev/loop[0-9]+\ +[0-9]+M\ +[0-9]+K\ +[0-9]+M\ +[0-9]+%\ /tmp/plumb-loop-example-.*/loopfs$ ]]
	[[ ${lines[3]} == *detached ]]
	[ ! -e "$T/note.img" ]
	nothing_left "$T/note.img"
}
