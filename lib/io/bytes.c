/*
 * bytes.c - readers over memory the caller keeps (Go's bytes.Reader and
 * strings.Reader), and plumb_discard (Go's io.Discard).
 *
 * The bytes reader only remembers where it is in someone else's bytes, so it
 * can read, read at an offset, seek anywhere (past the end too, where reads
 * find the end), and hand everything left to a writer in one write.
 *
 * Discard is a single static writer.  Its read_from still has to read the
 * source to its end; it drops the bytes in a buffer on its stack, so
 * concurrent users never share memory.
 */
#include <stdlib.h>
#include <string.h>

#include "io/io-internal.h"

/* What discard's read_from reads at a time. */
#define DISCARD_CHUNK (16 * 1024)

struct bytes_reader {
	plumb_reader reader;
	const unsigned char *data;
	size_t len;
	int64_t pos;
};

static struct bytes_reader *bytes_of(plumb_reader *r)
{
	return PLUMB_CONTAINER_OF(r, struct bytes_reader, reader);
}

/* The bytes from off to the end, at most max of them: their count. */
static size_t bytes_left(const struct bytes_reader *br, int64_t off, size_t max)
{
	size_t left;

	if (off < 0 || (uint64_t)off >= br->len)
		return 0;
	left = br->len - (size_t)off;
	return left < max ? left : max;
}

static ssize_t bytes_read(plumb_reader *r, void *buf, size_t len)
{
	struct bytes_reader *br = bytes_of(r);
	size_t n = bytes_left(br, br->pos, len);

	if (n == 0)
		return 0;
	memcpy(buf, br->data + br->pos, n);
	br->pos += (int64_t)n;
	return (ssize_t)n;
}

static ssize_t bytes_read_at(plumb_reader *r, void *buf, size_t len, int64_t off)
{
	struct bytes_reader *br = bytes_of(r);
	size_t n;

	if (off < 0)
		return -EINVAL;
	n = bytes_left(br, off, len);
	if (n)
		memcpy(buf, br->data + off, n);
	return (ssize_t)n;
}

static int64_t bytes_seek(plumb_reader *r, int64_t off, int whence)
{
	struct bytes_reader *br = bytes_of(r);
	int64_t pos = plumb_io_seek_pos(br->pos, (int64_t)br->len, off, whence);

	if (pos >= 0)
		br->pos = pos;
	return pos;
}

static int64_t bytes_write_to(plumb_reader *r, plumb_writer *w)
{
	struct bytes_reader *br = bytes_of(r);
	size_t n = bytes_left(br, br->pos, br->len);
	ssize_t rc;

	if (n == 0)
		return 0;
	rc = plumb_io_write_all(w, br->data + br->pos, n);
	if (rc < 0)
		return rc;
	br->pos += (int64_t)n;
	return (int64_t)n;
}

static void bytes_free(plumb_reader *r)
{
	free(bytes_of(r));
}

static const plumb_reader_ops bytes_reader_ops = {
        .read = bytes_read,
        .read_at = bytes_read_at,
        .seek = bytes_seek,
        .write_to = bytes_write_to,
        .free = bytes_free,
};

plumb_reader *plumb_bytes_reader_new(const void *data, size_t len)
{
	struct bytes_reader *br = malloc(sizeof(*br));

	if (!br)
		return NULL;
	br->reader.ops = &bytes_reader_ops;
	br->data = len ? data : NULL;
	br->len = len;
	br->pos = 0;
	return &br->reader;
}

plumb_reader *plumb_string_reader_new(const char *s)
{
	return plumb_bytes_reader_new(s, s ? strlen(s) : 0);
}

static ssize_t discard_write(plumb_writer *w, const void *buf, size_t len)
{
	(void)w;
	(void)buf;
	return (ssize_t)len;
}

static int64_t discard_read_from(plumb_writer *w, plumb_reader *r)
{
	unsigned char scratch[DISCARD_CHUNK];
	int64_t total = 0;
	ssize_t n;

	(void)w;
	while ((n = plumb_reader_read(r, scratch, sizeof(scratch))) > 0)
		total += n;
	return n < 0 ? n : total;
}

static const plumb_writer_ops discard_ops = {
        .write = discard_write,
        .read_from = discard_read_from,
};

static plumb_writer discard_writer = {&discard_ops};

plumb_writer *plumb_discard(void)
{
	return &discard_writer;
}
