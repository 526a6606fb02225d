/*
 * pmt-write.c - writes one snapshot as a trace file (pmt.h): what
 * plumb_memtrace_snapshot_dump produces, tracemalloc's Snapshot.dump().
 *
 * tracemalloc pickles its snapshots; ours are written in the tracer's own
 * format instead (HEADER, MODULEs, STACKs, one SNAPSHOT of kind
 * PMT_SNAP_API, SUMMARY), so that every reader - snapshot_load, the
 * plumb memtrace command, its pictures - takes both without a second
 * format to keep in step.  The records go through a streaming zstd
 * compressor a megabyte at a time; only the SNAPSHOT record, which lists
 * every group, is built whole.
 *
 * A file written here says what it can about its origin: a snapshot read
 * from a trace keeps that trace's pid, command line and flags; one taken
 * in this process gets this process's.  Its SUMMARY has no event counts
 * (0) and counts the snapshot's blocks as those live at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "analysis-internal.h"
#include "pmt.h"

#define FLUSH_AT (1u << 20)

struct writer {
	int fd;
	ZSTD_CCtx *z;
	unsigned char *buf; /* records not yet compressed */
	size_t len, cap;
	size_t rec;         /* where the open record starts */
	unsigned char *out; /* compressed */
	size_t out_cap;
	int err;
};

