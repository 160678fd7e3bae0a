/* The closed vocabularies of the API, as daemon and client both spell them: each table lists the
 * values a schema CHECK (x IN (...)) allows, in the schema's order, and ends with NULL so that
 * validate.c can take it as a field's enum list. tests/api/test_enums_match_sql.py compares
 * every table with the constraints of a migrated database (through tests/tools/enums_json.c),
 * so a value added on one side only fails the tests. */
#ifndef ROLLCALL_ENUMS_H
#define ROLLCALL_ENUMS_H

#include <stddef.h>

/* observations.status: what a round records for a resident. */
extern const char *const enum_observation_statuses[];
/* observations.reason: why an "excused" resident is away. */
extern const char *const enum_excuse_reasons[];
/* alerts.kind: what an on-call alert is about; enum alert_kind indexes the table, so a table of
 * per-kind handlers can be written with designated initializers and checked for size. */
enum alert_kind {
	ALERT_RESIDENT_ABSENT,
	ALERT_ROUND_OVERDUE,
	ALERT_ABSENCE_REPORTED,
	ALERT_NOTIFICATION_FAILING,
	ALERT_RESIDENT_RETURNED,
	ALERT_TURNING_18,
	ALERT_NOTIFICATION_UNCONFIRMED,
	ALERT_KIND_COUNT
};
extern const char *const enum_alert_kinds[ALERT_KIND_COUNT + 1];
/* alert_kinds.priority, oncall_channels.min_priority: how urgent an alert is, most urgent
 * first. */
extern const char *const enum_alert_priorities[];
/* oncall_channels.kind: how an on-call channel is reached. */
extern const char *const enum_channel_kinds[];
/* accounts.role; the daemon's ROLE_* bits follow this order (router.h). "metrics" may read
 * GET /metrics and nothing else (a Prometheus server's certificate). */
extern const char *const enum_roles[];
/* accounts.authority, centre_authorities.kind, deliveries.authority: who is notified. */
extern const char *const enum_authority_kinds[];

/* One table with the name the tests and tools know it by. */
struct enum_table {
	const char *name; /* e.g. "observation_statuses" */
	const char *const *values;
};
/* Every table above, ending with {NULL, NULL}. */
extern const struct enum_table enum_tables[];

/* The position of value in a NULL-terminated table, or -1 (also for a NULL value). */
int enum_index(const char *const *table, const char *value);
/* The number of values before the NULL. */
size_t enum_count(const char *const *table);

#endif
