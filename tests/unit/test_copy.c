/*
 * test_copy.c - unit tests of plumb_copy, plumb_copy_n and plumb_copy_buffer.
 *
 * Each way a copy can go (copy_file_range, splice with a pipe at one end,
 * sendfile, splice through a pipe of our own, the source's write_to, the
 * destination's read_from, the read/write loop) is driven with sizes around
 * the page size and up to 64 MiB, and the bytes that arrive are compared
 * with the bytes sent.  copy-internal.h tells which path a copy took, so the
 * tests can insist that the fast path really ran, that a refused one really
 * fell back, and that the descriptors end where a plain loop leaves them.
 * Pipes and sockets are fed or drained by a second thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <plumb/io.h>

#include "io/copy-internal.h"

#define MiB (1u << 20)

static const size_t sizes[] = {0, 1, 4095, 4096, 4097, MiB + 7, 64 * MiB};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static char tmpdir[] = "/tmp/plumb-test-copy-XXXXXX";

/* ---- The pattern: byte i of every stream is pattern_byte(i) ---- */

static unsigned char pattern_byte(uint64_t i)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull;

	return (unsigned char)(x >> 56 ^ x >> 29);
}

static void pattern_fill(unsigned char *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(off + i);
}

static unsigned char *pattern(size_t len, uint64_t off)
{
	unsigned char *p = malloc(len ? len : 1);

	assert_non_null(p);
	pattern_fill(p, len, off);
	return p;
}

/* Whether buf holds the pattern from off on. */
static bool pattern_is(const unsigned char *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_byte(off + i))
			return false;
	return true;
}

/* ---- Files ---- */

