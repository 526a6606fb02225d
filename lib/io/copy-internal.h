/*
 * copy-internal.h - a window into plumb_copy's choices, for tests and
 * benchmarks.
 *
 * plumb_copy picks a way to move bytes (the source's write_to, the
 * destination's read_from, one of the kernel's calls, or a read/write loop)
 * and may be refused by the kernel on the way.  Each thread can ask what its
 * last copy did, and can forbid paths to measure or test the ones after them.
 * None of this is part of the public API.
 */
#ifndef PLUMB_COPY_INTERNAL_H
#define PLUMB_COPY_INTERNAL_H

/* Internal: left out of the shared library's interface. */
#ifndef PLUMB_HIDDEN
#define PLUMB_HIDDEN __attribute__((visibility("hidden")))
#endif

enum plumb_copy_path {
	PLUMB_COPY_NONE = 0,
	PLUMB_COPY_WRITE_TO,    /* src->ops->write_to */
	PLUMB_COPY_READ_FROM,   /* dst->ops->read_from */
	PLUMB_COPY_FILE_RANGE,  /* copy_file_range(2) */
	PLUMB_COPY_SPLICE,      /* splice(2) with a pipe at one end */
	PLUMB_COPY_SPLICE_PIPE, /* splice(2) twice, through a pipe of our own */
	PLUMB_COPY_SENDFILE,    /* sendfile(2) */
	PLUMB_COPY_LOOP,        /* read and write through a buffer */
	PLUMB_COPY_NPATHS,
};

#define PLUMB_COPY_BIT(path) (1u << (path))

struct plumb_copy_trace {
	enum plumb_copy_path path; /* the path that finished the copy */
	unsigned refused;          /* PLUMB_COPY_BIT of each path the kernel refused */
};

/* What the calling thread's last plumb_copy* did. */
void plumb_copy_trace_get(struct plumb_copy_trace *t) PLUMB_HIDDEN;

/* Forbids the kernel paths in mask (PLUMB_COPY_BIT) to the calling thread's
 * copies, 0 to allow them all again.  Returns the previous mask. */
unsigned plumb_copy_forbid(unsigned mask) PLUMB_HIDDEN;

#endif
