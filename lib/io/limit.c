/*
 * limit.c - readers over part of another: the limit reader (io.LimitReader)
 * and the section reader (io.SectionReader).
 *
 * A limit reader passes reads through, cut to what it has left.  Its layout
 * is shared with copy.c (io-internal.h): plumb_copy looks through a limit
 * reader at the stream below, so a copy from a limit reader over a descriptor
 * still runs in the kernel, with the limit handed to the kernel and taken off
 * the limit reader afterwards.
 *
 * A section reader is a window [base, limit) onto a stream that can read at
 * an offset; it keeps its own position, so several can share one stream.
 */
#include <stdlib.h>

#include "io/io-internal.h"

/* ---- Limit reader ---- */

static const plumb_reader_ops limit_reader_ops;

struct plumb_limit_reader *plumb_limit_reader_of(plumb_reader *r)
{
	return r->ops == &limit_reader_ops
	               ? PLUMB_CONTAINER_OF(r, struct plumb_limit_reader, reader)
	               : NULL;
}

static ssize_t limit_read(plumb_reader *r, void *buf, size_t len)
{
	struct plumb_limit_reader *lr = plumb_limit_reader_of(r);
	ssize_t n;

	if (lr->n <= 0)
		return 0;
	if ((uint64_t)len > (uint64_t)lr->n)
		len = (size_t)lr->n;
	n = plumb_reader_read(lr->r, buf, len);
	if (n > 0)
		lr->n -= n;
	return n;
}

static void limit_free(plumb_reader *r)
{
	free(plumb_limit_reader_of(r));
}

static const plumb_reader_ops limit_reader_ops = {
        .read = limit_read,
        .free = limit_free,
};

void plumb_limit_reader_init(struct plumb_limit_reader *lr, plumb_reader *r, int64_t n)
{
	lr->reader.ops = &limit_reader_ops;
	lr->r = r;
	lr->n = n;
}

plumb_reader *plumb_limit_reader_new(plumb_reader *r, int64_t n)
{
	struct plumb_limit_reader *lr = malloc(sizeof(*lr));

	if (!lr)
		return NULL;
	plumb_limit_reader_init(lr, r, n);
	return &lr->reader;
}

int64_t plumb_limit_reader_left(plumb_reader *r)
{
	struct plumb_limit_reader *lr = plumb_limit_reader_of(r);

	if (!lr)
		return -EINVAL;
	return lr->n > 0 ? lr->n : 0;
}

/* ---- Section reader ---- */

struct section_reader {
	plumb_reader reader;
	plumb_reader *r;
	int64_t base, off, limit; /* absolute offsets in r */
};

static const plumb_reader_ops section_reader_ops;

static struct section_reader *section_of(plumb_reader *r)
{
	return r->ops == &section_reader_ops ? PLUMB_CONTAINER_OF(r, struct section_reader, reader)
	                                     : NULL;
}

/* Reads at the absolute offset off, cut at the section's end. */
static ssize_t section_read_abs(struct section_reader *s, void *buf, size_t len, int64_t off)
{
	if (off >= s->limit)
		return 0;
	if ((uint64_t)len > (uint64_t)(s->limit - off))
		len = (size_t)(s->limit - off);
	return plumb_reader_read_at(s->r, buf, len, off);
}

static ssize_t section_read(plumb_reader *r, void *buf, size_t len)
{
	struct section_reader *s = section_of(r);
	ssize_t n = section_read_abs(s, buf, len, s->off);

	if (n > 0)
		s->off += n;
	return n;
}

static ssize_t section_read_at(plumb_reader *r, void *buf, size_t len, int64_t off)
{
	struct section_reader *s = section_of(r);

	if (off < 0)
		return -EINVAL;
	if (off >= s->limit - s->base)
		return 0;
	return section_read_abs(s, buf, len, s->base + off);
}

static int64_t section_seek(plumb_reader *r, int64_t off, int whence)
{
	struct section_reader *s = section_of(r);
	int64_t pos = plumb_io_seek_pos(s->off - s->base, s->limit - s->base, off, whence);

	if (pos < 0)
		return pos;
	if (pos > INT64_MAX - s->base)
		return PLUMB_EBADSEEK;
	s->off = s->base + pos;
	return pos;
}

static void section_free(plumb_reader *r)
{
	free(section_of(r));
}

static const plumb_reader_ops section_reader_ops = {
        .read = section_read,
        .read_at = section_read_at,
        .seek = section_seek,
        .free = section_free,
};

plumb_reader *plumb_section_reader_new(plumb_reader *r, int64_t off, int64_t n)
{
	struct section_reader *s;

	if (!r->ops->read_at || off < 0 || n < 0) {
		errno = EINVAL;
		return NULL;
	}
	s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	s->reader.ops = &section_reader_ops;
	s->r = r;
	s->base = s->off = off;
	s->limit = off <= INT64_MAX - n ? off + n : INT64_MAX;
	return &s->reader;
}

int64_t plumb_section_reader_size(plumb_reader *r)
{
	struct section_reader *s = section_of(r);

	return s ? s->limit - s->base : -EINVAL;
}
