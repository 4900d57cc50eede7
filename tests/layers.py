#!/usr/bin/env python3
"""Allocation layers: which allocator rsprobe probes, and that it sees every
Rust allocation exactly once there.

The fixture tests/fixtures/layers.rs allocates in known functions a known
number of times (its `pub const X_N` constants). tests/build-fixtures.sh
builds it over three global allocators, each wrapped by a counting allocator
that writes the program's own counts at exit (counting.rs over System,
counting_backends.rs over jemalloc or mimalloc), and with and without LTO:

  build                     allocator                        probed layer (auto)
  layers-sys                System, -O                       rust (the shims)
  layers-sys-cgu1           System, -C codegen-units=1       rust
  layers-sys-lto-thin       System, -C lto=thin              libc (shims exist, bypassed)
  layers-sys-lto-fat        System, -C lto=fat               libc (shims gone)
  layers-sys-stripped       layers-sys, strip --strip-all    libc
  layers-samecrate          System, the counting allocator   rust (its methods: the
                            in the program's own crate       code calls them directly)
  layers-lock               counting allocator inlined into  rust (probed past the
                            the shims, non-PIE: they start   lock prefix)
                            with `lock incq`
  layers-default-lto        Rust's default allocator, fat    libc (no counts)
  layers-jemalloc           libjemalloc.so.2, -O             rust
  layers-jemalloc-lto       libjemalloc.so.2, fat LTO        jemalloc
  layers-jemalloc-stripped  layers-jemalloc, stripped        jemalloc
  layers-rjem-lto           static jemalloc, _rjem_ names    jemalloc (in the executable)
  layers-mimalloc           libmimalloc.so.2, -O             rust
  layers-mimalloc-lto       libmimalloc.so.2, fat LTO        mimalloc

What the count checks mean. At the rust layer, rsprobe's totals must equal
the program's counts exactly. Below it (libc, jemalloc, mimalloc) rsprobe also
sees allocations that never went through Rust's global allocator, so every
birth in the report is put in exactly one class, from its birth stack (every
frame, library frames included; stripped builds are symbolized with their
unstripped twin):
  rust      a frame of the fixture's counting allocator
            (`<..Counting as core::alloc::global::GlobalAlloc>::..`)
  c         otherwise, the innermost frame is in a shared library (libc,
            ld.so, libstdc++, ...): C code allocating for itself, e.g.
            pthread_getattr_np's FILE buffer, pthread_create's TLS
  system    otherwise, a frame names `std::alloc::System`: std's own uses of
            the System allocator that bypass the global allocator (e.g. the
            Arc of std::thread::Thread). LTO can inline System::alloc into
            std::thread's spawn_unchecked, leaving no System frame: a birth
            whose innermost Rust frame is that function counts here too, as
            std's thread spawning allocates only with System there (the
            global allocator's births carry the Counting frame, `rust`)
  nested    a `c` birth whose innermost frame is the probed allocator's own
            entry point (realloc calling malloc, ...): one allocation counted
            twice
  unexplained  anything else, an empty stack included
and the test requires: nested and unexplained are empty; the rust class's
allocs, frees, reallocs, bytes, bytes freed and live count equal the program's
counts; the totals equal the sum over sites (plus unknown frees and reallocs),
so totals.allocs - truth.allocs = births(c) + births(system) exactly; no
unknown realloc and no lost event; unknown frees only at the libc layer (glibc
frees a thread's cached chunks at thread exit, chunks the program had already
freed). Per function, the known functions' allocations equal the constants.

Tests that need BPF skip with a reason on a machine without it, and fail
instead when CI is set; so do tests whose fixture was not built (jemalloc and
mimalloc need libjemalloc-dev and libmimalloc-dev) and the ripgrep test when
rg is missing (installed here in CI).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import integration as it  # noqa: E402

Skip = it.Skip
check = it.check
eq = it.eq


# ---------------------------------------------------------------- builds

class Build:
    def __init__(self, name, layer, backend, lto=False, twin=None, counts=True, pkg=None,
                 samecrate=False):
        self.name = name
        self.layer = layer          # what --source auto must pick
        self.backend = backend      # system | jemalloc | rjem | mimalloc | default
        self.lto = lto
        self.twin = twin            # the unstripped build this is a stripped copy of
        self.counts = counts        # has a counting allocator (ground truth)
        self.pkg = pkg              # Debian package the build needs
        self.samecrate = samecrate  # the counting allocator in the program's crate

    @property
    def path(self):
        return it.fixture(self.name)


BUILDS = [
    Build("layers-sys", "rust", "system"),
    Build("layers-sys-cgu1", "rust", "system"),
    Build("layers-sys-lto-thin", "libc", "system", lto=True),
    Build("layers-sys-lto-fat", "libc", "system", lto=True),
    Build("layers-sys-stripped", "libc", "system", twin="layers-sys"),
    Build("layers-lock", "rust", "system"),
    Build("layers-samecrate", "rust", "system", samecrate=True),
    Build("layers-default-lto", "libc", "default", lto=True, counts=False),
    Build("layers-jemalloc", "rust", "jemalloc", pkg="libjemalloc-dev"),
    Build("layers-jemalloc-lto", "jemalloc", "jemalloc", lto=True, pkg="libjemalloc-dev"),
    Build("layers-jemalloc-stripped", "jemalloc", "jemalloc", twin="layers-jemalloc",
          pkg="libjemalloc-dev"),
    Build("layers-rjem-lto", "jemalloc", "rjem", lto=True, pkg="libjemalloc-dev"),
    Build("layers-mimalloc", "rust", "mimalloc", pkg="libmimalloc-dev"),
    Build("layers-mimalloc-lto", "mimalloc", "mimalloc", lto=True, pkg="libmimalloc-dev"),
]
BY_NAME = {b.name: b for b in BUILDS}

# The object whose allocator functions are probed, as source_reason names it
# (a substring of its path). layers-rjem-lto's jemalloc is in the binary itself.
LAYER_OBJECT = {"libc": "libc.so", "jemalloc": "libjemalloc.so", "mimalloc": "libmimalloc.so"}

# Known functions and how often each allocates (layers.rs).
CASES = [
    ("layers::borrow_case", "BORROW_N"),
    ("layers::move_case", "MOVE_N"),
    ("layers::produce", "RETURN_N"),
    ("layers::zeroed_case", "ZEROED_N"),
    ("layers::grow_case", "GROW_N"),
    ("layers::aligned_case", "ALIGNED_N"),
    ("layers::big_case", "BIG_N"),
    ("layers::thread_case", "THREAD_N"),
]


def const(name):
    return it.fixture_const("layers.rs", name)


def need_fixture(b):
    if not os.path.exists(b.path):
        why = "fixture %s not built (tests/build-fixtures.sh" % b.name
        if b.pkg:
            why += "; it needs %s, which scripts/setup.sh installs" % b.pkg
        raise Skip(why + ")")


def available(builds):
    """The builds whose fixture exists, and those missing (skip_if_missing after
    the others ran)."""
    missing = [b for b in builds if not os.path.exists(b.path)]
    return [b for b in builds if b not in missing], missing


def skip_if_missing(missing):
    if missing:
        need_fixture(missing[0])


# ---------------------------------------------------------------- ELF facts
# What the tests rely on about each build, checked from the binary itself so
# that a compiler that inlines differently fails here, not in rsprobe's tests.

SHIM_RE = re.compile(r"^(?:_RNvCs\w+_7___rustc\d+_?)?(__rust_(?:alloc|alloc_zeroed|realloc|dealloc))$")
C_ENTRY = {"malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign",
           "valloc", "pvalloc", "reallocarray", "mallocx", "rallocx", "sdallocx", "dallocx",
           "xallocx", "mi_malloc", "mi_zalloc", "mi_calloc", "mi_malloc_aligned",
           "mi_zalloc_aligned", "mi_realloc", "mi_realloc_aligned", "mi_free"}
COUNTING_RE = re.compile(r"Counting as core::alloc::global::GlobalAlloc>::(alloc|alloc_zeroed|"
                         r"realloc|dealloc)$")


def out_of(args):
    r = subprocess.run(args, capture_output=True, text=True)
    eq(r.returncode, 0, "%s (stderr: %s)" % (" ".join(args), r.stderr[-300:]))
    return r.stdout


def c_entry(name):
    """The allocator entry point a symbol names, or None (strips versions and prefixes)."""
    n = name.split("@")[0]
    for p in ("__GI___libc_", "__libc_", "__GI_", "_rjem_", "je_"):
        if n.startswith(p):
            n = n[len(p):]
    return n if n in C_ENTRY else None


def elf_facts(path):
    """Shim symbols, and what each function calls among the shims, the counting
    allocator's methods and the C allocator's entry points: direct calls and
    calls through GOT slots (rustc calls through the GOT; a slot is filled by a
    RELATIVE relocation for a local target, GLOB_DAT/JUMP_SLOT for an import)."""
    syms = {}   # address -> demangled name
    shims = {}  # shim -> nm type letter
    for line in out_of(["nm", path]).splitlines():
        p = line.split()
        if len(p) == 3:
            m = SHIM_RE.match(p[2])
            if m:
                shims[m.group(1)] = p[1]
    for line in out_of(["nm", "-C", path]).splitlines():
        p = line.split(None, 2)
        if len(p) == 3 and p[1] in "TtWw":
            syms[int(p[0], 16)] = p[2]
    slots = {}
    for line in out_of(["readelf", "-rW", path]).splitlines():
        p = line.split()
        if len(p) >= 4 and p[2] == "R_X86_64_RELATIVE":
            try:
                a = int(p[3], 16)
            except ValueError:
                continue
            if a in syms:
                slots[int(p[0], 16)] = syms[a]
        elif len(p) >= 5 and p[2] in ("R_X86_64_GLOB_DAT", "R_X86_64_JUMP_SLOT"):
            slots[int(p[0], 16)] = p[4].split("@")[0]
    calls = {}  # caller -> set of callees of interest
    cur = None
    for line in out_of(["objdump", "-d", "-C", "--no-show-raw-insn", path]).splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            cur = m.group(1)
            continue
        m = re.search(r"\t(?:call|jmp)\s+\*0x[0-9a-f]+\(%rip\)\s+# ([0-9a-f]+)", line)
        if m:
            t = slots.get(int(m.group(1), 16))
        else:
            m = re.search(r"\t(?:call|jmp)\s+([0-9a-f]+) <([^>+]+)>", line)
            t = m and (syms.get(int(m.group(1), 16)) or m.group(2).split("@")[0])
        if not t:
            continue
        tn = t.replace("__rustc::", "")
        if tn in ("__rust_alloc", "__rust_alloc_zeroed", "__rust_realloc", "__rust_dealloc") \
                or COUNTING_RE.search(t) or c_entry(t):
            calls.setdefault(cur, set()).add(tn)
    return shims, calls


def user_calls(calls):
    """What the fixture's own functions (layers::*) call."""
    out = set()
    for caller, callees in calls.items():
        if caller.startswith("layers::"):
            out |= callees
    return out


