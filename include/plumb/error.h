/*
 * plumb/error.h - how every libplumb function reports failure.
 *
 * Functions return int, ssize_t or int64_t.  A negative value is an error:
 * either -errno (-ENOENT, -EPIPE, ...) or one of the PLUMB_E* codes below,
 * which lie far beyond any errno value.  plumb_strerror() names both kinds.
 * Nothing in the library prints; the caller decides what to say.
 */
#ifndef PLUMB_ERROR_H
#define PLUMB_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	/* Read or write on a pipe end that was closed (Go's io.ErrClosedPipe). */
	PLUMB_ECLOSED = -1001,
	/* The stream ended in the middle of a fixed-size read (io.ErrUnexpectedEOF). */
	PLUMB_EUNEXPECTEDEOF = -1002,
	/* A writer accepted fewer bytes than it was given (io.ErrShortWrite). */
	PLUMB_ESHORTWRITE = -1003,
	/* A buffer was too small for the request (io.ErrShortBuffer). */
	PLUMB_ESHORTBUFFER = -1004,
	/* A reader kept returning nothing without error (io.ErrNoProgress). */
	PLUMB_ENOPROGRESS = -1005,
	/* An unknown algorithm name (hashes, compressors). */
	PLUMB_EALGO = -1006,
	/* An offset or whence that the stream cannot seek to. */
	PLUMB_EBADSEEK = -1007,
	/* A server answered with an error; the object that talked to it has the message. */
	PLUMB_ESERVER = -1008,
	/* A database reported an error; the source object has its message. */
	PLUMB_EDB = -1009,
	/* Malformed input (a list, a trace file, a reply) that could not be parsed. */
	PLUMB_EFORMAT = -1010,
};

/*
 * plumb_strerror - a short English description of @code, which is a
 * negative errno or a PLUMB_E* value.  The string is static; never NULL.
 */
const char *plumb_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
