/*
 * pmt-read.c - reads a trace file (pmt.h) into a struct pmt_trace, checking
 * every record, and makes snapshot objects out of it.
 *
 * Trace files come from processes that may have crashed, been killed, or
 * filled the disk, so the reader distinguishes two kinds of bad ending:
 *  - cut short: the file stops in the middle of a compressed frame or of
 *    a record, or its last frame is damaged (zero-filled after a crash).
 *    Everything before is good data: the trace is returned with
 *    has_summary false and a note in ->truncation;
 *  - not a trace, or damaged inside: bad magic or version, a record of an
 *    unknown type, a length beyond the limit or shorter than its own
 *    counts, an id never defined, a record before the HEADER, anything
 *    after the SUMMARY, a corrupt frame followed by more frames.  Those
 *    are refused with a message naming the file and the offset.
 * The stream is decompressed in pieces (ZSTD_decompressStream over a
 * window that only grows to the largest record, capped at 256 MiB), so a
 * 10 MB file costs the time zstd takes and one pass over the records.
 * Nothing in a file can make the reader read outside what it decoded:
 * every field is taken through a bounds-checked cursor.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "analysis-internal.h"
#include "pmt.h"

_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "64-bit addresses");

#define IN_CHUNK (256u << 10) /* compressed bytes read at a time */
#define OUT_ROOM (128u << 10) /* room kept for zstd's output */

/* ---- What a trace holds beyond the public fields ---- */

struct pstack {
	size_t off; /* in frames[] */
	uint16_t nframe;
	bool truncated;
};

struct pentry {
	uint32_t stack, domain;
	uint64_t count, size;
};

struct pmt_priv {
	struct mt_module *mods;
	uint32_t *mod_ids;
	size_t nmods, mods_cap;
	uintptr_t *frames;
	size_t nframes, frames_cap;
	struct pstack *stacks;
	size_t nstacks, stacks_cap;
	struct pentry *entries;
	size_t nentries, entries_cap;
	size_t *snap_first; /* each snapshot's first entry */
	size_t samples_cap, snapshots_cap;
	struct mt_pool strings; /* module paths and build-ids */
	pthread_mutex_t lock;   /* sym */
	struct mt_symtab *sym;  /* made on the first snapshot */
};

static int grow(void **array, size_t *cap, size_t need, size_t elem)
{
	return mt_grow(array, cap, need, elem, 16);
}

/* ---- The decompressed stream ---- */

enum { FILL_OK, FILL_END, FILL_CUT, FILL_ZERR, FILL_IO, FILL_NOMEM };

struct rd {
	const char *path;
	int fd;
	uint64_t file_size;
	ZSTD_DCtx *z;
	unsigned char *in;
	size_t in_cap;
	ZSTD_inBuffer zin;
	uint64_t in_off; /* file offset of in[0] */
	bool eof;
	bool in_frame;        /* inside a frame that has not ended */
	uint64_t frame_start; /* its file offset */
	bool pending;         /* zstd may hold output it could not give */
	size_t zerr;          /* the zstd error, after FILL_ZERR */
	int ioerr;
	unsigned char *out;
	size_t out_cap, out_pos, out_end;
	uint64_t out_off; /* stream offset of out[out_pos] */
};

static int make_room(struct rd *r, size_t need)
{
	size_t avail = r->out_end - r->out_pos;
	if (r->out_cap - r->out_end >= OUT_ROOM && r->out_cap - r->out_pos >= need)
		return 0;
	if (r->out_pos) {
		memmove(r->out, r->out + r->out_pos, avail);
		r->out_pos = 0;
		r->out_end = avail;
	}
	size_t want = (need > avail ? need : avail) + OUT_ROOM;
	if (r->out_cap >= want)
		return 0;
	size_t cap = r->out_cap ? r->out_cap : 2 * OUT_ROOM;
	while (cap < want)
		cap *= 2;
	unsigned char *o = realloc(r->out, cap);
	if (!o)
		return -ENOMEM;
	r->out = o;
	r->out_cap = cap;
	return 0;
}

static int read_more(struct rd *r)
{
	r->in_off += r->zin.size;
	r->zin.pos = r->zin.size = 0;
	for (;;) {
		ssize_t n = read(r->fd, r->in, r->in_cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r->ioerr = errno;
			return -1;
		}
		if (n == 0)
			r->eof = true;
		r->zin.size = (size_t)n;
		return 0;
	}
}

