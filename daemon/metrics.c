/* The in-process counters of GET /metrics (see metrics.h). Kept in static arrays sized at
 * compile time: nothing to set up or free, and recording a request never allocates. */
#include "metrics.h"

#include <stdio.h>

#include "log.h"
#include "router.h"

const char *const metrics_tls_failure_names[TLS_FAILURE_COUNT] = {
    [TLS_FAILURE_NO_CERTIFICATE] = "no_certificate",
    [TLS_FAILURE_UNKNOWN_CA] = "unknown_ca",
    [TLS_FAILURE_REVOKED] = "certificate_revoked",
    [TLS_FAILURE_EXPIRED] = "certificate_expired",
    [TLS_FAILURE_NOT_YET_VALID] = "certificate_not_yet_valid",
    [TLS_FAILURE_CRL_EXPIRED] = "crl_expired",
    [TLS_FAILURE_CRL_UNAVAILABLE] = "crl_unavailable",
    [TLS_FAILURE_BAD_CERTIFICATE] = "bad_certificate",
    [TLS_FAILURE_PROTOCOL] = "protocol",
    [TLS_FAILURE_CLIENT_ALERT] = "client_alert",
    [TLS_FAILURE_CLOSED] = "closed",
};

/* 5 ms .. 10 s: a request served from one SQL statement takes a few milliseconds; a statements
 * export or a round of a large centre takes a good part of a second. */
const int64_t metrics_latency_bounds_us[METRICS_LATENCY_BUCKETS - 1] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

/* The codes the daemon answers (docs/api.md), each its own series; the 1xx..5xx class slots
 * follow them. */
const int metrics_status_codes[METRICS_STATUS_SLOTS - 5] = {
    200, 201, 204, 304, 400, 401, 403, 404, 405, 406, 408,
    409, 410, 411, 413, 414, 415, 422, 429, 500, 503,
};
#define STATUS_CODES (sizeof metrics_status_codes / sizeof metrics_status_codes[0])

static struct metrics_route_figures routes[METRICS_MAX_ROUTES + 1];
static unsigned long long tls_failures[TLS_FAILURE_COUNT];

static size_t status_slot(int status)
{
	for (size_t i = 0; i < STATUS_CODES; i++)
		if (metrics_status_codes[i] == status)
			return i;
	int class = status / 100;
	if (class < 1 || class > 5)
		class = 5; /* not an HTTP status: count it as a server error */
	return STATUS_CODES + (size_t)(class - 1);
}

static size_t route_slot(const struct route *route)
{
	size_t n = router_route_count();
	size_t slot = router_route_index(route);
	if (n > METRICS_MAX_ROUTES)
		n = METRICS_MAX_ROUTES;
	return slot < n ? slot : n;
}

void metrics_request_finished(const struct route *route, int status, int64_t took_us,
                              bool streaming)
{
	struct metrics_route_figures *r = &routes[route_slot(route)];
	r->responses[status_slot(status)]++;
	if (streaming)
		return;
	if (took_us < 0)
		took_us = 0;
	size_t bucket = 0;
	while (bucket < METRICS_LATENCY_BUCKETS - 1 && took_us > metrics_latency_bounds_us[bucket])
		bucket++;
	r->latency[bucket]++;
	r->latency_count++;
	r->latency_sum_us += (unsigned long long)took_us;
}

void metrics_tls_failure(enum metrics_tls_failure reason)
{
	if ((int)reason >= 0 && reason < TLS_FAILURE_COUNT)
		tls_failures[reason]++;
}

bool metrics_check_routes(void)
{
	if (router_route_count() <= METRICS_MAX_ROUTES)
		return true;
	log_error("metrics: %zu routes, more than the %d counted apart: the rest are counted as "
	          "unmatched (raise METRICS_MAX_ROUTES in daemon/metrics.h)",
	          router_route_count(), METRICS_MAX_ROUTES);
	return false;
}

const struct metrics_route_figures *metrics_route(size_t slot)
{
	size_t n = router_route_count();
	if (n > METRICS_MAX_ROUTES)
		n = METRICS_MAX_ROUTES;
	return slot <= n ? &routes[slot] : NULL;
}

void metrics_status_label(size_t slot, char out[8])
{
	if (slot < STATUS_CODES)
		snprintf(out, 8, "%d", metrics_status_codes[slot]);
	else
		snprintf(out, 8, "%dxx", (int)(slot - STATUS_CODES + 1) % 10);
}

unsigned long long metrics_tls_failures(enum metrics_tls_failure reason)
{
	return (int)reason >= 0 && reason < TLS_FAILURE_COUNT ? tls_failures[reason] : 0;
}
