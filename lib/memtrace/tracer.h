/*
 * tracer.h - the half of memtrace that runs inside malloc (private).
 *
 * Everything declared here may run inside an allocation hook, so none of it
 * allocates through malloc (its memory comes from mmap, arena.c), none of
 * it takes a lock that a hook could already hold further up the same
 * thread, and nothing in a hook calls into the dynamic loader except the
 * lock-free _dl_find_object.  The pieces, in the order an allocation meets
 * them:
 *
 *   hooks.c    malloc and its family: forward to glibc's __libc_*, then
 *              hand the block to the tracer (one predictable branch when
 *              tracing is off).
 *   tracer.c   the global state, the environment, start-up before the
 *              constructors, the constructor and destructor, fork.
 *   unwind.c   the stack walk: a validated per-thread cache of recent
 *              walks, a table of unwind rules keyed by return address
 *              (filled from .eh_frame by cfi.c), or frame pointers.
 *   stacks.c   stacks interned once: id 1, 2, 3...; lock-free lookups.
 *   ring.c     per-thread event rings, their clock, thread exit.
 *   drain.c    merges every ring into one global order and keeps the
 *              live-block table, per-(stack, domain) counters, current,
 *              peak and the heap at the peak.
 *   sample.c   PLUMB_MEMTRACE_SAMPLE: which allocations to record and what
 *              each one stands for.
 *   writer.c   the background thread that writes the trace file.
 *   modules.c  the module map (dl_iterate_phdr, build-ids), never in a hook.
 *   api.c      include/plumb/memtrace.h's tracing functions.
 */
#ifndef PLUMB_MEMTRACE_TRACER_H
#define PLUMB_MEMTRACE_TRACER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <x86intrin.h>

#include "analysis.h"

#define MT_HIDDEN      __attribute__((visibility("hidden")))
#define MT_LIKELY(x)   __builtin_expect(!!(x), 1)
#define MT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MT_LOAD(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define MT_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define MT_MAX_FRAMES 256

/* ---- arena.c: the tracer's memory, all of it from mmap ---- */

/* mt_map - @size bytes of zeroed memory, rounded up to pages; NULL when the
 * kernel refuses.  mt_unmap/mt_remap take the size given to mt_map. */
MT_HIDDEN void *mt_map(size_t size);
MT_HIDDEN void mt_unmap(void *p, size_t size);
MT_HIDDEN void *mt_remap(void *p, size_t old_size, size_t new_size);
/* Bytes mapped now and at most so far. */
MT_HIDDEN size_t mt_memory_now(void);
MT_HIDDEN size_t mt_memory_peak(void);
/* malloc-shaped wrappers (they remember the size) for zstd's customMem. */
MT_HIDDEN void *mt_arena_alloc(void *opaque, size_t size);
MT_HIDDEN void mt_arena_free(void *opaque, void *p);

/* A growable byte buffer over the arena (the writer's records, copies). */
struct mt_buf {
	uint8_t *p;
	size_t len, cap;
};
MT_HIDDEN bool mt_buf_reserve(struct mt_buf *b, size_t more);
MT_HIDDEN void mt_buf_free(struct mt_buf *b);

/* ---- tracer.c: state and configuration ---- */

enum mt_state {
	MT_UNINIT = 0, /* the first hook call reads the environment */
	MT_OFF = 1,    /* hooks forward and return */
	MT_ON = 2,     /* hooks record */
	MT_INITING = 3,
};

/* Read by every hook: keep it alone on its cache line with the few other
 * values the hot path reads. */
struct mt_hot {
	int state;           /* enum mt_state */
	int frame_limit;     /* 1..MT_MAX_FRAMES */
	bool fp;             /* walk frame pointers instead of CFI */
	bool sampled;        /* PLUMB_MEMTRACE_SAMPLE > 0 */
	bool tsc;            /* timestamps from rdtsc, else clock_gettime */
	unsigned gen;        /* bumped when cached walks become invalid */
	uint64_t sample_avg; /* mean bytes between samples */
	int efd;             /* wakes the writer; -1 without one */
	int active;          /* rings whose thread is alive */
	uint64_t solo_ts;    /* what a thread alone stamps (ring.c) */
} __attribute__((aligned(64)));
MT_HIDDEN extern struct mt_hot mt_hot;

