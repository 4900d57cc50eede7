// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The interactive flame graph, drawn by rsprobe itself: one SVG file with its
 * own script (hover for details, click to zoom, search), so no Perl or JS
 * toolchain is needed to make or view it. Root at the bottom; user frames in
 * warm colours, library frames (std, core, alloc, libc) in cool ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flame.h"
#include "report.h"
#include "util.h"

#define SVG_ID "rsprobe-flame"
#define WIDTH 1200
#define XPAD 10
#define FRAME_H 16
#define TOP 64		/* title, legend, controls */
#define BOTTOM 28	/* the details line */
#define FONT_PX 12
#define CHAR_W 7.1	/* average glyph width at FONT_PX, for fitting labels */
#define MIN_PX 0.1	/* narrower frames are not drawn */

static const char flame_js[] =
	"(function (ID, W, X0, CW, UNIT) {\n"
	"  var svg = document.getElementById(ID), span = W - 2 * X0;\n"
	"  var frames = Array.prototype.slice.call(svg.querySelectorAll(\"g.f\"));\n"
	"  var root = frames[0], re = null;\n"
	"  var details = svg.querySelector(\".details\"), matched = "
	"svg.querySelector(\".matched\");\n"
	"  var reset = svg.querySelector(\".reset\"), search = svg.querySelector(\".search\");\n"
	"  var hint = details.textContent;\n"
	"\n"
	"  function num(g, k) { return +g.getAttribute(\"data-\" + k); }\n"
	"  function name(g) { return g.querySelector(\"title\").textContent.split(\"\\n\")[0]; }\n"
	"  function human(v) {\n"
	"    var i = 0, u = [\"B\", \"KiB\", \"MiB\", \"GiB\", \"TiB\"], t = [[1e9, \"s\"], "
	"[1e6, \"ms\"], [1e3, \"us\"]];\n"
	"    if (UNIT === \"bytes\") {\n"
	"      for (; v >= 1024 && i < 4; i++)\n"
	"        v /= 1024;\n"
	"      return (i ? v.toFixed(1) : v) + \" \" + u[i];\n"
	"    }\n"
	"    if (UNIT === \"ns\") {\n"
	"      for (; i < 3; i++)\n"
	"        if (v >= t[i][0])\n"
	"          return (v / t[i][0]).toFixed(1) + \" \" + t[i][1];\n"
	"      return v + \" ns\";\n"
	"    }\n"
	"    return v + \" \" + UNIT;\n"
	"  }\n"
	"  function pct(v) {\n"
	"    var t = num(root, \"v\");\n"
	"    return (t ? 100 * v / t : 0).toFixed(2) + \"%\";\n"
	"  }\n"
	"  /* Label a frame with as much of its name as fits. */\n"
	"  function fit(g, w) {\n"
	"    var n = name(g), c = Math.floor((w - 6) / CW);\n"
	"    g.querySelector(\"text\").textContent = c < 3 ? \"\" : n.length <= c ? n : "
	"n.slice(0, c - 2) + \"..\";\n"
	"  }\n"
	"  function place(g, x, w) {\n"
	"    var r = g.querySelector(\"rect\");\n"
	"    r.setAttribute(\"x\", x.toFixed(2));\n"
	"    r.setAttribute(\"width\", w.toFixed(2));\n"
	"    g.querySelector(\"text\").setAttribute(\"x\", (x + 3).toFixed(2));\n"
	"    g.style.display = \"\";\n"
	"    fit(g, w);\n"
	"  }\n"
	"  /* Zoom: z spans the width, its callers stay full width but dimmed. */\n"
	"  var cur = root;\n"
	"  function zoom(z) {\n"
	"    cur = z;\n"
	"    var zs = num(z, \"s\"), zv = num(z, \"v\"), zd = num(z, \"d\");\n"
	"    frames.forEach(function (g) {\n"
	"      var s = num(g, \"s\"), v = num(g, \"v\"), d = num(g, \"d\"), w = zv ? v / zv * "
	"span : 0;\n"
	"      g.classList.toggle(\"parent\", d < zd);\n"
	"      if (d < zd && s <= zs && s + v >= zs + zv)\n"
	"        place(g, X0, span);\n"
	"      else if (d >= zd && s >= zs && s + v <= zs + zv && w >= 0.1)\n"
	"        place(g, X0 + (s - zs) / zv * span, w);\n"
	"      else\n"
	"        g.style.display = \"none\";\n"
	"    });\n"
	"    reset.style.display = z === root ? \"none\" : \"\";\n"
	"  }\n"
	"  /* Search: paint matches, and count each matched byte once (nested matches). */\n"
	"  function find(pattern) {\n"
	"    var spans = [], sum = 0, end = -1;\n"
	"    try {\n"
	"      re = pattern ? new RegExp(pattern) : null;\n"
	"    } catch (e) {\n"
	"      re = new RegExp(pattern.replace(/[.*+?^${}()|[\\]\\\\]/g, \"\\\\$&\"));\n"
	"    }\n"
	"    frames.forEach(function (g) {\n"
	"      var hit = re && g !== root && re.test(name(g));\n"
	"      g.querySelector(\"rect\").setAttribute(\"fill\", hit ? \"rgb(230,0,230)\" : "
	"g.getAttribute(\"data-c\"));\n"
	"      if (hit)\n"
	"        spans.push([num(g, \"s\"), num(g, \"s\") + num(g, \"v\")]);\n"
	"    });\n"
	"    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });\n"
	"    spans.forEach(function (p) {\n"
	"      if (p[1] > end) {\n"
	"        sum += p[1] - Math.max(p[0], end);\n"
	"        end = p[1];\n"
	"      }\n"
	"    });\n"
	"    matched.textContent = re ? \"Matched: \" + pct(sum) : \"\";\n"
	"    search.textContent = re ? \"Clear search\" : \"Search\";\n"
	"  }\n"
	"  function ask() {\n"
	"    var p = window.prompt(\"Search frames (regular expression)\", \"\");\n"
	"    if (p)\n"
	"      find(p);\n"
	"  }\n"
	"  svg.addEventListener(\"mouseover\", function (e) {\n"
	"    var g = e.target.closest(\"g.f\");\n"
	"    if (g)\n"
	"      details.textContent = name(g) + \": \" + human(num(g, \"v\")) + \" (\" + "
	"pct(num(g, \"v\")) + \")\";\n"
	"  });\n"
	"  svg.addEventListener(\"mouseout\", function () { details.textContent = hint; });\n"
	"  svg.addEventListener(\"click\", function (e) {\n"
	"    var g = e.target.closest(\"g.f\");\n"
	"    if (g)\n"
	"      zoom(g);\n"
	"    else if (e.target === reset)\n"
	"      zoom(root);\n"
	"    else if (e.target === search)\n"
	"      re ? find(null) : ask();\n"
	"  });\n"
	"  window.addEventListener(\"keydown\", function (e) {\n"
	"    if ((e.ctrlKey || e.metaKey) && e.key === \"f\") {\n"
	"      e.preventDefault();\n"
	"      ask();\n"
	"    } else if (e.key === \"Escape\") {\n"
	"      find(null);\n"
	"      zoom(root);\n"
	"    }\n"
	"  });\n"
	"  /* Inside a page the graph takes the page's width, and follows it. */\n"
	"  function fitWidth() {\n"
	"    var pw = svg.parentNode && svg.parentNode.clientWidth, h = svg.getAttribute(\"height\");\n"
	"    if (svg.ownerDocument.documentElement === svg || !pw || Math.abs(pw - W) < 1)\n"
	"      return;\n"
	"    W = Math.max(pw, 400);\n"
	"    span = W - 2 * X0;\n"
	"    svg.setAttribute(\"width\", W);\n"
	"    svg.setAttribute(\"viewBox\", \"0 0 \" + W + \" \" + h);\n"
	"    svg.querySelector(\".title\").setAttribute(\"x\", W / 2);\n"
	"    reset.setAttribute(\"x\", W - X0 - 70);\n"
	"    search.setAttribute(\"x\", W - X0);\n"
	"    matched.setAttribute(\"x\", W - X0);\n"
	"    zoom(cur);\n"
	"  }\n"
	"  fitWidth();\n"
	"  window.addEventListener(\"resize\", fitWidth);\n"
	"  /* ?z=N zooms to frame N, ?s=REGEX searches: links and tests use them. */\n"
	"  var q = new URLSearchParams(window.location.search), z = document.getElementById(ID "
	"+ \"-f\" + q.get(\"z\"));\n"
	"  if (z)\n"
	"    zoom(z);\n"
	"  if (q.get(\"s\"))\n"
	"    find(q.get(\"s\"));\n"
	"  svg.setAttribute(\"data-ready\", \"1\");\n"
	"})\n";

