/* Unit tests of daemon/validate.c: field tables for bodies and query strings, the error each
 * refusal gives (code, dotted field path, message), and the values normalised in place. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "validate.h"

/* POST /v1/centres/{id}/rounds/{date}/{slot} (SPEC section 10). */
static const char *const observation_statuses[] = {"present", "absent", "excused", NULL};
static const struct field_spec observation_spec[] = {
    {.name = "resident", .type = FT_ID, .flags = F_REQUIRED},
    {.name = "status", .type = FT_STRING, .flags = F_REQUIRED, .enums = observation_statuses},
    {.name = "reason", .type = FT_STRING, .flags = F_NULLABLE, .max = 500},
    {.name = "note", .type = FT_STRING, .flags = F_NULLABLE},
    {.name = NULL},
};
static const struct field_spec round_post_spec[] = {
    {.name = "observations",
     .type = FT_ARRAY,
     .flags = F_REQUIRED,
     .item_type = FT_OBJECT,
     .items = observation_spec,
     .min = 1},
    {.name = NULL},
};

/* One field of each kind, for the type checks. */
static const char *const kinds[] = {"municipality", "police", "immigration", NULL};
static const struct field_spec inner_spec[] = {
    {.name = "kind", .type = FT_STRING, .flags = F_REQUIRED, .enums = kinds},
    {.name = "ids", .type = FT_ARRAY, .item_type = FT_ID},
    {.name = NULL},
};
static const struct field_spec row_spec = {
    .name = "row", .type = FT_ARRAY, .item_type = FT_INT, .max = 3};
static const struct field_spec all_spec[] = {
    {.name = "text", .type = FT_STRING},
    {.name = "short", .type = FT_STRING, .min = 1, .max = 5},
    {.name = "count", .type = FT_INT},
    {.name = "percent", .type = FT_INT, .min = 1, .max = 100},
    {.name = "flag", .type = FT_BOOL},
    {.name = "day", .type = FT_DATE},
    {.name = "at", .type = FT_INSTANT, .flags = F_NULLABLE},
    {.name = "time", .type = FT_TIME},
    {.name = "id", .type = FT_ID},
    {.name = "ids", .type = FT_ARRAY, .item_type = FT_ID, .max = 3},
    {.name = "tags", .type = FT_ARRAY, .item_type = FT_STRING, .enums = kinds},
    {.name = "many", .type = FT_ARRAY, .item_type = FT_INT},
    {.name = "grid", .type = FT_ARRAY, .item_type = FT_ARRAY, .items = &row_spec},
    {.name = "inner", .type = FT_OBJECT, .items = inner_spec},
    {.name = "inners", .type = FT_ARRAY, .item_type = FT_OBJECT, .items = inner_spec},
    {.name = NULL},
};

static json_t *parse(const char *text)
{
	json_error_t error;
	json_t *json = json_loads(text, JSON_ALLOW_NUL, &error);
	if (json == NULL)
		fail_msg("test JSON does not parse: %s: %s", text, error.text);
	return json;
}

static void assert_body_ok(const char *text, const struct field_spec *spec)
{
	json_t *body = parse(text);
	struct validation_error err;
	memset(&err, 0, sizeof err);
	if (!validate_object(body, spec, "", &err))
		fail_msg("refused %s: %s %s: %s", text, err.code, err.field, err.message);
	json_decref(body);
}

static void assert_body_refused(const char *text, const struct field_spec *spec, const char *code,
                                const char *field, const char *message)
{
	json_t *body = parse(text);
	struct validation_error err;
	memset(&err, 0, sizeof err);
	if (validate_object(body, spec, "", &err))
		fail_msg("accepted %s", text);
	assert_string_equal(err.code, code);
	assert_string_equal(err.field, field);
	if (message != NULL)
		assert_string_equal(err.message, message);
	json_decref(body);
}

