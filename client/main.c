/* rollcall: the staff terminal client of rollcalld. This file is the dispatch table of commands
 * with their help, and the global options; each command lives in a cmd_*.c file. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_parse.h"
#include "session.h"

/* One row per command: name, handler, synopsis, summary, help, options, argument counts. The
 * help texts are laid out as they print. */
/* clang-format off */
static const struct command commands[] = {
	{"residents", cmd_residents, "residents [--centre ID] [--on DATE]",
	 "list the residents enrolled at a centre",
	 "Lists the residents enrolled at the centre on a day: case number, name, date of birth,\n"
	 "age (completed years that day) and asylum phase.\n"
	 "\nExample:\n  rollcall residents --centre toender --on 2026-11-20",
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
	 "\nExample:\n  rollcall absent UMI-2026-0042 --concern \"said he would travel to Germany\"",
	 OPTION(OPT_CENTRE) | OPTION(OPT_KNOWN_DEPARTURE) | OPTION(OPT_CONCERN) |
		 OPTION(OPT_NOTE),
	 1, 1},
	{"concern", cmd_concern, "concern ABSENCE_ID|CASE TEXT",
	 "raise a special concern about an open absence",
	 "Records a special concern about an absence: the authorities are notified at once.\n"
	 "Name the absence by its id or by the resident's case number (their open absence).\n"
	 "Write absence:ID or case:CASE if a number could be either.\n"
	 "\nExample:\n  rollcall concern UMI-2026-0042 \"seen leaving with an unknown adult\"",
	 OPTION(OPT_CENTRE), 2, 2},
	{"returned", cmd_returned, "returned ABSENCE_ID|CASE [--at INSTANT]",
	 "report a resident back",
	 "Closes an absence: the resident is back (now, or at INSTANT). Authorities that were\n"
	 "notified of the absence are told of the return.\n"
	 "\nExample:\n  rollcall returned UMI-2026-0042 --at 2026-11-21T08:15:00+01:00",
	 OPTION(OPT_CENTRE) | OPTION(OPT_AT), 1, 1},
	{"notifications", cmd_notifications, "notifications [--centre ID] [--absence ID]",
	 "show the notifications to the authorities",
	 "Lists the notifications to the authorities (municipality, police, Immigration Service):\n"
	 "when each fell due, whether it was delivered, attempts and the last error.\n"
	 "\nExample:\n  rollcall notifications --absence 17",
	 OPTION(OPT_CENTRE) | OPTION(OPT_ABSENCE), 0, 0},
	{"alerts", cmd_alerts, "alerts [--centre ID] [--all]", "list the open alerts",
	 "Lists the centre's open alerts (with --all, also acknowledged and resolved ones).\n"
	 "\nExample:\n  rollcall alerts --all",
	 OPTION(OPT_CENTRE) | OPTION(OPT_ALL), 0, 0},
	{"ack", cmd_ack, "ack ID", "acknowledge an alert",
	 "Acknowledges alert ID: it is no longer announced again or escalated.\n"
	 "\nExample:\n  rollcall ack 12",
	 0, 1, 1},
	{"watch", cmd_watch, "watch [--centre ID]", "show alerts live as they are raised",
	 "Shows each alert of the centre as it is raised or announced again, one line each\n"
	 "(time, kind, resident, details), and rings the terminal bell. Reconnects by itself\n"
	 "when the connection is lost and misses nothing. Runs until Ctrl-C. With --json, prints\n"
	 "each alert as one line of JSON.\n"
	 "\nExample:\n  rollcall watch --centre sandholm",
	 OPTION(OPT_CENTRE), 0, 0},
	{"statement", cmd_statement, "statement CASE PERIOD_START",
	 "a resident's allowance statement for a period",
	 "Shows the allowance statement of the resident for the 14-day period starting on\n"
	 "PERIOD_START (YYYY-MM-DD): each line's rate per day, days and amount, withdrawals,\n"
	 "the total and the payout.\n"
	 "\nExample:\n  rollcall statement UMI-2026-0042 2026-01-05",
	 OPTION(OPT_CENTRE), 2, 2},
	{"payout", cmd_payout, "payout CASE PERIOD_START [--proxy NAME]",
	 "record that a period's allowance was paid out",
	 "Records the payout of the period's allowance to the resident in person, or with\n"
	 "--proxy to the person named in a special agreement. A period is paid once: a second\n"
	 "payout is refused and the first one is shown.\n"
	 "\nExample:\n  rollcall payout UMI-2026-0042 2026-01-05",
	 OPTION(OPT_CENTRE) | OPTION(OPT_PROXY), 2, 2},
	{"statements", cmd_statements, "statements [--centre ID] PERIOD_START [--csv]",
	 "all statements of a centre for a period",
	 "Shows the statements of every resident of the centre for the period starting on\n"
	 "PERIOD_START. With --csv, writes the server's CSV for the finance system unchanged.\n"
	 "\nExample:\n  rollcall statements --centre toender 2026-01-05 --csv > 2026-01-05.csv",
	 OPTION(OPT_CENTRE) | OPTION(OPT_CSV), 1, 1},
	{"export", cmd_export, "export CASE|id:N [--centre ID] [--on DATE]",
	 "a resident's whole record, as JSON (administrators)",
	 "Writes everything the system keeps about the resident as one JSON document: stays,\n"
	 "phases, observations, absences with their notes, notifications to the authorities\n"
	 "with their deliveries, incidents, alerts, allowances and the audit trail. The export\n"
	 "itself is recorded in the audit trail. A case number is looked for among the residents\n"
	 "enrolled today (or on --on DATE); id:N names a resident by id, enrolled or not.\n"
	 "\nExample:\n  rollcall export UMI-2026-0042 > UMI-2026-0042.json",
	 OPTION(OPT_CENTRE) | OPTION(OPT_ON), 1, 1},
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
	 "  rollcall profile UMI-2026-0042\n"
	 "  rollcall profile UMI-2026-0042 --photo amina.jpg --taken-on 2026-11-01",
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
		fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
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

	const struct command *command = NULL;
	for (size_t c = 0; c < COMMAND_COUNT; c++)
		if (strcmp(commands[c].name, argv[i]) == 0)
			command = &commands[c];
	if (command == NULL)
		return main_usage_error("unknown command", argv[i]);

	int command_argc = argc - i;
	char **command_argv = argv + i;
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
	rc = command->run(&session, &args);
	session_free(&session);
	curl_global_cleanup();
	if (!flush_stdout() && rc == RC_OK)
		rc = RC_REFUSED;
	return rc;
}
