/*
 * request.c - one signed S3 request over lib/http's client, retried while
 * that may help.
 *
 * Signing is ours (sigv4.c).  Every request carries x-amz-date, and
 * x-amz-content-sha256 with the hex SHA-256 of its body, which we have: the
 * worker hashes each part anyway for Content-MD5 and x-amz-checksum-sha256
 * (S3 then checks the body against it, so UNSIGNED-PAYLOAD would only lose a
 * check); and x-amz-security-token with session credentials.  Every header
 * the request sends is signed but User-Agent and Content-Length, which the
 * client adds after (S3 and radosgw sign what they are told is signed).
 * Queries are written canonical by the callers: keys sorted
 * ("partNumber=1&uploadId=..."), values percent-encoded by our rules, and
 * "uploads=" with its '=' (S3 reads "?uploads=" as it reads "?uploads"); the
 * path is url.c's, encoded canonically, and the client sends both byte for
 * byte, so "./" and "//" in keys stay what they are.  No Expect:
 * 100-continue: a refused part is answered early and the client stops
 * sending it.  tests/unit/test_s3.c holds the signatures against botocore's
 * signer.
 *
 * Retries: a request that fails in a way that may pass (the connection could
 * not be made or was lost, the server stalled, 5xx, 429, 503 SlowDown, 400
 * RequestTimeout, or a 200 whose body is an InternalError, which
 * CompleteMultipartUpload may answer) is made again after an exponential
 * backoff with full jitter.  The body is always the caller's memory, so a
 * retry resends exactly the same bytes.  The caller's cancel flag and the
 * upload's stop flag end a request within 100 ms (the client polls that
 * often) and end a backoff within 20 ms; an abort request (must_finish)
 * ignores both.
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

int s3_add_header(struct s3_request *rq, const char *fmt, ...)
{
	va_list ap;

	if (rq->nheaders >= sizeof rq->headers / sizeof rq->headers[0])
		return -ENOSPC;
	va_start(ap, fmt);
	vsnprintf(rq->headers[rq->nheaders++], sizeof rq->headers[0], fmt, ap);
	va_end(ap);
	return 0;
}

/* ---- The client's callbacks ---- */

struct call {
	struct s3_client *cl;
	struct s3_request *rq;
};

static bool stop_requested(void *arg)
{
	struct call *call = arg;

	return must_stop(call->cl, call->rq);
}

/* Keeps the ETag, trimmed of its quotes. */
static void on_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct s3_request *rq = ((struct call *)arg)->rq;
	size_t n;

	if (nlen != 4 || strncasecmp(name, "ETag", 4) != 0)
		return;
	while (vlen > 0 && *value == '"')
		value++, vlen--;
	while (vlen > 0 && value[vlen - 1] == '"')
		vlen--;
	n = vlen < sizeof rq->etag ? vlen : sizeof rq->etag - 1;
	memcpy(rq->etag, value, n);
	rq->etag[n] = '\0';
}

/* ---- Setting up a request ---- */

/* x-amz-date, x-amz-content-sha256, the session token, the request's own
 * headers, and the Authorization that signs them all (and Host); into
 * lines (pointers into store).  0 or < 0. */
