/* Command-line parsing shared by every command: the option table (names, argument, help line),
 * getopt_long over the options a command allows, --help output and usage errors. */
#include "cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli_parse.h"

/* Given several times, each value kept (cmd_args.repeated): an account's centres only. */
static bool option_repeatable(int id)
{
	return id == OPT_ACCOUNT_CENTRE;
}

/* One row per option_id, in its order. */
static const struct option_spec {
	const char *name;
	const char *arg; /* NULL for a flag */
	const char *help;
} option_table[OPTION_COUNT] = {
    [OPT_CENTRE] = {"centre", "ID", "the centre (needed when your account has several)"},
    [OPT_ON] = {"on", "DATE", "the day, YYYY-MM-DD (default: today at the centre)"},
    [OPT_DATE] = {"date", "DATE", "the round's day, YYYY-MM-DD"},
    [OPT_SLOT] = {"slot", "N", "the round: 1, 2 or 3 (the day's first, second, third check)"},
    [OPT_FILE] = {"file", "FILE", "send the round from FILE ('-' for standard input)"},
    [OPT_KNOWN_DEPARTURE] = {"known-departure", NULL,
                             "staff know the resident has left the centre: the authorities "
                             "are notified at once"},
    [OPT_CONCERN] = {"concern", "TEXT", "a special concern: the authorities are notified at once"},
    [OPT_NOTE] = {"note", "TEXT", "a note kept with the absence"},
    [OPT_AT] = {"at", "TIME",
                "when, in the centre's time: 07:05 (today), \"2026-11-21 08:15\", or RFC 3339 "
                "with offset; default now"},
    [OPT_ALL] = {"all", NULL, "all alerts, not only the open ones"},
    [OPT_ABSENCE] = {"absence", "ID", "only the notifications of this absence"},
    [OPT_PROXY] = {"proxy", "NAME",
                   "collected by NAME under a special agreement (default: in person)"},
    [OPT_CSV] = {"csv", NULL, "CSV for the finance system, streamed as the server sends it"},
    [OPT_GIVEN] = {"given", "NAME", "the given name(s)"},
    [OPT_FAMILY] = {"family", "NAME", "the family name"},
    [OPT_BORN] = {"born", "DATE", "the date of birth, YYYY-MM-DD"},
    [OPT_ARRIVAL] = {"arrival", "DATE", "the arrival at the centre, YYYY-MM-DD"},
    [OPT_PHASE] = {"phase", "N", "the asylum phase: 1 reception, 2 case processing, 3 departure"},
    [OPT_ACCOUNTED_FOR_AT] = {"accounted-for-at", "INSTANT",
                              "the last time staff knew the resident was at the centre "
                              "(RFC 3339, or YYYY-MM-DD HH:MM in the centre's time)"},
    [OPT_REASON] = {"reason", "TEXT", "why (kept with the record)"},
    [OPT_FROM] = {"from", "DATE", "the first day, YYYY-MM-DD"},
    [OPT_TO] = {"to", "DATE", "the last day, YYYY-MM-DD"},
    [OPT_PERCENT] = {"percent", "N", "the share of the supplement withdrawn, 1-100"},
    [OPT_HEARD_AT] = {"heard-at", "INSTANT",
                      "when the resident was heard (RFC 3339, or YYYY-MM-DD HH:MM in the "
                      "centre's time)"},
    [OPT_RATE_KIND] = {"kind", "KIND", "base, supplement_phase1 or supplement_phase2"},
    [OPT_PER_DAY_ORE] = {"per-day-ore", "N", "the rate per day in øre (5841 is 58,41 kr.)"},
    [OPT_ROLE] = {"role", "ROLE", "staff, oncall, manager, admin, authority or metrics"},
    [OPT_AUTHORITY] = {"authority", "KIND",
                       "for the authority role: municipality, police or immigration"},
    [OPT_ACCOUNT_CENTRE] = {"centre", "ID", "a centre of the account (repeat for several)"},
    [OPT_RESIDENT] = {"resident", "CASE", "only about this resident (case number or id:N)"},
    [OPT_ACCOUNT] = {"account", "CN", "only what this account did"},
    [OPT_FROM_AT] = {"from", "INSTANT",
                     "from this instant on (RFC 3339, or YYYY-MM-DD [HH:MM] local time)"},
    [OPT_TO_AT] = {"to", "INSTANT",
                   "before this instant (RFC 3339, or YYYY-MM-DD [HH:MM] local time)"},
    [OPT_OCCURRED_AT] = {"occurred-at", "INSTANT",
                         "when it happened (RFC 3339, or YYYY-MM-DD HH:MM in the centre's "
                         "time; default now)"},
    [OPT_POLICE_REPORT] = {"police-report", "NUMBER", "the police report number (in9)"},
    [OPT_LIMIT] = {"limit", "N", "show at most N items (default: all, page after page)"},
    [OPT_AGREEMENT_PROXY] = {"proxy", "NAME", "the person who may collect the allowance"},
    [OPT_PHOTO] = {"photo", "FILE", "a JPEG photo of at most 512 KiB to put in the profile"},
    [OPT_TAKEN_ON] = {"taken-on", "DATE",
                      "the day the photo was taken, YYYY-MM-DD (default: today)"},
    [OPT_FIELDS] = {"fields", "FILE",
                    "a JSON object of profile fields to replace ('-' for standard input)"},
};

