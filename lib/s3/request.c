/*
 * request.c - one signed S3 request over libcurl, retried while that may help.
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3"), fed so that
 * what libcurl 7.88 signs is what S3 checks.  Its signer, as 7.88 has it:
 *  - takes the query string exactly as given for the canonical query: it
 *    neither sorts the parameters nor adds the '=' of a bare key.  So every
 *    query here is written canonical already: keys sorted ("partNumber=1&
 *    uploadId=..."), values percent-encoded by our rules, and "uploads=" with
 *    its '=' (S3 reads "?uploads=" as it reads "?uploads");
 *  - never computes the payload hash of a body it reads through a callback,
 *    and sends no x-amz-content-sha256 of its own; but when the request
 *    carries that header, it signs with its value.  So every request carries
 *    it, with the hex SHA-256 of the body, which we have: the worker hashes
 *    each part anyway for Content-MD5 and x-amz-checksum-sha256.  (S3 then
 *    checks the body against it, so UNSIGNED-PAYLOAD would only lose a check.)
 *  - signs every header in CURLOPT_HTTPHEADER, including the empty ones that
 *    only tell libcurl not to send a header ("Expect:"): those would be
 *    signed but never sent, and the server's signature would differ.  So no
 *    such header is used; libcurl's own "Expect: 100-continue" on large
 *    bodies is added after signing and is not signed, which S3 allows (and
 *    the 100 lets the server refuse a part before it is sent).
 *  - uses the path as given for the canonical URI; url.c encodes the key
 *    canonically and CURLOPT_PATH_AS_IS keeps libcurl from merging "./" and
 *    "//" in it.
 * tests/unit/test_s3.c holds the signatures against botocore's signer.
 *
 * Retries: a request that fails in a way that may pass (the connection could
 * not be made or was lost, the server stalled, 5xx, 429, 503 SlowDown, 400
 * RequestTimeout, or a 200 whose body is an InternalError, which
 * CompleteMultipartUpload may answer) is made again after an exponential
 * backoff with full jitter.  The body is always the caller's memory, so a
 * retry resends exactly the same bytes.  The caller's cancel flag and the
 * upload's stop flag end a request within a second (libcurl calls the
 * progress callback about that often) and end a backoff within 20 ms; an
 * abort request (must_finish) ignores both.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <plumb/plumb.h>

#include "s3-internal.h"

/* How much of a reply body is kept: S3's replies here are a few hundred bytes. */
#define REPLY_MAX (64 * 1024)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void say(struct s3_request *rq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct s3_request *rq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rq->err, sizeof rq->err, fmt, ap);
	va_end(ap);
}

bool s3_cancelled(const struct s3_client *cl)
{
	return cl->cancel && atomic_load_explicit(cl->cancel, memory_order_relaxed);
}

static bool must_stop(struct s3_client *cl, const struct s3_request *rq)
{
	return !rq->must_finish &&
	       (s3_cancelled(cl) || atomic_load_explicit(&cl->stop, memory_order_relaxed));
}

/* ---- libcurl's callbacks ---- */

struct call {
	struct s3_client *cl;
	struct s3_request *rq;
};

static size_t send_body(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_request *rq = ((struct call *)arg)->rq;
	size_t n = size * nitems, left = rq->len - rq->off;

	if (n > left)
		n = left;
	memcpy(buf, rq->body + rq->off, n);
	rq->off += n;
	return n;
}

/* libcurl rewinds the body when it must send it again on the same request
 * (after a 100-continue is refused, for one). */
static int seek_body(void *arg, curl_off_t off, int origin)
{
	struct s3_request *rq = ((struct call *)arg)->rq;

	if (origin != SEEK_SET || off < 0 || (size_t)off > rq->len)
		return CURL_SEEKFUNC_CANTSEEK;
	rq->off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t on_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_request *rq = ((struct call *)arg)->rq;
	size_t n = size * nmemb, have = plumb_buffer_len(&rq->reply);
	size_t take = have >= REPLY_MAX ? 0 : REPLY_MAX - have < n ? REPLY_MAX - have : n;

	if (take && plumb_buffer_append(&rq->reply, data, take) < 0)
		return 0;
	return n;
}

/* A value of header name in line (name without regard to case), trimmed,
 * into out; false if line is another header. */
