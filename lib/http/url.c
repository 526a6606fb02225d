/*
 * url.c - http:// and https:// URLs, split into what a request needs.
 *
 * scheme://host[:port][/path][?query]: the scheme case-insensitive, the host
 * a name, an IPv4 address or an IPv6 one in brackets.  The path and query
 * are kept byte for byte as the caller wrote them: S3 object URLs come
 * percent-encoded in SigV4's canonical form, and merging "./" or "//" or
 * re-encoding anything would change what the signature covers.  Bytes that
 * cannot go on a request line (spaces, controls, non-ASCII) are refused
 * rather than encoded, for the same reason.  User info and fragments are
 * refused with a sentence saying so: user info would be a password in the
 * open, and a fragment is never sent.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"

static enum http_url_error refuse(char *err, size_t errlen, enum http_url_error e, const char *fmt,
                                  ...) __attribute__((format(printf, 4, 5)));

static enum http_url_error refuse(char *err, size_t errlen, enum http_url_error e, const char *fmt,
                                  ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return e;
}

static bool host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* Host and port out of the authority [a, end). */
static enum http_url_error parse_authority(const char *a, const char *end, struct http_url *u,
                                           char *err, size_t errlen)
{
	const char *host = a, *host_end, *port = NULL;
	size_t n;

	if (memchr(a, '@', (size_t)(end - a)))
		return refuse(err, errlen, HTTP_URL_USERINFO,
		              "a user name in the URL is not supported (it would be sent in the "
		              "clear): pass credentials in a header");
	if (*a == '[') {
		host = a + 1;
		host_end = memchr(host, ']', (size_t)(end - host));
		if (!host_end)
			return refuse(err, errlen, HTTP_URL_MALFORMED,
			              "an IPv6 address without its closing ']'");
		for (const char *p = host; p < host_end; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return refuse(err, errlen, HTTP_URL_MALFORMED,
				              "'%.*s' is not an IPv6 address",
				              (int)(host_end - host), host);
		u->ipv6 = true;
		if (host_end + 1 < end) {
			if (host_end[1] != ':')
				return refuse(err, errlen, HTTP_URL_MALFORMED,
				              "junk after the IPv6 address");
			port = host_end + 2;
		}
	} else {
		host_end = memchr(a, ':', (size_t)(end - a));
		if (host_end)
			port = host_end + 1;
		else
			host_end = end;
		for (const char *p = host; p < host_end; p++)
			if (!host_char(*p))
				return refuse(err, errlen, HTTP_URL_MALFORMED,
				              "the host name '%.*s' holds a character that no host "
				              "name has",
				              (int)(host_end - host), host);
	}
	n = (size_t)(host_end - host);
	if (n == 0)
		return refuse(err, errlen, HTTP_URL_MALFORMED, "the URL names no host");
	if (n >= sizeof u->host)
		return refuse(err, errlen, HTTP_URL_MALFORMED, "the host name is too long");
	memcpy(u->host, host, n);
	u->host[n] = '\0';
	u->port = u->tls ? 443 : 80;
	if (port) {
		unsigned long v = 0;

		if (port == end)
			return refuse(err, errlen, HTTP_URL_MALFORMED, "an empty port number");
		for (const char *p = port; p < end; p++) {
			if (!isdigit((unsigned char)*p) ||
			    (v = v * 10 + (unsigned)(*p - '0')) > 65535)
				return refuse(err, errlen, HTTP_URL_MALFORMED,
				              "'%.*s' is not a port number", (int)(end - port),
				              port);
		}
		if (v == 0)
			return refuse(err, errlen, HTTP_URL_MALFORMED, "port 0 is not a port");
		u->port = (unsigned)v;
		u->port_given = true;
	}
	return HTTP_URL_OK;
}

enum http_url_error http_url_parse(const char *url, struct http_url *u, char *err, size_t errlen)
{
	const char *sep, *auth, *auth_end, *p;
	const char *host_fmt;
	enum http_url_error e;
	size_t slen;

	memset(u, 0, sizeof *u);
	if (err && errlen)
		err[0] = '\0';
	sep = url ? strstr(url, "://") : NULL;
	if (!sep)
		return refuse(err, errlen, HTTP_URL_MALFORMED,
		              "not a URL like http://HOST[:PORT]/PATH");
	slen = (size_t)(sep - url);
	if (slen == 4 && strncasecmp(url, "http", 4) == 0) {
		u->tls = false;
	} else if (slen == 5 && strncasecmp(url, "https", 5) == 0) {
		u->tls = true;
	} else {
		for (size_t i = 0; i < slen; i++)
			if (!isalnum((unsigned char)url[i]) && !strchr("+-.", url[i]))
				return refuse(err, errlen, HTTP_URL_MALFORMED,
				              "not a URL like http://HOST[:PORT]/PATH");
		return refuse(err, errlen, HTTP_URL_SCHEME,
		              "the scheme '%.*s' is not supported: only http:// and https://",
		              (int)(slen < 20 ? slen : 20), url);
	}
	snprintf(u->scheme, sizeof u->scheme, "%s", u->tls ? "https" : "http");
	auth = sep + 3;
	auth_end = auth + strcspn(auth, "/?#");
	if ((e = parse_authority(auth, auth_end, u, err, errlen)) != HTTP_URL_OK)
		return e;
	p = auth_end;
	if (strchr(p, '#'))
		return refuse(err, errlen, HTTP_URL_FRAGMENT,
		              "the URL has a #fragment, which is never sent: remove it");
	for (const char *q = p; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return refuse(err, errlen, HTTP_URL_MALFORMED,
			              "the URL holds a space, a control character or a byte "
			              "beyond ASCII: percent-encode it");
	if (*p == '/') {
		u->target = strdup(p);
	} else if (asprintf(&u->target, "/%s", p) < 0) {
		u->target = NULL;
	}
	if (!u->target)
		return refuse(err, errlen, HTTP_URL_NOMEM, "out of memory");
	u->path_len = strcspn(u->target, "?");
	host_fmt = u->ipv6 ? "[%s]" : "%s";
	snprintf(u->hostport, sizeof u->hostport, host_fmt, u->host);
	snprintf(u->peer, sizeof u->peer, "%s:%u", u->hostport, u->port);
	if (u->port != (u->tls ? 443u : 80u)) {
		size_t n = strlen(u->hostport);

		snprintf(u->hostport + n, sizeof u->hostport - n, ":%u", u->port);
	}
	return HTTP_URL_OK;
}

void http_url_release(struct http_url *u)
{
	free(u->target);
	u->target = NULL;
}
