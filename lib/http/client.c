/*
 * client.c - HTTP/1.1 over a socket of our own, TLS through libssl.
 *
 * Why not libcurl: it links some thirty libraries (LDAP, GnuTLS, Kerberos,
 * SSH...) and initialises OpenSSL in full at start, which costs an export
 * about 6 MiB of RSS for nothing it uses.  What plumb needs is small: one
 * request at a time on a connection, a body from memory (S3) or streamed from
 * a reader in chunks (the HTTP sink), the reply's status, a few headers and
 * the first bytes of its body.
 *
 * Everything is non-blocking and every wait is a poll of at most 100 ms, so
 * the caller's stop callback is seen within that, and so is the stall clock:
 * the time since a byte last moved in either direction, reset also each time
 * the body's reader returns (the time spent waiting for a producer is the
 * producer's, not the server's).  Connecting has its own deadline, which
 * covers resolving the name and the TLS handshake.  getaddrinfo cannot be
 * interrupted, so a name is looked up in a detached thread of its own while
 * the exchange waits for it in 100 ms slices; given up on (stopped, or out of
 * time), the thread finishes alone and frees what it holds.  IP literals are
 * not looked up.
 *
 * SIGPIPE: plain sockets are written with send(MSG_NOSIGNAL); TLS goes
 * through a BIO of our own that does the same, so a peer's reset never
 * raises the signal whatever the process does with it.  OpenSSL is
 * initialised (with the system's configuration) when the first TLS
 * connection is made, not before: plain http never pays for it.  An
 * SSL_CTX with the CAs loaded costs most of a MiB (the system bundle), so
 * there is one per (insecure, ca_file) for the whole process, shared by all
 * connections and threads (it is only read once set up) and kept to the end.
 * A peer that closes without close_notify ends the input like one that sends
 * it (our BIO answers BIO_CTRL_EOF, and SSL_OP_IGNORE_UNEXPECTED_EOF is set):
 * a body read to the close ends there, and one cut short is reported as for
 * plain HTTP.
 *
 * Early replies: while the body goes out, the socket is also watched for
 * input; a server that answers before the body is all sent (413, 401, or a
 * 500 and a close) stops the sending, and its reply is what the caller gets,
 * not the broken pipe that usually follows.  Interim 1xx replies (a 100
 * Continue nobody asked for) are dropped as they complete and the sending
 * goes on: only a final status stops it.
 *
 * Keep-alive: the connection stays open after a reply read to its end when
 * the request was sent whole and the server did not say "Connection: close"
 * (HTTP/1.0 replies close).  The next exchange to the same origin and TLS
 * settings reuses it unless the server sent something or closed it while it
 * was idle (a 408 then a close, typically): that one is closed and a fresh
 * one made.  If it turns out to have been closed anyway (the failure comes
 * before any reply byte and before the server took any byte of the body),
 * the exchange is made again once on a fresh connection.
 *
 * Framing: a reply with two different Content-Length values is refused, and
 * one with Transfer-Encoding is framed by it (chunked, else to the close),
 * whatever Content-Length says, and its connection is never kept.
 *
 * Proxies (which one: proxy.c, from the environment, for each exchange):
 * the connection is made to the proxy (its name looked up like any other),
 * and is kept alive under a key naming the proxy and its credentials.  An
 * http:// request goes to it with the absolute URL on the request line and
 * Proxy-Authorization among the headers; the Host header, and so what SigV4
 * signed, stay the URL's.  For https://, the connection's first exchange is
 * "CONNECT host:port" (its reply head read here, never shown to the caller's
 * on_header); a 2xx makes the connection a tunnel to host:port, which is
 * part of the key, and the TLS handshake through it is with that host, as
 * without a proxy.  Any other status ends the exchange as HTTP_FAIL_PROXY
 * with the proxy's status line; so does a failure to reach the proxy, in a
 * sentence that says it was the proxy (and which variable named it).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <plumb/plumb.h>

#include "client.h"

#define RBUF      (16 * 1024)  /* the reply's bytes on their way to the parser */
#define SBUF      (256 * 1024) /* one chunk of a streamed body */
#define CHUNK_PAD 12           /* room before a chunk for its size line */
#define SLICE_MS  100          /* the longest poll */

struct http_conn {
	int fd; /* -1 when closed */
	SSL *ssl;
	bool tls_eof;        /* the socket under ssl gave its end of input */
	SSL_CTX *ctx;        /* a reference to the shared one for ctx_key */
	char ctx_key[4200];  /* the TLS settings ctx was made for */
	char conn_key[4600]; /* scheme, host, port and TLS settings of the connection */
	char rbuf[RBUF];
	size_t rpos, rlen;
	char *sbuf; /* SBUF + CHUNK_PAD + 2, for streamed bodies */
};

/* One exchange in progress. */
struct xfer {
	struct http_conn *c;
	const struct http_request *rq;
	struct http_response *rs;
	int64_t last_move;
	bool got_reply_byte; /* some of the reply arrived */
	bool body_sent;      /* the whole request went out */
	bool peer_closed;    /* input ended (EOF or error) while sending */
	int peer_err;        /* the error that ended it, or 0 for EOF */
	bool keep;           /* the connection may serve another request */
	int64_t connect_ns;  /* the request's timeouts, defaults and clamp applied */
	int64_t stall_ns;
	size_t reply_max; /* the request's, at most HTTP_REPLY_CAP */
	size_t body_cap;  /* bytes allocated at rs->body */
	bool proxied;     /* px is the proxy to go through */
	struct http_proxy px;
};

