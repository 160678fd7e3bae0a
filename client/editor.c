/* The user's editor on a private temporary file (see editor.h). */
#include "editor.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEXT_MAX (64 * 1024) /* the daemon takes 10,000 bytes; more is refused there, named */

/* $VISUAL, else $EDITOR, else vi: the order git, less and crontab use. */
static const char *editor_command(void)
{
	const char *visual = getenv("VISUAL");
	if (visual != NULL && visual[0] != '\0')
		return visual;
	const char *editor = getenv("EDITOR");
	if (editor != NULL && editor[0] != '\0')
		return editor;
	return "vi";
}

/* Runs `sh -c 'EDITOR "$1"' sh FILE` and waits; false with err when it did not exit 0. */
static bool run_editor(const char *file, char *err, size_t errlen)
{
	const char *editor = editor_command();
	char script[4200];
	snprintf(script, sizeof(script), "%s \"$1\"", editor);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the editor: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", script, "sh", file, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "lost the editor: %s", strerror(errno));
			return false;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "the editor '%s' %s %d", editor,
		         WIFEXITED(status) ? "exited with status" : "was stopped by signal",
		         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return false;
	}
	return true;
}

/* Reads the file back without '#' lines; NULL with err on failure. */
static char *read_back(const char *file, char *err, size_t errlen)
{
	FILE *in = fopen(file, "r");
	if (in == NULL) {
		snprintf(err, errlen, "cannot read %s back: %s", file, strerror(errno));
		return NULL;
	}
	char *text = malloc(TEXT_MAX + 1);
	char line[4096];
	size_t used = 0;
	bool too_long = false;
	if (text == NULL) {
		fclose(in);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		if (line[0] == '#')
			continue;
		size_t n = strlen(line);
		if (used + n > TEXT_MAX) {
			too_long = true;
			break;
		}
		memcpy(text + used, line, n);
		used += n;
	}
	bool failed = ferror(in) != 0;
	fclose(in);
	if (failed || too_long) {
		snprintf(err, errlen, "%s",
		         too_long ? "the text is longer than 64 KiB" : "cannot read the text back");
		free(text);
		return NULL;
	}
	text[used] = '\0';
	/* Trailing blanks and newlines go; leading blank lines too. */
	while (used > 0 && strchr(" \t\r\n", text[used - 1]) != NULL)
		text[--used] = '\0';
	size_t lead = strspn(text, "\r\n");
	memmove(text, text + lead, used - lead + 1);
	return text;
}

enum editor_result editor_compose(const char *intro, char **text, char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	char file[4096];
	*text = NULL;
	snprintf(file, sizeof(file), "%s/rollcall-XXXXXX.txt",
	         dir != NULL && dir[0] != '\0' ? dir : "/tmp");
	int fd = mkstemps(file, 4); /* mode 0600 */
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file in %s: %s",
		         dir != NULL && dir[0] != '\0' ? dir : "/tmp", strerror(errno));
		return EDITOR_FAILED;
	}
	size_t n = strlen(intro);
	bool written = write(fd, intro, n) == (ssize_t)n;
	if (close(fd) != 0 || !written) {
		snprintf(err, errlen, "cannot write %s", file);
		unlink(file);
		return EDITOR_FAILED;
	}
	enum editor_result result = EDITOR_FAILED;
	if (run_editor(file, err, errlen)) {
		*text = read_back(file, err, errlen);
		if (*text != NULL && (*text)[strspn(*text, " \t\r\n")] == '\0') {
			free(*text);
			*text = NULL;
			result = EDITOR_EMPTY;
		} else if (*text != NULL) {
			result = EDITOR_TEXT;
		}
	}
	unlink(file);
	return result;
}
