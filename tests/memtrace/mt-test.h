/*
 * mt-test.h - what the traced test programs share: the array their leaked
 * blocks are stored in, and use(), which keeps an allocation alive.
 *
 * Each program leaks blocks the tracer must find; stores into a volatile
 * array are ones the compiler may not drop, so neither may it drop the
 * allocations.  How a program answers a failed allocation (abort, or count
 * a failure) is its own, so each keeps its own keep().
 */
#ifndef PLUMB_TESTS_MEMTRACE_MT_TEST_H
#define PLUMB_TESTS_MEMTRACE_MT_TEST_H

/* volatile: stores the compiler may not drop, so neither the blocks. */
static void *volatile leaked[16];
static int nleaked __attribute__((unused)); /* the next free slot, for those that count */

/* Makes @p escape, so the compiler keeps an allocation it could prove
 * unused. */
static inline void use(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

#endif
