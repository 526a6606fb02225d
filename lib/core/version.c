/* version.c - the version of the library that is running. */
#include <plumb/plumb.h>

const char *plumb_version(void)
{
	return PLUMB_VERSION;
}
