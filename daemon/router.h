/* The route table: every API path with its method, allowed roles, SQL operation, input specs and,
 * where one SQL call is not the whole job, a C handler. */
#ifndef ROLLCALL_ROUTER_H
#define ROLLCALL_ROUTER_H

#include "validate.h"

struct request;

enum role_bits {
	ROLE_STAFF = 1u << 0,
	ROLE_ONCALL = 1u << 1,
	ROLE_MANAGER = 1u << 2,
	ROLE_ADMIN = 1u << 3,
	ROLE_AUTHORITY = 1u << 4,
	ROLE_METRICS = 1u << 5, /* GET /metrics only: a Prometheus server's account */
	ROLE_ANY_ACCOUNT =
	    ROLE_STAFF | ROLE_ONCALL | ROLE_MANAGER | ROLE_ADMIN | ROLE_AUTHORITY | ROLE_METRICS,
	ROLE_STAFF_PLUS = ROLE_STAFF | ROLE_ONCALL | ROLE_MANAGER | ROLE_ADMIN,
};

enum route_flags {
	ROUTE_MUTATING = 1u << 0,      /* takes Idempotency-Key; body required (may be {}) */
	ROUTE_TEST_CLOCK = 1u << 1,    /* exists only with test_clock = true (404 otherwise) */
	ROUTE_NO_ACCOUNT = 1u << 2,    /* any valid certificate; no account lookup (healthz) */
	ROUTE_OPTIONAL_BODY = 1u << 3, /* a mutating route whose body may be empty */
};

typedef void (*route_handler_fn)(struct request *req);

struct route {
	const char *method;             /* "GET", "POST", "PUT", "PATCH" */
	const char *pattern;            /* "/v1/centres/{id}/rounds/{date}/{slot}" */
	unsigned roles;                 /* enum role_bits: passed to api() as text[] */
	const char *op;                 /* SQL op: api() calls op_<op>(ctx, args) */
	const struct field_spec *path;  /* specs of the {params}, NULL: strings */
	const struct field_spec *query; /* allowed query parameters, NULL: none */
	const struct field_spec *body;  /* JSON body spec, NULL: no body */
	unsigned flags;                 /* enum route_flags */
	route_handler_fn handler;       /* NULL: the generic api() call answers */
};

/* Route tables, one per area, each terminated by an entry with method == NULL. */
extern const struct route routes_core[];       /* health, clock, accounts, centres, residents,
                                                  rounds, audit, export (routes_core.c) */
extern const struct route routes_alerts[];     /* absences, alerts, stream (routes_alerts.c) */
extern const struct route routes_notify[];     /* notifications, incidents (routes_notify.c) */
extern const struct route routes_allowances[]; /* rates, sanctions, agreements, statements,
                                                  payouts (routes_allowances.c) */
extern const struct route routes_board[];      /* the duty-office board (routes_board.c) */

/* Finds the route for method and path. On a match fills *params (a new JSON object of the
 * pattern's {names} to the decoded segments; caller owns) and returns the route. Returns NULL
 * with *method_allowed = true when the path exists under another method (405). */
const struct route *router_match(const char *method, const char *path, json_t **params,
                                 bool *method_allowed);

/* Every route of the tables, numbered 0 .. router_route_count() - 1 in table order, so that
 * per-route counters (metrics.c) are an array indexed without a search or an allocation. */
size_t router_route_count(void);
const struct route *router_route_at(size_t index); /* NULL when out of range */
/* The number of a route of the tables; router_route_count() for NULL or any other pointer. */
size_t router_route_index(const struct route *route);

/* The role names of a bitmask in api()'s order, for the roles text[] parameter. */
void router_roles_literal(unsigned roles, char *out, size_t out_size); /* "{staff,oncall}" */

#endif
