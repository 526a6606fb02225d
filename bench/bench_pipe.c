/*
 * bench_pipe.c - how fast plumb's synchronous pipe moves bytes and answers,
 * beside the ceilings it is measured against.
 *
 * bench/pipe.sh runs this next to its Go peer (bench/go/pipe/main.go), which
 * does the same things with io.Pipe, and prints the two side by side.  Modes:
 *   throughput SIZE TOTAL [SECS]
 *                          a writer thread writes TOTAL bytes in writes of
 *                          SIZE bytes into the pipe and closes it (or stops
 *                          early after SECS seconds, if given); the main
 *                          thread reads until the end with a buffer of
 *                          max(SIZE, 32 KiB) (32 KiB is io.Copy's buffer)
 *   pingpong COUNT         COUNT round trips of one byte between two threads
 *                          over two pipes
 *   kpingpong COUNT        the same over two kernel pipe(2)s
 *   memcpy SIZE TOTAL      one thread memcpy's SIZE bytes between the same two
 *                          buffers until TOTAL bytes are copied: the ceiling
 * Each prints one line of key=value pairs; GB are 10^9 bytes.  others= is
 * how many CPUs other processes kept busy on average meanwhile (from
 * /proc/stat less our own CPU time): a benchmark between two threads on a
 * small machine means little when it was competing for the CPUs.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <plumb/plumb.h>

#define READ_MIN ((size_t)32 << 10)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- What else ran meanwhile ---- */

struct load {
	double wall, own, busy; /* seconds */
};

/* The machine's busy CPU time so far, in seconds, or -1. */
static double machine_busy(void)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	/* user nice system idle iowait irq softirq steal: all but idle, iowait */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double own_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now(void);

static struct load load_start(void)
{
	return (struct load){.wall = now(), .own = own_cpu(), .busy = machine_busy()};
}

/* CPUs kept busy by others since l, on average; -1 if unknown. */
static double load_others(struct load l)
{
	double busy = machine_busy(), wall = now() - l.wall;

	if (busy < 0 || l.busy < 0 || wall <= 0)
		return -1;
	busy = (busy - l.busy) - (own_cpu() - l.own);
	return busy > 0 ? busy / wall : 0;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_pipe: %s: %s\n", what, plumb_strerror(err));
	exit(1);
}

static void *alloc_filled(size_t size)
{
	unsigned char *b = malloc(size);

	if (!b)
		die("malloc", -ENOMEM);
	for (size_t i = 0; i < size; i++)
		b[i] = (unsigned char)(i * 31 + 7);
	return b;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	if (end == s || *end != '\0' || v == 0) {
		fprintf(stderr, "bench_pipe: not a positive number: %s\n", s);
		exit(2);
	}
	return v;
}

/* ---- Throughput ---- */

struct feed {
	plumb_pipe *pipe;
	size_t size;
	uint64_t total;
	double deadline; /* stop writing then (0: never) */
	int err;
};

static void *feed_run(void *arg)
{
	struct feed *f = arg;
	unsigned char *buf = alloc_filled(f->size);

	/* Look at the clock about every 16 MiB. */
	uint64_t every = ((uint64_t)16 << 20) / f->size + 1, k = 0;

	for (uint64_t done = 0; done < f->total; done += f->size) {
		size_t n = f->total - done < f->size ? (size_t)(f->total - done) : f->size;
		ssize_t rc = plumb_pipe_write(f->pipe, buf, n);

		if (rc < 0) {
			f->err = (int)rc;
			break;
		}
		if (f->deadline > 0 && ++k % every == 0 && now() > f->deadline)
			break;
	}
	plumb_pipe_close_write(f->pipe, 0);
	free(buf);
	return NULL;
}

static void throughput(size_t size, uint64_t total, double secs_max)
{
	struct feed f = {.pipe = plumb_pipe_new(), .size = size, .total = total};
	size_t rsize = size > READ_MIN ? size : READ_MIN;
	unsigned char *buf = alloc_filled(rsize);
	uint64_t got = 0;
	pthread_t t;
	double start;
	ssize_t n;

	if (!f.pipe)
		die("plumb_pipe_new", -ENOMEM);
	struct load l = load_start();

	start = now();
	if (secs_max > 0)
		f.deadline = start + secs_max;
	if (pthread_create(&t, NULL, feed_run, &f) != 0)
		die("pthread_create", -EAGAIN);
	while ((n = plumb_pipe_read(f.pipe, buf, rsize)) > 0)
		got += (uint64_t)n;
	double secs = now() - start;

	pthread_join(t, NULL);
	if (n < 0)
		die("read", (int)n);
	if (f.err < 0)
		die("write", f.err);
	if (got != total && f.deadline == 0)
		die("short transfer", PLUMB_EUNEXPECTEDEOF);
	printf("impl=plumb mode=throughput size=%zu read=%zu bytes=%" PRIu64
	       " seconds=%.4f gbps=%.3f others=%.2f\n",
	       size, rsize, got, secs, (double)got / secs / 1e9, load_others(l));
	plumb_pipe_free(f.pipe);
	free(buf);
}

