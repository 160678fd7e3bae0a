/* Local dates and times in a centre's time zone: TZ is switched around localtime_r and put back,
 * which is safe because the client has one thread. */
#include "zone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills *out with t broken down in zone; the previous TZ (or its absence) is restored. */
static void zone_localtime(const char *zone, time_t t, struct tm *out)
{
	if (zone == NULL || zone[0] == '\0') {
		localtime_r(&t, out);
		return;
	}
	const char *previous = getenv("TZ");
	char *saved = previous ? strdup(previous) : NULL;
	bool restore_possible = previous == NULL || saved != NULL;

	if (restore_possible && setenv("TZ", zone, 1) == 0) {
		tzset();
		localtime_r(&t, out);
		if (saved != NULL)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		tzset();
	} else {
		localtime_r(&t, out);
	}
	free(saved);
}

void zone_date(const char *zone, time_t t, struct date *out)
{
	struct tm tm;
	zone_localtime(zone, t, &tm);
	out->year = tm.tm_year + 1900;
	out->month = tm.tm_mon + 1;
	out->day = tm.tm_mday;
}

void zone_format(const char *zone, time_t t, char out[ZONE_TEXT_SIZE])
{
	struct tm tm;
	zone_localtime(zone, t, &tm);
	if (strftime(out, ZONE_TEXT_SIZE, "%Y-%m-%d %H:%M", &tm) == 0)
		out[0] = '\0';
}

char *zone_format_instant(const char *zone, const char *instant, char out[ZONE_TEXT_SIZE])
{
	time_t t;
	if (instant == NULL)
		out[0] = '\0';
	else if (instant_parse(instant, &t))
		zone_format(zone, t, out);
	else {
		snprintf(out, ZONE_TEXT_SIZE, "%s", instant);
		for (char *c = out; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?'; /* shown on a terminal as it is */
	}
	return out;
}
