/*
 * test_memtrace.c - memtrace's API in-process: this program links the
 * tracer (libplumb-memtrace), so its own mallocs are what gets traced.
 *
 * What is asserted, each time against allocations this file makes at lines
 * it records: start/stop/is_tracing and their errors; the traced current
 * and peak bytes exactly (malloc, calloc, realloc, free, reset_peak,
 * clear_traces, frees of blocks allocated before start); a block's
 * traceback (frame 0 is the line here that called malloc, frame 1 its
 * caller) and its formatting; snapshot statistics by filename, line and
 * traceback, cumulative too, and compare_to, with exact sizes, counts,
 * order and tracemalloc's text; filters by file, line, all frames and
 * domain; blocks of another allocator tracked in a domain; a snapshot
 * dumped and loaded back, and bad files refused; the tracer's own memory;
 * memory the API takes for itself never counted as traced; a million
 * malloc/free pairs from four threads leaving exact totals.
 *
 * Between start and a snapshot nothing but the code under test allocates
 * (cmocka's asserts allocate nothing while they pass), so totals of whole
 * snapshots are exact.  Each test stops tracing when it ends (teardown).
 * Not run where a sanitizer replaces malloc.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <plumb/memtrace.h>

#define THIS_FILE "test_memtrace.c"

/* ---- Helpers ---- */

/* Makes @p escape, so the compiler keeps an allocation it could drop. */
static void use(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* Whether a file name is this file's ("/x/y/test_memtrace.c" or the bare name). */
static bool is_this_file(const char *filename)
{
	return filename && (!strcmp(filename, THIS_FILE) || ends_with(filename, "/" THIS_FILE));
}

/* A formatted statistic from this file's name on, without its directory. */
static const char *from_file(const char *s)
{
	const char *name = strstr(s, THIS_FILE);
	return name ? name : s;
}

static int stop_tracing(void **state)
{
	(void)state;
	plumb_memtrace_stop();
	return 0;
}

static void traced(size_t *current, size_t *peak)
{
	plumb_memtrace_get_traced_memory(current, peak);
}

/* The traced current and peak bytes are exactly these (macros: a failure
 * names the test's line).  SIZE_MAX first: the call must write them. */
#define assert_traced(want_cur, want_peak)                                                         \
	do {                                                                                       \
		size_t cur_ = SIZE_MAX, peak_ = SIZE_MAX;                                          \
		traced(&cur_, &peak_);                                                             \
		assert_int_equal(cur_, (want_cur));                                                \
		assert_int_equal(peak_, (want_peak));                                              \
	} while (0)

#define assert_traced_current(want_cur)                                                            \
	do {                                                                                       \
		size_t cur_ = SIZE_MAX, peak_;                                                     \
		traced(&cur_, &peak_);                                                             \
		assert_int_equal(cur_, (want_cur));                                                \
	} while (0)

/* Whether @tb's innermost frame is at @line of this file. */
static bool at_line(const plumb_memtrace_traceback *tb, unsigned line)
{
	return tb->nframe > 0 && is_this_file(tb->frames[0].filename) &&
	       tb->frames[0].lineno == line;
}

/* The entry of a lineno (or traceback) statistics list for @line here. */
static const plumb_memtrace_stat *stat_at(const plumb_memtrace_stats *st, unsigned line)
{
	for (size_t i = 0; i < st->n; i++) {
		if (at_line(st->stats[i].traceback, line))
			return &st->stats[i];
	}
	return NULL;
}

static const plumb_memtrace_statdiff *diff_at(const plumb_memtrace_stats *st, unsigned line)
{
	for (size_t i = 0; i < st->n; i++) {
		if (at_line(st->diffs[i].traceback, line))
			return &st->diffs[i];
	}
	return NULL;
}

/* Loading @path fails with EINVAL and a message in @err (an array). */
#define assert_load_fails(path, err)                                                               \
	do {                                                                                       \
		errno = 0;                                                                         \
		(err)[0] = '\0';                                                                   \
		assert_null(plumb_memtrace_snapshot_load((path), (err), sizeof(err)));             \
		assert_int_equal(errno, EINVAL);                                                   \
		assert_true(strlen(err) > 0);                                                      \
	} while (0)

static void assert_snapshot_size(const plumb_memtrace_snapshot *s, size_t size, size_t count)
{
	size_t got_size = 0, got_count = 0;
	plumb_memtrace_snapshot_size(s, &got_size, &got_count);
	assert_int_equal(got_size, size);
	assert_int_equal(got_count, count);
}

/*
 * Allocation sites at known lines: each records the line of its malloc,
 * and does something after it (no tail call, so frame 0 is really here).
 * Written out, not made by a macro: the traceback test reads these lines'
 * source text back, and a macro would put a whole function on one line.
 */
static unsigned line_a, line_b, line_c;

static __attribute__((noinline)) void *alloc_a(size_t n)
{
	line_a = __LINE__ + 1;
	void *p = malloc(n);
	use(p);
	return p;
}

static __attribute__((noinline)) void *alloc_b(size_t n)
{
	line_b = __LINE__ + 1;
	void *p = malloc(n);
	use(p);
	return p;
}

static __attribute__((noinline)) void *alloc_c(size_t n)
{
	line_c = __LINE__ + 1;
	void *p = malloc(n);
	use(p);
	return p;
}

/* ---- Tracing on and off ---- */

static void test_start_stop(void **state)
{
	(void)state;
	assert_false(plumb_memtrace_is_tracing());
	assert_traced(0, 0);

	assert_int_equal(plumb_memtrace_start(0), -EINVAL);
	assert_int_equal(plumb_memtrace_start(-1), -EINVAL);
	assert_int_equal(plumb_memtrace_start(257), -EINVAL);
	assert_false(plumb_memtrace_is_tracing());

	errno = 0;
	assert_null(plumb_memtrace_take_snapshot());
	assert_int_equal(errno, EPERM);
	assert_int_equal(plumb_memtrace_track(3, 0x1000, 10), -EPERM);

	assert_int_equal(plumb_memtrace_start(1), 0);
	assert_true(plumb_memtrace_is_tracing());
	assert_int_equal(plumb_memtrace_get_traceback_limit(), 1);
	assert_int_equal(plumb_memtrace_start(256), 0);
	assert_true(plumb_memtrace_is_tracing());
	assert_int_equal(plumb_memtrace_get_traceback_limit(), 256);

	plumb_memtrace_stop();
	assert_false(plumb_memtrace_is_tracing());
	assert_traced(0, 0);
}

static void test_traced_memory_exact(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(1), 0);
	assert_traced(0, 0);

	char *a = malloc(1000);
	char *b = malloc(2000);
	use(a);
	use(b);
	assert_traced(3000, 3000);

	free(a);
	assert_traced(2000, 3000);

	plumb_memtrace_reset_peak();
	assert_traced(2000, 2000);

	char *c = calloc(10, 50);
	use(c);
	b = realloc(b, 5000);
	use(b);
	assert_traced(5500, 5500);

	b = realloc(b, 100);
	use(b);
	assert_traced(600, 5500);

	void *m = NULL;
	assert_int_equal(posix_memalign(&m, 64, 300), 0);
	void *al = aligned_alloc(128, 256);
	use(al);
	assert_traced_current(1156);

	free(b);
	free(c);
	free(m);
	free(al);
	free(NULL);
	assert_traced(0, 5500);
	assert_true(plumb_memtrace_get_tracemalloc_memory() > 0);
}

