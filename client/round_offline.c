/* Offline rounds: the terminal's cache of expected residents, the current round by the
 * terminal's clock, and sending the pending rounds (see round_offline.h). */
#include "round_offline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "json_get.h"
#include "resolve.h"
#include "tls_http.h"
#include "zone.h"

/* Cache file names are made of the centre id; anything but [A-Za-z0-9_-] is hex-escaped so an
 * id can never name another path. */
static void cache_name(const char *centre_id, char out[OFFLINE_PATH_SIZE])
{
	size_t used = (size_t)snprintf(out, OFFLINE_PATH_SIZE, "centre-");
	for (const unsigned char *c = (const unsigned char *)centre_id;
	     *c && used + 4 < OFFLINE_PATH_SIZE - 6; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')
			out[used++] = (char)*c;
		else
			used +=
			    (size_t)snprintf(out + used, OFFLINE_PATH_SIZE - used, "%%%02x", *c);
	}
	snprintf(out + used, OFFLINE_PATH_SIZE - used, ".json");
}

bool round_cache_save(const json_t *centre, const char *date, int slot, const json_t *residents,
                      time_t fetched_at)
{
	char name[OFFLINE_PATH_SIZE], at[INSTANT_TEXT_SIZE];
	const char *id = jget_str(centre, "id");
	if (id == NULL)
		return false;
	cache_name(id, name);
	instant_format_utc(fetched_at, at);
	json_t *cache = json_pack("{sOsssisOss}", "centre", centre, "date", date, "slot", slot,
	                          "residents", residents, "fetched_at", at);
	bool ok = cache != NULL && offline_write(OFFLINE_CACHE, name, cache);
	json_decref(cache);
	return ok;
}

int round_cache_load(const char *centre_id, json_t **cache)
{
	char name[OFFLINE_PATH_SIZE], why[300], dir[OFFLINE_PATH_SIZE];
	*cache = NULL;
	if (!offline_dir_path(OFFLINE_CACHE, dir))
		return RC_USAGE;
	if (centre_id == NULL) {
		/* The only centre this terminal has taken a round at. */
		json_t *names = offline_list(OFFLINE_CACHE, "centre-");
		size_t found = json_array_size(names);
		if (found != 1) {
			fprintf(stderr,
			        found == 0
			            ? "rollcall: the server cannot be reached and this terminal "
			              "has no round of yours to work from (take one round while "
			              "the server is reachable)\n"
			            : "rollcall: the server cannot be reached and this terminal "
			              "knows several centres: name one with --centre ID\n");
			json_decref(names);
			return RC_UNREACHABLE;
		}
		snprintf(name, sizeof(name), "%s", json_string_value(json_array_get(names, 0)));
		json_decref(names);
	} else {
		cache_name(centre_id, name);
	}
	switch (offline_read(OFFLINE_CACHE, name, cache, why, sizeof(why))) {
	case OFFLINE_READ_OK:
		return RC_OK;
	case OFFLINE_READ_MISSING:
		fprintf(stderr,
		        "rollcall: the server cannot be reached and this terminal has no "
		        "round of centre %s to work from\n",
		        centre_id ? centre_id : "?");
		return RC_UNREACHABLE;
	case OFFLINE_READ_CORRUPT:
		break;
	}
	fprintf(stderr, "rollcall: the terminal's copy %s/%s is unreadable (%s)\n", dir, name, why);
	return RC_UNREACHABLE;
}

bool round_offline_pick(const json_t *centre, time_t now, struct date *day, int *slot)
{
	const char *zone = jget_str(centre, "timezone");
	const json_t *times = json_object_get(centre, "check_times");
	struct date today, yesterday;
	bool found = false;
	time_t best = 0;
	if (json_array_size(times) != 3)
		return false;
	zone_date(zone, now, &today);
	date_add_days(&today, -1, &yesterday);
	/* Yesterday's last round runs past midnight; otherwise today's latest already due. */
	const struct date *days[2] = {&yesterday, &today};
	for (int d = 0; d < 2; d++) {
		for (int s = 1; s <= 3; s++) {
			char text[DATE_TEXT_SIZE + 16], date_text[DATE_TEXT_SIZE];
			const char *hhmm = json_string_value(json_array_get(times, (size_t)s - 1));
			time_t at;
			if (hhmm == NULL)
				return false;
			date_format(days[d], date_text);
			snprintf(text, sizeof(text), "%s %s", date_text, hhmm);
			if (!zone_parse_local(zone, text, NULL, &at) || at > now)
				continue;
			if (!found || at > best) {
				best = at;
				*day = *days[d];
				*slot = s;
				found = true;
			}
		}
	}
	return found;
}