int64_t http_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A 64-bit mix (splitmix64's finaliser) of the clock and a counter: two
 * threads backing off at the same moment wait different times. */
static uint64_t jitter(void)
{
	static _Atomic uint64_t counter;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ atomic_fetch_add(&counter, 1);
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

bool http_backoff(long base_ms, long cap_ms, int attempt, bool (*stop)(void *arg), void *arg)
{
	long ceiling = base_ms;
	int64_t end;

	for (int i = 0; i < attempt && ceiling < cap_ms; i++)
		ceiling *= 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	end = http_now_ns() + (int64_t)(jitter() % (uint64_t)(ceiling + 1)) * 1000000;
	for (;;) {
		int64_t left = end - http_now_ns();
		struct timespec nap = {0, left < 20000000 ? left : 20000000};

		if (stop && stop(arg))
			return false;
		if (left <= 0)
			return true;
		nanosleep(&nap, NULL);
	}
}

static int fail(struct xfer *x, enum http_fail f, int os_err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Records how the exchange failed (the first failure wins); returns -1. */
static int fail(struct xfer *x, enum http_fail f, int os_err, const char *fmt, ...)
{
	va_list ap;

	if (x->rs->fail != HTTP_OK)
		return -1;
	x->rs->fail = f;
	x->rs->os_err = os_err;
	va_start(ap, fmt);
	vsnprintf(x->rs->detail, sizeof x->rs->detail, fmt, ap);
	va_end(ap);
	return -1;
}

static bool stopped(struct xfer *x)
{
	return x->rq->stop && x->rq->stop(x->rq->stop_arg);
}

/* Waits for events on the connection until deadline (ns): the revents, 0
 * when the deadline passed, -1 when stopped (recorded). */
static int wait_io(struct xfer *x, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = x->c->fd, .events = events};
		int64_t left;
		int r;

		if (stopped(x))
			return fail(x, HTTP_FAIL_STOPPED, 0, "stopped");
		left = deadline - http_now_ns();
		if (left <= 0)
			return 0;
		r = poll(&p, 1,
		         left > (int64_t)SLICE_MS * 1000000 ? SLICE_MS
		                                            : (int)((left + 999999) / 1000000));
		if (r > 0)
			return p.revents;
		if (r < 0 && errno != EINTR)
			return POLLERR;
	}
}

/* A timeout in ns: dflt for ms <= 0, HTTP_TIMEOUT_MAX_MS at most. */
static int64_t timeout_ns(long ms, long dflt)
{
	if (ms <= 0)
		ms = dflt;
	if (ms > HTTP_TIMEOUT_MAX_MS)
		ms = HTTP_TIMEOUT_MAX_MS;
	return (int64_t)ms * 1000000;
}

/* When the stall clock runs out. */
static int64_t stall_deadline(const struct xfer *x)
{
	return x->last_move + x->stall_ns;
}

/* ---- TLS ---- */

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *sock_method;

/* Whether a failed socket call's errno means "try again", not a failure. */
static inline bool again(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* The poll events an SSL_get_error result waits for, or 0 when it is a
 * failure. */
static inline short ssl_waits(int err)
{
	return err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
}

/* The BIO's data is its http_conn: the socket, and where its EOF is noted. */
static int sock_write(BIO *b, const char *p, int n)
{
	struct http_conn *c = BIO_get_data(b);
	ssize_t w = send(c->fd, p, (size_t)n, MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	if (w < 0 && again(errno))
		BIO_set_retry_write(b);
	return (int)w;
}

static int sock_read(BIO *b, char *p, int n)
{
	struct http_conn *c = BIO_get_data(b);
	ssize_t r = recv(c->fd, p, (size_t)n, 0);

	BIO_clear_retry_flags(b);
	if (r < 0 && again(errno))
		BIO_set_retry_read(b);
	if (r == 0 && n > 0)
		c->tls_eof = true;
	return (int)r;
}

/* FLUSH (nothing to do) and EOF: libssl asks the latter when a read gave
 * 0, to tell a close from an error. */
static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct http_conn *c = BIO_get_data(b);

	(void)num;
	(void)ptr;
	if (cmd == BIO_CTRL_FLUSH)
		return 1;
	if (cmd == BIO_CTRL_EOF)
		return c && c->tls_eof;
	return 0;
}

static int sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void tls_init(void)
{
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	sock_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "plumb socket");
	if (sock_method) {
		BIO_meth_set_write(sock_method, sock_write);
		BIO_meth_set_read(sock_method, sock_read);
		BIO_meth_set_ctrl(sock_method, sock_ctrl);
		BIO_meth_set_create(sock_method, sock_create);
	}
}

/* The last OpenSSL error as text, or fallback. */
static void ssl_error_text(char *out, size_t len, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, out, len);
	else
		snprintf(out, len, "%s", fallback);
	ERR_clear_error();
}

/* A new SSL_CTX for rq's TLS settings, CAs loaded; NULL with the failure
 * recorded. */
static SSL_CTX *new_context(struct xfer *x)
{
	const struct http_request *rq = x->rq;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[200];

	if (!ctx || !sock_method) {
		SSL_CTX_free(ctx);
		fail(x, HTTP_FAIL_NOMEM, 0, "cannot set up TLS");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (rq->insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (rq->ca_file ? !SSL_CTX_load_verify_locations(ctx, rq->ca_file, NULL)
		                : !SSL_CTX_set_default_verify_paths(ctx)) {
			ssl_error_text(why, sizeof why, "unreadable");
			SSL_CTX_free(ctx);
			fail(x, HTTP_FAIL_TLS, 0, "cannot load the CA certificates %s: %s",
			     rq->ca_file ? rq->ca_file : "of the system", why);
			return NULL;
		}
	}
	return ctx;
}

/* The process's SSL_CTXs, one per TLS settings key, each holding a
 * reference of its own until the process ends.  Past CTX_SHARED different
 * settings, a connection gets one of its own (and frees it). */
#define CTX_SHARED 8
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *key; /* malloc'd */
	SSL_CTX *ctx;
} ctx_shared[CTX_SHARED];

/* A reference to the SSL_CTX for key (made on first use, under the lock so
 * that two threads do not both load the CAs); NULL with the failure
 * recorded.  A failure is not kept: the next connection tries again. */
static SSL_CTX *shared_context(struct xfer *x, const char *key)
{
	SSL_CTX *ctx = NULL;
	int i;

	pthread_mutex_lock(&ctx_lock);
	for (i = 0; i < CTX_SHARED && ctx_shared[i].key; i++) {
		if (strcmp(ctx_shared[i].key, key) == 0) {
			ctx = ctx_shared[i].ctx;
			SSL_CTX_up_ref(ctx);
			goto out;
		}
	}
	ctx = new_context(x);
	if (ctx && i < CTX_SHARED && (ctx_shared[i].key = strdup(key))) {
		SSL_CTX_up_ref(ctx); /* the table's */
		ctx_shared[i].ctx = ctx;
	}
out:
	pthread_mutex_unlock(&ctx_lock);
	return ctx;
}

/* The SSL_CTX for the request's TLS settings (kept while they stay). */
static int tls_context(struct xfer *x)
{
	const struct http_request *rq = x->rq;
	struct http_conn *c = x->c;
	char key[sizeof c->ctx_key];

	snprintf(key, sizeof key, "%d %s", rq->insecure, rq->ca_file ? rq->ca_file : "");
	if (c->ctx && strcmp(key, c->ctx_key) == 0)
		return 0;
	SSL_CTX_free(c->ctx);
	c->ctx_key[0] = '\0';
	if (!(c->ctx = shared_context(x, key)))
		return -1;
	snprintf(c->ctx_key, sizeof c->ctx_key, "%s", key);
	return 0;
}

/* Whether the host is an IP address (as getaddrinfo reads one: IPv4 in any
 * form inet_aton takes, 127.1 too); if so, its usual text into out. */
