/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A minimal unit-test harness: each TEST runs, each CHECK counts. */
#ifndef RP_CHECK_H
#define RP_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failed_in_test;
static int tests_passed, tests_failed;

#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__,    \
				__LINE__, #cond);                                   \
			check_failed_in_test = 1;                                   \
		}                                                                   \
	} while (0)

#define CHECK_U64(a, b)                                                             \
	do {                                                                        \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                    \
		if (_a != _b) {                                                     \
			fprintf(stderr, "  %s:%d: %s == %" PRIu64 ", expected %s == %" PRIu64 "\n", \
				__FILE__, __LINE__, #a, _a, #b, _b);                \
			check_failed_in_test = 1;                                   \
		}                                                                   \
	} while (0)

#define CHECK_STR(a, b)                                                             \
	do {                                                                        \
		const char *_a = (a), *_b = (b);                                    \
		if (!_a || !_b || strcmp(_a, _b)) {                                 \
			fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, #a, _a ? _a : "(null)",         \
				_b ? _b : "(null)");                                \
			check_failed_in_test = 1;                                   \
		}                                                                   \
	} while (0)

#define RUN(test)                                                                   \
	do {                                                                        \
		check_failed_in_test = 0;                                           \
		test();                                                             \
		if (check_failed_in_test) {                                         \
			tests_failed++;                                             \
			printf("FAIL %s\n", #test);                                 \
		} else {                                                            \
			tests_passed++;                                             \
			printf("ok   %s\n", #test);                                 \
		}                                                                   \
	} while (0)

#define CHECK_DONE()                                                                \
	do {                                                                        \
		printf("%d passed, %d failed\n", tests_passed, tests_failed);       \
		return tests_failed ? 1 : 0;                                        \
	} while (0)

#endif
