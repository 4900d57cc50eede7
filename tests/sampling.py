#!/usr/bin/env python3
"""Recording modes: --sample-bytes and the default (adaptive) mode.

Ground truth: the fixtures' counting allocator (totals, which every mode must
get exactly) and their constants (how many blocks of which size each site
allocates). Per-site figures under sampling are estimates: they are checked
against bounds derived from the variance of the estimator, stated below, wide
enough never to flake and narrow enough to catch a wrong weight.

Poisson sampling by bytes with mean interval N samples a block of s bytes with
probability p = 1 - exp(-s/N), independently of the others, and a sampled block
stands for w = 1/p blocks, rounded to a whole number at random (up with the
probability of the fraction). For n blocks of one size, the estimate of n has
variance n (1 - p) / p (sampling) plus at most n p / 4 (rounding). Tests allow
5 standard deviations: a false failure has a chance below 1e-6 per check.
"""
import json
import math
import os
import re
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import (RSPROBE, check, check_contract, eq, fixture,  # noqa: E402
                         fixture_const, needs_bpf, one_line_error, run, run_tests, tmp)

SIGMAS = 5


def profile(name, flags, outputs=("json",), tag=None):
    """Launch a fixture under rsprobe with flags; the JSON report and the fixture's counts."""
    tag = tag or name
    outs = {ext: tmp("%s.%s" % (tag, ext)) for ext in outputs}
    counts = tmp(tag + ".counts")
    if os.path.exists(counts):
        os.unlink(counts)
    args = [RSPROBE, "-q"] + list(flags)
    for p in outs.values():
        args += ["-o", p]
    r = run(args + ["--", fixture(name)], env={"RSPROBE_FIXTURE_COUNTS": counts})
    eq(r.returncode, 0, "rsprobe exit status (stderr: %s)" % r.stderr)
    d = json.load(open(outs["json"]))
    check_contract(d)
    truth = json.load(open(counts)) if os.path.exists(counts) else None
    return d, truth, outs


def check_totals(d, truth, what):
    check(truth, "%s: the fixture wrote its counts" % what)
    t = d["totals"]
    for k in ("allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed"):
        eq(t[k], truth[k], "%s: totals.%s against the counting allocator" % (what, k))
    eq(t["live_allocs"], truth["allocs"] - truth["frees"], what + ": live at end")
    eq(t["live_bytes"], truth["bytes_allocated"] - truth["bytes_freed"], what + ": live bytes")
    eq(t["lost_events"], 0, what + ": lost events")
    eq(t["sampled_full"], 0, what + ": sampled table never full")


def sites_of(d, fn):
    return [s for s in d["sites"] if s["function"] == fn]


def bound(n, p):
    """SIGMAS standard deviations of the estimate of n blocks sampled with probability p."""
    return SIGMAS * math.sqrt(n * (1 - p) / p + n * p / 4)


@needs_bpf
def test_sample_bytes_totals_exact():
    for name in ("ownership", "sites"):
        d, truth, _ = profile(name, ["--sample-bytes", "4096"], tag=name + "-sampled")
        m = d["mode"]
        eq(m["sampled"], True, name + ": mode.sampled")
        eq(m["all"], False, name + ": mode.all")
        eq(m["sample_bytes"], 4096, name + ": mode.sample_bytes")
        check(0 < m["sampled_fraction"] < 1, "%s: 0 < sampled_fraction = %r < 1"
              % (name, m["sampled_fraction"]))
        check_totals(d, truth, name + " --sample-bytes")


@needs_bpf
def test_site_estimates_within_bounds():
    n_interval = 4096
    d, truth, _ = profile("sites", ["--sample-bytes", str(n_interval)], tag="sites-est")
    expected_samples = 0.0
    for key in ("SMALL", "MEDIUM", "LARGE"):
        n = fixture_const("sites.rs", key + "_N")
        size = fixture_const("sites.rs", key + "_SIZE")
        fn = "sites::%s_site" % key.lower()
        p = -math.expm1(-size / n_interval)
        expected_samples += n * p
        ss = sites_of(d, fn)
        check(ss, "%s has a site" % fn)
        est = sum(s["allocs"] for s in ss)
        b = bound(n, p)
        check(abs(est - n) <= b, "%s: estimated %d allocations, truth %d, bound +-%.0f (%d sigma)"
              % (fn, est, n, b, SIGMAS))
        # Every block of a site has the site's size: bytes follow allocations exactly.
        eq(sum(s["bytes"] for s in ss), est * size, fn + ": bytes = allocations x size")
        # Freed where allocated, each one: frees and outcomes carry the same weights.
        eq(sum(s["frees"] for s in ss), est, fn + ": frees = allocations")
        eq(sum(s["outcomes"]["same"] for s in ss), est, fn + ": outcome same")
        for k in ("callee", "caller", "other", "cross_thread"):
            eq(sum(s["outcomes"][k] for s in ss), 0, fn + ": outcome " + k)
    # The fraction recorded: a sum of independent Bernoulli draws.
    total = truth["allocs"]
    frac = d["mode"]["sampled_fraction"]
    sd = math.sqrt(expected_samples)
    check(abs(frac * total - expected_samples) <= SIGMAS * sd + 3,
          "sampled %.0f allocations, expected %.0f +- %.0f" % (frac * total, expected_samples,
                                                              SIGMAS * sd))


