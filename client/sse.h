/* Pure Server-Sent Events parser (the WHATWG event-stream format) for `rollcall watch`: bytes in,
 * events out. Lines may end in CRLF, LF or CR; comment lines (": heartbeat") carry no event but
 * still prove the server alive, which the caller sees as bytes arriving. No I/O. */
#ifndef ROLLCALL_CLIENT_SSE_H
#define ROLLCALL_CLIENT_SSE_H

#include <stdbool.h>
#include <stddef.h>

struct sse_parser;

/* Upper bound for one line and one event's data, so a broken server cannot exhaust memory. */
#define SSE_MAX_LINE (1024 * 1024)
#define SSE_MAX_DATA (4 * 1024 * 1024)
#define SSE_ID_SIZE 128
#define SSE_TYPE_SIZE 64

struct sse_event {
	const char *type; /* "message" when the event had no `event:` field */
	const char *id;   /* the last event id seen so far in the stream ("" if none) */
	const char *data; /* data lines joined by '\n', without the final newline */
	size_t data_len;
};

/* Called for every dispatched event; the pointers are valid only during the call. Returning
 * false stops sse_feed. */
typedef bool (*sse_event_fn)(void *arg, const struct sse_event *event);

/* Called (if set) for every comment line with the text after ':' and one optional space; the
 * daemon announces where its stream starts in one (": head 41"). */
typedef void (*sse_comment_fn)(void *arg, struct sse_parser *parser, const char *text, size_t len);

struct sse_parser {
	sse_comment_fn on_comment; /* optional; gets sse_feed's arg */
	char *line;                /* the line being collected (owned) */
	size_t line_len, line_cap;
	char *data; /* the event's data so far (owned) */
	size_t data_len, data_cap;
	bool drop_event; /* its data grew past SSE_MAX_DATA: the event is dropped */
	char type[SSE_TYPE_SIZE];
	char last_id[SSE_ID_SIZE]; /* survives events: it is what Last-Event-ID resends */
	bool after_cr;             /* the previous byte was CR: a following LF is not a new line */
	bool overflow;             /* the current line is over SSE_MAX_LINE: it is dropped */
};

void sse_init(struct sse_parser *parser);
/* Frees the buffers; last_id stays readable. */
void sse_free(struct sse_parser *parser);
/* Sets the id a reconnect resends, as an "id:" field would (ignored if too long or with NUL). */
void sse_set_last_id(struct sse_parser *parser, const char *id, size_t len);
/* Forgets a half-received event (after a reconnect); keeps last_id. */
void sse_reset(struct sse_parser *parser);

enum sse_result {
	SSE_OK,      /* everything consumed */
	SSE_STOPPED, /* the callback returned false */
	SSE_NOMEM,
};
enum sse_result sse_feed(struct sse_parser *parser, const char *buf, size_t len,
                         sse_event_fn on_event, void *arg);

#endif
