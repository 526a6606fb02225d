/*
 * snapshot.c - the snapshot object: what tracemalloc's Snapshot holds, in
 * a form whose size follows the number of distinct stacks, never the
 * number of blocks.
 *
 * tracemalloc keeps one trace per live block; a native program may have
 * millions, all allocated from a few hundred places.  A snapshot here holds
 * the raw stacks once each (interned), and groups (stack, domain) with a
 * block count and a byte total: every statistic tracemalloc computes from
 * its traces can be computed from those groups, because a statistic only
 * ever sums sizes and counts of blocks that share a key.
 *
 * Symbols are resolved lazily, the first time a stack's traceback is asked
 * for, through a symbol table shared by every snapshot made from the same
 * source (the same trace file, a filtered copy), so two snapshots compared
 * against each other resolve each address once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis-internal.h"

/* ---- Building ---- */

plumb_memtrace_snapshot *mt_snapshot_new_shared(int traceback_limit, struct mt_symtab *sym)
{
	plumb_memtrace_snapshot *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->traceback_limit = traceback_limit;
	s->sym = mt_symtab_ref(sym);
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

plumb_memtrace_snapshot *mt_snapshot_new(int traceback_limit, const struct mt_module *mods,
                                         size_t nmods)
{
	struct mt_symtab *sym = mt_symtab_new(mods, nmods);
	if (!sym) {
		errno = ENOMEM;
		return NULL;
	}
	plumb_memtrace_snapshot *s = mt_snapshot_new_shared(traceback_limit, sym);
	mt_symtab_unref(sym);
	if (!s)
		errno = ENOMEM;
	return s;
}

static uint64_t stack_hash(const uintptr_t *frames, size_t n, bool truncated)
{
	return mt_hash_bytes(frames, n * sizeof *frames, truncated ? 0x5bd1e995u : 0);
}

static bool stack_equal(const plumb_memtrace_snapshot *s, const struct mt_stack *st,
                        const uintptr_t *frames, size_t n, bool truncated)
{
	return st->nframe == n && st->truncated == truncated &&
	       memcmp(s->frames + st->off, frames, n * sizeof *frames) == 0;
}

void mt_index_put(uint32_t *index, size_t size, uint64_t hash, size_t i)
{
	size_t j = hash & (size - 1);
	while (index[j])
		j = (j + 1) & (size - 1);
	index[j] = (uint32_t)(i + 1);
}

int mt_index_grow(uint32_t **index, size_t *size, size_t count,
                  uint64_t (*hash_of)(const void *ctx, size_t i), const void *ctx)
{
	size_t n = *size ? *size * 2 : 256;
	uint32_t *idx = calloc(n, sizeof *idx);
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++)
		mt_index_put(idx, n, hash_of(ctx, i), i);
	free(*index);
	*index = idx;
	*size = n;
	return 0;
}

static uint64_t stack_hash_at(const void *ctx, size_t i)
{
	return ((const plumb_memtrace_snapshot *)ctx)->stacks[i].hash;
}

static uint64_t group_hash(uint32_t stack, unsigned domain)
{
	return mt_hash_mix(((uint64_t)stack << 32 | domain) + 0x9e3779b97f4a7c15ULL);
}

static uint64_t group_hash_at(const void *ctx, size_t i)
{
	const plumb_memtrace_snapshot *s = ctx;
	return group_hash(s->groups[i].stack, s->groups[i].domain);
}

int mt_grow(void **array, size_t *cap, size_t need, size_t elem, size_t first)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : first;
	while (n < need)
		n *= 2;
	void *a = realloc(*array, n * elem);
	if (!a)
		return -ENOMEM;
	*array = a;
	*cap = n;
	return 0;
}

static int reserve(void **array, size_t *cap, size_t need, size_t elem)
{
	return mt_grow(array, cap, need, elem, 64);
}

