/*
 * test_pipe.c - the synchronous pipe against the contract of Go's io.Pipe.
 *
 * The cases follow Go's io/pipe_test.go (a write and a read; a sequence; a
 * write taken by several reads; closing either end, before and during the
 * other's call, with and without an error; the first error sticking; empty
 * writes; concurrent writers and readers) and add what C needs said: that an
 * empty write never looks like the end of the stream, that the interfaces
 * behave, that writes are never interleaved even with many writers and
 * readers at once, and that a thread blocked on the pipe sleeps instead of
 * spinning.  Nothing here depends on timing to pass: sleeps only make a
 * blocked state likely, and the checks hold whichever way the race goes;
 * the one bound on time, a blocked thread's CPU use, is loose (under 20 ms
 * in 200 ms, where spinning would take all 200).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <plumb/plumb.h>

/* ---- Helpers ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, fn, arg), 0);
	return t;
}

static void join(pthread_t t)
{
	assert_int_equal(pthread_join(t, NULL), 0);
}

/* A write done by another thread; rc is its result. */
struct bg_write {
	plumb_pipe *p;
	const void *buf;
	size_t len;
	bool close_after;
	_Atomic ssize_t rc;
	_Atomic bool returned;
};

static void *bg_write_run(void *arg)
{
	struct bg_write *w = arg;
	ssize_t rc = plumb_pipe_write(w->p, w->buf, w->len);

	atomic_store(&w->rc, rc);
	atomic_store(&w->returned, true);
	if (w->close_after)
		plumb_pipe_close_write(w->p, 0);
	return NULL;
}

/* A read done by another thread into its own buffer. */
struct bg_read {
	plumb_pipe *p;
	size_t len;
	unsigned char buf[256];
	_Atomic ssize_t rc;
	_Atomic bool returned;
};

static void *bg_read_run(void *arg)
{
	struct bg_read *r = arg;
	ssize_t rc = plumb_pipe_read(r->p, r->buf, r->len);

	atomic_store(&r->rc, rc);
	atomic_store(&r->returned, true);
	return NULL;
}

/* A close of one end by another thread, a little later. */
struct bg_close {
	plumb_pipe *p;
	bool read_side;
	int err;
	int rc; /* what close returned (0) */
};

static void *bg_close_run(void *arg)
{
	struct bg_close *c = arg;

	sleep_ms(5);
	if (c->read_side)
		c->rc = plumb_pipe_close_read(c->p, c->err);
	else
		c->rc = plumb_pipe_close_write(c->p, c->err);
	return NULL;
}

/* A queue of counts between threads (Go's chan int in the cases below). */
struct counts {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ssize_t v[64];
	unsigned head, tail;
};

static void counts_init(struct counts *c)
{
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->head = c->tail = 0;
}

static void counts_destroy(struct counts *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
}

static void counts_put(struct counts *c, ssize_t v)
{
	pthread_mutex_lock(&c->mu);
	c->v[c->tail++ % 64] = v;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static ssize_t counts_get(struct counts *c)
{
	ssize_t v;

	pthread_mutex_lock(&c->mu);
	while (c->head == c->tail)
		pthread_cond_wait(&c->cv, &c->mu);
	v = c->v[c->head++ % 64];
	pthread_mutex_unlock(&c->mu);
	return v;
}

/* ---- One write, one read (TestPipe1) ---- */

static void test_single_write_read(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	struct bg_write w = {.p = p, .buf = "hello, world", .len = 12};
	unsigned char buf[64];
	pthread_t t;

	(void)state;
	assert_non_null(p);
	t = spawn(bg_write_run, &w);
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "hello, world", 12);
	join(t);
	assert_int_equal(atomic_load(&w.rc), 12);
	assert_int_equal(plumb_pipe_close_read(p, 0), 0);
	assert_int_equal(plumb_pipe_close_write(p, 0), 0);
	plumb_pipe_free(p);
}

/* ---- A sequence of writes, each read whole by one read (TestPipe2) ---- */

struct seq_reader {
	plumb_pipe *p;
	struct counts *c;
	unsigned char last[64];
};

static void *seq_reader_run(void *arg)
{
	struct seq_reader *s = arg;

	for (;;) {
		ssize_t n = plumb_pipe_read(s->p, s->last, sizeof(s->last));

		counts_put(s->c, n);
		if (n <= 0)
			break;
	}
	return NULL;
}

