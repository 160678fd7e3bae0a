/* The text forms of dates and instants that rollcalld and rollcall read and write: "YYYY-MM-DD",
 * RFC 3339 instants with a mandatory offset, and PostgreSQL's timestamptz output. One parser, so
 * daemon and client agree on what an instant is: real calendar days only, seconds 00-59 (a leap
 * second :60 is refused rather than silently moved), fractions of 1-6 digits, and an offset
 * always (without one, a wall time is in some unknown zone). */
#ifndef ROLLCALL_TIME_TEXT_H
#define ROLLCALL_TIME_TEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "rollcall/calendar.h"

#define TIME_TEXT_DATE_SIZE 11    /* "2026-11-20" and NUL */
#define TIME_TEXT_INSTANT_SIZE 26 /* "2026-11-20T23:00:00+00:00" and NUL */
/* "2026-11-20T22:00:00.000000+00:00" and NUL, with room for the 6-digit years of far int64_t
 * values. */
#define TIME_TEXT_INSTANT_US_SIZE 40

/* Strict "YYYY-MM-DD" naming a real calendar day in CALENDAR_YEAR_MIN..MAX. *out is untouched
 * on refusal. */
bool time_text_parse_date(const char *text, struct date *out) __attribute__((warn_unused_result));
/* "YYYY-MM-DD"; years outside 0-9999 are clamped (parsed dates never are). */
void time_text_format_date(const struct date *date, char out[TIME_TEXT_DATE_SIZE]);

/* What time_text_parse_instant accepts beyond strict RFC 3339, which is always accepted:
 * "2026-11-20T23:00:00Z", "2026-11-20t23:00:00.5+01:00", "...-05:30" (T/t, Z/z), years
 * CALENDAR_YEAR_MIN..MAX. */
enum instant_forms {
	INSTANT_RFC3339 = 0,
	/* A space joins date and time (RFC 3339 section 5.6 allows it): "2026-11-20 23:00:00Z". */
	INSTANT_SPACE = 1u << 0,
	/* PostgreSQL's timestamptz output as well: a space, and the offset's minutes may be left
	 * out ("2026-11-20 22:00:00.123456+00"); only after a space, since "+01" is not RFC 3339.
	 */
	INSTANT_POSTGRES = 1u << 1,
	/* Seconds may be left out, as a person types: "2026-11-20T23:00+01:00". */
	INSTANT_OPTIONAL_SECONDS = 1u << 2,
	/* Years 1-9999 (year 0 does not exist for PostgreSQL): values read back from the
	 * database, not typed by anyone. */
	INSTANT_ANY_YEAR = 1u << 3,
};

/* Parses an instant in the forms allowed (an OR of enum instant_forms) into microseconds since
 * the Unix epoch. *us is untouched on refusal. */
bool time_text_parse_instant(const char *text, unsigned forms, int64_t *us)
    __attribute__((warn_unused_result));

/* RFC 3339 in UTC with microseconds, "2026-11-20T22:00:00.000000+00:00", for any int64_t. */
void time_text_format_instant_us(int64_t us, char out[TIME_TEXT_INSTANT_US_SIZE]);
/* RFC 3339 in UTC to the second, "2026-11-20T23:00:00+00:00", the form the daemon's JSON
 * answers carry; years outside 0-9999 are clamped. */
void time_text_format_instant(int64_t seconds, char out[TIME_TEXT_INSTANT_SIZE]);

#endif