long mt_snapshot_stack(plumb_memtrace_snapshot *s, const uintptr_t *frames, size_t nframe,
                       bool truncated)
{
	if (nframe > UINT16_MAX || s->nstacks >= UINT32_MAX - 1)
		return -EINVAL;
	uint64_t h = stack_hash(frames, nframe, truncated);
	if (s->stack_index_size) {
		size_t j = h & (s->stack_index_size - 1);
		for (; s->stack_index[j]; j = (j + 1) & (s->stack_index_size - 1)) {
			size_t i = s->stack_index[j] - 1;
			if (s->stacks[i].hash == h &&
			    stack_equal(s, &s->stacks[i], frames, nframe, truncated))
				return (long)i;
		}
	}
	if ((s->nstacks + 1) * 2 > s->stack_index_size &&
	    mt_index_grow(&s->stack_index, &s->stack_index_size, s->nstacks, stack_hash_at, s) < 0)
		return -ENOMEM;
	if (reserve((void **)&s->frames, &s->frames_cap, s->nframes + nframe, sizeof *s->frames) <
	            0 ||
	    reserve((void **)&s->stacks, &s->stacks_cap, s->nstacks + 1, sizeof *s->stacks) < 0)
		return -ENOMEM;
	if (nframe)
		memcpy(s->frames + s->nframes, frames, nframe * sizeof *frames);
	s->stacks[s->nstacks] = (struct mt_stack){
	        .off = s->nframes, .nframe = (uint32_t)nframe, .truncated = truncated, .hash = h};
	s->nframes += nframe;
	mt_index_put(s->stack_index, s->stack_index_size, h, s->nstacks);
	return (long)s->nstacks++;
}

int mt_snapshot_add_group(plumb_memtrace_snapshot *s, uint32_t stack, unsigned domain,
                          uint64_t count, uint64_t size)
{
	uint64_t h = group_hash(stack, domain);
	if (s->group_index_size) {
		size_t j = h & (s->group_index_size - 1);
		for (; s->group_index[j]; j = (j + 1) & (s->group_index_size - 1)) {
			struct mt_group *g = &s->groups[s->group_index[j] - 1];
			if (g->stack == stack && g->domain == domain) {
				g->count += count;
				g->size += size;
				s->total_count += count;
				s->total_size += size;
				return 0;
			}
		}
	}
	if (s->ngroups >= UINT32_MAX - 1)
		return -EINVAL;
	if ((s->ngroups + 1) * 2 > s->group_index_size &&
	    mt_index_grow(&s->group_index, &s->group_index_size, s->ngroups, group_hash_at, s) < 0)
		return -ENOMEM;
	if (reserve((void **)&s->groups, &s->groups_cap, s->ngroups + 1, sizeof *s->groups) < 0)
		return -ENOMEM;
	s->groups[s->ngroups] = (struct mt_group){stack, domain, count, size};
	mt_index_put(s->group_index, s->group_index_size, h, s->ngroups);
	s->ngroups++;
	s->total_count += count;
	s->total_size += size;
	return 0;
}

int mt_snapshot_add(plumb_memtrace_snapshot *s, unsigned domain, const uintptr_t *frames,
                    size_t nframe, bool truncated, uint64_t count, uint64_t size)
{
	long st = mt_snapshot_stack(s, frames, nframe, truncated);
	if (st < 0)
		return (int)st;
	return mt_snapshot_add_group(s, (uint32_t)st, domain, count, size);
}

void mt_snapshot_set_time(plumb_memtrace_snapshot *s, uint64_t t_ns, uint64_t current,
                          uint64_t peak)
{
	s->has_time = true;
	s->t_ns = t_ns;
	s->current = current;
	s->peak = peak;
}

bool mt_snapshot_time(const plumb_memtrace_snapshot *s, uint64_t *t_ns, uint64_t *current,
                      uint64_t *peak)
{
	if (t_ns)
		*t_ns = s->t_ns;
	if (current)
		*current = s->current;
	if (peak)
		*peak = s->peak;
	return s->has_time;
}

/* ---- Tracebacks ---- */

static plumb_memtrace_traceback *make_traceback(struct mt_symtab *sym, const uintptr_t *frames,
                                                size_t nframe, bool truncated)
{
	plumb_memtrace_traceback *tb = malloc(sizeof *tb);
	if (!tb)
		return NULL;
	plumb_memtrace_frame *f;
	size_t n;
	if (mt_symtab_resolve(sym, frames, nframe, &f, &n) < 0) {
		free(tb);
		return NULL;
	}
	/* The file says only whether the stack was cut, not how deep it
	 * was: one more than what is left is all that is known. */
	*tb = (plumb_memtrace_traceback){
	        .nframe = n, .total_nframe = n + (truncated ? 1 : 0), .frames = f};
	return tb;
}

