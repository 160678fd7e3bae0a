/* API calls of one `rollcall` run (see session.h): configuration on first use, retries with the
 * same Idempotency-Key, and every outcome turned into an exit status with a plain message. */
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "http_parse.h"
#include "json_get.h"
#include "zone.h"

#define MAX_RETRIES 3
#define MAX_PAGES 100000

void session_init(struct session *session)
{
	memset(session, 0, sizeof(*session));
}

void session_free(struct session *session)
{
	http_client_free(session->http);
	if (session->config_loaded)
		config_free(&session->config);
	json_decref(session->cache);
	memset(session, 0, sizeof(*session));
}

int session_open(struct session *session)
{
	char path[PATH_MAX];
	char err[1024];

	if (session->http != NULL)
		return RC_OK;
	if (!config_choose_path(session->config_path, path, sizeof(path), err, sizeof(err)) ||
	    !config_load(path, &session->config, err, sizeof(err))) {
		fprintf(stderr, "rollcall: %s\n", err);
		return RC_USAGE;
	}
	session->config_loaded = true;
	session->http = http_client_new(&session->config, err, sizeof(err));
	if (session->http == NULL) {
		fprintf(stderr, "rollcall: %s: %s\n", session->config.path, err);
		return RC_USAGE;
	}
	return RC_OK;
}

time_t session_now(const struct session *session)
{
	return session->server_date != 0 ? session->server_date : time(NULL);
}

void answer_free(struct answer *answer)
{
	json_decref(answer->json);
	free(answer->text);
	answer->json = NULL;
	answer->text = NULL;
	answer->text_len = 0;
}

/* What a 403 refused, in words, from the daemon's code and message (schema/code/api.sql and
 * accounts.sql, daemon/admission.c): the role, the centre, the account or the certificate.
 * Only what the server said is claimed; anything else gets the general sentence. */
static const char *forbidden_hint(const char *code, const char *message)
{
	static const struct {
		const char *code;  /* NULL: any */
		const char *words; /* in the message */
		const char *hint;
	} hints[] = {
	    {"certificate_revoked", NULL,
	     "your certificate is no longer valid: ask the IT person for a new one"},
	    {NULL, "no account for this certificate",
	     "the server knows no account for your certificate's name (CN): the IT person "
	     "creates it (rollcall account add CN --role ROLE)"},
	    {NULL, "account is disabled",
	     "your account is disabled: ask the IT person if that is a mistake"},
	    {NULL, "role may not do this",
	     "your account's role does not allow this (the message above names the role "
	     "needed): ask a manager or the IT person"},
	    {NULL, "not one of your centres",
	     "your account is not for that centre: it sees only its own centres"},
	    {NULL, "not at any of your centres",
	     "that is at a centre your account is not for: it sees only its own centres"},
	    {NULL, "subject CN is required",
	     "your certificate names no account (it has no subject CN): ask the IT person"},
	};
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		if (hints[i].code != NULL && (code == NULL || strcmp(hints[i].code, code) != 0))
			continue;
		if (hints[i].words != NULL &&
		    (message == NULL || strstr(message, hints[i].words) == NULL))
			continue;
		return hints[i].hint;
	}
	return "the server refused this for your account (its role or centres do not allow it)";
}

void session_report_refusal(const struct answer *answer)
{
	const json_t *error =
	    json_is_object(answer->json) ? json_object_get(answer->json, "error") : NULL;
	const char *code = jget_str(error, "code");
	const char *message = jget_str(error, "message");
	const char *field = jget_str(error, "field");

	if (message != NULL) {
		/* Instants in the server's words are shown in the centre's time, as everywhere. */
		char local[2048];
		fprintf(stderr, "rollcall: refused: %s",
		        zone_localise_text(zone_display(), message, local, sizeof(local)));
		if (field != NULL && field[0] != '\0')
			fprintf(stderr, " (field: %s)", field);
		fprintf(stderr, " [HTTP %d%s%s]\n", answer->status, code ? ", " : "",
		        code ? code : "");
	} else {
		/* Not our JSON error document: show the start of whatever it is. */
		int n = (int)(answer->text_len < 200 ? answer->text_len : 200);
		const char *text = answer->text ? answer->text : "";
		int line = (int)strcspn(text, "\r\n");
		fprintf(stderr, "rollcall: refused: HTTP %d%s%.*s\n", answer->status,
		        n > 0 ? ": " : "", line < n ? line : n, text);
	}
	if (answer->status == 403)
		fprintf(stderr, "rollcall: %s\n", forbidden_hint(code, message));
	else if (answer->status == 503)
		fprintf(stderr,
		        "rollcall: the server is unavailable for now (nothing was changed); "
		        "try again shortly\n");
}

