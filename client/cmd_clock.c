/* `rollcall clock [INSTANT]`: shows or sets the daemon's test clock (GET/PUT /v1/clock), for
 * demos and tests of the 12- and 24-hour rules. */
#include <stdio.h>

#include "cli.h"
#include "dates.h"
#include "json_get.h"
#include "session.h"

/* Setting the clock answers once every event due up to the new instant is decided, which can
 * take a while when it moves by days. */
#define CLOCK_SET_TIMEOUT_MS (5 * 60 * 1000)

int cmd_clock(struct session *session, const struct cmd_args *args)
{
	json_t *body = NULL;
	time_t instant;

	if (args->count == 1) {
		const char *text = args->positional[0];
		if (!instant_parse(text, &instant))
			return usage_error(args,
			                   "'%s' is not an instant (RFC 3339 with offset, e.g. "
			                   "2026-11-21T03:00:00+01:00)",
			                   text);
		char normalised[INSTANT_TEXT_SIZE];
		instant_format_utc(instant, normalised);
		body = json_pack("{ss}", "now", normalised);
		if (body == NULL)
			return RC_REFUSED;
	}

	struct call call = {
	    .method = body ? "PUT" : "GET",
	    .path = "/v1/clock",
	    .body = body,
	    .read_timeout_ms = body ? CLOCK_SET_TIMEOUT_MS : 0,
	};
	struct answer answer;
	int rc = session_call(session, &call, &answer);
	json_decref(body);
	if (rc == RC_OK) {
		if (session->json) {
			bool printed = answer.json ? print_json(answer.json) : print_text("{}\n");
			if (!printed)
				rc = RC_REFUSED;
		} else {
			const char *now = jget_str(answer.json, "now");
			printf("%s\n", now ? now : "(the server did not say)");
		}
	}
	answer_free(&answer);
	return rc;
}
