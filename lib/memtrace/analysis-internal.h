/*
 * analysis-internal.h - what the files of the analysis half share and nobody
 * else sees: the string pool, the symbol table (symbols.c), the inside of a
 * snapshot (snapshot.c), the grouping key rule, Python's fnmatch, and the
 * guard that keeps the tracer from tracing the analysis half's own memory.
 *
 * The split: snapshot.c owns the snapshot object (raw stacks, groups, lazy
 * tracebacks); symbols.c turns addresses into frames with libdw; stats.c,
 * filter.c and format.c are tracemalloc's Snapshot.statistics/compare_to,
 * filter_traces and the str()/format() methods; pmt-read.c and pmt-write.c
 * speak the trace file format of pmt.h.
 */
#ifndef PLUMB_MEMTRACE_ANALYSIS_INTERNAL_H
#define PLUMB_MEMTRACE_ANALYSIS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"

/* Nothing below leaves libplumb-memtrace.so: it is loaded into programs
 * that may have functions of the same names. */
#pragma GCC visibility push(hidden)

/* ---- The tracer's guard (weak: absent in the command) ---- */

#pragma weak mt_untraced_begin
#pragma weak mt_untraced_end

/* Public functions of the analysis half open with GUARD_BEGIN and close with
 * GUARD_END so that, inside a traced process, the memory they take and give
 * back is not traced (tracemalloc does not trace its own snapshots either). */
#define GUARD_BEGIN int mt_guard_ = mt_untraced_begin ? mt_untraced_begin() : 0
#define GUARD_END                                                                                  \
	do {                                                                                       \
		if (mt_untraced_end)                                                               \
			mt_untraced_end(mt_guard_);                                                \
	} while (0)

/* The longest record a trace file may hold (pmt-read.c refuses longer
 * ones, pmt-write.c never writes them): a SNAPSHOT of 11 million groups. */
#define PMT_RECORD_MAX (256u << 20)

/* ---- A string pool: chunks freed all at once, interned strings ---- */

struct mt_pool_chunk;
struct mt_pool_slot;

struct mt_pool {
	struct mt_pool_chunk *chunk; /* the one being filled; older ones linked behind */
	size_t used;                 /* bytes used in it */
	struct mt_pool_slot *slots;  /* the intern set (open addressing) */
	size_t nslots, nstrings;
};

void *mt_pool_alloc(struct mt_pool *p, size_t size);
const char *mt_pool_strndup(struct mt_pool *p, const char *s, size_t n);
/* mt_pool_intern - the pool's one copy of @s; NULL on ENOMEM. */
const char *mt_pool_intern(struct mt_pool *p, const char *s);
void mt_pool_free(struct mt_pool *p);

uint64_t mt_hash_bytes(const void *data, size_t n, uint64_t seed);
static inline uint64_t mt_hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb3fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* mt_grow - makes *@array (of *@cap elements of @elem bytes) hold at least
 * @need, doubling from @first; 0, or -ENOMEM with the array left as it was. */
int mt_grow(void **array, size_t *cap, size_t need, size_t elem, size_t first);

/* An index: a power-of-two table of uint32_t slots, open addressing, each
 * an element's index + 1 (0: empty).  mt_index_put files element @i under
 * @hash; mt_index_grow rebuilds the table at twice the size (256 at first)
 * from the hashes of elements 0..count; 0 or -ENOMEM, the table unchanged. */
void mt_index_put(uint32_t *index, size_t size, uint64_t hash, size_t i);
int mt_index_grow(uint32_t **index, size_t *size, size_t count,
                  uint64_t (*hash_of)(const void *ctx, size_t i), const void *ctx);

/* ---- Symbols (symbols.c) ---- */

/* A symbol table: the modules of one process, a libdw session per module
 * opened on first use, and every address resolved so far.  Shared by the
 * snapshots (and statistics) made from one source; reference counted;
 * safe to use from several threads. */
struct mt_symtab;

struct mt_symtab *mt_symtab_new(const struct mt_module *mods, size_t nmods);
struct mt_symtab *mt_symtab_ref(struct mt_symtab *st);
void mt_symtab_unref(struct mt_symtab *st);
/* The modules it was made with (its own copies). */
size_t mt_symtab_modules(const struct mt_symtab *st, const struct mt_module **mods);

/* mt_symtab_resolve - the frames of the raw stack @addrs[0..n) (inlined
 * calls expanded, most recent first) in a new malloc'ed array of *nout
 * frames whose strings belong to @st; an empty stack gives tracemalloc's
 * single "<unknown>" frame.  Returns 0 or -ENOMEM. */
