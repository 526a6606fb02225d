/*
 * send.c - plumb_http_send: one streamed request, retried only while that is
 * still safe, and a message a person can act on when it fails.
 *
 * The transfer itself is client.c's (http_exchange: the body read from the
 * reader one chunk at a time, the cancel flag polled every 100 ms, the stall
 * clock not counting the time spent waiting for the reader).  This file
 * checks the options, builds the request, runs attempts, and turns what an
 * attempt reports into the return code and res->message.  The rule for
 * retrying is the whole point of the shape: once the reader has given a
 * single byte, that byte lives only in the connection's send buffer, so an
 * attempt that fails after it cannot be repeated.  An attempt that failed
 * before (the connection was refused, or the server answered 5xx to a
 * request whose body was still empty) is repeated after an exponential
 * backoff with full jitter.  A reader that already reached its end before
 * the failure is read again, and gives its end again (io.h's contract), so
 * an empty body can be retried too.
 *
 * URLs in messages are shown without their query, which may hold secrets
 * (signed URLs); URLs with user info are refused (lib/http/url.c).  The
 * caller's headers may replace Content-Type, Host and User-Agent, but not
 * the ones that frame the body and the connection (Content-Length,
 * Transfer-Encoding, Connection): two framings would let the server read a
 * different request than the one sent.  Timeouts <= 0 are the defaults, and
 * reply_max is at most HTTP_REPLY_CAP.
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

#include <plumb/http.h>

#include "client.h"

#define DEFAULT_CONNECT_MS HTTP_CONNECT_DEFAULT_MS
#define DEFAULT_STALL_MS   HTTP_STALL_DEFAULT_MS
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

/* One request's attempts: what they share, and how the last one went. */
struct attempt {
	const plumb_http_options *o;
	plumb_http_result *res;
	const struct http_url *url;
	struct http_conn *conn;  /* kept from attempt to attempt */
	struct http_request rq;  /* the same for every attempt */
	struct http_response rs; /* the last attempt's: fail, os_err, status_line... */
};

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

/* The headers a caller may not send: the client's framing. */
static const char *const framing[] = {"Content-Length", "Transfer-Encoding", "Connection"};

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
		for (size_t j = 0; j < sizeof framing / sizeof *framing; j++) {
			size_t n = strlen(framing[j]);

			if (strncasecmp(o->headers[i], framing[j], n) == 0 &&
			    o->headers[i][n] == ':') {
				say(res,
				    "header '%.*s' cannot be set: plumb sends Content-Length, "
				    "Transfer-Encoding and Connection itself",
				    (int)n, o->headers[i]);
				return -EINVAL;
			}
		}
	}
	if (o->content_type && strpbrk(o->content_type, "\r\n")) {
		say(res, "the content type holds a line break");
		return -EINVAL;
	}
	return 0;
}

/* Content-Type (unless the caller's headers have one), then the caller's
 * headers; the client adds Host and User-Agent (unless among them) and
 * Transfer-Encoding.  The lines point into ct and o. */
static const char **build_headers(const plumb_http_options *o, char *ct, size_t ctlen, size_t *n)
{
	const char **h = calloc(o->nheaders + 1, sizeof *h);

	*n = 0;
	if (!h)
		return NULL;
	if (o->content_type && !has_header(o, "Content-Type")) {
		snprintf(ct, ctlen, "Content-Type: %s", o->content_type);
		h[(*n)++] = ct;
	}
	for (size_t i = 0; i < o->nheaders; i++)
		h[(*n)++] = o->headers[i];
	return h;
}

/* ---- Messages ---- */

/* "METHOD scheme://host[:port]/path", the URL without query (which may hold
 * a signature; the port when not the scheme's); for a URL that did not parse, what precedes '?' or
 * '#' and follows any user info. */
