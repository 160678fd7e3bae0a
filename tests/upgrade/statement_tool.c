/* For the upgrade test: does the C half of a statement or payout as rollcalld does it, for a
 * database driven through the first release's SQL api() directly (the release-1 daemon is not
 * kept, only its schema). Reads the facts api('resident_statement', ...) answered on stdin and
 * prints {"statement": what GET .../statements/{period} answers, "payout_args": what
 * op_resident_payout takes as args.statement (null for a paid period)}. */
#include <jansson.h>
#include <stdio.h>

#include "statement.h"

int main(void)
{
	json_error_t jerr;
	json_t *facts = json_loadf(stdin, 0, &jerr);
	if (!facts) {
		fprintf(stderr, "statement_tool: facts are not JSON: %s\n", jerr.text);
		return 2;
	}
	char err[STATEMENT_ERROR_SIZE];
	json_t *payout_args = NULL;
	json_t *statement = statement_build(facts, NULL, &payout_args, err);
	json_decref(facts);
	if (!statement) {
		fprintf(stderr, "statement_tool: %s\n", err);
		return 1;
	}
	json_t *out = json_pack("{s:o, s:o}", "statement", statement, "payout_args",
	                        payout_args ? payout_args : json_null());
	int status = out && json_dumpf(out, stdout, JSON_COMPACT) == 0 ? 0 : 1;
	json_decref(out);
	return status;
}
