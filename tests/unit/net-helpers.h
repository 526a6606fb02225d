/*
 * net-helpers.h - what the HTTP and S3 tests both need: a loopback port
 * that nothing listens on, and a field out of the JSON the Python test
 * servers write.  Static functions, included after cmocka.h.
 */
#ifndef PLUMB_TESTS_NET_HELPERS_H
#define PLUMB_TESTS_NET_HELPERS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

#endif