static const char flame_css[] =
	".f text, .ctl, .legend { font: 12px Verdana, 'DejaVu Sans', sans-serif; }\n"
	".f text { fill: #000; pointer-events: none; }\n"
	".f rect { stroke: #fff; stroke-width: 0.5; }\n"
	".f:hover rect { stroke: #000; cursor: pointer; }\n"
	".f.parent { opacity: 0.55; }\n"
	".ctl { fill: #225; cursor: pointer; }\n"
	".title { font: 16px Verdana, 'DejaVu Sans', sans-serif; text-anchor: middle; }\n"
	".note { font: 11px Verdana, 'DejaVu Sans', sans-serif; text-anchor: middle; fill: #555; }\n";

/* Stable colours: the same function gets the same shade in every graph. */
static void frame_colour(const struct flame_node *n, char *buf, size_t len)
{
	uint64_t h = hash_bytes(n->name, strlen(n->name));
	unsigned a = h & 0xff, b = (h >> 8) & 0xff;

	switch (n->kind) {
	case FRAME_USER:	/* red to yellow */
		snprintf(buf, len, "rgb(%u,%u,%u)", 205 + a % 50, 70 + b % 150, 40 + a % 40);
		break;
	case FRAME_LIBRARY:	/* blue to aqua */
		snprintf(buf, len, "rgb(%u,%u,%u)", 70 + a % 50, 140 + b % 70, 215 + a % 40);
		break;
	case FRAME_NATIVE:	/* violet */
		snprintf(buf, len, "rgb(%u,%u,%u)", 150 + a % 40, 110 + b % 40, 205 + a % 40);
		break;
	case FRAME_LIBC:	/* green */
		snprintf(buf, len, "rgb(%u,%u,%u)", 90 + a % 40, 180 + b % 40, 110 + a % 40);
		break;
	case FRAME_UNKNOWN:
		snprintf(buf, len, "rgb(%u,%u,%u)", 170 + a % 20, 170 + a % 20, 170 + a % 20);
		break;
	default:
		snprintf(buf, len, "rgb(200,200,200)");
	}
}

