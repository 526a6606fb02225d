/*
 * test_io.c - unit tests of libplumb's stream adapters and helpers: the
 * interface calls, descriptors, plumb_buffer, bytes and string readers,
 * discard, stdio both ways, tee, multi writer and reader, limit and section
 * readers, read_full, read_at_least and read_all.  plumb_copy has its own
 * file, test_copy.c.
 *
 * Streams that fail on cue (a reader or writer that gives up after N bytes
 * with a chosen error, or comes back short) drive the error paths.  Every
 * test checks the exact bytes, and files live in a temporary directory made
 * for the run and removed after it.
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
#include <unistd.h>

#include <cmocka.h>

#include <plumb/io.h>

static char tmpdir[] = "/tmp/plumb-test-io-XXXXXX";

/* ---- Helpers ---- */

/* Byte i of the test pattern: no period short enough to hide a slip. */
static unsigned char pattern_byte(uint64_t i)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull;

	return (unsigned char)(x >> 56 ^ x >> 29);
}

static unsigned char *pattern(size_t len)
{
	unsigned char *p = malloc(len ? len : 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(i);
	return p;
}

/* A path in the test directory. */
static const char *tmp_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* A file holding len bytes of data, open for reading at offset 0. */
static int tmp_file(const char *name, const void *data, size_t len)
{
	int fd = open(tmp_path(name), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/*
 * A reader that hands out data in reads of at most chunk bytes, fails with
 * err once fail_at bytes went out (never, if fail_at is SIZE_MAX), and
 * remembers the largest read asked of it.
 */
struct test_reader {
	plumb_reader reader;
	const unsigned char *data;
	size_t len, pos, chunk, fail_at, max_asked;
	int err;
};

static ssize_t test_read(plumb_reader *r, void *buf, size_t len)
{
	struct test_reader *t = PLUMB_CONTAINER_OF(r, struct test_reader, reader);
	size_t n = t->len - t->pos;

	if (len > t->max_asked)
		t->max_asked = len;
	if (t->pos >= t->fail_at)
		return t->err;
	if (n > len)
		n = len;
	if (n > t->chunk)
		n = t->chunk;
	if (n > t->fail_at - t->pos)
		n = t->fail_at - t->pos;
	memcpy(buf, t->data + t->pos, n);
	t->pos += n;
	return (ssize_t)n;
}

static const plumb_reader_ops test_reader_ops = {.read = test_read};

static struct test_reader test_reader(const void *data, size_t len, size_t chunk)
{
	return (struct test_reader){
	        .reader = {&test_reader_ops},
	        .data = data,
	        .len = len,
	        .chunk = chunk,
	        .fail_at = SIZE_MAX,
	};
}

/*
 * A writer that keeps what it takes in a buffer and, once it holds fail_at
 * bytes, fails with err, or with short set takes what fits and says so (a
 * broken writer: the contract forbids short counts).
 */
struct test_writer {
	plumb_writer writer;
	plumb_buffer got;
	size_t fail_at;
	int err;
	bool short_count;
	int writes;
};

static ssize_t test_write(plumb_writer *w, const void *buf, size_t len)
{
	struct test_writer *t = PLUMB_CONTAINER_OF(w, struct test_writer, writer);
	size_t room = t->fail_at - plumb_buffer_len(&t->got);

	t->writes++;
	if (len > room && !t->short_count)
		return t->err;
	if (len > room)
		len = room;
	assert_int_equal(plumb_buffer_append(&t->got, buf, len), 0);
	return (ssize_t)len;
}

static const plumb_writer_ops test_writer_ops = {.write = test_write};

static void test_writer_init(struct test_writer *t, size_t fail_at, int err)
{
	*t = (struct test_writer){.writer = {&test_writer_ops}, .fail_at = fail_at, .err = err};
	plumb_buffer_init(&t->got);
}

static void assert_buffer_is(const plumb_buffer *b, const char *s)
{
	assert_int_equal(plumb_buffer_len(b), strlen(s));
	assert_memory_equal(plumb_buffer_bytes(b), s, strlen(s));
}

/* ---- The interface calls ---- */

static ssize_t only_read(plumb_reader *r, void *buf, size_t len)
{
	(void)r;
	memset(buf, 'x', 1);
	return len ? 1 : 0;
}

static ssize_t only_write(plumb_writer *w, const void *buf, size_t len)
{
	(void)w;
	(void)buf;
	return (ssize_t)len;
}

static void test_optional_ops_absent(void **state)
{
	static const plumb_reader_ops rops = {.read = only_read};
	static const plumb_writer_ops wops = {.write = only_write};
	plumb_reader r = {&rops};
	plumb_writer w = {&wops};
	char c = 0;

	(void)state;
	assert_int_equal(plumb_reader_read(&r, &c, 1), 1);
	assert_int_equal(c, 'x');
	assert_int_equal(plumb_reader_read(&r, &c, 0), 0);
	assert_int_equal(plumb_reader_read_at(&r, &c, 1, 0), -ENOTSUP);
	assert_int_equal(plumb_reader_seek(&r, 0, SEEK_SET), -ENOTSUP);
	assert_int_equal(plumb_reader_fd(&r), -1);
	assert_int_equal(plumb_reader_close(&r), 0);
	plumb_reader_free(&r);
	plumb_reader_free(NULL);
	assert_int_equal(plumb_writer_write(&w, "abc", 3), 3);
	assert_int_equal(plumb_writer_write_str(&w, "hello"), 5);
	assert_int_equal(plumb_writer_write_str(&w, ""), 0);
	assert_int_equal(plumb_writer_fd(&w), -1);
	assert_int_equal(plumb_writer_close(&w), 0);
	plumb_writer_free(&w);
	plumb_writer_free(NULL);
}

/* ---- Descriptors ---- */

static void test_fd_read(void **state)
{
	int fd = tmp_file("read", "hello, world", 12);
	plumb_reader *r = plumb_fd_reader_new(fd, PLUMB_FD_OWN);
	char buf[8];

	(void)state;
	assert_non_null(r);
	assert_int_equal(plumb_reader_fd(r), fd);
	assert_int_equal(plumb_reader_read(r, buf, 5), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(plumb_reader_read(r, buf, 8), 7);
	assert_memory_equal(buf, ", world", 7);
	assert_int_equal(plumb_reader_read(r, buf, 8), 0);
	assert_int_equal(plumb_reader_read(r, buf, 8), 0);
	plumb_reader_free(r);
}

static void test_fd_read_at(void **state)
{
	int fd = tmp_file("read_at", "0123456789", 10);
	plumb_reader *r = plumb_fd_reader_new(fd, PLUMB_FD_OWN);
	char buf[16];

	(void)state;
	assert_int_equal(plumb_reader_read_at(r, buf, 4, 3), 4);
	assert_memory_equal(buf, "3456", 4);
	assert_int_equal(plumb_reader_read_at(r, buf, 16, 6), 4);
	assert_memory_equal(buf, "6789", 4);
	assert_int_equal(plumb_reader_read_at(r, buf, 4, 10), 0);
	assert_int_equal(plumb_reader_read_at(r, buf, 4, 1000), 0);
	assert_int_equal(plumb_reader_read_at(r, buf, 4, -1), -EINVAL);
	/* read_at leaves the position alone */
	assert_int_equal(plumb_reader_read(r, buf, 3), 3);
	assert_memory_equal(buf, "012", 3);
	plumb_reader_free(r);
}

static void test_fd_seek(void **state)
{
	int fd = tmp_file("seek", "0123456789", 10);
	plumb_reader *r = plumb_fd_reader_new(fd, PLUMB_FD_OWN);
	char c;

	(void)state;
	assert_int_equal(plumb_reader_seek(r, 4, SEEK_SET), 4);
	assert_int_equal(plumb_reader_read(r, &c, 1), 1);
	assert_int_equal(c, '4');
	assert_int_equal(plumb_reader_seek(r, 2, SEEK_CUR), 7);
	assert_int_equal(plumb_reader_read(r, &c, 1), 1);
	assert_int_equal(c, '7');
	assert_int_equal(plumb_reader_seek(r, -1, SEEK_END), 9);
	assert_int_equal(plumb_reader_read(r, &c, 1), 1);
	assert_int_equal(c, '9');
	assert_int_equal(plumb_reader_seek(r, -20, SEEK_SET), -EINVAL);
	assert_int_equal(plumb_reader_seek(r, 0, 42), -EINVAL);
	assert_int_equal(plumb_reader_seek(r, 0, SEEK_CUR), 10);
	plumb_reader_free(r);
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_fd_own_closes_once(void **state)
{
	int fd = tmp_file("own", "x", 1), other;
	plumb_reader *r = plumb_fd_reader_new(fd, PLUMB_FD_OWN);
	char c;

	(void)state;
	assert_int_equal(plumb_reader_close(r), 0);
	assert_false(fd_is_open(fd));
	assert_int_equal(plumb_reader_fd(r), -1);
	assert_int_equal(plumb_reader_read(r, &c, 1), -EBADF);
	assert_int_equal(plumb_reader_close(r), 0);
	/* the number comes back with the next open: free must not close it */
	other = open(tmp_path("own"), O_RDONLY | O_CLOEXEC);
	assert_int_equal(other, fd);
	plumb_reader_free(r);
	assert_true(fd_is_open(other));
	close(other);
}

static void test_fd_own_free_closes(void **state)
{
	int rfd = tmp_file("own_free", "x", 1);
	int wfd = dup(rfd);
	plumb_reader *r = plumb_fd_reader_new(rfd, PLUMB_FD_OWN);
	plumb_writer *w = plumb_fd_writer_new(wfd, PLUMB_FD_OWN);

	(void)state;
	plumb_reader_free(r);
	plumb_writer_free(w);
	assert_false(fd_is_open(rfd));
	assert_false(fd_is_open(wfd));
}

static void test_fd_not_owned(void **state)
{
	int fd = tmp_file("not_owned", "x", 1);
	plumb_reader *r = plumb_fd_reader_new(fd, 0);
	plumb_writer *w = plumb_fd_writer_new(fd, 0);

	(void)state;
	assert_int_equal(plumb_reader_close(r), 0);
	assert_int_equal(plumb_writer_close(w), 0);
	plumb_reader_free(r);
	plumb_writer_free(w);
	assert_true(fd_is_open(fd));
	close(fd);
}

static void test_fd_write(void **state)
{
	int fd = tmp_file("write", "", 0);
	plumb_writer *w = plumb_fd_writer_new(fd, 0);
	char buf[16];

	(void)state;
	assert_int_equal(plumb_writer_fd(w), fd);
	assert_int_equal(plumb_writer_write(w, "abc", 3), 3);
	assert_int_equal(plumb_writer_write_str(w, "defg"), 4);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 7);
	assert_memory_equal(buf, "abcdefg", 7);
	plumb_writer_free(w);
	close(fd);
}

static void test_fd_write_closed(void **state)
{
	int fd = tmp_file("write_closed", "", 0);
	plumb_writer *w = plumb_fd_writer_new(fd, PLUMB_FD_OWN);
	plumb_writer *stale;

	(void)state;
	assert_int_equal(plumb_writer_close(w), 0);
	assert_int_equal(plumb_writer_write(w, "abc", 3), -EBADF);
	assert_int_equal(plumb_writer_close(w), 0);
	plumb_writer_free(w);
	/* a number that is not open at all */
	stale = plumb_fd_writer_new(fd, 0);
	assert_false(fd_is_open(fd));
	assert_int_equal(plumb_writer_write(stale, "abc", 3), -EBADF);
	plumb_writer_free(stale);
}

static void test_fd_write_eagain(void **state)
{
	int p[2];
	plumb_writer *w;
	char block[4096];
	ssize_t rc;
	size_t total = 0;

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	w = plumb_fd_writer_new(p[1], PLUMB_FD_OWN);
	memset(block, 'p', sizeof(block));
	while ((rc = plumb_writer_write(w, block, sizeof(block))) > 0)
		total += (size_t)rc;
	assert_int_equal(rc, -EAGAIN);
	assert_true(total >= 4096);
	plumb_writer_free(w);
	close(p[0]);
}

static void test_fd_write_epipe(void **state)
{
	int p[2];
	plumb_writer *w;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	sigaction(SIGPIPE, &ign, &old);
	w = plumb_fd_writer_new(p[1], PLUMB_FD_OWN);
	assert_int_equal(plumb_writer_write(w, "x", 1), -EPIPE);
	plumb_writer_free(w);
	sigaction(SIGPIPE, &old, NULL);
}

/* Signals without SA_RESTART interrupt blocking reads and writes; the
 * adapters must restart them and lose nothing. */
static volatile sig_atomic_t signals_seen;

static void count_signal(int sig)
{
	(void)sig;
	signals_seen++;
}

struct interrupter {
	pthread_t target;
	int fd;     /* the pipe end this thread works */
	size_t len; /* bytes to write to fd (or to read from it, when draining) */
	bool drain;
	bool ok;
};

static void *interrupt_then_work(void *arg)
{
	struct interrupter *it = arg;
	unsigned char *buf = malloc(it->len);
	size_t done = 0;

	assert_non_null(buf);
	for (int i = 0; i < 5; i++) {
		usleep(2000);
		pthread_kill(it->target, SIGUSR1);
	}
	while (done < it->len) {
		ssize_t n = it->drain ? read(it->fd, buf + done, it->len - done)
		                      : write(it->fd, buf + done, it->len - done);

		if (n <= 0)
			break;
		if (!it->drain)
			memset(buf + done, 0, (size_t)n);
		done += (size_t)n;
		if (it->drain)
			pthread_kill(it->target, SIGUSR1);
	}
	it->ok = done == it->len;
	if (it->drain) {
		unsigned char *want = pattern(it->len);

		it->ok = it->ok && memcmp(buf, want, it->len) == 0;
		free(want);
	}
	free(buf);
	return NULL;
}

static void test_fd_eintr_restarts(void **state)
{
	struct sigaction sa = {.sa_handler = count_signal}, old;
	struct interrupter it = {.target = pthread_self()};
	size_t big = 1 << 20;
	unsigned char *data = pattern(big);
	plumb_reader *r;
	plumb_writer *w;
	pthread_t th;
	int p[2];
	char c;

	(void)state;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, &old);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	r = plumb_fd_reader_new(p[0], 0);
	w = plumb_fd_writer_new(p[1], 0);

	/* a read that waits is interrupted, then gets its byte */
	signals_seen = 0;
	it.fd = p[1];
	it.len = 1;
	pthread_create(&th, NULL, interrupt_then_work, &it);
	assert_int_equal(plumb_reader_read(r, &c, 1), 1);
	pthread_join(th, NULL);
	assert_true(it.ok);
	assert_true(signals_seen >= 1);

	/* a write larger than the pipe is interrupted between partial writes */
	signals_seen = 0;
	it = (struct interrupter){.target = pthread_self(), .fd = p[0], .len = big, .drain = true};
	pthread_create(&th, NULL, interrupt_then_work, &it);
	assert_int_equal(plumb_writer_write(w, data, big), (ssize_t)big);
	pthread_join(th, NULL);
	assert_true(it.ok);
	assert_true(signals_seen >= 1);

	sigaction(SIGUSR1, &old, NULL);
	plumb_reader_free(r);
	plumb_writer_free(w);
	close(p[0]);
	close(p[1]);
	free(data);
}

/* ---- plumb_buffer ---- */

static void test_buffer_empty(void **state)
{
	plumb_buffer b;
	char c;

	(void)state;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_buffer_len(&b), 0);
	assert_string_equal((const char *)plumb_buffer_bytes(&b), "");
	assert_int_equal(plumb_reader_read(&b.reader, &c, 1), 0);
	assert_int_equal(plumb_reader_fd(&b.reader), -1);
	assert_int_equal(plumb_writer_fd(&b.writer), -1);
	assert_null(b.data);
	plumb_buffer_release(&b);
}

/* Go's TestBasicOperations, in short. */
static void test_buffer_write_read(void **state)
{
	plumb_buffer b;
	char buf[8];

	(void)state;
	plumb_buffer_init(&b);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(plumb_writer_write_str(&b.writer, "hello "), 6);
		assert_int_equal(plumb_writer_write(&b.writer, "world", 5), 5);
		assert_int_equal(plumb_buffer_len(&b), 11);
		assert_int_equal(plumb_reader_read(&b.reader, buf, 4), 4);
		assert_memory_equal(buf, "hell", 4);
		assert_buffer_is(&b, "o world");
		assert_int_equal(plumb_reader_read(&b.reader, buf, 8), 7);
		assert_memory_equal(buf, "o world", 7);
		assert_int_equal(plumb_reader_read(&b.reader, buf, 8), 0);
		/* everything was read: the memory is reused from its start */
		assert_int_equal(b.off, 0);
		assert_int_equal(b.len, 0);
	}
	plumb_buffer_release(&b);
}

static void test_buffer_grow(void **state)
{
	static const size_t sizes[] = {0, 1, 63, 64, 65, 1000, 1 << 16};
	char chunk[100];

	(void)state;
	memset(chunk, 'g', sizeof(chunk));
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		plumb_buffer b;
		unsigned char *data;

		plumb_buffer_init(&b);
		assert_int_equal(plumb_buffer_append(&b, chunk, 10), 0);
		assert_int_equal(plumb_buffer_grow(&b, sizes[s]), 0);
		assert_true(b.cap - b.len >= sizes[s]);
		data = b.data;
		/* what grow promised needs no more memory */
		for (size_t done = 0; done < sizes[s]; done += 100) {
			size_t n = sizes[s] - done < 100 ? sizes[s] - done : 100;

			assert_int_equal(plumb_buffer_append(&b, chunk, n), 0);
		}
		assert_ptr_equal(b.data, data);
		assert_int_equal(plumb_buffer_len(&b), 10 + sizes[s]);
		plumb_buffer_release(&b);
		assert_null(b.data);
	}
}

