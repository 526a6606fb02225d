/*
 * export.c - `plumb export`: a database query streamed to stdout, a file, an
 * HTTP endpoint or S3, in constant memory, with its SHA-256 on the way.
 *
 * This file is the command's face only: options, the progress line, the
 * summary, signals.  The pipeline itself is libplumb's plumb_export_run.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <plumb/compress.h>
#include <plumb/export.h>

#include "cmd.h"

static const char usage_text[] =
        "Usage: plumb export SOURCE QUERY [OPTION]...\n"
        "       plumb export SOURCE --table TABLE [OPTION]...\n"
        "Stream the rows of a query to standard output, a file, an HTTP endpoint or\n"
        "S3, in constant memory, with the SHA-256 of what was sent.\n"
        "\n"
        "SOURCE is a SQLite file (file.db, sqlite:file.db) or PostgreSQL\n"
        "(postgres://..., postgresql://..., or postgres: alone for the PG* environment).\n"
        "\n"
        "What to send:\n"
        "  -t, --table TABLE        every row of TABLE (instead of QUERY)\n"
        "  -f, --format FORMAT      ndjson (default), csv or json (one array)\n"
        "      --no-header          csv: no header line\n"
        "      --numeric-as-number  json: NUMERIC values as numbers, not strings\n"
        "  -z, --compress ALGO      gzip or zstd\n"
        "      --level N            compression level (gzip 1-9, zstd 1-19)\n"
        "\n"
        "Where to send it:\n"
        "  -o, --to DEST            - (stdout, the default), a file path,\n"
        "                           http(s)://... (one chunked POST) or s3://bucket/key\n"
        "      --force              replace an existing file (atomically)\n"
        "      --append             add to an existing file\n"
        "\n"
        "HTTP:\n"
        "  -X, --method METHOD      POST (default) or PUT, ...\n"
        "  -H, --header 'K: V'      an extra request header (repeatable)\n"
        "      --cacert FILE        trust the CAs in FILE\n"
        "  -k, --insecure           do not verify the server's certificate\n"
        "      --retries N          attempts again while nothing of the body was sent;\n"
        "                           a stream partly sent is never retried (its bytes\n"
        "                           are gone); default 2\n"
        "\n"
        "S3 (credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,\n"
        "or ~/.aws/credentials with AWS_PROFILE or --profile):\n"
        "      --endpoint URL       an S3-compatible server (path-style addressing)\n"
        "      --region REGION      default: AWS_REGION, AWS_DEFAULT_REGION, the\n"
        "                           profile's, else us-east-1\n"
        "      --profile NAME       the credentials/config profile\n"
        "      --part-size SIZE     multipart part size, at least 5MiB (default 8MiB)\n"
        "      --concurrency N      parts in flight (default 4)\n"
        "      --retries N          retries of a failed request (default 5)\n"
        "      --virtual-hosted     bucket.host addressing even with --endpoint\n"
        "\n"
        "Reporting (on stderr):\n"
        "  -q, --quiet              no progress line, no summary\n"
        "      --progress           the progress line even when stderr is not a terminal\n"
        "      --no-progress        no progress line\n"
        "      --summary-json FILE  also write the summary as JSON to FILE\n"
        "      --no-checksum        skip the SHA-256 of what was sent\n"
        "  -h, --help               this help\n"
        "\n"
        "Exit status: 0 when every row reached the destination; 1 when the export\n"
        "failed (nothing is left behind: no file, no S3 object or upload); 2 for bad\n"
        "usage; 130 or 143 when interrupted by SIGINT or SIGTERM.\n";

enum {
	OPT_NO_HEADER = 256,
	OPT_NUMERIC,
	OPT_LEVEL,
	OPT_FORCE,
	OPT_APPEND,
	OPT_CACERT,
	OPT_RETRIES,
	OPT_ENDPOINT,
	OPT_REGION,
	OPT_PROFILE,
	OPT_PART_SIZE,
	OPT_CONCURRENCY,
	OPT_VHOST,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_SUMMARY_JSON,
	OPT_NO_CHECKSUM,
};

static const struct option long_options[] = {
        {"table", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {"no-header", no_argument, NULL, OPT_NO_HEADER},
        {"numeric-as-number", no_argument, NULL, OPT_NUMERIC},
        {"compress", required_argument, NULL, 'z'},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"to", required_argument, NULL, 'o'},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"append", no_argument, NULL, OPT_APPEND},
        {"method", required_argument, NULL, 'X'},
        {"header", required_argument, NULL, 'H'},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"insecure", no_argument, NULL, 'k'},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"region", required_argument, NULL, OPT_REGION},
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"part-size", required_argument, NULL, OPT_PART_SIZE},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"virtual-hosted", no_argument, NULL, OPT_VHOST},
        {"quiet", no_argument, NULL, 'q'},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"summary-json", required_argument, NULL, OPT_SUMMARY_JSON},
        {"no-checksum", no_argument, NULL, OPT_NO_CHECKSUM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
};

struct settings {
	plumb_export_options o;
	const char **headers;
	size_t nheaders;
	int quiet;
	int progress; /* -1: when stderr is a terminal */
	const char *summary_json;
	const char *level_arg; /* --level as given, for messages */
};

