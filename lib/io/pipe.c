/*
 * pipe.c - the synchronous in-memory pipe (Go's io.Pipe), on futexes.
 *
 * A write hands its buffer to the readers and waits until they have taken
 * every byte; each read copies straight from the writer's buffer into its
 * own, so there is no buffer in between and nothing is allocated after
 * plumb_pipe_new.  The semantics are Go's; the machinery is not.
 *
 * Why not a mutex and a condition variable: a handoff between two threads
 * that are both running should cost a couple of cache-line transfers, not
 * four syscalls.  So each side waits on one 32-bit word: it spins on it for
 * a while (the other side is usually about to answer), then sleeps on it
 * with FUTEX_WAIT after setting a SLEEPING bit, and the other side makes the
 * FUTEX_WAKE syscall only when it sees that bit.
 *
 * How long to spin is learnt, per side of each pipe.  A wait that ends up
 * sleeping, but only briefly, says that spinning longer would have saved two
 * syscalls and a wake-up: the budget doubles (up to SPIN_MAX_NS).  A long
 * sleep says the other side is away: the budget halves (down to SPIN_MIN_NS).
 * So a stream of handoffs between two running threads never sleeps, and a
 * thread blocked on a pipe that nobody serves is asleep, not burning a core.
 * A writer also keeps spinning while it sees a reader copying its bytes
 * (reads copy in pieces and say after each one how much is left).
 *
 * Spinning only helps if the other side runs on another CPU.  Each side notes
 * the CPU it waits on (sched_getcpu, a memory read with rseq); a side that
 * finds the other one last waited on its own CPU yields that CPU to it a few
 * times instead of spinning, since the other cannot answer while we spin.  On
 * a machine so busy that both threads share one CPU, a handoff then costs a
 * context switch, not a spin budget plus a futex wait and wake.
 *
 * The words:
 *   rword - readers wait here: AVAIL (a write is on offer: src/left are
 *           valid), CLOSED, SLEEPING.
 *   wword - the writer waits here: DONE (its bytes are all taken), CLOSED,
 *           SLEEPING.
 * Writes are serialized by wlock and reads by rlock (small futex locks), so
 * at most one thread ever waits on each word, and src/left are changed only
 * by the writer before it sets AVAIL and by the reader holding rlock.  Every
 * handoff of data or of src/left is ordered by a release and an acquire on
 * these words (or by the locks, which are atomics too): the futex calls only
 * put threads to sleep and wake them and never order anything, which is also
 * what ThreadSanitizer needs to see.
 *
 * The steps of one write:
 *   writer: takes wlock; src = buf, left = len; sets AVAIL (release);
 *           waits for DONE or CLOSED.
 *   reader: takes rlock; waits for AVAIL or CLOSED (acquire); copies
 *           min(len, left) bytes; advances src/left; if left is 0, clears
 *           AVAIL and sets DONE (release); returns the count.
 *   writer: sees DONE (acquire), clears it, returns len.
 *
 * Closing either end sets CLOSED in both words, after storing the end's
 * error (the first one sticks).  A reader that sees CLOSED returns the close
 * error at once (as in Go, a close is not a drain).  A writer that sees
 * CLOSED before DONE takes rlock before returning, so that no reader is still
 * copying from its buffer when the caller gets the buffer back.
 *
 * A zero-length write takes part in the handoff like any other (as in Go,
 * it returns once a reader has arrived, or fails on a closed pipe), but the
 * reader that meets it does not return: a read returning 0 means the end of
 * the stream in C, so the reader acknowledges it and waits on for bytes.  A
 * zero-length read returns at once: 0, or the close error.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <plumb/io.h>

#define CACHELINE 64

/* The bits of rword and wword. */
enum {
	AVAIL = 1u << 0,   /* rword: a write is on offer */
	DONE = 1u << 0,    /* wword: the write on offer was taken whole */
	CLOSED = 1u << 1,  /* either word: an end was closed */
	SLEEPING = 1u << 2 /* either word: its waiter sleeps (or is about to) */
};

/* A read copies in pieces of this size, telling the writer after each. */
#define PIECE ((size_t)64 << 10)

