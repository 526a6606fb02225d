#!/usr/bin/env python3
"""summary.py - add up the test cases of one or more meson build dirs.

Reads each BUILD/meson-logs/testlog.json, counts the TAP cases every test
program printed ("ok", "not ok", "# SKIP"), and prints one closing line:
"N passed, N failed, N skipped".  A test program that failed without any
failing case of its own (a crash, a timeout) counts as one failure.
Exits 1 when anything failed or no test ran at all.
"""
import json
import re
import sys

CASE = re.compile(r"^(not ok|ok)\b(.*)$")


def count(log):
    passed = failed = skipped = 0
    failures = []
    for line in open(log, encoding="utf-8", errors="replace"):
        t = json.loads(line)
        p = f = s = 0
        for out in (t.get("stdout") or "").splitlines():
            m = CASE.match(out.strip())
            if not m:
                continue
            if re.search(r"#\s*skip", m.group(2), re.I):
                s += 1
            elif m.group(1) == "ok":
                p += 1
            else:
                f += 1
                failures.append(f"{t['name']}: {out.strip()}")
        if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and f == 0:
            f = 1
            failures.append(f"{t['name']}: {t.get('result')}")
        if p + f + s == 0 and t.get("result") == "OK":
            p = 1
        passed, failed, skipped = passed + p, failed + f, skipped + s
    return passed, failed, skipped, failures


def main(builds):
    total = [0, 0, 0]
    for b in builds:
        p, f, s, failures = count(f"{b}/meson-logs/testlog.json")
        for x in failures:
            print(f"FAILED {b}: {x}")
        total = [total[0] + p, total[1] + f, total[2] + s]
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] or total[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["build"]))