static bool header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
	size_t len = strlen(name), i;

	if (n <= len || strncasecmp(line, name, len) != 0 || line[len] != ':')
		return false;
	line += len + 1;
	n -= len + 1;
	while (n > 0 && (*line == ' ' || *line == '\t' || *line == '"'))
		line++, n--;
	while (n > 0 && strchr(" \t\r\n\"", line[n - 1]))
		n--;
	i = n < cap ? n : cap - 1;
	memcpy(out, line, i);
	out[i] = '\0';
	return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_request *rq = ((struct call *)arg)->rq;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response (the final one after a 100 Continue). */
		rq->etag[0] = '\0';
		plumb_buffer_reset(&rq->reply);
		return n;
	}
	header_value(data, n, "ETag", rq->etag, sizeof rq->etag);
	return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct call *call = arg;
	struct s3_request *rq = call->rq;
	int64_t now = now_ns();

	(void)dltotal;
	(void)ultotal;
	if (must_stop(call->cl, rq)) {
		rq->stopped = true;
		return 1;
	}
	if (ulnow != rq->last_ul || dlnow != rq->last_dl) {
		rq->last_ul = ulnow;
		rq->last_dl = dlnow;
		rq->last_move_ns = now;
	} else if (now - rq->last_move_ns >= (int64_t)call->cl->o->stall_timeout_ms * 1000000) {
		rq->stalled = true;
		return 1;
	}
	return 0;
}

/* ---- Setting up a request ---- */

/* x-amz-content-sha256, the session token, then the request's own. */
static struct curl_slist *build_headers(struct s3_client *cl, struct s3_request *rq)
{
	static const char empty_sha256[] =
	        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char line[128];
	struct curl_slist *l, *t;

	snprintf(line, sizeof line, "x-amz-content-sha256: %s",
	         rq->sha256_hex ? rq->sha256_hex : empty_sha256);
	if (!(l = curl_slist_append(NULL, line)))
		return NULL;
	if (cl->token_header) {
		if (!(t = curl_slist_append(l, cl->token_header)))
			goto nomem;
		l = t;
	}
	for (struct curl_slist *h = rq->headers; h; h = h->next) {
		if (!(t = curl_slist_append(l, h->data)))
			goto nomem;
		l = t;
	}
	return l;
nomem:
	curl_slist_free_all(l);
	return NULL;
}

static void set_method(CURL *c, struct s3_request *rq, struct call *call)
{
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		return;
	}
	if (strcmp(rq->method, "PUT") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
	if (strcmp(rq->method, "PUT") != 0 && strcmp(rq->method, "POST") != 0)
		return;
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->len);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, send_body);
	curl_easy_setopt(c, CURLOPT_READDATA, call);
	curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_body);
	curl_easy_setopt(c, CURLOPT_SEEKDATA, call);
}

static void set_options(CURL *c, struct call *call, const char *url, struct curl_slist *headers)
{
	struct s3_client *cl = call->cl;
	const plumb_s3_options *o = cl->o;
	char agent[64]; /* libcurl copies it */

	snprintf(agent, sizeof agent, "plumb/%s", plumb_version());
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, call->rq->errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, cl->target->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, cl->cred->access_key_id);
	curl_easy_setopt(c, CURLOPT_PASSWORD, cl->cred->secret_access_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	if (o->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	set_method(c, call->rq, call);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, call);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, call);
}

/* ---- What an attempt's outcome means ---- */

/* S3 error codes that say "try again", whatever the status. */
static bool retryable_code(const char *code)
{
	static const char *const codes[] = {"RequestTimeout", "SlowDown", "InternalError",
	                                    "ServiceUnavailable", "Throttling"};

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

/* The error of a transfer that did not finish; *again when worth a retry. */
static int transfer_error(struct s3_client *cl, struct s3_request *rq, CURLcode code, long os_errno,
                          bool *again)
{
	const char *peer = cl->target->peer;
	const char *detail = rq->errbuf[0] ? rq->errbuf : curl_easy_strerror(code);
	int err;

	*again = false;
	if (rq->stopped) {
		say(rq, "%s: %s", rq->op,
		    s3_cancelled(cl) ? "cancelled" : "stopped: the upload is ending");
		return -ECANCELED;
	}
	*again = true;
	if (rq->stalled) {
		say(rq, "%s: %s moved no data for %ld ms", rq->op, peer, cl->o->stall_timeout_ms);
		return -ETIMEDOUT;
	}
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
		say(rq, "%s: cannot resolve the host name of %s", rq->op, peer);
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		err = os_errno > 0 ? -(int)os_errno : -ECONNREFUSED;
		say(rq, "%s: cannot connect to %s: %s", rq->op, peer, plumb_strerror(err));
		return err;
	case CURLE_OPERATION_TIMEDOUT:
		say(rq, "%s: %s did not answer within %ld ms", rq->op, peer,
		    cl->o->connect_timeout_ms);
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		say(rq, "%s: the connection to %s was lost: %s", rq->op, peer, detail);
		return os_errno > 0 ? -(int)os_errno : -ECONNRESET;
	default:
		break;
	}
	*again = false;
	switch (code) {
	case CURLE_OUT_OF_MEMORY:
	case CURLE_WRITE_ERROR:
		say(rq, "%s: out of memory", rq->op);
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
		say(rq, "%s: bad URL: %s", rq->op, detail);
		return -EINVAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
		say(rq, "%s: TLS with %s failed: %s", rq->op, peer, detail);
		return -EPROTO;
	default:
		say(rq, "%s: %s", rq->op, detail);
		return -EIO;
	}
}

