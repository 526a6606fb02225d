/*
 * client.h - plumb's own HTTP/1.1 client: URLs, connections (plain TCP or
 * TLS through OpenSSL's libssl) and one request at a time over them.
 *
 * What lib/http (the streamed, chunked request of plumb_http_send) and
 * lib/s3 (signed requests with bodies in memory) both need and nothing else
 * does; it replaces libcurl, whose start-up cost (30 libraries, OpenSSL
 * initialised in full even for plain http) the export's memory budget
 * cannot afford.  The layers:
 *   url.c     http_url_parse: scheme, host, port and the request target,
 *             kept byte for byte (S3 keys are canonical already)
 *   proxy.c   http_proxy_for: the proxy a URL goes through, from
 *             http_proxy, https_proxy and no_proxy as curl reads them
 *   client.c  http_conn (a connection kept alive between requests to the
 *             same origin, or the same proxy) and http_exchange (one
 *             request and its reply, through the proxy when there is one)
 *
 * An exchange never raises SIGPIPE, polls at most 100 ms at a time (so that
 * the stop callback is honoured that fast), and reports a failure as a kind
 * (enum http_fail) with the OS error and a detail text: the callers turn
 * those into their own messages and retry decisions.
 */
#ifndef PLUMB_HTTP_CLIENT_H
#define PLUMB_HTTP_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <plumb/io.h>

/* ---- url.c ---- */

struct http_url {
	bool tls;           /* https */
	char scheme[6];     /* "http" or "https", lower case */
	char host[256];     /* a name, an IPv4 address, or an IPv6 one without brackets */
	bool ipv6;          /* host is an IPv6 literal (shown in brackets) */
	unsigned port;      /* the URL's, or 80 / 443 */
	bool port_given;    /* the URL names a port */
	char *target;       /* path and query as given ("/" when the URL has none); malloc'd */
	size_t path_len;    /* how much of target is the path (before '?') */
	char hostport[272]; /* the Host header's value: host, [v6], ":port" unless default */
	char peer[288];     /* "host:port" for messages, the port always there */
};

/* What is wrong with a URL that http_url_parse refuses. */
enum http_url_error {
	HTTP_URL_OK,
	HTTP_URL_MALFORMED, /* not scheme://host[:port][/path][?query] */
	HTTP_URL_SCHEME,    /* a scheme other than http and https */
	HTTP_URL_USERINFO,  /* user[:password]@ in the authority */
	HTTP_URL_FRAGMENT,  /* a #fragment */
	HTTP_URL_NOMEM,
};

/* Parses url into u.  Returns HTTP_URL_OK, or the problem with a sentence
 * for a person in err (which names no secret: no user info, no query). */
enum http_url_error http_url_parse(const char *url, struct http_url *u, char *err, size_t errlen);
void http_url_release(struct http_url *u);

/* ---- proxy.c ---- */

struct http_proxy {
	struct http_url at; /* the proxy's host and port (1080 unless given); no target */
	char auth[420];     /* the Proxy-Authorization value ("Basic ..."), or "" */
	char from[16];      /* the variable it came from: "https_proxy"... */
};

/* Which proxy the environment gives u: 1 with *p set, 0 when u is reached
 * directly (no variable for its scheme, an empty one, or no_proxy lists
 * it), -1 with a sentence in err when the variable's value is not a proxy
 * plumb can use (https:// or socks proxies, a malformed one). */
int http_proxy_for(const struct http_url *u, struct http_proxy *p, char *err, size_t errlen);

/* Whether the no_proxy list (as in the variable) exempts u. */
bool http_no_proxy_match(const char *list, const struct http_url *u);

/* ---- client.c ---- */

/* The most reply body an exchange keeps, whatever reply_max says. */
#define HTTP_REPLY_CAP ((size_t)64 << 20)
/* The timeouts used for a value <= 0; larger values than HTTP_TIMEOUT_MAX_MS
 * (about 24 days) count as that. */
#define HTTP_CONNECT_DEFAULT_MS 30000L
#define HTTP_STALL_DEFAULT_MS   120000L
#define HTTP_TIMEOUT_MAX_MS     2147483647L

/* How an exchange failed. */
enum http_fail {
	HTTP_OK,
	HTTP_FAIL_RESOLVE,      /* the host name did not resolve */
	HTTP_FAIL_CONNECT,      /* no address took the connection (os_err) */
	HTTP_FAIL_CONNECT_TIME, /* connecting (TLS included) took too long */
	HTTP_FAIL_TLS,          /* the TLS handshake or the certificate check failed */
	HTTP_FAIL_SEND,         /* the connection was lost while sending (os_err) */
	HTTP_FAIL_RECV,         /* ... or while waiting for or reading the reply */
	HTTP_FAIL_STALL,        /* no byte moved either way for stall_timeout_ms */
	HTTP_FAIL_STOPPED,      /* the stop callback said so */
	HTTP_FAIL_READER,       /* the body's reader failed (reader_err) */
	HTTP_FAIL_PROTOCOL,     /* the reply is not HTTP/1.x as it should be */
	HTTP_FAIL_PROXY,        /* the proxy could not be used: unreachable (os_err),
	                           refused the CONNECT (proxy_status), or its
	                           variable is unusable; detail is a whole
	                           sentence naming the proxy */
	HTTP_FAIL_NOMEM,
};

