/*
 * memtrace-svg.c - the pictures of `plumb memtrace`: the flame graph of a
 * snapshot and the plot of the heap over time, as SVG.
 *
 * Both are drawn to be read, not only parsed: text is placed only where it
 * fits (cut with an ellipsis otherwise, measured in the widths of a
 * monospace font so the fit is known), at 12-14 px, dark on pastel, with a
 * title that states the total.  Every box of the flame graph carries a
 * <title> (the browser's tooltip) with its function, file:line, module and
 * bytes.
 *
 * The flame graph is an icicle: the oldest frame (the program's entry) at
 * the top, the functions that called malloc at the bottom.  Frames are
 * merged by function name on each level, as flame graphs do; a box is as
 * wide as the bytes allocated under it, children sorted biggest first, and
 * coloured by the module the function lives in (a legend says which).
 *
 * The plot draws the traced heap from the trace's samples (one every ~10 ms
 * while memory changes) and snapshots: a line of the heap at each sample,
 * over a light area of the highest heap seen between samples, the peak as
 * a labelled red dot, and each snapshot as a dashed line.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrace.h"

/* The font all the text uses, and its advance at 1 px (DejaVu Sans Mono and
 * Liberation Mono are both 0.6 em). */
#define FONT    "DejaVu Sans Mono, Liberation Mono, Menlo, Consolas, monospace"
#define CHAR_EM 0.602

/* ---- Text that fits ---- */

/* Writes @s cut to at most @max characters (UTF-8 aware), with an ellipsis
 * when cut.  Returns the characters written. */
static size_t put_fitted(FILE *f, const char *s, size_t max)
{
	size_t chars = 0, len = strlen(s);
	for (size_t i = 0; i < len; i++)
		chars += ((unsigned char)s[i] & 0xc0) != 0x80;
	if (chars <= max) {
		mt_xml_str(f, s);
		return chars;
	}
	if (max < 2)
		return 0;
	size_t keep = max - 1, n = 0, i = 0;
	for (; i < len; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == keep)
			break;
	}
	char *cut = strndup(s, i);
	if (!cut)
		return 0;
	mt_xml_str(f, cut);
	fputs("\u2026", f);
	free(cut);
	return max;
}

