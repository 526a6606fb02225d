/*
 * test_db.c - unit tests of the database sources (plumb/db.h) and of
 * plumb_db_export, against real SQLite files and a real PostgreSQL.
 *
 * SQLite: files made in a temporary directory by the tests themselves --
 * missing files (never created), files that are not databases, SQL errors
 * with their position, every storage class, 100,000 rows streamed with the
 * heap staying flat, table names that need quoting, counting, interrupting,
 * and the export loop stopping on a failed write, a closed pipe or a cancel.
 *
 * PostgreSQL: the server of tests/services/postgres.sh with pg-fixtures.sql
 * loaded.  When PLUMB_TEST_PG_URI is set (scripts/check.sh starts one server
 * for the whole run) that server is used, and the fixtures are loaded if
 * they are missing; otherwise this program starts its own and stops it at
 * the end; if it cannot, the PostgreSQL tests are skipped with the reason.
 * Every fixture table is exported to NDJSON and compared byte for byte with
 * the output written down below (each value was checked against what the
 * type means, not only against what the code printed); people, the 10,000
 * row table, is compared with lines rebuilt here from the rules that made
 * it; dates, times, intervals, numerics, floats and network types of many
 * generated values are compared with PostgreSQL's own text for them; COPY
 * CSV is compared byte for byte with `psql \copy ... csv`.  Then the errors:
 * SQL with positions, bad URIs, refused connections, unknown databases,
 * read-only sessions, failures in the middle of a COPY; and the connection
 * staying usable after a failed write, a cancel or an interrupt.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#if defined(__SANITIZE_ADDRESS__)
/* ASan's allocator (its header is not always installed). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include <plumb/db.h>
#include <plumb/encode.h>
#include <plumb/io.h>

/* ---- fixture state ---- */

static char tmpdir[256];     /* SQLite files */
static char pg_uri[512];     /* "" when PostgreSQL is not there */
static char pg_dir[256];     /* the server this program started, or "" */
static char pg_skip[1024];   /* why the PostgreSQL tests skip */
static char weird_table[64]; /* a PostgreSQL table this program made */

#define SKIP_WITHOUT_PG()                                                                          \
	do {                                                                                       \
		if (!pg_uri[0]) {                                                                  \
			printf("# SKIP PostgreSQL tests: %s\n", pg_skip);                          \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static char *path_in_tmp(const char *name)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	return path;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Runs SQL on a SQLite file (created if need be), for setting up. */
static void sqlite_exec(const char *file, const char *sql)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(file, &h), SQLITE_OK);
	char *err = NULL;
	int rc = sqlite3_exec(h, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("sqlite3_exec: %s", err);
	sqlite3_close(h);
}

static plumb_db *open_ok(const char *source)
{
	plumb_db *db = NULL;
	char err[512];
	int rc = plumb_db_open(&db, source, err, sizeof err);
	if (rc != 0)
		fail_msg("plumb_db_open(%s): %d %s", source, rc, err);
	assert_non_null(db);
	return db;
}

/* The output of the current query through format, as a new string. */
static char *export_current(plumb_db *db, const char *format, const plumb_encode_options *opt,
                            size_t *outlen)
{
	plumb_buffer b;
	plumb_buffer_init(&b);
	plumb_encoder *enc;
	assert_int_equal(plumb_encoder_new(&enc, format, opt, &b.writer), 0);
	_Atomic uint64_t rows = 0;
	int64_t n = plumb_db_export(db, enc, NULL, &rows);
	if (n < 0)
		fail_msg("plumb_db_export: %lld %s: %s", (long long)n, plumb_strerror((int)n),
		         plumb_db_errmsg(db));
	assert_int_equal((uint64_t)n, atomic_load(&rows));
	plumb_encoder_free(enc);
	size_t len = plumb_buffer_len(&b);
	char *s = malloc(len + 1);
	assert_non_null(s);
	memcpy(s, plumb_buffer_bytes(&b), len);
	s[len] = '\0';
	plumb_buffer_release(&b);
	if (outlen)
		*outlen = len;
	return s;
}

static char *export_sql(plumb_db *db, const char *sql, const char *format,
                        const plumb_encode_options *opt)
{
	int rc = plumb_db_query(db, sql);
	if (rc != 0)
		fail_msg("plumb_db_query(%s): %d %s", sql, rc, plumb_db_errmsg(db));
	return export_current(db, format, opt, NULL);
}

/* The current query's output must be want[0..wantlen) exactly. */
static void expect_export_n(plumb_db *db, const char *sql, const char *format,
                            const plumb_encode_options *opt, const char *want, size_t wantlen)
{
	int rc = plumb_db_query(db, sql);
	if (rc != 0)
		fail_msg("plumb_db_query(%s): %d %s", sql, rc, plumb_db_errmsg(db));
	size_t len;
	char *got = export_current(db, format, opt, &len);
	if (len != wantlen || memcmp(got, want, len) != 0) {
		/* Point at the first difference: the outputs can be long. */
		size_t i = 0;
		while (i < len && i < wantlen && got[i] == want[i])
			i++;
		size_t from = i > 40 ? i - 40 : 0;
		fail_msg("%s: %zu bytes, want %zu; they differ at byte %zu:\n got: %.100s\nwant: "
		         "%.100s",
		         sql, len, wantlen, i, got + from, want + from);
	}
	free(got);
}

/* want is a string literal or array, which may hold NULs. */
#define EXPECT_EXPORT(db, sql, format, opt, want)                                                  \
	expect_export_n((db), (sql), (format), (opt), (want), sizeof(want) - 1)

/* A writer that counts, fails after fail_after calls, or keeps nothing. */
struct probe_writer {
	plumb_writer w;
	size_t calls, bytes, fail_after;
	int err;
};

static ssize_t probe_write(plumb_writer *w, const void *buf, size_t len)
{
	(void)buf;
	struct probe_writer *p = PLUMB_CONTAINER_OF(w, struct probe_writer, w);
	if (p->calls++ >= p->fail_after)
		return p->err ? p->err : -EPIPE;
	p->bytes += len;
	return (ssize_t)len;
}

static const plumb_writer_ops probe_ops = {.write = probe_write};

/* Bytes the heap holds now (ASan's allocator when it is the one). */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

/* ---- SQLite ---- */

static void test_sqlite_missing_file(void **state)
{
	(void)state;
	const char *sources[] = {"missing.db", "sqlite:missing.db", "sqlite3:missing.db"};
	for (int i = 0; i < 3; i++) {
		char source[600];
		const char *prefix = i == 0 ? "" : i == 1 ? "sqlite:" : "sqlite3:";
		snprintf(source, sizeof source, "%s%s", prefix, path_in_tmp("missing.db"));
		(void)sources;
		plumb_db *db = (plumb_db *)1;
		char err[512];
		assert_int_equal(plumb_db_open(&db, source, err, sizeof err), -ENOENT);
		assert_null(db);
		assert_non_null(strstr(err, "missing.db"));
		assert_non_null(strstr(err, "No such file or directory"));
		assert_false(exists(path_in_tmp("missing.db")));
	}
	/* Through a SQLite URI the check is SQLite's, read-only: no file either. */
	char uri[600];
	snprintf(uri, sizeof uri, "file:%s", path_in_tmp("missing.db"));
	plumb_db *db;
	char err[512];
	assert_int_equal(plumb_db_open(&db, uri, err, sizeof err), PLUMB_EDB);
	assert_non_null(strstr(err, "unable to open database file"));
	assert_false(exists(path_in_tmp("missing.db")));
	/* A directory is not a database. */
	assert_int_equal(plumb_db_open(&db, tmpdir, err, sizeof err), -EISDIR);
	assert_non_null(strstr(err, "is a directory"));
	/* err may be NULL. */
	assert_int_equal(plumb_db_open(&db, path_in_tmp("missing.db"), NULL, 0), -ENOENT);
}

static void test_sqlite_not_a_database(void **state)
{
	(void)state;
	const char *path = path_in_tmp("notes.txt");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 100; i++)
		fprintf(f, "this is a text file, line %d\n", i);
	fclose(f);
	plumb_db *db = (plumb_db *)1;
	char err[512];
	assert_int_equal(plumb_db_open(&db, path, err, sizeof err), PLUMB_EDB);
	assert_null(db);
	assert_non_null(strstr(err, "notes.txt"));
	assert_non_null(strstr(err, "file is not a database"));
	/* An empty file is an empty database to SQLite: it opens. */
	const char *empty = path_in_tmp("empty.db");
	f = fopen(empty, "w");
	assert_non_null(f);
	fclose(f);
	db = open_ok(empty);
	assert_string_equal(plumb_db_driver(db), "sqlite");
	assert_int_equal(plumb_db_query(db, "SELECT * FROM t"), PLUMB_EDB);
	assert_non_null(strstr(plumb_db_errmsg(db), "no such table: t"));
	plumb_db_close(db);
}

static void test_sources_and_schemes(void **state)
{
	(void)state;
	plumb_db *db;
	char err[512];
	assert_int_equal(plumb_db_open(&db, "mysql://localhost/db", err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "unknown database scheme 'mysql'"));
	assert_int_equal(plumb_db_open(&db, "postgress://localhost/db", err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "'postgress'"));
	assert_int_equal(plumb_db_open(&db, "", err, sizeof err), -EINVAL);
	assert_int_equal(plumb_db_open(&db, "sqlite:", err, sizeof err), -EINVAL);
	/* A file whose name looks like a scheme is still a file. */
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(tmpdir), 0);
	sqlite_exec("odd:name.db",
	            "CREATE TABLE IF NOT EXISTS t(a); DELETE FROM t; INSERT INTO t VALUES (1)");
	db = open_ok("odd:name.db");
	char *got = export_sql(db, "SELECT a FROM t", "ndjson", NULL);
	assert_string_equal(got, "{\"a\":1}\n");
	free(got);
	plumb_db_close(db);
	assert_int_equal(chdir(cwd), 0);
	/* SQLite URIs, bare and behind sqlite:. */
	char uri[700];
	snprintf(uri, sizeof uri, "file:%s/odd:name.db?mode=ro", tmpdir);
	db = open_ok(uri);
	plumb_db_close(db);
	snprintf(uri, sizeof uri, "sqlite:file:%s/odd:name.db?immutable=1", tmpdir);
	db = open_ok(uri);
	got = export_sql(db, "SELECT a + 1 AS b FROM t", "ndjson", NULL);
	assert_string_equal(got, "{\"b\":2}\n");
	free(got);
	plumb_db_close(db);
	plumb_db_close(NULL);
}

static const char *types_db(void)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/types.db", tmpdir);
	if (!exists(path))
		sqlite_exec(path,
		            "CREATE TABLE types(id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, "
		            "b BLOB, v);"
		            "INSERT INTO types VALUES"
		            " (1, 42, 1.5, 'text', x'00ff10', NULL),"
		            " (2, -9223372036854775808, -0.0, '', x'', 9223372036854775807),"
		            " (3, NULL, 9e999, 'é\"\\', NULL, 'mixed'),"
		            " (4, 0, 0.1, CAST(x'ff61' AS TEXT), zeroblob(3), 2.5),"
		            " (5, '12', '3.25', 12, 'blobtext', x'41'),"
		            " (6, NULL, -9e999, 'a' || char(0) || 'b', NULL, -0.0);");
	return path;
}

