/* Shared helpers of the managers' and the IT person's commands (see office.h). Local times are
 * read with TZ switched around mktime, as zone.c shows them: the client has one thread. */
#include "office.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "json_get.h"
#include "zone.h"

#define OFFICE_LIMIT_MAX 1000000
#define PAGE_LIMIT_MAX 1000 /* the daemon's largest ?limit= */
#define MAX_PAGES 100000

/* "id:N" with N a positive number, or 0 when text is not of that form. */
static long long resident_id_of(const char *text)
{
	if (strncmp(text, "id:", 3) != 0)
		return 0;
	char *end = NULL;
	errno = 0;
	long long value = strtoll(text + 3, &end, 10);
	if (errno != 0 || end == text + 3 || *end != '\0' || value <= 0)
		return 0;
	return value;
}

bool office_resident_syntax_ok(const char *who)
{
	if (who == NULL || who[0] == '\0')
		return false;
	if (strncmp(who, "id:", 3) == 0)
		return resident_id_of(who) > 0;
	return strlen(who) <= 64;
}

int office_resident(struct session *session, const struct cmd_args *args, const char *who,
                    long long *id, json_t **resident, struct centre_ref *centre)
{
	*resident = NULL;
	*id = resident_id_of(who);
	int rc;
	if (*id > 0) {
		char path[96];
		if (!path_format(path, sizeof(path), "/v1/residents/%lld", *id))
			return RC_USAGE;
		rc = session_get(session, path, resident);
		if (rc != RC_OK)
			return rc;
	} else {
		rc = resolve_resident(session, args, who, NULL, 0, resident);
		if (rc != RC_OK)
			return rc;
		(void)jget_int(*resident, "id", id);
	}
	centre_lookup(session, jget_str(*resident, "centre"), centre);
	return RC_OK;
}

bool office_instant(const char *zone, const char *text, time_t *out)
{
	if (text == NULL)
		return false;
	/* zone.c reads what staff type ("07:05", "2026-11-20 23:00", RFC 3339), as every other
	 * command does; "07:05" is on the centre's today. */
	struct date today;
	zone_date(zone, time(NULL), &today);
	/* A day alone ("--from 2026-11-01") is its first minute. */
	char midnight[32];
	if (strlen(text) == 10 && text[4] == '-' && text[7] == '-') {
		snprintf(midnight, sizeof midnight, "%s 00:00", text);
		text = midnight;
	}
	return zone_parse_local(zone, text, &today, out);
}

bool office_instant_option(const struct cmd_args *args, int option, const char *zone,
                           char out[INSTANT_TEXT_SIZE], int *rc)
{
	time_t t;
	const char *text = args->value[option];
	static const char *const names[OPTION_COUNT] = {
	    [OPT_ACCOUNTED_FOR_AT] = "--accounted-for-at",
	    [OPT_HEARD_AT] = "--heard-at",
	    [OPT_FROM_AT] = "--from",
	    [OPT_TO_AT] = "--to",
	    [OPT_OCCURRED_AT] = "--occurred-at",
	};
	if (!office_instant(zone, text, &t)) {
		*rc =
		    usage_error(args,
		                "%s: '%s' is not a time (2026-11-20 23:00 in the centre's time, or "
		                "RFC 3339 with offset such as 2026-11-20T23:00:00+01:00)",
		                names[option] ? names[option] : "option", text ? text : "");
		return false;
	}
	instant_format_utc(t, out);
	return true;
}

bool office_instant_valid(const struct cmd_args *args, int option, int *rc)
{
	char ignored[INSTANT_TEXT_SIZE];
	return args->value[option] == NULL ||
	       office_instant_option(args, option, NULL, ignored, rc);
}

char *office_when(const char *zone, const char *instant, char out[OFFICE_WHEN_SIZE])
{
	/* zone_format_instant shows the zone's abbreviation already ("2026-11-20 23:00 CET"). */
	char shown[ZONE_TEXT_SIZE];
	out[0] = '\0';
	if (instant != NULL)
		snprintf(out, OFFICE_WHEN_SIZE, "%s", zone_format_instant(zone, instant, shown));
	return out;
}

