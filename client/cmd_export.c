/* `rollcall export CASE`: a resident's whole record (GET /v1/residents/{id}/export, admin) as
 * the JSON document the server keeps, for a data-protection request: `rollcall export CASE >
 * file`. The export is audited by the server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dates.h"
#include "json_get.h"
#include "resolve.h"
#include "session.h"

/* "id:N" names the resident by id (a resident no longer enrolled anywhere has no centre to be
 * looked for at); anything else is a case number. */
static bool resident_id_of(const char *text, long long *id)
{
	if (strncmp(text, "id:", 3) != 0)
		return false;
	char *end = NULL;
	errno = 0;
	long long value = strtoll(text + 3, &end, 10);
	if (errno != 0 || end == text + 3 || *end != '\0' || value <= 0)
		return false;
	*id = value;
	return true;
}

int cmd_export(struct session *session, const struct cmd_args *args)
{
	const char *who = args->positional[0];
	long long id = 0;
	if (strncmp(who, "id:", 3) == 0 && !resident_id_of(who, &id))
		return usage_error(args, "'%s' is not a resident id (id:N)", who);
	if (id == 0) {
		struct date on;
		const char *on_text = args->value[OPT_ON];
		if (on_text != NULL && !date_parse(on_text, &on))
			return usage_error(args, "--on: '%s' is not a date (YYYY-MM-DD)", on_text);
		json_t *resident = NULL;
		int rc = resolve_resident(session, args, who, on_text ? &on : NULL, on_text ? 1 : 0,
		                          &resident);
		if (rc != RC_OK)
			return rc;
		bool found = jget_int(resident, "id", &id);
		json_decref(resident);
		if (!found)
			return usage_error(args, "the server named resident %s without an id", who);
	}
	char path[96];
	if (!path_format(path, sizeof(path), "/v1/residents/%lld/export", id))
		return RC_USAGE;
	json_t *record = NULL;
	int rc = session_get(session, path, &record);
	if (rc != RC_OK)
		return rc;
	bool printed = print_json(record ? record : json_null());
	json_decref(record);
	return printed ? RC_OK : RC_REFUSED;
}
