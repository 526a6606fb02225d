/*
 * test_s3.c - unit tests of the S3 upload client (plumb/s3.h).
 *
 * Three kinds of tests:
 *  - no server: s3:// URL parsing, the part-size schedule, the object URLs,
 *    credentials and region from the environment and INI files (checked
 *    against botocore reading the same files), option checks that must fail
 *    before any request;
 *  - the signatures: a small fake S3 (python, started here on 127.0.0.1)
 *    records every request a multipart upload, a PutObject, an upload that
 *    gets aborted and a HEAD make, and botocore's S3SigV4Auth recomputes
 *    each Authorization header from the recorded method, path, query,
 *    headers and date, and checks the payload hash, the canonical encoding of
 *    path and query and the session token;
 *  - a real S3: Ceph's radosgw from tests/services/s3.sh (started here
 *    unless PLUMB_TEST_S3_ENDPOINT says one runs), reached directly or
 *    through tests/services/faultproxy.py, which fails, drops or stalls
 *    chosen requests.  Objects are read back with s3check.py and compared by
 *    SHA-256 and ETag; leftovers are looked for with ListMultipartUploads.
 * When the S3 server cannot be started, the tests that need it are skipped
 * with the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <plumb/hash.h>
#include <plumb/http.h>
#include <plumb/io.h>
#include <plumb/s3.h>

#include "net-helpers.h"
#include "s3/s3-internal.h"

#define MIB ((size_t)1 << 20)

static const char *services;
static char s3dir[64];    /* the cluster we started, or "" */
static bool s3_ok;        /* a server answers */
static char why_not[512]; /* why not */
static const char *bucket;
static char prefix[80]; /* keys of this run start with it */
static pid_t proxy_pid;
static int proxy_port;
static char proxy_url[64];

/* ---- Processes ---- */

/* Runs cmd with sh; its stdout into out (len bytes, NUL-terminated).
 * Returns its exit status. */
static int run(const char *cmd, char *out, size_t len)
{
	FILE *f = popen(cmd, "r");
	size_t got = 0, n;
	char sink[4096];
	int st;

	if (!f)
		return -1;
	if (out && len)
		out[0] = '\0';
	while ((n = fread(out && got < len - 1 ? out + got : sink, 1,
	                  out && got < len - 1 ? len - 1 - got : sizeof sink, f)) > 0)
		if (out && got < len - 1)
			got += n;
	if (out && len)
		out[got] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void stop_process(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/* The python that has botocore: python3, or Debian's. */
static const char *botocore_python(void)
{
	static const char *py;

	if (!py)
		py = run("python3 -c 'import botocore' 2>/dev/null", NULL, 0) == 0
		             ? "python3"
		             : "/usr/bin/python3";
	return py;
}

/* ---- The S3 server ---- */

/* Sets the variables of s3.sh's `export K=V` lines. */
static void export_lines(char *out)
{
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *eq;

		if (strncmp(line, "export ", 7) != 0 || !(eq = strchr(line + 7, '=')))
			continue;
		*eq = '\0';
		setenv(line + 7, eq + 1, 1);
	}
}

static void start_s3(void)
{
	char cmd[1024], out[4096];

	if (getenv("PLUMB_TEST_S3_ENDPOINT")) {
		s3_ok = true;
		return;
	}
	snprintf(s3dir, sizeof s3dir, "/tmp/plumb-s3-XXXXXX");
	if (!mkdtemp(s3dir)) {
		snprintf(why_not, sizeof why_not, "cannot make a directory for the S3 server");
		s3dir[0] = '\0';
		return;
	}
	snprintf(cmd, sizeof cmd, "'%s/s3.sh' start %s 2>%s/start.err", services, s3dir, s3dir);
	if (run(cmd, out, sizeof out) != 0) {
		snprintf(cmd, sizeof cmd, "tail -n 1 %s/start.err", s3dir);
		run(cmd, why_not, sizeof why_not);
		why_not[strcspn(why_not, "\n")] = '\0';
		return;
	}
	export_lines(out);
	s3_ok = getenv("PLUMB_TEST_S3_ENDPOINT") != NULL;
	if (!s3_ok)
		snprintf(why_not, sizeof why_not, "s3.sh printed no endpoint");
}

static void start_proxy(void)
{
	char path[4096];
	char *argv[] = {"python3", path, "--upstream", getenv("PLUMB_TEST_S3_ENDPOINT"), NULL};

	snprintf(path, sizeof path, "%s/faultproxy.py", services);
	proxy_pid = spawn_port(argv, &proxy_port);
	if (proxy_pid < 0) {
		s3_ok = false;
		snprintf(why_not, sizeof why_not, "faultproxy.py did not start");
		return;
	}
	snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy_port);
}

static int group_setup(void **state)
{
	(void)state;
	services = getenv("PLUMB_SERVICES");
	if (!services) {
		fprintf(stderr, "PLUMB_SERVICES is not set\n");
		return -1;
	}
	snprintf(prefix, sizeof prefix, "test-s3-%ld-%d/", (long)time(NULL), (int)getpid());
	snprintf(why_not, sizeof why_not, "no S3 server");
	start_s3();
	bucket = getenv("PLUMB_TEST_S3_BUCKET") ? getenv("PLUMB_TEST_S3_BUCKET") : "plumb-test";
	if (s3_ok)
		start_proxy();
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[1024];

	(void)state;
	stop_process(proxy_pid);
	if (s3_ok) {
		/* What a failed test may have left under this run's prefix. */
		snprintf(cmd, sizeof cmd,
		         "'%s/s3check.py' ls %s '%s' 2>/dev/null | %s -c 'import json, subprocess, "
		         "sys\nfor o in json.load(sys.stdin):\n    subprocess.run([sys.argv[1], "
		         "\"rm\", sys.argv[2], o[\"key\"]])' '%s/s3check.py' %s",
		         services, bucket, prefix, "python3", services, bucket);
		run(cmd, NULL, 0);
	}
	if (s3dir[0]) {
		snprintf(cmd, sizeof cmd, "'%s/s3.sh' stop %s >/dev/null 2>&1; rm -rf %s", services,
		         s3dir, s3dir);
		run(cmd, NULL, 0);
	}
	return 0;
}

