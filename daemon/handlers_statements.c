/* Allowance statements and payouts over HTTP (SPEC sections 6 and 10). PostgreSQL answers the
 * facts (schema/code/allowances.sql); statement.c and allowance.c turn them into money here.
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

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "handlers.h"
#include "handlers_allowances.h"
#include "log.h"
#include "request.h"
#include "router.h"
#include "statement.h"

/* Residents per page. The first page (which also names every later page's end) is computed
 * alone, so smaller pages start the stream sooner, but every page pays a fixed cost (the api()
 * call, planning the facts query, its audit rows): pages of 1,000 made 10,000 residents faster
 * and 100,000 slower (tests/bench). */
#define EXPORT_PAGE_RESIDENTS 2000
/* Bytes queued to the client before we wait for it to take them. (An export's tail that never
 * arrived was evhttp finishing the reply on a stale write callback; request_stream_end guards
 * against that, so this no longer needs to be small.) */
#define EXPORT_HIGH_WATER (1024 * 1024)
#define EXPORT_WAIT_US 5000 /* how often a waiting export looks again */

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
	json_t *args =
	    json_pack("{s:{s:O, s:O}, s:{}, s:n}", "path", "id", json_object_get(req->path, "id"),
	              "period_start", json_object_get(req->body, "period_start"), "query", "body");
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

/* ---- a centre: the whole export, streamed ----
 *
 * The first page comes through request_api_call, so a refusal (403, 400, 404) is an ordinary
 * answer. It also names where every later page ends, so that two pages can be computed at once
 * (one per core of the database) while the first is written out; those pages are asked with
 * db_query directly, which never answers the request itself: once the 200 is sent, a failure
 * may only end the document early. Pages are written in resident order whatever order they
 * come back in; at most EXPORT_IN_FLIGHT are computed and held at a time. */

#define EXPORT_IN_FLIGHT 2
#define EXPORT_MAX_ATTEMPTS 3
#define EXPORT_API_SQL                                                                             \
	"SELECT status, body::text FROM api($1, $2, $3::jsonb, $4::timestamptz, NULL, NULL, $5, "  \
	"$6, $7::text[])"

/* One page of residents (after, upto]: upto 0 means "no upper bound". */
struct export_page {
	int64_t after;
	int64_t upto;
	json_t *body; /* the answer, until written */
	bool asked;
};

struct export_query {
	struct export *ex;
	int64_t after; /* identifies the page when the answer comes */
	char *args;
	int attempts;
};

struct export
{
	struct request *req;
	bool csv;
	bool started; /* the 200 and the head are sent */
	bool closed;  /* the client went away */
	bool failed;  /* a page failed after the start: end the document early */
	const char *failure;
	int in_flight;
	int64_t count;
	int64_t total_ore;
	struct export_page *pages;
	size_t page_count, page_cap;
	size_t written; /* pages[0..written) are sent */
	struct event *wait;
	struct statement_text text;
};

static void export_pump(struct export *ex);

static void export_free(struct export *ex)
{
	for (size_t i = 0; i < ex->page_count; i++)
		json_decref(ex->pages[i].body);
	free(ex->pages);
	if (ex->wait)
		event_free(ex->wait);
	statement_text_free(&ex->text);
	free(ex);
}

/* Ends the export and frees it; the request goes with it. */
static void export_finish(struct export *ex)
{
	struct request *req = ex->req;
	if (ex->failed && !ex->closed) {
		log_error("req=%s centre export broken off after %" PRId64 " residents: %s",
		          req->id, ex->count, ex->failure);
		/* JSON is left without its closing brackets, so no parser takes it for complete;
		 * the CSV gets a last line that no finance import takes for a resident. */
		if (ex->csv) {
			char line[300];
			int len = snprintf(line, sizeof line,
			                   "ERROR;the export is incomplete: %s\r\n", ex->failure);
			if (len > 0 && (size_t)len < sizeof line)
				(void)request_stream_chunk(req, line, (size_t)len);
		}
	}
	req->handler_data = NULL;
	export_free(ex);
	request_stream_end(req);
}

/* Before the first byte: an ordinary answer. */
static void export_refuse(struct export *ex, int status, const json_t *body)
{
	struct request *req = ex->req;
	req->handler_data = NULL;
	export_free(ex);
	if (status >= 500 || !body)
		request_answer_unavailable(req, status >= 500 ? status : 503);
	else
		request_reply_json(req, status, json_incref((json_t *)body));
}

static void export_fail(struct export *ex, const char *why)
{
	if (!ex->failed) {
		ex->failed = true;
		ex->failure = why;
	}
}

static void export_on_close(struct request *req)
{
	struct export *ex = req->handler_data;
	if (ex)
		ex->closed = true;
}

