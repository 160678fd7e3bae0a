/* rollcalld --migrate; see schema_migrate.h. Migrations hold tables, constraints, indexes, seed
 * and data changes, and run once each, recorded with their SHA-256. The code layer (functions,
 * trigger functions with their triggers, views) is dropped and created again whole whenever
 * its combined hash differs from the recorded one, and always around pending migrations: a
 * migration therefore always runs with no code layer present, whatever release the database
 * comes from, and can never depend on a function (or fire a trigger) of some older release. */
#include "schema_migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db_startup.h"
#include "log.h"
#include "schema_files.h"

#define MIGRATION_LOCK_ID "7312026"

/* The first release recorded migrations 001-007 by number alone; their tables are exactly those
 * of today's 001-007 (the functions they also held moved to the code layer). */
#define RELEASE1_MIGRATIONS 7

/* The bookkeeping tables: created by the migrator itself, before any migration, in the same
 * form whatever the database's history (pg_dump of an upgraded and a fresh database agree). */
static const char bookkeeping_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
    "name text NOT NULL, applied_at timestamptz NOT NULL);"
    "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS sha256 text;"
    "CREATE TABLE IF NOT EXISTS schema_code (singleton boolean PRIMARY KEY DEFAULT true "
    "CHECK (singleton), sha256 text NOT NULL, applied_at timestamptz NOT NULL);";

/* Drops every view, trigger and function of the public schema that no extension owns. Functions
 * are dropped without CASCADE: a table whose default, constraint or index needs a function
 * would lose it, so such a table stops the upgrade instead (keep those functions out of the
 * code layer's reach: tables must not depend on it). */
static const char drop_code_sql[] =
    "DO $drop$ DECLARE r record; BEGIN "
    "FOR r IN SELECT format('%I.%I', n.nspname, c.relname) AS v, c.relkind FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
    "AND c.relkind IN ('v', 'm') AND NOT EXISTS (SELECT 1 FROM pg_depend d "
    "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') LOOP "
    "EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.relkind WHEN 'm' "
    "THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, r.v); END LOOP; "
    "FOR r IN SELECT t.tgname, format('%I.%I', n.nspname, c.relname) AS tbl FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND NOT t.tgisinternal LOOP "
    "EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.tbl); END LOOP; "
    "FOR r IN SELECT p.oid::regprocedure::text AS f, p.prokind FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass "
    "AND d.objid = p.oid AND d.deptype = 'e') LOOP "
    "EXECUTE format('DROP %s %s', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' "
    "THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.f); END LOOP; END $drop$";

static void notice_to_debug(void *arg, const char *message)
{
	size_t len = strlen(message);
	log_debug("migrate: %.*s", (int)(len > 0 && message[len - 1] == '\n' ? len - 1 : len),
	          message);
}

/* The line of sql that a 1-based character position falls on (PostgreSQL's error position). */
static int line_of(const char *sql, const char *position)
{
	long pos = position ? strtol(position, NULL, 10) : 0;
	int line = 1;
	/* The position counts characters, not bytes: skip UTF-8 continuation bytes. */
	for (const unsigned char *p = (const unsigned char *)sql; *p && pos > 1; p++) {
		if ((*p & 0xC0) != 0x80)
			pos--;
		if (*p == '\n')
			line++;
	}
	return line;
}

/* Runs sql (one or more statements); on failure logs what failed, with the file's line when
 * the statement came from a file. */
