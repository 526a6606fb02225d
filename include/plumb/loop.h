/*
 * plumb/loop.h - loop devices: attach a file as a block device and back.
 *
 * Everything `losetup` does, as library calls: find a free device, attach a
 * file (with an offset, a size limit, a sector size, read-only, partition
 * scan, direct I/O, autoclear), detach one or all, resize after the file
 * grew, find the devices that back a file, and read each device's state
 * from sysfs.  Attaching is race-free: when another process takes the
 * device between "find" and "attach", the call moves on to the next free
 * one and never takes a device that someone else got.
 *
 * Devices are named by path ("/dev/loop3").  Every call returns 0 (or a
 * device number) on success and a negative errno on failure; on failure
 * plumb_loop_errmsg() holds a sentence a person can act on.
 */
#ifndef PLUMB_LOOP_H
#define PLUMB_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How to attach a file.  Zero-initialised means: whole file, read-write,
 * 512-byte sectors, no partition scan, buffered I/O, no autoclear. */
struct plumb_loop_config {
	uint64_t offset;      /* first byte of the file the device shows */
	uint64_t sizelimit;   /* bytes the device shows at most; 0 = to the end */
	unsigned sector_size; /* logical sector size; 0 = the kernel's default (512) */
	bool read_only;
	bool partscan;  /* let the kernel scan the device for partitions */
	bool direct_io; /* bypass the page cache for the backing file */
	bool autoclear; /* detach by itself when the last user closes it */
};

/* A device's state, as sysfs and the driver report it. */
struct plumb_loop_info {
	char name[32];        /* "/dev/loopN" */
	int number;           /* N */
	bool attached;        /* false: the fields below are zero */
	char back_file[4096]; /* backing file path as the kernel has it */
	uint64_t offset, sizelimit;
	uint64_t size; /* bytes the device shows */
	bool autoclear, read_only, direct_io, partscan;
	unsigned log_sec;                /* logical sector size */
	unsigned major, minor;           /* the device's numbers */
	uint64_t back_ino;               /* inode of the backing file */
	unsigned back_major, back_minor; /* device holding the backing file */
};

/*
 * plumb_loop_errmsg - the message of the last failed plumb_loop_* call on
 * this thread ("/tmp/x: no such file", ...).  Static, thread-local storage.
 */
const char *plumb_loop_errmsg(void);

/*
 * plumb_loop_find_free - the number of a free loop device, creating one when
 * all are taken.  Another process may take it before you attach it; use
 * plumb_loop_attach() to attach without that race.  Returns N or -errno.
 */
int plumb_loop_find_free(void);

/*
 * plumb_loop_attach - attach @file to the first free device (retrying on the
 * next when another process wins the race) and write its path into @dev
 * (@len bytes; 32 is enough).  @cfg may be NULL.  Uses LOOP_CONFIGURE where
 * the kernel has it, LOOP_SET_FD + LOOP_SET_STATUS64 otherwise.  Returns the
 * device number or -errno.
 */
int plumb_loop_attach(const char *file, const struct plumb_loop_config *cfg, char *dev, size_t len);

/*
 * plumb_loop_attach_to - attach @file to the given device @dev, which must be
 * free (-EBUSY otherwise).  Returns the device number or -errno.
 */
int plumb_loop_attach_to(const char *dev, const char *file, const struct plumb_loop_config *cfg);

/*
 * plumb_loop_detach - detach @dev.  If the device is still open (mounted),
 * the kernel detaches it when the last user closes it.  Returns 0 or -errno
 * (-ENXIO when it was not attached).
 */
int plumb_loop_detach(const char *dev);

/*
 * plumb_loop_detach_wait - detach @dev and wait, up to @timeout_ms, until the
 * kernel has really let go of the file: while another process (udev probing
 * a new device, say) holds the device open, the detach is only scheduled.
 * Returns 0, -ETIMEDOUT if it is still pending (it happens when the last
 * user closes the device), or -errno as plumb_loop_detach().
 */
int plumb_loop_detach_wait(const char *dev, int timeout_ms);

/*
 * plumb_loop_detach_all - detach every attached loop device on the machine.
 * Returns the number detached or the first -errno met (it goes on past it).
 */
int plumb_loop_detach_all(void);

/* plumb_loop_set_capacity - make @dev show the backing file's new size. 0 or -errno. */
int plumb_loop_set_capacity(const char *dev);

/* plumb_loop_set_direct_io - turn direct I/O on @dev on or off. 0 or -errno. */
int plumb_loop_set_direct_io(const char *dev, bool on);

/*
 * plumb_loop_info - read @dev's state into @info.  A free device gives 0 with
 * info->attached false.  Returns 0 or -errno (-ENODEV: not a loop device).
 */
int plumb_loop_info(const char *dev, struct plumb_loop_info *info);

/*
 * plumb_loop_foreach - call @fn for every attached device, lowest number
 * first.  Stops when @fn returns non-zero and returns that value; else 0, or
 * -errno when sysfs cannot be read.
 */
int plumb_loop_foreach(int (*fn)(const struct plumb_loop_info *info, void *arg), void *arg);

/*
 * plumb_loop_find_by_file - call @fn for every device backed by @file (same
 * inode on the same filesystem) and, when @use_offset, at @offset.  Returns
 * the number of devices found (after @fn returned 0 for each), @fn's non-zero
 * value, or -errno.
 */
int plumb_loop_find_by_file(const char *file, bool use_offset, uint64_t offset,
                            int (*fn)(const struct plumb_loop_info *info, void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif
