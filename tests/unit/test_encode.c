/*
 * test_encode.c - unit tests of the row encoders (plumb/encode.h) and their
 * number, base64 and JSON string helpers.
 *
 * Every value kind through every format, compared byte for byte with output
 * written down by hand; JSON string escaping against the RFC's rules and
 * against a slow reference escaper on random bytes (valid and broken UTF-8);
 * floats against a property over millions of random doubles and floats:
 * what is printed reads back to the same bits, and one digit fewer would
 * not (by the monotonicity of %.Ne, that proves no shorter form exists);
 * base64 against RFC 4648's vectors and OpenSSL; CSV quoting; the JSON
 * array for 0, 1 and many rows; a failing writer (the error comes back and
 * nothing more is written); big values (written in whole buffers, never held
 * beyond one); the buffer sizes a pipe behind the encoder sees.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include <plumb/encode.h>
#include <plumb/io.h>

#include "export/encode-internal.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* splitmix64: a fixed sequence, so every run checks the same numbers. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static plumb_value vnull(void)
{
	return (plumb_value){.kind = PLUMB_VALUE_NULL};
}

static plumb_value vint(int64_t i)
{
	return (plumb_value){.kind = PLUMB_VALUE_INT, .i = i};
}

static plumb_value vfloat(double f)
{
	return (plumb_value){.kind = PLUMB_VALUE_FLOAT, .f = f};
}

static plumb_value vfloat4(float f)
{
	return (plumb_value){.kind = PLUMB_VALUE_FLOAT4, .f = f};
}

static plumb_value vbool(int b)
{
	return (plumb_value){.kind = PLUMB_VALUE_BOOL, .i = b};
}

static plumb_value vstr(plumb_value_kind kind, const char *s, size_t len)
{
	return (plumb_value){.kind = kind, .len = len, .s = s};
}

static plumb_value vtext(const char *s)
{
	return vstr(PLUMB_VALUE_TEXT, s, strlen(s));
}

static plumb_value varray(const plumb_value *elems, size_t n)
{
	return (plumb_value){.kind = PLUMB_VALUE_ARRAY, .len = n, .elems = elems};
}

/* Column descriptions from names. */
static plumb_db_column *columns(const char *const *names, size_t n)
{
	static plumb_db_column cols[32];
	assert_true(n <= 32);
	for (size_t i = 0; i < n; i++)
		cols[i] = (plumb_db_column){.name = names[i], .type = ""};
	return cols;
}

/* Encodes nrows rows of ncols values in format into a new string (freed by
 * the caller); fails the test on any error. */
static char *encode(const char *format, const plumb_encode_options *opt, const char *const *names,
                    size_t ncols, const plumb_value *rows, size_t nrows, size_t *outlen)
{
	plumb_buffer b;
	plumb_buffer_init(&b);
	plumb_encoder *enc;
	assert_int_equal(plumb_encoder_new(&enc, format, opt, &b.writer), 0);
	assert_int_equal(plumb_encoder_begin(enc, columns(names, ncols), ncols), 0);
	for (size_t r = 0; r < nrows; r++)
		assert_int_equal(plumb_encoder_row(enc, rows + r * ncols), 0);
	assert_int_equal(plumb_encoder_end(enc), 0);
	assert_int_equal(plumb_encoder_rows(enc), nrows);
	plumb_encoder_free(enc);
	size_t n = plumb_buffer_len(&b);
	char *s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, plumb_buffer_bytes(&b), n);
	s[n] = '\0';
	plumb_buffer_release(&b);
	if (outlen)
		*outlen = n;
	return s;
}

static void expect_encoding(const char *format, const plumb_encode_options *opt,
                            const char *const *names, size_t ncols, const plumb_value *rows,
                            size_t nrows, const char *want)
{
	char *got = encode(format, opt, names, ncols, rows, nrows, NULL);
	assert_string_equal(got, want);
	free(got);
}

/* One TEXT value through NDJSON: the JSON string it became. */
static char *json_of(const char *s, size_t n)
{
	static const char *const name[] = {"v"};
	plumb_value v = vstr(PLUMB_VALUE_TEXT, s, n);
	size_t len;
	char *out = encode("ndjson", NULL, name, 1, &v, 1, &len);
	/* {"v":...}\n */
	assert_true(len >= 8);
	assert_memory_equal(out, "{\"v\":", 5);
	assert_memory_equal(out + len - 2, "}\n", 2);
	memmove(out, out + 5, len - 7);
	out[len - 7] = '\0';
	return out;
}

/* ---- every kind through every format ---- */

static const char *const kind_names[] = {"n",   "i",  "f",   "f4",  "b",   "t",   "blob",
                                         "num", "js", "arr", "nan", "inf", "negz"};

static void kind_row(plumb_value *row, plumb_value *inner, plumb_value *arr)
{
	inner[0] = vbool(1);
	arr[0] = vint(1);
	arr[1] = vtext("x");
	arr[2] = vnull();
	arr[3] = varray(inner, 1);
	row[0] = vnull();
	row[1] = vint(-42);
	row[2] = vfloat(123.45);
	row[3] = vfloat4(0.1f);
	row[4] = vbool(1);
	row[5] = vtext("h\xc3\xa9llo \"q\"");
	row[6] = vstr(PLUMB_VALUE_BLOB, "\x00\xff\x10", 3);
	row[7] = vstr(PLUMB_VALUE_NUMERIC, "-12.50", 6);
	row[8] = vstr(PLUMB_VALUE_JSON, "{\"a\": [1, 2]}", 13);
	row[9] = varray(arr, 4);
	row[10] = vfloat(NAN);
	row[11] = vfloat4(INFINITY);
	row[12] = vfloat(-0.0);
}