/* The refusal of one value of `all_spec`: {"<name>": value}. */
static void assert_value_refused(const char *name, json_t *value, const char *message)
{
	json_t *body = json_object();
	assert_int_equal(json_object_set_new(body, name, value), 0);
	struct validation_error err;
	memset(&err, 0, sizeof err);
	if (validate_object(body, all_spec, NULL, &err)) {
		char *dump = json_dumps(body, JSON_ENCODE_ANY);
		fail_msg("accepted %s", dump);
	}
	assert_string_equal(err.code, "bad_field");
	/* The field is the value's own path: the name, or an element of it ("ids[1]"). */
	assert_int_equal(strncmp(err.field, name, strlen(name)), 0);
	if (message != NULL) {
		assert_string_equal(err.message, message);
		assert_int_equal(strncmp(message, err.field, strlen(err.field)), 0);
		assert_int_equal(message[strlen(err.field)], ' ');
	}
	json_decref(body);
}

static void assert_value_ok(const char *name, json_t *value)
{
	json_t *body = json_object();
	assert_int_equal(json_object_set_new(body, name, value), 0);
	struct validation_error err;
	memset(&err, 0, sizeof err);
	if (!validate_object(body, all_spec, NULL, &err))
		fail_msg("refused %s: %s", name, err.message);
	json_decref(body);
}

static void test_date_formats(void **state)
{
	(void)state;
	assert_true(validate_date("2026-11-20"));
	assert_true(validate_date("1900-01-01"));
	assert_true(validate_date("2999-12-31"));
	assert_true(validate_date("2024-02-29"));
	assert_true(validate_date("2000-02-29"));  /* divisible by 400 */
	assert_false(validate_date("1900-02-29")); /* divisible by 100 */
	assert_false(validate_date("2100-02-29"));
	assert_false(validate_date("2026-02-29"));
	assert_false(validate_date("2026-02-30"));
	assert_false(validate_date("2026-04-31"));
	assert_false(validate_date("2026-13-01"));
	assert_false(validate_date("2026-00-10"));
	assert_false(validate_date("2026-01-00"));
	assert_false(validate_date("1899-12-31"));
	assert_false(validate_date("3000-01-01"));
	assert_false(validate_date("2026-1-01"));
	assert_false(validate_date("2026-01-01 "));
	assert_false(validate_date("20260101"));
	assert_false(validate_date("2026-01-01T00:00:00Z"));
	assert_false(validate_date("２026-01-01"));
	assert_false(validate_date(""));
	assert_false(validate_date(NULL));
}

static void test_time_formats(void **state)
{
	(void)state;
	assert_true(validate_time("00:00"));
	assert_true(validate_time("07:00"));
	assert_true(validate_time("23:59"));
	assert_false(validate_time("24:00"));
	assert_false(validate_time("12:60"));
	assert_false(validate_time("7:00"));
	assert_false(validate_time("07:00:00"));
	assert_false(validate_time("07-00"));
	assert_false(validate_time("ab:cd"));
	assert_false(validate_time(""));
	assert_false(validate_time(NULL));
}

static void test_instant_formats(void **state)
{
	(void)state;
	assert_true(validate_instant("2026-11-20T23:00:00+01:00"));
	assert_true(validate_instant("2026-11-20T22:00:00Z"));
	assert_true(validate_instant("2026-11-20t22:00:00.123456z"));
	assert_true(validate_instant("2026-11-20T16:30:00-05:30"));
	assert_false(validate_instant("2026-11-20T22:00:00"));    /* no offset */
	assert_false(validate_instant("2026-11-20 22:00:00+00")); /* PostgreSQL's, not RFC 3339 */
	assert_false(validate_instant("2026-11-20 22:00:00Z"));
	assert_false(validate_instant("2026-02-29T22:00:00Z"));
	assert_false(validate_instant("1899-12-31T22:00:00Z"));
	assert_false(validate_instant("3000-01-01T00:00:00Z"));
	assert_false(validate_instant("2026-11-20"));
	assert_false(validate_instant(""));
	assert_false(validate_instant(NULL));
}

static void test_round_post_worked_body(void **state)
{
	(void)state;
	assert_body_ok("{\"observations\":[{\"resident\":1,\"status\":\"present\"},"
	               "{\"resident\":\"2\",\"status\":\"absent\",\"reason\":null,"
	               "\"note\":\"set off towards Tønder station\"},"
	               "{\"resident\":3,\"status\":\"excused\",\"reason\":\"hospital\"}]}",
	               round_post_spec);
}

