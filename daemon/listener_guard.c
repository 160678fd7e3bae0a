/* Descriptor exhaustion (listener_guard.h). libevent 2.1's listener, on an accept() error other
 * than EAGAIN/EINTR, logs "Error from accept() call" and returns, and the listening socket is
 * still readable: with EMFILE it spins at 100 % CPU writing that line as fast as it can. Its
 * error callback here pauses the listener instead, and a timer resumes it, so an exhausted
 * process tries one accept per pause, not millions. server.c also pauses it before the
 * connections it holds reach their descriptor budget, so that the pause, not EMFILE, is the
 * normal case and PostgreSQL and the webhooks always find a descriptor. */
#include "listener_guard.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "log.h"

#define LOG_EVERY_US 10000000LL /* one pause line per ten seconds at most */
#define EXHAUSTED_PAUSE_MS 250  /* after EMFILE/ENFILE: one accept() try per this */
/* Connections accepted per turn of the event loop at most: each brings a TLS handshake (a key
 * exchange, a signature, the client's chain checked), a millisecond or more of the one loop's
 * time. libevent accepts until EAGAIN, so a burst of a few hundred connects would be taken in
 * one turn and their handshakes would run back to back in the next, ahead of every request
 * already waiting; 8 a turn keeps that within a few milliseconds (issue 12). */
#define ACCEPTS_PER_TURN 8

struct listener_guard {
	struct evconnlistener *listener;
	struct event *resume;
	bool (*may_resume)(void *arg);
	void *arg;
	struct event *turn; /* zero-delay timer: fires on the loop's next turn */
	int accepted;       /* this turn */
	bool yielded;       /* disabled for the rest of the turn by listener_guard_accepted */
	bool paused;
	bool detached;
	unsigned long long pauses;
	unsigned long long pauses_logged;
	int64_t logged_us;
};

/* The listener's error callback gets evhttp's argument, not ours: there is one listener. */
static struct listener_guard *the_guard;

long descriptors_raise_limit(void)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
		log_warn("descriptors: cannot read RLIMIT_NOFILE: %s", strerror(errno));
		return -1;
	}
	rlim_t before = lim.rlim_cur;
	if (lim.rlim_cur != lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
			log_warn("descriptors: cannot raise the soft limit %llu to the hard limit "
			         "%llu: %s",
			         (unsigned long long)before, (unsigned long long)lim.rlim_max,
			         strerror(errno));
			lim.rlim_cur = before;
		}
	}
	if (lim.rlim_cur == RLIM_INFINITY)
		lim.rlim_cur = 1L << 20;
	log_info("descriptors: limit %llu (soft limit was %llu, hard limit %llu)",
	         (unsigned long long)lim.rlim_cur, (unsigned long long)before,
	         (unsigned long long)lim.rlim_max);
	return (long)lim.rlim_cur;
}

int descriptors_open(void)
{
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return -1;
	int count = 0;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL)
		if (entry->d_name[0] != '.')
			count++;
	closedir(dir);
	return count - 1; /* the directory's own descriptor */
}

static void log_pause(struct listener_guard *guard, const char *why)
{
	int64_t now = clock_monotonic_us();
	if (guard->logged_us && now - guard->logged_us < LOG_EVERY_US)
		return;
	log_warn("listener: not accepting connections for now: %s (%llu pauses in all, %llu "
	         "since the last line)",
	         why, guard->pauses, guard->pauses - guard->pauses_logged);
	guard->logged_us = now;
	guard->pauses_logged = guard->pauses;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener_guard *guard = arg;
	(void)fd, (void)what;
	if (!guard->paused || guard->detached)
		return;
	if (guard->may_resume && !guard->may_resume(guard->arg)) {
		/* A poke asks again when something is released; this is only the fallback. */
		struct timeval tv = {1, 0};
		evtimer_add(guard->resume, &tv);
		return;
	}
	guard->paused = false;
	if (evconnlistener_enable(guard->listener) != 0)
		log_error("listener: cannot resume accepting connections");
}

void listener_guard_pause(struct listener_guard *guard, const char *why, int delay_ms)
{
	if (guard->detached)
		return;
	if (!guard->paused) {
		guard->paused = true;
		guard->pauses++;
		evconnlistener_disable(guard->listener);
		log_pause(guard, why);
	}
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
	evtimer_add(guard->resume, &tv);
}

/* The next turn: accepting may go on (unless a pause holds it, whose end enables it). */
static void turn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener_guard *guard = arg;
	(void)fd, (void)what;
	guard->accepted = 0;
	if (!guard->yielded)
		return;
	guard->yielded = false;
	if (guard->paused || guard->detached)
		return;
	if (evconnlistener_enable(guard->listener) != 0)
		log_error("listener: cannot resume accepting connections");
}

void listener_guard_accepted(struct listener_guard *guard)
{
	if (!guard || guard->detached)
		return;
	if (guard->accepted++ == 0) {
		struct timeval zero = {0, 0};
		evtimer_add(guard->turn, &zero);
	}
	if (guard->accepted >= ACCEPTS_PER_TURN && !guard->yielded && !guard->paused) {
		guard->yielded = true;
		evconnlistener_disable(guard->listener);
	}
}

void listener_guard_poke(struct listener_guard *guard)
{
	if (guard && guard->paused && !guard->detached)
		event_active(guard->resume, EV_TIMEOUT, 0);
}

/* libevent calls this for accept() errors other than EAGAIN, EINTR and ECONNABORTED. */
static void accept_error_cb(struct evconnlistener *listener, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	(void)arg;
	struct listener_guard *guard = the_guard;
	if (!guard || guard->listener != listener)
		return;
	char why[160];
	snprintf(why, sizeof why, "accept() failed: %s", strerror(err));
	/* Out of descriptors or kernel memory: wait for some to come back. Anything else is
	 * unexpected; pausing as well keeps it from spinning. */
	listener_guard_pause(guard, why, EXHAUSTED_PAUSE_MS);
}

struct listener_guard *listener_guard_new(struct event_base *base, struct evconnlistener *listener,
                                          bool (*may_resume)(void *arg), void *arg)
{
	struct listener_guard *guard = calloc(1, sizeof *guard);
	if (!guard)
		return NULL;
	guard->listener = listener;
	guard->may_resume = may_resume;
	guard->arg = arg;
	guard->resume = evtimer_new(base, resume_cb, guard);
	guard->turn = evtimer_new(base, turn_cb, guard);
	if (!guard->resume || !guard->turn) {
		if (guard->resume)
			event_free(guard->resume);
		if (guard->turn)
			event_free(guard->turn);
		free(guard);
		return NULL;
	}
	evconnlistener_set_error_cb(listener, accept_error_cb);
	the_guard = guard;
	return guard;
}

void listener_guard_detach(struct listener_guard *guard)
{
	if (!guard)
		return;
	guard->detached = true;
	evtimer_del(guard->resume);
	evtimer_del(guard->turn);
}

void listener_guard_free(struct listener_guard *guard)
{
	if (!guard)
		return;
	if (the_guard == guard)
		the_guard = NULL;
	event_free(guard->resume);
	event_free(guard->turn);
	free(guard);
}

bool listener_guard_paused(const struct listener_guard *guard)
{
	return guard && guard->paused;
}

unsigned long long listener_guard_pauses(const struct listener_guard *guard)
{
	return guard ? guard->pauses : 0;
}
