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

/*
 * GnuTLS comes in with libcurl (through librtmp) and libpq (through libldap),
 * and its constructor initialises the library as it loads: p11-kit, its
 * PKCS#11 module list, the random generator, about 0.8 MiB of resident
 * memory in every export, although plumb's TLS is OpenSSL's (libcurl's
 * OpenSSL build) and nothing here speaks GnuTLS.  Defining this function in
 * the program is GnuTLS's documented way to skip that (GNUTLS_SKIP_GLOBAL_INIT
 * in gnutls.h, which defines exactly this); the two libraries that use GnuTLS
 * call gnutls_global_init themselves before they do.
 */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
	return 1;
}
