/* The daemon's one clock (SPEC section 8): wall time, or with test_clock = true an instant that
 * stands still until PUT /v1/clock moves it. Every instant that reaches SQL comes from here. */
#ifndef ROLLCALL_CLOCK_H
#define ROLLCALL_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/time_text.h"

#define CLOCK_TEXT_SIZE TIME_TEXT_INSTANT_US_SIZE

void clock_use_test(bool enabled);
bool clock_is_test(void);
void clock_set_us(int64_t us); /* test clock only; tells the watchers below */

/* Calls fn(arg) after every clock_set_us (PUT /v1/clock, or another instance's NOTIFY), so that
 * timers of the daemon's own (not the database's due events) follow the one clock. At most
 * CLOCK_WATCHERS; false when full. */
#define CLOCK_WATCHERS 4
bool clock_watch(void (*fn)(void *arg), void *arg) __attribute__((warn_unused_result));
void clock_unwatch(void (*fn)(void *arg), void *arg);
int64_t clock_now_us(void);       /* microseconds since the Unix epoch */
int64_t clock_monotonic_us(void); /* for durations and timeouts, never for the rules */

/* RFC 3339 in UTC with microseconds: "2026-11-20T22:00:00.000000+00:00". */
void clock_format(int64_t us, char out[CLOCK_TEXT_SIZE]);
/* Parses RFC 3339 with offset (or Z), or PostgreSQL's "2026-11-20 22:00:00+00" text form. */
bool clock_parse(const char *text, int64_t *us) __attribute__((warn_unused_result));

#endif
