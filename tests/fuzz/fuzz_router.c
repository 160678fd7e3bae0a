/* libFuzzer harness: the route matcher (daemon/router.c) on any method and path, including
 * percent-encoding, empty and repeated segments and very long paths. Input: METHOD, a newline,
 * the path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "router.h"

/* The route tables name handlers that reach the daemon's state (daemon/main.c owns it); none
 * runs here. */
struct daemon *daemon_state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *path = strchr(text, '\n');
	if (path)
		*path++ = '\0';
	else
		path = text;
	json_t *params = NULL;
	bool method_allowed = false;
	const struct route *route = router_match(text, path, &params, &method_allowed);
	if (route)
		json_decref(params);
	free(text);
	return 0;
}
