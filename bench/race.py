#!/usr/bin/env python3
"""race.py - time commands side by side: interleaved runs, medians, ratios.

    race.py [--runs N] [--title T] LABEL=COMMAND [LABEL=COMMAND ...]

Each COMMAND is run by /bin/sh with stdout to /dev/null unless the command
redirects it; the runs are interleaved (A B C A B C ...) so that the
machine's noise falls on every contender alike.  For each it prints the
median wall time, the median peak RSS (GNU time's: the largest process),
and the ratio of its time to the first contender's.  Exits 1 if any run
fails.  With --json FILE the medians are also written as JSON.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd):
    # GNU time measures the peak RSS: a child forked from this Python would
    # start out with Python's own pages and report those.
    with tempfile.NamedTemporaryFile("r") as f:
        t0 = time.perf_counter()
        status = subprocess.call(["/usr/bin/time", "-q", "-f", "%M", "-o", f.name,
                                  "/bin/sh", "-c", cmd], stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        if status != 0:
            sys.exit(f"race.py: failed (status {status}): {cmd}")
        return wall, int(f.read().split()[-1]) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "5")))
    ap.add_argument("--title", default="")
    ap.add_argument("--json")
    ap.add_argument("contenders", nargs="+")
    a = ap.parse_args()
    labels, cmds = [], []
    for c in a.contenders:
        label, _, cmd = c.partition("=")
        labels.append(label)
        cmds.append(cmd)
    times = {l: [] for l in labels}
    rss = {l: [] for l in labels}
    for _ in range(a.runs):
        for label, cmd in zip(labels, cmds):
            w, m = run(cmd)
            times[label].append(w)
            rss[label].append(m)
    base = statistics.median(times[labels[0]])
    if a.title:
        print(f"  {a.title}")
    out = {}
    for label in labels:
        t = statistics.median(times[label])
        m = statistics.median(rss[label])
        out[label] = {"seconds": t, "peak_rss_mib": m}
        print(f"    {label:<28} {t:8.3f} s  {m:8.1f} MiB  x{t / base:5.2f} time of {labels[0]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