static void test_write_sequence(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	struct counts c;
	struct seq_reader s = {.p = p, .c = &c};
	unsigned char buf[64];
	pthread_t t;

	(void)state;
	counts_init(&c);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i + 1);
	t = spawn(seq_reader_run, &s);
	for (size_t i = 0; i < 5; i++) {
		size_t len = 5 + i * 10;

		assert_int_equal(plumb_pipe_write(p, buf, len), len);
		/* The reader's buffer holds 64: it got exactly this write. */
		assert_int_equal(counts_get(&c), len);
	}
	assert_int_equal(plumb_pipe_close_write(p, 0), 0);
	assert_int_equal(counts_get(&c), 0);
	join(t);
	counts_destroy(&c);
	plumb_pipe_free(p);
}

/* Several writes queued for one big read: the read returns as soon as the
 * first write supplies bytes, and never more than one write's bytes. */
static void test_read_takes_one_write(void **state)
{
	static const char *const parts[] = {"abc", "defgh", "ij", "k"};
	plumb_pipe *p = plumb_pipe_new();
	struct bg_write w[4];
	pthread_t t[4];
	char buf[256];

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i] = (struct bg_write){.p = p, .buf = parts[i], .len = strlen(parts[i])};
		t[i] = spawn(bg_write_run, &w[i]);
	}
	/* The writers race: each read must be one whole part, in some order. */
	bool seen[4] = {false, false, false, false};

	for (int k = 0; k < 4; k++) {
		ssize_t n = plumb_pipe_read(p, buf, sizeof(buf));
		int found = -1;

		assert_true(n > 0);
		for (int i = 0; i < 4; i++)
			if ((size_t)n == strlen(parts[i]) && memcmp(buf, parts[i], (size_t)n) == 0)
				found = i;
		assert_true(found >= 0);
		assert_false(seen[found]);
		seen[found] = true;
	}
	for (int i = 0; i < 4; i++) {
		join(t[i]);
		assert_int_equal(atomic_load(&w[i].rc), strlen(parts[i]));
	}
	plumb_pipe_free(p);
}

/* ---- One write taken by several reads (TestPipe3) ---- */

static void test_write_split_over_reads(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	unsigned char wdat[128], rdat[1024];
	struct bg_write w = {.p = p, .buf = wdat, .len = sizeof(wdat), .close_after = true};
	size_t tot = 0;
	pthread_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(wdat); i++)
		wdat[i] = (unsigned char)i;
	t = spawn(bg_write_run, &w);
	for (size_t n = 1; n <= 256; n *= 2) {
		ssize_t got = plumb_pipe_read(p, rdat + tot, n);
		/* Only the last two reads are short: 1 byte, then the end. */
		size_t expect = n == 128 ? 1 : n == 256 ? 0 : n;

		assert_int_equal(got, expect);
		tot += (size_t)got;
	}
	join(t);
	assert_int_equal(atomic_load(&w.rc), 128);
	assert_int_equal(tot, 128);
	assert_memory_equal(rdat, wdat, 128);
	plumb_pipe_free(p);
}

/* A large write in odd pieces, read with odd buffers: every byte arrives in
 * order (this crosses the pipe's internal copy pieces). */
struct big_writer {
	plumb_pipe *p;
	const unsigned char *data;
	size_t len;
	ssize_t rc;
};

static void *big_writer_run(void *arg)
{
	static const size_t sizes[] = {(size_t)1 << 20, 1, 65536,          65537,
	                               300000,          7, (size_t)3 << 20};
	struct big_writer *b = arg;
	size_t off = 0;

	b->rc = 0;
	for (unsigned i = 0; off < b->len; i++) {
		size_t n = sizes[i % 7] < b->len - off ? sizes[i % 7] : b->len - off;
		ssize_t rc = plumb_pipe_write(b->p, b->data + off, n);

		if (rc != (ssize_t)n) {
			b->rc = rc < 0 ? rc : -EIO;
			break;
		}
		off += n;
	}
	plumb_pipe_close_write(b->p, 0);
	return NULL;
}

