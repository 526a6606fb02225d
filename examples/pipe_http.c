/*
 * pipe_http.c - the note "Go: Streaming Data via io.Pipe()" (its HTTP part),
 * in C on libplumb.
 *
 *   pipe_http URL
 *
 * A producer thread JSON-encodes two batches of records into a synchronous
 * pipe, one second apart; the main thread POSTs the pipe's read end to URL
 * as one chunked request body (plumb_http_send reads the pipe as it sends,
 * so each batch goes out as it is written, never gathered in memory), then
 * prints the server's reply, as the note's program prints httpbin's.
 * Exits 1 if the request fails or the server answers non-2xx.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <plumb/plumb.h>

/* Go's log.Println: "2006/01/02 15:04:05 message" on stderr. */
static void log_line(const char *msg)
{
	char stamp[32];
	time_t now = time(NULL);
	strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", localtime(&now));
	fprintf(stderr, "%s %s\n", stamp, msg);
}

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
	log_line("sending batch 1");
	int rc = encode(wrtr, "[\"list record 1\", \"list record 2\"]");
	if (rc == 0) {
		sleep(1);
		log_line("sending batch 2");
		rc = encode(wrtr, "[\"list record 3\", \"list record 4\"]");
	}
	if (rc < 0)
		fprintf(stderr, "error writing to pipe: %s\n", plumb_strerror(rc));
	/* the writer must be closed to signal the end of the stream to the reader */
	plumb_writer_close(wrtr);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s URL\n", argv[0]);
		return 2;
	}
	plumb_pipe *p = plumb_pipe_new();
	if (!p) {
		fprintf(stderr, "cannot initialise\n");
		return 1;
	}
	pthread_t producer;
	if (pthread_create(&producer, NULL, produce, plumb_pipe_writer(p)) != 0) {
		fprintf(stderr, "cannot start the producer thread\n");
		return 1;
	}

	/* http.Post(url, "application/json", rdr): the request reads the
	 * pipe as it goes and sends each read as one chunk. */
	plumb_http_options o;
	plumb_http_options_init(&o);
	o.url = argv[1];
	o.method = "POST";
	o.content_type = "application/json";
	plumb_http_result res;
	int rc = plumb_http_send(&o, plumb_pipe_reader(p), &res);

	/* Whatever happened, release a producer still blocked in a write. */
	plumb_pipe_close_read(p, rc == 0 ? 0 : PLUMB_ECLOSED);
	pthread_join(producer, NULL);
	plumb_pipe_free(p);

	if (res.reply)
		fwrite(res.reply, 1, res.reply_len, stdout);
	if (rc < 0)
		fprintf(stderr, "%s\n", res.message);
	plumb_http_result_release(&res);
	return rc < 0 ? 1 : 0;
}
