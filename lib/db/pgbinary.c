/*
 * pgbinary.c - PostgreSQL's binary value formats, decoded into plumb_value.
 *
 * COPY ... (FORMAT binary) sends every value in its type's binary "send"
 * form: integers and floats big-endian, text as it is, timestamps as
 * microseconds since 2000-01-01, numeric as base-10000 digits, arrays with
 * their dimensions and element type.  Decoding these is cheaper for the
 * server (no output functions run) and for us (no parsing of text), and it
 * frees the output from the session's DateStyle.
 *
 * Dates and times become ISO 8601 text, which is what JSON consumers expect:
 * "2024-01-02T03:04:05.5Z" for timestamptz (always UTC), no zone for
 * timestamp, fractions without trailing zeros; years outside 0..9999 get a
 * sign (ISO's expanded form) and BC years count astronomically (1 BC is year
 * 0).  Intervals are written as PostgreSQL's iso_8601 IntervalStyle writes
 * them.  uuid, inet/cidr, macaddr and bit strings become PostgreSQL's text.
 *
 * The formats are PostgreSQL's documented wire formats (the send functions
 * in its sources are the reference); every length is checked before it is
 * read, and a value that does not fit its format is an error, never a read
 * past the buffer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "pg-internal.h"

/* ---- the types known by OID ---- */

static const struct pg_type builtin[] = {
        {16, "bool", PG_BOOL, 0},
        {17, "bytea", PG_BYTEA, 0},
        {18, "char", PG_TEXT, 0},
        {19, "name", PG_TEXT, 0},
        {20, "int8", PG_INT8, 0},
        {21, "int2", PG_INT2, 0},
        {23, "int4", PG_INT4, 0},
        {25, "text", PG_TEXT, 0},
        {26, "oid", PG_UINT4, 0},
        {28, "xid", PG_UINT4, 0},
        {29, "cid", PG_UINT4, 0},
        {114, "json", PG_JSON, 0},
        {142, "xml", PG_TEXT, 0},
        {143, "_xml", PG_ARRAY, PG_TEXT},
        {199, "_json", PG_ARRAY, PG_JSON},
        {650, "cidr", PG_INET, 0},
        {651, "_cidr", PG_ARRAY, PG_INET},
        {700, "float4", PG_FLOAT4, 0},
        {701, "float8", PG_FLOAT8, 0},
        {705, "unknown", PG_TEXT, 0},
        {774, "macaddr8", PG_MACADDR8, 0},
        {775, "_macaddr8", PG_ARRAY, PG_MACADDR8},
        {829, "macaddr", PG_MACADDR, 0},
        {869, "inet", PG_INET, 0},
        {1000, "_bool", PG_ARRAY, PG_BOOL},
        {1001, "_bytea", PG_ARRAY, PG_BYTEA},
        {1002, "_char", PG_ARRAY, PG_TEXT},
        {1003, "_name", PG_ARRAY, PG_TEXT},
        {1005, "_int2", PG_ARRAY, PG_INT2},
        {1007, "_int4", PG_ARRAY, PG_INT4},
        {1009, "_text", PG_ARRAY, PG_TEXT},
        {1011, "_xid", PG_ARRAY, PG_UINT4},
        {1012, "_cid", PG_ARRAY, PG_UINT4},
        {1014, "_bpchar", PG_ARRAY, PG_TEXT},
        {1015, "_varchar", PG_ARRAY, PG_TEXT},
        {1016, "_int8", PG_ARRAY, PG_INT8},
        {1021, "_float4", PG_ARRAY, PG_FLOAT4},
        {1022, "_float8", PG_ARRAY, PG_FLOAT8},
        {1028, "_oid", PG_ARRAY, PG_UINT4},
        {1040, "_macaddr", PG_ARRAY, PG_MACADDR},
        {1041, "_inet", PG_ARRAY, PG_INET},
        {1042, "bpchar", PG_TEXT, 0},
        {1043, "varchar", PG_TEXT, 0},
        {1082, "date", PG_DATE, 0},
        {1083, "time", PG_TIME, 0},
        {1114, "timestamp", PG_TIMESTAMP, 0},
        {1115, "_timestamp", PG_ARRAY, PG_TIMESTAMP},
        {1182, "_date", PG_ARRAY, PG_DATE},
        {1183, "_time", PG_ARRAY, PG_TIME},
        {1184, "timestamptz", PG_TIMESTAMPTZ, 0},
        {1185, "_timestamptz", PG_ARRAY, PG_TIMESTAMPTZ},
        {1186, "interval", PG_INTERVAL, 0},
        {1187, "_interval", PG_ARRAY, PG_INTERVAL},
        {1231, "_numeric", PG_ARRAY, PG_NUMERIC},
        {1266, "timetz", PG_TIMETZ, 0},
        {1270, "_timetz", PG_ARRAY, PG_TIMETZ},
        {1560, "bit", PG_BIT, 0},
        {1561, "_bit", PG_ARRAY, PG_BIT},
        {1562, "varbit", PG_BIT, 0},
        {1563, "_varbit", PG_ARRAY, PG_BIT},
        {1700, "numeric", PG_NUMERIC, 0},
        {2950, "uuid", PG_UUID, 0},
        {2951, "_uuid", PG_ARRAY, PG_UUID},
        {3802, "jsonb", PG_JSONB, 0},
        {3807, "_jsonb", PG_ARRAY, PG_JSONB},
};

