/*
 * state.c - a loop device's state, read from sysfs, and walking them all.
 *
 * /sys/block/loopN/loop/ exists only while the device is bound and holds
 * the backing file, offset, size limit and flags; the read-only flag, the
 * size and the sector size sit beside it as for any disk.  Only the backing
 * file's inode and device are not in sysfs: LOOP_GET_STATUS64 has them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/loop.h>

#include <plumb/loop.h>

#include "loop-internal.h"

/* Reads the first line of /sys/block/loopN/@attr into @buf; false if absent. */
static bool read_attr(int n, const char *attr, char *buf, size_t len)
{
	char path[96];
	snprintf(path, sizeof path, "/sys/block/loop%d/%s", n, attr);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t got = read(fd, buf, len - 1);
	close(fd);
	if (got < 0)
		return false;
	buf[got] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return true;
}

static uint64_t attr_u64(int n, const char *attr)
{
	char buf[32];
	return read_attr(n, attr, buf, sizeof buf) ? strtoull(buf, NULL, 10) : 0;
}

/* Fills @info for device number @n; 0, or -ENODEV if there is no such device. */
static int info_by_number(int n, struct plumb_loop_info *info)
{
	char buf[32];
	memset(info, 0, sizeof *info);
	info->number = n;
	snprintf(info->name, sizeof info->name, "/dev/loop%d", n);
	if (!read_attr(n, "dev", buf, sizeof buf))
		return loop_fail(-ENODEV, "%s: no such loop device", info->name);
	sscanf(buf, "%u:%u", &info->major, &info->minor);
	info->log_sec = (unsigned)attr_u64(n, "queue/logical_block_size");
	if (!read_attr(n, "loop/backing_file", info->back_file, sizeof info->back_file))
		return 0;
	info->attached = true;
	info->offset = attr_u64(n, "loop/offset");
	info->sizelimit = attr_u64(n, "loop/sizelimit");
	info->autoclear = attr_u64(n, "loop/autoclear");
	info->partscan = attr_u64(n, "loop/partscan");
	info->direct_io = attr_u64(n, "loop/dio");
	info->read_only = attr_u64(n, "ro");
	info->size = attr_u64(n, "size") * 512;

	int fd = open(info->name, O_RDONLY | O_CLOEXEC);
	struct loop_info64 li;
	if (fd >= 0 && ioctl(fd, LOOP_GET_STATUS64, &li) == 0) {
		info->back_ino = li.lo_inode;
		info->back_major = major(li.lo_device);
		info->back_minor = minor(li.lo_device);
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

int plumb_loop_info(const char *dev, struct plumb_loop_info *info)
{
	int fd = loop_open(dev, O_RDONLY);
	if (fd < 0)
		return fd;
	struct stat st;
	fstat(fd, &st);
	close(fd);
	/* The minor is the number unless max_part shifted it; sysfs knows. */
	int n = loop_number(dev);
	if (n < 0)
		n = (int)minor(st.st_rdev);
	int r = info_by_number(n, info);
	if (r == 0)
		snprintf(info->name, sizeof info->name, "%s", dev);
	return r;
}

static int by_number(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The numbers of all loop devices in sysfs, sorted; *count set; NULL + errno. */
static int *list_numbers(size_t *count)
{
	DIR *d = opendir("/sys/block");
	if (!d)
		return NULL;
	int *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		int num = loop_number(e->d_name);
		if (num < 0)
			continue;
		if (n == cap) {
			int *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *v);
			if (!nv) {
				free(v);
				closedir(d);
				errno = ENOMEM;
				return NULL;
			}
			v = nv;
		}
		v[n++] = num;
	}
	closedir(d);
	qsort(v, n, sizeof *v, by_number);
	*count = n;
	if (!v)
		v = malloc(sizeof *v); /* an empty list, not an error */
	return v;
}

int plumb_loop_foreach(int (*fn)(const struct plumb_loop_info *info, void *arg), void *arg)
{
	size_t n = 0;
	int *nums = list_numbers(&n);
	if (!nums)
		return loop_fail(-errno, "/sys/block: %s", strerror(errno));
	struct plumb_loop_info *info = malloc(sizeof *info);
	if (!info) {
		free(nums);
		return loop_fail(-ENOMEM, "out of memory");
	}
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (info_by_number(nums[i], info) == 0 && info->attached)
			r = fn(info, arg);
	}
	free(info);
	free(nums);
	return r;
}

struct match {
	dev_t dev;
	ino_t ino;
	bool use_offset;
	uint64_t offset;
	int (*fn)(const struct plumb_loop_info *, void *);
	void *arg;
	int found;
};

static int match_one(const struct plumb_loop_info *info, void *arg)
{
	struct match *m = arg;
	if (info->back_ino != m->ino || makedev(info->back_major, info->back_minor) != m->dev)
		return 0;
	if (m->use_offset && info->offset != m->offset)
		return 0;
	m->found++;
	return m->fn ? m->fn(info, m->arg) : 0;
}

int plumb_loop_find_by_file(const char *file, bool use_offset, uint64_t offset,
                            int (*fn)(const struct plumb_loop_info *info, void *arg), void *arg)
{
	struct stat st;
	if (stat(file, &st) < 0)
		return loop_fail(-errno, "%s: %s", file,
		                 errno == ENOENT ? "no such file" : strerror(errno));
	struct match m = {st.st_dev, st.st_ino, use_offset, offset, fn, arg, 0};
	int r = plumb_loop_foreach(match_one, &m);
	return r ? r : m.found;
}
