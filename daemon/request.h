/* One HTTP request on its way through the daemon: who sent it, what it asked, and how to answer.
 * Handlers never touch evhttp directly: the client may hang up while a request waits on
 * PostgreSQL, and request.c is the one place that knows how to answer safely then. */
#ifndef ROLLCALL_REQUEST_H
#define ROLLCALL_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct evhttp_request;
struct request_owner;
struct route;

struct request {
	struct evhttp_request *http;       /* NULL once the client has gone away */
	const struct request_owner *owner; /* told when the request ends (request_internal.h) */
	void *owner_arg;
	const struct route *route;
	char id[24];     /* request id, also in the audit log and every log line */
	char cn[128];    /* the client certificate's subject CN */
	char remote[64]; /* peer address */
	char method[8];  /* "GET", "POST", ... */
	json_t *path;    /* path parameters by name, strings (owned) */
	json_t *query;   /* validated query parameters (owned) */
	json_t *body;    /* validated JSON body, or NULL when the route takes none (owned) */
	char *raw_body;  /* the body as received, for the idempotency hash (owned) */
	size_t raw_body_len;
	char *idem_key;     /* Idempotency-Key header, or NULL (owned) */
	bool wants_csv;     /* Accept: text/csv */
	int64_t started_us; /* monotonic, for metrics */
	void *handler_data; /* for custom handlers; they free it before replying */

	/* Private to request.c (the owner's finished callback may read streaming). */
	struct evhttp_request *stream_http; /* kept after a hang-up, to end the stream */
	void (*on_close)(struct request *req);
	bool streaming;
	bool stream_lean; /* request_stream_lean: TLS buffers freed between chunks */
	int stream_status;
};

/* Answer helpers. Each sends the reply (unless the client is gone) and frees the request:
 * after calling one, the handler must not touch `req` again. */
void request_reply_json(struct request *req, int status, json_t *body /* stolen */);
void request_reply_text(struct request *req, int status, const char *content_type, const char *text,
                        size_t len);
void request_reply_error(struct request *req, int status, const char *code, const char *message,
                         const char *field /* may be NULL */);

/* Called with the api() answer. status is the HTTP status; body is borrowed (NULL only with
 * status >= 500, where the helper has already logged the cause). The callback owns the request
 * again and must answer it (or hand it on) exactly once. */
typedef void (*request_api_fn)(struct request *req, int status, json_t *body);

/* Runs `SELECT status, body FROM api(...)` (its nine parameters positionally)
 * for this request with args = {"path","query","body"} (or `args` if not NULL, stolen), and
 * calls done. With done == NULL the answer is sent as it is. Database trouble becomes 503. */
void request_api_call(struct request *req, const char *op, json_t *args, request_api_fn done);

/* Answers a 5xx that request_api_call passed to a callback with a NULL body (503 when the
 * database is unavailable, 500 otherwise). Frees the request like the other replies. */
void request_answer_unavailable(struct request *req, int status);

/* For request_api_fn callbacks: a status other than 200 is answered as api() gave it (or as
 * request_answer_unavailable for 5xx) and true returned; on 200 returns false and the caller
 * carries on with the body. */
bool request_reply_unless_ok(struct request *req, int status, json_t *body);

/* Streaming replies (SSE, CSV): start a chunked reply, send chunks, end it. request_stream_end
 * frees the request. on_close (may be NULL) is called if the client goes away first; after it,
 * `req->http` is NULL and the handler must still call request_stream_end to free the request. */
void request_stream_start(struct request *req, int status, const char *content_type,
                          void (*on_close)(struct request *req));
bool request_stream_chunk(struct request *req, const char *data, size_t len);
size_t request_stream_pending(const struct request *req); /* bytes queued to the client */
/* For long-lived, mostly idle streams (SSE): once each chunk has gone out, the connection's TLS
 * read and write buffers (some 34 KiB) are given back, and allocated again by OpenSSL when
 * the next chunk or record comes. An idle watcher then holds only OpenSSL's session state. */
void request_stream_lean(struct request *req);
void request_stream_end(struct request *req);
/* Ends the stream and closes the connection at once, dropping what is still queued: for a
 * client that stopped reading. Frees the request like request_stream_end. */
void request_stream_abort(struct request *req);

/* Adds a response header to the reply about to be sent (nothing when the client is gone). */
void request_add_header(struct request *req, const char *name, const char *value);

/* Request header lookup (NULL if absent or the client is gone). */
const char *request_header(const struct request *req, const char *name);

#endif
