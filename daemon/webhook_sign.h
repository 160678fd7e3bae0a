/* Pure helpers for webhooks to the authorities (SPEC section 10): the Standard Webhooks secret
 * and signature, the body sent for an outbox row, and the retry backoff. No I/O and no clock, so
 * the unit tests call them directly (tests/unit/test_webhook_sign.c). */
#ifndef ROLLCALL_WEBHOOK_SIGN_H
#define ROLLCALL_WEBHOOK_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest HMAC key accepted from a "whsec_" secret (Standard Webhooks uses 24 to 64 bytes). */
#define WEBHOOK_KEY_MAX 256
/* "v1," + base64 of a 32-byte HMAC-SHA256 (44 characters) + NUL, with room to spare. */
#define WEBHOOK_SIGNATURE_SIZE 64

/* Decodes "whsec_<base64>" into key bytes. Refuses any other form (no prefix, characters outside
 * the base64 alphabet, bad padding, an empty or oversized key): the daemon never signs with a
 * secret an authority's Standard Webhooks library would read differently. */
bool webhook_secret_decode(const char *secret, unsigned char key[WEBHOOK_KEY_MAX], size_t *key_len)
    __attribute__((warn_unused_result));

/* Writes "v1,<base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))>" to out. */
bool webhook_sign(const unsigned char *key, size_t key_len, const char *id, int64_t timestamp,
                  const char *body, size_t body_len, char out[WEBHOOK_SIGNATURE_SIZE])
    __attribute__((warn_unused_result));

/* The document POSTed for one delivery: {"type":type,"event_id":event_id, ...payload members}.
 * payload_json is the outbox row's payload (a JSON object, as PostgreSQL's jsonb prints it, so
 * its member order is fixed); "type" and "event_id" inside it are ignored. The result is compact
 * JSON and the same bytes for the same inputs, so every retry sends an identical body. Returns a
 * malloc'd string the caller frees, or NULL if payload_json is not a JSON object. */
char *webhook_body(const char *type, const char *event_id, const char *payload_json)
    __attribute__((warn_unused_result));

/* Delay before the next attempt after `attempts` failed ones (1 after the first failure):
 * base * 2^(attempts-1), capped at cap, then "equal jitter": a random point in the upper half of
 * that delay, so instances that failed together do not retry together and no retry comes sooner
 * than half the nominal delay. `random` is any uniformly distributed 32-bit value. */
int64_t webhook_backoff_us(int attempts, int64_t base_us, int64_t cap_us, uint32_t random);

#endif
