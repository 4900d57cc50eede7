// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rsprobe diff: two JSON reports compared per function and per site. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "diff.h"
#include "flame.h"
#include "hashmap.h"
#include "hist.h"
#include "outcome.h"
#include "util.h"

#define EXIT_USAGE 2
#define NBUCKETS (HIST_LOG2_BUCKETS + 1)
#define NOUT (OUTCOME_MAX + 1)	/* the outcomes, then cross_thread */
#define PATH_FRAMES 6		/* callers shown in a site's short path */
#define DFLAME_W 1200
#define DFLAME_ROW 17

static const char *const out_names[NOUT] = { "same", "callee", "caller", "other",
					      "cross_thread" };

/* One side's figures of a site or function. */
struct side {
	uint64_t allocs, bytes, frees, live, live_bytes;
	uint64_t outcomes[NOUT];
	double life_sum;	/* mean x frees, summed */
	uint64_t hist[NBUCKETS];	/* log2 buckets of lifetimes: 0, then [2^(k-1), 2^k) */
};

struct entry {
	char *key;
	const char *function;
	json_object *stack;	/* frames of the first report that has the site */
	struct side s[2];
};

struct table {
	struct entry *v;
	size_t n, cap;
	struct u64map idx;	/* key hash -> index + 1 (chained by rehash) */
};

struct report {
	const char *path;
	json_object *root;
	const char *comm, *exe;
	int64_t pid;
	uint64_t duration_ns;
	json_object *totals;
};

struct diff {
	struct report r[2];
	struct table sites, funcs;
	double noise;		/* fraction */
	int top;
};

/* ---------------------------------------------------------------- reading */