static void free_traceback(plumb_memtrace_traceback *tb)
{
	if (tb) {
		free((void *)tb->frames);
		free(tb);
	}
}

const plumb_memtrace_traceback *mt_snapshot_stack_tb(const plumb_memtrace_snapshot *cs, size_t i)
{
	plumb_memtrace_snapshot *s = (plumb_memtrace_snapshot *)cs;
	pthread_mutex_lock(&s->lock);
	struct mt_stack *st = &s->stacks[i];
	if (!st->tb)
		st->tb = make_traceback(s->sym, s->frames + st->off, st->nframe, st->truncated);
	plumb_memtrace_traceback *tb = st->tb;
	pthread_mutex_unlock(&s->lock);
	if (!tb)
		errno = ENOMEM;
	return tb;
}

/* A traceback of get_object_traceback: it owns its symbol table. */
struct owned_tb {
	plumb_memtrace_traceback tb;
	struct mt_symtab *sym;
};

plumb_memtrace_traceback *mt_traceback_new(const uintptr_t *frames, size_t nframe, bool truncated,
                                           const struct mt_module *mods, size_t nmods)
{
	struct owned_tb *o = malloc(sizeof *o);
	if (!o) {
		errno = ENOMEM;
		return NULL;
	}
	o->sym = mt_symtab_new(mods, nmods);
	plumb_memtrace_traceback *tb =
	        o->sym ? make_traceback(o->sym, frames, nframe, truncated) : NULL;
	if (!tb) {
		mt_symtab_unref(o->sym);
		free(o);
		errno = ENOMEM;
		return NULL;
	}
	o->tb = *tb;
	free(tb);
	return &o->tb;
}

void plumb_memtrace_traceback_free(plumb_memtrace_traceback *tb)
{
	if (!tb)
		return;
	GUARD_BEGIN;
	struct owned_tb *o = (struct owned_tb *)tb;
	free((void *)o->tb.frames);
	mt_symtab_unref(o->sym);
	free(o);
	GUARD_END;
}

/* ---- Walking ---- */

size_t mt_snapshot_ngroups(const plumb_memtrace_snapshot *s)
{
	return s->ngroups;
}

void mt_snapshot_group(const plumb_memtrace_snapshot *s, size_t i, unsigned *domain,
                       const plumb_memtrace_traceback **tb, uint64_t *count, uint64_t *size)
{
	const struct mt_group *g = &s->groups[i];
	if (domain)
		*domain = g->domain;
	if (count)
		*count = g->count;
	if (size)
		*size = g->size;
	if (tb)
		*tb = mt_snapshot_stack_tb(s, g->stack);
}

int mt_stack_each_frame(const plumb_memtrace_snapshot *s, size_t i,
                        int (*fn)(const plumb_memtrace_frame *f, void *arg), void *arg)
{
	const struct mt_stack *st = &s->stacks[i];
	if (st->nframe == 0)
		return fn(&mt_unknown_frame, arg);
	for (size_t k = 0; k < st->nframe; k++) {
		const plumb_memtrace_frame *f;
		size_t n;
		if (mt_symtab_frames(s->sym, s->frames[st->off + k], &f, &n) < 0)
			return -ENOMEM;
		for (size_t j = 0; j < n; j++) {
			int r = fn(&f[j], arg);
			if (r)
				return r;
		}
	}
	return 0;
}

/*
 * The grouping key skips frames without a source line (allocator wrappers
 * without debug information: strdup, operator new) to reach the line that
 * asked for memory.  When the program itself has no debug information
 * either, that walk would end in the C library's start-up code, which
 * has some (libc6-dbg): every block of a Python interpreter would belong
 * to __libc_start_call_main.  A process or thread entry point is never
 * the answer: the key is then frame 0, as when no frame has a line.
 */
