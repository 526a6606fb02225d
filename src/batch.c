/*
 * batch.c - `plumb batch`: run a command for each input, K at a time, as
 * xargs -P and GNU parallel do.
 *
 * One thread does everything, with no helper threads: it reads inputs
 * lazily (so a list of any length takes no more memory than the jobs in
 * flight), starts jobs with posix_spawn (vfork underneath: starting a job
 * never copies this process), and sleeps in ppoll until a job ends, a
 * signal arrives, a --line-buffer pipe has output or the nearest --timeout
 * deadline passes.  SIGCHLD, SIGINT and SIGTERM stay blocked except inside
 * ppoll, so none can slip in between a check and the sleep.
 *
 * Output never interleaves: each job's stdout and stderr go to two unlinked
 * temporary files (O_TMPFILE), which plumb copies out whole when the job has
 * ended (--group), or when every earlier job has been printed (--keep-order).
 * The child's descriptors share the files' offset with ours, so the offset
 * is the number of bytes written and a silent job costs no read at all.
 * File pairs are reused, truncated, from one job to the next.  With
 * --line-buffer the jobs write to pipes instead, and whole lines are printed
 * as they arrive.
 *
 * Approach 2 of the library (a sliding window) is the default: a new job
 * starts as soon as one ends.  --batch SIZE is approach 1: SIZE jobs, then
 * a barrier until all of them have ended.
 *
 * Each job runs in its own process group, so that a signal forwarded to it
 * (SIGINT, SIGTERM, or SIGTERM then SIGKILL on --timeout) reaches whatever
 * it started too.  On SIGINT or SIGTERM plumb starts nothing more, forwards
 * the signal, waits for every job, prints their output, and exits 128+N.
 *
 * Exit status: 0 when every job succeeded, else the number of failed jobs
 * up to 101 (as GNU parallel); with --halt, the status of the job that
 * triggered it; 255 for plumb's own errors (bad options, unreadable input).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

extern char **environ;

enum { EXIT_OWN = 255, MAX_FAILED_STATUS = 101 };

enum halt_when { HALT_NEVER, HALT_SOON, HALT_NOW };

struct opts {
	size_t jobs, max_args, batch;
	bool null, keep_order, tag, shell, dry_run, resume, line_buffer, bar;
	enum halt_when halt;
	double halt_fail; /* a count, or a fraction when halt_pct */
	bool halt_pct;
	unsigned retries; /* runs at most, 0 or 1: once */
	double timeout;   /* seconds, 0: none */
	const char *joblog, *arg_file;
	char **cmd; /* the command's words */
	char *exe;  /* cmd[0] found in PATH once, or NULL */
	int ncmd;
	char **list; /* the ::: inputs, or NULL */
	int nlist;
};

/* Where the inputs come from: the ::: list or a stream. */
struct input {
	char **list;
	int nlist, pos;
	FILE *f;
	int delim;
	char *line;
	size_t cap;
	bool failed;
};

/* A pair of temporary files that catch one job's stdout and stderr. */
struct outfiles {
	int out, err;
	struct outfiles *next;
};

struct job {
	uint64_t seq;
	char **args;
	size_t nargs;
	pid_t pid;
	unsigned slot;
	unsigned tries;
	double start, runtime;
	double deadline; /* 0: none */
	bool killed, ended;
	int status; /* exit value, -1 if signalled */
	int signal;
	struct outfiles *files;
	int pipes[2];  /* --line-buffer: stdout and stderr, -1 when closed */
	char *part[2]; /* --line-buffer: the unfinished last line of each */
	size_t plen[2];
	off_t received;       /* --line-buffer: bytes of stdout */
	char *command;        /* as shown in --dry-run and the joblog */
	struct job *next;     /* in the keep-order queue */
	struct job *run_next; /* in the running list */
};

struct state {
	struct opts o;
	struct input in;
	struct job *running;
	size_t nrunning;
	struct job *order_head, *order_tail; /* --keep-order: started, not printed */
	size_t in_order, room; /* jobs in that queue; how many may hold files at once */
	struct outfiles *free_files;
	unsigned *free_slots;
	size_t nfree_slots, next_slot;
	uint64_t seq, done, failed;
	size_t batch_started;
	bool stopping, inputs_done;
	int stop_signal;
	int halt_status;
	int devnull;
	FILE *joblog;
	uint64_t *skip; /* --resume: sequence numbers already in the joblog, sorted */
	size_t nskip;
	const char *tmpdir;
	int own_error;
	bool bar;       /* --bar and stderr is a terminal */
	uint64_t total; /* jobs in all, for the bar */
	double started_at, bar_at;
	char **all_inputs; /* --bar: the inputs, read ahead */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: plumb batch [OPTION]... COMMAND [ARG]... [::: INPUT...]\n"
	        "Run COMMAND once for each input (lines of stdin, of -a FILE, or the words\n"
	        "after :::), at most K at a time; each job's output is printed whole.\n\n"
	        "  -j, --jobs K          run K jobs at a time (default: the CPUs; 0: no limit)\n"
	        "  -n, --max-args N      N inputs per command (default 1)\n"
	        "      --batch SIZE      run SIZE jobs, wait for all of them, run the next SIZE\n"
	        "  -a, --arg-file FILE   read the inputs from FILE\n"
	        "  -0, --null            inputs are separated by NUL, not newline\n"
	        "  -k, --keep-order      print outputs in input order\n"
	        "      --group           print each job's output whole when it ends (default)\n"
	        "      --line-buffer     print whole lines as jobs write them\n"
	        "      --tag             prefix each output line with the input and a tab\n"
	        "      --shell           run the command through /bin/sh -c (inputs quoted)\n"
	        "      --halt WHEN       never, soon,fail=N, now,fail=N (N may be a percentage)\n"
	        "      --retries N       run a failing job up to N times\n"
	        "      --timeout SECS    kill a job that runs longer than SECS\n"
	        "      --joblog FILE     write GNU parallel's job log to FILE\n"
	        "      --resume          skip the jobs already in the --joblog FILE\n"
	        "      --dry-run         print the commands, run nothing\n"
	        "      --bar             show progress on a terminal (reads all inputs first)\n"
	        "  -h, --help            show this help\n\n"
	        "Placeholders: {} {.} {/} {//} {/.} {#} (job number) {%%} (slot); without one\n"
	        "the inputs are appended.  Exit status: 0 if all jobs succeeded, else the\n"
	        "number of failed jobs (at most 101); 255 for plumb's own errors.\n");
}

