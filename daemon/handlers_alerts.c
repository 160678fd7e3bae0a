/* GET /v1/centres/{id}/alerts/stream: on-call staff and managers watch a centre's alerts as
 * Server-Sent Events. api() authorises the account for the centre (op alert_stream_open); the
 * alert hub then replays what the client missed (Last-Event-ID) and streams the rest live. */
#include <stdint.h>
#include <string.h>

#include "alert_hub.h"
#include "daemon.h"
#include "handlers.h"
#include "request.h"

#define LAST_EVENT_ID_MAX_DIGITS 18

/* The Last-Event-ID header: -1 when absent or empty, -2 when it is not an event id. */
static int64_t last_event_id(const struct request *req)
{
	const char *text = request_header(req, "Last-Event-ID");
	if (!text || !*text)
		return -1;
	size_t len = strlen(text);
	if (len > LAST_EVENT_ID_MAX_DIGITS)
		return -2;
	int64_t id = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -2;
		id = id * 10 + (text[i] - '0');
	}
	return id;
}

static void stream_authorised(struct request *req, int status, json_t *body)
{
	if (status == 503) {
		/* The database is away: the stream cannot be authorised now, but on-call staff must
		 * hear that alerting is impaired (SPEC section 8, v2). It gets the status and
		 * heartbeats, nothing of the centre's data, and is authorised when the database is
		 * back (alert_hub.c). */
		const char *centre = json_string_value(json_object_get(req->path, "id"));
		int64_t last = last_event_id(req);
		if (!centre || !alert_hub_attach_unchecked(daemon_state->alerts, centre, req,
		                                           last < 0 ? -1 : last))
			request_answer_unavailable(req, 503);
		return;
	}
	if (request_reply_unless_ok(req, status, body))
		return;
	const char *centre = json_string_value(json_object_get(body, "centre"));
	if (!centre) {
		request_reply_error(req, 500, "internal", "alert_stream_open answered no centre",
		                    NULL);
		return;
	}
	/* Read again rather than carried from the first look: checked there already. */
	int64_t last = last_event_id(req);
	if (!alert_hub_attach(daemon_state->alerts, centre, req, last < 0 ? -1 : last))
		request_reply_error(req, 503, "overloaded", "out of memory", NULL);
}

void handle_alert_stream(struct request *req)
{
	if (last_event_id(req) == -2) {
		request_reply_error(req, 400, "bad_field",
		                    "Last-Event-ID must be the id of an event this stream sent",
		                    "Last-Event-ID");
		return;
	}
	request_api_call(req, "alert_stream_open", NULL, stream_authorised);
}
