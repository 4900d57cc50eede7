// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The adaptive sampler's second limit, for --unwind copy: what the consumer
 * unwinds. The target here is this process (its CPU time is read from /proc);
 * the counters of one period are given, as the session would give them.
 */
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sampler.h"

#define CALLS 10000ULL
#define SIZE 64ULL
#define WALL_NS 20000000ULL

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The sampler skips a period with less CPU than a trap per call. */
static void burn_cpu(uint64_t ns)
{
	uint64_t end = thread_cpu_ns() + ns;
	volatile uint64_t x = 0;

	while (thread_cpu_ns() < end)
		x++;
}

/*
 * One period of WALL_NS: CALLS calls, half of them allocations of SIZE
 * bytes, all recorded, at next to no cost in BPF (1 ns a step, so the
 * target's budget alone would record everything); `unwind_ns` per stack
 * unwound in userspace (0: not copy mode). The interval chosen, 0 for exact.
 */
static uint64_t one_period(uint64_t unwind_ns, uint64_t ring_copies)
{
	struct sampler sp;
	struct sampler_stats st = {};
	uint64_t interval = 0, now = 1000000000ULL;

	sampler__init(&sp, getpid(), 10);
	CHECK(!sampler__tick(&sp, now, &st, &interval));
	burn_cpu(2 * CALLS * SAMPLER_MIN_TRAP_NS);
	st.calls = CALLS;
	st.allocs = st.returns = CALLS / 2;
	st.bytes = st.allocs * SIZE;
	st.events = st.calls + st.allocs;
	st.record_ns = st.events;
	if (unwind_ns) {
		st.drained = st.events / 2;
		st.drain_ns = st.drained * unwind_ns;
		st.ring_copies = ring_copies;
	}
	if (!sampler__tick(&sp, now + WALL_NS, &st, &interval))
		interval = 0;
	sampler__free(&sp);
	return interval;
}

static void test_not_copy_mode(void)
{
	CHECK_U64(one_period(0, 0), 0);
}

/* 100 ns a stack: 1.5 ms of unwinding in a 20 ms period fits. */
static void test_consumer_keeps_up(void)
{
	CHECK_U64(one_period(100, 2000), 0);
}

/*
 * 20 us a stack: recording all 15,000 steps would take the consumer 300 ms
 * of a 20 ms period. Sampled, the consumer's share must fit: at interval N
 * a block of SIZE bytes is recorded with chance 1 - exp(-SIZE / N), and
 * every step is counted as a stack (the sampler's own conservative count).
 */
static void test_consumer_behind(void)
{
	uint64_t n = one_period(20000, 2000);
	double p;

	CHECK(n > 0);
	if (!n)
		return;
	p = -expm1(-(double)SIZE / (double)n);
	printf("  interval %llu bytes: %.0f%% of the steps recorded\n", (unsigned long long)n,
	       p * 100);
	CHECK(20000.0 * (CALLS + CALLS / 2) * p <= SAMPLER_DRAIN_SHARE * WALL_NS);
}

/* A burst the ring holds twice over is recorded whole, however slow. */
static void test_burst_the_ring_holds(void)
{
	CHECK_U64(one_period(20000, 4 * (CALLS + CALLS / 2)), 0);
}

int main(void)
{
	RUN(test_not_copy_mode);
	RUN(test_consumer_keeps_up);
	RUN(test_consumer_behind);
	RUN(test_burst_the_ring_holds);
	CHECK_DONE();
}