static void describe_request(const plumb_http_options *o, const struct http_url *u, char *out,
                             size_t len)
{
	const char *url = o->url, *sep, *at, *end;

	if (u) {
		snprintf(out, len, "%s %s://%s%.*s", o->method, u->scheme, u->hostport,
		         (int)u->path_len, u->target);
		return;
	}
	sep = strstr(url, "://");
	end = url + strcspn(url, "?#");
	at = sep ? memchr(sep + 3, '@', (size_t)(end - sep - 3)) : NULL;
	if (at && memchr(sep + 3, '/', (size_t)(at - sep - 3)))
		at = NULL;
	if (at)
		snprintf(out, len, "%s %.*s%.*s", o->method, (int)(sep + 3 - url), url,
		         (int)(end - at - 1), at + 1);
	else
		snprintf(out, len, "%s %.*s", o->method, (int)(end - url), url);
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
	const char *sp = strchr(a->rs.status_line, ' ');

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
	if (a->res->status == 407 && a->rs.via[0])
		say(a->res,
		    "%s: HTTP %s from the %s: it wants credentials (http://USER:PASSWORD@HOST:PORT "
		    "in the variable), or did not take them",
		    req, status, a->rs.via);
	else if (line[0])
		say(a->res, "%s: HTTP %s: %s", req, status, line);
	else
		say(a->res, "%s: HTTP %s", req, status);
	return PLUMB_ESERVER;
}

/* The error for a transfer that did not finish, and its message. */
static int transfer_error(const struct attempt *a, const char *req)
{
	const plumb_http_options *o = a->o;
	plumb_http_result *res = a->res;
	const char *peer = a->url->peer, *detail = a->rs.detail;
	int err = http_fail_errno(&a->rs);
	unsigned long long sent = res->sent;

	switch (a->rs.fail) {
	case HTTP_FAIL_READER:
		say(res,
		    "%s: reading the body failed after %llu bytes: %s; the request was cut short",
		    req, sent, plumb_strerror(err));
		break;
	case HTTP_FAIL_STOPPED:
		say(res, "%s: cancelled after %llu bytes of the body", req, sent);
		break;
	case HTTP_FAIL_STALL:
		say(res,
		    "%s: %s took no data and sent nothing for %ld ms (after %llu bytes of the "
		    "body)",
		    req, peer, o->stall_timeout_ms, sent);
		break;
	case HTTP_FAIL_RESOLVE:
		say(res, "%s: cannot resolve the host name of %s: %s", req, peer, detail);
		break;
	case HTTP_FAIL_CONNECT:
		say(res, "%s: cannot connect to %s: %s", req, peer, plumb_strerror(err));
		break;
	case HTTP_FAIL_CONNECT_TIME:
		say(res, "%s: %s did not answer within %ld ms", req, peer, o->connect_timeout_ms);
		break;
	case HTTP_FAIL_SEND:
		say(res, "%s: %s closed the connection after %llu bytes of the body: %s", req, peer,
		    sent, plumb_strerror(err));
		break;
	case HTTP_FAIL_RECV:
		say(res, "%s: %s dropped the connection after %llu bytes of the body: %s", req,
		    peer, sent, detail);
		break;
	case HTTP_FAIL_NOMEM:
		say(res, "%s: %s", req, detail[0] ? detail : "out of memory");
		break;
	case HTTP_FAIL_TLS:
		say(res, "%s: TLS with %s failed: %s", req, peer, detail);
		break;
	case HTTP_FAIL_PROTOCOL:
		say(res, "%s: %s answered something that is not HTTP/1.x: %s", req, peer, detail);
		break;
	default: /* PROXY: detail is a sentence naming the proxy */
		say(res, "%s: %s", req, detail);
		break;
	}
	return err;
}

/* ---- Attempts ---- */

/* Worth another attempt, if nothing was read from the body yet. */
static bool transient(const struct attempt *a, int rc)
{
	if (rc == PLUMB_ESERVER)
		return a->res->status == 408 || a->res->status == 429 || a->res->status >= 500;
	return http_fail_may_pass(&a->rs);
}

