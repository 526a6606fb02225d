/*
 * test_mtanalysis.c - unit tests of memtrace's analysis half (analysis.h
 * and the snapshot/statistics/format functions of plumb/memtrace.h).
 *
 * Snapshots are built by hand from real return addresses taken in this
 * very program (compiled with -g), with the real module map from
 * dl_iterate_phdr, so symbolization is checked against lines we know:
 * file, line, function, inlined frames, frames of libc without debug
 * information, a demangled libstdc++ name, and modules whose file is gone
 * or whose build-id changed.  Statistics, compare_to, filters and the
 * text of tracemalloc's str() and format() are compared with what python3's
 * own tracemalloc prints for the same traces (python3 is part of the
 * build machines; a test that needs it is skipped, saying so, without it).
 *
 * The trace file reader gets valid files, files cut at every byte, random
 * byte flips (fixed seed), and hand-made records that break each rule of
 * pmt.h: every one must give data or a clear message, never a crash (this
 * file runs under ASan+UBSan in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include <plumb/memtrace.h>

#include "analysis-internal.h"
#include "analysis.h"
#include "pmt.h"

/* ---- Known addresses ---- */

struct site {
	uintptr_t addr;
	unsigned line;
	const char *func;
};

/* Stores its own return address: an address inside the caller, on the
 * caller's line that called it. */
static __attribute__((noinline, noclone)) void here(uintptr_t *out)
{
	*out = (uintptr_t)__builtin_return_address(0);
	__asm__ volatile("" ::: "memory");
}

#define SITE(name)                                                                                 \
	static __attribute__((noinline, noclone)) void name(struct site *s)                        \
	{                                                                                          \
		here(&s->addr);                                                                    \
		s->line = __LINE__;                                                                \
		s->func = #name;                                                                   \
		__asm__ volatile("" ::: "memory");                                                 \
	}

SITE(site_a)
SITE(site_b)
SITE(site_c)
SITE(caller_1)
SITE(caller_2)

/* One line holds the call and __LINE__: clang-format must not split it. */
/* clang-format off */
static inline __attribute__((always_inline)) void inner_inl(struct site *s)
{
	here(&s->addr); s->line = __LINE__;
	s->func = "inner_inl";
}

static __attribute__((noinline, noclone)) void outer_inl(struct site *in, struct site *out)
{
	inner_inl(in); out->line = __LINE__;
	out->func = "outer_inl";
	out->addr = in->addr;
	__asm__ volatile("" ::: "memory");
}
/* clang-format on */

/* Defined at the end of the file, under a #line naming another file. */
static void fake_x(struct site *s);

struct sites {
	struct site a, b, c, c1, c2, inner, outer, x;
	uintptr_t libc; /* a return address inside qsort (no debug info) */
};

static struct sites S;

/* ---- The module map, as the tracer records it ---- */

struct modlist {
	struct mt_module *m;
	size_t n;
	char exe[PATH_MAX];
};

static struct modlist MODS;

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct modlist *ml = data;
	const char *name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name
	                   : ml->n == 0                        ? ml->exe
	                                                       : "";
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	const uint8_t *bid = NULL;
	size_t bidlen = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			if (start < lo)
				lo = start;
			if (start + ph->p_memsz > hi)
				hi = start + ph->p_memsz;
		} else if (ph->p_type == PT_NOTE && !bid) {
			size_t align = ph->p_align == 8 ? 8 : 4;
			const unsigned char *p = (const unsigned char *)start;
			const unsigned char *end = p + ph->p_memsz;
			while (p + sizeof(ElfW(Nhdr)) <= end) {
				const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
				const unsigned char *nm = p + sizeof *nh;
				const unsigned char *desc =
				        nm + ((nh->n_namesz + align - 1) & -align);
				if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
				    memcmp(nm, "GNU", 4) == 0) {
					bid = desc;
					bidlen = nh->n_descsz;
					break;
				}
				p = desc + ((nh->n_descsz + align - 1) & -align);
			}
		}
	}
	if (!hi)
		return 0;
	ml->m = realloc(ml->m, (ml->n + 1) * sizeof *ml->m);
	ml->m[ml->n++] = (struct mt_module){lo, hi, info->dlpi_addr, strdup(name), bid, bidlen};
	return 0;
}

static const struct mt_module *module_named(const char *suffix)
{
	for (size_t i = 0; i < MODS.n; i++) {
		size_t l = strlen(MODS.m[i].path), s = strlen(suffix);
		if (l >= s && strcmp(MODS.m[i].path + l - s, suffix) == 0)
			return &MODS.m[i];
	}
	return NULL;
}

static int setup_all(void **state)
{
	(void)state;
	ssize_t n = readlink("/proc/self/exe", MODS.exe, sizeof MODS.exe - 1);
	if (n <= 0)
		return -1;
	MODS.exe[n] = '\0';
	/* A C++ library mapped before the module list is made, for the
	 * demangling test (nothing else here links libstdc++). */
	dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
	dl_iterate_phdr(phdr_cb, &MODS);
	site_a(&S.a);
	site_b(&S.b);
	site_c(&S.c);
	caller_1(&S.c1);
	caller_2(&S.c2);
	outer_inl(&S.inner, &S.outer);
	fake_x(&S.x);
	void *q = dlsym(RTLD_DEFAULT, "qsort");
	if (!q)
		return -1;
	S.libc = (uintptr_t)q + 1;
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	for (size_t i = 0; i < MODS.n; i++)
		free((char *)MODS.m[i].path);
	free(MODS.m);
	return 0;
}

/* ---- Helpers ---- */

static plumb_memtrace_snapshot *new_snapshot(int limit)
{
	plumb_memtrace_snapshot *s = mt_snapshot_new(limit, MODS.m, MODS.n);
	assert_non_null(s);
	return s;
}

static void add(plumb_memtrace_snapshot *s, unsigned domain, uint64_t count, uint64_t size,
                size_t n, ...)
{
	uintptr_t f[16];
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		f[i] = va_arg(ap, uintptr_t);
	va_end(ap);
	assert_int_equal(mt_snapshot_add(s, domain, f, n, false, count, size), 0);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t l = strlen(s), n = strlen(suffix);
	return l >= n && strcmp(s + l - n, suffix) == 0;
}

static char *stat_str(const plumb_memtrace_stat *st)
{
	size_t n = plumb_memtrace_stat_format(st, NULL, 0);
	char *b = malloc(n + 1);
	assert_int_equal(plumb_memtrace_stat_format(st, b, n + 1), n);
	return b;
}

static char *diff_str(const plumb_memtrace_statdiff *st)
{
	size_t n = plumb_memtrace_statdiff_format(st, NULL, 0);
	char *b = malloc(n + 1);
	assert_int_equal(plumb_memtrace_statdiff_format(st, b, n + 1), n);
	return b;
}

/* A growing string. */
struct str {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void sp(struct str *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sp_json(struct str *b, const char *s)
{
	sp(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sp(b, "\\%c", *p);
		else if (*p < 0x20)
			sp(b, "\\u%04x", *p);
		else
			sp(b, "%c", *p);
	}
	sp(b, "\"");
}

static char TMPDIR[] = "/tmp/test_mtanalysis.XXXXXX";
static bool tmpdir_made;

static const char *tmp_path(const char *name)
{
	static char buf[16][PATH_MAX];
	static int k;
	if (!tmpdir_made) {
		if (!mkdtemp(TMPDIR))
			fail_msg("mkdtemp: %s", strerror(errno));
		tmpdir_made = true;
	}
	char *p = buf[k++ % 16];
	snprintf(p, PATH_MAX, "%s/%s", TMPDIR, name);
	return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct str b = {0};
	char buf[4096];
	size_t n;
	sp(&b, "%s", "");
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		if (b.len + n + 1 > b.cap) {
			b.cap = (b.len + n + 1) * 2;
			b.s = realloc(b.s, b.cap);
		}
		memcpy(b.s + b.len, buf, n);
		b.len += n;
		b.s[b.len] = '\0';
	}
	fclose(f);
	if (len)
		*len = b.len;
	return b.s;
}

/*
 * Runs python3 on @script with @input in a file named by argv[1]; returns
 * its standard output, or NULL (with the test skipped) when there is no
 * python3.  A python error fails the test.
 */
static char *python(const char *script, const char *input)
{
	const char *py = tmp_path("script.py"), *in = tmp_path("input.json"),
	           *out = tmp_path("output.txt"), *err = tmp_path("stderr.txt");
	write_file(py, script, strlen(script));
	write_file(in, input, strlen(input));
	char cmd[4 * PATH_MAX + 100];
	snprintf(cmd, sizeof cmd, "PYTHONIOENCODING=utf-8 python3 -I %s %s >%s 2>%s", py, in, out,
	         err);
	int st = system(cmd);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		print_message("# python3 not found: comparison with tracemalloc skipped\n");
		skip();
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *e = read_text(err, NULL);
		fail_msg("python3 failed: %s", e ? e : "?");
	}
	return read_text(out, NULL);
}

/* Compares our text with Python's line by line, failing on the first
 * line that differs (cmocka would print both texts whole). */
static void same_text(const char *ours, const char *theirs)
{
	size_t line = 1;
	const char *a = ours, *b = theirs;
	while (*a || *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		size_t la = ea ? (size_t)(ea - a) : strlen(a),
		       lb = eb ? (size_t)(eb - b) : strlen(b);
		if (la != lb || memcmp(a, b, la) != 0 || !ea != !eb)
			fail_msg("line %zu differs:\n  ours:   %.*s\n  python: %.*s", line, (int)la,
			         a, (int)lb, b);
		a += la + (ea ? 1 : 0);
		b += lb + (eb ? 1 : 0);
		line++;
	}
}

/* ---- _format_size and str() against Python ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: a fixed sequence, so every run tests the same values */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static void test_format_size_python(void **state)
{
	(void)state;
	/* The values: every unit boundary and its neighbours, halves that
	 * round to even, averages, and a spread of random sizes. */
	double v[2000];
	size_t n = 0;
	static const double fixed[] = {0,
	                               1,
	                               9,
	                               99,
	                               100,
	                               1023,
	                               1024,
	                               10239,
	                               10240,
	                               10241,
	                               102399,
	                               102400,
	                               102451,
	                               1048575,
	                               1048576,
	                               10485759,
	                               10485760,
	                               104857599,
	                               104857600,
	                               1073741824,
	                               1e12,
	                               1099511627776.0,
	                               11258999068426240.0,
	                               1e18,
	                               80000,
	                               160000,
	                               240000,
	                               320000,
	                               400000,
	                               0.5,
	                               1.5,
	                               2.5,
	                               99.95,
	                               99.94999,
	                               102348.8,
	                               102297.6,
	                               10188.8,
	                               26666.666666666668,
	                               1e300,
	                               -1,
	                               -100,
	                               -10240,
	                               -80000,
	                               -1e13,
	                               -0.25};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		v[n++] = fixed[i];
	for (int e = 0; e < 60; e++)
		for (int d = -2; d <= 2; d++)
			v[n++] = (double)((1ULL << e) + (uint64_t)(int64_t)d);
	while (n < 1500) {
		uint64_t r = rnd();
		int shift = (int)(r % 60);
		double x = (double)(rnd() >> (shift + 4));
		if (r & 1)
			x = x / (double)(1 + rnd() % 1000);
		if ((r & 2) && x != 0) /* JSON's -0 is Python's int 0 */
			x = -x;
		v[n++] = x;
	}
	struct str in = {0}, ours = {0};
	sp(&in, "[");
	for (size_t i = 0; i < n; i++) {
		sp(&in, "%s%.17g", i ? "," : "", v[i]);
		char a[400], b[400];
		assert_true(plumb_memtrace_format_size(v[i], false, a, sizeof a) < sizeof a);
		assert_true(plumb_memtrace_format_size(v[i], true, b, sizeof b) < sizeof b);
		sp(&ours, "%s|%s\n", a, b);
	}
	sp(&in, "]");
	char *theirs = python("import json, sys, tracemalloc\n"
	                      "for x in json.load(open(sys.argv[1])):\n"
	                      "    print(tracemalloc._format_size(x, False) + '|' +\n"
	                      "          tracemalloc._format_size(x, True))\n",
	                      in.s);
	same_text(ours.s, theirs);
	/* snprintf rules: the length needed, a cut that still terminates */
	char small[4];
	assert_int_equal(plumb_memtrace_format_size(80000, false, small, sizeof small), 8);
	assert_string_equal(small, "78.");
	assert_int_equal(plumb_memtrace_format_size(12, true, NULL, 0), 5);
	free(theirs);
	free(in.s);
	free(ours.s);
}

