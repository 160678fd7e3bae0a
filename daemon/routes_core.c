/* Routes of the foundation API (SPEC sections 1, 2, 7, 8 and 10): health, metrics, the test
 * clock, accounts, centres, residents, rounds, the audit log and the export. Each entry names the
 * roles allowed, the SQL op (schema/code/) and exact field tables for its
 * path, query and body, so that a request reaching SQL is already well-typed and a typo in a
 * field name is refused (400 unknown_field) instead of silently ignored. */
#include <stddef.h>

#include "handlers.h"
#include "rollcall/enums.h"
#include "router.h"

#define CENTRE_ID_MAX 64 /* centres.id: ^[a-z0-9][a-z0-9_-]{0,63}$ */
#define CN_MAX 64        /* accounts.cn */
#define CASE_NUMBER_MAX 64
#define NAME_MAX_BYTES 800 /* 200 characters of up to four UTF-8 bytes each */
#define NOTE_MAX 4000      /* a note or a reason: a few paragraphs, not a document */
#define CURSOR_MAX 128     /* a page cursor: a bigint, a centre id or a cn, as text */
#define PAGE_MAX 1000

/* Roles, authority kinds, observation statuses and excuse reasons are the shared tables of
 * rollcall/enums.h, which a test compares with the schema's CHECK constraints. */

/* ---- paths ---- */

/* {id} of a resident. */
static const struct field_spec resident_path[] = {
    {.name = "id", .type = FT_ID, .flags = F_REQUIRED},
    {.name = NULL},
};

/* {id} of a centre. */
static const struct field_spec centre_path[] = {
    {.name = "id", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = CENTRE_ID_MAX},
    {.name = NULL},
};

/* {cn} of an account. */
static const struct field_spec account_path[] = {
    {.name = "cn", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = CN_MAX},
    {.name = NULL},
};

/* /v1/centres/{id}/rounds/{date}/{slot} */
static const struct field_spec round_path[] = {
    {.name = "id", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = CENTRE_ID_MAX},
    {.name = "date", .type = FT_DATE, .flags = F_REQUIRED},
    {.name = "slot", .type = FT_INT, .flags = F_REQUIRED, .min = 1, .max = 3},
    {.name = NULL},
};

/* ---- queries ---- */

/* ?limit=&after= of every list. */
static const struct field_spec page_query[] = {
    {.name = "limit", .type = FT_INT, .min = 1, .max = PAGE_MAX},
    {.name = "after", .type = FT_STRING, .min = 1, .max = CURSOR_MAX},
    {.name = NULL},
};

/* GET /v1/centres/{id}/residents?on=DATE (default: the centre's local today) */
static const struct field_spec centre_residents_query[] = {
    {.name = "on", .type = FT_DATE},
    {.name = "limit", .type = FT_INT, .min = 1, .max = PAGE_MAX},
    {.name = "after", .type = FT_STRING, .min = 1, .max = CURSOR_MAX},
    {.name = NULL},
};

/* GET /v1/centres/{id}/rounds?date=DATE (default: the centre's local today) */
static const struct field_spec round_list_query[] = {
    {.name = "date", .type = FT_DATE},
    {.name = NULL},
};

/* GET /v1/centres/{id}/rounds/{date}/{slot}?history=true */
static const struct field_spec round_get_query[] = {
    {.name = "history", .type = FT_BOOL},
    {.name = NULL},
};

/* GET /v1/audit?resident=&account=&from=&to=&limit=&after= */
static const struct field_spec audit_query[] = {
    {.name = "resident", .type = FT_ID},
    {.name = "account", .type = FT_STRING, .min = 1, .max = CN_MAX},
    {.name = "from", .type = FT_INSTANT},
    {.name = "to", .type = FT_INSTANT},
    {.name = "limit", .type = FT_INT, .min = 1, .max = PAGE_MAX},
    {.name = "after", .type = FT_STRING, .min = 1, .max = CURSOR_MAX},
    {.name = NULL},
};

