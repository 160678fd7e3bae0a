/* `rollcall round`: an attendance round, taken at the terminal one key per resident, or sent
 * from a file (--file). Either way the whole round goes in one POST with one Idempotency-Key,
 * so the server stores it in one transaction and a retry never records it twice. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "dates.h"
#include "format.h"
#include "json_get.h"
#include "resolve.h"
#include "round_file.h"
#include "round_offline.h"
#include "session.h"
#include "terminal.h"
#include "zone.h"

#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define NOTE_SIZE 1000

/* A resident expected in the round, with the observation already recorded (if any). */
struct expected {
	long long id;
	char label[300];      /* "UMI-0042 Ahmad Karimi" */
	char case_number[80]; /* "" if the server did not say */
	char recorded[24];    /* current status, "" if none */
	char recorded_reason[32];
	bool away; /* has an open absence: staff see it before they answer */
};

struct round {
	struct centre_ref centre;
	struct date date;
	int slot;
	char day[DATE_TEXT_SIZE];
	char path[600]; /* /v1/centres/{id}/rounds/{date}/{slot} */
	struct expected *expected;
	size_t count;
	char scheduled[ZONE_TEXT_SIZE];
	char status[24];
	/* Offline: the round is kept on the terminal (pending, owned; its file name) and sent by
	 * `sync`. */
	bool offline;
	json_t *pending;
	char pending_name[OFFLINE_PATH_SIZE];
};

static void round_free(struct round *round)
{
	json_decref(round->pending);
	round->pending = NULL;
	free(round->expected);
	round->expected = NULL;
	round->count = 0;
}

/* ---- reading the round from the server ---- */

/* The current observation of an expected resident, in any of the shapes a round may use. */
static void read_observation(const json_t *item, struct expected *out)
{
	const json_t *observation = json_object_get(item, "observation");
	if (!json_is_object(observation))
		observation = json_object_get(item, "current");
	if (!json_is_object(observation))
		observation = item; /* status directly on the entry */
	const char *status = jget_str(observation, "status");
	if (status != NULL && choice_by_name(round_statuses, status) != NULL &&
	    strlen(status) > 1) {
		snprintf(out->recorded, sizeof(out->recorded), "%s", status);
		const char *reason = jget_str(observation, "reason");
		snprintf(out->recorded_reason, sizeof(out->recorded_reason), "%s",
		         reason ? reason : "");
	}
}

/* Reads the expected residents of GET /v1/centres/{id}/rounds/{date}/{slot}: a list under
 * "residents", "expected", "items" or "observations", each naming the resident by id or by an
 * object with its id, case number and names. */
static int read_expected(struct session *session, struct round *round, const json_t *answer)
{
	static const char *const list_keys[] = {"residents", "expected", "items", "observations",
	                                        NULL};
	const json_t *list = json_is_array(answer) ? answer : jget_array_of(answer, list_keys);
	if (list == NULL) {
		fprintf(stderr, "rollcall: the server's round has no list of expected residents\n");
		return RC_UNREACHABLE;
	}
	round->count = 0;
	round->expected = calloc(json_array_size(list) + 1, sizeof(*round->expected));
	if (round->expected == NULL) {
		fprintf(stderr, "rollcall: out of memory\n");
		return RC_UNREACHABLE;
	}
	size_t index;
	const json_t *item;
	json_array_foreach(list, index, item)
	{
		struct expected *e = &round->expected[round->count];
		const json_t *resident = json_object_get(item, "resident");
		const json_t *person = json_is_object(resident) ? resident : item;
		bool have_id = json_is_object(resident) ? jget_int(resident, "id", &e->id)
		                                        : jvalue_id(resident, &e->id);
		if (!have_id)
			have_id =
			    jget_int(item, "resident_id", &e->id) || jget_int(item, "id", &e->id);
		if (!have_id || e->id <= 0) {
			fprintf(stderr,
			        "rollcall: the server's round lists a resident without id\n");
			return RC_UNREACHABLE;
		}
		const char *case_number = jget_str(person, "case_number");
		if (case_number == NULL)
			case_number = jget_str(item, "case_number");
		if (case_number != NULL) {
			snprintf(e->case_number, sizeof(e->case_number), "%s", case_number);
			json_t *copy = json_deep_copy(person);
			if (copy != NULL && jget_str(copy, "case_number") == NULL)
				json_object_set_new(copy, "case_number", json_string(case_number));
			resident_label_of(copy ? copy : person, e->label, sizeof(e->label));
			json_decref(copy);
		} else {
			resident_label(session, &round->centre, e->id, e->label, sizeof(e->label));
			const char *space = strchr(e->label, ' ');
			if (strncmp(e->label, "resident ", 9) != 0 && space != NULL)
				snprintf(e->case_number, sizeof(e->case_number), "%.*s",
				         (int)(space - e->label), e->label);
		}
		read_observation(item, e);
		round->count++;
	}
	return RC_OK;
}

/* Marks the expected residents who have an open absence (quiet: only a mark is lost). */
static void mark_away(struct session *session, struct round *round)
{
	char escaped[PATH_PART_SIZE], path[512];
	json_t *open = NULL;
	bool was_quiet = session->quiet;
	session->quiet = true;
	if (path_escape(round->centre.id, escaped) &&
	    path_format(path, sizeof(path), "/v1/absences?centre=%s&open=true", escaped) &&
	    session_list(session, path, &open) == RC_OK) {
		size_t index;
		const json_t *absence;
		json_array_foreach(open, index, absence)
		{
			long long who;
			const json_t *whom = json_object_get(absence, "resident");
			if (!(json_is_object(whom) ? jget_int(whom, "id", &who)
			                           : jvalue_id(whom, &who)))
				continue;
			for (size_t i = 0; i < round->count; i++)
				if (round->expected[i].id == who)
					round->expected[i].away = true;
		}
	}
	json_decref(open);
	session->quiet = was_quiet;
}

