/* Creation and release of requests: only server.c and request.c use these. */
#ifndef ROLLCALL_REQUEST_INTERNAL_H
#define ROLLCALL_REQUEST_INTERNAL_H

#include "request.h"

struct request *request_new(struct server *server, struct evhttp_request *http);

#endif
