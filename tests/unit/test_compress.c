/*
 * test_compress.c - gzip and zstd writers and readers, checked against the
 * real gzip and zstd tools in both directions, and on bad input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <plumb/compress.h>

static const char *algos[] = {"gzip", "zstd"};

/* Text-like data that compresses, with a random tail that does not. */
static unsigned char *make_data(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = i < n / 2 ? (unsigned char)("plumb streams bytes "[i % 20])
		                 : (unsigned char)(seed >> 16);
	}
	return p;
}

static void compress_into(plumb_buffer *out, const char *algo, const void *data, size_t n,
                          size_t piece)
{
	plumb_writer *w;
	assert_int_equal(plumb_compress_writer_new(&w, algo, 0, &out->writer), 0);
	for (size_t off = 0; off < n; off += piece) {
		size_t len = n - off < piece ? n - off : piece;
		assert_int_equal(plumb_writer_write(w, (const char *)data + off, len),
		                 (ssize_t)len);
	}
	assert_int_equal(plumb_writer_close(w), 0);
	plumb_writer_free(w);
}

/* Reads everything through a decompress reader; returns the length or < 0. */
static ssize_t decompress_all(const char *algo, const void *data, size_t n, char **out)
{
	plumb_reader *src = plumb_bytes_reader_new(data, n), *r;
	assert_non_null(src);
	assert_int_equal(plumb_decompress_reader_new(&r, algo, src), 0);
	ssize_t got = plumb_read_all(r, out);
	plumb_reader_free(r);
	plumb_reader_free(src);
	return got;
}

static void round_trip(void **state)
{
	(void)state;
	static const size_t sizes[] = {0, 1, 4095, 131072, 131073, 10 << 20};
	for (size_t a = 0; a < 2; a++) {
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			unsigned char *data = make_data(sizes[s], (unsigned)s);
			plumb_buffer b;
			plumb_buffer_init(&b);
			compress_into(&b, algos[a], data, sizes[s], 7777);
			char *back;
			ssize_t n = decompress_all(algos[a], plumb_buffer_bytes(&b),
			                           plumb_buffer_len(&b), &back);
			assert_int_equal(n, (ssize_t)sizes[s]);
			if (sizes[s])
				assert_memory_equal(back, data, sizes[s]);
			free(back);
			plumb_buffer_release(&b);
			free(data);
		}
	}
}

/* Runs "TOOL -dc" (or "-c") over in, collecting its stdout. */
static void run_tool(const char *cmd, const void *in, size_t n, plumb_buffer *out)
{
	char path[] = "/tmp/plumb-compress-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, in, n), (ssize_t)n);
	close(fd);
	char line[256];
	snprintf(line, sizeof line, "%s < %s", cmd, path);
	FILE *p = popen(line, "r");
	assert_non_null(p);
	char buf[65536];
	size_t got;
	while ((got = fread(buf, 1, sizeof buf, p)) > 0)
		assert_int_equal(plumb_buffer_append(out, buf, got), 0);
	assert_int_equal(pclose(p), 0);
	unlink(path);
}

static void the_tools_read_ours(void **state)
{
	(void)state;
	const char *tools[] = {"gzip -dc", "zstd -dc"};
	size_t n = 3 << 20;
	unsigned char *data = make_data(n, 42);
	for (size_t a = 0; a < 2; a++) {
		plumb_buffer z, back;
		plumb_buffer_init(&z);
		plumb_buffer_init(&back);
		compress_into(&z, algos[a], data, n, 65536);
		assert_true(plumb_buffer_len(&z) < n);
		run_tool(tools[a], plumb_buffer_bytes(&z), plumb_buffer_len(&z), &back);
		assert_int_equal(plumb_buffer_len(&back), n);
		assert_memory_equal(plumb_buffer_bytes(&back), data, n);
		plumb_buffer_release(&z);
		plumb_buffer_release(&back);
	}
	free(data);
}

static void we_read_the_tools_and_concatenations(void **state)
{
	(void)state;
	const char *tools[] = {"gzip -c", "zstd -q -c"};
	size_t n = 1 << 20;
	unsigned char *data = make_data(n, 7);
	for (size_t a = 0; a < 2; a++) {
		plumb_buffer z;
		plumb_buffer_init(&z);
		run_tool(tools[a], data, n, &z);
		/* twice in a row: two members/frames read as one stream */
		size_t one = plumb_buffer_len(&z);
		unsigned char *copy = malloc(one);
		memcpy(copy, plumb_buffer_bytes(&z), one);
		assert_int_equal(plumb_buffer_append(&z, copy, one), 0);
		free(copy);
		char *back;
		ssize_t got = decompress_all(algos[a], plumb_buffer_bytes(&z), plumb_buffer_len(&z),
		                             &back);
		assert_int_equal(got, (ssize_t)(2 * n));
		assert_memory_equal(back, data, n);
		assert_memory_equal(back + n, data, n);
		free(back);
		plumb_buffer_release(&z);
	}
	free(data);
}

