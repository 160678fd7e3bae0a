/* `rollcall resident edit|move|depart|phase|dob`: a manager's changes to a resident's record.
 * All but `phase` are PATCH /v1/residents/{id} (a move is a new centre from a date, a departure
 * a departure_date, a date-of-birth correction needs its reason, kept in the history); `phase`
 * is POST /v1/residents/{id}/phases. Each prints the resident as it now stands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dates.h"
#include "json_get.h"
#include "office.h"
#include "resolve.h"
#include "session.h"
#include "zone.h"

/* PATCHes the resident WHO with body (stolen), then shows the resident as it now stands. The
 * CASE was checked by the caller. */
static int change_resident(struct session *session, const struct cmd_args *args, const char *who,
                           json_t *body, const char *done)
{
	long long id;
	json_t *found = NULL;
	struct centre_ref centre;
	int rc = office_resident(session, args, who, &id, &found, &centre);
	json_decref(found);
	if (rc != RC_OK) {
		json_decref(body);
		return rc;
	}
	char path[96];
	json_t *changed = NULL;
	if (!path_format(path, sizeof(path), "/v1/residents/%lld", id)) {
		json_decref(body);
		return RC_USAGE;
	}
	rc = session_send(session, "PATCH", path, body, &changed);
	json_decref(body);
	if (rc != RC_OK)
		return rc;
	if (!session->json)
		printf("%s\n", done);
	rc = office_show_resident(session, changed, &centre);
	json_decref(changed);
	return rc;
}

static bool check_who(const struct cmd_args *args, int *rc)
{
	if (office_resident_syntax_ok(args->positional[0]))
		return true;
	*rc = usage_error(args, "CASE: '%s' is not a case number or id:N", args->positional[0]);
	return false;
}

int cmd_resident_edit(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	if (!check_who(args, &rc) || !office_instant_valid(args, OPT_ACCOUNTED_FOR_AT, &rc))
		return rc;
	const char *given = args->value[OPT_GIVEN], *family = args->value[OPT_FAMILY];
	const char *accounted_text = args->value[OPT_ACCOUNTED_FOR_AT];
	if (given == NULL && family == NULL && accounted_text == NULL)
		return usage_error(args, "nothing to change: give --given, --family or "
		                         "--accounted-for-at");
	if ((given != NULL && given[strspn(given, " \t")] == '\0') ||
	    (family != NULL && family[strspn(family, " \t")] == '\0'))
		return usage_error(
		    args, "%s: a name cannot be empty",
		    given != NULL && given[strspn(given, " \t")] == '\0' ? "--given" : "--family");
	json_t *body = json_object();
	if (body == NULL)
		return RC_REFUSED;
	if (given != NULL)
		json_object_set_new(body, "given_name", json_string(given));
	if (family != NULL)
		json_object_set_new(body, "family_name", json_string(family));
	if (accounted_text != NULL) {
		/* A local time is the resident's centre's: look the resident up first (the
		 * lookup is kept for the run, so change_resident does not repeat it for a case
		 * number). */
		long long id;
		json_t *found = NULL;
		struct centre_ref centre;
		char accounted[INSTANT_TEXT_SIZE];
		rc = office_resident(session, args, args->positional[0], &id, &found, &centre);
		json_decref(found);
		if (rc != RC_OK || !office_instant_option(args, OPT_ACCOUNTED_FOR_AT,
		                                          centre.timezone, accounted, &rc)) {
			json_decref(body);
			return rc;
		}
		json_object_set_new(body, "accounted_for_at", json_string(accounted));
	}
	return change_resident(session, args, args->positional[0], body, "Resident changed.");
}

/* The day of a change: --on DATE, or the daemon's today at the resident's centre (moves and
 * phases are most often recorded the day they happen). */
static int change_day(struct session *session, const struct cmd_args *args, int option,
                      const char *who, char day[DATE_TEXT_SIZE])
{
	struct date date;
	const char *text = args->value[option];
	if (text != NULL) {
		if (!date_parse(text, &date))
			return usage_error(args, "--%s: '%s' is not a date (YYYY-MM-DD)",
			                   option == OPT_ON ? "on" : "from", text);
		date_format(&date, day);
		return RC_OK;
	}
	/* Resolved once here and again by change_resident from the run's cache. */
	long long id;
	json_t *found = NULL;
	struct centre_ref centre;
	int rc = office_resident(session, args, who, &id, &found, &centre);
	json_decref(found);
	if (rc != RC_OK)
		return rc;
	zone_date(centre.timezone, session_now(session), &date);
	date_format(&date, day);
	return RC_OK;
}

