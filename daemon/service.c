/* systemd notifications (sd_notify) for rollcalld.service: see service.h. The watchdog ping
 * comes from a timer on the daemon's own event loop, so a loop that stops turning is killed and
 * restarted by systemd rather than left serving nothing. */
#include "service.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "clock.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "sender.h"
#include "server.h"

#define STATUS_INTERVAL_US 10000000ULL /* STATUS= refresh without a watchdog */
#define BACKLOG_INTERVAL_US 10000000LL /* outbox backlog re-read at most this often */

static struct event *tick;
static bool enabled;           /* $NOTIFY_SOCKET was set at start */
static struct daemon *watched; /* the daemon reported on */

static void notify(const char *text)
{
	if (!enabled)
		return;
	int rc = sd_notify(0, text);
	if (rc < 0)
		log_warn("sd_notify(%s) failed: error %d", text, -rc);
}

/* The outbox backlog as last read (outbox_backlog() in schema/code/metrics.sql); undelivered is
 * -1 until the first answer. Read on the pool like any query, never waited for: STATUS= shows
 * the latest figure, at most BACKLOG_INTERVAL_US old while the database answers. */
static struct {
	long long undelivered;
	long long oldest_s;
	bool asking;
	int64_t asked_us; /* monotonic */
} backlog = {.undelivered = -1};

static void backlog_done(void *arg, const struct db_result *r)
{
	(void)arg;
	backlog.asking = false;
	if (r->status != DB_OK || PQntuples(r->pg) != 1) {
		backlog.undelivered = -1;
		return;
	}
	backlog.undelivered = strtoll(PQgetvalue(r->pg, 0, 0), NULL, 10);
	backlog.oldest_s = (long long)strtod(PQgetvalue(r->pg, 0, 1), NULL);
}

static void backlog_refresh(void)
{
	int64_t now_us = clock_monotonic_us();
	if (backlog.asking || !watched->db ||
	    (backlog.asked_us != 0 && now_us - backlog.asked_us < BACKLOG_INTERVAL_US))
		return;
	char now[CLOCK_TEXT_SIZE];
	clock_format(clock_now_us(), now);
	const char *params[1] = {now};
	backlog.asked_us = now_us;
	backlog.asking = db_query(watched->db,
	                          "SELECT undelivered, oldest_seconds FROM "
	                          "outbox_backlog($1::timestamptz)",
	                          1, params, backlog_done, NULL);
}

/* STATUS=: what `systemctl status rollcalld` shows, from counters kept anyway for /metrics. */
static void send_status(bool with_watchdog)
{
	struct server_stats s = {0};
	struct sender_stats out = {0};
	if (watched->server)
		server_stats(watched->server, &s);
	if (watched->sender)
		sender_stats(watched->sender, &out);
	backlog_refresh();
	char outbox[96];
	if (backlog.undelivered < 0)
		snprintf(outbox, sizeof outbox, "outbox backlog unknown");
	else
		snprintf(outbox, sizeof outbox, "%lld notifications undelivered (oldest %lld s)",
		         backlog.undelivered, backlog.oldest_s);
	char text[384];
	snprintf(text, sizeof text,
	         "%sSTATUS=%s%d connections, %d alert streams, %d requests in flight, %d webhook "
	         "deliveries under way (%llu delivered, %llu failed), %s",
	         with_watchdog ? "WATCHDOG=1\n" : "", watched->draining ? "draining: " : "",
	         s.connections, s.streams, s.in_flight, out.in_flight, out.delivered, out.failed,
	         outbox);
	notify(text);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	send_status(*(bool *)arg);
}

bool service_start(struct daemon *d)
{
	static bool watchdog;
	const char *socket = getenv("NOTIFY_SOCKET");
	watched = d;
	enabled = socket && *socket;
	if (!enabled)
		return true;
	uint64_t watchdog_us = 0;
	int rc = sd_watchdog_enabled(0, &watchdog_us);
	if (rc < 0)
		log_warn("systemd: bad WATCHDOG_USEC (error %d); no watchdog pings", -rc);
	watchdog = rc > 0 && watchdog_us > 0;
	uint64_t interval_us = watchdog ? watchdog_us / 2 : STATUS_INTERVAL_US;
	if (interval_us == 0)
		interval_us = 1;
	tick = event_new(d->base, -1, EV_PERSIST, tick_cb, &watchdog);
	struct timeval tv = {.tv_sec = (time_t)(interval_us / 1000000),
	                     .tv_usec = (suseconds_t)(interval_us % 1000000)};
	if (!tick || event_add(tick, &tv) != 0) {
		log_error("systemd: cannot arm the watchdog timer");
		return false;
	}
	if (watchdog)
		log_info("systemd watchdog: pinging every %llu ms",
		         (unsigned long long)(interval_us / 1000));
	return true;
}

void service_stop(void)
{
	if (tick)
		event_free(tick);
	tick = NULL;
}

void service_ready(void)
{
	if (!enabled)
		return;
	notify("READY=1");
	send_status(false);
}

void service_reloading(void)
{
	struct timespec ts;
	if (!enabled || clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return;
	char text[96];
	snprintf(text, sizeof text, "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	             (unsigned long long)ts.tv_nsec / 1000);
	notify(text);
}

void service_reloaded(void)
{
	notify("READY=1");
}

void service_stopping(void)
{
	notify("STOPPING=1\nSTATUS=draining: finishing requests in flight");
}
