/*
 * plumb/encode.h - rows turned into NDJSON, CSV or a JSON array, written to
 * a plumb_writer.
 *
 * An encoder takes the columns once (plumb_encoder_begin), then rows of
 * plumb_value (plumb/db.h), and writes text to its writer.  Output is
 * gathered in a buffer and written in pieces of exactly
 * PLUMB_ENCODE_BUFSIZE (64 KiB) bytes, but the last, so a pipe behind it
 * sees big writes; a value bigger than that goes out in pieces as well, so
 * memory stays bounded whatever the rows hold.
 *
 * Formats:
 *   ndjson  one JSON object a row, keys in column order, then "\n".
 *   json    one JSON array of the same objects: "[" rows joined by ",\n"
 *           "]\n"; "[]\n" for no rows.
 *   csv     RFC 4180 with LF line ends: a header line of the column names
 *           (unless no_header), then a line a row.  A field is quoted when
 *           it holds a comma, a double quote, CR or LF; when it is the
 *           empty string (so it differs from NULL, an empty unquoted
 *           field); or, in a row of one column, when it is exactly \. (as
 *           PostgreSQL's COPY does).  Quotes inside are doubled.  Leading
 *           and trailing spaces are kept and cause no quoting.  Bytes are
 *           written as they are (CSV has no escapes to repair bad UTF-8).
 *
 * Values in JSON: NULL -> null; INT -> a number; FLOAT, FLOAT4 -> the
 * shortest decimal that reads back to the same double (or float), in
 * JavaScript's notation (1e+21, 1.5e-7; -0.0 -> -0), NaN and +-Infinity ->
 * null; BOOL -> true/false; TEXT -> a string; BLOB -> a string of standard,
 * padded base64; NUMERIC -> a string, or with numeric_as_number a bare number
 * (NaN and +-Infinity then null; text that is no JSON number stays a
 * string); JSON -> embedded as it is, less the
 * whitespace around it (raw CR and LF inside, only possible as whitespace,
 * become spaces so NDJSON stays one line; an empty document is null);
 * ARRAY -> a JSON array of its elements.
 * Strings are escaped as RFC 8259 requires and no more: \" \\ \b \f \n \r \t
 * and \u00XX for other control characters; '/', DEL and non-ASCII (U+2028
 * too) are left as they are.  Invalid UTF-8 becomes U+FFFD, one for each
 * maximal invalid subsequence (as Unicode recommends), so the output is always
 * valid UTF-8 and valid JSON.  Duplicate column names stay duplicate keys.
 *
 * Values in CSV: NULL -> empty; INT, FLOAT, FLOAT4 -> as in JSON, but NaN,
 * Infinity, -Infinity spelled out; BOOL -> true/false; TEXT, NUMERIC, JSON
 * -> their text; BLOB -> base64; ARRAY -> its JSON text.
 */
#ifndef PLUMB_ENCODE_H
#define PLUMB_ENCODE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <plumb/db.h>
#include <plumb/io.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plumb_encoder plumb_encoder;

/* Options; all zero is the default. */
typedef struct plumb_encode_options {
	int numeric_as_number; /* JSON: NUMERIC as a bare number, not a string */
	int no_header;         /* CSV: no header line */
} plumb_encode_options;

/* The size of every write to the writer but the last. */
#define PLUMB_ENCODE_BUFSIZE (64 * 1024)

/*
 * plumb_encoder_new - an encoder of format ("ndjson", "json" or "csv"; case
 * does not matter; "jsonl" is ndjson) writing to w, which it does not own.
 * opt may be NULL.  Stores it in *out and returns 0, PLUMB_EALGO for an
 * unknown format, or -ENOMEM.
 */
int plumb_encoder_new(plumb_encoder **out, const char *format, const plumb_encode_options *opt,
                      plumb_writer *w);

/* Frees enc (NULL is fine) without writing anything more. */
void plumb_encoder_free(plumb_encoder *enc);

/* The NULL-terminated list of the format names plumb_encoder_new takes. */
const char *const *plumb_encoder_formats(void);

/*
 * plumb_encoder_begin - take the n columns (only the names are used; they
 * are copied) and write what comes first: the CSV header, JSON's "[".
 * Call once.  Returns 0 or a negative error.
 */
int plumb_encoder_begin(plumb_encoder *enc, const plumb_db_column *cols, size_t n);

/*
 * plumb_encoder_row - encode one row of n values (n as given to begin).
 * Returns 0 or a negative error: the writer's error when a write failed.
 * After an error every call returns it again and writes nothing.
 */
int plumb_encoder_row(plumb_encoder *enc, const plumb_value *row);

/* Writes out what is buffered.  Returns 0 or the (sticky) error. */
int plumb_encoder_flush(plumb_encoder *enc);

/* plumb_encoder_end - write what comes last (JSON's "]") and flush.
 * Returns 0 or the (sticky) error. */
int plumb_encoder_end(plumb_encoder *enc);

/* The number of rows encoded so far. */
uint64_t plumb_encoder_rows(const plumb_encoder *enc);

/*
 * plumb_db_export - run db's current query (started with plumb_db_query or
 * plumb_db_query_table) through enc: begin, every row, end.  cancel (may be
 * NULL) is checked before every row: nonzero stops with -ECANCELED; *rows
 * (may be NULL) is stored after every row so another thread can show
 * progress.  Stops at the first error and ends the query on the database.
 * Returns the number of rows, or the error: PLUMB_EDB (message in db), or
 * the writer's error when a write failed.
 */
int64_t plumb_db_export(plumb_db *db, plumb_encoder *enc, const atomic_int *cancel,
                        _Atomic uint64_t *rows);

/*
 * plumb_json_append_string - append the n bytes at s to b as a JSON string
 * (quotes included), escaped as described above, invalid UTF-8 replaced.
 * Returns 0 or -ENOMEM (then b is left as it was).
 */
int plumb_json_append_string(plumb_buffer *b, const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
