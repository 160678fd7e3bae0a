/* Asynchronous PostgreSQL pool on the event loop: connections are opened with PQconnectStart and
 * polled, queries go out with PQsendQueryParams (or, for the hot api() calls, as statements
 * prepared once per connection) and come back through callbacks, and a lost
 * connection is re-established with backoff while queued work is answered "unavailable" rather
 * than left waiting. One extra connection LISTENs for the NOTIFY channels the daemon uses. */
#include "db.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_hosts.h"
#include "log.h"

#define DB_QUEUE_MAX 20000
#define DB_CONNECT_TIMEOUT_S 10
#define DB_QUERY_TIMEOUT_S 60 /* beyond statement_timeout: the server itself is gone */
#define DB_BACKOFF_MIN_MS 100
/* Low, so that a failover (a standby promoted after seconds of no primary at all) or a restart
 * is noticed within about a second and a half (with the jitter): a failed attempt costs the
 * server little. */
#define DB_BACKOFF_MAX_MS 1000
/* The listener is idle by nature, and an idle connection to a server that is frozen, or whose
 * machine is gone without a TCP reset, never fails: it is asked SELECT 1 this often and given up
 * when the answer takes longer than DB_PING_TIMEOUT_MS, so that LISTEN is re-established on the
 * new primary after a failover instead of waiting on the old one for ever. */
#define DB_PING_MS 2000
#define DB_PING_TIMEOUT_MS 3000
#define DB_SWEEP_MS 100 /* how often queued queries are checked against their deadlines */
#define DB_MAX_LISTEN 16

/* Sent once after every connect: instants in and out are UTC RFC 3339, and no statement can hold
 * a connection for ever. No JIT: every statement here is short, and a plan whose estimate
 * crosses jit_above_cost (an array of unknown length, a small table not yet analysed) would
 * spend hundreds of milliseconds compiling a query that runs in ten. */
static const char setup_sql[] = "SET TimeZone = 'UTC'; SET statement_timeout = '50s'; "
                                "SET idle_in_transaction_session_timeout = '60s'; SET jit = off; "
                                "SET client_connection_check_interval = '1s'";

struct db_query {
	struct db_query *next;
	char *sql;
	int nparams;
	char **values;
	db_result_fn cb;
	void *arg;
	int64_t deadline_us; /* monotonic; 0: none but DB_QUERY_TIMEOUT_S once sent */
	int stmt;            /* index into pool->stmts, or -1: sent unprepared */
	bool sent_prepared;  /* the last send executed the prepared statement */
	bool reprepared;     /* already prepared again once after a stale-statement error */
};

/* Per connection, what became of each registered statement. */
enum stmt_state {
	STMT_UNKNOWN, /* not yet prepared on this connection */
	STMT_READY,
	STMT_FAILED, /* the prepare failed here: sent unprepared on this connection */
};

enum conn_state {
	CONN_DOWN,       /* waiting for the reconnect timer */
	CONN_CONNECTING, /* PQconnectPoll in progress */
	CONN_SETUP,      /* setup_sql (or LISTEN) in flight */
	CONN_IDLE,
	CONN_BUSY,
};

struct db_conn {
	struct db_pool *pool;
	PGconn *pg;
	enum conn_state state;
	bool listener;
	struct event *io;    /* on PQsocket(); re-created whenever the socket may change */
	struct event *timer; /* reconnect backoff, connect timeout, query timeout */
	int backoff_ms;
	int first_host; /* the host this connection's attempt started at */
	struct db_query *current;
	PGresult *result; /* first result of the current query */
	int preparing;    /* statement whose Prepare is in flight (for current), or -1 */
	enum stmt_state stmts[DB_MAX_PREPARED]; /* reset on every new connection */
	unsigned stmt_gen[DB_MAX_PREPARED];     /* a re-prepare takes a new name */
};

struct listen_sub {
	char *channel;
	db_notify_fn fn;
	void *arg;
};

