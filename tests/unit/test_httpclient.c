/*
 * test_httpclient.c - unit tests of lib/http's own HTTP/1.1 client
 * (lib/http/client.h): URL parsing, and exchanges with real servers on
 * 127.0.0.1.
 *
 * Servers: a small Python HTTP/1.1 server written here (it answers each
 * request with the client's port, so a test can tell a reused connection
 * from a new one, and frames its replies in the ways the client must read:
 * Content-Length, chunked, to the close, none for HEAD and 204, a close
 * while idle); and tests/services/httpsink.py, plain and with TLS
 * (certificates from tests/services/tlscerts.sh), for bodies checked by
 * SHA-256, early replies, dropped connections and certificate checks; and
 * tests/services/fwdproxy.py, a forward proxy (one open, one wanting
 * credentials) whose log of requests shows what went through it.  The
 * proxy variables are cleared at the start (each proxy test sets its own
 * and clears them again).
 *
 * SIGPIPE keeps its default action in this program: a write to a reset
 * connection that raised it would kill the test.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_*, to hash the bodies sent */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <plumb/hash.h>

#include "http/client.h"
#include "net-helpers.h"

#define MIB ((size_t)1 << 20)

static char dir[64], ca_pem[128];
static pid_t echo_pid, sink_pid, tls_pid, tls_echo_pid, px_pid, apx_pid;
static int echo_port, sink_port, tls_port, tls_echo_port, px_port, apx_port;
static char px_log[128];

static const char *const proxy_vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                         "no_proxy",   "NO_PROXY",   "all_proxy",   "ALL_PROXY"};

static void clear_proxy_env(void)
{
	for (size_t i = 0; i < sizeof proxy_vars / sizeof *proxy_vars; i++)
		unsetenv(proxy_vars[i]);
}

/* Answers every request with JSON {"port": client port, "n": requests on
 * this connection, "bytes": body length}; the path picks the framing, or
 * something a client must cope with (a 100 Continue before the body is
 * read, a 408 on an idle connection, two framings).  With a certificate and
 * a key as arguments, it speaks TLS and closes without close_notify. */
static const char echo_py[] =
        "import json, socket, ssl, sys, time\n"
        "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def log_message(self, *a): pass\n"
        "    def setup(self):\n"
        "        super().setup(); self.n = 0\n"
        "    def go(self):\n"
        "        self.n += 1\n"
        "        n = int(self.headers.get('Content-Length') or 0)\n"
        "        if self.path.startswith('/100first'):\n"
        "            self.wfile.write(b'HTTP/1.1 100 Continue\\r\\nX-Note: a\\r\\n\\r\\n')\n"
        "        if n and not self.path.startswith('/early'): self.rfile.read(n)\n"
        "        body = json.dumps({'port': self.client_address[1], 'n': self.n,\n"
        "                           'bytes': n}).encode()\n"
        "        p = self.path\n"
        "        if p.startswith('/chunked'):\n"
        "            self.send_response(200)\n"
        "            self.send_header('Transfer-Encoding', 'chunked')\n"
        "            self.send_header('ETag', '\"abc\"')\n"
        "            self.end_headers()\n"
        "            for i in range(0, len(body), 5):\n"
        "                c = body[i:i + 5]\n"
        "                self.wfile.write(b'%x;ext=1\\r\\n' % len(c) + c + b'\\r\\n')\n"
        "            self.wfile.write(b'0\\r\\nX-Trailer: t\\r\\n\\r\\n')\n"
        "        elif p.startswith('/toclose'):\n"
        "            self.wfile.write(b'HTTP/1.1 200 OK\\r\\n\\r\\n' + body)\n"
        "            self.close_connection = True\n"
        "        elif p.startswith('/close'):\n"
        "            self.send_response(200)\n"
        "            self.send_header('Content-Length', str(len(body)))\n"
        "            self.send_header('Connection', 'close')\n"
        "            self.end_headers(); self.wfile.write(body)\n"
        "            self.close_connection = True\n"
        "        elif p.startswith('/idle-close'):\n"
        "            self.send_response(200)\n"
        "            self.send_header('Content-Length', str(len(body)))\n"
        "            self.end_headers(); self.wfile.write(body); self.wfile.flush()\n"
        "            self.close_connection = True\n"
        "        elif p.startswith('/nocontent'):\n"
        "            self.send_response(204); self.end_headers()\n"
        "        elif p.startswith('/big'):\n"
        "            big = b'x' * 100000\n"
        "            self.send_response(200)\n"
        "            self.send_header('Content-Length', str(len(big)))\n"
        "            self.end_headers(); self.wfile.write(big)\n"
        "        elif p.startswith('/continue'):\n"
        "            self.wfile.write(b'HTTP/1.1 100 Continue\\r\\n\\r\\n')\n"
        "            self.send_response(201)\n"
        "            self.send_header('Content-Length', str(len(body)))\n"
        "            self.end_headers(); self.wfile.write(body)\n"
        "        elif p.startswith('/early'):\n"
        "            self.send_response(413)\n"
        "            self.send_header('Content-Length', '9')\n"
        "            self.send_header('Connection', 'close')\n"
        "            self.end_headers(); self.wfile.write(b'too big\\r\\n'); self.wfile.flush()\n"
        "            self.connection.shutdown(socket.SHUT_WR)\n"
        "            time.sleep(0.5)\n"
        "            self.close_connection = True\n"
        "        elif p.startswith('/headers'):\n"
        "            h = self.headers\n"
        "            b = json.dumps({'hosts': len(h.get_all('Host') or []),\n"
        "                            'host': h.get('Host'),\n"
        "                            'uas': len(h.get_all('User-Agent') or []),\n"
        "                            'ua': h.get('User-Agent')}).encode()\n"
        "            self.send_response(200)\n"
        "            self.send_header('Content-Length', str(len(b)))\n"
        "            self.end_headers(); self.wfile.write(b)\n"
        "        elif p.startswith('/stale408'):\n"
        "            self.send_response(200)\n"
        "            self.send_header('Content-Length', str(len(body)))\n"
        "            self.end_headers(); self.wfile.write(body); self.wfile.flush()\n"
        "            time.sleep(0.2)\n"
        "            self.wfile.write(b'HTTP/1.1 408 Request Timeout\\r\\n'\n"
        "                             b'Connection: close\\r\\nContent-Length: 7\\r\\n\\r\\n'\n"
        "                             b'timeout')\n"
        "            self.close_connection = True\n"
        "        elif p.startswith('/twolen'):\n"
        "            self.wfile.write(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n'\n"
        "                             b'Content-Length: 4\\r\\n\\r\\nokok')\n"
        "        elif p.startswith('/te-and-len'):\n"
        "            self.wfile.write(b'HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n'\n"
        "                             b'Transfer-Encoding: chunked\\r\\n\\r\\n'\n"
        "                             + b'%x\\r\\n' % len(body) + body + b'\\r\\n0\\r\\n\\r\\n')\n"
        "        elif p.startswith('/cut'):\n"
        "            self.wfile.write(b'HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\n'\n"
        "                             b'0123456789')\n"
        "            self.close_connection = True\n"
        "        elif p.startswith('/hang'):\n"
        "            time.sleep(30)\n"
        "        else:\n"
        "            self.send_response(200)\n"
        "            self.send_header('Content-Length', str(len(body)))\n"
        "            self.end_headers()\n"
        "            if self.command != 'HEAD': self.wfile.write(body)\n"
        "    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = go\n"
        "srv = ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
        "srv.daemon_threads = True\n"
        "if len(sys.argv) > 2:  # TLS; a close is never announced (no close_notify)\n"
        "    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "    ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
        "    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
        "print(srv.server_address[1], flush=True)\n"
        "srv.serve_forever()\n";

