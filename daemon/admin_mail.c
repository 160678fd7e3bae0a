/* The admins' expiry e-mails (admin_mail.h). Each notice is claimed in PostgreSQL before it is
 * sent (admin_notice_claim, schema/code/admin_notices.sql) and its outcome recorded after, so
 * that instances sharing a certificate send it once and a restart does not send it again; the
 * Message-ID comes from the notice and day, so a retry is recognisable. The message goes
 * through mail_transfer.c on the same curl loop as the on-call e-mails. */
#include "admin_mail.h"

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "mail_transfer.h"

#define RETRY_S 600

/* One notice being claimed, sent or waiting to be retried; on the live list until done. */
struct notice {
	struct notice *prev, *next;
	struct daemon *d;
	char name[64];     /* admin_notices.notice: "tls_crl:1765000000" */
	char day[16];      /* the daemon clock's UTC day */
	char event_id[40]; /* evt_ + 32 hex */
	char *payload;     /* {"subject","text"} as mail_transfer takes it */
	struct mail_transfer *mail;
	struct event *retry;
};

static struct notice *live;

static void notice_free(struct notice *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		live = n->next;
	if (n->next)
		n->next->prev = n->prev;
	if (n->mail)
		mail_transfer_cancel(n->mail);
	if (n->retry)
		event_free(n->retry);
	free(n->payload);
	free(n);
}

static void claim(struct notice *n);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	claim(arg);
}

static void recorded(void *arg, const struct db_result *r)
{
	(void)arg;
	if (r->status != DB_OK)
		log_error("admin mail: cannot record an outcome: %s", r->message);
}

/* Records the outcome (sent, or failed and free to claim again); nothing waits for it. */
static void record(struct notice *n, const char *error)
{
	const char *params[3] = {n->name, n->day, error};
	if (!db_query(n->d->db, "SELECT admin_notice_done($1, $2::date, $3)", 3, params, recorded,
	              NULL))
		log_error("admin mail: cannot record the outcome of %s of %s", n->name, n->day);
}

static void failed(struct notice *n, const char *error)
{
	log_error("admin mail: %s to %s failed: %s; trying again in %d minutes", n->name,
	          n->d->config->admin_email, error, RETRY_S / 60);
	record(n, error);
	struct timeval tv = {RETRY_S, 0};
	if (!n->retry)
		n->retry = evtimer_new(n->d->base, retry_cb, n);
	if (!n->retry || evtimer_add(n->retry, &tv) != 0) {
		log_error("admin mail: cannot arm the retry of %s", n->name);
		notice_free(n);
	}
}

static void sent(void *arg, const struct webhook_outcome *outcome)
{
	struct notice *n = arg;
	n->mail = NULL;
	if (!outcome->delivered) {
		failed(n, outcome->text);
		return;
	}
	log_info("admin mail: %s of %s sent to %s (%s)", n->name, n->day, n->d->config->admin_email,
	         outcome->text);
	record(n, NULL);
	notice_free(n);
}

static void claimed(void *arg, const struct db_result *r)
{
	struct notice *n = arg;
	if (r->status != DB_OK || PQntuples(r->pg) != 1) {
		failed(n, r->status == DB_OK ? "no answer to the claim" : r->message);
		return;
	}
	if (strcmp(PQgetvalue(r->pg, 0, 0), "t") != 0) {
		log_debug("admin mail: %s of %s sent already or under way elsewhere", n->name,
		          n->day);
		notice_free(n);
		return;
	}
	const struct config *c = n->d->config;
	char from[320], error[256];
	mail_from_address(c->smtp_from, from, sizeof from);
	const struct mail_post post = {
	    .relay = c->smtp_relay,
	    .from = from,
	    .ca_file = c->smtp_ca,
	    .to = c->admin_email,
	    .event_id = n->event_id,
	    .type = "admin.certificate_expiry",
	    .payload = n->payload,
	    .timeout_s = c->webhook_timeout_s,
	};
	n->mail = n->d->curl ? mail_transfer_start(n->d->curl, &post, sent, n, error, sizeof error)
	                     : NULL;
	if (!n->d->curl)
		snprintf(error, sizeof error, "no curl loop");
	if (!n->mail)
		failed(n, error);
}

