/*
 * file-sink.h - a destination file that appears whole or not at all.
 *
 * A new file is written under a temporary name in the destination's own
 * folder, fsynced, and renamed into place only when complete; a failed or
 * abandoned export leaves no file under the final name and no temporary
 * behind; it gets the permissions of the file it replaces, or 0666 & ~umask
 * when new.  A symbolic link is followed: the file it points to is replaced,
 * never the link.  Appending writes in place and, on failure, cuts the file
 * back to the length it had.  What is not a regular file (/dev/null, a FIFO,
 * a terminal) is simply opened and written, in any mode.
 */
#ifndef PLUMB_EXPORT_FILE_SINK_H
#define PLUMB_EXPORT_FILE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum file_sink_mode {
	FILE_SINK_CREATE, /* the destination must not exist yet */
	FILE_SINK_FORCE,  /* replace it if it exists */
	FILE_SINK_APPEND, /* add to it (creating it if missing) */
};

struct file_sink {
	char *path;   /* the final name */
	char *tmp;    /* the temporary name, or NULL when appending */
	int fd;       /* where the bytes go */
	off_t base;   /* the length before appending */
	bool created; /* appending made the file: abort removes it */
	bool special; /* not a regular file (/dev/null, a FIFO): written in place */
	enum file_sink_mode mode;
};

/*
 * file_sink_open - prepares to write path.  Returns 0, or a negative errno
 * with a sentence in err: the folder does not exist, the destination exists
 * (in FILE_SINK_CREATE), it is a directory, a dangling symbolic link,
 * permission denied.
 */
int file_sink_open(struct file_sink *s, const char *path, enum file_sink_mode mode, char *err,
                   size_t errlen);

/* file_sink_commit - fsyncs and puts the file in place; 0 or < 0 with err. */
int file_sink_commit(struct file_sink *s, char *err, size_t errlen);

/* file_sink_abort - undoes everything open did (no-op after commit). */
void file_sink_abort(struct file_sink *s);

#endif