static void test_ndjson_every_kind(void **state)
{
	(void)state;
	plumb_value row[13], inner[1], arr[4];
	kind_row(row, inner, arr);
	expect_encoding("ndjson", NULL, kind_names, 13, row, 1,
	                "{\"n\":null,\"i\":-42,\"f\":123.45,\"f4\":0.1,\"b\":true,"
	                "\"t\":\"h\xc3\xa9llo \\\"q\\\"\",\"blob\":\"AP8Q\",\"num\":\"-12.50\","
	                "\"js\":{\"a\": [1, 2]},\"arr\":[1,\"x\",null,[true]],\"nan\":null,"
	                "\"inf\":null,\"negz\":-0}\n");
	/* numeric_as_number: bare, except where no JSON number can say it. */
	plumb_encode_options opt = {.numeric_as_number = 1};
	expect_encoding("ndjson", &opt, kind_names, 13, row, 1,
	                "{\"n\":null,\"i\":-42,\"f\":123.45,\"f4\":0.1,\"b\":true,"
	                "\"t\":\"h\xc3\xa9llo \\\"q\\\"\",\"blob\":\"AP8Q\",\"num\":-12.50,"
	                "\"js\":{\"a\": [1, 2]},\"arr\":[1,\"x\",null,[true]],\"nan\":null,"
	                "\"inf\":null,\"negz\":-0}\n");
}

static void test_csv_every_kind(void **state)
{
	(void)state;
	plumb_value row[13], inner[1], arr[4];
	kind_row(row, inner, arr);
	expect_encoding("csv", NULL, kind_names, 13, row, 1,
	                "n,i,f,f4,b,t,blob,num,js,arr,nan,inf,negz\n"
	                ",-42,123.45,0.1,true,\"h\xc3\xa9llo \"\"q\"\"\",AP8Q,-12.50,"
	                "\"{\"\"a\"\": [1, 2]}\",\"[1,\"\"x\"\",null,[true]]\",NaN,Infinity,-0\n");
	plumb_encode_options opt = {.no_header = 1};
	expect_encoding("csv", &opt, kind_names, 13, row, 1,
	                ",-42,123.45,0.1,true,\"h\xc3\xa9llo \"\"q\"\"\",AP8Q,-12.50,"
	                "\"{\"\"a\"\": [1, 2]}\",\"[1,\"\"x\"\",null,[true]]\",NaN,Infinity,-0\n");
}

static void test_json_array_rows(void **state)
{
	(void)state;
	static const char *const names[] = {"a", "b"};
	plumb_value rows[6] = {vint(1), vtext("x"), vint(2), vnull(), vint(3), vbool(0)};
	expect_encoding("json", NULL, names, 2, rows, 0, "[]\n");
	expect_encoding("json", NULL, names, 2, rows, 1, "[{\"a\":1,\"b\":\"x\"}]\n");
	expect_encoding("json", NULL, names, 2, rows, 3,
	                "[{\"a\":1,\"b\":\"x\"},\n{\"a\":2,\"b\":null},\n{\"a\":3,\"b\":false}]\n");
	expect_encoding("ndjson", NULL, names, 2, rows, 0, "");
	expect_encoding("ndjson", NULL, names, 2, rows, 3,
	                "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n{\"a\":3,\"b\":false}\n");
	expect_encoding("csv", NULL, names, 2, rows, 0, "a,b\n");
	/* No columns at all (PostgreSQL allows SELECT FROM t). */
	expect_encoding("ndjson", NULL, names, 0, rows, 2, "{}\n{}\n");
	expect_encoding("json", NULL, names, 0, rows, 2, "[{},\n{}]\n");
}

static void test_keys_escaped_and_duplicate(void **state)
{
	(void)state;
	static const char *const names[] = {"a\"b", "new\nline", "caf\xc3\xa9", "a", "a", ""};
	plumb_value row[6] = {vint(1), vint(2), vint(3), vint(4), vint(5), vint(6)};
	expect_encoding(
	        "ndjson", NULL, names, 6, row, 1,
	        "{\"a\\\"b\":1,\"new\\nline\":2,\"caf\xc3\xa9\":3,\"a\":4,\"a\":5,\"\":6}\n");
	expect_encoding("csv", NULL, names, 6, row, 1,
	                "\"a\"\"b\",\"new\nline\",caf\xc3\xa9,a,a,\"\"\n1,2,3,4,5,6\n");
}

static void test_numeric_as_number(void **state)
{
	(void)state;
	static const char *const names[] = {"n"};
	static const char *const in[] = {"0",   "-0.001",   "12345678901234567890.5",
	                                 "NaN", "Infinity", "-Infinity",
	                                 "1e5", "007",      "1.",
	                                 "-"};
	static const char *const as_number[] = {"0",       "-0.001",  "12345678901234567890.5",
	                                        "null",    "null",    "null",
	                                        "\"1e5\"", "\"007\"", "\"1.\"",
	                                        "\"-\""};
	plumb_encode_options opt = {.numeric_as_number = 1};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		plumb_value v = vstr(PLUMB_VALUE_NUMERIC, in[i], strlen(in[i]));
		char want[128];
		snprintf(want, sizeof want, "{\"n\":%s}\n", as_number[i]);
		expect_encoding("ndjson", &opt, names, 1, &v, 1, want);
		snprintf(want, sizeof want, "{\"n\":\"%s\"}\n", in[i]);
		expect_encoding("ndjson", NULL, names, 1, &v, 1, want);
	}
}

