/*
 * writer.c - the background thread that writes the trace file (pmt.h).
 *
 * Writing every event would make the file grow with the number of calls
 * (ten million malloc/free pairs are 320 MB of events before compression),
 * and most of it would say nothing a reader needs.  So the writer writes
 * what the reports use: a SAMPLE of current/peak every ~10 ms while memory
 * changes (the heap-over-time curve), and SNAPSHOTs - the live heap grouped
 * by (stack, domain) - at each --interval, on the snapshot signal, on
 * plumb_memtrace_take_snapshot(), and at exit the heap at its peak (PEAK)
 * and what was left (EXIT), then the SUMMARY.  Every stack and module a
 * snapshot refers to is written before it.
 *
 * It is also the drain's main customer: it wakes every 10 ms, or when a
 * thread's ring is half full (an eventfd the hooks write to), and merges
 * the rings, so the threads that allocate rarely have to.
 *
 * Each batch ends with a zstd flush (ZSTD_e_flush), so the file is readable
 * up to the last batch if the process is killed; zstd's memory comes from
 * the arena (ZSTD_customMem).  Modules are read with dl_iterate_phdr here,
 * in this thread, holding no tracer lock (see modules.c).  The snapshot
 * signal's handler only sets a flag and writes the eventfd.
 *
 * The file is OUTPUT with %p (pid) and %e (program name) expanded; a
 * process other than the root one (PLUMB_MEMTRACE_ROOT) appends ".<pid>"
 * when OUTPUT has no %p, so children - forked or exec'd - never write over
 * their parent's file.  A forked child starts a writer of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "pmt.h"
#include "tracer.h"

#define TICK_NS 10000000ull /* 10 ms */

struct queued {
	struct queued *next;
	struct mt_buf entries;
	uint64_t t_ns, current, peak;
};

struct written_module {
	uintptr_t start, end, bias;
	uint64_t path_hash;
};

static struct {
	pthread_t thread;
	pid_t pid; /* of the process the writer belongs to */
	bool running, exit_req, failed;
	int fd, efd;
	ZSTD_CCtx *cctx;
	struct mt_buf rec, out, snap, peak, mods, seen;
	size_t nseen;
	uint32_t stacks_written, seq;
	unsigned long long adds, subs;
	uint64_t next_interval, last_sample_ns, last_allocs, last_frees;
	struct queued *qhead, *qtail;
} W = {.fd = -1, .efd = -1};

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t sig_req;
static uint64_t sync_req, sync_done; /* mt_writer_sync's requests */

/* ---- records ---- */

static void put(const void *p, size_t n)
{
	if (W.failed || !mt_buf_reserve(&W.rec, n)) {
		W.failed = true;
		return;
	}
	memcpy(W.rec.p + W.rec.len, p, n);
	W.rec.len += n;
}

static void u8(uint8_t v)
{
	put(&v, 1);
}

static void u16(uint16_t v)
{
	put(&v, 2);
}

static void u32(uint32_t v)
{
	put(&v, 4);
}

static void u64(uint64_t v)
{
	put(&v, 8);
}

static void str(const void *s, size_t n)
{
	if (n > 65535)
		n = 65535;
	u16((uint16_t)n);
	put(s, n);
}

static size_t begin(uint8_t type)
{
	size_t at = W.rec.len;

	u8(type);
	u8(0);
	u16(0);
	u32(0);
	return at;
}

static void end(size_t at)
{
	uint32_t len = (uint32_t)(W.rec.len - at - 8);

	if (!W.failed)
		memcpy(W.rec.p + at + 4, &len, 4);
}

