/*
 * memtrace.c - `plumb memtrace`: Python's tracemalloc for native programs,
 * as a command.  This file dispatches to the subcommands and holds the ones
 * that print text or JSON: report (snapshot.statistics), diff
 * (snapshot.compare_to) and leaks (the exit snapshot by traceback), plus
 * the helpers every subcommand shares.  run is in memtrace-run.c, the
 * pictures in memtrace-svg.c and memtrace-html.c.
 *
 * Everything here reads a trace file with the analysis half of memtrace
 * (pmt_trace_read, pmt_trace_snapshot) and prints what tracemalloc would
 * print for the same snapshot: plumb_memtrace_stat_format lines, in
 * tracemalloc's order.  Numbers in --json are exact bytes.
 *
 * Exit status: 0, 1 when a file cannot be read or written, 2 for a command
 * line that is wrong (including a snapshot the file does not hold).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "memtrace.h"

enum { MAX_FILTERS = 64, DEFAULT_TOP = 10 };

/* ---- Help ---- */

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: plumb memtrace SUBCOMMAND [OPTION]... [ARG]...\n"
	        "Trace the heap of a native program as Python's tracemalloc does, and\n"
	        "report on the trace file.\n\n"
	        "  run [OPTION]... -- PROG [ARG]...   run PROG under the tracer, then summarize\n"
	        "  report FILE     statistics of a snapshot (by filename, lineno or traceback)\n"
	        "  diff FILE       compare two snapshots of FILE (or: diff OLD.pmt NEW.pmt)\n"
	        "  leaks FILE      the blocks still allocated at exit, grouped by stack\n"
	        "  flamegraph FILE -o OUT.svg   the live heap as an icicle graph\n"
	        "  plot FILE -o OUT.svg         the heap size over time, peak marked\n"
	        "  html FILE -o OUT.html        all of it in one self-contained page\n\n"
	        "'plumb memtrace SUBCOMMAND --help' tells more of each; see plumb-memtrace(1).\n");
}

static const char *const help_report =
        "Usage: plumb memtrace report FILE [OPTION]...\n"
        "Print snapshot.statistics() of a snapshot of the trace FILE, as tracemalloc\n"
        "prints them (default: the snapshot at the peak, else the last one).\n\n"
        "  -b, --by KEY          group by filename, lineno (default) or traceback\n"
        "  -c, --cumulative      count a block in every frame of its stack\n"
        "  -n, --top N           the N biggest lines (default 10; 0: all)\n"
        "  -s, --snapshot K      a snapshot: its index (see --list), first, last,\n"
        "                          peak or exit\n"
        "  -i, --include PAT     keep blocks with a frame whose file matches PAT\n"
        "                          (fnmatch; PAT:LINE for one line); repeatable\n"
        "  -x, --exclude PAT     drop blocks with a frame whose file matches PAT\n"
        "  -l, --list            list the snapshots of FILE instead\n"
        "  -j, --json            print JSON\n"
        "  -h, --help            show this help\n";

static const char *const help_diff =
        "Usage: plumb memtrace diff FILE [OPTION]...\n"
        "       plumb memtrace diff OLD.pmt NEW.pmt [OPTION]...\n"
        "Print snapshot.compare_to(): what changed from one snapshot to another\n"
        "(default: from the first snapshot of FILE to its last; with two files, from\n"
        "the last of OLD to the last of NEW), biggest change first.\n\n"
        "  -f, --from K          the old snapshot (index, first, last, peak, exit)\n"
        "  -t, --to L            the new snapshot\n"
        "  -b, --by KEY          group by filename, lineno (default) or traceback\n"
        "  -c, --cumulative      count a block in every frame of its stack\n"
        "  -n, --top N           the N biggest changes (default 10; 0: all)\n"
        "  -i, --include PAT     keep blocks with a frame whose file matches PAT\n"
        "  -x, --exclude PAT     drop blocks with a frame whose file matches PAT\n"
        "  -j, --json            print JSON\n"
        "  -h, --help            show this help\n";

static const char *const help_leaks =
        "Usage: plumb memtrace leaks FILE [OPTION]...\n"
        "Print the blocks still allocated when the program exited, grouped by the\n"
        "stack that allocated them, largest group first, each with its traceback\n"
        "(most recent call first).  A trace that ends early (the program was killed)\n"
        "has no exit snapshot: its last snapshot is used, and the output says so.\n\n"
        "  -n, --top N           the N largest groups (default 10; 0: all)\n"
        "  -j, --json            print JSON\n"
        "  -h, --help            show this help\n";

static const char *const help_flamegraph =
        "Usage: plumb memtrace flamegraph FILE -o OUT.svg [OPTION]...\n"
        "Draw the live heap of a snapshot (default: at the peak) as an icicle graph:\n"
        "the program's entry at the top, the functions that called malloc at the\n"
        "bottom, each box as wide as the bytes allocated under it.\n\n"
        "  -o, --output OUT.svg  the picture (written whole, or not at all)\n"
        "  -s, --snapshot K      index, first, last, peak or exit\n"
        "  -h, --help            show this help\n";

static const char *const help_plot =
        "Usage: plumb memtrace plot FILE -o OUT.svg\n"
        "Draw the traced heap size over time, with the peak and the snapshots marked.\n\n"
        "  -o, --output OUT.svg  the picture (written whole, or not at all)\n"
        "  -h, --help            show this help\n";

