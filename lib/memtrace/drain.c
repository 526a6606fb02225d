/*
 * drain.c - puts every thread's events in one order and keeps the books.
 *
 * The hooks only append to per-thread rings (ring.c); this file, under one
 * mutex, merges the rings by timestamp and applies each event to:
 *
 *   - the live-block table: (ptr, domain) -> size and counter, open
 *     addressing with linear probing and backward-shift deletion, 16 bytes
 *     a slot, at most 3/4 full (so 21-43 bytes per live block);
 *   - one counter per (stack, domain): blocks and bytes now, and their
 *     values at the last peak;
 *   - current and peak bytes, exact in that order, and the totals.
 *
 * The order.  The drain first reads the clock, then each ring's head, and
 * applies only events stamped before that reading, merged by timestamp.  A
 * hook publishes its event before it returns (an allocation) or before the
 * real free runs (a free), so when one event caused another - a block
 * handed to another thread and freed there, an address freed and reused -
 * the first was published before the second was stamped: both are in the
 * batch, in the right order, or the second waits for the next drain.
 * rdtsc is not serialising, so out-of-order execution may stamp two such
 * events a few dozen cycles the wrong way round; the drain repairs that when
 * it sees it (an allocation of a live address, a free of an unknown one) by
 * looking for the matching event a little ahead in the other rings.
 *
 * The heap at the peak.  Copying every counter at each new peak would cost
 * a pass per allocation while the heap grows.  Instead the peak has a
 * version, bumped each time the peak rises, and a counter about to change
 * first saves its value if it has not changed since the current peak
 * version: a counter saved at this version holds its value at the peak,
 * any other counter has not moved since, so its current value is the one.
 *
 * Churn.  A block allocated and freed by the same thread's very next event
 * (the common case by far) cannot change the heap at the peak unless it
 * raises the peak; such pairs only bump the totals.
 */
#include <string.h>

#include "tracer.h"

pthread_mutex_t mt_drain_lock = PTHREAD_MUTEX_INITIALIZER;

#define SIZE_BITS  40
#define SIZE_BIG   ((1ull << SIZE_BITS) - 1)
#define CTR_BITS   23
#define CTR_MAX    ((1u << CTR_BITS) - 1)
#define META_EXACT (1ull << 63)
/* How far ahead (in clock ticks) the drain looks for an event that
 * out-of-order execution stamped a little late. */
#define REPAIR_WINDOW (1ull << 18)
#define REPAIR_SCAN   512

struct counter {
	uint32_t stack, domain;
	uint64_t count, size;       /* now */
	uint64_t pk_count, pk_size; /* at the peak, when ver == peak_ver */
	uint64_t ver;
};

struct lent {
	uintptr_t ptr;
	uint64_t meta; /* size (40 bits) | counter (23 bits) << 40 | exact */
};

struct live {
	struct lent *e;
	size_t mask, n;
	unsigned shift;
};

struct big {
	uintptr_t ptr;
	uint32_t domain;
	uint64_t size;
};

static struct {
	struct counter *ctr;
	size_t nctr, ctr_cap;
	uint32_t *by_stack; /* domain 0: stack id -> counter + 1 */
	size_t by_stack_cap;
	uint64_t *dkeys; /* other domains: (stack << 32 | domain) -> counter + 1 */
	uint32_t *dvals;
	size_t dmask, dused;
	struct live live0, liveN;
	struct big *big;
	size_t nbig, big_cap;
	struct mt_ring **act;
	size_t act_cap;
	uint64_t current, peak, peak_ts, peak_ver, max_since;
	uint64_t allocs, frees, bytes, untraced, live_blocks;
	uint64_t now; /* the clock when this drain began: when solo events happened */
} D = {.peak_ver = 1};

/* An event's place in the merge order (ring.c: "The clock"). */
static inline uint64_t key(uint64_t ts)
{
	return ts & ~MT_TS_SOLO;
}

/* ---- counters ---- */