def dynsym(path):
    return {(l.split()[-1].split("@")[0], l.split()[-2]) for l in
            out_of(["nm", "-D", path]).splitlines() if len(l.split()) >= 2}


def has_symtab(path):
    return ".symtab" in out_of(["readelf", "-SW", path])


def test_fixtures_as_built():
    """Each build is what its expected layer assumes, and prints its counts."""
    builds, missing = available(BUILDS)
    for b in builds:
        what = lambda s: "%s: %s" % (b.name, s)  # noqa: E731
        counts = it.tmp(b.name + ".plain-counts")
        if os.path.exists(counts):
            os.unlink(counts)
        r = it.run([b.path], env={"RSPROBE_FIXTURE_COUNTS": counts})
        eq(r.returncode, 0, what("exit status (stderr: %s)" % r.stderr))
        check("layers fixture done" in r.stdout, what("ran to the end: %r" % r.stdout))
        if b.counts:
            truth = json.load(open(counts))
            known = sum(const(c) for _, c in CASES)
            check(truth["allocs"] >= known and truth["frees"] >= known - 1 and
                  truth["reallocs"] >= 2 * const("GROW_N"),
                  what("the counting allocator saw the workload: %r" % truth))
        else:
            check(not os.path.exists(counts), what("no counts without a counting allocator"))
        if b.twin:
            check(not has_symtab(b.path), what("stripped: no .symtab"))
            check(os.path.getsize(b.path) < os.path.getsize(it.fixture(b.twin)),
                  what("smaller than its twin"))
            shims, calls = {}, {}
        else:
            shims, calls = elf_facts(b.path)
        mine = user_calls(calls)
        if b.twin:
            pass
        elif b.samecrate:
            eq(sorted(shims), sorted(["__rust_alloc", "__rust_alloc_zeroed", "__rust_realloc",
                                      "__rust_dealloc"]), what("the four shims"))
            check(any(COUNTING_RE.search(c) for c in mine) and
                  not any(c.startswith("__rust_") or c_entry(c) for c in mine),
                  what("layers::* call the counting allocator's methods, nothing else: %s"
                       % sorted(mine)))
        elif b.layer == "rust":
            eq(sorted(shims), sorted(["__rust_alloc", "__rust_alloc_zeroed", "__rust_realloc",
                                      "__rust_dealloc"]), what("the four shims"))
            check("__rust_alloc" in mine and not any(COUNTING_RE.search(c) or c_entry(c)
                                                     for c in mine),
                  what("layers::* call the shims, nothing below: %s" % sorted(mine)))
        else:
            check(not any(c.startswith("__rust_") for c in mine),
                  what("LTO: layers::* never call a shim: %s" % sorted(mine)))
            if b.counts:
                check(any(COUNTING_RE.search(c) for c in mine),
                      what("LTO: layers::* call the counting allocator directly: %s"
                           % sorted(mine)))
            else:
                check({"malloc", "free"} <= mine,
                      what("LTO, default allocator: layers::* call malloc and free: %s"
                           % sorted(mine)))
        imports = {n for n, t in dynsym(b.path) if t == "U"}
        if b.backend == "jemalloc":
            check({"mallocx", "rallocx", "sdallocx"} <= imports, what("imports jemalloc's *allocx"))
        if b.backend == "mimalloc":
            check({"mi_malloc_aligned", "mi_realloc_aligned", "mi_free"} <= imports,
                  what("imports mimalloc's functions"))
        if b.backend == "rjem":
            own = {s.split()[-1] for s in out_of(["nm", "--defined-only", b.path]).splitlines()}
            check({"_rjem_mallocx", "_rjem_rallocx", "_rjem_sdallocx"} <= own and
                  "mallocx" not in imports, what("jemalloc inside, with _rjem_ names"))
    skip_if_missing(missing)


