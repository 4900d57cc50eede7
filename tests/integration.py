#!/usr/bin/env python3
"""Integration tests: rsprobe attached for real to Rust programs built here.

Expected values come from the programs themselves (their counting allocator,
the constants that fix how often each case runs), never from rsprobe's output.
Tests that need BPF skip with a reason on a machine without it, and fail
instead when CI is set.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RSPROBE = os.environ.get("RSPROBE", os.path.join(ROOT, "rsprobe"))
FIX = os.environ.get("RSPROBE_FIXTURES", os.path.join(ROOT, ".output", "fixtures"))
TMP = tempfile.mkdtemp(prefix="rsprobe-test-", dir=os.environ.get("RSPROBE_TMP"))
IN_CI = bool(os.environ.get("CI"))


class Skip(Exception):
    pass


def bpf_available():
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel without BTF"
    if not os.path.exists("/sys/bus/event_source/devices/uprobe"):
        return "kernel without uprobe PMU"
    return None


NO_BPF = bpf_available()


def needs_bpf(fn):
    def wrapped():
        if NO_BPF:
            raise Skip("needs BPF: " + NO_BPF)
        fn()
    wrapped.__name__ = fn.__name__
    return wrapped


def fixture(name):
    return os.path.join(FIX, name)


def fixture_const(src, name):
    """A constant from a fixture's source: the ground truth for how often a case runs."""
    text = open(os.path.join(HERE, "fixtures", src)).read()
    m = re.search(r"pub const %s: usize = (\d+);" % name, text)
    assert m, "constant %s not found in %s" % (name, src)
    return int(m.group(1))


def run(args, env=None, timeout=120, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(args, env=e, timeout=timeout, capture_output=True, text=True, **kw)


def tmp(name):
    return os.path.join(TMP, name)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, expected %r" % (what, got, want))


def one_line_error(r, code, needle):
    eq(r.returncode, code, "exit status (stderr: %r)" % r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    eq(len(lines), 1, "stderr lines: %r" % r.stderr)
    check(needle in lines[0], "%r not in %r" % (needle, lines[0]))
    check(lines[0].startswith("rsprobe: "), "message names the tool: %r" % lines[0])


# ---------------------------------------------------------------- contract

CONTRACT = {
    "top": ["schema", "rsprobe_version", "mode", "target", "duration_ns", "totals", "sites",
            "functions"],
    "mode": ["all", "sample_bytes", "sampled", "sampled_fraction", "source", "source_reason"],
    "target": ["pid", "comm", "exe"],
    "totals": ["allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed", "live_allocs",
               "live_bytes", "unknown_frees", "lost_events", "peak_live_bytes",
               "peak_live_allocs", "peak_ns"],
    "site": ["id", "function", "via", "stack", "allocs", "bytes", "frees", "reallocs", "live",
             "live_bytes", "lifetime_ns", "outcomes", "temporaries", "drop_sites"],
    "frame": ["function", "module", "offset", "file", "line", "inlined"],
    "lifetime": ["p50", "p90", "p99", "max", "log2_histogram"],
    "outcomes": ["same", "callee", "caller", "other", "cross_thread"],
    "drop": ["function", "frees", "outcome", "stack"],
    "function": ["function", "allocs", "frees", "bytes_allocated", "bytes_freed"],
}


def has_keys(obj, keys, what):
    missing = [k for k in keys if k not in obj]
    check(not missing, "%s lacks contract keys %s" % (what, missing))


def check_contract(d):
    has_keys(d, CONTRACT["top"], "report")
    eq(d["schema"], 1, "schema")
    has_keys(d["mode"], CONTRACT["mode"], "mode")
    has_keys(d["target"], CONTRACT["target"], "target")
    has_keys(d["totals"], CONTRACT["totals"], "totals")
    for s in d["sites"]:
        has_keys(s, CONTRACT["site"], "site")
        has_keys(s["lifetime_ns"], CONTRACT["lifetime"], "lifetime_ns")
        has_keys(s["outcomes"], CONTRACT["outcomes"], "outcomes")
        for f in s["stack"]:
            has_keys(f, CONTRACT["frame"], "frame")
        for dr in s["drop_sites"]:
            has_keys(dr, CONTRACT["drop"], "drop site")
            check(dr["outcome"] in ("same", "callee", "caller", "other"), dr["outcome"])
        for lb, n in s["lifetime_ns"]["log2_histogram"]:
            check(lb == 0 or lb & (lb - 1) == 0, "bucket bound %d is a power of two" % lb)
        eq(sum(n for _, n in s["lifetime_ns"]["log2_histogram"]), s["frees"],
           "histogram counts = frees of site %d" % s["id"])
    for f in d["functions"]:
        has_keys(f, CONTRACT["function"], "function")


def profile_launch(name, args=(), extra=(), env=None):
    out = tmp(name + ".json")
    counts = tmp(name + ".counts")
    if os.path.exists(counts):
        os.unlink(counts)
    r = run([RSPROBE, "--all", "-o", out] + list(extra) + ["--", fixture(name)] + list(args),
            env=dict(env or {}, RSPROBE_FIXTURE_COUNTS=counts))
    eq(r.returncode, 0, "rsprobe exit status (stderr: %s)" % r.stderr)
    d = json.load(open(out))
    check_contract(d)
    truth = json.load(open(counts)) if os.path.exists(counts) else None
    return r, d, truth


def sites_of(d, fn):
    return [s for s in d["sites"] if s["function"] == fn]


def func_row(d, fn):
    rows = [f for f in d["functions"] if f["function"] == fn]
    check(rows, "function %s in the function table" % fn)
    return rows[0]


# ---------------------------------------------------------------- tests: CLI

def test_help_and_version():
    r = run([RSPROBE, "--help"])
    eq(r.returncode, 0, "--help exit")
    for opt in ("-p, --pid", "-d, --duration", "-o, --output", "--all", "--top", "-v", "-q"):
        check(opt in r.stdout, "--help mentions %s" % opt)
    r = run([RSPROBE, "-V"])
    eq(r.returncode, 0, "-V exit")
    check(r.stdout.startswith("rsprobe "), r.stdout)


def test_usage_errors():
    cases = [
        ([], "nothing to profile"),
        (["--bogus"], "unknown option --bogus"),
        (["-x"], "unknown option -x"),
        (["-p"], "needs a value"),
        (["-p", "abc"], "-p: expected"),
        (["-p", "0"], "-p: expected a process ID"),
        (["-p", "1", "--", "true"], "either -p PID or a command"),
        (["-d", "soon", "-p", "1"], "-d: expected a positive number"),
        (["-d", "-3", "-p", "1"], "-d: expected a positive number"),
        (["--top", "x", "-p", "1"], "--top: expected"),
        (["-o", "report.xyz", "-p", "1"], "unknown format"),
        (["--ring-mb", "0", "-p", "1"], "--ring-mb"),
    ]
    for args, needle in cases:
        one_line_error(run([RSPROBE] + args), 2, needle)


def test_not_root():
    if os.geteuid() != 0:
        raise Skip("needs root to drop privileges")
    r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
             RSPROBE, "-p", "1"])
    one_line_error(r, 1, "needs root, or CAP_BPF and CAP_PERFMON")


