/* The outbox sender: delivers each due delivery row (schema/005_outbox.sql) as a signed HTTPS
 * POST to the authority's endpoint, asynchronously on the daemon's event loop.
 *
 * Work is claimed from PostgreSQL in batches (outbox_claim: SKIP LOCKED plus a lease in wall-clock
 * time, so several instances share the work and a dead instance's rows come back), each claimed
 * row becomes one `struct attempt` (DNS with evdns, non-blocking connect trying every address,
 * TLS with certificate and host name verification, one request, the response's status line and
 * headers), and the outcome is written back with outbox_delivered or outbox_failed, which also
 * schedules the retry on the daemon clock. The sender wakes up on NOTIFY rc_outbox / rc_clock,
 * on sender_kick (PUT /v1/clock), when an attempt finishes, and on one timer armed for the next
 * due instant, the next lease expiry, or a safety poll. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "sender.h"
#include "webhook_sign.h"

#define US_PER_S INT64_C(1000000)
#define SENDER_MAX_IN_FLIGHT 64 /* attempts at once in this instance */
#define SENDER_GROUP_CAP 8      /* attempts at once per centre and authority, all instances */
#define SENDER_CLAIM_BATCH 32   /* rows per claim statement */
#define SENDER_BACKOFF_BASE_US (5 * US_PER_S)
#define SENDER_LEASE_MARGIN_S 15   /* lease = attempt deadline + this, for the write-back */
#define SENDER_POLL_S 30           /* safety net for a NOTIFY lost in a reconnect */
#define SENDER_BLOCKED_POLL_S 2    /* rows due but held back (ordering, group cap, leases) */
#define SENDER_DB_RETRY_S 1        /* after the database refused a sender statement */
#define SENDER_START_RETRY_MS 200  /* start-up: until the pool's first connection is up */
#define SENDER_RECORD_TRIES 20     /* write-backs of one outcome before giving up */
#define SENDER_BUSY_RETRY_MS 100   /* write-back found its row locked: try again after */
#define SENDER_BUSY_TRIES 600      /* ... this many times (a minute) */
#define SENDER_ADDRESS_TIMEOUT_S 3 /* connect timeout per address when more remain */
#define SENDER_MAX_RESPONSE_HEAD 16384
#define SENDER_ERROR_SIZE 300

enum attempt_state {
	ATTEMPT_RESOLVING,  /* evdns_getaddrinfo in flight */
	ATTEMPT_CONNECTING, /* non-blocking TCP connect to one of the addresses */
	ATTEMPT_HANDSHAKE,  /* TLS handshake (the request waits in the output buffer) */
	ATTEMPT_WAITING,    /* request sent or being sent; reading the response head */
	ATTEMPT_RECORDING,  /* outcome known; being written to PostgreSQL */
	ATTEMPT_DONE,       /* recorded (or abandoned); freed once no DNS callback is owed */
};

static const char *const attempt_phase[] = {
    [ATTEMPT_RESOLVING] = "resolving the host name",
    [ATTEMPT_CONNECTING] = "connecting",
    [ATTEMPT_HANDSHAKE] = "in the TLS handshake",
    [ATTEMPT_WAITING] = "waiting for the response",
    [ATTEMPT_RECORDING] = "recording",
    [ATTEMPT_DONE] = "done",
};

struct sender;

/* One delivery attempt of one claimed row. Owned by the sender's list from claim to the end of
 * the write-back; the network resources (fd, connect event, bufferevent with its SSL) are owned
 * here and released by attempt_close_network as soon as the outcome is known. */
struct attempt {
	struct sender *sender;
	struct attempt *prev, *next;
	enum attempt_state state;

	char delivery_id[24]; /* the row's id, as text for the write-back */
	int attempts_before;  /* failed attempts already recorded */
	char *event_id, *type, *authority, *centre, *url, *secret, *payload;

	char *host;        /* from url, without IPv6 brackets */
	char *host_header; /* Host: as written in the URL */
	char *target;      /* path and query */
	int port;
	bool host_is_ip;

	struct evdns_getaddrinfo_request *dns_request;
	bool dns_pending; /* a getaddrinfo callback is still owed to us */
	struct evutil_addrinfo *addresses, *next_address;
	evutil_socket_t fd; /* during CONNECTING; -1 once the bufferevent owns it */
	struct event *connect_event;
	struct bufferevent *bev;
	bool handshake_done;
	struct event *deadline;
	struct event *record_retry;
	int record_tries; /* write-backs the database refused */
	int busy_tries;   /* write-backs that found the row locked */

	char *request; /* the whole HTTP request, head and body */
	size_t request_len;
	int status;      /* final response status, 0 until read */
	bool in_headers; /* status line read, reading header lines */
	size_t head_bytes;

	bool delivered;
	char error[SENDER_ERROR_SIZE];
	int64_t started_mono_us;
	int64_t finished_clock_us; /* the daemon clock when the outcome was known */
};

struct sender {
	struct daemon *d;
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ssl_ctx; /* each SSL holds its own reference: a reload may free ours */
	char *owner;      /* lease holder name: the config's instance_name */
	struct event *kick_event;
	struct event *timer;
	bool started;  /* our own stale leases have been released */
	bool claiming; /* a claim statement is in flight */
	bool waking;   /* a next-wake statement is in flight */
	bool kick_wanted;
	bool db_trouble_logged;
	int in_flight;
	struct attempt *attempts;
	unsigned long long delivered_total, failed_total;
};

