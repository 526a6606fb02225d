/*
 * stats.c - Snapshot.statistics() and Snapshot.compare_to(), as CPython's
 * Lib/tracemalloc.py computes and sorts them.
 *
 * tracemalloc groups traces by a key: the whole traceback, the (file,
 * line) of its most recent frame, or that frame's file alone; with
 * 'cumulative', every frame of the traceback is a key of its own.  Our
 * snapshots hold groups of blocks (stack, domain) instead of single
 * traces, which sum the same way.  Two rules differ on purpose, both set
 * by the plan shared with the rest of memtrace:
 *  - the "most recent frame" is the first with a source line outside the
 *    C runtime (mt_key_frame): a block malloc'ed by libc's strdup belongs
 *    to the line that called strdup, not to strdup's own;
 *  - cumulative counts a block once per distinct key of its traceback
 *    (CPython counts it once per frame, so recursion counts it again).
 * Sorting follows _sort_key exactly, down to the traceback tie-break,
 * which compares frames oldest first as tracemalloc's Traceback does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis-internal.h"

enum { KEY_TRACEBACK, KEY_FRAME, KEY_FILE };

/* One key while grouping: a traceback, or one frame of one. */
struct key {
	const plumb_memtrace_traceback *tb; /* KEY_TRACEBACK */
	const plumb_memtrace_frame *frame;  /* KEY_FRAME, KEY_FILE */
	uint64_t hash;
	uint64_t size, count;
	size_t stamp;      /* the last group counted (cumulative) */
	struct key *other; /* compare_to: the same key in the other snapshot */
};

struct grouping {
	int kind;
	struct key *keys;
	size_t n, cap;
	uint32_t *index; /* open addressing, key index + 1 */
	size_t index_size;
};

static uint64_t hash_str(const char *s)
{
	return mt_hash_bytes(s, strlen(s), 0x51ed27);
}

static uint64_t key_hash(int kind, const plumb_memtrace_traceback *tb,
                         const plumb_memtrace_frame *f)
{
	if (kind == KEY_FILE)
		return hash_str(f->filename);
	if (kind == KEY_FRAME)
		return mt_hash_mix(hash_str(f->filename) + f->lineno);
	uint64_t h = tb->nframe;
	for (size_t i = 0; i < tb->nframe; i++)
		h = mt_hash_mix(h ^ hash_str(tb->frames[i].filename) ^
		                ((uint64_t)tb->frames[i].lineno << 32));
	return h;
}

static bool frame_equal(const plumb_memtrace_frame *a, const plumb_memtrace_frame *b)
{
	return a->lineno == b->lineno && strcmp(a->filename, b->filename) == 0;
}

static bool key_equal(int kind, const struct key *k, const plumb_memtrace_traceback *tb,
                      const plumb_memtrace_frame *f)
{
	if (kind == KEY_FILE)
		return strcmp(k->frame->filename, f->filename) == 0;
	if (kind == KEY_FRAME)
		return frame_equal(k->frame, f);
	if (k->tb->nframe != tb->nframe)
		return false;
	for (size_t i = 0; i < tb->nframe; i++)
		if (!frame_equal(&k->tb->frames[i], &tb->frames[i]))
			return false;
	return true;
}

static struct key *find_key(const struct grouping *g, uint64_t h,
                            const plumb_memtrace_traceback *tb, const plumb_memtrace_frame *f)
{
	if (!g->index_size)
		return NULL;
	for (size_t j = h & (g->index_size - 1); g->index[j]; j = (j + 1) & (g->index_size - 1)) {
		struct key *k = &g->keys[g->index[j] - 1];
		if (k->hash == h && key_equal(g->kind, k, tb, f))
			return k;
	}
	return NULL;
}

static uint64_t key_hash_at(const void *ctx, size_t i)
{
	return ((const struct grouping *)ctx)->keys[i].hash;
}

