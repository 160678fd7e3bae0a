/* A schema directory read into memory: schema/migrations/NNN_name.sql (numbered from 001 with
 * no gaps) and schema/code/<concern>.sql, each with its SHA-256, and the code layer's combined
 * hash. The same hashes are computed by CMake into schema_manifest.c; schema_dir_check_build()
 * says where a directory and this build disagree. */
#ifndef ROLLCALL_SCHEMA_FILES_H
#define ROLLCALL_SCHEMA_FILES_H

#include <stdbool.h>
#include <stddef.h>

#define SCHEMA_HASH_SIZE 65 /* 64 hex digits and the NUL */

struct schema_file {
	char *name; /* owned */
	char *sql;  /* owned, NUL-terminated */
	char sha256[SCHEMA_HASH_SIZE];
};

struct schema_dir {
	struct schema_file *migrations; /* migrations[i] is number i + 1 */
	size_t migration_count;
	struct schema_file *code; /* in name order */
	size_t code_count;
	char code_hash[SCHEMA_HASH_SIZE];
};

/* Reads dir/migrations and dir/code. On failure writes why into err and leaves *out empty. */
bool schema_dir_load(const char *dir, struct schema_dir *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void schema_dir_free(struct schema_dir *sd);

/* Whether the directory holds exactly the files this rollcalld was built with; err names the
 * first file that differs. */
bool schema_dir_check_build(const struct schema_dir *sd, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Lower-case hex SHA-256 of len bytes. */
void schema_sha256_hex(const void *data, size_t len, char out[SCHEMA_HASH_SIZE]);

/* The code layer's hash: SHA-256 over "<name> <sha256>\n" for each file in name order (what
 * CMakeLists.txt computes too). */
void schema_code_hash(const struct schema_file *files, size_t count, char out[SCHEMA_HASH_SIZE]);

#endif