static void test_sqlite_every_type(void **state)
{
	(void)state;
	plumb_db *db = open_ok(types_db());
	assert_int_equal(plumb_db_query(db, "SELECT * FROM types ORDER BY id"), 0);
	assert_int_equal(plumb_db_columns(db), 6);
	static const char *const names[] = {"id", "i", "r", "t", "b", "v"};
	static const char *const decl[] = {"INTEGER", "INTEGER", "REAL", "TEXT", "BLOB", ""};
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(plumb_db_column_at(db, i)->name, names[i]);
		assert_string_equal(plumb_db_column_at(db, i)->type, decl[i]);
		assert_int_equal(plumb_db_column_at(db, i)->type_oid, 0);
	}
	assert_null(plumb_db_column_at(db, 6));
	/* The values as SQLite holds them: a type per value. */
	const plumb_value *row;
	assert_int_equal(plumb_db_next(db, &row), 1);
	assert_int_equal(row[1].kind, PLUMB_VALUE_INT);
	assert_int_equal(row[1].i, 42);
	assert_int_equal(row[2].kind, PLUMB_VALUE_FLOAT);
	assert_true(row[2].f == 1.5);
	assert_int_equal(row[3].kind, PLUMB_VALUE_TEXT);
	assert_int_equal(row[3].len, 4);
	assert_memory_equal(row[3].s, "text", 4);
	assert_int_equal(row[4].kind, PLUMB_VALUE_BLOB);
	assert_int_equal(row[4].len, 3);
	assert_memory_equal(row[4].s, "\x00\xff\x10", 3);
	assert_int_equal(row[5].kind, PLUMB_VALUE_NULL);
	assert_int_equal(plumb_db_next(db, &row), 1);
	assert_int_equal(row[1].i, INT64_MIN);
	assert_int_equal(row[4].kind, PLUMB_VALUE_BLOB);
	assert_int_equal(row[4].len, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(plumb_db_next(db, &row), 1);
	/* Row 5: '12' in an INTEGER column became 12, 12 in TEXT became '12',
	 * text in a BLOB column stays text (BLOB affinity converts nothing). */
	assert_int_equal(row[1].kind, PLUMB_VALUE_INT);
	assert_int_equal(row[3].kind, PLUMB_VALUE_TEXT);
	assert_int_equal(row[4].kind, PLUMB_VALUE_TEXT);
	assert_int_equal(row[5].kind, PLUMB_VALUE_BLOB);
	assert_int_equal(plumb_db_next(db, &row), 1);
	assert_int_equal(row[3].len, 3); /* a NUL inside text is kept */
	assert_int_equal(plumb_db_next(db, &row), 0);
	assert_int_equal(plumb_db_next(db, &row), 0);
	/* Through the encoders.  REAL -0.0 is stored as the integer 0 in a
	 * REAL column and comes back as 0.0; in the untyped column it stays
	 * -0.0.  9e999 is infinity.  x'ff61' as text is broken UTF-8. */
	EXPECT_EXPORT(
	        db, "SELECT * FROM types ORDER BY id", "ndjson", NULL,
	        "{\"id\":1,\"i\":42,\"r\":1.5,\"t\":\"text\",\"b\":\"AP8Q\",\"v\":null}\n"
	        "{\"id\":2,\"i\":-9223372036854775808,\"r\":0,\"t\":\"\",\"b\":\"\","
	        "\"v\":9223372036854775807}\n"
	        "{\"id\":3,\"i\":null,\"r\":null,\"t\":\"\303\251\\\"\\\\\",\"b\":null,"
	        "\"v\":\"mixed\"}\n"
	        "{\"id\":4,\"i\":0,\"r\":0.1,\"t\":\"\357\277\275a\",\"b\":\"AAAA\",\"v\":2.5}\n"
	        "{\"id\":5,\"i\":12,\"r\":3.25,\"t\":\"12\",\"b\":\"blobtext\",\"v\":\"QQ==\"}\n"
	        "{\"id\":6,\"i\":null,\"r\":null,\"t\":\"a\\u0000b\",\"b\":null,\"v\":-0}\n");
	EXPECT_EXPORT(db, "SELECT * FROM types ORDER BY id", "csv", NULL,
	              "id,i,r,t,b,v\n"
	              "1,42,1.5,text,AP8Q,\n"
	              "2,-9223372036854775808,0,\"\",\"\",9223372036854775807\n"
	              "3,,Infinity,\"\303\251\"\"\\\",,mixed\n"
	              "4,0,0.1,\377a,AAAA,2.5\n"
	              "5,12,3.25,12,blobtext,QQ==\n"
	              "6,,-Infinity,a\0b,,-0\n");
	EXPECT_EXPORT(db, "SELECT id, t FROM types WHERE id < 3 ORDER BY id;", "json", NULL,
	              "[{\"id\":1,\"t\":\"text\"},\n{\"id\":2,\"t\":\"\"}]\n");
	EXPECT_EXPORT(db, "SELECT id FROM types WHERE id > 100 -- none", "json", NULL, "[]\n");
	plumb_db_close(db);
}

static void test_sqlite_sql_errors(void **state)
{
	(void)state;
	plumb_db *db = open_ok(types_db());
	assert_int_equal(plumb_db_query(db, "SELECT * FORM types"), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "near \"FORM\": syntax error at character 10");
	assert_int_equal(plumb_db_errpos(db), 10);
	/* Positions count characters, not bytes: é is two bytes, one character. */
	assert_int_equal(plumb_db_query(db, "SELECT 'é', * FORM types"), PLUMB_EDB);
	assert_int_equal(plumb_db_errpos(db), 15);
	assert_non_null(strstr(plumb_db_errmsg(db), "at character 15"));
	assert_int_equal(plumb_db_query(db, "SELECT nope FROM types"), PLUMB_EDB);
	assert_non_null(strstr(plumb_db_errmsg(db), "no such column: nope"));
	assert_int_equal(plumb_db_query(db, "SELECT 1; SELECT 2"), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db),
	                    "only one SQL statement can be exported at character 10");
	assert_int_equal(plumb_db_query(db, "   -- nothing\n"), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "the query is empty");
	assert_int_equal(plumb_db_errpos(db), 0);
	assert_int_equal(plumb_db_query(db, "CREATE TABLE x(a)"), PLUMB_EDB);
	assert_non_null(strstr(plumb_db_errmsg(db), "returns no rows"));
	/* The file is open read-only: a write fails when it runs. */
	assert_int_equal(plumb_db_query(db, "INSERT INTO types(id) VALUES (99) RETURNING id"), 0);
	const plumb_value *row;
	assert_int_equal(plumb_db_next(db, &row), PLUMB_EDB);
	assert_non_null(strstr(plumb_db_errmsg(db), "readonly database"));
	/* A good query afterwards works and clears the message. */
	assert_int_equal(plumb_db_query(db, "SELECT 1 AS one; -- trailing ; and comment"), 0);
	assert_string_equal(plumb_db_errmsg(db), "");
	assert_int_equal(plumb_db_next(db, &row), 1);
	assert_int_equal(row[0].i, 1);
	/* Misuse. */
	assert_int_equal(plumb_db_copy_csv(db, 1, plumb_discard(), NULL, NULL), -ENOTSUP);
	plumb_db_finish(db);
	plumb_db_finish(db);
	assert_int_equal(plumb_db_query(db, "SELECT 1"), 0);
	plumb_db_close(db);
	db = open_ok(types_db());
	assert_int_equal(plumb_db_next(db, &row), -EINVAL); /* no query */
	plumb_db_close(db);
}

static const char *big_db(void)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/big.db", tmpdir);
	if (!exists(path))
		sqlite_exec(path, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, pad TEXT);"
		                  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
		                  "WHERE i < 100000) "
		                  "INSERT INTO t SELECT i, 'name ' || i || CASE WHEN i % 7 = 0 "
		                  "THEN ', \"quoted\"' ELSE '' END, hex(randomblob(150)) FROM c;");
	return path;
}

static void test_sqlite_streams_in_bounded_memory(void **state)
{
	(void)state;
	plumb_db *db = open_ok(big_db());
	assert_int_equal(plumb_db_query(db, "SELECT * FROM t ORDER BY id"), 0);
	/* 100,000 rows of ~320 bytes (some 32 MB of values): the heap must not
	 * grow with them.  SQLite's page cache (2 MB by default) is the most
	 * that may come and stay. */
	size_t base = heap_in_use(), peak = base;
	const plumb_value *row;
	int64_t n = 0;
	int rc;
	while ((rc = plumb_db_next(db, &row)) == 1) {
		n++;
		assert_int_equal(row[0].i, n);
		assert_int_equal(row[2].len, 300);
		if (n % 1000 == 0) {
			size_t now = heap_in_use();
			if (now > peak)
				peak = now;
		}
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 100000);
	if (peak > base + (6 << 20))
		fail_msg("the heap grew by %zu bytes while streaming", peak - base);
	/* And through an encoder, into a writer that keeps nothing. */
	assert_int_equal(plumb_db_query(db, "SELECT * FROM t"), 0);
	struct probe_writer p = {.w = {&probe_ops}, .fail_after = SIZE_MAX};
	plumb_encoder *enc;
	assert_int_equal(plumb_encoder_new(&enc, "ndjson", NULL, &p.w), 0);
	_Atomic uint64_t rows = 0;
	base = heap_in_use();
	assert_int_equal(plumb_db_export(db, enc, NULL, &rows), 100000);
	assert_true(heap_in_use() < base + (6 << 20));
	assert_int_equal(atomic_load(&rows), 100000);
	assert_true(p.bytes > 100000 * 300);
	plumb_encoder_free(enc);
	int64_t count;
	assert_int_equal(plumb_db_count(db, "t", PLUMB_DB_COUNT_CHEAP, &count), 1);
	assert_int_equal(count, 100000);
	assert_int_equal(plumb_db_count(db, "main.t", PLUMB_DB_COUNT_EXACT, &count), 1);
	assert_int_equal(count, 100000);
	assert_int_equal(plumb_db_count(db, "nope", PLUMB_DB_COUNT_EXACT, &count), PLUMB_EDB);
	assert_int_equal(count, -1);
	assert_non_null(strstr(plumb_db_errmsg(db), "no such table: nope"));
	plumb_db_close(db);
}

static void test_sqlite_table_names(void **state)
{
	(void)state;
	const char *path = path_in_tmp("names.db");
	sqlite_exec(path,
	            "CREATE TABLE \"we\"\"ird\"(a); INSERT INTO \"we\"\"ird\" VALUES ('weird');"
	            "CREATE TABLE \"a.b\"(a); INSERT INTO \"a.b\" VALUES ('dotted');"
	            "CREATE TABLE \"select\"(a); INSERT INTO \"select\" VALUES ('reserved');"
	            "CREATE TABLE \"Mixed Case\"(a); INSERT INTO \"Mixed Case\" VALUES ('mixed');"
	            "CREATE TABLE \"\"\"q\"(a); INSERT INTO \"\"\"q\" VALUES ('leading quote');");
	plumb_db *db = open_ok(path);
	static const struct {
		const char *name, *want;
	} ok[] = {
	        {"we\"ird", "{\"a\":\"weird\"}\n"},
	        {"\"we\"\"ird\"", "{\"a\":\"weird\"}\n"},
	        {"main.we\"ird", "{\"a\":\"weird\"}\n"},
	        {"\"main\".\"we\"\"ird\"", "{\"a\":\"weird\"}\n"},
	        {"\"a.b\"", "{\"a\":\"dotted\"}\n"},
	        {"main.a.b", "{\"a\":\"dotted\"}\n"},
	        {"select", "{\"a\":\"reserved\"}\n"},
	        {"Mixed Case", "{\"a\":\"mixed\"}\n"},
	        {"\"\"\"q\"", "{\"a\":\"leading quote\"}\n"},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int rc = plumb_db_query_table(db, ok[i].name);
		if (rc != 0)
			fail_msg("table %s: %d %s", ok[i].name, rc, plumb_db_errmsg(db));
		char *got = export_current(db, "ndjson", NULL, NULL);
		assert_string_equal(got, ok[i].want);
		free(got);
		int64_t count;
		assert_int_equal(plumb_db_count(db, ok[i].name, PLUMB_DB_COUNT_CHEAP, &count), 1);
		assert_int_equal(count, 1);
	}
	/* Bad names: a clear message, nothing run.  a.b unquoted is table b
	 * of a schema a, which does not exist. */
	static const char *const bad[] = {"",   "\"unterminated", "\"x\"y", ".t",
	                                  "s.", "\"a\".\"b\".c"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(plumb_db_query_table(db, bad[i]), -EINVAL);
		assert_true(strlen(plumb_db_errmsg(db)) > 10);
	}
	assert_int_equal(plumb_db_query_table(db, "a.b"), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "no such table: a.b");
	assert_int_equal(plumb_db_errpos(db), 0); /* the SQL was ours, not the user's */
	assert_int_equal(plumb_db_query_table(db, "nope"), PLUMB_EDB);
	assert_non_null(strstr(plumb_db_errmsg(db), "no such table: nope"));
	plumb_db_close(db);
}