/* A traceback out of (file, line) pairs, most recent first. */
struct tbuf {
	plumb_memtrace_frame f[8];
	plumb_memtrace_traceback tb;
};

static const plumb_memtrace_traceback *mktb(struct tbuf *b, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		b->f[i] = (plumb_memtrace_frame){0};
		b->f[i].filename = va_arg(ap, const char *);
		b->f[i].lineno = va_arg(ap, unsigned);
	}
	va_end(ap);
	b->tb = (plumb_memtrace_traceback){n, n, b->f};
	return &b->tb;
}

static void test_stat_format_python(void **state)
{
	(void)state;
	static const struct {
		size_t size, count;
		ssize_t dsize, dcount;
	} cases[] = {
	        {80000, 1, 80000, 1},
	        {160000, 2, 80000, 1},
	        {0, 0, -80000, -1},
	        {12, 3, 0, 0},
	        {1u << 30, 7, -5, 2},
	        {10240, 1, 10239, 0},
	        {123456789, 1000, -1234567, -999},
	        {99, 100, 99, 100},
	        {1, 3, 1, 3},
	        {(size_t)1 << 45, 3, -((ssize_t)1 << 44), 1},
	};
	struct tbuf b;
	const plumb_memtrace_traceback *tbs[] = {
	        mktb(&b, 1, "/src/memleak.c", 12u),
	};
	struct tbuf b2;
	/* str() of a longer traceback is its oldest frame */
	const plumb_memtrace_traceback *deep =
	        mktb(&b2, 3, "/src/leaf.c", 3u, "/src/mid.c", 20u, "/src/main.c", 41u);
	struct str in = {0}, ours = {0};
	sp(&in, "[");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int d = 0; d < 2; d++) {
			const plumb_memtrace_traceback *tb = d ? deep : tbs[0];
			sp(&in, "%s[%d,%zu,%zu,%zd,%zd]", in.len > 1 ? "," : "", d, cases[i].size,
			   cases[i].count, cases[i].dsize, cases[i].dcount);
			plumb_memtrace_stat st = {tb, cases[i].size, cases[i].count};
			plumb_memtrace_statdiff sd = {tb, cases[i].size, cases[i].dsize,
			                              cases[i].count, cases[i].dcount};
			char *a = stat_str(&st), *c = diff_str(&sd);
			sp(&ours, "%s\n%s\n", a, c);
			free(a);
			free(c);
		}
	}
	sp(&in, "]");
	char *theirs = python("import json, sys, tracemalloc as t\n"
	                      "tbs = [t.Traceback((('/src/memleak.c', 12),)),\n"
	                      "       t.Traceback((('/src/leaf.c', 3), ('/src/mid.c', 20), "
	                      "('/src/main.c', 41)))]\n"
	                      "for d, size, count, dsize, dcount in json.load(open(sys.argv[1])):\n"
	                      "    print(t.Statistic(tbs[d], size, count))\n"
	                      "    print(t.StatisticDiff(tbs[d], size, dsize, count, dcount))\n",
	                      in.s);
	same_text(ours.s, theirs);
	/* the issue's own example lines */
	plumb_memtrace_stat one = {tbs[0], 80000, 1};
	char *s1 = stat_str(&one);
	assert_string_equal(s1, "/src/memleak.c:12: size=78.1 KiB, count=1, average=78.1 KiB");
	plumb_memtrace_statdiff two = {tbs[0], 160000, 80000, 2, 1};
	char *s2 = diff_str(&two);
	assert_string_equal(s2, "/src/memleak.c:12: size=156 KiB (+78.1 KiB), count=2 (+1), "
	                        "average=78.1 KiB");
	free(s1);
	free(s2);
	free(theirs);
	free(in.s);
	free(ours.s);
}

/* ---- fnmatch against Python ---- */

static void test_fnmatch_python(void **state)
{
	(void)state;
	static const char *const patterns[] = {
	        "*",        "*.c",      "/src/*",     "*/memleak.c", "?",     "a?c",    "[abc]",
	        "[!abc]",   "[a-c]x",   "[!a-c]x",    "[]]",         "[!]]",  "[]-]",   "[a-]",
	        "[-a]",     "[z-a]",    "[z-a-c]",    "[a-c-e]",     "[!]",   "[",      "[a",
	        "a]",       "[^a]",     "[[]",        "\\*",         "a\\b",  "[\\]",   "[a-\\]",
	        "**a**",    "*a*b*c*",  "é?",         "[é-ê]",       "?\xff", "[!-]",   "[--0]",
	        "[a-a]",    "[c-a-f]",  "[a-c-a]",    "[&&]",        "[|~]",  "*.[ch]", "[!.]*",
	        "[a-cx-z]", "[z-ax-c]", "[0-9][0-9]", "*[0-9]",      "",      "[b-a-c]"};
	static const char *const names[] = {"",
	                                    "a",
	                                    "b",
	                                    "c",
	                                    "x",
	                                    "ax",
	                                    "dx",
	                                    "abc",
	                                    "a-c",
	                                    "]",
	                                    "-",
	                                    "!",
	                                    "^",
	                                    "[",
	                                    "\\",
	                                    "*",
	                                    "a\\b",
	                                    "é",
	                                    "éa",
	                                    "ê",
	                                    "a\xff",
	                                    "/src/x.c",
	                                    "/src/memleak.c",
	                                    "memleak.c",
	                                    "x.h",
	                                    ".x",
	                                    "aaa",
	                                    "xaybzc",
	                                    "acb",
	                                    "0",
	                                    "12",
	                                    "a12",
	                                    "&",
	                                    "|",
	                                    "a]",
	                                    "[a",
	                                    "e",
	                                    "f",
	                                    "z",
	                                    "y"};
	size_t np = sizeof patterns / sizeof patterns[0], nn = sizeof names / sizeof names[0];
	struct str in = {0}, ours = {0};
	sp(&in, "[[");
	for (size_t i = 0; i < np; i++) {
		sp(&in, "%s", i ? "," : "");
		sp_json(&in, patterns[i]);
	}
	sp(&in, "],[");
	for (size_t i = 0; i < nn; i++) {
		sp(&in, "%s", i ? "," : "");
		sp_json(&in, names[i]);
	}
	sp(&in, "]]");
	for (size_t i = 0; i < np; i++) {
		for (size_t j = 0; j < nn; j++)
			sp(&ours, "%c", mt_fnmatch(patterns[i], names[j]) ? '1' : '0');
		sp(&ours, "\n");
	}
	/* JSON cannot carry the lone \xff byte: the script turns U+FFFD back
	 * into the surrogate Python would decode it to. */
	char *theirs = python("import json, sys, fnmatch\n"
	                      "pats, names = json.load(open(sys.argv[1], encoding='utf-8',\n"
	                      "                               errors='surrogateescape'))\n"
	                      "def m(p, n):\n"
	                      "    try:\n"
	                      "        return fnmatch.fnmatchcase(n, p)\n"
	                      "    except Exception:\n"
	                      "        return False\n"
	                      "for p in pats:\n"
	                      "    print(''.join('1' if m(p, n) else '0' for n in names))\n",
	                      in.s);
	same_text(ours.s, theirs);
	free(theirs);
	free(in.s);
	free(ours.s);
}

/* ---- Symbols ---- */

static const plumb_memtrace_traceback *only_tb(plumb_memtrace_snapshot *s)
{
	assert_int_equal(mt_snapshot_ngroups(s), 1);
	const plumb_memtrace_traceback *tb;
	mt_snapshot_group(s, 0, NULL, &tb, NULL, NULL);
	assert_non_null(tb);
	return tb;
}

static void check_frame(const plumb_memtrace_frame *f, const struct site *site, bool inlined)
{
	assert_true(ends_with(f->filename, "/tests/unit/test_mtanalysis.c"));
	assert_true(f->filename[0] == '/');
	assert_null(strstr(f->filename, "/../")); /* "build/../tests" made tidy */
	assert_int_equal(access(f->filename, R_OK), 0);
	assert_int_equal(f->lineno, site->line);
	assert_non_null(f->function);
	assert_string_equal(f->function, site->func);
	assert_string_equal(f->module, MODS.exe);
	assert_int_equal(f->address, site->addr);
	assert_int_equal(f->inlined, inlined);
}

static void test_symbols_source(void **state)
{
	(void)state;
	plumb_memtrace_snapshot *s = new_snapshot(4);
	add(s, 0, 1, 10, 3, S.a.addr, S.c1.addr, S.c2.addr);
	const plumb_memtrace_traceback *tb = only_tb(s);
	assert_int_equal(tb->nframe, 3);
	assert_int_equal(tb->total_nframe, 3);
	check_frame(&tb->frames[0], &S.a, false);
	check_frame(&tb->frames[1], &S.c1, false);
	check_frame(&tb->frames[2], &S.c2, false);
	plumb_memtrace_snapshot_free(s);
}

static void test_symbols_inlined(void **state)
{
	(void)state;
	plumb_memtrace_snapshot *s = new_snapshot(4);
	add(s, 0, 1, 10, 2, S.inner.addr, S.c1.addr);
	const plumb_memtrace_traceback *tb = only_tb(s);
	/* one address, two frames: the inlined callee, then its caller at
	 * the line where it was inlined */
	assert_int_equal(tb->nframe, 3);
	check_frame(&tb->frames[0], &S.inner, true);
	check_frame(&tb->frames[1], &S.outer, false);
	check_frame(&tb->frames[2], &S.c1, false);
	plumb_memtrace_snapshot_free(s);
}

static const struct mt_module *module_of(uintptr_t addr)
{
	for (size_t i = 0; i < MODS.n; i++)
		if (MODS.m[i].start <= addr - 1 && addr - 1 < MODS.m[i].end)
			return &MODS.m[i];
	return NULL;
}

/* The frame of @ret (a return address) alone. */
static const plumb_memtrace_frame *frame_of(plumb_memtrace_snapshot **s, uintptr_t ret)
{
	*s = new_snapshot(1);
	add(*s, 0, 1, 1, 1, ret);
	const plumb_memtrace_traceback *tb = only_tb(*s);
	assert_int_equal(tb->nframe, 1);
	return &tb->frames[0];
}

