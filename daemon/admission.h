/* Admission: the stages a request passes between arriving and its handler (identity, limits,
 * route, input). server.c hands each new request here; admission.c answers the refusals, with
 * SPEC section 10's error bodies, or starts the route's handler. */
#ifndef ROLLCALL_ADMISSION_H
#define ROLLCALL_ADMISSION_H

#include <openssl/ssl.h>

struct daemon;
struct request;
struct request_budget;

/* What the listener knows about the request's connection. */
struct admission_facts {
	const struct daemon *daemon; /* config and draining */
	SSL *ssl;                    /* the connection's TLS session; NULL if it is gone */
	const char *revoked; /* why its certificate failed the check after SIGHUP, or NULL */
	int connections;     /* client connections open now, this one included */
	int connection_cap;  /* the cap in force (max_connections or the descriptor budget) */
	struct request_budget *budget; /* per-CN request budget (request_budget.h); NULL: none */
	const char *framing_error; /* why the bytes of this request break HTTP framing, or NULL */
};

/* Runs the stages in order on a request fresh from request_new. The request is answered (and
 * freed) by the first stage that refuses it, or handed to its route's handler, which then owns
 * it; either way the caller must not touch req afterwards. */
void admission_run(struct request *req, const struct admission_facts *facts);

#endif
