/*
 * cfi.c - one unwind rule from a module's .eh_frame, without allocating.
 *
 * Code built without frame pointers still says how to find its caller: the
 * call frame information (DWARF CFI) in .eh_frame, which every x86-64 object
 * carries for C++ exceptions, indexed by .eh_frame_hdr's sorted table.
 * unwind.c needs, for a return address, only three facts: where the
 * canonical frame address is (SP or BP plus a constant), where the return
 * address was saved (CFA - 8 on x86-64), and whether the caller's BP was
 * saved (and where) or left alone.  This file finds the module with
 * glibc's lock-free _dl_find_object (never the loader lock: the hook may
 * run inside dlopen), binary-searches .eh_frame_hdr, and runs the CIE's and
 * the FDE's CFA programs up to the address.  libdw and libunwind can do
 * this too, but they allocate through malloc, which a hook must not.
 *
 * Rules that need a DWARF expression (PLT stubs) or keep the CFA in
 * another register come back as MT_RULE_BAD: the walk stops there, which
 * is always safe.  A signal trampoline (a CIE with the 'S' augmentation)
 * comes back as MT_RULE_SIGNAL: unwind.c reads the ucontext itself.  Every
 * read stays inside the module's mapping as _dl_find_object reports it.
 */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "tracer.h"

enum {
	REG_RBP = 6,
	REG_RSP = 7,
	REG_RA = 16,
};

struct cur {
	const uint8_t *p, *lo, *hi;
	bool bad;
};

static bool have(struct cur *c, size_t n)
{
	if (c->bad || c->p < c->lo || c->p > c->hi || (size_t)(c->hi - c->p) < n) {
		c->bad = true;
		return false;
	}
	return true;
}

static uint64_t fixed(struct cur *c, size_t n)
{
	uint64_t v = 0;

	if (!have(c, n))
		return 0;
	memcpy(&v, c->p, n);
	c->p += n;
	return v;
}

/*
 * A LEB128 number's bits, low group first.  *@shift ends as the bits read and
 * *@last as the final byte (0 when the data ran out), which sleb() needs for
 * the sign.
 */
static inline uint64_t leb(struct cur *c, unsigned *shift, uint8_t *last)
{
	uint64_t v = 0;
	uint8_t b;

	*shift = 0;
	do {
		if (!have(c, 1)) {
			*last = 0;
			return 0;
		}
		b = *c->p++;
		if (*shift < 64)
			v |= (uint64_t)(b & 0x7f) << *shift;
		*shift += 7;
	} while (b & 0x80);
	*last = b;
	return v;
}

static inline uint64_t uleb(struct cur *c)
{
	unsigned shift;
	uint8_t last;

	return leb(c, &shift, &last);
}

static inline int64_t sleb(struct cur *c)
{
	unsigned shift;
	uint8_t last;
	int64_t v = (int64_t)leb(c, &shift, &last);

	if (shift < 64 && (last & 0x40))
		v |= -((int64_t)1 << shift);
	return v;
}

/* An initial length: 4 bytes, or 0xffffffff then 8 bytes (64-bit DWARF). */
static inline uint64_t unit_length(struct cur *c)
{
	uint64_t len = fixed(c, 4);

	if (len == 0xffffffffu)
		len = fixed(c, 8);
	return len;
}

/* Skips a ULEB128 length and that many bytes (a DWARF expression block). */
static inline void skip_block(struct cur *c)
{
	uint64_t n = uleb(c);

	if (have(c, n))
		c->p += n;
}

/* A DW_EH_PE_* encoded pointer; datarel relative to @dbase. */
static uintptr_t encoded(struct cur *c, uint8_t enc, uintptr_t dbase)
{
	uintptr_t base = 0, v;
	const uint8_t *at = c->p;

	if (enc == 0xff) /* omit */
		return 0;
	switch (enc & 0x0f) {
	case 0x00: /* absptr */
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		v = (uintptr_t)fixed(c, 8);
		break;
	case 0x01:
		v = (uintptr_t)uleb(c);
		break;
	case 0x02:
		v = (uintptr_t)fixed(c, 2);
		break;
	case 0x03:
		v = (uintptr_t)fixed(c, 4);
		break;
	case 0x09:
		v = (uintptr_t)sleb(c);
		break;
	case 0x0a:
		v = (uintptr_t)(int64_t)(int16_t)fixed(c, 2);
		break;
	case 0x0b:
		v = (uintptr_t)(int64_t)(int32_t)fixed(c, 4);
		break;
	default:
		c->bad = true;
		return 0;
	}
	switch (enc & 0x70) {
	case 0x00:
		break;
	case 0x10:
		base = (uintptr_t)at;
		break;
	case 0x30:
		base = dbase;
		if (!dbase)
			c->bad = true;
		break;
	default:
		c->bad = true;
	}
	return base + v;
}

