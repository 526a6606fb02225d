/*
 * upload.c - plumb_s3_upload: a stream of unknown length into one S3 object.
 *
 * The calling thread reads; the threads of a plumb_pool (the batch library)
 * send.  Between them is a fixed set of concurrency + 1 part buffers: the
 * calling thread takes a free one, fills it from the source to the part
 * size, submits it to the pool and takes the next; the task running it takes
 * a free connection-and-hashes state (there is one per pool thread, so that
 * connections are kept alive from part to part), hashes its part (MD5 and
 * SHA-256 in one pass), sends it (retrying from the same buffer when that
 * may help) and gives the state and the buffer back.  The pool's queue has
 * room for every buffer, so submitting never waits; the calling thread waits
 * only for a free buffer, and when every buffer is in flight so does,
 * through its pipe, whoever produces the stream.
 *
 * The first part decides the kind of upload: if the stream ends before it is
 * full, or right after (one more read, into the second buffer, tells), the
 * object is one PutObject from the calling thread and no pool is started.
 * Otherwise CreateMultipartUpload is sent, the pool starts, and parts go
 * out as they fill.  At the end of the stream the calling thread waits for
 * the parts in flight, then sends CompleteMultipartUpload with every part's
 * ETag and SHA-256 in order, reads the object's ETag (with a HEAD when the
 * reply's is empty, as radosgw's is) and checks it against md5(part MD5s)-N.
 *
 * The first failure wins: it is recorded with its message, the stop flag
 * makes every other request give up within a second, the calling thread
 * stops reading, waits for the pool to be idle (and stops it) and sends
 * AbortMultipartUpload, which must go out even after a cancel.  Parts are
 * never in flight during the abort, so no part can land after it.
 *
 * Buffers are allocated when first needed (a small object takes one) and
 * then reused; the part-size schedule (plumb_s3_part_size) makes a buffer
 * grow only past part 5,000, and only while it is free.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <plumb/batch.h>

#include "s3-internal.h"

#define MIB ((size_t)1 << 20)
/* The schedule: parts 1..FLAT at the starting size, then doubling every STEP parts. */
#define FLAT 5000u
#define STEP 500u

/* S3's limit on parts; a variable only so that tests can lower it. */
unsigned s3_max_parts = PLUMB_S3_MAX_PARTS;

struct upload;

/* One part buffer; it is also the task handed to the pool. */
struct buf {
	unsigned char *data;
	size_t cap, len;
	unsigned partno;
	struct buf *next_free;
	struct upload *u; /* whose buffer it is, for the pool's task */
};

/* What CompleteMultipartUpload needs of a sent part. */
struct part {
	char etag[128];
	unsigned char md5[16];
	char sha256_b64[45];
};

/* A connection and two hashes, held by one running part at a time. */
struct worker_state {
	struct http_conn *conn;
	struct s3_hasher hasher;
	struct worker_state *next_free;
};

struct upload {
	plumb_s3_options o; /* the caller's, defaults applied */
	plumb_s3_result *res;
	plumb_reader *src;
	struct s3_target target;
	plumb_s3_credentials own_cred; /* when loaded here */
	struct s3_client cl;
	struct http_conn *conn;   /* the calling thread's */
	struct s3_hasher hasher;  /* the calling thread's */
	size_t base;              /* the first part size */
	char *upload_id;          /* as the server gave it */
	bool completed;           /* CompleteMultipartUpload succeeded */
	plumb_buffer upload_id_q; /* URI-encoded, for queries */

	plumb_pool *pool;        /* the part senders, once multipart */
	struct worker_state *ws; /* one per pool thread */
	unsigned nworkers;       /* of ws, set up */

	pthread_mutex_t mu; /* guards everything below */
	pthread_cond_t cv;
	struct buf *bufs;
	unsigned nbufs;
	struct buf *free_list;
	struct worker_state *free_ws; /* the states no running part holds */
	size_t buffer_bytes;
	int err;            /* the first failure, 0 while none */
	char msg[700];      /* its message */
	struct part *parts; /* indexed by part number - 1 */
	unsigned parts_cap;
	uint64_t acked;
};

