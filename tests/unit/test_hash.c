/*
 * test_hash.c - unit tests of the hash module (plumb/hash.h).
 *
 * Known-answer vectors for every algorithm (the empty string, "abc" and a
 * million 'a's, the last fed in uneven pieces so the streaming path is what
 * is checked), then the behaviour the header promises: sum in the middle of
 * a stream, reset, the byte count, the hex form and its buffer rules, names
 * and aliases, the writer interface, and a hash behind a tee reader and in a
 * multi writer, which is what the module is for.  The vectors were taken
 * from the published NIST/RFC examples where those exist and agree with
 * `openssl dgst` for the rest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include <plumb/hash.h>
#include <plumb/io.h>

struct vector {
	const char *algo;
	size_t size;
	const char *empty, *abc, *million_a;
};

static const struct vector vectors[] = {
        {"sha256", 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
        {"sha1", 20, "da39a3ee5e6b4b0d3255bfef95601890afd80709",
         "a9993e364706816aba3e25717850c26c9cd0d89d", "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
        {"md5", 16, "d41d8cd98f00b204e9800998ecf8427e", "900150983cd24fb0d6963f7d28e17f72",
         "7707d6ae4e027c70eea2a935c2296f21"},
        {"sha224", 28, "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f",
         "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
         "20794655980c91d8bbb4c1ea97618a4bf03f42581948b2ee4ee7ad67"},
        {"sha384", 48,
         "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f"
         "14898b95b",
         "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca"
         "134c825a7",
         "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd"
         "87f3d8985"},
        {"sha512", 64,
         "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d"
         "2877eec2f63b931bd47417a81a538327af927da3e",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c2"
         "3a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
         "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432"
         "ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"},
        {"sha3-256", 32, "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
         "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
         "5c8875ae474a3634ba4fd55ec85bffd661f32aca75c6d699d0cdcb6c115891c1"},
        {"sha3-512", 64,
         "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e94"
         "02c3ac558f500199d95b6d3e301758586281dcd26",
         "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57"
         "647e3934057340b4cf408d5a56592f8274eec53f0",
         "3c3a876da14034ab60627c077bb98f7e120a2a5370212dffb3385a18d4f38859ed311d0a9d5141ce9cc5c66"
         "ee689b266a8aa18ace8282a0e0db596c90b0a7b87"},
        {"blake2b512", 64,
         "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee58531389644"
         "4934eb04b903a685b1448b755d56f701afe9be2ce",
         "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5d"
         "e4533cc9518d38aa8dbf1925ab92386edd4009923",
         "98fb3efb7206fd19ebf69b6f312cf7b64e3b94dbe1a17107913975a793f177e1d077609d7fba363cbba00d0"
         "5f7aa4e4fa8715d6428104c0a75643b0ff3fd3eaf"},
        {"blake2s256", 32, "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9",
         "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
         "bec0c0e6cde5b67acb73b81f79a67a4079ae1c60dac9d2661af18e9f8b50dfa5"},
};

#define NVECTORS (sizeof vectors / sizeof vectors[0])

static const char sha256_abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/* A new hash of algo, failing the test if it cannot be made. */
static plumb_hash *new_hash(const char *algo)
{
	plumb_hash *h = NULL;
	assert_int_equal(plumb_hash_new(&h, algo), 0);
	assert_non_null(h);
	return h;
}

/* Asserts that h's hex digest is want. */
static void assert_hex(plumb_hash *h, const char *want)
{
	char hex[PLUMB_HASH_MAX_HEX];
	assert_int_equal(plumb_hash_hex(h, hex, sizeof hex), (int)strlen(want));
	assert_string_equal(hex, want);
}

