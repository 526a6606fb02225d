/*
 * format.c - tracemalloc's text: _format_size, str(Statistic),
 * str(StatisticDiff) and Traceback.format(), byte for byte.
 *
 * People compare these lines with what Python prints (the memleak note
 * does), so every detail is CPython 3.11's: the unit thresholds of
 * _format_size (one decimal below 100, none up to 10 KiB worth of the unit,
 * TiB the last unit), round-half-even of printf (Python's %-formatting and
 * glibc's printf both round the exact binary value), str(traceback) being
 * its *oldest* frame (Traceback stores frames oldest first and prints
 * self[0]), Traceback.format's slicing (a negative limit drops that many
 * most recent frames), and linecache's reading of the source line:
 * universal newlines, a file that is not valid UTF-8 has no lines, names
 * like "<...>" are not files, the line stripped of Python's whitespace.
 *
 * Functions here are snprintf-like: they write what fits, always
 * terminate, and return the length the whole text needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis-internal.h"

/* ---- An snprintf-like string builder ---- */

struct out {
	char *buf;
	size_t size, len;
};

static void out_vprintf(struct out *o, const char *fmt, va_list ap)
{
	size_t room = o->len < o->size ? o->size - o->len : 0;
	int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	if (n > 0)
		o->len += (size_t)n;
}

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out_vprintf(o, fmt, ap);
	va_end(ap);
}

static size_t out_done(struct out *o)
{
	if (o->size)
		o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
	return o->len;
}

/* ---- _format_size ---- */

static void format_size(struct out *o, double size, bool sign)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	for (size_t u = 0; u < 5; u++) {
		if (fabs(size) < 100 && u != 0) {
			out_printf(o, sign ? "%+.1f %s" : "%.1f %s", size, units[u]);
			return;
		}
		if (fabs(size) < 10 * 1024 || u == 4) {
			out_printf(o, sign ? "%+.0f %s" : "%.0f %s", size, units[u]);
			return;
		}
		size /= 1024;
	}
}

size_t plumb_memtrace_format_size(double size, bool sign, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	format_size(&o, size, sign);
	return out_done(&o);
}

/* ---- Statistic.__str__, StatisticDiff.__str__ ---- */

/* str(traceback): Frame.__str__ of self[0], the oldest frame. */
static void traceback_str(struct out *o, const plumb_memtrace_traceback *tb)
{
	if (!tb || !tb->nframe) {
		out_printf(o, "<unknown>:0");
		return;
	}
	const plumb_memtrace_frame *f = &tb->frames[tb->nframe - 1];
	out_printf(o, "%s:%u", f->filename, f->lineno);
}

static void average(struct out *o, size_t size, size_t count)
{
	if (count) {
		out_printf(o, ", average=");
		format_size(o, (double)size / (double)count, false);
	}
}

size_t plumb_memtrace_stat_format(const plumb_memtrace_stat *st, char *buf, size_t size)
{
	struct out o = {buf, size, 0};
	traceback_str(&o, st->traceback);
	out_printf(&o, ": size=");
	format_size(&o, (double)st->size, false);
	out_printf(&o, ", count=%zu", st->count);
	average(&o, st->size, st->count);
	return out_done(&o);
}

size_t plumb_memtrace_statdiff_format(const plumb_memtrace_statdiff *st, char *buf, size_t size)
{
	struct out o = {buf, size, 0};
	traceback_str(&o, st->traceback);
	out_printf(&o, ": size=");
	format_size(&o, (double)st->size, false);
	out_printf(&o, " (");
	format_size(&o, (double)st->size_diff, true);
	out_printf(&o, "), count=%zu (%+zd)", st->count, st->count_diff);
	average(&o, st->size, st->count);
	return out_done(&o);
}

/* ---- linecache ---- */

#define MAX_SOURCE (256u << 20)

/* Whether @p[0..n) is UTF-8 as Python's strict decoder accepts it. */
static bool valid_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		unsigned lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f; /* no surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (n - i < len || p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static bool load_source(struct mt_source_cache *c, const char *path)
{
	free(c->path);
	free(c->text);
	*c = (struct mt_source_cache){0};
	c->path = strdup(path);
	if (!c->path)
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > MAX_SOURCE) {
		close(fd);
		return false;
	}
	size_t cap = (size_t)sb.st_size + 1, len = 0;
	char *text = malloc(cap);
	while (text) {
		if (len == cap) {
			if (cap > MAX_SOURCE)
				break;
			char *more = realloc(text, cap * 2);
			if (!more)
				break;
			text = more;
			cap *= 2;
		}
		ssize_t r = read(fd, text + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0) {
				c->text = text;
				c->len = len;
				text = NULL;
			}
			break;
		}
		len += (size_t)r;
	}
	free(text);
	close(fd);
	if (!c->text)
		return false;
	/* tokenize.open: a UTF-8 BOM is dropped; undecodable text gives
	 * linecache no lines at all. */
	if (c->len >= 3 && memcmp(c->text, "\xef\xbb\xbf", 3) == 0) {
		memmove(c->text, c->text + 3, c->len - 3);
		c->len -= 3;
	}
	c->ok = valid_utf8((const unsigned char *)c->text, c->len);
	return c->ok;
}