/* ---- Processes ---- */

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static int setup(void **state)
{
	const char *services = getenv("PLUMB_SERVICES");
	char script[128], sink[512], certs[600], cert[128], key[128];
	char *echo_argv[] = {"python3", script, NULL};
	char *sink_argv[] = {"python3", sink, NULL};
	char *tls_argv[] = {"python3", sink, "--tls-cert", cert, "--tls-key", key, NULL};
	char *tls_echo_argv[] = {"python3", script, cert, key, NULL};
	char fwd[512];
	char *px_argv[] = {"python3", fwd, "--log", px_log, NULL};
	char *apx_argv[] = {"python3", fwd, "--user", "u@x:p:w", NULL};
	FILE *f;

	(void)state;
	clear_proxy_env();
	if (!services)
		return -1;
	snprintf(dir, sizeof dir, "/tmp/plumb-httpclient-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(script, sizeof script, "%s/echo.py", dir);
	f = fopen(script, "w");
	if (!f)
		return -1;
	fputs(echo_py, f);
	fclose(f);
	snprintf(sink, sizeof sink, "%s/httpsink.py", services);
	snprintf(fwd, sizeof fwd, "%s/fwdproxy.py", services);
	snprintf(px_log, sizeof px_log, "%s/proxy.log", dir);
	snprintf(certs, sizeof certs, "%s/tlscerts.sh %s", services, dir);
	if (system(certs) != 0)
		return -1;
	snprintf(cert, sizeof cert, "%s/server.pem", dir);
	snprintf(key, sizeof key, "%s/server.key", dir);
	echo_pid = spawn_port(echo_argv, &echo_port);
	sink_pid = spawn_port(sink_argv, &sink_port);
	tls_pid = spawn_port(tls_argv, &tls_port);
	tls_echo_pid = spawn_port(tls_echo_argv, &tls_echo_port);
	px_pid = spawn_port(px_argv, &px_port);
	apx_pid = spawn_port(apx_argv, &apx_port);
	snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
	return echo_pid > 0 && sink_pid > 0 && tls_pid > 0 && tls_echo_pid > 0 && px_pid > 0 &&
	                       apx_pid > 0
	               ? 0
	               : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	stop(echo_pid);
	stop(sink_pid);
	stop(tls_pid);
	stop(tls_echo_pid);
	stop(px_pid);
	stop(apx_pid);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- URLs ---- */

static void url_good(void **state)
{
	struct http_url u;

	(void)state;
	assert_int_equal(http_url_parse("HTTP://Example.test/a/./b//c?x=%2F&y", &u, NULL, 0),
	                 HTTP_URL_OK);
	assert_false(u.tls);
	assert_string_equal(u.host, "Example.test");
	assert_int_equal(u.port, 80);
	assert_string_equal(u.target, "/a/./b//c?x=%2F&y"); /* byte for byte */
	assert_int_equal(u.path_len, strlen("/a/./b//c"));
	assert_string_equal(u.hostport, "Example.test");
	assert_string_equal(u.peer, "Example.test:80");
	http_url_release(&u);

	assert_int_equal(http_url_parse("https://127.0.0.1:8443", &u, NULL, 0), HTTP_URL_OK);
	assert_true(u.tls);
	assert_string_equal(u.target, "/");
	assert_string_equal(u.hostport, "127.0.0.1:8443");
	http_url_release(&u);

	assert_int_equal(http_url_parse("https://[::1]:443?q=1", &u, NULL, 0), HTTP_URL_OK);
	assert_true(u.ipv6);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.target, "/?q=1");
	assert_string_equal(u.hostport, "[::1]"); /* the default port is not named */
	assert_string_equal(u.peer, "[::1]:443");
	http_url_release(&u);
}

static void url_bad(void **state)
{
	struct http_url u;
	char err[256];

	(void)state;
	assert_int_equal(http_url_parse("ftp://h/x", &u, err, sizeof err), HTTP_URL_SCHEME);
	assert_non_null(strstr(err, "only http:// and https://"));
	assert_int_equal(http_url_parse("http://user:pw@h/x", &u, err, sizeof err),
	                 HTTP_URL_USERINFO);
	assert_null(strstr(err, "pw"));
	assert_int_equal(http_url_parse("http://h/x#frag", &u, err, sizeof err), HTTP_URL_FRAGMENT);
	assert_int_equal(http_url_parse("not a url", &u, err, sizeof err), HTTP_URL_MALFORMED);
	assert_int_equal(http_url_parse("http:///x", &u, err, sizeof err), HTTP_URL_MALFORMED);
	assert_int_equal(http_url_parse("http://h:99999/", &u, err, sizeof err),
	                 HTTP_URL_MALFORMED);
	assert_int_equal(http_url_parse("http://h:/", &u, err, sizeof err), HTTP_URL_MALFORMED);
	assert_int_equal(http_url_parse("http://[::1/", &u, err, sizeof err), HTTP_URL_MALFORMED);
	assert_int_equal(http_url_parse("http://h/a b", &u, err, sizeof err), HTTP_URL_MALFORMED);
	assert_int_equal(http_url_parse("http://h/\xc3\xa9", &u, err, sizeof err),
	                 HTTP_URL_MALFORMED);
}

/* ---- Exchanges ---- */

struct seen {
	char etag[64];
	int headers;
};

static void on_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct seen *s = arg;

	s->headers++;
	if (nlen == 4 && strncasecmp(name, "etag", 4) == 0)
		snprintf(s->etag, sizeof s->etag, "%.*s", (int)vlen, value);
}

/* rq (GET unless it says) to the echo server, or its TLS twin trusting the
 * test CA, at path; returns http_exchange's result. */
static int on_echo(struct http_conn *c, bool tls, const char *path, struct http_request *rq,
                   struct http_response *rs)
{
	struct http_url u;
	char url[128];
	int rc;

	snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", tls ? "https" : "http",
	         tls ? tls_echo_port : echo_port, path);
	assert_int_equal(http_url_parse(url, &u, NULL, 0), HTTP_URL_OK);
	rq->url = &u;
	if (!rq->method)
		rq->method = "GET";
	rq->ca_file = tls ? ca_pem : NULL;
	rc = http_exchange(c, rq, rs);
	rq->url = NULL;
	http_url_release(&u);
	return rc;
}