static uint32_t counter_new(uint32_t stack, uint32_t domain)
{
	struct counter *k;

	if (D.nctr == 0)
		D.nctr = 1; /* counter 0 takes what no other can: stack 0 */
	if (D.nctr > CTR_MAX)
		return 0;
	if (D.nctr >= D.ctr_cap) {
		size_t cap = D.ctr_cap ? D.ctr_cap * 2 : 1024;
		void *p = mt_remap(D.ctr, D.ctr_cap * sizeof(*k), cap * sizeof(*k));

		if (!p)
			return 0;
		D.ctr = p;
		D.ctr_cap = cap;
	}
	k = &D.ctr[D.nctr];
	memset(k, 0, sizeof(*k));
	k->stack = stack;
	k->domain = domain;
	return (uint32_t)D.nctr++;
}

static inline size_t dhash(uint64_t k)
{
	return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 32);
}

static uint32_t counter_other(uint32_t stack, uint32_t domain)
{
	uint64_t key = (uint64_t)stack << 32 | domain;
	size_t i;

	if (!D.dkeys || (D.dused + 1) * 2 > D.dmask + 1) {
		size_t n = D.dkeys ? (D.dmask + 1) * 2 : 1024;
		uint64_t *keys = mt_map(n * sizeof(*keys));
		uint32_t *vals = mt_map(n * sizeof(*vals));

		if (!keys || !vals) {
			mt_unmap(keys, n * sizeof(*keys));
			mt_unmap(vals, n * sizeof(*vals));
			return 0;
		}
		for (size_t j = 0; D.dkeys && j <= D.dmask; j++) {
			if (!D.dvals[j])
				continue;
			for (i = dhash(D.dkeys[j]) & (n - 1); vals[i]; i = (i + 1) & (n - 1))
				;
			keys[i] = D.dkeys[j];
			vals[i] = D.dvals[j];
		}
		mt_unmap(D.dkeys, (D.dmask + 1) * sizeof(*keys));
		mt_unmap(D.dvals, (D.dmask + 1) * sizeof(*vals));
		D.dkeys = keys;
		D.dvals = vals;
		D.dmask = n - 1;
	}
	for (i = dhash(key) & D.dmask; D.dvals[i]; i = (i + 1) & D.dmask)
		if (D.dkeys[i] == key)
			return D.dvals[i] - 1;
	uint32_t c = counter_new(stack, domain);
	if (c) {
		D.dkeys[i] = key;
		D.dvals[i] = c + 1;
		D.dused++;
	}
	return c;
}

static inline uint32_t counter_of(uint32_t stack, uint32_t domain)
{
	uint32_t c;

	if (domain)
		return counter_other(stack, domain);
	if (stack < D.by_stack_cap && (c = D.by_stack[stack]))
		return c - 1;
	if (!stack)
		return 0;
	if (stack >= D.by_stack_cap) {
		size_t cap = D.by_stack_cap ? D.by_stack_cap : 4096;
		void *p;

		while (cap <= stack)
			cap *= 2;
		p = mt_remap(D.by_stack, D.by_stack_cap * sizeof(uint32_t), cap * sizeof(uint32_t));
		if (!p)
			return 0;
		D.by_stack = p;
		D.by_stack_cap = cap;
	}
	c = counter_new(stack, 0);
	if (c)
		D.by_stack[stack] = c + 1;
	return c;
}

static inline void save_peak(struct counter *k)
{
	if (k->ver != D.peak_ver) {
		k->pk_count = k->count;
		k->pk_size = k->size;
		k->ver = D.peak_ver;
	}
}

static inline void add(uint32_t c, uint64_t ws, uint64_t wc, uint64_t ts)
{
	struct counter *k = &D.ctr[c];

	save_peak(k);
	k->count += wc;
	k->size += ws;
	D.current += ws;
	D.live_blocks += wc;
	if (D.current > D.max_since)
		D.max_since = D.current;
	if (D.current > D.peak) {
		D.peak = D.current;
		D.peak_ver++;
		D.peak_ts = ts & MT_TS_SOLO ? D.now : ts;
	}
}