/* Where a register was saved, as far as the walk cares. */
enum reg_kind { R_SAME, R_UNDEF, R_OFFSET, R_OTHER };

struct reg_rule {
	uint8_t kind;
	int64_t off;
};

struct state {
	unsigned cfa_reg;
	int64_t cfa_off;
	bool cfa_expr;
	struct reg_rule bp, ra;
};

struct cie {
	int64_t data_align;
	uint64_t code_align;
	unsigned ra_reg;
	uint8_t fde_enc;
	bool has_z, signal;
	const uint8_t *insns, *end;
};

static bool parse_cie(struct cur *c, struct cie *cie)
{
	uint64_t len = unit_length(c);
	const char *aug;
	const uint8_t *aug_end = NULL;
	uint8_t version;

	if (!have(c, len) || len < 4)
		return false;
	cie->end = c->p + len;
	if (fixed(c, 4) != 0) /* a CIE's id is 0 in .eh_frame */
		return false;
	version = (uint8_t)fixed(c, 1);
	if (version != 1 && version != 3)
		return false;
	aug = (const char *)c->p;
	while (have(c, 1) && *c->p)
		c->p++;
	if (!have(c, 1))
		return false;
	c->p++;
	cie->code_align = uleb(c);
	cie->data_align = sleb(c);
	cie->ra_reg = version == 1 ? (unsigned)fixed(c, 1) : (unsigned)uleb(c);
	cie->fde_enc = 0;
	cie->signal = false;
	cie->has_z = aug[0] == 'z';
	if (aug[0] && aug[0] != 'z')
		return false; /* pre-"z" augmentations: not emitted by today's tools */
	if (cie->has_z) {
		uint64_t alen = uleb(c);

		if (!have(c, alen))
			return false;
		aug_end = c->p + alen;
		for (const char *a = aug + 1; *a && !c->bad; a++) {
			if (*a == 'R') {
				cie->fde_enc = (uint8_t)fixed(c, 1);
			} else if (*a == 'L') {
				fixed(c, 1);
			} else if (*a == 'P') {
				uint8_t enc = (uint8_t)fixed(c, 1);
				encoded(c, enc & 0x7f, 0);
			} else if (*a == 'S') {
				cie->signal = true;
			} else if (*a != 'B' && *a != 'G') {
				break; /* unknown: the length lets us skip the rest */
			}
		}
		c->p = aug_end;
	}
	cie->insns = c->p;
	return !c->bad && c->p <= cie->end;
}

static void set_reg(struct state *s, uint64_t reg, uint8_t kind, int64_t off, unsigned ra_reg)
{
	struct reg_rule r = {kind, off};

	if (reg == REG_RBP)
		s->bp = r;
	else if (reg == ra_reg)
		s->ra = r;
}

/* Puts @reg's rule back to what the CIE left it as. */
static inline void restore_reg(struct state *s, const struct state *init, uint64_t reg,
                               unsigned ra_reg)
{
	if (reg == REG_RBP)
		s->bp = init->bp;
	else if (reg == ra_reg)
		s->ra = init->ra;
}

/*
 * Runs CFA instructions [p, end) from location @loc while the row still
 * covers @target.  @init is the state after the CIE (for DW_CFA_restore).
 * Returns false on an instruction it cannot follow.
 */
