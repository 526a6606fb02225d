/*
 * filter.c - Snapshot.filter_traces() with tracemalloc's Filter and
 * DomainFilter, and the fnmatch they match file names with.
 *
 * tracemalloc matches a frame's file name with fnmatch.fnmatch, which on
 * POSIX is fnmatchcase: Python's own dialect, not glibc's.  Backslash is
 * an ordinary character, '[^...]' is not a negation, a '[' without its ']'
 * is literal, ranges are those of the regular expression fnmatch.translate
 * builds (with its quirks: "[z-a]" matches nothing, an empty range inside
 * a set is dropped), and '?' is one character, not one byte.  So the
 * translation is redone here step by step, on code points (bytes that are
 * not UTF-8 stand for themselves, as Python's surrogateescape does).  A
 * pattern that makes Python raise matches nothing.
 *
 * Filters see whole groups: every block of a group shares its stack and
 * domain, which is all a filter looks at.  Without all_frames a filter
 * looks at the key frame (mt_key_frame), the one statistics group by; so
 * neither needs whole tracebacks built.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis-internal.h"

/* ---- Code points ---- */

/* Decodes UTF-8 into @out (room for strlen(s) code points); invalid bytes
 * become U+DC80..U+DCFF as with surrogateescape.  Returns the count. */
static size_t decode(const char *s, uint32_t *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	while (*p) {
		unsigned c = *p;
		size_t len = c < 0x80             ? 1
		             : (c & 0xe0) == 0xc0 ? 2
		             : (c & 0xf0) == 0xe0 ? 3
		             : (c & 0xf8) == 0xf0 ? 4
		                                  : 0;
		uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
		bool ok = len > 0;
		for (size_t i = 1; ok && i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				ok = false;
			else
				cp = cp << 6 | (p[i] & 0x3f);
		}
		if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		           (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		           (cp >= 0xd800 && cp <= 0xdfff)))
			ok = false;
		if (!ok) {
			out[n++] = 0xdc00 + c;
			p++;
		} else {
			out[n++] = cp;
			p += len;
		}
	}
	return n;
}

/* ---- The pattern, compiled ---- */

enum { T_LIT, T_ANY, T_NEVER, T_SET, T_STAR };

struct range {
	uint32_t lo, hi;
};

struct token {
	int kind;
	uint32_t c;    /* T_LIT */
	bool negate;   /* T_SET */
	size_t r0, nr; /* T_SET: ranges[r0 .. r0 + nr) */
};

struct glob {
	struct token *tok;
	size_t ntok;
	struct range *ranges;
	size_t nranges;
};

/* A set's text after fnmatch.translate's processing, as tokens: each a
 * character, or (op) a hyphen that makes a range in the regular
 * expression. */
struct settok {
	uint32_t c;
	bool op;
};

/* A piece of the set between range hyphens: fnmatch.translate's chunks.
 * Each owns its array, with room for one more code point. */
struct chunk {
	uint32_t *c;
	size_t n;
};

static int chunk_new(struct chunk *ch, const uint32_t *from, size_t n)
{
	ch->c = malloc((n + 1) * sizeof *ch->c);
	if (!ch->c)
		return -ENOMEM;
	memcpy(ch->c, from, n * sizeof *ch->c);
	ch->n = n;
	return 0;
}

static int add_range(struct glob *g, uint32_t lo, uint32_t hi)
{
	struct range *r = realloc(g->ranges, (g->nranges + 1) * sizeof *r);
	if (!r)
		return -ENOMEM;
	g->ranges = r;
	g->ranges[g->nranges++] = (struct range){lo, hi};
	return 0;
}

/* fnmatch.translate's chunks of the set pat[i..j): split at the hyphens
 * that make ranges, then "Remove empty ranges" (both ends of "z-a" go).
 * Sets *error where Python would raise IndexError. */
