/* `rollcall incident CASE KIND`: staff report an incident (IN8, IN9, IN10, underretning; SPEC
 * section 7a) about a resident (POST /v1/residents/{id}/incidents). The description is written
 * in the user's editor; an empty one, or an editor that fails, sends nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dates.h"
#include "editor.h"
#include "format.h"
#include "json_get.h"
#include "office.h"
#include "resolve.h"
#include "session.h"

/* The kinds of SPEC section 7a, with what each reports (for the editor's intro). */
static const struct {
	const char *kind;
	const char *words;
} incident_kinds[] = {
    {"in8", "IN8: suspected radicalisation or harassment (to the Immigration Service)"},
    {"in9", "IN9: crime (to the Immigration Service and the police)"},
    {"in10", "IN10: use of force against the resident (to the Immigration Service)"},
    {"underretning", "underretning: a child at risk (to the municipality's social services)"},
};
#define INCIDENT_KIND_COUNT (sizeof(incident_kinds) / sizeof(incident_kinds[0]))
#define POLICE_REPORT_MAX 100

static int kind_index(const char *kind)
{
	for (size_t i = 0; i < INCIDENT_KIND_COUNT; i++)
		if (strcmp(incident_kinds[i].kind, kind) == 0)
			return (int)i;
	return -1;
}

static int print_incident(const json_t *incident, const char *label, const char *zone)
{
	char id[24], when[OFFICE_WHEN_SIZE], kind[32];
	char *who = format_clean(label);
	jget_text(incident, "id", id, sizeof(id));
	jget_text(incident, "kind", kind, sizeof(kind));
	printf("Incident %s (%s) about %s, occurred %s, reported.\n", id, kind, who ? who : "",
	       office_when(zone, jget_str(incident, "occurred_at"), when));
	free(who);
	const json_t *notifications = json_object_get(incident, "notifications");
	size_t index;
	json_t *delivery;
	json_array_foreach(notifications, index, delivery)
	{
		char authority[32];
		jget_text(delivery, "authority", authority, sizeof(authority));
		printf("  %-13s %s\n", authority,
		       jget_str(delivery, "delivered_at") ? "delivered" : "being sent");
	}
	return flush_stdout() ? RC_OK : RC_REFUSED;
}

int cmd_incident(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	const char *kind = args->positional[1], *report = args->value[OPT_POLICE_REPORT];
	if (!office_resident_syntax_ok(args->positional[0]))
		return usage_error(args, "CASE: '%s' is not a case number or id:N",
		                   args->positional[0]);
	int k = kind_index(kind);
	if (k < 0)
		return usage_error(args, "KIND: '%s' is not in8, in9, in10 or underretning", kind);
	if (report != NULL &&
	    (report[strspn(report, " \t")] == '\0' || strlen(report) > POLICE_REPORT_MAX))
		return usage_error(args,
		                   "--police-report: '%s' is not a report number (1 to %d "
		                   "characters)",
		                   report, POLICE_REPORT_MAX);
	if (!office_instant_valid(args, OPT_OCCURRED_AT, &rc))
		return rc;

	long long id;
	json_t *resident = NULL;
	struct centre_ref centre;
	rc = office_resident(session, args, args->positional[0], &id, &resident, &centre);
	if (rc != RC_OK)
		return rc;
	char label[400];
	resident_label_of(resident, label, sizeof(label));
	json_decref(resident);
	char occurred[INSTANT_TEXT_SIZE];
	if (args->value[OPT_OCCURRED_AT] != NULL) {
		if (!office_instant_option(args, OPT_OCCURRED_AT, centre.timezone, occurred, &rc))
			return rc;
	} else {
		/* Now by the daemon's clock (its Date header), which a test build may set. */
		instant_format_utc(session_now(session), occurred);
	}

	char intro[1200], err[512], when[OFFICE_WHEN_SIZE];
	char *clean = format_clean(label);
	snprintf(intro, sizeof(intro),
	         "\n# Describe the incident: what happened, who was involved, what was done.\n"
	         "# %s\n# Resident: %s; occurred %s.\n"
	         "# Lines starting with # are left out. An empty description sends nothing.\n",
	         incident_kinds[k].words, clean ? clean : "",
	         office_when(centre.timezone, occurred, when));
	free(clean);
	char *description = NULL;
	switch (editor_compose(intro, &description, err, sizeof(err))) {
	case EDITOR_TEXT:
		break;
	case EDITOR_EMPTY:
		fprintf(stderr, "rollcall: the description is empty: nothing was sent\n");
		return RC_USAGE;
	case EDITOR_FAILED:
		fprintf(stderr, "rollcall: %s: nothing was sent\n", err);
		return RC_USAGE;
	}

	char path[96];
	json_t *body = json_pack("{ssssss}", "kind", kind, "occurred_at", occurred, "description",
	                         description);
	free(description);
	if (body == NULL || !path_format(path, sizeof(path), "/v1/residents/%lld/incidents", id)) {
		json_decref(body);
		return RC_REFUSED;
	}
	if (report != NULL &&
	    json_object_set_new(body, "police_report_number", json_string(report)) != 0) {
		json_decref(body);
		return RC_REFUSED;
	}
	json_t *incident = NULL;
	rc = session_send(session, "POST", path, body, &incident);
	json_decref(body);
	if (rc == RC_OK && !office_json_printed(session, incident, &rc))
		rc = print_incident(incident, label, centre.timezone);
	json_decref(incident);
	return rc;
}
