/*
 * export-main.c - plumb-export: `plumb export` as a program of its own.
 *
 * plumb execs it with the subcommand's arguments (see main.c), so that
 * only this program loads libcurl, libpq and what they depend on.
 */
#include "cmd.h"

int main(int argc, char **argv)
{
	prog_name = "plumb export";
	return cmd_export(argc, argv);
}