static int split_chunks(const uint32_t *pat, size_t i, size_t j, struct chunk *chunks,
                        size_t *nchunks, bool *error)
{
	size_t n = 0;
	size_t k = pat[i] == '!' ? i + 2 : i + 1;
	for (;;) {
		size_t h = k;
		while (h < j && pat[h] != '-')
			h++;
		if (k >= j || h >= j)
			break;
		if (chunk_new(&chunks[n++], pat + i, h - i) < 0)
			goto nomem;
		i = h + 1;
		k = h + 3;
	}
	if (i < j) {
		if (chunk_new(&chunks[n++], pat + i, j - i) < 0)
			goto nomem;
	} else {
		chunks[n - 1].c[chunks[n - 1].n++] = '-';
	}
	for (size_t m = n; m-- > 1;) {
		struct chunk *a = &chunks[m - 1], *b = &chunks[m];
		if (a->n == 0 || b->n == 0) {
			*error = true;
			break;
		}
		if (a->c[a->n - 1] <= b->c[0])
			continue;
		struct chunk merged;
		if (chunk_new(&merged, a->c, a->n - 1) < 0)
			goto nomem;
		uint32_t *more = realloc(merged.c, (merged.n + b->n) * sizeof *more);
		if (!more) {
			free(merged.c);
			goto nomem;
		}
		merged.c = more;
		memcpy(merged.c + merged.n, b->c + 1, (b->n - 1) * sizeof *more);
		merged.n += b->n - 1;
		free(a->c);
		free(b->c);
		*a = merged;
		memmove(b, b + 1, (n - m - 1) * sizeof *b);
		chunks[--n] = (struct chunk){0};
	}
	*nchunks = n;
	return 0;
nomem:
	*nchunks = n;
	return -ENOMEM;
}

/*
 * The set pat[i..j) (the text between '[' and ']'), following
 * fnmatch.translate, then read as sre reads a character class.  Fills @t
 * (T_SET, T_ANY or T_NEVER).
 */
static int compile_set(struct glob *g, const uint32_t *pat, size_t i, size_t j, struct token *t)
{
	int rc = -ENOMEM;
	size_t len = j - i;
	struct settok *st = malloc((2 * len + 2) * sizeof *st);
	struct chunk *chunks = calloc(len + 2, sizeof *chunks);
	size_t nst = 0, nchunks = 0;
	bool error = false, has_hyphen = false;
	if (!st || !chunks)
		goto out;
	for (size_t k = i; k < j; k++)
		has_hyphen |= pat[k] == '-';
	if (!has_hyphen) {
		for (size_t k = i; k < j; k++)
			st[nst++] = (struct settok){pat[k], false};
	} else {
		if (split_chunks(pat, i, j, chunks, &nchunks, &error) < 0)
			goto out;
		for (size_t m = 0; m < nchunks; m++) {
			if (m > 0)
				st[nst++] = (struct settok){'-', true};
			for (size_t q = 0; q < chunks[m].n; q++)
				st[nst++] = (struct settok){chunks[m].c[q], false};
		}
	}
	rc = 0;
	if (error || nst == 0) {
		t->kind = T_NEVER; /* Python raises, or "(?!)" */
		goto out;
	}
	if (nst == 1 && !st[0].op && st[0].c == '!') {
		t->kind = T_ANY;
		goto out;
	}
	*t = (struct token){.kind = T_SET, .r0 = g->nranges};
	size_t p = 0;
	if (!st[0].op && st[0].c == '!') {
		t->negate = true;
		p = 1;
	}
	/* sre's class parser: "a-b" is a range when the '-' is unescaped
	 * (an op here); "a-" at the end is 'a' and '-'. */
	rc = -ENOMEM;
	while (p < nst) {
		uint32_t lo = st[p++].c;
		if (p < nst && st[p].op) {
			p++;
			if (p >= nst) {
				if (add_range(g, lo, lo) < 0 || add_range(g, '-', '-') < 0)
					goto out;
				break;
			}
			uint32_t hi = st[p++].c;
			if (lo > hi) {
				t->kind = T_NEVER; /* re.error: bad character range */
				break;
			}
			if (add_range(g, lo, hi) < 0)
				goto out;
		} else if (add_range(g, lo, lo) < 0) {
			goto out;
		}
	}
	t->nr = g->nranges - t->r0;
	rc = 0;
out:
	for (size_t m = 0; chunks && m < len + 2; m++)
		free(chunks[m].c);
	free(chunks);
	free(st);
	return rc;
}

