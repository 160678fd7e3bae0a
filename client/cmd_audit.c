/* `rollcall audit`: the audit log for an administrator (GET /v1/audit?resident=&account=&from=
 * &to=), every page, times in the centre's zone (--centre, else the only centre, else the
 * terminal's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "json_get.h"
#include "office.h"
#include "resolve.h"
#include "session.h"

/* Appends "&name=value" (escaped) to the query in out. */
static bool add_query(char *out, size_t outlen, const char *name, const char *value)
{
	char escaped[PATH_PART_SIZE];
	size_t used = strlen(out);
	if (!path_escape(value, escaped))
		return false;
	int n = snprintf(out + used, outlen - used, "%s%s=%s", strchr(out, '?') ? "&" : "?", name,
	                 escaped);
	if (n < 0 || (size_t)n >= outlen - used) {
		fprintf(stderr, "rollcall: a request path is too long\n");
		return false;
	}
	return true;
}

static int print_audit(const json_t *items, const json_t *next, const char *zone)
{
	static const char *const headers[] = {"ID",     "AT",       "ACCOUNT", "ROLE",
	                                      "ACTION", "RESIDENT", "OUTCOME", "FROM"};
	struct table *table = table_new(8, headers, NULL);
	if (table == NULL)
		goto out_of_memory;
	size_t index;
	json_t *row;
	json_array_foreach(items, index, row)
	{
		char id[24], when[OFFICE_WHEN_SIZE], cn[80], role[32], action[80], resident[24];
		char outcome[80], remote[80];
		jget_text(row, "id", id, sizeof(id));
		office_when(zone, jget_str(row, "at"), when);
		jget_text(row, "cn", cn, sizeof(cn));
		jget_text(row, "role", role, sizeof(role));
		jget_text(row, "action", action, sizeof(action));
		jget_text(row, "resident", resident, sizeof(resident));
		jget_text(row, "outcome", outcome, sizeof(outcome));
		jget_text(row, "remote", remote, sizeof(remote));
		const char *cells[] = {id, when, cn, role, action, resident, outcome, remote};
		if (!table_add_row(table, cells)) {
			table_free(table);
			goto out_of_memory;
		}
	}
	return office_print_table(table, "", json_array_size(items), "audit row", next != NULL);

out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	return RC_REFUSED;
}

int cmd_audit(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	size_t limit;
	const char *who = args->value[OPT_RESIDENT], *account = args->value[OPT_ACCOUNT];
	if (who != NULL && !office_resident_syntax_ok(who))
		return usage_error(args, "--resident: '%s' is not a case number or id:N", who);
	if (account != NULL && (account[0] == '\0' || strlen(account) > 64))
		return usage_error(args, "--account: '%s' is not an account CN", account);
	if (!office_instant_valid(args, OPT_FROM_AT, &rc) ||
	    !office_instant_valid(args, OPT_TO_AT, &rc) || !office_limit(args, &limit, &rc))
		return rc;

	struct centre_ref centre;
	if (args->value[OPT_CENTRE] != NULL) {
		rc = resolve_centre(session, args, &centre);
		if (rc != RC_OK)
			return rc;
	} else {
		centre_lookup(session, NULL, &centre);
	}
	char path[2048] = "/v1/audit";
	if (who != NULL) {
		long long id;
		json_t *resident = NULL;
		struct centre_ref home;
		rc = office_resident(session, args, who, &id, &resident, &home);
		json_decref(resident);
		if (rc != RC_OK)
			return rc;
		char id_text[24];
		snprintf(id_text, sizeof(id_text), "%lld", id);
		if (!add_query(path, sizeof(path), "resident", id_text))
			return RC_USAGE;
	}
	if (account != NULL && !add_query(path, sizeof(path), "account", account))
		return RC_USAGE;
	static const struct {
		int option;
		const char *name;
	} bounds[] = {{OPT_FROM_AT, "from"}, {OPT_TO_AT, "to"}};
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		char instant[INSTANT_TEXT_SIZE];
		if (args->value[bounds[i].option] == NULL)
			continue;
		if (!office_instant_option(args, bounds[i].option, centre.timezone, instant, &rc))
			return rc;
		if (!add_query(path, sizeof(path), bounds[i].name, instant))
			return RC_USAGE;
	}

	json_t *items = NULL, *next = NULL;
	rc = office_list(session, path, limit, &items, &next);
	if (rc != RC_OK)
		return rc;
	rc = session->json ? office_print_list(items, next)
	                   : print_audit(items, next, centre.timezone);
	json_decref(items);
	json_decref(next);
	return rc;
}