static const char *const help_html =
        "Usage: plumb memtrace html FILE -o OUT.html [OPTION]...\n"
        "Write one self-contained page: the summary, the heap over time, the flame\n"
        "graph, the top allocation sites and the leaks.\n\n"
        "  -o, --output OUT.html the page (written whole, or not at all)\n"
        "  -s, --snapshot K      the snapshot of the flame graph and the top sites\n"
        "  -h, --help            show this help\n";

int mt_usage_error(const char *sub, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "plumb memtrace%s%s: ", sub ? " " : "", sub ? sub : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'plumb memtrace%s%s --help' for more information.\n", sub ? " " : "",
	        sub ? sub : "");
	return MT_EXIT_USAGE;
}

bool mt_parse_top(const char *s, size_t *out)
{
	uint64_t v;
	if (!parse_uint(s, SIZE_MAX, &v))
		return false;
	*out = (size_t)v;
	return true;
}

/* ---- Trace files and snapshots ---- */

struct pmt_trace *mt_open(const char *path)
{
	char err[512] = "";
	struct pmt_trace *t = pmt_trace_read(path, err, sizeof err);
	if (!t) {
		if (err[0])
			warnx_("%s", err);
		else
			warnx_("%s: %s", path, strerror(errno));
	}
	return t;
}

void mt_trace_peak(const struct pmt_trace *t, uint64_t *peak, uint64_t *t_ns)
{
	*peak = *t_ns = 0;
	if (t->has_summary) {
		*peak = t->summary.peak;
		*t_ns = t->summary.peak_t_ns;
		return;
	}
	for (size_t i = 0; i < t->nsamples; i++) {
		if (t->samples[i].peak > *peak) {
			*peak = t->samples[i].peak;
			*t_ns = t->samples[i].t_ns;
		}
	}
}

const char *mt_kind_name(int kind)
{
	switch (kind) {
	case PMT_SNAP_EXIT:
		return "exit";
	case PMT_SNAP_INTERVAL:
		return "interval";
	case PMT_SNAP_SIGNAL:
		return "signal";
	case PMT_SNAP_API:
		return "api";
	case PMT_SNAP_PEAK:
		return "peak";
	}
	return "?";
}

bool mt_pick_parse(const char *s, struct mt_pick *p)
{
	uint64_t v;
	*p = (struct mt_pick){.arg = s, .index = -1};
	if (!strcmp(s, "first"))
		p->first = true;
	else if (!strcmp(s, "last"))
		p->last = true;
	else if (!strcmp(s, "peak"))
		p->kind = PMT_SNAP_PEAK;
	else if (!strcmp(s, "exit"))
		p->kind = PMT_SNAP_EXIT;
	else if (parse_uint(s, LONG_MAX, &v))
		p->index = (long)v;
	else
		return false;
	return true;
}

long mt_default_snapshot(const struct pmt_trace *t)
{
	long k = pmt_trace_find(t, PMT_SNAP_PEAK);
	if (k < 0)
		k = (long)t->nsnapshots - 1;
	return k;
}

long mt_pick_resolve(const struct mt_pick *p, const struct pmt_trace *t, const char *path)
{
	if (t->nsnapshots == 0) {
		warnx_("%s holds no snapshot (the program ended before its first one)", path);
		return -1;
	}
	if (p->first)
		return 0;
	if (p->last)
		return (long)t->nsnapshots - 1;
	if (p->kind) {
		long k = pmt_trace_find(t, p->kind);
		if (k < 0)
			warnx_("%s holds no %s snapshot%s", path, mt_kind_name(p->kind),
			       t->has_summary ? "" : " (the trace ends early)");
		return k;
	}
	if (p->index >= 0 && (size_t)p->index < t->nsnapshots)
		return p->index;
	warnx_("snapshot %s is out of range: %s holds %zu snapshot%s (0-%zu)", p->arg, path,
	       t->nsnapshots, t->nsnapshots == 1 ? "" : "s", t->nsnapshots - 1);
	return -1;
}

plumb_memtrace_snapshot *mt_snapshot(const struct pmt_trace *t, long k, const char *path)
{
	plumb_memtrace_snapshot *s = pmt_trace_snapshot(t, (size_t)k);
	if (!s)
		warnx_("%s: cannot build snapshot %ld: %s", path, k, strerror(errno));
	return s;
}

/* The snapshot @p names, or @dflt when none was named: -1 with *k set,
 * else the exit status after a message (2 for a snapshot the file does not
 * hold, 1 when it holds none). */
static int pick_snapshot(const struct mt_pick *p, long dflt, const struct pmt_trace *t,
                         const char *path, long *k)
{
	if (p->arg) {
		*k = mt_pick_resolve(p, t, path);
		return *k >= 0 ? -1 : t->nsnapshots ? MT_EXIT_USAGE : MT_EXIT_FAIL;
	}
	*k = dflt;
	if (*k >= 0)
		return -1;
	warnx_("%s holds no snapshot (the program ended before its first one)", path);
	return MT_EXIT_FAIL;
}

/* ---- Text helpers ---- */

struct mt_size mt_size(double bytes)
{
	struct mt_size r;
	plumb_memtrace_format_size(bytes, false, r.s, sizeof r.s);
	return r;
}

void mt_json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void mt_xml_str(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			fputc((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' ? '?' : *s, f);
		}
	}
}

