#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""rsprobe's overhead against the uprobe floor and against its peers.

Builds the Rust workloads of bench/workloads/, runs each under every
configuration (no probes, the two uprobe floors, rsprobe's modes, heaptrack,
bpftrace), interleaved and repeated, and prints medians: the nanoseconds each
configuration adds per allocator call and that cost as a ratio to the floor,
the event rate, lost events, rsprobe's own CPU per event, and its memory per
live allocation. The full results, with the machine and kernel they were
measured on, go to bench/results/bench-<date>.json. See bench/README.md.
"""
import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Workload sizes, chosen so that one run under the slowest configuration takes
# a few seconds here (a uprobe hit costs about 1.5 us on these machines).
WORKLOADS = {
    "churn": ["200000"],     # iterations: 2 calls each
    "mixed": ["2600"],       # rounds: 156 calls each
    "threads": ["200000"],   # messages: 2 calls each
    "text": ["17000"],       # log lines parsed and aggregated: about 24 calls each
}
# Workloads that cannot count their calls from capacity changes: a twin built
# with --cfg counting over counting.rs (an rlib) counts them, and the workload
# is given the twin's counts (the same program on the same input).
COUNTED = {"text"}
# The daemon's runs, and the no-probes runs they are compared with: longer
# (about 1 to 3 s with no probes here), since a fleet's daemon is there before
# its targets start and stays for as long as they run: its first window, the
# measurement of the call rate, should not be the whole story.
LONG_SCALE = {"churn": 400, "mixed": 50, "threads": 50, "text": 150}
LIVE_N = 300000              # boxes held at once by the memory phase

# The configurations, in the order of the table.
CONFIGS = {
    "none": {"label": "no probes", "kind": "none"},
    "none-long": {"label": "no probes (daemon's run length)", "kind": "none", "long": True},
    "bt-floor": {"label": "floor: bpftrace, empty programs", "kind": "bpftrace",
                 "script": "floor"},
    "floor": {"label": "floor: rsprobe --probe-only", "kind": "rsprobe",
              "flags": ["--probe-only"]},
    "default": {"label": "rsprobe (default mode)", "kind": "rsprobe", "flags": []},
    "sampled": {"label": "rsprobe --sample-bytes 512K", "kind": "rsprobe",
                "flags": ["--sample-bytes", "524288"]},
    "all": {"label": "rsprobe --all", "kind": "rsprobe", "flags": ["--all"]},
    "all-fp": {"label": "rsprobe --all --unwind fp", "kind": "rsprobe",
               "flags": ["--all", "--unwind", "fp"], "fp_builds_only": True},
    # The path for kernels without bpf_loop, forced: stacks copied, unwound
    # in userspace, with the default sampling and with every allocation.
    "copy": {"label": "rsprobe --unwind copy", "kind": "rsprobe",
             "flags": ["--unwind", "copy"]},
    "copy-all": {"label": "rsprobe --all --unwind copy", "kind": "rsprobe",
                 "flags": ["--all", "--unwind", "copy"]},
    # rsprobe daemon --exe at its default budget (--max-overhead 1), as a fleet runs it:
    # already running when the workload starts, which it finds and attaches to while
    # the workload runs; compared with none-long.
    "daemon": {"label": "rsprobe daemon (default budget)", "kind": "daemon", "long": True},
    "heaptrack": {"label": "heaptrack (LD_PRELOAD peer)", "kind": "heaptrack"},
    "bt-track": {"label": "bpftrace tracking (uprobe peer)", "kind": "bpftrace",
                 "script": "track"},
}
# Frame-pointer builds: rsprobe only, its frame-pointer walk beside the DWARF one.
FP_CONFIGS = ["none", "floor", "all", "all-fp"]
VARIANTS = ["nofp", "fp"]

TARGETS = {
    "default_ratio": 1.10,
    "all_ratio": 2.0,
    "cpu_ns_per_event": 100.0,
    "bytes_per_live": 64.0,
    "daemon_ratio": 1.03,	# the realistic workload under the daemon, to no probes
    # rsprobe --all's CPU per session (one allocation), as make bench measured it
    # before the exact mode was made faster (2026-12-02, commit 5d683c3): the
    # fixed cost must come in below it.
    "fixed_cpu_s_before": 0.19,
}

RUN_TIMEOUT = 180.0

# The binary behind each pseudo-workload.
BINARY_OF = {"live-hold": "live", "live-free": "live", "idle": "churn"}

SHIMS = ("alloc", "alloc_zeroed", "realloc", "dealloc")


class RunError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine --

def read_first(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def command_output(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (r.stdout or r.stderr).strip()
    return out.splitlines()[0] if r.returncode == 0 and out else None


def machine_info(args):
    cpu = None
    for line in (read_first("/proc/cpuinfo", "") or "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = None
    for line in (read_first("/proc/meminfo", "") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    os_name = None
    for line in (read_first("/etc/os-release", "") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    return {
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "arch": platform.machine(),
        "os": os_name,
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem_mib": mem_kb // 1024 if mem_kb else None,
        "bpf_stats_enabled": read_first("/proc/sys/kernel/bpf_stats_enabled"),
        "rustc": command_output([args.rustc, "--version"]),
        "rsprobe": command_output([args.rsprobe, "--version"]),
        "rsprobe_git": command_output(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
        "bpftrace": tool_version("bpftrace"),
        "heaptrack": tool_version("heaptrack"),
    }


def tool_version(name):
    return command_output([name, "--version"]) if shutil.which(name) else None


# ----------------------------------------------------------------- builds --

def build_workloads(args):
    """Build every workload twice: as users build (rustc -O) and with frame pointers."""
    srcs = [os.path.join(HERE, "workloads", n + ".rs") for n in list(WORKLOADS) + ["live"]]
    harness = os.path.join(HERE, "workloads", "harness.rs")
    counting = os.path.join(HERE, "workloads", "counting.rs")
    bins = {}

    def rustc(src, dst, deps, flags):
        if not os.path.exists(dst) or os.path.getmtime(dst) < max(map(os.path.getmtime, deps)):
            log(f"  RUSTC    {dst}")
            cmd = [args.rustc, "--edition", "2021", "-O", *flags, "-o", dst + ".tmp", src]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"bench: building {src} failed:\n{r.stderr}")
            os.replace(dst + ".tmp", dst)

    for variant, extra in (("nofp", []), ("fp", ["-C", "force-frame-pointers=yes"])):
        outdir = os.path.join(args.build_dir, variant)
        os.makedirs(outdir, exist_ok=True)
        rlib = os.path.join(outdir, "libcounting.rlib")
        rustc(counting, rlib, [counting], [*extra, "--crate-type", "rlib"])
        for src in srcs:
            name = os.path.basename(src)[:-3]
            dst = os.path.join(outdir, name)
            rustc(src, dst, [src, harness], extra)
            bins[(name, variant)] = dst
            if name in COUNTED:
                rustc(src, dst + "-count", [src, harness, rlib],
                      [*extra, "--cfg", "counting", "--extern", f"counting={rlib}",
                       "-L", outdir])
                bins[(name + "-count", variant)] = dst + "-count"
    return bins


def twin_counts(binary, wargs):
    """The allocator calls of a workload's timed phase, as its counting twin counts them."""
    r = subprocess.run([binary, *wargs], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=RUN_TIMEOUT)
    line = next((x for x in r.stdout.splitlines() if x.startswith('{"workload"')), None)
    if r.returncode or not line:
        sys.exit(f"bench: {binary} failed: {r.stderr.strip()[-300:]}")
    res = json.loads(line)
    return [str(res["allocs"]), str(res["frees"]), str(res["reallocs"])]


