/*
 * plumb/io.h - streaming I/O for C, with the meaning of Go's io package.
 *
 * A reader hands out bytes; a writer takes them.  Both are small interface
 * structs holding a pointer to a table of operations; a concrete stream
 * (a descriptor, a buffer, a pipe end, a tee...) embeds the struct and gets
 * back to itself with container_of.  Anyone may implement them.
 *
 * The contracts, in one sentence each, as in Go:
 *  - read returns the number of bytes placed in buf (1..len), 0 at the end of
 *    the stream, or a negative error; it never blocks longer than it takes to
 *    get at least one byte.  A read of len 0 returns 0 and means nothing.
 *  - write writes all len bytes and returns len, or fails with a negative
 *    error (some bytes may have gone before it failed); it never returns a
 *    short count.  Callers that meet a short count say PLUMB_ESHORTWRITE.
 *  - close releases the stream's resource; what the other side of it sees is
 *    the stream's business (EOF for a pipe's writer).
 *  - free releases the adapter's memory (it does not close anything unless the
 *    adapter was told it owns what it wraps).
 * Errors are -errno or PLUMB_E* codes (plumb/error.h).
 */
#ifndef PLUMB_IO_H
#define PLUMB_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <plumb/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plumb_reader plumb_reader;
typedef struct plumb_writer plumb_writer;

/* The operations of a reader.  Only read is required; the others are NULL
 * when the stream does not have them. */
typedef struct plumb_reader_ops {
	ssize_t (*read)(plumb_reader *r, void *buf, size_t len);
	/* io.ReaderAt: read len bytes at off without moving the stream; returns
	 * len, or fewer only at the end of the data (then the count), or < 0. */
	ssize_t (*read_at)(plumb_reader *r, void *buf, size_t len, int64_t off);
	/* io.Seeker: SEEK_SET/SEEK_CUR/SEEK_END; returns the new offset or < 0. */
	int64_t (*seek)(plumb_reader *r, int64_t off, int whence);
	/* io.WriterTo: write everything left to w; returns bytes written or < 0. */
	int64_t (*write_to)(plumb_reader *r, plumb_writer *w);
	/* The descriptor behind the stream, for the kernel's copy fast paths,
	 * or -1.  A stream that returns one must be a plain view of it. */
	int (*fd)(plumb_reader *r);
	int (*close)(plumb_reader *r);
	void (*free)(plumb_reader *r);
} plumb_reader_ops;

/* The operations of a writer.  Only write is required. */
typedef struct plumb_writer_ops {
	ssize_t (*write)(plumb_writer *w, const void *buf, size_t len);
	/* io.ReaderFrom: read r to its end into this writer; returns bytes or < 0. */
	int64_t (*read_from)(plumb_writer *w, plumb_reader *r);
	int (*fd)(plumb_writer *w);
	int (*close)(plumb_writer *w);
	void (*free)(plumb_writer *w);
} plumb_writer_ops;

struct plumb_reader {
	const plumb_reader_ops *ops;
};

struct plumb_writer {
	const plumb_writer_ops *ops;
};

/* From a pointer to the embedded interface back to the stream that holds it:
 *   struct mine *m = PLUMB_CONTAINER_OF(r, struct mine, reader); */
#define PLUMB_CONTAINER_OF(ptr, type, member)                                                      \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The calls through the interfaces.  Optional operations that a stream lacks
 * return -ENOTSUP (read_at, seek), -1 (fd) or 0 (close, free: nothing to do). */
ssize_t plumb_reader_read(plumb_reader *r, void *buf, size_t len);
ssize_t plumb_reader_read_at(plumb_reader *r, void *buf, size_t len, int64_t off);
int64_t plumb_reader_seek(plumb_reader *r, int64_t off, int whence);
int plumb_reader_fd(plumb_reader *r);
int plumb_reader_close(plumb_reader *r);
void plumb_reader_free(plumb_reader *r);

