/* rollcall: the staff terminal client of rollcalld. This file is the dispatch table of commands
 * with their help, and the global options; each command lives in a cmd_*.c file. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_parse.h"
#include "round_offline.h"
#include "session.h"

/* One row per command: name, handler, synopsis, summary, help, options, argument counts. The
 * help texts are laid out as they print. */
/* clang-format off */
static const struct command commands[] = {
	{"residents", cmd_residents, "residents [--centre ID] [--on DATE]",
	 "list the residents enrolled at a centre",
	 "Lists the residents enrolled at the centre on a day: case number, name, date of birth,\n"
	 "age (completed years that day) and asylum phase.\n"
	 "\nExample:\n  rollcall residents --centre tonder",
	 OPTION(OPT_CENTRE) | OPTION(OPT_ON), 0, 0},
	{"round", cmd_round,
	 "round [--centre ID] [--date DATE --slot N] [--file FILE]",
	 "take an attendance round, or send one from a file",
	 "Without --file, takes a round at the terminal: the current round (the latest one\n"
	 "already due that is not complete, else the next) unless --date and --slot name one.\n"
	 "Each expected resident is shown in turn; answer with one key:\n"
	 "  p present   a absent   e excused (then the reason: l leave, h hospital,\n"
	 "  s school trip, m authority meeting, o other, and an optional note)\n"
	 "  Enter keeps an observation already recorded   b back to the previous   q quit\n"
	 "A summary follows; nothing is sent until you answer y to 'Send?'. The whole round\n"
	 "goes in one request.\n"
	 "\n"
	 "With --file (needs --date and --slot), sends the round from FILE, one resident per line:\n"
	 "  CASE STATUS [REASON] [NOTE...]\n"
	 "STATUS is present, absent or excused (or p, a, e); an excused resident's REASON is\n"
	 "leave, hospital, school_trip, authority_meeting or other; the rest of the line is a note.\n"
	 "Lines starting with # and blank lines are ignored. FILE may instead hold JSON:\n"
	 "  {\"observations\":[{\"case_number\":\"UMI-7\",\"status\":\"present\"},\n"
	 "                   {\"resident\":42,\"status\":\"excused\",\"reason\":\"hospital\"}]}\n"
	 "A mistake in the file sends nothing and names the line.\n"
	 "\nExamples:\n"
	 "  rollcall round\n"
	 "  rollcall round --date 2026-11-20 --slot 3 --file round.txt",
	 OPTION(OPT_CENTRE) | OPTION(OPT_DATE) | OPTION(OPT_SLOT) | OPTION(OPT_FILE), 0, 0},
	{"absent", cmd_absent, "absent CASE [--known-departure] [--concern TEXT] [--note TEXT]",
	 "report a resident absent now",
	 "Reports the resident with case number CASE absent now. On-call staff are alerted at\n"
	 "once; the authorities are notified at once with --known-departure or --concern, else\n"
	 "after 12 hours (under 15) or 24 hours (15 or older).\n"
	 "\nExample:\n  rollcall absent TON-2026-0007 --concern \"said he would travel to Germany\"",
	 OPTION(OPT_CENTRE) | OPTION(OPT_KNOWN_DEPARTURE) | OPTION(OPT_CONCERN) |
		 OPTION(OPT_NOTE),
	 1, 1},
	{"concern", cmd_concern, "concern ABSENCE_ID|CASE TEXT",
	 "raise a special concern about an open absence",
	 "Records a special concern about an absence: the authorities are notified at once.\n"
	 "Name the absence by its id or by the resident's case number (their open absence).\n"
	 "Write absence:ID or case:CASE if a number could be either.\n"
	 "\nExample:\n  rollcall concern TON-2026-0007 \"seen leaving with an unknown adult\"",
	 OPTION(OPT_CENTRE), 2, 2},
	{"returned", cmd_returned, "returned ABSENCE_ID|CASE [--at TIME]",
	 "report a resident back",
	 "Closes an absence: the resident is back (now, or at TIME: 08:15 today or\n"
	 "\"2026-11-21 08:15\" in the centre's time, or RFC 3339). Authorities that were\n"
	 "notified of the absence are told of the return.\n"
	 "\nExample:\n  rollcall returned TON-2026-0001 --at 08:15",
	 OPTION(OPT_CENTRE) | OPTION(OPT_AT), 1, 1},
	{"notifications", cmd_notifications, "notifications [--centre ID] [--absence ID]",
	 "show the notifications to the authorities",
	 "Lists the notifications to the authorities (municipality, police, Immigration Service):\n"
	 "when each fell due, whether it was delivered, attempts and the last error.\n"
	 "\nExample:\n  rollcall notifications --centre tonder",
	 OPTION(OPT_CENTRE) | OPTION(OPT_ABSENCE), 0, 0},
	{"alerts", cmd_alerts, "alerts [--centre ID] [--all]", "list the open alerts",
	 "Lists the centre's open alerts (with --all, also acknowledged and resolved ones).\n"
	 "\nExample:\n  rollcall alerts --all",
	 OPTION(OPT_CENTRE) | OPTION(OPT_ALL), 0, 0},
	{"ack", cmd_ack, "ack ID...", "acknowledge alerts",
	 "Acknowledges each alert ID: it is no longer announced again or escalated. An alert\n"
	 "acknowledged before says by whom and when. With --json, one document per alert.\n"
	 "\nExample:\n  rollcall ack 12 13",
	 0, 1, 64},
	{"watch", cmd_watch, "watch [--centre ID]", "show alerts live as they are raised",
	 "Shows the centre's open alerts, then each alert as it is raised or announced again:\n"
	 "time, priority, kind, resident, details, and for an absence when the authorities are\n"
	 "or were notified, why, and the concern. On a terminal urgent alerts are red and bold,\n"
	 "normal ones bold (not with NO_COLOR or TERM=dumb), and the bell rings for urgent and\n"
	 "normal alerts. Says so loudly when the server cannot reach its database (alerting\n"
	 "impaired) and when the connection to the server is lost, and reconnects by itself\n"
	 "without missing an alert. Runs until Ctrl-C. With --json, one line of JSON per event.\n"
	 "\nExample:\n  rollcall watch --centre tonder",
	 OPTION(OPT_CENTRE), 0, 0},
	{"handover", cmd_handover, "handover [--centre ID] [--at INSTANT]",
	 "the shift handover: who is away, open alerts, who is not accounted for",
	 "Shows the centre's shift handover on one screen: open absences (since when, why,\n"
	 "when the authorities are or were notified, delivery and receipt per authority),\n"
	 "alerts not acknowledged (most urgent first, with their age), who the last round\n"
	 "before the handover left unaccounted for, notifications undelivered or unconfirmed,\n"
	 "residents turning 18 within 30 days and residents without a current profile. Now,\n"
	 "or at --at INSTANT (RFC 3339 with offset). With --json, prints the document.\n"
	 "\nExample:\n  rollcall handover --centre tonder",
	 OPTION(OPT_CENTRE) | OPTION(OPT_AT), 0, 0},
	{"statement", cmd_statement, "statement CASE PERIOD_START",
	 "a resident's allowance statement for a period",
	 "Shows the allowance statement of the resident for the 14-day period starting on\n"
	 "PERIOD_START (YYYY-MM-DD): each line's rate per day, days and amount, withdrawals,\n"
	 "the total and the payout.\n"
	 "\nExample:\n  rollcall statement TON-2026-0003 2026-11-09",
	 OPTION(OPT_CENTRE), 2, 2},
	{"payout", cmd_payout, "payout CASE PERIOD_START [--proxy NAME]",
	 "record that a period's allowance was paid out",
	 "Records the payout of the period's allowance to the resident in person, or with\n"
	 "--proxy to the person named in a special agreement. A period is paid once: a second\n"
	 "payout is refused and the first one is shown.\n"
	 "\nExample:\n  rollcall payout TON-2026-0003 2026-11-09",
	 OPTION(OPT_CENTRE) | OPTION(OPT_PROXY), 2, 2},
	{"statements", cmd_statements, "statements [--centre ID] PERIOD_START [--csv]",
	 "all statements of a centre for a period",
	 "Shows the statements of every resident of the centre for the period starting on\n"
	 "PERIOD_START. With --csv, writes the server's CSV for the finance system unchanged.\n"
	 "\nExample:\n  rollcall statements --centre tonder 2026-11-09 --csv > 2026-11-09.csv",
	 OPTION(OPT_CENTRE) | OPTION(OPT_CSV), 1, 1},
	{"export", cmd_export, "export CASE|id:N [--centre ID] [--on DATE]",
	 "a resident's whole record, as JSON (administrators)",
	 "Writes everything the system keeps about the resident as one JSON document: stays,\n"
	 "phases, observations, absences with their notes, notifications to the authorities\n"
	 "with their deliveries, incidents, alerts, allowances and the audit trail. The export\n"
	 "itself is recorded in the audit trail. A case number is looked for among the residents\n"
	 "enrolled today (or on --on DATE); id:N names a resident by id, enrolled or not.\n"
	 "\nExample:\n  rollcall export TON-2026-0001 > TON-2026-0001.json",
	 OPTION(OPT_CENTRE) | OPTION(OPT_ON), 1, 1},
	{"rounds", cmd_rounds, "rounds [--centre ID] [--date DATE]",
	 "today's rounds and who is not yet accounted for",
	 "Lists the day's three rounds (default today at the centre): scheduled time, deadline,\n"
	 "status and how many residents are recorded; then, for the current round, everyone not\n"
	 "yet accounted for (nobody knows where they are first, then those already reported\n"
	 "absent).\n"
	 "\nExample:\n  rollcall rounds --centre tonder",
	 OPTION(OPT_CENTRE) | OPTION(OPT_DATE), 0, 0},
	{"absences", cmd_absences, "absences [--centre ID]",
	 "open absences, with the time left until the authorities are notified",
	 "Lists the centre's open absences: resident, away since, why and when the authorities\n"
	 "are notified (with the time left, or when they were), and the concern.\n"
	 "\nExample:\n  rollcall absences --centre tonder",
	 OPTION(OPT_CENTRE), 0, 0},
	{"sync", cmd_sync, "sync", "send the rounds taken while the server was unreachable",
	 "Sends the rounds this terminal kept while the server could not be reached, oldest\n"
	 "first, each with its own Idempotency-Key and every observation's observed_at, and\n"
	 "shows what the server made of them: an observation another terminal recorded later\n"
	 "stays current instead, and is named. Says how many observations are waiting. Any\n"
	 "other command that reaches the server sends them first too. A corrupt or refused\n"
	 "round file is reported and kept (renamed .corrupt or .refused), never deleted.\n"
	 "\nExample:\n  rollcall sync",
	 0, 0, 0},
	{"resident add", cmd_resident_add,
	 "resident add CASE --given NAME --family NAME --born DATE --arrival DATE [--centre ID] "
	 "[--phase N] [--accounted-for-at INSTANT]",
	 "enter a new resident (managers)",
	 "Enters a resident at the centre: case number, names, date of birth, arrival and the\n"
	 "asylum phase (default 1). --accounted-for-at is the last time staff knew the resident\n"
	 "was at the centre (at go-live, the head count); it counts when an absence begins.\n"
	 "\nExample:\n"
	 "  rollcall resident add TON-2026-0101 --given Amina --family Haidari --born 2012-03-10 \\\n"
	 "      --arrival 2026-11-20 --accounted-for-at \"2026-11-20 14:30\"",
	 OPTION(OPT_CENTRE) | OPTION(OPT_GIVEN) | OPTION(OPT_FAMILY) | OPTION(OPT_BORN) |
		 OPTION(OPT_ARRIVAL) | OPTION(OPT_PHASE) | OPTION(OPT_ACCOUNTED_FOR_AT),
	 1, 1},
	{"resident show", cmd_resident_show, "resident show CASE|id:N [--centre ID]",
	 "a resident's record with its history",
	 "Shows the resident: names, date of birth and age, centre and stays, phases, when last\n"
	 "accounted for, and every correction of the date of birth with its reason.\n"
	 "A case number is looked for among today's residents; id:N names anyone by id.\n"
	 "\nExample:\n  rollcall resident show TON-2026-0001",
	 OPTION(OPT_CENTRE), 1, 1},
	{"resident edit", cmd_resident_edit,
	 "resident edit CASE|id:N [--given NAME] [--family NAME] [--accounted-for-at INSTANT]",
	 "correct a resident's names (managers)",
	 "Changes the given or family name (or accounted_for_at) of a resident.\n"
	 "\nExample:\n  rollcall resident edit TON-2026-0001 --family Haidary",
	 OPTION(OPT_CENTRE) | OPTION(OPT_GIVEN) | OPTION(OPT_FAMILY) | OPTION(OPT_ACCOUNTED_FOR_AT),
	 1, 1},
	{"resident move", cmd_resident_move, "resident move CASE|id:N CENTRE [--on DATE]",
	 "move a resident to another centre (managers)",
	 "Records that the resident lives at CENTRE from DATE (default today): the stay at the\n"
	 "old centre ends the day before.\n"
	 "\nExample (the demo has one centre, tonder: a move needs a second one of yours):\n"
	 "  rollcall resident move TON-2026-0001 sandholm --on 2026-12-01",
	 OPTION(OPT_CENTRE) | OPTION(OPT_ON), 2, 2},
	{"resident depart", cmd_resident_depart, "resident depart CASE|id:N DATE",
	 "record a resident's departure (managers)",
	 "Records the departure date of the resident's stay: the resident is enrolled up to the\n"
	 "day before DATE (the departure day is not a day at the centre).\n"
	 "\nExample:\n  rollcall resident depart TON-2026-0001 2026-12-15",
	 OPTION(OPT_CENTRE), 2, 2},
	{"resident phase", cmd_resident_phase, "resident phase CASE|id:N PHASE [--from DATE]",
	 "record the asylum phase from a date (managers)",
	 "Records that the resident is in PHASE (1 reception, 2 case processing, 3 departure)\n"
	 "from DATE (default today). The supplement follows the phase of each day.\n"
	 "\nExample:\n  rollcall resident phase TON-2026-0001 2 --from 2026-12-01",
	 OPTION(OPT_CENTRE) | OPTION(OPT_FROM), 2, 2},
	{"resident dob", cmd_resident_dob, "resident dob CASE|id:N DATE --reason TEXT",
	 "correct a date of birth, with the reason (managers)",
	 "Corrects the resident's date of birth, e.g. after an age assessment. The reason is\n"
	 "required; the old date, the new one, the reason and who changed it stay in the history.\n"
	 "\nExample:\n"
	 "  rollcall resident dob TON-2026-0001 2010-06-01 --reason \"age assessment of 2026-11-18\"",
	 OPTION(OPT_CENTRE) | OPTION(OPT_REASON), 2, 2},
	{"sanction", cmd_sanction,
	 "sanction CASE|id:N --from DATE --to DATE --percent N --reason TEXT --heard-at INSTANT",
	 "withdraw part of a resident's supplement (managers)",
	 "Decides a sanction: PERCENT (1-100) of the supplement is withdrawn for the days from\n"
	 "--from to --to. The resident must have been heard (--heard-at). The Immigration Service\n"
	 "receives an IN12 report.\n"
	 "\nExample:\n"
	 "  rollcall sanction TON-2026-0001 --from 2026-12-01 --to 2026-12-04 --percent 50 \\\n"
	 "      --reason \"violence against staff\" --heard-at \"2026-11-30 10:00\"",
	 OPTION(OPT_CENTRE) | OPTION(OPT_FROM) | OPTION(OPT_TO) | OPTION(OPT_PERCENT) |
		 OPTION(OPT_REASON) | OPTION(OPT_HEARD_AT),
	 1, 1},
	{"agreement", cmd_agreement, "agreement CASE|id:N --proxy NAME --from DATE [--to DATE]",
	 "file a special agreement: someone else may collect (managers)",
	 "Files a special agreement (saeraftale): NAME may collect the resident's allowance on\n"
	 "the days from --from to --to (open-ended without --to).\n"
	 "\nExample:\n"
	 "  rollcall agreement TON-2026-0001 --proxy \"Karin Jensen\" --from 2026-12-01 --to 2026-12-31",
	 OPTION(OPT_CENTRE) | OPTION(OPT_AGREEMENT_PROXY) | OPTION(OPT_FROM) | OPTION(OPT_TO), 1,
	 1},
	{"rates", cmd_rates, "rates [--kind KIND] [--on DATE] [--limit N]",
	 "the allowance rates (managers)",
	 "Lists the allowance rates with their validity: base allowance and the supplements of\n"
	 "phases 1 and 2, in kroner per day. --on keeps the rates in force that day.\n"
	 "\nExample:\n  rollcall rates --on 2026-11-20",
	 OPTION(OPT_RATE_KIND) | OPTION(OPT_ON) | OPTION(OPT_LIMIT), 0, 0},
	{"rates add", cmd_rates_add,
	 "rates add --kind KIND --per-day-ore N --from DATE [--to DATE]",
	 "enter a new allowance rate (managers)",
	 "Enters a rate valid from --from (to --to, or until a later rate). Amounts are in ore:\n"
	 "5841 is 58,41 kr. per day.\n"
	 "\nExample:\n  rollcall rates add --kind base --per-day-ore 5925 --from 2027-01-01",
	 OPTION(OPT_RATE_KIND) | OPTION(OPT_PER_DAY_ORE) | OPTION(OPT_FROM) | OPTION(OPT_TO), 0, 0},
	{"accounts", cmd_accounts, "accounts [--limit N]", "the accounts (administrators)",
	 "Lists the accounts: certificate CN, role, centres, authority, and whether disabled.\n"
	 "\nExample:\n  rollcall accounts",
	 OPTION(OPT_LIMIT), 0, 0},
	{"account add", cmd_account_add,
	 "account add CN --role ROLE [--centre ID]... [--authority KIND]",
	 "create an account (administrators)",
	 "Creates the account for the client certificate whose subject CN is CN. Staff, on-call\n"
	 "staff and managers see only their centres (--centre, once per centre); the authority\n"
	 "role also needs --authority (municipality, police or immigration).\n"
	 "\nExample:\n  rollcall account add tonder-anna --role staff --centre tonder",
	 OPTION(OPT_ROLE) | OPTION(OPT_ACCOUNT_CENTRE) | OPTION(OPT_AUTHORITY), 1, 1},
	{"account disable", cmd_account_disable, "account disable CN",
	 "disable an account (administrators)",
	 "Disables the account: its certificate is refused from now on, on connections already\n"
	 "open too. Nothing is deleted.\n"
	 "\nExample:\n  rollcall account disable tonder-anna",
	 0, 1, 1},
	{"audit", cmd_audit,
	 "audit [--resident CASE|id:N] [--account CN] [--from INSTANT] [--to INSTANT] [--limit N]",
	 "the audit log (administrators)",
	 "Shows who read or changed what and when, from where, and the outcome. --from and --to\n"
	 "take RFC 3339 or local time (YYYY-MM-DD [HH:MM]); --to is exclusive.\n"
	 "\nExample:\n  rollcall audit --resident TON-2026-0001 --from 2026-11-01",
	 OPTION(OPT_CENTRE) | OPTION(OPT_RESIDENT) | OPTION(OPT_ACCOUNT) | OPTION(OPT_FROM_AT) |
		 OPTION(OPT_TO_AT) | OPTION(OPT_LIMIT),
	 0, 0},
	{"incident", cmd_incident,
	 "incident CASE|id:N KIND [--occurred-at INSTANT] [--police-report NUMBER]",
	 "report an incident (IN8, IN9, IN10, underretning)",
	 "Reports an incident about the resident to the authorities: KIND is in8 (radicalisation\n"
	 "or harassment), in9 (crime; the police are told too), in10 (use of force) or\n"
	 "underretning (a child at risk, to the municipality). The description is written in\n"
	 "an editor: $VISUAL, else $EDITOR, else vi. An empty description sends nothing.\n"
	 "\nExample:\n"
	 "  rollcall incident TON-2026-0001 in9 --occurred-at \"2026-11-20 21:30\" --police-report 4100-123",
	 OPTION(OPT_CENTRE) | OPTION(OPT_OCCURRED_AT) | OPTION(OPT_POLICE_REPORT), 2, 2},
	{"incidents", cmd_incidents, "incidents [--centre ID] [--resident CASE|id:N] [--limit N]",
	 "the incident reports and their delivery",
	 "Lists the incident reports of the centre (or of one resident): when, kind, resident,\n"
	 "police report number, who reported it and the delivery to each authority.\n"
	 "\nExample:\n  rollcall incidents --resident TON-2026-0001",
	 OPTION(OPT_CENTRE) | OPTION(OPT_RESIDENT) | OPTION(OPT_LIMIT), 0, 0},
	{"profile", cmd_profile,
	 "profile CASE [--photo FILE [--taken-on DATE]] [--fields FILE] [--centre ID]",
	 "show or change a resident's missing-person profile",
	 "Without options, shows the resident's missing-person profile: description, photo,\n"
	 "languages, contacts, places, medical needs and risks (what the authorities get when\n"
	 "the resident goes missing, each as far as it may see it).\n"
	 "With --photo, puts the JPEG in FILE (at most 512 KiB) in the profile, taken on\n"
	 "--taken-on DATE (default: today). With --fields, replaces the fields the JSON object\n"
	 "in FILE names, e.g.\n"
	 "  {\"description\":\"1.55 m, short black hair\",\"languages\":[\"Tigrinya\"],\n"
	 "   \"contacts\":[{\"name\":\"Selam\",\"relation\":\"aunt\",\"phone\":\"+46701234567\"}]}\n"
	 "(null empties a field). Every other field is kept as it is; the earlier version stays\n"
	 "in the profile's history.\n"
	 "\nExamples:\n"
	 "  rollcall profile TON-2026-0003\n"
	 "  rollcall profile TON-2026-0003 --photo amina.jpg --taken-on 2026-11-01",
	 OPTION(OPT_CENTRE) | OPTION(OPT_PHOTO) | OPTION(OPT_TAKEN_ON) | OPTION(OPT_FIELDS), 1, 1},
	{"clock", cmd_clock, "clock [INSTANT]", "show or set the daemon's test clock",
	 "Shows the daemon's clock, or sets it to INSTANT (RFC 3339 with offset). Only for\n"
	 "administrators of a daemon started with test_clock = true (demos and tests); setting\n"
	 "it returns once everything due up to INSTANT has been decided.\n"
	 "\nExample:\n  rollcall clock 2026-11-21T03:00:00+01:00",
	 0, 0, 1},
};
/* clang-format on */

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void print_main_help(FILE *out)
{
	fputs("usage: rollcall [--json] [--config FILE] COMMAND [ARGUMENTS]\n"
	      "\n"
	      "The staff terminal client of rollcalld: attendance rounds, absences, alerts and\n"
	      "allowances of a children's centre.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Options:\n"
	      "  --json         print the server's JSON answer instead of the human form\n"
	      "  --config FILE  the configuration (default: $ROLLCALL_CONFIG, else\n"
	      "                 ~/.config/rollcall/config) with url, cert, key and ca\n"
	      "  --help         this text; 'rollcall COMMAND --help' explains a command\n"
	      "\n"
	      "Exit status: 0 done, 1 refused by the server, 2 usage error, 3 cannot reach the "
	      "server.\n",
	      out);
}

