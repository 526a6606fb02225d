/*
 * hash.c - `plumb hash`: print or check message digests, several in one read.
 *
 * The output and the --check rules are those of coreutils' sha256sum and its
 * siblings, so lists made by either are read by the other and scripts need
 * not care which one ran.  What plumb adds is that any number of algorithms
 * (-a md5 -a sha256 ...) are computed from a single read of each input, and
 * that the hashing runs on OpenSSL, which uses the CPU's SHA instructions.
 *
 * How an input is hashed:
 *  - Small files go the plain library way: an fd reader, a multi writer of
 *    the plumb_hash writers (or the one hash writer), plumb_copy_buffer
 *    between them with a large buffer.
 *  - Big files and pipes, when there are two CPUs or more, go through a
 *    fan-out: this thread reads chunks into a small ring of buffers and one
 *    worker thread per algorithm hashes each chunk.  Reading (a copy out of
 *    the page cache) then overlaps with hashing, and several algorithms run
 *    side by side instead of one after another.  A chunk is reused once
 *    every worker is done with it.
 *
 * Output is written only once an input has been read to its end, so a file
 * that fails halfway never gets a digest line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <plumb/plumb.h>

#include "cmd.h"

enum {
	MAX_ALGOS = 16,         /* more than there are algorithms */
	COPY_BUF = 256 << 10,   /* the buffer of the plain (one-thread) copy */
	CHUNK = 1 << 20,        /* one slot of the fan-out ring */
	RING = 4,               /* slots in the ring */
	FANOUT_MIN = 1 << 20,   /* regular files this big or more use the fan-out */
	FANOUT_UNAVAILABLE = 1, /* fanout_copy could not start its threads */
};

/* What the command line asked for. */
struct opts {
	plumb_hash *hs[MAX_ALGOS]; /* the -a algorithms, distinct, in order given */
	size_t n;
	bool algo_given;
	bool tag, check, binary, text, zero;
	bool quiet, status, strict, warn, ignore_missing;
};

/* Buffers kept for the whole run, so a run over many files allocates once. */
struct bufs {
	unsigned char *copy;       /* COPY_BUF bytes, for the plain copy */
	unsigned char *ring[RING]; /* CHUNK bytes each, for the fan-out */
};

/* ---- Usage ---- */

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: plumb hash [OPTION]... [FILE]...\n"
	        "Print or check message digests (checksums), computing every requested\n"
	        "algorithm from a single read of each FILE.\n"
	        "\n"
	        "With no FILE, or when FILE is -, read standard input.\n"
	        "  -a, --algorithm=ALGO  compute ALGO (default sha256); repeat the option, or\n"
	        "                          give a comma-separated list, for several at once\n"
	        "  -b, --binary          mark the files as read in binary mode ('*')\n"
	        "  -c, --check           read checksums from the FILEs and check them\n"
	        "      --tag             create BSD-style lines: ALGO (FILE) = DIGEST; the\n"
	        "                          default whenever several algorithms are asked for\n"
	        "  -t, --text            mark the files as read in text mode (default)\n"
	        "  -z, --zero            end each output line with NUL, not newline,\n"
	        "                          and disable file name escaping\n"
	        "      --list            list the known algorithms and exit\n"
	        "\n"
	        "The following five options are useful only when verifying checksums:\n"
	        "      --ignore-missing  don't fail or report status for missing files\n"
	        "      --quiet           don't print OK for each successfully verified file\n"
	        "      --status          don't output anything, status code shows success\n"
	        "      --strict          exit non-zero for improperly formatted checksum lines\n"
	        "  -w, --warn            warn about improperly formatted checksum lines\n"
	        "\n"
	        "      --help            display this help and exit\n"
	        "\n"
	        "Algorithms: sha256 (default), sha1, md5, sha224, sha384, sha512, sha3-256,\n"
	        "sha3-512, blake2b512, blake2s256; case does not matter, and the BSD tags\n"
	        "(SHA256, BLAKE2b...) and forms such as sha-256 are accepted too.\n"
	        "\n"
	        "When checking, lines may be in either form.  A BSD-style line names its\n"
	        "algorithm (it must be one of the -a ones, if -a is given).  The algorithm\n"
	        "of a plain line is the -a one whose digest has the line's length; without\n"
	        "-a it is guessed from the length: md5 (32 hex digits), sha1 (40), sha224\n"
	        "(56), sha256 (64), sha384 (96), sha512 (128).\n"
	        "\n"
	        "Exit status: 0 on success, 1 if a file could not be read, a checksum did\n"
	        "not match, no line could be checked, or the command line was wrong.\n"
	        "See plumb-hash(1).\n");
}

