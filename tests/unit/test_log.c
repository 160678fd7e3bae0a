/* Unit tests of daemon/log.c: the line format (text and JSON), the level filter, and that a
 * message cannot break out of its line. stderr is redirected into a pipe for each test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "log.h"

static int saved_stderr = -1;
static int pipe_read = -1;

/* Sends stderr into a pipe until captured() collects it. */
static void capture_start(void)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	/* Large enough for every line a test writes, so log_msg never blocks. */
	(void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	close(fds[1]);
	pipe_read = fds[0];
}

/* Restores stderr and returns what was written (caller frees). */
static char *captured(void)
{
	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	size_t size = 0, cap = 65536;
	char *text = malloc(cap);
	assert_non_null(text);
	ssize_t n;
	while ((n = read(pipe_read, text + size, cap - size - 1)) > 0) {
		size += (size_t)n;
		if (cap - size - 1 == 0) {
			cap *= 2;
			text = realloc(text, cap);
			assert_non_null(text);
		}
	}
	close(pipe_read);
	text[size] = '\0';
	return text;
}

static int teardown_level(void **state)
{
	(void)state;
	log_set_level(LOG_INFO);
	return 0;
}

static void test_line_format(void **state)
{
	(void)state;
	capture_start();
	log_info("round %d of %s recorded", 2, "tonder");
	char *text = captured();

	regex_t re;
	assert_int_equal(
	    regcomp(&re,
	            "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
	            "rollcalld\\[([0-9]+)\\] INFO round 2 of tonder recorded\n$",
	            REG_EXTENDED),
	    0);
	regmatch_t match[2];
	if (regexec(&re, text, 2, match, 0) != 0)
		fail_msg("unexpected line: %s", text);
	regfree(&re);
	assert_int_equal(atol(text + match[1].rm_so), (long)getpid());

	/* The timestamp is the wall time, in a form clock_parse reads. */
	char stamp[32];
	memcpy(stamp, text, 24);
	stamp[24] = '\0';
	int64_t logged_us;
	assert_true(clock_parse(stamp, &logged_us));
	int64_t now_us = clock_now_us();
	assert_true(logged_us <= now_us && now_us - logged_us < 5000000);
	free(text);
}

static void test_wall_time_even_with_test_clock(void **state)
{
	(void)state;
	clock_use_test(true);
	clock_set_us(0); /* 1970 */
	capture_start();
	log_warn("clock moved");
	char *text = captured();
	clock_use_test(false);
	assert_true(strncmp(text, "1970", 4) != 0);
	assert_non_null(strstr(text, " WARN clock moved\n"));
	free(text);
}

static void test_level_filter(void **state)
{
	(void)state;
	assert_int_equal(log_get_level(), LOG_INFO);
	capture_start();
	log_debug("not shown at info");
	log_info("shown at info");
	log_set_level(LOG_WARN);
	log_info("not shown at warn");
	log_warn("shown at warn");
	log_error("shown at error");
	log_set_level(LOG_DEBUG);
	log_debug("shown at debug");
	log_set_level(LOG_ERROR);
	log_warn("not shown at error");
	log_error("still shown");
	char *text = captured();
	assert_null(strstr(text, "not shown"));
	assert_non_null(strstr(text, " INFO shown at info\n"));
	assert_non_null(strstr(text, " WARN shown at warn\n"));
	assert_non_null(strstr(text, " ERROR shown at error\n"));
	assert_non_null(strstr(text, " DEBUG shown at debug\n"));
	assert_non_null(strstr(text, " ERROR still shown\n"));
	free(text);

	log_set_level((enum log_level)42); /* ignored */
	assert_int_equal(log_get_level(), LOG_ERROR);
}

static void test_level_names(void **state)
{
	(void)state;
	enum log_level level = LOG_INFO;
	assert_true(log_level_parse("error", &level));
	assert_int_equal(level, LOG_ERROR);
	assert_true(log_level_parse("warn", &level));
	assert_int_equal(level, LOG_WARN);
	assert_true(log_level_parse("info", &level));
	assert_int_equal(level, LOG_INFO);
	assert_true(log_level_parse("debug", &level));
	assert_int_equal(level, LOG_DEBUG);
	level = LOG_INFO;
	assert_false(log_level_parse("warning", &level));
	assert_false(log_level_parse("", &level));
	assert_false(log_level_parse(NULL, &level));
	assert_int_equal(level, LOG_INFO);
}

