/* Audit rows the daemon writes on its own, outside any request's api() call: the connections
 * and alert streams it ends, and the requests it refuses, because a certificate was revoked or
 * an account disabled or narrowed (SPEC sections 7 and 8, v2). */
#ifndef ROLLCALL_AUDIT_CLOSED_H
#define ROLLCALL_AUDIT_CLOSED_H

#include <jansson.h>

/* Queues one row (schema/code/sessions.sql, audit_connection_closed) at the daemon's clock:
 * action e.g. "connection_closed" or "stream_closed", outcome e.g. "revoked" or
 * "account_disabled", detail (stolen, may be NULL) the reason and what was ended. A failure is
 * logged: the closing itself never waits on the database. */
void audit_connection_closed(const char *cn, const char *remote, const char *action,
                             const char *outcome, json_t *detail);

#endif
