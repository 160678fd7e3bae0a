/* Cash allowances: `statement` (one resident and period), `payout`, and `statements` (a centre's
 * period, as a table or as the server's CSV streamed unchanged). Amounts stay integer øre until
 * format_ore writes them as kroner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv_local.h"
#include "dates.h"
#include "format.h"
#include "json_get.h"
#include "resolve.h"
#include "session.h"
#include "zone.h"

#define PERIOD_DAYS 14

static const struct {
	const char *kind;
	const char *words;
} line_kinds[] = {
    {"base", "base allowance"},
    {"supplement_phase1", "supplement, phase 1"},
    {"supplement_phase2", "supplement, phase 2"},
};

static const char *kind_words(const char *kind)
{
	for (size_t i = 0; i < sizeof(line_kinds) / sizeof(line_kinds[0]); i++)
		if (kind != NULL && strcmp(line_kinds[i].kind, kind) == 0)
			return line_kinds[i].words;
	return kind ? kind : "";
}

/* An amount member in kroner ("1.294,86"), or "" when missing or not an integer. */
static char *amount_text(const json_t *object, const char *key, char out[FORMAT_ORE_SIZE])
{
	const json_t *value = json_object_get(object, key);
	out[0] = '\0';
	if (json_is_integer(value))
		format_ore((int64_t)json_integer_value(value), out);
	return out;
}

/* Checks PERIOD_START and finds the resident: enrolled on the first or last day of the period,
 * or today (a resident who arrived mid-period or has since left is still found). */
static int resident_for_period(struct session *session, const struct cmd_args *args,
                               const char *case_number, const char *period_text, long long *id,
                               json_t **resident_out, struct centre_ref *centre)
{
	struct date dates[2];
	if (!date_parse(period_text, &dates[0]))
		return usage_error(args, "'%s' is not a date (YYYY-MM-DD)", period_text);
	date_add_days(&dates[0], PERIOD_DAYS - 1, &dates[1]);

	json_t *resident = NULL;
	int rc = resolve_resident(session, args, case_number, dates, 2, &resident);
	if (rc != RC_OK)
		return rc;
	(void)jget_int(resident, "id", id);
	centre_lookup(session, jget_str(resident, "centre"), centre);
	*resident_out = resident;
	return RC_OK;
}

/* "Paid 1.294,86 kr. on 2026-01-19 10:02 to the resident in person (by anna)", times in
 * zone. */
static void payout_text(const json_t *payout, const char *zone, char *out, size_t outlen)
{
	char amount[FORMAT_ORE_SIZE], at[ZONE_TEXT_SIZE], by[128];
	const char *collected_by = jget_str(payout, "collected_by");
	amount_text(payout, "amount_ore", amount);
	zone_format_instant(zone, jget_str(payout, "paid_at"), at);
	if (at[0] == '\0')
		zone_format_instant(zone, jget_str(payout, "created_at"), at);
	jget_text(payout, "paid_by", by, sizeof(by));
	bool self = collected_by == NULL || strcmp(collected_by, "self") == 0;

	snprintf(out, outlen, "Paid%s%s%s%s%s to %s%s%s%s%s", amount[0] ? " " : "", amount,
	         amount[0] ? " kr." : "", at[0] ? " on " : "", at,
	         self ? "the resident in person" : collected_by, self ? "" : " (special agreement)",
	         by[0] ? " (recorded by " : "", by, by[0] ? ")" : "");
}

/* Long because a statement has many parts (lines, withdrawals, adjustments, payout) printed in
 * the order the finance office reads them. */
