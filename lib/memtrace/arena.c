/*
 * arena.c - the tracer's own memory: every table and buffer comes from mmap.
 *
 * The tracer runs inside malloc, so it cannot use malloc: a table that grew
 * through the allocator it traces would recurse, and the program's heap
 * figures would include the tracer.  Mappings are few and large (rings,
 * hash tables, the stack store, zstd's workspace), so a mapping per object
 * costs nothing worth a smarter allocator, and unmapping gives the memory
 * back at once.  Every byte mapped is counted: that is
 * plumb_memtrace_get_tracemalloc_memory() and the summary's tracer_memory.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tracer.h"

static size_t mapped_now, mapped_peak;

static size_t page_round(size_t size)
{
	return (size + 4095) & ~(size_t)4095;
}

static void count(ssize_t delta)
{
	size_t now = __atomic_add_fetch(&mapped_now, (size_t)delta, __ATOMIC_RELAXED);
	size_t peak = __atomic_load_n(&mapped_peak, __ATOMIC_RELAXED);

	while (now > peak && !__atomic_compare_exchange_n(&mapped_peak, &peak, now, true,
	                                                  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void *mt_map(size_t size)
{
	int saved = errno;
	void *p = mmap(NULL, page_round(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	               -1, 0);

	errno = saved;
	if (p == MAP_FAILED)
		return NULL;
	count((ssize_t)page_round(size));
	return p;
}

void mt_unmap(void *p, size_t size)
{
	int saved = errno;

	if (!p)
		return;
	munmap(p, page_round(size));
	errno = saved;
	count(-(ssize_t)page_round(size));
}

void *mt_remap(void *p, size_t old_size, size_t new_size)
{
	int saved = errno;
	void *q;

	if (!p)
		return mt_map(new_size);
	q = mremap(p, page_round(old_size), page_round(new_size), MREMAP_MAYMOVE);
	errno = saved;
	if (q == MAP_FAILED)
		return NULL;
	count((ssize_t)page_round(new_size) - (ssize_t)page_round(old_size));
	return q;
}

size_t mt_memory_now(void)
{
	return __atomic_load_n(&mapped_now, __ATOMIC_RELAXED);
}

size_t mt_memory_peak(void)
{
	return __atomic_load_n(&mapped_peak, __ATOMIC_RELAXED);
}

/* zstd frees without saying how much: keep the size in front. */
void *mt_arena_alloc(void *opaque, size_t size)
{
	(void)opaque;
	size_t *p = mt_map(size + 16);

	if (!p)
		return NULL;
	p[0] = size + 16;
	return p + 2;
}

void mt_arena_free(void *opaque, void *p)
{
	(void)opaque;
	if (p) {
		size_t *h = (size_t *)p - 2;
		mt_unmap(h, h[0]);
	}
}

bool mt_buf_reserve(struct mt_buf *b, size_t more)
{
	size_t cap;
	void *p;

	if (b->len + more <= b->cap)
		return true;
	cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more)
		cap *= 2;
	p = mt_remap(b->p, b->cap, cap);
	if (!p)
		return false;
	b->p = p;
	b->cap = page_round(cap);
	return true;
}

void mt_buf_free(struct mt_buf *b)
{
	mt_unmap(b->p, b->cap);
	memset(b, 0, sizeof(*b));
}
