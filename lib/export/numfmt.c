/*
 * numfmt.c - integers and floating point numbers as decimal text, fast.
 *
 * Integers are written two digits at a time from a table, without printf.
 *
 * A double is written as the shortest decimal that reads back to the same
 * double.  printf("%.17g") gives too many digits, and searching %.1g..%.17g
 * with strtod costs microseconds a number; an export of millions of floats
 * cannot afford that.  The fast path finds the answer with a few multiplies
 * and one division in 80-bit long double arithmetic (x86-64's x87 format:
 * a 64-bit significand):
 *
 *   For k = 0, 1, 2, ...: p = x * 10^k (10^k is exact in long double up to
 *   10^27; the product is rounded once, to 64 bits).  m = the integer nearest
 *   p.  The decimal m / 10^k reads back to x exactly when the correctly
 *   rounded double of that rational is x.  The long double quotient q =
 *   m / 10^k is correctly rounded to 64 bits (m and 10^k are both exact), and
 *   rounding q again to 53 bits gives the same double as rounding the exact
 *   rational directly unless q sits exactly halfway between two doubles (the
 *   exact value could then lie on either side): that case is sent to the
 *   slow path.  The first k that works gives the fewest digits after the
 *   point, hence the fewest significant digits.
 *
 * Before the division, a cheap test skips candidates that cannot work: a
 * decimal that reads back to x lies within half an ulp of x, so m must be
 * within 10^k * ulp(x) / 2 of the exact product (the test allows twice that).
 *
 * The fast path covers 0 < |x| < 2^53 whose shortest form has at most 27
 * digits after the point (all of [1e-10, 2^53), and short forms far below);
 * everything else (huge, tiny with many digits, the rare halfway quotient)
 * takes the slow path: printf's correctly rounded 17 significant digits,
 * then a binary search for the fewest digits that strtod reads back to x --
 * correct because a precision that reads back keeps reading back with more
 * digits -- the candidates made by rounding those 17 digits (printf again
 * only when they end in an exact half, where rounding them cannot decide).
 * A few microseconds a number, for numbers data rarely holds.
 *
 * Floats (PostgreSQL's float4) get the same treatment with double as the
 * wider type: 10^k is exact in double up to 10^22, and the halfway test is
 * at float's precision.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode-internal.h"

static const char pairs[201] = "00010203040506070809"
                               "10111213141516171819"
                               "20212223242526272829"
                               "30313233343536373839"
                               "40414243444546474849"
                               "50515253545556575859"
                               "60616263646566676869"
                               "70717273747576777879"
                               "80818283848586878889"
                               "90919293949596979899";

/* clang-format off */
static const uint64_t pow10u[20] = {
	1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
	100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
	10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
	100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL,
};
/* clang-format on */

/* The number of decimal digits of v (1 for 0). */
static inline int count_digits(uint64_t v)
{
	/* log10(2) ~ 1233/4096: an estimate from the bit length, then one fix. */
	int bits = 64 - __builtin_clzll(v | 1);
	int t = (bits * 1233) >> 12;
	return t + 1 - ((v | 1) < pow10u[t]);
}

/* Writes the n digits of v ending at end (exclusive). */
static inline void put_digits(char *end, uint64_t v)
{
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		end -= 2;
		memcpy(end, pairs + 2 * r, 2);
	}
	if (v >= 10) {
		end -= 2;
		memcpy(end, pairs + 2 * v, 2);
	} else {
		*--end = (char)('0' + v);
	}
}

size_t plumb_enc_u64(char *out, uint64_t v)
{
	int n = count_digits(v);
	put_digits(out + n, v);
	return (size_t)n;
}

size_t plumb_enc_i64(char *out, int64_t v)
{
	if (v < 0) {
		*out = '-';
		return 1 + plumb_enc_u64(out + 1, 0 - (uint64_t)v);
	}
	return plumb_enc_u64(out, (uint64_t)v);
}

/*
 * layout - the digits d[0..nd) (no leading or trailing zeros) with the
 * decimal point after point digits (point may be <= 0 or > nd), written as
 * JavaScript's Number::toString writes them.  Returns the length.
 */
