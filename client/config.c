/* Reads rollcall's INI configuration with inih against a table of known keys, so that a typo is
 * refused with the key's name and line instead of being silently ignored. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http_parse.h"

enum key_kind {
	KEY_URL,  /* checked with url_parse */
	KEY_FILE, /* a readable file, resolved against the config file's directory */
};

struct key_spec {
	const char *name;
	size_t offset; /* of the char * in struct client_config */
	enum key_kind kind;
};

static const struct key_spec key_table[] = {
    {"url", offsetof(struct client_config, url), KEY_URL},
    {"cert", offsetof(struct client_config, cert), KEY_FILE},
    {"key", offsetof(struct client_config, key), KEY_FILE},
    {"ca", offsetof(struct client_config, ca), KEY_FILE},
    {NULL, 0, KEY_URL},
};

const char *const config_keys[] = {"url", "cert", "key", "ca", NULL};

/* State shared by the inih reader and handler: the reader counts lines so that the handler,
 * called right after its line was read, can name it. */
struct load_state {
	FILE *file;
	const char *path;
	int line;
	struct client_config *config;
	char *err;
	size_t errlen;
	bool failed;
};

static char *reader(char *str, int num, void *stream)
{
	struct load_state *state = stream;
	char *line = fgets(str, num, state->file);
	if (line != NULL && strchr(line, '\n') != NULL)
		state->line++;
	else if (line != NULL && feof(state->file))
		state->line++; /* the last line without a newline */
	return line;
}

static void fail(struct load_state *state, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct load_state *state, const char *format, ...)
{
	if (state->failed)
		return; /* the first problem is the one to fix first */
	state->failed = true;
	char message[512];
	va_list ap;
	va_start(ap, format);
	vsnprintf(message, sizeof(message), format, ap);
	va_end(ap);
	snprintf(state->err, state->errlen, "%s, line %d: %s", state->path, state->line, message);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *state = user;

	if (section[0] != '\0' && strcasecmp(section, "rollcall") != 0) {
		fail(state,
		     "key '%s' is in an unknown section [%s] (keys go at the top or under "
		     "[rollcall])",
		     name, section);
		return 0;
	}
	for (const struct key_spec *key = key_table; key->name != NULL; key++) {
		if (strcmp(key->name, name) != 0)
			continue;
		char **slot = (char **)((char *)state->config + key->offset);
		if (*slot != NULL) {
			fail(state, "key '%s' is given twice", name);
			return 0;
		}
		if (value[0] == '\0') {
			fail(state, "key '%s' has no value", name);
			return 0;
		}
		*slot = strdup(value);
		if (*slot == NULL) {
			fail(state, "out of memory");
			return 0;
		}
		return 1;
	}
	fail(state, "unknown key '%s' (known keys: url, cert, key, ca)", name);
	return 0;
}

/* Makes *value absolute: "~/x" under $HOME, "x" next to the configuration file. */
static bool resolve_file(char **value, const char *config_path)
{
	const char *v = *value;
	char *resolved = NULL;

	if (v[0] == '/')
		return true;
	if (v[0] == '~' && v[1] == '/') {
		const char *home = getenv("HOME");
		if (home == NULL || home[0] == '\0')
			return false;
		if (asprintf(&resolved, "%s/%s", home, v + 2) < 0)
			return false;
	} else {
		const char *slash = strrchr(config_path, '/');
		int dir_len = slash ? (int)(slash - config_path) : 1;
		const char *dir = slash ? config_path : ".";
		if (asprintf(&resolved, "%.*s/%s", dir_len, dir, v) < 0)
			return false;
	}
	free(*value);
	*value = resolved;
	return true;
}

bool config_choose_path(const char *explicit_path, char *out, size_t outlen, char *err,
                        size_t errlen)
{
	const char *env = getenv("ROLLCALL_CONFIG");
	int n;

	if (explicit_path != NULL) {
		n = snprintf(out, outlen, "%s", explicit_path);
	} else if (env != NULL && env[0] != '\0') {
		n = snprintf(out, outlen, "%s", env);
	} else {
		const char *home = getenv("HOME");
		if (home == NULL || home[0] == '\0') {
			snprintf(err, errlen,
			         "no configuration: use --config FILE or set ROLLCALL_CONFIG "
			         "(HOME is not set, so ~/.config/rollcall/config cannot be found)");
			return false;
		}
		n = snprintf(out, outlen, "%s/.config/rollcall/config", home);
	}
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "the configuration file's name is too long");
		return false;
	}
	return true;
}

bool config_load(const char *path, struct client_config *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct load_state state = {
	    .path = path,
	    .config = out,
	    .err = err,
	    .errlen = errlen,
	};

	state.file = fopen(path, "r");
	if (state.file == NULL) {
		snprintf(err, errlen, "cannot read the configuration %s: %s", path,
		         strerror(errno));
		return false;
	}
	int result = ini_parse_stream(reader, &state, handler, &state);
	fclose(state.file);
	if (result != 0 && !state.failed) {
		/* inih's own complaint: a line that is neither a section, a key nor a comment. */
		if (result > 0)
			snprintf(err, errlen, "%s, line %d: not a 'key = value' line", path,
			         result);
		else
			snprintf(err, errlen, "%s: cannot be read (out of memory)", path);
		state.failed = true;
	}
	if (state.failed)
		goto failed;

	out->path = strdup(path);
	if (out->path == NULL) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}
	for (const struct key_spec *key = key_table; key->name != NULL; key++) {
		char **slot = (char **)((char *)out + key->offset);
		if (*slot == NULL) {
			snprintf(err, errlen,
			         "%s: the key '%s' is missing (needed: url, cert, key, ca)", path,
			         key->name);
			goto failed;
		}
		if (key->kind == KEY_URL) {
			struct url url;
			char why[256];
			if (!url_parse(*slot, &url, why, sizeof(why))) {
				snprintf(err, errlen, "%s: url '%s': %s", path, *slot, why);
				goto failed;
			}
		} else {
			if (!resolve_file(slot, path)) {
				snprintf(err, errlen, "%s: cannot resolve the file name of '%s'",
				         path, key->name);
				goto failed;
			}
			if (access(*slot, R_OK) != 0) {
				snprintf(err, errlen, "%s: %s file %s: %s", path, key->name, *slot,
				         strerror(errno));
				goto failed;
			}
		}
	}
	return true;

failed:
	config_free(out);
	return false;
}

void config_free(struct client_config *config)
{
	free(config->path);
	free(config->url);
	free(config->cert);
	free(config->key);
	free(config->ca);
	memset(config, 0, sizeof(*config));
}