/* Keeps the centre and this round's expected residents on the terminal, so that the next round
 * can be taken if the server cannot be reached then. A failure costs only that: said, not
 * fatal. */
static void keep_for_offline(struct session *session, const struct round *round)
{
	char escaped[PATH_PART_SIZE], path[512];
	json_t *centre = NULL;
	bool was_quiet = session->quiet;
	session->quiet = true;
	int rc = path_escape(round->centre.id, escaped) &&
	                 path_format(path, sizeof(path), "/v1/centres/%s", escaped)
	             ? session_get_cached(session, path, &centre)
	             : RC_USAGE;
	session->quiet = was_quiet;
	if (rc != RC_OK || !json_is_object(centre))
		return;
	json_t *residents = json_array();
	for (size_t i = 0; residents != NULL && i < round->count; i++) {
		const struct expected *e = &round->expected[i];
		json_t *one = json_pack("{sIssss}", "id", (json_int_t)e->id, "case_number",
		                        e->case_number, "label", e->label);
		if (one == NULL || json_array_append_new(residents, one) != 0) {
			json_decref(residents);
			residents = NULL;
		}
	}
	json_t *kept = json_pack(
	    "{sOsOsO}", "id", json_object_get(centre, "id"), "name",
	    json_object_get(centre, "name") ? json_object_get(centre, "name") : json_null(),
	    "timezone",
	    json_object_get(centre, "timezone") ? json_object_get(centre, "timezone")
	                                        : json_null());
	if (kept != NULL)
		json_object_set(kept, "check_times", json_object_get(centre, "check_times"));
	if (residents == NULL || kept == NULL ||
	    !round_cache_save(kept, round->day, round->slot, residents, session_now(session)))
		fprintf(stderr, "rollcall: (this round could not be kept on the terminal for "
		                "offline use)\n");
	json_decref(kept);
	json_decref(residents);
}

static int fetch_round(struct session *session, struct round *round)
{
	char escaped[PATH_PART_SIZE];
	date_format(&round->date, round->day);
	if (!path_escape(round->centre.id, escaped) ||
	    !path_format(round->path, sizeof(round->path), "/v1/centres/%s/rounds/%s/%d", escaped,
	                 round->day, round->slot))
		return RC_USAGE;
	json_t *answer = NULL;
	int rc = session_get(session, round->path, &answer);
	if (rc != RC_OK)
		return rc;
	zone_format_instant(round->centre.timezone, jget_str(answer, "scheduled_at"),
	                    round->scheduled);
	jget_text(answer, "status", round->status, sizeof(round->status));
	rc = read_expected(session, round, answer);
	json_decref(answer);
	if (rc == RC_OK) {
		mark_away(session, round);
		keep_for_offline(session, round);
	}
	return rc;
}

/* The rounds of one day, as the server lists them; day NULL: the centre's today by the daemon's
 * clock. */
static int day_rounds(struct session *session, const struct centre_ref *centre,
                      const struct date *day, json_t **rounds)
{
	char escaped[PATH_PART_SIZE], path[600], text[DATE_TEXT_SIZE];
	if (day != NULL)
		date_format(day, text);
	if (!path_escape(centre->id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/centres/%s/rounds%s%s", escaped,
	                 day ? "?date=" : "", day ? text : ""))
		return RC_USAGE;
	return session_list(session, path, rounds);
}

/* Picks from rounds by their scheduled instants: the latest already scheduled that is not
 * complete, else the next one. NULL if every round is complete and past. */
static const json_t *pick_by_time(const json_t *rounds, time_t now)
{
	const json_t *past = NULL, *next = NULL;
	time_t past_at = 0, next_at = 0;
	size_t index;
	const json_t *item;
	json_array_foreach(rounds, index, item)
	{
		time_t at;
		const char *status = jget_str(item, "status");
		if (!instant_parse(jget_str(item, "scheduled_at"), &at))
			continue;
		if (at <= now) {
			if (status != NULL && strcmp(status, "complete") == 0)
				continue;
			if (past == NULL || at > past_at) {
				past = item;
				past_at = at;
			}
		} else if (next == NULL || at < next_at) {
			next = item;
			next_at = at;
		}
	}
	return past ? past : next;
}

/* Picks from the day's rounds by their status alone: the first open one (running or next),
 * else the latest overdue one. */
static const json_t *pick_by_status(const json_t *rounds)
{
	const json_t *overdue = NULL;
	size_t index;
	const json_t *item;
	json_array_foreach(rounds, index, item)
	{
		const char *status = jget_str(item, "status");
		if (status != NULL && strcmp(status, "open") == 0)
			return item;
		if (status != NULL && strcmp(status, "overdue") == 0)
			overdue = item;
	}
	return overdue;
}

/* The current round: the latest one already scheduled that is not complete (today's, or
 * yesterday's last, which runs past midnight), else the next one. "Now" is the daemon's: the
 * day comes from its list of today's rounds, the time from its Date header. When the two
 * disagree (a test clock set to another day) the time is unknown and the rounds' statuses
 * decide. */