static inline void sub(uint32_t c, uint64_t ws, uint64_t wc)
{
	struct counter *k = &D.ctr[c];

	save_peak(k);
	k->count -= wc;
	k->size -= ws;
	D.current -= ws;
	D.live_blocks -= wc;
}

static inline void weigh(uint64_t size, bool exact, uint64_t *ws, uint64_t *wc)
{
	if (!mt_hot.sampled) {
		*ws = size;
		*wc = 1;
	} else if (exact) {
		*ws = size;
		*wc = MT_COUNT_ONE;
	} else {
		mt_sample_weight(size, ws, wc);
	}
}

/* ---- the live-block table ---- */

static inline size_t home(const struct live *L, uintptr_t ptr, uint32_t domain)
{
	return (size_t)(((ptr ^ (uint64_t)domain << 47) * 0x9E3779B97F4A7C15ull) >> L->shift);
}

static inline uint32_t meta_ctr(uint64_t meta)
{
	return (uint32_t)(meta >> SIZE_BITS) & CTR_MAX;
}

static inline bool matches(const struct lent *s, uintptr_t ptr, uint32_t domain)
{
	return s->ptr == ptr && (!domain || D.ctr[meta_ctr(s->meta)].domain == domain);
}

static bool live_grow(struct live *L)
{
	size_t n = L->e ? (L->mask + 1) * 2 : 4096;
	struct lent *e = mt_map(n * sizeof(*e));
	struct live nl = {e, n - 1, 0, (unsigned)(64 - __builtin_ctzl(n))};

	if (!e)
		return false;
	for (size_t i = 0; L->e && i <= L->mask; i++) {
		struct lent *s = &L->e[i];

		if (!s->ptr)
			continue;
		uint32_t dom = L == &D.live0 ? 0 : D.ctr[meta_ctr(s->meta)].domain;
		size_t j = home(&nl, s->ptr, dom);

		while (e[j].ptr)
			j = (j + 1) & nl.mask;
		e[j] = *s;
	}
	nl.n = L->n;
	mt_unmap(L->e, L->e ? (L->mask + 1) * sizeof(*e) : 0);
	*L = nl;
	return true;
}

static inline struct lent *live_find(struct live *L, uintptr_t ptr, uint32_t domain)
{
	if (!L->e)
		return NULL;
	for (size_t i = home(L, ptr, domain);; i = (i + 1) & L->mask) {
		struct lent *s = &L->e[i];

		if (!s->ptr)
			return NULL;
		if (matches(s, ptr, domain))
			return s;
	}
}

/* Whether one more entry would fill @L past 3/4. */
static inline bool live_full(const struct live *L)
{
	return !L->e || (L->n + 1) * 4 > (L->mask + 1) * 3;
}

/* The slot holding (ptr, domain) (*found), or the empty one where it would
 * go; @L has room. */
static inline struct lent *live_probe(struct live *L, uintptr_t ptr, uint32_t domain, bool *found)
{
	for (size_t i = home(L, ptr, domain);; i = (i + 1) & L->mask) {
		struct lent *s = &L->e[i];

		if (!s->ptr || matches(s, ptr, domain)) {
			*found = s->ptr != 0;
			return s;
		}
	}
}

/* The slot for (ptr, domain): existing (*found) or a new empty one; NULL
 * without memory. */
static struct lent *live_slot(struct live *L, uintptr_t ptr, uint32_t domain, bool *found)
{
	if (live_full(L) && !live_grow(L) && (!L->e || L->n == L->mask))
		return NULL;
	return live_probe(L, ptr, domain, found);
}

static inline void live_delete(struct live *L, struct lent *s)
{
	size_t i = (size_t)(s - L->e), j = i;

	for (;;) {
		j = (j + 1) & L->mask;
		struct lent *t = &L->e[j];

		if (!t->ptr)
			break;
		uint32_t dom = L == &D.live0 ? 0 : D.ctr[meta_ctr(t->meta)].domain;
		size_t k = home(L, t->ptr, dom);

		/* t may move to i when its home is not in (i, j]. */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			L->e[i] = *t;
			i = j;
		}
	}
	L->e[i].ptr = 0;
	L->e[i].meta = 0;
	L->n--;
}

