/* The audit sealer: every second (on the wall clock, since sealing is no business rule and the
 * test clock stands still) it asks PostgreSQL to seal the committed unsealed audit rows, in
 * batches, and logs the chain's head so the log anchors it. Requests never wait for it: they
 * insert unsealed rows side by side, and however many daemons run, one seals at a time
 * (audit_seal takes an advisory lock; the others find nothing to do). */
#include <event2/event.h>
#include <stdlib.h>

#include "audit_seal.h"
#include "clock.h"
#include "daemon.h"
#include "db.h"
#include "log.h"

#define SEAL_INTERVAL_US 1000000LL        /* rows are sealed within about this long */
#define SEAL_BATCH 2000                   /* rows per transaction: a backlog after an upgrade */
#define SEAL_HEAD_LOG_US (60 * 1000000LL) /* the head at info level at most this often */

static const char seal_sql[] = "SELECT sealed, head_seal, head_hash FROM audit_seal($1::integer)";

struct audit_sealer {
	struct daemon *d;
	struct event *timer;
	bool running;             /* an audit_seal query is in flight */
	int64_t last_head_log_us; /* monotonic */
	long long burst;          /* rows sealed since the last info line */
};

static void sealer_arm(struct audit_sealer *s, int64_t delay_us)
{
	struct timeval tv = {(time_t)(delay_us / 1000000), (suseconds_t)(delay_us % 1000000)};
	if (evtimer_add(s->timer, &tv) != 0)
		log_error("audit: cannot arm the sealer's timer");
}

static void seal_result(void *arg, const struct db_result *r)
{
	struct audit_sealer *s = arg;
	s->running = false;
	if (r->status != DB_OK || PQntuples(r->pg) != 1) {
		/* An outage or a lost race: the rows stay unsealed and the next tick tries again.
		 */
		if (r->status == DB_FAILED)
			log_error("audit: sealing failed: %s %s", r->sqlstate, r->message);
		else if (r->status == DB_OK)
			log_error("audit: audit_seal returned %d rows", PQntuples(r->pg));
		else
			log_debug("audit: sealing postponed (%s)", r->message);
		sealer_arm(s, SEAL_INTERVAL_US);
		return;
	}
	long sealed = strtol(PQgetvalue(r->pg, 0, 0), NULL, 10);
	if (sealed > 0) {
		s->burst += sealed;
		int64_t mono = clock_monotonic_us();
		bool info = !s->last_head_log_us || mono - s->last_head_log_us >= SEAL_HEAD_LOG_US;
		if (info) {
			log_info("audit: sealed %lld rows; chain head seal %s hash %s", s->burst,
			         PQgetvalue(r->pg, 0, 1), PQgetvalue(r->pg, 0, 2));
			s->last_head_log_us = mono;
			s->burst = 0;
		} else {
			log_debug("audit: sealed %ld rows; chain head seal %s hash %s", sealed,
			          PQgetvalue(r->pg, 0, 1), PQgetvalue(r->pg, 0, 2));
		}
	}
	/* A full batch leaves more behind: go on at once. */
	sealer_arm(s, sealed >= SEAL_BATCH ? 0 : SEAL_INTERVAL_US);
}

static void sealer_tick(evutil_socket_t fd, short what, void *arg)
{
	struct audit_sealer *s = arg;
	(void)fd, (void)what;
	if (s->running)
		return;
	if (s->d->draining)
		return; /* the last rows are sealed by whichever daemon runs next */
	static const char batch[] = "2000";
	_Static_assert(SEAL_BATCH == 2000, "batch text and SEAL_BATCH agree");
	const char *params[1] = {batch};
	if (db_query(s->d->db, seal_sql, 1, params, seal_result, s))
		s->running = true;
	else
		sealer_arm(s, SEAL_INTERVAL_US);
}

struct audit_sealer *audit_sealer_new(struct daemon *d)
{
	struct audit_sealer *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->d = d;
	s->timer = evtimer_new(d->base, sealer_tick, s);
	if (!s->timer) {
		free(s);
		return NULL;
	}
	sealer_arm(s, 0);
	return s;
}

void audit_sealer_free(struct audit_sealer *sealer)
{
	if (!sealer)
		return;
	event_free(sealer->timer);
	free(sealer);
}