#define NEED_S3()                                                                                  \
	do {                                                                                       \
		if (!s3_ok) {                                                                      \
			print_message("# SKIP no S3 server: %s\n", why_not);                       \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* ---- Talking to the helpers ---- */

/* s3check.py ARGS; its stdout into out.  Returns its exit status. */
static int s3check(char *out, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int s3check(char *out, size_t len, const char *fmt, ...)
{
	char args[1024], cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "'%s/s3check.py' %s", services, args);
	return run(cmd, out, len);
}

/* No multipart upload of key is left in the bucket. */
static void assert_no_uploads(const char *key)
{
	char out[65536], want[1200];

	assert_int_equal(s3check(out, sizeof out, "uploads %s", bucket), 0);
	snprintf(want, sizeof want, "\"key\": \"%s\"", key);
	if (strstr(out, want))
		fail_msg("an upload of %s is left: %s", key, out);
}

/* No object key exists. */
static void assert_no_object(const char *key)
{
	char out[4096];

	assert_int_equal(s3check(out, sizeof out, "head %s '%s' 2>/dev/null", bucket, key), 2);
}

/* A request to the fault proxy's control endpoints: method path [body]. */
static void proxy_control(const char *method, const char *path, const char *body, char *out,
                          size_t len)
{
	plumb_http_options o;
	plumb_http_result res;
	plumb_reader *r = plumb_string_reader_new(body ? body : "");
	char url[128];

	plumb_http_options_init(&o);
	snprintf(url, sizeof url, "%s%s", proxy_url, path);
	o.url = url;
	o.method = method;
	o.content_type = "application/json";
	if (plumb_http_send(&o, r, &res) != 0)
		fail_msg("fault proxy %s %s: %s", method, path, res.message);
	if (out)
		snprintf(out, len, "%s", res.reply ? res.reply : "");
	plumb_http_result_release(&res);
	plumb_reader_free(r);
}

/* Installs rules (a JSON list) and clears the counters. */
static void proxy_faults(const char *rules)
{
	proxy_control("POST", "/__fault", rules ? rules : "[]", NULL, 0);
	proxy_control("DELETE", "/__stats", NULL, NULL, 0);
}

/* How many requests of kind the proxy saw, and faulted. */
static void proxy_seen(const char *kind, int *seen, int *faulted)
{
	char out[65536], key[80], *p;

	proxy_control("GET", "/__stats", NULL, out, sizeof out);
	*seen = *faulted = 0;
	snprintf(key, sizeof key, "\"%s\": {", kind);
	p = strstr(out, key);
	if (!p)
		return;
	p[strcspn(p, "}")] = '\0'; /* the kind's object, up to its status map */
	if (strstr(p, "\"seen\": "))
		*seen = atoi(strstr(p, "\"seen\": ") + 8);
	if (strstr(p, "\"faulted\": "))
		*faulted = atoi(strstr(p, "\"faulted\": ") + 11);
}

/* ---- A generated source ---- */

static unsigned char byte_at(uint64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

/* size generated bytes, hashed as they go out; can fail or cancel on the
 * way, and watches how far it runs ahead of what the server acknowledged. */
struct gen {
	plumb_reader reader;
	uint64_t size, pos;
	size_t chunk;
	uint64_t fail_at;
	int fail_err;
	uint64_t cancel_at;
	_Atomic int *cancel;
	_Atomic uint64_t *acked;
	uint64_t max_ahead;
	plumb_hash *sha;
};

static ssize_t gen_read(plumb_reader *r, void *buf, size_t len)
{
	struct gen *g = PLUMB_CONTAINER_OF(r, struct gen, reader);
	unsigned char *p = buf;

	if (g->pos >= g->fail_at)
		return g->fail_err;
	if (g->cancel && g->pos >= g->cancel_at)
		atomic_store(g->cancel, 1);
	if (len > g->chunk)
		len = g->chunk;
	if (len > g->size - g->pos)
		len = (size_t)(g->size - g->pos);
	if (len > g->fail_at - g->pos)
		len = (size_t)(g->fail_at - g->pos);
	for (size_t i = 0; i < len; i++)
		p[i] = byte_at(g->pos + i);
	g->pos += len;
	if (g->acked && g->pos - atomic_load(g->acked) > g->max_ahead)
		g->max_ahead = g->pos - atomic_load(g->acked);
	plumb_hash_update(g->sha, buf, len);
	return (ssize_t)len;
}

static const plumb_reader_ops gen_ops = {.read = gen_read};

static void gen_init(struct gen *g, uint64_t size)
{
	memset(g, 0, sizeof *g);
	g->reader.ops = &gen_ops;
	g->size = size;
	g->chunk = 256 * 1024;
	g->fail_at = UINT64_MAX;
	assert_int_equal(plumb_hash_new(&g->sha, "sha256"), 0);
}

static void gen_done(struct gen *g, char *hex)
{
	if (hex)
		plumb_hash_hex(g->sha, hex, PLUMB_HASH_MAX_HEX);
	plumb_hash_free(g->sha);
	g->sha = NULL;
}

/* The ETag S3 gives size generated bytes sent in parts of part_size (parts
 * == 0: one PutObject), computed here from the bytes themselves. */
static void expected_etag(uint64_t size, size_t part_size, unsigned parts, char *out)
{
	plumb_hash *whole, *part;
	unsigned char md5[16], *buf = malloc(part_size ? part_size : 1);
	char hex[PLUMB_HASH_MAX_HEX];

	assert_non_null(buf);
	assert_int_equal(plumb_hash_new(&whole, "md5"), 0);
	assert_int_equal(plumb_hash_new(&part, "md5"), 0);
	for (uint64_t off = 0; off < size || (off == 0 && size == 0);) {
		size_t n = size - off < part_size ? (size_t)(size - off) : part_size;

		for (size_t i = 0; i < n; i++)
			buf[i] = byte_at(off + i);
		plumb_hash_reset(part);
		plumb_hash_update(part, buf, n);
		plumb_hash_sum(part, md5, sizeof md5);
		plumb_hash_update(whole, md5, sizeof md5);
		off += n;
		if (n == 0)
			break;
	}
	if (parts == 0) {
		plumb_hash_hex(part, out, PLUMB_HASH_MAX_HEX);
	} else {
		plumb_hash_hex(whole, hex, sizeof hex);
		sprintf(out, "%s-%u", hex, parts);
	}
	plumb_hash_free(whole);
	plumb_hash_free(part);
	free(buf);
}

/* ---- Uploading ---- */

static void options(plumb_s3_options *o, const char *key, bool through_proxy)
{
	plumb_s3_options_init(o);
	o->endpoint = through_proxy ? proxy_url : getenv("PLUMB_TEST_S3_ENDPOINT");
	o->bucket = bucket;
	o->key = key;
	o->backoff_base_ms = 20;
	o->backoff_cap_ms = 200;
}

static void key_for(char *key, size_t len, const char *name)
{
	snprintf(key, len, "%s%s", prefix, name);
}

/* Reads the object back and checks its size, SHA-256 and ETag; then deletes
 * it (radosgw's memory store is not large). */
static void assert_object(const char *key, uint64_t size, const char *sha, const char *etag)
{
	char out[4096], got[200], file[64];

	snprintf(file, sizeof file, "/tmp/plumb-s3-get-%d", (int)getpid());
	assert_int_equal(s3check(out, sizeof out, "get %s '%s' %s", bucket, key, file), 0);
	unlink(file);
	json_field(out, "bytes", got, sizeof got);
	assert_int_equal(strtoull(got, NULL, 10), size);
	assert_json_field(out, "sha256", sha);
	json_field(out, "etag", got, sizeof got); /* s3check.py drops the quotes */
	assert_string_equal(got, etag);
	assert_int_equal(s3check(NULL, 0, "rm %s '%s'", bucket, key), 0);
}

/* Uploads size generated bytes to key; checks the result and the object. */
static void upload_and_check(const char *name, uint64_t size, size_t part_size, int concurrency,
                             bool through_proxy, unsigned want_parts, plumb_s3_result *res)
{
	plumb_s3_options o;
	struct gen g;
	char key[256], sha[PLUMB_HASH_MAX_HEX], etag[128];
	_Atomic uint64_t acked = 0;

	key_for(key, sizeof key, name);
	options(&o, key, through_proxy);
	o.part_size = part_size;
	o.concurrency = concurrency;
	o.progress = &acked;
	o.content_type = "text/csv";
	gen_init(&g, size);
	g.acked = &acked;
	if (plumb_s3_upload(&o, &g.reader, NULL, res) != 0)
		fail_msg("upload: %s", res->message);
	gen_done(&g, sha);
	assert_string_equal(res->message, "");
	assert_int_equal(res->bytes, size);
	assert_int_equal(atomic_load(&acked), size);
	assert_int_equal(res->parts, want_parts);
	assert_int_equal(res->part_size, part_size);
	/* Back-pressure: never more read than the buffers hold. */
	assert_true(g.max_ahead <= (uint64_t)(concurrency + 1) * part_size);
	assert_true(res->buffers <= (size_t)concurrency + 1);
	assert_true(res->buffer_peak <= (size_t)(concurrency + 1) * part_size);
	expected_etag(size, part_size, want_parts, etag);
	assert_string_equal(res->etag, etag);
	assert_object(key, size, sha, etag);
	assert_no_uploads(key);
	if (want_parts)
		assert_non_null(res->upload_id);
	else
		assert_null(res->upload_id);
}

/* ================================================================ no server */

static void parse_url_good(void **state)
{
	char *b, *k, err[256];

	(void)state;
	assert_int_equal(plumb_s3_parse_url("s3://my-bucket/a/b.csv", &b, &k, err, sizeof err), 0);
	assert_string_equal(b, "my-bucket");
	assert_string_equal(k, "a/b.csv");
	free(b);
	free(k);
	assert_int_equal(plumb_s3_parse_url("S3://b.dotted_1/x?y#z w", &b, &k, err, sizeof err), 0);
	assert_string_equal(b, "b.dotted_1");
	assert_string_equal(k, "x?y#z w");
	free(b);
	free(k);
	assert_int_equal(plumb_s3_parse_url("s3://abc//lead", &b, &k, err, sizeof err), 0);
	assert_string_equal(k, "/lead");
	free(b);
	free(k);
}

static void parse_url_bad(void **state)
{
	static const struct {
		const char *url, *says;
	} bad[] = {
	        {"http://bucket/key", "is not an s3:// URL"},
	        {"bucket/key", "is not an s3:// URL"},
	        {"s3://", "names no bucket"},
	        {"s3:///key", "names no bucket"},
	        {"s3://bucket", "names no object key"},
	        {"s3://bucket/", "names no object key"},
	        {"s3://bucket/dir/", "ends with '/'"},
	        {"s3://ab/key", "shorter than 3"},
	        {"s3://bad bucket/key", "holds a character"},
	        {"s3://-bucket/key", "start and end"},
	        {"s3://bucket/a\tb", "control character"},
	};
	char *b = (char *)1, *k = (char *)1, err[256], big[1200];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(plumb_s3_parse_url(bad[i].url, &b, &k, err, sizeof err), -EINVAL);
		assert_null(b);
		assert_null(k);
		if (!strstr(err, bad[i].says))
			fail_msg("%s: message '%s' lacks '%s'", bad[i].url, err, bad[i].says);
	}
	snprintf(big, sizeof big, "s3://bucket/%01030d", 7);
	assert_int_equal(plumb_s3_parse_url(big, &b, &k, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "longer than 1024"));
}

static void part_size_schedule(void **state)
{
	uint64_t total = 0;

	(void)state;
	assert_int_equal(plumb_s3_part_size(8 * MIB, 1), 8 * MIB);
	assert_int_equal(plumb_s3_part_size(8 * MIB, 5000), 8 * MIB);
	assert_int_equal(plumb_s3_part_size(8 * MIB, 5001), 16 * MIB);
	assert_int_equal(plumb_s3_part_size(8 * MIB, 5500), 16 * MIB);
	assert_int_equal(plumb_s3_part_size(8 * MIB, 5501), 32 * MIB);
	assert_int_equal(plumb_s3_part_size(8 * MIB, 10000), PLUMB_S3_MAX_PART_SIZE);
	assert_int_equal(plumb_s3_part_size(PLUMB_S3_MAX_PART_SIZE, 9999), PLUMB_S3_MAX_PART_SIZE);
	/* Never below the start, never shrinking, and far enough at 5 MiB. */
	for (unsigned n = 1; n <= PLUMB_S3_MAX_PARTS; n++) {
		size_t s = plumb_s3_part_size(PLUMB_S3_MIN_PART_SIZE, n);

		assert_true(s >= PLUMB_S3_MIN_PART_SIZE);
		assert_true(n == 1 || s >= plumb_s3_part_size(PLUMB_S3_MIN_PART_SIZE, n - 1));
		total += s;
	}
	assert_true(total > ((uint64_t)48 << 40) / 10); /* 4.8 TiB */
}

static void target(const plumb_s3_options *o, const char *region, const char *url, const char *peer)
{
	struct s3_target t;
	char err[256];

	assert_int_equal(s3_target_init(&t, o, region, err, sizeof err), 0);
	assert_string_equal(t.url, url);
	assert_string_equal(t.peer, peer);
	s3_target_release(&t);
}

static void object_urls(void **state)
{
	plumb_s3_options o;
	struct s3_target t;
	char err[256];

	(void)state;
	plumb_s3_options_init(&o);
	o.bucket = "my-bucket";
	o.key = "dir/a b+c=\xc3\xa9~._-/x";
	target(&o, "eu-west-3",
	       "https://my-bucket.s3.eu-west-3.amazonaws.com/dir/a%20b%2Bc%3D%C3%A9~._-/x",
	       "s3.eu-west-3.amazonaws.com:443");
	o.bucket = "my.dotted.bucket"; /* not a TLS-safe host label: path-style */
	target(&o, "us-east-1",
	       "https://s3.us-east-1.amazonaws.com/my.dotted.bucket/dir/a%20b%2Bc%3D%C3%A9~._-/x",
	       "s3.us-east-1.amazonaws.com:443");
	o.bucket = "b1";
	o.key = "k";
	o.addressing = PLUMB_S3_ADDRESSING_PATH;
	target(&o, "us-east-1", "https://s3.us-east-1.amazonaws.com/b1/k",
	       "s3.us-east-1.amazonaws.com:443");
	o.addressing = PLUMB_S3_ADDRESSING_AUTO;
	o.endpoint = "http://127.0.0.1:7480";
	target(&o, "us-east-1", "http://127.0.0.1:7480/b1/k", "127.0.0.1:7480");
	o.endpoint = "http://localhost:9000/prefix/";
	target(&o, "us-east-1", "http://localhost:9000/prefix/b1/k", "localhost:9000");
	o.endpoint = "https://example.test";
	o.addressing = PLUMB_S3_ADDRESSING_VIRTUAL;
	target(&o, "us-east-1", "https://b1.example.test:443/k", "example.test:443");
	assert_int_equal(s3_target_init(&t, &o, "eu-west-1", err, sizeof err), 0);
	assert_string_equal(t.region, "eu-west-1");
	s3_target_release(&t);
	assert_int_equal(s3_target_init(&t, &o, "bad:region", err, sizeof err), -EINVAL);
	o.endpoint = "ftp://127.0.0.1/";
	assert_int_equal(s3_target_init(&t, &o, "us-east-1", err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "not http:// or https://"));
	o.endpoint = "http://user:pw@127.0.0.1/";
	assert_int_equal(s3_target_init(&t, &o, "us-east-1", err, sizeof err), -EINVAL);
	o.endpoint = "not a url";
	assert_int_equal(s3_target_init(&t, &o, "us-east-1", err, sizeof err), -EINVAL);
}

/* ---- Credentials ---- */

static const char *const aws_vars[] = {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "HOME",
};
#define NVARS (sizeof aws_vars / sizeof aws_vars[0])
static char *saved_env[NVARS];
static char temp_dir[64]; /* a test's files, removed by its teardown */

static void remove_dir(const char *dir);

/* Setup and teardown of the tests that change the environment: even a
 * failing one leaves it as it was for the tests after it. */
static int save_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVARS; i++) {
		const char *v = getenv(aws_vars[i]);

		saved_env[i] = v ? strdup(v) : NULL;
		if (strcmp(aws_vars[i], "HOME") != 0)
			unsetenv(aws_vars[i]);
	}
	return 0;
}

