/* Warnings before the daemon locks everyone out: the expiry of its own certificate (tls_cert),
 * of the client CA (tls_ca) and the CRL's nextUpdate (tls_crl), read at start and on SIGHUP,
 * checked then and daily on the daemon's one clock; anything expiring within
 * CERT_EXPIRY_WARN_DAYS is logged as a warning (an error once past). The instants are also
 * what GET /metrics shows (rollcall_tls_expiry_seconds). */
#ifndef ROLLCALL_CERT_EXPIRY_H
#define ROLLCALL_CERT_EXPIRY_H

#include <stdbool.h>

#include "tls.h"

#define CERT_EXPIRY_WARN_DAYS 14

struct daemon;
struct cert_expiry;

/* Reads the files and checks at once; then every day of the clock. NULL when out of memory
 * (a file that cannot be read is logged, not fatal: the TLS context loaded it already). */
struct cert_expiry *cert_expiry_new(struct daemon *d);
void cert_expiry_free(struct cert_expiry *ce);

/* SIGHUP, after the TLS context was reloaded: reads the files again and checks. */
void cert_expiry_reload(struct cert_expiry *ce);

/* The instants last read (0 fields: not known). */
const struct tls_expiry *cert_expiry_instants(const struct cert_expiry *ce);

#endif