static void test_embedded_json(void **state)
{
	(void)state;
	static const char *const names[] = {"j"};
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"  {\"a\" :  1 }\n", "{\"a\" :  1 }"},
	        {"{\n  \"a\": [1,\r\n 2]\n}", "{   \"a\": [1,   2] }"},
	        {"", "null"},
	        {" \t\r\n", "null"},
	        {"null", "null"},
	        {"\"s\\n\"", "\"s\\n\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		plumb_value v = vstr(PLUMB_VALUE_JSON, cases[i].in, strlen(cases[i].in));
		char want[128];
		snprintf(want, sizeof want, "{\"j\":%s}\n", cases[i].out);
		expect_encoding("ndjson", NULL, names, 1, &v, 1, want);
	}
}

/* ---- JSON strings ---- */

static void test_json_escapes(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
	        {"", 0, "\"\""},
	        {"plain", 5, "\"plain\""},
	        {"\"\\/", 3, "\"\\\"\\\\/\""},
	        {"\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1f\x20\x7f", 11,
	         "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \x7f\""},
	        {"a\xe2\x80\xa8"
	         "b\xe2\x80\xa9"
	         "c",
	         9,
	         "\"a\xe2\x80\xa8"
	         "b\xe2\x80\xa9"
	         "c\""},
	        {"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},
	        {"\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\""}, /* U+10FFFF */
	        {"\xef\xbb\xbf"
	         "bom",
	         6,
	         "\"\xef\xbb\xbf"
	         "bom\""},
	        /* Ill-formed: one U+FFFD per maximal subpart (Python agrees). */
	        {"\x80", 1, "\"\xef\xbf\xbd\""},
	        {"\xc3", 1, "\"\xef\xbf\xbd\""},
	        {"\xc3(", 2, "\"\xef\xbf\xbd(\""},
	        {"\xe2\x82", 2, "\"\xef\xbf\xbd\""},
	        {"\xe2\x82(", 3, "\"\xef\xbf\xbd(\""},
	        {"\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},
	        {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	        {"\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	        {"\xf0\x9f\x98", 3, "\"\xef\xbf\xbd\""},
	        {"\xf5", 1, "\"\xef\xbf\xbd\""},
	        {"\xff\xfe", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},
	        {"\xe0\x80\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	        {"a\xf0\x9f\x98\x80\xf0\x9f"
	         "b",
	         8,
	         "\"a\xf0\x9f\x98\x80\xef\xbf\xbd"
	         "b\""},
	        {"\xf1\x80\x80\xc2\xa9", 5, "\"\xef\xbf\xbd\xc2\xa9\""},
	        {"0123456\xc3", 8, "\"0123456\xef\xbf\xbd\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = json_of(cases[i].in, cases[i].len);
		assert_string_equal(got, cases[i].out);
		free(got);
		plumb_buffer b;
		plumb_buffer_init(&b);
		assert_int_equal(plumb_json_append_string(&b, cases[i].in, cases[i].len), 0);
		assert_int_equal(plumb_buffer_len(&b), strlen(cases[i].out));
		assert_memory_equal(plumb_buffer_bytes(&b), cases[i].out, strlen(cases[i].out));
		plumb_buffer_release(&b);
	}
}

/* The slow, obvious escaper the fast one must agree with: decode a code
 * point at a time with every rule spelled out. */
static size_t ref_escape(const unsigned char *s, size_t n, char *out)
{
	char *p = out;
	*p++ = '"';
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			if (c == '"' || c == '\\') {
				*p++ = '\\';
				*p++ = (char)c;
			} else if (c < 0x20) {
				const char *named = c == 8    ? "b"
				                    : c == 9  ? "t"
				                    : c == 10 ? "n"
				                    : c == 12 ? "f"
				                    : c == 13 ? "r"
				                              : NULL;
				p += named ? sprintf(p, "\\%s", named) : sprintf(p, "\\u%04x", c);
			} else {
				*p++ = (char)c;
			}
			i++;
			continue;
		}
		size_t len = c >= 0xc2 && c <= 0xdf   ? 2
		             : c >= 0xe0 && c <= 0xef ? 3
		             : c >= 0xf0 && c <= 0xf4 ? 4
		                                      : 0;
		unsigned lo = 0x80, hi = 0xbf;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
		size_t good = 0; /* bytes of a valid prefix */
		if (len) {
			good = 1;
			if (i + 1 < n && s[i + 1] >= lo && s[i + 1] <= hi) {
				good = 2;
				while (good < len && i + good < n && (s[i + good] & 0xc0) == 0x80)
					good++;
			}
		}
		if (len && good == len) {
			memcpy(p, s + i, len);
			p += len;
			i += len;
		} else {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3;
			i += good ? good : 1;
		}
	}
	*p++ = '"';
	return (size_t)(p - out);
}

/* Is s[0..n) well-formed UTF-8? (A check of the output.) */
static int valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t len = plumb_utf8_seq(s + i, n - i);
		if (!len)
			return 0;
		i += len;
	}
	return 1;
}

static void test_json_random_strings(void **state)
{
	(void)state;
	/* Pieces that random strings are made of: ASCII (plain and special),
	 * valid sequences of every length, and broken ones. */
	static const char *const pieces[] = {
	        "a",
	        "Z",
	        " ",
	        "\"",
	        "\\",
	        "\n",
	        "\x01",
	        "\x1f",
	        "\x7f",
	        "/",
	        "\xc3\xa9",
	        "\xe2\x80\xa8",
	        "\xe6\x97\xa5",
	        "\xf0\x9f\x98\x80",
	        "\xf4\x8f\xbf\xbf",
	        "\x80",
	        "\xbf",
	        "\xc0",
	        "\xc1\x81",
	        "\xc3",
	        "\xe0\x9f\x80",
	        "\xed\xa0\x80",
	        "\xe2\x82",
	        "\xf0\x8f\x80\x80",
	        "\xf4\x90",
	        "\xf5\x80",
	        "\xfe",
	        "\xff",
	        "abcdefgh",
	        "12345678901",
	};
	const size_t np = sizeof pieces / sizeof pieces[0];
	unsigned char in[512];
	char want[512 * 6 + 8];
	for (int round = 0; round < 20000; round++) {
		size_t n = 0;
		size_t count = rnd() % 24;
		for (size_t k = 0; k < count; k++) {
			const char *piece = pieces[rnd() % np];
			size_t len = strlen(piece);
			if (n + len > sizeof in)
				break;
			memcpy(in + n, piece, len);
			n += len;
		}
		size_t wl = ref_escape(in, n, want);
		char *got = json_of((const char *)in, n);
		assert_int_equal(strlen(got), wl);
		assert_memory_equal(got, want, wl);
		assert_true(valid_utf8((const unsigned char *)got, wl));
		free(got);
	}
}

