/*
 * s3-internal.h - what the files of lib/s3 share and nobody else needs.
 *
 * The layers, bottom up:
 *   url.c        s3:// URLs, the object's HTTP URL, URI encoding
 *   profile.c    credentials and region from the environment and ~/.aws
 *   digest.c     a part's MD5 and SHA-256 in one pass, hex and base64
 *   xml.c        S3's XML replies (expat) and escaping for the one we send
 *   sigv4.c      AWS Signature Version 4, SHA-256 and HMAC-SHA256
 *   request.c    one signed S3 request over lib/http's client, retried
 *                with backoff
 *   upload.c     plumb_s3_upload: buffers, reading, parts (sent from a
 *                plumb_pool of the batch library), complete/abort
 */
#ifndef PLUMB_S3_INTERNAL_H
#define PLUMB_S3_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <plumb/hash.h>
#include <plumb/io.h>
#include <plumb/s3.h>

#include "http/client.h"

/* ---- url.c ---- */

/* Appends s to out, percent-encoding every byte but A-Z a-z 0-9 - . _ ~ (and
 * '/' when keep_slash), as SigV4's canonical form wants.  0 or -ENOMEM. */
int s3_uri_encode(plumb_buffer *out, const char *s, bool keep_slash);

/* Where the object lives, worked out once per upload. */
struct s3_target {
	char *url;            /* scheme://host[:port][/prefix]/[bucket/]encoded-key */
	char *peer;           /* "host:port", for messages */
	char *name;           /* "s3://bucket/key", for messages */
	char region[65];      /* what requests are signed for */
	struct http_url http; /* url, parsed once */
};

/* Fills t from o (endpoint, addressing, bucket, key) and region.  0, or
 * -EINVAL/-ENOMEM with a message in err. */
int s3_target_init(struct s3_target *t, const plumb_s3_options *o, const char *region, char *err,
                   size_t errlen);
void s3_target_release(struct s3_target *t);

/* ---- digest.c ---- */

/* The digests of one body, in every form the requests need. */
struct s3_digest {
	unsigned char md5[16], sha256[32];
	char md5_hex[33], sha256_hex[65];
	char md5_b64[25], sha256_b64[45];
};

/* Two hashes kept by a thread and reused for every body it digests. */
struct s3_hasher {
	plumb_hash *md5, *sha256;
};

int s3_hasher_init(struct s3_hasher *h);
void s3_hasher_release(struct s3_hasher *h);

/* Computes both digests of data in one pass over it.  0 or < 0. */
int s3_digest(struct s3_hasher *h, const void *data, size_t len, struct s3_digest *d);

void s3_hex(const unsigned char *in, size_t n, char *out);    /* out: 2n + 1 */
void s3_base64(const unsigned char *in, size_t n, char *out); /* out: 4 ceil(n/3) + 1 */

/* ---- sigv4.c ---- */

/* The most headers a signed request carries besides Host. */
#define S3_MAX_HEADERS 8

/* What a signature covers. */
struct s3_sigv4 {
	const char *method;
	const char *path; /* the canonical URI: the encoded path as sent */
	size_t path_len;
	const char *query;          /* canonical (sorted, encoded, "k=" for bare keys) or NULL */
	const char *host;           /* the Host header's value */
	const char *const *headers; /* the other headers to sign, "Name: value" */
	size_t nheaders;
	const char *payload_sha256_hex;
	const char *access_key, *secret_key, *region;
	const char *amz_date; /* "YYYYMMDDTHHMMSSZ", also sent as x-amz-date */
};

/* Writes the Authorization header's value for in into out.  0, -EINVAL
 * (too many or malformed headers), -ENOSPC (out too small), -ENOMEM. */
int s3_sigv4_authorization(const struct s3_sigv4 *in, char *out, size_t len);

void s3_sha256(const void *data, size_t len, unsigned char out[32]);
void s3_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                    unsigned char out[32]);

/* ---- xml.c ---- */

/* What plumb needs out of any S3 reply: the root element's name and the
 * text of some of its children (truncated to fit). */
struct s3_xml {
	char root[64];
	char code[64];
	char message[400];
	char upload_id[512];
	char etag[128];
	char request_id[128];
};

/* Parses an XML reply.  0, or PLUMB_EFORMAT (x->root is then ""). */
int s3_xml_parse(const char *body, size_t len, struct s3_xml *x);

/* Appends s with & < > escaped.  0 or -ENOMEM. */
int s3_xml_escape(plumb_buffer *out, const char *s);

/* ---- request.c ---- */

/* What every request of one upload shares.  Read-only while requests run,
 * but for the counters. */
struct s3_client {
	const struct s3_target *target;
	const plumb_s3_credentials *cred;
	char *token_header; /* "x-amz-security-token: ...", or NULL */
	const plumb_s3_options *o;
	const _Atomic int *cancel; /* the caller's flag, or NULL */
	_Atomic int stop;          /* set when the upload is ending: requests give up */
	_Atomic unsigned requests, retries;
};

/* One request and, once made, its answer. */
struct s3_request {
	/* In. */
	const char *op;     /* "UploadPart 3", "CompleteMultipartUpload"... */
	const char *method; /* PUT, POST, DELETE, HEAD */
	const char *query;  /* canonical (sorted, encoded, "k=" for bare keys) or NULL */
	const unsigned char *body;
	size_t len;
	const char *sha256_hex; /* of body; NULL: of the empty string */
	char headers[4][600];   /* more headers, "Name: value" (s3_add_header) */
	unsigned nheaders;
	bool must_finish; /* an abort: ignore cancel and stop, make it go out */

	/* Out. */
	long status;       /* final HTTP status, 0 if none */
	char etag[128];    /* the ETag header, without quotes */
	struct s3_xml xml; /* the reply parsed, when it is XML */
	int attempts;
	char err[700]; /* why it failed, for a person */
};

/* Adds a header to rq (formatted, truncated to 599 bytes).  0, or -ENOSPC
 * when rq holds 4 already. */
int s3_add_header(struct s3_request *rq, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Makes rq, retrying what may pass.  Returns 0 on a 2xx reply that is not an
 * XML <Error>, else a negative error with rq->err filled in.  conn is the
 * calling thread's connection handle (kept alive from request to request). */
int s3_call(struct s3_client *cl, struct http_conn *conn, struct s3_request *rq);

/* True when the caller cancelled. */
bool s3_cancelled(const struct s3_client *cl);

/* ---- upload.c ---- */

/* The most parts an upload may have: PLUMB_S3_MAX_PARTS, lowered by tests. */
extern unsigned s3_max_parts;

#endif
