/* One on-call e-mail as an SMTP transaction through curl_loop, beside webhook_transfer.c on the
 * same multi handle: the relay of smtp_relay, STARTTLS when it offers it (verified against
 * smtp_ca or the system store), and the outcome as the relay's reply or, when there is none,
 * what went wrong in plain words (stored as the delivery's last_error). Knows nothing of the
 * outbox. */
#ifndef ROLLCALL_MAIL_TRANSFER_H
#define ROLLCALL_MAIL_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>

#include "webhook_transfer.h" /* struct webhook_outcome, webhook_done_fn */

struct curl_loop;
struct mail_transfer;

/* What to send. Every string is copied or used before mail_transfer_start returns. */
struct mail_post {
	const char *relay;    /* smtp_relay: "host:port" */
	const char *from;     /* smtp_from */
	const char *ca_file;  /* smtp_ca, or NULL for the system store */
	const char *to;       /* the channel's address */
	const char *event_id; /* Message-ID <evt_...@rollcall>: the same on every retry */
	const char *type;     /* "alert.raised", ... */
	const char *payload;  /* the delivery's payload: {"subject","text"} (oncall.sql) */
	int timeout_s;        /* the whole transaction */
};

/* Builds the message and starts the transaction. Returns NULL, with the reason in error and
 * without calling done, when it cannot be made (no relay configured, a malformed payload, out of
 * memory); those are failed attempts like any other. The transfer frees itself once done has
 * run (outcome->status is the relay's last reply code, or 0); until then the caller may cancel
 * it, and must not use the pointer after either. */
struct mail_transfer *mail_transfer_start(struct curl_loop *loop, const struct mail_post *post,
                                          webhook_done_fn done, void *arg, char *error,
                                          size_t error_size) __attribute__((warn_unused_result));

/* The sender address: smtp_from, or rollcalld@<hostname> when it is NULL. */
void mail_from_address(const char *smtp_from, char *out, size_t size);

/* Abandons a transfer that has not reported yet (shutdown): frees it, done is never called. */
void mail_transfer_cancel(struct mail_transfer *transfer);

#endif