/* ---- Options ---- */

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || isinf(v))
		return false;
	*out = v;
	return true;
}

static bool parse_halt(const char *s, struct opts *o)
{
	if (!strcmp(s, "never")) {
		o->halt = HALT_NEVER;
		return true;
	}
	const char *rest;
	if (!strncmp(s, "soon,fail=", 10)) {
		o->halt = HALT_SOON;
		rest = s + 10;
	} else if (!strncmp(s, "now,fail=", 9)) {
		o->halt = HALT_NOW;
		rest = s + 9;
	} else {
		return false;
	}
	char buf[32];
	size_t len = strlen(rest);
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, rest, len + 1);
	o->halt_pct = buf[len - 1] == '%';
	if (o->halt_pct)
		buf[len - 1] = 0;
	double v;
	if (!parse_seconds(buf, &v) || v <= 0 || (o->halt_pct && v > 100))
		return false;
	o->halt_fail = o->halt_pct ? v / 100 : v;
	return true;
}

enum {
	OPT_BATCH = 256,
	OPT_GROUP,
	OPT_TAG,
	OPT_SHELL,
	OPT_HALT,
	OPT_RETRIES,
	OPT_TIMEOUT,
	OPT_JOBLOG,
	OPT_RESUME,
	OPT_DRY_RUN,
	OPT_LINE_BUFFER,
	OPT_BAR,
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
	        {"jobs", required_argument, NULL, 'j'},
	        {"max-args", required_argument, NULL, 'n'},
	        {"batch", required_argument, NULL, OPT_BATCH},
	        {"arg-file", required_argument, NULL, 'a'},
	        {"null", no_argument, NULL, '0'},
	        {"keep-order", no_argument, NULL, 'k'},
	        {"group", no_argument, NULL, OPT_GROUP},
	        {"tag", no_argument, NULL, OPT_TAG},
	        {"shell", no_argument, NULL, OPT_SHELL},
	        {"halt", required_argument, NULL, OPT_HALT},
	        {"retries", required_argument, NULL, OPT_RETRIES},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"joblog", required_argument, NULL, OPT_JOBLOG},
	        {"resume", no_argument, NULL, OPT_RESUME},
	        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	        {"line-buffer", no_argument, NULL, OPT_LINE_BUFFER},
	        {"bar", no_argument, NULL, OPT_BAR},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->jobs = cpus > 0 ? (size_t)cpus : 1;
	o->max_args = 1;
	uint64_t v;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+j:n:a:0kh", longs, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (!parse_uint(optarg, 1u << 20, &v)) {
				warnx_("-j: '%s' is not a number of jobs", optarg);
				return -1;
			}
			o->jobs = v ? (size_t)v : SIZE_MAX;
			break;
		case 'n':
			if (!parse_uint(optarg, 1u << 16, &v) || v == 0) {
				warnx_("-n: '%s' is not a positive number", optarg);
				return -1;
			}
			o->max_args = (size_t)v;
			break;
		case OPT_BATCH:
			if (!parse_uint(optarg, 1u << 20, &v) || v == 0) {
				warnx_("--batch: '%s' is not a positive number", optarg);
				return -1;
			}
			o->batch = (size_t)v;
			break;
		case 'a':
			o->arg_file = optarg;
			break;
		case '0':
			o->null = true;
			break;
		case 'k':
			o->keep_order = true;
			break;
		case OPT_GROUP:
			break;
		case OPT_TAG:
			o->tag = true;
			break;
		case OPT_SHELL:
			o->shell = true;
			break;
		case OPT_HALT:
			if (!parse_halt(optarg, o)) {
				warnx_("--halt: '%s' is not never, soon,fail=N or now,fail=N",
				       optarg);
				return -1;
			}
			break;
		case OPT_RETRIES:
			if (!parse_uint(optarg, 1000000, &v)) {
				warnx_("--retries: '%s' is not a number", optarg);
				return -1;
			}
			o->retries = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if (!parse_seconds(optarg, &o->timeout) || o->timeout == 0) {
				warnx_("--timeout: '%s' is not a positive number of seconds",
				       optarg);
				return -1;
			}
			break;
		case OPT_JOBLOG:
			o->joblog = optarg;
			break;
		case OPT_RESUME:
			o->resume = true;
			break;
		case OPT_BAR:
			o->bar = true;
			break;
		case OPT_LINE_BUFFER:
			o->line_buffer = true;
			break;
		case OPT_DRY_RUN:
			o->dry_run = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
			warnx_("option '%s' needs a value", argv[optind - 1]);
			return -1;
		default:
			if (optopt)
				warnx_("unknown option '-%c'", optopt);
			else
				warnx_("unknown option '%s'", argv[optind - 1]);
			fprintf(stderr, "Try 'plumb batch --help'.\n");
			return -1;
		}
	}
	o->cmd = argv + optind;
	o->ncmd = argc - optind;
	for (int i = 0; i < o->ncmd; i++) {
		if (!strcmp(o->cmd[i], ":::")) {
			o->list = o->cmd + i + 1;
			o->nlist = o->ncmd - i - 1;
			o->ncmd = i;
			break;
		}
	}
	if (o->ncmd == 0) {
		warnx_("no command given");
		fprintf(stderr, "Try 'plumb batch --help'.\n");
		return -1;
	}
	if (o->list && o->arg_file) {
		warnx_("give the inputs either after ::: or with -a, not both");
		return -1;
	}
	if (o->line_buffer && o->keep_order) {
		warnx_("--line-buffer and --keep-order cannot be combined");
		return -1;
	}
	if (o->resume && !o->joblog) {
		warnx_("--resume needs --joblog FILE");
		return -1;
	}
	return 0;
}

