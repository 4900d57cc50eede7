/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_HASHMAP_H
#define RP_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Open-addressing map from u64 keys to u64 values, linear probing with
 * backward-shift deletion (no tombstones, so a live table with constant churn
 * does not degrade).
 */
struct u64map {
	uint64_t *keys;
	uint64_t *vals;
	uint8_t *used;
	size_t cap;	/* power of two */
	size_t len;
};

void u64map_init(struct u64map *m);
void u64map_free(struct u64map *m);
bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *val);
/* Returns a pointer to the value slot, inserting 0 when absent (*fresh set). */
uint64_t *u64map_slot(struct u64map *m, uint64_t key, bool *fresh);
void u64map_put(struct u64map *m, uint64_t key, uint64_t val);
bool u64map_del(struct u64map *m, uint64_t key, uint64_t *val);

/* Iterate: for (size_t i = 0; u64map_next(m, &i, &k, &v);) */
bool u64map_next(const struct u64map *m, size_t *it, uint64_t *key, uint64_t *val);

#endif