static int restore_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVARS; i++) {
		if (saved_env[i])
			setenv(aws_vars[i], saved_env[i], 1);
		else
			unsetenv(aws_vars[i]);
		free(saved_env[i]);
		saved_env[i] = NULL;
	}
	if (temp_dir[0])
		remove_dir(temp_dir);
	temp_dir[0] = '\0';
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char creds_ini[] = "# The credentials file, as people write it.\n"
                                "[default]\n"
                                "aws_access_key_id = DEFAULTKEY\n"
                                "aws_secret_access_key = defaultsecret\n"
                                "\n"
                                "  ; an indented comment\n"
                                "[dev]\n"
                                "AWS_Access_Key_ID=DEVKEY\n"
                                "aws_secret_access_key : dev/secret+x=y # not a comment\n"
                                "aws_session_token = devtoken\n"
                                "s3 =\n"
                                "    aws_access_key_id = NESTED\n"
                                "    max_concurrent_requests = 20\n"
                                "[half]\n"
                                "aws_access_key_id = HALFKEY\n";

static const char config_ini[] = "[default]\n"
                                 "region = eu-central-1\n"
                                 "[profile dev]\n"
                                 "region=ap-south-1\n"
                                 "[profile cfgonly]\n"
                                 "aws_access_key_id = CFGKEY\n"
                                 "aws_secret_access_key = cfgsecret\n"
                                 "region = sa-east-1\n"
                                 "[cfgonly]\n"
                                 "aws_access_key_id = NOT-A-PROFILE-IN-CONFIG\n"
                                 "[profile \"quoted name\"]\n"
                                 "aws_access_key_id = QKEY\n"
                                 "aws_secret_access_key = qsecret\n"
                                 "[profile role]\n"
                                 "role_arn = arn:aws:iam::123456789012:role/x\n"
                                 "source_profile = default\n";