/* The client port the echo server saw, or -1. */
static int reply_port(const struct http_response *rs)
{
	char port[16];

	json_field(rs->body, "port", port, sizeof port);
	return port[0] ? atoi(port) : -1;
}

/* One exchange with the echo server; returns the port the server saw (or -1
 * when the reply holds none). */
static int echo(struct http_conn *c, const char *method, const char *path, const void *body,
                size_t len, struct http_response *rs, struct seen *seen)
{
	struct http_request rq = {
	        .method = method,
	        .body = body,
	        .len = len,
	        .connect_timeout_ms = 5000,
	        .stall_timeout_ms = 10000,
	        .reply_max = 4096,
	        .on_header = on_header,
	        .header_arg = seen,
	};

	if (on_echo(c, false, path, &rq, rs) < 0)
		fail_msg("%s %s: %d %s", method, path, rs->fail, rs->detail);
	return reply_port(rs);
}

static void keep_alive_and_framing(void **state)
{
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct seen seen = {0};
	int port;

	(void)state;
	port = echo(c, "PUT", "/a", "hello", 5, &rs, &seen);
	assert_int_equal(rs.status, 200);
	assert_json_field(rs.body, "bytes", "5");
	/* Content-Length, chunked (with extensions and trailers), HEAD, 204, a
	 * 100 before the answer, a POST with no body: all on one connection. */
	assert_int_equal(echo(c, "GET", "/chunked", NULL, 0, &rs, &seen), port);
	assert_string_equal(seen.etag, "\"abc\"");
	assert_json_field(rs.body, "n", "2");
	assert_int_equal(rs.body_size, rs.body_len);
	echo(c, "HEAD", "/head", NULL, 0, &rs, &seen);
	assert_int_equal(rs.status, 200);
	assert_int_equal(rs.body_size, 0);
	echo(c, "DELETE", "/nocontent", NULL, 0, &rs, &seen);
	assert_int_equal(rs.status, 204);
	assert_int_equal(echo(c, "POST", "/continue", NULL, 0, &rs, &seen), port);
	assert_int_equal(rs.status, 201);
	assert_json_field(rs.body, "n", "5");
	/* reply_max keeps the first bytes and counts them all. */
	echo(c, "GET", "/big", NULL, 0, &rs, &seen);
	assert_int_equal(rs.body_len, 4096);
	assert_int_equal(rs.body_size, 100000);
	assert_int_equal(strlen(rs.body), 4096);
	/* "Connection: close" is obeyed: the next request connects anew. */
	assert_int_equal(echo(c, "GET", "/close", NULL, 0, &rs, &seen), port);
	port = echo(c, "GET", "/x", NULL, 0, &rs, &seen);
	assert_json_field(rs.body, "n", "1");
	/* A body read to the close: complete, and the connection is not kept. */
	assert_int_equal(echo(c, "GET", "/toclose", NULL, 0, &rs, &seen), port);
	assert_int_not_equal(echo(c, "GET", "/x", NULL, 0, &rs, &seen), port);
	http_response_release(&rs);
	http_conn_free(c);
}

/* The server closes a kept connection while it is idle: the next request
 * finds it dead before any reply byte and is made again on a new one. */
static void dead_idle_connection_is_replaced(void **state)
{
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct seen seen = {0};
	struct timespec ts = {0, 300000000};
	int port, again;

	(void)state;
	port = echo(c, "GET", "/idle-close", NULL, 0, &rs, &seen);
	nanosleep(&ts, NULL);
	again = echo(c, "PUT", "/after", "0123456789", 10, &rs, &seen);
	assert_int_equal(rs.status, 200);
	assert_int_equal(rs.fail, HTTP_OK);
	assert_true(again > 0 && again != port);
	http_response_release(&rs);
	http_conn_free(c);
}

/* A reader of size generated bytes, hashed as they go out. */
struct gen {
	plumb_reader reader;
	size_t size, pos;
	SHA256_CTX sha;
};

static ssize_t gen_read(plumb_reader *r, void *buf, size_t len)
{
	struct gen *g = PLUMB_CONTAINER_OF(r, struct gen, reader);
	unsigned char *p = buf;

	if (len > 100000)
		len = 100000;
	if (len > g->size - g->pos)
		len = g->size - g->pos;
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(((g->pos + i) * 2654435761u) >> 13);
	g->pos += len;
	SHA256_Update(&g->sha, buf, len);
	return (ssize_t)len;
}

static const plumb_reader_ops gen_ops = {.read = gen_read};

static void hex(const unsigned char *d, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Sends body (or a generated stream of len bytes when body is NULL) to the
 * sink at path; returns http_exchange's result. */
static int to_sink(bool tls, const char *ca, bool insecure, const char *path, const void *body,
                   size_t len, struct http_response *rs, char *want_sha)
{
	struct http_conn *c = http_conn_new();
	struct http_url u;
	struct gen g = {.reader.ops = &gen_ops, .size = len};
	char url[128];
	unsigned char d[32];
	_Atomic uint64_t progress = 0;
	struct http_request rq = {
	        .method = "POST",
	        .url = &u,
	        .body = body,
	        .len = len,
	        .reader = body ? NULL : &g.reader,
	        .connect_timeout_ms = 5000,
	        .stall_timeout_ms = 10000,
	        .ca_file = ca,
	        .insecure = insecure,
	        .reply_max = 8192,
	        .progress = &progress,
	};
	int rc;

	SHA256_Init(&g.sha);
	snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", tls ? "https" : "http",
	         tls ? tls_port : sink_port, path);
	assert_int_equal(http_url_parse(url, &u, NULL, 0), HTTP_URL_OK);
	rc = http_exchange(c, &rq, rs);
	if (body)
		SHA256(body, len, d);
	else
		SHA256_Final(d, &g.sha);
	if (want_sha)
		hex(d, want_sha);
	if (rc == 0 && rs->status == 200)
		assert_int_equal(atomic_load(&progress), len);
	http_url_release(&u);
	http_conn_free(c);
	return rc;
}

static void check_sink_reply(const struct http_response *rs, size_t len, const char *sha,
                             const char *chunked)
{
	char got[128];

	assert_int_equal(rs->status, 200);
	assert_json_field(rs->body, "sha256", sha);
	json_field(rs->body, "bytes", got, sizeof got);
	assert_int_equal(strtoull(got, NULL, 10), len);
	assert_json_field(rs->body, "chunked", chunked);
}