static void *interrupter(void *arg)
{
	plumb_db *db = ((void **)arg)[0];
	atomic_int *done = ((void **)arg)[1];
	while (!atomic_load(done)) {
		plumb_db_interrupt(db);
		usleep(5000);
	}
	return NULL;
}

static void test_sqlite_interrupt(void **state)
{
	(void)state;
	plumb_db *db = open_ok(types_db());
	/* An endless query; another thread keeps interrupting until it stops. */
	assert_int_equal(plumb_db_query(db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
	                                    "SELECT i + 1 FROM c) SELECT i FROM c"),
	                 0);
	atomic_int done = 0;
	void *arg[2] = {db, &done};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, interrupter, arg), 0);
	const plumb_value *row;
	int rc;
	while ((rc = plumb_db_next(db, &row)) == 1)
		;
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	assert_int_equal(rc, PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "interrupted");
	/* The connection goes on. */
	char *got = export_sql(db, "SELECT count(*) AS n FROM types", "ndjson", NULL);
	assert_string_equal(got, "{\"n\":6}\n");
	free(got);
	plumb_db_close(db);
}

static void test_export_stops_on_write_error_and_cancel(void **state)
{
	(void)state;
	plumb_db *db = open_ok(big_db());
	/* The writer fails on its third write: the export returns its error,
	 * having counted the rows it encoded. */
	assert_int_equal(plumb_db_query(db, "SELECT * FROM t"), 0);
	struct probe_writer p = {.w = {&probe_ops}, .fail_after = 2, .err = -ENOSPC};
	plumb_encoder *enc;
	assert_int_equal(plumb_encoder_new(&enc, "csv", NULL, &p.w), 0);
	_Atomic uint64_t rows = 0;
	assert_int_equal(plumb_db_export(db, enc, NULL, &rows), -ENOSPC);
	assert_int_equal(p.calls, 3);
	uint64_t done = atomic_load(&rows);
	assert_true(done > 300 && done < 1000); /* two 64 KiB buffers of ~330-byte rows */
	plumb_encoder_free(enc);
	/* The query was ended; the next runs. */
	char *got = export_sql(db, "SELECT count(*) AS n FROM t", "ndjson", NULL);
	assert_string_equal(got, "{\"n\":100000}\n");
	free(got);
	/* Cancelled before the first row. */
	assert_int_equal(plumb_db_query(db, "SELECT * FROM t"), 0);
	assert_int_equal(plumb_encoder_new(&enc, "ndjson", NULL, plumb_discard()), 0);
	atomic_int cancel = 1;
	assert_int_equal(plumb_db_export(db, enc, &cancel, NULL), -ECANCELED);
	plumb_encoder_free(enc);
	plumb_db_close(db);
}

/* The consumer end of a pipe: reads a little, then closes with an error. */
static void *bad_consumer(void *arg)
{
	plumb_pipe *p = arg;
	char buf[4096];
	ssize_t total = 0;
	while (total < 200000) {
		ssize_t n = plumb_pipe_read(p, buf, sizeof buf);
		if (n <= 0)
			break;
		total += n;
	}
	plumb_pipe_close_read(p, -EIO);
	return NULL;
}

static void test_export_into_closed_pipe(void **state)
{
	(void)state;
	plumb_db *db = open_ok(big_db());
	assert_int_equal(plumb_db_query(db, "SELECT * FROM t"), 0);
	plumb_pipe *p = plumb_pipe_new();
	assert_non_null(p);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, bad_consumer, p), 0);
	plumb_encoder *enc;
	assert_int_equal(plumb_encoder_new(&enc, "json", NULL, plumb_pipe_writer(p)), 0);
	_Atomic uint64_t rows = 0;
	assert_int_equal(plumb_db_export(db, enc, NULL, &rows), -EIO);
	assert_true(atomic_load(&rows) < 100000);
	pthread_join(t, NULL);
	plumb_encoder_free(enc);
	plumb_pipe_free(p);
	plumb_db_close(db);
}

/* ---- PostgreSQL ---- */

/* Runs a shell command; returns its exit status (or -1). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* What a command prints, as a new string (length in *len). */
static char *capture(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *capture(size_t *len, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	plumb_reader *r = plumb_file_reader_new(f, 0);
	char *out;
	ssize_t n = plumb_read_all(r, &out);
	plumb_reader_free(r);
	int st = pclose(f);
	if (n < 0 || st != 0)
		fail_msg("%s: exit status %d", cmd, st);
	*len = (size_t)n;
	return out;
}

/* The last line of a file, for a skip reason. */
static void last_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[512] = "";
	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (line[0] != '\n')
			snprintf(out, len, "%s", line);
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* Starts a server with tests/services/postgres.sh; sets pg_uri and the PG*
 * environment from its export lines, or pg_skip. */
static void start_pg(void)
{
	const char *services = getenv("PLUMB_SERVICES");
	if (!services || !*services) {
		snprintf(pg_skip, sizeof pg_skip,
		         "neither PLUMB_TEST_PG_URI nor PLUMB_SERVICES is set");
		return;
	}
	snprintf(pg_dir, sizeof pg_dir, "/tmp/plumb-test-db-pg.XXXXXX");
	if (!mkdtemp(pg_dir)) {
		snprintf(pg_skip, sizeof pg_skip, "mkdtemp: %s", strerror(errno));
		pg_dir[0] = '\0';
		return;
	}
	char log[600], cmd[1600];
	snprintf(log, sizeof log, "%s/pg-start.log", tmpdir);
	snprintf(cmd, sizeof cmd, "'%s/postgres.sh' start '%s' 2>'%s'", services, pg_dir, log);
	FILE *f = popen(cmd, "r");
	char line[1024];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (strncmp(line, "export ", 7) != 0 || !eq)
			continue;
		*eq = '\0';
		setenv(line + 7, eq + 1, 1);
	}
	int st = f ? pclose(f) : -1;
	const char *uri = getenv("PLUMB_TEST_PG_URI");
	if (st != 0 || !uri) {
		char why[512];
		last_line(log, why, sizeof why);
		snprintf(pg_skip, sizeof pg_skip, "could not start PostgreSQL: %s", why);
		run("rm -rf '%s'", pg_dir);
		pg_dir[0] = '\0';
		return;
	}
	snprintf(pg_uri, sizeof pg_uri, "%s", uri);
	if (run("'%s/postgres.sh' fixtures '%s' 2>>'%s'", services, pg_dir, log) != 0) {
		last_line(log, pg_skip, sizeof pg_skip);
		pg_uri[0] = '\0';
	}
}

/* With a server from outside: make sure the fixtures are there, and that
 * the PG* environment names it too (for the "postgres:" source). */
static void use_given_pg(const char *uri)
{
	snprintf(pg_uri, sizeof pg_uri, "%s", uri);
	PQconninfoOption *opts = PQconninfoParse(uri, NULL);
	static const char *const map[][2] = {{"host", "PGHOST"},
	                                     {"port", "PGPORT"},
	                                     {"user", "PGUSER"},
	                                     {"dbname", "PGDATABASE"}};
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		for (int i = 0; i < 4; i++)
			if (strcmp(o->keyword, map[i][0]) == 0 && o->val && *o->val)
				setenv(map[i][1], o->val, 1);
	PQconninfoFree(opts);
	PGconn *c = PQconnectdb(uri);
	PGresult *res = PQexec(c, "SELECT to_regclass('public.people') IS NOT NULL "
	                          "AND to_regclass('public.t_wide') IS NOT NULL");
	bool have = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	PQfinish(c);
	const char *services = getenv("PLUMB_SERVICES");
	if (!have &&
	    (!services ||
	     run("psql -X -q -v ON_ERROR_STOP=1 -d '%s' -f '%s/pg-fixtures.sql' >/dev/null", uri,
	         services) != 0)) {
		snprintf(pg_skip, sizeof pg_skip,
		         "the fixtures are not in %s and could not be loaded", uri);
		pg_uri[0] = '\0';
	}
}

/* Runs SQL as the test's own user on a separate connection (plumb's
 * sessions are read-only). */
static void pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(pg_uri);
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/plumb-test-db.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	const char *uri = getenv("PLUMB_TEST_PG_URI");
	if (uri && *uri)
		use_given_pg(uri);
	else
		start_pg();
	if (pg_uri[0]) {
		/* A table named plumb test we"ird PID, and a view (COPY cannot read
		 * a view directly), made on a separate connection. */
		int pid = (int)getpid();
		snprintf(weird_table, sizeof weird_table, "plumb test we\"ird %d", pid);
		char sql[512];
		snprintf(sql, sizeof sql,
		         "DROP TABLE IF EXISTS \"plumb test we\"\"ird %d\";"
		         "CREATE TABLE \"plumb test we\"\"ird %d\" (id int, v text);"
		         "INSERT INTO \"plumb test we\"\"ird %d\" VALUES (1, 'weird'), (2, NULL);"
		         "CREATE OR REPLACE VIEW plumb_test_view_%d AS "
		         "SELECT id, name FROM people WHERE id <= 3",
		         pid, pid, pid, pid);
		pg_admin(sql);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (pg_uri[0] && weird_table[0]) {
		char sql[256];
		int pid = (int)getpid();
		snprintf(sql, sizeof sql,
		         "DROP TABLE IF EXISTS \"plumb test we\"\"ird %d\";"
		         "DROP VIEW IF EXISTS plumb_test_view_%d",
		         pid, pid);
		pg_admin(sql);
	}
	if (pg_dir[0]) {
		run("'%s/postgres.sh' stop '%s' 2>/dev/null", getenv("PLUMB_SERVICES"), pg_dir);
		run("rm -rf '%s'", pg_dir);
	}
	run("rm -rf '%s'", tmpdir);
	return 0;
}

static plumb_db *pg_open(void)
{
	return open_ok(pg_uri);
}

/* ---- the fixtures, as NDJSON (values checked one by one: see the top) ---- */

static const char want_t_int[] =
        "{\"id\":1,\"i2\":-32768,\"i4\":-2147483648,\"i8\":-9223372036854775808}\n"
        "{\"id\":2,\"i2\":32767,\"i4\":2147483647,\"i8\":9223372036854775807}\n"
        "{\"id\":3,\"i2\":0,\"i4\":0,\"i8\":0}\n"
        "{\"id\":4,\"i2\":-1,\"i4\":-1,\"i8\":-1}\n"
        "{\"id\":5,\"i2\":1,\"i4\":1,\"i8\":9007199254740993}\n"
        "{\"id\":6,\"i2\":255,\"i4\":65536,\"i8\":9007199254740992}\n"
        "{\"id\":7,\"i2\":null,\"i4\":null,\"i8\":null}\n"
        "{\"id\":8,\"i2\":12345,\"i4\":-123456789,\"i8\":-9223372036854775807}\n";