static size_t layout(char *out, const char *d, int nd, int point)
{
	char *p = out;
	if (nd <= point && point <= 21) {
		memcpy(p, d, (size_t)nd);
		p += nd;
		memset(p, '0', (size_t)(point - nd));
		p += point - nd;
	} else if (0 < point && point <= 21) {
		memcpy(p, d, (size_t)point);
		p += point;
		*p++ = '.';
		memcpy(p, d + point, (size_t)(nd - point));
		p += nd - point;
	} else if (-6 < point && point <= 0) {
		*p++ = '0';
		*p++ = '.';
		memset(p, '0', (size_t)-point);
		p += -point;
		memcpy(p, d, (size_t)nd);
		p += nd;
	} else {
		int e = point - 1;
		*p++ = d[0];
		if (nd > 1) {
			*p++ = '.';
			memcpy(p, d + 1, (size_t)(nd - 1));
			p += nd - 1;
		}
		*p++ = 'e';
		*p++ = e < 0 ? '-' : '+';
		p += plumb_enc_u64(p, (uint64_t)(e < 0 ? -e : e));
	}
	return (size_t)(p - out);
}

/* m * 10^-k (m > 0) as digits and a point position, trailing zeros gone. */
static size_t layout_scaled(char *out, uint64_t m, int k)
{
	char d[24];
	while (k > 0 && m % 10 == 0)
		m /= 10, k--;
	int nd = count_digits(m);
	if (nd <= 21 && k < nd) {
		/* The common layouts, written in place: an integer (k == 0), or
		 * digits with the point among them, which is where layout puts it
		 * for 0 < nd - k <= 21 with no trailing zero after the point. */
		put_digits(out + nd, m);
		if (k == 0)
			return (size_t)nd;
		memmove(out + nd - k + 1, out + nd - k, (size_t)k);
		out[nd - k] = '.';
		return (size_t)nd + 1;
	}
	put_digits(d + nd, m);
	int point = nd - k;
	while (nd > 1 && d[nd - 1] == '0')
		nd--;
	return layout(out, d, nd, point);
}

/*
 * round_digits - d[0..nd) (a decimal significand, exponent *e: the value is
 * d.ddd x 10^*e) rounded to n digits, half up, into r; the exponent moves
 * when 9.99 becomes 10.0.  Returns 0 when the digits cut off are exactly a
 * half ("5", "50..."): d is itself rounded, so the true value may lie on
 * either side and the caller must ask printf for that precision.
 */
static int round_digits(const char *d, int nd, int n, char *r, int *e)
{
	memcpy(r, d, (size_t)n);
	if (n >= nd)
		return 1;
	if (d[n] == '5') {
		int rest_zero = 1;
		for (int i = n + 1; i < nd; i++)
			if (d[i] != '0')
				rest_zero = 0;
		if (rest_zero)
			return 0;
	}
	if (d[n] >= '5') {
		int i = n - 1;
		while (i >= 0 && r[i] == '9')
			r[i--] = '0';
		if (i >= 0) {
			r[i]++;
		} else {
			r[0] = '1';
			memset(r + 1, '0', (size_t)(n - 1));
			(*e)++;
		}
	}
	return 1;
}

/* The digits and exponent of printf's %.*e of x with n significant digits. */
static int printf_digits(double x, int n, char *d, int *e)
{
	char buf[48];
	snprintf(buf, sizeof buf, "%.*e", n - 1, x);
	int nd = 0;
	const char *p = buf;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			d[nd++] = *p;
	*e = atoi(p + 1);
	return nd;
}

/* Does d[0..n) x 10^(e - n + 1) read back to x (to (float)x if single)? */
static int reads_back(const char *d, int n, int e, double x, int single)
{
	char buf[48];
	memcpy(buf, d, (size_t)n);
	snprintf(buf + n, sizeof buf - (size_t)n, "e%d", e - n + 1);
	return single ? strtof(buf, NULL) == (float)x : strtod(buf, NULL) == x;
}

