/* Local dates and times in a centre's time zone: TZ is switched around localtime_r and put back,
 * which is safe because the client has one thread. */
#include "zone.h"

#include <ctype.h>
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
	if (strftime(out, ZONE_TEXT_SIZE, "%Y-%m-%d %H:%M %Z", &tm) == 0)
		out[0] = '\0';
}

void zone_format_rfc3339(const char *zone, time_t t, char out[ZONE_RFC3339_SIZE])
{
	struct tm tm;
	zone_localtime(zone, t, &tm);
	/* Offsets are within a day; bounded so the text always fits. */
	int offset = (int)((tm.tm_gmtoff / 60) % (24 * 60));
	char sign = offset < 0 ? '-' : '+';
	unsigned minutes = (unsigned)(offset < 0 ? -offset : offset) % (24 * 60);
	unsigned year = (unsigned)(tm.tm_year + 1900) % 10000, month = (unsigned)tm.tm_mon % 12 + 1,
	         day = (unsigned)tm.tm_mday % 32, hour = (unsigned)tm.tm_hour % 24,
	         minute = (unsigned)tm.tm_min % 60, second = (unsigned)tm.tm_sec % 61;
	snprintf(out, ZONE_RFC3339_SIZE, "%04u-%02u-%02uT%02u:%02u:%02u%c%02u:%02u", year, month,
	         day, hour, minute, second, sign, minutes / 60, minutes % 60);
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

/* mktime in zone, TZ switched as in zone_localtime. */
static time_t zone_mktime(const char *zone, struct tm *tm)
{
	if (zone == NULL || zone[0] == '\0')
		return mktime(tm);
	const char *previous = getenv("TZ");
	char *saved = previous ? strdup(previous) : NULL;
	time_t t = (time_t)-1;
	if ((previous == NULL || saved != NULL) && setenv("TZ", zone, 1) == 0) {
		tzset();
		t = mktime(tm);
		if (saved != NULL)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		tzset();
	}
	free(saved);
	return t;
}

/* Exactly n digits at s. */
static bool digits(const char *s, int n, int *out)
{
	int value = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		value = value * 10 + (s[i] - '0');
	}
	*out = value;
	return true;
}

/* "HH:MM" or "HH:MM:SS" and nothing after. */
static bool parse_clock(const char *s, int *hour, int *minute, int *second)
{
	*second = 0;
	if (!digits(s, 2, hour) || s[2] != ':' || !digits(s + 3, 2, minute))
		return false;
	if (s[5] == ':') {
		if (!digits(s + 6, 2, second) || s[8] != '\0')
			return false;
	} else if (s[5] != '\0') {
		return false;
	}
	return *hour <= 23 && *minute <= 59 && *second <= 59;
}

/* The instant of a local date and time in zone, if the clocks show it; the earlier of two. */
static bool local_instant(const char *zone, const struct date *day, int hour, int minute,
                          int second, time_t *out)
{
	bool found = false;
	/* Both readings of the wall clock (summer and winter time); each is kept only if the
	 * zone really shows that date and time at the instant it gives. */
	for (int dst = 0; dst <= 1; dst++) {
		struct tm tm = {.tm_year = day->year - 1900,
		                .tm_mon = day->month - 1,
		                .tm_mday = day->day,
		                .tm_hour = hour,
		                .tm_min = minute,
		                .tm_sec = second,
		                .tm_isdst = dst};
		time_t t = zone_mktime(zone, &tm);
		if (t == (time_t)-1)
			continue;
		struct tm back;
		zone_localtime(zone, t, &back);
		if (back.tm_year != day->year - 1900 || back.tm_mon != day->month - 1 ||
		    back.tm_mday != day->day || back.tm_hour != hour || back.tm_min != minute ||
		    back.tm_sec != second)
			continue;
		if (!found || t < *out)
			*out = t;
		found = true;
	}
	return found;
}

bool zone_parse_local(const char *zone, const char *text, const struct date *today, time_t *out)
{
	int hour, minute, second;
	if (text == NULL)
		return false;
	if (parse_clock(text, &hour, &minute, &second))
		return today != NULL && local_instant(zone, today, hour, minute, second, out);
	/* "YYYY-MM-DD HH:MM[:SS]" without an offset is local; with one it is RFC 3339. */
	size_t len = strlen(text);
	if (len >= 16 && len <= 19 && (text[10] == ' ' || text[10] == 'T' || text[10] == 't')) {
		char day_text[DATE_TEXT_SIZE];
		struct date day;
		memcpy(day_text, text, 10);
		day_text[10] = '\0';
		if (date_parse(day_text, &day) && parse_clock(text + 11, &hour, &minute, &second))
			return local_instant(zone, &day, hour, minute, second, out);
	}
	return instant_parse(text, out);
}

/* The length of an RFC 3339 instant starting at s ("2026-01-19T09:02:00.123+00:00"), or 0. */
static size_t instant_length(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd";
	size_t n = 0;
	for (; shape[n] != '\0'; n++) {
		char want = shape[n], c = s[n];
		if (want == 'd' ? !isdigit((unsigned char)c) : c != want)
			return 0;
	}
	if (s[n] == ':' && isdigit((unsigned char)s[n + 1]) && isdigit((unsigned char)s[n + 2]))
		n += 3;
	if (s[n] == '.') {
		n++;
		while (isdigit((unsigned char)s[n]))
			n++;
	}
	if (s[n] == 'Z')
		return n + 1;
	if ((s[n] == '+' || s[n] == '-') && isdigit((unsigned char)s[n + 1]) &&
	    isdigit((unsigned char)s[n + 2]) && s[n + 3] == ':' &&
	    isdigit((unsigned char)s[n + 4]) && isdigit((unsigned char)s[n + 5]))
		return n + 6;
	return 0;
}

char *zone_localise_text(const char *zone, const char *text, char *out, size_t outlen)
{
	size_t used = 0;
	if (outlen == 0)
		return out;
	for (const char *p = text ? text : ""; *p != '\0' && used + 1 < outlen;) {
		size_t n = instant_length(p);
		char instant[64], local[ZONE_TEXT_SIZE];
		time_t t;
		if (n > 0 && n < sizeof(instant)) {
			memcpy(instant, p, n);
			instant[n] = '\0';
			if (instant_parse(instant, &t)) {
				zone_format(zone, t, local);
				size_t len = strlen(local);
				if (used + len >= outlen)
					break;
				memcpy(out + used, local, len);
				used += len;
				p += n;
				continue;
			}
		}
		out[used++] = *p++;
	}
	out[used] = '\0';
	return out;
}

static char display_zone[64];

void zone_set_display(const char *zone)
{
	snprintf(display_zone, sizeof(display_zone), "%s", zone ? zone : "");
}

const char *zone_display(void)
{
	return display_zone;
}
