/*
 * sampled.c - known totals for `plumb memtrace run --sample`: estimates
 * that must come close to them, blocks far larger than the sampling
 * distance that must come out exact, and frees from threads that did not
 * allocate, every one of which must be seen.
 *
 * NTHREADS threads, in three phases held apart by barriers:
 *   1. each churns CHURN malloc/free pairs of 16..4111 bytes
 *      (SAMPLED_CHURN): nothing is left of them;
 *   2. thread t allocates NLIVE blocks of LIVE_SIZE bytes, the first
 *      NLIVE - NLEAK at SAMPLED_SHARED and the others at SAMPLED_KEPT,
 *      and NBIG of BIG_SIZE (SAMPLED_BIG).  When the last is allocated,
 *      every block is live: the peak, NTHREADS * (NLIVE * LIVE_SIZE +
 *      NBIG * BIG_SIZE) bytes;
 *   3. thread t frees the SAMPLED_SHARED blocks of thread t + 1 (mod
 *      NTHREADS), which it never allocated.
 * Left at exit: NTHREADS * NLEAK blocks at SAMPLED_KEPT, NTHREADS * NBIG
 * at SAMPLED_BIG, and glibc's TLS block of each thread (SAMPLED_CREATE:
 * see threads.c), which sampling may or may not catch; nothing at
 * SAMPLED_CHURN or SAMPLED_SHARED.  A block of BIG_SIZE, 64 times the
 * sampling distance the test uses (64 KiB), is recorded with probability
 * 1 - e^-64: always, and counted as itself.  Everything else is an
 * estimate.  Nothing here prints.
 */
#include <pthread.h>
#include <stdlib.h>

#include "mt-test.h"

enum {
	NTHREADS = 4,
	CHURN = 100000,
	NLIVE = 4000,
	LIVE_SIZE = 4000,
	NLEAK = 1000,
	NBIG = 2,
	BIG_SIZE = 4 << 20,
};

static void *live[NTHREADS][NLIVE];
static void *volatile big[NTHREADS][NBIG];
static pthread_barrier_t phase;

static void *worker(void *arg)
{
	int t = (int)(long)arg;
	unsigned x = 2463534242u + (unsigned)t;

	for (int i = 0; i < CHURN; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		void *p = malloc(16 + x % 4096); /* SAMPLED_CHURN */
		use(p);
		free(p);
	}
	pthread_barrier_wait(&phase);

	for (int i = 0; i < NLIVE - NLEAK; i++)
		if (!(live[t][i] = malloc(LIVE_SIZE))) /* SAMPLED_SHARED */
			abort();
	for (int i = NLIVE - NLEAK; i < NLIVE; i++)
		if (!(live[t][i] = malloc(LIVE_SIZE))) /* SAMPLED_KEPT */
			abort();
	for (int i = 0; i < NBIG; i++)
		if (!(big[t][i] = malloc(BIG_SIZE))) /* SAMPLED_BIG */
			abort();
	pthread_barrier_wait(&phase);

	int other = (t + 1) % NTHREADS;
	for (int i = 0; i < NLIVE - NLEAK; i++) {
		free(live[other][i]);
		live[other][i] = NULL;
	}
	return NULL;
}

int main(void)
{
	pthread_t th[NTHREADS];

	if (pthread_barrier_init(&phase, NULL, NTHREADS) != 0)
		return 1;
	for (long t = 0; t < NTHREADS; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)t) != 0) /* SAMPLED_CREATE */
			return 1;
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	return 0;
}
