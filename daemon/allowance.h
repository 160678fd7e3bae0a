/* Allowance arithmetic (SPEC section 6): from the facts PostgreSQL finds for one resident and
 * period (groups of payable days sharing an allowance kind, a rate and a sanction percentage)
 * to the money. Integer øre throughout, no I/O, so the unit tests call it directly. */
#ifndef ROLLCALL_ALLOWANCE_H
#define ROLLCALL_ALLOWANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The allowance kinds of the rates table, in the order statements list them. */
enum allowance_kind {
	ALLOWANCE_BASE,              /* grundydelse: never withdrawn by a sanction */
	ALLOWANCE_SUPPLEMENT_PHASE1, /* tillægsydelse, phase 1 */
	ALLOWANCE_SUPPLEMENT_PHASE2, /* tillægsydelse, phase 2 */
	ALLOWANCE_KIND_COUNT,
};

/* "base", "supplement_phase1", "supplement_phase2". */
const char *allowance_kind_name(enum allowance_kind kind);
bool allowance_kind_parse(const char *name, enum allowance_kind *out)
    __attribute__((warn_unused_result));
bool allowance_kind_is_supplement(enum allowance_kind kind);

/* Bounds on the facts: far above any real figure, low enough that no product overflows. */
#define ALLOWANCE_MAX_PER_DAY_ORE 1000000000LL /* 10 million kroner a day */
#define ALLOWANCE_MAX_DAYS 100000
#define ALLOWANCE_MAX_GROUPS 64 /* a 14-day period has at most 14 days x 2 kinds */

/* Days of one kind paid at one rate under one sanction percentage (0: none). */
struct allowance_group {
	enum allowance_kind kind;
	int64_t per_day_ore;
	int percent;
	int days;
};

/* A statement line: the days of one kind at one rate, whatever the sanctions. */
struct allowance_line {
	enum allowance_kind kind;
	int64_t per_day_ore;
	int days;
	int64_t amount_ore; /* days x per_day_ore */
};

/* What a sanction withdraws from the days of one supplement rate at one percentage. */
struct allowance_withdrawal {
	enum allowance_kind kind;
	int64_t per_day_ore;
	int percent;
	int days;
	int64_t per_day_withdrawn_ore; /* per_day_ore x percent / 100, rounded half up */
	int64_t amount_ore;            /* days x per_day_withdrawn_ore */
};

struct allowance_statement {
	int payable_days;
	size_t line_count;
	struct allowance_line lines[ALLOWANCE_MAX_GROUPS];
	size_t withdrawal_count;
	struct allowance_withdrawal withdrawals[ALLOWANCE_MAX_GROUPS];
	int64_t gross_ore;     /* sum of the lines */
	int64_t withdrawn_ore; /* sum of the withdrawals */
	int64_t net_ore;       /* gross - withdrawn: what the period itself is worth */
};

enum allowance_status {
	ALLOWANCE_OK,
	ALLOWANCE_BAD_RATE,        /* per_day_ore outside 0..ALLOWANCE_MAX_PER_DAY_ORE */
	ALLOWANCE_BAD_DAYS,        /* days outside 0..ALLOWANCE_MAX_DAYS */
	ALLOWANCE_BAD_PERCENT,     /* percent outside 0..100 */
	ALLOWANCE_BAD_KIND,        /* not one of enum allowance_kind */
	ALLOWANCE_TOO_MANY_GROUPS, /* more than ALLOWANCE_MAX_GROUPS */
};

const char *allowance_status_text(enum allowance_status status);

/* What a sanction of `percent` withdraws from one day's supplement of per_day_ore: rounded half
 * up to whole øre (SPEC section 9: 975 at 50 % is 487.5, withdrawn as 488). */
int64_t allowance_withdrawal_per_day(int64_t per_day_ore, int percent);

/* Computes the statement of one period from its groups. Lines merge the groups of one kind and
 * rate in the order they first appear (PostgreSQL sends them chronologically); withdrawals keep
 * one entry per supplement rate and percentage. A base group's percent is ignored: a sanction
 * never touches the base allowance, whatever the facts say. On failure *out is zeroed. */
enum allowance_status allowance_compute(const struct allowance_group *groups, size_t count,
                                        int payable_days, struct allowance_statement *out)
    __attribute__((warn_unused_result));

/* Corrections of earlier, already paid periods (what a period is worth now minus what was paid
 * for it) carried into a period worth net_ore. Increases are applied in full; decreases oldest
 * first (corrections[0] is the oldest) only as far as the period's total stays at or above
 * zero, and the rest waits for a later period: a child is never asked to pay money back at the
 * counter. applied[i] receives the part of corrections[i] applied here. Returns the sum of
 * applied, the statement's adjustment. */
int64_t allowance_apply_corrections(int64_t net_ore, const int64_t *corrections, size_t count,
                                    int64_t *applied);

/* Kroner with a decimal comma and no thousands separator, as the finance export writes them:
 * 129486 -> "1294,86", -5 -> "-0,05". */
#define ALLOWANCE_KRONER_SIZE 32
void allowance_format_kroner(int64_t ore, char out[ALLOWANCE_KRONER_SIZE]);

#endif
