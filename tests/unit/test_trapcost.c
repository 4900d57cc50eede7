// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The trap cost measured on ourselves, and the budget the sampler derives from it. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "sampler.h"
#include "trapcost.h"

/*
 * A uprobe hit is an int3 exception, a handler and a single step out of
 * line: no machine does that in under 50 ns, and none we know of takes more
 * than 50 us. Root (CI) must get a measurement, not the guess.
 */
static void test_measure(void)
{
	struct trapcost tc;

	trapcost__measure(&tc);
	printf("  trap: %.0f ns entry, %.0f ns return (%s)\n", tc.entry_ns, tc.ret_ns,
	       tc.measured ? "measured" : "guessed");
	if (geteuid() == 0 || getenv("CI"))
		CHECK(tc.measured);
	CHECK(tc.entry_ns > 50 && tc.entry_ns < 50000);
	CHECK(tc.ret_ns > 50 && tc.ret_ns < 50000);
}

int main(void)
{
	RUN(test_measure);
	CHECK_DONE();
}