@needs_bpf
def test_copy_mode_busy_program_loses_nothing():
    """--unwind copy sends 16 KiB of stack per recorded step, which userspace
    unwinds at tens of microseconds each: the default mode must keep that
    within what the ring holds and the consumer unwinds. sites allocates flat
    out: sampled, nothing lost, totals exact, and every recorded block has its
    free, in the function that allocated it (as the fixture does)."""
    d, truth, _ = profile("sites", ["--unwind", "copy"], tag="sites-copy")
    eq(d["stacks"]["method"], "copy", "unwinding method")
    eq(d["mode"]["sampled"], True, "a busy program is sampled")
    check_totals(d, truth, "sites, --unwind copy, default mode")
    for key in ("SMALL", "MEDIUM", "LARGE"):
        fn = "sites::%s_site" % key.lower()
        ss = sites_of(d, fn)
        est = sum(s["allocs"] for s in ss)
        eq(sum(s["frees"] for s in ss), est, fn + ": frees = allocations")
        eq(sum(s["outcomes"]["same"] for s in ss), est, fn + ": outcome same")
    check(sites_of(d, "sites::small_site"), "the most frequent site was recorded")


@needs_bpf
def test_ownership_outcomes_under_sampling():
    # A small interval: every case gets samples (P(none) < 1e-7 for each).
    d, truth, _ = profile("ownership", ["--sample-bytes", "256"], tag="ownership-256")
    check_totals(d, truth, "ownership --sample-bytes 256")
    cases = [("ownership::borrow_case", "same"), ("ownership::move_case", "callee"),
             ("ownership::produce", "caller"), ("ownership::zeroed_case", "same"),
             ("ownership::thread_case", "cross_thread")]
    for fn, outcome in cases:
        ss = sites_of(d, fn)
        allocs = sum(s["allocs"] for s in ss)
        check(allocs > 0, "%s sampled at least once" % fn)
        eq(sum(s["outcomes"][outcome] for s in ss), sum(s["frees"] for s in ss),
           "%s: every sampled free classified %s" % (fn, outcome))
        if outcome != "cross_thread":
            for k in ("same", "callee", "caller", "other"):
                if k != outcome:
                    eq(sum(s["outcomes"][k] for s in ss), 0, "%s: no %s outcome" % (fn, k))
    for s in sites_of(d, "ownership::move_case"):
        for dr in s["drop_sites"]:
            eq(dr["function"], "ownership::consume", "move_case's drop site")


@needs_bpf
def test_adaptive_samples_a_busy_program_totals_exact():
    d, truth, _ = profile("sites", [], tag="sites-default")
    m = d["mode"]
    eq(m["adaptive"], True, "default mode is adaptive")
    eq(m["all"], False, "mode.all")
    # sites makes 220k calls as fast as it can: recording them all costs
    # several times the trap, far beyond a 10% budget.
    eq(m["sampled"], True, "a busy program is sampled")
    check(m["sample_bytes_min"] > 0 and m["sample_bytes_max"] >= m["sample_bytes_min"],
          "intervals used are reported: %r" % m)
    check(0 < m["sampled_fraction"] < 1, "sampled_fraction %r" % m["sampled_fraction"])
    check_totals(d, truth, "sites, default mode")


def by_function(d):
    rows = {}
    for s in d["sites"]:
        r = rows.setdefault(s["function"], {"allocs": 0, "bytes": 0, "frees": 0, "live": 0,
                                            "reallocs": 0, "outcomes": {}})
        for k in ("allocs", "bytes", "frees", "live", "reallocs"):
            r[k] += s[k]
        for k, v in s["outcomes"].items():
            r["outcomes"][k] = r["outcomes"].get(k, 0) + v
    return rows


@needs_bpf
def test_default_equals_all_on_a_slow_program():
    dd, truth, _ = profile("slow", [], tag="slow-default")
    da, truth_all, _ = profile("slow", ["--all"], tag="slow-all")
    eq(dd["mode"]["sampled"], False, "slow program: never sampled in the default mode")
    eq(dd["mode"]["sampled_fraction"], 1.0, "slow program: every allocation recorded")
    check_totals(dd, truth, "slow, default mode")
    check_totals(da, truth_all, "slow, --all")
    for k in ("allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed", "live_allocs",
              "temporaries", "cross_thread", "outcomes"):
        eq(dd["totals"][k], da["totals"][k], "slow: totals.%s, default against --all" % k)
    eq(by_function(dd), by_function(da), "slow: per-function site figures, default against --all")
    rounds = fixture_const("slow.rs", "ROUNDS")
    r = by_function(dd).get("slow::round")
    check(r, "slow::round has sites")
    # A String and a Box each round, both dropped in the round.
    eq(r["allocs"], 2 * rounds, "slow::round allocations")
    eq(r["outcomes"]["same"], 2 * rounds, "slow::round: dropped where allocated")