static const char *tmp_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static int open_file(const char *name, int flags)
{
	int fd = open(tmp_path(name), flags | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	return fd;
}

/* A file of size bytes of the pattern, open read-only at offset 0. */
static int pattern_file(const char *name, size_t size)
{
	int fd = open_file(name, O_WRONLY | O_CREAT | O_TRUNC);
	unsigned char *chunk = malloc(MiB);

	assert_non_null(chunk);
	for (size_t done = 0; done < size;) {
		size_t n = size - done < MiB ? size - done : MiB;

		pattern_fill(chunk, n, done);
		assert_int_equal(write(fd, chunk, n), (ssize_t)n);
		done += n;
	}
	free(chunk);
	close(fd);
	return open_file(name, O_RDONLY);
}

static int64_t position(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

static int64_t file_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

/* Whether the file holds, from at on, len bytes of the pattern from off. */
static bool file_has_pattern(int fd, int64_t at, size_t len, uint64_t off)
{
	unsigned char *chunk = malloc(MiB);
	bool ok = true;

	assert_non_null(chunk);
	for (size_t done = 0; ok && done < len;) {
		size_t n = len - done < MiB ? len - done : MiB;

		ok = pread(fd, chunk, n, at + (int64_t)done) == (ssize_t)n &&
		     pattern_is(chunk, n, off + done);
		done += n;
	}
	free(chunk);
	return ok;
}

/* Reads a whole small file. */
static char *file_text(const char *name)
{
	int fd = open_file(name, O_RDONLY);
	plumb_reader *r = plumb_fd_reader_new(fd, PLUMB_FD_OWN);
	char *text;

	assert_true(plumb_read_all(r, &text) >= 0);
	plumb_reader_free(r);
	return text;
}

/* ---- Threads at the other end of pipes and sockets ---- */

struct peer {
	pthread_t thread;
	int fd;
	uint64_t size;  /* a feeder writes this much */
	uint64_t count; /* a drainer counts what it read */
	bool ok;
};

/* Writes size bytes of the pattern, then ends the stream. */
static void *feed(void *arg)
{
	struct peer *p = arg;
	unsigned char *chunk = malloc(256 * 1024);

	p->ok = chunk != NULL;
	while (p->ok && p->count < p->size) {
		size_t n = p->size - p->count < 256 * 1024 ? p->size - p->count : 256 * 1024;
		ssize_t w;

		pattern_fill(chunk, n, p->count);
		for (size_t done = 0; p->ok && done < n; done += (size_t)w) {
			w = write(p->fd, chunk + done, n - done);
			p->ok = w > 0;
		}
		p->count += n;
	}
	shutdown(p->fd, SHUT_WR); /* a socket's end; nothing for a pipe */
	close(p->fd);
	free(chunk);
	return NULL;
}

/* Reads to the end, checking every byte against the pattern. */
static void *drain(void *arg)
{
	struct peer *p = arg;
	unsigned char *chunk = malloc(256 * 1024);
	ssize_t n;

	p->ok = chunk != NULL;
	while (p->ok && (n = read(p->fd, chunk, 256 * 1024)) > 0) {
		p->ok = pattern_is(chunk, (size_t)n, p->count);
		p->count += (uint64_t)n;
	}
	free(chunk);
	return NULL;
}

static void peer_start(struct peer *p, int fd, uint64_t size, void *(*fn)(void *))
{
	*p = (struct peer){.fd = fd, .size = size};
	assert_int_equal(pthread_create(&p->thread, NULL, fn, p), 0);
}

static void peer_join(struct peer *p)
{
	assert_int_equal(pthread_join(p->thread, NULL), 0);
	assert_true(p->ok);
}

/* ---- Paths ---- */

static struct plumb_copy_trace trace(void)
{
	struct plumb_copy_trace t;

	plumb_copy_trace_get(&t);
	return t;
}

static void assert_path(enum plumb_copy_path path)
{
	assert_int_equal(trace().path, path);
}

static void assert_refused(enum plumb_copy_path path)
{
	assert_true(trace().refused & PLUMB_COPY_BIT(path));
}

/* Copies between descriptors through fresh fd streams. */
static int64_t copy_fds(int out, int in, int64_t limit)
{
	plumb_reader *r = plumb_fd_reader_new(in, 0);
	plumb_writer *w = plumb_fd_writer_new(out, 0);
	int64_t n = limit < 0 ? plumb_copy(w, r) : plumb_copy_n(w, r, limit);

	plumb_reader_free(r);
	plumb_writer_free(w);
	return n;
}

/* A memory stream with nothing but read, in reads of at most chunk bytes;
 * it remembers the largest read asked of it. */
struct mem_reader {
	plumb_reader reader;
	const unsigned char *data;
	size_t len, pos, chunk, max_asked;
	int err; /* returned instead of reading past fail_at */
	size_t fail_at;
};

static ssize_t mem_read(plumb_reader *r, void *buf, size_t len)
{
	struct mem_reader *m = PLUMB_CONTAINER_OF(r, struct mem_reader, reader);
	size_t n = m->len - m->pos;

	if (len > m->max_asked)
		m->max_asked = len;
	if (m->pos >= m->fail_at)
		return m->err;
	n = n < len ? n : len;
	n = n < m->chunk ? n : m->chunk;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static const plumb_reader_ops mem_reader_ops = {.read = mem_read};

static struct mem_reader mem_reader(const void *data, size_t len, size_t chunk)
{
	return (struct mem_reader){
	        .reader = {&mem_reader_ops},
	        .data = data,
	        .len = len,
	        .chunk = chunk,
	        .fail_at = SIZE_MAX,
	};
}

/* A writer with nothing but write, which fails with err after fail_at bytes. */
struct fail_writer {
	plumb_writer writer;
	size_t taken, fail_at;
	int err;
};

static ssize_t fail_write(plumb_writer *w, const void *buf, size_t len)
{
	struct fail_writer *f = PLUMB_CONTAINER_OF(w, struct fail_writer, writer);

	(void)buf;
	if (f->taken + len > f->fail_at)
		return f->err;
	f->taken += len;
	return (ssize_t)len;
}

static const plumb_writer_ops fail_writer_ops = {.write = fail_write};

/* ---- Every path, every size ---- */

static void test_file_to_file(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSIZES; i++) {
		int in = pattern_file("ff.src", sizes[i]);
		int out = open_file("ff.dst", O_RDWR | O_CREAT | O_TRUNC);

		assert_int_equal(copy_fds(out, in, -1), (int64_t)sizes[i]);
		if (sizes[i])
			assert_path(PLUMB_COPY_FILE_RANGE);
		assert_int_equal(file_size(out), (int64_t)sizes[i]);
		assert_true(file_has_pattern(out, 0, sizes[i], 0));
		assert_int_equal(position(in), (int64_t)sizes[i]);
		assert_int_equal(position(out), (int64_t)sizes[i]);
		close(in);
		close(out);
	}
}

static void test_pipe_to_file(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSIZES; i++) {
		int p[2], out = open_file("pf.dst", O_RDWR | O_CREAT | O_TRUNC);
		struct peer feeder;

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		peer_start(&feeder, p[1], sizes[i], feed);
		assert_int_equal(copy_fds(out, p[0], -1), (int64_t)sizes[i]);
		if (sizes[i])
			assert_path(PLUMB_COPY_SPLICE);
		peer_join(&feeder);
		assert_int_equal(file_size(out), (int64_t)sizes[i]);
		assert_true(file_has_pattern(out, 0, sizes[i], 0));
		assert_int_equal(position(out), (int64_t)sizes[i]);
		close(p[0]);
		close(out);
	}
}

static void test_file_to_pipe(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSIZES; i++) {
		int p[2], in = pattern_file("fp.src", sizes[i]);
		struct peer drainer;

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		peer_start(&drainer, p[0], 0, drain);
		assert_int_equal(copy_fds(p[1], in, -1), (int64_t)sizes[i]);
		if (sizes[i])
			assert_path(PLUMB_COPY_SPLICE);
		close(p[1]);
		peer_join(&drainer);
		assert_int_equal(drainer.count, sizes[i]);
		assert_int_equal(position(in), (int64_t)sizes[i]);
		close(p[0]);
		close(in);
	}
}

