/* Colours and the bell by alert priority (see colour.h). */
#include "colour.h"

#include <string.h>

bool colour_wanted(bool tty, const char *term, const char *no_color)
{
	/* NO_COLOR: "when present and not an empty string", whatever its value. */
	if (!tty || (no_color != NULL && no_color[0] != '\0'))
		return false;
	return term != NULL && term[0] != '\0' && strcmp(term, "dumb") != 0;
}

const char *colour_of_priority(const char *priority)
{
	if (priority == NULL)
		return "";
	if (strcmp(priority, "urgent") == 0)
		return "\033[1;31m"; /* bold red */
	if (strcmp(priority, "normal") == 0)
		return "\033[1m"; /* bold */
	return "";
}

bool bell_for_priority(const char *priority)
{
	return priority == NULL || strcmp(priority, "info") != 0;
}
