/*
 * strpool.c - the analysis half's string pool and hash.
 *
 * Symbolization produces the same few hundred file and function names over
 * and over, and every frame points at them.  Keeping one copy of each in a
 * pool of large chunks makes the frames small, lets tracebacks compare
 * names cheaply, and frees everything at once when the last snapshot that
 * uses a symbol table goes away.  Strings never move once pooled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis-internal.h"

#define CHUNK_SIZE (64 * 1024)

struct mt_pool_chunk {
	struct mt_pool_chunk *prev;
	size_t size;
	_Alignas(16) unsigned char data[];
};

struct mt_pool_slot {
	const char *s;
	uint64_t hash;
};

uint64_t mt_hash_bytes(const void *data, size_t n, uint64_t seed)
{
	/* FNV-1a over 8-byte words, then a final mix: fast and good enough
	 * for hash tables keyed by addresses and names. */
	const unsigned char *p = data;
	uint64_t h = seed ^ 0xcbf29ce484222325ULL;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
		p += 8;
		n -= 8;
	}
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return mt_hash_mix(h);
}

void *mt_pool_alloc(struct mt_pool *p, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (!p->chunk || p->chunk->size - p->used < size) {
		size_t csize = size > CHUNK_SIZE / 4 ? size : CHUNK_SIZE;
		struct mt_pool_chunk *c = malloc(sizeof *c + csize);
		if (!c)
			return NULL;
		c->size = csize;
		if (p->chunk && csize != CHUNK_SIZE) {
			/* A big one-off: keep filling the current chunk. */
			c->prev = p->chunk->prev;
			p->chunk->prev = c;
			return c->data;
		}
		c->prev = p->chunk;
		p->chunk = c;
		p->used = 0;
	}
	void *r = p->chunk->data + p->used;
	p->used += size;
	return r;
}

const char *mt_pool_strndup(struct mt_pool *p, const char *s, size_t n)
{
	char *d = mt_pool_alloc(p, n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int grow_slots(struct mt_pool *p)
{
	size_t n = p->nslots ? p->nslots * 2 : 256;
	struct mt_pool_slot *slots = calloc(n, sizeof *slots);
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < p->nslots; i++) {
		if (!p->slots[i].s)
			continue;
		size_t j = p->slots[i].hash & (n - 1);
		while (slots[j].s)
			j = (j + 1) & (n - 1);
		slots[j] = p->slots[i];
	}
	free(p->slots);
	p->slots = slots;
	p->nslots = n;
	return 0;
}

const char *mt_pool_intern(struct mt_pool *p, const char *s)
{
	if ((p->nstrings + 1) * 2 > p->nslots && grow_slots(p) < 0)
		return NULL;
	size_t len = strlen(s);
	uint64_t h = mt_hash_bytes(s, len, 0);
	size_t j = h & (p->nslots - 1);
	while (p->slots[j].s) {
		if (p->slots[j].hash == h && strcmp(p->slots[j].s, s) == 0)
			return p->slots[j].s;
		j = (j + 1) & (p->nslots - 1);
	}
	const char *copy = mt_pool_strndup(p, s, len);
	if (!copy)
		return NULL;
	p->slots[j] = (struct mt_pool_slot){copy, h};
	p->nstrings++;
	return copy;
}

void mt_pool_free(struct mt_pool *p)
{
	struct mt_pool_chunk *c = p->chunk;
	while (c) {
		struct mt_pool_chunk *prev = c->prev;
		free(c);
		c = prev;
	}
	free(p->slots);
	*p = (struct mt_pool){0};
}
