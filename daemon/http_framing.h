/* The request framing check (issue 12): an incremental scanner of the raw bytes a client sends
 * on one connection, request after request, that names the first byte HTTP/1.1 forbids or that
 * would let two parsers read the stream differently (request smuggling): a NUL or control byte
 * in a head, a bare CR or LF line ending, obs-fold, white space before a header's colon, a
 * Content-Length that is not digits or comes twice, Content-Length with Transfer-Encoding, a
 * Transfer-Encoding other than chunked, a malformed chunk size or chunk end. evhttp 2.1 parses
 * the same bytes leniently; server.c feeds this the bytes as they arrive, and a request that
 * spans the first bad byte is answered 400 naming why. Pure: no I/O, no allocation. */
#ifndef ROLLCALL_HTTP_FRAMING_H
#define ROLLCALL_HTTP_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_FRAMING_VALUE_MAX 64 /* of Content-Length and Transfer-Encoding values kept */

struct http_framing {
	int phase;         /* enum in http_framing.c */
	uint64_t offset;   /* bytes scanned so far */
	uint64_t error_at; /* the first bad byte's offset, when error is set */
	const char *error; /* why, a constant string; NULL while the stream is good */
	bool cr;           /* the previous byte was a CR */
	bool line_start;   /* at the first byte of a line */
	bool in_name;      /* within a header line, before its colon */
	size_t name_len;
	char name[24]; /* lower case; long enough for the names that matter */
	bool name_long;
	char value[HTTP_FRAMING_VALUE_MAX + 1];
	size_t value_len;
	bool value_long;
	int lengths, encodings; /* Content-Length, Transfer-Encoding headers of this head */
	bool length_bad, encoding_bad;
	uint64_t length;    /* of this request's body */
	uint64_t remaining; /* body bytes or chunk bytes still to come */
	int size_digits;
};

void http_framing_init(struct http_framing *f);

/* Scans len more bytes of the stream. Returns false once the stream has gone bad (then
 * f->error says why and f->error_at where; later calls change nothing). */
bool http_framing_feed(struct http_framing *f, const unsigned char *data, size_t len);

#endif
