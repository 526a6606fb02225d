/*
 * zstd.c - Zstandard (RFC 8878) as a writer and a reader, over libzstd.
 *
 * Same shape as gzip.c: fixed staging buffers, output handed on whenever a
 * buffer fills, concatenated frames read as one stream.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <zstd.h>

#include "compress-internal.h"

struct zstd_writer {
	plumb_writer writer;
	plumb_writer *dst;
	ZSTD_CCtx *cctx;
	bool finished;
	unsigned char out[COMPRESS_CHUNK];
};

/* Runs the compressor over in with the given directive until it has taken
 * all of it (and, for ZSTD_e_end, written the whole frame). */
static int compress_all(struct zstd_writer *z, ZSTD_inBuffer *in, ZSTD_EndDirective mode)
{
	for (;;) {
		ZSTD_outBuffer out = {z->out, sizeof z->out, 0};
		size_t left = ZSTD_compressStream2(z->cctx, &out, in, mode);
		if (ZSTD_isError(left))
			return -EINVAL;
		if (out.pos) {
			ssize_t w = plumb_writer_write(z->dst, z->out, out.pos);
			if (w < 0)
				return (int)w;
		}
		if (mode == ZSTD_e_end ? left == 0 : in->pos == in->size)
			return 0;
	}
}

static ssize_t zstd_write(plumb_writer *w, const void *buf, size_t len)
{
	struct zstd_writer *z = PLUMB_CONTAINER_OF(w, struct zstd_writer, writer);
	if (z->finished)
		return PLUMB_ECLOSED;
	ZSTD_inBuffer in = {buf, len, 0};
	int rc = compress_all(z, &in, ZSTD_e_continue);
	return rc < 0 ? rc : (ssize_t)len;
}

static int zstd_close(plumb_writer *w)
{
	struct zstd_writer *z = PLUMB_CONTAINER_OF(w, struct zstd_writer, writer);
	if (z->finished)
		return 0;
	z->finished = true;
	ZSTD_inBuffer in = {NULL, 0, 0};
	return compress_all(z, &in, ZSTD_e_end);
}

static void zstd_writer_free(plumb_writer *w)
{
	struct zstd_writer *z = PLUMB_CONTAINER_OF(w, struct zstd_writer, writer);
	ZSTD_freeCCtx(z->cctx);
	free(z);
}

static const plumb_writer_ops zstd_writer_ops = {
        .write = zstd_write,
        .close = zstd_close,
        .free = zstd_writer_free,
};

int zstd_writer_new(plumb_writer **out, int level, plumb_writer *dst)
{
	struct zstd_writer *z = calloc(1, sizeof *z);
	if (!z || !(z->cctx = ZSTD_createCCtx())) {
		free(z);
		return -ENOMEM;
	}
	if (level)
		ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	/* a checksum in each frame, as the zstd tool writes by default */
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
	z->writer.ops = &zstd_writer_ops;
	z->dst = dst;
	*out = &z->writer;
	return 0;
}

struct zstd_reader {
	plumb_reader reader;
	plumb_reader *src;
	ZSTD_DCtx *dctx;
	ZSTD_inBuffer in;
	bool src_done;
	bool in_frame; /* a frame has begun and not ended */
	unsigned char buf[COMPRESS_CHUNK];
};

static ssize_t zstd_read(plumb_reader *r, void *buf, size_t len)
{
	struct zstd_reader *z = PLUMB_CONTAINER_OF(r, struct zstd_reader, reader);
	while (len) {
		if (z->in.pos == z->in.size && !z->src_done) {
			ssize_t n = plumb_reader_read(z->src, z->buf, sizeof z->buf);
			if (n < 0)
				return n;
			z->src_done = n == 0;
			z->in = (ZSTD_inBuffer){z->buf, (size_t)n, 0};
		}
		if (z->in.pos == z->in.size && z->src_done && !z->in_frame)
			return 0;
		ZSTD_outBuffer out = {buf, len, 0};
		size_t ret = ZSTD_decompressStream(z->dctx, &out, &z->in);
		if (ZSTD_isError(ret))
			return PLUMB_EFORMAT;
		/* ret == 0: a frame just ended; more input may start another */
		z->in_frame = ret != 0;
		if (out.pos)
			return (ssize_t)out.pos;
		if (z->in.pos == z->in.size && z->src_done)
			return z->in_frame ? PLUMB_EFORMAT : 0; /* truncated inside a frame */
	}
	return 0;
}

static void zstd_reader_free(plumb_reader *r)
{
	struct zstd_reader *z = PLUMB_CONTAINER_OF(r, struct zstd_reader, reader);
	ZSTD_freeDCtx(z->dctx);
	free(z);
}

static const plumb_reader_ops zstd_reader_ops = {
        .read = zstd_read,
        .free = zstd_reader_free,
};

int zstd_reader_new(plumb_reader **out, plumb_reader *src)
{
	struct zstd_reader *z = calloc(1, sizeof *z);
	if (!z || !(z->dctx = ZSTD_createDCtx())) {
		free(z);
		return -ENOMEM;
	}
	z->reader.ops = &zstd_reader_ops;
	z->src = src;
	*out = &z->reader;
	return 0;
}
