/* The framing scanner: a byte-at-a-time state machine over request heads, bodies by
 * Content-Length, chunked bodies and their trailers (RFC 9112). What it accepts is a strict
 * subset of what evhttp 2.1 accepts, so a stream it passes means the same to both. */
#include "http_framing.h"

#include <string.h>

enum phase {
	PH_REQUEST_LINE, /* empty lines before it are allowed (RFC 9112 2.2) */
	PH_HEADER,       /* header lines until the empty line */
	PH_BODY,         /* remaining bytes of a Content-Length body */
	PH_CHUNK_SIZE,   /* hex digits, CRLF */
	PH_CHUNK_DATA,   /* remaining bytes of a chunk */
	PH_CHUNK_CR,     /* the CR after a chunk's data */
	PH_CHUNK_LF,     /* the LF after it */
	PH_TRAILER,      /* trailer lines after the last chunk, until the empty line */
	PH_FAILED,
};

#define SIZE_DIGITS_MAX 15 /* 2^60 bytes: far beyond any body limit, and no overflow */

void http_framing_init(struct http_framing *f)
{
	memset(f, 0, sizeof *f);
	f->phase = PH_REQUEST_LINE;
	f->line_start = true;
}

static bool fail(struct http_framing *f, const char *why)
{
	f->error = why;
	f->error_at = f->offset;
	f->phase = PH_FAILED;
	return false;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void head_reset(struct http_framing *f)
{
	f->lengths = f->encodings = 0;
	f->length_bad = f->encoding_bad = false;
	f->length = 0;
}

/* The value of one header line, ended: Content-Length and Transfer-Encoding are remembered. */
static void header_done(struct http_framing *f)
{
	/* Optional white space around the value is not part of it. */
	size_t start = 0, end = f->value_len;
	while (start < end && (f->value[start] == ' ' || f->value[start] == '\t'))
		start++;
	while (end > start && (f->value[end - 1] == ' ' || f->value[end - 1] == '\t'))
		end--;
	const char *v = f->value + start;
	size_t n = end - start;
	if (!f->name_long && strcmp(f->name, "content-length") == 0) {
		f->lengths++;
		uint64_t length = 0;
		bool ok = !f->value_long && n > 0 && n <= 18;
		for (size_t i = 0; ok && i < n; i++) {
			ok = v[i] >= '0' && v[i] <= '9';
			length = length * 10 + (uint64_t)(v[i] - '0');
		}
		f->length_bad |= !ok;
		f->length = length;
	} else if (!f->name_long && strcmp(f->name, "transfer-encoding") == 0) {
		f->encodings++;
		bool chunked = !f->value_long && n == 7;
		for (size_t i = 0; chunked && i < n; i++)
			chunked = (v[i] | 0x20) == "chunked"[i];
		f->encoding_bad |= !chunked;
	}
}

/* The empty line after a head: how its body is framed. */
static bool head_done(struct http_framing *f)
{
	if (f->encodings > 0) {
		if (f->lengths > 0)
			return fail(f, "the request has both Content-Length and Transfer-Encoding");
		if (f->encodings > 1 || f->encoding_bad)
			return fail(f, "the only Transfer-Encoding accepted is chunked");
		f->phase = PH_CHUNK_SIZE;
		f->remaining = 0;
		f->size_digits = 0;
		return true;
	}
	if (f->lengths > 1)
		return fail(f, "the request has more than one Content-Length");
	if (f->length_bad)
		return fail(f, "Content-Length must be digits only");
	f->remaining = f->length;
	f->phase = f->remaining > 0 ? PH_BODY : PH_REQUEST_LINE;
	return true;
}

/* One byte of a line-based phase (request line, header, chunk size, trailer). */
static bool line_byte(struct http_framing *f, unsigned char c)
{
	if (f->cr && c != '\n')
		return fail(f, "a CR in the request that does not end a line");
	if (c == '\r') {
		f->cr = true;
		return true;
	}
	if (c == '\n') {
		if (!f->cr)
			return fail(f, "a line ends in a bare LF; HTTP lines end in CRLF");
		f->cr = false;
		bool empty = f->line_start;
		f->line_start = true;
		switch (f->phase) {
		case PH_REQUEST_LINE:
			if (!empty) {
				f->phase = PH_HEADER;
				head_reset(f);
			}
			return true;
		case PH_HEADER:
		case PH_TRAILER:
			if (empty) {
				if (f->phase == PH_TRAILER) {
					f->phase = PH_REQUEST_LINE;
					return true;
				}
				return head_done(f);
			}
			if (f->in_name)
				return fail(f, "a header line without a colon");
			if (f->phase == PH_HEADER)
				header_done(f);
			return true;
		case PH_CHUNK_SIZE:
			if (f->size_digits == 0)
				return fail(f, "a chunk size must be hexadecimal digits");
			if (f->remaining == 0) {
				f->phase = PH_TRAILER;
			} else {
				f->phase = PH_CHUNK_DATA;
			}
			return true;
		default:
			return true;
		}
	}
	if (c == '\0')
		return fail(f, "the request holds a NUL byte");
	bool was_start = f->line_start;
	f->line_start = false;
	switch (f->phase) {
	case PH_REQUEST_LINE:
		if (c < 0x20 || c == 0x7f)
			return fail(f, "the request line holds a control character");
		return true;
	case PH_HEADER:
	case PH_TRAILER:
		if (was_start) {
			if (c == ' ' || c == '\t')
				return fail(f, "a header line starts with white space (obs-fold)");
			f->in_name = true;
			f->name_len = 0;
			f->name_long = false;
			f->value_len = 0;
			f->value_long = false;
		}
		if (f->in_name) {
			if (c == ':') {
				if (f->name_len == 0)
					return fail(f, "a header has no name");
				f->in_name = false;
				f->name[f->name_len < sizeof f->name ? f->name_len : 0] = '\0';
				return true;
			}
			if (c == ' ' || c == '\t')
				return fail(f, "white space between a header's name and its colon");
			if (!is_tchar(c))
				return fail(f, "a header name holds a character names may not");
			if (f->name_len + 1 < sizeof f->name)
				f->name[f->name_len] = (char)(c | 0x20);
			else
				f->name_long = true;
			f->name_len++;
			return true;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(f, "a header value holds a control character");
		if (f->value_len < HTTP_FRAMING_VALUE_MAX)
			f->value[f->value_len++] = (char)c;
		else
			f->value_long = true;
		return true;
	case PH_CHUNK_SIZE: {
		int v = hex_value(c);
		if (v < 0 || f->size_digits >= SIZE_DIGITS_MAX)
			return fail(f, "a chunk size must be hexadecimal digits");
		f->remaining = f->remaining * 16 + (uint64_t)v;
		f->size_digits++;
		return true;
	}
	default:
		return true;
	}
}

bool http_framing_feed(struct http_framing *f, const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < len; i++, f->offset++) {
		switch (f->phase) {
		case PH_FAILED:
			return false;
		case PH_BODY: {
			/* Skip the body in one step: its bytes are the application's. */
			uint64_t take = len - i < f->remaining ? len - i : f->remaining;
			f->remaining -= take;
			i += (size_t)take - 1;
			f->offset += take - 1;
			if (f->remaining == 0)
				f->phase = PH_REQUEST_LINE;
			continue;
		}
		case PH_CHUNK_DATA: {
			uint64_t take = len - i < f->remaining ? len - i : f->remaining;
			f->remaining -= take;
			i += (size_t)take - 1;
			f->offset += take - 1;
			if (f->remaining == 0)
				f->phase = PH_CHUNK_CR;
			continue;
		}
		case PH_CHUNK_CR:
			if (data[i] != '\r')
				return fail(f, "a chunk's data is not followed by CRLF");
			f->phase = PH_CHUNK_LF;
			continue;
		case PH_CHUNK_LF:
			if (data[i] != '\n')
				return fail(f, "a chunk's data is not followed by CRLF");
			f->phase = PH_CHUNK_SIZE;
			f->remaining = 0;
			f->size_digits = 0;
			f->line_start = true;
			continue;
		default:
			if (!line_byte(f, data[i]))
				return false;
		}
	}
	return f->phase != PH_FAILED;
}
