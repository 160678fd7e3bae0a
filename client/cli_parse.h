/* Parsing a command's arguments and printing its help (cli.c), used by main.c's dispatch. */
#ifndef ROLLCALL_CLIENT_CLI_PARSE_H
#define ROLLCALL_CLIENT_CLI_PARSE_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

/* "usage: rollcall SYNOPSIS", the description, the command's options and the exit statuses. */
void cli_print_command_help(FILE *out, const struct command *command);

/* True if "--help" or "-h" appears before any "--" in argv[1..]. */
bool cli_wants_help(int argc, char **argv);

/* Parses argv (argv[0] is the command's name) against the options the command allows; --json
 * and --config are accepted here too and reported through json/config_path. RC_OK, or RC_USAGE
 * after printing why. */
int cli_parse_command(const struct command *command, int argc, char **argv, struct cmd_args *args,
                      bool *json, const char **config_path) __attribute__((warn_unused_result));

#endif
