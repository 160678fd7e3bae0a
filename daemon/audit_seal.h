/* The audit sealer: chains committed audit rows (SPEC section 7, v2) from the event loop, one
 * daemon at a time (schema/code/audit_chain.sql, docs/DESIGN.md "The audit chain"). */
#ifndef ROLLCALL_AUDIT_SEAL_H
#define ROLLCALL_AUDIT_SEAL_H

struct daemon;
struct audit_sealer;

/* Starts sealing every second on d's loop and pool; NULL when out of memory. The sealer is the
 * caller's, freed with audit_sealer_free after the loop has stopped. */
struct audit_sealer *audit_sealer_new(struct daemon *d);
void audit_sealer_free(struct audit_sealer *sealer);

#endif