/* The key for (tb, f), added when new. */
static struct key *get_key(struct grouping *g, const plumb_memtrace_traceback *tb,
                           const plumb_memtrace_frame *f)
{
	uint64_t h = key_hash(g->kind, tb, f);
	struct key *k = find_key(g, h, tb, f);
	if (k)
		return k;
	if (g->n >= UINT32_MAX - 1)
		return NULL;
	if ((g->n + 1) * 2 > g->index_size &&
	    mt_index_grow(&g->index, &g->index_size, g->n, key_hash_at, g) < 0)
		return NULL;
	if (mt_grow((void **)&g->keys, &g->cap, g->n + 1, sizeof *g->keys, 64) < 0)
		return NULL;
	k = &g->keys[g->n];
	*k = (struct key){.tb = tb, .frame = f, .hash = h};
	mt_index_put(g->index, g->index_size, h, g->n++);
	return k;
}

static void grouping_free(struct grouping *g)
{
	free(g->keys);
	free(g->index);
}

/* Counts one group under one frame's key, once per group. */
struct count_step {
	struct grouping *g;
	const struct mt_group *grp;
	size_t stamp;
};

static int count_frame(const plumb_memtrace_frame *f, void *arg)
{
	struct count_step *c = arg;
	struct key *k = get_key(c->g, NULL, f);
	if (!k)
		return -ENOMEM;
	if (k->stamp != c->stamp) { /* a block counts once under a key */
		k->stamp = c->stamp;
		k->size += c->grp->size;
		k->count += c->grp->count;
	}
	return 0;
}

/* Snapshot._group_by(key_type, cumulative), over groups of blocks.  Only
 * the traceback key needs whole tracebacks; the others walk the frames
 * cached per address. */
static int group_by(const plumb_memtrace_snapshot *s, plumb_memtrace_key key, bool cumulative,
                    struct grouping *g)
{
	*g = (struct grouping){
	        .kind = key == PLUMB_MEMTRACE_BY_TRACEBACK ? KEY_TRACEBACK
	                : key == PLUMB_MEMTRACE_BY_LINENO  ? KEY_FRAME
	                                                   : KEY_FILE,
	};
	for (size_t i = 0; i < s->ngroups; i++) {
		struct count_step c = {g, &s->groups[i], i + 1};
		if (cumulative) {
			if (mt_stack_each_frame(s, c.grp->stack, count_frame, &c) < 0)
				return -ENOMEM;
			continue;
		}
		const plumb_memtrace_traceback *tb = NULL;
		const plumb_memtrace_frame *f = NULL;
		if (g->kind == KEY_TRACEBACK)
			tb = mt_snapshot_stack_tb(s, c.grp->stack);
		else
			f = mt_stack_key_frame(s, c.grp->stack);
		struct key *k = tb || f ? get_key(g, tb, f) : NULL;
		if (!k)
			return -ENOMEM;
		k->size += c.grp->size;
		k->count += c.grp->count;
	}
	return 0;
}

/* ---- The result ---- */

struct stats_priv {
	plumb_memtrace_traceback *tbs;
	plumb_memtrace_frame *frames;
	struct mt_symtab *sym[2];
};

static plumb_memtrace_stats *stats_alloc(size_t n, size_t nframes, bool diffs,
                                         const plumb_memtrace_snapshot *a,
                                         const plumb_memtrace_snapshot *b)
{
	plumb_memtrace_stats *st = calloc(1, sizeof *st);
	struct stats_priv *p = calloc(1, sizeof *p);
	if (!st || !p)
		goto fail;
	st->priv = p;
	size_t nn = n ? n : 1;
	p->tbs = calloc(nn, sizeof *p->tbs);
	p->frames = calloc(nframes ? nframes : 1, sizeof *p->frames);
	if (diffs)
		st->diffs = calloc(nn, sizeof *st->diffs);
	else
		st->stats = calloc(nn, sizeof *st->stats);
	if (!p->tbs || !p->frames || (!st->diffs && !st->stats))
		goto fail;
	p->sym[0] = mt_symtab_ref(a->sym);
	if (b && b->sym != a->sym)
		p->sym[1] = mt_symtab_ref(b->sym);
	return st;
fail:
	if (p) {
		free(p->tbs);
		free(p->frames);
	}
	free(p);
	if (st) {
		free(st->stats);
		free(st->diffs);
	}
	free(st);
	return NULL;
}