const struct pg_type *pg_builtin_type(uint32_t oid)
{
	size_t lo = 0, hi = sizeof builtin / sizeof builtin[0];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (builtin[mid].oid == oid)
			return &builtin[mid];
		if (builtin[mid].oid < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct {
	const char *send;
	int dec;
} sends[] = {
        {"boolsend", PG_BOOL},
        {"int2send", PG_INT2},
        {"int4send", PG_INT4},
        {"int8send", PG_INT8},
        {"oidsend", PG_UINT4},
        {"xidsend", PG_UINT4},
        {"cidsend", PG_UINT4},
        {"float4send", PG_FLOAT4},
        {"float8send", PG_FLOAT8},
        {"numeric_send", PG_NUMERIC},
        {"textsend", PG_TEXT},
        {"varcharsend", PG_TEXT},
        {"bpcharsend", PG_TEXT},
        {"namesend", PG_TEXT},
        {"charsend", PG_TEXT},
        {"enum_send", PG_TEXT},
        {"xml_send", PG_TEXT},
        {"unknownsend", PG_TEXT},
        {"citextsend", PG_TEXT},
        {"json_send", PG_JSON},
        {"jsonb_send", PG_JSONB},
        {"byteasend", PG_BYTEA},
        {"date_send", PG_DATE},
        {"time_send", PG_TIME},
        {"timetz_send", PG_TIMETZ},
        {"timestamp_send", PG_TIMESTAMP},
        {"timestamptz_send", PG_TIMESTAMPTZ},
        {"interval_send", PG_INTERVAL},
        {"uuid_send", PG_UUID},
        {"inet_send", PG_INET},
        {"cidr_send", PG_INET},
        {"macaddr_send", PG_MACADDR},
        {"macaddr8_send", PG_MACADDR8},
        {"bit_send", PG_BIT},
        {"varbit_send", PG_BIT},
};

int pg_dec_of_send(const char *send)
{
	for (size_t i = 0; send && i < sizeof sends / sizeof sends[0]; i++)
		if (strcmp(send, sends[i].send) == 0)
			return sends[i].dec;
	return PG_CAST;
}

/* ---- reading big-endian numbers ---- */

static inline uint16_t rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

static inline uint64_t rd64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

/* ---- writing text ---- */

static char *put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

/* A year: 0000..9999 as four digits, others with a sign and at least four. */
static char *put_year(char *p, int64_t y)
{
	if (y < 0 || y > 9999)
		*p++ = y < 0 ? '-' : '+';
	uint64_t a = y < 0 ? 0 - (uint64_t)y : (uint64_t)y;
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + a % 10);
		a /= 10;
	} while (a);
	while (n < 4)
		tmp[n++] = '0';
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* ".ffffff" without trailing zeros, or nothing for 0 microseconds. */
static char *put_fraction(char *p, unsigned us)
{
	if (us == 0)
		return p;
	*p++ = '.';
	unsigned div = 100000;
	while (us) {
		*p++ = (char)('0' + us / div);
		us %= div;
		div /= 10;
	}
	return p;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The civil date of a day number counted from 2000-01-01 (the proleptic
 * Gregorian calendar, as PostgreSQL uses).  Counting from a March 1st makes
 * the leap day the last day of the year; 400 years are 146097 days. */
static char *put_date(char *p, int64_t days)
{
	int64_t z = days + 730425; /* days since 0000-03-01 */
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;                                      /* 0..146096 */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* from March 1st */
	int64_t mp = (5 * doy + 2) / 153;                                    /* 0 = March */
	unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	int64_t y = yoe + era * 400 + (m <= 2);
	p = put_year(p, y);
	*p++ = '-';
	p = put2(p, m);
	*p++ = '-';
	return put2(p, d);
}

#define USECS_PER_DAY  INT64_C(86400000000)
#define USECS_PER_HOUR INT64_C(3600000000)
#define USECS_PER_MIN  INT64_C(60000000)
#define USECS_PER_SEC  INT64_C(1000000)

/* HH:MM:SS[.ffffff] of a time of day in microseconds (24:00:00 allowed). */
static char *put_time(char *p, int64_t us)
{
	p = put2(p, (unsigned)(us / USECS_PER_HOUR));
	*p++ = ':';
	p = put2(p, (unsigned)(us / USECS_PER_MIN % 60));
	*p++ = ':';
	p = put2(p, (unsigned)(us / USECS_PER_SEC % 60));
	return put_fraction(p, (unsigned)(us % USECS_PER_SEC));
}

/* +HH:MM[:SS] for an offset east of UTC in seconds. */
static char *put_offset(char *p, int32_t east)
{
	*p++ = east < 0 ? '-' : '+';
	uint32_t a = east < 0 ? 0 - (uint32_t)east : (uint32_t)east;
	p = put2(p, a / 3600);
	*p++ = ':';
	p = put2(p, a / 60 % 60);
	if (a % 60) {
		*p++ = ':';
		p = put2(p, a % 60);
	}
	return p;
}

static char *put_int(char *p, int64_t v)
{
	return p + sprintf(p, "%lld", (long long)v);
}

/* PostgreSQL's iso_8601 IntervalStyle: P[nY][nM][nD][T[nH][nM][n.fS]], each
 * part with its own sign, PT0S for nothing. */
static char *put_interval(char *p, int64_t time, int32_t days, int32_t months)
{
	int64_t years = months / 12, mons = months % 12;
	int64_t hours = time / USECS_PER_HOUR;
	time -= hours * USECS_PER_HOUR;
	int64_t mins = time / USECS_PER_MIN;
	time -= mins * USECS_PER_MIN;
	int64_t secs = time / USECS_PER_SEC, fsec = time % USECS_PER_SEC;
	if (!years && !mons && !days && !hours && !mins && !secs && !fsec) {
		memcpy(p, "PT0S", 4);
		return p + 4;
	}
	*p++ = 'P';
	const int64_t date[3] = {years, mons, days};
	const char dunits[3] = {'Y', 'M', 'D'};
	for (int i = 0; i < 3; i++) {
		if (date[i]) {
			p = put_int(p, date[i]);
			*p++ = dunits[i];
		}
	}
	if (!hours && !mins && !secs && !fsec)
		return p;
	*p++ = 'T';
	if (hours) {
		p = put_int(p, hours);
		*p++ = 'H';
	}
	if (mins) {
		p = put_int(p, mins);
		*p++ = 'M';
	}
	if (secs || fsec) {
		if (secs < 0 || fsec < 0)
			*p++ = '-';
		p = put_int(p, secs < 0 ? -secs : secs);
		p = put_fraction(p, (unsigned)(fsec < 0 ? -fsec : fsec));
		*p++ = 'S';
	}
	return p;
}

/* ---- the decoders ---- */

static int bad(plumb_db *db, const char *what, size_t len)
{
	return db_error(db, 0, "PostgreSQL sent a %s value of %zu bytes that breaks its format",
	                what, len);
}

static int text_value(plumb_value *out, plumb_value_kind kind, const char *s, size_t len)
{
	out->kind = kind;
	out->s = s;
	out->len = len;
	return 0;
}

/* Room in the arena for text of at most n bytes; the value is set to it
 * once the text is written (set_text). */
static char *text_room(plumb_db *db, size_t n)
{
	return db_arena_alloc(&db->arena, n);
}

static int set_text(plumb_value *out, char *start, char *end)
{
	return text_value(out, PLUMB_VALUE_TEXT, start, (size_t)(end - start));
}

static int dec_numeric(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out)
{
	if (len < 8)
		return bad(db, "numeric", len);
	int ndigits = (int16_t)rd16(p), weight = (int16_t)rd16(p + 2);
	unsigned sign = rd16(p + 4);
	int dscale = (int16_t)rd16(p + 6);
	if (ndigits < 0 || dscale < 0 || len != 8 + 2 * (size_t)ndigits)
		return bad(db, "numeric", len);
	const char *special = sign == 0xC000   ? "NaN"
	                      : sign == 0xD000 ? "Infinity"
	                      : sign == 0xF000 ? "-Infinity"
	                                       : NULL;
	if (special)
		return text_value(out, PLUMB_VALUE_NUMERIC, special, strlen(special));
	if (sign != 0 && sign != 0x4000)
		return bad(db, "numeric", len);
	size_t intgroups = weight >= 0 ? (size_t)weight + 1 : 1;
	char *s = text_room(db, 2 + 4 * intgroups + (size_t)dscale + 4);
	if (!s)
		return -ENOMEM;
	char *q = s;
	if (sign == 0x4000)
		*q++ = '-';
	const unsigned char *d = p + 8;
	for (int i = 0; i < ndigits; i++)
		if (rd16(d + 2 * i) > 9999)
			return bad(db, "numeric", len);
	if (weight < 0) {
		*q++ = '0';
	} else {
		for (int i = 0; i <= weight; i++) {
			unsigned g = i < ndigits ? rd16(d + 2 * i) : 0;
			if (i == 0) {
				q += sprintf(q, "%u", g);
			} else {
				q = put2(q, g / 100);
				q = put2(q, g % 100);
			}
		}
	}
	if (dscale > 0) {
		*q++ = '.';
		int left = dscale;
		for (int i = weight + 1; left > 0; i++) {
			unsigned g = i >= 0 && i < ndigits ? rd16(d + 2 * i) : 0;
			char four[4];
			put2(put2(four, g / 100), g % 100);
			int take = left < 4 ? left : 4;
			memcpy(q, four, (size_t)take);
			q += take;
			left -= take;
		}
	}
	return text_value(out, PLUMB_VALUE_NUMERIC, s, (size_t)(q - s));
}

static int dec_timestamp(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out, int tz)
{
	if (len != 8)
		return bad(db, tz ? "timestamptz" : "timestamp", len);
	int64_t us = (int64_t)rd64(p);
	if (us == INT64_MAX)
		return text_value(out, PLUMB_VALUE_TEXT, "infinity", 8);
	if (us == INT64_MIN)
		return text_value(out, PLUMB_VALUE_TEXT, "-infinity", 9);
	char *s = text_room(db, 48);
	if (!s)
		return -ENOMEM;
	int64_t days = floor_div(us, USECS_PER_DAY);
	char *q = put_date(s, days);
	*q++ = 'T';
	q = put_time(q, us - days * USECS_PER_DAY);
	if (tz)
		*q++ = 'Z';
	return set_text(out, s, q);
}

static int dec_date(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out)
{
	if (len != 4)
		return bad(db, "date", len);
	int32_t days = (int32_t)rd32(p);
	if (days == INT32_MAX)
		return text_value(out, PLUMB_VALUE_TEXT, "infinity", 8);
	if (days == INT32_MIN)
		return text_value(out, PLUMB_VALUE_TEXT, "-infinity", 9);
	char *s = text_room(db, 24);
	if (!s)
		return -ENOMEM;
	return set_text(out, s, put_date(s, days));
}

static int dec_time(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out, int tz)
{
	if (len != (tz ? 12u : 8u))
		return bad(db, tz ? "timetz" : "time", len);
	int64_t us = (int64_t)rd64(p);
	if (us < 0 || us > USECS_PER_DAY)
		return bad(db, tz ? "timetz" : "time", len);
	char *s = text_room(db, 32);
	if (!s)
		return -ENOMEM;
	char *q = put_time(s, us);
	if (tz) /* the zone is sent in seconds west of UTC */
		q = put_offset(q, -(int32_t)rd32(p + 8));
	return set_text(out, s, q);
}

static int dec_interval(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out)
{
	if (len != 16)
		return bad(db, "interval", len);
	char *s = text_room(db, 96);
	if (!s)
		return -ENOMEM;
	return set_text(
	        out, s,
	        put_interval(s, (int64_t)rd64(p), (int32_t)rd32(p + 8), (int32_t)rd32(p + 12)));
}

static const char hexdig[] = "0123456789abcdef";

static int dec_uuid(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out)
{
	if (len != 16)
		return bad(db, "uuid", len);
	char *s = text_room(db, 40);
	if (!s)
		return -ENOMEM;
	char *q = s;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*q++ = '-';
		*q++ = hexdig[p[i] >> 4];
		*q++ = hexdig[p[i] & 15];
	}
	return set_text(out, s, q);
}

static int dec_macaddr(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out,
                       size_t want)
{
	if (len != want)
		return bad(db, "macaddr", len);
	char *s = text_room(db, 3 * want);
	if (!s)
		return -ENOMEM;
	char *q = s;
	for (size_t i = 0; i < want; i++) {
		if (i)
			*q++ = ':';
		*q++ = hexdig[p[i] >> 4];
		*q++ = hexdig[p[i] & 15];
	}
	return set_text(out, s, q);
}

/* inet and cidr: family (2 = IPv4, 3 = IPv6), prefix bits, is-cidr, address
 * length, address.  inet shows /bits only when it is not the full length. */
static int dec_inet(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out)
{
	if (len < 4)
		return bad(db, "inet", len);
	int v6 = p[0] == 3;
	unsigned bits = p[1], cidr = p[2], nb = p[3], full = v6 ? 128 : 32;
	if ((p[0] != 2 && !v6) || nb != (v6 ? 16u : 4u) || len != 4 + nb || bits > full)
		return bad(db, "inet", len);
	char *s = text_room(db, INET6_ADDRSTRLEN + 8);
	if (!s)
		return -ENOMEM;
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, p + 4, s, INET6_ADDRSTRLEN))
		return bad(db, "inet", len);
	char *q = s + strlen(s);
	if (cidr || bits != full)
		q += sprintf(q, "/%u", bits);
	return set_text(out, s, q);
}

