/*
 * compress.c - picks the format file for an algorithm name.
 */
#include <errno.h>
#include <strings.h>

#include "compress-internal.h"

enum { GZIP, ZSTD, UNKNOWN };

static int format_of(const char *algo)
{
	if (!algo)
		return UNKNOWN;
	if (!strcasecmp(algo, "gzip") || !strcasecmp(algo, "gz"))
		return GZIP;
	if (!strcasecmp(algo, "zstd") || !strcasecmp(algo, "zst"))
		return ZSTD;
	return UNKNOWN;
}

int plumb_compress_writer_new(plumb_writer **out, const char *algo, int level, plumb_writer *dst)
{
	*out = NULL;
	switch (format_of(algo)) {
	case GZIP:
		if (level < 0 || level > 9)
			return -EINVAL;
		return gzip_writer_new(out, level, dst);
	case ZSTD:
		if (level < 0 || level > 19)
			return -EINVAL;
		return zstd_writer_new(out, level, dst);
	}
	return PLUMB_EALGO;
}

int plumb_decompress_reader_new(plumb_reader **out, const char *algo, plumb_reader *src)
{
	*out = NULL;
	switch (format_of(algo)) {
	case GZIP:
		return gzip_reader_new(out, src);
	case ZSTD:
		return zstd_reader_new(out, src);
	}
	return PLUMB_EALGO;
}

const char *plumb_compress_suffix(const char *algo)
{
	switch (format_of(algo)) {
	case GZIP:
		return ".gz";
	case ZSTD:
		return ".zst";
	}
	return NULL;
}
