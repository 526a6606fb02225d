/*
 * pipe.c - the note "Go: Streaming Data via io.Pipe()" (its stdout part), in
 * C on libplumb.
 *
 * A producer thread JSON-encodes two records into a synchronous pipe, one
 * second apart, and closes it; the main thread copies the pipe to stdout as
 * the bytes arrive.  Nothing is buffered on the way: each write waits until
 * the copy has taken all of it.  Prints what the note's Go program prints.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <plumb/plumb.h>

/* Go's json.NewEncoder(w).Encode(data) for a string: the JSON string and a
 * newline, in one write. */
static int encode(plumb_writer *w, const char *data)
{
	plumb_buffer b;
	plumb_buffer_init(&b);
	int rc = plumb_json_append_string(&b, data, strlen(data));
	if (rc == 0)
		rc = plumb_buffer_append(&b, "\n", 1);
	if (rc == 0) {
		ssize_t n = plumb_writer_write(w, plumb_buffer_bytes(&b), plumb_buffer_len(&b));
		rc = n < 0 ? (int)n : 0;
	}
	plumb_buffer_release(&b);
	return rc;
}

static void *produce(void *arg)
{
	plumb_writer *wrtr = arg;
	int rc = encode(wrtr, "[\"list record 1\", \"list record 2\"]");
	if (rc == 0) {
		sleep(1);
		rc = encode(wrtr, "[\"list record 3\", \"list record 4\"]");
	}
	if (rc < 0) {
		fprintf(stderr, "error writing to pipe: %s\n", plumb_strerror(rc));
		exit(1);
	}
	/* the writer must be closed to signal the end of the stream to the reader */
	plumb_writer_close(wrtr);
	return NULL;
}

int main(void)
{
	plumb_pipe *p = plumb_pipe_new();
	plumb_writer *out = plumb_fd_writer_new(STDOUT_FILENO, 0);
	if (!p || !out) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	pthread_t producer;
	if (pthread_create(&producer, NULL, produce, plumb_pipe_writer(p)) != 0) {
		fprintf(stderr, "cannot start the producer thread\n");
		return 1;
	}
	int64_t n = plumb_copy(out, plumb_pipe_reader(p));
	plumb_reader_close(plumb_pipe_reader(p));
	pthread_join(producer, NULL);
	plumb_pipe_free(p);
	plumb_writer_free(out);
	if (n < 0) {
		fprintf(stderr, "%s\n", plumb_strerror((int)n));
		return 1;
	}
	return 0;
}
