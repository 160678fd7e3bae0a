/* From what staff type to what the API needs: the centre a command works on, a case number to a
 * resident id (by listing the residents of the account's centres), ABSENCE_ID|CASE to an absence
 * id, and resident ids back to "case number and name" for display. */
#ifndef ROLLCALL_CLIENT_RESOLVE_H
#define ROLLCALL_CLIENT_RESOLVE_H

#include <jansson.h>

#include "cli.h"
#include "dates.h"
#include "session.h"

struct centre_ref {
	char id[80];
	char name[200];
	char timezone[64]; /* "" if the server did not say: the terminal's zone is used */
};

/* The centre of a command: --centre ID (checked with GET /v1/centres/{id}), else the account's
 * only centre. Several centres and no --centre is a usage error listing them. */
int resolve_centre(struct session *session, const struct cmd_args *args, struct centre_ref *out);

/* The name and time zone of one of the account's centres, from the cached list; just the id if
 * the list does not have it; the account's only centre when centre_id is NULL. Quiet: the caller
 * only wants it for display. */
void centre_lookup(struct session *session, const char *centre_id, struct centre_ref *out);

/* The resident with this case number, looked for among the residents enrolled on each of dates
 * (count entries, may be 0), then today, at --centre, or else at each of the account's centres.
 * *resident is a new reference that has "centre" set. RC_USAGE (printed) when nobody has it. */
int resolve_resident(struct session *session, const struct cmd_args *args, const char *case_number,
                     const struct date *dates, int count, json_t **resident);

/* ABSENCE_ID|CASE: "absence:ID" and "case:CASE" say which; a case number of a resident means
 * that resident's open absence (GET /v1/absences?centre=&open=true); otherwise digits are an
 * absence id. A number that is both is refused as ambiguous. */
int resolve_absence(struct session *session, const struct cmd_args *args, const char *text,
                    long long *absence_id);

/* "UMI-0042 Ahmad Karimi" for a resident id, from the centre's list or GET /v1/residents/{id};
 * "resident 17" if neither knows (the lookup's failure is not reported). centre may be NULL. */
void resident_label(struct session *session, const struct centre_ref *centre, long long resident_id,
                    char *out, size_t outlen);
/* The resident object of an id, as resident_label finds it (borrowed from the run's cache), or
 * NULL. */
const json_t *resident_find(struct session *session, const struct centre_ref *centre,
                            long long resident_id);
/* The same from a resident object. */
void resident_label_of(const json_t *resident, char *out, size_t outlen);

/* The phone number centre keeps for authority ("police"...; the centre's authorities[].phone),
 * "" when none or unknown (quiet). */
void authority_phone(struct session *session, const struct centre_ref *centre,
                     const char *authority, char *out, size_t outlen);

#endif