/* A directory with credentials and config files, named by the AWS_* variables. */
static void aws_files(char *dir, size_t len)
{
	char path[256];

	snprintf(dir, len, "/tmp/plumb-aws-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(temp_dir, sizeof temp_dir, "%s", dir);
	snprintf(path, sizeof path, "%s/credentials", dir);
	write_file(path, creds_ini);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	snprintf(path, sizeof path, "%s/config", dir);
	write_file(path, config_ini);
	setenv("AWS_CONFIG_FILE", path, 1);
}

static void remove_dir(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	run(cmd, NULL, 0);
}

static void load(const char *profile, const char *id, const char *secret, const char *token)
{
	plumb_s3_credentials c;
	char err[512];

	if (plumb_s3_credentials_load(&c, profile, err, sizeof err) != 0)
		fail_msg("profile %s: %s", profile ? profile : "(none)", err);
	assert_string_equal(c.access_key_id, id);
	assert_string_equal(c.secret_access_key, secret);
	if (token)
		assert_string_equal(c.session_token, token);
	else
		assert_null(c.session_token);
	plumb_s3_credentials_release(&c);
	assert_null(c.access_key_id);
}

static void load_fails(const char *profile, int rc, const char *says)
{
	plumb_s3_credentials c;
	char err[512];

	assert_int_equal(plumb_s3_credentials_load(&c, profile, err, sizeof err), rc);
	if (!strstr(err, says))
		fail_msg("profile %s: '%s' lacks '%s'", profile ? profile : "(none)", err, says);
	assert_null(c.access_key_id);
}

static void credentials_from_environment_and_files(void **state)
{
	char dir[64], path[128];

	(void)state;
	aws_files(dir, sizeof dir);
	load(NULL, "DEFAULTKEY", "defaultsecret", NULL);
	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	load_fails(NULL, -EINVAL, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	load(NULL, "ENVKEY", "envsecret", "envtoken");
	load("dev", "DEVKEY", "dev/secret+x=y # not a comment", "devtoken"); /* explicit: files */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_PROFILE", "dev", 1);
	load(NULL, "DEVKEY", "dev/secret+x=y # not a comment", "devtoken");
	load("cfgonly", "CFGKEY", "cfgsecret", NULL);
	load("quoted name", "QKEY", "qsecret", NULL);
	load_fails("half", -EINVAL, "has aws_access_key_id but no aws_secret_access_key");
	load_fails("role", -ENOENT, "role_arn");
	load_fails("nosuch", -ENOENT, "the profile 'nosuch' is in neither");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	unsetenv("AWS_PROFILE");
	load_fails(NULL, -ENOENT, "no AWS credentials: set AWS_ACCESS_KEY_ID");
	/* ~ is the home directory. */
	setenv("HOME", dir, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/credentials", 1);
	load(NULL, "DEFAULTKEY", "defaultsecret", NULL);
	/* A byte-order mark (Windows editors) is skipped; a line that is no
	 * INI makes the file malformed, with the line number. */
	snprintf(path, sizeof path, "%s/bom", dir);
	write_file(path, "\xef\xbb\xbf[default]\naws_access_key_id=B\naws_secret_access_key=S\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	load(NULL, "B", "S", NULL);
	write_file(path, "[default]\naws_access_key_id=B\nnot ini at all\n");
	load_fails(NULL, -EINVAL, "bom, line 3: expected [section] or key = value");
}

static void region_order(void **state)
{
	char dir[64], region[80], err[256];

	(void)state;
	aws_files(dir, sizeof dir);
	assert_int_equal(plumb_s3_region_load(region, sizeof region, NULL, err, sizeof err), 0);
	assert_string_equal(region, "eu-central-1");
	assert_int_equal(plumb_s3_region_load(region, sizeof region, "dev", err, sizeof err), 0);
	assert_string_equal(region, "ap-south-1");
	setenv("AWS_PROFILE", "cfgonly", 1);
	assert_int_equal(plumb_s3_region_load(region, sizeof region, NULL, err, sizeof err), 0);
	assert_string_equal(region, "sa-east-1");
	setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
	assert_int_equal(plumb_s3_region_load(region, sizeof region, NULL, err, sizeof err), 0);
	assert_string_equal(region, "us-west-2");
	setenv("AWS_REGION", "ca-central-1", 1);
	assert_int_equal(plumb_s3_region_load(region, sizeof region, NULL, err, sizeof err), 0);
	assert_string_equal(region, "ca-central-1");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	assert_int_equal(plumb_s3_region_load(region, sizeof region, NULL, err, sizeof err), 0);
	assert_string_equal(region, "us-east-1");
}

/* botocore, reading the same files, finds the same keys and regions. */
static void credentials_match_botocore(void **state)
{
	static const char *const profiles[] = {"default", "dev", "cfgonly", "quoted name"};
	char dir[64], cmd[2048], out[1024], want[1024], region[80], err[256];

	(void)state;
	aws_files(dir, sizeof dir);
	for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
		plumb_s3_credentials c;

		snprintf(cmd, sizeof cmd,
		         "AWS_EC2_METADATA_DISABLED=true AWS_PROFILE='%s' %s -c '"
		         "import botocore.session as s\n"
		         "x = s.Session()\n"
		         "c = x.get_credentials()\n"
		         "print(c.access_key, c.secret_key, c.token, "
		         "x.get_config_variable(\"region\") or \"us-east-1\", sep=\"|\")' 2>&1",
		         profiles[i], botocore_python());
		if (run(cmd, out, sizeof out) != 0)
			fail_msg("botocore failed: %s", out);
		out[strcspn(out, "\n")] = '\0';
		assert_int_equal(plumb_s3_credentials_load(&c, profiles[i], err, sizeof err), 0);
		assert_int_equal(
		        plumb_s3_region_load(region, sizeof region, profiles[i], err, sizeof err),
		        0);
		snprintf(want, sizeof want, "%s|%s|%s|%s", c.access_key_id, c.secret_access_key,
		         c.session_token ? c.session_token : "None", region);
		assert_string_equal(want, out);
		plumb_s3_credentials_release(&c);
	}
}

/* ---- Options refused before any request ---- */

static void refused(plumb_s3_options *o, int rc, const char *says)
{
	plumb_s3_credentials cred = {.access_key_id = "AK", .secret_access_key = "SK"};
	plumb_s3_result res;
	struct gen g;

	gen_init(&g, 100);
	if (!o->credentials)
		o->credentials = &cred;
	assert_int_equal(plumb_s3_upload(o, &g.reader, NULL, &res), rc);
	gen_done(&g, NULL);
	assert_int_equal(res.requests, 0);
	assert_int_equal(g.pos, 0); /* not a byte read */
	if (!strstr(res.message, says))
		fail_msg("'%s' lacks '%s'", res.message, says);
	plumb_s3_result_release(&res);
	o->credentials = NULL;
}

static void bad_options_send_nothing(void **state)
{
	plumb_s3_options o;
	int port = dead_port();
	char endpoint[64];

	(void)state;
	snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
	plumb_s3_options_init(&o);
	o.endpoint = endpoint;
	o.bucket = "b1x";
	o.key = "k";
	o.part_size = 5 * MIB - 1;
	refused(&o, -EINVAL,
	        "s3://b1x/k: a part size of 5242879 bytes is below S3's minimum of 5 MiB");
	o.part_size = PLUMB_S3_MAX_PART_SIZE + 1;
	refused(&o, -EINVAL, "above S3's maximum of 5 GiB");
	o.part_size = 5 * MIB;
	o.concurrency = 0;
	refused(&o, -EINVAL, "concurrency 0");
	o.concurrency = 4;
	o.retries = -1;
	refused(&o, -EINVAL, "retries -1");
	o.retries = 5;
	o.content_type = "text/csv\r\nX-Evil: 1";
	refused(&o, -EINVAL, "line break");
	o.content_type = NULL;
	o.expected_size = (uint64_t)60 << 40;
	refused(&o, -EFBIG, "does not fit in 10000 parts");
	o.expected_size = 0;
	o.endpoint = "ftp://x/";
	refused(&o, -EINVAL, "not http:// or https://");
	o.endpoint = endpoint;
	o.bucket = NULL;
	refused(&o, -EINVAL, "no bucket");
}

static void no_credentials_sends_nothing(void **state)
{
	plumb_s3_options o;
	char endpoint[64];

	(void)state;
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/c", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/c", 1);
	snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", dead_port());
	plumb_s3_options_init(&o);
	o.endpoint = endpoint;
	o.bucket = "b1x";
	o.key = "k";
	{
		plumb_s3_result res;
		struct gen g;

		gen_init(&g, 100);
		assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), -ENOENT);
		gen_done(&g, NULL);
		assert_int_equal(res.requests, 0);
		assert_non_null(strstr(res.message, "no AWS credentials"));
		plumb_s3_result_release(&res);
	}
}

/* ---- The signer on fixed inputs ---- */

/* AWS's published example (S3 API reference, "Signature Calculations for the
 * Authorization Header", Example: GET Object): the values below are the
 * documentation's, not ours. */