static uint64_t big_take(uintptr_t ptr, uint32_t domain, bool remove)
{
	for (size_t i = 0; i < D.nbig; i++) {
		if (D.big[i].ptr == ptr && D.big[i].domain == domain) {
			uint64_t size = D.big[i].size;

			if (remove)
				D.big[i] = D.big[--D.nbig];
			return size;
		}
	}
	return SIZE_BIG;
}

static void big_put(uintptr_t ptr, uint32_t domain, uint64_t size)
{
	if (D.nbig == D.big_cap) {
		size_t cap = D.big_cap ? D.big_cap * 2 : 256;
		void *p = mt_remap(D.big, D.big_cap * sizeof(*D.big), cap * sizeof(*D.big));

		if (!p)
			return; /* the size stays SIZE_BIG */
		D.big = p;
		D.big_cap = cap;
	}
	D.big[D.nbig++] = (struct big){ptr, domain, size};
}

static inline uint64_t meta_make(uint64_t size, uint32_t c, bool exact)
{
	return (size < SIZE_BIG ? size : SIZE_BIG) | (uint64_t)c << SIZE_BITS | (exact ? META_EXACT : 0);
}

static inline uint64_t meta_size(uint64_t meta, uintptr_t ptr, uint32_t domain, bool remove)
{
	uint64_t size = meta & SIZE_BIG;

	return size == SIZE_BIG ? big_take(ptr, domain, remove) : size;
}

/* ---- applying events ---- */

static bool apply_alloc(struct mt_ring *r, struct mt_event *e, bool repair);
static bool apply_free(struct mt_ring *r, struct mt_event *e, bool repair);

/*
 * An allocation of a live address or a free of an unknown one: out-of-order
 * execution may have stamped the event that comes first in another thread a
 * little later.  Look for it a short way ahead in the other rings; apply it
 * now and leave a NOP in its place.
 */
static bool repair(struct mt_ring *self, uintptr_t ptr, uint32_t domain, bool want_alloc,
                   uint64_t ts)
{
	for (struct mt_ring *q = MT_LOAD(&mt_rings); q; q = q->next) {
		if (q == self || MT_LOAD(&q->owner) == MT_RING_FREE)
			continue;
		uint64_t head = MT_LOAD(&q->head);
		uint64_t stop = head - q->pos > REPAIR_SCAN ? q->pos + REPAIR_SCAN : head;

		for (uint64_t p = q->pos; p < stop; p++) {
			struct mt_event *x = &q->ev[p & (MT_RING_CAP - 1)];

			if (key(x->ts) > key(ts) + REPAIR_WINDOW)
				break;
			if (x->ptr != ptr || x->domain != domain)
				continue;
			if (want_alloc && (x->stack & MT_EV_ALLOC)) {
				apply_alloc(q, x, false);
			} else if (!want_alloc && !(x->stack & MT_EV_ALLOC) &&
			           (x->size == MT_EV_FREE || x->size == MT_EV_REFREE)) {
				apply_free(q, x, false);
			} else {
				continue;
			}
			x->stack = 0;
			x->size = MT_EV_NOP;
			return true;
		}
	}
	return false;
}

static bool apply_alloc(struct mt_ring *r, struct mt_event *e, bool can_repair)
{
	bool exact = e->stack & MT_STACK_EXACT, found;
	uint32_t c = counter_of(MT_STACK_ID(e->stack), e->domain);
	struct live *L = e->domain ? &D.liveN : &D.live0;
	uint64_t ws, wc, size = e->size, meta;
	struct lent *s;

	weigh(size, exact, &ws, &wc);
	D.allocs += wc; /* in sampling mode, estimates (in 1/65536ths) */
	D.bytes += ws;
	meta = meta_make(size, c, exact);
	s = live_slot(L, e->ptr, e->domain, &found);
	if (!s)
		return false;
	if (found && can_repair && repair(r, e->ptr, e->domain, false, e->ts))
		s = live_slot(L, e->ptr, e->domain, &found);
	if (!s)
		return false;
	if (found) { /* unrepairable: the old block is gone */
		uint64_t osize = meta_size(s->meta, e->ptr, e->domain, true), ows, owc;

		weigh(osize, s->meta & META_EXACT, &ows, &owc);
		sub(meta_ctr(s->meta), ows, owc);
	} else {
		L->n++;
	}
	s->ptr = e->ptr;
	s->meta = meta;
	if (size >= SIZE_BIG)
		big_put(e->ptr, e->domain, size);
	add(c, ws, wc, e->ts);
	return true;
}

