/* libcurl's multi interface driven by the daemon's libevent loop: any number of transfers (HTTPS
 * webhooks now, SMTP next) run at once on the loop's thread without blocking it. Protocol-agnostic:
 * callers configure their own easy handles; this module only runs them and says when each ends. */
#ifndef ROLLCALL_CURL_LOOP_H
#define ROLLCALL_CURL_LOOP_H

#include <curl/curl.h>
#include <stdbool.h>

struct event_base;
struct curl_loop;

/* Once at start, before any other thread exists (curl_global_init), and once at exit. Refuses a
 * libcurl older than the options the daemon relies on or one not built on OpenSSL. */
bool curl_loop_global_init(char *error, size_t error_size) __attribute__((warn_unused_result));
void curl_loop_global_cleanup(void);

struct curl_loop *curl_loop_new(struct event_base *base);

/* The loop's event base, for callers' own timers beside their transfers. */
struct event_base *curl_loop_base(const struct curl_loop *loop);

/* Removes every transfer still running without calling its callback (their easy handles stay
 * the callers'), then frees the multi handle and every event. Callers cancel theirs first or
 * never touch them through the loop again. */
void curl_loop_free(struct curl_loop *loop);

/* Called once per transfer that ran to its end (success or failure), from the loop, never from
 * inside curl_loop_add: `easy` has already been removed from the multi handle, so the callback
 * may read its CURLINFO, clean it up and add new transfers. */
typedef void (*curl_loop_done_fn)(void *arg, CURL *easy, CURLcode result);

/* Starts `easy`, configured by the caller except for CURLOPT_PRIVATE and CURLOPT_QUICK_EXIT,
 * which the loop sets. The caller keeps owning the handle; the loop uses it until `done` runs or
 * curl_loop_cancel returns. Returns false (and never calls done) when out of memory or curl
 * refuses the handle. */
bool curl_loop_add(struct curl_loop *loop, CURL *easy, curl_loop_done_fn done, void *arg)
    __attribute__((warn_unused_result));

/* Stops a transfer that has not ended yet; its callback is never called. Never blocks: with
 * CURLOPT_QUICK_EXIT a name lookup in flight is left to finish in its own thread, which then
 * frees what it holds, instead of being waited for. */
void curl_loop_cancel(struct curl_loop *loop, CURL *easy);

#endif
