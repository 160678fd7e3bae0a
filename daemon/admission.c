/* Admission of one request, as named stages run in order by admission_run():
 *
 *   identity  who is asking: the peer certificate's CN (the account) and the peer address
 *   limits    whether the daemon takes requests now: draining, the connection cap; and
 *             whether this connection's certificate still verifies after the last SIGHUP
 *   budget    whether this certificate (CN) is within its request budget (429 otherwise)
 *   framing   what evhttp let through that HTTP forbids or that makes a request mean two
 *             things: several or signed Content-Length headers, NUL or control bytes in the
 *             target or a header value
 *   route     what is asked: a path, a route for it under this method, its path parameters
 *   input     the query, the JSON body (size, media type, syntax, field specs), the
 *             Idempotency-Key, Accept
 *
 * Each stage either lets the request go on (true) or answers the refusal itself and returns
 * false, after which nothing may touch the request. Where several stages would refuse one
 * request, the first in this order answers, so the order is part of the API: e.g. an unknown
 * path is 404 whatever its body, and a draining daemon answers 503 to everyone. */
#include "admission.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "clock.h"
#include "daemon.h"
#include "request.h"
#include "request_budget.h"
#include "router.h"
#include "tls.h"
#include "validate.h"

/* ---- identity ---- */

/* Takes the caller's CN (left empty when the certificate has none usable: missing, truncated or
 * with an embedded NUL) and address. Returns whether there is a CN; it does not refuse, so
 * that every log line, a 503's included, names who was asking: admission_run answers a missing
 * CN after the limits. */
static bool admit_identity(struct request *req, const struct admission_facts *facts)
{
	if (facts->ssl && !tls_peer_cn(facts->ssl, req->cn, sizeof req->cn))
		req->cn[0] = '\0';
	struct evhttp_connection *evcon = evhttp_request_get_connection(req->http);
	if (evcon) {
		char *addr = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(evcon, &addr, &port);
		snprintf(req->remote, sizeof req->remote, "%s", addr ? addr : "");
	}
	return req->cn[0] != '\0';
}

/* ---- limits ---- */

/* Refuses with 503, and closes the connection after the answer, while the daemon drains or
 * holds more connections than configured (evhttp 2.1 has no cap of its own). The header and
 * body size limits are evhttp's (set by server.c); the configured body limit is checked by
 * input, once the route says whether a body is expected. */
static bool admit_limits(struct request *req, const struct admission_facts *facts)
{
	const struct daemon *d = facts->daemon;
	const char *code = NULL, *message = NULL;
	if (d->draining) {
		code = "shutting_down";
		message = "the daemon is shutting down";
	} else if (facts->connections > facts->connection_cap) {
		code = "overloaded";
		message = "too many connections";
	} else {
		return true;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req->http), "Connection", "close");
	request_reply_error(req, 503, code, message, NULL);
	return false;
}

/* ---- budget ---- */

/* One token from the CN's bucket, or 429 with Retry-After: a terminal sending faster than
 * request_rate (beyond request_burst) is slowed down alone, before its requests reach the
 * database pool the other terminals share. Refused requests count against the budget too, so
 * a flood of bad requests is slowed as well. */
static bool admit_budget(struct request *req, const struct admission_facts *facts)
{
	int retry_after_s = 1;
	if (!facts->budget ||
	    request_budget_take(facts->budget, req->cn, clock_monotonic_us(), &retry_after_s))
		return true;
	char value[16];
	snprintf(value, sizeof value, "%d", retry_after_s);
	evhttp_add_header(evhttp_request_get_output_headers(req->http), "Retry-After", value);
	request_reply_error(req, 429, "rate_limited",
	                    "this certificate is over its request budget; retry after the "
	                    "Retry-After seconds",
	                    NULL);
	return false;
}

/* ---- route ---- */

static void answer_validation(struct request *req, int status, const struct validation_error *e)
{
	request_reply_error(req, status, e->code, e->message, e->field[0] ? e->field : NULL);
}

/* Path parameters arrive as strings; integers and ids are converted before the usual check. */
static bool validate_path(json_t *params, const struct field_spec *spec,
                          struct validation_error *err)
{
	if (!spec)
		return true;
	for (const struct field_spec *f = spec; f->name; f++) {
		json_t *v = json_object_get(params, f->name);
		const char *s = json_string_value(v);
		if (s && f->type == FT_INT) {
			char *end;
			long long n = strtoll(s, &end, 10);
			if (*s && *end == '\0' && strlen(s) < 12)
				json_object_set_new(params, f->name, json_integer(n));
		}
	}
	return validate_object(params, spec, "", err);
}

/* Sets req->route and req->path. Refuses a request without a path (400), a path no route has
 * (404, as are the test clock's routes without test_clock) or has under another method only
 * (405), and path parameters that do not fit the route (404: no such object). */
