/* Absences and their reporting: `absent`, `concern`, `returned` and `notifications`. */
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

static const char *reason_words(const char *reason)
{
	return reason ? format_notify_reason(reason) : "no reason given";
}

/* The centre of an absence, for its time zone: the absence may name it, else the resident. */
static void absence_centre(struct session *session, const json_t *absence,
                           struct centre_ref *centre)
{
	const char *id = jget_str(absence, "centre");
	const json_t *resident = json_object_get(absence, "resident");
	long long resident_id;
	if (id == NULL && json_is_object(resident))
		id = jget_str(resident, "centre");
	if (id == NULL && jvalue_id(resident, &resident_id)) {
		/* The resident says where they live (and the answer is kept for the label). */
		char path[128];
		json_t *known = NULL;
		bool was_quiet = session->quiet;
		session->quiet = true;
		snprintf(path, sizeof(path), "/v1/residents/%lld", resident_id);
		if (session_get_cached(session, path, &known) == RC_OK)
			id = jget_str(known, "centre");
		session->quiet = was_quiet;
	}
	centre_lookup(session, id, centre);
}

/* The resident of an absence for display. */
static void absence_resident(struct session *session, const json_t *absence,
                             const struct centre_ref *centre, char *out, size_t outlen)
{
	const json_t *resident = json_object_get(absence, "resident");
	long long id;
	if (json_is_object(resident))
		resident_label_of(resident, out, outlen);
	else if (jvalue_id(resident, &id))
		resident_label(session, centre->id[0] ? centre : NULL, id, out, outlen);
	else
		snprintf(out, outlen, "the resident");
}

enum headline { HEAD_REPORTED, HEAD_CONCERN, HEAD_RETURNED };

/* What an absence means now, in a few lines: who, since when, the authorities. */
static void print_absence(struct session *session, const json_t *absence, enum headline headline)
{
	struct centre_ref centre;
	char who[300], since[ZONE_TEXT_SIZE], when[ZONE_TEXT_SIZE], id[32];
	absence_centre(session, absence, &centre);
	absence_resident(session, absence, &centre, who, sizeof(who));
	jget_text(absence, "id", id, sizeof(id));

	char *clean_who = format_clean(who);
	switch (headline) {
	case HEAD_REPORTED:
		printf("Absence %s", id);
		break;
	case HEAD_CONCERN:
		printf("Concern recorded on absence %s", id);
		break;
	case HEAD_RETURNED:
		printf("Absence %s closed", id);
		break;
	}
	printf(": %s", clean_who ? clean_who : "");
	free(clean_who);
	const char *since_text = jget_str(absence, "since");
	if (since_text != NULL)
		printf(", away since %s", zone_format_instant(centre.timezone, since_text, since));
	printf(".\n");

	const char *reason = jget_str(absence, "reason");
	const char *notified_at = jget_str(absence, "notified_at");
	const char *notify_at = jget_str(absence, "notify_at");
	const char *returned_at = jget_str(absence, "returned_at");
	if (returned_at != NULL)
		printf("Back at %s.\n", zone_format_instant(centre.timezone, returned_at, when));
	if (notified_at != NULL)
		printf("Authorities notified at %s (%s).\n",
		       zone_format_instant(centre.timezone, notified_at, when),
		       reason_words(reason));
	else if (notify_at != NULL && returned_at == NULL)
		printf("Authorities will be notified at %s (%s) unless the resident is back.\n",
		       zone_format_instant(centre.timezone, notify_at, when), reason_words(reason));
	if (returned_at != NULL)
		printf(notified_at ? "The authorities are told of the return.\n"
		                   : "The authorities had not been notified: nobody outside the "
		                     "centre is told.\n");
}

/* Sends a change and shows the absence it answers with. */
static int send_and_show(struct session *session, const char *path, const json_t *body,
                         enum headline headline)
{
	json_t *answer = NULL;
	int rc = session_send(session, "POST", path, body, &answer);
	if (rc == RC_OK) {
		if (session->json)
			rc = print_json(answer ? answer : json_null()) ? RC_OK : RC_REFUSED;
		else
			print_absence(session, answer, headline);
	}
	json_decref(answer);
	return rc;
}