static void test_large_transfer(void **state)
{
	static const size_t rsizes[] = {(size_t)2 << 20, 100, 65536, 1, 400000, 4096};
	size_t len = (size_t)24 << 20, got = 0;
	unsigned char *src = malloc(len), *dst = malloc(len + 1);
	plumb_pipe *p = plumb_pipe_new();
	struct big_writer b = {.p = p, .data = src, .len = len};
	pthread_t t;
	ssize_t n;

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	for (size_t i = 0; i < len; i++)
		src[i] = (unsigned char)((i * 2654435761u) >> 13);
	t = spawn(big_writer_run, &b);
	for (unsigned i = 0;; i++) {
		size_t want = rsizes[i % 6] < len + 1 - got ? rsizes[i % 6] : len + 1 - got;

		n = plumb_pipe_read(p, dst + got, want);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	join(t);
	assert_int_equal(n, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(got, len);
	assert_memory_equal(dst, src, len);
	plumb_pipe_free(p);
	free(src);
	free(dst);
}

/* ---- Closing the write end: what reads see (TestPipeReadClose) ---- */

struct close_case {
	bool async;   /* close from another thread while the read waits */
	int err;      /* the error given to close */
	ssize_t want; /* what the read returns */
};

static const struct close_case write_close_cases[] = {
        {true, 0, 0},
        {true, -EPIPE, -EPIPE},
        {false, 0, 0},
        {false, -EPIPE, -EPIPE},
        {false, EIO, -EIO}, /* a positive errno is taken as its negative */
        {true, PLUMB_ESHORTWRITE, PLUMB_ESHORTWRITE},
};

static void test_read_after_write_close(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(write_close_cases) / sizeof(write_close_cases[0]); i++) {
		const struct close_case *tc = &write_close_cases[i];
		plumb_pipe *p = plumb_pipe_new();
		struct bg_close c = {.p = p, .read_side = false, .err = tc->err};
		unsigned char buf[64];
		pthread_t t;

		if (tc->async)
			t = spawn(bg_close_run, &c);
		else
			assert_int_equal(plumb_pipe_close_write(p, tc->err), 0);
		assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), tc->want);
		/* and again: the end stays the end */
		assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), tc->want);
		if (tc->async) {
			join(t);
			assert_int_equal(c.rc, 0);
		}
		assert_int_equal(plumb_pipe_close_read(p, 0), 0);
		/* Once the reader closed itself, its reads fail (readCloseError). */
		assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), PLUMB_ECLOSED);
		plumb_pipe_free(p);
	}
}

/* Closing the read end while a read waits (TestPipeReadClose2). */
static void test_read_close_during_read(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	struct bg_close c = {.p = p, .read_side = true};
	unsigned char buf[64];
	pthread_t t;

	(void)state;
	t = spawn(bg_close_run, &c);
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), PLUMB_ECLOSED);
	join(t);
	plumb_pipe_free(p);
}

/* ---- Closing the read end: what writes see (TestPipeWriteClose) ---- */

static const struct close_case read_close_cases[] = {
        {true, 0, PLUMB_ECLOSED}, {true, -EPIPE, -EPIPE},          {false, 0, PLUMB_ECLOSED},
        {false, -EPIPE, -EPIPE},  {true, ECONNRESET, -ECONNRESET},
};

static void test_write_after_read_close(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(read_close_cases) / sizeof(read_close_cases[0]); i++) {
		const struct close_case *tc = &read_close_cases[i];
		plumb_pipe *p = plumb_pipe_new();
		struct bg_close c = {.p = p, .read_side = true, .err = tc->err};
		pthread_t t;

		if (tc->async)
			t = spawn(bg_close_run, &c);
		else
			assert_int_equal(plumb_pipe_close_read(p, tc->err), 0);
		assert_int_equal(plumb_pipe_write(p, "hello, world", 12), tc->want);
		assert_int_equal(plumb_pipe_write(p, "again", 5), tc->want);
		if (tc->async) {
			join(t);
			assert_int_equal(c.rc, 0);
		}
		assert_int_equal(plumb_pipe_close_write(p, 0), 0);
		/* Once the writer closed itself, its writes fail (writeCloseError). */
		assert_int_equal(plumb_pipe_write(p, "x", 1), PLUMB_ECLOSED);
		plumb_pipe_free(p);
	}
}

/* Closing the write end while a write waits (TestPipeWriteClose2). */
static void test_write_close_during_write(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	struct bg_close c = {.p = p, .read_side = false};
	unsigned char buf[64] = {0};
	pthread_t t;

	(void)state;
	t = spawn(bg_close_run, &c);
	assert_int_equal(plumb_pipe_write(p, buf, sizeof(buf)), PLUMB_ECLOSED);
	join(t);
	/* The readers see the plain close: the end. */
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), 0);
	plumb_pipe_free(p);
}

/* The reader takes part of a write, then closes with an error: the writer,
 * blocked in the middle of its write, gets that error. */
static void test_reader_closes_mid_write(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	unsigned char wdat[100], buf[10];
	struct bg_write w = {.p = p, .buf = wdat, .len = sizeof(wdat)};
	pthread_t t;

	(void)state;
	memset(wdat, 'z', sizeof(wdat));
	t = spawn(bg_write_run, &w);
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, wdat, 10);
	assert_int_equal(plumb_pipe_close_read(p, -EPIPE), 0);
	join(t);
	assert_int_equal(atomic_load(&w.rc), -EPIPE);
	plumb_pipe_free(p);
}

