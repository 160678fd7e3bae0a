/* Allowance statements and payouts over HTTP (SPEC sections 6 and 10). PostgreSQL answers the
 * facts (schema/007_allowances.sql); statement.c and allowance.c turn them into money here.
 *
 * A centre's statements are walked a page of residents at a time (one api() call per page, in
 * resident order) and streamed as they come, as JSON or as the finance CSV, so that 100,000
 * residents never sit in memory at once; the next page is asked for only once the client has
 * taken most of the previous one. */
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "handlers.h"
#include "handlers_allowances.h"
#include "log.h"
#include "request.h"
#include "statement.h"

#define EXPORT_PAGE_RESIDENTS 2000
#define EXPORT_HIGH_WATER (1024 * 1024) /* bytes queued to the client before we wait */
#define EXPORT_WAIT_US 5000              /* how often a waiting export looks again */

/* ---- one resident ---- */

static void resident_statement_done(struct request *req, int status, json_t *body)
{
	if (status >= 500) {
		request_answer_unavailable(req, status);
		return;
	}
	if (status != 200) {
		request_reply_json(req, status, json_incref(body));
		return;
	}
	char err[STATEMENT_ERROR_SIZE];
	json_t *statement = statement_build(body, NULL, NULL, err);
	if (!statement) {
		log_error("req=%s statement of malformed facts: %s", req->id, err);
		request_reply_error(req, 500, "internal", "internal error; see the daemon's log",
				    NULL);
		return;
	}
	request_reply_json(req, 200, statement);
}

void handle_resident_statement(struct request *req)
{
	request_api_call(req, "resident_statement", NULL, resident_statement_done);
}

/* ---- payout ---- */

/* While the facts are read, the Idempotency-Key is held aside in the request's (otherwise
 * empty) query object: the read must not claim the key, or the payout that follows would
 * replay the read's answer. Kept there, the request's own cleanup frees it on every path. */
#define HELD_KEY "\x01idempotency_key"

static void payout_facts_done(struct request *req, int status, json_t *body)
{
	const char *held = json_string_value(json_object_get(req->query, HELD_KEY));
	if (held) {
		req->idem_key = strdup(held);
		(void)json_object_del(req->query, HELD_KEY);
		if (!req->idem_key) {
			request_reply_error(req, 503, "overloaded", "out of memory", NULL);
			return;
		}
	}
	if (status >= 500) {
		request_answer_unavailable(req, status);
		return;
	}
	if (status != 200) {
		request_reply_json(req, status, json_incref(body));
		return;
	}
	/* A period already paid yields no arguments: the payout op then answers 409 with the
	 * first payout (or replays this request's first answer under its Idempotency-Key). */
	char err[STATEMENT_ERROR_SIZE];
	json_t *payout_args = NULL;
	json_t *statement = statement_build(body, NULL, &payout_args, err);
	if (!statement) {
		log_error("req=%s payout of malformed facts: %s", req->id, err);
		request_reply_error(req, 500, "internal", "internal error; see the daemon's log",
				    NULL);
		return;
	}
	json_decref(statement);
	json_t *args = json_pack("{s:{s:O}, s:{}, s:O, s:o}", "path", "id",
				 json_object_get(req->path, "id"), "query", "body", req->body,
				 "statement", payout_args ? payout_args : json_null());
	if (!args) {
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
		return;
	}
	request_api_call(req, "resident_payout", args, NULL);
}

void handle_resident_payout(struct request *req)
{
	json_t *args = json_pack("{s:{s:O, s:O}, s:{}, s:n}", "path", "id",
				 json_object_get(req->path, "id"), "period_start",
				 json_object_get(req->body, "period_start"), "query", "body");
	if (!args) {
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
		return;
	}
	if (req->idem_key) {
		if (!req->query)
			req->query = json_object();
		if (!req->query ||
		    json_object_set_new(req->query, HELD_KEY, json_string(req->idem_key)) != 0) {
			json_decref(args);
			request_reply_error(req, 503, "overloaded", "out of memory", NULL);
			return;
		}
		free(req->idem_key);
		req->idem_key = NULL;
	}
	request_api_call(req, "resident_statement", args, payout_facts_done);
}

/* ---- a centre: one page as a list ---- */

