/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_DISCOVERY_H
#define RP_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "elfobj.h"

/* What a process is. */
const char *proc_exe(pid_t pid, char *buf, size_t len);	/* NULL if unreadable */
void proc_comm(pid_t pid, char *buf, size_t len);		/* "" if unreadable */
/* 0, or a negative errno (said) for a zombie or a kernel thread. */
int proc_check_user(pid_t pid);

/* Executable objects, each opened once, by the path the target maps it as. */
struct object_ref {
	char *path;		/* path to attach and read through */
	struct elf_object *obj;
};

struct objects {
	struct object_ref *v;
	size_t n, cap;
};

bool objects__has(const struct objects *s, const char *path);
void objects__add(struct objects *s, const char *path, const char *open_path);
/* Every executable file mapping of the process not known yet. */
int objects__add_pid(struct objects *s, pid_t pid);
/*
 * Before the program runs: the executable, the dynamic loader and every
 * library the loader will map (LD_PRELOAD, the DT_NEEDED closure).
 */
void objects__add_exe(struct objects *s, const char *exe);
void objects__free(struct objects *s);

#endif
