/*
 * postgres.c - the PostgreSQL driver: libpq, COPY, and nothing held whole.
 *
 * libpq is loaded when the first source is opened (pg-load.h says why);
 * the PQ calls below go through the table it fills.
 *
 * A query runs in two steps.  plumb_db_query prepares the statement and
 * describes it (PQprepare + PQdescribePrepared: one round trip each, no
 * rows), which checks the SQL -- errors come back with their position -- and
 * gives the column names and type OIDs.  The rows come later, from whichever
 * COPY the caller asks for:
 *
 *  - plumb_db_next streams `COPY (query) TO STDOUT (FORMAT binary)` and
 *    decodes the binary tuples (pgbinary.c).  COPY is the fastest way out of
 *    the server: no per-row protocol messages beyond one CopyData, no output
 *    functions for binary send forms, no cursor round trips; libpq hands one
 *    row at a time.  A column of a type the decoder does not know is cast to
 *    text on the server: the query is wrapped as
 *      SELECT c1, c2::text, ... FROM (query) AS plumb_q(c1, c2, ...)
 *    (column aliases by position, so duplicate or odd names do not matter).
 *  - plumb_db_copy_csv streams `COPY (query) TO STDOUT (FORMAT csv)` into a
 *    writer as it comes, in batches of about 64 KiB.
 *
 * Types the decoder knows by OID are the built-in ones; for any other OID
 * one catalog query asks for its binary output function (typsend), so
 * domains, enums, citext and arrays of them are decoded too.
 *
 * The session is set to TimeZone UTC, DateStyle ISO, client_encoding UTF8,
 * extra_float_digits 1 (shortest exact floats in CSV) and read-only
 * transactions: an export never writes.
 *
 * Stopping early (a failed write, a cancel): the server is asked to cancel
 * the COPY (PQcancel, on the side connection libpq opens for that) and what
 * is still in flight is read and dropped, so the connection can run the next
 * query.  plumb_db_interrupt sends the same cancel from another thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg-internal.h"
#include "pg-load.h"

enum pg_state {
	PG_IDLE,    /* no query */
	PG_READY,   /* described; no COPY started */
	PG_COPYING, /* a COPY is streaming */
	PG_DONE,    /* the COPY ended */
};

struct pg_col {
	uint8_t dec, elem;
};

struct pg_db {
	plumb_db db;
	PGconn *conn;
	PGcancel *cancel;
	enum pg_state state;
	char *sql;   /* the user's query, trailing ';' gone; NULL for a table */
	char *table; /* the quoted table name, or NULL */
	struct pg_col *pc;
	bool casts;       /* some column is cast to text */
	bool plain_table; /* table is an ordinary table: COPY it directly */
	bool header_seen; /* binary COPY: the file header was read */
	char *copybuf;    /* the row plumb_db_next handed out last */
	int prefix_chars; /* characters of COPY text before the user's SQL */
	int sql_chars;    /* characters of the user's SQL */
};

#define PG(db) PLUMB_CONTAINER_OF(db, struct pg_db, db)

/* ---- errors ---- */

/* db's message from a failed result: the primary message, the position in
 * the user's SQL when the server gave one inside it, DETAIL and HINT. */
static int pg_result_error(struct pg_db *p, const PGresult *res)
{
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg)
		msg = PQerrorMessage(p->conn);
	if (!msg || !*msg)
		msg = "the query failed";
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *posstr = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
	int pos = posstr ? atoi(posstr) - p->prefix_chars : 0;
	if (!p->sql || pos < 1 || pos > p->sql_chars + 1)
		pos = 0;
	char where[40] = "";
	if (pos)
		snprintf(where, sizeof where, " at character %d", pos);
	int rc = db_error(&p->db, 0, "%s%s%s%s%s%s", msg, where, detail ? "\nDETAIL: " : "",
	                  detail ? detail : "", hint ? "\nHINT: " : "", hint ? hint : "");
	p->db.errpos = pos;
	return rc;
}

