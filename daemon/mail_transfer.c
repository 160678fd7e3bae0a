/* One on-call e-mail (see mail_transfer.h): the message from mail_message.c, sent with libcurl's
 * SMTP on curl_loop. Choices (docs/DESIGN.md, "Outgoing transfers"): a fresh connection per
 * attempt, as the webhooks; CURLUSESSL_TRY, so that a relay offering STARTTLS gets it and its
 * certificate and name are verified (a refused certificate fails the attempt rather than fall
 * back to plain text); no proxy whatever the environment says; the whole transaction bounded by
 * webhook_timeout. A relay that refuses (a 4xx or 5xx reply) is a failed attempt whose text
 * names the reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/x509_vfy.h>

#include "curl_loop.h"
#include "mail_message.h"
#include "mail_transfer.h"

struct mail_transfer {
	struct curl_loop *loop;
	CURL *easy;
	struct curl_slist *recipients;
	char *url;
	char *mail_from; /* "<address>" */
	char *host;      /* for error texts */
	long port;
	char *message;
	size_t message_len, message_sent;
	int timeout_s;
	webhook_done_fn done;
	void *arg;
	char curl_error[CURL_ERROR_SIZE];
};

static void transfer_free(struct mail_transfer *t)
{
	if (!t)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->recipients);
	free(t->url);
	free(t->mail_from);
	free(t->host);
	free(t->message);
	free(t);
}

/* curl reads the message from here (CURLOPT_UPLOAD). */
static size_t transfer_read_cb(char *buffer, size_t size, size_t count, void *arg)
{
	struct mail_transfer *t = arg;
	size_t room = size * count, left = t->message_len - t->message_sent;
	size_t n = left < room ? left : room;
	memcpy(buffer, t->message + t->message_sent, n);
	t->message_sent += n;
	return n;
}

/* The outcome in plain words, as the webhooks' (DESIGN.md lists both). */
static void transfer_describe(struct mail_transfer *t, CURLcode result,
                              struct webhook_outcome *outcome, char *text, size_t size)
{
	long reply = 0;
	if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &reply) != CURLE_OK)
		reply = 0;
	*outcome = (struct webhook_outcome){.delivered = false, .status = (int)reply, .text = text};
	const char *detail = t->curl_error[0] ? t->curl_error : curl_easy_strerror(result);
	long os_errno = 0;
	switch (result) {
	case CURLE_OK:
		outcome->delivered = true;
		snprintf(text, size, "SMTP %ld: the relay accepted the message",
		         reply ? reply : 250);
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(text, size, "cannot resolve the mail relay %.200s", t->host);
		return;
	case CURLE_COULDNT_CONNECT:
		if (curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK)
			os_errno = 0;
		snprintf(text, size, "cannot connect to the mail relay %s port %ld: %.120s",
		         t->host, t->port, os_errno ? strerror((int)os_errno) : detail);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(text, size, "no answer from the mail relay within %d s", t->timeout_s);
		return;
	case CURLE_PEER_FAILED_VERIFICATION: {
		long verify = X509_V_OK;
		if (curl_easy_getinfo(t->easy, CURLINFO_SSL_VERIFYRESULT, &verify) != CURLE_OK)
			verify = X509_V_OK;
		snprintf(text, size, "TLS: the mail relay's certificate was refused: %.200s",
		         verify != X509_V_OK ? X509_verify_cert_error_string(verify) : detail);
		return;
	}
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_USE_SSL_FAILED:
		snprintf(text, size, "TLS handshake with the mail relay failed: %.200s", detail);
		return;
	default:
		break;
	}
	if (reply >= 400)
		snprintf(text, size, "the mail relay refused the message: SMTP %ld (%.200s)", reply,
		         detail);
	else
		snprintf(text, size, "SMTP error with the mail relay: %.200s", detail);
}

static void transfer_done_cb(void *arg, CURL *easy, CURLcode result)
{
	struct mail_transfer *t = arg;
	char text[WEBHOOK_TEXT_SIZE];
	struct webhook_outcome outcome;
	(void)easy;
	transfer_describe(t, result, &outcome, text, sizeof text);
	webhook_done_fn done = t->done;
	void *done_arg = t->arg;
	transfer_free(t);
	done(done_arg, &outcome);
}

void mail_transfer_cancel(struct mail_transfer *t)
{
	if (!t)
		return;
	curl_loop_cancel(t->loop, t->easy);
	transfer_free(t);
}

