/*
 * gzip.c - gzip (RFC 1952) as a writer and a reader, over zlib.
 *
 * The writer deflates into a fixed staging buffer and hands it to the next
 * writer whenever it fills, so memory stays constant whatever the stream's
 * length.  The reader inflates from a fixed input buffer, and reads
 * concatenated members as one stream, as gzip -d does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <zlib.h>

#include "compress-internal.h"

struct gzip_writer {
	plumb_writer writer;
	plumb_writer *dst;
	z_stream z;
	bool finished;
	unsigned char out[COMPRESS_CHUNK];
};

/* Sends what deflate produced so far and rewinds the staging buffer. */
static int drain(struct gzip_writer *g)
{
	size_t n = sizeof g->out - g->z.avail_out;
	if (n) {
		ssize_t w = plumb_writer_write(g->dst, g->out, n);
		if (w < 0)
			return (int)w;
	}
	g->z.next_out = g->out;
	g->z.avail_out = sizeof g->out;
	return 0;
}

static int deflate_all(struct gzip_writer *g, int flush)
{
	for (;;) {
		int zr = deflate(&g->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EINVAL;
		if (g->z.avail_out == 0 || zr == Z_STREAM_END) {
			int rc = drain(g);
			if (rc < 0 || zr == Z_STREAM_END)
				return rc;
			continue;
		}
		if (flush == Z_NO_FLUSH && g->z.avail_in == 0)
			return 0;
	}
}

static ssize_t gzip_write(plumb_writer *w, const void *buf, size_t len)
{
	struct gzip_writer *g = PLUMB_CONTAINER_OF(w, struct gzip_writer, writer);
	if (g->finished)
		return PLUMB_ECLOSED;
	const unsigned char *p = buf;
	size_t left = len;
	while (left) {
		/* avail_in is a uInt: feed huge writes in slices */
		uInt piece = left > (1u << 30) ? (1u << 30) : (uInt)left;
		g->z.next_in = (unsigned char *)p;
		g->z.avail_in = piece;
		int rc = deflate_all(g, Z_NO_FLUSH);
		if (rc < 0)
			return rc;
		p += piece;
		left -= piece;
	}
	return (ssize_t)len;
}

static int gzip_close(plumb_writer *w)
{
	struct gzip_writer *g = PLUMB_CONTAINER_OF(w, struct gzip_writer, writer);
	if (g->finished)
		return 0;
	g->finished = true;
	g->z.avail_in = 0;
	return deflate_all(g, Z_FINISH);
}

static void gzip_writer_free(plumb_writer *w)
{
	struct gzip_writer *g = PLUMB_CONTAINER_OF(w, struct gzip_writer, writer);
	deflateEnd(&g->z);
	free(g);
}

static const plumb_writer_ops gzip_writer_ops = {
        .write = gzip_write,
        .close = gzip_close,
        .free = gzip_writer_free,
};

int gzip_writer_new(plumb_writer **out, int level, plumb_writer *dst)
{
	struct gzip_writer *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	/* windowBits 15 + 16: a gzip header and trailer rather than zlib's */
	if (deflateInit2(&g->z, level ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(g);
		return -ENOMEM;
	}
	g->writer.ops = &gzip_writer_ops;
	g->dst = dst;
	g->z.next_out = g->out;
	g->z.avail_out = sizeof g->out;
	*out = &g->writer;
	return 0;
}

struct gzip_reader {
	plumb_reader reader;
	plumb_reader *src;
	z_stream z;
	bool src_done;  /* src returned its end */
	bool in_member; /* input was consumed since the last member ended */
	bool done;      /* the last member ended with the input */
	unsigned char in[COMPRESS_CHUNK];
};

static int refill(struct gzip_reader *g)
{
	ssize_t n = plumb_reader_read(g->src, g->in, sizeof g->in);
	if (n < 0)
		return (int)n;
	if (n == 0)
		g->src_done = true;
	g->z.next_in = g->in;
	g->z.avail_in = (uInt)n;
	return 0;
}

static ssize_t gzip_read(plumb_reader *r, void *buf, size_t len)
{
	struct gzip_reader *g = PLUMB_CONTAINER_OF(r, struct gzip_reader, reader);
	if (len > (1u << 30))
		len = 1u << 30;
	while (!g->done && len) {
		if (g->z.avail_in == 0 && !g->src_done) {
			int rc = refill(g);
			if (rc < 0)
				return rc;
		}
		if (g->z.avail_in == 0 && g->src_done && !g->in_member) {
			/* the input ended between members: the stream is complete */
			g->done = true;
			break;
		}
		g->in_member = true;
		g->z.next_out = buf;
		g->z.avail_out = (uInt)len;
		int zr = inflate(&g->z, Z_NO_FLUSH);
		size_t produced = len - g->z.avail_out;
		if (zr == Z_STREAM_END) {
			g->in_member = false;
			inflateReset(&g->z);
		} else if (zr == Z_BUF_ERROR && g->src_done && !produced) {
			return PLUMB_EFORMAT; /* truncated inside a member */
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return PLUMB_EFORMAT;
		}
		if (produced)
			return (ssize_t)produced;
	}
	return 0;
}

static void gzip_reader_free(plumb_reader *r)
{
	struct gzip_reader *g = PLUMB_CONTAINER_OF(r, struct gzip_reader, reader);
	inflateEnd(&g->z);
	free(g);
}

static const plumb_reader_ops gzip_reader_ops = {
        .read = gzip_read,
        .free = gzip_reader_free,
};

int gzip_reader_new(plumb_reader **out, plumb_reader *src)
{
	struct gzip_reader *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	if (inflateInit2(&g->z, 15 + 16) != Z_OK) {
		free(g);
		return -ENOMEM;
	}
	g->reader.ops = &gzip_reader_ops;
	g->src = src;
	*out = &g->reader;
	return 0;
}
