/*
 * plumb/http.h - stream a reader to an HTTP server as the body of one request.
 *
 * plumb_http_send reads a plumb_reader to its end and sends what it reads as
 * the body of a single POST (or PUT, or any method) with
 * `Transfer-Encoding: chunked`: the length is never known in advance and
 * nothing is buffered beyond one chunk (up to 256 KiB, one read of the
 * reader), so a stream of any size goes through in constant memory.  `Expect: 100-continue` is not
 * used: the body starts right after the headers.
 *
 * Once a byte of the body has been taken from the reader, the request can
 * never be sent again: those bytes are gone.  So retries (opts.retries) apply
 * only to failures that happen before the first byte was read (a refused
 * connection, a name that does not resolve, a 5xx or 429 answered to a request
 * whose body was still empty); anything later fails at once.
 *
 * The caller owns the reader and the pipe behind it.  When plumb_http_send
 * fails, the producer that writes into that pipe may be blocked in a write
 * nobody will ever read; the caller must then close the pipe's read side with
 * the error (plumb_pipe_close_read(pipe, err)) so that the producer's write
 * returns and its thread can finish.  plumb_http_send never closes anything.
 *
 * Proxies: http_proxy (for http:// URLs; HTTP_PROXY is not read, as curl
 * does not), https_proxy or HTTPS_PROXY (for https://, through CONNECT) and
 * no_proxy or NO_PROXY are read from the environment at each request, as
 * curl reads them; see plumb-export(1), ENVIRONMENT.
 *
 * Threads: plumb_http_send runs the whole transfer in the calling thread.  Two
 * things may be touched from other threads while it runs: *opts.cancel (set
 * it to nonzero, e.g. from a signal handler, and the transfer stops within
 * about a second, failing with -ECANCELED) and *opts.progress (read it).
 */
#ifndef PLUMB_HTTP_H
#define PLUMB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <plumb/error.h>
#include <plumb/io.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How much of the reply body a result keeps unless told otherwise. */
#define PLUMB_HTTP_REPLY_MAX (64 * 1024)

typedef struct plumb_http_options {
	const char *url;            /* http:// or https://; required */
	const char *method;         /* "POST" (the default when NULL), "PUT", ... */
	const char *content_type;   /* the Content-Type header, or NULL for none */
	/* nheaders "Name: value" lines, sent as given after the request's own.
	 * A Host or User-Agent among them replaces plumb's; Content-Length,
	 * Transfer-Encoding and Connection are refused (-EINVAL): the body's
	 * framing is plumb's to decide. */
	const char *const *headers;
	size_t nheaders;
	/* To resolve the name and set up a connection (and TLS); default 30 s,
	 * also when <= 0. */
	long connect_timeout_ms;
	/* Give up when the server has taken no byte of the body and sent no byte
	 * of its reply for this long.  Time spent waiting for the reader does not
	 * count, so a slow producer is never mistaken for a dead server.
	 * Default 120 s, also when <= 0. */
	long stall_timeout_ms;
	int retries;         /* further attempts while no body byte was read; default 2 */
	const char *ca_file; /* a PEM bundle of trusted CAs; NULL: the system's */
	int insecure;        /* nonzero: do not verify the server's certificate */
	size_t reply_max;    /* bytes of the reply body to keep; default PLUMB_HTTP_REPLY_MAX,
	                        at most 64 MiB (a larger value means 64 MiB) */
	const _Atomic int *cancel;  /* when nonzero, stop (may be NULL) */
	_Atomic uint64_t *progress; /* if not NULL, set to the body bytes sent so far */
} plumb_http_options;

typedef struct plumb_http_result {
	long status;         /* the final HTTP status, or 0 when none came */
	uint64_t sent;       /* body bytes read from the reader and handed to the connection */
	int attempts;        /* requests made (1 + retries used) */
	char *reply;         /* the first bytes of the reply body with a NUL after them
	                        (malloc'd, NULL when the body was empty) */
	size_t reply_len;    /* how many bytes reply holds */
	uint64_t reply_size; /* how long the whole reply body was */
	char message[512];   /* what went wrong, for a person; "" on success */
} plumb_http_result;

/* Fills o with the defaults (every field NULL or 0 except the timeouts,
 * retries and reply_max, which get the values documented above). */
void plumb_http_options_init(plumb_http_options *o);

/*
 * plumb_http_send - send body, read to its end, as the chunked body of one
 * request described by o, and wait for the reply.  res is filled in every
 * case (release it with plumb_http_result_release).  Returns 0 when the
 * server answered 2xx; otherwise a negative error, with res->message saying
 * what happened:
 *   PLUMB_ESERVER  the server answered another status (res->status; the
 *                  message carries it and the reply's first line); redirects
 *                  are not followed
 *   <reader's error>  body's read failed: the transfer was cut short (the
 *                  server never sees the end of the chunked body)
 *   -ECANCELED     *o->cancel became nonzero
 *   -ETIMEDOUT     connecting took too long, or the server stalled
 *   -ECONNREFUSED, -EHOSTUNREACH, -ECONNRESET, -EPIPE, -EPROTO (TLS) ...
 *                  the connection could not be made or was lost (through
 *                  a proxy: -ECONNREFUSED when it refused the CONNECT,
 *                  -EACCES when it wants credentials, the OS error when
 *                  it cannot be reached, -EINVAL when http_proxy or
 *                  https_proxy cannot be used)
 *   -EINVAL        o is incomplete or the URL is malformed
 * body is not closed or freed.
 */
int plumb_http_send(const plumb_http_options *o, plumb_reader *body, plumb_http_result *res);

/* Frees what res holds (its reply); res can be reused afterwards. */
void plumb_http_result_release(plumb_http_result *res);

#ifdef __cplusplus
}
#endif
#endif