struct db_pool {
	struct event_base *base;
	char *conninfo;
	struct db_hosts *hosts; /* NULL: connect with the conninfo as it is */
	int first_host;         /* where the next connection attempt starts (db_hosts.h) */
	int size;
	struct db_conn *conns; /* size query connections + 1 listener at the end */
	struct db_query *head, *tail;
	int queued;
	struct listen_sub subs[DB_MAX_LISTEN];
	int nsubs;
	unsigned long long queries, failures;
	bool listener_ever_up;
	bool ever_up;   /* before the first connection, queries wait instead of failing */
	bool reachable; /* listener and a pool connection up, as last told to health_fn */
	db_health_fn health_fn;
	void *health_arg;
	char *stmts[DB_MAX_PREPARED]; /* statement texts prepared on every connection */
	int nstmts;
	struct event *sweep; /* answers queued queries whose deadline passed */
	int with_deadline;   /* queued queries that have one: the sweep runs only then */
};

static void conn_start(struct db_conn *conn);
static void conn_io_cb(evutil_socket_t fd, short what, void *arg);
static void pool_dispatch(struct db_pool *pool);

static int64_t monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void query_free(struct db_query *q)
{
	if (!q)
		return;
	for (int i = 0; i < q->nparams; i++)
		free(q->values[i]);
	free(q->values);
	free(q->sql);
	free(q);
}

static enum db_status classify(const char *sqlstate)
{
	if (!sqlstate || !*sqlstate)
		return DB_FAILED;
	/* Class 53 (disk full, out of memory, too many connections): the server cannot take the
	 * write now, and nothing was changed: 503, as for an outage, not a 500. */
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
	    strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 ||
	    strcmp(sqlstate, "57P03") == 0)
		return DB_UNAVAILABLE;
	if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
		return DB_RETRY;
	return DB_FAILED;
}

static void query_answer(struct db_pool *pool, struct db_query *q, enum db_status status,
                         PGresult *res, const char *sqlstate, const char *message)
{
	struct db_result r = {
	    .status = status,
	    .pg = status == DB_OK ? res : NULL,
	    .sqlstate = sqlstate ? sqlstate : "",
	    .message = message ? message : "",
	};
	if (status != DB_OK)
		pool->failures++;
	q->cb(q->arg, &r);
	query_free(q);
}

/* Answers a query "unavailable" from the loop, never from inside the caller's stack. */
static void deferred_unavailable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_query *q = arg;
	struct db_result r = {
	    .status = DB_UNAVAILABLE,
	    .pg = NULL,
	    .sqlstate = "08006",
	    .message = "database unavailable",
	};
	q->cb(q->arg, &r);
	query_free(q);
}

static void defer_unavailable(struct db_pool *pool, struct db_query *q)
{
	struct timeval zero = {0, 0};
	pool->failures++;
	if (event_base_once(pool->base, -1, EV_TIMEOUT, deferred_unavailable_cb, q, &zero) != 0) {
		/* Cannot happen short of memory exhaustion; answering inline is the lesser evil. */
		deferred_unavailable_cb(-1, 0, q);
	}
}

static int pool_connections_up(const struct db_pool *pool)
{
	int up = 0;
	for (int i = 0; i < pool->size; i++)
		if (pool->conns[i].state == CONN_IDLE || pool->conns[i].state == CONN_BUSY)
			up++;
	return up;
}

/* Tells the health subscriber when reachability changes. Called after every connection's
 * state change, before the query it was running is answered, so that the subscriber knows the
 * database is gone by the time the failure reaches anyone. */
static void pool_health_update(struct db_pool *pool)
{
	const struct db_conn *listener = &pool->conns[pool->size];
	bool now = listener->state == CONN_IDLE && pool_connections_up(pool) > 0;
	if (now == pool->reachable)
		return;
	pool->reachable = now;
	if (pool->health_fn)
		pool->health_fn(pool->health_arg, now);
}

/* With no connection up, waiting gains nothing: tell every queued request now. */
static void pool_fail_queue_if_down(struct db_pool *pool)
{
	if (pool_connections_up(pool) > 0)
		return;
	while (pool->head) {
		struct db_query *q = pool->head;
		pool->head = q->next;
		pool->queued--;
		if (q->deadline_us)
			pool->with_deadline--;
		defer_unavailable(pool, q);
	}
	pool->tail = NULL;
}