struct mt_config {
	bool enabled;         /* PLUMB_MEMTRACE=1 */
	int frames;           /* PLUMB_MEMTRACE_FRAMES, default 64 */
	uint64_t interval_ms; /* PLUMB_MEMTRACE_INTERVAL */
	int signo;            /* PLUMB_MEMTRACE_SIGNAL; 0 = none, -1 = default */
	uint64_t sample;      /* PLUMB_MEMTRACE_SAMPLE */
	bool fp;              /* PLUMB_MEMTRACE_UNWIND=fp */
	const char *output;   /* PLUMB_MEMTRACE_OUTPUT or NULL */
	long root;            /* PLUMB_MEMTRACE_ROOT or 0 */
};
MT_HIDDEN extern struct mt_config mt_cfg;

/* mt_init_lazy - reads the environment on the first hook call (before any
 * constructor may have run); true when tracing is on afterwards. */
MT_HIDDEN bool mt_init_lazy(void);
/* mt_env - getenv that works before libc has set environ. */
MT_HIDDEN const char *mt_env(const char *name);
/* mt_start_tracing / mt_stop_tracing - API start/stop (tracer.c). */
MT_HIDDEN void mt_start_tracing(int nframe);
MT_HIDDEN void mt_stop_tracing(void);

/* ---- ring.c: per-thread state, rings and the clock ---- */

/* One ring slot: with MT_EV_ALLOC in @stack, an allocation of @size bytes
 * at @ptr by stack MT_STACK_ID(stack) (0 when it could not be stored);
 * without, @size says which other event (MT_EV_*). */
struct mt_event {
	uint64_t ts;
	uintptr_t ptr;
	uint64_t size;
	uint32_t stack;
	uint32_t domain;
};

enum {
	MT_EV_FREE = 0,    /* free(ptr) */
	MT_EV_REFREE = 1,  /* realloc gives ptr up (kept aside for RESTORE) */
	MT_EV_RESTORE = 2, /* realloc failed: ptr is live again */
	MT_EV_NOP = 3,     /* applied out of order already (drain.c) */
};
#define MT_STACK_EXACT 0x80000000u /* never weighted by sampling (track) */
#define MT_EV_ALLOC    0x40000000u
#define MT_STACK_ID(s) ((s)&0x3fffffffu)

#define MT_RING_CAP 8192u
#define MT_SC_WAYS  64
#define MT_SC_READS 128

/* A cached walk: valid while the walk would read the same memory again.
 * The words read are kept as 16-byte pairs (adjacent words: a frame
 * pointer frame's saved BP and return address) then single words, at
 * offsets from sp0 (unwind.c). */
struct mt_sc_entry {
	uintptr_t ra0, sp0, bp0;
	uint32_t stack;
	unsigned gen;
	uint16_t nreads; /* while walking: words read so far */
	uint16_t npairs, nsingles;
	uint8_t use_bp0;
	uint32_t off[MT_SC_READS + 8];
	uintptr_t val[MT_SC_READS + 8];
};

enum mt_ring_owner {
	MT_RING_FREE = 0,
	MT_RING_ACTIVE = 1,
	MT_RING_RETIRED = 2, /* its thread is gone; recycled once drained */
};

struct mt_ring {
	/* Producer side (the owning thread). */
	uint64_t head __attribute__((aligned(64)));
	uint64_t tail_seen;
	uint64_t next_check;
	struct mt_sc_entry *cache; /* MT_SC_WAYS entries */
	/* Drain side. */
	uint64_t tail __attribute__((aligned(64)));
	uint64_t pos, end; /* the batch being merged */
	struct mt_ring *next;
	int owner; /* enum mt_ring_owner */
	pid_t tid;
	bool stash_valid;
	uintptr_t stash_ptr;
	uint64_t stash_meta, stash_size;
	struct mt_event ev[MT_RING_CAP] __attribute__((aligned(64)));
};

