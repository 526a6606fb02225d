#!/usr/bin/env bash
#
# memtrace.sh - `plumb memtrace` against heaptrack and valgrind's massif on
# a malloc-heavy program, side by side in one run.
#
#   BUILD=build bench/memtrace.sh          (RUNS=5 PAIRS=10000000 MODES="churn live threads")
#
# The program is bench_malloc (bench/bench_malloc.c): PAIRS malloc/free
# pairs of 16..4096 bytes from 4 call sites 8 functions deep; modes churn,
# live (100k blocks live, 1000 leaked on purpose) and threads (churn on two
# threads, the same total work).  It is built twice: bench_malloc (-O2
# -fomit-frame-pointer) and bench_malloc_fp (-O2 -fno-omit-frame-pointer).
#
# For each mode, bench/race.py runs these RUNS times, interleaved, and
# takes medians of the wall time and of the peak RSS (GNU time: the largest
# process of the command's tree); each command also runs under a GNU time
# of its own for the CPU seconds (user + system) its whole tree used:
#   bare            the program alone                    (baseline)
#   bare fp         the frame-pointer build alone        (baseline of the fp rows)
#   plumb           LD_PRELOAD=libplumb-memtrace.so, 16 frames, default unwinder
#   plumb fp        the fp build, default unwinder
#   plumb fp unwind the fp build, PLUMB_MEMTRACE_UNWIND=fp
#   plumb sample    PLUMB_MEMTRACE_SAMPLE=524288 (512 KiB), default unwinder
#   plumb run       `plumb memtrace run --frames 16` end to end, its report included
#   heaptrack       `heaptrack -o F` (it records the whole stack, no limit)
#   massif          `valgrind --tool=massif --depth=16`
# then, once each outside the race: the memory of every process of the
# heaptrack and `plumb memtrace run` trees (VmHWM, sampled every 5 ms from
# /proc; the helper processes are those other than the program and shells),
# the trace file sizes (plumb's .pmt, heaptrack's .zst, massif's file), and
# the time of `plumb memtrace report F` against `heaptrack_print F` (race.py
# again).  Last, for the two-thread goal, churn and threads bare and under
# the tracer once more, every run pinned to one CPU (taskset -c 0): there
# the one-thread run has no CPU for the tracer's writer that the two-thread
# run lacks.  On the one-thread modes (churn, live) it checks that the peak
# and the leaks plumb and heaptrack report equal the exact values
# bench_malloc computed itself: every block, and the program's own (frame
# 0 in bench_malloc.c: heaptrack's total also counts libstdc++'s pool).
#
# The plumb rows need the tracer (lib/memtrace) and the command built in
# $BUILD; while they do not work the peers are measured alone and the plumb
# rows say so.  Prints each goal next to its figure.  Exits non-zero only
# when something fails to build or run, or plumb's figures for the
# program's own blocks are not exact.
#
# Environment: BUILD (default build), RUNS (5), PAIRS (10000000), MODES
# ("churn live threads"), PLUMB (auto|no: no skips the plumb rows),
# REPRINT=1 (run nothing: print the tables of the last run again).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BUILD=${BUILD:-build}
case $BUILD in /*) build=$BUILD ;; *) build=$root/$BUILD ;; esac
export RUNS=${RUNS:-5}
PAIRS=${PAIRS:-10000000}
MODES=${MODES:-churn live threads}
PLUMB=${PLUMB:-auto}
FRAMES=16
SAMPLE=524288
race=$here/race.py
work=$build/bench/memtrace
mkdir -p "$work"
log=$work/stderr.log
: >"$log"

for tool in heaptrack heaptrack_print valgrind ms_print /usr/bin/time taskset; do
	command -v "$tool" >/dev/null || { echo "memtrace.sh: $tool is not installed" >&2; exit 1; }
done
[ "${REPRINT:-0}" = 1 ] || ninja -C "$build" bench/bench_malloc bench/bench_malloc_fp >/dev/null
prog=$build/bench/bench_malloc
prog_fp=$build/bench/bench_malloc_fp
lib=$build/lib/memtrace/libplumb-memtrace.so
plumb=$build/src/plumb

# The tracer as LD_PRELOAD: tracer ARGS... prints the env prefix.
tracer() { echo "env LD_PRELOAD=$lib PLUMB_MEMTRACE=1 PLUMB_MEMTRACE_FRAMES=$FRAMES $*"; }

# Does the tracer work yet?  Build it, trace a small run, read the file.
have_plumb=0
why="PLUMB=no"
[ "${REPRINT:-0}" = 1 ] && PLUMB=no why=
if [ "$PLUMB" != no ]; then
	why="the tracer or the command does not build yet"
	so=$(ninja -C "$build" -t targets all | sed -n 's/^\(lib\/memtrace\/libplumb-memtrace\.so[.0-9]*\): .*LINKER$/\1/p')
	if [ -n "$so" ] && ninja -C "$build" "$so" src/plumb src/plumb-memtrace >"$work/ninja.log" 2>&1; then
		why="the tracer does not work yet (a small traced run or its report failed; see $log)"
		rm -f "$work/smoke.pmt"
		if $(tracer PLUMB_MEMTRACE_OUTPUT="$work/smoke.pmt") "$prog" live 200000 >/dev/null 2>>"$log" &&
			[ -s "$work/smoke.pmt" ] &&
			"$plumb" memtrace report "$work/smoke.pmt" --json >"$work/smoke.json" 2>>"$log"; then
			have_plumb=1
		fi
	fi
fi
[ $have_plumb = 1 ] || [ -z "$why" ] || echo "plumb rows skipped: $why" >&2

# treepeak OUT.json CMD: runs CMD (sh -c) once and records the peak memory
# of each process of its tree.
treepeak() {
	python3 - "$@" <<'PY'
import json, os, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2]
def status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            d = dict(l.split(":", 1) for l in f if ":" in l)
        return d["Name"].strip(), int(d["VmHWM"].split()[0]), int(d["VmRSS"].split()[0])
    except (OSError, KeyError, ValueError):
        return None  # gone, or a zombie
def children(pid):
    kids = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids
procs, max_sum = {}, 0
t0 = time.perf_counter()
p = subprocess.Popen(["/bin/sh", "-c", cmd], stdout=subprocess.DEVNULL)
while p.poll() is None:
    todo, now = [p.pid], 0
    while todo:
        pid = todo.pop()
        s = status(pid)
        if s:
            name, hwm, rss = s
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                cmdline = " ".join(os.path.basename(a.decode()) if i == 0 else a.decode()
                                   for i, a in enumerate(argv[:3]))
            except OSError:
                cmdline = name
            prev = procs.get(pid, {"hwm_kib": 0})
            procs[pid] = {"name": name, "cmd": cmdline, "hwm_kib": max(hwm, prev["hwm_kib"])}
            now += rss
        todo += children(pid)
    max_sum = max(max_sum, now)
    time.sleep(0.005)
if p.returncode:
    sys.exit(f"memtrace.sh: failed (status {p.returncode}): {cmd}")
json.dump({"procs": list(procs.values()), "max_sum_rss_kib": max_sum,
           "sum_hwm_kib": sum(v["hwm_kib"] for v in procs.values()),
           "seconds": time.perf_counter() - t0}, open(out, "w"))
PY
}

# heaptrack's file: .zst when zstd is installed, else .gz.
htfile() { if [ -e "$1.zst" ]; then echo "$1.zst"; else echo "$1.gz"; fi; }

# heaptrack_sum FILE TYPE [PATTERN]: exact bytes from heaptrack_print's
# flame graph stacks (TYPE peak: the heap at its peak; leaked: at exit),
# only the stacks that contain PATTERN if given.
heaptrack_sum() {
	heaptrack_print -f "$1" -p 0 -a 0 -T 0 --flamegraph-cost-type "$2" -F "$work/fg.txt" >/dev/null
	awk -v pat="${3:-}" 'pat == "" || index($0, pat) { s += $NF } END { printf "%d\n", s }' "$work/fg.txt"
}

# plumb_total FILE SNAPSHOT [PATTERN]: "bytes blocks" of a snapshot of a
# .pmt, only the blocks from PATTERN's files if given (report --include).
plumb_total() {
	local inc=()
	[ -n "${3:-}" ] && inc=(--include "$3")
	"$plumb" memtrace report "$1" --snapshot "$2" "${inc[@]}" --json |
		python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["total_size"], j["total_count"])'
}

# table WORK MODE: one mode's figures; table WORK goals MODES...: the goals.
# Exits 1 when plumb's figures for the program's own blocks are not exact.
table() {
	python3 - "$@" <<'PY'
import json, os, sys
work, what, modes = sys.argv[1], sys.argv[2], sys.argv[3:]
SHELLS = {"heaptrack", "sh", "dash", "bash", "env", "dirname", "basename", "readlink", "mkfifo", "rm",
          "uname", "sed", "cat", "which", "stat", "mkdir", "time", "hostname", ""}

def load(mode, name):
    p = os.path.join(work, f"{mode}.{name}.json")
    return json.load(open(p)) if os.path.exists(p) else None

def helpers(tree):
    # Processes of a tree other than the program, its shells and utilities.
    return [p for p in tree["procs"] if p["name"] not in SHELLS and p["hwm_kib"]
            and not p["name"].startswith("bench_malloc")]

def name(p):
    # comm, unless cut at 15 characters: then argv[0]
    return p["name"] if len(p["name"]) < 15 else p["cmd"].split(" ")[0]

def program(tree):
    return max((p["hwm_kib"] for p in tree["procs"] if p["name"].startswith("bench_malloc")),
               default=0)

def ok(v, limit):
    # "met" when v <= limit; "-" when there is no figure
    return "-" if v is None else "met" if v <= limit else "NOT met"

def exact(label, got, want):
    return f"{label} {got} (want {want}: {'PASS' if got == want else 'FAIL'})"

def mode_table(mode):
    race, rep, facts = load(mode, "race"), load(mode, "report"), load(mode, "facts")
    bare, bare_fp = race["bare"], race["bare fp"]
    print(f"  {'':<16} {'time':>8} {'x bare':>7} {'CPU':>8} {'x bare':>7} {'peak RSS':>11}"
          f" {'vs bare':>10}")
    for label, r in race.items():
        base = "bare fp" if " fp" in label else "bare"
        c, cb = cpu(mode, label), cpu(mode, base)
        cx = f"{c:7.3f}s {c / cb:6.2f}x" if c and cb else f"{'-':>8} {'-':>7}"
        print(f"  {label:<16} {r['seconds']:7.3f}s {r['seconds'] / race[base]['seconds']:6.2f}x"
              f" {cx} {r['peak_rss_mib']:7.1f} MiB"
              f" {r['peak_rss_mib'] - race[base]['peak_rss_mib']:+7.1f} MiB")
    print("  (medians; x bare: the fp rows against bare fp; CPU: user + system of the whole tree;"
          "\n   peak RSS: GNU time's, the largest process of the tree)")
    for tool in ("heaptrack", "plumb"):
        t = load(mode, f"tree-{tool}")
        if t:
            hs = ", ".join(f"{name(p)} {p['hwm_kib'] / 1024:.1f}" for p in helpers(t))
            print(f"  {tool} {'run ' if tool == 'plumb' else ''}tree, VmHWM: program"
                  f" {program(t) / 1024:.1f} MiB, helpers: {hs or 'none'} MiB;"
                  f" most at one time {t['max_sum_rss_kib'] / 1024:.1f} MiB")
    mb = lambda n: "-" if n is None else f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"
    print(f"  trace files: plumb {mb(facts.get('pmt_bytes'))}, heaptrack"
          f" {mb(facts['heaptrack_bytes'])}, massif {mb(facts['massif_bytes'])}")
    print("  reading them back: " + ", ".join(f"{k} {v['seconds']:.3f} s" for k, v in rep.items()))
    if "peak_bytes" not in facts:
        return True
    good = True
    want_p, want_l, want_n = facts["peak_bytes"], facts["leaked_bytes"], facts["leaked_blocks"]
    print(f"  bench_malloc computed: peak {want_p} B, leaked {want_l} B in {want_n} blocks")
    if "pl_peak_own" in facts:
        own = (facts["pl_peak_own"], facts["pl_leaked_own"], facts["pl_leaked_blocks_own"])
        good = own == (want_p, want_l, want_n)
        print("  plumb, its blocks (frame in bench_malloc.c): "
              + ", ".join([exact("peak", own[0], want_p), exact("leaked", own[1], want_l),
                           exact("blocks", own[2], want_n)]))
        extra = facts["pl_peak"] - facts["pl_peak_own"]
        print(f"  plumb, every block: peak {facts['pl_peak']} ({extra:+d}), leaked"
              f" {facts['pl_leaked']} ({facts['pl_leaked'] - want_l:+d}) in"
              f" {facts['pl_leaked_blocks']} blocks ({facts['pl_leaked_blocks'] - want_n:+d});"
              f" summary peak {facts['pl_summary']['peak'] if facts.get('pl_summary') else '-'}")
    hown = (facts["ht_peak_own"], facts["ht_leaked_own"])
    print("  heaptrack, its blocks: " + ", ".join([exact("peak", hown[0], want_p),
                                                    exact("leaked", hown[1], want_l)])
          + f"; every block: peak {facts['ht_peak']} ({facts['ht_peak'] - want_p:+d}),"
          f" leaked {facts['ht_leaked']} ({facts['ht_leaked'] - want_l:+d}) in"
          f" {facts['ht_leaked_blocks']} blocks")
    print(f"  massif: peak {facts['massif_peak']} ({facts['massif_peak'] - want_p:+d};"
          " its peak snapshot is approximate by design)")
    return good

def cpu(mode, label):
    # median user + system seconds of the runs of one contender
    p = os.path.join(work, f"{mode}.cpu.{label.replace(' ', '-')}")
    if not os.path.exists(p):
        return None
    v = sorted(float(a) + float(b) for a, b in (l.split() for l in open(p) if l.strip()))
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2 if v else None

def x(mode, name, base="bare"):
    race = load(mode, "race")
    if not race or name not in race:
        return None
    return race[name]["seconds"] / race[base]["seconds"]

def goals():
    print("\n== goals (ratios against bare, measured side by side)")
    have = any(load(m, "race") and "plumb" in load(m, "race") for m in modes)
    if not have:
        print("  plumb rows skipped: the goals cannot be judged yet")
    f = lambda v: "-" if v is None else f"{v:.3f}x"
    for m in modes:
        race = load(m, "race")
        if not race:
            continue
        peers = f"heaptrack {f(x(m, 'heaptrack'))}, massif {f(x(m, 'massif'))}"
        p, pf, pfu, ps = (x(m, "plumb"), x(m, "plumb fp", "bare fp"),
                          x(m, "plumb fp unwind", "bare fp"), x(m, "plumb sample"))
        if p is None:
            print(f"  {m}: {peers}")
            continue
        if m in ("churn", "live"):
            print(f"  {m}: plumb {f(p)} (goal <= 3x: {ok(p, 3)}; aim 2.5x: {ok(p, 2.5)});"
                  f" {peers}")
            print(f"  {m}, fp build: plumb unwind=fp {f(pfu)} (goal <= 2x: {ok(pfu, 2)}),"
                  f" default unwinder {f(pf)}")
        else:
            print(f"  {m}: plumb {f(p)}; {peers}")
        print(f"  {m}: --sample 512K {f(ps)} (goal <= 1.1x: {ok(ps, 1.1)})")
        facts = load(m, "facts")
        blocks = facts["peak_blocks"]
        budget = race["bare"]["peak_rss_mib"] + 64 * blocks / 2**20 + 8
        rss = race["plumb"]["peak_rss_mib"]
        print(f"  {m}: plumb peak RSS {rss:.1f} MiB (goal <= bare"
              f" {race['bare']['peak_rss_mib']:.1f} + 64 B x {blocks} blocks + 8 MiB ="
              f" {budget:.1f}: {ok(rss, budget)}); heaptrack {race['heaptrack']['peak_rss_mib']:.1f},"
              f" massif {race['massif']['peak_rss_mib']:.1f}")
    if "threads" in modes and "churn" in modes and x("threads", "plumb") and x("churn", "plumb"):
        r = x("threads", "plumb") / x("churn", "plumb")
        hr = x("threads", "heaptrack") / x("churn", "heaptrack")
        print(f"  two threads: plumb's slowdown {r:.2f}x its one-thread slowdown"
              f" (goal <= 1.25x: {ok(r, 1.25)}); heaptrack {hr:.2f}x")
        pin = load("pinned", "race")
        if pin:
            s = {k: v["seconds"] for k, v in pin.items()}
            r = (s["threads plumb"] / s["threads bare"]) / (s["churn plumb"] / s["churn bare"])
            print(f"  two threads, every run pinned to one CPU: {r:.2f}x the one-thread slowdown"
                  f" (goal <= 1.25x: {ok(r, 1.25)})")
        c = [cpu(m, l) for m in ("threads", "churn") for l in ("plumb", "bare")]
        if all(c):
            n = os.cpu_count()
            print(f"  two threads, in CPU time: {(c[0] / c[1]) / (c[2] / c[3]):.2f}x the one-thread"
                  f" ratio (on {n} CPUs one program thread leaves {n - 1} to the tracer's writer,"
                  f" two leave {max(n - 2, 0)}: the wall-clock ratio also counts that)")
    worst = []
    for m in modes:
        t = load(m, "tree-plumb")
        if t:
            worst += [(p["hwm_kib"] / 1024, name(p), m) for p in helpers(t)]
    hts = [(p["hwm_kib"] / 1024, name(p), m) for m in modes if load(m, "tree-heaptrack")
           for p in helpers(load(m, "tree-heaptrack"))]
    ht_worst = max(hts) if hts else None
    if worst:
        w = max(worst)
        print(f"  largest helper process of plumb memtrace run: {w[1]} {w[0]:.1f} MiB ({w[2]})"
              f" (goal <= 32 MiB: {ok(w[0], 32)})"
              + (f"; heaptrack's: {ht_worst[1]} {ht_worst[0]:.1f} MiB" if ht_worst else ""))
    elif ht_worst:
        print(f"  largest helper process of heaptrack: {ht_worst[1]} {ht_worst[0]:.1f} MiB")
    facts, rep = load("churn", "facts"), load("churn", "report")
    if facts and facts.get("pmt_bytes") is not None:
        mb = facts["pmt_bytes"] / 1e6
        print(f"  churn trace file: plumb {mb:.3f} MB (goal <= 10 MB: {ok(mb, 10)});"
              f" heaptrack {facts['heaptrack_bytes'] / 1e6:.2f} MB")
        r = rep["plumb memtrace report"]["seconds"]
        print(f"  plumb memtrace report on it: {r:.3f} s (goal < 1 s: {ok(r, 0.999)});"
              f" heaptrack_print {rep['heaptrack_print']['seconds']:.3f} s")
    return True

sys.exit(0 if (goals() if what == "goals" else mode_table(what)) else 1)
PY
}

status=0
if [ "${REPRINT:-0}" = 1 ]; then
	for mode in $MODES; do
		printf '\n== %s (the last run'"'"'s figures)\n' "$mode"
		table "$work" "$mode" || status=1
	done
	table "$work" goals $MODES || status=1
	exit $status
fi
for mode in $MODES; do
	printf '\n== %s: bench_malloc %s %s, %s frames (medians of %s interleaved runs)\n' \
		"$mode" "$mode" "$PAIRS" "$FRAMES" "$RUNS"
	"$prog" "$mode" "$PAIRS" >"$work/$mode.expect"
	pmt=$work/plumb-$mode.pmt
	ht=$work/heaptrack-$mode
	ms=$work/massif-$mode.out
	c=("bare=$prog $mode $PAIRS" "bare fp=$prog_fp $mode $PAIRS")
	if [ $have_plumb = 1 ]; then
		c+=("plumb=$(tracer PLUMB_MEMTRACE_OUTPUT="$pmt") $prog $mode $PAIRS 2>>$log"
			"plumb fp=$(tracer PLUMB_MEMTRACE_OUTPUT="$work/plumb-fp-$mode.pmt") $prog_fp $mode $PAIRS 2>>$log"
			"plumb fp unwind=$(tracer PLUMB_MEMTRACE_UNWIND=fp PLUMB_MEMTRACE_OUTPUT="$work/plumb-fpu-$mode.pmt") $prog_fp $mode $PAIRS 2>>$log"
			"plumb sample=$(tracer PLUMB_MEMTRACE_SAMPLE=$SAMPLE PLUMB_MEMTRACE_OUTPUT="$work/plumb-sample-$mode.pmt") $prog $mode $PAIRS 2>>$log"
			"plumb run=$plumb memtrace run --frames $FRAMES --output $work/plumb-run-$mode.pmt -- $prog $mode $PAIRS 2>>$log")
	fi
	c+=("heaptrack=heaptrack -o $ht $prog $mode $PAIRS 2>$work/heaptrack-$mode.err"
		"massif=valgrind --tool=massif --depth=$FRAMES --massif-out-file=$ms $prog $mode $PAIRS 2>>$log")
	# Each command under its own GNU time too: the CPU seconds (user + sys,
	# the whole tree) each run used, which the machine's load distorts less.
	rm -f "$work/$mode".cpu.*
	for i in "${!c[@]}"; do
		label=${c[$i]%%=*}
		c[$i]="$label=/usr/bin/time -q -f '%U %S' -a -o $work/$mode.cpu.${label// /-} ${c[$i]#*=}"
	done
	python3 "$race" --json "$work/$mode.race.json" "${c[@]}" >/dev/null
	htf=$(htfile "$ht")

	# The memory of each process of the trees, once each, outside the race.
	treepeak "$work/$mode.tree-heaptrack.json" "heaptrack -o $work/tree-ht-$mode $prog $mode $PAIRS 2>>$log"
	rm -f "$(htfile "$work/tree-ht-$mode")"
	if [ $have_plumb = 1 ]; then
		treepeak "$work/$mode.tree-plumb.json" \
			"$plumb memtrace run --frames $FRAMES --output $work/tree-plumb-$mode.pmt -- $prog $mode $PAIRS 2>>$log"
	fi

	# Reading the files back: the report each tool prints by default.
	r=()
	[ $have_plumb = 1 ] && r+=("plumb memtrace report=$plumb memtrace report $pmt")
	r+=("heaptrack_print=heaptrack_print $htf" "ms_print=ms_print $ms")
	python3 "$race" --json "$work/$mode.report.json" "${r[@]}" >/dev/null

	# The figures to check: bench_malloc's own against each tool's.
	{
		echo "{"
		sed 's/^\([a-z_]*\) \(.*\)$/"\1": \2,/' "$work/$mode.expect"
		printf '"heaptrack_bytes": %s, "massif_bytes": %s,\n' "$(stat -c %s "$htf")" "$(stat -c %s "$ms")"
		printf '"ht_peak": %s, "ht_peak_own": %s, "ht_leaked": %s, "ht_leaked_own": %s,\n' \
			"$(heaptrack_sum "$htf" peak)" "$(heaptrack_sum "$htf" peak bench_malloc.c)" \
			"$(heaptrack_sum "$htf" leaked)" "$(heaptrack_sum "$htf" leaked bench_malloc.c)"
		printf '"ht_leaked_blocks": %s,\n' \
			"$(awk '/leaked allocations:/ { n = $NF } END { print n + 0 }' "$work/heaptrack-$mode.err")"
		if [ $have_plumb = 1 ]; then
			printf '"pmt_bytes": %s, "pmt_run_bytes": %s,\n' "$(stat -c %s "$pmt")" \
				"$(stat -c %s "$work/plumb-run-$mode.pmt")"
			read -r pb _ < <(plumb_total "$pmt" peak)
			read -r pob _ < <(plumb_total "$pmt" peak '*bench_malloc.c')
			read -r eb en < <(plumb_total "$pmt" exit)
			read -r eob eon < <(plumb_total "$pmt" exit '*bench_malloc.c')
			printf '"pl_peak": %s, "pl_peak_own": %s, "pl_leaked": %s, "pl_leaked_blocks": %s,\n' \
				"$pb" "$pob" "$eb" "$en"
			printf '"pl_leaked_own": %s, "pl_leaked_blocks_own": %s,\n' "$eob" "$eon"
			"$plumb" memtrace report "$pmt" --json >"$work/$mode.plumb-report.json"
			python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["summary"]
print("\"pl_summary\": %s," % json.dumps(s))' "$work/$mode.plumb-report.json"
		fi
		printf '"massif_peak": %s\n' "$(awk -F= '/^mem_heap_B=/ { if ($2 > m) m = $2 } END { print m + 0 }' "$ms")"
		echo "}"
	} >"$work/$mode.facts.json"
	table "$work" "$mode" || status=1
done
# The two-thread goal again with every run pinned to one CPU, so that the
# one-thread run has no CPU the two-thread run lacks (unpinned, the tracer's
# writer has a CPU of its own beside one program thread, none beside two).
rm -f "$work/pinned.race.json"
if [ $have_plumb = 1 ] && [[ " $MODES " == *" churn "* && " $MODES " == *" threads "* ]]; then
	p=()
	for mode in churn threads; do
		p+=("$mode bare=taskset -c 0 $prog $mode $PAIRS"
			"$mode plumb=taskset -c 0 $(tracer PLUMB_MEMTRACE_OUTPUT="$work/pinned-$mode.pmt") $prog $mode $PAIRS 2>>$log")
	done
	python3 "$race" --json "$work/pinned.race.json" "${p[@]}" >/dev/null
fi
table "$work" goals $MODES || status=1
exit $status
