/* Unit tests of the shared enum tables (common/enums.c): lookups, and that enum_tables lists
 * every table. That each table equals its schema CHECK list is tests/api/test_enums_match_sql.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "rollcall/enums.h"

static void test_lookup_finds_each_value_at_its_place(void **state)
{
	(void)state;
	assert_int_equal(enum_index(enum_observation_statuses, "present"), 0);
	assert_int_equal(enum_index(enum_observation_statuses, "absent"), 1);
	assert_int_equal(enum_index(enum_observation_statuses, "excused"), 2);
	assert_int_equal(enum_index(enum_excuse_reasons, "school_trip"), 2);
	assert_int_equal(enum_index(enum_alert_kinds, "notification_failing"), 3);
	/* The daemon's ROLE_* bits are 1 << the index (router.h, checked in router.c). */
	assert_int_equal(enum_index(enum_roles, "staff"), 0);
	assert_int_equal(enum_index(enum_roles, "oncall"), 1);
	assert_int_equal(enum_index(enum_roles, "manager"), 2);
	assert_int_equal(enum_index(enum_roles, "admin"), 3);
	assert_int_equal(enum_index(enum_roles, "authority"), 4);
	assert_int_equal(enum_index(enum_roles, "metrics"), 5);
	assert_int_equal(enum_index(enum_authority_kinds, "immigration"), 2);
}

static void test_lookup_refuses_near_misses(void **state)
{
	(void)state;
	assert_int_equal(enum_index(enum_observation_statuses, "Present"), -1);
	assert_int_equal(enum_index(enum_observation_statuses, "present "), -1);
	assert_int_equal(enum_index(enum_observation_statuses, "p"), -1);
	assert_int_equal(enum_index(enum_observation_statuses, ""), -1);
	assert_int_equal(enum_index(enum_observation_statuses, NULL), -1);
	/* A value of one table is not one of another. */
	assert_int_equal(enum_index(enum_roles, "police"), -1);
	assert_int_equal(enum_index(enum_authority_kinds, "admin"), -1);
}

/* enum alert_kind names each kind's place, for the client's per-kind tables. */
static void test_alert_kind_constants_index_the_table(void **state)
{
	(void)state;
	assert_int_equal(enum_index(enum_alert_kinds, "resident_absent"), ALERT_RESIDENT_ABSENT);
	assert_int_equal(enum_index(enum_alert_kinds, "round_overdue"), ALERT_ROUND_OVERDUE);
	assert_int_equal(enum_index(enum_alert_kinds, "absence_reported"), ALERT_ABSENCE_REPORTED);
	assert_int_equal(enum_index(enum_alert_kinds, "notification_failing"),
	                 ALERT_NOTIFICATION_FAILING);
	assert_int_equal(enum_index(enum_alert_kinds, "resident_returned"),
	                 ALERT_RESIDENT_RETURNED);
	assert_int_equal(enum_index(enum_alert_kinds, "turning_18"), ALERT_TURNING_18);
	assert_int_equal(enum_index(enum_alert_kinds, "notification_unconfirmed"),
	                 ALERT_NOTIFICATION_UNCONFIRMED);
	assert_null(enum_alert_kinds[ALERT_KIND_COUNT]);
}

static void test_counts(void **state)
{
	(void)state;
	assert_int_equal(enum_count(enum_observation_statuses), 3);
	assert_int_equal(enum_count(enum_excuse_reasons), 5);
	assert_int_equal(enum_count(enum_alert_kinds), 7);
	assert_int_equal(enum_count(enum_alert_priorities), 3);
	assert_int_equal(enum_count(enum_channel_kinds), 2);
	assert_int_equal(enum_count(enum_alert_kinds), ALERT_KIND_COUNT);
	assert_int_equal(enum_count(enum_roles), 6);
	assert_int_equal(enum_count(enum_authority_kinds), 3);
}

static void test_every_table_listed_once_without_duplicates(void **state)
{
	(void)state;
	const char *const *const expected[] = {enum_observation_statuses, enum_excuse_reasons,
	                                       enum_alert_kinds,          enum_alert_priorities,
	                                       enum_channel_kinds,        enum_roles,
	                                       enum_authority_kinds};
	size_t n = 0;
	for (; enum_tables[n].name != NULL; n++) {
		assert_true(n < sizeof expected / sizeof expected[0]);
		assert_ptr_equal(enum_tables[n].values, expected[n]);
		const char *const *values = enum_tables[n].values;
		for (size_t i = 0; values[i] != NULL; i++)
			assert_int_equal(enum_index(values, values[i]), (int)i);
	}
	assert_int_equal(n, sizeof expected / sizeof expected[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookup_finds_each_value_at_its_place),
	    cmocka_unit_test(test_lookup_refuses_near_misses),
	    cmocka_unit_test(test_alert_kind_constants_index_the_table),
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_every_table_listed_once_without_duplicates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