@needs_bpf
def test_default_records_the_demo_exactly():
    demo = fixture("move_borrow")
    outs = []
    for flags in ([], ["--all"]):
        out = tmp("demo%s.json" % len(flags))
        r = run([RSPROBE, "-q"] + flags + ["-o", out, "--", demo])
        eq(r.returncode, 0, "rsprobe on the demo (stderr: %s)" % r.stderr)
        outs.append(json.load(open(out)))
    eq(outs[0]["mode"]["sampled"], False, "the demo is recorded exactly by default")
    for k in ("allocs", "frees", "bytes_allocated", "bytes_freed"):
        eq(outs[0]["totals"][k], outs[1]["totals"][k], "demo: totals.%s, default against --all" % k)


@needs_bpf
def test_estimates_marked_in_every_output():
    exts = ("json", "txt", "folded", "svg", "html", "pb.gz")
    d, _, outs = profile("sites", ["--sample-bytes", "4096"], outputs=exts, tag="marks")
    text = open(outs["txt"]).read()
    check("estimates (~)" in text, "text report says per-site figures are estimates")
    check(" ~" in text.split("Top sites")[1].split("\n", 3)[2],
          "text: the first site row carries ~")
    folded = open(outs["folded"]).read().splitlines()
    check(folded[0].startswith("# rsprobe: sampled"), "folded: a comment line first")
    check(all(l.rsplit(" ", 1)[1].isdigit() for l in folded[1:]), "folded: the rest are stacks")
    check('class="note"' in open(outs["svg"]).read(), "svg: a note")
    check("estimates" in open(outs["html"]).read(), "html: says estimates")
    raw = zlib.decompress(open(outs["pb.gz"], "rb").read(), 16 + zlib.MAX_WBITS)
    check(b"per-site figures are estimates" in raw, "pprof: a comment says estimates")
    # period 4096 (field 12, varint): tag 0x60, then 4096 as a varint 0x80 0x20.
    check(b"\x60\x80\x20" in raw, "pprof: period = 4096")


@needs_bpf
def test_live_view_shows_the_interval():
    out = tmp("live.json")
    r = run([RSPROBE, "-q", "-i", "0.2", "--sample-bytes", "64", "-o", out, "--",
             fixture("slow")])
    eq(r.returncode, 0, "rsprobe -i (stderr: %s)" % r.stderr)
    check("mode --sample-bytes: sampling one per 64 B allocated" in r.stdout,
          "live view: the interval in force: %r" % r.stdout[:600])
    check(re.search(r"recording ~[0-9.]+% of the traps' cost", r.stdout),
          "live view: the estimated cost of recording")
    check(re.search(r"^ +\d+ .* ~\d+ ", r.stdout, re.M), "live view: ~ on site rows")
    r = run([RSPROBE, "-q", "-i", "0.2", "-o", out, "--", fixture("slow")])
    eq(r.returncode, 0, "rsprobe -i, default mode (stderr: %s)" % r.stderr)
    check("mode adaptive: every allocation recorded, recording ~" in r.stdout
          and "(budget 10%)" in r.stdout, "live view: adaptive, recording all: %r" % r.stdout[:600])


def test_mode_usage_errors():
    one_line_error(run([RSPROBE, "--all", "--sample-bytes", "4096", "-p", "1"]), 2,
                   "cannot be combined")
    one_line_error(run([RSPROBE, "--sample-bytes", "0", "-p", "1"]), 2, "--sample-bytes")
    one_line_error(run([RSPROBE, "--sample-bytes", "x", "-p", "1"]), 2, "--sample-bytes")
    one_line_error(run([RSPROBE, "--budget", "0", "-p", "1"]), 2, "--budget")
    out = run([RSPROBE, "--help"]).stdout
    for opt in ("--sample-bytes N", "--budget PCT", "--all"):
        check(opt in out, "--help lists " + opt)


TESTS = [
    test_mode_usage_errors,
    test_sample_bytes_totals_exact,
    test_site_estimates_within_bounds,
    test_ownership_outcomes_under_sampling,
    test_adaptive_samples_a_busy_program_totals_exact,
    test_copy_mode_busy_program_loses_nothing,
    test_default_equals_all_on_a_slow_program,
    test_default_records_the_demo_exactly,
    test_estimates_marked_in_every_output,
    test_live_view_shows_the_interval,
]


def main():
    return run_tests(TESTS, "sampling", sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