static void test_symbols_no_source(void **state)
{
	(void)state;
	/* The vDSO has no file to read: the module form, no function; the
	 * grouping key skips it for the caller's line. */
	const struct mt_module *vdso = module_named("linux-vdso.so.1");
	assert_non_null(vdso);
	uintptr_t in_vdso = vdso->start + 1;
	plumb_memtrace_snapshot *s = new_snapshot(4);
	add(s, 0, 1, 10, 2, in_vdso, S.a.addr);
	const plumb_memtrace_traceback *tb = only_tb(s);
	assert_int_equal(tb->nframe, 2);
	char want[PATH_MAX];
	snprintf(want, sizeof want, "<linux-vdso.so.1+0x%lx>",
	         (unsigned long)(in_vdso - vdso->bias));
	assert_string_equal(tb->frames[0].filename, want);
	assert_int_equal(tb->frames[0].lineno, 0);
	assert_null(tb->frames[0].function);
	assert_string_equal(tb->frames[0].module, "linux-vdso.so.1");
	assert_ptr_equal(mt_key_frame(tb), &tb->frames[1]);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_int_equal(st->n, 1);
	check_frame(&st->stats[0].traceback->frames[0], &S.a, false);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);

	/* libdw (without its debug package): the symbol table's name */
	void *fn = dlsym(RTLD_DEFAULT, "dwarf_tag");
	assert_non_null(fn);
	const struct mt_module *m = module_of((uintptr_t)fn + 1);
	assert_non_null(m);
	const plumb_memtrace_frame *f = frame_of(&s, (uintptr_t)fn + 1);
	assert_string_equal(f->function, "dwarf_tag");
	assert_string_equal(f->module, m->path);
	if (f->lineno == 0) {
		snprintf(want, sizeof want, "<%s+0x%lx>", strrchr(m->path, '/') + 1,
		         (unsigned long)((uintptr_t)fn + 1 - m->bias));
		assert_string_equal(f->filename, want);
	}
	plumb_memtrace_snapshot_free(s);

	/* libc (with libc6-dbg, lines): "qsort", not its asm alias
	 * "__GI_qsort"; under ASan, the interceptor's name */
	m = module_of(S.libc);
	f = frame_of(&s, S.libc);
	assert_string_equal(f->module, m->path);
	if (strstr(m->path, "/libc.so.6"))
		assert_string_equal(f->function, "qsort");
	else
		assert_non_null(strstr(f->function, "qsort"));
	plumb_memtrace_snapshot_free(s);
}

/* main's return address: inside the C library's start-up code */
static uintptr_t main_return;

static void test_key_frame_entry_point(void **state)
{
	(void)state;
	/* Frames without lines lead to the start-up code, which has lines
	 * where libc6-dbg is installed: the key is frame 0 all the same. */
	const struct mt_module *vdso = module_named("linux-vdso.so.1");
	assert_non_null(vdso);
	plumb_memtrace_snapshot *s = new_snapshot(4);
	add(s, 0, 1, 10, 2, vdso->start + 1, main_return);
	const plumb_memtrace_traceback *tb = only_tb(s);
	assert_ptr_equal(mt_key_frame(tb), &tb->frames[0]);
	const plumb_memtrace_frame *start = &tb->frames[tb->nframe - 1];
	if (start->lineno)
		assert_string_equal(start->function, "__libc_start_call_main");
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_int_equal(st->n, 1);
	assert_string_equal(st->stats[0].traceback->frames[0].filename, tb->frames[0].filename);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);
	/* the rule on a traceback made by hand */
	plumb_memtrace_frame f[3] = {
	        {.filename = "<libfoo.so+0x10>"},
	        {.filename = "/src/app.c", .lineno = 7, .function = "main"},
	        {.filename = "./csu/libc-start.c", .lineno = 360, .function = "__libc_start_main"},
	};
	plumb_memtrace_traceback t = {3, 3, f};
	assert_ptr_equal(mt_key_frame(&t), &f[1]);
	t.frames = f + 1;
	t.nframe = 2;
	assert_ptr_equal(mt_key_frame(&t), &f[1]);
	f[1].lineno = 0;
	assert_ptr_equal(mt_key_frame(&t), &f[1]); /* not the start-up frame */
}

/* crt1.o's entry point: code without debug information between
 * functions that have some.  libdwfl hands such an address to the unit
 * before the gap, whose line table then gives its last row (in the
 * memleak example: a line of main); only the unit's ranges tell. */
extern void _start(void);

static void test_symbols_outside_units(void **state)
{
	(void)state;
	const struct mt_module *self = module_named(MODS.exe);
	/* the return address of its call to __libc_start_main (call *rel(%rip):
	 * ff 15 and four bytes), as a stack walk finds it */
	const unsigned char *code = (const unsigned char *)&_start;
	uintptr_t ret = (uintptr_t)code + 1;
	for (int i = 0; i < 64; i++) {
		if (code[i] == 0xff && code[i + 1] == 0x15) {
			ret = (uintptr_t)code + (uintptr_t)i + 6;
			break;
		}
	}
	plumb_memtrace_snapshot *s = new_snapshot(1);
	add(s, 0, 1, 1, 1, ret);
	const plumb_memtrace_traceback *tb = only_tb(s);
	char want[PATH_MAX];
	snprintf(want, sizeof want, "<%s+0x%lx>", strrchr(MODS.exe, '/') + 1,
	         (unsigned long)(ret - self->bias));
	assert_string_equal(tb->frames[0].filename, want);
	assert_int_equal(tb->frames[0].lineno, 0);
	assert_non_null(tb->frames[0].function);
	assert_string_equal(tb->frames[0].function, "_start");
	plumb_memtrace_snapshot_free(s);
}

static void test_symbols_demangled(void **state)
{
	(void)state;
	/* Loaded by setup_all (a second dlopen only finds it again). */
	void *lib = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	if (!lib)
		skip();
	void *fn = dlsym(lib, "_ZSt9terminatev");
	assert_non_null(fn);
	plumb_memtrace_snapshot *s = new_snapshot(1);
	add(s, 0, 1, 1, 1, (uintptr_t)fn + 1);
	const plumb_memtrace_traceback *tb = only_tb(s);
	assert_non_null(tb->frames[0].function);
	assert_string_equal(tb->frames[0].function, "std::terminate()");
	assert_true(strstr(tb->frames[0].module, "libstdc++") != NULL);
	plumb_memtrace_snapshot_free(s);
}

static void test_symbols_wrong_file(void **state)
{
	(void)state;
	/* A module whose build-id is not the file's, and one whose file is
	 * gone: no lines, no names, the module form, never a wrong answer. */
	struct mt_module *mods = malloc(MODS.n * sizeof *mods);
	memcpy(mods, MODS.m, MODS.n * sizeof *mods);
	const struct mt_module *self = module_named(MODS.exe);
	assert_non_null(self);
	struct mt_module *m = &mods[self - MODS.m];
	assert_true(m->build_id_len > 0);
	uint8_t bad_id[64];
	memcpy(bad_id, m->build_id, m->build_id_len);
	bad_id[0] ^= 0xff;
	m->build_id = bad_id;
	const char *base = strrchr(MODS.exe, '/') + 1;
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			m->build_id = self->build_id;
			m->path = "/nonexistent/dir/gone.so";
			base = "gone.so";
		}
		plumb_memtrace_snapshot *s = mt_snapshot_new(1, mods, MODS.n);
		assert_non_null(s);
		add(s, 0, 1, 1, 2, S.a.addr, S.inner.addr);
		const plumb_memtrace_traceback *tb = only_tb(s);
		assert_int_equal(tb->nframe, 2);
		for (size_t i = 0; i < 2; i++) {
			char want[PATH_MAX];
			uintptr_t addr = i ? S.inner.addr : S.a.addr;
			snprintf(want, sizeof want, "<%s+0x%lx>", base,
			         (unsigned long)(addr - m->bias));
			assert_string_equal(tb->frames[i].filename, want);
			assert_int_equal(tb->frames[i].lineno, 0);
			assert_null(tb->frames[i].function);
			assert_false(tb->frames[i].inlined);
		}
		plumb_memtrace_snapshot_free(s);
	}
	/* An address in no module, and an empty stack. */
	plumb_memtrace_snapshot *s = mt_snapshot_new(1, NULL, 0);
	add(s, 0, 1, 1, 1, (uintptr_t)0x1234);
	add(s, 0, 1, 1, 0);
	const plumb_memtrace_traceback *tb;
	mt_snapshot_group(s, 0, NULL, &tb, NULL, NULL);
	assert_string_equal(tb->frames[0].filename, "<0x1234>");
	assert_null(tb->frames[0].module);
	mt_snapshot_group(s, 1, NULL, &tb, NULL, NULL);
	assert_int_equal(tb->nframe, 1);
	assert_string_equal(tb->frames[0].filename, "<unknown>");
	plumb_memtrace_snapshot_free(s);
	free(mods);
}

static void test_traceback_new(void **state)
{
	(void)state;
	uintptr_t f[] = {S.b.addr, S.c2.addr};
	plumb_memtrace_traceback *tb = mt_traceback_new(f, 2, true, MODS.m, MODS.n);
	assert_non_null(tb);
	assert_int_equal(tb->nframe, 2);
	assert_int_equal(tb->total_nframe, 3); /* cut: at least one more */
	check_frame(&tb->frames[0], &S.b, false);
	check_frame(&tb->frames[1], &S.c2, false);
	plumb_memtrace_traceback_free(tb);
	plumb_memtrace_traceback_free(NULL);
}

/* ---- Statistics ---- */

/*
 * The snapshot the statistics tests share (sizes in bytes):
 *   g1  a <- c1        3 blocks  300
 *   g2  b <- c1        1        1000
 *   g3  a <- c2        2         200
 *   g4  x <- c2       10          50   (x: another file)
 *   g5  a <- c1        1          24   (domain 7)
 *   g6  c <- c2       10          50   (ties with g4 but for the traceback)
 *   g7  (no stack)     1           8
 *   g8  b <- c <- b    2          16   (recursion: b twice)
 */
/* g1 to g7 of the table above (python_pair's snapshot has them too). */
static void add_g1_to_g7(plumb_memtrace_snapshot *s)
{
	add(s, 0, 3, 300, 2, S.a.addr, S.c1.addr);
	add(s, 0, 1, 1000, 2, S.b.addr, S.c1.addr);
	add(s, 0, 2, 200, 2, S.a.addr, S.c2.addr);
	add(s, 0, 10, 50, 2, S.x.addr, S.c2.addr);
	add(s, 7, 1, 24, 2, S.a.addr, S.c1.addr);
	add(s, 0, 10, 50, 2, S.c.addr, S.c2.addr);
	add(s, 0, 1, 8, 0);
}

static plumb_memtrace_snapshot *shared_snapshot(void)
{
	plumb_memtrace_snapshot *s = new_snapshot(3);
	add_g1_to_g7(s);
	add(s, 0, 2, 16, 3, S.b.addr, S.c.addr, S.b.addr);
	return s;
}

struct expect {
	const struct site *site; /* NULL: "<unknown>" */
	bool file_only;
	bool fake;
	size_t size, count;
};

