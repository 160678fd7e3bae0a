/* Answering requests: JSON and error replies, the generic api() call through the database pool
 * (retrying serialization failures, mapping outages to 503), and chunked streams for SSE and
 * CSV. A request is freed exactly once, by whichever reply ends it, and tells its owner then
 * (struct request_owner): request.c calls nothing in server.c. */
#include "request.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "evhttp_stream_fix.h"
#include "log.h"
#include "request_gate.h"
#include "request_internal.h"
#include "router.h"

#define API_SQL                                                                                    \
	"SELECT status, body::text FROM api($1, $2, $3::jsonb, $4::timestamptz, $5, $6, $7, $8, "  \
	"$9::text[])"
#define API_MAX_ATTEMPTS 3
#define STREAM_TIMEOUT_S 86400
/* An output queue this small is joined into one piece after each reply and chunk. */
#define OUTPUT_JOIN_MAX (16 * 1024)
#define STREAM_RECORD_MAX 2048 /* bytes of plaintext per TLS record on a lean stream */

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	default:
		return "OTHER";
	}
}

struct request *request_new(struct evhttp_request *http, const struct request_owner *owner,
                            void *arg)
{
	struct request *req = calloc(1, sizeof *req);
	if (!req)
		return NULL;
	req->http = http;
	req->owner = owner;
	req->owner_arg = arg;
	req->started_us = clock_monotonic_us();
	snprintf(req->method, sizeof req->method, "%s",
	         method_name(evhttp_request_get_command(http)));
	return req;
}

static void request_free(struct request *req, int status)
{
	req->owner->finished(req->owner_arg, req, status);
	json_decref(req->path);
	json_decref(req->query);
	json_decref(req->body);
	free(req->raw_body);
	free(req->idem_key);
	free(req);
}

const char *request_header(const struct request *req, const char *name)
{
	if (!req->http)
		return NULL;
	return evhttp_find_header(evhttp_request_get_input_headers(req->http), name);
}

void request_add_header(struct request *req, const char *name, const char *value)
{
	if (req->http)
		evhttp_add_header(evhttp_request_get_output_headers(req->http), name, value);
}

/* evhttp queues a reply as two pieces or more (the head, then the body; a chunk's size line,
 * then its data), and libevent's OpenSSL bufferevent makes one SSL_write of each piece: one TLS
 * record and one write(2) each. Seen with strace: two writes for every /healthz answer and for
 * every alert to every watcher, the writes half of the daemon's CPU under load. Joined, it is one
 * of each. Only a small queue is joined (a large one is many records anyway); libevent retries an
 * interrupted SSL_write with the same leading bytes and length, which joining keeps. */
static void join_output(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct evbuffer *out = bev ? bufferevent_get_output(bev) : NULL;
	if (out && evbuffer_get_length(out) <= OUTPUT_JOIN_MAX)
		(void)evbuffer_pullup(out, -1);
}

static void add_common_headers(struct request *req, const char *content_type)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req->http);
	evhttp_remove_header(out, "Content-Type");
	evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Request-Id", req->id);
	/* The Date a client sees is the daemon's one clock (the test clock in tests), so that a
	 * terminal picks the current round by the same time the rules use. */
	char date[64];
	time_t secs = (time_t)(clock_now_us() / 1000000);
	struct tm tm;
	if (gmtime_r(&secs, &tm) && strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
		evhttp_remove_header(out, "Date");
		evhttp_add_header(out, "Date", date);
	}
}

void request_reply_text(struct request *req, int status, const char *content_type, const char *text,
                        size_t len)
{
	/* Statistics and the connection's deadline first: once sent, a detached request is gone. */
	struct evhttp_request *http = req->http;
	if (http) {
		struct evbuffer *buf = evbuffer_new();
		if (buf && evbuffer_add(buf, text, len) == 0) {
			struct evhttp_connection *evcon = evhttp_request_get_connection(http);
			add_common_headers(req, content_type);
			request_free(req, status);
			/* evhttp frees neither the request nor evcon in this call. */
			evhttp_send_reply(http, status, NULL, buf);
			join_output(evcon);
		} else {
			request_free(req, 503);
			evhttp_send_error(http, 503, NULL);
		}
		if (buf)
			evbuffer_free(buf);
		return;
	}
	request_free(req, status);
}

