/*
 * pg-load.h - libpq, loaded when the first PostgreSQL source is opened.
 *
 * libpq brings Kerberos, LDAP, GnuTLS, SASL and p11-kit with it: 3.6 MiB
 * of resident pages in every process that maps them, which would be most
 * of an SQLite export's memory.  So libplumb does not link it; postgres.c
 * calls it through this table, filled by dlopen (pg-load.c).  Each libpq
 * function the driver uses is named here once, and the macros below make
 * `PQfoo(...)` in postgres.c a call through the table, so the driver reads
 * as plain libpq.  Only postgres.c includes this file.
 */
#ifndef PLUMB_PG_LOAD_H
#define PLUMB_PG_LOAD_H

#include <stddef.h>

#include <libpq-fe.h>

#define PG_LOAD_FUNCTIONS(X)                                                                     \
	X(PQclear)                                                                               \
	X(PQresultStatus)                                                                        \
	X(PQgetvalue)                                                                            \
	X(PQgetCopyData)                                                                         \
	X(PQfreemem)                                                                             \
	X(PQresultErrorField)                                                                    \
	X(PQntuples)                                                                             \
	X(PQexec)                                                                                \
	X(PQcancel)                                                                              \
	X(PQprepare)                                                                             \
	X(PQgetResult)                                                                           \
	X(PQexecParams)                                                                          \
	X(PQerrorMessage)                                                                        \
	X(PQdescribePrepared)                                                                    \
	X(PQstatus)                                                                              \
	X(PQnfields)                                                                             \
	X(PQgetisnull)                                                                           \
	X(PQgetCancel)                                                                           \
	X(PQftype)                                                                               \
	X(PQfreeCancel)                                                                          \
	X(PQfname)                                                                               \
	X(PQfinish)                                                                              \
	X(PQconnectdbParams)

struct pg_api {
#define PG_LOAD_FIELD(f) __typeof__(f) *f;
	PG_LOAD_FUNCTIONS(PG_LOAD_FIELD)
#undef PG_LOAD_FIELD
};

extern struct pg_api pg_api;

/* pg_load - loads libpq (once; safe from any thread).  0, or PLUMB_EDB
 * with a message in err saying which library could not be loaded and why. */
int pg_load(char *err, size_t errlen);

#ifndef PG_LOAD_NO_MACROS
#define PQclear            pg_api.PQclear
#define PQresultStatus     pg_api.PQresultStatus
#define PQgetvalue         pg_api.PQgetvalue
#define PQgetCopyData      pg_api.PQgetCopyData
#define PQfreemem          pg_api.PQfreemem
#define PQresultErrorField pg_api.PQresultErrorField
#define PQntuples          pg_api.PQntuples
#define PQexec             pg_api.PQexec
#define PQcancel           pg_api.PQcancel
#define PQprepare          pg_api.PQprepare
#define PQgetResult        pg_api.PQgetResult
#define PQexecParams       pg_api.PQexecParams
#define PQerrorMessage     pg_api.PQerrorMessage
#define PQdescribePrepared pg_api.PQdescribePrepared
#define PQstatus           pg_api.PQstatus
#define PQnfields          pg_api.PQnfields
#define PQgetisnull        pg_api.PQgetisnull
#define PQgetCancel        pg_api.PQgetCancel
#define PQftype            pg_api.PQftype
#define PQfreeCancel       pg_api.PQfreeCancel
#define PQfname            pg_api.PQfname
#define PQfinish           pg_api.PQfinish
#define PQconnectdbParams  pg_api.PQconnectdbParams
#endif

#endif
