/*
 * sigv4.c - AWS Signature Version 4 for S3 requests, and the SHA-256 and
 * HMAC-SHA256 it is made of.
 *
 * The algorithm (AWS's "Signature Version 4 signing process"):
 *   canonical request = METHOD \n canonical URI \n canonical query \n
 *                       canonical headers \n signed headers \n payload hash
 *   string to sign    = "AWS4-HMAC-SHA256" \n x-amz-date \n scope \n
 *                       hex(SHA-256(canonical request))
 *   scope             = DATE/REGION/s3/aws4_request
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, DATE), REGION),
 *                       "s3"), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 * The canonical URI and query come from the callers already canonical
 * (url.c encodes keys byte by byte, queries are written sorted with "k=" for
 * bare keys), so they are used as they are: S3 signs the path as sent,
 * without normalising it.  Headers: names in lower case, values trimmed
 * with inner runs of blanks made one space, sorted by name; every header
 * given is signed, and host with them.
 *
 * SHA-256 is OpenSSL's low-level SHA256_* (deprecated in 3.0 in favour of
 * EVP, whose provider start-up maps about 1.8 MiB of libcrypto that the
 * export's memory budget cannot spare); HMAC is built on it here (RFC 2104).
 * tests/unit/test_s3.c checks the signer on AWS's published example and
 * every request of real uploads against botocore's signer.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <ctype.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3-internal.h"

void s3_sha256(const void *data, size_t len, unsigned char out[32])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, data, len);
	SHA256_Final(out, &c);
}

void s3_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                    unsigned char out[32])
{
	unsigned char k[64] = {0}, pad[64], inner[32];
	SHA256_CTX c;

	if (klen > sizeof k)
		s3_sha256(key, klen, k);
	else
		memcpy(k, key, klen);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	SHA256_Init(&c);
	SHA256_Update(&c, pad, sizeof pad);
	SHA256_Update(&c, msg, mlen);
	SHA256_Final(inner, &c);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	SHA256_Init(&c);
	SHA256_Update(&c, pad, sizeof pad);
	SHA256_Update(&c, inner, sizeof inner);
	SHA256_Final(out, &c);
}

/* One header in canonical form. */
struct canon {
	char name[64];
	const char *value; /* as given; trimmed when written */
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct canon *)a)->name, ((const struct canon *)b)->name);
}

/* Appends value trimmed, with each inner run of blanks made one space. */
static int append_trimmed(plumb_buffer *b, const char *v)
{
	bool space = false;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space && plumb_buffer_append(b, " ", 1) < 0)
			return -ENOMEM;
		space = false;
		if (plumb_buffer_append(b, v, 1) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int add(plumb_buffer *b, const char *s)
{
	return plumb_buffer_append(b, s, strlen(s));
}

int s3_sigv4_authorization(const struct s3_sigv4 *in, char *out, size_t len)
{
	struct canon h[S3_MAX_HEADERS + 2];
	size_t n = 0;
	plumb_buffer cr, signed_names;
	unsigned char hash[32], k1[32], k2[32], k3[32], k4[32], sig[32];
	char hash_hex[65], sig_hex[65], date[9], secret[160], sts[400];
	int rc = -ENOMEM, w;

	if (in->nheaders > S3_MAX_HEADERS || strlen(in->amz_date) != 16 ||
	    strlen(in->secret_key) > sizeof secret - 5)
		return -EINVAL;
	snprintf(h[n].name, sizeof h[n].name, "host");
	h[n++].value = in->host;
	for (size_t i = 0; i < in->nheaders; i++) {
		const char *line = in->headers[i], *colon = strchr(line, ':');
		size_t nl = colon ? (size_t)(colon - line) : 0;

		if (!colon || nl == 0 || nl >= sizeof h[n].name)
			return -EINVAL;
		for (size_t j = 0; j < nl; j++)
			h[n].name[j] = (char)tolower((unsigned char)line[j]);
		h[n].name[nl] = '\0';
		h[n++].value = colon + 1;
	}
	qsort(h, n, sizeof h[0], by_name);

	plumb_buffer_init(&cr);
	plumb_buffer_init(&signed_names);
	if (add(&cr, in->method) < 0 || add(&cr, "\n") < 0 ||
	    plumb_buffer_append(&cr, in->path, in->path_len) < 0 || add(&cr, "\n") < 0 ||
	    add(&cr, in->query ? in->query : "") < 0 || add(&cr, "\n") < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (add(&cr, h[i].name) < 0 || add(&cr, ":") < 0 ||
		    append_trimmed(&cr, h[i].value) < 0 || add(&cr, "\n") < 0 ||
		    (i > 0 && add(&signed_names, ";") < 0) || add(&signed_names, h[i].name) < 0)
			goto out;
	}
	if (add(&cr, "\n") < 0 ||
	    plumb_buffer_append(&cr, plumb_buffer_bytes(&signed_names),
	                        plumb_buffer_len(&signed_names)) < 0 ||
	    add(&cr, "\n") < 0 || add(&cr, in->payload_sha256_hex) < 0 ||
	    plumb_buffer_append(&signed_names, "", 1) < 0)
		goto out;
	s3_sha256(plumb_buffer_bytes(&cr), plumb_buffer_len(&cr), hash);
	s3_hex(hash, 32, hash_hex);

	memcpy(date, in->amz_date, 8);
	date[8] = '\0';
	w = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s",
	             in->amz_date, date, in->region, hash_hex);
	rc = -EINVAL;
	if (w < 0 || (size_t)w >= sizeof sts)
		goto out;
	snprintf(secret, sizeof secret, "AWS4%s", in->secret_key);
	s3_hmac_sha256(secret, strlen(secret), date, 8, k1);
	s3_hmac_sha256(k1, 32, in->region, strlen(in->region), k2);
	s3_hmac_sha256(k2, 32, "s3", 2, k3);
	s3_hmac_sha256(k3, 32, "aws4_request", 12, k4);
	s3_hmac_sha256(k4, 32, sts, (size_t)w, sig);
	s3_hex(sig, 32, sig_hex);
	explicit_bzero(secret, sizeof secret);
	explicit_bzero(k4, sizeof k4);

	w = snprintf(out, len,
	             "AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, SignedHeaders=%s, "
	             "Signature=%s",
	             in->access_key, date, in->region,
	             (const char *)plumb_buffer_bytes(&signed_names), sig_hex);
	rc = w < 0 || (size_t)w >= len ? -ENOSPC : 0;
out:
	plumb_buffer_release(&cr);
	plumb_buffer_release(&signed_names);
	return rc;
}