static const char *short_module(const char *path)
{
	if (!path || !*path)
		return "?";
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* ---- The flame graph's tree ---- */

enum { MAX_LINES = 3 };

struct node {
	const char *name;   /* function, or the frame's "<module+0x...>" form */
	const char *module; /* for the colour */
	struct {
		const char *file;
		unsigned line;
	} at[MAX_LINES]; /* the distinct file:line of the frames merged here */
	size_t nat;
	bool more_lines;
	uint64_t size, count;
	struct node *child, *next;
};

static struct node *node_new(const char *name, const char *module)
{
	struct node *n = calloc(1, sizeof *n);
	if (n) {
		n->name = name;
		n->module = module;
	}
	return n;
}

static void node_free(struct node *n)
{
	while (n) {
		struct node *next = n->next;
		node_free(n->child);
		free(n);
		n = next;
	}
}

static const char *frame_name(const plumb_memtrace_frame *fr)
{
	if (fr->function && *fr->function)
		return fr->function;
	return fr->filename ? fr->filename : "<unknown>";
}

static void node_note_line(struct node *n, const plumb_memtrace_frame *fr)
{
	if (!fr->filename || !fr->lineno)
		return;
	for (size_t i = 0; i < n->nat; i++)
		if (n->at[i].line == fr->lineno && !strcmp(n->at[i].file, fr->filename))
			return;
	if (n->nat == MAX_LINES) {
		n->more_lines = true;
		return;
	}
	n->at[n->nat].file = fr->filename;
	n->at[n->nat++].line = fr->lineno;
}

static struct node *child_named(struct node *parent, const char *name, const char *module)
{
	for (struct node *c = parent->child; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	struct node *c = node_new(name, module);
	if (c) {
		c->next = parent->child;
		parent->child = c;
	}
	return c;
}

/* Adds one group: its frames from the oldest to the one that called malloc. */
static void tree_add(struct node *root, const plumb_memtrace_traceback *tb, uint64_t count,
                     uint64_t size)
{
	struct node *at = root;
	root->size += size;
	root->count += count;
	if (tb && tb->total_nframe > tb->nframe) {
		at = child_named(at, "[older frames cut]", NULL);
		if (!at)
			return;
		at->size += size;
		at->count += count;
	}
	for (size_t i = tb ? tb->nframe : 0; i-- > 0;) {
		const plumb_memtrace_frame *fr = &tb->frames[i];
		struct node *c = child_named(at, frame_name(fr), fr->module);
		if (!c)
			return;
		node_note_line(c, fr);
		c->size += size;
		c->count += count;
		at = c;
	}
}

static int by_size_desc(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;
	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Sorts every level biggest first; returns the depth below @n. */
static size_t tree_sort(struct node *n)
{
	size_t k = 0, depth = 0;
	for (struct node *c = n->child; c; c = c->next)
		k++;
	if (k > 1) {
		struct node **v = malloc(k * sizeof *v);
		if (v) {
			size_t i = 0;
			for (struct node *c = n->child; c; c = c->next)
				v[i++] = c;
			qsort(v, k, sizeof *v, by_size_desc);
			for (i = 0; i + 1 < k; i++)
				v[i]->next = v[i + 1];
			v[k - 1]->next = NULL;
			n->child = v[0];
			free(v);
		}
	}
	for (struct node *c = n->child; c; c = c->next) {
		size_t d = tree_sort(c) + 1;
		if (d > depth)
			depth = d;
	}
	return depth;
}

/* ---- Colours: one pastel hue per module ---- */

enum { MAX_MODULES = 10 };

static const char *const palette[MAX_MODULES] = {
        "#f7b267", "#8ecae6", "#b5e48c", "#f4a6c6", "#cdb4db",
        "#ffd166", "#90dbc6", "#f79d84", "#a3b1f5", "#d4c59a",
};
#define OTHER_COLOUR "#d0d0d0"

struct legend {
	const char *module[MAX_MODULES];
	uint64_t bytes[MAX_MODULES];
	size_t n;
	bool other;
};

static void legend_note(struct legend *lg, const struct node *n)
{
	for (const struct node *c = n; c; c = c->next) {
		if (c->module) {
			size_t i = 0;
			while (i < lg->n && strcmp(lg->module[i], c->module))
				i++;
			if (i == lg->n && lg->n < MAX_MODULES)
				lg->module[lg->n++] = c->module;
			else if (i == lg->n)
				lg->other = true;
		}
		legend_note(lg, c->child);
	}
}

static const char *colour_of(const struct legend *lg, const char *module)
{
	if (!module)
		return OTHER_COLOUR;
	for (size_t i = 0; i < lg->n; i++)
		if (!strcmp(lg->module[i], module))
			return palette[i];
	return OTHER_COLOUR;
}

/* ---- Drawing the flame graph ---- */

struct fg {
	FILE *f;
	const struct legend *lg;
	double x0, y0, width, row, font;
	uint64_t total;
};

static void fg_box(const struct fg *g, const struct node *n, double x, double w, size_t depth,
                   bool root)
{
	FILE *f = g->f;
	double y = g->y0 + (double)depth * g->row;
	char sz[32];
	snprintf(sz, sizeof sz, "%s", mt_size((double)n->size).s);
	double pct = g->total ? 100.0 * (double)n->size / (double)g->total : 0;
	fprintf(f, "<g class=\"f\"><title>");
	mt_xml_str(f, n->name);
	for (size_t i = 0; i < n->nat; i++) {
		fputs(i ? ", " : "\n", f);
		mt_xml_str(f, n->at[i].file);
		fprintf(f, ":%u", n->at[i].line);
	}
	if (n->more_lines)
		fputs(", ...", f);
	if (n->module) {
		fputs("\nin ", f);
		mt_xml_str(f, n->module);
	}
	fprintf(f, "\n%s (%" PRIu64 " bytes), %" PRIu64 " block%s, %.1f%%</title>", sz, n->size,
	        n->count, n->count == 1 ? "" : "s", pct);
	fprintf(f,
	        "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
	        "rx=\"2\"/>",
	        x, y, w > 1 ? w - 0.5 : w, g->row - 1,
	        root ? "#e0e0e0" : colour_of(g->lg, n->module));
	double cw = g->font * CHAR_EM;
	size_t fit = w > 8 ? (size_t)((w - 6) / cw) : 0;
	if (fit >= 6) { /* five letters and an ellipsis, or nothing */
		char label[1024];
		if (root)
			snprintf(label, sizeof label, "all: %s in %" PRIu64 " block%s", sz,
			         n->count, n->count == 1 ? "" : "s");
		else
			snprintf(label, sizeof label, "%s (%s, %.1f%%)", n->name, sz, pct);
		/* Prefer the bare name to a cut label. */
		const char *text = strlen(label) <= fit || root ? label : n->name;
		fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">", x + 3, y + g->row / 2 + g->font * 0.35);
		put_fitted(f, text, fit);
		fputs("</text>", f);
	}
	fputs("</g>\n", f);
}

static void fg_draw(const struct fg *g, const struct node *n, double x, double w, size_t depth)
{
	for (const struct node *c = n->child; c; c = c->next) {
		double cw = n->size ? w * (double)c->size / (double)n->size : 0;
		if (cw >= 0.3) {
			fg_box(g, c, x, cw, depth, false);
			fg_draw(g, c, x, cw, depth + 1);
		}
		x += cw;
	}
}

static void svg_open(FILE *f, double w, double h, bool standalone)
{
	if (standalone)
		fprintf(f,
		        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		        "viewBox=\"0 0 %.0f %.0f\">\n",
		        w, h, w, h);
	else
		fprintf(f,
		        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
		        "style=\"width:100%%;max-width:%.0fpx;height:auto\">\n",
		        w, h, w);
}

void mt_svg_flamegraph(FILE *f, const struct pmt_trace *t, long k, const plumb_memtrace_snapshot *s,
                       bool standalone)
{
	struct node *root = node_new("all", NULL);
	size_t ng = mt_snapshot_ngroups(s);
	for (size_t i = 0; root && i < ng; i++) {
		unsigned domain;
		const plumb_memtrace_traceback *tb;
		uint64_t count, size;
		mt_snapshot_group(s, i, &domain, &tb, &count, &size);
		tree_add(root, tb, count, size);
	}
	size_t depth = root ? tree_sort(root) : 0;
	struct legend lg = {0};
	if (root)
		legend_note(&lg, root->child);

	const double W = 1200, margin = 10, row = 18, font = 12, top = 58;
	double legend_h = 34;
	double H = top + (double)(depth + 1) * row + legend_h + 12;
	svg_open(f, W, H, standalone);
	fprintf(f,
	        "<style>text{font-family:%s;font-size:%.0fpx;fill:#1a1a1a}"
	        ".f:hover rect{stroke:#222;stroke-width:1}"
	        ".t{font-size:16px;font-weight:bold}.s{font-size:13px;fill:#444}</style>\n",
	        FONT, font);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");

	const struct pmt_snapshot_info *si = &t->snapshots[k];
	uint64_t total = root ? root->size : 0, blocks = root ? root->count : 0;
	char title[512];
	snprintf(title, sizeof title, "Live heap %s: %s in %" PRIu64 " block%s",
	         si->kind == PMT_SNAP_PEAK   ? "at the peak"
	         : si->kind == PMT_SNAP_EXIT ? "at exit (leaks)"
	                                     : "at a snapshot",
	         mt_size((double)total).s, blocks, blocks == 1 ? "" : "s");
	fprintf(f, "<text class=\"t\" x=\"%.0f\" y=\"24\">", margin);
	put_fitted(f, title, (size_t)((W - 2 * margin) / (16 * CHAR_EM)));
	fputs("</text>\n", f);
	char sub[1024];
	snprintf(sub, sizeof sub,
	         "%s (pid %" PRIu32 "), snapshot %ld (%s) at %.3f s. Width = bytes; the "
	         "caller of malloc is at the bottom. Hover a box for its file:line.",
	         t->exe && *t->exe ? short_module(t->exe) : "program", t->pid, k,
	         mt_kind_name(si->kind), si->t_ns / 1e9);
	fprintf(f, "<text class=\"s\" x=\"%.0f\" y=\"44\">", margin);
	put_fitted(f, sub, (size_t)((W - 2 * margin) / (13 * CHAR_EM)));
	fputs("</text>\n", f);

	if (root && total) {
		struct fg g = {.f = f,
		               .lg = &lg,
		               .x0 = margin,
		               .y0 = top,
		               .width = W - 2 * margin,
		               .row = row,
		               .font = font,
		               .total = total};
		fg_box(&g, root, margin, W - 2 * margin, 0, true);
		fg_draw(&g, root, margin, W - 2 * margin, 1);
	} else {
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">No live blocks in this snapshot.</text>\n",
		        margin, top + row);
	}

	/* The legend: one swatch per module. */
	double lx = margin, ly = top + (double)(depth + 1) * row + 22;
	for (size_t i = 0; i <= lg.n; i++) {
		if (i == lg.n && !lg.other)
			break;
		const char *name = i < lg.n ? short_module(lg.module[i]) : "other modules";
		double w =
		        14 + 6 + (double)(strlen(name) < 40 ? strlen(name) : 40) * font * CHAR_EM;
		if (lx + w > W - margin)
			break; /* one line of legend; the rest are "other" in effect */
		fprintf(f,
		        "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\" "
		        "rx=\"2\"/><text x=\"%.1f\" y=\"%.1f\">",
		        lx, ly - 11, i < lg.n ? palette[i] : OTHER_COLOUR, lx + 20, ly);
		put_fitted(f, name, 40);
		fputs("</text>\n", f);
		lx += w + 18;
	}
	fputs("</svg>\n", f);
	node_free(root);
}

/* ---- The plot ---- */

/* A "nice" step near @raw: 1, 2, 2.5 or 5 times a power of ten. */
static double nice_step(double raw)
{
	if (!(raw > 0))
		return 1;
	double p = pow(10, floor(log10(raw))), m = raw / p;
	return p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10);
}

