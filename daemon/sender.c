/* The outbox sender: delivers each due delivery row (schema/migrations/005_outbox.sql; its SQL in
 * schema/code/outbox.sql) as a signed HTTPS POST to the authority's endpoint, and each due
 * on-call channel delivery (008_alertkinds.sql, schema/code/oncall.sql) as a signed POST or an
 * e-mail (mail_transfer.c), asynchronously on the daemon's event loop. The channels have their
 * own claim, caps and write-backs, after the authorities' in each round: a failing channel never
 * holds an authority's row back.
 *
 * Work is claimed from PostgreSQL in batches (outbox_claim: SKIP LOCKED plus a lease in wall-clock
 * time, so several instances share the work and a dead instance's rows come back), each claimed
 * row becomes one `struct attempt` whose HTTP side is one webhook_transfer (webhook_transfer.c,
 * on the daemon's curl_loop), and the outcome is written back with outbox_delivered or
 * outbox_failed, which also schedules the retry on the daemon clock. The sender wakes up on
 * NOTIFY rc_outbox / rc_clock, on sender_kick (PUT /v1/clock), when an attempt finishes, and on
 * one timer armed for the next due instant, the next lease expiry, or a safety poll. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "log_throttle.h"
#include "sender.h"
#include "mail_transfer.h"
#include "webhook_sign.h"
#include "webhook_transfer.h"

#define US_PER_S INT64_C(1000000)
#define SENDER_MAX_IN_FLIGHT 64 /* attempts at once in this instance */
#define SENDER_GROUP_CAP 8      /* attempts at once per centre and authority, all instances */
#define SENDER_CLAIM_BATCH 32   /* rows per claim statement */
#define SENDER_BACKOFF_BASE_US (5 * US_PER_S)
#define SENDER_LEASE_MARGIN_S 15          /* lease = attempt deadline + this, for the write-back */
#define SENDER_POLL_S 30                  /* safety net for a NOTIFY lost in a reconnect */
#define SENDER_BLOCKED_POLL_S 2           /* rows due but held back (ordering, group cap, leases) */
#define SENDER_DB_RETRY_S 1               /* after the database refused a sender statement */
#define SENDER_START_RETRY_MS 200         /* start-up: until the pool's first connection is up */
#define SENDER_RECORD_TRIES 20            /* write-backs of one outcome before giving up */
#define SENDER_BUSY_RETRY_MS 100          /* write-back found its row locked: try again after */
#define SENDER_MISSING_ENDPOINT_LOG_S 600 /* "no KIND endpoint": once, then this often */
#define SENDER_BUSY_TRIES 600             /* ... this many times (a minute) */
#define SENDER_ERROR_SIZE WEBHOOK_TEXT_SIZE

enum attempt_state {
	ATTEMPT_SENDING,   /* the webhook transfer is under way */
	ATTEMPT_RECORDING, /* outcome known; being written to PostgreSQL */
	ATTEMPT_DONE,      /* recorded (or abandoned) */
};

struct sender;

/* One delivery attempt of one claimed row. Owned by the sender's list from claim to the end of
 * the write-back; the transfer is the loop's until it reports (or sender_free cancels it). */
struct attempt {
	struct sender *sender;
	struct attempt *prev, *next;
	enum attempt_state state;

	bool channel;         /* an on-call channel's delivery (authority is "email"/"webhook") */
	char delivery_id[24]; /* the row's id, as text for the write-back */
	int attempts_before;  /* failed attempts already recorded */
	char *event_id, *type, *authority, *centre, *url, *secret, *payload;

	struct webhook_transfer *transfer; /* while SENDING */
	struct mail_transfer *mail;        /* while SENDING an e-mail */
	struct event *record_retry;
	int record_tries; /* write-backs the database refused */
	int busy_tries;   /* write-backs that found the row locked */

	bool delivered;
	char error[SENDER_ERROR_SIZE];
	int64_t started_mono_us;
	int64_t finished_clock_us; /* the daemon clock when the outcome was known */
};