static bool admit_route(struct request *req, const struct admission_facts *facts)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->http);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || !*path) {
		request_reply_error(req, 400, "bad_request", "the request has no path", NULL);
		return false;
	}
	bool other_method = false;
	json_t *params = NULL;
	const struct route *route = router_match(req->method, path, &params, &other_method);
	if (route && (route->flags & ROUTE_TEST_CLOCK) && !facts->daemon->config->test_clock) {
		json_decref(params);
		params = NULL;
		route = NULL;
		other_method = false;
	}
	if (!route) {
		if (other_method)
			request_reply_error(req, 405, "method_not_allowed",
			                    "this path does not take that method", NULL);
		else
			request_reply_error(req, 404, "not_found", "no such path", NULL);
		return false;
	}
	req->route = route;
	req->path = params;
	struct validation_error verr;
	if (!validate_path(req->path, route->path, &verr)) {
		answer_validation(req, 404, &verr);
		return false;
	}
	return true;
}

/* ---- input ---- */

static bool content_type_is_json(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	size_t n = strlen("application/json");
	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static bool idempotency_key_ok(const char *key)
{
	size_t len = strlen(key);
	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			return false;
	return true;
}

/* A route that takes no body: none, or (except on GET) an empty object, as many clients send. */
static bool input_no_body(struct request *req, struct evbuffer *in, size_t len)
{
	if (len == 0 || strcmp(req->method, "GET") == 0)
		return true;
	json_t *empty = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
	bool ok = json_is_object(empty) && json_object_size(empty) == 0;
	json_decref(empty);
	if (!ok)
		request_reply_error(req, 400, "unexpected_body",
		                    "this request takes no body (or {})", NULL);
	return ok;
}

/* Parses req->raw_body (len > 0 bytes) into req->body, which must be one JSON object sent as
 * application/json. */
static bool input_parse_json(struct request *req, size_t len)
{
	if (!content_type_is_json(request_header(req, "Content-Type"))) {
		request_reply_error(req, 415, "unsupported_media_type",
		                    "the body must be sent as Content-Type: application/json",
		                    NULL);
		return false;
	}
	json_error_t jerr;
	req->body = json_loadb(req->raw_body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req->body) {
		char msg[300];
		snprintf(msg, sizeof msg, "malformed JSON at line %d column %d: %s", jerr.line,
		         jerr.column, jerr.text);
		request_reply_error(req, 400, "bad_json", msg, NULL);
		return false;
	}
	if (!json_is_object(req->body)) {
		request_reply_error(req, 400, "bad_json", "the body must be a JSON object", NULL);
		return false;
	}
	return true;
}

/* A route with a body spec: the body is kept as received (req->raw_body, for the idempotency
 * hash), parsed, and checked against the spec; an empty body is {} where the route allows it. */
static bool input_json_body(struct request *req, struct evbuffer *in, size_t len)
{
	const struct route *route = req->route;
	req->raw_body = malloc(len + 1);
	if (!req->raw_body) {
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
		return false;
	}
	if (evbuffer_remove(in, req->raw_body, len) != (int)len) {
		request_reply_error(req, 400, "bad_body", "cannot read the request body", NULL);
		return false;
	}
	req->raw_body[len] = '\0';
	req->raw_body_len = len;
	if (len == 0 && !(route->flags & ROUTE_OPTIONAL_BODY)) {
		request_reply_error(req, 400, "bad_json", "a JSON object body is required", NULL);
		return false;
	}
	if (len == 0)
		req->body = json_object();
	else if (!input_parse_json(req, len))
		return false;
	struct validation_error verr;
	if (!validate_object(req->body, route->body, "", &verr)) {
		answer_validation(req, 400, &verr);
		return false;
	}
	return true;
}

/* A JSON body is refused unparsed when it is longer than this many times the longest its route
 * accepts (validate_json_max_bytes, which already escapes every byte), plus this much white
 * space: no client writes that, and parsing it is what one certificate sending 600 kB bodies
 * to a route of short names made every other terminal wait for (about 12 ms of the loop each,
 * docs/decisions.md). */
#define ROUTE_BODY_FACTOR 4
#define ROUTE_BODY_SLACK (16 * 1024)

/* The body: refused above max_body_bytes (413) or above what its route could accept (413),
 * then read as the route expects. */
static bool input_body(struct request *req, const struct admission_facts *facts)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req->http);
	size_t len = evbuffer_get_length(in);
	if ((long)len > facts->daemon->config->max_body_bytes) {
		request_reply_error(req, 413, "body_too_large",
		                    "the request body exceeds the configured limit", NULL);
		return false;
	}
	if (req->route->body) {
		size_t most = validate_json_max_bytes(req->route->body);
		if (most <= (SIZE_MAX - ROUTE_BODY_SLACK) / ROUTE_BODY_FACTOR &&
		    len > most * ROUTE_BODY_FACTOR + ROUTE_BODY_SLACK) {
			request_reply_error(
			    req, 413, "body_too_large",
			    "the request body is longer than any this route accepts", NULL);
			return false;
		}
	}
	return req->route->body ? input_json_body(req, in, len) : input_no_body(req, in, len);
}

