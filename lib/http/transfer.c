/*
 * transfer.c - one chunked request over libcurl, its body pulled from a reader.
 *
 * libcurl asks for the body through a read callback; this one reads the
 * plumb_reader straight into libcurl's upload buffer, so each byte is copied
 * once on its way from the producer to the socket and the whole stream never
 * sits in memory.  Three things can stop a transfer from our side, and each
 * leaves its mark in the struct attempt so that send.c can say which it was:
 *  - the reader fails: the callback returns CURL_READFUNC_ABORT and the
 *    reader's error is kept (it, not curl's "aborted by callback", is what
 *    the caller gets);
 *  - the caller cancels: the read callback and the progress callback (which
 *    libcurl calls about once a second even when nothing moves) look at
 *    *cancel;
 *  - the server stalls: the progress callback notes when bytes last moved in
 *    either direction and gives up after stall_timeout_ms.  The clock is also
 *    reset each time the reader answers, because the time libcurl spends
 *    blocked in our read callback is the producer's doing, not the server's.
 *    (libcurl's own low-speed limit cannot tell the two apart.)
 *
 * The request is made with CURLOPT_UPLOAD and the method set explicitly, so
 * libcurl adds no Content-Type of its own (it would for CURLOPT_POST), and
 * with "Transfer-Encoding: chunked" and an empty "Expect:" among the headers
 * (send.c puts them there): the length is unknown, and waiting for a
 * "100 Continue" that some servers never send would only add a second.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <plumb/plumb.h>

#include "http-internal.h"

/* libcurl's upload buffer: big enough that a fast stream is not cut into
 * 64 KiB chunks, small enough not to matter. */
#define UPLOAD_BUFFER (256 * 1024)

int64_t http_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool cancel_requested(const struct attempt *a)
{
	return a->o->cancel && atomic_load_explicit(a->o->cancel, memory_order_relaxed);
}

static size_t read_body(char *buf, size_t size, size_t nitems, void *arg)
{
	struct attempt *a = arg;
	ssize_t n;

	if (cancel_requested(a)) {
		a->cancelled = true;
		return CURL_READFUNC_ABORT;
	}
	if (a->body_done)
		return 0;
	n = plumb_reader_read(a->body, buf, size * nitems);
	a->last_move_ns = http_now_ns();
	if (n < 0) {
		a->read_err = (int)n;
		return CURL_READFUNC_ABORT;
	}
	if (n == 0)
		a->body_done = true;
	a->res->sent += (uint64_t)n;
	if (a->o->progress)
		atomic_store_explicit(a->o->progress, a->res->sent, memory_order_relaxed);
	return (size_t)n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct attempt *a = arg;
	int64_t now = http_now_ns();

	(void)dltotal;
	(void)ultotal;
	if (cancel_requested(a)) {
		a->cancelled = true;
		return 1;
	}
	if (ulnow != a->last_ul || dlnow != a->last_dl) {
		a->last_ul = ulnow;
		a->last_dl = dlnow;
		a->last_move_ns = now;
		return 0;
	}
	if (now - a->last_move_ns >= (int64_t)a->o->stall_timeout_ms * 1000000) {
		a->stalled = true;
		return 1;
	}
	return 0;
}

/* Keeps the first reply_max bytes of the reply body and counts the rest. */
static size_t on_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	struct attempt *a = arg;
	plumb_http_result *res = a->res;
	size_t n = size * nmemb, room, take;

	res->reply_size += n;
	room = a->reply_max - res->reply_len;
	take = n < room ? n : room;
	if (take == 0)
		return n;
	if (!res->reply) {
		res->reply = malloc(a->reply_max + 1);
		if (!res->reply)
			return 0; /* libcurl fails the transfer with CURLE_WRITE_ERROR */
	}
	memcpy(res->reply + res->reply_len, data, take);
	res->reply_len += take;
	res->reply[res->reply_len] = '\0';
	return n;
}

/* Remembers the last status line ("HTTP/1.1 200 OK"); a new one (after a
 * 1xx) also drops what was kept of an earlier reply. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct attempt *a = arg;
	size_t n = size * nmemb, len = n;

	if (n < 5 || memcmp(data, "HTTP/", 5) != 0)
		return n;
	while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
		len--;
	if (len >= sizeof a->status_line)
		len = sizeof a->status_line - 1;
	memcpy(a->status_line, data, len);
	a->status_line[len] = '\0';
	a->res->reply_len = 0;
	a->res->reply_size = 0;
	return n;
}

static void set_method(CURL *c, const char *method)
{
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)-1);
	if (strcmp(method, "PUT") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

static void set_tls(CURL *c, const plumb_http_options *o)
{
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	if (o->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static void set_options(CURL *c, struct attempt *a)
{
	const plumb_http_options *o = a->o;
	char agent[64]; /* libcurl copies it */

	snprintf(agent, sizeof agent, "plumb/%s", plumb_version());
	curl_easy_setopt(c, CURLOPT_URL, o->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, a->errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, a->headers);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, (long)UPLOAD_BUFFER);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	set_method(c, o->method);
	set_tls(c, o);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
	curl_easy_setopt(c, CURLOPT_READDATA, a);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
}

int http_transfer(struct attempt *a)
{
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	a->errbuf[0] = '\0';
	a->status_line[0] = '\0';
	a->last_move_ns = http_now_ns();
	a->last_ul = a->last_dl = 0;
	set_options(c, a);
	a->code = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->res->status);
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &a->os_errno);
	curl_easy_cleanup(c);
	return a->code == CURLE_OK ? 0 : -EIO;
}
