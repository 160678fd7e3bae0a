/* Writes the Prometheus text (metrics_text.h). Each family is one HELP and one TYPE line and
 * its samples; label values are escaped as the format says (\\, \", \n) although every value
 * written here comes from a closed alphabet (route patterns, centre ids, enum names). A gauge
 * that the database lists per centre is written for every centre, zeros included, so a series
 * falls to 0 instead of vanishing. */
#include "metrics_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_hub.h"
#include "metrics.h"
#include "router.h"

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value(FILE *out, const char *value)
{
	for (const char *p = value ? value : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
}

/* name{k1="v1",k2="v2"} with up to three labels (NULL key: fewer). */
static void sample_start(FILE *out, const char *name, const char *k1, const char *v1,
                         const char *k2, const char *v2, const char *k3, const char *v3)
{
	fputs(name, out);
	const char *keys[3] = {k1, k2, k3}, *values[3] = {v1, v2, v3};
	for (int i = 0; i < 3 && keys[i]; i++) {
		fprintf(out, "%s%s=\"", i == 0 ? "{" : ",", keys[i]);
		label_value(out, values[i]);
		fputc('"', out);
	}
	if (k1)
		fputc('}', out);
	fputc(' ', out);
}

static void number(FILE *out, double v)
{
	if (v == (double)(long long)v)
		fprintf(out, "%lld\n", (long long)v);
	else
		fprintf(out, "%.6f\n", v);
}

static void seconds_us(FILE *out, unsigned long long us)
{
	fprintf(out, "%llu.%06llu\n", us / 1000000, us % 1000000);
}

static double json_num(const json_t *object, const char *key)
{
	return json_number_value(json_object_get(object, key));
}

static const char *json_str(const json_t *object, const char *key)
{
	const char *s = json_string_value(json_object_get(object, key));
	return s ? s : "";
}

/* ---- HTTP ---- */

static void write_http(FILE *out, const struct metrics_inputs *in)
{
	const struct server_stats *s = &in->server;
	family(out, "rollcall_http_requests_total", "counter", "Requests received.");
	fprintf(out, "rollcall_http_requests_total %llu\n", s->requests);
	family(out, "rollcall_http_responses_total", "counter", "Responses by status class.");
	fprintf(out, "rollcall_http_responses_total{class=\"2xx\"} %llu\n", s->responses_2xx);
	fprintf(out, "rollcall_http_responses_total{class=\"4xx\"} %llu\n", s->responses_4xx);
	fprintf(out, "rollcall_http_responses_total{class=\"5xx\"} %llu\n", s->responses_5xx);

	size_t routes = router_route_count();
	if (routes > METRICS_MAX_ROUTES)
		routes = METRICS_MAX_ROUTES;
	family(out, "rollcall_http_route_responses_total", "counter",
	       "Responses by route pattern (unmatched: no route) and status code (or class).");
	for (size_t i = 0; i <= routes; i++) {
		const struct metrics_route_figures *f = metrics_route(i);
		const struct route *r = router_route_at(i);
		for (size_t c = 0; f && c < METRICS_STATUS_SLOTS; c++) {
			if (!f->responses[c])
				continue;
			char code[8];
			metrics_status_label(c, code);
			sample_start(out, "rollcall_http_route_responses_total", "method",
			             r && i < routes ? r->method : "", "route",
			             r && i < routes ? r->pattern : "unmatched", "code", code);
			fprintf(out, "%llu\n", f->responses[c]);
		}
	}

	family(out, "rollcall_http_request_duration_seconds", "histogram",
	       "Time from a complete request to its answer, by route (streams left out).");
	for (size_t i = 0; i <= routes; i++) {
		const struct metrics_route_figures *f = metrics_route(i);
		const struct route *r = router_route_at(i);
		if (!f || !f->latency_count)
			continue;
		const char *method = r && i < routes ? r->method : "";
		const char *pattern = r && i < routes ? r->pattern : "unmatched";
		unsigned long long cumulative = 0;
		for (size_t b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
			cumulative += f->latency[b];
			char le[24];
			if (b < METRICS_LATENCY_BUCKETS - 1)
				snprintf(le, sizeof le, "%g",
				         (double)metrics_latency_bounds_us[b] / 1e6);
			else
				snprintf(le, sizeof le, "+Inf");
			sample_start(out, "rollcall_http_request_duration_seconds_bucket", "method",
			             method, "route", pattern, "le", le);
			fprintf(out, "%llu\n", cumulative);
		}
		sample_start(out, "rollcall_http_request_duration_seconds_sum", "method", method,
		             "route", pattern, NULL, NULL);
		seconds_us(out, f->latency_sum_us);
		sample_start(out, "rollcall_http_request_duration_seconds_count", "method", method,
		             "route", pattern, NULL, NULL);
		fprintf(out, "%llu\n", f->latency_count);
	}

	family(out, "rollcall_http_connections", "gauge", "Open client connections.");
	fprintf(out, "rollcall_http_connections %d\n", s->connections);
	family(out, "rollcall_http_connection_cap", "gauge",
	       "Connections allowed at once: max_connections, or fewer for the descriptor limit.");
	fprintf(out, "rollcall_http_connection_cap %d\n", s->connection_cap);
	family(out, "rollcall_http_connections_closed_total", "counter",
	       "Connections closed by the daemon, by why.");
	fprintf(out, "rollcall_http_connections_closed_total{why=\"over_cap\"} %llu\n",
	        s->connections_refused);
	fprintf(out, "rollcall_http_connections_closed_total{why=\"evicted\"} %llu\n",
	        s->connections_evicted);
	fprintf(out, "rollcall_http_connections_closed_total{why=\"handshake_timeout\"} %llu\n",
	        s->handshake_timeouts);
	fprintf(out, "rollcall_http_connections_closed_total{why=\"revoked\"} %llu\n",
	        s->connections_revoked);
	family(out, "rollcall_http_accept_pauses_total", "counter",
	       "Times the listener paused accepting because descriptors ran out.");
	fprintf(out, "rollcall_http_accept_pauses_total %llu\n", s->accept_pauses);
	family(out, "rollcall_http_in_flight", "gauge",
	       "Requests being answered (streams included).");
	fprintf(out, "rollcall_http_in_flight %d\n", s->in_flight);
}

/* ---- alert streams (SSE watchers) ---- */

static void watchers_line(void *arg, const char *centre, int watchers)
{
	FILE *out = arg;
	sample_start(out, "rollcall_alert_stream_watchers", "centre", centre, NULL, NULL, NULL,
	             NULL);
	fprintf(out, "%d\n", watchers);
}

static void write_streams(FILE *out, const struct metrics_inputs *in)
{
	family(out, "rollcall_alert_streams", "gauge", "Open alert streams (SSE watchers).");
	fprintf(out, "rollcall_alert_streams %d\n", in->server.streams);
	family(out, "rollcall_alert_stream_watchers", "gauge",
	       "Alert stream watchers by centre on this instance.");
	if (in->alerts)
		alert_hub_each_centre(in->alerts, watchers_line, out);
}

/* ---- database pool, webhook sender ---- */

static void write_pool(FILE *out, const struct metrics_inputs *in)
{
	const struct db_stats *db = &in->db;
	family(out, "rollcall_db_pool_size", "gauge",
	       "Configured database connections (db_pool_size).");
	fprintf(out, "rollcall_db_pool_size %d\n", in->db_pool_size);
	family(out, "rollcall_db_connections_up", "gauge", "Database connections established.");
	fprintf(out, "rollcall_db_connections_up %d\n", db->connections_up);
	family(out, "rollcall_db_busy", "gauge", "Database connections running a statement.");
	fprintf(out, "rollcall_db_busy %d\n", db->busy);
	family(out, "rollcall_db_queued", "gauge", "Statements waiting for a database connection.");
	fprintf(out, "rollcall_db_queued %d\n", db->queued);
	family(out, "rollcall_db_queries_total", "counter", "Statements run.");
	fprintf(out, "rollcall_db_queries_total %llu\n", db->queries);
	family(out, "rollcall_db_failures_total", "counter",
	       "Statements that failed (outage, serialization retry or error).");
	fprintf(out, "rollcall_db_failures_total %llu\n", db->failures);

	family(out, "rollcall_webhook_in_flight", "gauge", "Webhook deliveries under way.");
	fprintf(out, "rollcall_webhook_in_flight %d\n", in->sender.in_flight);
	family(out, "rollcall_webhook_attempts_total", "counter",
	       "Webhook delivery attempts by this instance, by result.");
	fprintf(out, "rollcall_webhook_attempts_total{result=\"delivered\"} %llu\n",
	        in->sender.delivered);
	fprintf(out, "rollcall_webhook_attempts_total{result=\"failed\"} %llu\n",
	        in->sender.failed);
}

/* ---- TLS ---- */

static void write_tls(FILE *out, const struct metrics_inputs *in)
{
	family(out, "rollcall_tls_handshake_failures_total", "counter",
	       "TLS handshakes that failed, by reason.");
	for (int r = 0; r < TLS_FAILURE_COUNT; r++) {
		sample_start(out, "rollcall_tls_handshake_failures_total", "reason",
		             metrics_tls_failure_names[r], NULL, NULL, NULL, NULL);
		fprintf(out, "%llu\n", metrics_tls_failures((enum metrics_tls_failure)r));
	}
	family(out, "rollcall_tls_expiry_seconds", "gauge",
	       "Seconds on the daemon's clock until the file stops working: tls_cert and tls_ca "
	       "notAfter, tls_crl nextUpdate (negative: past).");
	const struct {
		const char *file;
		int64_t at;
	} files[] = {
	    {"tls_cert", in->expiry.cert_not_after},
	    {"tls_ca", in->expiry.ca_not_after},
	    {"tls_crl", in->expiry.crl_next_update},
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (files[i].at == 0)
			continue;
		sample_start(out, "rollcall_tls_expiry_seconds", "file", files[i].file, NULL, NULL,
		             NULL, NULL);
		/* Whole seconds, rounded down: a file 0.3 s from expiry has 0 s left, not 1. */
		int64_t left_us = files[i].at * 1000000 - in->now_us;
		int64_t left_s =
		    left_us >= 0 ? left_us / 1000000 : -((-left_us + 999999) / 1000000);
		fprintf(out, "%lld\n", (long long)left_s);
	}
}

/* ---- from the database ---- */

static void write_database(FILE *out, const json_t *snap)
{
	const json_t *due = json_object_get(snap, "due");
	family(out, "rollcall_due_events_pending", "gauge",
	       "Due events whose instant has passed and that are not yet decided.");
	fputs("rollcall_due_events_pending ", out);
	number(out, json_num(due, "pending"));
	family(out, "rollcall_due_events_failing", "gauge",
	       "Pending due events whose handler failed at least once.");
	fputs("rollcall_due_events_failing ", out);
	number(out, json_num(due, "failing"));
	family(out, "rollcall_due_lag_seconds", "gauge",
	       "Age of the oldest due event not yet decided (0: none).");
	fputs("rollcall_due_lag_seconds ", out);
	number(out, json_num(due, "lag_seconds"));

	const json_t *outbox = json_object_get(snap, "outbox");
	size_t i;
	const json_t *row;
	family(out, "rollcall_outbox_undelivered", "gauge",
	       "Notifications fallen due and not delivered, by centre and authority.");
	json_array_foreach(outbox, i, row)
	{
		sample_start(out, "rollcall_outbox_undelivered", "centre", json_str(row, "centre"),
		             "authority", json_str(row, "authority"), NULL, NULL);
		number(out, json_num(row, "undelivered"));
	}
	family(out, "rollcall_outbox_oldest_undelivered_seconds", "gauge",
	       "Age of the oldest undelivered notification since it fell due (0: none).");
	json_array_foreach(outbox, i, row)
	{
		sample_start(out, "rollcall_outbox_oldest_undelivered_seconds", "centre",
		             json_str(row, "centre"), "authority", json_str(row, "authority"), NULL,
		             NULL);
		number(out, json_num(row, "oldest_seconds"));
	}

	family(out, "rollcall_absences_open", "gauge", "Open absences by centre.");
	json_array_foreach(json_object_get(snap, "absences"), i, row)
	{
		sample_start(out, "rollcall_absences_open", "centre", json_str(row, "centre"), NULL,
		             NULL, NULL, NULL);
		number(out, json_num(row, "open"));
	}
	family(out, "rollcall_alerts_unacknowledged", "gauge",
	       "Alerts neither acknowledged nor resolved, by centre and kind.");
	json_array_foreach(json_object_get(snap, "alerts"), i, row)
	{
		sample_start(out, "rollcall_alerts_unacknowledged", "centre",
		             json_str(row, "centre"), "kind", json_str(row, "kind"), NULL, NULL);
		number(out, json_num(row, "open"));
	}

	family(out, "rollcall_alerts_unacknowledged_by_priority", "gauge",
	       "Alerts neither acknowledged nor resolved, by centre and priority.");
	json_array_foreach(json_object_get(snap, "alert_priorities"), i, row)
	{
		sample_start(out, "rollcall_alerts_unacknowledged_by_priority", "centre",
		             json_str(row, "centre"), "priority", json_str(row, "priority"), NULL,
		             NULL);
		number(out, json_num(row, "open"));
	}

	const json_t *channels = json_object_get(snap, "channels");
	family(out, "rollcall_channel_undelivered", "gauge",
	       "Alert deliveries to an on-call channel fallen due and not delivered.");
	json_array_foreach(channels, i, row)
	{
		sample_start(out, "rollcall_channel_undelivered", "centre", json_str(row, "centre"),
		             "channel", json_str(row, "channel"), "kind", json_str(row, "kind"));
		number(out, json_num(row, "undelivered"));
	}
	family(out, "rollcall_channel_oldest_undelivered_seconds", "gauge",
	       "Age of the oldest undelivered alert delivery of an on-call channel (0: none).");
	json_array_foreach(channels, i, row)
	{
		sample_start(out, "rollcall_channel_oldest_undelivered_seconds", "centre",
		             json_str(row, "centre"), "channel", json_str(row, "channel"), "kind",
		             json_str(row, "kind"));
		number(out, json_num(row, "oldest_seconds"));
	}
}

char *metrics_text(const struct metrics_inputs *in, size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	if (!out)
		return NULL;
	write_http(out, in);
	write_streams(out, in);
	write_pool(out, in);
	write_tls(out, in);
	write_database(out, in->snapshot);
	bool failed = ferror(out) != 0;
	if (fclose(out) != 0 || failed) {
		free(text);
		return NULL;
	}
	*len = size;
	return text;
}