/* ---- Output files ---- */

bool mt_out_open(struct mt_out *o, const char *path)
{
	*o = (struct mt_out){0};
	char *a = strdup(path), *b = strdup(path);
	if (!a || !b) {
		free(a);
		free(b);
		warnx_("%s: %s", path, strerror(ENOMEM));
		return false;
	}
	const char *dir = dirname(a), *base = basename(b);
	size_t n = strlen(dir) + strlen(base) + 32;
	o->tmp = malloc(n);
	o->path = strdup(path);
	int fd = -1;
	if (o->tmp && o->path) {
		snprintf(o->tmp, n, "%s/.%s.XXXXXX", dir, base);
		fd = mkstemp(o->tmp);
	} else {
		errno = ENOMEM;
	}
	free(a);
	free(b);
	if (fd < 0) {
		warnx_("cannot write %s: %s", path, strerror(errno));
		free(o->tmp);
		free(o->path);
		*o = (struct mt_out){0};
		return false;
	}
	/* mkstemp makes the file 0600; give it what a plain create would. */
	mode_t mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	o->f = fdopen(fd, "w");
	if (!o->f) {
		warnx_("cannot write %s: %s", path, strerror(errno));
		close(fd);
		mt_out_abort(o);
		return false;
	}
	return true;
}

bool mt_out_commit(struct mt_out *o)
{
	bool ok = !ferror(o->f) && fflush(o->f) == 0 && fsync(fileno(o->f)) == 0;
	int e = errno;
	if (fclose(o->f) != 0 && ok) {
		ok = false;
		e = errno;
	}
	o->f = NULL;
	if (ok && rename(o->tmp, o->path) != 0) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		warnx_("cannot write %s: %s", o->path, strerror(e ? e : EIO));
		mt_out_abort(o);
		return false;
	}
	free(o->tmp);
	free(o->path);
	*o = (struct mt_out){0};
	return true;
}

void mt_out_abort(struct mt_out *o)
{
	if (o->f)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	*o = (struct mt_out){0};
}

/* ---- Options the analysis subcommands share ---- */

struct aopts {
	const char *sub;
	plumb_memtrace_key key;
	bool cumulative, json, list;
	size_t top;
	struct mt_pick snap, from, to;
	plumb_memtrace_filter filters[MAX_FILTERS];
	char *patterns[MAX_FILTERS];
	size_t nfilters;
	const char *output;
	const char *files[2];
	size_t nfiles;
};

static void aopts_free(struct aopts *o)
{
	for (size_t i = 0; i < o->nfilters; i++)
		free(o->patterns[i]);
}

/* A filter from PAT or PAT:LINE, matching any frame (all_frames). */
static int add_filter(struct aopts *o, const char *arg, bool inclusive)
{
	if (o->nfilters == MAX_FILTERS)
		return mt_usage_error(o->sub, "too many filters (at most %d)", MAX_FILTERS);
	if (!*arg)
		return mt_usage_error(o->sub, "empty pattern for --%s",
		                      inclusive ? "include" : "exclude");
	char *pat = strdup(arg);
	if (!pat) {
		warnx_("%s", strerror(ENOMEM));
		return MT_EXIT_FAIL;
	}
	unsigned lineno = 0;
	char *colon = strrchr(pat, ':');
	uint64_t v;
	if (colon && colon != pat && parse_uint(colon + 1, UINT32_MAX, &v) && v > 0) {
		*colon = '\0';
		lineno = (unsigned)v;
	}
	o->patterns[o->nfilters] = pat;
	o->filters[o->nfilters++] = (plumb_memtrace_filter){
	        .inclusive = inclusive,
	        .filename_pattern = pat,
	        .lineno = lineno,
	        .all_frames = true,
	        .domain = -1,
	};
	return 0;
}

