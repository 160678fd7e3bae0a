/* Allowance statements from the facts PostgreSQL finds: the statement JSON, the payout's
 * arguments and the finance CSV row. The money comes from allowance.c; this file only reads
 * facts and writes documents. */
#include "statement.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Corrections come from the paid periods of a bounded window (allowance_correction_periods):
 * far fewer than this. */
#define MAX_EARLIER 64

static bool failf(char err[STATEMENT_ERROR_SIZE], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool failf(char err[STATEMENT_ERROR_SIZE], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, STATEMENT_ERROR_SIZE, fmt, ap);
	va_end(ap);
	return false;
}

/* An integer member within [low, high]. */
static bool get_int(const json_t *object, const char *key, int64_t low, int64_t high, int64_t *out)
{
	const json_t *value = json_object_get(object, key);
	if (!json_is_integer(value))
		return false;
	json_int_t n = json_integer_value(value);
	if (n < low || n > high)
		return false;
	*out = (int64_t)n;
	return true;
}

/* Parses one group "kind per_day_ore percent days" (the text is cut at its end). */
static bool parse_group(const char *text, size_t len, struct allowance_group *g)
{
	char buf[128], kind[64];
	long long rate, percent, days;
	int used = 0;
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (sscanf(buf, "%63s %lld %lld %lld%n", kind, &rate, &percent, &days, &used) != 4 ||
	    (size_t)used != len || !allowance_kind_parse(kind, &g->kind))
		return false;
	/* Range-checked before narrowing; allowance_compute checks the bounds again. */
	if (rate < 0 || rate > ALLOWANCE_MAX_PER_DAY_ORE || percent < 0 || percent > 100 ||
	    days < 0 || days > ALLOWANCE_MAX_DAYS)
		return false;
	g->per_day_ore = (int64_t)rate;
	g->percent = (int)percent;
	g->days = (int)days;
	return true;
}

/* Parses {"payable_days": n, "groups": "kind per_day_ore percent days,..."} (allowance_facts()
 * in schema/code/allowances.sql) and computes the money. */
static bool compute_facts(const json_t *facts, struct allowance_statement *out,
                          char err[STATEMENT_ERROR_SIZE])
{
	struct allowance_group groups[ALLOWANCE_MAX_GROUPS];
	size_t count = 0;
	int64_t payable_days;
	if (!json_is_object(facts) ||
	    !get_int(facts, "payable_days", 0, ALLOWANCE_MAX_DAYS, &payable_days))
		return failf(err, "facts without payable_days");
	const char *text = json_string_value(json_object_get(facts, "groups"));
	if (!text)
		return failf(err, "facts without groups");
	while (*text) {
		const char *comma = strchr(text, ',');
		size_t len = comma ? (size_t)(comma - text) : strlen(text);
		if (count == ALLOWANCE_MAX_GROUPS)
			return failf(err, "more than %d groups of days", ALLOWANCE_MAX_GROUPS);
		if (!parse_group(text, len, &groups[count]))
			return failf(err, "group %zu is not \"kind per_day_ore percent days\"",
			             count);
		count++;
		text += len;
		if (comma)
			text++;
		if (comma && !*text)
			return failf(err, "groups end with a comma");
	}
	enum allowance_status status = allowance_compute(groups, count, (int)payable_days, out);
	if (status != ALLOWANCE_OK)
		return failf(err, "%s", allowance_status_text(status));
	return true;
}

static json_t *lines_json(const struct allowance_statement *st)
{
	json_t *lines = json_array();
	for (size_t i = 0; lines && i < st->line_count; i++) {
		const struct allowance_line *l = &st->lines[i];
		if (json_array_append_new(
		        lines,
		        json_pack("{s:s, s:I, s:i, s:I}", "kind", allowance_kind_name(l->kind),
		                  "per_day_ore", (json_int_t)l->per_day_ore, "days", l->days,
		                  "amount_ore", (json_int_t)l->amount_ore)) != 0) {
			json_decref(lines);
			return NULL;
		}
	}
	return lines;
}