static void sender_claim(struct sender *s);
static void attempt_connect_next(struct attempt *a);
static void attempt_record(struct attempt *a);

/* ---------------------------------------------------------------------------------------- */
/* TLS context                                                                              */

static SSL_CTX *sender_ssl_ctx_new(const struct config *config)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		log_error("sender: cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* libevent 2.1 reports an unclean TLS close as an error even with dirty shutdowns
	 * allowed; OpenSSL 3 can treat it as EOF instead (STYLE.md). */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx, 8);
	int loaded = config->webhook_ca
	                 ? SSL_CTX_load_verify_locations(ctx, config->webhook_ca, NULL)
	                 : SSL_CTX_set_default_verify_paths(ctx);
	if (loaded != 1) {
		char reason[256] = "unknown error";
		unsigned long e = ERR_get_error();
		if (e)
			ERR_error_string_n(e, reason, sizeof reason);
		ERR_clear_error();
		log_error("sender: cannot load %s%s: %s",
		          config->webhook_ca ? "webhook_ca " : "the system CA store",
		          config->webhook_ca ? config->webhook_ca : "", reason);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

bool sender_reload_ca(struct sender *s)
{
	if (!s)
		return false;
	SSL_CTX *fresh = sender_ssl_ctx_new(s->d->config);
	if (!fresh)
		return false; /* the running context stays */
	SSL_CTX_free(s->ssl_ctx);
	s->ssl_ctx = fresh;
	log_info("sender: webhook CA reloaded");
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */

static void format_instant(int64_t us, char out[CLOCK_TEXT_SIZE])
{
	clock_format(us, out);
}

/* Leases are measured on the wall clock even under the test clock: they bound real work (an
 * HTTP attempt takes real seconds), and a test clock that stands still must not keep a dead
 * instance's lease alive for ever, nor let a moved clock expire a live one. */
static int64_t wall_now_us(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static uint32_t random_u32(void)
{
	uint32_t value;
	if (RAND_bytes((unsigned char *)&value, sizeof value) != 1) {
		ERR_clear_error();
		value = (uint32_t)random();
	}
	return value;
}

static char *dup_or_null(const char *text)
{
	return text ? strdup(text) : NULL;
}

/* Keeps only printable ASCII from an endpoint's reason phrase, so staff never see control
 * characters in last_error. */
static void sanitize(char *text)
{
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

static void arm_timer_us(struct event *ev, int64_t us)
{
	if (!ev)
		return;
	if (us < 0)
		us = 0;
	struct timeval tv = {(time_t)(us / US_PER_S), (suseconds_t)(us % US_PER_S)};
	evtimer_add(ev, &tv);
}

/* ---------------------------------------------------------------------------------------- */
/* Attempt lifetime                                                                         */

static void attempt_free(struct attempt *a)
{
	if (a->deadline)
		event_free(a->deadline);
	if (a->record_retry)
		event_free(a->record_retry);
	if (a->addresses)
		evutil_freeaddrinfo(a->addresses);
	free(a->event_id);
	free(a->type);
	free(a->authority);
	free(a->centre);
	free(a->url);
	free(a->secret);
	free(a->payload);
	free(a->host);
	free(a->host_header);
	free(a->target);
	free(a->request);
	free(a);
}

/* Releases the socket, the TLS connection and the connect event. Safe to call twice. */
static void attempt_close_network(struct attempt *a)
{
	if (a->connect_event) {
		event_free(a->connect_event);
		a->connect_event = NULL;
	}
	if (a->fd >= 0) {
		evutil_closesocket(a->fd);
		a->fd = -1;
	}
	if (a->bev) {
		SSL *ssl = bufferevent_openssl_get_ssl(a->bev);
		/* Freeing an OpenSSL bufferevent does not send close_notify; say goodbye properly
		 * when the session is up. Non-blocking: a peer that does not read loses nothing. */
		if (ssl && a->handshake_done)
			(void)SSL_shutdown(ssl);
		ERR_clear_error();
		bufferevent_free(
		    a->bev); /* frees the SSL and closes the fd (BEV_OPT_CLOSE_ON_FREE) */
		a->bev = NULL;
	}
	if (a->dns_request) {
		/* The callback still comes, with EVUTIL_EAI_CANCEL; dns_pending keeps us alive. */
		evdns_getaddrinfo_cancel(a->dns_request);
		a->dns_request = NULL;
	}
}

static void attempt_unlink(struct attempt *a)
{
	struct sender *s = a->sender;
	if (a->prev)
		a->prev->next = a->next;
	else if (s->attempts == a)
		s->attempts = a->next;
	if (a->next)
		a->next->prev = a->prev;
	a->prev = a->next = NULL;
	s->in_flight--;
}

/* The end of an attempt's life in the sender: frees it now or when the DNS callback comes. */
static void attempt_done(struct attempt *a)
{
	struct sender *s = a->sender;
	a->state = ATTEMPT_DONE;
	attempt_unlink(a);
	if (!a->dns_pending)
		attempt_free(a);
	/* A slot is free, and rows held back behind this one (same absence and authority, or the
	 * group cap) may be sendable now. */
	sender_kick(s);
}

/* The outcome is known: close the network side and write it back. `delivered` with a 2xx. */
static void attempt_finish(struct attempt *a, bool delivered, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void attempt_finish(struct attempt *a, bool delivered, const char *fmt, ...)
{
	if (a->state >= ATTEMPT_RECORDING)
		return;
	/* Formatted aside first: callers may pass a->error itself as an argument. */
	char text[SENDER_ERROR_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	memcpy(a->error, text, sizeof a->error);
	sanitize(a->error);
	a->delivered = delivered;
	if (a->deadline)
		event_del(a->deadline);
	attempt_close_network(a);
	a->state = ATTEMPT_RECORDING;
	/* The outcome and the next attempt are dated when the attempt ended, not when the
	 * write-back gets through: a write-back delayed past a clock change must not push the
	 * retry later than the rule says. */
	a->finished_clock_us = clock_now_us();
	int64_t took_ms = (clock_monotonic_us() - a->started_mono_us) / 1000;
	if (delivered)
		log_info("sender: %s %s to %s of %s delivered (%s, %" PRId64 " ms)", a->type,
		         a->event_id, a->authority, a->centre, a->error, took_ms);
	else
		log_warn("sender: %s %s to %s of %s failed (attempt %d, %" PRId64 " ms): %s",
		         a->type, a->event_id, a->authority, a->centre, a->attempts_before + 1,
		         took_ms, a->error);
	attempt_record(a);
}

static void attempt_recorded(void *arg, const struct db_result *r)
{
	struct attempt *a = arg;
	struct sender *s = a->sender;
	if (r->status != DB_OK) {
		if (++a->record_tries < SENDER_RECORD_TRIES) {
			log_warn("sender: cannot record the outcome of %s yet (%s); retrying",
			         a->event_id, r->message);
			arm_timer_us(a->record_retry, SENDER_DB_RETRY_S * US_PER_S);
			return;
		}
		/* The lease runs out and the row is claimed again: the authority may get the
		 * same event id twice, which is what the stable id is for. */
		log_error("sender: giving up recording the outcome of %s: %s", a->event_id,
		          r->message);
	} else {
		const char *outcome = PQntuples(r->pg) == 1 ? PQgetvalue(r->pg, 0, 0) : "";
		if (strcmp(outcome, "busy") == 0 && ++a->busy_tries < SENDER_BUSY_TRIES) {
			/* The row is locked by a transaction of the timing engine: waiting for it
			 * would hold a pool connection, so look again in a moment. */
			log_debug("sender: the row of %s is busy; recording again shortly",
			          a->event_id);
			arm_timer_us(a->record_retry, SENDER_BUSY_RETRY_MS * INT64_C(1000));
			return;
		}
		if (strcmp(outcome, "busy") == 0)
			log_error(
			    "sender: the row of %s stayed locked; its lease will expire and it "
			    "is sent again with the same event id",
			    a->event_id);
		else if (strcmp(outcome, "lost") == 0)
			log_warn("sender: %s was taken over by another instance before its failure "
			         "was recorded; that instance's outcome counts",
			         a->event_id);
		if (a->delivered)
			s->delivered_total++;
		else
			s->failed_total++;
	}
	attempt_done(a);
}

static void attempt_record_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	attempt_record(arg);
}

static void attempt_record(struct attempt *a)
{
	struct sender *s = a->sender;
	char now[CLOCK_TEXT_SIZE];
	int64_t now_us = a->finished_clock_us;
	format_instant(now_us, now);
	bool queued;
	if (a->delivered) {
		const char *params[] = {a->delivery_id, s->owner, now, a->error};
		queued = db_query(s->d->db,
		                  "SELECT outbox_delivered($1::bigint, $2, $3::timestamptz, $4)", 4,
		                  params, attempt_recorded, a);
	} else {
		/* The retry is scheduled on the daemon clock: with the test clock, a test moves
		 * the clock past it to make it due. */
		int64_t max_us = (int64_t)s->d->config->webhook_backoff_max_s * US_PER_S;
		int64_t delay = webhook_backoff_us(a->attempts_before + 1, SENDER_BACKOFF_BASE_US,
		                                   max_us, random_u32());
		char next[CLOCK_TEXT_SIZE];
		format_instant(now_us + delay, next);
		const char *params[] = {a->delivery_id, s->owner, a->error, now, next};
		queued = db_query(s->d->db,
		                  "SELECT outbox_failed($1::bigint, $2, $3, $4::timestamptz, "
		                  "$5::timestamptz)",
		                  5, params, attempt_recorded, a);
	}
	if (!queued) {
		struct db_result full = {.status = DB_UNAVAILABLE,
		                         .message = "database queue full"};
		/* Through the same path as a refused statement, but never re-entering our caller
		 * synchronously in a loop: the retry is timed. */
		if (++a->record_tries < SENDER_RECORD_TRIES) {
			arm_timer_us(a->record_retry, SENDER_DB_RETRY_S * US_PER_S);
			return;
		}
		a->record_tries = SENDER_RECORD_TRIES;
		attempt_recorded(a, &full);
	}
}

static void attempt_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct attempt *a = arg;
	(void)fd, (void)what;
	attempt_finish(a, false, "no answer within %d s (%s)",
	               a->sender->d->config->webhook_timeout_s, attempt_phase[a->state]);
}

/* ---------------------------------------------------------------------------------------- */
/* HTTP response                                                                            */

/* Parses "HTTP/1.x NNN reason". */
static bool parse_status_line(const char *line, int *status, const char **reason)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
	    line[8] != ' ')
		return false;
	const char *p = line + 9;
	if (p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return false;
	if (p[3] != '\0' && p[3] != ' ')
		return false;
	*status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	*reason = p[3] == ' ' ? p + 4 : "";
	return true;
}

static void attempt_conclude(struct attempt *a, const char *reason)
{
	char phrase[80];
	snprintf(phrase, sizeof phrase, "%s", reason ? reason : "");
	if (a->status >= 200 && a->status <= 299)
		attempt_finish(a, true, "HTTP %d", a->status);
	else
		attempt_finish(a, false, "HTTP %d%s%s", a->status, phrase[0] ? " " : "", phrase);
}

static void attempt_read_cb(struct bufferevent *bev, void *arg)
{
	struct attempt *a = arg;
	struct evbuffer *input = bufferevent_get_input(bev);
	char *line;
	size_t len;
	while (a->state == ATTEMPT_WAITING || a->state == ATTEMPT_HANDSHAKE) {
		line = evbuffer_readln(input, &len, EVBUFFER_EOL_CRLF);
		if (!line) {
			if (a->head_bytes + evbuffer_get_length(input) > SENDER_MAX_RESPONSE_HEAD)
				attempt_finish(a, false, "response head longer than %d bytes",
				               SENDER_MAX_RESPONSE_HEAD);
			return;
		}
		a->head_bytes += len + 2;
		if (a->head_bytes > SENDER_MAX_RESPONSE_HEAD) {
			free(line);
			attempt_finish(a, false, "response head longer than %d bytes",
			               SENDER_MAX_RESPONSE_HEAD);
			return;
		}
		if (!a->in_headers) {
			int status;
			const char *reason;
			if (!parse_status_line(line, &status, &reason)) {
				char shown[64];
				snprintf(shown, sizeof shown, "%s", line);
				free(line);
				attempt_finish(a, false, "not an HTTP response: \"%s\"", shown);
				return;
			}
			a->in_headers = true;
			/* An interim 1xx is followed by its own headers and then the real answer.
			 */
			a->status = status;
			if (status >= 200) {
				char phrase[80];
				snprintf(phrase, sizeof phrase, "%s", reason);
				free(line);
				/* The status line is the endpoint's verdict; the headers and body
				 * add nothing we act on, so the attempt ends here. */
				attempt_conclude(a, phrase);
				return;
			}
		} else if (len == 0) {
			a->in_headers = false; /* end of an interim response's headers */
			a->status = 0;
		}
		free(line);
	}
}

static void attempt_describe_tls_error(struct attempt *a, char *out, size_t size)
{
	SSL *ssl = a->bev ? bufferevent_openssl_get_ssl(a->bev) : NULL;
	long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = a->bev ? bufferevent_get_openssl_error(a->bev) : 0;
	if (!a->handshake_done && verify != X509_V_OK) {
		snprintf(out, size, "TLS: the endpoint's certificate was refused: %s",
		         X509_verify_cert_error_string(verify));
	} else if (e) {
		char reason[200];
		ERR_error_string_n(e, reason, sizeof reason);
		snprintf(out, size, "TLS %s: %s", a->handshake_done ? "error" : "handshake failed",
		         reason);
	} else {
		int err = EVUTIL_SOCKET_ERROR();
		snprintf(out, size, "connection error %s: %s", attempt_phase[a->state],
		         err ? evutil_socket_error_to_string(err) : "closed");
	}
	ERR_clear_error();
}

static void attempt_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct attempt *a = arg;
	(void)bev;
	if (events & BEV_EVENT_CONNECTED) {
		a->handshake_done = true;
		a->state = ATTEMPT_WAITING;
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	/* Whatever arrived before the close may hold the answer. */
	attempt_read_cb(bev, a);
	if (a->state >= ATTEMPT_RECORDING)
		return;
	if (events & BEV_EVENT_ERROR) {
		char error[SENDER_ERROR_SIZE];
		attempt_describe_tls_error(a, error, sizeof error);
		attempt_finish(a, false, "%s", error);
		return;
	}
	attempt_finish(a, false, "the endpoint closed the connection %s", attempt_phase[a->state]);
}

/* ---------------------------------------------------------------------------------------- */
/* Connecting                                                                               */

static void attempt_start_tls(struct attempt *a)
{
	struct sender *s = a->sender;
	SSL *ssl = SSL_new(s->ssl_ctx);
	if (!ssl) {
		ERR_clear_error();
		attempt_finish(a, false, "cannot create a TLS session");
		return;
	}
	/* Verify the certificate names the host we dialled; SNI only for names, never for IP
	 * literals (RFC 6066). */
	bool named =
	    a->host_is_ip
	        ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), a->host) == 1
	        : SSL_set1_host(ssl, a->host) == 1 && SSL_set_tlsext_host_name(ssl, a->host) == 1;
	if (!named) {
		SSL_free(ssl);
		ERR_clear_error();
		attempt_finish(a, false, "cannot set up host name verification for %s", a->host);
		return;
	}
	evutil_socket_t fd = a->fd;
	struct bufferevent *bev =
	    bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
	                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		/* libevent 2.1 frees the SSL and closes the fd on its later failure paths but not
		 * on an early allocation failure. On this single-threaded loop nothing can reuse
		 * the descriptor number in between, so whether it is still open tells which. */
		if (fcntl(fd, F_GETFD) != -1) {
			SSL_free(ssl);
		} else {
			a->fd = -1;
		}
		attempt_finish(a, false, "cannot create a TLS connection");
		return;
	}
	a->fd = -1; /* owned by the bufferevent now */
	a->bev = bev;
	a->state = ATTEMPT_HANDSHAKE;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, attempt_read_cb, NULL, attempt_event_cb, a);
	/* Queued now, encrypted and sent once the handshake completes. */
	if (bufferevent_write(bev, a->request, a->request_len) != 0 ||
	    bufferevent_enable(bev, EV_READ | EV_WRITE) != 0)
		attempt_finish(a, false, "cannot queue the request");
}