static uint64_t u64_of(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_uint64(v);
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *get(json_object *o, const char *key, enum json_type t)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

static struct entry *entry_for(struct table *t, const char *key, const char *function)
{
	uint64_t h = hash_bytes(key, strlen(key)), v;
	struct entry *e;

	for (;; h = hash_u64(h + 1)) {
		if (!u64map_get(&t->idx, h, &v))
			break;
		if (!strcmp(t->v[v - 1].key, key))
			return &t->v[v - 1];
	}
	ARR_RESERVE(t->v, t->cap, t->n + 1);
	e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	e->key = xstrdup(key);
	e->function = function;
	u64map_put(&t->idx, h, t->n);
	return e;
}

/* A site's key: its function and the function names of its birth stack. */
static char *site_key(json_object *site, json_object *stack)
{
	size_t i, n = stack ? json_object_array_length(stack) : 0, len = 0, cap = 256;
	char *k = xmalloc(cap);
	const char *fn = str_of(site, "function") ?: "";

	for (i = 0; i <= n; i++) {
		const char *s = i ? str_of(json_object_array_get_idx(stack, i - 1), "function") : fn;
		size_t l = strlen(s ?: "");

		ARR_RESERVE(k, cap, len + l + 2);
		memcpy(k + len, s ?: "", l);
		len += l;
		k[len++] = '\x1e';
	}
	k[len] = 0;
	return k;
}

static int bucket_of(uint64_t lower)
{
	int k = 0;

	while (lower) {
		lower >>= 1;
		k++;
	}
	return MIN(k, NBUCKETS - 1);
}

static void add_site(struct diff *d, int side, json_object *site)
{
	json_object *stack = get(site, "stack", json_type_array);
	json_object *out = get(site, "outcomes", json_type_object);
	json_object *life = get(site, "lifetime_ns", json_type_object);
	json_object *h = get(life, "log2_histogram", json_type_array);
	char *key = site_key(site, stack);
	struct entry *e = entry_for(&d->sites, key, str_of(site, "function") ?: "[unknown]");
	struct side *s = &e->s[side];
	size_t i;
	int k;

	free(key);
	if (!e->stack)
		e->stack = stack;
	s->allocs += u64_of(site, "allocs");
	s->bytes += u64_of(site, "bytes");
	s->frees += u64_of(site, "frees");
	s->live += u64_of(site, "live");
	s->live_bytes += u64_of(site, "live_bytes");
	s->life_sum += (double)u64_of(life, "mean") * u64_of(site, "frees");
	for (k = 0; k < NOUT; k++)
		s->outcomes[k] += u64_of(out, out_names[k]);
	for (i = 0; h && i < json_object_array_length(h); i++) {
		json_object *b = json_object_array_get_idx(h, i);

		if (json_object_is_type(b, json_type_array) && json_object_array_length(b) == 2)
			s->hist[bucket_of(json_object_get_uint64(json_object_array_get_idx(b, 0)))] +=
				json_object_get_uint64(json_object_array_get_idx(b, 1));
	}
}

static void add_function(struct diff *d, int side, json_object *fo)
{
	const char *name = str_of(fo, "function") ?: "[unknown]";
	struct entry *e = entry_for(&d->funcs, name, name);

	e->s[side].allocs += u64_of(fo, "allocs");
	e->s[side].bytes += u64_of(fo, "bytes_allocated");
	e->s[side].frees += u64_of(fo, "frees");
}

static int load(struct diff *d, int side, const char *path)
{
	struct report *r = &d->r[side];
	json_object *sites, *fns, *target, *schema;
	size_t i;

	r->path = path;
	r->root = json_object_from_file(path);
	if (!r->root) {
		char why[256];
		size_t n;

		snprintf(why, sizeof(why), "%s", json_util_get_last_err() ?: strerror(errno));
		n = strcspn(why, "\n");
		why[n] = 0;
		warn("diff: cannot read %s: %s", path, why);
		return -EINVAL;
	}
	sites = get(r->root, "sites", json_type_array);
	fns = get(r->root, "functions", json_type_array);
	r->totals = get(r->root, "totals", json_type_object);
	if (!json_object_object_get_ex(r->root, "schema", &schema) ||
	    json_object_get_int(schema) != 1 || !sites || !fns || !r->totals) {
		warn("diff: %s is not an rsprobe JSON report (schema 1 with totals, sites and "
		     "functions)", path);
		return -EINVAL;
	}
	target = get(r->root, "target", json_type_object);
	r->comm = str_of(target, "comm") ?: "?";
	r->exe = str_of(target, "exe") ?: "";
	r->pid = (int64_t)u64_of(target, "pid");
	r->duration_ns = u64_of(r->root, "duration_ns");
	for (i = 0; i < json_object_array_length(sites); i++)
		add_site(d, side, json_object_array_get_idx(sites, i));
	for (i = 0; i < json_object_array_length(fns); i++)
		add_function(d, side, json_object_array_get_idx(fns, i));
	return 0;
}

/* ---------------------------------------------------------------- comparing */

/* Beyond noise: more than 1 apart, and by more than the noise fraction of the larger. */
static bool differs(const struct diff *d, uint64_t a, uint64_t b)
{
	uint64_t delta = a > b ? a - b : b - a;

	return delta > 1 && (double)delta > d->noise * (double)MAX(a, b);
}

static bool entry_changed(const struct diff *d, const struct entry *e, bool outcomes)
{
	int k;

	if (differs(d, e->s[0].allocs, e->s[1].allocs) || differs(d, e->s[0].bytes, e->s[1].bytes))
		return true;
	for (k = 0; outcomes && k < NOUT; k++)
		if (differs(d, e->s[0].outcomes[k], e->s[1].outcomes[k]))
			return true;
	return false;
}

static int64_t delta_of(const struct entry *e)
{
	return (int64_t)e->s[1].bytes - (int64_t)e->s[0].bytes;
}

static int cmp_delta(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry **)a, *y = *(const struct entry **)b;
	uint64_t dx = (uint64_t)llabs(delta_of(x)), dy = (uint64_t)llabs(delta_of(y));
	int64_t ax = llabs((int64_t)x->s[1].allocs - (int64_t)x->s[0].allocs);
	int64_t ay = llabs((int64_t)y->s[1].allocs - (int64_t)y->s[0].allocs);

	if (dx != dy)
		return dx > dy ? -1 : 1;
	if (ax != ay)
		return ax > ay ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Entries that changed beyond noise, largest change in bytes first. */
static struct entry **changed(const struct diff *d, const struct table *t, bool outcomes,
			      size_t *n)
{
	struct entry **v = xmalloc((t->n + 1) * sizeof(*v));
	size_t i;

	*n = 0;
	for (i = 0; i < t->n; i++)
		if (entry_changed(d, &t->v[i], outcomes))
			v[(*n)++] = &t->v[i];
	qsort(v, *n, sizeof(*v), cmp_delta);
	return v;
}

static uint64_t p50_of(const struct side *s)
{
	uint64_t n = 0, seen = 0;
	int k;

	for (k = 0; k < NBUCKETS; k++)
		n += s->hist[k];
	for (k = 0; k < NBUCKETS && n; k++) {
		seen += s->hist[k];
		if (2 * seen >= n)
			return k ? 1ULL << (k - 1) : 0;
	}
	return 0;
}

static const char *signed_count(char *buf, size_t len, uint64_t a, uint64_t b)
{
	int64_t dlt = (int64_t)b - (int64_t)a;

	if (a == b)
		snprintf(buf, len, "0");
	else if (!a)
		snprintf(buf, len, "%+lld (new)", (long long)dlt);
	else
		snprintf(buf, len, "%+lld (%+.0f%%)", (long long)dlt, 100.0 * dlt / a);
	return buf;
}

static const char *signed_bytes(char *buf, size_t len, uint64_t a, uint64_t b)
{
	char t[32];

	fmt_bytes(t, sizeof(t), a > b ? a - b : b - a);
	snprintf(buf, len, "%s%s", a > b ? "-" : b > a ? "+" : "", t);
	return buf;
}

/* The attributed frame and a few of its callers: "f < caller < caller". */
static void short_path(char *buf, size_t len, const struct entry *e)
{
	size_t i, n = e->stack ? json_object_array_length(e->stack) : 0, at = 0, shown = 0;
	int w = 0;

	for (i = 0; i < n; i++)
		if (!strcmp(str_of(json_object_array_get_idx(e->stack, i), "function") ?: "",
			    e->function)) {
			at = i;
			break;
		}
	buf[0] = 0;
	for (i = at; i < n && shown < PATH_FRAMES && w >= 0 && (size_t)w < len; i++) {
		json_object *fr = json_object_array_get_idx(e->stack, i);
		json_object *inl = get(fr, "inlined", json_type_boolean);
		json_object *lib = get(fr, "library", json_type_boolean);

		/* Library code inlined into a caller says nothing the caller does not. */
		if (i != at && inl && lib && json_object_get_boolean(inl) &&
		    json_object_get_boolean(lib))
			continue;
		w += snprintf(buf + w, len - w, "%s%s", shown++ ? " < " : "",
			      str_of(fr, "function") ?: "?");
	}
	if (i < n && w >= 0 && (size_t)w < len)
		snprintf(buf + w, len - w, " < ...");
}

/* ---------------------------------------------------------------- text */

static void text_total(FILE *f, const struct diff *d, const char *label, const char *key,
		       bool bytes)
{
	uint64_t a = u64_of(d->r[0].totals, key), b = u64_of(d->r[1].totals, key);
	char x[32], y[32], z[48];

	if (bytes)
		fprintf(f, "  %-22s %12s %12s  %s\n", label, fmt_bytes(x, sizeof(x), a),
			fmt_bytes(y, sizeof(y), b), signed_bytes(z, sizeof(z), a, b));
	else
		fprintf(f, "  %-22s %12llu %12llu  %s\n", label, (unsigned long long)a,
			(unsigned long long)b, signed_count(z, sizeof(z), a, b));
}

static const struct {
	const char *label, *key;
	bool bytes;
} total_rows[] = {
	{ "allocations", "allocs", false },
	{ "bytes allocated", "bytes_allocated", true },
	{ "frees", "frees", false },
	{ "reallocs", "reallocs", false },
	{ "live at end", "live_allocs", false },
	{ "live bytes at end", "live_bytes", true },
	{ "peak live bytes", "peak_live_bytes", true },
	{ "unknown frees", "unknown_frees", false },
	{ "lost events", "lost_events", false },
};

static void outcome_changes(char *buf, size_t len, const struct diff *d, const struct entry *e)
{
	int k, w = 0;

	buf[0] = 0;
	for (k = 0; k < NOUT && w >= 0 && (size_t)w < len; k++)
		if (differs(d, e->s[0].outcomes[k], e->s[1].outcomes[k]))
			w += snprintf(buf + w, len - w, "%s%s %+lld", w ? ", " : "", out_names[k],
				      (long long)e->s[1].outcomes[k] - (long long)e->s[0].outcomes[k]);
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void counts_unchanged(const struct diff *d, const struct table *t, size_t *within,
			     size_t *same, size_t *only_old, size_t *only_new)
{
	size_t i;

	*within = *same = *only_old = *only_new = 0;
	for (i = 0; i < t->n; i++) {
		const struct entry *e = &t->v[i];

		if (!e->s[1].allocs && !e->s[1].frees && (e->s[0].allocs || e->s[0].frees))
			(*only_old)++;
		else if (!e->s[0].allocs && !e->s[0].frees && (e->s[1].allocs || e->s[1].frees))
			(*only_new)++;
		if (entry_changed(d, e, t == &d->sites))
			continue;
		if (!memcmp(&e->s[0].allocs, &e->s[1].allocs, 2 * sizeof(uint64_t)))
			(*same)++;
		else
			(*within)++;
	}
}

static int diff_text(FILE *f, const struct diff *d)
{
	struct entry **v;
	size_t n, i, within, same, oo, on;
	char a[48], b[48], c[32], c2[32], e1[32], e2[32], path[512], oc[160];
	int k;

	fprintf(f, "rsprobe %s diff\n", RSPROBE_VERSION);
	for (k = 0; k < 2; k++)
		fprintf(f, "  %s %s: pid %lld (%s) %s, %s\n", k ? "new" : "old", d->r[k].path,
			(long long)d->r[k].pid, d->r[k].comm, d->r[k].exe,
			fmt_ns(c, sizeof(c), d->r[k].duration_ns));
	fprintf(f, "\nTotals %28s %12s  change\n", "old", "new");
	for (i = 0; i < ARRAY_SIZE(total_rows); i++)
		text_total(f, d, total_rows[i].label, total_rows[i].key, total_rows[i].bytes);

	v = changed(d, &d->funcs, false, &n);
	counts_unchanged(d, &d->funcs, &within, &same, &oo, &on);
	fprintf(f, "\nFunctions that changed (%zu of %zu; noise: a change of 1, or under %.0f%%)\n",
		n, d->funcs.n, d->noise * 100);
	if (n)
		fprintf(f, "  %9s %9s %-16s %10s %10s %-12s %s\n", "old", "new", "allocs", "old",
			"new", "bytes", "function");
	for (i = 0; i < n && (int)i < d->top; i++)
		fprintf(f, "  %9llu %9llu %-16s %10s %10s %-12s %s\n",
			(unsigned long long)v[i]->s[0].allocs, (unsigned long long)v[i]->s[1].allocs,
			signed_count(a, sizeof(a), v[i]->s[0].allocs, v[i]->s[1].allocs),
			fmt_bytes(e1, sizeof(e1), v[i]->s[0].bytes),
			fmt_bytes(e2, sizeof(e2), v[i]->s[1].bytes),
			signed_bytes(b, sizeof(b), v[i]->s[0].bytes, v[i]->s[1].bytes), v[i]->function);
	free(v);

	v = changed(d, &d->sites, true, &n);
	counts_unchanged(d, &d->sites, &within, &same, &oo, &on);
	fprintf(f, "\nSites that changed, matched by function and stack (%zu of %zu)\n", n,
		d->sites.n);
	for (i = 0; i < n && (int)i < d->top; i++) {
		const struct entry *e = v[i];

		short_path(path, sizeof(path), e);
		outcome_changes(oc, sizeof(oc), d, e);
		fprintf(f, "  %s\n    allocs %llu -> %llu  %s;  bytes %s -> %s  %s;  "
			   "p50 lifetime %s -> %s;  outcomes %s\n",
			path, (unsigned long long)e->s[0].allocs, (unsigned long long)e->s[1].allocs,
			signed_count(a, sizeof(a), e->s[0].allocs, e->s[1].allocs),
			fmt_bytes(e1, sizeof(e1), e->s[0].bytes), fmt_bytes(e2, sizeof(e2), e->s[1].bytes),
			signed_bytes(b, sizeof(b), e->s[0].bytes, e->s[1].bytes),
			e->s[0].frees ? fmt_ns(c, sizeof(c), p50_of(&e->s[0])) : "-",
			e->s[1].frees ? fmt_ns(c2, sizeof(c2), p50_of(&e->s[1])) : "-", oc);
	}
	fprintf(f, "  (%zu sites unchanged, %zu within noise; %zu only in old, %zu only in new)\n",
		same, within, oo, on);
	free(v);
	return ferror(f) ? -EIO : 0;
}

/* ---------------------------------------------------------------- flame graph */

struct dnode {
	const char *name;
	uint64_t v[2];
	uint32_t first_kid, next;	/* 0: none */
	uint32_t depth;
};

struct dtree {
	struct dnode *n;
	size_t len, cap;
	uint32_t max_depth;
};

static uint32_t dchild(struct dtree *t, uint32_t parent, const char *name)
{
	uint32_t k, prev = 0;

	for (k = t->n[parent].first_kid; k; prev = k, k = t->n[k].next)
		if (!strcmp(t->n[k].name, name))
			return k;
	ARR_RESERVE(t->n, t->cap, t->len + 1);
	k = (uint32_t)t->len++;
	memset(&t->n[k], 0, sizeof(t->n[k]));
	t->n[k].name = name;
	t->n[k].depth = t->n[parent].depth + 1;
	t->max_depth = MAX(t->max_depth, t->n[k].depth);
	if (prev)
		t->n[prev].next = k;
	else
		t->n[parent].first_kid = k;
	return k;
}

static void dtree_build(struct dtree *t, const struct diff *d)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	ARR_RESERVE(t->n, t->cap, 1);
	memset(&t->n[0], 0, sizeof(t->n[0]));
	t->n[0].name = "all";
	t->len = 1;
	for (i = 0; i < d->sites.n; i++) {
		const struct entry *e = &d->sites.v[i];
		size_t n = e->stack ? json_object_array_length(e->stack) : 0, j;
		uint32_t at = 0;
		int k;

		for (k = 0; k < 2; k++)
			t->n[0].v[k] += e->s[k].bytes;
		/* Root first: the JSON lists frames innermost first. */
		for (j = n; j-- > 0;) {
			at = dchild(t, at, str_of(json_object_array_get_idx(e->stack, j),
						  "function") ?: "?");
			for (k = 0; k < 2; k++)
				t->n[at].v[k] += e->s[k].bytes;
		}
	}
}

/* Growth warm (red), shrink cool (blue), unchanged pale. */
static void dcolour(char *buf, size_t len, const struct dnode *n)
{
	uint64_t big = MAX(n->v[0], n->v[1]);
	double r = big ? ((double)n->v[1] - (double)n->v[0]) / big : 0;
	int c = (int)(210 - 170 * fabs(r));

	if (r > 0.001)
		snprintf(buf, len, "rgb(255,%d,%d)", c, c);
	else if (r < -0.001)
		snprintf(buf, len, "rgb(%d,%d,255)", c, c + 20 > 255 ? 255 : c + 20);
	else
		snprintf(buf, len, "rgb(225,225,215)");
}

static void dflame_node(FILE *f, const struct dtree *t, uint32_t id, double x, double scale,
			int height)
{
	const struct dnode *n = &t->n[id];
	double w = (double)MAX(n->v[0], n->v[1]) * scale;
	char col[40], a[48], b[32], c[32];
	uint32_t k;
	int y = height - (int)(n->depth + 1) * DFLAME_ROW;

	if (w < 0.3)
		return;
	dcolour(col, sizeof(col), n);
	fprintf(f, "<g class=\"df\" data-old=\"%llu\" data-new=\"%llu\"><title>", (unsigned long long)n->v[0],
		(unsigned long long)n->v[1]);
	xml_escape(f, n->name);
	fprintf(f, "\n%s -> %s (%s)</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
		   "fill=\"%s\" rx=\"2\"/>",
		fmt_bytes(b, sizeof(b), n->v[0]), fmt_bytes(c, sizeof(c), n->v[1]),
		signed_bytes(a, sizeof(a), n->v[0], n->v[1]), x, y, MAX(w - 0.5, 0.3),
		DFLAME_ROW - 1, col);
	if (w > 40) {
		size_t chars = (size_t)((w - 6) / 6.6), l = strlen(n->name);
		char *s = xstrdup(n->name);

		if (l > chars) {
			s[chars > 2 ? chars - 2 : 0] = 0;
			strcat(s, "..");
		}
		fprintf(f, "<text x=\"%.1f\" y=\"%d\">", x + 3, y + DFLAME_ROW - 5);
		xml_escape(f, s);
		fputs("</text>", f);
		free(s);
	}
	fputs("</g>\n", f);
	for (k = n->first_kid; k; k = t->n[k].next) {
		dflame_node(f, t, k, x, scale, height);
		x += (double)MAX(t->n[k].v[0], t->n[k].v[1]) * scale;
	}
}

/* Frames as wide as the larger of their two byte counts, coloured by the change. */
static void dflame_svg(FILE *f, const struct diff *d, bool standalone)
{
	struct dtree t;
	uint64_t total;
	int height;

	dtree_build(&t, d);
	total = MAX(t.n[0].v[0], t.n[0].v[1]);
	height = (int)(t.max_depth + 1) * DFLAME_ROW + 24;
	if (standalone)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"diff-flame\" "
		   "viewBox=\"0 0 %d %d\" width=\"100%%\" preserveAspectRatio=\"xMinYMin meet\" "
		   "style=\"max-width:%dpx\" font-family=\"DejaVu Sans Mono, monospace\" "
		   "font-size=\"11\" data-old=\"%llu\" data-new=\"%llu\">\n"
		   "<text x=\"0\" y=\"14\" font-size=\"12\">bytes allocated: width = the larger of "
		   "old and new; red grew, blue shrank, pale unchanged</text>\n",
		DFLAME_W, height, DFLAME_W, (unsigned long long)t.n[0].v[0],
		(unsigned long long)t.n[0].v[1]);
	if (total)
		dflame_node(f, &t, 0, 0, (double)DFLAME_W / total, height);
	fputs("</svg>\n", f);
	free(t.n);
}

