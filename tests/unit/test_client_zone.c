/* Unit tests of the client's local times (client/zone.c) on the days Europe/Copenhagen changes
 * its clocks: the centre's day is 23 hours long on 2026-03-29 and 25 on 2026-10-25, and a
 * terminal set to another zone still shows the centre's. Instants are parsed with the shared
 * rollcall/time_text.h, as the client reads the daemon's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dates.h"
#include "zone.h"

#define CENTRE_ZONE "Europe/Copenhagen"

static time_t at(const char *instant)
{
	time_t t;
	if (!instant_parse(instant, &t))
		fail_msg("instant_parse refused \"%s\"", instant);
	return t;
}

static void assert_local(const char *instant, const char *expected)
{
	char out[ZONE_TEXT_SIZE];
	zone_format(CENTRE_ZONE, at(instant), out);
	assert_string_equal(out, expected);
}

/* The first instant (to the second) whose local date in the centre's zone is `date`, searched
 * from `from` on; its local midnight. */
static time_t local_day_start(const char *date, time_t from)
{
	struct date want;
	assert_true(date_parse(date, &want));
	for (time_t t = from; t < from + 2 * 86400; t += 60) {
		struct date got;
		zone_date(CENTRE_ZONE, t, &got);
		if (got.year == want.year && got.month == want.month && got.day == want.day)
			return t;
	}
	fail_msg("no local midnight of %s found", date);
	return 0;
}

static void test_spring_forward_day_has_23_hours(void **state)
{
	(void)state;
	time_t start = local_day_start("2026-03-29", at("2026-03-28T12:00:00Z"));
	time_t end = local_day_start("2026-03-30", start);
	assert_int_equal(start, at("2026-03-29T00:00:00+01:00"));
	assert_int_equal(end, at("2026-03-30T00:00:00+02:00"));
	assert_int_equal(end - start, 23 * 3600);
	/* 02:00 local does not exist: the minute after 01:59 CET is 03:00 CEST. */
	assert_local("2026-03-29T00:59:00Z", "2026-03-29 01:59 CET");
	assert_local("2026-03-29T01:00:00Z", "2026-03-29 03:00 CEST");
}

static void test_fall_back_day_has_25_hours(void **state)
{
	(void)state;
	time_t start = local_day_start("2026-10-25", at("2026-10-24T12:00:00Z"));
	time_t end = local_day_start("2026-10-26", start);
	assert_int_equal(start, at("2026-10-25T00:00:00+02:00"));
	assert_int_equal(end, at("2026-10-26T00:00:00+01:00"));
	assert_int_equal(end - start, 25 * 3600);
	/* 02:30 local happens twice, an hour apart: the zone's name tells them apart. */
	assert_local("2026-10-25T00:30:00Z", "2026-10-25 02:30 CEST");
	assert_local("2026-10-25T01:30:00Z", "2026-10-25 02:30 CET");
}

static void test_terminal_zone_does_not_leak_in(void **state)
{
	(void)state;
	assert_int_equal(setenv("TZ", "America/New_York", 1), 0);
	assert_local("2026-11-20T22:00:00Z", "2026-11-20 23:00 CET");
	/* And the terminal's zone is put back afterwards. */
	assert_string_equal(getenv("TZ"), "America/New_York");
	assert_int_equal(unsetenv("TZ"), 0);
}

/* What staff type: a time of day on the centre's today, a local date and time, or RFC 3339. */
static void assert_parsed(const char *text, const char *today_text, const char *expected)
{
	struct date today;
	time_t t;
	assert_true(date_parse(today_text, &today));
	if (!zone_parse_local(CENTRE_ZONE, text, &today, &t))
		fail_msg("zone_parse_local refused \"%s\"", text);
	assert_int_equal(t, at(expected));
}

