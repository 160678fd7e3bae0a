/* Unit tests of daemon/metrics.c (the in-process counters of GET /metrics) and of the clock
 * watchers of daemon/clock.c that the expiry check follows: status slots and their labels,
 * histogram bucket edges, unmatched routes, streams left out of the histogram. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "metrics.h"
#include "router.h"

/* The route tables name the handlers, which reach the daemon through this (main.c's); none
 * runs here. */
struct daemon *daemon_state;

/* The slot whose label is text; fails when there is none. */
static size_t slot_of(const char *text)
{
	for (size_t i = 0; i < METRICS_STATUS_SLOTS; i++) {
		char label[8];
		metrics_status_label(i, label);
		if (strcmp(label, text) == 0)
			return i;
	}
	fail_msg("no status slot labelled %s", text);
	return 0;
}

static const struct metrics_route_figures *unmatched(void)
{
	size_t n = router_route_count();
	return metrics_route(n < METRICS_MAX_ROUTES ? n : METRICS_MAX_ROUTES);
}

static void test_known_codes_count_apart_others_by_class(void **state)
{
	(void)state;
	const struct metrics_route_figures *f = unmatched();
	unsigned long long c404 = f->responses[slot_of("404")];
	unsigned long long c4xx = f->responses[slot_of("4xx")];
	unsigned long long c5xx = f->responses[slot_of("5xx")];
	metrics_request_finished(NULL, 404, 10, false);
	metrics_request_finished(NULL, 418, 10, false);
	metrics_request_finished(NULL, 999, 10, false); /* not HTTP: a server error */
	assert_int_equal(f->responses[slot_of("404")], c404 + 1);
	assert_int_equal(f->responses[slot_of("4xx")], c4xx + 1);
	assert_int_equal(f->responses[slot_of("5xx")], c5xx + 1);
}

static void test_route_slots_follow_the_tables(void **state)
{
	(void)state;
	size_t n = router_route_count();
	assert_true(n > 40 && n <= METRICS_MAX_ROUTES);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(router_route_index(router_route_at(i)), i);
	assert_int_equal(router_route_index(NULL), n);
	static const struct route stranger = {.method = "GET", .pattern = "/x"};
	assert_int_equal(router_route_index(&stranger), n);
	assert_null(router_route_at(n));

	const struct route *first = router_route_at(0);
	const struct metrics_route_figures *f = metrics_route(0);
	unsigned long long before = f->responses[slot_of("200")];
	metrics_request_finished(first, 200, 10, false);
	assert_int_equal(f->responses[slot_of("200")], before + 1);
}

static void test_histogram_bucket_edges_and_streams(void **state)
{
	(void)state;
	const struct route *r = router_route_at(1);
	const struct metrics_route_figures *f = metrics_route(1);
	unsigned long long b0 = f->latency[0], b1 = f->latency[1];
	unsigned long long inf = f->latency[METRICS_LATENCY_BUCKETS - 1];
	unsigned long long count = f->latency_count, sum = f->latency_sum_us;
	metrics_request_finished(r, 200, metrics_latency_bounds_us[0], false);     /* le 0.005 */
	metrics_request_finished(r, 200, metrics_latency_bounds_us[0] + 1, false); /* le 0.01 */
	metrics_request_finished(r, 200, INT64_C(60000000), false);                /* +Inf */
	metrics_request_finished(r, 200, INT64_C(3600000000), true); /* a stream: not timed */
	metrics_request_finished(r, 200, -5, false);                 /* a clock step: 0 */
	assert_int_equal(f->latency[0], b0 + 2);
	assert_int_equal(f->latency[1], b1 + 1);
	assert_int_equal(f->latency[METRICS_LATENCY_BUCKETS - 1], inf + 1);
	assert_int_equal(f->latency_count, count + 4);
	assert_int_equal(f->latency_sum_us, sum + 5000 + 5001 + 60000000);
}

static void test_tls_failures_by_reason(void **state)
{
	(void)state;
	for (int r = 0; r < TLS_FAILURE_COUNT; r++)
		assert_non_null(metrics_tls_failure_names[r]);
	unsigned long long before = metrics_tls_failures(TLS_FAILURE_REVOKED);
	metrics_tls_failure(TLS_FAILURE_REVOKED);
	metrics_tls_failure(TLS_FAILURE_COUNT); /* out of range: ignored */
	assert_int_equal(metrics_tls_failures(TLS_FAILURE_REVOKED), before + 1);
	assert_int_equal(metrics_tls_failures(TLS_FAILURE_COUNT), 0);
}

static int watched;
static void on_clock(void *arg)
{
	watched += *(int *)arg;
}

static void test_clock_watchers_hear_every_set(void **state)
{
	(void)state;
	int one = 1, ten = 10;
	clock_use_test(true);
	assert_true(clock_watch(on_clock, &one));
	assert_true(clock_watch(on_clock, &ten));
	clock_set_us(INT64_C(1000000));
	assert_int_equal(watched, 11);
	clock_unwatch(on_clock, &ten);
	clock_set_us(INT64_C(2000000));
	assert_int_equal(watched, 12);
	clock_unwatch(on_clock, &one);
	for (int i = 0; i < CLOCK_WATCHERS; i++)
		assert_true(clock_watch(on_clock, &one));
	assert_false(clock_watch(on_clock, &ten)); /* full */
	clock_unwatch(on_clock, &one);             /* removes every registration of it */
	clock_set_us(INT64_C(3000000));
	assert_int_equal(watched, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_codes_count_apart_others_by_class),
	    cmocka_unit_test(test_route_slots_follow_the_tables),
	    cmocka_unit_test(test_histogram_bucket_edges_and_streams),
	    cmocka_unit_test(test_tls_failures_by_reason),
	    cmocka_unit_test(test_clock_watchers_hear_every_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
