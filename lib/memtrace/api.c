/*
 * api.c - tracemalloc's module functions (include/plumb/memtrace.h) over
 * the tracer.
 *
 * Each call first drains the rings, so what it reports includes every
 * allocation the calling thread made before the call (and every one other
 * threads published by then), as tracemalloc's answers do.  The calls run
 * with the thread's "inside" flag set: the snapshot and traceback objects
 * they build (through the analysis half, analysis.h) come from malloc but
 * are not traced, as tracemalloc does not trace its own memory.  Modules
 * are read here with dl_iterate_phdr: an API call is not a hook and holds
 * no tracer lock while it does that.
 */
#include <errno.h>

#include "tracer.h"

static void enter(void)
{
	mt_self.inside++;
}

static void leave(void)
{
	mt_self.inside--;
}

/* For the analysis half (analysis.h): its public functions run untraced. */
MT_HIDDEN int mt_untraced_begin(void)
{
	return mt_self.inside++;
}

MT_HIDDEN void mt_untraced_end(int previous)
{
	mt_self.inside = previous;
}

static bool tracing(void)
{
	return MT_LOAD(&mt_hot.state) == MT_ON;
}

int plumb_memtrace_start(int nframe)
{
	if (nframe < 1 || nframe > MT_MAX_FRAMES)
		return -EINVAL;
	enter();
	mt_start_tracing(nframe);
	leave();
	return 0;
}

void plumb_memtrace_stop(void)
{
	enter();
	mt_stop_tracing();
	leave();
}

bool plumb_memtrace_is_tracing(void)
{
	return tracing();
}

int plumb_memtrace_get_traceback_limit(void)
{
	return mt_hot.frame_limit;
}

void plumb_memtrace_get_traced_memory(size_t *current, size_t *peak)
{
	struct mt_totals t = {0};

	if (tracing()) {
		enter();
		pthread_mutex_lock(&mt_drain_lock);
		mt_drain_locked(mt_now());
		mt_totals(&t);
		pthread_mutex_unlock(&mt_drain_lock);
		leave();
	}
	if (current)
		*current = t.current;
	if (peak)
		*peak = t.peak;
}

void plumb_memtrace_reset_peak(void)
{
	if (!tracing())
		return;
	enter();
	pthread_mutex_lock(&mt_drain_lock);
	mt_drain_locked(mt_now());
	mt_reset_peak();
	pthread_mutex_unlock(&mt_drain_lock);
	leave();
}

void plumb_memtrace_clear_traces(void)
{
	if (!tracing())
		return;
	enter();
	pthread_mutex_lock(&mt_drain_lock);
	mt_drain_locked(mt_now());
	mt_clear();
	pthread_mutex_unlock(&mt_drain_lock);
	/* The set of sampled blocks stays: a block recorded as this clear runs
	 * may have its allocation applied after it, and its free must then be
	 * recorded too.  The frees of blocks from before are recorded and
	 * counted as frees of untraced blocks, as without sampling. */
	leave();
}

size_t plumb_memtrace_get_tracemalloc_memory(void)
{
	return mt_memory_now();
}

/* Applies a track (MT_EV_ALLOC) or untrack event at once, after every event
 * published before it, so that the answer (-ENOENT) is exact. */
static bool apply_now(uintptr_t ptr, uint64_t size, uint32_t stack, unsigned domain)
{
	struct mt_event e = {.ptr = ptr, .size = size, .stack = stack, .domain = domain};
	bool ok;

	pthread_mutex_lock(&mt_drain_lock);
	e.ts = mt_now();
	mt_drain_locked(e.ts);
	ok = mt_apply_now(&e);
	pthread_mutex_unlock(&mt_drain_lock);
	return ok;
}

int plumb_memtrace_track(unsigned domain, uintptr_t ptr, size_t size)
{
	struct mt_thread *t = &mt_self;
	struct mt_ring *r;
	uint32_t stack;

	if (!domain || !ptr)
		return -EINVAL;
	if (!tracing())
		return -EPERM;
	enter();
	r = t->ring ? t->ring : mt_ring_attach(t);
	stack = r ? mt_capture(t, r, __builtin_frame_address(0)) : 0;
	apply_now(ptr, size, stack | MT_STACK_EXACT | MT_EV_ALLOC, domain);
	leave();
	return 0;
}