/* ---- Inputs ---- */

/* The next input into a malloc'ed string, NULL at the end (or on error). */
static char *next_input(struct input *in)
{
	if (in->list)
		return in->pos < in->nlist ? strdup(in->list[in->pos++]) : NULL;
	errno = 0;
	ssize_t n = getdelim(&in->line, &in->cap, in->delim, in->f);
	if (n < 0) {
		if (ferror(in->f)) {
			warnx_("reading the inputs: %s", strerror(errno ? errno : EIO));
			in->failed = true;
		}
		return NULL;
	}
	if (n > 0 && in->line[n - 1] == in->delim)
		in->line[--n] = 0;
	return strndup(in->line, (size_t)n);
}

/* ---- Commands ---- */

static bool plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("_-.,/:+=@%^", c);
}

/* Appends s to the growing string *buf (length *len, capacity *cap). */
static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 64;
		while (*len + n + 1 > c)
			c *= 2;
		char *b = realloc(*buf, c);
		if (!b) {
			fprintf(stderr, "%s: out of memory\n", prog_name);
			exit(EXIT_OWN);
		}
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = 0;
}

/* Appends s quoted for the shell, as GNU parallel shows it: bare when every
 * character is plain, else in single quotes. */
static void append_quoted(char **buf, size_t *len, size_t *cap, const char *s)
{
	bool plain = *s != 0;
	for (const char *p = s; *p && plain; p++)
		plain = plain_char((unsigned char)*p);
	if (plain) {
		append(buf, len, cap, s, strlen(s));
		return;
	}
	append(buf, len, cap, "'", 1);
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			append(buf, len, cap, "'\"'\"'", 5);
		else
			append(buf, len, cap, p, 1);
	}
	append(buf, len, cap, "'", 1);
}

/* The placeholder at s, or 0: its length is returned in *n. */
static int placeholder(const char *s, size_t *n)
{
	static const char *const names[] = {"{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{%}"};
	for (int i = 0; i < 7; i++) {
		size_t l = strlen(names[i]);
		if (!strncmp(s, names[i], l)) {
			*n = l;
			return i + 1;
		}
	}
	return 0;
}

/* The text of placeholder kind k (1..7) for one input, into a static buffer. */
static const char *expand_one(int k, const char *in, const struct job *j)
{
	static char buf[4096 + 64];
	const char *slash = strrchr(in, '/');
	const char *base = slash ? slash + 1 : in;
	const char *dot = strrchr(base, '.');
	switch (k) {
	case 1:
		return in;
	case 2: /* {.}: without the extension */
		snprintf(buf, sizeof buf, "%.*s", (int)(dot ? dot - in : (long)strlen(in)), in);
		return buf;
	case 3: /* {/}: the basename */
		return base;
	case 4: /* {//}: the dirname */
		if (!slash)
			return ".";
		snprintf(buf, sizeof buf, "%.*s", slash == in ? 1 : (int)(slash - in), in);
		return buf;
	case 5: /* {/.}: the basename without the extension */
		snprintf(buf, sizeof buf, "%.*s", (int)(dot ? dot - base : (long)strlen(base)),
		         base);
		return buf;
	case 6:
		snprintf(buf, sizeof buf, "%" PRIu64, j->seq);
		return buf;
	default:
		snprintf(buf, sizeof buf, "%u", j->slot);
		return buf;
	}
}

/* One word of the command with its placeholders replaced; the inputs of a
 * job are joined by spaces.  quote: shell-quote the replacements.  *found
 * is set when the word held a placeholder. */
static char *expand_word(const char *w, const struct job *j, bool quote, bool *found)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	append(&buf, &len, &cap, "", 0);
	for (const char *p = w; *p;) {
		int k = placeholder(p, &n);
		if (!k) {
			append(&buf, &len, &cap, p, 1);
			p++;
			continue;
		}
		*found = true;
		size_t count = k >= 6 ? 1 : j->nargs;
		for (size_t i = 0; i < count; i++) {
			const char *v = expand_one(k, j->args[i], j);
			if (i)
				append(&buf, &len, &cap, " ", 1);
			if (quote)
				append_quoted(&buf, &len, &cap, v);
			else
				append(&buf, &len, &cap, v, strlen(v));
		}
		p += n;
	}
	return buf;
}

/* Builds the job's argv (NULL-terminated, malloc'ed words) and its command
 * line as shown in the joblog. */
