/*
 * io-internal.h - what the files of lib/io share and nobody else needs.
 *
 * The small rules every adapter applies the same way (a writer that comes
 * back short, an errno that went missing, where a seek lands) live here once,
 * and so does the limit reader's layout: plumb_copy takes a limit reader
 * apart to hand the limit to the kernel, and builds one on its stack for
 * plumb_copy_n when the destination reads for itself.
 */
#ifndef PLUMB_IO_INTERNAL_H
#define PLUMB_IO_INTERNAL_H

#include <errno.h>
#include <stdbool.h>

#include <plumb/io.h>

/* Internal: left out of the shared library's interface. */
#ifndef PLUMB_HIDDEN
#define PLUMB_HIDDEN __attribute__((visibility("hidden")))
#endif

/* Above any errno and below every PLUMB_E* code (which start at -1001). */
#define PLUMB_IO_MAX_ERRNO 1000

/* -errno after a failed libc call, never 0 even if libc left errno unset. */
static inline int plumb_io_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* The errno to hand to code that only knows errno (stdio cookies). */
static inline int plumb_io_to_errno(int code)
{
	return code < 0 && code >= -PLUMB_IO_MAX_ERRNO ? -code : EIO;
}

/*
 * plumb_io_write_all - write len bytes to w; a writer that reports fewer than
 * it was given breaks the contract, and that is PLUMB_ESHORTWRITE here.
 */
ssize_t plumb_io_write_all(plumb_writer *w, const void *buf, size_t len) PLUMB_HIDDEN;

/*
 * plumb_io_seek_pos - where a seek to off from whence lands, for a stream at
 * cur of size bytes: the new position, or PLUMB_EBADSEEK for an unknown
 * whence or a position before 0 (Go's errWhence and errOffset).
 */
int64_t plumb_io_seek_pos(int64_t cur, int64_t size, int64_t off, int whence) PLUMB_HIDDEN;

/* The limit reader (limit.c), public to copy.c. */
struct plumb_limit_reader {
	plumb_reader reader;
	plumb_reader *r;
	int64_t n;
};

/* Sets up lr as a limit reader over r, e.g. on the stack. */
void plumb_limit_reader_init(struct plumb_limit_reader *lr, plumb_reader *r,
                             int64_t n) PLUMB_HIDDEN;

/* lr as a limit reader, or NULL when r is some other stream. */
struct plumb_limit_reader *plumb_limit_reader_of(plumb_reader *r) PLUMB_HIDDEN;

#endif