static void test_file_to_socket(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSIZES; i++) {
		int sv[2], in = pattern_file("fs.src", sizes[i]);
		struct peer drainer;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		peer_start(&drainer, sv[1], 0, drain);
		assert_int_equal(copy_fds(sv[0], in, -1), (int64_t)sizes[i]);
		if (sizes[i])
			assert_path(PLUMB_COPY_SENDFILE);
		shutdown(sv[0], SHUT_WR);
		peer_join(&drainer);
		assert_int_equal(drainer.count, sizes[i]);
		assert_int_equal(position(in), (int64_t)sizes[i]);
		close(sv[0]);
		close(sv[1]);
		close(in);
	}
}

static void test_socket_to_file(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSIZES; i++) {
		int sv[2], out = open_file("sf.dst", O_RDWR | O_CREAT | O_TRUNC);
		struct peer feeder;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		peer_start(&feeder, sv[1], sizes[i], feed);
		assert_int_equal(copy_fds(out, sv[0], -1), (int64_t)sizes[i]);
		if (sizes[i])
			assert_path(PLUMB_COPY_SPLICE_PIPE);
		peer_join(&feeder);
		assert_int_equal(file_size(out), (int64_t)sizes[i]);
		assert_true(file_has_pattern(out, 0, sizes[i], 0));
		assert_int_equal(position(out), (int64_t)sizes[i]);
		close(sv[0]);
		close(out);
	}
}

/* A stream with only read: the loop, with its own buffer. */
static void test_memory_to_fd(void **state)
{
	unsigned char *data = pattern(64 * MiB, 0);

	(void)state;
	for (size_t i = 0; i < NSIZES; i++) {
		struct mem_reader m = mem_reader(data, sizes[i], SIZE_MAX);
		int out = open_file("mf.dst", O_RDWR | O_CREAT | O_TRUNC);
		plumb_writer *w = plumb_fd_writer_new(out, PLUMB_FD_OWN);

		assert_int_equal(plumb_copy(w, &m.reader), (int64_t)sizes[i]);
		assert_path(PLUMB_COPY_LOOP);
		assert_int_equal(m.max_asked, 32 * 1024);
		assert_int_equal(file_size(out), (int64_t)sizes[i]);
		assert_true(file_has_pattern(out, 0, sizes[i], 0));
		plumb_writer_free(w);
	}
	free(data);
}

/* A bytes reader writes itself: one write of everything. */
static void test_write_to_fd(void **state)
{
	unsigned char *data = pattern(64 * MiB, 0);

	(void)state;
	for (size_t i = 0; i < NSIZES; i++) {
		plumb_reader *r = plumb_bytes_reader_new(data, sizes[i]);
		int out = open_file("wf.dst", O_RDWR | O_CREAT | O_TRUNC);
		plumb_writer *w = plumb_fd_writer_new(out, PLUMB_FD_OWN);

		assert_int_equal(plumb_copy(w, r), (int64_t)sizes[i]);
		assert_path(PLUMB_COPY_WRITE_TO);
		assert_int_equal(file_size(out), (int64_t)sizes[i]);
		assert_true(file_has_pattern(out, 0, sizes[i], 0));
		assert_int_equal(plumb_reader_seek(r, 0, SEEK_CUR), (int64_t)sizes[i]);
		plumb_writer_free(w);
		plumb_reader_free(r);
	}
	free(data);
}

/* A buffer reads for itself, straight into its memory. */
static void test_fd_to_buffer(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSIZES; i++) {
		int in = pattern_file("fb.src", sizes[i]);
		plumb_reader *r = plumb_fd_reader_new(in, PLUMB_FD_OWN);
		plumb_buffer b;

		plumb_buffer_init(&b);
		assert_int_equal(plumb_copy(&b.writer, r), (int64_t)sizes[i]);
		assert_path(PLUMB_COPY_READ_FROM);
		assert_int_equal(plumb_buffer_len(&b), sizes[i]);
		assert_true(pattern_is(plumb_buffer_bytes(&b), sizes[i], 0));
		plumb_buffer_release(&b);
		plumb_reader_free(r);
	}
}