/* Inserts a page at position `at`. */
static bool export_add_page(struct export *ex, size_t at, int64_t after, int64_t upto)
{
	if (ex->page_count == ex->page_cap) {
		size_t cap = ex->page_cap ? ex->page_cap * 2 : 16;
		struct export_page *grown = realloc(ex->pages, cap * sizeof *grown);
		if (!grown)
			return false;
		ex->pages = grown;
		ex->page_cap = cap;
	}
	memmove(&ex->pages[at + 1], &ex->pages[at], (ex->page_count - at) * sizeof *ex->pages);
	ex->pages[at] = (struct export_page){.after = after, .upto = upto};
	ex->page_count++;
	return true;
}

static int64_t integer_text(const json_t *value)
{
	if (json_is_integer(value))
		return (int64_t)json_integer_value(value);
	const char *text = json_string_value(value);
	return text ? strtoll(text, NULL, 10) : 0;
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

static bool export_item(struct export *ex, const json_t *item)
{
	char err[STATEMENT_ERROR_SIZE];
	struct statement_totals totals;
	json_t *statement = statement_build(item, &totals, NULL, err);
	if (!statement) {
		log_error("req=%s statement of malformed facts: %s", ex->req->id, err);
		return false;
	}
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
	ex->count++;
	ex->total_ore += totals.total_ore;
	return ok;
}

static bool export_tail(struct export *ex)
{
	if (ex->csv)
		return true;
	char tail[128];
	int len = snprintf(tail, sizeof tail,
	                   "],\"next\":null,\"count\":%" PRId64 ",\"total_ore\":%" PRId64 "}",
	                   ex->count, ex->total_ore);
	return len > 0 && (size_t)len < sizeof tail &&
	       statement_text_append(&ex->text, tail, (size_t)len);
}

/* Writes the page's statements; a page cut short by its limit gets a follow-up page. */
static bool export_write_page(struct export *ex, size_t index)
{
	struct export_page *page = &ex->pages[index];
	size_t i;
	const json_t *item;
	json_array_foreach(json_object_get(page->body, "items"), i, item)
	{
		if (!export_item(ex, item)) {
			export_fail(ex, "a statement could not be computed");
			return false;
		}
	}
	const json_t *next = json_object_get(page->body, "next");
	int64_t upto = page->upto;
	json_decref(page->body);
	page->body = NULL;
	if (!json_is_null(next) && next) {
		int64_t after = integer_text(next);
		bool known = index + 1 < ex->page_count && ex->pages[index + 1].after == after;
		if (!known && !export_add_page(ex, index + 1, after, upto)) {
			export_fail(ex, "out of memory");
			return false;
		}
	}
	bool ok = ex->text.len == 0 || request_stream_chunk(ex->req, ex->text.data, ex->text.len) ||
	          ex->closed;
	statement_text_reset(&ex->text);
	if (!ok)
		export_fail(ex, "cannot queue the answer");
	return ok;
}

static void export_query_free(struct export_query *q)
{
	free(q->args);
	free(q);
}

static bool export_send(struct export_query *q);

static void export_page_answer(void *arg, const struct db_result *r)
{
	struct export_query *q = arg;
	struct export *ex = q->ex;
	int64_t after = q->after;
	if (r->status == DB_RETRY && q->attempts < EXPORT_MAX_ATTEMPTS && export_send(q))
		return;
	ex->in_flight--;
	if (r->status != DB_OK || PQntuples(r->pg) != 1 || PQgetisnull(r->pg, 0, 0) ||
	    atoi(PQgetvalue(r->pg, 0, 0)) != 200) {
		if (r->status != DB_OK)
			log_warn("req=%s export page after %" PRId64 ": %s %s", ex->req->id, after,
			         r->sqlstate, r->message);
		export_fail(ex, r->status == DB_UNAVAILABLE ? "the database became unavailable"
		                                            : "a page of the export failed");
	} else {
		json_error_t jerr;
		json_t *body = json_loads(PQgetvalue(r->pg, 0, 1), 0, &jerr);
		size_t i = ex->written;
		while (i < ex->page_count &&
		       !(ex->pages[i].asked && ex->pages[i].after == after && !ex->pages[i].body))
			i++;
		if (!body || i == ex->page_count) {
			json_decref(body);
			export_fail(ex, "a page of the export was malformed");
		} else {
			ex->pages[i].body = body;
		}
	}
	export_query_free(q);
	export_pump(ex);
}

static bool export_send(struct export_query *q)
{
	struct request *req = q->ex->req;
	char now[CLOCK_TEXT_SIZE], roles[128];
	clock_format(clock_now_us(), now);
	router_roles_literal(req->route ? req->route->roles : 0, roles, sizeof roles);
	const char *params[7] = {"centre_statements", req->cn, q->args, now,
	                         req->remote,         req->id, roles};
	q->attempts++;
	return db_query_prepared_within(daemon_state->db,
	                                daemon_state->config->request_timeout_s * 1000,
	                                EXPORT_API_SQL, 7, params, export_page_answer, q);
}

static bool export_ask(struct export *ex, struct export_page *page)
{
	struct export_query *q = calloc(1, sizeof *q);
	json_t *args =
	    json_pack("{s:O, s:{}, s:n, s:{s:I, s:i}}", "path", ex->req->path, "query", "body",
	              "page", "after", (json_int_t)page->after, "limit", EXPORT_PAGE_RESIDENTS);
	if (args && page->upto > 0 &&
	    json_object_set_new(json_object_get(args, "page"), "upto",
	                        json_integer((json_int_t)page->upto)) != 0) {
		json_decref(args);
		args = NULL;
	}
	if (q && args)
		q->args = json_dumps(args, JSON_COMPACT);
	json_decref(args);
	if (!q || !q->args) {
		if (q)
			export_query_free(q);
		return false;
	}
	q->ex = ex;
	q->after = page->after;
	if (!export_send(q)) {
		export_query_free(q);
		return false;
	}
	page->asked = true;
	ex->in_flight++;
	return true;
}

static void export_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	export_pump(arg);
}

