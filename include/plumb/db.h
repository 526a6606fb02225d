/*
 * plumb/db.h - rows out of a database, one at a time, in constant memory.
 *
 * A plumb_db is a connection to SQLite (a file, read only) or PostgreSQL.
 * plumb_db_query starts a query and makes its columns known; plumb_db_next
 * hands out its rows as arrays of plumb_value, each valid until the next
 * call.  Nothing ever holds the whole result: SQLite steps a statement;
 * PostgreSQL streams `COPY (query) TO STDOUT (FORMAT binary)` and the binary
 * tuples are decoded here.  For CSV out of PostgreSQL, plumb_db_copy_csv
 * streams the server's own COPY CSV straight into a writer.
 *
 * Sources (plumb_db_open):
 *   file.db, ./x.db, /abs/x.db   a SQLite file (it must exist)
 *   sqlite:PATH                  the same, spelled out; PATH may be a SQLite
 *                                URI (sqlite:file:x.db?immutable=1)
 *   file:x.db?...                a SQLite URI
 *   postgres://... postgresql://...
 *                                a libpq connection URI
 *   postgres:KEY=VAL ...         a libpq keyword/value connection string
 *   postgres:DBNAME              that database, the rest from the environment
 *   postgres: or postgresql:     libpq's defaults: the PG* environment
 *                                (PGHOST, PGPORT, PGUSER, PGDATABASE, ...)
 * (postgresql: works wherever postgres: does.)
 * Any other "scheme:" prefix is an error naming the scheme, unless a file of
 * that exact name exists (then it is a SQLite file).
 *
 * Values (what plumb_value holds for each database type):
 *   SQLite   INTEGER -> INT, REAL -> FLOAT, TEXT -> TEXT, BLOB -> BLOB,
 *            NULL -> NULL (per value: SQLite columns have no fixed type).
 *   Postgres bool -> BOOL; int2/int4/int8/oid/xid -> INT; float8 -> FLOAT;
 *            float4 -> FLOAT4; numeric -> NUMERIC (decimal text, or "NaN",
 *            "Infinity", "-Infinity"); json/jsonb -> JSON; bytea -> BLOB;
 *            arrays of the types here -> ARRAY (multi-dimensional arrays nest;
 *            lower bounds are dropped); text, varchar, char(n), name, "char",
 *            xml, citext, enums -> TEXT; and as TEXT in ISO 8601 form:
 *              date         2024-01-02
 *              time         03:04:05.123456
 *              timetz       03:04:05+02:00
 *              timestamp    2024-01-02T03:04:05.123456
 *              timestamptz  2024-01-02T03:04:05.123456Z (always UTC)
 *              interval     P1Y2M3DT4H5M6.5S (PostgreSQL's iso_8601 style)
 *            (fractions lose trailing zeros and vanish when zero; years
 *            outside 0000..9999 get a sign and at least four digits, year 0
 *            being 1 BC as ISO 8601 counts; +-infinity are "infinity" and
 *            "-infinity"); uuid, inet, cidr, macaddr, macaddr8, bit, varbit
 *            -> TEXT in PostgreSQL's text form.  Every other type (money,
 *            ranges, geometry, tsvector, composites, extension types...) is
 *            converted with its own ::text cast on the server -> TEXT.
 *
 * Errors: functions return 0 (or a count) on success, -errno or PLUMB_EDB;
 * the database's message is then in plumb_db_errmsg.  PostgreSQL sessions
 * run with TimeZone UTC, DateStyle ISO, client_encoding UTF8,
 * extra_float_digits 1 and default_transaction_read_only on (an export
 * never writes; SQLite files are opened read-only for the same reason).
 *
 * One plumb_db is used by one thread at a time, except plumb_db_interrupt.
 */
#ifndef PLUMB_DB_H
#define PLUMB_DB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <plumb/io.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plumb_db plumb_db;

/* What a plumb_value holds. */
typedef enum plumb_value_kind {
	PLUMB_VALUE_NULL = 0,
	PLUMB_VALUE_INT,     /* i */
	PLUMB_VALUE_FLOAT,   /* f: a double */
	PLUMB_VALUE_FLOAT4,  /* f: a float (single precision) widened to double */
	PLUMB_VALUE_BOOL,    /* i: 0 or 1 */
	PLUMB_VALUE_TEXT,    /* s, len: text, UTF-8 unless the database holds otherwise */
	PLUMB_VALUE_BLOB,    /* s, len: bytes */
	PLUMB_VALUE_NUMERIC, /* s, len: an exact decimal as text ("-12.50", "NaN") */
	PLUMB_VALUE_JSON,    /* s, len: a JSON document as text */
	PLUMB_VALUE_ARRAY,   /* elems, len: the elements (which may be arrays) */
} plumb_value_kind;

/* One value of a row.  The bytes it points to belong to the plumb_db and
 * stay valid until the next plumb_db_next (or query, or close). */
typedef struct plumb_value {
	plumb_value_kind kind;
	size_t len; /* TEXT, BLOB, NUMERIC, JSON: bytes; ARRAY: elements */
	union {
		int64_t i;
		double f;
		const char *s;
		const struct plumb_value *elems;
	};
} plumb_value;

