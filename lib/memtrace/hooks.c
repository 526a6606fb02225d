/*
 * hooks.c - malloc and its family, interposed.
 *
 * Defining malloc, free, ... in a library that is preloaded (or linked
 * before libc) makes every call in the process come here, including calls
 * from libc itself (strdup, fopen), from libstdc++'s operator new and from
 * libraries opened later with dlopen.  Each hook forwards to glibc's own
 * entry points (__libc_malloc and friends: exported, so no dlsym, which
 * would allocate), then, when tracing, records the block.
 *
 * Cost when not tracing: one load and a predictable branch.  When tracing,
 * the tracer runs with the thread's "inside" flag set, so whatever it (or
 * a signal handler interrupting it) allocates is forwarded untraced: no
 * recursion, no second event in a half-written ring slot.
 *
 * Order matters for the drain (drain.c): an allocation is published after
 * the real allocation returns, a free before the real free runs, so that an
 * address is never seen reused before it was seen freed.  realloc is a free
 * of the old block (kept aside by the drain) and an allocation of the new
 * one; if realloc fails the old block is restored.
 *
 * Each hook hands the tracer its own frame (__builtin_frame_address(0); the
 * library is compiled with frame pointers), so the stack walk starts at the
 * hook's return address whichever entry point was called: frame 0 is
 * always in the code that called malloc.  The argument checks glibc makes
 * (posix_memalign's alignment, reallocarray's overflow) are made here the
 * same way, with the same errno, before anything is recorded.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "tracer.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

/* Whether hooks record, initialising on the first call. */
static inline bool tracing(void)
{
	int s = mt_hot.state;

	if (MT_LIKELY(s == MT_ON))
		return true;
	return s == MT_UNINIT && mt_init_lazy();
}

static inline struct mt_ring *ring_of(struct mt_thread *t)
{
	struct mt_ring *r = t->ring;

	return MT_LIKELY(r != NULL) ? r : mt_ring_attach(t);
}

/* Records an allocation of @size bytes at @p made by the hook whose frame
 * is @frame; @counted when record_alloc already took its size off the
 * distance to the next sampling point. */
static __attribute__((noinline)) void on_alloc(void *p, size_t size, void **frame, bool counted)
{
	struct mt_thread *t = &mt_self;
	struct mt_ring *r;

	if (t->inside || !tracing())
		return;
	t->inside = 1;
	r = ring_of(t);
	if (MT_UNLIKELY(!r))
		goto out;
	if (mt_hot.sampled) {
		if (!counted)
			t->sample_left -= (int64_t)size;
		if (t->sample_left > 0 || !mt_sample_refill(t) || !mt_sample_add((uintptr_t)p))
			goto out;
	}
	mt_push(r, (uintptr_t)p, size, mt_capture(t, r, frame) | MT_EV_ALLOC, 0);
out:
	t->inside = 0;
}

/*
 * The part of an allocation hook inlined into it.  In sampling mode most
 * allocations end here, their size taken off the distance to the next
 * sampling point (the totals are then estimated from the recorded ones).
 */
static inline __attribute__((always_inline)) void record_alloc(void *p, size_t size, void **frame)
{
	struct mt_thread *t = &mt_self;

	if (mt_hot.sampled && MT_LIKELY(!t->inside && mt_hot.state == MT_ON)) {
		t->sample_left -= (int64_t)size;
		if (MT_LIKELY(t->sample_left > 0))
			return;
		on_alloc(p, size, frame, true);
		return;
	}
	on_alloc(p, size, frame, false);
}

/* Records that @p is given up (MT_EV_FREE or MT_EV_REFREE); returns whether
 * the block was one the tracer records. */
static __attribute__((noinline)) bool on_free(void *p, uint64_t kind)
{
	struct mt_thread *t = &mt_self;
	struct mt_ring *r;
	bool recorded = false;

	if (t->inside || !tracing())
		return false;
	t->inside = 1;
	r = ring_of(t);
	if (MT_UNLIKELY(!r))
		goto out;
	if (mt_hot.sampled && !mt_sample_remove((uintptr_t)p))
		goto out;
	mt_push(r, (uintptr_t)p, kind, 0, 0);
	recorded = true;
out:
	t->inside = 0;
	return recorded;
}

