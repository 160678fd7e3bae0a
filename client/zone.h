/* Local dates and times in a centre's time zone (Olson name such as "Europe/Copenhagen"), so a
 * terminal set to UTC still shows and chooses the centre's day. The client is single-threaded;
 * these switch the process's TZ for the duration of one call. */
#ifndef ROLLCALL_CLIENT_ZONE_H
#define ROLLCALL_CLIENT_ZONE_H

#include <time.h>

#include "dates.h"

/* The local calendar date of t in zone (NULL or "": the terminal's own zone). */
void zone_date(const char *zone, time_t t, struct date *out);

/* "2026-11-20 23:00" in zone. */
#define ZONE_TEXT_SIZE 32
void zone_format(const char *zone, time_t t, char out[ZONE_TEXT_SIZE]);

/* An RFC 3339 instant from the server shown as zone_format does; text that does not parse is
 * copied as it is (so nothing the server said is lost). Returns out. */
char *zone_format_instant(const char *zone, const char *instant, char out[ZONE_TEXT_SIZE]);

#endif
