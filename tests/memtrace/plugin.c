/*
 * plugin.c - a shared object that dlopen.c loads at run time: it leaks a
 * block when it is loaded (its constructor, PLUGIN_INIT) and one each time
 * plugin_alloc() is called (PLUGIN_ALLOC): 4321 bytes, then the size
 * dlopen.c asks for.
 */
#include <stddef.h>
#include <stdlib.h>

void *plugin_alloc(size_t n);

/* volatile: stores the compiler may not drop, so neither the blocks. */
static void *volatile kept[4];

static __attribute__((constructor)) void plugin_init(void)
{
	kept[0] = malloc(4321); /* PLUGIN_INIT */
}

__attribute__((noinline)) void *plugin_alloc(size_t n)
{
	void *p = malloc(n); /* PLUGIN_ALLOC */
	kept[1] = p;
	return p;
}
