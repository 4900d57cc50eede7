#!/usr/bin/env python3
"""Output formats, each read back by its real consumer where one exists here.

One capture of the ownership fixture writes every format at once; each is then
parsed back (go tool pprof, Valgrind's dh_view.js, an XML parser, a JSON
parser, headless Chromium for the SVG and the HTML) and checked against the
fixture's ground truth (its counting allocator and constants) and against the
other formats: the totals must agree everywhere.

Chromium, Go and Valgrind (for dh_view.js) are heavy: when CI is set (or
RSPROBE_INSTALL_TEST_DEPS=1) they are installed here if missing; otherwise the
tests that need them skip with the reason.
"""
import html
import html.parser
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import (IN_CI, NO_BPF, RSPROBE, Skip, run_tests, check, check_contract,  # noqa: E402
                         eq, fixture, fixture_const, needs_bpf, run, tmp)

SVG_NS = "{http://www.w3.org/2000/svg}"
FORMATS = ["json", "folded", "svg", "pb.gz", "dhat.json", "html", "txt"]
FLAME_SPAN = 1200 - 2 * 10  # the SVG's width less its margins (report_svg.c)


# ---------------------------------------------------------------- tools

_apt_updated = False


def ensure_tool(cmd, pkg):
    """None when cmd is there (installing pkg in CI if need be), else why not."""
    global _apt_updated
    if shutil.which(cmd):
        return None
    if not (IN_CI or os.environ.get("RSPROBE_INSTALL_TEST_DEPS")):
        return "%s not installed (apt-get install %s; CI installs it)" % (cmd, pkg)
    if os.geteuid() != 0:
        return "%s not installed and not root to install %s" % (cmd, pkg)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        _apt_updated = True
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] +
                       pkg.split(), env=env, capture_output=True, text=True)
    if not shutil.which(cmd):
        return "installing %s failed: %s" % (pkg, r.stderr.strip()[-300:])
    return None


def need(cmd, pkg):
    why = ensure_tool(cmd, pkg)
    if why:
        raise Skip(why)


def chromium(args, timeout=120):
    # A font, so that labels render on a machine that has none yet.
    need("chromium", "chromium fonts-dejavu-core")
    profile = tmp("chromium-profile")
    r = run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--allow-file-access-from-files", "--user-data-dir=" + profile] + args,
            timeout=timeout)
    eq(r.returncode, 0, "chromium exit status (stderr: %s)" % r.stderr[-500:])
    return r


def screenshot(url, png, w, h):
    chromium(["--window-size=%d,%d" % (w, h), "--screenshot=" + png, url])
    check(os.path.exists(png), "chromium wrote %s" % png)
    return read_png(png)


def dump_dom(url):
    return chromium(["--dump-dom", url]).stdout


# ---------------------------------------------------------------- PNG

def read_png(path):
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes): (width, height, rows of RGB)."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "%s is a PNG" % path)
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    check(depth == 8 and ctype in (2, 6) and not interlace, "8-bit RGB(A) PNG")
    bpp = 3 if ctype == 2 else 4
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def warm(p):
    """The flame graph's user frames: red to yellow."""
    r, g, b = p
    return r >= 200 and b <= 90 and r - b >= 110


def cool(p):
    """Library frames: blue to aqua."""
    r, g, b = p
    return b >= 210 and r <= 125 and b - r >= 90


def colour_rows(rows, pred):
    """Rows with a run of at least 40 pixels of a colour class: bars of the graph."""
    hits = []
    for y, row in enumerate(rows):
        best = cur = 0
        for p in row:
            cur = cur + 1 if pred(p) else 0
            best = max(best, cur)
        if best >= 40:
            hits.append((y, best))
    return hits


# ---------------------------------------------------------------- the capture

_capture = {}


def capture():
    """One run of rsprobe writing every format; cached for all the tests."""
    if _capture:
        return _capture
    base = tmp("all")
    counts = tmp("all.counts")
    args = [RSPROBE, "--all"]
    for ext in FORMATS:
        args += ["-o", base + "." + ext]
    r = run(args + ["--", fixture("ownership-fp")], env={"RSPROBE_FIXTURE_COUNTS": counts})
    eq(r.returncode, 0, "rsprobe exit status (stderr: %s)" % r.stderr)
    _capture.update(base=base, stderr=r.stderr, truth=json.load(open(counts)),
                    json=json.load(open(base + ".json")))
    return _capture


def path(ext):
    return capture()["base"] + "." + ext


def folded_of(text):
    lines = []
    for line in text.splitlines():
        frames, _, value = line.rpartition(" ")
        check(frames and value.isdigit() and int(value) > 0, "folded line: %r" % line)
        lines.append((frames.split(";"), int(value)))
    return lines


def leaf_sum(d, fn, key):
    """A figure summed over the JSON's sites whose innermost frame is fn."""
    return sum(s[key] for s in d["sites"] if s["stack"] and s["stack"][0]["function"] == fn)


# ---------------------------------------------------------------- tests: CLI

def test_help_lists_formats_and_options():
    out = run([RSPROBE, "--help"]).stdout
    for s in (".folded", ".svg", ".pb.gz", ".dhat.json", ".html", "--weight", "-i, --interval",
              "alloc-bytes", "live-bytes", "lifetime"):
        check(s in out, "--help mentions %s" % s)


def test_usage_errors():
    for args, code, needle in [
        (["--weight", "bogus", "-p", "1"], 2, "--weight: expected alloc-bytes"),
        (["-i", "0", "-p", "1"], 2, "-i: expected a positive number"),
        (["-i", "-p", "1"], 2, "-i: expected a positive number"),
        (["-o", "report.gz", "-p", "1"], 2, ".dhat.json"),
    ]:
        r = run([RSPROBE] + args)
        eq(r.returncode, code, "exit status of %s (stderr: %r)" % (args, r.stderr))
        check(needle in r.stderr, "%r in %r" % (needle, r.stderr))


# ---------------------------------------------------------------- tests: one capture

@needs_bpf
def test_one_run_writes_every_format():
    c = capture()
    for ext in FORMATS:
        check(os.path.getsize(path(ext)) > 0, "%s written" % path(ext))
        check("wrote " + path(ext) in c["stderr"], "rsprobe says it wrote %s" % ext)
    d, truth = c["json"], c["truth"]
    check_contract(d)
    for k in ("allocs", "frees", "reallocs", "bytes_allocated", "bytes_freed"):
        eq(d["totals"][k], truth[k], "totals.%s against the counting allocator" % k)
    eq(d["totals"]["lost_events"], 0, "lost events")
    text = open(path("txt")).read()
    check("Lifetimes" in text and "|#" in text, "the text report draws its histogram as bars")


