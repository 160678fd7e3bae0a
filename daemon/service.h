/* rollcalld under systemd (Type=notify): readiness, reload and stop notifications, the watchdog
 * ping from the event loop and a STATUS= line. Without $NOTIFY_SOCKET every call is a no-op. */
#ifndef ROLLCALL_SERVICE_H
#define ROLLCALL_SERVICE_H

#include <stdbool.h>

struct daemon;

/* Arms the watchdog timer (half of $WATCHDOG_USEC) and the status refresh on d->base. False
 * only when the timer cannot be created. */
bool service_start(struct daemon *d) __attribute__((warn_unused_result));
void service_stop(void); /* frees the timers */

void service_ready(void);     /* READY=1: listening, database reachable */
void service_reloading(void); /* RELOADING=1 with MONOTONIC_USEC, before SIGHUP's work */
void service_reloaded(void);  /* READY=1 again once the reload is done (or refused) */
void service_stopping(void);  /* STOPPING=1 on SIGTERM */

#endif
