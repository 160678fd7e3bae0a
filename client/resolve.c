/* From what staff type to what the API needs (see resolve.h). Case numbers are resolved by
 * listing residents, since the API addresses residents by id only; lists are cached for the run
 * so a batch round or a watch lists each centre once. */
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format.h"
#include "json_get.h"
#include "zone.h"

static void centre_from_json(const json_t *centre, struct centre_ref *out)
{
	memset(out, 0, sizeof(*out));
	char id[sizeof(out->id)];
	jget_text(centre, "id", id, sizeof(id));
	snprintf(out->id, sizeof(out->id), "%s", id);
	char *name = format_clean(jget_str(centre, "name") ? jget_str(centre, "name") : id);
	snprintf(out->name, sizeof(out->name), "%s", name ? name : id);
	free(name);
	const char *zone = jget_str(centre, "timezone");
	/* Only Olson-style names: TZ also accepts POSIX rules, which a server has no reason to
	 * send. */
	if (zone != NULL && strlen(zone) < sizeof(out->timezone) && zone[0] != ':' &&
	    strstr(zone, "..") == NULL) {
		snprintf(out->timezone, sizeof(out->timezone), "%s", zone);
		zone_set_display(out->timezone);
	}
}

/* The account's centres, cached. */
static int list_centres(struct session *session, json_t **centres)
{
	return session_list_cached(session, "/v1/centres", centres);
}

int resolve_centre(struct session *session, const struct cmd_args *args, struct centre_ref *out)
{
	const char *chosen = args->value[OPT_CENTRE];

	if (chosen != NULL) {
		char escaped[PATH_PART_SIZE], path[512];
		json_t *centre = NULL;
		if (chosen[0] == '\0')
			return usage_error(args, "--centre needs a centre id");
		if (!path_escape(chosen, escaped) ||
		    !path_format(path, sizeof(path), "/v1/centres/%s", escaped))
			return RC_USAGE;
		int rc = session_get_cached(session, path, &centre);
		if (rc != RC_OK)
			return rc;
		centre_from_json(centre, out);
		if (out->id[0] == '\0')
			snprintf(out->id, sizeof(out->id), "%s", chosen);
		return RC_OK;
	}

	json_t *centres = NULL;
	int rc = list_centres(session, &centres);
	if (rc != RC_OK)
		return rc;
	size_t count = json_array_size(centres);
	if (count == 1) {
		centre_from_json(json_array_get(centres, 0), out);
		return RC_OK;
	}
	if (count == 0) {
		fprintf(stderr, "rollcall: your account has no centre; ask an administrator\n");
		return RC_REFUSED;
	}
	char list[1024] = "";
	size_t index;
	json_t *centre;
	json_array_foreach(centres, index, centre)
	{
		char id[80];
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "%s%s", index ? ", " : "",
		         jget_text(centre, "id", id, sizeof(id)));
	}
	return usage_error(args, "your account has %zu centres (%s): choose one with --centre ID",
	                   count, list);
}

void centre_lookup(struct session *session, const char *centre_id, struct centre_ref *out)
{
	json_t *centres = NULL;
	bool was_quiet = session->quiet;
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", centre_id ? centre_id : "");
	snprintf(out->name, sizeof(out->name), "%s", out->id);
	session->quiet = true;
	if (list_centres(session, &centres) == RC_OK) {
		size_t index;
		json_t *centre;
		json_array_foreach(centres, index, centre)
		{
			char id[80];
			if (centre_id != NULL &&
			    strcmp(jget_text(centre, "id", id, sizeof(id)), centre_id) == 0) {
				centre_from_json(centre, out);
				break;
			}
		}
		/* Unknown centre, but the account has one: that is where its times are. */
		if (centre_id == NULL && json_array_size(centres) == 1)
			centre_from_json(json_array_get(centres, 0), out);
	}
	session->quiet = was_quiet;
}

/* The residents enrolled at centre on `on`, or on the centre's local today by the daemon's clock
 * when on is NULL (a test clock may be days away from this machine's); cached for the run,
 * borrowed. */
static int list_residents(struct session *session, const char *centre_id, const struct date *on,
                          json_t **residents)
{
	char escaped[PATH_PART_SIZE], path[512], day[DATE_TEXT_SIZE];
	if (on != NULL)
		date_format(on, day);
	if (!path_escape(centre_id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/centres/%s/residents%s%s", escaped,
	                 on ? "?on=" : "", on ? day : ""))
		return RC_USAGE;
	return session_list_cached(session, path, residents);
}