ssize_t plumb_writer_write(plumb_writer *w, const void *buf, size_t len);
/* Writes a NUL-terminated string (io.WriteString). */
ssize_t plumb_writer_write_str(plumb_writer *w, const char *s);
int plumb_writer_fd(plumb_writer *w);
int plumb_writer_close(plumb_writer *w);
void plumb_writer_free(plumb_writer *w);

/* ---- Helpers (io.ReadFull, io.ReadAtLeast, io.ReadAll) ---- */

/*
 * plumb_read_at_least - read into buf until at least min bytes (and at most
 * len) are there.  Returns the count (>= min); a count below min when the
 * stream ended first (0: it was already at its end, Go's EOF; otherwise
 * Go's ErrUnexpectedEOF); PLUMB_ESHORTBUFFER if len < min; or a read error.
 */
ssize_t plumb_read_at_least(plumb_reader *r, void *buf, size_t len, size_t min);

/* plumb_read_full - plumb_read_at_least(r, buf, len, len). */
ssize_t plumb_read_full(plumb_reader *r, void *buf, size_t len);

/*
 * plumb_read_all - read r to its end into a new malloc'd buffer, stored in
 * *out with a NUL after the data (the caller frees it).  Returns the length,
 * or a negative error (then *out is NULL and nothing is leaked).
 */
ssize_t plumb_read_all(plumb_reader *r, char **out);

/* ---- Copy (io.Copy, io.CopyN, io.CopyBuffer) ---- */

/*
 * plumb_copy - copy from src to dst until src ends.  Uses src's write_to or
 * dst's read_from when present; when both ends are descriptors, moves the
 * bytes inside the kernel (copy_file_range, splice, sendfile) and falls back
 * to read/write where the kernel cannot.  A limit reader over a descriptor
 * counts as that descriptor (the kernel gets the limit).  Both descriptors'
 * positions end where a read/write loop would leave them.  Returns the bytes
 * copied or < 0 (then how many were copied before the error is not told).
 */
int64_t plumb_copy(plumb_writer *dst, plumb_reader *src);

/*
 * plumb_copy_n - copy exactly n bytes from src to dst, never reading more
 * than n from src.  Returns n, a smaller count if src ended first (Go's EOF),
 * or a negative error; n <= 0 copies nothing and returns 0.  src's write_to
 * is not used (it knows no limit).
 */
int64_t plumb_copy_n(plumb_writer *dst, plumb_reader *src, int64_t n);

/*
 * plumb_copy_buffer - plumb_copy staging through the caller's buf (len > 0)
 * instead of one of its own; buf is unused when a fast path applies.  A NULL
 * buf is plumb_copy; a buf with len 0 is -EINVAL.
 */
int64_t plumb_copy_buffer(plumb_writer *dst, plumb_reader *src, void *buf, size_t len);

/* ---- Descriptors ---- */

enum {
	PLUMB_FD_OWN = 1 << 0, /* close the descriptor on close and on free */
};

/*
 * plumb_fd_reader_new / plumb_fd_writer_new - a reader (with read_at, seek
 * and fd) or a writer over descriptor fd.  Reads and writes restart after
 * EINTR; writes loop over short writes.  flags: PLUMB_FD_OWN or 0.
 * Returns NULL only when out of memory.
 */
plumb_reader *plumb_fd_reader_new(int fd, int flags);
plumb_writer *plumb_fd_writer_new(int fd, int flags);

/* ---- Memory ---- */

/*
 * plumb_buffer - a growable byte buffer (Go's bytes.Buffer): what is written
 * is appended, what is read is taken from the front.  The struct is public so
 * it can live on the stack; the unread bytes are data[off..len).  Its streams
 * are &b->reader (read, write_to; 0 when empty) and &b->writer (write,
 * read_from); closing or freeing them does nothing: plumb_buffer_release
 * frees the memory.
 */
