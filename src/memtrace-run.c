/*
 * memtrace-run.c - `plumb memtrace run`: run a program under the tracer,
 * then print a short report of its trace on standard error.
 *
 * The tracer is libplumb-memtrace.so, loaded into the program with
 * LD_PRELOAD; everything else it is told through the environment (the
 * contract is in the memtrace plan: PLUMB_MEMTRACE=1, _OUTPUT the exact
 * file, _ROOT the pid that writes exactly that file, _FRAMES, _INTERVAL in
 * ms, _SIGNAL, _SAMPLE, _UNWIND).  This process never loads the tracer: it
 * forks, sets the environment in the child, and execs the program there.
 *
 * While the program runs this process only waits.  A SIGINT, SIGTERM,
 * SIGHUP or SIGQUIT sent to it by another process (kill) is passed on to
 * the program; one the terminal sends reaches the program by itself, as it
 * is in the same process group, so it is not sent twice.  The exit status
 * is the program's, 128 + N when signal N ended it, and as a shell's 127
 * when the program is not found, 126 when it cannot be executed.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "memtrace.h"

#ifndef PLUMB_LIBDIR
#define PLUMB_LIBDIR "/usr/local/lib"
#endif

#define TRACER_NAME "libplumb-memtrace.so"

enum { EXIT_NOT_FOUND = 127, EXIT_NOT_EXECUTABLE = 126, DEFAULT_FRAMES = 64, RUN_TOP = 5 };

static const char *const help_run =
        "Usage: plumb memtrace run [OPTION]... [--] PROG [ARG]...\n"
        "Run PROG with every malloc, calloc, realloc, free... traced, then print on\n"
        "standard error its peak heap and when, what it leaked, its top allocation\n"
        "sites and the trace file's name.  The exit status is PROG's.\n\n"
        "  -F, --frames N        keep up to N frames of each stack (1-256, default 64)\n"
        "  -i, --interval T      also take a snapshot every T (500ms, 1s, 2.5s, 1m)\n"
        "      --signal SIG      take a snapshot on SIG (USR2 by default; none)\n"
        "      --sample BYTES    record one allocation per BYTES on average (64K...);\n"
        "                          totals stay unbiased, at a fraction of the cost\n"
        "      --unwind HOW      auto (CFI tables, the default) or fp (frame pointers)\n"
        "  -o, --output FILE     the trace file (default memtrace.PROG.PID.pmt; %p is\n"
        "                          the pid, %e the program's name)\n"
        "  -n, --top N           show the N biggest sites and leaks (default 5)\n"
        "  -q, --quiet           print no report\n"
        "  -h, --help            show this help\n\n"
        "Children the program starts are traced too, each into FILE.PID.\n";

struct run_opts {
	unsigned frames;
	uint64_t interval_ms;
	bool interval_set;
	const char *signal, *unwind, *output;
	uint64_t sample;
	bool sample_set, quiet;
	size_t top;
	char **prog;
};

/* ---- Options ---- */

/* "500ms", "1s", "2.5s", "1m", or seconds; in milliseconds. */
static bool parse_interval(const char *s, uint64_t *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || !isfinite(v) || !isdigit((unsigned char)*s))
		return false;
	double scale;
	if (!*end || !strcmp(end, "s"))
		scale = 1000;
	else if (!strcmp(end, "ms"))
		scale = 1;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		scale = 60000;
	else
		return false;
	double r = v * scale;
	if (r > 1e12 || (r > 0 && r < 1))
		return false;
	*ms = (uint64_t)llround(r);
	return true;
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
        {"HUP", SIGHUP},       {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
        {"USR2", SIGUSR2},     {"ALRM", SIGALRM},   {"TERM", SIGTERM}, {"PROF", SIGPROF},
        {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH}, {"URG", SIGURG},   {"PWR", SIGPWR},
        {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"CHLD", SIGCHLD}, {"CONT", SIGCONT},
};

/* A signal name (USR2, SIGUSR2, RTMIN+3), number, or "none", as the number
 * the tracer is given ("none" stays "none"); false if it is none of them. */
