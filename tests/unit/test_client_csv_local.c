/* Unit tests of client/csv_local.c: the statements CSV passes through byte for byte but for its
 * paid_at column, rewritten to the centre's local time with its offset, however the stream is
 * cut into pieces, quoted fields with separators and line breaks included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "csv_local.h"

struct sink {
	char text[4096];
	size_t len;
};

static bool collect(void *arg, const char *data, size_t len)
{
	struct sink *sink = arg;
	if (sink->len + len >= sizeof(sink->text))
		return false;
	memcpy(sink->text + sink->len, data, len);
	sink->len += len;
	sink->text[sink->len] = '\0';
	return true;
}

static const char input[] =
    "period_start;case_number;family_name;paid_at;collected_by\r\n"
    "2026-01-05;TON-1;\"Ny; \"\"Kaldet\"\"\";2026-01-19T09:02:00+00:00;self\r\n"
    "2026-01-05;TON-2;\"Two\r\nlines\";;\r\n"
    "2026-01-05;TON-3;Summer;2026-07-01T05:00:00Z;Amina\r\n";

static const char expected[] =
    "period_start;case_number;family_name;paid_at;collected_by\r\n"
    "2026-01-05;TON-1;\"Ny; \"\"Kaldet\"\"\";2026-01-19T10:02:00+01:00;self\r\n"
    "2026-01-05;TON-2;\"Two\r\nlines\";;\r\n"
    "2026-01-05;TON-3;Summer;2026-07-01T07:00:00+02:00;Amina\r\n";

static void feed_in_pieces(size_t piece)
{
	struct sink sink = {.len = 0};
	struct csv_local csv;
	csv_local_init(&csv, "Europe/Copenhagen", ';', collect, &sink);
	size_t len = strlen(input);
	for (size_t at = 0; at < len; at += piece) {
		size_t n = len - at < piece ? len - at : piece;
		assert_true(csv_local_feed(&csv, input + at, n));
	}
	assert_true(csv_local_finish(&csv));
	csv_local_free(&csv);
	assert_string_equal(sink.text, expected);
}

static void test_paid_at_is_local_whatever_the_pieces(void **state)
{
	(void)state;
	feed_in_pieces(strlen(input));
	feed_in_pieces(1);
	feed_in_pieces(7);
}

static void test_a_csv_without_paid_at_passes_unchanged(void **state)
{
	(void)state;
	static const char other[] = "a;b\r\n2026-01-19T09:02:00+00:00;x\r\nlast";
	struct sink sink = {.len = 0};
	struct csv_local csv;
	csv_local_init(&csv, "Europe/Copenhagen", ';', collect, &sink);
	assert_true(csv_local_feed(&csv, other, strlen(other)));
	assert_true(csv_local_finish(&csv));
	csv_local_free(&csv);
	assert_string_equal(sink.text, other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paid_at_is_local_whatever_the_pieces),
	    cmocka_unit_test(test_a_csv_without_paid_at_passes_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
