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
	OPT_PHOTO,           /* --photo FILE */
	OPT_TAKEN_ON,        /* --taken-on DATE */
	OPT_FIELDS,          /* --fields FILE */
	OPTION_COUNT,
};

#define OPTION(id) (1u << (id))

struct command;
struct session;

/* What a command receives: option values (NULL when not given, "" for flags that were) and the
 * positional arguments. */
struct cmd_args {
	const struct command *command;
	const char *value[OPTION_COUNT];
	char **positional;
	int count;
};

typedef int (*command_fn)(struct session *session, const struct cmd_args *args);

struct command {
	const char *name;
	command_fn run;
	const char *synopsis; /* after "rollcall ": "absent CASE [--known-departure] ..." */
	const char *summary;  /* one line for the command list */
	const char *help;     /* the rest of --help: what it does, options, examples */
	unsigned options;     /* OPTION() bits */
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
int cmd_profile(struct session *session, const struct cmd_args *args);

#endif