/* Spin budgets, in nanoseconds: the bounds and the start of a side's
 * budget, and how long a thread spins for one of the locks. */
#define SPIN_MIN_NS   1000
#define SPIN_START_NS 4000
#define SPIN_MAX_NS   64000
#define LOCK_SPIN_NS  2000

/* The longest a writer spins while it sees a reader copying its bytes (a
 * 1 MiB write at 4 GB/s); after that it sleeps even so. */
#define PROGRESS_MAX_NS 256000

/* How many times a side yields the CPU to the other before it sleeps. */
#define YIELDS 3

/* werr when the writer closed without an error: reads return 0 (EOF). */
#define WERR_EOF 1

/* How one side of a pipe waits: its spin budget, where it says where it
 * runs, and where the other side says so. */
struct side {
	int32_t spin;
	_Atomic int *mine, *theirs;
};

struct plumb_pipe {
	/* The handoff, written by both sides in turn: one cache line. */
	alignas(CACHELINE) _Atomic uint32_t rword;
	_Atomic uint32_t wword;
	const unsigned char *src; /* what is left of the write on offer */
	_Atomic size_t left;      /* (the writer watches it move) */
	_Atomic int rcpu, wcpu;   /* where each side last waited, or -1 */

	alignas(CACHELINE) _Atomic uint32_t rlock; /* serializes reads */
	struct side rside;                         /* the readers' waiting (under rlock) */

	alignas(CACHELINE) _Atomic uint32_t wlock; /* serializes writes */
	struct side wside;                         /* the writers' waiting (under wlock) */

	alignas(CACHELINE) _Atomic int rerr; /* 0, or the read end's close error */
	_Atomic int werr;                    /* 0, WERR_EOF, or the write end's error */
	plumb_reader reader;
	plumb_writer writer;
};

/* ---- Futexes ---- */

static void futex_wait(_Atomic uint32_t *word, uint32_t expect)
{
	/* EAGAIN (the word moved) and EINTR both just mean: look again. */
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* ---- Spinning ---- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spin loops count rounds (a pause and a load), not time, so that spinning
 * costs no clock reads; this is how many rounds make 1024 ns here, measured
 * once; 0 when there is one CPU (spinning cannot help: the other side needs
 * that CPU to answer).  Calibrating twice at once is harmless. */
static _Atomic int32_t rounds_per_1024ns = -1;

static void calibrate(void)
{
	_Atomic uint32_t dummy = 0;
	int64_t took = INT64_MAX;
	int32_t r;

	if (atomic_load_explicit(&rounds_per_1024ns, memory_order_relaxed) >= 0)
		return;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		atomic_store_explicit(&rounds_per_1024ns, 0, memory_order_relaxed);
		return;
	}
	/* The fastest of three tries: a preemption only makes one slower. */
	for (int k = 0; k < 3; k++) {
		int64_t start = now_ns(), t;

		for (int i = 0; i < 1000; i++) {
			cpu_relax();
			(void)atomic_load_explicit(&dummy, memory_order_acquire);
		}
		t = now_ns() - start;
		if (t < took)
			took = t;
	}
	r = (int32_t)(1000 * 1024 / (took > 0 ? took : 1));
	atomic_store_explicit(&rounds_per_1024ns, r > 0 ? r : 1, memory_order_relaxed);
}

/* Spins up to about ns nanoseconds until a bit of want is set in *word;
 * returns the last value seen (loaded with acquire). */
static uint32_t spin_on(_Atomic uint32_t *word, uint32_t want, int32_t ns)
{
	int64_t rounds =
	        (int64_t)ns * atomic_load_explicit(&rounds_per_1024ns, memory_order_relaxed);
	uint32_t w = atomic_load_explicit(word, memory_order_acquire);

	for (rounds /= 1024; !(w & want) && rounds > 0; rounds--) {
		cpu_relax();
		w = atomic_load_explicit(word, memory_order_acquire);
	}
	return w;
}

/* Sleeps until a bit of want is set in *word, which was w; sets the SLEEPING
 * bit first.  Returns the word, loaded with acquire. */