static void check_stats(const plumb_memtrace_stats *st, const struct expect *e, size_t n)
{
	assert_int_equal(st->n, n);
	for (size_t i = 0; i < n; i++) {
		const plumb_memtrace_stat *s = &st->stats[i];
		assert_int_equal(s->traceback->nframe, 1);
		const plumb_memtrace_frame *f = &s->traceback->frames[0];
		if (!e[i].site) {
			assert_string_equal(f->filename, "<unknown>");
		} else if (e[i].fake) {
			assert_string_equal(f->filename, "/nonexistent/memtrace-fake.c");
		} else if (!ends_with(f->filename, "/tests/unit/test_mtanalysis.c")) {
			fail_msg("stat %zu: %s:%u", i, f->filename, f->lineno);
		}
		if (e[i].site && !e[i].file_only)
			assert_int_equal(f->lineno, e[i].site->line);
		if (e[i].file_only) {
			assert_int_equal(f->lineno, 0);
			assert_null(f->function);
		}
		assert_int_equal(s->size, e[i].size);
		assert_int_equal(s->count, e[i].count);
	}
}

/* @s's statistics by @key are @e (@n of them). */
static void check_statistics(const plumb_memtrace_snapshot *s, plumb_memtrace_key key,
                             bool cumulative, const struct expect *e, size_t n)
{
	plumb_memtrace_stats *st = plumb_memtrace_snapshot_statistics(s, key, cumulative);

	assert_non_null(st);
	check_stats(st, e, n);
	plumb_memtrace_stats_free(st);
}

static void test_statistics_numbers(void **state)
{
	(void)state;
	plumb_memtrace_snapshot *s = shared_snapshot();
	size_t size, count;
	plumb_memtrace_snapshot_size(s, &size, &count);
	assert_int_equal(size, 1648);
	assert_int_equal(count, 30);
	assert_int_equal(plumb_memtrace_snapshot_traceback_limit(s), 3);

	/* Statistics that tie on size and count are ordered as tracemalloc
	 * orders them: the greater traceback first, so this file and the fake
	 * one come in the order of their paths, which depends on where the
	 * tree was checked out (/work/... sorts after /nonexistent/...,
	 * /check/... before it). */
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_FILENAME, false);
	assert_non_null(st);
	assert_true(ends_with(st->stats[0].traceback->frames[0].filename,
	                      "/tests/unit/test_mtanalysis.c"));
	const bool real_first =
	        strcmp(st->stats[0].traceback->frames[0].filename, "/nonexistent/memtrace-fake.c") > 0;
	plumb_memtrace_stats_free(st);

	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	const struct expect real_c = {&S.c, false, false, 50, 10}, fake_x = {&S.x, false, true, 50, 10};
	const struct expect by_line[] = {
	        {&S.b, false, false, 1016, 3}, {&S.a, false, false, 524, 6},
	        real_first ? real_c : fake_x,  real_first ? fake_x : real_c,
	        {NULL, false, false, 8, 1},
	};
	check_stats(st, by_line, 5);
	assert_string_equal(st->stats[0].traceback->frames[0].function, "site_b");
	plumb_memtrace_stats_free(st);

	const struct expect by_file[] = {
	        {&S.a, true, false, 1590, 19},
	        {&S.x, true, true, 50, 10},
	        {NULL, false, false, 8, 1},
	};
	check_statistics(s, PLUMB_MEMTRACE_BY_FILENAME, false, by_file, 3);

	/* cumulative: a block counts once under each distinct key of its
	 * traceback (g8's b appears twice but counts once) */
	const struct expect cum_line[] = {
	        {&S.c1, false, false, 1324, 5}, {&S.b, false, false, 1016, 3},
	        {&S.a, false, false, 524, 6},   {&S.c2, false, false, 300, 22},
	        {&S.c, false, false, 66, 12},   {&S.x, false, true, 50, 10},
	        {NULL, false, false, 8, 1},
	};
	check_statistics(s, PLUMB_MEMTRACE_BY_LINENO, true, cum_line, 7);

	const struct expect cum_file[] = {
	        {&S.a, true, false, 1640, 29},
	        {&S.x, true, true, 50, 10},
	        {NULL, false, false, 8, 1},
	};
	check_statistics(s, PLUMB_MEMTRACE_BY_FILENAME, true, cum_file, 3);

	st = plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	assert_int_equal(st->n, 7); /* g1 and g5 share their traceback */
	assert_int_equal(st->stats[0].size, 1000);
	assert_int_equal(st->stats[1].size, 324);
	assert_int_equal(st->stats[1].traceback->nframe, 2);
	/* the 50/10 tie: same oldest frame (c2), then the paths decide */
	assert_int_equal(st->stats[3].size, 50);
	assert_int_equal(st->stats[4].size, 50);
	assert_int_equal(st->stats[real_first ? 3 : 4].traceback->frames[0].lineno, S.c.line);
	assert_string_equal(st->stats[real_first ? 4 : 3].traceback->frames[0].filename,
	                    "/nonexistent/memtrace-fake.c");
	plumb_memtrace_stats_free(st);

	errno = 0;
	assert_null(plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_TRACEBACK, true));
	assert_int_equal(errno, EINVAL);
	assert_null(plumb_memtrace_snapshot_statistics(s, (plumb_memtrace_key)7, false));
	plumb_memtrace_key k;
	assert_int_equal(plumb_memtrace_key_parse("lineno", &k), 0);
	assert_int_equal(k, PLUMB_MEMTRACE_BY_LINENO);
	assert_int_equal(plumb_memtrace_key_parse("filename", &k), 0);
	assert_int_equal(k, PLUMB_MEMTRACE_BY_FILENAME);
	assert_int_equal(plumb_memtrace_key_parse("traceback", &k), 0);
	assert_int_equal(k, PLUMB_MEMTRACE_BY_TRACEBACK);
	assert_int_equal(plumb_memtrace_key_parse("line", &k), -EINVAL);
	plumb_memtrace_snapshot_free(s);
}

/* The traces of @s as Python's tracemalloc holds them, in JSON: one
 * (domain, size, frames) per block, sizes spread so each group sums. */
static void traces_json(struct str *b, const plumb_memtrace_snapshot *s)
{
	sp(b, "[");
	for (size_t i = 0; i < mt_snapshot_ngroups(s); i++) {
		unsigned domain;
		const plumb_memtrace_traceback *tb;
		uint64_t count, size;
		mt_snapshot_group(s, i, &domain, &tb, &count, &size);
		for (uint64_t k = 0; k < count; k++) {
			uint64_t part = size / count + (k == 0 ? size % count : 0);
			sp(b, "%s[%u,%llu,[", b->s[b->len - 1] == '[' ? "" : ",", domain,
			   (unsigned long long)part);
			for (size_t f = 0; f < tb->nframe; f++) {
				sp(b, "%s[", f ? "," : "");
				sp_json(b, tb->frames[f].filename);
				sp(b, ",%u]", tb->frames[f].lineno);
			}
			sp(b, "]]");
		}
	}
	sp(b, "]");
}

static void append_stats(struct str *out, const plumb_memtrace_stats *st)
{
	for (size_t i = 0; i < st->n; i++) {
		char *line = st->stats ? stat_str(&st->stats[i]) : diff_str(&st->diffs[i]);
		sp(out, "%s\n", line);
		free(line);
	}
}

static const char PY_STATS[] =
        "import json, sys, tracemalloc as t\n"
        "def snap(traces):\n"
        "    return t.Snapshot([(d, s, tuple(tuple(f) for f in fr), len(fr))\n"
        "                       for d, s, fr in traces], 3)\n"
        "new, old = json.load(open(sys.argv[1]))\n"
        "new, old = snap(new), snap(old)\n"
        "for key, cum in (('lineno', False), ('filename', False), ('traceback', False),\n"
        "                 ('lineno', True)):\n"
        "    for st in new.statistics(key, cum):\n"
        "        print(st)\n"
        "    for st in new.compare_to(old, key, cum):\n"
        "        print(st)\n";

/* Everything python prints for PY_STATS, computed here. */
static void our_stats(struct str *out, const plumb_memtrace_snapshot *s,
                      const plumb_memtrace_snapshot *old)
{
	static const struct {
		plumb_memtrace_key key;
		bool cum;
	} runs[] = {
	        {PLUMB_MEMTRACE_BY_LINENO, false},
	        {PLUMB_MEMTRACE_BY_FILENAME, false},
	        {PLUMB_MEMTRACE_BY_TRACEBACK, false},
	        {PLUMB_MEMTRACE_BY_LINENO, true},
	};
	for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
		plumb_memtrace_stats *st =
		        plumb_memtrace_snapshot_statistics(s, runs[r].key, runs[r].cum);
		assert_non_null(st);
		append_stats(out, st);
		plumb_memtrace_stats_free(st);
		st = plumb_memtrace_snapshot_compare_to(s, old, runs[r].key, runs[r].cum);
		assert_non_null(st);
		append_stats(out, st);
		plumb_memtrace_stats_free(st);
	}
}

/* The shared snapshot without g8 (recursion: CPython counts it twice in
 * cumulative mode, we once, on purpose; for the same reason cumulative by
 * filename, where CPython counts a block once per frame in the file, is
 * left out of the comparison), and an older one to compare with: some
 * groups gone, some grown, some new. */
static void python_pair(plumb_memtrace_snapshot **news, plumb_memtrace_snapshot **olds)
{
	plumb_memtrace_snapshot *s = new_snapshot(3);
	add_g1_to_g7(s);
	add(s, 0, 4, 4096, 3, S.inner.addr, S.c.addr);
	plumb_memtrace_snapshot *o = new_snapshot(3);
	add(o, 0, 1, 100, 2, S.a.addr, S.c1.addr);
	add(o, 0, 5, 5000, 2, S.b.addr, S.c2.addr);
	add(o, 0, 10, 50, 2, S.x.addr, S.c2.addr);
	add(o, 0, 3, 70, 2, S.c1.addr, S.c2.addr);
	add(o, 0, 1, 8, 0);
	add(o, 0, 2, 80, 1, S.c.addr);
	*news = s;
	*olds = o;
}

static void test_statistics_python(void **state)
{
	(void)state;
	plumb_memtrace_snapshot *s, *o;
	python_pair(&s, &o);
	struct str in = {0}, ours = {0};
	sp(&in, "[");
	traces_json(&in, s);
	sp(&in, ",");
	traces_json(&in, o);
	sp(&in, "]");
	our_stats(&ours, s, o);
	char *theirs = python(PY_STATS, in.s);
	same_text(ours.s, theirs);
	free(theirs);
	free(in.s);
	free(ours.s);
	plumb_memtrace_snapshot_free(s);
	plumb_memtrace_snapshot_free(o);
}

static void test_compare_to_numbers(void **state)
{
	(void)state;
	plumb_memtrace_snapshot *s, *o;
	python_pair(&s, &o);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_compare_to(s, o, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	assert_null(st->stats);
	/* sorted by |size_diff|: b went from 5000 to 1000, inner is new,
	 * a grew by 424, c1 is gone (size 0), c changed 80 -> 50 */
	assert_int_equal(st->n, 7);
	const plumb_memtrace_statdiff *d = st->diffs;
	assert_int_equal(d[0].traceback->frames[0].lineno, S.inner.line);
	assert_int_equal(d[0].size, 4096);
	assert_int_equal(d[0].size_diff, 4096);
	assert_int_equal(d[0].count_diff, 4);
	assert_int_equal(d[1].traceback->frames[0].lineno, S.b.line);
	assert_int_equal(d[1].size, 1000);
	assert_int_equal(d[1].size_diff, -4000);
	assert_int_equal(d[1].count, 1);
	assert_int_equal(d[1].count_diff, -4);
	assert_int_equal(d[2].traceback->frames[0].lineno, S.a.line);
	assert_int_equal(d[2].size_diff, 424);
	assert_int_equal(d[2].count_diff, 5);
	assert_int_equal(d[3].traceback->frames[0].lineno, S.c1.line);
	assert_int_equal(d[3].size, 0);
	assert_int_equal(d[3].size_diff, -70);
	assert_int_equal(d[3].count, 0);
	assert_int_equal(d[3].count_diff, -3);
	assert_int_equal(d[4].traceback->frames[0].lineno, S.c.line);
	assert_int_equal(d[4].size_diff, -30);
	/* unchanged x and <unknown> come last, biggest first */
	assert_int_equal(d[5].size_diff, 0);
	assert_int_equal(d[5].size, 50);
	assert_int_equal(d[6].size, 8);
	char *line = diff_str(&d[3]);
	char want[PATH_MAX + 100];
	snprintf(want, sizeof want, "%s:%u: size=0 B (-70 B), count=0 (-3)",
	         d[3].traceback->frames[0].filename, S.c1.line);
	assert_string_equal(line, want);
	free(line);
	plumb_memtrace_stats_free(st);
	/* against itself: every diff 0 */
	st = plumb_memtrace_snapshot_compare_to(s, s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	for (size_t i = 0; i < st->n; i++) {
		assert_int_equal(st->diffs[i].size_diff, 0);
		assert_int_equal(st->diffs[i].count_diff, 0);
	}
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);
	/* statistics outlive their snapshots */
	st = plumb_memtrace_snapshot_statistics(o, PLUMB_MEMTRACE_BY_TRACEBACK, false);
	plumb_memtrace_snapshot_free(o);
	line = stat_str(&st->stats[0]);
	/* str() of a traceback statistic names its oldest frame: c2's line */
	snprintf(want, sizeof want, "%s:%u: size=5000 B, count=5, average=1000 B",
	         st->stats[0].traceback->frames[1].filename, S.c2.line);
	assert_string_equal(line, want);
	free(line);
	plumb_memtrace_stats_free(st);
}

/* ---- Filters ---- */

static void filtered_size(const plumb_memtrace_snapshot *s, const plumb_memtrace_filter *f,
                          size_t n, size_t want_size, size_t want_count)
{
	plumb_memtrace_snapshot *out = plumb_memtrace_snapshot_filter_traces(s, f, n);
	assert_non_null(out);
	size_t size, count;
	plumb_memtrace_snapshot_size(out, &size, &count);
	assert_int_equal(size, want_size);
	assert_int_equal(count, want_count);
	assert_int_equal(plumb_memtrace_snapshot_traceback_limit(out), 3);
	plumb_memtrace_snapshot_free(out);
}

static void test_filters(void **state)
{
	(void)state;
	plumb_memtrace_snapshot *s = shared_snapshot();
	const char *self = "*/tests/unit/test_mtanalysis.c";
	/* no filter: a copy */
	filtered_size(s, NULL, 0, 1648, 30);
	/* include by file (key frame only), exclude by file */
	plumb_memtrace_filter f[4] = {{true, self, 0, false, -1}};
	filtered_size(s, f, 1, 1590, 19);
	f[0] = (plumb_memtrace_filter){false, self, 0, false, -1};
	filtered_size(s, f, 1, 58, 11);
	f[0] = (plumb_memtrace_filter){false, "<unknown>", 0, false, -1};
	filtered_size(s, f, 1, 1640, 29);
	/* by line: a's blocks */
	f[0] = (plumb_memtrace_filter){true, self, S.a.line, false, -1};
	filtered_size(s, f, 1, 524, 6);
	f[0] = (plumb_memtrace_filter){false, self, S.a.line, false, -1};
	filtered_size(s, f, 1, 1124, 24);
	/* all_frames: anything that went through c2 */
	f[0] = (plumb_memtrace_filter){true, self, S.c2.line, true, -1};
	filtered_size(s, f, 1, 300, 22);
	f[0] = (plumb_memtrace_filter){false, self, S.c2.line, true, -1};
	filtered_size(s, f, 1, 1348, 8);
	/* domain filters */
	f[0] = (plumb_memtrace_filter){true, NULL, 0, false, 7};
	filtered_size(s, f, 1, 24, 1);
	f[0] = (plumb_memtrace_filter){false, NULL, 0, false, 7};
	filtered_size(s, f, 1, 1624, 29);
	/* a file filter restricted to a domain: Filter(domain=...) */
	f[0] = (plumb_memtrace_filter){true, self, S.a.line, false, 0};
	filtered_size(s, f, 1, 500, 5);
	f[0] = (plumb_memtrace_filter){false, self, S.a.line, false, 7};
	filtered_size(s, f, 1, 1624, 29);
	/* several: kept when one inclusive matches and no exclusive refuses */
	f[0] = (plumb_memtrace_filter){true, self, S.a.line, false, -1};
	f[1] = (plumb_memtrace_filter){true, "/nonexistent/*", 0, false, -1};
	f[2] = (plumb_memtrace_filter){false, NULL, 0, false, 7};
	filtered_size(s, f, 3, 550, 15);
	f[3] = (plumb_memtrace_filter){false, self, S.c2.line, true, -1};
	filtered_size(s, f, 4, 300, 3);
	/* patterns are Python's: "[" literal, backslash literal */
	f[0] = (plumb_memtrace_filter){true, "<unknown[>", 0, false, -1};
	filtered_size(s, f, 1, 0, 0);
	f[0] = (plumb_memtrace_filter){true, "<unk?own>", 0, false, -1};
	filtered_size(s, f, 1, 8, 1);

	/* a filtered snapshot shares the symbols and outlives its source */
	f[0] = (plumb_memtrace_filter){true, self, 0, false, -1};
	plumb_memtrace_snapshot *out = plumb_memtrace_snapshot_filter_traces(s, f, 1);
	plumb_memtrace_snapshot_free(s);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(out, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_int_equal(st->n, 3);
	assert_int_equal(st->stats[0].traceback->frames[0].lineno, S.b.line);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(out);
	errno = 0;
	assert_null(plumb_memtrace_snapshot_filter_traces(NULL, NULL, 0));
	assert_int_equal(errno, EINVAL);
}

/* ---- Traceback.format against Python ---- */

static void test_traceback_format_python(void **state)
{
	(void)state;
	/* A source file with the whitespace Python strips, CR and CRLF line
	 * ends, a blank line and no newline at the end; and one that is not
	 * UTF-8, which linecache reads as having no lines. */
	const char *src = tmp_path("source.c");
	static const char text[] = "  \t first line  \r\n"
	                           "\x0b\x0c second\x1c line\x1f\r"
	                           "\xc2\xa0 no-break \xe3\x80\x80\xe2\x80\x83\n"
	                           "   \n"
	                           "caf\xc3\xa9 \xe2\x80\x8b zero-width is no space\n"
	                           "last, no newline";
	write_file(src, text, sizeof text - 1);
	const char *bad = tmp_path("latin1.c");
	static const char latin[] = "ok\n\xe9t\xe9\n";
	write_file(bad, latin, sizeof latin - 1);

	plumb_memtrace_snapshot *s = new_snapshot(8);
	add(s, 0, 1, 1, 3, S.a.addr, S.inner.addr, S.c1.addr);
	const plumb_memtrace_traceback *real = only_tb(s);
	plumb_memtrace_frame fr[16];
	size_t n = 0;
	assert_int_equal(real->nframe, 4);
	for (size_t i = 0; i < real->nframe; i++)
		fr[n++] = real->frames[i];
	for (unsigned l = 1; l <= 7; l++)
		fr[n++] = (plumb_memtrace_frame){.filename = src, .lineno = l};
	fr[n++] = (plumb_memtrace_frame){.filename = bad, .lineno = 1};
	fr[n++] = (plumb_memtrace_frame){.filename = "/nonexistent/memtrace-fake.c", .lineno = 3};
	plumb_memtrace_traceback tb = {n, n, fr};

	static const int limits[] = {0, 1, 2, 3, 5, 40, -1, -2, -5, -40};
	struct str in = {0}, ours = {0};
	sp(&in, "[[");
	for (size_t i = 0; i < n; i++) {
		sp(&in, "%s[", i ? "," : "");
		sp_json(&in, fr[i].filename);
		sp(&in, ",%u]", fr[i].lineno);
	}
	sp(&in, "],[");
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		sp(&in, "%s%d", i ? "," : "", limits[i]);
		for (int mrf = 0; mrf < 2; mrf++) {
			size_t len = plumb_memtrace_traceback_format(&tb, limits[i], mrf, NULL, 0);
			char *b = malloc(len + 1);
			assert_int_equal(
			        plumb_memtrace_traceback_format(&tb, limits[i], mrf, b, len + 1),
			        len);
			sp(&ours, "%s--\n", b);
			free(b);
		}
	}
	sp(&in, "]]");
	char *theirs = python("import json, sys, tracemalloc as t\n"
	                      "frames, limits = json.load(open(sys.argv[1]))\n"
	                      "tb = t.Traceback(tuple(tuple(f) for f in frames))\n"
	                      "for limit in limits:\n"
	                      "    for mrf in (False, True):\n"
	                      "        for line in tb.format(limit or None, mrf):\n"
	                      "            print(line)\n"
	                      "        print('--')\n",
	                      in.s);
	same_text(ours.s, theirs);
	/* and what it says, to be sure the comparison compared something */
	assert_non_null(strstr(ours.s, "    first line\n"));
	assert_non_null(strstr(ours.s, "    second\x1c line\n"));
	assert_non_null(strstr(ours.s, "    no-break\n"));
	assert_non_null(strstr(ours.s, "    last, no newline\n"));
	assert_non_null(strstr(ours.s, "    here(&s->addr); s->line = __LINE__;"));
	assert_null(strstr(ours.s, "    ok\n"));
	char small[10];
	size_t need = plumb_memtrace_traceback_format(&tb, 1, false, small, sizeof small);
	assert_true(need > sizeof small);
	assert_int_equal(strlen(small), sizeof small - 1);
	free(theirs);
	free(in.s);
	free(ours.s);
	plumb_memtrace_snapshot_free(s);
}

/* ---- Dump and load ---- */

static char *all_stats_text(const plumb_memtrace_snapshot *s)
{
	struct str out = {0};
	sp(&out, "%s", "");
	our_stats(&out, s, s);
	return out.s;
}

static void test_dump_load(void **state)
{
	(void)state;
	plumb_memtrace_snapshot *s = shared_snapshot();
	mt_snapshot_set_time(s, 123456789, 1648, 4000);
	const char *path = tmp_path("dump.pmt");
	assert_int_equal(pmt_trace_write_snapshot(s, path), 0);
	char err[512];
	plumb_memtrace_snapshot *l = plumb_memtrace_snapshot_load(path, err, sizeof err);
	assert_non_null(l);
	char *a = all_stats_text(s), *b = all_stats_text(l);
	assert_string_equal(a, b);
	free(a);
	free(b);
	assert_int_equal(plumb_memtrace_snapshot_traceback_limit(l), 3);
	uint64_t t, cur, peak;
	assert_true(mt_snapshot_time(l, &t, &cur, &peak));
	assert_int_equal(t, 123456789);
	assert_int_equal(cur, 1648);
	assert_int_equal(peak, 4000);

	struct pmt_trace *tr = pmt_trace_read(path, err, sizeof err);
	assert_non_null(tr);
	assert_true(tr->has_summary);
	assert_null(tr->truncation);
	assert_int_equal(tr->pid, (uint32_t)getpid());
	assert_string_equal(tr->exe, MODS.exe);
	assert_non_null(strstr(tr->cmdline, "test_mtanalysis"));
	assert_int_equal(tr->frame_limit, 3);
	assert_int_equal(tr->nsnapshots, 1);
	assert_int_equal(tr->snapshots[0].kind, PMT_SNAP_API);
	assert_int_equal(tr->snapshots[0].nentries, 8);
	assert_int_equal(tr->summary.leaked_bytes, 1648);
	assert_int_equal(tr->summary.leaked_blocks, 30);
	assert_int_equal(pmt_trace_find(tr, PMT_SNAP_API), 0);
	assert_int_equal(pmt_trace_find(tr, PMT_SNAP_EXIT), -1);
	/* a loaded snapshot dumped again keeps where it came from */
	const char *again = tmp_path("again.pmt");
	assert_int_equal(pmt_trace_write_snapshot(l, again), 0);
	struct pmt_trace *tr2 = pmt_trace_read(again, err, sizeof err);
	assert_non_null(tr2);
	assert_int_equal(tr2->pid, tr->pid);
	assert_string_equal(tr2->cmdline, tr->cmdline);
	pmt_trace_free(tr2);
	pmt_trace_free(tr);
	plumb_memtrace_snapshot_free(l);
	plumb_memtrace_snapshot_free(s);

	/* an empty snapshot round-trips too */
	s = new_snapshot(1);
	assert_int_equal(pmt_trace_write_snapshot(s, path), 0);
	l = plumb_memtrace_snapshot_load(path, err, sizeof err);
	assert_non_null(l);
	assert_int_equal(mt_snapshot_ngroups(l), 0);
	plumb_memtrace_snapshot_free(l);
	plumb_memtrace_snapshot_free(s);
	/* where it cannot write */
	assert_int_equal(pmt_trace_write_snapshot(s = new_snapshot(1), "/nonexistent/dir/x.pmt"),
	                 -ENOENT);
	plumb_memtrace_snapshot_free(s);
}

/* ---- Trace files made by hand ---- */

struct rb {
	unsigned char *b;
	size_t len, cap;
	size_t rec;
};

static void rb_put(struct rb *r, uint64_t v, size_t n)
{
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2 + 64;
		r->b = realloc(r->b, r->cap);
	}
	for (size_t i = 0; i < n; i++)
		r->b[r->len++] = i < 8 ? (unsigned char)(v >> (8 * i)) : 0;
}

static void rb_str(struct rb *r, const void *s, size_t n)
{
	rb_put(r, n, 2);
	for (size_t i = 0; i < n; i++)
		rb_put(r, ((const unsigned char *)s)[i], 1);
}

static void rb_begin(struct rb *r, int type)
{
	r->rec = r->len;
	rb_put(r, (uint64_t)type, 1);
	rb_put(r, 0, 3);
	rb_put(r, 0, 4);
}

static void rb_end(struct rb *r)
{
	uint32_t len = (uint32_t)(r->len - r->rec - 8);
	for (int i = 0; i < 4; i++)
		r->b[r->rec + 4 + (size_t)i] = (unsigned char)(len >> (8 * i));
}

static void rb_header(struct rb *r)
{
	rb_begin(r, PMT_HEADER);
	rb_put(r, 4242, 4);
	rb_put(r, 1, 4);
	rb_put(r, 16, 4);
	rb_put(r, 0, 4);
	rb_put(r, 1700000000000000000ULL, 8);
	rb_put(r, 0, 8);
	rb_str(r, MODS.exe, strlen(MODS.exe));
	rb_str(r, "prog --flag", 11);
	rb_end(r);
}

static void rb_module(struct rb *r, uint32_t id, const struct mt_module *m)
{
	rb_begin(r, PMT_MODULE);
	rb_put(r, id, 4);
	rb_put(r, m->start, 8);
	rb_put(r, m->end, 8);
	rb_put(r, m->bias, 8);
	rb_str(r, m->build_id, m->build_id_len);
	rb_str(r, m->path, strlen(m->path));
	rb_end(r);
}

static void rb_stack(struct rb *r, uint32_t id, size_t n, const uintptr_t *f)
{
	rb_begin(r, PMT_STACK);
	rb_put(r, id, 4);
	rb_put(r, n, 2);
	rb_put(r, 0, 2);
	for (size_t i = 0; i < n; i++)
		rb_put(r, f[i], 8);
	rb_end(r);
}

static void rb_sample(struct rb *r, uint64_t t, uint64_t cur)
{
	rb_begin(r, PMT_SAMPLE);
	rb_put(r, t, 8);
	rb_put(r, cur, 8);
	rb_put(r, cur, 8);
	rb_put(r, cur, 8);
	rb_put(r, t / 10, 8);
	rb_put(r, t / 20, 8);
	rb_end(r);
}

/* A SNAPSHOT of @n entries {stack, domain, count, size}. */
static void rb_snapshot(struct rb *r, uint32_t seq, int kind, size_t n, const uint64_t (*e)[4])
{
	rb_begin(r, PMT_SNAPSHOT);
	rb_put(r, seq, 4);
	rb_put(r, (uint64_t)kind, 1);
	rb_put(r, 0, 3);
	rb_put(r, 1000 * (seq + 1), 8);
	rb_put(r, 500, 8);
	rb_put(r, 900, 8);
	rb_put(r, n, 4);
	for (size_t i = 0; i < n; i++) {
		rb_put(r, e[i][0], 4);
		rb_put(r, e[i][1], 4);
		rb_put(r, e[i][2], 8);
		rb_put(r, e[i][3], 8);
	}
	rb_end(r);
}

static void rb_summary(struct rb *r)
{
	rb_begin(r, PMT_SUMMARY);
	for (int i = 0; i < 10; i++)
		rb_put(r, (uint64_t)(i + 1) * 100, 8);
	rb_end(r);
}

/*
 * A valid trace like the tracer's: the record stream, and where each
 * record ends (the writer flushes a frame at such points).
 */
struct trace_text {
	struct rb r;
	size_t cuts[32];
	size_t ncuts;
};

static void cut(struct trace_text *t)
{
	t->cuts[t->ncuts++] = t->r.len;
}

/* The addresses of this program as if it were loaded at a fixed address:
 * the fuzzed files are then the same bytes in every run, whatever ASLR
 * did. */
#define FIXED_BIAS ((uintptr_t)0x7f0000000000)

static uintptr_t at(uintptr_t addr, bool fixed)
{
	const struct mt_module *self = module_named(MODS.exe);
	return fixed ? addr - self->bias + FIXED_BIAS : addr;
}

/* With @fixed, only this program's module, at FIXED_BIAS. */
static void valid_trace(struct trace_text *t, bool fixed)
{
	*t = (struct trace_text){0};
	struct rb *r = &t->r;
	rb_header(r);
	cut(t);
	for (size_t i = 0; i < MODS.n; i++) {
		struct mt_module m = MODS.m[i];
		if (fixed && strcmp(m.path, MODS.exe) != 0)
			continue;
		if (fixed) {
			m.start = at(m.start, true);
			m.end = at(m.end, true);
			m.bias = FIXED_BIAS;
		}
		rb_module(r, (uint32_t)i + 1, &m);
	}
	uintptr_t s1[] = {at(S.a.addr, fixed), at(S.c1.addr, fixed)},
	          s2[] = {at(S.b.addr, fixed), at(S.c2.addr, fixed)},
	          s3[] = {at(S.inner.addr, fixed), at(S.c.addr, fixed), at(S.c1.addr, fixed)};
	rb_stack(r, 1, 2, s1);
	rb_stack(r, 2, 2, s2);
	cut(t);
	rb_sample(r, 10, 100);
	rb_sample(r, 20, 300);
	cut(t);
	const uint64_t e1[][4] = {{1, 0, 3, 300}, {2, 0, 1, 1000}};
	rb_snapshot(r, 0, PMT_SNAP_INTERVAL, 2, e1);
	cut(t);
	rb_stack(r, 3, 3, s3);
	rb_sample(r, 30, 400);
	const uint64_t e2[][4] = {{1, 0, 4, 400}, {2, 0, 1, 1000}, {3, 5, 2, 64}, {0, 0, 1, 8}};
	rb_snapshot(r, 1, PMT_SNAP_SIGNAL, 4, e2);
	cut(t);
	rb_snapshot(r, 2, PMT_SNAP_PEAK, 4, e2);
	const uint64_t e3[][4] = {{3, 5, 1, 32}};
	rb_snapshot(r, 3, PMT_SNAP_EXIT, 1, e3);
	cut(t);
	rb_summary(r);
	cut(t);
}

/* Writes preamble + the stream compressed one zstd frame per piece
 * between @cuts (NULL: one frame).  Returns the file's bytes. */
static unsigned char *pack(const unsigned char *raw, size_t len, const size_t *cuts, size_t ncuts,
                           size_t *out_len)
{
	size_t cap = 8 + ZSTD_compressBound(len) + 64 * (ncuts + 1);
	unsigned char *out = malloc(cap);
	memcpy(out, "PMT\x01\x01\x00\x00\x00", 8);
	size_t o = 8, from = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		if (to > len)
			to = len;
		if (to <= from && !(i == ncuts && from == 0))
			continue;
		size_t z = ZSTD_compress(out + o, cap - o, raw + from, to - from, 3);
		assert_false(ZSTD_isError(z));
		o += z;
		from = to;
	}
	*out_len = o;
	return out;
}

static struct pmt_trace *read_bytes(const void *data, size_t n, char *err, size_t errlen)
{
	const char *path = tmp_path("t.pmt");
	write_file(path, data, n);
	return pmt_trace_read(path, err, errlen);
}