static void test_control_characters_cannot_forge_lines(void **state)
{
	(void)state;
	capture_start();
	log_info("cn=%s", "evil\n2026-01-01T00:00:00.000Z rollcalld[1] ERROR forged\r\t\x01\x7f");
	char *text = captured();
	assert_non_null(strstr(text, "cn=evil\\n2026-01-01T00:00:00.000Z rollcalld[1] ERROR "
	                             "forged\\r\\t\\x01\\x7f\n"));
	assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text)); /* one line */
	/* UTF-8 passes unchanged. */
	capture_start();
	log_info("centre Tønder");
	free(text);
	text = captured();
	assert_non_null(strstr(text, " INFO centre Tønder\n"));
	free(text);
}

static void test_long_message_is_cut_to_one_atomic_write(void **state)
{
	(void)state;
	char *big = malloc(20001);
	assert_non_null(big);
	memset(big, 'x', 20000);
	big[20000] = '\0';
	capture_start();
	log_error("%s", big);
	log_error("next");
	char *text = captured();
	char *first_end = strchr(text, '\n');
	assert_non_null(first_end);
	size_t first_len = (size_t)(first_end - text) + 1;
	assert_true(first_len <= 4096);
	assert_memory_equal(first_end - 3, "...", 3);
	assert_non_null(strstr(first_end + 1, " ERROR next\n"));
	free(text);
	free(big);
}

static void test_errno_preserved(void **state)
{
	(void)state;
	capture_start();
	errno = ENOENT;
	log_error("open failed");
	assert_int_equal(errno, ENOENT);
	log_debug("filtered");
	assert_int_equal(errno, ENOENT);
	free(captured());
}

/* Each line of text parsed as one JSON object; returns the n-th (from 0). */
static json_t *json_line(const char *text, int n)
{
	const char *line = text;
	for (int i = 0; i < n; i++) {
		line = strchr(line, '\n');
		assert_non_null(line);
		line++;
	}
	const char *end = strchr(line, '\n');
	assert_non_null(end);
	json_error_t error;
	json_t *v = json_loadb(line, (size_t)(end - line), 0, &error);
	if (!v)
		fail_msg("not JSON (%s): %.*s", error.text, (int)(end - line), line);
	assert_true(json_is_object(v));
	return v;
}

/* A CN is quoted when it holds a space, quote or backslash: the text line reads one way and the
 * JSON line's account is the whole CN, line breaks and all, not a piece of it. */
static void test_a_cn_with_spaces_stays_one_field(void **state)
{
	(void)state;
	char q[128];
	log_quote("staff-1", q, sizeof q);
	assert_string_equal(q, "staff-1");
	log_quote("", q, sizeof q);
	assert_string_equal(q, "\"\"");
	log_quote("a \"b\" \\c", q, sizeof q);
	assert_string_equal(q, "\"a \\\"b\\\" \\\\c\"");
	char small[6];
	log_quote("a b c d e f", small, sizeof small);
	assert_string_equal(small, "\"a b\"");
	const char *cn = "evil\r\n2026-01-01T00:00:00.000Z rollcalld[1] ERROR forged \"x\"";
	log_quote(cn, q, sizeof q);
	log_set_format(LOG_FORMAT_JSON);
	capture_start();
	log_info("req=1 cn=%s GET /healthz -> 200 (1 us)", q);
	char *text = captured();
	log_set_format(LOG_FORMAT_TEXT);
	json_t *a = json_line(text, 0);
	assert_string_equal(json_string_value(json_object_get(a, "account")), cn);
	assert_string_equal(json_string_value(json_object_get(a, "msg")),
	                    "GET /healthz -> 200 (1 us)");
	json_decref(a);
	free(text);
	capture_start();
	log_info("req=1 cn=%s GET /healthz -> 200 (1 us)", q);
	text = captured();
	assert_non_null(strstr(text, "cn=\"evil\\r\\n2026-01-01T00:00:00.000Z rollcalld[1] ERROR "
	                             "forged \\\"x\\\"\" GET"));
	assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text)); /* one line */
	free(text);
}

