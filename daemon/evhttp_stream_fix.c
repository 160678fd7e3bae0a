/* The end of a chunked reply, guarded against a race in libevent 2.1's evhttp that loses it.
 *
 * The race. libevent 2.1 runs a bufferevent's write callback deferred, in a later turn of the
 * loop. For an evhttp connection that callback is evhttp_write_cb, and what it does depends on
 * the state at the time it runs, not at the time it was scheduled. A callback scheduled while a
 * stream was being written (the output had just run dry between two chunks) may therefore run
 * after the last chunk and the end marker have been queued behind it by evhttp_send_reply_end,
 * which has meanwhile made "the reply has been sent" the callback's action. evhttp then
 * finishes the request with those bytes still queued: evhttp_send_done -> evhttp_start_read_
 * switches the connection to reading the next request and disables writing, and the client
 * never receives the end of the reply (it waits until the connection deadline). Found under gdb
 * with 5 or 63 bytes still queued when writes were disabled (commit ad02396).
 *
 * The reproducer is tests/bench/stress_export.py: the same 100,000-resident centre export
 * fetched again and again, each checked to arrive whole. Without this guard 4 of 46 exports
 * lost their tail (when the last page came right behind a drained chunk); with it none of 84,
 * nor of 20 under a CPU hog. Run it again after any change here or to libevent.
 *
 * The guard. Right after evhttp_send_reply_end, evhttp's write callback is swapped for one that
 * ignores every call while output is still queued, and on the first call with the output really
 * dry puts evhttp's callbacks back and passes the call on. It only touches the exact callback
 * arrangement evhttp_send_reply_end leaves (no read callback, the connection as the argument);
 * anything else is left alone. Its only effect is to delay evhttp's own callback until its
 * precondition holds, which is harmless even where the race does not exist.
 *
 * The version. This depends on evhttp 2.1's internals (deferred write callbacks, the callbacks
 * evhttp_send_reply_end installs), checked against 2.1.12-stable, the last 2.1 release and
 * Debian 12's. The build therefore refuses libevent headers outside the 2.1 series: another
 * series may have fixed the race, or changed the callbacks so that the guard never engages
 * (tails lost again, silently) or engages on something else, and only a run of the reproducer
 * can tell; whoever moves to it must run stress_export.py and then widen the check, or delete
 * this file. A failed build says so at the moment someone changes libevent, where a runtime
 * switch would hide the question. At run time the library is checked as well, since the
 * binary may meet a different libevent than its headers (LD_LIBRARY_PATH, a hand-built
 * library): Debian's soname libevent-2.1.so.7 makes that unlikely, so a mismatch is logged as
 * an error at start rather than refusing to run, and the guard stays on (harmless, see above). */
#include "evhttp_stream_fix.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

#include "log.h"

/* The series the guard was written and measured for: 2.1.x (major and minor of the number). */
#define STREAM_FIX_SERIES 0x02010000u
#define STREAM_FIX_SERIES_MASK 0xffff0000u

#if (LIBEVENT_VERSION_NUMBER & STREAM_FIX_SERIES_MASK) != STREAM_FIX_SERIES
#error "evhttp_stream_fix.c is for libevent 2.1: run tests/bench/stress_export.py, see above"
#endif

void evhttp_stream_fix_check_runtime(void)
{
	ev_uint32_t running = event_get_version_number();
	if ((running & STREAM_FIX_SERIES_MASK) != STREAM_FIX_SERIES)
		log_error(
		    "libevent %s is running, but rollcalld was built with %s and its stream "
		    "workaround (daemon/evhttp_stream_fix.c) is for 2.1 only: long replies may "
		    "lose their end; check with tests/bench/stress_export.py",
		    event_get_version(), LIBEVENT_VERSION);
	else
		log_debug("libevent %s (built with %s)", event_get_version(), LIBEVENT_VERSION);
}

/* evhttp's own write callback and event callback, as evhttp_send_reply_end left them. They are
 * the same functions for every connection (the connection is their argument), so one copy
 * serves all. */
static bufferevent_data_cb evhttp_write_cb_fn;
static bufferevent_event_cb evhttp_event_cb_fn;

/* Stands in for evhttp's write callback until the output has really run dry. */
static void end_write_guard_cb(struct bufferevent *bev, void *evcon)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return; /* a drain from before the end was queued: the real one comes later */
	bufferevent_setcb(bev, NULL, evhttp_write_cb_fn, evhttp_event_cb_fn, evcon);
	evhttp_write_cb_fn(bev, evcon);
}

static void guard_reply_end(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_data_cb readcb, writecb;
	bufferevent_event_cb eventcb;
	void *arg;
	if (!bev)
		return;
	bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &arg);
	/* Only the shape evhttp_send_reply_end leaves (no read callback, the connection as the
	 * argument); anything else is left alone. */
	if (!writecb || readcb || arg != (void *)evcon || writecb == end_write_guard_cb)
		return;
	evhttp_write_cb_fn = writecb;
	evhttp_event_cb_fn = eventcb;
	bufferevent_setcb(bev, NULL, end_write_guard_cb, eventcb, evcon);
}

void evhttp_stream_fix_send_reply_end(struct evhttp_request *http, struct evhttp_connection *evcon)
{
	if (!http)
		return;
	/* The guard goes on once evhttp_send_reply_end has set its callbacks, and only when that
	 * call cannot have finished the request (and maybe freed the connection) at once: a
	 * chunked reply (it queues the end marker) or output still queued. That is decided
	 * before the call, while the connection is certainly alive. */
	bool guard = false;
	if (evcon) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
		const char *te = evhttp_find_header(evhttp_request_get_output_headers(http),
		                                    "Transfer-Encoding");
		guard = (te && strcasecmp(te, "chunked") == 0) ||
		        (bev && evbuffer_get_length(bufferevent_get_output(bev)) > 0);
	}
	/* On a detached request (the client hung up) this frees it. */
	evhttp_send_reply_end(http);
	if (guard)
		guard_reply_end(evcon);
}