/* Reports a command-line error the way coreutils does and returns 1. */
static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog_name);
	return 1;
}

/* ---- Names in messages ---- */

/* The length of the printable character at s: 1 for printable ASCII, 2-4 for
 * a valid UTF-8 sequence of a printable character, 0 for a control or a byte
 * that is no character. */
static size_t char_len(const unsigned char *s)
{
	if (*s < 0x80)
		return *s >= 0x20 && *s != 0x7f;
	size_t n;
	if (*s >= 0xc2 && *s <= 0xdf)
		n = 2;
	else if (*s >= 0xe0 && *s <= 0xef)
		n = 3;
	else if (*s >= 0xf0 && *s <= 0xf4)
		n = 4;
	else
		return 0;
	uint32_t cp = *s & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const uint32_t least[] = {0, 0, 0xa0, 0x800, 0x10000}; /* no C1 controls */
	if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
		return 0;
	return n;
}

/* Whether the printable ASCII c may stand unquoted in a shell word. */
static bool shell_safe(unsigned char c, bool first)
{
	if (isalnum(c) || (c && strchr("%+,-./@]_{}", c)))
		return true;
	return (c == '~' || c == '#') && !first;
}

/* Prints the escape of a control byte inside $'...'. */
static void put_c_escape(FILE *f, unsigned char c)
{
	static const char names[] = "\a\b\t\n\v\f\r";
	const char *p = c ? strchr(names, c) : NULL;
	if (p)
		fprintf(f, "\\%c", "abtnvfr"[p - names]);
	else
		fprintf(f, "\\%03o", c);
}

/* Prints name as coreutils quotes file names in messages (gnulib's shell
 * escape style): bare when the shell would take it as is, else in single
 * quotes ("..." when that alone avoids escaping a '), controls as $'\n'. */
static void put_quoted(FILE *f, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	bool quote = !*s, controls = false, squote = false, dq_unsafe = false;
	for (size_t i = 0, n; s[i]; i += n ? n : 1) {
		n = char_len(s + i);
		if (n == 0)
			controls = quote = true;
		else if (n == 1 && !shell_safe(s[i], i == 0))
			quote = true;
		squote |= s[i] == '\'';
		dq_unsafe |= s[i] && strchr("$`\\\"!", s[i]);
	}
	if (!quote) {
		fputs(name, f);
		return;
	}
	if (squote && !controls && !dq_unsafe) {
		fprintf(f, "\"%s\"", name);
		return;
	}
	bool in_escape = false; /* inside a $'...' */
	fputc('\'', f);
	for (size_t i = 0, n; s[i]; i += n ? n : 1) {
		n = char_len(s + i);
		if (n == 0) {
			if (!in_escape)
				fputs("'$'", f);
			in_escape = true;
			put_c_escape(f, s[i]);
			continue;
		}
		if (in_escape)
			fputs("''", f);
		in_escape = false;
		if (s[i] == '\'')
			fputs("'\\''", f);
		else
			fwrite(s + i, 1, n, f);
	}
	fputc('\'', f);
}

/* Prints "plumb hash: NAME: message" on stderr, NAME quoted as coreutils
 * quotes it. */