static char **build_argv(const struct opts *o, struct job *j)
{
	/* Each word may be a {} that stands for nargs words, and the inputs may
	 * be appended. */
	size_t max = (size_t)o->ncmd * (j->nargs + 1) + j->nargs + 4;
	char **argv = calloc(max, sizeof *argv);
	char *line = NULL;
	size_t len = 0, cap = 0, n = 0;
	bool found = false;
	if (!argv) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		exit(EXIT_OWN);
	}
	if (o->shell) {
		for (int i = 0; i < o->ncmd; i++) {
			char *w = expand_word(o->cmd[i], j, true, &found);
			if (i)
				append(&line, &len, &cap, " ", 1);
			append(&line, &len, &cap, w, strlen(w));
			free(w);
		}
		for (size_t i = 0; !found && i < j->nargs; i++) {
			append(&line, &len, &cap, " ", 1);
			append_quoted(&line, &len, &cap, j->args[i]);
		}
		argv[n++] = strdup("/bin/sh");
		argv[n++] = strdup("-c");
		argv[n++] = line;
		j->command = strdup(line);
		return argv;
	}
	/* The command line shown: every word quoted for the shell where it
	 * needs it, as GNU parallel shows its commands. */
	append(&line, &len, &cap, "", 0);
	for (int i = 0; i < o->ncmd; i++) {
		size_t first = n;
		bool word_found = false;

		/* A word that is just {} stands for each input as a word of its own. */
		if (!strcmp(o->cmd[i], "{}")) {
			word_found = true;
			for (size_t a = 0; a < j->nargs; a++)
				argv[n++] = strdup(j->args[a]);
		} else {
			argv[n++] = expand_word(o->cmd[i], j, false, &word_found);
		}
		for (size_t w = first; w < n; w++) {
			if (w)
				append(&line, &len, &cap, " ", 1);
			append_quoted(&line, &len, &cap, argv[w]);
		}
		found |= word_found;
	}
	for (size_t a = 0; !found && a < j->nargs; a++) {
		argv[n] = strdup(j->args[a]);
		append(&line, &len, &cap, " ", 1);
		append_quoted(&line, &len, &cap, argv[n++]);
	}
	j->command = line;
	return argv;
}

static void free_argv(char **argv)
{
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* ---- Output files ---- */

static int tmpfile_fd(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT))
		return fd;
	char path[4096];
	snprintf(path, sizeof path, "%s/plumb-batch.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static struct outfiles *take_files(struct state *s)
{
	struct outfiles *f = s->free_files;
	if (f) {
		s->free_files = f->next;
		return f;
	}
	f = malloc(sizeof *f);
	if (!f)
		return NULL;
	f->out = tmpfile_fd(s->tmpdir);
	f->err = f->out >= 0 ? tmpfile_fd(s->tmpdir) : -1;
	if (f->err < 0) {
		int e = errno;
		if (f->out >= 0)
			close(f->out);
		free(f);
		errno = e;
		return NULL;
	}
	return f;
}

/* Writes all of buf to fd; false on error. */
static bool write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return true;
}

/* Copies the first `size` bytes of file fd to out, each line after `tag`
 * (when not NULL) and a tab. */
/* Writes n bytes to out, each line after `tag` (when not NULL) and a tab;
 * *line_start says whether the bytes begin a line, and is updated. */
static void write_tagged(int out, const char *buf, size_t n, const char *tag, bool *line_start)
{
	if (!tag) {
		write_all(out, buf, n);
		return;
	}
	const char *p = buf, *end = buf + n;
	while (p < end) {
		if (*line_start) {
			write_all(out, tag, strlen(tag));
			write_all(out, "\t", 1);
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl + 1 : end;
		write_all(out, p, (size_t)(stop - p));
		*line_start = nl != NULL;
		p = stop;
	}
}

static void copy_out(int fd, off_t size, int out, const char *tag)
{
	char buf[65536];
	off_t pos = 0;
	bool line_start = true;
	while (pos < size) {
		ssize_t n = pread(fd, buf, sizeof buf, pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		pos += n;
		write_tagged(out, buf, (size_t)n, tag, &line_start);
	}
}

/* The --tag prefix of a job (its inputs joined by spaces), malloc'ed. */
static char *make_tag(const struct job *j)
{
	char *tag = NULL;
	size_t len = 0, cap = 0;
	append(&tag, &len, &cap, "", 0);
	for (size_t i = 0; i < j->nargs; i++) {
		if (i)
			append(&tag, &len, &cap, " ", 1);
		append(&tag, &len, &cap, j->args[i], strlen(j->args[i]));
	}
	return tag;
}

/* --bar: clears the progress line before output is printed over it; the
 * next show_bar draws it again below the output. */
static void clear_bar(struct state *s)
{
	if (!s->bar)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	s->bar_at = 0;
}

/* Empties a pair of files for the next job; false if they cannot be. */
static bool reset_files(struct outfiles *f)
{
	return ftruncate(f->out, 0) == 0 && lseek(f->out, 0, SEEK_SET) == 0 &&
	       ftruncate(f->err, 0) == 0 && lseek(f->err, 0, SEEK_SET) == 0;
}

/* Prints a finished job's output and gives its files back; returns the
 * number of bytes of stdout (the joblog's Receive). */
static off_t print_job(struct state *s, struct job *j)
{
	struct outfiles *f = j->files;
	if (!f)
		return 0;
	off_t out = lseek(f->out, 0, SEEK_CUR), err = lseek(f->err, 0, SEEK_CUR);
	char *tag = s->o.tag && (out > 0 || err > 0) ? make_tag(j) : NULL;
	if (out > 0 || err > 0)
		clear_bar(s);
	if (out > 0)
		copy_out(f->out, out, STDOUT_FILENO, tag);
	if (err > 0)
		copy_out(f->err, err, STDERR_FILENO, tag);
	free(tag);
	j->files = NULL;
	if ((out > 0 || err > 0) && !reset_files(f)) {
		close(f->out);
		close(f->err);
		free(f);
		return out > 0 ? out : 0;
	}
	f->next = s->free_files;
	s->free_files = f;
	return out > 0 ? out : 0;
}

/* ---- Line by line (--line-buffer) ---- */

enum { LONG_LINE = 65536 }; /* a line longer than this is printed in pieces */

/* Two pipes for a job's stdout and stderr: the read ends stay with the job
 * (non-blocking), the write ends are returned for the child. */
static int open_pipes(struct job *j, int *out, int *err)
{
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		int e = errno;
		close(po[0]);
		close(po[1]);
		errno = e;
		return -1;
	}
	fcntl(po[0], F_SETFL, O_NONBLOCK);
	fcntl(pe[0], F_SETFL, O_NONBLOCK);
	j->pipes[0] = po[0];
	j->pipes[1] = pe[0];
	*out = po[1];
	*err = pe[1];
	return 0;
}

/* Prints the complete lines held for pipe k (all of it when `all`). */
static void emit_lines(struct state *s, struct job *j, int k, bool all)
{
	size_t n = j->plen[k];
	if (!n)
		return;
	char *p = j->part[k];
	size_t upto = n;
	if (!all && n < LONG_LINE) {
		char *nl = memrchr(p, '\n', n);
		if (!nl)
			return;
		upto = (size_t)(nl + 1 - p);
	}
	char *tag = s->o.tag ? make_tag(j) : NULL;
	bool line_start = true;
	clear_bar(s);
	write_tagged(k ? STDERR_FILENO : STDOUT_FILENO, p, upto, tag, &line_start);
	free(tag);
	memmove(p, p + upto, n - upto);
	j->plen[k] = n - upto;
}

/* Reads what pipe k of job j holds now; closes it at its end. */
static void read_pipe(struct state *s, struct job *j, int k)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(j->pipes[k], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			close(j->pipes[k]);
			j->pipes[k] = -1;
			break;
		}
		size_t need = j->plen[k] + (size_t)n;
		char *part = realloc(j->part[k], need);
		if (!part) {
			fprintf(stderr, "%s: out of memory\n", prog_name);
			exit(EXIT_OWN);
		}
		memcpy(part + j->plen[k], buf, (size_t)n);
		j->part[k] = part;
		j->plen[k] = need;
		if (k == 0)
			j->received += n;
		emit_lines(s, j, k, false);
	}
	emit_lines(s, j, k, j->pipes[k] < 0);
}