/* The body as JSON when it looks like JSON; NULL otherwise (that is not an error by itself). */
static json_t *parse_body(const char *body, size_t len, const char *content_type)
{
	if (body == NULL || len == 0)
		return NULL;
	const char *p = body;
	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	if (strcmp(content_type, "application/json") != 0 && *p != '{' && *p != '[')
		return NULL;
	json_error_t error;
	return json_loadb(body, len, 0, &error);
}

/* Long because one request's retry loop (idempotent retries, the retry budget, the error a
 * person sees) is clearer in one piece than split across helpers that share its state. */
int session_call(struct session *session, const struct call *call, struct answer *answer)
{
	memset(answer, 0, sizeof(*answer));
	int rc = session_open(session);
	if (rc != RC_OK)
		return rc;

	bool quiet = call->quiet || session->quiet;
	bool is_get = strcmp(call->method, "GET") == 0;
	char key[33];
	if (!is_get && call->idempotency_key != NULL && strlen(call->idempotency_key) < sizeof(key))
		snprintf(key, sizeof(key), "%s", call->idempotency_key);
	else if (!is_get && !http_new_idempotency_key(key)) {
		fprintf(stderr, "rollcall: the random number generator failed; nothing was sent\n");
		return RC_UNREACHABLE;
	}
	char *body = NULL;
	if (!is_get) {
		body = call->body ? json_dumps(call->body, JSON_COMPACT) : strdup("{}");
		if (body == NULL) {
			fprintf(stderr, "rollcall: out of memory\n");
			return RC_UNREACHABLE;
		}
	}

	struct http_request request = {
	    .method = call->method,
	    .path = call->path,
	    .body = body,
	    .body_len = body ? strlen(body) : 0,
	    .accept = call->accept,
	    .idempotency_key = is_get ? NULL : key,
	    .last_event_id = call->last_event_id,
	    .read_timeout_ms = call->read_timeout_ms,
	    .sink = call->sink,
	    .sink_arg = call->sink_arg,
	    .wait_mask = session->wait_mask,
	    .stop = session->stop,
	};
	struct http_response response;
	bool answered = false;

	for (int attempt = 0;; attempt++) {
		answered = http_exchange(session->http, &request, &response, &answer->error);
		if (answered)
			break;
		bool streamed = response.sink_used;
		http_response_free(&response);
		if (call->no_retry || attempt == MAX_RETRIES || streamed ||
		    !net_failure_retryable(answer->error.kind))
			break;
		int delay_ms = 1000 << attempt;
		if (!session->quiet_retries && !quiet) {
			char why[512];
			http_explain(session->http, &answer->error, why, sizeof(why));
			fprintf(stderr, "rollcall: %s; trying again in %d s (%d of %d)\n", why,
			        delay_ms / 1000, attempt + 1, MAX_RETRIES);
		}
		if (!http_sleep(delay_ms, session->wait_mask, session->stop)) {
			answer->error.kind = NET_INTERRUPTED;
			break;
		}
	}
	free(body);
	session->last_error = answer->error;

	if (!answered) {
		if (answer->error.kind != NET_INTERRUPTED && !quiet) {
			char why[512];
			http_explain(session->http, &answer->error, why, sizeof(why));
			fprintf(stderr, "rollcall: %s\n", why);
		}
		return RC_UNREACHABLE;
	}

	if (response.date != 0)
		session->server_date = response.date;
	answer->status = response.status;
	answer->text = response.body;
	answer->text_len = response.body_len;
	response.body = NULL;
	bool success = response.status >= 200 && response.status < 300;
	if (!(success && call->sink != NULL)) {
		answer->json = parse_body(answer->text, answer->text_len, response.content_type);
		if (success && answer->json == NULL && answer->text_len > 0 &&
		    strcmp(response.content_type, "application/json") == 0) {
			if (!quiet)
				fprintf(stderr,
				        "rollcall: the server's answer is not valid JSON\n");
			return RC_UNREACHABLE;
		}
	}
	if (success)
		return RC_OK;
	if (!quiet) {
		session_report_refusal(answer);
		if (session->json && answer->json != NULL)
			(void)print_json(answer->json);
	}
	return RC_REFUSED;
}

/* Takes the JSON of a successful answer out of it. */
static int take_json(int rc, struct answer *answer, json_t **out)
{
	if (rc == RC_OK) {
		*out = answer->json;
		answer->json = NULL;
	}
	answer_free(answer);
	return rc;
}

int session_get(struct session *session, const char *path, json_t **out)
{
	struct call call = {.method = "GET", .path = path};
	struct answer answer;
	return take_json(session_call(session, &call, &answer), &answer, out);
}

