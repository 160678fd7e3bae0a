/* daemon/request_budget.c: a token bucket per CN (burst at once, then rate per second), each
 * CN's independent of the others, Retry-After rounded up to whole seconds, memory fixed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "request_budget.h"

#define S 1000000LL

static void burst_then_rate(void **state)
{
	(void)state;
	struct request_budget *b = request_budget_new(2, 5);
	assert_non_null(b);
	int retry = 0;
	for (int i = 0; i < 5; i++)
		assert_true(request_budget_take(b, "greedy", 0, &retry));
	assert_false(request_budget_take(b, "greedy", 0, &retry));
	assert_int_equal(retry, 1); /* one token back in 0.5 s: one whole second */
	/* Half a second brings one back at 2 per second. */
	assert_false(request_budget_take(b, "greedy", S / 2 - 1, &retry));
	assert_true(request_budget_take(b, "greedy", S / 2, &retry));
	assert_false(request_budget_take(b, "greedy", S / 2, &retry));
	/* A long pause fills the bucket up to the burst, not beyond. */
	for (int i = 0; i < 5; i++)
		assert_true(request_budget_take(b, "greedy", 3600 * S, &retry));
	assert_false(request_budget_take(b, "greedy", 3600 * S, &retry));
	request_budget_free(b);
}

static void certificates_are_independent(void **state)
{
	(void)state;
	struct request_budget *b = request_budget_new(1, 2);
	assert_non_null(b);
	int retry = 0;
	assert_true(request_budget_take(b, "greedy", 0, &retry));
	assert_true(request_budget_take(b, "greedy", 0, &retry));
	assert_false(request_budget_take(b, "greedy", 0, &retry));
	assert_true(request_budget_take(b, "staff-tonder", 0, &retry));
	assert_true(request_budget_take(b, "staff-tonder", 0, &retry));
	assert_int_equal(request_budget_used(b), 2);
	request_budget_free(b);
	request_budget_free(NULL);
}

static void slow_rate_retry_after_rounds_up(void **state)
{
	(void)state;
	struct request_budget *b = request_budget_new(1, 1);
	assert_non_null(b);
	int retry = 0;
	assert_true(request_budget_take(b, "a", 10 * S, &retry));
	assert_false(request_budget_take(b, "a", 10 * S + 1, &retry));
	assert_int_equal(retry, 1);
	request_budget_free(b);
}

static void off_admits_everything(void **state)
{
	(void)state;
	struct request_budget *b = request_budget_new(0, 1);
	assert_non_null(b);
	int retry = 0;
	for (int i = 0; i < 10000; i++)
		assert_true(request_budget_take(b, "a", 0, &retry));
	assert_int_equal(request_budget_used(b), 0);
	request_budget_free(b);
}

static void memory_is_bounded_by_eviction(void **state)
{
	(void)state;
	struct request_budget *b = request_budget_new(1, 1);
	assert_non_null(b);
	int retry = 0;
	char cn[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(cn, sizeof cn, "cn-%d", i);
		assert_true(request_budget_take(b, cn, i, &retry));
	}
	int used = request_budget_used(b);
	assert_true(used <= 1024);
	assert_int_equal(request_budget_evicted(b), 100000 - used);
	/* The busiest recent CN keeps its bucket: it is the most recently used of its set. */
	assert_false(request_budget_take(b, "cn-99999", 100000, &retry));
	request_budget_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(burst_then_rate),
	    cmocka_unit_test(certificates_are_independent),
	    cmocka_unit_test(slow_rate_retry_after_rounds_up),
	    cmocka_unit_test(off_admits_everything),
	    cmocka_unit_test(memory_is_bounded_by_eviction),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