static void bodies_plain_and_tls(void **state)
{
	size_t len = 24 * MIB;
	unsigned char *body = malloc(len);
	struct http_response rs = {0};
	char sha[65];
	const char *ca = ca_pem;

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 7 + (i >> 12));
	assert_int_equal(to_sink(false, NULL, false, "/m", body, len, &rs, sha), 0);
	check_sink_reply(&rs, len, sha, "false");
	assert_int_equal(to_sink(false, NULL, false, "/s", NULL, 30 * MIB + 3, &rs, sha), 0);
	check_sink_reply(&rs, 30 * MIB + 3, sha, "true");
	assert_int_equal(to_sink(true, ca, false, "/m", body, len, &rs, sha), 0);
	check_sink_reply(&rs, len, sha, "false");
	assert_int_equal(to_sink(true, ca, false, "/s", NULL, 30 * MIB + 3, &rs, sha), 0);
	check_sink_reply(&rs, 30 * MIB + 3, sha, "true");
	assert_int_equal(to_sink(true, NULL, true, "/k", body, 1000, &rs, sha), 0);
	check_sink_reply(&rs, 1000, sha, "false");
	http_response_release(&rs);
	free(body);
}

static void tls_refusals(void **state)
{
	struct http_response rs = {0};
	char other[128], none[128];

	(void)state;
	snprintf(other, sizeof other, "%s/other-ca.pem", dir);
	snprintf(none, sizeof none, "%s/none.pem", dir);
	assert_int_equal(to_sink(true, NULL, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_TLS);
	assert_string_equal(rs.detail,
	                    "SSL certificate problem: unable to get local issuer certificate");
	assert_int_equal(to_sink(true, other, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_TLS);
	assert_non_null(strstr(rs.detail, "SSL certificate problem"));
	assert_int_equal(to_sink(true, none, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_TLS);
	assert_non_null(strstr(rs.detail, none));
	/* Plain HTTP to the TLS port: not a reply. */
	{
		struct http_conn *c = http_conn_new();
		struct http_url u;
		char url[64];
		struct http_request rq = {.method = "GET",
		                          .url = &u,
		                          .connect_timeout_ms = 5000,
		                          .stall_timeout_ms = 5000,
		                          .reply_max = 100};

		snprintf(url, sizeof url, "http://127.0.0.1:%d/", tls_port);
		http_url_parse(url, &u, NULL, 0);
		assert_int_equal(http_exchange(c, &rq, &rs), -1);
		assert_true(rs.fail == HTTP_FAIL_PROTOCOL || rs.fail == HTTP_FAIL_RECV);
		http_url_release(&u);
		http_conn_free(c);
	}
	http_response_release(&rs);
}

/* The server answers before the body is all sent (and closes, after a
 * while): its answer is what comes back, and the sending stops. */
static void early_reply_wins(void **state)
{
	size_t len = 256 * MIB;
	unsigned char *body = calloc(1, len);
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct seen seen = {0};

	(void)state;
	assert_non_null(body);
	echo(c, "PUT", "/early", body, len, &rs, &seen);
	assert_int_equal(rs.status, 413);
	assert_int_equal(rs.fail, HTTP_OK);
	assert_true(rs.early_reply);
	assert_string_equal(rs.body, "too big\r\n");
	assert_true(rs.sent < len);
	http_response_release(&rs);
	http_conn_free(c);
	free(body);
}

/* Resets while sending, plain and TLS: a failure, never a SIGPIPE (which
 * would kill this program: its action is the default). */
static void reset_raises_no_sigpipe(void **state)
{
	size_t len = 64 * MIB;
	unsigned char *body = calloc(1, len);
	struct http_response rs = {0};

	(void)state;
	assert_non_null(body);
	assert_ptr_equal(signal(SIGPIPE, SIG_DFL), SIG_DFL);
	for (int i = 0; i < 2; i++) {
		const char *path = i ? "/drop?after=65536&rst=1" : "/drop?after=65536";

		assert_int_equal(to_sink(false, NULL, false, path, body, len, &rs, NULL), -1);
		assert_true(rs.fail == HTTP_FAIL_SEND || rs.fail == HTTP_FAIL_RECV);
		assert_true(rs.sent < len);
		assert_int_equal(to_sink(true, ca_pem, false, path, NULL, len, &rs, NULL), -1);
		assert_true(rs.fail == HTTP_FAIL_SEND || rs.fail == HTTP_FAIL_RECV);
	}
	http_response_release(&rs);
	free(body);
}

static bool stop_after(void *arg)
{
	return http_now_ns() >= *(int64_t *)arg;
}

/* A server that never answers: the stop callback ends the wait within 100 ms
 * of turning true; without it, the stall clock does. */
static void stop_and_stall(void **state)
{
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct http_url u;
	char url[64];
	int64_t when, t0;
	struct http_request rq = {.method = "GET",
	                          .url = &u,
	                          .connect_timeout_ms = 5000,
	                          .stall_timeout_ms = 20000,
	                          .reply_max = 100,
	                          .stop = stop_after,
	                          .stop_arg = &when};

	(void)state;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/hang", echo_port);
	http_url_parse(url, &u, NULL, 0);
	t0 = http_now_ns();
	when = t0 + 300000000;
	assert_int_equal(http_exchange(c, &rq, &rs), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_STOPPED);
	assert_true(http_now_ns() - when < 150000000);
	rq.stop = NULL;
	rq.stall_timeout_ms = 400;
	t0 = http_now_ns();
	assert_int_equal(http_exchange(c, &rq, &rs), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_STALL);
	assert_true(http_now_ns() - t0 >= 400000000 && http_now_ns() - t0 < 900000000);
	http_url_release(&u);
	http_response_release(&rs);
	http_conn_free(c);
}

static void connect_failures(void **state)
{
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct http_url u;
	char url[64];
	struct http_request rq = {.method = "GET",
	                          .url = &u,
	                          .connect_timeout_ms = 2000,
	                          .stall_timeout_ms = 2000,
	                          .reply_max = 100};

	(void)state;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", dead_port());
	http_url_parse(url, &u, NULL, 0);
	assert_int_equal(http_exchange(c, &rq, &rs), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_CONNECT);
	assert_int_equal(rs.os_err, ECONNREFUSED);
	http_url_release(&u);
	http_url_parse("http://no-such-host.invalid/", &u, NULL, 0);
	assert_int_equal(http_exchange(c, &rq, &rs), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_RESOLVE);
	http_url_release(&u);
	http_response_release(&rs);
	http_conn_free(c);
}

/* ---- What the review found ---- */

/* A caller's Host or User-Agent replaces the client's: one of each goes out. */
static void caller_host_and_user_agent(void **state)
{
	const char *const headers[] = {"host: example.test:8080", "User-Agent: probe/1"};
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct http_request rq = {.headers = headers, .nheaders = 2, .reply_max = 4096};
	char v[64], want[64];

	(void)state;
	assert_int_equal(on_echo(c, false, "/headers", &rq, &rs), 0);
	assert_json_field(rs.body, "hosts", "1");
	assert_json_field(rs.body, "host", "example.test:8080");
	assert_json_field(rs.body, "uas", "1");
	assert_json_field(rs.body, "ua", "probe/1");
	rq.nheaders = 0;
	assert_int_equal(on_echo(c, false, "/headers", &rq, &rs), 0);
	assert_json_field(rs.body, "hosts", "1");
	json_field(rs.body, "host", v, sizeof v);
	snprintf(want, sizeof want, "127.0.0.1:%d", echo_port);
	assert_string_equal(v, want);
	json_field(rs.body, "ua", v, sizeof v);
	assert_memory_equal(v, "plumb/", 6);
	http_response_release(&rs);
	http_conn_free(c);
}

/* reply_max beyond HTTP_REPLY_CAP (SIZE_MAX, whose + 1 wraps to 0) counts
 * as the cap, and the buffer grows with the reply instead of being the cap
 * from the start. */
static void huge_reply_max(void **state)
{
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct http_request rq = {.reply_max = SIZE_MAX};

	(void)state;
	assert_int_equal(on_echo(c, false, "/big", &rq, &rs), 0);
	assert_int_equal(rs.body_len, 100000);
	assert_int_equal(rs.body_size, 100000);
	assert_int_equal(strlen(rs.body), 100000);
	rq.reply_max = HTTP_REPLY_CAP;
	assert_int_equal(on_echo(c, false, "/x", &rq, &rs), 0);
	assert_true(reply_port(&rs) > 0);
	assert_true(malloc_usable_size(rs.body) < 64 * 1024);
	http_response_release(&rs);
	http_conn_free(c);
}

/* A 100 Continue that comes while the body goes out (the server sends it
 * before reading the body) is dropped and the sending goes on: the whole
 * body arrives and the final reply is what comes back, plain and TLS. */
static void interim_reply_while_sending(void **state)
{
	size_t len = 64 * MIB;
	unsigned char *body = calloc(1, len);
	char n[32];

	(void)state;
	assert_non_null(body);
	for (int tls = 0; tls < 2; tls++) {
		struct http_conn *c = http_conn_new();
		struct http_response rs = {0};
		struct http_request rq = {.method = "PUT",
		                          .body = body,
		                          .len = len,
		                          .connect_timeout_ms = 5000,
		                          .stall_timeout_ms = 10000,
		                          .reply_max = 4096};

		if (on_echo(c, tls, "/100first", &rq, &rs) < 0)
			fail_msg("tls %d: %d %s", tls, rs.fail, rs.detail);
		assert_int_equal(rs.status, 200);
		assert_false(rs.early_reply);
		assert_int_equal(rs.sent, len);
		json_field(rs.body, "bytes", n, sizeof n);
		assert_int_equal(strtoull(n, NULL, 10), len);
		http_response_release(&rs);
		http_conn_free(c);
	}
	free(body);
}

/* The server spoke on a kept connection while it was idle (a 408, then a
 * close): the next request goes on a new connection and gets its own
 * answer, plain and TLS.  A quiet kept connection is reused (TLS session
 * tickets do not count as the server speaking). */
static void stale_connection_is_not_reused(void **state)
{
	struct timespec ts = {0, 500000000};

	(void)state;
	for (int tls = 0; tls < 2; tls++) {
		struct http_conn *c = http_conn_new();
		struct http_response rs = {0};
		struct http_request rq = {
		        .connect_timeout_ms = 5000, .stall_timeout_ms = 5000, .reply_max = 4096};
		int port;

		assert_int_equal(on_echo(c, tls, "/x", &rq, &rs), 0);
		port = reply_port(&rs);
		assert_int_equal(on_echo(c, tls, "/stale408", &rq, &rs), 0);
		assert_int_equal(rs.status, 200);
		assert_int_equal(reply_port(&rs), port);
		nanosleep(&ts, NULL);
		assert_int_equal(on_echo(c, tls, "/x", &rq, &rs), 0);
		assert_int_equal(rs.status, 200);
		assert_true(reply_port(&rs) > 0 && reply_port(&rs) != port);
		http_response_release(&rs);
		http_conn_free(c);
	}
}

/* Timeouts <= 0 are the defaults, and huge ones are clamped, not
 * overflowed into the past. */
static void timeouts_out_of_range(void **state)
{
	const long values[] = {0, -5, LONG_MAX};
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};

	(void)state;
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		struct http_request rq = {.connect_timeout_ms = values[i],
		                          .stall_timeout_ms = values[i],
		                          .reply_max = 4096};

		/* "/close": every exchange connects anew */
		if (on_echo(c, i % 2, "/close", &rq, &rs) < 0)
			fail_msg("%ld ms: %d %s", values[i], rs.fail, rs.detail);
		assert_int_equal(rs.status, 200);
	}
	http_response_release(&rs);
	http_conn_free(c);
}

/* A TLS server that closes without close_notify: a body read to the close
 * ends there, and a Content-Length body cut short is reported as such, as
 * over plain HTTP (not as a reset). */
static void tls_close_without_notify(void **state)
{
	(void)state;
	for (int tls = 0; tls < 2; tls++) {
		struct http_conn *c = http_conn_new();
		struct http_response rs = {0};
		struct http_request rq = {
		        .connect_timeout_ms = 5000, .stall_timeout_ms = 5000, .reply_max = 4096};

		if (on_echo(c, tls, "/toclose", &rq, &rs) < 0)
			fail_msg("tls %d: %d %s", tls, rs.fail, rs.detail);
		assert_int_equal(rs.status, 200);
		assert_true(reply_port(&rs) > 0);
		assert_int_equal(rs.body_size, rs.body_len);
		assert_int_equal(on_echo(c, tls, "/cut", &rq, &rs), -1);
		assert_int_equal(rs.fail, HTTP_FAIL_RECV);
		assert_string_equal(rs.detail, "the server closed the connection in the middle "
		                               "of the reply's body");
		http_response_release(&rs);
		http_conn_free(c);
	}
}

/* Two different Content-Length values are refused.  Transfer-Encoding and
 * Content-Length together: the body is read chunked, and the connection is
 * not kept. */
static void conflicting_framing(void **state)
{
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct http_request rq = {
	        .connect_timeout_ms = 5000, .stall_timeout_ms = 5000, .reply_max = 4096};
	int port;

	(void)state;
	assert_int_equal(on_echo(c, false, "/twolen", &rq, &rs), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_PROTOCOL);
	assert_string_equal(rs.detail, "two different Content-Length values in the reply");
	assert_int_equal(on_echo(c, false, "/x", &rq, &rs), 0);
	port = reply_port(&rs);
	assert_int_equal(on_echo(c, false, "/te-and-len", &rq, &rs), 0);
	assert_int_equal(rs.status, 200);
	assert_int_equal(reply_port(&rs), port); /* the whole chunked body */
	assert_true(rs.body_len > 3);
	assert_int_equal(on_echo(c, false, "/x", &rq, &rs), 0);
	assert_true(reply_port(&rs) > 0 && reply_port(&rs) != port);
	http_response_release(&rs);
	http_conn_free(c);
}

/* glibc's malloc statistics do not see a sanitizer's allocator: the test
 * that measures with them is left out of sanitized builds. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define GLIBC_MALLOC 1
#endif

#ifdef GLIBC_MALLOC
/* One SSL_CTX per TLS settings for the whole process: more connections
 * trusting the system's CAs do not each load them (some 0.8 MiB each). */
static void tls_context_is_shared(void **state)
{
	struct http_conn *c[5];
	struct http_response rs = {0};
	struct http_url u;
	char url[64];
	struct http_request rq = {.method = "GET",
	                          .url = &u,
	                          .connect_timeout_ms = 5000,
	                          .stall_timeout_ms = 5000,
	                          .reply_max = 100};
	size_t before = 0;

	(void)state;
	snprintf(url, sizeof url, "https://127.0.0.1:%d/", tls_echo_port);
	assert_int_equal(http_url_parse(url, &u, NULL, 0), HTTP_URL_OK);
	for (int i = 0; i < 5; i++) {
		if (i == 1)
			before = mallinfo2().uordblks;
		c[i] = http_conn_new();
		/* the test CA is not the system's: the handshake fails, after
		 * the CAs were loaded */
		assert_int_equal(http_exchange(c[i], &rq, &rs), -1);
		assert_int_equal(rs.fail, HTTP_FAIL_TLS);
	}
	assert_true(mallinfo2().uordblks < before + 512 * 1024);
	for (int i = 0; i < 5; i++)
		http_conn_free(c[i]);
	http_url_release(&u);
	http_response_release(&rs);
}
#endif

/* 127.1 is 127.0.0.1, as getaddrinfo reads it, and is checked against the
 * certificate's IP address (not sent as a host name); a name is looked up
 * (in the lookup's own thread). */
static void address_forms(void **state)
{
	const char *const hosts[] = {"https://127.1", "https://localhost"};
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct http_url u;
	char url[64];
	struct http_request rq = {.method = "GET",
	                          .url = &u,
	                          .connect_timeout_ms = 5000,
	                          .stall_timeout_ms = 5000,
	                          .ca_file = ca_pem,
	                          .reply_max = 100};

	(void)state;
	for (int i = 0; i < 2; i++) {
		snprintf(url, sizeof url, "%s:%d/", hosts[i], tls_echo_port);
		assert_int_equal(http_url_parse(url, &u, NULL, 0), HTTP_URL_OK);
		rq.insecure = false;
		if (http_exchange(c, &rq, &rs) < 0)
			fail_msg("%s: %d %s", url, rs.fail, rs.detail);
		assert_int_equal(rs.status, 200);
		http_url_release(&u);
	}
	http_response_release(&rs);
	http_conn_free(c);
}

/* ---- Proxies ---- */

/* The proxy log's lines so far (each a JSON object), into out (a malloc'd
 * text, "" when none) unless it is NULL; the count. */
static int proxy_log(char **out)
{
	FILE *f = fopen(px_log, "r");
	char line[1024];
	plumb_buffer b;
	int n = 0;

	plumb_buffer_init(&b);
	while (f && fgets(line, sizeof line, f)) {
		assert_int_equal(plumb_buffer_append(&b, line, strlen(line)), 0);
		n++;
	}
	if (f)
		fclose(f);
	assert_int_equal(plumb_buffer_append(&b, "", 1), 0);
	if (out) {
		*out = strdup((const char *)plumb_buffer_bytes(&b));
		assert_non_null(*out);
	}
	plumb_buffer_release(&b);
	return n;
}

/* http_proxy_for on url with the variables as they are: its result, and
 * the proxy's peer and auth (or the error) into out. */
static int proxy_of(const char *url, char *out, size_t len)
{
	struct http_url u;
	struct http_proxy p;
	char err[256];
	int rc;

	assert_int_equal(http_url_parse(url, &u, NULL, 0), HTTP_URL_OK);
	rc = http_proxy_for(&u, &p, err, sizeof err);
	if (rc < 0)
		snprintf(out, len, "%s", err);
	else if (rc == 0)
		snprintf(out, len, "direct");
	else
		snprintf(out, len, "%.64s %.15s %.64s", p.at.peer, p.from,
		         p.auth[0] ? p.auth : "-");
	http_url_release(&u);
	return rc;
}

static bool exempt(const char *list, const char *url)
{
	struct http_url u;
	bool r;

	assert_int_equal(http_url_parse(url, &u, NULL, 0), HTTP_URL_OK);
	r = http_no_proxy_match(list, &u);
	http_url_release(&u);
	return r;
}

static void proxy_variables(void **state)
{
	char got[300];

	(void)state;
	clear_proxy_env();
	assert_int_equal(proxy_of("http://example.com/", got, sizeof got), 0);
	/* HTTP_PROXY is ignored (httpoxy); http_proxy is read for http:// only */
	setenv("HTTP_PROXY", "http://10.0.0.1:3128", 1);
	assert_int_equal(proxy_of("http://example.com/", got, sizeof got), 0);
	setenv("http_proxy", "http://10.0.0.2:3128/", 1);
	assert_int_equal(proxy_of("http://example.com/", got, sizeof got), 1);
	assert_string_equal(got, "10.0.0.2:3128 http_proxy -");
	assert_int_equal(proxy_of("https://example.com/", got, sizeof got), 0);
	/* HTTPS_PROXY when https_proxy is not set; the port defaults to 1080 */
	setenv("HTTPS_PROXY", "proxy.example", 1);
	assert_int_equal(proxy_of("https://example.com/", got, sizeof got), 1);
	assert_string_equal(got, "proxy.example:1080 HTTPS_PROXY -");
	setenv("https_proxy", "HTTP://u%40x:p%3Aw@[::1]:8080", 1);
	assert_int_equal(proxy_of("https://example.com/", got, sizeof got), 1);
	assert_string_equal(got, "[::1]:8080 https_proxy Basic dUB4OnA6dw=="); /* u@x:p:w */
	setenv("https_proxy", "", 1);                                          /* empty: no proxy */
	assert_int_equal(proxy_of("https://example.com/", got, sizeof got), 0);
	/* refused, with the variable named and no secret shown */
	setenv("https_proxy", "https://user:secret@proxy:443", 1);
	assert_int_equal(proxy_of("https://example.com/", got, sizeof got), -1);
	assert_non_null(strstr(got, "https_proxy is an https:// one"));
	assert_null(strstr(got, "secret"));
	setenv("https_proxy", "socks5://proxy:1080", 1);
	assert_int_equal(proxy_of("https://example.com/", got, sizeof got), -1);
	assert_non_null(strstr(got, "the scheme 'socks5'"));
	setenv("https_proxy", "http://proxy:99999", 1);
	assert_int_equal(proxy_of("https://example.com/", got, sizeof got), -1);
	setenv("https_proxy", "http://u:%zz@proxy", 1);
	assert_int_equal(proxy_of("https://example.com/", got, sizeof got), -1);
	/* no_proxy, then NO_PROXY */
	setenv("https_proxy", "proxy:3128", 1);
	setenv("NO_PROXY", "example.com", 1);
	assert_int_equal(proxy_of("https://a.example.com/", got, sizeof got), 0);
	setenv("no_proxy", "other.org", 1);
	assert_int_equal(proxy_of("https://a.example.com/", got, sizeof got), 1);
	assert_int_equal(proxy_of("https://other.org/", got, sizeof got), 0);
	clear_proxy_env();
}

static void no_proxy_entries(void **state)
{
	(void)state;
	assert_true(exempt("*", "http://anything.example/"));
	assert_true(exempt(" * ", "https://10.1.2.3/"));
	/* names: itself and its subdomains, a leading dot or not, any case */
	assert_true(exempt("example.com", "http://example.com/"));
	assert_true(exempt("example.com", "http://a.b.EXAMPLE.com/"));
	assert_true(exempt(".example.com", "http://example.com/"));
	assert_true(exempt(".Example.COM", "http://x.example.com/"));
	assert_false(exempt("example.com", "http://badexample.com/"));
	assert_false(exempt("a.example.com", "http://example.com/"));
	assert_true(exempt("foo, \t bar.org ,baz", "http://x.bar.org/"));
	assert_false(exempt("foo,,bar.org", "http://bar.org.evil/"));
	assert_false(exempt("", "http://example.com/"));
	/* a port restricts the entry */
	assert_true(exempt("example.com:8080", "http://example.com:8080/"));
	assert_false(exempt("example.com:8080", "http://example.com/"));
	assert_true(exempt("example.com:443", "https://example.com/"));
	/* addresses and ranges, of the URL's address only */
	assert_true(exempt("127.0.0.1", "http://127.0.0.1:9000/"));
	assert_false(exempt("127.0.0.1", "http://127.0.0.2/"));
	assert_false(exempt("127.0.0.1", "http://localhost/"));
	assert_false(exempt("localhost", "http://127.0.0.1/"));
	assert_true(exempt("localhost", "http://localhost:5000/"));
	assert_true(exempt("10.0.0.0/8", "http://10.200.3.4/"));
	assert_false(exempt("10.0.0.0/8", "http://11.0.0.1/"));
	assert_true(exempt("192.168.1.0/23", "http://192.168.0.77/"));
	assert_false(exempt("192.168.2.0/23", "http://192.168.1.77/"));
	assert_true(exempt("127.0.0.1:80", "http://127.0.0.1/"));
	assert_true(exempt("::1", "http://[::1]:8080/"));
	assert_true(exempt("[::1]:8080", "http://[::1]:8080/"));
	assert_false(exempt("[::1]:8081", "http://[::1]:8080/"));
	assert_true(exempt("fd00::/8", "http://[fd12::1]/"));
	assert_false(exempt("fd00::/8", "http://10.0.0.1/"));
	assert_false(exempt("10.0.0.0/33", "http://10.0.0.1/"));
}

/* Two exchanges on one handle to url through the proxy set in the
 * environment; both must come back 200 from the sink with body's hash. */
static void twice_via(const char *url, const char *ca)
{
	static const char body[] = "through the proxy, twice";
	struct http_conn *c = http_conn_new();
	struct http_response rs = {0};
	struct http_url u;
	struct http_request rq = {
	        .method = "PUT",
	        .url = &u,
	        .body = body,
	        .len = sizeof body - 1,
	        .connect_timeout_ms = 5000,
	        .stall_timeout_ms = 10000,
	        .ca_file = ca,
	        .reply_max = 8192,
	};
	char want[65];
	unsigned char d[32];

	SHA256((const unsigned char *)body, sizeof body - 1, d);
	hex(d, want);
	assert_int_equal(http_url_parse(url, &u, NULL, 0), HTTP_URL_OK);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(http_exchange(c, &rq, &rs), 0);
		assert_int_equal(rs.status, 200);
		assert_non_null(strstr(rs.via, "proxy 127.0.0.1:"));
		assert_json_field(rs.body, "sha256", want);
	}
	http_response_release(&rs);
	http_url_release(&u);
	http_conn_free(c);
}