static void attempt_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct attempt *a = arg;
	event_free(a->connect_event);
	a->connect_event = NULL;
	if (what & EV_TIMEOUT) {
		snprintf(a->error, sizeof a->error, "connect to %s port %d timed out", a->host,
		         a->port);
		evutil_closesocket(a->fd);
		a->fd = -1;
		attempt_connect_next(a);
		return;
	}
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		snprintf(a->error, sizeof a->error, "cannot connect to %s port %d: %s", a->host,
		         a->port, strerror(err));
		evutil_closesocket(a->fd);
		a->fd = -1;
		attempt_connect_next(a);
		return;
	}
	attempt_start_tls(a);
}

/* Tries the next resolved address; with none left, the attempt fails with the last error. */
static void attempt_connect_next(struct attempt *a)
{
	struct sender *s = a->sender;
	while (a->next_address) {
		struct evutil_addrinfo *ai = a->next_address;
		a->next_address = ai->ai_next;
		evutil_socket_t fd = socket(
		    ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			snprintf(a->error, sizeof a->error, "cannot create a socket: %s",
			         strerror(errno));
			continue;
		}
		int one = 1;
		/* Without it the small request waits for a delayed ACK (STYLE.md). */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		a->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			attempt_start_tls(a);
			return;
		}
		if (errno != EINPROGRESS) {
			snprintf(a->error, sizeof a->error, "cannot connect to %s port %d: %s",
			         a->host, a->port, strerror(errno));
			evutil_closesocket(fd);
			a->fd = -1;
			continue;
		}
		a->state = ATTEMPT_CONNECTING;
		a->connect_event = event_new(s->base, fd, EV_WRITE, attempt_connect_cb, a);
		/* With more addresses to try, one that swallows SYNs must not use up the whole
		 * deadline; the last one has what remains of it. */
		struct timeval per_address = {SENDER_ADDRESS_TIMEOUT_S, 0};
		if (!a->connect_event ||
		    event_add(a->connect_event, a->next_address ? &per_address : NULL) != 0) {
			attempt_finish(a, false, "cannot watch the connection");
			return;
		}
		return;
	}
	attempt_finish(a, false, "%s", a->error[0] ? a->error : "no address to connect to");
}

