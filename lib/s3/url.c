/*
 * url.c - s3://bucket/key, and the HTTP URL an object is reached at.
 *
 * An object's URL is built here once and handed to lib/http's client as it
 * is, already in SigV4's canonical form: the key percent-encoded byte by
 * byte (all but the unreserved characters and '/'), which is also the
 * canonical URI that sigv4.c signs.  The client sends the path byte for
 * byte, so keys holding "./" or "//" stay what they are.
 *
 * Addressing: path-style (ENDPOINT/bucket/key) is what S3-compatible servers
 * answer without DNS tricks, so it is the default with an endpoint; AWS
 * itself gets virtual-hosted URLs (bucket.s3.REGION.amazonaws.com/key), but
 * for bucket names that cannot be a TLS host name label (dots, capitals,
 * underscores), which fall back to path-style as the AWS CLI does.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3-internal.h"

#define MAX_KEY 1024

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- s3:// URLs ---- */

/* S3's rules, loosened to what older regions and radosgw allow: 3 to 255
 * characters out of letters, digits, '.', '-' and '_', starting and ending
 * with a letter or digit. */
static const char *bucket_problem(const char *b, size_t n)
{
	if (n < 3)
		return "is shorter than 3 characters";
	if (n > 255)
		return "is longer than 255 characters";
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)b[i]) && !strchr(".-_", b[i]))
			return "holds a character other than letters, digits, '.', '-' and '_'";
	if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return "does not start and end with a letter or digit";
	return NULL;
}

