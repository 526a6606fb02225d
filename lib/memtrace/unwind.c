/*
 * unwind.c - the stack walk, the cost every traced allocation pays.
 *
 * Three layers, cheapest first:
 *
 * 1. A per-thread cache of recent walks, keyed by (frame 0's return address,
 *    the stack pointer at the call).  A walk is a pure function of the
 *    registers it starts from, the unwind rules (fixed while no module is
 *    unloaded) and the stack words it reads.  So the cache keeps the
 *    address and value of every word the walk read, and a hit re-reads
 *    them: if all are unchanged, the walk would give the same stack again,
 *    and the interned id is returned without walking or hashing frames.
 *    The loads are independent (no pointer chasing), so checking a 12-frame
 *    stack costs a few nanoseconds - less than a frame-pointer walk.
 *
 * 2. A global table from return address to unwind rule (CFA = SP or BP plus
 *    a constant, the return address and the caller's BP at fixed offsets
 *    from the CFA), filled on a miss from the module's .eh_frame (cfi.c).
 *    Lookups are lock-free: a slot's rule is written before its key is
 *    published, and the table only grows (an old copy stays readable).
 *
 * 3. Frame pointers instead of rules, when PLUMB_MEMTRACE_UNWIND=fp.
 *
 * Every walk is validated, so a wrong rule or a program without frame
 * pointers gives a short stack, never a crash: it reads only 8-byte aligned
 * words between the stack pointer at the call and the end of the mapping
 * that holds it (found once per thread in /proc/self/maps, with raw system
 * calls: no malloc, no cancellation point), each frame's CFA must be above
 * the previous one, and it stops at the frame limit, at a return address it
 * cannot resolve, and at the outermost frame (_start, clone).  A signal
 * trampoline is stepped over to the code the signal interrupted
 * (signal_frame).
 *
 * The hooks are compiled with frame pointers, so the walk starts exactly at
 * the hook's frame: frame 0 is the return address into the code that called
 * malloc, whatever the entry point (malloc, calloc, realloc, operator new's
 * call to malloc...).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "tracer.h"

/* ---- the rule table ---- */

struct rslot {
	uintptr_t pc;
	uint64_t rule;
};

struct rules {
	size_t mask, used;
	struct rslot s[];
};

static struct rules *rules;
static pthread_mutex_t rules_lock = PTHREAD_MUTEX_INITIALIZER;

static inline size_t pc_hash(uintptr_t pc)
{
	return (size_t)((pc * 0x9E3779B97F4A7C15ull) >> 20);
}

static struct rules *rules_new(size_t nslots)
{
	size_t bytes = sizeof(struct rules) + nslots * sizeof(struct rslot);
	struct rules *t = mt_map(bytes);

	if (t)
		t->mask = nslots - 1;
	return t;
}

static void rules_put(struct rules *t, uintptr_t pc, uint64_t rule)
{
	size_t i = pc_hash(pc) & t->mask;

	while (t->s[i].pc && t->s[i].pc != pc)
		i = (i + 1) & t->mask;
	if (t->s[i].pc == pc) { /* a forgotten rule coming back */
		__atomic_store_n(&t->s[i].rule, rule, __ATOMIC_RELAXED);
		return;
	}
	t->s[i].rule = rule;
	MT_STORE(&t->s[i].pc, pc);
	t->used++;
}

/* Under rules_lock: a table with room for one more.  The old table is left
 * mapped (a reader may be probing it); tables double, so the ones left
 * behind add up to less than the current one. */
static struct rules *rules_room(void)
{
	struct rules *t = rules, *n;

	if (t && (t->used + 1) * 2 <= t->mask + 1)
		return t;
	n = rules_new(t ? (t->mask + 1) * 2 : 4096);
	if (!n)
		return NULL;
	if (t)
		for (size_t i = 0; i <= t->mask; i++)
			if (t->s[i].pc)
				rules_put(n, t->s[i].pc, t->s[i].rule);
	MT_STORE(&rules, n);
	return n;
}

static uint64_t rule_miss(uintptr_t pc)
{
	uint64_t r = mt_cfi_rule(pc);
	struct rules *t;

	if (!r)
		return 0; /* no module there (yet): do not remember */
	pthread_mutex_lock(&rules_lock);
	t = rules_room();
	if (t)
		rules_put(t, pc, r);
	pthread_mutex_unlock(&rules_lock);
	return r;
}

