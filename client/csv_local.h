/* The statements CSV as it streams from the server, with its `paid_at` column rewritten from
 * the server's UTC instant to the centre's local time with its offset ("2026-01-19T10:02:00
 * +01:00", still RFC 3339), so the finance office reads the time the payout was made at the
 * centre. Every other byte passes unchanged; a line is held only until its end arrives. Pure
 * but for the time zone database. */
#ifndef ROLLCALL_CLIENT_CSV_LOCAL_H
#define ROLLCALL_CLIENT_CSV_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

/* Receives the rewritten text; false stops the stream. */
typedef bool (*csv_emit_fn)(void *arg, const char *data, size_t len);

struct csv_local {
	char zone[64];
	char separator;
	int column; /* the paid_at column, -1 when the header has none, -2 before the header */
	char *line; /* the line being collected (owned) */
	size_t len, cap;
	bool in_quotes;
	csv_emit_fn emit;
	void *arg;
};

void csv_local_init(struct csv_local *csv, const char *zone, char separator, csv_emit_fn emit,
                    void *arg);
/* Feeds bytes; false when emit failed or memory ran out. */
bool csv_local_feed(struct csv_local *csv, const char *data, size_t len)
    __attribute__((warn_unused_result));
/* Emits what is left (a last line without its end). */
bool csv_local_finish(struct csv_local *csv) __attribute__((warn_unused_result));
void csv_local_free(struct csv_local *csv);

#endif
