/* Emphasis for alerts on a terminal: whether to colour at all (a terminal that is not "dumb",
 * and no NO_COLOR, https://no-color.org) and the escape sequences per priority. Pure. */
#ifndef ROLLCALL_CLIENT_COLOUR_H
#define ROLLCALL_CLIENT_COLOUR_H

#include <stdbool.h>

/* tty: stdout is a terminal; term and no_color: $TERM and $NO_COLOR (NULL when unset). */
bool colour_wanted(bool tty, const char *term, const char *no_color);

/* The sequence that starts a line of this priority ("urgent", "normal", "info"), "" for none
 * (info and unknown priorities stay plain); COLOUR_RESET ends it. */
const char *colour_of_priority(const char *priority);
#define COLOUR_RESET "\033[0m"
/* For the banners that say alerting is impaired or the connection is lost. */
#define COLOUR_ALARM "\033[1;97;41m"

/* Whether the terminal bell belongs to an alert of this priority: urgent and normal alerts need
 * someone, info ones do not. An unknown priority rings (better once too often). */
bool bell_for_priority(const char *priority);

#endif