static void test_blocks_from_before_start(void **state)
{
	(void)state;
	char *old = malloc(4000);
	use(old);
	assert_int_equal(plumb_memtrace_start(1), 0);
	errno = 0;
	assert_null(plumb_memtrace_get_object_traceback(old));
	assert_int_equal(errno, ENOENT);

	char *fresh = malloc(100);
	use(fresh);
	free(old); /* never traced: not counted */
	assert_traced(100, 100);

	plumb_memtrace_clear_traces();
	assert_traced_current(0);
	assert_null(plumb_memtrace_get_object_traceback(fresh));
	free(fresh); /* forgotten by clear_traces: not counted either */
	char *after = malloc(70);
	use(after);
	assert_traced_current(70);
	free(after);
	assert_traced_current(0);
}

/* ---- Tracebacks ---- */

static unsigned line_caller;

static __attribute__((noinline)) void *call_alloc_a(size_t n)
{
	line_caller = __LINE__ + 1;
	void *p = alloc_a(n);
	use(p);
	return p;
}

static void test_object_traceback(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(8), 0);
	char *p = call_alloc_a(64);
	plumb_memtrace_traceback *tb = plumb_memtrace_get_object_traceback(p);
	assert_non_null(tb);
	assert_true(tb->nframe >= 3);
	assert_true(tb->nframe <= 8);
	assert_true(tb->total_nframe >= tb->nframe);
	assert_true(is_this_file(tb->frames[0].filename));
	assert_int_equal(tb->frames[0].lineno, line_a);
	assert_non_null(tb->frames[0].function);
	assert_string_equal(tb->frames[0].function, "alloc_a");
	assert_true(tb->frames[0].address != 0);
	assert_true(is_this_file(tb->frames[1].filename));
	assert_int_equal(tb->frames[1].lineno, line_caller);
	assert_string_equal(tb->frames[1].function, "call_alloc_a");
	assert_true(is_this_file(tb->frames[2].filename));
	assert_string_equal(tb->frames[2].function, "test_object_traceback");
	plumb_memtrace_traceback_free(tb);

	/* With the default limit of 1 frame, one frame. */
	assert_int_equal(plumb_memtrace_start(1), 0);
	char *q = call_alloc_a(32);
	tb = plumb_memtrace_get_object_traceback(q);
	assert_non_null(tb);
	assert_int_equal(tb->nframe, 1);
	assert_true(tb->total_nframe > tb->nframe); /* the stack was deeper */
	assert_int_equal(tb->frames[0].lineno, line_a);
	plumb_memtrace_traceback_free(tb);

	/* Not the start of a traced block, or freed: no traceback. */
	errno = 0;
	assert_null(plumb_memtrace_get_object_traceback(p + 1));
	assert_int_equal(errno, ENOENT);
	int on_stack;
	assert_null(plumb_memtrace_get_object_traceback(&on_stack));
	free(p);
	assert_null(plumb_memtrace_get_object_traceback(p));
	free(q);
}

