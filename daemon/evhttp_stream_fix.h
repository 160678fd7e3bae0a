/* A workaround for libevent 2.1's evhttp losing the end of a chunked reply (see the top of
 * evhttp_stream_fix.c for the race, its reproducer and the version it is tied to). */
#ifndef ROLLCALL_EVHTTP_STREAM_FIX_H
#define ROLLCALL_EVHTTP_STREAM_FIX_H

struct evhttp_connection;
struct evhttp_request;

/* Logs an error when the libevent the daemon runs with is not the series this workaround was
 * written for (the build already refuses other headers). Called once, at start. */
void evhttp_stream_fix_check_runtime(void);

/* evhttp_send_reply_end(http), guarded against the race. evcon is the request's connection, or
 * NULL when the client has gone away (the call then just frees the detached request). */
void evhttp_stream_fix_send_reply_end(struct evhttp_request *http, struct evhttp_connection *evcon);

#endif