/* ---- copy_n ---- */

static void test_copy_n_file(void **state)
{
	int in = pattern_file("n.src", MiB + 7);
	int out = open_file("n.dst", O_RDWR | O_CREAT | O_TRUNC);

	(void)state;
	assert_int_equal(copy_fds(out, in, 5000), 5000);
	assert_path(PLUMB_COPY_FILE_RANGE);
	assert_int_equal(position(in), 5000);
	assert_int_equal(position(out), 5000);
	assert_int_equal(file_size(out), 5000);
	assert_true(file_has_pattern(out, 0, 5000, 0));
	/* the rest, asking for more than there is: the shorter count */
	assert_int_equal(copy_fds(out, in, 10 * MiB), MiB + 7 - 5000);
	assert_int_equal(file_size(out), MiB + 7);
	assert_true(file_has_pattern(out, 0, MiB + 7, 0));
	/* n = 0 and below: nothing at all */
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	assert_int_equal(copy_fds(out, in, 0), 0);
	{
		plumb_reader *r = plumb_fd_reader_new(in, 0);

		assert_int_equal(plumb_copy_n(plumb_discard(), r, -5), 0);
		plumb_reader_free(r);
	}
	assert_int_equal(position(in), 0);
	close(in);
	close(out);
}

static void test_copy_n_short_source(void **state)
{
	int in = pattern_file("short.src", 100);
	int out = open_file("short.dst", O_RDWR | O_CREAT | O_TRUNC);

	(void)state;
	assert_int_equal(copy_fds(out, in, 1000), 100);
	assert_true(file_has_pattern(out, 0, 100, 0));
	assert_int_equal(copy_fds(out, in, 1000), 0);
	close(in);
	close(out);
}

/* Through the destination's read_from: a limit reader on the stack. */
static void test_copy_n_read_from(void **state)
{
	unsigned char *data = pattern(100000, 0);
	plumb_reader *r = plumb_bytes_reader_new(data, 100000);
	plumb_buffer b;

	(void)state;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_copy_n(&b.writer, r, 12345), 12345);
	assert_path(PLUMB_COPY_READ_FROM);
	assert_int_equal(plumb_buffer_len(&b), 12345);
	assert_true(pattern_is(plumb_buffer_bytes(&b), 12345, 0));
	assert_int_equal(plumb_reader_seek(r, 0, SEEK_CUR), 12345);
	plumb_reader_free(r);
	plumb_buffer_release(&b);
	free(data);
}