/* ---- Ping-pong over two plumb pipes ---- */

struct echo {
	plumb_pipe *in, *out;
};

static void *echo_run(void *arg)
{
	struct echo *e = arg;
	unsigned char c;

	while (plumb_pipe_read(e->in, &c, 1) == 1)
		if (plumb_pipe_write(e->out, &c, 1) != 1)
			break;
	plumb_pipe_close_write(e->out, 0);
	return NULL;
}

static void pingpong(uint64_t count)
{
	struct echo e = {.in = plumb_pipe_new(), .out = plumb_pipe_new()};
	unsigned char c = 'x';
	pthread_t t;

	if (!e.in || !e.out)
		die("plumb_pipe_new", -ENOMEM);
	if (pthread_create(&t, NULL, echo_run, &e) != 0)
		die("pthread_create", -EAGAIN);
	struct load l = load_start();
	double start = now();

	for (uint64_t i = 0; i < count; i++) {
		ssize_t rc = plumb_pipe_write(e.in, &c, 1);

		if (rc == 1)
			rc = plumb_pipe_read(e.out, &c, 1);
		if (rc != 1)
			die("ping-pong", rc < 0 ? (int)rc : PLUMB_EUNEXPECTEDEOF);
	}
	double secs = now() - start;

	plumb_pipe_close_write(e.in, 0);
	pthread_join(t, NULL);
	printf("impl=plumb mode=pingpong count=%" PRIu64 " seconds=%.4f rtps=%.0f others=%.2f\n",
	       count, secs, (double)count / secs, load_others(l));
	plumb_pipe_free(e.in);
	plumb_pipe_free(e.out);
}

/* ---- Ping-pong over two kernel pipes ---- */

static void *kecho_run(void *arg)
{
	int *fds = arg; /* read from fds[0], write to fds[1] */
	char c;

	while (read(fds[0], &c, 1) == 1)
		if (write(fds[1], &c, 1) != 1)
			break;
	close(fds[1]);
	return NULL;
}

static void kpingpong(uint64_t count)
{
	int a[2], b[2], echo[2];
	char c = 'x';
	pthread_t t;

	if (pipe(a) < 0 || pipe(b) < 0)
		die("pipe", -errno);
	echo[0] = a[0];
	echo[1] = b[1];
	if (pthread_create(&t, NULL, kecho_run, echo) != 0)
		die("pthread_create", -EAGAIN);
	struct load l = load_start();
	double start = now();

	for (uint64_t i = 0; i < count; i++)
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			die("kernel ping-pong", -errno);
	double secs = now() - start;

	close(a[1]);
	pthread_join(t, NULL);
	close(a[0]);
	close(b[0]);
	printf("impl=kernel mode=pingpong count=%" PRIu64 " seconds=%.4f rtps=%.0f others=%.2f\n",
	       count, secs, (double)count / secs, load_others(l));
}

/* ---- memcpy, the ceiling ---- */

static void copy_ceiling(size_t size, uint64_t total)
{
	unsigned char *src = alloc_filled(size), *dst = alloc_filled(size);
	uint64_t n = total / size;
	struct load l = load_start();
	double start = now();
	for (uint64_t i = 0; i < n; i++) {
		memcpy(dst, src, size);
		__asm__ __volatile__("" : : "r"(dst), "r"(src) : "memory");
	}
	double secs = now() - start;

	printf("impl=memcpy mode=memcpy size=%zu bytes=%" PRIu64
	       " seconds=%.4f gbps=%.3f others=%.2f\n",
	       size, n * size, secs, (double)(n * size) / secs / 1e9, load_others(l));
	free(src);
	free(dst);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_pipe throughput SIZE TOTAL | pingpong COUNT |"
	                " kpingpong COUNT | memcpy SIZE TOTAL\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "throughput") == 0)
		throughput(parse_size(argv[2]), parse_size(argv[3]),
		           argc == 5 ? (double)parse_size(argv[4]) : 0);
	else if (argc == 3 && strcmp(argv[1], "pingpong") == 0)
		pingpong(parse_size(argv[2]));
	else if (argc == 3 && strcmp(argv[1], "kpingpong") == 0)
		kpingpong(parse_size(argv[2]));
	else if (argc == 4 && strcmp(argv[1], "memcpy") == 0)
		copy_ceiling(parse_size(argv[2]), parse_size(argv[3]));
	else
		usage();
	return 0;
}