/* Growing slides unread bytes to the front rather than allocate, when that
 * leaves at least half the buffer free. */
static void test_buffer_slides(void **state)
{
	unsigned char *data = pattern(1000);
	unsigned char out[1000];
	plumb_buffer b;
	size_t cap;

	(void)state;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_buffer_append(&b, data, 1000), 0);
	cap = b.cap;
	assert_int_equal(plumb_reader_read(&b.reader, out, 900), 900);
	assert_int_equal(plumb_buffer_append(&b, data, cap - 1000 + 100), 0);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.off, 0);
	assert_memory_equal(plumb_buffer_bytes(&b), data + 900, 100);
	plumb_buffer_release(&b);
	free(data);
}

static void test_buffer_truncate_reset(void **state)
{
	plumb_buffer b;
	unsigned char *data;
	char c;

	(void)state;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_writer_write_str(&b.writer, "0123456789"), 10);
	assert_int_equal(plumb_reader_read(&b.reader, &c, 1), 1);
	assert_int_equal(plumb_buffer_truncate(&b, 4), 0);
	assert_buffer_is(&b, "1234");
	assert_int_equal(plumb_buffer_truncate(&b, 5), -EINVAL);
	assert_buffer_is(&b, "1234");
	assert_int_equal(plumb_buffer_truncate(&b, 4), 0);
	assert_buffer_is(&b, "1234");
	assert_int_equal(plumb_writer_write_str(&b.writer, "x"), 1);
	assert_buffer_is(&b, "1234x");
	assert_int_equal(plumb_buffer_truncate(&b, 0), 0);
	assert_int_equal(plumb_buffer_len(&b), 0);

	assert_int_equal(plumb_writer_write_str(&b.writer, "again"), 5);
	data = b.data;
	plumb_buffer_reset(&b);
	assert_int_equal(plumb_buffer_len(&b), 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(plumb_reader_read(&b.reader, &c, 1), 0);
	assert_int_equal(plumb_writer_write_str(&b.writer, "new"), 3);
	assert_ptr_equal(b.data, data);
	assert_buffer_is(&b, "new");
	plumb_buffer_release(&b);
}

