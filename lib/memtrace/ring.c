/*
 * ring.c - per-thread event rings, their clock, and what happens when a
 * thread ends.
 *
 * A hook must not wait for other threads, so each thread appends its events
 * to a ring of its own (single producer, no atomic read-modify-write, one
 * release store per event) and the drain (drain.c) consumes them in bulk.
 *
 * The clock.  To merge several threads' rings into one order each event
 * carries a timestamp.  rdtsc is the cheapest clock there is (the
 * serialising rdtscp costs twice as much, clock_gettime more), but even
 * rdtsc is a fifth of what a traced malloc/free pair costs.  So a thread
 * stamps its events only while another thread has a ring too; while it is
 * alone, its events carry the "solo base" instead (with MT_TS_SOLO set):
 * a time after every event of every thread that ended before.  When a
 * second thread attaches it counts itself first, so any event the first
 * thread makes after learning of it (in particular any event that depends
 * on something the second thread did) is stamped; unstamped events sort
 * before everything stamped after them, which is where they belong.  The
 * drain knows when an unstamped event happened to within one drain
 * period, which is what the peak's time needs.  Without an invariant TSC,
 * CLOCK_MONOTONIC (vDSO) stands in for rdtsc.
 *
 * Thread exit.  Rings are mapped once and recycled, never unmapped: the
 * drain walks the list without a lock.  A thread's ring stays its own until
 * the thread is gone - glibc still calls free after the pthread key
 * destructors run - so the drain checks now and then (every 10 ms, and
 * when a new thread finds no free ring) whether each ring's thread still
 * exists (tgkill with signal 0).  A dead thread's events were all
 * published before it died; its ring is retired, drained to the end and
 * handed to the next new thread.  Nothing a thread did before it ended is
 * lost, and a thread leaves without the tracer noticing at the time.
 *
 * A full ring.  The writer is woken when a ring is half full; if the ring
 * fills anyway (the writer had no CPU), the thread drains itself, or, when
 * another thread is draining already, waits for that drain to make room.
 * When the threads with rings and the writer outnumber the CPUs, the writer
 * has no core to run on without taking one from the program: a thread then
 * drains at half full itself rather than wake the writer (two context
 * switches saved), and one waiting for another's drain yields its CPU at
 * once instead of spinning first.
 */
#include <cpuid.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer.h"

__thread struct mt_thread mt_self __attribute__((tls_model("initial-exec")));
struct mt_ring *mt_rings;

/* ---- clock ---- */

static uint64_t tsc0, mono0;

uint64_t mt_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Invariant TSC (CPUID 0x80000007 EDX bit 8): the same rate on every core,
 * in every power state - what the kernel calls constant_tsc + nonstop_tsc. */
static bool tsc_invariant(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
		return false;
	__get_cpuid(0x80000007u, &a, &b, &c, &d);
	return d & (1u << 8);
}

/* The CPUs this process may run on (mt_ring_room). */
static unsigned ncpu = 1;

static void count_cpus(void)
{
	uint64_t mask[16] = {0};
	long n = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
	unsigned c = 0;

	for (long i = 0; i < n / 8 && i < 16; i++)
		c += (unsigned)__builtin_popcountll(mask[i]);
	ncpu = c ? c : 1;
}

/* Whether the threads with rings and the writer outnumber the CPUs we
 * may run on: then the drainer has no core of its own, and a thread
 * waiting for it should give it its own at once. */
static inline bool oversubscribed(void)
{
	return (unsigned)MT_LOAD(&mt_hot.active) + 1 > ncpu;
}

void mt_clock_init(void)
{
	count_cpus();
	mt_hot.tsc = tsc_invariant();
	mono0 = mt_mono_ns();
	tsc0 = mt_hot.tsc ? __rdtsc() : mono0;
	mt_hot.solo_ts = tsc0 | MT_TS_SOLO;
}

uint64_t mt_clock_ns(void)
{
	return mt_mono_ns() - mono0;
}

uint64_t mt_ticks_to_ns(uint64_t ticks)
{
	uint64_t now_ns, now_tsc;

	ticks &= ~MT_TS_SOLO;
	if (!mt_hot.tsc)
		return ticks > mono0 ? ticks - mono0 : 0;
	now_ns = mt_mono_ns() - mono0;
	now_tsc = __rdtsc() - tsc0;
	if (ticks <= tsc0 || !now_tsc)
		return 0;
	return (uint64_t)((double)(ticks - tsc0) * ((double)now_ns / (double)now_tsc));
}

/* ---- rings ---- */

static struct mt_ring *ring_new(void)
{
	struct mt_ring *r = mt_map(sizeof(*r));

	if (!r)
		return NULL;
	r->cache = mt_map(MT_SC_WAYS * sizeof(struct mt_sc_entry));
	if (!r->cache) {
		mt_unmap(r, sizeof(*r));
		return NULL;
	}
	return r;
}

