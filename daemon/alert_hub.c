/* Live alerts for on-call staff and managers: the Server-Sent Events watchers of each centre,
 * fed from PostgreSQL's NOTIFY rc_alert so that every watcher sees every alert of its centre
 * whichever daemon raised it. Each event is fetched once per daemon (one query for a batch of
 * notifications, however many watchers wait) and written to every watcher of its centre; one
 * heartbeat timer serves all watchers, so idle watchers cost a little memory and nothing else.
 *
 * A watcher's life: HEAD (registered, reading the centre's newest event seq), REPLAY (sending
 * what it missed after Last-Event-ID, up to that head), LIVE. Live events that arrive before
 * LIVE are held and sent after the replay, skipping any the replay already sent: within a
 * centre seq order is commit order (006_absences_alerts.sql), so "seq <= last sent" means
 * "already sent".
 *
 * Alerting impaired (SPEC section 4): when the pool says PostgreSQL is gone (db_on_health),
 * every stream gets `event: status` {"database":"unreachable","since"} and stays open with its
 * heartbeats; when it is back, {"database":"ok","since"}, and every stream catches up from its
 * last event (head and replay again, as on attach) instead of being ended, since NOTIFYs sent
 * meanwhile were lost. A stream opened while the database is away cannot be authorised: it is
 * kept unchecked, sent the status and heartbeats and nothing else, and authorised (api()
 * alert_stream_open, audited like any open) when the database is back, or ended if refused. */
#include "alert_hub.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_closed.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "request.h"
#include "rollcall/enums.h"
#include "router.h"

#define REPLAY_PAGE 500                   /* events per replay query */
#define FETCH_MAX 1000                    /* notified seqs per fetch query */
#define WATCHER_MAX_PENDING (1024 * 1024) /* a watcher further behind is dropped; it reconnects */
#define SSE_RETRY_MS 2000                 /* the client's reconnect delay, sent as "retry:" */
#define CATCH_UP_RETRY_MS 1000            /* a catch-up failed while the pool looked up */

static const char head_sql[] = "SELECT alert_events_head($1)";
static const char replay_sql[] = "SELECT seq, kind, body::text "
                                 "FROM alert_events_since($1, $2::bigint, $3::integer, $4::bigint)";
/* request.c's api() call, for a stream opened while the database was away. */
static const char authorise_sql[] =
    "SELECT status, body::text FROM api($1, $2, $3::jsonb, $4::timestamptz, NULL, NULL, $5, "
    "$6, $7::text[])";
static const char fetch_sql[] = "SELECT seq, centre, kind, body::text FROM alert_events "
                                "WHERE seq = ANY ($1::bigint[]) ORDER BY seq";

enum watcher_state {
	WATCHER_HEAD,   /* registered; the head query is in flight */
	WATCHER_REPLAY, /* replay queries in flight; live events are held */
	WATCHER_LIVE,   /* live events are written as they come */
	WATCHER_CLOSED, /* ended; freed as soon as no query refers to it */
};

/* A live event that arrived while its watcher was still replaying. */
struct held_event {
	struct held_event *next;
	int64_t seq;
	size_t len;
	char text[];
};

struct centre;

struct watcher {
	struct watcher *prev, *next; /* in centre->watchers */
	struct centre *centre;
	struct alert_hub *hub;
	struct request *req;
	enum watcher_state state;
	int pins;          /* queries in flight and callbacks running that refer to it */
	int64_t last_sent; /* seq of the newest event sent (or replayed past) */
	int64_t head;      /* newest seq when the watcher registered */
	struct held_event *held, *held_tail;
	size_t held_bytes;
	int suspended;  /* account re-checks in flight (rc_account): live events are held */
	bool querying;  /* a head, replay or authorisation query is in flight */
	bool stale;     /* must read the head and replay again before going live: the listener
	                   reconnected, or a query failed for want of the database */
	bool unchecked; /* opened while the database was away: not authorised yet, so it gets
	                   the status and heartbeats and nothing else */
};

struct centre {
	struct centre *next;
	struct watcher *watchers;
	int count;
	char id[];
};

