// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The Prometheus exposition on synthetic events whose counts and lifetimes
 * are known: per-function rows, the "[other]" and "[all]" rows, cumulative
 * histogram buckets, label escaping, and one family per metric.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "modelkit.h"
#include "metrics.h"
#include "symbolize.h"
#include "tracker.h"

__attribute__((noinline)) void metrics_site_a(void)
{
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void metrics_site_b(void)
{
	__asm__ volatile("nop" ::: "memory");
}

__attribute__((noinline)) void metrics_site_c(void)
{
	__asm__ volatile("nop; nop; nop" ::: "memory");
}

__attribute__((noinline)) void metrics_caller(void)
{
	__asm__ volatile("nop; nop" ::: "memory");
}

/* The model of a target with a name that needs escaping. */
static void setup_target(void)
{
	setup();
	m->target.pid = 4242;
	snprintf(m->target.comm, sizeof(m->target.comm), "we\"ird\\name");
}

static void ev(uint32_t type, uint64_t ts, uint64_t ptr, uint64_t size, uint64_t f0, uint64_t f1)
{
	struct rp_event e = {
		.type = type, .tid = 1, .pid = 1, .ts = ts, .ptr = ptr, .size = size,
		.nframes = f1 ? 2 : 1,
	};

	e.frames[0] = f0;
	e.frames[1] = f1;
	kit_feed(&e);
}

#define US 1000ULL
#define MS 1000000ULL
#define ALLOC(ts, p, sz, fn) ev(RP_EV_ALLOC, ts, p, sz, RA(fn), RA(metrics_caller))
#define FREE(ts, p, sz) ev(RP_EV_FREE, ts, p, sz, RA(metrics_caller), 0)

static char *render(const struct metrics_snap *s, size_t n)
{
	struct metrics_daemon d = { .targets = n, .push_failed = 3 };
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	CHECK(metrics_render(f, s, n, &d) == 0);
	fclose(f);
	return buf;
}

/* The line that starts with prefix (a whole series name and labels), or NULL. */
static const char *line_of(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);

	while (p && *p) {
		if (!strncmp(p, prefix, n) && p[n] == ' ')
			return p + n + 1;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return NULL;
}

static void check_value(const char *text, const char *series, const char *want)
{
	const char *v = line_of(text, series);
	char got[64] = "";

	if (v)
		snprintf(got, sizeof(got), "%.*s", (int)strcspn(v, "\n"), v);
	if (!v || strcmp(got, want)) {
		fprintf(stderr, "  %s: got '%s', expected '%s'\n", series, v ? got : "(none)",
			want);
		check_failed_in_test = 1;
	}
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

#define L "comm=\"we\\\"ird\\\\name\",pid=\"4242\""
#define FN(f) L ",function=\"" f "\""

/*
 * a: 3 allocations of 100 bytes living 2 us each and one of 100 living
 * 20 ms; b: 2 of 50 bytes living 300 ms, 1 still live; c: 1 of 10 bytes
 * living 7 s. Top 1: a (400 bytes) has its own row, b and c are "[other]".
 */
static void feed(void)
{
	ALLOC(1 * MS, 0x1000, 100, metrics_site_a);
	FREE(1 * MS + 2 * US, 0x1000, 100);
	ALLOC(2 * MS, 0x1000, 100, metrics_site_a);
	FREE(2 * MS + 2 * US, 0x1000, 100);
	ALLOC(3 * MS, 0x1000, 100, metrics_site_a);
	FREE(3 * MS + 2 * US, 0x1000, 100);
	ALLOC(4 * MS, 0x2000, 100, metrics_site_a);
	FREE(24 * MS, 0x2000, 100);
	ALLOC(30 * MS, 0x3000, 50, metrics_site_b);
	ALLOC(31 * MS, 0x4000, 50, metrics_site_b);
	FREE(330 * MS, 0x3000, 50);
	ALLOC(400 * MS, 0x5000, 10, metrics_site_c);
	FREE(7400 * MS, 0x5000, 10);
}

static void test_rows(void)
{
	struct metrics_extra x = { .lost_events = 5, .dropped_by_cap = 7, .sampled_fraction = 0.5,
				   .duty_cycle = 1 };
	struct metrics_snap s, c;
	char *out;

	setup_target();
	feed();
	CHECK(metrics_snapshot(&s, m, NULL, &x, 1) == 0);
	CHECK_U64(s.nrows, 3);
	if (s.nrows != 3)
		goto out;
	CHECK_STR(s.rows[0].function, "metrics_site_a");
	CHECK_STR(s.rows[1].function, "[other]");
	CHECK_STR(s.rows[2].function, "[all]");
	/* Render a copy: the page never reads a snapshot that is being replaced. */
	metrics_snap_copy(&c, &s);
	metrics_snap_free(&s);
	out = render(&c, 1);
	check_value(out, "rsprobe_allocations_total{" FN("metrics_site_a") "}", "4");
	check_value(out, "rsprobe_allocations_total{" FN("[other]") "}", "3");
	check_value(out, "rsprobe_allocations_total{" FN("[all]") "}", "7");
	check_value(out, "rsprobe_allocated_bytes_total{" FN("metrics_site_a") "}", "400");
	check_value(out, "rsprobe_allocated_bytes_total{" FN("[other]") "}", "110");
	check_value(out, "rsprobe_allocated_bytes_total{" FN("[all]") "}", "510");
	check_value(out, "rsprobe_frees_total{" FN("metrics_site_a") "}", "4");
	check_value(out, "rsprobe_frees_total{" FN("[other]") "}", "2");
	check_value(out, "rsprobe_frees_total{" FN("[all]") "}", "6");
	/* a: three at 2 us, one at 20 ms. */
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("metrics_site_a")
		    ",le=\"1e-06\"}", "0");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("metrics_site_a")
		    ",le=\"2.5e-06\"}", "3");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("metrics_site_a")
		    ",le=\"0.01\"}", "3");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("metrics_site_a")
		    ",le=\"0.025\"}", "4");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("metrics_site_a")
		    ",le=\"+Inf\"}", "4");
	check_value(out, "rsprobe_allocation_lifetime_seconds_count{" FN("metrics_site_a") "}", "4");
	check_value(out, "rsprobe_allocation_lifetime_seconds_sum{" FN("metrics_site_a") "}",
		    "0.020006000");
	/* [other]: b at 300 ms, c at 7 s. */
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("[other]")
		    ",le=\"0.25\"}", "0");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("[other]")
		    ",le=\"0.5\"}", "1");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("[other]")
		    ",le=\"5\"}", "1");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("[other]")
		    ",le=\"10\"}", "2");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("[all]")
		    ",le=\"0.5\"}", "5");
	check_value(out, "rsprobe_allocation_lifetime_seconds_bucket{" FN("[all]")
		    ",le=\"600\"}", "6");
	check_value(out, "rsprobe_allocation_lifetime_seconds_count{" FN("[all]") "}", "6");
	/* Every free was made by metrics_caller, which called the allocating function. */
	check_value(out, "rsprobe_ownership_total{" FN("[all]") ",outcome=\"caller\"}", "6");
	check_value(out, "rsprobe_ownership_total{" FN("[all]") ",outcome=\"same\"}", "0");
	check_value(out, "rsprobe_ownership_total{" FN("metrics_site_a") ",outcome=\"caller\"}",
		    "4");
	check_value(out, "rsprobe_live_allocations{" L "}", "1");
	check_value(out, "rsprobe_live_bytes{" L "}", "50");
	check_value(out, "rsprobe_lost_events_total{" L "}", "5");
	check_value(out, "rsprobe_dropped_by_cap_total{" L "}", "7");
	check_value(out, "rsprobe_sampled_fraction{" L "}", "0.5");
	check_value(out, "rsprobe_probe_duty_cycle{" L "}", "1");
	check_value(out, "rsprobe_targets", "1");
	check_value(out, "rsprobe_push_failed_total", "3");
	/* One HELP and TYPE per family, whatever the number of series. */
	CHECK(count_of(out, "# TYPE rsprobe_allocations_total counter\n") == 1);
	CHECK(count_of(out, "# TYPE rsprobe_allocation_lifetime_seconds histogram\n") == 1);
	CHECK(count_of(out, "rsprobe_allocation_lifetime_seconds_bucket{") == 3 * (METRICS_NLE + 1));
	free(out);
	metrics_snap_free(&c);