void request_reply_json(struct request *req, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(body);
	if (!text) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"cannot "
		                          "encode the answer\",\"field\":null}}";
		request_reply_text(req, 500, "application/json", oom, sizeof oom - 1);
		return;
	}
	request_reply_text(req, status, "application/json", text, strlen(text));
	free(text);
}

void request_reply_error(struct request *req, int status, const char *code, const char *message,
                         const char *field)
{
	json_t *body = json_pack("{s:{s:s, s:s, s:s?}}", "error", "code", code, "message", message,
	                         "field", field);
	if (body && !field)
		json_object_set_new(json_object_get(body, "error"), "field", json_null());
	request_reply_json(req, status, body);
}

/* ---- the generic api() call ---- */

struct api_call {
	struct request *req;
	request_api_fn done;
	char *op;
	char *args;
	char hash[65];
	char now[CLOCK_TEXT_SIZE];
	char roles[128];
	int attempts;
	int64_t started_us; /* monotonic: request_timeout counts from here, the gate's wait too */
	bool gated;         /* through daemon_state->gate: leaves it when answered */
	char cn[128];       /* the gate's key, kept here since the request may be gone by then */
};

static void api_call_free(struct api_call *call)
{
	free(call->op);
	free(call->args);
	free(call);
}

static bool api_send(struct api_call *call);
static int api_time_left_ms(const struct api_call *call);

static void api_answer(struct api_call *call, int status, const char *body_text)
{
	struct request *req = call->req;
	request_api_fn done = call->done;
	/* Give the place up first: the certificate's next call only queues its query now. */
	if (call->gated)
		request_gate_leave(daemon_state->gate, call->cn);
	api_call_free(call);
	if (!done) {
		if (body_text)
			request_reply_text(req, status, "application/json", body_text,
			                   strlen(body_text));
		else
			request_reply_error(req, status,
			                    status == 503 ? "database_unavailable" : "internal",
			                    status == 503 ? "the database is unavailable; nothing "
			                                    "was changed, try again"
			                                  : "internal error; see the daemon's log",
			                    NULL);
		return;
	}
	json_t *body = NULL;
	if (body_text) {
		json_error_t jerr;
		body = json_loads(body_text, 0, &jerr);
		if (!body) {
			log_error("req=%s api() answered invalid JSON: %s", req->id, jerr.text);
			status = 500;
		}
	}
	done(req, status, body);
	json_decref(body);
}

/* Custom handlers get NULL bodies for 5xx: answer those here so each handler need not. */
void request_answer_unavailable(struct request *req, int status)
{
	if (status == 503)
		request_reply_error(req, 503, "database_unavailable",
		                    "the database is unavailable; nothing was changed, try again",
		                    NULL);
	else
		request_reply_error(req, 500, "internal", "internal error; see the daemon's log",
		                    NULL);
}

bool request_reply_unless_ok(struct request *req, int status, json_t *body)
{
	if (status == 200)
		return false;
	if (status >= 500 || !body)
		request_answer_unavailable(req, status >= 500 ? status : 500);
	else
		request_reply_json(req, status, json_incref(body));
	return true;
}

static void api_result(void *arg, const struct db_result *r)
{
	struct api_call *call = arg;
	switch (r->status) {
	case DB_OK:
		if (PQntuples(r->pg) != 1 || PQgetisnull(r->pg, 0, 0)) {
			log_error("req=%s api(%s) returned no status", call->req->id, call->op);
			api_answer(call, 500, NULL);
			return;
		}
		api_answer(call, atoi(PQgetvalue(r->pg, 0, 0)),
		           PQgetisnull(r->pg, 0, 1) ? "{}" : PQgetvalue(r->pg, 0, 1));
		return;
	case DB_RETRY:
		if (call->attempts < API_MAX_ATTEMPTS && api_time_left_ms(call) > 0) {
			log_info("req=%s api(%s) retried after %s", call->req->id, call->op,
			         r->sqlstate);
			if (api_send(call))
				return;
		}
		api_answer(call, 503, NULL);
		return;
	case DB_UNAVAILABLE:
		log_warn("req=%s api(%s): database unavailable: %s", call->req->id, call->op,
		         r->message);
		api_answer(call, 503, NULL);
		return;
	case DB_FAILED:
	default:
		log_error("req=%s api(%s) failed: %s %s", call->req->id, call->op, r->sqlstate,
		          r->message);
		api_answer(call, 500, NULL);
		return;
	}
}

