/* Allowance statements from facts: turns one item of the facts PostgreSQL answers
 * (allowance_items() in schema/code/allowances.sql) into the statement JSON of the API, the
 * arguments of a payout, and a row of the finance CSV. No I/O (jansson and allowance.c only),
 * so the unit tests call it directly.
 *
 * The facts item:
 *   {"resident":{"id","case_number","given_name","family_name"}, "centre", "period_start",
 *    "period_end", "facts":{"payable_days":n,"groups":"kind per_day_ore percent days,..."},
 *    "payout": the payout with its "statement" as paid, or null, "settled_ore": n when paid,
 *    "earlier": when unpaid, [{"period_start","facts","settled_ore"}] oldest first} */
#ifndef ROLLCALL_STATEMENT_H
#define ROLLCALL_STATEMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allowance.h"

#define STATEMENT_ERROR_SIZE 200

/* The figures of one statement, for the CSV row and the sums of a centre's export. */
struct statement_totals {
	int payable_days;
	int days[ALLOWANCE_KIND_COUNT];
	int64_t amount_ore[ALLOWANCE_KIND_COUNT];
	int64_t withdrawn_ore;
	int64_t adjustment_ore;
	int64_t total_ore;
	bool paid;
};

/* Builds the statement of one facts item (a new object the caller owns):
 *   {"resident","case_number","given_name","family_name","centre","period_start",
 *    "period_end","payable_days","lines":[{"kind","per_day_ore","days","amount_ore"}],
 *    "withdrawals":[{"kind","per_day_ore","percent","days","per_day_withdrawn_ore",
 *    "amount_ore"}],"withdrawn_ore","adjustment_ore","adjustments":[{"period_start",
 *    "amount_ore"}],"pending_correction_ore","total_ore","payout"}
 * An unpaid period is computed from today's facts, with the corrections of earlier paid periods
 * as its adjustment. A paid period shows the statement as paid, its payout, and
 * "correction_ore": what the period is worth now minus what it is settled at, which a later
 * payout carries. totals may be NULL. When payout_args is not NULL, *payout_args receives what
 * op_resident_payout takes as args.statement (NULL for a paid period). Returns NULL and
 * describes the problem in err when the facts are malformed. */
json_t *statement_build(const json_t *item, struct statement_totals *totals, json_t **payout_args,
                        char err[STATEMENT_ERROR_SIZE]);

/* A growing text buffer for CSV and streamed JSON. */
struct statement_text {
	char *data;
	size_t len;
	size_t cap;
};
bool statement_text_append(struct statement_text *text, const char *data, size_t len)
    __attribute__((warn_unused_result));
void statement_text_reset(struct statement_text *text); /* empties, keeps the memory */
void statement_text_free(struct statement_text *text);

/* The finance CSV (documented in docs/api.md): UTF-8, semicolon-separated, CRLF line ends, a
 * header row, then one row per resident; amounts in øre and again in kroner with a decimal
 * comma; text fields quoted when they need it. */
#define STATEMENT_CSV_SEPARATOR ';'
bool statement_csv_header(struct statement_text *out) __attribute__((warn_unused_result));
bool statement_csv_row(struct statement_text *out, const json_t *statement,
                       const struct statement_totals *totals) __attribute__((warn_unused_result));

#endif