static void test_nested_enum_names_the_element(void **state)
{
	(void)state;
	assert_body_refused("{\"observations\":[{\"resident\":1,\"status\":\"present\"},"
	                    "{\"resident\":2,\"status\":\"present\"},"
	                    "{\"resident\":3,\"status\":\"present\"},"
	                    "{\"resident\":4,\"status\":\"away\"}]}",
	                    round_post_spec, "bad_field", "observations[3].status",
	                    "observations[3].status must be one of present, absent, excused");
}

static void test_nested_missing_and_unknown_fields(void **state)
{
	(void)state;
	assert_body_refused("{\"observations\":[{\"resident\":1,\"status\":\"present\"},"
	                    "{\"status\":\"absent\"}]}",
	                    round_post_spec, "missing_field", "observations[1].resident",
	                    "observations[1].resident is required");
	assert_body_refused("{\"observations\":[{\"resident\":1,\"stauts\":\"present\"}]}",
	                    round_post_spec, "unknown_field", "observations[0].stauts",
	                    "unknown field observations[0].stauts");
	assert_body_refused("{\"observation\":[]}", round_post_spec, "unknown_field", "observation",
	                    "unknown field observation");
	assert_body_refused("{}", round_post_spec, "missing_field", "observations",
	                    "observations is required");
	assert_body_refused("{\"observations\":[]}", round_post_spec, "bad_field", "observations",
	                    "observations must not be empty");
	assert_body_refused("{\"observations\":{}}", round_post_spec, "bad_field", "observations",
	                    "observations must be an array");
	assert_body_refused("{\"observations\":[7]}", round_post_spec, "bad_field",
	                    "observations[0]", "observations[0] must be an object");
}

static void test_body_must_be_an_object(void **state)
{
	(void)state;
	assert_body_refused("[]", round_post_spec, "bad_json", "",
	                    "the request body must be a JSON object");
	json_t *text = json_string("x");
	struct validation_error err;
	assert_false(validate_object(text, round_post_spec, NULL, &err));
	assert_string_equal(err.code, "bad_json");
	json_decref(text);
}

static void test_prefix_starts_every_path(void **state)
{
	(void)state;
	json_t *body = parse("{\"observations\":[{\"resident\":0,\"status\":\"present\"}]}");
	struct validation_error err;
	assert_false(validate_object(body, round_post_spec, "body", &err));
	assert_string_equal(err.field, "body.observations[0].resident");
	assert_string_equal(err.message, "body.observations[0].resident must be a positive "
	                                 "integer id");
	json_decref(body);
}

static void test_null_only_where_nullable(void **state)
{
	(void)state;
	json_t *body = parse("{\"observations\":[{\"resident\":1,\"status\":\"absent\","
	                     "\"reason\":null,\"note\":null}]}");
	struct validation_error err;
	assert_true(validate_object(body, round_post_spec, NULL, &err));
	json_t *observation = json_array_get(json_object_get(body, "observations"), 0);
	assert_true(json_is_null(json_object_get(observation, "reason"))); /* kept */
	json_decref(body);
	assert_body_refused("{\"observations\":[{\"resident\":1,\"status\":null}]}",
	                    round_post_spec, "bad_field", "observations[0].status",
	                    "observations[0].status must be a string, not null");
	assert_body_refused("{\"observations\":null}", round_post_spec, "bad_field", "observations",
	                    "observations must be an array, not null");
}

static void test_id_normalised_to_integer(void **state)
{
	(void)state;
	json_t *body = parse("{\"observations\":[{\"resident\":\"42\",\"status\":\"present\"},"
	                     "{\"resident\":\"007\",\"status\":\"present\"},"
	                     "{\"resident\":\"123456789012345678\",\"status\":\"present\"},"
	                     "{\"resident\":9,\"status\":\"present\"}]}");
	struct validation_error err;
	assert_true(validate_object(body, round_post_spec, NULL, &err));
	json_t *observations = json_object_get(body, "observations");
	static const json_int_t expected[] = {42, 7, 123456789012345678LL, 9};
	for (size_t i = 0; i < 4; i++) {
		json_t *resident = json_object_get(json_array_get(observations, i), "resident");
		assert_true(json_is_integer(resident));
		assert_int_equal(json_integer_value(resident), expected[i]);
	}
	json_decref(body);

	json_t *top = parse("{\"id\":\"5\",\"ids\":[\"1\",2,\"3\"]}");
	assert_true(validate_object(top, all_spec, NULL, &err));
	assert_int_equal(json_integer_value(json_object_get(top, "id")), 5);
	json_t *ids = json_object_get(top, "ids");
	for (size_t i = 0; i < 3; i++) {
		assert_true(json_is_integer(json_array_get(ids, i)));
		assert_int_equal(json_integer_value(json_array_get(ids, i)), (json_int_t)i + 1);
	}
	json_decref(top);
}