/* ---- The part-size schedule ---- */

size_t plumb_s3_part_size(size_t part_size, unsigned partno)
{
	size_t size = part_size;

	if (partno > FLAT) {
		unsigned doublings = (partno - FLAT - 1) / STEP + 1;

		for (unsigned i = 0; i < doublings && size < PLUMB_S3_MAX_PART_SIZE; i++)
			size *= 2;
	}
	return size < PLUMB_S3_MAX_PART_SIZE ? size : PLUMB_S3_MAX_PART_SIZE;
}

/* ---- Options ---- */

void plumb_s3_options_init(plumb_s3_options *o)
{
	memset(o, 0, sizeof *o);
	o->part_size = PLUMB_S3_DEFAULT_PART_SIZE;
	o->concurrency = 4;
	o->retries = 5;
	o->backoff_base_ms = 100;
	o->backoff_cap_ms = 20000;
	o->connect_timeout_ms = 10000;
	o->stall_timeout_ms = 60000;
	o->verify_etag = 1;
}

void plumb_s3_result_release(plumb_s3_result *res)
{
	free(res->upload_id);
	res->upload_id = NULL;
}

static int failf(struct upload *u, int rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Records a failure (the first one sticks) and stops everything. */
static int failf(struct upload *u, int rc, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&u->mu);
	if (!u->err) {
		u->err = rc;
		va_start(ap, fmt);
		vsnprintf(u->msg, sizeof u->msg, fmt, ap);
		va_end(ap);
	}
	atomic_store(&u->cl.stop, 1);
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	return rc;
}

static bool has_newline(const char *s)
{
	return s && strpbrk(s, "\r\n");
}

static int check_options(struct upload *u)
{
	plumb_s3_options *o = &u->o;

	if (!o->bucket || !*o->bucket || !o->key || !*o->key)
		return failf(u, -EINVAL, "no bucket or no key to upload to");
	if (o->part_size == 0)
		o->part_size = PLUMB_S3_DEFAULT_PART_SIZE;
	if (o->part_size < PLUMB_S3_MIN_PART_SIZE)
		return failf(u, -EINVAL, "a part size of %zu bytes is below S3's minimum of 5 MiB",
		             o->part_size);
	if (o->part_size > PLUMB_S3_MAX_PART_SIZE)
		return failf(u, -EINVAL, "a part size of %zu bytes is above S3's maximum of 5 GiB",
		             o->part_size);
	if (o->concurrency < 1 || o->concurrency > PLUMB_S3_MAX_CONCURRENCY)
		return failf(u, -EINVAL, "concurrency %d is not between 1 and %d", o->concurrency,
		             PLUMB_S3_MAX_CONCURRENCY);
	if (o->retries < 0 || o->retries > 100)
		return failf(u, -EINVAL, "retries %d is not between 0 and 100", o->retries);
	if (o->backoff_base_ms <= 0 || o->backoff_cap_ms < o->backoff_base_ms ||
	    o->connect_timeout_ms <= 0 || o->stall_timeout_ms <= 0)
		return failf(u, -EINVAL, "timeouts and backoff times must be positive");
	if (has_newline(o->content_type))
		return failf(u, -EINVAL, "the content type holds a line break");
	return 0;
}

/* The starting part size: part_size, raised so that expected_size fits in
 * 10,000 parts, in whole MiB. */
static int choose_base(struct upload *u)
{
	uint64_t need = u->o.expected_size / PLUMB_S3_MAX_PARTS + 1;

	need = (need + MIB - 1) / MIB * MIB;
	u->base = u->o.part_size;
	if (u->o.expected_size && need > u->base) {
		if (need > PLUMB_S3_MAX_PART_SIZE)
			return failf(u, -EFBIG,
			             "an expected size of %llu bytes does not fit in %d parts of "
			             "at most 5 GiB",
			             (unsigned long long)u->o.expected_size, PLUMB_S3_MAX_PARTS);
		u->base = (size_t)need;
	}
	u->res->part_size = u->base;
	return 0;
}

