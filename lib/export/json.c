/*
 * json.c - JSON strings and values: escaping, UTF-8 checking, repair.
 *
 * Text goes into a JSON string as it is unless it must not: a '"', a '\\',
 * a control character (RFC 8259 requires escaping those and nothing else) or
 * bytes that are not well-formed UTF-8, which become U+FFFD so the output is
 * always valid.  Most text needs nothing, so the scan reads 8 bytes at a time
 * and stops only when a word holds a byte that is special or not ASCII;
 * well-formed multi-byte sequences are checked and passed over without
 * leaving the run.  What the run covers is copied in one piece.
 *
 * Ill-formed UTF-8 is replaced as Unicode's "substitution of maximal
 * subparts" says (the practice of the W3C encoding standard and of most
 * decoders): one U+FFFD for each longest prefix of a well-formed sequence,
 * or for a single byte that starts none.
 */
#include <errno.h>

#include "encode-internal.h"

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when some byte of w is zero (exact for the lowest such byte). */
static inline uint64_t has_zero(uint64_t w)
{
	return (w - ONES) & ~w & HIGHS;
}

/* Nonzero when the word needs a closer look: a byte >= 0x80, < 0x20, '"'
 * or '\\' (the < 0x20 test is exact when no byte is >= 0x80). */
static inline uint64_t json_special(uint64_t w)
{
	return (w & HIGHS) | ((w - ONES * 0x20) & ~w & HIGHS) | has_zero(w ^ (ONES * '"')) |
	       has_zero(w ^ (ONES * '\\'));
}

static inline int cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* The range the second byte of a sequence must be in, for lead byte c:
 * these rule out overlong forms, surrogates and code points past U+10FFFF. */
static inline int second_ok(unsigned char c, unsigned char c2)
{
	switch (c) {
	case 0xe0:
		return c2 >= 0xa0 && c2 <= 0xbf;
	case 0xed:
		return c2 >= 0x80 && c2 <= 0x9f;
	case 0xf0:
		return c2 >= 0x90 && c2 <= 0xbf;
	case 0xf4:
		return c2 >= 0x80 && c2 <= 0x8f;
	default:
		return cont(c2);
	}
}

/* The length a sequence led by c has, or 0 for a byte that leads none. */
static inline size_t seq_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

size_t plumb_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len = seq_len(s[0]);
	if (len == 0 || n < len || !second_ok(s[0], s[1]))
		return 0;
	for (size_t i = 2; i < len; i++)
		if (!cont(s[i]))
			return 0;
	return len;
}

size_t plumb_utf8_bad(const unsigned char *s, size_t n)
{
	size_t len = seq_len(s[0]);
	if (len == 0 || n < 2 || !second_ok(s[0], s[1]))
		return 1;
	size_t i = 2;
	while (i < len && i < n && cont(s[i]))
		i++;
	return i;
}

size_t plumb_json_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
	for (;;) {
		while (n - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (json_special(w))
				break;
			i += 8;
		}
		if (i == n)
			return n;
		unsigned char c = s[i];
		if (c >= 0x80) {
			size_t len = plumb_utf8_seq(s + i, n - i);
			if (len == 0)
				return i;
			i += len;
		} else if (c < 0x20 || c == '"' || c == '\\') {
			return i;
		} else {
			i++;
		}
	}
}

size_t plumb_json_escape_one(char *out, const unsigned char *s, size_t n, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c = s[0];
	*used = 1;
	if (c >= 0x80) {
		*used = plumb_utf8_bad(s, n);
		memcpy(out, "\xef\xbf\xbd", 3);
		return 3;
	}
	out[0] = '\\';
	switch (c) {
	case '"':
	case '\\':
		out[1] = (char)c;
		return 2;
	case '\b':
		out[1] = 'b';
		return 2;
	case '\f':
		out[1] = 'f';
		return 2;
	case '\n':
		out[1] = 'n';
		return 2;
	case '\r':
		out[1] = 'r';
		return 2;
	case '\t':
		out[1] = 't';
		return 2;
	}
	memcpy(out + 1, "u00", 3);
	out[4] = hex[c >> 4];
	out[5] = hex[c & 15];
	return 6;
}

void plumb_enc_json_string(struct outbuf *o, const unsigned char *s, size_t n)
{
	enc_putc(o, '"');
	for (;;) {
		size_t run = plumb_json_run(s, n);
		enc_put(o, s, run);
		s += run;
		n -= run;
		if (n == 0)
			break;
		size_t used;
		char *room = (char *)enc_room(o, 6);
		o->len += plumb_json_escape_one(room, s, n, &used);
		s += used;
		n -= used;
	}
	enc_putc(o, '"');
}

