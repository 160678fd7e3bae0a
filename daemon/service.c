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

#include "daemon.h"
#include "log.h"
#include "sender.h"
#include "server.h"

#define STATUS_INTERVAL_US 10000000ULL /* STATUS= refresh without a watchdog */

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

/* STATUS=: what `systemctl status rollcalld` shows, from counters kept anyway for /metrics. */
static void send_status(bool with_watchdog)
{
	struct server_stats s = {0};
	struct sender_stats out = {0};
	if (watched->server)
		server_stats(watched->server, &s);
	if (watched->sender)
		sender_stats(watched->sender, &out);
	char text[256];
	snprintf(text, sizeof text,
	         "%sSTATUS=%s%d connections, %d alert streams, %d requests in flight, %d webhook "
	         "deliveries under way (%llu delivered, %llu failed)",
	         with_watchdog ? "WATCHDOG=1\n" : "", watched->draining ? "draining: " : "",
	         s.connections, s.streams, s.in_flight, out.in_flight, out.delivered, out.failed);
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