int mt_symtab_resolve(struct mt_symtab *st, const uintptr_t *addrs, size_t n,
                      plumb_memtrace_frame **out, size_t *nout);

/* mt_symtab_frames - the frames of one return address (several when it is
 * in inlined code), resolved on first use; they belong to @st and never
 * move.  Returns 0 or -ENOMEM. */
int mt_symtab_frames(struct mt_symtab *st, uintptr_t addr, const plumb_memtrace_frame **frames,
                     size_t *n);

/* tracemalloc's frame for an empty stack: "<unknown>", line 0. */
extern const plumb_memtrace_frame mt_unknown_frame;

/* ---- Snapshots (snapshot.c) ---- */

struct mt_stack {
	size_t off;                   /* into the snapshot's frames[] */
	uint32_t nframe;              /* raw return addresses */
	bool truncated;               /* the real stack was deeper */
	uint64_t hash;                /* of the addresses */
	plumb_memtrace_traceback *tb; /* symbolized on first use */
};

struct mt_group {
	uint32_t stack; /* index in stacks[] */
	unsigned domain;
	uint64_t count, size;
};

/* Where a snapshot came from, for the file it may be dumped to. */
struct mt_origin {
	bool set;
	uint32_t pid, ppid, flags;
	uint64_t start_realtime_ns, sample_bytes;
	char *exe, *cmdline;
};

struct plumb_memtrace_snapshot {
	int traceback_limit;
	struct mt_symtab *sym;
	uintptr_t *frames; /* every stack's addresses, back to back */
	size_t nframes, frames_cap;
	struct mt_stack *stacks;
	size_t nstacks, stacks_cap;
	uint32_t *stack_index; /* hash set of stacks: index + 1, 0 empty */
	size_t stack_index_size;
	struct mt_group *groups;
	size_t ngroups, groups_cap;
	uint32_t *group_index; /* hash set of (stack, domain): index + 1 */
	size_t group_index_size;
	uint64_t total_size, total_count;
	bool has_time;
	uint64_t t_ns, current, peak;
	struct mt_origin origin;
	pthread_mutex_t lock; /* the lazy tracebacks */
};

/* mt_snapshot_new_shared - an empty snapshot over an existing symbol table
 * (a new reference is taken). */
plumb_memtrace_snapshot *mt_snapshot_new_shared(int traceback_limit, struct mt_symtab *sym);
/* mt_snapshot_stack - the index of the stack @frames in @s, added when new;
 * negative errno on failure. */
long mt_snapshot_stack(plumb_memtrace_snapshot *s, const uintptr_t *frames, size_t nframe,
                       bool truncated);
/* mt_snapshot_add_group - adds blocks to the group (stack index, domain). */
int mt_snapshot_add_group(plumb_memtrace_snapshot *s, uint32_t stack, unsigned domain,
                          uint64_t count, uint64_t size);
/* mt_snapshot_stack_tb - the symbolized traceback of stack @i, computed on
 * first use and kept; NULL (errno ENOMEM) on failure. */
const plumb_memtrace_traceback *mt_snapshot_stack_tb(const plumb_memtrace_snapshot *s, size_t i);
/* mt_stack_key_frame - mt_key_frame of stack @i's traceback, found without
 * building the traceback (statistics by line need no more); NULL on
 * ENOMEM. */
const plumb_memtrace_frame *mt_stack_key_frame(const plumb_memtrace_snapshot *s, size_t i);
/* mt_stack_each_frame - calls @fn on each frame of stack @i's traceback,
 * most recent first, without building it, until @fn returns non-zero
 * (returned).  -ENOMEM when symbols cannot be resolved. */
int mt_stack_each_frame(const plumb_memtrace_snapshot *s, size_t i,
                        int (*fn)(const plumb_memtrace_frame *f, void *arg), void *arg);
int mt_origin_copy(struct mt_origin *dst, const struct mt_origin *src);
void mt_origin_clear(struct mt_origin *o);

/* ---- Grouping and matching ---- */

/* mt_fnmatch - Python's fnmatch.fnmatchcase(name, pattern) on POSIX: '*',
 * '?', [seq], [!seq], no escapes, per code point of the UTF-8 text. */
bool mt_fnmatch(const char *pattern, const char *name);

/* mt_source_line - linecache.getline(filename, lineno).strip() into a new
 * malloc'ed string (NULL when there is no such line); the file's bytes are
 * cached in *@cache between calls (free with mt_source_cache_free). */
struct mt_source_cache {
	char *path;
	char *text;
	size_t len;
	bool ok;
};
char *mt_source_line(struct mt_source_cache *cache, const char *filename, unsigned lineno);
void mt_source_cache_free(struct mt_source_cache *cache);

#pragma GCC visibility pop

#endif