static uint32_t sleep_on(_Atomic uint32_t *word, uint32_t want, uint32_t w)
{
	while (!(w & want)) {
		if (!(w & SLEEPING) &&
		    !atomic_compare_exchange_weak_explicit(
		            word, &w, w | SLEEPING, memory_order_acquire, memory_order_acquire))
			continue; /* w was reloaded: look at it again */
		futex_wait(word, w | SLEEPING);
		w = atomic_load_explicit(word, memory_order_acquire);
	}
	return w;
}

/* After a wait that slept for slept ns: was spinning worth more? */
static void adapt(int32_t *budget, int64_t slept)
{
	if (slept + *budget <= SPIN_MAX_NS)
		*budget = *budget * 2 < SPIN_MAX_NS ? *budget * 2 : SPIN_MAX_NS;
	else
		*budget = *budget / 2 > SPIN_MIN_NS ? *budget / 2 : SPIN_MIN_NS;
}

/* Yields the CPU to the other side a few times; returns the word. */
static uint32_t yield_to(_Atomic uint32_t *word, uint32_t want)
{
	uint32_t w = 0;

	for (int i = 0; i < YIELDS && !(w & want); i++) {
		sched_yield();
		w = atomic_load_explicit(word, memory_order_acquire);
	}
	return w;
}

/* Spins on *word for s->spin ns, and on as long as *progress (if not NULL)
 * keeps moving, up to PROGRESS_MAX_NS in all; returns the word. */
static uint32_t spin_for(struct side *s, _Atomic uint32_t *word, uint32_t want,
                         _Atomic size_t *progress)
{
	size_t seen = progress ? atomic_load_explicit(progress, memory_order_relaxed) : 0;
	int64_t spun = 0;
	uint32_t w;

	for (;;) {
		w = spin_on(word, want, s->spin);
		spun += s->spin;
		if ((w & want) || !progress || spun >= PROGRESS_MAX_NS)
			return w;
		size_t now = atomic_load_explicit(progress, memory_order_relaxed);

		if (now == seen)
			return w;
		seen = now;
	}
}

/*
 * Waits until a bit of want is set in *word, for side s: yields the CPU to
 * the other side if it last waited on this CPU, spins otherwise (spin_for);
 * then sleeps, and adapts the budget by how long the sleep was.  Returns the
 * word, loaded with acquire.
 */
static uint32_t await(struct side *s, _Atomic uint32_t *word, uint32_t want,
                      _Atomic size_t *progress)
{
	uint32_t w = atomic_load_explicit(word, memory_order_acquire);
	int cpu;
	bool shared;
	int64_t start;

	if (w & want)
		return w;
	cpu = sched_getcpu();
	atomic_store_explicit(s->mine, cpu, memory_order_relaxed);
	shared = cpu >= 0 && cpu == atomic_load_explicit(s->theirs, memory_order_relaxed);
	w = shared ? yield_to(word, want) : spin_for(s, word, want, progress);
	if (w & want)
		return w;
	start = now_ns();
	w = sleep_on(word, want, w);
	if (!shared)
		adapt(&s->spin, now_ns() - start);
	atomic_store_explicit(s->mine, sched_getcpu(), memory_order_relaxed);
	return w;
}

/* Sets bits in *word (release) and wakes its waiter if it sleeps; returns the
 * old value. */
static uint32_t post(_Atomic uint32_t *word, uint32_t bits)
{
	uint32_t old = atomic_load_explicit(word, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(word, &old, (old | bits) & ~SLEEPING,
	                                              memory_order_acq_rel, memory_order_relaxed))
		;
	if (old & SLEEPING)
		futex_wake(word);
	return old;
}

/* ---- A small futex lock: 0 free, 1 held, 2 held and someone sleeps ---- */

static void lock(_Atomic uint32_t *l)
{
	int64_t rounds = (int64_t)LOCK_SPIN_NS *
	                 atomic_load_explicit(&rounds_per_1024ns, memory_order_relaxed) / 1024;

	/* Held: a reader or writer is in the middle of its call; spin a little
	 * (it may be about to leave), then sleep. */
	for (;; rounds--) {
		uint32_t c = atomic_load_explicit(l, memory_order_relaxed);

		if (c == 0 && atomic_compare_exchange_weak_explicit(l, &c, 1, memory_order_acquire,
		                                                    memory_order_relaxed))
			return;
		if (rounds <= 0)
			break;
		cpu_relax();
	}
	while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
		futex_wait(l, 2);
}

