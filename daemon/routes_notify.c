/* Routes of notifications to the authorities and incident reports (SPEC sections 5, 7a and 10):
 * each is one api() call; the SQL ops live in schema/code/outbox.sql and incidents.sql. */
#include <stddef.h>

#include "router.h"

static const char *const delivery_states[] = {"all", "pending", "delivered", "failing", NULL};

/* {id} of a resident or an incident. */
static const struct field_spec id_path[] = {
    {.name = "id", .type = FT_ID, .flags = F_REQUIRED},
    {.name = NULL},
};

/* GET /v1/notifications?centre=&absence=&resident=&state=&limit=&after= */
static const struct field_spec notification_query[] = {
    {.name = "centre", .type = FT_STRING, .min = 1, .max = 64},
    {.name = "absence", .type = FT_ID},
    {.name = "resident", .type = FT_ID},
    {.name = "state", .type = FT_STRING, .enums = delivery_states},
    {.name = "limit", .type = FT_INT, .min = 1, .max = 1000},
    {.name = "after", .type = FT_STRING, .min = 1, .max = 32},
    {.name = NULL},
};

/* /v1/notifications/{event_id}/receipt */
static const struct field_spec event_path[] = {
    {.name = "event_id", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 64},
    {.name = NULL},
};

/* POST /v1/notifications/{event_id}/receipt (SPEC section 5, v2): who at the authority read
 * it, and the authority's own reference. */
static const struct field_spec receipt_body[] = {
    {.name = "received_by", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 800},
    {.name = "reference", .type = FT_STRING, .flags = F_NULLABLE, .max = 800},
    {.name = NULL},
};

/* POST /v1/residents/{id}/incidents. The kinds are rows of incident_routes (data, since the
 * reporting duties change), so the op checks `kind` and answers 400 naming it. */
static const struct field_spec incident_body[] = {
    {.name = "kind", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 32},
    {.name = "occurred_at", .type = FT_INSTANT, .flags = F_REQUIRED},
    {.name = "description", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 10000},
    {.name = "police_report_number", .type = FT_STRING, .flags = F_NULLABLE, .max = 100},
    {.name = NULL},
};

/* GET /v1/incidents?centre=&resident=&kind=&limit=&after= */
static const struct field_spec incident_query[] = {
    {.name = "centre", .type = FT_STRING, .min = 1, .max = 64},
    {.name = "resident", .type = FT_ID},
    {.name = "kind", .type = FT_STRING, .min = 1, .max = 32},
    {.name = "limit", .type = FT_INT, .min = 1, .max = 1000},
    {.name = "after", .type = FT_STRING, .min = 1, .max = 32},
    {.name = NULL},
};

const struct route routes_notify[] = {
    {.method = "GET",
     .pattern = "/v1/notifications",
     .roles = ROLE_STAFF_PLUS | ROLE_AUTHORITY,
     .op = "notification_list",
     .query = notification_query},
    {.method = "POST",
     .pattern = "/v1/notifications/{event_id}/receipt",
     .roles = ROLE_STAFF_PLUS | ROLE_AUTHORITY,
     .op = "notification_receipt",
     .path = event_path,
     .body = receipt_body,
     .flags = ROUTE_MUTATING},
    {.method = "POST",
     .pattern = "/v1/residents/{id}/incidents",
     .roles = ROLE_STAFF_PLUS,
     .op = "resident_incident_create",
     .path = id_path,
     .body = incident_body,
     .flags = ROUTE_MUTATING},
    {.method = "GET",
     .pattern = "/v1/incidents",
     .roles = ROLE_STAFF_PLUS,
     .op = "incident_list",
     .query = incident_query},
    {.method = "GET",
     .pattern = "/v1/incidents/{id}",
     .roles = ROLE_STAFF_PLUS,
     .op = "incident_get",
     .path = id_path},
    {.method = NULL},
};
