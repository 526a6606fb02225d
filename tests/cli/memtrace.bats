#!/usr/bin/env bats
#
# memtrace.bats - the `plumb memtrace` command: run, report, diff, leaks,
# the pictures, and every bad input.
#
# The tracer's own correctness (threads, fork and exec, realloc chains,
# C++) is memtrace-tracer.bats's; this file checks what the command does
# with it.  Its test program, known.c, is compiled here with -g -O0; it
# allocates exactly what its comments say, at lines found by the markers
# in its source, so the numbers checked are exact bytes.  Real programs
# from Debian (sqlite3, python3) are traced when installed.
#
# Pictures are rendered with Chromium headless when it is installed: the
# PNG must show the colours the picture is drawn with (pngcheck.py decodes
# it with the standard library alone), and the SVG or HTML must name the
# program's functions and sizes.
#
# Where a sanitizer owns malloc (MEMTRACE_SANITIZED=1) the tracer cannot
# run: the tests that need a trace skip and say so; the bad-input tests
# still run.

bats_require_minimum_version 1.5.0

PLUMB=${PLUMB:-plumb}

setup_file() {
	export D=$BATS_FILE_TMPDIR
	cat >"$D/known.c" <<'EOF'
/* known.c - allocations the memtrace test knows to the byte. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *keep[64];

__attribute__((noinline)) static void *grow(size_t n)
{
	return malloc(n); /* SITE_GROW */
}

__attribute__((noinline)) static void leak_small(int n)
{
	for (int i = 0; i < n; i++)
		keep[8 + i] = malloc(1000); /* SITE_SMALL */
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int nsmall = argc > 2 ? atoi(argv[2]) : 3;
	void *p[4];
	/* The peak: 4 blocks of 100000 bytes, 400000 in all. */
	for (int i = 0; i < 4; i++)
		p[i] = grow(100000); /* SITE_CALL */
	for (int i = 1; i < 4; i++)
		free(p[i]);
	keep[0] = p[0]; /* leaked: 100000 bytes in 1 block */
	leak_small(nsmall); /* leaked: nsmall blocks of 1000 bytes */
	if (!strcmp(mode, "exit3"))
		return 3;
	if (!strcmp(mode, "wait") || !strcmp(mode, "hold")) {
		/* known wait|hold NSMALL PIDFILE [GOFILE]; never more than 60 s. */
		alarm(60);
		FILE *f = fopen(argv[3], "w");
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
		if (!strcmp(mode, "hold")) {
			/* Ask for a snapshot, then die without exiting when told to. */
			raise(SIGUSR2);
			while (access(argv[4], F_OK) != 0)
				usleep(10000);
			raise(SIGKILL);
		}
		for (;;)
			pause();
	}
	if (!strcmp(mode, "fork")) {
		pid_t pid = fork();
		if (pid == 0) {
			keep[1] = malloc(4242); /* SITE_CHILD */
			exit(0);
		}
		waitpid(pid, NULL, 0);
	}
	return 0;
}
EOF
	cc -g -O0 -o "$D/known" "$D/known.c"
	cat >"$D/pngcheck.py" <<'EOF'
# pngcheck.py PNG [#rrggbb]... - decodes an 8-bit RGB(A) PNG (standard
# library only), prints its number of distinct colours, and fails unless
# each colour given appears in it.
import struct, sys, zlib

def pixels(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, w = 8, b'', 0
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, 'unsupported PNG'
            bpp = 3 if ctype == 2 else 4
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    raw, stride, prev, out = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set()
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return out

colours = pixels(sys.argv[1])
print(len(colours))
missing = [c for c in sys.argv[2:] if bytes.fromhex(c.lstrip('#')) not in colours]
if missing:
    sys.exit('missing colours: ' + ' '.join(missing))
EOF
	if [ "${MEMTRACE_SANITIZED:-0}" != 1 ]; then
		# One trace the read-only tests share.
		(cd "$D" && "$PLUMB" memtrace run -o "$D/k.pmt" -- ./known >"$D/k.out" 2>"$D/k.err")
	fi
}

setup() {
	T=$BATS_TEST_TMPDIR
	command -v jq >/dev/null || skip "jq is not installed"
	GROW=$(grep -n SITE_GROW "$D/known.c" | cut -d: -f1)
	SMALL=$(grep -n SITE_SMALL "$D/known.c" | cut -d: -f1)
	CALL=$(grep -n SITE_CALL "$D/known.c" | cut -d: -f1)
	CALL_SMALL=$(grep -n 'leak_small(nsmall);' "$D/known.c" | cut -d: -f1)
}

# others SNAPSHOT [SIZE|COUNT]: the bytes (or blocks) in snapshot SNAPSHOT of
# the shared trace that known.c did not allocate: those of the libraries'
# own start-up (libstdc++'s exception pool, 72704 bytes, when it is loaded).
others() {
	"$PLUMB" memtrace report "$D/k.pmt" -s "$1" --top 0 --json |
		jq "[.stats[] | select(.filename | endswith(\"known.c\") | not) | .${2:-size}] | add // 0"
}