static void plain_through_proxy(void **state)
{
	size_t len = 3 * MIB + 5;
	unsigned char *body = malloc(len);
	struct http_response rs = {0};
	char env[64], sha[65], want[160], url[128], *log;

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 13 + (i >> 10));
	clear_proxy_env();
	int before = proxy_log(NULL);
	snprintf(env, sizeof env, "http://127.0.0.1:%d", px_port);
	setenv("http_proxy", env, 1);
	/* a body in memory, then a chunked stream: through, byte for byte */
	assert_int_equal(to_sink(false, NULL, false, "/m?q=1", body, len, &rs, sha), 0);
	check_sink_reply(&rs, len, sha, "false");
	assert_non_null(strstr(rs.via, "(from http_proxy)"));
	assert_int_equal(to_sink(false, NULL, false, "/s", NULL, 5 * MIB + 1, &rs, sha), 0);
	check_sink_reply(&rs, 5 * MIB + 1, sha, "true");
	/* the proxy saw the absolute form, the query included */
	assert_int_equal(proxy_log(&log), before + 2);
	snprintf(want, sizeof want, "\"target\": \"http://127.0.0.1:%d/m?q=1\"", sink_port);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof want, "\"target\": \"http://127.0.0.1:%d/s\"", sink_port);
	assert_non_null(strstr(log, want));
	free(log);
	/* and the sink got the Host of the URL, not of the proxy */
	snprintf(want, sizeof want, "\"host\": \"127.0.0.1:%d\"", sink_port);
	assert_non_null(strstr(rs.body, want));
	/* keep-alive: the second exchange reuses the connection to the proxy */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ka", sink_port);
	twice_via(url, NULL);
	assert_int_equal(proxy_log(&log), before + 4);
	{
		char *last = strrchr(log, '{'), *prev, a[16], b[16];

		*(last - 1) = '\0';
		prev = strrchr(log, '{');
		json_field(last, "conn", a, sizeof a);
		json_field(prev, "conn", b, sizeof b);
		assert_true(a[0] != '\0');
		assert_string_equal(a, b);
	}
	free(log);
	/* no_proxy: straight to the sink, the proxy sees nothing */
	setenv("no_proxy", "localhost, 127.0.0.0/8", 1);
	before = proxy_log(NULL);
	assert_int_equal(to_sink(false, NULL, false, "/direct", body, 1000, &rs, sha), 0);
	check_sink_reply(&rs, 1000, sha, "false");
	assert_string_equal(rs.via, "");
	assert_int_equal(proxy_log(NULL), before);
	clear_proxy_env();
	http_response_release(&rs);
	free(body);
}