static const struct option long_options[] = {
        {"by", required_argument, NULL, 'b'},
        {"cumulative", no_argument, NULL, 'c'},
        {"top", required_argument, NULL, 'n'},
        {"snapshot", required_argument, NULL, 's'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"include", required_argument, NULL, 'i'},
        {"exclude", required_argument, NULL, 'x'},
        {"list", no_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
};

/*
 * Parses argv for subcommand o->sub, accepting only the options in @allowed
 * (their short letters) and between @min and @max files.  Returns -1 to go
 * on, else the exit status (0 after --help).
 */
static int parse(int argc, char **argv, struct aopts *o, const char *allowed, size_t min,
                 size_t max, const char *help)
{
	int c;
	const char *optstring = ":b:cn:s:f:t:i:x:ljo:h";
	o->key = PLUMB_MEMTRACE_BY_LINENO;
	o->top = DEFAULT_TOP;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, long_options, NULL)) != -1) {
		const char *opt = argv[optind - 1];
		if (c == '?') {
			if (optopt)
				return mt_usage_error(o->sub, "unknown option '-%c'", optopt);
			return mt_usage_error(o->sub, "unknown option '%s'", opt);
		}
		if (c == ':')
			return mt_usage_error(o->sub, "option '%s' needs a value", opt);
		if (c != 'h' && !strchr(allowed, c))
			return mt_usage_error(o->sub, "option '%s' does not apply to %s", opt,
			                      o->sub);
		int rc = 0;
		switch (c) {
		case 'h':
			fputs(help, stdout);
			return 0;
		case 'b':
			if (plumb_memtrace_key_parse(optarg, &o->key) < 0)
				return mt_usage_error(
				        o->sub, "unknown --by '%s' (filename, lineno, traceback)",
				        optarg);
			break;
		case 'c':
			o->cumulative = true;
			break;
		case 'n':
			if (!mt_parse_top(optarg, &o->top))
				return mt_usage_error(o->sub, "--top needs a number, not '%s'",
				                      optarg);
			break;
		case 's':
		case 'f':
		case 't': {
			struct mt_pick *p = c == 's' ? &o->snap : c == 'f' ? &o->from : &o->to;
			if (!mt_pick_parse(optarg, p))
				return mt_usage_error(
				        o->sub,
				        "bad snapshot '%s' (an index, first, last, peak "
				        "or exit)",
				        optarg);
			break;
		}
		case 'i':
		case 'x':
			rc = add_filter(o, optarg, c == 'i');
			break;
		case 'l':
			o->list = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'o':
			if (!*optarg)
				return mt_usage_error(o->sub, "empty --output");
			o->output = optarg;
			break;
		}
		if (rc)
			return rc;
	}
	for (int i = optind; i < argc; i++) {
		if (o->nfiles == max)
			return mt_usage_error(o->sub, "unexpected argument '%s'", argv[i]);
		o->files[o->nfiles++] = argv[i];
	}
	if (o->nfiles < min)
		return mt_usage_error(o->sub,
		                      "missing FILE (a trace written by plumb memtrace run)");
	if (o->cumulative && o->key == PLUMB_MEMTRACE_BY_TRACEBACK)
		return mt_usage_error(o->sub, "--cumulative needs --by filename or lineno");
	return -1;
}

/* ---- JSON pieces ---- */

static void json_traceback(FILE *f, const plumb_memtrace_traceback *tb)
{
	fputc('[', f);
	for (size_t i = 0; tb && i < tb->nframe; i++) {
		const plumb_memtrace_frame *fr = &tb->frames[i];
		fputs(i ? ",{\"filename\":" : "{\"filename\":", f);
		mt_json_str(f, fr->filename);
		fprintf(f, ",\"lineno\":%u,\"function\":", fr->lineno);
		mt_json_str(f, fr->function);
		fputs(",\"module\":", f);
		mt_json_str(f, fr->module);
		fprintf(f, ",\"address\":%" PRIuPTR ",\"inlined\":%s}", fr->address,
		        fr->inlined ? "true" : "false");
	}
	fputc(']', f);
}

static void json_snapshot(FILE *f, const struct pmt_trace *t, long k)
{
	const struct pmt_snapshot_info *si = &t->snapshots[k];
	fprintf(f,
	        "{\"index\":%ld,\"seq\":%" PRIu32 ",\"kind\":\"%s\",\"t_ns\":%" PRIu64
	        ",\"current\":%" PRIu64 ",\"peak\":%" PRIu64 "}",
	        k, si->seq, mt_kind_name(si->kind), si->t_ns, si->current, si->peak);
}

/* What every JSON output says of the trace as a whole: whether it ends
 * early, and the --sample distance (0: every allocation recorded). */
static void json_trace_flags(FILE *f, const struct pmt_trace *t)
{
	fprintf(f, ",\"truncated\":%s,\"sample_bytes\":%" PRIu64, t->has_summary ? "false" : "true",
	        t->sample_bytes);
}

/* The keys every JSON output of one file starts with. */
static void json_head(FILE *f, const struct pmt_trace *t, const char *path)
{
	fputs("{\"file\":", f);
	mt_json_str(f, path);
	fprintf(f, ",\"pid\":%" PRIu32 ",\"exe\":", t->pid);
	mt_json_str(f, t->exe);
	json_trace_flags(f, t);
	fputs(",\"summary\":", f);
	if (!t->has_summary) {
		fputs("null", f);
		return;
	}
	const struct pmt_summary *m = &t->summary;
	fprintf(f,
	        "{\"peak\":%" PRIu64 ",\"peak_t_ns\":%" PRIu64 ",\"leaked_bytes\":%" PRIu64
	        ",\"leaked_blocks\":%" PRIu64 ",\"allocs\":%" PRIu64 ",\"frees\":%" PRIu64
	        ",\"bytes_allocated\":%" PRIu64 ",\"tracer_memory\":%" PRIu64 "}",
	        m->peak, m->peak_t_ns, m->leaked_bytes, m->leaked_blocks, m->allocs, m->frees,
	        m->bytes_allocated, m->tracer_memory);
}

const plumb_memtrace_frame *mt_site_frame(const plumb_memtrace_traceback *tb)
{
	static const plumb_memtrace_frame none = {.filename = "<unknown>"};
	return tb && tb->nframe ? mt_key_frame(tb) : &none;
}

static void json_stat_head(FILE *f, const plumb_memtrace_traceback *tb, size_t size, size_t count)
{
	const plumb_memtrace_frame *fr = mt_site_frame(tb);
	fputs("{\"filename\":", f);
	mt_json_str(f, fr->filename);
	fprintf(f, ",\"lineno\":%u,\"function\":", fr->lineno);
	mt_json_str(f, fr->function);
	fprintf(f, ",\"size\":%zu,\"count\":%zu,\"average\":%zu", size, count,
	        count ? size / count : 0);
}

