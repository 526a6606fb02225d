/*
 * tracer.c - the tracer's global state: the environment, start-up, exit,
 * fork.
 *
 * Start-up.  With LD_PRELOAD the first malloc can come before any
 * constructor of ours has run (libdw's constructors, and a C++ program's libstdc++'s, run
 * first, and they allocate).  So the first hook call initialises what
 * tracing needs - the configuration from the environment and the clock -
 * with nothing but reads and a CAS; tables and rings are mapped on first
 * use.  If libc has not set environ yet, the environment is read where the
 * kernel put it, after argv on the initial stack.  The constructor then
 * does what a hook must not: the fork handlers, the snapshot signal, the
 * writer thread.
 *
 * Exit.  The destructor (the library is preloaded, so it runs after the
 * program's own) or _exit asks the writer for the final drain and the PEAK
 * and EXIT snapshots, the summary and a closed file; tracing stops there.
 * A program killed by a signal leaves the file as of its last flush.
 *
 * fork.  The prepare handler takes every lock a hook or the writer may
 * hold, so the child starts with consistent tables; the child re-creates
 * the locks, retires the rings of the threads that did not follow it, and
 * starts a writer of its own on a file of its own.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer.h"

struct mt_hot mt_hot = {
        .state = MT_UNINIT,
        .frame_limit = 1,
        .gen = 1,
        .efd = -1,
};
struct mt_config mt_cfg;

extern char **__environ;
extern void *__libc_stack_end;

const char *mt_env(const char *name)
{
	char **env = __environ;
	size_t n = strlen(name);

	if (!env) {
		long *sp = __libc_stack_end; /* argc, argv[argc], NULL, envp[] */

		if (!sp)
			return NULL;
		env = (char **)(sp + 1 + sp[0] + 1);
	}
	for (; *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* "USR2", "SIGUSR2", "12" or "none" (0); -1 when absent or unknown. */
static int parse_signal(const char *s)
{
	uint64_t n;

	if (!s || !*s)
		return -1;
	if (!strcmp(s, "none") || !strcmp(s, "0"))
		return 0;
	if (parse_u64(s, &n))
		return n > 0 && n < (uint64_t)NSIG ? (int)n : -1;
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *name = sigabbrev_np(i);

		if (name && !strcmp(name, s))
			return i;
	}
	return -1;
}

static void read_config(void)
{
	const char *v = mt_env("PLUMB_MEMTRACE");
	uint64_t n;

	mt_cfg.enabled = v && !strcmp(v, "1");
	mt_cfg.frames = 64;
	if (parse_u64(mt_env("PLUMB_MEMTRACE_FRAMES"), &n) && n >= 1 && n <= MT_MAX_FRAMES)
		mt_cfg.frames = (int)n;
	if (!parse_u64(mt_env("PLUMB_MEMTRACE_INTERVAL"), &mt_cfg.interval_ms))
		mt_cfg.interval_ms = 0;
	v = mt_env("PLUMB_MEMTRACE_SIGNAL");
	mt_cfg.signo = v ? parse_signal(v) : -1;
	if (!parse_u64(mt_env("PLUMB_MEMTRACE_SAMPLE"), &mt_cfg.sample))
		mt_cfg.sample = 0;
	v = mt_env("PLUMB_MEMTRACE_UNWIND");
	mt_cfg.fp = v && !strcmp(v, "fp");
	v = mt_env("PLUMB_MEMTRACE_OUTPUT");
	mt_cfg.output = v && *v ? v : NULL;
	if (!parse_u64(mt_env("PLUMB_MEMTRACE_ROOT"), &n))
		n = 0;
	mt_cfg.root = (long)n;
}