int plumb_s3_parse_url(const char *url, char **bucket, char **key, char *err, size_t errlen)
{
	const char *b, *slash, *problem;
	size_t blen;

	*bucket = *key = NULL;
	if (!url || strncasecmp(url, "s3://", 5) != 0)
		return fail(err, errlen, -EINVAL, "'%s' is not an s3:// URL (s3://BUCKET/KEY)",
		            url ? url : "");
	b = url + 5;
	slash = strchr(b, '/');
	blen = slash ? (size_t)(slash - b) : strlen(b);
	if (blen == 0)
		return fail(err, errlen, -EINVAL, "'%s' names no bucket (s3://BUCKET/KEY)", url);
	if ((problem = bucket_problem(b, blen)))
		return fail(err, errlen, -EINVAL, "in '%s': the bucket name %s", url, problem);
	if (!slash || !slash[1])
		return fail(err, errlen, -EINVAL, "'%s' names no object key (s3://BUCKET/KEY)",
		            url);
	if (slash[strlen(slash) - 1] == '/')
		return fail(err, errlen, -EINVAL,
		            "'%s' ends with '/', which names a folder: add the object's name", url);
	if (strlen(slash + 1) > MAX_KEY)
		return fail(err, errlen, -EINVAL, "the key in '%.60s...' is longer than %d bytes",
		            url, MAX_KEY);
	for (const char *p = slash + 1; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fail(err, errlen, -EINVAL,
			            "the key in '%s' holds a control character", url);
	*bucket = strndup(b, blen);
	*key = strdup(slash + 1);
	if (!*bucket || !*key) {
		free(*bucket);
		free(*key);
		*bucket = *key = NULL;
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- URI encoding ---- */

int s3_uri_encode(plumb_buffer *out, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
		bool plain = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
		             (keep_slash && *p == '/');
		int rc = plain ? plumb_buffer_append(out, p, 1) : plumb_buffer_append(out, esc, 3);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- The object's URL ---- */

/* A bucket name that works as a host name label under TLS. */
static bool dns_safe(const char *bucket)
{
	for (const char *p = bucket; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
			return false;
	return true;
}

static int parse_endpoint(const char *s, struct http_url *e, char *err, size_t errlen)
{
	switch (http_url_parse(s, e, NULL, 0)) {
	case HTTP_URL_OK:
		break;
	case HTTP_URL_NOMEM:
		return fail(err, errlen, -ENOMEM, "out of memory");
	case HTTP_URL_SCHEME:
		return fail(err, errlen, -EINVAL, "the endpoint '%s' is not http:// or https://",
		            s);
	case HTTP_URL_USERINFO:
	case HTTP_URL_FRAGMENT:
		goto extra;
	default:
		return fail(err, errlen, -EINVAL,
		            "the endpoint '%s' is not a URL like http://HOST:PORT", s);
	}
	if (e->path_len == strlen(e->target))
		return 0;
	http_url_release(e);
extra:
	return fail(err, errlen, -EINVAL,
	            "the endpoint '%s' has a query or user name: give only "
	            "scheme://host[:port][/path]",
	            s);
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The origin ("scheme://host[:port]") and path prefix (no trailing '/') of
 * the server, with the bucket in the host name when virtual. */
static int build_origin(const plumb_s3_options *o, const char *region, bool *virtual,
                        plumb_buffer *url, struct s3_target *t, char *err, size_t errlen)
{
	struct http_url e;
	const char *prefix;
	size_t plen;
	int rc;

	if (!o->endpoint) {
		*virtual = o->addressing != PLUMB_S3_ADDRESSING_PATH && dns_safe(o->bucket);
		t->peer = str_printf("s3.%s.amazonaws.com:443", region);
		if (!t->peer)
			return fail(err, errlen, -ENOMEM, "out of memory");
		rc = *virtual ? plumb_buffer_append(url, "https://", 8) ||
		                        plumb_buffer_append(url, o->bucket, strlen(o->bucket)) ||
		                        plumb_buffer_append(url, ".", 1)
		              : plumb_buffer_append(url, "https://", 8);
		if (rc || plumb_buffer_append(url, t->peer, strlen(t->peer) - 4))
			return fail(err, errlen, -ENOMEM, "out of memory");
		return 0;
	}
	if ((rc = parse_endpoint(o->endpoint, &e, err, errlen)) < 0)
		return rc;
	*virtual = o->addressing == PLUMB_S3_ADDRESSING_VIRTUAL;
	t->peer = strdup(e.peer);
	prefix = e.target;
	plen = e.path_len;
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	rc = !t->peer || plumb_buffer_append(url, e.scheme, strlen(e.scheme)) ||
	     plumb_buffer_append(url, "://", 3) ||
	     (*virtual && (plumb_buffer_append(url, o->bucket, strlen(o->bucket)) ||
	                   plumb_buffer_append(url, ".", 1))) ||
	     plumb_buffer_append(url, t->peer, strlen(t->peer)) ||
	     plumb_buffer_append(url, prefix, plen);
	http_url_release(&e);
	return rc ? fail(err, errlen, -ENOMEM, "out of memory") : 0;
}

int s3_target_init(struct s3_target *t, const plumb_s3_options *o, const char *region, char *err,
                   size_t errlen)
{
	plumb_buffer url;
	char why[256];
	bool virtual;
	int rc;

	memset(t, 0, sizeof *t);
	plumb_buffer_init(&url);
	if (strlen(region) > 64 || !*region || strchr(region, ':')) {
		rc = fail(err, errlen, -EINVAL, "'%s' is not a region name", region);
		goto fail;
	}
	snprintf(t->region, sizeof t->region, "%s", region);
	if ((rc = build_origin(o, region, &virtual, &url, t, err, errlen)) < 0)
		goto fail;
	if ((!virtual && (plumb_buffer_append(&url, "/", 1) < 0 ||
	                  s3_uri_encode(&url, o->bucket, false) < 0)) ||
	    plumb_buffer_append(&url, "/", 1) < 0 || s3_uri_encode(&url, o->key, true) < 0 ||
	    plumb_buffer_append(&url, "", 1) < 0) {
		rc = fail(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	t->url = (char *)url.data;
	t->name = str_printf("s3://%s/%s", o->bucket, o->key);
	if (!t->name) {
		rc = fail(err, errlen, -ENOMEM, "out of memory");
		goto fail_t;
	}
	switch (http_url_parse(t->url, &t->http, why, sizeof why)) {
	case HTTP_URL_OK:
		return 0;
	case HTTP_URL_NOMEM:
		rc = fail(err, errlen, -ENOMEM, "out of memory");
		break;
	default:
		rc = fail(err, errlen, -EINVAL, "bad URL %s: %s", t->url, why);
	}
	goto fail_t;
fail:
	plumb_buffer_release(&url);
fail_t:
	s3_target_release(t);
	return rc;
}

void s3_target_release(struct s3_target *t)
{
	free(t->url);
	free(t->peer);
	free(t->name);
	t->url = t->peer = t->name = NULL;
	http_url_release(&t->http);
}
