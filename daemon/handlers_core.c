/* Handlers for the routes that are not a single api() call: health and readiness, Prometheus
 * metrics, and the test clock (whose PUT answers only after every event due up to the new
 * instant has been decided and committed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert_expiry.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "metrics_text.h"
#include "request.h"
#include "server.h"

void handle_healthz(struct request *req)
{
	request_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void readyz_result(void *arg, const struct db_result *r)
{
	struct request *req = arg;
	if (r->status == DB_OK)
		request_reply_json(req, 200,
		                   json_pack("{s:s, s:s}", "status", "ready", "database", "ok"));
	else
		request_reply_error(req, 503, "database_unavailable", "the database is unreachable",
		                    NULL);
}

void handle_readyz(struct request *req)
{
	if (!db_query_within(daemon_state->db, daemon_state->config->request_timeout_s * 1000,
	                     "SELECT 1", 0, NULL, readyz_result, req))
		request_reply_error(req, 503, "overloaded", "the database queue is full", NULL);
}

/* api() has checked the role (admin or metrics) and answered metrics_snapshot() from the same
 * statement: one round trip through the pool, off the event loop's back. */
static void metrics_answered(struct request *req, int status, json_t *body)
{
	if (request_reply_unless_ok(req, status, body))
		return;
	struct daemon *d = daemon_state;
	struct metrics_inputs in = {
	    .db_pool_size = d->config->db_pool_size,
	    .alerts = d->alerts,
	    .now_us = clock_now_us(),
	    .snapshot = body,
	};
	server_stats(d->server, &in.server);
	db_pool_stats(d->db, &in.db);
	if (d->sender)
		sender_stats(d->sender, &in.sender);
	if (d->cert)
		in.expiry = *cert_expiry_instants(d->cert);
	size_t len = 0;
	char *text = metrics_text(&in, &len);
	if (!text) {
		log_error("req=%s metrics: out of memory writing the text", req->id);
		request_reply_error(req, 500, "internal", "the metrics could not be written", NULL);
		return;
	}
	request_reply_text(req, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}

void handle_metrics(struct request *req)
{
	request_api_call(req, "metrics", NULL, metrics_answered);
}

static void clock_answer(struct request *req)
{
	char now[CLOCK_TEXT_SIZE];
	clock_format(clock_now_us(), now);
	request_reply_json(req, 200, json_pack("{s:s}", "now", now));
}

static void clock_got(struct request *req, int status, json_t *body)
{
	if (request_reply_unless_ok(req, status, body))
		return;
	clock_answer(req);
}

void handle_clock_get(struct request *req)
{
	request_api_call(req, "clock_get", NULL, clock_got);
}

static void clock_settled(void *arg, bool ok)
{
	struct request *req = arg;
	if (daemon_state->sender)
		sender_kick(daemon_state->sender);
	if (!ok) {
		request_reply_error(req, 503, "database_unavailable",
		                    "the clock was set but due events could not all be decided; "
		                    "they will be decided when the database returns",
		                    NULL);
		return;
	}
	clock_answer(req);
}

static void clock_stored(struct request *req, int status, json_t *body)
{
	if (request_reply_unless_ok(req, status, body))
		return;
	int64_t us;
	const char *now = json_string_value(json_object_get(body, "now"));
	if (!now || !clock_parse(now, &us)) {
		log_error("req=%s clock_set answered without a valid instant", req->id);
		request_answer_unavailable(req, 500);
		return;
	}
	clock_set_us(us);
	due_engine_run_now(daemon_state->due, clock_settled, req);
}

void handle_clock_put(struct request *req)
{
	request_api_call(req, "clock_set", NULL, clock_stored);
}
