/* Unit tests of the checks on an answer's head (client/http_answer.c), alone and on the client's
 * real reading of an answer: tests/fuzz/fuzz_http_response.c (included) runs tls_http.c over a
 * local socket with fixed answers. Regressions found by that fuzzer: libcurl took "HTTP/1.1 999"
 * and "HTTP/1.1 000" for answers (refusals, to the client: `watch` stopped for good on a 000)
 * and believed the last of two differing Content-Length headers; a NUL byte in a header made
 * an answer taken or refused depending on how reads cut it. */
#include "../fuzz/fuzz_http_response.c"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

static void test_status_final(void **state)
{
	(void)state;
	assert_true(http_status_final(200));
	assert_true(http_status_final(429));
	assert_true(http_status_final(599));
	assert_false(http_status_final(0));
	assert_false(http_status_final(101));
	assert_false(http_status_final(199));
	assert_false(http_status_final(600));
	assert_false(http_status_final(999));
}

static void test_lengths_agree(void **state)
{
	(void)state;
	const char *same[] = {"2", " 2 ", "02", "2, 2"};
	const char *differ[] = {"2", "7"};
	const char *listed[] = {"2, 7"};
	const char *junk[] = {"2x"};
	const char *empty[] = {""};
	const char *huge[] = {"99999999999999999999999"};
	const char *long_zeros[] = {"0000000000000000000000002"};
	assert_true(http_lengths_agree(NULL, 0));
	assert_true(http_lengths_agree(same, 4));
	assert_false(http_lengths_agree(differ, 2));
	assert_false(http_lengths_agree(listed, 1));
	assert_false(http_lengths_agree(junk, 1));
	assert_false(http_lengths_agree(empty, 1));
	assert_false(http_lengths_agree(huge, 1));
	assert_true(http_lengths_agree(long_zeros, 1));
}

/* The answer, as the client takes it, whole and a byte at a time. */
static bool take_bytes(const char *text, size_t len, bool sink_mode, struct verdict *out)
{
	struct verdict pieces;
	bool ok = exchange((const uint8_t *)text, len, 0, sink_mode, out);
	assert_int_equal(exchange((const uint8_t *)text, len, 1, sink_mode, &pieces), ok);
	same(out, &pieces);
	free(pieces.bytes);
	return ok;
}

static bool take(const char *text, bool sink_mode, struct verdict *out)
{
	return take_bytes(text, strlen(text), sink_mode, out);
}

static void test_answers(void **state)
{
	(void)state;
	struct verdict v;
	assert_true(take("HTTP/1.1 200 OK\r\nContent-Type: Application/JSON; charset=utf-8\r\n"
	                 "Content-Length: 2\r\n\r\n{}",
	                 false, &v));
	assert_int_equal(v.status, 200);
	assert_string_equal(v.content_type, "application/json");
	assert_int_equal(v.len, 2);
	free(v.bytes);

	assert_true(take("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                 "3\r\nid:\r\n2\r\n 5\r\n0\r\nX-Trailer: t\r\n\r\n",
	                 true, &v));
	assert_int_equal(v.sink_len, 5);
	assert_memory_equal(v.bytes, "id: 5", 5);
	free(v.bytes);

	assert_true(take("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
	                 "Content-Length: 2\r\n\r\n{}",
	                 false, &v));
	assert_int_equal(v.status, 201);
	free(v.bytes);

	/* A refusal of a streaming request is buffered, not streamed. */
	assert_true(take("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n"
	                 "Content-Length: 2\r\n\r\n{}",
	                 true, &v));
	assert_int_equal(v.status, 503);
	assert_int_equal(v.sink_len, 0);
	free(v.bytes);

	assert_true(
	    take("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", false, &v));
	free(v.bytes);
}

static void test_answers_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.1 700 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}12345",
	    "HTTP/1.1 200 OK\r\nContent-Length: 2, 7\r\n\r\n{}12345",
	    "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct verdict v;
		assert_false(take(bad[i], false, &v));
		assert_int_equal(v.kind, NET_PROTOCOL);
		assert_int_equal(v.status, 0);
		free(v.bytes);
	}
}

/* Taken whole but refused a byte at a time by libcurl, before on_header refused it. */
static void test_nul_in_header_refused(void **state)
{
	(void)state;
	static const char text[] = "HTTP/1.0 200 OK\r\nContent-Type: text/csv\r\n\0\0\0"
	                           "Connection: close\n\r\nid,name\r\n1,A\r\n";
	struct verdict v;
	assert_false(take_bytes(text, sizeof(text) - 1, false, &v));
	assert_int_equal(v.kind, NET_PROTOCOL);
	free(v.bytes);
}

int main(void)
{
	assert_int_equal(LLVMFuzzerInitialize(NULL, NULL), 0);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_final),
	    cmocka_unit_test(test_lengths_agree),
	    cmocka_unit_test(test_answers),
	    cmocka_unit_test(test_answers_refused),
	    cmocka_unit_test(test_nul_in_header_refused),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