/* The writer closes while a reader waits in another thread. */
static void test_writer_closes_under_blocked_reader(void **state)
{
	static const int errs[] = {0, -EIO};

	(void)state;
	for (int i = 0; i < 2; i++) {
		plumb_pipe *p = plumb_pipe_new();
		struct bg_read r = {.p = p, .len = 64};
		pthread_t t = spawn(bg_read_run, &r);

		sleep_ms(5);
		assert_int_equal(plumb_pipe_close_write(p, errs[i]), 0);
		join(t);
		assert_int_equal(atomic_load(&r.rc), errs[i]);
		plumb_pipe_free(p);
	}
}

/* ---- Write after the writer closed (TestWriteAfterWriterClose) ---- */

struct hello_writer {
	plumb_pipe *p;
	ssize_t first, after_close;
};

static void *hello_writer_run(void *arg)
{
	struct hello_writer *h = arg;

	h->first = plumb_pipe_write(h->p, "hello", 5);
	plumb_pipe_close_write(h->p, 0);
	h->after_close = plumb_pipe_write(h->p, "world", 5);
	return NULL;
}

static void test_write_after_writer_close(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	struct hello_writer h = {.p = p};
	char buf[100];
	pthread_t t;

	(void)state;
	t = spawn(hello_writer_run, &h);
	assert_int_equal(plumb_read_full(plumb_pipe_reader(p), buf, sizeof(buf)), 5);
	join(t);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(h.first, 5);
	assert_int_equal(h.after_close, PLUMB_ECLOSED);
	plumb_pipe_free(p);
}

/* ---- The first close error sticks (TestPipeCloseError) ---- */

static void test_first_close_error_sticks(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	char buf[4];

	(void)state;
	assert_int_equal(plumb_pipe_close_read(p, -EPIPE), 0);
	assert_int_equal(plumb_pipe_write(p, NULL, 0), -EPIPE);
	assert_int_equal(plumb_pipe_close_read(p, -EIO), 0);
	assert_int_equal(plumb_pipe_write(p, NULL, 0), -EPIPE);
	assert_int_equal(plumb_pipe_write(p, "x", 1), -EPIPE);
	assert_int_equal(plumb_pipe_close_read(p, 0), 0);
	assert_int_equal(plumb_pipe_write(p, "x", 1), -EPIPE);
	plumb_pipe_free(p);

	p = plumb_pipe_new();
	assert_int_equal(plumb_pipe_close_write(p, -EPIPE), 0);
	assert_int_equal(plumb_pipe_read(p, NULL, 0), -EPIPE);
	assert_int_equal(plumb_pipe_close_write(p, -EIO), 0);
	assert_int_equal(plumb_pipe_read(p, NULL, 0), -EPIPE);
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), -EPIPE);
	assert_int_equal(plumb_pipe_close_write(p, 0), 0);
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), -EPIPE);
	plumb_pipe_free(p);

	/* A plain close first: the end of the stream sticks. */
	p = plumb_pipe_new();
	assert_int_equal(plumb_pipe_close_write(p, 0), 0);
	assert_int_equal(plumb_pipe_close_write(p, -EIO), 0);
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), 0);
	plumb_pipe_free(p);
}

/* Both ends closed: each side sees its own close first. */
static void test_both_ends_closed(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	char buf[4];

	(void)state;
	assert_int_equal(plumb_pipe_close_write(p, -EIO), 0);
	assert_int_equal(plumb_pipe_close_read(p, -EPIPE), 0);
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), PLUMB_ECLOSED);
	assert_int_equal(plumb_pipe_write(p, "x", 1), PLUMB_ECLOSED);
	plumb_pipe_free(p);
}

/* ---- Zero-length reads and writes ---- */

/* TestWriteEmpty and TestWriteNil: an empty write, then the close; a reader
 * asking for 2 bytes sees the end and nothing else. */
static void test_write_empty_then_close(void **state)
{
	static const void *const bufs[] = {"", NULL};

	(void)state;
	for (int i = 0; i < 2; i++) {
		plumb_pipe *p = plumb_pipe_new();
		struct bg_write w = {.p = p, .buf = bufs[i], .len = 0, .close_after = true};
		char b[2];
		pthread_t t = spawn(bg_write_run, &w);

		assert_int_equal(plumb_read_full(plumb_pipe_reader(p), b, 2), 0);
		join(t);
		assert_int_equal(atomic_load(&w.rc), 0);
		assert_int_equal(plumb_pipe_close_read(p, 0), 0);
		plumb_pipe_free(p);
	}
}

struct empty_then_bytes {
	plumb_pipe *p;
	ssize_t empty_rc, bytes_rc;
	_Atomic bool empty_returned;
};