/* GET /v1/retention?within_days=&limit=&after= (the dry run of SPEC section 7) */
static const struct field_spec retention_query[] = {
    {.name = "within_days", .type = FT_INT, .min = 0, .max = 36600},
    {.name = "limit", .type = FT_INT, .min = 1, .max = PAGE_MAX},
    {.name = "after", .type = FT_STRING, .min = 1, .max = CURSOR_MAX},
    {.name = NULL},
};

/* GET /v1/residents/{id}/profile?history=true */
static const struct field_spec profile_get_query[] = {
    {.name = "history", .type = FT_BOOL},
    {.name = NULL},
};

/* ---- bodies ---- */

/* PUT /v1/clock */
static const struct field_spec clock_body[] = {
    {.name = "now", .type = FT_INSTANT, .flags = F_REQUIRED},
    {.name = NULL},
};

/* POST /v1/accounts. `authority` only with the authority role (checked in SQL, naming it). */
static const struct field_spec account_create_body[] = {
    {.name = "cn", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = CN_MAX},
    {.name = "role", .type = FT_STRING, .flags = F_REQUIRED, .enums = enum_roles},
    {.name = "centres", .type = FT_ARRAY, .item_type = FT_STRING, .max = PAGE_MAX},
    {.name = "authority", .type = FT_STRING, .flags = F_NULLABLE, .enums = enum_authority_kinds},
    {.name = "disabled", .type = FT_BOOL},
    {.name = NULL},
};

/* PATCH /v1/accounts/{cn}: any subset; "cn" renames the account. */
static const struct field_spec account_patch_body[] = {
    {.name = "cn", .type = FT_STRING, .min = 1, .max = CN_MAX},
    {.name = "role", .type = FT_STRING, .enums = enum_roles},
    {.name = "centres", .type = FT_ARRAY, .item_type = FT_STRING, .max = PAGE_MAX},
    {.name = "authority", .type = FT_STRING, .flags = F_NULLABLE, .enums = enum_authority_kinds},
    {.name = "disabled", .type = FT_BOOL},
    {.name = NULL},
};

/* The profile fields one authority receives (SPEC section 3a); the names are checked in SQL,
 * naming authorities[i].profile_fields. Null: the kind's defaults. */
#define PROFILE_FIELDS_MAX 7

/* An authority endpoint of a new centre: the secret is required ("whsec_<base64>", checked in
 * SQL with the same rule the signer uses). */
static const struct field_spec authority_new[] = {
    {.name = "kind", .type = FT_STRING, .flags = F_REQUIRED, .enums = enum_authority_kinds},
    {.name = "url", .type = FT_STRING, .flags = F_REQUIRED, .min = 9, .max = 2000},
    {.name = "secret", .type = FT_STRING, .flags = F_REQUIRED, .min = 7, .max = 400},
    {.name = "phone", .type = FT_STRING, .flags = F_NULLABLE, .min = 3, .max = 40},
    {.name = "profile_fields",
     .type = FT_ARRAY,
     .flags = F_NULLABLE,
     .item_type = FT_STRING,
     .max = PROFILE_FIELDS_MAX},
    {.name = NULL},
};

/* An authority endpoint in a centre patch: without "secret" the stored one of that kind is kept
 * (secrets are never shown, so an admin changing a URL need not know it). */
static const struct field_spec authority_change[] = {
    {.name = "kind", .type = FT_STRING, .flags = F_REQUIRED, .enums = enum_authority_kinds},
    {.name = "url", .type = FT_STRING, .flags = F_REQUIRED, .min = 9, .max = 2000},
    {.name = "secret", .type = FT_STRING, .min = 7, .max = 400},
    {.name = "phone", .type = FT_STRING, .flags = F_NULLABLE, .min = 3, .max = 40},
    {.name = "profile_fields",
     .type = FT_ARRAY,
     .flags = F_NULLABLE,
     .item_type = FT_STRING,
     .max = PROFILE_FIELDS_MAX},
    {.name = NULL},
};

