/* What the managers' and the IT person's commands share (resident, sanction, agreement, rates,
 * accounts, audit, incident): naming a resident by case number or id:N, instants typed as RFC
 * 3339 or as local time in the centre's zone, instants shown with their zone, lists followed
 * page after page up to --limit, and printing a created object as JSON or in words. */
#ifndef ROLLCALL_CLIENT_OFFICE_H
#define ROLLCALL_CLIENT_OFFICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cli.h"
#include "dates.h"
#include "resolve.h"
#include "session.h"

/* "id:N" or a case number is well formed (checked before anything is sent). */
bool office_resident_syntax_ok(const char *who);

/* The resident WHO names: id:N (GET /v1/residents/N), or a case number among the residents of
 * --centre or the account's centres (today). *resident is a new reference (the full resident
 * of GET /v1/residents/{id}); *centre its centre (name and zone). */
int office_resident(struct session *session, const struct cmd_args *args, const char *who,
                    long long *id, json_t **resident, struct centre_ref *centre)
    __attribute__((warn_unused_result));

/* An instant as typed: RFC 3339 with an offset, or "YYYY-MM-DD HH:MM" (also with 'T') or
 * "YYYY-MM-DD" (00:00) as local time in zone (NULL or "": the terminal's). False if it is none
 * of these. */
bool office_instant(const char *zone, const char *text, time_t *out)
    __attribute__((warn_unused_result));

/* An instant option's value normalised to the daemon's UTC form, read in zone; false after a
 * usage error naming the option (returned in *rc). */
bool office_instant_option(const struct cmd_args *args, int option, const char *zone,
                           char out[INSTANT_TEXT_SIZE], int *rc);

/* Before anything is sent: the instant option is not given, or reads as an instant in some
 * zone; false after a usage error in *rc. */
bool office_instant_valid(const struct cmd_args *args, int option, int *rc);

/* "2026-11-20 23:00 CET": an RFC 3339 instant from the server in zone, with the zone's
 * abbreviation; text that does not parse is shown as it is. Returns out. */
#define OFFICE_WHEN_SIZE 64 /* ZONE_TEXT_SIZE, a space and a zone abbreviation (16) */
char *office_when(const char *zone, const char *instant, char out[OFFICE_WHEN_SIZE]);

/* --limit N (1-1000000), 0 when not given; false after a usage error in *rc. */
bool office_limit(const struct cmd_args *args, size_t *limit, int *rc);

/* GETs a list and follows its "next" cursors to the end, or until limit items (0: no limit).
 * *items is a new array; *next a new string with the cursor to go on from when the limit cut
 * the list short, else NULL. */
int office_list(struct session *session, const char *path, size_t limit, json_t **items,
                json_t **next) __attribute__((warn_unused_result));

/* With --json, {"items":[...],"next":...} (steals neither); returns the exit status. */
int office_print_list(const json_t *items, const json_t *next);

/* A list as a table: "<prefix><count> <noun>[s][ (more with a larger --limit)]", then the
 * table (not when count is 0). Takes table (freed here); returns the exit status, after saying
 * so when memory ran out. */
struct table;
int office_print_table(struct table *table, const char *prefix, size_t count, const char *noun,
                       bool more) __attribute__((warn_unused_result));

/* With --json prints value and returns RC_OK (RC_REFUSED if stdout failed); false when the
 * caller should print words instead. */
bool office_json_printed(const struct session *session, const json_t *value, int *rc);

/* Prints a resident (GET /v1/residents/{id}) in words: names, birth and age, stays, phases,
 * accounted_for_at and the date-of-birth corrections, times in zone (cmd_resident.c). With
 * --json the JSON instead. Returns the exit status. */
int office_show_resident(const struct session *session, const json_t *resident,
                         const struct centre_ref *centre);

#endif