static int load_identity(struct upload *u, char *region, size_t rlen)
{
	char err[512];
	const plumb_s3_credentials *c = u->o.credentials;
	int rc;

	if (!c) {
		if ((rc = plumb_s3_credentials_load(&u->own_cred, u->o.profile, err, sizeof err)) <
		    0)
			return failf(u, rc, "%s", err);
		c = &u->own_cred;
	}
	if (!c->access_key_id || !*c->access_key_id || !c->secret_access_key ||
	    has_newline(c->access_key_id) || has_newline(c->secret_access_key) ||
	    has_newline(c->session_token))
		return failf(u, -EINVAL, "the credentials are empty or hold a line break");
	u->cl.cred = c;
	if (c->session_token &&
	    asprintf(&u->cl.token_header, "x-amz-security-token: %s", c->session_token) < 0) {
		u->cl.token_header = NULL;
		return failf(u, -ENOMEM, "out of memory");
	}
	if (u->o.region) {
		snprintf(region, rlen, "%s", u->o.region);
		return 0;
	}
	if ((rc = plumb_s3_region_load(region, rlen, u->o.profile, err, sizeof err)) < 0)
		return failf(u, rc, "%s", err);
	return 0;
}

static int setup(struct upload *u, const plumb_s3_options *o, plumb_reader *src,
                 const _Atomic int *cancel, plumb_s3_result *res)
{
	char region[80], err[512];
	int rc;

	memset(u, 0, sizeof *u);
	u->o = *o;
	u->res = res;
	u->src = src;
	u->cl.o = &u->o;
	u->cl.cancel = cancel;
	u->cl.target = &u->target;
	plumb_buffer_init(&u->upload_id_q);
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->cv, NULL);
	if ((rc = check_options(u)) < 0 || (rc = choose_base(u)) < 0 ||
	    (rc = load_identity(u, region, sizeof region)) < 0)
		return rc;
	if ((rc = s3_target_init(&u->target, &u->o, region, err, sizeof err)) < 0)
		return failf(u, rc, "%s", err);
	u->nbufs = (unsigned)u->o.concurrency + 1;
	u->bufs = calloc(u->nbufs, sizeof *u->bufs);
	u->conn = http_conn_new();
	if (!u->bufs || !u->conn || s3_hasher_init(&u->hasher) < 0)
		return failf(u, -ENOMEM, "out of memory");
	for (unsigned i = u->nbufs; i-- > 0;) {
		u->bufs[i].u = u;
		u->bufs[i].next_free = u->free_list;
		u->free_list = &u->bufs[i];
	}
	return 0;
}

/* ---- Buffers ---- */

/* Gives b the room for size bytes (b is free and empty). */
static int grow(struct upload *u, struct buf *b, size_t size)
{
	unsigned char *data;
	bool fresh = !b->data;

	if (b->cap >= size)
		return 0;
	free(b->data);
	pthread_mutex_lock(&u->mu);
	u->buffer_bytes -= b->cap;
	if (fresh)
		u->res->buffers++;
	pthread_mutex_unlock(&u->mu);
	b->data = NULL;
	b->cap = 0;
	data = malloc(size);
	if (!data)
		return failf(u, -ENOMEM, "out of memory for a part buffer of %zu bytes", size);
	pthread_mutex_lock(&u->mu);
	b->data = data;
	b->cap = size;
	u->buffer_bytes += size;
	if (u->buffer_bytes > u->res->buffer_peak)
		u->res->buffer_peak = u->buffer_bytes;
	pthread_mutex_unlock(&u->mu);
	return 0;
}

/* A free buffer of at least size bytes; waits while all are in flight.
 * NULL once the upload failed. */
static struct buf *acquire(struct upload *u, size_t size)
{
	struct buf *b = NULL;

	pthread_mutex_lock(&u->mu);
	while (!u->free_list && !u->err)
		pthread_cond_wait(&u->cv, &u->mu);
	if (!u->err) {
		b = u->free_list;
		u->free_list = b->next_free;
	}
	pthread_mutex_unlock(&u->mu);
	if (!b)
		return NULL;
	b->len = 0;
	if (grow(u, b, size) < 0)
		return NULL;
	return b;
}