# ---------------------------------------------------------------- profiles

_profiles = {}


def profile(b, extra=()):
    """rsprobe --all -o X.json [extra] -- FIXTURE, once per build and options."""
    key = (b.name, tuple(extra))
    if key in _profiles:
        return _profiles[key]
    need_fixture(b)
    tag = b.name + "".join("_" + re.sub(r"\W", "", x) for x in extra)
    out, counts = it.tmp(tag + ".json"), it.tmp(tag + ".counts")
    for f in (out, counts):
        if os.path.exists(f):
            os.unlink(f)
    r = it.run([it.RSPROBE, "--all", "-o", out] + list(extra) + ["--", b.path],
               env={"RSPROBE_FIXTURE_COUNTS": counts})
    eq(r.returncode, 0, "%s: rsprobe exit status (stderr: %s)" % (b.name, r.stderr))
    check("layers fixture done" in r.stdout, "%s: the program's stdout passes through" % b.name)
    d = json.load(open(out))
    it.check_contract(d)
    truth = None
    if b.counts:
        check(os.path.exists(counts), "%s: the fixture wrote its counts" % b.name)
        truth = json.load(open(counts))
    _profiles[key] = (d, truth)
    return d, truth


def each(builds, fn):
    """fn(build) for every build, all run; failures reported together."""
    ok, missing = available(builds)
    errors = []
    for b in ok:
        try:
            fn(b)
        except AssertionError as e:
            msg = str(e)
            errors.append(msg if msg.startswith(b.name) else "%s: %s" % (b.name, msg))
    check(not errors, "\n      ".join([""] + errors))
    skip_if_missing(missing)