@needs_bpf
def test_folded_alloc_bytes():
    d = capture()["json"]
    lines = folded_of(open(path("folded")).read())
    eq(sum(v for _, v in lines), d["totals"]["bytes_allocated"], "folded sum = JSON bytes")
    eq(len({";".join(f) for f, _ in lines}), len(lines), "each path once")
    move = [f for f, _ in lines if "ownership::move_case" in f]
    check(move, "move_case has a folded line")
    for f in move:
        check(f.index("ownership::main") < f.index("ownership::move_case"), "root first: %s" % f)
        check(f[0] in ("main", "_start") or "libc" in f[0], "the outermost frame first: %s" % f)


def profile_weight(weight):
    out = tmp("w-%s.folded" % weight)
    js = tmp("w-%s.json" % weight)
    r = run([RSPROBE, "-q", "--weight", weight, "-o", out, "-o", js, "--",
             fixture("ownership-fp")])
    eq(r.returncode, 0, "rsprobe --weight %s (stderr: %s)" % (weight, r.stderr))
    return folded_of(open(out).read()), json.load(open(js))


def leaf_total(lines, fn):
    return sum(v for f, v in lines if f[-1] == fn)


@needs_bpf
def test_folded_other_weights():
    lines, d = profile_weight("allocs")
    eq(sum(v for _, v in lines), d["totals"]["allocs"], "allocs weight: sum = allocs")
    eq(leaf_total(lines, "ownership::move_case"), fixture_const("ownership.rs", "MOVE_N"),
       "allocs weight: move_case")
    eq(leaf_total(lines, "ownership::produce"), fixture_const("ownership.rs", "RETURN_N"),
       "allocs weight: produce")
    eq(leaf_total(lines, "ownership::borrow_case"), fixture_const("ownership.rs", "BORROW_N"),
       "allocs weight: borrow_case")
    lines, d = profile_weight("live-bytes")
    eq(sum(v for _, v in lines), d["totals"]["live_bytes"], "live-bytes weight: sum = live bytes")
    lines, d = profile_weight("lifetime")
    n = leaf_sum(d, "ownership::move_case", "frees")
    mean = sum(s["lifetime_ns"]["mean"] * s["frees"] for s in d["sites"]
               if s["stack"] and s["stack"][0]["function"] == "ownership::move_case")
    got = leaf_total(lines, "ownership::move_case")
    check(n > 0 and 0 <= got - mean < n + 1,
          "lifetime weight of move_case %d = its JSON mean x frees %d (+ rounding < %d)"
          % (got, mean, n))


@needs_bpf
def test_svg_parses_and_agrees():
    d = capture()["json"]
    root = ET.parse(path("svg")).getroot()
    eq(root.tag, SVG_NS + "svg", "root element")
    eq(int(root.get("data-total")), d["totals"]["bytes_allocated"], "SVG total = JSON bytes")
    frames = root.findall(SVG_NS + "g[@class='f']")
    check(len(frames) > 10, "frames drawn: %d" % len(frames))
    info = []
    for g in frames:
        name = g.find(SVG_NS + "title").text.split("\n")[0]
        rect = g.find(SVG_NS + "rect")
        info.append((name, int(g.get("data-s")), int(g.get("data-v")), int(g.get("data-d")),
                     g.get("data-k"), rect.get("fill")))
    eq(info[0][2], d["totals"]["bytes_allocated"], "root frame value")
    spans = {}
    for name, s, v, dep, _, _ in info:
        spans.setdefault(dep, []).append((s, s + v))
    for name, s, v, dep, _, _ in info[1:]:
        check(any(a <= s and s + v <= b for a, b in spans[dep - 1]),
              "%s sits on a caller" % name)
    move = [i for i in info if i[0] == "ownership::move_case"]
    check(move, "move_case drawn")
    eq(sum(i[2] for i in move), leaf_sum(d, "ownership::move_case", "bytes"), "move_case bytes")
    rgb = lambda s: tuple(int(x) for x in re.findall(r"\d+", s))  # noqa: E731
    check(move[0][4] == "user" and warm(rgb(move[0][5])), "user frame in a warm colour")
    lib = [i for i in info if i[0] == "std::rt::lang_start_internal"]
    check(lib and lib[0][4] == "library" and cool(rgb(lib[0][5])),
          "library frame in a cool colour")
    check(root.find(SVG_NS + "script") is not None, "the SVG carries its script")


@needs_bpf
def test_svg_in_chromium():
    d = capture()["json"]
    # The window as large as the graph: its height grows with stack depth.
    height = int(re.search(r'<svg[^>]* height="(\d+)"', open(path("svg")).read()).group(1))
    w, h, rows = screenshot("file://" + path("svg"), tmp("svg.png"), 1200, height)
    hot, cold = colour_rows(rows, warm), colour_rows(rows, cool)
    check(len(hot) >= 8, "user frames drawn as warm bars (%d rows)" % len(hot))
    check(len(cold) >= 30, "library frames drawn as cool bars (%d rows)" % len(cold))
    check(max(n for _, n in cold) > 0.8 * w, "the library stack under main spans the graph")
    # Search and zoom, driven through the URL as a person would by clicking.
    pct = 100.0 * leaf_sum(d, "ownership::move_case", "bytes") / d["totals"]["bytes_allocated"]
    dom = dump_dom("file://" + path("svg") + "?s=^ownership::move_case$")
    check('data-ready="1"' in dom, "the script ran")
    check("Matched: %.2f%%" % pct in dom, "search finds move_case's share %.2f%%" % pct)
    svg = open(path("svg")).read()
    m = re.search(r'id="rsprobe-flame-f(\d+)"[^>]*><title>ownership::zeroed_case\n', svg)
    check(m, "zeroed_case frame")
    dom = dump_dom("file://" + path("svg") + "?z=" + m.group(1))
    g = re.search(r'<g class="f[^"]*" id="rsprobe-flame-f%s"[^>]*>.*?<rect x="([\d.]+)"[^>]*'
                  r'width="([\d.]+)"' % m.group(1), dom, re.S)
    check(g, "zoomed frame in the DOM")
    eq(round(float(g.group(2))), FLAME_SPAN, "the zoomed frame spans the graph")
    hidden = re.search(r'<g class="f[^"]*" id="[^"]*"[^>]*style="display: none;"[^>]*>'
                       r'<title>ownership::move_case', dom)
    check(hidden, "frames outside the zoom are hidden")


def raw_samples(text):
    """go tool pprof -raw: sample type names, then each sample's values and locations."""
    lines = text.splitlines()
    i = lines.index("Samples:")
    types = lines[i + 1].replace("[dflt]", "").split()
    samples = []
    for line in lines[i + 2:]:
        if not line.strip():
            continue
        if not re.match(r"^\s+\d", line):
            if not line.startswith(" "):
                break
            continue
        vals, _, locs = line.partition(":")
        samples.append(([int(v) for v in vals.split()], [int(x) for x in locs.split()]))
    return types, samples


