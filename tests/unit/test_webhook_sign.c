/* Unit tests for webhook_sign.c: Standard Webhooks signatures against vectors computed
 * independently (the published Standard Webhooks example and Python's hmac module), strict secret
 * decoding, body assembly and the retry backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "webhook_sign.h"

/* The example of the Standard Webhooks specification (also in the svix libraries' tests). */
static void test_sign_standard_webhooks_vector(void **state)
{
	unsigned char key[WEBHOOK_KEY_MAX];
	size_t key_len = 0;
	char signature[WEBHOOK_SIGNATURE_SIZE];
	const char *body = "{\"test\": 2432232314}";

	assert_true(webhook_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &key_len));
	assert_int_equal(key_len, 24);
	assert_true(webhook_sign(key, key_len, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
	                         strlen(body), signature));
	assert_string_equal(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

/* A body as webhook_body assembles it, with UTF-8; expected values from Python:
 * hmac.new(bytes(range(32)), b"evt_0123.1795734000." + body, hashlib.sha256), base64. */
static void test_sign_assembled_body_matches_python(void **state)
{
	unsigned char key[WEBHOOK_KEY_MAX];
	size_t key_len = 0;
	char signature[WEBHOOK_SIGNATURE_SIZE];
	char *body = webhook_body("absence.reported", "evt_0123",
	                          "{\"resident\": {\"given_name\": \"S\xc3\xb8ren\"}, "
	                          "\"since\": \"2026-11-20T14:00:00+00:00\"}");

	assert_non_null(body);
	assert_string_equal(body, "{\"type\":\"absence.reported\",\"event_id\":\"evt_0123\","
	                          "\"resident\":{\"given_name\":\"S\xc3\xb8ren\"},"
	                          "\"since\":\"2026-11-20T14:00:00+00:00\"}");
	assert_true(webhook_secret_decode("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", key,
	                                  &key_len));
	assert_int_equal(key_len, 32);
	for (size_t i = 0; i < key_len; i++)
		assert_int_equal(key[i], i);
	assert_true(
	    webhook_sign(key, key_len, "evt_0123", 1795734000, body, strlen(body), signature));
	assert_string_equal(signature, "v1,VTAyEJOBkxaYu3qsjwXiv1VouFvaieRKnecYHhxPZVQ=");

	/* Another key gives another signature (Python: key b"x" * 32). */
	unsigned char other[32];
	memset(other, 'x', sizeof(other));
	assert_true(webhook_sign(other, sizeof(other), "evt_0123", 1795734000, body, strlen(body),
	                         signature));
	assert_string_equal(signature, "v1,47tNxyDWS7yXwh9fPz4IfMZLqOqkM7Na1KPycXX/YzM=");
	free(body);
}

static void test_secret_refuses_other_forms(void **state)
{
	unsigned char key[WEBHOOK_KEY_MAX];
	size_t key_len = 0;
	const char *refused[] = {
	    NULL,
	    "",
	    "whsec_",
	    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",       /* no prefix */
	    "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* prefix is case-sensitive */
	    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  /* not whole 4-character groups */
	    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w", /* URL-safe alphabet */
	    "whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", /* whitespace */
	    "whsec_AAE=AwQF",                         /* padding in the middle */
	    "whsec_AAA=A===",
	    "whsec_A=AA",
	    "whsec_====",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_false(webhook_secret_decode(refused[i], key, &key_len));

	assert_true(webhook_secret_decode("whsec_AAE=", key, &key_len));
	assert_int_equal(key_len, 2);
	assert_true(webhook_secret_decode("whsec_AA==", key, &key_len));
	assert_int_equal(key_len, 1);
}

static void test_secret_refuses_oversized_key(void **state)
{
	unsigned char key[WEBHOOK_KEY_MAX];
	size_t key_len = 0;
	/* 344 base64 characters decode to 258 bytes, more than WEBHOOK_KEY_MAX. */
	char secret[6 + 344 + 1];
	memcpy(secret, "whsec_", 6);
	memset(secret + 6, 'A', 344);
	secret[6 + 344] = '\0';
	assert_false(webhook_secret_decode(secret, key, &key_len));
}

static void test_body_puts_type_and_event_id_first_and_ignores_payload_copies(void **state)
{
	char *body = webhook_body("incident.in9", "evt_9",
	                          "{\"type\": \"forged\", \"event_id\": \"evt_forged\", \"b\": 1, "
	                          "\"a\": [true, null]}");
	assert_non_null(body);
	assert_string_equal(body, "{\"type\":\"incident.in9\",\"event_id\":\"evt_9\",\"b\":1,"
	                          "\"a\":[true,null]}");
	free(body);

	assert_null(webhook_body("absence.reported", "evt_1", "[1, 2]"));
	assert_null(webhook_body("absence.reported", "evt_1", "{\"a\": "));
	assert_null(webhook_body("absence.reported", "evt_1", "{\"a\": 1, \"a\": 2}"));
	assert_null(webhook_body(NULL, "evt_1", "{}"));
}

static void test_backoff_doubles_with_jitter_and_is_capped(void **state)
{
	const int64_t base = 5000000, cap = 600000000;

	/* random 0 gives the lower bound (half the nominal delay), UINT32_MAX almost the whole. */
	assert_int_equal(webhook_backoff_us(1, base, cap, 0), 2500000);
	assert_in_range(webhook_backoff_us(1, base, cap, UINT32_MAX), 4999999, 5000000);
	assert_int_equal(webhook_backoff_us(2, base, cap, 0), 5000000);
	assert_int_equal(webhook_backoff_us(3, base, cap, 0), 10000000);
	for (int attempts = 1; attempts < 200; attempts++) {
		int64_t low = webhook_backoff_us(attempts, base, cap, 0);
		int64_t high = webhook_backoff_us(attempts, base, cap, UINT32_MAX);
		assert_true(low > 0 && low <= high && high <= cap);
		assert_true(high >= cap / 2 || attempts < 8);
	}
	/* Capped: 5 s * 2^7 = 640 s is over the 600 s cap. */
	assert_int_equal(webhook_backoff_us(8, base, cap, 0), 300000000);
	assert_int_equal(webhook_backoff_us(1000000, base, cap, 0), 300000000);
	/* Huge caps do not overflow. */
	assert_true(webhook_backoff_us(100, base, INT64_MAX / 2, UINT32_MAX) > 0);
	assert_true(webhook_backoff_us(0, base, cap, 0) == 2500000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_standard_webhooks_vector),
	    cmocka_unit_test(test_sign_assembled_body_matches_python),
	    cmocka_unit_test(test_secret_refuses_other_forms),
	    cmocka_unit_test(test_secret_refuses_oversized_key),
	    cmocka_unit_test(test_body_puts_type_and_event_id_first_and_ignores_payload_copies),
	    cmocka_unit_test(test_backoff_doubles_with_jitter_and_is_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