int cmd_absent(struct session *session, const struct cmd_args *args)
{
	const char *case_number = args->positional[0];
	const char *concern = args->value[OPT_CONCERN];
	const char *note = args->value[OPT_NOTE];

	if (concern != NULL && concern[0] == '\0')
		return usage_error(args, "--concern needs the concern in words");
	if (note != NULL && note[0] == '\0')
		note = NULL;

	json_t *resident = NULL;
	int rc = resolve_resident(session, args, case_number, NULL, 0, &resident);
	if (rc != RC_OK)
		return rc;
	long long id = 0;
	(void)jget_int(resident, "id", &id);
	json_decref(resident);

	json_t *body = json_pack("{sbss*}", "known_departure",
	                         args->value[OPT_KNOWN_DEPARTURE] != NULL, "note", note);
	if (body == NULL ||
	    json_object_set_new(body, "concern", concern ? json_string(concern) : json_null()) !=
	        0) {
		json_decref(body);
		fprintf(stderr, "rollcall: out of memory\n");
		return RC_REFUSED;
	}
	char path[128];
	if (!path_format(path, sizeof(path), "/v1/residents/%lld/absences", id)) {
		json_decref(body);
		return RC_USAGE;
	}
	rc = send_and_show(session, path, body, HEAD_REPORTED);
	json_decref(body);
	return rc;
}

int cmd_concern(struct session *session, const struct cmd_args *args)
{
	const char *text = args->positional[1];
	if (text[0] == '\0')
		return usage_error(args, "the concern needs words");

	long long absence_id;
	int rc = resolve_absence(session, args, args->positional[0], &absence_id);
	if (rc != RC_OK)
		return rc;
	json_t *body = json_pack("{ss}", "text", text);
	char path[128];
	if (body == NULL ||
	    !path_format(path, sizeof(path), "/v1/absences/%lld/concern", absence_id)) {
		json_decref(body);
		return RC_REFUSED;
	}
	rc = send_and_show(session, path, body, HEAD_CONCERN);
	json_decref(body);
	return rc;
}

int cmd_returned(struct session *session, const struct cmd_args *args)
{
	const char *at = args->value[OPT_AT];
	time_t instant;
	char normalised[INSTANT_TEXT_SIZE];
	struct date any_day = {2026, 1, 1};

	/* The form is checked before anything is asked of the server; the centre's zone then says
	 * what a local time means. */
	if (at != NULL && !zone_parse_local("UTC", at, &any_day, &instant))
		return usage_error(args,
		                   "--at: '%s' is not a time (07:05, \"2026-11-21 08:15\" in the "
		                   "centre's time, or 2026-11-21T08:15:00+01:00)",
		                   at);
	long long absence_id;
	int rc = resolve_absence(session, args, args->positional[0], &absence_id);
	if (rc != RC_OK)
		return rc;
	if (at != NULL) {
		struct centre_ref centre;
		struct date today;
		centre_lookup(session, args->value[OPT_CENTRE], &centre);
		zone_date(centre.timezone, session_now(session), &today);
		if (!zone_parse_local(centre.timezone, at, &today, &instant))
			return usage_error(args,
			                   "--at: %s does not exist in %s (the clocks skip it)", at,
			                   centre.timezone[0] ? centre.timezone : "this zone");
		instant_format_utc(instant, normalised);
	}
	json_t *body = at ? json_pack("{ss}", "at", normalised) : json_object();
	char path[128];
	if (body == NULL ||
	    !path_format(path, sizeof(path), "/v1/absences/%lld/return", absence_id)) {
		json_decref(body);
		return RC_REFUSED;
	}
	rc = send_and_show(session, path, body, HEAD_RETURNED);
	json_decref(body);
	return rc;
}

/* Long because it lists and then prints each notification with its delivery state in the
 * centre's time; the printing is most of it and is used nowhere else. */
