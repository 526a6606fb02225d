/*
 * realloc_aligned.c - realloc chains and every aligned allocator, with
 * leaks of known sizes at known lines (each marked RA_*, which the test
 * greps for).
 *
 * A block that realloc moves or resizes belongs to the realloc that made
 * it, as in tracemalloc: the chain realloc(NULL) -> grow -> grow past the
 * mmap threshold -> shrink leaves one block of CHAIN_END at RA_SHRINK and
 * nothing at the earlier lines.  realloc(p, 0) frees p (glibc) and leaves
 * nothing.  A realloc, reallocarray, calloc or posix_memalign that fails
 * (too big, overflowing, bad alignment) changes nothing: the block given
 * to the failed realloc stays at its own line with its own size.
 *
 * Leaks:  RA_SHRINK CHAIN_END      RA_KEPT KEPT_SIZE
 *         RA_ARRAY2 ARR_N2*ARR_SZ  RA_CALLOC CAL_N*CAL_SZ
 *         RA_POSIX POSIX_SIZE      RA_ALIGNED ALIGNED_SIZE
 *         RA_MEMALIGN MEMALIGN_SIZE RA_VALLOC VALLOC_SIZE
 *         RA_PVALLOC PVALLOC_SIZE rounded up to the page size (what
 *         pvalloc asks the allocator for)
 * Everything else is freed.  The program also checks each alignment and
 * that each failure failed; it exits 1 if one did not.  Nothing prints.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "mt-test.h"

enum {
	CHAIN_START = 100,
	CHAIN_GROW = 4000,
	CHAIN_BIG = 1 << 20,
	CHAIN_END = 24,
	ZERO_SIZE = 500,
	KEPT_SIZE = 777,
	ARR_N1 = 7,
	ARR_N2 = 9,
	ARR_SZ = 100,
	CAL_N = 13,
	CAL_SZ = 17,
	POSIX_ALIGN = 64,
	POSIX_SIZE = 1000,
	ALIGNED_ALIGN = 256,
	ALIGNED_SIZE = 512,
	MEMALIGN_ALIGN = 4096,
	MEMALIGN_SIZE = 100,
	VALLOC_SIZE = 3000,
	PVALLOC_SIZE = 5000,
};

static int failures;
/* Sizes the compiler cannot see, so it neither warns nor folds. */
static volatile size_t huge = SIZE_MAX;
static volatile size_t zero = 0;

static void keep(void *p)
{
	if (!p)
		failures++;
	leaked[nleaked++] = p;
}

static void check(int ok)
{
	if (!ok)
		failures++;
}

static int aligned(const void *p, size_t align)
{
	return p && (uintptr_t)p % align == 0;
}

static __attribute__((noinline)) void chains(void)
{
	char *p = realloc(NULL, CHAIN_START); /* RA_NULL */
	check(p != NULL);
	p = realloc(p, CHAIN_GROW); /* RA_GROW */
	check(p != NULL);
	p = realloc(p, CHAIN_BIG); /* RA_BIG */
	check(p != NULL);
	p = realloc(p, CHAIN_END); /* RA_SHRINK */
	keep(p);

	char *z = malloc(ZERO_SIZE); /* RA_ZERO_MALLOC */
	use(z);
	z = realloc(z, zero); /* RA_ZERO */
	check(z == NULL);

	char *k = malloc(KEPT_SIZE);     /* RA_KEPT */
	char *failed = realloc(k, huge); /* RA_FAILED */
	if (failed) {                    /* cannot be: SIZE_MAX bytes */
		failures++;
		keep(failed);
	} else {
		keep(k);
	}

	char *freed = malloc(10);
	freed = realloc(freed, 20000);
	use(freed);
	free(freed);
}

static __attribute__((noinline)) void arrays(void)
{
	char *a = reallocarray(NULL, ARR_N1, ARR_SZ); /* RA_ARRAY1 */
	check(a != NULL);
	a = reallocarray(a, ARR_N2, ARR_SZ); /* RA_ARRAY2 */
	errno = 0;
	char *over = reallocarray(a, huge, 2); /* RA_ARRAY_OVER */
	if (over) {                            /* cannot be: the size overflows */
		failures++;
		keep(over);
	} else {
		check(errno == ENOMEM);
		keep(a);
	}

	char *c = calloc(CAL_N, CAL_SZ); /* RA_CALLOC */
	check(c && c[CAL_N * CAL_SZ - 1] == 0);
	keep(c);
	check(calloc(huge, 2) == NULL); /* RA_CALLOC_OVER */
	char *c2 = calloc(1, 64);
	use(c2);
	free(c2);
}

static __attribute__((noinline)) void aligned_allocs(void)
{
	void *m = NULL;
	check(posix_memalign(&m, POSIX_ALIGN, POSIX_SIZE) == 0); /* RA_POSIX */
	check(aligned(m, POSIX_ALIGN));
	keep(m);
	void *bad = NULL;
	check(posix_memalign(&bad, 3, 10) == EINVAL); /* RA_POSIX_BAD */
	check(bad == NULL);
	void *m2 = NULL;
	check(posix_memalign(&m2, 32, 32) == 0);
	free(m2);

	void *a = aligned_alloc(ALIGNED_ALIGN, ALIGNED_SIZE); /* RA_ALIGNED */
	check(aligned(a, ALIGNED_ALIGN));
	keep(a);
	void *a2 = aligned_alloc(64, 128);
	check(aligned(a2, 64));
	a2 = realloc(a2, 64); /* a realloc of an aligned block */
	use(a2);
	free(a2);

	void *ma = memalign(MEMALIGN_ALIGN, MEMALIGN_SIZE); /* RA_MEMALIGN */
	check(aligned(ma, MEMALIGN_ALIGN));
	keep(ma);

	long page = sysconf(_SC_PAGESIZE);
	void *v = valloc(VALLOC_SIZE); /* RA_VALLOC */
	check(aligned(v, (size_t)page));
	keep(v);

	void *pv = pvalloc(PVALLOC_SIZE); /* RA_PVALLOC */
	check(aligned(pv, (size_t)page));
	keep(pv);
	void *pv2 = pvalloc(1);
	use(pv2);
	free(pv2);
}

int main(void)
{
	chains();
	arrays();
	aligned_allocs();
	return failures ? 1 : 0;
}