/* The part of free inlined into it: in sampling mode a block the filter
 * says was never recorded costs one load. */
static inline __attribute__((always_inline)) bool record_free(void *p, uint64_t kind)
{
	if (mt_hot.sampled && MT_LIKELY(!mt_sample_maybe((uintptr_t)p)))
		return false;
	return on_free(p, kind);
}

/* realloc failed: @p is live again. */
static __attribute__((noinline)) void on_restore(void *p)
{
	struct mt_thread *t = &mt_self;
	struct mt_ring *r;

	if (t->inside || mt_hot.state != MT_ON)
		return;
	t->inside = 1;
	r = ring_of(t);
	if (r && (!mt_hot.sampled || mt_sample_add((uintptr_t)p)))
		mt_push(r, (uintptr_t)p, MT_EV_RESTORE, 0, 0);
	t->inside = 0;
}

void *malloc(size_t size)
{
	void *p = __libc_malloc(size);

	if (MT_UNLIKELY(mt_hot.state != MT_OFF) && p)
		record_alloc(p, size, __builtin_frame_address(0));
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = __libc_calloc(n, size);

	if (MT_UNLIKELY(mt_hot.state != MT_OFF) && p)
		record_alloc(p, n * size, __builtin_frame_address(0));
	return p;
}

void free(void *p)
{
	if (MT_UNLIKELY(mt_hot.state != MT_OFF) && p)
		record_free(p, MT_EV_FREE);
	__libc_free(p);
}

/* glibc's realloc: NULL allocates; size 0 frees and returns NULL; failure
 * leaves the block alone. */
static inline __attribute__((always_inline)) void *traced_realloc(void *p, size_t size,
                                                                  void **frame)
{
	bool recorded = false;
	void *q;

	if (p)
		recorded = record_free(p, size ? MT_EV_REFREE : MT_EV_FREE);
	q = __libc_realloc(p, size);
	if (q)
		record_alloc(q, size, frame);
	else if (recorded && size)
		on_restore(p);
	return q;
}

void *realloc(void *p, size_t size)
{
	if (MT_LIKELY(mt_hot.state == MT_OFF))
		return __libc_realloc(p, size);
	return traced_realloc(p, size, __builtin_frame_address(0));
}

void *reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	if (MT_LIKELY(mt_hot.state == MT_OFF))
		return __libc_realloc(p, bytes);
	return traced_realloc(p, bytes, __builtin_frame_address(0));
}

void *memalign(size_t align, size_t size)
{
	void *p = __libc_memalign(align, size);

	if (MT_UNLIKELY(mt_hot.state != MT_OFF) && p)
		record_alloc(p, size, __builtin_frame_address(0));
	return p;
}

/* In glibc 2.36 aligned_alloc is memalign (any alignment is rounded up to
 * a power of two). */
void *aligned_alloc(size_t align, size_t size) __attribute__((alias("memalign")));

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	/* A power of two multiple of sizeof(void *): EINVAL before anything. */
	if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 || align == 0)
		return EINVAL;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	if (MT_UNLIKELY(mt_hot.state != MT_OFF))
		record_alloc(p, size, __builtin_frame_address(0));
	return 0;
}

void *valloc(size_t size)
{
	void *p = __libc_valloc(size);

	if (MT_UNLIKELY(mt_hot.state != MT_OFF) && p)
		record_alloc(p, size, __builtin_frame_address(0));
	return p;
}

/* pvalloc rounds the size up to whole pages: that is the block's size. */
void *pvalloc(size_t size)
{
	void *p = __libc_pvalloc(size);
	size_t page = (size_t)getpagesize();

	if (MT_UNLIKELY(mt_hot.state != MT_OFF) && p)
		record_alloc(p, (size + page - 1) & ~(page - 1), __builtin_frame_address(0));
	return p;
}