static inline uint64_t rule_lookup(uintptr_t pc)
{
	struct rules *t = MT_LOAD(&rules);

	if (MT_LIKELY(t != NULL)) {
		size_t i = pc_hash(pc) & t->mask;

		for (;;) {
			uintptr_t k = MT_LOAD(&t->s[i].pc);

			if (k == pc) {
				uint64_t r = __atomic_load_n(&t->s[i].rule, __ATOMIC_RELAXED);

				if (MT_LIKELY(r != 0))
					return r;
				break; /* forgotten (mt_unwind_forget): look again */
			}
			if (!k)
				break;
			i = (i + 1) & t->mask;
		}
	}
	return rule_miss(pc);
}

/* An object at [lo, hi) is being unloaded, and another may be mapped there
 * later: its rules are forgotten (a slot keeps its key, its rule becomes 0,
 * so lock-free readers see a miss and look again), and every thread's
 * cached walks become stale. */
void mt_unwind_forget(uintptr_t lo, uintptr_t hi)
{
	pthread_mutex_lock(&rules_lock);
	struct rules *t = rules;

	for (size_t i = 0; t && i <= t->mask; i++)
		if (t->s[i].pc >= lo && t->s[i].pc < hi)
			__atomic_store_n(&t->s[i].rule, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&rules_lock);
	__atomic_add_fetch(&mt_hot.gen, 1, __ATOMIC_RELEASE);
}

void mt_unwind_prepare(void)
{
	pthread_mutex_lock(&rules_lock);
}

void mt_unwind_parent(void)
{
	pthread_mutex_unlock(&rules_lock);
}

void mt_unwind_after_fork(void)
{
	pthread_mutex_init(&rules_lock, NULL);
}

/* ---- where the thread's stack ends ---- */

static uintptr_t hexval(const char **s)
{
	uintptr_t v = 0;

	for (;; (*s)++) {
		char c = **s;

		if (c >= '0' && c <= '9')
			v = v * 16 + (uintptr_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uintptr_t)(c - 'a' + 10);
		else
			return v;
	}
}

/* The mapping of /proc/self/maps that holds @sp.  Raw system calls: the
 * libc wrappers of read and close are cancellation points. */
static bool mapping_of(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
	char buf[4096];
	size_t have = 0;
	bool found = false;
	int saved = errno;
	long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		errno = saved;
		return false;
	}
	for (;;) {
		long n = syscall(SYS_read, fd, buf + have, sizeof(buf) - 1 - have);
		char *line = buf, *nl;

		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		while ((nl = memchr(line, '\n', (size_t)(buf + have - line)))) {
			const char *s = line;
			uintptr_t a = hexval(&s), b;

			if (*s == '-') {
				s++;
				b = hexval(&s);
				if (sp >= a && sp < b) {
					*lo = a;
					*hi = b;
					found = true;
					break;
				}
			}
			line = nl + 1;
		}
		if (found)
			break;
		have = (size_t)(buf + have - line);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* a line longer than the buffer: not a mapping's start */
	}
	syscall(SYS_close, fd);
	errno = saved;
	return found;
}

/* The end of the memory the walk may read above @sp, or 0 for none. */
static uintptr_t stack_end(struct mt_thread *t, uintptr_t sp)
{
	uintptr_t lo, hi;

	if (sp >= t->stack_lo && sp < t->stack_hi)
		return t->stack_hi;
	if (sp >= t->alt_lo && sp < t->alt_hi)
		return t->alt_hi;
	if (t->stack_lookups >= 16) /* coroutines galore: frame 0 only */
		return 0;
	t->stack_lookups++;
	if (!mapping_of(sp, &lo, &hi))
		return 0;
	if (!t->stack_hi || hi == t->stack_hi) { /* the main stack grows down */
		t->stack_lo = lo;
		t->stack_hi = hi;
	} else {
		t->alt_lo = lo;
		t->alt_hi = hi;
	}
	return hi;
}

/* ---- the walks ---- */

struct walk {
	uintptr_t *frames;
	unsigned n, limit;
	bool truncated;
	uintptr_t sp0, hi;
	struct mt_sc_entry *e; /* records the words read, when not NULL */
	bool used_bp0;
};

static inline bool rd(struct walk *w, uintptr_t addr, uintptr_t *v)
{
	if (addr < w->sp0 || addr + 8 > w->hi || (addr & 7))
		return false;
	*v = *(const uintptr_t *)addr;
	if (w->e) {
		unsigned i = w->e->nreads;

		if (i == MT_SC_READS) {
			w->e = NULL;
		} else {
			w->e->off[i] = (uint32_t)(addr - w->sp0);
			w->e->val[i] = *v;
			w->e->nreads = (uint16_t)(i + 1);
		}
	}
	return true;
}

/*
 * Records return address @ra as the next frame.  False ends the walk: @ra is
 * too low to be code (the outermost frame), or the buffer is full (marked
 * truncated).  Inline: both walks call it once a frame.
 */
