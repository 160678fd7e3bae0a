/* The timing engine: every due instant (a notification threshold, a round's deadline, an
 * alert's repeat or escalation, a turning-18 warning) is a row of due_events; this keeps one
 * timer for the next of them and, when it fires, has PostgreSQL decide everything due in
 * batches (due_process claims rows FOR UPDATE SKIP LOCKED and deletes each in the transaction
 * that decides it, so each fires once however many daemons run). NOTIFY rc_due tells every
 * daemon of a new row, so the timer can move earlier; a listener reconnect, a start and every
 * PUT /v1/clock re-read the table, so nothing that fell due meanwhile is missed.
 *
 * With the test clock the clock stands still: due events are decided when PUT /v1/clock moves
 * it (due_engine_run_now, which answers only when everything due has been committed, by this
 * daemon or another), or at once when a new row is due already. */
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "log.h"

/* Rows per due_process transaction: small while events come one at a time, so that a new one
 * never waits behind a long batch; 800, then 3,200 while batches come back full (a backlog after
 * a restart), since a batch decides each kind's rows in one statement per table and the cost
 * per transaction is then what remains. */
#define DUE_BATCH_MIN 200
#define DUE_BATCH_MAX 3200
#define DUE_IDLE_RECHECK_US (60 * 1000000LL) /* re-read the next instant at least this often */
#define DUE_BUSY_POLL_MIN_MS 20              /* due rows held by another daemon: look again */
#define DUE_BUSY_POLL_MAX_MS 1000
#define DUE_RETRY_MIN_MS 200  /* database trouble: back off */
#define DUE_RETRY_MAX_MS 1000 /* low: after a failover the engine is back within seconds */
#define SWEEP_INTERVAL_US (3600 * 1000000LL) /* idempotency keys are swept hourly */

static const char process_sql[] = "SELECT processed, next_due FROM due_process($1::timestamptz, "
                                  "$2::integer)";
static const char sweep_sql[] = "SELECT idempotency_sweep($1::timestamptz)";

/* A caller of due_engine_run_now, answered when a run that began after the call has decided
 * everything due. */
struct due_waiter {
	struct due_waiter *next;
	void (*done)(void *arg, bool ok);
	void *arg;
};

struct due_engine {
	struct daemon *d;
	struct event *timer;
	bool running;               /* a due_process query is in flight */
	bool helping;               /* a second one works through a backlog beside it */
	int helper_batch;           /* rows the helper's query in flight may decide */
	bool rerun;                 /* something happened meanwhile: run again afterwards */
	struct due_waiter *waiting; /* run_now callers that came after the run in flight began */
	struct due_waiter *current; /* answered when the runs from now on settle */
	int64_t run_now_us;         /* the clock instant the run in flight decides up to */
	int64_t timer_at_us;        /* the clock instant the timer is armed for, 0 when idle */
	int retry_ms, busy_ms;
	int batch;                  /* rows the next due_process may decide */
	int64_t burst_decided;      /* events decided since the engine last settled */
	unsigned long long decided; /* all events decided by this daemon */
	int64_t last_sweep_us;      /* monotonic */
	bool sweeping;
};

static void engine_run(struct due_engine *e);
static void helper_start(struct due_engine *e);

/* ---- timer ---- */

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct due_engine *e = arg;
	(void)fd, (void)what;
	e->timer_at_us = 0;
	engine_run(e);
}

/* Arms the timer `delay_us` from now (replacing any earlier arming). */
static void timer_arm_in(struct due_engine *e, int64_t delay_us)
{
	if (delay_us < 0)
		delay_us = 0;
	struct timeval tv = {(time_t)(delay_us / 1000000), (suseconds_t)(delay_us % 1000000)};
	e->timer_at_us = clock_now_us() + delay_us;
	if (evtimer_add(e->timer, &tv) != 0)
		log_error("due: cannot arm the timer");
}

/* Arms the timer for a due instant on the wall clock. With the test clock, instants in the
 * future come only with PUT /v1/clock, so there is nothing to wait for. */
static void timer_arm_for(struct due_engine *e, int64_t due_us)
{
	if (clock_is_test())
		return;
	int64_t delay = due_us - clock_now_us();
	if (delay > DUE_IDLE_RECHECK_US)
		delay = DUE_IDLE_RECHECK_US; /* a safety net against a lost notification */
	/* libevent's timers have microsecond fields but millisecond practice: a timer that
	 * fires a hair early would find nothing due and spin. */
	timer_arm_in(e, delay + 1000);
}

static void timer_arm_retry(struct due_engine *e)
{
	timer_arm_in(e, (int64_t)e->retry_ms * 1000);
	e->retry_ms = e->retry_ms * 2 > DUE_RETRY_MAX_MS ? DUE_RETRY_MAX_MS : e->retry_ms * 2;
}

/* ---- waiters ---- */

static void waiters_answer(struct due_waiter **list, bool ok)
{
	struct due_waiter *w = *list;
	*list = NULL;
	/* Oldest first: the list is kept newest first. */
	struct due_waiter *reversed = NULL;
	while (w) {
		struct due_waiter *next = w->next;
		w->next = reversed;
		reversed = w;
		w = next;
	}
	while (reversed) {
		struct due_waiter *next = reversed->next;
		reversed->done(reversed->arg, ok);
		free(reversed);
		reversed = next;
	}
}