/* Makes @need bytes available at out[out_pos]; FILL_OK, or why not. */
static int fill(struct rd *r, size_t need)
{
	for (;;) {
		if (r->out_end - r->out_pos >= need)
			return FILL_OK;
		if (make_room(r, need) < 0)
			return FILL_NOMEM;
		if (r->zin.pos == r->zin.size && !r->eof && read_more(r) < 0)
			return FILL_IO;
		if (r->zin.pos == r->zin.size && r->eof && !r->pending)
			return r->in_frame ? FILL_CUT : FILL_END;
		ZSTD_outBuffer zo = {r->out, r->out_cap, r->out_end};
		size_t before = r->zin.pos;
		size_t ret = ZSTD_decompressStream(r->z, &zo, &r->zin);
		if (!r->in_frame && r->zin.pos > before) {
			r->in_frame = true;
			r->frame_start = r->in_off + before;
		}
		if (ZSTD_isError(ret)) {
			if (!r->in_frame)
				r->frame_start = r->in_off + before;
			r->zerr = ret;
			return FILL_ZERR;
		}
		r->out_end = zo.pos;
		r->pending = zo.pos == zo.size;
		if (ret == 0)
			r->in_frame = false;
	}
}

/* ---- Telling a damaged tail from damage inside ---- */

static bool pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	unsigned char *p = buf;
	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return true;
}

/* Where the zstd frame at @start ends, walking its block headers: the end
 * offset, -2 when it runs past the end of the file, -1 when it is not a
 * well-formed frame. */