static void test_read_valid(void **state)
{
	(void)state;
	struct trace_text t;
	valid_trace(&t, false);
	size_t n;
	unsigned char *file = pack(t.r.b, t.r.len, t.cuts, t.ncuts, &n);
	char err[512] = "";
	struct pmt_trace *tr = read_bytes(file, n, err, sizeof err);
	assert_non_null(tr);
	assert_true(tr->has_summary);
	assert_int_equal(tr->pid, 4242);
	assert_int_equal(tr->ppid, 1);
	assert_int_equal(tr->frame_limit, 16);
	assert_string_equal(tr->cmdline, "prog --flag");
	assert_int_equal(tr->nsamples, 3);
	assert_int_equal(tr->samples[2].current, 400);
	assert_int_equal(tr->samples[2].allocs, 3);
	assert_int_equal(tr->nsnapshots, 4);
	assert_int_equal(tr->snapshots[1].kind, PMT_SNAP_SIGNAL);
	assert_int_equal(tr->snapshots[1].nentries, 4);
	assert_int_equal(tr->snapshots[1].t_ns, 2000);
	assert_int_equal(tr->summary.leaked_bytes, 400);
	assert_int_equal(tr->summary.untraced_frees, 1000);
	assert_int_equal(pmt_trace_find(tr, PMT_SNAP_PEAK), 2);
	assert_int_equal(pmt_trace_find(tr, PMT_SNAP_EXIT), 3);
	assert_int_equal(pmt_trace_find(tr, PMT_SNAP_API), -1);

	plumb_memtrace_snapshot *s = pmt_trace_snapshot(tr, 1);
	assert_non_null(s);
	assert_int_equal(plumb_memtrace_snapshot_traceback_limit(s), 16);
	size_t size, count;
	plumb_memtrace_snapshot_size(s, &size, &count);
	assert_int_equal(size, 1472);
	assert_int_equal(count, 8);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	const struct expect want[] = {
	        {&S.b, false, false, 1000, 1},
	        {&S.a, false, false, 400, 4},
	        {&S.inner, false, false, 64, 2},
	        {NULL, false, false, 8, 1},
	};
	check_stats(st, want, 4);
	plumb_memtrace_stats_free(st);
	/* two snapshots of one trace: compare_to, symbols shared */
	plumb_memtrace_snapshot *first = pmt_trace_snapshot(tr, 0);
	pmt_trace_free(tr);
	st = plumb_memtrace_snapshot_compare_to(s, first, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_int_equal(st->n, 4);
	assert_int_equal(st->diffs[0].size_diff, 100);
	assert_int_equal(st->diffs[0].traceback->frames[0].lineno, S.a.line);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(first);
	plumb_memtrace_snapshot_free(s);
	assert_null(pmt_trace_snapshot(NULL, 0));

	/* snapshot_load takes the last snapshot, the EXIT one */
	const char *path = tmp_path("valid.pmt");
	write_file(path, file, n);
	s = plumb_memtrace_snapshot_load(path, err, sizeof err);
	assert_non_null(s);
	plumb_memtrace_snapshot_size(s, &size, &count);
	assert_int_equal(size, 32);
	assert_int_equal(count, 1);
	plumb_memtrace_snapshot_free(s);
	free(file);
	free(t.r.b);
}

/* Reads @data and checks the promise: data, or NULL with errno set and a
 * message naming the file. */
static struct pmt_trace *read_checked(const void *data, size_t n)
{
	char err[512] = "";
	errno = 0;
	struct pmt_trace *tr = read_bytes(data, n, err, sizeof err);
	if (!tr) {
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(err, tmp_path("t.pmt")));
	} else {
		assert_int_equal(tr->has_summary, tr->truncation == NULL);
	}
	return tr;
}

static void test_read_truncated_everywhere(void **state)
{
	(void)state;
	struct trace_text t;
	valid_trace(&t, false);
	size_t n;
	unsigned char *file = pack(t.r.b, t.r.len, t.cuts, t.ncuts, &n);
	/* cut inside the compressed file, at every byte */
	bool seen_data = false;
	size_t last_snaps = 0, accepted = 0;
	for (size_t len = 0; len <= n; len++) {
		struct pmt_trace *tr = read_checked(file, len);
		if (seen_data)
			assert_non_null(tr); /* once readable, longer prefixes stay so */
		if (!tr)
			continue;
		accepted++;
		seen_data = true;
		assert_int_equal(tr->has_summary, len == n);
		assert_true(tr->nsnapshots >= last_snaps);
		last_snaps = tr->nsnapshots;
		for (size_t k = 0; k < tr->nsnapshots; k++) {
			plumb_memtrace_snapshot *s = pmt_trace_snapshot(tr, k);
			assert_non_null(s);
			plumb_memtrace_snapshot_free(s);
		}
		pmt_trace_free(tr);
	}
	assert_int_equal(last_snaps, 4);
	assert_true(accepted > n / 2);
	free(file);

	/* cut inside the record stream, at every byte, in one clean frame */
	last_snaps = 0;
	seen_data = false;
	for (size_t len = 0; len <= t.r.len; len++) {
		unsigned char *f = pack(t.r.b, len, NULL, 0, &n);
		struct pmt_trace *tr = read_checked(f, n);
		free(f);
		if (seen_data)
			assert_non_null(tr);
		if (!tr) {
			assert_true(len < t.cuts[0]); /* only before the header is whole */
			continue;
		}
		seen_data = true;
		assert_int_equal(tr->has_summary, len == t.r.len);
		assert_true(tr->nsnapshots >= last_snaps);
		last_snaps = tr->nsnapshots;
		if (!tr->has_summary)
			assert_non_null(strstr(tr->truncation, "byte"));
		pmt_trace_free(tr);
	}
	assert_true(seen_data);
	/* snapshot_load refuses a cut file, with the reason */
	unsigned char *f = pack(t.r.b, t.cuts[4], NULL, 0, &n);
	const char *path = tmp_path("cut.pmt");
	write_file(path, f, n);
	free(f);
	char err[512];
	errno = 0;
	assert_null(plumb_memtrace_snapshot_load(path, err, sizeof err));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "truncated"));
	assert_non_null(strstr(err, path));
	free(t.r.b);
}

static void test_read_flips(void **state)
{
	(void)state;
	struct trace_text t;
	valid_trace(&t, true);
	size_t n;
	unsigned char *file = pack(t.r.b, t.r.len, t.cuts, t.ncuts, &n);
	unsigned char *copy = malloc(n > t.r.len ? n : t.r.len);
	size_t ok = 0, refused = 0;
	/* flips in the compressed file */
	for (int iter = 0; iter < 600; iter++) {
		memcpy(copy, file, n);
		int flips = 1 + (int)(rnd() % 3);
		for (int k = 0; k < flips; k++)
			copy[rnd() % n] ^= (unsigned char)(1u << (rnd() % 8));
		struct pmt_trace *tr = read_checked(copy, n);
		if (tr) {
			ok++;
			pmt_trace_free(tr);
		} else {
			refused++;
		}
	}
	/* flips in the records themselves, recompressed: the record checks
	 * are what stands between them and the snapshot code */
	for (int iter = 0; iter < 1500; iter++) {
		memcpy(copy, t.r.b, t.r.len);
		int flips = 1 + (int)(rnd() % 4);
		for (int k = 0; k < flips; k++) {
			size_t at = rnd() % t.r.len;
			if (rnd() % 4 == 0)
				copy[at] = (unsigned char)rnd();
			else
				copy[at] ^= (unsigned char)(1u << (rnd() % 8));
		}
		size_t m;
		unsigned char *f = pack(copy, t.r.len, t.cuts, t.ncuts, &m);
		struct pmt_trace *tr = read_checked(f, m);
		free(f);
		if (!tr) {
			refused++;
			continue;
		}
		ok++;
		/* whatever got through must make sound snapshots */
		for (size_t k = 0; k < tr->nsnapshots && iter % 5 == 0; k++) {
			plumb_memtrace_snapshot *s = pmt_trace_snapshot(tr, k);
			assert_non_null(s);
			plumb_memtrace_stats *st = plumb_memtrace_snapshot_statistics(
			        s, PLUMB_MEMTRACE_BY_TRACEBACK, false);
			assert_non_null(st);
			for (size_t i = 0; i < st->n; i++) {
				char line[256];
				plumb_memtrace_stat_format(&st->stats[i], line, sizeof line);
				plumb_memtrace_traceback_format(st->stats[i].traceback, 0, true,
				                                line, sizeof line);
			}
			plumb_memtrace_stats_free(st);
			plumb_memtrace_snapshot_free(s);
		}
		pmt_trace_free(tr);
	}
	print_message("# flips: %zu files read, %zu refused\n", ok, refused);
	assert_true(ok > 0 && refused > 0);
	free(copy);
	free(file);
	free(t.r.b);
}

/* One malformed stream: refused, with @what in the message. */
static void refused(const struct rb *r, const char *what)
{
	size_t n;
	unsigned char *f = pack(r->b, r->len, NULL, 0, &n);
	char err[512] = "";
	errno = 0;
	struct pmt_trace *tr = read_bytes(f, n, err, sizeof err);
	free(f);
	if (tr)
		fail_msg("accepted a stream with %s", what);
	assert_int_equal(errno, EINVAL);
	if (!strstr(err, what))
		fail_msg("message \"%s\" does not say \"%s\"", err, what);
	assert_non_null(strstr(err, tmp_path("t.pmt")));
}

static void test_read_malformed(void **state)
{
	(void)state;
	struct rb r = {0};
	uintptr_t fr[] = {S.a.addr};

	/* outside the stream */
	char err[512];
	errno = 0;
	assert_null(read_bytes("", 0, err, sizeof err));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "empty file"));
	assert_null(read_bytes("GIF89a....", 10, err, sizeof err));
	assert_non_null(strstr(err, "not a memtrace trace file"));
	assert_null(read_bytes("PMT\x01\x02\x00\x00\x00", 8, err, sizeof err));
	assert_non_null(strstr(err, "version 2"));
	assert_null(read_bytes("PMT\x01\x01\x00", 6, err, sizeof err));
	assert_non_null(strstr(err, "preamble"));
	assert_null(read_bytes("PMT\x01\x01\x00\x00\x00", 8, err, sizeof err));
	assert_non_null(strstr(err, "no HEADER"));
	assert_null(read_bytes("PMT\x01\x01\x00\x00\x00garbage!garbage!", 24, err, sizeof err));
	assert_non_null(strstr(err, "corrupt compressed data"));
	errno = 0;
	assert_null(pmt_trace_read(tmp_path("does-not-exist.pmt"), err, sizeof err));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "does-not-exist.pmt"));
	assert_null(pmt_trace_read(TMPDIR, err, sizeof err));
	assert_int_equal(errno, EISDIR);

	/* each rule of pmt.h */
	r.len = 0;
	rb_stack(&r, 1, 1, fr);
	refused(&r, "before the HEADER");
	r.len = 0;
	rb_header(&r);
	rb_header(&r);
	refused(&r, "a second HEADER");
	r.len = 0;
	rb_header(&r);
	rb_begin(&r, 9);
	rb_end(&r);
	refused(&r, "unknown record type");
	r.len = 0;
	rb_header(&r);
	rb_begin(&r, PMT_SAMPLE);
	r.b[r.rec + 1] = 1; /* flags */
	rb_put(&r, 0, 48);
	rb_end(&r);
	refused(&r, "flags or reserved");
	r.len = 0;
	rb_header(&r);
	rb_begin(&r, PMT_SAMPLE);
	rb_put(&r, 0, 40);
	rb_end(&r);
	refused(&r, "SAMPLE shorter");
	r.len = 0;
	rb_header(&r);
	rb_begin(&r, PMT_SAMPLE);
	rb_end(&r);
	r.b[r.rec + 7] = 0x20; /* 512 MiB */
	refused(&r, "beyond the");
	r.len = 0;
	rb_header(&r);
	rb_stack(&r, 2, 1, fr);
	refused(&r, "STACK id 2 out of order (expected 1)");
	r.len = 0;
	rb_header(&r);
	rb_stack(&r, 1, 1, fr);
	r.b[r.rec + 12] = 5; /* claims 5 frames, holds 1 */
	refused(&r, "STACK shorter than its 5 frames");
	r.len = 0;
	rb_header(&r);
	rb_stack(&r, 1, 1, fr);
	const uint64_t e[][4] = {{2, 0, 1, 1}};
	rb_snapshot(&r, 0, PMT_SNAP_EXIT, 1, e);
	refused(&r, "names stack 2, never defined");
	r.len = 0;
	rb_header(&r);
	rb_snapshot(&r, 0, PMT_SNAP_EXIT, 0, NULL);
	r.b[r.len - 4] = 3; /* 3 entries in none */
	refused(&r, "SNAPSHOT of 3 entries in 0 bytes");
	r.len = 0;
	rb_header(&r);
	rb_snapshot(&r, 0, 9, 0, NULL);
	refused(&r, "unknown kind 9");
	r.len = 0;
	rb_header(&r);
	rb_module(&r, 1, &MODS.m[0]);
	rb_module(&r, 1, &MODS.m[0]);
	refused(&r, "MODULE id 1 defined twice");
	r.len = 0;
	rb_header(&r);
	rb_summary(&r);
	rb_sample(&r, 1, 1);
	refused(&r, "a record after the SUMMARY");
	r.len = 0;
	rb_header(&r);
	rb_begin(&r, PMT_MODULE);
	rb_put(&r, 1, 4);
	rb_put(&r, 100, 8);
	rb_put(&r, 50, 8);
	rb_put(&r, 0, 8);
	rb_str(&r, "", 0);
	rb_str(&r, "/x", 2);
	rb_end(&r);
	refused(&r, "ends before it starts");

	/* a later version may append fields: they are skipped */
	r.len = 0;
	rb_header(&r);
	rb_sample(&r, 5, 6);
	rb_put(&r, 0xabcdef, 8);
	rb_end(&r);
	rb_summary(&r);
	size_t n;
	unsigned char *f = pack(r.b, r.len, NULL, 0, &n);
	struct pmt_trace *tr = read_bytes(f, n, err, sizeof err);
	free(f);
	assert_non_null(tr);
	assert_int_equal(tr->nsamples, 1);
	assert_int_equal(tr->samples[0].current, 6);
	assert_true(tr->has_summary);
	pmt_trace_free(tr);
	free(r.b);
}

