// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Launch mode (the CLI's "-- CMD"): the command found as execvp would find
 * it (through a rustup proxy to the program it runs), forked and held
 * before its exec until the probes are in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "util.h"

/* The command's path as execvp would find it. */
char *launch__resolve(const char *cmd)
{
	const char *path = getenv("PATH");
	char *dirs, *dir, *save = NULL;

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0 ? realpath(cmd, NULL) : NULL;
	dirs = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", *dir ? dir : ".", cmd);
		struct stat st;

		if (access(p, X_OK) == 0 && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			char *r = realpath(p, NULL);

			free(p);
			free(dirs);
			return r;
		}
		free(p);
	}
	free(dirs);
	return NULL;
}

static const char *base_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b ? b + 1 : p;
}

/*
 * rustup's proxies (~/.cargo/bin/rustc, cargo, ...) are links to rustup,
 * which picks a toolchain and execs its program: that program is what runs,
 * what gets diagnosed and what the header names. rustup says which one it
 * would run (`rustup which`, with the proxy's +toolchain argument). NULL when
 * exe is no such proxy.
 */
char *launch__resolve_proxy(const char *exe, char *const argv[])
{
	const char *name = base_name(argv[0]);
	char *av[6], out[PATH_MAX + 1], *nl, *real = NULL;
	int p[2], ac = 0, st, devnull;
	ssize_t n, got = 0;
	pid_t pid;

	if (strcmp(base_name(exe), "rustup") || !strcmp(name, "rustup"))
		return NULL;
	av[ac++] = "rustup";
	av[ac++] = "which";
	if (argv[1] && argv[1][0] == '+' && argv[1][1]) {
		av[ac++] = "--toolchain";
		av[ac++] = argv[1] + 1;
	}
	av[ac++] = (char *)name;
	av[ac] = NULL;
	if (pipe2(p, O_CLOEXEC))
		return NULL;
	pid = fork();
	if (pid == 0) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (dup2(p[1], 1) < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 2) < 0)
			_exit(127);
		setenv("RUSTUP_AUTO_INSTALL", "0", 1);	/* a question, not an install */
		execv(exe, av);
		_exit(127);
	}
	close(p[1]);
	while (pid > 0 && got < (ssize_t)sizeof(out) - 1 &&
	       ((n = read(p[0], out + got, sizeof(out) - 1 - got)) > 0 || (n < 0 && errno == EINTR)))
		got += n > 0 ? n : 0;
	close(p[0]);
	if (pid < 0)
		return NULL;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	out[got] = 0;
	nl = strchr(out, '\n');
	if (nl)
		*nl = 0;
	if (WIFEXITED(st) && !WEXITSTATUS(st) && out[0] == '/' && access(out, X_OK) == 0)
		real = realpath(out, NULL);
	debug("%s is a rustup proxy for %s", exe, real ? real : "(rustup which failed)");
	return real;
}

/* Fork the command, held before exec until the probes are in place. */
int launch__fork(struct child *c, char **argv)
{
	int go[2], err[2];
	pid_t pid, parent = getpid();

	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char go_byte;
		int e;

		close(go[1]);
		close(err[0]);
		/*
		 * If rsprobe dies while the program is held at a stop its probes
		 * asked for, the kernel continues it. The setting survives exec
		 * (not of set-user-ID or file-capability binaries) and fires when
		 * the forking thread exits: rsprobe's only thread.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGCONT) || getppid() != parent)
			_exit(127);
		if (read(go[0], &go_byte, 1) != 1)
			_exit(127);	/* rsprobe gave up: never run unprofiled */
		execvp(argv[0], argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	c->go_fd = go[1];
	c->err_fd = err[0];
	c->pid = pid;
	c->argv0 = argv[0];
	return 0;
}

int launch__release(struct child *c)
{
	int e = 0;
	ssize_t n;

	if (write(c->go_fd, "g", 1) != 1)
		return -errno;
	close(c->go_fd);
	c->go_fd = -1;
	/* EOF: exec succeeded and closed the pipe; data: exec's errno. */
	n = read(c->err_fd, &e, sizeof(e));
	close(c->err_fd);
	c->err_fd = -1;
	if (n == sizeof(e)) {
		warn("cannot run %s: %s", c->argv0, strerror(e));
		return -e;
	}
	return 0;
}

void launch__close(struct child *c)
{
	if (c->go_fd >= 0)
		close(c->go_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	c->go_fd = c->err_fd = -1;
}
