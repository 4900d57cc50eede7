// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>

#include "check.h"
#include "hashmap.h"

/* Random churn against a plain array as the reference. */
static void test_churn_matches_reference(void)
{
	enum { N = 4096 };
	static uint64_t ref[N];
	static uint8_t present[N];
	struct u64map m;
	uint64_t v, k;
	size_t live = 0, it = 0, seen = 0;
	int i;

	u64map_init(&m);
	srand(1);
	for (i = 0; i < 200000; i++) {
		/* Keys spread over a large range, colliding in the low bits. */
		uint64_t slot = (uint64_t)rand() % N, key = slot * 0x10000 + 8;

		if (rand() % 3) {
			if (!present[slot])
				live++;
			present[slot] = 1;
			ref[slot] = (uint64_t)i;
			u64map_put(&m, key, (uint64_t)i);
		} else {
			bool had = u64map_del(&m, key, &v);

			CHECK(had == present[slot]);
			if (had) {
				CHECK_U64(v, ref[slot]);
				live--;
			}
			present[slot] = 0;
		}
	}
	CHECK_U64(m.len, live);
	for (i = 0; i < N; i++) {
		bool has = u64map_get(&m, (uint64_t)i * 0x10000 + 8, &v);

		CHECK(has == present[i]);
		if (has)
			CHECK_U64(v, ref[i]);
	}
	while (u64map_next(&m, &it, &k, &v))
		seen++;
	CHECK_U64(seen, live);
	u64map_free(&m);
}

static void test_zero_key_and_slot(void)
{
	struct u64map m;
	bool fresh;
	uint64_t *s, v;

	u64map_init(&m);
	CHECK(!u64map_get(&m, 0, &v));
	s = u64map_slot(&m, 0, &fresh);
	CHECK(fresh);
	*s = 42;
	s = u64map_slot(&m, 0, &fresh);
	CHECK(!fresh);
	CHECK_U64(*s, 42);
	CHECK(u64map_del(&m, 0, &v));
	CHECK_U64(v, 42);
	CHECK(!u64map_del(&m, 0, NULL));
	u64map_free(&m);
}

int main(void)
{
	RUN(test_churn_matches_reference);
	RUN(test_zero_key_and_slot);
	CHECK_DONE();
}