int plumb_json_append_string(plumb_buffer *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t start = plumb_buffer_len(b);
	int rc = plumb_buffer_append(b, "\"", 1);
	while (rc == 0 && n > 0) {
		size_t run = plumb_json_run(s, n);
		rc = plumb_buffer_append(b, s, run);
		s += run;
		n -= run;
		if (rc == 0 && n > 0) {
			char esc[6];
			size_t used, len = plumb_json_escape_one(esc, s, n, &used);
			rc = plumb_buffer_append(b, esc, len);
			s += used;
			n -= used;
		}
	}
	if (rc == 0)
		rc = plumb_buffer_append(b, "\"", 1);
	if (rc < 0)
		plumb_buffer_truncate(b, start);
	return rc;
}

/* A NUMERIC's text is a JSON number when it is -?digits(.digits)? (as
 * PostgreSQL writes it); "NaN" and the infinities are not. */
static int json_number(const char *s, size_t n)
{
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	size_t d = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == d || (s[d] == '0' && i - d > 1))
		return 0;
	if (i < n && s[i] == '.') {
		size_t f = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			return 0;
	}
	return i == n;
}

/* NaN and the infinities, which no JSON number can hold. */
static int numeric_special(const char *s, size_t n)
{
	return (n == 3 && memcmp(s, "NaN", 3) == 0) || (n == 8 && memcmp(s, "Infinity", 8) == 0) ||
	       (n == 9 && memcmp(s, "-Infinity", 9) == 0);
}

static int json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A JSON document embedded in a line: the whitespace around it goes, and
 * raw CR and LF inside, which valid JSON can only have as whitespace, become
 * spaces.  Nothing at all (which no valid document is) becomes null. */
static void put_json_text(struct outbuf *o, const char *s, size_t n)
{
	while (n > 0 && json_space(s[0]))
		s++, n--;
	while (n > 0 && json_space(s[n - 1]))
		n--;
	if (n == 0) {
		enc_puts(o, "null");
		return;
	}
	while (n > 0) {
		size_t i = 0;
		while (i < n && s[i] != '\n' && s[i] != '\r')
			i++;
		enc_put(o, s, i);
		if (i == n)
			break;
		enc_putc(o, ' ');
		s += i + 1;
		n -= i + 1;
	}
}

void plumb_enc_json_value(struct outbuf *o, const plumb_value *v, const plumb_encode_options *opt)
{
	char *room;
	switch (v->kind) {
	case PLUMB_VALUE_NULL:
		enc_puts(o, "null");
		break;
	case PLUMB_VALUE_INT:
		room = (char *)enc_room(o, ENC_SCALAR_MAX);
		o->len += plumb_enc_i64(room, v->i);
		break;
	case PLUMB_VALUE_FLOAT:
		if (!__builtin_isfinite(v->f)) {
			enc_puts(o, "null");
			break;
		}
		room = (char *)enc_room(o, ENC_SCALAR_MAX);
		o->len += plumb_enc_double(room, v->f);
		break;
	case PLUMB_VALUE_FLOAT4:
		if (!__builtin_isfinite(v->f)) {
			enc_puts(o, "null");
			break;
		}
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
		plumb_enc_json_string(o, (const unsigned char *)v->s, v->len);
		break;
	case PLUMB_VALUE_BLOB:
		enc_putc(o, '"');
		plumb_enc_put_base64(o, (const unsigned char *)v->s, v->len);
		enc_putc(o, '"');
		break;
	case PLUMB_VALUE_NUMERIC:
		if (opt->numeric_as_number && json_number(v->s, v->len))
			enc_put(o, v->s, v->len);
		else if (opt->numeric_as_number && numeric_special(v->s, v->len))
			enc_puts(o, "null");
		else
			plumb_enc_json_string(o, (const unsigned char *)v->s, v->len);
		break;
	case PLUMB_VALUE_JSON:
		put_json_text(o, v->s, v->len);
		break;
	case PLUMB_VALUE_ARRAY:
		enc_putc(o, '[');
		for (size_t i = 0; i < v->len; i++) {
			if (i)
				enc_putc(o, ',');
			plumb_enc_json_value(o, &v->elems[i], opt);
		}
		enc_putc(o, ']');
		break;
	default:
		enc_puts(o, "null");
	}
}
