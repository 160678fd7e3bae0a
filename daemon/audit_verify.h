/* rollcalld --verify-audit: recomputes the audit chain (SPEC section 7, v2) from the database
 * with its own SHA-256, independently of the SQL that sealed it. */
#ifndef ROLLCALL_AUDIT_VERIFY_H
#define ROLLCALL_AUDIT_VERIFY_H

/* Prints "audit chain intact: N rows" and returns 0, or names the first row that breaks the
 * chain on stdout and returns 1; 2 when the database cannot be read (the reason is logged). */
int audit_verify(const char *conninfo);

#endif
