/*
 * profile.c - AWS credentials and region, found where the AWS tools look.
 *
 * The order is botocore's, for the sources plumb supports: the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then the
 * shared credentials file, then the config file.  A profile named by the
 * caller (--profile) skips the environment's keys, as botocore does for an
 * explicit profile; otherwise the profile is AWS_PROFILE, AWS_DEFAULT_PROFILE
 * or "default".  Roles, SSO, credential_process and instance metadata are
 * not supported: a profile that relies on them gets a message saying so.
 *
 * The files are INI as Python's configparser reads them for botocore:
 *  - "[name]" sections; in the config file a profile is "[profile NAME]"
 *    (NAME may be quoted) except "[default]", which may also be written
 *    "[profile default]"; in the credentials file it is "[NAME]";
 *  - "key = value" or "key: value", the key without regard to case, both
 *    trimmed; a value keeps any '#' or ';' in it (configparser has no inline
 *    comments by default);
 *  - whole-line comments start with '#' or ';'; blank lines are skipped;
 *  - a line indented deeper than the key before it continues that key's
 *    value (nested settings such as "s3 =\n  addressing_style = path"), so
 *    it is never read as a key of its own;
 *  - a line that is none of these makes the file malformed (botocore refuses
 *    to load it too).
 * When a key or section repeats, the last one wins.
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "s3-internal.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* ---- Files ---- */

/* The path in variable var (default def, under ~), with a leading ~
 * expanded.  Malloc'd, or NULL when out of memory or homeless. */
static char *file_path(const char *var, const char *def)
{
	const char *p = env(var) ? env(var) : def;
	const char *home;
	char *out;

	if (p[0] != '~')
		return strdup(p);
	home = env("HOME");
	if (!home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return NULL;
	if (asprintf(&out, "%s%s", home, p + 1) < 0)
		return NULL;
	return out;
}

/* One key wanted from a section, and its value once found (malloc'd). */
struct want {
	const char *key;
	char *value;
};

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Does section header h (between the brackets) name profile? */
static bool section_is(char *h, const char *profile, bool config)
{
	char *name;
	size_t n;

	h = trim(h);
	if (!config)
		return strcmp(h, profile) == 0;
	if (strcmp(h, "default") == 0)
		return strcmp(profile, "default") == 0;
	if (strncmp(h, "profile", 7) != 0 || !isspace((unsigned char)h[7]))
		return false;
	name = trim(h + 7);
	n = strlen(name);
	if (n >= 2 && (name[0] == '"' || name[0] == '\'') && name[n - 1] == name[0]) {
		name[n - 1] = '\0';
		name++;
	} else if (strpbrk(name, " \t")) {
		return false; /* "[profile a b]": shlex gives three words, not a profile */
	}
	return strcmp(name, profile) == 0;
}

static int take_value(struct want *w, size_t n, const char *key, const char *value)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(w[i].key, key) != 0)
			continue;
		free(w[i].value);
		w[i].value = strdup(value);
		return w[i].value ? 0 : -ENOMEM;
	}
	return 0;
}

/* The state of one file being read. */
struct ini {
	const char *path;
	unsigned line;
	bool in_section; /* any section started */
	bool wanted;     /* the current section is the profile's */
	bool have_key;   /* a key was read in this section (continuations follow it) */
	size_t key_indent;
};

static int ini_line(struct ini *s, char *line, const char *profile, bool config, struct want *w,
                    size_t n, bool *found, char *err, size_t errlen)
{
	size_t indent = strspn(line, " \t");
	char *l = trim(line), *sep, *key, *value;

	if (!*l || *l == '#' || *l == ';')
		return 0;
	if (s->have_key && indent > s->key_indent)
		return 0; /* the value of the key above goes on */
	if (*l == '[' && strrchr(l, ']') && strrchr(l, ']') > l + 1) {
		*strrchr(l, ']') = '\0';
		s->in_section = true;
		s->wanted = section_is(l + 1, profile, config);
		s->have_key = false;
		*found = *found || s->wanted;
		return 0;
	}
	sep = strpbrk(l, "=:");
	if (!s->in_section || !sep || sep == l)
		return fail(err, errlen, -EINVAL, "%s, line %u: expected [section] or key = value",
		            s->path, s->line);
	*sep = '\0';
	key = trim(l);
	value = trim(sep + 1);
	s->have_key = true;
	s->key_indent = indent;
	if (!s->wanted)
		return 0;
	return take_value(w, n, key, value) < 0 ? fail(err, errlen, -ENOMEM, "out of memory") : 0;
}

