/* Unit tests of daemon/mail_message.c: the on-call e-mail's headers (Message-ID from the event
 * id, a non-ASCII subject as RFC 2047 words), CRLF line ends and no control characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail_message.h"

static struct mail_parts parts(void)
{
	return (struct mail_parts){
	    .from = "rollcall@centre.example",
	    .to = "oncall@centre.example",
	    .subject = "[URGENT] resident absent at Tonder, case T-1",
	    .text = "line one\nline two",
	    .event_id = "evt_0123456789abcdef0123456789abcdef",
	    .type = "alert.raised",
	    .date_s = 1795734000, /* 2026-11-27 */
	};
}

static void test_headers_and_body(void **state)
{
	(void)state;
	struct mail_parts p = parts();
	char *m = mail_message_build(&p);
	assert_non_null(m);
	assert_non_null(
	    strstr(m, "\r\nMessage-ID: <evt_0123456789abcdef0123456789abcdef@rollcall>\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: [URGENT] resident absent at Tonder, case T-1\r\n"));
	assert_non_null(strstr(m, "\r\nFrom: rollcall <rollcall@centre.example>\r\n"));
	assert_non_null(strstr(m, "\r\nTo: <oncall@centre.example>\r\n"));
	assert_non_null(strstr(m, "\r\nX-Rollcall-Event: alert.raised\r\n"));
	assert_true(strncmp(m, "Date: ", 6) == 0);
	const char *body = strstr(m, "\r\n\r\n");
	assert_non_null(body);
	assert_string_equal(body + 4, "line one\r\nline two\r\n");
	free(m);
}

static void test_utf8_subject_is_encoded_and_controls_dropped(void **state)
{
	(void)state;
	struct mail_parts p = parts();
	p.subject = "T\xc3\xb8nder\r\nBcc: x@y";
	p.text = "a\x07"
	         "b\n"; /* a bell between a and b */
	char *m = mail_message_build(&p);
	assert_non_null(m);
	/* "TønderBcc: x@y" in one encoded word: no header can be injected. */
	assert_non_null(strstr(m, "\r\nSubject: =?UTF-8?B?VMO4bmRlckJjYzogeEB5?=\r\n"));
	assert_null(strstr(m, "\r\nBcc:"));
	const char *body = strstr(m, "\r\n\r\n");
	assert_string_equal(body + 4, "ab\r\n");
	free(m);
}

static void test_bad_addresses_refused(void **state)
{
	(void)state;
	struct mail_parts p = parts();
	p.to = "a@b\r\nBcc: c@d";
	assert_null(mail_message_build(&p));
	p = parts();
	p.event_id = NULL;
	assert_null(mail_message_build(&p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_headers_and_body),
	    cmocka_unit_test(test_utf8_subject_is_encoded_and_controls_dropped),
	    cmocka_unit_test(test_bad_addresses_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
