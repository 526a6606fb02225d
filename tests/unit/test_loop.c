/*
 * test_loop.c - unit tests of the loop module (plumb/loop.h) on real loop
 * devices.
 *
 * Every test attaches files of its own under a fresh temporary directory,
 * records each device it got, and the teardown detaches exactly those, so
 * nothing is left attached whether the test passed or failed, and nobody
 * else's device is touched.  Without /dev/loop-control or without root the
 * tests are skipped (TAP "skip"), never faked.  The checks read the state
 * back from sysfs through plumb_loop_info() and, independently, through
 * the files in /sys/block themselves.
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
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <plumb/loop.h>

#include "loop/loop-internal.h"

static char dir[64];
static char held[64][32]; /* devices this test attached */
static int nheld;

static bool usable(void)
{
	return access("/dev/loop-control", F_OK) == 0 && geteuid() == 0;
}

#define NEED_LOOP()                                                                                \
	do {                                                                                       \
		if (!usable()) {                                                                   \
			print_message("# skip: %s\n",                                              \
			              geteuid() ? "not root" : "/dev/loop-control missing");       \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* A file of @size bytes (sparse) named @name in the test's directory. */
static const char *mkfile(const char *name, off_t size)
{
	static char path[8][128];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, sizeof path[0], "%s/%s", dir, name);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0666);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
	return p;
}

static int loop_number_of(const char *dev)
{
	return atoi(dev + strlen("/dev/loop"));
}

static void hold(const char *dev)
{
	snprintf(held[nheld++], sizeof held[0], "%s", dev);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/plumb-loop-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	chmod(dir, 0755);
	nheld = 0;
	return 0;
}

