/* The daemon's in-process figures for GET /metrics: responses per route and status code, a
 * latency histogram per route, and TLS handshake failures by reason. Fixed-size arrays, no
 * allocation: recording is one index computation and a few increments, cheap enough for every
 * request. Only the event loop thread records and reads them. The text is written by
 * metrics_text.c. */
#ifndef ROLLCALL_METRICS_H
#define ROLLCALL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct route;

/* Why a TLS handshake failed, as the label `reason` of rollcall_tls_handshake_failures_total. */
enum metrics_tls_failure {
	TLS_FAILURE_NO_CERTIFICATE,  /* the client sent no certificate */
	TLS_FAILURE_UNKNOWN_CA,      /* not issued by tls_ca */
	TLS_FAILURE_REVOKED,         /* listed in tls_crl */
	TLS_FAILURE_EXPIRED,         /* the client certificate's notAfter has passed */
	TLS_FAILURE_NOT_YET_VALID,   /* its notBefore is still ahead */
	TLS_FAILURE_CRL_EXPIRED,     /* tls_crl's nextUpdate has passed: everyone is refused */
	TLS_FAILURE_CRL_UNAVAILABLE, /* no CRL of the issuer loaded while CRL checking is on */
	TLS_FAILURE_BAD_CERTIFICATE, /* any other verification error */
	TLS_FAILURE_PROTOCOL,        /* version, cipher suite or group refused, or bad records */
	TLS_FAILURE_CLIENT_ALERT,    /* the client gave up with an alert (e.g. it distrusts us) */
	TLS_FAILURE_CLOSED,          /* the connection ended before the handshake completed */
	TLS_FAILURE_COUNT
};
extern const char *const metrics_tls_failure_names[TLS_FAILURE_COUNT];

/* The histogram's upper bounds in microseconds (the last bucket is +Inf). */
#define METRICS_LATENCY_BUCKETS 12
extern const int64_t metrics_latency_bounds_us[METRICS_LATENCY_BUCKETS - 1];

/* The status codes counted one by one; any other is counted under its class ("4xx"). */
#define METRICS_STATUS_SLOTS 26
extern const int metrics_status_codes[METRICS_STATUS_SLOTS - 5]; /* + 1xx..5xx classes */

/* Routes counted apart; more (not expected: there are about 60) would be counted as
 * unmatched, with an error in the log at start (metrics_check_routes). */
#define METRICS_MAX_ROUTES 192

/* One finished request: route may be NULL (no route matched: 404, 405, 400 before routing).
 * Streams (SSE, CSV exports) count among the responses but not in the latency histogram, whose
 * buckets would otherwise fill with the length of a watcher's shift. */
void metrics_request_finished(const struct route *route, int status, int64_t took_us,
                              bool streaming);

void metrics_tls_failure(enum metrics_tls_failure reason);

/* Logs an error when the route tables outgrow METRICS_MAX_ROUTES; false then. */
bool metrics_check_routes(void);

/* Read access for metrics_text.c. Slot route_count is "unmatched". */
struct metrics_route_figures {
	unsigned long long responses[METRICS_STATUS_SLOTS];
	unsigned long long latency[METRICS_LATENCY_BUCKETS]; /* per bucket, not cumulative */
	unsigned long long latency_count;
	unsigned long long latency_sum_us;
};
const struct metrics_route_figures *metrics_route(size_t slot); /* NULL when out of range */
/* The label of a status slot: "200", ..., or "4xx" for the class slots. */
void metrics_status_label(size_t slot, char out[8]);
unsigned long long metrics_tls_failures(enum metrics_tls_failure reason);

#endif
