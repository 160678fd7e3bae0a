/* libcurl's multi interface on the libevent loop (the "multi_socket" API): curl tells us which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION) and when it next needs to run
 * (CURLMOPT_TIMERFUNCTION); we keep one persistent event per socket and one timer, and hand every
 * readiness and expiry back with curl_multi_socket_action. Finished transfers are picked up with
 * curl_multi_info_read after each call and reported to their owner's callback. Nothing here
 * blocks: sockets are non-blocking and name lookups run in curl's resolver threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "curl_loop.h"
#include "log.h"

/* 7.87.0 brought CURLOPT_QUICK_EXIT, without which cancelling a transfer that is resolving waits
 * for the resolver thread (curl's multi_done -> Curl_resolver_kill). */
#define CURL_LOOP_MIN_VERSION 0x075700

/* One socket curl asked us to watch. Owned by the loop's list; curl holds a pointer to it
 * (curl_multi_assign) until it says CURL_POLL_REMOVE. */
struct curl_loop_socket {
	struct curl_loop *loop;
	struct curl_loop_socket *prev, *next;
	curl_socket_t fd;
	struct event *event;
};

/* One transfer in the multi handle: whom to tell when it ends. Owned by the loop's list; the
 * easy handle's CURLOPT_PRIVATE points here. */
struct curl_loop_transfer {
	struct curl_loop_transfer *prev, *next;
	CURL *easy;
	curl_loop_done_fn done;
	void *arg;
};

struct curl_loop {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct curl_loop_socket *sockets;
	struct curl_loop_transfer *transfers;
};

bool curl_loop_global_init(char *error, size_t error_size)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(error, error_size, "cannot initialise libcurl: %s",
		         curl_easy_strerror(rc));
		return false;
	}
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	if (v->version_num < CURL_LOOP_MIN_VERSION) {
		snprintf(error, error_size, "libcurl %s is too old (7.87.0 or later is needed)",
		         v->version);
		goto failed;
	}
	if (!(v->features & CURL_VERSION_ASYNCHDNS)) {
		/* Name lookups would block the event loop. */
		snprintf(error, error_size, "libcurl %s resolves names synchronously", v->version);
		goto failed;
	}
	return true;
failed:
	curl_global_cleanup();
	return false;
}

void curl_loop_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---------------------------------------------------------------------------------------- */
/* Finished transfers                                                                       */

static void transfer_unlink(struct curl_loop *loop, struct curl_loop_transfer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->transfers = t->next;
	if (t->next)
		t->next->prev = t->prev;
}

/* Takes the handle out of the multi handle and forgets it; no callback. */
static void transfer_remove(struct curl_loop *loop, struct curl_loop_transfer *t)
{
	CURLMcode rc = curl_multi_remove_handle(loop->multi, t->easy);
	if (rc != CURLM_OK)
		log_error("curl: cannot remove a transfer: %s", curl_multi_strerror(rc));
	(void)curl_easy_setopt(t->easy, CURLOPT_PRIVATE, NULL);
	transfer_unlink(loop, t);
	free(t);
}

static struct curl_loop_transfer *transfer_of(CURL *easy)
{
	char *private = NULL;
	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private) != CURLE_OK)
		return NULL;
	return (struct curl_loop_transfer *)private;
}

/* Reports every transfer curl has finished. The message is copied out before the handle is
 * removed (removal frees it), and each callback runs with its handle out of the multi handle, so
 * it may clean the handle up, start new transfers or cancel others (whose messages, if queued,
 * go with them). */
static void loop_dispatch_done(struct curl_loop *loop)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(loop->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;
		struct curl_loop_transfer *t = transfer_of(easy);
		if (!t) {
			log_error("curl: a finished transfer is not one of ours");
			(void)curl_multi_remove_handle(loop->multi, easy);
			continue;
		}
		curl_loop_done_fn done = t->done;
		void *arg = t->arg;
		transfer_remove(loop, t);
		done(arg, easy, result);
	}
}

