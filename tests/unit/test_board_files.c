/* Unit tests of daemon/board_files.c: the board's fixed file table (names, not paths) and its
 * loading from the build's board directory, and what a missing directory leaves. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "board_files.h"

static void test_the_table_names_three_files(void **state)
{
	(void)state;
	assert_true(board_files_load(ROLLCALL_BOARD_DIR));
	const struct board_file *page = board_files_find("");
	assert_non_null(page);
	assert_ptr_equal(board_files_find("index.html"), page);
	assert_string_equal(page->content_type, "text/html; charset=utf-8");
	assert_non_null(page->data);
	/* The data is the file's bytes, not a C string: search within its length. */
	static const char script[] = "<script src=\"board.js\"";
	assert_non_null(memmem(page->data, page->len, script, sizeof script - 1));
	assert_string_equal(board_files_find("board.js")->content_type,
	                    "text/javascript; charset=utf-8");
	assert_string_equal(board_files_find("board.css")->content_type, "text/css; charset=utf-8");
	assert_true(board_files_find("board.css")->len > 0);
	board_files_unload();
	assert_null(page->data);
}

static void test_anything_else_is_not_in_the_table(void **state)
{
	(void)state;
	const char *names[] = {"../board.js", "board.js/",   "BOARD.JS",      "index.htm", ".",
	                       "..",          "/etc/passwd", "board.css.map", "account"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_null(board_files_find(names[i]));
	assert_null(board_files_find(NULL));
}

static void test_a_missing_directory_leaves_the_files_unread(void **state)
{
	(void)state;
	assert_false(board_files_load("/nonexistent/rollcall-board"));
	const struct board_file *page = board_files_find("");
	assert_non_null(page);
	assert_null(page->data);
	assert_int_equal(page->len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_table_names_three_files),
	    cmocka_unit_test(test_anything_else_is_not_in_the_table),
	    cmocka_unit_test(test_a_missing_directory_leaves_the_files_unread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
