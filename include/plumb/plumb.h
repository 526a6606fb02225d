/*
 * plumb/plumb.h - all of libplumb in one include, and its version.
 */
#ifndef PLUMB_PLUMB_H
#define PLUMB_PLUMB_H

#include <plumb/batch.h>
#include <plumb/compress.h>
#include <plumb/db.h>
#include <plumb/encode.h>
#include <plumb/error.h>
#include <plumb/export.h>
#include <plumb/hash.h>
#include <plumb/http.h>
#include <plumb/io.h>
#include <plumb/loop.h>
#include <plumb/s3.h>
#include <plumb/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library the program runs with, as "MAJOR.MINOR.PATCH"
 * (PLUMB_VERSION is the one it was compiled against). */
const char *plumb_version(void);

#ifdef __cplusplus
}
#endif
#endif
