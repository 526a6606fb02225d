/*
 * cmd.h - what the plumb command's files share: the subcommand entry points
 * and a few helpers for messages and numbers.
 */
#ifndef PLUMB_CMD_H
#define PLUMB_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each subcommand: argv[0] is the subcommand's name; returns the exit status. */
int cmd_batch(int argc, char **argv);
int cmd_hash(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_loop(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_memtrace(int argc, char **argv);

/* "plumb" or "plumb SUBCOMMAND", for messages. */
extern const char *prog_name;

/* Prints "plumb CMD: message" on stderr (printf-style, newline added). */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a non-negative decimal integer no larger than max; false if malformed. */
bool parse_uint(const char *s, uint64_t max, uint64_t *out);

/* Parses a byte count with an optional binary suffix: 512, 64K, 8M, 8MiB,
 * 8MB, 1G (K, M, G, T and their KiB/KB forms all count in 1024s, as the AWS
 * tools do); false if malformed or overflowing. */
bool parse_size(const char *s, uint64_t *out);

/* Seconds on the monotonic clock, for measuring how long things take. */
double mono_seconds(void);

/* Writes n bytes in a short human form ("1.5 MiB", "512 B") into buf. */
void format_bytes(char *buf, size_t len, double n);

#endif