static void reserve(struct writer *w, size_t n)
{
	if (w->err || w->len + n <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : FLUSH_AT + 4096;
	while (cap < w->len + n)
		cap *= 2;
	unsigned char *b = realloc(w->buf, cap);
	if (!b) {
		w->err = -ENOMEM;
		return;
	}
	w->buf = b;
	w->cap = cap;
}

static void put(struct writer *w, uint64_t v, size_t n)
{
	reserve(w, n);
	if (w->err)
		return;
	for (size_t i = 0; i < n; i++)
		w->buf[w->len++] = (unsigned char)(v >> (8 * i));
}

static void put_bytes(struct writer *w, const void *p, size_t n)
{
	reserve(w, n);
	if (w->err)
		return;
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

/* A string field; longer than 65535 bytes is cut. */
static void put_str(struct writer *w, const char *s, size_t n)
{
	if (n > UINT16_MAX)
		n = UINT16_MAX;
	put(w, n, 2);
	put_bytes(w, s, n);
}

int pmt_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		ssize_t r = write(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Compresses what is buffered; @end closes the zstd frame. */
static void compress(struct writer *w, bool end)
{
	if (w->err)
		return;
	ZSTD_inBuffer in = {w->buf, w->len, 0};
	for (;;) {
		ZSTD_outBuffer out = {w->out, w->out_cap, 0};
		size_t left =
		        ZSTD_compressStream2(w->z, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left)) {
			w->err = -EIO;
			return;
		}
		int rc = pmt_write_all(w->fd, w->out, out.pos);
		if (rc < 0) {
			w->err = rc;
			return;
		}
		if (end ? left == 0 : in.pos == in.size)
			break;
	}
	w->len = 0;
}

static void begin(struct writer *w, int type)
{
	w->rec = w->len;
	put(w, (uint64_t)type, 1);
	put(w, 0, 1);
	put(w, 0, 2);
	put(w, 0, 4); /* the length, set by end() */
}

static void end(struct writer *w)
{
	if (w->err)
		return;
	size_t len = w->len - w->rec - 8;
	if (len > UINT32_MAX) {
		w->err = -EFBIG;
		return;
	}
	for (size_t i = 0; i < 4; i++)
		w->buf[w->rec + 4 + i] = (unsigned char)(len >> (8 * i));
	if (w->len >= FLUSH_AT)
		compress(w, false);
}

/* /proc/self/cmdline with its NULs turned into spaces. */
static char *self_cmdline(void)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char buf[4096];
	ssize_t n;
	do
		n = read(fd, buf, sizeof buf - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return NULL;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strdup(buf);
}

static void put_header(struct writer *w, const plumb_memtrace_snapshot *s)
{
	const struct mt_origin *o = &s->origin;
	char exe[4096] = "";
	char *cmd = NULL;
	if (!o->set) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		exe[n > 0 ? n : 0] = '\0';
		cmd = self_cmdline();
	}
	const char *e = o->set ? (o->exe ? o->exe : "") : exe;
	const char *c = o->set ? (o->cmdline ? o->cmdline : "") : (cmd ? cmd : "");
	begin(w, PMT_HEADER);
	put(w, o->set ? o->pid : (uint32_t)getpid(), 4);
	put(w, o->set ? o->ppid : (uint32_t)getppid(), 4);
	put(w, s->traceback_limit > 0 ? (uint32_t)s->traceback_limit : 0, 4);
	put(w, o->set ? o->flags : 0, 4);
	put(w, o->set ? o->start_realtime_ns : 0, 8);
	put(w, o->set ? o->sample_bytes : 0, 8);
	put_str(w, e, strlen(e));
	put_str(w, c, strlen(c));
	end(w);
	free(cmd);
}

static void put_records(struct writer *w, const plumb_memtrace_snapshot *s)
{
	put_header(w, s);
	const struct mt_module *mods;
	size_t nmods = mt_symtab_modules(s->sym, &mods);
	for (size_t i = 0; i < nmods; i++) {
		begin(w, PMT_MODULE);
		put(w, i + 1, 4);
		put(w, mods[i].start, 8);
		put(w, mods[i].end, 8);
		put(w, mods[i].bias, 8);
		put_str(w, (const char *)mods[i].build_id, mods[i].build_id_len);
		put_str(w, mods[i].path, strlen(mods[i].path));
		end(w);
	}
	for (size_t i = 0; i < s->nstacks; i++) {
		const struct mt_stack *st = &s->stacks[i];
		begin(w, PMT_STACK);
		put(w, i + 1, 4);
		put(w, st->nframe, 2);
		put(w, st->truncated, 1);
		put(w, 0, 1);
		for (size_t k = 0; k < st->nframe; k++)
			put(w, s->frames[st->off + k], 8);
		end(w);
	}
	uint64_t current = s->has_time ? s->current : s->total_size;
	uint64_t peak = s->has_time ? s->peak : s->total_size;
	begin(w, PMT_SNAPSHOT);
	put(w, 0, 4);
	put(w, PMT_SNAP_API, 1);
	put(w, 0, 3);
	put(w, s->t_ns, 8);
	put(w, current, 8);
	put(w, peak, 8);
	put(w, s->ngroups, 4);
	for (size_t i = 0; i < s->ngroups; i++) {
		const struct mt_group *g = &s->groups[i];
		put(w, g->stack + 1, 4);
		put(w, g->domain, 4);
		put(w, g->count, 8);
		put(w, g->size, 8);
	}
	end(w);
	begin(w, PMT_SUMMARY);
	put(w, s->t_ns, 8);
	put(w, peak, 8);
	put(w, 0, 8);             /* peak_t_ns: unknown */
	put(w, s->total_size, 8); /* live at the end */
	put(w, s->total_count, 8);
	for (int i = 0; i < 5; i++)
		put(w, 0, 8); /* allocs, frees, bytes_allocated, tracer_memory, untraced_frees */
	end(w);
	compress(w, true);
}

static int write_file(const plumb_memtrace_snapshot *s, const char *path)
{
	if (s->ngroups > (PMT_RECORD_MAX - 36) / 24)
		return -EFBIG;
	struct writer w = {.fd = -1};
	w.z = ZSTD_createCCtx();
	w.out_cap = ZSTD_CStreamOutSize();
	w.out = malloc(w.out_cap);
	if (!w.z || !w.out) {
		w.err = -ENOMEM;
		goto out;
	}
	ZSTD_CCtx_setParameter(w.z, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(w.z, ZSTD_c_checksumFlag, 1);
	w.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (w.fd < 0) {
		w.err = -errno;
		goto out;
	}
	static const unsigned char preamble[8] = PMT_PREAMBLE;
	w.err = pmt_write_all(w.fd, preamble, sizeof preamble);
	put_records(&w, s);
	if (close(w.fd) < 0 && !w.err)
		w.err = -errno;
	w.fd = -1;
	if (w.err) {
		struct stat sb;
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			unlink(path); /* half a file would read as a truncated trace */
	}
out:
	if (w.fd >= 0)
		close(w.fd);
	ZSTD_freeCCtx(w.z);
	free(w.out);
	free(w.buf);
	return w.err;
}

int pmt_trace_write_snapshot(const plumb_memtrace_snapshot *s, const char *path)
{
	if (!s || !path)
		return -EINVAL;
	GUARD_BEGIN;
	int rc = write_file(s, path);
	GUARD_END;
	return rc;
}