/* ---------------------------------------------------------------- HTML */

static const char html_css[] =
	"body { font: 14px/1.4 'DejaVu Sans', Verdana, sans-serif; margin: 24px; color: #222; }\n"
	"h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px;"
	" border-bottom: 1px solid #ddd; }\n"
	"table { border-collapse: collapse; font-size: 13px; max-width: 100%; }\n"
	"th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }\n"
	"th { background: #f3f3f3; white-space: nowrap; } th.fn { text-align: left; }\n"
	"td { white-space: nowrap; } td.fn { text-align: left; font-family: monospace;"
	" overflow-wrap: anywhere; white-space: normal; min-width: 12em; }\n"
	".up { color: #b3261e; } .down { color: #1d5fb0; } .meta { color: #555; }\n"
	"#diff-flame text { pointer-events: none; }\n";

static void html_esc(FILE *f, const char *s)
{
	xml_escape(f, s ? s : "-");
}

static const char *dir_class(uint64_t a, uint64_t b)
{
	return b > a ? "up" : b < a ? "down" : "";
}

static void html_entries(FILE *f, const struct diff *d, const struct table *t, bool sites,
			 const char *id)
{
	struct entry **v;
	size_t n, i;
	char a[48], b[48], e1[32], e2[32], path[512], oc[160];

	v = changed(d, t, sites, &n);
	fprintf(f, "<table id=\"%s\"><tr><th>allocs old</th><th>new</th><th>change</th>"
		   "<th>bytes old</th><th>new</th><th>change</th>%s<th class=\"fn\">%s</th></tr>\n",
		id, sites ? "<th>p50 lifetime old</th><th>new</th><th>outcomes</th>" : "",
		sites ? "site (function &lt; callers)" : "function");
	for (i = 0; i < n && (int)i < d->top; i++) {
		const struct entry *e = v[i];

		fprintf(f, "<tr data-function=\"");
		html_esc(f, e->function);
		fprintf(f, "\" data-old-allocs=\"%llu\" data-new-allocs=\"%llu\"><td>%llu</td>"
			   "<td>%llu</td><td class=\"%s\">%s</td><td>%s</td><td>%s</td>"
			   "<td class=\"%s\">%s</td>",
			(unsigned long long)e->s[0].allocs, (unsigned long long)e->s[1].allocs,
			(unsigned long long)e->s[0].allocs, (unsigned long long)e->s[1].allocs,
			dir_class(e->s[0].allocs, e->s[1].allocs),
			signed_count(a, sizeof(a), e->s[0].allocs, e->s[1].allocs),
			fmt_bytes(e1, sizeof(e1), e->s[0].bytes), fmt_bytes(e2, sizeof(e2), e->s[1].bytes),
			dir_class(e->s[0].bytes, e->s[1].bytes),
			signed_bytes(b, sizeof(b), e->s[0].bytes, e->s[1].bytes));
		if (sites) {
			char l0[32], l1[32];

			outcome_changes(oc, sizeof(oc), d, e);
			fprintf(f, "<td>%s</td><td>%s</td><td>%s</td>",
				e->s[0].frees ? fmt_ns(l0, sizeof(l0), p50_of(&e->s[0])) : "-",
				e->s[1].frees ? fmt_ns(l1, sizeof(l1), p50_of(&e->s[1])) : "-", oc);
			short_path(path, sizeof(path), e);
		}
		fputs("<td class=\"fn\">", f);
		html_esc(f, sites ? path : e->function);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
	free(v);
}

static int diff_html(FILE *f, const struct diff *d)
{
	size_t i;
	char x[32], y[32], z[48];
	int k;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<title>rsprobe diff</title>\n<style>\n", f);
	fputs(html_css, f);
	fputs("</style>\n</head>\n<body>\n<h1>rsprobe diff</h1>\n<div class=\"meta\">", f);
	for (k = 0; k < 2; k++) {
		fprintf(f, "%s: ", k ? "new" : "old");
		html_esc(f, d->r[k].path);
		fprintf(f, ", pid %lld (", (long long)d->r[k].pid);
		html_esc(f, d->r[k].comm);
		fprintf(f, "), %s<br>", fmt_ns(x, sizeof(x), d->r[k].duration_ns));
	}
	fputs("</div>\n<h2>Totals</h2>\n<table id=\"totals\"><tr><th></th><th>old</th><th>new</th>"
	      "<th>change</th></tr>\n", f);
	for (i = 0; i < ARRAY_SIZE(total_rows); i++) {
		uint64_t a = u64_of(d->r[0].totals, total_rows[i].key);
		uint64_t b = u64_of(d->r[1].totals, total_rows[i].key);

		fprintf(f, "<tr data-total=\"%s\" data-old=\"%llu\" data-new=\"%llu\">"
			   "<td class=\"fn\">%s</td>", total_rows[i].key, (unsigned long long)a,
			(unsigned long long)b, total_rows[i].label);
		if (total_rows[i].bytes)
			fprintf(f, "<td>%s</td><td>%s</td><td class=\"%s\">%s</td></tr>\n",
				fmt_bytes(x, sizeof(x), a), fmt_bytes(y, sizeof(y), b), dir_class(a, b),
				signed_bytes(z, sizeof(z), a, b));
		else
			fprintf(f, "<td>%llu</td><td>%llu</td><td class=\"%s\">%s</td></tr>\n",
				(unsigned long long)a, (unsigned long long)b, dir_class(a, b),
				signed_count(z, sizeof(z), a, b));
	}
	fputs("</table>\n<h2>Differential flame graph</h2>\n<div>", f);
	dflame_svg(f, d, false);
	fprintf(f, "</div>\n<h2>Functions that changed</h2>\n<p class=\"meta\">noise: a change of "
		   "1, or under %.0f%% of the larger figure</p>\n", d->noise * 100);
	html_entries(f, d, &d->funcs, false, "functions");
	fputs("<h2>Sites that changed (matched by function and stack)</h2>\n", f);
	html_entries(f, d, &d->sites, true, "sites");
	fputs("</body>\n</html>\n", f);
	return ferror(f) ? -EIO : 0;
}

/* ---------------------------------------------------------------- driver */

static const char diff_usage[] =
"Usage: rsprobe diff [OPTIONS] OLD.json NEW.json\n"
"\n"
"Compare two JSON reports: totals, then the functions and the sites whose\n"
"allocations, bytes or ownership outcomes changed beyond noise, largest\n"
"change first. Sites are matched by function and stack, not by id.\n"
"\n"
"  -o, --output FILE   .txt (text, the default on stdout), .html (page with\n"
"                      a differential flame graph) or .svg (the flame graph)\n"
"      --top N         rows per table (default 15)\n"
"      --noise PCT     changes under PCT%% of the larger figure, or of 1, are\n"
"                      noise (default 5)\n"
"  -h, --help          this help\n";

static void diff_usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "rsprobe diff: %s%s%s (see rsprobe diff --help)\n", msg, arg ? ": " : "",
		arg ? arg : "");
	exit(EXIT_USAGE);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