/* An Idempotency-Key is kept for a mutating route (and must then be 1-255 visible ASCII
 * characters) and ignored on a read, where it is harmless. */
static bool input_idempotency_key(struct request *req)
{
	const char *key = request_header(req, "Idempotency-Key");
	if (!key || !(req->route->flags & ROUTE_MUTATING))
		return true;
	if (!idempotency_key_ok(key)) {
		request_reply_error(req, 400, "bad_field",
		                    "Idempotency-Key must be 1-255 visible ASCII characters",
		                    "Idempotency-Key");
		return false;
	}
	if (!(req->idem_key = strdup(key))) {
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
		return false;
	}
	return true;
}

/* Sets req->query, req->body and req->raw_body, req->idem_key and req->wants_csv, refusing
 * what does not fit the route's specs (400 naming the field, 413, 415). */
static bool admit_input(struct request *req, const struct admission_facts *facts)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->http);
	struct validation_error verr;
	req->query =
	    validate_query(uri ? evhttp_uri_get_query(uri) : NULL, req->route->query, &verr);
	if (!req->query) {
		answer_validation(req, 400, &verr);
		return false;
	}
	if (!input_body(req, facts) || !input_idempotency_key(req))
		return false;
	const char *accept = request_header(req, "Accept");
	req->wants_csv = accept && strstr(accept, "text/csv") != NULL;
	return true;
}

/* ---- framing ---- */

/* evhttp 2.1 accepts two Content-Length headers (and uses the first: a request smuggled in the
 * body of another), a sign or spaces in one, and a percent-encoded NUL in the target, which
 * the router would decode and cut there ("/v1/residents/1%00junk" read as resident 1). Each is a
 * 400 here, before anything reads the target or the body. */
static bool target_is_clean(const char *target)
{
	for (const char *p = target; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
		if (p[0] == '%' && p[1] == '0' && p[2] == '0')
			return false;
	}
	return true;
}

static bool admit_framing(struct request *req, const struct admission_facts *facts)
{
	if (facts->framing_error) {
		/* The raw bytes broke the framing (http_framing.c); evhttp may have read them two
		 * ways, so nothing more is read from this connection. */
		evhttp_add_header(evhttp_request_get_output_headers(req->http), "Connection",
		                  "close");
		request_reply_error(req, 400, "bad_request", facts->framing_error, NULL);
		return false;
	}
	struct evkeyvalq *headers = evhttp_request_get_input_headers(req->http);
	int lengths = 0;
	const char *why = NULL;
	for (struct evkeyval *h = headers ? headers->tqh_first : NULL; h && !why;
	     h = h->next.tqe_next) {
		for (const char *v = h->value; *v && !why; v++)
			if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
				why = "a header value holds a control character";
		if (strcasecmp(h->key, "Content-Length") != 0)
			continue;
		if (++lengths > 1)
			why = "the request has more than one Content-Length";
		else if (!*h->value || strspn(h->value, "0123456789") != strlen(h->value))
			why = "Content-Length must be digits only";
	}
	const char *target = evhttp_request_get_uri(req->http);
	if (!why && target && !target_is_clean(target))
		why = "the request target holds a NUL or a control character";
	if (!why)
		return true;
	request_reply_error(req, 400, "bad_request", why, NULL);
	return false;
}

/* ---- the driver ---- */

void admission_run(struct request *req, const struct admission_facts *facts)
{
	bool has_account = admit_identity(req, facts);
	if (!admit_limits(req, facts))
		return;
	if (facts->revoked) {
		/* server.c has logged and audited it; evhttp closes the connection after this
		 * answer (Connection: close). */
		char message[320];
		snprintf(message, sizeof message, "the client certificate is no longer valid: %s",
		         facts->revoked);
		evhttp_add_header(evhttp_request_get_output_headers(req->http), "Connection",
		                  "close");
		request_reply_error(req, 403, "certificate_revoked", message, NULL);
		return;
	}
	if (!has_account) {
		request_reply_error(req, 403, "forbidden",
		                    "a client certificate with a subject CN is required", NULL);
		return;
	}
	if (!admit_budget(req, facts) || !admit_framing(req, facts) || !admit_route(req, facts) ||
	    !admit_input(req, facts))
		return;
	if (req->route->handler)
		req->route->handler(req);
	else
		request_api_call(req, req->route->op, NULL, NULL);
}
