/*
 * db.c - plumb_db: which driver a source names, and the calls every driver
 * shares (errors, columns, table names, the per-row arena).
 *
 * A source is a SQLite file unless it starts with a scheme: "sqlite:" and
 * "file:" are SQLite too; "postgres:" and "postgresql:" are PostgreSQL, with
 * a URI ("postgres://..."), a keyword/value string ("postgres:host=x
 * dbname=y") or nothing (libpq's PG* environment) after the colon.  Any other
 * scheme is refused by name, because a typo like "postgress://" should not
 * end as "no such file" -- unless a file of that very name exists.
 *
 * Table names (--table) are quoted here for both databases, which quote
 * identifiers the same way: in double quotes, a quote inside doubled.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "db-internal.h"

void db_put_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int db_error(plumb_db *db, int pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
	va_end(ap);
	/* Messages end without a newline (libpq's do end with one). */
	size_t len = n < 0 ? 0 : (size_t)n < sizeof db->errmsg ? (size_t)n : sizeof db->errmsg - 1;
	while (len > 0 && isspace((unsigned char)db->errmsg[len - 1]))
		db->errmsg[--len] = '\0';
	db->errpos = pos > 0 ? pos : 0;
	if (db->errpos)
		snprintf(db->errmsg + len, sizeof db->errmsg - len, " at character %d", pos);
	return PLUMB_EDB;
}

void db_clear_error(plumb_db *db)
{
	db->errmsg[0] = '\0';
	db->errpos = 0;
}

int db_char_pos(const char *sql, size_t off)
{
	int pos = 1;
	for (size_t i = 0; i < off && sql[i]; i++)
		if (((unsigned char)sql[i] & 0xc0) != 0x80)
			pos++;
	return pos;
}

void db_clear_columns(plumb_db *db)
{
	free(db->cols);
	free(db->colmem);
	free(db->row);
	db->cols = NULL;
	db->colmem = NULL;
	db->row = NULL;
	db->ncols = 0;
}

int db_set_columns(plumb_db *db, size_t n, const char *const *names, const char *const *types,
                   const uint32_t *oids)
{
	db_clear_columns(db);
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += strlen(names[i] ? names[i] : "") + strlen(types[i] ? types[i] : "") + 2;
	db->cols = calloc(n ? n : 1, sizeof *db->cols);
	db->row = calloc(n ? n : 1, sizeof *db->row);
	db->colmem = malloc(bytes ? bytes : 1);
	if (!db->cols || !db->row || !db->colmem) {
		db_clear_columns(db);
		return -ENOMEM;
	}
	char *p = db->colmem;
	for (size_t i = 0; i < n; i++) {
		const char *s[2] = {names[i] ? names[i] : "", types[i] ? types[i] : ""};
		const char **dst[2] = {&db->cols[i].name, &db->cols[i].type};
		for (int j = 0; j < 2; j++) {
			size_t len = strlen(s[j]) + 1;
			memcpy(p, s[j], len);
			*dst[j] = p;
			p += len;
		}
		db->cols[i].type_oid = oids ? oids[i] : 0;
	}
	db->ncols = n;
	return 0;
}

/* ---- the arena ---- */

#define ARENA_BLOCK 16384