def shim_symbols(binary):
    """The shims' symbol names (v0-mangled with a per-build hash since rustc 1.7x)."""
    out = subprocess.run(["nm", binary], capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1] not in "Tt":
            continue
        for shim in SHIMS:
            if parts[2] == "__rust_" + shim or parts[2].endswith("___rust_" + shim):
                syms[shim] = parts[2]
    return syms


def bpftrace_script(kind, binary, syms):
    p = {s: f"uprobe:{binary}:{syms[s]}" for s in syms}
    r = {s: f"uretprobe:{binary}:{syms[s]}" for s in syms}
    if kind == "floor":
        body = "".join(f"{p[s]} {{ }}\n" for s in SHIMS if s in syms)
        body += "".join(f"{r[s]} {{ }}\n" for s in SHIMS if s in syms and s != "dealloc")
        return body + 'BEGIN { printf("READY\\n"); }\n'
    # What rsprobe --all records, as a bpftrace user would write it: the live
    # table as a map keyed by pointer, a user stack at both ends.
    allocs = [s for s in ("alloc", "alloc_zeroed") if s in syms]
    return (
        f"{', '.join(p[s] for s in allocs)} {{ @sz[tid] = arg0; }}\n"
        f"{', '.join(r[s] for s in allocs)} /@sz[tid]/ {{\n"
        "  @live[retval] = ustack; @size[retval] = @sz[tid]; delete(@sz[tid]);\n}\n"
        f"{p['realloc']} {{ @old[tid] = arg0; @sz[tid] = arg3; }}\n"
        f"{r['realloc']} /@sz[tid]/ {{\n"
        "  delete(@live[@old[tid]]); delete(@size[@old[tid]]);\n"
        "  @live[retval] = ustack; @size[retval] = @sz[tid];\n"
        "  delete(@old[tid]); delete(@sz[tid]);\n}\n"
        f"{p['dealloc']} {{\n"
        "  delete(@live[arg0]); delete(@size[arg0]); @drops[ustack] = count();\n}\n"
        'BEGIN { printf("READY\\n"); }\n'
        "END { clear(@live); clear(@size); clear(@drops); clear(@sz); clear(@old); }\n"
    )


# ------------------------------------------------------------------- runs --

class LineReader:
    """Lines from a pipe, with a deadline."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b""

    def readline(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunError("timed out waiting for the workload")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise RunError("the workload exited without a result")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")


def wait_for_text(path, text, proc, deadline):
    """Poll a tool's output file for its ready line."""
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            if text in f.read():
                return
        if proc.poll() is not None:
            with open(path, errors="replace") as f:
                msg = f.read().strip().splitlines()
            raise RunError(f"{proc.args[0]} exited: {msg[-1] if msg else proc.returncode}")
        time.sleep(0.01)
    raise RunError(f"{proc.args[0]} did not get ready")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_metrics(port, pid, proc, deadline, ok=lambda text: True):
    """Until rsprobe daemon's /metrics answers (has series of pid, if given); its text."""
    import urllib.request
    want = 'pid="%d",function="[all]"' % pid if pid else "rsprobe_targets "
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"rsprobe daemon exited ({proc.returncode})")
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
                text = r.read().decode()
                if want in text and ok(text):
                    return text
        except OSError:
            pass
        time.sleep(0.05)
    raise RunError("rsprobe daemon did not attach in time" if pid else
                   "rsprobe daemon did not serve its metrics in time")


