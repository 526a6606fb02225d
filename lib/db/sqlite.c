/*
 * sqlite.c - the SQLite driver: a read-only connection and a stepped
 * statement.
 *
 * The file is opened with SQLITE_OPEN_READONLY (never created: a missing
 * file is -ENOENT, checked before SQLite would say "unable to open") and
 * SQLITE_OPEN_URI, so "file:x.db?immutable=1" works.  SQLite opens lazily;
 * reading the schema version at once turns "file is not a database" into an
 * error of plumb_db_open instead of the first query.  The page cache is
 * kept small (SQ_CACHE_KIB says why).
 *
 * Rows come from sqlite3_step, one at a time: a value's bytes belong to the
 * statement until the next step, which is exactly plumb_db_next's promise.
 * Types are per value (INTEGER, REAL, TEXT, BLOB, NULL), as SQLite has them.
 * Errors carry sqlite3_error_offset (SQLite 3.38+), turned into a character
 * position in the SQL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "db-internal.h"

/* The page cache, in KiB (SQLite's default is 2000).  An export reads a
 * table or a query's result once, front to back: pages come from the
 * kernel's cache either way, and a bigger cache of our own would only add
 * to the resident memory (1.8 MiB of an S3 export's budget).  A query
 * that reads pages at random pays for it: a self-join of 1M rows by
 * rowid took 11% longer here; a sort of 1M rows took no longer (its
 * spills go to temporary files by the sorter's own rules). */
#define SQ_CACHE_KIB "-256"

struct sqlite_db {
	plumb_db db;
	sqlite3 *h;
	sqlite3_stmt *st;
	const char *sql; /* the current statement's text, for error positions */
	bool done;
};

#define SQ(db) PLUMB_CONTAINER_OF(db, struct sqlite_db, db)

/* db's message from SQLite's last error, with the position in sql. */
static int sq_error(struct sqlite_db *s, const char *sql, const char *what)
{
	int pos = 0;
#if SQLITE_VERSION_NUMBER >= 3038000
	int off = sqlite3_error_offset(s->h);
	if (sql && off >= 0)
		pos = db_char_pos(sql, (size_t)off);
#else
	(void)sql;
#endif
	if (what)
		return db_error(&s->db, pos, "%s: %s", what, sqlite3_errmsg(s->h));
	return db_error(&s->db, pos, "%s", sqlite3_errmsg(s->h));
}

static void sq_finish(plumb_db *db)
{
	struct sqlite_db *s = SQ(db);
	if (s->st)
		sqlite3_finalize(s->st);
	s->st = NULL;
	s->sql = NULL;
	s->done = false;
}

/* Does text hold a statement (not just spaces, comments and ';')? */
static int more_statements(struct sqlite_db *s, const char *text)
{
	while (text && *text) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		if (sqlite3_prepare_v2(s->h, text, -1, &st, &tail) != SQLITE_OK)
			return 1;
		if (st) {
			sqlite3_finalize(st);
			return 1;
		}
		if (tail == text)
			break;
		text = tail;
	}
	return 0;
}

