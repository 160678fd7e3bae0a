/* Single-key input for the interactive round: the terminal in non-canonical, no-echo mode, put
 * back as it was on every way out (return, exit(), Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) and around
 * Ctrl-Z, so staff never end up with a terminal that does not echo. */
#ifndef ROLLCALL_CLIENT_TERMINAL_H
#define ROLLCALL_CLIENT_TERMINAL_H

#include <stdbool.h>
#include <stddef.h>

#define TERMINAL_KEY_ESCAPE 27 /* Escape, or an arrow/function key (its sequence is swallowed) */
#define TERMINAL_KEY_EOF (-1)  /* end of input or a read error */

/* Switches fd (a terminal) to single-key mode. False if it is not a terminal or cannot be set. */
bool terminal_raw_begin(int fd) __attribute__((warn_unused_result));
/* Restores the terminal as terminal_raw_begin found it; harmless when not in raw mode. */
void terminal_raw_end(void);
/* One key: a byte (letters as typed), TERMINAL_KEY_ESCAPE or TERMINAL_KEY_EOF. */
int terminal_read_key(void);
/* One line typed with echo and editing (the terminal's own line mode), without the newline.
 * False at end of input. Returns to single-key mode afterwards. */
bool terminal_read_line(char *out, size_t outlen);

#endif