static const char want_t_float[] =
        "{\"id\":1,\"f4\":0.1,\"f8\":0.1,\"note\":\"0.1 is not exact in binary\"}\n"
        "{\"id\":2,\"f4\":1e+30,\"f8\":1e+300,\"note\":\"large\"}\n"
        "{\"id\":3,\"f4\":-1e+30,\"f8\":-1e+300,\"note\":\"large negative\"}\n"
        "{\"id\":4,\"f4\":-0,\"f8\":-0,\"note\":\"negative zero\"}\n"
        "{\"id\":5,\"f4\":0,\"f8\":0,\"note\":\"zero\"}\n"
        "{\"id\":6,\"f4\":null,\"f8\":null,\"note\":\"not a number\"}\n"
        "{\"id\":7,\"f4\":null,\"f8\":null,\"note\":\"infinity\"}\n"
        "{\"id\":8,\"f4\":null,\"f8\":null,\"note\":\"negative infinity\"}\n"
        "{\"id\":9,\"f4\":3.4028235e+38,\"f8\":1.7976931348623157e+308,\"note\":\"largest "
        "finite\"}\n"
        "{\"id\":10,\"f4\":1.1754944e-38,\"f8\":2.2250738585072014e-308,\"note\":\"smallest "
        "normal\"}\n"
        "{\"id\":11,\"f4\":1e-45,\"f8\":5e-324,\"note\":\"smallest subnormal\"}\n"
        "{\"id\":12,\"f4\":1.5,\"f8\":123456789.12345679,\"note\":\"more digits than a double "
        "holds\"}\n"
        "{\"id\":13,\"f4\":16777216,\"f8\":9007199254740992,\"note\":\"integers past the "
        "mantissa\"}\n"
        "{\"id\":14,\"f4\":1e-7,\"f8\":1e-7,\"note\":\"small: printed with an exponent\"}\n"
        "{\"id\":15,\"f4\":100000,\"f8\":1000000000000000,\"note\":\"real 1e5 prints plain, double "
        "1e15 with an exponent\"}\n"
        "{\"id\":16,\"f4\":null,\"f8\":null,\"note\":null}\n";
static const char want_t_numeric[] =
        "{\"id\":1,\"n\":\"0\",\"n12_2\":\"0.00\"}\n"
        "{\"id\":2,\"n\":\"12345678901234567890123456789012345678901234567890."
        "123456789012345678901234567890\",\"n12_2\":\"9999999999.99\"}\n"
        "{\"id\":3,\"n\":\"-0.000000000000000000000000000001\",\"n12_2\":\"-9999999999.99\"}\n"
        "{\"id\":4,\"n\":\"1.500\",\"n12_2\":\"1.50\"}\n"
        "{\"id\":5,\"n\":\"0.1\",\"n12_2\":\"0.10\"}\n"
        "{\"id\":6,\"n\":\"0."
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000001\",\"n12_2\":\"0.01\"}\n"
        "{\"id\":7,\"n\":"
        "\"1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000\",\"n12_2\":\"-0.01\"}\n"
        "{\"id\":8,\"n\":\"NaN\",\"n12_2\":null}\n"
        "{\"id\":9,\"n\":\"Infinity\",\"n12_2\":\"1234.50\"}\n"
        "{\"id\":10,\"n\":\"-Infinity\",\"n12_2\":\"0.01\"}\n"
        "{\"id\":11,\"n\":\"-123.456\",\"n12_2\":\"-123.46\"}\n"
        "{\"id\":12,\"n\":null,\"n12_2\":null}\n";
static const char want_t_numeric_as_number[] =
        "{\"id\":1,\"n\":0,\"n12_2\":0.00}\n"
        "{\"id\":2,\"n\":12345678901234567890123456789012345678901234567890."
        "123456789012345678901234567890,\"n12_2\":9999999999.99}\n"
        "{\"id\":3,\"n\":-0.000000000000000000000000000001,\"n12_2\":-9999999999.99}\n"
        "{\"id\":4,\"n\":1.500,\"n12_2\":1.50}\n"
        "{\"id\":5,\"n\":0.1,\"n12_2\":0.10}\n"
        "{\"id\":6,\"n\":0."
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000001,\"n12_2\":0.01}\n"
        "{\"id\":7,\"n\":"
        "100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000,\"n12_2\":-0.01}\n"
        "{\"id\":8,\"n\":null,\"n12_2\":null}\n"
        "{\"id\":9,\"n\":null,\"n12_2\":1234.50}\n"
        "{\"id\":10,\"n\":null,\"n12_2\":0.01}\n"
        "{\"id\":11,\"n\":-123.456,\"n12_2\":-123.46}\n"
        "{\"id\":12,\"n\":null,\"n12_2\":null}\n";
static const char want_t_bool[] = "{\"id\":1,\"b\":true}\n"
                                  "{\"id\":2,\"b\":false}\n"
                                  "{\"id\":3,\"b\":null}\n";
static const char want_t_text[] =
        "{\"id\":1,\"label\":\"null\",\"v\":null}\n"
        "{\"id\":2,\"label\":\"empty string\",\"v\":\"\"}\n"
        "{\"id\":3,\"label\":\"plain\",\"v\":\"hello\"}\n"
        "{\"id\":4,\"label\":\"single quote\",\"v\":\"O'Brien\"}\n"
        "{\"id\":5,\"label\":\"double quotes\",\"v\":\"say \\\"hi\\\"\"}\n"
        "{\"id\":6,\"label\":\"only a double quote\",\"v\":\"\\\"\"}\n"
        "{\"id\":7,\"label\":\"comma\",\"v\":\"a,b\"}\n"
        "{\"id\":8,\"label\":\"comma and quotes\",\"v\":\"\\\"Smith, John\\\", Jr.\"}\n"
        "{\"id\":9,\"label\":\"newline LF\",\"v\":\"line1\\nline2\"}\n"
        "{\"id\":10,\"label\":\"CRLF\",\"v\":\"line1\\r\\nline2\"}\n"
        "{\"id\":11,\"label\":\"lone CR\",\"v\":\"line1\\rline2\"}\n"
        "{\"id\":12,\"label\":\"trailing newline\",\"v\":\"ends with newline\\n\"}\n"
        "{\"id\":13,\"label\":\"tab\",\"v\":\"col1\\tcol2\"}\n"
        "{\"id\":14,\"label\":\"backslash\",\"v\":\"C:\\\\temp\\\\new\"}\n"
        "{\"id\":15,\"label\":\"backslash N\",\"v\":\"\\\\N\"}\n"
        "{\"id\":16,\"label\":\"the word NULL\",\"v\":\"NULL\"}\n"
        "{\"id\":17,\"label\":\"leading and trailing spaces\",\"v\":\"  padded  \"}\n"
        "{\"id\":18,\"label\":\"only spaces\",\"v\":\"   \"}\n"
        "{\"id\":19,\"label\":\"control "
        "characters\",\"v\":\"\\u0001\\u0002\\u0007\\b\\u000b\\f\\u001b\\u001f\"}\n"
        "{\"id\":20,\"label\":\"DEL\",\"v\":\"a\177b\"}\n"
        "{\"id\":21,\"label\":\"latin-1 range\",\"v\":\"na\303\257ve caf\303\251 "
        "\303\274\303\237\"}\n"
        "{\"id\":22,\"label\":\"CJK\",\"v\":\"\346\227\245\346\234\254\350\252\236\"}\n"
        "{\"id\":23,\"label\":\"emoji\",\"v\":\"\360\237\230\200\"}\n"
        "{\"id\":24,\"label\":\"flag\",\"v\":\"\360\237\207\253\360\237\207\267\"}\n"
        "{\"id\":25,\"label\":\"ZWJ "
        "sequence\",\"v\":"
        "\"\360\237\221\251\342\200\215\360\237\221\251\342\200\215\360\237\221\247\"}\n"
        "{\"id\":26,\"label\":\"combining accent\",\"v\":\"e\314\201\"}\n"
        "{\"id\":27,\"label\":\"right to left\",\"v\":\"\327\251\327\234\327\225\327\235\"}\n"
        "{\"id\":28,\"label\":\"BOM\",\"v\":\"\357\273\277starts with a byte order mark\"}\n"
        "{\"id\":29,\"label\":\"line and paragraph "
        "separators\",\"v\":\"a\342\200\250b\342\200\251c\"}\n"
        "{\"id\":30,\"label\":\"C1 control\",\"v\":\"a\302\205b\"}\n"
        "{\"id\":31,\"label\":\"non-breaking space\",\"v\":\"a\302\240b\"}\n"
        "{\"id\":32,\"label\":\"highest code point\",\"v\":\"\364\217\277\277\"}\n"
        "{\"id\":33,\"label\":\"all the specials\",\"v\":\"\\\"\\t,\\n\\r\\\\'; |\"}\n"
        "{\"id\":34,\"label\":\"pipe and semicolon\",\"v\":\"a|b;c\"}\n"
        "{\"id\":35,\"label\":\"HTML-ish\",\"v\":\"<a href=\\\"x\\\">&amp;</a>\"}\n"
        "{\"id\":36,\"label\":\"JSON-ish\",\"v\":\"{\\\"k\\\": [1, \\\"two\\\"]}\"}\n"
        "{\"id\":37,\"label\":\"spreadsheet formula\",\"v\":\"=1+2\"}\n"
        "{\"id\":40,\"label\":\"quote at the end\",\"v\":\"trailing\\\"\"}\n";
static const char want_t_bytea[] =
        "{\"id\":1,\"label\":\"null\",\"b\":null}\n"
        "{\"id\":2,\"label\":\"empty\",\"b\":\"\"}\n"
        "{\"id\":3,\"label\":\"one NUL\",\"b\":\"AA==\"}\n"
        "{\"id\":4,\"label\":\"all 256 byte "
        "values\",\"b\":"
        "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
        "P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+"
        "AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/"
        "wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/"
        "w==\"}\n"
        "{\"id\":5,\"label\":\"ASCII text as bytes\",\"b\":\"aGVsbG8sICJ3b3JsZCI=\"}\n"
        "{\"id\":6,\"label\":\"UTF-8 text as bytes\",\"b\":\"8J+YgA==\"}\n";
static const char want_t_json[] =
        "{\"id\":1,\"j\":null,\"jb\":null}\n"
        "{\"id\":2,\"j\":null,\"jb\":null}\n"
        "{\"id\":3,\"j\":{\"a\": 1, \"b\": [true, false, null], \"c\": {\"d\": "
        "\"e\"}},\"jb\":{\"a\": 1, \"b\": [true, false, null], \"c\": {\"d\": \"e\"}}}\n"
        "{\"id\":4,\"j\":[],\"jb\":[]}\n"
        "{\"id\":5,\"j\":{},\"jb\":{}}\n"
        "{\"id\":6,\"j\":{\"spaced\" :   \"out\" },\"jb\":{\"spaced\": \"out\"}}\n"
        "{\"id\":7,\"j\":{\"dup\": 1, \"dup\": 2},\"jb\":{\"dup\": 2}}\n"
        "{\"id\":8,\"j\":{\"big\": 123456789012345678901234567890, \"small\": 1e-400, \"neg\": "
        "-0.0},\"jb\":{\"big\": 123456789012345678901234567890, \"neg\": 0.0, \"small\": "
        "0."
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000001}}\n"
        "{\"id\":9,\"j\":\"just a string with \\\"quotes\\\", \\\\ and \\n escapes\",\"jb\":\"just "
        "a string with \\\"quotes\\\", \\\\ and \\n escapes\"}\n"
        "{\"id\":10,\"j\":{\"unicode\": \"\\u00e9\\ud83d\\ude00\", \"raw\": "
        "\"\303\251\360\237\230\200\"},\"jb\":{\"raw\": \"\303\251\360\237\230\200\", \"unicode\": "
        "\"\303\251\360\237\230\200\"}}\n"
        "{\"id\":11,\"j\":{\"z\": 1, \"a\": 2, \"mm\": 3},\"jb\":{\"a\": 2, \"z\": 1, \"mm\": 3}}\n"
        "{\"id\":12,\"j\":[1, \"two\", 3.0, {\"four\": [4]}],\"jb\":[1, \"two\", 3.0, {\"four\": "
        "[4]}]}\n";