/*
 * Reads the keys in w out of profile's section of the file at path (config:
 * the config file's section names).  Sets *found when the section exists.
 * A missing file is no error.
 */
static int ini_read(const char *path, bool config, const char *profile, struct want *w, size_t n,
                    bool *found, char *err, size_t errlen)
{
	struct ini s = {.path = path};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return fail(err, errlen, -errno, "cannot read %s: %s", path, strerror(errno));
	}
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		s.line++;
		if (s.line == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
			memmove(line, line + 3, (size_t)len - 2);
		rc = ini_line(&s, line, profile, config, w, n, found, err, errlen);
	}
	if (rc == 0 && ferror(f))
		rc = fail(err, errlen, -EIO, "cannot read %s", path);
	free(line);
	fclose(f);
	return rc;
}

static void wants_release(struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (w[i].value)
			explicit_bzero(w[i].value, strlen(w[i].value));
		free(w[i].value);
		w[i].value = NULL;
	}
}

static const char *chosen_profile(const char *profile)
{
	if (profile && *profile)
		return profile;
	if (env("AWS_PROFILE"))
		return env("AWS_PROFILE");
	if (env("AWS_DEFAULT_PROFILE"))
		return env("AWS_DEFAULT_PROFILE");
	return "default";
}

/* ---- Credentials ---- */

static int set_credentials(plumb_s3_credentials *c, const char *id, const char *secret,
                           const char *token)
{
	c->access_key_id = strdup(id);
	c->secret_access_key = strdup(secret);
	c->session_token = token && *token ? strdup(token) : NULL;
	if (!c->access_key_id || !c->secret_access_key || (token && *token && !c->session_token)) {
		plumb_s3_credentials_release(c);
		return -ENOMEM;
	}
	return 0;
}

