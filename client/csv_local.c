/* The statements CSV with paid_at in the centre's local time (see csv_local.h). */
#include "csv_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dates.h"
#include "zone.h"

void csv_local_init(struct csv_local *csv, const char *zone, char separator, csv_emit_fn emit,
                    void *arg)
{
	memset(csv, 0, sizeof(*csv));
	snprintf(csv->zone, sizeof(csv->zone), "%s", zone ? zone : "");
	csv->separator = separator;
	csv->column = -2;
	csv->emit = emit;
	csv->arg = arg;
}

void csv_local_free(struct csv_local *csv)
{
	free(csv->line);
	csv->line = NULL;
	csv->len = csv->cap = 0;
}

/* The bounds [*start, *end) of field `index` of line (quotes respected), false if it has fewer
 * fields. */
static bool field_bounds(const char *line, size_t len, char separator, int index, size_t *start,
                         size_t *end)
{
	int field = 0;
	bool quoted = false;
	size_t begin = 0;
	for (size_t i = 0; i <= len; i++) {
		bool at_end = i == len || line[i] == '\r' || line[i] == '\n';
		if (i < len && line[i] == '"')
			quoted = !quoted;
		else if (at_end || (!quoted && line[i] == separator)) {
			if (field == index) {
				*start = begin;
				*end = i;
				return true;
			}
			if (at_end)
				return false;
			field++;
			begin = i + 1;
		}
	}
	return false;
}

/* One whole line (with its line end): the header finds the column, later lines are rewritten. */
static bool emit_line(struct csv_local *csv, const char *line, size_t len)
{
	size_t start, end;
	if (csv->column == -2) {
		csv->column = -1;
		for (int i = 0; field_bounds(line, len, csv->separator, i, &start, &end); i++)
			if (end - start == 7 && memcmp(line + start, "paid_at", 7) == 0)
				csv->column = i;
		return csv->emit(csv->arg, line, len);
	}
	char text[64], local[ZONE_RFC3339_SIZE];
	time_t t;
	if (csv->column < 0 ||
	    !field_bounds(line, len, csv->separator, csv->column, &start, &end) ||
	    end - start == 0 || end - start >= sizeof(text))
		return csv->emit(csv->arg, line, len);
	memcpy(text, line + start, end - start);
	text[end - start] = '\0';
	if (!instant_parse(text, &t))
		return csv->emit(csv->arg, line, len);
	zone_format_rfc3339(csv->zone, t, local);
	return csv->emit(csv->arg, line, start) && csv->emit(csv->arg, local, strlen(local)) &&
	       csv->emit(csv->arg, line + end, len - end);
}

bool csv_local_feed(struct csv_local *csv, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (csv->len + 1 >= csv->cap) {
			size_t grown = csv->cap ? csv->cap * 2 : 1024;
			char *more = realloc(csv->line, grown);
			if (more == NULL)
				return false;
			csv->line = more;
			csv->cap = grown;
		}
		char c = data[i];
		csv->line[csv->len++] = c;
		if (c == '"')
			csv->in_quotes = !csv->in_quotes;
		else if (c == '\n' && !csv->in_quotes) {
			bool ok = emit_line(csv, csv->line, csv->len);
			csv->len = 0;
			if (!ok)
				return false;
		}
	}
	return true;
}

bool csv_local_finish(struct csv_local *csv)
{
	bool ok = csv->len == 0 || emit_line(csv, csv->line, csv->len);
	csv->len = 0;
	return ok;
}
