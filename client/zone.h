/* Local dates and times in a centre's time zone (Olson name such as "Europe/Copenhagen"), so a
 * terminal set to UTC still shows and chooses the centre's day. The client is single-threaded;
 * these switch the process's TZ for the duration of one call. */
#ifndef ROLLCALL_CLIENT_ZONE_H
#define ROLLCALL_CLIENT_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "dates.h"

/* The local calendar date of t in zone (NULL or "": the terminal's own zone). */
void zone_date(const char *zone, time_t t, struct date *out);

/* "2026-11-20 23:00 CET" in zone: the zone's abbreviation says which of the two hours 02:30 is on
 * the night the clocks go back, and that the time is the centre's, not the terminal's. */
#define ZONE_TEXT_SIZE 40
void zone_format(const char *zone, time_t t, char out[ZONE_TEXT_SIZE]);

/* An RFC 3339 instant from the server shown as zone_format does; text that does not parse is
 * copied as it is (so nothing the server said is lost). Returns out. */
char *zone_format_instant(const char *zone, const char *instant, char out[ZONE_TEXT_SIZE]);

/* RFC 3339 in zone's local time with its offset: "2026-01-19T10:02:00+01:00" (the same instant
 * as the server's UTC text, read as the centre's clock shows it). */
#define ZONE_RFC3339_SIZE 32
void zone_format_rfc3339(const char *zone, time_t t, char out[ZONE_RFC3339_SIZE]);

/* What staff type for an instant, read in zone: "07:05" (that time on the local day `today`),
 * "2026-12-02 07:05" or "2026-12-02T07:05" (seconds optional), or a full RFC 3339 instant with
 * its offset, taken as it is. A local time the clocks skip (02:30 on the spring-forward night)
 * is refused; one that happens twice (the night they go back) is the first of the two. Pure but
 * for the time zone database. */
bool zone_parse_local(const char *zone, const char *text, const struct date *today, time_t *out)
    __attribute__((warn_unused_result));

/* Copies text to out, each RFC 3339 instant in it (a server's message: "paid on
 * 2026-01-19T09:02:00+00:00") rewritten as zone_format shows it. Returns out. */
char *zone_localise_text(const char *zone, const char *text, char *out, size_t outlen);

/* The zone messages without a centre of their own are shown in: the centre the command works
 * on, once known (resolve.c sets it). "" until then: the terminal's. */
void zone_set_display(const char *zone);
const char *zone_display(void);

#endif