static void sigv4_aws_example(void **state)
{
	static const char empty[] =
	        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	const char *headers[] = {"Range: bytes=0-9",
	                         "x-amz-content-sha256:"
	                         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	                         "x-amz-date: 20130524T000000Z"};
	struct s3_sigv4 in = {
	        .method = "GET",
	        .path = "/test.txt",
	        .path_len = 9,
	        .host = "examplebucket.s3.amazonaws.com",
	        .headers = headers,
	        .nheaders = 3,
	        .payload_sha256_hex = empty,
	        .access_key = "AKIAIOSFODNN7EXAMPLE",
	        .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	        .region = "us-east-1",
	        .amz_date = "20130524T000000Z",
	};
	unsigned char sha[32];
	char out[512], hex[65];

	(void)state;
	s3_sha256("", 0, sha);
	s3_hex(sha, 32, hex);
	assert_string_equal(hex, empty);
	assert_int_equal(s3_sigv4_authorization(&in, out, sizeof out), 0);
	assert_string_equal(
	        out, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
	             "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
	             "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	/* Blanks around and inside values do not change what is signed. */
	headers[0] = "range:   bytes=0-9  ";
	assert_int_equal(s3_sigv4_authorization(&in, out, sizeof out), 0);
	assert_non_null(strstr(
	        out, "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
	/* Any other byte does. */
	headers[0] = "Range: bytes=0-8";
	assert_int_equal(s3_sigv4_authorization(&in, out, sizeof out), 0);
	assert_null(
	        strstr(out, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
	assert_int_equal(s3_sigv4_authorization(&in, out, 40), -ENOSPC);
}

/* HMAC-SHA256 against RFC 4231's test cases 1 and 6 (a key longer than the block). */
static void hmac_rfc4231(void **state)
{
	unsigned char key[131], mac[32];
	char hex[65];

	(void)state;
	memset(key, 0x0b, 20);
	s3_hmac_sha256(key, 20, "Hi There", 8, mac);
	s3_hex(mac, 32, hex);
	assert_string_equal(hex,
	                    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	memset(key, 0xaa, sizeof key);
	s3_hmac_sha256(key, sizeof key, "Test Using Larger Than Block-Size Key - Hash Key First",
	               54, mac);
	s3_hex(mac, 32, hex);
	assert_string_equal(hex,
	                    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* ---- Signatures against botocore ---- */

/* A fake S3 that records every request (method, path, headers, body
 * SHA-256, whether the body came whole: a part still in flight when another
 * is refused is cut short by the client) as a JSON line, and answers as S3
 * would.  Its upload id holds
 * characters that must be encoded; its Complete answer has an empty ETag (as
 * radosgw's), so the client also sends a HEAD; a part of a key holding
 * "fail" is refused, so the client also sends an Abort. */
static const char fake_s3_py[] =
        "import hashlib, json, re, sys\n"
        "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
        "log = open(sys.argv[1], 'a')\n"
        "etags = {}\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def log_message(self, *a): pass\n"
        "    def rec(self):\n"
        "        n = int(self.headers.get('Content-Length') or 0)\n"
        "        body = self.rfile.read(n) if n else b''\n"
        "        log.write(json.dumps({'method': self.command, 'path': self.path,\n"
        "            'headers': list(self.headers.items()), 'complete': len(body) == n,\n"
        "            'sha256': hashlib.sha256(body).hexdigest()}) + '\\n')\n"
        "        log.flush()\n"
        "        return body\n"
        "    def answer(self, code, body=b'', etag=None):\n"
        "        self.send_response(code)\n"
        "        if etag: self.send_header('ETag', '\"%s\"' % etag)\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        if self.command != 'HEAD': self.wfile.write(body)\n"
        "    def do_POST(self):\n"
        "        body = self.rec()\n"
        "        if '?uploads' in self.path:\n"
        "            return self.answer(200, b'<?xml "
        "version=\"1.0\"?><InitiateMultipartUploadResult>'\n"
        "                b'<UploadId>2~a/b+c=d "
        "e&amp;f</UploadId></InitiateMultipartUploadResult>')\n"
        "        md5s = b''.join(bytes.fromhex(e.decode()) for e in\n"
        "            re.findall(rb'<ETag>\"([0-9a-f]{32})\"</ETag>', body))\n"
        "        etags[self.path.split('?')[0]] = '%s-%d' % (hashlib.md5(md5s).hexdigest(), "
        "len(md5s) // 16)\n"
        "        self.answer(200, "
        "b'<CompleteMultipartUploadResult><ETag></ETag></CompleteMultipartUploadResult>')\n"
        "    def do_PUT(self):\n"
        "        body = self.rec()\n"
        "        if 'fail' in self.path and 'partNumber' in self.path:\n"
        "            return self.answer(400, b'<Error><Code>InvalidArgument</Code>'\n"
        "                b'<Message>the fake says no</Message></Error>')\n"
        "        self.answer(200, etag=hashlib.md5(body).hexdigest())\n"
        "    def do_DELETE(self):\n"
        "        self.rec()\n"
        "        self.answer(204)\n"
        "    def do_HEAD(self):\n"
        "        self.rec()\n"
        "        self.answer(200, etag=etags.get(self.path.split('?')[0], 'none'))\n"
        "srv = ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
        "print(srv.server_address[1], flush=True)\n"
        "srv.serve_forever()\n";

/* Recomputes every recorded request's signature with botocore and checks
 * the canonical forms; prints one line per request, exits 1 on a mismatch. */
static const char verify_py[] =
        "import json, sys, urllib.parse\n"
        "from botocore.auth import S3SigV4Auth\n"
        "from botocore.awsrequest import AWSRequest\n"
        "from botocore.credentials import Credentials\n"
        "logf, base, ak, sk, tok, region = sys.argv[1:7]\n"
        "SKIP = {'authorization', 'user-agent', 'accept', 'content-length', 'expect',\n"
        "        'transfer-encoding'}\n"
        "n = bad = 0\n"
        "for line in open(logf):\n"
        "    r = json.loads(line)\n"
        "    n += 1\n"
        "    hv = lambda name: next((v for k, v in r['headers'] if k.lower() == name), None)\n"
        "    h = dict((k, v) for k, v in r['headers'] if k.lower() not in SKIP)\n"
        "    req = AWSRequest(method=r['method'], url=base + r['path'], headers=h)\n"
        "    ts = hv('x-amz-date')\n"
        "    req.context['timestamp'] = ts\n"
        "    a = S3SigV4Auth(Credentials(ak, sk, tok or None), 's3', region)\n"
        "    cr = a.canonical_request(req)\n"
        "    sig = a.signature(a.string_to_sign(req, cr), req)\n"
        "    want = ('AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, SignedHeaders=%s, '\n"
        "            'Signature=%s' % (ak, ts[:8], region, "
        "a.signed_headers(a.headers_to_sign(req)), sig))\n"
        "    problems = []\n"
        "    if hv('authorization') != want:\n"
        "        problems.append('Authorization %r, botocore: %r' % (hv('authorization'), want))\n"
        "    if not r['complete'] and '/sig/fail?' not in r['path']:\n"
        "        problems.append('the body was cut short')\n"
        "    if r['complete'] and hv('x-amz-content-sha256') != r['sha256']:\n"
        "        problems.append('x-amz-content-sha256 is not the SHA-256 of the body')\n"
        "    if tok and hv('x-amz-security-token') != tok:\n"
        "        problems.append('no session token')\n"
        "    path, _, query = r['path'].partition('?')\n"
        "    if urllib.parse.quote(urllib.parse.unquote(path), safe='/~') != path:\n"
        "        problems.append('path not in canonical form')\n"
        "    pairs = query.split('&') if query else []\n"
        "    if pairs != sorted(pairs):\n"
        "        problems.append('query not sorted')\n"
        "    for p in pairs:\n"
        "        k, eq, v = p.partition('=')\n"
        "        if not eq or urllib.parse.quote(urllib.parse.unquote(v), safe='-_.~') != v:\n"
        "            problems.append('query pair %r not in canonical form' % p)\n"
        "    print('%s %s %s' % ('bad' if problems else 'ok', r['method'], r['path']))\n"
        "    for p in problems: print('   ', p)\n"
        "    bad += bool(problems)\n"
        "print('%d requests, %d bad' % (n, bad))\n"
        "sys.exit(1 if bad or not n else 0)\n";

static pid_t fake_pid;

static int stop_fake(void **state)
{
	(void)state;
	stop_process(fake_pid);
	fake_pid = 0;
	if (temp_dir[0])
		remove_dir(temp_dir);
	temp_dir[0] = '\0';
	return 0;
}

static void sigv4_matches_botocore(void **state)
{
	char dir[64], script[128], log[128], verify[128], endpoint[64], cmd[2048], out[16384];
	char *argv[] = {"python3", script, log, NULL};
	plumb_s3_credentials cred = {.access_key_id = "AKIDPLUMBTEST",
	                             .secret_access_key = "wJalr/XUtnFEMI+K7MDENG=bPxRfiCY",
	                             .session_token = "FwoGZX/IvYXdzE+token=="};
	const char *keys[] = {"sig/dir/a b+c=\xc3\xa9~(1).csv", "sig/small", "sig/fail"};
	const uint64_t sizes[] = {5 * MIB + 7, 1000, 6 * MIB};
	const int want_rc[] = {0, 0, PLUMB_ESERVER};
	int port;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/plumb-sig-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(temp_dir, sizeof temp_dir, "%s", dir);
	snprintf(script, sizeof script, "%s/fake_s3.py", dir);
	snprintf(verify, sizeof verify, "%s/verify.py", dir);
	snprintf(log, sizeof log, "%s/requests.jsonl", dir);
	write_file(script, fake_s3_py);
	write_file(verify, verify_py);
	fake_pid = spawn_port(argv, &port);
	assert_true(fake_pid > 0);
	snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
	for (size_t i = 0; i < 3; i++) {
		plumb_s3_options o;
		plumb_s3_result res;
		struct gen g;

		plumb_s3_options_init(&o);
		o.endpoint = endpoint;
		o.region = "eu-west-3";
		o.bucket = "sig-bucket";
		o.key = keys[i];
		o.credentials = &cred;
		o.part_size = 5 * MIB;
		o.content_type = "text/csv; charset=utf-8";
		o.retries = 0;
		gen_init(&g, sizes[i]);
		if (plumb_s3_upload(&o, &g.reader, NULL, &res) != want_rc[i])
			fail_msg("%s: %s", keys[i], res.message);
		gen_done(&g, NULL);
		if (i == 2) {
			/* Part 1 or 2, whichever the fake refused first. */
			if (!strstr(res.message, ": HTTP 400 InvalidArgument: the fake says no") ||
			    !strstr(res.message, "s3://sig-bucket/sig/fail: UploadPart "))
				fail_msg("message: %s", res.message);
			assert_true(res.aborted);
		}
		plumb_s3_result_release(&res);
	}
	stop_process(fake_pid);
	fake_pid = 0;
	snprintf(cmd, sizeof cmd, "%s %s %s %s %s %s '%s' %s 2>&1", botocore_python(), verify, log,
	         endpoint, cred.access_key_id, cred.secret_access_key, cred.session_token,
	         "eu-west-3");
	if (run(cmd, out, sizeof out) != 0)
		fail_msg("botocore disagrees:\n%s", out);
	/* Create, 2 parts, Complete, HEAD; PutObject; Create, a part or two, Abort. */
	assert_non_null(
	        strstr(out, "ok POST /sig-bucket/sig/dir/a%20b%2Bc%3D%C3%A9~%281%29.csv?uploads="));
	assert_non_null(strstr(out, "?partNumber=2&uploadId=2~a%2Fb%2Bc%3Dd%20e%26f"));
	assert_non_null(strstr(out, "ok HEAD /sig-bucket/sig/dir/"));
	assert_non_null(strstr(out, "ok PUT /sig-bucket/sig/small\n"));
	assert_non_null(strstr(out, "ok DELETE /sig-bucket/sig/fail?uploadId="));
	assert_non_null(strstr(out, ", 0 bad"));
}

/* ================================================================ real S3 */

static void small_object_is_one_put(void **state)
{
	plumb_s3_result res;
	int seen, faulted;

	(void)state;
	NEED_S3();
	proxy_faults(NULL);
	upload_and_check("small.csv", 1000, 5 * MIB, 4, true, 0, &res);
	assert_int_equal(res.requests, 1);
	assert_int_equal(res.buffers, 1);
	plumb_s3_result_release(&res);
	proxy_seen("PutObject", &seen, &faulted);
	assert_int_equal(seen, 1);
	proxy_seen("CreateMultipartUpload", &seen, &faulted);
	assert_int_equal(seen, 0);
}

static void empty_object(void **state)
{
	plumb_s3_result res;

	(void)state;
	NEED_S3();
	upload_and_check("empty", 0, 5 * MIB, 4, false, 0, &res);
	assert_string_equal(res.etag, "d41d8cd98f00b204e9800998ecf8427e");
	plumb_s3_result_release(&res);
}

static void exactly_one_part_is_one_put(void **state)
{
	plumb_s3_result res;

	(void)state;
	NEED_S3();
	upload_and_check("five-mib", 5 * MIB, 5 * MIB, 4, false, 0, &res);
	assert_int_equal(res.requests, 1);
	plumb_s3_result_release(&res);
}

static void one_part_and_one_byte(void **state)
{
	plumb_s3_result res;
	int seen, faulted;

	(void)state;
	NEED_S3();
	proxy_faults(NULL);
	upload_and_check("five-mib-plus-one", 5 * MIB + 1, 5 * MIB, 4, true, 2, &res);
	plumb_s3_result_release(&res);
	proxy_seen("UploadPart", &seen, &faulted);
	assert_int_equal(seen, 2);
	proxy_seen("PutObject", &seen, &faulted);
	assert_int_equal(seen, 0);
	proxy_seen("CompleteMultipartUpload", &seen, &faulted);
	assert_int_equal(seen, 1);
}

static void big_object_in_parallel(void **state)
{
	plumb_s3_result res;

	(void)state;
	NEED_S3();
	upload_and_check("big-64mib", 64 * MIB, 5 * MIB, 4, false, 13, &res);
	assert_int_equal(res.retries, 0);
	plumb_s3_result_release(&res);
}

static void memory_stays_bounded(void **state)
{
	plumb_s3_result res;

	(void)state;
	NEED_S3();
	upload_and_check("bounded", 40 * MIB + 12345, 5 * MIB, 2, false, 9, &res);
	/* How many it needs depends on how fast the server is; never more. */
	assert_in_range(res.buffers, 2, 3);
	assert_int_equal(res.buffer_peak, res.buffers * 5 * MIB);
	plumb_s3_result_release(&res);
}

static void odd_key_round_trip(void **state)
{
	plumb_s3_result res;

	(void)state;
	NEED_S3();
	upload_and_check("odd/a b+c=\xc3\xa9~(1)&x.csv", 5 * MIB + 100, 5 * MIB, 2, false, 2, &res);
	plumb_s3_result_release(&res);
}

static void content_type_and_expected_size(void **state)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256], out[4096];

	(void)state;
	NEED_S3();
	key_for(key, sizeof key, "typed.ndjson");
	options(&o, key, false);
	o.content_type = "application/x-ndjson";
	o.expected_size = (uint64_t)100 << 30;
	gen_init(&g, 777);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), 0);
	gen_done(&g, NULL);
	assert_int_equal(res.part_size, 11 * MIB); /* 100 GiB / 10,000 parts, in MiB */
	plumb_s3_result_release(&res);
	assert_int_equal(s3check(out, sizeof out, "head %s '%s'", bucket, key), 0);
	assert_json_field(out, "content_type", "application/x-ndjson");
	assert_int_equal(s3check(NULL, 0, "rm %s '%s'", bucket, key), 0);
}

/* ---- Faults that pass ---- */

static void retried_upload(const char *name, const char *rules, const char *kind, long stall_ms,
                           uint64_t size)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256], sha[PLUMB_HASH_MAX_HEX], etag[128];
	unsigned parts = (unsigned)((size + 5 * MIB - 1) / (5 * MIB));
	int seen, faulted;

	key_for(key, sizeof key, name);
	proxy_faults(rules);
	options(&o, key, true);
	o.part_size = 5 * MIB;
	o.concurrency = 3;
	if (stall_ms)
		o.stall_timeout_ms = stall_ms;
	gen_init(&g, size);
	if (plumb_s3_upload(&o, &g.reader, NULL, &res) != 0)
		fail_msg("%s: %s", name, res.message);
	gen_done(&g, sha);
	assert_true(res.retries >= 1);
	assert_int_equal(res.parts, parts);
	proxy_seen(kind, &seen, &faulted);
	assert_true(faulted >= 1);
	expected_etag(size, 5 * MIB, parts, etag);
	assert_string_equal(res.etag, etag);
	assert_object(key, size, sha, etag);
	assert_no_uploads(key);
	plumb_s3_result_release(&res);
	proxy_faults(NULL);
}

static void part_500_once_is_retried(void **state)
{
	(void)state;
	NEED_S3();
	retried_upload("retry-500",
	               "[{\"kind\": \"UploadPart\", \"nth\": 2, \"action\": \"error\"}]",
	               "UploadPart", 0, 16 * MIB);
}

static void part_dropped_midway_is_retried(void **state)
{
	(void)state;
	NEED_S3();
	retried_upload("retry-drop",
	               "[{\"kind\": \"UploadPart\", \"nth\": 2, \"action\": \"drop\"}]",
	               "UploadPart", 0, 16 * MIB);
}

static void part_stalled_is_retried(void **state)
{
	(void)state;
	NEED_S3();
	retried_upload(
	        "retry-stall",
	        "[{\"kind\": \"UploadPart\", \"nth\": 2, \"action\": \"stall\", \"seconds\": 30}]",
	        "UploadPart", 1500, 16 * MIB);
}

/* The server completes the upload but its answer never comes (the proxy
 * holds it back until the stall timeout): the retry must still end with the
 * object.  radosgw answers a repeated Complete with the object; a server
 * that says NoSuchUpload instead gets a HEAD whose ETag shows whether the
 * object is ours (upload.c, send_complete). */
static void lost_complete_reply_is_recognised(void **state)
{
	(void)state;
	NEED_S3();
	retried_upload("lost-complete-reply",
	               "[{\"kind\": \"CompleteMultipartUpload\", \"action\": \"stall\", "
	               "\"where\": \"response\", \"seconds\": 30}]",
	               "CompleteMultipartUpload", 1500, 11 * MIB);
}

static void slowdown_and_request_timeout_are_retried(void **state)
{
	(void)state;
	NEED_S3();
	retried_upload(
	        "retry-slowdown",
	        "[{\"kind\": \"UploadPart\", \"nth\": 1, \"action\": \"error\", \"status\": 503},"
	        " {\"kind\": \"UploadPart\", \"nth\": 2, \"action\": \"error\", \"status\": 400,"
	        "  \"code\": \"RequestTimeout\"}]",
	        "UploadPart", 0, 11 * MIB);
	retried_upload(
	        "retry-complete",
	        "[{\"kind\": \"CompleteMultipartUpload\", \"action\": \"error\", \"status\": 500}]",
	        "CompleteMultipartUpload", 0, 6 * MIB);
	retried_upload(
	        "retry-create",
	        "[{\"kind\": \"CreateMultipartUpload\", \"action\": \"error\", \"status\": 503}]",
	        "CreateMultipartUpload", 0, 6 * MIB);
}

/* ---- Failures that end the upload ---- */

/* Uploads through the proxy with rules; expects rc and a message with each
 * of says (NULL-terminated); then checks nothing is left: no upload, no
 * object. */
static void failed_upload(const char *name, const char *rules, uint64_t size, int retries, int rc,
                          const char *const *says, bool aborted)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256];

	key_for(key, sizeof key, name);
	proxy_faults(rules);
	options(&o, key, true);
	o.part_size = 5 * MIB;
	o.concurrency = 2;
	o.retries = retries;
	gen_init(&g, size);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), rc);
	gen_done(&g, NULL);
	for (; *says; says++)
		if (!strstr(res.message, *says))
			fail_msg("'%s' lacks '%s'", res.message, *says);
	assert_int_equal(res.aborted, aborted);
	if (aborted)
		assert_non_null(strstr(res.message, "; the multipart upload was aborted"));
	assert_string_equal(res.etag, "");
	plumb_s3_result_release(&res);
	proxy_faults(NULL);
	assert_no_uploads(key);
	assert_no_object(key);
}