/* Compresses what the records hold and writes it; @last ends the frame. */
static void flush(bool last)
{
	ZSTD_inBuffer in = {W.rec.p, W.rec.len, 0};
	size_t left;

	if (W.failed || W.fd < 0 || (!W.rec.len && !last))
		goto out;
	do {
		ZSTD_outBuffer o = {W.out.p, W.out.cap, 0};

		left = ZSTD_compressStream2(W.cctx, &o, &in, last ? ZSTD_e_end : ZSTD_e_flush);
		if (ZSTD_isError(left) || pmt_write_all(W.fd, W.out.p, o.pos) != 0) {
			W.failed = true;
			break;
		}
	} while (left || in.pos < in.size);
out:
	W.rec.len = 0;
}

/* ---- the header, modules, stacks ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static void header(void)
{
	char cmd[4096];
	size_t n = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	struct timespec rt;
	uint32_t flags = 0;
	size_t at;

	if (fd >= 0) {
		ssize_t k = read(fd, cmd, sizeof(cmd));

		n = k > 0 ? (size_t)k : 0;
		close(fd);
		while (n && !cmd[n - 1])
			n--;
		for (size_t i = 0; i < n; i++)
			if (!cmd[i])
				cmd[i] = ' ';
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	if (mt_hot.fp)
		flags |= PMT_F_FRAME_POINTERS;
	if (mt_hot.sampled)
		flags |= PMT_F_SAMPLED;
	at = begin(PMT_HEADER);
	u32((uint32_t)getpid());
	u32((uint32_t)getppid());
	u32((uint32_t)mt_hot.frame_limit);
	u32(flags);
	u64((uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec - mt_clock_ns());
	u64(mt_cfg.sample);
	str(mt_exe_path(), strlen(mt_exe_path()));
	str(cmd, n);
	end(at);
}

static bool module_written(const struct mt_module *m, uint64_t h)
{
	const struct written_module *w = (const struct written_module *)W.seen.p;

	for (size_t i = 0; i < W.nseen; i++)
		if (w[i].start == m->start && w[i].end == m->end && w[i].bias == m->bias &&
		    w[i].path_hash == h)
			return true;
	return false;
}

/* Writes the modules not written yet (only when the loader's list
 * changed since the last look). */
static void modules(void)
{
	unsigned long long adds, subs;
	size_t n = mt_modules_scan(&W.mods, &adds, &subs);
	const struct mt_module *m = (const struct mt_module *)W.mods.p;

	if (W.nseen && adds == W.adds && subs == W.subs)
		return;
	W.adds = adds;
	W.subs = subs;
	for (size_t i = 0; i < n; i++) {
		uint64_t h = hash_str(m[i].path);
		struct written_module *w;
		size_t at;

		if (module_written(&m[i], h) || !mt_buf_reserve(&W.seen, sizeof(*w)))
			continue;
		w = (struct written_module *)(W.seen.p + W.seen.len);
		*w = (struct written_module){m[i].start, m[i].end, m[i].bias, h};
		W.seen.len += sizeof(*w);
		W.nseen++;
		at = begin(PMT_MODULE);
		u32((uint32_t)W.nseen);
		u64(m[i].start);
		u64(m[i].end);
		u64(m[i].bias);
		str(m[i].build_id, m[i].build_id_len);
		str(m[i].path, strlen(m[i].path));
		end(at);
	}
}

/* Every stack interned so far, in id order, after the modules they use. */
static void stacks(void)
{
	uint32_t n = mt_stack_count();

	if (n <= W.stacks_written)
		return;
	modules();
	for (uint32_t id = W.stacks_written + 1; id <= n; id++) {
		const struct mt_stack *s = mt_stack_get(id);
		size_t at = begin(PMT_STACK);

		u32(id);
		u16(s->nframe);
		u8(s->truncated);
		u8(0);
		put(s->frames, s->nframe * sizeof(uint64_t));
		end(at);
	}
	W.stacks_written = n;
}

