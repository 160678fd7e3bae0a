/* Unit tests of the allowance arithmetic (daemon/allowance.c) and of statements built from facts
 * (daemon/statement.c): SPEC section 9's worked examples, rounding at exactly half an øre, the
 * base allowance untouched by sanctions, corrections carried into a later period, the finance
 * CSV, and a property test that a period's total is the sum of its days. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allowance.h"
#include "statement.h"

#define BASE_ORE 5841
#define PHASE1_ORE 975
#define PHASE2_ORE 3408

static struct allowance_statement compute(const struct allowance_group *groups, size_t count,
                                          int payable_days)
{
	struct allowance_statement st;
	assert_int_equal(allowance_compute(groups, count, payable_days, &st), ALLOWANCE_OK);
	return st;
}

/* SPEC section 9: phase 2, no free meals, the whole period, never absent: 1.294,86 kr. */
static void test_example_phase2_without_free_meals(void **state)
{
	(void)state;
	const struct allowance_group groups[] = {
	    {ALLOWANCE_BASE, BASE_ORE, 0, 14},
	    {ALLOWANCE_SUPPLEMENT_PHASE2, PHASE2_ORE, 0, 14},
	};
	struct allowance_statement st = compute(groups, 2, 14);
	assert_int_equal(st.net_ore, 129486);
	assert_int_equal(st.gross_ore, 129486);
	assert_int_equal(st.withdrawn_ore, 0);
	assert_int_equal(st.line_count, 2);
	assert_int_equal(st.lines[0].amount_ore, 81774); /* 817,74 kr. per period */
	assert_int_equal(st.lines[1].amount_ore, 47712);
	assert_int_equal(st.payable_days, 14);
}

/* SPEC section 9: the same at a centre with free meals: 477,12 kr. */
static void test_example_phase2_with_free_meals(void **state)
{
	(void)state;
	const struct allowance_group groups[] = {
	    {ALLOWANCE_SUPPLEMENT_PHASE2, PHASE2_ORE, 0, 14},
	};
	struct allowance_statement st = compute(groups, 1, 14);
	assert_int_equal(st.net_ore, 47712);
}

/* SPEC section 9: 50 % of the phase 1 supplement on 4 days withdraws 4 x 4,88 = 19,52 kr. */
static void test_example_sanction_half_phase1_four_days(void **state)
{
	(void)state;
	const struct allowance_group groups[] = {
	    {ALLOWANCE_BASE, BASE_ORE, 0, 14},
	    {ALLOWANCE_SUPPLEMENT_PHASE1, PHASE1_ORE, 0, 10},
	    {ALLOWANCE_SUPPLEMENT_PHASE1, PHASE1_ORE, 50, 4},
	};
	struct allowance_statement st = compute(groups, 3, 14);
	assert_int_equal(st.withdrawn_ore, 1952);
	assert_int_equal(st.withdrawal_count, 1);
	assert_int_equal(st.withdrawals[0].per_day_withdrawn_ore, 488);
	assert_int_equal(st.withdrawals[0].days, 4);
	/* One line for the supplement: sanctions do not split the rate's line. */
	assert_int_equal(st.line_count, 2);
	assert_int_equal(st.lines[1].days, 14);
	assert_int_equal(st.lines[1].amount_ore, 13650);
	assert_int_equal(st.net_ore, 81774 + 13650 - 1952);
}

/* Rounding half up happens at exactly half an øre, and only there. */
static void test_rounding_half_up_at_exactly_half(void **state)
{
	(void)state;
	assert_int_equal(allowance_withdrawal_per_day(975, 50), 488); /* 487.5 */
	assert_int_equal(allowance_withdrawal_per_day(1, 50), 1);     /* 0.5 */
	assert_int_equal(allowance_withdrawal_per_day(3, 50), 2);     /* 1.5 */
	assert_int_equal(allowance_withdrawal_per_day(99, 50), 50);   /* 49.5 */
	assert_int_equal(allowance_withdrawal_per_day(1, 49), 0);     /* 0.49 */
	assert_int_equal(allowance_withdrawal_per_day(3, 17), 1);     /* 0.51 */
	assert_int_equal(allowance_withdrawal_per_day(10, 25), 3);    /* 2.5 */
	assert_int_equal(allowance_withdrawal_per_day(10, 24), 2);    /* 2.4 */
	assert_int_equal(allowance_withdrawal_per_day(3408, 100), 3408);
	assert_int_equal(allowance_withdrawal_per_day(3408, 0), 0);
	assert_int_equal(allowance_withdrawal_per_day(975, 1), 10); /* 9.75 */
}