static void every_part_failing_aborts(void **state)
{
	static const char *const says[] = {
	        "s3://", ": UploadPart ", ": HTTP 500 InternalError: ", "(after 3 attempts)", NULL};

	(void)state;
	NEED_S3();
	failed_upload("perm-500",
	              "[{\"kind\": \"UploadPart\", \"times\": 0, \"action\": \"error\", "
	              "\"status\": 500}]",
	              20 * MIB, 2, PLUMB_ESERVER, says, true);
}

static void permanent_part_error_is_not_retried(void **state)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256];
	int seen, faulted;

	(void)state;
	NEED_S3();
	key_for(key, sizeof key, "perm-baddigest");
	proxy_faults(
	        "[{\"kind\": \"UploadPart\", \"nth\": 3, \"action\": \"error\", \"status\": 400,"
	        " \"code\": \"BadDigest\"}]");
	options(&o, key, true);
	o.part_size = 5 * MIB;
	o.concurrency = 1;
	gen_init(&g, 30 * MIB);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), PLUMB_ESERVER);
	gen_done(&g, NULL);
	assert_non_null(strstr(res.message, "UploadPart 3: HTTP 400 BadDigest"));
	assert_null(strstr(res.message, "attempts"));
	assert_int_equal(res.retries, 0);
	assert_true(res.aborted);
	plumb_s3_result_release(&res);
	proxy_seen("UploadPart", &seen, &faulted);
	assert_int_equal(faulted, 1);
	assert_true(seen <= 4); /* the part after it may have started, no more */
	proxy_seen("AbortMultipartUpload", &seen, &faulted);
	assert_int_equal(seen, 1);
	proxy_faults(NULL);
	assert_no_uploads(key);
	assert_no_object(key);
}

