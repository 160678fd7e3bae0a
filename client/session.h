/* One run of `rollcall` talking to the daemon: the configuration (loaded on first use, so usage
 * errors never need it), the TLS client, and API calls that turn every outcome into an exit
 * status: answers as JSON, refusals printed with the server's message and field, network
 * failures explained, mutating requests retried with the same Idempotency-Key. */
#ifndef ROLLCALL_CLIENT_SESSION_H
#define ROLLCALL_CLIENT_SESSION_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "tls_http.h"

struct session {
	bool json;               /* --json: print the server's JSON instead of the human form */
	const char *config_path; /* --config, or NULL */
	struct client_config config;
	bool config_loaded;
	struct http_client *http;
	time_t server_date;        /* the Date of the latest answer, 0 before the first */
	const sigset_t *wait_mask; /* set by `watch`: see struct http_request */
	volatile sig_atomic_t *stop;
	bool quiet_retries;          /* do not announce retries (watch has its own messages) */
	bool quiet;                  /* report nothing (lookups whose failure only costs detail) */
	json_t *cache;               /* answers worth keeping for the run, by path (owned) */
	struct net_error last_error; /* why the latest call got no answer (NET_NONE if it did) */
};

void session_init(struct session *session);
void session_free(struct session *session);

/* Loads the configuration and sets up TLS if not done yet. RC_OK, or RC_USAGE (printed). */
int session_open(struct session *session);

/* The current instant as the server sees it: its latest Date header (the daemon's own clock,
 * which a test build can set), else this machine's clock. */
time_t session_now(const struct session *session);

struct call {
	const char *method; /* "GET", "POST", "PUT" */
	const char *path;   /* escaped, with query */
	const json_t *body; /* NULL: none for GET, {} for the others */
	const char *accept; /* NULL: application/json */
	const char *last_event_id;
	int read_timeout_ms; /* 0: 10 s */
	http_sink_fn sink;   /* 2xx bodies stream here instead of being parsed */
	void *sink_arg;
	bool quiet;                  /* the caller reports refusals itself */
	bool no_retry;               /* one attempt only (watch reconnects on its own) */
	const char *idempotency_key; /* NULL: a new one; an offline round keeps its own */
};

struct answer {
	int status;   /* HTTP status, 0 when there was none */
	json_t *json; /* the parsed body when it is JSON (owned), else NULL */
	char *text;   /* the raw body (owned), "" when streamed */
	size_t text_len;
	struct net_error error; /* why there was no answer */
};

/* Sends one request, retrying up to 3 times after a timeout or broken connection (GETs, and
 * the others with the same Idempotency-Key, so a retry never acts twice). Returns RC_OK for 2xx,
 * RC_REFUSED for another status (printed unless call->quiet; with --json the error document is
 * printed too), RC_UNREACHABLE without an answer (explained), RC_USAGE for configuration
 * problems. Free *answer with answer_free whatever the result. */
int session_call(struct session *session, const struct call *call, struct answer *answer);
void answer_free(struct answer *answer);

/* Prints a refusal on stderr: status, the server's code, message and field. */
void session_report_refusal(const struct answer *answer);

/* Shorthands. *out (owned, may be NULL for an empty body) is set only on RC_OK. */
int session_get(struct session *session, const char *path, json_t **out);
int session_send(struct session *session, const char *method, const char *path, const json_t *body,
                 json_t **out);
/* GETs a list and follows "next" cursors (?after=) to the end; *items is a new array. */
int session_list(struct session *session, const char *path, json_t **items);
/* As session_get, but keeps the answer for the rest of the run; *out is borrowed. */
int session_get_cached(struct session *session, const char *path, json_t **out);
/* As session_list, but keeps the result for the rest of the run; *items is borrowed. */
int session_list_cached(struct session *session, const char *path, json_t **items);

/* Formats an API path; false (after saying so) if it does not fit. Arguments from users must be
 * escaped with path_escape first. */
bool path_format(char *out, size_t outlen, const char *format, ...)
    __attribute__((format(printf, 3, 4), warn_unused_result));
/* Percent-encodes a path segment or query value into a static-size buffer of PATH_PART_SIZE. */
#define PATH_PART_SIZE 400
bool path_escape(const char *value, char out[PATH_PART_SIZE]) __attribute__((warn_unused_result));

/* Prints a JSON document on stdout (indented, one document, newline). False if stdout failed. */
bool print_json(const json_t *value);
/* Writes text to stdout; false (after saying why on stderr) if stdout failed. */
bool print_text(const char *text);
/* Renders table and writes it to stdout: RC_OK, or RC_REFUSED after saying why (out of memory,
 * stdout failed). */
struct table;
int print_table(const struct table *table);
/* fflush(stdout) and report a failure (a closed pipe, a full disk) on stderr. */
bool flush_stdout(void);

#endif