static const char *key_name(plumb_memtrace_key key)
{
	return key == PLUMB_MEMTRACE_BY_FILENAME ? "filename"
	       : key == PLUMB_MEMTRACE_BY_LINENO ? "lineno"
	                                         : "traceback";
}

/* ---- Text pieces ---- */

/* Prints a traceback as tracemalloc's format(), most recent call first. */
static void print_traceback(FILE *f, const plumb_memtrace_traceback *tb)
{
	/* One pass when the text fits: each pass reads the source files. */
	char small[8192], *buf = small;
	size_t n = plumb_memtrace_traceback_format(tb, 0, true, small, sizeof small);
	if (n >= sizeof small) {
		if (!(buf = malloc(n + 1)))
			return;
		plumb_memtrace_traceback_format(tb, 0, true, buf, n + 1);
	}
	fputs(buf, f);
	if (n && buf[n - 1] != '\n')
		fputc('\n', f);
	if (buf != small)
		free(buf);
}

/* Prints one statistic (@st) or difference (@d) in tracemalloc's format on
 * a line of its own after @indent, however long the line is. */
static void print_line(FILE *f, const char *indent, const plumb_memtrace_stat *st,
                       const plumb_memtrace_statdiff *d)
{
	char line[1024], *buf = line;
	size_t n = st ? plumb_memtrace_stat_format(st, line, sizeof line)
	              : plumb_memtrace_statdiff_format(d, line, sizeof line);
	if (n >= sizeof line) {
		buf = malloc(n + 1);
		if (!buf)
			return;
		if (st)
			plumb_memtrace_stat_format(st, buf, n + 1);
		else
			plumb_memtrace_statdiff_format(d, buf, n + 1);
	}
	fprintf(f, "%s%s\n", indent, buf);
	if (buf != line)
		free(buf);
}

void mt_print_stat(FILE *f, const char *indent, const plumb_memtrace_stat *st)
{
	print_line(f, indent, st, NULL);
}

void mt_print_statdiff(FILE *f, const char *indent, const plumb_memtrace_statdiff *d)
{
	print_line(f, indent, NULL, d);
}

static void print_snapshot_line(FILE *f, const struct pmt_trace *t, long k, size_t size,
                                size_t count)
{
	const struct pmt_snapshot_info *si = &t->snapshots[k];
	fprintf(f, "snapshot %ld (%s) at %.3f s: %s in %zu block%s", k, mt_kind_name(si->kind),
	        si->t_ns / 1e9, mt_size((double)size).s, count, count == 1 ? "" : "s");
}

/* A trace made with --sample: its sizes and counts are estimates. */
static void note_sampled(const struct pmt_trace *t, const char *path)
{
	if (t->sample_bytes)
		warnx_("note: %s was traced with --sample %" PRIu64 " (one sampling point per %s "
		       "allocated, on average): its sizes and counts are estimates",
		       path, t->sample_bytes, mt_size((double)t->sample_bytes).s);
}

/* What a reader of @t's figures should know: a trace that ends early, or
 * one whose figures are estimates. */
static void notes(const struct pmt_trace *t, const char *path)
{
	if (!t->has_summary)
		warnx_("note: %s ends early (no summary: the program did not exit normally); "
		       "using what it holds",
		       path);
	note_sampled(t, path);
}

/* Applies the filters of @o to @s: @s itself when there are none. */
static plumb_memtrace_snapshot *filtered(const struct aopts *o, plumb_memtrace_snapshot *s,
                                         bool *owned)
{
	*owned = false;
	if (!o->nfilters)
		return s;
	plumb_memtrace_snapshot *f =
	        plumb_memtrace_snapshot_filter_traces(s, o->filters, o->nfilters);
	if (!f)
		warnx_("cannot filter the snapshot: %s", strerror(errno));
	*owned = f != NULL;
	return f;
}

/* ---- report ---- */

static int list_snapshots(const struct aopts *o, const struct pmt_trace *t, const char *path)
{
	if (o->json) {
		json_head(stdout, t, path);
		fputs(",\"snapshots\":[", stdout);
		for (size_t k = 0; k < t->nsnapshots; k++) {
			if (k)
				fputc(',', stdout);
			json_snapshot(stdout, t, (long)k);
		}
		fputs("]}\n", stdout);
		return 0;
	}
	printf("%-5s %-8s %10s %12s %12s %8s\n", "index", "kind", "time", "current", "peak",
	       "stacks");
	for (size_t k = 0; k < t->nsnapshots; k++) {
		const struct pmt_snapshot_info *si = &t->snapshots[k];
		char when[32];
		snprintf(when, sizeof when, "%.3f s", si->t_ns / 1e9);
		printf("%-5zu %-8s %10s %12s %12s %8zu\n", k, mt_kind_name(si->kind), when,
		       mt_size((double)si->current).s, mt_size((double)si->peak).s, si->nentries);
	}
	return 0;
}