static void test_read_damaged_frames(void **state)
{
	(void)state;
	struct trace_text t;
	valid_trace(&t, false);
	size_t n;
	unsigned char *file = pack(t.r.b, t.r.len, t.cuts, t.ncuts, &n);
	unsigned char *big = malloc(n + 4096);
	char err[512];

	/* zeros after the last frame (a crash on a filesystem that had
	 * allocated the blocks): cut short, the data kept */
	size_t cutn;
	unsigned char *cutf = pack(t.r.b, t.cuts[3], t.cuts, 3, &cutn);
	memcpy(big, cutf, cutn);
	memset(big + cutn, 0, 4096);
	struct pmt_trace *tr = read_bytes(big, cutn + 4096, err, sizeof err);
	assert_non_null(tr);
	assert_false(tr->has_summary);
	assert_int_equal(tr->nsnapshots, 1);
	assert_non_null(strstr(tr->truncation, "damaged"));
	pmt_trace_free(tr);
	/* garbage after the last frame: refused */
	memcpy(big, file, n);
	memcpy(big + n, "\x28\xb5\x2f\xfd garbage garbage garbage", 27);
	assert_null(read_bytes(big, n + 27, err, sizeof err));
	assert_non_null(strstr(err, "SUMMARY"));
	memcpy(big, cutf, cutn);
	memcpy(big + cutn, "garbage garbage garbage", 23);
	assert_null(read_bytes(big, cutn + 23, err, sizeof err));
	assert_non_null(strstr(err, "corrupt compressed data"));
	/* a damaged block in the last frame of a cut file: kept up to it, or
	 * refused with the file's name (as zstd reports the damage) */
	memcpy(big, cutf, cutn);
	big[cutn - 3] ^= 0xff;
	big[cutn - 4] ^= 0xff;
	tr = read_bytes(big, cutn, err, sizeof err);
	if (tr) {
		assert_false(tr->has_summary);
		assert_true(tr->nsnapshots <= 1);
		pmt_trace_free(tr);
	} else {
		assert_non_null(strstr(err, tmp_path("t.pmt")));
	}
	/* a damaged block in a frame followed by others: refused */
	size_t first = 8;
	size_t fsz = ZSTD_findFrameCompressedSize(file + first, n - first);
	assert_false(ZSTD_isError(fsz));
	size_t second = first + fsz;
	size_t ssz = ZSTD_findFrameCompressedSize(file + second, n - second);
	memcpy(big, file, n);
	for (size_t i = second + 12; i < second + ssz - 1; i++)
		big[i] ^= 0x5a;
	tr = read_bytes(big, n, err, sizeof err);
	if (tr)
		fail_msg("accepted a file with a damaged middle frame");
	assert_non_null(strstr(err, "corrupt compressed data"));
	free(cutf);
	free(big);
	free(file);
	free(t.r.b);
}

/* The command's reading speed: a trace of about 10 MB (compressed; 40
 * snapshots of 20000 stacks, 80000 samples) read and reported on.  The
 * time is printed, never asserted (machines differ). */
static void test_read_big(void **state)
{
	(void)state;
	struct rb r = {0};
	rb_header(&r);
	for (size_t i = 0; i < MODS.n; i++)
		rb_module(&r, (uint32_t)i + 1, &MODS.m[i]);
	/* 64 distinct return addresses, as a program has a few call sites */
	uintptr_t addrs[64];
	const uintptr_t base[] = {S.a.addr,  S.b.addr,     S.c.addr, S.c1.addr,
	                          S.c2.addr, S.inner.addr, S.x.addr, S.libc};
	for (int i = 0; i < 64; i++)
		addrs[i] = base[i % 8] + (uintptr_t)(i / 8) * 4;
	enum { NSTACKS = 20000 };
	for (uint32_t i = 1; i <= NSTACKS; i++) {
		uintptr_t f[16];
		for (int k = 0; k < 16; k++)
			f[k] = addrs[rnd() % 64];
		rb_stack(&r, i, 16, f);
	}
	uint64_t(*e)[4] = malloc(NSTACKS * sizeof *e);
	for (uint32_t s = 0; s < 40; s++) {
		for (int k = 0; k < 2000; k++)
			rb_sample(&r, (uint64_t)s * 2000000 + (uint64_t)k * 1000,
			          rnd() % (1ull << 34));
		for (uint32_t i = 0; i < NSTACKS; i++) {
			e[i][0] = i + 1;
			e[i][1] = 0;
			e[i][2] = rnd() % 100000;
			e[i][3] = rnd() % (1ull << 32);
		}
		rb_snapshot(&r, s, PMT_SNAP_INTERVAL, NSTACKS, (const uint64_t(*)[4])e);
	}
	rb_summary(&r);
	free(e);
	size_t n;
	unsigned char *f = pack(r.b, r.len, NULL, 0, &n);
	const char *path = tmp_path("big.pmt");
	write_file(path, f, n);
	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	char err[512];
	struct pmt_trace *tr = pmt_trace_read(path, err, sizeof err);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	assert_non_null(tr);
	plumb_memtrace_snapshot *s = pmt_trace_snapshot(tr, tr->nsnapshots - 1);
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	assert_non_null(st);
	for (size_t i = 0; i < st->n && i < 10; i++) {
		char line[512];
		plumb_memtrace_stat_format(&st->stats[i], line, sizeof line);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t2);
	assert_int_equal(tr->nsnapshots, 40);
	assert_int_equal(tr->nsamples, 80000);
	print_message(
	        "# %.1f MB file (%.1f MB of records): read in %.3f s of CPU, then top 10 by line "
	        "%.3f s\n",
	        (double)n / 1e6, (double)r.len / 1e6,
	        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	        (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9);
	plumb_memtrace_stats_free(st);
	plumb_memtrace_snapshot_free(s);
	pmt_trace_free(tr);
	free(f);
	free(r.b);
}

static void test_group_walk(void **state)
{
	(void)state;
	plumb_memtrace_snapshot *s = new_snapshot(2);
	uintptr_t f[] = {S.a.addr, S.b.addr};
	assert_int_equal(mt_snapshot_add(s, 3, f, 2, true, 5, 50), 0);
	assert_int_equal(mt_snapshot_add(s, 3, f, 2, true, 1, 10), 0); /* sums */
	assert_int_equal(mt_snapshot_add(s, 3, f, 2, false, 1, 1), 0); /* not cut: another */
	assert_int_equal(mt_snapshot_ngroups(s), 2);
	unsigned domain;
	const plumb_memtrace_traceback *tb;
	uint64_t count, size;
	mt_snapshot_group(s, 0, &domain, &tb, &count, &size);
	assert_int_equal(domain, 3);
	assert_int_equal(count, 6);
	assert_int_equal(size, 60);
	assert_int_equal(tb->nframe, 2);
	assert_int_equal(tb->total_nframe, 3);
	assert_false(mt_snapshot_time(s, NULL, NULL, NULL));
	mt_snapshot_set_time(s, 1, 2, 3);
	assert_true(mt_snapshot_time(s, NULL, NULL, NULL));
	plumb_memtrace_snapshot_free(s);
	plumb_memtrace_snapshot_free(NULL);
	plumb_memtrace_stats_free(NULL);
}

static int remove_tmp(void **state)
{
	(void)state;
	if (tmpdir_made) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", TMPDIR);
		if (system(cmd) != 0)
			return -1;
	}
	return teardown_all(state);
}

int main(void)
{
	main_return = (uintptr_t)__builtin_return_address(0);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_format_size_python),
	        cmocka_unit_test(test_stat_format_python),
	        cmocka_unit_test(test_fnmatch_python),
	        cmocka_unit_test(test_symbols_source),
	        cmocka_unit_test(test_symbols_inlined),
	        cmocka_unit_test(test_symbols_no_source),
	        cmocka_unit_test(test_symbols_outside_units),
	        cmocka_unit_test(test_key_frame_entry_point),
	        cmocka_unit_test(test_symbols_demangled),
	        cmocka_unit_test(test_symbols_wrong_file),
	        cmocka_unit_test(test_traceback_new),
	        cmocka_unit_test(test_statistics_numbers),
	        cmocka_unit_test(test_statistics_python),
	        cmocka_unit_test(test_compare_to_numbers),
	        cmocka_unit_test(test_filters),
	        cmocka_unit_test(test_traceback_format_python),
	        cmocka_unit_test(test_dump_load),
	        cmocka_unit_test(test_read_valid),
	        cmocka_unit_test(test_read_truncated_everywhere),
	        cmocka_unit_test(test_read_flips),
	        cmocka_unit_test(test_read_malformed),
	        cmocka_unit_test(test_read_damaged_frames),
	        cmocka_unit_test(test_read_big),
	        cmocka_unit_test(test_group_walk),
	};
	return cmocka_run_group_tests(tests, setup_all, remove_tmp);
}

/* Last in the file: what follows claims to come from another source file,
 * whose name statistics by filename must keep apart. */
/* clang-format off */
#line 1000 "/nonexistent/memtrace-fake.c"
static __attribute__((noinline, noclone)) void fake_x(struct site *s)
{
	here(&s->addr); s->line = __LINE__;
	s->func = "fake_x";
	__asm__ volatile("" ::: "memory");
}