static void conn_arm_io(struct db_conn *conn, short what)
{
	if (conn->io) {
		event_free(conn->io);
		conn->io = NULL;
	}
	int fd = PQsocket(conn->pg);
	if (fd < 0)
		return;
	conn->io = event_new(conn->pool->base, fd, what, conn_io_cb, conn);
	if (!conn->io || event_add(conn->io, NULL) != 0)
		log_error("db: cannot watch the database socket");
}

static void conn_timer_arm(struct db_conn *conn, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(conn->timer, &tv);
}

static void conn_close(struct db_conn *conn, const char *reason)
{
	struct db_pool *pool = conn->pool;
	char why[256]; /* reason may point into the PGconn we are about to free */
	snprintf(why, sizeof why, "%s", reason);
	size_t len = strlen(why);
	while (len > 0 && (why[len - 1] == '\n' || why[len - 1] == ' '))
		why[--len] = '\0';
	bool was_up = conn->state == CONN_IDLE || conn->state == CONN_BUSY;
	if (conn->io) {
		event_free(conn->io);
		conn->io = NULL;
	}
	evtimer_del(conn->timer);
	if (conn->result) {
		PQclear(conn->result);
		conn->result = NULL;
	}
	if (conn->pg) {
		PQfinish(conn->pg);
		conn->pg = NULL;
	}
	/* Prepared statements live in the server session: a new connection (a reconnect, a
	 * failover to another host) starts without any. */
	conn->preparing = -1;
	memset(conn->stmts, 0, sizeof conn->stmts);
	conn->state = CONN_DOWN;
	if (was_up)
		log_warn("db: %s connection lost: %s", conn->listener ? "listener" : "pool", why);
	else
		log_debug("db: connection attempt failed: %s", why);
	pool_health_update(pool);
	if (conn->current) {
		struct db_query *q = conn->current;
		conn->current = NULL;
		query_answer(pool, q, DB_UNAVAILABLE, NULL, "08006", why);
	}
	/* Jittered exponential backoff so that several daemons do not reconnect in step. */
	long delay = conn->backoff_ms + (random() % (conn->backoff_ms / 2 + 1));
	conn->backoff_ms =
	    conn->backoff_ms * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : conn->backoff_ms * 2;
	conn_timer_arm(conn, delay);
	if (!conn->listener)
		pool_fail_queue_if_down(pool);
}

static const char *conn_error(struct db_conn *conn)
{
	const char *msg = conn->pg ? PQerrorMessage(conn->pg) : "no connection";
	return msg && *msg ? msg : "connection failed";
}

/* Sends setup (and for the listener, LISTEN for every channel) as one simple query. */
static void conn_send_setup(struct db_conn *conn)
{
	char sql[2048];
	size_t used = (size_t)snprintf(sql, sizeof sql, "%s", setup_sql);
	if (conn->listener) {
		for (int i = 0; i < conn->pool->nsubs && used < sizeof sql; i++) {
			char *ident = PQescapeIdentifier(conn->pg, conn->pool->subs[i].channel,
			                                 strlen(conn->pool->subs[i].channel));
			if (!ident) {
				conn_close(conn, "cannot quote channel name");
				return;
			}
			used +=
			    (size_t)snprintf(sql + used, sizeof sql - used, "; LISTEN %s", ident);
			PQfreemem(ident);
		}
	}
	if (used >= sizeof sql || !PQsendQuery(conn->pg, sql)) {
		conn_close(conn, conn_error(conn));
		return;
	}
	conn->state = CONN_SETUP;
	int flushed = PQflush(conn->pg);
	if (flushed < 0) {
		conn_close(conn, conn_error(conn));
		return;
	}
	conn_arm_io(conn, EV_READ | EV_PERSIST | (flushed == 1 ? EV_WRITE : 0));
	conn_timer_arm(conn, DB_QUERY_TIMEOUT_S * 1000L);
}