/* "host:port" (config.c has checked the form) to the smtp:// URL and the parts for texts. */
static bool transfer_parse_relay(struct mail_transfer *t, const char *relay)
{
	const char *colon = strrchr(relay, ':');
	if (!colon || colon == relay)
		return false;
	t->host = strndup(relay, (size_t)(colon - relay));
	t->port = strtol(colon + 1, NULL, 10);
	size_t size = strlen(relay) + 16;
	t->url = malloc(size);
	if (!t->host || !t->url)
		return false;
	snprintf(t->url, size, "smtp://%s", relay);
	return true;
}

/* The message from the stored payload ({"subject","text"}). */
static bool transfer_build_message(struct mail_transfer *t, const struct mail_post *post,
                                   char *error, size_t error_size)
{
	json_error_t parse_error;
	json_t *payload = json_loads(post->payload, 0, &parse_error);
	const char *subject = json_string_value(json_object_get(payload, "subject"));
	const char *text = json_string_value(json_object_get(payload, "text"));
	if (!json_is_object(payload) || !subject || !text) {
		json_decref(payload);
		snprintf(error, error_size, "the stored e-mail has no subject or text");
		return false;
	}
	struct mail_parts parts = {
	    .from = post->from,
	    .to = post->to,
	    .subject = subject,
	    .text = text,
	    .event_id = post->event_id,
	    .type = post->type,
	    .date_s = (int64_t)time(NULL),
	};
	t->message = mail_message_build(&parts);
	json_decref(payload);
	if (!t->message) {
		snprintf(error, error_size,
		         "cannot build the e-mail (a bad address or out of memory)");
		return false;
	}
	t->message_len = strlen(t->message);
	return true;
}

static bool transfer_configure(struct mail_transfer *t, const struct mail_post *post)
{
	CURL *e = t->easy;
	long timeout_ms = (long)t->timeout_s * 1000;
	return curl_easy_setopt(e, CURLOPT_URL, t->url) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp") == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	       (post->ca_file == NULL ||
	        curl_easy_setopt(e, CURLOPT_CAINFO, post->ca_file) == CURLE_OK) &&
	       curl_easy_setopt(e, CURLOPT_MAIL_FROM, t->mail_from) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->recipients) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)t->message_len) ==
	           CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_READFUNCTION, transfer_read_cb) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_READDATA, t) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error) == CURLE_OK;
}

struct mail_transfer *mail_transfer_start(struct curl_loop *loop, const struct mail_post *post,
                                          webhook_done_fn done, void *arg, char *error,
                                          size_t error_size)
{
	if (!post->relay) {
		snprintf(error, error_size, "no mail relay is configured (smtp_relay)");
		return NULL;
	}
	struct mail_transfer *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(error, error_size, "out of memory");
		return NULL;
	}
	t->loop = loop;
	t->timeout_s = post->timeout_s;
	t->done = done;
	t->arg = arg;
	if (!transfer_parse_relay(t, post->relay)) {
		snprintf(error, error_size, "smtp_relay is not host:port");
		goto failed;
	}
	if (!transfer_build_message(t, post, error, error_size))
		goto failed;
	size_t from_size = strlen(post->from) + 3, to_size = strlen(post->to) + 3;
	char *to = malloc(to_size);
	t->mail_from = malloc(from_size);
	if (!to || !t->mail_from) {
		free(to);
		snprintf(error, error_size, "out of memory");
		goto failed;
	}
	snprintf(t->mail_from, from_size, "<%s>", post->from);
	snprintf(to, to_size, "<%s>", post->to);
	t->recipients = curl_slist_append(NULL, to);
	free(to);
	t->easy = t->recipients ? curl_easy_init() : NULL;
	if (!t->easy) {
		snprintf(error, error_size, "out of memory");
		goto failed;
	}
	if (!transfer_configure(t, post)) {
		snprintf(error, error_size, "libcurl refused an option of the e-mail");
		goto failed;
	}
	if (!curl_loop_add(loop, t->easy, transfer_done_cb, t)) {
		snprintf(error, error_size, "cannot start the transfer");
		goto failed;
	}
	return t;
failed:
	transfer_free(t);
	return NULL;
}

void mail_from_address(const char *smtp_from, char *out, size_t size)
{
	if (smtp_from) {
		snprintf(out, size, "%s", smtp_from);
		return;
	}
	char host[256] = "localhost";
	(void)gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	snprintf(out, size, "rollcalld@%s", host);
}
