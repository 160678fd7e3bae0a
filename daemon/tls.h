/* The server's TLS context: mutual TLS with client certificates from the deployment CA, CRL
 * checking, TLS 1.3 (1.2 with AEAD suites when tls_min_version says so). Built aside and
 * swapped in on SIGHUP so a bad file never replaces a working context. */
#ifndef ROLLCALL_TLS_H
#define ROLLCALL_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

/* Builds a new context from the config's files; NULL with the reason in errbuf. */
SSL_CTX *tls_server_ctx_new(const struct config *config, char *errbuf, size_t errlen);

/* The subject CN of the verified peer certificate, into out; false when there is none. */
bool tls_peer_cn(SSL *ssl, char *out, size_t out_size);

/* Verifies the connection's peer certificate again, against ctx's CA and CRL (a context built
 * after the connection was accepted, by SIGHUP). false, with the reason in why, when it no
 * longer verifies: revoked, expired, or no longer issued by a trusted CA. */
bool tls_peer_recheck(SSL *ssl, SSL_CTX *ctx, char *why, size_t why_size);

/* When the configured files stop working, as Unix seconds (0: not known, e.g. no tls_crl):
 * the notAfter of the daemon's certificate (tls_cert's first), the earliest notAfter of the
 * client CA bundle (tls_ca) and the earliest nextUpdate of tls_crl. Read from the files, so it
 * describes what a reload would load. False (reason in errbuf) when a file cannot be read; the
 * fields read so far stay set. */
struct tls_expiry {
	int64_t cert_not_after;
	int64_t ca_not_after;
	int64_t crl_next_update;
};
bool tls_expiry_read(const struct config *config, struct tls_expiry *out, char *errbuf,
                     size_t errlen) __attribute__((warn_unused_result));

#endif
