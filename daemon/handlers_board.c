/* GET /board/ and its files (SPEC section 10, Board): api() checks the account (staff+ of any
 * centre, not disabled) as for every route, then the fixed file is answered with headers that
 * let the browser run only the board's own script and style sheet and load nothing from
 * elsewhere. What the page then shows comes from the JSON API, with that certificate's rights;
 * /board/account tells it which account and role that is (op_board_open's answer). */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "board_files.h"
#include "handlers.h"
#include "request.h"

/* No inline script or style, nothing from another origin, never framed: resident names on the
 * page are data (textContent), and even an injected tag could neither run nor send them away. */
#define BOARD_CSP                                                                                  \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

static const char *const board_headers[][2] = {
    {"Content-Security-Policy", BOARD_CSP},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
};

static void board_answered(struct request *req, int status, json_t *body)
{
	if (request_reply_unless_ok(req, status, body))
		return;
	const char *name = json_string_value(json_object_get(req->path, "file"));
	/* The page asks who it runs as, to show the alerts and their acknowledge buttons only to
	 * the roles the API serves them to. */
	if (name && strcmp(name, "account") == 0) {
		request_reply_json(req, 200, json_incref(body));
		return;
	}
	const struct board_file *file = board_files_find(name ? name : "");
	if (!file) {
		request_reply_error(req, 404, "not_found", "the board has no such file", NULL);
		return;
	}
	if (!file->data) {
		request_reply_error(req, 503, "board_unavailable",
		                    "the board's files could not be read at start; see the log",
		                    NULL);
		return;
	}
	for (size_t i = 0; i < sizeof board_headers / sizeof board_headers[0]; i++)
		request_add_header(req, board_headers[i][0], board_headers[i][1]);
	request_reply_text(req, 200, file->content_type, file->data, file->len);
}

/* The page's files are relative to /board/, so /board must become /board/ for them to load. */
void handle_board_redirect(struct request *req)
{
	static const char text[] = "the board is at /board/\n";
	request_add_header(req, "Location", "/board/");
	request_reply_text(req, 308, "text/plain; charset=utf-8", text, sizeof text - 1);
}

void handle_board(struct request *req)
{
	request_api_call(req, "board_open", NULL, board_answered);
}
