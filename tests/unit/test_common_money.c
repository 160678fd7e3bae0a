/* Unit tests of the shared money formatting (common/money.c): øre written as kroner, as the
 * statements, the finance CSV and the client show them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "rollcall/money.h"

static void assert_kroner(int64_t ore, bool thousands, const char *expected)
{
	char out[MONEY_KRONER_SIZE];
	assert_ptr_equal(money_format_kroner(ore, thousands, out), out);
	assert_string_equal(out, expected);
}

static void test_zero_and_ore_only(void **state)
{
	(void)state;
	assert_kroner(0, true, "0,00");
	assert_kroner(1, true, "0,01");
	assert_kroner(50, false, "0,50");
	assert_kroner(99, true, "0,99");
	assert_kroner(100, true, "1,00");
}

static void test_negative_amounts(void **state)
{
	(void)state;
	/* A sanction or a correction: the minus goes before the kroner, also below one krone. */
	assert_kroner(-1, true, "-0,01");
	assert_kroner(-50, false, "-0,50");
	assert_kroner(-129486, true, "-1.294,86");
	assert_kroner(-129486, false, "-1294,86");
}

static void test_thousands_groups(void **state)
{
	(void)state;
	assert_kroner(129486, true, "1.294,86");
	assert_kroner(129486, false, "1294,86");
	assert_kroner(99999, true, "999,99");
	assert_kroner(100000, true, "1.000,00");
	assert_kroner(123456789012, true, "1.234.567.890,12");
}

static void test_extremes_fit(void **state)
{
	(void)state;
	assert_kroner(INT64_MAX, true, "92.233.720.368.547.758,07");
	assert_kroner(INT64_MIN, true, "-92.233.720.368.547.758,08");
	char out[MONEY_KRONER_SIZE];
	assert_true(strlen(money_format_kroner(INT64_MIN, true, out)) < MONEY_KRONER_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zero_and_ore_only),
	    cmocka_unit_test(test_negative_amounts),
	    cmocka_unit_test(test_thousands_groups),
	    cmocka_unit_test(test_extremes_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