static void test_traceback_format(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(3), 0);
	char *p = call_alloc_a(16);
	plumb_memtrace_traceback *tb = plumb_memtrace_get_object_traceback(p);
	assert_non_null(tb);
	assert_int_equal(tb->nframe, 3);

	char text[8192];
	size_t n = plumb_memtrace_traceback_format(tb, 0, true, text, sizeof text);
	assert_true(n > 0 && n < sizeof text);
	assert_int_equal(strlen(text), n);
	/* Most recent first: alloc_a's frame, its source line, then the caller. */
	char want[256];
	snprintf(want, sizeof want, THIS_FILE "\", line %u\n    void *p = malloc(n);\n", line_a);
	char *first = strstr(text, want);
	assert_non_null(first);
	assert_true(strncmp(text, "  File \"", 8) == 0);
	assert_null(memchr(text, '\n', (size_t)(first - text))); /* on the first line */
	snprintf(want, sizeof want, THIS_FILE "\", line %u\n    void *p = alloc_a(n);\n",
	         line_caller);
	char *second = strstr(text, want);
	assert_non_null(second);
	assert_true(second > first);

	/* Oldest first: the same lines in the other order. */
	char rev[8192];
	assert_int_equal(plumb_memtrace_traceback_format(tb, 0, false, rev, sizeof rev), n);
	snprintf(want, sizeof want, "\", line %u\n    void *p = malloc(n);\n", line_a);
	first = strstr(rev, want);
	snprintf(want, sizeof want, "\", line %u\n    void *p = alloc_a(n);\n", line_caller);
	second = strstr(rev, want);
	assert_non_null(first);
	assert_non_null(second);
	assert_true(second < first);

	/* limit 1: the most recent frame only (tracemalloc's self[-1:]). */
	char one[8192];
	size_t n1 = plumb_memtrace_traceback_format(tb, 1, false, one, sizeof one);
	assert_true(n1 < n);
	snprintf(want, sizeof want, "\", line %u\n    void *p = malloc(n);\n", line_a);
	assert_non_null(strstr(one, want));
	assert_null(strstr(one, "alloc_a(n);"));

	/* snprintf-like: cut and terminated, the whole length returned. */
	char small[10];
	memset(small, 'x', sizeof small);
	assert_int_equal(plumb_memtrace_traceback_format(tb, 0, true, small, sizeof small), n);
	assert_int_equal(small[9], '\0');
	assert_memory_equal(small, text, 9);

	plumb_memtrace_traceback_free(tb);
	free(p);
}

/* ---- Snapshots and statistics ---- */

static void test_statistics_exact(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(1), 0);
	void *a[3], *b[2];
	for (int i = 0; i < 3; i++)
		a[i] = alloc_a(100);
	for (int i = 0; i < 2; i++)
		b[i] = alloc_b(50);
	plumb_memtrace_snapshot *s = plumb_memtrace_take_snapshot();
	assert_non_null(s);
	assert_int_equal(plumb_memtrace_snapshot_traceback_limit(s), 1);
	assert_snapshot_size(s, 400, 5);

	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 2);
	const plumb_memtrace_stat *sa = stat_at(st, line_a), *sb = stat_at(st, line_b);
	assert_non_null(sa);
	assert_non_null(sb);
	assert_ptr_equal(sa, &st->stats[0]); /* biggest first */
	assert_int_equal(sa->size, 300);
	assert_int_equal(sa->count, 3);
	assert_int_equal(sb->size, 100);
	assert_int_equal(sb->count, 2);
	char line[512], want[64];
	plumb_memtrace_stat_format(sa, line, sizeof line);
	snprintf(want, sizeof want, THIS_FILE ":%u: size=300 B, count=3, average=100 B", line_a);
	assert_string_equal(from_file(line), want);
	size_t need = plumb_memtrace_stat_format(sb, line, 8);
	assert_int_equal(strlen(line), 7);
	plumb_memtrace_stat_format(sb, line, sizeof line);
	assert_int_equal(need, strlen(line));
	plumb_memtrace_stats_free(st);

	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_FILENAME, false);
	assert_non_null(st);
	assert_int_equal(st->n, 1);
	assert_true(is_this_file(st->stats[0].traceback->frames[0].filename));
	assert_int_equal(st->stats[0].traceback->frames[0].lineno, 0);
	assert_int_equal(st->stats[0].size, 400);
	assert_int_equal(st->stats[0].count, 5);
	plumb_memtrace_stat_format(&st->stats[0], line, sizeof line);
	assert_string_equal(from_file(line), THIS_FILE ":0: size=400 B, count=5, average=80 B");
	plumb_memtrace_stats_free(st);

	/* One frame a traceback: grouping by traceback is grouping by line. */
	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	assert_non_null(st);
	assert_int_equal(st->n, 2);
	assert_int_equal(st->stats[0].size, 300);
	assert_int_equal(st->stats[1].size, 100);
	plumb_memtrace_stats_free(st);

	errno = 0;
	assert_null(plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, true));
	assert_int_equal(errno, EINVAL);

	/* The snapshot stays what it was when the blocks go, and after stop. */
	for (int i = 0; i < 3; i++)
		free(a[i]);
	for (int i = 0; i < 2; i++)
		free(b[i]);
	plumb_memtrace_stop();
	assert_snapshot_size(s, 400, 5);
	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 2);
	assert_int_equal(stat_at(st, line_a)->size, 300);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);
}

