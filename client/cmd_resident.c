/* `rollcall resident add` and `resident show`: a manager enters a new resident (POST
 * /v1/residents) or reads one (GET /v1/residents/{id}) with its histories: stays, phases and
 * date-of-birth corrections. office_show_resident is also what the changing commands print. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dates.h"
#include "format.h"
#include "json_get.h"
#include "office.h"
#include "resolve.h"
#include "session.h"

/* Prints "  LABEL  text" with the text made safe for a terminal. */
static void field_line(const char *label, const char *text)
{
	char *clean = format_clean(text);
	printf("  %-18s %s\n", label, clean ? clean : "");
	free(clean);
}

static void print_stays(const json_t *resident)
{
	const json_t *stays = json_object_get(resident, "stays");
	size_t index;
	json_t *stay;
	json_array_foreach(stays, index, stay)
	{
		char centre[80], from[16], to[16], text[200];
		jget_text(stay, "centre", centre, sizeof(centre));
		jget_text(stay, "from", from, sizeof(from));
		jget_text(stay, "to", to, sizeof(to));
		snprintf(text, sizeof(text), "%s from %s%s%s", centre, from, to[0] ? " to " : "",
		         to[0] ? to : ", still there");
		field_line(index == 0 ? "stays" : "", text);
	}
}

static void print_phases(const json_t *resident)
{
	const json_t *phases = json_object_get(resident, "phases");
	char text[400] = "";
	size_t index;
	json_t *phase;
	json_array_foreach(phases, index, phase)
	{
		char number[8], from[16];
		size_t used = strlen(text);
		jget_text(phase, "phase", number, sizeof(number));
		jget_text(phase, "from", from, sizeof(from));
		snprintf(text + used, sizeof(text) - used, "%s%s from %s", index ? ", " : "",
		         number, from);
	}
	if (text[0] != '\0')
		field_line("phases", text);
}

static void print_dob_history(const json_t *resident, const char *zone)
{
	const json_t *history = json_object_get(resident, "date_of_birth_history");
	size_t index;
	json_t *change;
	json_array_foreach(history, index, change)
	{
		char when[OFFICE_WHEN_SIZE], old[16], new[16], by[80], text[600];
		const char *reason = jget_str(change, "reason");
		office_when(zone, jget_str(change, "changed_at"), when);
		jget_text(change, "old", old, sizeof(old));
		jget_text(change, "new", new, sizeof(new));
		jget_text(change, "changed_by", by, sizeof(by));
		snprintf(text, sizeof(text), "%s -> %s on %s by %s: %s", old, new, when, by,
		         reason ? reason : "");
		field_line(index == 0 ? "born, corrected" : "", text);
	}
}

int office_show_resident(const struct session *session, const json_t *resident,
                         const struct centre_ref *centre)
{
	int rc = RC_OK;
	if (office_json_printed(session, resident, &rc))
		return rc;
	char label[400], text[400], born[16], age[16], arrival[16], departure[16], phase[8];
	char when[OFFICE_WHEN_SIZE];
	long long id = 0;
	(void)jget_int(resident, "id", &id);
	resident_label_of(resident, label, sizeof(label));
	char *clean = format_clean(label);
	printf("%s (resident %lld)\n", clean ? clean : "", id);
	free(clean);

	jget_text(resident, "date_of_birth", born, sizeof(born));
	jget_text(resident, "age", age, sizeof(age));
	snprintf(text, sizeof(text), "%s%s%s%s", born, age[0] ? ", " : "", age,
	         age[0] ? " years old" : "");
	field_line("born", text);
	if (jget_str(resident, "centre") != NULL)
		snprintf(text, sizeof(text), "%s (%s)", centre->name, jget_str(resident, "centre"));
	else
		snprintf(text, sizeof(text), "none today");
	field_line("centre", text);
	jget_text(resident, "arrival_date", arrival, sizeof(arrival));
	jget_text(resident, "departure_date", departure, sizeof(departure));
	snprintf(text, sizeof(text), "%s%s%s", arrival, departure[0] ? ", departure " : "",
	         departure);
	field_line("arrival", text);
	jget_text(resident, "phase", phase, sizeof(phase));
	field_line("phase", phase[0] ? phase : "none");
	const char *accounted = jget_str(resident, "accounted_for_at");
	if (accounted != NULL)
		field_line("accounted for at", office_when(centre->timezone, accounted, when));
	print_phases(resident);
	print_stays(resident);
	print_dob_history(resident, centre->timezone);
	return flush_stdout() ? RC_OK : RC_REFUSED;
}