static void attempt_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct attempt *a = arg;
	a->dns_pending = false;
	a->dns_request = NULL;
	if (a->state != ATTEMPT_RESOLVING) {
		/* Finished while resolving (deadline or shutdown): only the memory is ours. */
		if (res)
			evutil_freeaddrinfo(res);
		if (a->state == ATTEMPT_DONE)
			attempt_free(a);
		return;
	}
	if (result != 0 || !res) {
		if (res)
			evutil_freeaddrinfo(res);
		attempt_finish(a, false, "cannot resolve %s: %s", a->host,
		               evutil_gai_strerror(result));
		return;
	}
	a->addresses = res;
	a->next_address = res;
	attempt_connect_next(a);
}

/* ---------------------------------------------------------------------------------------- */
/* Preparing an attempt                                                                     */

/* Splits the endpoint URL into host, port and request target. */
static bool attempt_parse_url(struct attempt *a)
{
	bool ok = false;
	struct evhttp_uri *uri = evhttp_uri_parse_with_flags(a->url, 0);
	if (!uri)
		return false;
	const char *scheme = evhttp_uri_get_scheme(uri);
	const char *host = evhttp_uri_get_host(uri);
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	int port = evhttp_uri_get_port(uri);
	if (!scheme || strcasecmp(scheme, "https") != 0 || !host || !*host ||
	    evhttp_uri_get_userinfo(uri))
		goto done;
	size_t host_len = strlen(host);
	if (host[0] == '[' && host_len > 2 && host[host_len - 1] == ']')
		a->host = strndup(host + 1, host_len - 2);
	else
		a->host = strdup(host);
	a->port = port > 0 ? port : 443;
	if (port > 0) {
		size_t size = host_len + 8;
		a->host_header = malloc(size);
		if (a->host_header)
			snprintf(a->host_header, size, "%s:%d", host, port);
	} else {
		a->host_header = strdup(host);
	}
	if (!path || !*path)
		path = "/";
	size_t target_size = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
	a->target = malloc(target_size);
	if (!a->host || !a->host_header || !a->target)
		goto done;
	snprintf(a->target, target_size, "%s%s%s", path, query ? "?" : "", query ? query : "");
	struct in6_addr any;
	a->host_is_ip = evutil_inet_pton(AF_INET, a->host, &any) == 1 ||
	                evutil_inet_pton(AF_INET6, a->host, &any) == 1;
	ok = true;
done:
	evhttp_uri_free(uri);
	return ok;
}