static void test_buffer_append_self(void **state)
{
	plumb_buffer b;
	char c;

	(void)state;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_writer_write_str(&b.writer, "xabcdefgh"), 9);
	assert_int_equal(plumb_reader_read(&b.reader, &c, 1), 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		        plumb_buffer_append(&b, plumb_buffer_bytes(&b), plumb_buffer_len(&b)), 0);
	assert_int_equal(plumb_buffer_len(&b), 8 * 16);
	for (size_t i = 0; i < 8 * 16; i += 8)
		assert_memory_equal(plumb_buffer_bytes(&b) + i, "abcdefgh", 8);
	plumb_buffer_release(&b);
}

static void test_buffer_write_to(void **state)
{
	plumb_buffer b, dst;
	struct test_writer tw;

	(void)state;
	plumb_buffer_init(&b);
	plumb_buffer_init(&dst);
	assert_int_equal(b.reader.ops->write_to(&b.reader, &dst.writer), 0);
	assert_int_equal(plumb_writer_write_str(&b.writer, "--payload"), 9);
	assert_int_equal(plumb_reader_read(&b.reader, (char[2]){0}, 2), 2);

	test_writer_init(&tw, 3, -ENOSPC);
	assert_int_equal(b.reader.ops->write_to(&b.reader, &tw.writer), -ENOSPC);
	assert_buffer_is(&b, "payload");
	tw.short_count = true;
	assert_int_equal(b.reader.ops->write_to(&b.reader, &tw.writer), PLUMB_ESHORTWRITE);
	plumb_buffer_release(&tw.got);

	assert_int_equal(b.reader.ops->write_to(&b.reader, &dst.writer), 7);
	assert_int_equal(plumb_buffer_len(&b), 0);
	assert_buffer_is(&dst, "payload");
	assert_int_equal(plumb_copy(&dst.writer, &b.reader), 0);
	plumb_buffer_release(&b);
	plumb_buffer_release(&dst);
}

static void test_buffer_read_from(void **state)
{
	size_t len = 100000;
	unsigned char *data = pattern(len);
	struct test_reader tr = test_reader(data, len, 777);
	plumb_buffer b;

	(void)state;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_writer_write_str(&b.writer, "head"), 4);
	assert_int_equal(b.writer.ops->read_from(&b.writer, &tr.reader), (int64_t)len);
	assert_int_equal(plumb_buffer_len(&b), 4 + len);
	assert_memory_equal(plumb_buffer_bytes(&b), "head", 4);
	assert_memory_equal(plumb_buffer_bytes(&b) + 4, data, len);
	/* it reads straight into the spare room, at least 512 bytes of it */
	assert_true(tr.max_asked >= 512);

	/* an error stops it; what was read stays */
	plumb_buffer_reset(&b);
	tr = test_reader(data, len, 1000);
	tr.fail_at = 5000;
	tr.err = -EIO;
	assert_int_equal(b.writer.ops->read_from(&b.writer, &tr.reader), -EIO);
	assert_int_equal(plumb_buffer_len(&b), 5000);
	assert_memory_equal(plumb_buffer_bytes(&b), data, 5000);
	plumb_buffer_release(&b);
	free(data);
}