static void snapshot(uint8_t kind, const struct mt_buf *entries, uint64_t t_ns, uint64_t current,
                     uint64_t peak)
{
	size_t n = entries->len / sizeof(struct mt_snap_entry), at;

	stacks();
	at = begin(PMT_SNAPSHOT);
	u32(W.seq++);
	u8(kind);
	u8(0);
	u16(0);
	u64(t_ns);
	u64(current);
	u64(peak);
	u32((uint32_t)n);
	put(entries->p, entries->len); /* { u32 stack, u32 domain, u64 count, u64 size } */
	end(at);
}

static void sample(const struct mt_totals *t, uint64_t now)
{
	size_t at = begin(PMT_SAMPLE);

	u64(now);
	u64(t->current);
	u64(t->peak);
	u64(t->max_since);
	u64(t->allocs);
	u64(t->frees);
	end(at);
	W.last_sample_ns = now;
	W.last_allocs = t->allocs;
	W.last_frees = t->frees;
}

/* ---- the thread ---- */

static void batch(void)
{
	uint64_t sync = __atomic_load_n(&sync_req, __ATOMIC_ACQUIRE);
	bool sig = __atomic_exchange_n(&sig_req, 0, __ATOMIC_ACQ_REL);
	uint64_t now = mt_clock_ns();
	bool interval = mt_cfg.interval_ms && now >= W.next_interval;
	bool want_sample;
	struct mt_totals t;
	struct queued *q;
	uint64_t until;

	pthread_mutex_lock(&mt_drain_lock);
	until = mt_now();
	mt_drain_locked(until);
	mt_totals(&t);
	want_sample = now - W.last_sample_ns >= TICK_NS &&
	              (t.allocs != W.last_allocs || t.frees != W.last_frees);
	if (want_sample)
		mt_reset_max();
	W.snap.len = 0;
	if ((sig || interval) && !mt_snap_copy(&W.snap, false))
		sig = interval = false;
	pthread_mutex_unlock(&mt_drain_lock);

	if (want_sample)
		sample(&t, now);
	if (sig)
		snapshot(PMT_SNAP_SIGNAL, &W.snap, now, t.current, t.peak);
	if (interval) {
		snapshot(PMT_SNAP_INTERVAL, &W.snap, now, t.current, t.peak);
		while (W.next_interval <= now)
			W.next_interval += mt_cfg.interval_ms * 1000000u;
	}
	pthread_mutex_lock(&qlock);
	q = W.qhead;
	W.qhead = W.qtail = NULL;
	pthread_mutex_unlock(&qlock);
	while (q) {
		struct queued *next = q->next;

		snapshot(PMT_SNAP_API, &q->entries, q->t_ns, q->current, q->peak);
		mt_buf_free(&q->entries);
		mt_unmap(q, sizeof(*q));
		q = next;
	}
	if (sync != __atomic_load_n(&sync_done, __ATOMIC_RELAXED)) {
		modules();
		stacks();
	}
	flush(false);
	__atomic_store_n(&sync_done, sync, __ATOMIC_RELEASE);
}

/* At exit: everything left, the heap at the peak and at the end, the
 * summary, and a closed zstd frame. */
static void final(void)
{
	struct mt_totals t;
	uint64_t now;

	batch();
	pthread_mutex_lock(&mt_drain_lock);
	mt_drain_locked(UINT64_MAX);
	mt_totals(&t);
	W.snap.len = W.peak.len = 0;
	mt_snap_copy(&W.snap, false);
	mt_snap_copy(&W.peak, true);
	pthread_mutex_unlock(&mt_drain_lock);
	now = mt_clock_ns();
	sample(&t, now);
	snapshot(PMT_SNAP_PEAK, &W.peak, mt_ticks_to_ns(t.peak_ts), t.peak, t.peak);
	snapshot(PMT_SNAP_EXIT, &W.snap, now, t.current, t.peak);
	size_t at = begin(PMT_SUMMARY);
	u64(now);
	u64(t.peak);
	u64(mt_ticks_to_ns(t.peak_ts));
	u64(t.current);
	u64(t.live_blocks);
	u64(t.allocs);
	u64(t.frees);
	u64(t.bytes);
	u64(mt_memory_peak());
	u64(t.untraced);
	end(at);
	flush(true);
	close(W.fd);
	W.fd = -1;
}

