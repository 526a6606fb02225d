/*
 * test_batch.c - the worker pool, the two batch approaches and the group.
 *
 * What is asserted: every task runs exactly once (a million through the
 * pool, counted per task); the bounded queue really bounds (a submitter
 * blocks while workers are held); the batches keep their barrier (no item
 * of batch k+1 starts before every item of batch k ended) and the window
 * never exceeds its limit; the first error cancels the tasks not yet
 * started, COLLECT runs them all, and results come back in submission
 * order; an idle pool uses no CPU (a loose bound: under 20 ms in 200).
 * Nothing else depends on timing to pass; the workers are held by gates,
 * not sleeps.  The suite also runs under ThreadSanitizer.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <plumb/batch.h>

/* ---- The pool ---- */

enum { MILLION = 1000000 };

static void count_task(void *arg)
{
	atomic_fetch_add_explicit((atomic_uchar *)arg, 1, memory_order_relaxed);
}

static void test_pool_million_once(void **state)
{
	(void)state;
	atomic_uchar *seen = calloc(MILLION, sizeof *seen);
	assert_non_null(seen);
	plumb_pool *p = plumb_pool_new(4, 64);
	assert_non_null(p);
	assert_int_equal(plumb_pool_threads(p), 4);
	for (size_t i = 0; i < MILLION; i++)
		assert_int_equal(plumb_pool_submit(p, count_task, &seen[i]), 0);
	plumb_pool_wait(p);
	for (size_t i = 0; i < MILLION; i++)
		if (atomic_load(&seen[i]) != 1)
			fail_msg("task %zu ran %u times", i, (unsigned)atomic_load(&seen[i]));
	plumb_pool_free(p);
	free(seen);
}

/* A gate: tasks wait on it until the test opens it. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open, arrived;
};

static void gate_task(void *arg)
{
	struct gate *g = arg;
	pthread_mutex_lock(&g->mu);
	g->arrived++;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

struct submitter {
	plumb_pool *p;
	struct gate *g;
	atomic_int submitted;
};

static void *submit_many(void *arg)
{
	struct submitter *s = arg;
	for (int i = 0; i < 10; i++) {
		plumb_pool_submit(s->p, gate_task, s->g);
		atomic_fetch_add(&s->submitted, 1);
	}
	return NULL;
}

static void test_pool_back_pressure(void **state)
{
	(void)state;
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	plumb_pool *p = plumb_pool_new(2, 3);
	assert_non_null(p);
	struct submitter s = {p, &g, 0};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, submit_many, &s), 0);
	/* Both workers are held in the gate; the queue then fills with 3. */
	pthread_mutex_lock(&g.mu);
	while (g.arrived < 2)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	while (atomic_load(&s.submitted) < 5)
		sched_yield();
	/* 2 running + 3 queued: the submitter cannot get further. */
	for (int i = 0; i < 1000; i++)
		sched_yield();
	assert_int_equal(atomic_load(&s.submitted), 5);
	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	pthread_join(t, NULL);
	plumb_pool_free(p);
	assert_int_equal(g.arrived, 10);
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* An idle pool sleeps: 4 idle workers use well under 20 ms of CPU in 200 ms
 * (spinning would take the whole 200 ms, or more, per worker). */