static void test_empty_and_abc(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVECTORS; i++) {
		const struct vector *v = &vectors[i];
		plumb_hash *h = new_hash(v->algo);
		assert_string_equal(plumb_hash_name(h), v->algo);
		assert_int_equal(plumb_hash_size(h), v->size);
		assert_int_equal(strlen(v->empty), 2 * v->size);
		assert_hex(h, v->empty);
		assert_int_equal(plumb_hash_update(h, "abc", 3), 0);
		assert_hex(h, v->abc);
		plumb_hash_free(h);
	}
}

static void test_million_a(void **state)
{
	(void)state;
	enum { N = 1000000 };
	char *a = malloc(N);
	assert_non_null(a);
	memset(a, 'a', N);
	/* Uneven pieces: 1, 2, 3, ... bytes, so blocks straddle updates. */
	for (size_t i = 0; i < NVECTORS; i++) {
		plumb_hash *h = new_hash(vectors[i].algo);
		size_t off = 0, piece = 1;
		while (off < N) {
			size_t n = piece < N - off ? piece : N - off;
			assert_int_equal(plumb_hash_update(h, a + off, n), 0);
			off += n;
			piece = piece % 997 + 1;
		}
		assert_int_equal(plumb_hash_count(h), N);
		assert_hex(h, vectors[i].million_a);
		plumb_hash_free(h);
	}
	free(a);
}

static void test_sum_then_continue(void **state)
{
	(void)state;
	plumb_hash *h = new_hash("sha256");
	assert_int_equal(plumb_hash_update(h, "ab", 2), 0);
	assert_hex(h, "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603");
	assert_hex(h, "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603");
	assert_int_equal(plumb_hash_update(h, "c", 1), 0);
	assert_hex(h, sha256_abc);

	unsigned char md[PLUMB_HASH_MAX_SIZE];
	assert_int_equal(plumb_hash_sum(h, md, 32), 32);
	assert_int_equal(md[0], 0xba);
	assert_int_equal(md[31], 0xad);
	assert_int_equal(plumb_hash_count(h), 3);
	plumb_hash_free(h);
}

static void test_reset(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVECTORS; i++) {
		plumb_hash *h = new_hash(vectors[i].algo);
		assert_int_equal(plumb_hash_update(h, "something else", 14), 0);
		plumb_hash_reset(h);
		assert_int_equal(plumb_hash_count(h), 0);
		assert_hex(h, vectors[i].empty);
		assert_int_equal(plumb_hash_update(h, "abc", 3), 0);
		assert_hex(h, vectors[i].abc);
		plumb_hash_free(h);
	}
}

static void test_count(void **state)
{
	(void)state;
	plumb_hash *h = new_hash("md5");
	assert_int_equal(plumb_hash_count(h), 0);
	assert_int_equal(plumb_hash_update(h, "", 0), 0);
	assert_int_equal(plumb_hash_update(h, NULL, 0), 0);
	assert_int_equal(plumb_hash_count(h), 0);
	static char block[65536];
	for (int i = 0; i < 100; i++)
		assert_int_equal(plumb_hash_update(h, block, sizeof block), 0);
	assert_int_equal(plumb_hash_count(h), 100 * 65536);
	plumb_writer *w = plumb_hash_writer(h);
	assert_int_equal(w->ops->write(w, "xyz", 3), 3);
	assert_int_equal(plumb_hash_count(h), 100 * 65536 + 3);
	/* Summing does not count anything. */
	unsigned char md[16];
	assert_int_equal(plumb_hash_sum(h, md, sizeof md), 16);
	assert_int_equal(plumb_hash_count(h), 100 * 65536 + 3);
	plumb_hash_free(h);
}