int usage_error(const struct cmd_args *args, const char *format, ...)
{
	va_list ap;
	fputs("rollcall: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (args != NULL && args->command != NULL)
		fprintf(stderr, "usage: rollcall %s\nTry 'rollcall %s --help'.\n",
		        args->command->synopsis, args->command->name);
	else
		fputs("Try 'rollcall --help'.\n", stderr);
	return RC_USAGE;
}

void cli_print_command_help(FILE *out, const struct command *command)
{
	fprintf(out, "usage: rollcall %s\n\n%s\n", command->synopsis, command->help);
	fputs("\nOptions:\n", out);
	for (int id = 0; id < OPTION_COUNT; id++) {
		if (!(command->options & OPTION(id)))
			continue;
		const struct option_spec *spec = &option_table[id];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", spec->name, spec->arg ? " " : "",
		         spec->arg ? spec->arg : "");
		fprintf(out, "  %-20s %s\n", left, spec->help);
	}
	fprintf(out, "  %-20s %s\n", "--json", "print the server's JSON answer instead");
	fprintf(out, "  %-20s %s\n", "--config FILE", "the configuration file");
	fprintf(out, "  %-20s %s\n", "--help", "this text");
	fputs("\nExit status: 0 done, 1 refused by the server, 2 usage error, 3 cannot reach the "
	      "server.\n",
	      out);
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int cli_parse_command(const struct command *command, int argc, char **argv, struct cmd_args *args,
                      bool *json, const char **config_path)
{
	enum { LONG_JSON = OPTION_COUNT, LONG_CONFIG, LONG_HELP };
	_Static_assert(OPTION_COUNT <= 64, "option bits do not fit in unsigned long long");
	struct option longopts[OPTION_COUNT + 4];
	int n = 0;

	memset(args, 0, sizeof(*args));
	args->command = command;
	for (int id = 0; id < OPTION_COUNT; id++) {
		if (!(command->options & OPTION(id)))
			continue;
		longopts[n++] = (struct option){
		    option_table[id].name, option_table[id].arg ? required_argument : no_argument,
		    NULL, id};
	}
	longopts[n++] = (struct option){"json", no_argument, NULL, LONG_JSON};
	longopts[n++] = (struct option){"config", required_argument, NULL, LONG_CONFIG};
	longopts[n++] = (struct option){"help", no_argument, NULL, LONG_HELP};
	longopts[n] = (struct option){NULL, 0, NULL, 0};

	/* argv[0] is the command's name; optind = 0 makes GNU getopt start afresh. Options may
	 * come after the arguments ("absent UMI-7 --concern ..."); "--" ends them. */
	optind = 0;
	opterr = 0;
	for (;;) {
		int index = -1;
		int c = getopt_long(argc, argv, ":h", longopts, &index);
		if (c == -1)
			break;
		if (c == '?') {
			if (optopt != 0 && optopt < OPTION_COUNT)
				return usage_error(args, "--%s takes no value",
				                   option_table[optopt].name);
			return usage_error(args, "unknown option '%s' for %s", argv[optind - 1],
			                   command->name);
		}
		if (c == ':') {
			const char *name = argv[optind - 1];
			return usage_error(args, "%s needs a value", name);
		}
		if (c == LONG_JSON) {
			*json = true;
		} else if (c == LONG_CONFIG) {
			*config_path = optarg;
		} else if (c == LONG_HELP || c == 'h') {
			continue; /* handled before parsing */
		} else if (c >= 0 && c < OPTION_COUNT) {
			if (option_repeatable(c)) {
				if (args->repeated_count == CLI_REPEAT_MAX)
					return usage_error(args, "--%s is given more than %d times",
					                   option_table[c].name, CLI_REPEAT_MAX);
				args->repeated[args->repeated_count++] = optarg;
			} else if (args->value[c] != NULL) {
				return usage_error(args, "--%s is given twice",
				                   option_table[c].name);
			}
			args->value[c] = option_table[c].arg ? optarg : "";
		}
	}
	args->positional = argv + optind;
	args->count = argc - optind;
	if (args->count < command->min_args)
		return usage_error(args, "%s needs %s", command->name,
		                   command->min_args == 1 ? "an argument" : "more arguments");
	if (args->count > command->max_args)
		return usage_error(args, "unexpected argument '%s'",
		                   args->positional[command->max_args]);
	return RC_OK;
}