# ---------------------------------------------------------------- classes of births

class Symbolizer:
    """Names for frames of a stripped build: its unstripped twin's, inline frames
    included (addr2line -i), at the return address minus one."""

    def __init__(self, twin):
        self.twin = twin
        self.cache = {}

    def names(self, offsets):
        todo = sorted({o for o in offsets if o not in self.cache})
        for i in range(0, len(todo), 500):
            chunk = todo[i:i + 500]
            txt = out_of(["addr2line", "-a", "-f", "-i", "-C", "-e", self.twin] +
                         ["0x%x" % (o - 1) for o in chunk])
            cur = None
            lines = txt.splitlines()
            k = 0
            while k < len(lines):
                if re.match(r"^0x[0-9a-f]+$", lines[k]):
                    cur = int(lines[k], 16) + 1
                    self.cache[cur] = []
                    k += 1
                    continue
                self.cache[cur].append(lines[k])
                k += 2  # function, then file:line
        return self.cache


def frame_names(d, b):
    """site id -> list of (names of the frame, module) innermost first."""
    exe = os.path.realpath(b.path)
    sym = None
    if b.twin:
        sym = Symbolizer(it.fixture(b.twin))
        offs = [f["offset"] for s in d["sites"] for f in s["stack"]
                if f["module"] and os.path.realpath(f["module"]) == exe]
        sym.names(offs)
    out = {}
    for s in d["sites"]:
        fr = []
        for f in s["stack"]:
            mod = os.path.realpath(f["module"]) if f["module"] else None
            if sym and mod == exe:
                fr.append((sym.cache.get(f["offset"], []), mod))
            else:
                fr.append(([f["function"]], mod))
        out[s["id"]] = fr
    return out


def classify(d, b, layer):
    exe = os.path.realpath(b.path)
    names = frame_names(d, b)
    classes = {k: [] for k in ("rust", "c", "system", "nested", "unexplained")}
    for s in d["sites"]:
        fr = names[s["id"]]
        every = [n for ns, _ in fr for n in ns]
        if not fr:
            cls = "unexplained"
        elif any(COUNTING_RE.search(n) for n in every):
            cls = "rust"
        elif fr[0][1] is None:
            cls = "unexplained"
        elif fr[0][1] != exe:
            mod = os.path.basename(fr[0][1] or "?")
            inner = fr[0][0][0] if fr[0][0] else ""
            own = (layer == "libc" and mod.startswith("libc.so") and c_entry(inner)) or \
                  (layer in ("jemalloc", "mimalloc") and mod.startswith("lib" + layer))
            cls = "nested" if own else "c"
        elif any("std::alloc::System" in n for n in every) or \
                (b.lto and any("std::thread::lifecycle::spawn_unchecked" in n for n in every)):
            cls = "system"
        else:
            cls = "unexplained"
        classes[cls].append(s)
    return classes


def describe(sites, n=4):
    out = []
    for s in sites[:n]:
        fr = [f["function"] for f in s["stack"][:3]]
        out.append("%d x %s %s" % (s["allocs"], s["function"], fr or "(no frames)"))
    return "; ".join(out) + (" ..." if len(sites) > n else "")


def check_counts(b, d, truth, layer):
    t = d["totals"]
    what = lambda s: "%s at %s: %s" % (b.name, layer, s)  # noqa: E731
    eq(d["mode"]["source"], layer, what("mode.source"))
    eq(t["lost_events"], 0, what("lost events"))
    eq(sum(s["allocs"] for s in d["sites"]), t["allocs"], what("site allocs add up to totals"))
    eq(sum(s["frees"] for s in d["sites"]) + t["unknown_frees"], t["frees"],
       what("site frees + unknown frees = totals.frees"))
    eq(sum(s["reallocs"] for s in d["sites"]) + t.get("unknown_reallocs", 0), t["reallocs"],
       what("site reallocs + unknown reallocs = totals.reallocs"))
    eq(t.get("unknown_reallocs", 0), 0, what("unknown reallocs (launch mode sees every birth)"))
    if layer == "rust":
        for k in ("allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed"):
            eq(t[k], truth[k], what("totals.%s against the counting allocator" % k))
        eq(t["unknown_frees"], 0, what("unknown frees"))
        eq(t["live_allocs"], truth["allocs"] - truth["frees"], what("live at the end"))
        return
    if layer != "libc":
        eq(t["unknown_frees"], 0, what("unknown frees"))
    cl = classify(d, b, layer)
    n = {k: sum(s["allocs"] for s in v) for k, v in cl.items()}
    summary = "births: %s; totals.allocs %d, program %d" % (n, t["allocs"], truth["allocs"])
    check(not cl["unexplained"], what("births that are neither the program's, C code's nor "
                                      "std's System's: %s (%s)"
                                      % (describe(cl["unexplained"]), summary)))
    check(not cl["nested"], what("births inside the allocator's own entry points (counted "
                                 "twice): %s (%s)" % (describe(cl["nested"]), summary)))
    rust = cl["rust"]
    for key, tkey in (("allocs", "allocs"), ("frees", "frees"), ("reallocs", "reallocs"),
                      ("bytes", "bytes_allocated"), ("bytes_freed", "bytes_freed")):
        if rust and key not in rust[0]:
            continue
        eq(sum(s[key] for s in rust), truth[tkey],
           what("%s of births through the counting allocator against its own count (%s)"
                % (key, summary)))
    eq(sum(s["live"] for s in rust), truth["allocs"] - truth["frees"],
       what("live allocations of the program at the end"))
    eq(t["allocs"] - truth["allocs"], n["c"] + n["system"],
       what("the allocations beyond the program's are exactly the C and std System ones"))