static void conn_connect_step(struct db_conn *conn)
{
	switch (PQconnectPoll(conn->pg)) {
	case PGRES_POLLING_READING:
		conn_arm_io(conn, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		conn_arm_io(conn, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		evtimer_del(conn->timer);
		if (PQsetnonblocking(conn->pg, 1) != 0) {
			conn_close(conn, conn_error(conn));
			return;
		}
		conn_send_setup(conn);
		return;
	case PGRES_POLLING_FAILED:
	default:
		conn_close(conn, conn_error(conn));
		return;
	}
}

static void conn_start(struct db_conn *conn)
{
	struct db_pool *pool = conn->pool;
	conn->first_host = pool->first_host;
	conn->pg = pool->hosts && db_hosts_count(pool->hosts) > 1
	               ? db_hosts_connect_start(pool->hosts, pool->first_host)
	               : PQconnectStart(pool->conninfo);
	if (!conn->pg || PQstatus(conn->pg) == CONNECTION_BAD) {
		conn_close(conn, conn_error(conn));
		return;
	}
	conn->state = CONN_CONNECTING;
	conn_timer_arm(conn,
	               db_hosts_connect_timeout_ms(pool->hosts, DB_CONNECT_TIMEOUT_S * 1000L));
	conn_connect_step(conn);
}

static void conn_deliver_notifies(struct db_conn *conn)
{
	PGnotify *n;
	while ((n = PQnotifies(conn->pg)) != NULL) {
		for (int i = 0; i < conn->pool->nsubs; i++)
			if (strcmp(conn->pool->subs[i].channel, n->relname) == 0)
				conn->pool->subs[i].fn(conn->pool->subs[i].arg, n->relname,
				                       n->extra);
		PQfreemem(n);
	}
}

static void conn_became_idle(struct db_conn *conn)
{
	conn->state = CONN_IDLE;
	conn->backoff_ms = DB_BACKOFF_MIN_MS;
	evtimer_del(conn->timer);
	conn_arm_io(conn, EV_READ | EV_PERSIST); /* notices a server that goes away while idle */
	if (conn->listener)
		conn_timer_arm(conn, DB_PING_MS);
}

/* The listener's liveness check: SELECT 1 in flight as a query without a caller (state busy,
 * no current query), answered through conn_finish_current like any other. */
static void conn_ping(struct db_conn *conn)
{
	if (!PQsendQuery(conn->pg, "SELECT 1")) {
		conn_close(conn, conn_error(conn));
		return;
	}
	conn->state = CONN_BUSY;
	int flushed = PQflush(conn->pg);
	if (flushed < 0) {
		conn_close(conn, conn_error(conn));
		return;
	}
	conn_arm_io(conn, EV_READ | EV_PERSIST | (flushed == 1 ? EV_WRITE : 0));
	conn_timer_arm(conn, DB_PING_TIMEOUT_MS);
}

/* Drains results of the statement in flight; returns true when it is finished. */
static bool conn_collect(struct db_conn *conn)
{
	while (!PQisBusy(conn->pg)) {
		PGresult *res = PQgetResult(conn->pg);
		if (!res)
			return true;
		if (!conn->result)
			conn->result = res; /* the first result holds the answer or the error */
		else if (PQresultStatus(conn->result) != PGRES_FATAL_ERROR &&
		         PQresultStatus(res) == PGRES_FATAL_ERROR) {
			PQclear(conn->result); /* a later error outranks an earlier success */
			conn->result = res;
		} else
			PQclear(res);
	}
	return false;
}

static bool conn_send(struct db_conn *conn, struct db_query *q);

/* The code layer re-applied under a running daemon (rollcalld --migrate) can leave a prepared
 * statement that PostgreSQL will not re-plan: api() re-created with another result type
 * ("cached plan must not change result type", 0A000), or the statement gone (26000). Either
 * is raised before the statement runs, so preparing again and resending is safe. */
static bool stale_statement(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!state)
		return false;
	return strcmp(state, "26000") == 0 ||
	       (strcmp(state, "0A000") == 0 && msg && strstr(msg, "cached plan") != NULL);
}

/* After a result for q: a Prepare's answer (then q itself is sent), or a stale prepared
 * statement (prepared again, once). Returns true when q went out again and the result is
 * consumed here. */
static bool conn_prepared_step(struct db_conn *conn, struct db_query *q, PGresult *res)
{
	if (conn->pg && PQstatus(conn->pg) == CONNECTION_BAD)
		return false; /* answered unavailable by the caller */
	if (conn->preparing >= 0) {
		int k = conn->preparing;
		conn->preparing = -1;
		ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (st == PGRES_COMMAND_OK) {
			conn->stmts[k] = STMT_READY;
		} else {
			log_warn("db: cannot prepare a statement, sending it unprepared: %s",
			         res ? PQresultErrorMessage(res) : "no result");
			conn->stmts[k] = STMT_FAILED;
		}
		if (res)
			PQclear(res);
		conn_send(conn, q);
		return true;
	}
	if (q->sent_prepared && !q->reprepared && stale_statement(res)) {
		log_info("db: a prepared statement went stale (code layer re-applied?): "
		         "preparing it again");
		q->reprepared = true;
		conn->stmts[q->stmt] = STMT_UNKNOWN;
		conn->stmt_gen[q->stmt]++;
		PQclear(res);
		conn_send(conn, q);
		return true;
	}
	return false;
}

static void conn_finish_current(struct db_conn *conn)
{
	struct db_pool *pool = conn->pool;
	PGresult *res = conn->result;
	struct db_query *q = conn->current;
	conn->result = NULL;
	conn->current = NULL;
	if (conn->state == CONN_SETUP) {
		ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			char why[256];
			snprintf(why, sizeof why, "setup failed: %s",
			         res ? PQresultErrorMessage(res) : "no result");
			if (res)
				PQclear(res);
			conn_close(conn, why);
			return;
		}
		PQclear(res);
		bool listener = conn->listener;
		conn_became_idle(conn);
		pool_health_update(pool);
		if (listener) {
			if (pool->listener_ever_up)
				log_info("db: listener reconnected");
			pool->listener_ever_up = true;
			/* Anything NOTIFYed while we were away is lost: let subscribers resync. */
			for (int i = 0; i < pool->nsubs; i++)
				pool->subs[i].fn(pool->subs[i].arg, pool->subs[i].channel, NULL);
			conn_deliver_notifies(conn);
		} else {
			log_info("db: pool connection up");
			pool->ever_up = true;
			pool_dispatch(pool);
		}
		return;
	}
	if (q && conn_prepared_step(conn, q, res))
		return;
	conn_became_idle(conn);
	if (!q && conn->listener && conn->pg && PQstatus(conn->pg) != CONNECTION_BAD)
		conn_deliver_notifies(conn); /* the ping's answer: what came with it */
	if (q) {
		ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			query_answer(pool, q, DB_OK, res, "", "");
		} else {
			const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
			const char *msg =
			    res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : "no result";
			enum db_status s = classify(state);
			if (PQstatus(conn->pg) == CONNECTION_BAD)
				s = DB_UNAVAILABLE;
			query_answer(pool, q, s, res, state, msg);
		}
	}
	if (res)
		PQclear(res);
	if (conn->pg && PQstatus(conn->pg) == CONNECTION_BAD) {
		conn_close(conn, conn_error(conn));
		return;
	}
	pool_dispatch(pool);
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *conn = arg;
	(void)fd;
	if (conn->state == CONN_CONNECTING) {
		conn_connect_step(conn);
		return;
	}
	if (what & EV_WRITE) {
		int flushed = PQflush(conn->pg);
		if (flushed < 0) {
			conn_close(conn, conn_error(conn));
			return;
		}
		if (flushed == 0) /* all sent: from now on only results interest us */
			conn_arm_io(conn, EV_READ | EV_PERSIST);
	}
	if (!(what & EV_READ))
		return;
	if (!PQconsumeInput(conn->pg)) {
		conn_close(conn, conn_error(conn));
		return;
	}
	if (conn->state == CONN_IDLE) {
		if (conn->listener)
			conn_deliver_notifies(conn);
		if (PQstatus(conn->pg) == CONNECTION_BAD)
			conn_close(conn, conn_error(conn));
		else {
			/* An idle connection that reads an error (e.g. 57P01 on shutdown) is gone.
			 */
			PGresult *stray;
			while (!PQisBusy(conn->pg) && (stray = PQgetResult(conn->pg)) != NULL) {
				bool fatal = PQresultStatus(stray) == PGRES_FATAL_ERROR;
				PQclear(stray);
				if (fatal) {
					conn_close(conn, "server closed the connection");
					return;
				}
			}
		}
		return;
	}
	if (conn_collect(conn))
		conn_finish_current(conn);
}