static void test_buffer_big(void **state)
{
	size_t len = 10 << 20, done = 0, step = 1;
	unsigned char *data = pattern(len);
	unsigned char *out = malloc(len);
	plumb_buffer b;

	(void)state;
	assert_non_null(out);
	plumb_buffer_init(&b);
	/* writes and reads interleaved, in odd sizes */
	while (done < len) {
		size_t n = step * 4099 % 70001 + 1;
		ssize_t got;

		if (n > len - done)
			n = len - done;
		assert_int_equal(plumb_writer_write(&b.writer, data + done, n), (ssize_t)n);
		done += n;
		got = plumb_reader_read(&b.reader, out + done - plumb_buffer_len(&b), n / 2 + 1);
		assert_true(got > 0);
		step++;
	}
	while (plumb_buffer_len(&b) > 0) {
		size_t at = len - plumb_buffer_len(&b);

		assert_true(plumb_reader_read(&b.reader, out + at, 65536) > 0);
	}
	assert_memory_equal(out, data, len);
	plumb_buffer_release(&b);

	/* and all at once through read_from */
	struct test_reader tr = test_reader(data, len, 1 << 20);

	assert_int_equal(b.writer.ops->read_from(&b.writer, &tr.reader), (int64_t)len);
	assert_memory_equal(plumb_buffer_bytes(&b), data, len);
	assert_true(b.cap < 3 * len);
	plumb_buffer_release(&b);
	free(data);
	free(out);
}

/* ---- Bytes and string readers, discard ---- */

static void test_bytes_read(void **state)
{
	plumb_reader *r = plumb_bytes_reader_new("0123456789", 10);
	char buf[8];

	(void)state;
	assert_int_equal(plumb_reader_read(r, buf, 4), 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(plumb_reader_read(r, buf, 8), 6);
	assert_memory_equal(buf, "456789", 6);
	assert_int_equal(plumb_reader_read(r, buf, 8), 0);
	assert_int_equal(plumb_reader_fd(r), -1);
	assert_int_equal(plumb_reader_close(r), 0);
	plumb_reader_free(r);
}

static void test_bytes_read_at(void **state)
{
	plumb_reader *r = plumb_bytes_reader_new("0123456789", 10);
	char buf[8];

	(void)state;
	assert_int_equal(plumb_reader_read_at(r, buf, 3, 2), 3);
	assert_memory_equal(buf, "234", 3);
	assert_int_equal(plumb_reader_read_at(r, buf, 8, 7), 3);
	assert_memory_equal(buf, "789", 3);
	assert_int_equal(plumb_reader_read_at(r, buf, 8, 10), 0);
	assert_int_equal(plumb_reader_read_at(r, buf, 8, 11), 0);
	assert_int_equal(plumb_reader_read_at(r, buf, 8, INT64_MAX), 0);
	assert_int_equal(plumb_reader_read_at(r, buf, 8, -1), -EINVAL);
	assert_int_equal(plumb_reader_read(r, buf, 1), 1);
	assert_int_equal(buf[0], '0');
	plumb_reader_free(r);
}

static void test_bytes_seek(void **state)
{
	plumb_reader *r = plumb_string_reader_new("0123456789");
	char c;

	(void)state;
	assert_int_equal(plumb_reader_seek(r, 3, SEEK_SET), 3);
	assert_int_equal(plumb_reader_read(r, &c, 1), 1);
	assert_int_equal(c, '3');
	assert_int_equal(plumb_reader_seek(r, 2, SEEK_CUR), 6);
	assert_int_equal(plumb_reader_seek(r, -2, SEEK_CUR), 4);
	assert_int_equal(plumb_reader_read(r, &c, 1), 1);
	assert_int_equal(c, '4');
	assert_int_equal(plumb_reader_seek(r, -1, SEEK_END), 9);
	assert_int_equal(plumb_reader_read(r, &c, 1), 1);
	assert_int_equal(c, '9');
	/* past the end is a place; reading there finds the end */
	assert_int_equal(plumb_reader_seek(r, 5, SEEK_END), 15);
	assert_int_equal(plumb_reader_read(r, &c, 1), 0);
	/* errors leave the position alone */
	assert_int_equal(plumb_reader_seek(r, -1, SEEK_SET), PLUMB_EBADSEEK);
	assert_int_equal(plumb_reader_seek(r, -16, SEEK_CUR), PLUMB_EBADSEEK);
	assert_int_equal(plumb_reader_seek(r, 0, 3), PLUMB_EBADSEEK);
	assert_int_equal(plumb_reader_seek(r, INT64_MAX, SEEK_CUR), PLUMB_EBADSEEK);
	assert_int_equal(plumb_reader_seek(r, 0, SEEK_CUR), 15);
	assert_int_equal(plumb_reader_seek(r, 0, SEEK_SET), 0);
	assert_int_equal(plumb_reader_read(r, &c, 1), 1);
	assert_int_equal(c, '0');
	plumb_reader_free(r);
}

static void test_bytes_write_to(void **state)
{
	plumb_reader *r = plumb_string_reader_new("0123456789");
	struct test_writer tw;
	plumb_buffer b;
	char buf[3];

	(void)state;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_reader_read(r, buf, 3), 3);
	test_writer_init(&tw, 2, -EDQUOT);
	assert_int_equal(r->ops->write_to(r, &tw.writer), -EDQUOT);
	tw.short_count = true;
	assert_int_equal(r->ops->write_to(r, &tw.writer), PLUMB_ESHORTWRITE);
	plumb_buffer_release(&tw.got);
	assert_int_equal(r->ops->write_to(r, &b.writer), 7);
	assert_buffer_is(&b, "3456789");
	assert_int_equal(r->ops->write_to(r, &b.writer), 0);
	assert_int_equal(plumb_reader_read(r, buf, 3), 0);
	plumb_reader_free(r);
	plumb_buffer_release(&b);
}

static void test_string_reader_empty(void **state)
{
	plumb_reader *r = plumb_string_reader_new("");
	plumb_reader *n = plumb_string_reader_new(NULL);
	char c;

	(void)state;
	assert_int_equal(plumb_reader_read(r, &c, 1), 0);
	assert_int_equal(plumb_reader_read(n, &c, 1), 0);
	assert_int_equal(plumb_reader_seek(n, 0, SEEK_END), 0);
	plumb_reader_free(r);
	plumb_reader_free(n);
}

static void test_discard(void **state)
{
	size_t len = 100000;
	unsigned char *data = pattern(len);
	struct test_reader tr = test_reader(data, len, 3000);
	plumb_writer *d = plumb_discard();

	(void)state;
	assert_ptr_equal(d, plumb_discard());
	assert_int_equal(plumb_writer_write(d, data, len), (ssize_t)len);
	assert_int_equal(plumb_writer_write_str(d, ""), 0);
	assert_int_equal(d->ops->read_from(d, &tr.reader), (int64_t)len);
	assert_int_equal(tr.pos, len);
	tr = test_reader(data, len, 3000);
	tr.fail_at = 9000;
	tr.err = -ECONNRESET;
	assert_int_equal(plumb_copy(d, &tr.reader), -ECONNRESET);
	assert_int_equal(plumb_writer_fd(d), -1);
	assert_int_equal(plumb_writer_close(d), 0);
	plumb_writer_free(d);
	assert_int_equal(plumb_writer_write(plumb_discard(), "still", 5), 5);
	free(data);
}

