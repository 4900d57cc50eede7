#!/usr/bin/env python3
"""rsprobe daemon: Prometheus, rotated pprof files, pushes, restarts, kill -9, memory.

Ground truth: the lifetimes fixture (tests/fixtures/lifetimes.rs) counts its own
allocations with the counting allocator from the moment the test releases it
(after the daemon has attached), and its lifetimes are fixed by construction:
40% under a microsecond, 20% about 150 ms, 40% about 600 ms, so the median is
in the histogram bucket (0.1 s, 0.25 s]. A real Prometheus (Debian's package)
scrapes the daemon every second on loopback; its HTTP API answers the queries.
"""
import gzip
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import (RSPROBE, check, eq, first_byte, fixture, needs_bpf,  # noqa: E402
                         run, run_tests, shim_address, tmp)
from outputs import need  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def series(text, name, **labels):
    """The value of the series name{labels...} (all of its labels given), or None."""
    want = name + ("{" + ",".join('%s="%s"' % kv for kv in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.rsplit(" ", 1)[0] == want:
            return float(line.rsplit(" ", 1)[1])
    return None


class Daemon:
    """rsprobe daemon with args, its messages in a file; stopped with SIGTERM."""

    def __init__(self, tag, args, metrics=True):
        self.port = free_port() if metrics else None
        self.log = tmp(tag + ".daemon.log")
        argv = [RSPROBE, "daemon", "--log", self.log] + list(args)
        if metrics:
            argv += ["--metrics", str(self.port)]
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        if metrics:
            self.wait(lambda: self.metrics() is not None, 10, "the daemon serves /metrics")

    def metrics(self):
        try:
            return http_get("http://127.0.0.1:%d/metrics" % self.port)
        except OSError:
            if self.p.poll() is not None:
                raise AssertionError("the daemon exited (%s): %s" % (self.p.returncode,
                                                                     self.p.stderr.read()))
            return None

    def messages(self):
        return open(self.log).read() if os.path.exists(self.log) else ""

    def wait(self, cond, secs, what):
        deadline = time.time() + secs
        while time.time() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.1)
        raise AssertionError("timed out (%d s) waiting until %s; daemon log:\n%s"
                             % (secs, what, self.messages()))

    def attached(self, pid):
        """Wait until the daemon profiles pid: its series appear once its probes are in place."""
        self.wait(lambda: series(self.metrics() or "", "rsprobe_allocations_total", comm="lifetimes",
                                 pid=str(pid), function="[all]") is not None, 30,
                  "pid %d is profiled" % pid)

    def children(self):
        """The daemon's profiling processes (their parent is the daemon)."""
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    st = open("/proc/%s/stat" % d).read()
                except OSError:
                    continue
                if int(st.rsplit(")", 1)[1].split()[1]) == self.p.pid:
                    out.append(int(d))
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        return rc


class Fixture:
    """lifetimes MODE ARGS..., held at its start until released."""

    def __init__(self, exe, *args):
        self.p = subprocess.Popen([exe] + [str(a) for a in args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pid = self.p.pid

    def release(self):
        self.p.stdin.write(b"x")
        self.p.stdin.flush()

    def line(self, timeout=60):
        """The next line it prints (its counts)."""
        result = []
        t = threading.Thread(target=lambda: result.append(self.p.stdout.readline()))
        t.start()
        t.join(timeout)
        check(result and result[0], "the fixture printed a line")
        return result[0].decode().strip()

    def counted(self):
        m = re.match(r"counted (\d+)$", self.line())
        check(m, "the fixture says what it counted")
        return int(m.group(1))

    def finish(self, timeout=60):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        rc = self.p.wait(timeout=timeout)
        return rc, self.p.stdout.read().decode(), self.p.stderr.read().decode()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def own_fixture(tag):
    """A copy of the fixture no other test probes: its path names it to --exe."""
    d = tmp(tag)
    os.makedirs(d, exist_ok=True)
    exe = os.path.join(d, "lifetimes")
    shutil.copy2(fixture("lifetimes"), exe)
    return exe


class Receiver:
    """Pyroscope's /ingest, as far as the test needs: it keeps what it is sent."""

    def __init__(self, port):
        self.got = []
        got = self.got

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                u = urllib.parse.urlparse(self.path)
                got.append((u.path, urllib.parse.parse_qs(u.query), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def pprof_raw(paths):
    """go tool pprof -raw of the profiles (merged): sample types and summed values."""
    r = run(["go", "tool", "pprof", "-raw"] + list(paths), timeout=120)
    eq(r.returncode, 0, "go tool pprof -raw opens %s (stderr: %s)" % (paths, r.stderr[-500:]))
    lines = r.stdout.splitlines()
    types = None
    sums = None
    for i, line in enumerate(lines):
        if line.startswith("Samples:"):
            types = lines[i + 1].split()
            sums = [0] * len(types)
            start = i + 2
            continue
        if sums is not None and i >= start:
            if line and not line.startswith(" "):
                break	# the end of the samples (Locations follow)
            vals = line.split(":")[0].split()
            if vals and all(re.match(r"-?\d+$", v) for v in vals):
                for k, v in enumerate(vals[:len(types)]):
                    sums[k] += int(v)
    check(types, "pprof -raw lists the sample types")
    return dict(zip([t.split("/")[0] for t in types], sums))


class Prometheus:
    def __init__(self, target_port):
        self.dir = tmp("prometheus-%d" % target_port)
        os.makedirs(self.dir, exist_ok=True)
        cfg = os.path.join(self.dir, "prometheus.yml")
        open(cfg, "w").write(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: rsprobe\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n" % target_port)
        self.port = free_port()
        self.p = subprocess.Popen(
            ["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + self.dir + "/data",
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                http_get("http://127.0.0.1:%d/-/ready" % self.port)
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("prometheus did not become ready: %s"
                             % open(os.path.join(self.dir, "log")).read()[-1000:])

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port,
                                                       urllib.parse.urlencode({"query": q}))
        d = json.loads(http_get(url))
        eq(d["status"], "success", "query %s" % q)
        return d["data"]["result"]

    def scalar(self, q):
        r = self.query(q)
        return float(r[0]["value"][1]) if r else None

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def test_usage_errors():
    def one_line(args, code, needle):
        r = run([RSPROBE, "daemon"] + args)
        eq(r.returncode, code, "rsprobe daemon %s: exit status (stderr %r)" % (args, r.stderr))
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        eq(len(lines), 1, "one line on stderr: %r" % r.stderr)
        check(needle in lines[0], "%r in %r" % (needle, lines[0]))

    one_line([], 2, "no targets")
    one_line(["--exe", "x", "--metrics", "nope"], 2, "--metrics")
    one_line(["--exe", "x", "--metrics", "1.2.3.4:99999"], 2, "--metrics")
    one_line(["--exe", "x", "--push", "ftp://h"], 2, "--push")
    one_line(["--exe", "x", "--export-dir", tmp("no/such/dir")], 2, "--export-dir")
    one_line(["--exe", "x", "--export-interval", "5"], 2, "--export-dir or --push")
    one_line(["--exe", "x", "--max-overhead", "0"], 2, "--max-overhead")
    one_line(["--exe", "x", "--metrics-top", "-1"], 2, "--metrics-top")
    one_line(["--pid", "0"], 2, "--pid")
    one_line(["--exe", "x", "--max-live", "0"], 2, "--max-live")
    out = run([RSPROBE, "daemon", "--help"]).stdout
    for opt in ("--pid PID", "--exe NAME|PATH", "--all-rust", "--max-overhead PCT",
                "--metrics [ADDR:]PORT", "--metrics-top N", "--export-dir DIR",
                "--export-interval SECS", "--export-keep N", "--push URL", "--log FILE",
                "--max-live N", "--max-sites N"):
        check(opt in out, "daemon --help lists " + opt)
    check("rsprobe daemon" in run([RSPROBE, "--help"]).stdout, "rsprobe --help names the daemon")


@needs_bpf
def test_log_reopened_on_sighup():
    log = tmp("hup.log")
    d = Daemon("hup", ["--exe", "no-such-program-here"])
    try:
        d.wait(lambda: "started" in d.messages(), 10, "the daemon logs its start")
        os.rename(d.log, log)		# as logrotate does
        d.p.send_signal(signal.SIGHUP)
        d.wait(lambda: "log reopened" in d.messages(), 10, "a new log after SIGHUP")
    finally:
        eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")
    check("metrics on http://127.0.0.1:%d/metrics" % d.port in open(log).read(),
          "the old log has what came before")
    check("daemon stopped" in d.messages(), "the new log has what came after")


@needs_bpf
def test_no_such_pid_and_port_in_use():
    r = run([RSPROBE, "daemon", "--pid", "999999999"])
    eq(r.returncode, 1, "--pid of no process: exit status")
    check("no such process" in r.stderr, "says why: %r" % r.stderr)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        r = run([RSPROBE, "daemon", "--exe", "x", "--metrics", str(s.getsockname()[1])])
    finally:
        s.close()
    eq(r.returncode, 1, "--metrics on a port in use: exit status")
    check("cannot listen" in r.stderr, "says why: %r" % r.stderr)


@needs_bpf
def test_prometheus_exports_and_push():
    """Known lifetimes through a real Prometheus; rotated pprof; pushes while the receiver is down."""
    need("prometheus", "prometheus")	# scripts/setup.sh installs it
    need("go", "golang-go")
    exe = own_fixture("prom")
    export = tmp("prom-export")
    os.makedirs(export, exist_ok=True)
    push_port = free_port()		# nothing listens there yet: the receiver is down
    d = Daemon("prom", ["--exe", exe, "--all", "--export-dir", export, "--export-interval", "1",
                        "--export-keep", "100", "--push", "http://127.0.0.1:%d" % push_port])
    prom = Prometheus(d.port)
    f = Fixture(exe, "known", 300, 3)
    recv = None
    try:
        d.attached(f.pid)
        f.release()
        counted = f.counted()
        eq(counted, 1500, "the fixture's own count (300 rounds of 5)")
        # The receiver comes up now: pushes made while it was down are retried.
        recv = Receiver(push_port)
        labels = 'pid="%d",function="[all]"' % f.pid
        d.wait(lambda: prom.scalar('rsprobe_allocations_total{%s}' % labels) == counted, 20,
               "Prometheus has scraped all %d allocations" % counted)
        d.wait(lambda: prom.scalar('rsprobe_allocation_lifetime_seconds_count{%s}' % labels) ==
               counted, 20, "Prometheus has scraped every lifetime")
        median = prom.scalar('histogram_quantile(0.5, sum by (le) '
                             '(rsprobe_allocation_lifetime_seconds_bucket{%s}))' % labels)
        print("     Prometheus: median lifetime %.4f s; [all] allocations %d, the fixture's %d"
              % (median or -1, prom.scalar('rsprobe_allocations_total{%s}' % labels), counted))
        check(median is not None and 0.1 < median <= 0.25,
              "the median lifetime is in the bucket (0.1, 0.25] of the fixture's known "
              "median: %r" % median)
        # All the fixture's frees: the live gauge drops back to nothing.
        eq(prom.scalar('rsprobe_live_allocations{pid="%d"}' % f.pid), 0, "nothing live")
        rc, _, err = f.finish()
        eq(rc, 0, "the fixture exited normally (%s)" % err)
        d.wait(lambda: len(recv.got) >= 2, 30, "pushed profiles arrived")
    finally:
        f.kill()
        eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")
        prom.stop()
        if recv:
            recv.close()
    log = d.messages()
    check("pid %d (lifetimes)" % f.pid in log, "the log names the target: %s" % log)
    # Every interval profile opens in go tool pprof, and together they count
    # every allocation once (each covers its interval only).
    files = sorted(os.path.join(export, n) for n in os.listdir(export) if n.endswith(".pb.gz"))
    check(len(files) >= 3, "rotated profiles written: %s" % files)
    check(all(os.path.basename(p).startswith("lifetimes-%d-" % f.pid) for p in files),
          "files named COMM-PID-TIME: %s" % files)
    for p in files[:2]:
        pprof_raw([p])
    total = pprof_raw(files)
    eq(total.get("alloc_objects"), counted, "alloc_objects over all interval profiles")
    eq(total.get("freed_objects"), counted, "freed_objects over all interval profiles")
    # Pushed: Pyroscope's ingest parameters, and bodies that decode as pprof.
    path, q, body = recv.got[0]
    eq(path, "/ingest", "pushed to /ingest")
    eq(q.get("format"), ["pprof"], "format=pprof")
    eq(q.get("name"), ["rsprobe.alloc{comm=lifetimes,pid=%d}" % f.pid], "application name")
    check(int(q["from"][0]) <= int(q["until"][0]), "from <= until: %s" % q)
    gzip.decompress(body)
    bodies = []
    for i, (_, _, b) in enumerate(recv.got):
        p = tmp("pushed-%d.pb.gz" % i)
        open(p, "wb").write(b)
        bodies.append(p)
    pushed = pprof_raw(bodies)
    check(0 < pushed.get("alloc_objects", 0) <= counted,
          "pushed profiles count allocations (%s of %d)" % (pushed, counted))


@needs_bpf
def test_restart_followed():
    """A target that exits and starts again is followed; totals exact while attached.

    The budget is one the fixture's traps fit in (about 7% of a tenth of a
    CPU here): the probes stay attached, no duty cycling.
    """
    exe = own_fixture("restart")
    d = Daemon("restart", ["--exe", exe, "--max-overhead", "50"])
    try:
        for round_ in range(2):
            f = Fixture(exe, "known", 60, 2)
            try:
                d.attached(f.pid)
                f.release()
                counted = f.counted()
                eq(counted, 300, "the fixture's own count")
                d.wait(lambda: series(d.metrics(), "rsprobe_allocations_total", comm="lifetimes",
                                      pid=str(f.pid), function="[all]") == counted, 10,
                       "run %d (pid %d): [all] equals the fixture's count" % (round_, f.pid))
                rc, _, _ = f.finish()
                eq(rc, 0, "the fixture exited normally")
            finally:
                f.kill()
        text = d.metrics()
        sf = [float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
              if l.startswith("rsprobe_sampled_fraction{")]
        check(sf and all(0 <= v <= 1 for v in sf), "sampled fractions in [0, 1]: %s" % sf)
    finally:
        eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


@needs_bpf
def test_kill9_leaves_targets_running_unprobed():
    exe = own_fixture("kill9")
    d = Daemon("kill9", ["--exe", exe, "--all"])	# attached all along
    f = Fixture(exe, "steady", 4)
    try:
        d.attached(f.pid)
        addr = shim_address(f.pid, exe, "12___rust_alloc")
        eq(first_byte(f.pid, addr), 0xCC, "breakpoint on __rust_alloc while profiled")
        kids = d.children()
        check(kids, "the daemon has a profiling process")
        d.p.send_signal(signal.SIGKILL)
        d.p.wait(timeout=10)
        deadline = time.time() + 10
        while (first_byte(f.pid, addr) == 0xCC or
               any(os.path.exists("/proc/%d" % k) for k in kids)) and time.time() < deadline:
            time.sleep(0.05)
        check(not any(os.path.exists("/proc/%d" % k) for k in kids),
              "the profiling processes died with the daemon")
        check(first_byte(f.pid, addr) != 0xCC, "no breakpoint left in the target")
        f.release()
        counted = f.counted()
        check(counted > 0, "the target ran on and counted its allocations")
        rc, _, err = f.finish()
        eq(rc, 0, "the target exited normally (%s)" % err)
    finally:
        f.kill()
        if d.p.poll() is None:
            d.p.kill()


@needs_bpf
def test_low_rate_attached_all_along():
    """Traps within the default budget: attached all along, every allocation seen.

    30 rounds 100 ms apart of five boxes: some 100 allocator calls a second,
    a tenth of the default budget (1% of a tenth of a CPU) at a microsecond
    a trap, and never 2,000 calls in a second (the first look comes after a
    second): the probes never leave, nothing is censored, and [all] is the
    fixture's own count.
    """
    exe = own_fixture("lowrate")
    d = Daemon("lowrate", ["--exe", exe])
    f = Fixture(exe, "known", 30, 3, 2, 100)
    try:
        d.attached(f.pid)
        f.release()
        counted = f.counted()
        eq(counted, 30 * 5, "the fixture's own count (30 rounds of 5)")
        lab = dict(comm="lifetimes", pid=str(f.pid))
        # Everything freed, it waits 3 s before exiting: still attached meanwhile.
        text = d.wait(lambda: (lambda t: t if series(t, "rsprobe_allocations_total", **lab,
                                                     function="[all]") == counted else None)(
            d.metrics()), 10, "[all] equals the fixture's count")
        rc, _, _ = f.finish()
        eq(rc, 0, "the fixture exited normally")
    finally:
        f.kill()
    eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")
    eq(series(text, "rsprobe_probe_duty_cycle", **lab), 1.0, "attached all along")
    eq(series(text, "rsprobe_lifetimes_censored_total", **lab), 0.0, "nothing censored")


@needs_bpf
def test_duty_cycle_censors():
    """Traps beyond the budget: probes in windows, lifetimes cut by a window censored.

    At the default budget (1% of a tenth of a CPU at least) the fixture's
    traps (200 more short-lived boxes a round: some 60,000 calls a second,
    about a microsecond each here) do not fit: the probes are attached for a
    share of the time only. Allocations still live when a window closes are
    counted as censored, in the +Inf bucket only.
    """
    exe = own_fixture("duty")
    d = Daemon("duty", ["--exe", exe])
    f = Fixture(exe, "known", 400, 1, 200)
    try:
        d.attached(f.pid)
        f.release()
        counted = f.counted()
        eq(counted, 400 * 203, "the fixture's own count")
        rc, _, _ = f.finish()
        eq(rc, 0, "the fixture exited normally")
        text = d.wait(lambda: (lambda t: t if series(t, "rsprobe_targets") == 0 else None)(
            d.metrics()), 30, "the target's profiling ended")
    finally:
        f.kill()
        d.stop()
    lab = dict(comm="lifetimes", pid=str(f.pid))
    duty = series(text, "rsprobe_probe_duty_cycle", **lab)
    check(duty is not None and 0 < duty < 1, "duty cycle in (0, 1): %s" % duty)
    seen = series(text, "rsprobe_allocations_total", **lab, function="[all]")
    check(0 < seen < counted, "only the windows' allocations seen: %s of %d" % (seen, counted))
    censored = series(text, "rsprobe_lifetimes_censored_total", **lab)
    check(censored and censored > 0, "lifetimes cut by a window are censored: %s" % censored)
    inf = series(text, "rsprobe_allocation_lifetime_seconds_bucket", **lab, function="[all]",
                 le="+Inf")
    top = series(text, "rsprobe_allocation_lifetime_seconds_bucket", **lab, function="[all]",
                 le="600")
    # Every lifetime here is under a second: above the last finite bound are the censored only.
    eq(inf - top, censored, "the +Inf bucket holds the censored lifetimes")


@needs_bpf
def test_target_in_its_own_mount_namespace():
    """As in a container: the program's file exists only in the target's mount namespace."""
    inner = tmp("mntns")
    os.makedirs(inner, exist_ok=True)
    d = Daemon("mntns", ["--exe", "lifetimes", "--all"])
    sh = ("mount -t tmpfs none %s && cp %s %s/lifetimes && exec %s/lifetimes known 100 2"
          % (inner, fixture("lifetimes"), inner, inner))
    f = Fixture("unshare", "-m", "sh", "-c", sh)
    try:
        pid = d.wait(lambda: next((int(p) for p in os.listdir("/proc") if p.isdigit() and
                                   _cmdline(p).startswith(inner + "/lifetimes known")), None),
                     10, "the program runs")
        check(not os.path.exists(os.path.join(inner, "lifetimes")),
              "its file is not in the daemon's mount namespace")
        d.attached(pid)
        f.release()
        counted = f.counted()
        eq(counted, 500, "the fixture's own count")
        d.wait(lambda: series(d.metrics(), "rsprobe_allocations_total", comm="lifetimes",
                              pid=str(pid), function="[all]") == counted, 10,
               "[all] equals the fixture's count")
        rc, _, _ = f.finish()
        eq(rc, 0, "the fixture exited normally")
    finally:
        f.kill()
        d.stop()


def _cmdline(pid):
    try:
        return open("/proc/%s/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@needs_bpf
def test_rss_bounded_with_many_live():
    """Many live allocations held for a while: the cap on tracked ones bounds memory.

    --all records every allocation (no sampling, no duty cycle), so the
    tracker sees all of them; --max-live 100000 lets it track 100,000 at most
    and count the rest in rsprobe_dropped_by_cap_total. Each allocator call
    traps into the kernel (microseconds each on these machines): 400,000
    allocations keep the test within seconds.
    """
    n, cap = 400000, 100000
    exe = own_fixture("rss")
    d = Daemon("rss", ["--exe", exe, "--all", "--max-live", str(cap)])
    f = Fixture(exe, "hold", n, 3)
    peak = base = 0
    try:
        d.attached(f.pid)
        kids = d.children()
        base = max(rss_kib(k) for k in kids)
        f.release()
        eq(f.line(), "holding %d" % n, "the fixture holds its allocations")
        lab = dict(comm="lifetimes", pid=str(f.pid))
        end = time.time() + 2
        while time.time() < end:
            peak = max([peak] + [rss_kib(k) for k in d.children()])
            time.sleep(0.2)
        text = d.wait(lambda: (lambda t: t if (series(t, "rsprobe_live_allocations", **lab) or 0)
                               >= n else None)(d.metrics()), 20, "every allocation counted")
        capped = series(text, "rsprobe_dropped_by_cap_total", **lab)
        # Tracked: 100,000, some of them the program's own before the boxes.
        check(n - cap <= capped <= n, "dropped by the cap: %s, %d to %d" % (capped, n - cap, n))
        eq(f.line(timeout=30), "held %d" % n, "the fixture let go")
        rc, _, _ = f.finish()
        eq(rc, 0, "the fixture exited normally")
    finally:
        f.kill()
        d.stop()
    print("     profiling process RSS: %.1f MiB attached, %.1f MiB peak with %d live, %d tracked"
          % (base / 1024, peak / 1024, n, cap))
    # Under ASan freed memory sits in its quarantine (up to 256 MiB): RSS says
    # nothing about what rsprobe keeps there, only the figures are printed.
    if "__asan_init" in run(["nm", "-D", RSPROBE]).stdout:
        print("     (ASan build: the bound is checked by the plain build)")
        return
    # Bounded: the ring buffer (8 MiB by default, mapped, its pages counted as
    # they are first written), the 100,000 tracked (about 54 bytes each with
    # the index, at most 100: 10 MiB) and 8 MiB more; uncapped, the 300,000
    # others would need 16 MiB more on top.
    check(peak - base < 26 * 1024, "RSS grew by %.1f MiB (< 8 MiB ring + 10 MiB + 8 MiB)"
          % ((peak - base) / 1024))


TESTS = [
    test_usage_errors,
    test_no_such_pid_and_port_in_use,
    test_log_reopened_on_sighup,
    test_prometheus_exports_and_push,
    test_restart_followed,
    test_low_rate_attached_all_along,
    test_duty_cycle_censors,
    test_kill9_leaves_targets_running_unprobed,
    test_target_in_its_own_mount_namespace,
    test_rss_bounded_with_many_live,
]


def main():
    return run_tests(TESTS, "daemon", sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
