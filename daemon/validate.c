/* Checks request bodies and query strings against a route's field table, so that handlers and
 * SQL only ever see well-typed input, and a refusal names the field and what was expected. */
#include "validate.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rollcall/time_text.h"

#define STRING_MAX_DEFAULT 10000 /* bytes, when a FT_STRING spec says max 0 */
#define ARRAY_MAX_DEFAULT 10000  /* elements, when a FT_ARRAY spec says max 0 */
#define ID_MAX_DIGITS 18         /* fits a bigint without overflow checks */
#define PATH_SIZE sizeof(((struct validation_error *)0)->field)

/* What a value of each type must look like, for "<field> must be <expected>". */
static const char *const expected_text[] = {
    [FT_STRING] = "a string",
    [FT_INT] = "an integer",
    [FT_BOOL] = "true or false",
    [FT_DATE] = "a date YYYY-MM-DD",
    [FT_INSTANT] = "an instant in RFC 3339 with offset, e.g. 2026-11-20T23:00:00+01:00",
    [FT_TIME] = "a time HH:MM",
    [FT_ID] = "a positive integer id",
    [FT_ARRAY] = "an array",
    [FT_OBJECT] = "an object",
};

static bool fail(struct validation_error *err, const char *code, const char *path, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

static bool fail(struct validation_error *err, const char *code, const char *path, const char *fmt,
                 ...)
{
	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", path);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return false;
}

static bool fail_expected(struct validation_error *err, const char *path, enum field_type type)
{
	return fail(err, "bad_field", path, "%s must be %s", path, expected_text[type]);
}

/* "prefix.name", or "name" at the top level. A path longer than the error's field buffer is
 * cut; it still starts with the outer names, which is what a reader needs. */
static void path_member(char out[PATH_SIZE], const char *prefix, const char *name)
{
	if (prefix == NULL || prefix[0] == '\0')
		snprintf(out, PATH_SIZE, "%s", name);
	else
		snprintf(out, PATH_SIZE, "%s.%s", prefix, name);
}

static void path_index(char out[PATH_SIZE], const char *prefix, size_t index)
{
	snprintf(out, PATH_SIZE, "%s[%zu]", prefix, index);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t extra;
		unsigned int code_point, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			extra = 1, code_point = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			extra = 2, code_point = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			extra = 3, code_point = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i <= extra)
			return false;
		for (size_t k = 1; k <= extra; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			code_point = (code_point << 6) | (s[i + k] & 0x3f);
		}
		if (code_point < min || code_point > 0x10ffff ||
		    (code_point >= 0xd800 && code_point <= 0xdfff))
			return false;
		i += extra + 1;
	}
	return true;
}

/* Reads exactly `count` decimal digits. */
static bool parse_digits(const char *s, int count, int *out)
{
	int value = 0;
	for (int i = 0; i < count; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		value = value * 10 + (s[i] - '0');
	}
	*out = value;
	return true;
}

bool validate_date(const char *s)
{
	struct date date;
	return time_text_parse_date(s, &date);
}

bool validate_instant(const char *s)
{
	/* Strict RFC 3339 only: clock_parse's PostgreSQL forms are for what the database says,
	 * not for what clients send. */
	int64_t us;
	return time_text_parse_instant(s, INSTANT_RFC3339, &us);
}

bool validate_time(const char *s)
{
	int hour, minute;
	return s != NULL && strlen(s) == 5 && s[2] == ':' && parse_digits(s, 2, &hour) &&
	       parse_digits(s + 3, 2, &minute) && hour <= 23 && minute <= 59;
}

