/* Unit tests of the client's Server-Sent Events parser (client/sse.c): events split across
 * chunks at any byte, CRLF/LF/CR line ends, heartbeat comments, ids kept for Last-Event-ID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sse.h"

struct seen {
	int count;
	char type[8][SSE_TYPE_SIZE];
	char id[8][SSE_ID_SIZE];
	char data[8][256];
	int stop_after; /* 0: never */
};

static bool collect(void *arg, const struct sse_event *event)
{
	struct seen *seen = arg;
	if (seen->count < 8) {
		snprintf(seen->type[seen->count], SSE_TYPE_SIZE, "%s", event->type);
		snprintf(seen->id[seen->count], SSE_ID_SIZE, "%s", event->id);
		snprintf(seen->data[seen->count], 256, "%.*s", (int)event->data_len, event->data);
	}
	seen->count++;
	return seen->stop_after == 0 || seen->count < seen->stop_after;
}

static void feed_all(struct sse_parser *parser, const char *text, struct seen *seen)
{
	assert_int_equal(sse_feed(parser, text, strlen(text), collect, seen), SSE_OK);
}

static void test_sse_alert_event_with_id(void **state)
{
	(void)state;
	struct sse_parser parser;
	struct seen seen = {0};
	sse_init(&parser);
	feed_all(&parser, ": hello\n\nid: 17\nevent: alert\ndata: {\"id\":3}\n\n", &seen);
	assert_int_equal(seen.count, 1);
	assert_string_equal(seen.type[0], "alert");
	assert_string_equal(seen.id[0], "17");
	assert_string_equal(seen.data[0], "{\"id\":3}");
	assert_string_equal(parser.last_id, "17");
	sse_free(&parser);
}

/* A watcher must reassemble an event however TCP and chunking cut it. */
static void test_sse_split_at_every_byte(void **state)
{
	(void)state;
	const char *stream =
	    "id: 5\r\nevent: alert\r\ndata: a\r\ndata: b\r\n\r\n: heartbeat\r\n\r\n"
	    "id: 6\revent: alert\rdata: c\r\r";
	struct sse_parser parser;
	struct seen seen = {0};
	sse_init(&parser);
	for (size_t i = 0; i < strlen(stream); i++)
		assert_int_equal(sse_feed(&parser, stream + i, 1, collect, &seen), SSE_OK);
	assert_int_equal(seen.count, 2);
	assert_string_equal(seen.data[0], "a\nb");
	assert_string_equal(seen.id[0], "5");
	assert_string_equal(seen.data[1], "c");
	assert_string_equal(seen.id[1], "6");
	sse_free(&parser);
}

static void test_sse_comments_and_empty_events_dispatch_nothing(void **state)
{
	(void)state;
	struct sse_parser parser;
	struct seen seen = {0};
	sse_init(&parser);
	feed_all(&parser, ": heartbeat\n\n: heartbeat\n\nevent: alert\n\nid: 9\n\n", &seen);
	assert_int_equal(seen.count, 0);
	/* An id without data still moves Last-Event-ID on. */
	assert_string_equal(parser.last_id, "9");
	sse_free(&parser);
}

static void test_sse_default_type_and_field_without_space(void **state)
{
	(void)state;
	struct sse_parser parser;
	struct seen seen = {0};
	sse_init(&parser);
	feed_all(&parser, "data:x\ndata\n\n", &seen);
	assert_int_equal(seen.count, 1);
	assert_string_equal(seen.type[0], "message");
	assert_string_equal(seen.data[0], "x\n");
	sse_free(&parser);
}

static void test_sse_reset_drops_half_event_keeps_id(void **state)
{
	(void)state;
	struct sse_parser parser;
	struct seen seen = {0};
	sse_init(&parser);
	feed_all(&parser, "id: 4\nevent: alert\ndata: one\n\nid: 5\nevent: alert\ndata: tw", &seen);
	assert_int_equal(seen.count, 1);
	sse_reset(&parser); /* the connection broke mid-event */
	assert_string_equal(parser.last_id, "5");
	feed_all(&parser, "id: 5\nevent: alert\ndata: two\n\n", &seen);
	assert_int_equal(seen.count, 2);
	assert_string_equal(seen.data[1], "two");
	sse_free(&parser);
}

static void test_sse_callback_can_stop(void **state)
{
	(void)state;
	struct sse_parser parser;
	struct seen seen = {.stop_after = 1};
	const char *text = "data: 1\n\ndata: 2\n\n";
	sse_init(&parser);
	assert_int_equal(sse_feed(&parser, text, strlen(text), collect, &seen), SSE_STOPPED);
	assert_int_equal(seen.count, 1);
	sse_free(&parser);
}

static void test_sse_too_long_id_is_ignored(void **state)
{
	(void)state;
	char text[SSE_ID_SIZE + 32];
	struct sse_parser parser;
	struct seen seen = {0};
	memset(text, '7', sizeof(text));
	memcpy(text, "id: ", 4);
	memcpy(text + sizeof(text) - 2, "\n", 2);
	sse_init(&parser);
	feed_all(&parser, "id: 3\n\n", &seen);
	feed_all(&parser, text, &seen);
	assert_string_equal(parser.last_id, "3");
	sse_free(&parser);
}

static void remember_comment(void *arg, struct sse_parser *parser, const char *text, size_t len)
{
	struct seen *seen = arg;
	(void)parser;
	snprintf(seen->data[7], 256, "%.*s", (int)len, text);
}

/* The daemon opens a stream with ": head N" so a new watcher knows where it starts. */
static void test_sse_comment_callback(void **state)
{
	(void)state;
	struct sse_parser parser;
	struct seen seen = {0};
	sse_init(&parser);
	parser.on_comment = remember_comment;
	feed_all(&parser, "retry: 2000\n: rollcall alerts\n\n: head 41\n\n", &seen);
	assert_int_equal(seen.count, 0);
	assert_string_equal(seen.data[7], "head 41");
	feed_all(&parser, ":hb\n", &seen);
	assert_string_equal(seen.data[7], "hb");
	sse_set_last_id(&parser, "41", 2);
	assert_string_equal(parser.last_id, "41");
	sse_free(&parser);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sse_alert_event_with_id),
	    cmocka_unit_test(test_sse_split_at_every_byte),
	    cmocka_unit_test(test_sse_comments_and_empty_events_dispatch_nothing),
	    cmocka_unit_test(test_sse_default_type_and_field_without_space),
	    cmocka_unit_test(test_sse_reset_drops_half_event_keeps_id),
	    cmocka_unit_test(test_sse_callback_can_stop),
	    cmocka_unit_test(test_sse_too_long_id_is_ignored),
	    cmocka_unit_test(test_sse_comment_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