@it.needs_bpf
def test_auto_picks_the_layer():
    """--source auto: the expected layer, and a reason naming the binary and the object."""
    def one(b):
        d, _ = profile(b)
        m = d["mode"]
        reason = m["source_reason"]
        what = "%s: " % b.name
        eq(m["source"], b.layer, what + "mode.source (reason: %s)" % reason)
        check(b.path in reason or os.path.realpath(b.path) in reason,
              what + "the reason names the binary: %s" % reason)
        obj = LAYER_OBJECT.get(b.layer)
        if obj and b.backend != "rjem":
            check(obj in reason, what + "the reason names %s: %s" % (obj, reason))
        if b.lto:
            check("LTO" in reason, what + "the reason says LTO: %s" % reason)
        if b.twin:
            check("stripped" in reason, what + "the reason says stripped: %s" % reason)
        eq(d["totals"]["lost_events"], 0, what + "lost events")
    each(BUILDS, one)


@it.needs_bpf
def test_counts_at_the_chosen_layer():
    """Totals against the program's own counts, at the layer auto chose."""
    def one(b):
        d, truth = profile(b)
        check_counts(b, d, truth, b.layer)
    each([b for b in BUILDS if b.counts], one)


def check_functions(b, d):
    what = lambda s: "%s at %s: %s" % (b.name, d["mode"]["source"], s)  # noqa: E731
    rows = {f["function"]: f for f in d["functions"]}
    for fn, c in CASES:
        n = const(c)
        got = sum(s["allocs"] for s in d["sites"] if s["function"] == fn)
        eq(got, n, what("%s allocs (sites)" % fn))
        eq(rows.get(fn, {}).get("allocs"), n, what("%s allocs (function table)" % fn))
    grow = [s for s in d["sites"] if s["function"] == "layers::grow_case"]
    check(sum(s["reallocs"] for s in grow) >= 2 * const("GROW_N"),
          what("grow_case reallocs repeatedly"))
    for fn, c in (("layers::borrow_case", "BORROW_N"), ("layers::consume", "MOVE_N"),
                  ("layers::return_case", "RETURN_N")):
        eq(rows.get(fn, {}).get("frees"), const(c), what("%s frees" % fn))
    eq(rows.get("layers::move_case", {}).get("frees", 0), 0, what("move_case frees nothing"))


@it.needs_bpf
def test_functions_at_the_chosen_layer():
    """The known functions' allocations equal the fixture's constants, at any layer."""
    def one(b):
        d, _ = profile(b)
        check_functions(b, d)
    each([b for b in BUILDS if not b.twin], one)


def check_outcomes(b, d):
    what = lambda s: "%s at %s: %s" % (b.name, d["mode"]["source"], s)  # noqa: E731

    def outcome(fn, key):
        return sum(s["outcomes"][key] for s in d["sites"] if s["function"] == fn)
    for fn, key, c in (("layers::borrow_case", "same", "BORROW_N"),
                       ("layers::move_case", "callee", "MOVE_N"),
                       ("layers::produce", "caller", "RETURN_N"),
                       ("layers::zeroed_case", "same", "ZEROED_N"),
                       ("layers::aligned_case", "same", "ALIGNED_N"),
                       ("layers::big_case", "same", "BIG_N"),
                       ("layers::thread_case", "cross_thread", "THREAD_N")):
        eq(outcome(fn, key), const(c), what("%s: %s" % (fn, key)))


@it.needs_bpf
def test_ownership_at_the_chosen_layer():
    """Ownership outcomes do not depend on the layer."""
    def one(b):
        d, _ = profile(b)
        check_outcomes(b, d)
    each([b for b in BUILDS if not b.twin], one)


@it.needs_bpf
def test_explicit_source():
    """--source libc|jemalloc|mimalloc on builds whose shims work: that layer, exact counts."""
    def one(b):
        layer = {"system": "libc", "jemalloc": "jemalloc", "mimalloc": "mimalloc"}[b.backend]
        d, truth = profile(b, ("--source", layer))
        reason = d["mode"]["source_reason"]
        check(LAYER_OBJECT[layer] in reason and "--source" in reason,
              "%s: the reason names %s and says it was requested: %s"
              % (b.name, LAYER_OBJECT[layer], reason))
        check_counts(b, d, truth, layer)
        check_functions(b, d)
    each([BY_NAME["layers-sys"], BY_NAME["layers-jemalloc"], BY_NAME["layers-mimalloc"]], one)


