/*
 * encoder.c - the encoder object: its output buffer, its columns, and the
 * calls that dispatch to a format (ndjson.c, csv.c).
 *
 * Output collects in one buffer and goes to the writer in pieces of exactly
 * PLUMB_ENCODE_BUFSIZE bytes, all but the last one at a flush, so the writer
 * (a pipe, usually) sees big writes of one size.  The buffer has a little
 * slack past that size so that a number or an escape can always be written
 * in place: once the buffer holds more than a piece, the piece is written
 * and the few bytes beyond it move to the front.  The first write error sticks:
 * from then on the buffer is emptied instead of written and every call
 * returns the error, so the format code can fill the buffer without checking
 * each append and report once a row.
 */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "encode-internal.h"

static const struct enc_format *const formats[] = {
        &plumb_enc_ndjson,
        &plumb_enc_json,
        &plumb_enc_csv,
};

static const char *const format_names[] = {"ndjson", "jsonl", "json", "csv", NULL};

const char *const *plumb_encoder_formats(void)
{
	return format_names;
}

static const struct enc_format *find_format(const char *name)
{
	if (!name)
		return NULL;
	if (strcasecmp(name, "jsonl") == 0)
		return &plumb_enc_ndjson;
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		if (strcasecmp(name, formats[i]->name) == 0)
			return formats[i];
	return NULL;
}

int plumb_encoder_new(plumb_encoder **out, const char *format, const plumb_encode_options *opt,
                      plumb_writer *w)
{
	*out = NULL;
	const struct enc_format *fmt = find_format(format);
	if (!fmt)
		return PLUMB_EALGO;
	plumb_encoder *enc = calloc(1, sizeof *enc);
	if (!enc)
		return -ENOMEM;
	enc->out.buf = malloc(PLUMB_ENCODE_BUFSIZE + ENC_SLACK);
	enc->scratch.buf = malloc(256);
	if (!enc->out.buf || !enc->scratch.buf) {
		plumb_encoder_free(enc);
		return -ENOMEM;
	}
	enc->fmt = fmt;
	enc->w = w;
	enc->out.cap = PLUMB_ENCODE_BUFSIZE + ENC_SLACK;
	enc->out.enc = enc;
	enc->scratch.cap = 256;
	enc->scratch.enc = enc;
	enc->scratch.grow = true;
	if (opt)
		enc->opt = *opt;
	*out = enc;
	return 0;
}

static void free_columns(plumb_encoder *enc)
{
	for (size_t i = 0; enc->names && i < enc->ncols; i++)
		free(enc->names[i]);
	free(enc->names);
	free(enc->namelens);
	free(enc->keys);
	free(enc->keyoff);
	enc->names = NULL;
	enc->namelens = NULL;
	enc->keys = NULL;
	enc->keyoff = NULL;
	enc->ncols = 0;
}

void plumb_encoder_free(plumb_encoder *enc)
{
	if (!enc)
		return;
	free_columns(enc);
	free(enc->out.buf);
	free(enc->scratch.buf);
	free(enc);
}

/* Writes n bytes from the buffer's start to the writer, or records why not. */
static void write_out(plumb_encoder *enc, const unsigned char *buf, size_t n)
{
	if (enc->err)
		return;
	ssize_t rc = plumb_writer_write(enc->w, buf, n);
	if (rc >= 0 && (size_t)rc != n)
		rc = PLUMB_ESHORTWRITE;
	if (rc < 0)
		enc->err = (int)rc;
}

/* Writes the first PLUMB_ENCODE_BUFSIZE bytes (o->len is more) and moves
 * the few beyond them to the front. */
static void spill(struct outbuf *o)
{
	write_out(o->enc, o->buf, PLUMB_ENCODE_BUFSIZE);
	if (o->enc->err) {
		o->len = 0;
		return;
	}
	o->len -= PLUMB_ENCODE_BUFSIZE;
	memmove(o->buf, o->buf + PLUMB_ENCODE_BUFSIZE, o->len);
}

int plumb_enc_flush(struct outbuf *o)
{
	plumb_encoder *enc = o->enc;
	for (size_t off = 0; off < o->len && !enc->err; off += PLUMB_ENCODE_BUFSIZE) {
		size_t n = o->len - off;
		write_out(enc, o->buf + off, n < PLUMB_ENCODE_BUFSIZE ? n : PLUMB_ENCODE_BUFSIZE);
	}
	o->len = 0;
	return enc->err;
}

