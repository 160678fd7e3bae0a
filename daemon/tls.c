/* Server TLS context construction and peer identity. Session tickets and the session cache are
 * off: a resumed session would skip the certificate and CRL checks, so a revoked certificate
 * could outlive its revocation. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

/* ---- handshake failures, counted by reason for /metrics ---- */

/* Per connection, as SSL ex_data (a small integer, not a pointer: nothing to free): whether its
 * handshake started, completed, or failed and was counted. A connection freed after it started
 * and before either ended before the handshake did (the client hung up, or never spoke TLS).
 * Other SSL objects of the process (libcurl's) never meet the info callback: they stay
 * NOTE_UNSEEN and are not counted. */
enum handshake_note { NOTE_UNSEEN, NOTE_STARTED, NOTE_DONE, NOTE_COUNTED };
static int note_index = -1;

static enum handshake_note note_get(const SSL *ssl)
{
	return (enum handshake_note)(uintptr_t)SSL_get_ex_data(ssl, note_index);
}

static void note_set(const SSL *ssl, enum handshake_note note)
{
	/* The info callback gets a const SSL; the note is ours to write, not OpenSSL's state. */
	(void)SSL_set_ex_data((SSL *)ssl, note_index, (void *)(uintptr_t)note);
}

static void note_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if ((enum handshake_note)(uintptr_t)ptr == NOTE_STARTED)
		metrics_tls_failure(TLS_FAILURE_CLOSED);
}

/* The reason a handshake we ended with an alert failed: the certificate check's verdict when
 * there is one, else what the alert says. */
static enum metrics_tls_failure failure_reason(const SSL *ssl, int alert)
{
	switch (SSL_get_verify_result(ssl)) {
	case X509_V_OK:
		break;
	case X509_V_ERR_CERT_REVOKED:
		return TLS_FAILURE_REVOKED;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return TLS_FAILURE_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_FAILURE_NOT_YET_VALID;
	case X509_V_ERR_CRL_HAS_EXPIRED:
		return TLS_FAILURE_CRL_EXPIRED;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return TLS_FAILURE_CRL_UNAVAILABLE;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return TLS_FAILURE_UNKNOWN_CA;
	default:
		return TLS_FAILURE_BAD_CERTIFICATE;
	}
	/* TLS 1.3 says certificate_required (116); TLS 1.2 a handshake_failure (40) while
	 * waiting for the client's certificate. */
	if (alert == 116 || (alert == 40 && SSL_get_state(ssl) == TLS_ST_SR_CERT &&
	                     !SSL_get0_peer_certificate(ssl)))
		return TLS_FAILURE_NO_CERTIFICATE;
	return TLS_FAILURE_PROTOCOL;
}

/* OpenSSL's info callback: sees every alert sent and received and the handshake's end. The
 * first fatal alert before the handshake completed is the failure, counted once. */
static void info_callback(const SSL *ssl, int where, int ret)
{
	enum handshake_note note = note_get(ssl);
	if (note == NOTE_UNSEEN)
		note_set(ssl, note = NOTE_STARTED);
	if (where & SSL_CB_HANDSHAKE_DONE) {
		if (note == NOTE_STARTED)
			note_set(ssl, NOTE_DONE);
		return;
	}
	if (!(where & SSL_CB_ALERT) || note != NOTE_STARTED || (ret >> 8) != SSL3_AL_FATAL)
		return;
	note_set(ssl, NOTE_COUNTED);
	metrics_tls_failure((where & SSL_CB_WRITE) ? failure_reason(ssl, ret & 0xff)
	                                           : TLS_FAILURE_CLIENT_ALERT);
}

/* ---- expiry of the configured files ---- */

/* Unix seconds of an ASN.1 time; 0 when it cannot be read. */
static int64_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* The earliest of a and b, where 0 means "none yet". */
static int64_t earliest(int64_t a, int64_t b)
{
	return a == 0 || (b != 0 && b < a) ? b : a;
}