static void human(char *buf, size_t len, uint64_t v, enum weight w)
{
	switch (w) {
	case WEIGHT_ALLOC_BYTES:
	case WEIGHT_LIVE_BYTES:
		fmt_bytes(buf, len, v);
		break;
	case WEIGHT_LIFETIME:
		fmt_ns(buf, len, v);
		break;
	default:
		snprintf(buf, len, "%llu allocations", (unsigned long long)v);
	}
}

static void svg_head(FILE *f, const struct model *m, const struct flame *fl, int height)
{
	const struct flame_node *root = flame__root(fl);
	char total[32];

	human(total, sizeof(total), root->value, fl->weight);
	fprintf(f, "<svg id=\"%s\" version=\"1.1\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" "
		   "data-weight=\"%s\" data-total=\"%llu\">\n",
		SVG_ID, WIDTH, height, WIDTH, height, weight_names[fl->weight],
		(unsigned long long)root->value);
	fprintf(f, "<style>\n%s</style>\n", flame_css);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#f7f7f2\"/>\n");
	fprintf(f, "<text class=\"title\" x=\"%d\" y=\"22\">rsprobe: ", WIDTH / 2);
	xml_escape(f, m->target.comm);
	fprintf(f, " (pid %d), %s, total %s%s</text>\n", m->target.pid, weight_names[fl->weight],
		report_estimated(m) ? "~" : "", total);
	if (report_estimated(m)) {
		char *mode = report_mode(m);

		fprintf(f, "<text class=\"note\" x=\"%d\" y=\"%d\">", WIDTH / 2, height - 6);
		xml_escape(f, mode);
		fputs("</text>\n", f);
		free(mode);
	}
}

