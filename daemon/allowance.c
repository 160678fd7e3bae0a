/* Allowance arithmetic: integer øre only. Every amount on a statement, a payout or the finance
 * export comes from here, so the rounding rule lives in one place. */
#include "allowance.h"

#include "rollcall/money.h"

#include <stdio.h>
#include <string.h>

static const char *const kind_names[ALLOWANCE_KIND_COUNT] = {
    [ALLOWANCE_BASE] = "base",
    [ALLOWANCE_SUPPLEMENT_PHASE1] = "supplement_phase1",
    [ALLOWANCE_SUPPLEMENT_PHASE2] = "supplement_phase2",
};

const char *allowance_kind_name(enum allowance_kind kind)
{
	return (unsigned)kind < ALLOWANCE_KIND_COUNT ? kind_names[kind] : "unknown";
}

bool allowance_kind_parse(const char *name, enum allowance_kind *out)
{
	if (!name)
		return false;
	for (int k = 0; k < ALLOWANCE_KIND_COUNT; k++) {
		if (strcmp(kind_names[k], name) == 0) {
			*out = (enum allowance_kind)k;
			return true;
		}
	}
	return false;
}

bool allowance_kind_is_supplement(enum allowance_kind kind)
{
	return kind == ALLOWANCE_SUPPLEMENT_PHASE1 || kind == ALLOWANCE_SUPPLEMENT_PHASE2;
}

const char *allowance_status_text(enum allowance_status status)
{
	switch (status) {
	case ALLOWANCE_OK:
		return "ok";
	case ALLOWANCE_BAD_RATE:
		return "a rate is outside the accepted range";
	case ALLOWANCE_BAD_DAYS:
		return "a day count is outside the accepted range";
	case ALLOWANCE_BAD_PERCENT:
		return "a sanction percentage is outside 0-100";
	case ALLOWANCE_BAD_KIND:
		return "an allowance kind is unknown";
	case ALLOWANCE_TOO_MANY_GROUPS:
		return "too many groups of days in one period";
	}
	return "unknown status";
}

int64_t allowance_withdrawal_per_day(int64_t per_day_ore, int percent)
{
	/* Both factors are non-negative and bounded (see allowance_compute), so integer division
	 * after adding half the divisor is rounding half up. */
	return (per_day_ore * percent + 50) / 100;
}

static enum allowance_status check_group(const struct allowance_group *g)
{
	if ((unsigned)g->kind >= ALLOWANCE_KIND_COUNT)
		return ALLOWANCE_BAD_KIND;
	if (g->per_day_ore < 0 || g->per_day_ore > ALLOWANCE_MAX_PER_DAY_ORE)
		return ALLOWANCE_BAD_RATE;
	if (g->days < 0 || g->days > ALLOWANCE_MAX_DAYS)
		return ALLOWANCE_BAD_DAYS;
	if (g->percent < 0 || g->percent > 100)
		return ALLOWANCE_BAD_PERCENT;
	return ALLOWANCE_OK;
}

/* The line of (kind, rate), appended when it is new. */
static struct allowance_line *line_for(struct allowance_statement *st, enum allowance_kind kind,
                                       int64_t per_day_ore)
{
	for (size_t i = 0; i < st->line_count; i++)
		if (st->lines[i].kind == kind && st->lines[i].per_day_ore == per_day_ore)
			return &st->lines[i];
	struct allowance_line *line = &st->lines[st->line_count++];
	line->kind = kind;
	line->per_day_ore = per_day_ore;
	return line;
}

static struct allowance_withdrawal *withdrawal_for(struct allowance_statement *st,
                                                   enum allowance_kind kind, int64_t per_day_ore,
                                                   int percent)
{
	for (size_t i = 0; i < st->withdrawal_count; i++) {
		struct allowance_withdrawal *w = &st->withdrawals[i];
		if (w->kind == kind && w->per_day_ore == per_day_ore && w->percent == percent)
			return w;
	}
	struct allowance_withdrawal *w = &st->withdrawals[st->withdrawal_count++];
	w->kind = kind;
	w->per_day_ore = per_day_ore;
	w->percent = percent;
	w->per_day_withdrawn_ore = allowance_withdrawal_per_day(per_day_ore, percent);
	return w;
}

enum allowance_status allowance_compute(const struct allowance_group *groups, size_t count,
                                        int payable_days, struct allowance_statement *out)
{
	memset(out, 0, sizeof *out);
	if (count > ALLOWANCE_MAX_GROUPS)
		return ALLOWANCE_TOO_MANY_GROUPS;
	if (payable_days < 0 || payable_days > ALLOWANCE_MAX_DAYS)
		return ALLOWANCE_BAD_DAYS;
	for (size_t i = 0; i < count; i++) {
		enum allowance_status status = check_group(&groups[i]);
		if (status != ALLOWANCE_OK) {
			memset(out, 0, sizeof *out);
			return status;
		}
		const struct allowance_group *g = &groups[i];
		if (g->days == 0)
			continue;
		struct allowance_line *line = line_for(out, g->kind, g->per_day_ore);
		line->days += g->days;
		line->amount_ore += (int64_t)g->days * g->per_day_ore;
		out->gross_ore += (int64_t)g->days * g->per_day_ore;
		if (!allowance_kind_is_supplement(g->kind) || g->percent == 0)
			continue;
		struct allowance_withdrawal *w =
		    withdrawal_for(out, g->kind, g->per_day_ore, g->percent);
		w->days += g->days;
		w->amount_ore += (int64_t)g->days * w->per_day_withdrawn_ore;
		out->withdrawn_ore += (int64_t)g->days * w->per_day_withdrawn_ore;
	}
	out->payable_days = payable_days;
	out->net_ore = out->gross_ore - out->withdrawn_ore;
	return ALLOWANCE_OK;
}

int64_t allowance_apply_corrections(int64_t net_ore, const int64_t *corrections, size_t count,
                                    int64_t *applied)
{
	int64_t total = 0;
	for (size_t i = 0; i < count; i++) {
		applied[i] = corrections[i] > 0 ? corrections[i] : 0;
		total += applied[i];
	}
	/* What the decreases may take without the period's total going below zero. */
	int64_t room = net_ore + total;
	if (room < 0)
		room = 0;
	for (size_t i = 0; i < count; i++) {
		if (corrections[i] >= 0)
			continue;
		int64_t take = -corrections[i] < room ? -corrections[i] : room;
		applied[i] = -take;
		room -= take;
		total -= take;
	}
	return total;
}

void allowance_format_kroner(int64_t ore, char out[ALLOWANCE_KRONER_SIZE])
{
	money_format_kroner(ore, false, out);
}