/* Waiters that came after the run in flight began join those the next run answers. */
static void waiters_promote(struct due_engine *e)
{
	while (e->waiting) {
		struct due_waiter *w = e->waiting;
		e->waiting = w->next;
		w->next = e->current;
		e->current = w;
	}
}

/* ---- the idempotency sweep ---- */

static void sweep_result(void *arg, const struct db_result *r)
{
	struct due_engine *e = arg;
	e->sweeping = false;
	if (r->status != DB_OK)
		log_warn("due: idempotency sweep failed: %s", r->message);
	else if (PQntuples(r->pg) == 1)
		log_debug("due: idempotency sweep removed %s keys", PQgetvalue(r->pg, 0, 0));
}

static void sweep_maybe(struct due_engine *e)
{
	int64_t mono = clock_monotonic_us();
	if (e->sweeping || (e->last_sweep_us && mono - e->last_sweep_us < SWEEP_INTERVAL_US))
		return;
	char now[CLOCK_TEXT_SIZE];
	clock_format(clock_now_us(), now);
	const char *params[1] = {now};
	if (db_query(e->d->db, sweep_sql, 1, params, sweep_result, e)) {
		e->sweeping = true;
		e->last_sweep_us = mono;
	}
}

/* ---- runs ---- */

/* Everything due up to the run's instant is decided (by us, or committed by another daemon). */
static void engine_settled(struct due_engine *e, bool have_next, int64_t next_us)
{
	if (e->burst_decided > 0)
		log_info("due: decided %" PRId64 " due events", e->burst_decided);
	e->burst_decided = 0;
	e->busy_ms = DUE_BUSY_POLL_MIN_MS;
	waiters_answer(&e->current, true);
	sweep_maybe(e);
	if (e->rerun || e->waiting) {
		engine_run(e);
		return;
	}
	if (have_next)
		timer_arm_for(e, next_us);
	else if (!clock_is_test())
		timer_arm_in(e, DUE_IDLE_RECHECK_US);
}

static void process_result(void *arg, const struct db_result *r)
{
	struct due_engine *e = arg;
	e->running = false;
	switch (r->status) {
	case DB_OK:
		break;
	case DB_RETRY:
		/* Deadlock or serialisation failure: the batch was rolled back whole; again. */
		log_info("due: batch rolled back (%s), running it again", r->sqlstate);
		e->rerun = false;
		engine_run(e);
		return;
	case DB_UNAVAILABLE:
	case DB_FAILED:
	default:
		if (r->status == DB_FAILED)
			log_error("due: due_process failed: %s %s", r->sqlstate, r->message);
		else
			log_warn("due: database unavailable (%s); retrying in %d ms", r->message,
			         e->retry_ms);
		waiters_answer(&e->current, false);
		e->rerun = false;
		timer_arm_retry(e);
		return;
	}
	e->retry_ms = DUE_RETRY_MIN_MS;
	if (PQntuples(r->pg) != 1) {
		log_error("due: due_process returned %d rows", PQntuples(r->pg));
		waiters_answer(&e->current, false);
		timer_arm_retry(e);
		return;
	}
	long processed = strtol(PQgetvalue(r->pg, 0, 0), NULL, 10);
	bool have_next = !PQgetisnull(r->pg, 0, 1);
	int64_t next_us = 0;
	if (have_next && !clock_parse(PQgetvalue(r->pg, 0, 1), &next_us)) {
		log_error("due: cannot read next_due '%s'", PQgetvalue(r->pg, 0, 1));
		have_next = false;
	}
	if (processed > 0) {
		/* A full batch may leave more; a partial one may have raced new rows: look again
		 * until a run finds nothing. */
		e->decided += (unsigned long long)processed;
		e->burst_decided += processed;
		bool full = processed >= e->batch;
		if (!full)
			e->batch = DUE_BATCH_MIN;
		else if (e->batch * 4 <= DUE_BATCH_MAX)
			e->batch *= 4; /* a backlog: bigger bites while it lasts */
		log_debug("due: batch of %ld due events committed", processed);
		engine_run(e);
		if (full)
			helper_start(e);
		return;
	}
	if (have_next && next_us <= e->run_now_us) {
		/* Due but not claimable: another daemon holds them in a transaction of its own.
		 * Look again shortly; PUT /v1/clock must not answer before they are committed. */
		timer_arm_in(e, (int64_t)e->busy_ms * 1000);
		e->busy_ms =
		    e->busy_ms * 2 > DUE_BUSY_POLL_MAX_MS ? DUE_BUSY_POLL_MAX_MS : e->busy_ms * 2;
		return;
	}
	engine_settled(e, have_next, next_us);
}