@it.needs_bpf
def test_source_rust_refused_when_shims_never_called():
    """--source rust on an LTO build: one line, exit 1, naming the binary: the shims
    are never called. Nothing is written."""
    def one(b):
        out = it.tmp(b.name + "-rust.json")
        if os.path.exists(out):
            os.unlink(out)
        r = it.run([it.RSPROBE, "--source", "rust", "-o", out, "--", b.path])
        it.one_line_error(r, 1, "never called")
        check(b.path in r.stderr or os.path.realpath(b.path) in r.stderr,
              "%s: the message names the binary: %s" % (b.name, r.stderr))
        check(not os.path.exists(out), "%s: no report written" % b.name)
        check("layers fixture done" not in r.stdout, "%s: the program did not run" % b.name)
    each([b for b in BUILDS if b.lto], one)


@it.needs_bpf
def test_source_without_that_allocator():
    """--source jemalloc (mimalloc) for a process without it: one line, exit 1."""
    def one(b, layer):
        out = it.tmp(b.name + "-absent.json")
        r = it.run([it.RSPROBE, "--source", layer, "-o", out, "--", b.path])
        it.one_line_error(r, 1, layer)
        check(b.path in r.stderr or os.path.realpath(b.path) in r.stderr,
              "%s: the message names the binary: %s" % (b.name, r.stderr))
    errors = []
    for name, layer in (("layers-sys", "jemalloc"), ("layers-sys-lto-fat", "mimalloc"),
                        ("layers-jemalloc-lto", "mimalloc"), ("layers-mimalloc-lto", "jemalloc")):
        b = BY_NAME[name]
        need_fixture(b)
        try:
            one(b, layer)
        except AssertionError as e:
            errors.append("%s --source %s: %s" % (name, layer, e))
    check(not errors, "\n      ".join([""] + errors))


def test_source_usage_error():
    r = it.run([it.RSPROBE, "--source", "tcmalloc", "-p", "1"])
    it.one_line_error(r, 2, "--source")
    for layer in ("jemalloc", "mimalloc"):
        check(layer in it.run([it.RSPROBE, "--help"]).stdout, "--help lists --source " + layer)


# ---------------------------------------------------------------- ripgrep

_apt_updated = False


def ensure_rg():
    global _apt_updated
    if shutil.which("rg"):
        return shutil.which("rg")
    if not (it.IN_CI or os.environ.get("RSPROBE_INSTALL_TEST_DEPS")):
        raise Skip("rg not installed (apt-get install ripgrep; CI installs it)")
    if os.geteuid() != 0:
        raise Skip("rg not installed and not root to install ripgrep")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        _apt_updated = True
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "ripgrep"],
                       env=env, capture_output=True, text=True)
    if not shutil.which("rg"):
        raise Skip("installing ripgrep failed: %s" % r.stderr.strip()[-300:])
    return shutil.which("rg")


def build_id(path):
    m = re.search(r"Build ID: ([0-9a-f]+)", out_of(["readelf", "-n", path]))
    check(m, "%s has a build ID" % path)
    return m.group(1)


@it.needs_bpf
def test_ripgrep():
    """A stripped Rust program from the distribution: Debian's rg."""
    rg = os.path.realpath(ensure_rg())
    ldd = out_of(["ldd", rg])
    layer = "jemalloc" if "libjemalloc" in ldd else "libc"
    check(not has_symtab(rg), "Debian's rg is stripped")
    out = it.tmp("rg.json")
    word = "global_allocator"
    fixtures = os.path.join(HERE, "fixtures")
    r = it.run([it.RSPROBE, "-q", "-o", out, "--", rg, "-l", word, fixtures])
    eq(r.returncode, 0, "rg's exit status passes through (stderr: %s)" % r.stderr)
    check("counting.rs" in r.stdout, "rg's output passes through: %r" % r.stdout)
    d = json.load(open(out))
    it.check_contract(d)
    eq(d["mode"]["source"], layer, "mode.source (reason: %s)" % d["mode"]["source_reason"])
    check(rg in d["mode"]["source_reason"] or "/rg" in d["mode"]["source_reason"],
          "the reason names rg: %s" % d["mode"]["source_reason"])
    check("stripped Rust program" in d["mode"]["source_reason"],
          "rg is recognised as Rust though stripped: %s" % d["mode"]["source_reason"])
    eq(d["totals"]["lost_events"], 0, "lost events")
    check(d["totals"]["allocs"] > 100, "rg allocates: %d" % d["totals"]["allocs"])
    bid = build_id(rg)
    frames = [f for s in d["sites"] for f in s["stack"]
              if f["module"] and os.path.realpath(f["module"]) == rg]
    check(frames, "frames in rg")
    # Unnamed functions are named by their start: the FDE (as readelf lists
    # them) that holds the frame's address.
    fdes = [(int(a, 16), int(b, 16)) for a, b in
            re.findall(r"FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)",
                       out_of(["readelf", "--debug-dump=frames", rg]))]
    for f in frames:
        m = re.match(r"^rg\+0x([0-9a-f]+)$", f["function"])
        check(m, "rg frames are rg+0xSTART: %r" % f)
        start = int(m.group(1), 16)
        check(any(a == start and a < f["offset"] <= b for a, b in fdes),
              "rg+0x%x is the start of the FDE holding offset 0x%x" % (start, f["offset"]))
        eq(f.get("build_id"), bid, "frame build ID")
    st = d["stacks"]
    check(st["taken"] > 0 and st["complete"] >= 0.99 * st["taken"],
          "%d of %d stacks complete" % (st["complete"], st["taken"]))


