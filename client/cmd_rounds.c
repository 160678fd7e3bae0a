/* `rollcall rounds`: the day's rounds at a centre and, for each one due and not complete, every
 * resident not yet accounted for (nobody knows where first, then those already reported
 * absent); `rollcall absences`: the open absences with the time left until the authorities are
 * notified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dates.h"
#include "format.h"
#include "json_get.h"
#include "resolve.h"
#include "session.h"
#include "zone.h"

/* The centre's open absences by resident id, for marks: {"<id>": absence}. New object. */
static json_t *open_absences(struct session *session, const struct centre_ref *centre,
                             json_t **list)
{
	char escaped[PATH_PART_SIZE], path[512];
	json_t *by_resident = json_object();
	*list = NULL;
	if (by_resident == NULL || !path_escape(centre->id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/absences?centre=%s&open=true", escaped) ||
	    session_list(session, path, list) != RC_OK)
		return by_resident;
	size_t index;
	json_t *absence;
	json_array_foreach(*list, index, absence)
	{
		long long who;
		char key[32];
		if (jvalue_id(json_object_get(absence, "resident"), &who)) {
			snprintf(key, sizeof(key), "%lld", who);
			json_object_set(by_resident, key, absence);
		}
	}
	return by_resident;
}

/* The residents of a round (GET .../rounds/{date}/{slot}) with no current observation, as
 * [{"id","case_number","name","reported_absent"}], unknown ones first. New array or NULL. */
static json_t *unaccounted(struct session *session, const struct centre_ref *centre,
                           const char *date, long long slot, const json_t *away)
{
	char escaped[PATH_PART_SIZE], path[600];
	json_t *round = NULL;
	if (!path_escape(centre->id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/centres/%s/rounds/%s/%lld", escaped, date,
	                 slot) ||
	    session_get(session, path, &round) != RC_OK)
		return NULL;
	json_t *unknown = json_array(), *reported = json_array();
	size_t index;
	const json_t *item;
	json_array_foreach(json_object_get(round, "residents"), index, item)
	{
		long long id;
		char key[32], name[300];
		if (json_is_object(json_object_get(item, "observation")) ||
		    !jget_int(item, "resident", &id))
			continue;
		snprintf(key, sizeof(key), "%lld", id);
		bool is_away = json_object_get(away, key) != NULL;
		const char *given = jget_str(item, "given_name"),
		           *family = jget_str(item, "family_name");
		snprintf(name, sizeof(name), "%s%s%s", given ? given : "",
		         given && family ? " " : "", family ? family : "");
		json_t *entry =
		    json_pack("{sIsssssb}", "id", (json_int_t)id, "case_number",
		              jget_str(item, "case_number") ? jget_str(item, "case_number") : "",
		              "name", name, "reported_absent", is_away);
		if (entry != NULL)
			(void)json_array_append_new(is_away ? reported : unknown, entry);
	}
	json_decref(round);
	if (unknown != NULL && reported != NULL)
		(void)json_array_extend(unknown, reported);
	json_decref(reported);
	return unknown;
}

int cmd_rounds(struct session *session, const struct cmd_args *args)
{
	const char *date_text = args->value[OPT_DATE];
	struct date day;
	struct centre_ref centre;
	char escaped[PATH_PART_SIZE], path[600];
	if (date_text != NULL && !date_parse(date_text, &day))
		return usage_error(args, "--date: '%s' is not a date (YYYY-MM-DD)", date_text);
	int rc = resolve_centre(session, args, &centre);
	if (rc != RC_OK)
		return rc;
	if (!path_escape(centre.id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/centres/%s/rounds%s%s", escaped,
	                 date_text ? "?date=" : "", date_text ? date_text : ""))
		return RC_USAGE;
	json_t *rounds = NULL, *absences = NULL;
	rc = session_list(session, path, &rounds);
	if (rc != RC_OK)
		return rc;
	json_t *away = open_absences(session, &centre, &absences);
	time_t now = session_now(session);

	/* Every round already due and not complete names who is missing. */
	size_t index;
	json_t *item;
	json_array_foreach(rounds, index, item)
	{
		time_t at;
		long long slot = 0;
		const char *status = jget_str(item, "status");
		if (!instant_parse(jget_str(item, "scheduled_at"), &at) || at > now ||
		    (status && strcmp(status, "complete") == 0) || !jget_int(item, "slot", &slot))
			continue;
		json_t *missing = unaccounted(session, &centre, jget_str(item, "date"), slot, away);
		if (missing != NULL)
			json_object_set_new(item, "unaccounted", missing);
	}

	if (session->json) {
		json_t *document = json_pack("{sOsn}", "items", rounds, "next");
		rc = document && print_json(document) ? RC_OK : RC_REFUSED;
		json_decref(document);
		goto done;
	}
	printf("Rounds of %s at %s:\n",
	       jget_str(json_array_get(rounds, 0), "date")
	           ? jget_str(json_array_get(rounds, 0), "date")
	           : "today",
	       centre.name);
	static const char *const headers[] = {"SLOT", "SCHEDULED", "DUE", "STATUS", "RECORDED"};
	static const enum table_align align[] = {TABLE_RIGHT, TABLE_LEFT, TABLE_LEFT, TABLE_LEFT,
	                                         TABLE_RIGHT};
	struct table *table = table_new(5, headers, align);
	if (table == NULL)
		goto out_of_memory;
	json_array_foreach(rounds, index, item)
	{
		char slot[8], scheduled[ZONE_TEXT_SIZE], due[ZONE_TEXT_SIZE], status[24], done[40],
		    recorded[16], expected[16];
		zone_format_instant(centre.timezone, jget_str(item, "scheduled_at"), scheduled);
		zone_format_instant(centre.timezone, jget_str(item, "due_at"), due);
		snprintf(done, sizeof(done), "%s of %s",
		         jget_text(item, "recorded", recorded, sizeof(recorded)),
		         jget_text(item, "expected", expected, sizeof(expected)));
		const char *cells[] = {jget_text(item, "slot", slot, sizeof(slot)), scheduled, due,
		                       jget_text(item, "status", status, sizeof(status)), done};
		if (!table_add_row(table, cells))
			goto out_of_memory;
	}
	rc = print_table(table);
	table_free(table);
	json_array_foreach(rounds, index, item)
	{
		const json_t *missing = json_object_get(item, "unaccounted");
		if (missing == NULL)
			continue;
		char slot[8];
		printf("\nRound %s (%s): %zu not accounted for%s\n",
		       jget_text(item, "slot", slot, sizeof(slot)), jget_str(item, "status"),
		       json_array_size(missing), json_array_size(missing) ? ":" : ".");
		size_t k;
		const json_t *who;
		json_array_foreach(missing, k, who)
		{
			char line[600];
			snprintf(line, sizeof(line), "  %s %s%s", jget_str(who, "case_number"),
			         jget_str(who, "name"),
			         json_is_true(json_object_get(who, "reported_absent"))
			             ? "  (reported absent)"
			             : "");
			char *clean = format_clean(line);
			printf("%s\n", clean ? clean : "");
			free(clean);
		}
	}
done:
	json_decref(away);
	json_decref(absences);
	json_decref(rounds);
	return rc;
out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	table_free(table);
	rc = RC_REFUSED;
	goto done;
}

/* "in 3 h 20 min", "now", "notified 2026-11-21 03:00 CET". */
static void time_left(const json_t *absence, time_t now, const char *zone, char *out, size_t outlen)
{
	char when[ZONE_TEXT_SIZE];
	time_t at;
	const char *notified = jget_str(absence, "notified_at");
	if (notified != NULL) {
		snprintf(out, outlen, "notified %s", zone_format_instant(zone, notified, when));
		return;
	}
	if (!instant_parse(jget_str(absence, "notify_at"), &at)) {
		snprintf(out, outlen, "?");
		return;
	}
	long long minutes = ((long long)at - (long long)now + 59) / 60;
	if (minutes <= 0)
		snprintf(out, outlen, "now (due %s)",
		         zone_format_instant(zone, jget_str(absence, "notify_at"), when));
	else
		snprintf(out, outlen, "in %lld h %02lld min (%s)", minutes / 60, minutes % 60,
		         zone_format_instant(zone, jget_str(absence, "notify_at"), when));
}

int cmd_absences(struct session *session, const struct cmd_args *args)
{
	struct centre_ref centre;
	int rc = resolve_centre(session, args, &centre);
	if (rc != RC_OK)
		return rc;
	json_t *list = NULL;
	json_t *away = open_absences(session, &centre, &list);
	json_decref(away);
	if (list == NULL)
		return session->last_error.kind != NET_NONE ? RC_UNREACHABLE : RC_REFUSED;
	time_t now = session_now(session);
	size_t index;
	json_t *absence;
	/* The case number for scripts, and the minutes left until the authorities hear. */
	json_array_foreach(list, index, absence)
	{
		long long who;
		time_t at;
		if (jvalue_id(json_object_get(absence, "resident"), &who)) {
			const json_t *resident = resident_find(session, &centre, who);
			if (jget_str(resident, "case_number"))
				json_object_set_new(absence, "case_number",
				                    json_string(jget_str(resident, "case_number")));
		}
		if (jget_str(absence, "notified_at") == NULL &&
		    instant_parse(jget_str(absence, "notify_at"), &at))
			json_object_set_new(
			    absence, "minutes_left",
			    json_integer(at > now ? ((long long)at - now + 59) / 60 : 0));
	}
	if (session->json) {
		json_t *document = json_pack("{sOsn}", "items", list, "next");
		rc = document && print_json(document) ? RC_OK : RC_REFUSED;
		json_decref(document);
		json_decref(list);
		return rc;
	}
	if (json_array_size(list) == 0) {
		printf("No open absences at %s.\n", centre.name);
		json_decref(list);
		return RC_OK;
	}
	static const char *const headers[] = {"ID",     "RESIDENT",    "AWAY SINCE",
	                                      "REASON", "AUTHORITIES", "CONCERN"};
	struct table *table = table_new(6, headers, NULL);
	if (table == NULL)
		goto out_of_memory;
	json_array_foreach(list, index, absence)
	{
		char id[32], who[300], since[ZONE_TEXT_SIZE], left[120];
		long long resident = 0;
		(void)jvalue_id(json_object_get(absence, "resident"), &resident);
		resident_label(session, &centre, resident, who, sizeof(who));
		zone_format_instant(centre.timezone, jget_str(absence, "since"), since);
		time_left(absence, now, centre.timezone, left, sizeof(left));
		const char *cells[] = {jget_text(absence, "id", id, sizeof(id)),
		                       who,
		                       since,
		                       format_notify_reason(jget_str(absence, "reason")),
		                       left,
		                       jget_str(absence, "concern")};
		if (!table_add_row(table, cells))
			goto out_of_memory;
	}
	rc = print_table(table);
	table_free(table);
	json_decref(list);
	return rc;
out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	table_free(table);
	json_decref(list);
	return RC_REFUSED;
}
