#!/usr/bin/env python3
"""Soak: rsprobe attached for MINUTES to a target that allocates as fast as it
can, reporting rsprobe's memory over time and events delivered against lost.

  scripts/soak.py [--minutes N] [--threads T] [--interval S] [--rsprobe PATH]
                  [--fixtures DIR] [--ring-mb N]

The target is tests/fixtures/churn.rs (T threads making and dropping small
Strings flat out; it prints how many pairs it made). rsprobe runs with a live
view every S seconds into a file, which gives the events delivered and lost
so far; its RSS is read from /proc at the same times. At the end: rsprobe's
totals, the share of events lost, and the RSS trend (first and last third of
the run), which is what a leak would show. Needs root (BPF).
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return None


def last_counts(path):
    """(events, lost) from the last live-view snapshot written so far."""
    ev = lost = None
    try:
        text = open(path, errors="replace").read()
    except FileNotFoundError:
        return None, None
    for m in re.finditer(r"^events (\d+) \([\d.]+/s\)\s+lost (\d+)", text, re.M):
        ev, lost = int(m.group(1)), int(m.group(2))
    return ev, lost


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--ring-mb", type=int, default=32)
    ap.add_argument("--rsprobe", default=os.environ.get("RSPROBE", os.path.join(ROOT, "rsprobe")))
    ap.add_argument("--fixtures", default=os.environ.get("RSPROBE_FIXTURES",
                                                         os.path.join(ROOT, ".output", "fixtures")))
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.fixtures, "churn")):
        subprocess.check_call(["bash", os.path.join(ROOT, "tests", "build-fixtures.sh"),
                               a.fixtures])
    work = tempfile.mkdtemp(prefix="rsprobe-soak-")
    live, out = os.path.join(work, "live.txt"), os.path.join(work, "soak.json")
    secs = int(a.minutes * 60)
    # The target outlives the session by a margin: rsprobe ends it with -d.
    target = subprocess.Popen([os.path.join(a.fixtures, "churn"), str(a.threads),
                               str(secs + 120)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    liveout = open(live, "w")
    rs = subprocess.Popen([a.rsprobe, "-p", str(target.pid), "-d", str(secs), "-o", out,
                           "-i", str(a.interval), "--ring-mb", str(a.ring_mb)],
                          stdout=liveout, stderr=subprocess.PIPE, text=True)
    line = rs.stderr.readline()
    if "profiling pid" not in line:
        print("soak: rsprobe did not attach: %s%s" % (line, rs.stderr.read()), file=sys.stderr)
        target.kill()
        return 1
    t0 = time.time()
    samples = []
    print("%8s %10s %14s %12s" % ("t (s)", "RSS (MiB)", "events", "lost"))
    while rs.poll() is None:
        time.sleep(a.interval)
        r = rss_kib(rs.pid)
        ev, lost = last_counts(live)
        if r is None:
            break
        samples.append((time.time() - t0, r, ev, lost))
        print("%8.0f %10.1f %14s %12s" % (samples[-1][0], r / 1024, ev, lost), flush=True)
    rs.wait()
    target.send_signal(signal.SIGKILL)
    target.wait()
    d = json.load(open(out))
    t = d["totals"]
    print()
    print("captured %.0f s: %d allocs, %d frees, %d lost events (%.2f%% of allocs+frees+lost)"
          % (d["duration_ns"] / 1e9, t["allocs"], t["frees"], t["lost_events"],
             100.0 * t["lost_events"] / max(1, t["allocs"] + t["frees"] + t["lost_events"])))
    print("rate: %.0f allocs/s" % (t["allocs"] / (d["duration_ns"] / 1e9)))
    ev, lost = last_counts(live)
    if ev is not None:
        # With sampling, events carry a sample of the stacks; totals stay exact.
        print("ring buffer: %d events delivered, %d lost (last live view)" % (ev, lost))
    if len(samples) >= 3:
        third = max(1, len(samples) // 3)
        first = sum(s[1] for s in samples[:third]) / third / 1024
        last = sum(s[1] for s in samples[-third:]) / third / 1024
        print("rsprobe RSS: %.1f MiB in the first third, %.1f MiB in the last, max %.1f MiB"
              % (first, last, max(s[1] for s in samples) / 1024))
    print("live view and report in %s" % work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