static void __attribute__((format(printf, 2, 3))) warn_file(const char *name, const char *fmt, ...)
{
	va_list ap;
	flockfile(stderr);
	fprintf(stderr, "%s: ", prog_name);
	put_quoted(stderr, name);
	fputs(": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* ---- Algorithms ---- */

/* Says which algorithm names exist, for an unknown one. */
static void list_known(FILE *out, const char *sep)
{
	const char *const *names = plumb_hash_algorithms();
	for (size_t i = 0; names[i]; i++)
		fprintf(out, "%s%s", i ? sep : "", names[i]);
}

/* Adds one algorithm to o, once; 0, or 1 after saying what was wrong. */
static int add_algo(struct opts *o, const char *name)
{
	plumb_hash *h;
	int err = plumb_hash_new(&h, name);
	if (err == PLUMB_EALGO) {
		fprintf(stderr, "%s: unknown algorithm '%s'; known: ", prog_name, name);
		list_known(stderr, ", ");
		fputc('\n', stderr);
		return 1;
	}
	if (err < 0) {
		warn_file(name, "%s", plumb_strerror(err));
		return 1;
	}
	for (size_t i = 0; i < o->n; i++) {
		if (!strcmp(plumb_hash_name(o->hs[i]), plumb_hash_name(h))) {
			plumb_hash_free(h);
			return 0;
		}
	}
	o->hs[o->n++] = h; /* cannot overflow: duplicates are dropped */
	return 0;
}

/* Adds each name of a comma-separated list; 0, or 1 on a bad name. */
static int add_algos(struct opts *o, const char *list)
{
	char *copy = strdup(list);
	if (!copy) {
		warnx_("%s", plumb_strerror(-ENOMEM));
		return 1;
	}
	int ret = 0, seen = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save))
		ret = add_algo(o, tok), seen++;
	if (!seen)
		ret = add_algo(o, list); /* "" or ",": an unknown name, said so */
	free(copy);
	return ret;
}

/* ---- Reading an input into the hashes ---- */

/* How many CPUs this process may run on. */
static int cpus(void)
{
	static int n;
	if (!n) {
		cpu_set_t set;
		n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
		if (n < 1)
			n = 1;
	}
	return n;
}

/* One ring slot: its bytes and how many workers still have to hash them. */
struct slot {
	unsigned char *data;
	size_t len;
	unsigned pending;
};

struct fanout {
	pthread_mutex_t mu;
	pthread_cond_t filled;  /* a slot was published, or the reading ended */
	pthread_cond_t drained; /* a slot's last worker finished with it */
	struct slot slots[RING];
	uint64_t produced; /* chunks published so far */
	bool done;         /* no more chunks will come */
	unsigned nworkers;
};

struct worker {
	struct fanout *f;
	plumb_writer *w;
	pthread_t th;
	int err;
};

/* Waits for chunk seq; false once the reading ended without it. */
static bool wait_chunk(struct fanout *f, uint64_t seq)
{
	pthread_mutex_lock(&f->mu);
	while (f->produced <= seq && !f->done)
		pthread_cond_wait(&f->filled, &f->mu);
	bool have = f->produced > seq;
	pthread_mutex_unlock(&f->mu);
	return have;
}

/* Hands a slot back; the last worker to do so wakes the reader. */
static void release_slot(struct fanout *f, struct slot *s)
{
	pthread_mutex_lock(&f->mu);
	if (--s->pending == 0)
		pthread_cond_signal(&f->drained);
	pthread_mutex_unlock(&f->mu);
}

/* A worker: every chunk, in order, into its writer.  After an error it goes
 * on releasing chunks without hashing them, so the reader never waits. */
static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct fanout *f = wk->f;
	for (uint64_t seq = 0; wait_chunk(f, seq); seq++) {
		struct slot *s = &f->slots[seq % RING];
		if (!wk->err) {
			ssize_t n = plumb_writer_write(wk->w, s->data, s->len);
			if (n < 0)
				wk->err = (int)n;
		}
		release_slot(f, s);
	}
	return NULL;
}

/* Marks the end of the chunks and wakes every worker. */
static void finish(struct fanout *f)
{
	pthread_mutex_lock(&f->mu);
	f->done = true;
	pthread_cond_broadcast(&f->filled);
	pthread_mutex_unlock(&f->mu);
}

/* The reader's side: fills free slots from r until it ends; 0 or < 0. */
static int produce(struct fanout *f, plumb_reader *r)
{
	int err = 0;
	for (uint64_t seq = 0;; seq++) {
		struct slot *s = &f->slots[seq % RING];
		pthread_mutex_lock(&f->mu);
		while (s->pending)
			pthread_cond_wait(&f->drained, &f->mu);
		pthread_mutex_unlock(&f->mu);

		ssize_t n = plumb_reader_read(r, s->data, CHUNK);
		if (n <= 0) {
			err = (int)n;
			break;
		}
		pthread_mutex_lock(&f->mu);
		s->len = (size_t)n;
		s->pending = f->nworkers;
		f->produced++;
		pthread_cond_broadcast(&f->filled);
		pthread_mutex_unlock(&f->mu);
	}
	finish(f);
	return err;
}

