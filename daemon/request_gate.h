/* The request gate: at most a few api() calls of one client certificate (CN) in the database
 * pool's queue at once, the rest waiting here in arrival order (issue 12). The pool's queue is
 * first come first served, so without it one terminal with 300 requests open would put every
 * other terminal's request behind all of them. No I/O: unit tests drive it directly. */
#ifndef ROLLCALL_REQUEST_GATE_H
#define ROLLCALL_REQUEST_GATE_H

#include <stdbool.h>
#include <stdint.h>

struct request_gate;

/* per_cn: calls of one CN let through at once (at least 1) while it is the only CN present;
 * while another CN has a call through, or started one within the last second, half of that
 * (at least 1), so that one certificate's heavy calls cannot take every core the database
 * has from the others. NULL when out of memory. */
struct request_gate *request_gate_new(int per_cn);
/* For unit tests: the monotonic clock (microseconds) the presence window is measured on;
 * NULL restores CLOCK_MONOTONIC. */
void request_gate_set_clock(struct request_gate *gate, int64_t (*now_us)(void));
/* Frees the gate; calls still waiting are dropped without being started (the loop has
 * stopped: their requests are freed with the server). */
void request_gate_free(struct request_gate *gate);

/* Calls start(arg) at once when cn has no calls waiting and fewer than its limit through the
 * gate, else (in arrival order) when enough of them have left. Each started call must be followed
 * by exactly one request_gate_leave with the same cn (start may call it itself, e.g. when it fails
 * at once). False only when out of memory: start will never be called. */
bool request_gate_enter(struct request_gate *gate, const char *cn, void (*start)(void *arg),
                        void *arg) __attribute__((warn_unused_result));
void request_gate_leave(struct request_gate *gate, const char *cn);

/* Calls of one CN that may wait at the gate: beyond them, request.c answers 429 at once
 * rather than hold the request (and its connection) until request_timeout. A terminal has one
 * call open at a time; 64 covers a certificate standing in for a few dozen. */
#define REQUEST_GATE_WAITING_MAX 64
/* True when cn already has REQUEST_GATE_WAITING_MAX calls waiting. */
bool request_gate_full(struct request_gate *gate, const char *cn);

/* Calls waiting (not yet started), over every CN. */
int request_gate_waiting(const struct request_gate *gate);

#endif
