/* Pure calendar arithmetic for the client (see dates.h): proleptic Gregorian days from civil
 * dates and back (Howard Hinnant's algorithms), so no call depends on the process's time zone. */
#include "dates.h"

#include <stdio.h>
#include <string.h>

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Reads exactly n decimal digits. */
static bool read_digits(const char *s, int n, int *out)
{
	int value = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		value = value * 10 + (s[i] - '0');
	}
	*out = value;
	return true;
}

static bool valid_date(const struct date *d)
{
	return d->year >= 1900 && d->year <= 2999 && d->month >= 1 && d->month <= 12 &&
	       d->day >= 1 && d->day <= days_in_month(d->year, d->month);
}

/* "YYYY-MM-DD" at the start of text, without looking past it. */
static bool date_prefix(const char *text, struct date *out)
{
	struct date d;
	if (strnlen(text, 10) < 10 || !read_digits(text, 4, &d.year) || text[4] != '-' ||
	    !read_digits(text + 5, 2, &d.month) || text[7] != '-' ||
	    !read_digits(text + 8, 2, &d.day) || !valid_date(&d))
		return false;
	*out = d;
	return true;
}

bool date_parse(const char *text, struct date *out)
{
	return text != NULL && strlen(text) == 10 && date_prefix(text, out);
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

/* "YYYY-MM-DD" without a terminator; years outside 0-9999 are clamped (never reached: parsed
 * dates are 1900-2999 and instants come from the server). */
static char *put_date(char *out, const struct date *date)
{
	int year = date->year < 0 ? 0 : date->year > 9999 ? 9999 : date->year;
	out = put_digits(out, year, 4);
	*out++ = '-';
	out = put_digits(out, date->month, 2);
	*out++ = '-';
	return put_digits(out, date->day, 2);
}

void date_format(const struct date *date, char out[DATE_TEXT_SIZE])
{
	*put_date(out, date) = '\0';
}

int64_t date_to_days(const struct date *date)
{
	int64_t y = date->year - (date->month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (date->month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + date->day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void date_from_days(int64_t days, struct date *out)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	int64_t doe = days - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	out->year = (int)(yoe + era * 400 + (m <= 2));
	out->month = (int)m;
	out->day = (int)d;
}

void date_add_days(const struct date *date, int days, struct date *out)
{
	date_from_days(date_to_days(date) + days, out);
}

int date_age_on(const struct date *born, const struct date *on)
{
	int age = on->year - born->year;
	if (on->month < born->month || (on->month == born->month && on->day < born->day))
		age--;
	return age;
}

bool instant_parse(const char *text, time_t *out)
{
	struct date d;
	int hour, minute, second = 0, offset_h, offset_m;
	const char *p = text;

	if (text == NULL || !date_prefix(p, &d))
		return false;
	p += 10;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!read_digits(p, 2, &hour) || p[2] != ':' || !read_digits(p + 3, 2, &minute))
		return false;
	p += 5;
	if (*p == ':') {
		if (!read_digits(p + 1, 2, &second))
			return false;
		p += 3;
		if (*p == '.' || *p == ',') {
			p++;
			if (*p < '0' || *p > '9')
				return false;
			while (*p >= '0' && *p <= '9')
				p++;
		}
	}
	/* 60 is a leap second; time_t has none, so it counts as the next second. */
	if (hour > 23 || minute > 59 || second > 60)
		return false;

	int offset_seconds;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		offset_seconds = 0;
	} else if ((*p == '+' || *p == '-') && read_digits(p + 1, 2, &offset_h) && p[3] == ':' &&
	           read_digits(p + 4, 2, &offset_m) && p[6] == '\0' && offset_h <= 23 &&
	           offset_m <= 59) {
		offset_seconds = (offset_h * 60 + offset_m) * 60;
		if (*p == '-')
			offset_seconds = -offset_seconds;
	} else {
		return false;
	}

	int64_t seconds = date_to_days(&d) * 86400 + hour * 3600 + minute * 60 + second;
	*out = (time_t)(seconds - offset_seconds);
	return true;
}

void instant_format_utc(time_t t, char out[INSTANT_TEXT_SIZE])
{
	int64_t seconds = (int64_t)t;
	int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
	int64_t rest = seconds - days * 86400;
	struct date d;
	date_from_days(days, &d);
	char *p = put_date(out, &d);
	*p++ = 'T';
	p = put_digits(p, (int)(rest / 3600), 2);
	*p++ = ':';
	p = put_digits(p, (int)(rest / 60 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (int)(rest % 60), 2);
	memcpy(p, "+00:00", 7);
}

bool http_date_parse(const char *text, time_t *out)
{
	static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct date d;
	int hour, minute, second;

	/* "Sun, 06 Nov 1994 08:49:37 GMT": fixed positions after the day name. */
	if (text == NULL || strlen(text) != 29 || text[3] != ',' || text[4] != ' ' ||
	    !read_digits(text + 5, 2, &d.day) || text[7] != ' ' || text[11] != ' ' ||
	    !read_digits(text + 12, 4, &d.year) || text[16] != ' ' ||
	    !read_digits(text + 17, 2, &hour) || text[19] != ':' ||
	    !read_digits(text + 20, 2, &minute) || text[22] != ':' ||
	    !read_digits(text + 23, 2, &second) || strcmp(text + 25, " GMT") != 0)
		return false;
	d.month = 0;
	for (int m = 0; m < 12; m++)
		if (strncmp(text + 8, months[m], 3) == 0)
			d.month = m + 1;
	if (d.month == 0 || !valid_date(&d) || hour > 23 || minute > 59 || second > 60)
		return false;
	*out = (time_t)(date_to_days(&d) * 86400 + hour * 3600 + minute * 60 + second);
	return true;
}
