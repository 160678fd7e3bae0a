/* Unit tests of daemon/clock.c: the text forms of an instant (RFC 3339 and PostgreSQL's output),
 * the calendar arithmetic behind them, and the test clock that stands still. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "clock.h"

#define US INT64_C(1000000)

static int64_t parsed(const char *text)
{
	int64_t us = INT64_MIN;
	if (!clock_parse(text, &us))
		fail_msg("clock_parse refused \"%s\"", text);
	return us;
}

static void assert_refused(const char *text)
{
	int64_t us = 12345;
	if (clock_parse(text, &us))
		fail_msg("clock_parse accepted \"%s\"", text != NULL ? text : "(null)");
	assert_int_equal(us, 12345); /* untouched on refusal */
}

static void assert_formats(int64_t us, const char *expected)
{
	char text[CLOCK_TEXT_SIZE];
	clock_format(us, text);
	assert_string_equal(text, expected);
}

static void test_format_epoch_and_worked_example(void **state)
{
	(void)state;
	assert_formats(0, "1970-01-01T00:00:00.000000+00:00");
	/* SPEC section 9: observed absent at 23:00 Danish time on 2026-11-20 (UTC+1). */
	assert_formats(1795212000 * US, "2026-11-20T22:00:00.000000+00:00");
	assert_formats(1795212000 * US + 123456, "2026-11-20T22:00:00.123456+00:00");
	assert_formats(1795212000 * US + 1, "2026-11-20T22:00:00.000001+00:00");
}

static void test_format_before_1970_rounds_down(void **state)
{
	(void)state;
	assert_formats(-1, "1969-12-31T23:59:59.999999+00:00");
	assert_formats(-US, "1969-12-31T23:59:59.000000+00:00");
	assert_formats(-2208988800 * US, "1900-01-01T00:00:00.000000+00:00");
	assert_formats(-62135596800 * US, "0001-01-01T00:00:00.000000+00:00");
}

static void test_format_leap_days_and_far_years(void **state)
{
	(void)state;
	assert_formats(951868800 * US - US, "2000-02-29T23:59:59.000000+00:00"); /* 400-year rule */
	assert_formats(951868800 * US, "2000-03-01T00:00:00.000000+00:00");
	assert_formats(1835479800 * US, "2028-02-29T23:30:00.000000+00:00");
	assert_formats(253402300799 * US + 999999, "9999-12-31T23:59:59.999999+00:00");
}

static void test_format_fits_the_buffer_for_any_value(void **state)
{
	(void)state;
	char text[CLOCK_TEXT_SIZE];
	clock_format(INT64_MAX, text);
	assert_true(strlen(text) < CLOCK_TEXT_SIZE);
	clock_format(INT64_MIN, text);
	assert_true(strlen(text) < CLOCK_TEXT_SIZE);
}

static void test_parse_rfc3339_forms(void **state)
{
	(void)state;
	int64_t utc = 1795212000 * US; /* 2026-11-20T22:00:00Z */
	assert_int_equal(parsed("2026-11-20T22:00:00Z"), utc);
	assert_int_equal(parsed("2026-11-20t22:00:00z"), utc);
	assert_int_equal(parsed("2026-11-20T23:00:00+01:00"), utc);
	assert_int_equal(parsed("2026-11-20T16:30:00-05:30"), utc);
	assert_int_equal(parsed("2026-11-21T03:30:00+05:30"), utc);
	assert_int_equal(parsed("2026-11-20T22:00:00+00:00"), utc);
	assert_int_equal(parsed("2026-11-20T22:00:00-00:00"), utc);
	assert_int_equal(parsed("2026-11-20T22:00:00.000000+00:00"), utc); /* clock_format's */
	/* RFC 3339 section 5.6 lets a space stand for the T. */
	assert_int_equal(parsed("2026-11-20 22:00:00Z"), utc);
}

