/* The client's round vocabulary (client/round_file.c) names exactly the shared enum tables of
 * rollcall/enums.h, in their order: the keys and labels are the client's own, the API names are
 * not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rollcall/enums.h"
#include "round_file.h"

static void assert_same_names(const struct choice *choices, const char *const *table)
{
	size_t i = 0;
	for (; choices[i].name != NULL; i++) {
		if (table[i] == NULL)
			fail_msg("the client offers %s, which the API does not know",
			         choices[i].name);
		assert_string_equal(choices[i].name, table[i]);
	}
	if (table[i] != NULL)
		fail_msg("the client does not offer %s", table[i]);
}

static void test_round_statuses_are_the_observation_statuses(void **state)
{
	(void)state;
	assert_same_names(round_statuses, enum_observation_statuses);
}

static void test_round_reasons_are_the_excuse_reasons(void **state)
{
	(void)state;
	assert_same_names(round_reasons, enum_excuse_reasons);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_statuses_are_the_observation_statuses),
	    cmocka_unit_test(test_round_reasons_are_the_excuse_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