/* A stream longer than the parts allowed (lowered to 3 here, from 10,000)
 * fails once the extra part shows up, and the upload is aborted. */
static void too_many_parts(void **state)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256];
	int rc;

	(void)state;
	NEED_S3();
	key_for(key, sizeof key, "too-many-parts");
	options(&o, key, false);
	o.part_size = 5 * MIB;
	gen_init(&g, 15 * MIB + 1);
	s3_max_parts = 3;
	rc = plumb_s3_upload(&o, &g.reader, NULL, &res);
	s3_max_parts = PLUMB_S3_MAX_PARTS;
	gen_done(&g, NULL);
	assert_int_equal(rc, -EFBIG);
	assert_non_null(strstr(res.message, "the stream needs more than 3 parts (15728641 bytes "
	                                    "so far): give a larger part size"));
	assert_true(res.aborted);
	plumb_s3_result_release(&res);
	assert_no_uploads(key);
	assert_no_object(key);
}

static void reader_error_aborts(void **state)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256];

	(void)state;
	NEED_S3();
	key_for(key, sizeof key, "reader-fails");
	options(&o, key, false);
	o.part_size = 5 * MIB;
	gen_init(&g, 64 * MIB);
	g.fail_at = 23 * MIB;
	g.fail_err = PLUMB_EDB;
	assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), PLUMB_EDB);
	gen_done(&g, NULL);
	assert_non_null(strstr(res.message, "reading the source failed after 24117248 bytes: "
	                                    "the database reported an error"));
	assert_true(res.aborted);
	plumb_s3_result_release(&res);
	assert_no_uploads(key);
	assert_no_object(key);
}

static void cancel_aborts(void **state)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256];
	_Atomic int cancel = 0;

	(void)state;
	NEED_S3();
	key_for(key, sizeof key, "cancelled");
	options(&o, key, false);
	o.part_size = 5 * MIB;
	gen_init(&g, 64 * MIB);
	g.cancel = &cancel;
	g.cancel_at = 17 * MIB;
	assert_int_equal(plumb_s3_upload(&o, &g.reader, &cancel, &res), -ECANCELED);
	gen_done(&g, NULL);
	assert_non_null(strstr(res.message, "cancelled"));
	assert_true(res.aborted);
	assert_true(g.pos < 64 * MIB);
	plumb_s3_result_release(&res);
	assert_no_uploads(key);
	assert_no_object(key);
}

struct canceller {
	_Atomic int *flag;
	long after_ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec ts = {c->after_ms / 1000, (c->after_ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
	atomic_store(c->flag, 1);
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parts stuck in a stalled server stop soon after a cancel. */
static void cancel_stops_parts_in_flight(void **state)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256];
	_Atomic int cancel = 0;
	struct canceller c = {&cancel, 1000};
	pthread_t t;
	int64_t start;

	(void)state;
	NEED_S3();
	key_for(key, sizeof key, "cancel-stalled");
	proxy_faults("[{\"kind\": \"UploadPart\", \"times\": 0, \"action\": \"stall\", "
	             "\"seconds\": 60}]");
	options(&o, key, true);
	o.part_size = 5 * MIB;
	gen_init(&g, 40 * MIB);
	start = now_ms();
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, &cancel, &res), -ECANCELED);
	pthread_join(t, NULL);
	gen_done(&g, NULL);
	/* The stall lasts 60 s and the stall timeout is 60 s: only the cancel
	 * can have ended it this soon. */
	assert_true(now_ms() - start < 20000);
	assert_non_null(strstr(res.message, "cancelled"));
	assert_true(res.aborted);
	plumb_s3_result_release(&res);
	proxy_faults(NULL);
	assert_no_uploads(key);
	assert_no_object(key);
}