/* Looks for the case number in one list: an exact match, else the only match ignoring case. */
static json_t *find_case(const json_t *residents, const char *case_number)
{
	json_t *folded = NULL;
	int folded_count = 0;
	size_t index;
	json_t *resident;
	json_array_foreach(residents, index, resident)
	{
		const char *candidate = jget_str(resident, "case_number");
		if (candidate == NULL)
			continue;
		if (strcmp(candidate, case_number) == 0)
			return resident;
		if (strcasecmp(candidate, case_number) == 0) {
			folded = resident;
			folded_count++;
		}
	}
	return folded_count == 1 ? folded : NULL;
}

/* As resolve_resident, but *resident stays NULL (and nothing is printed) when nobody has the
 * case number. */
static int find_resident(struct session *session, const struct cmd_args *args,
                         const char *case_number, const struct date *dates, int count,
                         json_t **resident)
{
	*resident = NULL;
	json_t *centres = NULL;
	int rc;

	if (args->value[OPT_CENTRE] != NULL) {
		struct centre_ref centre;
		rc = resolve_centre(session, args, &centre);
		if (rc != RC_OK)
			return rc;
		centres = json_pack("[{ss}]", "id", centre.id);
		if (centres == NULL)
			return RC_UNREACHABLE;
		if (centre.timezone[0] != '\0')
			json_object_set_new(json_array_get(centres, 0), "timezone",
			                    json_string(centre.timezone));
	} else {
		rc = list_centres(session, &centres);
		if (rc != RC_OK)
			return rc;
		json_incref(centres);
	}

	size_t index;
	json_t *centre_json;
	json_array_foreach(centres, index, centre_json)
	{
		struct centre_ref centre;
		centre_from_json(centre_json, &centre);
		if (centre.id[0] == '\0')
			continue;
		/* The given days, then the centre's today. */
		for (int d = 0; d <= count; d++) {
			json_t *residents = NULL;
			rc = list_residents(session, centre.id, d < count ? &dates[d] : NULL,
			                    &residents);
			if (rc != RC_OK)
				goto done;
			json_t *found = find_case(residents, case_number);
			if (found != NULL) {
				*resident = json_deep_copy(found);
				if (*resident == NULL) {
					rc = RC_UNREACHABLE;
					goto done;
				}
				if (!json_is_string(json_object_get(*resident, "centre")))
					json_object_set_new(*resident, "centre",
					                    json_string(centre.id));
				goto done;
			}
		}
	}
done:
	json_decref(centres);
	return rc;
}

int resolve_resident(struct session *session, const struct cmd_args *args, const char *case_number,
                     const struct date *dates, int count, json_t **resident)
{
	int rc = find_resident(session, args, case_number, dates, count, resident);
	if (rc == RC_OK && *resident == NULL) {
		const char *where = args->value[OPT_CENTRE] ? " at centre " : " at your centres";
		return usage_error(args, "no resident with case number '%s'%s%s", case_number,
		                   where, args->value[OPT_CENTRE] ? args->value[OPT_CENTRE] : "");
	}
	if (rc == RC_OK) {
		long long id;
		if (!jget_int(*resident, "id", &id)) {
			fprintf(stderr, "rollcall: the server listed %s without an id\n",
			        case_number);
			json_decref(*resident);
			*resident = NULL;
			return RC_UNREACHABLE;
		}
	}
	return rc;
}

static bool all_digits(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 18 && strspn(s, "0123456789") == n;
}

/* The open absence of a resident, from the centre's open absences. */
static int open_absence_of(struct session *session, const json_t *resident, const char *case_number,
                           long long *absence_id)
{
	long long resident_id = 0;
	(void)jget_int(resident, "id", &resident_id);
	const char *centre = jget_str(resident, "centre");
	char escaped[PATH_PART_SIZE], path[512];
	json_t *absences = NULL;

	if (centre == NULL || !path_escape(centre, escaped) ||
	    !path_format(path, sizeof(path), "/v1/absences?centre=%s&open=true", escaped))
		return RC_USAGE;
	int rc = session_list(session, path, &absences);
	if (rc != RC_OK)
		return rc;
	size_t index;
	json_t *absence;
	rc = RC_REFUSED;
	json_array_foreach(absences, index, absence)
	{
		long long who;
		const json_t *whom = json_object_get(absence, "resident");
		/* The resident may come as an id or as an object with one. */
		bool known =
		    json_is_object(whom) ? jget_int(whom, "id", &who) : jvalue_id(whom, &who);
		if (known && who == resident_id && jget_int(absence, "id", absence_id)) {
			rc = RC_OK;
			break;
		}
	}
	json_decref(absences);
	if (rc != RC_OK)
		fprintf(stderr, "rollcall: %s has no open absence\n", case_number);
	return rc;
}

