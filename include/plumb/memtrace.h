/*
 * plumb/memtrace.h - Python's tracemalloc for native programs.
 *
 * The tracer lives in libplumb-memtrace (link it with -lplumb-memtrace, or
 * load it into any program with LD_PRELOAD, which is what `plumb memtrace
 * run` does).  It interposes malloc and its family in every thread and
 * records, for each live block, its size and the stack that allocated it.
 * Stacks are raw return addresses plus a module map; names, files and
 * lines are resolved afterwards (libdw), never while tracing.
 *
 * The functions mirror tracemalloc's, one for one:
 *
 *     tracemalloc.start(10)            plumb_memtrace_start(10)
 *     tracemalloc.take_snapshot()      plumb_memtrace_take_snapshot()
 *     snap.statistics('lineno')        plumb_memtrace_snapshot_statistics()
 *     snap.compare_to(old, 'lineno')   plumb_memtrace_snapshot_compare_to()
 *     snap.filter_traces(filters)      plumb_memtrace_snapshot_filter_traces()
 *     str(stat)                        plumb_memtrace_stat_format()
 *     traceback.format()               plumb_memtrace_traceback_format()
 *
 * A frame is described by its source file and line when debug information
 * says so; otherwise by its module and offset ("<libc.so.6+0x9a0d7>", line
 * 0), as tracemalloc uses "<unknown>" for frames it cannot name.
 *
 * Errors: functions returning int give 0 or a negative errno; those
 * returning a pointer give NULL with errno set.  Nothing here prints.
 */
#ifndef PLUMB_MEMTRACE_H
#define PLUMB_MEMTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Tracing (tracemalloc's module functions) ---- */

/*
 * plumb_memtrace_start - starts tracing allocations made from now on, each
 * with a stack of at most @nframe frames (1 to 256; tracemalloc's default
 * is 1).  Blocks allocated before are unknown to the tracer.  Calling it
 * while tracing changes the frame limit for new allocations.  Returns 0 or
 * -EINVAL.
 */
int plumb_memtrace_start(int nframe);

/* plumb_memtrace_stop - stops tracing and clears every trace, as
 * tracemalloc.stop() does.  Snapshots already taken stay valid. */
void plumb_memtrace_stop(void);

/* plumb_memtrace_is_tracing - whether allocations are being traced. */
bool plumb_memtrace_is_tracing(void);

/* plumb_memtrace_get_traceback_limit - the frame limit given to start. */
int plumb_memtrace_get_traceback_limit(void);

/* plumb_memtrace_get_traced_memory - the bytes in traced live blocks now
 * and at their peak since start (or reset_peak). Both 0 when not tracing. */
void plumb_memtrace_get_traced_memory(size_t *current, size_t *peak);

/* plumb_memtrace_reset_peak - sets the peak to the current size. */
void plumb_memtrace_reset_peak(void);

/* plumb_memtrace_clear_traces - forgets every traced block (they stay
 * allocated; freeing them later is not counted). */
void plumb_memtrace_clear_traces(void);

/* plumb_memtrace_get_tracemalloc_memory - bytes the tracer itself uses for
 * its tables and buffers (all of it from mmap, none from malloc). */
size_t plumb_memtrace_get_tracemalloc_memory(void);

/*
 * plumb_memtrace_track / plumb_memtrace_untrack - record a block of another
 * allocator (a pool, an arena) in @domain (not 0, which is malloc's), as
 * PyTraceMalloc_Track does.  Return 0, -EINVAL, or -ENOENT when untracking
 * an unknown block; -EPERM when not tracing.
 */
int plumb_memtrace_track(unsigned domain, uintptr_t ptr, size_t size);
int plumb_memtrace_untrack(unsigned domain, uintptr_t ptr);

/* ---- Frames and tracebacks ---- */

