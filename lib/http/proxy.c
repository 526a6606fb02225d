/*
 * proxy.c - which proxy, if any, a URL goes through, from the environment,
 * as curl and the AWS CLI read it.
 *
 * http:// URLs use http_proxy, in lower case only: HTTP_PROXY is ignored as
 * curl ignores it ("httpoxy": a CGI program gets HTTP_PROXY from a request's
 * "Proxy:" header).  https:// URLs use https_proxy, else HTTPS_PROXY.  An
 * empty value means no proxy.  no_proxy (else NO_PROXY) lists the hosts that
 * are reached directly: comma-separated entries, whitespace around them
 * ignored, case-insensitive; "*" alone is every host; a name matches itself
 * and its subdomains (a leading dot is allowed and changes nothing); an IP
 * address matches itself and an address/bits range matches the addresses of
 * its family in it (only when the URL's host is written as an address: no
 * name is resolved for this); an entry may end with :PORT (an IPv6 address
 * then in brackets), and then only matches URLs on that port.  Nothing is
 * exempt unless listed, localhost included (curl does the same).
 *
 * A proxy is http://[USER[:PASSWORD]@]HOST[:PORT][/], or HOST[:PORT] without
 * a scheme; the port defaults to 1080, as curl's does.  USER and PASSWORD
 * are percent-decoded and sent as Proxy-Authorization: Basic.  Proxies
 * spoken to over TLS (https://) and SOCKS are refused with a sentence saying
 * so.  Messages name the proxy as HOST:PORT, never its credentials.
 *
 * The variables are read for every exchange (getenv only: nothing is
 * cached), so a change between two exchanges is seen by the second.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "client.h"

/* The value of the first of names that is set (empty included), and which. */
static const char *env_first(const char *const *names, const char **which)
{
	for (; *names; names++) {
		const char *v = getenv(*names);

		if (v) {
			*which = *names;
			return v;
		}
	}
	return NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* [s, s + n) percent-decoded into out (of len bytes, NUL-terminated): the
 * length, or -1 when it does not fit or holds a bad escape. */
static int pct_decode(const char *s, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}

/* Parses the proxy URL v (from the variable var) into p: 0, or -1 with a
 * sentence in err. */
static int parse_proxy(const char *v, const char *var, struct http_proxy *p, char *err,
                       size_t errlen)
{
	const char *sep = strstr(v, "://"), *auth = v, *end, *at;
	char url[400], cred[300];
	char why[200];
	int n;

	if (sep) {
		size_t slen = (size_t)(sep - v);

		if (slen == 5 && strncasecmp(v, "https", 5) == 0) {
			snprintf(err, errlen,
			         "the proxy in %s is an https:// one (TLS to the proxy), which is "
			         "not supported: use http://HOST:PORT",
			         var);
			return -1;
		}
		if (slen != 4 || strncasecmp(v, "http", 4) != 0) {
			snprintf(err, errlen,
			         "the proxy in %s has the scheme '%.*s', which is not supported: "
			         "only http://HOST:PORT proxies are",
			         var, (int)(slen < 20 ? slen : 20), v);
			return -1;
		}
		auth = sep + 3;
	}
	end = auth + strcspn(auth, "/?#");
	if (*end && strcmp(end, "/") != 0) {
		snprintf(err, errlen,
		         "the proxy in %s is not like http://HOST:PORT (it has a path)", var);
		return -1;
	}
	at = memrchr(auth, '@', (size_t)(end - auth));
	p->auth[0] = '\0';
	if (at) {
		unsigned char raw[300];
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		int ulen =
		        pct_decode(auth, (size_t)((colon ? colon : at) - auth), cred, sizeof cred);
		int plen = 0;

		if (ulen >= 0 && colon)
			plen = pct_decode(colon + 1, (size_t)(at - colon - 1), cred + ulen + 1,
			                  sizeof cred - (size_t)ulen - 1);
		if (ulen < 0 || plen < 0) {
			snprintf(err, errlen,
			         "the credentials of the proxy in %s are too long or hold a bad "
			         "%%-escape",
			         var);
			return -1;
		}
		cred[ulen] = ':';
		memcpy(raw, cred, (size_t)(ulen + 1 + plen));
		n = snprintf(p->auth, sizeof p->auth, "Basic ");
		EVP_EncodeBlock((unsigned char *)p->auth + n, raw, ulen + 1 + plen);
		OPENSSL_cleanse(raw, sizeof raw);
		OPENSSL_cleanse(cred, sizeof cred);
		auth = at + 1;
	}
	n = snprintf(url, sizeof url, "http://%.*s/", (int)(end - auth), auth);
	if (n < 0 || (size_t)n >= sizeof url ||
	    http_url_parse(url, &p->at, why, sizeof why) != HTTP_URL_OK) {
		http_url_release(&p->at);
		snprintf(err, errlen, "the proxy in %s is not like http://HOST:PORT: %s", var,
		         n > 0 && (size_t)n < sizeof url ? why : "too long");
		return -1;
	}
	http_url_release(&p->at); /* its target ("/") is never used */
	if (!p->at.port_given)
		p->at.port = 1080;
	snprintf(p->at.peer, sizeof p->at.peer, p->at.ipv6 ? "[%s]:%u" : "%s:%u", p->at.host,
	         p->at.port);
	snprintf(p->from, sizeof p->from, "%s", var);
	return 0;
}

/* Whether the address text a (an IPv4 or IPv6 literal) parses; into out. */
static int parse_ip(const char *a, unsigned char out[16])
{
	struct in_addr v4;

	if (inet_pton(AF_INET6, a, out) == 1)
		return AF_INET6;
	if (inet_pton(AF_INET, a, out) == 1)
		return AF_INET;
	if (inet_aton(a, &v4)) { /* 127.1 and the like, as the connection reads them */
		memcpy(out, &v4, 4);
		return AF_INET;
	}
	return 0;
}

/* Whether the first bits of a and b agree. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	return rest == 0 || ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Whether one no_proxy entry (trimmed, lower case, not empty) matches u. */
static bool entry_matches(char *e, const struct http_url *u)
{
	char *host = e, *port = NULL, *slash, *colon;
	unsigned char want[16], have[16];
	int fam, tfam;
	size_t hl, el;

	if (*e == '[') {
		char *close = strchr(e, ']');

		if (!close)
			return false;
		*close = '\0';
		host = e + 1;
		if (close[1] == ':')
			port = close + 2;
	} else if ((colon = strchr(e, ':')) && !strchr(colon + 1, ':')) {
		*colon = '\0'; /* one colon: NAME:PORT or IPv4:PORT; more: IPv6 */
		port = colon + 1;
	}
	if (port && (unsigned long)atol(port) != u->port)
		return false;
	while (*host == '.')
		host++;
	hl = strlen(host);
	while (hl > 0 && host[hl - 1] == '.')
		host[--hl] = '\0';
	if (!*host)
		return false;
	tfam = parse_ip(u->host, have);
	slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	fam = parse_ip(host, want);
	if (fam) {
		unsigned max = fam == AF_INET ? 32 : 128, bits = max;

		if (slash) {
			char *end;
			long b = strtol(slash + 1, &end, 10);

			if (end == slash + 1 || *end || b < 0 || b > (long)max)
				return false;
			bits = (unsigned)b;
		}
		return tfam == fam && prefix_equal(want, have, bits);
	}
	if (slash || tfam)
		return false;
	el = strlen(host);
	hl = strlen(u->host);
	while (hl > 0 && u->host[hl - 1] == '.')
		hl--;
	if (hl < el || strncasecmp(u->host + hl - el, host, el) != 0)
		return false;
	return hl == el || u->host[hl - el - 1] == '.';
}

bool http_no_proxy_match(const char *list, const struct http_url *u)
{
	const char *p = list;

	while (p && *p) {
		size_t n = strcspn(p, ",");
		char e[300];
		size_t a = 0, b = n;

		while (a < b && isspace((unsigned char)p[a]))
			a++;
		while (b > a && isspace((unsigned char)p[b - 1]))
			b--;
		if (b > a && b - a < sizeof e) {
			for (size_t i = a; i < b; i++)
				e[i - a] = (char)tolower((unsigned char)p[i]);
			e[b - a] = '\0';
			if (strcmp(e, "*") == 0 || entry_matches(e, u))
				return true;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

int http_proxy_for(const struct http_url *u, struct http_proxy *p, char *err, size_t errlen)
{
	static const char *const http_vars[] = {"http_proxy", NULL};
	static const char *const https_vars[] = {"https_proxy", "HTTPS_PROXY", NULL};
	static const char *const no_vars[] = {"no_proxy", "NO_PROXY", NULL};
	const char *var = NULL, *nvar = NULL;
	const char *v = env_first(u->tls ? https_vars : http_vars, &var);
	const char *no = env_first(no_vars, &nvar);

	memset(p, 0, sizeof *p);
	if (!v)
		return 0;
	while (isspace((unsigned char)*v))
		v++;
	if (!*v)
		return 0;
	if (no && http_no_proxy_match(no, u))
		return 0;
	return parse_proxy(v, var, p, err, errlen) < 0 ? -1 : 1;
}