/* A copy_n out of a pipe or a socket leaves the rest where it was. */
static void test_copy_n_streams_keep_the_rest(void **state)
{
	int p[2], sv[2], out = open_file("rest.dst", O_RDWR | O_CREAT | O_TRUNC);
	unsigned char rest[16];
	struct peer feeder;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	peer_start(&feeder, p[1], 300000, feed);
	assert_int_equal(copy_fds(out, p[0], 200001), 200001);
	assert_path(PLUMB_COPY_SPLICE);
	assert_int_equal(read(p[0], rest, sizeof(rest)), sizeof(rest));
	assert_true(pattern_is(rest, sizeof(rest), 200001));
	assert_int_equal(copy_fds(out, p[0], -1), 300000 - 200001 - sizeof(rest));
	peer_join(&feeder);
	close(p[0]);

	assert_int_equal(ftruncate(out, 0), 0);
	assert_int_equal(lseek(out, 0, SEEK_SET), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	peer_start(&feeder, sv[1], 3 * MiB, feed);
	assert_int_equal(copy_fds(out, sv[0], MiB + 3), MiB + 3);
	assert_path(PLUMB_COPY_SPLICE_PIPE);
	assert_true(file_has_pattern(out, 0, MiB + 3, 0));
	assert_int_equal(read(sv[0], rest, sizeof(rest)), sizeof(rest));
	assert_true(pattern_is(rest, sizeof(rest), MiB + 3));
	assert_int_equal(copy_fds(out, sv[0], -1), 2 * MiB - 3 - sizeof(rest));
	peer_join(&feeder);
	close(sv[0]);
	close(out);
}

static void test_copy_n_loop(void **state)
{
	unsigned char *data = pattern(100000, 0);
	struct mem_reader m = mem_reader(data, 100000, 999);
	plumb_buffer got;
	plumb_writer *w;
	int out = open_file("nloop.dst", O_RDWR | O_CREAT | O_TRUNC);

	(void)state;
	plumb_buffer_init(&got);
	w = plumb_fd_writer_new(out, 0);
	assert_int_equal(plumb_copy_n(w, &m.reader, 54321), 54321);
	assert_path(PLUMB_COPY_LOOP);
	assert_int_equal(m.pos, 54321);
	assert_true(file_has_pattern(out, 0, 54321, 0));
	assert_int_equal(file_size(out), 54321);
	/* a small n needs only a small buffer */
	assert_int_equal(plumb_copy_n(w, &m.reader, 10), 10);
	assert_int_equal(m.max_asked, 32 * 1024);
	plumb_writer_free(w);
	close(out);
	plumb_buffer_release(&got);
	free(data);
}

/* ---- Limit readers over descriptors keep the kernel paths ---- */

static void test_limit_reader_kernel(void **state)
{
	int in = pattern_file("lim.src", MiB);
	int out = open_file("lim.dst", O_RDWR | O_CREAT | O_TRUNC);
	plumb_reader *r = plumb_fd_reader_new(in, 0);
	plumb_reader *outer, *inner;
	plumb_writer *w = plumb_fd_writer_new(out, 0);

	(void)state;
	inner = plumb_limit_reader_new(r, 300000);
	assert_int_equal(plumb_copy(w, inner), 300000);
	assert_path(PLUMB_COPY_FILE_RANGE);
	assert_int_equal(plumb_limit_reader_left(inner), 0);
	assert_int_equal(position(in), 300000);
	assert_int_equal(plumb_copy(w, inner), 0);
	plumb_reader_free(inner);

	/* limits on limits: the tightest wins, and all are charged */
	inner = plumb_limit_reader_new(r, 1000);
	outer = plumb_limit_reader_new(inner, 600);
	assert_int_equal(plumb_copy(w, outer), 600);
	assert_path(PLUMB_COPY_FILE_RANGE);
	assert_int_equal(plumb_limit_reader_left(outer), 0);
	assert_int_equal(plumb_limit_reader_left(inner), 400);
	/* copy_n below a limit reader: the smaller of the two */
	assert_int_equal(plumb_copy_n(w, inner, 300), 300);
	assert_int_equal(plumb_limit_reader_left(inner), 100);
	assert_int_equal(plumb_copy_n(w, inner, 300), 100);
	plumb_reader_free(outer);
	plumb_reader_free(inner);

	/* a limit past the end */
	inner = plumb_limit_reader_new(r, 2 * MiB);
	assert_int_equal(plumb_copy(w, inner), MiB - 301000);
	assert_int_equal(plumb_limit_reader_left(inner), 2 * MiB - (MiB - 301000));
	plumb_reader_free(inner);
	assert_true(file_has_pattern(out, 0, MiB, 0));
	assert_int_equal(file_size(out), MiB);
	plumb_reader_free(r);
	plumb_writer_free(w);
	close(in);
	close(out);
}

/* ---- copy_buffer ---- */

static void test_copy_buffer_tiny(void **state)
{
	unsigned char *data = pattern(10000, 0);
	struct mem_reader m = mem_reader(data, 10000, SIZE_MAX);
	unsigned char buf[3];
	plumb_buffer dst;
	struct fail_writer fw = {.writer = {&fail_writer_ops}, .fail_at = SIZE_MAX};

	(void)state;
	plumb_buffer_init(&dst);
	/* a buffer reads for itself; a plain writer needs the loop */
	assert_int_equal(plumb_copy_buffer(&fw.writer, &m.reader, buf, sizeof(buf)), 10000);
	assert_path(PLUMB_COPY_LOOP);
	assert_int_equal(m.max_asked, 3);
	assert_int_equal(fw.taken, 10000);

	m = mem_reader(data, 10000, SIZE_MAX);
	assert_int_equal(plumb_copy_buffer(&dst.writer, &m.reader, buf, sizeof(buf)), 10000);
	assert_true(pattern_is(plumb_buffer_bytes(&dst), 10000, 0));
	assert_int_equal(plumb_copy_buffer(&dst.writer, &m.reader, buf, 0), -EINVAL);
	plumb_buffer_release(&dst);
	free(data);
}

static void test_copy_buffer_content(void **state)
{
	unsigned char *data = pattern(100000, 0);
	struct mem_reader m = mem_reader(data, 100000, 777);
	int out = open_file("cb.dst", O_RDWR | O_CREAT | O_TRUNC);
	plumb_writer *w = plumb_fd_writer_new(out, 0);
	unsigned char buf[5];

	(void)state;
	assert_int_equal(plumb_copy_buffer(w, &m.reader, buf, sizeof(buf)), 100000);
	assert_int_equal(m.max_asked, 5);
	assert_true(file_has_pattern(out, 0, 100000, 0));
	/* between descriptors the kernel needs no buffer */
	assert_int_equal(lseek(out, 0, SEEK_SET), 0);
	{
		int in = pattern_file("cb.src", 50000);
		plumb_reader *r = plumb_fd_reader_new(in, PLUMB_FD_OWN);

		assert_int_equal(plumb_copy_buffer(w, r, buf, sizeof(buf)), 50000);
		assert_path(PLUMB_COPY_FILE_RANGE);
		plumb_reader_free(r);
	}
	plumb_writer_free(w);
	close(out);
	free(data);
}

/* ---- Positions: a fast path leaves the descriptors where the loop would ---- */

struct outcome {
	int64_t copied, in_pos, out_pos, out_size;
	char *text;
};

/* Copies n (or everything, n < 0) of a 1 MiB+7 file from offset 100 into a
 * file of 200 bytes at offset 50, with the paths in forbid forbidden. */
static struct outcome positions_file(unsigned forbid, int64_t n, enum plumb_copy_path want)
{
	int in = pattern_file("pos.src", MiB + 7);
	int out = open_file("pos.dst", O_RDWR | O_CREAT | O_TRUNC);
	unsigned old = plumb_copy_forbid(forbid);
	struct outcome o;

	assert_int_equal(write(out, (char[200]){0}, 200), 200);
	assert_int_equal(lseek(out, 50, SEEK_SET), 50);
	assert_int_equal(lseek(in, 100, SEEK_SET), 100);
	o.copied = copy_fds(out, in, n);
	assert_path(want);
	plumb_copy_forbid(old);
	o.in_pos = position(in);
	o.out_pos = position(out);
	o.out_size = file_size(out);
	o.text = file_text("pos.dst");
	close(in);
	close(out);
	return o;
}

static void assert_same_outcome(struct outcome a, struct outcome b)
{
	assert_int_equal(a.copied, b.copied);
	assert_int_equal(a.in_pos, b.in_pos);
	assert_int_equal(a.out_pos, b.out_pos);
	assert_int_equal(a.out_size, b.out_size);
	assert_memory_equal(a.text, b.text, (size_t)a.out_size);
}

static void test_positions_match_loop(void **state)
{
	const unsigned kernel =
	        PLUMB_COPY_BIT(PLUMB_COPY_FILE_RANGE) | PLUMB_COPY_BIT(PLUMB_COPY_SENDFILE) |
	        PLUMB_COPY_BIT(PLUMB_COPY_SPLICE) | PLUMB_COPY_BIT(PLUMB_COPY_SPLICE_PIPE);
	const int64_t ns[] = {-1, 1, 150, 300000};

	(void)state;
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		struct outcome loop = positions_file(kernel, ns[i], PLUMB_COPY_LOOP);
		struct outcome cfr = positions_file(0, ns[i], PLUMB_COPY_FILE_RANGE);
		struct outcome sf = positions_file(PLUMB_COPY_BIT(PLUMB_COPY_FILE_RANGE), ns[i],
		                                   PLUMB_COPY_SENDFILE);

		assert_int_equal(loop.in_pos, 100 + loop.copied);
		assert_int_equal(loop.out_pos, 50 + loop.copied);
		assert_true(pattern_is((unsigned char *)loop.text + 50, (size_t)loop.copied, 100));
		/* forbidden is not refused */
		assert_int_equal(trace().refused, 0);
		assert_same_outcome(cfr, loop);
		assert_same_outcome(sf, loop);
		free(loop.text);
		free(cfr.text);
		free(sf.text);
	}
}