static void test_buffer_sizes(void **state)
{
	(void)state;
	plumb_hash *h = new_hash("sha1");
	unsigned char md[20];
	char hex[41];
	assert_int_equal(plumb_hash_sum(h, md, 19), PLUMB_ESHORTBUFFER);
	assert_int_equal(plumb_hash_sum(h, md, 20), 20);
	assert_int_equal(plumb_hash_hex(h, hex, 40), PLUMB_ESHORTBUFFER);
	memset(hex, 'x', sizeof hex);
	assert_int_equal(plumb_hash_hex(h, hex, 41), 40);
	assert_int_equal(hex[40], '\0');
	assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	/* The hex is the binary digest, byte for byte, lowercase. */
	for (int i = 0; i < 20; i++) {
		char two[3];
		snprintf(two, sizeof two, "%02x", md[i]);
		assert_memory_equal(hex + 2 * i, two, 2);
	}
	plumb_hash_free(h);
}

static void test_unknown_names(void **state)
{
	(void)state;
	static const char *const bad[] = {"",       "sha",  "sha256x", "crc32",    "sha-3",
	                                  "blake2", "md5 ", " md5",    "sha3-384", "whirlpool"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		plumb_hash *h = (plumb_hash *)&h; /* not NULL, to see it cleared */
		assert_int_equal(plumb_hash_new(&h, bad[i]), PLUMB_EALGO);
		assert_null(h);
	}
	plumb_hash *h = NULL;
	assert_int_equal(plumb_hash_new(&h, NULL), PLUMB_EALGO);
	assert_null(h);
	assert_string_equal(plumb_strerror(PLUMB_EALGO), "unknown algorithm");
	plumb_hash_free(NULL);
}