/* Milliseconds of request_timeout left to the call (0 when none). */
static int api_time_left_ms(const struct api_call *call)
{
	int64_t left_us = (int64_t)daemon_state->config->request_timeout_s * 1000000 -
	                  (clock_monotonic_us() - call->started_us);
	return left_us > 0 ? (int)((left_us + 999) / 1000) : 0;
}

static bool api_send(struct api_call *call)
{
	struct request *req = call->req;
	call->attempts++;
	const char *params[9] = {
	    call->op,    req->cn,       call->args,
	    call->now,   req->idem_key, req->idem_key ? call->hash : NULL,
	    req->remote, req->id,       call->roles,
	};
	/* Within what is left of request_timeout: a hung server gets the client a 503, not a
	 * hang, however long the call waited at the gate or for an earlier attempt. */
	return db_query_prepared_within(daemon_state->db, api_time_left_ms(call), API_SQL, 9,
	                                params, api_result, call);
}

/* Sends the call's first attempt (now, or when the gate lets it through). */
static void api_start(void *arg)
{
	struct api_call *call = arg;
	if (api_time_left_ms(call) == 0) {
		log_warn("req=%s api(%s): request_timeout passed before the database was asked",
		         call->req->id, call->op);
		api_answer(call, 503, NULL);
		return;
	}
	if (api_send(call))
		return;
	struct request *req = call->req;
	if (call->gated)
		request_gate_leave(daemon_state->gate, call->cn);
	api_call_free(call);
	request_reply_error(req, 503, "overloaded", "the database queue is full", NULL);
}

/* The idempotency hash covers what the request asks for: method, path and body. */
static void request_hash(struct request *req, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *uri = req->http ? evhttp_request_get_uri(req->http) : "";
	bool ok =
	    ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, req->method, strlen(req->method)) &&
	    EVP_DigestUpdate(ctx, " ", 1) && EVP_DigestUpdate(ctx, uri, strlen(uri)) &&
	    EVP_DigestUpdate(ctx, "\n", 1) &&
	    (req->raw_body_len == 0 || EVP_DigestUpdate(ctx, req->raw_body, req->raw_body_len)) &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		mdlen = 0;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[2 * mdlen] = '\0';
}

void request_api_call(struct request *req, const char *op, json_t *args, request_api_fn done)
{
	struct api_call *call = calloc(1, sizeof *call);
	if (!call) {
		json_decref(args);
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
		return;
	}
	call->req = req;
	call->done = done;
	call->started_us = clock_monotonic_us();
	call->op = strdup(op);
	if (!args)
		args = json_pack("{s:O, s:O, s:O}", "path", req->path ? req->path : json_object(),
		                 "query", req->query ? req->query : json_object(), "body",
		                 req->body ? req->body : json_null());
	call->args = args ? json_dumps(args, JSON_COMPACT) : NULL;
	json_decref(args);
	if (!call->op || !call->args) {
		api_call_free(call);
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
		return;
	}
	clock_format(clock_now_us(), call->now);
	router_roles_literal(req->route ? req->route->roles : 0, call->roles, sizeof call->roles);
	request_hash(req, call->hash);
	if (!daemon_state->gate) {
		api_start(call);
		return;
	}
	snprintf(call->cn, sizeof call->cn, "%s", req->cn);
	if (request_gate_full(daemon_state->gate, call->cn)) {
		/* The certificate has more calls waiting than it can have answered in time: refuse
		 * now, cheaply, instead of holding the request until request_timeout (issue 12). */
		api_call_free(call);
		request_add_header(req, "Retry-After", "1");
		request_reply_error(req, 429, "rate_limited",
		                    "too many requests of this certificate are waiting for the "
		                    "database; retry after Retry-After seconds",
		                    NULL);
		return;
	}
	call->gated = true;
	if (!request_gate_enter(daemon_state->gate, call->cn, api_start, call)) {
		api_call_free(call);
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
	}
}