static void *empty_then_bytes_run(void *arg)
{
	struct empty_then_bytes *e = arg;

	e->empty_rc = plumb_pipe_write(e->p, NULL, 0);
	atomic_store(&e->empty_returned, true);
	e->bytes_rc = plumb_pipe_write(e->p, "ab", 2);
	return NULL;
}

/* An empty write waits for a reader, as in Go, but the reader it meets does
 * not return 0 (which would mean the end): it waits on for bytes. */
static void test_write_empty_meets_reader(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	struct empty_then_bytes e = {.p = p};
	char buf[8];
	pthread_t t;

	(void)state;
	t = spawn(empty_then_bytes_run, &e);
	sleep_ms(20);
	/* No reader yet: the empty write is still waiting for one. */
	assert_false(atomic_load(&e.empty_returned));
	assert_int_equal(plumb_pipe_read(p, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "ab", 2);
	join(t);
	assert_int_equal(e.empty_rc, 0);
	assert_int_equal(e.bytes_rc, 2);
	plumb_pipe_free(p);
}

/* A zero-length read never waits: 0 on an open pipe, the close error on a
 * closed one.  Through the interface it is always 0 (io.h). */
static void test_read_empty(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	char c;

	(void)state;
	assert_int_equal(plumb_pipe_read(p, &c, 0), 0);
	assert_int_equal(plumb_reader_read(plumb_pipe_reader(p), &c, 0), 0);
	assert_int_equal(plumb_pipe_close_write(p, -EIO), 0);
	assert_int_equal(plumb_pipe_read(p, &c, 0), -EIO);
	assert_int_equal(plumb_pipe_write(p, NULL, 0), PLUMB_ECLOSED);
	plumb_pipe_free(p);
}

/* ---- The interfaces ---- */

struct iface_writer {
	plumb_writer *w;
	ssize_t rc[3];
};

static void *iface_writer_run(void *arg)
{
	struct iface_writer *i = arg;

	i->rc[0] = plumb_writer_write(i->w, "one ", 4);
	i->rc[1] = plumb_writer_write_str(i->w, "two three");
	i->rc[2] = plumb_writer_close(i->w);
	return NULL;
}

static void test_interfaces(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	plumb_reader *r = plumb_pipe_reader(p);
	struct iface_writer iw = {.w = plumb_pipe_writer(p)};
	char buf[8], *all = NULL;
	pthread_t t;

	(void)state;
	assert_ptr_equal(plumb_pipe_reader(p), r);
	assert_int_equal(plumb_reader_fd(r), -1);
	assert_int_equal(plumb_writer_fd(iw.w), -1);
	assert_int_equal(plumb_reader_read_at(r, buf, 1, 0), -ENOTSUP);
	assert_int_equal(plumb_reader_seek(r, 0, SEEK_SET), -ENOTSUP);
	t = spawn(iface_writer_run, &iw);
	assert_int_equal(plumb_reader_read(r, buf, 2), 2);
	assert_memory_equal(buf, "on", 2);
	assert_int_equal(plumb_reader_read(r, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "e ", 2);
	assert_int_equal(plumb_read_all(r, &all), 9);
	assert_string_equal(all, "two three");
	free(all);
	join(t);
	assert_int_equal(iw.rc[0], 4);
	assert_int_equal(iw.rc[1], 9);
	assert_int_equal(iw.rc[2], 0);
	/* Freeing an end does nothing: the pipe owns it. */
	plumb_reader_free(r);
	plumb_writer_free(iw.w);
	assert_int_equal(plumb_reader_read(r, buf, sizeof(buf)), 0);
	plumb_pipe_free(p);

	/* Closing the reader interface is a plain close of the read side. */
	p = plumb_pipe_new();
	assert_int_equal(plumb_reader_close(plumb_pipe_reader(p)), 0);
	assert_int_equal(plumb_writer_write(plumb_pipe_writer(p), "x", 1), PLUMB_ECLOSED);
	assert_int_equal(plumb_reader_read(plumb_pipe_reader(p), buf, 1), PLUMB_ECLOSED);
	plumb_pipe_free(p);
}

/* ---- Many writers, one reader: writes are never interleaved ---- */

/*
 * Each writer w writes NREC records; record s of writer w is
 *   byte 0: 0xA0 | w, bytes 1-2: s (little-endian), byte 3: payload length L,
 *   then L bytes (w * 31 + s * 7 + k) & 0xff,
 * with L depending on (w, s).  One reader reads with small, odd buffer sizes,
 * so every record spans several reads, and parses the stream: if another
 * write's bytes ever came between two pieces of one write, the header or the
 * payload check fails; and every writer's records must come in order, each
 * exactly once.
 */
#define NWRITERS 8
#define NREC     300

static size_t rec_len(unsigned w, unsigned s)
{
	return (w * 131 + s * 17) % 200;
}

static size_t rec_make(unsigned char *b, unsigned w, unsigned s)
{
	size_t len = rec_len(w, s);

	b[0] = (unsigned char)(0xA0 | w);
	b[1] = (unsigned char)s;
	b[2] = (unsigned char)(s >> 8);
	b[3] = (unsigned char)len;
	for (size_t k = 0; k < len; k++)
		b[4 + k] = (unsigned char)(w * 31 + s * 7 + k);
	return 4 + len;
}

struct rec_writer {
	plumb_pipe *p;
	unsigned id;
	ssize_t err;
};

static void *rec_writer_run(void *arg)
{
	struct rec_writer *rw = arg;
	unsigned char b[4 + 256];

	for (unsigned s = 0; s < NREC; s++) {
		size_t n = rec_make(b, rw->id, s);
		ssize_t rc = plumb_pipe_write(rw->p, b, n);

		if (rc != (ssize_t)n) {
			rw->err = rc < 0 ? rc : -EIO;
			break;
		}
	}
	return NULL;
}

static void *close_when_written(void *arg);

struct rec_group {
	plumb_pipe *p;
	struct rec_writer w[NWRITERS];
	pthread_t t[NWRITERS];
};

static void rec_group_start(struct rec_group *g, plumb_pipe *p, pthread_t *closer)
{
	g->p = p;
	for (unsigned i = 0; i < NWRITERS; i++) {
		g->w[i] = (struct rec_writer){.p = p, .id = i};
		g->t[i] = spawn(rec_writer_run, &g->w[i]);
	}
	*closer = spawn(close_when_written, g);
}

/* Joins the writers, then closes the write end so the readers end. */
static void *close_when_written(void *arg)
{
	struct rec_group *g = arg;

	for (unsigned i = 0; i < NWRITERS; i++)
		pthread_join(g->t[i], NULL);
	plumb_pipe_close_write(g->p, 0);
	return NULL;
}

static void test_concurrent_writers_not_interleaved(void **state)
{
	static const size_t rsizes[] = {1, 3, 7, 2, 13, 5};
	size_t cap = NWRITERS * NREC * 260, len = 0;
	unsigned char *stream = malloc(cap);
	unsigned next[NWRITERS] = {0};
	plumb_pipe *p = plumb_pipe_new();
	struct rec_group g;
	pthread_t closer;
	ssize_t n;

	(void)state;
	assert_non_null(stream);
	rec_group_start(&g, p, &closer);
	for (unsigned i = 0;; i++) {
		n = plumb_pipe_read(p, stream + len, rsizes[i % 6]);
		if (n <= 0)
			break;
		assert_true((size_t)n <= rsizes[i % 6]);
		len += (size_t)n;
		assert_true(len <= cap);
	}
	assert_int_equal(n, 0);
	join(closer);
	for (unsigned i = 0; i < NWRITERS; i++)
		assert_int_equal(g.w[i].err, 0);

	/* Parse the stream. */
	unsigned char want[4 + 256];
	size_t off = 0;

	while (off < len) {
		unsigned w = stream[off] & 0x0f;

		assert_int_equal(stream[off] & 0xf0, 0xA0);
		assert_true(w < NWRITERS);
		assert_true(next[w] < NREC);
		size_t rl = rec_make(want, w, next[w]);

		assert_true(off + rl <= len);
		assert_memory_equal(stream + off, want, rl);
		next[w]++;
		off += rl;
	}
	for (unsigned w = 0; w < NWRITERS; w++)
		assert_int_equal(next[w], NREC);
	plumb_pipe_free(p);
	free(stream);
}

/* ---- Many writers, many readers: every byte exactly once ---- */

/*
 * Writes are made of 8-byte cells: writer (1 byte), record (2), cell index
 * (2), 0x5A, and a 2-byte check of the other six.  Readers read with buffers
 * that are multiples of 8, so a read always ends on a cell boundary (a write
 * is a whole number of cells and reads take min(asked, left)).  Every read
 * must be a run of consecutive cells of a single write (a read never gets
 * bytes of two writes), and each cell of each write must be read exactly
 * once over all the readers.
 */
#define MW_WRITERS 8
#define MW_READERS 4
#define MW_RECS    400
#define MW_CELLS   24 /* at most, per write */

static unsigned mw_cells(unsigned w, unsigned s)
{
	return 1 + (w * 7 + s * 5) % MW_CELLS;
}

static void mw_cell(unsigned char *c, unsigned w, unsigned s, unsigned k)
{
	unsigned sum;

	c[0] = (unsigned char)w;
	c[1] = (unsigned char)s;
	c[2] = (unsigned char)(s >> 8);
	c[3] = (unsigned char)k;
	c[4] = (unsigned char)(k >> 8);
	c[5] = 0x5A;
	sum = (unsigned)(c[0] * 3 + c[1] * 5 + c[2] * 7 + c[3] * 11 + c[4] * 13 + c[5]) * 40503u;
	c[6] = (unsigned char)sum;
	c[7] = (unsigned char)(sum >> 8);
}

struct mw_state {
	plumb_pipe *p;
	/* seen[w][s] counts each cell of write (w, s) as a bit. */
	_Atomic uint32_t seen[MW_WRITERS][MW_RECS];
	_Atomic long bytes, bad;
};

struct mw_writer {
	struct mw_state *st;
	unsigned id;
	ssize_t err;
};

static void *mw_writer_run(void *arg)
{
	struct mw_writer *mw = arg;
	unsigned char b[8 * MW_CELLS];

	for (unsigned s = 0; s < MW_RECS; s++) {
		unsigned nc = mw_cells(mw->id, s);
		ssize_t rc;

		for (unsigned k = 0; k < nc; k++)
			mw_cell(b + 8 * k, mw->id, s, k);
		rc = plumb_pipe_write(mw->st->p, b, 8 * nc);
		if (rc != (ssize_t)(8 * nc)) {
			mw->err = rc < 0 ? rc : -EIO;
			break;
		}
	}
	return NULL;
}

/* Checks one read; returns false if it is not a run of cells of one write. */
static bool mw_check(struct mw_state *st, const unsigned char *b, size_t n)
{
	unsigned w = b[0], s = b[1] | (unsigned)b[2] << 8, k0 = b[3] | (unsigned)b[4] << 8;
	unsigned char want[8];

	if (n == 0 || n % 8 != 0 || w >= MW_WRITERS || s >= MW_RECS)
		return false;
	if (k0 + n / 8 > mw_cells(w, s))
		return false;
	for (size_t i = 0; i < n / 8; i++) {
		uint32_t bit = (uint32_t)1 << (k0 + i);

		mw_cell(want, w, s, (unsigned)(k0 + i));
		if (memcmp(b + 8 * i, want, 8) != 0)
			return false;
		if (atomic_fetch_or(&st->seen[w][s], bit) & bit)
			return false; /* read twice */
	}
	return true;
}

static void *mw_reader_run(void *arg)
{
	static const size_t rsizes[] = {8, 24, 200, 16, 64, 8 * MW_CELLS};
	struct mw_state *st = arg;
	unsigned char b[8 * MW_CELLS];

	for (unsigned i = 0;; i++) {
		ssize_t n = plumb_pipe_read(st->p, b, rsizes[i % 6]);

		if (n <= 0) {
			if (n < 0)
				atomic_fetch_add(&st->bad, 1);
			break;
		}
		if (!mw_check(st, b, (size_t)n))
			atomic_fetch_add(&st->bad, 1);
		atomic_fetch_add(&st->bytes, n);
	}
	return NULL;
}

static void test_concurrent_writers_and_readers(void **state)
{
	struct mw_state *st = calloc(1, sizeof(*st));
	struct mw_writer w[MW_WRITERS];
	pthread_t wt[MW_WRITERS], rt[MW_READERS];
	long total = 0;

	(void)state;
	assert_non_null(st);
	st->p = plumb_pipe_new();
	for (unsigned i = 0; i < MW_READERS; i++)
		rt[i] = spawn(mw_reader_run, st);
	for (unsigned i = 0; i < MW_WRITERS; i++) {
		w[i] = (struct mw_writer){.st = st, .id = i};
		wt[i] = spawn(mw_writer_run, &w[i]);
	}
	for (unsigned i = 0; i < MW_WRITERS; i++) {
		join(wt[i]);
		assert_int_equal(w[i].err, 0);
	}
	plumb_pipe_close_write(st->p, 0);
	for (unsigned i = 0; i < MW_READERS; i++)
		join(rt[i]);
	assert_int_equal(atomic_load(&st->bad), 0);
	for (unsigned i = 0; i < MW_WRITERS; i++) {
		for (unsigned s = 0; s < MW_RECS; s++) {
			uint32_t all = (uint32_t)(((uint64_t)1 << mw_cells(i, s)) - 1);

			assert_int_equal(atomic_load(&st->seen[i][s]), all);
			total += 8 * (long)mw_cells(i, s);
		}
	}
	assert_int_equal(atomic_load(&st->bytes), total);
	plumb_pipe_free(st->p);
	free(st);
}

/* Many readers with small buffers and one writer (TestPipeConcurrent/Read):
 * the pieces put together are the writes' bytes, each exactly once. */
struct small_reader {
	plumb_pipe *p;
	unsigned char got[256];
	unsigned count[256];
};

static void *small_reader_run(void *arg)
{
	struct small_reader *r = arg;

	for (;;) {
		ssize_t n = plumb_pipe_read(r->p, r->got, 2);

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			r->count[r->got[i]]++;
	}
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	struct small_reader *r = calloc(8, sizeof(*r));
	unsigned char input[256];
	pthread_t t[8];

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < 256; i++)
		input[i] = (unsigned char)i;
	for (int i = 0; i < 8; i++) {
		r[i].p = p;
		t[i] = spawn(small_reader_run, &r[i]);
	}
	for (int k = 0; k < 40; k++)
		assert_int_equal(plumb_pipe_write(p, input, sizeof(input)), sizeof(input));
	plumb_pipe_close_write(p, 0);
	for (int i = 0; i < 8; i++)
		join(t[i]);
	for (int b = 0; b < 256; b++) {
		unsigned sum = 0;

		for (int i = 0; i < 8; i++)
			sum += r[i].count[b];
		assert_int_equal(sum, 40);
	}
	free(r);
	plumb_pipe_free(p);
}

/* ---- A blocked thread sleeps ---- */

static double thread_cpu_ms(pthread_t t)
{
	clockid_t cid;
	struct timespec ts;

	assert_int_equal(pthread_getcpuclockid(t, &cid), 0);
	assert_int_equal(clock_gettime(cid, &ts), 0);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU used by t over 200 ms while it is blocked, in ms. */
static double cpu_while_blocked(pthread_t t)
{
	double before;

	sleep_ms(50); /* let it get to its wait and past any spinning */
	before = thread_cpu_ms(t);
	sleep_ms(200);
	return thread_cpu_ms(t) - before;
}

static void test_blocked_threads_sleep(void **state)
{
	plumb_pipe *p = plumb_pipe_new();
	struct bg_read r1 = {.p = p, .len = 64}, r2 = {.p = p, .len = 64};
	pthread_t t1, t2;

	(void)state;
	/* A reader with no writer, and one more behind it (waiting its turn). */
	t1 = spawn(bg_read_run, &r1);
	t2 = spawn(bg_read_run, &r2);
	/* A spinning thread would use about 200 ms; allow for noise. */
	assert_true(cpu_while_blocked(t1) < 20.0);
	assert_true(cpu_while_blocked(t2) < 20.0);
	assert_false(atomic_load(&r1.returned));
	plumb_pipe_close_write(p, 0);
	join(t1);
	join(t2);
	assert_int_equal(atomic_load(&r1.rc), 0);
	assert_int_equal(atomic_load(&r2.rc), 0);
	plumb_pipe_free(p);

	/* A writer with no reader. */
	p = plumb_pipe_new();
	struct bg_write w = {.p = p, .buf = "abc", .len = 3};

	t1 = spawn(bg_write_run, &w);
	assert_true(cpu_while_blocked(t1) < 20.0);
	assert_false(atomic_load(&w.returned));
	plumb_pipe_close_read(p, 0);
	join(t1);
	assert_int_equal(atomic_load(&w.rc), PLUMB_ECLOSED);
	plumb_pipe_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_single_write_read),
	        cmocka_unit_test(test_write_sequence),
	        cmocka_unit_test(test_read_takes_one_write),
	        cmocka_unit_test(test_write_split_over_reads),
	        cmocka_unit_test(test_large_transfer),
	        cmocka_unit_test(test_read_after_write_close),
	        cmocka_unit_test(test_read_close_during_read),
	        cmocka_unit_test(test_write_after_read_close),
	        cmocka_unit_test(test_write_close_during_write),
	        cmocka_unit_test(test_reader_closes_mid_write),
	        cmocka_unit_test(test_writer_closes_under_blocked_reader),
	        cmocka_unit_test(test_write_after_writer_close),
	        cmocka_unit_test(test_first_close_error_sticks),
	        cmocka_unit_test(test_both_ends_closed),
	        cmocka_unit_test(test_write_empty_then_close),
	        cmocka_unit_test(test_write_empty_meets_reader),
	        cmocka_unit_test(test_read_empty),
	        cmocka_unit_test(test_interfaces),
	        cmocka_unit_test(test_concurrent_writers_not_interleaved),
	        cmocka_unit_test(test_concurrent_writers_and_readers),
	        cmocka_unit_test(test_concurrent_readers),
	        cmocka_unit_test(test_blocked_threads_sleep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
