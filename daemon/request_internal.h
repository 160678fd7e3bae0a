/* Creation of requests, for whoever accepts them (server.c). request.c knows its creator only
 * through the request_owner it is given, so it never calls back into server.c: the listener
 * sits above the request, not beside it. */
#ifndef ROLLCALL_REQUEST_INTERNAL_H
#define ROLLCALL_REQUEST_INTERNAL_H

#include "request.h"

/* What a request tells its owner. Both are called from inside request.c's reply helpers, before
 * the reply is handed to evhttp (a request detached by a hang-up is gone once it is sent). */
struct request_owner {
	/* request_stream_start: the request has become a stream (SSE, CSV export). */
	void (*stream_started)(void *arg, const struct request *req);
	/* Exactly once per request, as it is freed, with the status it was answered with;
	 * req->streaming says whether it was a stream. */
	void (*finished)(void *arg, const struct request *req, int status);
};

/* A new request for an evhttp request that has just arrived, with its method filled in; NULL
 * when out of memory. owner (with arg) must outlive the request. */
struct request *request_new(struct evhttp_request *http, const struct request_owner *owner,
                            void *arg);

#endif
