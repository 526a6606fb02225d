/*
 * handoff.c - blocks handed from one thread to another as fast as they can
 * go, the pattern of a producer and a consumer.
 *
 * The producer allocates NBLOCK blocks of 16..2063 bytes (HANDOFF_BLOCK)
 * and passes each through a queue of QUEUE slots to the consumer, which
 * frees it, except every KEEP_EVERY-th, which it keeps to the end (leaks).
 * Both churn a block of their own between handoffs (HANDOFF_CHURN_P,
 * HANDOFF_CHURN_C), so glibc hands addresses back and forth between them
 * and the same address is allocated by one thread moments after the other
 * freed it.  Both threads run at once, so their events interleave finely,
 * and a free is often stamped within a few cycles of the allocation it
 * frees on the other core: every block must still be matched with its own
 * free.  Left at exit: NBLOCK / KEEP_EVERY blocks at HANDOFF_BLOCK, of the
 * sizes the producer's generator gives (summed here the same way), and the
 * two threads' TLS blocks (HANDOFF_CREATE: see threads.c).  Prints the kept
 * blocks' total bytes (through a buffer of its own: stdio would allocate
 * one).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt-test.h"

enum {
	NBLOCK = 300000,
	QUEUE = 64,
	KEEP_EVERY = 1000,
};

static void *_Atomic queue[QUEUE];
static atomic_ulong head, tail;
static void *volatile kept[NBLOCK / KEEP_EVERY];

static size_t block_size(unsigned *x)
{
	*x ^= *x << 13, *x ^= *x >> 17, *x ^= *x << 5;
	return 16 + *x % 2048;
}

static void *producer(void *arg)
{
	unsigned x = 2463534242u;

	(void)arg;
	for (long i = 0; i < NBLOCK; i++) {
		void *p = malloc(block_size(&x)); /* HANDOFF_BLOCK */
		void *c = malloc(16 + i % 500);   /* HANDOFF_CHURN_P */

		if (!p || !c)
			abort();
		use(c);
		free(c);
		while (atomic_load(&head) - atomic_load(&tail) >= QUEUE)
			sched_yield(); /* returns at once while the other has a CPU */
		atomic_store(&queue[atomic_load(&head) % QUEUE], p);
		atomic_fetch_add(&head, 1);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (long i = 0; i < NBLOCK; i++) {
		while (atomic_load(&tail) == atomic_load(&head))
			sched_yield();
		void *p = atomic_load(&queue[atomic_load(&tail) % QUEUE]);
		atomic_fetch_add(&tail, 1);
		if (i % KEEP_EVERY == 0)
			kept[i / KEEP_EVERY] = p;
		else
			free(p);
		void *c = malloc(100); /* HANDOFF_CHURN_C */
		if (!c)
			abort();
		use(c);
		free(c);
	}
	return NULL;
}

int main(void)
{
	void *(*run[2])(void *) = {producer, consumer};
	pthread_t th[2];
	unsigned x = 2463534242u;
	unsigned long bytes = 0;

	for (long i = 0; i < NBLOCK; i++) {
		size_t n = block_size(&x);
		if (i % KEEP_EVERY == 0)
			bytes += n;
	}
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, run[i], NULL) != 0) /* HANDOFF_CREATE */
			return 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	char out[32];
	int n = snprintf(out, sizeof out, "%lu\n", bytes);
	return write(1, out, (size_t)n) == n ? 0 : 1;
}