static unsigned line_call_b1, line_call_b2;

static __attribute__((noinline)) void *via_b1(size_t n)
{
	line_call_b1 = __LINE__ + 1;
	void *p = alloc_b(n);
	use(p);
	return p;
}

static __attribute__((noinline)) void *via_b2(size_t n)
{
	line_call_b2 = __LINE__ + 1;
	void *p = alloc_b(n);
	use(p);
	return p;
}

static void test_statistics_cumulative(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(16), 0);
	void *p[5];
	for (int i = 0; i < 3; i++)
		p[i] = via_b1(100);
	for (int i = 3; i < 5; i++)
		p[i] = via_b2(50);
	plumb_memtrace_snapshot *s = plumb_memtrace_take_snapshot();
	assert_non_null(s);
	assert_snapshot_size(s, 400, 5);

	/* Not cumulative: one line, alloc_b's. */
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 1);
	assert_int_equal(stat_at(st, line_b)->size, 400);
	plumb_memtrace_stats_free(st);

	/* By traceback: the two call paths apart. */
	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	assert_non_null(st);
	assert_int_equal(st->n, 2);
	assert_int_equal(st->stats[0].size, 300);
	assert_int_equal(st->stats[0].count, 3);
	assert_int_equal(st->stats[1].size, 100);
	assert_int_equal(st->stats[1].count, 2);
	plumb_memtrace_stats_free(st);

	/* Cumulative: each block counts at every line of its stack. */
	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, true);
	assert_non_null(st);
	const plumb_memtrace_stat *sb = stat_at(st, line_b);
	const plumb_memtrace_stat *s1 = stat_at(st, line_call_b1);
	const plumb_memtrace_stat *s2 = stat_at(st, line_call_b2);
	assert_non_null(sb);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_int_equal(sb->size, 400);
	assert_int_equal(sb->count, 5);
	assert_int_equal(s1->size, 300);
	assert_int_equal(s1->count, 3);
	assert_int_equal(s2->size, 100);
	assert_int_equal(s2->count, 2);
	for (size_t i = 0; i < st->n; i++)
		assert_true(st->stats[i].size <= 400);
	plumb_memtrace_stats_free(st);

	/* Cumulative by file: this file is one entry, made of whole blocks of
	 * 80 bytes on average, at least all five of them. */
	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_FILENAME, true);
	assert_non_null(st);
	size_t here = 0;
	for (size_t i = 0; i < st->n; i++) {
		if (is_this_file(st->stats[i].traceback->frames[0].filename)) {
			here++;
			assert_true(st->stats[i].size >= 400);
			assert_int_equal(st->stats[i].size % 400, 0);
			assert_int_equal(st->stats[i].size, 80 * st->stats[i].count);
		}
	}
	assert_int_equal(here, 1);
	plumb_memtrace_stats_free(st);

	plumb_memtrace_snapshot_free(s);
	for (int i = 0; i < 5; i++)
		free(p[i]);
}