static bool print_statement(const json_t *statement, const char *who, const char *zone)
{
	char days[16], start[16], end[16], amount[FORMAT_ORE_SIZE];
	jget_text(statement, "payable_days", days, sizeof(days));
	jget_text(statement, "period_start", start, sizeof(start));
	jget_text(statement, "period_end", end, sizeof(end));

	char *clean_who = format_clean(who);
	printf("Allowance statement: %s\n", clean_who ? clean_who : "");
	free(clean_who);
	printf("Period %s to %s, %s payable day%s\n\n", start, end, days,
	       strcmp(days, "1") == 0 ? "" : "s");

	static const char *const headers[] = {"", "KR. PER DAY", "DAYS", "KR."};
	static const enum table_align align[] = {TABLE_LEFT, TABLE_RIGHT, TABLE_RIGHT, TABLE_RIGHT};
	struct table *table = table_new(4, headers, align);
	if (table == NULL)
		return false;
	bool ok = true;
	size_t index;
	json_t *line;
	json_array_foreach(json_object_get(statement, "lines"), index, line)
	{
		char rate[FORMAT_ORE_SIZE], line_days[16], line_amount[FORMAT_ORE_SIZE];
		const char *cells[] = {kind_words(jget_str(line, "kind")),
		                       amount_text(line, "per_day_ore", rate),
		                       jget_text(line, "days", line_days, sizeof(line_days)),
		                       amount_text(line, "amount_ore", line_amount)};
		ok = ok && table_add_row(table, cells);
	}
	/* Each sanction's withdrawal when the statement itemises them, else their sum. */
	const json_t *withdrawals = json_object_get(statement, "withdrawals");
	long long withdrawn = 0;
	if (json_array_size(withdrawals) > 0) {
		json_array_foreach(withdrawals, index, line)
		{
			char what[120], rate[FORMAT_ORE_SIZE], wdays[16], wamount[FORMAT_ORE_SIZE];
			char percent[16];
			long long per_day = 0, withdrawn_line = 0;
			jget_text(line, "percent", percent, sizeof(percent));
			snprintf(what, sizeof(what), "withdrawn, %s%s%s%s",
			         kind_words(jget_str(line, "kind")), percent[0] ? " (" : "",
			         percent, percent[0] ? " %)" : "");
			(void)jget_int(line, "per_day_withdrawn_ore", &per_day);
			(void)jget_int(line, "amount_ore", &withdrawn_line);
			const char *cells[] = {what, format_ore(-per_day, rate),
			                       jget_text(line, "days", wdays, sizeof(wdays)),
			                       format_ore(-withdrawn_line, wamount)};
			ok = ok && table_add_row(table, cells);
		}
	} else if (jget_int(statement, "withdrawn_ore", &withdrawn) && withdrawn != 0) {
		char text[FORMAT_ORE_SIZE];
		const char *cells[] = {"withdrawn (sanction)", "", "",
		                       format_ore(-withdrawn, text)};
		ok = ok && table_add_row(table, cells);
	}
	long long adjustment = 0;
	if (jget_int(statement, "adjustment_ore", &adjustment) && adjustment != 0) {
		char text[FORMAT_ORE_SIZE];
		const char *cells[] = {"corrections of earlier periods", "", "",
		                       format_ore(adjustment, text)};
		ok = ok && table_add_row(table, cells);
	}
	const char *total_cells[] = {"total", "", "", amount_text(statement, "total_ore", amount)};
	ok = ok && table_add_row(table, total_cells);
	char *text = ok ? table_render(table) : NULL;
	table_free(table);
	if (text == NULL)
		return false;
	ok = print_text(text);
	free(text);

	const json_t *payout = json_object_get(statement, "payout");
	char paid[600];
	if (json_is_object(payout))
		payout_text(payout, zone, paid, sizeof(paid));
	else
		snprintf(paid, sizeof(paid), "Not paid yet.");
	char *clean = format_clean(paid);
	printf("\n%s\n", clean ? clean : "");
	free(clean);
	return ok;
}

int cmd_statement(struct session *session, const struct cmd_args *args)
{
	long long id = 0;
	json_t *resident = NULL;
	struct centre_ref centre;
	int rc = resident_for_period(session, args, args->positional[0], args->positional[1], &id,
	                             &resident, &centre);
	if (rc != RC_OK)
		return rc;
	char who[300], path[128];
	resident_label_of(resident, who, sizeof(who));
	json_decref(resident);
	if (!path_format(path, sizeof(path), "/v1/residents/%lld/statements/%s", id,
	                 args->positional[1]))
		return RC_USAGE;
	json_t *statement = NULL;
	rc = session_get(session, path, &statement);
	if (rc != RC_OK)
		return rc;
	bool printed = session->json ? print_json(statement ? statement : json_null())
	                             : print_statement(statement, who, centre.timezone);
	json_decref(statement);
	return printed ? RC_OK : RC_REFUSED;
}

