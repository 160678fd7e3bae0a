/* Logging to stderr: one line per message, "2026-11-23T09:30:01.123Z rollcalld[pid] LEVEL text"
 * or, with log_format = json, {"ts":…,"level":…,"pid":…,"request_id":…,"account":…,"msg":…};
 * written with a single write() so lines from several processes sharing stderr never interleave. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Lines longer than this are cut: a pipe write of at most PIPE_BUF (4096) bytes is atomic, and
 * no useful log line is longer. */
#define LOG_LINE_MAX 4096

/* The level is read and written only from the event loop thread (SIGHUP is delivered through a
 * libevent signal event), so a plain variable is enough. */
static enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;

/* Indexed by enum log_level: the names in the config file and in the log line. */
static const struct {
	const char *config_name;
	const char *line_name;
} level_names[] = {
    [LOG_ERROR] = {"error", "ERROR"},
    [LOG_WARN] = {"warn", "WARN"},
    [LOG_INFO] = {"info", "INFO"},
    [LOG_DEBUG] = {"debug", "DEBUG"},
};

void log_set_level(enum log_level level)
{
	if (level >= LOG_ERROR && level <= LOG_DEBUG)
		current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_set_format(enum log_format format)
{
	if (format == LOG_FORMAT_TEXT || format == LOG_FORMAT_JSON)
		current_format = format;
}

bool log_format_parse(const char *text, enum log_format *out)
{
	if (text && strcmp(text, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (text && strcmp(text, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return false;
	return true;
}

bool log_level_parse(const char *text, enum log_level *out)
{
	if (text == NULL)
		return false;
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(text, level_names[i].config_name) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

/* Copies src into dst[*len..cap), escaping control characters so that a message carrying
 * client-supplied text (a certificate CN, a path) cannot forge extra log lines. Returns false
 * if src did not fit. */
static bool append_escaped(char *dst, size_t *len, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	for (const unsigned char *s = (const unsigned char *)src; *s != '\0'; s++) {
		if (*s >= 0x20 && *s != 0x7f) {
			if (*len + 1 > cap)
				return false;
			dst[(*len)++] = (char)*s;
		} else if (*s == '\n' || *s == '\r' || *s == '\t') {
			if (*len + 2 > cap)
				return false;
			dst[(*len)++] = '\\';
			dst[(*len)++] = *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't';
		} else {
			if (*len + 4 > cap)
				return false;
			dst[(*len)++] = '\\';
			dst[(*len)++] = 'x';
			dst[(*len)++] = hex[*s >> 4];
			dst[(*len)++] = hex[*s & 0x0f];
		}
	}
	return true;
}

/* One write for the whole line; retry only what a signal or a full pipe left unwritten. */
static void log_write(const char *line, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(STDERR_FILENO, line + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* nowhere left to complain to */
		}
		done += (size_t)n;
	}
}

/* The length of the valid UTF-8 sequence at s (1-4), or 0 if there is none. */
static size_t utf8_sequence(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (n == 0 || s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0; /* overlong, surrogate or beyond U+10FFFF */
	return n;
}

/* Copies src[0..src_len) into dst[*len..cap) as the inside of a JSON string: quotes, backslashes
 * and control characters escaped, bytes that are not UTF-8 replaced by U+FFFD, so that every line
 * is valid JSON whatever a client sent. False if it did not fit. */
static bool append_json(char *dst, size_t *len, size_t cap, const char *src, size_t src_len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src, *end = s + src_len;
	while (s < end) {
		const char *put = NULL;
		char esc[7];
		size_t n = 1;
		if (*s == '"' || *s == '\\') {
			esc[0] = '\\', esc[1] = (char)*s, esc[2] = '\0';
			put = esc;
		} else if (*s == '\n') {
			put = "\\n";
		} else if (*s < 0x20 || *s == 0x7f) {
			snprintf(esc, sizeof esc, "\\u00%c%c", hex[*s >> 4], hex[*s & 0x0f]);
			put = esc;
		} else if (*s >= 0x80) {
			/* Every src is part of a NUL-terminated string, so this never reads past
			 * it. */
			n = utf8_sequence(s);
			if (n == 0 || n > (size_t)(end - s)) {
				put = "\\ufffd";
				n = 1;
			}
		}
		if (put) {
			size_t k = strlen(put);
			if (*len + k > cap)
				return false;
			memcpy(dst + *len, put, k);
			*len += k;
		} else {
			if (*len + n > cap)
				return false;
			memcpy(dst + *len, s, n);
			*len += n;
		}
		s += n;
	}
	return true;
}

/* A JSON member "name":"value" (with a leading comma), the value escaped. */
static bool append_json_member(char *dst, size_t *len, size_t cap, const char *name,
                               const char *value, size_t value_len)
{
	size_t name_len = strlen(name);
	if (*len + name_len + 5 > cap)
		return false;
	dst[(*len)++] = ',';
	dst[(*len)++] = '"';
	memcpy(dst + *len, name, name_len);
	*len += name_len;
	memcpy(dst + *len, "\":\"", 3);
	*len += 3;
	if (!append_json(dst, len, cap, value, value_len) || *len + 1 > cap)
		return false;
	dst[(*len)++] = '"';
	return true;
}

void log_quote(const char *value, char *out, size_t out_size)
{
	if (out_size == 0)
		return;
	if (*value && !strpbrk(value, " \"\\")) {
		snprintf(out, out_size, "%s", value);
		return;
	}
	size_t len = 0;
	if (out_size < 3) {
		out[0] = '\0';
		return;
	}
	out[len++] = '"';
	for (const char *s = value; *s; s++) {
		bool esc = *s == '"' || *s == '\\';
		if (len + (esc ? 2 : 1) + 2 > out_size)
			break;
		if (esc)
			out[len++] = '\\';
		out[len++] = *s;
	}
	out[len++] = '"';
	out[len] = '\0';
}

/* A word of log_quote's at s: its value unquoted into out (at most out_cap bytes, not
 * terminated) and its length in *out_len; returns what follows it, or NULL if s is no such
 * word or it does not fit. */
static const char *unquote_word(const char *s, char *out, size_t out_cap, size_t *out_len)
{
	*out_len = 0;
	if (*s != '"') {
		const char *end = strchr(s, ' ');
		if (!end || (size_t)(end - s) > out_cap)
			return NULL;
		memcpy(out, s, (size_t)(end - s));
		*out_len = (size_t)(end - s);
		return end;
	}
	for (s++; *s && *s != '"'; s++) {
		if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
			s++;
		if (*out_len >= out_cap)
			return NULL;
		out[(*out_len)++] = *s;
	}
	return *s == '"' && s[1] == ' ' ? s + 1 : NULL;
}

/* "req=ID cn=ACCOUNT rest": the request's id and account as members of their own. Returns the
 * rest of the message. */
static const char *json_request_fields(char *line, size_t *len, size_t cap, const char *message)
{
	if (strncmp(message, "req=", 4) != 0)
		return message;
	/* A member that does not fit whole is taken back: the message then keeps the text. */
	size_t before = *len;
	const char *id = message + 4, *id_end = strchr(id, ' ');
	if (!id_end ||
	    !append_json_member(line, len, cap, "request_id", id, (size_t)(id_end - id))) {
		*len = before;
		return message;
	}
	const char *rest = id_end + 1;
	before = *len;
	if (strncmp(rest, "cn=", 3) == 0) {
		char cn[512];
		size_t cn_len;
		const char *cn_end = unquote_word(rest + 3, cn, sizeof cn, &cn_len);
		if (cn_end && append_json_member(line, len, cap, "account", cn, cn_len))
			rest = cn_end + 1;
		else
			*len = before;
	}
	return rest;
}

/* The whole JSON line of a message, cut (and marked "cut":true) if it does not fit. */
static size_t format_json_line(char *line, size_t cap, const struct tm *tm, long msec,
                               enum log_level level, const char *message, bool cut)
{
	int n = snprintf(line, cap,
	                 "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
	                 "\"pid\":%ld",
	                 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min,
	                 tm->tm_sec, msec, level_names[level].config_name, (long)getpid());
	if (n < 0 || (size_t)n >= cap)
		return 0;
	size_t len = (size_t)n;
	static const char tail_cut[] = "\",\"cut\":true}\n", tail[] = "\"}\n";
	size_t body_cap = cap - sizeof tail_cut;
	/* The request's members leave room for the "msg" member's opening. */
	const char *rest = json_request_fields(line, &len, body_cap - 16, message);
	static const char open[] = ",\"msg\":\"";
	memcpy(line + len, open, sizeof open - 1);
	len += sizeof open - 1;
	/* What did not fit is left out whole: append_json stops before a character or escape
	 * that would not fit. */
	if (!append_json(line, &len, body_cap, rest, strlen(rest)))
		cut = true;
	const char *t = cut ? tail_cut : tail;
	size_t t_len = cut ? sizeof tail_cut - 1 : sizeof tail - 1;
	memcpy(line + len, t, t_len);
	return len + t_len;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > current_level || level < LOG_ERROR)
		return;

	/* Callers often log and then look at errno (or log inside an error path that reports it
	 * later); logging must not change it. */
	int saved_errno = errno;

	/* Wall time even under the test clock: the log is about when things really happened. */
	struct timespec now;
	struct tm tm;
	if (clock_gettime(CLOCK_REALTIME, &now) != 0 || gmtime_r(&now.tv_sec, &tm) == NULL) {
		memset(&tm, 0, sizeof tm);
		now.tv_nsec = 0;
	}

	char message[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int message_len = vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	if (message_len < 0)
		snprintf(message, sizeof message, "(unformattable log message: %s)", fmt);

	char line[LOG_LINE_MAX];
	size_t len;
	if (current_format == LOG_FORMAT_JSON) {
		len =
		    format_json_line(line, sizeof line, &tm, now.tv_nsec / 1000000L, level, message,
		                     message_len >= 0 && (size_t)message_len >= sizeof message);
		if (len == 0) {
			errno = saved_errno;
			return;
		}
		log_write(line, len);
		errno = saved_errno;
		return;
	}
	int prefix_len =
	    snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ rollcalld[%ld] %s ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             now.tv_nsec / 1000000L, (long)getpid(), level_names[level].line_name);
	if (prefix_len < 0 || (size_t)prefix_len >= sizeof line) {
		errno = saved_errno;
		return;
	}
	len = (size_t)prefix_len;
	/* Keep room for the truncation mark and the newline. */
	static const char cut_mark[] = "...";
	size_t body_cap = sizeof line - sizeof cut_mark;
	bool fitted = append_escaped(line, &len, body_cap, message);
	bool cut = !fitted || (message_len >= 0 && (size_t)message_len >= sizeof message);
	if (cut) {
		memcpy(line + len, cut_mark, sizeof cut_mark - 1);
		len += sizeof cut_mark - 1;
	}
	line[len++] = '\n';
	log_write(line, len);
	errno = saved_errno;
}