/* After the job's process ended: takes what its pipe k still holds, prints
 * the rest, and closes it (a background child of the job that keeps the pipe
 * open does not hold plumb up). */
static void close_pipe(struct state *s, struct job *j, int k)
{
	if (j->pipes[k] < 0)
		return;
	read_pipe(s, j, k);
	if (j->pipes[k] >= 0) {
		close(j->pipes[k]);
		j->pipes[k] = -1;
	}
	emit_lines(s, j, k, true);
}

/* ---- Jobs ---- */

static void free_job(struct job *j)
{
	for (size_t i = 0; i < j->nargs; i++)
		free(j->args[i]);
	free(j->args);
	free(j->command);
	free(j->part[0]);
	free(j->part[1]);
	free(j);
}

static bool skipped(const struct state *s, uint64_t seq)
{
	size_t lo = 0, hi = s->nskip;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->skip[mid] == seq)
			return true;
		if (s->skip[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The next job's inputs, or NULL when they are all used. */
static struct job *make_job(struct state *s)
{
	for (;;) {
		char *first = next_input(&s->in);
		if (!first)
			return NULL;
		struct job *j = calloc(1, sizeof *j);
		j->args = calloc(s->o.max_args, sizeof *j->args);
		if (!j || !j->args) {
			fprintf(stderr, "%s: out of memory\n", prog_name);
			exit(EXIT_OWN);
		}
		j->args[j->nargs++] = first;
		while (j->nargs < s->o.max_args) {
			char *a = next_input(&s->in);
			if (!a)
				break;
			j->args[j->nargs++] = a;
		}
		j->seq = ++s->seq;
		j->status = -1;
		j->pipes[0] = j->pipes[1] = -1;
		if (!s->nskip || !skipped(s, j->seq))
			return j;
		free_job(j);
	}
}

static unsigned take_slot(struct state *s)
{
	if (s->nfree_slots)
		return s->free_slots[--s->nfree_slots];
	return (unsigned)++s->next_slot;
}

static void give_slot(struct state *s, unsigned slot)
{
	if (s->nfree_slots % 64 == 0) {
		unsigned *f = realloc(s->free_slots, (s->nfree_slots + 64) * sizeof *f);
		if (!f) {
			fprintf(stderr, "%s: out of memory\n", prog_name);
			exit(EXIT_OWN);
		}
		s->free_slots = f;
	}
	s->free_slots[s->nfree_slots++] = slot;
}

/* Spawns the job's process; on failure the job has ended with 127 (no such
 * command) or 126 (any other reason) and the reason in its stderr. */
static void spawn(struct state *s, struct job *j, char **argv, int out, int err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, s->devnull, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	                                      POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_USEVFORK);
	j->start = now();
	j->runtime = mono();
	const char *path = s->o.shell ? argv[0] : s->o.exe;
	int rc = path ? posix_spawn(&j->pid, path, &fa, &at, argv, environ)
	              : posix_spawnp(&j->pid, argv[0], &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		if (j->files)
			dprintf(j->files->err, "%s: %s: %s\n", prog_name, argv[0], strerror(rc));
		else
			warnx_("%s: %s", argv[0], strerror(rc));
		j->pid = 0;
		j->ended = true;
		j->status = rc == ENOENT ? 127 : 126;
	}
}

static void finish(struct state *s, struct job *j);

static void flush_order(struct state *s)
{
	while (s->order_head && s->order_head->ended) {
		struct job *j = s->order_head;
		s->order_head = j->next;
		if (!s->order_head)
			s->order_tail = NULL;
		s->in_order--;
		print_job(s, j);
		free_job(j);
	}
}

/* Starts job j (a new one, or a retry that keeps its slot and place). */
static void start_job(struct state *s, struct job *j, bool retry)
{
	if (!retry)
		j->slot = take_slot(s);
	char **argv = build_argv(&s->o, j);
	if (s->o.dry_run) {
		printf("%s\n", j->command);
		give_slot(s, j->slot);
		free_argv(argv);
		free_job(j);
		return;
	}
	j->tries++;
	int out = -1, err = -1;
	if (s->o.line_buffer) {
		if (open_pipes(j, &out, &err) < 0) {
			warnx_("cannot create a pipe: %s", strerror(errno));
			s->own_error = 1;
			s->stopping = true;
			give_slot(s, j->slot);
			free_argv(argv);
			free_job(j);
			return;
		}
	} else if (!j->files) {
		j->files = take_files(s);
		if (!j->files) {
			warnx_("cannot create a temporary file in %s: %s", s->tmpdir,
			       strerror(errno));
			s->own_error = 1;
			s->stopping = true;
			give_slot(s, j->slot);
			free_argv(argv);
			free_job(j);
			return;
		}
	}
	if (!retry && s->o.keep_order) {
		if (s->order_tail)
			s->order_tail->next = j;
		else
			s->order_head = j;
		s->order_tail = j;
		s->in_order++;
	}
	if (j->files) {
		out = j->files->out;
		err = j->files->err;
	}
	spawn(s, j, argv, out, err);
	free_argv(argv);
	if (s->o.line_buffer) {
		close(out);
		close(err);
	}
	s->nrunning++;
	if (j->ended) {
		j->runtime = 0;
		finish(s, j);
		return;
	}
	if (s->o.timeout > 0)
		j->deadline = j->runtime + s->o.timeout;
	j->run_next = s->running;
	s->running = j;
}

static void log_job(struct state *s, const struct job *j, off_t receive)
{
	if (!s->joblog)
		return;
	fprintf(s->joblog, "%" PRIu64 "\t:\t%.3f\t%10.3f\t0\t%lld\t%d\t%d\t%s\n", j->seq, j->start,
	        j->runtime, (long long)receive, j->status, j->signal, j->command);
	fflush(s->joblog);
}

static void signal_running(struct state *s, int sig)
{
	for (struct job *j = s->running; j; j = j->run_next)
		kill(-j->pid, sig);
}

static void check_halt(struct state *s, const struct job *j)
{
	if (s->o.halt == HALT_NEVER || s->halt_status)
		return;
	double limit = s->o.halt_pct ? s->o.halt_fail * (double)s->done : s->o.halt_fail;
	if ((double)s->failed < limit)
		return;
	warnx_("halting (%s): this job failed: %s", s->o.halt == HALT_NOW ? "now" : "soon",
	       j->command);
	s->halt_status = j->status > 0 ? j->status : 128 + j->signal;
	s->stopping = true;
	if (s->o.halt == HALT_NOW)
		signal_running(s, SIGTERM);
}

/* A job has ended: retry it, or account for it, log it and print it. */
static void finish(struct state *s, struct job *j)
{
	s->nrunning--;
	bool failed = j->status != 0;
	if (failed && j->tries < s->o.retries && !s->stopping &&
	    (!j->files || reset_files(j->files))) {
		j->ended = false;
		j->killed = false;
		j->status = -1;
		j->signal = 0;
		free(j->command);
		j->command = NULL;
		start_job(s, j, true);
		return;
	}
	j->ended = true;
	s->done++;
	if (failed)
		s->failed++;
	off_t receive = j->files ? lseek(j->files->out, 0, SEEK_CUR) : j->received;
	log_job(s, j, receive > 0 ? receive : 0);
	if (failed)
		check_halt(s, j);
	give_slot(s, j->slot);
	if (s->o.keep_order) {
		flush_order(s);
	} else {
		print_job(s, j);
		free_job(j);
	}
}

/* Reaps every ended job; true if there was one. */
static bool reap(struct state *s)
{
	bool any = false;
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct job **pp = &s->running;
		while (*pp && (*pp)->pid != pid)
			pp = &(*pp)->run_next;
		struct job *j = *pp;
		if (!j)
			continue;
		*pp = j->run_next;
		j->runtime = mono() - j->runtime;
		/* A job stopped by a signal or a timeout may leave processes behind
		 * in its group that ignored the signal (a shell's background
		 * children ignore SIGINT): they get a SIGTERM, not to be orphaned. */
		if (s->stop_signal || j->killed)
			kill(-j->pid, SIGTERM);
		for (int k = 0; k < 2; k++)
			close_pipe(s, j, k);
		if (WIFEXITED(st)) {
			j->status = WEXITSTATUS(st);
			j->signal = 0;
		} else {
			j->status = -1;
			j->signal = WTERMSIG(st);
		}
		finish(s, j);
		any = true;
	}
	return any;
}

