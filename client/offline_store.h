/* What the terminal keeps for rounds taken without the server: the expected residents it last
 * fetched, per centre, under $XDG_CACHE_HOME/rollcall/ (default ~/.cache), and the rounds
 * waiting to be sent under $XDG_STATE_HOME/rollcall/pending/ (default ~/.local/state). Both
 * directories are 0700 and every file 0600: they name children. Every write is atomic (a
 * temporary file, fsync, rename, fsync of the directory), so a power cut leaves the previous
 * version or the new one, never half of one. */
#ifndef ROLLCALL_CLIENT_OFFLINE_STORE_H
#define ROLLCALL_CLIENT_OFFLINE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define OFFLINE_PATH_SIZE 1024

enum offline_dir { OFFLINE_CACHE, OFFLINE_PENDING };

/* The directory, created (0700) if missing. False after saying why on stderr. */
bool offline_dir_path(enum offline_dir which, char out[OFFLINE_PATH_SIZE])
    __attribute__((warn_unused_result));

/* Writes value as JSON to dir/name atomically, mode 0600. False after saying why. */
bool offline_write(enum offline_dir which, const char *name, const json_t *value)
    __attribute__((warn_unused_result));

/* Reads dir/name: RC-like results so a corrupt file is told from a missing one. */
enum offline_read { OFFLINE_READ_OK, OFFLINE_READ_MISSING, OFFLINE_READ_CORRUPT };
enum offline_read offline_read(enum offline_dir which, const char *name, json_t **value, char *why,
                               size_t whylen);

/* Removes dir/name (a round the server has). False after saying why. */
bool offline_remove(enum offline_dir which, const char *name) __attribute__((warn_unused_result));

/* Renames dir/name to dir/name.SUFFIX (a corrupt or refused round, kept for a person to look
 * at, never deleted) and writes the new name into kept. False after saying why. */
bool offline_set_aside(enum offline_dir which, const char *name, const char *suffix,
                       char kept[OFFLINE_PATH_SIZE]) __attribute__((warn_unused_result));

/* The names of the pending rounds (files ending in ".json"), sorted: the names begin with the
 * instant the round was started, so this is oldest first. A new array of strings. */
json_t *offline_pending_names(void);

/* The same for any directory: files whose name starts with prefix and ends in ".json". */
json_t *offline_list(enum offline_dir which, const char *prefix);

/* The number of observations waiting in every readable pending round. */
size_t offline_pending_observations(void);

#endif