static size_t key_nframes(int kind, const struct key *k)
{
	return kind == KEY_TRACEBACK ? k->tb->nframe : 1;
}

/* Writes the statistic's own traceback for key @k at frames[*used]. */
static const plumb_memtrace_traceback *key_traceback(plumb_memtrace_stats *st, size_t i, int kind,
                                                     const struct key *k, size_t *used)
{
	struct stats_priv *p = st->priv;
	plumb_memtrace_traceback *tb = &p->tbs[i];
	plumb_memtrace_frame *f = p->frames + *used;
	if (kind == KEY_TRACEBACK) {
		memcpy(f, k->tb->frames, k->tb->nframe * sizeof *f);
		*tb = *k->tb;
	} else {
		*f = *k->frame;
		if (kind == KEY_FILE)
			*f = (plumb_memtrace_frame){.filename = k->frame->filename};
		*tb = (plumb_memtrace_traceback){.nframe = 1, .total_nframe = 1};
	}
	tb->frames = f;
	*used += tb->nframe;
	return tb;
}

/* Traceback.__lt__: frames compared oldest first, (filename, lineno). */
static int traceback_cmp(const plumb_memtrace_traceback *a, const plumb_memtrace_traceback *b)
{
	size_t na = a->nframe, nb = b->nframe;
	for (size_t i = 0; i < na && i < nb; i++) {
		const plumb_memtrace_frame *fa = &a->frames[na - 1 - i],
		                           *fb = &b->frames[nb - 1 - i];
		int c = strcmp(fa->filename, fb->filename);
		if (c)
			return c < 0 ? -1 : 1;
		if (fa->lineno != fb->lineno)
			return fa->lineno < fb->lineno ? -1 : 1;
	}
	return na < nb ? -1 : na > nb;
}

#define CMP(x, y) ((x) < (y) ? -1 : (x) > (y))

/* Statistic._sort_key, biggest first. */
static int stat_cmp(const void *pa, const void *pb)
{
	const plumb_memtrace_stat *a = pa, *b = pb;
	int c = CMP(b->size, a->size);
	if (!c)
		c = CMP(b->count, a->count);
	return c ? c : traceback_cmp(b->traceback, a->traceback);
}

static uint64_t uabs(ssize_t v)
{
	return v < 0 ? -(uint64_t)v : (uint64_t)v;
}

/* StatisticDiff._sort_key, biggest first. */
static int diff_cmp(const void *pa, const void *pb)
{
	const plumb_memtrace_statdiff *a = pa, *b = pb;
	int c = CMP(uabs(b->size_diff), uabs(a->size_diff));
	if (!c)
		c = CMP(b->size, a->size);
	if (!c)
		c = CMP(uabs(b->count_diff), uabs(a->count_diff));
	if (!c)
		c = CMP(b->count, a->count);
	return c ? c : traceback_cmp(b->traceback, a->traceback);
}

static bool args_ok(const plumb_memtrace_snapshot *s, plumb_memtrace_key key, bool cumulative)
{
	if (!s || (key != PLUMB_MEMTRACE_BY_FILENAME && key != PLUMB_MEMTRACE_BY_LINENO &&
	           key != PLUMB_MEMTRACE_BY_TRACEBACK))
		return false;
	return !(cumulative && key == PLUMB_MEMTRACE_BY_TRACEBACK);
}