static int choose_current_round(struct session *session, struct round *round)
{
	json_t *rounds = NULL;
	struct date today, yesterday, tomorrow, clock_day;
	int rc = day_rounds(session, &round->centre, NULL, &rounds);
	if (rc != RC_OK)
		return rc;
	if (!date_parse(jget_str(json_array_get(rounds, 0), "date"), &today)) {
		fprintf(stderr, "rollcall: the server's list of rounds is not readable\n");
		json_decref(rounds);
		return RC_UNREACHABLE;
	}
	date_add_days(&today, -1, &yesterday);
	date_add_days(&today, 1, &tomorrow);
	time_t now = session_now(session);
	zone_date(round->centre.timezone, now, &clock_day);
	bool time_known = date_to_days(&clock_day) == date_to_days(&today);

	const json_t *chosen;
	if (time_known) {
		/* Yesterday's last round only: an older one left incomplete is overdue business,
		 * not the round staff are about to take. */
		json_t *earlier = NULL;
		rc = day_rounds(session, &round->centre, &yesterday, &earlier);
		if (rc != RC_OK) {
			json_decref(rounds);
			return rc;
		}
		size_t last = json_array_size(earlier);
		if (last > 0)
			json_array_insert(rounds, 0, json_array_get(earlier, last - 1));
		json_decref(earlier);
		chosen = pick_by_time(rounds, now);
	} else {
		chosen = pick_by_status(rounds);
	}

	if (chosen != NULL) {
		long long slot = 0;
		const char *date = jget_str(chosen, "date");
		(void)jget_int(chosen, "slot", &slot);
		round->slot = (int)slot;
		if (date == NULL || !date_parse(date, &round->date) || slot < 1 || slot > 3) {
			fprintf(stderr, "rollcall: the server's list of rounds is not readable\n");
			rc = RC_UNREACHABLE;
		}
	} else {
		/* Every round today is complete: the next is tomorrow's first. */
		round->date = tomorrow;
		round->slot = 1;
	}
	json_decref(rounds);
	return rc;
}

/* The label cut to fit columns (display columns, code points), with "..." when cut. */
static void fit(const char *label, size_t columns, char *out, size_t outlen)
{
	size_t width = 0, i = 0, used = 0;
	if (format_display_width(label) <= columns) {
		snprintf(out, outlen, "%s", label);
		return;
	}
	while (label[i] != '\0' && width + 3 < columns && used + 4 < outlen) {
		size_t len = 1;
		while ((label[i + len] & 0xC0) == 0x80)
			len++;
		memcpy(out + used, label + i, len);
		used += len;
		i += len;
		width++;
	}
	snprintf(out + used, outlen - used, "...");
}

/* ---- sending ---- */

struct observation {
	const struct choice *status; /* NULL: not answered; with keep, the recorded one stays */
	const struct choice *reason;
	char note[NOTE_SIZE];
	bool keep;
	time_t observed_at; /* offline: when staff answered (the terminal's clock); 0 online */
};

static void print_result(FILE *out, const json_t *answer, size_t sent, const size_t counts[3])
{
	fprintf(out, "Sent %zu observation%s: %zu present, %zu absent, %zu excused.\n", sent,
	        sent == 1 ? "" : "s", counts[0], counts[1], counts[2]);
	char status[32], recorded[16], expected[16];
	jget_text(answer, "status", status, sizeof(status));
	jget_text(answer, "recorded", recorded, sizeof(recorded));
	jget_text(answer, "expected", expected, sizeof(expected));
	if (recorded[0] && expected[0] && json_is_integer(json_object_get(answer, "expected")))
		fprintf(out, "The round has %s of %s residents accounted for%s%s.\n", recorded,
		        expected, status[0] ? "; it is " : "", status);
	else if (status[0])
		fprintf(out, "The round is %s.\n", status);
}

/* The round's body: the observations with a status that are not kept as recorded. NULL when
 * out of memory (said); *sent and counts[] count what it holds. */
static json_t *round_body(const long long *ids, const struct observation *observations,
                          size_t count, size_t counts[3], size_t *sent)
{
	json_t *list = json_array();
	json_t *body = json_pack("{so}", "observations", list);
	counts[0] = counts[1] = counts[2] = 0;
	*sent = 0;
	if (body == NULL) {
		fprintf(stderr, "rollcall: out of memory\n");
		return NULL;
	}
	for (size_t i = 0; i < count; i++) {
		const struct observation *o = &observations[i];
		if (o->status == NULL || o->keep)
			continue;
		char at[INSTANT_TEXT_SIZE];
		json_t *item =
		    json_pack("{sIss}", "resident", (json_int_t)ids[i], "status", o->status->name);
		if (o->observed_at != 0)
			instant_format_utc(o->observed_at, at);
		if (item == NULL ||
		    (o->reason &&
		     json_object_set_new(item, "reason", json_string(o->reason->name))) ||
		    (o->note[0] && json_object_set_new(item, "note", json_string(o->note))) ||
		    (o->observed_at != 0 &&
		     json_object_set_new(item, "observed_at", json_string(at))) ||
		    json_array_append_new(list, item) != 0) {
			json_decref(body);
			fprintf(stderr, "rollcall: out of memory\n");
			return NULL;
		}
		counts[o->status - round_statuses]++;
		(*sent)++;
	}
	return body;
}

/* POSTs the observations (entries with a status) of the round in one request. */
static int send_round(struct session *session, const struct round *round, const long long *ids,
                      const struct observation *observations, size_t count, FILE *out)
{
	size_t counts[3], sent;
	json_t *body = round_body(ids, observations, count, counts, &sent);
	if (body == NULL)
		return RC_REFUSED;
	if (sent == 0) {
		fprintf(out, "Nothing to send: every observation was already recorded.\n");
		json_decref(body);
		return RC_OK;
	}
	json_t *answer = NULL;
	int rc = session_send(session, "POST", round->path, body, &answer);
	json_decref(body);
	if (rc == RC_OK) {
		if (session->json)
			rc = print_json(answer ? answer : json_null()) ? RC_OK : RC_REFUSED;
		else
			print_result(out, answer, sent, counts);
	}
	json_decref(answer);
	return rc;
}

/* Offline: writes the round as answered so far to its pending file (atomically), so that what
 * is on the screen survives a power cut. False after saying why. */