static void release_locked(struct upload *u, struct buf *b)
{
	b->len = 0;
	b->next_free = u->free_list;
	u->free_list = b;
	pthread_cond_broadcast(&u->cv);
}

/* Reads from the source into b until it holds want bytes or the source
 * ends (*eof).  Returns 0, or < 0 when reading failed or the upload is
 * ending (a worker failed, or cancel). */
static int fill(struct upload *u, struct buf *b, size_t want, bool *eof)
{
	*eof = false;
	while (b->len < want) {
		ssize_t n;

		if (s3_cancelled(&u->cl))
			return failf(u, -ECANCELED, "cancelled after %llu bytes were read",
			             (unsigned long long)u->res->bytes);
		if (atomic_load(&u->cl.stop))
			return -ECANCELED; /* the failure is already recorded */
		n = plumb_reader_read(u->src, b->data + b->len, want - b->len);
		if (n < 0)
			return failf(u, (int)n, "reading the source failed after %llu bytes: %s",
			             (unsigned long long)u->res->bytes, plumb_strerror((int)n));
		if (n == 0) {
			*eof = true;
			return 0;
		}
		b->len += (size_t)n;
		u->res->bytes += (uint64_t)n;
	}
	return 0;
}

/* ---- Requests ---- */

static const char *content_type(const struct upload *u)
{
	return u->o.content_type ? u->o.content_type : "application/octet-stream";
}

/* The checksum headers of a body, and its type when it is the object. */
static void body_headers(const struct upload *u, struct s3_request *rq, const struct s3_digest *d,
                         bool with_type)
{
	s3_add_header(rq, "Content-MD5: %s", d->md5_b64);
	s3_add_header(rq, "x-amz-checksum-sha256: %s", d->sha256_b64);
	if (with_type)
		s3_add_header(rq, "Content-Type: %s", content_type(u));
}

/* Checks a body's ETag against its MD5, as the options want. */
static int check_etag(struct upload *u, struct s3_request *rq, const struct s3_digest *d)
{
	if (!rq->etag[0])
		return failf(u, PLUMB_ESERVER, "%s: the reply has no ETag", rq->op);
	if (u->o.verify_etag && strcasecmp(rq->etag, d->md5_hex) != 0)
		return failf(u, PLUMB_ESERVER,
		             "%s: the server's ETag %s is not the MD5 of what was sent (%s)",
		             rq->op, rq->etag, d->md5_hex);
	return 0;
}

static int put_object(struct upload *u, struct buf *b)
{
	struct s3_request rq = {.op = "PutObject", .method = "PUT", .body = b->data, .len = b->len};
	struct s3_digest d;
	int rc;

	if ((rc = s3_digest(&u->hasher, b->data, b->len, &d)) < 0)
		return failf(u, rc, "PutObject: hashing failed: %s", plumb_strerror(rc));
	rq.sha256_hex = d.sha256_hex;
	body_headers(u, &rq, &d, true);
	rc = s3_call(&u->cl, u->conn, &rq);
	if (rc < 0)
		failf(u, rc, "%s", rq.err);
	else if ((rc = check_etag(u, &rq, &d)) == 0)
		snprintf(u->res->etag, sizeof u->res->etag, "%s", rq.etag);
	if (rc == 0) {
		u->acked = b->len;
		if (u->o.progress)
			atomic_store(u->o.progress, u->acked);
	}
	return rc;
}