/* The first payout in a 409 answer: at the top, under "payout", or inside "error". */
static const json_t *first_payout(const json_t *answer)
{
	const json_t *payout = json_object_get(answer, "payout");
	if (!json_is_object(payout))
		payout = json_object_get(json_object_get(answer, "error"), "payout");
	if (!json_is_object(payout) && json_is_object(answer) &&
	    json_object_get(answer, "collected_by") != NULL)
		payout = answer;
	return json_is_object(payout) ? payout : NULL;
}

int cmd_payout(struct session *session, const struct cmd_args *args)
{
	const char *proxy = args->value[OPT_PROXY];
	if (proxy != NULL && proxy[0] == '\0')
		return usage_error(args, "--proxy needs the name of the person collecting");
	long long id = 0;
	json_t *resident = NULL;
	struct centre_ref centre;
	int rc = resident_for_period(session, args, args->positional[0], args->positional[1], &id,
	                             &resident, &centre);
	if (rc != RC_OK)
		return rc;
	char who[300], path[128];
	resident_label_of(resident, who, sizeof(who));
	json_decref(resident);

	json_t *body = json_pack("{ssss}", "period_start", args->positional[1], "collected_by",
	                         proxy ? proxy : "self");
	if (body == NULL || !path_format(path, sizeof(path), "/v1/residents/%lld/payouts", id)) {
		json_decref(body);
		return RC_REFUSED;
	}
	struct call call = {.method = "POST", .path = path, .body = body, .quiet = true};
	struct answer answer;
	rc = session_call(session, &call, &answer);
	json_decref(body);

	char text[700];
	if (rc == RC_OK) {
		if (session->json) {
			rc = print_json(answer.json ? answer.json : json_null()) ? RC_OK
			                                                         : RC_REFUSED;
		} else {
			payout_text(answer.json, centre.timezone, text, sizeof(text));
			char line[1100];
			snprintf(line, sizeof(line), "Payout recorded for %s, period %s: %s.", who,
			         args->positional[1], text);
			char *clean = format_clean(line);
			printf("%s\n", clean ? clean : "");
			free(clean);
		}
	} else if (rc == RC_REFUSED) {
		session_report_refusal(&answer);
		const json_t *payout = answer.status == 409 ? first_payout(answer.json) : NULL;
		if (payout != NULL) {
			payout_text(payout, centre.timezone, text, sizeof(text));
			/* The first payout is what the person at the desk needs to see. */
			char *clean = format_clean(text);
			if (!session->json)
				printf("Already paid: %s.\n", clean ? clean : "");
			free(clean);
		}
		if (session->json && answer.json != NULL)
			(void)print_json(answer.json);
	} else if (rc == RC_UNREACHABLE) {
		char why[600];
		if (session->http != NULL) {
			http_explain(session->http, &answer.error, why, sizeof(why));
			fprintf(stderr, "rollcall: %s\n", why);
		}
	}
	answer_free(&answer);
	return rc;
}

static bool copy_to_stdout(void *arg, const char *data, size_t len)
{
	(void)arg;
	return fwrite(data, 1, len, stdout) == len;
}

/* The CSV as it arrives, its paid_at column in the centre's local time (csv_local.h). */
static bool localise_to_stdout(void *arg, const char *data, size_t len)
{
	return csv_local_feed(arg, data, len);
}

/* Long because the JSON table and the streamed CSV share the centre lookup, the paging and the
 * totals; split, each half would repeat them. */
