/* The IT person's accounts: `rollcall accounts` (GET /v1/accounts), `account add CN` (POST
 * /v1/accounts) and `account disable CN` (PATCH /v1/accounts/{cn} {"disabled":true}). An
 * account is named by its certificate's subject CN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "json_get.h"
#include "office.h"
#include "rollcall/enums.h"
#include "session.h"

#define CN_MAX 64 /* accounts.cn, as the daemon checks it */

/* "tonder, sandholm" from an account's centres, or "(all)" for an admin without any. */
static void centres_text(const json_t *account, char *out, size_t outlen)
{
	const json_t *centres = json_object_get(account, "centres");
	size_t index;
	json_t *centre;
	out[0] = '\0';
	json_array_foreach(centres, index, centre)
	{
		size_t used = strlen(out);
		if (json_is_string(centre))
			snprintf(out + used, outlen - used, "%s%s", index ? ", " : "",
			         json_string_value(centre));
	}
	if (out[0] == '\0') {
		const char *role = jget_str(account, "role");
		snprintf(out, outlen, "%s", role && strcmp(role, "admin") == 0 ? "(all)" : "-");
	}
}

static bool print_account_line(const json_t *account, const char *verb)
{
	char cn[CN_MAX + 1], role[32], centres[600], authority[32];
	jget_text(account, "cn", cn, sizeof(cn));
	jget_text(account, "role", role, sizeof(role));
	jget_text(account, "authority", authority, sizeof(authority));
	centres_text(account, centres, sizeof(centres));
	char *clean = format_clean(centres);
	printf("Account %s %s: role %s%s%s, centres %s%s.\n", cn, verb, role,
	       authority[0] ? ", authority " : "", authority, clean ? clean : "",
	       json_is_true(json_object_get(account, "disabled")) ? ", DISABLED" : "");
	free(clean);
	return flush_stdout();
}

int cmd_accounts(struct session *session, const struct cmd_args *args)
{
	int rc = RC_OK;
	size_t limit;
	if (!office_limit(args, &limit, &rc))
		return rc;
	json_t *items = NULL, *next = NULL;
	rc = office_list(session, "/v1/accounts", limit, &items, &next);
	if (rc != RC_OK)
		return rc;
	if (session->json) {
		rc = office_print_list(items, next);
		goto done;
	}
	static const char *const headers[] = {"CN", "ROLE", "CENTRES", "AUTHORITY", "STATE"};
	struct table *table = table_new(5, headers, NULL);
	if (table == NULL)
		goto out_of_memory;
	size_t index;
	json_t *account;
	json_array_foreach(items, index, account)
	{
		char cn[CN_MAX + 1], role[32], centres[600], authority[32];
		jget_text(account, "cn", cn, sizeof(cn));
		jget_text(account, "role", role, sizeof(role));
		jget_text(account, "authority", authority, sizeof(authority));
		centres_text(account, centres, sizeof(centres));
		const char *state =
		    json_is_true(json_object_get(account, "disabled")) ? "DISABLED" : "active";
		const char *cells[] = {cn, role, centres, authority, state};
		if (!table_add_row(table, cells)) {
			table_free(table);
			goto out_of_memory;
		}
	}
	rc = office_print_table(table, "", json_array_size(items), "account", next != NULL);
	goto done;

out_of_memory:
	fprintf(stderr, "rollcall: out of memory\n");
	rc = RC_REFUSED;
done:
	json_decref(items);
	json_decref(next);
	return rc;
}

/* A CN as the daemon takes it: 1-64 bytes, no control characters. */
static bool cn_ok(const char *cn)
{
	size_t n = strlen(cn);
	if (n == 0 || n > CN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
			return false;
	return true;
}

int cmd_account_add(struct session *session, const struct cmd_args *args)
{
	const char *cn = args->positional[0];
	const char *role = args->value[OPT_ROLE], *authority = args->value[OPT_AUTHORITY];
	if (!cn_ok(cn))
		return usage_error(args, "CN: '%s' is not a certificate CN (1 to %d characters)",
		                   cn, CN_MAX);
	if (role == NULL || enum_index(enum_roles, role) < 0)
		return usage_error(args,
		                   "--role ROLE is needed: staff, oncall, manager, admin, "
		                   "authority or metrics%s%s%s",
		                   role ? " (not '" : "", role ? role : "", role ? "')" : "");
	if (authority != NULL && enum_index(enum_authority_kinds, authority) < 0)
		return usage_error(args,
		                   "--authority: '%s' is not municipality, police or immigration",
		                   authority);
	if (authority != NULL && strcmp(role, "authority") != 0)
		return usage_error(args, "--authority is only for the authority role");
	if (authority == NULL && strcmp(role, "authority") == 0)
		return usage_error(args, "--authority KIND is needed with the authority role: "
		                         "municipality, police or immigration");
	for (int i = 0; i < args->repeated_count; i++)
		if (args->repeated[i][0] == '\0' || strlen(args->repeated[i]) > 64)
			return usage_error(args, "--centre: '%s' is not a centre id",
			                   args->repeated[i]);

	json_t *centres = json_array();
	json_t *body = json_pack("{ssss}", "cn", cn, "role", role);
	if (centres == NULL || body == NULL) {
		json_decref(centres);
		json_decref(body);
		return RC_REFUSED;
	}
	for (int i = 0; i < args->repeated_count; i++)
		if (json_array_append_new(centres, json_string(args->repeated[i])) != 0) {
			json_decref(centres);
			json_decref(body);
			return RC_REFUSED;
		}
	if (json_object_set_new(body, "centres", centres) != 0 ||
	    (authority != NULL &&
	     json_object_set_new(body, "authority", json_string(authority)) != 0)) {
		json_decref(body);
		return RC_REFUSED;
	}
	json_t *account = NULL;
	int rc = session_send(session, "POST", "/v1/accounts", body, &account);
	json_decref(body);
	if (rc == RC_OK && !office_json_printed(session, account, &rc))
		rc = print_account_line(account, "created") ? RC_OK : RC_REFUSED;
	json_decref(account);
	return rc;
}

int cmd_account_disable(struct session *session, const struct cmd_args *args)
{
	const char *cn = args->positional[0];
	char escaped[PATH_PART_SIZE], path[512];
	if (!cn_ok(cn))
		return usage_error(args, "CN: '%s' is not a certificate CN (1 to %d characters)",
		                   cn, CN_MAX);
	if (!path_escape(cn, escaped) ||
	    !path_format(path, sizeof(path), "/v1/accounts/%s", escaped))
		return RC_USAGE;
	json_t *body = json_pack("{sb}", "disabled", 1);
	if (body == NULL)
		return RC_REFUSED;
	json_t *account = NULL;
	int rc = session_send(session, "PATCH", path, body, &account);
	json_decref(body);
	if (rc == RC_OK && !office_json_printed(session, account, &rc))
		rc = print_account_line(account, "disabled") ? RC_OK : RC_REFUSED;
	json_decref(account);
	return rc;
}