/* Kills jobs past their --timeout (SIGTERM, then SIGKILL a second later);
 * returns the nearest deadline still to come, 0 if none. */
static double check_deadlines(struct state *s)
{
	double t = mono(), next = 0;
	for (struct job *j = s->running; j; j = j->run_next) {
		if (!j->deadline)
			continue;
		if (t >= j->deadline) {
			if (!j->killed) {
				warnx_("timed out after %g s, killing: %s", s->o.timeout,
				       j->command);
				kill(-j->pid, SIGTERM);
				j->killed = true;
				j->deadline = t + 1;
			} else {
				kill(-j->pid, SIGKILL);
				j->deadline = 0;
				continue;
			}
		}
		if (!next || j->deadline < next)
			next = j->deadline;
	}
	return next;
}

static bool may_start(struct state *s, size_t limit)
{
	if (s->stopping || s->inputs_done || s->nrunning >= limit)
		return false;
	/* With -k, ended jobs keep their files until their turn to print:
	 * wait rather than run out of descriptors behind a slow job. */
	if (s->o.keep_order && s->in_order >= s->room)
		return false;
	if (!s->o.batch)
		return true;
	if (s->nrunning == 0)
		s->batch_started = 0;
	return s->batch_started < s->o.batch;
}

/* --bar: "done/total, running, failed, ETA" on one line of the terminal,
 * at most ten times a second unless `force`. */