static void test_local_times_are_read_in_the_centre_zone(void **state)
{
	(void)state;
	/* The terminal's zone plays no part. */
	assert_int_equal(setenv("TZ", "America/New_York", 1), 0);
	assert_parsed("07:05", "2026-12-02", "2026-12-02T07:05:00+01:00");
	assert_parsed("2026-12-02 07:05", "2026-01-01", "2026-12-02T07:05:00+01:00");
	assert_parsed("2026-07-02T07:05", "2026-01-01", "2026-07-02T07:05:00+02:00");
	assert_parsed("2026-07-02 07:05:30", "2026-01-01", "2026-07-02T07:05:30+02:00");
	/* A full instant keeps its own offset. */
	assert_parsed("2026-12-02T07:05:00Z", "2026-01-01", "2026-12-02T07:05:00Z");
	assert_parsed("2026-12-02T07:05:00-05:00", "2026-01-01", "2026-12-02T12:05:00Z");
	assert_string_equal(getenv("TZ"), "America/New_York");
	assert_int_equal(unsetenv("TZ"), 0);
}

static void test_skipped_and_repeated_local_times(void **state)
{
	(void)state;
	struct date today;
	time_t t;
	assert_true(date_parse("2026-03-29", &today));
	/* 02:30 does not exist on the spring-forward night. */
	assert_false(zone_parse_local(CENTRE_ZONE, "02:30", &today, &t));
	assert_false(zone_parse_local(CENTRE_ZONE, "2026-03-29 02:30", &today, &t));
	/* It happens twice on the fall-back night: the first one (summer time). */
	assert_parsed("2026-10-25 02:30", "2026-10-25", "2026-10-25T02:30:00+02:00");
	assert_parsed("03:00", "2026-10-25", "2026-10-25T03:00:00+01:00");
}

static void test_malformed_local_times_are_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {"7:05",
	                                  "07:5",
	                                  "24:00",
	                                  "07:60",
	                                  "07:05x",
	                                  "2026-13-01 07:05",
	                                  "2026-02-30 07:05",
	                                  "",
	                                  "tomorrow",
	                                  "2026-12-02",
	                                  "07:05:61"};
	struct date today;
	time_t t;
	assert_true(date_parse("2026-12-02", &today));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (zone_parse_local(CENTRE_ZONE, bad[i], &today, &t))
			fail_msg("zone_parse_local accepted \"%s\"", bad[i]);
	/* A time of day needs a day to be on. */
	assert_false(zone_parse_local(CENTRE_ZONE, "07:05", NULL, &t));
}

/* A server's message keeps its words; its instants are shown in the centre's time. */
static void test_instants_in_messages_are_shown_local(void **state)
{
	(void)state;
	char out[200];
	zone_localise_text(CENTRE_ZONE, "the period was paid on 2026-01-19T09:02:00+00:00 by anna",
	                   out, sizeof(out));
	assert_string_equal(out, "the period was paid on 2026-01-19 10:02 CET by anna");
	zone_localise_text(CENTRE_ZONE, "from 2026-07-01T05:00:00.250Z to 2026-07-01T07:00+02:00",
	                   out, sizeof(out));
	assert_string_equal(out, "from 2026-07-01 07:00 CEST to 2026-07-01 07:00 CEST");
	/* Dates alone, and what merely looks like an instant, stay as they are. */
	zone_localise_text(CENTRE_ZONE, "period 2026-01-05, at 2026-13-01T00:00:00Z", out,
	                   sizeof(out));
	assert_string_equal(out, "period 2026-01-05, at 2026-13-01T00:00:00Z");
	/* A short buffer is cut, never overrun. */
	char small[8];
	zone_localise_text(CENTRE_ZONE, "abcdefghijkl", small, sizeof(small));
	assert_string_equal(small, "abcdefg");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spring_forward_day_has_23_hours),
	    cmocka_unit_test(test_fall_back_day_has_25_hours),
	    cmocka_unit_test(test_terminal_zone_does_not_leak_in),
	    cmocka_unit_test(test_local_times_are_read_in_the_centre_zone),
	    cmocka_unit_test(test_skipped_and_repeated_local_times),
	    cmocka_unit_test(test_malformed_local_times_are_refused),
	    cmocka_unit_test(test_instants_in_messages_are_shown_local),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
