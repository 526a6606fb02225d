/*
 * pg-internal.h - between the PostgreSQL driver (postgres.c) and the
 * decoder of PostgreSQL's binary value formats (pgbinary.c).
 */
#ifndef PLUMB_PG_INTERNAL_H
#define PLUMB_PG_INTERNAL_H

#include "db-internal.h"

/* How a column's binary values are decoded. */
enum pg_dec {
	PG_CAST = 0, /* not decodable here: the server casts it to text */
	PG_BOOL,
	PG_INT2,
	PG_INT4,
	PG_INT8,
	PG_UINT4, /* oid, xid, cid */
	PG_FLOAT4,
	PG_FLOAT8,
	PG_NUMERIC,
	PG_TEXT, /* text, varchar, bpchar, name, xml, enums, citext, "char"... */
	PG_JSON,
	PG_JSONB,
	PG_BYTEA,
	PG_DATE,
	PG_TIME,
	PG_TIMETZ,
	PG_TIMESTAMP,
	PG_TIMESTAMPTZ,
	PG_INTERVAL,
	PG_UUID,
	PG_INET, /* inet and cidr */
	PG_MACADDR,
	PG_MACADDR8,
	PG_BIT, /* bit and varbit */
	PG_ARRAY,
};

/* A type the decoder knows by OID (the built-in ones, whose OIDs are fixed). */
struct pg_type {
	uint32_t oid;
	const char *name;
	uint8_t dec;
	uint8_t elem; /* PG_ARRAY: the elements' decoder */
};

/* The built-in type with this OID, or NULL. */
const struct pg_type *pg_builtin_type(uint32_t oid) PLUMB_HIDDEN;

/* The decoder for a type whose binary output function (pg_type.typsend) is
 * send, or PG_CAST when it is none we know. */
int pg_dec_of_send(const char *send) PLUMB_HIDDEN;

/*
 * pg_decode - the binary value p[0..len) as a plumb_value, with decoder dec
 * (and elem for arrays).  Text it makes lives in db's arena; text it does not
 * make points into p.  Returns 0, or PLUMB_EDB (message in db) for a value
 * that breaks its format, or -ENOMEM.
 */
int pg_decode(plumb_db *db, int dec, int elem, const unsigned char *p, size_t len,
              plumb_value *out) PLUMB_HIDDEN;

#endif