static void ring_link(struct mt_ring *r)
{
	struct mt_ring *head = MT_LOAD(&mt_rings);

	do
		r->next = head;
	while (!__atomic_compare_exchange_n(&mt_rings, &head, r, false, __ATOMIC_RELEASE,
	                                    __ATOMIC_ACQUIRE));
}

static struct mt_ring *take_free(void)
{
	for (struct mt_ring *r = MT_LOAD(&mt_rings); r; r = r->next) {
		int expected = MT_RING_FREE;

		if (MT_LOAD(&r->owner) == MT_RING_FREE &&
		    __atomic_compare_exchange_n(&r->owner, &expected, MT_RING_ACTIVE, false,
		                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return r;
	}
	return NULL;
}

struct mt_ring *mt_ring_attach(struct mt_thread *t)
{
	struct mt_ring *r = take_free();

	if (!r) {
		/* Threads that ended since the last look may have left rings:
		 * drain them and take one, rather than map more. */
		pthread_mutex_lock(&mt_drain_lock);
		mt_rings_reap(1000000);
		mt_drain_locked(mt_now());
		pthread_mutex_unlock(&mt_drain_lock);
		r = take_free();
	}
	if (r) {
		/* Drained to the end before it was freed: head == tail. */
		for (unsigned i = 0; i < MT_SC_WAYS; i++)
			r->cache[i].gen = 0;
	} else {
		r = ring_new();
		if (!r)
			return NULL;
		r->owner = MT_RING_ACTIVE;
		ring_link(r);
	}
	r->tid = (pid_t)syscall(SYS_gettid);
	/* Counted before its first event: see "The clock" above. */
	__atomic_add_fetch(&mt_hot.active, 1, __ATOMIC_SEQ_CST);
	r->tail_seen = MT_LOAD(&r->tail);
	r->next_check = r->head + MT_RING_CAP / 4;
	t->ring = r;
	t->stack_lo = t->stack_hi = t->alt_lo = t->alt_hi = 0;
	t->stack_lookups = 0;
	return r;
}

/* Drains here unless another thread is draining already (it takes this
 * thread's events too): waiting for its lock would only add a sleep. */
static bool drain_if_free(void)
{
	if (pthread_mutex_trylock(&mt_drain_lock) != 0)
		return false;
	mt_drain_locked(mt_now());
	pthread_mutex_unlock(&mt_drain_lock);
	return true;
}

void mt_ring_room(struct mt_ring *r)
{
	unsigned budget = oversubscribed() ? 0 : 4096;

	for (unsigned spins = 0;; spins++) {
		r->tail_seen = MT_LOAD(&r->tail);
		if (r->head - r->tail_seen < MT_RING_CAP)
			return;
		if (drain_if_free())
			continue;
		if (spins < budget)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

void mt_ring_check(struct mt_ring *r)
{
	r->tail_seen = MT_LOAD(&r->tail);
	r->next_check = r->head + MT_RING_CAP / 4;
	if (r->head - r->tail_seen < MT_RING_CAP / 2)
		return;
	if (MT_LOAD(&mt_hot.efd) >= 0 && !oversubscribed())
		mt_writer_wake();
	else
		drain_if_free();
}

/* Retires @r, whose thread is gone: every event it made is published, so
 * a clock read now is later than all of them (the solo base). */
static void retire(struct mt_ring *r)
{
	uint64_t base;

	MT_STORE(&r->owner, MT_RING_RETIRED);
	base = mt_now();
	_mm_lfence();
	if (base > (mt_hot.solo_ts & ~MT_TS_SOLO))
		__atomic_store_n(&mt_hot.solo_ts, base | MT_TS_SOLO, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&mt_hot.active, 1, __ATOMIC_SEQ_CST);
}

void mt_rings_reap(uint64_t every_ns)
{
	static uint64_t last;
	uint64_t now = mt_mono_ns();
	pid_t pid = getpid();

	if (now - last < every_ns)
		return;
	last = now;
	for (struct mt_ring *r = MT_LOAD(&mt_rings); r; r = r->next) {
		int saved = errno;

		if (MT_LOAD(&r->owner) == MT_RING_ACTIVE &&
		    syscall(SYS_tgkill, pid, r->tid, 0) < 0 && errno == ESRCH)
			retire(r);
		errno = saved;
	}
}

/* In a forked child only the forking thread exists: the others' rings are
 * retired (their published events stay, and are drained). */
void mt_rings_after_fork(struct mt_ring *mine)
{
	for (struct mt_ring *r = mt_rings; r; r = r->next)
		if (r != mine && r->owner == MT_RING_ACTIVE)
			retire(r);
	if (mine)
		mine->tid = (pid_t)syscall(SYS_gettid);
}