static void test_json_escape_positions(void **state)
{
	(void)state;
	/* A special byte at every offset around the 8-byte words of the scan. */
	for (size_t len = 1; len < 40; len++) {
		for (size_t at = 0; at < len; at++) {
			for (int kind = 0; kind < 3; kind++) {
				char in[64], want[128];
				memset(in, 'a', len);
				const char *special = kind == 0 ? "\"" : kind == 1 ? "\t" : "\xff";
				in[at] = special[0];
				size_t wl = ref_escape((const unsigned char *)in, len, want);
				char *got = json_of(in, len);
				assert_int_equal(strlen(got), wl);
				assert_memory_equal(got, want, wl);
				free(got);
			}
		}
	}
}

/* ---- numbers ---- */

/* The neighbours of a positive finite double, from its bits (libm is not
 * linked here). */
static double step_double(double x, int up)
{
	uint64_t b;
	memcpy(&b, &x, sizeof b);
	b = up ? b + 1 : b - 1;
	memcpy(&x, &b, sizeof x);
	return x;
}

/* 2^e for -1074 <= e <= 1023, from bits. */
static double pow2(int e)
{
	uint64_t b = e >= -1022 ? (uint64_t)(e + 1023) << 52 : 1ULL << (e + 1074);
	double x;
	memcpy(&x, &b, sizeof x);
	return x;
}

static void test_integers(void **state)
{
	(void)state;
	char buf[32], want[32];
	const int64_t fixed[] = {0,
	                         1,
	                         -1,
	                         9,
	                         10,
	                         99,
	                         100,
	                         101,
	                         999,
	                         1000,
	                         INT64_MAX,
	                         INT64_MIN,
	                         INT64_MIN + 1,
	                         9007199254740993,
	                         -9007199254740993};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		size_t n = plumb_enc_i64(buf, fixed[i]);
		snprintf(want, sizeof want, "%lld", (long long)fixed[i]);
		assert_int_equal(n, strlen(want));
		assert_memory_equal(buf, want, n);
	}
	uint64_t p = 1;
	for (int d = 0; d < 20; d++, p *= 10) {
		for (int64_t delta = -1; delta <= 1; delta++) {
			uint64_t v = p + (uint64_t)delta;
			size_t n = plumb_enc_u64(buf, v);
			snprintf(want, sizeof want, "%llu", (unsigned long long)v);
			assert_int_equal(n, strlen(want));
			assert_memory_equal(buf, want, n);
		}
	}
	for (int i = 0; i < 200000; i++) {
		int64_t v = (int64_t)(rnd() >> (rnd() % 64));
		if (rnd() & 1)
			v = -v;
		size_t n = plumb_enc_i64(buf, v);
		snprintf(want, sizeof want, "%lld", (long long)v);
		assert_int_equal(n, strlen(want));
		assert_memory_equal(buf, want, n);
	}
}

static const char *fmt_double(double x)
{
	static char buf[40];
	buf[plumb_enc_double(buf, x)] = '\0';
	return buf;
}

static const char *fmt_float(float x)
{
	static char buf[40];
	buf[plumb_enc_float(buf, x)] = '\0';
	return buf;
}