static void test_compare_to(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(1), 0);
	void *a0 = alloc_a(1000);
	void *b0 = alloc_b(200);
	plumb_memtrace_snapshot *s1 = plumb_memtrace_take_snapshot();
	assert_non_null(s1);
	free(b0);
	void *a1 = alloc_a(1000), *a2 = alloc_a(1000);
	void *c0 = alloc_c(30);
	plumb_memtrace_snapshot *s2 = plumb_memtrace_take_snapshot();
	assert_non_null(s2);
	assert_snapshot_size(s1, 1200, 2);
	assert_snapshot_size(s2, 3030, 4);

	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_compare_to(s2, s1, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 3);
	/* Sorted by |size_diff|: a (+2000), b (-200), c (+30). */
	assert_ptr_equal(diff_at(st, line_a), &st->diffs[0]);
	assert_ptr_equal(diff_at(st, line_b), &st->diffs[1]);
	assert_ptr_equal(diff_at(st, line_c), &st->diffs[2]);
	const plumb_memtrace_statdiff *da = &st->diffs[0], *db = &st->diffs[1], *dc = &st->diffs[2];
	assert_int_equal(da->size, 3000);
	assert_int_equal(da->size_diff, 2000);
	assert_int_equal(da->count, 3);
	assert_int_equal(da->count_diff, 2);
	assert_int_equal(db->size, 0);
	assert_int_equal(db->size_diff, -200);
	assert_int_equal(db->count, 0);
	assert_int_equal(db->count_diff, -1);
	assert_int_equal(dc->size, 30);
	assert_int_equal(dc->size_diff, 30);
	assert_int_equal(dc->count, 1);
	assert_int_equal(dc->count_diff, 1);

	char line[512], want[128];
	plumb_memtrace_statdiff_format(da, line, sizeof line);
	snprintf(want, sizeof want,
	         THIS_FILE ":%u: size=3000 B (+2000 B), count=3 (+2), average=1000 B", line_a);
	assert_string_equal(from_file(line), want);
	plumb_memtrace_statdiff_format(db, line, sizeof line);
	snprintf(want, sizeof want, THIS_FILE ":%u: size=0 B (-200 B), count=0 (-1)", line_b);
	assert_string_equal(from_file(line), want);
	plumb_memtrace_statdiff_format(dc, line, sizeof line);
	snprintf(want, sizeof want, THIS_FILE ":%u: size=30 B (+30 B), count=1 (+1), average=30 B",
	         line_c);
	assert_string_equal(from_file(line), want);
	plumb_memtrace_stats_free(st);

	/* The other way round, every sign flips. */
	st = plumb_memtrace_snapshot_compare_to(s1, s2, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 3);
	assert_int_equal(diff_at(st, line_a)->size_diff, -2000);
	assert_int_equal(diff_at(st, line_b)->size_diff, 200);
	assert_int_equal(diff_at(st, line_c)->size, 0);
	assert_int_equal(diff_at(st, line_c)->count_diff, -1);
	plumb_memtrace_stats_free(st);

	plumb_memtrace_snapshot_free(s1);
	plumb_memtrace_snapshot_free(s2);
	free(a0);
	free(a1);
	free(a2);
	free(c0);
}

static void test_format_size(void **state)
{
	(void)state;
	static const struct {
		double size;
		bool sign;
		const char *text;
	} cases[] = {
	        {0, false, "0 B"},
	        {12, false, "12 B"},
	        {-200, true, "-200 B"},
	        {10239, false, "10239 B"},
	        {10240, false, "10.0 KiB"},
	        {80000, false, "78.1 KiB"},
	        {80000, true, "+78.1 KiB"},
	        {160000, false, "156 KiB"},
	        {320000, true, "+312 KiB"},
	        {400000, false, "391 KiB"},
	        {1572864, false, "1536 KiB"},
	        {15728640, false, "15.0 MiB"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[32];
		size_t n =
		        plumb_memtrace_format_size(cases[i].size, cases[i].sign, buf, sizeof buf);
		assert_string_equal(buf, cases[i].text);
		assert_int_equal(n, strlen(cases[i].text));
	}
	plumb_memtrace_key key;
	assert_int_equal(plumb_memtrace_key_parse("filename", &key), 0);
	assert_int_equal(key, PLUMB_MEMTRACE_BY_FILENAME);
	assert_int_equal(plumb_memtrace_key_parse("lineno", &key), 0);
	assert_int_equal(key, PLUMB_MEMTRACE_BY_LINENO);
	assert_int_equal(plumb_memtrace_key_parse("traceback", &key), 0);
	assert_int_equal(key, PLUMB_MEMTRACE_BY_TRACEBACK);
	assert_int_equal(plumb_memtrace_key_parse("line", &key), -EINVAL);
}

/* ---- Filters and domains ---- */

static size_t filtered_size(const plumb_memtrace_snapshot *s, const plumb_memtrace_filter *f,
                            size_t n, size_t *count)
{
	plumb_memtrace_snapshot *out = plumb_memtrace_snapshot_filter_traces(s, f, n);
	assert_non_null(out);
	size_t size = 0;
	plumb_memtrace_snapshot_size(out, &size, count);
	plumb_memtrace_snapshot_free(out);
	return size;
}

static void test_filters(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(4), 0);
	void *a = call_alloc_a(1000);
	void *b0 = alloc_b(200), *b1 = alloc_b(200);
	plumb_memtrace_snapshot *s = plumb_memtrace_take_snapshot();
	assert_non_null(s);
	assert_snapshot_size(s, 1400, 3);
	size_t count;

	const plumb_memtrace_filter here = {true, "*" THIS_FILE, 0, false, -1};
	assert_int_equal(filtered_size(s, &here, 1, &count), 1400);
	assert_int_equal(count, 3);
	assert_int_equal(filtered_size(s, NULL, 0, &count), 1400);

	const plumb_memtrace_filter not_here = {false, "*" THIS_FILE, 0, false, -1};
	assert_int_equal(filtered_size(s, &not_here, 1, &count), 0);
	assert_int_equal(count, 0);

	const plumb_memtrace_filter elsewhere = {true, "*/nothing_here.c", 0, false, -1};
	assert_int_equal(filtered_size(s, &elsewhere, 1, &count), 0);

	const plumb_memtrace_filter only_b = {true, "*" THIS_FILE, line_b, false, -1};
	assert_int_equal(filtered_size(s, &only_b, 1, &count), 400);
	assert_int_equal(count, 2);

	const plumb_memtrace_filter not_b = {false, "*" THIS_FILE, line_b, false, -1};
	assert_int_equal(filtered_size(s, &not_b, 1, &count), 1000);
	assert_int_equal(count, 1);

	/* Any inclusive filter lets a block in; any exclusive one keeps it out. */
	const plumb_memtrace_filter a_or_b[] = {
	        {true, "*" THIS_FILE, line_a, false, -1},
	        {true, "*" THIS_FILE, line_b, false, -1},
	};
	assert_int_equal(filtered_size(s, a_or_b, 2, &count), 1400);
	const plumb_memtrace_filter in_and_out[] = {
	        {true, "*" THIS_FILE, line_a, false, -1},
	        {false, "*" THIS_FILE, line_a, false, -1},
	};
	assert_int_equal(filtered_size(s, in_and_out, 2, &count), 0);

	/* call_alloc_a's line is frame 1 of a's stack: only all_frames sees it. */
	const plumb_memtrace_filter caller = {true, "*" THIS_FILE, line_caller, false, -1};
	assert_int_equal(filtered_size(s, &caller, 1, &count), 0);
	const plumb_memtrace_filter caller_all = {true, "*" THIS_FILE, line_caller, true, -1};
	assert_int_equal(filtered_size(s, &caller_all, 1, &count), 1000);
	assert_int_equal(count, 1);

	/* Filtering by file before statistics, as the memleak example does. */
	plumb_memtrace_snapshot *only = plumb_memtrace_snapshot_filter_traces(s, &only_b, 1);
	assert_non_null(only);
	assert_int_equal(plumb_memtrace_snapshot_traceback_limit(only), 4);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(only, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 1);
	assert_int_equal(stat_at(st, line_b)->count, 2);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(only);

	plumb_memtrace_snapshot_free(s);
	free(a);
	free(b0);
	free(b1);
}