static void show_bar(struct state *s, bool force)
{
	if (!s->bar)
		return;
	double t = mono();
	if (!force && t - s->bar_at < 0.1)
		return;
	s->bar_at = t;
	uint64_t total = s->total > s->nskip ? s->total - s->nskip : 0;
	double pct = total ? 100.0 * (double)s->done / (double)total : 100;
	char eta[32] = "?";
	if (s->done)
		snprintf(eta, sizeof eta, "%.0fs",
		         (t - s->started_at) / (double)s->done * (double)(total - s->done));
	fprintf(stderr,
	        "\r%3.0f%% %" PRIu64 "/%" PRIu64 " done, %zu running, %" PRIu64
	        " failed, ETA %s\033[K",
	        pct, s->done, total, s->nrunning, s->failed, eta);
}

/* --bar: reads every input ahead, so that the total is known. */
static void read_ahead(struct state *s)
{
	size_t n = 0, cap = 0;
	char *in;
	while ((in = next_input(&s->in))) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			char **a = realloc(s->all_inputs, cap * sizeof *a);
			if (!a) {
				fprintf(stderr, "%s: out of memory\n", prog_name);
				exit(EXIT_OWN);
			}
			s->all_inputs = a;
		}
		s->all_inputs[n++] = in;
	}
	s->in.list = s->all_inputs;
	s->in.nlist = (int)n;
	s->in.pos = 0;
	s->total = (n + s->o.max_args - 1) / s->o.max_args;
}

static volatile sig_atomic_t caught; /* the last SIGINT or SIGTERM, 0 once handled */

static void handler(int sig)
{
	if (sig != SIGCHLD)
		caught = sig;
}

/* The pipes of the running jobs, for ppoll (--line-buffer). */
static size_t watch_pipes(struct state *s, struct pollfd **fds, struct job ***owner, size_t *cap)
{
	size_t n = 0;
	if (*cap < 2 * s->nrunning) {
		*cap = 2 * s->nrunning + 16;
		*fds = realloc(*fds, *cap * sizeof **fds);
		*owner = realloc(*owner, *cap * sizeof **owner);
		if (!*fds || !*owner) {
			fprintf(stderr, "%s: out of memory\n", prog_name);
			exit(EXIT_OWN);
		}
	}
	for (struct job *j = s->running; j; j = j->run_next) {
		for (int k = 0; k < 2; k++) {
			if (j->pipes[k] < 0)
				continue;
			(*fds)[n] = (struct pollfd){.fd = j->pipes[k], .events = POLLIN};
			(*owner)[n++] = j;
		}
	}
	return n;
}

/* The main loop: starts jobs while it may, sleeps in ppoll (with the
 * signals unblocked only there) until a job ends, a pipe has output, a
 * signal comes or a deadline passes. */
static void run(struct state *s, size_t limit, const sigset_t *unblocked)
{
	struct pollfd *fds = NULL;
	struct job **owner = NULL;
	size_t cap = 0;
	for (;;) {
		while (may_start(s, limit)) {
			struct job *j = make_job(s);
			if (!j) {
				s->inputs_done = true;
				break;
			}
			s->batch_started++;
			start_job(s, j, false);
		}
		show_bar(s, false);
		if (!s->nrunning && (s->inputs_done || s->stopping))
			break;
		if (reap(s))
			continue;
		double next = check_deadlines(s);
		struct timespec ts, *tp = NULL;
		if (next) {
			double d = next - mono();
			if (d < 0)
				d = 0;
			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
			tp = &ts;
		}
		size_t n = s->o.line_buffer ? watch_pipes(s, &fds, &owner, &cap) : 0;
		int r = ppoll(fds, n, tp, unblocked);
		if (caught) {
			int sig = caught;
			caught = 0;
			s->stopping = true;
			s->stop_signal = sig;
			signal_running(s, sig);
		}
		for (size_t i = 0; r > 0 && i < n; i++) {
			if (!fds[i].revents)
				continue;
			struct job *j = owner[i];
			int k = j->pipes[0] == fds[i].fd ? 0 : 1;
			read_pipe(s, j, k);
		}
	}
	free(fds);
	free(owner);
	if (s->bar) {
		show_bar(s, true);
		fputc('\n', stderr);
	}
}

/* ---- Setting up ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* --resume: the sequence numbers the joblog already holds; then opens it
 * for appending (or writing, with its header line). */
static int open_joblog(struct state *s)
{
	bool append_mode = false;
	if (s->o.resume) {
		FILE *f = fopen(s->o.joblog, "r");
		if (f) {
			char *line = NULL;
			size_t cap = 0, nskip = 0;
			while (getline(&line, &cap, f) > 0) {
				uint64_t seq;
				if (sscanf(line, "%" SCNu64 "\t", &seq) != 1)
					continue;
				if (nskip % 256 == 0) {
					uint64_t *k = realloc(s->skip, (nskip + 256) * sizeof *k);
					if (!k)
						break;
					s->skip = k;
				}
				s->skip[nskip++] = seq;
			}
			free(line);
			fclose(f);
			s->nskip = nskip;
			qsort(s->skip, nskip, sizeof *s->skip, cmp_u64);
			append_mode = true;
		}
	}
	s->joblog = fopen(s->o.joblog, append_mode ? "a" : "w");
	if (!s->joblog) {
		warnx_("cannot open the joblog %s: %s", s->o.joblog, strerror(errno));
		return -1;
	}
	if (!append_mode || ftell(s->joblog) == 0)
		fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n",
		      s->joblog);
	fflush(s->joblog);
	return 0;
}

