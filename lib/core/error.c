/*
 * error.c - names for libplumb's error codes.
 *
 * Errors travel as negative ints: -errno, or a PLUMB_E* code far beyond
 * errno's range.  This file turns either into a sentence.
 */
#include <string.h>

#include <plumb/error.h>

const char *plumb_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
	case PLUMB_ECLOSED:
		return "read/write on closed pipe";
	case PLUMB_EUNEXPECTEDEOF:
		return "unexpected end of stream";
	case PLUMB_ESHORTWRITE:
		return "short write";
	case PLUMB_ESHORTBUFFER:
		return "short buffer";
	case PLUMB_ENOPROGRESS:
		return "multiple reads returned no data and no error";
	case PLUMB_EALGO:
		return "unknown algorithm";
	case PLUMB_EBADSEEK:
		return "invalid seek";
	case PLUMB_ESERVER:
		return "the server reported an error";
	case PLUMB_EDB:
		return "the database reported an error";
	case PLUMB_EFORMAT:
		return "malformed input";
	}
	if (code < 0 && code > -4096)
		return strerrordesc_np(-code) ? strerrordesc_np(-code) : "unknown error";
	return "unknown error";
}