static int dec_bit(plumb_db *db, const unsigned char *p, size_t len, plumb_value *out)
{
	if (len < 4)
		return bad(db, "bit", len);
	uint32_t nbits = rd32(p);
	if ((size_t)nbits > (len - 4) * 8 || (len - 4) != ((size_t)nbits + 7) / 8)
		return bad(db, "bit", len);
	char *s = text_room(db, (size_t)nbits + 1);
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < nbits; i++)
		s[i] = (p[4 + i / 8] >> (7 - i % 8)) & 1 ? '1' : '0';
	return set_text(out, s, s + nbits);
}

/*
 * An array: ndim, has-nulls flag, element type, ndim x (size, lower bound),
 * then each element as a length (-1: NULL) and its bytes, last dimension
 * fastest.  The elements become one flat vector in the arena; each dimension
 * above the last becomes a vector of ARRAY values pointing into the one
 * below.  Lower bounds are dropped.
 */
static int dec_array(plumb_db *db, int elem, const unsigned char *p, size_t len, plumb_value *out)
{
	if (len < 12)
		return bad(db, "array", len);
	uint32_t ndim = rd32(p);
	if (ndim > 6 || len < 12 + 8 * (size_t)ndim)
		return bad(db, "array", len);
	size_t dims[6], total = ndim ? 1 : 0;
	for (uint32_t i = 0; i < ndim; i++) {
		dims[i] = rd32(p + 12 + 8 * i);
		/* Each element takes at least its 4-byte length. */
		if (dims[i] > len / 4 || (dims[i] && total > len / 4 / dims[i]))
			return bad(db, "array", len);
		total *= dims[i];
	}
	out->kind = PLUMB_VALUE_ARRAY;
	out->len = 0;
	out->elems = NULL;
	if (total == 0)
		return 0;
	plumb_value *leaves = db_arena_alloc(&db->arena, total * sizeof *leaves);
	if (!leaves)
		return -ENOMEM;
	const unsigned char *q = p + 12 + 8 * ndim, *end = p + len;
	for (size_t i = 0; i < total; i++) {
		if (end - q < 4)
			return bad(db, "array", len);
		int32_t elen = (int32_t)rd32(q);
		q += 4;
		if (elen == -1) {
			leaves[i].kind = PLUMB_VALUE_NULL;
			leaves[i].len = 0;
			continue;
		}
		if (elen < 0 || end - q < elen)
			return bad(db, "array", len);
		int rc = pg_decode(db, elem, PG_CAST, q, (size_t)elen, &leaves[i]);
		if (rc < 0)
			return rc;
		q += elen;
	}
	if (q != end)
		return bad(db, "array", len);
	/* Nest from the last dimension up. */
	plumb_value *level = leaves;
	size_t count = total;
	for (uint32_t d = ndim; d-- > 1;) {
		size_t parents = count / dims[d];
		plumb_value *up = db_arena_alloc(&db->arena, parents * sizeof *up);
		if (!up)
			return -ENOMEM;
		for (size_t i = 0; i < parents; i++) {
			up[i].kind = PLUMB_VALUE_ARRAY;
			up[i].len = dims[d];
			up[i].elems = level + i * dims[d];
		}
		level = up;
		count = parents;
	}
	out->len = dims[0];
	out->elems = level;
	return 0;
}

