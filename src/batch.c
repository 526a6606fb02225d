/*
 * batch.c - `plumb batch`: run a command for each input, K at a time, as
 * xargs -P and GNU parallel do.
 *
 * One thread does everything, with no helper threads: it reads inputs
 * lazily (so a list of any length takes no more memory than the jobs in
 * flight), starts jobs with a vfork-like clone (starting a job never copies
 * this process), and sleeps in ppoll until a job ends, a signal arrives, a
 * --line-buffer pipe has output or the nearest --timeout deadline passes.
 * SIGCHLD, SIGINT and SIGTERM stay blocked except inside ppoll, so none can
 * slip in between a check and the sleep.
 *
 * Inputs come from input sources, as GNU parallel's: the words after :::,
 * the records of each file after :::: or -a, or standard input.  Several
 * sources combine into every combination of their values, the last source
 * varying fastest; a source given with :::+ or ::::+ goes along with the one
 * before it instead (the shortest of such a run decides its length), and
 * with --link all of them go along, the shorter ones starting over.  The
 * first source is streamed; a later one is read again for each value of the
 * ones before it, so it is rewound: a pipe is first copied to an unlinked
 * temporary file, never held in memory.
 *
 * Output never interleaves: each job's stdout and stderr go to two unlinked
 * temporary files (O_TMPFILE), which plumb copies out whole when the job has
 * ended (--group), or when every earlier job has been printed (--keep-order).
 * The child's descriptors share the files' offset with ours, so the offset
 * says how far the job wrote and a silent job costs no read at all.  File
 * pairs are reused from one job to the next: the next job writes after the
 * last one's bytes, and a file is truncated only once it holds SPOOL_REWIND
 * bytes (on ext4 a truncation costs about 8 us, six times what the rest of
 * a short job's output costs plumb).  With
 * --line-buffer the jobs write to pipes instead, and whole lines are printed
 * as they arrive; with --line-buffer and -k only the oldest job still to be
 * printed is printed as it comes, and what the later ones write meanwhile is
 * held in temporary files until their turn.
 *
 * Approach 2 of the library (a sliding window) is the default: a new job
 * starts as soon as one ends.  --batch SIZE is approach 1: SIZE jobs, then
 * a barrier until all of them have ended.
 *
 * Each job runs in its own process group, so that a signal forwarded to it
 * (SIGINT, SIGTERM, or SIGTERM then SIGKILL on --timeout) reaches whatever
 * it started too.  On SIGINT or SIGTERM plumb starts nothing more, forwards
 * the signal, waits for every job, prints their output, stops and reaps
 * whatever the jobs left running (plumb is their subreaper: reap_orphans),
 * and exits 128+N.
 *
 * Exit status, as GNU parallel's: 0 when every job succeeded, else the
 * number of failed jobs up to 101; --halt decides it otherwise (see
 * halt_status); 255 for plumb's own errors (bad options, unreadable input).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

extern char **environ;

enum { EXIT_OWN = 255, MAX_FAILED_STATUS = 101 };

enum halt_when { HALT_NEVER, HALT_SOON, HALT_NOW };
enum halt_on { HALT_FAIL, HALT_SUCCESS, HALT_DONE };

/* One input source as the command line gives it. */
struct source_arg {
	char **words; /* ::: the words (nwords of them) */
	int nwords;
	const char *file; /* :::: or -a: the file ("-": standard input), else NULL */
	bool linked;      /* :::+ or ::::+: goes along with the source before it */
};

struct opts {
	size_t jobs, max_args, batch;
	bool null, keep_order, tag, shell, dry_run, resume, line_buffer, bar, link;
	enum halt_when halt;
	enum halt_on halt_on;
	uint64_t halt_count; /* N of fail=N, 0 with a percentage */
	unsigned halt_pct;   /* N of fail=N%, 1 to 100; 0 with a count */
	unsigned retries;    /* runs at most, 0 or 1: once */
	double timeout;      /* seconds, 0: none */
	const char *joblog;
	char **cmd; /* the command's words */
	char *exe;  /* cmd[0] found in PATH once, or NULL */
	int ncmd;
	struct source_arg *srcs; /* -a files, then the sources after the command */
	int nsrcs;               /* 0: standard input */
};

/* One input source being read. */
struct source {
	char **words; /* the ::: words, when f is NULL */
	int nwords, pos;
	const char *name; /* for messages */
	FILE *f;
	off_t origin; /* where its records begin, to rewind to */
	bool linked;  /* goes along with the source before it */
	bool empty;   /* has no records: stands for one empty input (as parallel) */
	bool gave;    /* empty: the empty input was given since the last rewind */
	bool wrapped; /* --link: has ended once, and goes round again */
	char *cur;    /* its value in the current combination */
};

/* The input sources and where their combinations have got to. */
struct input {
	struct source *src;
	int nsrc;
	bool link; /* --link */
	bool started, done, failed;
	int delim;
	char *line;
	size_t cap;
};

/* A pair of temporary files that catch one job's stdout and stderr; the
 * job's bytes start at out_base and err_base. */
struct outfiles {
	int out, err;
	off_t out_base, err_base;
	struct outfiles *next;
};

enum { SPOOL_REWIND = 1 << 20 }; /* a spool file is emptied past this size */

