/*
 * reader.c - the calls through the reader and writer interfaces, and the
 * helpers every caller wants on top of read: read_at_least, read_full and
 * read_all (Go's io.ReadAtLeast, io.ReadFull, io.ReadAll).
 *
 * The calls are thin: they fill in what an absent optional operation means
 * (io.h) so that callers never test ops themselves, and they hold the two
 * edge rules of the contract in one place: a read of nothing is nothing, and
 * a count that ssize_t cannot carry is never asked for.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "io/io-internal.h"

ssize_t plumb_reader_read(plumb_reader *r, void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	return r->ops->read(r, buf, len);
}

ssize_t plumb_reader_read_at(plumb_reader *r, void *buf, size_t len, int64_t off)
{
	if (!r->ops->read_at)
		return -ENOTSUP;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	return r->ops->read_at(r, buf, len, off);
}

int64_t plumb_reader_seek(plumb_reader *r, int64_t off, int whence)
{
	if (!r->ops->seek)
		return -ENOTSUP;
	return r->ops->seek(r, off, whence);
}

int plumb_reader_fd(plumb_reader *r)
{
	return r->ops->fd ? r->ops->fd(r) : -1;
}

int plumb_reader_close(plumb_reader *r)
{
	return r->ops->close ? r->ops->close(r) : 0;
}

void plumb_reader_free(plumb_reader *r)
{
	if (r && r->ops->free)
		r->ops->free(r);
}

ssize_t plumb_writer_write(plumb_writer *w, const void *buf, size_t len)
{
	if (len > SSIZE_MAX)
		return -EINVAL;
	return w->ops->write(w, buf, len);
}

ssize_t plumb_writer_write_str(plumb_writer *w, const char *s)
{
	return plumb_writer_write(w, s, strlen(s));
}

int plumb_writer_fd(plumb_writer *w)
{
	return w->ops->fd ? w->ops->fd(w) : -1;
}

int plumb_writer_close(plumb_writer *w)
{
	return w->ops->close ? w->ops->close(w) : 0;
}

void plumb_writer_free(plumb_writer *w)
{
	if (w && w->ops->free)
		w->ops->free(w);
}

ssize_t plumb_io_write_all(plumb_writer *w, const void *buf, size_t len)
{
	ssize_t n = plumb_writer_write(w, buf, len);

	if (n >= 0 && (size_t)n != len)
		return PLUMB_ESHORTWRITE;
	return n;
}

int64_t plumb_io_seek_pos(int64_t cur, int64_t size, int64_t off, int whence)
{
	int64_t base, pos;

	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = cur;
		break;
	case SEEK_END:
		base = size;
		break;
	default:
		return PLUMB_EBADSEEK;
	}
	if (__builtin_add_overflow(base, off, &pos) || pos < 0)
		return PLUMB_EBADSEEK;
	return pos;
}

ssize_t plumb_read_at_least(plumb_reader *r, void *buf, size_t len, size_t min)
{
	size_t got = 0;

	if (len < min)
		return PLUMB_ESHORTBUFFER;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (got < min) {
		ssize_t n = plumb_reader_read(r, (char *)buf + got, len - got);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t plumb_read_full(plumb_reader *r, void *buf, size_t len)
{
	return plumb_read_at_least(r, buf, len, len);
}

/* Reads through a buffer's read_from, which reads straight into its spare
 * room and grows it geometrically; then hands the memory over. */
ssize_t plumb_read_all(plumb_reader *r, char **out)
{
	plumb_buffer b;
	int64_t n;

	*out = NULL;
	plumb_buffer_init(&b);
	n = b.writer.ops->read_from(&b.writer, r);
	if (n >= 0 && plumb_buffer_grow(&b, 1) < 0)
		n = -ENOMEM;
	if (n < 0) {
		plumb_buffer_release(&b);
		return n;
	}
	b.data[b.len] = '\0';
	*out = (char *)b.data;
	return (ssize_t)b.len;
}
