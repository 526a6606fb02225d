/*
 * plumb/batch.h - bounded concurrency: a worker pool with a bounded queue,
 * the two ways of processing a list at most N items at a time (fixed
 * batches with a barrier between them, or a sliding window), and an
 * errgroup-like group of tasks.
 *
 * Which to use: plumb_batch_window keeps `limit` items in flight at all
 * times, so a slow item delays only itself; plumb_batch_run waits at every
 * batch boundary for the slowest item of the batch.  Use the batches only
 * when each batch must be complete before the next one starts (a commit per
 * batch, say); otherwise the window finishes sooner on uneven work.
 */
#ifndef PLUMB_BATCH_H
#define PLUMB_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A fixed set of worker threads fed by a bounded queue of tasks. */
typedef struct plumb_pool plumb_pool;

/*
 * plumb_pool_new - starts @threads workers (at least 1) behind a queue of
 * @queue_cap tasks (0 picks 4 per thread).  Returns the pool, or NULL with
 * errno set.  An idle pool's workers sleep; they use no CPU.
 */
plumb_pool *plumb_pool_new(unsigned threads, size_t queue_cap);

/*
 * plumb_pool_submit - queues fn(arg) to run on a worker; blocks while the
 * queue is full (back-pressure).  Never allocates.  Returns 0, or -EINVAL
 * for a NULL fn.  Must not be called after plumb_pool_free began.
 */
int plumb_pool_submit(plumb_pool *p, void (*fn)(void *arg), void *arg);

/* plumb_pool_wait - waits until every task submitted so far has finished. */
void plumb_pool_wait(plumb_pool *p);

/* plumb_pool_threads - the number of worker threads of @p. */
unsigned plumb_pool_threads(const plumb_pool *p);

/* plumb_pool_free - waits for every queued task, stops the workers, frees
 * the pool.  NULL is a no-op. */
void plumb_pool_free(plumb_pool *p);

/* What plumb_batch_run and plumb_batch_window call for each item: @item is
 * items[@index]; a non-zero return marks the item as failed. */
typedef int (*plumb_batch_fn)(void *item, size_t index, void *ctx);

/*
 * plumb_batch_run - approach 1: the items in batches of @batch_size, one
 * batch after another; the items of a batch run in parallel (one thread
 * each, at most 1024 threads) and the next batch starts only when the whole batch has ended.
 * Every item runs once.  Returns 0 if every call returned 0, else the
 * return of the failed item with the lowest index; -EINVAL for a batch size
 * of 0; -errno if the threads could not start (then nothing ran).
 */
int plumb_batch_run(void *const *items, size_t n, size_t batch_size, plumb_batch_fn fn, void *ctx);

/*
 * plumb_batch_window - approach 2: at most @limit items in flight, a new one
 * starting as soon as one ends.  Every item runs once.  Returns as
 * plumb_batch_run does.
 */
int plumb_batch_window(void *const *items, size_t n, size_t limit, plumb_batch_fn fn, void *ctx);

/* A group of tasks run on a pool: wait for all, the first error cancels. */
typedef struct plumb_group plumb_group;

enum {
	/* Keep going after an error: every task runs; plumb_group_failed counts. */
	PLUMB_GROUP_COLLECT = 1 << 0,
};

/* A group task; a non-zero return is an error.  Long tasks may poll
 * plumb_group_cancelled(g) and return early. */
typedef int (*plumb_group_fn)(plumb_group *g, void *arg);

/*
 * plumb_group_new - a group whose tasks run on @pool (which it does not
 * own and which must outlive it); @flags is 0 or PLUMB_GROUP_COLLECT.
 * Returns NULL with errno set on failure.
 */
plumb_group *plumb_group_new(plumb_pool *pool, int flags);

/*
 * plumb_group_go - submits fn(g, arg) (blocking while the pool's queue is
 * full).  After a cancellation (the first error without COLLECT, or
 * plumb_group_cancel), tasks not yet started do not run and count as
 * -ECANCELED.  Returns the task's index (its submission order, from 0), or
 * -ENOMEM.  Call from one thread at a time.
 */
long plumb_group_go(plumb_group *g, plumb_group_fn fn, void *arg);

/* plumb_group_cancel - cancels the group: tasks not started are skipped and
 * plumb_group_cancelled becomes true. */
void plumb_group_cancel(plumb_group *g);

/* plumb_group_cancelled - true once the group is cancelled. */
bool plumb_group_cancelled(const plumb_group *g);

/*
 * plumb_group_wait - waits for every task submitted.  Returns 0 if all
 * returned 0, else the first error in time (-ECANCELED only if cancelled by
 * plumb_group_cancel with no task failing).
 */
int plumb_group_wait(plumb_group *g);

/* plumb_group_result - after plumb_group_wait: the return of task @index
 * (submission order), -ECANCELED if it was skipped, -ERANGE if no such task. */
int plumb_group_result(const plumb_group *g, size_t index);

/* plumb_group_failed - after plumb_group_wait: how many tasks failed or
 * were skipped. */
size_t plumb_group_failed(const plumb_group *g);

/* plumb_group_free - waits for the group's tasks, then frees it. */
void plumb_group_free(plumb_group *g);

#ifdef __cplusplus
}
#endif
#endif