/* An on-call channel (SPEC section 10, Centres v2): "to" for e-mail, "url" and "secret" for a
 * webhook; which fields go with which kind, the address forms and the secret's form are checked
 * in SQL (oncall.sql), naming e.g. oncall_channels[1].secret. In a patch, a webhook without
 * "secret" keeps the stored secret of its URL. */
static const struct field_spec oncall_channel[] = {
    {.name = "kind", .type = FT_STRING, .flags = F_REQUIRED, .enums = enum_channel_kinds},
    {.name = "to", .type = FT_STRING, .min = 3, .max = 254},
    {.name = "url", .type = FT_STRING, .min = 9, .max = 2000},
    {.name = "secret", .type = FT_STRING, .min = 7, .max = 400},
    {.name = "min_priority", .type = FT_STRING, .enums = enum_alert_priorities},
    {.name = NULL},
};

/* The centre fields both create and patch take; the order of check times is checked in SQL. */
#define CENTRE_FIELDS(authority_spec)                                                              \
	{.name = "operator", .type = FT_STRING, .max = NAME_MAX_BYTES},                            \
	    {.name = "capacity", .type = FT_INT, .min = 0, .max = 100000},                         \
	    {.name = "timezone", .type = FT_STRING, .min = 1, .max = 64},                          \
	    {.name = "check_times", .type = FT_ARRAY, .item_type = FT_TIME, .min = 3, .max = 3},   \
	    {.name = "grace_minutes", .type = FT_INT, .min = 0, .max = 1440},                      \
	    {.name = "free_meals", .type = FT_BOOL},                                               \
	    {.name = "repeat_minutes",                                                             \
	     .type = FT_INT,                                                                       \
	     .flags = F_NULLABLE,                                                                  \
	     .min = 1,                                                                             \
	     .max = 1440},                                                                         \
	    {.name = "escalate_minutes",                                                           \
	     .type = FT_INT,                                                                       \
	     .flags = F_NULLABLE,                                                                  \
	     .min = 1,                                                                             \
	     .max = 1440},                                                                         \
	    {.name = "receipt_minutes",                                                            \
	     .type = FT_INT,                                                                       \
	     .flags = F_NULLABLE,                                                                  \
	     .min = 1,                                                                             \
	     .max = 10080},                                                                        \
	    {.name = "authorities",                                                                \
	     .type = FT_ARRAY,                                                                     \
	     .item_type = FT_OBJECT,                                                               \
	     .items = authority_spec,                                                              \
	     .max = 3},                                                                            \
	{                                                                                          \
		.name = "oncall_channels", .type = FT_ARRAY, .item_type = FT_OBJECT,               \
		.items = oncall_channel, .max = 16                                                 \
	}