static bool run(struct cur *c, const uint8_t *end, const struct cie *cie, uintptr_t loc,
                uintptr_t target, struct state *s, const struct state *init)
{
	struct state stack[8];
	unsigned depth = 0;

	while (c->p < end && !c->bad) {
		uint8_t op = (uint8_t)fixed(c, 1);
		uint64_t reg, delta = 0;
		int64_t off;

		switch (op >> 6) {
		case 1: /* advance_loc */
			delta = op & 0x3f;
			goto advance;
		case 2: /* offset */
			off = (int64_t)uleb(c) * cie->data_align;
			set_reg(s, op & 0x3f, R_OFFSET, off, cie->ra_reg);
			continue;
		case 3: /* restore */
			restore_reg(s, init, op & 0x3f, cie->ra_reg);
			continue;
		}
		switch (op) {
		case 0x00: /* nop */
			continue;
		case 0x01: /* set_loc */
			loc = encoded(c, cie->fde_enc, 0);
			if (loc > target)
				return true;
			continue;
		case 0x02:
			delta = fixed(c, 1);
			goto advance;
		case 0x03:
			delta = fixed(c, 2);
			goto advance;
		case 0x04:
			delta = fixed(c, 4);
			goto advance;
		case 0x05: /* offset_extended */
			reg = uleb(c);
			off = (int64_t)uleb(c) * cie->data_align;
			set_reg(s, reg, R_OFFSET, off, cie->ra_reg);
			continue;
		case 0x06: /* restore_extended */
			restore_reg(s, init, uleb(c), cie->ra_reg);
			continue;
		case 0x07: /* undefined */
			set_reg(s, uleb(c), R_UNDEF, 0, cie->ra_reg);
			continue;
		case 0x08: /* same_value */
			set_reg(s, uleb(c), R_SAME, 0, cie->ra_reg);
			continue;
		case 0x09: /* register */
			reg = uleb(c);
			uleb(c);
			set_reg(s, reg, R_OTHER, 0, cie->ra_reg);
			continue;
		case 0x0a: /* remember_state */
			if (depth == 8)
				return false;
			stack[depth++] = *s;
			continue;
		case 0x0b: /* restore_state */
			if (!depth)
				return false;
			*s = stack[--depth];
			continue;
		case 0x0c: /* def_cfa */
			s->cfa_reg = (unsigned)uleb(c);
			s->cfa_off = (int64_t)uleb(c);
			s->cfa_expr = false;
			continue;
		case 0x0d: /* def_cfa_register */
			s->cfa_reg = (unsigned)uleb(c);
			s->cfa_expr = false;
			continue;
		case 0x0e: /* def_cfa_offset */
			s->cfa_off = (int64_t)uleb(c);
			continue;
		case 0x0f: /* def_cfa_expression */
			s->cfa_expr = true;
			skip_block(c);
			continue;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			reg = uleb(c);
			set_reg(s, reg, R_OTHER, 0, cie->ra_reg);
			skip_block(c);
			continue;
		case 0x11: /* offset_extended_sf */
			reg = uleb(c);
			off = sleb(c) * cie->data_align;
			set_reg(s, reg, R_OFFSET, off, cie->ra_reg);
			continue;
		case 0x12: /* def_cfa_sf */
			s->cfa_reg = (unsigned)uleb(c);
			s->cfa_off = sleb(c) * cie->data_align;
			s->cfa_expr = false;
			continue;
		case 0x13: /* def_cfa_offset_sf */
			s->cfa_off = sleb(c) * cie->data_align;
			continue;
		case 0x14: /* val_offset */
			reg = uleb(c);
			uleb(c);
			set_reg(s, reg, R_OTHER, 0, cie->ra_reg);
			continue;
		case 0x15: /* val_offset_sf */
			reg = uleb(c);
			sleb(c);
			set_reg(s, reg, R_OTHER, 0, cie->ra_reg);
			continue;
		case 0x2e: /* GNU_args_size */
			uleb(c);
			continue;
		case 0x2f: /* GNU_negative_offset_extended */
			reg = uleb(c);
			off = -(int64_t)uleb(c) * cie->data_align;
			set_reg(s, reg, R_OFFSET, off, cie->ra_reg);
			continue;
		default:
			return false;
		}
	advance:
		loc += delta * cie->code_align;
		if (loc > target)
			return true;
	}
	return !c->bad;
}