# fmt_size N: N bytes as tracemalloc writes them (Python's own code).
fmt_size() {
	python3 -c 'import sys, tracemalloc; print(tracemalloc._format_size(int(sys.argv[1]), False))' "$1"
}

# needs_tracer: skips where the tracer cannot run.
needs_tracer() {
	[ "${MEMTRACE_SANITIZED:-0}" != 1 ] || skip "a sanitizer owns malloc in this build: the tracer cannot run"
}

# render FILE PNG [HEIGHT]: a screenshot of FILE by Chromium headless, 1400
# pixels wide and HEIGHT (1000) high.
render() {
	command -v chromium >/dev/null || skip "chromium is not installed (scripts/deps.sh check installs it)"
	timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--screenshot="$2" --window-size="1400,${3:-1000}" "file://$1" >/dev/null 2>&1 || true
	[ -s "$2" ] || { echo "chromium wrote no screenshot of $1"; return 1; }
}

# no_leftovers DIR: no temporary output file was left behind.
no_leftovers() {
	[ -z "$(find "$1" -maxdepth 1 -type f -name '.*')" ]
}

# ---- run ----

@test "run: the report gives the peak, the leaks and the top sites in exact bytes" {
	needs_tracer
	cat "$D/k.err"
	[[ $(cat "$D/k.err") == *"./known exited with status 0 after"* ]]
	# known.c's own bytes exactly, plus what the libraries allocated.
	grep -q "peak heap: .* ($((400000 + $(others peak))) bytes) at [0-9.]* s$" "$D/k.err"
	grep -q "leaked at exit: .* ($((103000 + $(others exit))) bytes) in $((4 + $(others exit count))) blocks$" "$D/k.err"
	grep -q "known.c:$GROW: size=391 KiB, count=4, average=97.7 KiB" "$D/k.err"
	grep -q "known.c:$GROW: size=97.7 KiB, count=1, average=97.7 KiB" "$D/k.err"
	grep -q "known.c:$SMALL: size=3000 B, count=3, average=1000 B" "$D/k.err"
	grep -q "trace: $D/k.pmt" "$D/k.err"
	[ ! -s "$D/k.out" ]
}

@test "run: the default trace file is memtrace.PROG.PID.pmt in the current folder" {
	needs_tracer
	cd "$T"
	run --separate-stderr "$PLUMB" memtrace run -- "$D/known"
	[ "$status" = 0 ]
	name=$(sed -n 's/^  trace: //p' <<<"$stderr")
	[[ $name =~ ^memtrace\.known\.[0-9]+\.pmt$ ]]
	[ -s "$T/$name" ]
	"$PLUMB" memtrace report "$T/$name" >/dev/null
}

@test "run: --output with %p and %e, --quiet, --top, --frames" {
	needs_tracer
	run --separate-stderr "$PLUMB" memtrace run -q -o "$T/t-%e-%p.pmt" -- "$D/known"
	[ "$status" = 0 ]
	[ -z "$stderr" ]
	ls "$T"/t-known-[0-9]*.pmt
	run --separate-stderr "$PLUMB" memtrace run --top 1 --frames 1 -o "$T/one.pmt" -- "$D/known"
	[ "$status" = 0 ]
	[ "$(grep -c 'size=' <<<"$stderr")" = 2 ] # one site at the peak, one leak
	# One frame kept: every traceback has exactly one.
	[ "$("$PLUMB" memtrace report "$T/one.pmt" --by traceback --json | jq '[.stats[].traceback | length] | max')" = 1 ]
	[ "$("$PLUMB" memtrace report "$D/k.pmt" --by traceback --json | jq '[.stats[].traceback | length] | max')" -ge 2 ]
	# The leaks in the page say their stacks were cut; the file does not
	# record by how many frames, so no count is made up.
	"$PLUMB" memtrace html "$T/one.pmt" -o "$T/one.html"
	grep -q '^\.\.\. older frames cut$' "$T/one.html"
	! grep -q '[0-9] older frames cut' "$T/one.html"
}

@test "run: the exit status is the program's; 128+N when signal N killed it" {
	needs_tracer
	run "$PLUMB" memtrace run -q -o "$T/e.pmt" -- "$D/known" exit3
	[ "$status" = 3 ]
	run --separate-stderr "$PLUMB" memtrace run -o "$T/k.pmt" -- sh -c 'kill -KILL $$'
	[ "$status" = 137 ]
	[[ $stderr == *"was killed by signal 9"* ]]
	run "$PLUMB" memtrace run -q -o "$T/f.pmt" -- false
	[ "$status" = 1 ]
}