/* Reads r once into every hash, one worker thread per hash.  Returns 0, a
 * negative error, or FANOUT_UNAVAILABLE (nothing read) if threads could not
 * be started. */
static int fanout_copy(struct bufs *b, plumb_reader *r, plumb_hash *const *hs, size_t n)
{
	for (int i = 0; i < RING; i++) {
		if (!b->ring[i] && !(b->ring[i] = malloc(CHUNK)))
			return FANOUT_UNAVAILABLE;
	}
	struct fanout f = {.nworkers = (unsigned)n};
	struct worker wk[MAX_ALGOS];
	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.filled, NULL);
	pthread_cond_init(&f.drained, NULL);
	for (int i = 0; i < RING; i++)
		f.slots[i].data = b->ring[i];

	size_t started = 0;
	for (; started < n; started++) {
		wk[started] = (struct worker){.f = &f, .w = plumb_hash_writer(hs[started])};
		if (pthread_create(&wk[started].th, NULL, worker_main, &wk[started]))
			break;
	}
	int err = FANOUT_UNAVAILABLE;
	if (started == n)
		err = produce(&f, r);
	else
		finish(&f);
	for (size_t i = 0; i < started; i++) {
		pthread_join(wk[i].th, NULL);
		if (err == 0 && wk[i].err)
			err = wk[i].err;
	}
	pthread_cond_destroy(&f.drained);
	pthread_cond_destroy(&f.filled);
	pthread_mutex_destroy(&f.mu);
	return err;
}

/* Reads r once into every hash on this thread: a multi writer when there are
 * several, plumb_copy_buffer with a large buffer.  0 or < 0. */
static int plain_copy(struct bufs *b, plumb_reader *r, plumb_hash *const *hs, size_t n)
{
	if (!b->copy && !(b->copy = malloc(COPY_BUF)))
		return -ENOMEM;
	plumb_writer *ws[MAX_ALGOS], *multi = NULL, *w;
	for (size_t i = 0; i < n; i++)
		ws[i] = plumb_hash_writer(hs[i]);
	w = ws[0];
	if (n > 1) {
		multi = plumb_multi_writer_new(ws, n);
		if (!multi)
			return -ENOMEM;
		w = multi;
	}
	int64_t got = plumb_copy_buffer(w, r, b->copy, COPY_BUF);
	if (multi)
		plumb_writer_free(multi);
	return got < 0 ? (int)got : 0;
}

/* Hashes what fd holds, from where it is, into each of hs (reset first).
 * Returns 0 or a negative error (-EISDIR for a directory). */
static int hash_fd(struct bufs *b, int fd, plumb_hash *const *hs, size_t n)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode))
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (size_t i = 0; i < n; i++)
		plumb_hash_reset(hs[i]);

	plumb_reader *r = plumb_fd_reader_new(fd, 0);
	if (!r)
		return -ENOMEM;
	int err = FANOUT_UNAVAILABLE;
	if (cpus() > 1 && (!S_ISREG(st.st_mode) || st.st_size >= FANOUT_MIN))
		err = fanout_copy(b, r, hs, n);
	if (err == FANOUT_UNAVAILABLE)
		err = plain_copy(b, r, hs, n);
	plumb_reader_free(r);
	return err;
}

/* Hashes the file called name ("-": standard input) into each of hs. */
static int hash_file(struct bufs *b, const char *name, plumb_hash *const *hs, size_t n)
{
	if (!strcmp(name, "-"))
		return hash_fd(b, STDIN_FILENO, hs, n);
	int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	int err = hash_fd(b, fd, hs, n);
	close(fd);
	return err;
}

/* ---- Output ---- */

/* Whether coreutils would escape this name on a digest line. */
static bool needs_escape(const char *name)
{
	return strpbrk(name, "\\\n\r") != NULL;
}

/* Prints name, with \\, \n and \r escaped when escape is set. */
static void put_name(const char *name, bool escape)
{
	for (const char *p = name; *p; p++) {
		if (escape && *p == '\\')
			fputs("\\\\", stdout);
		else if (escape && *p == '\n')
			fputs("\\n", stdout);
		else if (escape && *p == '\r')
			fputs("\\r", stdout);
		else
			putchar(*p);
	}
}

