/* Calendar arithmetic for daemon and client (see rollcall/calendar.h): the one copy of the
 * days-from-civil conversion and of the leap-year rule. */
#include "rollcall/calendar.h"

bool calendar_is_leap_year(int64_t year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int calendar_days_in_month(int64_t year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && calendar_is_leap_year(year) ? 29 : days[month - 1];
}

bool calendar_date_exists(int64_t year, int month, int day)
{
	return month >= 1 && month <= 12 && day >= 1 && day <= calendar_days_in_month(year, month);
}

int64_t calendar_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

int64_t calendar_days_from_civil(int64_t year, int month, int day)
{
	/* Counted from 1 March, so that the leap day is the last day of the year. */
	year -= month <= 2;
	int64_t era = calendar_floor_div(year, 400);
	int64_t year_of_era = year - era * 400; /* [0, 399] */
	int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
	return era * 146097 + day_of_era - 719468;
}

void calendar_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
	days += 719468;
	int64_t era = calendar_floor_div(days, 146097);
	int64_t day_of_era = days - era * 146097; /* [0, 146096] */
	int64_t year_of_era =
	    (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	int64_t day_of_year =
	    day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	int64_t mp = (5 * day_of_year + 2) / 153; /* [0, 11], March first */
	*day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = year_of_era + era * 400 + (*month <= 2);
}

int64_t calendar_date_to_days(const struct date *date)
{
	return calendar_days_from_civil(date->year, date->month, date->day);
}

void calendar_date_from_days(int64_t days, struct date *out)
{
	int64_t year;
	calendar_civil_from_days(days, &year, &out->month, &out->day);
	out->year = (int)year;
}
