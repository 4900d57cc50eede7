#!/usr/bin/env python3
"""Reliability and safety: what rsprobe does when the machine, the target or
an attacker works against it.

  outputs      never written through a planted link, never left half-written
  overload     -d and SIGTERM end a session on time however fast events come
  launch       a program held at a launch pause continues if rsprobe dies
  small        edge values of the options

Times are measured and printed; the bounds asserted are generous (a loaded
2-core machine), what they catch is a session that ignores its end for tens
of seconds or a program left stopped for good.
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import (RSPROBE, check, eq, fixture, needs_bpf, one_line_error, run,  # noqa: E402
                         run_tests, tmp, check_contract, fixture_const)

# ---------------------------------------------------------------- outputs


@needs_bpf
def test_output_never_through_planted_link():
    victim = tmp("victim-file")
    open(victim, "w").write("precious\n")
    os.chmod(victim, 0o600)
    link = tmp("planted.json")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(victim, link)
    r = run([RSPROBE, "-q", "-o", link, "--", fixture("exitcode-fp"), "0"])
    eq(r.returncode, 0, "rsprobe exit (stderr: %s)" % r.stderr)
    check(open(victim).read() == "precious\n", "the link's target was overwritten")
    check(not os.path.islink(link), "the link was replaced by the report")
    check_contract(json.load(open(link)))
    eq(oct(os.stat(link).st_mode & 0o777), oct(0o644 & ~current_umask()), "report mode")
    left = [f for f in os.listdir(os.path.dirname(link)) if f.startswith(".planted.json.")]
    eq(left, [], "no temporary file left")


def current_umask():
    m = os.umask(0)
    os.umask(m)
    return m


@needs_bpf
def test_output_not_left_empty_after_kill():
    """kill -9 mid-session: no empty file at a new path, an old report intact."""
    fresh, old = tmp("killed-fresh.json"), tmp("killed-old.json")
    for f in (fresh,):
        if os.path.exists(f):
            os.unlink(f)
    open(old, "w").write("previous report\n")
    p = subprocess.Popen([fixture("churn"), "2", "20"], stdout=subprocess.DEVNULL)
    try:
        rs = subprocess.Popen([RSPROBE, "-p", str(p.pid), "-o", fresh, "-o", old],
                              stderr=subprocess.PIPE, text=True)
        line = rs.stderr.readline()
        check("profiling pid" in line, "rsprobe attached: %r" % line)
        time.sleep(0.5)
        rs.kill()
        rs.wait(timeout=10)
    finally:
        p.kill()
        p.wait()
    check(not os.path.exists(fresh), "no empty report at a new path")
    eq(open(old).read(), "previous report\n", "the previous report is whole")


def test_output_directory_refused():
    d = tmp("adir.json")
    os.makedirs(d, exist_ok=True)
    r = run([RSPROBE, "-o", d, "--", fixture("exitcode-fp"), "0"])
    one_line_error(r, 1, "cannot write %s" % d)

# ---------------------------------------------------------------- overload

THREADS = 50


def start_churn(secs=60):
    p = subprocess.Popen([fixture("churn"), str(THREADS), str(secs)], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return p


def attached(rs):
    """Wait for the line rsprobe prints once its probes are in place."""
    line = rs.stderr.readline()
    check("profiling pid" in line, "rsprobe attached: %r" % line)
    return time.time()


@needs_bpf
def test_duration_kept_under_overload():
    """-d counts from the moment the probes are in place ("profiling pid" on
    stderr) and the capture must cover that long, not as long as the events
    keep coming: the report's duration_ns is checked against 2 s plus slack.
    The loop hands control back every 50 ms of draining, but here rsprobe gets
    about a twenty-sixth of the 2 CPUs: one event's work (the first symbol
    lookup in an object, say) can take a second or two of wall time. Before
    the fix the capture went on for 14 s and more on this machine (37-60 s on
    others), so 3 s of slack still tells the two apart. What it costs on top
    (detach, draining a full ring, writing) is printed and bounded loosely;
    loading BPF before is not counted."""
    p = start_churn()
    out = tmp("overload-d.json")
    try:
        t0 = time.time()
        rs = subprocess.Popen([RSPROBE, "-p", str(p.pid), "-d", "2", "-o", out],
                              stderr=subprocess.PIPE, text=True)
        t1 = attached(rs)
        try:
            code = rs.wait(timeout=120)
        except subprocess.TimeoutExpired:
            rs.kill()
            rs.wait()
            raise AssertionError("-d 2 ignored for 120 s")
        t2 = time.time()
    finally:
        p.kill()
        p.wait()
    eq(code, 0, "rsprobe exit (stderr: %s)" % rs.stderr.read())
    d = json.load(open(out))
    print("     -d 2 with %d threads allocating flat out: attached after %.1f s, captured "
          "%.2f s, exited %.1f s after attaching; %d allocs delivered, %d events lost" %
          (THREADS, t1 - t0, d["duration_ns"] / 1e9, t2 - t1, d["totals"]["allocs"],
           d["totals"]["lost_events"]))
    check(d["duration_ns"] < 5e9, "a 2 s session captured for %.1f s" % (d["duration_ns"] / 1e9))
    check(t2 - t1 < 30, "a 2 s session took %.1f s to end" % (t2 - t1))
    check(d["totals"]["allocs"] > 0, "events were delivered")


@needs_bpf
def test_sigterm_kept_under_overload():
    p = start_churn()
    out = tmp("overload-term.json")
    try:
        rs = subprocess.Popen([RSPROBE, "-p", str(p.pid), "-o", out],
                              stderr=subprocess.PIPE, text=True)
        t1 = attached(rs)
        time.sleep(2)
        t_sig = time.time()
        rs.send_signal(signal.SIGTERM)
        try:
            code = rs.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rs.kill()
            rs.wait()
            raise AssertionError("SIGTERM ignored for 60 s")
        t2 = time.time()
    finally:
        p.kill()
        p.wait()
    eq(code, 0, "rsprobe exit after SIGTERM")
    d = json.load(open(out))
    before = t_sig - t1
    print("     SIGTERM with %d threads allocating flat out: sent %.1f s after attaching, "
          "capture %.2f s, exited %.1f s after the signal" %
          (THREADS, before, d["duration_ns"] / 1e9, t2 - t_sig))
    # Same slack as for -d (see above): the capture ends at the signal.
    check(d["duration_ns"] < (before + 3) * 1e9,
          "capture went on %.1f s past SIGTERM" % (d["duration_ns"] / 1e9 - before))
    check(t2 - t_sig < 30, "SIGTERM took %.1f s to end the session" % (t2 - t_sig))
    check(d["totals"]["allocs"] > 0, "the capture was written")


# ---------------------------------------------------------------- launch pauses


def state_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


PR_SET_CHILD_SUBREAPER = 36


@needs_bpf
def test_kill9_during_launch_pause_program_continues():
    """rsprobe holds the program at its entry point to load its tables; kill -9
    then must not leave it stopped: it runs to completion."""
    libc = ctypes.CDLL(None, use_errno=True)
    # Orphans become our children, so their exit status can be read.
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "subreaper")
    marker = tmp("paused-ran")
    if os.path.exists(marker):
        os.unlink(marker)
    rs = subprocess.Popen([RSPROBE, "-q", "--", fixture("exitcode-fp"), "touch", marker])
    child, stopped = None, False
    deadline = time.time() + 20
    while time.time() < deadline and rs.poll() is None:
        kids = children_of(rs.pid)
        if kids:
            child = kids[0]
            if state_of(child) == "T":
                stopped = True
                break
        time.sleep(0.001)
    check(stopped, "the program was seen held at its entry point")
    rs.kill()
    rs.wait()
    t0 = time.time()
    status = None
    while time.time() < t0 + 20:
        pid, st = os.waitpid(child, os.WNOHANG)
        if pid == child:
            status = st
            break
        time.sleep(0.01)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    if status is None:
        st = state_of(child)
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the program did not finish after kill -9 of rsprobe (state %s)"
                             % st)
    print("     program finished %.2f s after rsprobe was killed" % (time.time() - t0))
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          "the program ran to completion (status %r)" % status)
    check(os.path.exists(marker), "the program did its work")

# ---------------------------------------------------------------- names

HOSTILE = b"ex\x1b]0;pwned\x07\x1b[2J\xff\xfe<&\"'>"


def raw_controls(data):
    return sorted({b for b in data if b < 0x20 and b not in (9, 10, 13)} | ({0x7f} & set(data)))


@needs_bpf
def test_hostile_names_escaped_everywhere():
    """A program whose file name has escape sequences, markup and bytes that are
    not UTF-8: every output stays valid and no raw control byte gets out."""
    import shutil
    import xml.etree.ElementTree as ET
    d = os.fsencode(tmp("names"))
    os.makedirs(d, exist_ok=True)
    exe = os.path.join(d, HOSTILE)
    shutil.copy(fixture("ownership-fp"), exe)	# it reads no arguments: argv[0] is not UTF-8
    outs = {ext: tmp("names/out" + ext) for ext in (".json", ".dhat.json", ".svg", ".html",
                                                   ".txt", ".folded")}
    args = [RSPROBE]
    for o in outs.values():
        args += ["-o", o]
    r = subprocess.run(args + ["--", exe], capture_output=True, timeout=120)
    eq(r.returncode, 0, "rsprobe exit (stderr: %r)" % r.stderr[-500:])
    rt = subprocess.run([RSPROBE, "--", exe], capture_output=True, timeout=120)
    eq(rt.returncode, 0, "rsprobe exit, text on stdout")
    for what, data in (("stdout", rt.stdout), ("stderr", r.stderr + rt.stderr)):
        eq(raw_controls(data), [], "raw control bytes on " + what)
    check(b"\\x1b]0;pwned" in rt.stdout, "the name is shown, escaped, on stdout")
    for ext in (".json", ".dhat.json"):
        raw = open(outs[ext], "rb").read()
        doc = json.loads(raw.decode("utf-8"))	# strict: fails on bytes that are not UTF-8
        eq(raw_controls(raw), [], "raw control bytes in " + ext)
    exe_name = json.load(open(outs[".json"], encoding="utf-8"))["target"]["exe"]
    check(exe_name.endswith("ex\x1b]0;pwned\x07\x1b[2J\ufffd\ufffd<&\"'>"),
          "exe in JSON: control characters exact, invalid bytes U+FFFD: %r" % exe_name)
    ET.parse(outs[".svg"])	# well-formed XML
    for ext in (".svg", ".html", ".txt", ".folded"):
        raw = open(outs[ext], "rb").read()
        raw.decode("utf-8")
        eq(raw_controls(raw), [], "raw control bytes in " + ext)
    html = open(outs[".html"], encoding="utf-8").read()
    check("<&" not in html and "pwned" in html, "markup in the name is escaped in HTML")

# ---------------------------------------------------------------- target files


@needs_bpf
def test_deleted_and_replaced_binary():
    """The executable deleted after start, and a different file planted under
    the name maps shows ("X (deleted)"): rsprobe reads the file the process
    actually maps (/proc/PID/map_files), so the layer, the symbols and the
    stacks are the program's."""
    import shutil
    exe = tmp("workers-deleted")
    stop = tmp("workers-deleted.stop")
    for f in (stop, exe + " (deleted)"):
        if os.path.exists(f):
            os.unlink(f)
    shutil.copy(fixture("workers-fp"), exe)
    p = subprocess.Popen([exe, "100000", "10", stop], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    os.unlink(exe)
    shutil.copy("/bin/true", exe + " (deleted)")	# not Rust, no allocator
    out = tmp("deleted.json")
    try:
        r = run([RSPROBE, "-p", str(p.pid), "-d", "1.5", "-o", out])
    finally:
        open(stop, "w").close()
        p.communicate(timeout=60)
    eq(r.returncode, 0, "rsprobe exit (stderr: %s)" % r.stderr)
    d = json.load(open(out))
    eq(d["mode"]["source"], "rust", "layer (reason: %s)" % d["mode"]["source_reason"])
    fns = {f["function"]: f for f in d["functions"]}
    for fn in ("workers::tokenize", "workers::build_map", "workers::checksum_boxes"):
        check(fns.get(fn, {}).get("allocs", 0) > 0, "%s allocates" % fn)
    st = d["stacks"]
    check(st["complete"] > 0.9 * st["taken"], "stacks complete: %d of %d" %
          (st["complete"], st["taken"]))


def debuglink_section(name):
    """A .gnu_debuglink section naming `name` (bytes), CRC 0."""
    blob = name + b"\0"
    blob += b"\0" * (-len(blob) % 4)
    return blob + b"\0\0\0\0"


@needs_bpf
def test_debuglink_cannot_steer_to_host_files():
    """A stripped program whose .gnu_debuglink climbs out of its directory to a
    FIFO: rsprobe neither follows the name nor blocks on the FIFO."""
    d = tmp("dbglink/a/b")
    os.makedirs(d, exist_ok=True)
    fifo_dir = tmp("dbglink-fifo")
    os.makedirs(fifo_dir, exist_ok=True)
    fifo = os.path.join(fifo_dir, "fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    rel = os.path.relpath(fifo, d).encode()
    blob = os.path.join(d, "link.bin")
    open(blob, "wb").write(debuglink_section(rel))
    exe = os.path.join(d, "prog")
    subprocess.check_call(["objcopy", "--remove-section=.gnu_debuglink",
                           "--add-section", ".gnu_debuglink=" + blob,
                           fixture("ownership-stripped"), exe])
    os.chmod(exe, 0o755)
    out = tmp("dbglink.json")
    try:
        r = run([RSPROBE, "-o", out, "--", exe], timeout=60)
    except subprocess.TimeoutExpired:	# run() killed it
        raise AssertionError("rsprobe blocked on the FIFO the debug link names")
    eq(r.returncode, 0, "rsprobe exit (stderr: %s)" % r.stderr)
    check(json.load(open(out))["totals"]["allocs"] > 0, "the capture was written")

# ---------------------------------------------------------------- small


@needs_bpf
def test_tiny_duration_is_not_unlimited():
    p = subprocess.Popen([fixture("churn"), "2", "60"], stdout=subprocess.DEVNULL)
    try:
        rs = subprocess.Popen([RSPROBE, "-p", str(p.pid), "-d", "1e-12", "-o", tmp("tiny.json")],
                              stderr=subprocess.PIPE, text=True)
        t1 = attached(rs)
        try:
            code = rs.wait(timeout=40)
        except subprocess.TimeoutExpired:
            rs.kill()
            rs.wait()
            raise AssertionError("-d 1e-12 did not end the session (40 s)")
        took = time.time() - t1
    finally:
        p.kill()
        p.wait()
    eq(code, 0, "rsprobe exit")
    check(took < 15, "-d 1e-12 ended after %.1f s" % took)


@needs_bpf
def test_zombie_and_kernel_thread_named():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        time.sleep(0.2)	# exited, not reaped
        r = run([RSPROBE, "-p", str(pid)])
        one_line_error(r, 1, "process %d has exited (a zombie" % pid)
    finally:
        os.waitpid(pid, 0)
    kthread = None
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % d) as f:
                flags = int(f.read().rsplit(")", 1)[1].split()[6])
        except (OSError, ValueError, IndexError):
            continue
        if flags & 0x00200000:
            kthread = int(d)
            break
    if kthread is None:
        print("     no kernel thread visible in this PID namespace: that half not run")
        return
    r = run([RSPROBE, "-p", str(kthread)])
    one_line_error(r, 1, "process %d is a kernel thread" % kthread)


@needs_bpf
def test_root_without_cap_bpf_told_so():
    """Root with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN dropped (as in a
    container) is told what is missing, not that the kernel is too old."""
    drop = "-bpf,-perfmon,-sys_admin"
    r = run(["setpriv", "--bounding-set", drop, "--inh-caps", drop, RSPROBE, "-p",
             str(os.getpid())])
    one_line_error(r, 1, "running as root but without CAP_BPF and CAP_PERFMON")


@needs_bpf
def test_exec_in_attach_mode_closes_old_heap():
    """Attached, the target execs (itself, which then waits 500 ms, allocates
    and frees AGAIN blocks in again()). The fixture tallies what it allocated
    after rsprobe was attached and kept until the exec (N blocks, B bytes):
    those are closed by the exec, not live or leaks; the old image's calls are
    exactly 2 N (N kept, N freed churn), and the new program is profiled on:
    its AGAIN blocks are recorded at again(), with their frees, and the report
    names the program running after the exec. Before, the old heap was
    reported live and the new image's calls were mixed in; then the capture
    ended at the exec and the new program went unprofiled."""
    n = fixture_const("execs.rs", "N")
    again = fixture_const("execs.rs", "AGAIN")
    p = subprocess.Popen([fixture("execs")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, txt = tmp("exec.json"), tmp("exec.txt")
    try:
        eq(p.stdout.readline(), b"ready\n", "fixture waiting")
        rs = subprocess.Popen([RSPROBE, "--all", "-p", str(p.pid), "-o", out, "-o", txt],
                              stderr=subprocess.PIPE, text=True)
        attached(rs)
        p.stdin.write(b"g")
        p.stdin.flush()
        tally = p.stdout.readline().split()
        eq(p.stdout.readline(), b"again done\n", "the new program did its work")
        comm = open("/proc/%d/comm" % p.pid).read().strip()
        rs.send_signal(signal.SIGTERM)
        code = rs.wait(timeout=60)
        p.stdin.write(b"x")
        p.stdin.flush()
        eq(p.wait(timeout=60), 0, "fixture exit")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = rs.stderr.read()
    eq(code, 0, "rsprobe exit (stderr: %s)" % err)
    eq(tally[0], b"live", "fixture tally %r" % tally)
    live, nbytes = int(tally[1]), int(tally[3])
    eq(live, n, "fixture's own count of blocks live at exec")
    d = json.load(open(out))
    t = d["totals"]
    eq(t["closed_by_exec"], live, "closed by exec")
    eq(t["closed_by_exec_bytes"], nbytes, "bytes closed by exec")
    # Nothing of the old image is live; the new program's runtime may keep a
    # block or two from its start-up, if rsprobe was quicker than it.
    eq(sum(s["live"] for s in d["sites"] if s["function"].startswith("execs::")), 0,
       "live at the fixture's own sites")
    eq(t["live_allocs"], sum(s["live"] for s in d["sites"]), "live allocations are sites'")
    check(t["live_allocs"] <= 4, "live allocations reported: %d" % t["live_allocs"])
    eq(t["unknown_frees"], 0, "unknown frees")
    old = [s for s in d["sites"] if s["function"] == "execs::main"]
    eq(sum(s["allocs"] for s in old), 2 * n, "the old image's calls (execs::main)")
    new = [s for s in d["sites"] if s["function"] == "execs::again"]
    eq(sum(s["allocs"] for s in new), again, "the new program's blocks (execs::again)")
    eq(sum(s["frees"] for s in new), again, "and their frees")
    eq(d["target"]["comm"], comm, "target: the program running after the exec")
    check(any("exec'd" in w for w in d["warnings"]), "JSON warning: %r" % d["warnings"])
    check("exec'd" in open(txt).read(), "text report warns of the exec")
    check("profiling it on" in err, "rsprobe says it follows the exec: %s" % err)


def test_ring_mb_limit():
    r = run([RSPROBE, "--ring-mb", "4096", "-p", "1"])
    one_line_error(r, 2, "--ring-mb")


TESTS = [
    test_output_never_through_planted_link,
    test_output_not_left_empty_after_kill,
    test_output_directory_refused,
    test_duration_kept_under_overload,
    test_sigterm_kept_under_overload,
    test_kill9_during_launch_pause_program_continues,
    test_hostile_names_escaped_everywhere,
    test_deleted_and_replaced_binary,
    test_debuglink_cannot_steer_to_host_files,
    test_tiny_duration_is_not_unlimited,
    test_ring_mb_limit,
    test_exec_in_attach_mode_closes_old_heap,
    test_zombie_and_kernel_thread_named,
    test_root_without_cap_bpf_told_so,
]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS, "robustness", sys.argv[1:]))
