/*
 * buffer.c - plumb_buffer, a growable byte buffer (Go's bytes.Buffer).
 *
 * Writes append at len, reads take from off, and the unread bytes are
 * data[off..len).  Memory is reused before more is taken: once everything
 * was read the offsets go back to 0, and when the buffer must grow but
 * sliding the unread bytes to the front leaves at least half of it free, they
 * slide instead.  Otherwise the capacity doubles (plus what was asked for), so
 * a long run of appends copies each byte a bounded number of times.
 *
 * read_from reads straight into the spare capacity, never through a staging
 * buffer; write_to hands the unread bytes to the writer in one call.  The
 * struct belongs to its owner (often on the stack): the reader and writer
 * interfaces neither close nor free it; plumb_buffer_release does.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/io-internal.h"

/* The least room read_from offers a read (Go's MinRead). */
#define BUFFER_MIN_READ 512
/* The smallest allocation, so tiny appends do not reallocate at every turn. */
#define BUFFER_MIN_CAP 64

static const plumb_reader_ops buffer_reader_ops;
static const plumb_writer_ops buffer_writer_ops;

void plumb_buffer_init(plumb_buffer *b)
{
	b->reader.ops = &buffer_reader_ops;
	b->writer.ops = &buffer_writer_ops;
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

void plumb_buffer_release(plumb_buffer *b)
{
	free(b->data);
	plumb_buffer_init(b);
}

void plumb_buffer_reset(plumb_buffer *b)
{
	b->off = b->len = 0;
}

/* A new block with room for n more bytes after the unread ones, which move to
 * its start: twice the old capacity plus n, as Go does. */
static int buffer_realloc(plumb_buffer *b, size_t n)
{
	size_t unread = b->len - b->off;
	size_t cap = b->cap <= (SIZE_MAX - n) / 2 ? 2 * b->cap + n : unread + n;
	unsigned char *data;

	if (cap < BUFFER_MIN_CAP)
		cap = BUFFER_MIN_CAP;
	if (b->off == 0) {
		data = realloc(b->data, cap);
		if (!data)
			return -ENOMEM;
	} else {
		data = malloc(cap);
		if (!data)
			return -ENOMEM;
		memcpy(data, b->data + b->off, unread);
		free(b->data);
	}
	b->data = data;
	b->cap = cap;
	b->off = 0;
	b->len = unread;
	return 0;
}

int plumb_buffer_grow(plumb_buffer *b, size_t n)
{
	size_t unread = b->len - b->off;

	if (unread == 0)
		plumb_buffer_reset(b);
	if (b->cap - b->len >= n)
		return 0;
	if (n > SIZE_MAX - unread)
		return -ENOMEM;
	if (b->cap / 2 >= unread && n <= b->cap / 2 - unread) {
		memmove(b->data, b->data + b->off, unread);
		b->off = 0;
		b->len = unread;
		return 0;
	}
	return buffer_realloc(b, n);
}

/* data may be some of b's own unread bytes, which growing can move. */
int plumb_buffer_append(plumb_buffer *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	uintptr_t at = b->data ? (uintptr_t)p - (uintptr_t)(b->data + b->off) : UINTPTR_MAX;
	bool inside = at < b->len - b->off;
	int rc = plumb_buffer_grow(b, len);

	if (rc < 0)
		return rc;
	if (inside)
		p = b->data + b->off + at;
	if (len)
		memmove(b->data + b->len, p, len);
	b->len += len;
	return 0;
}

int plumb_buffer_truncate(plumb_buffer *b, size_t n)
{
	if (n > b->len - b->off)
		return -EINVAL;
	if (n == 0)
		plumb_buffer_reset(b);
	else
		b->len = b->off + n;
	return 0;
}

/* Takes n unread bytes off the front; an emptied buffer starts over. */
static void buffer_consume(plumb_buffer *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		plumb_buffer_reset(b);
}

static plumb_buffer *reader_buffer(plumb_reader *r)
{
	return PLUMB_CONTAINER_OF(r, plumb_buffer, reader);
}

static plumb_buffer *writer_buffer(plumb_writer *w)
{
	return PLUMB_CONTAINER_OF(w, plumb_buffer, writer);
}

static ssize_t buffer_read(plumb_reader *r, void *buf, size_t len)
{
	plumb_buffer *b = reader_buffer(r);
	size_t n = b->len - b->off;

	if (n == 0) {
		plumb_buffer_reset(b);
		return 0;
	}
	if (n > len)
		n = len;
	memcpy(buf, b->data + b->off, n);
	buffer_consume(b, n);
	return (ssize_t)n;
}

static int64_t buffer_write_to(plumb_reader *r, plumb_writer *w)
{
	plumb_buffer *b = reader_buffer(r);
	size_t n = b->len - b->off;
	ssize_t rc;

	if (n == 0)
		return 0;
	rc = plumb_io_write_all(w, b->data + b->off, n);
	if (rc < 0)
		return rc;
	buffer_consume(b, n);
	return (int64_t)n;
}

static const plumb_reader_ops buffer_reader_ops = {
        .read = buffer_read,
        .write_to = buffer_write_to,
};

static ssize_t buffer_write(plumb_writer *w, const void *buf, size_t len)
{
	int rc = plumb_buffer_append(writer_buffer(w), buf, len);

	return rc < 0 ? rc : (ssize_t)len;
}

/* Reads r to its end into the spare room, growing it as it fills.  On an
 * error what was read stays in the buffer. */
static int64_t buffer_read_from(plumb_writer *w, plumb_reader *r)
{
	plumb_buffer *b = writer_buffer(w);
	int64_t total = 0;

	for (;;) {
		ssize_t n;
		int rc = plumb_buffer_grow(b, BUFFER_MIN_READ);

		if (rc < 0)
			return rc;
		n = plumb_reader_read(r, b->data + b->len, b->cap - b->len);
		if (n <= 0)
			return n < 0 ? n : total;
		b->len += (size_t)n;
		total += n;
	}
}

static const plumb_writer_ops buffer_writer_ops = {
        .write = buffer_write,
        .read_from = buffer_read_from,
};