/* Detaches a device whose backing file lies in this test's directory. */
static int detach_ours(const struct plumb_loop_info *info, void *arg)
{
	(void)arg;
	size_t n = strlen(dir);
	if (!strncmp(info->back_file, dir, n) && info->back_file[n] == '/')
		plumb_loop_detach(info->name);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* Every device backed by a file of ours, whether the test recorded it
	 * (hold) or a child took it and died: the files name them. */
	plumb_loop_foreach(detach_ours, NULL);
	nheld = 0;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static uint64_t sysfs_u64(const char *dev, const char *attr)
{
	char path[128], buf[64] = "";
	snprintf(path, sizeof path, "/sys/block/%s/%s", dev + 5, attr);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	return strtoull(buf, NULL, 10);
}

static void test_attach_detach(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("a.img", 8 << 20);
	char dev[32];
	int n = plumb_loop_attach(f, NULL, dev, sizeof dev);
	assert_true(n >= 0);
	hold(dev);
	char want[32];
	snprintf(want, sizeof want, "/dev/loop%d", n);
	assert_string_equal(dev, want);

	struct plumb_loop_info info;
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_true(info.attached);
	assert_string_equal(info.back_file, f);
	assert_int_equal(info.number, n);
	assert_int_equal(info.size, 8 << 20);
	assert_int_equal(info.offset, 0);
	assert_int_equal(info.sizelimit, 0);
	assert_int_equal(info.log_sec, 512);
	assert_false(info.read_only || info.autoclear || info.partscan || info.direct_io);
	assert_int_equal(info.major, 7);
	struct stat st;
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(info.back_ino, st.st_ino);
	assert_int_equal(sysfs_u64(dev, "size"), (8 << 20) / 512);

	assert_int_equal(plumb_loop_detach(dev), 0);
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	if (info.attached) /* another process took it at once: it is not ours */
		assert_string_not_equal(info.back_file, f);
	/* A call on a free device says so.  Set-capacity, not detach: another
	 * process may take the device any moment, and resizing it is harmless
	 * where detaching it would not be. */
	int r = plumb_loop_set_capacity(dev);
	if (r != 0) {
		assert_int_equal(r, -ENXIO);
		assert_non_null(strstr(plumb_loop_errmsg(), "not attached"));
	}
}

static void test_options(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("o.img", 16 << 20);
	struct plumb_loop_config cfg = {.offset = 1 << 20,
	                                .sizelimit = 4 << 20,
	                                .sector_size = 4096,
	                                .read_only = true,
	                                .partscan = true,
	                                .autoclear = false};
	char dev[32];
	assert_true(plumb_loop_attach(f, &cfg, dev, sizeof dev) >= 0);
	hold(dev);
	struct plumb_loop_info info;
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_int_equal(info.offset, 1 << 20);
	assert_int_equal(info.sizelimit, 4 << 20);
	assert_int_equal(info.size, 4 << 20);
	assert_int_equal(info.log_sec, 4096);
	assert_true(info.read_only);
	assert_true(info.partscan);
	assert_false(info.autoclear);
	assert_int_equal(sysfs_u64(dev, "ro"), 1);
	assert_int_equal(sysfs_u64(dev, "loop/offset"), 1 << 20);
	assert_int_equal(sysfs_u64(dev, "queue/logical_block_size"), 4096);
}

/* The path for kernels without LOOP_CONFIGURE: LOOP_SET_FD, then
 * LOOP_SET_STATUS64, LOOP_SET_BLOCK_SIZE and LOOP_SET_DIRECT_IO, forced. */
static void test_legacy_attach(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("legacy.img", 8 << 20);
	struct plumb_loop_config cfg = {.offset = 1 << 20,
	                                .sizelimit = 2 << 20,
	                                .sector_size = 2048,
	                                .read_only = true,
	                                .autoclear = false};
	char dev[32];
	loop_force_legacy = 1;
	int n = plumb_loop_attach(f, &cfg, dev, sizeof dev);
	if (n >= 0)
		hold(dev);
	int busy = n >= 0 ? plumb_loop_attach_to(dev, f, NULL) : 0;
	loop_force_legacy = 0;
	assert_true(n >= 0);
	assert_int_equal(busy, -EBUSY);
	struct plumb_loop_info info;
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_string_equal(info.back_file, f);
	assert_int_equal(info.offset, 1 << 20);
	assert_int_equal(info.sizelimit, 2 << 20);
	assert_int_equal(info.size, 2 << 20);
	assert_int_equal(info.log_sec, 2048);
	assert_true(info.read_only);
	assert_int_equal(plumb_loop_detach(dev), 0);
}

static void test_attach_to_busy(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("b.img", 1 << 20);
	char dev[32];
	assert_true(plumb_loop_attach(f, NULL, dev, sizeof dev) >= 0);
	hold(dev);
	assert_int_equal(plumb_loop_attach_to(dev, f, NULL), -EBUSY);
	assert_non_null(strstr(plumb_loop_errmsg(), "busy"));
	/* A free device: attach_to takes exactly it.  Another process may take
	 * it between find and attach; then EBUSY, and the next free one. */
	int r = -EBUSY;
	for (int tries = 0; r == -EBUSY && tries < 20; tries++) {
		int n = plumb_loop_find_free();
		assert_true(n >= 0);
		snprintf(dev, sizeof dev, "/dev/loop%d", n);
		r = plumb_loop_attach_to(dev, f, NULL);
	}
	assert_int_equal(r, loop_number_of(dev));
	hold(dev);
	struct plumb_loop_info info;
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_string_equal(info.back_file, f);
}

static void test_errors(void **state)
{
	(void)state;
	NEED_LOOP();
	char dev[32], path[128];
	snprintf(path, sizeof path, "%s/missing", dir);
	assert_int_equal(plumb_loop_attach(path, NULL, dev, sizeof dev), -ENOENT);
	assert_non_null(strstr(plumb_loop_errmsg(), "no such file"));
	assert_int_equal(plumb_loop_attach(dir, NULL, dev, sizeof dev), -EISDIR);
	assert_non_null(strstr(plumb_loop_errmsg(), "directory"));

	const char *f = mkfile("small.img", 4096);
	struct plumb_loop_config off = {.offset = 8192};
	assert_int_equal(plumb_loop_attach(f, &off, dev, sizeof dev), -EINVAL);
	assert_non_null(strstr(plumb_loop_errmsg(), "too small"));
	struct plumb_loop_config mis = {.offset = 1000, .sector_size = 512};
	assert_int_equal(plumb_loop_attach(f, &mis, dev, sizeof dev), -EINVAL);
	assert_non_null(strstr(plumb_loop_errmsg(), "not a multiple"));
	struct plumb_loop_config bad = {.sector_size = 3000};
	assert_int_equal(plumb_loop_attach(f, &bad, dev, sizeof dev), -EINVAL);

	assert_int_equal(plumb_loop_detach("/dev/null"), -ENODEV);
	assert_non_null(strstr(plumb_loop_errmsg(), "not a loop device"));
	assert_int_equal(plumb_loop_detach("/dev/loop-nonexistent"), -ENOENT);
	struct plumb_loop_info info;
	assert_int_equal(plumb_loop_info("/dev/null", &info), -ENODEV);
	assert_int_equal(plumb_loop_find_by_file(path, false, 0, NULL, NULL), -ENOENT);
}

static void test_not_root(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("nr.img", 1 << 20);
	assert_int_equal(chmod(f, 0666), 0); /* the file is not what stops nobody */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		char dev[32];
		int r = plumb_loop_attach(f, NULL, dev, sizeof dev);
		if (r >= 0) /* must never happen; detach what we took */
			_exit(11);
		_exit(r == -EACCES && strstr(plumb_loop_errmsg(), "need root") ? 0 : 12);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_set_capacity(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("grow.img", 1 << 20);
	char dev[32];
	assert_true(plumb_loop_attach(f, NULL, dev, sizeof dev) >= 0);
	hold(dev);
	assert_int_equal(truncate(f, 3 << 20), 0);
	struct plumb_loop_info info;
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_int_equal(info.size, 1 << 20);
	assert_int_equal(plumb_loop_set_capacity(dev), 0);
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_int_equal(info.size, 3 << 20);
}

static void test_direct_io(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("dio.img", 1 << 20);
	char dev[32];
	assert_true(plumb_loop_attach(f, NULL, dev, sizeof dev) >= 0);
	hold(dev);
	struct plumb_loop_info info;
	int r = plumb_loop_set_direct_io(dev, true);
	if (r == -EINVAL)
		skip(); /* the filesystem under the test dir has no O_DIRECT */
	assert_int_equal(r, 0);
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_true(info.direct_io);
	assert_int_equal(plumb_loop_set_direct_io(dev, false), 0);
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_false(info.direct_io);
}

/* While another user holds the device open the detach is only scheduled:
 * detach_wait says so, and the device goes when that user closes it. */
static void test_detach_wait(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("w.img", 1 << 20);
	char dev[32];
	assert_true(plumb_loop_attach(f, NULL, dev, sizeof dev) >= 0);
	hold(dev);
	int fd = open(dev, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(plumb_loop_detach_wait(dev, 50), -ETIMEDOUT);
	assert_non_null(strstr(plumb_loop_errmsg(), "still open"));
	struct plumb_loop_info info;
	assert_int_equal(plumb_loop_info(dev, &info), 0);
	assert_true(info.attached && info.autoclear);
	close(fd);
	assert_int_equal(plumb_loop_find_by_file(f, false, 0, NULL, NULL), 0);

	assert_true(plumb_loop_attach(f, NULL, dev, sizeof dev) >= 0);
	hold(dev);
	assert_int_equal(plumb_loop_detach_wait(dev, 1000), 0);
	assert_int_equal(plumb_loop_find_by_file(f, false, 0, NULL, NULL), 0);
}

struct seen {
	const char *dev;
	int count;
};

static int count_dev(const struct plumb_loop_info *info, void *arg)
{
	struct seen *s = arg;
	if (!strcmp(info->name, s->dev))
		s->count++;
	return 0;
}

static int stop_at_first(const struct plumb_loop_info *info, void *arg)
{
	(void)info;
	(void)arg;
	return 42;
}

static void test_find_and_iterate(void **state)
{
	(void)state;
	NEED_LOOP();
	const char *f = mkfile("f.img", 4 << 20);
	const char *other = mkfile("other.img", 1 << 20);
	char d1[32], d2[32];
	struct plumb_loop_config at1m = {.offset = 1 << 20};
	assert_true(plumb_loop_attach(f, NULL, d1, sizeof d1) >= 0);
	hold(d1);
	assert_true(plumb_loop_attach(f, &at1m, d2, sizeof d2) >= 0);
	hold(d2);
	assert_string_not_equal(d1, d2);
	assert_int_equal(plumb_loop_find_by_file(f, false, 0, NULL, NULL), 2);
	assert_int_equal(plumb_loop_find_by_file(f, true, 1 << 20, NULL, NULL), 1);
	struct seen s = {d2, 0};
	assert_int_equal(plumb_loop_find_by_file(f, true, 1 << 20, count_dev, &s), 1);
	assert_int_equal(s.count, 1);
	assert_int_equal(plumb_loop_find_by_file(other, false, 0, NULL, NULL), 0);

	struct seen all = {d1, 0};
	assert_int_equal(plumb_loop_foreach(count_dev, &all), 0);
	assert_int_equal(all.count, 1);
	assert_int_equal(plumb_loop_foreach(stop_at_first, NULL), 42);
	assert_true(plumb_loop_find_free() >= 0);
}

/* 16 children attach files of their own at the same moment, 100 rounds
 * each: every attach must succeed (a lost race moves on to the next free
 * device), each checks that the device it got shows its own file (two
 * winners of one device would see a stranger's), detaches it, and at the
 * end nothing of theirs is attached. */
static void test_concurrent_attach(void **state)
{
	(void)state;
	NEED_LOOP();
	enum { KIDS = 16, ROUNDS = 100 };
	pid_t pids[KIDS];
	for (int k = 0; k < KIDS; k++) {
		char name[32];
		snprintf(name, sizeof name, "c%d.img", k);
		const char *f = mkfile(name, 1 << 20);
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k])
			continue;
		for (int i = 0; i < ROUNDS; i++) {
			char dev[32];
			struct plumb_loop_info info;
			if (plumb_loop_attach(f, NULL, dev, sizeof dev) < 0)
				_exit(1);
			int bad = plumb_loop_info(dev, &info) != 0 || strcmp(info.back_file, f);
			if (plumb_loop_detach(dev) != 0 || bad)
				_exit(2);
		}
		_exit(0);
	}
	for (int k = 0; k < KIDS; k++) {
		int st;
		assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	/* Nothing of ours is left attached. */
	for (int k = 0; k < KIDS; k++) {
		char path[128];
		snprintf(path, sizeof path, "%s/c%d.img", dir, k);
		assert_int_equal(plumb_loop_find_by_file(path, false, 0, NULL, NULL), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_attach_detach, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_options, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_legacy_attach, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_attach_to_busy, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_not_root, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_set_capacity, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_direct_io, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_detach_wait, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_find_and_iterate, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_concurrent_attach, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