/* file -> pipe by splice moves the file's position as a read would. */
static void test_positions_splice(void **state)
{
	int in = pattern_file("possp.src", 100000);
	unsigned char *got = malloc(50000);
	int p[2];

	(void)state;
	assert_non_null(got);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(lseek(in, 1000, SEEK_SET), 1000);
	/* both copies fit in the pipe, so no reader is needed meanwhile */
	assert_int_equal(copy_fds(p[1], in, 100), 100);
	assert_path(PLUMB_COPY_SPLICE);
	assert_int_equal(position(in), 1100);
	assert_int_equal(read(p[0], got, 50000), 100);
	assert_true(pattern_is(got, 100, 1000));
	assert_int_equal(copy_fds(p[1], in, 50000), 50000);
	assert_int_equal(position(in), 51100);
	close(p[1]);
	{
		plumb_reader *r = plumb_fd_reader_new(p[0], 0);

		assert_int_equal(plumb_read_full(r, got, 50000), 50000);
		assert_true(pattern_is(got, 50000, 1100));
		plumb_reader_free(r);
	}
	free(got);
	close(p[0]);
	close(in);
}

/* ---- Refusals fall back ---- */

/* copy_file_range and sendfile refuse an O_APPEND destination. */
static void test_fallback_append(void **state)
{
	int in = pattern_file("app.src", MiB + 7);
	int out = open_file("app.dst", O_WRONLY | O_CREAT | O_TRUNC);
	int check;

	(void)state;
	assert_int_equal(write(out, "prefix", 6), 6);
	close(out);
	out = open_file("app.dst", O_WRONLY | O_APPEND);
	assert_int_equal(copy_fds(out, in, -1), MiB + 7);
	assert_path(PLUMB_COPY_LOOP);
	assert_refused(PLUMB_COPY_FILE_RANGE);
	assert_refused(PLUMB_COPY_SENDFILE);
	check = open_file("app.dst", O_RDONLY);
	assert_int_equal(file_size(check), MiB + 7 + 6);
	assert_true(file_has_pattern(check, 6, MiB + 7, 0));
	close(check);
	close(out);
	close(in);
}

