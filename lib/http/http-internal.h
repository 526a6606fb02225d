/*
 * http-internal.h - what the files of lib/http share and nobody else needs.
 *
 * send.c decides whether to try again and what to tell the caller;
 * transfer.c makes one attempt over client.c's connection and reports what
 * happened in a struct attempt, raw: the client's failure kind, the OS
 * error, the reader's error, the reply's status line.
 */
#ifndef PLUMB_HTTP_INTERNAL_H
#define PLUMB_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <plumb/http.h>

#include "client.h"

/* One request over the wire and how it ended. */
struct attempt {
	/* In: what to send. */
	const plumb_http_options *o;
	plumb_reader *body;
	plumb_http_result *res; /* sent, reply and status are updated by each attempt */
	const struct http_url *url;
	const char **headers; /* Content-Type (unless the caller's has one), the caller's */
	size_t nheaders;
	size_t reply_max;
	struct http_conn *conn; /* kept from attempt to attempt */

	/* Out: how it went. */
	struct http_response rs; /* fail, os_err, reader_err, status_line, detail */
};

/* Runs one attempt with a's inputs set; fills a->rs and a->res.  Returns 0
 * when a reply came (any status), or -1 with a->rs.fail saying why not. */
int http_transfer(struct attempt *a);

#endif