static void test_float_values(void **state)
{
	(void)state;
	static const struct {
		double x;
		const char *s;
	} d[] = {
	        {0.1, "0.1"},
	        {1e300, "1e+300"},
	        {5e-324, "5e-324"},
	        {-0.0, "-0"},
	        {0.0, "0"},
	        {123.45, "123.45"},
	        {1.0 / 3, "0.3333333333333333"},
	        {2.0 / 3, "0.6666666666666666"},
	        {0.1 + 0.2, "0.30000000000000004"},
	        {100.0, "100"},
	        {-1.5, "-1.5"},
	        {4.35, "4.35"},
	        {1e20, "100000000000000000000"},
	        {1e21, "1e+21"},
	        {123456789012345680000.0, "123456789012345680000"},
	        {1e23, "1e+23"},
	        {1e-6, "0.000001"},
	        {1.25e-5, "0.0000125"},
	        {1e-7, "1e-7"},
	        {1.5e-7, "1.5e-7"},
	        {5e-7, "5e-7"},
	        {1.7976931348623157e308, "1.7976931348623157e+308"},
	        {2.2250738585072014e-308, "2.2250738585072014e-308"},
	        {9007199254740992.0, "9007199254740992"},
	        {9007199254740994.0, "9007199254740994"},
	        {123456789.123456789, "123456789.12345679"},
	        {0.5, "0.5"},
	        {1e15, "1000000000000000"},
	        {1e16, "10000000000000000"},
	        {3.141592653589793, "3.141592653589793"},
	        {NAN, "NaN"},
	        {INFINITY, "Infinity"},
	        {-INFINITY, "-Infinity"},
	};
	for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
		assert_string_equal(fmt_double(d[i].x), d[i].s);
	static const struct {
		float x;
		const char *s;
	} f[] = {
	        {0.1f, "0.1"},
	        {0.3f, "0.3"},
	        {1.0f / 3, "0.33333334"},
	        {16777216.0f, "16777216"},
	        {3.4028235e38f, "3.4028235e+38"},
	        {1.1754944e-38f, "1.1754944e-38"},
	        {1e-45f, "1e-45"},
	        {-0.0f, "-0"},
	        {1e30f, "1e+30"},
	        {100000.0f, "100000"},
	        {1.5f, "1.5"},
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		assert_string_equal(fmt_float(f[i].x), f[i].s);
}

/* Significant digits of a printed number: mantissa digits without leading
 * zeros, and without trailing zeros when there is no point (1000 is 1). */
static int sig_digits(const char *s)
{
	char digits[40];
	int n = 0, point = 0;
	for (; *s && *s != 'e'; s++) {
		if (*s == '.')
			point = 1;
		else if (*s >= '0' && *s <= '9' && (n > 0 || *s != '0'))
			digits[n++] = *s;
	}
	if (!point)
		while (n > 1 && digits[n - 1] == '0')
			n--;
	return n ? n : 1;
}

/* Is s a JSON number (RFC 8259's grammar)? */
static int json_number_ok(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* The property: reads back to the same bits; one digit fewer does not;
 * a valid JSON number. */
static void check_double(double x)
{
	const char *s = fmt_double(x);
	double y = strtod(s, NULL);
	if (memcmp(&x, &y, sizeof x) != 0)
		fail_msg("%a printed as %s reads back as %a", x, s, y);
	if (!json_number_ok(s))
		fail_msg("%a printed as %s: not a JSON number", x, s);
	int d = sig_digits(s);
	if (d > 1) {
		char shorter[48];
		snprintf(shorter, sizeof shorter, "%.*e", d - 2, x);
		if (strtod(shorter, NULL) == x)
			fail_msg("%a printed as %s, but %s (fewer digits) reads back too", x, s,
			         shorter);
	}
}

static void check_float(float x)
{
	const char *s = fmt_float(x);
	float y = strtof(s, NULL);
	if (memcmp(&x, &y, sizeof x) != 0)
		fail_msg("float %a printed as %s reads back as %a", (double)x, s, (double)y);
	if (!json_number_ok(s))
		fail_msg("float %a printed as %s: not a JSON number", (double)x, s);
	int d = sig_digits(s);
	if (d > 1) {
		char shorter[48];
		snprintf(shorter, sizeof shorter, "%.*e", d - 2, (double)x);
		if (strtof(shorter, NULL) == x)
			fail_msg("float %a printed as %s, but %s reads back too", (double)x, s,
			         shorter);
	}
}

static void test_double_property_bits(void **state)
{
	(void)state;
	/* Uniform over bit patterns: every exponent, subnormals included. */
	for (int i = 0; i < 1000000; i++) {
		uint64_t bits = rnd();
		double x;
		memcpy(&x, &bits, sizeof x);
		if (isfinite(x))
			check_double(x);
	}
}

static void test_double_property_decimal(void **state)
{
	(void)state;
	/* Decimal-looking values, as data holds them: m / 10^k for m of 1 to
	 * 17 digits, read by strtod; and values in everyday ranges. */
	for (int i = 0; i < 1000000; i++) {
		char text[64];
		int digits = 1 + (int)(rnd() % 17);
		uint64_t m = rnd() % 100000000000000000ULL;
		uint64_t lim = 1;
		for (int d = 0; d < digits; d++)
			lim *= 10;
		m %= lim;
		int k = (int)(rnd() % 30) - 5;
		snprintf(text, sizeof text, "%llue%d", (unsigned long long)m, -k);
		double x = strtod(text, NULL);
		check_double(rnd() & 1 ? -x : x);
	}
	for (int i = 0; i < 300000; i++) {
		double x = (double)(rnd() >> 11) / 9007199254740992.0; /* [0, 1) */
		check_double(x);
		check_double(x * 1000);
		check_double((double)(int64_t)(x * 1e6) / 100);
	}
	/* Around powers of two and ten, where the spacing of doubles changes. */
	for (int e = -1074; e <= 1023; e++) {
		double x = pow2(e);
		check_double(x);
		if (e > -1074)
			check_double(step_double(x, 0));
		if (e < 1023)
			check_double(step_double(x, 1));
	}
	for (int e = -323; e <= 308; e++) {
		char text[16];
		snprintf(text, sizeof text, "1e%d", e);
		double x = strtod(text, NULL);
		check_double(x);
		check_double(step_double(x, 0));
		check_double(step_double(x, 1));
	}
}

static void test_float_property(void **state)
{
	(void)state;
	for (int i = 0; i < 1000000; i++) {
		uint32_t bits = (uint32_t)rnd();
		float x;
		memcpy(&x, &bits, sizeof x);
		if (isfinite(x))
			check_float(x);
	}
	for (int i = 0; i < 300000; i++) {
		char text[32];
		snprintf(text, sizeof text, "%llue%d", (unsigned long long)(rnd() % 100000000),
		         -(int)(rnd() % 20));
		check_float(strtof(text, NULL));
	}
}

/* ---- base64 ---- */

static void test_base64(void **state)
{
	(void)state;
	static const char *const rfc[][2] = {
	        {"", ""},
	        {"f", "Zg=="},
	        {"fo", "Zm8="},
	        {"foo", "Zm9v"},
	        {"foob", "Zm9vYg=="},
	        {"fooba", "Zm9vYmE="},
	        {"foobar", "Zm9vYmFy"},
	};
	char out[64];
	for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
		size_t n =
		        plumb_enc_base64(out, (const unsigned char *)rfc[i][0], strlen(rfc[i][0]));
		assert_int_equal(n, strlen(rfc[i][1]));
		assert_memory_equal(out, rfc[i][1], n);
	}
	/* Every length up to a few words, random bytes, against OpenSSL. */
	unsigned char in[200];
	char mine[300];
	unsigned char ossl[300];
	for (size_t len = 0; len < sizeof in; len++) {
		for (size_t i = 0; i < len; i++)
			in[i] = (unsigned char)rnd();
		size_t n = plumb_enc_base64(mine, in, len);
		int m = EVP_EncodeBlock(ossl, in, (int)len);
		assert_int_equal(n, (size_t)m);
		assert_memory_equal(mine, ossl, n);
	}
}

static void test_big_blob(void **state)
{
	(void)state;
	/* 1 MiB + 1 byte: encoded in pieces, padding only at the very end. */
	size_t len = (1 << 20) + 1;
	unsigned char *blob = malloc(len);
	unsigned char *want = malloc(len / 3 * 4 + 8);
	assert_non_null(blob);
	assert_non_null(want);
	for (size_t i = 0; i < len; i++)
		blob[i] = (unsigned char)rnd();
	int wl = EVP_EncodeBlock(want, blob, (int)len);
	static const char *const names[] = {"b"};
	plumb_value v = vstr(PLUMB_VALUE_BLOB, (const char *)blob, len);
	size_t n;
	char *got = encode("ndjson", NULL, names, 1, &v, 1, &n);
	assert_int_equal(n, (size_t)wl + 9);
	assert_memory_equal(got + 6, want, (size_t)wl);
	free(got);
	got = encode("csv", NULL, names, 1, &v, 1, &n);
	assert_int_equal(n, (size_t)wl + 3);
	assert_memory_equal(got + 2, want, (size_t)wl);
	free(got);
	free(blob);
	free(want);
}

/* ---- CSV ---- */

static void test_csv_quoting(void **state)
{
	(void)state;
	static const char *const names[] = {"a", "b"};
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"plain", "plain"},
	        {"a,b", "\"a,b\""},
	        {"say \"hi\"", "\"say \"\"hi\"\"\""},
	        {"\"", "\"\"\"\""},
	        {"line1\nline2", "\"line1\nline2\""},
	        {"cr\rhere", "\"cr\rhere\""},
	        {"", "\"\""},
	        {"  padded  ", "  padded  "},
	        {"tab\there", "tab\there"},
	        {"back\\slash", "back\\slash"},
	        {"\\.", "\\."},
	        {"NULL", "NULL"},
	        {"0123456789abcdef,", "\"0123456789abcdef,\""},
	        {"x\"0123456789abcdef\"", "\"x\"\"0123456789abcdef\"\"\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		plumb_value row[2] = {vtext(cases[i].in), vnull()};
		char want[128];
		snprintf(want, sizeof want, "a,b\n%s,\n", cases[i].out);
		expect_encoding("csv", NULL, names, 2, row, 1, want);
	}
	/* Alone on its line, \. would end COPY's data: quoted there only. */
	plumb_value one = vtext("\\.");
	expect_encoding("csv", NULL, names, 1, &one, 1, "a\n\"\\.\"\n");
	/* Bytes go out as they are, even broken UTF-8. */
	plumb_value bad = vstr(PLUMB_VALUE_TEXT, "\xff\xc3", 2);
	expect_encoding("csv", NULL, names, 1, &bad, 1, "a\n\xff\xc3\n");
	/* An empty blob is not a NULL either. */
	plumb_value blobs[2] = {vstr(PLUMB_VALUE_BLOB, "", 0), vnull()};
	expect_encoding("csv", NULL, names, 2, blobs, 1, "a,b\n\"\",\n");
}

