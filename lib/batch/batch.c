/*
 * batch.c - the note's two ways of processing a list at most N at a time,
 * on the worker pool.
 *
 * plumb_batch_run (approach 1): a pool of batch_size threads; each batch is
 * submitted whole and plumb_pool_wait is the barrier before the next.
 * plumb_batch_window (approach 2): a pool of `limit` threads fed the whole
 * list; as only `limit` workers exist, at most `limit` items are in flight,
 * and a worker that ends one item takes the next at once.  The pool's
 * bounded queue plays the part of the note's semaphore channel.
 *
 * Both report the failure of the lowest index, so the result does not
 * depend on timing.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <plumb/batch.h>

enum { MAX_THREADS = 1024 }; /* more threads than this only cost memory */

struct run {
	void *const *items;
	plumb_batch_fn fn;
	void *ctx;
	_Atomic size_t first_fail; /* lowest failed index, SIZE_MAX if none */
	int *errs;                 /* errs[i] for each item */
};

struct item_task {
	struct run *run;
	size_t index;
};

static void run_item(void *arg)
{
	struct item_task *t = arg;
	struct run *r = t->run;
	int rc = r->fn(r->items ? r->items[t->index] : NULL, t->index, r->ctx);
	if (!rc)
		return;
	r->errs[t->index] = rc;
	size_t cur = atomic_load(&r->first_fail);
	while (t->index < cur && !atomic_compare_exchange_weak(&r->first_fail, &cur, t->index))
		;
}

/* Runs items [0, n) on a pool of `threads` workers, pool_wait every `step`. */
static int run_all(void *const *items, size_t n, size_t threads, size_t step, plumb_batch_fn fn,
                   void *ctx)
{
	if (threads == 0 || !fn)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (threads > n)
		threads = n;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	struct run r = {.items = items, .fn = fn, .ctx = ctx, .first_fail = SIZE_MAX};
	struct item_task *tasks = malloc(n * sizeof *tasks);
	r.errs = calloc(n, sizeof *r.errs);
	plumb_pool *p = NULL;
	if (tasks && r.errs)
		p = plumb_pool_new((unsigned)threads, threads);
	if (!p) {
		int err = errno ? -errno : -ENOMEM;
		free(tasks);
		free(r.errs);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		tasks[i] = (struct item_task){&r, i};
		plumb_pool_submit(p, run_item, &tasks[i]);
		if (step && (i + 1) % step == 0)
			plumb_pool_wait(p);
	}
	plumb_pool_free(p);
	size_t f = atomic_load(&r.first_fail);
	int rc = f == SIZE_MAX ? 0 : r.errs[f];
	free(tasks);
	free(r.errs);
	return rc;
}

int plumb_batch_run(void *const *items, size_t n, size_t batch_size, plumb_batch_fn fn, void *ctx)
{
	if (batch_size == 0)
		return -EINVAL;
	return run_all(items, n, batch_size, batch_size, fn, ctx);
}

int plumb_batch_window(void *const *items, size_t n, size_t limit, plumb_batch_fn fn, void *ctx)
{
	return run_all(items, n, limit, 0, fn, ctx);
}