struct job {
	uint64_t seq;
	char **args; /* the values of its inputs, source by source, input by input */
	size_t nargs;
	pid_t pid;
	unsigned slot;
	unsigned tries;
	double start, runtime;
	double deadline; /* 0: none */
	bool killed, ended;
	bool discard; /* killed by --halt now: neither printed nor logged */
	int status;   /* exit value, -1 if signalled */
	int signal;
	struct outfiles *files;
	int pipes[2];  /* --line-buffer: stdout and stderr, -1 when closed */
	char *part[2]; /* --line-buffer: the unfinished last line of each */
	size_t plen[2];
	bool live;              /* --line-buffer -k: its turn to print has come */
	struct outfiles *spool; /* --line-buffer -k: what it wrote before its turn */
	off_t received;         /* --line-buffer: bytes of stdout */
	char *command;          /* as shown in --dry-run and the joblog */
	struct job *next;       /* in the keep-order queue */
	struct job *run_next;   /* in the running list */
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
	bool halted; /* --halt has triggered; halt_status is the exit status */
	int halt_status;
	int devnull;
	FILE *joblog;
	uint64_t *skip; /* --resume: sequence numbers already in the joblog, sorted */
	size_t nskip;
	const char *tmpdir;
	int own_error;
	bool bar;       /* --bar and stderr is a terminal */
	uint64_t total; /* jobs in all, when counted (--bar, --halt N%) */
	double started_at, bar_at;
	bool want_command; /* j->command is shown somewhere */
	bool pipe_ignored; /* we were started with SIGPIPE ignored */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void out_of_memory(void)
{
	fprintf(stderr, "%s: out of memory\n", prog_name);
	exit(EXIT_OWN);
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		out_of_memory();
	return d;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: plumb batch [OPTION]... COMMAND [ARG]... [::: INPUT... | :::: FILE...]...\n"
	        "Run COMMAND once for each input (lines of stdin, of -a FILE or :::: FILE, or\n"
	        "the words after :::), at most K at a time; each job's output is printed whole.\n"
	        "Several sources give every combination of their inputs; :::+ and ::::+ pair a\n"
	        "source with the one before it instead.\n\n"
	        "  -j, --jobs K          run K jobs at a time (default: the CPUs; 0: no limit)\n"
	        "  -n, --max-args N      N inputs per command (default 1)\n"
	        "      --batch SIZE      run SIZE jobs, wait for all of them, run the next SIZE\n"
	        "  -a, --arg-file FILE   read inputs from FILE (may be given more than once)\n"
	        "      --link            pair the sources' inputs, shorter sources starting over\n"
	        "  -0, --null            inputs are separated by NUL, not newline\n"
	        "  -k, --keep-order      print outputs in input order\n"
	        "      --group           print each job's output whole when it ends (default)\n"
	        "      --line-buffer     print whole lines as jobs write them\n"
	        "      --tag             prefix each output line with the input and a tab\n"
	        "      --shell           run the command through /bin/sh -c (inputs quoted)\n"
	        "      --halt WHEN       never, soon,fail=N, now,fail=N, soon,success=N,\n"
	        "                        now,success=N, soon,done=N, now,done=N (N or N%%)\n"
	        "      --retries N       run a failing job up to N times\n"
	        "      --timeout SECS    kill a job that runs longer than SECS\n"
	        "      --joblog FILE     write GNU parallel's job log to FILE\n"
	        "      --resume          skip the jobs already in the --joblog FILE\n"
	        "      --dry-run         print the commands, run nothing\n"
	        "      --bar             show progress on a terminal (counts all inputs first)\n"
	        "  -h, --help            show this help\n\n"
	        "Placeholders: {} {.} {/} {//} {/.} {#} (job number) {%%} (slot), and {N} {N.}\n"
	        "{N/} {N//} {N/.} for the Nth input ({-N}: from the end); without one the\n"
	        "inputs are appended.  Exit status: 0 if all jobs succeeded, else the number of\n"
	        "failed jobs (at most 101) or what --halt says; 255 for plumb's own errors.\n");
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

/*
 * --halt WHEN: never; soon or now, then fail=, success= or done=, then a
 * number of jobs or a percentage of all the jobs; and GNU parallel's short
 * forms: 0 (never), 1 (soon,fail=1), 2 (now,fail=1), -1 (soon,success=1),
 * -2 (now,success=1), N% (soon,fail=N%).  Writes a message on error.
 */
static bool parse_halt(const char *arg, struct opts *o)
{
	static const struct {
		const char *name, *means;
	} shorts[] = {{"0", "never"},
	              {"1", "soon,fail=1"},
	              {"2", "now,fail=1"},
	              {"-1", "soon,success=1"},
	              {"-2", "now,success=1"}};
	const char *s = arg;
	char pct_form[32];
	for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++)
		if (!strcmp(s, shorts[i].name))
			s = shorts[i].means;
	size_t len = strlen(s);
	if (len > 1 && len < 16 && s[len - 1] == '%' && strspn(s, "0123456789") == len - 1) {
		snprintf(pct_form, sizeof pct_form, "soon,fail=%s", s);
		s = pct_form;
	}
	if (!strcmp(s, "never") || !strncmp(s, "never,", 6)) {
		o->halt = HALT_NEVER;
		return true;
	}
	if (!strncmp(s, "soon,", 5)) {
		o->halt = HALT_SOON;
		s += 5;
	} else if (!strncmp(s, "now,", 4)) {
		o->halt = HALT_NOW;
		s += 4;
	} else {
		warnx_("--halt: '%s' must begin with never, soon, or now, (as in soon,fail=1 "
		       "or now,success=1)",
		       arg);
		return false;
	}
	if (!strncmp(s, "fail=", 5)) {
		o->halt_on = HALT_FAIL;
		s += 5;
	} else if (!strncmp(s, "success=", 8)) {
		o->halt_on = HALT_SUCCESS;
		s += 8;
	} else if (!strncmp(s, "done=", 5)) {
		o->halt_on = HALT_DONE;
		s += 5;
	} else {
		warnx_("--halt: in '%s', soon, or now, must be followed by fail=, success= or "
		       "done=",
		       arg);
		return false;
	}
	len = strlen(s);
	uint64_t v;
	bool pct = len > 0 && s[len - 1] == '%';
	char num[24];
	if (len == 0 || len - pct >= sizeof num) {
		v = 0;
	} else {
		memcpy(num, s, len - pct);
		num[len - pct] = 0;
		if (!parse_uint(num, pct ? 100 : UINT32_MAX, &v))
			v = 0;
	}
	if (v == 0) {
		warnx_("--halt: in '%s', the limit must be a whole number of jobs (1 or more) or "
		       "a percentage of the jobs (1%% to 100%%)",
		       arg);
		return false;
	}
	o->halt_pct = pct ? (unsigned)v : 0;
	o->halt_count = pct ? 0 : v;
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
	OPT_LINK,
};

/* ":::", ":::+", "::::" or "::::+": 1 for words, 2 for files, 0 otherwise;
 * *linked tells the + forms. */
static int separator(const char *w, bool *linked)
{
	int kind = !strcmp(w, ":::") || !strcmp(w, ":::+")     ? 1
	           : !strcmp(w, "::::") || !strcmp(w, "::::+") ? 2
	                                                       : 0;
	*linked = kind && w[strlen(w) - 1] == '+';
	return kind;
}

/* Splits the words after the options into the command and the sources
 * that follow it (after the -a files already in o->srcs). */
static int parse_sources(struct opts *o, char **words, int n)
{
	bool linked;
	int i = 0;
	while (i < n && !separator(words[i], &linked))
		i++;
	o->cmd = words;
	o->ncmd = i;
	while (i < n) {
		int kind = separator(words[i], &linked);
		const char *sep = words[i++];
		int first = i;
		bool dummy;
		while (i < n && !separator(words[i], &dummy))
			i++;
		if (kind == 1) {
			o->srcs[o->nsrcs++] = (struct source_arg){
			        .words = words + first, .nwords = i - first, .linked = linked};
			continue;
		}
		if (i == first) {
			warnx_("%s must be followed by the name of a file of inputs", sep);
			return -1;
		}
		for (int k = first; k < i; k++)
			o->srcs[o->nsrcs++] =
			        (struct source_arg){.file = words[k], .linked = linked};
	}
	return 0;
}

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
	        {"link", no_argument, NULL, OPT_LINK},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->jobs = cpus > 0 ? (size_t)cpus : 1;
	o->max_args = 1;
	/* At most one source per word of the command line. */
	o->srcs = calloc((size_t)argc + 1, sizeof *o->srcs);
	if (!o->srcs)
		out_of_memory();
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
			o->srcs[o->nsrcs++] = (struct source_arg){.file = optarg};
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
			if (!parse_halt(optarg, o))
				return -1;
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
		case OPT_LINK:
			o->link = true;
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
	if (parse_sources(o, argv + optind, argc - optind) < 0)
		return -1;
	if (o->ncmd == 0) {
		warnx_("no command given");
		fprintf(stderr, "Try 'plumb batch --help'.\n");
		return -1;
	}
	if (o->resume && !o->joblog) {
		warnx_("--resume needs --joblog FILE");
		return -1;
	}
	int from_stdin = 0;
	for (int i = 0; i < o->nsrcs; i++)
		from_stdin += o->srcs[i].file && !strcmp(o->srcs[i].file, "-");
	if (from_stdin > 1) {
		warnx_("standard input (-) can be only one of the input sources");
		return -1;
	}
	return 0;
}