static void test_pool_idle_uses_no_cpu(void **state)
{
	(void)state;
	plumb_pool *p = plumb_pool_new(4, 0);
	assert_non_null(p);
	unsigned char seen = 0;
	plumb_pool_submit(p, count_task, &seen);
	plumb_pool_wait(p);
	double c0 = cpu_seconds();
	struct timespec ts = {0, 200000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	double used = cpu_seconds() - c0;
	if (used > 0.02)
		fail_msg("an idle pool used %.3f s of CPU in 0.2 s", used);
	plumb_pool_free(p);
	assert_int_equal(seen, 1);
}

static void test_pool_bad_args(void **state)
{
	(void)state;
	plumb_pool *p = plumb_pool_new(0, 0);
	assert_non_null(p);
	assert_int_equal(plumb_pool_threads(p), 1);
	assert_int_equal(plumb_pool_submit(p, NULL, NULL), -EINVAL);
	plumb_pool_wait(p); /* nothing submitted: returns */
	plumb_pool_free(p);
	plumb_pool_free(NULL);
}

/* ---- Batches and window ---- */

struct track {
	pthread_mutex_t mu;
	size_t running, max_running;
	size_t batch; /* batch size, for the barrier check */
	size_t ended; /* items ended so far */
	int barrier_broken;
	atomic_uchar seen[1000];
	size_t fail_at[2]; /* indices that return an error */
};

static int track_fn(void *item, size_t index, void *ctx)
{
	struct track *t = ctx;
	assert_ptr_equal(item, (void *)(uintptr_t)(index + 1));
	pthread_mutex_lock(&t->mu);
	if (t->batch && t->ended < index / t->batch * t->batch)
		t->barrier_broken = 1;
	if (++t->running > t->max_running)
		t->max_running = t->running;
	pthread_mutex_unlock(&t->mu);
	atomic_fetch_add(&t->seen[index], 1);
	for (volatile int i = 0; i < 2000; i++)
		;
	pthread_mutex_lock(&t->mu);
	t->running--;
	t->ended++;
	pthread_mutex_unlock(&t->mu);
	if (index == t->fail_at[0] || index == t->fail_at[1])
		return -(int)(index + 1);
	return 0;
}

static void **make_items(size_t n)
{
	void **items = malloc(n * sizeof *items);
	for (size_t i = 0; i < n; i++)
		items[i] = (void *)(uintptr_t)(i + 1);
	return items;
}

static void test_batch_run_barrier(void **state)
{
	(void)state;
	static struct track t = {.mu = PTHREAD_MUTEX_INITIALIZER, .batch = 10};
	t.fail_at[0] = t.fail_at[1] = SIZE_MAX;
	void **items = make_items(1000);
	assert_int_equal(plumb_batch_run(items, 1000, 10, track_fn, &t), 0);
	assert_int_equal(t.barrier_broken, 0);
	assert_true(t.max_running <= 10);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(atomic_load(&t.seen[i]), 1);
	free(items);
}

static void test_batch_window_limit_and_error(void **state)
{
	(void)state;
	static struct track t = {.mu = PTHREAD_MUTEX_INITIALIZER};
	t.fail_at[0] = 700;
	t.fail_at[1] = 300;
	void **items = make_items(1000);
	/* The lowest failed index wins, and every item still runs. */
	assert_int_equal(plumb_batch_window(items, 1000, 3, track_fn, &t), -301);
	assert_true(t.max_running <= 3);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(atomic_load(&t.seen[i]), 1);
	assert_int_equal(plumb_batch_window(items, 10, 0, track_fn, &t), -EINVAL);
	assert_int_equal(plumb_batch_run(items, 10, 0, track_fn, &t), -EINVAL);
	assert_int_equal(plumb_batch_run(items, 0, 5, track_fn, &t), 0);
	free(items);
}

/* ---- The group ---- */

struct gtask {
	size_t i;
	int ret;
	atomic_int *ran;
};

static int group_fn(plumb_group *g, void *arg)
{
	struct gtask *t = arg;
	(void)g;
	atomic_fetch_add(t->ran, 1);
	return t->ret;
}

static void test_group_order_and_collect(void **state)
{
	(void)state;
	plumb_pool *p = plumb_pool_new(3, 8);
	plumb_group *g = plumb_group_new(p, PLUMB_GROUP_COLLECT);
	assert_non_null(g);
	enum { N = 2000 };
	static struct gtask ts[N];
	atomic_int ran = 0;
	for (size_t i = 0; i < N; i++) {
		ts[i] = (struct gtask){i, i % 7 == 3 ? -(int)i : (int)(i % 5 == 0 ? 0 : 0), &ran};
		assert_int_equal(plumb_group_go(g, group_fn, &ts[i]), (long)i);
	}
	int rc = plumb_group_wait(g);
	assert_true(rc < 0);
	assert_int_equal(atomic_load(&ran), N);
	size_t failed = 0;
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(plumb_group_result(g, i), ts[i].ret);
		failed += ts[i].ret != 0;
	}
	assert_int_equal(plumb_group_failed(g), failed);
	assert_int_equal(plumb_group_result(g, N), -ERANGE);
	plumb_group_free(g);
	plumb_pool_free(p);
}

/* The failing task is task 0 on a one-thread pool; the others wait on
 * nothing but find the group cancelled when their turn comes. */
static int cancel_fn(plumb_group *g, void *arg)
{
	struct gtask *t = arg;
	atomic_fetch_add(t->ran, 1);
	if (t->i == 0)
		return -EIO;
	return plumb_group_cancelled(g) ? -EINTR : 0;
}

static void test_group_first_error_cancels(void **state)
{
	(void)state;
	plumb_pool *p = plumb_pool_new(1, 4);
	plumb_group *g = plumb_group_new(p, 0);
	static struct gtask ts[100];
	atomic_int ran = 0;
	for (size_t i = 0; i < 100; i++) {
		ts[i] = (struct gtask){i, 0, &ran};
		plumb_group_go(g, cancel_fn, &ts[i]);
	}
	assert_int_equal(plumb_group_wait(g), -EIO);
	/* One worker runs in order: task 0 fails, the rest are skipped. */
	assert_int_equal(atomic_load(&ran), 1);
	assert_int_equal(plumb_group_result(g, 0), -EIO);
	for (size_t i = 1; i < 100; i++)
		assert_int_equal(plumb_group_result(g, i), -ECANCELED);
	assert_int_equal(plumb_group_failed(g), 100);
	assert_true(plumb_group_cancelled(g));
	plumb_group_free(g);

	/* An explicit cancel with no failure: wait says -ECANCELED. */
	g = plumb_group_new(p, 0);
	plumb_group_cancel(g);
	ts[1].ran = &ran;
	plumb_group_go(g, cancel_fn, &ts[1]);
	assert_int_equal(plumb_group_wait(g), -ECANCELED);
	assert_int_equal(atomic_load(&ran), 1);
	plumb_group_free(g);
	assert_null(plumb_group_new(NULL, 0));
	plumb_pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pool_million_once),
	        cmocka_unit_test(test_pool_back_pressure),
	        cmocka_unit_test(test_pool_idle_uses_no_cpu),
	        cmocka_unit_test(test_pool_bad_args),
	        cmocka_unit_test(test_batch_run_barrier),
	        cmocka_unit_test(test_batch_window_limit_and_error),
	        cmocka_unit_test(test_group_order_and_collect),
	        cmocka_unit_test(test_group_first_error_cancels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