/* A sanction never touches the base allowance, even when the facts carry a percentage. */
static void test_sanction_never_touches_base(void **state)
{
	(void)state;
	const struct allowance_group groups[] = {
	    {ALLOWANCE_BASE, BASE_ORE, 100, 14},
	    {ALLOWANCE_SUPPLEMENT_PHASE1, PHASE1_ORE, 100, 14},
	};
	struct allowance_statement st = compute(groups, 2, 14);
	assert_int_equal(st.withdrawn_ore, 14 * PHASE1_ORE);
	assert_int_equal(st.net_ore, 14 * BASE_ORE);
	assert_int_equal(st.withdrawal_count, 1);
	assert_int_equal(st.withdrawals[0].kind, ALLOWANCE_SUPPLEMENT_PHASE1);
}

/* A rate change mid-period gives one line per rate, in the order the days come. */
static void test_rate_change_gives_two_lines(void **state)
{
	(void)state;
	const struct allowance_group groups[] = {
	    {ALLOWANCE_BASE, BASE_ORE, 0, 7},
	    {ALLOWANCE_BASE, 6000, 0, 7},
	    {ALLOWANCE_SUPPLEMENT_PHASE1, PHASE1_ORE, 0, 3},
	    {ALLOWANCE_SUPPLEMENT_PHASE2, PHASE2_ORE, 0, 11},
	};
	struct allowance_statement st = compute(groups, 4, 14);
	assert_int_equal(st.line_count, 4);
	assert_int_equal(st.lines[0].per_day_ore, BASE_ORE);
	assert_int_equal(st.lines[1].per_day_ore, 6000);
	assert_int_equal(st.net_ore, 7 * BASE_ORE + 7 * 6000 + 3 * PHASE1_ORE + 11 * PHASE2_ORE);
}

static void test_refuses_bad_facts(void **state)
{
	(void)state;
	struct allowance_statement st;
	struct allowance_group g = {ALLOWANCE_BASE, -1, 0, 1};
	assert_int_equal(allowance_compute(&g, 1, 1, &st), ALLOWANCE_BAD_RATE);
	g = (struct allowance_group){ALLOWANCE_SUPPLEMENT_PHASE1, 975, 101, 1};
	assert_int_equal(allowance_compute(&g, 1, 1, &st), ALLOWANCE_BAD_PERCENT);
	g = (struct allowance_group){ALLOWANCE_SUPPLEMENT_PHASE1, 975, 0, -2};
	assert_int_equal(allowance_compute(&g, 1, 1, &st), ALLOWANCE_BAD_DAYS);
	g = (struct allowance_group){(enum allowance_kind)7, 975, 0, 1};
	assert_int_equal(allowance_compute(&g, 1, 1, &st), ALLOWANCE_BAD_KIND);
	assert_int_equal(allowance_compute(&g, ALLOWANCE_MAX_GROUPS + 1, 1, &st),
	                 ALLOWANCE_TOO_MANY_GROUPS);
	assert_int_equal(st.net_ore, 0);
	assert_int_equal(st.line_count, 0);
	/* The largest accepted figures do not overflow. */
	g = (struct allowance_group){ALLOWANCE_SUPPLEMENT_PHASE2, ALLOWANCE_MAX_PER_DAY_ORE, 100,
	                             ALLOWANCE_MAX_DAYS};
	assert_int_equal(allowance_compute(&g, 1, ALLOWANCE_MAX_DAYS, &st), ALLOWANCE_OK);
	assert_int_equal(st.net_ore, 0);
}

static void test_kind_names(void **state)
{
	(void)state;
	enum allowance_kind kind;
	for (int k = 0; k < ALLOWANCE_KIND_COUNT; k++) {
		assert_true(
		    allowance_kind_parse(allowance_kind_name((enum allowance_kind)k), &kind));
		assert_int_equal(kind, k);
	}
	assert_false(allowance_kind_parse("supplement_phase3", &kind));
	assert_false(allowance_kind_parse(NULL, &kind));
	assert_false(allowance_kind_is_supplement(ALLOWANCE_BASE));
	assert_true(allowance_kind_is_supplement(ALLOWANCE_SUPPLEMENT_PHASE2));
}

