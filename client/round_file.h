/* The vocabulary of a round (statuses and excuse reasons, with the one-key shortcuts the
 * interactive round uses) and the pure parsers for `rollcall round --file`: one text line
 * "CASE STATUS [REASON] [NOTE...]" or a JSON document {"observations":[...]}. No I/O. */
#ifndef ROLLCALL_CLIENT_ROUND_FILE_H
#define ROLLCALL_CLIENT_ROUND_FILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* One choice of a closed list: its key in the interactive round, its API name, its label. */
struct choice {
	char key;
	const char *name;
	const char *label;
};

/* Terminated by an entry with name == NULL. */
extern const struct choice round_statuses[]; /* present, absent, excused */
extern const struct choice round_reasons[];  /* leave, hospital, school_trip, ... */

const struct choice *choice_by_key(const struct choice *table, char key);
/* Matches the API name, and for statuses also the one-letter key ("p", "a", "e"). */
const struct choice *choice_by_name(const struct choice *table, const char *name);

/* One observation read from a file. Strings are borrowed (text lines) or owned (entries). */
struct observation_line {
	const char *case_number;
	const char *status; /* an API name from round_statuses */
	const char *reason; /* an API name from round_reasons, or NULL (only with "excused") */
	const char *note;   /* the rest of the line, or NULL */
};

enum round_line_result {
	ROUND_LINE_BLANK, /* empty or a comment ('#' as the first non-blank character) */
	ROUND_LINE_OK,
	ROUND_LINE_ERROR, /* err says what is wrong, without the line number */
};

/* Parses one line of a batch file in place (it is cut into tokens); *out points into it.
 * A trailing CR/LF is ignored. With "present"/"absent" everything after the status is the note;
 * with "excused" the reason comes first. */
enum round_line_result round_line_parse(char *line, struct observation_line *out, char *err,
                                        size_t errlen);

/* An observation of a JSON file: the resident by id or by case number. */
struct round_entry {
	long long resident_id; /* 0 when given by case number */
	char *case_number;     /* owned, or NULL when given by id */
	const char *status;    /* static API name */
	const char *reason;    /* static API name or NULL */
	char *note;            /* owned, or NULL */
	size_t position;       /* 1-based line (text file) or index (JSON file) for messages */
};

struct round_entries {
	struct round_entry *items;
	size_t count, capacity;
};

void round_entries_free(struct round_entries *entries);
/* Appends a copy of line's fields. False when out of memory. */
bool round_entries_add_line(struct round_entries *entries, const struct observation_line *line,
                            size_t position) __attribute__((warn_unused_result));

/* Reads {"observations":[{"resident":ID | "case_number":"…" , "status", "reason", "note"}]};
 * "resident" as a string is taken as a case number. False with err naming the observation
 * ("observation 3: ..."); entries then holds what was read so far and must still be freed. */
bool round_entries_from_json(const json_t *root, struct round_entries *entries, char *err,
                             size_t errlen) __attribute__((warn_unused_result));

#endif