/* A query that passed its deadline says the server behind its connection does not answer (a
 * frozen host, SIGSTOP): the pool's idle connections to the same server are as dead, and a
 * request sent on one of them would wait out its whole deadline too (the failover fault case:
 * requests back 7 s after the promotion instead of at once). They are closed now and reconnect,
 * to whichever host is writable by then. */
static void pool_drop_idle_on_server(struct db_conn *timed_out)
{
	struct db_pool *pool = timed_out->pool;
	const char *h = timed_out->pg ? PQhost(timed_out->pg) : NULL;
	const char *p = timed_out->pg ? PQport(timed_out->pg) : NULL;
	if (!h || !p)
		return;
	char host[256], port[32];
	snprintf(host, sizeof host, "%s", h);
	snprintf(port, sizeof port, "%s", p);
	for (int i = 0; i < pool->size; i++) {
		struct db_conn *c = &pool->conns[i];
		if (c == timed_out || c->state != CONN_IDLE || !c->pg)
			continue;
		const char *ch = PQhost(c->pg), *cp = PQport(c->pg);
		if (ch && cp && strcmp(ch, host) == 0 && strcmp(cp, port) == 0)
			conn_close(c, "another connection to this server timed out");
	}
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *conn = arg;
	(void)fd;
	(void)what;
	switch (conn->state) {
	case CONN_DOWN:
		conn_start(conn);
		break;
	case CONN_CONNECTING:
		/* The host being tried accepts but does not answer: start the next attempt at the
		 * next host, or it would hold every attempt of every connection. */
		conn->pool->first_host = (conn->first_host + 1) % db_hosts_count(conn->pool->hosts);
		conn_close(conn, "connect timed out");
		break;
	case CONN_BUSY:
		pool_drop_idle_on_server(conn);
		conn_close(conn, "query timed out");
		break;
	case CONN_SETUP:
		conn_close(conn, "query timed out");
		break;
	case CONN_IDLE:
		if (conn->listener)
			conn_ping(conn);
		break;
	}
}

