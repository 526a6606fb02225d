/*
 * hash-main.c - plumb-hash: `plumb hash` as a program of its own.
 *
 * plumb execs it with the subcommand's arguments (see main.c), so that
 * only this program loads libcrypto: mapping and relocating it cost every
 * other command about 1 ms of CPU at start, which `plumb loop` run once a
 * device (as losetup is) pays every time.
 */
#include "cmd.h"

int main(int argc, char **argv)
{
	prog_name = "plumb hash";
	return cmd_hash(argc, argv);
}
