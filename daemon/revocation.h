/* Account changes reaching what is already open (SPEC section 8, v2): on NOTIFY rc_account
 * (schema/code/sessions.sql) the account is read again; the connections of a disabled or
 * removed account are closed and every alert stream it may no longer watch is ended, each
 * audited. Certificates revoked by a new CRL are server.c's (server_reload_tls). */
#ifndef ROLLCALL_REVOCATION_H
#define ROLLCALL_REVOCATION_H

#include <stdbool.h>

struct daemon;

/* Subscribes to rc_account; call before the loop starts, after the alert hub and server. */
bool revocation_start(struct daemon *d) __attribute__((warn_unused_result));

/* Frees the re-checks still waiting for the database; call after the loop ends. */
void revocation_stop(void);

#endif
