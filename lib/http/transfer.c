/*
 * transfer.c - one chunked request, its body pulled from a reader, over
 * client.c's connection.
 *
 * client.c reads the plumb_reader straight into its send buffer, one chunk
 * per read, so each byte is copied once on its way from the producer to the
 * socket and the whole stream never sits in memory.  Three things can stop a
 * transfer from our side, and each leaves its mark in a->rs so that send.c
 * can say which it was:
 *  - the reader fails: the client stops and keeps the reader's error (it,
 *    not a connection error, is what the caller gets); the connection is
 *    closed without the chunked body's end, so the server sees it cut short;
 *  - the caller cancels: the client polls *cancel at least every 100 ms and
 *    before each read of the body;
 *  - the server stalls: no byte moved either way for stall_timeout_ms.  The
 *    clock is also reset each time the reader answers, because the time
 *    spent blocked in the reader is the producer's doing, not the server's.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http-internal.h"

static bool cancel_requested(void *arg)
{
	const plumb_http_options *o = arg;

	return o->cancel && atomic_load_explicit(o->cancel, memory_order_relaxed);
}

int http_transfer(struct attempt *a)
{
	const plumb_http_options *o = a->o;
	struct http_request rq = {
	        .method = o->method,
	        .url = a->url,
	        .headers = a->headers,
	        .nheaders = a->nheaders,
	        .reader = a->body,
	        .connect_timeout_ms = o->connect_timeout_ms,
	        .stall_timeout_ms = o->stall_timeout_ms,
	        .ca_file = o->ca_file,
	        .insecure = o->insecure != 0,
	        .reply_max = a->reply_max,
	        .stop = cancel_requested,
	        .stop_arg = (void *)o,
	        .progress = o->progress,
	};
	plumb_http_result *res = a->res;
	int rc = http_exchange(a->conn, &rq, &a->rs);

	res->sent += a->rs.sent;
	res->status = a->rs.status;
	free(res->reply);
	res->reply = a->rs.body;
	res->reply_len = a->rs.body_len;
	res->reply_size = a->rs.body_size;
	a->rs.body = NULL;
	a->rs.body_len = 0;
	return rc;
}
