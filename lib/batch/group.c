/*
 * group.c - an errgroup-like group of tasks on a pool.
 *
 * Each task gets a record holding its function, its argument and, once it
 * has run, its result; records live in chunks of CHUNK that are never moved,
 * so workers can hold pointers to them while more are added, and adding a
 * task allocates only once every CHUNK tasks.  The record's index is the
 * task's submission order, which is how results are found again.
 *
 * The group counts its unfinished tasks itself (the pool may be running
 * other work too), under a small mutex that plumb_group_wait sleeps on.
 * Cancellation is one atomic flag: a task that starts after it was set does
 * not run.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <plumb/batch.h>

enum { CHUNK = 256 };

struct rec {
	plumb_group *g;
	plumb_group_fn fn;
	void *arg;
	int result;
};

struct plumb_group {
	plumb_pool *pool;
	int flags;
	atomic_bool cancelled;
	pthread_mutex_t mu;
	pthread_cond_t done;
	size_t unfinished, failed;
	bool waiting;
	int first_err;
	struct rec **chunks;
	size_t nchunks, cap_chunks, n;
};

plumb_group *plumb_group_new(plumb_pool *pool, int flags)
{
	if (!pool) {
		errno = EINVAL;
		return NULL;
	}
	plumb_group *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->pool = pool;
	g->flags = flags;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->done, NULL);
	return g;
}

static void finish(plumb_group *g, int rc)
{
	pthread_mutex_lock(&g->mu);
	if (rc) {
		g->failed++;
		if (!g->first_err || g->first_err == -ECANCELED)
			g->first_err = rc;
	}
	if (--g->unfinished == 0 && g->waiting)
		pthread_cond_broadcast(&g->done);
	pthread_mutex_unlock(&g->mu);
}

static void run_rec(void *arg)
{
	struct rec *r = arg;
	plumb_group *g = r->g;
	int rc = -ECANCELED;
	if (!atomic_load_explicit(&g->cancelled, memory_order_relaxed))
		rc = r->fn(g, r->arg);
	r->result = rc;
	if (rc && rc != -ECANCELED && !(g->flags & PLUMB_GROUP_COLLECT))
		atomic_store_explicit(&g->cancelled, true, memory_order_relaxed);
	finish(g, rc);
}

/* The record for the next task, adding a chunk when needed; NULL if out of memory. */
static struct rec *next_rec(plumb_group *g)
{
	if (g->n == g->nchunks * CHUNK) {
		if (g->nchunks == g->cap_chunks) {
			size_t cap = g->cap_chunks ? 2 * g->cap_chunks : 8;
			struct rec **c = realloc(g->chunks, cap * sizeof *c);
			if (!c)
				return NULL;
			g->chunks = c;
			g->cap_chunks = cap;
		}
		struct rec *chunk = malloc(CHUNK * sizeof *chunk);
		if (!chunk)
			return NULL;
		g->chunks[g->nchunks++] = chunk;
	}
	return &g->chunks[g->n / CHUNK][g->n % CHUNK];
}

long plumb_group_go(plumb_group *g, plumb_group_fn fn, void *arg)
{
	if (!fn)
		return -EINVAL;
	struct rec *r = next_rec(g);
	if (!r)
		return -ENOMEM;
	*r = (struct rec){g, fn, arg, 0};
	pthread_mutex_lock(&g->mu);
	g->unfinished++;
	pthread_mutex_unlock(&g->mu);
	plumb_pool_submit(g->pool, run_rec, r);
	return (long)g->n++;
}

void plumb_group_cancel(plumb_group *g)
{
	atomic_store(&g->cancelled, true);
	pthread_mutex_lock(&g->mu);
	if (!g->first_err)
		g->first_err = -ECANCELED;
	pthread_mutex_unlock(&g->mu);
}

bool plumb_group_cancelled(const plumb_group *g)
{
	return atomic_load_explicit(&g->cancelled, memory_order_relaxed);
}

int plumb_group_wait(plumb_group *g)
{
	pthread_mutex_lock(&g->mu);
	while (g->unfinished) {
		g->waiting = true;
		pthread_cond_wait(&g->done, &g->mu);
	}
	g->waiting = false;
	int rc = g->first_err;
	pthread_mutex_unlock(&g->mu);
	return rc;
}

int plumb_group_result(const plumb_group *g, size_t index)
{
	if (index >= g->n)
		return -ERANGE;
	return g->chunks[index / CHUNK][index % CHUNK].result;
}

size_t plumb_group_failed(const plumb_group *g)
{
	return g->failed;
}

void plumb_group_free(plumb_group *g)
{
	if (!g)
		return;
	plumb_group_wait(g);
	for (size_t i = 0; i < g->nchunks; i++)
		free(g->chunks[i]);
	free(g->chunks);
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->mu);
	free(g);
}