/* A connection handle.  It holds at most one open connection, kept open
 * after an exchange whose reply was read to its end and did not say
 * "Connection: close", and reused by the next exchange with the same
 * scheme, host, port and TLS settings (through a proxy: the same proxy and
 * credentials, and for https the same host and port too, the tunnel being
 * to them).  One thread at a time.  TLS
 * configurations (trusted CAs loaded) are shared by all handles of the
 * process with the same ca_file and insecure, and kept until it exits. */
struct http_conn;

struct http_conn *http_conn_new(void);
void http_conn_free(struct http_conn *c); /* NULL is fine */

/* One request. */
struct http_request {
	const char *method;
	const struct http_url *url;
	const char *const *headers; /* "Name: value" lines, sent as given; a Host
	                               or User-Agent among them replaces the
	                               client's own.  Never Content-Length,
	                               Transfer-Encoding or Connection: the
	                               client frames the body and the connection
	                               (plumb_http_send refuses them) */
	size_t nheaders;

	/* The body: either memory with Content-Length (len may be 0: PUT and
	 * POST then send "Content-Length: 0", other methods nothing) ... */
	const void *body;
	size_t len;
	/* ... or, when reader is set, a stream sent with Transfer-Encoding:
	 * chunked, one chunk per read. */
	plumb_reader *reader;

	long connect_timeout_ms; /* resolving the name, connecting and the TLS
	                            handshake; <= 0: HTTP_CONNECT_DEFAULT_MS */
	long stall_timeout_ms;   /* no byte moved either way (reader waits
	                            excluded); <= 0: HTTP_STALL_DEFAULT_MS */
	const char *ca_file;     /* PEM CAs to trust; NULL: the system's */
	bool insecure;           /* no certificate or host name check */
	size_t reply_max;        /* reply body bytes to keep (at most HTTP_REPLY_CAP;
	                            the buffer grows as they come) */

	/* Polled at least every 100 ms; true stops the exchange. */
	bool (*stop)(void *arg);
	void *stop_arg;
	/* Called for every header of the final reply (name and value trimmed,
	 * not NUL-terminated). */
	void (*on_header)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);
	void *header_arg;
	_Atomic uint64_t *progress; /* body bytes sent so far, if set */
};

/* What came back, and how it ended. */
struct http_response {
	int status;            /* the final status, 0 if none came */
	char status_line[160]; /* "HTTP/1.1 404 Not Found" */
	char *body;            /* the first reply_max bytes and a NUL, malloc'd (or NULL) */
	size_t body_len;
	uint64_t body_size; /* the whole body's length */
	uint64_t sent;      /* request body bytes handed to the connection (read from the
	                       reader, for a stream) */

	enum http_fail fail;
	int os_err;       /* the errno behind SEND, RECV and CONNECT, else 0 */
	int reader_err;   /* the reader's error for READER */
	bool early_reply; /* the server answered before the body was all sent */
	char detail[256]; /* a sentence on the failure: the TLS verify result... */
	int proxy_status; /* the proxy's status when it refused a CONNECT, else 0 */
	char via[320];    /* "proxy HOST:PORT (from VAR)" when the exchange went
	                     through one, else "" */
};

/*
 * http_exchange - sends rq over c (reusing its connection when it may, else
 * connecting) and reads the reply into rs (reset first; release it with
 * http_response_release).  A kept connection on which the server sent
 * something or that it closed while idle is not reused.  Returns 0 when a
 * reply came (any status, and even when sending the body failed but the
 * server had answered), or -1 with rs->fail saying why not.  A kept-alive
 * connection found closed before any byte of the reply came, and before
 * rs->sent counted any body byte, is replaced by a fresh one, once.
 *
 * Proxies (proxy.c says which, from the environment): an http:// URL is
 * requested from the proxy with its absolute form on the request line
 * ("PUT http://host:port/path HTTP/1.1"), Host still the URL's; an https://
 * one through a tunnel the proxy opens on "CONNECT host:port", then TLS with
 * the URL's host (SNI, certificate check) through it.  The connect timeout
 * covers the proxy's connection, the CONNECT and the handshake.  Failures to
 * reach the proxy, and its refusing the CONNECT, are HTTP_FAIL_PROXY.
 */
int http_exchange(struct http_conn *c, const struct http_request *rq, struct http_response *rs);

void http_response_release(struct http_response *rs);

/* The negative errno a failed exchange amounts to: -EHOSTUNREACH, the OS
 * error behind CONNECT, SEND and RECV, -ETIMEDOUT, -EPROTO, and for the
 * proxy -EACCES (it wants credentials), -ECONNREFUSED (it refused the
 * CONNECT), its OS error (unreachable) or -EINVAL (its variable is
 * unusable). */
int http_fail_errno(const struct http_response *rs);

/* Whether the failure may pass if the request is made again: the name did
 * not resolve, the connection could not be made or was lost, the proxy was
 * unreachable or answered the CONNECT with a 5xx. */
bool http_fail_may_pass(const struct http_response *rs);

/* The monotonic clock in nanoseconds. */
int64_t http_now_ns(void);

/* Sleeps before retry number attempt (0-based), with full jitter: a random
 * time up to min(cap_ms, base_ms * 2^attempt).  It sleeps in slices of at
 * most 20 ms and returns false as soon as stop(arg) is true (stop may be
 * NULL), true once the time is up. */
bool http_backoff(long base_ms, long cap_ms, int attempt, bool (*stop)(void *arg), void *arg);

#endif