/* Signs and writes the whole request. The body is assembled from the row, so every retry sends
 * the same bytes; the timestamp is this attempt's wall-clock second, which is what receivers
 * compare with their own clock to refuse replays. */
static bool attempt_build_request(struct attempt *a, char *error, size_t error_size)
{
	unsigned char key[WEBHOOK_KEY_MAX];
	size_t key_len = 0;
	char signature[WEBHOOK_SIGNATURE_SIZE];
	bool ok = false;
	char *body = NULL;

	if (!webhook_secret_decode(a->secret, key, &key_len)) {
		snprintf(error, error_size, "the %s secret is not of the form whsec_<base64>",
		         a->authority);
		goto done;
	}
	body = webhook_body(a->type, a->event_id, a->payload);
	if (!body) {
		snprintf(error, error_size, "the stored payload is not a JSON object");
		goto done;
	}
	int64_t timestamp = wall_now_us() / US_PER_S;
	size_t body_len = strlen(body);
	if (!webhook_sign(key, key_len, a->event_id, timestamp, body, body_len, signature)) {
		snprintf(error, error_size, "cannot compute the signature");
		goto done;
	}
	struct evbuffer *buf = evbuffer_new();
	if (!buf) {
		snprintf(error, error_size, "out of memory");
		goto done;
	}
	int written = evbuffer_add_printf(buf,
	                                  "POST %s HTTP/1.1\r\n"
	                                  "Host: %s\r\n"
	                                  "User-Agent: rollcalld/" ROLLCALL_VERSION_TEXT "\r\n"
	                                  "Content-Type: application/json\r\n"
	                                  "Content-Length: %zu\r\n"
	                                  "webhook-id: %s\r\n"
	                                  "webhook-timestamp: %" PRId64 "\r\n"
	                                  "webhook-signature: %s\r\n"
	                                  "Connection: close\r\n"
	                                  "\r\n",
	                                  a->target, a->host_header, body_len, a->event_id,
	                                  timestamp, signature);
	if (written < 0 || evbuffer_add(buf, body, body_len) != 0) {
		evbuffer_free(buf);
		snprintf(error, error_size, "out of memory");
		goto done;
	}
	a->request_len = evbuffer_get_length(buf);
	a->request = malloc(a->request_len);
	if (a->request)
		evbuffer_copyout(buf, a->request, a->request_len);
	evbuffer_free(buf);
	if (!a->request) {
		snprintf(error, error_size, "out of memory");
		goto done;
	}
	ok = true;
done:
	OPENSSL_cleanse(key, sizeof key);
	free(body);
	return ok;
}

