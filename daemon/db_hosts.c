/* Rotating the host list of a multi-host conninfo for the pool's connection attempts (see
 * db_hosts.h for why). The conninfo is parsed once; each attempt gets keyword and value arrays
 * in which the comma-separated host, hostaddr and port lists start at another entry. */
#include "db_hosts.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct db_hosts {
	PQconninfoOption *options;
	int count;
};

static int list_length(const char *list)
{
	int n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	return n;
}

static bool is_host_list(const char *keyword)
{
	return strcmp(keyword, "host") == 0 || strcmp(keyword, "hostaddr") == 0 ||
	       strcmp(keyword, "port") == 0;
}

/* list rotated to start at entry first: "a,b,c" from 1 is "b,c,a". The caller frees it. */
static char *rotate(const char *list, int first)
{
	int n = list_length(list);
	size_t len = strlen(list);
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	if (n <= 1 || first % n == 0) {
		memcpy(out, list, len + 1);
		return out;
	}
	const char *start = list;
	for (int i = 0; i < first % n; i++)
		start = strchr(start, ',') + 1;
	size_t tail = len - (size_t)(start - list);
	memcpy(out, start, tail);
	out[tail] = ',';
	memcpy(out + tail + 1, list, len - tail - 1);
	out[len] = '\0';
	return out;
}

struct db_hosts *db_hosts_new(const char *conninfo)
{
	struct db_hosts *hosts = calloc(1, sizeof *hosts);
	if (!hosts)
		return NULL;
	hosts->options = PQconninfoParse(conninfo, NULL);
	if (!hosts->options) {
		free(hosts);
		return NULL;
	}
	hosts->count = 1;
	for (PQconninfoOption *o = hosts->options; o->keyword; o++)
		if (o->val &&
		    (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0))
			if (list_length(o->val) > hosts->count)
				hosts->count = list_length(o->val);
	return hosts;
}

void db_hosts_free(struct db_hosts *hosts)
{
	if (!hosts)
		return;
	PQconninfoFree(hosts->options);
	free(hosts);
}

int db_hosts_count(const struct db_hosts *hosts)
{
	return hosts ? hosts->count : 1;
}

PGconn *db_hosts_connect_start(const struct db_hosts *hosts, int first)
{
	size_t n = 0;
	for (PQconninfoOption *o = hosts->options; o->keyword; o++)
		n++;
	const char **keywords = calloc(n + 1, sizeof *keywords);
	const char **values = calloc(n + 1, sizeof *values);
	char **owned = calloc(n + 1, sizeof *owned);
	PGconn *conn = NULL;
	if (!keywords || !values || !owned)
		goto done;
	size_t used = 0;
	for (PQconninfoOption *o = hosts->options; o->keyword; o++) {
		if (!o->val)
			continue;
		keywords[used] = o->keyword;
		values[used] = o->val;
		if (is_host_list(o->keyword) && list_length(o->val) > 1) {
			owned[used] = rotate(o->val, first);
			if (!owned[used])
				goto done;
			values[used] = owned[used];
		}
		used++;
	}
	conn = PQconnectStartParams(keywords, values, 0);
done:
	if (owned)
		for (size_t i = 0; i <= n; i++)
			free(owned[i]);
	free(owned);
	free(keywords);
	free(values);
	return conn;
}

long db_hosts_connect_timeout_ms(const struct db_hosts *hosts, long fallback_ms)
{
	if (!hosts)
		return fallback_ms;
	for (PQconninfoOption *o = hosts->options; o->keyword; o++)
		if (o->val && strcmp(o->keyword, "connect_timeout") == 0) {
			long s = strtol(o->val, NULL, 10);
			if (s > 0)
				return (s < 2 ? 2 : s) * 1000L; /* as libpq: less than 2 s is 2 s */
		}
	return fallback_ms;
}