static int sign(struct s3_client *cl, struct s3_request *rq, const struct http_url *u,
                char store[][600], const char **lines, size_t *nlines)
{
	static const char empty_sha256[] =
	        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	const char *sha = rq->sha256_hex ? rq->sha256_hex : empty_sha256;
	char date[20], auth[512];
	struct s3_sigv4 sv;
	struct tm tm;
	time_t now = time(NULL);
	size_t n = 0;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(store[n], 600, "x-amz-date: %s", date);
	lines[n] = store[n];
	n++;
	snprintf(store[n], 600, "x-amz-content-sha256: %s", sha);
	lines[n] = store[n];
	n++;
	if (cl->token_header)
		lines[n++] = cl->token_header;
	for (unsigned i = 0; i < rq->nheaders; i++)
		lines[n++] = rq->headers[i];
	sv = (struct s3_sigv4){
	        .method = rq->method,
	        .path = u->target,
	        .path_len = u->path_len,
	        .query = rq->query,
	        .host = u->hostport,
	        .headers = lines,
	        .nheaders = n,
	        .payload_sha256_hex = sha,
	        .access_key = cl->cred->access_key_id,
	        .secret_key = cl->cred->secret_access_key,
	        .region = cl->target->region,
	        .amz_date = date,
	};
	if ((rc = s3_sigv4_authorization(&sv, auth, sizeof auth)) < 0)
		return rc;
	snprintf(store[S3_MAX_HEADERS], 600, "Authorization: %s", auth);
	lines[n++] = store[S3_MAX_HEADERS];
	*nlines = n;
	return 0;
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

/* The error of a transfer that did not finish; *again when worth a retry
 * (a stall too: the body is in memory, so the request can be made again). */
static int transfer_error(struct s3_client *cl, struct s3_request *rq,
                          const struct http_response *rs, bool *again)
{
	const char *peer = cl->target->peer;
	int err = http_fail_errno(rs);

	*again = http_fail_may_pass(rs) || rs->fail == HTTP_FAIL_STALL;
	switch (rs->fail) {
	case HTTP_FAIL_STOPPED:
		say(rq, "%s: %s", rq->op,
		    s3_cancelled(cl) ? "cancelled" : "stopped: the upload is ending");
		break;
	case HTTP_FAIL_NOMEM:
		say(rq, "%s: out of memory", rq->op);
		break;
	case HTTP_FAIL_TLS:
		say(rq, "%s: TLS with %s failed: %s", rq->op, peer, rs->detail);
		break;
	case HTTP_FAIL_PROTOCOL:
		say(rq, "%s: %s answered something that is not HTTP/1.x: %s", rq->op, peer,
		    rs->detail);
		break;
	case HTTP_FAIL_STALL:
		say(rq, "%s: %s moved no data for %ld ms", rq->op, peer, cl->o->stall_timeout_ms);
		break;
	case HTTP_FAIL_RESOLVE:
		say(rq, "%s: cannot resolve the host name of %s: %s", rq->op, peer, rs->detail);
		break;
	case HTTP_FAIL_CONNECT:
		say(rq, "%s: cannot connect to %s: %s", rq->op, peer, plumb_strerror(err));
		break;
	case HTTP_FAIL_CONNECT_TIME:
		say(rq, "%s: %s did not answer within %ld ms", rq->op, peer,
		    cl->o->connect_timeout_ms);
		break;
	case HTTP_FAIL_SEND:
	case HTTP_FAIL_RECV:
		say(rq, "%s: the connection to %s was lost: %s", rq->op, peer, rs->detail);
		break;
	default: /* PROXY: detail is a sentence naming the proxy */
		say(rq, "%s: %s", rq->op, rs->detail);
		break;
	}
	return err;
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

static int attempt(struct s3_client *cl, struct http_conn *c, struct s3_request *rq,
                   const struct http_url *u, bool *again)
{
	struct call call = {cl, rq};
	char store[S3_MAX_HEADERS + 1][600];
	const char *lines[S3_MAX_HEADERS + 1];
	struct http_request hr = {
	        .method = rq->method,
	        .url = u,
	        .headers = lines,
	        .body = rq->body,
	        .len = rq->len,
	        .connect_timeout_ms = cl->o->connect_timeout_ms,
	        .stall_timeout_ms = cl->o->stall_timeout_ms,
	        .ca_file = cl->o->ca_file,
	        .insecure = cl->o->insecure != 0,
	        .reply_max = REPLY_MAX,
	        .stop = stop_requested,
	        .stop_arg = &call,
	        .on_header = on_header,
	        .header_arg = &call,
	};
	struct http_response rs = {0};
	int rc;

	rq->etag[0] = '\0';
	rq->status = 0;
	memset(&rq->xml, 0, sizeof rq->xml);
	rq->attempts++;
	atomic_fetch_add(&cl->requests, 1);
	if ((rc = sign(cl, rq, u, store, lines, &hr.nheaders)) < 0) {
		say(rq, "%s: cannot sign the request: %s", rq->op, plumb_strerror(rc));
		return rc;
	}
	if (http_exchange(c, &hr, &rs) < 0) {
		rc = transfer_error(cl, rq, &rs, again);
		http_response_release(&rs);
		return rc;
	}
	rq->status = rs.status;
	if (rs.body_len > 0)
		s3_xml_parse(rs.body, rs.body_len, &rq->xml);
	http_response_release(&rs);
	return reply_error(rq, again);
}

/* ---- The call ---- */

int s3_call(struct s3_client *cl, struct http_conn *c, struct s3_request *rq)
{
	struct http_url u = cl->target->http; /* with the query in its target */
	struct call call = {cl, rq};
	int rc;

	rq->attempts = 0;
	rq->err[0] = '\0';
	u.target = NULL;
	if (asprintf(&u.target, "%s%s%s", cl->target->http.target, rq->query ? "?" : "",
	             rq->query ? rq->query : "") < 0) {
		u.target = NULL;
		say(rq, "%s: out of memory", rq->op);
		return -ENOMEM;
	}
	for (;;) {
		bool again = false;

		rc = attempt(cl, c, rq, &u, &again);
		if (rc == 0 || !again || rq->attempts > cl->o->retries)
			break;
		if (!http_backoff(cl->o->backoff_base_ms, cl->o->backoff_cap_ms, rq->attempts - 1,
		                  stop_requested, &call)) {
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
	http_url_release(&u);
	return rc;
}
