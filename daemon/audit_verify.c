/* rollcalld --verify-audit: reads the sealed audit rows in seal order and recomputes each hash,
 * SHA-256 over the previous row's hash and the row's canonical serialisation (docs/DESIGN.md,
 * "The audit chain"; the SQL twin is audit_canonical in schema/code/audit_chain.sql). Done in C
 * with OpenSSL rather than by calling the SQL, so that whoever can replace the code layer cannot
 * also replace the check. A one-shot command: a blocking connection is fine here. */
#include "audit_verify.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_startup.h"
#include "log.h"

#define VERIFY_CONNECT_TIMEOUT_S 10
#define AUDIT_HASH_SIZE 32

/* The hashed fields after the seal, in order (columns 3.. of the query). */
#define AUDIT_FIELDS 11
static const char verify_sql[] =
    "SELECT a.id, encode(a.hash, 'hex'), a.seal::text, a.id::text,"
    " to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), a.cn, a.role,"
    " a.action, a.resident::text, a.request_id, a.remote, a.outcome, a.detail::text"
    " FROM audit a WHERE a.seal IS NOT NULL ORDER BY a.seal";

/* One field as 'N' (NULL) or 'S' <decimal byte length> ':' <bytes>. */
static bool digest_field(EVP_MD_CTX *md, const PGresult *res, int column)
{
	if (PQgetisnull(res, 0, column))
		return EVP_DigestUpdate(md, "N", 1) == 1;
	const char *value = PQgetvalue(res, 0, column);
	size_t len = (size_t)PQgetlength(res, 0, column);
	char prefix[32];
	int n = snprintf(prefix, sizeof prefix, "S%zu:", len);
	return EVP_DigestUpdate(md, prefix, (size_t)n) == 1 &&
	       EVP_DigestUpdate(md, value, len) == 1;
}

/* The row's hash in hex (65 bytes with the NUL), chained to prev (prev_len 0 for the first). */
static bool row_hash(const PGresult *res, const unsigned char *prev, size_t prev_len,
                     unsigned char out[AUDIT_HASH_SIZE])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	          (prev_len == 0 || EVP_DigestUpdate(md, prev, prev_len) == 1);
	for (int c = 2; ok && c < 2 + AUDIT_FIELDS; c++)
		ok = digest_field(md, res, c);
	unsigned int len = 0;
	ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 && len == AUDIT_HASH_SIZE;
	EVP_MD_CTX_free(md);
	return ok;
}

static bool hex_decode(const char *hex, unsigned char out[AUDIT_HASH_SIZE])
{
	if (strlen(hex) != 2 * AUDIT_HASH_SIZE)
		return false;
	for (int i = 0; i < AUDIT_HASH_SIZE; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (unsigned char)v;
	}
	return true;
}

/* Checks one row against the chain so far; prints why and returns false when it breaks it. */
static bool check_row(const PGresult *res, int64_t expected_seal, unsigned char prev[],
                      size_t *prev_len)
{
	const char *id = PQgetvalue(res, 0, 0);
	const char *seal_text = PQgetvalue(res, 0, 2);
	int64_t seal = strtoll(seal_text, NULL, 10);
	if (seal != expected_seal) {
		printf("audit chain broken at row %s (seal %s): expected seal %" PRId64
		       " (a row is missing or was inserted)\n",
		       id, seal_text, expected_seal);
		return false;
	}
	unsigned char stored[AUDIT_HASH_SIZE], computed[AUDIT_HASH_SIZE];
	if (PQgetisnull(res, 0, 1) || !hex_decode(PQgetvalue(res, 0, 1), stored)) {
		printf("audit chain broken at row %s (seal %s): its hash is missing or malformed\n",
		       id, seal_text);
		return false;
	}
	if (!row_hash(res, prev, *prev_len, computed)) {
		printf("audit chain broken at row %s (seal %s): cannot compute its hash\n", id,
		       seal_text);
		return false;
	}
	if (memcmp(stored, computed, AUDIT_HASH_SIZE) != 0) {
		printf(
		    "audit chain broken at row %s (seal %s): its hash does not match its content "
		    "and the previous row's hash\n",
		    id, seal_text);
		return false;
	}
	memcpy(prev, stored, AUDIT_HASH_SIZE);
	*prev_len = AUDIT_HASH_SIZE;
	return true;
}

int audit_verify(const char *conninfo)
{
	PGconn *conn = db_startup_connect(conninfo, VERIFY_CONNECT_TIMEOUT_S);
	if (!conn)
		return 2;
	/* Row by row: the log may hold millions of rows. */
	if (!PQsendQuery(conn, verify_sql) || !PQsetSingleRowMode(conn)) {
		log_error("verify-audit: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 2;
	}
	int status = 0;
	int64_t rows = 0;
	unsigned char prev[AUDIT_HASH_SIZE];
	size_t prev_len = 0;
	PGresult *res;
	while ((res = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE && status == 0) {
			if (check_row(res, rows + 1, prev, &prev_len))
				rows++;
			else
				status =
				    1; /* keep draining the results; the rest says nothing more */
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) {
			log_error("verify-audit: %s", PQresultErrorMessage(res));
			status = 2;
		}
		PQclear(res);
	}
	PQfinish(conn);
	if (status == 0)
		printf("audit chain intact: %" PRId64 " rows\n", rows);
	return status;
}