static void claim(struct notice *n)
{
	const char *params[3] = {n->name, n->day, n->event_id};
	if (!db_query(n->d->db, "SELECT admin_notice_claim($1, $2::date, $3)", 3, params, claimed,
	              n))
		failed(n, "the database queue is full");
}

/* evt_ and the first 16 bytes of SHA-256 over notice and day, in hex: stable across retries. */
static bool event_id_of(const char *name, const char *day, char out[40])
{
	char text[96];
	int len = snprintf(text, sizeof text, "%s|%s", name, day);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	if (len < 0 || (size_t)len >= sizeof text ||
	    !EVP_Digest(text, (size_t)len, digest, &digest_len, EVP_sha256(), NULL) ||
	    digest_len < 16)
		return false;
	memcpy(out, "evt_", 4);
	for (int i = 0; i < 16; i++)
		snprintf(out + 4 + 2 * i, 3, "%02x", digest[i]);
	return true;
}

static char *payload_of(const char *key, const char *path, const char *what, int64_t not_after_s,
                        int64_t now_us)
{
	char host[256] = "localhost";
	(void)gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	char at[CLOCK_TEXT_SIZE];
	clock_format(not_after_s * 1000000, at);
	int64_t left_s = not_after_s - now_us / 1000000;
	char subject[512], text[2048];
	if (left_s <= 0)
		snprintf(subject, sizeof subject,
		         "rollcall on %s: %s has passed (%s): clients are refused", host, what,
		         key);
	else
		snprintf(subject, sizeof subject, "rollcall on %s: %s in %lld days (%s)", host,
		         what, (long long)((left_s + 86399) / 86400), key);
	snprintf(text, sizeof text,
	         "The daemon rollcalld on %s reads %s = %s.\n"
	         "%s: %s.\n"
	         "\n"
	         "Once it passes, %s.\n"
	         "\n"
	         "Renew it with rollcall-ca (docs/operations.md, \"Certificates and accounts\"):\n"
	         "  %s\n"
	         "then install it and run: systemctl reload rollcalld\n"
	         "\n"
	         "This message is sent once a day until the file is renewed.\n",
	         host, key, path, what, at,
	         strcmp(key, "tls_cert") == 0 ? "every terminal refuses the daemon"
	                                      : "the daemon refuses every terminal",
	         strcmp(key, "tls_crl") == 0 ? "rollcall-ca crl"
	         : strcmp(key, "tls_ca") == 0
	             ? "rollcall-ca init (a new CA: every certificate again)"
	             : "rollcall-ca init --server-name HOST");
	json_t *doc = json_pack("{s:s, s:s}", "subject", subject, "text", text);
	char *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return out;
}

void admin_mail_expiry(struct daemon *d, const char *key, const char *path, const char *what,
                       int64_t not_after_s, int64_t now_us)
{
	if (!d->config->admin_email || !d->db)
		return; /* the curl loop may not exist yet at the first check: it does by the claim
		         */
	time_t now_s = (time_t)(now_us / 1000000);
	struct tm tm;
	char name[64], day[16];
	if (!gmtime_r(&now_s, &tm) || strftime(day, sizeof day, "%Y-%m-%d", &tm) == 0)
		return;
	snprintf(name, sizeof name, "%s:%lld", key, (long long)not_after_s);
	for (struct notice *n = live; n; n = n->next) {
		if (strcmp(n->name, name) != 0 || strcmp(n->day, day) != 0)
			continue;
		/* Waiting for its retry: this check is the retry. Else it is under way already. */
		if (n->retry && evtimer_pending(n->retry, NULL)) {
			evtimer_del(n->retry);
			claim(n);
		}
		return;
	}
	struct notice *n = calloc(1, sizeof *n);
	if (!n) {
		log_error("admin mail: out of memory for %s", name);
		return;
	}
	n->d = d;
	snprintf(n->name, sizeof n->name, "%s", name);
	snprintf(n->day, sizeof n->day, "%s", day);
	n->payload = payload_of(key, path, what, not_after_s, now_us);
	if (!n->payload || !event_id_of(n->name, n->day, n->event_id)) {
		log_error("admin mail: cannot make the message for %s", name);
		free(n->payload);
		free(n);
		return;
	}
	n->next = live;
	if (live)
		live->prev = n;
	live = n;
	claim(n);
}

void admin_mail_shutdown(void)
{
	while (live)
		notice_free(live);
}
