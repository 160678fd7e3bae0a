/* `rollcall profile CASE [--photo FILE [--taken-on DATE]] [--fields FILE]`: shows a resident's
 * missing-person profile (GET /v1/residents/{id}/profile), or changes it. A PUT replaces the
 * whole profile, so a change is the current profile with the given parts replaced: the new
 * photo, and/or the members of the JSON object in --fields FILE (docs/client.md). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "dates.h"
#include "json_get.h"
#include "resolve.h"
#include "session.h"

/* The server takes 512 KiB; a bigger file is still sent up to this bound so that the server's
 * own refusal (413 naming photo_jpeg_base64) is what the user reads. Beyond it the request
 * would not fit max_body_bytes anyway. */
#define PHOTO_FILE_MAX (700 * 1024)

/* Reads FILE whole into a new buffer (caller frees). NULL after saying why. */
static unsigned char *read_photo(const char *path, size_t *len)
{
	FILE *file = fopen(path, "rb");
	if (file == NULL) {
		fprintf(stderr, "rollcall: cannot open %s: ", path);
		perror(NULL);
		return NULL;
	}
	unsigned char *data = malloc(PHOTO_FILE_MAX + 1);
	size_t n = data ? fread(data, 1, PHOTO_FILE_MAX + 1, file) : 0;
	bool failed = data == NULL || ferror(file);
	fclose(file);
	if (failed) {
		fprintf(stderr, "rollcall: cannot read %s\n", path);
		free(data);
		return NULL;
	}
	if (n > PHOTO_FILE_MAX) {
		fprintf(stderr,
		        "rollcall: %s is larger than %d KiB; a profile photo is at most 512 KiB\n",
		        path, PHOTO_FILE_MAX / 1024);
		free(data);
		return NULL;
	}
	*len = n;
	return data;
}

/* The photo as the JSON string the API takes (standard padded base64). */
static json_t *photo_base64(const unsigned char *data, size_t len)
{
	char *text = malloc(4 * ((len + 2) / 3) + 1);
	if (text == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)text, data, (int)len);
	json_t *value = json_string(text);
	free(text);
	return value;
}

/* The terminal's local date: the default of --taken-on (a photo taken today). */
static void today_local(char out[DATE_TEXT_SIZE])
{
	time_t now = time(NULL);
	struct tm tm;
	if (localtime_r(&now, &tm) == NULL || strftime(out, DATE_TEXT_SIZE, "%Y-%m-%d", &tm) == 0)
		snprintf(out, DATE_TEXT_SIZE, "1970-01-01");
}

/* Applies --photo / --taken-on and --fields to body (the current profile). RC_OK or RC_USAGE. */
static int apply_changes(const struct cmd_args *args, json_t *body)
{
	const char *fields_path = args->value[OPT_FIELDS];
	if (fields_path != NULL) {
		json_error_t error;
		json_t *fields = strcmp(fields_path, "-") == 0
		                     ? json_loadf(stdin, 0, &error)
		                     : json_load_file(fields_path, 0, &error);
		if (fields == NULL)
			return usage_error(args, "%s: line %d: %s", fields_path, error.line,
			                   error.text);
		if (!json_is_object(fields)) {
			json_decref(fields);
			return usage_error(args, "%s must hold a JSON object of profile fields",
			                   fields_path);
		}
		int failed = json_object_update(body, fields);
		json_decref(fields);
		if (failed)
			return usage_error(args, "out of memory");
	}
	const char *photo_path = args->value[OPT_PHOTO];
	const char *taken_on = args->value[OPT_TAKEN_ON];
	if (taken_on != NULL && photo_path == NULL)
		return usage_error(args, "--taken-on is the date of the photo given with --photo");
	if (photo_path == NULL)
		return RC_OK;
	struct date parsed;
	if (taken_on != NULL && !date_parse(taken_on, &parsed))
		return usage_error(args, "--taken-on: '%s' is not a date (YYYY-MM-DD)", taken_on);
	char today[DATE_TEXT_SIZE];
	today_local(today);
	size_t len = 0;
	unsigned char *data = read_photo(photo_path, &len);
	if (data == NULL)
		return RC_USAGE;
	json_t *encoded = photo_base64(data, len);
	free(data);
	if (encoded == NULL || json_object_set_new(body, "photo_jpeg_base64", encoded) != 0 ||
	    json_object_set_new(body, "photo_taken_on", json_string(taken_on ? taken_on : today)) !=
	        0)
		return usage_error(args, "out of memory");
	return RC_OK;
}