static int create_upload(struct upload *u)
{
	struct s3_request rq = {
	        .op = "CreateMultipartUpload", .method = "POST", .query = "uploads="};
	const char *id;
	int rc;

	s3_add_header(&rq, "Content-Type: %s", content_type(u));
	s3_add_header(&rq, "x-amz-checksum-algorithm: SHA256");
	rc = s3_call(&u->cl, u->conn, &rq);
	id = rq.xml.upload_id;
	if (rc < 0) {
		failf(u, rc, "%s", rq.err);
	} else if (strcmp(rq.xml.root, "InitiateMultipartUploadResult") != 0 || !*id ||
	           strlen(id) >= sizeof rq.xml.upload_id - 1) {
		rc = failf(u, PLUMB_EFORMAT,
		           "CreateMultipartUpload: the reply holds no usable UploadId");
	} else if (!(u->upload_id = strdup(id)) || !(u->res->upload_id = strdup(id)) ||
	           s3_uri_encode(&u->upload_id_q, id, false) < 0 ||
	           plumb_buffer_append(&u->upload_id_q, "", 1) < 0) {
		rc = failf(u, -ENOMEM, "out of memory");
	}
	return rc;
}

static const char *upload_id_q(const struct upload *u)
{
	return (const char *)plumb_buffer_bytes(&u->upload_id_q);
}

/* Keeps what Complete needs of part partno. */
static int record_part_locked(struct upload *u, unsigned partno, const char *etag,
                              const struct s3_digest *d)
{
	struct part *p;

	if (partno > u->parts_cap) {
		unsigned cap = u->parts_cap ? u->parts_cap : 64;
		struct part *np;

		while (cap < partno)
			cap *= 2;
		np = realloc(u->parts, cap * sizeof *np);
		if (!np)
			return -ENOMEM;
		memset(np + u->parts_cap, 0, (cap - u->parts_cap) * sizeof *np);
		u->parts = np;
		u->parts_cap = cap;
	}
	p = &u->parts[partno - 1];
	snprintf(p->etag, sizeof p->etag, "%s", etag);
	memcpy(p->md5, d->md5, sizeof p->md5);
	memcpy(p->sha256_b64, d->sha256_b64, sizeof p->sha256_b64);
	return 0;
}

static int upload_part(struct upload *u, struct worker_state *ws, struct buf *b)
{
	char op[48], query[700];
	struct s3_request rq = {
	        .op = op, .method = "PUT", .query = query, .body = b->data, .len = b->len};
	struct s3_digest d;
	int rc;

	snprintf(op, sizeof op, "UploadPart %u", b->partno);
	snprintf(query, sizeof query, "partNumber=%u&uploadId=%s", b->partno, upload_id_q(u));
	if ((rc = s3_digest(&ws->hasher, b->data, b->len, &d)) < 0)
		return failf(u, rc, "%s: hashing failed: %s", op, plumb_strerror(rc));
	rq.sha256_hex = d.sha256_hex;
	body_headers(u, &rq, &d, false);
	rc = s3_call(&u->cl, ws->conn, &rq);
	if (rc < 0)
		failf(u, rc, "%s", rq.err);
	else
		rc = check_etag(u, &rq, &d);
	if (rc == 0) {
		pthread_mutex_lock(&u->mu);
		rc = record_part_locked(u, b->partno, rq.etag, &d);
		u->acked += b->len;
		if (u->o.progress)
			atomic_store(u->o.progress, u->acked);
		pthread_mutex_unlock(&u->mu);
		if (rc < 0)
			failf(u, rc, "out of memory");
	}
	return rc;
}

/* The pool's task: send one part with a free connection and hashes, then
 * give both back.  There are as many states as pool threads, and a state is
 * taken only by a running task, so one is always free here. */
static void run_part(void *arg)
{
	struct buf *b = arg;
	struct upload *u = b->u;
	struct worker_state *ws;

	pthread_mutex_lock(&u->mu);
	ws = u->free_ws;
	u->free_ws = ws->next_free;
	pthread_mutex_unlock(&u->mu);
	if (!atomic_load(&u->cl.stop))
		upload_part(u, ws, b);
	pthread_mutex_lock(&u->mu);
	ws->next_free = u->free_ws;
	u->free_ws = ws;
	release_locked(u, b);
	pthread_mutex_unlock(&u->mu);
}

/* A connection and hashes per thread, then a pool of concurrency threads
 * whose queue holds every buffer (so submitting never waits).  The threads
 * are started with every signal blocked, and keep that mask: a SIGINT meant
 * for the program lands on a thread of the program's own. */
