/*
 * sample.c - PLUMB_MEMTRACE_SAMPLE=BYTES: record a few allocations, and say
 * exactly what each recorded one stands for.
 *
 * As jemalloc's heap profiler does, think of the program's allocated bytes
 * as one long line with sampling points dropped on it at random, on
 * average one every BYTES bytes (a Poisson process).  An allocation is
 * recorded when a point falls inside it.  Each thread keeps the distance to
 * its next point; an allocation subtracts its size and is recorded when the
 * distance runs out, after which a fresh exponential distance is drawn
 * (the process has no memory, so that is exact).  A block of s bytes is
 * then recorded with probability p = 1 - exp(-s/BYTES), and counting it as
 * 1/p blocks and s/p bytes makes every total an unbiased estimate: the
 * expected sum over recorded blocks is the true sum.  Big blocks (s >>
 * BYTES) are always recorded and count as themselves.
 *
 * Frees must stay cheap, and most blocks were never recorded.  Recorded
 * blocks go in a small sharded set; a filter of one bit per address-hash
 * slot, set while some recorded block hashes there, says "certainly not
 * recorded" with one load for nearly every free.  The bits take 512
 * bytes, 8 cache lines, where a byte per slot took 4 KiB: less for a
 * program churning through its heap to push out of L1.  The count behind
 * each bit is kept apart and changes only on the rare recorded allocation
 * or free.
 *
 * The math here is done with our own log and exp: the library does not
 * link libm, and a hook wants no surprises.
 */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer.h"

uint64_t mt_sample_filter[MT_FILTER_SLOTS / 64] __attribute__((aligned(64)));
/* Recorded blocks per filter slot; with the bits, under filter_lock. */
static uint16_t filter_count[MT_FILTER_SLOTS];
static int filter_lock;

#define NSHARDS 16

struct shard {
	int lock;
	uintptr_t *slots;
	size_t mask, n;
} __attribute__((aligned(64)));

static struct shard shards[NSHARDS];

/* ---- numbers ---- */

static const double LN2 = 0.69314718055994530942;

/* ln(x) for x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
 * ln(m) = 2 atanh((m - 1) / (m + 1)), a fast series there. */
static double ln(double x)
{
	uint64_t bits;
	int e;
	double m, z, z2, term, sum = 0;

	memcpy(&bits, &x, sizeof(bits));
	e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & ((1ull << 52) - 1)) | (1023ull << 52);
	memcpy(&m, &bits, sizeof(m));
	if (m > 1.4142135623730951) {
		m /= 2;
		e++;
	}
	z = (m - 1) / (m + 1);
	z2 = z * z;
	term = z;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return e * LN2 + 2 * sum;
}

/* 1 - exp(-y) for y >= 0, without cancellation for small y. */
static double one_minus_exp_neg(double y)
{
	double r, term, sum;
	int k;

	if (y > 700)
		return 1;
	if (y < 0.5) { /* -expm1(-y) = y - y^2/2 + y^3/6 - ... */
		term = y;
		sum = 0;
		for (k = 1; k < 30; k++) {
			sum += term;
			term *= -y / (k + 1);
		}
		return sum;
	}
	k = (int)(y / LN2);
	r = y - k * LN2; /* exp(-y) = 2^-k exp(-r), r in [0, ln 2) */
	term = 1;
	sum = 0;
	for (int i = 1; i < 30; i++) {
		sum += term;
		term *= -r / i;
	}
	while (k--)
		sum /= 2;
	return 1 - sum;
}

void mt_sample_weight(uint64_t size, uint64_t *bytes, uint64_t *count_fp)
{
	double p = one_minus_exp_neg((double)size / (double)mt_hot.sample_avg);

	if (p <= 0) {
		*bytes = size;
		*count_fp = MT_COUNT_ONE;
		return;
	}
	*bytes = (uint64_t)((double)size / p + 0.5);
	*count_fp = (uint64_t)(MT_COUNT_ONE / p + 0.5);
}