/* Per-thread state, initial-exec TLS (no allocation on first use). */
struct mt_thread {
	int inside; /* the tracer is running on this thread: do not trace */
	bool sample_ready;
	struct mt_ring *ring;
	uintptr_t stack_lo, stack_hi; /* the mapping holding the stack */
	uintptr_t alt_lo, alt_hi;     /* a second one (signal stack) */
	int stack_lookups;
	int64_t sample_left;
	uint64_t rng;
};
MT_HIDDEN extern __thread struct mt_thread mt_self __attribute__((tls_model("initial-exec")));

MT_HIDDEN extern struct mt_ring *mt_rings; /* every ring, newest first */

/* mt_ring_attach - gives the calling thread a ring (on its first event).
 * NULL when no memory; the event is then dropped. */
MT_HIDDEN struct mt_ring *mt_ring_attach(struct mt_thread *t);
/* mt_ring_room - the ring is full: wait for (or run) a drain. */
MT_HIDDEN void mt_ring_room(struct mt_ring *r);
/* mt_ring_check - every MT_RING_CAP/4 events: wake the writer when half
 * full (or drain here when there is no writer, or no CPU for it). */
MT_HIDDEN void mt_ring_check(struct mt_ring *r);
/* mt_rings_reap - retires the rings of threads that are gone (unless it
 * looked less than @every_ns ago).  Under mt_drain_lock. */
MT_HIDDEN void mt_rings_reap(uint64_t every_ns);
MT_HIDDEN void mt_rings_after_fork(struct mt_ring *mine);

/* The clock: rdtsc when the TSC is invariant, else CLOCK_MONOTONIC ns. */
MT_HIDDEN void mt_clock_init(void);
MT_HIDDEN uint64_t mt_ticks_to_ns(uint64_t ticks); /* since the tracer began */
MT_HIDDEN uint64_t mt_clock_ns(void);              /* now, since the tracer began */
MT_HIDDEN uint64_t mt_mono_ns(void);

/* Set in the timestamp of an event made while its thread was the only one
 * with a ring: the value is then the solo base, not a clock reading. */
#define MT_TS_SOLO (1ull << 63)

static inline uint64_t mt_now(void)
{
	if (MT_LIKELY(mt_hot.tsc))
		return __rdtsc();
	return mt_mono_ns();
}

/* mt_push - appends an event to @r and publishes it.  The timestamp is
 * taken here, after the real allocation returned and before a real free
 * runs, so that the drain never orders a block's reuse before its free
 * (or, while the thread is alone, the solo base: ring.c). */
static inline void mt_push(struct mt_ring *r, uintptr_t ptr, uint64_t size, uint32_t stack,
                           uint32_t domain)
{
	uint64_t h = r->head;

	if (MT_UNLIKELY(h - r->tail_seen >= MT_RING_CAP))
		mt_ring_room(r);
	struct mt_event *e = &r->ev[h & (MT_RING_CAP - 1)];
	/* The drain's core read these lines last: ask for them back early. */
	__builtin_prefetch(&r->ev[(h + 32) & (MT_RING_CAP - 1)], 1, 3);
	e->ts = MT_LIKELY(mt_hot.active <= 1) ? mt_hot.solo_ts : mt_now();
	e->ptr = ptr;
	e->size = size;
	e->stack = stack;
	e->domain = domain;
	MT_STORE(&r->head, h + 1);
	if (MT_UNLIKELY(h + 1 >= r->next_check))
		mt_ring_check(r);
}

/* ---- unwind.c and cfi.c: the stack walk ---- */

/* mt_capture - the interned stack of the hook whose frame is @frame (its
 * __builtin_frame_address(0)): frame 0 is the hook's return address. */