/* The client's stop and http_backoff's: the caller's cancel flag. */
static bool cancelled(void *arg)
{
	const plumb_http_options *o = arg;

	return o->cancel && atomic_load_explicit(o->cancel, memory_order_relaxed);
}

static int one_attempt(struct attempt *a, const char *req)
{
	plumb_http_result *res = a->res;
	int rc;

	res->attempts++;
	rc = http_exchange(a->conn, &a->rq, &a->rs);
	res->sent += a->rs.sent;
	res->status = a->rs.status;
	free(res->reply);
	res->reply = a->rs.body;
	res->reply_len = a->rs.body_len;
	res->reply_size = a->rs.body_size;
	a->rs.body = NULL;
	a->rs.body_len = 0;
	if (rc < 0)
		return transfer_error(a, req);
	if (res->status >= 200 && res->status < 300)
		return 0;
	return server_error(a, req);
}

int plumb_http_send(const plumb_http_options *opts, plumb_reader *body, plumb_http_result *res)
{
	plumb_http_options o = *opts;
	struct http_url url;
	struct attempt a;
	char req[600], ct[512], why[256];
	int rc;

	memset(res, 0, sizeof *res);
	if (!o.method)
		o.method = "POST";
	if (o.reply_max == 0)
		o.reply_max = PLUMB_HTTP_REPLY_MAX;
	if (o.reply_max > HTTP_REPLY_CAP)
		o.reply_max = HTTP_REPLY_CAP;
	if (o.connect_timeout_ms <= 0)
		o.connect_timeout_ms = DEFAULT_CONNECT_MS;
	if (o.stall_timeout_ms <= 0)
		o.stall_timeout_ms = DEFAULT_STALL_MS;
	if (o.connect_timeout_ms > HTTP_TIMEOUT_MAX_MS)
		o.connect_timeout_ms = HTTP_TIMEOUT_MAX_MS;
	if (o.stall_timeout_ms > HTTP_TIMEOUT_MAX_MS)
		o.stall_timeout_ms = HTTP_TIMEOUT_MAX_MS;
	if ((rc = check_options(&o, res)) < 0)
		return rc;
	switch (http_url_parse(o.url, &url, why, sizeof why)) {
	case HTTP_URL_OK:
		break;
	case HTTP_URL_NOMEM:
		say(res, "out of memory");
		return -ENOMEM;
	default:
		describe_request(&o, NULL, req, sizeof req);
		say(res, "%s: bad URL: %s", req, why);
		return -EINVAL;
	}
	memset(&a, 0, sizeof a);
	a.o = &o;
	a.res = res;
	a.url = &url;
	a.rq = (struct http_request){
	        .method = o.method,
	        .url = &url,
	        .reader = body,
	        .connect_timeout_ms = o.connect_timeout_ms,
	        .stall_timeout_ms = o.stall_timeout_ms,
	        .ca_file = o.ca_file,
	        .insecure = o.insecure != 0,
	        .reply_max = o.reply_max,
	        .stop = cancelled,
	        .stop_arg = &o,
	        .progress = o.progress,
	};
	if (!(a.rq.headers = build_headers(&o, ct, sizeof ct, &a.rq.nheaders)) ||
	    !(a.conn = http_conn_new())) {
		say(res, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	describe_request(&o, &url, req, sizeof req);
	for (int attempt = 0;; attempt++) {
		rc = one_attempt(&a, req);
		if (rc == 0 || res->sent > 0 || attempt >= o.retries || !transient(&a, rc))
			break;
		if (!http_backoff(BACKOFF_BASE_MS, BACKOFF_CAP_MS, attempt, cancelled, &o)) {
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
out:
	http_response_release(&a.rs);
	http_conn_free(a.conn);
	free((void *)a.rq.headers);
	http_url_release(&url);
	return rc;
}