static void test_domains(void **state)
{
	(void)state;
	static char pool[4096]; /* another allocator's memory */
	assert_int_equal(plumb_memtrace_start(1), 0);
	void *m = alloc_a(100);
	unsigned track_line = __LINE__ + 1;
	assert_int_equal(plumb_memtrace_track(7, (uintptr_t)pool, 500), 0);
	assert_int_equal(plumb_memtrace_track(9, (uintptr_t)(pool + 1024), 64), 0);
	assert_int_equal(plumb_memtrace_track(0, (uintptr_t)(pool + 2048), 10), -EINVAL);
	assert_int_equal(plumb_memtrace_untrack(7, (uintptr_t)(pool + 8)), -ENOENT);
	assert_int_equal(plumb_memtrace_untrack(9, (uintptr_t)pool), -ENOENT);

	assert_traced_current(664);

	plumb_memtrace_snapshot *s = plumb_memtrace_take_snapshot();
	assert_non_null(s);
	assert_snapshot_size(s, 664, 3);
	size_t count;
	const plumb_memtrace_filter d7 = {true, NULL, 0, false, 7};
	assert_int_equal(filtered_size(s, &d7, 1, &count), 500);
	assert_int_equal(count, 1);
	const plumb_memtrace_filter not_d7 = {false, NULL, 0, false, 7};
	assert_int_equal(filtered_size(s, &not_d7, 1, &count), 164);
	assert_int_equal(count, 2);
	const plumb_memtrace_filter malloc_only = {true, NULL, 0, false, 0};
	assert_int_equal(filtered_size(s, &malloc_only, 1, &count), 100);
	/* A file filter restricted to a domain: tracemalloc's Filter(domain=). */
	const plumb_memtrace_filter here_d9 = {true, "*" THIS_FILE, 0, false, 9};
	assert_int_equal(filtered_size(s, &here_d9, 1, &count), 64);
	assert_int_equal(count, 1);

	/* The tracked block's stack is where track was called. */
	plumb_memtrace_snapshot *only7 = plumb_memtrace_snapshot_filter_traces(s, &d7, 1);
	assert_non_null(only7);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(only7, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 1);
	assert_true(is_this_file(st->stats[0].traceback->frames[0].filename));
	assert_int_equal(st->stats[0].traceback->frames[0].lineno, track_line);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(only7);
	plumb_memtrace_snapshot_free(s);

	assert_int_equal(plumb_memtrace_untrack(7, (uintptr_t)pool), 0);
	assert_int_equal(plumb_memtrace_untrack(7, (uintptr_t)pool), -ENOENT);
	assert_traced(164, 664);
	assert_int_equal(plumb_memtrace_untrack(9, (uintptr_t)(pool + 1024)), 0);
	free(m);
	assert_traced_current(0);
}

