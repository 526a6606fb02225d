/*
 * send.c - plumb_http_send: one streamed request, retried only while that is
 * still safe, and a message a person can act on when it fails.
 *
 * The transfer itself is transfer.c's.  This file checks the options, builds
 * the header list, runs attempts, and turns what an attempt reports into the
 * return code and res->message.  The rule for retrying is the whole point of
 * the shape: once the reader has given a single byte, that byte lives only in
 * libcurl's buffer, so an attempt that fails after it cannot be repeated.  An
 * attempt that failed before (the connection was refused, or the server
 * answered 5xx to a request whose body was still empty) is repeated after an
 * exponential backoff with full jitter.  A reader that already reached its
 * end before the failure is read again, and gives its end again (io.h's
 * contract), so an empty body can be retried too.
 *
 * URLs in messages are shown without their query and user info, which may
 * hold secrets (signed URLs, passwords).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http-internal.h"

#define DEFAULT_CONNECT_MS 30000L
#define DEFAULT_STALL_MS   120000L
#define DEFAULT_RETRIES    2
#define BACKOFF_BASE_MS    250
#define BACKOFF_CAP_MS     5000

void plumb_http_options_init(plumb_http_options *o)
{
	memset(o, 0, sizeof *o);
	o->connect_timeout_ms = DEFAULT_CONNECT_MS;
	o->stall_timeout_ms = DEFAULT_STALL_MS;
	o->retries = DEFAULT_RETRIES;
	o->reply_max = PLUMB_HTTP_REPLY_MAX;
}

void plumb_http_result_release(plumb_http_result *res)
{
	free(res->reply);
	res->reply = NULL;
	res->reply_len = 0;
}

static void say(plumb_http_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(plumb_http_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->message, sizeof res->message, fmt, ap);
	va_end(ap);
}

/* ---- Checking the options ---- */

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

/* "Name: value" with a token for a name and no line breaks. */
static bool is_header(const char *h)
{
	const char *colon = strchr(h, ':');
	char name[128];
	size_t n;

	if (!colon || strpbrk(h, "\r\n"))
		return false;
	n = (size_t)(colon - h);
	if (n == 0 || n >= sizeof name)
		return false;
	memcpy(name, h, n);
	name[n] = '\0';
	return is_token(name);
}

static bool has_header(const plumb_http_options *o, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < o->nheaders; i++)
		if (strncasecmp(o->headers[i], name, n) == 0 && o->headers[i][n] == ':')
			return true;
	return false;
}

static int check_options(const plumb_http_options *o, plumb_http_result *res)
{
	if (!o->url || !*o->url) {
		say(res, "no URL to send to");
		return -EINVAL;
	}
	if (!is_token(o->method)) {
		say(res, "'%s' is not an HTTP method", o->method);
		return -EINVAL;
	}
	for (size_t i = 0; i < o->nheaders; i++) {
		if (!o->headers[i] || !is_header(o->headers[i])) {
			say(res, "header '%s' is not of the form 'Name: value'",
			    o->headers[i] ? o->headers[i] : "(null)");
			return -EINVAL;
		}
	}
	if (o->content_type && strpbrk(o->content_type, "\r\n")) {
		say(res, "the content type holds a line break");
		return -EINVAL;
	}
	return 0;
}

/* Transfer-Encoding, no Expect, Content-Type (unless the caller's headers
 * have one), then the caller's headers. */
static int build_headers(const plumb_http_options *o, struct curl_slist **out)
{
	struct curl_slist *l = NULL, *t;
	char ct[512];

	*out = NULL;
	l = curl_slist_append(l, "Transfer-Encoding: chunked");
	if (!l)
		return -ENOMEM;
	if (!(t = curl_slist_append(l, "Expect:")))
		goto nomem;
	l = t;
	if (o->content_type && !has_header(o, "Content-Type")) {
		snprintf(ct, sizeof ct, "Content-Type: %s", o->content_type);
		if (!(t = curl_slist_append(l, ct)))
			goto nomem;
		l = t;
	}
	for (size_t i = 0; i < o->nheaders; i++) {
		if (!(t = curl_slist_append(l, o->headers[i])))
			goto nomem;
		l = t;
	}
	*out = l;
	return 0;
nomem:
	curl_slist_free_all(l);
	return -ENOMEM;
}