struct alert_hub {
	struct daemon *d;
	struct centre *centres;
	int watchers;
	struct event *heartbeat;
	struct event *fetch_soon; /* collects the notifications of one read into one fetch */
	struct watcher *zombies;  /* ended, waiting for their pins to go */
	int64_t *pending;         /* notified seqs not yet fetched */
	size_t npending, pending_cap;
	bool fetching;
	size_t burst_bytes;          /* bytes of the fetched batch being written out now */
	bool db_down;                /* the pool lost PostgreSQL (db_on_health) */
	int64_t db_since_us;         /* clock instant of the last change of db_down */
	struct event *catch_up_soon; /* stale watchers catch up from the loop */
	struct event *catch_up_retry;
};

static void watcher_finish(struct watcher *w, const char *why, bool cut);
static void watcher_end(struct watcher *w, const char *why)
{
	watcher_finish(w, why, false);
}

/* ---- centres ---- */

static struct centre *centre_find(struct alert_hub *hub, const char *id)
{
	for (struct centre *c = hub->centres; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static struct centre *centre_get(struct alert_hub *hub, const char *id)
{
	struct centre *c = centre_find(hub, id);
	if (c)
		return c;
	size_t len = strlen(id);
	c = calloc(1, sizeof *c + len + 1);
	if (!c)
		return NULL;
	memcpy(c->id, id, len + 1);
	c->next = hub->centres;
	hub->centres = c;
	return c;
}

/* Centres are few and watchers come back after a reconnect: an empty centre is freed only when
 * the hub is, which keeps the list short and saves churn. */

/* ---- writing to a watcher ---- */

/* Writes text to the watcher's stream; ends the watcher when the client is gone or has not
 * taken what it was sent before: more than WATCHER_MAX_PENDING unsent, not counting the burst
 * being written now. So a burst (a thousand alerts falling due together) reaches a client that
 * keeps up, and one that stopped reading costs at most the limit plus one burst. */
static void watcher_write(struct watcher *w, const char *text, size_t len)
{
	if (w->state == WATCHER_CLOSED)
		return;
	if (request_stream_pending(w->req) > WATCHER_MAX_PENDING + w->hub->burst_bytes) {
		/* Cut the connection too: what is queued for it would otherwise linger. */
		watcher_finish(w, "client too slow: more than 1 MiB unsent", true);
		return;
	}
	if (!request_stream_chunk(w->req, text, len))
		watcher_end(w, "client gone");
}

/* `event: status` (SPEC section 8, v2). No id: it is no event of the centre's sequence, so a
 * client's Last-Event-ID stays where it was. */
static void watcher_send_status(struct watcher *w, bool reachable, int64_t since_us)
{
	char since[CLOCK_TEXT_SIZE];
	clock_format(since_us, since);
	char line[160];
	int n = snprintf(line, sizeof line,
	                 "event: status\ndata: {\"database\":\"%s\",\"since\":\"%s\"}\n\n",
	                 reachable ? "ok" : "unreachable", since);
	if (n > 0 && (size_t)n < sizeof line)
		watcher_write(w, line, (size_t)n);
}

static const char *sse_event_name(const char *kind)
{
	/* Raised, re-announced and escalated are announcements: SPEC's `event: alert`. */
	if (strcmp(kind, "acked") == 0)
		return "alert_acked";
	if (strcmp(kind, "resolved") == 0)
		return "alert_resolved";
	if (strcmp(kind, "handover") == 0)
		return "handover"; /* the shift handover document (schema/code/handover.sql) */
	return "alert";
}

/* Formats one SSE event; jsonb's text form has no raw newlines, so one data line suffices.
 * Returns a malloc'd string (and its length), or NULL when out of memory. */
static char *sse_format(int64_t seq, const char *kind, const char *body, size_t *len)
{
	const char *name = sse_event_name(kind);
	size_t size = strlen(body) + strlen(name) + 64;
	char *text = malloc(size);
	if (!text)
		return NULL;
	int n = snprintf(text, size, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", seq, name, body);
	if (n < 0 || (size_t)n >= size) {
		free(text);
		return NULL;
	}
	*len = (size_t)n;
	return text;
}

/* A live event for one watcher: written now, held until its replay ends, or skipped when it
 * has been sent already. */
static void watcher_offer(struct watcher *w, int64_t seq, const char *text, size_t len)
{
	if (w->state == WATCHER_CLOSED || seq <= w->last_sent)
		return;
	if (w->state == WATCHER_LIVE && w->suspended == 0) {
		w->last_sent = seq;
		watcher_write(w, text, len);
		return;
	}
	if (w->held_bytes + len > WATCHER_MAX_PENDING) {
		watcher_end(w, "too many events held (replay or account check)");
		return;
	}
	struct held_event *h = malloc(sizeof *h + len);
	if (!h) {
		watcher_end(w, "out of memory");
		return;
	}
	h->next = NULL;
	h->seq = seq;
	h->len = len;
	memcpy(h->text, text, len);
	if (w->held_tail)
		w->held_tail->next = h;
	else
		w->held = h;
	w->held_tail = h;
	w->held_bytes += len;
}

static void watcher_free_held(struct watcher *w)
{
	while (w->held) {
		struct held_event *h = w->held;
		w->held = h->next;
		free(h);
	}
	w->held_tail = NULL;
	w->held_bytes = 0;
}

/* Sends what was held (arrived during the replay or an account check), unless still held. */
static void watcher_flush_held(struct watcher *w)
{
	while (w->held && w->state == WATCHER_LIVE && w->suspended == 0) {
		struct held_event *h = w->held;
		w->held = h->next;
		if (!w->held)
			w->held_tail = NULL;
		w->held_bytes -= h->len;
		if (h->seq > w->last_sent) {
			w->last_sent = h->seq;
			watcher_write(w, h->text, h->len);
		}
		free(h);
	}
}

/* The replay is done: send what arrived meanwhile and go live. */
static void watcher_go_live(struct watcher *w)
{
	w->state = WATCHER_LIVE;
	watcher_flush_held(w);
}

/* ---- life cycle ---- */

static void watcher_unlink(struct watcher *w)
{
	struct centre *c = w->centre;
	if (w->prev)
		w->prev->next = w->next;
	else
		c->watchers = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	c->count--;
	w->hub->watchers--;
}

static void watcher_pin(struct watcher *w)
{
	w->pins++;
}

/* Drops a pin and frees an ended watcher nothing refers to any more. Returns false when the
 * watcher has ended: the caller must not go on with it. */
static bool watcher_unpin(struct watcher *w)
{
	w->pins--;
	if (w->state != WATCHER_CLOSED)
		return true;
	if (w->pins == 0) {
		if (w->prev)
			w->prev->next = w->next;
		else
			w->hub->zombies = w->next;
		if (w->next)
			w->next->prev = w->prev;
		free(w);
	}
	return false;
}

/* Ends the stream (the client reconnects with Last-Event-ID and misses nothing) and frees the
 * watcher, or keeps it among the zombies until its last pin goes. */
static void watcher_finish(struct watcher *w, const char *why, bool cut)
{
	if (w->state == WATCHER_CLOSED)
		return;
	log_debug("req=%s alerts: stream of %s ends: %s", w->req->id, w->centre->id, why);
	watcher_unlink(w);
	watcher_free_held(w);
	w->state = WATCHER_CLOSED;
	w->req->handler_data = NULL;
	if (cut)
		request_stream_abort(w->req);
	else
		request_stream_end(w->req);
	w->req = NULL;
	if (w->pins == 0) {
		free(w);
		return;
	}
	w->next = w->hub->zombies;
	if (w->next)
		w->next->prev = w;
	w->hub->zombies = w;
}

/* request.c: the client went away. */
static void watcher_on_close(struct request *req)
{
	struct watcher *w = req->handler_data;
	if (w)
		watcher_end(w, "client closed the connection");
}

/* ---- catching up ---- */

static void head_result(void *arg, const struct db_result *r);
static void authorise_start(struct watcher *w);
static void replay_next(struct watcher *w);

/* Reads the head and replays from last_sent (or authorises first, when unchecked), unless a
 * query is in flight (its answer comes back here), an account check holds the watcher
 * (alert_hub_apply_scope comes back here) or the database is away (on_db_health does). */
static void watcher_catch_up(struct watcher *w)
{
	struct alert_hub *hub = w->hub;
	if (w->state == WATCHER_CLOSED || w->querying || w->suspended > 0 || hub->db_down)
		return;
	w->stale = false;
	if (w->unchecked) {
		authorise_start(w);
		return;
	}
	w->state = WATCHER_HEAD;
	const char *params[1] = {w->centre->id};
	if (!db_query(hub->d->db, head_sql, 1, params, head_result, w)) {
		watcher_end(w, "database queue full");
		return;
	}
	w->querying = true;
	watcher_pin(w);
}

/* Live events are held from now until the watcher has caught up. */
static void watcher_mark_stale(struct watcher *w)
{
	if (w->state == WATCHER_CLOSED)
		return;
	w->stale = true;
	if (w->state == WATCHER_LIVE)
		w->state = WATCHER_HEAD;
}

static void hub_catch_up_all(struct alert_hub *hub)
{
	for (struct centre *c = hub->centres; c; c = c->next)
		for (struct watcher *w = c->watchers, *next; w; w = next) {
			next = w->next; /* watcher_catch_up may end w */
			if (w->stale)
				watcher_catch_up(w);
		}
}

static void hub_mark_all_stale(struct alert_hub *hub)
{
	for (struct centre *c = hub->centres; c; c = c->next)
		for (struct watcher *w = c->watchers; w; w = w->next)
			watcher_mark_stale(w);
	/* From the loop: the other rc_* subscribers (revocation.c) hold their accounts first. */
	event_active(hub->catch_up_soon, EV_TIMEOUT, 0);
}

static void catch_up_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	hub_catch_up_all(arg);
}

/* A query failed for want of the database: try again when it is back, or in a second when the
 * pool still looks up (one connection lost, the others not yet). */
static void watcher_wait_for_database(struct watcher *w, const char *what, const char *why)
{
	struct alert_hub *hub = w->hub;
	log_debug("req=%s alerts: %s waits for the database: %s", w->req->id, what, why);
	watcher_mark_stale(w);
	if (!hub->db_down && !evtimer_pending(hub->catch_up_retry, NULL)) {
		struct timeval later = {CATCH_UP_RETRY_MS / 1000,
		                        (CATCH_UP_RETRY_MS % 1000) * 1000};
		evtimer_add(hub->catch_up_retry, &later);
	}
}

/* Common start of a query callback (the query's pin is still held): false when the watcher
 * has ended meanwhile, must start again (stale), or the query failed; the caller then only
 * drops the pin. */
static bool watcher_query_back(struct watcher *w, const struct db_result *r, const char *what)
{
	w->querying = false;
	if (w->state == WATCHER_CLOSED)
		return false;
	if (w->stale) {
		watcher_catch_up(w); /* what this query read may predate lost NOTIFYs */
		return false;
	}
	if (r->status == DB_UNAVAILABLE) {
		watcher_wait_for_database(w, what, r->message);
		return false;
	}
	if (r->status != DB_OK) {
		log_warn("req=%s alerts: %s failed: %s", w->req->id, what, r->message);
		watcher_end(w, "database unavailable");
		return false;
	}
	return true;
}

static void replay_result(void *arg, const struct db_result *r)
{
	struct watcher *w = arg;
	if (!watcher_query_back(w, r, "replay")) {
		watcher_unpin(w);
		return;
	}
	int rows = PQntuples(r->pg);
	for (int i = 0; i < rows && w->state == WATCHER_REPLAY; i++) {
		int64_t seq = strtoll(PQgetvalue(r->pg, i, 0), NULL, 10);
		size_t len;
		char *text =
		    sse_format(seq, PQgetvalue(r->pg, i, 1), PQgetvalue(r->pg, i, 2), &len);
		if (!text) {
			watcher_end(w, "out of memory");
			break;
		}
		w->last_sent = seq;
		watcher_write(w, text, len);
		free(text);
	}
	if (w->state == WATCHER_REPLAY) {
		if (rows == REPLAY_PAGE && w->last_sent < w->head)
			replay_next(w);
		else
			watcher_go_live(w);
	}
	watcher_unpin(w);
}

/* The next page of the replay; the caller holds a pin. */
static void replay_next(struct watcher *w)
{
	char after[24], page[16], upto[24];
	snprintf(after, sizeof after, "%" PRId64, w->last_sent);
	snprintf(page, sizeof page, "%d", REPLAY_PAGE);
	snprintf(upto, sizeof upto, "%" PRId64, w->head);
	const char *params[4] = {w->centre->id, after, page, upto};
	if (!db_query(w->hub->d->db, replay_sql, 4, params, replay_result, w)) {
		watcher_end(w, "database queue full");
		return;
	}
	w->querying = true;
	watcher_pin(w);
}

static void head_result(void *arg, const struct db_result *r)
{
	struct watcher *w = arg;
	if (!watcher_query_back(w, r, "head")) {
		watcher_unpin(w);
		return;
	}
	w->head = PQntuples(r->pg) == 1 ? strtoll(PQgetvalue(r->pg, 0, 0), NULL, 10) : 0;
	/* Tell the client where the stream starts, as a comment: a client that has seen no event
	 * yet may use it as its Last-Event-ID. */
	char line[64];
	int n = snprintf(line, sizeof line, ": head %" PRId64 "\n\n", w->head);
	watcher_write(w, line, (size_t)n);
	if (w->state != WATCHER_CLOSED) {
		/* An id newer than the head (say, from another database) cannot be replayed
		 * from: the stream starts at the head. */
		if (w->last_sent < 0 || w->last_sent > w->head)
			w->last_sent = w->head;
		if (w->last_sent < w->head) {
			w->state = WATCHER_REPLAY;
			replay_next(w);
		} else {
			watcher_go_live(w);
		}
	}
	watcher_unpin(w);
}

/* ---- authorising a stream opened while the database was away ---- */

static void authorise_result(void *arg, const struct db_result *r)
{
	struct watcher *w = arg;
	if (!watcher_query_back(w, r, "authorisation")) {
		watcher_unpin(w);
		return;
	}
	int status = PQntuples(r->pg) == 1 ? atoi(PQgetvalue(r->pg, 0, 0)) : 500;
	if (status == 200) {
		w->unchecked = false;
		log_info(
		    "req=%s alerts: stream of %s on %s authorised now that the database is back",
		    w->req->id, w->req->cn, w->centre->id);
		watcher_catch_up(w);
	} else if (status >= 500) {
		watcher_wait_for_database(w, "authorisation", "api() answered 5xx");
	} else {
		/* The client reconnects and gets the refusal as an answer it can show. */
		log_info(
		    "req=%s alerts: stream of %s on %s refused (%d) once the database was back",
		    w->req->id, w->req->cn, w->centre->id, status);
		watcher_finish(w, "refused by alert_stream_open", true);
	}
	watcher_unpin(w);
}

/* api() alert_stream_open for the watcher's request, as request_api_call would send it; not
 * through request_api_call, whose answer would outlive a watcher ended meanwhile. */
static void authorise_start(struct watcher *w)
{
	struct request *req = w->req;
	json_t *args = json_pack("{s:O, s:O, s:n}", "path", req->path ? req->path : json_object(),
	                         "query", req->query ? req->query : json_object(), "body");
	char *args_text = args ? json_dumps(args, JSON_COMPACT) : NULL;
	json_decref(args);
	char now[CLOCK_TEXT_SIZE], roles[128];
	clock_format(clock_now_us(), now);
	router_roles_literal(req->route ? req->route->roles : 0, roles, sizeof roles);
	const char *params[7] = {"alert_stream_open", req->cn, args_text, now,
	                         req->remote,         req->id, roles};
	if (!args_text || !db_query_prepared_within(w->hub->d->db, 0, authorise_sql, 7, params,
	                                            authorise_result, w)) {
		free(args_text);
		watcher_end(w, "out of memory or database queue full");
		return;
	}
	free(args_text);
	w->querying = true;
	watcher_pin(w);
}

/* ---- attaching ---- */

static bool hub_attach(struct alert_hub *hub, const char *centre, struct request *req,
                       int64_t last_event_id, bool unchecked)
{
	struct watcher *w = calloc(1, sizeof *w);
	if (!w)
		return false;
	struct centre *c = centre_get(hub, centre);
	if (!c) {
		free(w);
		return false;
	}
	w->hub = hub;
	w->centre = c;
	w->req = req;
	w->state = WATCHER_HEAD;
	w->last_sent = last_event_id;
	w->unchecked = unchecked;
	w->stale = true; /* caught up below, or when the database is back */
	w->next = c->watchers;
	if (c->watchers)
		c->watchers->prev = w;
	c->watchers = w;
	c->count++;
	hub->watchers++;
	req->handler_data = w;

	/* Registered before the head is read: an event committed after that read reaches this
	 * watcher through NOTIFY, one committed before it is in the replay. The pin keeps w while
	 * the client may leave inside the calls below. */
	watcher_pin(w);
	request_stream_start(req, 200, "text/event-stream", watcher_on_close);
	request_stream_lean(req); /* thousands of idle watchers must cost little */
	char hello[64];
	int n = snprintf(hello, sizeof hello, "retry: %d\n: rollcall alerts\n\n", SSE_RETRY_MS);
	watcher_write(w, hello, (size_t)n);
	/* Once on connect while impaired (SPEC section 8, v2); nothing while all is well. */
	if (hub->db_down)
		watcher_send_status(w, false, hub->db_since_us);
	if (w->state != WATCHER_CLOSED) {
		log_debug("req=%s alerts: %s watches %s (last event %" PRId64 "%s)", req->id,
		          req->cn, c->id, last_event_id, unchecked ? ", not yet authorised" : "");
		watcher_catch_up(w);
	}
	watcher_unpin(w);
	return true;
}

bool alert_hub_attach(struct alert_hub *hub, const char *centre, struct request *req,
                      int64_t last_event_id)
{
	return hub_attach(hub, centre, req, last_event_id, false);
}

bool alert_hub_attach_unchecked(struct alert_hub *hub, const char *centre, struct request *req,
                                int64_t last_event_id)
{
	return hub_attach(hub, centre, req, last_event_id, true);
}

bool alert_hub_database_down(const struct alert_hub *hub)
{
	return hub->db_down;
}

void alert_hub_each_account(struct alert_hub *hub, void (*fn)(void *arg, const char *cn), void *arg)
{
	/* The accounts are copied first: fn may end streams (the database queue is full), which
	 * unlinks and frees watchers under an iteration. Quadratic in the accounts, once per
	 * listener reconnect: a few thousand cost milliseconds, and no index of them is kept. */
	size_t count = 0, cap = 0;
	char **cns = NULL;
	for (const struct centre *c = hub->centres; c; c = c->next)
		for (const struct watcher *w = c->watchers; w; w = w->next) {
			if (w->unchecked)
				continue; /* authorised afresh anyway */
			bool seen = false;
			for (size_t i = 0; i < count && !seen; i++)
				seen = strcmp(cns[i], w->req->cn) == 0;
			if (seen)
				continue;
			if (count == cap) {
				size_t grown_cap = cap ? cap * 2 : 16;
				char **grown = realloc(cns, grown_cap * sizeof *grown);
				if (!grown)
					goto out_of_memory;
				cns = grown;
				cap = grown_cap;
			}
			if (!(cns[count] = strdup(w->req->cn)))
				goto out_of_memory;
			count++;
		}
	for (size_t i = 0; i < count; i++)
		fn(arg, cns[i]);
	goto done;
out_of_memory:
	/* Unchecked streams may not go on: end them all; they reconnect and are authorised. */
	log_error("alerts: out of memory listing the accounts to re-check: ending every stream");
	alert_hub_close_all(hub);
done:
	for (size_t i = 0; i < count; i++)
		free(cns[i]);
	free(cns);
}

int alert_hub_watchers(const struct alert_hub *hub)
{
	return hub->watchers;
}

/* ---- account changes (revocation.c) ---- */

void alert_hub_suspend_account(struct alert_hub *hub, const char *cn)
{
	for (struct centre *c = hub->centres; c; c = c->next)
		for (struct watcher *w = c->watchers; w; w = w->next)
			if (strcmp(w->req->cn, cn) == 0)
				w->suspended++;
}

/* Whether scope ({"active","role","all_centres","centres"}, from account_scope()) still lets
 * the watcher watch its centre: the account enabled, its role one the stream's route allows,
 * the centre one of its centres (or every centre, for an admin). */
static bool scope_allows(const json_t *scope, const struct watcher *w)
{
	if (!scope || !json_is_true(json_object_get(scope, "active")))
		return false;
	int role = enum_index(enum_roles, json_string_value(json_object_get(scope, "role")));
	if (role < 0 || !w->req->route || !(w->req->route->roles & (1u << role)))
		return false;
	if (json_is_true(json_object_get(scope, "all_centres")))
		return true;
	size_t i;
	json_t *centre;
	json_array_foreach(json_object_get(scope, "centres"), i, centre)
	{
		const char *id = json_string_value(centre);
		if (id && strcmp(id, w->centre->id) == 0)
			return true;
	}
	return false;
}

int alert_hub_apply_scope(struct alert_hub *hub, const char *cn, const json_t *scope,
                          const char *outcome)
{
	int ended = 0;
	for (struct centre *c = hub->centres; c; c = c->next)
		for (struct watcher *w = c->watchers, *next; w; w = next) {
			next = w->next; /* watcher_finish unlinks w */
			if (strcmp(w->req->cn, cn) != 0)
				continue;
			if (w->suspended > 0)
				w->suspended--;
			if (scope_allows(scope, w)) {
				watcher_flush_held(w);
				if (w->stale)
					watcher_catch_up(w);
				continue;
			}
			log_info("req=%s alerts: ending the stream of %s on %s: %s", w->req->id, cn,
			         c->id, outcome);
			audit_connection_closed(cn, w->req->remote, "stream_closed", outcome,
			                        json_pack("{s:s}", "centre", c->id));
			/* Cut, not ended: nothing held or queued may reach it any more. */
			watcher_finish(w, outcome, true);
			ended++;
		}
	return ended;
}

void alert_hub_each_centre(const struct alert_hub *hub,
                           void (*fn)(void *arg, const char *centre, int watchers), void *arg)
{
	for (const struct centre *c = hub->centres; c; c = c->next)
		fn(arg, c->id, c->count);
}

/* ---- live events ---- */

static void fetch_start(struct alert_hub *hub);

static void fetch_result(void *arg, const struct db_result *r)
{
	struct alert_hub *hub = arg;
	hub->fetching = false;
	if (r->status == DB_UNAVAILABLE) {
		/* The events are in the table: every watcher replays them from its last event when
		 * the database answers again. */
		log_warn("alerts: cannot fetch new events (%s): streams catch up when the database "
		         "is back",
		         r->message);
		hub_mark_all_stale(hub);
	} else if (r->status != DB_OK) {
		/* The events are in the table; watchers that reconnect replay them. Ending the
		 * streams is what makes them reconnect. */
		log_warn("alerts: cannot fetch new events (%s): ending every stream so that "
		         "watchers reconnect and replay",
		         r->message);
		alert_hub_close_all(hub);
	} else {
		int rows = PQntuples(r->pg);
		hub->burst_bytes = 0;
		for (int i = 0; i < rows; i++) {
			int64_t seq = strtoll(PQgetvalue(r->pg, i, 0), NULL, 10);
			struct centre *c = centre_find(hub, PQgetvalue(r->pg, i, 1));
			if (!c || !c->watchers)
				continue;
			size_t len;
			char *text =
			    sse_format(seq, PQgetvalue(r->pg, i, 2), PQgetvalue(r->pg, i, 3), &len);
			if (!text) {
				log_error("alerts: out of memory formatting event %" PRId64, seq);
				continue;
			}
			hub->burst_bytes += len;
			for (struct watcher *w = c->watchers, *next; w; w = next) {
				next = w->next; /* watcher_offer may end w */
				watcher_offer(w, seq, text, len);
			}
			free(text);
		}
		hub->burst_bytes = 0;
	}
	if (hub->npending > 0)
		fetch_start(hub);
}

/* Fetches up to FETCH_MAX pending events in one query. One fetch at a time keeps the events of
 * a centre in order. */
static void fetch_start(struct alert_hub *hub)
{
	if (hub->fetching || hub->npending == 0)
		return;
	if (hub->watchers == 0) {
		hub->npending = 0; /* nobody to tell; a new watcher replays from the table */
		return;
	}
	size_t count = hub->npending < FETCH_MAX ? hub->npending : FETCH_MAX;
	char *list = malloc(count * 21 + 3);
	if (!list) {
		log_error("alerts: out of memory fetching events");
		return;
	}
	size_t used = 0;
	list[used++] = '{';
	for (size_t i = 0; i < count; i++)
		used += (size_t)sprintf(list + used, "%s%" PRId64, i ? "," : "", hub->pending[i]);
	list[used++] = '}';
	list[used] = '\0';
	memmove(hub->pending, hub->pending + count, (hub->npending - count) * sizeof *hub->pending);
	hub->npending -= count;
	const char *params[1] = {list};
	if (db_query(hub->d->db, fetch_sql, 1, params, fetch_result, hub))
		hub->fetching = true;
	else {
		log_warn("alerts: database queue full: ending every stream so that watchers "
		         "reconnect and replay");
		alert_hub_close_all(hub);
	}
	free(list);
}

static void fetch_soon_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	fetch_start(arg);
}

static void on_alert_notify(void *arg, const char *channel, const char *payload)
{
	struct alert_hub *hub = arg;
	(void)channel;
	if (!payload) {
		/* The listener reconnected: notifications sent meanwhile are lost. Every watcher
		 * replays what it missed from the table, on the stream it has. */
		if (hub->watchers > 0)
			log_info("alerts: listener reconnected: %d streams catch up",
			         hub->watchers);
		hub->npending = 0; /* the catch-up covers them */
		hub_mark_all_stale(hub);
		return;
	}
	if (hub->watchers == 0)
		return;
	char *end;
	long long seq = strtoll(payload, &end, 10);
	if (*payload == '\0' || *end != '\0' || seq <= 0) {
		log_warn("alerts: ignoring rc_alert payload '%s'", payload);
		return;
	}
	if (hub->npending == hub->pending_cap) {
		size_t cap = hub->pending_cap ? hub->pending_cap * 2 : 256;
		int64_t *grown = realloc(hub->pending, cap * sizeof *grown);
		if (!grown) {
			log_error("alerts: out of memory: ending every stream so that watchers "
			          "replay");
			alert_hub_close_all(hub);
			return;
		}
		hub->pending = grown;
		hub->pending_cap = cap;
	}
	hub->pending[hub->npending++] = seq;
	if (!hub->fetching)
		event_active(hub->fetch_soon, EV_TIMEOUT, 0);
}

/* ---- heartbeat ---- */

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct alert_hub *hub = arg;
	(void)fd, (void)what;
	static const char beat[] = ": hb\n\n";
	for (struct centre *c = hub->centres; c; c = c->next)
		for (struct watcher *w = c->watchers, *next; w; w = next) {
			next = w->next;
			watcher_write(w, beat, sizeof beat - 1);
		}
}

