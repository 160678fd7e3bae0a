/* The alert hub's interface to the stream handler (handlers_alerts.c): turn an authorised
 * request into a live Server-Sent Events stream of its centre's alerts. The hub's life cycle
 * (new, free, close_all) is declared in daemon.h. */
#ifndef ROLLCALL_ALERT_HUB_H
#define ROLLCALL_ALERT_HUB_H

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

/* Watchers attached to this instance. */
int alert_hub_watchers(const struct alert_hub *hub);

/* Calls fn once per centre that has had a watcher on this instance, with its watchers now
 * (possibly 0), for /metrics. */
void alert_hub_each_centre(const struct alert_hub *hub,
                           void (*fn)(void *arg, const char *centre, int watchers), void *arg);

#endif