/*
 * slow_path - for x the fast path cannot do: printf's correctly rounded
 * significand with maxprec digits (17 always reads back to a double, 9 to a
 * float), then a binary search for the fewest digits that read back, the
 * candidates made by rounding those digits (printf again only in the rare
 * case that rounding them cannot decide).
 */
static size_t slow_path(char *out, double x, int maxprec, int single)
{
	char full[24], r[24], best[24];
	int e0;
	int nd = printf_digits(x, maxprec, full, &e0);
	int lo = 1, hi = nd, beste = e0;
	memcpy(best, full, (size_t)nd);
	while (lo < hi) {
		int mid = (lo + hi) / 2, e = e0;
		if (!round_digits(full, nd, mid, r, &e))
			printf_digits(x, mid, r, &e);
		if (reads_back(r, mid, e, x, single)) {
			hi = mid;
			memcpy(best, r, (size_t)mid);
			beste = e;
		} else {
			lo = mid + 1;
		}
	}
	int n = lo;
	while (n > 1 && best[n - 1] == '0')
		n--;
	return layout(out, best, n, beste + 1);
}

/* The distance from x (> 0, finite) to the next double up: 2^(E - 52) for
 * biased exponent E, taken from the bits (frexp and ldexp are calls). */
static inline double ulp_double(double x)
{
	uint64_t bits;
	memcpy(&bits, &x, sizeof bits);
	uint64_t e = bits >> 52;
	if (e <= 52)
		return 0x1p-1074;
	bits = (e - 52) << 52;
	memcpy(&x, &bits, sizeof x);
	return x;
}

/* The same for a float: 2^(E - 150) for biased exponent E. */
static inline double ulp_float(float x)
{
	uint32_t bits;
	memcpy(&bits, &x, sizeof bits);
	uint64_t e = bits >> 23;
	/* 2^(E - 127 - 23) as a double has biased exponent E + 873. */
	uint64_t d = ((e ? e : 1) + 873) << 52;
	double u;
	memcpy(&u, &d, sizeof u);
	return u;
}

/* The powers of ten that are exact doubles. */
static const double pow10d[23] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#if LDBL_MANT_DIG == 64

static const long double pow10l[28] = {
        1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
        1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
        1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L,
};

/* The x87 format: the 64-bit significand (explicit leading bit) first. */
union ldbits {
	long double v;
	struct {
		uint64_t mant;
		uint16_t sexp;
	} b;
};

/* Does m / 10^k read back to x?  1 yes, 0 no, -1 cannot tell (halfway). */
static inline int check_double(uint64_t m, int k, double x)
{
	union ldbits q = {.v = (long double)m / pow10l[k]};
	if ((q.b.mant & 0x7ff) == 0x400)
		return -1;
	return (double)q.v == x;
}

/*
 * The long double loop, from k on (see the top of the file).  Returns 1
 * with m and k, or 0 when it cannot tell.
 */
static int fast_double_wide(double x, int k, uint64_t *mout, int *kout)
{
	long double ulp = ulp_double(x);
	long double xl = x;
	for (; k < 28; k++) {
		long double p = xl * pow10l[k];
		if (p >= 0x1p62L)
			break;
		if (p < 0.5L)
			continue;
		/* Rounding to an integer: adding 2^63 leaves no bits below 1. */
		union ldbits r = {.v = p + 0x1p63L};
		uint64_t m = r.b.mant - (1ULL << 63);
		long double tol = ulp * pow10l[k];
		long double diff = p - (long double)m;
		if (fabsl(diff) > tol)
			continue;
		int ok = check_double(m, k, x);
		if (ok == 0 && tol >= 0.5L) {
			/* Both neighbours may be in reach: try the other one. */
			uint64_t m2 = diff > 0 ? m + 1 : m - 1;
			if (m2 && fabsl(p - (long double)m2) <= tol)
				ok = check_double(m = m2, k, x);
		}
		if (ok < 0)
			return 0;
		if (ok) {
			*mout = m;
			*kout = k;
			return 1;
		}
	}
	return 0;
}

#else

