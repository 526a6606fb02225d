/*
 * bench_malloc.c - the malloc-heavy program the memtrace benchmarks trace
 * (bench/memtrace.sh): plumb memtrace, heaptrack and massif all run it.
 *
 *   bench_malloc churn|live|threads [PAIRS [THREADS]]
 *
 * PAIRS (default 10,000,000) malloc/free pairs of sizes 16..4096 bytes
 * (log-uniform: 16..32, 32..64, ... 2048..4096 equally often), drawn from a
 * fixed-seed splitmix64, so every run makes exactly the same calls.  Each
 * malloc comes from one of SITES call sites, each a chain of 8 functions
 * that cannot be inlined, merged or turned into tail calls, so a tracer
 * walks a real stack about 8 frames deep (13 with main and libc's start-up
 * frames).
 *
 *   churn    alloc, then free the block allocated CHURN_RING allocations
 *            ago (a small ring, so frees are not immediate).
 *   live     the same with a ring of LIVE_RING blocks: 100k blocks stay
 *            live; at the end every LEAK_EVERY-th block of the ring is
 *            leaked on purpose, the rest freed.
 *   threads  churn split over THREADS threads (default 2), same total work.
 *
 * The program keeps its own account of the requested bytes and prints, as
 * "NAME VALUE" lines: the exact peak of its live heap in bytes (one thread
 * only: with several it depends on the interleaving), the most blocks live
 * at once (with several threads the sum of each thread's most), and the
 * bytes and blocks it leaked, which a tracer must report exactly.  Its own bookkeeping comes
 * from mmap and it prints through snprintf and write, so the blocks above
 * are the only heap it uses.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SITES       4
#define CHURN_RING  64
#define LIVE_RING   100000
#define LEAK_EVERY  100
#define MAX_THREADS 64

/* noipa: not inlined, cloned or folded with an identical function. */
#define NOIPA __attribute__((noipa))
/* An empty asm that "changes" p: the call before it is no tail call. */
#define KEEP(p) __asm__ volatile("" : "+r"(p))

/* Frame 0 of each site: written out, so each has a line of its own. */
static NOIPA void *site0_8(size_t size)
{
	void *p = malloc(size);
	KEEP(p);
	return p;
}

static NOIPA void *site1_8(size_t size)
{
	void *p = malloc(size);
	KEEP(p);
	return p;
}

static NOIPA void *site2_8(size_t size)
{
	void *p = malloc(size);
	KEEP(p);
	return p;
}

static NOIPA void *site3_8(size_t size)
{
	void *p = malloc(size);
	KEEP(p);
	return p;
}

/* The 7 callers above each: siteS_1 calls siteS_2 ... calls siteS_8. */
#define LEVEL(s, n, callee)                                                                        \
	static NOIPA void *site##s##_##n(size_t size)                                              \
	{                                                                                          \
		void *p = callee(size);                                                            \
		KEEP(p);                                                                           \
		return p;                                                                          \
	}