def test_no_btf():
    if os.geteuid() != 0:
        raise Skip("privileges are checked first")
    r = run([RSPROBE, "-p", "1"], env={"RSPROBE_BTF_PATH": "/nonexistent/vmlinux"})
    one_line_error(r, 1, "CONFIG_DEBUG_INFO_BTF")


@needs_bpf
def test_no_such_pid():
    one_line_error(run([RSPROBE, "-p", "4194303"]), 1, "no such process: 4194303")


@needs_bpf
def test_not_rust():
    r = run([RSPROBE, "--source", "rust", "--", "/bin/true"])
    one_line_error(r, 1, "no Rust allocator symbols")
    check("try --libc" in r.stderr, "suggests --libc")
    check("/true" in r.stderr, "names the binary")


@needs_bpf
def test_auto_refuses_non_rust():
    """auto refuses a program with no Rust code in any object, in one line that
    names it and suggests --libc, before anything runs or is attached."""
    marker = tmp("not-rust-ran")
    if os.path.exists(marker):
        os.unlink(marker)
    r = run([RSPROBE, "--", "/bin/sh", "-c", "touch " + marker])
    one_line_error(r, 1, "not a Rust program")
    check("--libc" in r.stderr and os.path.realpath("/bin/sh") in r.stderr,
          "names it, suggests --libc: %r" % r.stderr)
    check(not os.path.exists(marker), "the command never ran")
    # Attached: a C program (sleep) is refused and left alone.
    p = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.2)
        r = run([RSPROBE, "-p", str(p.pid)])
        one_line_error(r, 1, "not a Rust program")
        check(("process %d (sleep" % p.pid) in r.stderr and "--libc" in r.stderr,
              "names the process, suggests --libc: %r" % r.stderr)
        check(p.poll() is None, "sleep keeps running")
    finally:
        p.kill()
        p.wait()


@needs_bpf
def test_libc_on_non_rust():
    out = tmp("true.json")
    r = run([RSPROBE, "-q", "--libc", "-o", out, "--", "/bin/true"])
    eq(r.returncode, 0, "exit status (stderr: %s)" % r.stderr)
    d = json.load(open(out))
    check_contract(d)
    eq(d["mode"]["source"], "libc", "mode.source")
    check("--source libc" in d["mode"]["source_reason"] and
          "libc.so" in d["mode"]["source_reason"], "the reason names the libc: %s"
          % d["mode"]["source_reason"])


@needs_bpf
def test_command_not_found():
    one_line_error(run([RSPROBE, "--", "/nonexistent/program"]), 1, "command not found")


@needs_bpf
def test_unwritable_output_checked_first():
    marker = tmp("ran-marker")
    r = run([RSPROBE, "-o", "/nonexistent-dir/out.json", "--", fixture("exitcode-fp"),
             "touch", marker])
    one_line_error(r, 1, "cannot write /nonexistent-dir/out.json")
    check(not os.path.exists(marker), "the command did not run")


@needs_bpf
def test_failed_session_keeps_existing_output():
    out = tmp("keep.json")
    open(out, "w").write("previous report\n")
    r = run([RSPROBE, "-o", out, "-p", "4194303"])
    eq(r.returncode, 1, "exit status")
    eq(open(out).read(), "previous report\n", "existing file untouched")
    fresh = tmp("fresh.json")
    run([RSPROBE, "-o", fresh, "-p", "4194303"])
    check(not os.path.exists(fresh), "no empty file left behind")


# ---------------------------------------------------------------- tests: launch

# The ownership fixture as users build it (no frame pointers), with frame
# pointers, and with debug info (inline frames): the same answers from each.
OWNERSHIP_VARIANTS = ("ownership", "ownership-fp", "ownership-dbg")


def check_totals_exact(name):
    r, d, truth = profile_launch(name)
    check(truth, "the fixture wrote its counts")
    t = d["totals"]
    for k in ("allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed"):
        eq(t[k], truth[k], "%s: totals.%s against the counting allocator" % (name, k))
    eq(t["lost_events"], 0, "lost events")
    eq(t["unknown_frees"], 0, "unknown frees (launch mode sees every birth)")
    eq(t["live_allocs"], truth["allocs"] - truth["frees"], "live at end")
    eq(d["mode"]["source"], "rust", "mode.source")
    eq(d["mode"]["all"], True, "mode.all")
    check("ownership fixture done" in r.stdout, "the program's stdout passes through")
    eq(sum(s["allocs"] for s in d["sites"]), t["allocs"], "site allocs add up")
    eq(sum(f["allocs"] for f in d["functions"]), t["allocs"], "function allocs add up")
    eq(sum(f["frees"] for f in d["functions"]), t["frees"], "function frees add up")
    return d


@needs_bpf
def test_launch_totals_exact():
    for name in OWNERSHIP_VARIANTS:
        check_totals_exact(name)


def check_outcomes(name, d):
    n_borrow = fixture_const("ownership.rs", "BORROW_N")
    n_move = fixture_const("ownership.rs", "MOVE_N")
    n_ret = fixture_const("ownership.rs", "RETURN_N")
    n_thread = fixture_const("ownership.rs", "THREAD_N")
    n_zero = fixture_const("ownership.rs", "ZEROED_N")
    n_grow = fixture_const("ownership.rs", "GROW_N")

    def total(fn, key):
        return sum(s[key] for s in sites_of(d, fn))

    def outcome(fn, key):
        return sum(s["outcomes"][key] for s in sites_of(d, fn))

    def what(s):
        return "%s: %s" % (name, s)

    # Borrowed: allocated and dropped by borrow_case itself.
    eq(total("ownership::borrow_case", "allocs"), n_borrow, what("borrow_case allocs"))
    eq(outcome("ownership::borrow_case", "same"), n_borrow, what("borrow_case: same"))
    eq(func_row(d, "ownership::borrow_case")["frees"], n_borrow, what("borrow_case frees"))
    # Moved into a callee: allocated in move_case, dropped inside consume.
    eq(total("ownership::move_case", "allocs"), n_move, what("move_case allocs"))
    eq(outcome("ownership::move_case", "callee"), n_move, what("move_case: callee"))
    eq(func_row(d, "ownership::consume")["frees"], n_move, what("consume frees"))
    eq(func_row(d, "ownership::move_case")["frees"], 0, what("move_case frees nothing"))
    for s in sites_of(d, "ownership::move_case"):
        for dr in s["drop_sites"]:
            eq(dr["function"], "ownership::consume", what("move_case's drop site"))
    # Returned to the caller: produce allocates, return_case drops.
    eq(total("ownership::produce", "allocs"), n_ret, what("produce allocs"))
    eq(outcome("ownership::produce", "caller"), n_ret, what("produce: caller"))
    eq(func_row(d, "ownership::return_case")["frees"], n_ret, what("return_case frees"))
    # Sent to another thread.
    eq(total("ownership::thread_case", "allocs"), n_thread, what("thread_case allocs"))
    eq(outcome("ownership::thread_case", "cross_thread"), n_thread,
       what("thread_case: cross_thread"))
    # __rust_alloc_zeroed, dropped in place.
    eq(total("ownership::zeroed_case", "allocs"), n_zero, what("zeroed_case allocs"))
    eq(outcome("ownership::zeroed_case", "same"), n_zero, what("zeroed_case: same"))
    # Growth by realloc: one allocation per call, reallocated several times.
    grow = sites_of(d, "ownership::grow_case")
    eq(sum(s["allocs"] for s in grow), n_grow, what("grow_case allocs"))
    check(sum(s["reallocs"] for s in grow) >= 2 * n_grow, what("grow_case reallocs repeatedly"))
    eq(sum(s["growth"]["grown_allocs"] for s in grow), n_grow, what("grow_case grown"))