static bool conn_send(struct db_conn *conn, struct db_query *q)
{
	conn->current = q;
	conn->state = CONN_BUSY;
	q->sent_prepared = false;
	int sent;
	if (q->stmt >= 0 && conn->stmts[q->stmt] != STMT_FAILED) {
		char name[32];
		snprintf(name, sizeof name, "rc_%d_%u", q->stmt, conn->stmt_gen[q->stmt]);
		if (conn->stmts[q->stmt] == STMT_UNKNOWN) {
			/* Prepared first, in its own round trip; q follows on its answer. */
			conn->preparing = q->stmt;
			sent = PQsendPrepare(conn->pg, name, q->sql, q->nparams, NULL);
		} else {
			q->sent_prepared = true;
			sent = PQsendQueryPrepared(conn->pg, name, q->nparams,
			                           (const char *const *)q->values, NULL, NULL, 0);
		}
	} else {
		sent = PQsendQueryParams(conn->pg, q->sql, q->nparams, NULL,
		                         (const char *const *)q->values, NULL, NULL, 0);
	}
	if (!sent) {
		conn_close(conn, conn_error(conn)); /* answers q as unavailable */
		return false;
	}
	int flushed = PQflush(conn->pg);
	if (flushed < 0) {
		conn_close(conn, conn_error(conn));
		return false;
	}
	conn_arm_io(conn, EV_READ | EV_PERSIST | (flushed == 1 ? EV_WRITE : 0));
	/* A query with a deadline (a request's) that passes it gives up the connection: the
	 * server is hung (SIGSTOP, a frozen host, a synchronous commit waiting for a standby that
	 * is gone), and the request is answered 503 in time instead of hanging. The transaction
	 * may still commit if the server wakes up; the client's retry with its Idempotency-Key
	 * then gets the stored answer. */
	long ms = DB_QUERY_TIMEOUT_S * 1000L;
	if (q->deadline_us) {
		int64_t left = (q->deadline_us - monotonic_us()) / 1000;
		if (left < ms)
			ms = left > 0 ? (long)left : 0;
	}
	conn_timer_arm(conn, ms);
	return true;
}