/* ---- Messages ---- */

/* "METHOD scheme://host:port/path", the URL without user info or query. */
static void describe_request(const plumb_http_options *o, char *out, size_t len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;

	snprintf(out, len, "%s %s", o->method, o->url);
	if (!u || curl_url_set(u, CURLUPART_URL, o->url, 0) != CURLUE_OK)
		goto done;
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (scheme && host)
		snprintf(out, len, "%s %s://%s%s%s%s", o->method, scheme, host, port ? ":" : "",
		         port ? port : "", path ? path : "/");
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
}

/* "host:port" of the URL (the scheme's port when it names none). */
static void describe_peer(const char *url, char *out, size_t len)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;

	snprintf(out, len, "the server");
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		snprintf(out, len, "%s:%s", host, port);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

/* The first non-empty line of the reply, at most max bytes of it. */
static void first_line(const plumb_http_result *res, char *out, size_t max)
{
	const char *p = res->reply ? res->reply : "";
	size_t n;

	while (*p == '\r' || *p == '\n' || *p == ' ' || *p == '\t')
		p++;
	n = strcspn(p, "\r\n");
	if (n >= max)
		n = max - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* "404 Not Found" out of "HTTP/1.1 404 Not Found", or just the number. */
static void status_text(const struct attempt *a, char *out, size_t len)
{
	const char *sp = strchr(a->status_line, ' ');

	if (sp && sp[1])
		snprintf(out, len, "%s", sp + 1);
	else
		snprintf(out, len, "%ld", a->res->status);
}

static int server_error(const struct attempt *a, const char *req)
{
	char status[128], line[256];

	status_text(a, status, sizeof status);
	first_line(a->res, line, sizeof line);
	if (line[0])
		say(a->res, "%s: HTTP %s: %s", req, status, line);
	else
		say(a->res, "%s: HTTP %s", req, status);
	return PLUMB_ESERVER;
}

static int os_error(const struct attempt *a, int fallback)
{
	return a->os_errno > 0 ? -(int)a->os_errno : fallback;
}

/* The error for a transfer that did not finish, and its message. */
static int transfer_error(const struct attempt *a, const char *req)
{
	const plumb_http_options *o = a->o;
	plumb_http_result *res = a->res;
	const char *detail = a->errbuf[0] ? a->errbuf : curl_easy_strerror(a->code);
	char peer[300];
	int err;

	describe_peer(o->url, peer, sizeof peer);
	if (a->read_err) {
		say(res,
		    "%s: reading the body failed after %llu bytes: %s; the request was cut short",
		    req, (unsigned long long)res->sent, plumb_strerror(a->read_err));
		return a->read_err;
	}
	if (a->cancelled) {
		say(res, "%s: cancelled after %llu bytes of the body", req,
		    (unsigned long long)res->sent);
		return -ECANCELED;
	}
	if (a->stalled) {
		say(res,
		    "%s: %s took no data and sent nothing for %ld ms (after %llu bytes of the "
		    "body)",
		    req, peer, o->stall_timeout_ms, (unsigned long long)res->sent);
		return -ETIMEDOUT;
	}
	switch (a->code) {
	case CURLE_COULDNT_RESOLVE_HOST:
		say(res, "%s: cannot resolve the host name of %s", req, peer);
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		err = os_error(a, -ECONNREFUSED);
		say(res, "%s: cannot connect to %s: %s", req, peer, plumb_strerror(err));
		return err;
	case CURLE_OPERATION_TIMEDOUT:
		say(res, "%s: %s did not answer within %ld ms", req, peer, o->connect_timeout_ms);
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
		err = os_error(a, -EPIPE);
		say(res, "%s: %s closed the connection after %llu bytes of the body: %s", req, peer,
		    (unsigned long long)res->sent, plumb_strerror(err));
		return err;
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		err = os_error(a, -ECONNRESET);
		say(res, "%s: %s dropped the connection after %llu bytes of the body: %s", req,
		    peer, (unsigned long long)res->sent, detail);
		return err;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		say(res, "%s: bad URL: %s", req, detail);
		return -EINVAL;
	case CURLE_OUT_OF_MEMORY:
		say(res, "%s: out of memory", req);
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		say(res, "%s: out of memory while keeping the reply", req);
		return -ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
		say(res, "%s: TLS with %s failed: %s", req, peer, detail);
		return -EPROTO;
	default:
		say(res, "%s: %s", req, detail);
		return -EIO;
	}
}

/* ---- Attempts ---- */

/* Worth another attempt, if nothing was read from the body yet. */
static bool transient(const struct attempt *a, int rc)
{
	if (a->read_err || a->cancelled)
		return false;
	if (rc == PLUMB_ESERVER)
		return a->res->status == 408 || a->res->status == 429 || a->res->status >= 500;
	switch (a->code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return true;
	default:
		return false;
	}
}

static uint64_t jitter_seed(void)
{
	struct timespec ts;
	static _Atomic uint64_t counter;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
	       (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull);
}

/* Sleeps a random time up to min(cap, base * 2^attempt), in slices, so that a
 * cancel is seen within 50 ms.  Returns false if cancelled. */
static bool backoff(const plumb_http_options *o, int attempt)
{
	uint64_t x = jitter_seed();
	long ceiling = BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10);
	long ms;

	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	ms = (long)(x % (uint64_t)(ceiling + 1));
	while (ms > 0) {
		long slice = ms < 50 ? ms : 50;
		struct timespec ts = {0, slice * 1000000L};

		if (o->cancel && atomic_load(o->cancel))
			return false;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return !(o->cancel && atomic_load(o->cancel));
}

static int one_attempt(struct attempt *a, const char *req)
{
	int rc;

	a->read_err = 0;
	a->cancelled = a->stalled = a->body_done = false;
	a->os_errno = 0;
	a->res->status = 0;
	a->res->reply_len = a->res->reply_size = 0;
	a->res->attempts++;
	rc = http_transfer(a);
	if (rc == -ENOMEM && a->code == CURLE_OK) {
		say(a->res, "%s: out of memory", req);
		return rc;
	}
	if (rc < 0)
		return transfer_error(a, req);
	if (a->res->status >= 200 && a->res->status < 300)
		return 0;
	return server_error(a, req);
}

int plumb_http_send(const plumb_http_options *opts, plumb_reader *body, plumb_http_result *res)
{
	plumb_http_options o = *opts;
	struct attempt a;
	char req[600];
	int rc;

	memset(res, 0, sizeof *res);
	if (!o.method)
		o.method = "POST";
	if (o.reply_max == 0)
		o.reply_max = PLUMB_HTTP_REPLY_MAX;
	if ((rc = check_options(&o, res)) < 0)
		return rc;
	memset(&a, 0, sizeof a);
	a.o = &o;
	a.body = body;
	a.res = res;
	a.reply_max = o.reply_max;
	if ((rc = build_headers(&o, &a.headers)) < 0) {
		say(res, "out of memory");
		return rc;
	}
	describe_request(&o, req, sizeof req);
	for (int attempt = 0;; attempt++) {
		rc = one_attempt(&a, req);
		if (rc == 0 || res->sent > 0 || attempt >= o.retries || !transient(&a, rc))
			break;
		if (!backoff(&o, attempt)) {
			say(res, "%s: cancelled while waiting to try again", req);
			rc = -ECANCELED;
			break;
		}
	}
	if (rc < 0 && res->attempts > 1) {
		size_t n = strlen(res->message);

		snprintf(res->message + n, sizeof res->message - n, " (%d attempts)",
		         res->attempts);
	}
	curl_slist_free_all(a.headers);
	return rc;
}
