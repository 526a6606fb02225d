/*
 * ndjson.c - rows as JSON objects: NDJSON (one object a line) and a single
 * JSON array of them.
 *
 * The keys never change, so each column's `{"name":` or `,"name":` is
 * escaped once (encoder.c) and a row is those fragments, each followed by a
 * value, then "}\n".  The array form writes "[" first, ",\n" between rows
 * and "]\n" at the end, so it is valid JSON for any number of rows.
 */
#include "encode-internal.h"

static int ndjson_begin(plumb_encoder *enc)
{
	(void)enc;
	return 0;
}

/* One row as an object, without what follows it. */
static void put_object(plumb_encoder *enc, const plumb_value *row)
{
	struct outbuf *o = &enc->out;
	if (enc->ncols == 0) {
		enc_puts(o, "{}");
		return;
	}
	for (size_t i = 0; i < enc->ncols; i++) {
		enc_put(o, enc->keys + enc->keyoff[i], enc->keyoff[i + 1] - enc->keyoff[i]);
		plumb_enc_json_value(o, &row[i], &enc->opt);
	}
	enc_putc(o, '}');
}

static int ndjson_row(plumb_encoder *enc, const plumb_value *row)
{
	put_object(enc, row);
	enc_putc(&enc->out, '\n');
	return enc->err;
}

static int ndjson_end(plumb_encoder *enc)
{
	return enc->err;
}

const struct enc_format plumb_enc_ndjson = {"ndjson", ndjson_begin, ndjson_row, ndjson_end};

static int json_begin(plumb_encoder *enc)
{
	enc_putc(&enc->out, '[');
	return enc->err;
}

static int json_row(plumb_encoder *enc, const plumb_value *row)
{
	if (enc->rows)
		enc_puts(&enc->out, ",\n");
	put_object(enc, row);
	return enc->err;
}

static int json_end(plumb_encoder *enc)
{
	enc_puts(&enc->out, "]\n");
	return enc->err;
}

const struct enc_format plumb_enc_json = {"json", json_begin, json_row, json_end};
