/*
 * bench_export_encode.c - a database query through an encoder into a writer
 * that keeps nothing: what `plumb export` costs before compression and I/O.
 *
 * Usage: bench_export_encode SOURCE FORMAT QUERY|@TABLE [copy]
 *   SOURCE  as plumb_db_open takes it (a SQLite file, postgres://...)
 *   FORMAT  ndjson, json or csv
 *   @TABLE  plumb_db_query_table instead of a query
 *   copy    CSV by PostgreSQL's COPY (plumb_db_copy_csv), not the encoder
 * Prints "rows N bytes N seconds S" (wall time from the query to the last
 * byte; for PostgreSQL that includes the server's work, as a user sees it).
 * bench/export_encode.sh runs it side by side with sqlite3 and psql.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <plumb/encode.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Counts the bytes and drops them. */
struct counter {
	plumb_writer w;
	uint64_t bytes;
};

static ssize_t count_write(plumb_writer *w, const void *buf, size_t len)
{
	(void)buf;
	PLUMB_CONTAINER_OF(w, struct counter, w)->bytes += len;
	return (ssize_t)len;
}

static const plumb_writer_ops count_ops = {.write = count_write};

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s SOURCE ndjson|json|csv QUERY|@TABLE [copy]\n", argv[0]);
		return 2;
	}
	const char *source = argv[1], *format = argv[2], *query = argv[3];
	int copy = argc > 4 && strcmp(argv[4], "copy") == 0;
	char err[1024];
	plumb_db *db;
	int rc = plumb_db_open(&db, source, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "bench_export_encode: %s\n", err);
		return 1;
	}
	struct counter out = {.w = {&count_ops}};
	double t0 = now();
	rc = query[0] == '@' ? plumb_db_query_table(db, query + 1) : plumb_db_query(db, query);
	int64_t rows = rc;
	if (rc == 0 && copy) {
		rows = plumb_db_copy_csv(db, 1, &out.w, NULL, NULL);
	} else if (rc == 0) {
		plumb_encoder *enc;
		rc = plumb_encoder_new(&enc, format, NULL, &out.w);
		rows = rc < 0 ? rc : plumb_db_export(db, enc, NULL, NULL);
		plumb_encoder_free(enc);
	}
	double t1 = now();
	if (rows < 0) {
		fprintf(stderr, "bench_export_encode: %s: %s\n", plumb_strerror((int)rows),
		        plumb_db_errmsg(db));
		plumb_db_close(db);
		return 1;
	}
	printf("rows %lld bytes %llu seconds %.4f\n", (long long)rows,
	       (unsigned long long)out.bytes, t1 - t0);
	plumb_db_close(db);
	return 0;
}