static void test_corrections(void **state)
{
	(void)state;
	int64_t applied[3];
	/* An increase is paid in full; a decrease within the period's amount too. */
	const int64_t up_down[] = {500, -300};
	assert_int_equal(allowance_apply_corrections(1000, up_down, 2, applied), 200);
	assert_int_equal(applied[0], 500);
	assert_int_equal(applied[1], -300);
	/* A decrease larger than the period: the total stops at zero, oldest first. */
	const int64_t down[] = {-700, -600, 100};
	assert_int_equal(allowance_apply_corrections(1000, down, 3, applied), -1000);
	assert_int_equal(applied[0], -700);
	assert_int_equal(applied[1], -400);
	assert_int_equal(applied[2], 100);
	/* A period worth nothing takes no decrease. */
	const int64_t only_down[] = {-50};
	assert_int_equal(allowance_apply_corrections(0, only_down, 1, applied), 0);
	assert_int_equal(applied[0], 0);
	assert_int_equal(allowance_apply_corrections(1000, NULL, 0, applied), 0);
}

static void test_format_kroner(void **state)
{
	(void)state;
	char text[ALLOWANCE_KRONER_SIZE];
	allowance_format_kroner(129486, text);
	assert_string_equal(text, "1294,86");
	allowance_format_kroner(47712, text);
	assert_string_equal(text, "477,12");
	allowance_format_kroner(0, text);
	assert_string_equal(text, "0,00");
	allowance_format_kroner(-5, text);
	assert_string_equal(text, "-0,05");
	allowance_format_kroner(-1952, text);
	assert_string_equal(text, "-19,52");
	allowance_format_kroner(INT64_MIN, text);
	assert_string_equal(text, "-92233720368547758,08");
}

/* A small deterministic generator: the property test must fail the same way every run. */
static uint64_t rng_state = 0x2026010520260118ULL;
static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng_state >> 33) % n);
}

/* Property: for random periods of 14 days (payable or not, meals or not, any phase, rates
 * changing, any sanction percentage) the statement computed from grouped facts equals the sum
 * of each day computed on its own. */
static void test_property_total_is_sum_of_days(void **state)
{
	(void)state;
	static const int64_t base_rates[] = {BASE_ORE, 6000, 1};
	static const int64_t phase1_rates[] = {PHASE1_ORE, 1001, 3};
	static const int64_t phase2_rates[] = {PHASE2_ORE, 3333, 99};
	static const int percents[] = {0, 0, 0, 50, 100, 1, 33, 25, 99, 17};
	for (int run = 0; run < 20000; run++) {
		struct allowance_group groups[ALLOWANCE_MAX_GROUPS];
		size_t count = 0;
		int payable = 0;
		int64_t expected = 0, expected_withdrawn = 0;
		for (int day = 0; day < 14; day++) {
			if (rnd(5) == 0)
				continue; /* not payable: absent, not enrolled or 18 */
			payable++;
			struct allowance_group today[2];
			size_t n = 0;
			if (rnd(2))
				today[n++] = (struct allowance_group){
				    ALLOWANCE_BASE, base_rates[rnd(3)], percents[rnd(10)], 1};
			unsigned phase = rnd(3) + 1;
			if (phase < 3) {
				int64_t rate =
				    phase == 1 ? phase1_rates[rnd(3)] : phase2_rates[rnd(3)];
				today[n++] = (struct allowance_group){
				    phase == 1 ? ALLOWANCE_SUPPLEMENT_PHASE1
				               : ALLOWANCE_SUPPLEMENT_PHASE2,
				    rate, percents[rnd(10)], 1};
			}
			for (size_t i = 0; i < n; i++) {
				expected += today[i].per_day_ore;
				if (today[i].kind != ALLOWANCE_BASE) {
					int64_t w = allowance_withdrawal_per_day(
					    today[i].per_day_ore, today[i].percent);
					expected -= w;
					expected_withdrawn += w;
				}
				/* Group as PostgreSQL does: same kind, rate and percentage. */
				size_t g = 0;
				while (g < count &&
				       !(groups[g].kind == today[i].kind &&
				         groups[g].per_day_ore == today[i].per_day_ore &&
				         groups[g].percent == today[i].percent))
					g++;
				if (g == count)
					groups[count++] = today[i];
				else
					groups[g].days++;
			}
		}
		/* Groups arrive in any order. */
		for (size_t i = count; i > 1; i--) {
			size_t j = rnd((unsigned)i);
			struct allowance_group t = groups[i - 1];
			groups[i - 1] = groups[j];
			groups[j] = t;
		}
		struct allowance_statement st = compute(groups, count, payable);
		assert_int_equal(st.net_ore, expected);
		assert_int_equal(st.withdrawn_ore, expected_withdrawn);
		assert_int_equal(st.payable_days, payable);
		int64_t lines = 0;
		for (size_t i = 0; i < st.line_count; i++)
			lines += st.lines[i].amount_ore;
		assert_int_equal(lines, st.gross_ore);
		assert_true(st.net_ore >= 0);
	}
}

