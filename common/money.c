/* Øre written as kroner (see rollcall/money.h), for statements, the CSV export and the client. */
#include "rollcall/money.h"

#include <stddef.h>

char *money_format_kroner(int64_t ore, bool thousands, char out[MONEY_KRONER_SIZE])
{
	/* The magnitude as unsigned, so that INT64_MIN has one too. */
	uint64_t magnitude = ore < 0 ? (uint64_t)0 - (uint64_t)ore : (uint64_t)ore;
	uint64_t kroner = magnitude / 100;
	unsigned part = (unsigned)(magnitude % 100);
	/* Built from the right, then reversed into out. */
	char reversed[MONEY_KRONER_SIZE];
	size_t n = 0;
	reversed[n++] = (char)('0' + part % 10);
	reversed[n++] = (char)('0' + part / 10);
	reversed[n++] = ',';
	unsigned digits = 0;
	do {
		if (thousands && digits > 0 && digits % 3 == 0)
			reversed[n++] = '.';
		reversed[n++] = (char)('0' + kroner % 10);
		kroner /= 10;
		digits++;
	} while (kroner > 0);
	if (ore < 0)
		reversed[n++] = '-';
	for (size_t i = 0; i < n; i++)
		out[i] = reversed[n - 1 - i];
	out[n] = '\0';
	return out;
}
