/*
 * stacks.c - the stack table: every distinct stack stored once, named by id.
 *
 * A traced block costs a few words because it refers to its stack by a
 * 32-bit id; the frames live here once, and the trace file writes each
 * stack once (PMT_STACK) before the first snapshot that uses it.  Ids are
 * dense (1, 2, 3...) so the drain can index per-stack counters by id and
 * the writer can write "every stack up to n" in order.
 *
 * Lookups are lock-free, because most allocations come from stacks seen
 * before: a slot holds (hash << 32 | id) in one word, published after the
 * stack it names is stored, and a reader compares frames only on a hash
 * match.  Inserting takes a mutex (new stacks are rare and a hook may take
 * it: nothing inside it allocates or calls out).  The hash table doubles
 * into a new mapping and leaves the old one readable for a reader that
 * still probes it; the stacks themselves never move, so a pointer from
 * mt_stack_get stays valid for the life of the process.
 */
#include <string.h>

#include "tracer.h"

#define PAGE_BITS 12
#define PAGE_IDS  (1u << PAGE_BITS)
#define NPAGES    4096u /* 16M stacks */
#define CHUNK     (1u << 18)

struct table {
	size_t mask, used;
	uint64_t slots[];
};

static const struct mt_stack **dir[NPAGES];
static uint32_t nstacks;
static struct table *table;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *chunk;
static size_t chunk_left;

static uint32_t frames_hash(const uintptr_t *f, unsigned n, bool truncated)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 2u + truncated);

	for (unsigned i = 0; i < n; i++) {
		h ^= f[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	h *= 0xc4ceb9fe1a85ec53ull;
	return (uint32_t)(h >> 32) | 1u;
}

const struct mt_stack *mt_stack_get(uint32_t id)
{
	const struct mt_stack **page = MT_LOAD(&dir[id >> PAGE_BITS]);

	return page ? MT_LOAD(&page[id & (PAGE_IDS - 1)]) : NULL;
}

uint32_t mt_stack_count(void)
{
	return MT_LOAD(&nstacks);
}

static bool same(const struct mt_stack *s, const uintptr_t *f, unsigned n, bool truncated)
{
	return s && s->nframe == n && s->truncated == truncated &&
	       !memcmp(s->frames, f, n * sizeof(*f));
}

static uint32_t find(struct table *t, uint32_t h, const uintptr_t *f, unsigned n, bool truncated)
{
	size_t i = h & t->mask;

	for (;;) {
		uint64_t v = MT_LOAD(&t->slots[i]);

		if (!v)
			return 0;
		if ((uint32_t)(v >> 32) == h && same(mt_stack_get((uint32_t)v), f, n, truncated))
			return (uint32_t)v;
		i = (i + 1) & t->mask;
	}
}

static void put(struct table *t, uint64_t v)
{
	size_t i = (uint32_t)(v >> 32) & t->mask;

	while (t->slots[i])
		i = (i + 1) & t->mask;
	MT_STORE(&t->slots[i], v);
	t->used++;
}

/* Under the lock: a table with room for one more. */
static struct table *room(void)
{
	struct table *t = table, *n;
	size_t nslots, bytes;

	if (t && (t->used + 1) * 2 <= t->mask + 1)
		return t;
	nslots = t ? (t->mask + 1) * 2 : 4096;
	bytes = sizeof(*n) + nslots * sizeof(uint64_t);
	n = mt_map(bytes);
	if (!n)
		return NULL;
	n->mask = nslots - 1;
	if (t)
		for (size_t i = 0; i <= t->mask; i++)
			if (t->slots[i])
				put(n, t->slots[i]);
	MT_STORE(&table, n);
	return n;
}

/* Under the lock: stores a new stack and gives it the next id. */
static uint32_t store(uint32_t h, const uintptr_t *f, unsigned n, bool truncated)
{
	size_t need = (sizeof(struct mt_stack) + n * sizeof(*f) + 15) & ~(size_t)15;
	uint32_t id = nstacks + 1;
	const struct mt_stack **page;
	struct mt_stack *s;

	if (id >= NPAGES * PAGE_IDS)
		return 0;
	page = dir[id >> PAGE_BITS];
	if (!page) {
		page = mt_map(PAGE_IDS * sizeof(*page));
		if (!page)
			return 0;
		MT_STORE(&dir[id >> PAGE_BITS], page);
	}
	if (chunk_left < need) {
		chunk = mt_map(CHUNK);
		if (!chunk) {
			chunk_left = 0;
			return 0;
		}
		chunk_left = CHUNK;
	}
	s = (struct mt_stack *)chunk;
	chunk += need;
	chunk_left -= need;
	s->hash = h;
	s->nframe = (uint16_t)n;
	s->truncated = truncated;
	memcpy(s->frames, f, n * sizeof(*f));
	MT_STORE(&page[id & (PAGE_IDS - 1)], s);
	MT_STORE(&nstacks, id);
	return id;
}

uint32_t mt_stack_intern(const uintptr_t *frames, unsigned nframe, bool truncated)
{
	uint32_t h = frames_hash(frames, nframe, truncated);
	struct table *t = MT_LOAD(&table);
	uint32_t id;

	if (t && (id = find(t, h, frames, nframe, truncated)))
		return id;
	pthread_mutex_lock(&lock);
	t = room();
	id = 0;
	if (t) {
		id = find(t, h, frames, nframe, truncated);
		if (!id) {
			id = store(h, frames, nframe, truncated);
			if (id)
				put(t, (uint64_t)h << 32 | id);
		}
	}
	pthread_mutex_unlock(&lock);
	return id;
}

void mt_stacks_prepare(void)
{
	pthread_mutex_lock(&lock);
}

void mt_stacks_parent(void)
{
	pthread_mutex_unlock(&lock);
}

void mt_stacks_child(void)
{
	pthread_mutex_init(&lock, NULL);
}