/* ---- statements from facts ---- */

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *value = json_loads(text, 0, &jerr);
	if (!value)
		fail_msg("bad test JSON: %s", jerr.text);
	return value;
}

static const char UNPAID_FACTS[] =
    "{\"resident\":{\"id\":7,\"case_number\":\"B-7\",\"given_name\":\"Amina\","
    "\"family_name\":\"Test; \\\"Q\\\"\"},\"centre\":\"tonder\",\"period_start\":"
    "\"2026-01-19\",\"period_end\":\"2026-02-01\",\"facts\":{\"payable_days\":14,\"groups\":"
    "\"base 5841 0 14,supplement_phase1 975 0 10,supplement_phase1 975 50 4\"},"
    "\"payout\":null,\"settled_ore\":null,\"earlier\":[{\"period_start\":\"2026-01-05\","
    "\"facts\":{\"payable_days\":12,\"groups\":\"base 5841 0 12,supplement_phase1 975 0 12\"},"
    "\"settled_ore\":95424}]}";

static void test_statement_unpaid_with_correction(void **state)
{
	(void)state;
	json_t *item = load(UNPAID_FACTS);
	char err[STATEMENT_ERROR_SIZE];
	struct statement_totals totals;
	json_t *payout_args = NULL;
	json_t *st = statement_build(item, &totals, &payout_args, err);
	assert_non_null(st);
	/* The earlier period was paid for 14 days (95424) and is worth 12 days now: -13632. */
	int64_t net = 14 * 5841 + 14 * 975 - 4 * 488;
	assert_int_equal(json_integer_value(json_object_get(st, "adjustment_ore")), -13632);
	assert_int_equal(json_integer_value(json_object_get(st, "total_ore")), net - 13632);
	assert_int_equal(json_integer_value(json_object_get(st, "withdrawn_ore")), 1952);
	assert_int_equal(json_integer_value(json_object_get(st, "payable_days")), 14);
	assert_int_equal(json_array_size(json_object_get(st, "lines")), 2);
	assert_true(json_is_null(json_object_get(st, "payout")));
	assert_int_equal(totals.total_ore, net - 13632);
	assert_int_equal(totals.days[ALLOWANCE_SUPPLEMENT_PHASE1], 14);
	assert_non_null(payout_args);
	assert_int_equal(json_integer_value(json_object_get(payout_args, "net_ore")), net);
	assert_int_equal(json_integer_value(json_object_get(payout_args, "amount_ore")),
	                 net - 13632);
	const json_t *corr = json_array_get(json_object_get(payout_args, "corrections"), 0);
	assert_string_equal(json_string_value(json_object_get(corr, "period_start")), "2026-01-05");
	assert_int_equal(json_integer_value(json_object_get(corr, "amount_ore")), -13632);
	const json_t *basis = json_array_get(json_object_get(payout_args, "basis"), 0);
	assert_int_equal(json_integer_value(json_object_get(basis, "settled_ore")), 95424);

	struct statement_text text = {0};
	assert_true(statement_csv_header(&text));
	assert_true(statement_csv_row(&text, st, &totals));
	const char *row = strstr(text.data, "\r\n") + 2;
	assert_string_equal(row, "2026-01-19;2026-02-01;tonder;7;B-7;\"Test; \"\"Q\"\"\";Amina;14;"
	                         "14;81774;817,74;14;13650;136,50;0;0;0,00;1952;19,52;-13632;"
	                         "-136,32;79840;798,40;;\r\n");
	statement_text_free(&text);
	json_decref(payout_args);
	json_decref(st);
	json_decref(item);
}