static void attempt_start(struct attempt *a)
{
	struct sender *s = a->sender;
	char error[SENDER_ERROR_SIZE];
	a->started_mono_us = clock_monotonic_us();
	a->deadline = evtimer_new(s->base, attempt_deadline_cb, a);
	a->record_retry = evtimer_new(s->base, attempt_record_retry_cb, a);
	if (!a->deadline || !a->record_retry) {
		attempt_finish(a, false, "out of memory");
		return;
	}
	if (!a->url) {
		attempt_finish(a, false, "no %s endpoint is configured for centre %s", a->authority,
		               a->centre);
		return;
	}
	if (!attempt_parse_url(a)) {
		attempt_finish(a, false, "the %s endpoint is not an https URL", a->authority);
		return;
	}
	if (!attempt_build_request(a, error, sizeof error)) {
		attempt_finish(a, false, "%s", error);
		return;
	}
	struct timeval deadline = {s->d->config->webhook_timeout_s, 0};
	evtimer_add(a->deadline, &deadline);

	struct evutil_addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_protocol = IPPROTO_TCP,
	    .ai_flags = EVUTIL_AI_ADDRCONFIG,
	};
	char port[8];
	snprintf(port, sizeof port, "%d", a->port);
	a->state = ATTEMPT_RESOLVING;
	a->dns_pending = true;
	/* The callback may run before evdns_getaddrinfo returns (literal addresses, hosts
	 * file); then it returns NULL and the request handle must not be kept. */
	struct evdns_getaddrinfo_request *request =
	    evdns_getaddrinfo(s->dns, a->host, port, &hints, attempt_resolved_cb, a);
	if (a->dns_pending)
		a->dns_request = request;
}

/* ---------------------------------------------------------------------------------------- */
/* Claiming work                                                                            */

static void sender_wake_result(void *arg, const struct db_result *r)
{
	struct sender *s = arg;
	s->waking = false;
	int64_t delay = SENDER_POLL_S * US_PER_S;
	if (r->status == DB_OK && PQntuples(r->pg) == 1) {
		int64_t now = clock_now_us(), wall = wall_now_us(), at;
		const char *next_due = PQgetisnull(r->pg, 0, 0) ? NULL : PQgetvalue(r->pg, 0, 0);
		const char *next_lease = PQgetisnull(r->pg, 0, 1) ? NULL : PQgetvalue(r->pg, 0, 1);
		if (next_due && clock_parse(next_due, &at)) {
			if (at <= now) {
				/* Due but held back by an earlier notification of the same absence,
				 * the group cap, or another instance's lease: look again soon. */
				delay = SENDER_BLOCKED_POLL_S * US_PER_S;
			} else if (!clock_is_test()) {
				if (at - now < delay)
					delay = at - now;
			}
			/* With the test clock a future instant only comes with PUT /v1/clock,
			 * which kicks us. */
		}
		if (next_lease && clock_parse(next_lease, &at)) {
			/* A hair after the expiry, so the claim sees it expired. */
			if (at - wall + 10000 < delay)
				delay = at - wall + 10000;
		}
	} else if (r->status != DB_OK) {
		delay = SENDER_DB_RETRY_S * US_PER_S;
	}
	arm_timer_us(s->timer, delay);
}