static void *writer_main(void *arg)
{
	(void)arg;
	mt_self.inside = 1; /* whatever this thread allocates is the tracer's */
	while (!__atomic_load_n(&W.exit_req, __ATOMIC_ACQUIRE)) {
		struct pollfd p = {.fd = W.efd, .events = POLLIN};
		int timeout = (int)(TICK_NS / 1000000u);
		uint64_t v;

		if (mt_cfg.interval_ms) {
			uint64_t now = mt_clock_ns();
			uint64_t wait =
			        W.next_interval > now ? (W.next_interval - now) / 1000000u : 0;

			if (wait < (uint64_t)timeout)
				timeout = (int)wait;
		}
		if (poll(&p, 1, timeout) > 0 && read(W.efd, &v, sizeof(v)) < 0)
			(void)0;
		if (__atomic_load_n(&W.exit_req, __ATOMIC_ACQUIRE))
			break;
		batch();
	}
	final();
	return NULL;
}

/* ---- the file's name ---- */

static void append(char *buf, size_t size, size_t *n, const char *s)
{
	while (*s && *n + 1 < size)
		buf[(*n)++] = *s++;
	buf[*n] = 0;
}

static void output_path(char *buf, size_t size)
{
	extern char *program_invocation_short_name;
	const char *pat = mt_cfg.output ? mt_cfg.output : "memtrace.%e.%p.pmt";
	char pid[24];
	size_t n = 0;
	bool has_pid = false;

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	buf[0] = 0;
	for (const char *s = pat; *s; s++) {
		char one[2] = {*s, 0};

		if (s[0] == '%' && s[1] == 'p') {
			append(buf, size, &n, pid);
			has_pid = true;
			s++;
		} else if (s[0] == '%' && s[1] == 'e') {
			const char *e = program_invocation_short_name;
			append(buf, size, &n, e && *e ? e : "prog");
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			append(buf, size, &n, "%");
			s++;
		} else {
			append(buf, size, &n, one);
		}
	}
	if (!has_pid && mt_cfg.root && mt_cfg.root != (long)getpid()) {
		append(buf, size, &n, ".");
		append(buf, size, &n, pid);
	}
}

/* ---- starting and stopping ---- */

static int open_file(void)
{
	char path[4096];
	static const char preamble[8] = PMT_PREAMBLE;
	ZSTD_customMem mem = {mt_arena_alloc, mt_arena_free, NULL};

	output_path(path, sizeof(path));
	W.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (W.fd < 0)
		return -errno;
	W.cctx = ZSTD_createCCtx_advanced(mem);
	if (!W.cctx || !mt_buf_reserve(&W.out, ZSTD_CStreamOutSize()) ||
	    pmt_write_all(W.fd, preamble, sizeof(preamble)) != 0) {
		close(W.fd);
		W.fd = -1;
		return -ENOMEM;
	}
	ZSTD_CCtx_setParameter(W.cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(W.cctx, ZSTD_c_windowLog, 17);
	header();
	flush(false);
	return 0;
}

int mt_writer_start(void)
{
	sigset_t all, old;
	int err;

	if (W.running)
		return 0;
	W.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (W.efd < 0)
		return -errno;
	err = open_file();
	if (err < 0) {
		close(W.efd);
		W.efd = -1;
		return err;
	}
	W.next_interval = mt_clock_ns() + mt_cfg.interval_ms * 1000000u;
	W.exit_req = false;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&W.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		close(W.fd);
		close(W.efd);
		W.fd = W.efd = -1;
		return -err;
	}
	W.running = true;
	W.pid = getpid();
	MT_STORE(&mt_hot.efd, W.efd);
	return 0;
}

