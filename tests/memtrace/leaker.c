/*
 * leaker.c - leaks exactly eight blocks on purpose, at known lines, and
 * frees everything else it allocates.
 *
 * The leaks (each line is marked with its name, which the test greps for):
 *   LEAK_A  1 block of A_SIZE, malloc in leak_a()
 *   LEAK_B  B_N blocks of B_SIZE, one malloc line in a loop in leak_b()
 *   LEAK_C  1 block of strlen(C_TEXT) + 1, strdup in leak_c(): the malloc
 *           is made by libc, so the line is the first frame in this file
 *   LEAK_D  2 blocks of D_SIZE, malloc in an always-inline helper expanded
 *           in two functions: one line, two different stacks
 *   LEAK_E  1 block of E_SIZE, malloc at the bottom of a DEPTH-deep
 *           recursion: its stack is cut to the frame limit
 * Around them, CHURN malloc/free pairs, calloc, realloc chains and a list
 * built and freed: none of it may show as a leak.  Nothing here prints
 * (stdio's buffer would be one more block).
 *
 *   leaker [STATUS]      exits with STATUS (default 0), having leaked.
 *
 * Built -O1 -g without frame pointers (and once with them, leaker_fp).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt-test.h"

#define C_TEXT "leaked on purpose"

enum {
	A_SIZE = 1000,
	B_N = 3,
	B_SIZE = 333,
	D_SIZE = 64,
	E_SIZE = 4242,
	DEPTH = 100,
	CHURN = 10000,
	LIST_N = 1000,
};

static volatile int depth_sink;
/* Through a volatile pointer: the compiler cannot turn strdup of a known
 * string into malloc + memcpy. */
static const char *volatile c_text = C_TEXT;

static void keep(void *p)
{
	if (!p)
		abort();
	leaked[nleaked++] = p;
}

static __attribute__((noinline)) void leak_a(void)
{
	keep(malloc(A_SIZE)); /* LEAK_A */
}

static __attribute__((noinline)) void leak_b(void)
{
	for (int i = 0; i < B_N; i++)
		keep(malloc(B_SIZE)); /* LEAK_B */
}

static __attribute__((noinline)) void leak_c(void)
{
	keep(strdup(c_text)); /* LEAK_C */
}

static inline __attribute__((always_inline)) void *inlined_alloc(size_t n)
{
	void *p = malloc(n); /* LEAK_D */
	use(p);
	return p;
}

static __attribute__((noinline)) void leak_d1(void)
{
	keep(inlined_alloc(D_SIZE)); /* LEAK_D1_CALL */
}

static __attribute__((noinline)) void leak_d2(void)
{
	keep(inlined_alloc(D_SIZE)); /* LEAK_D2_CALL */
}

static __attribute__((noinline)) void *deep(int depth)
{
	void *p;
	if (depth == 0)
		p = malloc(E_SIZE); /* LEAK_E */
	else
		p = deep(depth - 1);
	depth_sink = depth; /* work after the calls: no tail call */
	return p;
}

struct node {
	struct node *next;
	char payload[40];
};

static __attribute__((noinline)) void churn(void)
{
	for (int i = 0; i < CHURN; i++) {
		void *p = malloc(16 + (size_t)(i * 37) % 4000);
		use(p);
		free(p);
	}
	for (int i = 0; i < 100; i++) {
		char *p = calloc(10, 1 + i);
		use(p);
		p = realloc(p, 5000 + i);
		use(p);
		p = realloc(p, 7);
		use(p);
		free(p);
	}
	struct node *head = NULL;
	for (int i = 0; i < LIST_N; i++) {
		struct node *n = malloc(sizeof *n);
		if (!n)
			abort();
		n->next = head;
		head = n;
	}
	while (head) {
		struct node *next = head->next;
		free(head);
		head = next;
	}
	char *s = strdup(c_text);
	use(s);
	free(s);
}

int main(int argc, char **argv)
{
	churn();
	leak_a(); /* LEAK_A_CALL */
	leak_b();
	churn();
	leak_c();
	leak_d1();
	leak_d2();
	keep(deep(DEPTH));
	churn();
	if (nleaked != 8)
		return 1;
	return argc > 1 ? atoi(argv[1]) : 0;
}