int cmd_statements(struct session *session, const struct cmd_args *args)
{
	const char *period = args->positional[0];
	struct date start;
	if (!date_parse(period, &start))
		return usage_error(args, "'%s' is not a date (YYYY-MM-DD)", period);
	struct centre_ref centre;
	int rc = resolve_centre(session, args, &centre);
	if (rc != RC_OK)
		return rc;
	char escaped[PATH_PART_SIZE], path[512];
	if (!path_escape(centre.id, escaped) ||
	    !path_format(path, sizeof(path), "/v1/centres/%s/statements/%s", escaped, period))
		return RC_USAGE;

	if (args->value[OPT_CSV] != NULL) {
		/* Streamed as it arrives: a centre's export is never held in memory whole. */
		struct csv_local csv;
		struct call call = {.method = "GET",
		                    .path = path,
		                    .accept = "text/csv",
		                    .read_timeout_ms = 60000,
		                    .sink = localise_to_stdout,
		                    .sink_arg = &csv};
		struct answer answer;
		csv_local_init(&csv, centre.timezone, ';', copy_to_stdout, NULL);
		rc = session_call(session, &call, &answer);
		if (rc == RC_OK && !csv_local_finish(&csv))
			rc = RC_REFUSED;
		csv_local_free(&csv);
		answer_free(&answer);
		if (!flush_stdout() && rc == RC_OK)
			rc = RC_REFUSED;
		return rc;
	}

	json_t *answer = NULL;
	rc = session_get(session, path, &answer);
	if (rc != RC_OK)
		return rc;
	if (session->json) {
		rc = print_json(answer ? answer : json_null()) ? RC_OK : RC_REFUSED;
		json_decref(answer);
		return rc;
	}
	static const char *const list_keys[] = {"items", "statements", NULL};
	const json_t *statements =
	    json_is_array(answer) ? answer : jget_array_of(answer, list_keys);

	static const char *const headers[] = {"CASE", "NAME", "DAYS", "WITHDRAWN", "TOTAL", "PAID"};
	static const enum table_align align[] = {TABLE_LEFT,  TABLE_LEFT,  TABLE_RIGHT,
	                                         TABLE_RIGHT, TABLE_RIGHT, TABLE_LEFT};
	struct table *table = table_new(6, headers, align);
	bool ok = table != NULL;
	int64_t sum = 0;
	size_t index;
	json_t *statement;
	json_array_foreach(statements, index, statement)
	{
		const json_t *resident = json_object_get(statement, "resident");
		const json_t *person = json_is_object(resident) ? resident : statement;
		const char *given = jget_str(person, "given_name");
		const char *family = jget_str(person, "family_name");
		char case_number[80], name[300], days[16], withdrawn[FORMAT_ORE_SIZE],
		    total[FORMAT_ORE_SIZE];
		long long total_ore;
		jget_text(person, "case_number", case_number, sizeof(case_number));
		if (case_number[0] == '\0')
			jget_text(statement, "resident", case_number, sizeof(case_number));
		snprintf(name, sizeof(name), "%s%s%s", given ? given : "",
		         given && family ? " " : "", family ? family : "");
		if (jget_int(statement, "total_ore", &total_ore))
			sum += total_ore;
		const json_t *payout = json_object_get(statement, "payout");
		const char *cells[] = {case_number,
		                       name,
		                       jget_text(statement, "payable_days", days, sizeof(days)),
		                       amount_text(statement, "withdrawn_ore", withdrawn),
		                       amount_text(statement, "total_ore", total),
		                       json_is_object(payout) ? "paid" : "not paid"};
		ok = ok && table_add_row(table, cells);
	}
	char *text = ok ? table_render(table) : NULL;
	if (text != NULL) {
		char total[FORMAT_ORE_SIZE];
		printf("%s, period starting %s: %zu statement%s, total %s kr.\n", centre.name,
		       period, table_rows(table), table_rows(table) == 1 ? "" : "s",
		       format_ore(sum, total));
		ok = table_rows(table) == 0 || print_text(text);
	} else {
		fprintf(stderr, "rollcall: out of memory\n");
		ok = false;
	}
	free(text);
	table_free(table);
	json_decref(answer);
	return ok ? RC_OK : RC_REFUSED;
}