static uint64_t to_rule(const struct state *s)
{
	uint64_t flags = 0;
	int16_t bp_off = 0;

	if (s->ra.kind == R_UNDEF)
		return mt_rule_make(0, 0, 0, MT_RULE_STOP);
	if (s->cfa_expr || (s->cfa_reg != REG_RSP && s->cfa_reg != REG_RBP))
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	if (s->cfa_off < INT32_MIN || s->cfa_off > INT32_MAX)
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	if (s->ra.kind != R_OFFSET || s->ra.off % 8 || s->ra.off < -1024 || s->ra.off > 1016)
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	if (s->cfa_reg == REG_RBP)
		flags |= MT_RULE_CFA_BP;
	if (s->bp.kind == R_OFFSET && s->bp.off != 0 && s->bp.off >= INT16_MIN &&
	    s->bp.off <= INT16_MAX)
		bp_off = (int16_t)s->bp.off;
	else if (s->bp.kind != R_SAME)
		flags |= MT_RULE_BP_LOST;
	return mt_rule_make((int32_t)s->cfa_off, bp_off, (int8_t)(s->ra.off / 8), flags);
}

/* The .eh_frame_hdr search table: the FDE whose range may hold @a. */
static const uint8_t *find_fde(const uint8_t *hdr, const uint8_t *lo, const uint8_t *hi,
                               uintptr_t a)
{
	struct cur c = {hdr, lo, hi, false};
	uint8_t version = (uint8_t)fixed(&c, 1);
	uint8_t ptr_enc = (uint8_t)fixed(&c, 1);
	uint8_t count_enc = (uint8_t)fixed(&c, 1);
	uint8_t table_enc = (uint8_t)fixed(&c, 1);
	uint64_t n;
	const int32_t *t;
	size_t first = 0, last;

	if (version != 1 || table_enc != 0x3b) /* datarel | sdata4 */
		return NULL;
	encoded(&c, ptr_enc, (uintptr_t)hdr);
	n = encoded(&c, count_enc, (uintptr_t)hdr);
	if (c.bad || !n || !have(&c, n * 8))
		return NULL;
	t = (const int32_t *)c.p;
	if ((uintptr_t)hdr + t[0] > a)
		return NULL;
	last = n - 1;
	while (first < last) { /* the last entry whose start is <= a */
		size_t mid = first + (last - first + 1) / 2;

		if ((uintptr_t)hdr + t[2 * mid] <= a)
			first = mid;
		else
			last = mid - 1;
	}
	return hdr + t[2 * first + 1];
}

uint64_t mt_cfi_rule(uintptr_t pc)
{
	struct dl_find_object fo;
	const uint8_t *lo, *hi, *fde, *cie_at;
	uintptr_t a = pc - 1, begin, range;
	struct cur c;
	struct cie cie;
	struct state s, init;
	uint64_t len;
	uint32_t cie_off;

	if (_dl_find_object((void *)pc, &fo) != 0)
		return 0;
	lo = fo.dlfo_map_start;
	hi = fo.dlfo_map_end;
	if (!fo.dlfo_eh_frame)
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	fde = find_fde(fo.dlfo_eh_frame, lo, hi, a);
	if (!fde)
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	c = (struct cur){fde, lo, hi, false};
	len = unit_length(&c);
	if (!have(&c, len) || len < 8)
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	const uint8_t *fde_end = c.p + len;
	cie_at = c.p;
	cie_off = (uint32_t)fixed(&c, 4);
	if (!cie_off || cie_at - cie_off < lo)
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	struct cur cc = {cie_at - cie_off, lo, hi, false};
	if (!parse_cie(&cc, &cie))
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	/* A signal frame (glibc's __restore_rt): its CFI is an expression
	 * over the ucontext the kernel left at the SP; the walk reads that
	 * structure itself. */
	if (cie.signal)
		return mt_rule_make(0, 0, 0, MT_RULE_SIGNAL);
	begin = encoded(&c, cie.fde_enc, 0);
	range = encoded(&c, cie.fde_enc & 0x0f, 0);
	if (c.bad || a < begin || a - begin >= range)
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	if (cie.has_z)
		skip_block(&c); /* the FDE's augmentation data */
	memset(&s, 0, sizeof(s));
	s.cfa_reg = REG_RSP;
	cc.p = cie.insns;
	if (!run(&cc, cie.end, &cie, 0, UINTPTR_MAX, &s, &s))
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	init = s;
	if (!run(&c, fde_end, &cie, begin, a, &s, &init))
		return mt_rule_make(0, 0, 0, MT_RULE_BAD);
	return to_rule(&s);
}
