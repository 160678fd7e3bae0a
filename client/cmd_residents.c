/* `rollcall residents`: the residents enrolled at a centre on a day, as a table. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "dates.h"
#include "format.h"
#include "json_get.h"
#include "resolve.h"
#include "session.h"
#include "zone.h"

/* The resident's age on `on`: the server's "age" if it sent one, else from the date of birth. */
static void age_text(const json_t *resident, const struct date *on, char *out, size_t outlen)
{
	long long age;
	struct date born;
	const char *dob = jget_str(resident, "date_of_birth");

	if (jget_int(resident, "age", &age))
		snprintf(out, outlen, "%lld", age);
	else if (dob != NULL && date_parse(dob, &born))
		snprintf(out, outlen, "%d", date_age_on(&born, on));
	else
		out[0] = '\0';
}

int cmd_residents(struct session *session, const struct cmd_args *args)
{
	struct date on;
	const char *on_text = args->value[OPT_ON];
	if (on_text != NULL && !date_parse(on_text, &on))
		return usage_error(args, "--on: '%s' is not a date (YYYY-MM-DD)", on_text);

	struct centre_ref centre;
	int rc = resolve_centre(session, args, &centre);
	if (rc != RC_OK)
		return rc;
	/* Without --on the daemon answers for the centre's today by its own clock, which a test
	 * build may have set far from this machine's. */
	char escaped[PATH_PART_SIZE], path[512], day[DATE_TEXT_SIZE] = "today";
	if (on_text != NULL)
		date_format(&on, day);
	if (!path_escape(centre.id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/centres/%s/residents%s%s", escaped,
	                 on_text ? "?on=" : "", on_text ? day : ""))
		return RC_USAGE;
	json_t *residents = NULL;
	rc = session_list(session, path, &residents);
	if (rc != RC_OK)
		return rc;
	/* For an age the server did not give: the day by its Date header. */
	if (on_text == NULL)
		zone_date(centre.timezone, session_now(session), &on);

	if (session->json) {
		json_t *document = json_pack("{sOsn}", "items", residents, "next");
		rc = document && print_json(document) ? RC_OK : RC_REFUSED;
		json_decref(document);
		json_decref(residents);
		return rc;
	}

	static const char *const headers[] = {"CASE", "NAME", "BORN", "AGE", "PHASE"};
	static const enum table_align align[] = {TABLE_LEFT, TABLE_LEFT, TABLE_LEFT, TABLE_RIGHT,
	                                         TABLE_RIGHT};
	struct table *table = table_new(5, headers, align);
	if (table == NULL)
		goto out_of_memory;
	size_t index;
	json_t *resident;
	json_array_foreach(residents, index, resident)
	{
		char name[300], age[16], phase[16], born[16], case_number[80];
		const char *given = jget_str(resident, "given_name");
		const char *family = jget_str(resident, "family_name");
		snprintf(name, sizeof(name), "%s%s%s", given ? given : "",
		         given && family ? " " : "", family ? family : "");
		age_text(resident, &on, age, sizeof(age));
		jget_text(resident, "phase", phase, sizeof(phase));
		jget_text(resident, "date_of_birth", born, sizeof(born));
		jget_text(resident, "case_number", case_number, sizeof(case_number));
		const char *cells[] = {case_number, name, born, age, phase};
		if (!table_add_row(table, cells))
			goto out_of_memory;
	}
	printf("%s, %s: %zu resident%s\n", centre.name, day, table_rows(table),
	       table_rows(table) == 1 ? "" : "s");
	rc = table_rows(table) > 0 ? print_table(table) : RC_OK;
	table_free(table);
	json_decref(residents);
	return rc;

out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	table_free(table);
	json_decref(residents);
	return RC_REFUSED;
}