typedef struct plumb_memtrace_frame {
	const char *filename; /* source file, or "<module+0xoffset>" */
	unsigned lineno;      /* 0 when unknown */
	const char *function; /* demangled, or NULL when unknown */
	const char *module;   /* path of the ELF object, or NULL */
	uintptr_t address;    /* the raw return address */
	bool inlined;         /* an inlined call inside the next frame */
} plumb_memtrace_frame;

/* A traceback: frames[0] is the most recent call (the one that called
 * malloc), as tracemalloc stores them.  total_nframe is nframe, or
 * nframe + 1 when the stack went deeper than the frame limit and was cut
 * (how much deeper is not recorded). */
typedef struct plumb_memtrace_traceback {
	size_t nframe;
	size_t total_nframe;
	const plumb_memtrace_frame *frames;
} plumb_memtrace_traceback;

/*
 * plumb_memtrace_get_object_traceback - the traceback of the block at @ptr
 * (which must be the start of a traced block), or NULL (errno ENOENT) when
 * it is not traced.  Free it with plumb_memtrace_traceback_free.
 */
plumb_memtrace_traceback *plumb_memtrace_get_object_traceback(const void *ptr);
void plumb_memtrace_traceback_free(plumb_memtrace_traceback *tb);

/*
 * plumb_memtrace_traceback_format - traceback.format(limit,
 * most_recent_first): for each frame '  File "f", line N' and, when the
 * source file can be read, the line itself indented by four spaces; @limit
 * as tracemalloc's (0 for all, negative for the oldest frames).  Writes at
 * most @size bytes (always NUL-terminated when size > 0) and returns the
 * length the whole text needs, as snprintf does.
 */
size_t plumb_memtrace_traceback_format(const plumb_memtrace_traceback *tb, int limit,
                                       bool most_recent_first, char *buf, size_t size);

/* ---- Snapshots ---- */

typedef struct plumb_memtrace_snapshot plumb_memtrace_snapshot;

/* plumb_memtrace_take_snapshot - a copy of every traced block (grouped by
 * stack and domain), or NULL with errno (EPERM when not tracing).  The
 * trace file, when one is being written, gets the snapshot too. */
plumb_memtrace_snapshot *plumb_memtrace_take_snapshot(void);
/* plumb_memtrace_snapshot_free - frees a snapshot from take_snapshot,
 * snapshot_load or snapshot_filter_traces; NULL is ignored. */
void plumb_memtrace_snapshot_free(plumb_memtrace_snapshot *s);

/* plumb_memtrace_snapshot_traceback_limit - the frame limit it was taken with. */
int plumb_memtrace_snapshot_traceback_limit(const plumb_memtrace_snapshot *s);

/* plumb_memtrace_snapshot_size - its total bytes and blocks. */
void plumb_memtrace_snapshot_size(const plumb_memtrace_snapshot *s, size_t *size, size_t *count);

/* plumb_memtrace_snapshot_dump / _load - save to a file and read back (the
 * trace file format, holding this one snapshot).  Load also opens a trace
 * file written by the tracer, taking its last snapshot; a corrupt or
 * truncated file gives NULL with errno EINVAL (or the I/O error) and, when
 * @err is not NULL, a message in err[errlen]. */
int plumb_memtrace_snapshot_dump(const plumb_memtrace_snapshot *s, const char *path);
plumb_memtrace_snapshot *plumb_memtrace_snapshot_load(const char *path, char *err, size_t errlen);

/* How statistics group blocks: tracemalloc's key_type. */
typedef enum plumb_memtrace_key {
	PLUMB_MEMTRACE_BY_FILENAME,
	PLUMB_MEMTRACE_BY_LINENO,
	PLUMB_MEMTRACE_BY_TRACEBACK,
} plumb_memtrace_key;

/* plumb_memtrace_key_parse - "filename", "lineno" or "traceback"; -EINVAL else. */
int plumb_memtrace_key_parse(const char *name, plumb_memtrace_key *key);

/* One line of snapshot.statistics(): traceback holds one frame for
 * filename and lineno (the filename only, lineno 0, for filename). */
