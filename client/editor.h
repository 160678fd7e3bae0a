/* A text written in the user's editor, as git and crontab -e do it: a private temporary file
 * ($TMPDIR, else /tmp; mode 0600, since it holds what is written about a child) opened in
 * $VISUAL, else $EDITOR, else vi, read back without the '#' lines and removed. */
#ifndef ROLLCALL_CLIENT_EDITOR_H
#define ROLLCALL_CLIENT_EDITOR_H

#include <stddef.h>

enum editor_result {
	EDITOR_TEXT,   /* *text holds what was written (owned by the caller) */
	EDITOR_EMPTY,  /* nothing but blanks and '#' lines */
	EDITOR_FAILED, /* no temporary file, the editor could not run or failed: see err */
};

/* Opens the editor on a file holding `intro` (lines that should start with '#'). The text
 * comes back without the '#' lines, trimmed of blank lines and trailing blanks. The editor is
 * run through /bin/sh, so EDITOR may hold arguments ("code --wait"). */
enum editor_result editor_compose(const char *intro, char **text, char *err, size_t errlen);

#endif
