/*
 * fd.c - readers and writers over file descriptors.
 *
 * The thinnest adapters there are: one system call a read, restarted after
 * EINTR, and a write loop that turns the kernel's short writes into the
 * interface's all-or-error.  They expose the descriptor so plumb_copy can
 * move bytes inside the kernel, and they never buffer, so the descriptor's
 * position is always exactly where the stream is.
 *
 * With PLUMB_FD_OWN the stream closes the descriptor on close or on free,
 * whichever comes first, and only once: a descriptor number is reused by the
 * next open, so a second close would shut somebody else's file.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/io-internal.h"

struct fd_stream {
	plumb_reader reader;
	plumb_writer writer;
	int fd;
	bool own;
};

static struct fd_stream *fd_stream_new(int fd, int flags)
{
	struct fd_stream *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	s->fd = fd;
	s->own = flags & PLUMB_FD_OWN;
	return s;
}

/* Closes an owned descriptor once; Linux releases it even when close fails
 * with EINTR, so that is not an error to report. */
static int fd_stream_close(struct fd_stream *s)
{
	int fd = s->fd;

	if (!s->own || fd < 0)
		return 0;
	s->fd = -1;
	if (close(fd) < 0 && errno != EINTR)
		return plumb_io_errno();
	return 0;
}

static struct fd_stream *reader_stream(plumb_reader *r)
{
	return PLUMB_CONTAINER_OF(r, struct fd_stream, reader);
}

static struct fd_stream *writer_stream(plumb_writer *w)
{
	return PLUMB_CONTAINER_OF(w, struct fd_stream, writer);
}

static ssize_t fd_read(plumb_reader *r, void *buf, size_t len)
{
	int fd = reader_stream(r)->fd;
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? plumb_io_errno() : n;
}

/* Fills buf from off on; fewer than len bytes only at the end of the file. */
static ssize_t fd_read_at(plumb_reader *r, void *buf, size_t len, int64_t off)
{
	int fd = reader_stream(r)->fd;
	size_t got = 0;

	if (off < 0)
		return -EINVAL;
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (int64_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return plumb_io_errno();
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int64_t fd_seek(plumb_reader *r, int64_t off, int whence)
{
	off_t pos = lseek(reader_stream(r)->fd, off, whence);

	return pos < 0 ? plumb_io_errno() : pos;
}

static int fd_reader_fd(plumb_reader *r)
{
	return reader_stream(r)->fd;
}

static int fd_reader_close(plumb_reader *r)
{
	return fd_stream_close(reader_stream(r));
}

static void fd_reader_free(plumb_reader *r)
{
	struct fd_stream *s = reader_stream(r);

	fd_stream_close(s);
	free(s);
}

static const plumb_reader_ops fd_reader_ops = {
        .read = fd_read,
        .read_at = fd_read_at,
        .seek = fd_seek,
        .fd = fd_reader_fd,
        .close = fd_reader_close,
        .free = fd_reader_free,
};

plumb_reader *plumb_fd_reader_new(int fd, int flags)
{
	struct fd_stream *s = fd_stream_new(fd, flags);

	if (!s)
		return NULL;
	s->reader.ops = &fd_reader_ops;
	return &s->reader;
}

/* All of buf or an error; a write of nothing still reaches the kernel so a
 * bad descriptor is reported. */
static ssize_t fd_write(plumb_writer *w, const void *buf, size_t len)
{
	int fd = writer_stream(w)->fd;
	size_t done = 0;

	do {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return plumb_io_errno();
		if (n == 0 && len > 0)
			return PLUMB_ESHORTWRITE;
		done += (size_t)n;
	} while (done < len);
	return (ssize_t)len;
}

static int fd_writer_fd(plumb_writer *w)
{
	return writer_stream(w)->fd;
}

static int fd_writer_close(plumb_writer *w)
{
	return fd_stream_close(writer_stream(w));
}

static void fd_writer_free(plumb_writer *w)
{
	struct fd_stream *s = writer_stream(w);

	fd_stream_close(s);
	free(s);
}

static const plumb_writer_ops fd_writer_ops = {
        .write = fd_write,
        .fd = fd_writer_fd,
        .close = fd_writer_close,
        .free = fd_writer_free,
};

plumb_writer *plumb_fd_writer_new(int fd, int flags)
{
	struct fd_stream *s = fd_stream_new(fd, flags);

	if (!s)
		return NULL;
	s->writer.ops = &fd_writer_ops;
	return &s->writer;
}