static int pg_conn_error(struct pg_db *p)
{
	return db_error(&p->db, 0, "%s", PQerrorMessage(p->conn));
}

/* ---- ending a query ---- */

/* Reads and drops the results that are left, so the connection is idle. */
static void drain_results(struct pg_db *p)
{
	PGresult *res;
	while ((res = PQgetResult(p->conn)) != NULL) {
		if (PQresultStatus(res) == PGRES_COPY_OUT) {
			char *buf;
			int n;
			while ((n = PQgetCopyData(p->conn, &buf, 0)) > 0)
				PQfreemem(buf);
		}
		PQclear(res);
	}
}

static void pg_finish(plumb_db *db)
{
	struct pg_db *p = PG(db);
	if (p->copybuf)
		PQfreemem(p->copybuf);
	p->copybuf = NULL;
	if (p->state == PG_COPYING) {
		char err[256];
		if (p->cancel)
			PQcancel(p->cancel, err, sizeof err);
		char *buf;
		int n;
		while ((n = PQgetCopyData(p->conn, &buf, 0)) > 0)
			PQfreemem(buf);
		drain_results(p);
	}
	p->state = PG_IDLE;
	free(p->sql);
	free(p->table);
	free(p->pc);
	p->sql = p->table = NULL;
	p->pc = NULL;
	p->casts = false;
	p->plain_table = false;
	p->header_seen = false;
	p->prefix_chars = p->sql_chars = 0;
}

static void pg_interrupt(plumb_db *db)
{
	struct pg_db *p = PG(db);
	char err[256];
	if (p->cancel)
		PQcancel(p->cancel, err, sizeof err);
}

/* ---- describing a query ---- */

static int count_chars(const char *s)
{
	return db_char_pos(s, strlen(s)) - 1;
}

/* The user's SQL without trailing spaces and semicolons (COPY (...) takes
 * one statement and no ';'). */
static char *trim_sql(const char *sql)
{
	size_t n = strlen(sql);
	while (n > 0 && (sql[n - 1] == ';' || sql[n - 1] == ' ' || sql[n - 1] == '\t' ||
	                 sql[n - 1] == '\n' || sql[n - 1] == '\r' || sql[n - 1] == '\f'))
		n--;
	return strndup(sql, n);
}

/*
 * resolve_types - fills p->pc and the type names for the OIDs of the
 * described statement: built-in types from the table, the others with one
 * catalog query (by their send function; an array by its element's).
 */
static int resolve_types(struct pg_db *p, const PGresult *desc, int n, const char **types,
                         uint32_t *oids, PGresult **lookup)
{
	char *list = malloc((size_t)n * 12 + 3);
	if (!list)
		return -ENOMEM;
	size_t len = 0;
	list[len++] = '{';
	for (int i = 0; i < n; i++) {
		oids[i] = (uint32_t)PQftype(desc, i);
		const struct pg_type *t = pg_builtin_type(oids[i]);
		if (t) {
			p->pc[i].dec = t->dec;
			p->pc[i].elem = t->elem;
			types[i] = t->name;
		} else {
			len += (size_t)sprintf(list + len, "%s%u", len > 1 ? "," : "", oids[i]);
		}
	}
	list[len++] = '}';
	list[len] = '\0';
	if (len == 2) {
		free(list);
		return 0;
	}
	const char *params[1] = {list};
	PGresult *res = PQexecParams(p->conn,
	                             "SELECT t.oid, t.typname, t.typsend::text, e.typsend::text "
	                             "FROM pg_catalog.pg_type t "
	                             "LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem "
	                             "WHERE t.oid = ANY ($1::pg_catalog.oid[])",
	                             1, NULL, params, NULL, NULL, 0);
	free(list);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int rc = pg_result_error(p, res);
		PQclear(res);
		return rc;
	}
	*lookup = res;
	for (int i = 0; i < n; i++) {
		if (pg_builtin_type(oids[i]))
			continue;
		p->pc[i].dec = PG_CAST;
		types[i] = "";
		for (int r = 0; r < PQntuples(res); r++) {
			if ((uint32_t)strtoul(PQgetvalue(res, r, 0), NULL, 10) != oids[i])
				continue;
			types[i] = PQgetvalue(res, r, 1);
			int dec = pg_dec_of_send(PQgetvalue(res, r, 2));
			if (strcmp(PQgetvalue(res, r, 2), "array_send") == 0 &&
			    !PQgetisnull(res, r, 3)) {
				int elem = pg_dec_of_send(PQgetvalue(res, r, 3));
				if (elem != PG_CAST) {
					p->pc[i].dec = PG_ARRAY;
					p->pc[i].elem = (uint8_t)elem;
				}
			} else {
				p->pc[i].dec = (uint8_t)dec;
			}
		}
		if (p->pc[i].dec == PG_CAST)
			p->casts = true;
	}
	return 0;
}