def metric(text, name, pid, **labels):
    """One series' value from a /metrics page, or None."""
    want = [f'pid="{pid}"'] + [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        if line.startswith(name + "{"):
            lab, _, val = line.rpartition(" ")
            if all(x in lab for x in want):
                return float(val)
    return None


def daemon_figures(port, pid, proc, deadline):
    """What the daemon saw of the workload: allocations and the probes' duty cycle."""
    text = wait_for_metrics(port, pid, proc, deadline, lambda t: (metric(
        t, "rsprobe_allocations_total", pid, function="[all]") or 0) > 0)
    return {"allocations_seen": metric(text, "rsprobe_allocations_total", pid, function="[all]"),
            "duty_cycle": metric(text, "rsprobe_probe_duty_cycle", pid),
            "censored": metric(text, "rsprobe_lifetimes_censored_total", pid)}


def wait4(proc, deadline, sig=signal.SIGINT):
    """Reap a tool with its resource usage; signal it if it outlives the deadline."""
    signalled = 0
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, ru
        if time.monotonic() > deadline:
            proc.send_signal(sig if signalled == 0 else signal.SIGKILL)
            signalled += 1
            deadline = time.monotonic() + 10
        time.sleep(0.01)


def bpf_prog_stats(tool_pid):
    """run_time_ns and run_cnt of the BPF programs a tool holds (kernel.bpf_stats_enabled)."""
    progs = {}
    fddir = f"/proc/{tool_pid}/fdinfo"
    try:
        fds = os.listdir(fddir)
    except OSError:
        return None
    for fd in fds:
        info = {}
        try:
            with open(os.path.join(fddir, fd)) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    info[k.strip()] = v.strip()
        except OSError:
            continue
        if "prog_id" in info and "run_cnt" in info:
            progs[int(info["prog_id"])] = {
                "run_cnt": int(info["run_cnt"]), "run_time_ns": int(info["run_time_ns"])}
    if not progs:
        return None
    names = {}
    if shutil.which("bpftool"):
        try:
            out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True,
                                 text=True, timeout=30).stdout
            names = {p["id"]: p.get("name", "?") for p in json.loads(out or "[]")}
        except (subprocess.TimeoutExpired, ValueError):
            pass
    byname = {}
    for pid_, st in progs.items():
        agg = byname.setdefault(names.get(pid_, str(pid_)), {"run_cnt": 0, "run_time_ns": 0})
        agg["run_cnt"] += st["run_cnt"]
        agg["run_time_ns"] += st["run_time_ns"]
    return {
        "run_cnt": sum(p["run_cnt"] for p in progs.values()),
        "run_time_ns": sum(p["run_time_ns"] for p in progs.values()),
        "programs": byname,
    }


