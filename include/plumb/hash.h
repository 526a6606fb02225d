/*
 * plumb/hash.h - message digests computed while the bytes flow.
 *
 * A plumb_hash is a writer: whatever is written to it is hashed (OpenSSL 3
 * EVP underneath) and counted.  Put it behind a tee reader or in a multi
 * writer and the digest of a stream comes for free on the way.
 *
 * A hash has no lock: use each one from one thread at a time.  Different
 * hashes may be used by different threads at once, and plumb_hash_new may be
 * called from any thread (each algorithm is looked up in OpenSSL once per
 * process, the first time it is asked for).
 */
#ifndef PLUMB_HASH_H
#define PLUMB_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <plumb/io.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest digest any algorithm here produces (SHA-512, BLAKE2b-512). */
#define PLUMB_HASH_MAX_SIZE 64
/* Room for the hex form of the longest digest and its NUL. */
#define PLUMB_HASH_MAX_HEX (2 * PLUMB_HASH_MAX_SIZE + 1)

typedef struct plumb_hash plumb_hash;

/*
 * plumb_hash_new - a new hash of algorithm algo: "sha256", "sha1", "md5",
 * "sha224", "sha384", "sha512", "sha3-256", "sha3-512", "blake2b512",
 * "blake2s256" (case does not matter; "sha-256" and "SHA256" also name
 * sha256).  Stores it in *out and returns 0, or PLUMB_EALGO for a name it
 * does not know (or one this OpenSSL does not provide), or -ENOMEM; *out is
 * NULL after an error.
 */
int plumb_hash_new(plumb_hash **out, const char *algo);

/* Frees h (NULL is fine). */
void plumb_hash_free(plumb_hash *h);

/* The writer that feeds h; it lives as long as h (its free does nothing). */
plumb_writer *plumb_hash_writer(plumb_hash *h);

/* Hashes len bytes directly; returns 0 or a negative error. */
int plumb_hash_update(plumb_hash *h, const void *data, size_t len);

/* The canonical lowercase name ("sha256"), the coreutils/BSD tag ("SHA256"),
 * and the digest size in bytes.  The tags are what `sha256sum --tag` and its
 * siblings print (SHA1, MD5, SHA224, SHA384, SHA512, BLAKE2b for blake2b512)
 * and what `openssl dgst` prints for the others (SHA3-256, SHA3-512,
 * BLAKE2S-256); plumb_hash_new takes each tag as a name too. */
const char *plumb_hash_name(const plumb_hash *h);
const char *plumb_hash_tag(const plumb_hash *h);
size_t plumb_hash_size(const plumb_hash *h);

/* The number of bytes hashed since creation or the last reset. */
uint64_t plumb_hash_count(const plumb_hash *h);

/*
 * plumb_hash_sum - the digest of what was written so far, into out (len at
 * least plumb_hash_size).  h goes on accepting writes afterwards, as Go's
 * hash.Hash.Sum does.  Returns the digest size or a negative error.
 */
int plumb_hash_sum(plumb_hash *h, unsigned char *out, size_t len);

/* plumb_hash_hex - the digest in lowercase hex with a NUL, into hex (len at
 * least 2 * size + 1).  Returns the number of hex digits or < 0. */
int plumb_hash_hex(plumb_hash *h, char *hex, size_t len);

/* Starts over, as if just created. */
void plumb_hash_reset(plumb_hash *h);

/* The NULL-terminated list of canonical algorithm names plumb_hash_new takes. */
const char *const *plumb_hash_algorithms(void);

#ifdef __cplusplus
}
#endif
#endif