/* ---- Dump and load ---- */

static void temp_path(char *path, size_t len, const char *name)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, len, "%s/test_memtrace.%d.%s", dir && *dir ? dir : "/tmp", (int)getpid(),
	         name);
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void test_dump_load(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(4), 0);
	void *a = call_alloc_a(1000);
	void *b0 = alloc_b(200), *b1 = alloc_b(200);
	plumb_memtrace_snapshot *s = plumb_memtrace_take_snapshot();
	assert_non_null(s);
	plumb_memtrace_stop();

	char path[4096];
	temp_path(path, sizeof path, "pmt");
	assert_int_equal(plumb_memtrace_snapshot_dump(s, path), 0);
	char err[256] = "";
	plumb_memtrace_snapshot *l = plumb_memtrace_snapshot_load(path, err, sizeof err);
	assert_non_null(l);
	assert_int_equal(plumb_memtrace_snapshot_traceback_limit(l), 4);
	assert_snapshot_size(l, 1400, 3);

	plumb_memtrace_stats *st0 =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	plumb_memtrace_stats *st1 =
	        plumb_memtrace_snapshot_statistics(l, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	assert_non_null(st0);
	assert_non_null(st1);
	assert_int_equal(st0->n, 2);
	assert_int_equal(st1->n, st0->n);
	for (size_t i = 0; i < st0->n; i++) {
		const plumb_memtrace_stat *x = &st0->stats[i], *y = &st1->stats[i];
		assert_int_equal(y->size, x->size);
		assert_int_equal(y->count, x->count);
		assert_int_equal(y->traceback->nframe, x->traceback->nframe);
		for (size_t f = 0; f < x->traceback->nframe; f++) {
			const plumb_memtrace_frame *fx = &x->traceback->frames[f];
			const plumb_memtrace_frame *fy = &y->traceback->frames[f];
			assert_string_equal(fy->filename, fx->filename);
			assert_int_equal(fy->lineno, fx->lineno);
			assert_int_equal(fy->address, fx->address);
		}
	}
	const plumb_memtrace_stat *la = stat_at(st1, line_a);
	assert_non_null(la);
	assert_int_equal(la->size, 1000);
	assert_int_equal(la->traceback->frames[1].lineno, line_caller);
	plumb_memtrace_stats_free(st0);
	plumb_memtrace_stats_free(st1);

	/* Cut short: the preamble alone, and half the file. */
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char bytes[1 << 20];
	size_t n = fread(bytes, 1, sizeof bytes, f);
	fclose(f);
	assert_true(n > 8 && n < sizeof bytes);
	assert_memory_equal(bytes, "PMT\x01", 4);
	char cut[4096];
	temp_path(cut, sizeof cut, "cut");
	write_file(cut, bytes, 8);
	assert_load_fails(cut, err);
	write_file(cut, bytes, n / 2);
	assert_load_fails(cut, err);

	unlink(cut);
	unlink(path);
	plumb_memtrace_snapshot_free(l);
	plumb_memtrace_snapshot_free(s);
	free(a);
	free(b0);
	free(b1);
}

static void test_load_bad_files(void **state)
{
	(void)state;
	char path[4096], err[256];
	temp_path(path, sizeof path, "bad");

	static const char text[] = "this is not a trace file, only some text\n";
	write_file(path, text, sizeof text - 1);
	assert_load_fails(path, err);

	/* The right preamble, then garbage where the zstd stream should be. */
	char junk[4096];
	memcpy(junk, "PMT\x01\x01\0\0\0", 8);
	for (size_t i = 8; i < sizeof junk; i++)
		junk[i] = (char)(i * 131 + 7);
	write_file(path, junk, sizeof junk);
	assert_load_fails(path, err);

	write_file(path, "", 0);
	assert_load_fails(path, err);
	unlink(path);

	errno = 0;
	assert_null(plumb_memtrace_snapshot_load(path, NULL, 0));
	assert_int_equal(errno, ENOENT);
}

/* ---- The API's own memory ---- */

/* Snapshots, statistics, symbols, formatting, dump and load take memory
 * from malloc inside a traced process: none of it is the program's, so
 * none of it shows in the traced current or peak (nor do its frees). */