@needs_bpf
def test_pprof_read_by_go():
    need("go", "golang-go")
    d = capture()["json"]
    t = d["totals"]
    r = run(["go", "tool", "pprof", "-raw", path("pb.gz")], env={"HOME": tmp("")})
    eq(r.returncode, 0, "go tool pprof -raw (stderr: %s)" % r.stderr)
    types, samples = raw_samples(r.stdout)
    for st in ("alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
               "inuse_space/bytes"):
        check(st in types, "sample type %s in %s" % (st, types))
    col = lambda n: sum(v[types.index(n)] for v, _ in samples)  # noqa: E731
    eq(col("alloc_objects/count"), t["allocs"], "alloc_objects = JSON allocs")
    eq(col("alloc_space/bytes"), t["bytes_allocated"], "alloc_space = JSON bytes")
    eq(col("inuse_objects/count"), t["live_allocs"], "inuse_objects = JSON live")
    eq(col("inuse_space/bytes"), t["live_bytes"], "inuse_space = JSON live bytes")
    eq(col("freed_objects/count"), t["frees"] - t["unknown_frees"], "freed = matched frees")
    # Mappings carry the build IDs the ELF notes hold.
    note = run(["readelf", "-n", fixture("ownership-fp")]).stdout
    bid = re.search(r"Build ID: ([0-9a-f]+)", note).group(1)
    maps = r.stdout[r.stdout.index("Mappings"):]
    check(re.search(r"^1: .*ownership-fp %s" % bid, maps, re.M),
          "mapping 1 is the executable with build ID %s: %s" % (bid, maps))
    check("libc.so.6" in maps, "libc mapped too")
    r = run(["go", "tool", "pprof", "-top", "-sample_index=alloc_objects", "-nodefraction=0",
             path("pb.gz")], env={"HOME": tmp("")})
    eq(r.returncode, 0, "go tool pprof -top (stderr: %s)" % r.stderr)
    flat = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+\d+\s+[\d.]+%\s+(.+)$", line)
        if m:
            flat[m.group(2)] = int(m.group(1))
    eq(flat.get("ownership::move_case"), fixture_const("ownership.rs", "MOVE_N"),
       "pprof -top: move_case allocations")
    eq(flat.get("ownership::produce"), leaf_sum(d, "ownership::produce", "allocs"),
       "pprof -top: produce allocations = JSON")


@needs_bpf
def test_dhat_json():
    d = capture()["json"]
    t = d["totals"]
    dh = json.load(open(path("dhat.json")))
    for k in ("dhatFileVersion", "mode", "verb", "bklt", "bkacc", "tu", "Mtu", "cmd", "pid",
              "te", "tg", "tuth", "pps", "ftbl"):
        check(k in dh, "DHAT field %s" % k)
    eq(dh["dhatFileVersion"], 2, "dhatFileVersion")
    eq(dh["mode"], "rust-heap", "mode")
    eq(dh["pid"], d["target"]["pid"], "pid")
    pps = dh["pps"]
    eq(sum(p["tb"] for p in pps), t["bytes_allocated"], "sum tb = JSON bytes")
    eq(sum(p["tbk"] for p in pps), t["allocs"], "sum tbk = JSON allocs")
    eq(sum(p["eb"] for p in pps), t["live_bytes"], "sum eb = JSON live bytes")
    eq(sum(p["ebk"] for p in pps), t["live_allocs"], "sum ebk = JSON live")
    peak = sum(p["gb"] for p in pps)
    for p in pps:
        check(p["gb"] <= p["mb"] and p["eb"] <= p["mb"] and p["mb"] <= p["tb"],
              "gb, eb <= mb <= tb: %s" % p)
    check(peak >= max(p["mb"] for p in pps), "the global peak holds any site's own peak")
    check(peak >= t["live_bytes"], "the global peak >= what is live at the end")
    check(0 < dh["tg"] <= dh["te"], "t-gmax within the run")
    eq(dh["ftbl"][0], "[root]", "ftbl[0]")
    frame_re = re.compile(r"^0x([0-9a-f]+): (.+) \((?:in )?(.+?)(?::(\d+))?(?::(\d+))?\)$", re.I)
    for s in dh["ftbl"][1:]:
        check(frame_re.match(s), "frame string in DHAT's form: %r" % s)
    fss = [tuple(p["fs"]) for p in pps]
    eq(len(set(fss)), len(fss), "no two program points with one stack (dh_view refuses them)")
    check(all(0 < i < len(dh["ftbl"]) for fs in fss for i in fs), "frame indices")
    # Ground truth: zeroed_case allocates 4096 + i bytes for i < ZEROED_N.
    nz = fixture_const("ownership.rs", "ZEROED_N")
    zero = [p for p in pps if p["fs"] and ": ownership::zeroed_case " in dh["ftbl"][p["fs"][0]]]
    eq(sum(p["tb"] for p in zero), sum(4096 + i for i in range(nz)), "zeroed_case bytes")
    eq(sum(p["tbk"] for p in zero), nz, "zeroed_case blocks")
    # grow_case holds one Vec<u32> of 1000 + i elements at a time: its own peak.
    ng = fixture_const("ownership.rs", "GROW_N")
    grow = [p["mb"] for p in pps
            if any(": ownership::grow_case " in dh["ftbl"][i] for i in p["fs"][:4])]
    check(grow and 4 * 1000 <= max(grow) <= 8 * (1000 + ng), "grow_case peak %s" % grow)


@needs_bpf
def test_dhat_in_dh_view():
    need("valgrind", "valgrind")
    viewer = "/usr/libexec/valgrind/dh_view.js"
    check(os.path.exists(viewer), viewer)
    t = capture()["json"]["totals"]
    data = open(path("dhat.json")).read()
    page = tmp("dh_view.html")
    # dh_view.html loads a file through a file picker; feed it the same way its loader does.
    with open(page, "w") as f:
        f.write('<!DOCTYPE html><html><head><meta charset="UTF-8">'
                '<link rel="stylesheet" href="file:///usr/libexec/valgrind/dh_view.css">'
                '<script src="file://%s"></script></head><body onload="onLoad(); '
                "gFilename = 'p.dhat.json'; gData = JSON.parse(document.getElementById('d')"
                '.textContent); buildTree(); displayTree();"><script type="application/json" '
                'id="d">%s</script></body></html>' % (viewer, data.replace("</", "<\\/")))
    dom = dump_dom("file://" + page)
    text = re.sub(r"<[^>]+>", "", dom).replace(",", "").replace("\u00a0", " ")
    check("error" not in text.lower(), "dh_view shows no error: %s" % text[:300])
    check("Mode:    rust-heap" in text, "dh_view shows the mode")
    check(re.search(r"Total:\s+%d bytes \(100%%" % t["bytes_allocated"], text),
          "dh_view's root total = JSON bytes (%d)" % t["bytes_allocated"])
    check(re.search(r"At t-end:\s+%d bytes \(100%%\) in %d blocks" %
                    (t["live_bytes"], t["live_allocs"]), text), "dh_view's t-end = JSON live")
    check("ownership::move_case" in text, "dh_view lists the sites' frames")


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.external = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        for k in ("src", "href"):
            if a.get(k) and not a[k].startswith("#"):
                self.external.append((tag, k, a[k]))


