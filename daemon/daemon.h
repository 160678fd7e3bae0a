/* The daemon's shared state, owned by main.c, and the entry points of its subsystems. */
#ifndef ROLLCALL_DAEMON_H
#define ROLLCALL_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

struct config;
struct db_pool;
struct event_base;
struct server;
struct due_engine;
struct alert_hub;
struct sender;
struct curl_loop;
struct cert_expiry;
struct request_gate;

struct daemon {
	struct event_base *base;
	struct config *config;
	struct db_pool *db;
	struct server *server;
	struct due_engine *due;    /* issue 4: timers for due events (due.c) */
	struct alert_hub *alerts;  /* issue 4: SSE watchers per centre (alert_hub.c) */
	struct sender *sender;     /* issue 5: webhook delivery (sender.c) */
	struct curl_loop *curl;    /* outgoing transfers: webhooks, mail (curl_loop.c) */
	struct cert_expiry *cert;  /* expiry warnings of the TLS files (cert_expiry.c) */
	struct request_gate *gate; /* api() calls per certificate let into the pool's queue */
	bool draining;             /* SIGTERM received */
};

extern struct daemon *daemon_state; /* the one instance, set by main() */

/* Timing engine (due.c). due_engine_new subscribes to rc_due/rc_clock and arms its timer.
 * due_engine_run_now decides every due event up to the clock's instant, committing in batches,
 * then calls done (may be NULL); used by PUT /v1/clock, which answers from done. */
struct due_engine *due_engine_new(struct daemon *d);
void due_engine_free(struct due_engine *engine);
void due_engine_run_now(struct due_engine *engine, void (*done)(void *arg, bool ok), void *arg);

/* Live alerts (alert_hub.c): SSE watchers and LISTEN rc_alert fan-out. */
struct alert_hub *alert_hub_new(struct daemon *d);
void alert_hub_free(struct alert_hub *hub);
void alert_hub_close_all(struct alert_hub *hub); /* SIGTERM: end every stream */

/* Webhook sender (sender.c). sender_kick looks for deliverable rows at once (after a clock
 * change or a NOTIFY rc_outbox). */
struct sender *sender_new(struct daemon *d);
void sender_free(struct sender *sender);
void sender_kick(struct sender *sender);
bool sender_reload_ca(struct sender *sender); /* SIGHUP */

#endif
