/*
 * hash.c - message digests as writers, over OpenSSL 3.
 *
 * A plumb_hash holds a digest context and counts what goes through it; its
 * embedded plumb_writer makes it a place a tee or a multi writer can send
 * bytes to, so a stream is hashed on its way somewhere else.
 *
 * Why the details look as they do:
 *  - MD5 and the SHA-1 and SHA-2 families go straight to OpenSSL's digest
 *    functions (SHA256_Update and friends: the same assembly EVP ends up
 *    in, SHA-NI included), not through EVP.  EVP's first fetch starts the
 *    provider machinery, which maps 1.8 MiB of libcrypto into the process:
 *    more than all the rest of an export to stdout needs.  These functions
 *    are deprecated in OpenSSL 3 (OPENSSL_SUPPRESS_DEPRECATED below) but
 *    still the supported way to that code without providers.  SHA-3 and
 *    BLAKE2, which have no such functions, go through EVP.
 *  - EVP_MD_fetch looks the algorithm up in the provider tables, which takes
 *    locks and a search; doing it for every new hash would cost more than
 *    hashing a small file.  So each algorithm is fetched once, the first time
 *    it is asked for, and the EVP_MD is kept for the life of the process in
 *    an atomic pointer (two threads racing both fetch; one keeps its copy,
 *    the other frees its own).
 *  - Go's hash.Hash lets Sum be called in the middle of a stream and keep
 *    going.  Finalizing ends a context, so sum finalizes a copy (a plain
 *    copy of a direct context; EVP_MD_CTX_copy_ex into a scratch context
 *    kept with the hash).
 *  - Names are matched without regard to case, against the canonical name,
 *    the coreutils/BSD tag and a few common spellings ("sha-256",
 *    "sha2-256", OpenSSL's "blake2b-512"), so the tag read back from a
 *    checksum list names the algorithm that wrote it.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <plumb/hash.h>

/* A digest OpenSSL offers without EVP: its context and three calls. */
union direct_ctx {
	MD5_CTX md5;
	SHA_CTX sha1;
	SHA256_CTX sha256; /* SHA-224 and SHA-256 */
	SHA512_CTX sha512; /* SHA-384 and SHA-512 */
};

struct direct {
	int (*init)(union direct_ctx *c);
	int (*update)(union direct_ctx *c, const void *data, size_t len);
	int (*final)(unsigned char *md, union direct_ctx *c);
};