int pg_decode(plumb_db *db, int dec, int elem, const unsigned char *p, size_t len, plumb_value *out)
{
	union {
		uint32_t u;
		float f;
	} f4;
	union {
		uint64_t u;
		double f;
	} f8;
	switch (dec) {
	case PG_BOOL:
		if (len != 1)
			return bad(db, "bool", len);
		out->kind = PLUMB_VALUE_BOOL;
		out->i = p[0] != 0;
		return 0;
	case PG_INT2:
		if (len != 2)
			return bad(db, "int2", len);
		out->kind = PLUMB_VALUE_INT;
		out->i = (int16_t)rd16(p);
		return 0;
	case PG_INT4:
		if (len != 4)
			return bad(db, "int4", len);
		out->kind = PLUMB_VALUE_INT;
		out->i = (int32_t)rd32(p);
		return 0;
	case PG_UINT4:
		if (len != 4)
			return bad(db, "oid", len);
		out->kind = PLUMB_VALUE_INT;
		out->i = rd32(p);
		return 0;
	case PG_INT8:
		if (len != 8)
			return bad(db, "int8", len);
		out->kind = PLUMB_VALUE_INT;
		out->i = (int64_t)rd64(p);
		return 0;
	case PG_FLOAT4:
		if (len != 4)
			return bad(db, "float4", len);
		f4.u = rd32(p);
		out->kind = PLUMB_VALUE_FLOAT4;
		out->f = f4.f;
		return 0;
	case PG_FLOAT8:
		if (len != 8)
			return bad(db, "float8", len);
		f8.u = rd64(p);
		out->kind = PLUMB_VALUE_FLOAT;
		out->f = f8.f;
		return 0;
	case PG_NUMERIC:
		return dec_numeric(db, p, len, out);
	case PG_CAST:
	case PG_TEXT:
		return text_value(out, PLUMB_VALUE_TEXT, (const char *)p, len);
	case PG_JSON:
		return text_value(out, PLUMB_VALUE_JSON, (const char *)p, len);
	case PG_JSONB:
		if (len < 1 || p[0] != 1)
			return bad(db, "jsonb", len);
		return text_value(out, PLUMB_VALUE_JSON, (const char *)p + 1, len - 1);
	case PG_BYTEA:
		return text_value(out, PLUMB_VALUE_BLOB, (const char *)p, len);
	case PG_DATE:
		return dec_date(db, p, len, out);
	case PG_TIME:
		return dec_time(db, p, len, out, 0);
	case PG_TIMETZ:
		return dec_time(db, p, len, out, 1);
	case PG_TIMESTAMP:
		return dec_timestamp(db, p, len, out, 0);
	case PG_TIMESTAMPTZ:
		return dec_timestamp(db, p, len, out, 1);
	case PG_INTERVAL:
		return dec_interval(db, p, len, out);
	case PG_UUID:
		return dec_uuid(db, p, len, out);
	case PG_INET:
		return dec_inet(db, p, len, out);
	case PG_MACADDR:
		return dec_macaddr(db, p, len, out, 6);
	case PG_MACADDR8:
		return dec_macaddr(db, p, len, out, 8);
	case PG_BIT:
		return dec_bit(db, p, len, out);
	case PG_ARRAY:
		return dec_array(db, elem, p, len, out);
	}
	return db_error(db, 0, "no decoder %d for a PostgreSQL value", dec);
}
