/* Certificate and CRL expiry warnings (cert_expiry.h). The daily check runs on the daemon's one
 * clock: a one-minute monotonic tick and every move of the test clock look whether a day of
 * the clock has passed since the last check, so a test moving the clock by days sees the
 * warning at once and production sees it within a minute of the day's turn. Each instance
 * checks its own files: the check is not a due event of the database. */
#include "cert_expiry.h"

#include <event2/event.h>
#include <stdlib.h>

#include "admin_mail.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "log.h"

#define US_PER_DAY (INT64_C(86400) * 1000000)
#define TICK_S 60

struct cert_expiry {
	struct daemon *d;
	struct tls_expiry instants;
	struct event *tick;
	int64_t last_check_us; /* the clock's instant of the last check */
};

/* Logs one file's state: nothing while more than the warning period is left. */
static void check_one(struct daemon *d, const char *key, const char *path, const char *what,
                      int64_t not_after, int64_t now_us)
{
	if (not_after == 0)
		return;
	int64_t left_us = not_after * 1000000 - now_us;
	int64_t left_s = left_us >= 0 ? left_us / 1000000 : -((-left_us + 999999) / 1000000);
	char at[CLOCK_TEXT_SIZE];
	clock_format(not_after * 1000000, at);
	if (left_s <= 0)
		log_error("certificates: %s %s: %s passed at %s: clients are refused until it is "
		          "renewed and the daemon reloaded (systemctl reload rollcalld)",
		          key, path, what, at);
	else if (left_s < (int64_t)CERT_EXPIRY_WARN_DAYS * 86400)
		log_warn(
		    "certificates: %s %s: %s is %s, in %lld days %02lld:%02lld h (within %d days): "
		    "renew it and reload the daemon, or clients will be refused",
		    key, path, what, at, (long long)(left_s / 86400),
		    (long long)(left_s % 86400 / 3600), (long long)(left_s % 3600 / 60),
		    CERT_EXPIRY_WARN_DAYS);
	if (left_s < (int64_t)CERT_EXPIRY_WARN_DAYS * 86400)
		admin_mail_expiry(d, key, path, what, not_after, now_us);
}

static void check_now(struct cert_expiry *ce)
{
	const struct config *c = ce->d->config;
	int64_t now = clock_now_us();
	ce->last_check_us = now;
	check_one(ce->d, "tls_cert", c->tls_cert, "the daemon's certificate expiry",
	          ce->instants.cert_not_after, now);
	check_one(ce->d, "tls_ca", c->tls_ca, "the client CA's expiry", ce->instants.ca_not_after,
	          now);
	check_one(ce->d, "tls_crl", c->tls_crl ? c->tls_crl : "", "the CRL's next update",
	          ce->instants.crl_next_update, now);
}

/* Replaces the instants only when every file was read: a file that cannot be read now leaves
 * the instants of the files the running TLS context was built from. */
static void read_files(struct cert_expiry *ce)
{
	char err[512];
	struct tls_expiry fresh;
	if (tls_expiry_read(ce->d->config, &fresh, err, sizeof err))
		ce->instants = fresh;
	else
		log_error("certificates: cannot tell when the TLS files expire: %s", err);
}

/* A day of the clock since the last check, or the clock moved back before it (the test clock):
 * check again. */
static void maybe_check(void *arg)
{
	struct cert_expiry *ce = arg;
	int64_t now = clock_now_us();
	if (now - ce->last_check_us >= US_PER_DAY || now < ce->last_check_us)
		check_now(ce);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	maybe_check(arg);
}

struct cert_expiry *cert_expiry_new(struct daemon *d)
{
	struct cert_expiry *ce = calloc(1, sizeof *ce);
	if (!ce)
		return NULL;
	ce->d = d;
	ce->tick = event_new(d->base, -1, EV_PERSIST, tick_cb, ce);
	struct timeval tv = {TICK_S, 0};
	if (!ce->tick || event_add(ce->tick, &tv) != 0 || !clock_watch(maybe_check, ce)) {
		if (ce->tick)
			event_free(ce->tick);
		free(ce);
		return NULL;
	}
	read_files(ce);
	check_now(ce);
	return ce;
}

void cert_expiry_free(struct cert_expiry *ce)
{
	if (!ce)
		return;
	clock_unwatch(maybe_check, ce);
	event_free(ce->tick);
	free(ce);
}

void cert_expiry_reload(struct cert_expiry *ce)
{
	read_files(ce);
	check_now(ce);
}

const struct tls_expiry *cert_expiry_instants(const struct cert_expiry *ce)
{
	return &ce->instants;
}