static void test_id_refusals(void **state)
{
	(void)state;
	const char *message = "id must be a positive integer id";
	assert_value_refused("id", json_integer(0), message);
	assert_value_refused("id", json_integer(-3), message);
	assert_value_refused("id", json_string("0"), message);
	assert_value_refused("id", json_string(""), message);
	assert_value_refused("id", json_string("12a"), message);
	assert_value_refused("id", json_string(" 1"), message);
	assert_value_refused("id", json_string("+1"), message);
	assert_value_refused("id", json_string("-1"), message);
	assert_value_refused("id", json_string("1234567890123456789"), message); /* 19 digits */
	assert_value_refused("id", json_stringn("1\0", 2), message);
	assert_value_refused("id", json_real(3.0), message);
	assert_value_refused("id", json_true(), message);
	assert_value_refused("id", json_array(), message);
	assert_value_refused("ids", json_pack("[i,s]", 1, "x"),
	                     "ids[1] must be a positive integer id");
}

static void test_string_lengths_in_bytes(void **state)
{
	(void)state;
	char *big = malloc(10002);
	assert_non_null(big);
	memset(big, 'a', 10001);
	big[10001] = '\0';
	assert_value_refused("text", json_string(big), "text must be at most 10000 bytes long");
	big[10000] = '\0';
	assert_value_ok("text", json_string(big));
	free(big);

	assert_value_ok("text", json_string(""));
	assert_value_refused("short", json_string(""), "short must not be empty");
	assert_value_ok("short", json_string("abcde"));
	assert_value_refused("short", json_string("abcdef"), "short must be at most 5 bytes long");
	assert_value_ok("short", json_string("æø")); /* 2 letters, 4 bytes */
}

static void test_string_utf8_and_nul(void **state)
{
	(void)state;
	assert_value_ok("text", json_string("Ærø, Tønder, Åbenrå"));
	assert_value_ok("text", json_string("محمد"));
	assert_value_ok("text", json_string("ትግርኛ"));
	assert_value_ok("text", json_string("\xf0\x9f\x98\x80")); /* U+1F600, 4 bytes */
	assert_value_refused("text", json_stringn("a\0b", 3),
	                     "text must not contain NUL characters");
	assert_value_refused("text", json_stringn_nocheck("\xc3", 1), "text must be valid UTF-8");
	assert_value_refused("text", json_stringn_nocheck("\xc0\xaf", 2), NULL); /* overlong '/' */
	assert_value_refused("text", json_stringn_nocheck("\xed\xa0\x80", 3), NULL); /* surrogate */
	assert_value_refused("text", json_stringn_nocheck("\xf4\x90\x80\x80", 4), NULL);
	assert_value_refused("text", json_stringn_nocheck("\xff", 1), NULL);
	assert_value_refused("text", json_stringn_nocheck("ab\x80", 3), NULL);
}

static void test_short_bound_counts_bytes_not_letters(void **state)
{
	(void)state;
	/* 3 letters, 6 bytes: PostgreSQL and the SPEC's limits are about storage, not glyphs. */
	assert_value_refused("short", json_string("æøå"), "short must be at most 5 bytes long");
}

static void test_integer_ranges(void **state)
{
	(void)state;
	assert_value_ok("count", json_integer(-5));
	assert_value_ok("count", json_integer(INT64_MAX));
	assert_value_refused("count", json_real(1.5), "count must be an integer");
	assert_value_refused("count", json_real(2.0), "count must be an integer");
	assert_value_refused("count", json_string("5"), "count must be an integer");
	assert_value_ok("percent", json_integer(1));
	assert_value_ok("percent", json_integer(100));
	assert_value_refused("percent", json_integer(0), "percent must be between 1 and 100");
	assert_value_refused("percent", json_integer(101), "percent must be between 1 and 100");
}