/* POST /v1/centres: "id" is optional (generated "c<n>" when absent). */
static const struct field_spec centre_create_body[] = {
    {.name = "id", .type = FT_STRING, .min = 1, .max = CENTRE_ID_MAX},
    {.name = "name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = NAME_MAX_BYTES},
    CENTRE_FIELDS(authority_new),
    {.name = NULL},
};

/* PATCH /v1/centres/{id}: any subset; the id cannot change. "authorities" replaces the list. */
static const struct field_spec centre_patch_body[] = {
    {.name = "name", .type = FT_STRING, .min = 1, .max = NAME_MAX_BYTES},
    CENTRE_FIELDS(authority_change),
    {.name = NULL},
};

/* Residents in one go-live import: a large centre's whole roll, well within max_body_bytes. */
#define RESIDENT_IMPORT_MAX 1000

/* A resident's record as created: who (before "centre" in POST /v1/residents, so that the
 * first missing field named stays the same) and the stay. */
#define RESIDENT_WHO_FIELDS                                                                        \
	{.name = "case_number",                                                                    \
	 .type = FT_STRING,                                                                        \
	 .flags = F_REQUIRED,                                                                      \
	 .min = 1,                                                                                 \
	 .max = CASE_NUMBER_MAX},                                                                  \
	    {.name = "given_name",                                                                 \
	     .type = FT_STRING,                                                                    \
	     .flags = F_REQUIRED,                                                                  \
	     .min = 1,                                                                             \
	     .max = NAME_MAX_BYTES},                                                               \
	    {.name = "family_name",                                                                \
	     .type = FT_STRING,                                                                    \
	     .flags = F_REQUIRED,                                                                  \
	     .min = 1,                                                                             \
	     .max = NAME_MAX_BYTES},                                                               \
	{                                                                                          \
		.name = "date_of_birth", .type = FT_DATE, .flags = F_REQUIRED                      \
	}
#define RESIDENT_STAY_FIELDS                                                                       \
	{.name = "arrival_date", .type = FT_DATE, .flags = F_REQUIRED},                            \
	    {.name = "departure_date", .type = FT_DATE, .flags = F_NULLABLE},                      \
	    {.name = "phase", .type = FT_INT, .min = 1, .max = 3},                                 \
	{                                                                                          \
		.name = "accounted_for_at", .type = FT_INSTANT, .flags = F_NULLABLE                \
	}

/* POST /v1/residents */
static const struct field_spec resident_create_body[] = {
    RESIDENT_WHO_FIELDS,
    {.name = "centre", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = CENTRE_ID_MAX},
    RESIDENT_STAY_FIELDS,
    {.name = NULL},
};

/* POST /v1/centres/{id}/residents/import: the go-live import, all or nothing; the centre is the
 * path's. */
static const struct field_spec resident_import_row[] = {
    RESIDENT_WHO_FIELDS,
    RESIDENT_STAY_FIELDS,
    {.name = NULL},
};
static const struct field_spec resident_import_body[] = {
    {.name = "residents",
     .type = FT_ARRAY,
     .flags = F_REQUIRED,
     .item_type = FT_OBJECT,
     .items = resident_import_row,
     .min = 1,
     .max = RESIDENT_IMPORT_MAX},
    {.name = NULL},
};

/* PATCH /v1/residents/{id}: a date_of_birth change needs "reason"; a move needs "centre" and
 * "moved_on" together; departure_date null undoes a departure. */
static const struct field_spec resident_patch_body[] = {
    {.name = "given_name", .type = FT_STRING, .min = 1, .max = NAME_MAX_BYTES},
    {.name = "family_name", .type = FT_STRING, .min = 1, .max = NAME_MAX_BYTES},
    {.name = "date_of_birth", .type = FT_DATE},
    {.name = "reason", .type = FT_STRING, .min = 1, .max = NOTE_MAX},
    {.name = "departure_date", .type = FT_DATE, .flags = F_NULLABLE},
    {.name = "centre", .type = FT_STRING, .min = 1, .max = CENTRE_ID_MAX},
    {.name = "moved_on", .type = FT_DATE},
    {.name = "accounted_for_at", .type = FT_INSTANT, .flags = F_NULLABLE},
    {.name = NULL},
};

/* The missing-person profile (SPEC section 3a). Types are checked here; lengths, the phone's
 * form, the photo (base64, JPEG, 512 KiB: 413) and photo_taken_on against the daemon clock in
 * SQL (profile.sql), each naming the field. The photo's bound here only keeps a huge string out
 * of SQL: max_body_bytes bounds it first. */
#define PROFILE_TEXT_MAX 16000           /* 4000 characters of up to four UTF-8 bytes */
#define PROFILE_PHOTO_BASE64_MAX 4194304 /* SQL answers 413 above 512 KiB decoded */
static const struct field_spec profile_contact[] = {
    {.name = "name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = NAME_MAX_BYTES},
    {.name = "relation", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 400},
    {.name = "phone", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 64},
    {.name = NULL},
};

/* PUT /v1/residents/{id}/profile: replaces the profile; a field left out is empty. updated_at
 * is accepted and ignored, so that a GET's answer can be sent back edited. */
static const struct field_spec profile_put_body[] = {
    {.name = "description", .type = FT_STRING, .flags = F_NULLABLE, .max = PROFILE_TEXT_MAX},
    {.name = "photo_jpeg_base64",
     .type = FT_STRING,
     .flags = F_NULLABLE,
     .max = PROFILE_PHOTO_BASE64_MAX},
    {.name = "photo_taken_on", .type = FT_DATE, .flags = F_NULLABLE},
    {.name = "languages", .type = FT_ARRAY, .flags = F_NULLABLE, .item_type = FT_STRING, .max = 50},
    {.name = "contacts",
     .type = FT_ARRAY,
     .flags = F_NULLABLE,
     .item_type = FT_OBJECT,
     .items = profile_contact,
     .max = 20},
    {.name = "places", .type = FT_ARRAY, .flags = F_NULLABLE, .item_type = FT_STRING, .max = 50},
    {.name = "medical", .type = FT_STRING, .flags = F_NULLABLE, .max = PROFILE_TEXT_MAX},
    {.name = "risks", .type = FT_STRING, .flags = F_NULLABLE, .max = PROFILE_TEXT_MAX},
    {.name = "updated_at", .type = FT_INSTANT, .flags = F_NULLABLE},
    {.name = NULL},
};

/* POST /v1/residents/{id}/phases */
static const struct field_spec phase_body[] = {
    {.name = "phase", .type = FT_INT, .flags = F_REQUIRED, .min = 1, .max = 3},
    {.name = "from", .type = FT_DATE, .flags = F_REQUIRED},
    {.name = NULL},
};

/* One observation of a round; "reason" only with excused (checked in SQL, naming the field). */
static const struct field_spec observation[] = {
    {.name = "resident", .type = FT_ID, .flags = F_REQUIRED},
    {.name = "status", .type = FT_STRING, .flags = F_REQUIRED, .enums = enum_observation_statuses},
    {.name = "reason", .type = FT_STRING, .flags = F_NULLABLE, .enums = enum_excuse_reasons},
    {.name = "note", .type = FT_STRING, .flags = F_NULLABLE, .max = NOTE_MAX},
    /* When staff made it (default: the request's instant); its window is checked in SQL. */
    {.name = "observed_at", .type = FT_INSTANT, .flags = F_NULLABLE},
    {.name = NULL},
};

/* POST /v1/centres/{id}/rounds/{date}/{slot}?dry_run=true: what sending it would do. */
static const struct field_spec round_post_query[] = {
    {.name = "dry_run", .type = FT_BOOL},
    {.name = NULL},
};

/* POST /v1/centres/{id}/rounds/{date}/{slot}: a whole round (a centre holds well under a
 * thousand residents). */
static const struct field_spec round_post_body[] = {
    {.name = "observations",
     .type = FT_ARRAY,
     .flags = F_REQUIRED,
     .item_type = FT_OBJECT,
     .items = observation,
     .min = 1,
     .max = PAGE_MAX},
    {.name = NULL},
};

#define ROLE_MANAGERS (ROLE_MANAGER | ROLE_ADMIN)

const struct route routes_core[] = {
    /* Health and operations. */
    {"GET", "/healthz", ROLE_ANY_ACCOUNT, NULL, NULL, NULL, NULL, ROUTE_NO_ACCOUNT, handle_healthz},
    {"GET", "/readyz", ROLE_ANY_ACCOUNT, NULL, NULL, NULL, NULL, ROUTE_NO_ACCOUNT, handle_readyz},
    {"GET", "/metrics", ROLE_ADMIN | ROLE_METRICS, "metrics", NULL, NULL, NULL, 0, handle_metrics},
    {"GET", "/v1/clock", ROLE_ADMIN, "clock_get", NULL, NULL, NULL, ROUTE_TEST_CLOCK,
     handle_clock_get},
    {"PUT", "/v1/clock", ROLE_ADMIN, "clock_set", NULL, NULL, clock_body,
     ROUTE_MUTATING | ROUTE_TEST_CLOCK, handle_clock_put},

    /* Accounts (admin). */
    {"POST", "/v1/accounts", ROLE_ADMIN, "account_create", NULL, NULL, account_create_body,
     ROUTE_MUTATING, NULL},
    {"GET", "/v1/accounts", ROLE_ADMIN, "account_list", NULL, page_query, NULL, 0, NULL},
    {"PATCH", "/v1/accounts/{cn}", ROLE_ADMIN, "account_patch", account_path, NULL,
     account_patch_body, ROUTE_MUTATING, NULL},

    /* Centres. */
    {"POST", "/v1/centres", ROLE_ADMIN, "centre_create", NULL, NULL, centre_create_body,
     ROUTE_MUTATING, NULL},
    {"GET", "/v1/centres", ROLE_STAFF_PLUS, "centre_list", NULL, page_query, NULL, 0, NULL},
    {"GET", "/v1/centres/{id}", ROLE_STAFF_PLUS, "centre_get", centre_path, NULL, NULL, 0, NULL},
    {"PATCH", "/v1/centres/{id}", ROLE_ADMIN, "centre_patch", centre_path, NULL, centre_patch_body,
     ROUTE_MUTATING, NULL},
    {"GET", "/v1/centres/{id}/residents", ROLE_STAFF_PLUS, "centre_residents", centre_path,
     centre_residents_query, NULL, 0, NULL},
    {"POST", "/v1/centres/{id}/residents/import", ROLE_MANAGERS, "resident_import", centre_path,
     NULL, resident_import_body, ROUTE_MUTATING, NULL},

    /* Residents. Ops on /v1/residents/{id} are named resident_* so that api() can name the
     * resident in the audit row of a refusal. */
    {"POST", "/v1/residents", ROLE_MANAGERS, "resident_create", NULL, NULL, resident_create_body,
     ROUTE_MUTATING, NULL},
    {"GET", "/v1/residents/{id}", ROLE_STAFF_PLUS, "resident_get", resident_path, NULL, NULL, 0,
     NULL},
    {"PATCH", "/v1/residents/{id}", ROLE_MANAGERS, "resident_patch", resident_path, NULL,
     resident_patch_body, ROUTE_MUTATING, NULL},
    {"POST", "/v1/residents/{id}/phases", ROLE_MANAGERS, "resident_phase_add", resident_path, NULL,
     phase_body, ROUTE_MUTATING, NULL},
    {"GET", "/v1/residents/{id}/export", ROLE_ADMIN, "resident_export", resident_path, NULL, NULL,
     0, NULL},
    {"GET", "/v1/residents/{id}/profile", ROLE_STAFF_PLUS, "resident_profile_get", resident_path,
     profile_get_query, NULL, 0, NULL},
    {"PUT", "/v1/residents/{id}/profile", ROLE_STAFF_PLUS, "resident_profile_put", resident_path,
     NULL, profile_put_body, ROUTE_MUTATING, NULL},

    /* Attendance rounds (staff+ of the centre). */
    {"GET", "/v1/centres/{id}/rounds", ROLE_STAFF_PLUS, "round_list", centre_path, round_list_query,
     NULL, 0, NULL},
    {"GET", "/v1/centres/{id}/rounds/{date}/{slot}", ROLE_STAFF_PLUS, "round_get", round_path,
     round_get_query, NULL, 0, NULL},
    {"POST", "/v1/centres/{id}/rounds/{date}/{slot}", ROLE_STAFF_PLUS, "round_post", round_path,
     round_post_query, round_post_body, ROUTE_MUTATING, NULL},

    /* The audit log (admin). */
    {"GET", "/v1/audit", ROLE_ADMIN, "audit_list", NULL, audit_query, NULL, 0, NULL},

    /* Retention: what the next runs anonymise (admin). */
    {"GET", "/v1/retention", ROLE_ADMIN, "retention_list", NULL, retention_query, NULL, 0, NULL},

    {.method = NULL},
};
