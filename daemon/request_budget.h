/* The request budget: a token bucket per client certificate CN (issue 12), so that one terminal
 * sending as fast as it can cannot starve the others of the daemon and its database pool. Pure
 * arithmetic on instants the caller passes, no I/O, so unit tests drive it directly. */
#ifndef ROLLCALL_REQUEST_BUDGET_H
#define ROLLCALL_REQUEST_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct request_budget;

/* rate requests per second on average, up to burst at once; rate 0 turns the budget off (every
 * request is admitted). Memory is fixed at creation: a table of buckets, the least recently
 * used of a set given up when a new CN needs room. NULL when out of memory. */
struct request_budget *request_budget_new(int rate, int burst);
void request_budget_free(struct request_budget *budget);

/* Takes one request from cn's bucket at monotonic instant now_us. True when admitted; else
 * *retry_after_s says in how many whole seconds (at least 1) a request will be admitted. */
bool request_budget_take(struct request_budget *budget, const char *cn, int64_t now_us,
                         int *retry_after_s) __attribute__((warn_unused_result));

/* Buckets in use and buckets given up to make room, for tests and logs. */
int request_budget_used(const struct request_budget *budget);
unsigned long long request_budget_evicted(const struct request_budget *budget);

#endif
