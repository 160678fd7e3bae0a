/* The daemon's one clock: wall time, or the test clock that stands still until PUT /v1/clock
 * moves it; and the RFC 3339 / PostgreSQL text forms of an instant. The calendar arithmetic is
 * done here (days-from-civil) so that nothing depends on TZ or the C library's mktime. */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define US_PER_SECOND INT64_C(1000000)
#define SECONDS_PER_DAY INT64_C(86400)

/* Only the event loop thread touches the clock. */
static bool test_mode;
static int64_t test_now_us;

static int64_t timespec_us(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * US_PER_SECOND + ts->tv_nsec / 1000;
}

static int64_t wall_now_us(void)
{
	struct timespec ts;
	/* CLOCK_REALTIME cannot fail with a valid clock id and pointer. */
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return timespec_us(&ts);
}

void clock_use_test(bool enabled)
{
	/* Until the stored test instant is loaded from the database, the test clock starts at the
	 * wall time rather than at 1970. */
	if (enabled && !test_mode)
		test_now_us = wall_now_us();
	test_mode = enabled;
}

bool clock_is_test(void)
{
	return test_mode;
}

void clock_set_us(int64_t us)
{
	test_now_us = us;
}

int64_t clock_now_us(void)
{
	return test_mode ? test_now_us : wall_now_us();
}

int64_t clock_monotonic_us(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return timespec_us(&ts);
}

/* Rounds towards minus infinity, so that instants before 1970 split into a day and a
 * non-negative time of day. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t year, int month, int day)
{
	year -= month <= 2;
	int64_t era = floor_div(year, 400);
	int64_t year_of_era = year - era * 400; /* [0, 399] */
	int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
	return era * 146097 + day_of_era - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
	days += 719468;
	int64_t era = floor_div(days, 146097);
	int64_t day_of_era = days - era * 146097; /* [0, 146096] */
	int64_t year_of_era =
	    (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	int64_t day_of_year =
	    day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	int64_t mp = (5 * day_of_year + 2) / 153; /* [0, 11] */
	*day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = year_of_era + era * 400 + (*month <= 2);
}

static bool is_leap_year(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

void clock_format(int64_t us, char out[CLOCK_TEXT_SIZE])
{
	/* Split without multiplying back, which would overflow near INT64_MIN. */
	int64_t seconds = us / US_PER_SECOND;
	int64_t micros = us % US_PER_SECOND;
	if (micros < 0) {
		micros += US_PER_SECOND;
		seconds--;
	}
	int64_t days = floor_div(seconds, SECONDS_PER_DAY);
	int64_t second_of_day = seconds - days * SECONDS_PER_DAY;
	int64_t year;
	int month, day;
	civil_from_days(days, &year, &month, &day);
	/* Formatted in a roomier buffer: the compiler cannot see that the year of any int64_t
	 * instant has at most 6 digits, so the result always fits CLOCK_TEXT_SIZE. */
	char text[64];
	int len = snprintf(text, sizeof text, "%04lld-%02d-%02dT%02d:%02d:%02d.%06d+00:00",
	                   (long long)year, month, day, (int)(second_of_day / 3600),
	                   (int)(second_of_day / 60 % 60), (int)(second_of_day % 60), (int)micros);
	size_t n = len < 0 ? 0 : (size_t)len;
	if (n > CLOCK_TEXT_SIZE - 1)
		n = CLOCK_TEXT_SIZE - 1;
	memcpy(out, text, n);
	out[n] = '\0';
}

/* Reads exactly `count` decimal digits at *p. */
static bool read_digits(const char **p, int count, int *out)
{
	int value = 0;
	for (int i = 0; i < count; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		value = value * 10 + (c - '0');
	}
	*p += count;
	*out = value;
	return true;
}

static bool read_char(const char **p, char expected)
{
	if (**p != expected)
		return false;
	(*p)++;
	return true;
}

/* Accepted forms, and nothing else:
 *   RFC 3339:    2026-11-20T23:00:00Z, 2026-11-20t23:00:00.5+01:00, ...-05:30 (T/t, Z/z)
 *   PostgreSQL:  2026-11-20 22:00:00+00, 2026-11-20 22:00:00.123456+00, ...+05:30
 * Fractions have 1 to 6 digits. The offset is mandatory: an instant without one is a wall time
 * in some unknown zone. Leap seconds (:60) are refused rather than silently moved. */
bool clock_parse(const char *text, int64_t *us)
{
	if (text == NULL)
		return false;
	const char *p = text;
	int year, month, day, hour, minute, second;
	if (!read_digits(&p, 4, &year) || !read_char(&p, '-') || !read_digits(&p, 2, &month) ||
	    !read_char(&p, '-') || !read_digits(&p, 2, &day))
		return false;
	char separator = *p;
	if (separator != 'T' && separator != 't' && separator != ' ')
		return false;
	p++;
	if (!read_digits(&p, 2, &hour) || !read_char(&p, ':') || !read_digits(&p, 2, &minute) ||
	    !read_char(&p, ':') || !read_digits(&p, 2, &second))
		return false;

	int64_t micros = 0;
	if (*p == '.') {
		p++;
		int digits = 0;
		while (*p >= '0' && *p <= '9') {
			if (++digits > 6)
				return false;
			micros = micros * 10 + (*p - '0');
			p++;
		}
		if (digits == 0)
			return false;
		for (; digits < 6; digits++)
			micros *= 10;
	}

	int offset_seconds = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		p++;
		int offset_hours, offset_minutes = 0;
		if (!read_digits(&p, 2, &offset_hours))
			return false;
		if (*p == ':') {
			p++;
			if (!read_digits(&p, 2, &offset_minutes))
				return false;
		} else if (separator != ' ') {
			/* "+01" alone is PostgreSQL's form, not RFC 3339's. */
			return false;
		}
		if (offset_hours > 23 || offset_minutes > 59)
			return false;
		offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
	} else {
		return false;
	}
	if (*p != '\0')
		return false;

	/* Year 0 does not exist for PostgreSQL (1 BC is year 0 only in ISO 8601). */
	if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
	    hour > 23 || minute > 59 || second > 59)
		return false;

	int64_t seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 +
	                  minute * 60 + second - offset_seconds;
	*us = seconds * US_PER_SECOND + micros;
	return true;
}