static void report_text(const struct aopts *o, const struct pmt_trace *t, const char *path, long k,
                        const plumb_memtrace_snapshot *s, const plumb_memtrace_stats *st)
{
	size_t size, count;
	plumb_memtrace_snapshot_size(s, &size, &count);
	printf("%s: ", path);
	print_snapshot_line(stdout, t, k, size, count);
	printf("%s\n", o->nfilters ? " (filtered)" : "");
	size_t shown = o->top && o->top < st->n ? o->top : st->n;
	printf("[ Top %zu by %s%s ]\n", shown, key_name(o->key),
	       o->cumulative ? ", cumulative" : "");
	for (size_t i = 0; i < shown; i++) {
		mt_print_stat(stdout, "", &st->stats[i]);
		if (o->key == PLUMB_MEMTRACE_BY_TRACEBACK)
			print_traceback(stdout, st->stats[i].traceback);
	}
	if (shown < st->n && !o->cumulative) {
		size_t osize = 0, ocount = 0;
		for (size_t i = shown; i < st->n; i++) {
			osize += st->stats[i].size;
			ocount += st->stats[i].count;
		}
		printf("%zu other: size=%s, count=%zu\n", st->n - shown, mt_size((double)osize).s,
		       ocount);
	} else if (shown < st->n) {
		printf("%zu other\n", st->n - shown);
	}
}

static void report_json(const struct aopts *o, const struct pmt_trace *t, const char *path, long k,
                        const plumb_memtrace_snapshot *s, const plumb_memtrace_stats *st)
{
	size_t size, count;
	plumb_memtrace_snapshot_size(s, &size, &count);
	json_head(stdout, t, path);
	fputs(",\"snapshot\":", stdout);
	json_snapshot(stdout, t, k);
	fprintf(stdout, ",\"key\":\"%s\",\"cumulative\":%s,\"total_size\":%zu,\"total_count\":%zu",
	        key_name(o->key), o->cumulative ? "true" : "false", size, count);
	fputs(",\"stats\":[", stdout);
	size_t shown = o->top && o->top < st->n ? o->top : st->n;
	for (size_t i = 0; i < shown; i++) {
		const plumb_memtrace_stat *e = &st->stats[i];
		fputs(i ? "," : "", stdout);
		json_stat_head(stdout, e->traceback, e->size, e->count);
		fputs(",\"traceback\":", stdout);
		json_traceback(stdout, e->traceback);
		fputc('}', stdout);
	}
	fputs("]}\n", stdout);
}

int mt_cmd_report(int argc, char **argv)
{
	struct aopts o = {.sub = "report"};
	int rc = parse(argc, argv, &o, "bcnsixlj", 1, 1, help_report);
	if (rc >= 0) {
		aopts_free(&o);
		return rc;
	}
	const char *path = o.files[0];
	struct pmt_trace *t = mt_open(path);
	plumb_memtrace_snapshot *s = NULL, *fs = NULL;
	plumb_memtrace_stats *st = NULL;
	bool owned = false;
	rc = MT_EXIT_FAIL;
	if (!t)
		goto out;
	notes(t, path);
	if (o.list) {
		rc = list_snapshots(&o, t, path);
		goto out;
	}
	long k;
	if ((rc = pick_snapshot(&o.snap, mt_default_snapshot(t), t, path, &k)) >= 0)
		goto out;
	rc = MT_EXIT_FAIL;
	if (!(s = mt_snapshot(t, k, path)) || !(fs = filtered(&o, s, &owned)))
		goto out;
	st = plumb_memtrace_snapshot_statistics(fs, o.key, o.cumulative);
	if (!st) {
		warnx_("cannot compute the statistics: %s", strerror(errno));
		goto out;
	}
	if (o.json)
		report_json(&o, t, path, k, fs, st);
	else
		report_text(&o, t, path, k, fs, st);
	rc = fflush(stdout) ? MT_EXIT_FAIL : 0;
out:
	plumb_memtrace_stats_free(st);
	if (owned)
		plumb_memtrace_snapshot_free(fs);
	plumb_memtrace_snapshot_free(s);
	pmt_trace_free(t);
	aopts_free(&o);
	return rc;
}

/* ---- diff ---- */

/* One side of a comparison: its file, trace, snapshot index and object. */
struct side {
	const char *path;
	struct pmt_trace *t;
	long k;
	plumb_memtrace_snapshot *s, *fs;
	bool owned;
	size_t size, count;
};

static void side_free(struct side *d)
{
	if (d->owned)
		plumb_memtrace_snapshot_free(d->fs);
	plumb_memtrace_snapshot_free(d->s);
}

/* Builds a side; returns -1 on success, else the exit status. */
static int side_load(const struct aopts *o, struct side *d, const struct mt_pick *p, long dflt)
{
	int rc = pick_snapshot(p, dflt, d->t, d->path, &d->k);
	if (rc >= 0)
		return rc;
	if (!(d->s = mt_snapshot(d->t, d->k, d->path)) || !(d->fs = filtered(o, d->s, &d->owned)))
		return MT_EXIT_FAIL;
	plumb_memtrace_snapshot_size(d->fs, &d->size, &d->count);
	return -1;
}

static void diff_text(const struct aopts *o, const struct side *a, const struct side *b,
                      const plumb_memtrace_stats *st)
{
	printf("from %s: ", a->path);
	print_snapshot_line(stdout, a->t, a->k, a->size, a->count);
	printf("%s\n", o->nfilters ? " (filtered)" : "");
	printf("to   %s: ", b->path);
	print_snapshot_line(stdout, b->t, b->k, b->size, b->count);
	printf("%s\n", o->nfilters ? " (filtered)" : "");
	size_t shown = o->top && o->top < st->n ? o->top : st->n;
	printf("[ Top %zu differences by %s%s ]\n", shown, key_name(o->key),
	       o->cumulative ? ", cumulative" : "");
	for (size_t i = 0; i < shown; i++) {
		mt_print_statdiff(stdout, "", &st->diffs[i]);
		if (o->key == PLUMB_MEMTRACE_BY_TRACEBACK)
			print_traceback(stdout, st->diffs[i].traceback);
	}
	if (shown < st->n)
		printf("%zu other\n", st->n - shown);
}