static void loop_action(struct curl_loop *loop, curl_socket_t fd, int action)
{
	int running = 0;
	CURLMcode rc = curl_multi_socket_action(loop->multi, fd, action, &running);
	if (rc != CURLM_OK)
		log_error("curl: %s", curl_multi_strerror(rc));
	loop_dispatch_done(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* Sockets and the timer, as curl asks                                                      */

static void loop_event_cb(evutil_socket_t fd, short what, void *arg)
{
	/* arg is the loop, not the socket record: curl may remove the socket inside the call. */
	int action =
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	loop_action(arg, fd, action);
}

static void loop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	loop_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void socket_free(struct curl_loop *loop, struct curl_loop_socket *sock)
{
	if (sock->prev)
		sock->prev->next = sock->next;
	else
		loop->sockets = sock->next;
	if (sock->next)
		sock->next->prev = sock->prev;
	event_free(sock->event);
	free(sock);
}

/* A failure here is logged and otherwise ignored: telling curl (-1) would abort every transfer of
 * the multi handle for good, while an unwatched socket only stalls its own transfer until its
 * timeout, which the timer still enforces. */
static int loop_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct curl_loop *loop = userp;
	struct curl_loop_socket *sock = socketp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sock)
			socket_free(loop, sock);
		return 0;
	}
	short events = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	               ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!sock) {
		sock = calloc(1, sizeof *sock);
		if (!sock)
			goto failed;
		sock->loop = loop;
		sock->fd = fd;
		sock->event = event_new(loop->base, fd, events, loop_event_cb, loop);
		if (!sock->event) {
			free(sock);
			goto failed;
		}
		if (curl_multi_assign(loop->multi, fd, sock) != CURLM_OK) {
			event_free(sock->event);
			free(sock);
			goto failed;
		}
		sock->next = loop->sockets;
		if (loop->sockets)
			loop->sockets->prev = sock;
		loop->sockets = sock;
	} else {
		/* event_assign only on an event that is not pending. */
		(void)event_del(sock->event);
		if (event_assign(sock->event, loop->base, fd, events, loop_event_cb, loop) != 0)
			goto failed;
	}
	if (event_add(sock->event, NULL) != 0)
		goto failed;
	return 0;
failed:
	log_error("curl: cannot watch socket %d", (int)fd);
	return 0;
}

static int loop_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_loop *loop = userp;
	(void)multi;
	if (timeout_ms < 0) {
		(void)evtimer_del(loop->timer);
		return 0;
	}
	/* 0 means "as soon as possible": from the loop, never from inside this callback. */
	struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
	if (evtimer_add(loop->timer, &tv) != 0) {
		log_error("curl: cannot arm the timer");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Life cycle                                                                               */

struct curl_loop *curl_loop_new(struct event_base *base)
{
	struct curl_loop *loop = calloc(1, sizeof *loop);
	if (!loop)
		return NULL;
	loop->base = base;
	loop->multi = curl_multi_init();
	loop->timer = evtimer_new(base, loop_timeout_cb, loop);
	if (!loop->multi || !loop->timer)
		goto failed;
	if (curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, loop_socket_cb) != CURLM_OK ||
	    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop) != CURLM_OK ||
	    curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, loop_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop) != CURLM_OK)
		goto failed;
	return loop;
failed:
	log_error("curl: cannot set up the transfer loop");
	curl_loop_free(loop);
	return NULL;
}

void curl_loop_free(struct curl_loop *loop)
{
	if (!loop)
		return;
	while (loop->transfers)
		transfer_remove(loop, loop->transfers);
	if (loop->multi) {
		CURLMcode rc = curl_multi_cleanup(loop->multi);
		if (rc != CURLM_OK)
			log_error("curl: %s", curl_multi_strerror(rc));
	}
	/* Whatever curl did not say CURL_POLL_REMOVE for. */
	while (loop->sockets)
		socket_free(loop, loop->sockets);
	if (loop->timer)
		event_free(loop->timer);
	free(loop);
}

bool curl_loop_add(struct curl_loop *loop, CURL *easy, curl_loop_done_fn done, void *arg)
{
	struct curl_loop_transfer *t = calloc(1, sizeof *t);
	if (!t)
		return false;
	t->easy = easy;
	t->done = done;
	t->arg = arg;
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)t) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK) {
		free(t);
		return false;
	}
	/* Starts nothing yet: curl arms the timer (0 ms) and the transfer begins on the loop. */
	CURLMcode rc = curl_multi_add_handle(loop->multi, easy);
	if (rc != CURLM_OK) {
		log_error("curl: cannot start a transfer: %s", curl_multi_strerror(rc));
		(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(t);
		return false;
	}
	t->next = loop->transfers;
	if (loop->transfers)
		loop->transfers->prev = t;
	loop->transfers = t;
	return true;
}

struct event_base *curl_loop_base(const struct curl_loop *loop)
{
	return loop->base;
}

void curl_loop_cancel(struct curl_loop *loop, CURL *easy)
{
	struct curl_loop_transfer *t = transfer_of(easy);
	if (t)
		transfer_remove(loop, t);
}