static int sq_query(plumb_db *db, const struct db_target *t)
{
	struct sqlite_db *s = SQ(db);
	char *owned = NULL;
	const char *sql = t->sql;
	if (t->table) {
		owned = sqlite3_mprintf("SELECT * FROM %s", t->table);
		if (!owned)
			return -ENOMEM;
		sql = owned;
	}
	const char *tail = NULL;
	int rc = sqlite3_prepare_v2(s->h, sql, -1, &s->st, &tail);
	if (rc != SQLITE_OK) {
		/* A position in SQL we made up would mean nothing to the user. */
		rc = sq_error(s, t->table ? NULL : sql, NULL);
		goto out;
	}
	if (!s->st) {
		rc = db_error(db, 0, "the query is empty");
		goto out;
	}
	if (more_statements(s, tail)) {
		rc = db_error(db, db_char_pos(sql, (size_t)(tail - sql)),
		              "only one SQL statement can be exported");
		goto out;
	}
	int n = sqlite3_column_count(s->st);
	if (n == 0) {
		rc = db_error(db, 0, "the statement returns no rows (it is not a query)");
		goto out;
	}
	const char **names = calloc((size_t)n, sizeof *names);
	const char **types = calloc((size_t)n, sizeof *types);
	rc = names && types ? 0 : -ENOMEM;
	for (int i = 0; rc == 0 && i < n; i++) {
		names[i] = sqlite3_column_name(s->st, i);
		types[i] = sqlite3_column_decltype(s->st, i);
		if (!names[i])
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = db_set_columns(db, (size_t)n, names, types, NULL);
	free(names);
	free(types);
	if (rc == 0)
		s->sql = t->sql;
out:
	if (rc < 0)
		sq_finish(db);
	sqlite3_free(owned);
	return rc;
}

static int sq_next(plumb_db *db, const plumb_value **row)
{
	struct sqlite_db *s = SQ(db);
	if (!s->st || s->done)
		return 0;
	int rc = sqlite3_step(s->st);
	if (rc == SQLITE_DONE) {
		s->done = true;
		return 0;
	}
	if (rc != SQLITE_ROW)
		return sq_error(s, s->sql, NULL);
	plumb_value *v = db->row;
	for (size_t i = 0; i < db->ncols; i++) {
		/* One sqlite3_column_value, then the light sqlite3_value_*
		 * calls: the column calls each take the connection's mutex and
		 * check for errors again.  (Unprotected values are fine here: one
		 * thread uses the connection.) */
		sqlite3_value *sv = sqlite3_column_value(s->st, (int)i);
		switch (sqlite3_value_type(sv)) {
		case SQLITE_INTEGER:
			v[i].kind = PLUMB_VALUE_INT;
			v[i].i = sqlite3_value_int64(sv);
			break;
		case SQLITE_FLOAT:
			v[i].kind = PLUMB_VALUE_FLOAT;
			v[i].f = sqlite3_value_double(sv);
			break;
		case SQLITE_TEXT:
			v[i].kind = PLUMB_VALUE_TEXT;
			v[i].s = (const char *)sqlite3_value_text(sv);
			v[i].len = (size_t)sqlite3_value_bytes(sv);
			if (!v[i].s)
				return db_error(db, 0, "out of memory reading column %zu", i + 1);
			break;
		case SQLITE_BLOB:
			v[i].kind = PLUMB_VALUE_BLOB;
			v[i].s = sqlite3_value_blob(sv);
			v[i].len = (size_t)sqlite3_value_bytes(sv);
			if (!v[i].s)
				v[i].s = "";
			break;
		default:
			v[i].kind = PLUMB_VALUE_NULL;
			v[i].len = 0;
		}
	}
	*row = v;
	return 1;
}

static void sq_interrupt(plumb_db *db)
{
	sqlite3_interrupt(SQ(db)->h);
}

static int sq_count(plumb_db *db, const char *table, int mode, int64_t *count)
{
	(void)mode; /* count(*) is the only way, and a fast one */
	struct sqlite_db *s = SQ(db);
	char *sql = sqlite3_mprintf("SELECT count(*) FROM %s", table);
	if (!sql)
		return -ENOMEM;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->h, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		rc = 1;
	} else {
		rc = sq_error(s, NULL, NULL);
	}
	sqlite3_finalize(st);
	return rc;
}

static void sq_close(plumb_db *db)
{
	struct sqlite_db *s = SQ(db);
	sq_finish(db);
	sqlite3_close_v2(s->h);
	free(s);
}

static const struct db_driver sqlite_driver = {
        .name = "sqlite",
        .query = sq_query,
        .next = sq_next,
        .finish = sq_finish,
        .interrupt = sq_interrupt,
        .copy_csv = NULL,
        .count = sq_count,
        .close = sq_close,
};

int db_sqlite_open(plumb_db **out, const char *path, bool uri, char *err, size_t errlen)
{
	if (!uri) {
		struct stat st;
		if (stat(path, &st) < 0) {
			int e = errno;
			db_put_err(err, errlen, "%s: %s", path, strerror(e));
			return -e;
		}
		if (S_ISDIR(st.st_mode)) {
			db_put_err(err, errlen, "%s: is a directory, not a SQLite database", path);
			return -EISDIR;
		}
	}
	struct sqlite_db *s = calloc(1, sizeof *s);
	if (!s) {
		db_put_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->db.drv = &sqlite_driver;
	int rc = sqlite3_open_v2(
	        path, &s->h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	/* Before the first page is read: SQLite sets aside the whole cache
	 * in one allocation when it reads the first page. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->h, "PRAGMA cache_size = " SQ_CACHE_KIB "; PRAGMA schema_version",
		                  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		db_put_err(err, errlen, "%s: %s", path,
		           s->h ? sqlite3_errmsg(s->h) : sqlite3_errstr(rc));
		sqlite3_close_v2(s->h);
		free(s);
		return rc == SQLITE_NOMEM ? -ENOMEM : PLUMB_EDB;
	}
	*out = &s->db;
	return 0;
}