static void diff_json(const struct aopts *o, const struct side *a, const struct side *b,
                      const plumb_memtrace_stats *st)
{
	json_head(stdout, b->t, b->path);
	if (a->t != b->t) {
		fputs(",\"from_file\":", stdout);
		mt_json_str(stdout, a->path);
	}
	fputs(",\"from\":", stdout);
	json_snapshot(stdout, a->t, a->k);
	fputs(",\"to\":", stdout);
	json_snapshot(stdout, b->t, b->k);
	fprintf(stdout, ",\"key\":\"%s\",\"cumulative\":%s,\"total_size\":%zu,\"total_count\":%zu",
	        key_name(o->key), o->cumulative ? "true" : "false", b->size, b->count);
	fputs(",\"stats\":[", stdout);
	size_t shown = o->top && o->top < st->n ? o->top : st->n;
	for (size_t i = 0; i < shown; i++) {
		const plumb_memtrace_statdiff *e = &st->diffs[i];
		fputs(i ? "," : "", stdout);
		json_stat_head(stdout, e->traceback, e->size, e->count);
		fprintf(stdout,
		        ",\"size_diff\":%zd,\"count_diff\":%zd,\"traceback\":", e->size_diff,
		        e->count_diff);
		json_traceback(stdout, e->traceback);
		fputc('}', stdout);
	}
	fputs("]}\n", stdout);
}

int mt_cmd_diff(int argc, char **argv)
{
	struct aopts o = {.sub = "diff"};
	int rc = parse(argc, argv, &o, "bcnftixj", 1, 2, help_diff);
	if (rc >= 0) {
		aopts_free(&o);
		return rc;
	}
	struct side a = {.path = o.files[0]}, b = {.path = o.files[o.nfiles - 1]};
	struct pmt_trace *t1 = NULL, *t2 = NULL;
	plumb_memtrace_stats *st = NULL;
	rc = MT_EXIT_FAIL;
	if (!(t1 = mt_open(a.path)))
		goto out;
	notes(t1, a.path);
	if (o.nfiles == 2) {
		if (!(t2 = mt_open(b.path)))
			goto out;
		notes(t2, b.path);
	}
	a.t = t1;
	b.t = t2 ? t2 : t1;
	if (!t2 && t1->nsnapshots == 1 && !o.from.arg && !o.to.arg) {
		warnx_("%s holds one snapshot: nothing to compare it with (give --from and --to, "
		       "or a second file)",
		       a.path);
		goto out;
	}
	long from_default = t2 ? (long)t1->nsnapshots - 1 : (t1->nsnapshots ? 0 : -1);
	if ((rc = side_load(&o, &a, &o.from, from_default)) >= 0 ||
	    (rc = side_load(&o, &b, &o.to, (long)b.t->nsnapshots - 1)) >= 0)
		goto out;
	rc = MT_EXIT_FAIL;
	st = plumb_memtrace_snapshot_compare_to(b.fs, a.fs, o.key, o.cumulative);
	if (!st) {
		warnx_("cannot compare the snapshots: %s", strerror(errno));
		goto out;
	}
	if (o.json)
		diff_json(&o, &a, &b, st);
	else
		diff_text(&o, &a, &b, st);
	rc = fflush(stdout) ? MT_EXIT_FAIL : 0;
out:
	plumb_memtrace_stats_free(st);
	side_free(&a);
	side_free(&b);
	pmt_trace_free(t1);
	pmt_trace_free(t2);
	aopts_free(&o);
	return rc;
}

/* ---- leaks ---- */