static void pool_dispatch(struct db_pool *pool)
{
	for (int i = 0; i < pool->size && pool->head; i++) {
		struct db_conn *conn = &pool->conns[i];
		if (conn->state != CONN_IDLE)
			continue;
		struct db_query *q = pool->head;
		pool->head = q->next;
		if (!pool->head)
			pool->tail = NULL;
		pool->queued--;
		if (q->deadline_us)
			pool->with_deadline--;
		q->next = NULL;
		pool->queries++;
		conn_send(conn, q);
	}
}

/* Queued queries whose deadline passed are answered "unavailable": every connection is busy
 * with statements a hung server does not answer. */
static void pool_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *pool = arg;
	(void)fd, (void)what;
	if (pool->with_deadline == 0)
		return;
	int64_t now = monotonic_us();
	struct db_query **link = &pool->head, *prev = NULL;
	while (*link) {
		struct db_query *q = *link;
		if (q->deadline_us && q->deadline_us <= now) {
			*link = q->next;
			if (pool->tail == q)
				pool->tail = prev;
			pool->queued--;
			pool->with_deadline--;
			q->next = NULL;
			log_warn("db: a request waited past its deadline for a connection");
			defer_unavailable(pool, q);
			continue;
		}
		prev = q;
		link = &q->next;
	}
}

struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size)
{
	struct db_pool *pool = calloc(1, sizeof *pool);
	if (!pool)
		return NULL;
	pool->base = base;
	pool->size = size;
	pool->conninfo = strdup(conninfo);
	pool->hosts = db_hosts_new(conninfo);
	pool->conns = calloc((size_t)size + 1, sizeof *pool->conns);
	pool->sweep = event_new(base, -1, EV_PERSIST, pool_sweep_cb, pool);
	struct timeval every = {0, DB_SWEEP_MS * 1000};
	if (!pool->conninfo || !pool->conns || !pool->sweep || event_add(pool->sweep, &every) != 0)
		goto failed;
	for (int i = 0; i <= size; i++) {
		struct db_conn *conn = &pool->conns[i];
		conn->pool = pool;
		conn->listener = i == size;
		conn->backoff_ms = DB_BACKOFF_MIN_MS;
		conn->preparing = -1;
		conn->state = CONN_DOWN;
		conn->timer = evtimer_new(base, conn_timer_cb, conn);
		if (!conn->timer)
			goto failed;
		conn_timer_arm(conn, 0); /* connect from the loop */
	}
	return pool;
failed:
	db_pool_free(pool);
	return NULL;
}

void db_pool_free(struct db_pool *pool)
{
	if (!pool)
		return;
	if (pool->conns) {
		for (int i = 0; i <= pool->size; i++) {
			struct db_conn *conn = &pool->conns[i];
			if (conn->io)
				event_free(conn->io);
			if (conn->timer)
				event_free(conn->timer);
			if (conn->result)
				PQclear(conn->result);
			if (conn->pg)
				PQfinish(conn->pg);
			query_free(conn->current);
		}
	}
	while (pool->head) {
		struct db_query *q = pool->head;
		pool->head = q->next;
		query_free(q);
	}
	for (int i = 0; i < pool->nsubs; i++)
		free(pool->subs[i].channel);
	for (int i = 0; i < pool->nstmts; i++)
		free(pool->stmts[i]);
	if (pool->sweep)
		event_free(pool->sweep);
	db_hosts_free(pool->hosts);
	free(pool->conns);
	free(pool->conninfo);
	free(pool);
}