static void test_bool_date_time_types(void **state)
{
	(void)state;
	assert_value_ok("flag", json_false());
	assert_value_refused("flag", json_string("true"), "flag must be true or false");
	assert_value_refused("flag", json_integer(1), "flag must be true or false");
	assert_value_ok("day", json_string("2028-02-29"));
	assert_value_refused("day", json_string("2026-02-29"), "day must be a date YYYY-MM-DD");
	assert_value_refused("day", json_integer(20260101), "day must be a date YYYY-MM-DD");
	assert_value_ok("time", json_string("23:00"));
	assert_value_refused("time", json_string("23:00:00"), "time must be a time HH:MM");
}

static void test_instant_normalised_to_utc(void **state)
{
	(void)state;
	json_t *body = parse("{\"at\":\"2026-11-20T23:00:00+01:00\"}");
	struct validation_error err;
	assert_true(validate_object(body, all_spec, NULL, &err));
	assert_string_equal(json_string_value(json_object_get(body, "at")),
	                    "2026-11-20T22:00:00.000000+00:00");
	json_decref(body);

	body = parse("{\"at\":null}");
	assert_true(validate_object(body, all_spec, NULL, &err));
	assert_true(json_is_null(json_object_get(body, "at")));
	json_decref(body);

	const char *message = "at must be an instant in RFC 3339 with offset, e.g. "
	                      "2026-11-20T23:00:00+01:00";
	assert_value_refused("at", json_string("2026-11-20T23:00:00"), message);
	assert_value_refused("at", json_string("2026-11-20 22:00:00+00"), message);
	assert_value_refused("at", json_string("yesterday"), message);
	assert_value_refused("at", json_integer(1795212000), message);
}

static void test_array_bounds_and_element_types(void **state)
{
	(void)state;
	assert_value_refused("ids", json_pack("[i,i,i,i]", 1, 2, 3, 4),
	                     "ids must have at most 3 elements");
	json_t *many = json_array();
	for (int i = 0; i < 10001; i++)
		assert_int_equal(json_array_append_new(many, json_integer(i)), 0);
	assert_value_refused("many", many, "many must have at most 10000 elements");
	many = json_array();
	for (int i = 0; i < 10000; i++)
		assert_int_equal(json_array_append_new(many, json_integer(i)), 0);
	assert_value_ok("many", many);
	assert_value_refused("many", json_pack("[i,s]", 1, "2"), "many[1] must be an integer");
	assert_value_ok("tags", json_pack("[s,s]", "police", "immigration"));
	assert_value_refused("tags", json_pack("[s,s]", "police", "army"),
	                     "tags[1] must be one of municipality, police, immigration");
}

static void test_arrays_of_arrays_name_both_indexes(void **state)
{
	(void)state;
	assert_value_ok("grid", json_pack("[[i,i],[],[i,i,i]]", 1, 2, 3, 4, 5));
	assert_value_refused("grid", json_pack("[[i],[i,i,s]]", 1, 2, 3, "x"),
	                     "grid[1][2] must be an integer");
	assert_value_refused("grid", json_pack("[[i],[i,i,i,i]]", 1, 2, 3, 4, 5),
	                     "grid[1] must have at most 3 elements");
}

static void test_objects_inside_arrays_inside_objects(void **state)
{
	(void)state;
	assert_body_refused("{\"inner\":{\"kind\":\"police\",\"ids\":[1,\"x\"]}}", all_spec,
	                    "bad_field", "inner.ids[1]",
	                    "inner.ids[1] must be a positive integer id");
	assert_body_refused("{\"inners\":[{\"kind\":\"police\"},{\"kind\":\"police\",\"ids\":[1,2,"
	                    "-4]}]}",
	                    all_spec, "bad_field", "inners[1].ids[2]", NULL);
	assert_body_refused("{\"inners\":[{\"kind\":\"police\"},{}]}", all_spec, "missing_field",
	                    "inners[1].kind", "inners[1].kind is required");
	assert_body_refused("{\"inner\":{\"kind\":\"police\",\"extra\":1}}", all_spec,
	                    "unknown_field", "inner.extra", NULL);
	assert_body_refused("{\"inner\":[]}", all_spec, "bad_field", "inner",
	                    "inner must be an object");

	json_t *body = parse("{\"inners\":[{\"kind\":\"police\",\"ids\":[\"11\"]}]}");
	struct validation_error err;
	assert_true(validate_object(body, all_spec, NULL, &err));
	json_t *id = json_array_get(
	    json_object_get(json_array_get(json_object_get(body, "inners"), 0), "ids"), 0);
	assert_true(json_is_integer(id));
	assert_int_equal(json_integer_value(id), 11);
	json_decref(body);
}