static bool ip_literal(const struct http_url *u, char *out, size_t len)
{
	struct in6_addr a6;
	struct in_addr a;

	if (u->ipv6)
		return inet_pton(AF_INET6, u->host, &a6) == 1 &&
		       inet_ntop(AF_INET6, &a6, out, (socklen_t)len);
	return inet_aton(u->host, &a) && inet_ntop(AF_INET, &a, out, (socklen_t)len);
}

/* What went wrong in a handshake that failed, into the detail. */
static int handshake_failed(struct xfer *x, int err)
{
	const struct http_url *u = x->rq->url;
	long v = SSL_get_verify_result(x->c->ssl);
	char why[200];

	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
		return fail(x, HTTP_FAIL_TLS, 0,
		            "SSL certificate problem: no subject name of the certificate matches "
		            "the host %s",
		            u->host);
	if (v != X509_V_OK)
		return fail(x, HTTP_FAIL_TLS, 0, "SSL certificate problem: %s",
		            X509_verify_cert_error_string(v));
	if (err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
		return fail(x, HTTP_FAIL_TLS, errno,
		            "the connection was closed during the TLS handshake%s%s",
		            errno ? ": " : "", errno ? strerror(errno) : "");
	ssl_error_text(why, sizeof why, "the TLS handshake failed");
	return fail(x, HTTP_FAIL_TLS, 0, "%s", why);
}

static int tls_handshake(struct xfer *x, int64_t deadline)
{
	const struct http_url *u = x->rq->url;
	struct http_conn *c = x->c;
	char ip[INET6_ADDRSTRLEN];
	bool is_ip = ip_literal(u, ip, sizeof ip);
	BIO *bio;

	pthread_once(&tls_once, tls_init);
	if (tls_context(x) < 0)
		return -1;
	c->ssl = SSL_new(c->ctx);
	bio = c->ssl ? BIO_new(sock_method) : NULL;
	if (!bio)
		return fail(x, HTTP_FAIL_NOMEM, 0, "out of memory");
	c->tls_eof = false;
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio);
	if (!is_ip)
		SSL_set_tlsext_host_name(c->ssl, u->host);
	if (!x->rq->insecure) {
		int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), ip)
		               : SSL_set1_host(c->ssl, u->host);

		if (!ok)
			return fail(x, HTTP_FAIL_TLS, 0, "cannot check the certificate against %s",
			            u->host);
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	ERR_clear_error();
	for (;;) {
		int r = SSL_connect(c->ssl), err, ev;

		if (r == 1)
			return 0;
		err = SSL_get_error(c->ssl, r);
		if (!ssl_waits(err))
			return handshake_failed(x, err);
		ev = wait_io(x, ssl_waits(err), deadline);
		if (ev < 0)
			return -1;
		if (ev == 0)
			return fail(x, HTTP_FAIL_CONNECT_TIME, ETIMEDOUT,
			            "the TLS handshake timed out");
	}
}

/* ---- Connecting ---- */

static void conn_close(struct http_conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->tls_eof = false;
	c->rpos = c->rlen = 0;
	c->conn_key[0] = '\0';
}

/* Connects to one address before deadline: 0, or an errno (ETIMEDOUT when
 * the deadline passed), or -1 when stopped. */
static int connect_one(struct xfer *x, const struct addrinfo *ai, int64_t deadline)
{
	struct http_conn *c = x->c;
	int err = 0, ev;
	socklen_t len = sizeof err;

	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return errno;
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	ev = wait_io(x, POLLOUT, deadline);
	if (ev < 0)
		return -1;
	if (ev == 0)
		return ETIMEDOUT;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* A name being looked up by its own thread.  Whoever of the thread and the
 * exchange lets go of it last frees it. */
struct lookup {
	pthread_mutex_t lock;
	pthread_cond_t done_cv; /* on CLOCK_MONOTONIC */
	int refs;               /* 2 while both hold it */
	bool done;
	int rc, err;          /* getaddrinfo's result, and errno for EAI_SYSTEM */
	struct addrinfo *res; /* until taken */
	char host[256], port[8];
};

/* Drops a reference to l, whose lock the caller holds (and which this
 * releases). */
static void lookup_put(struct lookup *l)
{
	bool last = --l->refs == 0;

	pthread_mutex_unlock(&l->lock);
	if (!last)
		return;
	if (l->res)
		freeaddrinfo(l->res);
	pthread_cond_destroy(&l->done_cv);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static void *lookup_run(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(l->host, l->port, &hints, &res), err = errno;

	pthread_mutex_lock(&l->lock);
	l->rc = rc;
	l->err = err;
	l->res = rc == 0 ? res : NULL;
	l->done = true;
	pthread_cond_signal(&l->done_cv);
	lookup_put(l);
	return NULL;
}

/* Starts l's thread, detached and with every signal blocked (they are the
 * process's other threads' business).  Returns 0 or an errno. */
static int lookup_start(struct lookup *l)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int rc;

	if ((rc = pthread_attr_init(&attr)) != 0)
		return rc;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, &attr, lookup_run, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc;
}

/* The addresses of u's host (the URL's or the proxy's), into *out (freeaddrinfo them), by
 * deadline and while not stopped: 0, or -1 with the failure recorded.  IP
 * literals are converted here; names are looked up in a thread of their own,
 * waited for in SLICE_MS slices. */
static int resolve(struct xfer *x, const struct http_url *u, int64_t deadline,
                   struct addrinfo **out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST};
	char port[8], ip[INET6_ADDRSTRLEN];
	pthread_condattr_t ca;
	struct lookup *l;
	int rc, err;

	snprintf(port, sizeof port, "%u", u->port);
	*out = NULL;
	if (ip_literal(u, ip, sizeof ip)) {
		rc = getaddrinfo(u->host, port, &hints, out);
		err = errno;
		goto done;
	}
	if (!(l = calloc(1, sizeof *l)))
		return fail(x, HTTP_FAIL_NOMEM, 0, "out of memory");
	snprintf(l->host, sizeof l->host, "%s", u->host);
	snprintf(l->port, sizeof l->port, "%s", port);
	l->refs = 2;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&l->lock, NULL);
	if ((err = lookup_start(l)) != 0) {
		pthread_mutex_lock(&l->lock);
		l->refs = 1;
		lookup_put(l);
		return fail(x, HTTP_FAIL_RESOLVE, err, "cannot start the lookup: %s",
		            strerror(err));
	}
	pthread_mutex_lock(&l->lock);
	while (!l->done) {
		int64_t now = http_now_ns(), until = deadline;
		struct timespec ts;

		if (stopped(x)) {
			lookup_put(l);
			return fail(x, HTTP_FAIL_STOPPED, 0, "stopped");
		}
		if (now >= deadline) {
			lookup_put(l);
			return fail(x, HTTP_FAIL_RESOLVE, ETIMEDOUT, "no answer within %ld ms",
			            (long)((x->connect_ns + 999999) / 1000000));
		}
		if (until - now > (int64_t)SLICE_MS * 1000000)
			until = now + (int64_t)SLICE_MS * 1000000;
		ts.tv_sec = (time_t)(until / 1000000000);
		ts.tv_nsec = (long)(until % 1000000000);
		pthread_cond_timedwait(&l->done_cv, &l->lock, &ts);
	}
	rc = l->rc;
	err = l->err;
	*out = l->res;
	l->res = NULL;
	lookup_put(l);