/* The CSV field that RFC 4180 (and csv.c's rules) make of s, appended to b. */
static void ref_csv_field(plumb_buffer *b, const unsigned char *s, size_t n, int single)
{
	int quote = n == 0 || (single && n == 2 && s[0] == '\\' && s[1] == '.');
	for (size_t i = 0; i < n; i++)
		quote |= s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote) {
		plumb_buffer_append(b, s, n);
		return;
	}
	plumb_buffer_append(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		plumb_buffer_append(b, s + i, 1);
		if (s[i] == '"')
			plumb_buffer_append(b, "\"", 1);
	}
	plumb_buffer_append(b, "\"", 1);
}

/* Fields of every length from 0 to 70 with a byte that forces quotes at
 * every position (or none), and random ones, in rows enough to cross the
 * encoder's buffer many times at every offset: byte for byte what the
 * reference makes.  (csv.c copies while it scans, 8 bytes at a time, and
 * falls back when a field needs quotes or does not fit.) */
static void test_csv_quoting_positions(void **state)
{
	(void)state;
	static const char specials[] = {',', '"', '\n', '\r'};
	static const unsigned char alphabet[] = "abc ,\"\n\r\\.\xc3\xa9\t0";
	for (int ncols = 1; ncols <= 2; ncols++) {
		static const char *const names[] = {"a", "b"};
		plumb_buffer want;
		plumb_buffer_init(&want);
		plumb_buffer_append(&want, ncols == 1 ? "a\n" : "a,b\n", ncols == 1 ? 2 : 4);
		size_t cap = 200000, nvals = 0;
		plumb_value *rows = calloc(cap, sizeof *rows);
		unsigned char *pool = malloc(cap * 72), *at = pool;
		assert_non_null(rows);
		assert_non_null(pool);
		/* every length, every position, every special; then random fields */
		for (size_t n = 0; n <= 70; n++)
			for (size_t pos = 0; pos <= n; pos++)
				for (size_t c = 0; c < sizeof specials; c++) {
					memset(at, 'x', n);
					if (pos < n)
						at[pos] = (unsigned char)specials[c];
					rows[nvals++] = vstr(PLUMB_VALUE_TEXT, (char *)at, n);
					at += n;
				}
		while (nvals < cap - 2) {
			size_t n = rnd() % 40;
			for (size_t i = 0; i < n; i++)
				at[i] = alphabet[rnd() % (sizeof alphabet - 1)];
			rows[nvals++] = vstr(PLUMB_VALUE_TEXT, (char *)at, n);
			at += n;
		}
		nvals -= nvals % (size_t)ncols;
		for (size_t i = 0; i < nvals; i++) {
			ref_csv_field(&want, (const unsigned char *)rows[i].s, rows[i].len,
			              ncols == 1);
			plumb_buffer_append(&want, (i + 1) % (size_t)ncols ? "," : "\n", 1);
		}
		size_t len;
		char *got = encode("csv", NULL, names, (size_t)ncols, rows, nvals / (size_t)ncols,
		                   &len);
		assert_true(len > 20 * PLUMB_ENCODE_BUFSIZE);
		assert_int_equal(len, plumb_buffer_len(&want));
		assert_memory_equal(got, plumb_buffer_bytes(&want), len);
		free(got);
		free(rows);
		free(pool);
		plumb_buffer_release(&want);
	}
}