bool mt_init_lazy(void)
{
	int expected = MT_UNINIT, saved = errno;

	if (!__atomic_compare_exchange_n(&mt_hot.state, &expected, MT_INITING, false,
	                                 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return expected == MT_ON;
	read_config();
	mt_clock_init();
	mt_hot.fp = mt_cfg.fp;
	mt_hot.sampled = mt_cfg.sample > 0;
	mt_hot.sample_avg = mt_cfg.sample;
	if (mt_cfg.enabled)
		mt_hot.frame_limit = mt_cfg.frames;
	MT_STORE(&mt_hot.state, mt_cfg.enabled ? MT_ON : MT_OFF);
	errno = saved;
	return mt_cfg.enabled;
}

static void ensure_init(void)
{
	while (MT_LOAD(&mt_hot.state) == MT_UNINIT || MT_LOAD(&mt_hot.state) == MT_INITING)
		if (!mt_init_lazy() && MT_LOAD(&mt_hot.state) == MT_INITING)
			__builtin_ia32_pause();
}

void mt_start_tracing(int nframe)
{
	ensure_init();
	pthread_mutex_lock(&mt_drain_lock);
	if (mt_hot.state != MT_ON) {
		mt_discard_locked();
		mt_clear();
	}
	mt_hot.frame_limit = nframe;
	mt_hot.gen++;
	MT_STORE(&mt_hot.state, MT_ON);
	pthread_mutex_unlock(&mt_drain_lock);
	if (mt_cfg.output && !mt_writer_running())
		mt_writer_start();
}

void mt_stop_tracing(void)
{
	ensure_init();
	MT_STORE(&mt_hot.state, MT_OFF);
	pthread_mutex_lock(&mt_drain_lock);
	mt_discard_locked();
	mt_clear();
	pthread_mutex_unlock(&mt_drain_lock);
	if (mt_hot.sampled)
		mt_sample_clear();
}

/* ---- fork ---- */

static void fork_prepare(void)
{
	mt_self.inside++;
	mt_writer_prepare();
	pthread_mutex_lock(&mt_drain_lock);
	mt_stacks_prepare();
	mt_unwind_prepare();
	mt_sample_prepare();
}

static void fork_parent(void)
{
	mt_sample_parent();
	mt_unwind_parent();
	mt_stacks_parent();
	pthread_mutex_unlock(&mt_drain_lock);
	mt_writer_parent();
	mt_self.inside--;
}

static void fork_child(void)
{
	mt_sample_child();
	mt_unwind_after_fork();
	mt_stacks_child();
	mt_drain_child();
	mt_rings_after_fork(mt_self.ring);
	mt_writer_child();
	mt_self.inside--;
}

/* ---- the library's constructor and destructor ---- */

/* A process that was not given PLUMB_MEMTRACE_ROOT names itself the root,
 * so that its children (which inherit the environment) write OUTPUT.<pid>
 * rather than over its file. */
static void claim_root(void)
{
	char pid[24];

	if (mt_cfg.root || !mt_cfg.output || strstr(mt_cfg.output, "%p"))
		return;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("PLUMB_MEMTRACE_ROOT", pid, 1);
	mt_cfg.root = getpid();
}

__attribute__((constructor)) static void memtrace_init(void)
{
	mt_self.inside++;
	ensure_init();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (mt_cfg.enabled) {
		claim_root();
		mt_signal_install();
		mt_writer_start();
	}
	mt_self.inside--;
}

/* The end: the final snapshots and the summary.  Not when exit was called
 * from a signal handler that interrupted the tracer on this thread: the
 * writer would wait for a lock this thread holds. */
static void finish(void)
{
	if (mt_self.inside || !mt_writer_running())
		return;
	mt_self.inside++;
	mt_writer_finish();
	MT_STORE(&mt_hot.state, MT_OFF);
	mt_self.inside--;
}

__attribute__((destructor)) static void memtrace_fini(void)
{
	finish();
}

/* Shells and forked children end with _exit, which runs no destructor;
 * write their summary too, then end as glibc's _exit does. */
void _exit(int status)
{
	finish();
	for (;;)
		syscall(SYS_exit_group, status);
}

void _Exit(int status) __attribute__((alias("_exit")));
