/* Dates and instants as text for daemon and client (see rollcall/time_text.h). Hand-written
 * rather than strptime/strftime: those depend on the locale and TZ, accept more than RFC 3339
 * and cannot refuse a leap second. */
#include "rollcall/time_text.h"

#include <stdio.h>
#include <string.h>

#define US_PER_SECOND INT64_C(1000000)

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

/* "YYYY-MM-DD" at *p, any existing day of years 0-9999; the caller checks the year range. */
static bool read_date(const char **p, struct date *out)
{
	struct date d;
	if (!read_digits(p, 4, &d.year) || !read_char(p, '-') || !read_digits(p, 2, &d.month) ||
	    !read_char(p, '-') || !read_digits(p, 2, &d.day) ||
	    !calendar_date_exists(d.year, d.month, d.day))
		return false;
	*out = d;
	return true;
}

static bool year_in_range(int year)
{
	return year >= CALENDAR_YEAR_MIN && year <= CALENDAR_YEAR_MAX;
}

bool time_text_parse_date(const char *text, struct date *out)
{
	if (text == NULL)
		return false;
	const char *p = text;
	struct date d;
	if (!read_date(&p, &d) || *p != '\0' || !year_in_range(d.year))
		return false;
	*out = d;
	return true;
}

/* Writes value in exactly width decimal digits (the caller keeps it in range). */
static char *put_digits(char *out, int value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (char)('0' + value % 10);
		value /= 10;
	}
	return out + width;
}

static char *put_date(char *out, int64_t year, int month, int day)
{
	out = put_digits(out, (int)(year < 0 ? 0 : year > 9999 ? 9999 : year), 4);
	*out++ = '-';
	out = put_digits(out, month, 2);
	*out++ = '-';
	return put_digits(out, day, 2);
}

void time_text_format_date(const struct date *date, char out[TIME_TEXT_DATE_SIZE])
{
	*put_date(out, date->year, date->month, date->day) = '\0';
}

/* The fraction after '.' at *p: 1 to 6 digits, as microseconds. More digits would be precision
 * the daemon cannot keep, so they are refused rather than cut. */
static bool read_fraction(const char **p, int64_t *micros)
{
	int64_t value = 0;
	int digits = 0;
	while (**p >= '0' && **p <= '9') {
		if (++digits > 6)
			return false;
		value = value * 10 + (**p - '0');
		(*p)++;
	}
	if (digits == 0)
		return false;
	for (; digits < 6; digits++)
		value *= 10;
	*micros = value;
	return true;
}

/* The mandatory offset at *p: Z/z, +HH:MM or -HH:MM, or +HH when minutes_optional. */
static bool read_offset(const char **p, bool minutes_optional, int *offset_seconds)
{
	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*offset_seconds = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	int sign = **p == '-' ? -1 : 1;
	(*p)++;
	int hours, minutes = 0;
	if (!read_digits(p, 2, &hours))
		return false;
	if (**p == ':') {
		(*p)++;
		if (!read_digits(p, 2, &minutes))
			return false;
	} else if (!minutes_optional) {
		return false;
	}
	if (hours > 23 || minutes > 59)
		return false;
	*offset_seconds = sign * (hours * 3600 + minutes * 60);
	return true;
}

bool time_text_parse_instant(const char *text, unsigned forms, int64_t *us)
{
	if (text == NULL)
		return false;
	const char *p = text;
	struct date d;
	if (!read_date(&p, &d))
		return false;
	if ((forms & INSTANT_ANY_YEAR) ? d.year < 1 : !year_in_range(d.year))
		return false;

	char separator = *p++;
	bool space_allowed = (forms & (INSTANT_SPACE | INSTANT_POSTGRES)) != 0;
	if (separator != 'T' && separator != 't' && !(separator == ' ' && space_allowed))
		return false;

	int hour, minute, second = 0;
	if (!read_digits(&p, 2, &hour) || !read_char(&p, ':') || !read_digits(&p, 2, &minute))
		return false;
	int64_t micros = 0;
	if (*p == ':' || !(forms & INSTANT_OPTIONAL_SECONDS)) {
		if (!read_char(&p, ':') || !read_digits(&p, 2, &second))
			return false;
		if (*p == '.') {
			p++;
			if (!read_fraction(&p, &micros))
				return false;
		}
	}

	int offset_seconds;
	bool postgres_offset = (forms & INSTANT_POSTGRES) && separator == ' ';
	if (!read_offset(&p, postgres_offset, &offset_seconds) || *p != '\0')
		return false;
	/* 24:00 and leap seconds (:60) are refused: time_t and timestamptz have neither. */
	if (hour > 23 || minute > 59 || second > 59)
		return false;

	int64_t seconds = calendar_date_to_days(&d) * CALENDAR_SECONDS_PER_DAY + hour * 3600 +
	                  minute * 60 + second - offset_seconds;
	*us = seconds * US_PER_SECOND + micros;
	return true;
}

/* The UTC calendar day and second of day of an instant in seconds. */
static void split_seconds(int64_t seconds, int64_t *year, int *month, int *day, int *second_of_day)
{
	int64_t days = calendar_floor_div(seconds, CALENDAR_SECONDS_PER_DAY);
	*second_of_day = (int)(seconds - days * CALENDAR_SECONDS_PER_DAY);
	calendar_civil_from_days(days, year, month, day);
}

void time_text_format_instant_us(int64_t us, char out[TIME_TEXT_INSTANT_US_SIZE])
{
	/* Split without multiplying back, which would overflow near INT64_MIN. */
	int64_t seconds = us / US_PER_SECOND;
	int64_t micros = us % US_PER_SECOND;
	if (micros < 0) {
		micros += US_PER_SECOND;
		seconds--;
	}
	int64_t year;
	int month, day, second_of_day;
	split_seconds(seconds, &year, &month, &day, &second_of_day);
	/* Formatted in a roomier buffer: the compiler cannot see that the year of any int64_t
	 * instant has at most 6 digits, so the result always fits TIME_TEXT_INSTANT_US_SIZE. */
	char text[64];
	int len = snprintf(text, sizeof text, "%04lld-%02d-%02dT%02d:%02d:%02d.%06d+00:00",
	                   (long long)year, month, day, second_of_day / 3600,
	                   second_of_day / 60 % 60, second_of_day % 60, (int)micros);
	size_t n = len < 0 ? 0 : (size_t)len;
	if (n > TIME_TEXT_INSTANT_US_SIZE - 1)
		n = TIME_TEXT_INSTANT_US_SIZE - 1;
	memcpy(out, text, n);
	out[n] = '\0';
}

void time_text_format_instant(int64_t seconds, char out[TIME_TEXT_INSTANT_SIZE])
{
	int64_t year;
	int month, day, second_of_day;
	split_seconds(seconds, &year, &month, &day, &second_of_day);
	char *p = put_date(out, year, month, day);
	*p++ = 'T';
	p = put_digits(p, second_of_day / 3600, 2);
	*p++ = ':';
	p = put_digits(p, second_of_day / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, second_of_day % 60, 2);
	memcpy(p, "+00:00", 7);
}
