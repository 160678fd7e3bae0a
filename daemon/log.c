/* Logging to stderr: one line per message, "2026-11-23T09:30:01.123Z rollcalld[pid] LEVEL text",
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
	int prefix_len =
	    snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ rollcalld[%ld] %s ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             now.tv_nsec / 1000000L, (long)getpid(), level_names[level].line_name);
	if (prefix_len < 0 || (size_t)prefix_len >= sizeof line) {
		errno = saved_errno;
		return;
	}
	size_t len = (size_t)prefix_len;
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

	/* One write for the whole line; retry only what a signal or a full pipe left unwritten. */
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
	errno = saved_errno;
}