/* Python's str.isspace() for the code point starting at @p (of @n bytes
 * left); its length in *len. */
static bool py_space(const unsigned char *p, size_t n, size_t *len)
{
	*len = 1;
	if (p[0] < 0x80)
		return (p[0] >= 0x09 && p[0] <= 0x0d) || (p[0] >= 0x1c && p[0] <= 0x20);
	if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) {
		*len = 2;
		return true;
	}
	if (n >= 3) {
		*len = 3;
		if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
			return true;
		if (p[0] == 0xe2 && p[1] == 0x80 &&
		    ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 ||
		     p[2] == 0xaf))
			return true;
		if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
			return true;
		if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
			return true;
	}
	*len = 1;
	return false;
}

/* Whether the last code point of p[0..n) is Python whitespace; its length
 * in *len. */
static bool py_space_back(const unsigned char *p, size_t n, size_t *len)
{
	size_t start = n - 1;
	while (start > 0 && n - start < 4 && (p[start] & 0xc0) == 0x80)
		start--;
	size_t l;
	if (py_space(p + start, n - start, &l) && start + l == n) {
		*len = l;
		return true;
	}
	return false;
}

char *mt_source_line(struct mt_source_cache *cache, const char *filename, unsigned lineno)
{
	size_t flen = strlen(filename);
	if (!flen || lineno == 0 || (filename[0] == '<' && filename[flen - 1] == '>'))
		return NULL;
	if (!cache->path || strcmp(cache->path, filename) != 0)
		load_source(cache, filename);
	if (!cache->ok)
		return NULL;
	/* readlines() with universal newlines: \n, \r\n and \r end a line. */
	const char *p = cache->text, *end = cache->text + cache->len;
	for (unsigned line = 1; line < lineno; line++) {
		while (p < end && *p != '\n' && *p != '\r')
			p++;
		if (p == end)
			return NULL;
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			p++;
		p++;
		if (p == end)
			return NULL; /* the file ended with that line's newline */
	}
	const char *e = p;
	while (e < end && *e != '\n' && *e != '\r')
		e++;
	const unsigned char *s = (const unsigned char *)p;
	size_t n = (size_t)(e - p), len;
	while (n && py_space(s, n, &len)) {
		s += len;
		n -= len;
	}
	while (n && py_space_back(s, n, &len))
		n -= len;
	if (!n)
		return NULL;
	char *r = malloc(n + 1);
	if (r) {
		memcpy(r, s, n);
		r[n] = '\0';
	}
	return r;
}

void mt_source_cache_free(struct mt_source_cache *cache)
{
	free(cache->path);
	free(cache->text);
	*cache = (struct mt_source_cache){0};
}

/* ---- Traceback.format ---- */

size_t plumb_memtrace_traceback_format(const plumb_memtrace_traceback *tb, int limit,
                                       bool most_recent_first, char *buf, size_t size)
{
	struct out o = {buf, size, 0};
	if (!tb || !tb->nframe)
		return out_done(&o);
	GUARD_BEGIN;
	/* Frame indices (0 = most recent) that the slice keeps. */
	size_t n = tb->nframe, lo = 0, hi = n;
	if (limit > 0)
		hi = (size_t)limit < n ? (size_t)limit : n;
	else if (limit < 0)
		lo = (size_t) - (long)limit < n ? (size_t) - (long)limit : n;
	struct mt_source_cache cache = {0};
	for (size_t k = lo; k < hi; k++) {
		size_t i = most_recent_first ? k : hi - 1 - (k - lo);
		const plumb_memtrace_frame *f = &tb->frames[i];
		out_printf(&o, "  File \"%s\", line %u\n", f->filename, f->lineno);
		char *line = mt_source_line(&cache, f->filename, f->lineno);
		if (line) {
			out_printf(&o, "    %s\n", line);
			free(line);
		}
	}
	mt_source_cache_free(&cache);
	GUARD_END;
	return out_done(&o);
}
