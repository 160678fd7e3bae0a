/* Routes of absences and on-call alerts (SPEC sections 3, 4 and 10): field tables for their
 * path, query and body, the roles allowed, and the SQL op each calls. Only the alert stream has
 * a C handler; the rest are one api() call each. */
#include "handlers.h"
#include "rollcall/enums.h"
#include "router.h"

#define TEXT_MAX 4000 /* a note or a concern: a few paragraphs, not a document */

static const char *const alert_states[] = {"open", "acked", "resolved", "all", NULL};

/* {id} of a resident, an absence or an alert. */
static const struct field_spec id_path[] = {
    {.name = "id", .type = FT_ID, .flags = F_REQUIRED},
    {0},
};

/* {id} of a centre: the centre ids of schema/migrations/001_core.sql are 1-64 characters. */
static const struct field_spec centre_path[] = {
    {.name = "id", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 64},
    {0},
};

/* POST /v1/residents/{id}/absences */
static const struct field_spec absence_report_body[] = {
    {.name = "known_departure", .type = FT_BOOL, .flags = F_NULLABLE},
    {.name = "concern", .type = FT_STRING, .flags = F_NULLABLE, .min = 0, .max = TEXT_MAX},
    {.name = "note", .type = FT_STRING, .flags = F_NULLABLE, .min = 0, .max = TEXT_MAX},
    {0},
};

/* GET /v1/absences */
static const struct field_spec absence_list_query[] = {
    {.name = "centre", .type = FT_STRING, .min = 1, .max = 64},
    {.name = "open", .type = FT_BOOL},
    {.name = "resident", .type = FT_ID},
    {.name = "limit", .type = FT_INT, .min = 1, .max = 1000},
    {.name = "after", .type = FT_STRING, .min = 1, .max = 32},
    {0},
};

/* POST /v1/absences/{id}/concern */
static const struct field_spec absence_concern_body[] = {
    {.name = "text", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = TEXT_MAX},
    {0},
};

/* POST /v1/absences/{id}/return: "at" defaults to now. */
static const struct field_spec absence_return_body[] = {
    {.name = "at", .type = FT_INSTANT, .flags = F_NULLABLE},
    {0},
};

/* GET /v1/alerts */
static const struct field_spec alert_list_query[] = {
    {.name = "centre", .type = FT_STRING, .min = 1, .max = 64},
    {.name = "state", .type = FT_STRING, .enums = alert_states},
    {.name = "kind", .type = FT_STRING, .enums = enum_alert_kinds},
    {.name = "limit", .type = FT_INT, .min = 1, .max = 1000},
    {.name = "after", .type = FT_STRING, .min = 1, .max = 32},
    {0},
};

/* {kind} of /v1/alert-kinds/{kind}: any short name; an unknown kind is answered 400 naming
 * "kind" by SQL, which holds the list (alert_kinds). */
static const struct field_spec alert_kind_path[] = {
    {.name = "kind", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 64},
    {0},
};

/* PUT /v1/alert-kinds/{kind}: any subset; null minutes turn the repeat or escalation off. */
static const struct field_spec alert_kind_body[] = {
    {.name = "priority", .type = FT_STRING, .enums = enum_alert_priorities},
    {.name = "repeat_minutes", .type = FT_INT, .flags = F_NULLABLE, .min = 1, .max = 10080},
    {.name = "escalate_minutes", .type = FT_INT, .flags = F_NULLABLE, .min = 1, .max = 10080},
    {0},
};

/* GET /v1/centres/{id}/channel-deliveries */
static const struct field_spec channel_delivery_query[] = {
    {.name = "alert", .type = FT_ID},
    {.name = "limit", .type = FT_INT, .min = 1, .max = 1000},
    {.name = "after", .type = FT_STRING, .min = 1, .max = 32},
    {0},
};

/* GET /v1/centres/{id}/handover?at=INSTANT (default: the daemon's clock) */
static const struct field_spec handover_query[] = {
    {.name = "at", .type = FT_INSTANT},
    {0},
};

/* Who receives and acknowledges alerts: on-call staff and managers (admins too, who see every
 * centre). */
#define ROLE_ALERTS (ROLE_ONCALL | ROLE_MANAGER | ROLE_ADMIN)

const struct route routes_alerts[] = {
    {"POST", "/v1/residents/{id}/absences", ROLE_STAFF_PLUS, "resident_absence_report", id_path,
     NULL, absence_report_body, ROUTE_MUTATING | ROUTE_OPTIONAL_BODY, NULL},
    {"GET", "/v1/absences", ROLE_STAFF_PLUS, "absence_list", NULL, absence_list_query, NULL, 0,
     NULL},
    {"GET", "/v1/absences/{id}", ROLE_STAFF_PLUS, "absence_get", id_path, NULL, NULL, 0, NULL},
    {"POST", "/v1/absences/{id}/concern", ROLE_STAFF_PLUS, "absence_concern", id_path, NULL,
     absence_concern_body, ROUTE_MUTATING, NULL},
    {"POST", "/v1/absences/{id}/return", ROLE_STAFF_PLUS, "absence_return", id_path, NULL,
     absence_return_body, ROUTE_MUTATING | ROUTE_OPTIONAL_BODY, NULL},
    {"GET", "/v1/alerts", ROLE_ALERTS, "alert_list", NULL, alert_list_query, NULL, 0, NULL},
    {"POST", "/v1/alerts/{id}/ack", ROLE_ALERTS, "alert_ack", id_path, NULL, NULL,
     ROUTE_MUTATING | ROUTE_OPTIONAL_BODY, NULL},
    {"GET", "/v1/alert-kinds", ROLE_ALERTS, "alert_kind_list", NULL, NULL, NULL, 0, NULL},
    {"GET", "/v1/alert-kinds/{kind}", ROLE_ALERTS, "alert_kind_get", alert_kind_path, NULL, NULL, 0,
     NULL},
    {"PUT", "/v1/alert-kinds/{kind}", ROLE_ADMIN, "alert_kind_put", alert_kind_path, NULL,
     alert_kind_body, ROUTE_MUTATING, NULL},
    {"GET", "/v1/centres/{id}/channel-deliveries", ROLE_ALERTS, "channel_delivery_list",
     centre_path, channel_delivery_query, NULL, 0, NULL},
    {"GET", "/v1/centres/{id}/handover", ROLE_STAFF_PLUS, "handover_get", centre_path,
     handover_query, NULL, 0, NULL},
    {"GET", "/v1/centres/{id}/alerts/stream", ROLE_ALERTS, "alert_stream_open", centre_path, NULL,
     NULL, 0, handle_alert_stream},
    {0},
};
