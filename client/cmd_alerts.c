/* Alerts for on-call staff: `alerts` (a table), `ack`, and `watch`, which follows the centre's
 * Server-Sent Events stream, prints one line per alert, rings the bell, and reconnects by itself
 * with Last-Event-ID so that no alert is missed or shown twice. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "colour.h"
#include "format.h"
#include "json_get.h"
#include "resolve.h"
#include "rollcall/enums.h"
#include "session.h"
#include "sse.h"
#include "zone.h"

/* The daemon sends a heartbeat comment every ~15 s: three missed mean the server or the path to
 * it is gone, even if TCP has not noticed. */
#define WATCH_SILENCE_MS 45000
#define WATCH_BACKOFF_FIRST_S 1
#define WATCH_BACKOFF_MAX_S 30

/* The alert's resident for display, or "" when the alert is not about one. */
static void alert_resident(struct session *session, const struct centre_ref *centre,
                           const json_t *alert, char *out, size_t outlen)
{
	const json_t *resident = json_object_get(alert, "resident");
	long long id;
	out[0] = '\0';
	if (json_is_object(resident))
		resident_label_of(resident, out, outlen);
	else if (jvalue_id(resident, &id))
		resident_label(session, centre, id, out, outlen);
}

typedef void (*details_fn)(struct session *session, const struct centre_ref *centre,
                           const json_t *details, char *out, size_t outlen);

static void details_resident_absent(struct session *session, const struct centre_ref *centre,
                                    const json_t *details, char *out, size_t outlen)
{
	(void)session;
	(void)centre;
	char since[ZONE_TEXT_SIZE];
	const char *since_text = jget_str(details, "since");
	if (since_text != NULL)
		snprintf(out, outlen, "absent since %s",
		         zone_format_instant(centre->timezone, since_text, since));
	else
		snprintf(out, outlen, "absent");
}

/* The residents a round_overdue alert names, each {"id","case_number","name","reported_absent"}:
 * first those nobody knows about, then those already reported absent (an open absence), each
 * group in the alert's order. A new array, NULL when out of memory. */
static json_t *missing_residents(struct session *session, const struct centre_ref *centre,
                                 const json_t *details)
{
	const json_t *missing = json_object_get(details, "missing");
	json_t *unknown = json_array(), *absent = json_array(), *open = NULL;
	char escaped[PATH_PART_SIZE], path[512];
	bool was_quiet = session->quiet;

	/* Who is away already: a fresh list, since a watch runs for days. */
	session->quiet = true;
	if (path_escape(centre->id, escaped) &&
	    path_format(path, sizeof(path), "/v1/absences?centre=%s&open=true", escaped) &&
	    session_list(session, path, &open) != RC_OK)
		open = NULL;
	session->quiet = was_quiet;
	if (unknown == NULL || absent == NULL)
		goto failed;

	size_t index, k;
	const json_t *item, *absence;
	json_array_foreach(missing, index, item)
	{
		long long id, who;
		if (!jvalue_id(item, &id))
			continue;
		bool away = false;
		json_array_foreach(open, k, absence)
		{
			const json_t *whom = json_object_get(absence, "resident");
			if ((json_is_object(whom) ? jget_int(whom, "id", &who)
			                          : jvalue_id(whom, &who)) &&
			    who == id)
				away = true;
		}
		const json_t *resident = resident_find(session, centre, id);
		char name[300] = "";
		const char *given = jget_str(resident, "given_name");
		const char *family = jget_str(resident, "family_name");
		snprintf(name, sizeof(name), "%s%s%s", given ? given : "",
		         given && family ? " " : "", family ? family : "");
		const char *case_number = jget_str(resident, "case_number");
		json_t *entry = json_pack("{sIsosssb}", "id", (json_int_t)id, "case_number",
		                          case_number ? json_string(case_number) : json_null(),
		                          "name", name, "reported_absent", away);
		if (entry == NULL || json_array_append_new(away ? absent : unknown, entry) != 0)
			goto failed;
	}
	json_decref(open);
	if (json_array_extend(unknown, absent) != 0)
		goto failed;
	json_decref(absent);
	return unknown;
failed:
	json_decref(open);
	json_decref(unknown);
	json_decref(absent);
	return NULL;
}

/* Appends text to out (used so far *used), truncating at outlen. */
static void append(char *out, size_t outlen, size_t *used, const char *text)
{
	if (*used + 1 >= outlen)
		return;
	int n = snprintf(out + *used, outlen - *used, "%s", text);
	*used += n > 0 && (size_t)n < outlen - *used ? (size_t)n : outlen - *used - 1;
}