void *db_arena_alloc(struct db_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_block *b = a->head;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

void db_arena_reset(struct db_arena *a)
{
	/* Keep the oldest block (the last in the list) if it is an ordinary
	 * one; the rest were for a bigger row than usual. */
	struct arena_block *b = a->head, *keep = NULL;
	while (b) {
		struct arena_block *next = b->next;
		if (!next && b->cap == ARENA_BLOCK) {
			keep = b;
			keep->used = 0;
		} else {
			free(b);
		}
		b = next;
	}
	a->head = keep;
}

void db_arena_free(struct db_arena *a)
{
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}

/* ---- sources ---- */

/* The length of a scheme ("postgres") before a ':' at the start of s, or 0
 * when s does not start with one (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" /
 * "-" / "." )). */
static size_t scheme_len(const char *s)
{
	if (!isalpha((unsigned char)s[0]))
		return 0;
	size_t i = 1;
	while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
		i++;
	return s[i] == ':' ? i : 0;
}

static bool is_scheme(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

int plumb_db_open(plumb_db **out, const char *source, char *err, size_t errlen)
{
	*out = NULL;
	db_put_err(err, errlen, "%s", "");
	if (!source || !*source) {
		db_put_err(err, errlen, "no database given");
		return -EINVAL;
	}
	size_t n = scheme_len(source);
	if (n == 0)
		return db_sqlite_open(out, source, false, err, errlen);
	const char *rest = source + n + 1;
	if (is_scheme(source, n, "postgres") || is_scheme(source, n, "postgresql"))
		return db_pg_open(out, strncmp(rest, "//", 2) == 0 ? source : rest, err, errlen);
	if (is_scheme(source, n, "sqlite") || is_scheme(source, n, "sqlite3")) {
		if (!*rest) {
			db_put_err(err, errlen, "no SQLite file after '%.*s:'", (int)n, source);
			return -EINVAL;
		}
		return db_sqlite_open(out, rest, strncmp(rest, "file:", 5) == 0, err, errlen);
	}
	if (is_scheme(source, n, "file"))
		return db_sqlite_open(out, source, true, err, errlen);
	struct stat st;
	if (stat(source, &st) == 0)
		return db_sqlite_open(out, source, false, err, errlen);
	db_put_err(err, errlen,
	           "unknown database scheme '%.*s' in '%s' (known: a SQLite file, sqlite:FILE, "
	           "postgres://..., postgresql://..., postgres:)",
	           (int)n, source, source);
	return -EINVAL;
}

void plumb_db_close(plumb_db *db)
{
	if (!db)
		return;
	db->drv->finish(db);
	db_clear_columns(db);
	db_arena_free(&db->arena);
	db->drv->close(db);
}

const char *plumb_db_driver(const plumb_db *db)
{
	return db->drv->name;
}

const char *plumb_db_errmsg(const plumb_db *db)
{
	return db->errmsg;
}

int plumb_db_errpos(const plumb_db *db)
{
	return db->errpos;
}

/*
 * quote_table - table (NAME or SCHEMA.NAME, parts optionally in double
 * quotes) as "NAME" or "SCHEMA"."NAME", in a new string.  0, -EINVAL (with
 * the message in db) or -ENOMEM.
 */
static int quote_table(plumb_db *db, const char *table, char **out)
{
	*out = NULL;
	size_t n = strlen(table);
	char *q = malloc(2 * n + 8);
	if (!q)
		return -ENOMEM;
	char *p = q;
	const char *s = table;
	for (int part = 0;; part++) {
		*p++ = '"';
		if (*s == '"') {
			/* A quoted part: up to the lone closing quote. */
			for (s++;; s++) {
				if (!*s) {
					free(q);
					db_error(db, 0, "table name %s: unterminated quote", table);
					return -EINVAL;
				}
				if (*s == '"' && s[1] != '"')
					break;
				if (*s == '"')
					*p++ = *s++;
				*p++ = *s;
			}
			s++;
			if (*s && *s != '.') {
				free(q);
				db_error(db, 0, "table name %s: text after a closing quote", table);
				return -EINVAL;
			}
		} else {
			/* A bare part: taken literally up to a dot (once). */
			const char *start = s;
			while (*s && !(*s == '.' && part == 0))
				s++;
			if (s == start) {
				free(q);
				db_error(db, 0, "empty table name%s%s", *table ? " in " : "",
				         table);
				return -EINVAL;
			}
			for (const char *c = start; c < s; c++) {
				if (*c == '"')
					*p++ = '"';
				*p++ = *c;
			}
		}
		*p++ = '"';
		if (*s == '.' && part == 0) {
			*p++ = '.';
			s++;
			continue;
		}
		if (*s) {
			free(q);
			db_error(db, 0, "table name %s: more than SCHEMA.NAME", table);
			return -EINVAL;
		}
		break;
	}
	*p = '\0';
	*out = q;
	return 0;
}

static void end_query(plumb_db *db)
{
	db->drv->finish(db);
	db_clear_columns(db);
	db_arena_reset(&db->arena);
	db_clear_error(db);
}

int plumb_db_query(plumb_db *db, const char *sql)
{
	end_query(db);
	struct db_target t = {.sql = sql};
	return db->drv->query(db, &t);
}

int plumb_db_query_table(plumb_db *db, const char *table)
{
	end_query(db);
	char *quoted;
	int rc = quote_table(db, table, &quoted);
	if (rc < 0)
		return rc;
	struct db_target t = {.table = quoted};
	rc = db->drv->query(db, &t);
	free(quoted);
	return rc;
}

size_t plumb_db_columns(const plumb_db *db)
{
	return db->ncols;
}

const plumb_db_column *plumb_db_column_at(const plumb_db *db, size_t i)
{
	return i < db->ncols ? &db->cols[i] : NULL;
}

int plumb_db_next(plumb_db *db, const plumb_value **row)
{
	*row = NULL;
	if (!db->cols) {
		db_error(db, 0, "no query is running");
		return -EINVAL;
	}
	return db->drv->next(db, row);
}

void plumb_db_finish(plumb_db *db)
{
	db->drv->finish(db);
}

void plumb_db_interrupt(plumb_db *db)
{
	db->drv->interrupt(db);
}

int64_t plumb_db_copy_csv(plumb_db *db, int header, plumb_writer *w, const atomic_int *cancel,
                          _Atomic uint64_t *rows)
{
	if (!db->drv->copy_csv) {
		db_error(db, 0, "%s cannot COPY: encode its rows instead", db->drv->name);
		return -ENOTSUP;
	}
	if (!db->cols) {
		db_error(db, 0, "no query is running");
		return -EINVAL;
	}
	return db->drv->copy_csv(db, header, w, cancel, rows);
}

int plumb_db_count(plumb_db *db, const char *table, int mode, int64_t *count)
{
	*count = -1;
	db_clear_error(db);
	char *quoted;
	int rc = quote_table(db, table, &quoted);
	if (rc < 0)
		return rc;
	rc = db->drv->count(db, quoted, mode, count);
	free(quoted);
	return rc;
}