/* No 80-bit long double here: what the double loop leaves goes slow. */
static int fast_double_wide(double x, int k, uint64_t *mout, int *kout)
{
	(void)x, (void)k, (void)mout, (void)kout;
	return 0;
}

#endif

/*
 * fast_double - for 0 < x < 2^53: m and k with m * 10^-k the shortest
 * decimal of x; returns 0 when it cannot tell.
 *
 * The first k are tried in plain double arithmetic, which is cheaper, for
 * as long as 10^k * ulp(x) < 2^-10: the computed product x * 10^k is then
 * off by less than 2^-10, a decimal that reads back lies within 2^-11 of
 * the exact product, so the integer nearest the computed one is the only
 * candidate; and the double division m / 10^k (both exact) is correctly
 * rounded, so comparing it with x decides, with no halfway case.  The long
 * double loop takes over from the first k where that no longer holds.
 */
static int fast_double(double x, uint64_t *mout, int *kout)
{
	double ulp = ulp_double(x);
	int k = 0;
	for (; k < 23 && ulp * pow10d[k] < 0x1p-10; k++) {
		double p = x * pow10d[k];
		if (p < 0.5)
			continue;
		uint64_t m = (uint64_t)(p + 0.5);
		double diff = p - (double)m;
		if (diff > 0x1p-9 || diff < -0x1p-9)
			continue;
		if ((double)m / pow10d[k] == x) {
			*mout = m;
			*kout = k;
			return 1;
		}
	}
	return fast_double_wide(x, k, mout, kout);
}

size_t plumb_enc_double(char *out, double x)
{
	char *p = out;
	if (!isfinite(x)) {
		const char *s = isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
		size_t n = strlen(s);
		memcpy(out, s, n);
		return n;
	}
	if (signbit(x)) {
		*p++ = '-';
		x = -x;
	}
	if (x == 0) {
		*p++ = '0';
		return (size_t)(p - out);
	}
	uint64_t m;
	int k;
	if (x < 0x1p53 && fast_double(x, &m, &k))
		return (size_t)(p - out) + layout_scaled(p, m, k);
	return (size_t)(p - out) + slow_path(p, x, 17, 0);
}

/* Does m / 10^k read back to the float x?  1, 0, or -1 (halfway). */
static inline int check_float(uint64_t m, int k, float x)
{
	double q = (double)m / pow10d[k];
	uint64_t bits;
	memcpy(&bits, &q, sizeof bits);
	/* A double keeps 29 more significand bits than a float. */
	if ((bits & 0x1fffffff) == 0x10000000)
		return -1;
	return (float)q == x;
}

static int fast_float(float x, uint64_t *mout, int *kout)
{
	double ulp = ulp_float(x);
	double xd = x;
	for (int k = 0; k < 23; k++) {
		double p = xd * pow10d[k];
		if (p >= 0x1p51)
			break;
		if (p < 0.5)
			continue;
		uint64_t m = (uint64_t)(p + 0.5);
		double tol = ulp * pow10d[k];
		double diff = p - (double)m;
		if (fabs(diff) > tol)
			continue;
		int ok = check_float(m, k, x);
		if (ok == 0 && tol >= 0.5) {
			uint64_t m2 = diff > 0 ? m + 1 : m - 1;
			if (m2 && fabs(p - (double)m2) <= tol)
				ok = check_float(m = m2, k, x);
		}
		if (ok < 0)
			return 0;
		if (ok) {
			*mout = m;
			*kout = k;
			return 1;
		}
	}
	return 0;
}

size_t plumb_enc_float(char *out, float x)
{
	char *p = out;
	if (!isfinite(x))
		return plumb_enc_double(out, (double)x);
	if (signbit(x)) {
		*p++ = '-';
		x = -x;
	}
	if (x == 0) {
		*p++ = '0';
		return (size_t)(p - out);
	}
	uint64_t m;
	int k;
	if (x < 0x1p24f && fast_float(x, &m, &k))
		return (size_t)(p - out) + layout_scaled(p, m, k);
	return (size_t)(p - out) + slow_path(p, (double)x, 9, 1);
}