def first_insn(dis, shim):
    """The first instruction of a shim in objdump -d output."""
    m = re.search(r"<%s>:\n\s*[0-9a-f]+:\s*([^\n]*)" % re.escape(shim), dis)
    check(m, "%s in the disassembly" % shim)
    return m.group(1).strip()


@it.needs_bpf
def test_lock_prefixed_shims():
    """Shims that start with `lock incq` are probed past it, at the rust layer, exactly."""
    b = BY_NAME["layers-lock"]
    need_fixture(b)
    dis = out_of(["objdump", "-d", "--no-show-raw-insn", b.path])
    for shim in ("__rust_alloc", "__rust_dealloc"):
        mangled = [n for n in re.findall(r"<(\w+)>:", dis) if SHIM_RE.match(n) and
                   SHIM_RE.match(n).group(1) == shim]
        check(mangled, "%s in layers-lock" % shim)
        ins = first_insn(dis, mangled[0])
        check(ins.startswith("lock "), "%s starts with a lock prefix: %r" % (shim, ins))
    for extra in ((), ("--source", "rust")):
        d, truth = profile(b, extra)
        reason = d["mode"]["source_reason"]
        eq(d["mode"]["source"], "rust", "%s: mode.source (reason: %s)" % (extra, reason))
        check(re.search(r"__rust_alloc probed \d+ bytes in", reason) and
              re.search(r"__rust_dealloc probed \d+ bytes in", reason),
              "the reason says where the shims are probed: %s" % reason)
        check_counts(b, d, truth, "rust")


UNPROBEABLE_C = r"""
#include <stdio.h>
#include <stdlib.h>
unsigned long cnt;
void *__rust_alloc(unsigned long size, unsigned long align);
void __rust_dealloc(void *p, unsigned long size, unsigned long align);
/* A counter that keeps its old value in an argument register: nowhere to probe. */
__asm__(".globl __rust_alloc\n.type __rust_alloc,@function\n__rust_alloc:\n"
        "\tlock xaddq %rsi, cnt(%rip)\n\tjmp malloc@PLT\n"
        ".globl __rust_dealloc\n.type __rust_dealloc,@function\n__rust_dealloc:\n"
        "\tjmp free@PLT\n");
int main(void)
{
        for (int i = 0; i < 100; i++)
                __rust_dealloc(__rust_alloc(48, 8), 48, 8);
        puts("unprobeable shims done");
        return 0;
}
"""


@it.needs_bpf
def test_unprobeable_shim_falls_below():
    """A shim whose locked first instruction writes an argument register has no
    place for a probe: auto probes the layer below and says why; --source rust
    refuses in one line."""
    src, exe, out = it.tmp("unprobeable.c"), it.tmp("unprobeable"), it.tmp("unprobeable.json")
    with open(src, "w") as f:
        f.write(UNPROBEABLE_C)
    out_of(["cc", "-O1", "-o", exe, src])
    r = it.run([it.RSPROBE, "--all", "-q", "-o", out, "--", exe])
    eq(r.returncode, 0, "rsprobe exit status (stderr: %s)" % r.stderr)
    check("unprobeable shims done" in r.stdout, "the program ran")
    d = json.load(open(out))
    it.check_contract(d)
    reason = d["mode"]["source_reason"]
    eq(d["mode"]["source"], "libc", "mode.source (reason: %s)" % reason)
    check("__rust_alloc in %s cannot be probed" % exe in reason and "writes rsi" in reason,
          "the reason says which shim and why: %s" % reason)
    allocs = [s["allocs"] for s in d["sites"] if any("main" == f["function"] for f in s["stack"])]
    check(d["totals"]["allocs"] >= 100 and sum(allocs) >= 100,
          "the program's 100 allocations are seen below: %d" % d["totals"]["allocs"])
    r = it.run([it.RSPROBE, "--source", "rust", "--", exe])
    it.one_line_error(r, 1, "cannot probe __rust_alloc")


@it.needs_bpf
def test_global_allocator_methods():
    """A #[global_allocator] in the program's own crate, #[inline(never)]: its methods
    are the rust layer, exactly, with or without --source rust."""
    b = BY_NAME["layers-samecrate"]
    for extra in ((), ("--source", "rust")):
        d, truth = profile(b, extra)
        reason = d["mode"]["source_reason"]
        eq(d["mode"]["source"], "rust", "%s: mode.source (reason: %s)" % (extra, reason))
        check("#[global_allocator]'s methods" in reason and "GlobalAlloc>::alloc" in reason,
              "the reason names the allocator's methods: %s" % reason)
        check_counts(b, d, truth, "rust")
        check_functions(b, d)