/* Prints the digest lines of one input, one a hash, plain or BSD-style;
 * hex holds the digests in the order of o->hs. */
static void print_digests(const struct opts *o, const char *name, char (*hex)[PLUMB_HASH_MAX_HEX])
{
	bool tagged = o->tag || o->n > 1;
	bool escape = !o->zero && needs_escape(name);
	for (size_t i = 0; i < o->n; i++) {
		if (escape)
			putchar('\\');
		if (tagged) {
			printf("%s (", plumb_hash_tag(o->hs[i]));
			put_name(name, escape);
			printf(") = %s", hex[i]);
		} else {
			printf("%s %c", hex[i], o->binary ? '*' : ' ');
			put_name(name, escape);
		}
		putchar(o->zero ? '\0' : '\n');
	}
}

/* Hashes and prints one input; true on success.  Nothing is printed on
 * stdout unless every digest was computed. */
static bool digest_one(const struct opts *o, struct bufs *b, const char *name)
{
	char hex[MAX_ALGOS][PLUMB_HASH_MAX_HEX];
	int err = hash_file(b, name, o->hs, o->n);
	for (size_t i = 0; i < o->n && err >= 0; i++)
		err = plumb_hash_hex(o->hs[i], hex[i], sizeof hex[i]);
	if (err < 0) {
		warn_file(name, "%s", plumb_strerror(err));
		return false;
	}
	print_digests(o, name, hex);
	return true;
}

/* ---- --check ---- */

/* One parsed line of a checksum list (pointers into the line). */
struct entry {
	plumb_hash *h; /* the algorithm, owned by the list's cache */
	char *hex;
	char *name;
};

/* What checking one list found, for the summary and the exit status. */
struct tally {
	uint64_t misformatted, proper, matched, mismatched, unreadable;
};

/* The state of reading one list. */
struct list {
	const struct opts *o;
	struct bufs *b;
	const char *shown; /* the list's name in messages */
	bool is_stdin;
	int bsd_reversed;             /* coreutils' rule: -1 unknown, 0 "HEX  NAME", 1 "HEX NAME" */
	plumb_hash *cache[MAX_ALGOS]; /* one hash an algorithm met in this list */
	size_t ncache;
	struct tally t;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The hash for algorithm name, from the cache or made and cached; NULL if
 * the name is unknown. */
static plumb_hash *cached_hash(struct list *l, const char *name)
{
	for (size_t i = 0; i < l->ncache; i++) {
		plumb_hash *h = l->cache[i];
		if (!strcasecmp(name, plumb_hash_name(h)) || !strcasecmp(name, plumb_hash_tag(h)))
			return h;
	}
	plumb_hash *h;
	if (plumb_hash_new(&h, name) < 0)
		return NULL;
	for (size_t i = 0; i < l->ncache; i++) {
		if (!strcmp(plumb_hash_name(h), plumb_hash_name(l->cache[i]))) {
			plumb_hash_free(h); /* an alias of one we have */
			return l->cache[i];
		}
	}
	if (l->ncache == MAX_ALGOS) {
		plumb_hash_free(h);
		return NULL;
	}
	return l->cache[l->ncache++] = h;
}

/* Whether h is allowed in this run: any when no -a was given, else a -a one. */
static bool allowed(const struct opts *o, const plumb_hash *h)
{
	if (!o->algo_given)
		return true;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(plumb_hash_name(o->hs[i]), plumb_hash_name(h)))
			return true;
	return false;
}

/* The algorithm of a plain line with a digest of len hex digits. */
static plumb_hash *algo_by_length(struct list *l, size_t len)
{
	static const struct {
		size_t len;
		const char *name;
	} guess[] = {{32, "md5"},    {40, "sha1"},   {56, "sha224"},
	             {64, "sha256"}, {96, "sha384"}, {128, "sha512"}};
	if (l->o->algo_given) {
		for (size_t i = 0; i < l->o->n; i++)
			if (2 * plumb_hash_size(l->o->hs[i]) == len)
				return cached_hash(l, plumb_hash_name(l->o->hs[i]));
		return NULL;
	}
	for (size_t i = 0; i < sizeof guess / sizeof guess[0]; i++)
		if (guess[i].len == len)
			return cached_hash(l, guess[i].name);
	return NULL;
}

