/* The on-call e-mail as bytes on the wire (RFC 5322): headers and a plain-text body from the
 * subject and text SQL wrote (schema/code/oncall.sql, oncall_mail). Pure: no I/O, so the unit
 * tests call it directly. */
#ifndef ROLLCALL_MAIL_MESSAGE_H
#define ROLLCALL_MAIL_MESSAGE_H

#include <stdint.h>

/* What goes into one message. */
struct mail_parts {
	const char *from;     /* one plain address */
	const char *to;       /* one plain address */
	const char *subject;  /* UTF-8, one line */
	const char *text;     /* UTF-8, lines separated by \n */
	const char *event_id; /* "evt_<hex>": Message-ID <evt_...@rollcall>, the same on retries */
	const char *type;     /* "alert.raised", ...: X-Rollcall-Event */
	int64_t date_s;       /* Unix seconds for the Date: header */
};

/* The message with CRLF line ends, a non-ASCII subject as RFC 2047 base64 words, control
 * characters other than line ends removed from subject and text. Returns a malloc'd string
 * the caller frees, or NULL when out of memory or a part is missing. */
char *mail_message_build(const struct mail_parts *parts) __attribute__((warn_unused_result));

#endif
