/* Unit tests of the client's HTTP parsing (client/http_parse.c): the server URL, percent-encoding,
 * the response head, and the chunked decoder fed byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_parse.h"

static void test_url_parse_forms(void **state)
{
	(void)state;
	struct url url;
	char err[200];
	assert_true(url_parse("https://rollcall.example.dk", &url, err, sizeof(err)));
	assert_string_equal(url.host, "rollcall.example.dk");
	assert_string_equal(url.port, "443");
	assert_string_equal(url.prefix, "");
	assert_false(url.host_is_ip);

	assert_true(url_parse("https://127.0.0.1:8443/api/", &url, err, sizeof(err)));
	assert_string_equal(url.host, "127.0.0.1");
	assert_string_equal(url.port, "8443");
	assert_string_equal(url.prefix, "/api");
	assert_true(url.host_is_ip);

	assert_true(url_parse("HTTPS://[::1]:9443", &url, err, sizeof(err)));
	assert_string_equal(url.host, "::1");
	assert_true(url.host_is_ipv6);
	assert_string_equal(url.port, "9443");
}

static void test_url_parse_refusals(void **state)
{
	(void)state;
	struct url url;
	char err[200];
	assert_false(url_parse("http://example.dk", &url, err, sizeof(err)));
	assert_false(url_parse("https://", &url, err, sizeof(err)));
	assert_false(url_parse("https://host:0", &url, err, sizeof(err)));
	assert_false(url_parse("https://host:70000", &url, err, sizeof(err)));
	assert_false(url_parse("https://user@host", &url, err, sizeof(err)));
	assert_false(url_parse("https://host/x?y=1", &url, err, sizeof(err)));
	assert_false(url_parse("https://[::1", &url, err, sizeof(err)));
	assert_false(url_parse(NULL, &url, err, sizeof(err)));
}

static void test_url_escape(void **state)
{
	(void)state;
	char out[64];
	assert_true(url_escape("toender", out, sizeof(out)));
	assert_string_equal(out, "toender");
	assert_true(url_escape("a b/c&d=ø", out, sizeof(out)));
	assert_string_equal(out, "a%20b%2Fc%26d%3D%C3%B8");
	assert_false(url_escape("0123456789", out, 10));
}

static void test_head_parse(void **state)
{
	(void)state;
	const char *head = "HTTP/1.1 201 Created\r\n"
	                   "Content-Type: application/json; charset=utf-8\r\n"
	                   "content-length: 17\r\n"
	                   "Date: Fri, 20 Nov 2026 23:05:00 GMT\r\n"
	                   "\r\n{\"id\":1}";
	size_t len = http_head_length(head, strlen(head));
	assert_int_equal(len, strlen(head) - strlen("{\"id\":1}"));
	assert_int_equal(http_head_length(head, 20), 0);

	struct http_head parsed;
	char err[200];
	assert_true(http_head_parse(head, len, &parsed, err, sizeof(err)));
	assert_int_equal(parsed.status, 201);
	assert_int_equal(parsed.content_length, 17);
	assert_false(parsed.chunked);
	assert_string_equal(parsed.content_type, "application/json");
	assert_int_equal(parsed.date, 1795215900); /* 2026-11-20T23:05:00Z */
}

static void test_head_parse_chunked_wins_and_refusals(void **state)
{
	(void)state;
	struct http_head parsed;
	char err[200];
	const char *both =
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_true(http_head_parse(both, strlen(both), &parsed, err, sizeof(err)));
	assert_true(parsed.chunked);
	assert_int_equal(parsed.content_length, -1);

	const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
	assert_false(http_head_parse(two, strlen(two), &parsed, err, sizeof(err)));
	const char *gzip = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
	assert_false(http_head_parse(gzip, strlen(gzip), &parsed, err, sizeof(err)));
	const char *not_http = "SSH-2.0-OpenSSH\r\n\r\n";
	assert_false(http_head_parse(not_http, strlen(not_http), &parsed, err, sizeof(err)));
	const char *folded = "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n";
	assert_false(http_head_parse(folded, strlen(folded), &parsed, err, sizeof(err)));
}

struct collected {
	char data[256];
	size_t len;
};

static bool collect(void *arg, const char *data, size_t len)
{
	struct collected *c = arg;
	assert_true(c->len + len < sizeof(c->data));
	memcpy(c->data + c->len, data, len);
	c->len += len;
	c->data[c->len] = '\0';
	return true;
}

static void test_chunked_byte_by_byte(void **state)
{
	(void)state;
	const char *body =
	    "5;ext=1\r\nhello\r\n1A\r\n, here are 26 bytes of it!\r\n0\r\nTrailer: x\r\n\r\nNEXT";
	struct chunked_decoder decoder;
	struct collected c = {0};
	bool stopped;
	chunked_init(&decoder);
	size_t i = 0;
	while (decoder.state != CHUNKED_DONE && i < strlen(body)) {
		assert_int_equal(chunked_feed(&decoder, body + i, 1, collect, &c, &stopped), 1);
		assert_int_not_equal(decoder.state, CHUNKED_ERROR);
		i++;
	}
	assert_int_equal(decoder.state, CHUNKED_DONE);
	assert_string_equal(c.data, "hello, here are 26 bytes of it!");
	assert_string_equal(body + i, "NEXT"); /* nothing after the message is consumed */
}

static void test_chunked_whole_and_errors(void **state)
{
	(void)state;
	struct chunked_decoder decoder;
	struct collected c = {0};
	bool stopped;
	const char *body = "3\r\nabc\r\n0\r\n\r\nextra";
	chunked_init(&decoder);
	assert_int_equal(chunked_feed(&decoder, body, strlen(body), collect, &c, &stopped),
	                 strlen(body) - 5);
	assert_int_equal(decoder.state, CHUNKED_DONE);
	assert_string_equal(c.data, "abc");

	const char *bad_size = "zz\r\n";
	chunked_init(&decoder);
	chunked_feed(&decoder, bad_size, strlen(bad_size), collect, &c, &stopped);
	assert_int_equal(decoder.state, CHUNKED_ERROR);

	const char *missing_crlf = "3\r\nabcX\r\n";
	chunked_init(&decoder);
	chunked_feed(&decoder, missing_crlf, strlen(missing_crlf), collect, &c, &stopped);
	assert_int_equal(decoder.state, CHUNKED_ERROR);

	const char *bare_lf = "3\r\nabcd\n";
	chunked_init(&decoder);
	chunked_feed(&decoder, bare_lf, strlen(bare_lf), collect, &c, &stopped);
	assert_int_equal(decoder.state, CHUNKED_ERROR);

	const char *huge = "ffffffffffffffffff\r\n";
	chunked_init(&decoder);
	chunked_feed(&decoder, huge, strlen(huge), collect, &c, &stopped);
	assert_int_equal(decoder.state, CHUNKED_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_parse_forms),
	    cmocka_unit_test(test_url_parse_refusals),
	    cmocka_unit_test(test_url_escape),
	    cmocka_unit_test(test_head_parse),
	    cmocka_unit_test(test_head_parse_chunked_wins_and_refusals),
	    cmocka_unit_test(test_chunked_byte_by_byte),
	    cmocka_unit_test(test_chunked_whole_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