@test "run: a program that is not found exits 127, one not executable 126, as shells" {
	needs_tracer
	cd "$T"
	run -127 --separate-stderr "$PLUMB" memtrace run -- "$T/nonexistent"
	[[ $stderr == *"cannot run '$T/nonexistent': No such file or directory"* ]]
	run -127 "$PLUMB" memtrace run -- no-such-command-anywhere
	printf 'not a program\n' >"$T/plain"
	run --separate-stderr "$PLUMB" memtrace run -- "$T/plain"
	[ "$status" = 126 ]
	[[ $stderr == *"Permission denied"* ]]
	run "$PLUMB" memtrace run -- "$T"
	[ "$status" = 126 ]
	[ -z "$(ls "$T" | grep pmt)" ]
}

@test "run: SIGTERM sent to plumb reaches the program, which is waited for" {
	needs_tracer
	"$PLUMB" memtrace run -o "$T/w.pmt" -- "$D/known" wait 3 "$T/pid" 2>"$T/err" &
	plumb=$!
	for _ in $(seq 200); do [ -s "$T/pid" ] && break; sleep 0.05; done
	child=$(cat "$T/pid")
	kill -TERM "$plumb"
	s=0
	wait "$plumb" || s=$?
	[ "$s" = 143 ]
	grep -q "was killed by signal 15" "$T/err"
	! kill -0 "$child" 2>/dev/null
	# No zombie left: the child is gone from the process table.
	[ ! -e "/proc/$child" ]
}

@test "run: a program killed mid-run leaves a trace the readers take as truncated" {
	needs_tracer
	"$PLUMB" memtrace run -o "$T/h.pmt" -- "$D/known" hold 3 "$T/pid" "$T/go" 2>"$T/err" &
	plumb=$!
	# Wait (bounded) until the signal's snapshot is in the file, then let it die.
	for _ in $(seq 400); do
		n=$("$PLUMB" memtrace report "$T/h.pmt" --list --json 2>/dev/null | jq '.snapshots | length' || true)
		[ "${n:-0}" -ge 1 ] && break
		sleep 0.05
	done
	touch "$T/go"
	s=0
	wait "$plumb" || s=$?
	[ "$s" = 137 ]
	[ "${n:-0}" -ge 1 ]
	run --separate-stderr "$PLUMB" memtrace report "$T/h.pmt" --json
	[ "$status" = 0 ]
	[ "$(jq -r '[.truncated, .summary] | @json' <<<"$output")" = '[true,null]' ]
	[[ $stderr == *"ends early"* ]]
	run --separate-stderr "$PLUMB" memtrace leaks "$T/h.pmt" --json
	[ "$status" = 0 ]
	[ "$(jq -r '.at_exit' <<<"$output")" = false ]
	[[ $stderr == *"has no exit snapshot"* ]]
	# The snapshot was taken after the 100000-byte leak and the three 1000s.
	[ "$(jq "[.groups[] | select(.traceback[0].lineno == $GROW)] | .[0].size" <<<"$output")" = 100000 ]
	run "$PLUMB" memtrace leaks "$T/h.pmt"
	[[ $output == *"live at the last snapshot"* ]]
}

@test "run: children's trace files are listed" {
	needs_tracer
	run --separate-stderr "$PLUMB" memtrace run -o "$T/c.pmt" -- "$D/known" fork
	[ "$status" = 0 ]
	[[ $stderr == *"children's traces: $T/c.pmt."* ]]
	child=$(sed -n "s|.*children's traces: ||p" <<<"$stderr")
	[ -s "$child" ]
	# The child's own block is in its own trace, not in the parent's.
	line=$(grep -n SITE_CHILD "$D/known.c" | cut -d: -f1)
	[ "$("$PLUMB" memtrace report "$child" -s exit --json | jq "[.stats[] | select(.lineno == $line)][0] | [.size, .count]" -c)" = "[4242,1]" ]
	[ "$("$PLUMB" memtrace report "$T/c.pmt" -s exit --json | jq "[.stats[] | select(.lineno == $line)] | length")" = 0 ]
}

@test "run: an --output folder that cannot be written stops before the program runs" {
	needs_tracer
	run --separate-stderr "$PLUMB" memtrace run -o "$T/no/such/dir/x.pmt" -- touch "$T/ran"
	[ "$status" = 1 ]
	[[ $stderr == *"cannot write the trace file $T/no/such/dir/x.pmt"* ]]
	[ ! -e "$T/ran" ]
}