/* One column of a result. */
typedef struct plumb_db_column {
	const char *name;  /* as the database names it (NUL-terminated UTF-8) */
	const char *type;  /* the database's type name: SQLite's declared type
	                    * ("" for expressions), PostgreSQL's pg_type.typname */
	uint32_t type_oid; /* PostgreSQL's type OID; 0 for SQLite */
} plumb_db_column;

/*
 * plumb_db_open - connect to source (see the top of this file) and store the
 * connection in *out.  Returns 0; -ENOENT for a SQLite file that does not
 * exist (it is never created; through a file: URI that is SQLite's
 * PLUMB_EDB "unable to open database file"); -EISDIR for a directory;
 * -EINVAL for an unknown scheme or an empty source; PLUMB_EDB when
 * the database refuses (not a database, bad URI, connection refused, bad
 * password...); -ENOMEM.  On failure *out is NULL and, when err is not NULL,
 * a message (NUL-terminated, cut to errlen) is written to err.
 */
int plumb_db_open(plumb_db **out, const char *source, char *err, size_t errlen);

/* Ends any query, disconnects and frees db (NULL is fine). */
void plumb_db_close(plumb_db *db);

/* "sqlite" or "postgresql". */
const char *plumb_db_driver(const plumb_db *db);

/* The message of db's last error ("" when there was none); valid until the
 * next call on db. */
const char *plumb_db_errmsg(const plumb_db *db);

/* Where in the SQL text the last error was, as a 1-based character (not
 * byte) position, or 0 when the database did not say.  The message already
 * ends with "at character N" then. */
int plumb_db_errpos(const plumb_db *db);

/*
 * plumb_db_query - start the query sql (one statement, which must return
 * rows; a trailing ';' is fine), ending the previous one.  After it returns
 * 0 the columns are known.  PLUMB_EDB for SQL errors, with the position.
 */
int plumb_db_query(plumb_db *db, const char *sql);

/*
 * plumb_db_query_table - start `SELECT * FROM table`, with table quoted as
 * the database wants.  table is a name taken literally, or SCHEMA.NAME, where
 * either part may be written in double quotes ("a.b"."we""ird") to hold dots
 * or to start with a quote.  -EINVAL for an empty name or a bad quote.
 */
int plumb_db_query_table(plumb_db *db, const char *table);

/* The columns of the current query (after plumb_db_query succeeded). */
size_t plumb_db_columns(const plumb_db *db);
const plumb_db_column *plumb_db_column_at(const plumb_db *db, size_t i);

/*
 * plumb_db_next - the next row of the current query: *row points to
 * plumb_db_columns(db) values, valid until the next call.  Returns 1 for a
 * row, 0 after the last one, or a negative error (PLUMB_EDB: message).
 */
int plumb_db_next(plumb_db *db, const plumb_value **row);

/*
 * plumb_db_finish - end the current query early (PostgreSQL: cancel it on
 * the server and drain what is in flight), so db can run another.  Harmless
 * when there is none.
 */
void plumb_db_finish(plumb_db *db);

/*
 * plumb_db_interrupt - ask the running query to stop; it then fails with
 * PLUMB_EDB ("interrupted", or PostgreSQL's "canceling statement due to user
 * request").  The only function that may be called from another thread
 * while one uses db (which must stay open until it returns).
 */
void plumb_db_interrupt(plumb_db *db);

/*
 * plumb_db_copy_csv - PostgreSQL only: stream the current query's result
 * (started by plumb_db_query or plumb_db_query_table, no row read yet) as the
 * server's `COPY ... TO STDOUT (FORMAT csv)` output into w: RFC 4180, LF line
 * ends, NULL as an empty field, "" for the empty string, with a header line
 * when header is nonzero.  The output is batched into writes of about 64 KiB.
 * cancel (may be NULL) is checked for every row: nonzero stops with
 * -ECANCELED; *rows (may be NULL) counts the data rows as they go.  Returns
 * the number of data rows, or a negative error: the writer's own error when a
 * write fails (the query is then cancelled), PLUMB_EDB, -ENOTSUP for SQLite.
 */
int64_t plumb_db_copy_csv(plumb_db *db, int header, plumb_writer *w, const atomic_int *cancel,
                          _Atomic uint64_t *rows);

/* Modes of plumb_db_count. */
enum {
	PLUMB_DB_COUNT_CHEAP = 0, /* an estimate where an exact count costs a scan */
	PLUMB_DB_COUNT_EXACT = 1, /* count(*), whatever it costs */
};

/*
 * plumb_db_count - the number of rows of table (named as for
 * plumb_db_query_table), for a progress percentage; call it when no query is
 * running.  SQLite counts (count(*): exact, a fast scan).  PostgreSQL, in
 * CHEAP mode, gives the planner's estimate (reltuples scaled to the table's
 * current size, from EXPLAIN), and count(*) in EXACT mode.  Stores the count
 * in *count; returns 1 when it is exact, 0 for an estimate, or < 0.
 */
int plumb_db_count(plumb_db *db, const char *table, int mode, int64_t *count);

#ifdef __cplusplus
}
#endif
#endif
