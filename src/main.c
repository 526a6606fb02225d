/*
 * main.c - the plumb command: global options and dispatch to a subcommand.
 *
 * Each subcommand lives in a file of its own (hash.c, ...) and is reached
 * through the table below; this file knows nothing else about them.
 *
 * `plumb export`, `plumb hash` and `plumb image` are programs of their
 * own, plumb-export, plumb-hash and plumb-image, that this one execs:
 * export alone needs SQLite, OpenSSL, zlib, zstd and expat (and libpq with
 * the dozens of libraries it pulls in, loaded for PostgreSQL sources),
 * hash alone libcrypto, image alone libblkid, and their loading would
 * otherwise cost every command about 6 ms, 1 ms and 0.1 ms of CPU at
 * start (a batch of short jobs or a loop of losetup-like calls pays that
 * each time).  `plumb memtrace` is plumb-memtrace for the same reason: it
 * alone loads libdw.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <plumb/version.h>

#include "cmd.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv); /* NULL: exec the program helper */
	const char *summary;
	const char *helper;
};

static const struct command commands[] = {
        {"batch", cmd_batch, "run a command for each input, K at a time (xargs -P, GNU parallel)",
         NULL},
        {"export", NULL, "stream a query to stdout, a file, HTTP or S3, with its SHA-256",
         "plumb-export"},
        {"hash", NULL, "print or check message digests, several in one read", "plumb-hash"},
        {"image", NULL, "make a file a filesystem: create, attach, mkfs, mount, and back",
         "plumb-image"},
        {"loop", cmd_loop, "set up and control loop devices (a losetup peer)", NULL},
        {"memtrace", NULL, "trace a program's heap, as Python's tracemalloc: reports, pictures",
         "plumb-memtrace"},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: plumb COMMAND [OPTION]... [ARG]...\n"
	             "       plumb --help | --version\n\n"
	             "Streaming I/O tools built on libplumb.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'plumb COMMAND --help' tells more of each; see also plumb(1).\n");
}

/* Runs helper with argv (argv[0] is the subcommand's name): from this
 * program's own folder (the build tree), else from PLUMB_LIBEXECDIR.
 * Returns only when neither can be run. */
static int exec_helper(const char *helper, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof path, "%s/%s", self, helper);
			if (access(path, X_OK) == 0)
				execv(path, argv);
		}
	}
	snprintf(path, sizeof path, "%s/%s", PLUMB_LIBEXECDIR, helper);
	execv(path, argv);
	fprintf(stderr, "plumb: cannot run %s: %s\n", path, strerror(errno));
	return 126;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
		printf("plumb %s\n", PLUMB_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (!strcmp(name, commands[i].name)) {
			if (!commands[i].run)
				return exec_helper(commands[i].helper, argv + 1);
			static char buf[64];
			snprintf(buf, sizeof buf, "plumb %s", name);
			prog_name = buf;
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "plumb: unknown command '%s'\n", name);
	fprintf(stderr, "Try 'plumb --help' for the list of commands.\n");
	return 2;
}