static void svg_controls(FILE *f, int height)
{
	static const struct {
		const char *colour, *label;
	} keys[] = {
		{ "rgb(230,120,50)", "your Rust code" },
		{ "rgb(90,170,235)", "Rust std, core, alloc" },
		{ "rgb(170,125,225)", "other native code (C, C++)" },
		{ "rgb(110,195,130)", "libc, C runtime" },
		{ "rgb(180,180,180)", "no symbol" },
	};
	int x = XPAD;
	size_t i;

	fputs("<g class=\"legend\">", f);
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		fprintf(f, "<rect x=\"%d\" y=\"34\" width=\"12\" height=\"12\" fill=\"%s\"/>"
			   "<text x=\"%d\" y=\"44\">%s</text>",
			x, keys[i].colour, x + 16, keys[i].label);
		x += 16 + (int)(strlen(keys[i].label) * CHAR_W) + 14;
	}
	fputs("</g>\n", f);
	fprintf(f, "<text class=\"ctl reset\" x=\"%d\" y=\"44\" text-anchor=\"end\" "
		   "style=\"display:none\">"
		   "Reset zoom</text>\n", WIDTH - XPAD - 70);
	fprintf(f, "<text class=\"ctl search\" x=\"%d\" y=\"44\" text-anchor=\"end\">"
		   "Search</text>\n", WIDTH - XPAD);
	fprintf(f, "<text class=\"ctl details\" x=\"%d\" y=\"%d\">"
		   "Hover over a frame for details, click to zoom, Ctrl-F to search</text>\n",
		XPAD, height - 10);
	fprintf(f, "<text class=\"ctl matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n",
		WIDTH - XPAD, height - 10);
}

/* The label that fits w pixels, as the script computes it after a zoom. */
static void svg_label(FILE *f, const char *name, double w)
{
	int c = (int)((w - 6) / CHAR_W), n = (int)strlen(name);
	char *s;

	if (c < 3)
		return;
	if (n <= c) {
		xml_escape(f, name);
		return;
	}
	/* Cut between characters: half a UTF-8 sequence is not valid XML. */
	for (c -= 2; c > 0 && ((unsigned char)name[c] & 0xc0) == 0x80; c--)
		;
	s = strndup(name, c);
	xml_escape(f, s);
	fputs("..", f);
	free(s);
}

static void svg_frame(FILE *f, const struct flame *fl, uint32_t id, int height)
{
	const struct flame_node *n = &fl->nodes[id];
	double scale = (double)(WIDTH - 2 * XPAD) / (flame__root(fl)->value ?: 1);
	double x = XPAD + n->start * scale, w = n->value * scale;
	int y = height - BOTTOM - (int)(n->depth + 1) * FRAME_H;
	char colour[32], v[32];

	if (w < MIN_PX && id)
		return;
	frame_colour(n, colour, sizeof(colour));
	human(v, sizeof(v), n->value, fl->weight);
	fprintf(f, "<g class=\"f\" id=\"%s-f%u\" data-s=\"%llu\" data-v=\"%llu\" data-d=\"%u\" "
		   "data-k=\"%s\" data-c=\"%s\"><title>",
		SVG_ID, id, (unsigned long long)n->start, (unsigned long long)n->value, n->depth,
		frame_kind_name(n->kind), colour);
	xml_escape(f, n->name);
	fprintf(f, "\n%s, %.2f%%</title><rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
		   "rx=\"2\" fill=\"%s\"/><text x=\"%.2f\" y=\"%d\">",
		v, 100.0 * n->value / (flame__root(fl)->value ?: 1), x, y, w, FRAME_H - 1, colour,
		x + 3, y + FRAME_H - 4);
	svg_label(f, n->name, w);
	fputs("</text></g>\n", f);
}

int flame__svg(FILE *f, const struct model *m, const struct report_opts *o, bool standalone)
{
	struct flame *fl = flame__new(m, o->weight);
	int height = TOP + (int)(fl->max_depth + 1) * FRAME_H + BOTTOM;
	size_t i;

	if (standalone)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", f);
	svg_head(f, m, fl, height);
	svg_controls(f, height);
	for (i = 0; i < fl->n; i++)
		svg_frame(f, fl, (uint32_t)i, height);
	/* CDATA: the script's '<' and '&' stay text, in an .svg file and inlined in HTML. */
	fprintf(f, "<script type=\"text/javascript\"><![CDATA[\n%s(\"%s\", %d, %d, %.2f, \"%s\");\n"
		   "]]></script>\n</svg>\n",
		flame_js, SVG_ID, WIDTH, XPAD, CHAR_W, weight_units[o->weight]);
	flame__free(fl);
	return ferror(f) ? -EIO : 0;
}

int report_svg(FILE *f, const struct model *m, const struct report_opts *o)
{
	return flame__svg(f, m, o, true);
}