/* ---- streams ---- */

static void stream_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct request *req = arg;
	(void)evcon;
	req->http = NULL;
	if (req->on_close)
		req->on_close(req);
}

void request_stream_start(struct request *req, int status, const char *content_type,
                          void (*on_close)(struct request *req))
{
	req->on_close = on_close;
	req->streaming = true;
	req->stream_status = status;
	req->stream_http = req->http;
	req->owner->stream_started(req->owner_arg, req);
	struct evhttp_connection *evcon =
	    req->http ? evhttp_request_get_connection(req->http) : NULL;
	if (!evcon) {
		req->http = NULL;
		if (on_close)
			on_close(req);
		return;
	}
	add_common_headers(req, content_type);
	evhttp_add_header(evhttp_request_get_output_headers(req->http), "X-Accel-Buffering", "no");
	/* A watcher sends nothing after its request: evhttp's idle timeout must not end it. */
	evhttp_connection_set_timeout(evcon, STREAM_TIMEOUT_S);
	evhttp_connection_set_closecb(evcon, stream_closed_cb, req);
	evhttp_send_reply_start(req->http, status, NULL);
}

/* evhttp calls this when everything queued on the connection has been handed to OpenSSL.
 * SSL_free_buffers refuses (and changes nothing) while a record is still partly written or
 * read, so this is safe to call at any point; the next chunk simply tries again. */
static void stream_flushed_cb(struct evhttp_connection *evcon, void *arg)
{
	(void)arg;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (ssl && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		SSL_free_buffers(ssl);
}

void request_stream_lean(struct request *req)
{
	req->stream_lean = true;
	/* Small records for a stream of small events: OpenSSL's write buffer is one record
	 * (16 KiB and more by default), taken again for every event once stream_flushed_cb gave it
	 * back; at 10,000 watchers that churn of large blocks was a fifth of the fan-out's CPU
	 * (malloc, free and page faults in perf). A larger event is simply several records. */
	struct evhttp_connection *evcon =
	    req->http ? evhttp_request_get_connection(req->http) : NULL;
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (ssl)
		(void)SSL_set_max_send_fragment(ssl, STREAM_RECORD_MAX);
}

bool request_stream_chunk(struct request *req, const char *data, size_t len)
{
	if (!req->http)
		return false;
	struct evbuffer *buf = evbuffer_new();
	if (!buf)
		return false;
	bool ok = evbuffer_add(buf, data, len) == 0;
	if (ok && req->stream_lean)
		evhttp_send_reply_chunk_with_cb(req->http, buf, stream_flushed_cb, NULL);
	else if (ok)
		evhttp_send_reply_chunk(req->http, buf);
	evbuffer_free(buf);
	if (ok)
		join_output(evhttp_request_get_connection(req->http));
	return ok;
}

size_t request_stream_pending(const struct request *req)
{
	struct evhttp_connection *evcon =
	    req->http ? evhttp_request_get_connection(req->http) : NULL;
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void request_stream_abort(struct request *req)
{
	struct evhttp_connection *evcon =
	    req->http ? evhttp_request_get_connection(req->http) : NULL;
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	/* Shut down at the socket: evhttp sees the connection fail and frees it, with whatever
	 * was queued for a client that stopped reading. */
	if (bev && bufferevent_getfd(bev) >= 0)
		shutdown(bufferevent_getfd(bev), SHUT_RDWR);
	request_stream_end(req);
}

void request_stream_end(struct request *req)
{
	struct evhttp_request *http = req->stream_http;
	struct evhttp_connection *evcon =
	    req->http ? evhttp_request_get_connection(req->http) : NULL;
	if (evcon)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	int status = req->stream_status;
	req->http = http; /* lets the owner find the connection, if any */
	request_free(req, status);
	/* libevent 2.1 can lose the end of a chunked reply: see evhttp_stream_fix.c. */
	evhttp_stream_fix_send_reply_end(http, evcon);
}
