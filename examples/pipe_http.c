/*
 * pipe_http.c - the note "Go: Streaming Data via io.Pipe()" (its HTTP part),
 * in C on libplumb and libcurl.
 *
 *   pipe_http URL
 *
 * A producer thread JSON-encodes two batches of records into a synchronous
 * pipe, one second apart; the main thread POSTs the pipe's read end to URL
 * as one chunked request body (libcurl pulls from the pipe through its read
 * callback, so each batch goes out as it is written, never gathered in
 * memory), then prints the server's reply, as the note's program prints
 * httpbin's.  Exits 1 if the request fails or the server answers non-2xx.
 */
#include <curl/curl.h>
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

/* libcurl asks for the next piece of the body: hand it what the pipe gives. */
static size_t read_body(char *buf, size_t size, size_t nitems, void *arg)
{
	ssize_t n = plumb_reader_read(arg, buf, size * nitems);
	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

static size_t print_reply(char *buf, size_t size, size_t nitems, void *arg)
{
	(void)arg;
	return fwrite(buf, size, nitems, stdout) * size;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s URL\n", argv[0]);
		return 2;
	}
	plumb_pipe *p = plumb_pipe_new();
	if (!p || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "cannot initialise\n");
		return 1;
	}
	pthread_t producer;
	if (pthread_create(&producer, NULL, produce, plumb_pipe_writer(p)) != 0) {
		fprintf(stderr, "cannot start the producer thread\n");
		return 1;
	}

	CURL *curl = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(curl, CURLOPT_URL, argv[1]);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_body);
	curl_easy_setopt(curl, CURLOPT_READDATA, plumb_pipe_reader(p));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, print_reply);
	CURLcode res = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

	/* Whatever happened, release a producer still blocked in a write. */
	plumb_pipe_close_read(p, res == CURLE_OK ? 0 : PLUMB_ECLOSED);
	pthread_join(producer, NULL);
	plumb_pipe_free(p);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	curl_global_cleanup();

	if (res != CURLE_OK) {
		fprintf(stderr, "POST %s: %s\n", argv[1], curl_easy_strerror(res));
		return 1;
	}
	if (status < 200 || status > 299) {
		fprintf(stderr, "POST %s: HTTP status %ld\n", argv[1], status);
		return 1;
	}
	return 0;
}
