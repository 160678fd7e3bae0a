/* One webhook attempt as an HTTPS POST through curl_loop: the Standard Webhooks request (SPEC
 * section 10) signed with webhook_sign.c, the endpoint's certificate and host name verified
 * against the webhook CA, and the outcome as the HTTP status or, when there is none, what went
 * wrong in plain words (stored as the delivery's last_error). Knows nothing of the outbox. */
#ifndef ROLLCALL_WEBHOOK_TRANSFER_H
#define ROLLCALL_WEBHOOK_TRANSFER_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

struct curl_loop;
struct webhook_transfer;

/* Room for an outcome text (the sender stores it as last_error). */
#define WEBHOOK_TEXT_SIZE 300
/* The most of a response read before its final status line (interim 1xx heads) before giving
 * up. */
#define WEBHOOK_MAX_RESPONSE_HEAD 16384
/* After the final status line (the verdict), the rest of the answer is read only to keep the
 * connection for the next attempt: while the body is at most this long and the rest arrives
 * within WEBHOOK_TAIL_MS. Otherwise the connection is closed and the verdict stands. */
#define WEBHOOK_MAX_RESPONSE_BODY 65536
#define WEBHOOK_TAIL_MS 250
/* A kept connection serves attempts for at most this long from its handshake, and is dropped
 * after this long unused. The first bounds how long a reloaded webhook_ca takes to reach every
 * connection (see fresh_connection). */
#define WEBHOOK_CONNECTION_LIFETIME_S 60
#define WEBHOOK_CONNECTION_IDLE_S 30

/* The CA certificates endpoints are verified against: the PEM bundle ca_file, or the system store
 * when ca_file is NULL. Loaded once (at start and on SIGHUP) and shared: every transfer holds a
 * reference for as long as it runs, so the caller may free its own (X509_STORE_free) at any time.
 * NULL with the reason in error when the file cannot be read or libcurl does not use OpenSSL. */
X509_STORE *webhook_trust_load(const char *ca_file, char *error, size_t error_size)
    __attribute__((warn_unused_result));

/* What to send. Every string is copied or used before webhook_transfer_start returns. */
struct webhook_post {
	const char *url;       /* the endpoint: https only, no user name or password */
	const char *authority; /* names the endpoint in error texts ("police") */
	const char *secret;    /* the endpoint's "whsec_<base64>" */
	const char *event_id;  /* webhook-id: the same on every retry */
	const char *type;      /* "absence.reported", ... */
	const char *payload;   /* the outbox row's payload, a JSON object (webhook_body) */
	int timeout_s;         /* the whole attempt: name lookup, connect, TLS, the answer */
	const char *proxy;     /* "http://host:port" to tunnel through (webhook_proxy), or NULL */
	/* Open a new connection even if one to the endpoint is kept: for
	 * WEBHOOK_CONNECTION_LIFETIME_S after a reload of the trusted certificates, so that no
	 * connection verified against the old ones serves again. */
	bool fresh_connection;
};

struct webhook_outcome {
	bool delivered;   /* a 2xx arrived */
	int status;       /* the final HTTP status, 0 when none arrived */
	const char *text; /* "HTTP 204", "HTTP 500 Internal Server Error", "no answer within 10 s
	                   * (connecting)", ...: valid during the callback only */
};

/* Called exactly once per started transfer, from the loop, never from inside
 * webhook_transfer_start; the transfer is already freed when it runs. */
typedef void (*webhook_done_fn)(void *arg, const struct webhook_outcome *outcome);

/* Signs the request and starts it. Returns NULL, with the reason in error and without calling
 * done, when the request cannot be made (no such URL, a malformed secret or payload, out of
 * memory); those are failed attempts like any other. The transfer frees itself once done has
 * run; until then the caller may cancel it, and must not use the pointer after either. */
struct webhook_transfer *
webhook_transfer_start(struct curl_loop *loop, X509_STORE *trust, const struct webhook_post *post,
                       webhook_done_fn done, void *arg, char *error, size_t error_size)
    __attribute__((warn_unused_result));

/* Abandons a transfer that has not reported yet (shutdown): frees it, done is never called. */
void webhook_transfer_cancel(struct webhook_transfer *transfer);

#endif
