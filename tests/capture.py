#!/usr/bin/env python3
"""One capture core serving many processes over time.

  many      -f over a long run of short-lived programs: more objects in all
            than the unwind table holds, more processes than object-table
            slots; totals exact, every stack complete, first to last
  knob      RSPROBE_UNWIND_ROWS refused when it is not a number of rows

The ground truth is the fixtures' own counting allocator (each program
writes its counts at exit), and the sequence of programs the test runs.
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import (RSPROBE, check, eq, fixture, needs_bpf, one_line_error, run,  # noqa: E402
                         run_tests, tmp, check_contract)

ROWS_RE = re.compile(r"unwind rows: (\d+) for (\S+) at")
STATS_RE = re.compile(r"unwind rows: (\d+) loaded in all, (\d+) in use at most, (\d+) at the end, "
                      r"of (\d+)")


def distinct_copies(n):
    """n copies of a counting fixture that are n objects (build IDs told apart)."""
    src = fixture("ownership")
    note = subprocess.run(["readelf", "-n", src], capture_output=True, text=True).stdout
    bid = bytes.fromhex(note.split("Build ID:")[1].split()[0])
    data = open(src, "rb").read()
    eq(data.count(bid), 1, "the build ID appears once in %s" % src)
    d = tmp("many-objects")
    os.makedirs(d, exist_ok=True)
    paths = []
    for k in range(n):
        p = os.path.join(d, "own-%d" % k)
        open(p, "wb").write(data.replace(bid, bytes([k + 1, 0xee]) + bid[2:]))
        shutil.copymode(src, p)
        paths.append(os.path.realpath(p))
    return paths


@needs_bpf
def test_many_short_lived_programs_reuse_rows_and_slots():
    """-f -- sh -c 'P0; P1; ...; P70; sleep; P0': 71 short-lived programs,
    each of 6 distinct objects in turn, one at a time. The unwind table is
    made (RSPROBE_UNWIND_ROWS) to hold the shell's objects and one program's
    plus half of another's: without giving rows back, the second program
    would already unwind with frame pointers. And 71 programs are more than
    the 64 object-table slots. Each program's rows and slot are given back
    when it exits and reused by the next: the totals are exactly the sum of
    all 71 programs' own counts, every stack is complete (the last programs'
    as the first's), no table is ever full, and the rows loaded over the run
    are many times the table. While the shell sleeps, no target maps any of
    the programs: their uprobes are removed; the last program, the first
    again, is probed again and counted exactly. Before, a capture never gave
    rows or slots back: past 63 processes none had tables of its own."""
    copies = distinct_copies(6)
    n = 71
    counts = [tmp("many-%d.counts" % i) for i in range(n + 1)]
    for c in counts:
        if os.path.exists(c):
            os.unlink(c)

    # The rows of the shell's objects and of one program, from a run of one.
    cal = run([RSPROBE, "-v", "-f", "--all", "-o", tmp("many-cal.json"), "--", "sh", "-c",
               "RSPROBE_FIXTURE_COUNTS=%s %s" % (counts[n], copies[0])], timeout=600)
    eq(cal.returncode, 0, "calibration run (stderr: %s)" % cal.stderr[-2000:])
    rows = {p: int(r) for r, p in ROWS_RE.findall(cal.stderr)}
    check(copies[0] in rows, "rows of %s: %r" % (copies[0], rows))
    one = rows[copies[0]]
    peak1 = int(STATS_RE.search(cal.stderr).group(2))
    capacity = peak1 + one // 2

    script = "; ".join("RSPROBE_FIXTURE_COUNTS=%s %s" % (counts[i], copies[i % 6])
                       for i in range(n - 1))
    script += "; sleep 4; RSPROBE_FIXTURE_COUNTS=%s %s" % (counts[n - 1], copies[0])
    out = tmp("many.json")
    r = run([RSPROBE, "-v", "-f", "--all", "-o", out, "--", "sh", "-c", script],
            env={"RSPROBE_UNWIND_ROWS": str(capacity)}, timeout=1200)
    eq(r.returncode, 0, "rsprobe exit (stderr: %s)" % r.stderr[-3000:])
    eq(r.stdout.count("ownership fixture done"), n, "every program ran")
    truth = [json.load(open(counts[i])) for i in range(n)]
    d = json.load(open(out))
    check_contract(d)
    t = d["totals"]
    for k in ("allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed"):
        eq(t[k], sum(x[k] for x in truth), "totals.%s: the %d programs' own counts" % (k, n))
    eq(t["lost_events"], 0, "lost events")
    eq(t["unknown_frees"], 0, "unknown frees (each program seen from its first instruction)")
    eq(t["live_allocs"], sum(x["allocs"] - x["frees"] for x in truth), "live at the end")
    st = d["stacks"]
    check(st["taken"] > 0, "stacks taken: %r" % st)
    eq(st["complete"], st["taken"], "every stack complete: %r" % st)
    eq(st["dwarf"], st["taken"], "every stack walked with the tables: %r" % st)
    check("unwind tables full" not in r.stderr, "no table full")
    check(not any("table" in w and "full" in w for w in d["warnings"]),
          "no warning of full tables: %r" % d["warnings"])
    m = STATS_RE.search(r.stderr)
    check(m, "the rows' figures are said with -v")
    loaded, peak, _, cap = map(int, m.groups())
    eq(cap, capacity, "the table's size: RSPROBE_UNWIND_ROWS")
    check(loaded >= peak1 + (n - 1) * one, "rows loaded over the run (%d): at least the shell's "
          "and %d programs' (%d + %d x %d)" % (loaded, n, peak1 - one, n, one))
    check(loaded > 10 * cap, "rows loaded (%d) many times the table (%d)" % (loaded, cap))
    check(peak <= cap, "rows in use at most (%d) within the table (%d)" % (peak, cap))
    comms = [x["comm"] for x in d["targets"]]
    eq(sum(1 for c in comms if c.startswith("own-")), n, "every program is a target: %r" % comms)
    eq(set(x["state"] for x in d["targets"]), {"exited"}, "every target exited")
    for p in copies:
        check("uprobes on %s removed" % p in r.stderr, "%s's uprobes removed while no target "
              "mapped it" % p)


def test_unwind_rows_knob_refused():
    for v in ("", "abc", "0", "-5", "12x", "99999999999"):
        r = run([RSPROBE, "-o", tmp("knob.json"), "--", "true"], env={"RSPROBE_UNWIND_ROWS": v})
        one_line_error(r, 1, "RSPROBE_UNWIND_ROWS=%s: not a number of rows" % v)


TESTS = [
    test_unwind_rows_knob_refused,
    test_many_short_lived_programs_reuse_rows_and_slots,
]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS, "capture", sys.argv[1:]))