out:
	teardown();
}

/* The exact totals the driver passes win over the model's (sampled) ones in "[all]". */
static void test_exact_totals_and_two_targets(void)
{
	struct totals exact = { .allocs = 1000, .frees = 990, .bytes_allocated = 64000,
				.bytes_freed = 60000 };
	struct metrics_snap s[2];
	char *out;

	setup_target();
	feed();
	CHECK(metrics_snapshot(&s[0], m, &exact, NULL, 50) == 0);
	CHECK_U64(s[0].nrows, 4);	/* a, b, c, [all]: no [other] when all fit */
	m->target.pid = 7;
	snprintf(m->target.comm, sizeof(m->target.comm), "second");
	CHECK(metrics_snapshot(&s[1], m, NULL, NULL, 0) == 0);
	CHECK_U64(s[1].nrows, 2);	/* [other], [all] */
	out = render(s, 2);
	check_value(out, "rsprobe_allocations_total{" FN("[all]") "}", "1000");
	check_value(out, "rsprobe_frees_total{" FN("[all]") "}", "990");
	check_value(out, "rsprobe_live_allocations{" L "}", "10");
	check_value(out, "rsprobe_live_bytes{" L "}", "4000");
	check_value(out, "rsprobe_allocations_total{comm=\"second\",pid=\"7\",function=\"[other]\"}",
		    "7");
	check_value(out, "rsprobe_allocations_total{comm=\"second\",pid=\"7\",function=\"[all]\"}",
		    "7");
	check_value(out, "rsprobe_targets", "2");
	CHECK(count_of(out, "# TYPE rsprobe_live_bytes gauge\n") == 1);
	/* Families stay together: the second target's series follow the first's. */
	CHECK(strstr(out, "rsprobe_allocations_total{comm=\"second\"") <
	      strstr(out, "# TYPE rsprobe_allocated_bytes_total"));
	free(out);
	metrics_snap_free(&s[0]);
	metrics_snap_free(&s[1]);
	teardown();
}

