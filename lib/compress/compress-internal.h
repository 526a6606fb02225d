/* compress-internal.h - the constructors each format file provides. */
#ifndef PLUMB_COMPRESS_INTERNAL_H
#define PLUMB_COMPRESS_INTERNAL_H

#include <plumb/compress.h>

/* The size of the staging buffers: big enough that the next writer sees
 * large writes, small enough to stay in cache. */
#define COMPRESS_CHUNK (128 * 1024)

int gzip_writer_new(plumb_writer **out, int level, plumb_writer *dst);
int gzip_reader_new(plumb_reader **out, plumb_reader *src);
int zstd_writer_new(plumb_writer **out, int level, plumb_writer *dst);
int zstd_reader_new(plumb_reader **out, plumb_reader *src);

#endif
