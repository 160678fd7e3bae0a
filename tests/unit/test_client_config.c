/* Unit tests of the client's configuration (client/config.c): keys at the top or under
 * [rollcall], file names relative to the configuration, and refusals naming the key and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/rollcall-config-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/config", f->dir);
	/* The files the configuration names must exist and be readable. */
	const char *names[] = {"me.pem", "me.key", "ca.pem"};
	for (size_t i = 0; i < 3; i++) {
		char file[160];
		snprintf(file, sizeof(file), "%s/%s", f->dir, names[i]);
		FILE *out = fopen(file, "w");
		if (out == NULL)
			return -1;
		fputs("x\n", out);
		fclose(out);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	const char *names[] = {"me.pem", "me.key", "ca.pem", "config"};
	for (size_t i = 0; i < 4; i++) {
		char file[160];
		snprintf(file, sizeof(file), "%s/%s", f->dir, names[i]);
		unlink(file);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_config(const struct fixture *f, const char *text)
{
	FILE *out = fopen(f->path, "w");
	assert_non_null(out);
	fputs(text, out);
	fclose(out);
}

static void test_config_top_level_keys_relative_files(void **state)
{
	struct fixture *f = *state;
	struct client_config config;
	char err[512];
	write_config(f, "# staff terminal\nurl = https://rollcall.example.dk:8443\n"
	                "cert = me.pem\nkey = me.key\nca = ca.pem\n");
	assert_true(config_load(f->path, &config, err, sizeof(err)));
	assert_string_equal(config.url, "https://rollcall.example.dk:8443");
	char expected[200];
	snprintf(expected, sizeof(expected), "%s/me.pem", f->dir);
	assert_string_equal(config.cert, expected);
	config_free(&config);
}

static void test_config_rollcall_section(void **state)
{
	struct fixture *f = *state;
	struct client_config config;
	char err[512];
	char text[600];
	snprintf(text, sizeof(text),
	         "[rollcall]\nurl = https://127.0.0.1:8443\ncert = %s/me.pem\nkey = me.key\n"
	         "ca = ca.pem ; the deployment's CA\n",
	         f->dir);
	write_config(f, text);
	assert_true(config_load(f->path, &config, err, sizeof(err)));
	char expected[200];
	snprintf(expected, sizeof(expected), "%s/ca.pem", f->dir);
	assert_string_equal(config.ca, expected);
	config_free(&config);
}

static void expect_refusal(struct fixture *f, const char *text, const char *needle)
{
	struct client_config config;
	char err[512];
	write_config(f, text);
	assert_false(config_load(f->path, &config, err, sizeof(err)));
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, needle);
	assert_null(config.url);
}

static void test_config_unknown_key_names_key_and_line(void **state)
{
	struct fixture *f = *state;
	expect_refusal(f, "url = https://h\ncert = me.pem\n\nkee = me.key\nca = ca.pem\n",
	               "line 4: unknown key 'kee'");
}

static void test_config_other_refusals(void **state)
{
	struct fixture *f = *state;
	expect_refusal(f, "[rollcalld]\nurl = https://h\n",
	               "line 2: key 'url' is in an unknown section [rollcalld]");
	expect_refusal(f, "url = https://h\nurl = https://i\n", "line 2: key 'url' is given twice");
	expect_refusal(f, "url = http://h\ncert = me.pem\nkey = me.key\nca = ca.pem\n", "https://");
	expect_refusal(f, "url = https://h\ncert = me.pem\nkey = me.key\n", "'ca' is missing");
	expect_refusal(f, "url = https://h\ncert = nothere.pem\nkey = me.key\nca = ca.pem\n",
	               "nothere.pem");
	expect_refusal(f, "url https://h\n", "line 1");
}

static void test_config_choose_path(void **state)
{
	(void)state;
	char path[256], err[256];
	assert_true(config_choose_path("/etc/x", path, sizeof(path), err, sizeof(err)));
	assert_string_equal(path, "/etc/x");
	setenv("ROLLCALL_CONFIG", "/from/env", 1);
	assert_true(config_choose_path(NULL, path, sizeof(path), err, sizeof(err)));
	assert_string_equal(path, "/from/env");
	unsetenv("ROLLCALL_CONFIG");
	setenv("HOME", "/home/anna", 1);
	assert_true(config_choose_path(NULL, path, sizeof(path), err, sizeof(err)));
	assert_string_equal(path, "/home/anna/.config/rollcall/config");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_top_level_keys_relative_files, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_config_rollcall_section, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_unknown_key_names_key_and_line, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_config_other_refusals, setup, teardown),
	    cmocka_unit_test(test_config_choose_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