static void sender_wake_query(struct sender *s)
{
	if (s->waking)
		return;
	char now[CLOCK_TEXT_SIZE], wall[CLOCK_TEXT_SIZE];
	format_instant(clock_now_us(), now);
	format_instant(wall_now_us(), wall);
	const char *params[] = {now, wall};
	if (db_query(s->d->db,
	             "SELECT next_due, next_lease FROM outbox_next_wake($1::timestamptz, "
	             "$2::timestamptz)",
	             2, params, sender_wake_result, s))
		s->waking = true;
	else
		arm_timer_us(s->timer, SENDER_DB_RETRY_S * US_PER_S);
}

static struct attempt *attempt_from_row(struct sender *s, PGresult *pg, int row)
{
	struct attempt *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->sender = s;
	a->fd = -1;
	snprintf(a->delivery_id, sizeof a->delivery_id, "%s", PQgetvalue(pg, row, 0));
	a->event_id = strdup(PQgetvalue(pg, row, 1));
	a->type = strdup(PQgetvalue(pg, row, 2));
	a->authority = strdup(PQgetvalue(pg, row, 3));
	a->centre = strdup(PQgetvalue(pg, row, 4));
	a->url = PQgetisnull(pg, row, 5) ? NULL : dup_or_null(PQgetvalue(pg, row, 5));
	a->secret = PQgetisnull(pg, row, 6) ? NULL : dup_or_null(PQgetvalue(pg, row, 6));
	a->payload = strdup(PQgetvalue(pg, row, 7));
	a->attempts_before = atoi(PQgetvalue(pg, row, 8));
	if (!a->event_id || !a->type || !a->authority || !a->centre || !a->payload ||
	    (!PQgetisnull(pg, row, 5) && !a->url) || (!PQgetisnull(pg, row, 6) && !a->secret)) {
		attempt_free(a);
		return NULL;
	}
	return a;
}

static void sender_claimed(void *arg, const struct db_result *r)
{
	struct sender *s = arg;
	s->claiming = false;
	if (r->status != DB_OK) {
		if (!s->db_trouble_logged)
			log_warn("sender: cannot claim deliveries (%s); retrying", r->message);
		s->db_trouble_logged = true;
		arm_timer_us(s->timer, SENDER_DB_RETRY_S * US_PER_S);
		return;
	}
	if (s->db_trouble_logged)
		log_info("sender: claiming deliveries again");
	s->db_trouble_logged = false;
	int rows = PQntuples(r->pg);
	for (int i = 0; i < rows; i++) {
		struct attempt *a = attempt_from_row(s, r->pg, i);
		if (!a) {
			/* Its lease expires and it is claimed again. */
			log_error("sender: out of memory for a claimed delivery");
			continue;
		}
		a->next = s->attempts;
		if (s->attempts)
			s->attempts->prev = a;
		s->attempts = a;
		s->in_flight++;
		attempt_start(a);
	}
	/* A full batch means more may be waiting; otherwise find out when to look again. */
	if (rows >= SENDER_CLAIM_BATCH || s->kick_wanted)
		sender_kick(s);
	else
		sender_wake_query(s);
}

static void sender_claim(struct sender *s)
{
	if (!s->started || s->claiming || s->d->draining)
		return;
	int room = SENDER_MAX_IN_FLIGHT - s->in_flight;
	if (room <= 0)
		return; /* kick_wanted stays set: the next finished attempt kicks */
	if (room > SENDER_CLAIM_BATCH)
		room = SENDER_CLAIM_BATCH;
	s->kick_wanted = false;
	char now[CLOCK_TEXT_SIZE], wall[CLOCK_TEXT_SIZE], lease[CLOCK_TEXT_SIZE];
	char limit[16], cap[16];
	int64_t wall_us = wall_now_us();
	format_instant(clock_now_us(), now);
	format_instant(wall_us, wall);
	format_instant(
	    wall_us + ((int64_t)s->d->config->webhook_timeout_s + SENDER_LEASE_MARGIN_S) * US_PER_S,
	    lease);
	snprintf(limit, sizeof limit, "%d", room);
	snprintf(cap, sizeof cap, "%d", SENDER_GROUP_CAP);
	const char *params[] = {s->owner, now, wall, lease, limit, cap};
	if (!db_query(
	        s->d->db,
	        "SELECT id, event_id, type, authority, centre, url, secret, payload, attempts "
	        "FROM outbox_claim($1, $2::timestamptz, $3::timestamptz, $4::timestamptz, "
	        "$5::int, $6::int)",
	        6, params, sender_claimed, s)) {
		s->kick_wanted = true;
		arm_timer_us(s->timer, SENDER_DB_RETRY_S * US_PER_S);
		return;
	}
	s->claiming = true;
}

