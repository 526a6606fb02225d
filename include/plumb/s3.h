/*
 * plumb/s3.h - upload a stream of unknown length to S3, in constant memory.
 *
 * plumb_s3_upload reads a plumb_reader to its end and stores what it read as
 * one S3 object, the way `aws s3 cp - s3://bucket/key` does:
 *  - a stream shorter than one part (or exactly one part long) is sent as a
 *    single PutObject;
 *  - anything longer is a multipart upload: CreateMultipartUpload, parts
 *    uploaded by a few worker threads at once, CompleteMultipartUpload with
 *    the parts in order.  Every part and every PutObject carries Content-MD5
 *    and x-amz-checksum-sha256, and is signed with its payload's SHA-256
 *    (SigV4), so the server checks each byte three ways;
 *  - memory is a fixed set of concurrency + 1 part buffers: the calling
 *    thread fills a free one from the reader while the others are in flight,
 *    and when none is free it waits, so a fast producer is held back (through
 *    the pipe it writes into) instead of filling memory;
 *  - a part that fails for a reason that may pass (connection lost, stall,
 *    5xx, 429/503 SlowDown, 400 RequestTimeout) is sent again from its own
 *    buffer after an exponential backoff with full jitter, up to `retries`
 *    times; any other failure, or a cancel, ends the upload: in-flight parts
 *    are stopped, AbortMultipartUpload is sent, and no part and no half
 *    object is left behind;
 *  - the result is checked: each part's ETag must be its MD5, and the
 *    object's ETag must be md5(part MD5s)-N (or the MD5 for a PutObject).
 *
 * Part size.  The total size is unknown, and S3 allows at most 10,000 parts
 * of 5 MiB to 5 GiB (all but the last at least 5 MiB).  Parts 1 to 5,000 are
 * part_size long; from part 5,001 on, the size doubles every 500 parts
 * (capped at 5 GiB), so a stream can reach 6.4 TiB at the default 8 MiB
 * (S3 itself stops at 5 TiB) and 4.9 TiB at 5 MiB, while streams under
 * 5,000 x part_size (39 GiB by default) never see a larger part.  The buffers
 * are allocated once, at part_size; when the schedule steps up they are
 * reallocated, one at a time while free, to the new size, so the memory in
 * use is at most (concurrency + 1) x the part size in force.  Give
 * expected_size when the size is roughly known, and the starting part size is
 * raised so that it fits in 10,000 parts without any step.
 *
 * Threads.  plumb_s3_upload runs in the calling thread (the one that reads the
 * source) and, when a multipart upload begins, starts a plumb_pool
 * (plumb/batch.h) of `concurrency` threads of its own, which it stops before
 * it returns.  The pool's tasks compute each part's MD5 and SHA-256 and send
 * it; the calling thread only reads.  While it runs, other threads may set
 * *cancel (e.g. from a SIGINT handler) and read *o->progress.  The pool's
 * threads block all signals.
 *
 * The source and the producer.  On failure plumb_s3_upload stops reading and
 * returns; the producer writing into the pipe behind src may be blocked in a
 * write.  The caller must then close the pipe's read side with the error
 * (plumb_pipe_close_read(pipe, err)) so that the producer's thread finishes.
 * A cancel is seen between two reads: if the producer may be silent for long,
 * the caller should also close the pipe (either side) so that a read in
 * progress returns.
 */
#ifndef PLUMB_S3_H
#define PLUMB_S3_H

#include <stddef.h>
#include <stdint.h>

#include <plumb/error.h>
#include <plumb/io.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLUMB_S3_MIN_PART_SIZE     ((size_t)5 << 20) /* 5 MiB: S3's floor */
#define PLUMB_S3_MAX_PART_SIZE     ((size_t)5 << 30) /* 5 GiB: S3's ceiling */
#define PLUMB_S3_DEFAULT_PART_SIZE ((size_t)8 << 20) /* 8 MiB, as aws s3 cp */
#define PLUMB_S3_MAX_PARTS         10000
#define PLUMB_S3_MAX_CONCURRENCY   64

/* ---- s3:// URLs ---- */

/*
 * plumb_s3_parse_url - split "s3://BUCKET/KEY" into its bucket and key (new
 * strings the caller frees).  The key is everything after the first '/'
 * after the bucket, taken literally ('?', '#', spaces and all).  Returns 0,
 * or -EINVAL with a message in err (errlen bytes) when the URL is not of
 * that form: another scheme, no or a malformed bucket name, no key, a key
 * ending in '/', a key longer than 1024 bytes.
 */
int plumb_s3_parse_url(const char *url, char **bucket, char **key, char *err, size_t errlen);

/* ---- Credentials and region, found as the AWS tools find them ---- */

typedef struct plumb_s3_credentials {
	char *access_key_id;
	char *secret_access_key;
	char *session_token; /* NULL when there is none */
	char source[384];    /* where they were found, for messages */
} plumb_s3_credentials;

/*
 * plumb_s3_credentials_load - find the credentials to sign with.  With
 * profile NULL: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with
 * AWS_SESSION_TOKEN) when both are set, else the profile named by
 * AWS_PROFILE (or "default") in the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials), then in the
 * config file (AWS_CONFIG_FILE, default ~/.aws/config, sections
 * "[profile NAME]").  A profile given explicitly skips the environment's
 * keys, as `aws --profile` does.  Fills c (release it with
 * plumb_s3_credentials_release) and returns 0, or returns -ENOENT (nothing
 * found), -EINVAL (half a key pair, a malformed file) or -ENOMEM with a
 * message in err.
 */