static void test_json_lines(void **state)
{
	(void)state;
	enum log_format format = LOG_FORMAT_TEXT;
	assert_true(log_format_parse("json", &format));
	assert_int_equal(format, LOG_FORMAT_JSON);
	assert_false(log_format_parse("JSON ", &format));
	assert_false(log_format_parse(NULL, &format));
	log_set_format(LOG_FORMAT_JSON);
	capture_start();
	log_info("req=7dcabe3f00000007 cn=staff-1 POST /v1/residents -> 201 (2377 us)");
	log_warn("sender: \"quoted\" \\ back\nslash\x01 Tønder \xff\xc3 end");
	log_error("req=abc only an id");
	char *text = captured();
	log_set_format(LOG_FORMAT_TEXT);

	json_t *a = json_line(text, 0);
	assert_string_equal(json_string_value(json_object_get(a, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(a, "request_id")),
	                    "7dcabe3f00000007");
	assert_string_equal(json_string_value(json_object_get(a, "account")), "staff-1");
	assert_string_equal(json_string_value(json_object_get(a, "msg")),
	                    "POST /v1/residents -> 201 (2377 us)");
	assert_int_equal(json_integer_value(json_object_get(a, "pid")), getpid());
	regex_t ts;
	assert_int_equal(
	    regcomp(&ts, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
	            REG_EXTENDED | REG_NOSUB),
	    0);
	assert_int_equal(regexec(&ts, json_string_value(json_object_get(a, "ts")), 0, NULL, 0), 0);
	regfree(&ts);

	/* Escapes survive the round trip; bytes that are not UTF-8 become U+FFFD. */
	json_t *b = json_line(text, 1);
	assert_string_equal(json_string_value(json_object_get(b, "level")), "warn");
	assert_string_equal(
	    json_string_value(json_object_get(b, "msg")),
	    "sender: \"quoted\" \\ back\nslash\x01 Tønder \xef\xbf\xbd\xef\xbf\xbd end");
	assert_null(json_object_get(b, "request_id"));

	json_t *c = json_line(text, 2);
	assert_string_equal(json_string_value(json_object_get(c, "request_id")), "abc");
	assert_null(json_object_get(c, "account"));
	assert_string_equal(json_string_value(json_object_get(c, "msg")), "only an id");
	json_decref(a), json_decref(b), json_decref(c);
	free(text);
}

static void test_json_long_message_is_cut_and_still_json(void **state)
{
	(void)state;
	char *big = malloc(20001);
	assert_non_null(big);
	for (int i = 0; i < 20000; i++)
		big[i] = i % 3 ? 'x' : '"'; /* escapes double what fits */
	big[20000] = '\0';
	log_set_format(LOG_FORMAT_JSON);
	capture_start();
	log_error("%s", big);
	log_error("next");
	char *text = captured();
	log_set_format(LOG_FORMAT_TEXT);
	char *first_end = strchr(text, '\n');
	assert_non_null(first_end);
	assert_true((size_t)(first_end - text) + 1 <= 4096);
	json_t *a = json_line(text, 0);
	assert_true(json_is_true(json_object_get(a, "cut")));
	json_t *b = json_line(text, 1);
	assert_string_equal(json_string_value(json_object_get(b, "msg")), "next");
	assert_null(json_object_get(b, "cut"));
	json_decref(a), json_decref(b);
	free(text);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_line_format, teardown_level),
	    cmocka_unit_test_teardown(test_wall_time_even_with_test_clock, teardown_level),
	    cmocka_unit_test_teardown(test_level_filter, teardown_level),
	    cmocka_unit_test_teardown(test_level_names, teardown_level),
	    cmocka_unit_test_teardown(test_control_characters_cannot_forge_lines, teardown_level),
	    cmocka_unit_test_teardown(test_long_message_is_cut_to_one_atomic_write, teardown_level),
	    cmocka_unit_test_teardown(test_errno_preserved, teardown_level),
	    cmocka_unit_test_teardown(test_json_lines, teardown_level),
	    cmocka_unit_test_teardown(test_a_cn_with_spaces_stays_one_field, teardown_level),
	    cmocka_unit_test_teardown(test_json_long_message_is_cut_and_still_json, teardown_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