/* The command named first (and second, for "resident add"; NULL for one word). */
static const struct command *find_command(const char *first, const char *second)
{
	char name[64];
	if (second != NULL)
		snprintf(name, sizeof(name), "%s %s", first, second);
	else
		snprintf(name, sizeof(name), "%s", first);
	for (size_t c = 0; c < COMMAND_COUNT; c++)
		if (strcmp(commands[c].name, name) == 0)
			return &commands[c];
	return NULL;
}

/* True if some command's name is WORD followed by a second word ("resident" of "resident
 * add"). */
static bool is_group(const char *word)
{
	size_t n = strlen(word);
	for (size_t c = 0; c < COMMAND_COUNT; c++)
		if (strncmp(commands[c].name, word, n) == 0 && commands[c].name[n] == ' ')
			return true;
	return false;
}

/* "rollcall resident" without a known second word: the group's commands; --help is exit 0. */
static int group_usage(const char *word, const char *second)
{
	bool help = second != NULL && (strcmp(second, "--help") == 0 || strcmp(second, "-h") == 0);
	FILE *out = help ? stdout : stderr;
	size_t n = strlen(word);
	if (!help && second == NULL)
		fprintf(stderr, "rollcall: '%s' needs a command after it\n", word);
	else if (!help)
		fprintf(stderr, "rollcall: '%s %s' is not a command\n", word, second);
	fputs("usage:\n", out);
	for (size_t c = 0; c < COMMAND_COUNT; c++)
		if (strncmp(commands[c].name, word, n) == 0 && commands[c].name[n] == ' ')
			fprintf(out, "  rollcall %s\n      %s\n", commands[c].synopsis,
			        commands[c].summary);
	fprintf(out, "Try 'rollcall %s COMMAND --help'.\n", word);
	if (help)
		return flush_stdout() ? RC_OK : RC_REFUSED;
	return RC_USAGE;
}

