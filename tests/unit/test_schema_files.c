/* Tests of reading and hashing a schema directory (daemon/schema_files.c): the SHA-256 itself,
 * and that the hashes C computes from schema/ are the ones CMake built into this binary (the
 * two must agree byte for byte, or every daemon would refuse every database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "schema_files.h"
#include "schema_manifest.h"

static void test_sha256_of_known_text(void **state)
{
	char out[SCHEMA_HASH_SIZE];
	schema_sha256_hex("abc", 3, out);
	assert_string_equal(out,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	schema_sha256_hex("", 0, out);
	assert_string_equal(out,
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_source_schema_matches_the_build(void **state)
{
	struct schema_dir sd;
	char err[512];
	assert_true(schema_dir_load(ROLLCALL_SCHEMA_DIR, &sd, err, sizeof err));
	assert_int_equal(sd.migration_count, schema_manifest_migration_count);
	assert_int_equal(sd.code_count, schema_manifest_code_count);
	assert_string_equal(sd.code_hash, schema_manifest_code_hash);
	assert_true(schema_dir_check_build(&sd, err, sizeof err));
	schema_dir_free(&sd);
}

/* A scratch schema directory with the given files (name, text), NULL-terminated pairs. */
static void make_dir(char *dir, const char *const *files)
{
	char path[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/migrations", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/code", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	for (size_t i = 0; files[i]; i += 2) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(files[i + 1], f);
		fclose(f);
	}
}

static void remove_dir(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_code_hash_is_over_names_and_hashes(void **state)
{
	char dir[] = "/tmp/rollcall-schema-test.XXXXXX";
	static const char *const files[] = {"migrations/001_a.sql",
	                                    "CREATE TABLE a (x int);\n",
	                                    "code/b.sql",
	                                    "SELECT 1;\n",
	                                    "code/a.sql",
	                                    "SELECT 2;\n",
	                                    NULL};
	make_dir(dir, files);
	struct schema_dir sd;
	char err[512];
	assert_true(schema_dir_load(dir, &sd, err, sizeof err));
	assert_int_equal(sd.migration_count, 1);
	assert_int_equal(sd.code_count, 2);
	assert_string_equal(sd.code[0].name, "a.sql"); /* sorted */
	char a[SCHEMA_HASH_SIZE], b[SCHEMA_HASH_SIZE], text[300], expected[SCHEMA_HASH_SIZE];
	schema_sha256_hex("SELECT 2;\n", 10, a);
	schema_sha256_hex("SELECT 1;\n", 10, b);
	assert_string_equal(sd.code[0].sha256, a);
	int len = snprintf(text, sizeof text, "a.sql %s\nb.sql %s\n", a, b);
	schema_sha256_hex(text, (size_t)len, expected);
	assert_string_equal(sd.code_hash, expected);
	/* Not this build's files. */
	assert_false(schema_dir_check_build(&sd, err, sizeof err));
	assert_non_null(strstr(err, "001_a.sql"));
	schema_dir_free(&sd);
	remove_dir(dir);
}

static void test_gap_in_migrations_is_refused(void **state)
{
	char dir[] = "/tmp/rollcall-schema-test.XXXXXX";
	static const char *const files[] = {"migrations/001_a.sql", "SELECT 1;\n",
	                                    "migrations/003_c.sql", "SELECT 3;\n", NULL};
	make_dir(dir, files);
	struct schema_dir sd;
	char err[512];
	assert_false(schema_dir_load(dir, &sd, err, sizeof err));
	assert_non_null(strstr(err, "003_c.sql is out of sequence"));
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_of_known_text),
	    cmocka_unit_test(test_source_schema_matches_the_build),
	    cmocka_unit_test(test_code_hash_is_over_names_and_hashes),
	    cmocka_unit_test(test_gap_in_migrations_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
