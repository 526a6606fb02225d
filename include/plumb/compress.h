/*
 * plumb/compress.h - compression as a writer, decompression as a reader.
 *
 * A compress writer sits in front of any writer: what is written to it goes
 * out compressed, in bounded pieces, so a stream of any length compresses in
 * constant memory.  A decompress reader does the reverse over any reader.
 * The formats are gzip (RFC 1952, zlib) and zstd (RFC 8878, libzstd).
 */
#ifndef PLUMB_COMPRESS_H
#define PLUMB_COMPRESS_H

#include <plumb/io.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * plumb_compress_writer_new - a writer that compresses into dst with algo
 * "gzip" or "zstd" at level (0: the format's default; gzip 1-9, zstd 1-19).
 * Its close finishes the stream (the trailer) and flushes it into dst; it
 * does not close dst.  Free without close drops the unfinished stream.
 * dst is not owned.  Returns 0 and sets *out, or PLUMB_EALGO for another
 * name, -EINVAL for a level out of range, -ENOMEM.
 */
int plumb_compress_writer_new(plumb_writer **out, const char *algo, int level, plumb_writer *dst);

/*
 * plumb_decompress_reader_new - a reader of what src holds compressed with
 * algo "gzip" (concatenated members are read as one stream, as gzip -d
 * does) or "zstd" (concatenated frames likewise).  Corrupt or truncated
 * input is PLUMB_EFORMAT.  src is not owned.  Returns 0 and sets *out, or
 * PLUMB_EALGO, -ENOMEM.
 */
int plumb_decompress_reader_new(plumb_reader **out, const char *algo, plumb_reader *src);

/* The file name suffix of a format: ".gz", ".zst"; NULL for another name. */
const char *plumb_compress_suffix(const char *algo);

#ifdef __cplusplus
}
#endif
#endif