/* ---- stdio ---- */

static void test_file_reader(void **state)
{
	FILE *f = tmpfile();
	plumb_reader *r;
	char buf[64], *all;

	(void)state;
	assert_non_null(f);
	fputs("line one\nline two\n", f);
	rewind(f);
	r = plumb_file_reader_new(f, PLUMB_FD_OWN);
	assert_int_equal(plumb_reader_fd(r), -1);
	assert_int_equal(plumb_reader_read(r, buf, 5), 5);
	assert_memory_equal(buf, "line ", 5);
	assert_int_equal(plumb_read_all(r, &all), 13);
	assert_string_equal(all, "one\nline two\n");
	assert_int_equal(plumb_reader_read(r, buf, 5), 0);
	free(all);
	assert_int_equal(plumb_reader_close(r), 0);
	assert_int_equal(plumb_reader_read(r, buf, 5), -EBADF);
	plumb_reader_free(r);
}

/* A read returns what is there: it does not wait to fill the buffer. */
static void test_file_reader_returns_early(void **state)
{
	int p[2];
	FILE *f;
	plumb_reader *r;
	char buf[100];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f = fdopen(p[0], "r");
	r = plumb_file_reader_new(f, PLUMB_FD_OWN);
	assert_int_equal(write(p[1], "hello", 5), 5);
	alarm(20); /* a read that waits for 100 bytes would hang here */
	assert_int_equal(plumb_reader_read(r, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(write(p[1], "!", 1), 1);
	assert_int_equal(plumb_reader_read(r, buf, sizeof(buf)), 1);
	alarm(0);
	close(p[1]);
	assert_int_equal(plumb_reader_read(r, buf, sizeof(buf)), 0);
	plumb_reader_free(r);
}

static void test_file_reader_error(void **state)
{
	FILE *f = fopen(tmp_path("wronly"), "w");
	plumb_reader *r = plumb_file_reader_new(f, 0);
	char c;

	(void)state;
	assert_int_equal(plumb_reader_read(r, &c, 1), -EBADF);
	plumb_reader_free(r);
	fclose(f);
}

static void test_file_writer(void **state)
{
	FILE *f = fopen(tmp_path("fw"), "w+");
	plumb_writer *w = plumb_file_writer_new(f, 0);
	char buf[32] = {0};

	(void)state;
	assert_int_equal(plumb_writer_fd(w), -1);
	assert_int_equal(plumb_writer_write_str(w, "through stdio"), 13);
	assert_int_equal(plumb_writer_close(w), 0); /* flushes, keeps f */
	assert_int_equal(pread(fileno(f), buf, sizeof(buf), 0), 13);
	assert_string_equal(buf, "through stdio");
	assert_int_equal(plumb_writer_write_str(w, "!"), 1);
	plumb_writer_free(w);
	assert_int_equal(fclose(f), 0);

	f = fopen(tmp_path("fw"), "a");
	w = plumb_file_writer_new(f, PLUMB_FD_OWN);
	assert_int_equal(plumb_writer_write_str(w, "+own"), 4);
	plumb_writer_free(w); /* fcloses, which flushes */
	f = fopen(tmp_path("fw"), "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	assert_string_equal(buf, "through stdio!+own");
	fclose(f);
}

static void test_file_writer_error(void **state)
{
	FILE *f = fopen("/dev/full", "w");
	plumb_writer *w;
	char big[BUFSIZ * 2];

	(void)state;
	if (!f)
		skip();
	setvbuf(f, NULL, _IONBF, 0);
	w = plumb_file_writer_new(f, PLUMB_FD_OWN);
	memset(big, 'f', sizeof(big));
	assert_int_equal(plumb_writer_write(w, big, sizeof(big)), -ENOSPC);
	plumb_writer_free(w);
}

static void test_writer_fopen(void **state)
{
	plumb_buffer b;
	FILE *f;

	(void)state;
	plumb_buffer_init(&b);
	f = plumb_writer_fopen(&b.writer, 0);
	assert_non_null(f);
	assert_int_equal(fprintf(f, "%s=%d;", "answer", 42), 10);
	fputs("more", f);
	assert_int_equal(fclose(f), 0);
	assert_buffer_is(&b, "answer=42;more");
	plumb_buffer_release(&b);
}

static void test_writer_fopen_own(void **state)
{
	int fd = tmp_file("fopen_own", "", 0);
	plumb_writer *w = plumb_fd_writer_new(fd, PLUMB_FD_OWN);
	FILE *f = plumb_writer_fopen(w, 1);
	char buf[16] = {0};
	int check = open(tmp_path("fopen_own"), O_RDONLY | O_CLOEXEC);

	(void)state;
	fprintf(f, "%05d", 7);
	assert_int_equal(fclose(f), 0);
	assert_false(fd_is_open(fd));
	assert_int_equal(read(check, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "00007");
	close(check);
	plumb_writer_free(w); /* fclose did not free it */
}

static void test_writer_fopen_error(void **state)
{
	struct test_writer tw;
	FILE *f;

	(void)state;
	test_writer_init(&tw, 4, -ENOSPC);
	f = plumb_writer_fopen(&tw.writer, 0);
	fputs("too long for it", f);
	errno = 0;
	assert_int_equal(fflush(f), EOF);
	assert_int_equal(errno, ENOSPC);
	assert_true(ferror(f));
	fclose(f);
	plumb_buffer_release(&tw.got);

	/* PLUMB_E* codes have no errno: they become EIO */
	test_writer_init(&tw, 0, PLUMB_ECLOSED);
	f = plumb_writer_fopen(&tw.writer, 0);
	fputs("x", f);
	errno = 0;
	assert_int_equal(fflush(f), EOF);
	assert_int_equal(errno, EIO);
	fclose(f);
	plumb_buffer_release(&tw.got);
}

static void test_reader_fopen(void **state)
{
	plumb_reader *r = plumb_string_reader_new("first\nsecond\nthird\n");
	FILE *f = plumb_reader_fopen(r, 0);
	char line[32];

	(void)state;
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "first\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "second\n");
	/* the reader seeks, so the FILE does */
	assert_int_equal(fseek(f, 1, SEEK_SET), 0);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "irst\n");
	assert_int_equal(fseek(f, -6, SEEK_END), 0);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "third\n");
	assert_null(fgets(line, sizeof(line), f));
	assert_true(feof(f));
	assert_int_equal(fclose(f), 0);
	/* not owned: the reader lives on */
	assert_int_equal(plumb_reader_seek(r, 0, SEEK_SET), 0);
	assert_int_equal(plumb_reader_read(r, line, 5), 5);
	plumb_reader_free(r);
}

static void test_reader_fopen_error(void **state)
{
	struct test_reader tr = test_reader("abcdef", 6, 2);
	FILE *f;
	char buf[16];

	(void)state;
	tr.fail_at = 4;
	tr.err = -ECONNRESET;
	f = plumb_reader_fopen(&tr.reader, 0);
	assert_int_equal(fread(buf, 1, sizeof(buf), f), 4);
	assert_true(ferror(f));
	assert_int_equal(errno, ECONNRESET);
	/* no seek below, so none above */
	assert_int_equal(fseek(f, 0, SEEK_SET), -1);
	fclose(f);
}

static void test_reader_fopen_own(void **state)
{
	int fd = tmp_file("ropen_own", "data", 4);
	plumb_reader *r = plumb_fd_reader_new(fd, PLUMB_FD_OWN);
	FILE *f = plumb_reader_fopen(r, 1);
	char buf[8] = {0};

	(void)state;
	assert_int_equal(fread(buf, 1, sizeof(buf), f), 4);
	assert_string_equal(buf, "data");
	assert_int_equal(fclose(f), 0);
	assert_false(fd_is_open(fd));
	plumb_reader_free(r);
}

/* ---- Tee ---- */

static void test_tee_demo(void **state)
{
	static const char *chunks[] = {"Hello fr", "om this ", "demo str", "ing."};
	plumb_reader *src = plumb_string_reader_new("Hello from this demo string.");
	plumb_buffer seen;
	plumb_reader *tee;
	char buf[8];
	size_t total = 0;
	ssize_t n;
	int i = 0;

	(void)state;
	plumb_buffer_init(&seen);
	tee = plumb_tee_reader_new(src, &seen.writer);
	while ((n = plumb_reader_read(tee, buf, sizeof(buf))) > 0) {
		assert_int_equal(n, strlen(chunks[i]));
		assert_memory_equal(buf, chunks[i], (size_t)n);
		total += (size_t)n;
		/* the writer has the bytes by the time read returns */
		assert_int_equal(plumb_buffer_len(&seen), total);
		assert_memory_equal(plumb_buffer_bytes(&seen) + total - (size_t)n, buf, (size_t)n);
		i++;
	}
	assert_int_equal(n, 0);
	assert_int_equal(i, 4);
	assert_int_equal(total, 28);
	assert_buffer_is(&seen, "Hello from this demo string.");
	plumb_reader_free(tee);
	plumb_reader_free(src);
	plumb_buffer_release(&seen);
}

static void test_tee_errors(void **state)
{
	plumb_reader *src = plumb_string_reader_new("0123456789");
	struct test_reader bad = test_reader("abc", 3, 3);
	struct test_writer tw;
	plumb_reader *tee;
	char buf[4];

	(void)state;
	test_writer_init(&tw, 6, -EPIPE);
	tee = plumb_tee_reader_new(src, &tw.writer);
	assert_int_equal(plumb_reader_read(tee, buf, 4), 4);
	assert_int_equal(plumb_reader_read(tee, buf, 4), -EPIPE);
	/* 2 bytes are left for 1 byte of room */
	tw.fail_at = 5;
	tw.short_count = true;
	assert_int_equal(plumb_reader_read(tee, buf, 4), PLUMB_ESHORTWRITE);
	plumb_reader_free(tee);
	plumb_buffer_release(&tw.got);

	/* a read error passes through, and nothing is written */
	test_writer_init(&tw, SIZE_MAX, 0);
	bad.fail_at = 0;
	bad.err = -EIO;
	tee = plumb_tee_reader_new(&bad.reader, &tw.writer);
	assert_int_equal(plumb_reader_read(tee, buf, 4), -EIO);
	assert_int_equal(tw.writes, 0);
	plumb_reader_free(tee);
	plumb_reader_free(src);
	plumb_buffer_release(&tw.got);
}

/* ---- Multi writer ---- */

static void test_multi_writer(void **state)
{
	plumb_buffer a, b, c;
	plumb_writer *ws[3] = {&a.writer, &b.writer, &c.writer};
	plumb_writer *mw;

	(void)state;
	plumb_buffer_init(&a);
	plumb_buffer_init(&b);
	plumb_buffer_init(&c);
	mw = plumb_multi_writer_new(ws, 3);
	ws[0] = NULL; /* the array was copied */
	assert_int_equal(plumb_writer_write_str(mw, "to all "), 7);
	assert_int_equal(plumb_writer_write_str(mw, "of you"), 6);
	assert_int_equal(plumb_writer_fd(mw), -1);
	assert_buffer_is(&a, "to all of you");
	assert_buffer_is(&b, "to all of you");
	assert_buffer_is(&c, "to all of you");
	plumb_writer_free(mw);
	mw = plumb_multi_writer_new(NULL, 0);
	assert_int_equal(plumb_writer_write_str(mw, "nobody"), 6);
	plumb_writer_free(mw);
	plumb_buffer_release(&a);
	plumb_buffer_release(&b);
	plumb_buffer_release(&c);
}

static void test_multi_writer_errors(void **state)
{
	plumb_buffer a, c;
	struct test_writer bad;
	plumb_writer *ws[3] = {&a.writer, &bad.writer, &c.writer};
	plumb_writer *mw;

	(void)state;
	plumb_buffer_init(&a);
	plumb_buffer_init(&c);
	test_writer_init(&bad, 5, -ENOSPC);
	mw = plumb_multi_writer_new(ws, 3);
	assert_int_equal(plumb_writer_write_str(mw, "abc"), 3);
	assert_int_equal(plumb_writer_write_str(mw, "def"), -ENOSPC);
	/* the first got it, the one after the failure did not */
	assert_buffer_is(&a, "abcdef");
	assert_buffer_is(&c, "abc");
	bad.short_count = true;
	assert_int_equal(plumb_writer_write_str(mw, "ghi"), PLUMB_ESHORTWRITE);
	assert_buffer_is(&c, "abc");
	plumb_writer_free(mw);
	plumb_buffer_release(&a);
	plumb_buffer_release(&c);
	plumb_buffer_release(&bad.got);
}

static void test_multi_writer_nested(void **state)
{
	plumb_buffer a, b, c;
	plumb_writer *inner_ws[2] = {&a.writer, &b.writer};
	plumb_writer *inner, *outer;

	(void)state;
	plumb_buffer_init(&a);
	plumb_buffer_init(&b);
	plumb_buffer_init(&c);
	inner = plumb_multi_writer_new(inner_ws, 2);
	outer = plumb_multi_writer_new((plumb_writer *[]){inner, &c.writer}, 2);
	plumb_writer_free(inner); /* flattened: the outer one holds the members */
	assert_int_equal(plumb_writer_write_str(outer, "x"), 1);
	assert_buffer_is(&a, "x");
	assert_buffer_is(&b, "x");
	assert_buffer_is(&c, "x");
	plumb_writer_free(outer);
	plumb_buffer_release(&a);
	plumb_buffer_release(&b);
	plumb_buffer_release(&c);
}

/* ---- Multi reader ---- */

static void test_multi_reader(void **state)
{
	plumb_reader *parts[] = {
	        plumb_string_reader_new("foo "),
	        plumb_string_reader_new(""),
	        plumb_string_reader_new("bar baz"),
	        plumb_string_reader_new(""),
	};
	plumb_reader *mr = plumb_multi_reader_new(parts, 4);
	char buf[5];

	(void)state;
	/* one member at a time: a read never spans two */
	assert_int_equal(plumb_reader_read(mr, buf, 5), 4);
	assert_memory_equal(buf, "foo ", 4);
	assert_int_equal(plumb_reader_read(mr, buf, 5), 5);
	assert_memory_equal(buf, "bar b", 5);
	assert_int_equal(plumb_reader_read(mr, buf, 5), 2);
	assert_memory_equal(buf, "az", 2);
	assert_int_equal(plumb_reader_read(mr, buf, 5), 0);
	assert_int_equal(plumb_reader_read(mr, buf, 5), 0);
	assert_int_equal(plumb_reader_read(mr, buf, 0), 0);
	plumb_reader_free(mr);
	for (int i = 0; i < 4; i++)
		plumb_reader_free(parts[i]);

	mr = plumb_multi_reader_new(NULL, 0);
	assert_int_equal(plumb_reader_read(mr, buf, 5), 0);
	plumb_reader_free(mr);
}

static void test_multi_reader_error_and_write_to(void **state)
{
	struct test_reader bad = test_reader("xyz", 3, 3);
	plumb_reader *a = plumb_string_reader_new("ab");
	plumb_reader *c = plumb_string_reader_new("cd");
	plumb_reader *mr = plumb_multi_reader_new((plumb_reader *[]){a, &bad.reader, c}, 3);
	plumb_buffer b;
	char *all;

	(void)state;
	plumb_buffer_init(&b);
	bad.fail_at = 1;
	bad.err = -EIO;
	assert_int_equal(plumb_copy(&b.writer, mr), -EIO);
	assert_buffer_is(&b, "abx");
	/* the failed member is still current: heal it and carry on */
	bad.fail_at = SIZE_MAX;
	assert_int_equal(plumb_copy(&b.writer, mr), 4);
	assert_buffer_is(&b, "abxyzcd");
	plumb_reader_free(mr);

	plumb_reader_seek(a, 0, SEEK_SET);
	plumb_reader_seek(c, 0, SEEK_SET);
	mr = plumb_multi_reader_new((plumb_reader *[]){a, c}, 2);
	assert_int_equal(plumb_read_all(mr, &all), 4);
	assert_string_equal(all, "abcd");
	free(all);
	plumb_reader_free(mr);
	plumb_reader_free(a);
	plumb_reader_free(c);
	plumb_buffer_release(&b);
}

static void test_multi_reader_nested(void **state)
{
	plumb_reader *a = plumb_string_reader_new("a");
	plumb_reader *b = plumb_string_reader_new("b");
	plumb_reader *c = plumb_string_reader_new("c");
	plumb_reader *inner = plumb_multi_reader_new((plumb_reader *[]){a, b}, 2);
	plumb_reader *mid = plumb_multi_reader_new(&inner, 1);
	plumb_reader *outer = plumb_multi_reader_new((plumb_reader *[]){mid, c}, 2);
	char *all;

	(void)state;
	plumb_reader_free(inner);
	plumb_reader_free(mid);
	assert_int_equal(plumb_read_all(outer, &all), 3);
	assert_string_equal(all, "abc");
	free(all);
	plumb_reader_free(outer);
	plumb_reader_free(a);
	plumb_reader_free(b);
	plumb_reader_free(c);
}

/* ---- Limit and section readers ---- */

static void test_limit_reader(void **state)
{
	plumb_reader *src = plumb_string_reader_new("0123456789");
	plumb_reader *lr = plumb_limit_reader_new(src, 6);
	char buf[16];

	(void)state;
	assert_int_equal(plumb_limit_reader_left(lr), 6);
	assert_int_equal(plumb_reader_read(lr, buf, 4), 4);
	assert_int_equal(plumb_limit_reader_left(lr), 2);
	assert_int_equal(plumb_reader_read(lr, buf, 16), 2);
	assert_memory_equal(buf, "45", 2);
	assert_int_equal(plumb_limit_reader_left(lr), 0);
	assert_int_equal(plumb_reader_read(lr, buf, 16), 0);
	/* the cut is exact: the rest is still in the source */
	assert_int_equal(plumb_reader_read(src, buf, 16), 4);
	assert_memory_equal(buf, "6789", 4);
	plumb_reader_free(lr);

	/* a limit past the end: the source's end comes first */
	plumb_reader_seek(src, 7, SEEK_SET);
	lr = plumb_limit_reader_new(src, 100);
	assert_int_equal(plumb_reader_read(lr, buf, 16), 3);
	assert_int_equal(plumb_reader_read(lr, buf, 16), 0);
	assert_int_equal(plumb_limit_reader_left(lr), 97);
	plumb_reader_free(lr);

	plumb_reader_seek(src, 0, SEEK_SET);
	lr = plumb_limit_reader_new(src, -5);
	assert_int_equal(plumb_reader_read(lr, buf, 16), 0);
	assert_int_equal(plumb_limit_reader_left(lr), 0);
	plumb_reader_free(lr);
	assert_int_equal(plumb_limit_reader_left(src), -EINVAL);
	plumb_reader_free(src);
}

static void test_limit_reader_copy(void **state)
{
	plumb_reader *src = plumb_string_reader_new("0123456789");
	plumb_reader *lr = plumb_limit_reader_new(src, 7);
	plumb_buffer b;

	(void)state;
	plumb_buffer_init(&b);
	assert_int_equal(plumb_copy(&b.writer, lr), 7);
	assert_buffer_is(&b, "0123456");
	assert_int_equal(plumb_limit_reader_left(lr), 0);
	plumb_reader_free(lr);
	plumb_reader_free(src);
	plumb_buffer_release(&b);
}

static void test_section_reader(void **state)
{
	plumb_reader *src = plumb_string_reader_new("0123456789");
	plumb_reader *s = plumb_section_reader_new(src, 2, 5);
	char buf[16];

	(void)state;
	assert_non_null(s);
	assert_int_equal(plumb_section_reader_size(s), 5);
	assert_int_equal(plumb_reader_read(s, buf, 3), 3);
	assert_memory_equal(buf, "234", 3);
	assert_int_equal(plumb_reader_read(s, buf, 16), 2);
	assert_memory_equal(buf, "56", 2);
	assert_int_equal(plumb_reader_read(s, buf, 16), 0);

	/* read_at: relative to the section, cut at its end */
	assert_int_equal(plumb_reader_read_at(s, buf, 2, 1), 2);
	assert_memory_equal(buf, "34", 2);
	assert_int_equal(plumb_reader_read_at(s, buf, 16, 3), 2);
	assert_memory_equal(buf, "56", 2);
	assert_int_equal(plumb_reader_read_at(s, buf, 16, 5), 0);
	assert_int_equal(plumb_reader_read_at(s, buf, 16, 50), 0);
	assert_int_equal(plumb_reader_read_at(s, buf, 16, -1), -EINVAL);

	/* seek */
	assert_int_equal(plumb_reader_seek(s, 1, SEEK_SET), 1);
	assert_int_equal(plumb_reader_read(s, buf, 1), 1);
	assert_int_equal(buf[0], '3');
	assert_int_equal(plumb_reader_seek(s, 1, SEEK_CUR), 3);
	assert_int_equal(plumb_reader_read(s, buf, 1), 1);
	assert_int_equal(buf[0], '5');
	assert_int_equal(plumb_reader_seek(s, -1, SEEK_END), 4);
	assert_int_equal(plumb_reader_read(s, buf, 16), 1);
	assert_int_equal(buf[0], '6');
	assert_int_equal(plumb_reader_seek(s, 10, SEEK_SET), 10);
	assert_int_equal(plumb_reader_read(s, buf, 16), 0);
	assert_int_equal(plumb_reader_seek(s, -1, SEEK_SET), PLUMB_EBADSEEK);
	assert_int_equal(plumb_reader_seek(s, -6, SEEK_END), PLUMB_EBADSEEK);
	assert_int_equal(plumb_reader_seek(s, 0, 7), PLUMB_EBADSEEK);
	assert_int_equal(plumb_reader_seek(s, INT64_MAX, SEEK_SET), PLUMB_EBADSEEK);
	assert_int_equal(plumb_reader_seek(s, 0, SEEK_CUR), 10);
	/* the source's own position never moved */
	assert_int_equal(plumb_reader_read(src, buf, 1), 1);
	assert_int_equal(buf[0], '0');
	plumb_reader_free(s);

	/* a section running past the data ends with the data */
	s = plumb_section_reader_new(src, 8, 100);
	assert_int_equal(plumb_section_reader_size(s), 100);
	assert_int_equal(plumb_reader_read(s, buf, 16), 2);
	assert_memory_equal(buf, "89", 2);
	assert_int_equal(plumb_reader_read(s, buf, 16), 0);
	plumb_reader_free(s);

	/* a huge n is clamped, as Go does */
	s = plumb_section_reader_new(src, 3, INT64_MAX);
	assert_int_equal(plumb_section_reader_size(s), INT64_MAX - 3);
	assert_int_equal(plumb_reader_read(s, buf, 16), 7);
	plumb_reader_free(s);
	assert_int_equal(plumb_section_reader_size(src), -EINVAL);
	plumb_reader_free(src);
}

static void test_section_reader_needs_read_at(void **state)
{
	struct test_reader tr = test_reader("abc", 3, 3);
	plumb_reader *src = plumb_string_reader_new("abc");

	(void)state;
	errno = 0;
	assert_null(plumb_section_reader_new(&tr.reader, 0, 3));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(plumb_section_reader_new(src, -1, 3));
	assert_int_equal(errno, EINVAL);
	assert_null(plumb_section_reader_new(src, 0, -3));
	plumb_reader_free(src);
}

static void test_section_reader_over_fd(void **state)
{
	unsigned char *data = pattern(100000);
	int fd = tmp_file("section", data, 100000);
	plumb_reader *r = plumb_fd_reader_new(fd, PLUMB_FD_OWN);
	plumb_reader *s = plumb_section_reader_new(r, 40000, 30000);
	char *all;

	(void)state;
	assert_int_equal(plumb_read_all(s, &all), 30000);
	assert_memory_equal(all, data + 40000, 30000);
	free(all);
	plumb_reader_free(s);
	plumb_reader_free(r);
	free(data);
}

/* ---- read_full, read_at_least, read_all ---- */

static void test_read_full(void **state)
{
	struct test_reader tr = test_reader("0123456789", 10, 3);
	char buf[16];

	(void)state;
	/* many short reads make one full one */
	assert_int_equal(plumb_read_full(&tr.reader, buf, 7), 7);
	assert_memory_equal(buf, "0123456", 7);
	/* the end in the middle: the short count (Go's ErrUnexpectedEOF) */
	assert_int_equal(plumb_read_full(&tr.reader, buf, 7), 3);
	assert_memory_equal(buf, "789", 3);
	/* the end before anything: 0 (Go's EOF) */
	assert_int_equal(plumb_read_full(&tr.reader, buf, 7), 0);
	assert_int_equal(plumb_read_full(&tr.reader, buf, 0), 0);

	tr = test_reader("0123456789", 10, 3);
	tr.fail_at = 5;
	tr.err = -ETIMEDOUT;
	assert_int_equal(plumb_read_full(&tr.reader, buf, 7), -ETIMEDOUT);
}

static void test_read_at_least(void **state)
{
	struct test_reader tr = test_reader("0123456789", 10, 3);
	char buf[16];

	(void)state;
	assert_int_equal(plumb_read_at_least(&tr.reader, buf, 8, 4), 6);
	assert_memory_equal(buf, "012345", 6);
	assert_int_equal(plumb_read_at_least(&tr.reader, buf, 8, 1), 3);
	assert_int_equal(plumb_read_at_least(&tr.reader, buf, 8, 0), 0);
	assert_int_equal(plumb_read_at_least(&tr.reader, buf, 8, 2), 1);
	assert_memory_equal(buf, "9", 1);
	assert_int_equal(plumb_read_at_least(&tr.reader, buf, 8, 2), 0);
	assert_int_equal(plumb_read_at_least(&tr.reader, buf, 3, 4), PLUMB_ESHORTBUFFER);
}

static void test_read_all(void **state)
{
	size_t big = 5 << 20;
	unsigned char *data = pattern(big);
	struct test_reader tr = test_reader("small", 5, 2);
	char *out = (char *)1;

	(void)state;
	assert_int_equal(plumb_read_all(&tr.reader, &out), 5);
	assert_string_equal(out, "small");
	free(out);

	tr = test_reader("", 0, 1);
	assert_int_equal(plumb_read_all(&tr.reader, &out), 0);
	assert_non_null(out);
	assert_string_equal(out, "");
	free(out);

	tr = test_reader(data, big, 100003);
	assert_int_equal(plumb_read_all(&tr.reader, &out), (ssize_t)big);
	assert_memory_equal(out, data, big);
	assert_int_equal(out[big], '\0');
	free(out);

	/* an error after megabytes: nothing comes back, nothing leaks */
	tr = test_reader(data, big, 100003);
	tr.fail_at = 3 << 20;
	tr.err = -EIO;
	out = (char *)1;
	assert_int_equal(plumb_read_all(&tr.reader, &out), -EIO);
	assert_null(out);
	free(data);
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
	        cmocka_unit_test(test_optional_ops_absent),
	        cmocka_unit_test(test_fd_read),
	        cmocka_unit_test(test_fd_read_at),
	        cmocka_unit_test(test_fd_seek),
	        cmocka_unit_test(test_fd_own_closes_once),
	        cmocka_unit_test(test_fd_own_free_closes),
	        cmocka_unit_test(test_fd_not_owned),
	        cmocka_unit_test(test_fd_write),
	        cmocka_unit_test(test_fd_write_closed),
	        cmocka_unit_test(test_fd_write_eagain),
	        cmocka_unit_test(test_fd_write_epipe),
	        cmocka_unit_test(test_fd_eintr_restarts),
	        cmocka_unit_test(test_buffer_empty),
	        cmocka_unit_test(test_buffer_write_read),
	        cmocka_unit_test(test_buffer_grow),
	        cmocka_unit_test(test_buffer_slides),
	        cmocka_unit_test(test_buffer_truncate_reset),
	        cmocka_unit_test(test_buffer_append_self),
	        cmocka_unit_test(test_buffer_write_to),
	        cmocka_unit_test(test_buffer_read_from),
	        cmocka_unit_test(test_buffer_big),
	        cmocka_unit_test(test_bytes_read),
	        cmocka_unit_test(test_bytes_read_at),
	        cmocka_unit_test(test_bytes_seek),
	        cmocka_unit_test(test_bytes_write_to),
	        cmocka_unit_test(test_string_reader_empty),
	        cmocka_unit_test(test_discard),
	        cmocka_unit_test(test_file_reader),
	        cmocka_unit_test(test_file_reader_returns_early),
	        cmocka_unit_test(test_file_reader_error),
	        cmocka_unit_test(test_file_writer),
	        cmocka_unit_test(test_file_writer_error),
	        cmocka_unit_test(test_writer_fopen),
	        cmocka_unit_test(test_writer_fopen_own),
	        cmocka_unit_test(test_writer_fopen_error),
	        cmocka_unit_test(test_reader_fopen),
	        cmocka_unit_test(test_reader_fopen_error),
	        cmocka_unit_test(test_reader_fopen_own),
	        cmocka_unit_test(test_tee_demo),
	        cmocka_unit_test(test_tee_errors),
	        cmocka_unit_test(test_multi_writer),
	        cmocka_unit_test(test_multi_writer_errors),
	        cmocka_unit_test(test_multi_writer_nested),
	        cmocka_unit_test(test_multi_reader),
	        cmocka_unit_test(test_multi_reader_error_and_write_to),
	        cmocka_unit_test(test_multi_reader_nested),
	        cmocka_unit_test(test_limit_reader),
	        cmocka_unit_test(test_limit_reader_copy),
	        cmocka_unit_test(test_section_reader),
	        cmocka_unit_test(test_section_reader_needs_read_at),
	        cmocka_unit_test(test_section_reader_over_fd),
	        cmocka_unit_test(test_read_full),
	        cmocka_unit_test(test_read_at_least),
	        cmocka_unit_test(test_read_all),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
