/* Database work before the event loop runs: connect with a deadline, and check that the
 * database's migrations and code layer are the ones this build was made with (schema_manifest.c).
 * Uses libpq's send/get calls with a poll() deadline so nothing here can hang for ever. */
#include "db_startup.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "schema_manifest.h"

PGconn *db_startup_connect(const char *conninfo, int timeout_s)
{
	int64_t deadline = clock_monotonic_us() + (int64_t)timeout_s * 1000000;
	PGconn *conn = PQconnectStart(conninfo);
	if (!conn) {
		log_error("db: out of memory");
		return NULL;
	}
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (PQstatus(conn) == CONNECTION_BAD || st == PGRES_POLLING_FAILED) {
			log_error("db: cannot connect: %s", PQerrorMessage(conn));
			PQfinish(conn);
			return NULL;
		}
		struct pollfd pfd = {.fd = PQsocket(conn),
		                     .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
		int64_t left_ms = (deadline - clock_monotonic_us()) / 1000;
		if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) == 0) {
			log_error("db: connecting timed out after %d s", timeout_s);
			PQfinish(conn);
			return NULL;
		}
		st = PQconnectPoll(conn);
	}
	PGresult *res = db_startup_run(conn, "SET TimeZone = 'UTC'", 0, NULL);
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_error("db: setup failed: %s", PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

PGresult *db_startup_run(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	int sent = nparams > 0 ? PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)
	                       : PQsendQuery(conn, sql);
	if (!sent)
		return NULL;
	PGresult *last = NULL, *res;
	while ((res = PQgetResult(conn)) != NULL) {
		/* Keep the first error if there is one: later results say less. */
		if (last && PQresultStatus(last) == PGRES_FATAL_ERROR) {
			PQclear(res);
			continue;
		}
		PQclear(last);
		last = res;
	}
	return last;
}

static bool run_ok(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   const char *what)
{
	PGresult *res = db_startup_run(conn, sql, nparams, params);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		log_error("%s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/* Compares the database's applied migrations and code layer with this build's
 * (schema_manifest.c); logs what differs and what to run. */
static bool schema_matches(PGconn *conn)
{
	static const char run_migrate[] = "run 'rollcalld --migrate --config FILE'";
	PGresult *res = db_startup_run(
	    conn, "SELECT version, name, sha256 FROM schema_migrations ORDER BY version", 0, NULL);
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (res && PQresultStatus(res) != PGRES_TUPLES_OK && state &&
	    (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0)) {
		/* No bookkeeping at all, or release 1's (no hashes). */
		log_error("db: the database has %s: %s first",
		          strcmp(state, "42P01") == 0 ? "no rollcall schema"
		                                      : "the first release's schema",
		          run_migrate);
		PQclear(res);
		return false;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("db: cannot read the schema version: %s",
		          res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		PQclear(res);
		return false;
	}
	int count = PQntuples(res);
	bool ok = true;
	for (int i = 0; ok && i < count; i++) {
		size_t version = (size_t)atoi(PQgetvalue(res, i, 0));
		const char *name = PQgetvalue(res, i, 1);
		if (version > schema_manifest_migration_count || version != (size_t)i + 1) {
			log_error(
			    "db: the database has migration %zu (%s), beyond this rollcalld's "
			    "schema version %zu: upgrade rollcalld",
			    version, name, schema_manifest_migration_count);
			ok = false;
		} else if (PQgetisnull(res, i, 2)) {
			log_error("db: migration %s has no recorded hash: %s", name, run_migrate);
			ok = false;
		} else if (strcmp(PQgetvalue(res, i, 2),
		                  schema_manifest_migrations[version - 1].sha256) != 0 ||
		           strcmp(name, schema_manifest_migrations[version - 1].name) != 0) {
			log_error("db: the database's migration %s is not this rollcalld's "
			          "schema/migrations/%s: a released migration must never change",
			          name, schema_manifest_migrations[version - 1].name);
			ok = false;
		}
	}
	PQclear(res);
	if (ok && (size_t)count < schema_manifest_migration_count) {
		log_error("db: the database has %d of this rollcalld's %zu migrations: %s", count,
		          schema_manifest_migration_count, run_migrate);
		ok = false;
	}
	if (!ok)
		return false;
	res = db_startup_run(conn, "SELECT sha256 FROM schema_code", 0, NULL);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("db: cannot read the code layer's hash: %s",
		          res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		PQclear(res);
		return false;
	}
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), schema_manifest_code_hash) != 0) {
		log_error(
		    "db: the database's SQL code layer (%.12s) is not this rollcalld's (%.12s): "
		    "%s",
		    PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "none", schema_manifest_code_hash,
		    run_migrate);
		ok = false;
	}
	PQclear(res);
	return ok;
}

bool db_startup_check(const char *conninfo, const char *bootstrap_admin, int64_t now_us,
                      int64_t *test_clock_us)
{
	*test_clock_us = 0;
	PGconn *conn = db_startup_connect(conninfo, 30);
	if (!conn)
		return false;
	bool ok = false;
	PGresult *res;
	if (!schema_matches(conn))
		goto done;
	char when[CLOCK_TEXT_SIZE];
	clock_format(now_us, when);
	if (bootstrap_admin) {
		const char *params[] = {bootstrap_admin, when};
		if (!run_ok(conn, "SELECT bootstrap_admin($1, $2)", 2, params, "bootstrap_admin"))
			goto done;
	}
	res = db_startup_run(conn, "SELECT clock_load()", 0, NULL);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("db: cannot load the test clock: %s", PQerrorMessage(conn));
		PQclear(res);
		goto done;
	}
	if (!PQgetisnull(res, 0, 0) && !clock_parse(PQgetvalue(res, 0, 0), test_clock_us)) {
		log_error("db: stored test clock '%s' is not an instant", PQgetvalue(res, 0, 0));
		PQclear(res);
		goto done;
	}
	PQclear(res);
	ok = true;
done:
	PQfinish(conn);
	return ok;
}