/* ---- alerting impaired ---- */

static void on_db_health(void *arg, bool reachable)
{
	struct alert_hub *hub = arg;
	if (reachable == !hub->db_down)
		return; /* the first connect: nothing was impaired */
	hub->db_down = !reachable;
	hub->db_since_us = clock_now_us();
	if (reachable)
		log_info("alerts: database reachable again: telling %d streams", hub->watchers);
	else
		log_warn("alerts: database unreachable: alerting is impaired; telling %d streams",
		         hub->watchers);
	for (struct centre *c = hub->centres; c; c = c->next)
		for (struct watcher *w = c->watchers, *next; w; w = next) {
			next = w->next; /* watcher_write may end w */
			watcher_send_status(w, reachable, hub->db_since_us);
		}
	if (reachable)
		event_active(hub->catch_up_soon, EV_TIMEOUT, 0);
}

/* ---- the hub ---- */

struct alert_hub *alert_hub_new(struct daemon *d)
{
	struct alert_hub *hub = calloc(1, sizeof *hub);
	if (!hub)
		return NULL;
	hub->d = d;
	hub->heartbeat = event_new(d->base, -1, EV_PERSIST, heartbeat_cb, hub);
	hub->fetch_soon = evtimer_new(d->base, fetch_soon_cb, hub);
	hub->catch_up_soon = evtimer_new(d->base, catch_up_cb, hub);
	hub->catch_up_retry = evtimer_new(d->base, catch_up_cb, hub);
	if (!hub->heartbeat || !hub->fetch_soon || !hub->catch_up_soon || !hub->catch_up_retry)
		goto failed;
	struct timeval every = {d->config->sse_heartbeat_s > 0 ? d->config->sse_heartbeat_s : 15,
	                        0};
	if (event_add(hub->heartbeat, &every) != 0)
		goto failed;
	if (!db_listen(d->db, "rc_alert", on_alert_notify, hub))
		goto failed;
	db_on_health(d->db, on_db_health, hub);
	return hub;
failed:
	alert_hub_free(hub);
	return NULL;
}

void alert_hub_close_all(struct alert_hub *hub)
{
	for (struct centre *c = hub->centres; c; c = c->next)
		while (c->watchers)
			watcher_end(c->watchers, "closing every stream");
}

void alert_hub_free(struct alert_hub *hub)
{
	if (!hub)
		return;
	alert_hub_close_all(hub);
	/* After the loop has stopped no query callback can come: the pool frees the queries of
	 * the zombies without calling back, so they are freed here. */
	while (hub->zombies) {
		struct watcher *w = hub->zombies;
		hub->zombies = w->next;
		free(w);
	}
	while (hub->centres) {
		struct centre *c = hub->centres;
		hub->centres = c->next;
		free(c);
	}
	if (hub->heartbeat)
		event_free(hub->heartbeat);
	if (hub->fetch_soon)
		event_free(hub->fetch_soon);
	if (hub->catch_up_soon)
		event_free(hub->catch_up_soon);
	if (hub->catch_up_retry)
		event_free(hub->catch_up_retry);
	free(hub->pending);
	free(hub);
}
