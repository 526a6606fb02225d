/*
 * memtrace.h - what the files of `plumb memtrace` share (memtrace.c,
 * memtrace-run.c, memtrace-svg.c, memtrace-html.c): the subcommands, the
 * helpers that open a trace file and pick a snapshot in it, the output file
 * written under a temporary name, and the pictures.
 *
 * The trace file is read with the analysis half of memtrace (analysis.h):
 * the command never links the tracer itself.
 */
#ifndef PLUMB_SRC_MEMTRACE_H
#define PLUMB_SRC_MEMTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <plumb/memtrace.h>

#include "analysis.h"
#include "pmt.h"

/* Exit statuses of the analysis subcommands. */
enum { MT_EXIT_OK = 0, MT_EXIT_FAIL = 1, MT_EXIT_USAGE = 2 };

/* The subcommands; argv[0] is the subcommand's name.  Each returns the
 * exit status. */
int mt_cmd_run(int argc, char **argv);
int mt_cmd_report(int argc, char **argv);
int mt_cmd_diff(int argc, char **argv);
int mt_cmd_leaks(int argc, char **argv);
int mt_cmd_flamegraph(int argc, char **argv);
int mt_cmd_plot(int argc, char **argv);
int mt_cmd_html(int argc, char **argv);

/* Prints "MESSAGE" and "Try 'plumb memtrace SUB --help'" on stderr and
 * returns MT_EXIT_USAGE. */
int mt_usage_error(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses the --top value (0: all); false when it is not a number. */
bool mt_parse_top(const char *s, size_t *out);

/* ---- Trace files and snapshots ---- */

/* mt_open - reads the trace at @path; on failure prints the reader's
 * message and returns NULL. */
struct pmt_trace *mt_open(const char *path);

/* mt_trace_peak - the traced heap's peak and when (ns): the summary's, or
 * for a trace that ends early the highest its samples saw. */
void mt_trace_peak(const struct pmt_trace *t, uint64_t *peak, uint64_t *t_ns);

/* The name of a PMT_SNAP_* kind: "exit", "interval", "signal", "api",
 * "peak" ("?" for others). */
const char *mt_kind_name(int kind);

/* A snapshot as the command line names it: a 0-based index, or "first",
 * "last", "peak", "exit". */
struct mt_pick {
	const char *arg; /* as given, for messages; NULL: the default */
	long index;      /* >= 0: that index */
	int kind;        /* PMT_SNAP_* when a kind was named */
	bool last, first;
};

/* mt_pick_parse - parses @s; false when it is none of the forms above. */
bool mt_pick_parse(const char *s, struct mt_pick *p);

/* mt_pick_resolve - the index @p names in @t, or -1 after printing why not
 * (out of range, no snapshot of that kind, no snapshot at all). */
long mt_pick_resolve(const struct mt_pick *p, const struct pmt_trace *t, const char *path);

/* mt_default_snapshot - the peak snapshot when there is one, else the last;
 * -1 when the file has none. */
long mt_default_snapshot(const struct pmt_trace *t);

/* mt_snapshot - pmt_trace_snapshot, with a message on failure. */
plumb_memtrace_snapshot *mt_snapshot(const struct pmt_trace *t, long k, const char *path);

/* mt_site_frame - the frame that names a block: the grouping key's frame
 * (mt_key_frame), or an "<unknown>" frame for an empty traceback. */
const plumb_memtrace_frame *mt_site_frame(const plumb_memtrace_traceback *tb);

/* ---- Text helpers ---- */

/* tracemalloc's size format ("78.1 KiB"), in a static-free buffer. */
struct mt_size {
	char s[32];
};
struct mt_size mt_size(double bytes);

/* mt_print_stat / mt_print_statdiff - one line of statistics or of a
 * comparison, as tracemalloc prints it, after @indent; never cut short. */
void mt_print_stat(FILE *f, const char *indent, const plumb_memtrace_stat *st);
void mt_print_statdiff(FILE *f, const char *indent, const plumb_memtrace_statdiff *d);

/* Writes @s as a JSON string (quotes included); NULL as null. */
void mt_json_str(FILE *f, const char *s);

/* Writes @s with &, <, >, " and ' escaped for XML and HTML text. */
void mt_xml_str(FILE *f, const char *s);

/* ---- Output files: written whole under a temporary name, then renamed ---- */

struct mt_out {
	FILE *f;
	char *path, *tmp;
};

/* mt_out_open - creates ".NAME.XXXXXX" beside @path; false after a message. */
bool mt_out_open(struct mt_out *o, const char *path);

/* mt_out_commit - flushes, syncs and renames onto the path; false after a
 * message (the temporary file is then removed). */
bool mt_out_commit(struct mt_out *o);

/* mt_out_abort - removes the temporary file. */
void mt_out_abort(struct mt_out *o);

/* ---- Pictures (memtrace-svg.c) ---- */

/* mt_svg_flamegraph - an icicle graph of the blocks of snapshot @k of @t
 * (already built as @s): one box per function on each level, as wide as
 * the bytes allocated under it.  @standalone adds the XML prolog and a
 * fixed size; otherwise the <svg> scales to its container (for HTML). */
void mt_svg_flamegraph(FILE *f, const struct pmt_trace *t, long k, const plumb_memtrace_snapshot *s,
                       bool standalone);

/* mt_svg_plot - the heap size over time, from the samples and snapshots of
 * @t, with the peak marked. */
void mt_svg_plot(FILE *f, const struct pmt_trace *t, bool standalone);

/* ---- The page (memtrace-html.c) ---- */

/* mt_html_page - the whole report of @t as one self-contained page.
 * Returns 0, or an exit status after a message. */
int mt_html_page(FILE *f, const struct pmt_trace *t, const char *path, long k);

#endif