/* The statements of a page's facts items, appended to `items`; sums into count and total. */
static bool page_statements(struct request *req, const json_t *facts_items, json_t *items)
{
	size_t i;
	const json_t *item;
	json_array_foreach(facts_items, i, item)
	{
		char err[STATEMENT_ERROR_SIZE];
		json_t *statement = statement_build(item, NULL, NULL, err);
		if (!statement) {
			log_error("req=%s statement of malformed facts: %s", req->id, err);
			return false;
		}
		if (json_array_append_new(items, statement) != 0)
			return false;
	}
	return true;
}

static void centre_page_done(struct request *req, int status, json_t *body)
{
	if (status >= 500) {
		request_answer_unavailable(req, status);
		return;
	}
	if (status != 200) {
		request_reply_json(req, status, json_incref(body));
		return;
	}
	json_t *items = json_array();
	json_t *answer = json_object();
	const char *const copied[] = {"centre", "period_start", "period_end", "next"};
	bool ok = items && answer && page_statements(req, json_object_get(body, "items"), items);
	for (size_t i = 0; ok && i < sizeof copied / sizeof copied[0]; i++)
		ok = json_object_set(answer, copied[i], json_object_get(body, copied[i])) == 0;
	ok = ok && json_object_set(answer, "items", items) == 0;
	json_decref(items);
	if (!ok) {
		json_decref(answer);
		request_reply_error(req, 500, "internal", "internal error; see the daemon's log",
				    NULL);
		return;
	}
	request_reply_json(req, 200, answer);
}

/* ---- a centre: the whole export, streamed ---- */

struct export {
	struct request *req;
	bool csv;
	bool started;  /* the 200 and the head are sent */
	bool closed;   /* the client went away */
	int64_t after; /* the last resident sent */
	int64_t count;
	int64_t total_ore;
	struct event *wait;
	struct statement_text text;
};

static void export_fetch(struct export *ex);

/* Ends the export and frees it; the request goes with it. */
static void export_finish(struct export *ex)
{
	struct request *req = ex->req;
	req->handler_data = NULL;
	if (ex->wait)
		event_free(ex->wait);
	statement_text_free(&ex->text);
	free(ex);
	request_stream_end(req);
}

/* Before the first byte: a normal answer. */
static void export_refuse(struct export *ex, int status, const json_t *body)
{
	struct request *req = ex->req;
	req->handler_data = NULL;
	if (ex->wait)
		event_free(ex->wait);
	statement_text_free(&ex->text);
	free(ex);
	if (status >= 500 || !body)
		request_answer_unavailable(req, status >= 500 ? status : 500);
	else
		request_reply_json(req, status, json_incref((json_t *)body));
}

/* After the first byte the status is sent: a failure can only show in the document. JSON is
 * left without its closing brackets, so no parser takes it for complete; the CSV gets a last
 * line that no finance import takes for a resident. */
static void export_fail(struct export *ex, const char *why)
{
	log_error("req=%s centre export broken off after %" PRId64 " residents: %s", ex->req->id,
		  ex->count, why);
	if (ex->csv && !ex->closed) {
		char line[300];
		int len = snprintf(line, sizeof line, "ERROR;the export is incomplete: %s\r\n", why);
		if (len > 0)
			(void)request_stream_chunk(ex->req, line,
						   (size_t)len < sizeof line ? (size_t)len
									    : sizeof line - 1);
	}
	export_finish(ex);
}

static void export_on_close(struct request *req)
{
	struct export *ex = req->handler_data;
	if (ex)
		ex->closed = true;
}