static void unlock(_Atomic uint32_t *l)
{
	if (atomic_exchange_explicit(l, 0, memory_order_release) == 2)
		futex_wake(l);
}

/* ---- Errors ---- */

static int close_error(int err)
{
	if (err > 0)
		return -err;
	return err;
}

/* What a read returns once the pipe is closed (Go's readCloseError). */
static ssize_t read_closed(plumb_pipe *p)
{
	int rerr = atomic_load_explicit(&p->rerr, memory_order_acquire);
	int werr = atomic_load_explicit(&p->werr, memory_order_acquire);

	if (rerr == 0 && werr != 0)
		return werr == WERR_EOF ? 0 : werr;
	return PLUMB_ECLOSED;
}

/* What a write returns once the pipe is closed (Go's writeCloseError). */
static ssize_t write_closed(plumb_pipe *p)
{
	int rerr = atomic_load_explicit(&p->rerr, memory_order_acquire);
	int werr = atomic_load_explicit(&p->werr, memory_order_acquire);

	if (werr == 0 && rerr != 0)
		return rerr;
	return PLUMB_ECLOSED;
}

/* ---- Reading ---- */

/* Takes what the reader holding rlock may from the write on offer: copies
 * it in pieces, saying after each how much is left. */
static size_t take(plumb_pipe *p, void *buf, size_t len)
{
	size_t left = atomic_load_explicit(&p->left, memory_order_relaxed);
	size_t n = left < len ? left : len;

	for (size_t off = 0; off < n; off += PIECE) {
		size_t k = n - off < PIECE ? n - off : PIECE;

		memcpy((unsigned char *)buf + off, p->src + off, k);
		atomic_store_explicit(&p->left, left - off - k, memory_order_relaxed);
	}
	if (n > 0)
		p->src += n;
	if (left == n) {
		/* Before DONE: the writer sets AVAIL again only after DONE. */
		atomic_fetch_and_explicit(&p->rword, ~AVAIL, memory_order_relaxed);
		post(&p->wword, DONE);
	}
	return n;
}

static ssize_t read_locked(plumb_pipe *p, void *buf, size_t len)
{
	for (;;) {
		uint32_t w = await(&p->rside, &p->rword, AVAIL | CLOSED, NULL);
		size_t n;

		if (w & CLOSED)
			return read_closed(p);
		n = take(p, buf, len);
		if (n > 0)
			return (ssize_t)n;
		/* A zero-length write, acknowledged: wait for bytes. */
	}
}

ssize_t plumb_pipe_read(plumb_pipe *p, void *buf, size_t len)
{
	ssize_t n;

	if (atomic_load_explicit(&p->rword, memory_order_acquire) & CLOSED)
		return read_closed(p);
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	lock(&p->rlock);
	n = read_locked(p, buf, len);
	unlock(&p->rlock);
	return n;
}

/* ---- Writing ---- */

/* The pipe closed under a write on offer: withdraw it.  Holding rlock means
 * no reader is copying from it; returns wword as it is then. */
static uint32_t withdraw(plumb_pipe *p)
{
	uint32_t w;

	lock(&p->rlock);
	atomic_fetch_and_explicit(&p->rword, ~AVAIL, memory_order_relaxed);
	w = atomic_load_explicit(&p->wword, memory_order_acquire);
	unlock(&p->rlock);
	return w;
}

static ssize_t write_locked(plumb_pipe *p, const void *buf, size_t len)
{
	uint32_t w = atomic_load_explicit(&p->wword, memory_order_acquire);

	if (w & CLOSED)
		return write_closed(p);
	p->src = buf;
	atomic_store_explicit(&p->left, len, memory_order_relaxed);
	if (post(&p->rword, AVAIL) & CLOSED) {
		/* Readers see CLOSED before AVAIL, so none will touch buf. */
		atomic_fetch_and_explicit(&p->rword, ~AVAIL, memory_order_relaxed);
		return write_closed(p);
	}
	w = await(&p->wside, &p->wword, DONE | CLOSED, &p->left);
	if (!(w & DONE))
		w = withdraw(p);
	if (!(w & DONE))
		return write_closed(p);
	atomic_fetch_and_explicit(&p->wword, ~DONE, memory_order_relaxed);
	return (ssize_t)len;
}

