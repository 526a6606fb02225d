/*
 * file-sink.c - write a destination file so that it appears whole or not at
 * all (see file-sink.h).
 *
 * The temporary lives beside the destination so that the final rename stays
 * inside one filesystem and is atomic; after the rename the folder itself is
 * fsynced so the new name survives a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <plumb/error.h>

#include "file-sink.h"

static int fail(int code, char *err, size_t errlen, const char *fmt, const char *path)
{
	snprintf(err, errlen, fmt, path, plumb_strerror(code));
	return code;
}

/* The folder part of path, as a new string. */
static char *folder_of(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return NULL;
	char *dir = strdup(dirname(copy));
	free(copy);
	return dir;
}

static int check_folder(const char *path, char *err, size_t errlen)
{
	char *dir = folder_of(path);
	if (!dir)
		return -ENOMEM;
	struct stat st;
	int rc = 0;
	if (stat(dir, &st) < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			snprintf(err, errlen, "%s: the folder %s does not exist", path, dir);
		else
			snprintf(err, errlen, "%s: %s: %s", path, dir, plumb_strerror(rc));
	} else if (!S_ISDIR(st.st_mode)) {
		rc = -ENOTDIR;
		snprintf(err, errlen, "%s: %s is not a folder", path, dir);
	}
	free(dir);
	return rc;
}

/* The process's umask, read without changing it (umask(2) can only be read
 * by setting it, which would race with other threads creating files). */
static mode_t current_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	unsigned mask = 022;
	char line[128];
	bool found = false;
	while (f && !found && fgets(line, sizeof line, f))
		found = sscanf(line, "Umask: %o", &mask) == 1;
	if (f)
		fclose(f);
	if (!found) {
		mode_t m = umask(022);
		umask(m);
		mask = m;
	}
	return (mode_t)mask & 0777;
}

/* The temporary beside s->path, with the permissions the file will have:
 * the rwx bits of the file it replaces (old; never its set-id bits), or
 * 0666 & ~umask for a new one. */
static int open_temporary(struct file_sink *s, const struct stat *old, char *err, size_t errlen)
{
	char *dir = folder_of(s->path);
	char *copy = strdup(s->path);
	if (!dir || !copy || asprintf(&s->tmp, "%s/.%s.plumb-XXXXXX", dir, basename(copy)) < 0) {
		s->tmp = NULL;
		free(dir);
		free(copy);
		return -ENOMEM;
	}
	free(dir);
	free(copy);
	s->fd = mkostemp(s->tmp, O_CLOEXEC);
	if (s->fd < 0) {
		int rc = fail(-errno, err, errlen, "%s: cannot create a file here: %s", s->path);
		free(s->tmp);
		s->tmp = NULL;
		return rc;
	}
	/* mkostemp makes 0600 */
	mode_t mode = old ? old->st_mode & 0777 : 0666 & ~current_umask();
	if (fchmod(s->fd, mode) < 0) {
		int rc = fail(-errno, err, errlen, "%s: chmod: %s", s->tmp);
		close(s->fd);
		s->fd = -1;
		unlink(s->tmp);
		free(s->tmp);
		s->tmp = NULL;
		return rc;
	}
	return 0;
}

/* Something that is not a regular file (/dev/null, a FIFO, a terminal) is
 * written in place: there is nothing to replace or to cut back. */
static int open_special(struct file_sink *s, char *err, size_t errlen)
{
	s->fd = open(s->path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (s->fd < 0)
		return fail(-errno, err, errlen, "%s: %s", s->path);
	s->special = true;
	return 0;
}

static int open_append(struct file_sink *s, bool exists, char *err, size_t errlen)
{
	s->fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
	if (s->fd < 0)
		return fail(-errno, err, errlen, "%s: %s", s->path);
	s->base = lseek(s->fd, 0, SEEK_END);
	s->created = !exists;
	return 0;
}

/* The name to write: path itself, or the file a symbolic link at path points
 * to (so that replacing it replaces that file, never the link). */
static int resolve(struct file_sink *s, const char *path, char *err, size_t errlen)
{
	struct stat lst;
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		s->path = realpath(path, NULL);
		if (!s->path)
			return fail(-errno, err, errlen, "%s: a symbolic link to nothing: %s",
			            path);
	} else if (!(s->path = strdup(path))) {
		return -ENOMEM;
	}
	return 0;
}

int file_sink_open(struct file_sink *s, const char *path, enum file_sink_mode mode, char *err,
                   size_t errlen)
{
	*s = (struct file_sink){.fd = -1, .mode = mode};
	struct stat st;
	bool exists = stat(path, &st) == 0;
	int rc = exists ? 0 : check_folder(path, err, errlen);
	if (rc < 0)
		return rc;
	if (exists && S_ISDIR(st.st_mode))
		return fail(-EISDIR, err, errlen, "%s: %s", path);
	bool regular = !exists || S_ISREG(st.st_mode);
	if (exists && regular && mode == FILE_SINK_CREATE)
		return fail(-EEXIST, err, errlen,
		            "%s: %s (use --force to replace it or --append to add to it)", path);
	rc = resolve(s, path, err, errlen);
	if (rc == 0) {
		if (!regular)
			rc = open_special(s, err, errlen);
		else if (mode == FILE_SINK_APPEND)
			rc = open_append(s, exists, err, errlen);
		else
			rc = open_temporary(s, exists ? &st : NULL, err, errlen);
	}
	if (rc < 0) {
		free(s->path);
		s->path = NULL;
	}
	return rc;
}

static void fsync_folder(const char *path)
{
	char *dir = folder_of(path);
	int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

int file_sink_commit(struct file_sink *s, char *err, size_t errlen)
{
	int rc = 0;
	if (fsync(s->fd) < 0 && errno != EINVAL && errno != EROFS)
		rc = fail(-errno, err, errlen, "%s: fsync: %s", s->path);
	if (close(s->fd) < 0 && rc == 0)
		rc = fail(-errno, err, errlen, "%s: close: %s", s->path);
	s->fd = -1;
	if (rc < 0) {
		file_sink_abort(s);
		return rc;
	}
	if (s->tmp) {
		unsigned flags = s->mode == FILE_SINK_CREATE ? RENAME_NOREPLACE : 0;
		if (renameat2(AT_FDCWD, s->tmp, AT_FDCWD, s->path, flags) < 0) {
			rc = fail(-errno, err, errlen, "%s: cannot put the file in place: %s",
			          s->path);
			file_sink_abort(s);
			return rc;
		}
		free(s->tmp);
		s->tmp = NULL;
	}
	if (!s->special)
		fsync_folder(s->path);
	free(s->path);
	s->path = NULL;
	return 0;
}

void file_sink_abort(struct file_sink *s)
{
	if (s->special) {
		if (s->fd >= 0)
			close(s->fd);
	} else if (s->tmp) {
		if (s->fd >= 0)
			close(s->fd);
		unlink(s->tmp);
		free(s->tmp);
		s->tmp = NULL;
	} else if (s->path && s->created) {
		if (s->fd >= 0)
			close(s->fd);
		unlink(s->path);
	} else if (s->path) {
		/* appending: cut the file back to what it was */
		int fd = s->fd >= 0 ? s->fd : open(s->path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (ftruncate(fd, s->base) == 0)
				fsync(fd);
			close(fd);
		}
	}
	s->fd = -1;
	free(s->path);
	s->path = NULL;
}
