/* HTTPS for the client, on libcurl: mutual TLS (client certificate, TLS 1.2 or later, server
 * verified against the configured CA only and its host name or IP address), one connection kept
 * open across the requests of a run, proxies from the environment (https_proxy, no_proxy, as
 * curl reads them), and bodies streamed to a sink as they arrive (the alert stream, CSV exports).
 * Blocking from the caller's view; every wait has a deadline and can be interrupted by a
 * signal. */
#ifndef ROLLCALL_CLIENT_TLS_HTTP_H
#define ROLLCALL_CLIENT_TLS_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"

/* Why a request did not get an answer. Each maps to one plain-words explanation. */
enum net_failure {
	NET_NONE,
	NET_RESOLVE,          /* DNS: the host name is unknown */
	NET_REFUSED,          /* nothing listens on the port */
	NET_UNREACHABLE,      /* no route, network down */
	NET_TIMEOUT,          /* no answer within the timeout */
	NET_RESET,            /* the connection broke before the whole answer arrived */
	NET_SERVER_UNTRUSTED, /* the server's certificate does not verify against `ca` */
	NET_SERVER_NAME,      /* ... verifies but is for another host name or address */
	NET_CLIENT_REVOKED,   /* the server says our certificate is revoked or expired */
	NET_CLIENT_REFUSED,   /* the server refused our certificate (unknown CA, none, bad) */
	NET_PROXY,            /* the proxy could not be found or would not connect us */
	NET_TLS,              /* any other TLS failure */
	NET_PROTOCOL,         /* the answer is not HTTP as we know it */
	NET_INTERRUPTED,      /* SIGINT/SIGTERM while waiting (only with a wait mask) */
	NET_LOCAL,            /* out of memory, or the sink could not take the data */
};

struct net_error {
	enum net_failure kind;
	char detail[256]; /* what OpenSSL or the system said, for the curious */
	bool foreign_ca;  /* NET_CLIENT_REFUSED: the server said unknown_ca */
};

/* True for failures where repeating the same request may succeed and cannot do harm (with the
 * same Idempotency-Key): a timeout or a broken connection, where the request may or may not
 * have reached the server. */
bool net_failure_retryable(enum net_failure kind);

struct http_client;

/* Sets up libcurl for the configuration (borrowed; must outlive the client), after checking that
 * the certificate, key and CA load: NULL with a message in err if not, a configuration mistake.
 * curl_global_init must have been called. */
struct http_client *http_client_new(const struct client_config *config, char *err, size_t errlen);
void http_client_free(struct http_client *client);

/* Explains a failure in plain words for stderr, e.g. "the server's certificate is not trusted by
 * /etc/rollcall/ca.pem". */
void http_explain(const struct http_client *client, const struct net_error *error, char *out,
                  size_t outlen);

/* Receives a 2xx response body as it arrives; false stops the transfer (NET_LOCAL). */
typedef bool (*http_sink_fn)(void *arg, const char *data, size_t len);

struct http_request {
	const char *method; /* "GET", "POST", "PUT", "PATCH" */
	const char *path;   /* "/v1/..." with query, already escaped; the URL's prefix is
	                       added */
	const char *body;   /* JSON text, or NULL for none */
	size_t body_len;
	const char *accept;          /* NULL: application/json */
	const char *idempotency_key; /* NULL: none */
	const char *last_event_id;   /* NULL: none */
	int read_timeout_ms;         /* silence allowed while waiting for bytes; 0: 10 s */
	http_sink_fn sink;           /* NULL: the body is buffered in the response */
	void *sink_arg;
	/* With a wait mask, a signal blocked now but not in the mask interrupts the waits (they
	 * watch a signalfd and then let the handler run as under the mask); *stop set by the
	 * handler then ends the request with NET_INTERRUPTED. */
	const sigset_t *wait_mask;
	volatile sig_atomic_t *stop;
};

struct http_response {
	int status;
	char content_type[128];
	char *body; /* owned, NUL-terminated; also the body of a non-2xx answer in sink mode */
	size_t body_len;
	time_t date;    /* the server's Date header, 0 if none */
	bool sink_used; /* at least one byte went to the sink */
};

/* One attempt: connect (or reuse the open connection), send, read the whole answer. True with
 * *response filled (any status); false with *error. Free the response with http_response_free
 * either way. */
bool http_exchange(struct http_client *client, const struct http_request *request,
                   struct http_response *response, struct net_error *error)
    __attribute__((warn_unused_result));
void http_response_free(struct http_response *response);

/* 32 lower-case hex digits from RAND_bytes, for an Idempotency-Key. False if the random
 * generator fails (then no key is better than a predictable one). */
bool http_new_idempotency_key(char out[33]) __attribute__((warn_unused_result));

/* Sleeps ms milliseconds; with a wait mask a signal ends it early (returns false if *stop). */
bool http_sleep(int ms, const sigset_t *wait_mask, volatile sig_atomic_t *stop);

#endif
