/* Unit tests of the client's calendar arithmetic (client/dates.c): dates, ages in completed years
 * as PostgreSQL's age() counts them (SPEC.md section 9's residents), RFC 3339 and HTTP dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dates.h"

static struct date d(const char *text)
{
	struct date out = {0};
	assert_true(date_parse(text, &out));
	return out;
}

static void test_date_parse_strict(void **state)
{
	(void)state;
	struct date out;
	assert_true(date_parse("2026-11-20", &out));
	assert_int_equal(out.year, 2026);
	assert_int_equal(out.month, 11);
	assert_int_equal(out.day, 20);
	assert_true(date_parse("2028-02-29", &out));
	assert_false(date_parse("2026-02-29", &out));
	assert_false(date_parse("2026-13-01", &out));
	assert_false(date_parse("2026-1-01", &out));
	assert_false(date_parse("2026-01-01x", &out));
	assert_false(date_parse("", &out));
	assert_false(date_parse(NULL, &out));
}

static void test_date_days_round_trip(void **state)
{
	(void)state;
	struct date a = d("1970-01-01"), b;
	assert_int_equal(date_to_days(&a), 0);
	a = d("2026-01-05");
	date_add_days(&a, 13, &b);
	char text[DATE_TEXT_SIZE];
	date_format(&b, text);
	assert_string_equal(text, "2026-01-18");
	a = d("2024-02-28");
	date_add_days(&a, 1, &b);
	date_format(&b, text);
	assert_string_equal(text, "2024-02-29");
	date_add_days(&b, -366, &a);
	date_format(&a, text);
	assert_string_equal(text, "2023-02-28");
}

/* Born 2012-03-10: 14 on 2026-11-20 (12-hour rule); born 2011-11-20: 15 that day (24 hours). */
static void test_age_worked_examples(void **state)
{
	(void)state;
	struct date on = d("2026-11-20");
	struct date born = d("2012-03-10");
	assert_int_equal(date_age_on(&born, &on), 14);
	born = d("2011-11-20");
	assert_int_equal(date_age_on(&born, &on), 15);
	on = d("2026-11-19");
	assert_int_equal(date_age_on(&born, &on), 14);
}

static void test_age_leap_day_birthday(void **state)
{
	(void)state;
	struct date born = d("2008-02-29");
	struct date on = d("2026-02-28");
	assert_int_equal(date_age_on(&born, &on), 17);
	on = d("2026-03-01");
	assert_int_equal(date_age_on(&born, &on), 18);
}

static void test_instant_parse(void **state)
{
	(void)state;
	time_t t;
	assert_true(instant_parse("2026-11-20T23:00:00+00:00", &t));
	assert_int_equal(t, 1795215600);
	assert_true(instant_parse("2026-11-21T00:00:00+01:00", &t));
	assert_int_equal(t, 1795215600);
	assert_true(instant_parse("2026-11-20T23:00Z", &t));
	assert_int_equal(t, 1795215600);
	assert_true(instant_parse("2026-11-20 22:00:00.123456-01:00", &t));
	assert_int_equal(t, 1795215600);
	assert_false(instant_parse("2026-11-20T23:00:00", &t)); /* no offset */
	assert_false(instant_parse("2026-11-20T24:00:00Z", &t));
	assert_false(instant_parse("2026-11-20T23:00:00+0100", &t));
	assert_false(instant_parse("yesterday", &t));

	char text[INSTANT_TEXT_SIZE];
	instant_format_utc(1795215600, text);
	assert_string_equal(text, "2026-11-20T23:00:00+00:00");
}

/* The daemon's rules, now shared: a leap second, a day that does not exist and a fraction finer
 * than a microsecond are refused; the client also takes what a person types (no seconds). */
static void test_instant_parse_agrees_with_the_daemon(void **state)
{
	(void)state;
	time_t t = 42;
	assert_false(instant_parse("2026-11-20T23:59:60Z", &t));
	assert_false(instant_parse("2016-12-31T23:59:60+00:00", &t));
	assert_false(instant_parse("2026-02-29T12:00:00Z", &t));
	assert_false(instant_parse("2100-02-29T12:00:00Z", &t));
	assert_false(instant_parse("2026-11-20T22:00:00.1234567Z", &t));
	assert_false(instant_parse("2026-11-20T22:00:00,5Z", &t));
	assert_int_equal(t, 42);
	assert_true(instant_parse("2024-02-29T12:00:00-05:30", &t));
	assert_int_equal(t, 1709227800);
	assert_true(instant_parse("2026-11-20T23:00+01:00", &t));
	assert_int_equal(t, 1795212000);
	assert_false(http_date_parse("Fri, 20 Nov 2026 23:59:60 GMT", &t));
}

static void test_http_date_parse(void **state)
{
	(void)state;
	time_t t;
	assert_true(http_date_parse("Fri, 20 Nov 2026 23:00:00 GMT", &t));
	assert_int_equal(t, 1795215600);
	assert_false(http_date_parse("Friday, 20-Nov-26 23:00:00 GMT", &t));
	assert_false(http_date_parse("Fri, 20 Now 2026 23:00:00 GMT", &t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_date_parse_strict),
	    cmocka_unit_test(test_date_days_round_trip),
	    cmocka_unit_test(test_age_worked_examples),
	    cmocka_unit_test(test_age_leap_day_birthday),
	    cmocka_unit_test(test_instant_parse),
	    cmocka_unit_test(test_instant_parse_agrees_with_the_daemon),
	    cmocka_unit_test(test_http_date_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
