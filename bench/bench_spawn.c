/*
 * bench_spawn - a floor for `plumb batch`: runs CMD ARGS... LINE for each
 * line of stdin, at most J at once, doing nothing a job runner can skip.
 *
 *   bench_spawn J CMD [ARGS...] <inputs
 *
 * The command is looked up in PATH once; each job is one posix_spawn
 * (glibc's is a vfork-style clone, as plumb's) and one wait; its output
 * goes straight to ours, uncaptured and unordered; nothing is logged.  A
 * runner that spawns with posix_spawn can only be slower than this (plumb
 * can be a little faster: its own clone skips the 36 KiB stack glibc maps
 * and unmaps for each child).  bench/batch.sh runs it beside plumb batch
 * and xargs to show how much of a job's time is the job's own.
 */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* CMD's path: as given when it has a slash, else the first executable
 * file of that name in PATH. */
static const char *lookup(const char *cmd, char *buf, size_t size)
{
	if (strchr(cmd, '/'))
		return cmd;
	const char *path = getenv("PATH");
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		snprintf(buf, size, "%.*s/%s", (int)n, p, cmd);
		if (access(buf, X_OK) == 0)
			return buf;
		p += n + (p[n] == ':');
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char *end;
	long jobs = argc > 2 ? strtol(argv[1], &end, 10) : 0;
	if (argc < 3 || *end || jobs < 1) {
		fprintf(stderr, "usage: bench_spawn J CMD [ARGS...] <inputs\n");
		return 2;
	}
	char path[PATH_MAX];
	const char *exe = lookup(argv[2], path, sizeof path);
	if (!exe) {
		fprintf(stderr, "bench_spawn: %s: command not found\n", argv[2]);
		return 127;
	}
	int nfixed = argc - 2;
	char **args = calloc((size_t)nfixed + 2, sizeof *args);
	if (!args)
		return 1;
	memcpy(args, argv + 2, (size_t)nfixed * sizeof *args);

	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long running = 0, failed = 0;
	int st;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (running == jobs) {
			if (wait(&st) < 0)
				return 1;
			running--;
			failed += st != 0;
		}
		args[nfixed] = line;
		pid_t pid;
		int rc = posix_spawn(&pid, exe, NULL, NULL, args, environ);
		if (rc) {
			fprintf(stderr, "bench_spawn: %s: %s\n", exe, strerror(rc));
			failed++;
			continue;
		}
		running++;
	}
	while (running && wait(&st) > 0) {
		running--;
		failed += st != 0;
	}
	free(line);
	free(args);
	return failed ? 1 : 0;
}