int cmd_resident_move(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	const char *to_centre = args->positional[1];
	struct date probe;
	if (!check_who(args, &rc))
		return rc;
	if (to_centre[0] == '\0' || strlen(to_centre) > 64)
		return usage_error(args, "CENTRE: '%s' is not a centre id", to_centre);
	if (args->value[OPT_ON] != NULL && !date_parse(args->value[OPT_ON], &probe))
		return usage_error(args, "--on: '%s' is not a date (YYYY-MM-DD)",
		                   args->value[OPT_ON]);
	char day[DATE_TEXT_SIZE];
	rc = change_day(session, args, OPT_ON, args->positional[0], day);
	if (rc != RC_OK)
		return rc;
	json_t *body = json_pack("{ssss}", "centre", to_centre, "moved_on", day);
	if (body == NULL)
		return RC_REFUSED;
	return change_resident(session, args, args->positional[0], body, "Resident moved.");
}

int cmd_resident_depart(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	struct date date;
	if (!check_who(args, &rc))
		return rc;
	if (!date_parse(args->positional[1], &date))
		return usage_error(args, "DATE: '%s' is not a date (YYYY-MM-DD)",
		                   args->positional[1]);
	char day[DATE_TEXT_SIZE];
	date_format(&date, day);
	json_t *body = json_pack("{ss}", "departure_date", day);
	if (body == NULL)
		return RC_REFUSED;
	return change_resident(
	    session, args, args->positional[0], body,
	    "Departure recorded (the last day at the centre is the day before).");
}

int cmd_resident_dob(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	struct date date;
	const char *reason = args->value[OPT_REASON];
	if (!check_who(args, &rc))
		return rc;
	if (!date_parse(args->positional[1], &date))
		return usage_error(args, "DATE: '%s' is not a date (YYYY-MM-DD)",
		                   args->positional[1]);
	if (reason == NULL || reason[strspn(reason, " \t")] == '\0')
		return usage_error(args,
		                   "--reason TEXT is needed: say why the date of birth changes "
		                   "(e.g. the age assessment)");
	char day[DATE_TEXT_SIZE];
	date_format(&date, day);
	json_t *body = json_pack("{ssss}", "date_of_birth", day, "reason", reason);
	if (body == NULL)
		return RC_REFUSED;
	return change_resident(session, args, args->positional[0], body,
	                       "Date of birth corrected (the old one is kept in the history).");
}

int cmd_resident_phase(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	const char *phase_text = args->positional[1];
	struct date probe;
	if (!check_who(args, &rc))
		return rc;
	if (strlen(phase_text) != 1 || phase_text[0] < '1' || phase_text[0] > '3')
		return usage_error(args, "PHASE: '%s' is not 1, 2 or 3", phase_text);
	if (args->value[OPT_FROM] != NULL && !date_parse(args->value[OPT_FROM], &probe))
		return usage_error(args, "--from: '%s' is not a date (YYYY-MM-DD)",
		                   args->value[OPT_FROM]);
	char day[DATE_TEXT_SIZE];
	rc = change_day(session, args, OPT_FROM, args->positional[0], day);
	if (rc != RC_OK)
		return rc;

	long long id;
	json_t *found = NULL;
	struct centre_ref centre;
	rc = office_resident(session, args, args->positional[0], &id, &found, &centre);
	json_decref(found);
	if (rc != RC_OK)
		return rc;
	char path[96];
	if (!path_format(path, sizeof(path), "/v1/residents/%lld/phases", id))
		return RC_USAGE;
	json_t *body = json_pack("{siss}", "phase", phase_text[0] - '0', "from", day);
	json_t *answer = NULL;
	if (body == NULL)
		return RC_REFUSED;
	rc = session_send(session, "POST", path, body, &answer);
	json_decref(body);
	if (rc != RC_OK)
		return rc;
	if (!office_json_printed(session, answer, &rc)) {
		printf("Phase %c from %s recorded.\n", phase_text[0], day);
		json_t *resident = NULL;
		if (!path_format(path, sizeof(path), "/v1/residents/%lld", id)) {
			json_decref(answer);
			return RC_USAGE;
		}
		rc = session_get(session, path, &resident);
		if (rc == RC_OK)
			rc = office_show_resident(session, resident, &centre);
		json_decref(resident);
	}
	json_decref(answer);
	return rc;
}