int cmd_notifications(struct session *session, const struct cmd_args *args)
{
	const char *absence = args->value[OPT_ABSENCE];
	char query[PATH_PART_SIZE * 2 + 64] = "";
	struct centre_ref centre = {0};

	if (absence != NULL && (absence[0] == '\0' || strlen(absence) > 18 ||
	                        strspn(absence, "0123456789") != strlen(absence)))
		return usage_error(args, "--absence: '%s' is not an absence id", absence);

	/* An absence names its centre; without one the centre is needed. */
	if (absence == NULL || args->value[OPT_CENTRE] != NULL) {
		char escaped[PATH_PART_SIZE];
		int rc = resolve_centre(session, args, &centre);
		if (rc != RC_OK)
			return rc;
		if (!path_escape(centre.id, escaped))
			return RC_USAGE;
		snprintf(query, sizeof(query), "centre=%s", escaped);
	}
	if (absence != NULL) {
		size_t used = strlen(query);
		snprintf(query + used, sizeof(query) - used, "%sabsence=%s", used ? "&" : "",
		         absence);
	}
	char path[sizeof(query) + 32];
	if (!path_format(path, sizeof(path), "/v1/notifications?%s", query))
		return RC_USAGE;

	json_t *items = NULL;
	int rc = session_list(session, path, &items);
	if (rc != RC_OK)
		return rc;
	if (session->json) {
		json_t *document = json_pack("{sOsn}", "items", items, "next");
		rc = document && print_json(document) ? RC_OK : RC_REFUSED;
		json_decref(document);
		json_decref(items);
		return rc;
	}

	static const char *const headers[] = {"RESIDENT",   "ABSENCE", "AUTHORITY", "TYPE",
	                                      "DUE",        "STATE",   "RECEIPT",   "ATTEMPTS",
	                                      "LAST ERROR", "EVENT"};
	static const enum table_align align[] = {TABLE_LEFT, TABLE_RIGHT, TABLE_LEFT, TABLE_LEFT,
	                                         TABLE_LEFT, TABLE_LEFT,  TABLE_LEFT, TABLE_RIGHT,
	                                         TABLE_LEFT, TABLE_LEFT};
	struct table *table = table_new(10, headers, align);
	if (table == NULL)
		goto out_of_memory;
	size_t index;
	json_t *item;
	json_array_foreach(items, index, item)
	{
		char due[ZONE_TEXT_SIZE], delivered[ZONE_TEXT_SIZE], type[64], authority[64],
		    attempts[16], last_error[200], event[80], who[300] = "", absence_id[32],
		                                              state[120], receipt[300] = "",
		                                              at[ZONE_TEXT_SIZE], by[128];
		struct centre_ref place = centre;
		long long resident;
		/* Each notification in its own centre's time (--absence alone names none). */
		if (place.id[0] == '\0')
			centre_lookup(session, jget_str(item, "centre"), &place);
		if (jvalue_id(json_object_get(item, "resident"), &resident))
			resident_label(session, &place, resident, who, sizeof(who));
		zone_format_instant(place.timezone, jget_str(item, "due_at"), due);
		zone_format_instant(place.timezone, jget_str(item, "delivered_at"), delivered);
		if (delivered[0] != '\0')
			snprintf(state, sizeof(state), "delivered %s", delivered);
		else {
			/* Failing: notification_failing asks staff to phone; give the number. */
			const char *how = jget_str(item, "state");
			char phone[64] = "";
			if (how != NULL && strcmp(how, "failing") == 0)
				authority_phone(session, &place, jget_str(item, "authority"), phone,
				                sizeof(phone));
			snprintf(state, sizeof(state), "NOT DELIVERED%s%s%s%s", how ? ": " : "",
			         how ? how : "", phone[0] ? ", phone " : "", phone);
		}
		/* The receipt (SPEC section 5, v2), when the server reports one. */
		const json_t *confirmed = json_object_get(item, "receipt");
		if (json_is_object(confirmed))
			snprintf(receipt, sizeof(receipt), "confirmed %s by %s",
			         zone_format_instant(place.timezone, jget_str(confirmed, "at"), at),
			         jget_text(confirmed, "received_by", by, sizeof(by)));
		else if (json_is_null(confirmed) && delivered[0])
			snprintf(receipt, sizeof(receipt), "not confirmed");
		const char *cells[] = {
		    who,
		    jget_text(item, "absence", absence_id, sizeof(absence_id)),
		    jget_text(item, "authority", authority, sizeof(authority)),
		    jget_text(item, "type", type, sizeof(type)),
		    due,
		    state,
		    receipt,
		    jget_text(item, "attempts", attempts, sizeof(attempts)),
		    jget_text(item, "last_error", last_error, sizeof(last_error)),
		    jget_text(item, "event_id", event, sizeof(event))};
		if (!table_add_row(table, cells))
			goto out_of_memory;
	}
	if (table_rows(table) == 0) {
		printf("No notifications.\n");
	} else {
		rc = print_table(table);
	}
	table_free(table);
	json_decref(items);
	return rc;

out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	table_free(table);
	json_decref(items);
	return RC_REFUSED;
}
