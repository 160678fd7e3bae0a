/* The HTTPS listener: evhttp over OpenSSL bufferevents, per-connection deadlines and the
 * connection count, and the entry point that turns each evhttp request into a `struct request`
 * for admission (admission.h). */
#ifndef ROLLCALL_SERVER_H
#define ROLLCALL_SERVER_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct server;

struct server *server_new(struct daemon *d);
void server_free(struct server *server);

/* SIGHUP: rebuild the TLS context from the config's files and swap it in; on failure the
 * running one stays and the reason is logged. */
bool server_reload_tls(struct server *server);

/* SIGTERM: stop accepting; requests in flight finish. */
void server_stop_accepting(struct server *server);

/* Why the bytes received so far on http's connection break HTTP framing (http_framing.h), or
 * NULL: for evhttp's own error answers, which then say 400 and why. */
struct evhttp_request;
const char *server_framing_error(struct evhttp_request *http);
int server_requests_in_flight(const struct server *server);

/* An account was disabled or removed (revocation.c): closes every connection past its
 * handshake whose certificate names cn, each audited with outcome; returns how many. */
int server_close_account(struct server *server, const char *cn, const char *outcome);

struct server_stats {
	unsigned long long requests, responses_2xx, responses_4xx, responses_5xx;
	unsigned long long duration_us_total;
	int connections, in_flight, streams;
	int connection_cap; /* max_connections, or fewer for the descriptor limit */
	unsigned long long connections_refused; /* closed at accept: over the cap */
	unsigned long long connections_evicted; /* still in the handshake, closed to make room */
	unsigned long long handshake_timeouts;  /* no TLS handshake within handshake_timeout */
	unsigned long long connections_revoked; /* certificate no longer verifies after SIGHUP */
	unsigned long long accept_pauses;       /* listener paused: descriptors exhausted */
};
void server_stats(const struct server *server, struct server_stats *out);

#endif