/* A growing buffer doubles; when it cannot, the encoder fails with -ENOMEM
 * and the buffer is emptied (it keeps room for a scalar). */
static void grow(struct outbuf *o, size_t n)
{
	size_t cap = o->cap;
	while (cap - o->len < n)
		cap = cap * 2 > cap ? cap * 2 : SIZE_MAX;
	unsigned char *buf = o->enc->err ? NULL : realloc(o->buf, cap);
	if (!buf) {
		if (!o->enc->err)
			o->enc->err = -ENOMEM;
		o->len = 0;
		return;
	}
	o->buf = buf;
	o->cap = cap;
}

void plumb_enc_make_room(struct outbuf *o, size_t n)
{
	/* The output buffer has ENC_SLACK bytes past PLUMB_ENCODE_BUFSIZE, and
	 * n <= ENC_SLACK: when n does not fit, more than a whole buffer is
	 * there to write. */
	if (o->grow)
		grow(o, n);
	else
		spill(o);
}

void plumb_enc_put_slow(struct outbuf *o, const void *p, size_t n)
{
	const unsigned char *s = p;
	if (o->grow) {
		grow(o, n);
		if (o->cap - o->len >= n) {
			memcpy(o->buf + o->len, s, n);
			o->len += n;
		}
		return;
	}
	while (n > 0) {
		size_t room = o->cap - o->len;
		if (room == 0) {
			spill(o);
			if (o->enc->err)
				return;
			room = o->cap - o->len;
		}
		size_t take = n < room ? n : room;
		memcpy(o->buf + o->len, s, take);
		o->len += take;
		s += take;
		n -= take;
	}
}

/* Column i's NDJSON key, `{"name":` or `,"name":`, built once. */
static int build_keys(plumb_encoder *enc)
{
	struct outbuf keys = {.buf = malloc(256), .cap = 256, .enc = enc, .grow = true};
	enc->keyoff = calloc(enc->ncols + 1, sizeof *enc->keyoff);
	if (!keys.buf || !enc->keyoff) {
		free(keys.buf);
		return -ENOMEM;
	}
	for (size_t i = 0; i < enc->ncols; i++) {
		enc->keyoff[i] = keys.len;
		enc_putc(&keys, i ? ',' : '{');
		plumb_enc_json_string(&keys, (const unsigned char *)enc->names[i],
		                      enc->namelens[i]);
		enc_putc(&keys, ':');
	}
	enc->keyoff[enc->ncols] = keys.len;
	enc->keys = keys.buf;
	return enc->err;
}

int plumb_encoder_begin(plumb_encoder *enc, const plumb_db_column *cols, size_t n)
{
	if (enc->err)
		return enc->err;
	if (enc->begun)
		return -EINVAL;
	enc->begun = 1;
	enc->names = calloc(n ? n : 1, sizeof *enc->names);
	enc->namelens = calloc(n ? n : 1, sizeof *enc->namelens);
	if (!enc->names || !enc->namelens)
		return enc->err = -ENOMEM;
	enc->ncols = n;
	for (size_t i = 0; i < n; i++) {
		const char *name = cols[i].name ? cols[i].name : "";
		enc->names[i] = strdup(name);
		if (!enc->names[i])
			return enc->err = -ENOMEM;
		enc->namelens[i] = strlen(name);
	}
	int rc = build_keys(enc);
	if (rc < 0)
		return enc->err = rc;
	return enc->fmt->begin(enc);
}

int plumb_encoder_row(plumb_encoder *enc, const plumb_value *row)
{
	if (enc->err)
		return enc->err;
	if (!enc->begun || enc->ended)
		return -EINVAL;
	int rc = enc->fmt->row(enc, row);
	if (rc == 0)
		enc->rows++;
	return rc;
}

int plumb_encoder_flush(plumb_encoder *enc)
{
	return plumb_enc_flush(&enc->out);
}

int plumb_encoder_end(plumb_encoder *enc)
{
	if (enc->err)
		return enc->err;
	if (!enc->begun || enc->ended)
		return -EINVAL;
	enc->ended = 1;
	int rc = enc->fmt->end(enc);
	if (rc < 0)
		return rc;
	return plumb_enc_flush(&enc->out);
}

uint64_t plumb_encoder_rows(const plumb_encoder *enc)
{
	return enc->rows;
}
