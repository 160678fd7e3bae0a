/* The client's dates (see dates.h): parsing, formatting and day arithmetic are the shared
 * rollcall/calendar.h and rollcall/time_text.h, so the client reads an instant exactly as the
 * daemon does; what is left here is the client's own: ages and HTTP dates. */
#include "dates.h"

#include <string.h>

#include "rollcall/time_text.h"

#define US_PER_SECOND INT64_C(1000000)

bool date_parse(const char *text, struct date *out)
{
	return time_text_parse_date(text, out);
}

void date_format(const struct date *date, char out[DATE_TEXT_SIZE])
{
	time_text_format_date(date, out);
}

int64_t date_to_days(const struct date *date)
{
	return calendar_date_to_days(date);
}

void date_from_days(int64_t days, struct date *out)
{
	calendar_date_from_days(days, out);
}

void date_add_days(const struct date *date, int days, struct date *out)
{
	calendar_date_from_days(calendar_date_to_days(date) + days, out);
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
	/* What a person types as well as what the daemon answers: a space for the T and no
	 * seconds are accepted; the fraction is dropped, since time_t has none. */
	int64_t us;
	if (!time_text_parse_instant(text, INSTANT_SPACE | INSTANT_OPTIONAL_SECONDS, &us))
		return false;
	*out = (time_t)calendar_floor_div(us, US_PER_SECOND);
	return true;
}

void instant_format_utc(time_t t, char out[INSTANT_TEXT_SIZE])
{
	time_text_format_instant((int64_t)t, out);
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
	/* The same rules as every other date and time: a real day, and no leap second. */
	if (d.month == 0 || d.year < CALENDAR_YEAR_MIN || d.year > CALENDAR_YEAR_MAX ||
	    !calendar_date_exists(d.year, d.month, d.day) || hour > 23 || minute > 59 ||
	    second > 59)
		return false;
	*out = (time_t)(calendar_date_to_days(&d) * CALENDAR_SECONDS_PER_DAY + hour * 3600 +
	                minute * 60 + second);
	return true;
}