static int64_t frame_end(int fd, uint64_t start, uint64_t size)
{
	unsigned char h[18];
	uint64_t left = size - start;
	if (left < 4)
		return -2;
	if (!pread_all(fd, h, left < sizeof h ? (size_t)left : sizeof h, start))
		return -1;
	uint32_t magic =
	        (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
	if ((magic & 0xfffffff0u) == 0x184d2a50u) { /* skippable frame */
		if (left < 8)
			return -2;
		uint64_t len = (uint64_t)h[4] | (uint64_t)h[5] << 8 | (uint64_t)h[6] << 16 |
		               (uint64_t)h[7] << 24;
		return left - 8 < len ? -2 : (int64_t)(start + 8 + len);
	}
	if (magic != 0xfd2fb528u)
		return -1;
	if (left < 5)
		return -2;
	unsigned fhd = h[4];
	if (fhd & 0x08)
		return -1; /* reserved bit */
	static const unsigned did_size[4] = {0, 1, 2, 4};
	static const unsigned fcs_size[4] = {0, 2, 4, 8};
	bool single = fhd & 0x20;
	unsigned fcs = fcs_size[fhd >> 6];
	if (fhd >> 6 == 0 && single)
		fcs = 1;
	uint64_t pos = start + 5 + (single ? 0 : 1) + did_size[fhd & 3] + fcs;
	for (;;) {
		unsigned char b[3];
		if (pos + 3 > size)
			return -2;
		if (!pread_all(fd, b, 3, pos))
			return -1;
		uint32_t bh = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
		unsigned type = (bh >> 1) & 3;
		uint64_t len = type == 1 ? 1 : bh >> 3;
		if (type == 3 || (bh >> 3) > (128u << 10))
			return -1;
		pos += 3 + len;
		if (pos > size)
			return -2;
		if (bh & 1)
			break;
	}
	if (fhd & 0x04)
		pos += 4;
	return pos > size ? -2 : (int64_t)pos;
}

static bool all_zero(int fd, uint64_t start, uint64_t size)
{
	unsigned char buf[4096];
	while (start < size) {
		size_t n = size - start < sizeof buf ? (size_t)(size - start) : sizeof buf;
		if (!pread_all(fd, buf, n, start))
			return false;
		for (size_t i = 0; i < n; i++)
			if (buf[i])
				return false;
		start += n;
	}
	return true;
}

/* A zstd error is the damaged end of a file cut short when the frame it
 * is in is the file's last (or runs past its end), or the rest is zeros. */
static bool damaged_tail(struct rd *r)
{
	int64_t end = frame_end(r->fd, r->frame_start, r->file_size);
	if (end == -2 || (end >= 0 && (uint64_t)end >= r->file_size))
		return true;
	return all_zero(r->fd, r->frame_start, r->file_size);
}

/* ---- Field cursor ---- */

struct cur {
	const unsigned char *p;
	size_t n;
	bool bad;
};

static const unsigned char *take(struct cur *c, size_t n)
{
	if (c->bad || c->n < n) {
		c->bad = true;
		return NULL;
	}
	const unsigned char *p = c->p;
	c->p += n;
	c->n -= n;
	return p;
}

static uint64_t le(struct cur *c, size_t n)
{
	const unsigned char *p = take(c, n);
	uint64_t v = 0;
	for (size_t i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define U8(c)  ((uint8_t)le(c, 1))
#define U16(c) ((uint16_t)le(c, 2))
#define U32(c) ((uint32_t)le(c, 4))
#define U64(c) (le(c, 8))

/* A string field: its bytes (not terminated) and length. */
static const char *str(struct cur *c, size_t *len)
{
	*len = U16(c);
	return (const char *)take(c, *len);
}

/* ---- Records ---- */

struct parse {
	struct rd rd;
	struct pmt_trace *t;
	struct pmt_priv *pv;
	bool has_header;
	char *err;
	size_t errlen;
	uint64_t rec_off; /* the record being read */
	int rec_type;
	uint64_t summary_frame; /* file offset of the frame holding the SUMMARY */
};

/*
 * Writes the message for bad() and fail() into ps->err: the path, with the
 * record's place in the stream when @in_record, then @fmt.
 */
static void vsay(struct parse *ps, bool in_record, const char *fmt, va_list ap)
{
	int n;

	if (!ps->err || !ps->errlen)
		return;
	if (in_record)
		n = snprintf(ps->err, ps->errlen,
		             "%s: record at offset %" PRIu64
		             " of the decompressed stream (type %d): ",
		             ps->rd.path, ps->rec_off, ps->rec_type);
	else
		n = snprintf(ps->err, ps->errlen, "%s: ", ps->rd.path);
	if (n >= 0 && (size_t)n < ps->errlen)
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
}

__attribute__((format(printf, 2, 3))) static int bad(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(ps, true, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char *dup_str(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int rec_header(struct parse *ps, struct cur *c)
{
	struct pmt_trace *t = ps->t;
	if (ps->has_header)
		return bad(ps, "a second HEADER");
	t->pid = U32(c);
	t->ppid = U32(c);
	t->frame_limit = U32(c);
	t->flags = U32(c);
	t->start_realtime_ns = U64(c);
	t->sample_bytes = U64(c);
	size_t nexe, ncmd;
	const char *exe = str(c, &nexe);
	const char *cmd = str(c, &ncmd);
	if (c->bad)
		return bad(ps, "HEADER shorter than its fields");
	if (memchr(exe, 0, nexe) || memchr(cmd, 0, ncmd))
		return bad(ps, "HEADER string holds a NUL byte");
	t->exe = dup_str(exe, nexe);
	t->cmdline = dup_str(cmd, ncmd);
	if (!t->exe || !t->cmdline)
		return -ENOMEM;
	ps->has_header = true;
	return 0;
}

static int rec_module(struct parse *ps, struct cur *c)
{
	struct pmt_priv *pv = ps->pv;
	uint32_t id = U32(c);
	struct mt_module m = {0};
	m.start = U64(c);
	m.end = U64(c);
	m.bias = U64(c);
	size_t nid, npath;
	const char *bid = str(c, &nid);
	const char *path = str(c, &npath);
	if (c->bad)
		return bad(ps, "MODULE shorter than its fields");
	if (memchr(path, 0, npath))
		return bad(ps, "MODULE path holds a NUL byte");
	if (m.start > m.end)
		return bad(ps, "MODULE %" PRIu32 " ends before it starts", id);
	for (size_t i = 0; i < pv->nmods; i++)
		if (pv->mod_ids[i] == id)
			return bad(ps, "MODULE id %" PRIu32 " defined twice", id);
	if (grow((void **)&pv->mods, &pv->mods_cap, pv->nmods + 1, sizeof *pv->mods) < 0)
		return -ENOMEM;
	/* mod_ids grows with mods: same capacity. */
	uint32_t *ids = realloc(pv->mod_ids, pv->mods_cap * sizeof *ids);
	if (!ids)
		return -ENOMEM;
	pv->mod_ids = ids;
	m.path = mt_pool_strndup(&pv->strings, path, npath);
	uint8_t *b = nid ? mt_pool_alloc(&pv->strings, nid) : NULL;
	if (!m.path || (nid && !b))
		return -ENOMEM;
	if (nid)
		memcpy(b, bid, nid);
	m.build_id = b;
	m.build_id_len = nid;
	pv->mod_ids[pv->nmods] = id;
	pv->mods[pv->nmods++] = m;
	return 0;
}

static int rec_stack(struct parse *ps, struct cur *c)
{
	struct pmt_priv *pv = ps->pv;
	uint32_t id = U32(c);
	uint16_t n = U16(c);
	uint8_t truncated = U8(c);
	take(c, 1); /* reserved */
	const unsigned char *p = take(c, (size_t)n * 8);
	if (c->bad)
		return bad(ps, "STACK shorter than its %u frames", (unsigned)n);
	if ((uint64_t)id != pv->nstacks + 1)
		return bad(ps, "STACK id %" PRIu32 " out of order (expected %zu)", id,
		           pv->nstacks + 1);
	if (truncated > 1)
		return bad(ps, "STACK %" PRIu32 ": truncated flag %u", id, (unsigned)truncated);
	if (grow((void **)&pv->frames, &pv->frames_cap, pv->nframes + n, sizeof *pv->frames) < 0 ||
	    grow((void **)&pv->stacks, &pv->stacks_cap, pv->nstacks + 1, sizeof *pv->stacks) < 0)
		return -ENOMEM;
	struct cur fc = {p, (size_t)n * 8, false};
	for (size_t i = 0; i < n; i++)
		pv->frames[pv->nframes + i] = (uintptr_t)U64(&fc);
	pv->stacks[pv->nstacks++] = (struct pstack){pv->nframes, n, truncated};
	pv->nframes += n;
	return 0;
}

static int rec_sample(struct parse *ps, struct cur *c)
{
	struct pmt_trace *t = ps->t;
	struct pmt_sample s;
	s.t_ns = U64(c);
	s.current = U64(c);
	s.peak = U64(c);
	s.max = U64(c);
	s.allocs = U64(c);
	s.frees = U64(c);
	if (c->bad)
		return bad(ps, "SAMPLE shorter than its fields");
	if (grow((void **)&t->samples, &ps->pv->samples_cap, t->nsamples + 1, sizeof s) < 0)
		return -ENOMEM;
	t->samples[t->nsamples++] = s;
	return 0;
}

static int rec_snapshot(struct parse *ps, struct cur *c)
{
	struct pmt_trace *t = ps->t;
	struct pmt_priv *pv = ps->pv;
	struct pmt_snapshot_info si = {0};
	si.seq = U32(c);
	si.kind = U8(c);
	take(c, 3);
	si.t_ns = U64(c);
	si.current = U64(c);
	si.peak = U64(c);
	uint32_t n = U32(c);
	if (c->bad)
		return bad(ps, "SNAPSHOT shorter than its fields");
	if (c->n / 24 < n)
		return bad(ps, "SNAPSHOT of %" PRIu32 " entries in %zu bytes", n, c->n);
	if (si.kind < PMT_SNAP_EXIT || si.kind > PMT_SNAP_PEAK)
		return bad(ps, "SNAPSHOT of unknown kind %u", (unsigned)si.kind);
	if (grow((void **)&pv->entries, &pv->entries_cap, pv->nentries + n, sizeof *pv->entries) <
	    0)
		return -ENOMEM;
	size_t first = pv->nentries;
	for (uint32_t i = 0; i < n; i++) {
		struct pentry e;
		e.stack = U32(c);
		e.domain = U32(c);
		e.count = U64(c);
		e.size = U64(c);
		if (e.stack > pv->nstacks)
			return bad(ps,
			           "SNAPSHOT %" PRIu32 " entry %" PRIu32 " names stack %" PRIu32
			           ", never defined",
			           si.seq, i, e.stack);
		pv->entries[pv->nentries++] = e;
	}
	si.nentries = n;
	size_t cap = pv->snapshots_cap;
	if (grow((void **)&t->snapshots, &pv->snapshots_cap, t->nsnapshots + 1, sizeof si) < 0)
		return -ENOMEM;
	if (pv->snapshots_cap != cap) {
		size_t *f = realloc(pv->snap_first, pv->snapshots_cap * sizeof *f);
		if (!f)
			return -ENOMEM;
		pv->snap_first = f;
	}
	pv->snap_first[t->nsnapshots] = first;
	t->snapshots[t->nsnapshots++] = si;
	return 0;
}

static int rec_summary(struct parse *ps, struct cur *c)
{
	struct pmt_summary *m = &ps->t->summary;
	m->t_ns = U64(c);
	m->peak = U64(c);
	m->peak_t_ns = U64(c);
	m->leaked_bytes = U64(c);
	m->leaked_blocks = U64(c);
	m->allocs = U64(c);
	m->frees = U64(c);
	m->bytes_allocated = U64(c);
	m->tracer_memory = U64(c);
	m->untraced_frees = U64(c);
	if (c->bad)
		return bad(ps, "SUMMARY shorter than its fields");
	ps->t->has_summary = true;
	ps->summary_frame = ps->rd.in_frame ? ps->rd.frame_start : UINT64_MAX;
	return 0;
}

static int record(struct parse *ps, int type, struct cur *c)
{
	if (!ps->has_header && type != PMT_HEADER)
		return bad(ps, "a record before the HEADER");
	if (ps->t->has_summary)
		return bad(ps, "a record after the SUMMARY");
	switch (type) {
	case PMT_HEADER:
		return rec_header(ps, c);
	case PMT_MODULE:
		return rec_module(ps, c);
	case PMT_STACK:
		return rec_stack(ps, c);
	case PMT_SAMPLE:
		return rec_sample(ps, c);
	case PMT_SNAPSHOT:
		return rec_snapshot(ps, c);
	case PMT_SUMMARY:
		return rec_summary(ps, c);
	default:
		return bad(ps, "unknown record type");
	}
}

/* ---- The file ---- */

__attribute__((format(printf, 2, 3))) static int fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(ps, false, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int note_cut(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int note_cut(struct parse *ps, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!ps->has_header)
		return fail(ps, "the file ends before its HEADER record is complete (%s)", msg);
	ps->t->truncation = strdup(msg);
	return ps->t->truncation ? 0 : -ENOMEM;
}

static int preamble(struct parse *ps)
{
	unsigned char p[8];
	size_t got = 0;
	while (got < sizeof p) {
		ssize_t n = read(ps->rd.fd, p + got, sizeof p - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			fail(ps, "read error: %s", strerror(e));
			return -e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == 0)
		return fail(ps, "empty file, not a memtrace trace");
	if (memcmp(p, PMT_MAGIC, got < 4 ? got : 4) != 0)
		return fail(ps, "not a memtrace trace file (bad magic at offset 0)");
	if (got < sizeof p)
		return fail(ps, "the file ends inside its %zu-byte preamble (%zu bytes)", sizeof p,
		            got);
	uint32_t v =
	        (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
	if (v != PMT_VERSION)
		return fail(ps,
		            "trace format version %" PRIu32 " at offset 4 (this reader knows %u)",
		            v, PMT_VERSION);
	ps->rd.in_off = sizeof p;
	return 0;
}

/* The end of the stream: clean, cut short, or damaged.  @have bytes of an
 * incomplete record were decoded. */
static int stream_end(struct parse *ps, int f, size_t have)
{
	struct rd *r = &ps->rd;
	if (f == FILL_NOMEM)
		return -ENOMEM;
	if (f == FILL_IO) {
		fail(ps, "read error: %s", strerror(r->ioerr));
		return -r->ioerr;
	}
	if (f == FILL_END && have == 0) {
		if (!ps->has_header)
			return fail(ps, "no HEADER record: the trace holds no data");
		if (!ps->t->has_summary)
			return note_cut(ps,
			                "the file ends without its SUMMARY, after byte %" PRIu64
			                " of the decompressed stream (the process did not finish)",
			                r->out_off);
		return 0;
	}
	if (ps->t->has_summary) {
		/* Complete, but for the end of the SUMMARY's own frame? */
		bool same_frame = r->in_frame && r->frame_start == ps->summary_frame;
		if (same_frame && have == 0 && f == FILL_CUT)
			return 0; /* only the frame's epilogue is missing */
		if (!same_frame || have) {
			ps->rec_type = 0;
			ps->rec_off = r->out_off;
			return bad(ps, "data after the SUMMARY");
		}
	}
	bool tail = f != FILL_ZERR || damaged_tail(r);
	if (!tail || ps->t->has_summary)
		return fail(ps,
		            "corrupt compressed data in the frame at byte %" PRIu64
		            " of the file: %s",
		            r->frame_start, ZSTD_getErrorName(r->zerr));
	if (f == FILL_ZERR)
		return note_cut(ps,
		                "damaged compressed data in the file's last frame, at byte %" PRIu64
		                " (%s); what follows is lost",
		                r->frame_start, ZSTD_getErrorName(r->zerr));
	if (have)
		return note_cut(ps,
		                "the file ends inside the record at byte %" PRIu64
		                " of the decompressed stream",
		                r->out_off);
	return note_cut(ps,
	                "the file ends inside a compressed frame, after byte %" PRIu64
	                " of the decompressed stream",
	                r->out_off);
}

static int parse(struct parse *ps)
{
	struct rd *r = &ps->rd;
	int rc = preamble(ps);
	if (rc < 0)
		return rc;
	for (;;) {
		int f = fill(r, 8);
		if (f != FILL_OK)
			return stream_end(ps, f, r->out_end - r->out_pos);
		const unsigned char *h = r->out + r->out_pos;
		ps->rec_off = r->out_off;
		ps->rec_type = h[0];
		uint32_t len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
		               (uint32_t)h[7] << 24;
		if (h[1] || h[2] || h[3])
			return bad(ps, "flags or reserved bytes are not 0");
		if (h[0] < PMT_HEADER || h[0] > PMT_SUMMARY)
			return bad(ps, "unknown record type");
		if (len > PMT_RECORD_MAX)
			return bad(ps, "length %" PRIu32 " beyond the %u-byte limit", len,
			           PMT_RECORD_MAX);
		f = fill(r, 8 + (size_t)len);
		if (f != FILL_OK)
			return stream_end(ps, f, r->out_end - r->out_pos);
		struct cur c = {r->out + r->out_pos + 8, len, false};
		rc = record(ps, ps->rec_type, &c);
		if (rc < 0)
			return rc;
		r->out_pos += 8 + (size_t)len;
		r->out_off += 8 + (uint64_t)len;
	}
}

struct pmt_trace *pmt_trace_read(const char *path, char *err, size_t errlen)
{
	GUARD_BEGIN;
	if (err && errlen)
		err[0] = '\0';
	struct parse ps = {.rd = {.path = path, .fd = -1}, .err = err, .errlen = errlen};
	int rc = -ENOMEM;
	ps.t = calloc(1, sizeof *ps.t);
	ps.pv = calloc(1, sizeof *ps.pv);
	ps.rd.z = ZSTD_createDCtx();
	if (!ps.t || !ps.pv || !ps.rd.z)
		goto out;
	pthread_mutex_init(&ps.pv->lock, NULL);
	ps.t->priv = ps.pv;
	ps.rd.fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (ps.rd.fd < 0 || fstat(ps.rd.fd, &sb) < 0) {
		rc = -errno;
		fail(&ps, "%s", strerror(errno));
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		rc = -EISDIR;
		fail(&ps, "is a directory");
		goto out;
	}
	ps.rd.file_size = (uint64_t)sb.st_size;
	ps.rd.in_cap =
	        sb.st_size > 0 && (uint64_t)sb.st_size < IN_CHUNK ? (size_t)sb.st_size : IN_CHUNK;
	ps.rd.in = malloc(ps.rd.in_cap);
	ps.rd.zin.src = ps.rd.in;
	rc = ps.rd.in ? parse(&ps) : -ENOMEM;
out:
	if (ps.rd.fd >= 0)
		close(ps.rd.fd);
	ZSTD_freeDCtx(ps.rd.z);
	free(ps.rd.in);
	free(ps.rd.out);
	if (rc == -ENOMEM)
		fail(&ps, "out of memory");
	if (rc < 0 && ps.t) {
		if (!ps.t->priv)
			free(ps.pv);
		pmt_trace_free(ps.t);
		ps.t = NULL;
	} else if (rc < 0) {
		free(ps.pv);
	}
	GUARD_END;
	if (rc < 0)
		errno = -rc;
	return rc < 0 ? NULL : ps.t;
}

void pmt_trace_free(struct pmt_trace *t)
{
	if (!t)
		return;
	GUARD_BEGIN;
	struct pmt_priv *pv = t->priv;
	if (pv) {
		free(pv->mods);
		free(pv->mod_ids);
		free(pv->frames);
		free(pv->stacks);
		free(pv->entries);
		free(pv->snap_first);
		mt_pool_free(&pv->strings);
		if (pv->sym)
			mt_symtab_unref(pv->sym);
		pthread_mutex_destroy(&pv->lock);
		free(pv);
	}
	free(t->exe);
	free(t->cmdline);
	free(t->samples);
	free(t->snapshots);
	free(t->truncation);
	free(t);
	GUARD_END;
}

/* ---- Snapshots out of a trace ---- */

long pmt_trace_find(const struct pmt_trace *t, int kind)
{
	for (size_t i = t->nsnapshots; i-- > 0;)
		if (t->snapshots[i].kind == kind)
			return (long)i;
	return -1;
}

static plumb_memtrace_snapshot *build(const struct pmt_trace *t, size_t k)
{
	struct pmt_priv *pv = t->priv;
	pthread_mutex_lock(&pv->lock);
	if (!pv->sym)
		pv->sym = mt_symtab_new(pv->mods, pv->nmods);
	struct mt_symtab *sym = pv->sym;
	pthread_mutex_unlock(&pv->lock);
	if (!sym)
		return NULL;
	const struct pmt_snapshot_info *si = &t->snapshots[k];
	plumb_memtrace_snapshot *s = mt_snapshot_new_shared((int)t->frame_limit, sym);
	int32_t *map = calloc(pv->nstacks + 1, sizeof *map); /* stack id -> index + 1 */
	if (!s || !map)
		goto fail;
	mt_snapshot_set_time(s, si->t_ns, si->current, si->peak);
	const struct mt_origin origin = {.set = true,
	                                 .pid = t->pid,
	                                 .ppid = t->ppid,
	                                 .flags = t->flags,
	                                 .start_realtime_ns = t->start_realtime_ns,
	                                 .sample_bytes = t->sample_bytes,
	                                 .exe = t->exe,
	                                 .cmdline = t->cmdline};
	if (mt_origin_copy(&s->origin, &origin) < 0)
		goto fail;
	const struct pentry *e = pv->entries + pv->snap_first[k];
	for (size_t i = 0; i < si->nentries; i++, e++) {
		if (!map[e->stack]) {
			const struct pstack *ps = e->stack ? &pv->stacks[e->stack - 1] : NULL;
			long idx = ps ? mt_snapshot_stack(s, pv->frames + ps->off, ps->nframe,
			                                  ps->truncated)
			              : mt_snapshot_stack(s, NULL, 0, false);
			if (idx < 0)
				goto fail;
			map[e->stack] = (int32_t)idx + 1;
		}
		if (mt_snapshot_add_group(s, (uint32_t)map[e->stack] - 1, e->domain, e->count,
		                          e->size) < 0)
			goto fail;
	}
	free(map);
	return s;
fail:
	free(map);
	plumb_memtrace_snapshot_free(s);
	return NULL;
}

plumb_memtrace_snapshot *pmt_trace_snapshot(const struct pmt_trace *t, size_t k)
{
	if (!t || k >= t->nsnapshots) {
		errno = EINVAL;
		return NULL;
	}
	GUARD_BEGIN;
	plumb_memtrace_snapshot *s = build(t, k);
	GUARD_END;
	if (!s)
		errno = ENOMEM;
	return s;
}

plumb_memtrace_snapshot *plumb_memtrace_snapshot_load(const char *path, char *err, size_t errlen)
{
	GUARD_BEGIN;
	plumb_memtrace_snapshot *s = NULL;
	int e = 0;
	struct pmt_trace *t = pmt_trace_read(path, err, errlen);
	if (!t) {
		e = errno;
		goto out;
	}
	e = EINVAL;
	if (!t->has_summary) {
		if (err && errlen)
			snprintf(err, errlen, "%s: truncated: %s", path,
			         t->truncation ? t->truncation : "no SUMMARY record");
		goto out;
	}
	if (!t->nsnapshots) {
		if (err && errlen)
			snprintf(err, errlen, "%s: the trace holds no snapshot", path);
		goto out;
	}
	s = build(t, t->nsnapshots - 1);
	if (!s) {
		e = ENOMEM;
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
	}
out:
	pmt_trace_free(t);
	GUARD_END;
	if (!s)
		errno = e;
	return s;
}