bool tls_expiry_read(const struct config *config, struct tls_expiry *out, char *errbuf,
                     size_t errlen)
{
	*out = (struct tls_expiry){0};
	FILE *f = fopen(config->tls_cert, "r");
	X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!cert) {
		ERR_clear_error();
		snprintf(errbuf, errlen, "cannot read a certificate from tls_cert %s",
		         config->tls_cert);
		return false;
	}
	out->cert_not_after = asn1_unix(X509_get0_notAfter(cert));
	X509_free(cert);

	if (!(f = fopen(config->tls_ca, "r"))) {
		snprintf(errbuf, errlen, "cannot open tls_ca %s", config->tls_ca);
		return false;
	}
	while ((cert = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		out->ca_not_after =
		    earliest(out->ca_not_after, asn1_unix(X509_get0_notAfter(cert)));
		X509_free(cert);
	}
	fclose(f);
	ERR_clear_error(); /* the read loop ends with a "no start line" error */

	if (!config->tls_crl)
		return true;
	if (!(f = fopen(config->tls_crl, "r"))) {
		snprintf(errbuf, errlen, "cannot open tls_crl %s", config->tls_crl);
		return false;
	}
	X509_CRL *crl;
	while ((crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL) {
		out->crl_next_update =
		    earliest(out->crl_next_update, asn1_unix(X509_CRL_get0_nextUpdate(crl)));
		X509_CRL_free(crl);
	}
	fclose(f);
	ERR_clear_error();
	return true;
}

static void openssl_reason(char *errbuf, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char reason[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	ERR_clear_error();
	snprintf(errbuf, errlen, "%s %s: %s", what, file ? file : "", reason);
}

static bool load_crl(SSL_CTX *ctx, const char *path, char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(errbuf, errlen, "cannot open tls_crl %s", path);
		return false;
	}
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int loaded = 0;
	X509_CRL *crl;
	while ((crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL) {
		if (!X509_STORE_add_crl(store, crl)) {
			X509_CRL_free(crl);
			fclose(f);
			openssl_reason(errbuf, errlen, "cannot add CRL from", path);
			return false;
		}
		X509_CRL_free(crl);
		loaded++;
	}
	fclose(f);
	ERR_clear_error(); /* the read loop ends with a "no start line" error */
	if (loaded == 0) {
		snprintf(errbuf, errlen, "tls_crl %s holds no CRL", path);
		return false;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return true;
}

SSL_CTX *tls_server_ctx_new(const struct config *config, char *errbuf, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		openssl_reason(errbuf, errlen, "cannot create TLS context", NULL);
		return NULL;
	}
	/* The profile (docs/decisions.md, "TLS profile"): TLS 1.3 only unless tls_min_version
	 * allows 1.2, and then forward-secret AEAD suites only; the groups browsers and OpenSSL
	 * agree on; no tickets, no renegotiation, no compression. */
	if (SSL_CTX_set_min_proto_version(
	        ctx, config->tls_min_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(
	        ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	             "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	             "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
		openssl_reason(errbuf, errlen, "cannot set the TLS profile", NULL);
		goto failed;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF |
	                             SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (note_index < 0 &&
	    (note_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, note_free)) < 0) {
		openssl_reason(errbuf, errlen, "cannot register the handshake note", NULL);
		goto failed;
	}
	SSL_CTX_set_info_callback(ctx, info_callback);
	/* libevent may retry a blocked SSL_write from a buffer that has since moved. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Not SSL_MODE_RELEASE_BUFFERS, though it would save ~14 KiB per idle alert watcher: with
	 * libevent 2.1's OpenSSL bufferevents it stalled large chunked replies (a 2,500-resident
	 * statements export stopped mid-body until the connection deadline). */
	if (SSL_CTX_use_certificate_chain_file(ctx, config->tls_cert) != 1) {
		openssl_reason(errbuf, errlen, "cannot load tls_cert", config->tls_cert);
		goto failed;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, config->tls_key, SSL_FILETYPE_PEM) != 1) {
		openssl_reason(errbuf, errlen, "cannot load tls_key", config->tls_key);
		goto failed;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		openssl_reason(errbuf, errlen, "tls_key does not match tls_cert", config->tls_key);
		goto failed;
	}
	if (SSL_CTX_load_verify_locations(ctx, config->tls_ca, NULL) != 1) {
		openssl_reason(errbuf, errlen, "cannot load tls_ca", config->tls_ca);
		goto failed;
	}
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(config->tls_ca);
	if (names)
		SSL_CTX_set_client_CA_list(ctx, names);
	ERR_clear_error();
	if (config->tls_crl && !load_crl(ctx, config->tls_crl, errbuf, errlen))
		goto failed;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	return ctx;
failed:
	SSL_CTX_free(ctx);
	return NULL;
}

bool tls_peer_cn(SSL *ssl, char *out, size_t out_size)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	X509_NAME *subject = X509_get_subject_name(cert);
	int len = X509_NAME_get_text_by_NID(subject, NID_commonName, out, (int)out_size);
	if (len <= 0 || (size_t)len >= out_size || strlen(out) != (size_t)len)
		return false; /* missing, truncated, or with an embedded NUL */
	return true;
}

bool tls_peer_recheck(SSL *ssl, SSL_CTX *ctx, char *why, size_t why_size)
{
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	if (!leaf) {
		snprintf(why, why_size, "no client certificate");
		return false;
	}
	/* As libssl verified it at the handshake: the same purpose and depth, the store (CA and
	 * CRL, CRL checking on) of ctx instead of the one the connection was accepted with. The
	 * server side's peer chain holds the intermediates only. */
	X509_STORE_CTX *check = X509_STORE_CTX_new();
	bool valid = false;
	if (check &&
	    X509_STORE_CTX_init(check, SSL_CTX_get_cert_store(ctx), leaf,
	                        SSL_get_peer_cert_chain(ssl)) == 1 &&
	    X509_STORE_CTX_set_default(check, "ssl_client") == 1) {
		X509_STORE_CTX_set_depth(check, SSL_CTX_get_verify_depth(ctx));
		valid = X509_verify_cert(check) == 1;
		if (!valid)
			snprintf(why, why_size, "%s",
			         X509_verify_cert_error_string(X509_STORE_CTX_get_error(check)));
	} else {
		snprintf(why, why_size, "cannot check the certificate again (out of memory)");
	}
	X509_STORE_CTX_free(check);
	ERR_clear_error();
	return valid;
}