static const char want_t_datetime[] =
        "{\"id\":1,\"d\":\"2024-01-15\",\"ts\":\"2024-01-15T10:30:00\",\"tstz\":\"2024-01-15T10:30:"
        "00Z\",\"t\":\"10:30:00\",\"ttz\":\"10:30:00+00:00\",\"iv\":\"P1D\"}\n"
        "{\"id\":2,\"d\":\"2000-02-29\",\"ts\":\"2000-02-29T23:59:59.999999\",\"tstz\":\"2000-03-"
        "01T07:59:59.999999Z\",\"t\":\"23:59:59.999999\",\"ttz\":\"23:59:59.999999-08:00\",\"iv\":"
        "\"P1Y2M3DT4H5M6.789S\"}\n"
        "{\"id\":3,\"d\":\"1970-01-01\",\"ts\":\"1970-01-01T00:00:00\",\"tstz\":\"1970-01-01T00:00:"
        "00Z\",\"t\":\"00:00:00\",\"ttz\":\"00:00:00+14:00\",\"iv\":\"PT0S\"}\n"
        "{\"id\":4,\"d\":\"1969-12-31\",\"ts\":\"1969-12-31T23:59:59.5\",\"tstz\":\"1969-12-31T23:"
        "59:59.5Z\",\"t\":\"12:00:00.5\",\"ttz\":\"12:00:00-12:00\",\"iv\":\"P-1DT-1S\"}\n"
        "{\"id\":5,\"d\":\"2038-01-19\",\"ts\":\"2038-01-19T03:14:08\",\"tstz\":\"2038-01-18T21:44:"
        "08Z\",\"t\":\"24:00:00\",\"ttz\":\"24:00:00+00:00\",\"iv\":\"P-1Y\"}\n"
        "{\"id\":6,\"d\":\"9999-12-31\",\"ts\":\"9999-12-31T23:59:59\",\"tstz\":\"9999-12-31T23:59:"
        "59Z\",\"t\":\"00:00:00.000001\",\"ttz\":\"00:00:00.000001+00:00\",\"iv\":\"P178000000Y\"}"
        "\n"
        "{\"id\":7,\"d\":\"0001-01-01\",\"ts\":\"0001-01-01T00:00:00\",\"tstz\":\"0001-01-01T00:00:"
        "00Z\",\"t\":\"01:02:03\",\"ttz\":\"01:02:03+01:30\",\"iv\":\"PT0.000001S\"}\n"
        "{\"id\":8,\"d\":\"-0043-03-15\",\"ts\":\"-0043-03-15T12:00:00\",\"tstz\":\"-0043-03-15T12:"
        "00:00Z\",\"t\":\"12:00:00\",\"ttz\":\"12:00:00+00:00\",\"iv\":\"P1M-1D\"}\n"
        "{\"id\":9,\"d\":\"infinity\",\"ts\":\"infinity\",\"tstz\":\"-infinity\",\"t\":\"00:00:"
        "00\",\"ttz\":\"00:00:00+00:00\",\"iv\":\"P100DT23H\"}\n"
        "{\"id\":10,\"d\":null,\"ts\":null,\"tstz\":null,\"t\":null,\"ttz\":null,\"iv\":null}\n";
static const char want_t_uuid[] = "{\"id\":1,\"u\":\"00000000-0000-0000-0000-000000000000\"}\n"
                                  "{\"id\":2,\"u\":\"ffffffff-ffff-ffff-ffff-ffffffffffff\"}\n"
                                  "{\"id\":3,\"u\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"}\n"
                                  "{\"id\":4,\"u\":null}\n";
static const char want_t_array[] =
        "{\"id\":1,\"ia\":[1,2,3],\"ta\":[\"a\",\"b\",\"c\"],\"ba\":[9223372036854775807],\"na\":["
        "\"1.50\",\"-0.001\"]}\n"
        "{\"id\":2,\"ia\":[],\"ta\":[],\"ba\":[],\"na\":[]}\n"
        "{\"id\":3,\"ia\":[null,1],\"ta\":[null,\"x\"],\"ba\":[null],\"na\":[null]}\n"
        "{\"id\":4,\"ia\":null,\"ta\":null,\"ba\":null,\"na\":null}\n"
        "{\"id\":5,\"ia\":[[1,2],[3,4]],\"ta\":[[\"a\",\"b\"],[\"c\",\"d\"]],\"ba\":[[1],[2]],"
        "\"na\":[[\"1.0\"]]}\n"
        "{\"id\":6,\"ia\":[-2147483648,2147483647],\"ta\":[\"with,comma\",\"with "
        "\\\"quote\\\"\",\"with\\\\backslash\",\"{braces}\"],\"ba\":[0],\"na\":[\"NaN\"]}\n"
        "{\"id\":7,\"ia\":[0],\"ta\":[\"\",\" \",\"NULL\",\"null\"],\"ba\":[-1],\"na\":[\"0\"]}\n"
        "{\"id\":8,\"ia\":[1],\"ta\":[\"new\\nline\",\"tab\\there\",\"\303\251\360\237\230\200\"],"
        "\"ba\":[1],\"na\":[\"100000000000000000000\"]}\n"
        "{\"id\":9,\"ia\":[7,8,9],\"ta\":[\"single\"],\"ba\":[1,2],\"na\":[\"2\"]}\n"
        "{\"id\":10,\"ia\":[5],\"ta\":[\"O'Brien\",\"\\\"\",\",\"],\"ba\":[3],\"na\":[\"3\"]}\n";
static const char want_t_other[] =
        "{\"id\":1,\"c5\":\"ab   "
        "\",\"vc\":\"abc\",\"ip\":\"192.168.0.1\",\"net\":\"10.0.0.0/"
        "8\",\"mac\":\"08:00:2b:01:02:03\",\"cash\":\"$12.34\",\"bits\":\"1010\",\"r\":\"[1,10)\","
        "\"mood\":\"happy\",\"pos\":1,\"pair\":\"(1,\\\"a,\\\"\\\"b\\\"\\\"\\\")\",\"pt\":\"(1.5,-"
        "2)\",\"o\":4294967295}\n"
        "{\"id\":2,\"c5\":\"abcde\",\"vc\":\"\",\"ip\":\"::1\",\"net\":\"2001:db8::/"
        "32\",\"mac\":\"ff:ff:ff:ff:ff:ff\",\"cash\":\"-$0.01\",\"bits\":\"\",\"r\":\"empty\","
        "\"mood\":\"sad\",\"pos\":2147483647,\"pair\":\"(,)\",\"pt\":\"(0,0)\",\"o\":0}\n"
        "{\"id\":3,\"c5\":null,\"vc\":null,\"ip\":null,\"net\":null,\"mac\":null,\"cash\":null,"
        "\"bits\":null,\"r\":null,\"mood\":null,\"pos\":null,\"pair\":null,\"pt\":null,\"o\":null}"
        "\n";
static const char want_t_colnames[] =
        "{\"id\":1,\"Mixed Case\":1,\"with,comma\":2,\"with "
        "\\\"quote\\\"\":3,\"select\":4,\"na\\\\u00efve\":5,\"caf\303\251\":6,\"new\\nline\":7}\n"
        "{\"id\":2,\"Mixed Case\":null,\"with,comma\":null,\"with "
        "\\\"quote\\\"\":null,\"select\":null,\"na\\\\u00efve\":null,\"caf\303\251\":null,"
        "\"new\\nline\":null}\n";
static const char want_t_allnull[] =
        "{\"id\":1,\"i\":null,\"f\":null,\"n\":null,\"b\":null,\"t\":null,\"by\":null,\"j\":null,"
        "\"jb\":null,\"d\":null,\"ts\":null,\"u\":null,\"ia\":null}\n"
        "{\"id\":2,\"i\":null,\"f\":null,\"n\":null,\"b\":null,\"t\":null,\"by\":null,\"j\":null,"
        "\"jb\":null,\"d\":null,\"ts\":null,\"u\":null,\"ia\":null}\n"
        "{\"id\":3,\"i\":null,\"f\":null,\"n\":null,\"b\":null,\"t\":null,\"by\":null,\"j\":null,"
        "\"jb\":null,\"d\":null,\"ts\":null,\"u\":null,\"ia\":null}\n";

static void test_pg_fixtures_ndjson(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	plumb_db *db = pg_open();
	assert_string_equal(plumb_db_driver(db), "postgresql");
	EXPECT_EXPORT(db, "SELECT * FROM t_int ORDER BY id", "ndjson", NULL, want_t_int);
	EXPECT_EXPORT(db, "SELECT * FROM t_float ORDER BY id", "ndjson", NULL, want_t_float);
	EXPECT_EXPORT(db, "SELECT * FROM t_numeric ORDER BY id", "ndjson", NULL, want_t_numeric);
	plumb_encode_options num = {.numeric_as_number = 1};
	EXPECT_EXPORT(db, "SELECT * FROM t_numeric ORDER BY id", "ndjson", &num,
	              want_t_numeric_as_number);
	EXPECT_EXPORT(db, "SELECT * FROM t_bool ORDER BY id", "ndjson", NULL, want_t_bool);
	EXPECT_EXPORT(db, "SELECT * FROM t_text WHERE id NOT IN (38, 39) ORDER BY id", "ndjson",
	              NULL, want_t_text);
	EXPECT_EXPORT(db, "SELECT * FROM t_bytea WHERE id <> 7 ORDER BY id", "ndjson", NULL,
	              want_t_bytea);
	EXPECT_EXPORT(db, "SELECT * FROM t_json ORDER BY id", "ndjson", NULL, want_t_json);
	EXPECT_EXPORT(db, "SELECT * FROM t_datetime ORDER BY id", "ndjson", NULL, want_t_datetime);
	EXPECT_EXPORT(db, "SELECT * FROM t_uuid ORDER BY id", "ndjson", NULL, want_t_uuid);
	EXPECT_EXPORT(db, "SELECT * FROM t_array ORDER BY id", "ndjson", NULL, want_t_array);
	EXPECT_EXPORT(db, "SELECT * FROM t_other ORDER BY id", "ndjson", NULL, want_t_other);
	EXPECT_EXPORT(db, "SELECT * FROM t_colnames ORDER BY id", "ndjson", NULL, want_t_colnames);
	EXPECT_EXPORT(db, "SELECT * FROM t_empty", "ndjson", NULL, "");
	EXPECT_EXPORT(db, "SELECT * FROM t_empty", "json", NULL, "[]\n");
	EXPECT_EXPORT(db, "SELECT * FROM t_empty", "csv", NULL, "id,name,amount\n");
	EXPECT_EXPORT(db, "SELECT * FROM t_allnull ORDER BY id", "ndjson", NULL, want_t_allnull);
	/* The same rows as a JSON array and as CSV from the encoders. */
	EXPECT_EXPORT(db, "SELECT * FROM t_bool ORDER BY id", "json", NULL,
	              "[{\"id\":1,\"b\":true},\n{\"id\":2,\"b\":false},\n{\"id\":3,\"b\":null}]\n");
	EXPECT_EXPORT(db, "SELECT id, f4, f8 FROM t_float WHERE id IN (1, 4, 6, 7, 8) ORDER BY id",
	              "csv", NULL,
	              "id,f4,f8\n1,0.1,0.1\n4,-0,-0\n6,NaN,NaN\n7,Infinity,Infinity\n"
	              "8,-Infinity,-Infinity\n");
	/* Column types as PostgreSQL names them. */
	assert_int_equal(plumb_db_query(db, "SELECT * FROM t_datetime"), 0);
	static const char *const types[] = {"int4", "date",   "timestamp", "timestamptz",
	                                    "time", "timetz", "interval"};
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(plumb_db_column_at(db, i)->type, types[i]);
	assert_int_equal(plumb_db_column_at(db, 3)->type_oid, 1184);
	plumb_db_close(db);
}

