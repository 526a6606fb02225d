/*
 * handler.c - a program that allocates inside a signal handler.
 *
 * interrupted() raises SIGUSR1 (RAISED_HERE); the handler, on the same
 * stack, leaks one block of HANDLER_SIZE (IN_HANDLER).  The block's
 * traceback must go through the signal frame: the handler, the C library's
 * raise, then interrupted() at the raise and main at its call
 * (INTERRUPTED_CALL), as a debugger's backtrace shows it.
 */
#include <signal.h>
#include <stdlib.h>

#include "mt-test.h"

enum { HANDLER_SIZE = 4321 };

static void on_usr1(int sig)
{
	(void)sig;
	leaked[0] = malloc(HANDLER_SIZE); /* IN_HANDLER */
}

static __attribute__((noinline)) int interrupted(void)
{
	int rc = raise(SIGUSR1); /* RAISED_HERE */
	__asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
	return rc;
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		return 1;
	if (interrupted() != 0) /* INTERRUPTED_CALL */
		return 1;
	return leaked[0] ? 0 : 1;
}