/* Prints @v without trailing zeros ("2.5", "10"). */
static void put_num(FILE *f, double v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%.3f", v);
	char *e = buf + strlen(buf) - 1;
	while (*e == '0')
		*e-- = '\0';
	if (*e == '.')
		*e = '\0';
	fputs(strcmp(buf, "-0") ? buf : "0", f);
}

struct point {
	double t, v, env; /* seconds, bytes, highest bytes since the previous point */
};

static int by_time(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

struct plot {
	FILE *f;
	double left, top, w, h; /* the plotting area */
	double tmax, vmax;      /* the axes' ends, in seconds and bytes */
	double tscale, vscale;  /* seconds per time unit, bytes per size unit */
};

static double px(const struct plot *p, double t)
{
	return p->left + (p->tmax > 0 ? t / p->tmax : 0) * p->w;
}

static double py(const struct plot *p, double v)
{
	return p->top + p->h - (p->vmax > 0 ? v / p->vmax : 0) * p->h;
}

static void plot_axes(struct plot *p, const char *tunit, const char *vunit)
{
	FILE *f = p->f;
	double tstep = nice_step(p->tmax / p->tscale / 8),
	       vstep = nice_step(p->vmax / p->vscale / 5);
	fprintf(f, "<g class=\"grid\">\n");
	for (double v = 0; v <= p->vmax / p->vscale * 1.0001; v += vstep) {
		double y = py(p, v * p->vscale);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", p->left, y,
		        p->left + p->w, y);
		fprintf(f, "<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">", p->left - 8, y + 4);
		put_num(f, v);
		fprintf(f, " %s</text>\n", vunit);
	}
	for (double t = 0; t <= p->tmax / p->tscale * 1.0001; t += tstep) {
		double x = px(p, t * p->tscale);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, p->top, x,
		        p->top + p->h);
		fprintf(f, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">", x, p->top + p->h + 18);
		put_num(f, t);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</g>\n");
	fprintf(f,
	        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
	        "stroke=\"#888\"/>\n",
	        p->left, p->top, p->w, p->h);
	fprintf(f, "<text class=\"al\" x=\"%.1f\" y=\"%.1f\">time (%s)</text>\n",
	        p->left + p->w / 2, p->top + p->h + 40, tunit);
	fprintf(f,
	        "<text class=\"al\" transform=\"translate(%.1f,%.1f) rotate(-90)\">heap "
	        "(%s)</text>\n",
	        p->left - 70, p->top + p->h / 2, vunit);
}

/* Keeps, of each of @cols time columns, the lowest and the highest point
 * (in their order) and the highest envelope; in place.  Returns the count. */
static size_t thin(struct point *v, size_t n, size_t cols)
{
	double tend = n ? v[n - 1].t : 0;
	if (n <= 2 * cols || !(tend > 0))
		return n;
	size_t out = 0, i = 0;
	while (i < n) {
		size_t col = (size_t)(v[i].t / tend * (double)(cols - 1)), j = i, lo = i, hi = i;
		double env = v[i].env;
		for (; j < n && (size_t)(v[j].t / tend * (double)(cols - 1)) == col; j++) {
			lo = v[j].v < v[lo].v ? j : lo;
			hi = v[j].v > v[hi].v ? j : hi;
			env = v[j].env > env ? v[j].env : env;
		}
		struct point a = v[lo < hi ? lo : hi], b = v[lo < hi ? hi : lo];
		a.env = b.env = env;
		v[out++] = a;
		if (lo != hi)
			v[out++] = b;
		i = j;
	}
	return out;
}

/* The series: a start at 0, the samples, the snapshots and the end; when
 * there are more points than pixels, each pixel column keeps its lowest and
 * highest. */
static struct point *plot_points(const struct pmt_trace *t, size_t *np)
{
	size_t cap = t->nsamples + t->nsnapshots + 2, n = 0;
	struct point *v = malloc(cap * sizeof *v);
	if (!v)
		return NULL;
	v[n++] = (struct point){0, 0, 0};
	for (size_t i = 0; i < t->nsamples; i++) {
		const struct pmt_sample *s = &t->samples[i];
		double env = (double)(s->max > s->current ? s->max : s->current);
		v[n++] = (struct point){s->t_ns / 1e9, (double)s->current, env};
	}
	for (size_t i = 0; i < t->nsnapshots; i++) {
		const struct pmt_snapshot_info *s = &t->snapshots[i];
		if (s->kind == PMT_SNAP_PEAK)
			continue; /* taken late, of the heap at an earlier moment */
		v[n++] = (struct point){s->t_ns / 1e9, (double)s->current, (double)s->current};
	}
	if (t->has_summary)
		v[n++] = (struct point){t->summary.t_ns / 1e9, (double)t->summary.leaked_bytes,
		                        (double)t->summary.leaked_bytes};
	qsort(v, n, sizeof *v, by_time);
	*np = thin(v, n, 1000);
	return v;
}

/* The size unit that suits @max bytes. */
static void size_unit(double max, const char **name, double *scale)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t i = 0;
	double s = 1;
	while (i + 1 < sizeof units / sizeof units[0] && max >= 2 * 1024 * s) {
		s *= 1024;
		i++;
	}
	*name = units[i];
	*scale = s;
}

