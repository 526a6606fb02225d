/*
 * memtrace-html.c - `plumb memtrace html`: one self-contained page with
 * everything the other subcommands show about a trace: the summary, the
 * heap over time, the flame graph, the top allocation sites and the leaks.
 *
 * Self-contained means one file that opens anywhere, offline: the pictures
 * are inline SVG (memtrace-svg.c), the style is inline CSS, there is no
 * external URL and no script (tracebacks fold with <details>, tooltips are
 * SVG <title>s).  Everything from the trace (file names, functions, the
 * command line) is escaped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "memtrace.h"

enum { HTML_TOP = 25 };

static const char *const css =
        "body{font-family:DejaVu Sans,Liberation Sans,Helvetica,Arial,sans-serif;"
        "margin:24px auto;max-width:1240px;padding:0 16px;color:#1a1a1a;background:#fafafa}"
        "h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;"
        "border-bottom:1px solid #ddd;padding-bottom:4px}"
        ".cmd{font-family:DejaVu Sans Mono,monospace;font-size:13px;color:#444;"
        "word-break:break-all}"
        ".note{background:#fff3cd;border:1px solid #e0c36a;padding:8px 12px;border-radius:4px}"
        "table{border-collapse:collapse;font-size:14px;background:#fff}"
        "th,td{border:1px solid #ddd;padding:5px 9px;text-align:left;vertical-align:top}"
        "th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums;"
        "white-space:nowrap}"
        "td.loc,td.fn{font-family:DejaVu Sans Mono,monospace;font-size:13px}"
        "table.summary th{width:210px}"
        ".pic{background:#fff;border:1px solid #ddd;padding:6px;overflow-x:auto}"
        ".fg{max-height:820px;overflow-y:auto}"
        "details summary{cursor:pointer}pre{font-size:12px;background:#f6f6f6;"
        "padding:8px;margin:6px 0 0;overflow-x:auto}";

static void td_num(FILE *f, uint64_t v)
{
	fprintf(f, "<td class=\"n\">%" PRIu64 "</td>", v);
}

static void td_size(FILE *f, uint64_t v)
{
	fprintf(f, "<td class=\"n\" title=\"%" PRIu64 " bytes\">%s</td>", v, mt_size((double)v).s);
}

static void row_text(FILE *f, const char *name, const char *value)
{
	fprintf(f, "<tr><th>%s</th><td>", name);
	mt_xml_str(f, value);
	fputs("</td></tr>\n", f);
}

static void row_size(FILE *f, const char *name, uint64_t v, const char *extra)
{
	fprintf(f, "<tr><th>%s</th><td>%s (%" PRIu64 " bytes)%s</td></tr>\n", name,
	        mt_size((double)v).s, v, extra ? extra : "");
}

static void summary(FILE *f, const struct pmt_trace *t, const char *path)
{
	fputs("<table class=\"summary\">\n", f);
	row_text(f, "trace file", path);
	row_text(f, "program", t->exe ? t->exe : "?");
	fprintf(f, "<tr><th>pid</th><td>%" PRIu32 " (parent %" PRIu32 ")</td></tr>\n", t->pid,
	        t->ppid);
	if (t->start_realtime_ns) {
		time_t secs = (time_t)(t->start_realtime_ns / 1000000000u);
		struct tm tm;
		char when[64];
		gmtime_r(&secs, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
		row_text(f, "started", when);
	}
	char extra[128];
	if (t->has_summary) {
		const struct pmt_summary *m = &t->summary;
		snprintf(extra, sizeof extra, " at %.3f s", m->peak_t_ns / 1e9);
		row_size(f, "peak heap", m->peak, extra);
		snprintf(extra, sizeof extra, " in %" PRIu64 " block%s", m->leaked_blocks,
		         m->leaked_blocks == 1 ? "" : "s");
		row_size(f, "leaked at exit", m->leaked_bytes, extra);
		fprintf(f,
		        "<tr><th>allocations</th><td>%" PRIu64 " (%" PRIu64 " freed)</td></tr>\n",
		        m->allocs, m->frees);
		row_size(f, "bytes requested in all", m->bytes_allocated, NULL);
		snprintf(extra, sizeof extra, "%.3f s", m->t_ns / 1e9);
		row_text(f, "run time", extra);
		row_size(f, "tracer memory", m->tracer_memory, NULL);
	}
	snprintf(extra, sizeof extra, "%" PRIu32 "%s%s", t->frame_limit,
	         t->flags & PMT_F_FRAME_POINTERS ? ", walked by frame pointers" : "",
	         t->flags & PMT_F_SAMPLED ? ", sampled: sizes are estimates" : "");
	row_text(f, "frames per stack", extra);
	fprintf(f, "<tr><th>snapshots</th><td>%zu</td></tr>\n", t->nsnapshots);
	fputs("</table>\n", f);
}

static void location(FILE *f, const plumb_memtrace_frame *fr)
{
	mt_xml_str(f, fr->filename ? fr->filename : "<unknown>");
	if (fr->lineno)
		fprintf(f, ":%u", fr->lineno);
}

static int top_sites(FILE *f, const plumb_memtrace_snapshot *s)
{
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	if (!st) {
		warnx_("cannot compute the statistics: %s", strerror(errno));
		return MT_EXIT_FAIL;
	}
	size_t n = st->n < HTML_TOP ? st->n : HTML_TOP;
	fputs("<table>\n<tr><th>#</th><th>size</th><th>count</th><th>average</th>"
	      "<th>where</th><th>function</th></tr>\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const plumb_memtrace_stat *e = &st->stats[i];
		const plumb_memtrace_frame *fr =
		        e->traceback && e->traceback->nframe ? &e->traceback->frames[0] : NULL;
		fprintf(f, "<tr><td class=\"n\">%zu</td>", i + 1);
		td_size(f, e->size);
		td_num(f, e->count);
		td_size(f, e->count ? e->size / e->count : 0);
		fputs("<td class=\"loc\">", f);
		if (fr)
			location(f, fr);
		fputs("</td><td class=\"fn\">", f);
		if (fr && fr->function)
			mt_xml_str(f, fr->function);
		fputs("</td></tr>\n", f);
	}
	if (st->n == 0)
		fputs("<tr><td colspan=\"6\">no live blocks</td></tr>\n", f);
	fputs("</table>\n", f);
	if (n < st->n)
		fprintf(f, "<p>and %zu more lines.</p>\n", st->n - n);
	plumb_memtrace_stats_free(st);
	return 0;
}

static int leaks(FILE *f, const struct pmt_trace *t, const char *path)
{
	long k = pmt_trace_find(t, PMT_SNAP_EXIT);
	if (k < 0) {
		fputs("<p class=\"note\">This trace has no exit snapshot: the program did not exit "
		      "normally, so what it leaked is not known.</p>\n",
		      f);
		return 0;
	}
	plumb_memtrace_snapshot *s = mt_snapshot(t, k, path);
	if (!s)
		return MT_EXIT_FAIL;
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	if (!st) {
		warnx_("cannot group the blocks: %s", strerror(errno));
		plumb_memtrace_snapshot_free(s);
		return MT_EXIT_FAIL;
	}
	size_t size, count;
	plumb_memtrace_snapshot_size(s, &size, &count);
	fprintf(f,
	        "<p>%s (%zu bytes) in %zu block%s still allocated at exit, from %zu stack%s.</p>\n",
	        mt_size((double)size).s, size, count, count == 1 ? "" : "s", st->n,
	        st->n == 1 ? "" : "s");
	size_t n = st->n < HTML_TOP ? st->n : HTML_TOP;
	if (n)
		fputs("<table>\n<tr><th>#</th><th>size</th><th>count</th><th>allocated at "
		      "(most recent call first)</th></tr>\n",
		      f);
	for (size_t i = 0; i < n; i++) {
		const plumb_memtrace_stat *e = &st->stats[i];
		const plumb_memtrace_traceback *tb = e->traceback;
		fprintf(f, "<tr><td class=\"n\">%zu</td>", i + 1);
		td_size(f, e->size);
		td_num(f, e->count);
		fputs("<td class=\"loc\"><details><summary>", f);
		if (tb && tb->nframe) {
			const plumb_memtrace_frame *kf = mt_site_frame(tb);
			location(f, kf);
			if (kf->function) {
				fputs(" in ", f);
				mt_xml_str(f, kf->function);
			}
		}
		fputs("</summary><pre>", f);
		for (size_t j = 0; tb && j < tb->nframe; j++) {
			const plumb_memtrace_frame *fr = &tb->frames[j];
			location(f, fr);
			if (fr->function) {
				fputs("  ", f);
				mt_xml_str(f, fr->function);
			}
			fputs(fr->inlined ? "  (inlined)\n" : "\n", f);
		}
		if (tb && tb->total_nframe > tb->nframe)
			fputs("... older frames cut\n", f);
		fputs("</pre></details></td></tr>\n", f);
	}
	if (n)
		fputs("</table>\n", f);
	if (n < st->n)
		fprintf(f, "<p>and %zu more stacks.</p>\n", st->n - n);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);
	return 0;
}

int mt_html_page(FILE *f, const struct pmt_trace *t, const char *path, long k)
{
	const char *exe = t->exe && *t->exe ? t->exe : "program";
	const char *slash = strrchr(exe, '/');
	const char *name = slash ? slash + 1 : exe;
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>memtrace: ",
	      f);
	mt_xml_str(f, name);
	fprintf(f, " (pid %" PRIu32 ")</title>\n<style>%s</style>\n</head>\n<body>\n", t->pid, css);
	fputs("<h1>memtrace: ", f);
	mt_xml_str(f, name);
	fprintf(f, " <small>(pid %" PRIu32 ")</small></h1>\n", t->pid);
	if (t->cmdline && *t->cmdline) {
		fputs("<p class=\"cmd\">", f);
		mt_xml_str(f, t->cmdline);
		fputs("</p>\n", f);
	}
	if (!t->has_summary)
		fputs("<p class=\"note\">The trace ends early: the program did not exit normally "
		      "(it was killed, or crashed). What follows is what the file holds up to its "
		      "last flush.</p>\n",
		      f);
	fputs("<h2>Summary</h2>\n", f);
	summary(f, t, path);

	fputs("<h2>Heap over time</h2>\n<div class=\"pic\">\n", f);
	mt_svg_plot(f, t, false);
	fputs("</div>\n", f);

	if (k < 0) {
		fputs("<p class=\"note\">The trace holds no snapshot: there is no flame graph and "
		      "no list of sites.</p>\n",
		      f);
	} else {
		plumb_memtrace_snapshot *s = mt_snapshot(t, k, path);
		if (!s)
			return MT_EXIT_FAIL;
		const struct pmt_snapshot_info *si = &t->snapshots[k];
		const char *when = si->kind == PMT_SNAP_PEAK   ? "at the peak"
		                   : si->kind == PMT_SNAP_EXIT ? "at exit"
		                                               : "at the chosen snapshot";
		fprintf(f, "<h2>Live heap %s: flame graph</h2>\n<div class=\"pic fg\">\n", when);
		mt_svg_flamegraph(f, t, k, s, false);
		fprintf(f, "</div>\n<h2>Top allocation sites %s (snapshot %ld, by line)</h2>\n",
		        when, k);
		int rc = top_sites(f, s);
		plumb_memtrace_snapshot_free(s);
		if (rc)
			return rc;
	}
	fputs("<h2>Leaks</h2>\n", f);
	int rc = leaks(f, t, path);
	if (rc)
		return rc;
	fputs("</body>\n</html>\n", f);
	return 0;
}