done:
	if (rc == EAI_MEMORY)
		return fail(x, HTTP_FAIL_NOMEM, 0, "out of memory");
	if (rc != 0)
		return fail(x, HTTP_FAIL_RESOLVE, 0, "%s",
		            rc == EAI_SYSTEM ? strerror(err) : gai_strerror(rc));
	return 0;
}

static ssize_t raw_recv(struct http_conn *c, short *want);

/* Sends all of n bytes on the plain socket before deadline: 0, or -1 with
 * the failure recorded (as the proxy's: only the CONNECT goes this way). */
static int send_plain(struct xfer *x, const char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(x->c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		int ev;

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && !again(errno))
			return fail(x, HTTP_FAIL_PROXY, errno,
			            "the %s closed the connection while CONNECT %s was sent: %s",
			            x->rs->via, x->rq->url->peer, strerror(errno));
		ev = wait_io(x, POLLOUT, deadline);
		if (ev < 0)
			return -1;
		if (ev == 0)
			return fail(x, HTTP_FAIL_PROXY, ETIMEDOUT,
			            "the %s did not take CONNECT %s within %ld ms", x->rs->via,
			            x->rq->url->peer, (long)(x->connect_ns / 1000000));
	}
	return 0;
}

/* Asks the proxy for a tunnel to the URL's host and port, and reads its
 * answer's head before deadline: 0 when it is a 2xx (the connection is then
 * the tunnel), or -1 with the failure recorded. */
static int open_tunnel(struct xfer *x, int64_t deadline)
{
	const struct http_url *u = x->rq->url;
	struct http_conn *c = x->c;
	char req[1024], line[160];
	const char *end = NULL;
	size_t head = 0;
	int n, status;

	n = snprintf(req, sizeof req,
	             "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: plumb/%s\r\n%s%s%s\r\n",
	             u->peer, u->peer, plumb_version(),
	             x->px.auth[0] ? "Proxy-Authorization: " : "", x->px.auth,
	             x->px.auth[0] ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof req)
		return fail(x, HTTP_FAIL_NOMEM, 0, "the CONNECT request is too long");
	if (send_plain(x, req, (size_t)n, deadline) < 0)
		return -1;
	c->rpos = c->rlen = 0;
	while (!end) {
		short want = POLLIN;
		ssize_t r;
		int ev;

		if (c->rlen == RBUF)
			return fail(x, HTTP_FAIL_PROXY, 0,
			            "the %s answered CONNECT %s with a head longer than %d bytes",
			            x->rs->via, u->peer, RBUF);
		r = raw_recv(c, &want);
		if (r > 0) {
			c->rlen += (size_t)r;
			if ((end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4)))
				head = (size_t)(end - c->rbuf) + 4;
			else if ((end = memmem(c->rbuf, c->rlen, "\n\n", 2)))
				head = (size_t)(end - c->rbuf) + 2;
			continue;
		}
		if (r == 0 || r != -EAGAIN)
			return fail(x, HTTP_FAIL_PROXY, r < 0 ? (int)-r : ECONNRESET,
			            "the %s closed the connection in answer to CONNECT %s%s%s",
			            x->rs->via, u->peer, r < 0 ? ": " : "",
			            r < 0 ? strerror((int)-r) : "");
		ev = wait_io(x, want, deadline);
		if (ev < 0)
			return -1;
		if (ev == 0)
			return fail(x, HTTP_FAIL_PROXY, ETIMEDOUT,
			            "the %s did not answer CONNECT %s within %ld ms", x->rs->via,
			            u->peer, (long)(x->connect_ns / 1000000));
	}
	n = (int)strcspn(c->rbuf, "\r\n");
	snprintf(line, sizeof line, "%.*s", n < (int)sizeof line ? n : (int)sizeof line - 1,
	         c->rbuf);
	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
	    line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]))
		return fail(x, HTTP_FAIL_PROXY, 0,
		            "the %s answered CONNECT %s with something that is not HTTP/1.x",
		            x->rs->via, u->peer);
	status = atoi(line + 9);
	if (status < 200 || status > 299) {
		x->rs->proxy_status = status;
		return fail(x, HTTP_FAIL_PROXY, 0, "%s refused CONNECT %s: %s%s", x->rs->via,
		            u->peer, line,
		            status != 407   ? ""
		            : x->px.auth[0] ? " (it did not take the credentials in the proxy URL)"
		                            : " (it wants credentials: "
		                              "http://USER:PASSWORD@HOST:PORT in the variable)");
	}
	if (c->rlen != head)
		return fail(x, HTTP_FAIL_PROXY, 0,
		            "the %s sent bytes after its answer to CONNECT %s", x->rs->via,
		            u->peer);
	c->rpos = c->rlen = 0;
	return 0;
}

/* Says a failure to reach the proxy is the proxy's. */
static int proxy_unreachable(struct xfer *x)
{
	struct http_response *rs = x->rs;
	enum http_fail was = rs->fail;
	int err = rs->os_err;
	char why[sizeof rs->detail];

	snprintf(why, sizeof why, "%s", rs->detail);
	rs->fail = HTTP_OK; /* fail() keeps the first failure: this one replaces it */
	switch (was) {
	case HTTP_FAIL_RESOLVE:
		return fail(x, HTTP_FAIL_PROXY, err, "cannot resolve the name of the %s: %s",
		            rs->via, why);
	case HTTP_FAIL_CONNECT:
		return fail(x, HTTP_FAIL_PROXY, err, "cannot connect to the %s: %s", rs->via,
		            strerror(err));
	case HTTP_FAIL_CONNECT_TIME:
		return fail(x, HTTP_FAIL_PROXY, ETIMEDOUT, "the %s did not answer within %ld ms",
		            rs->via, (long)(x->connect_ns / 1000000));
	default:
		rs->fail = was;
		return -1;
	}
}

