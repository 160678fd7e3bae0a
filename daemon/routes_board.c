/* Routes of the duty-office board (SPEC section 10, Board): the page and its two files. The
 * file is a name of board_files.c's fixed table, looked up there, never a path. */
#include <stddef.h>

#include "handlers.h"
#include "router.h"

#define BOARD_NAME_MAX 32

/* /board/{file}: board.css, board.js, account (anything else is 404 from the table). */
static const struct field_spec board_path[] = {
    {.name = "file", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = BOARD_NAME_MAX},
    {.name = NULL},
};

const struct route routes_board[] = {
    /* Typed without the slash: redirected, before any account check (it says nothing). */
    {"GET", "/board", ROLE_ANY_ACCOUNT, NULL, NULL, NULL, NULL, ROUTE_NO_ACCOUNT,
     handle_board_redirect},
    {"GET", "/board/", ROLE_STAFF_PLUS, "board_open", NULL, NULL, NULL, 0, handle_board},
    {"GET", "/board/{file}", ROLE_STAFF_PLUS, "board_open", board_path, NULL, NULL, 0,
     handle_board},
    {.method = NULL},
};
