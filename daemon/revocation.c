/* NOTIFY rc_account -> account_scope() -> close what the account may no longer have
 * (revocation.h). The account's live alert events are held from the notification until the
 * answer, so that no event committed after the change reaches a stream it forbids; when the
 * database cannot answer, the account's streams are ended (they reconnect and are authorised
 * afresh) rather than left running unchecked. Its other connections need nothing more when the
 * database is away: api() checks the account on every request. */
#include "revocation.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alert_hub.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "server.h"

static const char scope_sql[] = "SELECT account_scope($1)::text";

#define RECHECK_RETRY_S 1 /* the database did not answer: its streams stay held meanwhile */

static void scope_result(void *arg, const struct db_result *r);

static void scope_send(struct daemon *d, char *cn)
{
	const char *params[1] = {cn};
	if (!db_query(d->db, scope_sql, 1, params, scope_result, cn)) {
		log_warn("accounts: database queue full re-checking %s: ending its alert streams",
		         cn);
		alert_hub_apply_scope(d->alerts, cn, NULL, "account_unchecked");
		free(cn);
	}
}

/* Re-checks waiting for the database: kept in a list so that a daemon stopping before one is
 * due frees it (revocation_stop) instead of leaving it to a timer that never fires. */
struct retry {
	struct event *ev;
	char *cn;
	struct retry *next;
};

static struct retry *retries;

static void retry_unlink(struct retry *r)
{
	for (struct retry **p = &retries; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	event_free(r->ev);
	free(r);
}

static void scope_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct retry *r = arg;
	char *cn = r->cn;
	retry_unlink(r);
	if (daemon_state && daemon_state->alerts)
		scope_send(daemon_state, cn);
	else
		free(cn);
}

/* Schedules a re-check of cn (taken) in RECHECK_RETRY_S; false, cn not taken, when it cannot. */
static bool retry_later(struct daemon *d, char *cn)
{
	struct retry *r = calloc(1, sizeof *r);
	if (!r)
		return false;
	r->ev = evtimer_new(d->base, scope_retry_cb, r);
	struct timeval later = {RECHECK_RETRY_S, 0};
	if (!r->ev || evtimer_add(r->ev, &later) != 0) {
		if (r->ev)
			event_free(r->ev);
		free(r);
		return false;
	}
	r->cn = cn;
	r->next = retries;
	retries = r;
	return true;
}

void revocation_stop(void)
{
	while (retries) {
		struct retry *r = retries;
		free(r->cn);
		retry_unlink(r);
	}
}

static void scope_result(void *arg, const struct db_result *r)
{
	char *cn = arg;
	struct daemon *d = daemon_state;
	json_t *scope = NULL;
	if (r->status == DB_UNAVAILABLE && d && d->alerts && !d->draining) {
		/* After a listener reconnect the pool may not be back yet. The account's streams
		 * stay held (nothing reaches them unchecked) until the database answers. */
		log_debug("accounts: re-checking %s waits for the database", cn);
		if (retry_later(d, cn))
			return;
	}
	if (r->status == DB_OK && PQntuples(r->pg) == 1 && !PQgetisnull(r->pg, 0, 0))
		scope = json_loads(PQgetvalue(r->pg, 0, 0), 0, NULL);
	if (!d || !d->alerts || !d->server) {
		json_decref(scope);
		free(cn);
		return;
	}
	if (!scope) {
		log_warn("accounts: cannot read account %s again after a change (%s): ending its "
		         "alert streams, which reconnect and are authorised afresh",
		         cn, r->status == DB_OK ? "no answer" : r->message);
		alert_hub_apply_scope(d->alerts, cn, NULL, "account_unchecked");
	} else if (!json_is_true(json_object_get(scope, "active"))) {
		int streams = alert_hub_apply_scope(d->alerts, cn, NULL, "account_disabled");
		int connections = server_close_account(d->server, cn, "account_disabled");
		if (streams || connections)
			log_info("accounts: %s is disabled or gone: closed %d connections and %d "
			         "alert streams",
			         cn, connections, streams);
	} else {
		alert_hub_apply_scope(d->alerts, cn, scope, "account_scope_changed");
	}
	json_decref(scope);
	free(cn);
}

static void recheck_account(void *arg, const char *payload)
{
	struct daemon *d = arg;
	char *cn = strdup(payload);
	if (!cn) {
		log_error("accounts: out of memory re-checking %s: ending its alert streams",
		          payload);
		alert_hub_apply_scope(d->alerts, payload, NULL, "account_unchecked");
		return;
	}
	alert_hub_suspend_account(d->alerts, cn);
	scope_send(d, cn);
}

static void on_account_notify(void *arg, const char *channel, const char *payload)
{
	struct daemon *d = arg;
	(void)channel;
	if (payload) {
		recheck_account(d, payload);
		return;
	}
	/* The listener reconnected: a change notified meanwhile was lost, and the alert hub
	 * keeps its streams now (it catches them up instead of ending them), so every account
	 * with a stream here is read again; its live events are held until then. */
	alert_hub_each_account(d->alerts, recheck_account, d);
}

bool revocation_start(struct daemon *d)
{
	return db_listen(d->db, "rc_account", on_account_notify, d);
}