static int conn_open(struct xfer *x)
{
	const struct http_url *u = x->rq->url;
	const struct http_url *to = x->proxied ? &x->px.at : u;
	struct addrinfo *res, *ai;
	int64_t deadline = http_now_ns() + x->connect_ns;
	int err = ECONNREFUSED, one = 1, n = 0, i = 0;

	conn_close(x->c);
	if (resolve(x, to, deadline, &res) < 0)
		return x->proxied ? proxy_unreachable(x) : -1;
	for (ai = res; ai; ai = ai->ai_next)
		n++;
	/* Each address gets its share of the time left, the last one all of it. */
	for (ai = res; ai; ai = ai->ai_next, i++) {
		int64_t now = http_now_ns();

		err = connect_one(x, ai, now + (deadline - now) / (n - i));
		if (err == 0 || err < 0)
			break;
		conn_close(x->c);
		if (now >= deadline)
			break;
	}
	freeaddrinfo(res);
	if (err < 0) {
		conn_close(x->c);
		return -1;
	}
	if (err == ETIMEDOUT)
		fail(x, HTTP_FAIL_CONNECT_TIME, ETIMEDOUT, "connecting timed out");
	else if (err != 0)
		fail(x, HTTP_FAIL_CONNECT, err, "%s", strerror(err));
	if (err != 0)
		return x->proxied ? proxy_unreachable(x) : -1;
	setsockopt(x->c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(x->c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	if (x->proxied && u->tls && open_tunnel(x, deadline) < 0) {
		conn_close(x->c);
		return -1;
	}
	if (u->tls && tls_handshake(x, deadline) < 0) {
		conn_close(x->c);
		return -1;
	}
	return 0;
}

/* ---- Bytes in and out ---- */

/* Sends what it can: > 0 bytes, -EAGAIN with *want the events to wait
 * for, or -errno. */
static ssize_t raw_send(struct http_conn *c, const void *p, size_t n, short *want)
{
	if (c->ssl) {
		size_t w = 0;
		int r = SSL_write_ex(c->ssl, p, n, &w), err;

		if (r == 1)
			return (ssize_t)w;
		err = SSL_get_error(c->ssl, r);
		ERR_clear_error();
		if ((*want = ssl_waits(err)))
			return -EAGAIN;
		return err == SSL_ERROR_SYSCALL && errno ? -errno : -EPIPE;
	}
	ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w >= 0)
		return w;
	if (again(errno)) {
		*want = POLLOUT;
		return -EAGAIN;
	}
	return -errno;
}

/* Receives into the free end of rbuf: > 0 bytes, 0 at the end, -EAGAIN
 * with *want set, or -errno. */
static ssize_t raw_recv(struct http_conn *c, short *want)
{
	void *p = c->rbuf + c->rlen;
	size_t n = RBUF - c->rlen;

	if (c->ssl) {
		size_t r = 0;
		int ok = SSL_read_ex(c->ssl, p, n, &r), err;

		if (ok == 1)
			return (ssize_t)r;
		err = SSL_get_error(c->ssl, ok);
		ERR_clear_error();
		if ((*want = ssl_waits(err)))
			return -EAGAIN;
		if (err == SSL_ERROR_ZERO_RETURN)
			return 0;
		return err == SSL_ERROR_SYSCALL && errno ? -errno : -ECONNRESET;
	}
	ssize_t r = recv(c->fd, p, n, MSG_DONTWAIT);

	if (r >= 0)
		return r;
	if (again(errno)) {
		*want = POLLIN;
		return -EAGAIN;
	}
	return -errno;
}

/* While sending (rbuf holds what came since the request began, from its
 * start): drops the complete interim (1xx) heads at its start; true when
 * what is left begins a final reply, or something that is not HTTP (for
 * read_reply to refuse), false when it is empty or an interim head still
 * incomplete. */
static bool final_reply_began(struct http_conn *c)
{
	static const char form[] = "HTTP/1.d ddd"; /* d: a digit */

	for (;;) {
		const char *p = c->rbuf, *end;
		size_t n = c->rlen, k;
		int status;

		for (k = 0; k < n && k < sizeof form - 1; k++)
			if (form[k] == 'd' ? !isdigit((unsigned char)p[k]) : p[k] != form[k])
				return true;
		if (k < sizeof form - 1)
			return false; /* too little to tell (or nothing) */
		status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		if (status < 100 || status >= 200 || status == 101)
			return true;
		end = memmem(p, n, "\n\r\n", 3);
		k = end ? (size_t)(end - p) + 3 : 0;
		if (!end && (end = memmem(p, n, "\n\n", 2)))
			k = (size_t)(end - p) + 2;
		if (!end)
			return n == RBUF; /* a head too long: read_reply says so */
		memmove(c->rbuf, p + k, n - k);
		c->rlen = n - k;
	}
}

/* While sending: takes in what the server sent, if anything.  True when it
 * closed or a final reply began (an early reply: stop sending and read it);
 * interim 1xx replies do not count. */
static bool peer_spoke(struct xfer *x)
{
	struct http_conn *c = x->c;
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	short want;
	ssize_t r;

	if (c->rlen < RBUF && ((c->ssl && SSL_pending(c->ssl) > 0) || poll(&p, 1, 0) > 0)) {
		r = raw_recv(c, &want);
		if (r > 0) {
			c->rlen += (size_t)r;
			x->got_reply_byte = true;
			x->last_move = http_now_ns();
		} else if (r != -EAGAIN) { /* -EAGAIN: TLS housekeeping, no data */
			x->peer_closed = true;
			x->peer_err = r < 0 ? (int)-r : 0;
			return true;
		}
	}
	return final_reply_began(c);
}

/* Sends n bytes: 0 when sent, 1 when the server spoke first (stop sending
 * and read its reply), -1 on failure (recorded). */
static int send_all(struct xfer *x, const char *p, size_t n)
{
	while (n > 0) {
		short want = POLLOUT;
		ssize_t w;
		int ev;

		if (stopped(x))
			return fail(x, HTTP_FAIL_STOPPED, 0, "stopped");
		if (peer_spoke(x))
			return 1;
		w = raw_send(x->c, p, n, &want);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			x->last_move = http_now_ns();
			continue;
		}
		if (w != -EAGAIN)
			return fail(x, HTTP_FAIL_SEND, (int)-w, "%s", strerror((int)-w));
		ev = wait_io(x, (short)(want | POLLIN), stall_deadline(x));
		if (ev < 0)
			return -1;
		if (ev == 0)
			return fail(x, HTTP_FAIL_STALL, ETIMEDOUT, "stalled");
	}
	return 0;
}

/* ---- The request ---- */

static int append(plumb_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int append(plumb_buffer *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return -EINVAL;
	return plumb_buffer_append(b, line, (size_t)n);
}

/* Whether the caller's headers hold one called name. */
static bool has_header(const struct http_request *rq, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < rq->nheaders; i++)
		if (strncasecmp(rq->headers[i], name, n) == 0 && rq->headers[i][n] == ':')
			return true;
	return false;
}

