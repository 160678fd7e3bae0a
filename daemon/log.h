/* Logging to stderr with a level and a format (text or JSON lines) that SIGHUP may change. Lines
 * about a request start "req=ID cn=ACCOUNT "; never log a resident's name above debug level. */
#ifndef ROLLCALL_LOG_H
#define ROLLCALL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_level_parse(const char *text, enum log_level *out) __attribute__((warn_unused_result));
void log_set_format(enum log_format format);
bool log_format_parse(const char *text, enum log_format *out) __attribute__((warn_unused_result));
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* value as one word of a log line: as it is when it holds no space, quote or backslash (and is
 * not empty), else in double quotes with \" and \\ inside, so that "req=ID cn=WORD ..." reads
 * one way whatever a certificate's CN holds (the JSON format takes it apart). Control
 * characters are left for the line's own escaping. out is cut, quotes kept, if too small. */
void log_quote(const char *value, char *out, size_t out_size);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