static void test_pg_long_values(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	plumb_db *db = pg_open();
	/* 128 KiB of '0123456789abcdef' and 60000 bytes of "é😀". */
	size_t len;
	assert_int_equal(
	        plumb_db_query(db, "SELECT v FROM t_text WHERE id IN (38, 39) ORDER BY id"), 0);
	char *got = export_current(db, "ndjson", NULL, &len);
	char *want = malloc(200000), *p = want;
	assert_non_null(want);
	p += sprintf(p, "{\"v\":\"");
	for (int i = 0; i < 8192; i++)
		p += sprintf(p, "0123456789abcdef");
	p += sprintf(p, "\"}\n{\"v\":\"");
	for (int i = 0; i < 10000; i++)
		p += sprintf(p, "\303\251\360\237\230\200");
	p += sprintf(p, "\"}\n");
	assert_int_equal(len, (size_t)(p - want));
	assert_memory_equal(got, want, len);
	free(got);
	free(want);
	/* Every bytea as base64, against PostgreSQL's own base64 of it (which
	 * breaks lines every 76 characters: those go). */
	assert_int_equal(plumb_db_query(db, "SELECT b, replace(encode(b, 'base64'), E'\\n', '') "
	                                    "FROM t_bytea WHERE b IS NOT NULL ORDER BY id"),
	                 0);
	plumb_buffer b;
	plumb_buffer_init(&b);
	plumb_encoder *enc;
	assert_int_equal(
	        plumb_encoder_new(&enc, "csv", &(plumb_encode_options){.no_header = 1}, &b.writer),
	        0);
	assert_int_equal(plumb_db_export(db, enc, NULL, NULL), 6);
	plumb_encoder_free(enc);
	/* Each line is "B64,B64" with the two the same ("" "" for empty). */
	char *s = strndup((const char *)plumb_buffer_bytes(&b), plumb_buffer_len(&b));
	int lines = 0;
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		char *comma = strchr(line, ',');
		assert_non_null(comma);
		*comma = '\0';
		assert_string_equal(line, comma + 1);
	}
	assert_int_equal(lines, 6);
	assert_true(plumb_buffer_len(&b) > 2 * 87000); /* the 64 KiB one is there */
	free(s);
	plumb_buffer_release(&b);
	plumb_db_close(db);
}

/* people's row i, rebuilt from the rules in pg-fixtures.sql. */
static size_t people_line(char *out, long i)
{
	char name[64], email[64], amount[32], when[64];
	if (i % 1000 == 0)
		snprintf(name, sizeof name, "\"Multi\\nLine %ld\"", i);
	else if (i % 7 == 0)
		snprintf(name, sizeof name, "\"O'Brien %ld\"", i);
	else if (i % 11 == 0)
		snprintf(name, sizeof name, "\"Smith, %ld\"", i);
	else if (i % 13 == 0)
		snprintf(name, sizeof name, "\"Jo \\\"JJ\\\" %ld\"", i);
	else if (i % 17 == 0)
		snprintf(name, sizeof name, "\"Ren\303\251e %ld\"", i);
	else
		snprintf(name, sizeof name, "\"Person %ld\"", i);
	if (i % 101 == 0)
		snprintf(email, sizeof email, "null");
	else
		snprintf(email, sizeof email, "\"person%ld@example.com\"", i);
	long cents = (i * 7919) % 1000000;
	snprintf(amount, sizeof amount, "\"%s%ld.%02ld\"", i % 5 == 0 ? "-" : "", cents / 100,
	         cents % 100);
	/* 2024-01-01 00:00:00 UTC + i * 1023.5 s */
	time_t t = 1704067200 + i * 1023 + i / 2;
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof when - n, "%sZ", i % 2 ? ".5" : "");
	return (size_t)sprintf(
	        out, "{\"id\":%ld,\"name\":%s,\"email\":%s,\"amount\":%s,\"created_at\":\"%s\"}\n",
	        i, name, email, amount, when);
}

static void test_pg_people(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	plumb_db *db = pg_open();
	size_t len;
	assert_int_equal(plumb_db_query(db, "SELECT * FROM people ORDER BY id"), 0);
	char *got = export_current(db, "ndjson", NULL, &len);
	char *want = malloc(2000000), *p = want;
	assert_non_null(want);
	for (long i = 1; i <= 10000; i++)
		p += people_line(p, i);
	if (len != (size_t)(p - want) || memcmp(got, want, len) != 0) {
		size_t i = 0;
		while (i < len && got[i] == want[i])
			i++;
		fail_msg("people differs at byte %zu:\n got: %.100s\nwant: %.100s", i,
		         got + (i > 50 ? i - 50 : 0), want + (i > 50 ? i - 50 : 0));
	}
	free(got);
	free(want);
	plumb_db_close(db);
}

/* PostgreSQL's ISO DateStyle text of a date or timestamp ("0044-03-15
 * 12:00:00 BC", "2024-01-02 03:04:05.5+00") in the ISO 8601 form plumb
 * writes ("-0043-03-15T12:00:00", "2024-01-02T03:04:05.5Z"). */
static void pg_text_to_iso(const char *in, size_t n, char *out)
{
	char buf[128];
	assert_true(n < sizeof buf);
	snprintf(buf, sizeof buf, "%.*s", (int)n, in);
	bool bc = n > 3 && strcmp(buf + n - 3, " BC") == 0;
	if (bc)
		buf[n - 3] = '\0';
	char *dash = strchr(buf, '-'); /* the end of the year */
	long year = strtol(buf, NULL, 10);
	if (bc)
		year = 1 - year;
	char *p = out;
	if (year < 0 || year > 9999)
		p += sprintf(p, "%c%04ld", year < 0 ? '-' : '+', year < 0 ? -year : year);
	else
		p += sprintf(p, "%04ld", year);
	for (const char *s = dash; *s; s++)
		*p++ = *s == ' ' ? 'T' : *s;
	*p = '\0';
	size_t len = strlen(out);
	if (len > 3 && strcmp(out + len - 3, "+00") == 0)
		strcpy(out + len - 3, "Z");
}

/* A timetz's text ("12:00:00+05:30", "10:30:00+00") with the offset as
 * HH:MM, as plumb writes it. */
static void pg_timetz_to_iso(const char *in, size_t n, char *out)
{
	snprintf(out, 64, "%.*s", (int)n, in);
	char *sign = strpbrk(out, "+-");
	if (sign && strlen(sign) == 3)
		strcat(out, ":00");
}

enum conv { SAME, ISO, TIMETZ, FLOAT };

/* Each row of sql is (value, its text from the server); plumb's value must
 * be that text (converted as conv says). */
static void check_against_text(plumb_db *db, const char *sql, enum conv conv, int want_rows)
{
	int rc = plumb_db_query(db, sql);
	if (rc != 0)
		fail_msg("%s: %s", sql, plumb_db_errmsg(db));
	const plumb_value *row;
	int rows = 0;
	while ((rc = plumb_db_next(db, &row)) == 1) {
		rows++;
		const plumb_value *v = &row[0], *t = &row[1];
		assert_int_equal(t->kind, PLUMB_VALUE_TEXT);
		char want[2048];
		assert_true(t->len < 1024);
		if (conv == FLOAT) {
			char mine[64], theirs[64];
			assert_true(v->kind == PLUMB_VALUE_FLOAT || v->kind == PLUMB_VALUE_FLOAT4);
			/* The same number, and no longer: PostgreSQL prints the shortest
			 * exact form too (extra_float_digits = 1), nearly always: its
			 * Ryu gives 1.4201799999999999e+21 where 1.42018e+21 reads back
			 * the same. */
			plumb_buffer b;
			plumb_buffer_init(&b);
			plumb_encoder *enc;
			assert_int_equal(plumb_encoder_new(&enc, "csv",
			                                   &(plumb_encode_options){.no_header = 1},
			                                   &b.writer),
			                 0);
			plumb_db_column c = {.name = "x", .type = ""};
			assert_int_equal(plumb_encoder_begin(enc, &c, 1), 0);
			assert_int_equal(plumb_encoder_row(enc, v), 0);
			assert_int_equal(plumb_encoder_end(enc), 0);
			plumb_encoder_free(enc);
			snprintf(mine, sizeof mine, "%.*s", (int)plumb_buffer_len(&b) - 1,
			         (const char *)plumb_buffer_bytes(&b));
			plumb_buffer_release(&b);
			snprintf(theirs, sizeof theirs, "%.*s", (int)t->len, t->s);
			bool single = v->kind == PLUMB_VALUE_FLOAT4;
			if (single ? strtof(mine, NULL) != strtof(theirs, NULL)
			           : strtod(mine, NULL) != strtod(theirs, NULL))
				fail_msg("%s: %s is not %s", sql, mine, theirs);
			/* Significant digits: the mantissas without sign, point, zeros
			 * at either end. */
			int dm = 0, dt = 0;
			for (int k = 0; k < 2; k++) {
				const char *s = k ? theirs : mine;
				char d[64];
				int nd = 0;
				for (; *s && *s != 'e'; s++)
					if (*s >= '0' && *s <= '9' && (nd || *s != '0'))
						d[nd++] = *s;
				while (nd > 1 && d[nd - 1] == '0')
					nd--;
				*(k ? &dt : &dm) = nd;
			}
			if (dm > dt)
				fail_msg("%s: %s has %d digits, PostgreSQL's %s has %d", sql, mine,
				         dm, theirs, dt);
			continue;
		}
		if (conv == ISO)
			pg_text_to_iso(t->s, t->len, want);
		else if (conv == TIMETZ)
			pg_timetz_to_iso(t->s, t->len, want);
		else
			snprintf(want, sizeof want, "%.*s", (int)t->len, t->s);
		if (v->len != strlen(want) || memcmp(v->s, want, v->len) != 0)
			fail_msg("%s: row %d: %.*s, want %s", sql, rows, (int)v->len, v->s, want);
	}
	if (rc != 0)
		fail_msg("%s: %d %s", sql, rc, plumb_db_errmsg(db));
	assert_int_equal(rows, want_rows);
}