@needs_bpf
def test_ownership_outcomes():
    for name in OWNERSHIP_VARIANTS:
        _, d, _ = profile_launch(name)
        check_outcomes(name, d)


def chain_of(stack):
    """Physical frames' function names, innermost first."""
    return [f["function"] for f in stack if not f["inlined"]]


@needs_bpf
def test_complete_stacks_without_frame_pointers():
    check_golden_stacks([], "dwarf")


def check_golden_stacks(extra, method):
    _, d, _ = profile_launch("ownership", extra=extra)
    st = d["stacks"]
    eq(st["method"], method, "unwinding method")
    eq(st["taken"], st["dwarf"], "every stack unwound with CFI")
    check(st["complete"] >= 0.99 * st["taken"],
          "%d of %d stacks reach the outermost frame" % (st["complete"], st["taken"]))
    # Golden chains: the fixture's call chains, in order, up to _start.
    for fn, chain in (("ownership::move_case", ["ownership::move_case", "ownership::main"]),
                      ("ownership::produce", ["ownership::produce", "ownership::return_case",
                                              "ownership::main"])):
        for s in sites_of(d, fn):
            names = chain_of(s["stack"])
            i = names.index(chain[0])
            eq(names[i:i + len(chain)], chain, "%s's stack" % fn)
            eq(names[-1], "_start", "%s's stack ends at _start" % fn)
    # Thread stacks end at the thread's start (clone3).
    for s in sites_of(d, "ownership::thread_case"):
        for dr in s["drop_sites"]:
            check(any("thread_start" in f["function"] for f in dr["stack"]),
                  "the receiving thread's stack reaches its entry: %s" % chain_of(dr["stack"]))


@needs_bpf
def test_copy_unwinding_forced():
    """--unwind copy (the path for kernels without bpf_loop), forced here:
    the same golden chains and >= 99% complete stacks on the no-frame-pointer
    build, and the ownership outcomes the fixture counts, on every build."""
    check_golden_stacks(["--unwind", "copy"], "copy")
    for name in OWNERSHIP_VARIANTS:
        _, d, _ = profile_launch(name, extra=["--unwind", "copy"])
        eq(d["stacks"]["method"], "copy", name + ": unwinding method")
        eq(d["totals"]["lost_events"], 0, name + ": events lost")
        check_outcomes(name, d)


@needs_bpf
def test_inline_frames_with_debug_info():
    _, d, _ = profile_launch("ownership-dbg")
    for s in sites_of(d, "ownership::move_case"):
        eq(s["via"], "<alloc::string::String as core::convert::From<&str>>::from",
           "via names the inlined std API")
        inl = [f for f in s["stack"] if f["inlined"]]
        check(inl, "inlined frames present")
        user = [f for f in s["stack"] if f["function"] == "ownership::move_case"]
        check(user and user[0]["file"].endswith("tests/fixtures/ownership.rs") and
              user[0]["line"] > 0, "file and line of the user frame: %r" % user[:1])
    for s in sites_of(d, "ownership::thread_case"):
        eq(s["via"], "alloc::boxed::Box<T>::new", "Box::new as via")


@needs_bpf
def test_stripped_binary_with_libc():
    out = tmp("stripped.json")
    counts = tmp("stripped.counts")
    r = run([RSPROBE, "-q", "-o", out, "--", fixture("ownership-stripped")],
            env={"RSPROBE_FIXTURE_COUNTS": counts})
    eq(r.returncode, 0, "exit (stderr: %s)" % r.stderr)
    d = json.load(open(out))
    check_contract(d)
    truth = json.load(open(counts))
    eq(d["mode"]["source"], "libc", "a stripped binary is profiled at the C allocator")
    t = d["totals"]
    # libc sees the program's allocations plus its own and the runtime's.
    check(t["allocs"] >= truth["allocs"], "libc saw at least the program's allocations")
    eq(t["lost_events"], 0, "lost events")
    exe_frames = [f for s in d["sites"] for f in s["stack"]
                  if f["module"] and f["module"].endswith("ownership-stripped")]
    check(exe_frames, "frames in the stripped executable")
    for f in exe_frames:
        check(f["function"].startswith("ownership-stripped+0x") and len(f["build_id"]) == 40,
              "unsymbolized frames keep module + build ID + offset: %r" % f)


def build_id_debug_dir(exe, name):
    """A debug directory holding exe's symbols as a separate build-ID file, as -dbgsym ships."""
    r = run(["readelf", "-n", exe])
    m = re.search(r"Build ID: ([0-9a-f]+)", r.stdout)
    check(m, "%s has a build ID" % exe)
    bid = m.group(1)
    root = tmp(name)
    os.makedirs(os.path.join(root, ".build-id", bid[:2]), exist_ok=True)
    r = run(["objcopy", "--only-keep-debug", exe,
             os.path.join(root, ".build-id", bid[:2], bid[2:] + ".debug")])
    eq(r.returncode, 0, "objcopy --only-keep-debug (stderr: %s)" % r.stderr)
    return root


OWNERSHIP_FNS = ["borrow_case", "move_case", "consume", "produce", "return_case", "thread_case",
                 "zeroed_case", "grow_case"]


def outcomes_by_function(d):
    got = {}
    for fn in OWNERSHIP_FNS:
        sites = sites_of(d, "ownership::" + fn)
        got[fn] = {k: sum(s["outcomes"][k] for s in sites) for k in CONTRACT["outcomes"]}
        got[fn]["allocs"] = sum(s["allocs"] for s in sites)
    return got