struct sender {
	struct daemon *d;
	struct event_base *base;
	X509_STORE *trust; /* each transfer holds its own reference: a reload may free ours */
	int64_t fresh_until_mono_us; /* connections made before the last reload are not reused */
	char *owner;                 /* lease holder name: the config's instance_name */
	struct event *kick_event;
	struct event *timer;
	bool started;      /* our own stale leases have been released */
	bool claiming;     /* a claim statement is in flight */
	bool claimed_full; /* this round's authority claim filled its batch */
	bool waking;       /* a next-wake statement is in flight */
	bool kick_wanted;
	bool db_trouble_logged;
	int in_flight;
	struct attempt *attempts;
	unsigned long long delivered_total, failed_total;
	struct log_throttle *missing_endpoint_log; /* by centre and authority */
};

static void sender_claim(struct sender *s);
static void attempt_record(struct attempt *a);

/* ---------------------------------------------------------------------------------------- */
/* Trusted certificates                                                                     */

static X509_STORE *sender_trust_new(const struct config *config)
{
	char error[512];
	X509_STORE *trust = webhook_trust_load(config->webhook_ca, error, sizeof error);
	if (!trust)
		log_error("sender: %s", error);
	return trust;
}

bool sender_reload_ca(struct sender *s)
{
	if (!s)
		return false;
	X509_STORE *fresh = sender_trust_new(s->d->config);
	if (!fresh)
		return false; /* the running store stays */
	X509_STORE_free(s->trust);
	s->trust = fresh;
	s->fresh_until_mono_us =
	    clock_monotonic_us() + (int64_t)WEBHOOK_CONNECTION_LIFETIME_S * US_PER_S;
	log_info("sender: webhook CA reloaded");
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */

static void format_instant(int64_t us, char out[CLOCK_TEXT_SIZE])
{
	clock_format(us, out);
}

/* Leases are measured on the wall clock even under the test clock: they bound real work (an
 * HTTP attempt takes real seconds), and a test clock that stands still must not keep a dead
 * instance's lease alive for ever, nor let a moved clock expire a live one. */
static int64_t wall_now_us(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static uint32_t random_u32(void)
{
	uint32_t value;
	if (RAND_bytes((unsigned char *)&value, sizeof value) != 1) {
		ERR_clear_error();
		value = (uint32_t)random();
	}
	return value;
}

static char *dup_or_null(const char *text)
{
	return text ? strdup(text) : NULL;
}

/* Keeps only printable ASCII from an endpoint's reason phrase, so staff never see control
 * characters in last_error. */
static void sanitize(char *text)
{
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

static void arm_timer_us(struct event *ev, int64_t us)
{
	if (!ev)
		return;
	if (us < 0)
		us = 0;
	struct timeval tv = {(time_t)(us / US_PER_S), (suseconds_t)(us % US_PER_S)};
	evtimer_add(ev, &tv);
}

/* ---------------------------------------------------------------------------------------- */
/* Attempt lifetime                                                                         */

static void attempt_free(struct attempt *a)
{
	/* Cut short (sender_free): the transfer goes without reporting. */
	webhook_transfer_cancel(a->transfer);
	mail_transfer_cancel(a->mail);
	if (a->record_retry)
		event_free(a->record_retry);
	free(a->event_id);
	free(a->type);
	free(a->authority);
	free(a->centre);
	free(a->url);
	free(a->secret);
	free(a->payload);
	free(a);
}

static void attempt_unlink(struct attempt *a)
{
	struct sender *s = a->sender;
	if (a->prev)
		a->prev->next = a->next;
	else if (s->attempts == a)
		s->attempts = a->next;
	if (a->next)
		a->next->prev = a->prev;
	a->prev = a->next = NULL;
	s->in_flight--;
}

/* The end of an attempt's life in the sender. */
static void attempt_done(struct attempt *a)
{
	struct sender *s = a->sender;
	a->state = ATTEMPT_DONE;
	attempt_unlink(a);
	attempt_free(a);
	/* A slot is free, and rows held back behind this one (same absence and authority, or the
	 * group cap) may be sendable now. */
	sender_kick(s);
}

/* The outcome is known: write it back. `delivered` with a 2xx. */
/* A centre without an endpoint for an authority fails every attempt of it the same way until
 * somebody configures one: said once, then every SENDER_MISSING_ENDPOINT_LOG_S with the count
 * (the delivery's last_error and notification_failing carry it meanwhile). */
static void log_missing_endpoint(const struct attempt *a)
{
	char key[256];
	unsigned long held_back = 0;
	snprintf(key, sizeof key, "%s\n%s", a->centre, a->authority);
	if (a->sender->missing_endpoint_log &&
	    !log_throttle_allow(a->sender->missing_endpoint_log, key, clock_monotonic_us(),
	                        &held_back))
		return;
	if (held_back)
		log_warn("sender: %s (%s %s failed; %lu more attempts failed the same way in the "
		         "last %d minutes)",
		         a->error, a->type, a->event_id, held_back,
		         SENDER_MISSING_ENDPOINT_LOG_S / 60);
	else
		log_warn("sender: %s (%s %s failed; said again every %d minutes while it lasts)",
		         a->error, a->type, a->event_id, SENDER_MISSING_ENDPOINT_LOG_S / 60);
}

static void attempt_finish(struct attempt *a, bool delivered, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void attempt_finish(struct attempt *a, bool delivered, const char *fmt, ...)
{
	if (a->state >= ATTEMPT_RECORDING)
		return;
	/* Formatted aside first: callers may pass a->error itself as an argument. */
	char text[SENDER_ERROR_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	memcpy(a->error, text, sizeof a->error);
	sanitize(a->error);
	a->delivered = delivered;
	a->state = ATTEMPT_RECORDING;
	/* The outcome and the next attempt are dated when the attempt ended, not when the
	 * write-back gets through: a write-back delayed past a clock change must not push the
	 * retry later than the rule says. */
	a->finished_clock_us = clock_now_us();
	int64_t took_ms = (clock_monotonic_us() - a->started_mono_us) / 1000;
	if (delivered)
		log_info("sender: %s %s to %s of %s delivered (%s, %" PRId64 " ms)", a->type,
		         a->event_id, a->authority, a->centre, a->error, took_ms);
	else if (!a->url)
		log_missing_endpoint(a);
	else
		log_warn("sender: %s %s to %s of %s failed (attempt %d, %" PRId64 " ms): %s",
		         a->type, a->event_id, a->authority, a->centre, a->attempts_before + 1,
		         took_ms, a->error);
	attempt_record(a);
}

static void attempt_recorded(void *arg, const struct db_result *r)
{
	struct attempt *a = arg;
	struct sender *s = a->sender;
	if (r->status != DB_OK) {
		if (++a->record_tries < SENDER_RECORD_TRIES) {
			log_warn("sender: cannot record the outcome of %s yet (%s); retrying",
			         a->event_id, r->message);
			arm_timer_us(a->record_retry, SENDER_DB_RETRY_S * US_PER_S);
			return;
		}
		/* The lease runs out and the row is claimed again: the authority may get the
		 * same event id twice, which is what the stable id is for. */
		log_error("sender: giving up recording the outcome of %s: %s", a->event_id,
		          r->message);
	} else {
		const char *outcome = PQntuples(r->pg) == 1 ? PQgetvalue(r->pg, 0, 0) : "";
		if (strcmp(outcome, "busy") == 0 && ++a->busy_tries < SENDER_BUSY_TRIES) {
			/* The row is locked by a transaction of the timing engine: waiting for it
			 * would hold a pool connection, so look again in a moment. */
			log_debug("sender: the row of %s is busy; recording again shortly",
			          a->event_id);
			arm_timer_us(a->record_retry, SENDER_BUSY_RETRY_MS * INT64_C(1000));
			return;
		}
		if (strcmp(outcome, "busy") == 0)
			log_error(
			    "sender: the row of %s stayed locked; its lease will expire and it "
			    "is sent again with the same event id",
			    a->event_id);
		else if (strcmp(outcome, "lost") == 0)
			log_warn("sender: %s was taken over by another instance before its failure "
			         "was recorded; that instance's outcome counts",
			         a->event_id);
		if (a->delivered)
			s->delivered_total++;
		else
			s->failed_total++;
	}
	attempt_done(a);
}

static void attempt_record_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	attempt_record(arg);
}

static void attempt_record(struct attempt *a)
{
	struct sender *s = a->sender;
	char now[CLOCK_TEXT_SIZE];
	int64_t now_us = a->finished_clock_us;
	format_instant(now_us, now);
	bool queued;
	if (a->delivered) {
		const char *params[] = {a->delivery_id, s->owner, now, a->error};
		queued = db_query(
		    s->d->db,
		    a->channel ? "SELECT channel_delivered($1::bigint, $2, $3::timestamptz, $4)"
		               : "SELECT outbox_delivered($1::bigint, $2, $3::timestamptz, $4)",
		    4, params, attempt_recorded, a);
	} else {
		/* The retry is scheduled on the daemon clock: with the test clock, a test moves
		 * the clock past it to make it due. */
		int64_t max_us = (int64_t)s->d->config->webhook_backoff_max_s * US_PER_S;
		int64_t delay = webhook_backoff_us(a->attempts_before + 1, SENDER_BACKOFF_BASE_US,
		                                   max_us, random_u32());
		char next[CLOCK_TEXT_SIZE];
		format_instant(now_us + delay, next);
		const char *params[] = {a->delivery_id, s->owner, a->error, now, next};
		queued = db_query(s->d->db,
		                  a->channel ? "SELECT channel_failed($1::bigint, $2, $3, "
		                               "$4::timestamptz, $5::timestamptz)"
		                             : "SELECT outbox_failed($1::bigint, $2, $3, "
		                               "$4::timestamptz, $5::timestamptz)",
		                  5, params, attempt_recorded, a);
	}
	if (!queued) {
		struct db_result full = {.status = DB_UNAVAILABLE,
		                         .message = "database queue full"};
		/* Through the same path as a refused statement, but never re-entering our caller
		 * synchronously in a loop: the retry is timed. */
		if (++a->record_tries < SENDER_RECORD_TRIES) {
			arm_timer_us(a->record_retry, SENDER_DB_RETRY_S * US_PER_S);
			return;
		}
		a->record_tries = SENDER_RECORD_TRIES;
		attempt_recorded(a, &full);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Sending                                                                                  */

static void attempt_sent(void *arg, const struct webhook_outcome *outcome)
{
	struct attempt *a = arg;
	a->transfer = NULL; /* freed by now */
	a->mail = NULL;
	attempt_finish(a, outcome->delivered, "%s", outcome->text);
}

static void attempt_start_mail(struct attempt *a)
{
	struct sender *s = a->sender;
	char error[SENDER_ERROR_SIZE], from[320];
	mail_from_address(s->d->config->smtp_from, from, sizeof from);
	const struct mail_post post = {
	    .relay = s->d->config->smtp_relay,
	    .from = from,
	    .ca_file = s->d->config->smtp_ca,
	    .to = a->url,
	    .event_id = a->event_id,
	    .type = a->type,
	    .payload = a->payload,
	    .timeout_s = s->d->config->webhook_timeout_s,
	};
	a->mail = mail_transfer_start(s->d->curl, &post, attempt_sent, a, error, sizeof error);
	if (!a->mail)
		attempt_finish(a, false, "%s", error);
}

static void attempt_start(struct attempt *a)
{
	struct sender *s = a->sender;
	char error[SENDER_ERROR_SIZE];
	a->started_mono_us = clock_monotonic_us();
	a->state = ATTEMPT_SENDING;
	a->record_retry = evtimer_new(s->base, attempt_record_retry_cb, a);
	if (!a->record_retry) {
		attempt_finish(a, false, "out of memory");
		return;
	}
	if (!a->url) {
		attempt_finish(a, false, "no %s endpoint is configured for centre %s", a->authority,
		               a->centre);
		return;
	}
	if (a->channel && strcmp(a->authority, "email") == 0) {
		attempt_start_mail(a);
		return;
	}
	const struct webhook_post post = {
	    .url = a->url,
	    .authority = a->channel ? "on-call webhook" : a->authority,
	    .secret = a->secret,
	    .event_id = a->event_id,
	    .type = a->type,
	    .payload = a->payload,
	    .timeout_s = s->d->config->webhook_timeout_s,
	    .proxy = s->d->config->webhook_proxy,
	    .fresh_connection = clock_monotonic_us() < s->fresh_until_mono_us,
	};
	a->transfer = webhook_transfer_start(s->d->curl, s->trust, &post, attempt_sent, a, error,
	                                     sizeof error);
	if (!a->transfer)
		attempt_finish(a, false, "%s", error);
}

/* ---------------------------------------------------------------------------------------- */
/* Claiming work                                                                            */

static void sender_wake_result(void *arg, const struct db_result *r)
{
	struct sender *s = arg;
	s->waking = false;
	int64_t delay = SENDER_POLL_S * US_PER_S;
	if (r->status == DB_OK && PQntuples(r->pg) == 1) {
		int64_t now = clock_now_us(), wall = wall_now_us(), at;
		const char *next_due = PQgetisnull(r->pg, 0, 0) ? NULL : PQgetvalue(r->pg, 0, 0);
		const char *next_lease = PQgetisnull(r->pg, 0, 1) ? NULL : PQgetvalue(r->pg, 0, 1);
		if (next_due && clock_parse(next_due, &at)) {
			if (at <= now) {
				/* Due but held back by an earlier notification of the same absence,
				 * the group cap, or another instance's lease: look again soon. */
				delay = SENDER_BLOCKED_POLL_S * US_PER_S;
			} else if (!clock_is_test()) {
				if (at - now < delay)
					delay = at - now;
			}
			/* With the test clock a future instant only comes with PUT /v1/clock,
			 * which kicks us. */
		}
		if (next_lease && clock_parse(next_lease, &at)) {
			/* A hair after the expiry, so the claim sees it expired. */
			if (at - wall + 10000 < delay)
				delay = at - wall + 10000;
		}
	} else if (r->status != DB_OK) {
		delay = SENDER_DB_RETRY_S * US_PER_S;
	}
	arm_timer_us(s->timer, delay);
}

static void sender_wake_query(struct sender *s)
{
	if (s->waking)
		return;
	char now[CLOCK_TEXT_SIZE], wall[CLOCK_TEXT_SIZE];
	format_instant(clock_now_us(), now);
	format_instant(wall_now_us(), wall);
	const char *params[] = {now, wall};
	if (db_query(s->d->db,
	             "SELECT next_due, next_lease FROM outbox_next_wake($1::timestamptz, "
	             "$2::timestamptz)",
	             2, params, sender_wake_result, s))
		s->waking = true;
	else
		arm_timer_us(s->timer, SENDER_DB_RETRY_S * US_PER_S);
}

static struct attempt *attempt_from_row(struct sender *s, PGresult *pg, int row)
{
	struct attempt *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->sender = s;
	snprintf(a->delivery_id, sizeof a->delivery_id, "%s", PQgetvalue(pg, row, 0));
	a->event_id = strdup(PQgetvalue(pg, row, 1));
	a->type = strdup(PQgetvalue(pg, row, 2));
	a->authority = strdup(PQgetvalue(pg, row, 3));
	a->centre = strdup(PQgetvalue(pg, row, 4));
	a->url = PQgetisnull(pg, row, 5) ? NULL : dup_or_null(PQgetvalue(pg, row, 5));
	a->secret = PQgetisnull(pg, row, 6) ? NULL : dup_or_null(PQgetvalue(pg, row, 6));
	a->payload = strdup(PQgetvalue(pg, row, 7));
	a->attempts_before = atoi(PQgetvalue(pg, row, 8));
	if (!a->event_id || !a->type || !a->authority || !a->centre || !a->payload ||
	    (!PQgetisnull(pg, row, 5) && !a->url) || (!PQgetisnull(pg, row, 6) && !a->secret)) {
		attempt_free(a);
		return NULL;
	}
	return a;
}

/* Starts an attempt for every claimed row; false when the database refused the claim. */
static bool sender_start_claimed(struct sender *s, const struct db_result *r, bool channel,
                                 int *rows_out)
{
	*rows_out = 0;
	if (r->status != DB_OK) {
		if (!s->db_trouble_logged)
			log_warn("sender: cannot claim deliveries (%s); retrying", r->message);
		s->db_trouble_logged = true;
		arm_timer_us(s->timer, SENDER_DB_RETRY_S * US_PER_S);
		return false;
	}
	if (s->db_trouble_logged)
		log_info("sender: claiming deliveries again");
	s->db_trouble_logged = false;
	int rows = PQntuples(r->pg);
	for (int i = 0; i < rows; i++) {
		struct attempt *a = attempt_from_row(s, r->pg, i);
		if (!a) {
			/* Its lease expires and it is claimed again. */
			log_error("sender: out of memory for a claimed delivery");
			continue;
		}
		a->channel = channel;
		a->next = s->attempts;
		if (s->attempts)
			s->attempts->prev = a;
		s->attempts = a;
		s->in_flight++;
		attempt_start(a);
	}
	*rows_out = rows;
	return true;
}

/* The claim statement's parameters: owner, now, wall, lease, limit, cap. */
struct claim_params {
	char now[CLOCK_TEXT_SIZE], wall[CLOCK_TEXT_SIZE], lease[CLOCK_TEXT_SIZE];
	char limit[16], cap[16];
};

static void claim_params_fill(struct sender *s, int room, struct claim_params *p)
{
	int64_t wall_us = wall_now_us();
	format_instant(clock_now_us(), p->now);
	format_instant(wall_us, p->wall);
	format_instant(
	    wall_us + ((int64_t)s->d->config->webhook_timeout_s + SENDER_LEASE_MARGIN_S) * US_PER_S,
	    p->lease);
	snprintf(p->limit, sizeof p->limit, "%d", room);
	snprintf(p->cap, sizeof p->cap, "%d", SENDER_GROUP_CAP);
}

static void sender_channels_claimed(void *arg, const struct db_result *r)
{
	struct sender *s = arg;
	s->claiming = false;
	int rows;
	if (!sender_start_claimed(s, r, true, &rows))
		return;
	/* A full batch means more may be waiting; otherwise find out when to look again. */
	if (s->claimed_full || rows >= SENDER_CLAIM_BATCH || s->kick_wanted)
		sender_kick(s);
	else
		sender_wake_query(s);
}

/* The second half of a round: the on-call channels' rows, in the room the authorities' left. */
static void sender_claim_channels(struct sender *s)
{
	int room = SENDER_MAX_IN_FLIGHT - s->in_flight;
	if (room <= 0 || s->d->draining) {
		s->claiming = false;
		if (room <= 0)
			s->kick_wanted = true; /* the next finished attempt kicks */
		return;
	}
	if (room > SENDER_CLAIM_BATCH)
		room = SENDER_CLAIM_BATCH;
	struct claim_params p;
	claim_params_fill(s, room, &p);
	const char *params[] = {s->owner, p.now, p.wall, p.lease, p.limit, p.cap};
	if (!db_query(s->d->db,
	              "SELECT id, event_id, type, kind, centre, address, secret, payload, attempts "
	              "FROM channel_claim($1, $2::timestamptz, $3::timestamptz, $4::timestamptz, "
	              "$5::int, $6::int)",
	              6, params, sender_channels_claimed, s)) {
		s->claiming = false;
		s->kick_wanted = true;
		arm_timer_us(s->timer, SENDER_DB_RETRY_S * US_PER_S);
	}
}

static void sender_claimed(void *arg, const struct db_result *r)
{
	struct sender *s = arg;
	int rows;
	if (!sender_start_claimed(s, r, false, &rows)) {
		s->claiming = false;
		return;
	}
	s->claimed_full = rows >= SENDER_CLAIM_BATCH;
	sender_claim_channels(s); /* claiming stays set until the channels' claim answers */
}

static void sender_claim(struct sender *s)
{
	if (!s->started || s->claiming || s->d->draining)
		return;
	int room = SENDER_MAX_IN_FLIGHT - s->in_flight;
	if (room <= 0)
		return; /* kick_wanted stays set: the next finished attempt kicks */
	if (room > SENDER_CLAIM_BATCH)
		room = SENDER_CLAIM_BATCH;
	s->kick_wanted = false;
	struct claim_params p;
	claim_params_fill(s, room, &p);
	/* public_url: absence.reported bodies carry receipt_url under it (SPEC section 10). */
	const char *params[] = {
	    s->owner, p.now, p.wall, p.lease, p.limit, p.cap, s->d->config->public_url};
	if (!db_query(
	        s->d->db,
	        "SELECT id, event_id, type, authority, centre, url, secret, payload, attempts "
	        "FROM outbox_claim($1, $2::timestamptz, $3::timestamptz, $4::timestamptz, "
	        "$5::int, $6::int, $7)",
	        7, params, sender_claimed, s)) {
		s->kick_wanted = true;
		arm_timer_us(s->timer, SENDER_DB_RETRY_S * US_PER_S);
		return;
	}
	s->claiming = true;
}

static void sender_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	sender_claim(arg);
}

static void sender_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sender *s = arg;
	(void)fd, (void)what;
	if (!s->started)
		return; /* the release retry re-arms through sender_released */
	sender_kick(s);
}

void sender_kick(struct sender *s)
{
	if (!s)
		return;
	s->kick_wanted = true;
	/* Deferred to the loop: callers are NOTIFY callbacks, request handlers and attempt
	 * completions, and several kicks in one turn make one claim. */
	struct timeval zero = {0, 0};
	evtimer_add(s->kick_event, &zero);
}

static void sender_notified(void *arg, const char *channel, const char *payload)
{
	(void)channel, (void)payload;
	/* payload NULL: the listener reconnected and may have missed notifications. */
	sender_kick(arg);
}

static void sender_release(struct sender *s);

static void sender_release_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	sender_release(arg);
}

static void sender_released(void *arg, const struct db_result *r)
{
	struct sender *s = arg;
	if (r->status != DB_OK) {
		log_debug("sender: waiting for the database (%s)", r->message);
		struct timeval tv = {0, SENDER_START_RETRY_MS * 1000};
		if (event_base_once(s->base, -1, EV_TIMEOUT, sender_release_retry_cb, s, &tv) != 0)
			log_error("sender: cannot schedule a retry");
		return;
	}
	const char *released = PQntuples(r->pg) == 1 ? PQgetvalue(r->pg, 0, 0) : "0";
	if (strcmp(released, "0") != 0)
		log_warn("sender: took back %s deliveries this instance (%s) was sending when it "
		         "stopped; they are sent again with the same event ids",
		         released, s->owner);
	s->started = true;
	sender_kick(s);
}

/* At start: rows leased under our own name belong to a previous run of this instance that
 * died mid-delivery (kill -9, power loss). Nobody else can be sending them, so they are taken
 * back at once instead of waiting for the lease to expire. */
static void sender_release(struct sender *s)
{
	const char *params[] = {s->owner};
	if (!db_query(s->d->db, "SELECT outbox_release($1)", 1, params, sender_released, s)) {
		struct timeval tv = {0, SENDER_START_RETRY_MS * 1000};
		if (event_base_once(s->base, -1, EV_TIMEOUT, sender_release_retry_cb, s, &tv) != 0)
			log_error("sender: cannot schedule a retry");
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Life cycle                                                                               */

struct sender *sender_new(struct daemon *d)
{
	struct sender *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->d = d;
	s->base = d->base;
	if (d->config->instance_name && *d->config->instance_name) {
		s->owner = strdup(d->config->instance_name);
	} else {
		char host[256] = "rollcalld";
		(void)gethostname(host, sizeof host - 1);
		host[sizeof host - 1] = '\0';
		size_t size = strlen(host) + 16;
		s->owner = malloc(size);
		if (s->owner)
			snprintf(s->owner, size, "%s:%d", host, (int)getpid());
	}
	if (!s->owner)
		goto failed;
	if (!d->curl) {
		log_error("sender: no transfer loop");
		goto failed;
	}
	s->trust = sender_trust_new(d->config);
	if (!s->trust)
		goto failed;
	s->kick_event = evtimer_new(s->base, sender_kick_cb, s);
	s->timer = evtimer_new(s->base, sender_timer_cb, s);
	s->missing_endpoint_log =
	    log_throttle_new((int64_t)SENDER_MISSING_ENDPOINT_LOG_S * US_PER_S);
	if (!s->kick_event || !s->timer || !s->missing_endpoint_log)
		goto failed;
	if (!db_listen(d->db, "rc_outbox", sender_notified, s) ||
	    !db_listen(d->db, "rc_clock", sender_notified, s))
		goto failed;
	sender_release(s);
	return s;
failed:
	log_error("sender: cannot start");
	sender_free(s);
	return NULL;
}

void sender_free(struct sender *s)
{
	if (!s)
		return;
	/* Attempts cut short here keep their lease until it expires (or this instance name
	 * starts again): the authority may then see the same event id twice, never a gap. */
	struct attempt *a = s->attempts;
	while (a) {
		struct attempt *next = a->next;
		a->state = ATTEMPT_DONE;
		attempt_free(a); /* cancels its transfer, if any: no callback */
		a = next;
	}
	s->attempts = NULL;
	if (s->kick_event)
		event_free(s->kick_event);
	if (s->timer)
		event_free(s->timer);
	X509_STORE_free(s->trust);
	log_throttle_free(s->missing_endpoint_log);
	free(s->owner);
	free(s);
}

void sender_stats(const struct sender *s, struct sender_stats *out)
{
	*out = (struct sender_stats){0};
	if (!s)
		return;
	out->delivered = s->delivered_total;
	out->failed = s->failed_total;
	out->in_flight = s->in_flight;
}
