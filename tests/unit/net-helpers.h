/*
 * net-helpers.h - what the HTTP and S3 tests both need: a test server
 * started as a child that prints its port, a loopback port that nothing
 * listens on, and a field out of the JSON the Python test servers write.
 * Static functions, included after cmocka.h.
 */
#ifndef PLUMB_TESTS_NET_HELPERS_H
#define PLUMB_TESTS_NET_HELPERS_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts argv[0] (through execvp) with stdout to a pipe; returns its pid and
 * the first line it prints as a number (a port), or -1. */
static pid_t spawn_port(char *const argv[], int *port)
{
	char line[32];
	size_t got = 0;
	ssize_t n;
	int fds[2];
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Dies with us, and holds none of our output: a test that
		 * fails half-way must not leave a server behind, nor keep the
		 * test runner waiting on a pipe. */
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(null, 0);
		dup2(fds[1], 1);
		dup2(null, 2);
		close(fds[0]);
		close(fds[1]);
		close(null);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (got < sizeof line - 1 && (n = read(fds[0], line + got, sizeof line - 1 - got)) > 0) {
		got += (size_t)n;
		if (memchr(line, '\n', got))
			break;
	}
	close(fds[0]);
	line[got] = '\0';
	*port = atoi(line);
	if (*port <= 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* A port of 127.0.0.1 that nothing listens on (bound, then closed). */
static int dead_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

/* The value of "name" in JSON written by Python's json.dumps (`"name":
 * value`): a string's contents or a number's text, or "" when absent. */
static void json_field(const char *json, const char *name, char *out, size_t len)
{
	char key[80];
	const char *p, *end;

	out[0] = '\0';
	snprintf(key, sizeof key, "\"%s\": ", name);
	p = json ? strstr(json, key) : NULL;
	if (!p)
		return;
	p += strlen(key);
	if (*p == '"') {
		p++;
		end = strchr(p, '"');
	} else {
		end = p + strcspn(p, ",}");
	}
	if (!end || (size_t)(end - p) >= len)
		return;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
}

/* The field name of json is want (a macro: a failure names the test's
 * line). */
#define assert_json_field(json, name, want)                                                        \
	do {                                                                                       \
		char field_[256];                                                                  \
		json_field((json), (name), field_, sizeof field_);                                 \
		assert_string_equal(field_, (want));                                               \
	} while (0)

#endif