def run_once(args, cfg, binary, wargs, tmp, syms):
    """One run of one workload under one configuration."""
    kind = cfg["kind"]
    deadline = time.monotonic() + RUN_TIMEOUT
    res = {}
    procs = []
    werr = open(os.path.join(tmp, "workload.err"), "w+")
    try:
        if kind == "heaptrack":
            cmd = ["heaptrack", "-o", os.path.join(tmp, "heaptrack"), binary, *wargs]
        else:
            cmd = [binary, *wargs]
        tool = None
        tool_out = os.path.join(tmp, "tool.out")
        if kind == "daemon":
            # As a fleet runs it: there first, finding the workload once it starts.
            port = free_port()
            with open(tool_out, "w") as out:
                tool = subprocess.Popen([args.rsprobe, "daemon", "--exe", binary,
                                         "--metrics", str(port)],
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            procs.append(tool)
            wait_for_metrics(port, None, tool, deadline)
        w = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=werr)
        procs.append(w)
        if kind == "rsprobe":
            rjson = os.path.join(tmp, "rsprobe.json")
            with open(tool_out, "w") as out:
                tool = subprocess.Popen([args.rsprobe, *cfg["flags"], "-o", rjson,
                                         "-p", str(w.pid)],
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            procs.append(tool)
            # rsprobe says so once every probe is attached and recording is on.
            wait_for_text(tool_out, "profiling pid", tool, deadline)
        elif kind == "bpftrace":
            script = os.path.join(tmp, "script.bt")
            with open(script, "w") as f:
                f.write(bpftrace_script(cfg["script"], binary, syms))
            env = dict(os.environ, BPFTRACE_MAP_KEYS_MAX="65536")
            with open(tool_out, "w") as out:
                tool = subprocess.Popen(["bpftrace", "-p", str(w.pid), script],
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                        env=env)
            procs.append(tool)
            # bpftrace runs BEGIN once every probe is attached.
            wait_for_text(tool_out, "READY", tool, deadline)
        t0 = time.monotonic()
        w.stdin.write(b"\n")
        w.stdin.flush()
        reader = LineReader(w.stdout)
        while True:
            line = reader.readline(deadline)
            if line.startswith('{"workload"'):
                break
        res.update(json.loads(line))
        res["wall_s"] = time.monotonic() - t0
        if kind == "daemon":
            # The workload waits now, allocating nothing: what the daemon saw, it saw
            # during the timed phase. Seeing nothing would measure nothing.
            res["daemon"] = daemon_figures(port, w.pid, tool, time.monotonic() + 5)
        if tool is not None and args.bpf_stats:
            res["bpf"] = bpf_prog_stats(tool.pid)
        w.stdin.close()
        _, wru = wait4(w, deadline)
        # The workload's CPU time, start-up included: steadier than its clock on a busy machine.
        res["workload_cpu_s"] = wru.ru_utime + wru.ru_stime
        if w.returncode:
            werr.seek(0)
            raise RunError(f"workload exit {w.returncode}: {werr.read().strip()[-300:]}")
        if tool is not None:
            if kind == "daemon":
                tool.send_signal(signal.SIGTERM)	# it outlives its targets
            rc, ru = wait4(tool, deadline)
            res["tool"] = {"rc": rc, "utime_s": ru.ru_utime, "stime_s": ru.ru_stime,
                           "maxrss_kib": ru.ru_maxrss}
            if kind == "rsprobe":
                if rc:
                    with open(tool_out, errors="replace") as f:
                        raise RunError(f"rsprobe exit {rc}: {f.read().strip()[-300:]}")
                with open(rjson) as f:
                    report = json.load(f)
                res["totals"] = report["totals"]
                res["mode"] = report.get("mode", {})
                if "stacks" in report:
                    res["stacks"] = report["stacks"]
        return res
    finally:
        for p in procs:
            if p.poll() is None and p.returncode is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        werr.close()


def run_safely(args, cfg, binary, wargs, syms):
    tmp = tempfile.mkdtemp(prefix="rsprobe-bench-")
    t0 = time.monotonic()
    try:
        r = run_once(args, cfg, binary, wargs, tmp, syms)
        r["run_s"] = round(time.monotonic() - t0, 3)
        return r
    except (RunError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        return {"error": str(e), "run_s": round(time.monotonic() - t0, 3)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def available(cfg):
    if cfg["kind"] == "bpftrace" and not shutil.which("bpftrace"):
        return "bpftrace not installed (apt-get install bpftrace)"
    if cfg["kind"] == "heaptrack" and not shutil.which("heaptrack"):
        return "heaptrack not installed (apt-get install heaptrack)"
    return None


# ---------------------------------------------------------------- summary --

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs, fixed_cpu=None):
    """Medians per (workload, variant, config).

    fixed_cpu: (variant, config) -> rsprobe's CPU seconds for a session with
    next to no events (loading, unwind tables, attaching, detaching), which
    CPU per event leaves out.
    """
    groups = {}
    for r in runs:
        groups.setdefault((r["workload"], r["variant"], r["config"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r["result"] for r in rs if "error" not in r["result"]]
        s = {"runs": len(rs), "ok": len(ok),
             "errors": sorted({r["result"]["error"] for r in rs if "error" in r["result"]})}
        if ok:
            npc = [r["ns_per_call"] for r in ok]
            s["ns_per_call"] = med(npc)
            s["ns_per_call_min"] = min(npc)
            s["ns_per_call_max"] = max(npc)
            s["calls"] = ok[0]["calls"]
            s["calls_per_s"] = med([r["calls"] / r["ns"] * 1e9 for r in ok])
            if all("workload_cpu_s" in r for r in ok):
                s["workload_cpu_s"] = med([r["workload_cpu_s"] for r in ok])
            dm = [r["daemon"] for r in ok if r.get("daemon")]
            if dm:
                s["daemon_duty_cycle"] = med([x["duty_cycle"] for x in dm
                                              if x.get("duty_cycle") is not None])
                s["daemon_allocations_seen"] = med([x["allocations_seen"] for x in dm])
            tot = [r.get("totals") for r in ok if r.get("totals")]
            if tot:
                ev = [t["allocs"] + t["frees"] + t["reallocs"] for t in tot]
                s["lost_events"] = max(t["lost_events"] for t in tot)
                s["events"] = med(ev)
                s["extra_events"] = med([e - r["calls"] for e, r in zip(ev, ok)])
                s["cpu_ns_per_event_total"] = med([
                    (r["tool"]["utime_s"] + r["tool"]["stime_s"]) * 1e9 / e
                    for r, e in zip(ok, ev) if e])
            fr = [r["mode"]["sampled_fraction"] for r in ok
                  if r.get("mode", {}).get("sampled_fraction") is not None]
            if fr:
                s["sampled_fraction"] = med(fr)
                s["sample_bytes_max"] = max(r["mode"].get("sample_bytes_max", 0) for r in ok
                                            if r.get("mode"))
            st = [r["stacks"] for r in ok if r.get("stacks", {}).get("taken")]
            if st:
                s["stacks_complete"] = min(x.get("complete", 0) / x["taken"] for x in st)
            if any(r.get("tool") for r in ok):
                s["tool_maxrss_kib"] = med([r["tool"]["maxrss_kib"] for r in ok if r.get("tool")])
                s["tool_cpu_s"] = med([r["tool"]["utime_s"] + r["tool"]["stime_s"]
                                       for r in ok if r.get("tool")])
            bpf = [r["bpf"] for r in ok if r.get("bpf")]
            if bpf:
                s["bpf_ns_per_call"] = med([b["run_time_ns"] / r["calls"]
                                            for b, r in zip(bpf, ok)])
                s["bpf_ns_per_run"] = med([b["run_time_ns"] / b["run_cnt"]
                                           for b in bpf if b["run_cnt"]])
                progs = {}
                for b in bpf:
                    for name, st in b["programs"].items():
                        if st["run_cnt"]:
                            progs.setdefault(name, []).append(st["run_time_ns"] / st["run_cnt"])
                s["bpf_ns_per_run_by_program"] = {n: round(med(v), 1) for n, v in progs.items()}
        out[key] = s
    # Added cost and the ratio to rsprobe's own floor, per workload and build.
    for (w, v, c), s in out.items():
        base = out.get((w, v, "none-long" if CONFIGS[c].get("long") else "none"),
                       {}).get("ns_per_call")
        floor = out.get((w, v, "floor"), {}).get("ns_per_call")
        if (s.get("ns_per_call") is not None and base is not None
                and CONFIGS[c]["kind"] != "none"):
            s["added_ns_per_call"] = s["ns_per_call"] - base
            if floor is not None and floor > base:
                s["ratio_to_floor"] = s["added_ns_per_call"] / (floor - base)
        fcpu = (fixed_cpu or {}).get((v, c))
        if s.get("events") and fcpu is not None and "tool_cpu_s" in s:
            s["fixed_cpu_s"] = fcpu
            s["cpu_ns_per_event"] = max(0.0, (s["tool_cpu_s"] - fcpu) * 1e9 / s["events"])
    return out


def memory_summary(runs):
    """rsprobe's peak RSS with N allocations live at once, against none live."""
    out = {}
    for mode in ("default", "all"):
        rss, n = {}, None
        for r in runs:
            if r["config"] == mode and "error" not in r["result"] and r["workload"] in (
                    "live-hold", "live-free"):
                rss.setdefault(r["workload"], []).append(r["result"]["tool"]["maxrss_kib"])
                n = r["result"]["n"]
        hold, free = med(rss.get("live-hold", [])), med(rss.get("live-free", []))
        if hold is None or free is None:
            continue
        out[mode] = {"n": n, "maxrss_hold_kib": hold, "maxrss_free_kib": free,
                     "bytes_per_live": (hold - free) * 1024 / n}
    return out


# ------------------------------------------------------------------ table --

def fmt(x, spec, dash="-"):
    return dash if x is None else format(x, spec)


def pct(x):
    return None if x is None else 100 * x


def print_table(info, summary, mem, skipped, meta, fixed):
    print(f"rsprobe bench, {meta['date']}: {meta['reps']} interleaved repetitions, medians")
    print(f"  kernel {info['kernel']} {info['arch']}, {info['cpus']} x {info['cpu']}, "
          f"{info['os']}; {info['rsprobe']}; {info['rustc']}")
    print(f"  kernel.bpf_stats_enabled={info['bpf_stats_enabled']}"
          "  (BPF ns/call: time inside BPF programs, from the programs' run_time_ns)")
    print("  +ns/call: added to each allocator call over no probes;  x floor: that, divided"
          " by what rsprobe --probe-only adds")
    print("  CPU ns/ev: rsprobe's CPU per event, its fixed cost per session left out;"
          "  RSS: the tool's peak RSS")
    print("  rec %: allocations recorded with their stacks (100: every one; below: sampled,"
          " per-site figures estimated, totals exact)")
    print()
    head = (f"{'workload':<13} {'configuration':<32} {'ns/call':>8} {'+ns/call':>8} "
            f"{'x floor':>7} {'Mcalls/s':>8} {'lost':>5} {'BPF ns/call':>11} "
            f"{'CPU ns/ev':>9} {'RSS MiB':>7} {'rec %':>7}")
    print(head)
    print("-" * len(head))
    order = [(w, "nofp") for w in WORKLOADS] + [(w, "fp") for w in WORKLOADS]
    for w, v in order:
        cfgs = FP_CONFIGS if v == "fp" else [
            c for c in CONFIGS if not CONFIGS[c].get("fp_builds_only")]
        name = w if v == "nofp" else w + " (fp)"
        for c in cfgs:
            label = CONFIGS[c]["label"]
            if c in skipped:
                print(f"{name:<13} {label:<32} {skipped[c]}")
                continue
            s = summary.get((w, v, c))
            if not s:
                continue
            if not s["ok"]:
                print(f"{name:<13} {label:<32} failed: {s['errors'][0][:60]}")
                continue
            rss = s.get("tool_maxrss_kib")
            print(f"{name:<13} {label:<32} {fmt(s['ns_per_call'], '8.1f')} "
                  f"{fmt(s.get('added_ns_per_call'), '8.1f'):>8} "
                  f"{fmt(s.get('ratio_to_floor'), '7.2f'):>7} "
                  f"{s['calls_per_s'] / 1e6:8.3f} "
                  f"{fmt(s.get('lost_events'), '5d'):>5} "
                  f"{fmt(s.get('bpf_ns_per_call'), '11.1f'):>11} "
                  f"{fmt(s.get('cpu_ns_per_event'), '9.1f'):>9} "
                  f"{fmt(rss / 1024 if rss else None, '7.1f'):>7} "
                  f"{fmt(pct(s.get('sampled_fraction')), '7.2f'):>7}")
        print()
    checks = []
    for w in WORKLOADS:
        s = summary.get((w, "nofp", "all"), {})
        if s.get("extra_events") is not None:
            checks.append(f"{w} {s['extra_events']:+.0f}")
    if checks:
        print("Counts: events rsprobe --all recorded minus the calls the workload made "
              "(start-up, exit, threads): " + ", ".join(checks))
        print()
    if fixed:
        print("rsprobe CPU per session, not per event (a run with one allocation), left out "
              "of CPU ns/ev:")
        short = {"floor": "--probe-only", "default": "default mode", "all": "--all",
                 "all-fp": "--all --unwind fp", "sampled": "--sample-bytes 512K",
                 "copy": "--unwind copy", "copy-all": "--all --unwind copy"}
        print("  " + ", ".join(f"{short.get(c, c)}{' (fp build)' if v == 'fp' else ''} {x:.2f} s"
                               for (v, c), x in sorted(fixed.items(), key=lambda k: (
                                   VARIANTS.index(k[0][0]), list(CONFIGS).index(k[0][1])))))
        print()
    if mem:
        n = next(iter(mem.values()))["n"]
        print(f"Memory per live allocation ({n} boxes held at once, against the same "
              "events with none held)")
        for mode, m in mem.items():
            print(f"  {CONFIGS[mode]['label']:<32} peak RSS {m['maxrss_hold_kib'] / 1024:7.1f} MiB"
                  f" held, {m['maxrss_free_kib'] / 1024:7.1f} MiB not held: "
                  f"{m['bytes_per_live']:6.1f} B per live allocation")
        print()


def evaluate_targets(summary, mem):
    """Each target of the issue: the worst workload, met or not."""
    res = []

    def worst(config, variants, key):
        vals = [(summary.get((w, v, config), {}).get(key), w if v == "nofp" else w + " fp")
                for v in variants for w in WORKLOADS]
        vals = [(x, w) for x, w in vals if x is not None]
        return max(vals) if vals else (None, None)

    x, w = worst("default", ("nofp",), "ratio_to_floor")
    each = ", ".join(f"{wl} {summary[(wl, 'nofp', 'default')]['ratio_to_floor']:.2f}x"
                     for wl in WORKLOADS
                     if summary.get((wl, "nofp", "default"), {}).get("ratio_to_floor") is not None)
    res.append((f"default mode <= {TARGETS['default_ratio']:.2f}x the floor, every workload",
                x, f"{x:.2f}x ({w}); {each}" if x is not None else "-",
                x is not None and x <= TARGETS["default_ratio"]))
    x, w = worst("sampled", ("nofp",), "ratio_to_floor")
    if x is not None:
        res.append((f"--sample-bytes 512K <= {TARGETS['default_ratio']:.2f}x the floor",
                    x, f"{x:.2f}x ({w})", x <= TARGETS["default_ratio"]))
    x, w = worst("all", ("nofp", "fp"), "ratio_to_floor")
    complete = [summary.get((w_, v, "all"), {}).get("stacks_complete")
                for w_ in WORKLOADS for v in ("nofp", "fp")]
    complete = [c for c in complete if c is not None]
    shown = f"{x:.2f}x ({w})" if x is not None else "-"
    if complete:
        shown += f"; stacks complete: {min(complete):.1%} at worst"
    res.append((f"--all, complete stacks at both ends <= {TARGETS['all_ratio']:.1f}x the floor",
                x, shown, x is not None and x <= TARGETS["all_ratio"]))
    lost = [summary.get((w, v, c), {}).get("lost_events") for w in WORKLOADS
            for v in ("nofp", "fp") for c in ("default", "sampled", "all")]
    lost = [x for x in lost if x is not None]
    rate = max((summary.get(("churn", v, c), {}).get("calls_per_s") or 0
                for v in ("nofp", "fp") for c in ("default", "all")), default=0)
    res.append(("0 lost events, one core at its highest rate (churn)",
                max(lost) if lost else None,
                f"{max(lost)} lost at up to {rate / 1e6:.2f} M events/s" if lost else "-",
                bool(lost) and max(lost) == 0))
    x, w = worst("all", ("nofp", "fp"), "cpu_ns_per_event")
    y, _ = worst("all", ("nofp", "fp"), "cpu_ns_per_event_total")
    shown = f"{x:.0f} ns ({w})" if x is not None else "-"
    if y is not None:
        shown += f"; {y:.0f} ns with the fixed cost spread over the events"
    res.append((f"rsprobe CPU <= {TARGETS['cpu_ns_per_event']:.0f} ns per event", x, shown,
                x is not None and x <= TARGETS["cpu_ns_per_event"]))
    x, w = worst("all", ("nofp", "fp"), "fixed_cpu_s")
    before = TARGETS["fixed_cpu_s_before"]
    res.append((f"--all CPU per session < {before:.2f} s (before, 5d683c3)", x,
                f"{x:.2f} s ({w})" if x is not None else "-",
                x is not None and x < before))
    b = max((m["bytes_per_live"] for m in mem.values()), default=None)
    res.append((f"<= {TARGETS['bytes_per_live']:.0f} bytes per tracked live allocation", b,
                f"{b:.0f} B" if b is not None else "-",
                b is not None and b <= TARGETS["bytes_per_live"]))
    d = summary.get(("text", "nofp", "daemon"), {}).get("ns_per_call")
    n = summary.get(("text", "nofp", "none-long"), {}).get("ns_per_call")
    if d is not None and n:
        res.append((f"daemon, default budget <= {TARGETS['daemon_ratio']:.2f}x no probes (text)",
                    d / n, f"{d / n:.2f}x", d / n <= TARGETS["daemon_ratio"]))
    print("Targets (worst workload)")
    for name, _, shown, ok in res:
        print(f"  {'met   ' if ok else 'MISSED'}  {name:<55} {shown}")
    # Not targets, the figures beside them: how much the default mode sampled,
    # and what it costs against the peer that needs no trap.
    rec = [f"{w} {100 * summary[(w, 'nofp', c)]['sampled_fraction']:.2f}%"
           for c in ("default", "sampled") for w in WORKLOADS
           if summary.get((w, "nofp", c), {}).get("sampled_fraction") is not None]
    if rec:
        n = len(WORKLOADS)
        print(f"  info    allocations recorded, default mode: {', '.join(rec[:n])}")
        if rec[n:]:
            print(f"  info    allocations recorded, --sample-bytes 512K: {', '.join(rec[n:])}")
    for mode, label in (("default", "default mode"), ("all", "--all")):
        peer = []
        for w in WORKLOADS:
            d = summary.get((w, "nofp", mode), {}).get("added_ns_per_call")
            h = summary.get((w, "nofp", "heaptrack"), {}).get("added_ns_per_call")
            if d is not None and h:
                peer.append(f"{w} {d / h:.2f}x")
                res.append((f"{label} / heaptrack, {w}", d / h, f"{d / h:.2f}x", None))
        if peer:
            print(f"  info    {label} against heaptrack (added ns per call): {', '.join(peer)}")
    # The daemon: each workload's time, and its CPU time (start-up included,
    # steadier on a busy machine), to no probes at the same length.
    dm = []
    for w in WORKLOADS:
        d, n = summary.get((w, "nofp", "daemon"), {}), summary.get((w, "nofp", "none-long"), {})
        if d.get("ns_per_call") and n.get("ns_per_call"):
            x = f"{w} {d['ns_per_call'] / n['ns_per_call']:.3f}x"
            if d.get("workload_cpu_s") and n.get("workload_cpu_s"):
                x += f" (CPU {d['workload_cpu_s'] / n['workload_cpu_s']:.3f}x)"
            if d.get("daemon_duty_cycle") is not None:
                x += f" attached {100 * d['daemon_duty_cycle']:.1f}%"
            dm.append(x)
    if dm:
        print(f"  info    daemon to no probes, time: {', '.join(dm)}")
    return [{"target": n, "value": x, "shown": sh, "met": ok} for n, x, sh, ok in res]


# ------------------------------------------------------------------- main --

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rsprobe", default=os.path.join(ROOT, "rsprobe"))
    ap.add_argument("--rustc", default=shutil.which("rustc")
                    or os.path.expanduser("~/.cargo/bin/rustc"))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, ".output", "bench-workloads"))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--reps", type=int, default=5, help="repetitions at most (default 5)")
    ap.add_argument("--min-reps", type=int, default=3)
    ap.add_argument("--budget", type=float, default=480,
                    help="seconds the repetitions may take; fewer run if they would not fit")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply workload sizes")
    ap.add_argument("--configs", help="comma-separated subset of: " + ",".join(CONFIGS))
    ap.add_argument("--workloads", help="comma-separated subset of: " + ",".join(WORKLOADS))
    ap.add_argument("--no-fp", action="store_true", help="skip the frame-pointer builds")
    ap.add_argument("--no-memory", action="store_true", help="skip the live-allocation phase")
    ap.add_argument("--readme", metavar="FILE",
                    help="write the table and the targets into FILE's Performance section, "
                         "between its bench markers (make bench: README.md)")
    ap.add_argument("--bpf-stats", action="store_true",
                    help="turn kernel.bpf_stats_enabled on for the run (restored after)")
    args = ap.parse_args()

    start = time.monotonic()
    args.rsprobe = os.path.abspath(args.rsprobe)
    if not os.access(args.rsprobe, os.X_OK):
        sys.exit(f"bench: {args.rsprobe} not found: build it first (make)")
    if os.geteuid() != 0:
        log("bench: not root: rsprobe and bpftrace need root, or CAP_BPF and CAP_PERFMON")
    stats_path = "/proc/sys/kernel/bpf_stats_enabled"
    stats_was = read_first(stats_path)
    if args.bpf_stats and stats_was == "0":
        with open(stats_path, "w") as f:
            f.write("1")
    try:
        return bench(args, start)
    finally:
        if args.bpf_stats and stats_was == "0":
            with open(stats_path, "w") as f:
                f.write("0")


def bench(args, start):
    args.bpf_stats = read_first("/proc/sys/kernel/bpf_stats_enabled") == "1"
    configs = args.configs.split(",") if args.configs else list(CONFIGS)
    for c in configs:
        if c not in CONFIGS:
            sys.exit(f"bench: unknown configuration {c}")
    configs = [c for c in CONFIGS if c in configs]
    selected = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    for w in selected:
        if w not in WORKLOADS:
            sys.exit(f"bench: unknown workload {w}")
    skipped = {c: why for c in configs if (why := available(CONFIGS[c]))}

    info = machine_info(args)
    log("bench: building workloads")
    bins = build_workloads(args)
    syms = {b: shim_symbols(path) for b, path in bins.items()}

    # One repetition: every workload under every configuration, in turn.
    plan = []
    for v in ("nofp",) + (() if args.no_fp else ("fp",)):
        for w in [w for w in WORKLOADS if w in selected]:
            sized = {}
            for c in configs:
                if c in skipped or (v == "fp" and c not in FP_CONFIGS) or (
                        v == "nofp" and CONFIGS[c].get("fp_builds_only")):
                    continue
                scale = args.scale * (LONG_SCALE[w] if CONFIGS[c].get("long") else 1)
                if scale not in sized:
                    wargs = [str(max(1, int(int(a) * scale))) for a in WORKLOADS[w]]
                    if w in COUNTED:
                        wargs += twin_counts(bins[(w + "-count", v)], wargs)
                    sized[scale] = wargs
                plan.append((w, v, c, sized[scale]))
        # rsprobe's fixed cost per session: the same binary, one allocation.
        for c in configs:
            if CONFIGS[c]["kind"] == "rsprobe" and (v, c) in {(p[1], p[2]) for p in plan}:
                plan.append(("idle", v, c, ["1"]))
    mem_plan = []
    if not args.no_memory:
        n = str(max(1, int(LIVE_N * args.scale)))
        for c in ("default", "all"):
            if c in configs:
                mem_plan += [("live-hold", "nofp", c, [n, "hold"]),
                             ("live-free", "nofp", c, [n, "free"])]

    runs = []
    reps = args.reps
    rep = 0
    rep_start = time.monotonic()
    while rep < reps:
        # Rotate the order each repetition so no configuration always runs first.
        k = rep % len(configs) if configs else 0
        order = sorted(plan, key=lambda p: (VARIANTS.index(p[1]),
                                            (list(WORKLOADS) + ["idle"]).index(p[0]),
                                            (configs.index(p[2]) - k) % len(configs)))
        if rep < 2:
            order += mem_plan
        for w, v, c, wargs in order:
            name = BINARY_OF.get(w, w)
            r = run_safely(args, CONFIGS[c], bins[(name, v)], wargs, syms[(name, v)])
            runs.append({"workload": w, "variant": v, "config": c, "rep": rep, "args": wargs,
                         "result": r})
            status = r.get("error") or f"{r['ns_per_call']:.1f} ns/call, {r['run_s']:.1f} s"
            log(f"  rep {rep + 1} {w:<9} {v:<4} {c:<9} {status}")
        rep += 1
        # A configuration that failed every run of the first repetition (a tool
        # that cannot load here) would only fail again: keep its error, not its time.
        if rep == 1:
            done = {}
            for r in runs:
                done.setdefault(r["config"], []).append("error" in r["result"])
            dead = {c for c, errs in done.items() if all(errs)}
            plan = [p for p in plan if p[2] not in dead]
            mem_plan = [p for p in mem_plan if p[2] not in dead]
            for c in sorted(dead):
                log(f"bench: {c} failed every run; not repeated")
            # Fit the repetitions into the budget (the memory phase runs twice).
            per = time.monotonic() - rep_start
            fit = int(args.budget // max(per, 1e-3))
            reps = max(args.min_reps, min(args.reps, fit))
            if reps < args.reps:
                log(f"bench: {reps} repetitions fit in the {args.budget:.0f} s budget")

    idle = summarize([r for r in runs if r["workload"] == "idle"])
    fixed = {(v, c): s["tool_cpu_s"] for (w, v, c), s in idle.items() if "tool_cpu_s" in s}
    summary = summarize([r for r in runs if r["workload"] in WORKLOADS], fixed)
    mem = memory_summary(runs)
    now = datetime.datetime.now(datetime.timezone.utc)
    meta = {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "reps": reps,
            "seconds": round(time.monotonic() - start, 1)}
    print()
    # Printed and kept: the README's figures are this very text.
    out = io.StringIO()
    with contextlib.redirect_stdout(Tee(sys.stdout, out)):
        print_table(info, summary, mem, skipped, meta, fixed)
        targets = evaluate_targets(summary, mem)
    meta["seconds"] = round(time.monotonic() - start, 1)
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, "bench-" + now.strftime("%Y%m%d-%H%M%S") + ".json")
    with open(path, "w") as f:
        json.dump({
            "schema": 1, "meta": meta, "machine": info, "targets": targets,
            "workloads": WORKLOADS, "live_n": LIVE_N,
            "configs": {c: CONFIGS[c] for c in configs}, "skipped": skipped,
            "summary": [dict(workload=w, variant=v, config=c, **s)
                        for (w, v, c), s in sorted(summary.items())],
            "memory": mem, "fixed_cpu_s": [dict(variant=v, config=c, cpu_s=x)
                                            for (v, c), x in sorted(fixed.items())],
            "runs": runs,
        }, f, indent=1)
    print()
    print(f"{len(runs)} runs in {meta['seconds']:.0f} s; results in {os.path.relpath(path)}")
    if args.readme:
        write_readme(args.readme, info, meta, out.getvalue())
        print(f"Performance figures written into {os.path.relpath(args.readme)}")
    return 0


class Tee:
    def __init__(self, *files):
        self.files = files

    def write(self, text):
        for f in self.files:
            f.write(text)

    def flush(self):
        for f in self.files:
            f.flush()


README_BEGIN = "<!-- bench:begin: written by make bench (bench/bench.py --readme); edit there -->"
README_END = "<!-- bench:end -->"


def write_readme(path, info, meta, text):
    """Replace what lies between the README's bench markers with this run's figures."""
    with open(path) as f:
        doc = f.read()
    a, b = doc.find(README_BEGIN), doc.find(README_END)
    if a < 0 or b < a:
        sys.exit(f"bench: {path} has no bench markers ({README_BEGIN} ... {README_END})")
    stats = "with" if info.get("bpf_stats_enabled") == "1" else "without"
    lines = text.splitlines()
    # The table's own header repeats what the sentence says.
    body = "\n".join(lines[lines.index("") + 1:] if "" in lines else lines).strip("\n")
    block = (f"{README_BEGIN}\n"
             f"Measured {meta['date']} at commit {info.get('rsprobe_git') or '?'}, on "
             f"{info.get('cpus')} x {info.get('cpu')} with Linux {info.get('kernel')}, "
             f"{stats} `kernel.bpf_stats_enabled`: {meta['reps']} interleaved repetitions "
             f"(medians), {meta['seconds'] / 60:.0f} min in all.\n\n"
             f"```\n{body}\n```\n")
    with open(path + ".tmp", "w") as f:
        f.write(doc[:a] + block + doc[b:])
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main())