/* ---- Inputs ---- */

/* Reads source s's next record into a malloc'ed string in *out: 1, 0 at
 * its end, -1 on a read error (reported, and in->failed set). */
static int src_read(struct input *in, struct source *s, char **out)
{
	if (s->empty) {
		if (s->gave)
			return 0;
		s->gave = true;
		*out = xstrdup("");
		return 1;
	}
	if (!s->f) {
		if (s->pos >= s->nwords)
			return 0;
		*out = xstrdup(s->words[s->pos++]);
		return 1;
	}
	errno = 0;
	ssize_t n = getdelim(&in->line, &in->cap, in->delim, s->f);
	if (n < 0) {
		if (!ferror(s->f))
			return 0;
		warnx_("reading the inputs from %s: %s", s->name, strerror(errno ? errno : EIO));
		in->failed = true;
		return -1;
	}
	if (n > 0 && in->line[n - 1] == in->delim)
		in->line[--n] = 0;
	*out = strndup(in->line, (size_t)n);
	if (!*out)
		out_of_memory();
	return 1;
}

/* Takes source s back to its first record. */
static int src_rewind(struct input *in, struct source *s)
{
	s->pos = 0;
	s->gave = false;
	if (!s->f)
		return 0;
	clearerr(s->f);
	if (fseeko(s->f, s->origin, SEEK_SET) < 0) {
		warnx_("rewinding %s: %s", s->name, strerror(errno));
		in->failed = true;
		return -1;
	}
	return 0;
}

/* Replaces source s's current value with its next record: as src_read. */
static int src_next(struct input *in, struct source *s)
{
	char *v;
	int r = src_read(in, s, &v);
	if (r > 0) {
		free(s->cur);
		s->cur = v;
	}
	return r;
}

/* The first value of every source.  As GNU parallel, a source with no
 * records stands for one empty input, unless all of them are empty. */
static int first_values(struct input *in)
{
	bool any = false;
	in->started = true;
	for (int i = 0; i < in->nsrc; i++) {
		int r = src_next(in, &in->src[i]);
		if (r < 0)
			return -1;
		in->src[i].empty = r == 0;
		any |= r > 0;
	}
	if (!any)
		return 0;
	for (int i = 0; i < in->nsrc; i++)
		if (in->src[i].empty && src_next(in, &in->src[i]) < 0)
			return -1;
	return 1;
}

/* The first source of the run of linked sources that ends before `end`. */
static int group_start(const struct input *in, int end)
{
	int a = end - 1;
	while (a > 0 && in->src[a].linked)
		a--;
	return a;
}

/* Advances the sources [a, b), which go along together: 1, or 0 when one
 * of them has ended (the shortest decides), -1 on error. */
static int group_next(struct input *in, int a, int b)
{
	for (int i = a; i < b; i++) {
		int r = src_next(in, &in->src[i]);
		if (r <= 0)
			return r;
	}
	return 1;
}

/* Takes the sources [a, b) back to their first values. */
static int group_rewind(struct input *in, int a, int b)
{
	for (int i = a; i < b; i++)
		if (src_rewind(in, &in->src[i]) < 0)
			return -1;
	return group_next(in, a, b);
}

/* --link: every source advances; one that has ended starts over.  The end
 * is when every one of them has ended once (the longest decides). */
static int link_next(struct input *in)
{
	bool any = false;
	for (int i = 0; i < in->nsrc; i++) {
		struct source *s = &in->src[i];
		int r = src_next(in, s);
		if (r < 0)
			return -1;
		any |= r > 0 && !s->wrapped;
		if (r == 0) {
			s->wrapped = true;
			if (src_rewind(in, s) < 0 || src_next(in, s) < 0)
				return -1;
		}
	}
	return any;
}

/*
 * The next combination of the sources' values, in src[i].cur: 1, 0 at the
 * end, -1 on error.  Without --link the runs of linked sources turn like
 * the wheels of a counter, the last one fastest: when one has ended it
 * starts over and the one before it advances.
 */
