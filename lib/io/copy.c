/*
 * copy.c - plumb_copy, plumb_copy_n and plumb_copy_buffer (io.Copy, io.CopyN,
 * io.CopyBuffer), with the kernel's fast paths between descriptors.
 *
 * The order is Go's: the source's write_to, else the destination's
 * read_from, else a read/write loop; plumb adds, before the loop, the kernel's
 * ways of moving bytes when both ends are descriptors:
 *
 *   copy_file_range  file -> file (may even share blocks on the filesystem)
 *   splice           when either end is a pipe
 *   sendfile         file -> anything else (socket, device)
 *   splice, twice    neither end a pipe nor the source a file (socket ->
 *                    file, socket -> socket), through a pipe of our own
 *
 * The kernel may refuse a call for reasons that do not mean the copy cannot
 * be done (a filesystem without support, an O_APPEND destination, a /proc
 * file that claims to be empty).  It can only do so on a path's first call,
 * before anything moved; then the next path is tried, and a copy that does
 * not fit any ends in the loop, which reports the real error if there is
 * one.  Once bytes moved, an error is an error.  Every kernel call passes
 * NULL offsets, so both descriptors' positions move exactly as the loop
 * would move them.
 *
 * A limit on the copy (plumb_copy_n, or a limit reader as the source) is
 * handed to the kernel as the largest count it may move; the limit readers
 * are then charged for what the kernel moved behind their backs.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/copy-internal.h"
#include "io/io-internal.h"

/* The loop's buffer when the caller gives none (Go's size). */
#define COPY_BUF_SIZE (32 * 1024)
/* The most one kernel call is asked to move. */
#define KERNEL_CHUNK (1 << 30)
/* A new pipe's capacity, and the one asked for our own splice pipe once the
 * source has filled it (the unprivileged maximum): a wider pipe moves a long
 * stream in fewer calls, but widening costs as much as a small copy. */
#define PIPE_DEFAULT_SIZE (64 * 1024)
#define SPLICE_PIPE_SIZE  (1 << 20)

static _Thread_local struct plumb_copy_trace last_trace;
static _Thread_local unsigned forbidden;

struct copy_job {
	plumb_writer *dst;
	plumb_reader *src;
	int64_t remain; /* the most that may still move (INT64_MAX: no limit) */
	int64_t done;   /* what moved */
	int in, out;    /* the descriptors, for the kernel paths */
	void *buf;      /* the loop's buffer: the caller's or own_buf */
	size_t len;
	void *own_buf;
	struct plumb_copy_trace trace;
};

void plumb_copy_trace_get(struct plumb_copy_trace *t)
{
	*t = last_trace;
}

unsigned plumb_copy_forbid(unsigned mask)
{
	unsigned old = forbidden;

	forbidden = mask;
	return old;
}

static size_t min_size(int64_t remain, size_t max)
{
	return (uint64_t)remain < max ? (size_t)remain : max;
}

/* Counts n bytes as moved. */
static void job_moved(struct copy_job *j, size_t n)
{
	j->done += (int64_t)n;
	j->remain -= (int64_t)n;
}

/* The buffer for the loop, taken on first use and sized to the limit. */
static int job_buffer(struct copy_job *j)
{
	if (j->buf)
		return 0;
	j->len = min_size(j->remain, COPY_BUF_SIZE);
	if (j->len == 0)
		j->len = 1;
	j->buf = j->own_buf = malloc(j->len);
	return j->buf ? 0 : -ENOMEM;
}

/* Errors by which a kernel path declines a copy another path can still do. */
static bool kernel_refusal(int err)
{
	switch (err) {
	case ENOSYS:
	case EINVAL:
	case EXDEV:
	case EOPNOTSUPP:
	case EPERM:
	case EIO:
	case EBADF:
	case ESPIPE:
		return true;
	}
	return false;
}

/* Whether the first call of a path refused the copy: an error above, or
 * nothing at all (a file whose size reads 0 but has content, as in /proc;
 * for a stream truly at its end, the next path finds the end as well). */
static bool first_call_refused(ssize_t n, int err)
{
	return n == 0 || (n < 0 && kernel_refusal(err));
}

static void job_refused(struct copy_job *j, enum plumb_copy_path path)
{
	j->trace.refused |= PLUMB_COPY_BIT(path);
}

/* ---- One call of each kernel path; -1 and errno as the kernel says. ---- */

static ssize_t call_copy_file_range(int in, int out, size_t max)
{
	return copy_file_range(in, NULL, out, NULL, max, 0);
}

static ssize_t call_splice(int in, int out, size_t max)
{
	return splice(in, NULL, out, NULL, max, SPLICE_F_MOVE);
}

