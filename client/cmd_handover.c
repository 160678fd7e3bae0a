/* `rollcall handover`: the shift handover of a centre (GET /v1/centres/{id}/handover) on one
 * screen, what the incoming shift must act on first at the top; `--json` prints the document. */
#include <stdarg.h>
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

#define LINE_MAX_BYTES 1200

/* The output so far: every line goes through format_clean (the server's texts, a concern say,
 * may hold control characters), and the first failure is remembered. */
struct screen {
	const char *zone;
	bool failed;
};

static void say(struct screen *screen, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void say(struct screen *screen, const char *format, ...)
{
	char line[LINE_MAX_BYTES];
	va_list ap;
	va_start(ap, format);
	vsnprintf(line, sizeof(line), format, ap);
	va_end(ap);
	char *clean = format_clean(line);
	if (clean == NULL || printf("%s\n", clean) < 0)
		screen->failed = true;
	free(clean);
}

/* "HO-7 Amal Haddad", or "-" for an item without a resident. */
static const char *who(const json_t *item, char *out, size_t outlen)
{
	const char *c = jget_str(item, "case_number"), *g = jget_str(item, "given_name"),
	           *f = jget_str(item, "family_name");
	if (c == NULL)
		snprintf(out, outlen, "-");
	else
		snprintf(out, outlen, "%s %s %s", c, g ? g : "", f ? f : "");
	return out;
}

static const char *local(const struct screen *screen, const json_t *item, const char *key,
                         char out[ZONE_TEXT_SIZE])
{
	const char *at = jget_str(item, key);
	if (at == NULL)
		snprintf(out, ZONE_TEXT_SIZE, "-");
	else
		zone_format_instant(screen->zone, at, out);
	return out;
}

static size_t count(const json_t *doc, const char *key)
{
	return json_array_size(json_object_get(doc, key));
}

/* Per authority: "police delivered 10:02 (no receipt)". */
static void authorities_text(const json_t *absence, char *out, size_t outlen)
{
	size_t used = 0, index;
	json_t *a;
	out[0] = '\0';
	json_array_foreach(json_object_get(absence, "authorities"), index, a)
	{
		const char *state = jget_str(a, "state");
		int n = snprintf(out + used, outlen - used, "%s%s %s%s", used ? "; " : "",
		                 jget_str(a, "authority") ? jget_str(a, "authority") : "?",
		                 state ? state : "?",
		                 json_is_object(json_object_get(a, "receipt")) ? ", receipt"
		                 : jget_str(a, "delivered_at")                 ? ", no receipt"
		                                                               : "");
		if (n < 0 || (size_t)n >= outlen - used)
			break;
		used += (size_t)n;
	}
}

static void print_absences(struct screen *s, const json_t *doc)
{
	char name[300], since[ZONE_TEXT_SIZE], notify[ZONE_TEXT_SIZE], authorities[400];
	size_t index;
	json_t *item;
	say(s, "AWAY (%zu)", count(doc, "open_absences"));
	json_array_foreach(json_object_get(doc, "open_absences"), index, item)
	{
		const char *notified = jget_str(item, "notified_at");
		const char *concern = jget_str(item, "concern");
		authorities_text(item, authorities, sizeof(authorities));
		say(s, "  %s  since %s  %s%s%s%s  authorities %s %s%s%s",
		    who(item, name, sizeof(name)), local(s, item, "since", since),
		    jget_str(item, "reason"), concern ? " \"" : "", concern ? concern : "",
		    concern ? "\"" : "", notified ? "notified" : "to be notified",
		    local(s, item, notified ? "notified_at" : "notify_at", notify),
		    authorities[0] ? ": " : "", authorities);
	}
}

static void print_alerts(struct screen *s, const json_t *doc)
{
	char name[300];
	size_t index;
	json_t *item;
	say(s, "ALERTS NOT ACKNOWLEDGED (%zu)", count(doc, "open_alerts"));
	json_array_foreach(json_object_get(doc, "open_alerts"), index, item)
	{
		long long age = 0, id = 0;
		(void)jget_int(item, "age_minutes", &age);
		(void)jget_int(item, "alert", &id);
		const char *priority = jget_str(item, "priority");
		char upper[16] = "";
		for (size_t i = 0; priority && priority[i] && i + 1 < sizeof(upper); i++)
			upper[i] =
			    (char)(priority[i] >= 'a' && priority[i] <= 'z' ? priority[i] - 32
			                                                    : priority[i]);
		/* A round's alert names no resident: its round instead. */
		const json_t *details = json_object_get(item, "details");
		if (jget_str(item, "case_number") == NULL && jget_str(details, "date") != NULL) {
			long long slot = 0;
			(void)jget_int(details, "slot", &slot);
			snprintf(name, sizeof(name), "round %s/%lld", jget_str(details, "date"),
			         slot);
		} else {
			who(item, name, sizeof(name));
		}
		char age_text[32];
		if (age < 120)
			snprintf(age_text, sizeof(age_text), "%lld min", age);
		else
			snprintf(age_text, sizeof(age_text), "%lld h", age / 60);
		say(s, "  %-6s %s  %s  %s%s  [ack %lld]", upper, jget_str(item, "kind"), name,
		    age_text, jget_str(item, "escalated_at") ? "  ESCALATED" : "", id);
	}
}

static void print_unaccounted(struct screen *s, const json_t *doc)
{
	char name[300], round[ZONE_TEXT_SIZE];
	const json_t *last = json_object_get(doc, "last_round");
	size_t index;
	json_t *item;
	if (json_is_object(last))
		say(s, "NOT ACCOUNTED FOR in the round of %s (%zu)",
		    local(s, last, "scheduled_at", round), count(doc, "unaccounted"));
	else
		say(s, "NOT ACCOUNTED FOR (no round yet) (0)");
	json_array_foreach(json_object_get(doc, "unaccounted"), index, item)
	    say(s, "  %s", who(item, name, sizeof(name)));
}

static void print_notifications(struct screen *s, const json_t *doc)
{
	char name[300], due[ZONE_TEXT_SIZE];
	size_t index;
	json_t *item;
	say(s, "NOTIFICATIONS UNDELIVERED OR UNCONFIRMED (%zu)", count(doc, "notifications"));
	json_array_foreach(json_object_get(doc, "notifications"), index, item)
	{
		const char *error = jget_str(item, "last_error");
		say(s, "  %s to %s  %s  due %s  %s%s%s", jget_str(item, "type"),
		    jget_str(item, "authority"), who(item, name, sizeof(name)),
		    local(s, item, "due_at", due), jget_str(item, "state"), error ? ": " : "",
		    error ? error : "");
	}
}

static void print_residents(struct screen *s, const json_t *doc)
{
	char name[300];
	size_t index;
	json_t *item;
	say(s, "TURNING 18 WITHIN 30 DAYS (%zu)", count(doc, "turning_18"));
	json_array_foreach(json_object_get(doc, "turning_18"), index, item)
	{
		long long days = 0;
		(void)jget_int(item, "days_left", &days);
		say(s, "  %s  on %s (%lld days)", who(item, name, sizeof(name)),
		    jget_str(item, "turns_18_on"), days);
	}
	say(s, "WITHOUT A CURRENT MISSING-PERSON PROFILE (%zu)", count(doc, "without_profile"));
	json_array_foreach(json_object_get(doc, "without_profile"), index, item)
	    say(s, "  %s  (%s)", who(item, name, sizeof(name)), jget_str(item, "missing"));
}

int cmd_handover(struct session *session, const struct cmd_args *args)
{
	const char *at = args->value[OPT_AT];
	char normalised[INSTANT_TEXT_SIZE] = "";
	if (at != NULL) {
		time_t instant;
		if (!instant_parse(at, &instant))
			return usage_error(
			    args,
			    "--at: '%s' is not an instant (RFC 3339 with offset, e.g. "
			    "2026-11-20T15:00:00+01:00)",
			    at);
		instant_format_utc(instant, normalised);
	}
	struct centre_ref centre = {0};
	int rc = resolve_centre(session, args, &centre);
	if (rc != RC_OK)
		return rc;
	char escaped[PATH_PART_SIZE], path[PATH_PART_SIZE + 128];
	if (!path_escape(centre.id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/centres/%s/handover%s%s", escaped,
	                 at ? "?at=" : "", at ? normalised : ""))
		return RC_USAGE;
	/* "+00:00" in a query is a space to the server: the UTC form ends in Z or +00:00. */
	for (char *plus = strchr(path, '+'); plus != NULL; plus = strchr(plus, '+')) {
		size_t tail = strlen(plus + 1);
		if (strlen(path) + 3 > sizeof(path))
			return RC_USAGE;
		memmove(plus + 3, plus + 1, tail + 1);
		memcpy(plus, "%2B", 3);
		plus += 3;
	}
	json_t *doc = NULL;
	rc = session_get(session, path, &doc);
	if (rc != RC_OK)
		return rc;
	if (session->json) {
		rc = print_json(doc) ? RC_OK : RC_REFUSED;
		json_decref(doc);
		return rc;
	}
	struct screen screen = {.zone = centre.timezone};
	char when[ZONE_TEXT_SIZE];
	say(&screen, "Shift handover: %s, %s%s%s", centre.name[0] ? centre.name : centre.id,
	    local(&screen, doc, "at", when), centre.timezone[0] ? " " : "", centre.timezone);
	say(&screen, "%s", "");
	print_absences(&screen, doc);
	print_alerts(&screen, doc);
	print_unaccounted(&screen, doc);
	print_notifications(&screen, doc);
	print_residents(&screen, doc);
	json_decref(doc);
	return !screen.failed && flush_stdout() ? RC_OK : RC_REFUSED;
}