/* The request line and headers: Host and User-Agent (unless the caller's
 * headers have their own), Proxy-Authorization for a request to a proxy
 * that has credentials, the caller's, then the body's framing.  To a proxy
 * (plain http), the request line holds the absolute URL. */
static int send_head(struct xfer *x)
{
	const struct http_request *rq = x->rq;
	plumb_buffer b;
	bool need_len =
	        rq->len > 0 || strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "POST") == 0;
	int rc = 0;

	bool absolute = x->proxied && !rq->url->tls; /* a request to the proxy itself */

	plumb_buffer_init(&b);
	if (plumb_buffer_append(&b, rq->method, strlen(rq->method)) < 0 ||
	    plumb_buffer_append(&b, " ", 1) < 0 ||
	    (absolute && append(&b, "%s://%s", rq->url->scheme, rq->url->hostport) < 0) ||
	    plumb_buffer_append(&b, rq->url->target, strlen(rq->url->target)) < 0 ||
	    append(&b, " HTTP/1.1\r\n") < 0 ||
	    (!has_header(rq, "Host") && append(&b, "Host: %s\r\n", rq->url->hostport) < 0) ||
	    (!has_header(rq, "User-Agent") &&
	     append(&b, "User-Agent: plumb/%s\r\n", plumb_version()) < 0) ||
	    (absolute && x->px.auth[0] &&
	     append(&b, "Proxy-Authorization: %s\r\n", x->px.auth) < 0))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < rq->nheaders; i++)
		if (plumb_buffer_append(&b, rq->headers[i], strlen(rq->headers[i])) < 0 ||
		    plumb_buffer_append(&b, "\r\n", 2) < 0)
			rc = -ENOMEM;
	if (rc == 0 && rq->reader)
		rc = append(&b, "Transfer-Encoding: chunked\r\n");
	else if (rc == 0 && need_len)
		rc = append(&b, "Content-Length: %zu\r\n", rq->len);
	if (rc == 0)
		rc = plumb_buffer_append(&b, "\r\n", 2);
	if (rc < 0) {
		plumb_buffer_release(&b);
		return fail(x, HTTP_FAIL_NOMEM, 0, "out of memory");
	}
	rc = send_all(x, (const char *)plumb_buffer_bytes(&b), plumb_buffer_len(&b));
	plumb_buffer_release(&b);
	return rc;
}

static void count_sent(struct xfer *x, size_t n)
{
	x->rs->sent += n;
	if (x->rq->progress)
		atomic_store_explicit(x->rq->progress, x->rs->sent, memory_order_relaxed);
}

/* The memory body, in slices so that progress moves as it goes. */
static int send_memory(struct xfer *x)
{
	const char *p = x->rq->body;
	size_t left = x->rq->len;

	while (left > 0) {
		size_t n = left < SBUF ? left : SBUF;
		int rc = send_all(x, p, n);

		if (rc != 0)
			return rc;
		count_sent(x, n);
		p += n;
		left -= n;
	}
	return 0;
}

/* The reader's bytes, one chunk per read, straight into the send buffer
 * behind room for the chunk's size line. */
static int send_stream(struct xfer *x)
{
	struct http_conn *c = x->c;
	char *data;

	if (!c->sbuf && !(c->sbuf = malloc(SBUF + CHUNK_PAD + 2)))
		return fail(x, HTTP_FAIL_NOMEM, 0, "out of memory");
	data = c->sbuf + CHUNK_PAD;
	for (;;) {
		char size[CHUNK_PAD + 1];
		ssize_t n;
		int len, rc;

		if (stopped(x))
			return fail(x, HTTP_FAIL_STOPPED, 0, "stopped");
		if (peer_spoke(x))
			return 1;
		n = plumb_reader_read(x->rq->reader, data, SBUF);
		x->last_move = http_now_ns();
		if (n < 0) {
			x->rs->reader_err = (int)n;
			return fail(x, HTTP_FAIL_READER, 0, "%s", plumb_strerror((int)n));
		}
		if (n == 0)
			return send_all(x, "0\r\n\r\n", 5);
		count_sent(x, (size_t)n);
		len = snprintf(size, sizeof size, "%zx\r\n", (size_t)n);
		memcpy(data - len, size, (size_t)len);
		memcpy(data + n, "\r\n", 2);
		if ((rc = send_all(x, data - len, (size_t)len + (size_t)n + 2)) != 0)
			return rc;
	}
}

/* ---- The reply ---- */

/* More bytes into rbuf: > 0, 0 at the end of the input, -1 on failure. */
static int fill(struct xfer *x)
{
	struct http_conn *c = x->c;

	if (x->peer_closed)
		return 0;
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	for (;;) {
		short want = POLLIN;
		ssize_t r = raw_recv(c, &want);
		int ev;

		if (r > 0) {
			c->rlen += (size_t)r;
			x->got_reply_byte = true;
			x->last_move = http_now_ns();
			return 1;
		}
		if (r == 0) {
			x->peer_closed = true;
			return 0;
		}
		if (r != -EAGAIN) {
			x->peer_closed = true;
			x->peer_err = (int)-r;
			return 0;
		}
		ev = wait_io(x, want, stall_deadline(x));
		if (ev < 0)
			return -1;
		if (ev == 0)
			return fail(x, HTTP_FAIL_STALL, ETIMEDOUT, "stalled");
	}
}

/* The input ended where more was due. */
static int cut_short(struct xfer *x, const char *what)
{
	if (x->peer_err)
		return fail(x, HTTP_FAIL_RECV, x->peer_err, "%s", strerror(x->peer_err));
	if (!x->got_reply_byte)
		return fail(x, HTTP_FAIL_RECV, 0,
		            "the server closed the connection without answering");
	return fail(x, HTTP_FAIL_RECV, 0, "the server closed the connection in the middle of %s",
	            what);
}

/* The next line (without CRLF) into *line, NUL-terminated in rbuf. */
static int get_line(struct xfer *x, char **line, const char *what)
{
	struct http_conn *c = x->c;

	for (;;) {
		char *start = c->rbuf + c->rpos, *nl = memchr(start, '\n', c->rlen - c->rpos);
		int r;

		if (nl) {
			size_t n = (size_t)(nl - start);

			if (n > 0 && start[n - 1] == '\r')
				n--;
			start[n] = '\0';
			c->rpos = (size_t)(nl - c->rbuf) + 1;
			*line = start;
			return 0;
		}
		if (c->rpos == 0 && c->rlen == RBUF)
			return fail(x, HTTP_FAIL_PROTOCOL, 0,
			            "a line of the reply is longer than %d bytes", RBUF);
		if ((r = fill(x)) < 0)
			return -1;
		if (r == 0)
			return cut_short(x, what);
	}
}