/* Whether s is exactly the hex digest of h: the right length, all hex. */
static bool is_digest(const char *s, const plumb_hash *h)
{
	size_t len = strlen(s);
	if (len != 2 * plumb_hash_size(h))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Undoes the escaping of a name (\\, \n, \r) in place; false on any other
 * backslash sequence. */
static bool unescape(char *s)
{
	char *out = s;
	for (char *p = s; *p; p++) {
		if (*p != '\\') {
			*out++ = *p;
			continue;
		}
		p++;
		if (*p == '\\')
			*out++ = '\\';
		else if (*p == 'n')
			*out++ = '\n';
		else if (*p == 'r')
			*out++ = '\r';
		else
			return false;
	}
	*out = '\0';
	return true;
}

/* "TAG (NAME) = HEX", and OpenSSL's "TAG(NAME)= HEX".  The name runs to the
 * last ')' of the line, as BSD tools do not escape names.  s is cut (at the
 * ')') only when the line is good. */
static bool parse_tagged(struct list *l, char *s, struct entry *e)
{
	size_t taglen = strcspn(s, " (");
	char tag[32];
	if (taglen == 0 || taglen >= sizeof tag)
		return false;
	char *p = s + taglen;
	if (*p == ' ')
		p++;
	if (*p != '(')
		return false;
	memcpy(tag, s, taglen);
	tag[taglen] = '\0';
	e->h = cached_hash(l, tag);
	if (!e->h || !allowed(l->o, e->h))
		return false;
	char *name = p + 1;
	char *close = strrchr(name, ')');
	if (!close)
		return false;
	p = close + 1;
	while (is_blank(*p))
		p++;
	if (*p++ != '=')
		return false;
	while (is_blank(*p))
		p++;
	if (!is_digest(p, e->h))
		return false;
	*close = '\0';
	e->name = name;
	e->hex = p;
	return true;
}

/* "HEX  NAME", "HEX *NAME", or "HEX NAME" (BSD's reversed form, which may not
 * be mixed with the others in one list, as in coreutils). */
static bool parse_plain(struct list *l, char *s, struct entry *e)
{
	size_t len = 0;
	while (isxdigit((unsigned char)s[len]))
		len++;
	if (!is_blank(s[len]))
		return false;
	e->h = algo_by_length(l, len);
	if (!e->h)
		return false;
	s[len] = '\0';
	e->hex = s;
	char *p = s + len + 1;
	if ((*p == ' ' || *p == '*') && p[1] && l->bsd_reversed != 1) {
		l->bsd_reversed = 0;
		p++;
	} else {
		if (l->bsd_reversed == 0)
			return false;
		l->bsd_reversed = 1;
	}
	e->name = p;
	return true;
}

/* Parses one line (its newline and any \r already gone); false when it is
 * improperly formatted. */
static bool parse_line(struct list *l, char *s, struct entry *e)
{
	while (is_blank(*s))
		s++;
	bool escaped = *s == '\\';
	s += escaped;
	if (!parse_tagged(l, s, e) && !parse_plain(l, s, e))
		return false;
	if (!*e->name || (escaped && !unescape(e->name)))
		return false;
	return !(l->is_stdin && !strcmp(e->name, "-"));
}

/* Prints a checked file's name as coreutils does: escaped (with a leading
 * backslash) only when it holds a newline. */
static void put_checked_name(const char *name)
{
	bool escape = strchr(name, '\n') != NULL;
	if (escape)
		putchar('\\');
	put_name(name, escape);
}

/* Hashes the file of one good line and reports OK, FAILED or unreadable. */
static void check_entry(struct list *l, const struct entry *e)
{
	const struct opts *o = l->o;
	char hex[PLUMB_HASH_MAX_HEX];
	l->t.proper++;
	int err = hash_file(l->b, e->name, &e->h, 1);
	if (err >= 0)
		err = plumb_hash_hex(e->h, hex, sizeof hex);
	if (err == -ENOENT && o->ignore_missing)
		return;
	if (err < 0) {
		warn_file(e->name, "%s", plumb_strerror(err));
		l->t.unreadable++;
		if (!o->status) {
			put_checked_name(e->name);
			fputs(": FAILED open or read\n", stdout);
		}
		return;
	}
	bool ok = !strcasecmp(hex, e->hex);
	if (ok)
		l->t.matched++;
	else
		l->t.mismatched++;
	if (!o->status && (!ok || !o->quiet)) {
		put_checked_name(e->name);
		fputs(ok ? ": OK\n" : ": FAILED\n", stdout);
	}
}

/* The --warn message for a bad line; it names the algorithm when -a named
 * exactly one, as sha256sum and its siblings do. */
static void warn_misformatted(const struct list *l, uint64_t lineno)
{
	bool one = l->o->algo_given && l->o->n == 1;
	warn_file(l->shown, "%" PRIu64 ": improperly formatted %s%schecksum line", lineno,
	          one ? plumb_hash_tag(l->o->hs[0]) : "", one ? " " : "");
}

/* Reads the lines of a list and checks each good one. */
static void check_lines(struct list *l, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t lineno = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[0] == '#')
			continue;
		len -= line[len - 1] == '\n';
		len -= len > 0 && line[len - 1] == '\r';
		if (len == 0)
			continue;
		line[len] = '\0';
		struct entry e;
		if (strlen(line) != (size_t)len || !parse_line(l, line, &e)) {
			l->t.misformatted++;
			if (l->o->warn)
				warn_misformatted(l, lineno);
			continue;
		}
		check_entry(l, &e);
	}
	free(line);
}

