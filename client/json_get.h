/* Tolerant readers for the daemon's JSON answers: a missing or differently typed member gives
 * NULL/false instead of a crash, and ids are read whether the server sends them as numbers or as
 * strings of digits. Pure. */
#ifndef ROLLCALL_CLIENT_JSON_GET_H
#define ROLLCALL_CLIENT_JSON_GET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The string member, or NULL. */
const char *jget_str(const json_t *object, const char *key);
/* The integer member (or a string of digits), false otherwise. */
bool jget_int(const json_t *object, const char *key, long long *out);
/* A value as an id: a positive integer, or a string of 1-18 digits. */
bool jvalue_id(const json_t *value, long long *out);
/* Any scalar member as text for display: strings as they are, integers in decimal, true/false,
 * "" for null or missing; objects and arrays compact JSON. Returns out. */
char *jget_text(const json_t *object, const char *key, char *out, size_t outlen);
/* The first array among the given members (NULL-terminated names), or NULL. */
json_t *jget_array_of(const json_t *object, const char *const *keys);

#endif
