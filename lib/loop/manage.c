/*
 * manage.c - changing an attached device: detach, detach all, resize,
 * direct I/O.  Each is one ioctl on the device; the work here is turning
 * the kernel's errno into a sentence that says what to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/loop.h>

#include <plumb/loop.h>

#include "loop-internal.h"

/* Runs one ioctl on @dev; 0 or -errno with a message. */
static int dev_ioctl(const char *dev, unsigned long req, unsigned long arg, const char *what)
{
	int fd = loop_open(dev, O_RDONLY);
	if (fd < 0)
		return fd;
	int r = ioctl(fd, req, arg);
	int e = errno;
	close(fd);
	if (r == 0)
		return 0;
	if (e == ENXIO)
		return loop_fail(-e, "%s: not attached", dev);
	if (e == EBUSY)
		return loop_fail(-e, "%s: device is busy", dev);
	if (e == EPERM || e == EACCES)
		return loop_fail(-e, "%s: not permitted (loop devices need root)", dev);
	return loop_fail(-e, "%s: %s failed: %s", dev, what, strerror(e));
}

int plumb_loop_detach(const char *dev)
{
	return dev_ioctl(dev, LOOP_CLR_FD, 0, "detach");
}

/* True while loop device number @n is bound to a file. */
static bool bound(int n)
{
	char path[64];
	snprintf(path, sizeof path, "/sys/block/loop%d/loop/backing_file", n);
	return access(path, F_OK) == 0;
}

int plumb_loop_detach_wait(const char *dev, int timeout_ms)
{
	int r = plumb_loop_detach(dev);
	if (r < 0)
		return r;
	struct stat st;
	if (stat(dev, &st) < 0)
		return 0;
	int n = (int)minor(st.st_rdev);
	int num = loop_number(dev);
	if (num >= 0)
		n = num;
	/* Polls: the kernel has no event for "the deferred detach is done". */
	for (int waited = 0; bound(n); waited++) {
		if (waited >= timeout_ms)
			return loop_fail(-ETIMEDOUT,
			                 "%s: still open by another process; it will be detached "
			                 "when that process closes it",
			                 dev);
		usleep(1000);
	}
	return 0;
}

int plumb_loop_set_capacity(const char *dev)
{
	return dev_ioctl(dev, LOOP_SET_CAPACITY, 0, "set capacity");
}

int plumb_loop_set_direct_io(const char *dev, bool on)
{
	return dev_ioctl(dev, LOOP_SET_DIRECT_IO, on, "direct I/O change");
}

struct all {
	int done, err;
};

static int detach_one(const struct plumb_loop_info *info, void *arg)
{
	struct all *a = arg;
	int r = plumb_loop_detach(info->name);
	if (r == 0)
		a->done++;
	else if (r != -ENXIO && !a->err)
		a->err = r;
	return 0;
}

int plumb_loop_detach_all(void)
{
	struct all a = {0, 0};
	int r = plumb_loop_foreach(detach_one, &a);
	if (r < 0)
		return r;
	return a.err ? a.err : a.done;
}
