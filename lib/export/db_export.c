/*
 * db_export.c - a query's rows through an encoder: the loop the export
 * pipeline's producer thread runs.
 *
 * It stops at the first failure.  A failed write is the usual way the other
 * end of a pipe says "stop" (its reader closed with an error), so the
 * writer's error is what comes back, and the query is ended on the database
 * so the connection is left usable.  The cancel flag and the row counter are
 * shared with other threads, read and written with relaxed atomics: one
 * plain load and one plain store a row on x86-64.
 */
#include <errno.h>

#include "encode-internal.h"

int64_t plumb_db_export(plumb_db *db, plumb_encoder *enc, const atomic_int *cancel,
                        _Atomic uint64_t *rows)
{
	size_t ncols = plumb_db_columns(db);
	const plumb_db_column *cols = ncols ? plumb_db_column_at(db, 0) : NULL;
	int64_t count = 0;
	int rc = plumb_encoder_begin(enc, cols, ncols);
	while (rc == 0) {
		if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
			rc = -ECANCELED;
			break;
		}
		const plumb_value *row;
		rc = plumb_db_next(db, &row);
		if (rc <= 0)
			break;
		rc = plumb_encoder_row(enc, row);
		if (rc < 0)
			break;
		count++;
		if (rows)
			atomic_store_explicit(rows, (uint64_t)count, memory_order_relaxed);
	}
	if (rc < 0) {
		if (cancel && atomic_load_explicit(cancel, memory_order_relaxed))
			rc = -ECANCELED;
		plumb_db_finish(db);
		return rc;
	}
	rc = plumb_encoder_end(enc);
	return rc < 0 ? rc : count;
}