static bool parse_signal(const char *s, char *out, size_t len)
{
	uint64_t v;
	if (!strcasecmp(s, "none")) {
		snprintf(out, len, "none");
		return true;
	}
	if (parse_uint(s, (uint64_t)SIGRTMAX, &v) && v > 0 && v != SIGKILL && v != SIGSTOP) {
		snprintf(out, len, "%d", (int)v);
		return true;
	}
	const char *n = strncasecmp(s, "SIG", 3) ? s : s + 3;
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		if (!strcasecmp(n, signals[i].name)) {
			snprintf(out, len, "%d", signals[i].sig);
			return true;
		}
	}
	if (!strncasecmp(n, "RTMIN", 5)) {
		uint64_t off = 0;
		if (n[5] && (n[5] != '+' || !parse_uint(n + 6, 64, &off)))
			return false;
		if (SIGRTMIN + (int)off > SIGRTMAX)
			return false;
		snprintf(out, len, "%d", SIGRTMIN + (int)off);
		return true;
	}
	return false;
}

static const struct option long_options[] = {
        {"frames", required_argument, NULL, 'F'}, {"interval", required_argument, NULL, 'i'},
        {"signal", required_argument, NULL, 'S'}, {"sample", required_argument, NULL, 'P'},
        {"unwind", required_argument, NULL, 'U'}, {"output", required_argument, NULL, 'o'},
        {"top", required_argument, NULL, 'n'},    {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {0},
};

static char signal_arg[16];

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct run_opts *o)
{
	int c;
	uint64_t v;
	*o = (struct run_opts){.frames = DEFAULT_FRAMES, .top = RUN_TOP};
	optind = 1;
	opterr = 0;
	/* '+': the options end at PROG, whose own options are its business. */
	while ((c = getopt_long(argc, argv, "+:F:i:o:n:qh", long_options, NULL)) != -1) {
		const char *opt = argv[optind - 1];
		switch (c) {
		case 'h':
			fputs(help_run, stdout);
			return 0;
		case 'F':
			if (!parse_uint(optarg, 256, &v) || v < 1)
				return mt_usage_error("run",
				                      "--frames needs a number from 1 to 256, "
				                      "not '%s'",
				                      optarg);
			o->frames = (unsigned)v;
			break;
		case 'i':
			if (!parse_interval(optarg, &o->interval_ms))
				return mt_usage_error(
				        "run", "bad --interval '%s' (500ms, 1s, 2.5s, 1m...)",
				        optarg);
			o->interval_set = true;
			break;
		case 'S':
			if (!parse_signal(optarg, signal_arg, sizeof signal_arg))
				return mt_usage_error(
				        "run", "unknown signal '%s' (USR2, 12, none...)", optarg);
			o->signal = signal_arg;
			break;
		case 'P':
			if (!parse_size(optarg, &o->sample))
				return mt_usage_error(
				        "run", "bad --sample '%s' (bytes: 4096, 64K...)", optarg);
			o->sample_set = true;
			break;
		case 'U':
			if (strcmp(optarg, "auto") && strcmp(optarg, "fp"))
				return mt_usage_error("run", "unknown --unwind '%s' (auto, fp)",
				                      optarg);
			o->unwind = optarg;
			break;
		case 'o':
			if (!*optarg)
				return mt_usage_error("run", "empty --output");
			o->output = optarg;
			break;
		case 'n':
			if (!mt_parse_top(optarg, &o->top))
				return mt_usage_error("run", "--top needs a number, not '%s'",
				                      optarg);
			break;
		case 'q':
			o->quiet = true;
			break;
		case ':':
			return mt_usage_error("run", "option '%s' needs a value", opt);
		default:
			if (optopt)
				return mt_usage_error("run", "unknown option '-%c'", optopt);
			return mt_usage_error("run", "unknown option '%s'", opt);
		}
	}
	if (optind >= argc)
		return mt_usage_error("run", "missing PROG (the program to trace)");
	o->prog = argv + optind;
	return -1;
}

/* ---- The tracer library and the trace file's name ---- */

/* Where libplumb-memtrace.so is: $PLUMB_MEMTRACE_LIB, the build tree beside
 * this program, or the library folder it was installed for.  Returns a
 * malloc'ed absolute path, or NULL after a message. */
