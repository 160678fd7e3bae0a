/* Unit tests of the shared calendar and text forms (common/calendar.c, common/time_text.c): the
 * one behaviour daemon and client now share for offsets, leap years, leap seconds and dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "rollcall/calendar.h"
#include "rollcall/time_text.h"

#define US INT64_C(1000000)
/* 2026-11-20T22:00:00Z: SPEC section 9's absence observed at 23:00 Danish time. */
#define WORKED_EXAMPLE_US (INT64_C(1795212000) * US)
/* Every form a caller may ask for, to show a refusal does not depend on them. */
#define ALL_FORMS (INSTANT_SPACE | INSTANT_POSTGRES | INSTANT_OPTIONAL_SECONDS | INSTANT_ANY_YEAR)

static int64_t parsed(const char *text, unsigned forms)
{
	int64_t us = INT64_MIN;
	if (!time_text_parse_instant(text, forms, &us))
		fail_msg("time_text_parse_instant(0x%x) refused \"%s\"", forms, text);
	return us;
}

static void assert_refused(const char *text, unsigned forms)
{
	int64_t us = 12345;
	if (time_text_parse_instant(text, forms, &us))
		fail_msg("time_text_parse_instant(0x%x) accepted \"%s\"", forms,
		         text != NULL ? text : "(null)");
	assert_int_equal(us, 12345); /* untouched on refusal */
}

static void test_leap_years_by_the_400_year_rule(void **state)
{
	(void)state;
	assert_true(calendar_is_leap_year(2024));
	assert_false(calendar_is_leap_year(2026));
	assert_false(calendar_is_leap_year(2100));
	assert_true(calendar_is_leap_year(2000));
	assert_int_equal(calendar_days_in_month(2024, 2), 29);
	assert_int_equal(calendar_days_in_month(2026, 2), 28);
	assert_int_equal(calendar_days_in_month(2026, 4), 30);
	assert_int_equal(calendar_days_in_month(2026, 12), 31);
	assert_true(calendar_date_exists(2024, 2, 29));
	assert_false(calendar_date_exists(2026, 2, 29));
	assert_false(calendar_date_exists(2100, 2, 29));
	assert_true(calendar_date_exists(2000, 2, 29));
	assert_false(calendar_date_exists(2026, 0, 1));
	assert_false(calendar_date_exists(2026, 13, 1));
	assert_false(calendar_date_exists(2026, 4, 31));
	assert_false(calendar_date_exists(2026, 1, 0));
}

