/*
 * attach.c - finding a free loop device and attaching a file to it.
 *
 * The race: LOOP_CTL_GET_FREE names a device that is free now, but another
 * process may bind it before we do.  The kernel binds a device under its
 * own lock and refuses a bound one with EBUSY, so the answer is to try the
 * bind and, on EBUSY, ask for a free device again: no sleeping, no lock
 * files, and never someone else's device.  LOOP_CONFIGURE (Linux 5.8) binds
 * and configures in one ioctl; older kernels get LOOP_SET_FD followed by
 * LOOP_SET_STATUS64, and on failure of the second the first is undone.
 *
 * The device is opened for writing unless the attach is read-only: the
 * kernel makes the device read-only when the fd that configured it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/loop.h>

#include <plumb/loop.h>

#include "loop-internal.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
	__u32 fd;
	__u32 block_size;
	struct loop_info64 info;
	__u64 __reserved[8];
};
#endif

/* After this many EBUSY answers in a row something is wrong (a device
 * that GET_FREE calls free but that refuses binding); give up then. */
#define MAX_TRIES 4096
/* After this many missing device nodes in a row, /dev lacks them. */
#define MAX_MISSING 64

static int open_control(void)
{
	int fd = open(LOOP_CONTROL, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	int e = errno;
	if (e == ENOENT)
		return loop_fail(-e, LOOP_CONTROL " is missing (no loop driver on this machine?)");
	if (e == EACCES || e == EPERM)
		return loop_fail(-e, LOOP_CONTROL ": permission denied (loop devices need root)");
	return loop_fail(-e, LOOP_CONTROL ": %s", strerror(e));
}

int plumb_loop_find_free(void)
{
	int ctl = open_control();
	if (ctl < 0)
		return ctl;
	int n = ioctl(ctl, LOOP_CTL_GET_FREE);
	int e = errno;
	close(ctl);
	if (n < 0)
		return loop_fail(-e, "cannot find a free loop device: %s", strerror(e));
	return n;
}

/* Opens the backing file and checks it against @cfg; returns the fd. */
static int open_backing(const char *file, const struct plumb_loop_config *cfg)
{
	int flags = (cfg->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (cfg->direct_io)
		flags |= O_DIRECT;
	int fd = open(file, flags);
	if (fd < 0 && !cfg->read_only && (errno == EROFS || errno == EACCES)) {
		return loop_fail(-errno, "%s: cannot open read-write (%s); attach it read-only",
		                 file, strerror(errno));
	}
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return loop_fail(-e, "%s: no such file", file);
		if (e == EISDIR)
			return loop_fail(-e, "%s: is a directory, not a file", file);
		if (e == EINVAL && cfg->direct_io)
			return loop_fail(-e, "%s: the filesystem refuses direct I/O", file);
		return loop_fail(-e, "%s: %s", file, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return loop_fail(-e, "%s: %s", file, strerror(e));
	}
	int r = 0;
	unsigned ss = cfg->sector_size ? cfg->sector_size : 512;
	if (S_ISDIR(st.st_mode))
		r = loop_fail(-EISDIR, "%s: is a directory, not a file", file);
	else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		r = loop_fail(-EINVAL, "%s: not a regular file or block device", file);
	else if (cfg->sector_size && (ss < 512 || ss > 4096 || (ss & (ss - 1))))
		r = loop_fail(-EINVAL, "sector size %u: must be 512, 1024, 2048 or 4096", ss);
	else if (cfg->sector_size && cfg->offset % ss)
		r = loop_fail(-EINVAL, "offset %llu is not a multiple of the sector size %u",
		              (unsigned long long)cfg->offset, ss);
	else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size <= cfg->offset)
		r = loop_fail(-EINVAL, "%s: file too small (%lld bytes) for offset %llu", file,
		              (long long)st.st_size, (unsigned long long)cfg->offset);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static void fill_info(struct loop_info64 *li, const char *file, const struct plumb_loop_config *cfg)
{
	memset(li, 0, sizeof *li);
	li->lo_offset = cfg->offset;
	li->lo_sizelimit = cfg->sizelimit;
	if (cfg->read_only)
		li->lo_flags |= LO_FLAGS_READ_ONLY;
	if (cfg->partscan)
		li->lo_flags |= LO_FLAGS_PARTSCAN;
	if (cfg->direct_io)
		li->lo_flags |= LO_FLAGS_DIRECT_IO;
	if (cfg->autoclear)
		li->lo_flags |= LO_FLAGS_AUTOCLEAR;
	snprintf((char *)li->lo_file_name, sizeof li->lo_file_name, "%s", file);
}

/* The older way: bind, then configure; undo the bind if configuring fails.
 * Returns 0, -EBUSY (lost the race) or another -errno. */
static int bind_legacy(int dev, int file, const struct loop_info64 *li,
                       const struct plumb_loop_config *cfg)
{
	if (ioctl(dev, LOOP_SET_FD, file) < 0)
		return -errno;
	int e = 0;
	if (ioctl(dev, LOOP_SET_STATUS64, li) < 0)
		e = errno;
	else if (cfg->sector_size && ioctl(dev, LOOP_SET_BLOCK_SIZE, cfg->sector_size) < 0)
		e = errno;
	else if (cfg->direct_io && ioctl(dev, LOOP_SET_DIRECT_IO, 1UL) < 0)
		e = errno;
	if (e) {
		ioctl(dev, LOOP_CLR_FD, 0);
		return e == EBUSY ? -EAGAIN : -e;
	}
	return 0;
}

int loop_force_legacy;

/* Binds @file to the device open as @dev.  0, -EBUSY (taken), or -errno. */
static int bind_fd(int dev, int file, const char *path, const struct plumb_loop_config *cfg)
{
	static int no_configure; /* set once the kernel said it lacks LOOP_CONFIGURE */
	struct loop_config lc;
	memset(&lc, 0, sizeof lc);
	lc.fd = (__u32)file;
	lc.block_size = cfg->sector_size;
	fill_info(&lc.info, path, cfg);
	if (!__atomic_load_n(&no_configure, __ATOMIC_RELAXED) && !loop_force_legacy) {
		if (ioctl(dev, LOOP_CONFIGURE, &lc) == 0)
			return 0;
		if (errno != ENOTTY && errno != EINVAL)
			return -errno;
		/* EINVAL may be a bad argument rather than an old kernel: the
		 * fallback below will say which by failing the same way. */
		if (errno == ENOTTY)
			__atomic_store_n(&no_configure, 1, __ATOMIC_RELAXED);
	}
	return bind_legacy(dev, file, &lc.info, cfg);
}

static int bind_error(int r, const char *dev, const char *file)
{
	if (r == -EBUSY)
		return loop_fail(r, "%s: device is busy (already attached)", dev);
	if (r == -EPERM || r == -EACCES)
		return loop_fail(r, "%s: not permitted (loop devices need root)", dev);
	if (r == -EINVAL)
		return loop_fail(r, "%s: the kernel refused the configuration of %s", dev, file);
	return loop_fail(r, "%s: cannot attach %s: %s", dev, file, strerror(-r));
}

static const struct plumb_loop_config defaults;

int plumb_loop_attach_to(const char *dev, const char *file, const struct plumb_loop_config *cfg)
{
	if (!cfg)
		cfg = &defaults;
	int n = loop_number(dev);
	int ffd = open_backing(file, cfg);
	if (ffd < 0)
		return ffd;
	int dfd = loop_open(dev, cfg->read_only ? O_RDONLY : O_RDWR);
	if (dfd < 0) {
		close(ffd);
		return dfd;
	}
	int r = bind_fd(dfd, ffd, file, cfg);
	close(dfd);
	close(ffd);
	if (r < 0)
		return bind_error(r, dev, file);
	return n;
}

int plumb_loop_attach(const char *file, const struct plumb_loop_config *cfg, char *dev, size_t len)
{
	if (!cfg)
		cfg = &defaults;
	int ffd = open_backing(file, cfg);
	if (ffd < 0)
		return ffd;
	int ctl = open_control();
	if (ctl < 0) {
		close(ffd);
		return ctl;
	}
	char path[32];
	int r = -EBUSY, n = -1, missing = 0;
	for (int tries = 0; r == -EBUSY && tries < MAX_TRIES; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			r = loop_fail(-errno, "cannot find a free loop device: %s",
			              strerror(errno));
			break;
		}
		snprintf(path, sizeof path, "/dev/loop%d", n);
		int dfd = open(path, (cfg->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (dfd < 0) {
			/* Removed (LOOP_CTL_REMOVE) in between: the next one.  But a
			 * node that never appears means /dev is not a devtmpfs. */
			r = (errno == ENOENT || errno == ENXIO) ? -EBUSY : -errno;
			if (r == -EBUSY && ++missing >= MAX_MISSING)
				r = loop_fail(-ENOENT,
				              "%s: no such device node (is /dev a devtmpfs?)",
				              path);
			else if (r != -EBUSY)
				r = loop_fail(r, "%s: %s", path, strerror(-r));
			continue;
		}
		missing = 0;
		r = bind_fd(dfd, ffd, file, cfg);
		close(dfd);
		if (r == -EAGAIN)
			r = -EBUSY;
		else if (r < 0 && r != -EBUSY)
			r = bind_error(r, path, file);
	}
	close(ctl);
	close(ffd);
	if (r == -EBUSY)
		return loop_fail(r, "no free loop device could be taken after %d tries", MAX_TRIES);
	if (r < 0)
		return r;
	if (dev && len)
		snprintf(dev, len, "%s", path);
	return n;
}