static int next_values(struct input *in)
{
	if (in->done)
		return 0;
	int r;
	if (!in->started) {
		r = first_values(in);
	} else if (in->link && in->nsrc > 1) {
		r = link_next(in);
	} else {
		r = 0;
		for (int b = in->nsrc; b > 0;) {
			int a = group_start(in, b);
			r = group_next(in, a, b);
			if (r != 0 || a == 0)
				break;
			r = group_rewind(in, a, b);
			if (r <= 0)
				break;
			b = a;
		}
	}
	if (r <= 0)
		in->done = true;
	return r;
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
		if (!b)
			out_of_memory();
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

enum { PH_ARG = 1, PH_NOEXT, PH_BASE, PH_DIR, PH_BASE_NOEXT, PH_SEQ, PH_SLOT };

/* A placeholder: what it shows, and of which input. */
struct ph {
	int kind;
	long pos; /* {N}: the Nth input of the job; {-N}: the Nth from the end; 0: all */
};

struct ph_name {
	const char *text;
	int kind;
};

/* The placeholders by name, and the endings of {N} and {-N}. */
static const struct ph_name ph_names[] = {
        {"{}", PH_ARG},          {"{.}", PH_NOEXT}, {"{/}", PH_BASE}, {"{//}", PH_DIR},
        {"{/.}", PH_BASE_NOEXT}, {"{#}", PH_SEQ},   {"{%}", PH_SLOT},
};
static const struct ph_name ph_ends[] = {
        {"}", PH_ARG}, {".}", PH_NOEXT}, {"/}", PH_BASE}, {"//}", PH_DIR}, {"/.}", PH_BASE_NOEXT},
};

/* The placeholder at s: its length, or 0 if there is none. */
static size_t placeholder(const char *s, struct ph *ph)
{
	if (*s != '{')
		return 0;
	ph->pos = 0;
	for (size_t i = 0; i < sizeof ph_names / sizeof ph_names[0]; i++) {
		size_t l = strlen(ph_names[i].text);
		if (!strncmp(s, ph_names[i].text, l)) {
			ph->kind = ph_names[i].kind;
			return l;
		}
	}
	/* {N}, {-N}, and each with . / // or /. before the brace. */
	const char *p = s + 1;
	bool neg = *p == '-';
	p += neg;
	if (*p < '1' || *p > '9')
		return 0;
	char *end;
	errno = 0;
	long v = strtol(p, &end, 10);
	if (errno)
		return 0;
	for (size_t i = 0; i < sizeof ph_ends / sizeof ph_ends[0]; i++) {
		size_t l = strlen(ph_ends[i].text);
		if (!strncmp(end, ph_ends[i].text, l)) {
			ph->kind = ph_ends[i].kind;
			ph->pos = neg ? -v : v;
			return (size_t)(end + l - s);
		}
	}
	return 0;
}

/* The input a {N} or {-N} stands for; NULL when the job has no such input
 * (the placeholder then stands for nothing, as in GNU parallel: not even an
 * empty word when it is a word of its own). */
static const char *arg_at(const struct job *j, long pos)
{
	size_t n = j->nargs;
	if (pos > 0 && (size_t)pos <= n)
		return j->args[pos - 1];
	if (pos < 0 && (size_t)-pos <= n)
		return j->args[n - (size_t)-pos];
	return NULL;
}

/* Whether word w is only a {N} or {-N} of an input the job does not have. */
static bool stands_for_nothing(const char *w, const struct job *j)
{
	struct ph ph;
	return placeholder(w, &ph) == strlen(w) && ph.pos && !arg_at(j, ph.pos);
}

/* The text of placeholder kind k for one input, into a static buffer. */
static const char *expand_one(int k, const char *in, const struct job *j)
{
	static char buf[4096 + 64];
	const char *slash = strrchr(in, '/');
	const char *base = slash ? slash + 1 : in;
	const char *dot = strrchr(base, '.');
	switch (k) {
	case PH_ARG:
		return in;
	case PH_NOEXT:
		snprintf(buf, sizeof buf, "%.*s", (int)(dot ? dot - in : (long)strlen(in)), in);
		return buf;
	case PH_BASE:
		return base;
	case PH_DIR:
		if (!slash)
			return ".";
		snprintf(buf, sizeof buf, "%.*s", slash == in ? 1 : (int)(slash - in), in);
		return buf;
	case PH_BASE_NOEXT:
		snprintf(buf, sizeof buf, "%.*s", (int)(dot ? dot - base : (long)strlen(base)),
		         base);
		return buf;
	case PH_SEQ:
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
	struct ph ph;
	append(&buf, &len, &cap, "", 0);
	for (const char *p = w; *p;) {
		n = placeholder(p, &ph);
		if (!n) {
			append(&buf, &len, &cap, p, 1);
			p++;
			continue;
		}
		*found = true;
		bool one = ph.kind >= PH_SEQ || ph.pos;
		size_t count = one ? 1 : j->nargs;
		for (size_t i = 0; i < count; i++) {
			const char *in = ph.pos ? arg_at(j, ph.pos) : one ? "" : j->args[i];
			if (!in)
				break;
			const char *v = expand_one(ph.kind, in, j);
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

/* Builds the job's argv (NULL-terminated, malloc'ed words) and, when
 * `show`, its command line as shown in the joblog and by --dry-run. */
static char **build_argv(const struct opts *o, struct job *j, bool show)
{
	/* Each word may be a {} that stands for nargs words, and the inputs may
	 * be appended. */
	size_t max = (size_t)o->ncmd * (j->nargs + 1) + j->nargs + 4;
	char **argv = calloc(max, sizeof *argv);
	char *line = NULL;
	size_t len = 0, cap = 0, n = 0;
	bool found = false;
	if (!argv)
		out_of_memory();
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
		argv[n++] = xstrdup("/bin/sh");
		argv[n++] = xstrdup("-c");
		argv[n++] = line;
		if (show)
			j->command = xstrdup(line);
		return argv;
	}
	/* The command line shown: every word quoted for the shell where it
	 * needs it, as GNU parallel shows its commands. */
	if (show)
		append(&line, &len, &cap, "", 0);
	for (int i = 0; i < o->ncmd; i++) {
		size_t first = n;
		bool word_found = false;

		/* A word that is just {} stands for each input as a word of its own. */
		if (!strcmp(o->cmd[i], "{}")) {
			word_found = true;
			for (size_t a = 0; a < j->nargs; a++)
				argv[n++] = xstrdup(j->args[a]);
		} else if (stands_for_nothing(o->cmd[i], j)) {
			word_found = true;
		} else {
			argv[n++] = expand_word(o->cmd[i], j, false, &word_found);
		}
		for (size_t w = first; show && w < n; w++) {
			if (w)
				append(&line, &len, &cap, " ", 1);
			append_quoted(&line, &len, &cap, argv[w]);
		}
		found |= word_found;
	}
	for (size_t a = 0; !found && a < j->nargs; a++) {
		argv[n] = xstrdup(j->args[a]);
		if (show) {
			append(&line, &len, &cap, " ", 1);
			append_quoted(&line, &len, &cap, argv[n]);
		}
		n++;
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
	f->out_base = f->err_base = 0;
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

/* Moves one spool file's base past what was written to it, emptying the
 * file once it has grown past SPOOL_REWIND; false on error. */
static bool rebase(int fd, off_t *base)
{
	off_t end = lseek(fd, 0, SEEK_CUR);
	if (end < 0)
		return false;
	if (end >= SPOOL_REWIND) {
		if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
			return false;
		end = 0;
	}
	*base = end;
	return true;
}

/* Readies a pair of files for the next job; false if they cannot be. */
static bool reset_files(struct outfiles *f)
{
	return rebase(f->out, &f->out_base) && rebase(f->err, &f->err_base);
}

/* The bytes written to spool file fd since its base. */
static off_t spooled(int fd, off_t base)
{
	off_t end = lseek(fd, 0, SEEK_CUR);
	return end > base ? end - base : 0;
}

/* Gives a pair of files back for another job, moved past this job's bytes
 * if `used`. */
static void give_files(struct state *s, struct outfiles *f, bool used)
{
	if (used && !reset_files(f)) {
		close(f->out);
		close(f->err);
		free(f);
		return;
	}
	f->next = s->free_files;
	s->free_files = f;
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

/* Copies `size` bytes of file fd from offset pos to out, each line after
 * `tag` (when not NULL) and a tab. */
static void copy_out(int fd, off_t pos, off_t size, int out, const char *tag)
{
	char buf[65536];
	off_t end = pos + size;
	bool line_start = true;
	while (pos < end) {
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

/* The bytes a job wrote to its stdout (the joblog's Receive). */
static off_t received(const struct job *j)
{
	if (!j->files)
		return j->received;
	return spooled(j->files->out, j->files->out_base);
}

/* Prints a finished job's output (`out` bytes of stdout) and gives its
 * files back. */
static void print_job(struct state *s, struct job *j, off_t out)
{
	struct outfiles *f = j->files;
	if (!f)
		return;
	j->files = NULL;
	off_t err = spooled(f->err, f->err_base);
	bool used = out > 0 || err > 0;
	if (j->discard)
		out = err = 0;
	char *tag = s->o.tag && (out > 0 || err > 0) ? make_tag(j) : NULL;
	if (out > 0 || err > 0)
		clear_bar(s);
	if (out > 0)
		copy_out(f->out, f->out_base, out, STDOUT_FILENO, tag);
	if (err > 0)
		copy_out(f->err, f->err_base, err, STDERR_FILENO, tag);
	free(tag);
	give_files(s, f, used);
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

/* Prints the complete lines held for stream k (all of it when `all`). */
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
	if (!j->discard) {
		char *tag = s->o.tag ? make_tag(j) : NULL;
		bool line_start = true;
		clear_bar(s);
		write_tagged(k ? STDERR_FILENO : STDOUT_FILENO, p, upto, tag, &line_start);
		free(tag);
	}
	memmove(p, p + upto, n - upto);
	j->plen[k] = n - upto;
}

/* Holds n bytes of stream k for printing as lines. */
static void hold(struct job *j, int k, const char *buf, size_t n)
{
	size_t need = j->plen[k] + n;
	char *part = realloc(j->part[k], need);
	if (!part)
		out_of_memory();
	memcpy(part + j->plen[k], buf, n);
	j->part[k] = part;
	j->plen[k] = need;
}

/*
 * Takes n bytes that job j wrote to stream k: printed line by line if the
 * job may print now, else (--line-buffer -k, an earlier job is still to be
 * printed) kept in its spool files until its turn.  Should the spool fail
 * (no temporary file, a full disk), the bytes are held in memory instead:
 * nothing is lost, and plumb reports the error and exits 255 at the end.
 */
static void take_output(struct state *s, struct job *j, int k, const char *buf, size_t n)
{
	if (j->live) {
		hold(j, k, buf, n);
		emit_lines(s, j, k, false);
		return;
	}
	if (j->plen[k] == 0) {
		const char *what = "creating";
		if ((j->spool || (j->spool = take_files(s))) &&
		    write_all(k ? j->spool->err : j->spool->out, buf, n))
			return;
		if (j->spool)
			what = "writing";
		if (!s->own_error)
			warnx_("%s a temporary file in %s: %s (holding the output in memory)", what,
			       s->tmpdir, strerror(errno));
		s->own_error = 1;
	}
	hold(j, k, buf, n);
}

/* --line-buffer -k: job j's turn to print has come: prints what it wrote
 * so far (stdout, then stderr), then whatever it writes as it comes. */
static void go_live(struct state *s, struct job *j)
{
	struct outfiles *f = j->spool;
	j->live = true;
	j->spool = NULL;
	/* What is held in memory (if the spool failed) came after its bytes. */
	char *mem[2] = {j->part[0], j->part[1]};
	size_t mlen[2] = {j->plen[0], j->plen[1]};
	j->part[0] = j->part[1] = NULL;
	j->plen[0] = j->plen[1] = 0;
	bool used = false;
	for (int k = 0; k < 2; k++) {
		int fd = f ? (k ? f->err : f->out) : -1;
		off_t pos = f ? (k ? f->err_base : f->out_base) : 0;
		off_t end = f ? pos + spooled(fd, pos) : 0;
		char buf[65536];
		used |= end != pos;
		while (pos < end) {
			ssize_t n = pread(fd, buf, sizeof buf, pos);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			pos += n;
			take_output(s, j, k, buf, (size_t)n);
		}
		if (mlen[k])
			take_output(s, j, k, mem[k], mlen[k]);
		free(mem[k]);
	}
	if (f)
		give_files(s, f, used);
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
		if (k == 0)
			j->received += n;
		take_output(s, j, k, buf, (size_t)n);
	}
	if (j->pipes[k] < 0 && j->live)
		emit_lines(s, j, k, true);
}

/* After the job's process ended: takes what its pipe k still holds, and
 * closes it (a background child of the job that keeps the pipe open does
 * not hold plumb up). */
static void close_pipe(struct state *s, struct job *j, int k)
{
	if (j->pipes[k] < 0)
		return;
	read_pipe(s, j, k);
	if (j->pipes[k] >= 0) {
		close(j->pipes[k]);
		j->pipes[k] = -1;
	}
	if (j->live)
		emit_lines(s, j, k, true);
}

/* ---- Jobs ---- */

static void free_job(struct state *s, struct job *j)
{
	for (size_t i = 0; i < j->nargs; i++)
		free(j->args[i]);
	free(j->args);
	free(j->command);
	free(j->part[0]);
	free(j->part[1]);
	if (j->spool)
		give_files(s, j->spool, true);
	if (j->files)
		give_files(s, j->files, true);
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

/* Moves the current values of the sources into the job's inputs. */
static void take_values(struct input *in, struct job *j)
{
	for (int i = 0; i < in->nsrc; i++) {
		struct source *src = &in->src[i];
		if (in->nsrc == 1) {
			j->args[j->nargs++] = src->cur;
			src->cur = NULL;
		} else {
			j->args[j->nargs++] = xstrdup(src->cur);
		}
	}
}

/* The next job's inputs (-n of the sources' combinations), or NULL when
 * they are all used. */
static struct job *make_job(struct state *s)
{
	size_t width = (size_t)s->in.nsrc;
	for (;;) {
		if (next_values(&s->in) <= 0)
			return NULL;
		struct job *j = calloc(1, sizeof *j);
		if (!j || !(j->args = calloc(s->o.max_args * width, sizeof *j->args)))
			out_of_memory();
		take_values(&s->in, j);
		while (j->nargs < s->o.max_args * width && next_values(&s->in) > 0)
			take_values(&s->in, j);
		j->seq = ++s->seq;
		j->status = -1;
		j->pipes[0] = j->pipes[1] = -1;
		if (!s->nskip || !skipped(s, j->seq))
			return j;
		free_job(s, j);
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
		if (!f)
			out_of_memory();
		s->free_slots = f;
	}
	s->free_slots[s->nfree_slots++] = slot;
}

/*
 * Where execve finds a command name without a slash, as execvp and
 * posix_spawnp look: the first executable regular file of that name in a
 * directory of PATH (an empty entry is the current directory; no PATH is
 * /bin:/usr/bin).  Returns 0 with *out malloc'ed; ENOENT if there is none,
 * EACCES if there is such a file but none may be executed.
 */
static int find_in_path(const char *name, char **out)
{
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	if (!*name)
		return ENOENT;
	int err = ENOENT;
	for (const char *dir = path;; dir++) {
		const char *end = strchrnul(dir, ':');
		size_t dlen = (size_t)(end - dir);
		char *buf;
		if (asprintf(&buf, "%.*s/%s", dlen ? (int)dlen : 1, dlen ? dir : ".", name) < 0)
			out_of_memory();
		struct stat st;
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(buf, X_OK) == 0) {
				*out = buf;
				return 0;
			}
			err = EACCES;
		}
		free(buf);
		if (!*end)
			return err;
		dir = end;
	}
}

/*
 * Starting a process.  posix_spawn would do, but glibc's costs more than
 * it must for each of thousands of small jobs: an mmap and munmap for the
 * child's stack, and in the child a sigaction call for each of the 64
 * signals while we wait.  So plumb does what it does, and no more: a clone
 * with CLONE_VM | CLONE_VFORK, so that nothing is copied and we are
 * suspended until the child has called execve (or exited), the child
 * running on a stack of its own in our memory.
 *
 * Until execve the child may touch only its own stack and struct child, and
 * calls only system calls through syscall(2), never a libc function that
 * could take a lock or change state we share (a sanitizer's interceptor
 * included).  It puts back the default action of SIGINT and SIGTERM
 * (before unblocking anything: our handler must never run in it; execve
 * would reset a caught signal, but not an ignored one) and of SIGPIPE if we
 * were started with it ignored (SIGCHLD's handler does nothing for SIGCHLD,
 * and execve resets it), makes itself a process group, moves its
 * descriptors to 0, 1 and 2 (every other descriptor of ours is
 * close-on-exec), unblocks every signal, and executes.  If anything fails,
 * it leaves errno in `err` and exits 127; as we share its memory, we find
 * it there.
 */
struct child {
	const char *path;
	char *const *argv;
	int fd[3];
	bool reset_pipe;
	volatile int err;
};

static char child_stack[32768] __attribute__((aligned(64)));

/* ThreadSanitizer's interceptor of clone takes every clone for a fork and
 * resets its own state in the child, which here shares our memory and so
 * would reset ours.  Under it, glibc's own entry point is called instead:
 * the child runs no instrumented code, so there is nothing to tell it. */
#if defined(__SANITIZE_THREAD__)
#define PLUMB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PLUMB_TSAN 1
#endif
#endif
#ifdef PLUMB_TSAN
extern int __clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);
#define clone_vfork __clone
#else
#define clone_vfork clone
#endif

__attribute__((no_sanitize("address", "thread", "undefined"))) static int child_main(void *arg)
{
	struct child *c = arg;
	/* All zeros: SIG_DFL with no flags and an empty mask, whatever the
	 * layout of the kernel's struct sigaction. */
	unsigned long dfl[8] = {0}, none[2] = {0};
	static const int reset[] = {SIGINT, SIGTERM, SIGPIPE};
	for (size_t i = 0; i < (c->reset_pipe ? 3u : 2u); i++)
		if (syscall(SYS_rt_sigaction, reset[i], dfl, NULL, _NSIG / 8) < 0)
			goto fail;
	if (syscall(SYS_setpgid, 0, 0) < 0)
		goto fail;
	for (int fd = 0; fd < 3; fd++) {
		long r = c->fd[fd] == fd ? syscall(SYS_fcntl, fd, F_SETFD, 0)
		                         : syscall(SYS_dup3, c->fd[fd], fd, 0);
		if (r < 0)
			goto fail;
	}
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, none, NULL, _NSIG / 8) < 0)
		goto fail;
	syscall(SYS_execve, c->path, c->argv, environ);
fail:
	c->err = errno ? errno : EINVAL;
	syscall(SYS_exit_group, 127);
	return 127;
}

/* Starts the process that c describes: its pid, or -errno. */
static pid_t start_process(struct child *c)
{
	c->err = 0;
	pid_t pid = clone_vfork(child_main, child_stack + sizeof child_stack,
	                        CLONE_VM | CLONE_VFORK | SIGCHLD, c);
	if (pid < 0)
		return -errno;
	if (!c->err)
		return pid;
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return -c->err;
}

/* Spawns the job's process; on failure the job has ended with 127 (no such
 * command) or 126 (any other reason) and the reason in its stderr. */
static void spawn(struct state *s, struct job *j, char **argv, int out, int err)
{
	const char *path = s->o.shell ? argv[0] : s->o.exe;
	char *found = NULL;
	int rc = 0;
	if (!path && strchr(argv[0], '/'))
		path = argv[0];
	else if (!path && (rc = find_in_path(argv[0], &found)) == 0)
		path = found;
	j->runtime = mono_seconds();
	if (!rc) {
		struct child c = {.path = path,
		                  .argv = argv,
		                  .fd = {s->devnull, out, err},
		                  .reset_pipe = s->pipe_ignored};
		pid_t pid = start_process(&c);
		if (pid < 0)
			rc = (int)-pid;
		else
			j->pid = pid;
	}
	free(found);
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

/* --keep-order: prints the jobs at the head of the queue that have ended;
 * with --line-buffer the first one still running prints from now on. */
static void flush_order(struct state *s)
{
	while (s->order_head) {
		struct job *j = s->order_head;
		if (s->o.line_buffer && !j->live)
			go_live(s, j);
		if (!j->ended)
			break;
		s->order_head = j->next;
		if (!s->order_head)
			s->order_tail = NULL;
		s->in_order--;
		if (s->o.line_buffer) {
			emit_lines(s, j, 0, true);
			emit_lines(s, j, 1, true);
		} else {
			print_job(s, j, received(j));
		}
		free_job(s, j);
	}
}

/* Starts job j (a new one, or a retry that keeps its slot and place). */
static void start_job(struct state *s, struct job *j, bool retry)
{
	if (!retry)
		j->slot = take_slot(s);
	char **argv = build_argv(&s->o, j, s->want_command);
	if (s->o.dry_run) {
		printf("%s\n", j->command);
		give_slot(s, j->slot);
		free_argv(argv);
		free_job(s, j);
		return;
	}
	j->tries++;
	j->start = now();
	int out = -1, err = -1;
	if (s->o.line_buffer) {
		if (open_pipes(j, &out, &err) < 0) {
			warnx_("cannot create a pipe: %s", strerror(errno));
			s->own_error = 1;
			s->stopping = true;
			j->ended = true;
			j->status = 126;
		}
	} else if (!j->files) {
		j->files = take_files(s);
		if (!j->files) {
			warnx_("cannot create a temporary file in %s: %s", s->tmpdir,
			       strerror(errno));
			s->own_error = 1;
			s->stopping = true;
			j->ended = true;
			j->status = 126;
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
	if (!retry)
		j->live = !s->o.keep_order || s->order_head == j;
	if (j->files) {
		out = j->files->out;
		err = j->files->err;
	}
	if (!j->ended)
		spawn(s, j, argv, out, err);
	free_argv(argv);
	if (s->o.line_buffer && out >= 0) {
		close(out);
		close(err);
	}
	s->nrunning++;
	if (j->ended) {
		j->runtime = 0;
		for (int k = 0; k < 2; k++)
			close_pipe(s, j, k);
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

/*
 * --halt: after job j has ended (for good, retries done), whether enough
 * jobs have failed, succeeded or ended; if so, starts no more jobs and, with
 * `now`, kills the running ones (SIGTERM, SIGKILL a second later), whose
 * output is then neither printed nor logged.  The exit status, as GNU
 * parallel's: 0 after success=; else for a limit of one job, the status of
 * that job (128 + the signal if it was killed); for a percentage, the
 * percentage of all the jobs that failed, rounded up; else the number of
 * failed jobs, at most 101.  A percentage is of all the jobs (counted before
 * the first starts); fail=50% halts once half of them have failed.
 */
static void check_halt(struct state *s, const struct job *j)
{
	const struct opts *o = &s->o;
	if (o->halt == HALT_NEVER || s->halted)
		return;
	bool failed = j->status != 0;
	uint64_t n;
	const char *what;
	switch (o->halt_on) {
	case HALT_FAIL:
		n = s->failed;
		what = "failed";
		if (!failed)
			return;
		break;
	case HALT_SUCCESS:
		n = s->done - s->failed;
		what = "succeeded";
		if (failed)
			return;
		break;
	default:
		n = s->done;
		what = "ended";
		break;
	}
	double limit = o->halt_pct ? (double)s->total * ((double)o->halt_pct / 100)
	                           : (double)o->halt_count;
	if ((double)n < limit)
		return;
	warnx_("halting (%s): this job %s: %s", o->halt == HALT_NOW ? "now" : "soon", what,
	       j->command);
	s->halted = true;
	s->stopping = true;
	if (o->halt_on == HALT_SUCCESS)
		s->halt_status = 0;
	else if (limit == 1)
		s->halt_status = j->status > 0 ? j->status : j->signal ? 128 + j->signal : 0;
	else if (o->halt_pct)
		s->halt_status = (int)ceil((double)s->failed / (double)s->total * 100);
	else
		s->halt_status = s->failed > MAX_FAILED_STATUS ? MAX_FAILED_STATUS : (int)s->failed;
	if (o->halt != HALT_NOW)
		return;
	double t = mono_seconds();
	for (struct job *r = s->running; r; r = r->run_next) {
		kill(-r->pid, SIGTERM);
		r->killed = r->discard = true;
		r->deadline = t + 1;
	}
}

/* A job has ended: retry it, or account for it, log it and print it. */
static void finish(struct state *s, struct job *j)
{
	s->nrunning--;
	bool failed = j->status != 0;
	if (failed && j->tries < s->o.retries && !s->stopping && !j->discard &&
	    (!j->files || reset_files(j->files)) && (!j->spool || reset_files(j->spool))) {
		j->ended = false;
		j->killed = false;
		j->status = -1;
		j->signal = 0;
		j->received = 0;
		if (!j->live)
			j->plen[0] = j->plen[1] = 0;
		free(j->command);
		j->command = NULL;
		start_job(s, j, true);
		return;
	}
	j->ended = true;
	s->done++;
	if (failed)
		s->failed++;
	off_t receive = received(j);
	if (!j->discard)
		log_job(s, j, receive);
	give_slot(s, j->slot);
	if (s->o.keep_order) {
		check_halt(s, j);
		flush_order(s);
		return;
	}
	print_job(s, j, receive);
	check_halt(s, j);
	free_job(s, j);
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
		j->runtime = mono_seconds() - j->runtime;
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
	double t = mono_seconds(), next = 0;
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
	double t = mono_seconds();
	if (!force && t - s->bar_at < 0.1)
		return;
	s->bar_at = t;
	uint64_t total = s->total > s->nskip ? s->total - s->nskip : 0;
	double pct = total ? 100.0 * (double)s->done / (double)total : 100;
	char eta[32] = "?";
	if (s->done)
		snprintf(eta, sizeof eta, "%.0fs",
		         (t - s->started_at) / (double)s->done *
		                 (double)(total > s->done ? total - s->done : 0));
	fprintf(stderr,
	        "\r%3.0f%% %" PRIu64 "/%" PRIu64 " done, %zu running, %" PRIu64
	        " failed, ETA %s\033[K",
	        pct, s->done, total, s->nrunning, s->failed, eta);
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
		if (!*fds || !*owner)
			out_of_memory();
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

/* The time from now to @when (mono_seconds), 0 if it has passed. */
static struct timespec timespec_until(double when)
{
	double d = when - mono_seconds();
	if (d < 0)
		d = 0;
	return (struct timespec){(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
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
			ts = timespec_until(next);
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

/* Signals every process whose parent is plumb (jobs' orphans included:
 * plumb is their subreaper), as /proc lists them; false when none. */
static bool signal_children(int sig)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)syscall(SYS_gettid));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	/* The list may take many reads (a read gives about a page): each pid
	 * ends with a space, and one cut off at the end of a read is kept for
	 * the next. */
	bool any = false;
	size_t have = 0;
	ssize_t n;
	while ((n = read(fd, buf + have, sizeof buf - have)) > 0) {
		char *p = buf, *stop = buf + have + n, *sp;
		while ((sp = memchr(p, ' ', (size_t)(stop - p)))) {
			long pid = strtol(p, NULL, 10);
			if (pid > 0 && kill((pid_t)pid, sig) == 0)
				any = true;
			p = sp + 1;
		}
		have = (size_t)(stop - p);
		memmove(buf, p, have);
	}
	close(fd);
	return any;
}

/*
 * After a SIGINT or SIGTERM (or --halt now): the jobs are reaped, but what
 * they started in the background may still be dying, or may have ignored
 * the signal (or swallowed it, a shell's child caught between fork and
 * exec).  plumb is their subreaper, so they are its children now: each
 * gets a SIGTERM, a second later a SIGKILL, and plumb returns only once it
 * has reaped the last of them.  Nothing is left running behind it.
 */
static void reap_orphans(const sigset_t *unblocked)
{
	int sig = SIGTERM, st;
	double deadline = 0;
	for (;;) {
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			;
		if (pid < 0) /* ECHILD: none left */
			return;
		if (mono_seconds() >= deadline) {
			if (!sig) /* a second after the SIGKILL: give up on them */
				return;
			if (!signal_children(sig) && sig == SIGKILL)
				return; /* none that /proc can name */
			sig = sig == SIGTERM ? SIGKILL : 0;
			deadline = mono_seconds() + 1;
			continue;
		}
		struct timespec ts = timespec_until(deadline);
		ppoll(NULL, 0, &ts, unblocked);
		caught = 0;
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
		FILE *f = fopen(s->o.joblog, "re");
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
	s->joblog = fopen(s->o.joblog, append_mode ? "ae" : "we");
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

/* The most jobs the open-file limit allows (`per_job` descriptors each),
 * raising the soft limit to the hard one first. */
static size_t fd_room(size_t per_job)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 64 / per_job;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Keep 16 for stdio, the joblog, /dev/null, the input files and the
	 * pipes of a spawn. */
	return rl.rlim_cur > 16 + per_job ? (size_t)(rl.rlim_cur - 16) / per_job : 1;
}

/* Looks a fixed command name up in PATH once, so that each job does not
 * walk PATH again; NULL (each job then looks) if there is nothing to find
 * once: a name with a slash, a placeholder, or not found. */
static char *find_exe(const char *name)
{
	struct ph ph;
	if (strchr(name, '/') || !*name)
		return NULL;
	for (const char *p = name; *p; p++)
		if (placeholder(p, &ph))
			return NULL;
	char *path;
	return find_in_path(name, &path) == 0 ? path : NULL;
}

/* Copies a source that cannot be rewound (a pipe, a terminal) to an
 * unlinked temporary file, and reads that instead. */
static int spool_source(struct state *s, struct source *src)
{
	int fd = tmpfile_fd(s->tmpdir);
	if (fd < 0) {
		warnx_("cannot create a temporary file in %s: %s", s->tmpdir, strerror(errno));
		return -1;
	}
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, src->f)) > 0) {
		if (!write_all(fd, buf, n)) {
			warnx_("copying %s to a temporary file in %s: %s", src->name, s->tmpdir,
			       strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (ferror(src->f)) {
		warnx_("reading the inputs from %s: %s", src->name, strerror(errno ? errno : EIO));
		close(fd);
		return -1;
	}
	if (src->f != stdin)
		fclose(src->f);
	src->f = fdopen(fd, "r");
	if (!src->f) {
		warnx_("reading %s back: %s", src->name, strerror(errno));
		close(fd);
		return -1;
	}
	src->origin = 0;
	return fseeko(src->f, 0, SEEK_SET);
}

/*
 * Opens the input sources (standard input when none is given).  A source
 * that will be read more than once (a later one of a combination, any with
 * --link, all when `count`) is rewound: a regular file in place, anything
 * else copied to a temporary file first.
 */
static int open_sources(struct state *s, bool count)
{
	struct opts *o = &s->o;
	struct input *in = &s->in;
	struct source_arg stdin_arg = {.file = "-"};
	in->nsrc = o->nsrcs ? o->nsrcs : 1;
	in->src = calloc((size_t)in->nsrc, sizeof *in->src);
	if (!in->src)
		out_of_memory();
	in->link = o->link;
	in->delim = o->null ? 0 : '\n';
	for (int i = 0; i < in->nsrc; i++) {
		const struct source_arg *a = o->nsrcs ? &o->srcs[i] : &stdin_arg;
		struct source *src = &in->src[i];
		src->linked = i > 0 && a->linked;
		if (!a->file) {
			src->words = a->words;
			src->nwords = a->nwords;
			src->name = ":::";
			continue;
		}
		bool std = !strcmp(a->file, "-");
		src->name = std ? "standard input" : a->file;
		src->f = std ? stdin : fopen(a->file, "re");
		struct stat st = {0};
		if (src->f && fstat(fileno(src->f), &st) == 0 && S_ISDIR(st.st_mode)) {
			if (!std)
				fclose(src->f);
			src->f = NULL;
			errno = EISDIR;
		}
		if (!src->f) {
			warnx_("cannot read %s: %s", a->file, strerror(errno));
			return -1;
		}
		bool again = count || (in->nsrc > 1 && (in->link || group_start(in, i + 1) > 0));
		src->origin = -1;
		if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
			src->origin = ftello(src->f);
		if (again && src->origin < 0 && spool_source(s, src) < 0)
			return -1;
	}
	return 0;
}

/* Counts the records of source s, then rewinds it. */
static int64_t count_records(struct input *in, struct source *src)
{
	if (!src->f)
		return src->nwords;
	int64_t n = 0;
	char *v;
	int r;
	while ((r = src_read(in, src, &v)) > 0) {
		free(v);
		n++;
	}
	if (r < 0 || src_rewind(in, src) < 0)
		return -1;
	return n;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* --bar and --halt N%: the number of jobs in all, from the number of
 * records of each source, in s->total. */
static int count_jobs(struct state *s)
{
	struct input *in = &s->in;
	uint64_t most = 0, product = 1, group = UINT64_MAX;
	for (int i = 0; i < in->nsrc; i++) {
		int64_t n = count_records(in, &in->src[i]);
		if (n < 0)
			return -1;
		uint64_t len = (uint64_t)n;
		most = len > most ? len : most;
		/* An empty source stands for one empty input, unless all are. */
		len = len ? len : 1;
		if (i > 0 && !in->src[i].linked) {
			product = mul_sat(product, group);
			group = UINT64_MAX;
		}
		group = len < group ? len : group;
	}
	product = mul_sat(product, group);
	uint64_t inputs = most == 0 ? 0 : in->link ? most : product;
	s->total = inputs / s->o.max_args + (inputs % s->o.max_args != 0);
	return 0;
}

static int setup(struct state *s)
{
	const char *t = getenv("TMPDIR");
	s->tmpdir = t && *t ? t : "/tmp";
	s->bar = s->o.bar && !s->o.dry_run && isatty(STDERR_FILENO);
	bool count = s->bar || s->o.halt_pct;
	if (open_sources(s, count) < 0 || (count && count_jobs(s) < 0))
		return -1;
	s->started_at = mono_seconds();
	s->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->devnull < 0) {
		warnx_("/dev/null: %s", strerror(errno));
		return -1;
	}
	if (s->o.joblog && !s->o.dry_run && open_joblog(s) < 0)
		return -1;
	s->want_command = s->o.joblog || s->o.dry_run || s->o.halt != HALT_NEVER || s->o.timeout;
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
	for (int i = 0; s->in.src && i < s->in.nsrc; i++) {
		struct source *src = &s->in.src[i];
		if (src->f && src->f != stdin)
			fclose(src->f);
		free(src->cur);
	}
	free(s->in.src);
	if (s->devnull >= 0)
		close(s->devnull);
	free(s->in.line);
	free(s->free_slots);
	free(s->skip);
	free(s->o.exe);
	free(s->o.srcs);
}

/* Descriptors 0, 1 and 2 are open (on /dev/null if they were not), so that
 * none of ours takes their place and is lost when a job's are set up. */
static void std_fds_open(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int n = open("/dev/null", fd ? O_WRONLY : O_RDONLY);
		if (n >= 0 && n != fd)
			close(n);
	}
}

/*
 * The exit status when no signal stopped plumb and --halt did not
 * trigger: the number of failed jobs (at most 101), or with --halt N% that
 * the failed are of the jobs run, as a percentage rounded up (as GNU
 * parallel).
 */
static int exit_status(const struct state *s)
{
	if (s->o.halt != HALT_NEVER && s->o.halt_pct)
		return (int)ceil((double)s->failed / (double)(s->done ? s->done : 1) * 100);
	return s->failed > MAX_FAILED_STATUS ? MAX_FAILED_STATUS : (int)s->failed;
}

int cmd_batch(int argc, char **argv)
{
	struct state s = {.devnull = -1};
	std_fds_open();
	int rc = parse_opts(argc, argv, &s.o);
	if (rc) {
		free(s.o.srcs);
		return rc > 0 ? 0 : EXIT_OWN;
	}
	if (setup(&s) < 0) {
		teardown(&s);
		return EXIT_OWN;
	}
	if (!s.o.shell)
		s.o.exe = find_exe(s.o.cmd[0]);
	size_t limit = s.o.batch ? s.o.batch : s.o.jobs;
	/* Two descriptors a job; with --line-buffer -k two more for the
	 * output a job writes before its turn. */
	s.room = fd_room(s.o.line_buffer && s.o.keep_order ? 4 : 2);
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
	struct sigaction pipe_sa;
	s.pipe_ignored = sigaction(SIGPIPE, NULL, &pipe_sa) < 0 || pipe_sa.sa_handler == SIG_IGN;
	sigset_t unblocked = old;
	sigdelset(&unblocked, SIGCHLD);
	sigdelset(&unblocked, SIGINT);
	sigdelset(&unblocked, SIGTERM);

	/* What a job leaves behind when it dies becomes ours to reap, so that
	 * stopping can wait for it (reap_orphans). */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	run(&s, limit, &unblocked);
	if (s.stop_signal || (s.halted && s.o.halt == HALT_NOW))
		reap_orphans(&unblocked);

	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGCHLD, &old_chld, NULL);
	if (s.in.failed)
		s.own_error = 1;
	if (fflush(stdout) != 0)
		s.own_error = 1;
	teardown(&s);
	if (s.stop_signal)
		return 128 + s.stop_signal;
	if (s.halted)
		return s.halt_status;
	if (s.own_error)
		return EXIT_OWN;
	return exit_status(&s);
}