static inline bool push(struct walk *w, uintptr_t ra)
{
	if (ra < 4096)
		return false;
	if (w->n == w->limit) {
		w->truncated = true;
		return false;
	}
	w->frames[w->n++] = ra;
	return true;
}

/*
 * Steps over a signal frame: @*sp is where the handler returned to the
 * trampoline, the kernel's ucontext (x86-64's rt_sigframe after its return
 * address), which holds the registers of the code the signal interrupted.
 * Its instruction pointer is not a return address but the instruction
 * itself, so the frame recorded (and the rule looked up next) is one byte
 * past it: every frame is then "the address after a call", and the rule
 * and the line found for it minus one are the interrupted instruction's.
 * A handler on an alternate stack interrupted code on another: that
 * stack is beyond the walk's reach (rd refuses it), and the walk ends
 * with the interrupted function as its last frame.
 */
static bool signal_frame(struct walk *w, uintptr_t *pc, uintptr_t *sp, uintptr_t *bp)
{
	uintptr_t uc = *sp, rip, rsp, rbp;

	if (!rd(w, uc + offsetof(ucontext_t, uc_mcontext.gregs[REG_RIP]), &rip) ||
	    !rd(w, uc + offsetof(ucontext_t, uc_mcontext.gregs[REG_RSP]), &rsp) ||
	    !rd(w, uc + offsetof(ucontext_t, uc_mcontext.gregs[REG_RBP]), &rbp))
		return false;
	if (rsp <= *sp || !push(w, rip + 1))
		return false;
	*pc = rip + 1;
	*sp = rsp;
	*bp = rbp;
	return true;
}

static void walk_cfi(struct walk *w, uintptr_t ra0, uintptr_t bp0)
{
	uintptr_t pc = ra0, sp = w->sp0, bp = bp0;
	bool bp_known = true, bp_is_bp0 = true;

	for (;;) {
		uint64_t r = rule_lookup(pc);
		uintptr_t base, cfa, ra;
		int16_t bp_off;

		if (!r) {
			w->e = NULL; /* may resolve later: do not cache */
			break;
		}
		if (r & (MT_RULE_STOP | MT_RULE_BAD))
			break;
		if (r & MT_RULE_SIGNAL) {
			if (!signal_frame(w, &pc, &sp, &bp))
				break;
			bp_known = true;
			bp_is_bp0 = false;
			continue;
		}
		if (r & MT_RULE_CFA_BP) {
			if (!bp_known)
				break;
			if (bp_is_bp0)
				w->used_bp0 = true;
			base = bp;
		} else {
			base = sp;
		}
		cfa = base + (uintptr_t)(intptr_t)mt_rule_cfa_off(r);
		if (cfa <= sp || cfa > w->hi)
			break;
		if (!rd(w, cfa + (uintptr_t)(intptr_t)mt_rule_ra_off(r), &ra))
			break;
		bp_off = mt_rule_bp_off(r);
		if (bp_off) {
			if (!rd(w, cfa + (uintptr_t)(intptr_t)bp_off, &bp))
				break;
			bp_known = true;
			bp_is_bp0 = false;
		} else if (r & MT_RULE_BP_LOST) {
			bp_known = false;
		}
		sp = cfa;
		if (!push(w, ra))
			break;
		pc = ra;
	}
}

static void walk_fp(struct walk *w, uintptr_t bp0)
{
	uintptr_t bp = bp0, sp = w->sp0;

	w->used_bp0 = true;
	for (;;) {
		uintptr_t ra, next;

		if (bp < sp || !rd(w, bp + 8, &ra) || !rd(w, bp, &next))
			break;
		if (!push(w, ra))
			break;
		sp = bp + 16;
		bp = next;
	}
}

static inline size_t sc_index(uintptr_t ra0, uintptr_t sp0)
{
	return (size_t)(((ra0 ^ (sp0 * 31)) * 0x9E3779B97F4A7C15ull) >> 58) & (MT_SC_WAYS - 1);
}

/*
 * Arranges the words a walk read for a quick check: sorted, adjacent ones
 * as 16-byte pairs first, the others after; each kind padded with copies
 * to a multiple of what the check does per iteration (2 pairs, 4 words),
 * so it needs no branch per word and its loop exits predictably.
 */
