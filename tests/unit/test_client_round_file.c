/* Unit tests of `rollcall round --file` parsing (client/round_file.c): the text line format
 * "CASE STATUS [REASON] [NOTE...]" and the JSON {"observations":[...]} form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "round_file.h"

static enum round_line_result parse(const char *text, struct observation_line *out, char *buf,
                                    size_t buflen, char *err)
{
	snprintf(buf, buflen, "%s", text);
	return round_line_parse(buf, out, err, 300);
}

static void test_round_line_present_absent_with_note(void **state)
{
	(void)state;
	char buf[300], err[300];
	struct observation_line line;
	assert_int_equal(parse("UMI-7 present\n", &line, buf, sizeof(buf), err), ROUND_LINE_OK);
	assert_string_equal(line.case_number, "UMI-7");
	assert_string_equal(line.status, "present");
	assert_null(line.reason);
	assert_null(line.note);

	assert_int_equal(parse("  UMI-8\tabsent  left after dinner,\tphone off  \r\n", &line, buf,
	                       sizeof(buf), err),
	                 ROUND_LINE_OK);
	assert_string_equal(line.status, "absent");
	assert_string_equal(line.note, "left after dinner,\tphone off");

	assert_int_equal(parse("42 a", &line, buf, sizeof(buf), err), ROUND_LINE_OK);
	assert_string_equal(line.case_number, "42");
	assert_string_equal(line.status, "absent");
}

static void test_round_line_excused_needs_reason(void **state)
{
	(void)state;
	char buf[300], err[300];
	struct observation_line line;
	assert_int_equal(
	    parse("UMI-9 excused hospital appendix, Sønderborg", &line, buf, sizeof(buf), err),
	    ROUND_LINE_OK);
	assert_string_equal(line.status, "excused");
	assert_string_equal(line.reason, "hospital");
	assert_string_equal(line.note, "appendix, Sønderborg");

	assert_int_equal(parse("UMI-9 e school_trip", &line, buf, sizeof(buf), err), ROUND_LINE_OK);
	assert_string_equal(line.reason, "school_trip");
	assert_null(line.note);

	assert_int_equal(parse("UMI-9 excused", &line, buf, sizeof(buf), err), ROUND_LINE_ERROR);
	assert_non_null(strstr(err, "needs a reason"));
	assert_int_equal(parse("UMI-9 excused holiday", &line, buf, sizeof(buf), err),
	                 ROUND_LINE_ERROR);
	assert_non_null(strstr(err, "'holiday'"));
}

static void test_round_line_mistakes(void **state)
{
	(void)state;
	char buf[300], err[300];
	struct observation_line line;
	assert_int_equal(parse("UMI-7", &line, buf, sizeof(buf), err), ROUND_LINE_ERROR);
	assert_non_null(strstr(err, "no status"));
	assert_int_equal(parse("UMI-7 presnt", &line, buf, sizeof(buf), err), ROUND_LINE_ERROR);
	assert_non_null(strstr(err, "'presnt'"));
	/* A reason after absent is a mistake, not a note. */
	assert_int_equal(parse("UMI-7 absent hospital", &line, buf, sizeof(buf), err),
	                 ROUND_LINE_ERROR);
	assert_int_equal(parse("UMI-7 absent hospital  ", &line, buf, sizeof(buf), err),
	                 ROUND_LINE_ERROR);
	/* ... but a note that starts with such a word is fine. */
	assert_int_equal(
	    parse("UMI-7 absent hospital visit not agreed", &line, buf, sizeof(buf), err),
	    ROUND_LINE_OK);
	assert_string_equal(line.note, "hospital visit not agreed");
}

static void test_round_line_blank_and_comments(void **state)
{
	(void)state;
	char buf[300], err[300];
	struct observation_line line;
	assert_int_equal(parse("", &line, buf, sizeof(buf), err), ROUND_LINE_BLANK);
	assert_int_equal(parse("   \t\r\n", &line, buf, sizeof(buf), err), ROUND_LINE_BLANK);
	assert_int_equal(parse("# round 3", &line, buf, sizeof(buf), err), ROUND_LINE_BLANK);
	assert_int_equal(parse("   #comment", &line, buf, sizeof(buf), err), ROUND_LINE_BLANK);
}

static void test_round_entries_from_json(void **state)
{
	(void)state;
	json_error_t error;
	json_t *root = json_loads("{\"observations\":["
	                          "{\"resident\":17,\"status\":\"present\"},"
	                          "{\"case_number\":\"UMI-7\",\"status\":\"excused\","
	                          "\"reason\":\"leave\",\"note\":\"weekend\"},"
	                          "{\"resident\":\"UMI-8\",\"status\":\"a\"}]}",
	                          0, &error);
	assert_non_null(root);
	struct round_entries entries = {0};
	char err[300];
	assert_true(round_entries_from_json(root, &entries, err, sizeof(err)));
	assert_int_equal(entries.count, 3);
	assert_int_equal(entries.items[0].resident_id, 17);
	assert_null(entries.items[0].case_number);
	assert_string_equal(entries.items[1].case_number, "UMI-7");
	assert_string_equal(entries.items[1].reason, "leave");
	assert_string_equal(entries.items[1].note, "weekend");
	assert_string_equal(entries.items[2].case_number, "UMI-8");
	assert_string_equal(entries.items[2].status, "absent");
	round_entries_free(&entries);
	json_decref(root);
}

static void expect_json_error(const char *text, const char *needle)
{
	json_error_t error;
	json_t *root = json_loads(text, 0, &error);
	assert_non_null(root);
	struct round_entries entries = {0};
	char err[300];
	assert_false(round_entries_from_json(root, &entries, err, sizeof(err)));
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, needle);
	round_entries_free(&entries);
	json_decref(root);
}

static void test_round_entries_from_json_errors_name_the_observation(void **state)
{
	(void)state;
	expect_json_error("[]", "\"observations\"");
	expect_json_error("{\"observations\":[{\"resident\":1,\"status\":\"present\"},"
	                  "{\"resident\":2,\"status\":\"gone\"}]}",
	                  "observation 2");
	expect_json_error("{\"observations\":[{\"resident\":1,\"case_number\":\"x\","
	                  "\"status\":\"present\"}]}",
	                  "either");
	expect_json_error("{\"observations\":[{\"resident\":-1,\"status\":\"present\"}]}",
	                  "observation 1");
	expect_json_error("{\"observations\":[{\"resident\":1,\"status\":\"present\","
	                  "\"reason\":\"leave\"}]}",
	                  "only then");
	expect_json_error("{\"observations\":[{\"resident\":1,\"status\":\"present\","
	                  "\"colour\":\"red\"}]}",
	                  "unknown field \"colour\"");
}

static void test_choice_tables(void **state)
{
	(void)state;
	assert_string_equal(choice_by_key(round_statuses, 'e')->name, "excused");
	assert_string_equal(choice_by_key(round_reasons, 'm')->name, "authority_meeting");
	assert_null(choice_by_key(round_reasons, 'x'));
	assert_string_equal(choice_by_name(round_statuses, "p")->name, "present");
	assert_null(choice_by_name(round_reasons, "l")); /* reasons are written out in files */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_line_present_absent_with_note),
	    cmocka_unit_test(test_round_line_excused_needs_reason),
	    cmocka_unit_test(test_round_line_mistakes),
	    cmocka_unit_test(test_round_line_blank_and_comments),
	    cmocka_unit_test(test_round_entries_from_json),
	    cmocka_unit_test(test_round_entries_from_json_errors_name_the_observation),
	    cmocka_unit_test(test_choice_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