bool mt_writer_running(void)
{
	/* In a vfork child (posix_spawn, system) the memory is the parent's
	 * but the process is not: the writer is not ours to stop there. */
	return W.running && W.pid == getpid();
}

void mt_writer_wake(void)
{
	int saved = errno, fd = MT_LOAD(&mt_hot.efd);
	uint64_t one = 1;

	if (fd >= 0)
		syscall(SYS_write, fd, &one, sizeof(one));
	errno = saved;
}

void mt_writer_sync(void)
{
	struct timespec nap = {0, 50000};
	uint64_t want;

	if (!mt_writer_running())
		return;
	want = __atomic_add_fetch(&sync_req, 1, __ATOMIC_ACQ_REL);
	mt_writer_wake();
	/* Bounded (about a second): a writer that cannot run must not hang
	 * the program's dlclose; its stacks would then only lose names. */
	for (int i = 0; i < 20000 && __atomic_load_n(&sync_done, __ATOMIC_ACQUIRE) < want; i++)
		nanosleep(&nap, NULL);
}

void mt_writer_finish(void)
{
	if (!W.running)
		return;
	MT_STORE(&mt_hot.efd, -1);
	__atomic_store_n(&W.exit_req, true, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(W.efd, &one, sizeof(one)) < 0)
		(void)0;
	pthread_join(W.thread, NULL);
	W.running = false;
	close(W.efd);
	W.efd = -1;
}

bool mt_writer_snapshot(struct mt_buf *entries, uint64_t t_ns, uint64_t current, uint64_t peak)
{
	struct queued *q;

	if (!W.running)
		return false;
	q = mt_map(sizeof(*q));
	if (!q)
		return false;
	q->entries = *entries;
	memset(entries, 0, sizeof(*entries));
	q->t_ns = t_ns;
	q->current = current;
	q->peak = peak;
	pthread_mutex_lock(&qlock);
	if (W.qtail)
		W.qtail->next = q;
	else
		W.qhead = q;
	W.qtail = q;
	pthread_mutex_unlock(&qlock);
	mt_writer_wake();
	return true;
}

/* ---- the snapshot signal ---- */

static void on_signal(int sig)
{
	(void)sig;
	sig_req = 1;
	mt_writer_wake();
}

void mt_signal_install(void)
{
	struct sigaction sa, old;
	int sig = mt_cfg.signo;

	if (sig == 0)
		return;
	if (sig < 0) { /* the default: SIGUSR2 when nobody else wants it */
		sig = SIGUSR2;
		if (sigaction(sig, NULL, &old) < 0 || (old.sa_flags & SA_SIGINFO) ||
		    old.sa_handler != SIG_DFL)
			return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* ---- fork ---- */

void mt_writer_prepare(void)
{
	pthread_mutex_lock(&qlock);
}

void mt_writer_parent(void)
{
	pthread_mutex_unlock(&qlock);
}

void mt_writer_child(void)
{
	bool was = W.running;
	struct queued *q = W.qhead;

	pthread_mutex_init(&qlock, NULL);
	while (q) {
		struct queued *next = q->next;

		mt_buf_free(&q->entries);
		mt_unmap(q, sizeof(*q));
		q = next;
	}
	if (W.fd >= 0)
		close(W.fd);
	if (W.efd >= 0)
		close(W.efd);
	if (W.cctx)
		ZSTD_freeCCtx(W.cctx);
	mt_hot.efd = -1;
	W.running = W.exit_req = W.failed = false;
	W.fd = W.efd = -1;
	W.cctx = NULL;
	W.qhead = W.qtail = NULL;
	W.rec.len = W.snap.len = W.peak.len = W.seen.len = 0;
	W.nseen = 0;
	W.stacks_written = W.seq = 0;
	W.last_sample_ns = W.last_allocs = W.last_frees = 0;
	if (was)
		mt_writer_start();
}
