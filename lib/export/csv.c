/*
 * csv.c - rows as CSV, RFC 4180 with LF line ends, as PostgreSQL's COPY
 * ... (FORMAT csv) writes them.
 *
 * A field is quoted when it holds a comma, a double quote, CR or LF; when it
 * is the empty string, so it differs from NULL (an empty unquoted field);
 * and, in a row of one column, when it is exactly \. , which COPY would read
 * as the end of data.
 * Quotes inside are doubled.  Spaces are data and cause no quoting.  Text
 * goes out byte for byte: CSV has no escapes to repair bad UTF-8 with.
 * The scan for characters that force quoting reads 8 bytes at a time, and
 * for a field that needs none (most of them) it copies as it scans.
 */
#include "encode-internal.h"

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t has_byte(uint64_t w, unsigned char c)
{
	uint64_t v = w ^ (ONES * c);
	return (v - ONES) & ~v & HIGHS;
}

static int needs_quotes(const unsigned char *s, size_t n, int single)
{
	if (n == 0 || (single && n == 2 && s[0] == '\\' && s[1] == '.'))
		return 1;
	size_t i = 0;
	for (; n - i >= 8; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		if (has_byte(w, ',') | has_byte(w, '"') | has_byte(w, '\n') | has_byte(w, '\r'))
			return 1;
	}
	for (; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			return 1;
	return 0;
}

/* The bytes of w that force quoting, as has_byte marks them (0: none). */
static inline uint64_t specials(uint64_t w)
{
	return has_byte(w, ',') | has_byte(w, '"') | has_byte(w, '\n') | has_byte(w, '\r');
}

/*
 * The common case in one pass: copies a field of n (1 or more) bytes to the
 * end of o while looking for the bytes that force quoting, 8 at a time (the
 * last word overlapping the one before it).  Returns 1 when the field went
 * in as it is; 0 when it needs quotes, or o has not the room (then o is as
 * it was: the bytes written past o->len do not count).
 */
static inline int put_plain(struct outbuf *o, const unsigned char *s, size_t n)
{
	if (o->cap - o->len < n)
		return 0;
	unsigned char *d = o->buf + o->len;
	uint64_t w, bad = 0;
	if (n < 8) {
		for (size_t i = 0; i < n; i++) {
			unsigned char c = s[i];
			bad |= (c == ',') | (c == '"') | (c == '\n') | (c == '\r');
			d[i] = c;
		}
	} else {
		size_t i = 0;
		for (; i + 8 < n; i += 8) {
			memcpy(&w, s + i, 8);
			bad |= specials(w);
			memcpy(d + i, &w, 8);
		}
		memcpy(&w, s + n - 8, 8);
		bad |= specials(w);
		memcpy(d + n - 8, &w, 8);
	}
	if (bad)
		return 0;
	o->len += n;
	return 1;
}

/* single: the row has one column, so a field alone on its line. */
static void put_field(struct outbuf *o, const unsigned char *s, size_t n, int single)
{
	if (n > 0 && !(single && n == 2) && put_plain(o, s, n))
		return;
	if (!needs_quotes(s, n, single)) {
		enc_put(o, s, n);
		return;
	}
	enc_putc(o, '"');
	while (n > 0) {
		const unsigned char *q = memchr(s, '"', n);
		size_t run = q ? (size_t)(q - s) + 1 : n;
		enc_put(o, s, run);
		if (q)
			enc_putc(o, '"');
		s += run;
		n -= run;
	}
	enc_putc(o, '"');
}

static void put_value(plumb_encoder *enc, const plumb_value *v)
{
	struct outbuf *o = &enc->out;
	char *room;
	switch (v->kind) {
	case PLUMB_VALUE_NULL:
		break;
	case PLUMB_VALUE_INT:
		room = (char *)enc_room(o, ENC_SCALAR_MAX);
		o->len += plumb_enc_i64(room, v->i);
		break;
	case PLUMB_VALUE_FLOAT:
		room = (char *)enc_room(o, ENC_SCALAR_MAX);
		o->len += plumb_enc_double(room, v->f);
		break;
	case PLUMB_VALUE_FLOAT4:
		room = (char *)enc_room(o, ENC_SCALAR_MAX);
		o->len += plumb_enc_float(room, (float)v->f);
		break;
	case PLUMB_VALUE_BOOL:
		if (v->i)
			enc_puts(o, "true");
		else
			enc_puts(o, "false");
		break;
	case PLUMB_VALUE_TEXT:
	case PLUMB_VALUE_NUMERIC:
	case PLUMB_VALUE_JSON:
		put_field(o, (const unsigned char *)v->s, v->len, enc->ncols == 1);
		break;
	case PLUMB_VALUE_BLOB:
		if (v->len == 0)
			enc_puts(o, "\"\"");
		else
			plumb_enc_put_base64(o, (const unsigned char *)v->s, v->len);
		break;
	case PLUMB_VALUE_ARRAY:
		/* Its JSON text, rendered aside and then quoted as a field. */
		enc->scratch.len = 0;
		plumb_enc_json_value(&enc->scratch, v, &enc->opt);
		put_field(o, enc->scratch.buf, enc->scratch.len, 0);
		break;
	}
}

static int csv_begin(plumb_encoder *enc)
{
	if (enc->opt.no_header)
		return enc->err;
	for (size_t i = 0; i < enc->ncols; i++) {
		if (i)
			enc_putc(&enc->out, ',');
		put_field(&enc->out, (const unsigned char *)enc->names[i], enc->namelens[i],
		          enc->ncols == 1);
	}
	enc_putc(&enc->out, '\n');
	return enc->err;
}

static int csv_row(plumb_encoder *enc, const plumb_value *row)
{
	for (size_t i = 0; i < enc->ncols; i++) {
		if (i)
			enc_putc(&enc->out, ',');
		put_value(enc, &row[i]);
	}
	enc_putc(&enc->out, '\n');
	return enc->err;
}

static int csv_end(plumb_encoder *enc)
{
	return enc->err;
}

const struct enc_format plumb_enc_csv = {"csv", csv_begin, csv_row, csv_end};