/* Is the table an ordinary one (relkind 'r'), which COPY reads directly?
 * (Views, partitioned and foreign tables need COPY (SELECT ...).) */
static int check_plain_table(struct pg_db *p)
{
	const char *params[1] = {p->table};
	PGresult *res = PQexecParams(p->conn,
	                             "SELECT relkind FROM pg_catalog.pg_class "
	                             "WHERE oid = $1::pg_catalog.regclass",
	                             1, NULL, params, NULL, NULL, 0);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_result_error(p, res);
	else
		p->plain_table = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "r") == 0;
	PQclear(res);
	return rc;
}

static int pg_query(plumb_db *db, const struct db_target *t)
{
	struct pg_db *p = PG(db);
	char *stmt = NULL;
	PGresult *res = NULL, *lookup = NULL;
	const char **types = NULL;
	const char **names = NULL;
	uint32_t *oids = NULL;
	int rc = -ENOMEM;
	if (t->table) {
		p->table = strdup(t->table);
		if (!p->table || asprintf(&stmt, "SELECT * FROM %s", t->table) < 0)
			goto out;
	} else {
		p->sql = trim_sql(t->sql);
		if (!p->sql || !(stmt = strdup(p->sql)))
			goto out;
		p->sql_chars = count_chars(p->sql);
		if (!*p->sql) {
			rc = db_error(db, 0, "the query is empty");
			goto out;
		}
	}
	res = PQprepare(p->conn, "", stmt, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = pg_result_error(p, res);
		goto out;
	}
	PQclear(res);
	res = PQdescribePrepared(p->conn, "");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = pg_result_error(p, res);
		goto out;
	}
	int n = PQnfields(res);
	if (n == 0) {
		rc = db_error(db, 0, "the statement returns no rows (it is not a query)");
		goto out;
	}
	p->pc = calloc((size_t)n, sizeof *p->pc);
	names = calloc((size_t)n, sizeof *names);
	types = calloc((size_t)n, sizeof *types);
	oids = calloc((size_t)n, sizeof *oids);
	if (!p->pc || !names || !types || !oids)
		goto out;
	rc = resolve_types(p, res, n, types, oids, &lookup);
	if (rc == 0 && p->table)
		rc = check_plain_table(p);
	if (rc < 0)
		goto out;
	for (int i = 0; i < n; i++)
		names[i] = PQfname(res, i);
	rc = db_set_columns(db, (size_t)n, names, types, oids);
	if (rc == 0)
		p->state = PG_READY;
out:
	if (rc < 0)
		pg_finish(db);
	PQclear(res);
	PQclear(lookup);
	free(stmt);
	free(names);
	free(types);
	free(oids);
	return rc;
}

/* ---- COPY ---- */

/* What COPY reads: the user's SQL or the table, wrapped in the text casts
 * when some column needs one.  Sets prefix_chars for error positions. */