static void test_aliases(void **state)
{
	(void)state;
	static const struct {
		const char *alias, *name, *tag;
	} cases[] = {
	        {"sha256", "sha256", "SHA256"},
	        {"SHA256", "sha256", "SHA256"},
	        {"sha-256", "sha256", "SHA256"},
	        {"SHA-256", "sha256", "SHA256"},
	        {"Sha2-256", "sha256", "SHA256"},
	        {"SHA1", "sha1", "SHA1"},
	        {"sha-1", "sha1", "SHA1"},
	        {"MD5", "md5", "MD5"},
	        {"sha-224", "sha224", "SHA224"},
	        {"SHA384", "sha384", "SHA384"},
	        {"sha-512", "sha512", "SHA512"},
	        {"SHA3-256", "sha3-256", "SHA3-256"},
	        {"sha3-512", "sha3-512", "SHA3-512"},
	        {"BLAKE2b", "blake2b512", "BLAKE2b"},
	        {"blake2b512", "blake2b512", "BLAKE2b"},
	        {"BLAKE2B-512", "blake2b512", "BLAKE2b"},
	        {"blake2s256", "blake2s256", "BLAKE2S-256"},
	        {"BLAKE2s-256", "blake2s256", "BLAKE2S-256"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		plumb_hash *h = new_hash(cases[i].alias);
		assert_string_equal(plumb_hash_name(h), cases[i].name);
		assert_string_equal(plumb_hash_tag(h), cases[i].tag);
		plumb_hash_free(h);
	}
}

static void test_algorithm_list(void **state)
{
	(void)state;
	const char *const *names = plumb_hash_algorithms();
	size_t n = 0;
	for (; names[n]; n++) {
		plumb_hash *h = new_hash(names[n]);
		assert_string_equal(plumb_hash_name(h), names[n]);
		assert_true(plumb_hash_size(h) <= PLUMB_HASH_MAX_SIZE);
		plumb_hash_free(h);
	}
	assert_int_equal(n, NVECTORS);
	for (size_t i = 0; i < NVECTORS; i++) {
		bool found = false;
		for (size_t j = 0; j < n; j++)
			found |= !strcmp(names[j], vectors[i].algo);
		assert_true(found);
	}
}

static void test_writer_interface(void **state)
{
	(void)state;
	plumb_hash *h = new_hash("sha256");
	plumb_writer *w = plumb_hash_writer(h);
	assert_ptr_equal(plumb_hash_writer(h), w);
	assert_non_null(w->ops->write);
	assert_int_equal(plumb_writer_write(w, "a", 1), 1);
	assert_int_equal(plumb_writer_write_str(w, "bc"), 2);
	assert_int_equal(plumb_writer_fd(w), -1);
	assert_int_equal(plumb_writer_close(w), 0);
	plumb_writer_free(w); /* does nothing: h still works */
	assert_int_equal(plumb_hash_count(h), 3);
	assert_hex(h, sha256_abc);
	plumb_hash_free(h);
}

static void test_tee_into_hash(void **state)
{
	(void)state;
	static const char text[] = "Hello from this demo string.";
	plumb_hash *h = new_hash("sha256");
	plumb_reader *src = plumb_string_reader_new(text);
	assert_non_null(src);
	plumb_reader *tee = plumb_tee_reader_new(src, plumb_hash_writer(h));
	assert_non_null(tee);

	char out[sizeof text], chunk[8];
	size_t got = 0;
	ssize_t n;
	while ((n = plumb_reader_read(tee, chunk, sizeof chunk)) > 0) {
		assert_true(got + (size_t)n < sizeof out);
		memcpy(out + got, chunk, (size_t)n);
		got += (size_t)n;
	}
	assert_int_equal(n, 0);
	assert_int_equal(got, strlen(text));
	assert_memory_equal(out, text, got);
	assert_int_equal(plumb_hash_count(h), strlen(text));
	assert_hex(h, "945ef80f6bc0e409664cc6fb245a287c2d5059621dde59b2b0f99cdb610645fb");

	plumb_reader_free(tee);
	plumb_reader_free(src);
	plumb_hash_free(h);
}

static void test_multi_writer_of_hashes(void **state)
{
	(void)state;
	plumb_hash *hs[3] = {new_hash("md5"), new_hash("sha1"), new_hash("sha256")};
	plumb_writer *ws[3];
	for (int i = 0; i < 3; i++)
		ws[i] = plumb_hash_writer(hs[i]);
	plumb_writer *mw = plumb_multi_writer_new(ws, 3);
	assert_non_null(mw);
	plumb_reader *src = plumb_string_reader_new("abc");
	assert_non_null(src);
	assert_int_equal(plumb_copy(mw, src), 3);
	assert_hex(hs[0], vectors[2].abc);
	assert_hex(hs[1], vectors[1].abc);
	assert_hex(hs[2], vectors[0].abc);
	plumb_reader_free(src);
	plumb_writer_free(mw);
	for (int i = 0; i < 3; i++)
		plumb_hash_free(hs[i]);
}

/* Several threads make their first hashes at once: the fetch cache races. */
static void *make_all(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < NVECTORS; i++) {
		plumb_hash *h = NULL;
		char hex[PLUMB_HASH_MAX_HEX];
		if (plumb_hash_new(&h, vectors[i].algo) < 0 || plumb_hash_update(h, "abc", 3) < 0 ||
		    plumb_hash_hex(h, hex, sizeof hex) < 0 || strcmp(hex, vectors[i].abc)) {
			plumb_hash_free(h);
			return (void *)1;
		}
		plumb_hash_free(h);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	enum { T = 8 };
	pthread_t th[T];
	for (int i = 0; i < T; i++)
		assert_int_equal(pthread_create(&th[i], NULL, make_all, NULL), 0);
	for (int i = 0; i < T; i++) {
		void *ret = (void *)1;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_threads), /* first, while nothing is cached yet */
	        cmocka_unit_test(test_empty_and_abc),
	        cmocka_unit_test(test_million_a),
	        cmocka_unit_test(test_sum_then_continue),
	        cmocka_unit_test(test_reset),
	        cmocka_unit_test(test_count),
	        cmocka_unit_test(test_buffer_sizes),
	        cmocka_unit_test(test_unknown_names),
	        cmocka_unit_test(test_aliases),
	        cmocka_unit_test(test_algorithm_list),
	        cmocka_unit_test(test_writer_interface),
	        cmocka_unit_test(test_tee_into_hash),
	        cmocka_unit_test(test_multi_writer_of_hashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