/* Writes what is ready in order, asks for what comes next, or ends. */
static void export_pump(struct export *ex)
{
	if (evtimer_pending(ex->wait, NULL))
		return; /* the timer calls again */
	while (!ex->failed && !ex->closed && ex->written < ex->page_count &&
	       ex->pages[ex->written].body) {
		if (!export_write_page(ex, ex->written))
			break;
		ex->written++;
	}
	if (ex->failed || ex->closed || ex->written == ex->page_count) {
		if (ex->in_flight > 0)
			return; /* the answers still to come call again */
		/* The end goes out right behind the last chunk (request_stream_end guards it
		 * against evhttp finishing the reply before it has been written). */
		if (!ex->failed && !ex->closed &&
		    !(export_tail(ex) &&
		      (ex->text.len == 0 ||
		       request_stream_chunk(ex->req, ex->text.data, ex->text.len))))
			export_fail(ex, "cannot queue the end of the answer");
		export_finish(ex);
		return;
	}
	if (request_stream_pending(ex->req) > EXPORT_HIGH_WATER) {
		struct timeval tv = {0, EXPORT_WAIT_US};
		if (evtimer_add(ex->wait, &tv) == 0)
			return;
		export_fail(ex, "cannot arm the wait timer");
		export_pump(ex);
		return;
	}
	for (size_t i = ex->written; i < ex->page_count && i < ex->written + EXPORT_IN_FLIGHT &&
	                             ex->in_flight < EXPORT_IN_FLIGHT;
	     i++) {
		if (ex->pages[i].asked)
			continue;
		if (!export_ask(ex, &ex->pages[i])) {
			export_fail(ex, "the database queue is full");
			export_pump(ex);
			return;
		}
	}
}

static void export_first_page(struct request *req, int status, json_t *body)
{
	struct export *ex = req->handler_data;
	if (status != 200) {
		export_refuse(ex, status, body);
		return;
	}
	/* Page 0 is this answer; then one page up to each end it names, then the rest. */
	const json_t *ends = json_object_get(body, "page_ends");
	const json_t *next = json_object_get(body, "next");
	bool ok = export_add_page(ex, 0, 0, 0);
	if (ok && next && !json_is_null(next)) {
		int64_t after = integer_text(next);
		size_t i;
		const json_t *end;
		json_array_foreach(ends, i, end)
		{
			int64_t upto = integer_text(end);
			ok = ok && export_add_page(ex, ex->page_count, after, upto);
			after = upto;
		}
		ok = ok && export_add_page(ex, ex->page_count, after, 0);
		/* Page 0's own follow-up is the first of these. */
	}
	if (ok) {
		ex->pages[0].body = json_incref(body);
		ex->pages[0].asked = true;
		/* Page 0 answers for (0, next]; its "next" must not add a page: it is known. */
	}
	if (!ok) {
		export_refuse(ex, 503, NULL);
		return;
	}
	ex->started = true;
	request_stream_start(req, 200, ex->csv ? "text/csv; charset=utf-8" : "application/json",
	                     export_on_close);
	if (!ex->closed && !export_head(ex, body))
		export_fail(ex, "out of memory");
	export_pump(ex);
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
	json_t *args =
	    json_pack("{s:O, s:{}, s:n, s:{s:i, s:i, s:b}}", "path", req->path, "query", "body",
	              "page", "after", 0, "limit", EXPORT_PAGE_RESIDENTS, "bounds", 1);
	if (!args) {
		export_refuse(ex, 503, NULL);
		return;
	}
	request_api_call(req, "centre_statements", args, export_first_page);
}