/* A positional or option that must hold a date; false after a usage error in *rc. */
static bool date_option(const struct cmd_args *args, int option, const char *name, bool required,
                        int *rc)
{
	struct date day;
	const char *text = args->value[option];
	if (text == NULL) {
		if (required)
			*rc = usage_error(args, "%s is needed", name);
		return !required;
	}
	if (!date_parse(text, &day)) {
		*rc = usage_error(args, "%s: '%s' is not a date (YYYY-MM-DD)", name, text);
		return false;
	}
	return true;
}

/* A required name option: present and not blank. */
static bool name_option(const struct cmd_args *args, int option, const char *name, int *rc)
{
	const char *text = args->value[option];
	if (text == NULL || text[strspn(text, " \t")] == '\0') {
		*rc = usage_error(args, "%s NAME is needed", name);
		return false;
	}
	return true;
}

int cmd_resident_add(struct session *session, const struct cmd_args *args)
{
	const char *case_number = args->positional[0];
	int rc = RC_OK;
	long phase = 0;

	/* Everything is checked before anything is sent. */
	if (case_number[0] == '\0' || strlen(case_number) > 64 ||
	    strncmp(case_number, "id:", 3) == 0)
		return usage_error(args, "CASE: '%s' is not a case number", case_number);
	if (!name_option(args, OPT_GIVEN, "--given", &rc) ||
	    !name_option(args, OPT_FAMILY, "--family", &rc) ||
	    !date_option(args, OPT_BORN, "--born", true, &rc) ||
	    !date_option(args, OPT_ARRIVAL, "--arrival", true, &rc))
		return rc;
	const char *phase_text = args->value[OPT_PHASE];
	if (phase_text != NULL) {
		if (strlen(phase_text) != 1 || phase_text[0] < '1' || phase_text[0] > '3')
			return usage_error(args, "--phase: '%s' is not 1, 2 or 3", phase_text);
		phase = phase_text[0] - '0';
	}
	const char *accounted_text = args->value[OPT_ACCOUNTED_FOR_AT];
	char accounted[INSTANT_TEXT_SIZE];
	if (!office_instant_valid(args, OPT_ACCOUNTED_FOR_AT, &rc))
		return rc;

	struct centre_ref centre;
	rc = resolve_centre(session, args, &centre);
	if (rc != RC_OK)
		return rc;
	json_t *body = json_pack("{ss ss ss ss ss ss}", "case_number", case_number, "given_name",
	                         args->value[OPT_GIVEN], "family_name", args->value[OPT_FAMILY],
	                         "date_of_birth", args->value[OPT_BORN], "centre", centre.id,
	                         "arrival_date", args->value[OPT_ARRIVAL]);
	if (body == NULL)
		return RC_REFUSED;
	if (phase > 0 && json_object_set_new(body, "phase", json_integer(phase)) != 0)
		goto out_of_memory;
	if (accounted_text != NULL) {
		if (!office_instant_option(args, OPT_ACCOUNTED_FOR_AT, centre.timezone, accounted,
		                           &rc)) {
			json_decref(body);
			return rc;
		}
		if (json_object_set_new(body, "accounted_for_at", json_string(accounted)) != 0)
			goto out_of_memory;
	}
	json_t *created = NULL;
	rc = session_send(session, "POST", "/v1/residents", body, &created);
	json_decref(body);
	if (rc != RC_OK)
		return rc;
	if (!session->json)
		printf("Resident added.\n");
	rc = office_show_resident(session, created, &centre);
	json_decref(created);
	return rc;

out_of_memory:
	json_decref(body);
	fprintf(stderr, "rollcall: out of memory\n");
	return RC_REFUSED;
}

int cmd_resident_show(struct session *session, const struct cmd_args *args)
{
	const char *who = args->positional[0];
	if (!office_resident_syntax_ok(who))
		return usage_error(args, "CASE: '%s' is not a case number or id:N", who);
	long long id;
	json_t *found = NULL;
	struct centre_ref centre;
	int rc = office_resident(session, args, who, &id, &found, &centre);
	if (rc != RC_OK)
		return rc;
	json_decref(found);
	/* The whole resident, histories included (the centre's list has the summary only). */
	char path[96];
	json_t *resident = NULL;
	if (!path_format(path, sizeof(path), "/v1/residents/%lld", id))
		return RC_USAGE;
	rc = session_get(session, path, &resident);
	if (rc != RC_OK)
		return rc;
	rc = office_show_resident(session, resident, &centre);
	json_decref(resident);
	return rc;
}
