/*
 * errmsg.c - the loop module's last error message, one per thread.
 *
 * The calls return -errno like the rest of libplumb, but "-ENOENT" alone
 * does not say whether the file, the device or /dev/loop-control is
 * missing; the message does.
 */
#include <stdarg.h>
#include <stdio.h>

#include <plumb/loop.h>

#include "loop-internal.h"

static __thread char msg[512];

int loop_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return code;
}

const char *plumb_loop_errmsg(void)
{
	return msg;
}
