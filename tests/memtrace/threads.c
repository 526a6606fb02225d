/*
 * threads.c - known allocations from several threads, half of them freed
 * by a thread that did not allocate them.
 *
 * NTHREADS threads, in three phases held apart by barriers:
 *   1. each churns CHURN malloc/free pairs of mixed sizes (THREADS_CHURN):
 *      nothing is left of them;
 *   2. thread t allocates NBLOCKS blocks of BLOCK_SIZE * (t + 1) bytes
 *      (THREADS_BLOCK).  When the last one is allocated, every block of
 *      every thread is live: that is the heap's peak, NTHREADS * NBLOCKS
 *      blocks of NBLOCKS * BLOCK_SIZE * (1 + 2 + ... + NTHREADS) bytes;
 *   3. thread t frees the first NFREE blocks of thread t + 1 (mod
 *      NTHREADS), which it never allocated.
 * Left at exit at THREADS_BLOCK: NTHREADS * (NBLOCKS - NFREE) blocks of
 * (NBLOCKS - NFREE) * BLOCK_SIZE * (1 + 2 + ... + NTHREADS) bytes, and,
 * under THREADS_CREATE, the NTHREADS blocks glibc keeps for each thread's
 * TLS (its dtv, cached with the thread's stack after the join; valgrind
 * does not see them because it makes glibc free its caches first).
 * Nothing here prints.
 */
#include <pthread.h>
#include <stdlib.h>

#include "mt-test.h"

enum {
	NTHREADS = 4,
	CHURN = 20000,
	NBLOCKS = 1000,
	NFREE = 500,
	BLOCK_SIZE = 64,
};

static void *blocks[NTHREADS][NBLOCKS];
static pthread_barrier_t phase;

static void *worker(void *arg)
{
	int t = (int)(long)arg;

	for (int i = 0; i < CHURN; i++) {
		void *p = malloc(16 + (size_t)(i * 131 + t) % 4000); /* THREADS_CHURN */
		use(p);
		free(p);
	}
	pthread_barrier_wait(&phase);

	for (int i = 0; i < NBLOCKS; i++) {
		blocks[t][i] = malloc((size_t)BLOCK_SIZE * (t + 1)); /* THREADS_BLOCK */
		if (!blocks[t][i])
			abort();
	}
	pthread_barrier_wait(&phase);

	int other = (t + 1) % NTHREADS;
	for (int i = 0; i < NFREE; i++) {
		free(blocks[other][i]);
		blocks[other][i] = NULL;
	}
	return NULL;
}

int main(void)
{
	pthread_t tid[NTHREADS];
	if (pthread_barrier_init(&phase, NULL, NTHREADS) != 0)
		return 1;
	for (long t = 0; t < NTHREADS; t++)
		if (pthread_create(&tid[t], NULL, worker, (void *)t) != 0) /* THREADS_CREATE */
			return 1;
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(tid[t], NULL);
	pthread_barrier_destroy(&phase);
	return 0;
}