static bool export_head(struct export *ex, const json_t *body)
{
	if (ex->csv)
		return statement_csv_header(&ex->text);
	json_t *head = json_pack("{s:O, s:O, s:O}", "centre", json_object_get(body, "centre"),
				 "period_start", json_object_get(body, "period_start"),
				 "period_end", json_object_get(body, "period_end"));
	char *text = head ? json_dumps(head, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(head);
	/* {"centre":…,"period_start":…,"period_end":…  and then  ,"items":[ */
	bool ok = text && statement_text_append(&ex->text, text, strlen(text) - 1) &&
		  statement_text_append(&ex->text, ",\"items\":[", 10);
	free(text);
	return ok;
}

static bool export_item(struct export *ex, const json_t *item, char err[STATEMENT_ERROR_SIZE])
{
	struct statement_totals totals;
	json_t *statement = statement_build(item, &totals, NULL, err);
	if (!statement)
		return false;
	bool ok;
	if (ex->csv) {
		ok = statement_csv_row(&ex->text, statement, &totals);
	} else {
		char *text = json_dumps(statement, JSON_COMPACT | JSON_ENSURE_ASCII);
		ok = text && (ex->count == 0 || statement_text_append(&ex->text, ",", 1)) &&
		     statement_text_append(&ex->text, text, strlen(text));
		free(text);
	}
	json_decref(statement);
	if (!ok)
		snprintf(err, STATEMENT_ERROR_SIZE, "out of memory");
	ex->count++;
	ex->total_ore += totals.total_ore;
	return ok;
}

static bool export_tail(struct export *ex)
{
	if (ex->csv)
		return true;
	char tail[128];
	int len = snprintf(tail, sizeof tail, "],\"next\":null,\"count\":%" PRId64
					      ",\"total_ore\":%" PRId64 "}",
			   ex->count, ex->total_ore);
	return len > 0 && (size_t)len < sizeof tail &&
	       statement_text_append(&ex->text, tail, (size_t)len);
}

static bool export_flush(struct export *ex)
{
	bool ok = ex->text.len == 0 || request_stream_chunk(ex->req, ex->text.data, ex->text.len);
	statement_text_reset(&ex->text);
	return ok;
}

/* Asks for the next page once the client has taken most of what was sent. */
static void export_continue(struct export *ex)
{
	if (ex->closed) {
		export_finish(ex);
		return;
	}
	if (request_stream_pending(ex->req) > EXPORT_HIGH_WATER) {
		struct timeval tv = {0, EXPORT_WAIT_US};
		if (evtimer_add(ex->wait, &tv) != 0)
			export_fail(ex, "cannot arm the wait timer");
		return;
	}
	export_fetch(ex);
}

static void export_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	export_continue(arg);
}

static void export_page_done(struct request *req, int status, json_t *body)
{
	struct export *ex = req->handler_data;
	if (!ex->started) {
		if (status != 200) {
			export_refuse(ex, status, body);
			return;
		}
		ex->started = true;
		request_stream_start(req, 200,
				     ex->csv ? "text/csv; charset=utf-8"
					     : "application/json",
				     export_on_close);
		if (ex->closed) {
			export_finish(ex);
			return;
		}
		if (!export_head(ex, body)) {
			export_fail(ex, "out of memory");
			return;
		}
	} else if (status != 200) {
		export_fail(ex, status == 503 ? "the database became unavailable"
					      : "a page of the export failed");
		return;
	}
	if (ex->closed) {
		export_finish(ex);
		return;
	}
	size_t i;
	const json_t *item;
	json_array_foreach(json_object_get(body, "items"), i, item)
	{
		char err[STATEMENT_ERROR_SIZE];
		if (!export_item(ex, item, err)) {
			log_error("req=%s export item: %s", req->id, err);
			export_fail(ex, "a statement could not be computed");
			return;
		}
	}
	const char *next = json_string_value(json_object_get(body, "next"));
	if (!next && !export_tail(ex)) {
		export_fail(ex, "out of memory");
		return;
	}
	if (!export_flush(ex) && !ex->closed) {
		export_fail(ex, "cannot queue the answer");
		return;
	}
	if (!next) {
		export_finish(ex);
		return;
	}
	ex->after = strtoll(next, NULL, 10);
	export_continue(ex);
}

static void export_fetch(struct export *ex)
{
	struct request *req = ex->req;
	json_t *args = json_pack("{s:O, s:{}, s:n, s:{s:I, s:i}}", "path", req->path, "query",
				 "body", "page", "after", (json_int_t)ex->after, "limit",
				 EXPORT_PAGE_RESIDENTS);
	if (!args) {
		if (ex->started)
			export_fail(ex, "out of memory");
		else
			export_refuse(ex, 503, NULL);
		return;
	}
	request_api_call(req, "centre_statements", args, export_page_done);
}

void handle_centre_statements(struct request *req)
{
	/* ?limit= or ?after= ask for one page of the list (SPEC section 10's paging); without
	 * them, and always for CSV, the answer is the whole centre, streamed. */
	bool paged = json_object_get(req->query, "limit") || json_object_get(req->query, "after");
	if (paged && !req->wants_csv) {
		request_api_call(req, "centre_statements", NULL, centre_page_done);
		return;
	}
	struct export *ex = calloc(1, sizeof *ex);
	if (ex)
		ex->wait = evtimer_new(daemon_state->base, export_wait_cb, ex);
	if (!ex || !ex->wait) {
		free(ex);
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
		return;
	}
	ex->req = req;
	ex->csv = req->wants_csv;
	req->handler_data = ex;
	export_fetch(ex);
}