static void test_pg_values_against_server_text(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	plumb_db *db = pg_open();
	/* Timestamps some 2700 years either side of 2000, to the microsecond,
	 * so BC years and every calendar case come up. */
	check_against_text(db,
	                   "SELECT x, x::text FROM (SELECT timestamp '2000-01-01' + "
	                   "((i * 7919) % 2000001 - 1000000) * interval '1 day' + "
	                   "((i::bigint * 1000003) % 86400000000) * interval '1 microsecond' AS x "
	                   "FROM generate_series(1, 4000) i) s",
	                   ISO, 4000);
	check_against_text(db,
	                   "SELECT x, x::text FROM (SELECT timestamptz '1970-01-01 00:00:00+00' + "
	                   "((i * 7919) % 2000001 - 1000000) * interval '1 day' + "
	                   "((i::bigint * 999983) % 86400000000) * interval '1 microsecond' AS x "
	                   "FROM generate_series(1, 4000) i) s",
	                   ISO, 4000);
	check_against_text(
	        db,
	        "SELECT x, x::text FROM (SELECT date '2000-01-01' + "
	        "((i * 7919) % 4000001 - 2000000) AS x FROM generate_series(1, 4000) i) s",
	        ISO, 4000);
	check_against_text(db,
	                   "SELECT x, x::text FROM (SELECT time '00:00' + "
	                   "((i::bigint * 1000003) % 86400000000) * interval '1 microsecond' AS x "
	                   "FROM generate_series(1, 2000) i) s",
	                   SAME, 2000);
	check_against_text(db,
	                   "SELECT x, x::text FROM (SELECT (time '00:00' + i * interval '7 minutes "
	                   "3.25 seconds')::timetz AT TIME ZONE (((i % 49) - 24) * interval '30 "
	                   "minutes') AS x FROM generate_series(1, 500) i) s",
	                   TIMETZ, 500);
	/* Intervals in PostgreSQL's iso_8601 style: that style is what plumb
	 * writes, so switch the session to it first. */
	assert_int_equal(
	        plumb_db_query(db, "SELECT set_config('IntervalStyle', 'iso_8601', false)"), 0);
	const plumb_value *row;
	assert_int_equal(plumb_db_next(db, &row), 1);
	check_against_text(
	        db,
	        "SELECT x, x::text FROM (SELECT make_interval((i % 7) - 3, (i * 7) % 25 - "
	        "12, 0, (i * 13) % 61 - 30, (i * 17) % 49 - 24, (i * 19) % 121 - 60, "
	        "((i * 23) % 1200001 - 600000) / 10000.0) AS x "
	        "FROM generate_series(1, 3000) i) s",
	        SAME, 3000);
	/* Numerics of every scale and size, and specials. */
	check_against_text(db,
	                   "SELECT x, x::text FROM (SELECT round(((i::numeric * 7919) % 2000003 - "
	                   "1000000) * 10::numeric ^ ((i % 41) - 20), i % 25) AS x "
	                   "FROM generate_series(1, 3000) i "
	                   "UNION ALL VALUES ('NaN'::numeric), ('Infinity'), ('-Infinity'), (0), "
	                   "(0.000), (1e-1000), (-1e1000)) s",
	                   SAME, 3007);
	/* Floats: the same value, and just as short. */
	check_against_text(db,
	                   "SELECT x, x::text FROM (SELECT ((i * 7919) % 1000003) * 10::float8 ^ "
	                   "((i % 60) - 30) / 7 AS x FROM generate_series(1, 3000) i) s",
	                   FLOAT, 3000);
	check_against_text(db,
	                   "SELECT x, x::text FROM (SELECT (((i * 7919) % 1000003) * 10::float8 ^ "
	                   "((i % 40) - 20) / 7)::float4 AS x FROM generate_series(1, 3000) i) s",
	                   FLOAT, 3000);
	/* Network addresses, uuid, macaddr, bit strings.  format('%s', x) is
	 * the output function's text; inet's cast to text would add /32. */
	check_against_text(
	        db,
	        "SELECT x, format('%s', x) FROM (SELECT set_masklen(('10.' || i % 256 || '.' || "
	        "(i * 7) % 256 || '.' || (i * 13) % 256)::inet, i % 33) AS x "
	        "FROM generate_series(1, 500) i) s",
	        SAME, 500);
	check_against_text(
	        db,
	        "SELECT x, format('%s', x) FROM (SELECT set_masklen((to_hex(i * 7919 % 65536) || "
	        "CASE WHEN i % 3 = 0 THEN '::' ELSE ':0:0:' END || to_hex(i) || ':' || "
	        "to_hex(i * 13 % 65536) || CASE WHEN i % 5 = 0 AND i % 3 <> 0 THEN '::1' ELSE "
	        "':0:0:0' END)::inet, "
	        "128 - i % 129) AS x FROM generate_series(1, 500) i "
	        "UNION ALL VALUES ('::'::inet), ('::1'), ('::ffff:1.2.3.4'), ('1::'), "
	        "('::1.2.3.4'), ('fe80::1/64'), ('2001:db8:0:0:1:0:0:1')) s",
	        SAME, 507);
	check_against_text(
	        db,
	        "SELECT x, format('%s', x) FROM (SELECT network(set_masklen(('192.' || i % 256 || "
	        "'.' || (i * 7) % 256 || '.1')::inet, i % 33))::cidr AS x "
	        "FROM generate_series(1, 300) i) s",
	        SAME, 300);
	check_against_text(db,
	                   "SELECT x, format('%s', x) FROM (SELECT md5(i::text)::uuid AS x "
	                   "FROM generate_series(1, 300) i) s",
	                   SAME, 300);
	check_against_text(
	        db,
	        "SELECT x, format('%s', x) FROM (SELECT substr(md5(i::text), 1, 12)::macaddr AS x "
	        "FROM generate_series(1, 300) i) s",
	        SAME, 300);
	check_against_text(
	        db,
	        "SELECT x, format('%s', x) FROM (SELECT substr(md5(i::text), 1, 16)::macaddr8 AS x "
	        "FROM generate_series(1, 300) i) s",
	        SAME, 300);
	check_against_text(
	        db,
	        "SELECT x, format('%s', x) FROM (SELECT substr((i * 7919)::bit(32)::text, 1, "
	        "i % 33)::varbit AS x FROM generate_series(1, 300) i) s",
	        SAME, 300);
	plumb_db_close(db);
}

/* plumb's COPY CSV of the current query, as a new string. */
static char *copy_current(plumb_db *db, int header, size_t *len, int64_t *rows)
{
	plumb_buffer b;
	plumb_buffer_init(&b);
	_Atomic uint64_t counted = 0;
	int64_t n = plumb_db_copy_csv(db, header, &b.writer, NULL, &counted);
	if (n < 0)
		fail_msg("plumb_db_copy_csv: %lld: %s", (long long)n, plumb_db_errmsg(db));
	assert_int_equal((uint64_t)n, atomic_load(&counted));
	if (rows)
		*rows = n;
	*len = plumb_buffer_len(&b);
	char *s = malloc(*len + 1);
	assert_non_null(s);
	memcpy(s, plumb_buffer_bytes(&b), *len);
	plumb_buffer_release(&b);
	return s;
}

static void test_pg_copy_csv_matches_psql(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	static const char *const tables[] = {
	        "t_int",   "t_float",    "t_numeric", "t_bool",  "t_text",  "t_bytea",
	        "t_json",  "t_datetime", "t_uuid",    "t_array", "t_other", "t_colnames",
	        "t_empty", "t_allnull",  "people",    "t_wide",
	};
	plumb_db *db = pg_open();
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		for (int form = 0; form < 3; form++) {
			/* 0: a query with a header; 1: without; 2: the table itself. */
			size_t mylen, theirlen;
			int64_t rows;
			char sql[128];
			snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY id", tables[i]);
			int rc = form == 2 ? plumb_db_query_table(db, tables[i])
			                   : plumb_db_query(db, sql);
			assert_int_equal(rc, 0);
			char *mine = copy_current(db, form != 1, &mylen, &rows);
			char *theirs;
			if (form == 2)
				theirs = capture(
				        &theirlen,
				        "psql -X -d '%s' -c '\\copy %s to stdout csv header'",
				        pg_uri, tables[i]);
			else
				theirs = capture(&theirlen,
				                 "psql -X -d '%s' -c '\\copy (%s) to stdout csv%s'",
				                 pg_uri, sql, form == 0 ? " header" : "");
			if (mylen != theirlen || memcmp(mine, theirs, mylen) != 0)
				fail_msg("%s (form %d): plumb wrote %zu bytes, psql %zu", tables[i],
				         form, mylen, theirlen);
			if (strcmp(tables[i], "people") == 0)
				assert_int_equal(rows, 10000);
			free(mine);
			free(theirs);
		}
	}
	/* COPY needs rows not yet read. */
	assert_int_equal(plumb_db_query(db, "SELECT 1"), 0);
	const plumb_value *row;
	assert_int_equal(plumb_db_next(db, &row), 1);
	assert_int_equal(plumb_db_copy_csv(db, 1, plumb_discard(), NULL, NULL), PLUMB_EDB);
	plumb_db_close(db);
}

static void test_pg_sql_errors(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	plumb_db *db = pg_open();
	assert_int_equal(plumb_db_query(db, "SELECT * FORM t_int"), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db),
	                    "syntax error at or near \"FORM\" at character 10");
	assert_int_equal(plumb_db_errpos(db), 10);
	assert_int_equal(plumb_db_query(db, "SELECT 'é', * FORM t_int"), PLUMB_EDB);
	assert_int_equal(plumb_db_errpos(db), 15);
	assert_int_equal(plumb_db_query(db, "SELECT nope FROM t_int"), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "column \"nope\" does not exist at character 8");
	/* DETAIL and HINT come along. */
	assert_int_equal(plumb_db_query(db, "SELECT t_int.nope FROM t_int t"), PLUMB_EDB);
	assert_non_null(strstr(plumb_db_errmsg(db), "\nHINT: "));
	assert_int_equal(plumb_db_query(db, "SELECT FROM t_int"), PLUMB_EDB);
	assert_non_null(strstr(plumb_db_errmsg(db), "returns no rows"));
	assert_int_equal(plumb_db_query(db, " ;\n "), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "the query is empty");
	/* The session is read-only. */
	assert_int_equal(plumb_db_query(db, "INSERT INTO t_bool VALUES (9, true) RETURNING id"), 0);
	const plumb_value *row;
	assert_int_equal(plumb_db_next(db, &row), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db),
	                    "cannot execute INSERT in a read-only transaction");
	/* An error in the middle of the rows: the rows before it, then it. */
	assert_int_equal(plumb_db_query(db, "SELECT i, 1 / (3 - i) AS x "
	                                    "FROM generate_series(1, 5) i"),
	                 0);
	assert_int_equal(plumb_db_next(db, &row), 1);
	assert_int_equal(row[0].i, 1);
	assert_int_equal(plumb_db_next(db, &row), 1);
	assert_int_equal(row[0].i, 2);
	assert_int_equal(plumb_db_next(db, &row), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "division by zero");
	assert_int_equal(plumb_db_errpos(db), 0);
	/* Trailing ';' and a trailing comment are fine; the connection goes on. */
	char *got = export_sql(db, "SELECT 1 AS x -- the end", "ndjson", NULL);
	assert_string_equal(got, "{\"x\":1}\n");
	free(got);
	got = export_sql(db, "SELECT 2 AS x;;\n", "ndjson", NULL);
	assert_string_equal(got, "{\"x\":2}\n");
	free(got);
	plumb_db_close(db);
}