MT_HIDDEN uint32_t mt_capture(struct mt_thread *t, struct mt_ring *r, void **frame);
/* mt_cfi_rule - the unwind rule at return address @pc, from the module's
 * .eh_frame (packed as unwind.c defines); 0 when the module is unknown. */
MT_HIDDEN uint64_t mt_cfi_rule(uintptr_t pc);
MT_HIDDEN void mt_unwind_after_fork(void);
/* mt_unwind_forget - the code at [lo, hi) is going away (dlclose). */
MT_HIDDEN void mt_unwind_forget(uintptr_t lo, uintptr_t hi);
MT_HIDDEN void mt_unwind_prepare(void);
MT_HIDDEN void mt_unwind_parent(void);

/* Unwind rules, 64 bits: CFA = (SP or BP) + cfa_off; the return address
 * at CFA + ra_off; the caller's BP unchanged or at CFA + bp_off. */
#define MT_RULE_VALID   (1ull << 48)
#define MT_RULE_CFA_BP  (1ull << 49)
#define MT_RULE_STOP    (1ull << 50) /* outermost frame (RA undefined) */
#define MT_RULE_BAD     (1ull << 51) /* cannot unwind through here */
#define MT_RULE_BP_LOST (1ull << 52) /* BP's rule is not one we follow */
#define MT_RULE_SIGNAL  (1ull << 53) /* a signal trampoline: the registers
                                      * before the signal are in the
                                      * ucontext at the SP */
static inline uint64_t mt_rule_make(int32_t cfa_off, int16_t bp_off, int8_t ra_off8, uint64_t flags)
{
	return (uint64_t)(uint32_t)cfa_off | (uint64_t)(uint16_t)bp_off << 32 |
	       (uint64_t)(uint8_t)ra_off8 << 56 | flags | MT_RULE_VALID;
}
static inline int32_t mt_rule_cfa_off(uint64_t r)
{
	return (int32_t)(uint32_t)r;
}
static inline int16_t mt_rule_bp_off(uint64_t r)
{
	return (int16_t)(uint16_t)(r >> 32);
}
static inline int32_t mt_rule_ra_off(uint64_t r)
{
	return (int32_t)(int8_t)(uint8_t)(r >> 56) * 8;
}

/* ---- stacks.c: the stack table ---- */

struct mt_stack {
	uint32_t hash;
	uint16_t nframe;
	uint8_t truncated;
	uint8_t pad;
	uintptr_t frames[];
};

/* mt_stack_intern - the id (1, 2, 3...) of this stack, adding it once; 0
 * when out of memory. */
MT_HIDDEN uint32_t mt_stack_intern(const uintptr_t *frames, unsigned nframe, bool truncated);
/* mt_stack_get - the stack with id @id (1..mt_stack_count()). */
MT_HIDDEN const struct mt_stack *mt_stack_get(uint32_t id);
MT_HIDDEN uint32_t mt_stack_count(void);
MT_HIDDEN void mt_stacks_prepare(void);
MT_HIDDEN void mt_stacks_parent(void);
MT_HIDDEN void mt_stacks_child(void);

/* ---- sample.c ---- */

/* mt_sample_refill - an allocation crossed the sampling point: draws the
 * next gap (the first one for a new thread) and says whether to record. */