static int start_workers(struct upload *u)
{
	unsigned n = (unsigned)u->o.concurrency;
	sigset_t all, old;
	int rc;

	u->ws = calloc(n, sizeof *u->ws);
	if (!u->ws)
		return failf(u, -ENOMEM, "out of memory");
	for (; u->nworkers < n; u->nworkers++) {
		struct worker_state *w = &u->ws[u->nworkers];

		if (s3_hasher_init(&w->hasher) < 0 || !(w->conn = http_conn_new())) {
			u->nworkers++;
			return failf(u, -ENOMEM, "out of memory");
		}
		w->next_free = u->free_ws;
		u->free_ws = w;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	u->pool = plumb_pool_new(n, u->nbufs);
	rc = u->pool ? 0 : -errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0)
		return failf(u, rc, "cannot start the upload threads: %s", plumb_strerror(rc));
	return 0;
}

/* Hands part partno, in b, to the pool. */
static void dispatch(struct upload *u, struct buf *b, unsigned partno)
{
	b->partno = partno;
	plumb_pool_submit(u->pool, run_part, b);
}

/* Waits until no part is in flight, then stops the pool's threads. */
static void stop_workers(struct upload *u)
{
	plumb_pool_free(u->pool);
	u->pool = NULL;
}

/* ---- Completing and aborting ---- */

/* md5(concatenated part MD5s)-N, the ETag S3 gives a multipart object. */
static int expected_etag(struct upload *u, unsigned n, char *out, size_t len)
{
	struct s3_digest d;
	unsigned char *md5s = malloc((size_t)n * 16);
	int rc;

	if (!md5s)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		memcpy(md5s + 16 * i, u->parts[i].md5, 16);
	rc = s3_digest(&u->hasher, md5s, (size_t)n * 16, &d);
	free(md5s);
	if (rc == 0)
		snprintf(out, len, "%s-%u", d.md5_hex, n);
	return rc;
}

static int complete_body(struct upload *u, unsigned n, plumb_buffer *x)
{
	char head[200];
	int rc = plumb_buffer_append(
	        x, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
	        73);

	for (unsigned i = 0; rc == 0 && i < n; i++) {
		int len = snprintf(head, sizeof head, "<Part><PartNumber>%u</PartNumber><ETag>\"",
		                   i + 1);

		rc = plumb_buffer_append(x, head, (size_t)len);
		if (rc == 0)
			rc = s3_xml_escape(x, u->parts[i].etag);
		if (rc == 0) {
			len = snprintf(head, sizeof head,
			               "\"</ETag><ChecksumSHA256>%s</ChecksumSHA256></Part>",
			               u->parts[i].sha256_b64);
			rc = plumb_buffer_append(x, head, (size_t)len);
		}
	}
	if (rc == 0)
		rc = plumb_buffer_append(x, "</CompleteMultipartUpload>", 26);
	return rc;
}

/* The object's ETag from a HEAD, into etag; the failure, if any, is
 * recorded when record is set. */
static int head_etag(struct upload *u, char *etag, size_t len, bool record)
{
	struct s3_request rq = {.op = "HeadObject", .method = "HEAD"};
	int rc = s3_call(&u->cl, u->conn, &rq);

	if (rc == 0)
		snprintf(etag, len, "%s", rq.etag);
	else if (record)
		failf(u, rc, "%s", rq.err);
	return rc;
}

static void strip_quotes(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		memmove(s, s + 1, n - 2);
		s[n - 2] = '\0';
	}
}

/* Sends CompleteMultipartUpload; fills rq's reply.  A retry that finds the
 * upload gone may mean an earlier attempt did complete it and its reply was
 * lost: then the object's ETag, read with a HEAD, says whether it is ours. */
