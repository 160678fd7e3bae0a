/* The API's closed vocabularies (see rollcall/enums.h). Keep each list in the order of its
 * schema CHECK constraint: error messages list the allowed values in this order. */
#include "rollcall/enums.h"

#include <string.h>

const char *const enum_observation_statuses[] = {"present", "absent", "excused", NULL};

const char *const enum_excuse_reasons[] = {"leave", "hospital", "school_trip", "authority_meeting",
                                           "other", NULL};

const char *const enum_alert_kinds[ALERT_KIND_COUNT + 1] = {
    [ALERT_RESIDENT_ABSENT] = "resident_absent",
    [ALERT_ROUND_OVERDUE] = "round_overdue",
    [ALERT_ABSENCE_REPORTED] = "absence_reported",
    [ALERT_NOTIFICATION_FAILING] = "notification_failing",
    [ALERT_RESIDENT_RETURNED] = "resident_returned",
    [ALERT_TURNING_18] = "turning_18",
    [ALERT_NOTIFICATION_UNCONFIRMED] = "notification_unconfirmed",
    [ALERT_KIND_COUNT] = NULL,
};

const char *const enum_alert_priorities[] = {"urgent", "normal", "info", NULL};

const char *const enum_channel_kinds[] = {"email", "webhook", NULL};

const char *const enum_roles[] = {"staff",     "oncall",  "manager", "admin",
                                  "authority", "metrics", NULL};

const char *const enum_authority_kinds[] = {"municipality", "police", "immigration", NULL};

const struct enum_table enum_tables[] = {
    {"observation_statuses", enum_observation_statuses},
    {"excuse_reasons", enum_excuse_reasons},
    {"alert_kinds", enum_alert_kinds},
    {"alert_priorities", enum_alert_priorities},
    {"channel_kinds", enum_channel_kinds},
    {"roles", enum_roles},
    {"authority_kinds", enum_authority_kinds},
    {NULL, NULL},
};

int enum_index(const char *const *table, const char *value)
{
	if (value == NULL)
		return -1;
	for (int i = 0; table[i] != NULL; i++) {
		if (strcmp(table[i], value) == 0)
			return i;
	}
	return -1;
}

size_t enum_count(const char *const *table)
{
	size_t n = 0;
	while (table[n] != NULL)
		n++;
	return n;
}
