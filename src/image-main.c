/*
 * image-main.c - plumb-image: `plumb image` as a program of its own.
 *
 * plumb execs it with the subcommand's arguments (see main.c), so that
 * only this program loads libblkid: the other commands, `plumb loop` run
 * once a device above all, start without it.
 */
#include "cmd.h"

int main(int argc, char **argv)
{
	prog_name = "plumb image";
	return cmd_image(argc, argv);
}
