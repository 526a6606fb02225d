/*
 * memtrace-main.c - plumb-memtrace: `plumb memtrace` as a program of its
 * own.
 *
 * plumb execs it with the subcommand's arguments (see main.c), so that only
 * this program loads libdw and the rest of memtrace's analysis half.  It
 * links that half alone, never the tracer, so its own allocations are not
 * traced.
 *
 * libdw asks a debuginfod server for missing debug information when
 * DEBUGINFOD_URLS is set (Debian sets it for login shells), deciding so in
 * a constructor, before main.  A report must not wait on the network for
 * every module without debug symbols, so this program drops the variable
 * and starts again, unless PLUMB_MEMTRACE_DEBUGINFOD=1 asks for the server.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

int main(int argc, char **argv)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	const char *want = getenv("PLUMB_MEMTRACE_DEBUGINFOD");
	if (urls && *urls && !(want && !strcmp(want, "1"))) {
		unsetenv("DEBUGINFOD_URLS");
		execv("/proc/self/exe", argv);
		/* Could not start again: go on; the lookups may be slow. */
	}
	prog_name = "plumb memtrace";
	return cmd_memtrace(argc, argv);
}