static void details_round_overdue(struct session *session, const struct centre_ref *centre,
                                  const json_t *details, char *out, size_t outlen)
{
	char date[32], slot[8], line[400];
	json_t *names = missing_residents(session, centre, details);
	size_t count = json_array_size(json_object_get(details, "missing"));
	size_t used = 0;
	snprintf(line, sizeof(line), "round %s #%s not complete: %zu not accounted for",
	         jget_text(details, "date", date, sizeof(date)),
	         jget_text(details, "slot", slot, sizeof(slot)), count);
	append(out, outlen, &used, line);
	/* Every one of them: this is the list on-call staff act on. */
	size_t index;
	const json_t *entry;
	json_array_foreach(names, index, entry)
	{
		long long id = 0;
		(void)jget_int(entry, "id", &id);
		const char *case_number = jget_str(entry, "case_number");
		const char *name = jget_str(entry, "name");
		if (case_number != NULL)
			snprintf(line, sizeof(line), "%s%s%s%s%s", index ? ", " : ": ", case_number,
			         name && name[0] ? " " : "", name ? name : "",
			         json_is_true(json_object_get(entry, "reported_absent"))
			             ? " (reported absent)"
			             : "");
		else
			snprintf(line, sizeof(line), "%sresident %lld", index ? ", " : ": ", id);
		append(out, outlen, &used, line);
	}
	json_decref(names);
}

static void details_absence_reported(struct session *session, const struct centre_ref *centre,
                                     const json_t *details, char *out, size_t outlen)
{
	(void)session;
	(void)centre;
	const char *reason = jget_str(details, "reason");
	snprintf(out, outlen, "authorities notified%s%s%s", reason ? " (" : "",
	         reason ? format_notify_reason(reason) : "", reason ? ")" : "");
}

static void details_notification_failing(struct session *session, const struct centre_ref *centre,
                                         const json_t *details, char *out, size_t outlen)
{
	char authority[64], error[200], phone[64];
	jget_text(details, "authority", authority, sizeof(authority));
	jget_text(details, "last_error", error, sizeof(error));
	authority_phone(session, centre, jget_str(details, "authority"), phone, sizeof(phone));
	snprintf(out, outlen, "%s cannot be reached%s%s: phone them%s%s",
	         authority[0] ? authority : "an authority", error[0] ? " - " : "", error,
	         phone[0] ? " at " : "", phone);
}

static void details_resident_returned(struct session *session, const struct centre_ref *centre,
                                      const json_t *details, char *out, size_t outlen)
{
	(void)session;
	(void)centre;
	char at[ZONE_TEXT_SIZE];
	const char *returned = jget_str(details, "returned_at");
	snprintf(out, outlen, "back%s%s", returned ? " at " : "",
	         returned ? zone_format_instant(centre->timezone, returned, at) : "");
}

static void details_turning_18(struct session *session, const struct centre_ref *centre,
                               const json_t *details, char *out, size_t outlen)
{
	(void)session;
	(void)centre;
	const char *date = jget_str(details, "birthday");
	if (date == NULL)
		date = jget_str(details, "date");
	snprintf(out, outlen, "turns 18%s%s: the stay in the children's scheme ends",
	         date ? " on " : "", date ? date : "");
}

static void details_notification_unconfirmed(struct session *session,
                                             const struct centre_ref *centre, const json_t *details,
                                             char *out, size_t outlen)
{
	char authority[64], phone[64];
	jget_text(details, "authority", authority, sizeof(authority));
	authority_phone(session, centre, jget_str(details, "authority"), phone, sizeof(phone));
	snprintf(out, outlen, "%s has not confirmed receipt: phone them%s%s",
	         authority[0] ? authority : "an authority", phone[0] ? " at " : "", phone);
}

/* Indexed by enum alert_kind: every kind the API knows has its words. */
static const details_fn alert_describers[ALERT_KIND_COUNT] = {
    [ALERT_RESIDENT_ABSENT] = details_resident_absent,
    [ALERT_ROUND_OVERDUE] = details_round_overdue,
    [ALERT_ABSENCE_REPORTED] = details_absence_reported,
    [ALERT_NOTIFICATION_FAILING] = details_notification_failing,
    [ALERT_RESIDENT_RETURNED] = details_resident_returned,
    [ALERT_TURNING_18] = details_turning_18,
    [ALERT_NOTIFICATION_UNCONFIRMED] = details_notification_unconfirmed,
};

/* The alert's priority as shown: URGENT in capitals so that it stands out in a list. */
static void alert_priority(const json_t *alert, char *out, size_t outlen)
{
	const char *priority = jget_str(alert, "priority");
	if (priority != NULL && strcmp(priority, "urgent") == 0)
		snprintf(out, outlen, "URGENT");
	else
		snprintf(out, outlen, "%s", priority ? priority : "");
}