/* Prints "WARNING: N thing(s)..." on stderr when n is not 0. */
static void warn_count(uint64_t n, const char *one, const char *many)
{
	if (n)
		warnx_("WARNING: %" PRIu64 " %s", n, n == 1 ? one : many);
}

/* The summary after a list, as coreutils words it; true if the list passed. */
static bool summarize(const struct list *l)
{
	const struct opts *o = l->o;
	const struct tally *t = &l->t;
	if (!t->proper) {
		warn_file(l->shown, "no properly formatted checksum lines found");
		return false;
	}
	if (!o->status) {
		warn_count(t->misformatted, "line is improperly formatted",
		           "lines are improperly formatted");
		warn_count(t->unreadable, "listed file could not be read",
		           "listed files could not be read");
		warn_count(t->mismatched, "computed checksum did NOT match",
		           "computed checksums did NOT match");
		if (o->ignore_missing && !t->matched)
			warn_file(l->shown, "no file was verified");
	}
	return t->matched && !t->mismatched && !t->unreadable && (!o->strict || !t->misformatted);
}

/* Opens a list ("-": standard input) for check_list; NULL after a message. */
static FILE *open_list(struct list *l, const char *name)
{
	FILE *f = stdin;
	l->is_stdin = !strcmp(name, "-");
	l->shown = l->is_stdin ? "standard input" : name;
	if (!l->is_stdin && !(f = fopen(name, "re"))) {
		warn_file(name, "%s", plumb_strerror(-errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		warn_file(name, "%s", plumb_strerror(-EISDIR));
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	return f;
}

/* Checks every line of one list; true if all went well. */
static bool check_list(const struct opts *o, struct bufs *b, const char *name)
{
	struct list l = {.o = o, .b = b, .bsd_reversed = -1};
	FILE *f = open_list(&l, name);
	if (!f)
		return false;
	check_lines(&l, f);
	bool read_error = ferror(f);
	if (f == stdin)
		clearerr(stdin);
	else
		fclose(f);
	for (size_t i = 0; i < l.ncache; i++)
		plumb_hash_free(l.cache[i]);
	if (read_error) {
		warn_file(l.shown, "read error");
		return false;
	}
	return summarize(&l);
}

/* ---- The command ---- */

enum {
	OPT_TAG = 256,
	OPT_IGNORE_MISSING,
	OPT_QUIET,
	OPT_STATUS,
	OPT_STRICT,
	OPT_LIST,
	OPT_HELP,
};

static const struct option long_options[] = {
        {"algorithm", required_argument, NULL, 'a'},
        {"binary", no_argument, NULL, 'b'},
        {"check", no_argument, NULL, 'c'},
        {"tag", no_argument, NULL, OPT_TAG},
        {"text", no_argument, NULL, 't'},
        {"zero", no_argument, NULL, 'z'},
        {"ignore-missing", no_argument, NULL, OPT_IGNORE_MISSING},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"status", no_argument, NULL, OPT_STATUS},
        {"strict", no_argument, NULL, OPT_STRICT},
        {"warn", no_argument, NULL, 'w'},
        {"list", no_argument, NULL, OPT_LIST},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

/* Sets one of the three exclusive verbosity modes (the last one wins). */
static void set_verbosity(struct opts *o, bool quiet, bool status, bool warn)
{
	o->quiet = quiet;
	o->status = status;
	o->warn = warn;
}

/* Options that make sense only together, or only apart; 0 or the exit code. */
static int check_combinations(const struct opts *o)
{
	if (o->check) {
		if (o->tag)
			return usage_error(
			        "the --tag option is meaningless when verifying checksums");
		if (o->zero)
			return usage_error("the --zero option is not supported when verifying "
			                   "checksums");
		if (o->binary || o->text)
			return usage_error("the --binary and --text options are meaningless when "
			                   "verifying checksums");
		return 0;
	}
	const char *opt = o->ignore_missing ? "ignore-missing"
	                  : o->status       ? "status"
	                  : o->warn         ? "warn"
	                  : o->quiet        ? "quiet"
	                  : o->strict       ? "strict"
	                                    : NULL;
	if (opt)
		return usage_error("the --%s option is meaningful only when verifying checksums",
		                   opt);
	if (o->tag && o->text)
		return usage_error("--tag does not support --text mode");
	return 0;
}

/* Handles one option; -1 to go on, or the exit code to stop with. */
static int handle_option(struct opts *o, int c)
{
	switch (c) {
	case 'a':
		o->algo_given = true;
		return add_algos(o, optarg) ? 1 : -1;
	case 'b':
		o->binary = true, o->text = false;
		return -1;
	case 't':
		o->text = true, o->binary = false;
		return -1;
	case 'c':
		o->check = true;
		return -1;
	case 'z':
		o->zero = true;
		return -1;
	case 'w':
		set_verbosity(o, false, false, true);
		return -1;
	case OPT_TAG:
		o->tag = true;
		return -1;
	case OPT_IGNORE_MISSING:
		o->ignore_missing = true;
		return -1;
	case OPT_QUIET:
		set_verbosity(o, true, false, false);
		return -1;
	case OPT_STATUS:
		set_verbosity(o, false, true, false);
		return -1;
	case OPT_STRICT:
		o->strict = true;
		return -1;
	case OPT_LIST:
		list_known(stdout, "\n");
		putchar('\n');
		return 0;
	case OPT_HELP:
		usage(stdout);
		return 0;
	default: /* getopt said what was wrong */
		fprintf(stderr, "Try '%s --help' for more information.\n", prog_name);
		return 1;
	}
}

/* Parses the options; -1 when the files start at optind, else the exit code. */
static int parse_args(struct opts *o, int argc, char **argv)
{
	char *name = argv[0];
	argv[0] = (char *)prog_name; /* getopt's messages begin with it */
	optind = 1;
	opterr = 1;
	int c, ret = -1;
	while (ret < 0 && (c = getopt_long(argc, argv, "a:bctwz", long_options, NULL)) != -1)
		ret = handle_option(o, c);
	argv[0] = name;
	if (ret < 0 && (ret = check_combinations(o)) == 0)
		ret = -1;
	if (ret < 0 && !o->n && add_algo(o, "sha256"))
		ret = 1;
	return ret;
}

/* Runs the digests or the checks over the files; true if all went well. */
static bool run(const struct opts *o, int nfiles, char **files)
{
	static char *dash[] = {"-"};
	struct bufs b = {0};
	bool ok = true;
	if (nfiles == 0) {
		nfiles = 1;
		files = dash;
	}
	for (int i = 0; i < nfiles; i++)
		ok &= o->check ? check_list(o, &b, files[i]) : digest_one(o, &b, files[i]);
	free(b.copy);
	for (int i = 0; i < RING; i++)
		free(b.ring[i]);
	return ok;
}

int cmd_hash(int argc, char **argv)
{
	struct opts o = {0};
	int ret = parse_args(&o, argc, argv);
	if (ret < 0) {
		ret = run(&o, argc - optind, argv + optind) ? 0 : 1;
		if (fflush(stdout) != 0 || ferror(stdout)) {
			warnx_("write error: %s", plumb_strerror(-errno));
			ret = 1;
		}
	}
	for (size_t i = 0; i < o.n; i++)
		plumb_hash_free(o.hs[i]);
	return ret;
}
