/*
 * pmt.h - the memtrace trace file (".pmt"): what the tracer writes and every
 * reader checks.  One definition, shared by the writer (writer.c) and the
 * reader (pmt-read.c).
 *
 * A file is an 8-byte preamble, then one zstd stream (possibly several
 * concatenated frames) holding a sequence of records.  The tracer flushes
 * the stream at every sample batch and snapshot, so a process that dies
 * leaves a file readable up to its last flush; readers report such a file
 * as truncated (no PMT_SUMMARY at the end) and still use what it holds.
 *
 *   preamble:  "PMT" 0x01  u32 version (PMT_VERSION)          (not compressed)
 *   record:    u8 type, u8 flags (0), u16 reserved (0), u32 len, then len bytes
 *
 * Integers are little-endian and fixed width; a string is u16 length then
 * its bytes (no NUL).  A reader rejects (with the record's offset in the
 * decompressed stream) a record of unknown type, a length that overruns the
 * stream or disagrees with the payload's own counts, a stack or module id
 * it has not seen, and any record before PMT_HEADER.  A record's payload
 * may be longer than the fields listed (later versions append fields);
 * readers skip the rest.
 *
 * Times are nanoseconds since the tracer started (CLOCK_MONOTONIC based).
 */
#ifndef PLUMB_MEMTRACE_PMT_H
#define PLUMB_MEMTRACE_PMT_H

#include <stddef.h>

#define PMT_MAGIC "PMT\x01"
#define PMT_VERSION 1u
/* The 8 bytes a file begins with: PMT_MAGIC, then PMT_VERSION as a
 * little-endian u32. */
#define PMT_PREAMBLE {'P', 'M', 'T', 0x01, PMT_VERSION, 0, 0, 0}

/* pmt_write_all - writes all @n bytes at @p to @fd, retrying on EINTR: 0,
 * or -errno.  It allocates nothing, so the tracer's writer uses it too. */
__attribute__((visibility("hidden"))) int pmt_write_all(int fd, const void *p, size_t n);

enum pmt_record {
	/* u32 pid, u32 ppid, u32 frame_limit, u32 flags (PMT_F_*),
	 * u64 start_realtime_ns (CLOCK_REALTIME at start), u64 sample_bytes
	 * (0: every allocation recorded), str exe path, str command line
	 * (arguments joined by spaces). First record, exactly once. */
	PMT_HEADER = 1,
	/* u32 id, u64 start, u64 end (the mapped text range), u64 bias (load
	 * address: file address + bias = runtime address), str build-id (raw
	 * bytes, may be empty), str path ("[vdso]" and the like for mappings
	 * without a file).  Written before any stack that points into it. */
	PMT_MODULE = 2,
	/* u32 id (1, 2, 3... in order; 0 means "no stack"), u16 nframe, u8
	 * truncated (1 when the stack was deeper than the limit), u8 reserved,
	 * then nframe u64 return addresses, the most recent call first (frame 0
	 * is in the function that called malloc).  Written before any snapshot
	 * that uses it. */
	PMT_STACK = 3,
	/* u64 t_ns, u64 current (traced bytes now), u64 peak (so far),
	 * u64 max (highest current since the previous sample), u64 allocs and
	 * u64 frees (calls so far).  One every ~10 ms while memory changes:
	 * the heap-over-time curve. */
	PMT_SAMPLE = 4,
	/* u32 seq (0, 1, 2...), u8 kind (PMT_SNAP_*), u8[3] reserved, u64 t_ns,
	 * u64 current, u64 peak, u32 n, then n entries of
	 * { u32 stack, u32 domain, u64 count, u64 size }: the live blocks
	 * grouped by (stack, domain), count and bytes. */
	PMT_SNAPSHOT = 5,
	/* u64 t_ns (end), u64 peak, u64 peak_t_ns, u64 leaked_bytes,
	 * u64 leaked_blocks, u64 allocs, u64 frees, u64 bytes_allocated (sum
	 * of all requests), u64 tracer_memory (peak bytes the tracer mapped),
	 * u64 untraced_frees (frees of blocks the tracer never saw).  Last
	 * record of a complete file. */
	PMT_SUMMARY = 6,
};

/* PMT_HEADER flags */
enum {
	PMT_F_FRAME_POINTERS = 1 << 0, /* stacks walked by frame pointers */
	PMT_F_SAMPLED = 1 << 1,        /* sample_bytes > 0: sizes are estimates */
};

/* PMT_SNAPSHOT kinds */
enum pmt_snap_kind {
	PMT_SNAP_EXIT = 1,     /* at exit: what was still allocated (leaks) */
	PMT_SNAP_INTERVAL = 2, /* every --interval */
	PMT_SNAP_SIGNAL = 3,   /* on the snapshot signal (SIGUSR2) */
	PMT_SNAP_API = 4,      /* plumb_memtrace_take_snapshot() */
	PMT_SNAP_PEAK = 5,     /* the live heap at the moment of the peak */
};

#endif
