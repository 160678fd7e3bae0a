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
	assert_local("2026-03-29T00:59:00Z", "2026-03-29 01:59");
	assert_local("2026-03-29T01:00:00Z", "2026-03-29 03:00");
}

static void test_fall_back_day_has_25_hours(void **state)
{
	(void)state;
	time_t start = local_day_start("2026-10-25", at("2026-10-24T12:00:00Z"));
	time_t end = local_day_start("2026-10-26", start);
	assert_int_equal(start, at("2026-10-25T00:00:00+02:00"));
	assert_int_equal(end, at("2026-10-26T00:00:00+01:00"));
	assert_int_equal(end - start, 25 * 3600);
	/* 02:30 local happens twice, an hour apart. */
	assert_local("2026-10-25T00:30:00Z", "2026-10-25 02:30");
	assert_local("2026-10-25T01:30:00Z", "2026-10-25 02:30");
}

static void test_terminal_zone_does_not_leak_in(void **state)
{
	(void)state;
	assert_int_equal(setenv("TZ", "America/New_York", 1), 0);
	assert_local("2026-11-20T22:00:00Z", "2026-11-20 23:00");
	/* And the terminal's zone is put back afterwards. */
	assert_string_equal(getenv("TZ"), "America/New_York");
	assert_int_equal(unsetenv("TZ"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spring_forward_day_has_23_hours),
	    cmocka_unit_test(test_fall_back_day_has_25_hours),
	    cmocka_unit_test(test_terminal_zone_does_not_leak_in),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
