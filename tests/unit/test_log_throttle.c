/* daemon/log_throttle.c: the first line of a key, then one per period with the count held
 * back, keys independent of each other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log_throttle.h"

#define S 1000000LL

static void first_then_once_per_period(void **state)
{
	(void)state;
	struct log_throttle *t = log_throttle_new(600 * S);
	assert_non_null(t);
	unsigned long held = 99;
	assert_true(log_throttle_allow(t, "c1 police", 0, &held));
	assert_int_equal(held, 0);
	for (int i = 1; i <= 5; i++)
		assert_false(log_throttle_allow(t, "c1 police", i * S, &held));
	/* One microsecond short of the period: still held back. */
	assert_false(log_throttle_allow(t, "c1 police", 600 * S - 1, &held));
	assert_true(log_throttle_allow(t, "c1 police", 600 * S, &held));
	assert_int_equal(held, 6);
	/* The period counts from the line written, and the count starts again. */
	assert_false(log_throttle_allow(t, "c1 police", 1199 * S, &held));
	assert_true(log_throttle_allow(t, "c1 police", 1200 * S, &held));
	assert_int_equal(held, 1);
	log_throttle_free(t);
}

static void keys_are_independent(void **state)
{
	(void)state;
	struct log_throttle *t = log_throttle_new(600 * S);
	assert_non_null(t);
	unsigned long held;
	assert_true(log_throttle_allow(t, "c1 police", 0, &held));
	assert_true(log_throttle_allow(t, "c1 municipality", 1, &held));
	assert_true(log_throttle_allow(t, "c2 police", 2, &held));
	assert_false(log_throttle_allow(t, "c1 police", 3, &held));
	assert_false(log_throttle_allow(t, "c2 police", 4, &held));
	log_throttle_free(t);
	log_throttle_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(first_then_once_per_period),
	    cmocka_unit_test(keys_are_independent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