static int from_environment(plumb_s3_credentials *c, char *err, size_t errlen)
{
	const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
	const char *token =
	        env("AWS_SESSION_TOKEN") ? env("AWS_SESSION_TOKEN") : env("AWS_SECURITY_TOKEN");

	if (!id && !secret)
		return 1; /* not there: look further */
	if (!id || !secret)
		return fail(err, errlen, -EINVAL, "%s is set but %s is not",
		            id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		            id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	if (set_credentials(c, id, secret, token) < 0)
		return fail(err, errlen, -ENOMEM, "out of memory");
	snprintf(c->source, sizeof c->source, "the environment (AWS_ACCESS_KEY_ID)");
	return 0;
}

enum { W_ID, W_SECRET, W_TOKEN, W_OLD_TOKEN, W_ROLE, W_PROCESS, W_SSO, W_N };

/* Looks in one file; 1 when the profile has no keys there. */
static int from_file(plumb_s3_credentials *c, const char *path, bool config, const char *profile,
                     bool *found, const char **unsupported, char *err, size_t errlen)
{
	struct want w[W_N] = {
	        {"aws_access_key_id", NULL}, {"aws_secret_access_key", NULL},
	        {"aws_session_token", NULL}, {"aws_security_token", NULL},
	        {"role_arn", NULL},          {"credential_process", NULL},
	        {"sso_start_url", NULL},
	};
	bool here = false;
	int rc = ini_read(path, config, profile, w, W_N, &here, err, errlen);

	*found = *found || here;
	if (rc < 0)
		goto out;
	rc = 1;
	if (!w[W_ID].value && !w[W_SECRET].value) {
		if (w[W_ROLE].value)
			*unsupported = "role_arn (assuming a role)";
		else if (w[W_PROCESS].value)
			*unsupported = "credential_process";
		else if (w[W_SSO].value)
			*unsupported = "SSO (sso_start_url)";
		goto out;
	}
	if (!w[W_ID].value || !w[W_SECRET].value) {
		rc = fail(err, errlen, -EINVAL, "profile '%s' in %s has %s but no %s", profile,
		          path, w[W_ID].value ? "aws_access_key_id" : "aws_secret_access_key",
		          w[W_ID].value ? "aws_secret_access_key" : "aws_access_key_id");
		goto out;
	}
	rc = set_credentials(c, w[W_ID].value, w[W_SECRET].value,
	                     w[W_TOKEN].value ? w[W_TOKEN].value : w[W_OLD_TOKEN].value);
	if (rc < 0) {
		fail(err, errlen, rc, "out of memory");
		goto out;
	}
	snprintf(c->source, sizeof c->source, "%s, profile '%s'", path, profile);
out:
	wants_release(w, W_N);
	return rc;
}

int plumb_s3_credentials_load(plumb_s3_credentials *c, const char *profile, char *err,
                              size_t errlen)
{
	const char *name = chosen_profile(profile);
	const char *unsupported = NULL;
	char *cred_path = NULL, *conf_path = NULL;
	bool found = false;
	int rc;

	memset(c, 0, sizeof *c);
	if (!(profile && *profile) && (rc = from_environment(c, err, errlen)) <= 0)
		return rc;
	cred_path = file_path("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
	conf_path = file_path("AWS_CONFIG_FILE", "~/.aws/config");
	if (!cred_path || !conf_path) {
		rc = fail(err, errlen, -ENOMEM, "cannot tell where ~/.aws is (no HOME)");
		goto out;
	}
	rc = from_file(c, cred_path, false, name, &found, &unsupported, err, errlen);
	if (rc == 1)
		rc = from_file(c, conf_path, true, name, &found, &unsupported, err, errlen);
	if (rc != 1)
		goto out;
	if (unsupported)
		rc = fail(err, errlen, -ENOENT,
		          "profile '%s' gets its credentials through %s, which plumb does not "
		          "support: give aws_access_key_id and aws_secret_access_key",
		          name, unsupported);
	else if (!found && strcmp(name, "default") != 0)
		rc = fail(err, errlen, -ENOENT, "the profile '%s' is in neither %s nor %s", name,
		          cred_path, conf_path);
	else
		rc = fail(err, errlen, -ENOENT,
		          "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
		          "or put them in %s under [%s]",
		          cred_path, name);
out:
	free(cred_path);
	free(conf_path);
	return rc;
}

void plumb_s3_credentials_release(plumb_s3_credentials *c)
{
	char **s[] = {&c->access_key_id, &c->secret_access_key, &c->session_token};

	for (size_t i = 0; i < 3; i++) {
		if (*s[i])
			explicit_bzero(*s[i], strlen(*s[i]));
		free(*s[i]);
		*s[i] = NULL;
	}
}

/* ---- Region ---- */

int plumb_s3_region_load(char *region, size_t len, const char *profile, char *err, size_t errlen)
{
	const char *r = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
	struct want w[1] = {{"region", NULL}};
	bool found = false;
	char *path;
	int rc = 0;

	if (!r) {
		path = file_path("AWS_CONFIG_FILE", "~/.aws/config");
		if (path)
			rc = ini_read(path, true, chosen_profile(profile), w, 1, &found, err,
			              errlen);
		free(path);
		if (rc < 0)
			return rc;
		r = w[0].value && *w[0].value ? w[0].value : "us-east-1";
	}
	if (strlen(r) >= len)
		rc = fail(err, errlen, -EINVAL, "the region '%s' is too long", r);
	else
		strcpy(region, r);
	wants_release(w, 1);
	return rc;
}
