/*
 * encode-internal.h - what the encoder files of lib/export share.
 *
 * An encoder writes through an outbuf: a flat byte buffer with two ways of
 * making room.  The encoder's own output buffer writes to the writer when it
 * is full (in pieces of exactly PLUMB_ENCODE_BUFSIZE); a scratch outbuf
 * grows instead (CSV renders an array's JSON there before quoting it).
 * After a writer error the buffer is emptied on every flush and nothing more
 * is written, so the code that fills it need not check each append: it
 * reports the encoder's sticky error when the row is done.
 *
 * The number formatting, base64 and UTF-8/JSON helpers are here too, so the
 * tests can reach them.
 */
#ifndef PLUMB_ENCODE_INTERNAL_H
#define PLUMB_ENCODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <plumb/encode.h>

#define PLUMB_HIDDEN __attribute__((visibility("hidden")))

/* The most bytes any one scalar needs (a double in its longest form, an
 * int64, an escape, "false", U+FFFD...), with room to spare. */
#define ENC_SCALAR_MAX 40

/* What the output buffer holds beyond PLUMB_ENCODE_BUFSIZE: the most any
 * in-place write (enc_room) asks for. */
#define ENC_SLACK 64

struct outbuf {
	unsigned char *buf;
	size_t len, cap;
	plumb_encoder *enc; /* whose error to set */
	bool grow;          /* scratch: grow instead of flushing */
};

/* One output format: the three steps, each returning 0 or the error. */
struct enc_format {
	const char *name;
	int (*begin)(plumb_encoder *enc);
	int (*row)(plumb_encoder *enc, const plumb_value *row);
	int (*end)(plumb_encoder *enc);
};

struct plumb_encoder {
	const struct enc_format *fmt;
	plumb_writer *w;
	struct outbuf out;     /* flushes to w */
	struct outbuf scratch; /* grows; CSV arrays */
	int err;               /* sticky: the first error */
	plumb_encode_options opt;
	int begun, ended;
	uint64_t rows;
	size_t ncols;
	char **names;        /* the column names, NUL-terminated copies */
	size_t *namelens;    /* their lengths */
	unsigned char *keys; /* NDJSON: each column's `{"name":` or `,"name":` */
	size_t *keyoff;      /* column i's key is keys[keyoff[i]..keyoff[i+1]) */
};

extern const struct enc_format plumb_enc_ndjson PLUMB_HIDDEN;
extern const struct enc_format plumb_enc_json PLUMB_HIDDEN;
extern const struct enc_format plumb_enc_csv PLUMB_HIDDEN;

/* Makes room: writes a piece out of (or grows) o so that n bytes fit;
 * n <= ENC_SLACK, or any n for a growing buffer (which may then drop its
 * content, after -ENOMEM). */
void plumb_enc_make_room(struct outbuf *o, size_t n) PLUMB_HIDDEN;

/* Appends n bytes of any size, writing whole pieces out as it goes. */
void plumb_enc_put_slow(struct outbuf *o, const void *p, size_t n) PLUMB_HIDDEN;

/* Writes out all that o holds (the encoder's buffer), in pieces of at most
 * PLUMB_ENCODE_BUFSIZE: 0 or the sticky error. */
int plumb_enc_flush(struct outbuf *o) PLUMB_HIDDEN;

/* A pointer to n free bytes at the end of o (n <= ENC_SLACK); the
 * caller writes there and then adds what it wrote to o->len. */
static inline unsigned char *enc_room(struct outbuf *o, size_t n)
{
	if (o->cap - o->len < n)
		plumb_enc_make_room(o, n);
	return o->buf + o->len;
}

static inline void enc_put(struct outbuf *o, const void *p, size_t n)
{
	if (n <= o->cap - o->len) {
		memcpy(o->buf + o->len, p, n);
		o->len += n;
	} else {
		plumb_enc_put_slow(o, p, n);
	}
}

static inline void enc_putc(struct outbuf *o, unsigned char c)
{
	*enc_room(o, 1) = c;
	o->len++;
}

#define enc_puts(o, lit) enc_put((o), (lit), sizeof(lit) - 1)

/* ---- numbers (numfmt.c) ---- */

/* The decimal digits of v / of v with its sign, at out (room for 20 / 21);
 * return the count. */
size_t plumb_enc_u64(char *out, uint64_t v) PLUMB_HIDDEN;
size_t plumb_enc_i64(char *out, int64_t v) PLUMB_HIDDEN;

/*
 * plumb_enc_double - x as the shortest decimal that reads back (strtod) to
 * x, in JavaScript's Number-to-String layout: plain digits for 1e-7 <= |x| <
 * 1e21, else d.ddde+XX; -0 for negative zero; "NaN", "Infinity",
 * "-Infinity" for the rest.  out needs 32 bytes; returns the length.
 * plumb_enc_float is the same for a float (shortest that strtof reads back).
 */
size_t plumb_enc_double(char *out, double x) PLUMB_HIDDEN;
size_t plumb_enc_float(char *out, float x) PLUMB_HIDDEN;

/* ---- base64 (base64.c) ---- */

/* Encodes n bytes (a multiple of 3, or the last piece) into out, which has
 * room for 4 * ((n + 2) / 3) bytes; returns the count written. */
size_t plumb_enc_base64(char *out, const unsigned char *in, size_t n) PLUMB_HIDDEN;

/* Appends the base64 of n bytes to o, in pieces as the room allows. */
void plumb_enc_put_base64(struct outbuf *o, const unsigned char *in, size_t n) PLUMB_HIDDEN;

/* ---- UTF-8 and JSON strings (json.c) ---- */

/* The length (2..4) of the well-formed UTF-8 sequence at s (n > 0 bytes,
 * s[0] >= 0x80), or 0 when it is not one. */
size_t plumb_utf8_seq(const unsigned char *s, size_t n) PLUMB_HIDDEN;

/* The length (>= 1) of the maximal ill-formed subsequence at s (where
 * plumb_utf8_seq said 0): what one U+FFFD replaces. */
size_t plumb_utf8_bad(const unsigned char *s, size_t n) PLUMB_HIDDEN;

/* The length of the longest prefix of s that goes into a JSON string as it
 * is: printable ASCII but '"' and '\\', and well-formed UTF-8. */
size_t plumb_json_run(const unsigned char *s, size_t n) PLUMB_HIDDEN;

/* Writes the escape for the byte or bad sequence at s (where plumb_json_run
 * stopped) into out (room for 6 bytes); stores how many input bytes it
 * stood for in *used; returns the count written. */
size_t plumb_json_escape_one(char *out, const unsigned char *s, size_t n,
                             size_t *used) PLUMB_HIDDEN;

/* Appends the n bytes at s to o as a JSON string, quotes included. */
void plumb_enc_json_string(struct outbuf *o, const unsigned char *s, size_t n) PLUMB_HIDDEN;

/* Appends v to o as JSON (arrays recursively). */
void plumb_enc_json_value(struct outbuf *o, const plumb_value *v,
                          const plumb_encode_options *opt) PLUMB_HIDDEN;

#endif
