// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What the output formats need from the model, on synthetic events: the live
 * heap's global maximum and each site's share of it (DHAT's "at t-gmax"),
 * folded stacks, and the pprof encoding read back with protobuf-c. Stack
 * frames are addresses of this program's functions, symbolized for real.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "modelkit.h"
#include "pprof.pb-c.h"
#include "report.h"
#include "symbolize.h"
#include "tracker.h"

__attribute__((noinline)) void site_a(void)
{
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void site_b(void)
{
	__asm__ volatile("nop" ::: "memory");
}

__attribute__((noinline)) void outer_caller(void)
{
	__asm__ volatile("nop; nop" ::: "memory");
}

/* One event with up to three frames, innermost first. */
static void ev(uint32_t type, uint64_t ts, uint64_t ptr, uint64_t old_ptr, uint64_t size,
	       uint64_t f0, uint64_t f1, uint64_t f2)
{
	struct rp_event e = {
		.type = type, .tid = 1, .pid = 1, .ts = ts, .ptr = ptr, .old_ptr = old_ptr,
		.size = size, .nframes = f2 ? 3 : f1 ? 2 : f0 ? 1 : 0,
	};

	e.frames[0] = f0;
	e.frames[1] = f1;
	e.frames[2] = f2;
	kit_feed(&e);
}

#define A RA(site_a), RA(outer_caller), 0
#define B RA(site_b), RA(outer_caller), 0
#define ALLOC(ts, p, sz, fr) ev(RP_EV_ALLOC, ts, p, 0, sz, fr)
#define FREE(ts, p, sz) ev(RP_EV_FREE, ts, p, 0, sz, RA(outer_caller), 0, 0)
#define REALLOC(ts, old, p, sz) ev(RP_EV_REALLOC, ts, p, old, sz, 0, 0, 0)

static void check_at_peak(const struct site *s, uint64_t bytes, uint64_t blocks)
{
	uint64_t b, k;

	model__heap_at_peak(m, s, &b, &k);
	CHECK_U64(b, bytes);
	CHECK_U64(k, blocks);
}

static void test_global_peak(void)
{
	struct site *a, *b;

	setup();
	ALLOC(1, 0x1000, 100, A);
	ALLOC(2, 0x2000, 50, B);
	FREE(3, 0x1000, 100);		/* the heap shrinks: 150 was the maximum */
	ALLOC(4, 0x3000, 30, B);
	FREE(5, 0x2000, 50);
	CHECK_U64(m->nsites, 2);
	if (m->nsites != 2)
		goto out;
	a = m->sites[0];
	b = m->sites[1];
	CHECK_U64(m->heap.max_bytes, 150);
	CHECK_U64(m->heap.max_blocks, 2);
	check_at_peak(a, 100, 1);
	check_at_peak(b, 50, 1);
	CHECK_U64(a->heap.max_bytes, 100);
	CHECK_U64(b->heap.max_bytes, 80);	/* 50 and 30 live together */
	CHECK_U64(b->heap.max_blocks, 2);
	CHECK_U64(m->heap.cur_bytes, 30);
	/* A higher maximum, not yet followed by a shrink: it is now. */
	ALLOC(6, 0x4000, 500, A);
	CHECK_U64(m->heap.max_bytes, 530);
	check_at_peak(a, 500, 1);
	check_at_peak(b, 30, 1);
	/* Shrinking by realloc settles it; later changes do not move it. */
	REALLOC(7, 0x4000, 0x5000, 200);
	FREE(8, 0x3000, 30);
	check_at_peak(a, 500, 1);
	check_at_peak(b, 30, 1);
	CHECK_U64(m->heap.cur_bytes, 200);
	CHECK_U64(a->heap.cur_bytes, 200);
	CHECK_U64(b->heap.cur_blocks, 0);
	tracker__finish(&t, 10);
	CHECK_U64(a->live_bytes, a->heap.cur_bytes);
out:
	teardown();
}

static char *render(int (*fn)(FILE *, const struct model *, const struct report_opts *),
		    enum weight w, size_t *len)
{
	struct report_opts o = { .top = 10, .weight = w };
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	CHECK(fn(f, m, &o) == 0);
	fclose(f);
	return buf;
}

static void test_folded(void)
{
	char *out;
	size_t len;

	setup();
	ALLOC(1, 0x1000, 100, A);
	ALLOC(2, 0x2000, 40, A);
	ALLOC(3, 0x3000, 7, B);
	FREE(4, 0x2000, 40);
	tracker__finish(&t, 10);
	out = render(report_folded, WEIGHT_ALLOC_BYTES, &len);
	CHECK_STR(out, "outer_caller;site_a 140\nouter_caller;site_b 7\n");
	free(out);
	out = render(report_folded, WEIGHT_ALLOCS, &len);
	CHECK_STR(out, "outer_caller;site_a 2\nouter_caller;site_b 1\n");
	free(out);
	out = render(report_folded, WEIGHT_LIVE_BYTES, &len);
	CHECK_STR(out, "outer_caller;site_a 100\nouter_caller;site_b 7\n");
	free(out);
	out = render(report_folded, WEIGHT_LIFETIME, &len);
	/* a: freed at 4 after 2 ns, live since 1 (9 ns at 10); b: live 7 ns. */
	CHECK_STR(out, "outer_caller;site_a 11\nouter_caller;site_b 7\n");
	free(out);
	teardown();
}

static Pprof__Profile *unpack_gzip(const char *buf, size_t len)
{
	static uint8_t raw[1 << 20];
	z_stream z = { .next_in = (uint8_t *)buf, .avail_in = (uInt)len,
		       .next_out = raw, .avail_out = sizeof(raw) };

	if (inflateInit2(&z, 15 + 16))
		return NULL;
	CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
	inflateEnd(&z);
	return pprof__profile__unpack(NULL, z.total_out, raw);
}

static int64_t column(const Pprof__Profile *p, const char *type)
{
	size_t i, k;
	int64_t sum = 0;

	for (k = 0; k < p->n_sample_type; k++)
		if (!strcmp(p->string_table[p->sample_type[k]->type], type))
			break;
	if (k == p->n_sample_type)
		return -1;
	for (i = 0; i < p->n_sample; i++)
		sum += p->sample[i]->value[k];
	return sum;
}

static const char *fn_name(const Pprof__Profile *p, uint64_t id)
{
	return p->string_table[p->function[id - 1]->name];
}

static void test_pprof(void)
{
	Pprof__Profile *p;
	Pprof__Location *loc = NULL;
	char *out;
	size_t len, i;

	setup();
	ALLOC(1, 0x1000, 100, A);
	ALLOC(2, 0x2000, 40, B);
	/*
	 * One address twice in a row: how inlined frames arrive, one per
	 * function (an address of its own: locations are per address).
	 */
	ev(RP_EV_ALLOC, 3, 0x3000, 0, 8, RA(site_b), RA(outer_caller) + 1, RA(outer_caller) + 1);
	FREE(4, 0x2000, 40);
	tracker__finish(&t, 10);
	out = render(report_pprof, WEIGHT_ALLOC_BYTES, &len);
	p = unpack_gzip(out, len);
	CHECK(p != NULL);
	if (!p)
		goto out;
	CHECK_STR(p->string_table[0], "");
	CHECK_U64(column(p, "alloc_objects"), 3);
	CHECK_U64(column(p, "alloc_space"), 148);
	CHECK_U64(column(p, "inuse_objects"), 2);
	CHECK_U64(column(p, "inuse_space"), 108);
	CHECK_U64(column(p, "freed_objects"), 1);
	CHECK_U64(column(p, "freed_space"), 40);
	for (i = 0; i < p->n_location; i++)
		if (p->location[i]->address == RA(outer_caller) + 1)
			loc = p->location[i];
	CHECK(loc != NULL);
	if (loc) {
		CHECK_U64(loc->n_line, 2);
		CHECK_STR(fn_name(p, loc->line[0]->function_id), "outer_caller");
		CHECK(p->mapping[loc->mapping_id - 1]->has_inline_frames);
	}
	CHECK(p->n_mapping >= 1 && p->mapping[0]->build_id);
	pprof__profile__free_unpacked(p, NULL);
out:
	free(out);
	teardown();
}

/* Stacks cut short reach the warnings of every output, each with its reason. */
static void test_stack_warnings(void)
{
	char **w;
	int n, i;
	bool limit = false, unmapped = false, early = false;

	setup();
	m->stacks_info.method = "dwarf";
	m->stacks_info.taken = 100;
	m->stacks_info.complete = 80;
	m->stacks_info.truncated = 5;
	m->stacks_info.unmapped = 10;
	m->max_frames = 64;
	n = report_warnings(m, &w);
	for (i = 0; i < n; i++) {
		limit |= strstr(w[i], "5 of 100 stacks") && strstr(w[i], "frame limit of 64") &&
			 strstr(w[i], "--max-frames");
		unmapped |= strstr(w[i], "10 of 100 stacks") && strstr(w[i], "without an unwind table");
		early |= strstr(w[i], "5 of 100 stacks") && strstr(w[i], "no usable row");
	}
	CHECK(limit);
	CHECK(unmapped);
	CHECK(early);
	report_warnings_free(w, n);
	m->stacks_info.complete = 100;
	m->stacks_info.truncated = m->stacks_info.unmapped = 0;
	n = report_warnings(m, &w);
	for (i = 0; i < n; i++)
		CHECK(!strstr(w[i], "stacks ("));
	report_warnings_free(w, n);
	teardown();
}

/* A frame in a mapped file that is not ELF still gets a name: module+0xOFFSET of the frame. */
static void test_frame_in_non_elf_file(void)
{
	char path[] = "/tmp/rsprobe-nonelf-XXXXXX";
	const struct frame_info *f;
	int fd = mkstemp(path);
	char *p;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(ftruncate(fd, 8192) == 0);
	p = mmap(NULL, 8192, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED);
	if (p != MAP_FAILED) {
		sym = symbolizer__new(getpid());
		symbolizer__refresh_maps(sym);
		f = symbolizer__frame(sym, (uint64_t)(uintptr_t)p + 0x101);
		CHECK(f->function && f->module && !f->named);
		CHECK(f->function && strstr(f->function, "rsprobe-nonelf-") && strstr(f->function, "+0x101"));
		symbolizer__free(sym);
		munmap(p, 8192);
	}
	close(fd);
	unlink(path);
}

/*
 * The format table: the longest suffix wins, unknown names have none, and
 * text formats are written with the target's control bytes made visible
 * while the others escape them their own way.
 */
static void test_format_table(void)
{
	static const char comm[] = "x\033]0;pwned\007";
	const struct report_opts o = { .top = 5, .stacks = 1 };
	const struct report_format *txt = report_format_by_suffix(".txt");
	char *buf;
	size_t len;
	FILE *f;

	CHECK(report_format_of("run.dhat.json") == report_format_by_suffix(".dhat.json"));
	CHECK(report_format_of("run.dhat.json")->render == report_dhat);
	CHECK(report_format_of("run.json")->render == report_json);
	CHECK(report_format_of("/tmp/a.pb.gz")->render == report_pprof);
	CHECK(report_format_of(".json") == NULL);
	CHECK(report_format_of("run.foo") == NULL);
	CHECK(report_format_by_suffix(".foo") == NULL);
	CHECK(txt && txt->text && report_format_by_suffix(".folded")->text);
	CHECK(!report_format_by_suffix(".json")->text);

	setup();
	snprintf(m->target.comm, sizeof(m->target.comm), "%s", comm);
	ALLOC(100, 0x10, 8, A);
	tracker__finish(&t, 200);
	f = open_memstream(&buf, &len);
	CHECK(report_write(f, txt, m, &o) == 0);
	fclose(f);
	CHECK(!memchr(buf, '\033', len) && !memchr(buf, '\007', len));
	CHECK(strstr(buf, "x\\x1b]0;pwned\\x07") != NULL);
	free(buf);
	f = open_memstream(&buf, &len);
	CHECK(report_write(f, report_format_by_suffix(".json"), m, &o) == 0);
	fclose(f);
	CHECK(!memchr(buf, '\033', len));
	CHECK(strstr(buf, "x\\u001b]0;pwned\\u0007") != NULL);
	free(buf);
	teardown();
}

int main(void)
{
	RUN(test_global_peak);
	RUN(test_folded);
	RUN(test_pprof);
	RUN(test_stack_warnings);
	RUN(test_frame_in_non_elf_file);
	RUN(test_format_table);
	CHECK_DONE();
}
