/*
 * stdio.c - stdio streams as readers and writers, and readers and writers
 * as stdio streams.
 *
 * One way, a FILE* becomes a plumb stream.  fread would wait for the whole
 * buffer, which breaks the reader contract on pipes and terminals (a read
 * returns once it has something), so a read takes one byte with getc, which
 * waits only as long as that takes, and then only what stdio already holds.
 * These streams expose no descriptor: stdio's buffer sits between the
 * descriptor and the stream, so the kernel's copy paths would skip it.
 *
 * The other way, fopencookie makes a FILE* over any plumb stream, so code that
 * speaks stdio (fprintf, getline) can read and write anything.  Errors come
 * back as errno; PLUMB_E* codes, which errno cannot hold, become EIO.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "io/io-internal.h"

struct file_stream {
	plumb_reader reader;
	plumb_writer writer;
	FILE *f;
	bool own;
};

static struct file_stream *file_stream_new(FILE *f, int flags)
{
	struct file_stream *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	s->f = f;
	s->own = flags & PLUMB_FD_OWN;
	return s;
}

/* fclose an owned stream, once; an unowned writer is flushed instead. */
static int file_stream_close(struct file_stream *s, bool flush)
{
	FILE *f = s->f;

	if (!f)
		return 0;
	if (!s->own)
		return flush && fflush(f) == EOF ? plumb_io_errno() : 0;
	s->f = NULL;
	return fclose(f) == EOF ? plumb_io_errno() : 0;
}

static struct file_stream *reader_stream(plumb_reader *r)
{
	return PLUMB_CONTAINER_OF(r, struct file_stream, reader);
}

static struct file_stream *writer_stream(plumb_writer *w)
{
	return PLUMB_CONTAINER_OF(w, struct file_stream, writer);
}

/* How many bytes f holds that a read can take without a system call. */
static size_t file_buffered(FILE *f)
{
#ifdef __GLIBC__
	return (size_t)(f->_IO_read_end - f->_IO_read_ptr);
#else
	(void)f;
	return 0;
#endif
}

/* Waits for one byte, then takes what is buffered behind it.  The caller
 * holds the stream's lock. */
static ssize_t file_read_locked(FILE *f, unsigned char *buf, size_t len)
{
	int c = getc_unlocked(f);
	size_t more;

	if (c == EOF)
		return ferror_unlocked(f) ? plumb_io_errno() : 0;
	buf[0] = (unsigned char)c;
	more = file_buffered(f);
	if (more > len - 1)
		more = len - 1;
	return 1 + (ssize_t)fread_unlocked(buf + 1, 1, more, f);
}

static ssize_t file_read(plumb_reader *r, void *buf, size_t len)
{
	FILE *f = reader_stream(r)->f;
	ssize_t n;

	if (!f)
		return -EBADF;
	if (len == 0)
		return 0;
	flockfile(f);
	errno = 0;
	n = file_read_locked(f, buf, len);
	funlockfile(f);
	return n;
}

static int file_reader_close(plumb_reader *r)
{
	return file_stream_close(reader_stream(r), false);
}

static void file_reader_free(plumb_reader *r)
{
	struct file_stream *s = reader_stream(r);

	file_stream_close(s, false);
	free(s);
}

static const plumb_reader_ops file_reader_ops = {
        .read = file_read,
        .close = file_reader_close,
        .free = file_reader_free,
};

plumb_reader *plumb_file_reader_new(FILE *f, int flags)
{
	struct file_stream *s = file_stream_new(f, flags);

	if (!s)
		return NULL;
	s->reader.ops = &file_reader_ops;
	return &s->reader;
}

static ssize_t file_write(plumb_writer *w, const void *buf, size_t len)
{
	FILE *f = writer_stream(w)->f;

	if (!f)
		return -EBADF;
	errno = 0;
	if (fwrite(buf, 1, len, f) != len)
		return plumb_io_errno();
	return (ssize_t)len;
}

static int file_writer_close(plumb_writer *w)
{
	return file_stream_close(writer_stream(w), true);
}

static void file_writer_free(plumb_writer *w)
{
	struct file_stream *s = writer_stream(w);

	file_stream_close(s, false);
	free(s);
}

static const plumb_writer_ops file_writer_ops = {
        .write = file_write,
        .close = file_writer_close,
        .free = file_writer_free,
};

plumb_writer *plumb_file_writer_new(FILE *f, int flags)
{
	struct file_stream *s = file_stream_new(f, flags);

	if (!s)
		return NULL;
	s->writer.ops = &file_writer_ops;
	return &s->writer;
}

/* ---- The cookies: the stream itself is the cookie; close is there only
 * when the FILE owns the stream. */

/* stdio's convention: -1 with errno. */
static int cookie_fail(int code)
{
	errno = plumb_io_to_errno(code);
	return -1;
}

static ssize_t cookie_read(void *cookie, char *buf, size_t size)
{
	ssize_t n = plumb_reader_read(cookie, buf, size);

	return n < 0 ? cookie_fail((int)n) : n;
}

static int cookie_seek(void *cookie, off64_t *off, int whence)
{
	int64_t pos = plumb_reader_seek(cookie, *off, whence);

	if (pos < 0)
		return cookie_fail((int)pos);
	*off = pos;
	return 0;
}

static int cookie_reader_close(void *cookie)
{
	int rc = plumb_reader_close(cookie);

	return rc < 0 ? cookie_fail(rc) : 0;
}

/* A write that fails returns 0, as fopencookie(3) asks. */
static ssize_t cookie_write(void *cookie, const char *buf, size_t size)
{
	ssize_t n = plumb_writer_write(cookie, buf, size);

	if (n < 0) {
		cookie_fail((int)n);
		return 0;
	}
	return n;
}

static int cookie_writer_close(void *cookie)
{
	int rc = plumb_writer_close(cookie);

	return rc < 0 ? cookie_fail(rc) : 0;
}

FILE *plumb_reader_fopen(plumb_reader *r, int own)
{
	cookie_io_functions_t io = {
	        .read = cookie_read,
	        .seek = r->ops->seek ? cookie_seek : NULL,
	        .close = own ? cookie_reader_close : NULL,
	};

	return fopencookie(r, "r", io);
}

FILE *plumb_writer_fopen(plumb_writer *w, int own)
{
	cookie_io_functions_t io = {
	        .write = cookie_write,
	        .close = own ? cookie_writer_close : NULL,
	};

	return fopencookie(w, "w", io);
}