/* ---- writers: errors, sizes, big values ---- */

struct probe_writer {
	plumb_writer w;
	size_t calls, bytes, max, fail_after; /* fail the call after this many */
	size_t small_writes;                  /* writes below PLUMB_ENCODE_BUFSIZE */
	plumb_buffer *keep;                   /* append what comes, if set */
};

static ssize_t probe_write(plumb_writer *w, const void *buf, size_t len)
{
	struct probe_writer *p = PLUMB_CONTAINER_OF(w, struct probe_writer, w);
	if (p->calls++ >= p->fail_after)
		return -EPIPE;
	p->bytes += len;
	if (len > p->max)
		p->max = len;
	if (len < PLUMB_ENCODE_BUFSIZE)
		p->small_writes++;
	if (p->keep && plumb_buffer_append(p->keep, buf, len) < 0)
		return -ENOMEM;
	return (ssize_t)len;
}

static const plumb_writer_ops probe_ops = {.write = probe_write};

static void test_writer_error_sticks(void **state)
{
	(void)state;
	static const char *const names[] = {"id", "name"};
	const char *formats[] = {"ndjson", "json", "csv"};
	for (size_t f = 0; f < 3; f++) {
		struct probe_writer p = {.w = {&probe_ops}, .fail_after = 2};
		plumb_encoder *enc;
		assert_int_equal(plumb_encoder_new(&enc, formats[f], NULL, &p.w), 0);
		assert_int_equal(plumb_encoder_begin(enc, columns(names, 2), 2), 0);
		int rc = 0;
		long i;
		for (i = 0; i < 1000000 && rc == 0; i++) {
			plumb_value row[2] = {vint(i), vtext("some name, with \"quotes\"")};
			rc = plumb_encoder_row(enc, row);
		}
		assert_int_equal(rc, -EPIPE);
		assert_true(i < 1000000);
		assert_int_equal(p.calls, 3); /* two went through, the third failed */
		plumb_value row[2] = {vint(0), vtext("x")};
		assert_int_equal(plumb_encoder_row(enc, row), -EPIPE);
		assert_int_equal(plumb_encoder_flush(enc), -EPIPE);
		assert_int_equal(plumb_encoder_end(enc), -EPIPE);
		assert_int_equal(p.calls, 3); /* nothing more was written */
		assert_int_equal(p.bytes, 2 * PLUMB_ENCODE_BUFSIZE);
		plumb_encoder_free(enc);
	}
	/* The error of a writer that fails at the end (the final flush). */
	struct probe_writer p = {.w = {&probe_ops}, .fail_after = 0};
	plumb_encoder *enc;
	assert_int_equal(plumb_encoder_new(&enc, "json", NULL, &p.w), 0);
	assert_int_equal(plumb_encoder_begin(enc, columns(names, 2), 2), 0);
	assert_int_equal(plumb_encoder_end(enc), -EPIPE);
	plumb_encoder_free(enc);
}

static void test_whole_buffer_writes(void **state)
{
	(void)state;
	static const char *const names[] = {"id", "v"};
	plumb_buffer keep;
	plumb_buffer_init(&keep);
	struct probe_writer p = {.w = {&probe_ops}, .fail_after = SIZE_MAX, .keep = &keep};
	plumb_encoder *enc;
	assert_int_equal(plumb_encoder_new(&enc, "ndjson", NULL, &p.w), 0);
	assert_int_equal(plumb_encoder_begin(enc, columns(names, 2), 2), 0);
	size_t want = 0;
	for (int i = 0; i < 100000; i++) {
		plumb_value row[2] = {vint(i), vfloat(i / 8.0)};
		assert_int_equal(plumb_encoder_row(enc, row), 0);
		char line[64];
		want += (size_t)snprintf(line, sizeof line, "{\"id\":%d,\"v\":%s}\n", i,
		                         fmt_double(i / 8.0));
	}
	assert_int_equal(plumb_encoder_end(enc), 0);
	plumb_encoder_free(enc);
	assert_int_equal(p.bytes, want);
	assert_int_equal(p.max, PLUMB_ENCODE_BUFSIZE);
	assert_int_equal(p.small_writes, 1); /* only the last */
	assert_int_equal(plumb_buffer_len(&keep), want);
	assert_memory_equal(plumb_buffer_bytes(&keep),
	                    "{\"id\":0,\"v\":0}\n{\"id\":1,\"v\":0.125}\n", 34);
	plumb_buffer_release(&keep);
}