json_t *round_pending_find(const char *centre_id, const char *date, int slot,
                           char name[OFFLINE_PATH_SIZE])
{
	json_t *names = offline_pending_names();
	json_t *match = NULL;
	size_t index;
	json_t *entry;
	json_array_foreach(names, index, entry)
	{
		json_t *round = NULL;
		char why[200];
		long long s = 0;
		if (offline_read(OFFLINE_PENDING, json_string_value(entry), &round, why,
		                 sizeof(why)) != OFFLINE_READ_OK)
			continue;
		const char *c = jget_str(round, "centre"), *d = jget_str(round, "date");
		if (c && d && strcmp(c, centre_id) == 0 && strcmp(d, date) == 0 &&
		    jget_int(round, "slot", &s) && s == slot) {
			snprintf(name, OFFLINE_PATH_SIZE, "%s", json_string_value(entry));
			match = round;
			break;
		}
		json_decref(round);
	}
	json_decref(names);
	return match;
}

json_t *round_pending_new(const char *centre_id, const char *date, int slot, time_t now,
                          char name[OFFLINE_PATH_SIZE])
{
	char key[33], at[INSTANT_TEXT_SIZE];
	struct tm tm;
	if (!http_new_idempotency_key(key)) {
		fprintf(stderr, "rollcall: the random number generator failed\n");
		return NULL;
	}
	gmtime_r(&now, &tm);
	/* 20261120T230512Z-<key>.json: sorts by start, unique by key. */
	size_t n = strftime(name, OFFLINE_PATH_SIZE, "%Y%m%dT%H%M%SZ-", &tm);
	snprintf(name + n, OFFLINE_PATH_SIZE - n, "%.12s.json", key);
	instant_format_utc(now, at);
	json_t *round = json_pack("{sssssisssss[]}", "centre", centre_id, "date", date, "slot",
	                          slot, "idempotency_key", key, "started_at", at, "observations");
	if (round == NULL)
		fprintf(stderr, "rollcall: out of memory\n");
	return round;
}

/* ---- sync ---- */

/* The current observation of resident in a round as the server lists it (GET of the round). */
static const json_t *current_of(const json_t *round, long long resident)
{
	size_t index;
	const json_t *item;
	json_array_foreach(json_object_get(round, "residents"), index, item)
	{
		long long id;
		if (jget_int(item, "resident", &id) && id == resident)
			return json_object_get(item, "observation");
	}
	return NULL;
}

/* What the server made of one sent round, in words: stored, and the observations another
 * terminal's later ones overtook, with the one that stands. */
static void report_sent(struct session *session, const json_t *pending, const json_t *answer,
                        const char *path, const char *zone)
{
	FILE *out = session->json ? stderr : stdout;
	const json_t *sent = json_object_get(pending, "observations");
	const json_t *stored = json_object_get(answer, "observations");
	size_t overtaken = 0;
	long long slot = 0;
	(void)jget_int(pending, "slot", &slot);
	fprintf(out, "Sent the offline round %lld of %s at %s: %zu observation%s stored", slot,
	        jget_str(pending, "date"), jget_str(pending, "centre"), json_array_size(sent),
	        json_array_size(sent) == 1 ? "" : "s");
	json_t *round = NULL;
	size_t index;
	const json_t *item;
	json_array_foreach(stored, index, item)
	{
		if (!json_is_false(json_object_get(item, "current")))
			continue;
		if (overtaken++ == 0) {
			fprintf(out, ".\n");
			/* The round as it is now: who recorded what stands instead. */
			bool was_quiet = session->quiet;
			session->quiet = true;
			if (session_get(session, path, &round) != RC_OK)
				round = NULL;
			session->quiet = was_quiet;
		}
		long long resident = 0;
		(void)jget_int(item, "resident", &resident);
		const char *label = NULL;
		size_t k;
		const json_t *mine;
		json_array_foreach(sent, k, mine)
		{
			long long id;
			if (jget_int(mine, "resident", &id) && id == resident)
				label = jget_str(mine, "label");
		}
		const json_t *now = current_of(round, resident);
		char observed[ZONE_TEXT_SIZE], theirs[ZONE_TEXT_SIZE];
		zone_format_instant(zone, jget_str(item, "observed_at"), observed);
		zone_format_instant(zone, jget_str(now, "observed_at"), theirs);
		char line[1200];
		snprintf(line, sizeof(line),
		         "  %s: your %s (observed %s) is history; now current instead: %s observed "
		         "%s by %s",
		         label ? label : "a resident", jget_str(item, "status"), observed,
		         jget_str(now, "status") ? jget_str(now, "status") : "another observation",
		         theirs[0] ? theirs : "?",
		         jget_str(now, "recorded_by") ? jget_str(now, "recorded_by")
		                                      : "another terminal");
		char *clean = format_clean(line);
		fprintf(out, "%s\n", clean ? clean : "");
		free(clean);
	}
	if (overtaken == 0)
		fprintf(out, ", all current.\n");
	json_decref(round);
}

