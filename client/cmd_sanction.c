/* `rollcall sanction CASE ...`: a manager decides a sanction, the withdrawal of a share of the
 * supplement for some days (POST /v1/residents/{id}/sanctions); the daemon sends the IN12 report
 * to the Immigration Service. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dates.h"
#include "format.h"
#include "json_get.h"
#include "office.h"
#include "resolve.h"
#include "session.h"

/* Everything a sanction needs, checked before anything is sent; false after a usage error. */
static bool check_arguments(const struct cmd_args *args, long *percent, int *rc)
{
	static const struct {
		int option;
		const char *name;
	} dates[] = {{OPT_FROM, "--from"}, {OPT_TO, "--to"}};
	struct date day;
	if (!office_resident_syntax_ok(args->positional[0])) {
		*rc = usage_error(args, "CASE: '%s' is not a case number or id:N",
		                  args->positional[0]);
		return false;
	}
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		const char *text = args->value[dates[i].option];
		if (text == NULL || !date_parse(text, &day)) {
			*rc =
			    usage_error(args, "%s DATE is needed (YYYY-MM-DD)%s%s%s", dates[i].name,
			                text ? ", not '" : "", text ? text : "", text ? "'" : "");
			return false;
		}
	}
	const char *percent_text = args->value[OPT_PERCENT];
	char *end = NULL;
	errno = 0;
	*percent = percent_text ? strtol(percent_text, &end, 10) : 0;
	if (percent_text == NULL || errno != 0 || end == percent_text || *end != '\0' ||
	    *percent < 1 || *percent > 100) {
		*rc = usage_error(args, "--percent N is needed, a whole number from 1 to 100%s%s%s",
		                  percent_text ? " (not '" : "", percent_text ? percent_text : "",
		                  percent_text ? "')" : "");
		return false;
	}
	const char *reason = args->value[OPT_REASON];
	if (reason == NULL || reason[strspn(reason, " \t")] == '\0') {
		*rc = usage_error(args, "--reason TEXT is needed: why the sanction is decided");
		return false;
	}
	if (args->value[OPT_HEARD_AT] == NULL) {
		*rc =
		    usage_error(args, "--heard-at INSTANT is needed: when the resident was heard");
		return false;
	}
	return office_instant_valid(args, OPT_HEARD_AT, rc);
}

int cmd_sanction(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	long percent;
	if (!check_arguments(args, &percent, &rc))
		return rc;

	long long id;
	json_t *resident = NULL;
	struct centre_ref centre;
	rc = office_resident(session, args, args->positional[0], &id, &resident, &centre);
	if (rc != RC_OK)
		return rc;
	char label[400];
	resident_label_of(resident, label, sizeof(label));
	json_decref(resident);

	char heard_at[INSTANT_TEXT_SIZE], path[96];
	if (!office_instant_option(args, OPT_HEARD_AT, centre.timezone, heard_at, &rc))
		return rc;
	if (!path_format(path, sizeof(path), "/v1/residents/%lld/sanctions", id))
		return RC_USAGE;
	json_t *body = json_pack("{sssssissss}", "from", args->value[OPT_FROM], "to",
	                         args->value[OPT_TO], "percent", (int)percent, "reason",
	                         args->value[OPT_REASON], "heard_at", heard_at);
	if (body == NULL)
		return RC_REFUSED;
	json_t *sanction = NULL;
	rc = session_send(session, "POST", path, body, &sanction);
	json_decref(body);
	if (rc != RC_OK || office_json_printed(session, sanction, &rc)) {
		json_decref(sanction);
		return rc;
	}
	char when[OFFICE_WHEN_SIZE], sanction_id[24];
	char *clean = format_clean(label);
	jget_text(sanction, "id", sanction_id, sizeof(sanction_id));
	printf("Sanction %s: %ld %% of the supplement of %s withdrawn from %s to %s.\n",
	       sanction_id, percent, clean ? clean : "", args->value[OPT_FROM],
	       args->value[OPT_TO]);
	printf("Heard at %s. The Immigration Service receives the IN12 report.\n",
	       office_when(centre.timezone, jget_str(sanction, "heard_at"), when));
	free(clean);
	json_decref(sanction);
	return flush_stdout() ? RC_OK : RC_REFUSED;
}
