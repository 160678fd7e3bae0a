/* The alert hub's interface to the stream handler (handlers_alerts.c): turn an authorised
 * request into a live Server-Sent Events stream of its centre's alerts. The hub's life cycle
 * (new, free, close_all) is declared in daemon.h. */
#ifndef ROLLCALL_ALERT_HUB_H
#define ROLLCALL_ALERT_HUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct alert_hub;
struct request;

/* Takes over `req`: starts its text/event-stream reply, replays the centre's events after
 * last_event_id (none when last_event_id < 0: the stream then starts with the next event),
 * then sends every new event as it is committed, until the client goes away, falls more than
 * the buffer limit behind, or the daemon drains. The hub ends the stream and frees the request.
 * Returns false only when out of memory, before touching req: the caller still owns it then. */
bool alert_hub_attach(struct alert_hub *hub, const char *centre, struct request *req,
                      int64_t last_event_id) __attribute__((warn_unused_result));

/* As alert_hub_attach, for a request that could not be authorised because the database is
 * away (api() answered 503): the stream gets `event: status` and heartbeats only, and is
 * authorised (or ended) when the database is back. */
bool alert_hub_attach_unchecked(struct alert_hub *hub, const char *centre, struct request *req,
                                int64_t last_event_id) __attribute__((warn_unused_result));

/* True while the pool has lost PostgreSQL (the streams were told "unreachable"). */
bool alert_hub_database_down(const struct alert_hub *hub);

/* Calls fn once per account with an authorised stream on this instance (revocation.c re-checks
 * them after the listener reconnected: account changes notified meanwhile were lost). */
void alert_hub_each_account(struct alert_hub *hub, void (*fn)(void *arg, const char *cn),
                            void *arg);

/* Watchers attached to this instance. */
int alert_hub_watchers(const struct alert_hub *hub);

/* An account changed (NOTIFY rc_account, revocation.c): until alert_hub_apply_scope, live
 * events for the streams of cn are held, so that none goes out that the change forbids. */
void alert_hub_suspend_account(struct alert_hub *hub, const char *cn);

/* Ends (and audits, with outcome) every stream of cn that scope, account_scope()'s answer, no
 * longer allows (scope NULL: every stream of cn), and sends the others what was held. Returns
 * how many were ended. */
int alert_hub_apply_scope(struct alert_hub *hub, const char *cn, const json_t *scope,
                          const char *outcome);
/* Calls fn once per centre that has had a watcher on this instance, with its watchers now
 * (possibly 0), for /metrics. */
void alert_hub_each_centre(const struct alert_hub *hub,
                           void (*fn)(void *arg, const char *centre, int watchers), void *arg);

#endif