@needs_bpf
def test_stripped_with_build_id_debug_file():
    # The unstripped build and its stripped copy with the symbols in a separate
    # build-ID file, on the same layer: the same outcomes for every case.
    dbg = build_id_debug_dir(fixture("ownership"), "debug-root")
    _, plain, _ = profile_launch("ownership", extra=["--libc"])
    _, stripped, _ = profile_launch("ownership-stripped", extra=["--libc", "--debug-dir", dbg])
    check_outcomes("ownership --libc", plain)
    check_outcomes("ownership-stripped --debug-dir", stripped)
    eq(outcomes_by_function(stripped), outcomes_by_function(plain),
       "outcomes per function, stripped with a debug file vs unstripped")
    check(not any("could not be symbolized" in w and "ownership-stripped" in w
                  for w in stripped["warnings"]), "the program's frames are named")
    # The same symbols found by .gnu_debuglink, beside the program.
    linked = tmp("linked")
    os.makedirs(linked, exist_ok=True)
    app = os.path.join(linked, "app")
    eq(run(["objcopy", "--only-keep-debug", fixture("ownership"),
            os.path.join(linked, "app.debug")]).returncode, 0, "objcopy --only-keep-debug")
    eq(run(["strip", "-o", app, fixture("ownership")]).returncode, 0, "strip")
    eq(run(["objcopy", "--add-gnu-debuglink=app.debug", app], cwd=linked).returncode, 0,
       "objcopy --add-gnu-debuglink")
    r = run([RSPROBE, "-q", "--all", "--libc", "-o", tmp("linked.json"), "--", app])
    eq(r.returncode, 0, "rsprobe exit status (stderr: %s)" % r.stderr)
    linked_d = json.load(open(tmp("linked.json")))
    check_outcomes("stripped with a debuglink", linked_d)
    eq(outcomes_by_function(linked_d), outcomes_by_function(plain),
       "outcomes per function, stripped with a debuglink vs unstripped")


def function_starts(exe):
    """Function start -> name, from the unstripped build's symbol table (nm)."""
    r = run(["nm", "--defined-only", exe])
    starts = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            starts.setdefault(int(parts[0], 16), parts[2])
    return starts


@needs_bpf
def test_stripped_functions_by_start():
    # Fully stripped, no debug file: each function is named by where it starts
    # (its .eh_frame FDE), so the function table has one row per function.
    starts = function_starts(fixture("ownership"))
    by_name = {}
    for a, n in starts.items():
        by_name.setdefault(n, a)
    _, d, truth = profile_launch("ownership-stripped", extra=["--libc"])
    rows = {}
    for f in d["functions"]:
        m = re.match(r"ownership-stripped\+0x([0-9a-f]+)$", f["function"])
        if not m:
            continue
        start = int(m.group(1), 16)
        check(start in starts, "%s is a function start (the unstripped build has no symbol "
              "there)" % f["function"])
        check(start not in rows, "one row per function: %s twice" % f["function"])
        rows[start] = f
    check(rows, "function rows in the stripped executable")

    def row(fn):
        sym = [n for n in by_name if re.search(r"9ownership\d+%s" % fn, n)]
        eq(len(sym), 1, "one symbol for %s in the unstripped build" % fn)
        check(by_name[sym[0]] in rows, "%s has its row" % fn)
        return rows[by_name[sym[0]]]

    # Frees happen in the functions the fixture drops them in.
    eq(row("consume")["frees"], fixture_const("ownership.rs", "MOVE_N"), "consume's frees")
    eq(row("return_case")["frees"], fixture_const("ownership.rs", "RETURN_N"),
       "return_case's frees")
    eq(row("borrow_case")["frees"], fixture_const("ownership.rs", "BORROW_N"),
       "borrow_case's frees")
    check(any("outcomes are approximate" in w for w in d["warnings"]),
          "the report says outcomes are approximate: %r" % d["warnings"])
    # The frames keep their own offsets; every offset lies inside its function.
    for s in d["sites"]:
        for f in s["stack"]:
            m = re.match(r"ownership-stripped\+0x([0-9a-f]+)$", f["function"])
            if m:
                check(int(m.group(1), 16) < f["offset"], "frame inside its function: %r" % f)


@needs_bpf
def test_thread_exits_are_not_unknown_frees():
    # Launch mode tracks from the first instruction: no free can be of memory
    # born before. glibc flushing each exiting thread's cache is the
    # allocator's own business, counted apart from the program's frees.
    n_threads = fixture_const("threads.rs", "THREADS_N")
    _, d, t = profile_launch("threads")
    eq(d["mode"]["source"], "rust", "layer")
    eq(d["totals"]["unknown_frees"], 0, "unknown frees at the Rust layer")
    eq((d["totals"]["allocs"], d["totals"]["frees"]), (t["allocs"], t["frees"]),
       "allocs and frees against the program's own counts")
    _, d, t = profile_launch("threads", extra=["--libc"])
    tot = d["totals"]
    eq(tot["unknown_frees"], 0, "unknown frees at the libc layer")
    check(tot["allocator_internal_frees"] >= n_threads,
          "each of the %d exiting threads flushed its cache: %d allocator frees"
          % (n_threads, tot["allocator_internal_frees"]))
    check(tot["frees"] <= tot["allocs"], "no more frees than allocations: %d > %d"
          % (tot["frees"], tot["allocs"]))
    check(tot["frees"] >= t["frees"], "libc saw at least the program's frees")
    eq(sum(f["frees"] for f in d["functions"]), tot["frees"], "function frees add up")
    check(not any("before tracking" in w for w in d["warnings"]), "no unknown-free warning")


@needs_bpf
def test_max_frames_and_truncated_root():
    import gzip
    depth = fixture_const("deepalloc.rs", "DEPTH_N")
    n_deep = fixture_const("deepalloc.rs", "DEEP_ALLOCS_N")
    outs = [tmp("deep.folded"), tmp("deep.svg"), tmp("deep.pb.gz")]
    # Default limit (64): the deep allocations' stacks are cut, and every output says so.
    _, d, t = profile_launch("deepalloc", extra=sum((["-o", o] for o in outs), []))
    st = d["stacks"]
    check(st["truncated"] >= 2 * n_deep, "birth and drop stacks of the %d deep allocations "
          "are cut: %r" % (n_deep, st))
    check(any("frame limit of 64" in w and "--max-frames" in w for w in d["warnings"]),
          "a warning names the frame limit: %r" % d["warnings"])
    deep = sites_of(d, "deepalloc::leaf_alloc")
    eq(sum(s["allocs"] for s in deep), n_deep, "deep allocations")
    folded = open(outs[0]).read().splitlines()
    cut = [l for l in folded if "deepalloc::leaf_alloc" in l]
    check(cut and all(l.startswith("[truncated];deepalloc::descend;") for l in cut),
          "cut stacks hang under [truncated]: %r" % [l[:80] for l in cut])
    check(all(l.startswith("_start;") for l in folded if "deepalloc::shallow" in l),
          "complete stacks start at _start")
    check("[truncated]" in open(outs[1]).read(), "the SVG has the [truncated] root")
    check(b"[truncated]" in gzip.open(outs[2]).read(), "the pprof profile has [truncated]")
    # --max-frames 256: the same stacks are whole, down to main and _start.
    _, d, t = profile_launch("deepalloc", extra=["--max-frames", "256"])
    st = d["stacks"]
    eq(st["truncated"], 0, "no stack cut with --max-frames 256")
    check(st["complete"] >= 0.99 * st["taken"], "complete stacks: %r" % st)
    check(not any("frame limit" in w for w in d["warnings"]), "no frame-limit warning")
    for s in sites_of(d, "deepalloc::leaf_alloc"):
        names = chain_of(s["stack"])
        eq(names.count("deepalloc::descend"), depth, "descend frames in the stack")
        eq(names[-1], "_start", "the stack ends at _start")
        eq(s["outcomes"]["same"], s["frees"], "dropped where allocated, now that the stack is whole")
    for bad in ("0", "257", "x"):
        one_line_error(run([RSPROBE, "--max-frames", bad, "--", "true"]), 2, "--max-frames")


