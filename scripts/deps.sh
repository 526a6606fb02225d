#!/usr/bin/env bash
# deps.sh - install the Debian packages plumb needs, only those missing.
#
#   scripts/deps.sh [build|check|bench|all]...   (default: build)
#
# Idempotent and quiet when everything is there; otherwise it names what it
# installs.  Uses sudo when not run as root.
set -euo pipefail

build=(gcc g++ make meson ninja-build pkg-config python3 sqlite3 libssl-dev libsqlite3-dev
	libpq-dev libexpat1-dev zlib1g-dev libzstd-dev libblkid-dev libdw-dev scdoc)
check=(libcmocka-dev bats coreutils util-linux bsdutils procps parallel mount e2fsprogs xfsprogs jq sqlite3 gzip zstd curl strace postgresql python3-botocore
	ceph-mon ceph-osd radosgw ceph-common valgrind chromium dosfstools btrfs-progs)
bench=(golang-go hyperfine time sqlite3 awscli parallel bc heaptrack valgrind linux-perf zstd)

want=()
[ $# -eq 0 ] && set -- build
for profile in "$@"; do
	case "$profile" in
	build) want+=("${build[@]}") ;;
	check) want+=("${build[@]}" "${check[@]}") ;;
	bench) want+=("${build[@]}" "${bench[@]}") ;;
	all) want+=("${build[@]}" "${check[@]}" "${bench[@]}") ;;
	*)
		echo "deps.sh: unknown profile '$profile' (build, check, bench, all)" >&2
		exit 2
		;;
	esac
done

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
apt() { "${sudo[@]}" apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }
if ! apt install --no-install-recommends "${missing[@]}" >/tmp/plumb-deps.log 2>&1; then
	apt update >>/tmp/plumb-deps.log 2>&1 || true
	if ! apt install --no-install-recommends "${missing[@]}" >>/tmp/plumb-deps.log 2>&1; then
		tail -20 /tmp/plumb-deps.log >&2
		echo "deps.sh: could not install ${missing[*]} (log: /tmp/plumb-deps.log)" >&2
		exit 1
	fi
fi
echo "deps.sh: done" >&2
