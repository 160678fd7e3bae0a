/* rollcalld --verify-audit: reads the seals (audit_seals) in seal order, each with its audit row,
 * and recomputes each hash, SHA-256 over the previous row's hash and the row's canonical
 * serialisation (docs/DESIGN.md, "The audit chain"; the SQL twin is audit_canonical in
 * schema/code/audit_chain.sql). Done in C with OpenSSL rather than by calling the SQL, so that
 * whoever can replace the code layer cannot also replace the check. Then it looks for an audit
 * row the sealer's watermark says is sealed but that has no seal (its seal row was deleted). A
 * one-shot command: a blocking connection is fine here. */
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
    "SELECT s.audit_id, encode(s.hash, 'hex'), s.seal::text, a.id::text,"
    " to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), a.cn, a.role,"
    " a.action, a.resident::text, a.request_id, a.remote, a.outcome, a.detail::text"
    " FROM audit_seals s LEFT JOIN audit a ON a.id = s.audit_id ORDER BY s.seal";

/* The lowest audit row at or below the watermark without a seal: the sealer never looks there
 * again, so its seal was there and has been deleted. */
static const char unsealed_sql[] =
    "SELECT a.id::text, w.watermark::text FROM audit_seal_state w"
    " JOIN audit a ON a.id <= w.watermark"
    " WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_id = a.id)"
    " ORDER BY a.id LIMIT 1";

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
	if (PQgetisnull(res, 0, 3)) {
		printf("audit chain broken at row %s (seal %s): the audit row is missing "
		       "(deleted)\n",
		       id, seal_text);
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

/* 0 when no row at or below the watermark lacks a seal; else prints it and returns 1 (2 when
 * the query fails). */
static int check_unsealed(PGconn *conn)
{
	PGresult *res = PQexec(conn, unsealed_sql);
	int status = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("verify-audit: %s", PQresultErrorMessage(res));
		status = 2;
	} else if (PQntuples(res) > 0) {
		printf("audit chain broken at row %s (no seal): it is at or below the sealer's "
		       "watermark %s, so its seal was deleted\n",
		       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		status = 1;
	}
	PQclear(res);
	return status;
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
	if (status == 0)
		status = check_unsealed(conn);
	PQfinish(conn);
	if (status == 0)
		printf("audit chain intact: %" PRId64 " rows\n", rows);
	return status;
}
