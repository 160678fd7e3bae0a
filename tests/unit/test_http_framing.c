/* daemon/http_framing.c: requests HTTP/1.1 frames one way pass, byte by byte as in one piece;
 * each lenient form evhttp 2.1 would accept is named at its first bad byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_framing.h"

#define POST "POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"

/* The verdict on s fed whole, checked to be the same fed a byte at a time. */
static const char *verdict(const char *s, size_t len, uint64_t *at)
{
	struct http_framing whole, bytes;
	http_framing_init(&whole);
	http_framing_init(&bytes);
	bool ok = http_framing_feed(&whole, (const unsigned char *)s, len);
	for (size_t i = 0; i < len; i++)
		http_framing_feed(&bytes, (const unsigned char *)s + i, 1);
	assert_int_equal(ok, whole.error == NULL);
	assert_true(whole.error == bytes.error);
	assert_int_equal(whole.error_at, bytes.error_at);
	if (at)
		*at = whole.error_at;
	return whole.error;
}

#define V(lit) verdict(lit, sizeof lit - 1, NULL)

static void good_requests_pass(void **state)
{
	(void)state;
	assert_null(V("GET /healthz HTTP/1.1\r\nHost: a\r\nX-Tab: a\tb\r\n\r\n"));
	assert_null(V("\r\nGET / HTTP/1.1\r\n\r\n"));
	assert_null(V(POST "Content-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
	assert_null(V(POST "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"));
	assert_null(V(
	    POST "Transfer-Encoding:  Chunked \r\n\r\n1a\r\n"
	         "abcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n"));
	assert_null(V(POST "Content-Length: 0\r\n\r\n"));
	/* A body is the application's: anything goes inside it. */
	assert_null(V(POST "Content-Length: 4\r\n\r\n\n\0\r "));
}

static void lenient_forms_are_named(void **state)
{
	(void)state;
	uint64_t at = 0;
	static const char nul[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
	assert_string_equal(verdict(nul, sizeof nul - 1, &at), "the request holds a NUL byte");
	assert_int_equal(at, strlen("GET / HTTP/1.1\r\nX-A: a"));
	assert_non_null(strstr(V("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"), "obs-fold"));
	assert_non_null(strstr(V("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n"), "obs-fold"));
	assert_non_null(strstr(V("GET / HTTP/1.1\nHost: a\n\n"), "bare LF"));
	assert_non_null(strstr(V("GET / HTTP/1.1\r\nHost: a\n\r\n"), "bare LF"));
	assert_non_null(strstr(V("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), "CR"));
	assert_non_null(strstr(V("GET / HTTP/1.1\r\nX-A : b\r\n\r\n"), "colon"));
	assert_non_null(strstr(V("GET / HTTP/1.1\r\nX-A b\r\n\r\n"), "name"));
	assert_non_null(strstr(V("GET / HTTP/1.1\r\nX-A\r\n\r\n"), "colon"));
	assert_non_null(strstr(V("GET / HTTP/1.1\r\nX-A: a\x01\r\n\r\n"), "control"));
	assert_non_null(
	    strstr(V(POST "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"), "more than one"));
	assert_non_null(strstr(V(POST "Content-Length: +2\r\n\r\n{}"), "digits"));
	assert_non_null(
	    strstr(V(POST "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"), "both"));
	assert_non_null(strstr(V(POST "Transfer-Encoding: gzip, chunked\r\n\r\n"), "chunked"));
	assert_non_null(strstr(V(POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
	                              "\r\n"),
	                       "chunked"));
	static const char *sizes[] = {"zz", "-2", "+2", "0x2", "2;ext", "ffffffffffffffff", ""};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		char text[256];
		int n = snprintf(text, sizeof text,
		                 POST "Transfer-Encoding: chunked\r\n\r\n%s\r\n{}\r\n0\r\n\r\n",
		                 sizes[i]);
		const char *why = verdict(text, (size_t)n, NULL);
		assert_non_null(why);
		assert_non_null(strstr(why, "chunk size"));
	}
	assert_non_null(
	    strstr(V(POST "Transfer-Encoding: chunked\r\n\r\n2\r\n{}x\r\n0\r\n\r\n"), "CRLF"));
	/* A second request on the connection is checked as well. */
	assert_non_null(
	    strstr(V("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"), "obs-fold"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(good_requests_pass),
	    cmocka_unit_test(lenient_forms_are_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