/* Two captures of one process (duty cycling) add up by function; the top N still holds. */
static void test_merge(void)
{
	struct metrics_extra x1 = { .lost_events = 2, .censored = 4 }, x2 = { .lost_events = 3 };
	struct metrics_snap a, b;
	size_t i;

	setup_target();
	feed();
	CHECK(metrics_snapshot(&a, m, NULL, &x1, 1) == 0);	/* site_a, [other], [all] */
	CHECK(metrics_snapshot(&b, m, NULL, &x2, 3) == 0);	/* a, b, c, [all] */
	metrics_snap_merge(&a, &b, 1);
	CHECK_U64(a.nrows, 3);
	if (a.nrows == 3) {
		CHECK_STR(a.rows[0].function, "metrics_site_a");
		CHECK_U64(a.rows[0].allocs, 8);
		CHECK_STR(a.rows[1].function, "[other]");
		CHECK_U64(a.rows[1].allocs, 6);		/* b and c, twice */
		CHECK_U64(a.rows[1].bytes, 220);
		CHECK_STR(a.rows[2].function, "[all]");
		CHECK_U64(a.rows[2].allocs, 14);
		/* Each snapshot's [all] count holds its own censored: 6 + 4, and 6. */
		CHECK_U64(a.rows[2].count, 16);
		for (i = 0; i < METRICS_NLE; i++)
			CHECK(a.rows[2].le[i] <= a.rows[2].count);
	}
	CHECK_U64(a.x.lost_events, 5);
	CHECK_U64(a.x.censored, 4);
	metrics_snap_free(&a);
	metrics_snap_free(&b);
	teardown();
}

static void test_cumulative(void)
{
	struct hist h = {};
	uint64_t bounds[4] = { 10, 1000, 1000000, 2000000000 }, out[4];
	int i;

	for (i = 0; i < 5; i++)
		hist_add(&h, 7);		/* exact below 16 */
	hist_add_n(&h, 500, 3);
	hist_add_n(&h, 1500000000, 2);
	hist_cumulative(&h, bounds, 4, out);
	CHECK_U64(out[0], 5);
	CHECK_U64(out[1], 8);
	CHECK_U64(out[2], 8);
	CHECK_U64(out[3], 10);
	hist_free(&h);
	hist_cumulative(&h, bounds, 4, out);
	CHECK_U64(out[3], 0);
}

int main(void)
{
	RUN(test_cumulative);
	RUN(test_rows);
	RUN(test_exact_totals_and_two_targets);
	RUN(test_merge);
	CHECK_DONE();
}
