/* libFuzzer harness: the client's Server-Sent Events parser (client/sse.c) on any stream, fed
 * in two pieces split where the first byte says, so that lines and CR LF pairs cut across
 * reads are exercised. */
#include <stdint.h>
#include <stdlib.h>

#include "sse.h"

static bool on_event(void *arg, const struct sse_event *event)
{
	size_t *events = arg;
	(*events)++;
	return event->data_len < 100000; /* stop once, sometimes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t split = data[0] % size;
	const char *stream = (const char *)data + 1;
	size_t len = size - 1, events = 0;
	if (split > len)
		split = len;
	struct sse_parser parser;
	sse_init(&parser);
	if (sse_feed(&parser, stream, split, on_event, &events) == SSE_OK)
		(void)sse_feed(&parser, stream + split, len - split, on_event, &events);
	sse_reset(&parser);
	sse_set_last_id(&parser, stream, len);
	sse_free(&parser);
	return 0;
}