int plumb_memtrace_untrack(unsigned domain, uintptr_t ptr)
{
	bool ok;

	if (!domain || !ptr)
		return -EINVAL;
	if (!tracing())
		return -EPERM;
	enter();
	ok = apply_now(ptr, MT_EV_FREE, 0, domain);
	leave();
	return ok ? 0 : -ENOENT;
}

/* The module map for a snapshot or traceback object: in @b, counted. */
static const struct mt_module *modules(struct mt_buf *b, size_t *n)
{
	*n = mt_modules_scan(b, NULL, NULL);
	return (const struct mt_module *)b->p;
}

plumb_memtrace_traceback *plumb_memtrace_get_object_traceback(const void *ptr)
{
	plumb_memtrace_traceback *tb = NULL;
	const struct mt_stack *st = NULL;
	struct mt_buf mods = {0};
	uint64_t size;
	uint32_t stack = 0;
	bool found = false;
	size_t n;

	if (!tracing() || !ptr) {
		errno = ENOENT;
		return NULL;
	}
	enter();
	pthread_mutex_lock(&mt_drain_lock);
	mt_drain_locked(mt_now());
	found = mt_lookup((uintptr_t)ptr, 0, &size, &stack);
	pthread_mutex_unlock(&mt_drain_lock);
	if (found && stack)
		st = mt_stack_get(stack);
	if (!st) {
		errno = ENOENT;
	} else {
		const struct mt_module *m = modules(&mods, &n);

		tb = mt_traceback_new(st->frames, st->nframe, st->truncated, m, n);
		mt_buf_free(&mods);
	}
	leave();
	return tb;
}

/* A snapshot object holding the groups in @entries (mt_snap_entry). */
static plumb_memtrace_snapshot *build_snapshot(const struct mt_buf *entries)
{
	const struct mt_snap_entry *e = (const struct mt_snap_entry *)entries->p;
	struct mt_buf mods = {0};
	const struct mt_module *m;
	plumb_memtrace_snapshot *s;
	size_t n;

	m = modules(&mods, &n);
	s = mt_snapshot_new(mt_hot.frame_limit, m, n);
	for (size_t i = 0; s && i < entries->len / sizeof(*e); i++) {
		const struct mt_stack *st = e[i].stack ? mt_stack_get(e[i].stack) : NULL;
		int err =
		        mt_snapshot_add(s, e[i].domain, st ? st->frames : NULL, st ? st->nframe : 0,
		                        st && st->truncated, e[i].count, e[i].size);

		if (err < 0) {
			plumb_memtrace_snapshot_free(s);
			s = NULL;
			errno = -err;
		}
	}
	mt_buf_free(&mods);
	return s;
}

plumb_memtrace_snapshot *plumb_memtrace_take_snapshot(void)
{
	struct mt_buf entries = {0};
	plumb_memtrace_snapshot *s = NULL;
	struct mt_totals t;
	uint64_t t_ns;
	bool ok;

	if (!tracing()) {
		errno = EPERM;
		return NULL;
	}
	enter();
	pthread_mutex_lock(&mt_drain_lock);
	mt_drain_locked(mt_now());
	ok = mt_snap_copy(&entries, false);
	mt_totals(&t);
	t_ns = mt_clock_ns();
	pthread_mutex_unlock(&mt_drain_lock);
	if (!ok)
		errno = ENOMEM;
	else
		s = build_snapshot(&entries);
	if (s) {
		mt_snapshot_set_time(s, t_ns, t.current, t.peak);
		mt_writer_snapshot(&entries, t_ns, t.current, t.peak); /* takes them */
	}
	mt_buf_free(&entries);
	leave();
	return s;
}

int plumb_memtrace_snapshot_dump(const plumb_memtrace_snapshot *s, const char *path)
{
	int r;

	if (!s || !path)
		return -EINVAL;
	enter();
	r = pmt_trace_write_snapshot(s, path);
	leave();
	return r;
}