#define DIRECT(name, field, PREFIX)                                                               \
	static int name##_init(union direct_ctx *c)                                               \
	{                                                                                         \
		return PREFIX##_Init(&c->field);                                                  \
	}                                                                                         \
	static int name##_update(union direct_ctx *c, const void *data, size_t len)               \
	{                                                                                         \
		return PREFIX##_Update(&c->field, data, len);                                     \
	}                                                                                         \
	static int name##_final(unsigned char *md, union direct_ctx *c)                           \
	{                                                                                         \
		return PREFIX##_Final(md, &c->field);                                             \
	}                                                                                         \
	static const struct direct name = {name##_init, name##_update, name##_final};

DIRECT(d_md5, md5, MD5)
DIRECT(d_sha1, sha1, SHA1)
DIRECT(d_sha224, sha256, SHA224)
DIRECT(d_sha256, sha256, SHA256)
DIRECT(d_sha384, sha512, SHA384)
DIRECT(d_sha512, sha512, SHA512)

/* One algorithm: its names, what OpenSSL calls it, its digest size. */
struct algo {
	const char *name;       /* canonical, lowercase: what plumb_hash_name says */
	const char *tag;        /* coreutils --tag form, or openssl dgst's */
	const char *ossl;       /* the name EVP_MD_fetch takes */
	const char *aliases[3]; /* other accepted spellings (NULL-padded) */
	size_t size;            /* digest bytes */
	const struct direct *direct; /* NULL: through EVP */
};

static const struct algo algos[] = {
        {"sha256", "SHA256", "SHA2-256", {"sha-256", "sha2-256"}, 32, &d_sha256},
        {"sha1", "SHA1", "SHA1", {"sha-1"}, 20, &d_sha1},
        {"md5", "MD5", "MD5", {NULL}, 16, &d_md5},
        {"sha224", "SHA224", "SHA2-224", {"sha-224", "sha2-224"}, 28, &d_sha224},
        {"sha384", "SHA384", "SHA2-384", {"sha-384", "sha2-384"}, 48, &d_sha384},
        {"sha512", "SHA512", "SHA2-512", {"sha-512", "sha2-512"}, 64, &d_sha512},
        {"sha3-256", "SHA3-256", "SHA3-256", {"sha3_256"}, 32, NULL},
        {"sha3-512", "SHA3-512", "SHA3-512", {"sha3_512"}, 64, NULL},
        {"blake2b512", "BLAKE2b", "BLAKE2B-512", {"blake2b-512"}, 64, NULL},
        {"blake2s256", "BLAKE2S-256", "BLAKE2S-256", {"blake2s"}, 32, NULL},
};

#define NALGOS (sizeof algos / sizeof algos[0])

/* The fetched EVP_MDs, one per algorithm, filled on first use and kept. */
static _Atomic(EVP_MD *) fetched[NALGOS];

/* The canonical names for plumb_hash_algorithms, in the table's order. */
static const char *const algo_names[NALGOS + 1] = {
        "sha256",   "sha1",     "md5",        "sha224",     "sha384", "sha512",
        "sha3-256", "sha3-512", "blake2b512", "blake2s256", NULL,
};

struct plumb_hash {
	plumb_writer writer;
	const struct algo *algo;
	union direct_ctx dctx; /* with algo->direct */
	const EVP_MD *md;      /* without: */
	EVP_MD_CTX *ctx;
	EVP_MD_CTX *scratch; /* what sum finalizes, so ctx goes on */
	uint64_t count;
	int err; /* set when a reset failed: the context cannot be used */
};

/* The table entry whose name, tag or alias is name (any case), or NULL. */
static const struct algo *find_algo(const char *name)
{
	for (size_t i = 0; i < NALGOS; i++) {
		const struct algo *a = &algos[i];
		if (!strcasecmp(name, a->name) || !strcasecmp(name, a->tag))
			return a;
		for (size_t j = 0; j < sizeof a->aliases / sizeof a->aliases[0]; j++)
			if (a->aliases[j] && !strcasecmp(name, a->aliases[j]))
				return a;
	}
	return NULL;
}

/* The EVP_MD of a, fetched on first use; NULL if OpenSSL has not got it. */
static const EVP_MD *get_md(const struct algo *a)
{
	_Atomic(EVP_MD *) *slot = &fetched[a - algos];
	EVP_MD *md = atomic_load_explicit(slot, memory_order_acquire);
	if (md)
		return md;
	md = EVP_MD_fetch(NULL, a->ossl, NULL);
	if (!md) {
		ERR_clear_error();
		return NULL;
	}
	EVP_MD *expected = NULL;
	if (!atomic_compare_exchange_strong_explicit(slot, &expected, md, memory_order_acq_rel,
	                                             memory_order_acquire)) {
		EVP_MD_free(md); /* another thread won the race; use its copy */
		md = expected;
	}
	return md;
}

static ssize_t hash_write(plumb_writer *w, const void *buf, size_t len)
{
	plumb_hash *h = PLUMB_CONTAINER_OF(w, plumb_hash, writer);
	int err = plumb_hash_update(h, buf, len);
	return err < 0 ? err : (ssize_t)len;
}

static const plumb_writer_ops hash_writer_ops = {
        .write = hash_write,
};

int plumb_hash_new(plumb_hash **out, const char *algo)
{
	*out = NULL;
	const struct algo *a = algo ? find_algo(algo) : NULL;
	if (!a)
		return PLUMB_EALGO;
	const EVP_MD *md = NULL;
	if (!a->direct && !(md = get_md(a)))
		return PLUMB_EALGO; /* known here, but this OpenSSL lacks it */

	plumb_hash *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->writer.ops = &hash_writer_ops;
	h->algo = a;
	h->md = md;
	if (md && (!(h->ctx = EVP_MD_CTX_new()) || !(h->scratch = EVP_MD_CTX_new())))
		h->err = -ENOMEM;
	else
		plumb_hash_reset(h); /* starts the digest; an EVP failure sets err */
	if (h->err) {
		int err = h->err;
		plumb_hash_free(h);
		return err;
	}
	*out = h;
	return 0;
}

void plumb_hash_free(plumb_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_CTX_free(h->scratch);
	free(h);
}

plumb_writer *plumb_hash_writer(plumb_hash *h)
{
	return &h->writer;
}

int plumb_hash_update(plumb_hash *h, const void *data, size_t len)
{
	if (h->err)
		return h->err;
	if (len == 0)
		return 0;
	if (h->algo->direct) {
		h->algo->direct->update(&h->dctx, data, len);
		h->count += len;
		return 0;
	}
	if (!EVP_DigestUpdate(h->ctx, data, len)) {
		ERR_clear_error();
		return -EIO;
	}
	h->count += len;
	return 0;
}

const char *plumb_hash_name(const plumb_hash *h)
{
	return h->algo->name;
}

const char *plumb_hash_tag(const plumb_hash *h)
{
	return h->algo->tag;
}

size_t plumb_hash_size(const plumb_hash *h)
{
	return h->algo->size;
}

uint64_t plumb_hash_count(const plumb_hash *h)
{
	return h->count;
}

int plumb_hash_sum(plumb_hash *h, unsigned char *out, size_t len)
{
	if (h->err)
		return h->err;
	if (len < h->algo->size)
		return PLUMB_ESHORTBUFFER;
	if (h->algo->direct) {
		union direct_ctx copy = h->dctx;
		h->algo->direct->final(out, &copy);
		return (int)h->algo->size;
	}
	unsigned int n = 0;
	if (!EVP_MD_CTX_copy_ex(h->scratch, h->ctx) || !EVP_DigestFinal_ex(h->scratch, out, &n)) {
		ERR_clear_error();
		return -ENOMEM;
	}
	return (int)n;
}

int plumb_hash_hex(plumb_hash *h, char *hex, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[PLUMB_HASH_MAX_SIZE];
	if (len < 2 * h->algo->size + 1)
		return PLUMB_ESHORTBUFFER;
	int n = plumb_hash_sum(h, md, sizeof md);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
	return 2 * n;
}

void plumb_hash_reset(plumb_hash *h)
{
	h->count = 0;
	h->err = 0;
	if (h->algo->direct) {
		h->algo->direct->init(&h->dctx);
		return;
	}
	if (!EVP_DigestInit_ex2(h->ctx, h->md, NULL)) {
		ERR_clear_error();
		h->err = -ENOMEM; /* later updates and sums report it */
	}
}

const char *const *plumb_hash_algorithms(void)
{
	return algo_names;
}
