/* Builds the on-call e-mail (see mail_message.h). Headers are ASCII: the subject, which names the
 * centre (Tønder), goes as RFC 2047 encoded words when it is not; the body is UTF-8 sent as 8bit.
 * Line ends become CRLF; libcurl does the SMTP dot-stuffing itself. */
#include "mail_message.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A growing string; on allocation failure it stays failed and build returns NULL. */
struct text {
	char *data;
	size_t len, cap;
	bool failed;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 1024;
		while (t->len + n + 1 > cap)
			cap *= 2;
		char *grown = realloc(t->data, cap);
		if (grown == NULL) {
			t->failed = true;
			return;
		}
		t->data = grown;
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static bool is_ascii_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Base64 of n bytes. */
static void text_base64(struct text *t, const unsigned char *s, size_t n)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		char out[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
		               i + 1 < n ? alphabet[(v >> 6) & 63] : '=',
		               i + 2 < n ? alphabet[v & 63] : '='};
		text_add(t, out, 4);
	}
}

/* The subject without control characters; ASCII as it is, else encoded words of at most 45
 * bytes each (60 base64 characters, within the 75 of RFC 2047), never splitting a UTF-8
 * sequence. */
static void text_subject(struct text *t, const char *subject)
{
	size_t n = strlen(subject);
	char *clean = malloc(n + 1);
	if (clean == NULL) {
		t->failed = true;
		return;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)subject[i] >= 0x20 && subject[i] != 0x7f)
			clean[m++] = subject[i];
	clean[m] = '\0';
	if (is_ascii_printable(clean)) {
		text_str(t, clean);
		free(clean);
		return;
	}
	size_t at = 0;
	while (at < m) {
		size_t take = m - at < 45 ? m - at : 45;
		/* Back off to the start of a UTF-8 sequence. */
		while (take > 0 && at + take < m &&
		       ((unsigned char)clean[at + take] & 0xc0) == 0x80)
			take--;
		if (take == 0)
			take = m - at < 45 ? m - at : 45;
		if (at > 0)
			text_str(t, "\r\n ");
		text_str(t, "=?UTF-8?B?");
		text_base64(t, (const unsigned char *)clean + at, take);
		text_str(t, "?=");
		at += take;
	}
	free(clean);
}

/* The body with CRLF line ends and no other control characters but tabs. */
static void text_body(struct text *t, const char *body)
{
	for (const char *p = body; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n')
			text_str(t, "\r\n");
		else if (c == '\t' || (c >= 0x20 && c != 0x7f))
			text_add(t, p, 1);
	}
	if (t->len < 2 || memcmp(t->data + t->len - 2, "\r\n", 2) != 0)
		text_str(t, "\r\n");
}

char *mail_message_build(const struct mail_parts *parts)
{
	if (!parts->from || !parts->to || !parts->subject || !parts->text || !parts->event_id ||
	    !parts->type || !is_ascii_printable(parts->from) || !is_ascii_printable(parts->to) ||
	    !is_ascii_printable(parts->event_id) || !is_ascii_printable(parts->type))
		return NULL;
	struct text t = {0};
	char date[64];
	time_t when = (time_t)parts->date_s;
	struct tm tm;
	if (gmtime_r(&when, &tm) == NULL ||
	    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		return NULL;
	text_str(&t, "Date: ");
	text_str(&t, date);
	text_str(&t, "\r\nFrom: rollcall <");
	text_str(&t, parts->from);
	text_str(&t, ">\r\nTo: <");
	text_str(&t, parts->to);
	text_str(&t, ">\r\nSubject: ");
	text_subject(&t, parts->subject);
	/* Derived from the event id: every retry of one event is the same message to a mail
	 * client, and the receiver can tell a retry from a new alert. */
	text_str(&t, "\r\nMessage-ID: <");
	text_str(&t, parts->event_id);
	text_str(&t, "@rollcall>\r\nX-Rollcall-Event: ");
	text_str(&t, parts->type);
	text_str(&t, "\r\nAuto-Submitted: auto-generated\r\n"
	             "MIME-Version: 1.0\r\n"
	             "Content-Type: text/plain; charset=utf-8\r\n"
	             "Content-Transfer-Encoding: 8bit\r\n"
	             "\r\n");
	text_body(&t, parts->text);
	if (t.failed) {
		free(t.data);
		return NULL;
	}
	return t.data;
}