bool db_query(struct db_pool *pool, const char *sql, int nparams, const char *const *values,
              db_result_fn cb, void *arg)
{
	return db_query_within(pool, 0, sql, nparams, values, cb, arg);
}

/* The index of sql among the pool's prepared statements, registering it when new; -1 when
 * the table is full or out of memory (the statement then goes unprepared). */
static int pool_statement(struct db_pool *pool, const char *sql)
{
	for (int i = 0; i < pool->nstmts; i++)
		if (strcmp(pool->stmts[i], sql) == 0)
			return i;
	if (pool->nstmts >= DB_MAX_PREPARED)
		return -1;
	char *copy = strdup(sql);
	if (!copy)
		return -1;
	pool->stmts[pool->nstmts] = copy;
	return pool->nstmts++;
}

static bool pool_query(struct db_pool *pool, int timeout_ms, bool prepared, const char *sql,
                       int nparams, const char *const *values, db_result_fn cb, void *arg)
{
	if (pool->queued >= DB_QUEUE_MAX)
		return false;
	struct db_query *q = calloc(1, sizeof *q);
	if (!q)
		return false;
	q->stmt = prepared ? pool_statement(pool, sql) : -1;
	q->cb = cb;
	q->arg = arg;
	q->sql = strdup(sql);
	q->values = nparams > 0 ? calloc((size_t)nparams, sizeof *q->values) : NULL;
	if (!q->sql || (nparams > 0 && !q->values))
		goto failed;
	q->nparams = nparams;
	for (int i = 0; i < nparams; i++) {
		if (values[i] && !(q->values[i] = strdup(values[i])))
			goto failed;
	}
	if (pool_connections_up(pool) == 0 && pool->ever_up) {
		defer_unavailable(pool, q);
		return true;
	}
	if (timeout_ms > 0) {
		q->deadline_us = monotonic_us() + (int64_t)timeout_ms * 1000;
		pool->with_deadline++;
	}
	if (pool->tail)
		pool->tail->next = q;
	else
		pool->head = q;
	pool->tail = q;
	pool->queued++;
	pool_dispatch(pool);
	return true;
failed:
	query_free(q);
	return false;
}

bool db_query_within(struct db_pool *pool, int timeout_ms, const char *sql, int nparams,
                     const char *const *values, db_result_fn cb, void *arg)
{
	return pool_query(pool, timeout_ms, false, sql, nparams, values, cb, arg);
}

bool db_query_prepared_within(struct db_pool *pool, int timeout_ms, const char *sql, int nparams,
                              const char *const *values, db_result_fn cb, void *arg)
{
	return pool_query(pool, timeout_ms, true, sql, nparams, values, cb, arg);
}

bool db_pool_ready(const struct db_pool *pool)
{
	return pool_connections_up(pool) > 0;
}

bool db_listen(struct db_pool *pool, const char *channel, db_notify_fn fn, void *arg)
{
	if (pool->nsubs >= DB_MAX_LISTEN)
		return false;
	char *copy = strdup(channel);
	if (!copy)
		return false;
	pool->subs[pool->nsubs++] = (struct listen_sub){copy, fn, arg};
	return true;
}

void db_on_health(struct db_pool *pool, db_health_fn fn, void *arg)
{
	pool->health_fn = fn;
	pool->health_arg = arg;
}

void db_pool_stats(const struct db_pool *pool, struct db_stats *out)
{
	out->connections_up = pool_connections_up(pool);
	out->busy = 0;
	for (int i = 0; i < pool->size; i++)
		if (pool->conns[i].state == CONN_BUSY)
			out->busy++;
	out->queued = pool->queued;
	out->queries = pool->queries;
	out->failures = pool->failures;
}