static void plot_series(const struct plot *p, const struct point *v, size_t n)
{
	FILE *f = p->f;
	/* The envelope: a step as high as the heap went between two points
	 * (it is known to have been there, not when), then the heap line. */
	fprintf(f, "<path class=\"env\" d=\"M%.1f %.1f L%.1f %.1f", px(p, v[0].t), py(p, 0),
	        px(p, v[0].t), py(p, v[0].env));
	for (size_t i = 1; i < n; i++) {
		double top = v[i].env;
		top = v[i].v > top ? v[i].v : top;
		top = v[i - 1].v > top ? v[i - 1].v : top;
		fprintf(f, " L%.1f %.1f L%.1f %.1f", px(p, v[i - 1].t), py(p, top), px(p, v[i].t),
		        py(p, top));
	}
	fprintf(f, " L%.1f %.1f Z\"/>\n", px(p, v[n - 1].t), py(p, 0));
	fprintf(f, "<path class=\"area\" d=\"M%.1f %.1f", px(p, v[0].t), py(p, 0));
	for (size_t i = 0; i < n; i++)
		fprintf(f, " L%.1f %.1f", px(p, v[i].t), py(p, v[i].v));
	fprintf(f, " L%.1f %.1f Z\"/>\n", px(p, v[n - 1].t), py(p, 0));
	fprintf(f, "<path class=\"line\" d=\"");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%.1f %.1f", i ? " L" : "M", px(p, v[i].t), py(p, v[i].v));
	fprintf(f, "\"/>\n");
}

