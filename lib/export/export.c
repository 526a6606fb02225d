/*
 * export.c - the export pipeline: rows -> encoder -> [compressor] -> pipe
 * -> tee (SHA-256, byte count) -> destination.
 *
 * The producer thread owns the database cursor, the encoder and the
 * compressor; the calling thread owns the destination.  The synchronous
 * pipe between them is the only thing they share, so a failure on either
 * side travels to the other as the pipe's close error: a destination that
 * fails closes the read side (the producer's next write returns the error
 * and it stops), a query that fails closes the write side (the destination's
 * next read returns the error and it aborts).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <plumb/compress.h>
#include <plumb/db.h>
#include <plumb/export.h>
#include <plumb/hash.h>

#include "file-sink.h"

void plumb_export_options_init(plumb_export_options *o)
{
	memset(o, 0, sizeof *o);
	plumb_http_options_init(&o->http);
	plumb_s3_options_init(&o->s3);
}

const char *plumb_export_dest_kind(const char *dest)
{
	if (!dest || !strcmp(dest, "-"))
		return "stdout";
	if (!strncmp(dest, "http://", 7) || !strncmp(dest, "https://", 8))
		return "http";
	if (!strncmp(dest, "s3://", 5))
		return "s3";
	return "file";
}

/*
 * The cancel watcher.  A signal handler can only set a flag, and neither a
 * query that is busy on the server (a sort, a lock wait) nor a destination
 * waiting in a pipe read looks at it.  This thread does, every tick: once
 * *cancel is nonzero it interrupts the query (again every second, in case the
 * first interrupt came between two statements) and closes the pipe with
 * -ECANCELED, which wakes both sides, so that each stops at once.
 */
struct watch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const _Atomic int *cancel;
	plumb_db *db;     /* once open */
	plumb_pipe *pipe; /* once made */
	bool stop;
	bool running;
	pthread_t thread;
};

enum { WATCH_TICK_MS = 50, WATCH_INTERRUPT_TICKS = 20 };

static void *watch_loop(void *arg)
{
	struct watch *w = arg;
	unsigned ticks = 0;
	bool pipe_closed = false;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (atomic_load(w->cancel)) {
			if (w->db && ticks++ % WATCH_INTERRUPT_TICKS == 0)
				plumb_db_interrupt(w->db);
			if (w->pipe && !pipe_closed) {
				/* wakes both sides: reads return -ECANCELED */
				plumb_pipe_close_write(w->pipe, -ECANCELED);
				pipe_closed = true;
			}
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += WATCH_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &until);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void watch_start(struct watch *w, const _Atomic int *cancel)
{
	*w = (struct watch){.cancel = cancel};
	if (!cancel)
		return;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* without the thread, cancel is still seen between rows */
	w->running = pthread_create(&w->thread, NULL, watch_loop, w) == 0;
}

/* Lets the watcher see the database or the pipe once they exist. */
static void watch_set(struct watch *w, plumb_db *db, plumb_pipe *pipe)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->mu);
	if (db)
		w->db = db;
	if (pipe)
		w->pipe = pipe;
	pthread_mutex_unlock(&w->mu);
}