static ssize_t call_sendfile(int in, int out, size_t max)
{
	return sendfile(out, in, NULL, max);
}

typedef ssize_t (*kernel_call)(int in, int out, size_t max);

/* The call, restarted after EINTR: a count, or -errno. */
static ssize_t kernel_retry(kernel_call call, int in, int out, size_t max)
{
	ssize_t n;

	do
		n = call(in, out, max);
	while (n < 0 && errno == EINTR);
	return n < 0 ? plumb_io_errno() : n;
}

/*
 * Runs one kernel path to the end of the source or the limit: 1 when it did
 * the copy, 0 when the kernel refused its first call, or an error.
 */
static int kernel_run(struct copy_job *j, enum plumb_copy_path path, kernel_call call)
{
	bool first = true;

	while (j->remain > 0) {
		ssize_t n = kernel_retry(call, j->in, j->out, min_size(j->remain, KERNEL_CHUNK));

		if (first && first_call_refused(n, (int)-n)) {
			job_refused(j, path);
			return 0;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		first = false;
		job_moved(j, (size_t)n);
	}
	return 1;
}

/* ---- Splicing through a pipe of our own ---- */

/* Our pipe holds bytes the destination refused to take by splice: they go
 * through the loop's buffer and the writer instead.  0 (refused, but what
 * was taken arrived) or an error. */
static int pipe_drain(struct copy_job *j, int rd, size_t inpipe)
{
	int rc = job_buffer(j);

	while (rc == 0 && inpipe > 0) {
		ssize_t n = read(rd, j->buf, min_size((int64_t)inpipe, j->len));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? plumb_io_errno() : -EIO;
		n = plumb_io_write_all(j->dst, j->buf, (size_t)n);
		if (n < 0)
			return (int)n;
		inpipe -= (size_t)n;
		job_moved(j, (size_t)n);
	}
	return rc;
}

/* Moves inpipe bytes from our pipe to the destination: 1, 0 when the
 * destination refused at the very first call (the bytes still arrive), or
 * an error. */
static int pipe_pump(struct copy_job *j, int rd, size_t inpipe, bool first)
{
	while (inpipe > 0) {
		ssize_t n = kernel_retry(call_splice, rd, j->out, inpipe);

		if (first && n < 0 && kernel_refusal((int)-n))
			return pipe_drain(j, rd, inpipe);
		if (n <= 0)
			return n < 0 ? (int)n : PLUMB_ESHORTWRITE;
		first = false;
		inpipe -= (size_t)n;
		job_moved(j, (size_t)n);
	}
	return 1;
}

static int splice_through_pipe(struct copy_job *j, int p[2])
{
	bool first = true, wide = false;
	int rc = 1;

	while (rc > 0 && j->remain > 0) {
		ssize_t n =
		        kernel_retry(call_splice, j->in, p[1], min_size(j->remain, KERNEL_CHUNK));

		if (first && first_call_refused(n, (int)-n))
			return 0;
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		rc = pipe_pump(j, p[0], (size_t)n, first);
		first = false;
		if (!wide && n >= PIPE_DEFAULT_SIZE) {
			(void)fcntl(p[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
			wide = true;
		}
	}
	return rc;
}

static int kernel_splice_pipe(struct copy_job *j)
{
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) < 0)
		return 0;
	rc = splice_through_pipe(j, p);
	close(p[0]);
	close(p[1]);
	if (rc == 0)
		job_refused(j, PLUMB_COPY_SPLICE_PIPE);
	return rc;
}

/* ---- Choosing a kernel path ---- */

static bool allowed(enum plumb_copy_path path)
{
	return !(forbidden & PLUMB_COPY_BIT(path));
}

static int kernel_try(struct copy_job *j, enum plumb_copy_path path, kernel_call call)
{
	int rc;

	if (!allowed(path))
		return 0;
	rc = call ? kernel_run(j, path, call) : kernel_splice_pipe(j);
	if (rc != 0)
		j->trace.path = path;
	return rc;
}

/* The paths in their order, by what the descriptors are. */
static int kernel_paths(struct copy_job *j, const struct stat *in, const struct stat *out)
{
	bool files = S_ISREG(in->st_mode) && S_ISREG(out->st_mode);
	bool pipes = S_ISFIFO(in->st_mode) || S_ISFIFO(out->st_mode);
	bool mappable = S_ISREG(in->st_mode) || S_ISBLK(in->st_mode);
	int rc = 0;

	if (files)
		rc = kernel_try(j, PLUMB_COPY_FILE_RANGE, call_copy_file_range);
	if (rc == 0 && pipes)
		rc = kernel_try(j, PLUMB_COPY_SPLICE, call_splice);
	if (rc == 0 && mappable)
		rc = kernel_try(j, PLUMB_COPY_SENDFILE, call_sendfile);
	else if (rc == 0 && !pipes)
		rc = kernel_try(j, PLUMB_COPY_SPLICE_PIPE, NULL);
	return rc;
}

/* The stream below any limit readers, with their limits folded into the
 * job's. */
static plumb_reader *unwrap_limits(struct copy_job *j)
{
	plumb_reader *r = j->src;
	struct plumb_limit_reader *lr;

	while ((lr = plumb_limit_reader_of(r))) {
		if (lr->n < j->remain)
			j->remain = lr->n > 0 ? lr->n : 0;
		r = lr->r;
	}
	return r;
}

/* Charges the limit readers over the source for n bytes moved below them. */
static void charge_limits(plumb_reader *r, int64_t n)
{
	struct plumb_limit_reader *lr;

	for (; (lr = plumb_limit_reader_of(r)); r = lr->r)
		lr->n -= n;
}

/* 1 when the kernel did the copy, 0 when it could not (what it moved before
 * refusing is in j->done), or an error. */
static int copy_kernel(struct copy_job *j)
{
	int64_t remain = j->remain;
	plumb_reader *inner = unwrap_limits(j);
	struct stat in, out;
	int rc = 0;

	if (j->remain == 0)
		return 1;
	j->in = plumb_reader_fd(inner);
	j->out = plumb_writer_fd(j->dst);
	if (j->in >= 0 && j->out >= 0 && fstat(j->in, &in) == 0 && fstat(j->out, &out) == 0)
		rc = kernel_paths(j, &in, &out);
	charge_limits(j->src, j->done);
	if (rc == 0)
		j->remain = remain - j->done;
	return rc;
}

/* ---- The loop ---- */

static int copy_loop(struct copy_job *j)
{
	int rc = job_buffer(j);

	j->trace.path = PLUMB_COPY_LOOP;
	while (rc == 0 && j->remain > 0) {
		ssize_t n = plumb_reader_read(j->src, j->buf, min_size(j->remain, j->len));

		if (n <= 0)
			return (int)n;
		n = plumb_io_write_all(j->dst, j->buf, (size_t)n);
		if (n < 0)
			return (int)n;
		job_moved(j, (size_t)n);
	}
	return rc;
}

/* ---- The entry points ---- */

/* dst's read_from over src, cut to limit (< 0: none) by a limit reader on
 * the stack, as Go's CopyN does. */
static int64_t copy_read_from(struct copy_job *j, int64_t limit)
{
	struct plumb_limit_reader lr;

	j->trace.path = PLUMB_COPY_READ_FROM;
	if (limit < 0)
		return j->dst->ops->read_from(j->dst, j->src);
	plumb_limit_reader_init(&lr, j->src, limit);
	return j->dst->ops->read_from(j->dst, &lr.reader);
}

static int64_t copy_streams(struct copy_job *j, int64_t limit)
{
	int rc;

	if (limit < 0 && j->src->ops->write_to) {
		j->trace.path = PLUMB_COPY_WRITE_TO;
		return j->src->ops->write_to(j->src, j->dst);
	}
	if (j->dst->ops->read_from)
		return copy_read_from(j, limit);
	rc = copy_kernel(j);
	if (rc == 0)
		rc = copy_loop(j);
	return rc < 0 ? rc : j->done;
}

static int64_t copy(plumb_writer *dst, plumb_reader *src, int64_t limit, void *buf, size_t len)
{
	struct copy_job j = {
	        .dst = dst,
	        .src = src,
	        .remain = limit < 0 ? INT64_MAX : limit,
	        .in = -1,
	        .out = -1,
	        .buf = buf,
	        .len = len,
	};
	int64_t rc = copy_streams(&j, limit);

	free(j.own_buf);
	last_trace = j.trace;
	return rc;
}

int64_t plumb_copy(plumb_writer *dst, plumb_reader *src)
{
	return copy(dst, src, -1, NULL, 0);
}

int64_t plumb_copy_n(plumb_writer *dst, plumb_reader *src, int64_t n)
{
	if (n <= 0) {
		last_trace = (struct plumb_copy_trace){0};
		return 0;
	}
	return copy(dst, src, n, NULL, 0);
}

int64_t plumb_copy_buffer(plumb_writer *dst, plumb_reader *src, void *buf, size_t len)
{
	if (buf && len == 0)
		return -EINVAL;
	return copy(dst, src, -1, buf, len);
}
