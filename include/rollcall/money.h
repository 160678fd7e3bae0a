/* Money as the daemon and the client both write it: integer øre shown as Danish kroner with a
 * decimal comma ("1.294,86", or "1294,86" for the finance CSV). Header-only and pure, so both
 * programs share one implementation and no floating point is ever involved. */
#ifndef ROLLCALL_MONEY_H
#define ROLLCALL_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for any int64_t: sign, 17 digits, 6 thousands dots, comma, NUL. */
#define MONEY_KRONER_SIZE 32

/* Writes ore as kroner into out and returns out; thousands adds a dot every three digits. */
static inline char *money_format_kroner(int64_t ore, bool thousands, char out[MONEY_KRONER_SIZE])
{
	/* The magnitude as unsigned, so that INT64_MIN has one too. */
	uint64_t magnitude = ore < 0 ? (uint64_t)0 - (uint64_t)ore : (uint64_t)ore;
	uint64_t kroner = magnitude / 100;
	unsigned part = (unsigned)(magnitude % 100);
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

#endif
