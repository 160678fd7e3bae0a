/* Proleptic Gregorian calendar arithmetic shared by rollcalld and rollcall: leap years, real
 * dates, days since 1970-01-01 and back. Pure integer code, so no result depends on TZ, the C
 * library's mktime or the range of time_t. */
#ifndef ROLLCALL_CALENDAR_H
#define ROLLCALL_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>

/* A calendar day as written, month 1-12 and day 1-31. */
struct date {
	int year, month, day;
};

/* The years a date or instant from a person or a client may name (SPEC section 10): wide enough
 * for every date of birth and every round, narrow enough to catch a typo such as 20266. */
#define CALENDAR_YEAR_MIN 1900
#define CALENDAR_YEAR_MAX 2999

#define CALENDAR_SECONDS_PER_DAY INT64_C(86400)

bool calendar_is_leap_year(int64_t year);
/* 28-31; month must be 1-12. */
int calendar_days_in_month(int64_t year, int month);
/* True when the date names a day that exists (any year), e.g. not 2026-02-29. */
bool calendar_date_exists(int64_t year, int month, int day);

/* a / b rounded towards minus infinity (b > 0), so that instants before 1970 split into a day
 * and a non-negative time of day. */
int64_t calendar_floor_div(int64_t a, int64_t b);

/* Days since 1970-01-01 (negative before) of a proleptic Gregorian date, and back (Howard
 * Hinnant's days_from_civil / civil_from_days, exact for every year an int64_t day count
 * reaches in practice). */
int64_t calendar_days_from_civil(int64_t year, int month, int day);
void calendar_civil_from_days(int64_t days, int64_t *year, int *month, int *day);

/* The same on struct date, for callers that keep dates whole. */
int64_t calendar_date_to_days(const struct date *date);
void calendar_date_from_days(int64_t days, struct date *out);

#endif
