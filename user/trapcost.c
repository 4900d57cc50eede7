// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The cost of the uprobe trap on this machine, measured on ourselves. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "trapcost.h"
#include "util.h"

#define WARMUP 200
#define BATCHES 30
#define BATCH 100
/* Without a uprobe PMU: lower than any trap measured, so budgets stay small. */
#define GUESS_ENTRY_NS 250
#define GUESS_RET_NS 150

/*
 * The probed function: a real call at a known address, starting the way
 * compiled functions (allocators included) do, with a push, which the
 * kernel steps out of line or emulates as it would theirs.
 */
__attribute__((naked, noinline, used)) void rp_trap_spot(void)
{
	__asm__ volatile("push %rbx\n\tpop %rbx\n\tret\n");
}

static void (*volatile spot)(void) = rp_trap_spot;

/*
 * The first hits of a new probe are slow (the page of text is copied, the
 * slots for stepping out of line are set up): warm up first. Then short
 * batches, the fastest of which is the one no preemption or interrupt
 * slowed down: ns per call.
 */
static double time_calls(void)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < WARMUP; i++)
		spot();
	for (int b = 0; b < BATCHES; b++) {
		uint64_t t0 = mono_ns();

		for (int i = 0; i < BATCH; i++)
			spot();
		best = MIN(best, mono_ns() - t0);
	}
	return (double)best / BATCH;
}

static int read_sysfs_int(const char *path, int *v)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%d", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

/* The bit of perf_event_attr.config that makes a uprobe a uretprobe ("config:0"). */
static int retprobe_bit(void)
{
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/format/retprobe", "re");
	int bit = -1;

	if (!f)
		return -1;
	if (fscanf(f, "config:%d", &bit) != 1)
		bit = -1;
	fclose(f);
	return bit >= 0 && bit < 64 ? bit : -1;
}

/* File offset of our function in the executable, from our own mappings. */
static int spot_offset(uint64_t *off)
{
	uint64_t addr = (uint64_t)(uintptr_t)rp_trap_spot;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, pgoff;
		char perm[5];

		if (sscanf(line, "%llx-%llx %4s %llx", &lo, &hi, perm, &pgoff) != 4)
			continue;
		if (addr >= lo && addr < hi && perm[2] == 'x') {
			*off = addr - lo + pgoff;
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static int open_probe(int type, uint64_t config, const char *path, uint64_t off)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = type;
	attr.config = config;
	attr.config1 = (uint64_t)(uintptr_t)path;	/* uprobe_path */
	attr.config2 = off;				/* probe_offset */
	attr.exclude_kernel = 1;
	return syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static void measure(struct trapcost *tc, int fds[2])
{
	int type, rbit = retprobe_bit();
	const char *path = "/proc/self/exe";
	double bare, entry, both;
	uint64_t off;

	tc->entry_ns = GUESS_ENTRY_NS;
	tc->ret_ns = GUESS_RET_NS;
	tc->measured = false;
	if (read_sysfs_int("/sys/bus/event_source/devices/uprobe/type", &type) || rbit < 0 ||
	    spot_offset(&off)) {
		debug("trap cost: no uprobe PMU, using %d + %d ns", GUESS_ENTRY_NS, GUESS_RET_NS);
		return;
	}
	bare = time_calls();
	fds[0] = open_probe(type, 0, path, off);
	if (fds[0] < 0) {
		debug("trap cost: uprobe: %s", strerror(errno));
		return;
	}
	entry = time_calls();
	fds[1] = open_probe(type, 1ULL << rbit, path, off);
	if (fds[1] < 0) {
		debug("trap cost: uretprobe: %s", strerror(errno));
		return;
	}
	both = time_calls();
	if (entry <= bare || both <= entry) {
		debug("trap cost: no difference measured, using %d + %d ns", GUESS_ENTRY_NS,
		      GUESS_RET_NS);
		return;
	}
	tc->entry_ns = entry - bare;
	tc->ret_ns = both - entry;
	tc->measured = true;
	debug("trap cost: %.0f ns a uprobe, %.0f ns more with a uretprobe", tc->entry_ns,
	      tc->ret_ns);
}

/*
 * Removing a uprobe waits for the kernel's grace periods (about 0.1 s):
 * the closes run after the result is published, on a thread of their own.
 */
static struct trapcost result;
static atomic_bool done;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *measure_thread(void *arg)
{
	int fds[2] = { -1, -1 };
	struct trapcost tc;

	measure(&tc, fds);
	result = tc;
	atomic_store(&done, true);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return NULL;
}

static void start_once(void)
{
	pthread_attr_t attr;
	pthread_t th;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, measure_thread, NULL))
		measure_thread(NULL);
	pthread_attr_destroy(&attr);
}

void trapcost__start(void)
{
	pthread_once(&once, start_once);
}

bool trapcost__get(struct trapcost *tc)
{
	if (!atomic_load(&done))
		return false;
	*tc = result;
	return true;
}

void trapcost__measure(struct trapcost *tc)
{
	trapcost__start();
	while (!trapcost__get(tc))
		usleep(1000);
}
