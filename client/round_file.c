/* The round's vocabulary and the pure batch-file parsers (see round_file.h). */
#include "round_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct choice round_statuses[] = {
    {'p', "present", "present"},
    {'a', "absent", "absent"},
    {'e', "excused", "excused"},
    {0, NULL, NULL},
};

const struct choice round_reasons[] = {
    {'l', "leave", "leave"},
    {'h', "hospital", "hospital"},
    {'s', "school_trip", "school trip"},
    {'m', "authority_meeting", "authority meeting"},
    {'o', "other", "other"},
    {0, NULL, NULL},
};

const struct choice *choice_by_key(const struct choice *table, char key)
{
	for (; table->name != NULL; table++)
		if (table->key == key)
			return table;
	return NULL;
}

const struct choice *choice_by_name(const struct choice *table, const char *name)
{
	bool statuses = table == round_statuses;
	for (; table->name != NULL; table++)
		if (strcmp(table->name, name) == 0 ||
		    (statuses && name[0] == table->key && name[1] == '\0'))
			return table;
	return NULL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cuts the next blank-separated token from *p; NULL at the end of the line. */
static char *next_token(char **p)
{
	char *s = *p;
	while (is_blank(*s))
		s++;
	if (*s == '\0') {
		*p = s;
		return NULL;
	}
	char *start = s;
	while (*s && !is_blank(*s))
		s++;
	if (*s) {
		*s = '\0';
		s++;
	}
	*p = s;
	return start;
}

/* The rest of the line without surrounding blanks, or NULL if nothing is left. */
static char *rest_of_line(char *p)
{
	while (is_blank(*p))
		p++;
	if (*p == '\0')
		return NULL;
	char *end = p + strlen(p);
	while (end > p && is_blank(end[-1]))
		end--;
	*end = '\0';
	return p;
}

enum round_line_result round_line_parse(char *line, struct observation_line *out, char *err,
                                        size_t errlen)
{
	memset(out, 0, sizeof(*out));
	line[strcspn(line, "\r\n")] = '\0';

	char *p = line;
	char *case_number = next_token(&p);
	if (case_number == NULL || case_number[0] == '#')
		return ROUND_LINE_BLANK;

	char *status_text = next_token(&p);
	if (status_text == NULL) {
		snprintf(err, errlen, "%s has no status (present, absent or excused)", case_number);
		return ROUND_LINE_ERROR;
	}
	const struct choice *status = choice_by_name(round_statuses, status_text);
	if (status == NULL) {
		snprintf(err, errlen, "unknown status '%s' (present, absent or excused)",
		         status_text);
		return ROUND_LINE_ERROR;
	}
	out->case_number = case_number;
	out->status = status->name;

	if (strcmp(status->name, "excused") == 0) {
		char *reason_text = next_token(&p);
		const struct choice *reason =
		    reason_text ? choice_by_name(round_reasons, reason_text) : NULL;
		if (reason == NULL) {
			snprintf(err, errlen,
			         "excused needs a reason: leave, hospital, school_trip, "
			         "authority_meeting or other%s%s%s",
			         reason_text ? " (not '" : "", reason_text ? reason_text : "",
			         reason_text ? "')" : "");
			return ROUND_LINE_ERROR;
		}
		out->reason = reason->name;
	} else {
		/* "UMI-7 absent hospital" is almost certainly a mistake, not a note. */
		char *look = p;
		char *word = next_token(&look);
		bool only_word = word != NULL && rest_of_line(look) == NULL;
		if (only_word && choice_by_name(round_reasons, word) != NULL) {
			snprintf(err, errlen, "a reason ('%s') is only given with excused", word);
			return ROUND_LINE_ERROR;
		}
		if (word != NULL && !only_word)
			look[-1] = ' '; /* next_token cut the note after its first word: join it */
	}
	out->note = rest_of_line(p);
	return ROUND_LINE_OK;
}

void round_entries_free(struct round_entries *entries)
{
	for (size_t i = 0; i < entries->count; i++) {
		free(entries->items[i].case_number);
		free(entries->items[i].note);
	}
	free(entries->items);
	memset(entries, 0, sizeof(*entries));
}

/* A new zeroed entry at the end, or NULL when out of memory. */
static struct round_entry *entries_push(struct round_entries *entries)
{
	if (entries->count == entries->capacity) {
		size_t capacity = entries->capacity ? entries->capacity * 2 : 32;
		struct round_entry *grown =
		    realloc(entries->items, capacity * sizeof(*entries->items));
		if (grown == NULL)
			return NULL;
		entries->items = grown;
		entries->capacity = capacity;
	}
	struct round_entry *entry = &entries->items[entries->count++];
	memset(entry, 0, sizeof(*entry));
	return entry;
}

bool round_entries_add_line(struct round_entries *entries, const struct observation_line *line,
                            size_t position)
{
	struct round_entry *entry = entries_push(entries);
	if (entry == NULL)
		return false;
	entry->position = position;
	entry->status = line->status;
	entry->reason = line->reason;
	entry->case_number = strdup(line->case_number);
	entry->note = line->note ? strdup(line->note) : NULL;
	return entry->case_number != NULL && (line->note == NULL || entry->note != NULL);
}

/* Who observation n names: "resident" (an id, or a case number as text) or "case_number",
 * exactly one of them; *case_number_out is set when it is a case number, else *resident_out. */
static bool entry_who(const json_t *item, size_t n, const json_t **resident_out,
                      const json_t **case_number_out, char *err, size_t errlen)
{
	const json_t *resident = json_object_get(item, "resident");
	const json_t *case_number = json_object_get(item, "case_number");

	if ((resident != NULL) == (case_number != NULL)) {
		snprintf(err, errlen,
		         "observation %zu: give either \"resident\" or \"case_number\"", n);
		return false;
	}
	if (case_number == NULL && json_is_string(resident))
		case_number = resident; /* a resident named by text is a case number */
	if (case_number != NULL &&
	    (!json_is_string(case_number) || json_string_length(case_number) == 0)) {
		snprintf(err, errlen, "observation %zu: the case number must be a string", n);
		return false;
	}
	if (case_number == NULL &&
	    (!json_is_integer(resident) || json_integer_value(resident) <= 0)) {
		snprintf(err, errlen,
		         "observation %zu: \"resident\" must be a resident id (a positive "
		         "integer) or a case number (a string)",
		         n);
		return false;
	}

	*resident_out = resident;
	*case_number_out = case_number;
	return true;
}

/* Checks observation n (counted from 1) of a round file and appends it to entries. */
static bool entry_from_json(const json_t *item, size_t n, struct round_entries *entries, char *err,
                            size_t errlen)
{
	if (!json_is_object(item)) {
		snprintf(err, errlen, "observation %zu is not an object", n);
		return false;
	}
	const char *key;
	const json_t *value;
	json_object_foreach((json_t *)item, key, value)
	{
		if (strcmp(key, "resident") != 0 && strcmp(key, "case_number") != 0 &&
		    strcmp(key, "status") != 0 && strcmp(key, "reason") != 0 &&
		    strcmp(key, "note") != 0) {
			snprintf(err, errlen, "observation %zu: unknown field \"%s\"", n, key);
			return false;
		}
	}

	const json_t *resident = NULL, *case_number = NULL;
	if (!entry_who(item, n, &resident, &case_number, err, errlen))
		return false;
	const json_t *status_json = json_object_get(item, "status");
	const json_t *reason_json = json_object_get(item, "reason");
	const json_t *note_json = json_object_get(item, "note");

	const struct choice *status =
	    json_is_string(status_json)
	        ? choice_by_name(round_statuses, json_string_value(status_json))
	        : NULL;
	if (status == NULL) {
		snprintf(err, errlen,
		         "observation %zu: \"status\" must be present, absent or excused", n);
		return false;
	}
	const struct choice *reason = NULL;
	if (reason_json != NULL && !json_is_null(reason_json)) {
		reason = json_is_string(reason_json)
		             ? choice_by_name(round_reasons, json_string_value(reason_json))
		             : NULL;
		if (reason == NULL) {
			snprintf(err, errlen,
			         "observation %zu: \"reason\" must be leave, hospital, "
			         "school_trip, authority_meeting or other",
			         n);
			return false;
		}
	}
	if ((strcmp(status->name, "excused") == 0) != (reason != NULL)) {
		snprintf(err, errlen,
		         "observation %zu: a reason is given with excused, and only then", n);
		return false;
	}
	if (note_json != NULL && !json_is_null(note_json) && !json_is_string(note_json)) {
		snprintf(err, errlen, "observation %zu: \"note\" must be a string", n);
		return false;
	}

	struct round_entry *entry = entries_push(entries);
	if (entry == NULL) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	entry->position = n;
	entry->status = status->name;
	entry->reason = reason ? reason->name : NULL;
	if (case_number != NULL) {
		entry->case_number = strdup(json_string_value(case_number));
		if (entry->case_number == NULL) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
	} else {
		entry->resident_id = (long long)json_integer_value(resident);
	}
	if (json_is_string(note_json) && json_string_length(note_json) > 0) {
		entry->note = strdup(json_string_value(note_json));
		if (entry->note == NULL) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
	}
	return true;
}

bool round_entries_from_json(const json_t *root, struct round_entries *entries, char *err,
                             size_t errlen)
{
	const json_t *list = json_is_object(root) ? json_object_get(root, "observations") : NULL;
	if (!json_is_array(list)) {
		snprintf(err, errlen, "the file must be an object with an \"observations\" array");
		return false;
	}
	size_t index;
	const json_t *item;
	json_array_foreach(list, index, item)
	{
		if (!entry_from_json(item, index + 1, entries, err, errlen))
			return false;
	}
	return true;
}