static bool apply_free(struct mt_ring *r, struct mt_event *e, bool can_repair)
{
	struct live *L = e->domain ? &D.liveN : &D.live0;
	struct lent *s = live_find(L, e->ptr, e->domain);
	uint64_t size, ws, wc, meta;

	if (e->size == MT_EV_REFREE)
		r->stash_valid = false;
	if (!s && can_repair && repair(r, e->ptr, e->domain, true, e->ts))
		s = live_find(L, e->ptr, e->domain);
	if (!s) {
		D.frees += mt_hot.sampled ? MT_COUNT_ONE : 1;
		D.untraced++;
		return false;
	}
	meta = s->meta;
	size = meta_size(meta, e->ptr, e->domain, true);
	weigh(size, meta & META_EXACT, &ws, &wc);
	D.frees += wc;
	sub(meta_ctr(meta), ws, wc);
	live_delete(L, s);
	if (e->size == MT_EV_REFREE) {
		r->stash_valid = true;
		r->stash_ptr = e->ptr;
		r->stash_meta = meta;
		r->stash_size = size;
	}
	return true;
}

static void apply_restore(struct mt_ring *r, struct mt_event *e)
{
	struct mt_event a;
	uint64_t meta = r->stash_meta;

	if (!r->stash_valid || r->stash_ptr != e->ptr)
		return;
	r->stash_valid = false;
	a.ts = e->ts;
	a.ptr = e->ptr;
	a.size = r->stash_size;
	a.stack = D.ctr[meta_ctr(meta)].stack | (meta & META_EXACT ? MT_STACK_EXACT : 0) |
	          MT_EV_ALLOC;
	a.domain = 0;
	uint64_t ws, wc;
	weigh(a.size, meta & META_EXACT, &ws, &wc);
	D.frees -= wc; /* the realloc gave nothing up after all */
	apply_alloc(r, &a, false);
	D.allocs -= wc;
	D.bytes -= ws;
}

/*
 * The common cases inline, for the drain's inner loop: without sampling, an
 * allocation (domain 0, a stack with a counter already) of an address that
 * is not live, and a free (domain 0) of a live block.  False, having
 * changed nothing, for anything else: apply() then takes the long way.
 */
static inline __attribute__((always_inline)) bool fast_alloc(const struct mt_event *e)
{
	struct live *L = &D.live0;
	uint32_t stack = MT_STACK_ID(e->stack), c;
	struct lent *s;
	bool found;

	if (e->domain || e->size >= SIZE_BIG || stack >= D.by_stack_cap || !(c = D.by_stack[stack]) ||
	    live_full(L))
		return false;
	s = live_probe(L, e->ptr, 0, &found);
	if (found)
		return false;
	c--;
	s->ptr = e->ptr;
	s->meta = meta_make(e->size, c, e->stack & MT_STACK_EXACT);
	L->n++;
	D.allocs++;
	D.bytes += e->size;
	add(c, e->size, 1, e->ts);
	return true;
}

static inline __attribute__((always_inline)) bool fast_free(const struct mt_event *e)
{
	struct live *L = &D.live0;
	struct lent *s;
	uint64_t meta;

	if (e->domain || e->size != MT_EV_FREE || !(s = live_find(L, e->ptr, 0)))
		return false;
	meta = s->meta;
	if ((meta & SIZE_BIG) == SIZE_BIG)
		return false;
	D.frees++;
	sub(meta_ctr(meta), meta & SIZE_BIG, 1);
	live_delete(L, s);
	return true;
}

