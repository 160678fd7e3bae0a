/* Handlers for the routes that are not a single api() call: health and readiness, Prometheus
 * metrics, and the test clock (whose PUT answers only after every event due up to the new
 * instant has been decided and committed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
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
	if (!db_query(daemon_state->db, "SELECT 1", 0, NULL, readyz_result, req))
		request_reply_error(req, 503, "overloaded", "the database queue is full", NULL);
}

static void metrics_authorised(struct request *req, int status, json_t *body)
{
	if (request_reply_unless_ok(req, status, body))
		return;
	struct server_stats s;
	struct db_stats db;
	server_stats(daemon_state->server, &s);
	db_pool_stats(daemon_state->db, &db);
	char text[4096];
	int len =
	    snprintf(text, sizeof text,
	             "# TYPE rollcall_http_requests_total counter\n"
	             "rollcall_http_requests_total %llu\n"
	             "# TYPE rollcall_http_responses_total counter\n"
	             "rollcall_http_responses_total{class=\"2xx\"} %llu\n"
	             "rollcall_http_responses_total{class=\"4xx\"} %llu\n"
	             "rollcall_http_responses_total{class=\"5xx\"} %llu\n"
	             "# TYPE rollcall_http_request_duration_seconds_sum counter\n"
	             "rollcall_http_request_duration_seconds_sum %llu.%06llu\n"
	             "# TYPE rollcall_http_connections gauge\n"
	             "rollcall_http_connections %d\n"
	             "# TYPE rollcall_http_connection_cap gauge\n"
	             "rollcall_http_connection_cap %d\n"
	             "# TYPE rollcall_http_connections_closed_total counter\n"
	             "rollcall_http_connections_closed_total{why=\"over_cap\"} %llu\n"
	             "rollcall_http_connections_closed_total{why=\"evicted\"} %llu\n"
	             "rollcall_http_connections_closed_total{why=\"handshake_timeout\"} "
	             "%llu\n"
	             "rollcall_http_connections_closed_total{why=\"revoked\"} %llu\n"
	             "# TYPE rollcall_http_accept_pauses_total counter\n"
	             "rollcall_http_accept_pauses_total %llu\n"
	             "# TYPE rollcall_http_in_flight gauge\n"
	             "rollcall_http_in_flight %d\n"
	             "# TYPE rollcall_alert_streams gauge\n"
	             "rollcall_alert_streams %d\n"
	             "# TYPE rollcall_db_connections_up gauge\n"
	             "rollcall_db_connections_up %d\n"
	             "# TYPE rollcall_db_busy gauge\n"
	             "rollcall_db_busy %d\n"
	             "# TYPE rollcall_db_queued gauge\n"
	             "rollcall_db_queued %d\n"
	             "# TYPE rollcall_db_queries_total counter\n"
	             "rollcall_db_queries_total %llu\n"
	             "# TYPE rollcall_db_failures_total counter\n"
	             "rollcall_db_failures_total %llu\n",
	             s.requests, s.responses_2xx, s.responses_4xx, s.responses_5xx,
	             s.duration_us_total / 1000000, s.duration_us_total % 1000000, s.connections,
	             s.connection_cap, s.connections_refused, s.connections_evicted,
	             s.handshake_timeouts, s.connections_revoked, s.accept_pauses, s.in_flight,
	             s.streams, db.connections_up, db.busy, db.queued, db.queries, db.failures);
	request_reply_text(req, 200, "text/plain; version=0.0.4", text,
	                   len > 0 && (size_t)len < sizeof text ? (size_t)len : 0);
}

void handle_metrics(struct request *req)
{
	request_api_call(req, "metrics_auth", NULL, metrics_authorised);
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