typedef struct plumb_buffer {
	plumb_reader reader;
	plumb_writer writer;
	unsigned char *data;
	size_t off, len, cap;
} plumb_buffer;

/* Makes b an empty buffer.  No memory is taken until the first write. */
void plumb_buffer_init(plumb_buffer *b);
/* Frees b's memory; b is empty (and usable) afterwards. */
void plumb_buffer_release(plumb_buffer *b);
/* The unread bytes and their count. */
static inline const unsigned char *plumb_buffer_bytes(const plumb_buffer *b)
{
	return b->data ? b->data + b->off : (const unsigned char *)"";
}
static inline size_t plumb_buffer_len(const plumb_buffer *b)
{
	return b->len - b->off;
}
/* Drops all content and keeps the memory. */
void plumb_buffer_reset(plumb_buffer *b);
/* Makes room for n more bytes without another allocation; 0 or -ENOMEM. */
int plumb_buffer_grow(plumb_buffer *b, size_t n);
/* Appends (all or nothing); 0 or -ENOMEM.  data may be b's own unread bytes. */
int plumb_buffer_append(plumb_buffer *b, const void *data, size_t len);
/* Keeps the first n unread bytes; -EINVAL if n is more than there are. */
int plumb_buffer_truncate(plumb_buffer *b, size_t n);

/*
 * plumb_bytes_reader_new - a reader (with read_at, seek and write_to) over
 * len bytes at data, which are not copied: they must outlive the reader
 * (Go's bytes.Reader / strings.Reader).  plumb_string_reader_new takes a
 * NUL-terminated string.  Returns NULL only when out of memory.
 */
plumb_reader *plumb_bytes_reader_new(const void *data, size_t len);
plumb_reader *plumb_string_reader_new(const char *s);

/* plumb_discard - a writer that accepts everything and keeps nothing (Go's
 * io.Discard).  It is static: free and close do nothing. */
plumb_writer *plumb_discard(void);

/* ---- stdio, both ways ---- */

/*
 * plumb_file_reader_new / plumb_file_writer_new - a reader or writer over a
 * stdio stream.  The FILE is fclose'd on close or free only with PLUMB_FD_OWN;
 * without it, closing the writer flushes the FILE.  A read waits for one byte
 * and returns it with what stdio already holds behind it, as the reader
 * contract asks.  Neither shows the descriptor (stdio's buffer lies between),
 * so plumb_copy reads and writes them through a buffer.
 */
plumb_reader *plumb_file_reader_new(FILE *f, int flags);
plumb_writer *plumb_file_writer_new(FILE *f, int flags);

/*
 * plumb_reader_fopen / plumb_writer_fopen - a FILE* (fopencookie) that reads
 * from r or writes to w, so stdio code can use any stream.  fclose on it
 * closes r or w too when own is nonzero, and never frees them.
 */
FILE *plumb_reader_fopen(plumb_reader *r, int own);
FILE *plumb_writer_fopen(plumb_writer *w, int own);

/* ---- Combinators ---- */

/*
 * plumb_tee_reader_new - Go's io.TeeReader: a reader that reads from r and,
 * before each read returns, writes the same bytes to w.  A write error is
 * returned from that read.  Neither r nor w is owned.
 */
plumb_reader *plumb_tee_reader_new(plumb_reader *r, plumb_writer *w);

/*
 * plumb_multi_writer_new - Go's io.MultiWriter: each write goes to every
 * writer in turn and stops at the first error.  The array is copied; the
 * writers are not owned.
 */
plumb_writer *plumb_multi_writer_new(plumb_writer *const *ws, size_t n);

/*
 * plumb_multi_reader_new - Go's io.MultiReader: the readers one after
 * another, ending when the last one ends.  The array is copied; the readers
 * are not owned.  A multi reader in rs is opened up: its unread members are
 * taken in its place, so read only the new one.  Copying from it copies member
 * by member, each by its fastest path.
 */
plumb_reader *plumb_multi_reader_new(plumb_reader *const *rs, size_t n);