/* The signal that asked us to stop, or 0; what the pipeline polls. */
static _Atomic int cancel_flag;

static void on_signal(int sig)
{
	atomic_store(&cancel_flag, sig);
	/* a second signal ends the process the usual way */
	signal(sig, SIG_DFL);
}

static void handle_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int try_help(void)
{
	fprintf(stderr, "Try 'plumb export --help' for more information.\n");
	return 2;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog_name);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return try_help();
}

static int parse_count(const char *s, uint64_t max, const char *what, int *out)
{
	uint64_t v;
	if (!parse_uint(s, max, &v))
		return usage_error(what, s);
	*out = (int)v;
	return 0;
}

/* The choices the library would refuse only once the query runs: format,
 * compression and its level, the S3 URL.  Returns 0 or the exit status 2. */
static int check_choices(const struct settings *st, int level_given)
{
	const plumb_export_options *o = &st->o;
	int known = 0;
	for (const char *const *f = plumb_encoder_formats(); *f; f++)
		known |= !strcasecmp(*f, o->format ? o->format : "ndjson");
	if (!known)
		return usage_error("unknown format '%s' (ndjson, csv, json)", o->format);
	if (o->compress && !plumb_compress_suffix(o->compress))
		return usage_error("unknown compression '%s' (gzip, zstd)", o->compress);
	if (level_given && !o->compress)
		return usage_error("%s", "--level needs --compress");
	if (o->compress && !strcmp(plumb_compress_suffix(o->compress), ".gz") &&
	    o->compress_level > 9)
		return usage_error("compression level %s is out of range for gzip (1-9)",
		                   st->level_arg);
	if (!strcmp(plumb_export_dest_kind(o->dest), "s3")) {
		char *bucket, *key, err[256];
		if (plumb_s3_parse_url(o->dest, &bucket, &key, err, sizeof err) < 0)
			return usage_error("%s", err);
		free(bucket);
		free(key);
	}
	return 0;
}