int resolve_absence(struct session *session, const struct cmd_args *args, const char *text,
                    long long *absence_id)
{
	if (strncmp(text, "absence:", 8) == 0) {
		if (!all_digits(text + 8))
			return usage_error(args, "'%s' is not an absence id", text + 8);
		*absence_id = strtoll(text + 8, NULL, 10);
		return RC_OK;
	}
	bool forced_case = strncmp(text, "case:", 5) == 0;
	const char *case_number = forced_case ? text + 5 : text;
	if (case_number[0] == '\0')
		return usage_error(args, "a case number or absence id is needed");

	json_t *resident = NULL;
	int rc = find_resident(session, args, case_number, NULL, 0, &resident);
	if (rc != RC_OK)
		return rc;

	if (resident != NULL && all_digits(text) && !forced_case) {
		/* A number that is a case number might also be an absence id: attaching a concern
		 * to the wrong child is worse than asking. */
		char path[128];
		struct call call = {.method = "GET", .path = path, .quiet = true};
		struct answer answer;
		if (!path_format(path, sizeof(path), "/v1/absences/%s", text)) {
			json_decref(resident);
			return RC_USAGE;
		}
		int probe = session_call(session, &call, &answer);
		answer_free(&answer);
		if (probe == RC_OK) {
			json_decref(resident);
			return usage_error(args,
			                   "'%s' is both a case number and an absence id: write "
			                   "case:%s or absence:%s",
			                   text, text, text);
		}
	}
	if (resident != NULL) {
		rc = open_absence_of(session, resident, case_number, absence_id);
		json_decref(resident);
		return rc;
	}
	if (all_digits(text)) {
		*absence_id = strtoll(text, NULL, 10);
		return RC_OK;
	}
	return usage_error(args, "no resident with case number '%s' at your centres", case_number);
}

void resident_label_of(const json_t *resident, char *out, size_t outlen)
{
	const char *case_number = jget_str(resident, "case_number");
	const char *given = jget_str(resident, "given_name");
	const char *family = jget_str(resident, "family_name");
	long long id = 0;
	(void)jget_int(resident, "id", &id);

	if (case_number == NULL)
		snprintf(out, outlen, "resident %lld", id);
	else
		snprintf(out, outlen, "%s%s%s%s%s", case_number, given || family ? " " : "",
		         given ? given : "", given && family ? " " : "", family ? family : "");
}

const json_t *resident_find(struct session *session, const struct centre_ref *centre,
                            long long resident_id)
{
	const json_t *found = NULL;
	bool was_quiet = session->quiet;
	session->quiet = true;

	if (centre != NULL) {
		json_t *residents = NULL;
		if (list_residents(session, centre->id, NULL, &residents) == RC_OK) {
			size_t index;
			json_t *resident;
			json_array_foreach(residents, index, resident)
			{
				long long id;
				if (jget_int(resident, "id", &id) && id == resident_id) {
					found = resident;
					goto done;
				}
			}
		}
	}

	/* Not enrolled today (left, or moved): ask for the resident itself, once per run. A
	 * failed lookup is not kept, so a later alert tries again. */
	char path[128];
	json_t *resident = NULL;
	snprintf(path, sizeof(path), "/v1/residents/%lld", resident_id);
	if (session_get_cached(session, path, &resident) == RC_OK && json_is_object(resident))
		found = resident;
done:
	session->quiet = was_quiet;
	return found;
}

void resident_label(struct session *session, const struct centre_ref *centre, long long resident_id,
                    char *out, size_t outlen)
{
	const json_t *resident = resident_find(session, centre, resident_id);
	if (resident != NULL)
		resident_label_of(resident, out, outlen);
	else
		snprintf(out, outlen, "resident %lld", resident_id);
}

/* The phone number the centre keeps for an authority (centres' "authorities[].phone"), or "". */
void authority_phone(struct session *session, const struct centre_ref *centre,
                     const char *authority, char *out, size_t outlen)
{
	char escaped[PATH_PART_SIZE], path[512];
	json_t *known = NULL;
	out[0] = '\0';
	if (authority == NULL || !path_escape(centre->id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/centres/%s", escaped))
		return;
	bool was_quiet = session->quiet;
	session->quiet = true;
	int rc = session_get_cached(session, path, &known);
	session->quiet = was_quiet;
	if (rc != RC_OK)
		return;
	size_t index;
	const json_t *entry;
	json_array_foreach(json_object_get(known, "authorities"), index, entry)
	{
		const char *kind = jget_str(entry, "kind"), *phone = jget_str(entry, "phone");
		if (kind && phone && strcmp(kind, authority) == 0)
			snprintf(out, outlen, "%s", phone);
	}
}
