/* libFuzzer harness: the request validators of every route (daemon/validate.c) with the field
 * tables of every route table. The first byte picks a route, the rest is tried as its JSON body,
 * its query string and its path parameters. A refusal is fine; a crash, a leak or undefined
 * behaviour is not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "router.h"
#include "validate.h"

static const struct route *const *all_routes(size_t *count)
{
	static const struct route *list[256];
	static size_t n;
	if (n == 0) {
		const struct route *tables[] = {routes_core, routes_alerts, routes_notify,
		                                routes_allowances};
		for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
			for (const struct route *r = tables[t]; r->method && n < 256; r++)
				list[n++] = r;
	}
	*count = n;
	return list;
}

/* The route tables name handlers that reach the daemon's state (daemon/main.c owns it); none
 * runs here. */
struct daemon *daemon_state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t count;
	const struct route *const *routes = all_routes(&count);
	const struct route *route = routes[data[0] % count];
	const char *rest = (const char *)data + 1;
	size_t len = size - 1;
	struct validation_error err;

	json_error_t jerr;
	if (route->body) {
		json_t *body = json_loadb(rest, len, JSON_REJECT_DUPLICATES, &jerr);
		if (body) {
			(void)validate_object(body, route->body, NULL, &err);
			json_decref(body);
		}
	}
	char *text = malloc(len + 1);
	if (!text)
		return 0;
	memcpy(text, rest, len);
	text[len] = '\0';
	json_t *query = validate_query(text, route->query, &err);
	json_decref(query);
	if (route->path) {
		json_t *params = json_loadb(rest, len, 0, &jerr);
		if (json_is_object(params))
			(void)validate_object(params, route->path, NULL, &err);
		json_decref(params);
	}
	(void)validate_date(text);
	(void)validate_instant(text);
	(void)validate_time(text);
	free(text);
	return 0;
}