/* Keeps what fits of the body (in a buffer grown as it comes) and counts
 * all of it. */
static int keep_body(struct xfer *x, const char *p, size_t n)
{
	struct http_response *rs = x->rs;
	size_t room = x->reply_max - rs->body_len, take = n < room ? n : room;

	rs->body_size += n;
	if (take == 0)
		return 0;
	if (rs->body_len + take + 1 > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 4096;
		char *grown;

		while (cap < rs->body_len + take + 1)
			cap *= 2;
		if (cap > x->reply_max + 1)
			cap = x->reply_max + 1;
		if (!(grown = realloc(rs->body, cap)))
			return fail(x, HTTP_FAIL_NOMEM, 0, "out of memory while keeping the reply");
		rs->body = grown;
		x->body_cap = cap;
	}
	memcpy(rs->body + rs->body_len, p, take);
	rs->body_len += take;
	rs->body[rs->body_len] = '\0';
	return 0;
}

/* n bytes of body (UINT64_MAX: up to the end of the input). */
static int read_body(struct xfer *x, uint64_t n)
{
	struct http_conn *c = x->c;

	while (n > 0) {
		size_t have = c->rlen - c->rpos, take;
		int r;

		if (have == 0) {
			if ((r = fill(x)) < 0)
				return -1;
			if (r == 0)
				return n == UINT64_MAX ? 0 : cut_short(x, "the reply's body");
			continue;
		}
		take = (uint64_t)have < n ? have : (size_t)n;
		if (keep_body(x, c->rbuf + c->rpos, take) < 0)
			return -1;
		c->rpos += take;
		if (n != UINT64_MAX)
			n -= take;
	}
	return 0;
}

static int read_chunked(struct xfer *x)
{
	for (;;) {
		char *line, *end;
		unsigned long long size;

		if (get_line(x, &line, "the reply's body") < 0)
			return -1;
		errno = 0;
		size = strtoull(line, &end, 16);
		if (end == line || errno || size > ((uint64_t)1 << 60) ||
		    (*end && *end != ';' && *end != ' ' && *end != '\t'))
			return fail(x, HTTP_FAIL_PROTOCOL, 0, "a bad chunk size line in the reply");
		if (size == 0)
			break;
		if (read_body(x, size) < 0 || get_line(x, &line, "the reply's body") < 0)
			return -1;
		if (*line)
			return fail(x, HTTP_FAIL_PROTOCOL, 0,
			            "a chunk of the reply is longer than said");
	}
	for (;;) { /* trailers, up to the empty line */
		char *line;

		if (get_line(x, &line, "the reply's trailers") < 0)
			return -1;
		if (!*line)
			return 0;
	}
}

static bool has_token(const char *value, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = value; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t' || p[n] == ';'))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

struct head {
	int status, minor;
	bool chunked, has_te, close, keep_alive, has_len;
	uint64_t len;
};

static int read_head(struct xfer *x, struct head *h)
{
	char *line, *p;

	memset(h, 0, sizeof *h);
	if (get_line(x, &line, "the reply's head") < 0)
		return -1;
	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
	    line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
	    (line[12] != ' ' && line[12] != '\0'))
		return fail(x, HTTP_FAIL_PROTOCOL, 0,
		            "the reply does not start with an HTTP/1.x status line");
	h->minor = line[7] - '0';
	h->status = atoi(line + 9);
	snprintf(x->rs->status_line, sizeof x->rs->status_line, "%s", line);
	for (;;) {
		size_t nlen, vlen;
		char *value;

		if (get_line(x, &line, "the reply's head") < 0)
			return -1;
		if (!*line)
			return 0;
		p = strchr(line, ':');
		if (!p || p == line)
			return fail(x, HTTP_FAIL_PROTOCOL, 0, "a reply header without a name");
		nlen = (size_t)(p - line);
		value = p + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		vlen = strlen(value);
		while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
			value[--vlen] = '\0';
		line[nlen] = '\0';
		if (strcasecmp(line, "Content-Length") == 0) {
			char *end;

			uint64_t len;

			errno = 0;
			len = strtoull(value, &end, 10);
			if (errno || end == value || *end || !isdigit((unsigned char)*value))
				return fail(x, HTTP_FAIL_PROTOCOL, 0,
				            "a bad Content-Length in the reply");
			if (h->has_len && len != h->len)
				return fail(x, HTTP_FAIL_PROTOCOL, 0,
				            "two different Content-Length values in the reply");
			h->len = len;
			h->has_len = true;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			h->has_te = true;
			h->chunked |= has_token(value, "chunked");
		} else if (strcasecmp(line, "Connection") == 0) {
			h->close |= has_token(value, "close");
			h->keep_alive |= has_token(value, "keep-alive");
		}
		if (h->status >= 200 && x->rq->on_header)
			x->rq->on_header(x->rq->header_arg, line, nlen, value, vlen);
	}
}

static int read_reply(struct xfer *x)
{
	struct http_response *rs = x->rs;
	struct head h;
	bool to_close = false;

	do {
		if (read_head(x, &h) < 0)
			return -1;
	} while (h.status >= 100 && h.status < 200 && h.status != 101);
	rs->status = h.status;
	if (strcmp(x->rq->method, "HEAD") == 0 || h.status == 204 || h.status == 304 ||
	    h.status < 200) {
		/* no body */
	} else if (h.chunked) {
		if (read_chunked(x) < 0)
			return -1;
	} else if (h.has_len && !h.has_te) {
		if (read_body(x, h.len) < 0)
			return -1;
	} else {
		to_close = true;
		if (read_body(x, UINT64_MAX) < 0)
			return -1;
	}
	/* Transfer-Encoding and Content-Length together: framed by the former,
	 * but whoever sent it may frame differently, so no more on it. */
	x->keep = !to_close && !h.close && (h.minor >= 1 || h.keep_alive) && x->body_sent &&
	          !x->peer_closed && x->c->rpos == x->c->rlen && h.status >= 200 &&
	          !(h.has_te && h.has_len);
	return 0;
}

/* ---- The exchange ---- */

static void reset_response(struct http_response *rs)
{
	free(rs->body);
	memset(rs, 0, sizeof *rs);
}

/* Whether a kept connection is still fit for a request: the server has sent
 * nothing on it and not closed it while it was idle.  TLS records that carry
 * no data (session tickets) are taken in and do not count. */