/* Reads the command line into st; returns 0, or the exit status to use. */
static int parse(int argc, char **argv, struct settings *st)
{
	plumb_export_options *o = &st->o;
	int c, rc = 0, level_given = 0, force = 0, append = 0;
	uint64_t size;
	char *name = argv[0];
	argv[0] = (char *)prog_name; /* getopt's messages begin with it */
	optind = 1;
	opterr = 1;
	while (rc == 0 &&
	       (c = getopt_long(argc, argv, "t:f:z:o:X:H:kqh", long_options, NULL)) != -1) {
		switch (c) {
		case 't':
			o->table = optarg;
			break;
		case 'f':
			o->format = optarg;
			break;
		case OPT_NO_HEADER:
			o->encode.no_header = 1;
			break;
		case OPT_NUMERIC:
			o->encode.numeric_as_number = 1;
			break;
		case 'z':
			o->compress = optarg;
			break;
		case OPT_LEVEL:
			rc = parse_count(optarg, 19, "invalid compression level '%s' (1-19)",
			                 &o->compress_level);
			if (rc == 0 && o->compress_level == 0)
				rc = usage_error("invalid compression level '%s' (1-19)", optarg);
			st->level_arg = optarg;
			level_given = 1;
			break;
		case 'o':
			o->dest = optarg;
			break;
		case OPT_FORCE:
			o->file_mode = PLUMB_EXPORT_FORCE, force = 1;
			break;
		case OPT_APPEND:
			o->file_mode = PLUMB_EXPORT_APPEND, append = 1;
			break;
		case 'X':
			o->http.method = optarg;
			break;
		case 'H':
			if (!strchr(optarg, ':') || optarg[0] == ':') {
				rc = usage_error("invalid header '%s' (expected 'Name: value')",
				                 optarg);
				break;
			}
			const char **more = realloc(st->headers, (st->nheaders + 1) * sizeof *more);
			if (!more) {
				warnx_("out of memory");
				rc = 1;
				break;
			}
			st->headers = more;
			st->headers[st->nheaders++] = optarg;
			break;
		case OPT_CACERT:
			o->http.ca_file = o->s3.ca_file = optarg;
			break;
		case 'k':
			o->http.insecure = o->s3.insecure = 1;
			break;
		case OPT_RETRIES:
			rc = parse_count(optarg, 100, "invalid retry count '%s' (0-100)",
			                 &o->s3.retries);
			o->http.retries = o->s3.retries;
			break;
		case OPT_ENDPOINT:
			o->s3.endpoint = optarg;
			break;
		case OPT_REGION:
			o->s3.region = optarg;
			break;
		case OPT_PROFILE:
			o->s3.profile = optarg;
			break;
		case OPT_PART_SIZE:
			if (!parse_size(optarg, &size))
				rc = usage_error("invalid part size '%s'", optarg);
			else if (size < PLUMB_S3_MIN_PART_SIZE)
				rc = usage_error("part size '%s' is below S3's minimum of 5MiB",
				                 optarg);
			else if (size > PLUMB_S3_MAX_PART_SIZE)
				rc = usage_error("part size '%s' is above S3's maximum of 5GiB",
				                 optarg);
			o->s3.part_size = size;
			break;
		case OPT_CONCURRENCY:
			rc = parse_count(optarg, 64, "invalid concurrency '%s' (1-64)",
			                 &o->s3.concurrency);
			if (rc == 0 && o->s3.concurrency == 0)
				rc = usage_error("invalid concurrency '%s' (1-64)", optarg);
			break;
		case OPT_VHOST:
			o->s3.addressing = PLUMB_S3_ADDRESSING_VIRTUAL;
			break;
		case 'q':
			st->quiet = 1;
			break;
		case OPT_PROGRESS:
			st->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			st->progress = 0;
			break;
		case OPT_SUMMARY_JSON:
			st->summary_json = optarg;
			break;
		case OPT_NO_CHECKSUM:
			o->no_checksum = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			rc = -1;
			break;
		default:
			rc = try_help();
			break; /* getopt said what was wrong */
		}
	}
	argv[0] = name;
	if (rc)
		return rc;
	if (force && append)
		return usage_error("%s", "give --force or --append, not both");
	int left = argc - optind;
	if (left < 1)
		return usage_error("%s", "missing SOURCE");
	o->source = argv[optind];
	if (left > 2)
		return usage_error("unexpected argument '%s'", argv[optind + 2]);
	o->query = left == 2 ? argv[optind + 1] : NULL;
	if (o->dest && !o->dest[0])
		return usage_error("%s", "empty destination (use - for standard output)");
	if (!o->query == !o->table)
		return usage_error("%s", o->table ? "give a QUERY or --table, not both"
		                                  : "missing QUERY (or --table TABLE)");
	o->http.headers = st->headers;
	o->http.nheaders = st->nheaders;
	return check_choices(st, level_given);
}

static double peak_rss_mib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

struct progress {
	plumb_export_stats *st;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	double t0;
};

static void show_progress(struct progress *p)
{
	uint64_t rows = atomic_load_explicit(&p->st->rows, memory_order_relaxed);
	uint64_t bytes = atomic_load_explicit(&p->st->bytes, memory_order_relaxed);
	double secs = mono_seconds() - p->t0;
	char b[32], rate[32], pct[32] = "";
	format_bytes(b, sizeof b, (double)bytes);
	format_bytes(rate, sizeof rate, secs > 0 ? (double)bytes / secs : 0);
	int64_t total = atomic_load(&p->st->total_rows);
	if (total > 0) {
		double f = 100.0 * (double)rows / (double)total;
		snprintf(pct, sizeof pct, "  %s%.0f%%", atomic_load(&p->st->total_exact) ? "" : "~",
		         f > 100 ? 100 : f);
	}
	fprintf(stderr, "\r\033[K%12llu rows  %10s  %10s/s%s", (unsigned long long)rows, b, rate,
	        pct);
	fflush(stderr);
}

static void *progress_loop(void *arg)
{
	struct progress *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->done) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cv, &p->mu, &until);
		if (!p->done)
			show_progress(p);
	}
	pthread_mutex_unlock(&p->mu);
	/* the final count (100% when the export went through), however short
	 * it was, then the line is wiped for the summary */
	show_progress(p);
	fputs("\r\033[K", stderr);
	fflush(stderr);
	return NULL;
}

