/* `rollcall incidents`: the incident reports of a centre or of one resident (GET
 * /v1/incidents?centre=&resident=), every page, with the delivery to each authority. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "json_get.h"
#include "office.h"
#include "resolve.h"
#include "session.h"

/* "police delivered, immigration pending" from an incident's notifications. */
static void deliveries_text(const json_t *incident, const char *zone, char *out, size_t outlen)
{
	const json_t *notifications = json_object_get(incident, "notifications");
	size_t index;
	json_t *delivery;
	out[0] = '\0';
	json_array_foreach(notifications, index, delivery)
	{
		char authority[32], when[OFFICE_WHEN_SIZE];
		const char *delivered = jget_str(delivery, "delivered_at");
		size_t used = strlen(out);
		jget_text(delivery, "authority", authority, sizeof(authority));
		snprintf(out + used, outlen - used, "%s%s %s%s", index ? ", " : "", authority,
		         delivered ? "delivered " : "not delivered yet",
		         delivered ? office_when(zone, delivered, when) : "");
	}
}

int cmd_incidents(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	size_t limit;
	const char *who = args->value[OPT_RESIDENT];
	if (who != NULL && !office_resident_syntax_ok(who))
		return usage_error(args, "--resident: '%s' is not a case number or id:N", who);
	if (!office_limit(args, &limit, &rc))
		return rc;

	struct centre_ref centre;
	char path[1024];
	if (who != NULL) {
		long long id;
		json_t *resident = NULL;
		rc = office_resident(session, args, who, &id, &resident, &centre);
		json_decref(resident);
		if (rc != RC_OK)
			return rc;
		if (!path_format(path, sizeof(path), "/v1/incidents?resident=%lld", id))
			return RC_USAGE;
	} else {
		char escaped[PATH_PART_SIZE];
		rc = resolve_centre(session, args, &centre);
		if (rc != RC_OK)
			return rc;
		if (!path_escape(centre.id, escaped) ||
		    !path_format(path, sizeof(path), "/v1/incidents?centre=%s", escaped))
			return RC_USAGE;
	}
	json_t *items = NULL, *next = NULL;
	rc = office_list(session, path, limit, &items, &next);
	if (rc != RC_OK)
		return rc;
	if (session->json) {
		rc = office_print_list(items, next);
		goto done;
	}
	static const char *const headers[] = {
	    "ID", "OCCURRED", "KIND", "RESIDENT", "POLICE REPORT", "REPORTED BY", "DELIVERY"};
	struct table *table = table_new(7, headers, NULL);
	if (table == NULL)
		goto out_of_memory;
	size_t index;
	json_t *incident;
	json_array_foreach(items, index, incident)
	{
		char id[24], when[OFFICE_WHEN_SIZE], kind[32], label[300], report[120], by[80];
		char delivery[600];
		long long resident_id = 0;
		jget_text(incident, "id", id, sizeof(id));
		office_when(centre.timezone, jget_str(incident, "occurred_at"), when);
		jget_text(incident, "kind", kind, sizeof(kind));
		label[0] = '\0';
		if (jget_int(incident, "resident", &resident_id))
			resident_label(session, &centre, resident_id, label, sizeof(label));
		jget_text(incident, "police_report_number", report, sizeof(report));
		jget_text(incident, "reported_by", by, sizeof(by));
		deliveries_text(incident, centre.timezone, delivery, sizeof(delivery));
		const char *cells[] = {id, when, kind, label, report, by, delivery};
		if (!table_add_row(table, cells)) {
			table_free(table);
			goto out_of_memory;
		}
	}
	char prefix[sizeof(centre.name) + 3];
	snprintf(prefix, sizeof(prefix), "%s: ", centre.name);
	rc = office_print_table(table, prefix, json_array_size(items), "incident report",
	                        next != NULL);
	goto done;

out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	rc = RC_REFUSED;
done:
	json_decref(items);
	json_decref(next);
	return rc;
}
