/*
 * export-main.c - plumb-export: `plumb export` as a program of its own.
 *
 * plumb execs it with the subcommand's arguments (see main.c), so that
 * only this program loads SQLite, OpenSSL, zlib, zstd and expat (and
 * libpq, when a PostgreSQL source is opened).
 */
#include "cmd.h"

int main(int argc, char **argv)
{
	prog_name = "plumb export";
	return cmd_export(argc, argv);
}

/*
 * GnuTLS comes in with libpq (through libldap) when a PostgreSQL source is
 * opened, and its constructor initialises the library as it loads:
 * p11-kit, its PKCS#11 module list, the random generator, about 0.8 MiB of
 * resident memory, although plumb's TLS is OpenSSL's and nothing here
 * speaks GnuTLS.  Defining this function in the program is GnuTLS's
 * documented way to skip that (GNUTLS_SKIP_GLOBAL_INIT in gnutls.h, which
 * defines exactly this); libldap, the one user of GnuTLS, calls
 * gnutls_global_init itself before it does.
 */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
	return 1;
}
