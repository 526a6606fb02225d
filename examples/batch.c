/*
 * batch.c - the note "Batch Processing in Go", its two programs in C.
 *
 * 100 integers, at most 10 at a time: first in fixed batches of 10, each
 * batch's items in parallel and a barrier between batches (approach 1,
 * plumb_batch_run), then through a window of 10 where a new item starts as
 * soon as one ends (approach 2, plumb_batch_window).  Each prints every
 * integer once, in whatever order the threads reach it, then "done
 * processing all data".
 *
 *   batch [batches|window]     (default: both, batches first)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <plumb/batch.h>

enum { N = 100, BATCH_SIZE = 10 };

static int print_item(void *item, size_t index, void *ctx)
{
	(void)index;
	(void)ctx;
	/* One printf is one locked write to stdout: lines never mix. */
	printf("%d\n", (int)(intptr_t)item);
	return 0;
}

int main(int argc, char **argv)
{
	void *data[N];
	for (int i = 0; i < N; i++)
		data[i] = (void *)(intptr_t)i;
	const char *which = argc > 1 ? argv[1] : "both";
	if (strcmp(which, "window")) {
		if (plumb_batch_run(data, N, BATCH_SIZE, print_item, NULL) != 0)
			return 1;
		printf("done processing all data\n");
	}
	if (strcmp(which, "batches")) {
		if (plumb_batch_window(data, N, BATCH_SIZE, print_item, NULL) != 0)
			return 1;
		printf("done processing all data\n");
	}
	return 0;
}
