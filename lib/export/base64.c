/*
 * base64.c - standard base64 (RFC 4648, section 4: A-Z a-z 0-9 + /, '='
 * padding) for blobs in JSON and CSV.
 *
 * Three bytes become four characters.  The main loop takes 12 bytes with
 * two 8-byte loads and writes 16 characters; the tail goes three at a time.
 * Big blobs are encoded piece by piece into the output buffer, in multiples
 * of three bytes so the padding only ever comes at the very end.
 */
#include "encode-internal.h"

static const char alphabet[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static inline void quad(char *out, uint32_t v)
{
	out[0] = alphabet[(v >> 18) & 63];
	out[1] = alphabet[(v >> 12) & 63];
	out[2] = alphabet[(v >> 6) & 63];
	out[3] = alphabet[v & 63];
}

size_t plumb_enc_base64(char *out, const unsigned char *in, size_t n)
{
	char *p = out;
	while (n >= 12) {
		/* Four groups of three bytes, from big-endian loads. */
		uint64_t a, b;
		memcpy(&a, in, 8);
		memcpy(&b, in + 4, 8);
		a = __builtin_bswap64(a);
		b = __builtin_bswap64(b);
		quad(p, (uint32_t)(a >> 40));
		quad(p + 4, (uint32_t)(a >> 16));
		quad(p + 8, (uint32_t)(b >> 24));
		quad(p + 12, (uint32_t)b);
		p += 16;
		in += 12;
		n -= 12;
	}
	while (n >= 3) {
		quad(p, (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2]);
		p += 4;
		in += 3;
		n -= 3;
	}
	if (n > 0) {
		uint32_t v = (uint32_t)in[0] << 16 | (n > 1 ? (uint32_t)in[1] << 8 : 0);
		quad(p, v);
		p[3] = '=';
		if (n == 1)
			p[2] = '=';
		p += 4;
	}
	return (size_t)(p - out);
}

void plumb_enc_put_base64(struct outbuf *o, const unsigned char *in, size_t n)
{
	while (n > 0) {
		size_t room = o->cap - o->len;
		if (room < 64) {
			plumb_enc_make_room(o, 64);
			room = o->cap - o->len;
		}
		size_t take = room / 4 * 3;
		if (take > n)
			take = n;
		o->len += plumb_enc_base64((char *)o->buf + o->len, in, take);
		in += take;
		n -= take;
	}
}
