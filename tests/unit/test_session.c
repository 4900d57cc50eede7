// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A capture that processes join while it runs (session__add_target) and
 * leave: replicas of a counting program ($FIXDIR/replica), whose own
 * allocator says what they did between the go byte and the end of their
 * work. A is attached at the start; B joins, works and is killed (it leaves
 * at its exit); C joins after B left (taking the object-table slot B gave
 * back), works, and is removed (session__remove_target) before it exits.
 * The totals are exactly A's, B's and C's own counts, and every stack is
 * complete. Refused: a process that is gone, and one that maps no allocator
 * the capture probes. Needs BPF (root): skipped without.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "session.h"
#include "util.h"

struct replica {
	pid_t pid;
	int in, out;	/* its stdin (we write), its stdout (we read) */
	char line[256];
	size_t n;
	unsigned long long allocs, frees, reallocs, bytes, freed;
};

static char replica_path[4096];

static int spawn(struct replica *r, const char *path, char *const argv[])
{
	int in[2], out[2];

	memset(r, 0, sizeof(*r));
	if (pipe(in) || pipe(out))
		return -1;
	r->pid = fork();
	if (r->pid < 0)
		return -1;
	if (!r->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execv(path, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	r->in = in[1];
	r->out = out[0];
	return 0;
}

/* One line from the replica, if it has written a whole one (waits up to ms). */
static bool read_line(struct replica *r, int ms)
{
	struct pollfd p = { .fd = r->out, .events = POLLIN };
	ssize_t k;

	while (!memchr(r->line, '\n', r->n)) {
		if (poll(&p, 1, ms) <= 0)
			return false;
		k = read(r->out, r->line + r->n, sizeof(r->line) - 1 - r->n);
		if (k <= 0)
			return false;
		r->n += (size_t)k;
		r->line[r->n] = 0;
	}
	return true;
}

static void send_byte(struct replica *r, char c)
{
	if (write(r->in, &c, 1) != 1)
		fprintf(stderr, "  cannot write to the replica\n");
}

static bool start_replica(struct replica *r)
{
	char *argv[] = { replica_path, NULL };

	if (spawn(r, replica_path, argv) || !read_line(r, 30000) || strcmp(r->line, "ready\n"))
		return false;
	r->n = 0;
	r->line[0] = 0;
	return true;
}

/* Work: the go byte, then events read until the replica says what it did. */
static bool work(struct session *s, struct replica *r)
{
	int i;

	send_byte(r, 'g');
	for (i = 0; i < 600; i++) {
		if (read_line(r, 0))
			break;
		if (session__poll(s, 50) < 0)
			return false;
	}
	return sscanf(r->line, "allocs %llu frees %llu reallocs %llu bytes %llu freed %llu",
		      &r->allocs, &r->frees, &r->reallocs, &r->bytes, &r->freed) == 5;
}

static int finish(struct replica *r)
{
	int st = -1;

	send_byte(r, 'x');
	waitpid(r->pid, &st, 0);
	close(r->in);
	close(r->out);
	return st;
}

static void test_targets_join_and_leave(void)
{
	struct session_opts o = { .ring_bytes = 32ULL << 20, .all = true, .budget_pct = 10 };
	struct replica a, b, c;
	struct session *s;
	struct totals t;
	char *sleep_argv[] = { "sleep", "60", NULL };
	struct replica other;
	pid_t gone;
	int i;

	CHECK(start_replica(&a));
	o.pids = &a.pid;
	o.npids = 1;
	s = session__new(&o);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(session__start(s) == 0);

	/* Refused, and nothing changes: a process gone, one with nothing to probe. */
	gone = fork();
	if (!gone)
		_exit(0);
	waitpid(gone, NULL, 0);
	CHECK(session__add_target(s, gone) == -ESRCH);
	CHECK(spawn(&other, "/bin/sleep", sleep_argv) == 0);
	usleep(200000);	/* its libraries mapped */
	CHECK(session__add_target(s, other.pid) == -ENOENT);
	kill(other.pid, SIGKILL);
	waitpid(other.pid, NULL, 0);
	close(other.in);
	close(other.out);
	CHECK_U64(session__ntargets(s), 1);

	/*
	 * B joins the running capture, works, and is killed (its exit would
	 * free what it allocated before it joined): it leaves.
	 */
	CHECK(start_replica(&b));
	CHECK(session__add_target(s, b.pid) == 0);
	CHECK_U64(session__ntargets(s), 2);
	CHECK(work(s, &a));
	CHECK(work(s, &b));
	kill(b.pid, SIGKILL);
	CHECK(finish(&b) != 0);
	for (i = 0; i < 200 && session_target__state(session__target(s, 1)) == TARGET_RUNNING;
	     i++)
		session__poll(s, 50);
	CHECK(session_target__state(session__target(s, 1)) == TARGET_EXITED);

	/*
	 * C joins after B left, works, and is removed: its exit then (which
	 * frees what it allocated before it joined) is not recorded.
	 */
	CHECK(start_replica(&c));
	CHECK(session__add_target(s, c.pid) == 0);
	CHECK(work(s, &c));
	CHECK(session__remove_target(s, c.pid) == 0);
	CHECK(session_target__state(session__target(s, 2)) == TARGET_REMOVED);
	CHECK(session__remove_target(s, c.pid) == -ENOENT);
	CHECK(finish(&c) == 0);
	for (i = 0; i < 10; i++)
		session__poll(s, 20);
	CHECK(session__stop(s) == 0);
	CHECK(finish(&a) == 0);

	CHECK(a.allocs > 0 && b.allocs > 0 && c.allocs > 0);
	session__totals(s, &t);
	CHECK_U64(t.allocs, a.allocs + b.allocs + c.allocs);
	CHECK_U64(t.frees, a.frees + b.frees + c.frees);
	CHECK_U64(t.reallocs, a.reallocs + b.reallocs + c.reallocs);
	CHECK_U64(t.bytes_allocated, a.bytes + b.bytes + c.bytes);
	CHECK_U64(t.bytes_freed, a.freed + b.freed + c.freed);
	CHECK_U64(t.unknown_frees, 0);
	CHECK_U64(t.lost_events, 0);
	/* Every stack walked to its root with the tables (B's and then C's too). */
	CHECK(session__model(s)->stacks_info.taken > 0);
	CHECK_U64(session__model(s)->stacks_info.complete, session__model(s)->stacks_info.taken);
	CHECK_U64(session__ntargets(s), 3);
	CHECK_U64(session_target__pid(session__target(s, 1)), b.pid);
	CHECK_U64(session_target__pid(session__target(s, 2)), c.pid);
	session__free(s);
}

int main(void)
{
	const char *fix = getenv("FIXDIR");

	if (geteuid() != 0) {
		printf("skip test_targets_join_and_leave: needs root (BPF)\n");
		CHECK_DONE();
	}
	snprintf(replica_path, sizeof(replica_path), "%s/replica", fix ? fix : ".output/fixtures");
	if (access(replica_path, X_OK)) {
		fprintf(stderr, "no replica fixture at %s\n", replica_path);
		return 1;
	}
	RUN(test_targets_join_and_leave);
	CHECK_DONE();
}