@it.needs_bpf
def test_ld_preload_is_part_of_the_program():
    """Launch mode: a malloc brought by LD_PRELOAD (jemalloc here) is the one
    probed, and every allocation of the program is seen there. rsprobe runs
    with the same LD_PRELOAD; a sanitizer build cannot run over another
    malloc, so there the preloaded library is a Rust cdylib instead, whose
    shims must then be the ones probed."""
    b = BY_NAME["layers-sys-lto-fat"]
    need_fixture(b)
    asan_build = "libasan" in out_of(["ldd", it.RSPROBE])
    if asan_build:
        lib = it.fixture("libcdy.so")
    else:
        lib = subprocess.run(["cc", "-print-file-name=libjemalloc.so.2"], capture_output=True,
                             text=True).stdout.strip()
    if not os.path.isabs(lib) or not os.path.exists(lib):
        raise Skip("%s not built or installed (libjemalloc-dev, scripts/setup.sh)" % lib)
    out, counts = it.tmp("preload.json"), it.tmp("preload.counts")
    for f in (out, counts):
        if os.path.exists(f):
            os.unlink(f)
    asan = ":".join(x for x in (os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0") if x)
    r = it.run([it.RSPROBE, "--all", "-q", "-o", out] + ([] if asan_build else ["--libc"]) +
               ["--", b.path],
               env={"RSPROBE_FIXTURE_COUNTS": counts, "LD_PRELOAD": lib, "ASAN_OPTIONS": asan})
    eq(r.returncode, 0, "rsprobe exit status (stderr: %s)" % r.stderr)
    d = json.load(open(out))
    it.check_contract(d)
    reason = d["mode"]["source_reason"]
    if asan_build:
        check(d["mode"]["source"] == "rust" and "libcdy.so" in reason,
              "the preloaded cdylib's shims are probed: %s" % reason)
        return
    check("libjemalloc.so" in reason, "the preloaded malloc is probed: %s" % reason)
    check_counts(b, d, json.load(open(counts)), "libc")


def find_rustc():
    """The rustc the fixtures are built with (a rustup proxy, or Debian's)."""
    for c in (os.environ.get("RUSTC"), shutil.which("rustc"),
              os.path.expanduser("~/.cargo/bin/rustc")):
        if c and os.access(c, os.X_OK):
            return c
    raise Skip("no rustc (scripts/setup.sh installs one)")


@it.needs_bpf
def test_rustc_big_libraries():
    """Launch mode on rustc: its code is in big shared libraries (librustc_driver,
    libLLVM: over 300 MB), which the unwind tables are sized for before the
    program runs, so stacks through them are complete. Behind a rustup proxy,
    the toolchain's rustc is the program diagnosed and named."""
    rustc = find_rustc()
    src, obj, out = it.tmp("biglib.rs"), it.tmp("biglib.o"), it.tmp("rustc.json")
    with open(src, "w") as f:
        f.write("pub fn names(n: usize) -> Vec<String> {\n"
                "    (0..n).map(|i| format!(\"n{}\", i)).collect()\n}\n")
    # Every stack, not a sample: sampling by bytes favours large blocks, whose
    # stacks are not the population the completeness bound is about.
    r = it.run([it.RSPROBE, "-q", "--all", "-o", out, "--", rustc, "-O", "--crate-type=lib",
                "--emit=obj", "-o", obj, src])
    eq(r.returncode, 0, "rustc's exit status (stderr: %s)" % r.stderr)
    check(os.path.exists(obj), "rustc compiled")
    d = json.load(open(out))
    it.check_contract(d)
    exe = d["target"]["exe"]
    libs = out_of(["ldd", exe])
    check("librustc_driver" in libs, "%s links librustc_driver: %s" % (exe, libs))
    check(os.path.basename(exe) == "rustc", "the program is rustc, not a proxy: %s" % exe)
    reason = d["mode"]["source_reason"]
    if os.path.basename(os.path.realpath(rustc)) == "rustup":
        check("run by the rustup proxy" in reason, "the reason names the proxy: %s" % reason)
    check("librustc_driver" in reason and "LTO) in " + exe not in reason,
          "the diagnosis names librustc_driver, which holds the shims: %s" % reason)
    check(not any("tables full" in w or "tables were full" in w for w in d["warnings"]),
          "no table ran out: %s" % d["warnings"])
    # Stacks deeper than the frame limit are cut short for another reason
    # (counted as truncated): the bound is on every other stack.
    st = d["stacks"]
    whole = st["taken"] - st["truncated"]
    check(st["taken"] > 10000 and st["complete"] >= 0.99 * whole,
          "%d of %d stacks complete (%d truncated at the frame limit)"
          % (st["complete"], st["taken"], st["truncated"]))


TESTS = [
    test_fixtures_as_built,
    test_source_usage_error,
    test_auto_picks_the_layer,
    test_counts_at_the_chosen_layer,
    test_functions_at_the_chosen_layer,
    test_ownership_at_the_chosen_layer,
    test_explicit_source,
    test_source_rust_refused_when_shims_never_called,
    test_source_without_that_allocator,
    test_ripgrep,
    test_lock_prefixed_shims,
    test_global_allocator_methods,
    test_unprobeable_shim_falls_below,
    test_ld_preload_is_part_of_the_program,
    test_rustc_big_libraries,
]


def main():
    return it.run_tests(TESTS, "layers", sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
