/* Money as the daemon and the client both write it: integer øre shown as Danish kroner with a
 * decimal comma ("1.294,86", or "1294,86" for the finance CSV). Integer arithmetic only, so no
 * floating point is ever involved; the one implementation is common/money.c. */
#ifndef ROLLCALL_MONEY_H
#define ROLLCALL_MONEY_H

#include <stdbool.h>
#include <stdint.h>

/* Room for any int64_t: sign, 17 digits, 6 thousands dots, comma, NUL. */
#define MONEY_KRONER_SIZE 32

/* Writes ore as kroner into out and returns out; thousands adds a dot every three digits.
 * Negative amounts start with '-' ("-0,50"); zero is "0,00". */
char *money_format_kroner(int64_t ore, bool thousands, char out[MONEY_KRONER_SIZE]);

#endif
