/*
 * tee.c - the note "Go: Tee it Together - io.TeeReader()", in C on libplumb.
 *
 * A string is read in 8-byte chunks through a tee reader whose other side
 * is a SHA-256 hash: every chunk is processed (printed) as it arrives, and
 * the digest of all of it is ready when the reading ends, with no second
 * pass over the data.  Prints what the note's Go program prints, byte for
 * byte.  An argument, if given, replaces the demo string.
 */
#include <stdio.h>
#include <stdlib.h>

#include <plumb/plumb.h>

static void process_chunk(const char *b, size_t n)
{
	/* simulate processing data in chunks */
	printf("processing chunk: %.*s\n", (int)n, b);
}

int main(int argc, char **argv)
{
	enum { chunk_size = 8 };
	const char *source = argc > 1 ? argv[1] : "Hello from this demo string.";

	plumb_hash *hash;
	if (plumb_hash_new(&hash, "sha256") < 0)
		return 1;
	plumb_reader *src = plumb_string_reader_new(source);
	/* compute the digest of the bytes while reading them */
	plumb_reader *rdr = plumb_tee_reader_new(src, plumb_hash_writer(hash));
	if (!src || !rdr) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}

	size_t total = 0;
	char buffer[chunk_size];
	for (;;) {
		ssize_t n = plumb_reader_read(rdr, buffer, sizeof buffer);
		if (n < 0) {
			fprintf(stderr, "error reading from source: %s\n", plumb_strerror((int)n));
			return 1;
		}
		if (n == 0)
			break;
		process_chunk(buffer, (size_t)n);
		total += (size_t)n;
	}

	char hex[PLUMB_HASH_MAX_HEX];
	plumb_hash_hex(hash, hex, sizeof hex);
	printf("total bytes read: %zu\n", total);
	printf("Hashsum: %s\n", hex);

	plumb_reader_free(rdr);
	plumb_reader_free(src);
	plumb_hash_free(hash);
	return 0;
}
