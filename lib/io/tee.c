/*
 * tee.c - streams that fan bytes out or in: the tee reader (io.TeeReader),
 * the multi writer (io.MultiWriter) and the multi reader (io.MultiReader).
 *
 * None of them owns what it wraps: free releases only the combinator.  The
 * multi streams copy the caller's array into their own allocation, and take a
 * nested multi stream's members in its place, so a chain of them costs one
 * level of calls however it was built (Go does the same; for a reader, the
 * nested one's members are taken as they stand at construction, so read the
 * outer one only).
 *
 * The multi reader also writes itself to a writer through plumb_copy, member
 * by member, so members over descriptors still take the kernel's paths.
 */
#include <stdint.h>
#include <stdlib.h>

#include "io/io-internal.h"

/* ---- Tee reader ---- */

struct tee_reader {
	plumb_reader reader;
	plumb_reader *r;
	plumb_writer *w;
};

static struct tee_reader *tee_of(plumb_reader *r)
{
	return PLUMB_CONTAINER_OF(r, struct tee_reader, reader);
}

static ssize_t tee_read(plumb_reader *r, void *buf, size_t len)
{
	struct tee_reader *t = tee_of(r);
	ssize_t n = plumb_reader_read(t->r, buf, len);

	if (n > 0) {
		ssize_t rc = plumb_io_write_all(t->w, buf, (size_t)n);

		if (rc < 0)
			return rc;
	}
	return n;
}

static void tee_free(plumb_reader *r)
{
	free(tee_of(r));
}

static const plumb_reader_ops tee_reader_ops = {
        .read = tee_read,
        .free = tee_free,
};

plumb_reader *plumb_tee_reader_new(plumb_reader *r, plumb_writer *w)
{
	struct tee_reader *t = malloc(sizeof(*t));

	if (!t)
		return NULL;
	t->reader.ops = &tee_reader_ops;
	t->r = r;
	t->w = w;
	return &t->reader;
}

/* ---- Multi writer ---- */

struct multi_writer {
	plumb_writer writer;
	size_t n;
	plumb_writer *ws[];
};

static const plumb_writer_ops multi_writer_ops;

static struct multi_writer *multi_writer_of(plumb_writer *w)
{
	return w->ops == &multi_writer_ops ? PLUMB_CONTAINER_OF(w, struct multi_writer, writer)
	                                   : NULL;
}

static ssize_t multi_write(plumb_writer *w, const void *buf, size_t len)
{
	struct multi_writer *mw = multi_writer_of(w);

	for (size_t i = 0; i < mw->n; i++) {
		ssize_t rc = plumb_io_write_all(mw->ws[i], buf, len);

		if (rc < 0)
			return rc;
	}
	return (ssize_t)len;
}

static void multi_writer_free(plumb_writer *w)
{
	free(multi_writer_of(w));
}

static const plumb_writer_ops multi_writer_ops = {
        .write = multi_write,
        .free = multi_writer_free,
};

/* The writers ws stands for once nested multi writers are opened up. */
static size_t multi_writer_count(plumb_writer *const *ws, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		struct multi_writer *inner = multi_writer_of(ws[i]);

		count += inner ? inner->n : 1;
	}
	return count;
}

plumb_writer *plumb_multi_writer_new(plumb_writer *const *ws, size_t n)
{
	size_t count = multi_writer_count(ws, n);
	struct multi_writer *mw;

	if (count > (SIZE_MAX - sizeof(*mw)) / sizeof(mw->ws[0])) {
		errno = ENOMEM;
		return NULL;
	}
	mw = malloc(sizeof(*mw) + count * sizeof(mw->ws[0]));
	if (!mw)
		return NULL;
	mw->writer.ops = &multi_writer_ops;
	mw->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct multi_writer *inner = multi_writer_of(ws[i]);

		if (!inner) {
			mw->ws[mw->n++] = ws[i];
			continue;
		}
		for (size_t j = 0; j < inner->n; j++)
			mw->ws[mw->n++] = inner->ws[j];
	}
	return &mw->writer;
}

/* ---- Multi reader ---- */

struct multi_reader {
	plumb_reader reader;
	size_t cur, n; /* rs[cur..n) are still to be read */
	plumb_reader *rs[];
};

static const plumb_reader_ops multi_reader_ops;

static struct multi_reader *multi_reader_of(plumb_reader *r)
{
	return r->ops == &multi_reader_ops ? PLUMB_CONTAINER_OF(r, struct multi_reader, reader)
	                                   : NULL;
}

/* Reads from the current member; one at its end gives way to the next. */
static ssize_t multi_read(plumb_reader *r, void *buf, size_t len)
{
	struct multi_reader *mr = multi_reader_of(r);

	if (len == 0)
		return 0;
	while (mr->cur < mr->n) {
		ssize_t n = plumb_reader_read(mr->rs[mr->cur], buf, len);

		if (n != 0)
			return n;
		mr->cur++;
	}
	return 0;
}

/* Copies member after member; after an error the failed member is current,
 * so a later call resumes there. */
static int64_t multi_write_to(plumb_reader *r, plumb_writer *w)
{
	struct multi_reader *mr = multi_reader_of(r);
	int64_t total = 0;

	for (; mr->cur < mr->n; mr->cur++) {
		int64_t n = plumb_copy(w, mr->rs[mr->cur]);

		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

static void multi_reader_free(plumb_reader *r)
{
	free(multi_reader_of(r));
}

static const plumb_reader_ops multi_reader_ops = {
        .read = multi_read,
        .write_to = multi_write_to,
        .free = multi_reader_free,
};

/* The readers rs stands for once nested multi readers are opened up. */
static size_t multi_reader_count(plumb_reader *const *rs, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		struct multi_reader *inner = multi_reader_of(rs[i]);

		count += inner ? inner->n - inner->cur : 1;
	}
	return count;
}

plumb_reader *plumb_multi_reader_new(plumb_reader *const *rs, size_t n)
{
	size_t count = multi_reader_count(rs, n);
	struct multi_reader *mr;

	if (count > (SIZE_MAX - sizeof(*mr)) / sizeof(mr->rs[0])) {
		errno = ENOMEM;
		return NULL;
	}
	mr = malloc(sizeof(*mr) + count * sizeof(mr->rs[0]));
	if (!mr)
		return NULL;
	mr->reader.ops = &multi_reader_ops;
	mr->cur = mr->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct multi_reader *inner = multi_reader_of(rs[i]);

		if (!inner) {
			mr->rs[mr->n++] = rs[i];
			continue;
		}
		for (size_t j = inner->cur; j < inner->n; j++)
			mr->rs[mr->n++] = inner->rs[j];
	}
	return &mr->reader;
}
