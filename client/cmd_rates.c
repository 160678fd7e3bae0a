/* `rollcall rates` and `rates add`: the allowance rates with their validity (GET/POST
 * /v1/rates, managers). Amounts are entered and kept in integer øre and shown in kroner. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dates.h"
#include "format.h"
#include "json_get.h"
#include "office.h"
#include "session.h"

/* The daemon's rate kinds (GET /v1/rates answers these; routes_allowances.c checks them). */
static const char *const rate_kinds[] = {"base", "supplement_phase1", "supplement_phase2"};
#define RATE_KIND_COUNT (sizeof(rate_kinds) / sizeof(rate_kinds[0]))
#define RATE_MAX_ORE 100000000LL /* 1.000.000,00 kr. a day: more is a typo */

static bool rate_kind_ok(const char *kind)
{
	for (size_t i = 0; kind != NULL && i < RATE_KIND_COUNT; i++)
		if (strcmp(rate_kinds[i], kind) == 0)
			return true;
	return false;
}

int cmd_rates(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	size_t limit;
	struct date on;
	const char *kind = args->value[OPT_RATE_KIND], *on_text = args->value[OPT_ON];
	if (kind != NULL && !rate_kind_ok(kind))
		return usage_error(args,
		                   "--kind: '%s' is not base, supplement_phase1 or "
		                   "supplement_phase2",
		                   kind);
	if (on_text != NULL && !date_parse(on_text, &on))
		return usage_error(args, "--on: '%s' is not a date (YYYY-MM-DD)", on_text);
	if (!office_limit(args, &limit, &rc))
		return rc;

	char path[256], day[DATE_TEXT_SIZE] = "";
	if (on_text != NULL)
		date_format(&on, day);
	if (!path_format(path, sizeof(path), "/v1/rates%s%s%s%s%s", kind || on_text ? "?" : "",
	                 kind ? "kind=" : "", kind ? kind : "", kind && on_text ? "&" : "",
	                 on_text ? "on=" : ""))
		return RC_USAGE;
	if (on_text != NULL && strlen(path) + strlen(day) < sizeof(path))
		strcat(path, day);

	json_t *items = NULL, *next = NULL;
	rc = office_list(session, path, limit, &items, &next);
	if (rc != RC_OK)
		return rc;
	if (session->json) {
		rc = office_print_list(items, next);
		goto done;
	}
	static const char *const headers[] = {"ID", "KIND", "KR. PER DAY", "FROM", "TO"};
	static const enum table_align align[] = {TABLE_RIGHT, TABLE_LEFT, TABLE_RIGHT, TABLE_LEFT,
	                                         TABLE_LEFT};
	struct table *table = table_new(5, headers, align);
	if (table == NULL)
		goto out_of_memory;
	size_t index;
	json_t *rate;
	json_array_foreach(items, index, rate)
	{
		char id[24], rate_kind[40], amount[FORMAT_ORE_SIZE] = "", from[16], to[16];
		long long ore;
		jget_text(rate, "id", id, sizeof(id));
		jget_text(rate, "kind", rate_kind, sizeof(rate_kind));
		if (jget_int(rate, "per_day_ore", &ore))
			format_ore(ore, amount);
		jget_text(rate, "valid_from", from, sizeof(from));
		jget_text(rate, "valid_to", to, sizeof(to));
		const char *cells[] = {id, rate_kind, amount, from, to[0] ? to : "(open)"};
		if (!table_add_row(table, cells)) {
			table_free(table);
			goto out_of_memory;
		}
	}
	rc = office_print_table(table, "", json_array_size(items), "rate", next != NULL);
	goto done;

out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	rc = RC_REFUSED;
done:
	json_decref(items);
	json_decref(next);
	return rc;
}

int cmd_rates_add(struct session *session, const struct cmd_args *args)
{
	const char *kind = args->value[OPT_RATE_KIND], *ore_text = args->value[OPT_PER_DAY_ORE];
	const char *from = args->value[OPT_FROM], *to = args->value[OPT_TO];
	struct date day;
	if (!rate_kind_ok(kind))
		return usage_error(args,
		                   "--kind KIND is needed: base, supplement_phase1 or "
		                   "supplement_phase2%s%s%s",
		                   kind ? " (not '" : "", kind ? kind : "", kind ? "')" : "");
	char *end = NULL;
	errno = 0;
	long long ore = ore_text ? strtoll(ore_text, &end, 10) : -1;
	if (ore_text == NULL || errno != 0 || end == ore_text || *end != '\0' || ore < 0 ||
	    ore > RATE_MAX_ORE)
		return usage_error(args,
		                   "--per-day-ore N is needed, whole øre from 0 to %lld (5841 "
		                   "is 58,41 kr.)%s%s%s",
		                   RATE_MAX_ORE, ore_text ? ", not '" : "",
		                   ore_text ? ore_text : "", ore_text ? "'" : "");
	if (from == NULL || !date_parse(from, &day))
		return usage_error(args, "--from DATE is needed (YYYY-MM-DD)%s%s%s",
		                   from ? ", not '" : "", from ? from : "", from ? "'" : "");
	if (to != NULL && !date_parse(to, &day))
		return usage_error(args, "--to: '%s' is not a date (YYYY-MM-DD)", to);

	json_t *body =
	    json_pack("{sssIss}", "kind", kind, "per_day_ore", (json_int_t)ore, "valid_from", from);
	if (body == NULL)
		return RC_REFUSED;
	if (to != NULL && json_object_set_new(body, "valid_to", json_string(to)) != 0) {
		json_decref(body);
		return RC_REFUSED;
	}
	json_t *rate = NULL;
	int rc = session_send(session, "POST", "/v1/rates", body, &rate);
	json_decref(body);
	if (rc != RC_OK || office_json_printed(session, rate, &rc)) {
		json_decref(rate);
		return rc;
	}
	char id[24], amount[FORMAT_ORE_SIZE];
	jget_text(rate, "id", id, sizeof(id));
	printf("Rate %s: %s %s kr. per day from %s%s%s.\n", id, kind, format_ore(ore, amount), from,
	       to ? " to " : " on", to ? to : "");
	json_decref(rate);
	return flush_stdout() ? RC_OK : RC_REFUSED;
}