static void glob_free(struct glob *g)
{
	free(g->tok);
	free(g->ranges);
	*g = (struct glob){0};
}

/* fnmatch.translate, as tokens. */
static int glob_compile(struct glob *g, const char *pattern)
{
	*g = (struct glob){0};
	size_t len = strlen(pattern);
	uint32_t *pat = malloc((len + 1) * sizeof *pat);
	g->tok = malloc((len + 1) * sizeof *g->tok);
	if (!pat || !g->tok)
		goto nomem;
	size_t n = decode(pattern, pat);
	size_t i = 0;
	while (i < n) {
		uint32_t c = pat[i++];
		struct token *t = &g->tok[g->ntok];
		*t = (struct token){0};
		if (c == '*') {
			if (!g->ntok || g->tok[g->ntok - 1].kind != T_STAR) {
				t->kind = T_STAR;
				g->ntok++;
			}
		} else if (c == '?') {
			t->kind = T_ANY;
			g->ntok++;
		} else if (c == '[') {
			size_t j = i;
			if (j < n && pat[j] == '!')
				j++;
			if (j < n && pat[j] == ']')
				j++;
			while (j < n && pat[j] != ']')
				j++;
			if (j >= n) {
				*t = (struct token){.kind = T_LIT, .c = '['};
			} else {
				if (compile_set(g, pat, i, j, t) < 0)
					goto nomem;
				i = j + 1;
			}
			g->ntok++;
		} else {
			*t = (struct token){.kind = T_LIT, .c = c};
			g->ntok++;
		}
	}
	free(pat);
	return 0;
nomem:
	free(pat);
	glob_free(g);
	return -ENOMEM;
}

static bool token_match(const struct glob *g, const struct token *t, uint32_t c)
{
	switch (t->kind) {
	case T_LIT:
		return t->c == c;
	case T_ANY:
		return true;
	case T_SET: {
		bool in = false;
		for (size_t i = 0; i < t->nr && !in; i++)
			in = g->ranges[t->r0 + i].lo <= c && c <= g->ranges[t->r0 + i].hi;
		return in != t->negate;
	}
	default:
		return false;
	}
}

/* Each token but '*' matches exactly one character, so the classic walk
 * that backtracks to the last star is exact. */
static bool glob_match_cp(const struct glob *g, const uint32_t *s, size_t ns)
{
	size_t p = 0, i = 0, star_p = 0, star_i = 0;
	bool star = false;
	while (i < ns) {
		if (p < g->ntok && g->tok[p].kind == T_STAR) {
			star = true;
			star_p = ++p;
			star_i = i;
		} else if (p < g->ntok && token_match(g, &g->tok[p], s[i])) {
			p++;
			i++;
		} else if (star) {
			p = star_p;
			i = ++star_i;
		} else {
			return false;
		}
	}
	while (p < g->ntok && g->tok[p].kind == T_STAR)
		p++;
	return p == g->ntok;
}

static bool glob_match(const struct glob *g, const char *name)
{
	uint32_t small[512];
	size_t len = strlen(name);
	uint32_t *s = len < 512 ? small : malloc(len * sizeof *s);
	if (!s)
		return false;
	bool r = glob_match_cp(g, s, decode(name, s));
	if (s != small)
		free(s);
	return r;
}

bool mt_fnmatch(const char *pattern, const char *name)
{
	struct glob g;
	if (glob_compile(&g, pattern) < 0)
		return false;
	bool r = glob_match(&g, name);
	glob_free(&g);
	return r;
}

/* ---- Filters ---- */

struct cfilter {
	const plumb_memtrace_filter *f;
	struct glob glob;
};

/* Filter._match_frame_impl */
static bool frame_matches(const struct cfilter *cf, const plumb_memtrace_frame *fr)
{
	if (!glob_match(&cf->glob, fr->filename))
		return false;
	return cf->f->lineno == 0 || fr->lineno == cf->f->lineno;
}

static int any_frame_step(const plumb_memtrace_frame *f, void *arg)
{
	return frame_matches(arg, f) ? 1 : 0;
}

/* Filter._match / DomainFilter._match: 1 when the filter lets the group
 * (stack, domain) through, 0 when not, -ENOMEM. */