static int main_usage_error(const char *message, const char *what)
{
	fprintf(stderr, "rollcall: %s%s%s%s\n", message, what ? " '" : "", what ? what : "",
	        what ? "'" : "");
	fputs("usage: rollcall [--json] [--config FILE] COMMAND [ARGUMENTS]\n"
	      "Try 'rollcall --help'.\n",
	      stderr);
	return RC_USAGE;
}

int main(int argc, char **argv)
{
	struct session session;
	bool json = false;
	const char *config_path = NULL;
	int i;

	/* A server that hangs up must show as a failed write, not kill the client. */
	signal(SIGPIPE, SIG_IGN);

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc)
				return main_usage_error("--config needs a file name", NULL);
			config_path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config_path = argv[i] + 9;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_main_help(stdout);
			return flush_stdout() ? RC_OK : RC_REFUSED;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			return main_usage_error("unknown option", argv[i]);
		}
	}
	if (i >= argc)
		return main_usage_error("no command given", NULL);

	/* A command of two words ("resident add") first, then of one ("rates"). */
	const struct command *command = NULL;
	int words = 1;
	if (i + 1 < argc)
		command = find_command(argv[i], argv[i + 1]);
	if (command != NULL)
		words = 2;
	else
		command = find_command(argv[i], NULL);
	if (command == NULL && is_group(argv[i]))
		return group_usage(argv[i], i + 1 < argc ? argv[i + 1] : NULL);
	if (command == NULL)
		return main_usage_error("unknown command", argv[i]);

	/* argv[0] of the command is its last word. */
	int command_argc = argc - i - (words - 1);
	char **command_argv = argv + i + (words - 1);
	if (cli_wants_help(command_argc, command_argv)) {
		cli_print_command_help(stdout, command);
		return flush_stdout() ? RC_OK : RC_REFUSED;
	}

	struct cmd_args args;
	int rc = cli_parse_command(command, command_argc, command_argv, &args, &json, &config_path);
	if (rc != RC_OK)
		return rc;

	/* Once, before anything else could start a thread; cleaned up after the last handle. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "rollcall: cannot initialise libcurl\n");
		return RC_UNREACHABLE;
	}
	session_init(&session);
	session.json = json;
	session.config_path = config_path;
	/* Rounds taken offline go first, oldest first, whenever the server can be reached again
	 * (sync does it itself; the clock of a test daemon is not a staff command). */
	if (command->run != cmd_sync && command->run != cmd_clock)
		(void)round_sync_pending(&session, true);
	rc = command->run(&session, &args);
	session_free(&session);
	curl_global_cleanup();
	if (!flush_stdout() && rc == RC_OK)
		rc = RC_REFUSED;
	return rc;
}