static void test_api_allocates_untraced(void **state)
{
	(void)state;
	assert_int_equal(plumb_memtrace_start(8), 0);
	void *a = call_alloc_a(100);
	assert_traced(100, 100);

	plumb_memtrace_snapshot *s = plumb_memtrace_take_snapshot();
	assert_non_null(s);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	assert_non_null(st);
	assert_int_equal(st->n, 1);
	char line[1024];
	plumb_memtrace_stat_format(&st->stats[0], line, sizeof line);
	plumb_memtrace_stats *cum =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, true);
	assert_non_null(cum);
	plumb_memtrace_stats *diff =
	        plumb_memtrace_snapshot_compare_to(s, s, PLUMB_MEMTRACE_BY_FILENAME, false);
	assert_non_null(diff);
	const plumb_memtrace_filter here = {true, "*" THIS_FILE, 0, true, -1};
	plumb_memtrace_snapshot *f = plumb_memtrace_snapshot_filter_traces(s, &here, 1);
	assert_non_null(f);
	plumb_memtrace_traceback *tb = plumb_memtrace_get_object_traceback(a);
	assert_non_null(tb);
	char text[8192];
	plumb_memtrace_traceback_format(tb, 0, true, text, sizeof text);
	char path[4096];
	temp_path(path, sizeof path, "untraced");
	assert_int_equal(plumb_memtrace_snapshot_dump(s, path), 0);
	plumb_memtrace_snapshot *l = plumb_memtrace_snapshot_load(path, NULL, 0);
	assert_non_null(l);
	plumb_memtrace_stats *lst =
	        plumb_memtrace_snapshot_statistics(l, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(lst);
	unlink(path);

	assert_traced(100, 100);

	plumb_memtrace_stats_free(lst);
	plumb_memtrace_snapshot_free(l);
	plumb_memtrace_traceback_free(tb);
	plumb_memtrace_snapshot_free(f);
	plumb_memtrace_stats_free(diff);
	plumb_memtrace_stats_free(cum);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);
	assert_traced(100, 100);
	free(a);
	assert_traced_current(0);
}

/* ---- Threads ---- */

enum { NTHREADS = 4, PAIRS = 250000, KEEP = 1000 };

static pthread_barrier_t go;
static void *kept[NTHREADS][KEEP];
static _Atomic unsigned line_churn, line_keep; /* set by all threads alike */

static size_t keep_size(int t, int j)
{
	return 8 * (size_t)(t + 1) + (size_t)(j % 16);
}

static void *pairs_thread(void *arg)
{
	int t = (int)(intptr_t)arg;
	pthread_barrier_wait(&go);
	for (int i = 0; i < PAIRS; i++) {
		line_churn = __LINE__ + 1;
		void *p = malloc(16 + (size_t)(i * 7 + t) % 1000);
		use(p);
		free(p);
	}
	for (int j = 0; j < KEEP; j++) {
		line_keep = __LINE__ + 1;
		kept[t][j] = malloc(keep_size(t, j));
		use(kept[t][j]);
	}
	return NULL;
}

static void test_threads_million(void **state)
{
	(void)state;
	pthread_t tid[NTHREADS];
	assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS + 1), 0);
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&tid[t], NULL, pairs_thread, (void *)(intptr_t)t),
		                 0);
	/* The threads exist before tracing starts; their work is all traced. */
	assert_int_equal(plumb_memtrace_start(1), 0);
	pthread_barrier_wait(&go);
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_join(tid[t], NULL), 0);
	pthread_barrier_destroy(&go);

	size_t want = 0;
	for (int t = 0; t < NTHREADS; t++)
		for (int j = 0; j < KEEP; j++)
			want += keep_size(t, j);
	size_t cur, peak;
	traced(&cur, &peak);
	assert_int_equal(cur, want);
	assert_true(peak >= want);

	plumb_memtrace_snapshot *s = plumb_memtrace_take_snapshot();
	assert_non_null(s);
	assert_snapshot_size(s, want, NTHREADS * KEEP);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 1);
	const plumb_memtrace_stat *k = stat_at(st, line_keep);
	assert_non_null(k);
	assert_int_equal(k->size, want);
	assert_int_equal(k->count, NTHREADS * KEEP);
	assert_null(stat_at(st, line_churn));
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);

	/* This thread frees what the others allocated. */
	for (int t = 0; t < NTHREADS; t++)
		for (int j = 0; j < KEEP; j++)
			free(kept[t][j]);
	assert_traced_current(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_start_stop, stop_tracing),
	        cmocka_unit_test_teardown(test_traced_memory_exact, stop_tracing),
	        cmocka_unit_test_teardown(test_blocks_from_before_start, stop_tracing),
	        cmocka_unit_test_teardown(test_object_traceback, stop_tracing),
	        cmocka_unit_test_teardown(test_traceback_format, stop_tracing),
	        cmocka_unit_test_teardown(test_statistics_exact, stop_tracing),
	        cmocka_unit_test_teardown(test_statistics_cumulative, stop_tracing),
	        cmocka_unit_test_teardown(test_compare_to, stop_tracing),
	        cmocka_unit_test_teardown(test_format_size, stop_tracing),
	        cmocka_unit_test_teardown(test_filters, stop_tracing),
	        cmocka_unit_test_teardown(test_domains, stop_tracing),
	        cmocka_unit_test_teardown(test_dump_load, stop_tracing),
	        cmocka_unit_test_teardown(test_load_bad_files, stop_tracing),
	        cmocka_unit_test_teardown(test_api_allocates_untraced, stop_tracing),
	        cmocka_unit_test_teardown(test_threads_million, stop_tracing),
	};
	return cmocka_run_group_tests_name("memtrace", tests, NULL, NULL);
}
