// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "util.h"

void u64map_init(struct u64map *m)
{
	memset(m, 0, sizeof(*m));
}

void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	free(m->used);
	memset(m, 0, sizeof(*m));
}

static size_t find(const struct u64map *m, uint64_t key, bool *found)
{
	size_t mask = m->cap - 1;
	size_t i = hash_u64(key) & mask;

	while (m->used[i]) {
		if (m->keys[i] == key) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*found = false;
	return i;
}

static void rehash(struct u64map *m, size_t ncap)
{
	struct u64map old = *m;
	size_t i;

	m->cap = ncap;
	m->len = 0;
	m->keys = xmalloc(ncap * sizeof(*m->keys));
	m->vals = xmalloc(ncap * sizeof(*m->vals));
	m->used = xcalloc(ncap, 1);
	for (i = 0; i < old.cap; i++) {
		bool f;
		size_t j;

		if (!old.used[i])
			continue;
		j = find(m, old.keys[i], &f);
		m->used[j] = 1;
		m->keys[j] = old.keys[i];
		m->vals[j] = old.vals[i];
		m->len++;
	}
	free(old.keys);
	free(old.vals);
	free(old.used);
}

bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *val)
{
	bool f;
	size_t i;

	if (!m->len)
		return false;
	i = find(m, key, &f);
	if (f && val)
		*val = m->vals[i];
	return f;
}

uint64_t *u64map_slot(struct u64map *m, uint64_t key, bool *fresh)
{
	bool f;
	size_t i;

	if ((m->len + 1) * 4 > m->cap * 3)
		rehash(m, m->cap ? m->cap * 2 : 64);
	i = find(m, key, &f);
	if (!f) {
		m->used[i] = 1;
		m->keys[i] = key;
		m->vals[i] = 0;
		m->len++;
	}
	if (fresh)
		*fresh = !f;
	return &m->vals[i];
}

void u64map_put(struct u64map *m, uint64_t key, uint64_t val)
{
	*u64map_slot(m, key, NULL) = val;
}

bool u64map_del(struct u64map *m, uint64_t key, uint64_t *val)
{
	size_t mask = m->cap - 1, i, j;
	bool f;

	if (!m->len)
		return false;
	i = find(m, key, &f);
	if (!f)
		return false;
	if (val)
		*val = m->vals[i];
	/* Backward shift: pull later entries of the probe run into the hole. */
	j = i;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->used[j])
			break;
		home = hash_u64(m->keys[j]) & mask;
		/* Entry at j may move to i only if its home is not in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->used[i] = 0;
	m->len--;
	return true;
}

bool u64map_next(const struct u64map *m, size_t *it, uint64_t *key, uint64_t *val)
{
	while (*it < m->cap) {
		size_t i = (*it)++;

		if (m->used[i]) {
			if (key)
				*key = m->keys[i];
			if (val)
				*val = m->vals[i];
			return true;
		}
	}
	return false;
}