static bool still_idle(struct http_conn *c)
{
	for (int i = 0; i < 4; i++) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		char byte;
		size_t got;
		int r;

		if (c->ssl && SSL_pending(c->ssl) > 0)
			return false;
		if (poll(&p, 1, 0) == 0)
			return true;
		if (!c->ssl || (p.revents & (POLLERR | POLLHUP)))
			return false;
		r = SSL_peek_ex(c->ssl, &byte, 1, &got);
		if (r == 1 || SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
			ERR_clear_error();
			return false;
		}
	}
	return false;
}

static int exchange_once(struct xfer *x, bool *reused)
{
	const struct http_request *rq = x->rq;
	const struct http_url *u = rq->url;
	struct http_conn *c = x->c;
	char key[sizeof c->conn_key];
	int rc;

	x->last_move = http_now_ns();
	if (x->proxied) /* the proxy, and for a tunnel where it goes */
		snprintf(key, sizeof key, "%s proxy %s %s %s %u %d %s", u->scheme, x->px.at.peer,
		         x->px.auth, u->tls ? u->host : "", u->tls ? u->port : 0, rq->insecure,
		         rq->ca_file ? rq->ca_file : "");
	else
		snprintf(key, sizeof key, "%s %s %u %d %s", u->scheme, u->host, u->port,
		         rq->insecure, rq->ca_file ? rq->ca_file : "");
	*reused = c->fd >= 0 && strcmp(key, c->conn_key) == 0 && still_idle(c);
	if (!*reused) {
		if (conn_open(x) < 0)
			return -1;
		snprintf(c->conn_key, sizeof c->conn_key, "%s", key);
	}
	c->rpos = c->rlen = 0;
	rc = send_head(x);
	if (rc == 0)
		rc = rq->reader ? send_stream(x) : send_memory(x);
	if (rc == 0)
		x->body_sent = true;
	if (rc == 1)
		x->rs->early_reply = true;
	/* A failure to send may still leave the server's answer to read; if
	 * none comes, the send error stands (the first failure is kept). */
	if (rc < 0 && x->rs->fail != HTTP_FAIL_SEND)
		return -1;
	if (read_reply(x) < 0)
		return -1;
	if (rc < 0) { /* the server answered, then closed: its reply is the news */
		x->rs->fail = HTTP_OK;
		x->rs->os_err = 0;
		x->rs->detail[0] = '\0';
		x->rs->early_reply = true;
	}
	return 0;
}

/* A fresh exchange of rq over c into rs (reset). */
static void xfer_init(struct xfer *x, struct http_conn *c, const struct http_request *rq,
                      struct http_response *rs)
{
	reset_response(rs);
	memset(x, 0, sizeof *x);
	x->c = c;
	x->rq = rq;
	x->rs = rs;
	x->connect_ns = timeout_ns(rq->connect_timeout_ms, HTTP_CONNECT_DEFAULT_MS);
	x->stall_ns = timeout_ns(rq->stall_timeout_ms, HTTP_STALL_DEFAULT_MS);
	x->reply_max = rq->reply_max < HTTP_REPLY_CAP ? rq->reply_max : HTTP_REPLY_CAP;
}

/* Which proxy x goes through (none: 0), or -1 with the failure recorded. */
static int pick_proxy(struct xfer *x)
{
	char err[sizeof x->rs->detail];
	int rc = http_proxy_for(x->rq->url, &x->px, err, sizeof err);

	if (rc < 0)
		return fail(x, HTTP_FAIL_PROXY, 0, "%s", err);
	x->proxied = rc > 0;
	if (x->proxied)
		snprintf(x->rs->via, sizeof x->rs->via, "proxy %s (from %s)", x->px.at.peer,
		         x->px.from);
	return 0;
}

int http_exchange(struct http_conn *c, const struct http_request *rq, struct http_response *rs)
{
	struct xfer x;
	bool reused;
	int rc;

	xfer_init(&x, c, rq, rs);
	if (pick_proxy(&x) < 0) {
		conn_close(c);
		return -1;
	}
	rc = exchange_once(&x, &reused);
	if (rc < 0 && reused && !x.got_reply_byte &&
	    (rs->fail == HTTP_FAIL_SEND || rs->fail == HTTP_FAIL_RECV) &&
	    rs->sent == 0) {
		/* The kept connection had been closed while idle: once more,
		 * fresh.  Not once the server has taken body bytes: that
		 * connection was alive, and its failure is the caller's to
		 * count and retry (S3 does, with backoff). */
		conn_close(c);
		xfer_init(&x, c, rq, rs);
		rc = pick_proxy(&x) < 0 ? -1 : exchange_once(&x, &reused);
	}
	if (rc < 0 || !x.keep)
		conn_close(c);
	return rc;
}

void http_response_release(struct http_response *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
}

int http_fail_errno(const struct http_response *rs)
{
	int os = rs->os_err > 0 ? -rs->os_err : 0;

	switch (rs->fail) {
	case HTTP_FAIL_READER:
		return rs->reader_err < 0 ? rs->reader_err : -EIO;
	case HTTP_FAIL_STOPPED:
		return -ECANCELED;
	case HTTP_FAIL_STALL:
	case HTTP_FAIL_CONNECT_TIME:
		return -ETIMEDOUT;
	case HTTP_FAIL_RESOLVE:
		return -EHOSTUNREACH;
	case HTTP_FAIL_CONNECT:
		return os ? os : -ECONNREFUSED;
	case HTTP_FAIL_SEND:
		return os ? os : -EPIPE;
	case HTTP_FAIL_RECV:
		return os ? os : -ECONNRESET;
	case HTTP_FAIL_NOMEM:
		return -ENOMEM;
	case HTTP_FAIL_TLS:
	case HTTP_FAIL_PROTOCOL:
		return -EPROTO;
	case HTTP_FAIL_PROXY:
		if (rs->proxy_status == 407)
			return -EACCES;
		return rs->proxy_status ? -ECONNREFUSED : os ? os : -EINVAL;
	default:
		return -EIO;
	}
}

bool http_fail_may_pass(const struct http_response *rs)
{
	switch (rs->fail) {
	case HTTP_FAIL_RESOLVE:
	case HTTP_FAIL_CONNECT:
	case HTTP_FAIL_CONNECT_TIME:
	case HTTP_FAIL_SEND:
	case HTTP_FAIL_RECV:
		return true;
	case HTTP_FAIL_PROXY: /* unreachable, or a 5xx to the CONNECT; not a refusal */
		return rs->os_err != 0 || rs->proxy_status >= 500;
	default:
		return false;
	}
}

struct http_conn *http_conn_new(void)
{
	struct http_conn *c = calloc(1, sizeof *c);

	if (c)
		c->fd = -1;
	return c;
}

void http_conn_free(struct http_conn *c)
{
	if (!c)
		return;
	conn_close(c);
	SSL_CTX_free(c->ctx);
	free(c->sbuf);
	free(c);
}
