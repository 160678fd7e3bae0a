/* The admins' e-mail before the daemon locks everyone out (admin_email): cert_expiry.c calls
 * admin_mail_expiry for each file within its warning period at each check; one message per file
 * and day of the daemon's clock goes to admin_email through smtp_relay, once whichever
 * instance and however often the daemon restarts (table admin_notices, claimed before sending).
 * A failed attempt is retried ten minutes later while the daemon runs, and by the next check
 * otherwise. Nothing happens without admin_email. */
#ifndef ROLLCALL_ADMIN_MAIL_H
#define ROLLCALL_ADMIN_MAIL_H

#include <stdint.h>

struct daemon;

/* key: the config key of the file (tls_cert, tls_ca, tls_crl); what: "the CRL's next update"
 * and so on; not_after and now in the clock's units (Unix seconds, microseconds). */
void admin_mail_expiry(struct daemon *d, const char *key, const char *path, const char *what,
                       int64_t not_after_s, int64_t now_us);

/* Shutdown: abandons transfers and retries still pending (their notices stay unsent and are
 * claimed again by the next check of whichever instance). */
void admin_mail_shutdown(void);

#endif