/* A pipe into an O_APPEND file: splice refuses, the loop copies. */
static void test_fallback_pipe_append(void **state)
{
	int p[2], out = open_file("papp.dst", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND), check;
	struct peer feeder;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	peer_start(&feeder, p[1], MiB + 7, feed);
	assert_int_equal(copy_fds(out, p[0], -1), MiB + 7);
	peer_join(&feeder);
	assert_path(PLUMB_COPY_LOOP);
	assert_refused(PLUMB_COPY_SPLICE);
	check = open_file("papp.dst", O_RDONLY);
	assert_true(file_has_pattern(check, 0, MiB + 7, 0));
	assert_int_equal(file_size(check), MiB + 7);
	close(check);
	close(out);
	close(p[0]);
}

/* A socket into an O_APPEND file: the bytes already in our pipe when the
 * destination refuses still arrive, in order, and the loop does the rest. */
static void test_fallback_socket_append(void **state)
{
	int sv[2], out = open_file("sapp.dst", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND), check;
	struct peer feeder;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	peer_start(&feeder, sv[1], 3 * MiB + 7, feed);
	assert_int_equal(copy_fds(out, sv[0], -1), 3 * MiB + 7);
	peer_join(&feeder);
	assert_path(PLUMB_COPY_LOOP);
	assert_refused(PLUMB_COPY_SPLICE_PIPE);
	check = open_file("sapp.dst", O_RDONLY);
	assert_int_equal(file_size(check), 3 * MiB + 7);
	assert_true(file_has_pattern(check, 0, 3 * MiB + 7, 0));
	close(check);
	close(out);
	close(sv[0]);
}

/* /proc files say they are empty; copy_file_range believes it. */
static void test_fallback_proc(void **state)
{
	int in = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	int out = open_file("proc.dst", O_RDWR | O_CREAT | O_TRUNC);
	int64_t n;
	char *text;

	(void)state;
	assert_true(in >= 0);
	assert_int_equal(file_size(in), 0);
	n = copy_fds(out, in, -1);
	assert_true(n > 100);
	assert_refused(PLUMB_COPY_FILE_RANGE);
	assert_int_equal(file_size(out), n);
	text = file_text("proc.dst");
	assert_int_equal(strncmp(text, "Name:", 5), 0);
	assert_non_null(strstr(text, "\nPid:"));
	free(text);
	close(in);
	close(out);
}

/* ---- Errors ---- */

static void test_error_bad_destination(void **state)
{
	int in = pattern_file("bad.src", 100000);
	int ro = open_file("bad.src", O_RDONLY);
	int closed = dup(in);

	(void)state;
	close(closed);
	assert_int_equal(copy_fds(closed, in, -1), -EBADF);
	assert_int_equal(copy_fds(ro, in, -1), -EBADF);
	assert_int_equal(copy_fds(ro, in, 10), -EBADF);
	close(ro);
	close(in);
}

static void test_error_bad_source(void **state)
{
	int wo = open_file("badsrc", O_WRONLY | O_CREAT | O_TRUNC);
	int out = open_file("badsrc.dst", O_WRONLY | O_CREAT | O_TRUNC);

	(void)state;
	assert_int_equal(copy_fds(out, wo, -1), -EBADF);
	close(wo);
	close(out);
}

/* The reader is gone: an error, not a hang and not a signal. */
static void test_error_epipe(void **state)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	int sv[2], p[2], in = pattern_file("epipe.src", MiB);

	(void)state;
	sigaction(SIGPIPE, &ign, &old);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(copy_fds(sv[0], in, -1), -EPIPE);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	assert_int_equal(copy_fds(p[1], in, -1), -EPIPE);
	sigaction(SIGPIPE, &old, NULL);
	close(sv[0]);
	close(p[1]);
	close(in);
}

