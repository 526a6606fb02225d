/* util.c - message and parsing helpers shared by plumb's subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmd.h"

const char *prog_name = "plumb";

void warnx_(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

bool parse_size(const char *s, uint64_t *out)
{
	static const char *const units[] = {"", "K", "M", "G", "T"};
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return false;
	for (unsigned i = 0; i < sizeof units / sizeof units[0]; i++) {
		size_t n = strlen(units[i]);
		if (strncasecmp(end, units[i], n))
			continue;
		const char *rest = end + n;
		if (*rest && strcasecmp(rest, "B") && (i == 0 || strcasecmp(rest, "iB")))
			continue;
		for (unsigned k = 0; k < i; k++) {
			if (v > UINT64_MAX / 1024)
				return false;
			v *= 1024;
		}
		*out = v;
		return true;
	}
	return false;
}

void format_bytes(char *buf, size_t len, double n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned i = 0;
	while (n >= 1024 && i + 1 < sizeof units / sizeof units[0]) {
		n /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f B", n);
	else
		snprintf(buf, len, "%.1f %s", n, units[i]);
}

double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