static char *copy_source(struct pg_db *p, bool binary)
{
	char *inner = NULL, *src = NULL;
	if (p->plain_table && (!binary || !p->casts)) {
		/* COPY of the table itself skips the executor: the fastest. */
		p->prefix_chars = 0;
		return strdup(p->table);
	}
	if (p->table) {
		if (asprintf(&inner, "SELECT * FROM %s", p->table) < 0)
			return NULL;
	} else if (!(inner = strdup(p->sql))) {
		return NULL;
	}
	if (!binary || !p->casts) {
		/* The newline ends a trailing -- comment before the ')'. */
		if (asprintf(&src, "(%s\n)", inner) < 0)
			src = NULL;
		p->prefix_chars = 6; /* "COPY (" */
		free(inner);
		return src;
	}
	size_t n = p->db.ncols, cap = 64 + strlen(inner) + 2 * n * 24;
	src = malloc(cap);
	if (src) {
		size_t len = (size_t)snprintf(src, cap, "(SELECT ");
		for (size_t i = 0; i < n; i++)
			len += (size_t)snprintf(src + len, cap - len, "%sc%zu%s", i ? ", " : "",
			                        i + 1,
			                        p->pc[i].dec == PG_CAST ? "::pg_catalog.text" : "");
		len += (size_t)snprintf(src + len, cap - len, " FROM (");
		p->prefix_chars = 6 + (int)len;
		len += (size_t)snprintf(src + len, cap - len, "%s\n) AS plumb_q(", inner);
		for (size_t i = 0; i < n; i++)
			len += (size_t)snprintf(src + len, cap - len, "%sc%zu", i ? ", " : "",
			                        i + 1);
		snprintf(src + len, cap - len, "))");
	}
	free(inner);
	return src;
}

static int start_copy(struct pg_db *p, const char *options)
{
	char *src = copy_source(p, strstr(options, "binary") != NULL);
	char *stmt = NULL;
	if (!src || asprintf(&stmt, "COPY %s TO STDOUT (%s)", src, options) < 0) {
		free(src);
		return -ENOMEM;
	}
	free(src);
	PGresult *res = PQexec(p->conn, stmt);
	free(stmt);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		int rc = pg_result_error(p, res);
		PQclear(res);
		drain_results(p);
		p->state = PG_DONE;
		return rc;
	}
	PQclear(res);
	p->state = PG_COPYING;
	p->header_seen = false;
	return 0;
}

