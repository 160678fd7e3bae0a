/* Declarative checks for request bodies, query strings and path parameters: a route names a
 * field table and validate_*() refuses anything else with the field's name, so handlers and SQL
 * only ever see well-typed input. */
#ifndef ROLLCALL_VALIDATE_H
#define ROLLCALL_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>

enum field_type {
	FT_STRING,  /* JSON string; min/max bound its length in bytes (max 0 means 10000) */
	FT_INT,     /* JSON integer; min/max bound the value when min < max */
	FT_BOOL,    /* JSON true/false */
	FT_DATE,    /* "YYYY-MM-DD", a real calendar date */
	FT_INSTANT, /* RFC 3339 with offset, e.g. "2026-11-20T23:00:00+01:00"; normalised to UTC
	             * in clock_format's form ("2026-11-20T22:00:00.000000+00:00") */
	FT_TIME,    /* "HH:MM" local time */
	FT_ID,      /* positive integer, or a string of digits; normalised to a JSON integer */
	FT_ARRAY,   /* JSON array of at most max (0: 10000) and at least min elements of item_type
	             * (string elements take enums, objects are checked against items; for an
	             * array of arrays, items[0] describes the inner array) */
	FT_OBJECT,  /* JSON object checked against items */
};

enum field_flags {
	F_REQUIRED = 1u << 0, /* must be present */
	F_NULLABLE = 1u << 1, /* JSON null is accepted (and kept) */
};

struct field_spec {
	const char *name;
	enum field_type type;
	unsigned flags;
	const char *const *enums;       /* FT_STRING: NULL-terminated allowed values, or NULL */
	enum field_type item_type;      /* FT_ARRAY: type of the elements */
	const struct field_spec *items; /* FT_OBJECT, or FT_ARRAY of FT_OBJECT */
	long long min, max;             /* see field_type */
};

/* A failed validation: what the 400 answer says. Strings are static or in `field_buf`. */
struct validation_error {
	const char *code; /* "bad_field", "missing_field", "unknown_field", "bad_json" */
	char message[256];
	char field[128]; /* dotted path, e.g. "observations[3].status" */
};

/* Checks a parsed JSON object against a NULL-name-terminated spec. Normalises FT_ID and
 * FT_INSTANT values in place. Unknown members are refused. Field paths start with prefix (NULL
 * or "" at the top level, where a non-object is "bad_json"). Returns false and fills *err on
 * the first problem. */
bool validate_object(json_t *object, const struct field_spec *spec, const char *prefix,
                     struct validation_error *err) __attribute__((warn_unused_result));

/* Parses a URL query string ("a=1&b=x", already without '?') into a new JSON object, checking
 * each parameter against spec: values arrive as strings and are converted to the field's type
 * (FT_INT/FT_ID to integers, FT_BOOL from "true"/"false"). Caller owns the result. Returns NULL
 * and fills *err on refusal. A NULL or empty query yields an empty object. */
json_t *validate_query(const char *query, const struct field_spec *spec,
                       struct validation_error *err) __attribute__((warn_unused_result));

/* The largest JSON text an object of spec could be and still pass validate_object: every
 * member present at its longest, every string byte escaped as \u00XX, no white space; SIZE_MAX
 * when that does not fit in a size_t. admission.c refuses a body several times larger than this
 * before parsing it (docs/decisions.md, "A body longer than its route accepts"). */
size_t validate_json_max_bytes(const struct field_spec *spec);

/* Pure format checks, shared with the unit tests. */
bool validate_date(const char *s);    /* YYYY-MM-DD, real date, years 1900-2999 */
bool validate_instant(const char *s); /* RFC 3339 with mandatory offset or Z */
bool validate_time(const char *s);    /* HH:MM, 00:00-23:59 */

#endif