@needs_bpf
def test_html_self_contained_and_agrees():
    d = capture()["json"]
    t = d["totals"]
    p = Page()
    p.feed(open(path("html")).read())
    eq(p.external, [], "nothing loaded from elsewhere")
    by_id = {a["id"]: a for _, a in p.tags if "id" in a}
    for k in ("allocs", "bytes_allocated", "frees", "reallocs", "live_allocs", "live_bytes",
              "unknown_frees", "lost_events"):
        eq(int(by_id[k]["data-v"]), t[k], "summary %s = JSON" % k)
    eq(int(by_id["rsprobe-flame"]["data-total"]), t["bytes_allocated"], "embedded flame graph")
    rows = {int(a["data-site"]): int(a["data-bytes"]) for tag, a in p.tags if "data-site" in a}
    js = {s["id"]: s["bytes"] for s in d["sites"]}
    check(rows and all(js[k] == v for k, v in rows.items()), "site rows = JSON sites")
    own = {a["data-outcome"]: int(a["data-v"]) for _, a in p.tags if "data-outcome" in a}
    for k, v in t["outcomes"].items():
        eq(own[k], v, "ownership %s = JSON" % k)
    # The lifetime chart's bars are the JSON's log2 histogram.
    text = open(path("html")).read()
    chart = text[text.index('<div id="lifetimes">'):]
    chart = chart[:chart.index("</svg>")]
    bars = [(int(lo), int(n)) for lo, n in
            re.findall(r'data-lo="(\d+)" data-n="(\d+)"', chart)]
    eq(bars, [tuple(b) for b in d["lifetime_ns"]["log2_histogram"]],
       "lifetime chart = JSON histogram")


@needs_bpf
def test_html_in_chromium():
    d = capture()["json"]
    w, h, rows = screenshot("file://" + path("html"), tmp("html.png"), 1280, 1100)
    hot, cold = colour_rows(rows, warm), colour_rows(rows, cool)
    check(len(hot) >= 8, "the page shows warm bars (%d rows)" % len(hot))
    check(len(cold) >= 30, "the page shows the flame graph's library frames (%d rows)"
          % len(cold))
    pct = 100.0 * leaf_sum(d, "ownership::move_case", "bytes") / d["totals"]["bytes_allocated"]
    dom = dump_dom("file://" + path("html") + "?s=^ownership::move_case$")
    check('data-ready="1"' in dom, "the embedded flame graph's script ran in the page")
    check("Matched: %.2f%%" % pct in dom, "search works in the page")


# ---------------------------------------------------------------- tests: the peak

_peak = {}


def peak_capture():
    """One run of the peak fixture (JSON, text, HTML), with its own counts."""
    if _peak:
        return _peak
    base, counts = tmp("peak"), tmp("peak.counts")
    # --all: the peak and the timeline are checked exactly against the fixture
    # (sampled, they are estimates; tests/sampling.py checks those).
    r = run([RSPROBE, "--all", "--stacks", "1000", "-o", base + ".json", "-o", base + ".txt",
             "-o", base + ".html", "--", fixture("peak")], env={"RSPROBE_FIXTURE_COUNTS": counts})
    eq(r.returncode, 0, "rsprobe on the peak fixture (stderr: %s)" % r.stderr)
    m = re.search(r"peak between (\d+) (\d+)", r.stdout)
    check(m, "the fixture says when its peak was: %r" % r.stdout)
    _peak.update(base=base, json=json.load(open(base + ".json")), truth=json.load(open(counts)),
                 window=(int(m.group(1)), int(m.group(2))))
    return _peak


@needs_bpf
def test_peak_against_the_fixture():
    c = peak_capture()
    d, truth, (lo, hi) = c["json"], c["truth"], c["window"]
    t = d["totals"]
    check(truth["peak_live_bytes"] > 0, "the counting allocator tracked its peak: %s" % truth)
    eq(t["peak_live_bytes"], truth["peak_live_bytes"], "peak live bytes = the fixture's own peak")
    eq(t["peak_live_allocs"], truth["peak_live_allocs"],
       "allocations live at the peak = the fixture's own count")
    # Event times are CLOCK_MONOTONIC, as the fixture's clock_gettime.
    at = d["start_ns"] + t["peak_ns"]
    check(lo <= at <= hi, "the peak at %d lies where the fixture held it, in [%d, %d]"
          % (at, lo, hi))
    check(t["peak_ns"] <= d["duration_ns"], "the peak within the session")
    # hold() keeps HOLD_N buffers of HOLD_SIZE bytes and their Vec of 24-byte headers.
    n, size = fixture_const("peak.rs", "HOLD_N"), fixture_const("peak.rs", "HOLD_SIZE")
    held = [s for s in d["sites"] if s["function"] == "peak::hold"]
    eq(sum(s["at_peak"]["bytes"] for s in held), n * size + n * 24, "hold()'s bytes at the peak")
    eq(sum(s["at_peak"]["allocs"] for s in held), n + 1, "hold()'s allocations at the peak")
    eq(sum(s["at_peak"]["bytes"] for s in d["sites"]), t["peak_live_bytes"],
       "the sites at the peak add up to it")
    text = open(c["base"] + ".txt").read()
    sec = text[text.index("Peak of the live heap"):]
    check(re.match(r"Peak of the live heap: [\d.]+ KiB in %d allocations, at " %
                   truth["peak_live_allocs"], sec), "text: the peak: %r" % sec[:120])
    top = max(held, key=lambda s: s["at_peak"]["bytes"])
    check(re.search(r"^\s+%d\s+[\d.]+ KiB\s+%d\s" % (top["id"], top["at_peak"]["allocs"]), sec,
                    re.M), "text: site %d held most of the peak" % top["id"])
    p = Page()
    p.feed(open(c["base"] + ".html").read())
    a = [a for _, a in p.tags if a.get("id") == "peak"]
    check(a, "HTML: the peak section")
    eq((int(a[0]["data-bytes"]), int(a[0]["data-allocs"]), int(a[0]["data-ns"])),
       (t["peak_live_bytes"], t["peak_live_allocs"], t["peak_ns"]), "HTML: the peak = JSON")
    rows = {int(a["data-peak-site"]): int(a["data-bytes"]) for _, a in p.tags
            if "data-peak-site" in a}
    eq(rows.get(top["id"]), top["at_peak"]["bytes"], "HTML: the site that held the peak")


