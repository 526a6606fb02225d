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

# field NAME: the value of "NAME: value" in $output.
field() { sed -n "s/^$1: //p" <<<"$output"; }

# kernel_has FS: the running kernel can mount FS.
kernel_has() { grep -qw "$1" /proc/filesystems; }

# same_as_df DIR ARG: `plumb image info --bytes ARG` shows the size, used and
# free bytes df -B1 shows for DIR.  A filesystem may still be settling (btrfs
# commits in the background): the comparison is made once df gives the same
# answer before and after plumb's.
same_as_df() {
	local try before after size used avail
	for try in 1 2 3 4 5; do
		before=$(df -B1 --output=size,used,avail "$1" | tail -1)
		run "$PLUMB" image info --bytes "$2"
		after=$(df -B1 --output=size,used,avail "$1" | tail -1)
		[ "$before" != "$after" ] || break
		sync
		sleep 0.5
	done
	read -r size used avail <<<"$after"
	[ "$status" = 0 ] && [ "$(field size)" = "$size" ] && [ "$(field used)" = "$used" ] &&
		[ "$(field free)" = "$avail" ] || { echo "df: $after"; echo "$output"; return 1; }
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
	# The file itself probes the same without a device; --bytes as dumpe2fs counts.
	run "$PLUMB" image info --bytes "$T/b.img"
	[[ $output == *"inodes: $inodes"* ]]
	blocks=$(tune2fs -l "$dev" | sed -n 's/^Block count: *//p')
	free=$(tune2fs -l "$dev" | sed -n 's/^Free blocks: *//p')
	[ "$(field size)" = $((blocks * bs)) ]
	[ "$(field free)" = $((free * bs)) ]
	[ "$(field used)" = $(((blocks - free) * bs)) ]
	[ "$(field version)" = "$(blkid -p -o value -s VERSION "$T/b.img")" ]
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

@test "xfs, when mkfs.xfs is installed: info reads the superblock as xfs_db does" {
	command -v mkfs.xfs >/dev/null || skip "mkfs.xfs (xfsprogs) is not installed"
	kernel_has xfs || skip "this kernel has no xfs driver"
	run "$PLUMB" image create "$T/x.img" --size 300M --fs xfs --label XL --mount "$T/mnt"
	[ "$status" = 0 ]
	[ "$(findmnt -n -o FSTYPE "$T/mnt")" = xfs ]
	[ "$(blkid -o value -s LABEL "$(findmnt -n -o SOURCE "$T/mnt")")" = XL ]
	"$PLUMB" image umount "$T/mnt"
	nothing_left "$T/x.img"
	run "$PLUMB" image info --bytes "$T/x.img"
	[ "$status" = 0 ]
	bs=$(xfs_db -r -c 'sb 0' -c 'p blocksize' "$T/x.img" | sed 's/.* = //')
	dblocks=$(xfs_db -r -c 'sb 0' -c 'p dblocks' "$T/x.img" | sed 's/.* = //')
	fdblocks=$(xfs_db -r -c 'sb 0' -c 'p fdblocks' "$T/x.img" | sed 's/.* = //')
	[ "$(field 'block size')" = "$bs" ]
	[ "$(field size)" = $((dblocks * bs)) ]
	[ "$(field free)" = $((fdblocks * bs)) ]
	[ "$(field used)" = $(((dblocks - fdblocks) * bs)) ]
	[ "$(field label)" = XL ]
}

@test "btrfs: create --mount; label, UUID and sizes as blkid, df and the superblock have them" {
	command -v mkfs.btrfs >/dev/null || skip "mkfs.btrfs (btrfs-progs) is not installed"
	kernel_has btrfs || skip "this kernel has no btrfs driver"
	run "$PLUMB" image create "$T/bt.img" --size 128MiB --fs btrfs --label BTVOL --mount "$T/mnt"
	[ "$status" = 0 ]
	dev=$(field device)
	[ "$(field filesystem)" = btrfs ]
	[ "$(findmnt -n -o FSTYPE "$T/mnt")" = btrfs ]
	[ "$(findmnt -n -o SOURCE "$T/mnt")" = "$dev" ]
	[ "$(blkid -o value -s TYPE "$dev")" = btrfs ]
	[ "$(blkid -o value -s UUID "$dev")" = "$(field uuid)" ]
	[ "$(blkid -o value -s LABEL "$dev")" = BTVOL ]
	dd if=/dev/urandom of="$T/mnt/data" bs=1M count=8 status=none
	sync
	# Mounted: the kernel's counts, byte for byte df's (btrfs mounts carry a
	# device number of their own: the mount is found by its source).
	same_as_df "$T/mnt" "$dev"
	[ "$(field 'block size')" = "$(blkid -o value -s BLOCK_SIZE "$dev")" ]
	[ "$(field mounted)" = "$T/mnt" ]
	[[ $output != *inodes* ]] # btrfs has no fixed inode count
	"$PLUMB" image list --json >"$T/list.json"
	[ "$(jq -r --arg d "$dev" '.images[] | select(.device == $d) | .mountpoints[0]' "$T/list.json")" = "$T/mnt" ]
	[ "$(jq -r --arg d "$dev" '.images[] | select(.device == $d) | .fstype' "$T/list.json")" = btrfs ]
	"$PLUMB" image umount "$T/mnt"
	nothing_left "$T/bt.img"
	# Unmounted: the superblock's, as btrfs inspect-internal reads it.
	run "$PLUMB" image info --bytes "$T/bt.img"
	[ "$status" = 0 ]
	sb() { btrfs inspect-internal dump-super "$T/bt.img" | sed -n "s/^$1[[:space:]]*//p"; }
	[ "$(field size)" = "$(sb total_bytes)" ]
	[ "$(field used)" = "$(sb bytes_used)" ]
	[ "$(field used)" -gt $((8 << 20)) ]
	[ "$(field 'block size')" = "$(sb sectorsize)" ]
	[ "$(field label)" = BTVOL ]
	# mount -r and umount FILE find the mount by its source too.
	dev=$("$PLUMB" image mount -r "$T/bt.img" "$T/mnt")
	[ "$(findmnt -n -o FSTYPE "$T/mnt")" = btrfs ]
	[[ $(findmnt -n -o OPTIONS "$T/mnt") == ro,* ]]
	[ "$(stat -c %s "$T/mnt/data")" = $((8 << 20)) ]
	"$PLUMB" image umount "$T/bt.img"
	nothing_left "$T/bt.img"
}

@test "vfat: create; label, UUID, FAT version as blkid has them; mounted when the kernel can" {
	command -v mkfs.vfat >/dev/null || skip "mkfs.vfat (dosfstools) is not installed"
	run "$PLUMB" image create "$T/v.img" --size 64MiB --fs vfat --label MYVOL
	[ "$status" = 0 ]
	dev=$(field device)
	[ "$(field filesystem)" = vfat ]
	[ "$(blkid -o value -s TYPE "$dev")" = vfat ]
	[ "$(blkid -o value -s UUID "$dev")" = "$(field uuid)" ]
	[ "$(blkid -o value -s LABEL "$dev")" = MYVOL ]
	run "$PLUMB" image info "$dev"
	[ "$status" = 0 ]
	[ "$(field version)" = "$(blkid -p -o value -s VERSION "$dev")" ]
	[ "$(field version)" = FAT16 ]
	"$PLUMB" image umount "$dev"
	nothing_left "$T/v.img"
	if kernel_has vfat; then
		dev=$("$PLUMB" image mount "$T/v.img" "$T/mnt")
		[ "$(findmnt -n -o FSTYPE "$T/mnt")" = vfat ]
		dd if=/dev/zero of="$T/mnt/data" bs=1M count=3 status=none
		sync
		same_as_df "$T/mnt" "$T/v.img"
		"$PLUMB" image umount "$T/mnt"
		run "$PLUMB" image info --bytes "$T/v.img"
		fat_matches_fsck "$T/v.img"
		[ "$(field used)" -ge $((3 << 20)) ]
	else
		# This kernel cannot mount FAT: the attach is undone and we are told why.
		run "$PLUMB" image mount "$T/v.img" "$T/mnt"
		[ "$status" = 1 ]
		[[ $output == *"no vfat driver"* ]]
		run "$PLUMB" image create "$T/v2.img" --size 16M --fs vfat --mount "$T/mnt"
		[ "$status" = 1 ]
		[[ $output == *"no vfat driver"* ]]
		[ ! -e "$T/v2.img" ]
		nothing_left "$T/v2.img"
	fi
	nothing_left "$T/v.img"
}

# fat_matches_fsck IMG: $output (info --bytes IMG) has the sizes fsck.fat -v reads.
fat_matches_fsck() {
	local fsck cl bytes used total
	# Status 1: on FAT32, mkfs.fat's FSInfo free count leaves out the bad
	# clusters and fsck.fat says so (plumb counts the table, not the hint).
	fsck=$(fsck.fat -n -v "$1") || [ $? = 1 ]
	cl=$(sed -n 's/^ *\([0-9]*\) bytes per cluster$/\1/p' <<<"$fsck")
	bytes=$(sed -n 's/^ *[0-9]* data clusters (\([0-9]*\) bytes)$/\1/p' <<<"$fsck")
	read -r used total < <(sed -n 's|.*files, \([0-9]*\)/\([0-9]*\) clusters$|\1 \2|p' <<<"$fsck")
	[ -n "$cl" ] && [ -n "$bytes" ] && [ -n "$used" ] || { echo "$fsck"; return 1; }
	[ "$(field 'block size')" = "$cl" ] || { echo "block size: $cl"; return 1; }
	[ "$(field size)" = "$bytes" ] || { echo "size: $bytes"; return 1; }
	[ "$(field used)" = $((used * cl)) ] || { echo "used: $((used * cl))"; return 1; }
	[ "$(field free)" = $(((total - used) * cl)) ] || { echo "free: $(((total - used) * cl))"; return 1; }
}

@test "vfat info: FAT12, FAT16 and FAT32 sizes and used clusters are fsck.fat's" {
	command -v mkfs.vfat >/dev/null || skip "mkfs.vfat (dosfstools) is not installed"
	command -v fsck.fat >/dev/null || skip "fsck.fat (dosfstools) is not installed"
	# mkfs.fat -l marks clusters bad: used ones, odd and even, without a mount.
	for spec in "4M FAT12 100 101 102 205 1001" "64M FAT16 1000 1001 1002 5005 20001" \
		"600M FAT32 10000 10001 10003 50001 300001"; do
		read -r size version blocks <<<"$spec"
		rm -f "$T/f.img"
		truncate -s "$size" "$T/f.img"
		tr ' ' '\n' <<<"$blocks" >"$T/bad"
		mkfs.vfat -n "$version" -l "$T/bad" "$T/f.img" >/dev/null
		run "$PLUMB" image info --bytes "$T/f.img"
		[ "$status" = 0 ]
		[ "$(field version)" = "$version" ]
		[ "$(field version)" = "$(blkid -p -o value -s VERSION "$T/f.img")" ]
		[ "$(field label)" = "$version" ]
		[ "$(field uuid)" = "$(blkid -p -o value -s UUID "$T/f.img")" ]
		[ "$(field used)" -gt 0 ]
		fat_matches_fsck "$T/f.img"
	done
}

@test "rollback: a filesystem mkfs refuses (btrfs too small, a vfat label too long) leaves nothing" {
	command -v mkfs.btrfs >/dev/null || skip "mkfs.btrfs (btrfs-progs) is not installed"
	command -v mkfs.vfat >/dev/null || skip "mkfs.vfat (dosfstools) is not installed"
	run "$PLUMB" image create "$T/small.img" --size 50MiB --fs btrfs
	[ "$status" = 1 ]
	[[ $output == *"minimum size"* ]]
	[[ $output == *"mkfs.btrfs /dev/loop"*" failed"* ]]
	[ ! -e "$T/small.img" ]
	nothing_left "$T/small.img"
	run "$PLUMB" image create "$T/label.img" --size 16MiB --fs vfat --label TWELVE_CHARS --keep
	[ "$status" = 1 ]
	[[ $output == *"no longer than 11"* ]]
	[ -f "$T/label.img" ]
	nothing_left "$T/label.img"
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
	run "$PLUMB" image info --bytes
	[ "$status" = 1 ]
	[[ $output == *"usage: plumb image info [--bytes] FILE|DEVICE"* ]]
	run "$PLUMB" image info --bogus "$T/exists.img"
	[ "$status" = 1 ]
	[[ $output == *"unrecognized option '--bogus'"* ]]
	run "$PLUMB" image info "$T/missing.img"
	[ "$status" = 1 ]
	[[ $output == *"No such file"* ]]
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