static void test_long_paths_are_cut_safely(void **state)
{
	(void)state;
	char name[300];
	memset(name, 'k', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	json_t *body = json_pack("{s:i}", name, 1);
	struct validation_error err;
	assert_false(validate_object(body, all_spec, name, &err));
	assert_string_equal(err.code, "unknown_field");
	assert_int_equal(strlen(err.field), sizeof err.field - 1);
	assert_true(strlen(err.message) < sizeof err.message);
	json_decref(body);
}

static json_t *query_ok(const char *query, const struct field_spec *spec)
{
	struct validation_error err;
	json_t *result = validate_query(query, spec, &err);
	if (result == NULL)
		fail_msg("refused query %s: %s %s: %s", query, err.code, err.field, err.message);
	return result;
}

static void assert_query_refused(const char *query, const struct field_spec *spec, const char *code,
                                 const char *field, const char *message)
{
	struct validation_error err;
	json_t *result = validate_query(query, spec, &err);
	if (result != NULL)
		fail_msg("accepted query %s", query);
	assert_string_equal(err.code, code);
	assert_string_equal(err.field, field);
	if (message != NULL)
		assert_string_equal(err.message, message);
}

static const char *const states[] = {"open", "resolved", NULL};
static const struct field_spec list_query[] = {
    {.name = "centre", .type = FT_STRING},
    {.name = "open", .type = FT_BOOL},
    {.name = "state", .type = FT_STRING, .enums = states},
    {.name = "limit", .type = FT_INT, .min = 1, .max = 500},
    {.name = "after", .type = FT_STRING},
    {.name = "resident", .type = FT_ID},
    {.name = "on", .type = FT_DATE},
    {.name = "from", .type = FT_INSTANT},
    {.name = NULL},
};
static const struct field_spec required_query[] = {
    {.name = "date", .type = FT_DATE, .flags = F_REQUIRED},
    {.name = NULL},
};

static void test_query_empty(void **state)
{
	(void)state;
	json_t *result = query_ok(NULL, list_query);
	assert_int_equal(json_object_size(result), 0);
	json_decref(result);
	result = query_ok("", list_query);
	assert_int_equal(json_object_size(result), 0);
	json_decref(result);
	result = query_ok("&&", list_query);
	assert_int_equal(json_object_size(result), 0);
	json_decref(result);
}

static void test_query_converts_by_type(void **state)
{
	(void)state;
	json_t *result = query_ok("centre=tonder&open=true&limit=50&resident=0042&on=2026-11-20&"
	                          "after=abc&state=open&",
	                          list_query);
	assert_string_equal(json_string_value(json_object_get(result, "centre")), "tonder");
	assert_true(json_is_true(json_object_get(result, "open")));
	assert_true(json_is_integer(json_object_get(result, "limit")));
	assert_int_equal(json_integer_value(json_object_get(result, "limit")), 50);
	assert_true(json_is_integer(json_object_get(result, "resident")));
	assert_int_equal(json_integer_value(json_object_get(result, "resident")), 42);
	assert_string_equal(json_string_value(json_object_get(result, "on")), "2026-11-20");
	json_decref(result);

	result = query_ok("open=false", list_query);
	assert_true(json_is_false(json_object_get(result, "open")));
	json_decref(result);
}

static void test_query_percent_decoding(void **state)
{
	(void)state;
	json_t *result = query_ok("centre=T%C3%B8nder&after=a+b%2Bc%20d&%61fter2=x",
	                          (const struct field_spec[]){
	                              {.name = "centre", .type = FT_STRING},
	                              {.name = "after", .type = FT_STRING},
	                              {.name = "after2", .type = FT_STRING},
	                              {.name = NULL},
	                          });
	assert_string_equal(json_string_value(json_object_get(result, "centre")), "Tønder");
	assert_string_equal(json_string_value(json_object_get(result, "after")), "a b+c d");
	assert_string_equal(json_string_value(json_object_get(result, "after2")), "x");
	json_decref(result);

	result = query_ok("%63entre=%2f%2F", list_query); /* encoded key, either hex case */
	assert_string_equal(json_string_value(json_object_get(result, "centre")), "//");
	json_decref(result);
}

static void test_query_instant_keeps_plus(void **state)
{
	(void)state;
	/* A client that does not escape '+' still means an offset. */
	json_t *result = query_ok("from=2026-11-20T23:00:00+01:00", list_query);
	assert_string_equal(json_string_value(json_object_get(result, "from")),
	                    "2026-11-20T22:00:00.000000+00:00");
	json_decref(result);
	result = query_ok("from=2026-11-20T23%3A00%3A00%2B01%3A00", list_query);
	assert_string_equal(json_string_value(json_object_get(result, "from")),
	                    "2026-11-20T22:00:00.000000+00:00");
	json_decref(result);
	assert_query_refused("from=2026-11-20T23:00:00", list_query, "bad_field", "from", NULL);
}

static void test_query_malformed_encoding(void **state)
{
	(void)state;
	const char *message = "centre is not correctly percent-encoded UTF-8";
	assert_query_refused("centre=%zz", list_query, "bad_field", "centre", message);
	assert_query_refused("centre=%4", list_query, "bad_field", "centre", message);
	assert_query_refused("centre=abc%", list_query, "bad_field", "centre", message);
	assert_query_refused("centre=a%00b", list_query, "bad_field", "centre", message);
	assert_query_refused("centre=%ff", list_query, "bad_field", "centre", message);
	assert_query_refused("centre=%C3", list_query, "bad_field", "centre", message);
	assert_query_refused("cen%zztre=x", list_query, "bad_field", "",
	                     "malformed query parameter name");
}

static void test_query_repeated_and_unknown_keys(void **state)
{
	(void)state;
	assert_query_refused("limit=1&limit=2", list_query, "bad_field", "limit",
	                     "limit is given more than once");
	assert_query_refused("limit=1&%6cimit=2", list_query, "bad_field", "limit", NULL);
	assert_query_refused("limt=1", list_query, "unknown_field", "limt",
	                     "unknown query parameter limt");
	assert_query_refused("x=1", NULL, "unknown_field", "x", NULL);
	assert_query_refused("T%C3%B8nder=1", list_query, "unknown_field", "Tønder", NULL);
}

static void test_query_bad_values(void **state)
{
	(void)state;
	assert_query_refused("limit=abc", list_query, "bad_field", "limit",
	                     "limit must be an integer");
	assert_query_refused("limit=", list_query, "bad_field", "limit", NULL);
	assert_query_refused("limit=1.5", list_query, "bad_field", "limit", NULL);
	assert_query_refused("limit=+5", list_query, "bad_field", "limit", NULL);
	assert_query_refused("limit=0", list_query, "bad_field", "limit",
	                     "limit must be between 1 and 500");
	assert_query_refused("limit=-5", list_query, "bad_field", "limit", NULL);
	assert_query_refused("limit=99999999999999999999", list_query, "bad_field", "limit",
	                     "limit must be an integer");
	assert_query_refused("open=yes", list_query, "bad_field", "open",
	                     "open must be true or false");
	assert_query_refused("open", list_query, "bad_field", "open", NULL);
	assert_query_refused("resident=0", list_query, "bad_field", "resident",
	                     "resident must be a positive integer id");
	assert_query_refused("on=2026-02-30", list_query, "bad_field", "on",
	                     "on must be a date YYYY-MM-DD");
	assert_query_refused("state=closed", list_query, "bad_field", "state",
	                     "state must be one of open, resolved");
}

static void test_query_required(void **state)
{
	(void)state;
	assert_query_refused("", required_query, "missing_field", "date", "date is required");
	json_t *result = query_ok("date=2026-11-20", required_query);
	assert_string_equal(json_string_value(json_object_get(result, "date")), "2026-11-20");
	json_decref(result);
}

/* ---- validate_json_max_bytes ---- */

/* {"name":"<10 bytes>"} at its longest: braces 2, the quoted name 4 * 6 + 2, colon and comma 2,
 * the quoted value 10 * 6 + 2. */
static void test_max_bytes_of_one_string(void **state)
{
	(void)state;
	static const struct field_spec spec[] = {
	    {.name = "name", .type = FT_STRING, .max = 10},
	    {.name = NULL},
	};
	assert_int_equal(validate_json_max_bytes(spec), 2 + 26 + 2 + 62);
}

/* An enum is as long as its longest value; an array is its most elements at their longest; a
 * spec with no members is the braces. */
static void test_max_bytes_of_enums_arrays_and_nothing(void **state)
{
	(void)state;
	static const char *const sizes[] = {"s", "medium", "xl", NULL};
	static const struct field_spec enum_spec[] = {
	    {.name = "k", .type = FT_STRING, .enums = sizes},
	    {.name = NULL},
	};
	assert_int_equal(validate_json_max_bytes(enum_spec), 2 + 8 + 2 + (6 * 6 + 2));
	static const struct field_spec array_spec[] = {
	    {.name = "a", .type = FT_ARRAY, .item_type = FT_BOOL, .max = 3},
	    {.name = NULL},
	};
	assert_int_equal(validate_json_max_bytes(array_spec), 2 + 8 + 2 + (2 + 3 * (5 + 1)));
	static const struct field_spec none[] = {{.name = NULL}};
	assert_int_equal(validate_json_max_bytes(none), 2);
}

/* A real round body (78 observations, every string at its longest, escaped) is far below the
 * bound of its spec; arrays of arrays of the defaults do not overflow but saturate. */
static void test_max_bytes_covers_a_round_and_saturates(void **state)
{
	(void)state;
	size_t most = validate_json_max_bytes(round_post_spec);
	assert_true(most > 78 * (6 * (500 + 10000) + 100));
	static const struct field_spec inner[] = {
	    {.name = "x", .type = FT_ARRAY, .item_type = FT_STRING},
	};
	static const struct field_spec deep[] = {
	    {.name = "x", .type = FT_ARRAY, .item_type = FT_ARRAY, .items = inner},
	    {.name = NULL},
	};
	static const struct field_spec deeper[] = {
	    {.name = "x", .type = FT_ARRAY, .item_type = FT_OBJECT, .items = deep},
	    {.name = NULL},
	};
	static const struct field_spec deepest[] = {
	    {.name = "x", .type = FT_ARRAY, .item_type = FT_OBJECT, .items = deeper},
	    {.name = NULL},
	};
	assert_true(validate_json_max_bytes(deepest) == SIZE_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_date_formats),
	    cmocka_unit_test(test_time_formats),
	    cmocka_unit_test(test_instant_formats),
	    cmocka_unit_test(test_round_post_worked_body),
	    cmocka_unit_test(test_nested_enum_names_the_element),
	    cmocka_unit_test(test_nested_missing_and_unknown_fields),
	    cmocka_unit_test(test_body_must_be_an_object),
	    cmocka_unit_test(test_prefix_starts_every_path),
	    cmocka_unit_test(test_null_only_where_nullable),
	    cmocka_unit_test(test_id_normalised_to_integer),
	    cmocka_unit_test(test_id_refusals),
	    cmocka_unit_test(test_string_lengths_in_bytes),
	    cmocka_unit_test(test_string_utf8_and_nul),
	    cmocka_unit_test(test_short_bound_counts_bytes_not_letters),
	    cmocka_unit_test(test_integer_ranges),
	    cmocka_unit_test(test_bool_date_time_types),
	    cmocka_unit_test(test_instant_normalised_to_utc),
	    cmocka_unit_test(test_array_bounds_and_element_types),
	    cmocka_unit_test(test_arrays_of_arrays_name_both_indexes),
	    cmocka_unit_test(test_objects_inside_arrays_inside_objects),
	    cmocka_unit_test(test_long_paths_are_cut_safely),
	    cmocka_unit_test(test_query_empty),
	    cmocka_unit_test(test_query_converts_by_type),
	    cmocka_unit_test(test_query_percent_decoding),
	    cmocka_unit_test(test_query_instant_keeps_plus),
	    cmocka_unit_test(test_query_malformed_encoding),
	    cmocka_unit_test(test_query_repeated_and_unknown_keys),
	    cmocka_unit_test(test_query_bad_values),
	    cmocka_unit_test(test_query_required),
	    cmocka_unit_test(test_max_bytes_of_one_string),
	    cmocka_unit_test(test_max_bytes_of_enums_arrays_and_nothing),
	    cmocka_unit_test(test_max_bytes_covers_a_round_and_saturates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