static int send_complete(struct upload *u, unsigned n, const char *want, char *etag, size_t len)
{
	char query[600];
	plumb_buffer x;
	struct s3_digest d;
	struct s3_request rq = {.op = "CompleteMultipartUpload", .method = "POST", .query = query};
	int rc;

	plumb_buffer_init(&x);
	snprintf(query, sizeof query, "uploadId=%s", upload_id_q(u));
	s3_add_header(&rq, "Content-Type: application/xml");
	if (complete_body(u, n, &x) < 0) {
		rc = failf(u, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = s3_digest(&u->hasher, plumb_buffer_bytes(&x), plumb_buffer_len(&x), &d)) < 0) {
		failf(u, rc, "hashing failed");
		goto out;
	}
	rq.body = plumb_buffer_bytes(&x);
	rq.len = plumb_buffer_len(&x);
	rq.sha256_hex = d.sha256_hex;
	rc = s3_call(&u->cl, u->conn, &rq);
	if (rc == PLUMB_ESERVER && rq.attempts > 1 && strcmp(rq.xml.code, "NoSuchUpload") == 0 &&
	    head_etag(u, etag, len, false) == 0 && strcmp(etag, want) == 0)
		rc = 0;
	else if (rc < 0)
		failf(u, rc, "%s", rq.err);
	else if (strcmp(rq.xml.root, "CompleteMultipartUploadResult") != 0)
		rc = failf(u, PLUMB_EFORMAT,
		           "CompleteMultipartUpload: the reply is not a "
		           "CompleteMultipartUploadResult");
	else
		snprintf(etag, len, "%s", rq.xml.etag);
out:
	plumb_buffer_release(&x);
	return rc;
}

static int complete(struct upload *u, unsigned n)
{
	char want[64], etag[sizeof u->res->etag];
	int rc;

	if (expected_etag(u, n, want, sizeof want) < 0)
		return failf(u, -ENOMEM, "out of memory");
	etag[0] = '\0';
	if ((rc = send_complete(u, n, want, etag, sizeof etag)) < 0)
		return rc;
	strip_quotes(etag);
	u->completed = true;
	if (!etag[0] && (rc = head_etag(u, etag, sizeof etag, true)) < 0)
		return rc;
	strip_quotes(etag);
	snprintf(u->res->etag, sizeof u->res->etag, "%s", etag);
	if (u->o.verify_etag && strcmp(etag, want) != 0)
		return failf(u, PLUMB_ESERVER,
		             "the object was stored, but its ETag %s is not the %s its %u parts "
		             "make: it is not what was sent",
		             etag, want, n);
	return 0;
}

static void abort_upload(struct upload *u)
{
	char query[600];
	struct s3_request rq = {.op = "AbortMultipartUpload",
	                        .method = "DELETE",
	                        .query = query,
	                        .must_finish = true};
	int rc;

	snprintf(query, sizeof query, "uploadId=%s", upload_id_q(u));
	rc = s3_call(&u->cl, u->conn, &rq);
	if (rc == 0 || (rq.status == 404 && strcmp(rq.xml.code, "NoSuchUpload") == 0)) {
		u->res->aborted = 1;
		snprintf(u->res->message + strlen(u->res->message),
		         sizeof u->res->message - strlen(u->res->message),
		         "; the multipart upload was aborted");
	} else {
		snprintf(u->res->message + strlen(u->res->message),
		         sizeof u->res->message - strlen(u->res->message),
		         "; aborting the multipart upload failed too (%s): remove it with `aws "
		         "s3api abort-multipart-upload --bucket %s --key %s --upload-id %s`",
		         rq.err, u->o.bucket, u->o.key, u->upload_id);
	}
}

/* ---- The upload ---- */

/* The bytes to read for part partno: its size, or for a part beyond the
 * last one S3 allows, one byte, enough to tell that it would exist. */
static size_t want_for(const struct upload *u, unsigned partno)
{
	return partno > s3_max_parts ? 1 : plumb_s3_part_size(u->base, partno);
}

/* Reads and sends parts 2.. (part 1 is in flight, part 2's first bytes in
 * cur); returns the number of parts, or < 0. */