@test "run: real programs from Debian are traced (sqlite3, python3)" {
	needs_tracer
	found=0
	if command -v sqlite3 >/dev/null; then
		found=1
		run --separate-stderr "$PLUMB" memtrace run -o "$T/sq.pmt" -- sqlite3 :memory: 'select 1'
		[ "$status" = 0 ]
		[ "$output" = 1 ]
		[[ $stderr == *"peak heap: "* ]]
		[ "$("$PLUMB" memtrace report "$T/sq.pmt" --json | jq '.summary.peak > 0 and .total_size > 0')" = true ]
		"$PLUMB" memtrace leaks "$T/sq.pmt" >/dev/null
	fi
	if command -v python3 >/dev/null; then
		found=1
		run --separate-stderr "$PLUMB" memtrace run -o "$T/py.pmt" -- python3 -c 'x = [bytes(1000) for _ in range(1000)]'
		[ "$status" = 0 ]
		# A million bytes held at once, plus the interpreter's own.
		[ "$("$PLUMB" memtrace report "$T/py.pmt" --json | jq '.summary.peak > 1000000')" = true ]
	fi
	[ "$found" = 1 ] || skip "neither sqlite3 nor python3 is installed"
}

# ---- report ----

@test "report: tracemalloc's statistics at the peak by default, in its format" {
	needs_tracer
	run --separate-stderr "$PLUMB" memtrace report "$D/k.pmt"
	[ "$status" = 0 ]
	[[ ${lines[0]} =~ ^$D/k\.pmt:\ snapshot\ [0-9]+\ \(peak\)\ at\ [0-9.]+\ s:\ .*\ in\ [0-9]+\ blocks$ ]]
	[[ ${lines[1]} =~ ^\[\ Top\ [0-9]+\ by\ lineno\ \]$ ]]
	# The biggest line first, as tracemalloc sorts.
	[ "${lines[2]}" = "$D/known.c:$GROW: size=391 KiB, count=4, average=97.7 KiB" ]
}

