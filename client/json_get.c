/* Tolerant readers for the daemon's JSON answers (see json_get.h). */
#include "json_get.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *jget_str(const json_t *object, const char *key)
{
	const json_t *value = json_is_object(object) ? json_object_get(object, key) : NULL;
	return json_is_string(value) ? json_string_value(value) : NULL;
}

bool jvalue_id(const json_t *value, long long *out)
{
	if (json_is_integer(value)) {
		*out = (long long)json_integer_value(value);
		return *out > 0;
	}
	if (json_is_string(value)) {
		const char *s = json_string_value(value);
		size_t n = strlen(s);
		if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
			return false;
		*out = strtoll(s, NULL, 10);
		return *out > 0;
	}
	return false;
}

bool jget_int(const json_t *object, const char *key, long long *out)
{
	const json_t *value = json_is_object(object) ? json_object_get(object, key) : NULL;
	if (json_is_integer(value)) {
		*out = (long long)json_integer_value(value);
		return true;
	}
	return jvalue_id(value, out);
}

char *jget_text(const json_t *object, const char *key, char *out, size_t outlen)
{
	const json_t *value = json_is_object(object) ? json_object_get(object, key) : NULL;
	out[0] = '\0';
	if (value == NULL || json_is_null(value))
		return out;
	if (json_is_string(value)) {
		snprintf(out, outlen, "%s", json_string_value(value));
	} else if (json_is_integer(value)) {
		snprintf(out, outlen, "%lld", (long long)json_integer_value(value));
	} else if (json_is_boolean(value)) {
		snprintf(out, outlen, "%s", json_is_true(value) ? "true" : "false");
	} else {
		char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(out, outlen, "%s", text ? text : "");
		free(text);
	}
	return out;
}

json_t *jget_array_of(const json_t *object, const char *const *keys)
{
	if (!json_is_object(object))
		return NULL;
	for (; *keys != NULL; keys++) {
		json_t *value = json_object_get(object, *keys);
		if (json_is_array(value))
			return value;
	}
	return NULL;
}
