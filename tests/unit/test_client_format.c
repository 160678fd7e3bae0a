/* Unit tests of the client's pure formatting (client/format.c): øre as kroner with a decimal
 * comma and thousands dots (SPEC.md section 9's worked examples), terminal-safe text, tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"

static void expect_ore(int64_t ore, const char *text)
{
	char out[FORMAT_ORE_SIZE];
	assert_string_equal(format_ore(ore, out), text);
}

/* 14 × 58,41 + 14 × 34,08 = 1.294,86 kr. (SPEC.md section 9). */
static void test_format_ore_worked_example_phase2_without_free_meals(void **state)
{
	(void)state;
	expect_ore(14 * 5841 + 14 * 3408, "1.294,86");
	expect_ore(14 * 3408, "477,12");
}

/* 4 × 4,88 = 19,52 kr. withdrawn; shown negative on a statement. */
static void test_format_ore_sanction_negative(void **state)
{
	(void)state;
	expect_ore(4 * 488, "19,52");
	expect_ore(-1952, "-19,52");
}

static void test_format_ore_small_and_zero(void **state)
{
	(void)state;
	expect_ore(0, "0,00");
	expect_ore(5, "0,05");
	expect_ore(-5, "-0,05");
	expect_ore(99, "0,99");
	expect_ore(100, "1,00");
	expect_ore(-100, "-1,00");
}

static void test_format_ore_thousands_groups(void **state)
{
	(void)state;
	expect_ore(99999, "999,99");
	expect_ore(100000, "1.000,00");
	expect_ore(123456789, "1.234.567,89");
	expect_ore(100000000000, "1.000.000.000,00");
}

static void test_format_ore_extremes(void **state)
{
	(void)state;
	expect_ore(INT64_MAX, "92.233.720.368.547.758,07");
	expect_ore(INT64_MIN, "-92.233.720.368.547.758,08");
}

static void test_format_clean_removes_terminal_controls(void **state)
{
	(void)state;
	char *clean = format_clean("Olena\x1b[31m Sh\tev\x7f");
	assert_string_equal(clean, "Olena?[31m Sh?ev?");
	free(clean);
	/* U+009B is a one-character CSI on some terminals. */
	clean = format_clean("a\xc2\x9b"
	                     "b");
	assert_string_equal(clean, "a?b");
	free(clean);
	clean = format_clean("Søren Ødegård");
	assert_string_equal(clean, "Søren Ødegård");
	free(clean);
	clean = format_clean("bad \xff\xfe utf8 \xc3");
	assert_string_equal(clean, "bad ?? utf8 ?");
	free(clean);
	clean = format_clean(NULL);
	assert_string_equal(clean, "");
	free(clean);
}

static void test_format_display_width_counts_code_points(void **state)
{
	(void)state;
	assert_int_equal(format_display_width("Ødegård"), 7);
	assert_int_equal(format_display_width("Tønder"), 6);
	assert_int_equal(format_display_width(""), 0);
	assert_int_equal(format_display_width("Карім"), 5);
}

static void test_table_render_aligns_columns(void **state)
{
	(void)state;
	static const char *const headers[] = {"CASE", "NAME", "AGE"};
	static const enum table_align align[] = {TABLE_LEFT, TABLE_LEFT, TABLE_RIGHT};
	struct table *table = table_new(3, headers, align);
	assert_non_null(table);
	const char *row1[] = {"UMI-1", "Søren Ødegård", "17"};
	const char *row2[] = {"42", "Al", "9"};
	assert_true(table_add_row(table, row1));
	assert_true(table_add_row(table, row2));
	assert_int_equal(table_rows(table), 2);
	char *text = table_render(table);
	assert_string_equal(text, "CASE   NAME           AGE\n"
	                          "UMI-1  Søren Ødegård   17\n"
	                          "42     Al               9\n");
	free(text);
	table_free(table);
}

static void test_table_render_no_trailing_spaces(void **state)
{
	(void)state;
	static const char *const headers[] = {"A", "LONG HEADER"};
	struct table *table = table_new(2, headers, NULL);
	const char *row[] = {"x", NULL};
	assert_true(table_add_row(table, row));
	char *text = table_render(table);
	assert_string_equal(text, "A  LONG HEADER\nx\n");
	free(text);
	table_free(table);
}

static void test_format_notify_reason_words(void **state)
{
	(void)state;
	assert_string_equal(format_notify_reason("threshold_12h"),
	                    "12 hours without news, under 15");
	assert_string_equal(format_notify_reason("concern"), "special concern");
	assert_string_equal(format_notify_reason("something_new"), "something_new");
	assert_string_equal(format_notify_reason(NULL), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_ore_worked_example_phase2_without_free_meals),
	    cmocka_unit_test(test_format_ore_sanction_negative),
	    cmocka_unit_test(test_format_ore_small_and_zero),
	    cmocka_unit_test(test_format_ore_thousands_groups),
	    cmocka_unit_test(test_format_ore_extremes),
	    cmocka_unit_test(test_format_clean_removes_terminal_controls),
	    cmocka_unit_test(test_format_display_width_counts_code_points),
	    cmocka_unit_test(test_table_render_aligns_columns),
	    cmocka_unit_test(test_table_render_no_trailing_spaces),
	    cmocka_unit_test(test_format_notify_reason_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