MT_HIDDEN bool mt_sample_refill(struct mt_thread *t);
/* The set of sampled live blocks, so that frees of the others stay cheap. */
#define MT_FILTER_BITS  12
#define MT_FILTER_SLOTS (1u << MT_FILTER_BITS)
MT_HIDDEN extern uint64_t mt_sample_filter[MT_FILTER_SLOTS / 64];
static inline unsigned mt_sample_slot(uintptr_t p)
{
	return (unsigned)(((p >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - MT_FILTER_BITS));
}
static inline bool mt_sample_maybe(uintptr_t p)
{
	unsigned i = mt_sample_slot(p);

	return __atomic_load_n(&mt_sample_filter[i / 64], __ATOMIC_RELAXED) >> (i % 64) & 1;
}
MT_HIDDEN bool mt_sample_add(uintptr_t p);
MT_HIDDEN bool mt_sample_remove(uintptr_t p);
MT_HIDDEN void mt_sample_clear(void);
/* The estimate one sampled block of @size bytes stands for: bytes, and a
 * count in units of 1/65536. */
MT_HIDDEN void mt_sample_weight(uint64_t size, uint64_t *bytes, uint64_t *count_fp);
MT_HIDDEN void mt_sample_prepare(void);
MT_HIDDEN void mt_sample_parent(void);
MT_HIDDEN void mt_sample_child(void);
#define MT_COUNT_ONE 65536u

/* ---- drain.c: the global order and the tables ---- */

MT_HIDDEN extern pthread_mutex_t mt_drain_lock;

/* mt_drain_locked - merges every ring's events with a timestamp before
 * @until into the tables.  Caller holds mt_drain_lock. */
MT_HIDDEN void mt_drain_locked(uint64_t until);

struct mt_totals {
	uint64_t current, peak, peak_ts, max_since;
	uint64_t allocs, frees, bytes, untraced, live_blocks;
};
/* Under mt_drain_lock. */
MT_HIDDEN void mt_totals(struct mt_totals *out);
MT_HIDDEN void mt_reset_max(void);
MT_HIDDEN void mt_reset_peak(void);
MT_HIDDEN void mt_clear(void);

/* One (stack, domain) group of a snapshot copy. */
struct mt_snap_entry {
	uint32_t stack, domain;
	uint64_t count, size;
};
/* mt_snap_copy - the live heap now (or at the peak) grouped by (stack,
 * domain), appended to @out as mt_snap_entry; false without memory.
 * Under mt_drain_lock. */
MT_HIDDEN bool mt_snap_copy(struct mt_buf *out, bool at_peak);
/* mt_lookup - the block at @ptr in @domain: its size and stack. */
MT_HIDDEN bool mt_lookup(uintptr_t ptr, unsigned domain, uint64_t *size, uint32_t *stack);
/* mt_apply_now - applies one event at once (track/untrack); returns false
 * for an untrack of an unknown block.  Under mt_drain_lock. */
MT_HIDDEN bool mt_apply_now(const struct mt_event *e);
MT_HIDDEN void mt_drain_child(void);
/* mt_discard_locked - drops every event not yet drained (start after stop). */
MT_HIDDEN void mt_discard_locked(void);

/* ---- modules.c ---- */

/* mt_modules_scan - the loaded objects (dl_iterate_phdr; never call it in
 * a hook or holding a tracer lock), as mt_module entries in @out (its
 * strings are the loader's, valid while the object stays loaded); the
 * loader's counts of objects added and removed so far in *adds, *subs. */
MT_HIDDEN size_t mt_modules_scan(struct mt_buf *out, unsigned long long *adds,
                                 unsigned long long *subs);
MT_HIDDEN const char *mt_exe_path(void);

/* ---- writer.c ---- */

/* mt_writer_start - opens the trace file and starts the writer thread
 * (not from a hook).  Returns 0 or -errno. */
MT_HIDDEN int mt_writer_start(void);
/* mt_writer_finish - final drain, PEAK and EXIT snapshots, SUMMARY, close. */
MT_HIDDEN void mt_writer_finish(void);
MT_HIDDEN bool mt_writer_running(void);
/* mt_writer_snapshot - hands a copy of an API snapshot to the writer
 * (which takes it over); false when no file is being written. */
MT_HIDDEN bool mt_writer_snapshot(struct mt_buf *entries, uint64_t t_ns, uint64_t current,
                                  uint64_t peak);
MT_HIDDEN void mt_writer_wake(void);
/* mt_writer_sync - has the writer record the loaded modules and every stack
 * so far in the file now, and waits for it (before a dlclose). */
MT_HIDDEN void mt_writer_sync(void);
MT_HIDDEN void mt_writer_prepare(void);
MT_HIDDEN void mt_writer_parent(void);
MT_HIDDEN void mt_writer_child(void);
MT_HIDDEN void mt_signal_install(void);

#endif