static bool entry_point(const plumb_memtrace_frame *f)
{
	static const char *const names[] = {
	        "_start",
	        "__libc_start_main",
	        "__libc_start_main_impl",
	        "__libc_start_call_main",
	        "start_thread",
	        "clone",
	        "clone3",
	        "__clone",
	        "__clone3",
	        "call_init",
	        "_dl_init",
	        "_dl_start_user",
	};
	if (!f->function)
		return false;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(f->function, names[i]) == 0)
			return true;
	return false;
}

/*
 * The C runtime's own allocating functions (strdup, fopen, getline,
 * operator new, std::string's growth) have source lines too when their
 * debug information is installed (libc6-dbg), yet the line a user wants is
 * the one that called them.  Their frames are skipped like frames without
 * a line, unless nothing else is left.
 */
static bool runtime_module(const char *path)
{
	static const char *const prefixes[] = {"libc.so.", "libstdc++.so.", "libgcc_s.so.",
	                                       "ld-linux"};
	if (!path)
		return false;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static bool keyable(const plumb_memtrace_frame *f)
{
	return f->lineno && !runtime_module(f->module);
}

struct key_walk {
	const plumb_memtrace_frame *first, *key;
};

static int key_step(const plumb_memtrace_frame *f, void *arg)
{
	struct key_walk *w = arg;
	if (!w->first)
		w->first = f;
	if (keyable(f)) {
		w->key = f;
		return 1;
	}
	return 0;
}

const plumb_memtrace_frame *mt_stack_key_frame(const plumb_memtrace_snapshot *s, size_t i)
{
	struct key_walk w = {0};
	if (mt_stack_each_frame(s, i, key_step, &w) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	return w.key && !entry_point(w.key) ? w.key : w.first;
}

const plumb_memtrace_frame *mt_key_frame(const plumb_memtrace_traceback *tb)
{
	for (size_t i = 0; i < tb->nframe; i++)
		if (keyable(&tb->frames[i]))
			return entry_point(&tb->frames[i]) ? &tb->frames[0] : &tb->frames[i];
	return &tb->frames[0];
}

/* ---- Public ---- */

int mt_origin_copy(struct mt_origin *dst, const struct mt_origin *src)
{
	*dst = *src;
	dst->exe = src->exe ? strdup(src->exe) : NULL;
	dst->cmdline = src->cmdline ? strdup(src->cmdline) : NULL;
	if ((src->exe && !dst->exe) || (src->cmdline && !dst->cmdline)) {
		mt_origin_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

void mt_origin_clear(struct mt_origin *o)
{
	free(o->exe);
	free(o->cmdline);
	*o = (struct mt_origin){0};
}

void plumb_memtrace_snapshot_free(plumb_memtrace_snapshot *s)
{
	if (!s)
		return;
	GUARD_BEGIN;
	for (size_t i = 0; i < s->nstacks; i++)
		free_traceback(s->stacks[i].tb);
	free(s->frames);
	free(s->stacks);
	free(s->stack_index);
	free(s->groups);
	free(s->group_index);
	mt_origin_clear(&s->origin);
	mt_symtab_unref(s->sym);
	pthread_mutex_destroy(&s->lock);
	free(s);
	GUARD_END;
}

int plumb_memtrace_snapshot_traceback_limit(const plumb_memtrace_snapshot *s)
{
	return s->traceback_limit;
}

void plumb_memtrace_snapshot_size(const plumb_memtrace_snapshot *s, size_t *size, size_t *count)
{
	if (size)
		*size = (size_t)s->total_size;
	if (count)
		*count = (size_t)s->total_count;
}

int plumb_memtrace_key_parse(const char *name, plumb_memtrace_key *key)
{
	static const struct {
		const char *name;
		plumb_memtrace_key key;
	} keys[] = {
	        {"filename", PLUMB_MEMTRACE_BY_FILENAME},
	        {"lineno", PLUMB_MEMTRACE_BY_LINENO},
	        {"traceback", PLUMB_MEMTRACE_BY_TRACEBACK},
	};
	for (size_t i = 0; name && i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(name, keys[i].name) == 0) {
			*key = keys[i].key;
			return 0;
		}
	}
	return -EINVAL;
}
