/* The board's fixed file table and its loading (board_files.h). The files are small (tens of
 * KiB) and read once at start, so serving them never touches the disk from the event loop. */
#include "board_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BOARD_FILE_MAX (1024 * 1024) /* a page, a style sheet and a script: far below */

static struct board_file board_table[] = {
    {.name = "", .file = "index.html", .content_type = "text/html; charset=utf-8"},
    {.name = "board.css", .file = "board.css", .content_type = "text/css; charset=utf-8"},
    {.name = "board.js", .file = "board.js", .content_type = "text/javascript; charset=utf-8"},
};

#define BOARD_FILE_COUNT (sizeof board_table / sizeof board_table[0])

/* Reads one whole file into a new buffer (caller owns), at most BOARD_FILE_MAX bytes. */
static bool read_whole(const char *path, char **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	if (!f) {
		log_error("board: cannot open %s: %s", path, strerror(errno));
		return false;
	}
	if (!(buf = malloc(BOARD_FILE_MAX)))
		goto failed;
	size_t len = fread(buf, 1, BOARD_FILE_MAX, f);
	if (ferror(f)) {
		log_error("board: cannot read %s: %s", path, strerror(errno));
		goto failed;
	}
	if (len == BOARD_FILE_MAX) {
		log_error("board: %s is larger than %d bytes", path, BOARD_FILE_MAX);
		goto failed;
	}
	char *shrunk = realloc(buf, len ? len : 1);
	if (shrunk)
		buf = shrunk;
	fclose(f);
	*out = buf;
	*out_len = len;
	return true;
failed:
	free(buf);
	fclose(f);
	return false;
}

bool board_files_load(const char *dir)
{
	bool all = true;
	board_files_unload();
	for (size_t i = 0; i < BOARD_FILE_COUNT; i++) {
		char path[4096];
		int n = snprintf(path, sizeof path, "%s/%s", dir, board_table[i].file);
		if (n < 0 || (size_t)n >= sizeof path) {
			log_error("board: the directory name %s is too long", dir);
			all = false;
			continue;
		}
		if (!read_whole(path, &board_table[i].data, &board_table[i].len))
			all = false;
	}
	if (!all)
		log_error("board: GET /board/ answers 503 until the files in %s can be read "
		          "(restart after installing them)",
		          dir);
	return all;
}

void board_files_unload(void)
{
	for (size_t i = 0; i < BOARD_FILE_COUNT; i++) {
		free(board_table[i].data);
		board_table[i].data = NULL;
		board_table[i].len = 0;
	}
}

const struct board_file *board_files_find(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "index.html") == 0)
		name = "";
	for (size_t i = 0; i < BOARD_FILE_COUNT; i++)
		if (strcmp(board_table[i].name, name) == 0)
			return &board_table[i];
	return NULL;
}
