/* Unit tests of the offline round's choice (client/round_offline.c): with the server out of
 * reach, the terminal's clock picks the round, the latest whose check time has passed in the
 * centre's zone (yesterday's last before the first of the day), on ordinary and on
 * daylight-saving days. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include "dates.h"
#include "round_offline.h"

static json_t *centre(void)
{
	return json_pack("{sssss[sss]}", "id", "tonder", "timezone", "Europe/Copenhagen",
	                 "check_times", "07:00", "15:00", "23:00");
}

static void assert_pick(const char *now, const char *day, int slot)
{
	time_t t;
	struct date got, want;
	int got_slot = 0;
	json_t *c = centre();
	assert_true(instant_parse(now, &t));
	assert_true(round_offline_pick(c, t, &got, &got_slot));
	assert_true(date_parse(day, &want));
	assert_int_equal(date_to_days(&got), date_to_days(&want));
	assert_int_equal(got_slot, slot);
	json_decref(c);
}

static void test_the_latest_check_time_passed(void **state)
{
	(void)state;
	assert_pick("2026-12-03T07:00:00+01:00", "2026-12-03", 1);
	assert_pick("2026-12-03T14:59:00+01:00", "2026-12-03", 1);
	assert_pick("2026-12-03T15:00:00+01:00", "2026-12-03", 2);
	assert_pick("2026-12-03T23:30:00+01:00", "2026-12-03", 3);
	/* After midnight and before 07:00: yesterday's last round. */
	assert_pick("2026-12-04T00:30:00+01:00", "2026-12-03", 3);
	assert_pick("2026-12-04T06:59:00+01:00", "2026-12-03", 3);
	/* A terminal on UTC still picks by the centre's clock. */
	assert_pick("2026-12-03T06:30:00Z", "2026-12-03", 1);
}

static void test_daylight_saving_days(void **state)
{
	(void)state;
	/* 07:00 CEST on the first summer day is 05:00 UTC. */
	assert_pick("2026-03-29T05:00:00Z", "2026-03-29", 1);
	assert_pick("2026-03-29T04:59:00Z", "2026-03-28", 3);
	/* 07:00 CET on the first winter day is 06:00 UTC. */
	assert_pick("2026-10-25T05:59:00Z", "2026-10-24", 3);
	assert_pick("2026-10-25T06:00:00Z", "2026-10-25", 1);
}

static void test_a_centre_without_check_times_picks_nothing(void **state)
{
	(void)state;
	json_t *c = json_pack("{ss}", "timezone", "Europe/Copenhagen");
	struct date day;
	int slot;
	assert_false(round_offline_pick(c, 1796000000, &day, &slot));
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_latest_check_time_passed),
	    cmocka_unit_test(test_daylight_saving_days),
	    cmocka_unit_test(test_a_centre_without_check_times_picks_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
