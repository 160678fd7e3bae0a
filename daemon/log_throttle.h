/* Log lines that would repeat for every attempt of something that keeps failing the same way
 * (a centre without an endpoint for an authority): the first is written, then at most one per
 * period per key, saying how many were held back. */
#ifndef ROLLCALL_LOG_THROTTLE_H
#define ROLLCALL_LOG_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

struct log_throttle;

/* period_us: the least time between two lines of one key, on the monotonic clock (log volume is
 * a matter of real time, whatever the daemon's test clock says). NULL when out of memory. */
struct log_throttle *log_throttle_new(int64_t period_us);
void log_throttle_free(struct log_throttle *throttle);

/* Whether the line for key may be written at now_us; if so, *held_back is the number of lines
 * of that key suppressed since the last one written. Keys are copied. Beyond a bound on the
 * number of keys, or out of memory, every line is allowed: a line too many is better than a
 * failure nobody hears of. */
bool log_throttle_allow(struct log_throttle *throttle, const char *key, int64_t now_us,
                        unsigned long *held_back);

#endif