@test "report --json: the plan's keys, exact numbers" {
	needs_tracer
	j=$("$PLUMB" memtrace report "$D/k.pmt" --json)
	[ "$(jq -c '[.pid > 0, (.exe | endswith("/known")), .truncated, .key, .cumulative]' <<<"$j")" = '[true,true,false,"lineno",false]' ]
	peak=$((400000 + $(others peak)))
	[ "$(jq -c '.summary | [.peak, .leaked_bytes, .leaked_blocks]' <<<"$j")" = "[$peak,$((103000 + $(others exit))),$((4 + $(others exit count)))]" ]
	# known.c makes 7 allocations and frees 3 of them.
	[ "$(jq -c '.summary | [.allocs >= 7, .frees >= 3, .bytes_allocated >= 403000, (.peak_t_ns|type), .tracer_memory > 0]' <<<"$j")" = '[true,true,true,"number",true]' ]
	[ "$(jq -c '.snapshot | [.kind, .current, .peak, (.index|type), (.seq|type), (.t_ns|type)]' <<<"$j")" = "[\"peak\",$peak,$peak,\"number\",\"number\",\"number\"]" ]
	[ "$(jq -c '[.total_size, .total_count]' <<<"$j")" = "[$peak,$((4 + $(others peak count)))]" ]
	[ "$(jq -c ".stats[0] | [.lineno, .function, .size, .count, .average, (.filename | endswith(\"known.c\"))]" <<<"$j")" = "[$GROW,\"grow\",400000,4,100000,true]" ]
	[ "$(jq -c '.stats[0].traceback[0] | [(.address|type), .inlined, (.module | endswith("/known"))]' <<<"$j")" = '["number",false,true]' ]
}

@test "report: --by filename, --by traceback, --cumulative" {
	needs_tracer
	j=$("$PLUMB" memtrace report "$D/k.pmt" --by filename --json)
	[ "$(jq -c '[.key, .stats[0].size, .stats[0].lineno, (.stats[0].filename | endswith("/known.c"))]' <<<"$j")" = '["filename",400000,0,true]' ]
	run "$PLUMB" memtrace report "$D/k.pmt" --by filename
	[ "${lines[2]}" = "$D/known.c:0: size=391 KiB, count=4, average=97.7 KiB" ] # as tracemalloc
	# By whole stack: grow called from main, with the traceback printed.
	j=$("$PLUMB" memtrace report "$D/k.pmt" --by traceback --json)
	[ "$(jq -c ".stats[0].traceback[:2] | map([.function, .lineno])" <<<"$j")" = "[[\"grow\",$GROW],[\"main\",$CALL]]" ]
	run "$PLUMB" memtrace report "$D/k.pmt" --by traceback
	[[ $output == *"line $GROW"* && $output == *"line $CALL"* ]]
	# Cumulative: main's line holds what grow allocated under it.
	j=$("$PLUMB" memtrace report "$D/k.pmt" --cumulative --top 0 --json)
	[ "$(jq ".cumulative and ([.stats[] | select(.lineno == $CALL)][0].size == 400000)" <<<"$j")" = true ]
}

@test "report: --snapshot, --list, --top, --include and --exclude" {
	needs_tracer
	run "$PLUMB" memtrace report "$D/k.pmt" --list
	[ "$status" = 0 ]
	[[ $output == *peak* && $output == *exit* ]]
	j=$("$PLUMB" memtrace report "$D/k.pmt" --list --json)
	[ "$(jq -c '[.snapshots[].kind] | (index("peak") != null) and (index("exit") != null)' <<<"$j")" = true ]
	last=$(jq '.snapshots | length - 1' <<<"$j")
	j=$("$PLUMB" memtrace report "$D/k.pmt" --snapshot exit --json)
	[ "$(jq -c '[.snapshot.kind, .total_size, .total_count]' <<<"$j")" = "[\"exit\",$((103000 + $(others exit))),$((4 + $(others exit count)))]" ]
	[ "$("$PLUMB" memtrace report "$D/k.pmt" --snapshot "$last" --json | jq .snapshot.kind)" = '"exit"' ]
	[ "$("$PLUMB" memtrace report "$D/k.pmt" -s exit --top 1 --json | jq '.stats | length')" = 1 ]
	n=$("$PLUMB" memtrace report "$D/k.pmt" -s exit --top 0 --json | jq '.stats | length')
	[ "$n" -ge 2 ]
	run "$PLUMB" memtrace report "$D/k.pmt" -s exit --top 1
	[ "${lines[2]}" = "$D/known.c:$GROW: size=97.7 KiB, count=1, average=97.7 KiB" ]
	rest=$("$PLUMB" memtrace report "$D/k.pmt" -s exit --top 0 --json | jq '[.stats[1:][].size] | add')
	[ "${lines[-1]}" = "$((n - 1)) other: size=$(fmt_size "$rest"), count=$((3 + $(others exit count)))" ]
	# Filters: tracemalloc's Filter on every frame, fnmatch patterns, PAT:LINE.
	[ "$("$PLUMB" memtrace report "$D/k.pmt" -s exit --include '*/known.c' --json | jq .total_size)" = 103000 ]
	[ "$("$PLUMB" memtrace report "$D/k.pmt" -s exit --include "*/known.c:$SMALL" --json | jq -c '[.total_size, .total_count]')" = '[3000,3]' ]
	[ "$("$PLUMB" memtrace report "$D/k.pmt" -s exit --exclude "*/known.c:$GROW" --json | jq -c '[.total_size, [.stats[] | select(.filename | endswith("known.c")) | .lineno]]')" = "[$((3000 + $(others exit))),[$SMALL]]" ]
	[ "$("$PLUMB" memtrace report "$D/k.pmt" -s exit --exclude '*known*' --json | jq .total_size)" = "$(others exit)" ]
	run "$PLUMB" memtrace report "$D/k.pmt" -s exit --exclude '*known*'
	[[ ${lines[0]} == *"(filtered)" ]]
}

# ---- diff ----

@test "diff: compare_to within one file, from the peak to exit" {
	needs_tracer
	run "$PLUMB" memtrace diff "$D/k.pmt" --from peak --to exit
	[ "$status" = 0 ]
	[[ $output == *"known.c:$GROW: size=97.7 KiB (-293 KiB), count=1 (-3), average=97.7 KiB"* ]]
	[[ $output == *"known.c:$SMALL: size=3000 B (+3000 B), count=3 (+3), average=1000 B"* ]]
	j=$("$PLUMB" memtrace diff "$D/k.pmt" --from peak --to exit --json)
	[ "$(jq -c '[.from.kind, .to.kind, .total_size]' <<<"$j")" = "[\"peak\",\"exit\",$((103000 + $(others exit)))]" ]
	[ "$(jq -c ".stats | map(select(.lineno == $GROW))[0] | [.size, .size_diff, .count, .count_diff]" <<<"$j")" = '[100000,-300000,1,-3]' ]
	# Sorted by the absolute size difference first.
	[ "$(jq '.stats[0].lineno' <<<"$j")" = "$GROW" ]
	# The default: the first snapshot to the last.
	j=$("$PLUMB" memtrace diff "$D/k.pmt" --json)
	[ "$(jq -c '[.from.index, .to.index == (.to.index|floor)]' <<<"$j")" = '[0,true]' ]
}

@test "diff: two files, as two dumps compared" {
	needs_tracer
	"$PLUMB" memtrace run -q -o "$T/a.pmt" -- "$D/known" "" 3
	"$PLUMB" memtrace run -q -o "$T/b.pmt" -- "$D/known" "" 5
	run "$PLUMB" memtrace diff "$T/a.pmt" "$T/b.pmt"
	[ "$status" = 0 ]
	[[ $output == *"known.c:$SMALL: size=5000 B (+2000 B), count=5 (+2), average=1000 B"* ]]
	j=$("$PLUMB" memtrace diff "$T/a.pmt" "$T/b.pmt" --json)
	[ "$(jq -c "[.from_file == \"$T/a.pmt\", .file == \"$T/b.pmt\", .from.kind, .to.kind]" <<<"$j")" = '[true,true,"exit","exit"]' ]
	[ "$(jq -c ".stats | map(select(.lineno == $GROW))[0] | [.size_diff, .count_diff]" <<<"$j")" = '[0,0]' ]
	[ "$(jq -c '.stats[0] | [.size_diff, .count_diff]' <<<"$j")" = '[2000,2]' ]
}

# ---- leaks ----

@test "leaks: the exit blocks by stack, largest first, with their tracebacks" {
	needs_tracer
	run --separate-stderr "$PLUMB" memtrace leaks "$D/k.pmt"
	[ "$status" = 0 ]
	[[ ${lines[0]} =~ ^$D/k\.pmt:\ .*\ in\ $((4 + $(others exit count)))\ blocks\ still\ allocated\ at\ exit,\ from\ [0-9]+\ stacks$ ]]
	[[ $output == *"#1: $D/known.c:$GROW in grow: size=97.7 KiB, count=1, average=97.7 KiB"* ]]
	[[ $output == *"#"[23]": $D/known.c:$SMALL in leak_small: size=3000 B, count=3, average=1000 B"* ]]
	[[ $output == *"known.c\", line $GROW"*"known.c\", line $CALL"* ]]
	[[ $output == *"return malloc(n); /* SITE_GROW */"* ]] # the source line, when readable
	j=$("$PLUMB" memtrace leaks "$D/k.pmt" --json)
	[ "$(jq -c '[.leaked_bytes, .leaked_blocks, .at_exit, .truncated]' <<<"$j")" = "[$((103000 + $(others exit))),$((4 + $(others exit count))),true,false]" ]
	# known.c's two leaking stacks, exactly; the largest group first.
	[ "$(jq -c "[.groups[] | select(.traceback[0].filename | endswith(\"known.c\"))] | map([.size, .count, .traceback[0].lineno, .traceback[0].function, .traceback[1].lineno])" <<<"$j")" = "[[100000,1,$GROW,\"grow\",$CALL],[3000,3,$SMALL,\"leak_small\",$CALL_SMALL]]" ]
	[ "$(jq '[.groups[].size] | . == (sort | reverse)' <<<"$j")" = true ]
	[ "$("$PLUMB" memtrace leaks "$D/k.pmt" --top 1 --json | jq '.groups | length')" = 1 ]
	run "$PLUMB" memtrace leaks "$D/k.pmt" --top 1
	[[ ${lines[-1]} =~ ^[0-9]+\ more\ stacks?$ ]]
}

# ---- pictures ----

@test "flamegraph: an SVG that names the functions and renders readable" {
	needs_tracer
	run --separate-stderr "$PLUMB" memtrace flamegraph "$D/k.pmt" -o "$T/fg.svg"
	[ "$status" = 0 ]
	grep -q "Live heap at the peak: .* in $((4 + $(others peak count))) blocks" "$T/fg.svg"
	grep -q ">grow (391 KiB, [0-9.]*%)<" "$T/fg.svg"
	grep -q ">main (391 KiB" "$T/fg.svg"
	grep -q "known.c:$GROW" "$T/fg.svg"
	grep -q "400000 bytes" "$T/fg.svg"
	if command -v xmllint >/dev/null; then xmllint --noout "$T/fg.svg"; fi
	# At exit: the leaks, both functions.
	"$PLUMB" memtrace flamegraph "$D/k.pmt" -o "$T/fx.svg" --snapshot exit
	grep -q "Live heap at exit (leaks): .* in $((4 + $(others exit count))) blocks" "$T/fx.svg"
	grep -q ">leak_small" "$T/fx.svg"
	render "$T/fg.svg" "$T/fg.png"
	# The first module's colour (the program) and the root's grey are drawn.
	python3 "$D/pngcheck.py" "$T/fg.png" '#e0e0e0' '#f7b267' >"$T/n"
	[ "$(cat "$T/n")" -ge 20 ]
	no_leftovers "$T"
}

@test "plot: heap over time with the peak marked, renders readable" {
	needs_tracer
	run --separate-stderr "$PLUMB" memtrace plot "$D/k.pmt" -o "$T/p.svg"
	[ "$status" = 0 ]
	peak=$((400000 + $(others peak)))
	grep -q "peak $(fmt_size "$peak") at " "$T/p.svg"
	grep -q "time (ms)\|time (s)" "$T/p.svg"
	grep -q "heap (KiB)" "$T/p.svg"
	grep -q 'class="peak"' "$T/p.svg"
	if command -v xmllint >/dev/null; then xmllint --noout "$T/p.svg"; fi
	render "$T/p.svg" "$T/p.png"
	# The peak's red dot and the heap's blue line are there.
	python3 "$D/pngcheck.py" "$T/p.png" '#d62728' '#2171b5' >"$T/n"
	[ "$(cat "$T/n")" -ge 20 ]
}

@test "html: one self-contained page with the summary, pictures, sites and leaks" {
	needs_tracer
	run --separate-stderr "$PLUMB" memtrace html "$D/k.pmt" -o "$T/r.html"
	[ "$status" = 0 ]
	h=$(cat "$T/r.html")
	[[ $h == "<!DOCTYPE html>"* ]]
	[[ $h == *"($((400000 + $(others peak))) bytes) at "* ]]
	[[ $h == *"($((103000 + $(others exit))) bytes) in $((4 + $(others exit count))) blocks"* ]]
	[[ $h == *'title="100000 bytes">97.7 KiB<'* && $h == *'title="3000 bytes">3000 B<'* ]]
	[ "$(grep -c '<svg' "$T/r.html")" = 2 ]
	[[ $h == *"known.c:$GROW</td><td class=\"fn\">grow<"* ]]                 # top sites
	[[ $h == *"known.c:$SMALL in leak_small</summary>"* ]]                   # leaks
	[[ $h == *">grow (391 KiB, "* ]]                                          # flame graph
	# Nothing is fetched from anywhere: no src, href, url() or @import.
	! grep -Eiq 'src=|href=|url\(|@import' "$T/r.html"
	render "$T/r.html" "$T/r.png" 2400
	python3 "$D/pngcheck.py" "$T/r.png" '#d62728' '#f7b267' >"$T/n"
	[ "$(cat "$T/n")" -ge 20 ]
}

@test "pictures of a real program's trace (sqlite3)" {
	needs_tracer
	command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
	"$PLUMB" memtrace run -q -o "$T/sq.pmt" -- sqlite3 :memory: \
		'create table t(x); insert into t select value from generate_series(1, 20000); select count(*) from t' >/dev/null
	"$PLUMB" memtrace flamegraph "$T/sq.pmt" -o "$T/sq.svg"
	"$PLUMB" memtrace html "$T/sq.pmt" -o "$T/sq.html"
	grep -q 'sqlite3' "$T/sq.svg"
	render "$T/sq.html" "$T/sq.png" 2400
	python3 "$D/pngcheck.py" "$T/sq.png" '#f7b267' >/dev/null
}

# ---- bad input ----

@test "usage errors exit 2 and say what is wrong" {
	check() { # check WANT-IN-MESSAGE ARGS...
		local want=$1
		shift
		run --separate-stderr "$PLUMB" memtrace "$@"
		[ "$status" = 2 ] || { echo "memtrace $*: status $status"; return 1; }
		[[ $stderr == *"$want"* ]] || { echo "memtrace $*: $stderr"; return 1; }
	}
	touch "$T/x.pmt"
	check "Usage: plumb memtrace"
	check "unknown subcommand 'frob'" frob
	check "unknown option '--bogus'" report --bogus "$T/x.pmt"
	check "missing FILE" report
	check "missing FILE" leaks
	check "missing FILE" diff
	check "unexpected argument" report a b
	check "unexpected argument" diff a b c
	check "unknown --by 'size'" report "$T/x.pmt" --by size
	check "--top needs a number, not 'ten'" report "$T/x.pmt" --top ten
	check "--top needs a number, not '-1'" leaks "$T/x.pmt" --top -1
	check "bad snapshot 'middle'" report "$T/x.pmt" --snapshot middle
	check "option '--snapshot' needs a value" report "$T/x.pmt" --snapshot
	check "--cumulative needs --by filename or lineno" report "$T/x.pmt" --by traceback --cumulative
	check "does not apply" leaks "$T/x.pmt" --by lineno
	check "missing -o" flamegraph "$T/x.pmt"
	check "missing -o" plot "$T/x.pmt"
	check "missing -o" html "$T/x.pmt"
	check "missing PROG" run
	check "missing PROG" run --frames 4 --
	check "--frames needs a number from 1 to 256" run --frames 0 -- true
	check "--frames needs a number from 1 to 256" run --frames 257 -- true
	check "bad --interval 'soon'" run --interval soon -- true
	check "unknown signal 'BOGUS'" run --signal BOGUS -- true
	check "unknown --unwind 'magic'" run --unwind magic -- true
	check "bad --sample" run --sample lots -- true
	check "unknown option '--bogus'" run --bogus -- true
	check "--top needs a number" run --top x -- true
}

@test "--help for the command and each subcommand" {
	run "$PLUMB" memtrace --help
	[ "$status" = 0 ]
	[[ $output == *"Usage: plumb memtrace SUBCOMMAND"* ]]
	for sub in run report diff leaks flamegraph plot html; do
		run "$PLUMB" memtrace "$sub" --help
		[ "$status" = 0 ] || { echo "$sub --help: $status"; return 1; }
		[[ $output == *"Usage: plumb memtrace $sub"* ]] || { echo "$sub: $output"; return 1; }
	done
	run "$PLUMB" --help
	[[ $output == *memtrace* ]]
}

@test "files that are missing, empty, random or not traces exit 1 with a message" {
	head -c 4096 /dev/urandom >"$T/random.pmt"
	: >"$T/empty.pmt"
	printf 'PMT\001\377\377\377\377' >"$T/badversion.pmt"
	for f in "$T/missing.pmt" "$T/empty.pmt" "$T/random.pmt" "$T/badversion.pmt" "$T"; do
		for sub in report diff leaks; do
			run --separate-stderr "$PLUMB" memtrace "$sub" "$f"
			[ "$status" = 1 ] || { echo "$sub $f: status $status"; return 1; }
			[[ $stderr == *"$f"* ]] || { echo "$sub $f: message without the name: $stderr"; return 1; }
			[ -z "$output" ]
		done
		for sub in flamegraph plot html; do
			run --separate-stderr "$PLUMB" memtrace "$sub" "$f" -o "$T/out.$sub"
			[ "$status" = 1 ] || { echo "$sub $f: status $status"; return 1; }
			[ ! -e "$T/out.$sub" ]
		done
	done
	run --separate-stderr "$PLUMB" memtrace report "$T/missing.pmt"
	[[ $stderr == *"No such file or directory"* ]]
	no_leftovers "$T"
}

@test "a truncated trace: every cut is read up to its end or refused, never a crash" {
	needs_tracer
	size=$(stat -c %s "$D/k.pmt")
	ok=0
	for cut in 1 4 8 12 16 $((size / 4)) $((size / 2)) $((size * 3 / 4)) $((size - 1)); do
		head -c "$cut" "$D/k.pmt" >"$T/cut.pmt"
		for sub in report leaks "report --list" "diff --from 0 --to 0"; do
			# shellcheck disable=SC2086
			run --separate-stderr "$PLUMB" memtrace $sub "$T/cut.pmt"
			case "$status" in
			0)
				[[ $stderr == *"ends early"* || $stderr == *"no exit snapshot"* ]] ||
					{ echo "$sub cut at $cut: accepted without saying it ends early"; return 1; }
				ok=$((ok + 1)) ;;
			1) [[ $stderr == *"$T/cut.pmt"* ]] || { echo "$sub cut at $cut: $stderr"; return 1; } ;;
			2) [[ $stderr == *"no "*"snapshot"* || $stderr == *"out of range"* ]] ||
				{ echo "$sub cut at $cut: $stderr"; return 1; } ;;
			*) echo "$sub cut at $cut: status $status"; return 1 ;;
			esac
		done
		run "$PLUMB" memtrace html "$T/cut.pmt" -o "$T/cut.html"
		[ "$status" -le 1 ]
		[ "$status" = 1 ] || grep -q "The trace ends early" "$T/cut.html"
	done
	# The first bytes are not a trace: refused.
	head -c 3 "$D/k.pmt" >"$T/cut.pmt"
	run "$PLUMB" memtrace report "$T/cut.pmt"
	[ "$status" = 1 ]
	no_leftovers "$T"
}

@test "a snapshot out of range, or of a kind the file lacks, exits 2 and names the count" {
	needs_tracer
	n=$("$PLUMB" memtrace report "$D/k.pmt" --list --json | jq '.snapshots | length')
	run --separate-stderr "$PLUMB" memtrace report "$D/k.pmt" --snapshot 99
	[ "$status" = 2 ]
	[[ $stderr == *"snapshot 99 is out of range: $D/k.pmt holds $n snapshots (0-$((n - 1)))"* ]]
	run --separate-stderr "$PLUMB" memtrace diff "$D/k.pmt" --from 0 --to 99
	[ "$status" = 2 ]
	run --separate-stderr "$PLUMB" memtrace flamegraph "$D/k.pmt" --snapshot 99 -o "$T/x.svg"
	[ "$status" = 2 ]
	[ ! -e "$T/x.svg" ]
}

@test "an output that cannot be written exits 1 and leaves nothing behind" {
	needs_tracer
	for sub in flamegraph plot html; do
		run --separate-stderr "$PLUMB" memtrace "$sub" "$D/k.pmt" -o "$T/no/such/dir/out"
		[ "$status" = 1 ] || { echo "$sub: status $status"; return 1; }
		[[ $stderr == *"cannot write $T/no/such/dir/out"* ]]
	done
	# A file replaced only when the new one is whole: the old one stays
	# until then, and an output where a folder is refused.
	mkdir "$T/adir"
	run --separate-stderr "$PLUMB" memtrace plot "$D/k.pmt" -o "$T/adir"
	[ "$status" = 1 ]
	[ -d "$T/adir" ]
	echo old >"$T/p.svg"
	"$PLUMB" memtrace plot "$D/k.pmt" -o "$T/p.svg"
	grep -q '<svg' "$T/p.svg"
	no_leftovers "$T"
}
