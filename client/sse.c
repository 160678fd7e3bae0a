/* Pure Server-Sent Events parser (see sse.h), following the WHATWG "event stream interpretation"
 * rules: fields event/data/id, comments, and dispatch on a blank line. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

void sse_init(struct sse_parser *parser)
{
	memset(parser, 0, sizeof(*parser));
}

void sse_set_last_id(struct sse_parser *parser, const char *id, size_t len)
{
	if (len < SSE_ID_SIZE && memchr(id, '\0', len) == NULL) {
		memcpy(parser->last_id, id, len);
		parser->last_id[len] = '\0';
	}
}

void sse_free(struct sse_parser *parser)
{
	free(parser->line);
	free(parser->data);
	parser->line = parser->data = NULL;
	parser->line_len = parser->line_cap = parser->data_len = parser->data_cap = 0;
}

void sse_reset(struct sse_parser *parser)
{
	parser->line_len = 0;
	parser->data_len = 0;
	parser->type[0] = '\0';
	parser->after_cr = false;
	parser->overflow = false;
	parser->drop_event = false;
}

/* Grows *buf to hold need bytes. */
static bool reserve(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t cap_new = *cap ? *cap : 256;
	while (cap_new < need)
		cap_new *= 2;
	char *grown = realloc(*buf, cap_new);
	if (grown == NULL)
		return false;
	*buf = grown;
	*cap = cap_new;
	return true;
}

static enum sse_result dispatch(struct sse_parser *parser, sse_event_fn on_event, void *arg)
{
	bool have_event = parser->data_len > 0 && !parser->drop_event;
	enum sse_result result = SSE_OK;

	if (have_event) {
		parser->data_len--; /* the newline after the last data line */
		parser->data[parser->data_len] = '\0';
		struct sse_event event = {
		    .type = parser->type[0] ? parser->type : "message",
		    .id = parser->last_id,
		    .data = parser->data,
		    .data_len = parser->data_len,
		};
		if (!on_event(arg, &event))
			result = SSE_STOPPED;
	}
	parser->data_len = 0;
	parser->type[0] = '\0';
	parser->drop_event = false;
	return result;
}

/* Handles one complete line (parser->line, line_len bytes, not terminated). */
static enum sse_result process_line(struct sse_parser *parser, sse_event_fn on_event, void *arg)
{
	const char *line = parser->line;
	size_t len = parser->line_len;

	if (len == 0)
		return dispatch(parser, on_event, arg);
	if (line[0] == ':') {
		/* A comment: the server's heartbeat, or something it wants clients to know. */
		if (parser->on_comment != NULL) {
			size_t skip = len > 1 && line[1] == ' ' ? 2 : 1;
			parser->on_comment(arg, parser, line + skip, len - skip);
		}
		return SSE_OK;
	}

	const char *colon = memchr(line, ':', len);
	size_t name_len = colon ? (size_t)(colon - line) : len;
	const char *value = colon ? colon + 1 : line + len;
	size_t value_len = (size_t)(line + len - value);
	if (value_len > 0 && value[0] == ' ') {
		value++;
		value_len--;
	}

	if (name_len == 5 && memcmp(line, "event", 5) == 0) {
		size_t n = value_len < SSE_TYPE_SIZE - 1 ? value_len : SSE_TYPE_SIZE - 1;
		memcpy(parser->type, value, n);
		parser->type[n] = '\0';
	} else if (name_len == 4 && memcmp(line, "data", 4) == 0) {
		if (parser->data_len + value_len + 2 > SSE_MAX_DATA) {
			parser->drop_event = true;
			return SSE_OK;
		}
		if (!reserve(&parser->data, &parser->data_cap, parser->data_len + value_len + 2))
			return SSE_NOMEM;
		memcpy(parser->data + parser->data_len, value, value_len);
		parser->data_len += value_len;
		parser->data[parser->data_len++] = '\n';
	} else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
		/* An id with NUL is ignored (the standard says so); one too long to resend is too.
		 */
		sse_set_last_id(parser, value, value_len);
	}
	/* "retry" and unknown fields are ignored: the client has its own reconnect policy. */
	return SSE_OK;
}

enum sse_result sse_feed(struct sse_parser *parser, const char *buf, size_t len,
                         sse_event_fn on_event, void *arg)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '\n' && parser->after_cr) {
			parser->after_cr = false;
			continue; /* the LF of a CRLF */
		}
		parser->after_cr = c == '\r';
		if (c == '\r' || c == '\n') {
			enum sse_result result = SSE_OK;
			if (!parser->overflow)
				result = process_line(parser, on_event, arg);
			parser->line_len = 0;
			parser->overflow = false;
			if (result != SSE_OK)
				return result;
			continue;
		}
		if (parser->overflow)
			continue;
		if (parser->line_len + 1 > SSE_MAX_LINE) {
			parser->overflow = true;
			continue;
		}
		if (!reserve(&parser->line, &parser->line_cap, parser->line_len + 1))
			return SSE_NOMEM;
		parser->line[parser->line_len++] = c;
	}
	return SSE_OK;
}
