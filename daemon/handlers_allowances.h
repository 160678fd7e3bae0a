/* The allowance handler that handlers.h does not declare: the payout, which needs the statement
 * computed in C before the one SQL call that records it (handlers_statements.c). */
#ifndef ROLLCALL_HANDLERS_ALLOWANCES_H
#define ROLLCALL_HANDLERS_ALLOWANCES_H

struct request;

/* POST /v1/residents/{id}/payouts: op "resident_statement" for the facts, the statement in C,
 * then op "resident_payout" with it (under the request's Idempotency-Key). */
void handle_resident_payout(struct request *req);

#endif
