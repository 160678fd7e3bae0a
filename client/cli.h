/* The command line of `rollcall`: exit statuses, the options commands may take, the parsed
 * arguments a command receives, and the command handlers the dispatch table in main.c names. */
#ifndef ROLLCALL_CLIENT_CLI_H
#define ROLLCALL_CLIENT_CLI_H

#include <stdbool.h>

/* Exit statuses (SPEC.md section 10). */
enum rc {
	RC_OK = 0,          /* success */
	RC_REFUSED = 1,     /* the server answered, but not with 2xx (or output failed) */
	RC_USAGE = 2,       /* bad arguments, file or configuration */
	RC_UNREACHABLE = 3, /* no answer: refused connection, DNS, timeout, TLS failure */
};

/* Every option a command can take; each command lists the ones it allows (a bit each). */
enum option_id {
	OPT_CENTRE,          /* --centre ID */
	OPT_ON,              /* --on DATE */
	OPT_DATE,            /* --date DATE */
	OPT_SLOT,            /* --slot N */
	OPT_FILE,            /* --file FILE */
	OPT_KNOWN_DEPARTURE, /* --known-departure */
	OPT_CONCERN,         /* --concern TEXT */
	OPT_NOTE,            /* --note TEXT */
	OPT_AT,              /* --at INSTANT */
	OPT_ALL,             /* --all */
	OPT_ABSENCE,         /* --absence ID */
	OPT_PROXY,           /* --proxy NAME */
	OPT_CSV,             /* --csv */
	/* The managers' and the IT person's commands (resident, sanction, account, ...). */
	OPT_GIVEN,            /* --given NAME */
	OPT_FAMILY,           /* --family NAME */
	OPT_BORN,             /* --born DATE */
	OPT_ARRIVAL,          /* --arrival DATE */
	OPT_PHASE,            /* --phase N */
	OPT_ACCOUNTED_FOR_AT, /* --accounted-for-at INSTANT */
	OPT_REASON,           /* --reason TEXT */
	OPT_FROM,             /* --from DATE */
	OPT_TO,               /* --to DATE */
	OPT_PERCENT,          /* --percent N */
	OPT_HEARD_AT,         /* --heard-at INSTANT */
	OPT_RATE_KIND,        /* --kind KIND (of a rate) */
	OPT_PER_DAY_ORE,      /* --per-day-ore N */
	OPT_ROLE,             /* --role ROLE */
	OPT_AUTHORITY,        /* --authority KIND */
	OPT_ACCOUNT_CENTRE,   /* --centre ID, repeatable (an account's centres) */
	OPT_RESIDENT,         /* --resident CASE */
	OPT_ACCOUNT,          /* --account CN */
	OPT_FROM_AT,          /* --from INSTANT */
	OPT_TO_AT,            /* --to INSTANT */
	OPT_OCCURRED_AT,      /* --occurred-at INSTANT */
	OPT_POLICE_REPORT,    /* --police-report NUMBER */
	OPT_LIMIT,            /* --limit N */
	OPT_AGREEMENT_PROXY,  /* --proxy NAME (of a special agreement) */
	OPT_PHOTO,            /* --photo FILE */
	OPT_TAKEN_ON,         /* --taken-on DATE */
	OPT_FIELDS,           /* --fields FILE */
	OPTION_COUNT,
};

#define OPTION(id) (1ull << (id))

/* At most this many values of a repeatable option (an account's centres). */
#define CLI_REPEAT_MAX 32

struct command;
struct session;

/* What a command receives: option values (NULL when not given, "" for flags that were) and the
 * positional arguments. */
struct cmd_args {
	const struct command *command;
	const char *value[OPTION_COUNT];
	char **positional;
	int count;
	/* Every value of the command's repeatable option, in order (value[] has the last). */
	const char *repeated[CLI_REPEAT_MAX];
	int repeated_count;
};

typedef int (*command_fn)(struct session *session, const struct cmd_args *args);

struct command {
	const char *name;
	command_fn run;
	const char *synopsis;       /* after "rollcall ": "absent CASE [--known-departure] ..." */
	const char *summary;        /* one line for the command list */
	const char *help;           /* the rest of --help: what it does, options, examples */
	unsigned long long options; /* OPTION() bits */
	int min_args, max_args;
};

/* Prints "rollcall: MESSAGE", the command's usage line and where to find help on stderr;
 * returns RC_USAGE. */
int usage_error(const struct cmd_args *args, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Command handlers (cmd_*.c). */
int cmd_residents(struct session *session, const struct cmd_args *args);
int cmd_round(struct session *session, const struct cmd_args *args);
int cmd_absent(struct session *session, const struct cmd_args *args);
int cmd_concern(struct session *session, const struct cmd_args *args);
int cmd_returned(struct session *session, const struct cmd_args *args);
int cmd_notifications(struct session *session, const struct cmd_args *args);
int cmd_alerts(struct session *session, const struct cmd_args *args);
int cmd_ack(struct session *session, const struct cmd_args *args);
int cmd_watch(struct session *session, const struct cmd_args *args);
int cmd_statement(struct session *session, const struct cmd_args *args);
int cmd_payout(struct session *session, const struct cmd_args *args);
int cmd_statements(struct session *session, const struct cmd_args *args);
int cmd_clock(struct session *session, const struct cmd_args *args);
int cmd_export(struct session *session, const struct cmd_args *args);
int cmd_sync(struct session *session, const struct cmd_args *args);
int cmd_rounds(struct session *session, const struct cmd_args *args);
int cmd_absences(struct session *session, const struct cmd_args *args);
int cmd_resident_add(struct session *session, const struct cmd_args *args);
int cmd_resident_show(struct session *session, const struct cmd_args *args);
int cmd_resident_edit(struct session *session, const struct cmd_args *args);
int cmd_resident_move(struct session *session, const struct cmd_args *args);
int cmd_resident_depart(struct session *session, const struct cmd_args *args);
int cmd_resident_phase(struct session *session, const struct cmd_args *args);
int cmd_resident_dob(struct session *session, const struct cmd_args *args);
int cmd_sanction(struct session *session, const struct cmd_args *args);
int cmd_agreement(struct session *session, const struct cmd_args *args);
int cmd_rates(struct session *session, const struct cmd_args *args);
int cmd_rates_add(struct session *session, const struct cmd_args *args);
int cmd_accounts(struct session *session, const struct cmd_args *args);
int cmd_account_add(struct session *session, const struct cmd_args *args);
int cmd_account_disable(struct session *session, const struct cmd_args *args);
int cmd_audit(struct session *session, const struct cmd_args *args);
int cmd_incident(struct session *session, const struct cmd_args *args);
int cmd_incidents(struct session *session, const struct cmd_args *args);
int cmd_profile(struct session *session, const struct cmd_args *args);
int cmd_handover(struct session *session, const struct cmd_args *args);

#endif