static void test_error_loop(void **state)
{
	unsigned char *data = pattern(100000, 0);
	struct mem_reader m = mem_reader(data, 100000, 1000);
	struct fail_writer fw = {.writer = {&fail_writer_ops}, .fail_at = 50000, .err = -ENOSPC};
	plumb_buffer b;

	(void)state;
	assert_int_equal(plumb_copy(&fw.writer, &m.reader), -ENOSPC);
	assert_path(PLUMB_COPY_LOOP);

	m = mem_reader(data, 100000, 1000);
	m.fail_at = 4000;
	m.err = -ECONNRESET;
	fw.taken = 0;
	fw.fail_at = SIZE_MAX;
	assert_int_equal(plumb_copy(&fw.writer, &m.reader), -ECONNRESET);
	assert_int_equal(fw.taken, 4000);

	m = mem_reader(data, 100000, 1000);
	m.fail_at = 4000;
	m.err = -ECONNRESET;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_copy(&b.writer, &m.reader), -ECONNRESET);
	assert_int_equal(plumb_copy_n(&b.writer, &m.reader, 10), -ECONNRESET);
	plumb_buffer_release(&b);
	free(data);
}

/* ---- Composite sources ---- */

/* A multi reader writes itself member by member, each by its best path. */
static void test_multi_reader_of_files(void **state)
{
	int a = pattern_file("ma.src", 70000);
	int b = open_file("mb.src", O_RDWR | O_CREAT | O_TRUNC);
	int out = open_file("m.dst", O_RDWR | O_CREAT | O_TRUNC);
	unsigned char *rest = pattern(50000, 70000);
	plumb_reader *ra = plumb_fd_reader_new(a, PLUMB_FD_OWN);
	plumb_reader *rb = plumb_fd_reader_new(b, PLUMB_FD_OWN);
	plumb_reader *mr = plumb_multi_reader_new((plumb_reader *[]){ra, rb}, 2);
	plumb_writer *w = plumb_fd_writer_new(out, PLUMB_FD_OWN);

	(void)state;
	assert_int_equal(write(b, rest, 50000), 50000);
	assert_int_equal(lseek(b, 0, SEEK_SET), 0);
	assert_int_equal(plumb_copy(w, mr), 120000);
	assert_path(PLUMB_COPY_WRITE_TO);
	assert_true(file_has_pattern(out, 0, 120000, 0));
	assert_int_equal(file_size(out), 120000);
	/* copy_n cannot use write_to, which knows no limit */
	assert_int_equal(plumb_reader_seek(ra, 0, SEEK_SET), 0);
	plumb_reader_free(mr);
	mr = plumb_multi_reader_new((plumb_reader *[]){ra, rb}, 2);
	assert_int_equal(plumb_copy_n(w, mr, 1000), 1000);
	assert_path(PLUMB_COPY_LOOP);
	plumb_reader_free(mr);
	plumb_reader_free(ra);
	plumb_reader_free(rb);
	plumb_writer_free(w);
	free(rest);
}

/* ---- The run ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_file_to_file),
	        cmocka_unit_test(test_pipe_to_file),
	        cmocka_unit_test(test_file_to_pipe),
	        cmocka_unit_test(test_file_to_socket),
	        cmocka_unit_test(test_socket_to_file),
	        cmocka_unit_test(test_memory_to_fd),
	        cmocka_unit_test(test_write_to_fd),
	        cmocka_unit_test(test_fd_to_buffer),
	        cmocka_unit_test(test_copy_n_file),
	        cmocka_unit_test(test_copy_n_short_source),
	        cmocka_unit_test(test_copy_n_read_from),
	        cmocka_unit_test(test_copy_n_streams_keep_the_rest),
	        cmocka_unit_test(test_copy_n_loop),
	        cmocka_unit_test(test_limit_reader_kernel),
	        cmocka_unit_test(test_copy_buffer_tiny),
	        cmocka_unit_test(test_copy_buffer_content),
	        cmocka_unit_test(test_positions_match_loop),
	        cmocka_unit_test(test_positions_splice),
	        cmocka_unit_test(test_fallback_append),
	        cmocka_unit_test(test_fallback_pipe_append),
	        cmocka_unit_test(test_fallback_socket_append),
	        cmocka_unit_test(test_fallback_proc),
	        cmocka_unit_test(test_error_bad_destination),
	        cmocka_unit_test(test_error_bad_source),
	        cmocka_unit_test(test_error_epipe),
	        cmocka_unit_test(test_error_loop),
	        cmocka_unit_test(test_multi_reader_of_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
