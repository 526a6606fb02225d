/*
 * http-internal.h - what the files of lib/http share and nobody else needs.
 *
 * send.c decides whether to try again and what to tell the caller; transfer.c
 * makes one attempt over libcurl and reports what happened in a struct
 * attempt, raw: the curl code, the OS error, who stopped the transfer.
 */
#ifndef PLUMB_HTTP_INTERNAL_H
#define PLUMB_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include <plumb/http.h>

/* One request over the wire and how it ended. */
struct attempt {
	/* In: what to send. */
	const plumb_http_options *o;
	plumb_reader *body;
	plumb_http_result *res; /* sent, reply and status are updated as it goes */
	struct curl_slist *headers;
	size_t reply_max;

	/* Out: how it went. */
	CURLcode code;
	long os_errno;         /* CURLINFO_OS_ERRNO when the connection failed */
	int read_err;          /* the reader's error when its read failed, else 0 */
	bool cancelled;        /* *o->cancel stopped it */
	bool stalled;          /* the stall timeout stopped it */
	bool body_done;        /* the reader reached its end */
	char status_line[160]; /* "HTTP/1.1 404 Not Found", without CRLF */
	char errbuf[CURL_ERROR_SIZE];

	/* Private to transfer.c: the stall clock. */
	int64_t last_move_ns;
	curl_off_t last_ul, last_dl;
};

/* Runs one attempt with a->o, a->body, a->headers already set; fills the rest.
 * Returns 0 when the transfer finished at the HTTP level (any status), or a
 * negative error when it did not (a->code says why); -ENOMEM if curl could
 * not be set up. */
int http_transfer(struct attempt *a);

/* The monotonic clock in nanoseconds. */
int64_t http_now_ns(void);

#endif