static void test_parse_fractions_up_to_six_digits(void **state)
{
	(void)state;
	int64_t utc = 1795212000 * US;
	assert_int_equal(parsed("2026-11-20T22:00:00.5Z"), utc + 500000);
	assert_int_equal(parsed("2026-11-20T22:00:00.12Z"), utc + 120000);
	assert_int_equal(parsed("2026-11-20T22:00:00.123Z"), utc + 123000);
	assert_int_equal(parsed("2026-11-20T22:00:00.000001Z"), utc + 1);
	assert_int_equal(parsed("2026-11-20T23:00:00.999999+01:00"), utc + 999999);
	assert_refused("2026-11-20T22:00:00.1234567Z");
	assert_refused("2026-11-20T22:00:00.Z");
	assert_refused("2026-11-20T22:00:00,5Z");
}

static void test_parse_postgresql_text_output(void **state)
{
	(void)state;
	int64_t utc = 1795212000 * US;
	assert_int_equal(parsed("2026-11-20 22:00:00+00"), utc);
	assert_int_equal(parsed("2026-11-20 22:00:00.123456+00"), utc + 123456);
	assert_int_equal(parsed("2026-11-20 23:00:00+01"), utc);
	assert_int_equal(parsed("2026-11-21 03:30:00+05:30"), utc);
	assert_int_equal(parsed("2026-11-20 19:00:00-03"), utc);
	/* "+01" alone is PostgreSQL's form, not RFC 3339's. */
	assert_refused("2026-11-20T23:00:00+01");
	assert_refused("2026-11-20T23:00:00+0100");
}

static void test_parse_offsets_cross_days_and_leap_days(void **state)
{
	(void)state;
	char text[CLOCK_TEXT_SIZE];
	clock_format(parsed("2026-03-01T00:30:00+01:00"), text);
	assert_string_equal(text, "2026-02-28T23:30:00.000000+00:00");
	clock_format(parsed("2028-03-01T00:30:00+01:00"), text);
	assert_string_equal(text, "2028-02-29T23:30:00.000000+00:00");
	clock_format(parsed("2026-12-31T20:00:00-05:00"), text);
	assert_string_equal(text, "2027-01-01T01:00:00.000000+00:00");
	clock_format(parsed("2027-01-01T00:59:00+01:00"), text);
	assert_string_equal(text, "2026-12-31T23:59:00.000000+00:00");
}

static void test_parse_refuses_impossible_dates_and_times(void **state)
{
	(void)state;
	assert_refused("2026-02-29T12:00:00Z"); /* 2026 is not a leap year */
	assert_refused("2026-02-30T12:00:00Z");
	assert_refused("2100-02-29T12:00:00Z"); /* divisible by 100, not by 400 */
	assert_int_equal(parsed("2000-02-29T12:00:00Z"), (951868800 - 43200) * US);
	assert_true(parsed("2024-02-29T12:00:00Z") > 0);
	assert_refused("2026-04-31T12:00:00Z");
	assert_refused("2026-13-01T12:00:00Z");
	assert_refused("2026-00-01T12:00:00Z");
	assert_refused("2026-01-00T12:00:00Z");
	assert_refused("2026-01-32T12:00:00Z");
	assert_refused("2026-11-20T24:00:00Z");
	assert_refused("2026-11-20T23:60:00Z");
	assert_refused("2026-11-20T23:59:60Z"); /* leap seconds are refused, not moved */
	assert_refused("0000-01-01T00:00:00Z");
	assert_refused("2026-11-20T22:00:00+24:00");
	assert_refused("2026-11-20T22:00:00+01:60");
}

static void test_parse_refuses_other_shapes(void **state)
{
	(void)state;
	assert_refused(NULL);
	assert_refused("");
	assert_refused("2026-11-20");
	assert_refused("2026-11-20T22:00:00"); /* no offset: a wall time in no zone */
	assert_refused("2026-11-20 22:00:00");
	assert_refused("2026-11-20T22:00Z"); /* seconds are required */
	assert_refused("2026-11-20X22:00:00Z");
	assert_refused("2026-11-20T22:00:00ZZ");
	assert_refused("2026-11-20T22:00:00Z ");
	assert_refused(" 2026-11-20T22:00:00Z");
	assert_refused("2026-1-20T22:00:00Z");
	assert_refused("26-11-20T22:00:00Z");
	assert_refused("+2026-11-20T22:00:00Z");
	assert_refused("2026/11/20T22:00:00Z");
	assert_refused("2026-11-20T22:00:00+1:00");
	assert_refused("2026-11-20T22:00:00+01:0");
	assert_refused("2026-11-20T22:00:00+01:00:00");
	assert_refused("2026-11-20T22:00:00UTC");
	assert_refused("infinity");
	assert_refused("2026-11-20T22:00:00.12a+00:00");
}

