/* Standard Webhooks signing, webhook body assembly and retry backoff for the outbox sender.
 * Pure functions: no I/O, no clock (see webhook_sign.h). */
#include "webhook_sign.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_PREFIX "whsec_"

static bool is_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

bool webhook_secret_decode(const char *secret, unsigned char key[WEBHOOK_KEY_MAX], size_t *key_len)
{
	size_t prefix_len = strlen(SECRET_PREFIX);
	if (secret == NULL || strncmp(secret, SECRET_PREFIX, prefix_len) != 0)
		return false;
	const char *encoded = secret + prefix_len;
	size_t len = strlen(encoded);
	/* Strict form: whole 4-character groups, alphabet characters, then at most two '='.
	 * EVP_DecodeBlock alone would skip surrounding whitespace and accept odd lengths. */
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > WEBHOOK_KEY_MAX)
		return false;
	size_t padding = 0;
	if (encoded[len - 1] == '=')
		padding++;
	if (encoded[len - 2] == '=')
		padding++;
	for (size_t i = 0; i < len - padding; i++) {
		if (!is_base64_char(encoded[i]))
			return false;
	}
	if (padding == 1 && encoded[len - 2] == '=')
		return false;
	int decoded = EVP_DecodeBlock(key, (const unsigned char *)encoded, (int)len);
	if (decoded < 0 || (size_t)decoded < padding)
		return false;
	/* EVP_DecodeBlock counts the bytes the '=' padding stands for; they are not key bytes. */
	*key_len = (size_t)decoded - padding;
	return *key_len > 0;
}

bool webhook_sign(const unsigned char *key, size_t key_len, const char *id, int64_t timestamp,
                  const char *body, size_t body_len, char out[WEBHOOK_SIGNATURE_SIZE])
{
	bool ok = false;
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	unsigned char digest[EVP_MAX_MD_SIZE];
	size_t digest_len = 0;
	char stamp[32];
	int stamp_len = snprintf(stamp, sizeof(stamp), ".%" PRId64 ".", timestamp);

	if (key == NULL || key_len == 0 || id == NULL || (body == NULL && body_len > 0) ||
	    stamp_len <= 0 || (size_t)stamp_len >= sizeof(stamp))
		return false;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		goto failed;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL)
		goto failed;
	char digest_name[] = "SHA256";
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
	    OSSL_PARAM_construct_end(),
	};
	/* The signed message is id "." timestamp "." body, fed in pieces so the body is not copied.
	 */
	if (EVP_MAC_init(ctx, key, key_len, params) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)stamp, (size_t)stamp_len) != 1 ||
	    (body_len > 0 && EVP_MAC_update(ctx, (const unsigned char *)body, body_len) != 1) ||
	    EVP_MAC_final(ctx, digest, &digest_len, sizeof(digest)) != 1)
		goto failed;
	/* 3 bytes of "v1," + 4 characters per 3 digest bytes + NUL must fit. */
	if (3 + (digest_len + 2) / 3 * 4 + 1 > WEBHOOK_SIGNATURE_SIZE)
		goto failed;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, digest, (int)digest_len);
	ok = true;
failed:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok;
}

char *webhook_body(const char *type, const char *event_id, const char *payload_json)
{
	char *text = NULL;
	json_t *payload = NULL;
	json_t *body = NULL;
	json_error_t error;

	if (type == NULL || event_id == NULL || payload_json == NULL)
		return NULL;
	payload = json_loads(payload_json, JSON_REJECT_DUPLICATES, &error);
	if (payload == NULL || !json_is_object(payload))
		goto failed;
	body = json_object();
	if (body == NULL || json_object_set_new(body, "type", json_string(type)) != 0 ||
	    json_object_set_new(body, "event_id", json_string(event_id)) != 0)
		goto failed;
	/* jansson keeps insertion order, so the payload's members follow in the order PostgreSQL
	 * printed them: the same text on every retry and from every instance. */
	const char *name;
	json_t *value;
	json_object_foreach(payload, name, value)
	{
		if (strcmp(name, "type") == 0 || strcmp(name, "event_id") == 0)
			continue;
		if (json_object_set(body, name, value) != 0)
			goto failed;
	}
	text = json_dumps(body, JSON_COMPACT);
failed:
	json_decref(body);
	json_decref(payload);
	return text;
}

int64_t webhook_backoff_us(int attempts, int64_t base_us, int64_t cap_us, uint32_t random)
{
	if (base_us <= 0)
		base_us = 1;
	if (cap_us < base_us)
		cap_us = base_us;
	int64_t delay = base_us;
	/* Double without overflowing: stop as soon as the cap is reached. */
	for (int i = 1; i < attempts && delay < cap_us; i++)
		delay = delay > cap_us / 2 ? cap_us : delay * 2;
	if (delay > cap_us)
		delay = cap_us;
	uint64_t half = (uint64_t)(delay / 2);
	/* half * random / 2^32, split in high and low 32 bits of half so no product overflows. */
	uint64_t jitter = (half >> 32) * random + (((half & 0xffffffffu) * random) >> 32);
	return delay - (int64_t)half + (int64_t)jitter;
}
