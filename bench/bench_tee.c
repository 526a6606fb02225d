/*
 * bench_tee.c - what hashing on the way costs: a tee into SHA-256 against
 * SHA-256 alone.
 *
 * A 1 GiB buffer in memory is read through a bytes reader and a tee reader
 * whose other end is a plumb_hash, with a read buffer of 32 KiB (or -b SIZE),
 * the bytes going nowhere; the same buffer is then hashed by OpenSSL in one
 * EVP_Digest call.  The difference is the price of the reader interface and
 * of the copy into the read buffer.  Both digests are compared, so a fast but
 * wrong tee cannot pass.
 *
 * A third mode, writer, feeds the hash writer the same pieces straight from
 * the buffer, which separates the cost of the interfaces from the copy.
 *
 * Usage: bench_tee [plumb|openssl|writer|both] [-b SIZE] [-n MIB]
 * prints "plumb N GB/s", "openssl N GB/s", each digest ("plumb sha256 HEX") and,
 * for both, their ratio; bench/tee.sh
 * runs the two (and the Go peer) in separate processes, interleaved.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include <plumb/hash.h>
#include <plumb/io.h>

struct args {
	const char *mode;
	size_t bufsize;
	size_t size;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fills buf with a fixed pseudo-random pattern (xorshift64), touching every
 * page so no page fault is timed later. */
static void fill(unsigned char *buf, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	for (; i < len; i++)
		buf[i] = (unsigned char)i;
}

/* tee(bytes reader, sha256) read to its end; the digest into md.  Returns
 * the seconds taken, or < 0 on an error. */
static double run_plumb(const unsigned char *data, size_t len, size_t bufsize, unsigned char *md)
{
	plumb_hash *h = NULL;
	plumb_reader *src = NULL, *tee = NULL;
	unsigned char *buf = malloc(bufsize);
	double took = -1;
	if (!buf || plumb_hash_new(&h, "sha256") < 0)
		goto out;
	if (!(src = plumb_bytes_reader_new(data, len)) ||
	    !(tee = plumb_tee_reader_new(src, plumb_hash_writer(h))))
		goto out;
	double t0 = now();
	ssize_t n;
	while ((n = plumb_reader_read(tee, buf, bufsize)) > 0)
		;
	if (n < 0 || plumb_hash_sum(h, md, 32) != 32 || plumb_hash_count(h) != len)
		goto out;
	took = now() - t0;
out:
	plumb_reader_free(tee);
	plumb_reader_free(src);
	plumb_hash_free(h);
	free(buf);
	return took;
}

/* The hash writer alone, fed bufsize pieces straight from the buffer: the
 * cost of the interface without the copy a reader makes.  Seconds, or < 0. */
static double run_writer(const unsigned char *data, size_t len, size_t bufsize, unsigned char *md)
{
	plumb_hash *h = NULL;
	if (plumb_hash_new(&h, "sha256") < 0)
		return -1;
	plumb_writer *w = plumb_hash_writer(h);
	double t0 = now(), took = -1;
	size_t off = 0;
	while (off < len) {
		size_t n = len - off < bufsize ? len - off : bufsize;
		if (plumb_writer_write(w, data + off, n) != (ssize_t)n)
			break;
		off += n;
	}
	if (off == len && plumb_hash_sum(h, md, 32) == 32)
		took = now() - t0;
	plumb_hash_free(h);
	return took;
}

/* SHA-256 of the buffer in one EVP_Digest call; seconds, or < 0. */
static double run_openssl(const unsigned char *data, size_t len, unsigned char *md)
{
	unsigned int mdlen = 0;
	EVP_MD *sha = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	if (!sha)
		return -1;
	double t0 = now();
	int ok = EVP_Digest(data, len, md, &mdlen, sha, NULL);
	double took = now() - t0;
	EVP_MD_free(sha);
	return ok && mdlen == 32 ? took : -1;
}

static void print_digest(const char *who, const unsigned char *md)
{
	printf("%s sha256 ", who);
	for (int i = 0; i < 32; i++)
		printf("%02x", md[i]);
	putchar('\n');
}

static bool is_mode(const char *s)
{
	return !strcmp(s, "plumb") || !strcmp(s, "openssl") || !strcmp(s, "writer") ||
	       !strcmp(s, "both");
}

static int parse_args(int argc, char **argv, struct args *a)
{
	*a = (struct args){.mode = "both", .bufsize = 32 << 10, .size = (size_t)1 << 30};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-b") && i + 1 < argc)
			a->bufsize = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			a->size = strtoull(argv[++i], NULL, 0) << 20;
		else if (is_mode(argv[i]))
			a->mode = argv[i];
		else
			return -1;
	}
	return a->bufsize && a->size ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct args a;
	if (parse_args(argc, argv, &a) < 0) {
		fprintf(stderr,
		        "usage: bench_tee [plumb|openssl|writer|both] [-b BUFSIZE] [-n MIB]\n");
		return 2;
	}
	unsigned char *data = malloc(a.size);
	if (!data) {
		fprintf(stderr, "bench_tee: %s\n", strerror(ENOMEM));
		return 1;
	}
	fill(data, a.size);

	unsigned char md_plumb[32], md_ssl[32];
	double t_plumb = 0, t_ssl = 0, gb = (double)a.size / 1e9;
	bool both = !strcmp(a.mode, "both");
	int ret = 0;
	if (both || !strcmp(a.mode, "plumb")) {
		t_plumb = run_plumb(data, a.size, a.bufsize, md_plumb);
		if (t_plumb < 0)
			ret = 1;
		else
			printf("plumb %.3f GB/s\n", gb / t_plumb), print_digest("plumb", md_plumb);
	}
	if (!ret && (both || !strcmp(a.mode, "openssl"))) {
		t_ssl = run_openssl(data, a.size, md_ssl);
		if (t_ssl < 0)
			ret = 1;
		else
			printf("openssl %.3f GB/s\n", gb / t_ssl), print_digest("openssl", md_ssl);
	}
	if (!ret && !strcmp(a.mode, "writer")) {
		double t = run_writer(data, a.size, a.bufsize, md_plumb);
		if (t < 0)
			ret = 1;
		else
			printf("writer %.3f GB/s\n", gb / t), print_digest("writer", md_plumb);
	}
	if (!ret && both) {
		if (memcmp(md_plumb, md_ssl, 32)) {
			fprintf(stderr, "bench_tee: the digests differ\n");
			ret = 1;
		} else {
			printf("ratio %.3f (plumb/openssl)\n", t_ssl / t_plumb);
		}
	}
	if (ret)
		fprintf(stderr, "bench_tee: a run failed\n");
	free(data);
	return ret;
}