int plumb_s3_credentials_load(plumb_s3_credentials *c, const char *profile, char *err,
                              size_t errlen);

/* Frees what c holds (the strings are wiped first); c is all NULL after. */
void plumb_s3_credentials_release(plumb_s3_credentials *c);

/*
 * plumb_s3_region_load - the region to sign for: AWS_REGION, else
 * AWS_DEFAULT_REGION, else the profile's `region` in the config file (the
 * profile chosen as for credentials), else "us-east-1".  Writes it to region
 * (len bytes).  Returns 0, or -EINVAL (a malformed config file, a region that
 * does not fit) with a message in err.
 */
int plumb_s3_region_load(char *region, size_t len, const char *profile, char *err, size_t errlen);

/* ---- Upload ---- */

enum plumb_s3_addressing {
	PLUMB_S3_ADDRESSING_AUTO = 0, /* path-style with an endpoint; virtual-hosted on AWS */
	PLUMB_S3_ADDRESSING_PATH,     /* ENDPOINT/BUCKET/KEY */
	PLUMB_S3_ADDRESSING_VIRTUAL,  /* BUCKET.HOST/KEY */
};

typedef struct plumb_s3_options {
	const char *bucket, *key; /* required (see plumb_s3_parse_url) */
	/* "http[s]://host[:port][/prefix]" of an S3-compatible server; NULL:
	 * AWS, https://s3.REGION.amazonaws.com. */
	const char *endpoint;
	int addressing;     /* enum plumb_s3_addressing */
	const char *region; /* NULL: plumb_s3_region_load(profile) */
	const char *profile;
	/* NULL: plumb_s3_credentials_load(profile).  Not copied: must outlive
	 * the call. */
	const plumb_s3_credentials *credentials;
	const char *content_type; /* the object's Content-Type; NULL: application/octet-stream */
	size_t part_size;         /* default PLUMB_S3_DEFAULT_PART_SIZE; 5 MiB..5 GiB */
	uint64_t expected_size;   /* 0 when unknown (see the top of this file) */
	int concurrency;          /* parts in flight, 1..64; default 4 */
	int retries;              /* further attempts of a failed request; default 5 */
	long backoff_base_ms;     /* first backoff ceiling; default 100 */
	long backoff_cap_ms;      /* largest backoff ceiling; default 20000 */
	long connect_timeout_ms;  /* default 10 s */
	/* A request that moves no byte either way for this long is dropped
	 * (and retried).  Default 60 s. */
	long stall_timeout_ms;
	const char *ca_file; /* PEM bundle of trusted CAs; NULL: the system's */
	int insecure;        /* nonzero: do not verify the server's certificate */
	/* Nonzero (the default): the ETags must be the MD5s they are on
	 * unencrypted and SSE-S3 objects; clear it for SSE-KMS/SSE-C buckets. */
	int verify_etag;
	_Atomic uint64_t *progress; /* if not NULL, bytes the server has acknowledged */
} plumb_s3_options;

typedef struct plumb_s3_result {
	char etag[128];     /* the object's ETag, without its quotes */
	char *upload_id;    /* the multipart upload's id (malloc'd), or NULL */
	uint64_t bytes;     /* bytes read from the source */
	unsigned parts;     /* parts uploaded; 0 when it was a single PutObject */
	size_t part_size;   /* the first part size used */
	unsigned requests;  /* HTTP requests made, retries included */
	unsigned retries;   /* of which repeats of a failed request */
	int aborted;        /* the multipart upload was aborted */
	size_t buffers;     /* part buffers allocated (at most concurrency + 1) */
	size_t buffer_peak; /* the most bytes of part buffers allocated at once */
	char message[1024]; /* what went wrong, for a person; "" on success */
} plumb_s3_result;

/* Fills o with the defaults documented above (strings NULL, verify_etag 1). */
void plumb_s3_options_init(plumb_s3_options *o);

/*
 * plumb_s3_upload - read src to its end and store it as the object o->bucket,
 * o->key (see the top of this file for how).  cancel may be NULL.  res is
 * filled in every case (release it with plumb_s3_result_release).  Returns 0
 * once the object is stored and checked, or a negative error with
 * res->message saying what failed and what was cleaned up:
 *   -EINVAL        bad options (a part size out of range, ...): no request sent
 *   -ENOENT        no credentials found: no request sent
 *   PLUMB_ESERVER  the server refused a request (the message has the
 *                  operation, the part number, the HTTP status and the
 *                  server's error Code and Message)
 *   -ECANCELED     *cancel became nonzero
 *   -EFBIG         the stream needs more than 10,000 parts (or expected_size
 *                  is beyond them)
 *   -ECONNREFUSED, -ETIMEDOUT, ... the server could not be reached (after
 *                  the retries)
 *   <src's error>  reading the source failed
 * src is not closed or freed.
 */
int plumb_s3_upload(const plumb_s3_options *o, plumb_reader *src, const _Atomic int *cancel,
                    plumb_s3_result *res);

/* Frees what res holds (its upload_id). */
void plumb_s3_result_release(plumb_s3_result *res);

/*
 * plumb_s3_part_size - the size of part number partno (1-based) for a
 * starting size of part_size, by the schedule described at the top of this
 * file.  For planning and tests.
 */
size_t plumb_s3_part_size(size_t part_size, unsigned partno);

#ifdef __cplusplus
}
#endif
#endif