static json_t *withdrawals_json(const struct allowance_statement *st)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < st->withdrawal_count; i++) {
		const struct allowance_withdrawal *w = &st->withdrawals[i];
		if (json_array_append_new(
		        list, json_pack("{s:s, s:I, s:i, s:i, s:I, s:I}", "kind",
		                        allowance_kind_name(w->kind), "per_day_ore",
		                        (json_int_t)w->per_day_ore, "percent", w->percent, "days",
		                        w->days, "per_day_withdrawn_ore",
		                        (json_int_t)w->per_day_withdrawn_ore, "amount_ore",
		                        (json_int_t)w->amount_ore)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

/* The identity and period members every statement starts with. */
static json_t *statement_head(const json_t *item, char err[STATEMENT_ERROR_SIZE])
{
	const json_t *resident = json_object_get(item, "resident");
	const json_t *id = json_object_get(resident, "id");
	const json_t *start = json_object_get(item, "period_start");
	const json_t *end = json_object_get(item, "period_end");
	if (!json_is_integer(id) || !json_is_string(start) || !json_is_string(end)) {
		failf(err, "facts without resident id or period");
		return NULL;
	}
	json_t *head = json_object();
	if (!head)
		return NULL;
	const char *const copied[] = {"case_number", "given_name", "family_name"};
	bool ok = json_object_set_new(head, "resident", json_integer(json_integer_value(id))) == 0;
	for (size_t i = 0; ok && i < sizeof copied / sizeof copied[0]; i++) {
		const json_t *value = json_object_get(resident, copied[i]);
		ok = json_object_set_new(head, copied[i],
		                         value ? json_deep_copy(value) : json_null()) == 0;
	}
	const json_t *centre = json_object_get(item, "centre");
	ok = ok && json_object_set_new(head, "centre",
	                               centre ? json_deep_copy(centre) : json_null()) == 0;
	ok = ok && json_object_set_new(head, "period_start", json_deep_copy(start)) == 0 &&
	     json_object_set_new(head, "period_end", json_deep_copy(end)) == 0;
	if (!ok) {
		json_decref(head);
		failf(err, "out of memory");
		return NULL;
	}
	return head;
}

/* What a period is worth now: its facts' net amount or, for a paid period nothing has changed
 * since (allowance_paid_periods() in schema/code/allowances.sql), "worth_ore", its payout's net
 * amount, which PostgreSQL gives instead of recomputing the facts. */
static bool period_worth(const json_t *entry, int64_t *worth, char err[STATEMENT_ERROR_SIZE])
{
	const json_t *facts = json_object_get(entry, "facts");
	if (facts && !json_is_null(facts)) {
		struct allowance_statement st;
		if (!compute_facts(facts, &st, err))
			return false;
		*worth = st.net_ore;
		return true;
	}
	if (!get_int(entry, "worth_ore", 0, INT64_MAX, worth))
		return failf(err, "a period with neither facts nor worth_ore");
	return true;
}

/* Totals of a statement as paid, read back from its own JSON. */
static void totals_from_paid(const json_t *paid, struct statement_totals *t)
{
	int64_t n;
	memset(t, 0, sizeof *t);
	t->paid = true;
	if (get_int(paid, "payable_days", 0, ALLOWANCE_MAX_DAYS, &n))
		t->payable_days = (int)n;
	size_t i;
	const json_t *line;
	json_array_foreach(json_object_get(paid, "lines"), i, line)
	{
		enum allowance_kind kind;
		int64_t days, amount;
		if (!allowance_kind_parse(json_string_value(json_object_get(line, "kind")),
		                          &kind) ||
		    !get_int(line, "days", 0, ALLOWANCE_MAX_DAYS, &days) ||
		    !get_int(line, "amount_ore", 0, INT64_MAX, &amount))
			continue;
		t->days[kind] += (int)days;
		t->amount_ore[kind] += amount;
	}
	if (get_int(paid, "withdrawn_ore", 0, INT64_MAX, &n))
		t->withdrawn_ore = n;
	if (get_int(paid, "adjustment_ore", INT64_MIN, INT64_MAX, &n))
		t->adjustment_ore = n;
	if (get_int(paid, "total_ore", 0, INT64_MAX, &n))
		t->total_ore = n;
}

/* A paid period: the statement as paid, its payout, and what a correction would carry. */
static json_t *build_paid(const json_t *item, const json_t *payout, struct statement_totals *totals,
                          char err[STATEMENT_ERROR_SIZE])
{
	const json_t *paid = json_object_get(payout, "statement");
	int64_t settled, worth;
	if (!json_is_object(paid) ||
	    !get_int(item, "settled_ore", INT64_MIN, INT64_MAX, &settled)) {
		failf(err, "a payout without its statement or settled amount");
		return NULL;
	}
	if (!period_worth(item, &worth, err))
		return NULL;
	json_t *statement = json_deep_copy(paid);
	json_t *shown = json_deep_copy(payout);
	if (!statement || !shown) {
		json_decref(statement);
		json_decref(shown);
		failf(err, "out of memory");
		return NULL;
	}
	/* The payout is shown without the statement it carries: that is the document itself. */
	(void)json_object_del(shown, "statement");
	if (json_object_set_new(statement, "payout", shown) != 0) {
		json_decref(statement);
		failf(err, "out of memory");
		return NULL;
	}
	if (json_object_set_new(statement, "correction_ore",
	                        json_integer((json_int_t)(worth - settled))) != 0) {
		json_decref(statement);
		failf(err, "out of memory");
		return NULL;
	}
	if (totals)
		totals_from_paid(paid, totals);
	return statement;
}

/* The corrections of the earlier paid periods: what each is worth now minus what it is settled
 * at. Fills periods[] (borrowed strings) and settled[]; returns the count or -1. */
static int earlier_corrections(const json_t *earlier, const char **periods, int64_t *corrections,
                               int64_t *settled, char err[STATEMENT_ERROR_SIZE])
{
	if (!earlier || json_is_null(earlier))
		return 0;
	if (!json_is_array(earlier) || json_array_size(earlier) > MAX_EARLIER) {
		failf(err, "earlier periods are not a list of at most %d", MAX_EARLIER);
		return -1;
	}
	size_t i;
	const json_t *e;
	json_array_foreach(earlier, i, e)
	{
		int64_t worth = 0; /* set by period_worth(); gcc -O3 cannot see it */
		periods[i] = json_string_value(json_object_get(e, "period_start"));
		if (!periods[i] || !get_int(e, "settled_ore", INT64_MIN, INT64_MAX, &settled[i])) {
			failf(err, "earlier period %zu without period_start or settled_ore", i);
			return -1;
		}
		if (!period_worth(e, &worth, err))
			return -1;
		corrections[i] = worth - settled[i];
	}
	return (int)json_array_size(earlier);
}

/* An unpaid statement's figures for the export's totals (statement_totals in statement.h). */
static void fill_totals(struct statement_totals *totals, const struct allowance_statement *st,
                        int64_t adjustment, int64_t total)
{
	memset(totals, 0, sizeof *totals);
	totals->payable_days = st->payable_days;
	for (size_t i = 0; i < st->line_count; i++) {
		totals->days[st->lines[i].kind] += st->lines[i].days;
		totals->amount_ore[st->lines[i].kind] += st->lines[i].amount_ore;
	}
	totals->withdrawn_ore = st->withdrawn_ore;
	totals->adjustment_ore = adjustment;
	totals->total_ore = total;
}

static json_t *build_unpaid(const json_t *item, struct statement_totals *totals,
                            json_t **payout_args, char err[STATEMENT_ERROR_SIZE])
{
	struct allowance_statement st;
	const char *periods[MAX_EARLIER];
	int64_t corrections[MAX_EARLIER], settled[MAX_EARLIER], applied[MAX_EARLIER];
	if (!compute_facts(json_object_get(item, "facts"), &st, err))
		return NULL;
	int n = earlier_corrections(json_object_get(item, "earlier"), periods, corrections, settled,
	                            err);
	if (n < 0)
		return NULL;
	int64_t adjustment =
	    allowance_apply_corrections(st.net_ore, corrections, (size_t)n, applied);
	int64_t pending = 0;
	for (int i = 0; i < n; i++)
		pending += corrections[i] - applied[i];
	int64_t total = st.net_ore + adjustment;

	json_t *statement = statement_head(item, err);
	json_t *adjustments = json_array();
	json_t *basis = json_array();
	bool ok = statement && adjustments && basis;
	for (int i = 0; ok && i < n; i++) {
		ok = json_array_append_new(basis,
		                           json_pack("{s:s, s:I}", "period_start", periods[i],
		                                     "settled_ore", (json_int_t)settled[i])) == 0;
		if (ok && applied[i] != 0) {
			ok = json_array_append_new(
			         adjustments, json_pack("{s:s, s:I}", "period_start", periods[i],
			                                "amount_ore", (json_int_t)applied[i])) == 0;
		}
	}
	ok = ok &&
	     json_object_set_new(statement, "payable_days", json_integer(st.payable_days)) == 0 &&
	     json_object_set_new(statement, "lines", lines_json(&st)) == 0 &&
	     json_object_set_new(statement, "withdrawals", withdrawals_json(&st)) == 0 &&
	     json_object_set_new(statement, "withdrawn_ore",
	                         json_integer((json_int_t)st.withdrawn_ore)) == 0 &&
	     json_object_set_new(statement, "adjustment_ore",
	                         json_integer((json_int_t)adjustment)) == 0 &&
	     json_object_set(statement, "adjustments", adjustments) == 0 &&
	     json_object_set_new(statement, "pending_correction_ore",
	                         json_integer((json_int_t)pending)) == 0 &&
	     json_object_set_new(statement, "total_ore", json_integer((json_int_t)total)) == 0 &&
	     json_object_set_new(statement, "payout", json_null()) == 0;
	if (ok && payout_args) {
		json_t *snapshot = json_deep_copy(statement);
		/* The change counters as of these facts go with the payout (null: the facts
		 * depend on the clock), so that later statements can tell it is unchanged. */
		const json_t *inputs = json_object_get(item, "inputs");
		*payout_args = json_pack(
		    "{s:o, s:I, s:I, s:I, s:O, s:O, s:o}", "statement", snapshot, "amount_ore",
		    (json_int_t)total, "net_ore", (json_int_t)st.net_ore, "adjustment_ore",
		    (json_int_t)adjustment, "corrections", adjustments, "basis", basis, "inputs",
		    json_is_object(inputs) ? json_deep_copy(inputs) : json_null());
		ok = *payout_args != NULL;
	}
	json_decref(adjustments);
	json_decref(basis);
	if (!ok) {
		json_decref(statement);
		if (err[0] == '\0')
			failf(err, "out of memory");
		return NULL;
	}
	if (totals)
		fill_totals(totals, &st, adjustment, total);
	return statement;
}

json_t *statement_build(const json_t *item, struct statement_totals *totals, json_t **payout_args,
                        char err[STATEMENT_ERROR_SIZE])
{
	err[0] = '\0';
	if (payout_args)
		*payout_args = NULL;
	if (!json_is_object(item)) {
		failf(err, "the facts are not an object");
		return NULL;
	}
	const json_t *payout = json_object_get(item, "payout");
	if (json_is_object(payout))
		return build_paid(item, payout, totals, err);
	return build_unpaid(item, totals, payout_args, err);
}

/* ---- text and CSV ---- */

bool statement_text_append(struct statement_text *text, const char *data, size_t len)
{
	if (text->len + len + 1 > text->cap) {
		size_t cap = text->cap ? text->cap : 4096;
		while (cap < text->len + len + 1)
			cap *= 2;
		char *grown = realloc(text->data, cap);
		if (!grown)
			return false;
		text->data = grown;
		text->cap = cap;
	}
	memcpy(text->data + text->len, data, len);
	text->len += len;
	text->data[text->len] = '\0';
	return true;
}

void statement_text_reset(struct statement_text *text)
{
	text->len = 0;
	if (text->data)
		text->data[0] = '\0';
}

void statement_text_free(struct statement_text *text)
{
	free(text->data);
	text->data = NULL;
	text->len = text->cap = 0;
}

static const char *const csv_columns[] = {
    "period_start",
    "period_end",
    "centre",
    "resident",
    "case_number",
    "family_name",
    "given_name",
    "payable_days",
    "base_days",
    "base_ore",
    "base_kr",
    "supplement_phase1_days",
    "supplement_phase1_ore",
    "supplement_phase1_kr",
    "supplement_phase2_days",
    "supplement_phase2_ore",
    "supplement_phase2_kr",
    "withdrawn_ore",
    "withdrawn_kr",
    "adjustment_ore",
    "adjustment_kr",
    "total_ore",
    "total_kr",
    "paid_at",
    "collected_by",
};
#define CSV_COLUMN_COUNT (sizeof csv_columns / sizeof csv_columns[0])

static bool csv_raw(struct statement_text *out, bool first, const char *value)
{
	static const char separator = STATEMENT_CSV_SEPARATOR;
	return (first || statement_text_append(out, &separator, 1)) &&
	       statement_text_append(out, value, strlen(value));
}

/* A text cell: quoted (quotes doubled) when it holds the separator, a quote, a line break or
 * surrounding space; a leading = + - @ gets an apostrophe so that a spreadsheet opening the
 * file never takes a resident's name for a formula. */
static bool csv_text(struct statement_text *out, bool first, const char *value)
{
	static const char separator = STATEMENT_CSV_SEPARATOR;
	if (!value)
		value = "";
	size_t len = strlen(value);
	bool quote = strpbrk(value, ";\",\r\n") != NULL ||
	             (len > 0 && (value[0] == ' ' || value[len - 1] == ' '));
	bool guard = len > 0 && strchr("=+-@\t", value[0]) != NULL;
	if (!first && !statement_text_append(out, &separator, 1))
		return false;
	if (quote && !statement_text_append(out, "\"", 1))
		return false;
	if (guard && !statement_text_append(out, "'", 1))
		return false;
	for (const char *p = value; *p; p++) {
		if (*p == '"' && !statement_text_append(out, "\"", 1))
			return false;
		if (!statement_text_append(out, p, 1))
			return false;
	}
	return !quote || statement_text_append(out, "\"", 1);
}

static bool csv_int(struct statement_text *out, int64_t value)
{
	char text[32];
	snprintf(text, sizeof text, "%lld", (long long)value);
	return csv_raw(out, false, text);
}

/* Øre, then kroner. */
static bool csv_amount(struct statement_text *out, int64_t ore)
{
	char kroner[ALLOWANCE_KRONER_SIZE];
	allowance_format_kroner(ore, kroner);
	return csv_int(out, ore) && csv_raw(out, false, kroner);
}

bool statement_csv_header(struct statement_text *out)
{
	for (size_t i = 0; i < CSV_COLUMN_COUNT; i++)
		if (!csv_raw(out, i == 0, csv_columns[i]))
			return false;
	return statement_text_append(out, "\r\n", 2);
}

static const char *str_member(const json_t *object, const char *key)
{
	const char *value = json_string_value(json_object_get(object, key));
	return value ? value : "";
}

bool statement_csv_row(struct statement_text *out, const json_t *statement,
                       const struct statement_totals *t)
{
	const json_t *payout = json_object_get(statement, "payout");
	json_int_t resident = json_integer_value(json_object_get(statement, "resident"));
	bool ok = csv_raw(out, true, str_member(statement, "period_start")) &&
	          csv_raw(out, false, str_member(statement, "period_end")) &&
	          csv_text(out, false, str_member(statement, "centre")) &&
	          csv_int(out, (int64_t)resident) &&
	          csv_text(out, false, str_member(statement, "case_number")) &&
	          csv_text(out, false, str_member(statement, "family_name")) &&
	          csv_text(out, false, str_member(statement, "given_name")) &&
	          csv_int(out, t->payable_days);
	for (int k = 0; ok && k < ALLOWANCE_KIND_COUNT; k++)
		ok = csv_int(out, t->days[k]) && csv_amount(out, t->amount_ore[k]);
	ok = ok && csv_amount(out, t->withdrawn_ore) && csv_amount(out, t->adjustment_ore) &&
	     csv_amount(out, t->total_ore) &&
	     csv_raw(out, false, json_is_object(payout) ? str_member(payout, "paid_at") : "") &&
	     csv_text(out, false,
	              json_is_object(payout) ? str_member(payout, "collected_by") : "") &&
	     statement_text_append(out, "\r\n", 2);
	return ok;
}