static char *find_tracer(void)
{
	const char *env = getenv("PLUMB_MEMTRACE_LIB");
	char self[PATH_MAX], path[PATH_MAX + 64];
	if (env && *env) {
		char *abs = realpath(env, NULL);
		if (!abs || access(abs, R_OK) != 0) {
			warnx_("PLUMB_MEMTRACE_LIB=%s: %s", env, strerror(errno));
			free(abs);
			return NULL;
		}
		return abs;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof path, "%s/../lib/memtrace/" TRACER_NAME, self);
			char *abs = realpath(path, NULL);
			if (abs && access(abs, R_OK) == 0)
				return abs;
			free(abs);
		}
	}
	snprintf(path, sizeof path, "%s/" TRACER_NAME, PLUMB_LIBDIR);
	if (access(path, R_OK) == 0)
		return strdup(path);
	warnx_("cannot find the tracer, %s (looked beside this program and in %s; "
	       "PLUMB_MEMTRACE_LIB may name it)",
	       TRACER_NAME, PLUMB_LIBDIR);
	return NULL;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The trace file's name for the process @pid of program @prog: the
 * --output pattern with %p and %e replaced, or memtrace.PROG.PID.pmt. */
static char *output_name(const char *pattern, pid_t pid, const char *prog)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	if (!pattern) {
		fprintf(f, "memtrace.%s.%ld.pmt", base_name(prog), (long)pid);
	} else {
		for (const char *p = pattern; *p; p++) {
			if (p[0] == '%' && p[1] == 'p') {
				fprintf(f, "%ld", (long)pid);
				p++;
			} else if (p[0] == '%' && p[1] == 'e') {
				fputs(base_name(prog), f);
				p++;
			} else {
				fputc(*p, f);
			}
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* @name made absolute against the current folder (the program may change
 * folders before it writes). */
static char *absolute(const char *name)
{
	if (name[0] == '/')
		return strdup(name);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	size_t n = strlen(cwd) + strlen(name) + 2;
	char *r = malloc(n);
	if (r)
		snprintf(r, n, "%s/%s", cwd, name);
	free(cwd);
	return r;
}

/* Refuses an --output whose folder cannot be written, before the program
 * runs for nothing. */
static bool check_output_dir(const char *name)
{
	char *copy = strdup(name);
	if (!copy)
		return false;
	char *slash = strrchr(copy, '/');
	const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
	struct stat st;
	const char *why = NULL;
	if (stat(dir, &st) != 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a folder";
	else if (access(dir, W_OK | X_OK) != 0)
		why = strerror(errno);
	if (why)
		warnx_("cannot write the trace file %s: %s: %s", name, dir, why);
	bool ok = !why;
	free(copy);
	return ok;
}

/* ---- Running the program ---- */

static volatile sig_atomic_t child_pid;

/* Passes a signal another process sent us on to the program; one the
 * terminal sent (SI_KERNEL) has reached the program already. */
static void forward(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	if (child_pid > 0 && info->si_code != SI_KERNEL && info->si_pid != child_pid)
		kill(child_pid, sig);
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void set_forwarding(bool on)
{
	struct sigaction sa = {0};
	sigemptyset(&sa.sa_mask);
	if (on) {
		sa.sa_sigaction = forward;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
	} else {
		sa.sa_handler = SIG_DFL;
	}
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaction(forwarded[i], &sa, NULL);
}

static int setenv_u64(const char *name, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRIu64, v);
	return setenv(name, buf, 1);
}

/* In the child: the tracer's environment, then the program.  Reports an
 * exec failure's errno through @fd. */
static void __attribute__((noreturn)) child(const struct run_opts *o, const char *tracer, int fd)
{
	pid_t pid = getpid();
	char *name = output_name(o->output, pid, o->prog[0]);
	char *path = name ? absolute(name) : NULL;
	const char *old = getenv("LD_PRELOAD");
	char *preload = NULL;
	int e = ENOMEM;
	if (!path)
		goto fail;
	if (old && *old) {
		size_t n = strlen(tracer) + strlen(old) + 2;
		if (!(preload = malloc(n)))
			goto fail;
		snprintf(preload, n, "%s:%s", tracer, old);
	}
	if (setenv("LD_PRELOAD", preload ? preload : tracer, 1) ||
	    setenv("PLUMB_MEMTRACE", "1", 1) || setenv("PLUMB_MEMTRACE_OUTPUT", path, 1) ||
	    setenv_u64("PLUMB_MEMTRACE_ROOT", (uint64_t)pid) ||
	    setenv_u64("PLUMB_MEMTRACE_FRAMES", o->frames) ||
	    (o->interval_set && setenv_u64("PLUMB_MEMTRACE_INTERVAL", o->interval_ms)) ||
	    (o->signal && setenv("PLUMB_MEMTRACE_SIGNAL", o->signal, 1)) ||
	    (o->sample_set && setenv_u64("PLUMB_MEMTRACE_SAMPLE", o->sample)) ||
	    (o->unwind && setenv("PLUMB_MEMTRACE_UNWIND", o->unwind, 1)))
		goto fail;
	execvp(o->prog[0], o->prog);
	e = errno;
fail:
	if (write(fd, &e, sizeof e) < 0) {
		/* The parent then sees the exit status alone. */
	}
	_exit(e == ENOENT || e == ENOTDIR ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE);
}

/* ---- The report ---- */

/* Prints the top @top lines of @s by lineno, indented. */
static void print_top(const plumb_memtrace_snapshot *s, size_t top)
{
	plumb_memtrace_stats *st =
	        plumb_memtrace_snapshot_statistics(s, PLUMB_MEMTRACE_BY_LINENO, false);
	if (!st) {
		fprintf(stderr, "    (cannot compute the statistics: %s)\n", strerror(errno));
		return;
	}
	size_t n = top && top < st->n ? top : st->n;
	for (size_t i = 0; i < n; i++)
		mt_print_stat(stderr, "    ", &st->stats[i]);
	if (n < st->n)
		fprintf(stderr, "    ... and %zu more\n", st->n - n);
	if (st->n == 0)
		fprintf(stderr, "    (none)\n");
	plumb_memtrace_stats_free(st);
}

/* A section of the report: the top sites of snapshot @k of @t. */
static void report_snapshot(const struct pmt_trace *t, long k, const char *path, size_t top,
                            const char *title)
{
	plumb_memtrace_snapshot *s = pmt_trace_snapshot(t, (size_t)k);
	if (!s) {
		fprintf(stderr, "  %s: cannot read snapshot %ld of %s: %s\n", title, k, path,
		        strerror(errno));
		return;
	}
	size_t size, count;
	plumb_memtrace_snapshot_size(s, &size, &count);
	fprintf(stderr, "  %s (snapshot %ld, %s in %zu block%s):\n", title, k,
	        mt_size((double)size).s, count, count == 1 ? "" : "s");
	print_top(s, top);
	plumb_memtrace_snapshot_free(s);
}

/* Lists NAME.<pid> files beside the trace, written since @since. */
static void report_children(const char *abs, const char *shown, time_t since)
{
	char *copy = strdup(abs);
	if (!copy)
		return;
	char *slash = strrchr(copy, '/');
	*slash = '\0';
	const char *dir = copy[0] ? copy : "/", *base = slash + 1;
	size_t blen = strlen(base);
	DIR *d = opendir(dir);
	size_t found = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *p = e->d_name;
		if (strncmp(p, base, blen) || p[blen] != '.' || !p[blen + 1])
			goto next;
		for (const char *q = p + blen + 1; *q; q++)
			if (!isdigit((unsigned char)*q))
				goto next;
		struct stat st;
		if (fstatat(dirfd(d), p, &st, 0) != 0 || st.st_mtime < since)
			goto next;
		fprintf(stderr, "%s %s%s\n", found++ ? "      " : "  children's traces:", shown,
		        p + blen);
	next:;
	}
	if (d)
		closedir(d);
	free(copy);
}

static void report(const char *abs, const char *shown, const struct run_opts *o, time_t since)
{
	char err[512] = "";
	struct pmt_trace *t = pmt_trace_read(abs, err, sizeof err);
	if (!t) {
		if (errno == ENOENT)
			fprintf(stderr,
			        "plumb memtrace: no trace file %s was written (a statically linked "
			        "program, or one that clears LD_PRELOAD, cannot be traced)\n",
			        shown);
		else
			fprintf(stderr, "plumb memtrace: %s\n", err[0] ? err : strerror(errno));
		return;
	}
	if (t->has_summary) {
		const struct pmt_summary *m = &t->summary;
		fprintf(stderr, "  peak heap: %s (%" PRIu64 " bytes) at %.3f s\n",
		        mt_size((double)m->peak).s, m->peak, m->peak_t_ns / 1e9);
		fprintf(stderr, "  leaked at exit: %s (%" PRIu64 " bytes) in %" PRIu64 " block%s\n",
		        mt_size((double)m->leaked_bytes).s, m->leaked_bytes, m->leaked_blocks,
		        m->leaked_blocks == 1 ? "" : "s");
		fprintf(stderr,
		        "  allocations: %" PRIu64 " (%" PRIu64 " freed), %s requested in all; "
		        "tracer memory %s\n",
		        m->allocs, m->frees, mt_size((double)m->bytes_allocated).s,
		        mt_size((double)m->tracer_memory).s);
	} else {
		uint64_t peak, when;
		mt_trace_peak(t, &peak, &when);
		fprintf(stderr, "  the trace ends early (the program did not exit normally)\n");
		fprintf(stderr, "  peak heap seen: %s (%" PRIu64 " bytes) by %.3f s\n",
		        mt_size((double)peak).s, peak, when / 1e9);
	}
	if (t->sample_bytes)
		fprintf(stderr,
		        "  sampled: one sampling point per %s allocated, on average; sizes and counts "
		        "are estimates\n",
		        mt_size((double)t->sample_bytes).s);
	long kpeak = pmt_trace_find(t, PMT_SNAP_PEAK), kexit = pmt_trace_find(t, PMT_SNAP_EXIT);
	if (kpeak >= 0)
		report_snapshot(t, kpeak, shown, o->top, "top allocation sites at the peak");
	else if (t->nsnapshots)
		report_snapshot(t, (long)t->nsnapshots - 1, shown, o->top,
		                "top allocation sites at the last snapshot");
	if (kexit >= 0)
		report_snapshot(t, kexit, shown, o->top, "top leaks");
	fprintf(stderr, "  trace: %s\n", shown);
	report_children(abs, shown, since);
	pmt_trace_free(t);
}

static void describe_end(const char *prog, int status, double secs)
{
	if (WIFEXITED(status))
		fprintf(stderr, "plumb memtrace: %s exited with status %d after %.3f s\n", prog,
		        WEXITSTATUS(status), secs);
	else if (WIFSIGNALED(status))
		fprintf(stderr, "plumb memtrace: %s was killed by signal %d (%s) after %.3f s\n",
		        prog, WTERMSIG(status), strsignal(WTERMSIG(status)), secs);
}

int mt_cmd_run(int argc, char **argv)
{
	struct run_opts o;
	int rc = parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (o.output && !check_output_dir(o.output))
		return MT_EXIT_FAIL;
	char *tracer = find_tracer();
	if (!tracer)
		return MT_EXIT_FAIL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		warnx_("pipe: %s", strerror(errno));
		free(tracer);
		return MT_EXIT_FAIL;
	}
	time_t since = time(NULL) - 1;
	double t0 = mono_seconds();
	fflush(NULL);
	set_forwarding(true);
	pid_t pid = fork();
	if (pid < 0) {
		warnx_("fork: %s", strerror(errno));
		set_forwarding(false);
		close(pfd[0]);
		close(pfd[1]);
		free(tracer);
		return MT_EXIT_FAIL;
	}
	if (pid == 0) {
		set_forwarding(false);
		close(pfd[0]);
		child(&o, tracer, pfd[1]);
	}
	child_pid = pid;
	close(pfd[1]);
	free(tracer);

	int e = 0;
	ssize_t n;
	while ((n = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			warnx_("waitpid: %s", strerror(errno));
			set_forwarding(false);
			return MT_EXIT_FAIL;
		}
	}
	double secs = mono_seconds() - t0;
	child_pid = 0;
	set_forwarding(false);
	if (n == (ssize_t)sizeof e) {
		warnx_("cannot run '%s': %s", o.prog[0], strerror(e));
		return e == ENOENT || e == ENOTDIR ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
	}
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (o.quiet)
		return rc;
	char *shown = output_name(o.output, pid, o.prog[0]);
	char *abs = shown ? absolute(shown) : NULL;
	describe_end(o.prog[0], status, secs);
	if (abs)
		report(abs, shown, &o, since);
	free(shown);
	free(abs);
	return rc;
}