static uint64_t next_random(struct mt_thread *t)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static int64_t gap(struct mt_thread *t)
{
	double u = (double)((next_random(t) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double g = -ln(u) * (double)mt_hot.sample_avg;

	if (g < 1)
		return 1;
	if (g > 9e18)
		return INT64_MAX;
	return (int64_t)g;
}

bool mt_sample_refill(struct mt_thread *t)
{
	if (!t->sample_ready) {
		t->rng = (uint64_t)syscall(SYS_gettid) * 0x9E3779B97F4A7C15ull ^ __rdtsc();
		if (!t->rng)
			t->rng = 1;
		t->sample_ready = true;
		t->sample_left += gap(t); /* the first point, counted from the start */
		if (t->sample_left > 0)
			return false;
	}
	t->sample_left = gap(t);
	return true;
}

/* ---- the set of recorded blocks ---- */

static void spin_lock(int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static void spin_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static void lock(struct shard *s)
{
	spin_lock(&s->lock);
}

static void unlock(struct shard *s)
{
	spin_unlock(&s->lock);
}

static inline size_t slot_of(const struct shard *s, uintptr_t p)
{
	return (size_t)((p >> 4) * 0xff51afd7ed558ccdull >> 20) & s->mask;
}

static bool grow(struct shard *s)
{
	size_t n = s->slots ? (s->mask + 1) * 2 : 256;
	uintptr_t *slots = mt_map(n * sizeof(*slots));
	struct shard t = {0, slots, n - 1, 0};

	if (!slots)
		return false;
	for (size_t i = 0; s->slots && i <= s->mask; i++) {
		size_t j;

		if (!s->slots[i])
			continue;
		for (j = slot_of(&t, s->slots[i]); slots[j]; j = (j + 1) & t.mask)
			;
		slots[j] = s->slots[i];
	}
	if (s->slots)
		mt_unmap(s->slots, (s->mask + 1) * sizeof(*slots));
	s->slots = slots;
	s->mask = t.mask;
	return true;
}

/* One more (@delta 1) or one fewer (-1) recorded block in @p's slot.  A
 * bit is set before the allocation it stands for returns to the program,
 * so any thread that can free the block sees it. */
static void filter_add(uintptr_t p, int delta)
{
	unsigned i = mt_sample_slot(p);
	uint64_t *w = &mt_sample_filter[i / 64], bit = 1ull << (i % 64);

	spin_lock(&filter_lock);
	uint16_t c = filter_count[i];
	if (c != UINT16_MAX && (delta > 0 || c > 0))
		filter_count[i] = c = (uint16_t)(c + delta); /* saturated counts stay */
	__atomic_store_n(w, c ? *w | bit : *w & ~bit, __ATOMIC_RELAXED);
	spin_unlock(&filter_lock);
}

bool mt_sample_add(uintptr_t p)
{
	struct shard *s = &shards[(p >> 4) % NSHARDS];
	size_t i;

	lock(s);
	if ((!s->slots || (s->n + 1) * 2 > s->mask + 1) && !grow(s)) {
		unlock(s);
		return false;
	}
	for (i = slot_of(s, p); s->slots[i] && s->slots[i] != p; i = (i + 1) & s->mask)
		;
	if (!s->slots[i]) {
		s->slots[i] = p;
		s->n++;
	}
	unlock(s);
	filter_add(p, 1);
	return true;
}

bool mt_sample_remove(uintptr_t p)
{
	struct shard *s = &shards[(p >> 4) % NSHARDS];
	bool found = false;

	lock(s);
	if (s->slots) {
		size_t i = slot_of(s, p), j;

		while (s->slots[i] && s->slots[i] != p)
			i = (i + 1) & s->mask;
		if (s->slots[i]) {
			found = true;
			for (j = i;;) { /* backward-shift deletion */
				j = (j + 1) & s->mask;
				if (!s->slots[j])
					break;
				size_t k = slot_of(s, s->slots[j]);
				if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
					s->slots[i] = s->slots[j];
					i = j;
				}
			}
			s->slots[i] = 0;
			s->n--;
		}
	}
	unlock(s);
	if (found)
		filter_add(p, -1);
	return found;
}

/* Empties the set and the filter while other threads may add and remove.
 * filter_lock is held throughout: a block added to a shard already emptied
 * counts itself in the filter only after the filter is zeroed, so its bit
 * stays set.  Only this and fork's prepare hold filter_lock and a shard
 * lock at once, both taking filter_lock first; add and remove never hold
 * both. */
void mt_sample_clear(void)
{
	spin_lock(&filter_lock);
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &shards[i];

		lock(s);
		if (s->slots)
			memset(s->slots, 0, (s->mask + 1) * sizeof(*s->slots));
		s->n = 0;
		unlock(s);
	}
	memset(filter_count, 0, sizeof(filter_count));
	for (unsigned i = 0; i < MT_FILTER_SLOTS / 64; i++) /* read by free, unlocked */
		__atomic_store_n(&mt_sample_filter[i], 0, __ATOMIC_RELAXED);
	spin_unlock(&filter_lock);
}

/* filter_lock before the shards, as in mt_sample_clear. */
void mt_sample_prepare(void)
{
	spin_lock(&filter_lock);
	for (int i = 0; i < NSHARDS; i++)
		lock(&shards[i]);
}

void mt_sample_parent(void)
{
	for (int i = NSHARDS - 1; i >= 0; i--)
		unlock(&shards[i]);
	spin_unlock(&filter_lock);
}

void mt_sample_child(void)
{
	for (int i = 0; i < NSHARDS; i++)
		shards[i].lock = 0;
	filter_lock = 0;
}
