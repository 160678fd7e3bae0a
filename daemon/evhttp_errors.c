/* evhttp's own error replies in SPEC section 8's shape: {"error":{"code","message","field"}}.
 *
 * evhttp 2.1 answers what it refuses before any callback of ours runs (a body over
 * max_body_bytes as soon as its Content-Length or its chunks show it, a header block over
 * max_header_bytes, a malformed request line or header, a method it does not allow, an
 * Expect it does not know) with evhttp_send_error(), whose body is a fixed HTML page; 2.1 has
 * no hook to change it (evhttp_set_errorcb came in 2.2). evhttp calls evhttp_send_error()
 * through the PLT, as an exported function of the shared library, so the definition below,
 * in the executable, is the one it calls (symbol interposition, the way an executable's
 * malloc replaces libc's): the same status and Connection: close, a JSON body instead of the
 * page. It uses only public API (evhttp_send_reply) and the two fields of http_struct.h that
 * libevent's own version sets for a request whose first line never parsed. Were libevent
 * linked statically, or built with -Bsymbolic, evhttp would keep its HTML page: the body
 * limit would still hold, only the body's shape would differ; tests/api/test_body_limit.py
 * checks the shape. rollcalld's own calls (an out-of-memory 503) come here as well. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

struct evhttp_error {
	int status;
	const char *code;
	const char *message;
};

static const struct evhttp_error evhttp_errors[] = {
    {400, "bad_request", "the request is not valid HTTP"},
    {405, "method_not_allowed", "this path does not take that method"},
    {413, "body_too_large", "the request body exceeds the configured limit"},
    {417, "expectation_failed", "the only Expect this server knows is 100-continue"},
    {501, "not_implemented", "this server does not implement that method"},
    {503, "overloaded", "the daemon cannot take this request now; try again"},
    {0, "error", "the request cannot be served"},
};

void evhttp_send_error(struct evhttp_request *req, int error, const char *reason);

__attribute__((visibility("default"))) void evhttp_send_error(struct evhttp_request *req, int error,
                                                              const char *reason)
{
	const struct evhttp_error *e = evhttp_errors;
	/* A stream that broke the framing (http_framing.c) is refused as such: evhttp 2.1 calls a
	 * corrupt chunk "too long" (413), and may have refused it for another reason. */
	const char *framing = (error == 400 || error == 413) ? server_framing_error(req) : NULL;
	if (framing) {
		error = 400;
		reason = "Bad Request";
	}
	while (e->status && e->status != error)
		e++;
	struct evbuffer *buf = evbuffer_new();
	json_t *body = json_pack("{s:{s:s, s:s, s:n}}", "error", "code", e->code, "message",
	                         framing ? framing : e->message, "field");
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!buf || !text || evbuffer_add(buf, text, strlen(text)) != 0) {
		/* As libevent does when it cannot build its page: drop the connection. */
		free(text);
		if (buf)
			evbuffer_free(buf);
		if (req->evcon)
			evhttp_connection_free(req->evcon);
		return;
	}
	free(text);
	/* A request whose first line did not parse has no version yet; answer as HTTP/1.1. */
	if (!req->major || !req->minor) {
		req->major = 1;
		req->minor = 1;
	}
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_clear_headers(out);
	evhttp_add_header(out, "Content-Type", "application/json");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "Connection", "close");
	evhttp_send_reply(req, error, reason, buf);
	evbuffer_free(buf);
}