/*
 * plumb_limit_reader_new - Go's io.LimitReader: reads from r and ends after
 * n bytes.  r is not owned.  plumb_limit_reader_left tells how many remain
 * (-EINVAL if lr is not a limit reader).
 */
plumb_reader *plumb_limit_reader_new(plumb_reader *r, int64_t n);
int64_t plumb_limit_reader_left(plumb_reader *lr);

/*
 * plumb_section_reader_new - Go's io.SectionReader: the n bytes of r from
 * off, read through r's read_at (r must have it), with read, read_at and
 * seek of its own (PLUMB_EBADSEEK for a bad whence or a position before
 * its start).  r is not owned.  Returns NULL with errno EINVAL when r has no
 * read_at or off or n is negative, ENOMEM when out of memory.
 * plumb_section_reader_size: n (-EINVAL if sr is not a section reader).
 */
plumb_reader *plumb_section_reader_new(plumb_reader *r, int64_t off, int64_t n);
int64_t plumb_section_reader_size(plumb_reader *sr);

/* ---- The synchronous pipe (io.Pipe) ---- */

/*
 * plumb_pipe - a synchronous in-memory pipe between threads.  Each write
 * blocks until readers have consumed all of it; a read returns as soon as a
 * write supplies bytes, copying them once, straight from the writer's buffer
 * into the reader's.  Concurrent writes are serialized whole, and so are
 * concurrent reads.  There is no internal buffer.
 */
typedef struct plumb_pipe plumb_pipe;

/* A new pipe, or NULL when out of memory. */
plumb_pipe *plumb_pipe_new(void);

/* The two ends as interfaces.  Closing the reader interface is
 * plumb_pipe_close_read(p, 0); closing the writer interface is
 * plumb_pipe_close_write(p, 0); freeing either does nothing. */
plumb_reader *plumb_pipe_reader(plumb_pipe *p);
plumb_writer *plumb_pipe_writer(plumb_pipe *p);

/* Reads as a reader does: the count, 0 once the writer closed with no error,
 * the writer's error if it closed with one, PLUMB_ECLOSED after the read
 * side itself was closed.  A read returns as soon as a write supplies bytes,
 * and never holds bytes of two writes.  A read of len 0 returns at once: 0,
 * or the error above if the pipe is closed (through plumb_reader_read it is
 * always 0). */
ssize_t plumb_pipe_read(plumb_pipe *p, void *buf, size_t len);

/* Writes as a writer does: len once readers took every byte; the reader's
 * close error (PLUMB_ECLOSED for a plain close) if the read side closes
 * first, even in the middle of the write; PLUMB_ECLOSED after the write side
 * itself was closed; -EINVAL if len is over SSIZE_MAX.  A write of len 0
 * waits like any other for a reader to arrive (as in Go) and returns 0; the
 * reader it meets does not return (0 would mean the end) but waits on for
 * bytes. */
ssize_t plumb_pipe_write(plumb_pipe *p, const void *buf, size_t len);

/* Close the read side: pending and later writes fail with err, or with
 * PLUMB_ECLOSED when err is 0; reads fail with PLUMB_ECLOSED.  err is a
 * negative error code (a positive errno is taken as its negative).  The
 * first close's error sticks; returns 0. */
int plumb_pipe_close_read(plumb_pipe *p, int err);

/* Close the write side: reads return err, or 0 (end of stream) when err is
 * 0; writes, including one waiting in another thread, fail with
 * PLUMB_ECLOSED.  Nothing is lost: every write that returned len was read
 * whole.  err as for plumb_pipe_close_read.  The first close's error sticks;
 * returns 0. */
int plumb_pipe_close_write(plumb_pipe *p, int err);

/* Frees the pipe.  Call once, after no thread uses either end any more. */
void plumb_pipe_free(plumb_pipe *p);

#ifdef __cplusplus
}
#endif
#endif
