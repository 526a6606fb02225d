/*
 * main.c - the plumb command: global options and dispatch to a subcommand.
 *
 * Each subcommand lives in a file of its own (hash.c, ...) and is reached
 * through the table below; this file knows nothing else about them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plumb/plumb.h>

#include "cmd.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
        {"batch", cmd_batch, "run a command for each input, K at a time (xargs -P, GNU parallel)"},
        {"export", cmd_export, "stream a query to stdout, a file, HTTP or S3, with its SHA-256"},
        {"hash", cmd_hash, "print or check message digests, several in one read"},
        {"image", cmd_image, "make a file a filesystem: create, attach, mkfs, mount, and back"},
        {"loop", cmd_loop, "set up and control loop devices (a losetup peer)"},
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
		printf("plumb %s\n", plumb_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (!strcmp(name, commands[i].name)) {
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
