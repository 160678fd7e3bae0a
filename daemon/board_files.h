/* The duty-office board's files (GET /board/, SPEC section 10): a fixed table of the page's
 * HTML, CSS and JavaScript, read once at start from the board directory. A request names an
 * entry of the table, never a path on disk, so nothing else can be served from there. */
#ifndef ROLLCALL_BOARD_FILES_H
#define ROLLCALL_BOARD_FILES_H

#include <stdbool.h>
#include <stddef.h>

struct board_file {
	const char *name;         /* as requested under /board/: "" is the page itself */
	const char *file;         /* its file in the board directory */
	const char *content_type; /* sent as Content-Type */
	char *data;               /* the contents (owned by board_files.c), NULL when not read */
	size_t len;
};

/* Reads every file of the table from dir (the build's or the package's default,
 * ROLLCALL_BOARD_DIR). A file that cannot be read is logged and left out: the rest of the
 * daemon runs without the board. Returns whether every file was read. Called again, it reads
 * them afresh. */
bool board_files_load(const char *dir) __attribute__((warn_unused_result));

/* Frees what board_files_load read. */
void board_files_unload(void);

/* The table entry requested as `name` ("" or "index.html" for the page), or NULL for any name
 * not in the table. Its data is NULL when the file could not be read. */
const struct board_file *board_files_find(const char *name);

#endif