int mt_cmd_leaks(int argc, char **argv)
{
	struct aopts o = {.sub = "leaks"};
	int rc = parse(argc, argv, &o, "nj", 1, 1, help_leaks);
	if (rc >= 0)
		return rc;
	const char *path = o.files[0];
	struct pmt_trace *t = mt_open(path);
	plumb_memtrace_snapshot *s = NULL;
	plumb_memtrace_stats *st = NULL;
	rc = MT_EXIT_FAIL;
	if (!t)
		goto out;
	note_sampled(t, path); /* an early end has its own note below */
	long k = pmt_trace_find(t, PMT_SNAP_EXIT);
	bool at_exit = k >= 0;
	if (!at_exit) {
		k = (long)t->nsnapshots - 1;
		if (k < 0) {
			warnx_("%s ends before its first snapshot: no blocks to show", path);
			goto out;
		}
		warnx_("note: %s has no exit snapshot%s: showing its last snapshot, %ld (%s) at "
		       "%.3f s",
		       path, t->has_summary ? "" : " (the program did not exit normally)", k,
		       mt_kind_name(t->snapshots[k].kind), t->snapshots[k].t_ns / 1e9);
	}
	if (!(s = mt_snapshot(t, k, path)))
		goto out;
	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	if (!st) {
		warnx_("cannot group the blocks: %s", strerror(errno));
		goto out;
	}
	size_t size, count;
	plumb_memtrace_snapshot_size(s, &size, &count);
	size_t shown = o.top && o.top < st->n ? o.top : st->n;
	if (o.json) {
		fputs("{\"file\":", stdout);
		mt_json_str(stdout, path);
		json_trace_flags(stdout, t);
		fprintf(stdout, ",\"at_exit\":%s,\"snapshot\":", at_exit ? "true" : "false");
		json_snapshot(stdout, t, k);
		fprintf(stdout, ",\"leaked_bytes\":%zu,\"leaked_blocks\":%zu,\"groups\":[", size,
		        count);
		for (size_t i = 0; i < shown; i++) {
			fprintf(stdout,
			        "%s{\"size\":%zu,\"count\":%zu,\"traceback\":", i ? "," : "",
			        st->stats[i].size, st->stats[i].count);
			json_traceback(stdout, st->stats[i].traceback);
			fputc('}', stdout);
		}
		fputs("]}\n", stdout);
	} else {
		printf("%s: %s in %zu block%s %s, from %zu stack%s\n", path,
		       mt_size((double)size).s, count, count == 1 ? "" : "s",
		       at_exit ? "still allocated at exit" : "live at the last snapshot", st->n,
		       st->n == 1 ? "" : "s");
		for (size_t i = 0; i < shown; i++) {
			const plumb_memtrace_stat *e = &st->stats[i];
			const plumb_memtrace_frame *fr = mt_site_frame(e->traceback);
			printf("\n#%zu: %s", i + 1, fr->filename);
			if (fr->lineno)
				printf(":%u", fr->lineno);
			if (fr->function)
				printf(" in %s", fr->function);
			printf(": size=%s, count=%zu, average=%s\n", mt_size((double)e->size).s,
			       e->count,
			       mt_size(e->count ? (double)e->size / (double)e->count : 0).s);
			print_traceback(stdout, e->traceback);
		}
		if (shown < st->n)
			printf("\n%zu more stack%s\n", st->n - shown,
			       st->n - shown == 1 ? "" : "s");
	}
	rc = fflush(stdout) ? MT_EXIT_FAIL : 0;
out:
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);
	pmt_trace_free(t);
	aopts_free(&o);
	return rc;
}

/* ---- Pictures: the shared part of flamegraph, plot and html ---- */

enum picture { FLAMEGRAPH, PLOT, HTML };

static int picture(int argc, char **argv, enum picture what)
{
	static const char *const subs[] = {"flamegraph", "plot", "html"};
	static const char *const *helps[] = {&help_flamegraph, &help_plot, &help_html};
	struct aopts o = {.sub = subs[what]};
	int rc = parse(argc, argv, &o, what == PLOT ? "o" : "os", 1, 1, *helps[what]);
	if (rc >= 0)
		return rc;
	if (!o.output)
		return mt_usage_error(o.sub, "missing -o OUT (the %s to write)",
		                      what == HTML ? "page" : "picture");
	const char *path = o.files[0];
	struct pmt_trace *t = mt_open(path);
	plumb_memtrace_snapshot *s = NULL;
	struct mt_out out = {0};
	rc = MT_EXIT_FAIL;
	if (!t)
		goto out;
	notes(t, path);
	long k = what == PLOT ? -1 : mt_default_snapshot(t);
	if ((o.snap.arg || what == FLAMEGRAPH) &&
	    (rc = pick_snapshot(&o.snap, k, t, path, &k)) >= 0)
		goto out;
	rc = MT_EXIT_FAIL;
	if (what == FLAMEGRAPH && !(s = mt_snapshot(t, k, path)))
		goto out;
	if (!mt_out_open(&out, o.output))
		goto out;
	if (what == FLAMEGRAPH)
		mt_svg_flamegraph(out.f, t, k, s, true);
	else if (what == PLOT)
		mt_svg_plot(out.f, t, true);
	else if ((rc = mt_html_page(out.f, t, path, k)) != 0) {
		mt_out_abort(&out);
		goto out;
	}
	rc = mt_out_commit(&out) ? 0 : MT_EXIT_FAIL;
out:
	plumb_memtrace_snapshot_free(s);
	pmt_trace_free(t);
	aopts_free(&o);
	return rc;
}

int mt_cmd_flamegraph(int argc, char **argv)
{
	return picture(argc, argv, FLAMEGRAPH);
}

int mt_cmd_plot(int argc, char **argv)
{
	return picture(argc, argv, PLOT);
}

int mt_cmd_html(int argc, char **argv)
{
	return picture(argc, argv, HTML);
}

/* ---- Dispatch ---- */

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} subcommands[] = {
        {"run", mt_cmd_run},     {"report", mt_cmd_report},         {"diff", mt_cmd_diff},
        {"leaks", mt_cmd_leaks}, {"flamegraph", mt_cmd_flamegraph}, {"plot", mt_cmd_plot},
        {"html", mt_cmd_html},
};

int cmd_memtrace(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return MT_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
		if (!strcmp(name, subcommands[i].name)) {
			static char buf[64];
			snprintf(buf, sizeof buf, "plumb memtrace %s", name);
			prog_name = buf;
			return subcommands[i].run(argc - 1, argv + 1);
		}
	}
	if (name[0] == '-')
		return mt_usage_error(NULL, "unknown option '%s' (options follow the subcommand)",
		                      name);
	return mt_usage_error(NULL,
	                      "unknown subcommand '%s' (run, report, diff, leaks, flamegraph, "
	                      "plot, html)",
	                      name);
}
