/* Unit tests of client/colour.c: colour only on a real terminal without NO_COLOR, urgent stands
 * out more than normal, info is plain, and the bell rings for urgent and normal only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "colour.h"

static void test_colour_only_on_a_terminal_that_has_it(void **state)
{
	(void)state;
	assert_true(colour_wanted(true, "xterm-256color", NULL));
	assert_true(colour_wanted(true, "xterm", ""));     /* NO_COLOR empty: as if unset */
	assert_false(colour_wanted(false, "xterm", NULL)); /* a pipe or a file */
	assert_false(colour_wanted(true, "dumb", NULL));
	assert_false(colour_wanted(true, NULL, NULL));
	assert_false(colour_wanted(true, "xterm", "1"));
	assert_false(colour_wanted(true, "xterm", "0")); /* any value but empty */
}

static void test_priorities_have_their_own_emphasis(void **state)
{
	(void)state;
	assert_string_equal(colour_of_priority("urgent"), "\033[1;31m");
	assert_string_equal(colour_of_priority("normal"), "\033[1m");
	assert_string_equal(colour_of_priority("info"), "");
	assert_string_equal(colour_of_priority(NULL), "");
	assert_string_not_equal(colour_of_priority("urgent"), colour_of_priority("normal"));
}

static void test_bell_for_urgent_and_normal_only(void **state)
{
	(void)state;
	assert_true(bell_for_priority("urgent"));
	assert_true(bell_for_priority("normal"));
	assert_false(bell_for_priority("info"));
	assert_true(bell_for_priority(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_colour_only_on_a_terminal_that_has_it),
	    cmocka_unit_test(test_priorities_have_their_own_emphasis),
	    cmocka_unit_test(test_bell_for_urgent_and_normal_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