static int filter_match(const struct cfilter *cf, const plumb_memtrace_snapshot *s, uint32_t stack,
                        unsigned domain)
{
	const plumb_memtrace_filter *f = cf->f;
	bool domain_is = f->domain < 0 || domain == (unsigned)f->domain;
	if (!f->filename_pattern)
		return domain_is == f->inclusive;
	bool res;
	if (f->all_frames) {
		int any = mt_stack_each_frame(s, stack, any_frame_step, (void *)cf);
		if (any < 0)
			return any;
		res = any ? f->inclusive : !f->inclusive;
	} else {
		const plumb_memtrace_frame *key = mt_stack_key_frame(s, stack);
		if (!key)
			return -ENOMEM;
		res = frame_matches(cf, key) == f->inclusive;
	}
	if (f->domain >= 0)
		return f->inclusive ? res && domain_is : res || !domain_is;
	return res;
}

/* Snapshot._filter_trace: 1 to keep, 0 not, -ENOMEM. */
static int keep(const struct cfilter *cf, size_t n, const plumb_memtrace_snapshot *s,
                const struct mt_group *g)
{
	bool any_include = false, included = false;
	for (size_t i = 0; i < n && !included; i++) {
		if (!cf[i].f->inclusive)
			continue;
		any_include = true;
		int m = filter_match(&cf[i], s, g->stack, g->domain);
		if (m < 0)
			return m;
		included = m;
	}
	if (any_include && !included)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (cf[i].f->inclusive)
			continue;
		int m = filter_match(&cf[i], s, g->stack, g->domain);
		if (m <= 0)
			return m;
	}
	return 1;
}

static plumb_memtrace_snapshot *filter(const plumb_memtrace_snapshot *s,
                                       const plumb_memtrace_filter *filters, size_t n)
{
	struct cfilter *cf = calloc(n ? n : 1, sizeof *cf);
	int32_t *map = malloc((s->nstacks ? s->nstacks : 1) * sizeof *map);
	plumb_memtrace_snapshot *out = mt_snapshot_new_shared(s->traceback_limit, s->sym);
	int err = ENOMEM;
	if (!cf || !map || !out)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		cf[i].f = &filters[i];
		if (filters[i].filename_pattern &&
		    glob_compile(&cf[i].glob, filters[i].filename_pattern) < 0)
			goto fail;
	}
	out->has_time = s->has_time;
	out->t_ns = s->t_ns;
	out->current = s->current;
	out->peak = s->peak;
	if (mt_origin_copy(&out->origin, &s->origin) < 0)
		goto fail;
	for (size_t i = 0; i < s->nstacks; i++)
		map[i] = -1;
	for (size_t i = 0; i < s->ngroups; i++) {
		const struct mt_group *g = &s->groups[i];
		int kept = n ? keep(cf, n, s, g) : 1;
		if (kept < 0)
			goto fail;
		if (!kept)
			continue;
		if (map[g->stack] < 0) {
			const struct mt_stack *st = &s->stacks[g->stack];
			long k = mt_snapshot_stack(out, s->frames + st->off, st->nframe,
			                           st->truncated);
			if (k < 0) {
				err = (int)-k;
				goto fail;
			}
			map[g->stack] = (int32_t)k;
		}
		if (mt_snapshot_add_group(out, (uint32_t)map[g->stack], g->domain, g->count,
		                          g->size) < 0)
			goto fail;
	}
	for (size_t i = 0; i < n; i++)
		glob_free(&cf[i].glob);
	free(cf);
	free(map);
	return out;
fail:
	for (size_t i = 0; cf && i < n; i++)
		glob_free(&cf[i].glob);
	free(cf);
	free(map);
	plumb_memtrace_snapshot_free(out);
	errno = err;
	return NULL;
}

plumb_memtrace_snapshot *plumb_memtrace_snapshot_filter_traces(const plumb_memtrace_snapshot *s,
                                                               const plumb_memtrace_filter *filters,
                                                               size_t n)
{
	if (!s || (n && !filters)) {
		errno = EINVAL;
		return NULL;
	}
	GUARD_BEGIN;
	plumb_memtrace_snapshot *out = filter(s, filters, n);
	int err = errno;
	GUARD_END;
	errno = err;
	return out;
}