/* "a, b, c" into out: the allowed values for an enum message. */
static void join_enums(const char *const *enums, char *out, size_t out_size)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; enums[i] != NULL && len < out_size; i++) {
		int n = snprintf(out + len, out_size - len, "%s%s", i > 0 ? ", " : "", enums[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

static bool check_string(json_t *value, const struct field_spec *spec, const char *path,
                         struct validation_error *err)
{
	const char *text = json_string_value(value);
	size_t len = json_string_length(value);
	size_t max = spec->max > 0 ? (size_t)spec->max : STRING_MAX_DEFAULT;
	/* A JSON string may carry \u0000 (jansson with JSON_ALLOW_NUL); C and PostgreSQL text
	 * cannot. */
	if (memchr(text, '\0', len) != NULL)
		return fail(err, "bad_field", path, "%s must not contain NUL characters", path);
	if (!utf8_valid((const unsigned char *)text, len))
		return fail(err, "bad_field", path, "%s must be valid UTF-8", path);
	if (spec->enums != NULL) {
		for (size_t i = 0; spec->enums[i] != NULL; i++) {
			if (strcmp(text, spec->enums[i]) == 0)
				return true;
		}
		char allowed[200];
		join_enums(spec->enums, allowed, sizeof allowed);
		return fail(err, "bad_field", path, "%s must be one of %s", path, allowed);
	}
	if (spec->min > 0 && len < (size_t)spec->min) {
		if (spec->min == 1)
			return fail(err, "bad_field", path, "%s must not be empty", path);
		return fail(err, "bad_field", path, "%s must be at least %lld bytes long", path,
		            spec->min);
	}
	if (len > max)
		return fail(err, "bad_field", path, "%s must be at most %zu bytes long", path, max);
	return true;
}

/* An FT_ID as a number: a JSON integer > 0 or a string of 1-18 digits. */
static bool parse_id(json_t *value, json_int_t *out)
{
	if (json_is_integer(value)) {
		*out = json_integer_value(value);
		return *out > 0;
	}
	if (!json_is_string(value))
		return false;
	const char *text = json_string_value(value);
	size_t len = json_string_length(value);
	if (len == 0 || len > ID_MAX_DIGITS || strlen(text) != len)
		return false;
	json_int_t id = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		id = id * 10 + (text[i] - '0');
	}
	*out = id;
	return id > 0;
}

static bool check_value(json_t *value, const struct field_spec *spec, const char *path,
                        struct validation_error *err, json_t **replacement);

/* The spec an array's elements are checked against: scalars and objects take the array's
 * item_type (with its enums / items); an array of arrays describes the inner array in items[0]. */
static struct field_spec element_spec(const struct field_spec *array_spec)
{
	if (array_spec->item_type == FT_ARRAY && array_spec->items != NULL)
		return array_spec->items[0];
	struct field_spec element = {
	    .name = array_spec->name,
	    .type = array_spec->item_type,
	    .enums = array_spec->enums,
	    .items = array_spec->items,
	};
	return element;
}

static bool check_array(json_t *value, const struct field_spec *spec, const char *path,
                        struct validation_error *err)
{
	size_t count = json_array_size(value);
	size_t max = spec->max > 0 ? (size_t)spec->max : ARRAY_MAX_DEFAULT;
	if (spec->min > 0 && count < (size_t)spec->min) {
		if (spec->min == 1)
			return fail(err, "bad_field", path, "%s must not be empty", path);
		return fail(err, "bad_field", path, "%s must have at least %lld elements", path,
		            spec->min);
	}
	if (count > max)
		return fail(err, "bad_field", path, "%s must have at most %zu elements", path, max);
	if (spec->item_type == FT_ARRAY && spec->items == NULL)
		return fail(err, "bad_field", path, "%s: arrays of arrays need an inner spec",
		            path);

	struct field_spec element = element_spec(spec);
	for (size_t i = 0; i < count; i++) {
		char element_path[PATH_SIZE];
		path_index(element_path, path, i);
		json_t *replacement = NULL;
		if (!check_value(json_array_get(value, i), &element, element_path, err,
		                 &replacement))
			return false;
		if (replacement != NULL && json_array_set_new(value, i, replacement) != 0)
			return fail(err, "bad_field", element_path, "%s: out of memory",
			            element_path);
	}
	return true;
}

/* Checks one value. Values that are normalised (FT_ID to an integer, FT_INSTANT to UTC) come
 * back in *replacement as a new reference for the caller to store in place of `value`. */
static bool check_value(json_t *value, const struct field_spec *spec, const char *path,
                        struct validation_error *err, json_t **replacement)
{
	*replacement = NULL;
	switch (spec->type) {
	case FT_STRING:
		if (!json_is_string(value))
			return fail_expected(err, path, spec->type);
		return check_string(value, spec, path, err);
	case FT_INT:
		if (!json_is_integer(value))
			return fail_expected(err, path, spec->type);
		if (spec->min < spec->max && (json_integer_value(value) < spec->min ||
		                              json_integer_value(value) > spec->max))
			return fail(err, "bad_field", path, "%s must be between %lld and %lld",
			            path, spec->min, spec->max);
		return true;
	case FT_BOOL:
		if (!json_is_boolean(value))
			return fail_expected(err, path, spec->type);
		return true;
	case FT_DATE:
		if (!json_is_string(value) || !validate_date(json_string_value(value)))
			return fail_expected(err, path, spec->type);
		return true;
	case FT_TIME:
		if (!json_is_string(value) || !validate_time(json_string_value(value)))
			return fail_expected(err, path, spec->type);
		return true;
	case FT_INSTANT: {
		/* Normalised to UTC with microseconds so that SQL and stored JSON see one form,
		 * whatever offset or case the client wrote. */
		int64_t us;
		if (!json_is_string(value) ||
		    !time_text_parse_instant(json_string_value(value), INSTANT_RFC3339, &us))
			return fail_expected(err, path, spec->type);
		char text[CLOCK_TEXT_SIZE];
		clock_format(us, text);
		*replacement = json_string(text);
		if (*replacement == NULL)
			return fail(err, "bad_field", path, "%s: out of memory", path);
		return true;
	}
	case FT_ID: {
		json_int_t id;
		if (!parse_id(value, &id))
			return fail_expected(err, path, spec->type);
		if (json_is_string(value)) {
			*replacement = json_integer(id);
			if (*replacement == NULL)
				return fail(err, "bad_field", path, "%s: out of memory", path);
		}
		return true;
	}
	case FT_ARRAY:
		if (!json_is_array(value))
			return fail_expected(err, path, spec->type);
		return check_array(value, spec, path, err);
	case FT_OBJECT:
		if (!json_is_object(value))
			return fail_expected(err, path, spec->type);
		return validate_object(value, spec->items, path, err);
	}
	return fail(err, "bad_field", path, "%s has a type this daemon does not know", path);
}

/* ---- the longest body a spec accepts ---- */

/* Characters of an FT_INSTANT's text: more than time_text_parse_instant takes. */
#define INSTANT_TEXT_MAX 64
#define NUMBER_TEXT_MAX 24 /* an integer's digits and sign, and an FT_ID's */

static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul_sat(size_t a, size_t b)
{
	return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

/* A string of `bytes` UTF-8 bytes, each escaped (\u00XX is the longest: a 4-byte code point
 * as a surrogate pair is 12 bytes), in its quotes. */
static size_t quoted_max(size_t bytes)
{
	return add_sat(mul_sat(bytes, 6), 2);
}

static size_t object_max(const struct field_spec *members);

static size_t value_max(const struct field_spec *spec)
{
	switch (spec->type) {
	case FT_STRING: {
		size_t max = spec->max > 0 ? (size_t)spec->max : STRING_MAX_DEFAULT;
		if (spec->enums) {
			max = 0;
			for (const char *const *e = spec->enums; *e; e++)
				max = strlen(*e) > max ? strlen(*e) : max;
		}
		return quoted_max(max);
	}
	case FT_INT:
		return NUMBER_TEXT_MAX;
	case FT_BOOL:
		return 5; /* false; null is shorter */
	case FT_DATE:
		return quoted_max(10);
	case FT_TIME:
		return quoted_max(5);
	case FT_INSTANT:
		return quoted_max(INSTANT_TEXT_MAX);
	case FT_ID:
		return quoted_max(NUMBER_TEXT_MAX);
	case FT_ARRAY: {
		size_t max = spec->max > 0 ? (size_t)spec->max : ARRAY_MAX_DEFAULT;
		struct field_spec element = element_spec(spec);
		return add_sat(2, mul_sat(max, add_sat(value_max(&element), 1)));
	}
	case FT_OBJECT:
		return object_max(spec->items);
	}
	return SIZE_MAX;
}

static size_t object_max(const struct field_spec *members)
{
	size_t n = 2; /* the braces */
	for (; members != NULL && members->name != NULL; members++) {
		n = add_sat(n, quoted_max(strlen(members->name)));
		n = add_sat(n, 2); /* the colon and a comma */
		n = add_sat(n, value_max(members));
	}
	return n;
}

size_t validate_json_max_bytes(const struct field_spec *spec)
{
	return object_max(spec);
}

static const struct field_spec *spec_find(const struct field_spec *spec, const char *name)
{
	for (; spec != NULL && spec->name != NULL; spec++) {
		if (strcmp(spec->name, name) == 0)
			return spec;
	}
	return NULL;
}

bool validate_object(json_t *object, const struct field_spec *spec, const char *prefix,
                     struct validation_error *err)
{
	bool top_level = prefix == NULL || prefix[0] == '\0';
	if (!json_is_object(object)) {
		if (top_level)
			return fail(err, "bad_json", "", "the request body must be a JSON object");
		return fail_expected(err, prefix, FT_OBJECT);
	}

	/* Unknown members first: a misspelt optional field must not pass silently, and a
	 * misspelt required one is better reported as the typo than as missing. */
	const char *key;
	json_t *value;
	json_object_foreach(object, key, value)
	{
		if (spec_find(spec, key) == NULL) {
			char path[PATH_SIZE];
			path_member(path, prefix, key);
			return fail(err, "unknown_field", path, "unknown field %s", path);
		}
	}

	for (; spec != NULL && spec->name != NULL; spec++) {
		char path[PATH_SIZE];
		path_member(path, prefix, spec->name);
		value = json_object_get(object, spec->name);
		if (value == NULL) {
			if (spec->flags & F_REQUIRED)
				return fail(err, "missing_field", path, "%s is required", path);
			continue;
		}
		if (json_is_null(value)) {
			if (spec->flags & F_NULLABLE)
				continue;
			return fail(err, "bad_field", path, "%s must be %s, not null", path,
			            expected_text[spec->type]);
		}
		json_t *replacement = NULL;
		if (!check_value(value, spec, path, err, &replacement))
			return false;
		if (replacement != NULL &&
		    json_object_set_new(object, spec->name, replacement) != 0)
			return fail(err, "bad_field", path, "%s: out of memory", path);
	}
	return true;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into a new NUL-terminated string (caller frees); '+' becomes a space
 * when plus_is_space. Returns NULL on a malformed escape, a decoded NUL, invalid UTF-8 or no
 * memory; *malformed tells the first three from the last. */
static char *query_decode(const char *s, size_t len, bool plus_is_space, bool *malformed)
{
	*malformed = false;
	char *out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int high = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int low = high >= 0 ? hex_value(s[i + 2]) : -1;
			if (high < 0 || low < 0 || (high == 0 && low == 0))
				goto malformed;
			out[n++] = (char)(high * 16 + low);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			out[n++] = ' ';
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	if (!utf8_valid((const unsigned char *)out, n))
		goto malformed;
	return out;

malformed:
	free(out);
	*malformed = true;
	return NULL;
}

/* Strict decimal integer: optional '-', digits, no spaces, within long long. */
static bool parse_query_int(const char *text, json_int_t *out)
{
	const char *p = text;
	bool negative = *p == '-';
	if (negative)
		p++;
	if (*p == '\0')
		return false;
	long long value = 0;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		int digit = *p - '0';
		if (value > (LLONG_MAX - digit) / 10)
			return false;
		value = value * 10 + digit;
	}
	*out = negative ? -value : value;
	return true;
}

/* Converts one decoded query value to the JSON its spec describes and checks it. Returns a new
 * reference, or NULL with *err filled. */
static json_t *query_value(const char *text, const struct field_spec *spec,
                           struct validation_error *err)
{
	json_t *value = NULL;
	switch (spec->type) {
	case FT_INT: {
		json_int_t number;
		if (!parse_query_int(text, &number)) {
			fail_expected(err, spec->name, spec->type);
			return NULL;
		}
		value = json_integer(number);
		break;
	}
	case FT_BOOL:
		if (strcmp(text, "true") == 0) {
			value = json_true();
		} else if (strcmp(text, "false") == 0) {
			value = json_false();
		} else {
			fail_expected(err, spec->name, spec->type);
			return NULL;
		}
		break;
	case FT_STRING:
	case FT_DATE:
	case FT_INSTANT:
	case FT_TIME:
	case FT_ID:
		value = json_string(text);
		break;
	case FT_ARRAY:
	case FT_OBJECT:
		fail(err, "bad_field", spec->name, "%s cannot be given in the query string",
		     spec->name);
		return NULL;
	}
	if (value == NULL) {
		fail(err, "bad_field", spec->name, "%s: out of memory", spec->name);
		return NULL;
	}
	json_t *replacement = NULL;
	if (!check_value(value, spec, spec->name, err, &replacement)) {
		json_decref(value);
		return NULL;
	}
	if (replacement != NULL) {
		json_decref(value);
		value = replacement;
	}
	return value;
}

json_t *validate_query(const char *query, const struct field_spec *spec,
                       struct validation_error *err)
{
	json_t *result = json_object();
	if (result == NULL) {
		fail(err, "bad_field", "", "out of memory");
		return NULL;
	}
	const char *p = query != NULL ? query : "";
	while (*p != '\0') {
		size_t segment_len = strcspn(p, "&");
		const char *segment = p;
		p += segment_len;
		if (*p == '&')
			p++;
		if (segment_len == 0)
			continue; /* "a=1&&b=2" or a trailing '&' */

		const char *equals = memchr(segment, '=', segment_len);
		size_t key_len = equals != NULL ? (size_t)(equals - segment) : segment_len;
		bool malformed;
		char *key = query_decode(segment, key_len, true, &malformed);
		if (key == NULL) {
			fail(err, "bad_field", "",
			     malformed ? "malformed query parameter name" : "out of memory");
			goto failed;
		}
		const struct field_spec *field = spec_find(spec, key);
		if (field == NULL) {
			fail(err, "unknown_field", key, "unknown query parameter %s", key);
			free(key);
			goto failed;
		}
		free(key);
		if (json_object_get(result, field->name) != NULL) {
			fail(err, "bad_field", field->name, "%s is given more than once",
			     field->name);
			goto failed;
		}

		/* An instant's offset sign would otherwise turn into a space when a client does not
		 * escape '+' as %2B; no instant contains a space. */
		const char *raw_value = equals != NULL ? equals + 1 : segment + segment_len;
		size_t raw_len = (size_t)(segment + segment_len - raw_value);
		char *text =
		    query_decode(raw_value, raw_len, field->type != FT_INSTANT, &malformed);
		if (text == NULL) {
			if (malformed)
				fail(err, "bad_field", field->name,
				     "%s is not correctly percent-encoded UTF-8", field->name);
			else
				fail(err, "bad_field", field->name, "%s: out of memory",
				     field->name);
			goto failed;
		}
		json_t *value = query_value(text, field, err);
		free(text);
		if (value == NULL)
			goto failed;
		if (json_object_set_new(result, field->name, value) != 0) {
			fail(err, "bad_field", field->name, "%s: out of memory", field->name);
			goto failed;
		}
	}

	for (; spec != NULL && spec->name != NULL; spec++) {
		if ((spec->flags & F_REQUIRED) && json_object_get(result, spec->name) == NULL) {
			fail(err, "missing_field", spec->name, "%s is required", spec->name);
			goto failed;
		}
	}
	return result;

failed:
	json_decref(result);
	return NULL;
}
