/* The accept side's defences against running out of file descriptors: the soft RLIMIT_NOFILE
 * raised to the hard limit at start, a count of the descriptors in use, and pausing the
 * listener (instead of libevent's accept loop spinning on EMFILE) until descriptors are back;
 * and a bound on the connections accepted per turn of the event loop. */
#ifndef ROLLCALL_LISTENER_GUARD_H
#define ROLLCALL_LISTENER_GUARD_H

#include <stdbool.h>

struct event_base;
struct evconnlistener;
struct listener_guard;

/* Raises the soft descriptor limit to the hard one and logs both; returns the limit now in
 * force (the soft one), or -1 when it cannot be read. Call once at start. */
long descriptors_raise_limit(void);

/* Descriptors this process has open now (from /proc/self/fd), or -1. */
int descriptors_open(void);

/* may_resume(arg) says whether accepting may start again after a pause (it is asked when the
 * pause's delay ends and after listener_guard_poke). */
struct listener_guard *listener_guard_new(struct event_base *base, struct evconnlistener *listener,
                                          bool (*may_resume)(void *arg), void *arg);
void listener_guard_free(struct listener_guard *guard);

/* Stops accepting for delay_ms (or until a poke, whichever comes first), and then until
 * may_resume says so. why goes into the
 * log line, which is written at most once every few seconds however often this is called. */
void listener_guard_pause(struct listener_guard *guard, const char *why, int delay_ms);

/* A connection was accepted: after a few in one turn of the loop, accepting stops until the
 * next turn, so that a burst of connects cannot put all its TLS handshakes ahead of the
 * requests already waiting (the kernel's backlog holds the rest meanwhile). */
void listener_guard_accepted(struct listener_guard *guard);

/* Something was released (a connection closed): asks may_resume again soon, if paused. */
void listener_guard_poke(struct listener_guard *guard);

bool listener_guard_paused(const struct listener_guard *guard);
unsigned long long listener_guard_pauses(const struct listener_guard *guard);

/* SIGTERM: the listener is going; never enable it again. */
void listener_guard_detach(struct listener_guard *guard);

#endif