static void pack(struct mt_sc_entry *e)
{
	uint32_t off[MT_SC_READS];
	uintptr_t val[MT_SC_READS];
	unsigned n = 0, p = 0, s = 0, i;

	for (i = 0; i < e->nreads; i++) { /* insertion sort, equal words once */
		unsigned j = n;

		while (j && off[j - 1] > e->off[i])
			j--;
		if (j && off[j - 1] == e->off[i])
			continue;
		for (unsigned k = n; k > j; k--) {
			off[k] = off[k - 1];
			val[k] = val[k - 1];
		}
		off[j] = e->off[i];
		val[j] = e->val[i];
		n++;
	}
	for (i = 0; i < n; i++) /* pairs */
		if (i + 1 < n && off[i + 1] == off[i] + 8) {
			e->off[p] = off[i];
			e->val[2 * p] = val[i];
			e->val[2 * p + 1] = val[i + 1];
			off[i] = off[i + 1] = UINT32_MAX;
			p++;
			i++;
		}
	for (; p % 2; p++) {
		e->off[p] = e->off[0];
		e->val[2 * p] = e->val[0];
		e->val[2 * p + 1] = e->val[1];
	}
	for (i = 0; i < n; i++) /* single words */
		if (off[i] != UINT32_MAX) {
			e->off[p + s] = off[i];
			e->val[2 * p + s] = val[i];
			s++;
		}
	for (; s % 4; s++) {
		e->off[p + s] = e->off[p];
		e->val[2 * p + s] = e->val[2 * p];
	}
	e->npairs = (uint16_t)p;
	e->nsingles = (uint16_t)s;
}

static __attribute__((noinline)) uint32_t capture_slow(struct mt_thread *t, struct mt_sc_entry *e,
                                                       uintptr_t ra0, uintptr_t sp0, uintptr_t bp0,
                                                       unsigned gen)
{
	uintptr_t frames[MT_MAX_FRAMES];
	struct walk w = {
	        .frames = frames,
	        .n = 1,
	        .limit = (unsigned)mt_hot.frame_limit,
	        .sp0 = sp0,
	        .e = e,
	};
	uint32_t id;

	frames[0] = ra0;
	e->gen = 0;
	e->nreads = 0;
	w.hi = stack_end(t, sp0);
	if (!w.hi)
		w.e = NULL; /* no stack known: frame 0 only, and do not cache that */
	else if (mt_hot.fp)
		walk_fp(&w, bp0);
	else
		walk_cfi(&w, ra0, bp0);
	id = mt_stack_intern(frames, w.n, w.truncated);
	if (w.e && id) {
		pack(e);
		e->ra0 = ra0;
		e->sp0 = sp0;
		e->bp0 = bp0;
		e->use_bp0 = w.used_bp0;
		e->stack = id;
		e->gen = gen;
	}
	return id;
}

/* Whether the words the cached walk read still hold what it read (see
 * pack for the layout). */
static inline bool same_words(const struct mt_sc_entry *e, uintptr_t sp0)
{
	const uintptr_t *v = e->val + 2 * e->npairs;
	const uint32_t *o = e->off + e->npairs;
	__m128i acc = _mm_setzero_si128();
	uintptr_t diff = 0;

	for (unsigned k = 0; k < e->npairs; k += 2) {
		__m128i a = _mm_loadu_si128((const __m128i *)(sp0 + e->off[k]));
		__m128i b = _mm_loadu_si128((const __m128i *)(sp0 + e->off[k + 1]));

		a = _mm_xor_si128(a, _mm_loadu_si128((const __m128i *)&e->val[2 * k]));
		b = _mm_xor_si128(b, _mm_loadu_si128((const __m128i *)&e->val[2 * k + 2]));
		acc = _mm_or_si128(acc, _mm_or_si128(a, b));
	}
	for (unsigned i = 0; i < e->nsingles; i += 4)
		diff |= (*(const uintptr_t *)(sp0 + o[i]) ^ v[i]) |
		        (*(const uintptr_t *)(sp0 + o[i + 1]) ^ v[i + 1]) |
		        (*(const uintptr_t *)(sp0 + o[i + 2]) ^ v[i + 2]) |
		        (*(const uintptr_t *)(sp0 + o[i + 3]) ^ v[i + 3]);
	diff |= (uintptr_t)_mm_cvtsi128_si64(acc) |
	        (uintptr_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
	return !diff;
}

uint32_t mt_capture(struct mt_thread *t, struct mt_ring *r, void **frame)
{
	uintptr_t ra0 = (uintptr_t)frame[1], bp0 = (uintptr_t)frame[0];
	uintptr_t sp0 = (uintptr_t)(frame + 2);
	unsigned gen = mt_hot.gen;
	struct mt_sc_entry *e = &r->cache[sc_index(ra0, sp0)]; /* never NULL: ring_new */

	if (e->ra0 == ra0 && e->sp0 == sp0 && e->gen == gen && (!e->use_bp0 || e->bp0 == bp0) &&
	    same_words(e, sp0))
		return e->stack;
	return capture_slow(t, e, ra0, sp0, bp0, gen);
}