/* Starts a run unless one is in flight, in which case another follows it. */
/* Sends due_process(now, the current batch size) for the main run or the helper. */
static bool process_send(struct due_engine *e, int64_t now_us, db_result_fn done)
{
	char now[CLOCK_TEXT_SIZE], batch[16];
	clock_format(now_us, now);
	snprintf(batch, sizeof batch, "%d", e->batch);
	const char *params[2] = {now, batch};
	return db_query(e->d->db, process_sql, 2, params, done, e);
}

static void engine_run(struct due_engine *e)
{
	if (e->running) {
		e->rerun = true;
		return;
	}
	if (e->timer_at_us) {
		evtimer_del(e->timer);
		e->timer_at_us = 0;
	}
	e->rerun = false;
	waiters_promote(e);
	e->run_now_us = clock_now_us();
	if (!process_send(e, e->run_now_us, process_result)) {
		log_warn("due: database queue full; retrying in %d ms", e->retry_ms);
		waiters_answer(&e->current, false);
		timer_arm_retry(e);
		return;
	}
	e->running = true;
}

/* ---- the helper ----
 *
 * After a restart tens of thousands of rows may be due at once. While batches come back full, a
 * second due_process runs beside the main one on another pooled connection (SKIP LOCKED gives
 * each its own rows), so that both of PostgreSQL's cores work. The helper only decides rows: the
 * main run alone answers PUT /v1/clock callers and arms the timer, and it does not settle while
 * the helper holds due rows (it sees them due but not claimable, and looks again). */

static void helper_result(void *arg, const struct db_result *r)
{
	struct due_engine *e = arg;
	e->helping = false;
	if (r->status != DB_OK || PQntuples(r->pg) != 1) {
		if (r->status == DB_FAILED)
			log_error("due: due_process (helper) failed: %s %s", r->sqlstate,
			          r->message);
		return; /* the main run carries on alone, and retries what was rolled back */
	}
	long processed = strtol(PQgetvalue(r->pg, 0, 0), NULL, 10);
	e->decided += (unsigned long long)processed;
	e->burst_decided += processed;
	log_debug("due: helper batch of %ld due events committed", processed);
	if (processed >= e->helper_batch)
		helper_start(e);
}

static void helper_start(struct due_engine *e)
{
	/* A small pool is left to requests and the sender. */
	if (e->helping || e->d->config->db_pool_size < 3)
		return;
	if (process_send(e, clock_now_us(), helper_result)) {
		e->helping = true;
		e->helper_batch = e->batch;
	}
}

/* ---- notifications ---- */

/* A new due row (payload: its instant), or NULL after the listener reconnected. */
static void on_due_notify(void *arg, const char *channel, const char *payload)
{
	struct due_engine *e = arg;
	(void)channel;
	int64_t due_us;
	if (!payload) {
		engine_run(e); /* rows may have come and fallen due while we were not listening */
		return;
	}
	if (!clock_parse(payload, &due_us)) {
		log_warn("due: ignoring rc_due payload '%s'", payload);
		return;
	}
	if (due_us <= clock_now_us()) {
		engine_run(e);
		return;
	}
	if (e->running) {
		e->rerun = true; /* the run in flight may have read next_due before this row */
		return;
	}
	if (!clock_is_test() && (e->timer_at_us == 0 || due_us < e->timer_at_us))
		timer_arm_for(e, due_us);
}

/* Another daemon moved the test clock (main.c has set ours already), or the listener
 * reconnected: decide whatever is due now. */
static void on_clock_notify(void *arg, const char *channel, const char *payload)
{
	(void)channel, (void)payload;
	engine_run(arg);
}

/* ---- the engine ---- */

struct due_engine *due_engine_new(struct daemon *d)
{
	struct due_engine *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->d = d;
	e->retry_ms = DUE_RETRY_MIN_MS;
	e->busy_ms = DUE_BUSY_POLL_MIN_MS;
	e->batch = DUE_BATCH_MIN;
	e->timer = evtimer_new(d->base, timer_cb, e);
	if (!e->timer || !db_listen(d->db, "rc_due", on_due_notify, e) ||
	    !db_listen(d->db, "rc_clock", on_clock_notify, e)) {
		due_engine_free(e);
		return NULL;
	}
	/* Everything that fell due while no daemon ran is decided as soon as the loop starts. */
	timer_arm_in(e, 0);
	return e;
}

void due_engine_free(struct due_engine *engine)
{
	if (!engine)
		return;
	if (engine->timer)
		event_free(engine->timer);
	/* After the loop has stopped nobody will answer PUT /v1/clock callers; their requests are
	 * freed with the server. */
	struct due_waiter *lists[2] = {engine->waiting, engine->current};
	for (int i = 0; i < 2; i++)
		while (lists[i]) {
			struct due_waiter *next = lists[i]->next;
			free(lists[i]);
			lists[i] = next;
		}
	free(engine);
}

void due_engine_run_now(struct due_engine *engine, void (*done)(void *arg, bool ok), void *arg)
{
	if (done) {
		struct due_waiter *w = calloc(1, sizeof *w);
		if (!w) {
			done(arg, false);
			return;
		}
		w->done = done;
		w->arg = arg;
		w->next = engine->waiting;
		engine->waiting = w;
	}
	engine_run(engine);
}