static bool run_ok(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   const char *what)
{
	PGresult *res = db_startup_run(conn, sql, nparams, params);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
	if (!ok) {
		const char *position =
		    res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
		if (position && nparams == 0)
			log_error("migrate: %s, line %d: %s", what, line_of(sql, position),
			          PQresultErrorMessage(res));
		else
			log_error("migrate: %s: %s", what,
			          res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	}
	PQclear(res);
	return ok;
}

/* What the database has applied: versions 1..count, each with its name and hash (NULL for a
 * release-1 database, which kept none). */
struct applied {
	PGresult *rows;
	int count;
};

static bool applied_read(PGconn *conn, struct applied *out)
{
	out->rows = db_startup_run(
	    conn, "SELECT version, name, sha256 FROM schema_migrations ORDER BY version", 0, NULL);
	if (!out->rows || PQresultStatus(out->rows) != PGRES_TUPLES_OK) {
		log_error("migrate: cannot read schema_migrations: %s",
		          out->rows ? PQresultErrorMessage(out->rows) : PQerrorMessage(conn));
		PQclear(out->rows);
		out->rows = NULL;
		return false;
	}
	out->count = PQntuples(out->rows);
	return true;
}

/* Checks every applied migration against its file: same number, name and, once recorded, hash.
 * A release-1 database (hashes never recorded) gets the hashes of today's files, whose tables
 * are release 1's; any other missing hash is refused. */
static bool applied_check(PGconn *conn, const struct applied *applied, const struct schema_dir *sd,
                          const char *schema_dir)
{
	int unhashed = 0;
	for (int i = 0; i < applied->count; i++) {
		int version = atoi(PQgetvalue(applied->rows, i, 0));
		const char *name = PQgetvalue(applied->rows, i, 1);
		if (version != i + 1) {
			log_error("migrate: schema_migrations has version %d where %d was expected",
			          version, i + 1);
			return false;
		}
		if ((size_t)version > sd->migration_count) {
			log_error(
			    "migrate: the database has migration %s, which %s/migrations does not "
			    "have: it was migrated by a newer rollcalld",
			    name, schema_dir);
			return false;
		}
		const struct schema_file *f = &sd->migrations[i];
		if (strcmp(name, f->name) != 0) {
			log_error("migrate: the database's migration %d is %s, but the file is "
			          "%s/migrations/%s",
			          version, name, schema_dir, f->name);
			return false;
		}
		if (PQgetisnull(applied->rows, i, 2)) {
			unhashed++;
			continue;
		}
		if (strcmp(PQgetvalue(applied->rows, i, 2), f->sha256) != 0) {
			log_error(
			    "migrate: %s/migrations/%s has changed since it was applied to this "
			    "database: a released migration never changes (restore it and put the "
			    "change in a new migration)",
			    schema_dir, f->name);
			return false;
		}
	}
	if (unhashed == 0)
		return true;
	if (unhashed != applied->count || applied->count != RELEASE1_MIGRATIONS) {
		log_error(
		    "migrate: %d applied migrations have no recorded hash; only a database of "
		    "the first release (migrations 001-%03d) can be adopted",
		    unhashed, RELEASE1_MIGRATIONS);
		return false;
	}
	for (int i = 0; i < applied->count; i++) {
		char version[16];
		snprintf(version, sizeof version, "%d", i + 1);
		const char *params[] = {version, sd->migrations[i].sha256};
		if (!run_ok(conn, "UPDATE schema_migrations SET sha256 = $2 WHERE version = $1", 2,
		            params, "recording a release-1 migration's hash"))
			return false;
	}
	log_info(
	    "migrate: a first-release database: migrations 001-%03d recorded with their hashes",
	    RELEASE1_MIGRATIONS);
	return true;
}

/* The recorded code-layer hash into out (empty when none). */
static bool code_hash_read(PGconn *conn, char out[SCHEMA_HASH_SIZE])
{
	out[0] = '\0';
	PGresult *res = db_startup_run(conn, "SELECT sha256 FROM schema_code", 0, NULL);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("migrate: cannot read schema_code: %s",
		          res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		PQclear(res);
		return false;
	}
	if (PQntuples(res) == 1)
		snprintf(out, SCHEMA_HASH_SIZE, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

static bool apply_migration(PGconn *conn, const struct schema_file *f, int version,
                            const char *when)
{
	char vtext[16];
	snprintf(vtext, sizeof vtext, "%d", version);
	const char *params[] = {vtext, f->name, when, f->sha256};
	if (!run_ok(conn, f->sql, 0, NULL, f->name) ||
	    !run_ok(conn,
	            "INSERT INTO schema_migrations (version, name, applied_at, sha256) "
	            "VALUES ($1, $2, $3, $4)",
	            4, params, f->name))
		return false;
	log_info("migrate: applied migrations/%s", f->name);
	return true;
}

static bool apply_code(PGconn *conn, const struct schema_dir *sd, const char *when)
{
	/* As pg_dump does: bodies are checked when first run, so files need no order among
	 * themselves (a trigger stays beside its function). */
	if (!run_ok(conn, "SET LOCAL check_function_bodies = off", 0, NULL, "code layer") ||
	    !run_ok(conn, drop_code_sql, 0, NULL, "dropping the code layer"))
		return false;
	for (size_t i = 0; i < sd->code_count; i++) {
		char what[300];
		snprintf(what, sizeof what, "code/%s", sd->code[i].name);
		if (!run_ok(conn, sd->code[i].sql, 0, NULL, what))
			return false;
	}
	const char *params[] = {sd->code_hash, when};
	return run_ok(
	    conn,
	    "INSERT INTO schema_code (singleton, sha256, applied_at) VALUES (true, $1, $2) "
	    "ON CONFLICT (singleton) DO UPDATE SET sha256 = EXCLUDED.sha256, "
	    "applied_at = EXCLUDED.applied_at",
	    2, params, "recording the code layer");
}

/* Everything after the lock, inside one transaction. */
static bool migrate_locked(PGconn *conn, const struct schema_dir *sd, const char *schema_dir)
{
	struct applied applied = {0};
	char recorded[SCHEMA_HASH_SIZE], when[CLOCK_TEXT_SIZE];
	clock_format(clock_now_us(), when);
	bool ok = run_ok(conn, "BEGIN", 0, NULL, "migrate") &&
	          run_ok(conn, bookkeeping_sql, 0, NULL, "bookkeeping tables") &&
	          applied_read(conn, &applied) && applied_check(conn, &applied, sd, schema_dir) &&
	          code_hash_read(conn, recorded);
	size_t pending = ok ? sd->migration_count - (size_t)applied.count : 0;
	bool code_changed = ok && strcmp(recorded, sd->code_hash) != 0;
	if (ok && (pending > 0 || code_changed)) {
		/* Migrations run with no code layer present (see the top of this file). */
		ok = run_ok(conn, drop_code_sql, 0, NULL, "dropping the code layer");
		for (size_t i = (size_t)applied.count; ok && i < sd->migration_count; i++)
			ok = apply_migration(conn, &sd->migrations[i], (int)i + 1, when);
		ok = ok && apply_code(conn, sd, when);
	}
	ok = ok && run_ok(conn, "COMMIT", 0, NULL, "migrate");
	PQclear(applied.rows);
	if (!ok) {
		PGresult *res = db_startup_run(conn, "ROLLBACK", 0, NULL);
		PQclear(res);
		log_error("migrate: nothing was changed");
		return false;
	}
	if (pending == 0 && !code_changed)
		log_info("migrate: the database is up to date (%zu migrations, code layer %.12s)",
		         sd->migration_count, sd->code_hash);
	else
		log_info("migrate: %zu migration%s applied, code layer %.12s (%zu files) %s",
		         pending, pending == 1 ? "" : "s", sd->code_hash, sd->code_count,
		         recorded[0] ? "re-applied" : "applied");
	return true;
}

bool schema_migrate(const char *conninfo, const char *schema_dir)
{
	struct schema_dir sd;
	char err[1024];
	if (!schema_dir_load(schema_dir, &sd, err, sizeof err)) {
		log_error("migrate: %s", err);
		return false;
	}
	if (!schema_dir_check_build(&sd, err, sizeof err)) {
		log_error(
		    "migrate: %s: %s (use the schema directory this rollcalld was built with, "
		    "--schema-dir DIR)",
		    schema_dir, err);
		schema_dir_free(&sd);
		return false;
	}
	PGconn *conn = db_startup_connect(conninfo, 30);
	bool ok = false;
	if (conn) {
		PQsetNoticeProcessor(conn, notice_to_debug, NULL);
		ok = run_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_ID ")", 0, NULL,
		            "migrate") &&
		     migrate_locked(conn, &sd, schema_dir);
		PQfinish(conn);
	}
	schema_dir_free(&sd);
	return ok;
}