static int stream_parts(struct upload *u, struct buf *cur)
{
	unsigned partno = 2;
	bool eof = false;
	int rc;

	for (;;) {
		if ((rc = fill(u, cur, want_for(u, partno), &eof)) < 0)
			break;
		if (cur->len == 0) {
			partno--;
			break;
		}
		if (partno > s3_max_parts) {
			rc = failf(
			        u, -EFBIG,
			        "the stream needs more than %u parts (%llu bytes so far): give a "
			        "larger part size or the expected size",
			        s3_max_parts, (unsigned long long)u->res->bytes);
			break;
		}
		dispatch(u, cur, partno);
		if (eof) {
			cur = NULL;
			break;
		}
		cur = acquire(u, want_for(u, ++partno));
		if (!cur) {
			rc = -ECANCELED;
			break;
		}
	}
	if (cur) {
		pthread_mutex_lock(&u->mu);
		release_locked(u, cur);
		pthread_mutex_unlock(&u->mu);
	}
	return rc < 0 ? rc : (int)partno;
}

static int multipart(struct upload *u, struct buf *first, struct buf *second)
{
	int n = -1;

	/* On failure here the buffers stay taken: nothing uses them any more,
	 * and teardown frees them all. */
	if (create_upload(u) == 0 && start_workers(u) == 0) {
		dispatch(u, first, 1);
		n = stream_parts(u, second);
	}
	stop_workers(u);
	if (n > 0 && !u->err) {
		u->res->parts = (unsigned)n;
		complete(u, (unsigned)n);
	}
	return u->err;
}

static int run(struct upload *u)
{
	struct buf *first = acquire(u, u->base), *second;
	bool eof;

	if (!first || fill(u, first, u->base, &eof) < 0)
		return u->err;
	if (!eof) {
		/* Full: one more byte says whether there is a second part. */
		if (!(second = acquire(u, plumb_s3_part_size(u->base, 2))) ||
		    fill(u, second, 1, &eof) < 0)
			return u->err;
		if (second->len > 0)
			return multipart(u, first, second);
	}
	put_object(u, first);
	return u->err;
}

static void teardown(struct upload *u)
{
	stop_workers(u);
	for (unsigned i = 0; i < u->nworkers; i++) {
		http_conn_free(u->ws[i].conn);
		s3_hasher_release(&u->ws[i].hasher);
	}
	free(u->ws);
	for (unsigned i = 0; u->bufs && i < u->nbufs; i++)
		free(u->bufs[i].data);
	free(u->bufs);
	free(u->parts);
	free(u->upload_id);
	plumb_buffer_release(&u->upload_id_q);
	http_conn_free(u->conn);
	s3_hasher_release(&u->hasher);
	free(u->cl.token_header);
	plumb_s3_credentials_release(&u->own_cred);
	s3_target_release(&u->target);
	pthread_cond_destroy(&u->cv);
	pthread_mutex_destroy(&u->mu);
}

/* When the server refused the keys, says where they came from. */
static void say_whose_keys(struct upload *u)
{
	size_t n = strlen(u->res->message);

	if (u->err == PLUMB_ESERVER && u->cl.cred && u->cl.cred->source[0] &&
	    (strstr(u->msg, " InvalidAccessKeyId") || strstr(u->msg, " SignatureDoesNotMatch")))
		snprintf(u->res->message + n, sizeof u->res->message - n,
		         " (the credentials came from %s)", u->cl.cred->source);
}

int plumb_s3_upload(const plumb_s3_options *o, plumb_reader *src, const _Atomic int *cancel,
                    plumb_s3_result *res)
{
	struct upload u;
	int rc;

	memset(res, 0, sizeof *res);
	rc = setup(&u, o, src, cancel, res);
	if (rc == 0)
		rc = run(&u);
	res->requests = atomic_load(&u.cl.requests);
	res->retries = atomic_load(&u.cl.retries);
	if (rc < 0) {
		res->etag[0] = '\0';
		snprintf(res->message, sizeof res->message, "s3://%s/%s: %s",
		         o->bucket ? o->bucket : "?", o->key ? o->key : "?", u.msg);
		say_whose_keys(&u);
		if (u.upload_id && !u.completed)
			abort_upload(&u);
	}
	teardown(&u);
	return rc;
}