bool office_limit(const struct cmd_args *args, size_t *limit, int *rc)
{
	const char *text = args->value[OPT_LIMIT];
	*limit = 0;
	if (text == NULL)
		return true;
	char *end = NULL;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < 1 || value > OFFICE_LIMIT_MAX) {
		*rc = usage_error(args, "--limit: '%s' is not a number from 1 to %d", text,
		                  OFFICE_LIMIT_MAX);
		return false;
	}
	*limit = (size_t)value;
	return true;
}

int office_list(struct session *session, const char *path, size_t limit, json_t **items,
                json_t **next)
{
	static const char *const list_keys[] = {"items", NULL};
	json_t *all = json_array();
	char page_path[2048], cursor[PATH_PART_SIZE], page_size[32] = "";
	int rc = RC_OK;

	*items = NULL;
	*next = NULL;
	if (all == NULL) {
		fprintf(stderr, "rollcall: out of memory\n");
		return RC_UNREACHABLE;
	}
	/* With a limit, pages no larger than needed. */
	if (limit > 0)
		snprintf(page_size, sizeof(page_size), "%slimit=%zu", strchr(path, '?') ? "&" : "?",
		         limit < PAGE_LIMIT_MAX ? limit : PAGE_LIMIT_MAX);
	if (!path_format(page_path, sizeof(page_path), "%s%s", path, page_size)) {
		json_decref(all);
		return RC_USAGE;
	}
	for (int page = 0; page < MAX_PAGES; page++) {
		json_t *answer = NULL;
		rc = session_get(session, page_path, &answer);
		if (rc != RC_OK)
			break;
		json_t *list = json_is_array(answer) ? answer : jget_array_of(answer, list_keys);
		if (list == NULL) {
			fprintf(stderr, "rollcall: the server's answer to %s is not a list\n",
			        path);
			json_decref(answer);
			rc = RC_UNREACHABLE;
			break;
		}
		size_t index;
		json_t *item;
		bool full = false;
		json_array_foreach(list, index, item)
		{
			if (limit > 0 && json_array_size(all) == limit) {
				full = true;
				break;
			}
			if (json_array_append(all, item) != 0) {
				rc = RC_UNREACHABLE;
				break;
			}
		}
		char after[256];
		jget_text(answer, "next", after, sizeof(after));
		json_decref(answer);
		if (rc != RC_OK)
			break;
		/* The list goes on past the limit: say where (the cursor of the page's end is
		 * exact only when the page ended at the limit). */
		if (limit > 0 && json_array_size(all) == limit && (full || after[0] != '\0')) {
			if (!full && after[0] != '\0')
				*next = json_string(after);
			else
				*next = json_true();
			break;
		}
		if (after[0] == '\0')
			break;
		if (!path_escape(after, cursor) ||
		    !path_format(page_path, sizeof(page_path), "%s%safter=%s%s", path,
		                 strchr(path, '?') ? "&" : "?", cursor, page_size)) {
			rc = RC_UNREACHABLE;
			break;
		}
	}
	if (rc != RC_OK) {
		json_decref(all);
		json_decref(*next);
		*next = NULL;
		return rc;
	}
	*items = all;
	return RC_OK;
}

int office_print_list(const json_t *items, const json_t *next)
{
	json_t *document = json_pack("{sOsO}", "items", (json_t *)items, "next",
	                             next && json_is_string(next) ? (json_t *)next : json_null());
	int rc = document != NULL && print_json(document) ? RC_OK : RC_REFUSED;
	json_decref(document);
	return rc;
}

int office_print_table(struct table *table, const char *prefix, size_t count, const char *noun,
                       bool more)
{
	printf("%s%zu %s%s%s\n", prefix, count, noun, count == 1 ? "" : "s",
	       more ? " (more with a larger --limit)" : "");
	int rc = count > 0 ? print_table(table) : RC_OK;
	table_free(table);
	return rc;
}

bool office_json_printed(const struct session *session, const json_t *value, int *rc)
{
	if (!session->json)
		return false;
	*rc = print_json(value ? value : json_null()) ? RC_OK : RC_REFUSED;
	return true;
}