static void https_through_connect(void **state)
{
	size_t len = 2 * MIB + 9;
	unsigned char *body = malloc(len);
	struct http_response rs = {0};
	char env[64], sha[65], want[160], url[128], *log;
	int before;

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 5 + (i >> 9));
	clear_proxy_env();
	before = proxy_log(NULL);
	snprintf(env, sizeof env, "127.0.0.1:%d", px_port); /* no scheme, as curl takes */
	setenv("https_proxy", env, 1);
	/* the certificate is checked against the target through the tunnel */
	assert_int_equal(to_sink(true, ca_pem, false, "/m", body, len, &rs, sha), 0);
	check_sink_reply(&rs, len, sha, "false");
	assert_int_equal(to_sink(true, ca_pem, false, "/s", NULL, 4 * MIB + 3, &rs, sha), 0);
	check_sink_reply(&rs, 4 * MIB + 3, sha, "true");
	assert_int_equal(proxy_log(&log), before + 2);
	snprintf(want, sizeof want,
	         "{\"method\": \"CONNECT\", \"target\": \"127.0.0.1:%d\", \"auth\": false, "
	         "\"status\": 200",
	         tls_port);
	assert_non_null(strstr(log, want));
	free(log);
	/* the system's CAs do not know the test's: refused, as without a proxy */
	assert_int_equal(to_sink(true, NULL, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_TLS);
	assert_string_equal(rs.detail,
	                    "SSL certificate problem: unable to get local issuer certificate");
	/* keep-alive through the tunnel */
	snprintf(url, sizeof url, "https://127.0.0.1:%d/ka", tls_port);
	before = proxy_log(NULL);
	twice_via(url, ca_pem);
	assert_int_equal(proxy_log(NULL), before + 1); /* one CONNECT for both */
	/* http:// URLs do not take https_proxy */
	assert_int_equal(to_sink(false, NULL, false, "/plain", body, 10, &rs, sha), 0);
	assert_string_equal(rs.via, "");
	/* no_proxy with the port */
	snprintf(env, sizeof env, "127.0.0.1:%d", tls_port);
	setenv("no_proxy", env, 1);
	before = proxy_log(NULL);
	assert_int_equal(to_sink(true, ca_pem, false, "/direct", body, 10, &rs, sha), 0);
	check_sink_reply(&rs, 10, sha, "false");
	assert_int_equal(proxy_log(NULL), before);
	clear_proxy_env();
	http_response_release(&rs);
	free(body);
}

