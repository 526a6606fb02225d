/*
 * forkexec.c - a traced process, a forked child and an exec'd child, each
 * leaking its own known blocks.
 *
 *   forkexec PIDFILE
 *
 * The parent leaks 1 block of PARENT_SIZE (FE_PARENT), then forks a child
 * that leaks FORK_N blocks of FORK_SIZE (FE_FORK) and exits through exit()
 * (so the tracer's exit snapshot is written); then forks a child that
 * execs this program again as "forkexec --exec-child", which leaks EXEC_N
 * blocks of EXEC_SIZE (FE_EXEC).  Each traced process writes a trace file
 * of its own.  PIDFILE gets "parent P", "fork F" and "exec E" lines so the
 * test can find the files.  Exit status 0 when both children exited 0.
 * Nothing goes through stdio (its buffer would be one more block).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mt-test.h"

enum {
	PARENT_SIZE = 1111,
	FORK_N = 3,
	FORK_SIZE = 2222,
	EXEC_N = 5,
	EXEC_SIZE = 3333,
};

static int exec_child(void)
{
	for (int i = 0; i < EXEC_N; i++) {
		leaked[i] = malloc(EXEC_SIZE); /* FE_EXEC */
		if (!leaked[i])
			return 1;
	}
	return 0;
}

static void fork_child(void)
{
	for (int i = 0; i < FORK_N; i++) {
		leaked[1 + i] = malloc(FORK_SIZE); /* FE_FORK */
		if (!leaked[1 + i])
			exit(1);
	}
	exit(0);
}

static int wait_ok(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--exec-child"))
		return exec_child();
	if (argc != 2)
		return 2;

	leaked[0] = malloc(PARENT_SIZE); /* FE_PARENT */
	if (!leaked[0])
		return 1;

	pid_t forked = fork();
	if (forked < 0)
		return 1;
	if (forked == 0)
		fork_child();
	if (!wait_ok(forked))
		return 1;

	pid_t execed = fork();
	if (execed < 0)
		return 1;
	if (execed == 0) {
		char *args[] = {argv[0], "--exec-child", NULL};
		execv("/proc/self/exe", args);
		_exit(127);
	}
	if (!wait_ok(execed))
		return 1;

	char text[128];
	int n = snprintf(text, sizeof text, "parent %d\nfork %d\nexec %d\n", (int)getpid(),
	                 (int)forked, (int)execed);
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) != 0)
		return 1;
	return 0;
}
