#!/usr/bin/env bash
# demo.sh BUILD - the notes' tee and pipe programs, then `plumb hash` on a
# generated file, checked against itself with --check.
set -euo pipefail
build=${1:-build}
plumb=$build/src/plumb
work=$build/demo
mkdir -p "$work"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "examples/tee: read in 8-byte chunks, SHA-256 on the way"
"$build/examples/tee"

say "plumb hash: one read of a 256 MiB file, three digests"
if [ ! -s "$work/data.bin" ]; then
	head -c 268435456 /dev/urandom >"$work/data.bin"
fi
"$plumb" hash -a md5 -a sha1 -a sha256 "$work/data.bin" | tee "$work/data.sums"

say "plumb hash --check: the list verified"
"$plumb" hash --check "$work/data.sums"