/* The threads of this process. */
static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* What the watcher of upload_threads_block_signals saw. */
struct thread_census {
	_Atomic int *cancel;
	int senders;   /* UploadParts the proxy held when the census was taken */
	int all_masks; /* threads of the process with every signal blocked */
	int threads;   /* threads of the process */
};

/* SigBlk of /proc/self/task/TID/status (a hex mask), or "" if gone. */
static void sigblk_of(const char *tid, char *out, size_t len)
{
	char path[96], line[256];
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
	out[0] = '\0';
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof line, f)) {
		const char *v = line + 7 + strspn(line + 7, " \t");

		if (!strncmp(line, "SigBlk:", 7))
			snprintf(out, len, "%.*s", (int)strcspn(v, " \t\n"), v);
	}
	fclose(f);
}

/* Waits until the proxy holds 3 stalled parts, then counts the process's
 * threads and those that block every signal, then cancels. */
static void *take_census(void *arg)
{
	struct thread_census *c = arg;
	sigset_t all, old;
	char full[64], mask[64], self[32];
	int faulted = 0;
	DIR *d;
	struct dirent *e;

	/* what "every signal" reads as, from this thread for a moment */
	snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	sigblk_of(self, full, sizeof full);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < 400 && c->senders < 3; i++) {
		struct timespec ts = {0, 50000000};

		nanosleep(&ts, NULL);
		proxy_seen("UploadPart", &c->senders, &faulted);
	}
	if ((d = opendir("/proc/self/task"))) {
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			c->threads++;
			sigblk_of(e->d_name, mask, sizeof mask);
			c->all_masks += full[0] && !strcmp(mask, full);
		}
		closedir(d);
	}
	atomic_store(c->cancel, 1);
	return NULL;
}

/* The parts go out from exactly `concurrency` threads (the batch library's
 * pool), which block every signal, so that a SIGINT lands on a thread of the
 * program's own; and they are gone when the upload returns. */
static void upload_threads_block_signals(void **state)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256];
	_Atomic int cancel = 0;
	struct thread_census c = {.cancel = &cancel};
	pthread_t t;
	int before;

	(void)state;
	NEED_S3();
	key_for(key, sizeof key, "census");
	proxy_faults("[{\"kind\": \"UploadPart\", \"times\": 0, \"action\": \"stall\", "
	             "\"seconds\": 60}]");
	options(&o, key, true);
	o.part_size = 5 * MIB;
	o.concurrency = 3;
	gen_init(&g, 40 * MIB);
	before = count_threads();
	assert_int_equal(pthread_create(&t, NULL, take_census, &c), 0);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, &cancel, &res), -ECANCELED);
	pthread_join(t, NULL);
	gen_done(&g, NULL);
	assert_int_equal(c.senders, 3);
	/* this thread, the census taker, and the pool */
	assert_int_equal(c.threads, before + 1 + 3);
	assert_int_equal(c.all_masks, 3);
	assert_true(res.aborted);
	plumb_s3_result_release(&res);
	proxy_faults(NULL);
	assert_int_equal(count_threads(), before);
	assert_no_uploads(key);
	assert_no_object(key);
}

static void bad_credentials(void **state)
{
	plumb_s3_credentials wrong_secret = {.access_key_id = getenv("AWS_ACCESS_KEY_ID"),
	                                     .secret_access_key = "not-the-secret",
	                                     .source = "the test"};
	plumb_s3_credentials unknown = {.access_key_id = "PLUMBNOSUCHKEY000000",
	                                .secret_access_key = "x"};
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char key[256];

	(void)state;
	NEED_S3();
	key_for(key, sizeof key, "bad-credentials");
	options(&o, key, false);
	o.credentials = &wrong_secret;
	gen_init(&g, 100);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), PLUMB_ESERVER);
	gen_done(&g, NULL);
	assert_non_null(strstr(res.message, "PutObject: HTTP 403 SignatureDoesNotMatch"));
	assert_non_null(strstr(res.message, "(the credentials came from the test)"));
	assert_int_equal(res.requests, 1);
	plumb_s3_result_release(&res);
	o.credentials = &unknown;
	o.part_size = 5 * MIB;
	gen_init(&g, 6 * MIB);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), PLUMB_ESERVER);
	gen_done(&g, NULL);
	assert_non_null(strstr(res.message, "CreateMultipartUpload: HTTP 403 InvalidAccessKeyId"));
	assert_int_equal(res.requests, 1);
	assert_null(res.upload_id);
	plumb_s3_result_release(&res);
	assert_no_object(key);
}

static void missing_bucket(void **state)
{
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;

	(void)state;
	NEED_S3();
	options(&o, "k", false);
	o.bucket = "plumb-no-such-bucket";
	gen_init(&g, 100);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), PLUMB_ESERVER);
	gen_done(&g, NULL);
	assert_non_null(strstr(res.message, "s3://plumb-no-such-bucket/k: PutObject: HTTP 404 "
	                                    "NoSuchBucket"));
	plumb_s3_result_release(&res);
}

static void unreachable_endpoint(void **state)
{
	plumb_s3_credentials cred = {.access_key_id = "AK", .secret_access_key = "SK"};
	plumb_s3_options o;
	plumb_s3_result res;
	struct gen g;
	char endpoint[64], want[128];
	int port = dead_port();

	(void)state;
	snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
	plumb_s3_options_init(&o);
	o.endpoint = endpoint;
	o.bucket = "b1x";
	o.key = "k";
	o.credentials = &cred;
	o.retries = 2;
	o.backoff_base_ms = 10;
	gen_init(&g, 100);
	assert_int_equal(plumb_s3_upload(&o, &g.reader, NULL, &res), -ECONNREFUSED);
	gen_done(&g, NULL);
	snprintf(want, sizeof want,
	         "PutObject: cannot connect to 127.0.0.1:%d: Connection refused (after 3 attempts)",
	         port);
	assert_non_null(strstr(res.message, want));
	assert_int_equal(res.requests, 3);
	plumb_s3_result_release(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(parse_url_good),
	        cmocka_unit_test(parse_url_bad),
	        cmocka_unit_test(part_size_schedule),
	        cmocka_unit_test(object_urls),
	        cmocka_unit_test_setup_teardown(credentials_from_environment_and_files, save_env,
	                                        restore_env),
	        cmocka_unit_test_setup_teardown(region_order, save_env, restore_env),
	        cmocka_unit_test_setup_teardown(credentials_match_botocore, save_env, restore_env),
	        cmocka_unit_test(bad_options_send_nothing),
	        cmocka_unit_test_setup_teardown(no_credentials_sends_nothing, save_env,
	                                        restore_env),
	        cmocka_unit_test(unreachable_endpoint),
	        cmocka_unit_test(sigv4_aws_example),
	        cmocka_unit_test(hmac_rfc4231),
	        cmocka_unit_test_teardown(sigv4_matches_botocore, stop_fake),
	        cmocka_unit_test(small_object_is_one_put),
	        cmocka_unit_test(empty_object),
	        cmocka_unit_test(exactly_one_part_is_one_put),
	        cmocka_unit_test(one_part_and_one_byte),
	        cmocka_unit_test(big_object_in_parallel),
	        cmocka_unit_test(memory_stays_bounded),
	        cmocka_unit_test(odd_key_round_trip),
	        cmocka_unit_test(content_type_and_expected_size),
	        cmocka_unit_test(part_500_once_is_retried),
	        cmocka_unit_test(part_dropped_midway_is_retried),
	        cmocka_unit_test(part_stalled_is_retried),
	        cmocka_unit_test(slowdown_and_request_timeout_are_retried),
	        cmocka_unit_test(lost_complete_reply_is_recognised),
	        cmocka_unit_test(every_part_failing_aborts),
	        cmocka_unit_test(permanent_part_error_is_not_retried),
	        cmocka_unit_test(too_many_parts),
	        cmocka_unit_test(reader_error_aborts),
	        cmocka_unit_test(cancel_aborts),
	        cmocka_unit_test(cancel_stops_parts_in_flight),
	        cmocka_unit_test(upload_threads_block_signals),
	        cmocka_unit_test(bad_credentials),
	        cmocka_unit_test(missing_bucket),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("PLUMB_TEST_FILTER")) /* run only the tests matching it */
		cmocka_set_test_filter(getenv("PLUMB_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
