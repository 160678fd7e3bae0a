/* Matching a request path against the route tables. Patterns are split on '/'; a segment in
 * braces captures the (percent-decoded) segment under that name. The tables are small, so a
 * linear scan is both simplest and fast enough. */
#include "router.h"

#include <event2/http.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/enums.h"

/* One table a line, so that a new area's table is a line of its own. */
/* clang-format off */
static const struct route *const route_tables[] = {
    routes_core,
    routes_alerts,
    routes_notify,
    routes_allowances,
    routes_board,
};
/* clang-format on */

/* Compares one path against one pattern; on a match fills params (created on demand). */
static bool pattern_match(const char *pattern, const char *path, json_t **params)
{
	json_t *captured = NULL;
	const char *p = pattern, *s = path;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			goto no;
		p++, s++;
		const char *pend = strchr(p, '/');
		const char *send = strchr(s, '/');
		size_t plen = pend ? (size_t)(pend - p) : strlen(p);
		size_t slen = send ? (size_t)(send - s) : strlen(s);
		if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (slen == 0)
				goto no;
			char name[64], raw[512];
			if (plen - 2 >= sizeof name || slen >= sizeof raw)
				goto no;
			memcpy(name, p + 1, plen - 2);
			name[plen - 2] = '\0';
			memcpy(raw, s, slen);
			raw[slen] = '\0';
			char *decoded = evhttp_uridecode(raw, 0, NULL);
			if (!decoded || strchr(decoded, '/') || !*decoded) {
				free(decoded);
				goto no;
			}
			if (!captured && !(captured = json_object())) {
				free(decoded);
				goto no;
			}
			json_t *value = json_string(decoded); /* NULL when not UTF-8 */
			free(decoded);
			if (!value || json_object_set_new(captured, name, value) != 0)
				goto no;
		} else if (plen != slen || strncmp(p, s, plen) != 0) {
			goto no;
		}
		p += plen;
		s += slen;
	}
	if (*p || *s)
		goto no;
	*params = captured ? captured : json_object();
	return *params != NULL;
no:
	json_decref(captured);
	return false;
}

const struct route *router_match(const char *method, const char *path, json_t **params,
                                 bool *method_allowed)
{
	*params = NULL;
	*method_allowed = false;
	for (size_t t = 0; t < sizeof route_tables / sizeof route_tables[0]; t++) {
		for (const struct route *r = route_tables[t]; r->method; r++) {
			json_t *captured = NULL;
			if (!pattern_match(r->pattern, path, &captured))
				continue;
			if (strcmp(r->method, method) == 0) {
				*params = captured;
				return r;
			}
			json_decref(captured);
			*method_allowed = true;
		}
	}
	return NULL;
}

#define TABLE_COUNT (sizeof route_tables / sizeof route_tables[0])

/* The length of each table (its entries before the method == NULL end), counted once: the
 * tables are constant, and router_route_index runs for every finished request. Only the event
 * loop thread calls in here. */
static const size_t *table_lengths(void)
{
	static size_t lengths[TABLE_COUNT];
	static bool counted;
	if (!counted) {
		for (size_t t = 0; t < TABLE_COUNT; t++)
			while (route_tables[t][lengths[t]].method)
				lengths[t]++;
		counted = true;
	}
	return lengths;
}

size_t router_route_count(void)
{
	const size_t *lengths = table_lengths();
	size_t n = 0;
	for (size_t t = 0; t < TABLE_COUNT; t++)
		n += lengths[t];
	return n;
}

const struct route *router_route_at(size_t index)
{
	const size_t *lengths = table_lengths();
	for (size_t t = 0; t < TABLE_COUNT; t++) {
		if (index < lengths[t])
			return &route_tables[t][index];
		index -= lengths[t];
	}
	return NULL;
}

size_t router_route_index(const struct route *route)
{
	const size_t *lengths = table_lengths();
	size_t base = 0;
	for (size_t t = 0; t < TABLE_COUNT; t++) {
		/* Compared as addresses: relational operators between pointers into different
		 * arrays are undefined. */
		uintptr_t first = (uintptr_t)route_tables[t], at = (uintptr_t)route;
		if (route && at >= first && at < first + lengths[t] * sizeof *route &&
		    (at - first) % sizeof *route == 0)
			return base + (at - first) / sizeof *route;
		base += lengths[t];
	}
	return base;
}

void router_roles_literal(unsigned roles, char *out, size_t out_size)
{
	/* Bit i is enum_roles[i], the spelling accounts.role allows. */
	_Static_assert(ROLE_STAFF == 1u << 0 && ROLE_ONCALL == 1u << 1 && ROLE_MANAGER == 1u << 2 &&
	                   ROLE_ADMIN == 1u << 3 && ROLE_AUTHORITY == 1u << 4 &&
	                   ROLE_METRICS == 1u << 5 && ROLE_ANY_ACCOUNT == (1u << 6) - 1,
	               "role bits follow enum_roles");
	size_t used = (size_t)snprintf(out, out_size, "{");
	bool first = true;
	for (size_t i = 0; enum_roles[i] != NULL && used < out_size; i++) {
		if (!(roles & (1u << i)))
			continue;
		used += (size_t)snprintf(out + used, out_size - used, "%s%s", first ? "" : ",",
		                         enum_roles[i]);
		first = false;
	}
	if (used < out_size)
		snprintf(out + used, out_size - used, "}");
}