/* After PQgetCopyData said -1: the COPY's own result. */
static int end_copy(struct pg_db *p)
{
	int rc = 0;
	PGresult *res = PQgetResult(p->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pg_result_error(p, res);
	PQclear(res);
	drain_results(p);
	p->state = PG_DONE;
	return rc;
}

static const unsigned char copy_signature[11] = "PGCOPY\n\377\r\n";

/* The binary COPY header: signature, flags, extension length, extension.
 * Returns the bytes it takes, or < 0. */
static int skip_header(struct pg_db *p, const unsigned char *buf, size_t n)
{
	if (n < 19 || memcmp(buf, copy_signature, 11) != 0)
		return db_error(&p->db, 0,
		                "PostgreSQL's binary COPY header is not what it should be");
	uint32_t ext;
	memcpy(&ext, buf + 15, 4);
	ext = __builtin_bswap32(ext);
	if (ext > n - 19)
		return db_error(&p->db, 0, "PostgreSQL's binary COPY header is cut short");
	p->header_seen = true;
	return (int)(19 + ext);
}

static int bad_tuple(struct pg_db *p)
{
	return db_error(&p->db, 0, "PostgreSQL sent a binary COPY row that breaks the format");
}

/* One binary tuple: a field count, then each field's length (-1: NULL) and
 * bytes.  The count -1 is the trailer (returns 0). */
static int decode_tuple(struct pg_db *p, const unsigned char *q, size_t n)
{
	const unsigned char *end = q + n;
	if (n < 2)
		return bad_tuple(p);
	int16_t fields = (int16_t)(q[0] << 8 | q[1]);
	q += 2;
	if (fields == -1)
		return 0;
	if (fields != (int16_t)p->db.ncols)
		return bad_tuple(p);
	db_arena_reset(&p->db.arena);
	plumb_value *v = p->db.row;
	for (int i = 0; i < fields; i++) {
		if (end - q < 4)
			return bad_tuple(p);
		uint32_t u;
		memcpy(&u, q, 4);
		int32_t len = (int32_t)__builtin_bswap32(u);
		q += 4;
		if (len == -1) {
			v[i].kind = PLUMB_VALUE_NULL;
			v[i].len = 0;
			continue;
		}
		if (len < 0 || end - q < len)
			return bad_tuple(p);
		int rc = pg_decode(&p->db, p->pc[i].dec, p->pc[i].elem, q, (size_t)len, &v[i]);
		if (rc < 0)
			return rc;
		q += len;
	}
	return q == end ? 1 : bad_tuple(p);
}

static int pg_next(plumb_db *db, const plumb_value **row)
{
	struct pg_db *p = PG(db);
	if (p->state == PG_READY) {
		int rc = start_copy(p, "FORMAT binary");
		if (rc < 0)
			return rc;
	}
	if (p->state != PG_COPYING)
		return 0;
	for (;;) {
		if (p->copybuf)
			PQfreemem(p->copybuf);
		p->copybuf = NULL;
		int n = PQgetCopyData(p->conn, &p->copybuf, 0);
		if (n == -1)
			return end_copy(p);
		if (n < 0) {
			int rc = pg_conn_error(p);
			pg_finish(db);
			return rc;
		}
		const unsigned char *buf = (const unsigned char *)p->copybuf;
		size_t len = (size_t)n;
		if (!p->header_seen) {
			int skip = skip_header(p, buf, len);
			if (skip < 0) {
				pg_finish(db);
				return skip;
			}
			buf += skip;
			len -= (size_t)skip;
			if (len == 0)
				continue;
		}
		int rc = decode_tuple(p, buf, len);
		if (rc < 0) {
			pg_finish(db); /* the message stays */
			return rc;
		}
		if (rc == 0)
			continue; /* the trailer; -1 comes next */
		*row = db->row;
		return 1;
	}
}

/* Sends the batch in buf to w; 0 or the writer's error. */
static int write_batch(plumb_writer *w, const char *buf, size_t *len)
{
	if (*len == 0)
		return 0;
	ssize_t n = plumb_writer_write(w, buf, *len);
	if (n >= 0 && (size_t)n != *len)
		n = PLUMB_ESHORTWRITE;
	*len = 0;
	return n < 0 ? (int)n : 0;
}

#define BATCH (64 * 1024)

static int64_t pg_copy_csv(plumb_db *db, int header, plumb_writer *w, const atomic_int *cancel,
                           _Atomic uint64_t *rows)
{
	struct pg_db *p = PG(db);
	if (p->state != PG_READY)
		return db_error(db, 0, "COPY needs a query whose rows have not been read");
	char *batch = malloc(BATCH);
	if (!batch)
		return -ENOMEM;
	int rc = start_copy(p, header ? "FORMAT csv, HEADER true" : "FORMAT csv");
	size_t len = 0;
	int64_t count = 0;
	bool skip_header = header != 0;
	while (rc == 0) {
		if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
			rc = -ECANCELED;
			break;
		}
		char *buf;
		int n = PQgetCopyData(p->conn, &buf, 0);
		if (n == -1) {
			rc = write_batch(w, batch, &len);
			int end = end_copy(p);
			if (rc == 0)
				rc = end;
			break;
		}
		if (n < 0) {
			rc = pg_conn_error(p);
			break;
		}
		/* Each CopyData message is one line (a row, or the header). */
		if (skip_header)
			skip_header = false;
		else if (rows)
			atomic_store_explicit(rows, (uint64_t)++count, memory_order_relaxed);
		else
			count++;
		if ((size_t)n > BATCH - len)
			rc = write_batch(w, batch, &len);
		if (rc == 0 && (size_t)n >= BATCH) {
			ssize_t wn = plumb_writer_write(w, buf, (size_t)n);
			rc = wn < 0 ? (int)wn : wn != n ? PLUMB_ESHORTWRITE : 0;
		} else if (rc == 0) {
			memcpy(batch + len, buf, (size_t)n);
			len += (size_t)n;
		}
		PQfreemem(buf);
	}
	free(batch);
	if (rc < 0) {
		/* A write failed, the caller cancelled or the server failed:
		 * stop the COPY there and keep the connection usable. */
		pg_finish(db);
		return rc;
	}
	return count;
}

