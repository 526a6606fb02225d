/*
 * db-internal.h - what the database drivers share: the object every driver
 * embeds, the driver table db.c dispatches through, the error message
 * helpers, and a per-row arena for text the drivers produce.
 */
#ifndef PLUMB_DB_INTERNAL_H
#define PLUMB_DB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include <plumb/db.h>

#define PLUMB_HIDDEN __attribute__((visibility("hidden")))

/* The longest error message kept (longer ones are cut). */
#define DB_ERRMSG_MAX 2048

/*
 * An arena: memory for what one row needs beyond the database's own buffers
 * (a timestamp's text, an array's elements).  Allocations do not move;
 * db_arena_reset gives everything back at once before the next row and keeps
 * one block for reuse, so memory follows the biggest row, not the result.
 */
struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	_Alignas(max_align_t) unsigned char data[];
};

struct db_arena {
	struct arena_block *head;
};

void *db_arena_alloc(struct db_arena *a, size_t n) PLUMB_HIDDEN;
void db_arena_reset(struct db_arena *a) PLUMB_HIDDEN;
void db_arena_free(struct db_arena *a) PLUMB_HIDDEN;

/* A query's target: exactly one of sql (the user's text) and table (the
 * quoted, possibly schema-qualified name) is set. */
struct db_target {
	const char *sql;
	const char *table;
};

/* One driver: what plumb_db's calls do for it. */
struct db_driver {
	const char *name;
	int (*query)(plumb_db *db, const struct db_target *t);
	int (*next)(plumb_db *db, const plumb_value **row);
	void (*finish)(plumb_db *db);
	void (*interrupt)(plumb_db *db);
	int64_t (*copy_csv)(plumb_db *db, int header, plumb_writer *w, const atomic_int *cancel,
	                    _Atomic uint64_t *rows);
	int (*count)(plumb_db *db, const char *table, int mode, int64_t *count);
	void (*close)(plumb_db *db);
};

struct plumb_db {
	const struct db_driver *drv;
	char errmsg[DB_ERRMSG_MAX];
	int errpos;
	/* The current query's columns; names and types point into colmem. */
	plumb_db_column *cols;
	size_t ncols;
	char *colmem;
	plumb_value *row; /* ncols values, refilled by each next */
	struct db_arena arena;
};

/* Sets db's message (printf style) and position (0: none; otherwise
 * " at character N" is appended).  Returns PLUMB_EDB. */
int db_error(plumb_db *db, int pos, const char *fmt, ...) PLUMB_HIDDEN
        __attribute__((format(printf, 3, 4)));
void db_clear_error(plumb_db *db) PLUMB_HIDDEN;

/* The 1-based character position of byte offset off in sql (UTF-8). */
int db_char_pos(const char *sql, size_t off) PLUMB_HIDDEN;

/* Sets the columns from n names and types (copied).  0 or -ENOMEM. */
int db_set_columns(plumb_db *db, size_t n, const char *const *names, const char *const *types,
                   const uint32_t *oids) PLUMB_HIDDEN;
void db_clear_columns(plumb_db *db) PLUMB_HIDDEN;

/* Writes a message into a caller's buffer (plumb_db_open's err). */
void db_put_err(char *err, size_t errlen, const char *fmt, ...) PLUMB_HIDDEN
        __attribute__((format(printf, 3, 4)));

/* The drivers' openers: 0 and *out, or an error with the message in err. */
int db_sqlite_open(plumb_db **out, const char *path, bool uri, char *err,
                   size_t errlen) PLUMB_HIDDEN;
int db_pg_open(plumb_db **out, const char *conninfo, char *err, size_t errlen) PLUMB_HIDDEN;

#endif
