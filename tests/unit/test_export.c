// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Rotated interval profiles (the daemon's --export-dir): files named after
 * the target, complete when they appear, the oldest removed beyond keep, and
 * files of the same process from before taken into the rotation.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "export.h"

static char dir[] = "/tmp/rsprobe-test-export.XXXXXX";

static int count(const char *prefix, int *tmpfiles)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	*tmpfiles = 0;
	while (d && (de = readdir(d))) {
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			n++;
		else if (de->d_name[0] == '.' && de->d_name[1] && de->d_name[1] != '.')
			(*tmpfiles)++;
	}
	if (d)
		closedir(d);
	return n;
}

static void test_rotation(void)
{
	struct exporter *e = exporter__new(dir, 3, "my prog/x", 42);
	char *path = NULL, *first = NULL;
	int i, tmpfiles;

	for (i = 0; i < 5; i++) {
		CHECK(exporter__write(e, "abc", 3, &path) == 0);
		if (!first)
			first = path;
		else
			free(path);
		usleep(2000);
	}
	/* Names from the target: no slash, no space. */
	CHECK_U64(count("my_prog_x-42-", &tmpfiles), 3);
	CHECK_U64(tmpfiles, 0);
	CHECK(first && access(first, F_OK) != 0);	/* the oldest went */
	exporter__free(e);
	/* Again for the same process (it exec'd): its files are rotated too. */
	e = exporter__new(dir, 2, "my prog/x", 42);
	CHECK(exporter__write(e, "defg", 4, NULL) == 0);
	CHECK_U64(count("my_prog_x-42-", &tmpfiles), 2);
	/* Another process keeps its own. */
	exporter__free(e);
	e = exporter__new(dir, 1, "other", 7);
	CHECK(exporter__write(e, "x", 1, NULL) == 0);
	CHECK_U64(count("my_prog_x-42-", &tmpfiles), 2);
	CHECK_U64(count("other-7-", &tmpfiles), 1);
	exporter__free(e);
	free(first);
}

static void test_dir_check(void)
{
	CHECK(export_dir_check(dir) == 0);
	CHECK(export_dir_check("/nonexistent/dir") < 0);
	CHECK(export_dir_check("/etc/passwd") < 0);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	RUN(test_rotation);
	RUN(test_dir_check);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		return 1;
	CHECK_DONE();
}
