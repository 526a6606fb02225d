/*
 * loop-internal.h - what the loop module's files share: the thread's last
 * error message and opening a path that must be a loop device.
 */
#ifndef PLUMB_LOOP_INTERNAL_H
#define PLUMB_LOOP_INTERNAL_H

#include <stddef.h>

#define LOOP_CONTROL "/dev/loop-control"

/* Records "fmt..." as the thread's message and returns @code (negative). */
int loop_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens @dev (which must be a loop block device) with @flags | O_CLOEXEC;
 * returns the fd, or -errno with the message set (-ENODEV: not a loop). */
int loop_open(const char *dev, int flags);

/* Set (tests only) to attach with LOOP_SET_FD + LOOP_SET_STATUS64 even
 * where the kernel has LOOP_CONFIGURE, so that path is tested too. */
extern int loop_force_legacy;

/* The number N of "/dev/loopN" (or "loopN"), or -1. */
int loop_number(const char *dev);

#endif