static void plot_snapshots(const struct plot *p, const struct pmt_trace *t)
{
	FILE *f = p->f;
	double last_end = -1e9;
	bool labels = t->nsnapshots <= 40;
	for (size_t i = 0; i < t->nsnapshots; i++) {
		const struct pmt_snapshot_info *s = &t->snapshots[i];
		if (s->kind == PMT_SNAP_PEAK)
			continue; /* the red dot shows it */
		double x = px(p, s->t_ns / 1e9);
		fprintf(f,
		        "<line class=\"snap\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\">"
		        "<title>snapshot %zu (%s) at %.3f s: %s</title></line>\n",
		        x, p->top, x, p->top + p->h, i, mt_kind_name(s->kind), s->t_ns / 1e9,
		        mt_size((double)s->current).s);
		char label[32];
		snprintf(label, sizeof label, "#%zu %s", i, mt_kind_name(s->kind));
		double w = (double)strlen(label) * 11 * CHAR_EM;
		if (labels && x - w / 2 > last_end + 4) {
			fprintf(f, "<text class=\"sl\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", x,
			        p->top - 6, label);
			last_end = x + w / 2;
		}
	}
}

static void plot_peak(const struct plot *p, double t, double v)
{
	FILE *f = p->f;
	double x = px(p, t), y = py(p, v);
	char label[96];
	if (p->tscale < 1) /* the axis is in ms */
		snprintf(label, sizeof label, "peak %s at %.2f ms", mt_size(v).s, t * 1e3);
	else
		snprintf(label, sizeof label, "peak %s at %.3f s", mt_size(v).s, t);
	double w = (double)strlen(label) * 13 * 0.66; /* bold is wider */
	bool left = x + 10 + w > p->left + p->w;
	double ty = y < p->top + 20 ? y + 18 : y - 8;
	fprintf(f, "<circle class=\"peak\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\"/>\n", x, y);
	fprintf(f, "<text class=\"pl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
	        left ? x - 9 : x + 9, ty, left ? "end" : "start", label);
}

