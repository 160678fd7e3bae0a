/* Database work before the event loop runs: connect with a deadline, apply migrations each in
 * its own transaction under an advisory lock, and check that the schema is the one this build
 * expects. Uses libpq's send/get calls with a poll() deadline so nothing here can hang for ever. */
#include "db_startup.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define MIGRATION_LOCK_ID "7312026"

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

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long len = ftell(f);
		if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1))) {
			if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
				free(buf);
				buf = NULL;
			} else
				buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static bool is_migration_name(const char *name)
{
	size_t len = strlen(name);
	return len > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' && name[1] <= '9' &&
	       name[2] >= '0' && name[2] <= '9' && name[3] == '_' &&
	       strcmp(name + len - 4, ".sql") == 0;
}

static bool apply_one(PGconn *conn, const char *dir, const char *name, int version)
{
	char path[4096], vtext[16], when[CLOCK_TEXT_SIZE];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	char *sql = read_file(path);
	if (!sql) {
		log_error("migrate: cannot read %s: %s", path, strerror(errno));
		return false;
	}
	snprintf(vtext, sizeof vtext, "%d", version);
	clock_format(clock_now_us(), when);
	const char *params[] = {vtext, name, when};
	bool ok = run_ok(conn, "BEGIN", 0, NULL, "migrate") &&
		  run_ok(conn, sql, 0, NULL, name) &&
		  run_ok(conn,
			 "INSERT INTO schema_migrations (version, name, applied_at) "
			 "VALUES ($1, $2, $3)",
			 3, params, name) &&
		  run_ok(conn, "COMMIT", 0, NULL, name);
	free(sql);
	if (!ok) {
		PGresult *res = db_startup_run(conn, "ROLLBACK", 0, NULL);
		PQclear(res);
		return false;
	}
	log_info("migrate: applied %s", name);
	return true;
}

bool db_migrate(const char *conninfo, const char *schema_dir)
{
	PGconn *conn = db_startup_connect(conninfo, 30);
	if (!conn)
		return false;
	bool ok = false;
	char **names = NULL;
	size_t count = 0;
	DIR *dir = opendir(schema_dir);
	if (!dir) {
		log_error("migrate: cannot open %s: %s", schema_dir, strerror(errno));
		goto done;
	}
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		if (!is_migration_name(entry->d_name))
			continue;
		char **grown = realloc(names, (count + 1) * sizeof *names);
		if (!grown)
			goto done;
		names = grown;
		if (!(names[count] = strdup(entry->d_name)))
			goto done;
		count++;
	}
	qsort(names, count, sizeof *names, compare_names);
	if (!run_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_ID ")", 0, NULL, "migrate") ||
	    !run_ok(conn,
		    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
		    "name text NOT NULL, applied_at timestamptz NOT NULL)",
		    0, NULL, "migrate"))
		goto done;
	for (size_t i = 0; i < count; i++) {
		int version = atoi(names[i]);
		if (version != (int)i + 1) {
			log_error("migrate: %s is out of sequence (expected number %03zu)", names[i],
				  i + 1);
			goto done;
		}
		char vtext[16];
		snprintf(vtext, sizeof vtext, "%d", version);
		const char *params[] = {vtext};
		PGresult *res = db_startup_run(
			conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params);
		if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
			log_error("migrate: %s", PQerrorMessage(conn));
			PQclear(res);
			goto done;
		}
		bool applied = PQntuples(res) > 0;
		PQclear(res);
		if (!applied && !apply_one(conn, schema_dir, names[i], version))
			goto done;
	}
	log_info("migrate: schema is at version %zu", count);
	ok = true;
done:
	if (dir)
		closedir(dir);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	PQfinish(conn);
	return ok;
}

bool db_startup_check(const char *conninfo, int expected_version, const char *bootstrap_admin,
		      int64_t now_us, int64_t *test_clock_us)
{
	*test_clock_us = 0;
	PGconn *conn = db_startup_connect(conninfo, 30);
	if (!conn)
		return false;
	bool ok = false;
	PGresult *res = db_startup_run(
		conn,
		"SELECT coalesce(max(version), 0) FROM schema_migrations "
		"WHERE to_regclass('schema_migrations') IS NOT NULL",
		0, NULL);
	int version = 0;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		version = atoi(PQgetvalue(res, 0, 0));
	else if (res && strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) ?: "", "42P01") != 0) {
		log_error("db: cannot read the schema version: %s", PQresultErrorMessage(res));
		PQclear(res);
		goto done;
	}
	PQclear(res);
	if (version < expected_version) {
		log_error("db: the database schema is at version %d but this rollcalld needs %d: "
			  "run 'rollcalld --migrate --config FILE' first",
			  version, expected_version);
		goto done;
	}
	if (version > expected_version) {
		log_error("db: the database schema is at version %d, newer than this rollcalld "
			  "(%d): upgrade rollcalld",
			  version, expected_version);
		goto done;
	}
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
