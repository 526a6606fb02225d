/*
 * analysis.h - the half of memtrace that never runs inside malloc: snapshot
 * objects, statistics, symbols (libdw), and the trace file reader.  The
 * tracer (tracer side: hooks.c ... api.c) builds snapshots through the
 * functions here, with tracing suspended for the calling thread, so the
 * memory they take from malloc is not traced.  The plumb-memtrace command
 * links this half alone (libmemtrace_analysis), never the hooks.
 */
#ifndef PLUMB_MEMTRACE_ANALYSIS_H
#define PLUMB_MEMTRACE_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <plumb/memtrace.h>

/* One mapped ELF object of the traced process. */
struct mt_module {
	uintptr_t start, end; /* text range in the process */
	uintptr_t bias;       /* runtime address = file address + bias */
	const char *path;     /* "" or "[vdso]" when not a file */
	const uint8_t *build_id;
	size_t build_id_len;
};

/* ---- Building snapshots (tracer and reader) ---- */

/* mt_snapshot_new - an empty snapshot over a copy of @mods; NULL on ENOMEM. */
plumb_memtrace_snapshot *mt_snapshot_new(int traceback_limit, const struct mt_module *mods,
                                         size_t nmods);

/* mt_snapshot_add - adds @count blocks of @size bytes in all, allocated in
 * @domain by the stack @frames[0..nframe) (most recent first; @truncated
 * when the real stack was deeper).  Adding the same stack twice sums.
 * Returns 0 or -ENOMEM. */
int mt_snapshot_add(plumb_memtrace_snapshot *s, unsigned domain, const uintptr_t *frames,
                    size_t nframe, bool truncated, uint64_t count, uint64_t size);

/* mt_snapshot_set_time - when it was taken (ns since the trace began) and
 * the traced current / peak bytes at that moment, for reports. */
void mt_snapshot_set_time(plumb_memtrace_snapshot *s, uint64_t t_ns, uint64_t current,
                          uint64_t peak);

/* mt_traceback_new - a symbolized traceback for raw @frames, for
 * get_object_traceback.  NULL with errno on failure. */
plumb_memtrace_traceback *mt_traceback_new(const uintptr_t *frames, size_t nframe, bool truncated,
                                           const struct mt_module *mods, size_t nmods);

/* mt_snapshot_time - what mt_snapshot_set_time recorded (all 0 when it was
 * never called); returns whether it was called. */
bool mt_snapshot_time(const plumb_memtrace_snapshot *s, uint64_t *t_ns, uint64_t *current,
                      uint64_t *peak);

/*
 * mt_untraced_begin / mt_untraced_end - defined by the tracer, not here:
 * begin sets the calling thread's "inside" flag (so what it allocates is
 * not traced) and returns the flag's previous value, which end restores.
 * The analysis half's public functions (statistics, compare_to,
 * filter_traces, load, the frees...) call them around their work, through
 * weak references: in a program without the tracer they are not called.
 */
int mt_untraced_begin(void);
void mt_untraced_end(int previous);

/* ---- Walking a snapshot (reports, pictures) ---- */

/* The number of distinct (stack, domain) groups, and each one's raw and
 * symbolized view.  The traceback belongs to the snapshot (NULL, errno
 * ENOMEM, if it could not be built). */
size_t mt_snapshot_ngroups(const plumb_memtrace_snapshot *s);
void mt_snapshot_group(const plumb_memtrace_snapshot *s, size_t i, unsigned *domain,
                       const plumb_memtrace_traceback **tb, uint64_t *count, uint64_t *size);

/* mt_key_frame - the frame statistics by 'filename'/'lineno' and filters
 * (without all_frames) look at, and reports name a block by: the first
 * frame with a source line outside the C runtime (libc, libstdc++,
 * libgcc_s, the loader), else frame 0 (frame 0 too when that first frame
 * is a process or thread entry point: see snapshot.c).  Never NULL for a
 * traceback of at least one frame. */
const plumb_memtrace_frame *mt_key_frame(const plumb_memtrace_traceback *tb);

/* ---- Reading trace files ---- */

struct pmt_sample {
	uint64_t t_ns, current, peak, max, allocs, frees;
};

struct pmt_snapshot_info {
	uint32_t seq;
	uint8_t kind; /* PMT_SNAP_* */
	uint64_t t_ns, current, peak;
	size_t nentries;
};

struct pmt_summary {
	uint64_t t_ns, peak, peak_t_ns, leaked_bytes, leaked_blocks, allocs, frees, bytes_allocated,
	        tracer_memory, untraced_frees;
};

/* A whole trace file, read into memory (its raw numbers; symbols are only
 * resolved when a snapshot is built from it). */
struct pmt_trace {
	uint32_t pid, ppid, frame_limit, flags;
	uint64_t start_realtime_ns, sample_bytes;
	char *exe, *cmdline;
	size_t nsamples;
	struct pmt_sample *samples;
	size_t nsnapshots;
	struct pmt_snapshot_info *snapshots;
	bool has_summary; /* false: the file ends early (the program died) */
	struct pmt_summary summary;
	void *priv; /* modules, stacks, snapshot entries */
	/* Why the file ends early, for a note to the reader ("the file ends
	 * inside the record at byte N of the decompressed stream"); NULL
	 * exactly when has_summary is true. */
	char *truncation;
};

/*
 * pmt_trace_read - reads and checks the trace file at @path.  A file cut
 * short after its header is accepted (has_summary false); a file that is
 * not a trace, or whose records do not add up, is refused: NULL, errno
 * EINVAL (or the I/O error), and a message naming the path and what is
 * wrong in err[errlen].
 */
struct pmt_trace *pmt_trace_read(const char *path, char *err, size_t errlen);
void pmt_trace_free(struct pmt_trace *t);

/* pmt_trace_snapshot - snapshot number @k of @t (0-based, in file order)
 * as a snapshot object; NULL with errno. */
plumb_memtrace_snapshot *pmt_trace_snapshot(const struct pmt_trace *t, size_t k);

/* pmt_trace_find - the index of the last snapshot of @kind, or -1. */
long pmt_trace_find(const struct pmt_trace *t, int kind);

/* pmt_trace_write_snapshot - writes a file holding one snapshot (what
 * plumb_memtrace_snapshot_dump does).  Returns 0 or -errno. */
int pmt_trace_write_snapshot(const plumb_memtrace_snapshot *s, const char *path);

#endif