static void test_statement_paid_shows_what_was_paid(void **state)
{
	(void)state;
	json_t *item = load(
	    "{\"resident\":{\"id\":7,\"case_number\":\"=B7\",\"given_name\":\"A\","
	    "\"family_name\":\"T\"},\"centre\":\"tonder\",\"period_start\":\"2026-01-05\","
	    "\"period_end\":\"2026-01-18\",\"facts\":{\"payable_days\":12,\"groups\":"
	    "\"supplement_phase2 3408 0 12\"},\"settled_ore\":47712,\"payout\":{\"id\":3,"
	    "\"collected_by\":\"self\",\"paid_at\":\"2026-01-18T10:00:00+00:00\","
	    "\"amount_ore\":47712,\"statement\":{\"resident\":7,\"case_number\":\"=B7\","
	    "\"period_start\":\"2026-01-05\",\"period_end\":\"2026-01-18\",\"payable_days\":14,"
	    "\"lines\":[{\"kind\":\"supplement_phase2\",\"per_day_ore\":3408,\"days\":14,"
	    "\"amount_ore\":47712}],\"withdrawn_ore\":0,\"adjustment_ore\":0,"
	    "\"total_ore\":47712,\"payout\":null}},\"earlier\":null}");
	char err[STATEMENT_ERROR_SIZE];
	struct statement_totals totals;
	json_t *payout_args = (json_t *)1;
	json_t *st = statement_build(item, &totals, &payout_args, err);
	assert_non_null(st);
	assert_null(payout_args);
	/* The money paid does not change; the two days found later are a correction. */
	assert_int_equal(json_integer_value(json_object_get(st, "total_ore")), 47712);
	assert_int_equal(json_integer_value(json_object_get(st, "payable_days")), 14);
	assert_int_equal(json_integer_value(json_object_get(st, "correction_ore")), -6816);
	const json_t *payout = json_object_get(st, "payout");
	assert_true(json_is_object(payout));
	assert_null(json_object_get(payout, "statement"));
	assert_true(totals.paid);
	assert_int_equal(totals.total_ore, 47712);
	assert_int_equal(totals.days[ALLOWANCE_SUPPLEMENT_PHASE2], 14);

	struct statement_text text = {0};
	assert_true(statement_csv_row(&text, st, &totals));
	/* A case number starting with '=' cannot become a spreadsheet formula. */
	assert_non_null(strstr(text.data, ";'=B7;"));
	assert_non_null(strstr(text.data, ";2026-01-18T10:00:00+00:00;self\r\n"));
	statement_text_free(&text);
	json_decref(st);
	json_decref(item);
}

static void test_statement_refuses_malformed_facts(void **state)
{
	(void)state;
	const char *const bad[] = {
	    "[]",
	    "{\"resident\":{\"id\":1},\"period_start\":\"2026-01-05\",\"period_end\":\"x\"}",
	    "{\"resident\":{\"id\":1},\"period_start\":\"2026-01-05\",\"period_end\":\"x\","
	    "\"facts\":{\"payable_days\":1,\"groups\":\"base 5841 0\"}}",
	    "{\"resident\":{\"id\":1},\"period_start\":\"2026-01-05\",\"period_end\":\"x\","
	    "\"facts\":{\"payable_days\":1,\"groups\":\"pocket 5841 0 1\"}}",
	    "{\"resident\":{\"id\":1},\"period_start\":\"2026-01-05\",\"period_end\":\"x\","
	    "\"facts\":{\"payable_days\":1,\"groups\":\"base 5841 101 1\"}}",
	    "{\"resident\":{\"id\":1},\"period_start\":\"2026-01-05\",\"period_end\":\"x\","
	    "\"facts\":{\"payable_days\":1,\"groups\":\"base 5841 0 1,\"}}",
	    "{\"resident\":{\"id\":1},\"period_start\":\"2026-01-05\",\"period_end\":\"x\","
	    "\"facts\":{\"payable_days\":1,\"groups\":\"base 5841 0 1x\"}}",
	    "{\"resident\":{\"id\":1},\"period_start\":\"2026-01-05\",\"period_end\":\"x\","
	    "\"facts\":{\"payable_days\":1,\"groups\":\"\"},\"payout\":{\"id\":1}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *item = load(bad[i]);
		char err[STATEMENT_ERROR_SIZE];
		json_t *args = NULL;
		assert_null(statement_build(item, NULL, &args, err));
		assert_null(args);
		assert_true(err[0] != '\0');
		json_decref(item);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_example_phase2_without_free_meals),
	    cmocka_unit_test(test_example_phase2_with_free_meals),
	    cmocka_unit_test(test_example_sanction_half_phase1_four_days),
	    cmocka_unit_test(test_rounding_half_up_at_exactly_half),
	    cmocka_unit_test(test_sanction_never_touches_base),
	    cmocka_unit_test(test_rate_change_gives_two_lines),
	    cmocka_unit_test(test_refuses_bad_facts),
	    cmocka_unit_test(test_kind_names),
	    cmocka_unit_test(test_corrections),
	    cmocka_unit_test(test_format_kroner),
	    cmocka_unit_test(test_property_total_is_sum_of_days),
	    cmocka_unit_test(test_statement_unpaid_with_correction),
	    cmocka_unit_test(test_statement_paid_shows_what_was_paid),
	    cmocka_unit_test(test_statement_refuses_malformed_facts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