static void proxy_refusals(void **state)
{
	struct http_response rs = {0};
	char env[128], want[200], sha[65];
	int dead = dead_port();

	(void)state;
	clear_proxy_env();
	/* the proxy is down: said to be the proxy, with the variable */
	snprintf(env, sizeof env, "http://127.0.0.1:%d", dead);
	setenv("http_proxy", env, 1);
	assert_int_equal(to_sink(false, NULL, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_PROXY);
	assert_int_equal(rs.os_err, ECONNREFUSED);
	snprintf(want, sizeof want,
	         "cannot connect to the proxy 127.0.0.1:%d (from http_proxy): Connection refused",
	         dead);
	assert_string_equal(rs.detail, want);
	setenv("https_proxy", env, 1);
	assert_int_equal(to_sink(true, ca_pem, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_PROXY);
	assert_non_null(strstr(rs.detail, "(from https_proxy): Connection refused"));
	/* credentials wanted: CONNECT refused with 407 */
	snprintf(env, sizeof env, "http://127.0.0.1:%d", apx_port);
	setenv("https_proxy", env, 1);
	assert_int_equal(to_sink(true, ca_pem, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_PROXY);
	assert_int_equal(rs.proxy_status, 407);
	snprintf(want, sizeof want,
	         "proxy 127.0.0.1:%d (from https_proxy) refused CONNECT 127.0.0.1:%d: HTTP/1.1 "
	         "407 Proxy Authentication Required (it wants credentials",
	         apx_port, tls_port);
	assert_non_null(strstr(rs.detail, want));
	/* wrong ones */
	snprintf(env, sizeof env, "http://u%%40x:nope@127.0.0.1:%d", apx_port);
	setenv("https_proxy", env, 1);
	assert_int_equal(to_sink(true, ca_pem, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.proxy_status, 407);
	assert_non_null(strstr(rs.detail, "did not take the credentials"));
	assert_null(strstr(rs.detail, "nope"));
	/* the right ones (percent-decoded: u@x and p:w) */
	snprintf(env, sizeof env, "http://u%%40x:p%%3Aw@127.0.0.1:%d", apx_port);
	setenv("https_proxy", env, 1);
	assert_int_equal(to_sink(true, ca_pem, false, "/ok", "abc", 3, &rs, sha), 0);
	check_sink_reply(&rs, 3, sha, "false");
	/* plain http: the proxy's 407 is the reply, marked as through it */
	snprintf(env, sizeof env, "http://127.0.0.1:%d", apx_port);
	setenv("http_proxy", env, 1);
	assert_int_equal(to_sink(false, NULL, false, "/x", "abc", 3, &rs, NULL), 0);
	assert_int_equal(rs.status, 407);
	assert_non_null(strstr(rs.via, "(from http_proxy)"));
	snprintf(env, sizeof env, "http://u%%40x:p%%3Aw@127.0.0.1:%d", apx_port);
	setenv("http_proxy", env, 1);
	assert_int_equal(to_sink(false, NULL, false, "/ok", "abc", 3, &rs, sha), 0);
	check_sink_reply(&rs, 3, sha, "false");
	/* a proxy variable plumb cannot use fails the exchange, says which */
	setenv("http_proxy", "https://127.0.0.1:1", 1);
	assert_int_equal(to_sink(false, NULL, false, "/x", "a", 1, &rs, NULL), -1);
	assert_int_equal(rs.fail, HTTP_FAIL_PROXY);
	assert_non_null(strstr(rs.detail, "http_proxy is an https:// one"));
	clear_proxy_env();
	http_response_release(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(url_good),
	        cmocka_unit_test(url_bad),
	        cmocka_unit_test(keep_alive_and_framing),
	        cmocka_unit_test(dead_idle_connection_is_replaced),
	        cmocka_unit_test(bodies_plain_and_tls),
	        cmocka_unit_test(tls_refusals),
	        cmocka_unit_test(early_reply_wins),
	        cmocka_unit_test(reset_raises_no_sigpipe),
	        cmocka_unit_test(stop_and_stall),
	        cmocka_unit_test(connect_failures),
	        cmocka_unit_test(caller_host_and_user_agent),
	        cmocka_unit_test(huge_reply_max),
	        cmocka_unit_test(interim_reply_while_sending),
	        cmocka_unit_test(stale_connection_is_not_reused),
	        cmocka_unit_test(timeouts_out_of_range),
	        cmocka_unit_test(tls_close_without_notify),
	        cmocka_unit_test(conflicting_framing),
#ifdef GLIBC_MALLOC
	        cmocka_unit_test(tls_context_is_shared),
#endif
	        cmocka_unit_test(address_forms),
	        cmocka_unit_test(proxy_variables),
	        cmocka_unit_test(no_proxy_entries),
	        cmocka_unit_test(plain_through_proxy),
	        cmocka_unit_test(https_through_connect),
	        cmocka_unit_test(proxy_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
