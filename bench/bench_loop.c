/*
 * bench_loop.c - attach + detach timings for bench/loop.sh.
 *
 *   bench_loop cycle WHO N DIR        N attach+detach cycles, one after another
 *   bench_loop conc WHO P R DIR       P processes, R cycles each, all at once
 *
 * WHO is "lib" (plumb_loop_attach/detach in this process), "losetup"
 * (losetup -f --show FILE; losetup -d DEV) or a path to the plumb command
 * (plumb loop -f --show FILE; plumb loop -d DEV).  Each process attaches a
 * file of its own in DIR and checks that the device it got shows its file,
 * so two winners of one device would be caught.  Prints one line:
 *   WHO cycles=C median_attach_ms=.. p99_attach_ms=.. max_attach_ms=.. cycles_per_s=..
 *       cpu_ms_per_cycle=.. failures=..
 * and exits non-zero if any attach or detach failed or a device was shared.
 * The CPU time (user + system, of this process and every process it ran)
 * is the figure the machine's other load does not change: with more
 * processes than cores, the attach times follow it.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <plumb/loop.h>

extern char **environ;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs argv, its stdout into @out (@len bytes); returns its exit status. */
static int run(char *const argv[], char *out, size_t len)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	size_t got = 0;
	ssize_t n;
	while (r == 0 && got + 1 < len && (n = read(p[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	out[strcspn(out, "\n")] = 0;
	close(p[0]);
	int st;
	if (r != 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One cycle; the attach time in ms into *ms; 0 or -1. */
static int cycle(const char *who, const char *file, double *ms)
{
	char dev[64];
	double t0 = now_ms();
	if (!strcmp(who, "lib")) {
		if (plumb_loop_attach(file, NULL, dev, sizeof dev) < 0)
			return -1;
	} else if (!strcmp(who, "losetup")) {
		char *a[] = {"losetup", "-f", "--show", (char *)file, NULL};
		if (run(a, dev, sizeof dev) != 0)
			return -1;
	} else {
		char *a[] = {(char *)who, "loop", "-f", "--show", (char *)file, NULL};
		if (run(a, dev, sizeof dev) != 0)
			return -1;
	}
	*ms = now_ms() - t0;
	struct plumb_loop_info info;
	int bad = plumb_loop_info(dev, &info) != 0 || strcmp(info.back_file, file);
	if (!strcmp(who, "lib")) {
		if (plumb_loop_detach(dev) < 0)
			return -1;
	} else {
		char out[8];
		char *a1[] = {"losetup", "-d", dev, NULL};
		char *a2[] = {(char *)who, "loop", "-d", dev, NULL};
		if (run(strcmp(who, "losetup") ? a2 : a1, out, sizeof out) != 0)
			return -1;
	}
	return bad ? -2 : 0;
}

/* CPU milliseconds used so far by this process and its waited-for children. */
static double cpu_ms(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	const struct timeval *t[] = {&self.ru_utime, &self.ru_stime, &kids.ru_utime,
	                             &kids.ru_stime};
	double ms = 0;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		ms += t[i]->tv_sec * 1e3 + t[i]->tv_usec / 1e3;
	return ms;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	bool conc = argc == 6 && !strcmp(argv[1], "conc");
	if (!conc && !(argc == 5 && !strcmp(argv[1], "cycle"))) {
		fprintf(stderr, "usage: bench_loop cycle WHO N DIR | conc WHO P R DIR\n");
		return 2;
	}
	const char *who = argv[2];
	int procs = conc ? atoi(argv[3]) : 1, rounds = atoi(argv[conc ? 4 : 3]);
	const char *dir = argv[conc ? 5 : 4];
	size_t total = (size_t)procs * rounds;
	/* Shared with the children: one latency a cycle, and the failure count. */
	double *lat = mmap(NULL, total * sizeof *lat + 64, PROT_READ | PROT_WRITE,
	                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lat == MAP_FAILED)
		return 1;
	int *fails = (int *)(lat + total);
	double t0 = now_ms(), c0 = cpu_ms();
	for (int p = 0; p < procs; p++) {
		pid_t pid = procs > 1 ? fork() : 0;
		if (pid < 0)
			return 1;
		if (pid > 0)
			continue;
		char file[256];
		snprintf(file, sizeof file, "%s/bench-%d.img", dir, p);
		int fd = open(file, O_RDWR | O_CREAT, 0644);
		if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
			return 1;
		close(fd);
		for (int i = 0; i < rounds; i++) {
			int r = cycle(who, file, &lat[(size_t)p * rounds + i]);
			if (r < 0) {
				__atomic_add_fetch(fails, 1, __ATOMIC_RELAXED);
				fprintf(stderr, "bench_loop %s: cycle failed (%s)\n", who,
				        r == -2 ? "device shows another file"
				                : plumb_loop_errmsg());
			}
		}
		if (procs > 1)
			_exit(0);
	}
	while (procs > 1 && wait(NULL) > 0)
		;
	double secs = (now_ms() - t0) / 1e3, cpu = cpu_ms() - c0;
	qsort(lat, total, sizeof *lat, cmp);
	printf("%s cycles=%zu median_attach_ms=%.3f p99_attach_ms=%.3f max_attach_ms=%.3f "
	       "cycles_per_s=%.1f cpu_ms_per_cycle=%.3f failures=%d\n",
	       who, total, lat[total / 2], lat[total * 99 / 100], lat[total - 1], total / secs,
	       cpu / total, *fails);
	return *fails ? 1 : 0;
}