static void diff_free(struct diff *d)
{
	size_t i;
	int k;

	for (i = 0; i < d->sites.n; i++)
		free(d->sites.v[i].key);
	for (i = 0; i < d->funcs.n; i++)
		free(d->funcs.v[i].key);
	free(d->sites.v);
	free(d->funcs.v);
	u64map_free(&d->sites.idx);
	u64map_free(&d->funcs.idx);
	for (k = 0; k < 2; k++)
		json_object_put(d->r[k].root);
}

int diff_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "top", required_argument, NULL, 't' },
		{ "noise", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct diff d = { .noise = 0.05, .top = 15 };
	const char *out = NULL;
	FILE *f = stdout;
	char *end;
	int opt, err, fd = -1;
	double v;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			if (!ends_with(out, ".txt") && !ends_with(out, ".html") &&
			    !ends_with(out, ".svg"))
				diff_usage_error("-o: the file name must end in .txt, .html or .svg",
						 out);
			break;
		case 't':
			d.top = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || d.top < 0 || d.top > 100000)
				diff_usage_error("--top: expected a whole number", optarg);
			break;
		case 'n':
			v = strtod(optarg, &end);
			if (*end || end == optarg || !(v >= 0) || v > 100)
				diff_usage_error("--noise: expected a percentage from 0 to 100", optarg);
			d.noise = v / 100;
			break;
		case 'h':
			fputs(diff_usage, stdout);
			return 0;
		case ':':
			diff_usage_error("option needs a value", argv[optind - 1]);
			break;
		default:
			diff_usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		diff_usage_error("expected two JSON reports, OLD.json NEW.json", NULL);
	u64map_init(&d.sites.idx);
	u64map_init(&d.funcs.idx);
	/* The output first: a path that cannot be written fails before any work. */
	if (out) {
		fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || !(f = fdopen(fd, "w"))) {
			warn("diff: cannot write %s: %s", out, strerror(errno));
			if (fd >= 0)
				close(fd);
			diff_free(&d);
			return 1;
		}
	}
	err = load(&d, 0, argv[optind]);
	if (!err)
		err = load(&d, 1, argv[optind + 1]);
	if (!err && out && ftruncate(fileno(f), 0))
		err = -errno;
	if (!err) {
		if (out && ends_with(out, ".html"))
			err = diff_html(f, &d);
		else if (out && ends_with(out, ".svg"))
			dflame_svg(f, &d, true), err = ferror(f) ? -EIO : 0;
		else
			err = diff_text(f, &d);
		if (err)
			warn("diff: writing %s failed: %s", out ? out : "stdout", strerror(-err));
	}
	if (out && fclose(f) && !err) {
		warn("diff: writing %s failed: %s", out, strerror(errno));
		err = -EIO;
	}
	diff_free(&d);
	return err ? 1 : 0;
}