/* The most jobs the open-file limit allows (two files each), raising the
 * soft limit to the hard one first. */
static size_t fd_room(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 64;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Keep 16 for stdio, the joblog, /dev/null and the pipes of a spawn. */
	return rl.rlim_cur > 18 ? (size_t)(rl.rlim_cur - 16) / 2 : 1;
}

/* Looks a fixed command name up in PATH once, so that each job's exec does
 * not walk PATH again; NULL (each spawn then searches) if there is nothing
 * to find once: a name with a slash, a placeholder, or not found. */
static char *find_exe(const char *name)
{
	size_t n;
	if (strchr(name, '/') || strchr(name, '{') || !*name)
		return NULL;
	for (const char *p = name; *p; p++)
		if (placeholder(p, &n))
			return NULL;
	const char *path = getenv("PATH");
	if (!path)
		return NULL;
	char *buf = NULL;
	for (const char *dir = path;; dir++) {
		const char *end = strchrnul(dir, ':');
		size_t dlen = (size_t)(end - dir);
		free(buf);
		if (asprintf(&buf, "%.*s/%s", (int)dlen, dlen ? dir : ".", name) < 0)
			return NULL;
		struct stat st;
		if (access(buf, X_OK) == 0 && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			return buf;
		if (!*end)
			break;
		dir = end;
	}
	free(buf);
	return NULL;
}

static int setup(struct state *s)
{
	const char *t = getenv("TMPDIR");
	s->tmpdir = t && *t ? t : "/tmp";
	s->in.delim = s->o.null ? 0 : '\n';
	if (s->o.list) {
		s->in.list = s->o.list;
		s->in.nlist = s->o.nlist;
	} else if (s->o.arg_file && strcmp(s->o.arg_file, "-")) {
		s->in.f = fopen(s->o.arg_file, "r");
		if (!s->in.f) {
			warnx_("cannot read %s: %s", s->o.arg_file, strerror(errno));
			return -1;
		}
	} else {
		s->in.f = stdin;
	}
	s->bar = s->o.bar && !s->o.dry_run && isatty(STDERR_FILENO);
	if (s->bar) {
		read_ahead(s);
		if (s->in.failed)
			return -1;
	}
	s->started_at = mono();
	s->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->devnull < 0) {
		warnx_("/dev/null: %s", strerror(errno));
		return -1;
	}
	if (s->o.joblog && !s->o.dry_run && open_joblog(s) < 0)
		return -1;
	return 0;
}

static void teardown(struct state *s)
{
	while (s->free_files) {
		struct outfiles *f = s->free_files;
		s->free_files = f->next;
		close(f->out);
		close(f->err);
		free(f);
	}
	if (s->joblog && fclose(s->joblog) != 0) {
		warnx_("writing the joblog %s: %s", s->o.joblog, strerror(errno));
		s->own_error = 1;
	}
	if (s->in.f && s->in.f != stdin)
		fclose(s->in.f);
	if (s->devnull >= 0)
		close(s->devnull);
	free(s->in.line);
	for (int i = 0; s->all_inputs && i < s->in.nlist; i++)
		free(s->all_inputs[i]);
	free(s->all_inputs);
	free(s->free_slots);
	free(s->skip);
}

int cmd_batch(int argc, char **argv)
{
	struct state s = {.devnull = -1};
	int rc = parse_opts(argc, argv, &s.o);
	if (rc)
		return rc > 0 ? 0 : EXIT_OWN;
	if (setup(&s) < 0) {
		teardown(&s);
		return EXIT_OWN;
	}
	if (!s.o.shell)
		s.o.exe = find_exe(s.o.cmd[0]);
	size_t limit = s.o.batch ? s.o.batch : s.o.jobs;
	s.room = fd_room();
	if (limit > s.room)
		limit = s.room;

	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	struct sigaction sa = {.sa_handler = handler}, old_int, old_term, old_chld;
	sigprocmask(SIG_BLOCK, &set, &old);
	/* A SIGINT or SIGTERM that our parent made us ignore (a background job
	 * of a shell) stays ignored, as with any other program. */
	sigaction(SIGINT, NULL, &old_int);
	sigaction(SIGTERM, NULL, &old_term);
	if (old_int.sa_handler != SIG_IGN)
		sigaction(SIGINT, &sa, NULL);
	if (old_term.sa_handler != SIG_IGN)
		sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGCHLD, &sa, &old_chld);
	sigset_t unblocked = old;
	sigdelset(&unblocked, SIGCHLD);
	sigdelset(&unblocked, SIGINT);
	sigdelset(&unblocked, SIGTERM);

	run(&s, limit, &unblocked);

	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGCHLD, &old_chld, NULL);
	if (s.in.failed)
		s.own_error = 1;
	if (fflush(stdout) != 0)
		s.own_error = 1;
	teardown(&s);
	free(s.o.exe);
	if (s.stop_signal)
		return 128 + s.stop_signal;
	if (s.halt_status)
		return s.halt_status;
	if (s.own_error)
		return EXIT_OWN;
	return s.failed > MAX_FAILED_STATUS ? MAX_FAILED_STATUS : (int)s.failed;
}
