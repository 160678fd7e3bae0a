/* Routes of cash allowances (SPEC sections 6 and 10): rates, sanctions, special agreements,
 * statements and payouts, with the field tables of their path, query and body. Statements and
 * payouts have C handlers (handlers_statements.c): the arithmetic is done in C. */
#include "handlers.h"
#include "handlers_allowances.h"
#include "router.h"

#define REASON_MAX 4000
#define NAME_MAX_BYTES 800 /* 200 characters of any script */
#define RATE_MAX_ORE 100000000

/* Managers decide allowances; admins, who see every centre, may too. */
#define ROLE_ALLOWANCES (ROLE_MANAGER | ROLE_ADMIN)

static const char *const rate_kinds[] = {"base", "supplement_phase1", "supplement_phase2", NULL};

static const struct field_spec resident_path[] = {
    {.name = "id", .type = FT_ID, .flags = F_REQUIRED},
    {0},
};

/* period_start is checked by SQL (allowance_period_arg), so that a malformed date and a date
 * off the 14-day grid both get 400 naming period_start rather than a 404 for the path. */
static const struct field_spec resident_period_path[] = {
    {.name = "id", .type = FT_ID, .flags = F_REQUIRED},
    {.name = "period_start", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 32},
    {0},
};

static const struct field_spec centre_period_path[] = {
    {.name = "id", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 64},
    {.name = "period_start", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 32},
    {0},
};

static const struct field_spec list_query[] = {
    {.name = "limit", .type = FT_INT, .min = 1, .max = 1000},
    {.name = "after", .type = FT_STRING, .min = 1, .max = 32},
    {0},
};

/* GET /v1/rates */
static const struct field_spec rate_list_query[] = {
    {.name = "kind", .type = FT_STRING, .enums = rate_kinds},
    {.name = "on", .type = FT_DATE},
    {.name = "limit", .type = FT_INT, .min = 1, .max = 1000},
    {.name = "after", .type = FT_STRING, .min = 1, .max = 32},
    {0},
};

/* POST /v1/rates */
static const struct field_spec rate_body[] = {
    {.name = "kind", .type = FT_STRING, .flags = F_REQUIRED, .enums = rate_kinds},
    {.name = "per_day_ore", .type = FT_INT, .flags = F_REQUIRED, .min = 0, .max = RATE_MAX_ORE},
    {.name = "valid_from", .type = FT_DATE, .flags = F_REQUIRED},
    {.name = "valid_to", .type = FT_DATE, .flags = F_NULLABLE},
    {0},
};

/* POST /v1/residents/{id}/sanctions */
static const struct field_spec sanction_body[] = {
    {.name = "from", .type = FT_DATE, .flags = F_REQUIRED},
    {.name = "to", .type = FT_DATE, .flags = F_REQUIRED},
    {.name = "percent", .type = FT_INT, .flags = F_REQUIRED, .min = 1, .max = 100},
    {.name = "reason", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = REASON_MAX},
    {.name = "heard_at", .type = FT_INSTANT, .flags = F_REQUIRED},
    {0},
};

/* POST /v1/residents/{id}/agreements; "to" null or absent: until further notice. */
static const struct field_spec agreement_body[] = {
    {.name = "proxy_name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = NAME_MAX_BYTES},
    {.name = "from", .type = FT_DATE, .flags = F_REQUIRED},
    {.name = "to", .type = FT_DATE, .flags = F_NULLABLE},
    {0},
};

/* POST /v1/residents/{id}/payouts: "self" for the resident in person, else the proxy's name. */
static const struct field_spec payout_body[] = {
    {.name = "period_start", .type = FT_DATE, .flags = F_REQUIRED},
    {.name = "collected_by",
     .type = FT_STRING,
     .flags = F_REQUIRED,
     .min = 1,
     .max = NAME_MAX_BYTES},
    {0},
};

const struct route routes_allowances[] = {
    {"GET", "/v1/rates", ROLE_ALLOWANCES, "rate_list", NULL, rate_list_query, NULL, 0, NULL},
    {"POST", "/v1/rates", ROLE_ALLOWANCES, "rate_create", NULL, NULL, rate_body, ROUTE_MUTATING,
     NULL},
    {"POST", "/v1/residents/{id}/sanctions", ROLE_ALLOWANCES, "resident_sanction_create",
     resident_path, NULL, sanction_body, ROUTE_MUTATING, NULL},
    {"GET", "/v1/residents/{id}/sanctions", ROLE_ALLOWANCES, "resident_sanction_list",
     resident_path, list_query, NULL, 0, NULL},
    {"POST", "/v1/residents/{id}/agreements", ROLE_ALLOWANCES, "resident_agreement_create",
     resident_path, NULL, agreement_body, ROUTE_MUTATING, NULL},
    {"GET", "/v1/residents/{id}/agreements", ROLE_ALLOWANCES, "resident_agreement_list",
     resident_path, list_query, NULL, 0, NULL},
    {"GET", "/v1/residents/{id}/statements/{period_start}", ROLE_ALLOWANCES, "resident_statement",
     resident_period_path, NULL, NULL, 0, handle_resident_statement},
    {"GET", "/v1/centres/{id}/statements/{period_start}", ROLE_ALLOWANCES, "centre_statements",
     centre_period_path, list_query, NULL, 0, handle_centre_statements},
    {"POST", "/v1/residents/{id}/payouts", ROLE_ALLOWANCES, "resident_payout", resident_path, NULL,
     payout_body, ROUTE_MUTATING, handle_resident_payout},
    {"GET", "/v1/residents/{id}/payouts", ROLE_ALLOWANCES, "resident_payout_list", resident_path,
     list_query, NULL, 0, NULL},
    {0},
};