static void test_days_from_civil_and_back(void **state)
{
	(void)state;
	assert_int_equal(calendar_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(calendar_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(calendar_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(calendar_days_from_civil(2026, 11, 20), 20777);
	assert_int_equal(calendar_floor_div(-1, 86400), -1);
	assert_int_equal(calendar_floor_div(86400, 86400), 1);
	/* Every day of 1600-2400 (two 400-year cycles) round-trips and follows its predecessor. */
	int64_t first = calendar_days_from_civil(1600, 1, 1);
	int64_t last = calendar_days_from_civil(2400, 12, 31);
	struct date previous = {1599, 12, 31};
	for (int64_t days = first; days <= last; days++) {
		struct date d;
		calendar_date_from_days(days, &d);
		assert_int_equal(calendar_date_to_days(&d), days);
		assert_true(calendar_date_exists(d.year, d.month, d.day));
		bool next_day = d.year == previous.year && d.month == previous.month &&
		                d.day == previous.day + 1;
		bool next_month =
		    d.year == previous.year && d.month == previous.month + 1 && d.day == 1;
		bool next_year = d.year == previous.year + 1 && d.month == 1 && d.day == 1;
		assert_true(next_day || next_month || next_year);
		previous = d;
	}
}

static void test_date_parse_real_days_only(void **state)
{
	(void)state;
	struct date d = {0};
	assert_true(time_text_parse_date("2024-02-29", &d));
	assert_int_equal(d.year, 2024);
	assert_int_equal(d.month, 2);
	assert_int_equal(d.day, 29);
	assert_true(time_text_parse_date("2000-02-29", &d));
	struct date untouched = {1, 2, 3};
	d = untouched;
	assert_false(time_text_parse_date("2026-02-29", &d));
	assert_false(time_text_parse_date("2100-02-29", &d));
	assert_false(time_text_parse_date("2026-04-31", &d));
	assert_false(time_text_parse_date("2026-13-01", &d));
	assert_false(time_text_parse_date("2026-00-10", &d));
	assert_false(time_text_parse_date("2026-1-01", &d));
	assert_false(time_text_parse_date("2026-01-01x", &d));
	assert_false(time_text_parse_date("2026-01-01T00:00:00Z", &d));
	assert_false(time_text_parse_date("1899-12-31", &d)); /* CALENDAR_YEAR_MIN */
	assert_false(time_text_parse_date("3000-01-01", &d)); /* CALENDAR_YEAR_MAX */
	assert_false(time_text_parse_date("", &d));
	assert_false(time_text_parse_date(NULL, &d));
	assert_memory_equal(&d, &untouched, sizeof d);
	assert_true(time_text_parse_date("1900-01-01", &d));
	assert_true(time_text_parse_date("2999-12-31", &d));

	char text[TIME_TEXT_DATE_SIZE];
	time_text_format_date(&(struct date){2026, 3, 9}, text);
	assert_string_equal(text, "2026-03-09");
}

static void test_instant_offsets(void **state)
{
	(void)state;
	int64_t utc = WORKED_EXAMPLE_US;
	assert_int_equal(parsed("2026-11-20T22:00:00Z", INSTANT_RFC3339), utc);
	assert_int_equal(parsed("2026-11-20t22:00:00z", INSTANT_RFC3339), utc);
	assert_int_equal(parsed("2026-11-20T23:00:00+01:00", INSTANT_RFC3339), utc);
	assert_int_equal(parsed("2026-11-20T16:30:00-05:30", INSTANT_RFC3339), utc);
	assert_int_equal(parsed("2026-11-21T03:30:00+05:30", INSTANT_RFC3339), utc);
	assert_int_equal(parsed("2026-11-20T22:00:00-00:00", INSTANT_RFC3339), utc);
	/* An offset moves the instant across midnight, a month and a year. */
	assert_int_equal(parsed("2027-01-01T00:30:00+01:00", INSTANT_RFC3339),
	                 parsed("2026-12-31T23:30:00Z", INSTANT_RFC3339));
	/* The offset is mandatory: a wall time alone is in some unknown zone. */
	assert_refused("2026-11-20T22:00:00", ALL_FORMS);
	assert_refused("2026-11-20T22:00:00+0100", ALL_FORMS);
	assert_refused("2026-11-20T22:00:00+24:00", ALL_FORMS);
	assert_refused("2026-11-20T22:00:00+01:60", ALL_FORMS);
	assert_refused("2026-11-20T22:00:00 +01:00", ALL_FORMS);
	/* "+01" alone is PostgreSQL's, and only after a space. */
	assert_refused("2026-11-20T23:00:00+01", ALL_FORMS);
	assert_int_equal(parsed("2026-11-20 23:00:00+01", INSTANT_POSTGRES), utc);
	assert_int_equal(parsed("2026-11-20 19:00:00-03", INSTANT_POSTGRES), utc);
	assert_refused("2026-11-20 23:00:00+01", INSTANT_SPACE);
}

static void test_instant_leap_days(void **state)
{
	(void)state;
	assert_int_equal(parsed("2024-02-29T12:00:00Z", INSTANT_RFC3339),
	                 parsed("2024-03-01T12:00:00Z", INSTANT_RFC3339) - 86400 * US);
	assert_int_equal(parsed("2000-02-29T00:00:00Z", INSTANT_RFC3339), 951782400 * US);
	assert_refused("2026-02-29T12:00:00Z", ALL_FORMS);
	assert_refused("2100-02-29T12:00:00Z", ALL_FORMS);
	assert_refused("2026-04-31T12:00:00Z", ALL_FORMS);
}

static void test_instant_second_60_refused_everywhere(void **state)
{
	(void)state;
	const unsigned forms[] = {INSTANT_RFC3339, INSTANT_SPACE, INSTANT_POSTGRES,
	                          INSTANT_OPTIONAL_SECONDS, ALL_FORMS};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		/* 2016-12-31T23:59:60Z was a real leap second; neither time_t nor timestamptz
		 * can hold it. */
		assert_refused("2016-12-31T23:59:60Z", forms[i]);
		assert_refused("2026-11-20T23:59:60+01:00", forms[i]);
		assert_refused("2026-11-20T24:00:00Z", forms[i]);
		assert_refused("2026-11-20T23:60:00Z", forms[i]);
	}
	assert_int_equal(parsed("2026-11-20T22:59:59Z", INSTANT_RFC3339) + US,
	                 parsed("2026-11-20T23:00:00Z", INSTANT_RFC3339));
}

static void test_instant_fractions_and_forms(void **state)
{
	(void)state;
	int64_t utc = WORKED_EXAMPLE_US;
	assert_int_equal(parsed("2026-11-20T22:00:00.5Z", INSTANT_RFC3339), utc + 500000);
	assert_int_equal(parsed("2026-11-20T22:00:00.000001Z", INSTANT_RFC3339), utc + 1);
	assert_refused("2026-11-20T22:00:00.1234567Z", ALL_FORMS);
	assert_refused("2026-11-20T22:00:00.Z", ALL_FORMS);
	assert_refused("2026-11-20T22:00:00,5Z", ALL_FORMS);
	/* A space for the T only when asked for. */
	assert_refused("2026-11-20 22:00:00Z", INSTANT_RFC3339);
	assert_int_equal(parsed("2026-11-20 22:00:00Z", INSTANT_SPACE), utc);
	/* Seconds left out only when asked for. */
	assert_refused("2026-11-20T22:00Z", INSTANT_RFC3339 | INSTANT_SPACE | INSTANT_POSTGRES);
	assert_int_equal(parsed("2026-11-20T23:00+01:00", INSTANT_OPTIONAL_SECONDS), utc);
	assert_refused("2026-11-20T22:00.5Z", INSTANT_OPTIONAL_SECONDS);
	/* Years: 1900-2999 unless any year is asked for (year 0 never). */
	assert_refused("1899-12-31T23:00:00Z", INSTANT_RFC3339);
	assert_refused("3000-01-01T00:00:00Z", INSTANT_RFC3339);
	assert_int_equal(parsed("0001-01-01T00:00:00Z", INSTANT_ANY_YEAR), -62135596800 * US);
	assert_refused("0000-12-31T00:00:00Z", ALL_FORMS);
	assert_refused("", ALL_FORMS);
	assert_refused(NULL, ALL_FORMS);
	assert_refused("2026-11-20T22:00:00Zjunk", ALL_FORMS);
}

static void test_instant_format_round_trips(void **state)
{
	(void)state;
	char us_text[TIME_TEXT_INSTANT_US_SIZE];
	time_text_format_instant_us(WORKED_EXAMPLE_US + 123456, us_text);
	assert_string_equal(us_text, "2026-11-20T22:00:00.123456+00:00");
	assert_int_equal(parsed(us_text, INSTANT_RFC3339), WORKED_EXAMPLE_US + 123456);
	time_text_format_instant_us(-1, us_text);
	assert_string_equal(us_text, "1969-12-31T23:59:59.999999+00:00");
	time_text_format_instant_us(INT64_MIN, us_text);
	assert_true(strlen(us_text) < TIME_TEXT_INSTANT_US_SIZE);

	char text[TIME_TEXT_INSTANT_SIZE];
	time_text_format_instant(1795215600, text);
	assert_string_equal(text, "2026-11-20T23:00:00+00:00");
	time_text_format_instant(951868799, text);
	assert_string_equal(text, "2000-02-29T23:59:59+00:00");
	time_text_format_instant(-1, text);
	assert_string_equal(text, "1969-12-31T23:59:59+00:00");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_leap_years_by_the_400_year_rule),
	    cmocka_unit_test(test_days_from_civil_and_back),
	    cmocka_unit_test(test_date_parse_real_days_only),
	    cmocka_unit_test(test_instant_offsets),
	    cmocka_unit_test(test_instant_leap_days),
	    cmocka_unit_test(test_instant_second_60_refused_everywhere),
	    cmocka_unit_test(test_instant_fractions_and_forms),
	    cmocka_unit_test(test_instant_format_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
