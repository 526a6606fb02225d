/*
 * plumb/export.h - a database query streamed to stdout, a file, an HTTP
 * endpoint or S3, in constant memory, with its SHA-256 computed on the way.
 *
 * The pipeline is the one of Go's io.Pipe note: a producer thread steps
 * through the rows, encodes them (plumb/encode.h) and, when asked,
 * compresses them (plumb/compress.h) into a synchronous pipe; the calling
 * thread reads the pipe through a tee that hashes and counts every byte and
 * hands it to the destination.  Nothing holds the whole result: each side
 * waits for the other, so the database is read exactly as fast as the
 * destination takes the bytes.
 *
 * A file destination appears whole or not at all (written under a temporary
 * name beside it, fsynced, renamed into place; a symbolic link is followed;
 * what is not a regular file, such as /dev/null or a FIFO, is written in
 * place); an S3 upload that fails or is cancelled is aborted; nothing is
 * left behind by a failed export.
 *
 * Cancelling: when options.cancel is given, a watcher thread looks at it
 * every 50 ms and, once it is nonzero, interrupts the query on the database
 * and closes the pipe, so that a query busy on the server or a destination
 * waiting for bytes stops too, and the export fails with -ECANCELED.
 */
#ifndef PLUMB_EXPORT_H
#define PLUMB_EXPORT_H

#include <stdatomic.h>
#include <stdint.h>

#include <plumb/encode.h>
#include <plumb/http.h>
#include <plumb/s3.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What to do when a destination file exists. */
enum plumb_export_file_mode {
	PLUMB_EXPORT_CREATE = 0, /* fail: the file exists */
	PLUMB_EXPORT_FORCE,      /* replace it, atomically */
	PLUMB_EXPORT_APPEND,     /* add to it; on failure it is cut back to its old length */
};

typedef struct plumb_export_options {
	const char *source; /* a SQLite file or a PostgreSQL URI (plumb/db.h) */
	const char *query;  /* the SQL, or NULL when table is given */
	const char *table;  /* a whole table, or NULL */
	const char *format; /* "ndjson" (the default when NULL), "csv", "json" */
	plumb_encode_options encode;
	const char *compress; /* NULL, "gzip" or "zstd" */
	int compress_level;   /* 0: the format's default */
	/* NULL or "-": standard output; "http://..." or "https://...";
	 * "s3://bucket/key"; anything else is a file path. */
	const char *dest;
	int file_mode;             /* enum plumb_export_file_mode */
	int count_rows;            /* nonzero: learn the row count first (tables only) */
	int no_checksum;           /* nonzero: skip the SHA-256 (st->sha256 stays empty) */
	plumb_http_options http;   /* for HTTP: url is taken from dest */
	plumb_s3_options s3;       /* for S3: bucket and key are taken from dest */
	const _Atomic int *cancel; /* nonzero stops the export (may be NULL) */
} plumb_export_options;

/* What an export did.  rows, bytes and the total move while it runs, so
 * another thread may read them for a progress line. */
typedef struct plumb_export_stats {
	_Atomic uint64_t rows;      /* rows read and encoded */
	_Atomic uint64_t bytes;     /* bytes handed to the destination */
	_Atomic int64_t total_rows; /* the row count learned first, or -1 */
	_Atomic int total_exact;    /* total_rows is exact, not an estimate */
	char dest_kind[8];          /* "stdout", "file", "http" or "s3" */
	char sha256[65];            /* hex SHA-256 of exactly the bytes sent */
	double seconds;             /* wall time from start to the destination's end */
	long http_status;           /* HTTP: the reply's status */
	char etag[128];             /* S3: the object's ETag */
	unsigned parts;             /* S3: parts uploaded (0: one PutObject) */
	unsigned retries;           /* S3: requests repeated after a failure */
	char message[1024];         /* what went wrong, for a person; "" on success */
} plumb_export_stats;

/* Fills o with the defaults (plumb_http_options_init, plumb_s3_options_init,
 * everything else NULL or 0). */
void plumb_export_options_init(plumb_export_options *o);

/* The kind of destination dest names: "stdout", "file", "http" or "s3". */
const char *plumb_export_dest_kind(const char *dest);

/*
 * plumb_export_run - run the export o describes, filling st as it goes
 * (st is initialised here).  Returns 0, or a negative error with the
 * reason in st->message: the database's (PLUMB_EDB, with the position of a
 * SQL error), the destination's (the file's errno, PLUMB_ESERVER for HTTP
 * and S3 with the server's words), -ECANCELED, PLUMB_EALGO for an unknown
 * format or compression.
 */
int plumb_export_run(const plumb_export_options *o, plumb_export_stats *st);

#ifdef __cplusplus
}
#endif
#endif
