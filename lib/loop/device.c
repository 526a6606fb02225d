/*
 * device.c - opening a loop device by path, and checking it is one.
 *
 * A path that names a regular file or another block device must not get
 * loop ioctls (some of their numbers mean something else to other
 * drivers), so the device is opened first and fstat'ed: a block device
 * with the loop major, or -ENODEV.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/major.h>

#include "loop-internal.h"

int loop_number(const char *dev)
{
	const char *p = strncmp(dev, "/dev/", 5) ? dev : dev + 5;
	if (strncmp(p, "loop", 4) || p[4] < '0' || p[4] > '9')
		return -1;
	char *end;
	long n = strtol(p + 4, &end, 10);
	return *end || n > 1 << 20 ? -1 : (int)n;
}

int loop_open(const char *dev, int flags)
{
	int fd = open(dev, flags | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return loop_fail(-e, "%s: no such device", dev);
		if (e == EACCES || e == EPERM)
			return loop_fail(-e, "%s: permission denied (loop devices need root)", dev);
		return loop_fail(-e, "%s: cannot open: %s", dev, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) || major(st.st_rdev) != LOOP_MAJOR) {
		close(fd);
		return loop_fail(-ENODEV, "%s: not a loop device", dev);
	}
	return fd;
}
