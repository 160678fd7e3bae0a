/* Checks on the head of an HTTP answer that libcurl lets through but rollcall must not act on:
 * libcurl takes any three digits for a status (a "000" would then read as a final refusal
 * under 500, so `rollcall watch` would stop watching the alerts instead of reconnecting) and,
 * of several Content-Length headers, believes the last (RFC 9112 6.3: differing ones make the
 * message unreadable). Both now fail as NET_PROTOCOL, a broken answer, not a refusal. Pure, so the
 * unit tests call them directly; tls_http.c applies them to every answer. */
#ifndef ROLLCALL_CLIENT_HTTP_ANSWER_H
#define ROLLCALL_CLIENT_HTTP_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

/* True for a final status HTTP defines: 200..599 (libcurl itself reads past 1xx interim
 * answers, so one that is final is not HTTP either). */
bool http_status_final(long status);

/* True if the values of every Content-Length header of an answer (count may be 0) are the
 * same number, as RFC 9112 allows: "2" twice, or "2, 2" in one header. False for differing
 * values, one that is not a number, or one of more than 18 digits (libcurl ignores a length it
 * cannot hold and reads to the end of the connection, so a cut answer would pass for whole). */
bool http_lengths_agree(const char *const *values, size_t count);

#endif
