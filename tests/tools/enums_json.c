/* Prints the C enum tables (rollcall/enums.h) as one JSON object, {"roles": ["staff", ...], ...},
 * so that tests/api/test_enums_match_sql.py can compare them with a migrated schema's CHECK
 * constraints without parsing C. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "rollcall/enums.h"

int main(void)
{
	int rc = EXIT_FAILURE;
	char *text = NULL;
	json_t *all = json_object();
	if (all == NULL)
		goto failed;
	for (const struct enum_table *table = enum_tables; table->name != NULL; table++) {
		json_t *values = json_array();
		if (values == NULL || json_object_set_new(all, table->name, values) != 0)
			goto failed;
		for (size_t i = 0; table->values[i] != NULL; i++) {
			if (json_array_append_new(values, json_string(table->values[i])) != 0)
				goto failed;
		}
	}
	text = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text == NULL || puts(text) == EOF || fflush(stdout) != 0)
		goto failed;
	rc = EXIT_SUCCESS;

failed:
	if (rc != EXIT_SUCCESS)
		fprintf(stderr, "enums_json: out of memory or cannot write\n");
	free(text);
	json_decref(all);
	return rc;
}