int session_send(struct session *session, const char *method, const char *path, const json_t *body,
                 json_t **out)
{
	struct call call = {.method = method, .path = path, .body = body};
	struct answer answer;
	return take_json(session_call(session, &call, &answer), &answer, out);
}

int session_list(struct session *session, const char *path, json_t **items)
{
	static const char *const list_keys[] = {"items", NULL};
	json_t *all = json_array();
	char page_path[2048];
	char cursor[PATH_PART_SIZE];
	int rc = RC_OK;

	if (all == NULL) {
		fprintf(stderr, "rollcall: out of memory\n");
		return RC_UNREACHABLE;
	}
	snprintf(page_path, sizeof(page_path), "%s", path);
	for (int page = 0; page < MAX_PAGES; page++) {
		json_t *answer = NULL;
		rc = session_get(session, page_path, &answer);
		if (rc != RC_OK)
			break;
		json_t *list = json_is_array(answer) ? answer : jget_array_of(answer, list_keys);
		if (list == NULL) {
			fprintf(stderr, "rollcall: the server's answer to %s is not a list\n",
			        path);
			json_decref(answer);
			rc = RC_UNREACHABLE;
			break;
		}
		if (json_array_extend(all, list) != 0) {
			json_decref(answer);
			fprintf(stderr, "rollcall: out of memory\n");
			rc = RC_UNREACHABLE;
			break;
		}
		/* A cursor may be a string or a number; null or absent ends the list. */
		char next[256];
		jget_text(answer, "next", next, sizeof(next));
		json_decref(answer);
		if (next[0] == '\0')
			break;
		if (!path_escape(next, cursor) ||
		    !path_format(page_path, sizeof(page_path), "%s%safter=%s", path,
		                 strchr(path, '?') ? "&" : "?", cursor)) {
			rc = RC_UNREACHABLE;
			break;
		}
	}
	if (rc != RC_OK) {
		json_decref(all);
		return rc;
	}
	*items = all;
	return RC_OK;
}

/* Looks path up in the run's cache, or fetches it with fetch and keeps it. Lists and single
 * answers are kept under different keys, as the same path could be asked both ways. */
static int cached(struct session *session, const char *kind, const char *path,
                  int (*fetch)(struct session *, const char *, json_t **), json_t **out)
{
	char key[2100];
	snprintf(key, sizeof(key), "%s %s", kind, path);
	if (session->cache == NULL) {
		session->cache = json_object();
		if (session->cache == NULL) {
			fprintf(stderr, "rollcall: out of memory\n");
			return RC_UNREACHABLE;
		}
	}
	json_t *known = json_object_get(session->cache, key);
	if (known != NULL) {
		*out = known;
		return RC_OK;
	}
	json_t *value = NULL;
	int rc = fetch(session, path, &value);
	if (rc != RC_OK)
		return rc;
	if (value == NULL)
		value = json_null();
	if (json_object_set_new(session->cache, key, value) != 0) {
		fprintf(stderr, "rollcall: out of memory\n");
		return RC_UNREACHABLE;
	}
	*out = value;
	return RC_OK;
}

int session_get_cached(struct session *session, const char *path, json_t **out)
{
	return cached(session, "get", path, session_get, out);
}

int session_list_cached(struct session *session, const char *path, json_t **items)
{
	return cached(session, "list", path, session_list, items);
}

bool path_format(char *out, size_t outlen, const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(out, outlen, format, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen) {
		fprintf(stderr, "rollcall: a request path is too long\n");
		return false;
	}
	return true;
}

bool path_escape(const char *value, char out[PATH_PART_SIZE])
{
	if (!url_escape(value, out, PATH_PART_SIZE)) {
		fprintf(stderr, "rollcall: '%.40s...' is too long\n", value);
		return false;
	}
	return true;
}

bool flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "rollcall: cannot write the output: %s\n", strerror(errno));
		return false;
	}
	return true;
}

bool print_json(const json_t *value)
{
	if (json_dumpf(value, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0 ||
	    fputc('\n', stdout) == EOF) {
		(void)flush_stdout(); /* says why */
		return false;
	}
	return flush_stdout();
}

bool print_text(const char *text)
{
	if (fputs(text, stdout) == EOF) {
		(void)flush_stdout(); /* says why */
		return false;
	}
	return true;
}

int print_table(const struct table *table)
{
	char *text = table_render(table);
	if (text == NULL) {
		fprintf(stderr, "rollcall: out of memory\n");
		return RC_REFUSED;
	}
	int rc = print_text(text) ? RC_OK : RC_REFUSED;
	free(text);
	return rc;
}
