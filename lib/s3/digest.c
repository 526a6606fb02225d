/*
 * digest.c - a body's MD5 and SHA-256, together, and the forms S3 wants.
 *
 * Every part and PutObject carries both: Content-MD5 (base64 of the MD5),
 * x-amz-checksum-sha256 (base64 of the SHA-256) and x-amz-content-sha256
 * (hex of the SHA-256, what SigV4 signs).  A part is several MiB, more than
 * the caches hold, so the two hashes walk it together in slices that stay in
 * L2 rather than reading the whole part from memory twice.  The hashes are
 * plumb_hash objects kept by each worker and reset per part, so nothing is
 * allocated per part.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "s3-internal.h"

/* Both hashes see each slice while it is still in cache. */
#define SLICE (64 * 1024)

int s3_hasher_init(struct s3_hasher *h)
{
	int rc;

	h->md5 = h->sha256 = NULL;
	if ((rc = plumb_hash_new(&h->md5, "md5")) < 0 ||
	    (rc = plumb_hash_new(&h->sha256, "sha256")) < 0) {
		s3_hasher_release(h);
		return rc;
	}
	return 0;
}

void s3_hasher_release(struct s3_hasher *h)
{
	plumb_hash_free(h->md5);
	plumb_hash_free(h->sha256);
	h->md5 = h->sha256 = NULL;
}

void s3_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void s3_base64(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int s3_digest(struct s3_hasher *h, const void *data, size_t len, struct s3_digest *d)
{
	const unsigned char *p = data;
	int rc;

	plumb_hash_reset(h->md5);
	plumb_hash_reset(h->sha256);
	for (size_t off = 0; off < len; off += SLICE) {
		size_t n = len - off < SLICE ? len - off : SLICE;

		if ((rc = plumb_hash_update(h->md5, p + off, n)) < 0 ||
		    (rc = plumb_hash_update(h->sha256, p + off, n)) < 0)
			return rc;
	}
	if ((rc = plumb_hash_sum(h->md5, d->md5, sizeof d->md5)) < 0 ||
	    (rc = plumb_hash_sum(h->sha256, d->sha256, sizeof d->sha256)) < 0)
		return rc;
	s3_hex(d->md5, sizeof d->md5, d->md5_hex);
	s3_hex(d->sha256, sizeof d->sha256, d->sha256_hex);
	s3_base64(d->md5, sizeof d->md5, d->md5_b64);
	s3_base64(d->sha256, sizeof d->sha256, d->sha256_b64);
	return 0;
}