@needs_bpf
def test_peak_against_valgrind_dhat():
    # A second, independent measure: Valgrind's DHAT on the same deterministic
    # program (its malloc sizes are the Rust layouts' sizes: System allocator).
    need("valgrind", "valgrind")
    d = peak_capture()["json"]
    out = tmp("peak.vg.dhat.json")
    r = run(["valgrind", "--tool=dhat", "--dhat-out-file=" + out, fixture("peak")], timeout=300)
    eq(r.returncode, 0, "valgrind --tool=dhat (stderr: %s)" % r.stderr[-300:])
    m = re.search(r"At t-gmax:\s+([\d,]+) bytes in ([\d,]+) blocks", r.stderr)
    check(m, "DHAT's t-gmax line: %s" % r.stderr[-600:])
    eq(int(m.group(1).replace(",", "")), d["totals"]["peak_live_bytes"],
       "peak live bytes = DHAT's t-gmax")
    eq(int(m.group(2).replace(",", "")), d["totals"]["peak_live_allocs"],
       "allocations live at the peak = DHAT's t-gmax blocks")


@needs_bpf
def test_growth_hints():
    # Tree::with_capacity asks for 4 and grows to 256: 6 reallocs each (4 -> 8 -> ... -> 256).
    c = peak_capture()
    text = open(c["base"] + ".txt").read()
    sec = text[text.index("\nGrowth hints"):].split("\n\n")[0].splitlines()[2:]
    tree = [l for l in sec if "peak::Tree::with_capacity" in l]
    eq(len(tree), fixture_const("peak.rs", "TREE_N"), "text: a hint per Tree site: %s" % sec)
    for l in tree:
        check(": 1 allocation grew with 6 reallocs" in l, "text: one allocation, six reallocs: " + l)
        check("sets a capacity already" in l and "with_capacity would" not in l,
              "text: no with_capacity advice to with_capacity: " + l)
    reallocs = [int(re.search(r"grew with (\d+) reallocs", l).group(1)) for l in sec]
    eq(reallocs, sorted(reallocs, reverse=True), "text: most reallocs first")
    own = open(path("txt")).read()
    grow = [l for l in own.splitlines() if "ownership::grow_case" in l and "grew with" in l]
    check(grow and all("reserve or with_capacity would avoid the copies" in l for l in grow),
          "text: grow_case (Vec::new, then push) gets the with_capacity advice")
    p = Page()
    p.feed(open(c["base"] + ".html").read())
    rows = [int(a["data-reallocs"]) for _, a in p.tags if "data-growth-site" in a]
    check(rows and rows == sorted(rows, reverse=True), "HTML: most reallocs first: %s" % rows)
    page = open(c["base"] + ".html").read()
    check("1 allocation grew" in page and "1 allocations" not in page, "HTML: singular")


def stack_blocks(text):
    """The text report's stacks section: {site id: (birth lines, drop lines)}."""
    if "\nStacks of the top " not in text:
        return {}
    sec = text[text.index("\nStacks of the top ") + 1:].split("\n\n")[0]
    out = {}
    for block in re.split(r"^  site ", sec, flags=re.M)[1:]:
        sid = int(block.split(":")[0])
        lines = block.splitlines()[1:]
        i = next((k for k, l in enumerate(lines) if l.startswith("    dropped")), len(lines))
        frame = re.compile(r"^    (#\d+ *|   ) [> ] ")
        b = next(k for k, l in enumerate(lines) if l.startswith("    born at:"))
        out[sid] = ([l for l in lines[b + 1:i] if frame.match(l)],
                    [l for l in lines[i + 1:] if frame.match(l)])
    return out


@needs_bpf
def test_stacks_in_text_and_html():
    # Default --stacks 5: the top five sites by bytes, in order.
    d = capture()["json"]
    text = open(path("txt")).read()
    blocks = stack_blocks(text)
    eq(list(blocks), [s["id"] for s in d["sites"][:5]], "text: stacks of the top 5 sites")
    for s in d["sites"][:5]:
        birth, drop = blocks[s["id"]]
        phys = [f for f in s["stack"] if not f["inlined"]]
        # Every physical frame is printed with its object and offset, in order.
        offs = [int(m.group(1), 16) for m in (re.search(r"\+0x([0-9a-f]+)", l) for l in birth) if m]
        eq(offs, [f["offset"] for f in phys], "text: site %d's birth frames" % s["id"])
        att = [l for l in birth if re.match(r"^    (#\d+ *|   ) > ", l)]
        # Physical frames are numbered from #0, in order.
        eq([int(m.group(1)) for m in (re.match(r"^    #(\d+)", l) for l in birth) if m],
           list(range(len(phys))), "text: site %d's frames numbered" % s["id"])
        check(len(att) == 1 and s["function"] in att[0], "text: the attributed frame marked")
        if s["drop_sites"]:
            main = max(s["drop_sites"], key=lambda x: x["frees"])
            eq(len([l for l in drop if "+0x" in l]),
               len([f for f in main["stack"] if not f["inlined"]]),
               "text: site %d's main drop stack" % s["id"])
    # With every site printed, no two read the same (the peak fixture has
    # several sites in hold(): the loop's first pass, the rest, the Vec).
    c = peak_capture()
    blocks = stack_blocks(open(c["base"] + ".txt").read())
    eq(sorted(blocks), sorted(s["id"] for s in c["json"]["sites"]), "--stacks 1000: every site")
    held = [s["id"] for s in c["json"]["sites"] if s["function"] == "peak::hold"]
    check(len(held) >= 2, "several sites in peak::hold: %s" % held)
    # Sites of one function say where their stacks part: the first differing frame.
    text = open(c["base"] + ".txt").read()
    sites = {s["id"]: s for s in c["json"]["sites"]}
    parts = re.findall(r"^  site (\d+):.*\n    \(site (\d+) is in this function too; "
                       r"their stacks part at #(\d+)\)", text, re.M)
    check(parts, "hold()'s sites say where their stacks part")
    for a, b, k in parts:
        pa = [f["offset"] for f in sites[int(a)]["stack"] if not f["inlined"]]
        pb = [f["offset"] for f in sites[int(b)]["stack"] if not f["inlined"]]
        k = int(k)
        check(pa[:k] == pb[:k] and pa[k:k + 1] != pb[k:k + 1],
              "sites %s and %s part at #%d: %s / %s" % (a, b, k, pa, pb))
    seen = {}
    for sid, (birth, _) in blocks.items():
        key = "\n".join(birth)
        check(key not in seen, "sites %s and %d read the same" % (seen.get(key), sid))
        seen[key] = sid
    page = open(c["base"] + ".html").read()
    for a, b, k in parts:
        check(re.search(r"stacks of site %s [^<]*\(site %s is in this function too; their stacks "
                        r"part at #%s\)" % (a, b, k), page), "HTML: sites %s and %s part" % (a, b))
    r = run([RSPROBE, "-q", "--stacks", "0", "--", fixture("peak")])
    eq(r.returncode, 0, "--stacks 0")
    check("Stacks of the top" not in r.stdout and "Top sites" in r.stdout, "--stacks 0: none")
    # HTML: an expandable row under each of the top five sites' rows.
    p = Page()
    p.feed(open(path("html")).read())
    rows = [int(a["data-stacks-of"]) for _, a in p.tags if "data-stacks-of" in a]
    eq(rows, [s["id"] for s in d["sites"][:5]], "HTML: stacks rows of the top 5 sites")
    html_text = open(path("html")).read()
    for s in d["sites"][:5]:
        row = html_text[html_text.index('data-stacks-of="%d"' % s["id"]):]
        row = html.unescape(row[:row.index("</tr>")])
        check("<details>" in row and s["function"] in row, "HTML: site %d's stacks" % s["id"])
        if s["drop_sites"]:
            main = max(s["drop_sites"], key=lambda x: x["frees"])
            check("dropped (%s), %d of %d frees" % (main["outcome"], main["frees"], s["frees"])
                  in row and main["function"] in row, "HTML: site %d's drop stack" % s["id"])