static inline void apply(struct mt_ring *r, struct mt_event *e)
{
	if (!mt_hot.sampled && ((e->stack & MT_EV_ALLOC) ? fast_alloc(e) : fast_free(e)))
		return;
	if (e->stack & MT_EV_ALLOC)
		apply_alloc(r, e, true);
	else if (e->size <= MT_EV_REFREE)
		apply_free(r, e, true);
	else if (e->size == MT_EV_RESTORE)
		apply_restore(r, e);
}

/*
 * Applies ring @r's events from r->pos while their stamps are at most
 * @bound and below @until.  An allocation freed by the very next event of
 * the same ring (nothing from other rings between) that does not raise the
 * peak only counts.
 */
static void run(struct mt_ring *r, uint64_t bound, uint64_t until)
{
	uint64_t pos = r->pos, end = r->end;

	while (pos < end) {
		struct mt_event *e = &r->ev[pos & (MT_RING_CAP - 1)];

		if (key(e->ts) > bound || key(e->ts) >= until)
			break;
		if (pos + 8 < end && D.live0.e) {
			const struct mt_event *f = &r->ev[(pos + 8) & (MT_RING_CAP - 1)];
			__builtin_prefetch(&D.live0.e[home(&D.live0, f->ptr, 0)]);
		}
		if ((e->stack & MT_EV_ALLOC) && pos + 1 < end) {
			const struct mt_event *f = &r->ev[(pos + 1) & (MT_RING_CAP - 1)];

			if (!(f->stack & MT_EV_ALLOC) && f->size == MT_EV_FREE &&
			    f->ptr == e->ptr && f->domain == e->domain && key(f->ts) <= bound &&
			    key(f->ts) < until) {
				uint64_t ws, wc;

				weigh(e->size, e->stack & MT_STACK_EXACT, &ws, &wc);
				if (D.current + ws <= D.peak) {
					if (D.current + ws > D.max_since)
						D.max_since = D.current + ws;
					D.allocs += wc;
					D.frees += wc;
					D.bytes += ws;
					pos += 2;
					continue;
				}
			}
		}
		apply(r, e);
		pos++;
	}
	r->pos = pos;
}

static bool act_room(size_t n)
{
	if (n < D.act_cap)
		return true;
	size_t cap = D.act_cap ? D.act_cap * 2 : 512;
	void *p = mt_remap(D.act, D.act_cap * sizeof(*D.act), cap * sizeof(*D.act));

	if (!p)
		return false;
	D.act = p;
	D.act_cap = cap;
	return true;
}

void mt_drain_locked(uint64_t until)
{
	size_t nact = 0;

	_mm_lfence(); /* the caller read @until: no head may be read before */
	D.now = mt_now();
	mt_rings_reap(10000000);
	for (struct mt_ring *r = MT_LOAD(&mt_rings); r; r = r->next) {
		int owner = MT_LOAD(&r->owner);

		if (owner == MT_RING_FREE)
			continue;
		r->pos = r->tail;
		r->end = MT_LOAD(&r->head);
		if (r->pos == r->end) {
			if (owner == MT_RING_RETIRED) {
				r->stash_valid = false;
				MT_STORE(&r->owner, MT_RING_FREE);
			}
			continue;
		}
		if (act_room(nact))
			D.act[nact++] = r;
	}
	for (;;) {
		struct mt_ring *best = NULL;
		uint64_t bts = until, second = until;

		for (size_t i = 0; i < nact; i++) {
			struct mt_ring *r = D.act[i];
			uint64_t ts;

			if (r->pos == r->end)
				continue;
			ts = key(r->ev[r->pos & (MT_RING_CAP - 1)].ts);
			if (ts < bts) {
				second = bts;
				bts = ts;
				best = r;
			} else if (ts < second) {
				second = ts;
			}
		}
		if (!best)
			break;
		run(best, second, until);
	}
	for (size_t i = 0; i < nact; i++)
		MT_STORE(&D.act[i]->tail, D.act[i]->pos);
}

/* ---- reading the books (under mt_drain_lock) ---- */

