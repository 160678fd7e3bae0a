/* Server TLS context construction and peer identity. Session tickets and the session cache are
 * off: a resumed session would skip the certificate and CRL checks, so a revoked certificate
 * could outlive its revocation. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

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

bool tls_crl_seconds_left(SSL_CTX *ctx, long *seconds)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(store);
	bool found = false;
	for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
		X509_OBJECT *obj = sk_X509_OBJECT_value(objects, i);
		if (X509_OBJECT_get_type(obj) != X509_LU_CRL)
			continue;
		const ASN1_TIME *next = X509_CRL_get0_nextUpdate(X509_OBJECT_get0_X509_CRL(obj));
		int days = 0, secs = 0;
		if (!next || !ASN1_TIME_diff(&days, &secs, NULL, next))
			continue;
		long left = (long)days * 86400 + secs;
		if (!found || left < *seconds)
			*seconds = left;
		found = true;
	}
	return found;
}
