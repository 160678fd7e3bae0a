/* Checks on an HTTP answer's head beyond libcurl's (see http_answer.h). */
#include "http_answer.h"

#include <string.h>

bool http_status_final(long status)
{
	return status >= 200 && status <= 599;
}

/* Compares the next list element of a Content-Length value (digits between optional
 * whitespace, elements separated by commas) with the first one met, kept in first. */
static bool same_number(const char **p, const char **first, size_t *first_len)
{
	const char *s = *p;
	s += strspn(s, " \t");
	size_t digits = strspn(s, "0123456789");
	if (digits == 0)
		return false;
	/* Leading zeros do not make another number. */
	while (digits > 1 && *s == '0')
		s++, digits--;
	/* libcurl cannot hold more and then ignores the header, reading to the connection's end:
	 * a cut answer would pass for whole. */
	if (digits > 18)
		return false;
	if (*first == NULL) {
		*first = s;
		*first_len = digits;
	} else if (digits != *first_len || memcmp(s, *first, digits) != 0) {
		return false;
	}
	s += digits;
	s += strspn(s, " \t");
	if (*s == ',')
		s++;
	else if (*s != '\0')
		return false;
	*p = s;
	return true;
}

bool http_lengths_agree(const char *const *values, size_t count)
{
	const char *first = NULL;
	size_t first_len = 0;
	for (size_t i = 0; i < count; i++) {
		const char *p = values[i];
		do {
			if (!same_number(&p, &first, &first_len))
				return false;
		} while (*p != '\0');
	}
	return true;
}
