/*
 * pg-load.c - finds libpq at run time and fills pg_api (see pg-load.h).
 *
 * The soname is libpq.so.5, the one ABI libpq has had since PostgreSQL 8.0
 * and which Debian's libpq5 package installs.  A missing library or symbol
 * is an error a person can act on ("install libpq5"), reported when a
 * PostgreSQL source is opened, never at start-up.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <plumb/error.h>

#define PG_LOAD_NO_MACROS
#include "pg-load.h"

#define LIBPQ_SONAME "libpq.so.5"

struct pg_api pg_api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256]; /* "" once loaded */

static void load(void)
{
	void *h = dlopen(LIBPQ_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		snprintf(load_error, sizeof load_error,
		         "cannot load the PostgreSQL client library %s (Debian: apt install libpq5): %s",
		         LIBPQ_SONAME, why ? why : "unknown error");
		return;
	}
#define PG_LOAD_SYMBOL(f)                                                                        \
	if (!(pg_api.f = (__typeof__(f) *)dlsym(h, #f))) {                                       \
		snprintf(load_error, sizeof load_error, "%s has no %s: too old a libpq",         \
		         LIBPQ_SONAME, #f);                                                       \
		dlclose(h);                                                                      \
		memset(&pg_api, 0, sizeof pg_api);                                               \
		return;                                                                          \
	}
	PG_LOAD_FUNCTIONS(PG_LOAD_SYMBOL)
#undef PG_LOAD_SYMBOL
}

int pg_load(char *err, size_t errlen)
{
	/* The first failure is kept: dlopen would fail the same way again. */
	if (pthread_once(&once, load) == 0 && !pg_api.PQconnectdbParams) {
		if (!load_error[0])
			snprintf(load_error, sizeof load_error, "cannot load %s", LIBPQ_SONAME);
		if (err && errlen)
			snprintf(err, errlen, "%s", load_error);
		return PLUMB_EDB;
	}
	return 0;
}