typedef struct plumb_memtrace_stat {
	const plumb_memtrace_traceback *traceback;
	size_t size;
	size_t count;
} plumb_memtrace_stat;

/* One line of snapshot.compare_to(). */
typedef struct plumb_memtrace_statdiff {
	const plumb_memtrace_traceback *traceback;
	size_t size;
	ssize_t size_diff;
	size_t count;
	ssize_t count_diff;
} plumb_memtrace_statdiff;

/* A list of statistics; the entries belong to it. */
typedef struct plumb_memtrace_stats {
	size_t n;
	plumb_memtrace_stat *stats;         /* for statistics() */
	plumb_memtrace_statdiff *diffs;     /* for compare_to() */
	void *priv;
} plumb_memtrace_stats;

/*
 * plumb_memtrace_snapshot_statistics - snapshot.statistics(key_type,
 * cumulative): sorted biggest first, as tracemalloc sorts (size, then
 * count, then traceback, descending).  cumulative needs a key other than
 * TRACEBACK (-EINVAL), and counts a block once for each distinct frame of
 * its traceback.  Returns the list or NULL with errno.
 */
plumb_memtrace_stats *plumb_memtrace_snapshot_statistics(const plumb_memtrace_snapshot *s,
                                                         plumb_memtrace_key key, bool cumulative);

/* plumb_memtrace_snapshot_compare_to - snapshot.compare_to(old, key_type,
 * cumulative): sorted by absolute size difference, size, absolute count
 * difference, count, traceback, descending, as tracemalloc sorts. */
plumb_memtrace_stats *plumb_memtrace_snapshot_compare_to(const plumb_memtrace_snapshot *s,
                                                         const plumb_memtrace_snapshot *old,
                                                         plumb_memtrace_key key, bool cumulative);
/* plumb_memtrace_stats_free - frees what snapshot_statistics or
 * snapshot_compare_to returned, its tracebacks with it; NULL is ignored. */
void plumb_memtrace_stats_free(plumb_memtrace_stats *st);

/*
 * plumb_memtrace_stat_format / _statdiff_format - str(statistic), exactly as
 * tracemalloc prints it: "f.c:12: size=78.1 KiB, count=1, average=78.1 KiB"
 * and "f.c:12: size=156 KiB (+78.1 KiB), count=2 (+1), average=78.1 KiB".
 * snprintf-like: returns the length needed.
 */
size_t plumb_memtrace_stat_format(const plumb_memtrace_stat *st, char *buf, size_t size);
size_t plumb_memtrace_statdiff_format(const plumb_memtrace_statdiff *st, char *buf, size_t size);

/* plumb_memtrace_format_size - tracemalloc's _format_size: "78.1 KiB",
 * "156 KiB", "12 B"; with @sign a leading + or -.  snprintf-like. */
size_t plumb_memtrace_format_size(double size, bool sign, char *buf, size_t len);

/* A filter as tracemalloc.Filter / DomainFilter. */
typedef struct plumb_memtrace_filter {
	bool inclusive;
	const char *filename_pattern; /* fnmatch pattern; NULL for a domain filter */
	unsigned lineno;              /* 0: any line */
	bool all_frames;              /* match any frame, not only the most recent */
	int domain;                   /* -1: any domain */
} plumb_memtrace_filter;

/* plumb_memtrace_snapshot_filter_traces - a new snapshot holding only the
 * blocks the filters let through, with tracemalloc's rules: a block is
 * kept when it matches at least one inclusive filter (or there is none)
 * and no exclusive filter.  Free it with plumb_memtrace_snapshot_free.
 * NULL with errno: EINVAL when @s is NULL or @filters is NULL with @n > 0,
 * ENOMEM. */
plumb_memtrace_snapshot *plumb_memtrace_snapshot_filter_traces(const plumb_memtrace_snapshot *s,
                                                               const plumb_memtrace_filter *filters,
                                                               size_t n);

#ifdef __cplusplus
}
#endif

#endif
