/* The daemon's one clock: wall time, or the test clock that stands still until PUT /v1/clock
 * moves it; and the RFC 3339 / PostgreSQL text forms of an instant, which the shared
 * rollcall/time_text.h reads and writes so that daemon and client agree on them. */
#include "clock.h"

#include <time.h>

#include "rollcall/time_text.h"

#define US_PER_SECOND INT64_C(1000000)

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

static struct {
	void (*fn)(void *arg);
	void *arg;
} watchers[CLOCK_WATCHERS];

bool clock_watch(void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < CLOCK_WATCHERS; i++) {
		if (!watchers[i].fn) {
			watchers[i].fn = fn;
			watchers[i].arg = arg;
			return true;
		}
	}
	return false;
}

void clock_unwatch(void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < CLOCK_WATCHERS; i++)
		if (watchers[i].fn == fn && watchers[i].arg == arg)
			watchers[i].fn = NULL, watchers[i].arg = NULL;
}

void clock_set_us(int64_t us)
{
	test_now_us = us;
	for (size_t i = 0; i < CLOCK_WATCHERS; i++)
		if (watchers[i].fn)
			watchers[i].fn(watchers[i].arg);
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

void clock_format(int64_t us, char out[CLOCK_TEXT_SIZE])
{
	time_text_format_instant_us(us, out);
}

/* Accepted forms, and nothing else:
 *   RFC 3339:    2026-11-20T23:00:00Z, 2026-11-20t23:00:00.5+01:00, ...-05:30 (T/t, Z/z)
 *   PostgreSQL:  2026-11-20 22:00:00+00, 2026-11-20 22:00:00.123456+00, ...+05:30
 * Years 1-9999: this also reads the database's values back. */
bool clock_parse(const char *text, int64_t *us)
{
	return time_text_parse_instant(text, INSTANT_POSTGRES | INSTANT_ANY_YEAR, us);
}