void mt_totals(struct mt_totals *o)
{
	o->current = D.current;
	o->peak = D.peak;
	o->peak_ts = D.peak_ts;
	o->max_since = D.max_since;
	o->allocs = D.allocs;
	o->frees = D.frees;
	o->bytes = D.bytes;
	o->untraced = D.untraced;
	o->live_blocks = D.live_blocks;
	if (mt_hot.sampled) { /* estimates, kept in 1/65536ths */
		o->allocs = (D.allocs + MT_COUNT_ONE / 2) / MT_COUNT_ONE;
		o->frees = (D.frees + MT_COUNT_ONE / 2) / MT_COUNT_ONE;
		o->live_blocks = (D.live_blocks + MT_COUNT_ONE / 2) / MT_COUNT_ONE;
	}
}

void mt_reset_max(void)
{
	D.max_since = D.current;
}

void mt_reset_peak(void)
{
	D.peak = D.current;
	D.peak_ver++;
	D.peak_ts = mt_now();
}

void mt_clear(void)
{
	struct live *Ls[2] = {&D.live0, &D.liveN};

	for (int i = 0; i < 2; i++) {
		if (Ls[i]->e)
			mt_unmap(Ls[i]->e, (Ls[i]->mask + 1) * sizeof(struct lent));
		memset(Ls[i], 0, sizeof(*Ls[i]));
	}
	if (D.by_stack)
		memset(D.by_stack, 0, D.by_stack_cap * sizeof(uint32_t));
	if (D.dkeys) {
		memset(D.dkeys, 0, (D.dmask + 1) * sizeof(uint64_t));
		memset(D.dvals, 0, (D.dmask + 1) * sizeof(uint32_t));
		D.dused = 0;
	}
	D.nctr = 0;
	D.nbig = 0;
	D.current = D.peak = D.max_since = D.live_blocks = 0;
	D.peak_ver++;
	D.peak_ts = 0;
	for (struct mt_ring *r = MT_LOAD(&mt_rings); r; r = r->next)
		r->stash_valid = false;
}

bool mt_snap_copy(struct mt_buf *out, bool at_peak)
{
	for (size_t i = 0; i < D.nctr; i++) {
		const struct counter *k = &D.ctr[i];
		bool old = at_peak && k->ver == D.peak_ver;
		uint64_t count = old ? k->pk_count : k->count;
		uint64_t size = old ? k->pk_size : k->size;
		struct mt_snap_entry *x;

		if (!count && !size)
			continue;
		if (mt_hot.sampled) {
			count = (count + MT_COUNT_ONE / 2) / MT_COUNT_ONE;
			if (!count)
				count = 1;
		}
		if (!mt_buf_reserve(out, sizeof(*x)))
			return false;
		x = (struct mt_snap_entry *)(out->p + out->len);
		x->stack = k->stack;
		x->domain = k->domain;
		x->count = count;
		x->size = size;
		out->len += sizeof(*x);
	}
	return true;
}

bool mt_lookup(uintptr_t ptr, unsigned domain, uint64_t *size, uint32_t *stack)
{
	struct lent *s = live_find(domain ? &D.liveN : &D.live0, ptr, domain);

	if (!s)
		return false;
	*size = meta_size(s->meta, ptr, domain, false);
	*stack = D.ctr[meta_ctr(s->meta)].stack;
	return true;
}

bool mt_apply_now(const struct mt_event *e)
{
	struct mt_event copy = *e;

	/* No ring: without repair, and an untrack is never a REFREE, neither
	 * function touches it. */
	if (copy.stack & MT_EV_ALLOC)
		return apply_alloc(NULL, &copy, false);
	return apply_free(NULL, &copy, false);
}

void mt_discard_locked(void)
{
	for (struct mt_ring *r = MT_LOAD(&mt_rings); r; r = r->next) {
		if (r->owner == MT_RING_FREE)
			continue;
		r->stash_valid = false;
		MT_STORE(&r->tail, MT_LOAD(&r->head));
	}
}

void mt_drain_child(void)
{
	pthread_mutex_init(&mt_drain_lock, NULL);
}
