/*
 * bench_batch.c - the batch library's costs: empty tasks through the pool,
 * and the note's two approaches on tasks of uneven length.
 *
 *   bench_batch pool [THREADS [TASKS]]     empty tasks per second
 *   bench_batch uneven [ITEMS [LIMIT]]     batches vs window, 1-10 ms tasks
 *
 * The uneven tasks sleep 1 to 10 ms, drawn from a fixed seed, so every run
 * sees the same list.  Output lines: "NAME VALUE UNIT".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <plumb/batch.h>

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void empty(void *arg)
{
	(void)arg;
}

static int pool_bench(unsigned threads, size_t tasks)
{
	plumb_pool *p = plumb_pool_new(threads, 1024);
	if (!p)
		return 1;
	double t0 = mono();
	for (size_t i = 0; i < tasks; i++)
		plumb_pool_submit(p, empty, NULL);
	plumb_pool_wait(p);
	double t = mono() - t0;
	plumb_pool_free(p);
	printf("pool %.0f tasks/s\n", (double)tasks / t);
	printf("per-task %.0f ns\n", t / (double)tasks * 1e9);
	return 0;
}

static int sleep_item(void *item, size_t index, void *ctx)
{
	(void)index;
	(void)ctx;
	long ms = (long)(intptr_t)item;
	struct timespec ts = {0, ms * 1000000};
	nanosleep(&ts, NULL);
	return 0;
}

static int uneven_bench(size_t n, size_t limit)
{
	void **items = malloc(n * sizeof *items);
	if (!items)
		return 1;
	uint32_t seed = 12345;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		items[i] = (void *)(intptr_t)(1 + (seed >> 16) % 10);
	}
	double t0 = mono();
	plumb_batch_run(items, n, limit, sleep_item, NULL);
	double tb = mono() - t0;
	t0 = mono();
	plumb_batch_window(items, n, limit, sleep_item, NULL);
	double tw = mono() - t0;
	printf("batches %.3f s\n", tb);
	printf("window %.3f s\n", tw);
	printf("ratio %.2f x\n", tb / tw);
	free(items);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "pool"))
		return pool_bench(argc > 2 ? (unsigned)atoi(argv[2]) : 2,
		                  argc > 3 ? (size_t)atol(argv[3]) : 2000000);
	if (argc > 1 && !strcmp(argv[1], "uneven"))
		return uneven_bench(argc > 2 ? (size_t)atol(argv[2]) : 500,
		                    argc > 3 ? (size_t)atol(argv[3]) : 10);
	fprintf(stderr, "usage: bench_batch pool [THREADS [TASKS]] | uneven [ITEMS [LIMIT]]\n");
	return 2;
}
