/*
 * memleak.c - the note "Memory Profiling in Python with tracemalloc", its
 * memleak.py and profiler.py in C on plumb's memtrace API.
 *
 * mem_leaker() stands for the note's leak: each call appends a block of
 * 10,000 int64 (80,000 bytes, filled with ones, as np.ones makes them) to
 * a global array that nothing empties.  Tracing starts with stacks of 10
 * frames; the loop calls mem_leaker() five times and takes a snapshot
 * after each call.  Then, as profiler.py does: the top 5 statistics by
 * file of the first snapshot, the top 10 differences by line between each
 * later snapshot and the first, and the traceback of the largest block of
 * the last snapshot once the blocks whose most recent frame nothing can
 * name are filtered out (tracemalloc calls such a frame "<unknown>"; ours
 * read "<module+0xoffset>", hence the pattern "<*>").
 *
 * The leaking line tops every comparison, 80,000 bytes more each time:
 *
 *   memleak.c:NN: size=156 KiB (+78.1 KiB), count=2 (+1), average=78.1 KiB
 *   ...
 *   memleak.c:NN: size=391 KiB (+312 KiB), count=5 (+4), average=78.1 KiB
 *
 * The note's figures (235, 313 KiB...) carry numpy's small per-array
 * header; these are the exact multiples.  The global array is a fixed
 * array of five pointers, so it never grows and nothing else is counted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plumb/memtrace.h>

enum { NITER = 5, NELEM = 10000, NFRAME = 10, TOP_FILES = 5, TOP_DIFFS = 10 };

static int64_t *arr[NITER];
static size_t narr;
static plumb_memtrace_snapshot *snaps[NITER];

static void die(const char *what)
{
	fprintf(stderr, "memleak: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Appends to a global array in order to simulate a memory leak.  (noinline:
 * a frame of its own in the traceback, as the note's function has.) */
static __attribute__((noinline)) void mem_leaker(void)
{
	int64_t *block = malloc(NELEM * sizeof(int64_t));
	if (!block)
		die("malloc");
	for (size_t i = 0; i < NELEM; i++)
		block[i] = 1;
	arr[narr++] = block;
}

static void snapshot(size_t i)
{
	snaps[i] = plumb_memtrace_take_snapshot();
	if (!snaps[i])
		die("take_snapshot");
}

static void print_stat(const plumb_memtrace_stat *st)
{
	char line[4096];
	plumb_memtrace_stat_format(st, line, sizeof line);
	puts(line);
}

static void print_statdiff(const plumb_memtrace_statdiff *st)
{
	char line[4096];
	plumb_memtrace_statdiff_format(st, line, sizeof line);
	puts(line);
}

static void display_stats(void)
{
	plumb_memtrace_stats *stats =
	        plumb_memtrace_snapshot_statistics(snaps[0], PLUMB_MEMTRACE_BY_FILENAME, false);
	if (!stats)
		die("statistics");
	printf("\n*** top %d stats grouped by filename ***\n", TOP_FILES);
	for (size_t i = 0; i < stats->n && i < TOP_FILES; i++)
		print_stat(&stats->stats[i]);
	plumb_memtrace_stats_free(stats);
}

static void compare(void)
{
	for (size_t k = 1; k < NITER; k++) {
		plumb_memtrace_stats *stats = plumb_memtrace_snapshot_compare_to(
		        snaps[k], snaps[0], PLUMB_MEMTRACE_BY_LINENO, false);
		if (!stats)
			die("compare_to");
		printf("\n*** top %d stats ***\n", TOP_DIFFS);
		for (size_t i = 0; i < stats->n && i < TOP_DIFFS; i++)
			print_statdiff(&stats->diffs[i]);
		plumb_memtrace_stats_free(stats);
	}
}

/*
 * Python prints a float as the shortest text that reads back as the same
 * number, with ".0" when it is whole: 390.625, 78.125, 78.0.
 */
static void format_py_float(double v, char *buf, size_t len)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".eni"))
		strncat(buf, ".0", len - strlen(buf) - 1);
}

static void print_trace(void)
{
	/* Pick the last saved snapshot, filter noise. */
	const plumb_memtrace_filter noise = {
	        .inclusive = false,
	        .filename_pattern = "<*>",
	        .lineno = 0,
	        .all_frames = false,
	        .domain = -1,
	};
	plumb_memtrace_snapshot *snap =
	        plumb_memtrace_snapshot_filter_traces(snaps[NITER - 1], &noise, 1);
	if (!snap)
		die("filter_traces");
	plumb_memtrace_stats *stats =
	        plumb_memtrace_snapshot_statistics(snap, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	if (!stats)
		die("statistics");
	if (stats->n == 0) {
		fprintf(stderr, "memleak: no traced block left after filtering\n");
		exit(1);
	}
	const plumb_memtrace_stat *largest = &stats->stats[0];
	char kb[64];
	format_py_float((double)largest->size / 1024, kb, sizeof kb);
	printf("\n*** Trace for largest memory block - (%zu blocks, %s Kb) ***\n", largest->count,
	       kb);

	char small[1];
	size_t need = plumb_memtrace_traceback_format(largest->traceback, 0, false, small, 1);
	char *text = malloc(need + 1);
	if (!text)
		die("malloc");
	plumb_memtrace_traceback_format(largest->traceback, 0, false, text, need + 1);
	fputs(text, stdout);
	if (need > 0 && text[need - 1] != '\n')
		putchar('\n');
	free(text);
	plumb_memtrace_stats_free(stats);
	plumb_memtrace_snapshot_free(snap);
}

int main(void)
{
	if (plumb_memtrace_start(NFRAME) != 0) {
		fprintf(stderr, "memleak: cannot start tracing\n");
		return 1;
	}
	for (size_t i = 0; i < NITER; i++) {
		mem_leaker();
		snapshot(i);
	}
	display_stats();
	compare();
	print_trace();

	for (size_t i = 0; i < NITER; i++)
		plumb_memtrace_snapshot_free(snaps[i]);
	plumb_memtrace_stop();
	for (size_t i = 0; i < narr; i++)
		free(arr[i]);
	return 0;
}