def start_debuginfod(srv_dir, db, build_id):
    """A debuginfod server in a network namespace of its own: it listens on every
    address of that namespace, and the only one there is loopback. Returns once
    it serves build_id (a miss would be cached by the client)."""
    port = 18000 + os.getpid() % 1000
    p = subprocess.Popen(["unshare", "--net", "sh", "-c",
                          "ip link set lo up && exec debuginfod -F -p %d -d %s %s"
                          % (port, db, srv_dir)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    netns = "/proc/%d/ns/net" % p.pid
    probe = ("import urllib.request; urllib.request.urlopen('http://127.0.0.1:%d/buildid/%s/"
             "debuginfo')" % (port, build_id))
    for _ in range(100):
        if p.poll() is not None:
            raise AssertionError("debuginfod exited with %d" % p.returncode)
        if run(["nsenter", "--net=" + netns, "python3", "-c", probe]).returncode == 0:
            return p, netns, port
        time.sleep(0.2)
    p.kill()
    raise AssertionError("debuginfod did not answer on loopback")


@needs_bpf
def test_symbols_from_debuginfod():
    # A stripped program whose debug file only a debuginfod server has: with
    # DEBUGINFOD_URLS, rsprobe fetches it once (before events flow), caches
    # it, and the outcomes are those of the unstripped build.
    for tool in ("debuginfod", "unshare", "nsenter", "ip"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]):
            raise Skip("%s not installed (scripts/setup.sh installs it)" % tool)
    root = tmp("dfd")
    os.makedirs(os.path.join(root, "srv"), exist_ok=True)
    app = os.path.join(root, "ownership-dbg-stripped")
    eq(run(["strip", "-o", app, fixture("ownership-dbg")]).returncode, 0, "strip")
    eq(run(["objcopy", "--only-keep-debug", fixture("ownership-dbg"),
            os.path.join(root, "srv", "ownership.debug")]).returncode, 0, "objcopy")
    m = re.search(r"Build ID: ([0-9a-f]+)", run(["readelf", "-n", app]).stdout)
    check(m, "the fixture has a build ID")
    server, netns, port = start_debuginfod(os.path.join(root, "srv"),
                                           os.path.join(root, "index.sqlite"), m.group(1))
    env = {"DEBUGINFOD_URLS": "http://127.0.0.1:%d" % port,
           "DEBUGINFOD_CACHE_PATH": os.path.join(root, "cache")}
    try:
        out = tmp("dfd.json")
        r = run(["nsenter", "--net=" + netns, RSPROBE, "--all", "--libc", "-o", out, "--", app],
                env=env)
        eq(r.returncode, 0, "rsprobe exit status (stderr: %s)" % r.stderr)
        check("from debuginfod" in r.stderr, "says where the symbols came from: %s" % r.stderr)
        check_outcomes("stripped, symbols from debuginfod", json.load(open(out)))
        check(os.path.exists(os.path.join(root, "cache", m.group(1), "debuginfo")),
              "the debug file is in the client's cache")
    finally:
        server.kill()
        server.wait()
    # The server is gone: the cached copy still names everything.
    r = run(["nsenter", "--net=" + netns, RSPROBE, "--all", "--libc", "-o", out, "--", app],
            env=env) if os.path.exists(netns) else run(
            [RSPROBE, "--all", "--libc", "-o", out, "--", app], env=env)
    eq(r.returncode, 0, "rsprobe exit status (stderr: %s)" % r.stderr)
    check_outcomes("stripped, symbols from the debuginfod cache", json.load(open(out)))


@needs_bpf
def test_exit_status_passthrough():
    eq(run([RSPROBE, "-q", "--", fixture("exitcode-fp"), "3"]).returncode, 3, "exit 3")
    eq(run([RSPROBE, "-q", "--", fixture("exitcode-fp"), "abort"]).returncode,
       128 + signal.SIGABRT, "killed by SIGABRT")
    marker = tmp("touched")
    r = run([RSPROBE, "-q", "--", fixture("exitcode-fp"), "touch", marker])
    eq(r.returncode, 0, "exit 0")
    check(os.path.exists(marker), "the command ran")


@needs_bpf
def test_text_report_on_stdout():
    r = run([RSPROBE, "--", fixture("ownership-fp")])
    eq(r.returncode, 0, "exit status")
    for section in ("Totals", "Top sites", "Functions", "Ownership", "Lifetimes"):
        check(section in r.stdout, "text report has %s" % section)
    check(r.stdout.index("ownership fixture done") < r.stdout.index("Totals"),
          "the program's output comes first, the report after it exits")
    check("ownership::move_case" in r.stdout, "sites are named")


# ---------------------------------------------------------------- tests: attach

STOP_FILE = tmp("workers-stop")


def start_workers(rounds=100000, pause_ms=10):
    """Runs until finish_workers() creates the stop file (or for rounds * pause)."""
    if os.path.exists(STOP_FILE):
        os.unlink(STOP_FILE)
    p = subprocess.Popen([fixture("workers-fp"), str(rounds), str(pause_ms), STOP_FILE],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    return p


def finish_workers(p):
    open(STOP_FILE, "w").close()
    out, err = p.communicate(timeout=60)
    eq(p.returncode, 0, "workers exit status (stderr: %s)" % err)
    check(" ok" in out and "MISMATCH" not in out, "workers computed the right checksum: %s" % out)


@needs_bpf
def test_attach_pid_multithreaded():
    p = start_workers()
    out = tmp("attach.json")
    try:
        r = run([RSPROBE, "-p", str(p.pid), "-d", "1.5", "-o", out])
        eq(r.returncode, 0, "rsprobe exit (stderr: %s)" % r.stderr)
        check(p.poll() is None, "the target still runs after detach")
    finally:
        finish_workers(p)
    d = json.load(open(out))
    check_contract(d)
    eq(d["target"]["pid"], p.pid, "target.pid")
    eq(d["totals"]["lost_events"], 0, "lost events")
    check(d["totals"]["allocs"] > 1000, "allocations seen: %d" % d["totals"]["allocs"])
    for fn in ("workers::tokenize", "workers::build_map", "workers::checksum_boxes"):
        check(func_row(d, fn)["allocs"] > 0, "%s allocates" % fn)
    check(func_row(d, "workers::fold_box")["frees"] > 0, "fold_box frees the moved boxes")
    boxes = sites_of(d, "workers::checksum_boxes")
    callee = sum(s["outcomes"]["callee"] for s in boxes)
    check(callee > 0 and callee == sum(s["frees"] for s in boxes),
          "every box freed by fold_box is a move into a callee")
    same = sum(s["outcomes"]["same"] for s in sites_of(d, "workers::build_map"))
    check(same > 0, "build_map drops its map itself")
    tids = set()
    check(len({s["function"] for s in d["sites"]}) >= 3, "several functions")


@needs_bpf
def test_sigterm_ends_session_and_writes():
    p = start_workers()
    out = tmp("sigterm.json")
    try:
        rs = subprocess.Popen([RSPROBE, "-p", str(p.pid), "-o", out],
                              stderr=subprocess.PIPE, text=True)
        line = rs.stderr.readline()	# "profiling pid N": probes are in place
        check("profiling pid" in line, "rsprobe attached: %r" % line)
        time.sleep(1.0)
        rs.send_signal(signal.SIGTERM)
        eq(rs.wait(timeout=30), 0, "rsprobe exit after SIGTERM")
    finally:
        finish_workers(p)
    d = json.load(open(out))
    check(d["totals"]["allocs"] > 0, "the capture was written")


def shim_address(pid, exe, symbol_suffix):
    """Runtime address of a symbol of the main executable (PIE: base + st_value)."""
    nm = run(["nm", exe]).stdout
    value = None
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].endswith(symbol_suffix):
            value = int(parts[0], 16)
    check(value is not None, "symbol %s in %s" % (symbol_suffix, exe))
    real = os.path.realpath(exe)
    for line in open("/proc/%d/maps" % pid):
        f = line.split()
        if len(f) >= 6 and f[5] == real and int(f[2], 16) == 0:
            return int(f[0].split("-")[0], 16) + value
    raise AssertionError("no mapping of %s" % exe)


def first_byte(pid, addr):
    with open("/proc/%d/mem" % pid, "rb") as m:
        m.seek(addr)
        return m.read(1)[0]


@needs_bpf
def test_no_probe_outlives_rsprobe():
    p = start_workers()
    try:
        addr = shim_address(p.pid, fixture("workers-fp"), "12___rust_alloc")
        before = first_byte(p.pid, addr)
        check(before != 0xCC, "no breakpoint before attaching")
        rs = subprocess.Popen([RSPROBE, "-q", "-p", str(p.pid), "-o", tmp("killed.json")])
        deadline = time.time() + 10
        while first_byte(p.pid, addr) != 0xCC and time.time() < deadline:
            time.sleep(0.05)
        eq(first_byte(p.pid, addr), 0xCC, "breakpoint installed while attached")
        rs.send_signal(signal.SIGKILL)
        rs.wait(timeout=10)
        deadline = time.time() + 10
        while first_byte(p.pid, addr) == 0xCC and time.time() < deadline:
            time.sleep(0.05)
        eq(first_byte(p.pid, addr), before, "original instruction back after SIGKILL")
    finally:
        finish_workers(p)


def cdylib_allocs(d):
    """Allocations whose birth site is inside the cdylib."""
    return sum(s["allocs"] for s in d["sites"]
               if s["stack"] and any((f["module"] or "").endswith("/libcdy.so") and
                                     not f["library"] for f in s["stack"][:12]))


def check_cdylib(d, n):
    # cdy_work(n): n labels (make_label) and one Vec::with_capacity (cdy.rs).
    eq(cdylib_allocs(d), n + 1, "allocations made in the dlopen'ed cdylib")
    eq(sum(s["allocs"] for s in sites_of(d, "cdy::make_label")), n, "cdy::make_label allocs")
    check("libcdy.so, loaded after the start" in d["mode"]["source_reason"],
          "the reason names the late object: %s" % d["mode"]["source_reason"])


@needs_bpf
def test_dlopen_cdylib_launch():
    go = tmp("dl-go-now")
    open(go, "w").close()
    out = tmp("dl-launch.json")
    r = run([RSPROBE, "-q", "-o", out, "--", fixture("dlhost"), fixture("libcdy.so"), "500", go])
    eq(r.returncode, 0, "exit (stderr: %s)" % r.stderr)
    check("cdy_work returned 6000" in r.stdout, "the host ran the library: %s" % r.stdout)
    d = json.load(open(out))
    check_cdylib(d, 500)
    eq(d["totals"]["unknown_frees"], 0, "nothing born unseen")


@needs_bpf
def test_dlopen_cdylib_attached():
    go = tmp("dl-go-later")
    if os.path.exists(go):
        os.unlink(go)
    # The host pauses 3 s between dlopen and its first call into the library:
    # attached with -p, rsprobe probes a new library once the loader announces
    # it (or its periodic look at the maps finds it), but cannot hold the
    # program (only its parent may). Emulated kernels take up to a second.
    p = subprocess.Popen([fixture("dlhost"), fixture("libcdy.so"), "300", go, "3000"],
                         stdout=subprocess.PIPE, text=True)
    out = tmp("dl-attach.json")
    try:
        time.sleep(0.3)
        rs = subprocess.Popen([RSPROBE, "-p", str(p.pid), "-o", out],
                              stderr=subprocess.PIPE, text=True)
        line = rs.stderr.readline()	# "profiling pid N": probes are in place
        check("profiling pid" in line, "rsprobe attached: %r" % line)
        open(go, "w").close()
        eq(rs.wait(timeout=60), 0, "rsprobe exit")
    finally:
        stdout, _ = p.communicate(timeout=30)
    check("cdy_work returned 3600" in stdout, "the host ran the library: %s" % stdout)
    d = json.load(open(out))
    check_cdylib(d, 300)
    check(not any("right after dlopen" in w for w in d["warnings"]),
          "no warning when the library waited for its probes: %r" % d["warnings"])


@needs_bpf
def test_dlopen_used_at_once_attached():
    """Attached, the host calls the library the moment dlopen returns: it
    makes n labels there (cdy_keep: n + 2 allocations) before rsprobe can
    probe it, and frees them 2 s later (cdy_drop), probes in place: frees of
    allocations never seen. Every output then warns that the library was used
    before its probes were in place, naming it, and the frees it counts and
    the allocations seen there make up the n + 2 the library made.
    Before, nothing said so."""
    n = 1000
    go = tmp("dl-go-at-once")
    if os.path.exists(go):
        os.unlink(go)
    p = subprocess.Popen([fixture("dlhost"), fixture("libcdy.so"), str(n), go, "keep"],
                         stdout=subprocess.PIPE, text=True)
    out, txt = tmp("dl-at-once.json"), tmp("dl-at-once.txt")
    try:
        time.sleep(0.3)
        rs = subprocess.Popen([RSPROBE, "--all", "-p", str(p.pid), "-o", out, "-o", txt],
                              stderr=subprocess.PIPE, text=True)
        line = rs.stderr.readline()	# "profiling pid N": probes are in place
        check("profiling pid" in line, "rsprobe attached: %r" % line)
        open(go, "w").close()
        eq(rs.wait(timeout=60), 0, "rsprobe exit")
    finally:
        stdout, _ = p.communicate(timeout=30)
    check("kept and dropped %d" % n in stdout, "the host ran the library: %s" % stdout)
    d = json.load(open(out))
    w = [x for x in d["warnings"] if "right after dlopen" in x]
    eq(len(w), 1, "one warning of the late library: %r" % d["warnings"])
    check("libcdy.so" in w[0], "it names the library: %s" % w[0])
    unseen = int(w[0].split("): ")[1].split()[0])
    check(0 < unseen <= d["totals"]["unknown_frees"],
          "%d frees of unseen allocations, of %d unknown frees" % (unseen, d["totals"]["unknown_frees"]))
    # The box is freed last, by a tail call from cdy_drop: its stack may begin
    # in the host, so that one free may go uncounted here (not the others).
    seen = cdylib_allocs(d)
    check(n + 1 <= seen + unseen <= n + 2,
          "allocations seen in the library (%d) and frees of unseen ones (%d): n + 2 = %d"
          % (seen, unseen, n + 2))
    check(d["totals"]["unknown_frees"] >= n + 2 - seen, "every unseen one freed is unknown")
    check("right after dlopen" in open(txt).read(), "the text report warns too")

def start_replica(path=None):
    p = subprocess.Popen([path or fixture("replica")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    eq(p.stdout.readline(), b"ready\n", "replica waiting")
    return p


def profile_replicas(ps, outputs):
    """rsprobe --all -p A -p B ... on started replicas, writing outputs: the
    replicas released once rsprobe is attached, rsprobe stopped once they
    wrote their tallies, then they exit. Returns rsprobe's exit code, its
    stderr, and each replica's own counts ({"allocs": N, ...})."""
    cmd = [RSPROBE, "--all"]
    for p in ps:
        cmd += ["-p", str(p.pid)]
    for o in outputs:
        cmd += ["-o", o]
    try:
        rs = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        line = rs.stderr.readline()	# "profiling pid N ...": probes are in place
        check("profiling pid" in line, "rsprobe attached: %r" % line)
        for p in ps:
            p.stdin.write(b"g")
            p.stdin.flush()
        tallies = [p.stdout.readline().decode().split() for p in ps]
        # The tallies cover the work; the programs wait while rsprobe stops.
        rs.send_signal(signal.SIGTERM)
        code = rs.wait(timeout=60)
        for p in ps:
            p.stdin.write(b"x")
            p.stdin.flush()
            eq(p.wait(timeout=60), 0, "replica exit")
    finally:
        for p in ps:
            if p.poll() is None:
                p.kill()
                p.wait()
    own = [dict(zip(t[0::2], map(int, t[1::2]))) for t in tallies]
    return code, rs.stderr.read(), own


@needs_bpf
def test_two_processes_one_capture():
    """-p A -p B on two replicas of a counting program: one capture whose
    totals are exactly the sum of what both programs' own allocators counted
    between the go byte and the end of their work (rsprobe attached before,
    detached after), sites merged by stack (one site per line of
    code, holding both programs' calls), both processes listed as targets.
    Before, the second -p silently replaced the first."""
    rounds = fixture_const("replica.rs", "ROUNDS")
    ps = [start_replica(), start_replica()]
    out, txt = tmp("two.json"), tmp("two.txt")
    code, err, own = profile_replicas(ps, [out, txt])
    eq(code, 0, "rsprobe exit (stderr: %s)" % err)
    for o in own:
        check(o["allocs"] >= rounds and o["reallocs"] > 0, "replica's own counts: %r" % o)
    d = json.load(open(out))
    check_contract(d)
    t = d["totals"]
    eq(t["lost_events"], 0, "lost events")
    eq(t["allocs"], own[0]["allocs"] + own[1]["allocs"], "allocs: both programs' own counts")
    eq(t["frees"], own[0]["frees"] + own[1]["frees"], "frees: both programs' own counts")
    eq(t["reallocs"], own[0]["reallocs"] + own[1]["reallocs"], "reallocs")
    eq(t["bytes_allocated"], own[0]["bytes"] + own[1]["bytes"], "bytes allocated")
    eq(t["bytes_freed"], own[0]["freed"] + own[1]["freed"], "bytes freed")
    eq(t["unknown_frees"], 0, "unknown frees")
    eq([x["pid"] for x in d["targets"]], [ps[0].pid, ps[1].pid], "targets")
    eq(d["target"]["pid"], ps[0].pid, "target: the first")
    eq([x["state"] for x in d["targets"]], ["running", "running"], "target states")
    # Merged by stack: no two sites share a stack (same functions at the same
    # offsets), which two programs' sites kept apart would.
    stacks = [tuple((f["function"], f["module"], f["offset"]) for f in s["stack"])
              for s in d["sites"]]
    eq(len(set(stacks)), len(stacks), "distinct stacks, one site each")
    boxes = [s for s in sites_of(d, "replica::work") if not s["reallocs"]]
    eq(sum(s["allocs"] for s in boxes), 2 * rounds, "the boxes of both programs")
    eq(sum(s["frees"] for s in boxes), 2 * rounds, "their frees")
    head = open(txt).read().splitlines()[1]
    check("2 processes" in head and str(ps[1].pid) in head, "text header: %r" % head)


@needs_bpf
def test_two_programs_attached_each_symbolized():
    """-p A -p B where B runs another file than A (a copy of the program:
    an executable A does not map): B's frames are named from its own file,
    like A's. Each program's work function holds exactly its ROUNDS boxes,
    under its own module; nothing is [unknown]. Before, B's frames in its
    executable were dropped and its allocations fell under [unknown]."""
    rounds = fixture_const("replica.rs", "ROUNDS")
    copy = tmp("replica-copy")
    shutil.copyfile(fixture("replica"), copy)
    os.chmod(copy, 0o755)
    ps = [start_replica(), start_replica(copy)]
    out = tmp("two-files.json")
    code, err, own = profile_replicas(ps, [out])
    eq(code, 0, "rsprobe exit (stderr: %s)" % err)
    d = json.load(open(out))
    check_contract(d)
    t = d["totals"]
    eq(t["lost_events"], 0, "lost events")
    eq(t["allocs"], own[0]["allocs"] + own[1]["allocs"], "allocs: both programs' own counts")
    eq(t["bytes_allocated"], own[0]["bytes"] + own[1]["bytes"], "bytes allocated")
    for exe in (fixture("replica"), copy):
        boxes = [s for s in sites_of(d, "replica::work") if not s["reallocs"] and
                 s["stack"][0]["module"] == os.path.realpath(exe)]
        eq(sum(s["allocs"] for s in boxes), rounds, "the boxes of %s" % exe)
    check(not [x for x in d["sites"] if x["function"] in (None, "[unknown]")],
          "no site without a function")
    check(not [f for f in d["functions"] if f["function"] in (None, "[unknown]")],
          "no [unknown] function")


@needs_bpf
def test_follow_forks_counts_both_children():
    """-f -- sh -c 'FIXTURE; FIXTURE': the shell (no Rust program: not
    refused with -f) forks twice and each child execs a counting program.
    Both are recorded from their first instruction, in one capture: the
    totals are exactly the sum of both programs' own counts (each writes its
    counting allocator's totals at exit), every stack is complete, all three
    processes are listed, and the header and target name the program that
    ran, not the shell. Without -f, rsprobe says the command forked (here
    with --libc, which profiles the shell itself). Before, -f did not exist
    and the children went unprofiled without a word."""
    fx = fixture("ownership")
    a, b = tmp("fork-a.counts"), tmp("fork-b.counts")
    for f in (a, b):
        if os.path.exists(f):
            os.unlink(f)
    out, txt = tmp("fork.json"), tmp("fork.txt")
    r = run([RSPROBE, "-f", "--all", "-o", out, "-o", txt, "--", "sh", "-c",
             "RSPROBE_FIXTURE_COUNTS=%s %s; RSPROBE_FIXTURE_COUNTS=%s %s" % (a, fx, b, fx)])
    eq(r.returncode, 0, "rsprobe exit (stderr: %s)" % r.stderr)
    eq(r.stdout.count("ownership fixture done"), 2, "both programs ran: %s" % r.stdout)
    truth = [json.load(open(a)), json.load(open(b))]
    d = json.load(open(out))
    check_contract(d)
    t = d["totals"]
    for k in ("allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed"):
        eq(t[k], truth[0][k] + truth[1][k], "totals.%s: both programs' own counts" % k)
    eq(t["lost_events"], 0, "lost events")
    eq(t["unknown_frees"], 0, "unknown frees (each program seen from its first instruction)")
    eq(t["live_allocs"], sum(x["allocs"] - x["frees"] for x in truth), "live at the end")
    eq(d["stacks"]["complete"], d["stacks"]["taken"], "every stack complete: %r" % d["stacks"])
    eq([x["comm"] for x in d["targets"]], ["sh", "ownership", "ownership"], "targets")
    eq(d["target"]["exe"], os.path.realpath(fx), "target: the program that ran")
    check("ownership" in open(txt).read().splitlines()[0], "text header names the program")
    out2 = tmp("forked.json")
    r = run([RSPROBE, "--libc", "-o", out2, "--", "sh", "-c", "/bin/true; /bin/true"])
    eq(r.returncode, 0, "rsprobe exit without -f (stderr: %s)" % r.stderr)
    check("forked" in r.stderr and "-f" in r.stderr, "a warning that it forked: %s" % r.stderr)
    d2 = json.load(open(out2))
    check(any("forked" in w and "-f" in w for w in d2["warnings"]),
          "every output warns: %r" % d2["warnings"])


@needs_bpf
def test_follow_two_programs_each_symbolized():
    """-f -- sh -c 'ownership; sites': two different programs in one
    capture. Frames of the second, in an object the first does not map (its
    own executable), are named from that file like the first's: sites'
    three functions carry exactly the allocations its source makes (N blocks
    of SIZE bytes each), in every output, with its module, and no site or
    function is [unknown]. The totals are both programs' own counts. Before,
    the second program's frames were dropped and all its allocations fell
    under [unknown]."""
    own, sit = fixture("ownership"), fixture("sites")
    a, b = tmp("two-prog-a.counts"), tmp("two-prog-b.counts")
    for f in (a, b):
        if os.path.exists(f):
            os.unlink(f)
    out, txt, folded = tmp("two-prog.json"), tmp("two-prog.txt"), tmp("two-prog.folded")
    r = run([RSPROBE, "-f", "--all", "-o", out, "-o", txt, "-o", folded, "--", "sh", "-c",
             "RSPROBE_FIXTURE_COUNTS=%s %s >/dev/null; RSPROBE_FIXTURE_COUNTS=%s %s >/dev/null"
             % (a, own, b, sit)])
    eq(r.returncode, 0, "rsprobe exit (stderr: %s)" % r.stderr)
    truth = [json.load(open(a)), json.load(open(b))]
    d = json.load(open(out))
    check_contract(d)
    t = d["totals"]
    for k in ("allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed"):
        eq(t[k], truth[0][k] + truth[1][k], "totals.%s: both programs' own counts" % k)
    eq(t["lost_events"], 0, "lost events")
    eq([x["comm"] for x in d["targets"]], ["sh", "ownership", "sites"], "targets")
    eq(d["stacks"]["unmapped"], 0, "no stack met code outside the known objects")
    text = open(txt).read()
    flames = open(folded).read()
    for name in ("SMALL", "MEDIUM", "LARGE"):
        n, size = fixture_const("sites.rs", name + "_N"), fixture_const("sites.rs", name + "_SIZE")
        fn = "sites::%s_site" % name.lower()
        row = func_row(d, fn)
        eq(row["allocs"], n, "%s: allocations its loop makes" % fn)
        eq(row["bytes_allocated"], n * size, "%s: bytes" % fn)
        ss = sites_of(d, fn)
        eq(sum(x["allocs"] for x in ss), n, "%s: its sites' allocations" % fn)
        for x in ss:
            eq(x["stack"][0]["module"], os.path.realpath(sit), "%s: the module named" % fn)
        check(fn in text, "the text report names %s" % fn)
        check(fn in flames, "the folded stacks name %s" % fn)
    check(not [x for x in d["sites"] if x["function"] in (None, "[unknown]")],
          "no site without a function")
    check(not [f for f in d["functions"] if f["function"] in (None, "[unknown]")],
          "no [unknown] function")
    check("[unknown]" not in flames, "no [unknown] frame in the folded stacks")
    func_row(d, "ownership::produce")


TESTS = [
    test_help_and_version,
    test_usage_errors,
    test_not_root,
    test_no_btf,
    test_no_such_pid,
    test_not_rust,
    test_auto_refuses_non_rust,
    test_libc_on_non_rust,
    test_command_not_found,
    test_unwritable_output_checked_first,
    test_failed_session_keeps_existing_output,
    test_launch_totals_exact,
    test_ownership_outcomes,
    test_complete_stacks_without_frame_pointers,
    test_copy_unwinding_forced,
    test_inline_frames_with_debug_info,
    test_stripped_binary_with_libc,
    test_stripped_with_build_id_debug_file,
    test_stripped_functions_by_start,
    test_thread_exits_are_not_unknown_frees,
    test_max_frames_and_truncated_root,
    test_symbols_from_debuginfod,
    test_dlopen_cdylib_launch,
    test_dlopen_cdylib_attached,
    test_dlopen_used_at_once_attached,
    test_exit_status_passthrough,
    test_text_report_on_stdout,
    test_attach_pid_multithreaded,
    test_two_processes_one_capture,
    test_two_programs_attached_each_symbolized,
    test_follow_forks_counts_both_children,
    test_follow_two_programs_each_symbolized,
    test_sigterm_ends_session_and_writes,
    test_no_probe_outlives_rsprobe,
]


def run_tests(tests, label, only=()):
    """Run each test; print one line each and a closing 'N passed, N failed' line."""
    passed = failed = skipped = 0
    if NO_BPF and IN_CI:
        print("CI is set but BPF is not available (%s): BPF tests will fail" % NO_BPF)
    for t in tests:
        if only and t.__name__ not in only:
            continue
        start = time.time()
        try:
            t()
        except Skip as e:
            if IN_CI:
                failed += 1
                print("FAIL %s: skipped in CI: %s" % (t.__name__, e))
            else:
                skipped += 1
                print("skip %s: %s" % (t.__name__, e))
            continue
        except Exception as e:
            failed += 1
            print("FAIL %s: %s" % (t.__name__, e))
            if not isinstance(e, AssertionError):
                traceback.print_exc()
            continue
        passed += 1
        print("ok   %s (%.1fs)" % (t.__name__, time.time() - start))
    print("%s: %d passed, %d failed, %d skipped" % (label, passed, failed, skipped))
    return 1 if failed else 0


def main():
    return run_tests(TESTS, "integration", sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
