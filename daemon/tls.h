/* The server's TLS context: mutual TLS with client certificates from the deployment CA, CRL
 * checking, TLS 1.3 (1.2 with AEAD suites when tls_min_version says so). Built aside and
 * swapped in on SIGHUP so a bad file never replaces a working context. */
#ifndef ROLLCALL_TLS_H
#define ROLLCALL_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

struct config;

/* Builds a new context from the config's files; NULL with the reason in errbuf. */
SSL_CTX *tls_server_ctx_new(const struct config *config, char *errbuf, size_t errlen);

/* The subject CN of the verified peer certificate, into out; false when there is none. */
bool tls_peer_cn(SSL *ssl, char *out, size_t out_size);

/* Verifies the connection's peer certificate again, against ctx's CA and CRL (a context built
 * after the connection was accepted, by SIGHUP). false, with the reason in why, when it no
 * longer verifies: revoked, expired, or no longer issued by a trusted CA. */
bool tls_peer_recheck(SSL *ssl, SSL_CTX *ctx, char *why, size_t why_size);

/* Seconds until the CRL's nextUpdate (negative when past); false when no CRL is loaded. */
bool tls_crl_seconds_left(SSL_CTX *ctx, long *seconds);

#endif