static void test_big_text_field(void **state)
{
	(void)state;
	/* 10 MiB of text with a quote every 1000 bytes and some multi-byte
	 * characters: written in whole buffers, never held whole. */
	size_t len = 10 << 20;
	char *text = malloc(len);
	assert_non_null(text);
	for (size_t i = 0; i < len; i++)
		text[i] = (char)('a' + i % 26);
	for (size_t i = 0; i + 1000 < len; i += 1000) {
		text[i] = '"';
		memcpy(text + i + 500, "\xc3\xa9", 2);
	}
	static const char *const names[] = {"big", "after"};
	const char *formats[] = {"ndjson", "csv"};
	for (int f = 0; f < 2; f++) {
		plumb_buffer keep;
		plumb_buffer_init(&keep);
		struct probe_writer p = {.w = {&probe_ops}, .fail_after = SIZE_MAX, .keep = &keep};
		plumb_encoder *enc;
		assert_int_equal(plumb_encoder_new(&enc, formats[f], NULL, &p.w), 0);
		assert_int_equal(plumb_encoder_begin(enc, columns(names, 2), 2), 0);
		plumb_value row[2] = {vstr(PLUMB_VALUE_TEXT, text, len), vint(7)};
		assert_int_equal(plumb_encoder_row(enc, row), 0);
		assert_int_equal(plumb_encoder_end(enc), 0);
		plumb_encoder_free(enc);
		assert_true(p.max <= PLUMB_ENCODE_BUFSIZE);
		assert_int_equal(p.small_writes, 1);
		/* The expected text, built the slow way. */
		plumb_buffer want;
		plumb_buffer_init(&want);
		const char *head = f == 0 ? "{\"big\":\"" : "big,after\n\"";
		assert_int_equal(plumb_buffer_append(&want, head, strlen(head)), 0);
		for (size_t i = 0; i < len; i++) {
			if (text[i] == '"')
				assert_int_equal(
				        plumb_buffer_append(&want, f == 0 ? "\\\"" : "\"\"", 2), 0);
			else
				assert_int_equal(plumb_buffer_append(&want, text + i, 1), 0);
		}
		const char *tail = f == 0 ? "\",\"after\":7}\n" : "\",7\n";
		assert_int_equal(plumb_buffer_append(&want, tail, strlen(tail)), 0);
		assert_int_equal(plumb_buffer_len(&keep), plumb_buffer_len(&want));
		assert_memory_equal(plumb_buffer_bytes(&keep), plumb_buffer_bytes(&want),
		                    plumb_buffer_len(&want));
		plumb_buffer_release(&want);
		plumb_buffer_release(&keep);
	}
	free(text);
}

/* ---- the object ---- */

static void test_formats_and_misuse(void **state)
{
	(void)state;
	plumb_encoder *enc = (plumb_encoder *)1;
	assert_int_equal(plumb_encoder_new(&enc, "xml", NULL, plumb_discard()), PLUMB_EALGO);
	assert_null(enc);
	assert_int_equal(plumb_encoder_new(&enc, NULL, NULL, plumb_discard()), PLUMB_EALGO);
	const char *const *names = plumb_encoder_formats();
	size_t n = 0;
	for (; names[n]; n++) {
		assert_int_equal(plumb_encoder_new(&enc, names[n], NULL, plumb_discard()), 0);
		plumb_encoder_free(enc);
	}
	assert_int_equal(n, 4);
	static const char *const col[] = {"a"};
	plumb_value v = vint(5);
	expect_encoding("JSONL", NULL, col, 1, &v, 1, "{\"a\":5}\n");
	expect_encoding("CSV", NULL, col, 1, &v, 1, "a\n5\n");
	assert_int_equal(plumb_encoder_new(&enc, "ndjson", NULL, plumb_discard()), 0);
	assert_int_equal(plumb_encoder_row(enc, &v), -EINVAL); /* before begin */
	assert_int_equal(plumb_encoder_end(enc), -EINVAL);
	assert_int_equal(plumb_encoder_begin(enc, columns(col, 1), 1), 0);
	assert_int_equal(plumb_encoder_begin(enc, columns(col, 1), 1), -EINVAL);
	assert_int_equal(plumb_encoder_end(enc), 0);
	assert_int_equal(plumb_encoder_row(enc, &v), -EINVAL); /* after end */
	plumb_encoder_free(enc);
	plumb_encoder_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ndjson_every_kind),
	        cmocka_unit_test(test_csv_every_kind),
	        cmocka_unit_test(test_json_array_rows),
	        cmocka_unit_test(test_keys_escaped_and_duplicate),
	        cmocka_unit_test(test_numeric_as_number),
	        cmocka_unit_test(test_embedded_json),
	        cmocka_unit_test(test_json_escapes),
	        cmocka_unit_test(test_json_random_strings),
	        cmocka_unit_test(test_json_escape_positions),
	        cmocka_unit_test(test_integers),
	        cmocka_unit_test(test_float_values),
	        cmocka_unit_test(test_double_property_bits),
	        cmocka_unit_test(test_double_property_decimal),
	        cmocka_unit_test(test_float_property),
	        cmocka_unit_test(test_base64),
	        cmocka_unit_test(test_big_blob),
	        cmocka_unit_test(test_csv_quoting),
	        cmocka_unit_test(test_csv_quoting_positions),
	        cmocka_unit_test(test_writer_error_sticks),
	        cmocka_unit_test(test_whole_buffer_writes),
	        cmocka_unit_test(test_big_text_field),
	        cmocka_unit_test(test_formats_and_misuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