ssize_t plumb_pipe_write(plumb_pipe *p, const void *buf, size_t len)
{
	ssize_t n;

	if (atomic_load_explicit(&p->wword, memory_order_acquire) & CLOSED)
		return write_closed(p);
	if (len > SSIZE_MAX)
		return -EINVAL;
	lock(&p->wlock);
	n = write_locked(p, buf, len);
	unlock(&p->wlock);
	return n;
}

/* ---- Closing ---- */

static void close_both(plumb_pipe *p)
{
	post(&p->rword, CLOSED);
	post(&p->wword, CLOSED);
}

int plumb_pipe_close_read(plumb_pipe *p, int err)
{
	int none = 0;

	err = err ? close_error(err) : PLUMB_ECLOSED;
	atomic_compare_exchange_strong_explicit(&p->rerr, &none, err, memory_order_release,
	                                        memory_order_relaxed);
	close_both(p);
	return 0;
}

int plumb_pipe_close_write(plumb_pipe *p, int err)
{
	int none = 0;

	err = err ? close_error(err) : WERR_EOF;
	atomic_compare_exchange_strong_explicit(&p->werr, &none, err, memory_order_release,
	                                        memory_order_relaxed);
	close_both(p);
	return 0;
}

/* ---- The interfaces ---- */

static ssize_t pipe_reader_read(plumb_reader *r, void *buf, size_t len)
{
	return plumb_pipe_read(PLUMB_CONTAINER_OF(r, plumb_pipe, reader), buf, len);
}

static int pipe_reader_close(plumb_reader *r)
{
	return plumb_pipe_close_read(PLUMB_CONTAINER_OF(r, plumb_pipe, reader), 0);
}

static void pipe_reader_free(plumb_reader *r)
{
	(void)r; /* the pipe owns its ends: plumb_pipe_free */
}

static ssize_t pipe_writer_write(plumb_writer *w, const void *buf, size_t len)
{
	return plumb_pipe_write(PLUMB_CONTAINER_OF(w, plumb_pipe, writer), buf, len);
}

static int pipe_writer_close(plumb_writer *w)
{
	return plumb_pipe_close_write(PLUMB_CONTAINER_OF(w, plumb_pipe, writer), 0);
}

static void pipe_writer_free(plumb_writer *w)
{
	(void)w;
}

static const plumb_reader_ops pipe_reader_ops = {
        .read = pipe_reader_read,
        .close = pipe_reader_close,
        .free = pipe_reader_free,
};

static const plumb_writer_ops pipe_writer_ops = {
        .write = pipe_writer_write,
        .close = pipe_writer_close,
        .free = pipe_writer_free,
};

plumb_reader *plumb_pipe_reader(plumb_pipe *p)
{
	return &p->reader;
}

plumb_writer *plumb_pipe_writer(plumb_pipe *p)
{
	return &p->writer;
}

/* ---- Life ---- */

plumb_pipe *plumb_pipe_new(void)
{
	plumb_pipe *p = aligned_alloc(CACHELINE, sizeof(*p));

	if (!p)
		return NULL;
	calibrate();
	memset(p, 0, sizeof(*p));
	atomic_init(&p->rword, 0);
	atomic_init(&p->wword, 0);
	atomic_init(&p->left, 0);
	atomic_init(&p->rlock, 0);
	atomic_init(&p->wlock, 0);
	atomic_init(&p->rerr, 0);
	atomic_init(&p->werr, 0);
	atomic_init(&p->rcpu, -1);
	atomic_init(&p->wcpu, -1);
	p->rside = (struct side){.spin = SPIN_START_NS, .mine = &p->rcpu, .theirs = &p->wcpu};
	p->wside = (struct side){.spin = SPIN_START_NS, .mine = &p->wcpu, .theirs = &p->rcpu};
	p->reader.ops = &pipe_reader_ops;
	p->writer.ops = &pipe_writer_ops;
	return p;
}

void plumb_pipe_free(plumb_pipe *p)
{
	free(p);
}
