/* Pure formatting for rollcall's human output: øre as Danish kroner and plain-text tables.
 * Nothing here does I/O, so the unit tests call it directly. */
#ifndef ROLLCALL_CLIENT_FORMAT_H
#define ROLLCALL_CLIENT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for any int64_t in kroner: sign, 17 digits, 5 dots, comma, NUL. */
#define FORMAT_ORE_SIZE 32

/* Writes ore as kroner with a decimal comma and thousands dots: 129486 -> "1.294,86",
 * -1952 -> "-19,52", 5 -> "0,05". Integer arithmetic only. Returns out. */
char *format_ore(int64_t ore, char out[FORMAT_ORE_SIZE]);

/* The number of terminal columns a UTF-8 string takes, counted as code points (the names rollcall
 * prints are Latin, Arabic, Cyrillic or Pashto script: one column each). */
size_t format_display_width(const char *utf8);

/* A copy of s that is safe to print on a terminal: control characters (which could move the
 * cursor or change colours) and invalid UTF-8 bytes become '?'. NULL gives "". Caller frees;
 * NULL only when out of memory. */
char *format_clean(const char *s);

/* Why the authorities are notified of an absence, in words: "threshold_12h" -> "12 hours
 * without news, under 15". Unknown reasons are returned as they are; NULL gives "". */
const char *format_notify_reason(const char *reason);

enum table_align { TABLE_LEFT, TABLE_RIGHT };

/* A plain-text table: a header row, then rows, columns separated by two spaces, the last column
 * not padded so that no line ends in spaces. */
struct table;

/* headers and align have ncols entries; align may be NULL (all left). NULL when out of memory. */
struct table *table_new(size_t ncols, const char *const *headers, const enum table_align *align);
/* Copies ncols cells (NULL cells print as "") through format_clean. False when out of memory. */
bool table_add_row(struct table *table, const char *const *cells)
    __attribute__((warn_unused_result));
size_t table_rows(const struct table *table);
/* The whole table as one string, each line ending in '\n'. Caller frees; NULL when out of memory.
 */
char *table_render(const struct table *table);
void table_free(struct table *table);

#endif