@needs_bpf
def test_timeline_follows_the_fixture():
    c = peak_capture()
    d = c["json"]
    t, tl = d["totals"], d["timeline"]
    cols = tl["columns"]
    rows = [dict(zip(cols, b)) for b in tl["buckets"]]
    w = tl["bucket_ns"]
    check(rows and w > 0, "a timeline")
    check(len(rows) * w >= d["duration_ns"] - w, "the timeline covers the session")
    eq(sum(r["allocs"] for r in rows), t["allocs"], "timeline allocs = totals")
    eq(sum(r["bytes"] for r in rows), t["bytes_allocated"], "timeline bytes = totals")
    eq(sum(r["frees"] for r in rows), t["frees"] - t["unknown_frees"], "timeline frees")
    eq(max(r["max_live_bytes"] for r in rows), t["peak_live_bytes"], "timeline high = the peak")
    at = t["peak_ns"] // w
    eq(rows[at]["max_live_bytes"], t["peak_live_bytes"], "the peak's bucket holds the peak")
    n, size = fixture_const("peak.rs", "HOLD_N"), fixture_const("peak.rs", "HOLD_SIZE")
    pause = int(re.search(r"pub const PAUSE_MS: u64 = (\d+);",
                          open(os.path.join(os.path.dirname(__file__), "fixtures", "peak.rs"))
                          .read()).group(1))
    # During the pause nothing of hold()'s is live: the heap is the runtime's
    # (from 20 ms on: the 64 frees themselves take a few ms under the probes).
    quiet = rows[at + max(2, int(20e6 / w)):at + int(0.8 * pause * 1e6 / w)]
    check(quiet and max(r["max_live_bytes"] for r in quiet) < size,
          "the pause after the peak is quiet: %s" % [r["max_live_bytes"] for r in quiet][:10])
    # Then the second, smaller bump: HOLD_N / 4 buffers.
    later = rows[at + int(0.8 * pause * 1e6 / w):]
    bump = max(r["max_live_bytes"] for r in later)
    check(n // 4 * size <= bump < t["peak_live_bytes"] // 2,
          "the second bump: %d, between %d and half the peak" % (bump, n // 4 * size))
    # The top sites' series: hold()'s buffers at the peak.
    held = [s for s in tl["sites"] if s["function"] == "peak::hold"]
    check(held, "hold()'s sites have series")
    check(sum(s["max_live_bytes"][at] for s in held) >= n * size,
          "hold()'s series hold its buffers at the peak")
    for s in tl["sites"]:
        eq(len(s["max_live_bytes"]), len(rows), "site %d's series length" % s["id"])
    p = Page()
    p.feed(open(c["base"] + ".html").read())
    svg = [a for _, a in p.tags if a.get("class") == "tl"]
    check(svg, "HTML: the timeline chart")
    # Drawn from just before the first event to just after the last.
    busy = [i for i, r in enumerate(rows) if r["allocs"] or r["frees"]]
    first, nb = int(svg[0]["data-first"]), int(svg[0]["data-buckets"])
    check(first <= busy[0] and busy[-1] < first + nb <= len(rows) and nb <= busy[-1] - busy[0] + 3,
          "HTML: the chart spans the events: first %d, %d buckets, events in %d..%d of %d"
          % (first, nb, busy[0], busy[-1], len(rows)))
    legend = {a["href"] for _, a in p.tags if a.get("href", "").startswith("#site-")}
    check(all("#site-%d" % s["id"] in legend for s in tl["sites"]), "HTML: the legend's sites")


# ---------------------------------------------------------------- tests: frame origins

@needs_bpf
def test_frame_origins_in_the_flame_graph():
    root = ET.parse(path("svg")).getroot()
    kinds = {}
    for g in root.findall(SVG_NS + "g[@class='f']"):
        kinds.setdefault(g.find(SVG_NS + "title").text.split("\n")[0], g.get("data-k"))
    eq(kinds.get("ownership::move_case"), "user", "the fixture's code is the user's")
    eq(kinds.get("std::rt::lang_start_internal"), "library", "std is Rust's library")
    for fn in ("__libc_start_main", "_start", "main"):
        eq(kinds.get(fn), "libc", "%s is libc and the C runtime" % fn)
    legend = " ".join(t.text or "" for t in root.iter(SVG_NS + "text"))
    for label in ("your Rust code", "Rust std", "other native code", "libc"):
        check(label in legend, "the legend names %r" % label)
    # A C program (CPython, through its malloc): nothing of it is "your code".
    py = os.path.realpath("/usr/bin/python3")
    if not os.path.exists(py):
        raise Skip("no /usr/bin/python3")
    svg, js = tmp("py.svg"), tmp("py.json")
    r = run([RSPROBE, "-q", "--libc", "--library-frame", "^PyMem_(Raw)?Malloc$", "-o", svg,
             "-o", js, "--", py, "-c", "x = [str(i) for i in range(2000)]"],
            env={"PYTHONHASHSEED": "0"})
    eq(r.returncode, 0, "rsprobe --libc -- python3 (stderr: %s)" % r.stderr)
    ks = [g.get("data-k") for g in ET.parse(svg).getroot().findall(SVG_NS + "g[@class='f']")]
    check("native" in ks and "libc" in ks, "CPython's frames are native code: %s" % set(ks))
    check("user" not in ks, "no CPython frame is called the user's code")
    # --library-frame: PyMem_Malloc is skipped; the sites are its callers', via it.
    d = json.load(open(js))
    check(all(s["function"] not in ("PyMem_Malloc", "PyMem_RawMalloc") for s in d["sites"]),
          "no site attributed to PyMem_Malloc")
    via = [s for s in d["sites"] if s["via"] in ("PyMem_Malloc", "PyMem_RawMalloc")]
    check(via, "sites allocating through PyMem_Malloc name it as via")


@needs_bpf
def test_library_frame_moves_attribution():
    js = tmp("libframe.json")
    r = run([RSPROBE, "-q", "--library-frame", "^ownership::produce$", "-o", js, "--",
             fixture("ownership-fp")])
    eq(r.returncode, 0, "rsprobe --library-frame (stderr: %s)" % r.stderr)
    d = json.load(open(js))
    n = fixture_const("ownership.rs", "RETURN_N")
    rc = [s for s in d["sites"] if s["function"] == "ownership::return_case"]
    eq(sum(s["allocs"] for s in rc), n, "return_case owns produce's allocations")
    check(all(s["via"] == "ownership::produce" for s in rc), "via produce")
    eq(sum(s["outcomes"]["same"] for s in rc), n, "return_case allocates and drops: same")
    check(not [s for s in d["sites"] if s["function"] == "ownership::produce"],
          "no site attributed to produce")
    r = run([RSPROBE, "--library-frame", "(", "-p", "1"])
    eq(r.returncode, 2, "a bad pattern is a usage error")
    check("--library-frame: not a valid regular expression" in r.stderr, r.stderr)


# ---------------------------------------------------------------- tests: rsprobe diff

def profile_peak(name, churn):
    js, counts = tmp(name + ".json"), tmp(name + ".counts")
    # --all: the diff is checked against the fixture's exact counts, which a
    # sampled run (the adaptive default samples this burst) only estimates.
    r = run([RSPROBE, "-q", "--all", "-o", js, "--", fixture("peak"), str(churn)],
            env={"RSPROBE_FIXTURE_COUNTS": counts})
    eq(r.returncode, 0, "rsprobe on peak %d (stderr: %s)" % (churn, r.stderr))
    return js, json.load(open(js)), json.load(open(counts))


@needs_bpf
def test_diff_finds_the_one_changed_site():
    n = fixture_const("peak.rs", "CHURN_N")
    old, dold, told = profile_peak("diff-old", n)
    new, dnew, tnew = profile_peak("diff-new", 3 * n)
    # Ground truth: the fixture's own counts differ by the extra churn only.
    eq(tnew["allocs"] - told["allocs"], 2 * n, "the fixture's own allocation counts differ by 2N")
    r = run([RSPROBE, "diff", old, new])
    eq(r.returncode, 0, "rsprobe diff (stderr: %s)" % r.stderr)
    out = r.stdout
    m = re.search(r"^  allocations\s+(\d+)\s+(\d+)\s+\+(\d+)", out, re.M)
    check(m, "totals row: %s" % out[:600])
    eq(tuple(int(x) for x in m.groups()), (told["allocs"], tnew["allocs"], 2 * n),
       "totals: allocations old, new, change = the fixture's counts")
    fn = re.search(r"^Functions that changed \((\d+) of", out, re.M)
    eq(int(fn.group(1)), 1, "one function changed: %s" % out)
    check(re.search(r"^\s+%d\s+%d \+%d \(\+200%%\).*peak::churn_case$" % (n, 3 * n, 2 * n), out,
                    re.M), "the function is churn_case, %d -> %d" % (n, 3 * n))
    st = re.search(r"^Sites that changed, matched by function and stack \((\d+) of", out, re.M)
    eq(int(st.group(1)), 1, "one site changed beyond noise: %s" % out)
    sec = out[st.end():]
    check(sec.split("\n")[1].startswith("  peak::churn_case < peak::main"),
          "the site is churn_case's: %r" % sec[:200])
    check("allocs %d -> %d  +%d (+200%%)" % (n, 3 * n, 2 * n) in sec, "the site's counts")
    check("outcomes same +%d" % (2 * n) in sec, "the extra Strings are dropped where made (same)")
    # Sites keep their identity across runs although ids may differ: no site
    # is only in one of the two runs.
    check("0 only in old, 0 only in new" in sec, "every site matched: %s" % sec[-200:])
    # The same in HTML, with a differential flame graph.
    page = tmp("diff.html")
    r = run([RSPROBE, "diff", "-o", page, old, new])
    eq(r.returncode, 0, "rsprobe diff -o .html (stderr: %s)" % r.stderr)
    p = Page()
    p.feed(open(page).read())
    eq(p.external, [], "the diff page loads nothing from elsewhere")
    rows = [a for _, a in p.tags if "data-old-allocs" in a]
    eq([(a["data-function"], int(a["data-old-allocs"]), int(a["data-new-allocs"])) for a in rows],
       [("peak::churn_case", n, 3 * n)] * 2, "HTML: one function and one site changed")
    svg = [a for _, a in p.tags if a.get("id") == "diff-flame"]
    check(svg, "HTML: the differential flame graph")
    eq((int(svg[0]["data-old"]), int(svg[0]["data-new"])),
       (dold["totals"]["bytes_allocated"], dnew["totals"]["bytes_allocated"]),
       "flame graph root = the two reports' bytes")
    frames = [a for _, a in p.tags if a.get("class") == "df"]
    grew = [a for a in frames if int(a["data-new"]) > int(a["data-old"])]
    check(grew and all(int(a["data-new"]) - int(a["data-old"]) <=
                       dnew["totals"]["bytes_allocated"] - dold["totals"]["bytes_allocated"]
                       for a in grew), "only the churn's path grew")
    text = open(page).read()
    leaf = re.search(r'<g class="df"[^>]*><title>peak::churn_case\n[^<]*</title><rect[^>]*'
                     r'fill="rgb\((\d+),(\d+),(\d+)\)"', text)
    check(leaf and int(leaf.group(1)) == 255 and int(leaf.group(3)) < 200,
          "churn_case drawn warm (it grew)")


def test_diff_bad_input():
    good = tmp("diff-good.json")
    with open(good, "w") as f:
        json.dump({"schema": 1, "totals": {}, "sites": [], "functions": []}, f)
    notjson = tmp("diff-not.json")
    with open(notjson, "w") as f:
        f.write("rsprobe text report\n")
    for args, code, needle in [
        ([good], 2, "expected two JSON reports"),
        (["--noise", "x", good, good], 2, "--noise"),
        (["-o", tmp("d.pdf"), good, good], 2, ".txt, .html or .svg"),
        ([tmp("missing.json"), good], 1, "cannot read"),
        ([notjson, good], 1, "cannot read"),
        ([good, tmp("")], 1, "cannot read"),
    ]:
        r = run([RSPROBE, "diff"] + args)
        eq(r.returncode, code, "exit status of diff %s (stderr: %r)" % (args, r.stderr))
        check(needle in r.stderr and r.stderr.count("\n") == 1,
              "one line with %r: %r" % (needle, r.stderr))
    r = run([RSPROBE, "diff", good, good])
    eq(r.returncode, 0, "diff of two empty reports")


# ---------------------------------------------------------------- tests: the page's layout

LAYOUT_HEAD = ('<script>window.__errors = []; window.addEventListener("error", function (e) {'
               ' window.__errors.push(String(e.message)); });</script>')
# Runs last, when every other script has: measures what a reader would see.
LAYOUT_PROBE = '''<script>(function () {
  /* As a reader who opened every site's stacks sees it. */
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var de = document.documentElement, r = {vw: de.clientWidth, sw: de.scrollWidth, tables: {},
    errors: window.__errors, sections: [], resources: []};
  document.querySelectorAll("h2").forEach(function (h) { r.sections.push(h.textContent); });
  document.querySelectorAll("table[id]").forEach(function (t) {
    var b = t.getBoundingClientRect();
    r.tables[t.id] = {right: b.right, width: b.width, scroll: t.scrollWidth, client: t.clientWidth};
  });
  var fl = document.getElementById("rsprobe-flame"), tl = document.querySelector("svg.tl");
  r.flame = fl ? fl.getBoundingClientRect().width : 0;
  r.flame_box = fl ? fl.parentNode.clientWidth : 0;
  r.timeline = tl ? tl.getBoundingClientRect().width : 0;
  performance.getEntriesByType("resource").forEach(function (e) { r.resources.push(e.name); });
  document.body.setAttribute("data-layout", JSON.stringify(r));
})();</script>'''


def layout_of(page, width):
    """Load page in Chromium at width px, offline, and measure it."""
    text = open(page).read()
    probe = tmp("layout-%d-%s" % (width, os.path.basename(page)))
    with open(probe, "w") as f:
        f.write(text.replace("<head>", "<head>" + LAYOUT_HEAD, 1)
                .replace("</body>", LAYOUT_PROBE + "</body>", 1))
    r = chromium(["--window-size=%d,1000" % width, "--enable-logging=stderr", "--v=0",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--dump-dom", "file://" + probe])
    m = re.search(r'data-layout="([^"]*)"', r.stdout)
    check(m, "the layout probe ran")
    check("Uncaught" not in r.stderr, "no uncaught script error: %s" % r.stderr[-400:])
    return json.loads(html.unescape(m.group(1)))


def check_layout(page, width, sections, tables):
    lay = layout_of(page, width)
    eq(lay["errors"], [], "script errors at %d px" % width)
    eq(lay["resources"], [], "nothing fetched at %d px" % width)
    check(lay["sw"] <= lay["vw"], "no horizontal scroll at %d px: page %d wide in a %d px view"
          % (width, lay["sw"], lay["vw"]))
    for t in tables:
        b = lay["tables"].get(t)
        check(b, "table #%s at %d px" % (t, width))
        check(b["right"] <= lay["vw"] + 0.5 and b["scroll"] <= b["client"] + 1,
              "table #%s fits at %d px: %s (view %d)" % (t, width, b, lay["vw"]))
    for sec in sections:
        check(any(h.startswith(sec) for h in lay["sections"]),
              "section %r at %d px: %s" % (sec, width, lay["sections"]))
    return lay


@needs_bpf
def test_html_layout_at_1280_and_1920():
    sections = ["Summary", "Flame graph", "Top sites", "Functions", "Heap over time",
                "Peak of the live heap", "Ownership moves", "Lifetimes", "Heap types",
                "Growth hints", "Live at end"]
    tables = ["sites", "functions", "peak-sites", "ownership", "heap-types"]
    for page in (path("html"), peak_capture()["base"] + ".html"):
        for width in (1280, 1920):
            lay = check_layout(page, width, sections, tables)
            # The flame graph and the timeline take the page's width, not a fixed one.
            check(abs(lay["flame"] - lay["flame_box"]) <= 2 and lay["flame"] > 0.8 * lay["vw"],
                  "the flame graph spans the page at %d px: %s" % (width, lay))
            check(lay["timeline"] > 0.7 * min(lay["vw"], 1400), "the timeline is wide: %s" % lay)
    # The diff page too.
    diff = tmp("diff-layout.html")
    if not os.path.exists(tmp("diff-old.json")):
        test_diff_finds_the_one_changed_site()
    r = run([RSPROBE, "diff", "-o", diff, tmp("diff-old.json"), tmp("diff-new.json")])
    eq(r.returncode, 0, "rsprobe diff -o html")
    for width in (1280, 1920):
        check_layout(diff, width, ["Totals", "Differential flame graph", "Functions that changed",
                                   "Sites that changed"], ["totals", "functions", "sites"])


# ---------------------------------------------------------------- tests: live view

def snapshots(text):
    out = []
    for block in text.split("rsprobe live: ")[1:]:
        m = re.search(r"allocs (\d+) .*?events (\d+) \((\d+)/s\)  lost (\d+)", block, re.S)
        check(m, "snapshot header: %r" % block[:300])
        out.append(dict(allocs=int(m.group(1)), events=int(m.group(2)), lost=int(m.group(4)),
                        text=block))
    return out


@needs_bpf
def test_live_view_appends_when_piped():
    js = tmp("live.json")
    r = run([RSPROBE, "-q", "-i", "0.3", "-o", js, "--", fixture("workers-fp"), "150", "10"])
    eq(r.returncode, 0, "rsprobe -i (stderr: %s)" % r.stderr)
    check("\x1b[" not in r.stdout, "no terminal escapes in a pipe")
    snaps = snapshots(r.stdout)
    check(len(snaps) >= 3, "a snapshot every 0.3 s of a ~1.5 s run: %d" % len(snaps))
    for a, b in zip(snaps, snaps[1:]):
        check(a["allocs"] <= b["allocs"] and a["events"] <= b["events"], "counts only grow")
    d = json.load(open(js))
    check(0 < snaps[-1]["allocs"] <= d["totals"]["allocs"], "live totals within the final ones")
    eq(snaps[-1]["lost"], d["totals"]["lost_events"], "lost events shown")
    check("workers::build_map" in snaps[-1]["text"], "sites named")
    check(re.search(r"site\s+allocs/s\s+bytes/s", snaps[-1]["text"]), "table header")


@needs_bpf
def test_live_view_redraws_on_a_terminal():
    master, slave = pty.openpty()
    p = subprocess.Popen([RSPROBE, "-q", "-i", "0.3", "-o", tmp("tty.json"), "--",
                          fixture("workers-fp"), "120", "10"],
                         stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    deadline = time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    p.wait(timeout=30)
    os.close(master)
    eq(p.returncode, 0, "rsprobe exit")
    text = out.decode(errors="replace")
    check(text.count("\x1b[H\x1b[2J") >= 2, "the screen is redrawn each tick")
    check(text.count("\x1b[H\x1b[2J") == text.count("rsprobe live: "), "one redraw per table")


TESTS = [
    test_help_lists_formats_and_options,
    test_usage_errors,
    test_one_run_writes_every_format,
    test_folded_alloc_bytes,
    test_folded_other_weights,
    test_svg_parses_and_agrees,
    test_svg_in_chromium,
    test_pprof_read_by_go,
    test_dhat_json,
    test_dhat_in_dh_view,
    test_html_self_contained_and_agrees,
    test_html_in_chromium,
    test_peak_against_the_fixture,
    test_peak_against_valgrind_dhat,
    test_growth_hints,
    test_stacks_in_text_and_html,
    test_timeline_follows_the_fixture,
    test_frame_origins_in_the_flame_graph,
    test_library_frame_moves_attribution,
    test_diff_finds_the_one_changed_site,
    test_diff_bad_input,
    test_html_layout_at_1280_and_1920,
    test_live_view_appends_when_piped,
    test_live_view_redraws_on_a_terminal,
]


def main():
    return run_tests(TESTS, "outputs", sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