plumb_memtrace_stats *plumb_memtrace_snapshot_statistics(const plumb_memtrace_snapshot *s,
                                                         plumb_memtrace_key key, bool cumulative)
{
	if (!args_ok(s, key, cumulative)) {
		errno = EINVAL;
		return NULL;
	}
	GUARD_BEGIN;
	plumb_memtrace_stats *st = NULL;
	struct grouping g;
	if (group_by(s, key, cumulative, &g) < 0)
		goto out;
	size_t nframes = 0;
	for (size_t i = 0; i < g.n; i++)
		nframes += key_nframes(g.kind, &g.keys[i]);
	st = stats_alloc(g.n, nframes, false, s, NULL);
	if (!st)
		goto out;
	size_t used = 0;
	for (size_t i = 0; i < g.n; i++) {
		const struct key *k = &g.keys[i];
		st->stats[i] = (plumb_memtrace_stat){
		        .traceback = key_traceback(st, i, g.kind, k, &used),
		        .size = (size_t)k->size,
		        .count = (size_t)k->count,
		};
	}
	st->n = g.n;
	qsort(st->stats, st->n, sizeof *st->stats, stat_cmp);
out:
	grouping_free(&g);
	GUARD_END;
	if (!st)
		errno = ENOMEM;
	return st;
}

plumb_memtrace_stats *plumb_memtrace_snapshot_compare_to(const plumb_memtrace_snapshot *s,
                                                         const plumb_memtrace_snapshot *old,
                                                         plumb_memtrace_key key, bool cumulative)
{
	if (!args_ok(s, key, cumulative) || !old) {
		errno = EINVAL;
		return NULL;
	}
	GUARD_BEGIN;
	plumb_memtrace_stats *st = NULL;
	struct grouping gn = {0}, go = {0};
	if (group_by(s, key, cumulative, &gn) < 0 || group_by(old, key, cumulative, &go) < 0)
		goto out;
	/* _compare_grouped_stats: new keys (matched or not), then the old
	 * keys that are gone. */
	size_t n = gn.n, nframes = 0;
	for (size_t i = 0; i < gn.n; i++) {
		struct key *k = &gn.keys[i];
		struct key *o = find_key(&go, k->hash, k->tb, k->frame);
		if (o) {
			k->other = o;
			o->other = k;
		}
		nframes += key_nframes(gn.kind, k);
	}
	for (size_t i = 0; i < go.n; i++) {
		if (!go.keys[i].other) {
			n++;
			nframes += key_nframes(go.kind, &go.keys[i]);
		}
	}
	st = stats_alloc(n, nframes, true, s, old);
	if (!st)
		goto out;
	size_t used = 0, d = 0;
	for (size_t i = 0; i < gn.n; i++) {
		const struct key *k = &gn.keys[i];
		const struct key *o = k->other;
		uint64_t osize = o ? o->size : 0, ocount = o ? o->count : 0;
		st->diffs[d] = (plumb_memtrace_statdiff){
		        .traceback = key_traceback(st, d, gn.kind, k, &used),
		        .size = (size_t)k->size,
		        .size_diff = (ssize_t)(k->size - osize),
		        .count = (size_t)k->count,
		        .count_diff = (ssize_t)(k->count - ocount),
		};
		d++;
	}
	for (size_t i = 0; i < go.n; i++) {
		const struct key *o = &go.keys[i];
		if (o->other)
			continue;
		st->diffs[d] = (plumb_memtrace_statdiff){
		        .traceback = key_traceback(st, d, go.kind, o, &used),
		        .size_diff = -(ssize_t)o->size,
		        .count_diff = -(ssize_t)o->count,
		};
		d++;
	}
	st->n = n;
	qsort(st->diffs, st->n, sizeof *st->diffs, diff_cmp);
out:
	grouping_free(&gn);
	grouping_free(&go);
	GUARD_END;
	if (!st)
		errno = ENOMEM;
	return st;
}

void plumb_memtrace_stats_free(plumb_memtrace_stats *st)
{
	if (!st)
		return;
	GUARD_BEGIN;
	struct stats_priv *p = st->priv;
	if (p) {
		free(p->tbs);
		free(p->frames);
		mt_symtab_unref(p->sym[0]);
		mt_symtab_unref(p->sym[1]);
		free(p);
	}
	free(st->stats);
	free(st->diffs);
	free(st);
	GUARD_END;
}