/* The alert's details in words; unknown kinds show their details as JSON. */
static void alert_details(struct session *session, const struct centre_ref *centre,
                          const json_t *alert, char *out, size_t outlen)
{
	const char *kind = jget_str(alert, "kind");
	const json_t *details = json_object_get(alert, "details");
	int known = enum_index(enum_alert_kinds, kind);
	if (known >= 0 && alert_describers[known] != NULL) {
		alert_describers[known](session, centre, details, out, outlen);
		return;
	}
	char *text = details ? json_dumps(details, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	snprintf(out, outlen, "%s", text ? text : "");
	free(text);
}

/* The alert as --json prints it: the server's, with a round_overdue alert's residents named
 * (details.missing_residents, see missing_residents) so that a script has their case numbers.
 * A new reference (the alert itself, shared, when there is nothing to add). */
static json_t *alert_for_json(struct session *session, const struct centre_ref *centre,
                              json_t *alert)
{
	const char *kind = jget_str(alert, "kind");
	json_t *details = json_object_get(alert, "details");
	if (kind == NULL || strcmp(kind, "round_overdue") != 0 || !json_is_object(details))
		return json_incref(alert);
	json_t *copy = json_deep_copy(alert);
	json_t *names = missing_residents(session, centre, details);
	if (copy == NULL || names == NULL ||
	    json_object_set_new(json_object_get(copy, "details"), "missing_residents", names) !=
	        0) {
		json_decref(copy);
		return json_incref(alert);
	}
	return copy;
}

/* What on-call staff need to know about the absence behind an alert, in one line: why and
 * when the authorities are or were notified, and the concern in staff's own words. "" when the
 * alert has no absence or it cannot be read (the alert line stands on its own). */
static void absence_words(struct session *session, const struct centre_ref *centre,
                          const json_t *alert, char *out, size_t outlen)
{
	long long id;
	char path[128], when[ZONE_TEXT_SIZE], line[1200];
	size_t used = 0;
	out[0] = '\0';
	if (!jvalue_id(json_object_get(alert, "absence"), &id))
		return;
	snprintf(path, sizeof(path), "/v1/absences/%lld", id);
	json_t *absence = NULL;
	bool was_quiet = session->quiet;
	session->quiet = true;
	/* Not cached: the absence changes (a concern, the notification) while a watch runs. */
	int rc = session_get(session, path, &absence);
	session->quiet = was_quiet;
	if (rc != RC_OK || !json_is_object(absence)) {
		json_decref(absence);
		return;
	}
	const char *reason = jget_str(absence, "reason");
	const char *notified = jget_str(absence, "notified_at");
	const char *notify = jget_str(absence, "notify_at");
	const char *returned = jget_str(absence, "returned_at");
	const char *concern = jget_str(absence, "concern");
	if (returned != NULL)
		snprintf(line, sizeof(line), "back at %s",
		         zone_format_instant(centre->timezone, returned, when));
	else if (notified != NULL)
		snprintf(line, sizeof(line), "authorities notified at %s",
		         zone_format_instant(centre->timezone, notified, when));
	else if (notify != NULL)
		snprintf(line, sizeof(line), "authorities to be notified at %s",
		         zone_format_instant(centre->timezone, notify, when));
	else
		line[0] = '\0';
	append(out, outlen, &used, line);
	if (reason != NULL) {
		snprintf(line, sizeof(line), "%sreason: %s", used ? "; " : "",
		         format_notify_reason(reason));
		append(out, outlen, &used, line);
	}
	if (concern != NULL && concern[0] != '\0') {
		snprintf(line, sizeof(line), "%sconcern: \"%s\"", used ? "; " : "", concern);
		append(out, outlen, &used, line);
	}
	json_decref(absence);
}

static void alert_state(const json_t *alert, char *out, size_t outlen)
{
	char by[128];
	jget_text(alert, "acked_by", by, sizeof(by));
	if (jget_str(alert, "resolved_at") != NULL)
		snprintf(out, outlen, "resolved");
	else if (jget_str(alert, "acked_at") != NULL)
		snprintf(out, outlen, "acked%s%s", by[0] ? " by " : "", by);
	else if (jget_str(alert, "escalated_at") != NULL)
		snprintf(out, outlen, "ESCALATED");
	else
		snprintf(out, outlen, "open");
}

int cmd_alerts(struct session *session, const struct cmd_args *args)
{
	struct centre_ref centre;
	int rc = resolve_centre(session, args, &centre);
	if (rc != RC_OK)
		return rc;
	char escaped[PATH_PART_SIZE], path[512];
	if (!path_escape(centre.id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/alerts?centre=%s%s", escaped,
	                 args->value[OPT_ALL] ? "" : "&state=open"))
		return RC_USAGE;
	json_t *alerts = NULL;
	rc = session_list(session, path, &alerts);
	if (rc != RC_OK)
		return rc;
	if (session->json) {
		json_t *named = json_array();
		size_t at;
		json_t *one;
		json_array_foreach(alerts, at, one)
		{
			if (named != NULL &&
			    json_array_append_new(named, alert_for_json(session, &centre, one)) !=
			        0) {
				json_decref(named);
				named = NULL;
			}
		}
		json_t *document = named ? json_pack("{sosn}", "items", named, "next") : NULL;
		rc = document && print_json(document) ? RC_OK : RC_REFUSED;
		json_decref(document);
		json_decref(alerts);
		return rc;
	}

	static const char *const headers[] = {"ID",       "RAISED", "PRIORITY", "KIND",
	                                      "RESIDENT", "STATE",  "DETAILS"};
	static const enum table_align align[] = {TABLE_RIGHT, TABLE_LEFT, TABLE_LEFT, TABLE_LEFT,
	                                         TABLE_LEFT,  TABLE_LEFT, TABLE_LEFT};
	struct table *table = table_new(7, headers, align);
	if (table == NULL)
		goto out_of_memory;
	size_t index;
	json_t *alert;
	json_array_foreach(alerts, index, alert)
	{
		char id[32], raised[ZONE_TEXT_SIZE], priority[16], kind[64], resident[300],
		    state[160], details[16384];
		jget_text(alert, "id", id, sizeof(id));
		zone_format_instant(centre.timezone, jget_str(alert, "raised_at"), raised);
		alert_priority(alert, priority, sizeof(priority));
		jget_text(alert, "kind", kind, sizeof(kind));
		alert_resident(session, &centre, alert, resident, sizeof(resident));
		alert_state(alert, state, sizeof(state));
		alert_details(session, &centre, alert, details, sizeof(details));
		const char *cells[] = {id, raised, priority, kind, resident, state, details};
		if (!table_add_row(table, cells))
			goto out_of_memory;
	}
	if (table_rows(table) == 0) {
		printf("No %salerts at %s.\n", args->value[OPT_ALL] ? "" : "open ", centre.name);
	} else {
		rc = print_table(table);
	}
	table_free(table);
	json_decref(alerts);
	return rc;

out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	table_free(table);
	json_decref(alerts);
	return RC_REFUSED;
}

/* Acknowledges one alert and says what became of it: acknowledged now, or already, by whom and
 * when. */
static int ack_one(struct session *session, const char *id)
{
	char path[128];
	if (!path_format(path, sizeof(path), "/v1/alerts/%s/ack", id))
		return RC_USAGE;
	json_t *alert = NULL;
	int rc = session_send(session, "POST", path, NULL, &alert);
	if (rc != RC_OK)
		return rc;
	if (session->json) {
		rc = print_json(alert ? alert : json_null()) ? RC_OK : RC_REFUSED;
	} else {
		struct centre_ref centre;
		char kind[64], resident[300], at[ZONE_TEXT_SIZE], by[128];
		centre_lookup(session, jget_str(alert, "centre"), &centre);
		jget_text(alert, "kind", kind, sizeof(kind));
		jget_text(alert, "acked_by", by, sizeof(by));
		alert_resident(session, &centre, alert, resident, sizeof(resident));
		zone_format_instant(centre.timezone, jget_str(alert, "acked_at"), at);
		bool already = json_is_true(json_object_get(alert, "already_acked"));
		char what[600];
		snprintf(what, sizeof(what), "%s%s%s%s%s", kind[0] ? " (" : "", kind,
		         kind[0] && resident[0] ? ": " : "", resident, kind[0] ? ")" : "");
		char *clean = format_clean(what);
		char *clean_by = format_clean(by);
		if (already)
			printf("Alert %s%s was already acknowledged by %s at %s.\n", id,
			       clean ? clean : "", clean_by && clean_by[0] ? clean_by : "someone",
			       at);
		else
			printf("Alert %s%s acknowledged%s%s.\n", id, clean ? clean : "",
			       at[0] ? " at " : "", at);
		free(clean);
		free(clean_by);
	}
	json_decref(alert);
	return rc;
}

int cmd_ack(struct session *session, const struct cmd_args *args)
{
	/* Every id is checked before any is sent. */
	for (int i = 0; i < args->count; i++) {
		const char *id = args->positional[i];
		size_t n = strlen(id);
		if (n == 0 || n > 18 || strspn(id, "0123456789") != n)
			return usage_error(args, "'%s' is not an alert id", id);
	}
	/* Each alert on its own: one that is refused (another centre's, unknown) does not stop
	 * the others being acknowledged; the worst outcome is the exit status. */
	int worst = RC_OK;
	for (int i = 0; i < args->count; i++) {
		int rc = ack_one(session, args->positional[i]);
		if (rc == RC_USAGE || rc == RC_UNREACHABLE)
			return rc;
		if (rc != RC_OK)
			worst = rc;
	}
	return worst;
}

/* ---- watch ---- */

static volatile sig_atomic_t watch_stop;

static void on_watch_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

struct watch {
	struct session *session;
	struct centre_ref centre;
	struct sse_parser parser;
	char shown_id[SSE_ID_SIZE]; /* the id of the last alert printed */
	bool bell;
	bool colour;       /* emphasis by priority (colour_wanted) */
	bool impaired;     /* the server said it cannot reach its database */
	bool connected;    /* this connection has delivered bytes */
	bool reconnecting; /* a previous connection was lost: say when we are back */
	bool output_failed;
};

/* True if id is not after the last alert shown: a replay after reconnecting. Ids are compared
 * as numbers when both are, since the daemon numbers its events. */
static bool already_shown(const struct watch *watch, const char *id)
{
	const char *last = watch->shown_id;
	if (id[0] == '\0' || last[0] == '\0')
		return false;
	size_t a = strlen(id), b = strlen(last);
	if (strspn(id, "0123456789") == a && strspn(last, "0123456789") == b && a <= 18 && b <= 18)
		return strtoll(id, NULL, 10) <= strtoll(last, NULL, 10);
	return strcmp(id, last) == 0;
}

/* What the stream says happened to an alert; the daemon sends these event types. */
enum stream_event { STREAM_ALERT, STREAM_ACKED, STREAM_RESOLVED };

static const struct {
	const char *type;
	enum stream_event event;
} stream_events[] = {
    {"alert", STREAM_ALERT},
    {"alert_acked", STREAM_ACKED},
    {"alert_resolved", STREAM_RESOLVED},
};

/* A banner on stdout, where on-call staff look, in reverse red on a colour terminal. */
static bool print_banner(struct watch *watch, const char *text)
{
	int n = printf("%s%s%s%s\n", watch->bell ? "\a" : "", watch->colour ? COLOUR_ALARM : "",
	               text, watch->colour ? COLOUR_RESET : "");
	return n >= 0 && flush_stdout();
}

static bool print_alert_line(struct watch *watch, const json_t *alert, enum stream_event event,
                             const char *prefix)
{
	struct session *session = watch->session;
	char when[ZONE_TEXT_SIZE], resident[300], details[16384], id[32], kind[64], priority[16],
	    about[2400];
	const char *raised = jget_str(alert, "raised_at");
	const char *announced = jget_str(alert, "last_announced_at");
	bool again = raised && announced && strcmp(raised, announced) != 0;

	const char *at = again ? announced : raised;
	if (event == STREAM_ACKED && jget_str(alert, "acked_at") != NULL)
		at = jget_str(alert, "acked_at");
	else if (event == STREAM_RESOLVED && jget_str(alert, "resolved_at") != NULL)
		at = jget_str(alert, "resolved_at");
	zone_format_instant(watch->centre.timezone, at, when);
	jget_text(alert, "kind", kind, sizeof(kind));
	jget_text(alert, "id", id, sizeof(id));
	alert_priority(alert, priority, sizeof(priority));
	alert_resident(session, &watch->centre, alert, resident, sizeof(resident));
	alert_details(session, &watch->centre, alert, details, sizeof(details));
	about[0] = '\0';
	if (event == STREAM_ALERT)
		absence_words(session, &watch->centre, alert, about, sizeof(about));

	char line[20000], by[128], state[200] = "";
	if (event == STREAM_ACKED)
		snprintf(state, sizeof(state), " acknowledged%s%s",
		         jget_text(alert, "acked_by", by, sizeof(by))[0] ? " by " : "", by);
	else if (event == STREAM_RESOLVED)
		snprintf(state, sizeof(state), " resolved");
	else if (again)
		snprintf(state, sizeof(state), " (again)");
	if (event == STREAM_ALERT && jget_str(alert, "escalated_at") &&
	    !jget_str(alert, "acked_at"))
		snprintf(state + strlen(state), sizeof(state) - strlen(state), " ESCALATED");
	snprintf(line, sizeof(line), "%s%s  %s%s%s%s  %s%s%s  [alert %s]", prefix, when,
	         priority[0] ? priority : "", priority[0] ? " " : "", kind, state, resident,
	         resident[0] && details[0] ? ": " : "", details, id);
	char *clean = format_clean(line);
	char *clean_about = format_clean(about);
	if (clean == NULL || clean_about == NULL) {
		free(clean);
		free(clean_about);
		return false;
	}
	const char *p = jget_str(alert, "priority");
	/* The bell is for what needs someone: a new, repeated or escalated alert that is urgent or
	 * normal. Info alerts (a return, a birthday ahead) are shown quietly. */
	bool bell = watch->bell && event == STREAM_ALERT && bell_for_priority(p);
	const char *on = watch->colour && event == STREAM_ALERT ? colour_of_priority(p) : "";
	int n = printf("%s%s%s%s%s%s\n", bell ? "\a" : "", on, clean, on[0] ? COLOUR_RESET : "",
	               clean_about[0] ? "\n    " : "", clean_about);
	free(clean);
	free(clean_about);
	return n >= 0 && flush_stdout();
}

/* `event: status` {"database":"unreachable"|"ok","since"}: the server cannot raise or deliver
 * alerts while its database is away. Said on stdout, loudly, once per change. */
static bool on_status(struct watch *watch, const struct sse_event *event)
{
	json_t *status = json_loadb(event->data, event->data_len, 0, NULL);
	const char *database = jget_str(status, "database");
	char since[ZONE_TEXT_SIZE], text[400];
	bool ok = true;
	zone_format_instant(watch->centre.timezone, jget_str(status, "since"), since);
	if (database != NULL && strcmp(database, "unreachable") == 0 && !watch->impaired) {
		watch->impaired = true;
		if (watch->session->json)
			ok = printf("%.*s\n", (int)event->data_len, event->data) >= 0 &&
			     flush_stdout();
		else {
			snprintf(text, sizeof(text),
			         "!!! ALERTING IMPAIRED%s%s: the server cannot reach its database; "
			         "new alerts may not be raised or shown. Check absences by phone.",
			         since[0] ? " since " : "", since);
			ok = print_banner(watch, text);
		}
	} else if (database != NULL && strcmp(database, "ok") == 0 && watch->impaired) {
		watch->impaired = false;
		if (watch->session->json)
			ok = printf("%.*s\n", (int)event->data_len, event->data) >= 0 &&
			     flush_stdout();
		else {
			snprintf(text, sizeof(text),
			         "*** alerting restored%s%s: the server reaches its database "
			         "again ***",
			         since[0] ? " since " : "", since);
			ok = print_banner(watch, text);
		}
	}
	json_decref(status);
	if (!ok)
		watch->output_failed = true;
	return ok;
}

static bool on_event(void *arg, const struct sse_event *event)
{
	struct watch *watch = arg;
	size_t kind = 0;
	/* A status has no id of its own (event->id is the last alert's): never "already shown". */
	if (strcmp(event->type, "status") == 0)
		return on_status(watch, event);
	while (kind < sizeof(stream_events) / sizeof(stream_events[0]) &&
	       strcmp(stream_events[kind].type, event->type) != 0)
		kind++;
	if (kind == sizeof(stream_events) / sizeof(stream_events[0]))
		return true; /* an event type this client does not know */
	if (already_shown(watch, event->id))
		return true;

	json_error_t error;
	json_t *alert = json_loadb(event->data, event->data_len, 0, &error);
	if (alert == NULL) {
		fprintf(stderr, "rollcall: an alert (event %s) could not be read: %s\n",
		        event->id[0] ? event->id : "without id", error.text);
	} else {
		bool printed;
		if (watch->session->json) {
			json_t *named = alert_for_json(watch->session, &watch->centre, alert);
			char *line = json_dumps(named, JSON_COMPACT);
			json_decref(named);
			printed = line != NULL && printf("%s\n", line) >= 0 && flush_stdout();
			free(line);
		} else {
			printed = print_alert_line(watch, alert, stream_events[kind].event, "");
		}
		json_decref(alert);
		if (!printed) {
			watch->output_failed = true;
			return false;
		}
	}
	snprintf(watch->shown_id, sizeof(watch->shown_id), "%s", event->id);
	return true;
}

/* ": head 41": where the stream starts. A watcher that has seen no event yet resumes from there
 * after a reconnect, so an alert raised while it was reconnecting is not lost. */
static void on_comment(void *arg, struct sse_parser *parser, const char *text, size_t len)
{
	struct watch *watch = arg;
	/* text is not NUL-terminated: count the digits within len. */
	size_t digits = 0;
	while (5 + digits < len && text[5 + digits] >= '0' && text[5 + digits] <= '9')
		digits++;
	if (len > 5 && memcmp(text, "head ", 5) == 0 && parser->last_id[0] == '\0' &&
	    digits == len - 5) {
		sse_set_last_id(parser, text + 5, len - 5);
		/* Events up to the head happened before this watcher started. */
		if (watch->shown_id[0] == '\0')
			snprintf(watch->shown_id, sizeof(watch->shown_id), "%s", parser->last_id);
	}
}

static bool on_stream_bytes(void *arg, const char *data, size_t len)
{
	struct watch *watch = arg;
	if (!watch->connected) {
		watch->connected = true;
		if (watch->reconnecting) {
			fprintf(stderr, "rollcall: connected again\n");
			if (!watch->session->json &&
			    !print_banner(watch, "Connected to the server "
			                         "again: alerts are shown."))
				watch->output_failed = true;
			watch->reconnecting = false;
		}
	}
	return sse_feed(&watch->parser, data, len, on_event, watch) == SSE_OK;
}

/* Failures that waiting cannot fix: the certificates. */
static bool watch_gives_up(enum net_failure kind)
{
	return kind == NET_SERVER_UNTRUSTED || kind == NET_SERVER_NAME ||
	       kind == NET_CLIENT_REVOKED || kind == NET_CLIENT_REFUSED || kind == NET_LOCAL;
}

/* What is open already when the watch starts: on-call staff taking over see it at once, not
 * only what is raised from now on. The stream then starts at its head, after these. */
static int print_open_alerts(struct watch *watch)
{
	struct session *session = watch->session;
	char escaped[PATH_PART_SIZE], path[512];
	json_t *alerts = NULL;
	if (!path_escape(watch->centre.id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/alerts?centre=%s&state=open", escaped))
		return RC_USAGE;
	int rc = session_list(session, path, &alerts);
	if (rc != RC_OK)
		return rc;
	/* One line when nothing is open: whoever reads the output line by line sees it whole. */
	if (!session->json && json_array_size(alerts) == 0)
		printf("No open alerts at %s; alerts are shown live from now on.\n",
		       watch->centre.name);
	else if (!session->json)
		printf("%zu open alert%s at %s:\n", json_array_size(alerts),
		       json_array_size(alerts) == 1 ? "" : "s", watch->centre.name);
	size_t index;
	json_t *alert;
	json_array_foreach(alerts, index, alert)
	{
		bool printed;
		if (session->json) {
			json_t *named = alert_for_json(session, &watch->centre, alert);
			char *line = json_dumps(named, JSON_COMPACT);
			json_decref(named);
			printed = line != NULL && printf("%s\n", line) >= 0;
			free(line);
		} else {
			printed = print_alert_line(watch, alert, STREAM_ALERT, "open: ");
		}
		if (!printed) {
			rc = RC_REFUSED;
			break;
		}
	}
	if (rc == RC_OK && !session->json && json_array_size(alerts) > 0)
		printf("Live from now on:\n");
	json_decref(alerts);
	return rc == RC_OK && flush_stdout() ? RC_OK : RC_REFUSED;
}

/* The centre to watch. A watcher started while the server is down (a terminal booted before
 * it) waits for it like a lost connection, instead of giving up. */
static int watch_resolve_centre(struct session *session, const struct cmd_args *args,
                                struct centre_ref *centre, const sigset_t *wait_mask)
{
	int backoff_s = WATCH_BACKOFF_FIRST_S;
	for (;;) {
		int rc = resolve_centre(session, args, centre);
		if (rc != RC_UNREACHABLE || session->last_error.kind == NET_NONE ||
		    session->last_error.kind == NET_INTERRUPTED ||
		    watch_gives_up(session->last_error.kind))
			return rc;
		fprintf(stderr, "rollcall: trying again in %d s\n", backoff_s);
		if (!http_sleep(backoff_s * 1000, wait_mask, &watch_stop))
			return RC_UNREACHABLE;
		backoff_s =
		    backoff_s * 2 > WATCH_BACKOFF_MAX_S ? WATCH_BACKOFF_MAX_S : backoff_s * 2;
	}
}

/* Long because it is the whole life of the stream (connect, replay, reconnect with Last-Event-ID,
 * signals, the bell) in one place, where the order of those steps can be read top to bottom. */
int cmd_watch(struct session *session, const struct cmd_args *args)
{
	struct watch watch = {.session = session};
	int rc;

	/* SIGINT/SIGTERM are blocked except inside waits (ppoll with wait_mask), so a signal can
	 * never slip in between checking the flag and starting to wait. */
	sigset_t block, wait_mask;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	struct sigaction action = {.sa_handler = on_watch_signal};
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	session->wait_mask = &wait_mask;
	session->stop = &watch_stop;
	session->quiet_retries = true;
	sse_init(&watch.parser);
	watch.parser.on_comment = on_comment;

	char escaped[PATH_PART_SIZE], path[512];
	rc = watch_resolve_centre(session, args, &watch.centre, &wait_mask);
	if (rc == RC_OK &&
	    (!path_escape(watch.centre.id, escaped) ||
	     !path_format(path, sizeof(path), "/v1/centres/%s/alerts/stream", escaped)))
		rc = RC_USAGE;
	if (rc != RC_OK) {
		if (watch_stop)
			rc = RC_OK; /* Ctrl-C while waiting for the server is a normal way out */
		goto done;
	}
	watch.bell = !session->json && isatty(STDOUT_FILENO);
	watch.colour = !session->json &&
	               colour_wanted(isatty(STDOUT_FILENO), getenv("TERM"), getenv("NO_COLOR"));

	fprintf(stderr, "rollcall: watching the alerts of %s (Ctrl-C to stop)\n",
	        watch.centre.name);
	rc = print_open_alerts(&watch);
	if (rc != RC_OK)
		goto done;
	int backoff_s = WATCH_BACKOFF_FIRST_S;
	while (!watch_stop) {
		struct call call = {
		    .method = "GET",
		    .path = path,
		    .accept = "text/event-stream",
		    .last_event_id = watch.parser.last_id[0] ? watch.parser.last_id : NULL,
		    .read_timeout_ms = WATCH_SILENCE_MS,
		    .sink = on_stream_bytes,
		    .sink_arg = &watch,
		    .quiet = true,
		    .no_retry = true,
		};
		struct answer answer;
		watch.connected = false;
		sse_reset(&watch.parser);
		int result = session_call(session, &call, &answer);
		char why[600] = "";

		if (watch_stop || answer.error.kind == NET_INTERRUPTED) {
			answer_free(&answer);
			break;
		}
		if (watch.output_failed) {
			answer_free(&answer);
			rc = RC_REFUSED;
			break;
		}
		if (result == RC_OK) {
			snprintf(why, sizeof(why), "the server ended the stream");
		} else if (result == RC_REFUSED) {
			if (answer.status < 500 && answer.status != 408 && answer.status != 429) {
				session_report_refusal(&answer);
				answer_free(&answer);
				rc = RC_REFUSED;
				break;
			}
			snprintf(why, sizeof(why), "the server answered %d", answer.status);
		} else if (result == RC_UNREACHABLE) {
			if (answer.error.kind == NET_TIMEOUT && watch.connected)
				snprintf(why, sizeof(why), "no heartbeat from the server for %d s",
				         WATCH_SILENCE_MS / 1000);
			else
				http_explain(session->http, &answer.error, why, sizeof(why));
			if (watch_gives_up(answer.error.kind)) {
				fprintf(stderr, "rollcall: %s\n", why);
				answer_free(&answer);
				rc = RC_UNREACHABLE;
				break;
			}
		} else {
			answer_free(&answer);
			rc = result;
			break;
		}
		answer_free(&answer);

		/* A connection that worked resets the backoff: the next loss is a new incident. */
		if (watch.connected)
			backoff_s = WATCH_BACKOFF_FIRST_S;
		fprintf(stderr, "rollcall: %s; reconnecting in %d s\n", why, backoff_s);
		if (!watch.reconnecting && !session->json) {
			/* Once per loss, on stdout: a watcher that shows nothing must not look like
			 * a quiet night. */
			char text[800];
			snprintf(text, sizeof(text),
			         "!!! CONNECTION TO THE SERVER LOST (%s): alerts are not reaching "
			         "this terminal. Reconnecting...",
			         why);
			if (!print_banner(&watch, text)) {
				rc = RC_REFUSED;
				break;
			}
		}
		watch.reconnecting = true;
		if (!http_sleep(backoff_s * 1000, &wait_mask, &watch_stop))
			break;
		backoff_s =
		    backoff_s * 2 > WATCH_BACKOFF_MAX_S ? WATCH_BACKOFF_MAX_S : backoff_s * 2;
	}

done:
	session->wait_mask = NULL;
	session->stop = NULL;
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	sse_free(&watch.parser);
	if (watch_stop && rc == RC_OK)
		fprintf(stderr, "rollcall: stopped watching\n");
	return rc;
}