/* ---- counting ---- */

static int pg_count(plumb_db *db, const char *table, int mode, int64_t *count)
{
	struct pg_db *p = PG(db);
	if (p->state == PG_COPYING)
		return db_error(db, 0, "cannot count while a query is running");
	char *sql;
	if (asprintf(&sql,
	             mode == PLUMB_DB_COUNT_EXACT ? "SELECT count(*) FROM %s"
	                                          : "EXPLAIN SELECT * FROM %s",
	             table) < 0)
		return -ENOMEM;
	PGresult *res = PQexec(p->conn, sql);
	free(sql);
	int rc;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
		/* No position: the SQL is ours, not the user's. */
		char *keep = p->sql;
		p->sql = NULL;
		rc = pg_result_error(p, res);
		p->sql = keep;
	} else if (mode == PLUMB_DB_COUNT_EXACT) {
		*count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		rc = 1;
	} else {
		/* "Seq Scan on t  (cost=0.00..35.50 rows=2550 width=4)" */
		const char *r = strstr(PQgetvalue(res, 0, 0), " rows=");
		*count = r ? strtoll(r + 6, NULL, 10) : -1;
		rc = 0;
	}
	PQclear(res);
	return rc;
}

/* ---- connecting ---- */

static void pg_close(plumb_db *db)
{
	struct pg_db *p = PG(db);
	pg_finish(db);
	if (p->cancel)
		PQfreeCancel(p->cancel);
	PQfinish(p->conn);
	free(p);
}

static const struct db_driver pg_driver = {
        .name = "postgresql",
        .query = pg_query,
        .next = pg_next,
        .finish = pg_finish,
        .interrupt = pg_interrupt,
        .copy_csv = pg_copy_csv,
        .count = pg_count,
        .close = pg_close,
};

static const char session_setup[] = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                                    "SET client_encoding = 'UTF8'; SET extra_float_digits = 1; "
                                    "SET default_transaction_read_only = on";

int db_pg_open(plumb_db **out, const char *conninfo, char *err, size_t errlen)
{
	int loaded = pg_load(err, errlen);
	if (loaded < 0)
		return loaded;
	struct pg_db *p = calloc(1, sizeof *p);
	if (!p) {
		db_put_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->db.drv = &pg_driver;
	/* dbname is expanded when it is a URI or holds key=value pairs; an
	 * empty one leaves everything to the PG* environment. */
	const char *keys[] = {"fallback_application_name", "dbname", NULL};
	const char *vals[] = {"plumb", conninfo, NULL};
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (!p->conn) {
		free(p);
		db_put_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	if (PQstatus(p->conn) != CONNECTION_OK) {
		rc = PLUMB_EDB;
		pg_conn_error(p);
	} else {
		PGresult *res = PQexec(p->conn, session_setup);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = pg_result_error(p, res);
		PQclear(res);
		p->cancel = PQgetCancel(p->conn);
	}
	if (rc < 0) {
		db_put_err(err, errlen, "%s", p->db.errmsg);
		pg_close(&p->db);
		return rc;
	}
	*out = &p->db;
	return 0;
}