static void print_summary(const struct settings *s, const plumb_export_stats *st)
{
	char b[32], rate[32];
	uint64_t bytes = atomic_load(&st->bytes);
	format_bytes(b, sizeof b, (double)bytes);
	format_bytes(rate, sizeof rate, st->seconds > 0 ? (double)bytes / st->seconds : 0);
	const char *dest = s->o.dest && strcmp(s->o.dest, "-") ? s->o.dest : "stdout";
	fprintf(stderr, "plumb export: %llu rows, %llu bytes (%s) to %s in %.2f s (%s/s)\n",
	        (unsigned long long)atomic_load(&st->rows), (unsigned long long)bytes, b, dest,
	        st->seconds, rate);
	fprintf(stderr, "  sha256 %s\n",
	        st->sha256[0] ? st->sha256 : "(not computed: --no-checksum)");
	if (!strcmp(st->dest_kind, "s3"))
		fprintf(stderr, "  etag %s (%u parts, %u retries)\n", st->etag, st->parts,
		        st->retries);
	if (!strcmp(st->dest_kind, "http"))
		fprintf(stderr, "  http status %ld\n", st->http_status);
	fprintf(stderr, "  peak memory %.1f MiB\n", peak_rss_mib());
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Writes the summary to f (opened before the export, so that a path that
 * cannot be written stops it before anything is sent) and closes f. */
static int write_summary_json(FILE *f, const struct settings *s, const plumb_export_stats *st,
                              int rc)
{
	uint64_t bytes = atomic_load(&st->bytes);
	fprintf(f,
	        "{\"ok\": %s, \"rows\": %llu, \"bytes\": %llu, \"sha256\": ", rc ? "false" : "true",
	        (unsigned long long)atomic_load(&st->rows), (unsigned long long)bytes);
	json_string(f, st->sha256);
	fprintf(f, ", \"seconds\": %.6f, \"bytes_per_second\": %.0f, \"peak_rss_bytes\": %.0f",
	        st->seconds, st->seconds > 0 ? (double)bytes / st->seconds : 0,
	        peak_rss_mib() * 1024 * 1024);
	fprintf(f, ", \"destination\": ");
	json_string(f, s->o.dest ? s->o.dest : "-");
	fprintf(f, ", \"kind\": \"%s\"", st->dest_kind);
	if (!strcmp(st->dest_kind, "s3")) {
		fprintf(f, ", \"etag\": ");
		json_string(f, st->etag);
		fprintf(f, ", \"parts\": %u, \"retries\": %u", st->parts, st->retries);
	}
	if (!strcmp(st->dest_kind, "http"))
		fprintf(f, ", \"http_status\": %ld", st->http_status);
	if (rc) {
		fprintf(f, ", \"error\": ");
		json_string(f, st->message);
	}
	fprintf(f, "}\n");
	if (fclose(f) != 0) {
		warnx_("%s: %s", s->summary_json, strerror(errno));
		return -1;
	}
	return 0;
}

int cmd_export(int argc, char **argv)
{
	struct settings s = {.progress = -1};
	plumb_export_options_init(&s.o);
	int status = parse(argc, argv, &s);
	if (status) {
		free(s.headers);
		return status < 0 ? 0 : status;
	}
	/* a CA file that cannot be read would only show as a TLS failure */
	if (s.o.http.ca_file && access(s.o.http.ca_file, R_OK) != 0) {
		warnx_("--cacert %s: %s", s.o.http.ca_file, strerror(errno));
		free(s.headers);
		return 1;
	}
	FILE *summary = NULL;
	if (s.summary_json && !(summary = fopen(s.summary_json, "w"))) {
		warnx_("%s: %s", s.summary_json, strerror(errno));
		free(s.headers);
		return 1;
	}
	handle_signals();
	s.o.cancel = &cancel_flag;

	static plumb_export_stats st;
	struct progress p = {.st = &st,
	                     .mu = PTHREAD_MUTEX_INITIALIZER,
	                     .cv = PTHREAD_COND_INITIALIZER,
	                     .t0 = mono_seconds()};
	int show = !s.quiet && (s.progress == 1 || (s.progress == -1 && isatty(STDERR_FILENO)));
	pthread_t progress_thread;
	if (show && pthread_create(&progress_thread, NULL, progress_loop, &p) != 0)
		show = 0;
	/* the row count only serves the progress line's percentage */
	s.o.count_rows = show;

	int rc = plumb_export_run(&s.o, &st);

	if (show) {
		/* every row went through, so the count is exact now: the last
		 * line says 100% even when the count first known was an estimate */
		if (rc == 0 && atomic_load(&st.total_rows) >= 0) {
			atomic_store(&st.total_exact, 1);
			atomic_store(&st.total_rows, (int64_t)atomic_load(&st.rows));
		}
		pthread_mutex_lock(&p.mu);
		p.done = 1;
		pthread_cond_signal(&p.cv);
		pthread_mutex_unlock(&p.mu);
		pthread_join(progress_thread, NULL);
	}
	int sig = atomic_load(&cancel_flag);
	if (rc < 0)
		warnx_("%s", st.message);
	else if (!s.quiet)
		print_summary(&s, &st);
	if (summary && write_summary_json(summary, &s, &st, rc) < 0 && rc == 0)
		rc = -EIO;
	free(s.headers);
	if (sig)
		return 128 + sig;
	return rc < 0 ? 1 : 0;
}
