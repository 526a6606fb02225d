/*
 * pool.c - a fixed set of worker threads fed by a bounded ring of tasks.
 *
 * The ring is allocated once, so submitting never allocates; a submitter
 * that finds it full sleeps until a worker takes a task (back-pressure, so
 * memory stays bounded however fast tasks arrive).  One mutex guards the
 * ring and the counters, and each side signals a condition variable only
 * when it knows somebody sleeps on it (the sleeper counts), so at steady
 * state a task costs one lock round on each side and no syscall.  A worker
 * that finishes a task takes the next one under the same lock it uses to
 * account for the finished one.  Idle workers sleep on a condition
 * variable: an idle pool uses no CPU.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <plumb/batch.h>

struct task {
	void (*fn)(void *arg);
	void *arg;
};

struct plumb_pool {
	pthread_mutex_t mu;
	pthread_cond_t work; /* idle workers wait here */
	pthread_cond_t room; /* submitters wait here for a free slot */
	pthread_cond_t done; /* plumb_pool_wait waits here */
	struct task *ring;
	size_t cap, head, count;
	size_t unfinished; /* queued + running */
	unsigned idle_workers, full_waiters, done_waiters;
	bool stop;
	unsigned nthreads;
	pthread_t *threads;
};

/* Takes the next task; called with the lock held; false when stopping. */
static bool take(plumb_pool *p, struct task *t)
{
	while (p->count == 0) {
		if (p->stop)
			return false;
		p->idle_workers++;
		pthread_cond_wait(&p->work, &p->mu);
		p->idle_workers--;
	}
	*t = p->ring[p->head];
	p->head = (p->head + 1) % p->cap;
	p->count--;
	if (p->full_waiters)
		pthread_cond_signal(&p->room);
	return true;
}

static void *worker(void *arg)
{
	plumb_pool *p = arg;
	struct task t;
	pthread_mutex_lock(&p->mu);
	while (take(p, &t)) {
		pthread_mutex_unlock(&p->mu);
		t.fn(t.arg);
		pthread_mutex_lock(&p->mu);
		if (--p->unfinished == 0 && p->done_waiters)
			pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void stop_workers(plumb_pool *p, unsigned started)
{
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(p->threads[i], NULL);
}

static void destroy(plumb_pool *p)
{
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->room);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p->ring);
	free(p);
}

plumb_pool *plumb_pool_new(unsigned threads, size_t queue_cap)
{
	if (threads == 0)
		threads = 1;
	if (queue_cap == 0)
		queue_cap = 4 * (size_t)threads;
	plumb_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->cap = queue_cap;
	p->nthreads = threads;
	p->ring = calloc(queue_cap, sizeof *p->ring);
	p->threads = calloc(threads, sizeof *p->threads);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->room, NULL);
	pthread_cond_init(&p->done, NULL);
	if (!p->ring || !p->threads) {
		destroy(p);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < threads; i++) {
		int rc = pthread_create(&p->threads[i], NULL, worker, p);
		if (rc) {
			stop_workers(p, i);
			destroy(p);
			errno = rc;
			return NULL;
		}
	}
	return p;
}

int plumb_pool_submit(plumb_pool *p, void (*fn)(void *arg), void *arg)
{
	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	while (p->count == p->cap) {
		p->full_waiters++;
		pthread_cond_wait(&p->room, &p->mu);
		p->full_waiters--;
	}
	p->ring[(p->head + p->count) % p->cap] = (struct task){fn, arg};
	p->count++;
	p->unfinished++;
	if (p->idle_workers)
		pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void plumb_pool_wait(plumb_pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->unfinished) {
		p->done_waiters++;
		pthread_cond_wait(&p->done, &p->mu);
		p->done_waiters--;
	}
	pthread_mutex_unlock(&p->mu);
}

unsigned plumb_pool_threads(const plumb_pool *p)
{
	return p->nthreads;
}

void plumb_pool_free(plumb_pool *p)
{
	if (!p)
		return;
	plumb_pool_wait(p);
	stop_workers(p, p->nthreads);
	destroy(p);
}