static void sender_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	sender_claim(arg);
}

static void sender_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sender *s = arg;
	(void)fd, (void)what;
	if (!s->started)
		return; /* the release retry re-arms through sender_released */
	sender_kick(s);
}

void sender_kick(struct sender *s)
{
	if (!s)
		return;
	s->kick_wanted = true;
	/* Deferred to the loop: callers are NOTIFY callbacks, request handlers and attempt
	 * completions, and several kicks in one turn make one claim. */
	struct timeval zero = {0, 0};
	evtimer_add(s->kick_event, &zero);
}

static void sender_notified(void *arg, const char *channel, const char *payload)
{
	(void)channel, (void)payload;
	/* payload NULL: the listener reconnected and may have missed notifications. */
	sender_kick(arg);
}

static void sender_release(struct sender *s);

static void sender_release_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	sender_release(arg);
}

static void sender_released(void *arg, const struct db_result *r)
{
	struct sender *s = arg;
	if (r->status != DB_OK) {
		log_debug("sender: waiting for the database (%s)", r->message);
		struct timeval tv = {0, SENDER_START_RETRY_MS * 1000};
		if (event_base_once(s->base, -1, EV_TIMEOUT, sender_release_retry_cb, s, &tv) != 0)
			log_error("sender: cannot schedule a retry");
		return;
	}
	const char *released = PQntuples(r->pg) == 1 ? PQgetvalue(r->pg, 0, 0) : "0";
	if (strcmp(released, "0") != 0)
		log_warn("sender: took back %s deliveries this instance (%s) was sending when it "
		         "stopped; they are sent again with the same event ids",
		         released, s->owner);
	s->started = true;
	sender_kick(s);
}

/* At start: rows leased under our own name belong to a previous run of this instance that
 * died mid-delivery (kill -9, power loss). Nobody else can be sending them, so they are taken
 * back at once instead of waiting for the lease to expire. */
static void sender_release(struct sender *s)
{
	const char *params[] = {s->owner};
	if (!db_query(s->d->db, "SELECT outbox_release($1)", 1, params, sender_released, s)) {
		struct timeval tv = {0, SENDER_START_RETRY_MS * 1000};
		if (event_base_once(s->base, -1, EV_TIMEOUT, sender_release_retry_cb, s, &tv) != 0)
			log_error("sender: cannot schedule a retry");
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Life cycle                                                                               */

struct sender *sender_new(struct daemon *d)
{
	struct sender *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->d = d;
	s->base = d->base;
	if (d->config->instance_name && *d->config->instance_name) {
		s->owner = strdup(d->config->instance_name);
	} else {
		char host[256] = "rollcalld";
		(void)gethostname(host, sizeof host - 1);
		host[sizeof host - 1] = '\0';
		size_t size = strlen(host) + 16;
		s->owner = malloc(size);
		if (s->owner)
			snprintf(s->owner, size, "%s:%d", host, (int)getpid());
	}
	if (!s->owner)
		goto failed;
	s->ssl_ctx = sender_ssl_ctx_new(d->config);
	if (!s->ssl_ctx)
		goto failed;
	/* Name servers from /etc/resolv.conf and names from /etc/hosts; without a resolv.conf
	 * (containers) literal addresses and the hosts file still work. */
	s->dns = evdns_base_new(s->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	                                     EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!s->dns) {
		s->dns = evdns_base_new(s->base, 0);
		if (s->dns && evdns_base_load_hosts(s->dns, NULL) != 0)
			log_warn("sender: cannot read /etc/hosts");
		log_warn("sender: no usable name servers; endpoints must be addresses or in "
		         "/etc/hosts");
	}
	s->kick_event = evtimer_new(s->base, sender_kick_cb, s);
	s->timer = evtimer_new(s->base, sender_timer_cb, s);
	if (!s->dns || !s->kick_event || !s->timer)
		goto failed;
	if (!db_listen(d->db, "rc_outbox", sender_notified, s) ||
	    !db_listen(d->db, "rc_clock", sender_notified, s))
		goto failed;
	sender_release(s);
	return s;
failed:
	log_error("sender: cannot start");
	sender_free(s);
	return NULL;
}

void sender_free(struct sender *s)
{
	if (!s)
		return;
	/* Attempts cut short here keep their lease until it expires (or this instance name
	 * starts again): the authority may then see the same event id twice, never a gap. */
	struct attempt *a = s->attempts;
	while (a) {
		struct attempt *next = a->next;
		a->state = ATTEMPT_DONE;
		/* evdns_base_free below drops the request unanswered: no cancel, no callback. */
		a->dns_request = NULL;
		a->dns_pending = false;
		attempt_close_network(a);
		attempt_free(a);
		a = next;
	}
	s->attempts = NULL;
	if (s->dns)
		evdns_base_free(s->dns, 0);
	if (s->kick_event)
		event_free(s->kick_event);
	if (s->timer)
		event_free(s->timer);
	SSL_CTX_free(s->ssl_ctx);
	free(s->owner);
	free(s);
}

void sender_stats(const struct sender *s, struct sender_stats *out)
{
	*out = (struct sender_stats){0};
	if (!s)
		return;
	out->delivered = s->delivered_total;
	out->failed = s->failed_total;
	out->in_flight = s->in_flight;
}
