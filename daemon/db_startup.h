/* Database work done before the event loop starts (migrations, the schema check, the bootstrap
 * account, the stored test clock). Waiting is acceptable there and nowhere else. */
#ifndef ROLLCALL_DB_STARTUP_H
#define ROLLCALL_DB_STARTUP_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* Connects, waiting at most timeout_s; NULL on failure (the reason is logged). */
PGconn *db_startup_connect(const char *conninfo, int timeout_s);

/* Runs one statement (params may be NULL) and waits for it; returns the last result, which
 * the caller PQclear()s, or NULL when the connection failed. */
PGresult *db_startup_run(PGconn *conn, const char *sql, int nparams, const char *const *params);

/* Checks that the database's schema is this build's (every migration by its hash, the code
 * layer by its combined hash), creates the bootstrap admin and loads the stored test clock
 * (into *test_clock_us, 0 when none). Says what to run when the schema does not match. */
bool db_startup_check(const char *conninfo, const char *bootstrap_admin, int64_t now_us,
                      int64_t *test_clock_us) __attribute__((warn_unused_result));

#endif