/* One text member, or "-" when empty. */
static const char *text_or_dash(const json_t *profile, const char *key)
{
	const char *text = jget_str(profile, key);
	return text && *text ? text : "-";
}

static void print_list(const json_t *profile, const char *key, const char *title)
{
	const json_t *list = json_object_get(profile, key);
	printf("%-12s", title);
	if (!json_is_array(list) || json_array_size(list) == 0) {
		printf("-\n");
		return;
	}
	size_t i;
	const json_t *item;
	json_array_foreach(list, i, item)
	    printf("%s%s", i ? ", " : "", json_is_string(item) ? json_string_value(item) : "?");
	printf("\n");
}

static bool print_profile(const char *case_number, const json_t *profile)
{
	if (json_is_null(json_object_get(profile, "updated_at"))) {
		printf("%s has no missing-person profile yet.\n", case_number);
		return true;
	}
	printf("Missing-person profile of %s (updated %s)\n", case_number,
	       text_or_dash(profile, "updated_at"));
	printf("%-12s%s\n", "Description", text_or_dash(profile, "description"));
	const char *photo = jget_str(profile, "photo_jpeg_base64");
	if (photo != NULL)
		printf("%-12sabout %zu KiB, taken on %s\n", "Photo",
		       (strlen(photo) / 4 * 3 + 1023) / 1024,
		       text_or_dash(profile, "photo_taken_on"));
	else
		printf("%-12s-\n", "Photo");
	print_list(profile, "languages", "Languages");
	const json_t *contacts = json_object_get(profile, "contacts");
	printf("%-12s%s\n", "Contacts", json_array_size(contacts) ? "" : "-");
	size_t i;
	const json_t *contact;
	json_array_foreach(contacts, i, contact)
	{
		printf("  %s (%s): %s\n", text_or_dash(contact, "name"),
		       text_or_dash(contact, "relation"), text_or_dash(contact, "phone"));
	}
	print_list(profile, "places", "Places");
	printf("%-12s%s\n", "Medical", text_or_dash(profile, "medical"));
	printf("%-12s%s\n", "Risks", text_or_dash(profile, "risks"));
	return true;
}

int cmd_profile(struct session *session, const struct cmd_args *args)
{
	const char *case_number = args->positional[0];
	json_t *resident = NULL;
	int rc = resolve_resident(session, args, case_number, NULL, 0, &resident);
	if (rc != RC_OK)
		return rc;
	long long id = 0;
	bool found = jget_int(resident, "id", &id);
	json_decref(resident);
	if (!found)
		return usage_error(args, "the server named resident %s without an id", case_number);
	char path[96];
	if (!path_format(path, sizeof(path), "/v1/residents/%lld/profile", id))
		return RC_USAGE;

	json_t *profile = NULL;
	rc = session_get(session, path, &profile);
	if (rc != RC_OK)
		return rc;
	if (!json_is_object(profile)) {
		json_decref(profile);
		fprintf(stderr, "rollcall: the server's profile is not a JSON object\n");
		return RC_REFUSED;
	}
	bool change = args->value[OPT_PHOTO] != NULL || args->value[OPT_FIELDS] != NULL ||
	              args->value[OPT_TAKEN_ON] != NULL;
	if (change) {
		/* The server sets updated_at; the rest of the current profile is kept. */
		json_object_del(profile, "updated_at");
		rc = apply_changes(args, profile);
		json_t *stored = NULL;
		if (rc == RC_OK)
			rc = session_send(session, "PUT", path, profile, &stored);
		json_decref(profile);
		if (rc != RC_OK)
			return rc;
		profile = stored ? stored : json_object();
	}
	bool printed = session->json ? print_json(profile) : print_profile(case_number, profile);
	json_decref(profile);
	return printed ? RC_OK : RC_REFUSED;
}
