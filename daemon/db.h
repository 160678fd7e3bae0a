/* A small pool of asynchronous libpq connections on the daemon's event loop, plus one dedicated
 * connection for LISTEN. Nothing here blocks: queries are queued, sent with PQsendQueryParams and
 * answered through callbacks; lost connections are re-established with backoff. */
#ifndef ROLLCALL_DB_H
#define ROLLCALL_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct event_base;
struct db_pool;

enum db_status {
	DB_OK,          /* pg holds a PGRES_TUPLES_OK or PGRES_COMMAND_OK result */
	DB_UNAVAILABLE, /* no connection, connection lost, SQLSTATE class 08 or 53, 57P01-3: 503
	                 */
	DB_RETRY,       /* serialization failure or deadlock (40001, 40P01): safe to resend */
	DB_FAILED,      /* any other error: a bug or a constraint nobody caught */
};

struct db_result {
	enum db_status status;
	PGresult *pg;         /* valid only during the callback; NULL unless DB_OK */
	const char *sqlstate; /* "" when none */
	const char *message;  /* error text, "" when none */
};

/* Called exactly once per query, never from inside db_query(). */
typedef void (*db_result_fn)(void *arg, const struct db_result *result);

struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size);
void db_pool_free(struct db_pool *pool);

/* Queues one statement; parameters are text (NULL for SQL NULL) and are copied, so the caller
 * may free them at once. Returns false (and never calls cb) only when out of memory or the queue
 * is full; the caller answers 503 then. */
bool db_query(struct db_pool *pool, const char *sql, int nparams, const char *const *values,
              db_result_fn cb, void *arg) __attribute__((warn_unused_result));

/* As db_query, but answered DB_UNAVAILABLE once timeout_ms have passed (waiting in the queue or
 * in flight, where the connection is then given up and re-established): for requests, whose
 * client must hear 503 within request_timeout however the server hangs. timeout_ms <= 0: none
 * (in flight, a fixed 60 s still applies). */
bool db_query_within(struct db_pool *pool, int timeout_ms, const char *sql, int nparams,
                     const char *const *values, db_result_fn cb, void *arg)
    __attribute__((warn_unused_result));

/* As db_query_within, but as a prepared statement: the text is prepared once on each pool
 * connection (again after every reconnect) and then only executed, sparing the server its
 * parse and plan per call. For the few fixed statements on the hot path (the api() calls):
 * at most DB_MAX_PREPARED distinct texts; beyond them, and on a connection where the prepare
 * failed, the statement is sent unprepared. A prepared statement gone stale under a running
 * daemon (the code layer re-applied with a different result type, or the statement gone) is
 * prepared again and sent once more: the error comes before the statement has done anything. */
#define DB_MAX_PREPARED 8
bool db_query_prepared_within(struct db_pool *pool, int timeout_ms, const char *sql, int nparams,
                              const char *const *values, db_result_fn cb, void *arg)
    __attribute__((warn_unused_result));

/* True while at least one pool connection is up (readyz). */
bool db_pool_ready(const struct db_pool *pool);

/* Subscribes to a NOTIFY channel on the pool's listener connection. fn gets every payload; after
 * the listener reconnects, fn is called once with payload == NULL so the subscriber can resync
 * whatever it may have missed while disconnected. Call before the loop starts. */
typedef void (*db_notify_fn)(void *arg, const char *channel, const char *payload);
bool db_listen(struct db_pool *pool, const char *channel, db_notify_fn fn, void *arg);

/* Whether the daemon can reach PostgreSQL: the listener connection and at least one pool
 * connection up. fn is called (from the loop) on every change, the first time with true when
 * both first come up: false as soon as the listener or the last pool connection is lost, true when
 * both are back; the alert hub tells the streams (SPEC section 4, "alerting impaired"). One
 * subscriber; call before the loop starts. */
typedef void (*db_health_fn)(void *arg, bool reachable);
void db_on_health(struct db_pool *pool, db_health_fn fn, void *arg);

/* Pool statistics for /metrics. */
struct db_stats {
	int connections_up;
	int busy;
	int queued;
	unsigned long long queries;
	unsigned long long failures;
};
void db_pool_stats(const struct db_pool *pool, struct db_stats *out);

#endif
