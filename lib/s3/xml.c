/*
 * xml.c - the little of S3's XML that an upload reads, and writes.
 *
 * Every reply plumb reads is a root element with flat children:
 * <Error><Code/><Message/>...</Error>, <InitiateMultipartUploadResult>
 * <UploadId/>..., <CompleteMultipartUploadResult><ETag/>...  So expat is
 * asked only for the root's name and the text of a few of its direct
 * children; anything deeper or unknown is skipped.  Text is truncated to the
 * fields' sizes (a message is for a person; an upload id that fills its
 * field is refused by upload.c rather than used cut short).  Namespaces are
 * ignored: names are compared without prefix.
 *
 * Expat reads no external entities and limits entity expansion (2.4+), so a
 * hostile reply cannot make it fetch anything or blow up.
 */
#include <expat.h>
#include <string.h>

#include "s3-internal.h"

struct parse {
	struct s3_xml *x;
	int depth;
	char *field; /* the child of the root whose text is being collected */
	size_t cap, len;
};

/* The local part of a name ("Code" for "s3:Code"). */
static const char *local(const char *name)
{
	const char *colon = strrchr(name, ':');

	return colon ? colon + 1 : name;
}

static void copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void XMLCALL on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct parse *p = arg;
	struct s3_xml *x = p->x;
	const char *n = local(name);

	(void)attrs;
	p->depth++;
	if (p->depth == 1) {
		copy(x->root, sizeof x->root, n);
		return;
	}
	if (p->depth != 2)
		return;
	p->field = NULL;
	if (strcmp(n, "Code") == 0)
		p->field = x->code, p->cap = sizeof x->code;
	else if (strcmp(n, "Message") == 0)
		p->field = x->message, p->cap = sizeof x->message;
	else if (strcmp(n, "UploadId") == 0)
		p->field = x->upload_id, p->cap = sizeof x->upload_id;
	else if (strcmp(n, "ETag") == 0)
		p->field = x->etag, p->cap = sizeof x->etag;
	else if (strcmp(n, "RequestId") == 0)
		p->field = x->request_id, p->cap = sizeof x->request_id;
	if (p->field)
		p->field[0] = '\0';
	p->len = 0;
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
	struct parse *p = arg;

	(void)name;
	if (p->depth == 2)
		p->field = NULL;
	p->depth--;
}

static void XMLCALL on_text(void *arg, const XML_Char *s, int len)
{
	struct parse *p = arg;
	size_t n = (size_t)len;

	if (!p->field || p->depth != 2)
		return;
	if (p->len + n >= p->cap)
		n = p->cap - 1 - p->len;
	memcpy(p->field + p->len, s, n);
	p->len += n;
	p->field[p->len] = '\0';
}

int s3_xml_parse(const char *body, size_t len, struct s3_xml *x)
{
	struct parse p = {.x = x};
	XML_Parser parser = XML_ParserCreate(NULL);
	enum XML_Status st;

	memset(x, 0, sizeof *x);
	if (!parser)
		return PLUMB_EFORMAT;
	XML_SetUserData(parser, &p);
	XML_SetElementHandler(parser, on_start, on_end);
	XML_SetCharacterDataHandler(parser, on_text);
	st = XML_Parse(parser, body, (int)len, 1);
	XML_ParserFree(parser);
	if (st != XML_STATUS_OK || !x->root[0]) {
		memset(x, 0, sizeof *x);
		return PLUMB_EFORMAT;
	}
	return 0;
}

int s3_xml_escape(plumb_buffer *out, const char *s)
{
	for (; *s; s++) {
		const char *e = *s == '&'   ? "&amp;"
		                : *s == '<' ? "&lt;"
		                : *s == '>' ? "&gt;"
		                            : NULL;
		int rc =
		        e ? plumb_buffer_append(out, e, strlen(e)) : plumb_buffer_append(out, s, 1);

		if (rc < 0)
			return rc;
	}
	return 0;
}
