/* Audit rows for connections and streams the daemon ends itself (audit_closed.h). The query is
 * sent and forgotten: closing a revoked connection must not wait for PostgreSQL, and a row that
 * cannot be written is logged with everything it would have held. */
#include "audit_closed.h"

#include <stdlib.h>

#include "clock.h"
#include "daemon.h"
#include "db.h"
#include "log.h"

static const char audit_sql[] = "SELECT audit_connection_closed($1::timestamptz, $2, $3, $4, $5, "
                                "$6::jsonb)";

static void audit_done(void *arg, const struct db_result *r)
{
	char *what = arg;
	if (r->status != DB_OK)
		log_error("audit: cannot record %s: %s", what, r->message);
	free(what);
}

void audit_connection_closed(const char *cn, const char *remote, const char *action,
                             const char *outcome, json_t *detail)
{
	char now[CLOCK_TEXT_SIZE];
	clock_format(clock_now_us(), now);
	char *detail_text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(detail);
	json_t *summary = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "at", now, "cn", cn, "action",
	                            action, "outcome", outcome, "detail", detail_text);
	char *what = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
	json_decref(summary);
	const char *params[6] = {now, cn, remote ? remote : "", action, outcome, detail_text};
	if (!what || !daemon_state || !daemon_state->db ||
	    !db_query(daemon_state->db, audit_sql, 6, params, audit_done, what)) {
		log_error("audit: cannot queue %s %s of %s (%s)", action, outcome, cn,
		          detail_text ? detail_text : "");
		free(what);
	}
	free(detail_text);
}
