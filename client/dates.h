/* The client's calendar: YYYY-MM-DD dates, RFC 3339 instants (both read and written by the
 * shared rollcall/time_text.h, as the daemon does), HTTP dates and ages in completed years. No
 * I/O and no time zone database; see zone.h for local times. */
#ifndef ROLLCALL_CLIENT_DATES_H
#define ROLLCALL_CLIENT_DATES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "rollcall/calendar.h" /* struct date */
#include "rollcall/time_text.h"

#define DATE_TEXT_SIZE TIME_TEXT_DATE_SIZE       /* "2026-11-20" and NUL */
#define INSTANT_TEXT_SIZE TIME_TEXT_INSTANT_SIZE /* "2026-11-20T23:00:00+00:00" and NUL */

/* Strict "YYYY-MM-DD" naming a real calendar day (years 1900-2999). */
bool date_parse(const char *text, struct date *out) __attribute__((warn_unused_result));
void date_format(const struct date *date, char out[DATE_TEXT_SIZE]);
/* Days since 1970-01-01 (negative before), and back. */
int64_t date_to_days(const struct date *date);
void date_from_days(int64_t days, struct date *out);
void date_add_days(const struct date *date, int days, struct date *out);
/* Completed years on `on`, as PostgreSQL's age() counts them: someone born on 29 February
 * completes a year on 1 March in years without one. */
int date_age_on(const struct date *born, const struct date *on);

/* RFC 3339 instant: "YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|+HH:MM|-HH:MM)"; 't', ' ' accepted for
 * 'T'. Seconds default to 0 (a leap second :60 is refused), the fraction (1-6 digits) is
 * dropped. Years 1900-2999. */
bool instant_parse(const char *text, time_t *out) __attribute__((warn_unused_result));
/* "2026-11-20T23:00:00+00:00", the form the daemon itself answers. */
void instant_format_utc(time_t t, char out[INSTANT_TEXT_SIZE]);

/* An HTTP Date header in IMF-fixdate form: "Sun, 06 Nov 1994 08:49:37 GMT" (years 1900-2999,
 * no leap second). */
bool http_date_parse(const char *text, time_t *out) __attribute__((warn_unused_result));

#endif