static void test_pg_connection_errors(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	const char *port = getenv("PGPORT");
	char source[256];
	plumb_db *db = (plumb_db *)1;
	char err[1024];
	assert_int_equal(
	        plumb_db_open(&db, "postgresql://127.0.0.1:notaport/plumb", err, sizeof err),
	        PLUMB_EDB);
	assert_null(db);
	assert_non_null(
	        strstr(err, "invalid integer value \"notaport\" for connection option \"port\""));
	assert_int_equal(
	        plumb_db_open(&db, "postgresql://plumb@127.0.0.1:1/plumb", err, sizeof err),
	        PLUMB_EDB);
	assert_non_null(strstr(err, "Connection refused"));
	assert_int_equal(plumb_db_open(&db, "postgres:host=127.0.0.1 port=1", err, sizeof err),
	                 PLUMB_EDB);
	assert_non_null(strstr(err, "Connection refused"));
	assert_int_equal(plumb_db_open(&db, "postgresql://[::1", err, sizeof err), PLUMB_EDB);
	assert_non_null(strstr(err, "IPv6"));
	snprintf(source, sizeof source, "postgresql://plumb@127.0.0.1:%s/no_such_db", port);
	assert_int_equal(plumb_db_open(&db, source, err, sizeof err), PLUMB_EDB);
	assert_non_null(strstr(err, "database \"no_such_db\" does not exist"));
	snprintf(source, sizeof source, "postgresql://nobody@127.0.0.1:%s/plumb", port);
	assert_int_equal(plumb_db_open(&db, source, err, sizeof err), PLUMB_EDB);
	assert_non_null(strstr(err, "role \"nobody\" does not exist"));
	snprintf(source, sizeof source, "postgresql://127.0.0.1:%s/plumb?nosuchoption=1", port);
	assert_int_equal(plumb_db_open(&db, source, err, sizeof err), PLUMB_EDB);
	assert_non_null(strstr(err, "nosuchoption"));
	/* The PG* environment (set for this server), alone or completed. */
	static const char *const env_sources[] = {"postgres:", "postgresql:", "postgres:plumb",
	                                          "postgresql:dbname=plumb application_name=t"};
	for (size_t i = 0; i < sizeof env_sources / sizeof env_sources[0]; i++) {
		db = open_ok(env_sources[i]);
		char *got = export_sql(db, "SELECT current_database() AS db", "ndjson", NULL);
		assert_string_equal(got, "{\"db\":\"plumb\"}\n");
		free(got);
		plumb_db_close(db);
	}
}

static void *pg_interrupter(void *arg)
{
	plumb_db *db = ((void **)arg)[0];
	atomic_int *done = ((void **)arg)[1];
	while (!atomic_load(done)) {
		usleep(50000);
		plumb_db_interrupt(db);
	}
	return NULL;
}

static void test_pg_stop_early(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	plumb_db *db = pg_open();
	/* COPY CSV into a writer that fails on its third write. */
	assert_int_equal(plumb_db_query_table(db, "people"), 0);
	struct probe_writer p = {.w = {&probe_ops}, .fail_after = 2};
	_Atomic uint64_t rows = 0;
	assert_int_equal(plumb_db_copy_csv(db, 1, &p.w, NULL, &rows), -EPIPE);
	assert_int_equal(p.calls, 3);
	assert_true(atomic_load(&rows) > 1000 && atomic_load(&rows) < 10000);
	char *got = export_sql(db, "SELECT count(*) AS n FROM people", "ndjson", NULL);
	assert_string_equal(got, "{\"n\":10000}\n");
	free(got);
	/* COPY CSV cancelled by the flag. */
	assert_int_equal(plumb_db_query(db, "SELECT * FROM people"), 0);
	atomic_int cancel = 1;
	assert_int_equal(plumb_db_copy_csv(db, 0, plumb_discard(), &cancel, NULL), -ECANCELED);
	/* The binary COPY behind an export, into a failing writer. */
	assert_int_equal(plumb_db_query(db, "SELECT * FROM people ORDER BY id"), 0);
	struct probe_writer q = {.w = {&probe_ops}, .fail_after = 1, .err = -EIO};
	plumb_encoder *enc;
	assert_int_equal(plumb_encoder_new(&enc, "ndjson", NULL, &q.w), 0);
	assert_int_equal(plumb_db_export(db, enc, NULL, NULL), -EIO);
	plumb_encoder_free(enc);
	got = export_sql(db, "SELECT max(id) AS n FROM people", "ndjson", NULL);
	assert_string_equal(got, "{\"n\":10000}\n");
	free(got);
	/* A query stopped early by the caller: finish, then the next one. */
	assert_int_equal(plumb_db_query(db, "SELECT * FROM people"), 0);
	const plumb_value *row;
	assert_int_equal(plumb_db_next(db, &row), 1);
	plumb_db_finish(db);
	got = export_sql(db, "SELECT 3 AS n", "ndjson", NULL);
	assert_string_equal(got, "{\"n\":3}\n");
	free(got);
	/* A long query interrupted from another thread. */
	assert_int_equal(plumb_db_query(db, "SELECT pg_sleep(60)"), 0);
	atomic_int done = 0;
	void *arg[2] = {db, &done};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, pg_interrupter, arg), 0);
	int rc = plumb_db_next(db, &row);
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	assert_int_equal(rc, PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "canceling statement due to user request");
	got = export_sql(db, "SELECT 4 AS n", "ndjson", NULL);
	assert_string_equal(got, "{\"n\":4}\n");
	free(got);
	plumb_db_close(db);
}

static void test_pg_tables_and_count(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	plumb_db *db = pg_open();
	/* --table and the query give the same rows. */
	assert_int_equal(plumb_db_query_table(db, "t_bool"), 0);
	char *a = export_current(db, "ndjson", NULL, NULL);
	char *b = export_sql(db, "SELECT * FROM t_bool", "ndjson", NULL);
	assert_string_equal(a, b);
	free(a);
	free(b);
	/* Names that need quoting, schema-qualified, a view. */
	char name[128], quoted[160];
	snprintf(name, sizeof name, "public.%s", weird_table);
	const char *forms[3] = {weird_table, name, quoted};
	char *q = quoted;
	q += sprintf(q, "\"");
	for (const char *s = weird_table; *s; s++) {
		if (*s == '"')
			*q++ = '"';
		*q++ = *s;
	}
	sprintf(q, "\"");
	for (int i = 0; i < 3; i++) {
		int rc = plumb_db_query_table(db, forms[i]);
		if (rc != 0)
			fail_msg("table %s: %s", forms[i], plumb_db_errmsg(db));
		char *got = export_current(db, "ndjson", NULL, NULL);
		assert_string_equal(got, "{\"id\":1,\"v\":\"weird\"}\n{\"id\":2,\"v\":null}\n");
		free(got);
		int64_t count;
		assert_int_equal(plumb_db_count(db, forms[i], PLUMB_DB_COUNT_EXACT, &count), 1);
		assert_int_equal(count, 2);
	}
	snprintf(name, sizeof name, "plumb_test_view_%d", (int)getpid());
	assert_int_equal(plumb_db_query_table(db, name), 0);
	size_t len;
	char *csv = copy_current(db, 1, &len, NULL);
	assert_int_equal(len, strlen("id,name\n1,Person 1\n2,Person 2\n3,Person 3\n"));
	assert_memory_equal(csv, "id,name\n1,Person 1\n2,Person 2\n3,Person 3\n", len);
	free(csv);
	assert_int_equal(plumb_db_query_table(db, name), 0);
	char *got = export_current(db, "ndjson", NULL, NULL);
	assert_string_equal(got,
	                    "{\"id\":1,\"name\":\"Person 1\"}\n{\"id\":2,\"name\":\"Person 2\"}\n"
	                    "{\"id\":3,\"name\":\"Person 3\"}\n");
	free(got);
	assert_int_equal(plumb_db_query_table(db, "no_such_table"), PLUMB_EDB);
	assert_string_equal(plumb_db_errmsg(db), "relation \"no_such_table\" does not exist");
	assert_int_equal(plumb_db_errpos(db), 0);
	/* Counting: the planner's estimate (the fixtures were analyzed) or count(*). */
	int64_t count;
	assert_int_equal(plumb_db_count(db, "people", PLUMB_DB_COUNT_CHEAP, &count), 0);
	assert_true(count >= 5000 && count <= 20000);
	assert_int_equal(plumb_db_count(db, "public.people", PLUMB_DB_COUNT_EXACT, &count), 1);
	assert_int_equal(count, 10000);
	assert_int_equal(plumb_db_count(db, "t_empty", PLUMB_DB_COUNT_EXACT, &count), 1);
	assert_int_equal(count, 0);
	assert_int_equal(plumb_db_count(db, "nope", PLUMB_DB_COUNT_CHEAP, &count), PLUMB_EDB);
	assert_non_null(strstr(plumb_db_errmsg(db), "\"nope\" does not exist"));
	assert_int_equal(count, -1);
	plumb_db_close(db);
}

static void test_pg_catalog_types(void **state)
{
	(void)state;
	SKIP_WITHOUT_PG();
	plumb_db *db = pg_open();
	/* Enums, domains and arrays of them are decoded by their send
	 * functions; composites and ranges are cast to text on the server,
	 * whatever the column names (two are called a). */
	EXPECT_EXPORT(
	        db,
	        "SELECT ARRAY['sad', 'happy']::fx_mood[] AS moods, ARRAY[1, 2]::fx_posint[] "
	        "AS posints, 7::fx_posint AS pos, ROW(1, 'x')::fx_pair AS pair, "
	        "ARRAY[ROW(1, 'x')::fx_pair] AS pairs, '[1,5)'::int4range AS r, 1 AS a, "
	        "'(1,2)'::point AS a",
	        "ndjson", NULL,
	        "{\"moods\":[\"sad\",\"happy\"],\"posints\":[1,2],\"pos\":7,\"pair\":\"(1,x)\","
	        "\"pairs\":\"{\\\"(1,x)\\\"}\",\"r\":\"[1,5)\",\"a\":1,\"a\":\"(1,2)\"}\n");
	assert_int_equal(plumb_db_query(db, "SELECT 'ok'::fx_mood AS m, ROW(1, 'x')::fx_pair AS p"),
	                 0);
	assert_string_equal(plumb_db_column_at(db, 0)->type, "fx_mood");
	assert_string_equal(plumb_db_column_at(db, 1)->type, "fx_pair");
	/* Multi-dimensional arrays of several types; empty and NULL ones. */
	EXPECT_EXPORT(db,
	              "SELECT ARRAY[[1.5, 2], [3, 4]]::float8[] AS f, "
	              "ARRAY[[true], [false]] AS b, ARRAY[date '2024-01-02'] AS d, "
	              "ARRAY[]::int[] AS e, NULL::int[] AS n, ARRAY['{\"a\":1}'::jsonb] AS j, "
	              "ARRAY['\\x00ff'::bytea] AS y",
	              "ndjson", NULL,
	              "{\"f\":[[1.5,2],[3,4]],\"b\":[[true],[false]],\"d\":[\"2024-01-02\"],"
	              "\"e\":[],\"n\":null,\"j\":[{\"a\": 1}],\"y\":[\"AP8=\"]}\n");
	plumb_db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sqlite_missing_file),
	        cmocka_unit_test(test_sqlite_not_a_database),
	        cmocka_unit_test(test_sources_and_schemes),
	        cmocka_unit_test(test_sqlite_every_type),
	        cmocka_unit_test(test_sqlite_sql_errors),
	        cmocka_unit_test(test_sqlite_streams_in_bounded_memory),
	        cmocka_unit_test(test_sqlite_table_names),
	        cmocka_unit_test(test_sqlite_interrupt),
	        cmocka_unit_test(test_export_stops_on_write_error_and_cancel),
	        cmocka_unit_test(test_export_into_closed_pipe),
	        cmocka_unit_test(test_pg_fixtures_ndjson),
	        cmocka_unit_test(test_pg_long_values),
	        cmocka_unit_test(test_pg_people),
	        cmocka_unit_test(test_pg_values_against_server_text),
	        cmocka_unit_test(test_pg_copy_csv_matches_psql),
	        cmocka_unit_test(test_pg_sql_errors),
	        cmocka_unit_test(test_pg_connection_errors),
	        cmocka_unit_test(test_pg_stop_early),
	        cmocka_unit_test(test_pg_tables_and_count),
	        cmocka_unit_test(test_pg_catalog_types),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
