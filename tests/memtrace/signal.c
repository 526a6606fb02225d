/*
 * signal.c - a program whose heap differs before and after a snapshot
 * signal, and that can die by SIGKILL mid-run.
 *
 *   signal raise|wait|kill READYFILE GOFILE
 *
 * It allocates BEFORE_N blocks of BEFORE_SIZE (SIG_BEFORE), writes its pid
 * to READYFILE, and then:
 *   raise  raises SIGUSR2 itself (the tracer's snapshot signal);
 *   wait   leaves it to the test to send SIGUSR2;
 *   kill   raises SIGUSR2 like raise.
 * It waits until GOFILE exists (the test creates it once it has seen the
 * signal snapshot in the trace file: the tracer takes it asynchronously),
 * frees the BEFORE blocks and leaks AFTER_N blocks of AFTER_SIZE
 * (SIG_AFTER).  Then "raise" and "wait" exit 0; "kill" raises SIGKILL, so
 * the trace file ends without its exit snapshot and summary.
 * It gives up (exit 2) when GOFILE has not come after WAIT_S seconds.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	BEFORE_N = 5,
	BEFORE_SIZE = 1000,
	AFTER_N = 2,
	AFTER_SIZE = 7777,
	WAIT_S = 120,
};

/* volatile: stores the compiler may not drop, so neither the blocks. */
static void *volatile blocks[BEFORE_N + AFTER_N];

static int write_pid(const char *path)
{
	char tmp[4096], text[32];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	n = snprintf(text, sizeof text, "%d\n", (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)n) != n || close(fd) != 0)
		return -1;
	return rename(tmp, path); /* the test never reads half a pid */
}

static int wait_for(const char *path)
{
	const struct timespec ms = {0, 1000000};
	for (long i = 0; i < WAIT_S * 1000L; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		nanosleep(&ms, NULL);
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	const char *mode = argv[1];
	int raise_it = !strcmp(mode, "raise") || !strcmp(mode, "kill");
	if (!raise_it && strcmp(mode, "wait"))
		return 2;

	for (int i = 0; i < BEFORE_N; i++)
		if (!(blocks[i] = malloc(BEFORE_SIZE))) /* SIG_BEFORE */
			return 1;
	if (write_pid(argv[2]) != 0)
		return 1;
	if (raise_it)
		raise(SIGUSR2);
	if (wait_for(argv[3]) != 0)
		return 2;

	for (int i = 0; i < BEFORE_N; i++)
		free(blocks[i]);
	for (int i = 0; i < AFTER_N; i++)
		if (!(blocks[BEFORE_N + i] = malloc(AFTER_SIZE))) /* SIG_AFTER */
			return 1;
	if (!strcmp(mode, "kill"))
		raise(SIGKILL);
	return 0;
}
