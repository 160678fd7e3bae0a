/* Pure formatting for rollcall's human output: øre as Danish kroner ("1.294,86") and plain-text
 * tables with columns measured in code points. No I/O; see format.h. */
#include "format.h"

#include "rollcall/money.h"

#include <stdlib.h>
#include <string.h>

char *format_ore(int64_t ore, char out[FORMAT_ORE_SIZE])
{
	return money_format_kroner(ore, true, out);
}

/* Length of the UTF-8 sequence starting at s (1-4), or 0 if it is not a valid, shortest-form
 * sequence of a Unicode scalar value. */
static size_t utf8_sequence(const unsigned char *s, unsigned long *code_point)
{
	unsigned long cp;
	size_t len;

	if (s[0] < 0x80) {
		*code_point = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		cp = s[0] & 0x1f;
		len = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		cp = s[0] & 0x0f;
		len = 3;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		cp = s[0] & 0x07;
		len = 4;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*code_point = cp;
	return len;
}

size_t format_display_width(const char *utf8)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t width = 0;
	unsigned long cp;

	while (*s) {
		size_t len = utf8_sequence(s, &cp);
		s += len ? len : 1;
		width++;
	}
	return width;
}

char *format_clean(const char *s)
{
	if (s == NULL)
		s = "";
	size_t n = strlen(s);
	char *out = malloc(n + 1);
	if (out == NULL)
		return NULL;

	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	unsigned long cp;
	while (*p) {
		size_t len = utf8_sequence(p, &cp);
		/* C0 and C1 controls and DEL: a terminal may read them as commands (U+009B is CSI).
		 */
		if (len == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			out[o++] = '?';
			p += len ? len : 1;
			continue;
		}
		memcpy(out + o, p, len);
		o += len;
		p += len;
	}
	out[o] = '\0';
	return out;
}

static const struct {
	const char *reason;
	const char *words;
} notify_reasons[] = {
    {"threshold_12h", "12 hours without news, under 15"},
    {"threshold_24h", "24 hours without news, 15 or older"},
    {"concern", "special concern"},
    {"known_departure", "known to have left the centre"},
};

const char *format_notify_reason(const char *reason)
{
	if (reason == NULL)
		return "";
	for (size_t i = 0; i < sizeof(notify_reasons) / sizeof(notify_reasons[0]); i++)
		if (strcmp(notify_reasons[i].reason, reason) == 0)
			return notify_reasons[i].words;
	return reason;
}

struct table {
	size_t ncols;
	enum table_align *align;
	char **cells; /* rows * ncols, the header row first */
	size_t rows;  /* including the header */
	size_t capacity;
};

static bool table_append(struct table *table, const char *const *cells)
{
	if (table->rows == table->capacity) {
		size_t capacity = table->capacity ? table->capacity * 2 : 16;
		char **grown = realloc(table->cells, capacity * table->ncols * sizeof(char *));
		if (grown == NULL)
			return false;
		table->cells = grown;
		table->capacity = capacity;
	}
	char **row = table->cells + table->rows * table->ncols;
	for (size_t c = 0; c < table->ncols; c++) {
		row[c] = format_clean(cells[c]);
		if (row[c] == NULL) {
			for (size_t k = 0; k < c; k++)
				free(row[k]);
			return false;
		}
	}
	table->rows++;
	return true;
}

struct table *table_new(size_t ncols, const char *const *headers, const enum table_align *align)
{
	struct table *table = calloc(1, sizeof(*table));
	if (table == NULL)
		return NULL;
	table->ncols = ncols;
	table->align = calloc(ncols, sizeof(*table->align));
	if (table->align == NULL)
		goto failed;
	for (size_t c = 0; c < ncols; c++)
		table->align[c] = align ? align[c] : TABLE_LEFT;
	if (!table_append(table, headers))
		goto failed;
	return table;

failed:
	table_free(table);
	return NULL;
}

bool table_add_row(struct table *table, const char *const *cells)
{
	return table_append(table, cells);
}

size_t table_rows(const struct table *table)
{
	return table->rows - 1;
}

char *table_render(const struct table *table)
{
	size_t *widths = calloc(table->ncols, sizeof(size_t));
	if (widths == NULL)
		return NULL;

	size_t total = 1;
	for (size_t r = 0; r < table->rows; r++) {
		for (size_t c = 0; c < table->ncols; c++) {
			const char *cell = table->cells[r * table->ncols + c];
			size_t w = format_display_width(cell);
			if (w > widths[c])
				widths[c] = w;
			total += strlen(cell);
		}
	}
	size_t line_width = 0;
	for (size_t c = 0; c < table->ncols; c++)
		line_width += widths[c] + 2;
	/* Padding is at most line_width per row; the cells' bytes are counted in total. */
	total += table->rows * (line_width + 1);

	char *out = malloc(total);
	if (out == NULL) {
		free(widths);
		return NULL;
	}
	size_t o = 0;
	for (size_t r = 0; r < table->rows; r++) {
		size_t line_start = o;
		for (size_t c = 0; c < table->ncols; c++) {
			const char *cell = table->cells[r * table->ncols + c];
			size_t len = strlen(cell);
			size_t pad = widths[c] - format_display_width(cell);
			bool last = c + 1 == table->ncols;
			if (c > 0) {
				out[o++] = ' ';
				out[o++] = ' ';
			}
			if (table->align[c] == TABLE_RIGHT) {
				memset(out + o, ' ', pad);
				o += pad;
			}
			memcpy(out + o, cell, len);
			o += len;
			if (table->align[c] == TABLE_LEFT && !last) {
				memset(out + o, ' ', pad);
				o += pad;
			}
		}
		/* Empty trailing cells would leave spaces at the end of the line. */
		while (o > line_start && out[o - 1] == ' ')
			o--;
		out[o++] = '\n';
	}
	out[o] = '\0';
	free(widths);
	return out;
}

void table_free(struct table *table)
{
	if (table == NULL)
		return;
	if (table->cells != NULL) {
		for (size_t i = 0; i < table->rows * table->ncols; i++)
			free(table->cells[i]);
		free(table->cells);
	}
	free(table->align);
	free(table);
}