/* The error of a reply: non-2xx, or a 2xx whose body is an <Error>. */
static int reply_error(struct s3_request *rq, bool *again)
{
	const struct s3_xml *x = &rq->xml;
	bool is_error = strcmp(x->root, "Error") == 0;

	if (rq->status >= 200 && rq->status < 300 && !is_error)
		return 0;
	*again = rq->status >= 500 || rq->status == 429 || (is_error && retryable_code(x->code));
	if (is_error && x->code[0])
		say(rq, "%s: HTTP %ld %s: %s", rq->op, rq->status, x->code,
		    x->message[0] ? x->message : "(no message)");
	else
		say(rq, "%s: HTTP %ld with no S3 error in the reply", rq->op, rq->status);
	return PLUMB_ESERVER;
}

static int attempt(struct s3_client *cl, CURL *c, struct s3_request *rq, const char *url,
                   struct curl_slist *headers, bool *again)
{
	struct call call = {cl, rq};
	long os_errno = 0;
	CURLcode code;

	rq->off = 0;
	rq->stalled = rq->stopped = false;
	rq->errbuf[0] = '\0';
	rq->etag[0] = '\0';
	rq->status = 0;
	rq->last_move_ns = now_ns();
	rq->last_ul = rq->last_dl = 0;
	plumb_buffer_reset(&rq->reply);
	memset(&rq->xml, 0, sizeof rq->xml);
	rq->attempts++;
	atomic_fetch_add(&cl->requests, 1);
	set_options(c, &call, url, headers);
	code = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	if (code != CURLE_OK)
		return transfer_error(cl, rq, code, os_errno, again);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rq->status);
	if (plumb_buffer_len(&rq->reply) > 0)
		s3_xml_parse((const char *)plumb_buffer_bytes(&rq->reply),
		             plumb_buffer_len(&rq->reply), &rq->xml);
	return reply_error(rq, again);
}

/* ---- Backoff ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

bool s3_backoff(struct s3_client *cl, int attempt, bool must_finish)
{
	static _Atomic uint64_t counter;
	struct timespec ts;
	long base = cl->o->backoff_base_ms, cap = cl->o->backoff_cap_ms, ceiling = base;
	int64_t ms, end;

	for (int i = 0; i < attempt && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (int64_t)(mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
	                   atomic_fetch_add(&counter, 1)) %
	               (uint64_t)(ceiling + 1));
	end = now_ns() + ms * 1000000;
	for (;;) {
		int64_t left = end - now_ns();
		struct timespec nap = {0, left < 20000000 ? left : 20000000};

		if (!must_finish &&
		    (s3_cancelled(cl) || atomic_load_explicit(&cl->stop, memory_order_relaxed)))
			return false;
		if (left <= 0)
			return true;
		nanosleep(&nap, NULL);
	}
}

/* ---- The call ---- */

int s3_call(struct s3_client *cl, CURL *c, struct s3_request *rq)
{
	struct curl_slist *headers = build_headers(cl, rq);
	size_t ulen = strlen(cl->target->url), qlen = rq->query ? strlen(rq->query) : 0;
	char *url = malloc(ulen + qlen + 2);
	int rc = -ENOMEM;

	rq->attempts = 0;
	rq->err[0] = '\0';
	plumb_buffer_init(&rq->reply);
	if (!headers || !url) {
		say(rq, "%s: out of memory", rq->op);
		goto out;
	}
	memcpy(url, cl->target->url, ulen + 1);
	if (rq->query)
		sprintf(url + ulen, "?%s", rq->query);
	for (;;) {
		bool again = false;

		rc = attempt(cl, c, rq, url, headers, &again);
		if (rc == 0 || !again || rq->attempts > cl->o->retries)
			break;
		if (!s3_backoff(cl, rq->attempts - 1, rq->must_finish)) {
			say(rq, "%s: %s", rq->op,
			    s3_cancelled(cl) ? "cancelled" : "stopped: the upload is ending");
			rc = -ECANCELED;
			break;
		}
		atomic_fetch_add(&cl->retries, 1);
	}
	if (rc < 0 && rq->attempts > 1) {
		size_t n = strlen(rq->err);

		snprintf(rq->err + n, sizeof rq->err - n, " (after %d attempts)", rq->attempts);
	}
out:
	curl_slist_free_all(headers);
	free(url);
	return rc;
}

void s3_request_release(struct s3_request *rq)
{
	plumb_buffer_release(&rq->reply);
}