static bool save_pending(const struct round *round, const struct observation *observations)
{
	json_t *list = json_array();
	for (size_t i = 0; list != NULL && i < round->count; i++) {
		const struct observation *o = &observations[i];
		char at[INSTANT_TEXT_SIZE];
		if (o->status == NULL || o->keep)
			continue;
		instant_format_utc(o->observed_at, at);
		json_t *item =
		    json_pack("{sIssssssss}", "resident", (json_int_t)round->expected[i].id,
		              "status", o->status->name, "observed_at", at, "label",
		              round->expected[i].label, "note", o->note);
		if (item != NULL && o->note[0] == '\0')
			json_object_del(item, "note");
		if (item != NULL && o->reason != NULL)
			json_object_set_new(item, "reason", json_string(o->reason->name));
		if (item == NULL || json_array_append_new(list, item) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	if (list == NULL || json_object_set_new(round->pending, "observations", list) != 0) {
		fprintf(stderr, "rollcall: out of memory\n");
		return false;
	}
	return offline_write(OFFLINE_PENDING, round->pending_name, round->pending);
}

/* Before "Send?": the dry run (nothing changes) says which absences sending would open, and
 * which of them the police and the other authorities hear of the moment it is sent. Said in
 * words; a failed dry run is said too and does not stop the round. */
static void explain_dry_run(struct session *session, FILE *ui, const struct round *round,
                            const long long *ids, const struct observation *observations)
{
	size_t counts[3], sent;
	char path[700];
	json_t *body = round_body(ids, observations, round->count, counts, &sent);
	if (body == NULL || sent == 0 || counts[1] == 0 ||
	    !path_format(path, sizeof(path), "%s?dry_run=true", round->path)) {
		json_decref(body);
		return;
	}
	json_t *answer = NULL;
	bool was_quiet = session->quiet;
	session->quiet = true;
	int rc = session_send(session, "POST", path, body, &answer);
	session->quiet = was_quiet;
	json_decref(body);
	if (rc != RC_OK) {
		fprintf(ui, "(The server could not check the round in advance; it checks it when "
		            "sent.)\n");
		json_decref(answer);
		return;
	}
	size_t index;
	const json_t *absence;
	json_array_foreach(json_object_get(answer, "absences"), index, absence)
	{
		long long who = 0;
		char label[300] = "", since[ZONE_TEXT_SIZE], when[ZONE_TEXT_SIZE];
		(void)jvalue_id(json_object_get(absence, "resident"), &who);
		for (size_t i = 0; i < round->count; i++)
			if (round->expected[i].id == who)
				snprintf(label, sizeof(label), "%s", round->expected[i].label);
		if (label[0] == '\0')
			snprintf(label, sizeof(label), "resident %lld", who);
		char *clean = format_clean(label);
		char fitted[400];
		fit(clean ? clean : "", 40, fitted, sizeof(fitted));
		free(clean);
		zone_format_instant(round->centre.timezone, jget_str(absence, "since"), since);
		zone_format_instant(round->centre.timezone, jget_str(absence, "notify_at"), when);
		const char *reason = format_notify_reason(jget_str(absence, "reason"));
		/* Three short lines each, so that it fits 80 columns whatever the name. */
		if (json_is_true(json_object_get(absence, "notify_now")))
			fprintf(ui,
			        "  ! %s: REPORTED TO THE POLICE AT ONCE\n"
			        "    (and to the other authorities) the moment the round is sent:\n"
			        "    last accounted for %s, %s since %s.\n",
			        fitted, since, reason, when);
		else
			fprintf(ui,
			        "  %s: an absence opens;\n"
			        "    the authorities are told at %s unless the resident is back\n"
			        "    (%s; last accounted for %s).\n",
			        fitted, when, reason, since);
	}
	json_decref(answer);
}

/* ---- interactive ---- */

/* One resident's line, within 80 columns: "[ 3/76] CASE Name  (ABSENT: open absence) ? ".
 * What is already known goes on its own line under it. */
static void show_resident(FILE *ui, const struct round *round, size_t i,
                          const struct observation *o)
{
	const struct expected *e = &round->expected[i];
	char fitted[400];
	char *label = format_clean(e->label);
	int digits = round->count >= 100 ? 3 : round->count >= 10 ? 2 : 1;
	/* 80 columns: the counter (at most 10), the mark (21), " ? " and the answer (about 12). */
	fit(label ? label : "", e->away ? 34 : 55, fitted, sizeof(fitted));
	free(label);
	if (o->status != NULL && !o->keep)
		fprintf(ui, "   your answer: %s%s%s%s - Enter keeps it\n", o->status->label,
		        o->reason ? " (" : "", o->reason ? o->reason->label : "",
		        o->reason ? ")" : "");
	else if (e->recorded[0])
		fprintf(ui, "   recorded: %s%s%s - Enter keeps it\n", e->recorded,
		        e->recorded_reason[0] ? ", " : "", e->recorded_reason);
	fprintf(ui, "[%*zu/%zu] %s%s ? ", digits, i + 1, round->count, fitted,
	        e->away ? "  (ABSENT: open absence)" : "");
	fflush(ui);
}

/* Asks the reason (and an optional note) of an excused resident. False when staff go back. */
static bool ask_reason(FILE *ui, struct observation *o)
{
	fprintf(ui, "excused\n   reason: l leave, h hospital, s school trip, m authority meeting, "
	            "o other (Esc back) ? ");
	fflush(ui);
	for (;;) {
		int key = terminal_read_key();
		if (key == TERMINAL_KEY_EOF || key == TERMINAL_KEY_ESCAPE || key == 'b') {
			fprintf(ui, "back\n");
			return false;
		}
		const struct choice *reason = choice_by_key(round_reasons, (char)tolower(key));
		if (reason == NULL) {
			fputc('\a', ui);
			fflush(ui);
			continue;
		}
		fprintf(ui, "%s\n   note (Enter for none): ", reason->label);
		fflush(ui);
		o->reason = reason;
		if (!terminal_read_line(o->note, sizeof(o->note)))
			o->note[0] = '\0';
		return true;
	}
}

/* "/" then text: the first resident, after the current one and round the list, whose case
 * number or name contains the text (ignoring case). The current index when none does. */
static size_t jump(FILE *ui, const struct round *round, size_t current)
{
	char text[200];
	fprintf(ui, "/\n   go to (case number or name): ");
	fflush(ui);
	if (!terminal_read_line(text, sizeof(text)) || text[0] == '\0')
		return current;
	for (size_t step = 0; step < round->count; step++) {
		size_t i = (current + step) % round->count;
		if (strcasestr(round->expected[i].label, text) != NULL)
			return i;
	}
	fprintf(ui, "   nobody in this round matches '%s'\n", text);
	return current;
}

enum summary_answer { SUMMARY_SEND, SUMMARY_ABORT, SUMMARY_BACK };

static enum summary_answer summary(struct session *session, FILE *ui, const struct round *round,
                                   const long long *ids, const struct observation *observations)
{
	size_t counts[3] = {0, 0, 0}, kept = 0, open = 0;
	for (size_t i = 0; i < round->count; i++) {
		if (observations[i].status == NULL)
			open++;
		else if (observations[i].keep)
			kept++;
		else
			counts[observations[i].status - round_statuses]++;
	}
	fprintf(ui, "\nRound %d of %s at %s: %zu present, %zu absent, %zu excused", round->slot,
	        round->day, round->centre.name, counts[0], counts[1], counts[2]);
	if (kept)
		fprintf(ui, ", %zu kept as recorded", kept);
	if (open)
		fprintf(ui, ", %zu not answered", open);
	fprintf(ui, ".\n");
	for (size_t i = 0; i < round->count; i++) {
		const struct observation *o = &observations[i];
		if (o->status == NULL || o->keep || o->status == &round_statuses[0])
			continue;
		char *label = format_clean(round->expected[i].label);
		char *note = format_clean(o->note);
		char fitted[400];
		fit(label ? label : "", 50, fitted, sizeof(fitted));
		fprintf(ui, "  %-8s %s%s%s%s\n", o->status->name, fitted, o->reason ? " (" : "",
		        o->reason ? o->reason->label : "", o->reason ? ")" : "");
		if (note && note[0])
			fprintf(ui, "           note: %s\n", note);
		free(label);
		free(note);
	}
	if (round->offline)
		fprintf(ui, "The server cannot be reached: this round stays on the terminal until "
		            "`rollcall sync`.\n");
	else
		explain_dry_run(session, ui, round, ids, observations);
	fprintf(ui, "%s [y/n] (b: back) ", round->offline ? "Keep it to send later?" : "Send?");
	fflush(ui);
	for (;;) {
		int key = terminal_read_key();
		switch (key) {
		case 'y':
		case 'Y':
			fprintf(ui, "yes\n");
			return SUMMARY_SEND;
		case 'n':
		case 'N':
		case 'q':
		case TERMINAL_KEY_EOF:
			fprintf(ui, "no\n");
			return SUMMARY_ABORT;
		case 'b':
			fprintf(ui, "back\n");
			return SUMMARY_BACK;
		default:
			fputc('\a', ui);
			fflush(ui);
		}
	}
}

/* Where a round starts: at the first resident with nothing recorded yet (a round another
 * terminal, or this one before a power cut, took in part), those before kept as recorded;
 * at the first when everyone or nobody is recorded. */
static size_t resume_at(const struct round *round, struct observation *observations)
{
	size_t first = round->count;
	for (size_t i = 0; i < round->count && first == round->count; i++)
		if (round->expected[i].recorded[0] == '\0' && observations[i].status == NULL)
			first = i;
	if (first == round->count)
		return 0;
	for (size_t i = 0; i < first; i++) {
		struct observation *o = &observations[i];
		if (o->status != NULL || round->expected[i].recorded[0] == '\0')
			continue;
		o->keep = true;
		o->status = choice_by_name(round_statuses, round->expected[i].recorded);
		o->reason = choice_by_name(round_reasons, round->expected[i].recorded_reason);
	}
	return first;
}

/* Long because it is the key-by-key loop of the interactive round: one switch over the keys a
 * person presses, which reads best whole. */
static int interactive_round(struct session *session, struct round *round,
                             struct observation *observations)
{
	FILE *ui = session->json ? stderr : stdout;
	long long *ids = calloc(round->count + 1, sizeof(*ids));
	int rc = RC_OK;
	if (ids == NULL) {
		fprintf(stderr, "rollcall: out of memory\n");
		rc = RC_REFUSED;
		goto done;
	}
	for (size_t i = 0; i < round->count; i++)
		ids[i] = round->expected[i].id;

	fprintf(ui, "Round %d of %s at %s%s%s%s%s: %zu resident%s.\n", round->slot, round->day,
	        round->centre.name, round->scheduled[0] ? ", scheduled " : "", round->scheduled,
	        round->status[0] ? ", " : "", round->status, round->count,
	        round->count == 1 ? "" : "s");
	fprintf(ui, "Keys: p present, a absent, e excused, Enter keep, b back, / go to, q quit.\n");
	size_t i = resume_at(round, observations);
	if (i > 0)
		fprintf(ui,
		        "Resuming at resident %zu: the %zu before are recorded (b goes back).\n",
		        i + 1, i);
	if (!terminal_raw_begin(STDIN_FILENO)) {
		fprintf(stderr, "rollcall: cannot read single keys from this terminal\n");
		rc = RC_USAGE;
		goto done;
	}

	for (;;) {
		if (i == round->count) {
			enum summary_answer answer = summary(session, ui, round, ids, observations);
			if (answer == SUMMARY_SEND)
				break;
			if (answer == SUMMARY_ABORT) {
				terminal_raw_end();
				if (round->offline &&
				    !offline_remove(OFFLINE_PENDING, round->pending_name))
					rc = RC_REFUSED;
				fprintf(ui, "Nothing was sent%s.\n",
				        round->offline ? " and nothing is kept" : "");
				goto done;
			}
			i = round->count - 1;
		}
		struct observation *o = &observations[i];
		show_resident(ui, round, i, o);
		int key = terminal_read_key();
		if (key >= 'A' && key <= 'Z')
			key = tolower(key);
		const struct choice *status =
		    key > 0 ? choice_by_key(round_statuses, (char)key) : NULL;
		bool changed = false;
		if (status != NULL && strcmp(status->name, "excused") == 0) {
			struct observation previous = *o;
			memset(o, 0, sizeof(*o));
			o->status = status;
			if (ask_reason(ui, o)) {
				changed = true;
				i++;
			} else {
				*o = previous;
			}
		} else if (status != NULL) {
			memset(o, 0, sizeof(*o));
			o->status = status;
			fprintf(ui, "%s\n", status->label);
			changed = true;
			i++;
		} else if ((key == '\n' || key == '\r') && o->status != NULL) {
			/* The answer shown under "your answer" (after b) or the recorded one. */
			fprintf(ui, "kept\n");
			i++;
		} else if ((key == '\n' || key == '\r') && round->expected[i].recorded[0]) {
			memset(o, 0, sizeof(*o));
			o->keep = true;
			o->status = choice_by_name(round_statuses, round->expected[i].recorded);
			o->reason =
			    choice_by_name(round_reasons, round->expected[i].recorded_reason);
			fprintf(ui, "kept\n");
			i++;
		} else if (key == 'b') {
			fprintf(ui, "back\n");
			if (i > 0)
				i--;
		} else if (key == '/') {
			i = jump(ui, round, i);
		} else if (key == 'q' || key == TERMINAL_KEY_EOF || key == 4 /* Ctrl-D */) {
			terminal_raw_end();
			if (round->offline) {
				/* Kept: what is on the screen was answered. `sync` sends it, or the
				 * next `round` resumes it. */
				fprintf(ui,
				        "quit\nKept on this terminal: %zu observation%s waiting "
				        "to be sent (rollcall sync).\n",
				        offline_pending_observations(),
				        offline_pending_observations() == 1 ? "" : "s");
			} else {
				fprintf(ui, "quit\nRound abandoned: nothing was sent.\n");
			}
			goto done;
		} else {
			fprintf(ui,
			        "\n  p present, a absent, e excused%s, b back, / go to, q quit\n",
			        o->status || round->expected[i].recorded[0] ? ", Enter keep" : "");
		}
		if (changed && round->offline) {
			o->observed_at = time(NULL);
			if (!save_pending(round, observations)) {
				terminal_raw_end();
				fprintf(ui,
				        "The round could not be kept on this terminal: stop and "
				        "write it down.\n");
				rc = RC_REFUSED;
				goto done;
			}
		}
	}
	terminal_raw_end();
	if (round->offline) {
		size_t waiting = offline_pending_observations();
		fprintf(ui,
		        "Kept on this terminal: %zu observation%s waiting to be sent. Run "
		        "`rollcall sync` when the server is back (any command that reaches it "
		        "sends them too).\n",
		        waiting, waiting == 1 ? "" : "s");
	} else {
		rc = send_round(session, round, ids, observations, round->count, ui);
	}

done:
	terminal_raw_end();
	free(ids);
	return rc;
}

/* The offline round: the pending round of this centre, date and slot on the terminal is
 * resumed, else a new one is started; its answers are the observations. */
static int offline_setup(struct round *round, struct observation *observations)
{
	round->pending =
	    round_pending_find(round->centre.id, round->day, round->slot, round->pending_name);
	if (round->pending == NULL) {
		round->pending = round_pending_new(round->centre.id, round->day, round->slot,
		                                   time(NULL), round->pending_name);
		if (round->pending == NULL ||
		    !offline_write(OFFLINE_PENDING, round->pending_name, round->pending))
			return RC_REFUSED;
		return RC_OK;
	}
	size_t index;
	const json_t *item;
	json_array_foreach(json_object_get(round->pending, "observations"), index, item)
	{
		long long id;
		time_t at = 0;
		if (!jget_int(item, "resident", &id))
			continue;
		for (size_t i = 0; i < round->count; i++) {
			if (round->expected[i].id != id)
				continue;
			struct observation *o = &observations[i];
			o->status = choice_by_name(round_statuses, jget_str(item, "status"));
			o->reason = jget_str(item, "reason")
			                ? choice_by_name(round_reasons, jget_str(item, "reason"))
			                : NULL;
			snprintf(o->note, sizeof(o->note), "%s",
			         jget_str(item, "note") ? jget_str(item, "note") : "");
			o->observed_at = instant_parse(jget_str(item, "observed_at"), &at) ? at : 0;
		}
	}
	return RC_OK;
}

/* ---- batch ---- */

/* Reads the whole file (or standard input for "-"). NULL after saying why. */
static char *read_file(const char *name, size_t *len_out)
{
	FILE *file = strcmp(name, "-") == 0 ? stdin : fopen(name, "r");
	if (file == NULL) {
		fprintf(stderr, "rollcall: cannot read %s: %s\n", name, strerror(errno));
		return NULL;
	}
	size_t len = 0, cap = 65536;
	char *data = malloc(cap);
	while (data != NULL) {
		if (len + 1 >= cap) {
			char *grown = cap < MAX_FILE_BYTES ? realloc(data, cap * 2) : NULL;
			if (grown == NULL) {
				fprintf(stderr, "rollcall: %s is too large\n", name);
				free(data);
				data = NULL;
				break;
			}
			data = grown;
			cap *= 2;
		}
		size_t n = fread(data + len, 1, cap - len - 1, file);
		len += n;
		if (n == 0) {
			if (ferror(file)) {
				fprintf(stderr, "rollcall: cannot read %s: %s\n", name,
				        strerror(errno));
				free(data);
				data = NULL;
			}
			break;
		}
	}
	if (file != stdin)
		fclose(file);
	if (data != NULL) {
		data[len] = '\0';
		*len_out = len;
	}
	return data;
}

/* Parses the file into entries; RC_USAGE (after naming the line) on any mistake. */
static int parse_round_file(const struct cmd_args *args, const char *name,
                            struct round_entries *entries, bool *json_file)
{
	size_t len = 0;
	char *data = read_file(name, &len);
	if (data == NULL)
		return RC_USAGE;
	const char *start = data + strspn(data, " \t\r\n");
	int rc = RC_OK;
	*json_file = *start == '{';

	if (*json_file) {
		json_error_t error;
		char err[300];
		json_t *root = json_loadb(data, len, 0, &error);
		if (root == NULL)
			rc = usage_error(args, "%s:%d:%d: %s", name, error.line, error.column,
			                 error.text);
		else if (!round_entries_from_json(root, entries, err, sizeof(err)))
			rc = usage_error(args, "%s: %s", name, err);
		json_decref(root);
	} else if (memchr(data, '\0', len) != NULL) {
		rc = usage_error(args, "%s is not a text file", name);
	} else {
		size_t line_number = 0;
		char *line = data;
		while (line != NULL && *line != '\0') {
			char *next = strchr(line, '\n');
			if (next != NULL)
				*next++ = '\0';
			line_number++;
			struct observation_line parsed;
			char err[300];
			switch (round_line_parse(line, &parsed, err, sizeof(err))) {
			case ROUND_LINE_BLANK:
				break;
			case ROUND_LINE_ERROR:
				rc = usage_error(args, "%s:%zu: %s", name, line_number, err);
				goto done;
			case ROUND_LINE_OK:
				if (!round_entries_add_line(entries, &parsed, line_number)) {
					fprintf(stderr, "rollcall: out of memory\n");
					rc = RC_REFUSED;
					goto done;
				}
				break;
			}
			line = next;
		}
	}
	if (rc == RC_OK && entries->count == 0)
		rc = usage_error(args, "%s has no observations", name);
done:
	free(data);
	return rc;
}

/* The expected resident an entry names, or NULL: by id, by exact case number, else by the only
 * case number equal ignoring case. */
static const struct expected *match_entry(const struct round *round,
                                          const struct round_entry *entry)
{
	const struct expected *folded = NULL;
	int folded_count = 0;
	for (size_t i = 0; i < round->count; i++) {
		const struct expected *e = &round->expected[i];
		if (entry->case_number == NULL) {
			if (e->id == entry->resident_id)
				return e;
		} else if (strcmp(e->case_number, entry->case_number) == 0) {
			return e;
		} else if (strcasecmp(e->case_number, entry->case_number) == 0) {
			folded = e;
			folded_count++;
		}
	}
	return folded_count == 1 ? folded : NULL;
}

static int batch_round(struct session *session, const struct cmd_args *args, struct round *round,
                       struct round_entries *entries, bool json_file)
{
	const char *name = args->value[OPT_FILE];
	size_t n = entries->count;
	long long *ids = calloc(n + 1, sizeof(*ids));
	struct observation *observations = calloc(n + 1, sizeof(*observations));
	const struct expected **matched = calloc(n + 1, sizeof(*matched));
	int rc = RC_OK;
	if (ids == NULL || observations == NULL || matched == NULL) {
		fprintf(stderr, "rollcall: out of memory\n");
		rc = RC_REFUSED;
		goto done;
	}

	for (size_t i = 0; i < n; i++) {
		const struct round_entry *entry = &entries->items[i];
		/* "round.txt:7" or "round.json: observation 7", as the parsers name places. */
		char where[PATH_PART_SIZE + 64];
		if (json_file)
			snprintf(where, sizeof(where), "%s: observation %zu", name,
			         entry->position);
		else
			snprintf(where, sizeof(where), "%s:%zu", name, entry->position);
		char who[100];
		if (entry->case_number)
			snprintf(who, sizeof(who), "%s", entry->case_number);
		else
			snprintf(who, sizeof(who), "resident %lld", entry->resident_id);

		const struct expected *e = match_entry(round, entry);
		if (e == NULL) {
			rc = usage_error(args, "%s: %s is not expected in round %d of %s at %s",
			                 where, who, round->slot, round->day, round->centre.name);
			goto done;
		}
		for (size_t k = 0; k < i; k++) {
			if (matched[k] == e) {
				rc = usage_error(args, "%s: %s is already on %s %zu", where, who,
				                 json_file ? "observation" : "line",
				                 entries->items[k].position);
				goto done;
			}
		}
		matched[i] = e;
		ids[i] = e->id;
		observations[i].status = choice_by_name(round_statuses, entry->status);
		observations[i].reason =
		    entry->reason ? choice_by_name(round_reasons, entry->reason) : NULL;
		if (entry->note != NULL)
			snprintf(observations[i].note, sizeof(observations[i].note), "%s",
			         entry->note);
	}

	/* Residents neither in the file nor recorded yet keep the round open: say who. */
	size_t missing = 0;
	for (size_t i = 0; i < round->count; i++) {
		bool listed = false;
		for (size_t k = 0; k < n && !listed; k++)
			listed = matched[k] == &round->expected[i];
		if (!listed && round->expected[i].recorded[0] == '\0') {
			char *label = format_clean(round->expected[i].label);
			fprintf(stderr, "%s%s",
			        missing ? ", "
			                : "rollcall: not in the file and not "
			                  "yet recorded: ",
			        label ? label : "");
			free(label);
			missing++;
		}
	}
	if (missing)
		fprintf(stderr, "\n");
	rc = send_round(session, round, ids, observations, n, stdout);

done:
	free(ids);
	free(observations);
	free(matched);
	return rc;
}

/* Failures that mean the server is out of reach (not a refusal, not a certificate problem): the
 * round can then be taken from what the terminal kept. */
static bool server_out_of_reach(const struct session *session)
{
	switch (session->last_error.kind) {
	case NET_RESOLVE:
	case NET_REFUSED:
	case NET_UNREACHABLE:
	case NET_TIMEOUT:
	case NET_RESET:
	case NET_PROXY:
		return true;
	default:
		return false;
	}
}

/* The round from the terminal's copy: the centre and expected residents of the last round
 * fetched, the current round by the terminal's clock (or --date and --slot). */
static int offline_round(const struct cmd_args *args, struct round *round, bool chosen)
{
	json_t *cache = NULL;
	int rc = round_cache_load(args->value[OPT_CENTRE], &cache);
	if (rc != RC_OK)
		return rc;
	const json_t *centre = json_object_get(cache, "centre");
	const json_t *residents = json_object_get(cache, "residents");
	snprintf(round->centre.id, sizeof(round->centre.id), "%s",
	         jget_str(centre, "id") ? jget_str(centre, "id") : "");
	char *name =
	    format_clean(jget_str(centre, "name") ? jget_str(centre, "name") : round->centre.id);
	snprintf(round->centre.name, sizeof(round->centre.name), "%s", name ? name : "");
	free(name);
	snprintf(round->centre.timezone, sizeof(round->centre.timezone), "%s",
	         jget_str(centre, "timezone") ? jget_str(centre, "timezone") : "");
	if (!chosen && !round_offline_pick(centre, time(NULL), &round->date, &round->slot)) {
		fprintf(stderr, "rollcall: the terminal's copy does not say the centre's check "
		                "times: give --date and --slot\n");
		json_decref(cache);
		return RC_UNREACHABLE;
	}
	date_format(&round->date, round->day);
	round->expected = calloc(json_array_size(residents) + 1, sizeof(*round->expected));
	if (round->expected == NULL) {
		json_decref(cache);
		return RC_REFUSED;
	}
	size_t index;
	const json_t *item;
	json_array_foreach(residents, index, item)
	{
		struct expected *e = &round->expected[round->count];
		if (!jget_int(item, "id", &e->id))
			continue;
		snprintf(e->label, sizeof(e->label), "%s",
		         jget_str(item, "label") ? jget_str(item, "label") : "");
		snprintf(e->case_number, sizeof(e->case_number), "%s",
		         jget_str(item, "case_number") ? jget_str(item, "case_number") : "");
		round->count++;
	}
	char fetched[ZONE_TEXT_SIZE];
	zone_format_instant(round->centre.timezone, jget_str(cache, "fetched_at"), fetched);
	fprintf(stderr,
	        "rollcall: OFFLINE: the server cannot be reached. Round %d of %s is taken from "
	        "the %zu residents this terminal fetched at %s; it is kept here and sent by "
	        "`rollcall sync`.\n",
	        round->slot, round->day, round->count, fetched);
	round->offline = true;
	json_decref(cache);
	return RC_OK;
}

/* Long because it is the order of a round: arguments, file, centre, which round, the server's
 * or the terminal's copy, then the interactive or batch taking of it. */
int cmd_round(struct session *session, const struct cmd_args *args)
{
	const char *date_text = args->value[OPT_DATE];
	const char *slot_text = args->value[OPT_SLOT];
	const char *file = args->value[OPT_FILE];
	struct round round = {0};
	struct round_entries entries = {0};
	struct observation *observations = NULL;
	bool json_file = false;
	int rc;

	if ((date_text != NULL) != (slot_text != NULL))
		return usage_error(args, "--date and --slot go together");
	if (date_text != NULL && !date_parse(date_text, &round.date))
		return usage_error(args, "--date: '%s' is not a date (YYYY-MM-DD)", date_text);
	if (slot_text != NULL) {
		if (strlen(slot_text) != 1 || slot_text[0] < '1' || slot_text[0] > '3')
			return usage_error(args, "--slot: '%s' is not 1, 2 or 3", slot_text);
		round.slot = slot_text[0] - '0';
	}
	if (file != NULL && date_text == NULL)
		return usage_error(args, "--file needs --date and --slot");
	if (file == NULL && !isatty(STDIN_FILENO))
		return usage_error(args, "standard input is not a terminal: take the round at a "
		                         "terminal, or send it with --date, --slot and --file");

	/* A mistake in the file is found before anything is asked of the server. */
	if (file != NULL) {
		rc = parse_round_file(args, file, &entries, &json_file);
		if (rc != RC_OK)
			goto done;
	}

	rc = resolve_centre(session, args, &round.centre);
	if (rc == RC_OK && date_text == NULL)
		rc = choose_current_round(session, &round);
	if (rc == RC_OK)
		rc = fetch_round(session, &round);
	if (rc == RC_UNREACHABLE && file == NULL && server_out_of_reach(session)) {
		round_free(&round);
		rc = offline_round(args, &round, date_text != NULL);
	}
	if (rc != RC_OK)
		goto done;

	if (file != NULL) {
		rc = batch_round(session, args, &round, &entries, json_file);
	} else if (round.count == 0) {
		printf("Nobody is expected in round %d of %s at %s.\n", round.slot, round.day,
		       round.centre.name);
	} else {
		observations = calloc(round.count + 1, sizeof(*observations));
		if (observations == NULL) {
			fprintf(stderr, "rollcall: out of memory\n");
			rc = RC_REFUSED;
			goto done;
		}
		if (round.offline)
			rc = offline_setup(&round, observations);
		if (rc == RC_OK)
			rc = interactive_round(session, &round, observations);
	}
done:
	free(observations);
	round_entries_free(&entries);
	round_free(&round);
	return rc;
}