void mt_svg_plot(FILE *f, const struct pmt_trace *t, bool standalone)
{
	const double W = 1200, H = 460;
	struct plot p = {.f = f, .left = 96, .top = 78, .w = W - 96 - 36, .h = H - 78 - 66};
	size_t n = 0;
	struct point *v = plot_points(t, &n);

	/* The peak: the summary's, exact; else the highest seen. */
	uint64_t peak_b, peak_ns;
	mt_trace_peak(t, &peak_b, &peak_ns);
	double peak = (double)peak_b, peak_t = peak_ns / 1e9;
	double tend = 0, vtop = peak;
	for (size_t i = 0; v && i < n; i++) {
		tend = v[i].t > tend ? v[i].t : tend;
		vtop = v[i].env > vtop ? v[i].env : vtop;
	}
	tend = peak_t > tend ? peak_t : tend;

	const char *vunit;
	size_unit(vtop, &vunit, &p.vscale);
	const char *tunit = tend < 1 ? "ms" : "s";
	p.tscale = tend < 1 ? 1e-3 : 1;
	p.tmax = tend > 0
	                 ? nice_step(tend / p.tscale / 8) *
	                           ceil(tend / p.tscale / nice_step(tend / p.tscale / 8)) * p.tscale
	                 : 1e-3;
	double vs = nice_step(vtop * 1.08 / p.vscale / 5);
	p.vmax = vtop > 0 ? vs * ceil(vtop * 1.08 / p.vscale / vs) * p.vscale : 1024;

	svg_open(f, W, H, standalone);
	fprintf(f,
	        "<style>text{font-family:%s;font-size:13px;fill:#1a1a1a}"
	        ".t{font-size:16px;font-weight:bold}.s{fill:#444}"
	        ".grid line{stroke:#e4e4e4}.yl{text-anchor:end}.xl{text-anchor:middle}"
	        ".al{text-anchor:middle;font-size:13px;fill:#333}"
	        ".sl{text-anchor:middle;font-size:11px;fill:#666}"
	        ".env{fill:#dbe9f6}.area{fill:#9ecae1;fill-opacity:0.6}"
	        ".line{fill:none;stroke:#2171b5;stroke-width:2;stroke-linejoin:round}"
	        ".snap{stroke:#888;stroke-dasharray:4 3}"
	        ".peak{fill:#d62728;stroke:#fff;stroke-width:1.5}"
	        ".pl{fill:#b01e1e;font-weight:bold;paint-order:stroke;stroke:#fff;"
	        "stroke-width:4px;stroke-linejoin:round}</style>\n",
	        FONT);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	char title[512];
	snprintf(title, sizeof title, "Heap over time: %s (pid %" PRIu32 ")",
	         t->exe && *t->exe ? short_module(t->exe) : "program", t->pid);
	fprintf(f, "<text class=\"t\" x=\"20\" y=\"26\">");
	put_fitted(f, title, (size_t)((W - 40) / (16 * CHAR_EM)));
	fputs("</text>\n", f);
	char sub[256];
	if (t->has_summary)
		snprintf(sub, sizeof sub,
		         "peak %s at %.3f s; %s leaked at exit; %" PRIu64 " allocations",
		         mt_size(peak).s, peak_t, mt_size((double)t->summary.leaked_bytes).s,
		         t->summary.allocs);
	else
		snprintf(sub, sizeof sub, "highest seen %s at %.3f s; the trace ends early",
		         mt_size(peak).s, peak_t);
	fprintf(f, "<text class=\"s\" x=\"20\" y=\"46\">");
	put_fitted(f, sub, (size_t)((W - 40) / (13 * CHAR_EM)));
	fputs("</text>\n", f);

	plot_axes(&p, tunit, vunit);
	if (v && n > 1)
		plot_series(&p, v, n);
	else
		fprintf(f,
		        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no samples in this "
		        "trace</text>\n",
		        p.left + p.w / 2, p.top + p.h / 2);
	plot_snapshots(&p, t);
	if (peak > 0)
		plot_peak(&p, peak_t, peak);

	/* The key, top right. */
	double kx = p.left + p.w - 330, ky = 46;
	fprintf(f,
	        "<line class=\"line\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
	        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">heap</text>"
	        "<rect class=\"env\" x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"10\"/>"
	        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">highest between samples</text>\n",
	        kx, ky - 4, kx + 18, ky - 4, kx + 24, ky, kx + 70, ky - 9, kx + 94, ky);
	fputs("</svg>\n", f);
	free(v);
}