static void test_format_then_parse_round_trips(void **state)
{
	(void)state;
	static const int64_t samples[] = {
	    0,
	    1,
	    -1,
	    999999,
	    -999999,
	    1795212000 * US,
	    1795212000 * US + 654321,
	    951868800 * US - 1,
	    -2208988800 * US,
	    -62135596800 * US,
	    253402300799 * US + 999999,
	    1835479800 * US + 42,
	};
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		char text[CLOCK_TEXT_SIZE];
		clock_format(samples[i], text);
		assert_int_equal(parsed(text), samples[i]);
	}
	/* Every day over four centuries, at a time that moves through the day. */
	for (int64_t day = -146097; day < 146097 * 2; day += 1) {
		int64_t us = day * 86400 * US + (day * 7919 % 86400) * US + (day & 0xfffff);
		if (us < -62135596800 * US)
			continue;
		char text[CLOCK_TEXT_SIZE];
		clock_format(us, text);
		int64_t back;
		if (!clock_parse(text, &back) || back != us)
			fail_msg("round trip of %lld failed: %s", (long long)us, text);
	}
}

static void test_format_agrees_with_gmtime(void **state)
{
	(void)state;
	for (time_t t = -2208988800; t < 4102444800; t += 86400 * 37 + 3671) {
		struct tm tm;
		assert_non_null(gmtime_r(&t, &tm));
		char expected[CLOCK_TEXT_SIZE], text[CLOCK_TEXT_SIZE];
		strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%S.000000+00:00", &tm);
		clock_format((int64_t)t * US, text);
		assert_string_equal(text, expected);
	}
}

static void test_test_clock_stands_still(void **state)
{
	(void)state;
	assert_false(clock_is_test());
	int64_t before = clock_now_us();
	clock_use_test(true);
	assert_true(clock_is_test());
	/* Until the stored instant is loaded it starts at the wall time, not at 1970. */
	int64_t start = clock_now_us();
	assert_true(start >= before && start - before < 60 * US);

	int64_t set = parsed("2026-11-20T23:00:00+01:00");
	clock_set_us(set);
	assert_int_equal(clock_now_us(), set);
	struct timespec pause = {0, 2000000};
	nanosleep(&pause, NULL);
	assert_int_equal(clock_now_us(), set);
	clock_set_us(set + 12 * 3600 * US);
	assert_int_equal(clock_now_us(), set + 12 * 3600 * US);

	clock_use_test(false);
	assert_false(clock_is_test());
	assert_true(clock_now_us() >= before);
}

static void test_monotonic_never_goes_back(void **state)
{
	(void)state;
	int64_t last = clock_monotonic_us();
	for (int i = 0; i < 1000; i++) {
		int64_t now = clock_monotonic_us();
		assert_true(now >= last);
		last = now;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_epoch_and_worked_example),
	    cmocka_unit_test(test_format_before_1970_rounds_down),
	    cmocka_unit_test(test_format_leap_days_and_far_years),
	    cmocka_unit_test(test_format_fits_the_buffer_for_any_value),
	    cmocka_unit_test(test_parse_rfc3339_forms),
	    cmocka_unit_test(test_parse_fractions_up_to_six_digits),
	    cmocka_unit_test(test_parse_postgresql_text_output),
	    cmocka_unit_test(test_parse_offsets_cross_days_and_leap_days),
	    cmocka_unit_test(test_parse_refuses_impossible_dates_and_times),
	    cmocka_unit_test(test_parse_refuses_other_shapes),
	    cmocka_unit_test(test_format_then_parse_round_trips),
	    cmocka_unit_test(test_format_agrees_with_gmtime),
	    cmocka_unit_test(test_test_clock_stands_still),
	    cmocka_unit_test(test_monotonic_never_goes_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
