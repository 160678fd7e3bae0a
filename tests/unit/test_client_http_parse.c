/* Unit tests of the client's URL pieces (client/http_parse.c): the server URL and
 * percent-encoding. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_parse_forms),
	    cmocka_unit_test(test_url_parse_refusals),
	    cmocka_unit_test(test_url_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
