/* `rollcall agreement CASE --proxy NAME --from DATE [--to DATE]`: a manager files a special
 * agreement (saeraftale) under which NAME may collect the resident's allowance (POST
 * /v1/residents/{id}/agreements); `payout --proxy NAME` then works on those days. */
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

int cmd_agreement(struct session *session, const struct cmd_args *args)
{
	const char *proxy = args->value[OPT_AGREEMENT_PROXY];
	const char *from = args->value[OPT_FROM], *to = args->value[OPT_TO];
	struct date day;

	if (!office_resident_syntax_ok(args->positional[0]))
		return usage_error(args, "CASE: '%s' is not a case number or id:N",
		                   args->positional[0]);
	if (proxy == NULL || proxy[strspn(proxy, " \t")] == '\0')
		return usage_error(args, "--proxy NAME is needed: who may collect the allowance");
	if (from == NULL || !date_parse(from, &day))
		return usage_error(args, "--from DATE is needed (YYYY-MM-DD)%s%s%s",
		                   from ? ", not '" : "", from ? from : "", from ? "'" : "");
	if (to != NULL && !date_parse(to, &day))
		return usage_error(args, "--to: '%s' is not a date (YYYY-MM-DD)", to);

	long long id;
	json_t *resident = NULL;
	struct centre_ref centre;
	int rc = office_resident(session, args, args->positional[0], &id, &resident, &centre);
	if (rc != RC_OK)
		return rc;
	char label[400], path[96];
	resident_label_of(resident, label, sizeof(label));
	json_decref(resident);
	if (!path_format(path, sizeof(path), "/v1/residents/%lld/agreements", id))
		return RC_USAGE;
	json_t *body = json_pack("{ssss}", "proxy_name", proxy, "from", from);
	if (body == NULL)
		return RC_REFUSED;
	if (to != NULL && json_object_set_new(body, "to", json_string(to)) != 0) {
		json_decref(body);
		return RC_REFUSED;
	}
	json_t *agreement = NULL;
	rc = session_send(session, "POST", path, body, &agreement);
	json_decref(body);
	if (rc != RC_OK || office_json_printed(session, agreement, &rc)) {
		json_decref(agreement);
		return rc;
	}
	char agreement_id[24];
	char *who = format_clean(label), *name = format_clean(proxy);
	jget_text(agreement, "id", agreement_id, sizeof(agreement_id));
	printf("Special agreement %s: %s may collect the allowance of %s from %s%s%s.\n",
	       agreement_id, name ? name : "", who ? who : "", from, to ? " to " : " on",
	       to ? to : "");
	free(who);
	free(name);
	json_decref(agreement);
	return flush_stdout() ? RC_OK : RC_REFUSED;
}