/* Stops the watcher; after this nothing touches the database or the pipe. */
static void watch_stop(struct watch *w)
{
	if (!w->cancel)
		return;
	if (w->running) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

/* Everything one export holds, so that one function can free it. */
struct job {
	const plumb_export_options *o;
	plumb_export_stats *st;
	struct watch watch;
	plumb_db *db;
	plumb_pipe *pipe;
	bool pg_csv;  /* PostgreSQL's own COPY ... CSV produces the bytes */
	int produced; /* the producer's result */
	char produce_err[512];
};

/* A writer that only counts, for the progress line (the hash counts too,
 * but only the consumer's thread may look at it). */
struct counter {
	plumb_writer writer;
	_Atomic uint64_t *bytes;
};

static ssize_t count_write(plumb_writer *w, const void *buf, size_t len)
{
	(void)buf;
	struct counter *c = PLUMB_CONTAINER_OF(w, struct counter, writer);
	atomic_fetch_add_explicit(c->bytes, len, memory_order_relaxed);
	return (ssize_t)len;
}

static const plumb_writer_ops counter_ops = {.write = count_write};

static const char *content_type(const plumb_export_options *o)
{
	if (o->compress)
		return !strcmp(plumb_compress_suffix(o->compress), ".zst") ? "application/zstd"
		                                                           : "application/gzip";
	if (o->format && !strcasecmp(o->format, "csv"))
		return "text/csv; charset=utf-8";
	if (o->format && !strcasecmp(o->format, "json"))
		return "application/json";
	return "application/x-ndjson";
}

/* The encoder (or PostgreSQL's COPY) writing into out; returns rows or < 0. */
static int64_t encode_rows(struct job *j, plumb_writer *out)
{
	const plumb_export_options *o = j->o;
	if (j->pg_csv)
		return plumb_db_copy_csv(j->db, !o->encode.no_header, out, o->cancel, &j->st->rows);
	plumb_encoder *enc;
	int rc = plumb_encoder_new(&enc, o->format ? o->format : "ndjson", &o->encode, out);
	if (rc < 0)
		return rc;
	int64_t rows = plumb_db_export(j->db, enc, o->cancel, &j->st->rows);
	plumb_encoder_free(enc);
	return rows;
}

static void *produce(void *arg)
{
	struct job *j = arg;
	const plumb_export_options *o = j->o;
	plumb_writer *out = plumb_pipe_writer(j->pipe), *z = NULL;
	int rc = 0;
	if (o->compress)
		rc = plumb_compress_writer_new(&z, o->compress, o->compress_level, out);
	if (rc == 0) {
		int64_t rows = encode_rows(j, z ? z : out);
		rc = rows < 0 ? (int)rows : 0;
	}
	if (rc == 0 && z)
		rc = plumb_writer_close(z);
	if (rc == PLUMB_EDB)
		snprintf(j->produce_err, sizeof j->produce_err, "%s", plumb_db_errmsg(j->db));
	plumb_writer_free(z);
	j->produced = rc;
	/* the consumer sees our end: EOF, or the error that stopped us */
	plumb_pipe_close_write(j->pipe, rc);
	return NULL;
}

static int to_fd(int fd, plumb_reader *src)
{
	/* reads as large as the encoder's writes: one pipe hand-over each */
	enum { chunk = 2 * PLUMB_ENCODE_BUFSIZE };
	plumb_writer *w = plumb_fd_writer_new(fd, 0);
	void *buf = malloc(chunk);
	int64_t n = w && buf ? plumb_copy_buffer(w, src, buf, chunk) : -ENOMEM;
	free(buf);
	plumb_writer_free(w);
	return n < 0 ? (int)n : 0;
}

static int to_stdout(struct job *j, plumb_reader *src)
{
	int rc = to_fd(STDOUT_FILENO, src);
	if (rc < 0 && rc != j->produced)
		snprintf(j->st->message, sizeof j->st->message, "standard output: %s",
		         plumb_strerror(rc));
	return rc;
}

static int to_file(struct job *j, plumb_reader *src)
{
	plumb_export_stats *st = j->st;
	struct file_sink s;
	int rc = file_sink_open(&s, j->o->dest, j->o->file_mode, st->message, sizeof st->message);
	if (rc < 0)
		return rc;
	rc = to_fd(s.fd, src);
	if (rc < 0) {
		if (rc != j->produced)
			snprintf(st->message, sizeof st->message, "%s: %s", j->o->dest,
			         plumb_strerror(rc));
		file_sink_abort(&s);
		return rc;
	}
	return file_sink_commit(&s, st->message, sizeof st->message);
}

static int to_http(struct job *j, plumb_reader *src)
{
	plumb_http_options h = j->o->http;
	h.url = j->o->dest;
	h.cancel = j->o->cancel;
	if (!h.content_type)
		h.content_type = content_type(j->o);
	plumb_http_result res;
	int rc = plumb_http_send(&h, src, &res);
	j->st->http_status = res.status;
	if (rc < 0)
		snprintf(j->st->message, sizeof j->st->message, "%s", res.message);
	plumb_http_result_release(&res);
	return rc;
}

static int to_s3(struct job *j, plumb_reader *src)
{
	plumb_export_stats *st = j->st;
	plumb_s3_options s = j->o->s3;
	char *bucket, *key;
	int rc = plumb_s3_parse_url(j->o->dest, &bucket, &key, st->message, sizeof st->message);
	if (rc < 0)
		return rc;
	s.bucket = bucket;
	s.key = key;
	if (!s.content_type)
		s.content_type = content_type(j->o);
	plumb_s3_result res;
	rc = plumb_s3_upload(&s, src, j->o->cancel, &res);
	snprintf(st->etag, sizeof st->etag, "%s", res.etag);
	st->parts = res.parts;
	st->retries = res.retries;
	if (rc < 0)
		snprintf(st->message, sizeof st->message, "%s", res.message);
	plumb_s3_result_release(&res);
	free(bucket);
	free(key);
	return rc;
}

/* The consumer: the pipe, through the tee, into the destination. */
static int consume(struct job *j, plumb_reader *src)
{
	const char *kind = j->st->dest_kind;
	if (!strcmp(kind, "stdout"))
		return to_stdout(j, src);
	if (!strcmp(kind, "http"))
		return to_http(j, src);
	if (!strcmp(kind, "s3"))
		return to_s3(j, src);
	return to_file(j, src);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens the database and starts the query, so that a bad source or bad SQL
 * is reported before any destination is touched. */
static int start_query(struct job *j)
{
	const plumb_export_options *o = j->o;
	plumb_export_stats *st = j->st;
	int rc = plumb_db_open(&j->db, o->source, st->message, sizeof st->message);
	if (rc < 0)
		return rc;
	watch_set(&j->watch, j->db, NULL);
	if (o->table && o->count_rows) {
		int64_t n;
		int exact = plumb_db_count(j->db, o->table, PLUMB_DB_COUNT_CHEAP, &n);
		if (exact >= 0) {
			/* the kind first: a reader that sees the count sees it too */
			atomic_store(&st->total_exact, exact);
			atomic_store(&st->total_rows, n);
		}
	}
	rc = o->table ? plumb_db_query_table(j->db, o->table) : plumb_db_query(j->db, o->query);
	if (rc < 0) {
		/* the database's words when it has some ("empty table name", ...) */
		const char *why = plumb_db_errmsg(j->db);
		snprintf(st->message, sizeof st->message, "%s",
		         why && *why ? why : plumb_strerror(rc));
		return rc;
	}
	j->pg_csv = o->format && !strcasecmp(o->format, "csv") &&
	            !strcmp(plumb_db_driver(j->db), "postgresql");
	return 0;
}

static int check_options(const plumb_export_options *o, plumb_export_stats *st)
{
	if (!o->source || (!o->query == !o->table)) {
		snprintf(st->message, sizeof st->message, "give a query or a table (not both)");
		return -EINVAL;
	}
	bool known = false;
	for (const char *const *f = plumb_encoder_formats(); *f; f++)
		known |= !strcasecmp(*f, o->format ? o->format : "ndjson");
	if (!known) {
		snprintf(st->message, sizeof st->message, "unknown format '%s' (ndjson, csv, json)",
		         o->format);
		return PLUMB_EALGO;
	}
	if (o->compress && !plumb_compress_suffix(o->compress)) {
		snprintf(st->message, sizeof st->message, "unknown compression '%s' (gzip, zstd)",
		         o->compress);
		return PLUMB_EALGO;
	}
	int max = o->compress && !strcmp(plumb_compress_suffix(o->compress), ".zst") ? 19 : 9;
	if (o->compress && (o->compress_level < 0 || o->compress_level > max)) {
		snprintf(st->message, sizeof st->message,
		         "compression level %d is out of range for %s (1-%d)", o->compress_level,
		         o->compress, max);
		return -EINVAL;
	}
	return 0;
}

/* Runs the two sides once the query has started; returns the first error. */
static int pump(struct job *j)
{
	plumb_export_stats *st = j->st;
	plumb_hash *sha;
	int rc = plumb_hash_new(&sha, "sha256");
	if (rc < 0)
		return rc;
	j->pipe = plumb_pipe_new();
	if (j->pipe)
		watch_set(&j->watch, NULL, j->pipe);
	struct counter count = {{&counter_ops}, &st->bytes};
	/* the byte count always; the SHA-256 unless asked not to */
	plumb_writer *both[] = {&count.writer, plumb_hash_writer(sha)};
	plumb_writer *side = plumb_multi_writer_new(both, j->o->no_checksum ? 1 : 2);
	plumb_reader *tee =
	        side && j->pipe ? plumb_tee_reader_new(plumb_pipe_reader(j->pipe), side) : NULL;
	pthread_t producer;
	if (!tee || pthread_create(&producer, NULL, produce, j) != 0) {
		plumb_reader_free(tee);
		plumb_writer_free(side);
		plumb_hash_free(sha);
		return -ENOMEM;
	}

	rc = consume(j, tee);
	/* a failed destination must not leave the producer blocked in a write */
	plumb_pipe_close_read(j->pipe, rc < 0 ? rc : PLUMB_ECLOSED);
	pthread_join(producer, NULL);

	if (j->produced < 0 && (rc == 0 || rc == j->produced)) {
		/* the query failed: its message is the one that matters */
		rc = j->produced;
		if (j->produce_err[0])
			snprintf(st->message, sizeof st->message, "%s", j->produce_err);
		else if (!st->message[0])
			snprintf(st->message, sizeof st->message, "%s", plumb_strerror(rc));
	}
	if (rc == 0 && !j->o->no_checksum)
		plumb_hash_hex(sha, st->sha256, sizeof st->sha256);
	plumb_reader_free(tee);
	plumb_writer_free(side);
	plumb_hash_free(sha);
	return rc;
}

/* A failure that a cancel caused is a cancel, whatever the side that saw it
 * first says (the query "interrupted", the pipe closed...); what S3 said is
 * kept, as it tells whether an upload was aborted. */
static int cancelled(struct job *j)
{
	plumb_export_stats *st = j->st;
	char said[sizeof st->message];
	snprintf(said, sizeof said, "%s", !strcmp(st->dest_kind, "s3") ? st->message : "");
	int n = snprintf(st->message, sizeof st->message, "cancelled after %llu rows",
	                 (unsigned long long)atomic_load(&st->rows));
	size_t used = n > 0 ? (size_t)n : 0;
	if (said[0] && used + 4 < sizeof st->message) {
		/* cut what S3 said to the room left */
		int room = (int)(sizeof st->message - used - 4);
		snprintf(st->message + used, sizeof st->message - used, " (%.*s)", room, said);
	}
	return -ECANCELED;
}

int plumb_export_run(const plumb_export_options *o, plumb_export_stats *st)
{
	memset(st, 0, sizeof *st);
	st->total_rows = -1;
	snprintf(st->dest_kind, sizeof st->dest_kind, "%s", plumb_export_dest_kind(o->dest));
	double t0 = now();
	struct job j = {.o = o, .st = st};
	int rc = check_options(o, st);
	if (rc == 0) {
		watch_start(&j.watch, o->cancel);
		rc = start_query(&j);
		if (rc == 0)
			rc = pump(&j);
		watch_stop(&j.watch);
	}
	if (rc < 0 && o->cancel && atomic_load(o->cancel))
		rc = cancelled(&j);
	if (rc < 0 && !st->message[0])
		snprintf(st->message, sizeof st->message, "%s", plumb_strerror(rc));
	st->seconds = now() - t0;
	if (j.pipe)
		plumb_pipe_free(j.pipe);
	plumb_db_close(j.db);
	return rc;
}