/* The body of a pending round's POST: the observations without the terminal's labels. */
static json_t *pending_body(const json_t *pending)
{
	json_t *list = json_array();
	size_t index;
	const json_t *item;
	json_array_foreach(json_object_get(pending, "observations"), index, item)
	{
		json_t *copy = json_deep_copy(item);
		if (copy != NULL)
			(void)json_object_del(copy, "label"); /* absent in hand-made files */
		if (copy == NULL || json_array_append_new(list, copy) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list ? json_pack("{so}", "observations", list) : NULL;
}

/* Long because each pending file has four outcomes (corrupt, nothing in it, sent, refused,
 * unreachable) reported in one place. */
int round_sync_pending(struct session *session, bool from_other_command)
{
	/* With --json, stdout is the command's JSON document. */
	FILE *out = session->json ? stderr : stdout;
	json_t *names = offline_pending_names();
	size_t total = json_array_size(names), index;
	int rc = RC_OK;
	size_t sent_rounds = 0;
	json_t *entry;
	if (total == 0) {
		json_decref(names);
		if (!from_other_command)
			fprintf(
			    out,
			    "Nothing waiting to be sent: no offline rounds on this terminal.\n");
		return RC_OK;
	}
	if (!from_other_command)
		fprintf(out, "%zu observation%s waiting in %zu offline round%s.\n",
		        offline_pending_observations(),
		        offline_pending_observations() == 1 ? "" : "s", total,
		        total == 1 ? "" : "s");
	json_array_foreach(names, index, entry)
	{
		const char *name = json_string_value(entry);
		char why[300], kept[OFFLINE_PATH_SIZE], path[600], escaped[PATH_PART_SIZE];
		json_t *pending = NULL;
		long long slot = 0;
		if (offline_read(OFFLINE_PENDING, name, &pending, why, sizeof(why)) !=
		    OFFLINE_READ_OK) {
			if (offline_set_aside(OFFLINE_PENDING, name, "corrupt", kept))
				fprintf(
				    stderr,
				    "rollcall: the offline round %s is corrupt (%s): it was not "
				    "sent and is kept as %s for a person to look at\n",
				    name, why, kept);
			rc = rc == RC_OK ? RC_USAGE : rc;
			continue;
		}
		const char *centre = jget_str(pending, "centre");
		const char *date = jget_str(pending, "date");
		const char *key = jget_str(pending, "idempotency_key");
		json_t *body = pending_body(pending);
		if (centre == NULL || date == NULL || key == NULL ||
		    !jget_int(pending, "slot", &slot) || body == NULL) {
			json_decref(body);
			json_decref(pending);
			if (offline_set_aside(OFFLINE_PENDING, name, "corrupt", kept))
				fprintf(stderr,
				        "rollcall: the offline round %s lacks its centre, date, "
				        "slot or "
				        "key: it was not sent and is kept as %s\n",
				        name, kept);
			rc = rc == RC_OK ? RC_USAGE : rc;
			continue;
		}
		if (json_array_size(json_object_get(body, "observations")) == 0) {
			/* Started but nothing answered: there is nothing to send. */
			json_decref(body);
			json_decref(pending);
			if (!offline_remove(OFFLINE_PENDING, name))
				rc = RC_REFUSED;
			continue;
		}
		struct centre_ref place;
		centre_lookup(session, centre, &place);
		if (!path_escape(centre, escaped) ||
		    !path_format(path, sizeof(path), "/v1/centres/%s/rounds/%s/%lld", escaped, date,
		                 slot)) {
			json_decref(body);
			json_decref(pending);
			rc = RC_USAGE;
			continue;
		}
		struct call call = {.method = "POST",
		                    .path = path,
		                    .body = body,
		                    .idempotency_key = key,
		                    .quiet = from_other_command,
		                    /* Before another command, one attempt: a dead network must
		                     * not delay the command (an offline round above all). */
		                    .no_retry = from_other_command};
		struct answer answer;
		bool was_quiet = session->quiet;
		/* Before another command, an unreachable server is that command's to report. */
		session->quiet = from_other_command;
		int sent = session_call(session, &call, &answer);
		session->quiet = was_quiet;
		json_decref(body);
		if (sent == RC_OK) {
			report_sent(session, pending, answer.json, path, place.timezone);
			if (!offline_remove(OFFLINE_PENDING, name))
				rc = RC_REFUSED;
			sent_rounds++;
		} else if (sent == RC_REFUSED && answer.status >= 400 && answer.status < 500 &&
		           answer.status != 408 && answer.status != 429) {
			/* The server will never take it as it is: kept aside, not retried forever,
			 * and never deleted. */
			if (from_other_command)
				session_report_refusal(&answer);
			if (offline_set_aside(OFFLINE_PENDING, name, "refused", kept))
				fprintf(stderr,
				        "rollcall: the server refused the offline round %lld of "
				        "%s: it is "
				        "kept as %s\n",
				        slot, date, kept);
			rc = RC_REFUSED;
		} else {
			answer_free(&answer);
			json_decref(pending);
			if (rc == RC_OK)
				rc = sent;
			break; /* unreachable or failing: the rest waits too, in order */
		}
		answer_free(&answer);
		json_decref(pending);
	}
	json_decref(names);
	size_t waiting = offline_pending_observations();
	if (waiting > 0 && (!from_other_command || sent_rounds > 0))
		fprintf(out, "%zu observation%s still waiting on this terminal (rollcall sync).\n",
		        waiting, waiting == 1 ? "" : "s");
	else if (!from_other_command && rc == RC_OK)
		fprintf(out, "Nothing left waiting.\n");
	return rc;
}