static void truncated_and_corrupt_input_is_an_error(void **state)
{
	(void)state;
	size_t n = 200000;
	unsigned char *data = make_data(n, 3);
	for (size_t a = 0; a < 2; a++) {
		plumb_buffer z;
		plumb_buffer_init(&z);
		compress_into(&z, algos[a], data, n, n);
		char *back;
		/* cut short: every prefix that ends inside the stream fails */
		size_t len = plumb_buffer_len(&z);
		size_t cuts[] = {1, len / 2, len - 1};
		for (size_t c = 0; c < 3; c++) {
			assert_int_equal(
			        decompress_all(algos[a], plumb_buffer_bytes(&z), cuts[c], &back),
			        PLUMB_EFORMAT);
			assert_null(back);
		}
		/* a flipped byte in the middle */
		z.data[z.off + len / 2] ^= 0x55;
		assert_int_equal(decompress_all(algos[a], plumb_buffer_bytes(&z), len, &back),
		                 PLUMB_EFORMAT);
		/* plain garbage */
		assert_int_equal(decompress_all(algos[a], "not compressed at all", 21, &back),
		                 PLUMB_EFORMAT);
		plumb_buffer_release(&z);
	}
	free(data);
}

struct failing_writer {
	plumb_writer writer;
	size_t left;
};

static ssize_t fail_write(plumb_writer *w, const void *buf, size_t len)
{
	(void)buf;
	struct failing_writer *f = PLUMB_CONTAINER_OF(w, struct failing_writer, writer);
	if (len > f->left)
		return -ENOSPC;
	f->left -= len;
	return (ssize_t)len;
}

static const plumb_writer_ops failing_ops = {.write = fail_write};

static void a_failing_destination_stops_the_writer(void **state)
{
	(void)state;
	size_t n = 4 << 20;
	unsigned char *data = make_data(n, 9);
	for (size_t a = 0; a < 2; a++) {
		struct failing_writer f = {{&failing_ops}, 100000};
		plumb_writer *w;
		assert_int_equal(plumb_compress_writer_new(&w, algos[a], 0, &f.writer), 0);
		ssize_t rc = 0;
		for (size_t off = 0; off < n && rc >= 0; off += 65536)
			rc = plumb_writer_write(w, data + off, 65536);
		if (rc >= 0)
			rc = plumb_writer_close(w);
		assert_int_equal(rc, -ENOSPC);
		plumb_writer_free(w);
	}
	free(data);
}

static void names_and_levels(void **state)
{
	(void)state;
	plumb_writer *w;
	plumb_reader *r;
	assert_int_equal(plumb_compress_writer_new(&w, "lz4", 0, plumb_discard()), PLUMB_EALGO);
	assert_null(w);
	assert_int_equal(plumb_decompress_reader_new(&r, "bzip2", NULL), PLUMB_EALGO);
	assert_int_equal(plumb_compress_writer_new(&w, "gzip", 10, plumb_discard()), -EINVAL);
	assert_int_equal(plumb_compress_writer_new(&w, "zstd", 20, plumb_discard()), -EINVAL);
	assert_int_equal(plumb_compress_writer_new(&w, "ZSTD", 19, plumb_discard()), 0);
	plumb_writer_free(w);
	assert_string_equal(plumb_compress_suffix("gzip"), ".gz");
	assert_string_equal(plumb_compress_suffix("zstd"), ".zst");
	assert_null(plumb_compress_suffix("xz"));
}

static void write_after_close_fails(void **state)
{
	(void)state;
	for (size_t a = 0; a < 2; a++) {
		plumb_writer *w;
		assert_int_equal(plumb_compress_writer_new(&w, algos[a], 0, plumb_discard()), 0);
		assert_int_equal(plumb_writer_write(w, "x", 1), 1);
		assert_int_equal(plumb_writer_close(w), 0);
		assert_int_equal(plumb_writer_close(w), 0);
		assert_int_equal(plumb_writer_write(w, "x", 1), PLUMB_ECLOSED);
		plumb_writer_free(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(round_trip),
	        cmocka_unit_test(the_tools_read_ours),
	        cmocka_unit_test(we_read_the_tools_and_concatenations),
	        cmocka_unit_test(truncated_and_corrupt_input_is_an_error),
	        cmocka_unit_test(a_failing_destination_stops_the_writer),
	        cmocka_unit_test(names_and_levels),
	        cmocka_unit_test(write_after_close_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