#define SITE(s)                                                                                    \
	LEVEL(s, 7, site##s##_8)                                                                   \
	LEVEL(s, 6, site##s##_7)                                                                   \
	LEVEL(s, 5, site##s##_6)                                                                   \
	LEVEL(s, 4, site##s##_5)                                                                   \
	LEVEL(s, 3, site##s##_4)                                                                   \
	LEVEL(s, 2, site##s##_3)                                                                   \
	LEVEL(s, 1, site##s##_2)

SITE(0)
SITE(1)
SITE(2)
SITE(3)

static void *(*const site[SITES])(size_t) = {site0_1, site1_1, site2_1, site3_1};

struct block {
	char *p;
	size_t size;
};

/* One thread's share of the work and what it observed. */
struct run {
	uint64_t seed;
	size_t pairs;
	size_t ring_len;
	size_t leak_every; /* 0: free everything at the end */
	struct block *ring;
	uint64_t peak, peak_blocks, leaked_bytes, leaked_blocks;
};

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 16..4096: a power of two 2^4..2^11 (low 3 bits), then up to as much again. */
static inline size_t draw_size(uint64_t x)
{
	size_t base = (size_t)16 << (x & 7);
	return base + (size_t)((x >> 3) % (base + 1));
}

static NOIPA void churn_loop(struct run *r)
{
	uint64_t s = r->seed, current = 0, peak = 0;
	size_t slot = 0, blocks = 0, peak_blocks = 0;

	for (size_t i = 0; i < r->pairs; i++) {
		uint64_t x = splitmix64(&s);
		size_t size = draw_size(x);
		char *p = site[(x >> 40) % SITES](size);
		if (!p)
			abort();
		p[0] = (char)i;
		current += size;
		if (current > peak)
			peak = current;
		if (++blocks > peak_blocks)
			peak_blocks = blocks;
		struct block *b = &r->ring[slot];
		if (b->p) {
			free(b->p);
			current -= b->size;
			blocks--;
		}
		b->p = p;
		b->size = size;
		if (++slot == r->ring_len)
			slot = 0;
	}
	/* Oldest first: free the ring, leaving every leak_every-th block. */
	for (size_t k = 0; k < r->ring_len; k++) {
		struct block *b = &r->ring[(slot + k) % r->ring_len];
		if (!b->p)
			continue;
		if (r->leak_every && k % r->leak_every == 0) {
			r->leaked_bytes += b->size;
			r->leaked_blocks++;
		} else {
			free(b->p);
		}
		b->p = NULL;
	}
	r->peak = peak;
	r->peak_blocks = peak_blocks;
}

static void *thread_main(void *arg)
{
	churn_loop(arg);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_malloc churn|live|threads [PAIRS [THREADS]]\n");
	return 2;
}

static int parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "NAME VALUE" lines without stdio's buffer, which would be one more malloc. */
static void say(const char *line, int n)
{
	if (n < 0 || write(STDOUT_FILENO, line, n) != n)
		exit(1);
}

static void say_u(const char *name, unsigned long long v)
{
	char line[96];
	say(line, snprintf(line, sizeof line, "%s %llu\n", name, v));
}

static void say_f(const char *name, double v)
{
	char line[96];
	say(line, snprintf(line, sizeof line, "%s %.3f\n", name, v));
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4)
		return usage();
	const char *mode = argv[1];
	int live = strcmp(mode, "live") == 0;
	int threaded = strcmp(mode, "threads") == 0;
	if (!live && !threaded && strcmp(mode, "churn") != 0)
		return usage();
	unsigned long long pairs = 10000000, nthreads = threaded ? 2 : 1;
	if (argc > 2 && parse_count(argv[2], 1ull << 40, &pairs) < 0) {
		fprintf(stderr, "bench_malloc: bad PAIRS '%s'\n", argv[2]);
		return 2;
	}
	if (argc > 3 && parse_count(argv[3], MAX_THREADS, &nthreads) < 0) {
		fprintf(stderr, "bench_malloc: bad THREADS '%s' (1..%d)\n", argv[3], MAX_THREADS);
		return 2;
	}
	if (live && nthreads != 1) {
		fprintf(stderr, "bench_malloc: live runs on one thread\n");
		return 2;
	}

	size_t ring_len = live ? LIVE_RING : CHURN_RING;
	size_t ring_bytes = nthreads * ring_len * sizeof(struct block);
	struct block *rings =
	        mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rings == MAP_FAILED) {
		perror("bench_malloc: mmap");
		return 1;
	}
	struct run runs[MAX_THREADS];
	memset(runs, 0, sizeof runs);
	for (unsigned i = 0; i < nthreads; i++) {
		runs[i].seed = 0x5eed0000u + i;
		runs[i].pairs = pairs / nthreads + (i < pairs % nthreads);
		runs[i].ring_len = ring_len;
		runs[i].leak_every = live ? LEAK_EVERY : 0;
		runs[i].ring = rings + i * ring_len;
	}

	double t0 = mono();
	if (nthreads == 1) {
		churn_loop(&runs[0]);
	} else {
		pthread_t tid[MAX_THREADS];
		for (unsigned i = 0; i < nthreads; i++) {
			int err = pthread_create(&tid[i], NULL, thread_main, &runs[i]);
			if (err) {
				fprintf(stderr, "bench_malloc: pthread_create: %s\n",
				        strerror(err));
				return 1;
			}
		}
		for (unsigned i = 0; i < nthreads; i++)
			pthread_join(tid[i], NULL);
	}
	double t = mono() - t0;

	uint64_t leaked_bytes = 0, leaked_blocks = 0, peak_blocks = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		peak_blocks += runs[i].peak_blocks;
		leaked_bytes += runs[i].leaked_bytes;
		leaked_blocks += runs[i].leaked_blocks;
	}
	say_u("pairs", pairs);
	say_u("threads", nthreads);
	say_f("seconds", t);
	say_f("ns_per_pair", t * 1e9 / (double)pairs);
	if (nthreads == 1)
		say_u("peak_bytes", runs[0].peak);
	say_u("peak_blocks", peak_blocks);
	say_u("leaked_bytes", leaked_bytes);
	say_u("leaked_blocks", leaked_blocks);
	munmap(rings, ring_bytes);
	return 0;
}
