/*
 * dlopen.c - allocations made before main and by a library loaded with
 * dlopen and unloaded again before exit.
 *
 *   dlopen PLUGIN.so [N]
 *
 * A constructor of this program leaks PREMAIN_SIZE (DL_PREMAIN) before
 * main runs.  main, N times (default 1), loads PLUGIN.so (plugin.c, whose
 * own constructor leaks 4321 bytes), calls plugin_alloc(PLUGIN_SIZE)
 * (leaked inside the plugin) and unloads it with dlclose: the plugin's
 * code is gone by the time the program exits, its blocks are not, and
 * their stacks must still read as plugin.c's lines.  What the loader
 * allocates for a load it frees at the dlclose, so what it still holds at
 * exit does not depend on N.  Exit status 1 when the plugin cannot be used.
 */
#include <dlfcn.h>
#include <stdlib.h>

enum { PREMAIN_SIZE = 2345, PLUGIN_SIZE = 5432 };

static void *volatile premain;

static __attribute__((constructor)) void before_main(void)
{
	premain = malloc(PREMAIN_SIZE); /* DL_PREMAIN */
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || !premain)
		return 2;
	int n = argc == 3 ? atoi(argv[2]) : 1;
	for (int i = 0; i < n; i++) {
		void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL); /* DL_OPEN */
		if (!h)
			return 1;
		void *(*plugin_alloc)(size_t) = (void *(*)(size_t))dlsym(h, "plugin_alloc");
		if (!plugin_alloc || !plugin_alloc(PLUGIN_SIZE))
			return 1;
		if (dlclose(h) != 0)
			return 1;
		if (dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD)) /* still loaded: not unloaded */
			return 1;
	}
	return 0;
}
