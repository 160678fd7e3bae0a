/* Reads rollcalld's INI file. One table (CONFIG_KEYS below) names every key with its type,
 * default, whether SIGHUP reloads it and where it is stored; parsing, defaults, the key list and
 * the reference in docs/config.md all come from it, so they cannot drift apart. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#define SECTION "rollcalld"
#define STRING_VALUE_MAX 4096 /* no sane path, name or conninfo is longer */

enum config_type {
	CT_LISTEN,      /* host:port or [v6]:port: listen_host and listen_port */
	CT_PATH,        /* a file the daemon must be able to read */
	CT_STRING,      /* free text without control characters */
	CT_BOOL,        /* true/false, yes/no, on/off, 1/0 */
	CT_INT,         /* int within min..max */
	CT_LONG,        /* long within min..max */
	CT_LOG_LEVEL,   /* error, warn, info, debug */
	CT_LOG_FORMAT,  /* text, json */
	CT_TLS_VERSION, /* 1.2 or 1.3: stored as 12 or 13 */
};

enum config_key_flags {
	CK_REQUIRED = 1u << 0,  /* the file must set it */
	CK_RELOAD = 1u << 1,    /* SIGHUP applies a new value; others need a restart */
	CK_MULTILINE = 1u << 2, /* may continue on indented lines, joined with a space */
};

/* KEY(name, type, flags, field, min, max, default as written in the file or NULL, default as the
 * docs say it when that differs, meaning) */
#define CONFIG_KEYS(KEY)                                                                           \
	KEY(listen, CT_LISTEN, CK_REQUIRED, listen_host, 0, 0, NULL, NULL,                         \
	    "Address and port for HTTPS: `host:port` (IPv4 address or host name) or "              \
	    "`[v6-address]:port`.")                                                                \
	KEY(tls_cert, CT_PATH, CK_REQUIRED | CK_RELOAD, tls_cert, 0, 0, NULL, NULL,                \
	    "PEM certificate chain the daemon presents, leaf first.")                              \
	KEY(tls_key, CT_PATH, CK_REQUIRED | CK_RELOAD, tls_key, 0, 0, NULL, NULL,                  \
	    "PEM private key of `tls_cert`.")                                                      \
	KEY(tls_ca, CT_PATH, CK_REQUIRED | CK_RELOAD, tls_ca, 0, 0, NULL, NULL,                    \
	    "PEM CA certificate(s) that issue client certificates; a client certificate's "        \
	    "subject CN names its account.")                                                       \
	KEY(tls_crl, CT_PATH, CK_RELOAD, tls_crl, 0, 0, NULL, "none",                              \
	    "PEM CRL of `tls_ca`. When set, a missing or expired CRL refuses every client.")       \
	KEY(tls_min_version, CT_TLS_VERSION, CK_RELOAD, tls_min_version, 0, 0, "1.3", NULL,        \
	    "Oldest TLS version served: `1.3`, or `1.2` for terminals that cannot do 1.3 (then "   \
	    "with ECDHE key exchange and AEAD ciphers only: AES-GCM, ChaCha20-Poly1305).")         \
	KEY(database, CT_STRING, CK_REQUIRED | CK_MULTILINE, database, 0, 0, NULL, NULL,           \
	    "libpq connection string (`host=... dbname=...` or a `postgresql://` URI). May "       \
	    "continue on indented lines, which are joined with a space.")                          \
	KEY(bootstrap_admin, CT_STRING, 0, bootstrap_admin, 0, 0, NULL, "none",                    \
	    "Certificate CN given the admin role on first start, when no account exists yet.")     \
	KEY(webhook_ca, CT_PATH, CK_RELOAD, webhook_ca, 0, 0, NULL, "system CA store",             \
	    "PEM CA bundle trusted for authority webhook endpoints instead of the system store.")  \
	KEY(webhook_proxy, CT_STRING, 0, webhook_proxy, 0, 0, NULL, "none",                        \
	    "HTTP proxy the webhooks to the authorities go through (`http://host:port`, as "       \
	    "municipal networks may require): a CONNECT tunnel, TLS still end to end. The "        \
	    "environment's `https_proxy` is never used.")                                          \
	KEY(public_url, CT_STRING, 0, public_url, 0, 0, NULL, "`https://` + `listen`",             \
	    "HTTPS base URL under which the authorities reach this daemon; every "                 \
	    "`absence.reported` carries `receipt_url` = this + "                                   \
	    "`/v1/notifications/<event_id>/receipt`.")                                             \
	KEY(smtp_relay, CT_STRING, 0, smtp_relay, 0, 0, NULL, "none",                              \
	    "Mail relay for the on-call e-mail channels, `host:port` (plain SMTP; STARTTLS when "  \
	    "the relay offers it). Without it, e-mail channels fail and say so.")                  \
	KEY(smtp_from, CT_STRING, 0, smtp_from, 0, 0, NULL, "`rollcalld@<hostname>`",              \
	    "Sender address of the on-call e-mails (envelope and `From:`).")                       \
	KEY(smtp_ca, CT_PATH, 0, smtp_ca, 0, 0, NULL, "system CA store",                           \
	    "PEM CA bundle trusted for the relay's STARTTLS certificate instead of the system "    \
	    "store.")                                                                              \
	KEY(admin_email, CT_STRING, 0, admin_email, 0, 0, NULL, "none",                            \
	    "Address of the admins (one; a list is the relay's business): from 14 days before "    \
	    "the daemon's certificate, the client CA or the CRL expires, one e-mail a day each "   \
	    "through `smtp_relay` (which it needs).")                                              \
	KEY(test_clock, CT_BOOL, 0, test_clock, 0, 0, "false", NULL,                               \
	    "Tests only: the clock stands still until `PUT /v1/clock` sets it.")                   \
	KEY(log_level, CT_LOG_LEVEL, CK_RELOAD, log_level, 0, 0, "info", NULL,                     \
	    "`error`, `warn`, `info` or `debug`. Residents' names are logged at `debug` only.")    \
	KEY(log_format, CT_LOG_FORMAT, CK_RELOAD, log_format, 0, 0, "text", NULL,                  \
	    "`text` (one line: instant, `rollcalld[pid]`, level, message) or `json` (one JSON "    \
	    "object per line: `ts`, `level`, `pid`, `msg`, and `request_id` and `account` when "   \
	    "the line is about a request).")                                                       \
	KEY(db_pool_size, CT_INT, 0, db_pool_size, 1, 256, "4", NULL,                              \
	    "PostgreSQL connections for requests, the timing engine and the sender; with 3 or "    \
	    "more the timing engine works through a backlog on two at once. One certificate's "    \
	    "requests use at most half of them at once.")                                          \
	KEY(max_connections, CT_INT, 0, max_connections, 1, 1000000, "10000", NULL,                \
	    "Client connections open at once; more are closed on accept.")                         \
	KEY(max_body_bytes, CT_LONG, 0, max_body_bytes, 1024, 1073741824, "1048576", NULL,         \
	    "Largest request body in bytes (413 above).")                                          \
	KEY(max_header_bytes, CT_INT, 0, max_header_bytes, 1024, 1048576, "16384", NULL,           \
	    "Largest request header block in bytes.")                                              \
	KEY(idle_timeout, CT_INT, 0, idle_timeout_s, 1, 86400, "60", NULL,                         \
	    "Seconds a connection may sit idle between requests.")                                 \
	KEY(request_timeout, CT_INT, 0, request_timeout_s, 1, 3600, "30", NULL,                    \
	    "Seconds within which a whole request must arrive, however slowly it trickles in.")    \
	KEY(handshake_timeout, CT_INT, 0, handshake_timeout_s, 1, 600, "10", NULL,                 \
	    "Seconds from accept within which a client must complete the TLS handshake; a "        \
	    "connection that has not is closed (and, at `max_connections`, the oldest such is "    \
	    "closed first to make room).")                                                         \
	KEY(request_rate, CT_INT, 0, request_rate, 0, 1000000, "500", NULL,                        \
	    "Requests per second one client certificate (CN) may make on average; more get 429 "   \
	    "with `Retry-After`. `0` turns the budget off.")                                       \
	KEY(request_burst, CT_INT, 0, request_burst, 1, 1000000, "1000", NULL,                     \
	    "Requests one client certificate may make at once above `request_rate` (the token "    \
	    "bucket's size).")                                                                     \
	KEY(sse_heartbeat, CT_INT, 0, sse_heartbeat_s, 1, 3600, "15", NULL,                        \
	    "Seconds between keep-alive comments on an idle alert stream.")                        \
	KEY(webhook_timeout, CT_INT, 0, webhook_timeout_s, 1, 600, "10", NULL,                     \
	    "Seconds for one webhook attempt: connect, send and response.")                        \
	KEY(webhook_backoff_max, CT_INT, 0, webhook_backoff_max_s, 1, 86400, "600", NULL,          \
	    "Cap in seconds of the growing wait between webhook retries.")                         \
	KEY(instance_name, CT_STRING, 0, instance_name, 0, 0, NULL, "`<hostname>:<pid>`",          \
	    "Names this daemon as the holder of leases in the database (several daemons may "      \
	    "share one database).")

struct config_key {
	const char *name;
	enum config_type type;
	unsigned flags;
	size_t offset; /* of the field in struct config */
	long min, max; /* CT_INT, CT_LONG */
	const char *default_value;
	const char *default_doc;
	const char *doc;
};

#define KEY_ENTRY(name_, type_, flags_, field_, min_, max_, default_, default_doc_, doc_)          \
	{.name = #name_,                                                                           \
	 .type = type_,                                                                            \
	 .flags = flags_,                                                                          \
	 .offset = offsetof(struct config, field_),                                                \
	 .min = min_,                                                                              \
	 .max = max_,                                                                              \
	 .default_value = default_,                                                                \
	 .default_doc = default_doc_,                                                              \
	 .doc = doc_},
static const struct config_key config_keys[] = {CONFIG_KEYS(KEY_ENTRY)};
#define KEY_COUNT (sizeof config_keys / sizeof config_keys[0])

#define KEY_NAME(name_, ...) #name_,
const char *const config_key_names[] = {CONFIG_KEYS(KEY_NAME) NULL};

/* The parse in progress: inih calls the reader for every physical line and the handler for
 * every key, and both report through here. Only the first error is kept. */
struct load_state {
	const char *path;
	FILE *file;
	char *raw; /* getline buffer */
	size_t raw_size;
	int line;          /* physical line being parsed, from 1 */
	bool continuation; /* that line starts with white space */
	struct config config;
	int key_line[KEY_COUNT]; /* where each key was set, 0 if not */
	int error_line;          /* line of the first error, -1 for one without a line, 0 none */
	char error[512];
};

static void record_error(struct load_state *state, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void record_error(struct load_state *state, int line, const char *fmt, ...)
{
	if (state->error_line != 0)
		return;
	state->error_line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(state->error, sizeof state->error, fmt, ap);
	va_end(ap);
}

static const struct config_key *key_find(const char *name)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	}
	return NULL;
}

static void *key_field(struct config *config, const struct config_key *key)
{
	return (char *)config + key->offset;
}

static bool has_control_characters(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* Strict decimal: digits only (no sign, no spaces, no suffix), within min..max. */
static bool parse_number(const char *text, long min, long max, long *out)
{
	if (*text == '\0')
		return false;
	long value = 0;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		if (value > (LONG_MAX - (*p - '0')) / 10)
			return false;
		value = value * 10 + (*p - '0');
	}
	if (value < min || value > max)
		return false;
	*out = value;
	return true;
}

static bool parse_bool(const char *text, bool *out)
{
	static const char *const truths[] = {"true", "yes", "on", "1"};
	static const char *const lies[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
		if (strcasecmp(text, truths[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(text, lies[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool is_hostname(const char *host)
{
	size_t len = strlen(host);
	if (len == 0 || len > 253 || host[0] == '-' || host[0] == '.')
		return false;
	for (const char *p = host; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			return false;
	}
	return true;
}

/* host:port or [v6]:port. On success *host is a new string without brackets. The reason for
 * a refusal goes to why. */
static bool parse_listen(const char *text, char **host, int *port, const char **why)
{
	const char *colon;
	char *name = NULL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':') {
			*why = "expected [v6-address]:port";
			return false;
		}
		name = strndup(text + 1, (size_t)(close - text - 1));
		colon = close + 1;
		struct in6_addr address;
		if (name != NULL && inet_pton(AF_INET6, name, &address) != 1) {
			*why = "the part in brackets is not an IPv6 address";
			goto failed;
		}
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*why = "expected host:port";
			return false;
		}
		name = strndup(text, (size_t)(colon - text));
		if (name != NULL && strchr(name, ':') != NULL) {
			*why = "an IPv6 address needs brackets, e.g. [::1]:8443";
			goto failed;
		}
		if (name != NULL && !is_hostname(name)) {
			*why = "the host must be an IPv4 address or a host name";
			goto failed;
		}
	}
	if (name == NULL) {
		*why = "out of memory";
		return false;
	}
	long number;
	if (!parse_number(colon + 1, 1, 65535, &number)) {
		*why = "the port must be a number from 1 to 65535";
		goto failed;
	}
	*host = name;
	*port = (int)number;
	return true;

failed:
	free(name);
	return false;
}

/* Records the refusal of key's value and returns false. The value itself is not repeated:
 * `database` may hold a password. */
static bool bad_value(struct load_state *state, const struct config_key *key, int line,
                      const char *why)
{
	record_error(state, line, "%s:%d: bad value for '%s': %s", state->path, line, key->name,
	             why);
	return false;
}

/* CT_STRING and CT_PATH: stores a copy of value in *text, or with continuation appends it to
 * *text with a space. A path must be readable. */
static bool string_set(struct load_state *state, const struct config_key *key, char **text,
                       const char *value, int line, bool continuation)
{
	if (value[0] == '\0')
		return bad_value(state, key, line, "must not be empty");
	if (has_control_characters(value))
		return bad_value(state, key, line, "must not contain control characters");
	size_t old_len = continuation && *text != NULL ? strlen(*text) : 0;
	size_t len = old_len + (old_len > 0 ? 1 : 0) + strlen(value);
	if (len > STRING_VALUE_MAX) {
		char why[64];
		snprintf(why, sizeof why, "longer than %d bytes", STRING_VALUE_MAX);
		return bad_value(state, key, line, why);
	}
	char *copy = malloc(len + 1);
	if (copy == NULL) {
		record_error(state, line, "%s:%d: out of memory", state->path, line);
		return false;
	}
	if (old_len > 0) {
		memcpy(copy, *text, old_len);
		copy[old_len] = ' ';
		memcpy(copy + old_len + 1, value, len - old_len); /* with its NUL */
	} else {
		memcpy(copy, value, len + 1);
	}
	free(*text);
	*text = copy;
	if (key->type == CT_PATH && access(copy, R_OK) != 0) {
		record_error(state, line, "%s:%d: bad value for '%s': cannot read %s: %s",
		             state->path, line, key->name, copy, strerror(errno));
		return false;
	}
	return true;
}

/* Stores one value of key into config. line is 0 for a default. A continuation (an indented
 * line under a CK_MULTILINE key) is appended to the value with a space. */
static bool key_set(struct load_state *state, const struct config_key *key, const char *value,
                    int line, bool continuation)
{
	struct config *config = &state->config;
	void *field = key_field(config, key);
	const char *why;

	switch (key->type) {
	case CT_LISTEN: {
		char *host;
		int port;
		if (!parse_listen(value, &host, &port, &why))
			return bad_value(state, key, line, why);
		free(config->listen_host);
		config->listen_host = host;
		config->listen_port = port;
		return true;
	}
	case CT_PATH:
	case CT_STRING:
		return string_set(state, key, field, value, line, continuation);
	case CT_BOOL:
		if (!parse_bool(value, field))
			return bad_value(state, key, line, "expected true or false");
		return true;
	case CT_INT:
	case CT_LONG: {
		long number;
		if (!parse_number(value, key->min, key->max, &number)) {
			char range[64];
			snprintf(range, sizeof range, "expected an integer from %ld to %ld",
			         key->min, key->max);
			return bad_value(state, key, line, range);
		}
		if (key->type == CT_INT)
			*(int *)field = (int)number;
		else
			*(long *)field = number;
		return true;
	}
	case CT_TLS_VERSION:
		if (strcmp(value, "1.2") == 0)
			*(int *)field = 12;
		else if (strcmp(value, "1.3") == 0)
			*(int *)field = 13;
		else
			return bad_value(state, key, line, "expected 1.2 or 1.3");
		return true;
	case CT_LOG_LEVEL: {
		char lower[16];
		size_t i = 0;
		for (; value[i] != '\0' && i + 1 < sizeof lower; i++)
			lower[i] = (char)tolower((unsigned char)value[i]);
		lower[i] = '\0';
		if (value[i] != '\0' || !log_level_parse(lower, field))
			return bad_value(state, key, line, "expected error, warn, info or debug");
		return true;
	}
	case CT_LOG_FORMAT:
		if (!log_format_parse(value, field))
			return bad_value(state, key, line, "expected text or json");
		return true;
	}
	return bad_value(state, key, line, "unknown key type");
}

/* inih's line reader. It gives inih one physical line per call, so that the line numbers here
 * and inih's agree, and refuses lines too long for inih's buffer instead of letting inih cut
 * them (which would silently shorten a value). */
static char *read_line(char *buffer, int size, void *stream)
{
	struct load_state *state = stream;
	ssize_t n = getline(&state->raw, &state->raw_size, state->file);
	if (n < 0)
		return NULL; /* end of file, or an error config_load finds with ferror() */
	state->line++;
	const char *text = state->raw;
	/* A UTF-8 byte order mark is allowed (inih skips it). */
	if (state->line == 1 && n >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		text += 3;
	state->continuation = text[0] == ' ' || text[0] == '\t';

	if (memchr(state->raw, '\0', (size_t)n) != NULL) {
		record_error(state, state->line, "%s:%d: NUL byte in line", state->path,
		             state->line);
		snprintf(buffer, (size_t)size, "\n");
		return buffer;
	}
	if ((size_t)n > (size_t)size - 1) {
		record_error(state, state->line, "%s:%d: line longer than %d bytes%s", state->path,
		             state->line, size - 2,
		             "; continue 'database' on indented lines if it needs more");
		snprintf(buffer, (size_t)size, "\n");
		return buffer;
	}
	memcpy(buffer, state->raw, (size_t)n + 1);

	/* Sections are checked here rather than in the handler so that an empty section of
	 * another name is refused too, at its own line. */
	const char *start = text;
	while (*start == ' ' || *start == '\t')
		start++;
	if (*start == '[') {
		const char *end = strchr(start, ']');
		if (end != NULL && ((size_t)(end - start - 1) != strlen(SECTION) ||
		                    memcmp(start + 1, SECTION, strlen(SECTION)) != 0))
			record_error(state, state->line,
			             "%s:%d: unknown section [%.*s] (the only section is [" SECTION
			             "])",
			             state->path, state->line, (int)(end - start - 1), start + 1);
	}
	return buffer;
}

/* inih's handler: one key = value (or a continuation line of the previous key). */
static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *state = user;
	int line = state->line;
	if (state->error_line != 0)
		return 1; /* the first error is the one reported; stop doing work */
	if (strcmp(section, SECTION) != 0) {
		/* Another section's header was refused by the reader already. */
		record_error(state, line, "%s:%d: key '%s' outside the [" SECTION "] section",
		             state->path, line, name);
		return 0;
	}
	const struct config_key *key = key_find(name);
	if (key == NULL) {
		record_error(state, line, "%s:%d: unknown key '%s'", state->path, line, name);
		return 0;
	}
	size_t index = (size_t)(key - config_keys);
	if (state->continuation) {
		if (!(key->flags & CK_MULTILINE)) {
			record_error(state, line,
			             "%s:%d: indented line continues '%s', which takes one line",
			             state->path, line, key->name);
			return 0;
		}
	} else if (state->key_line[index] != 0) {
		record_error(state, line, "%s:%d: duplicate key '%s' (first set on line %d)",
		             state->path, line, key->name, state->key_line[index]);
		return 0;
	} else {
		state->key_line[index] = line;
	}
	return key_set(state, key, value, line, state->continuation) ? 1 : 0;
}

static bool set_instance_name_default(struct config *config)
{
	char host[256];
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	char name[300];
	snprintf(name, sizeof name, "%s:%ld", host, (long)getpid());
	config->instance_name = strdup(name);
	return config->instance_name != NULL;
}

/* One plain address name@domain: printable ASCII, no spaces, brackets or separators. */
static bool plain_address(const char *address)
{
	const char *at = strchr(address, '@');
	bool ok = at != NULL && at > address && at[1] != '\0' && strchr(at + 1, '@') == NULL;
	for (const char *p = address; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
		     strchr("<>()[],;:\\\"", *p) == NULL;
	return ok;
}

/* smtp_relay is host:port (a name or IPv4 address, or [v6]); smtp_from one plain address, so
 * that neither can smuggle anything into the SMTP dialogue or a header. */
static bool check_smtp(struct load_state *state)
{
	const char *relay = state->config.smtp_relay;
	if (relay != NULL) {
		const char *colon = strrchr(relay, ':');
		char *end = NULL;
		long port = colon ? strtol(colon + 1, &end, 10) : 0;
		bool host_ok = colon != NULL && colon > relay;
		for (const char *p = relay; host_ok && p < colon; p++)
			host_ok = isalnum((unsigned char)*p) || strchr(".-[]:", *p) != NULL;
		if (!host_ok || end == NULL || *end != '\0' || end == colon + 1 || port < 1 ||
		    port > 65535) {
			record_error(state, -1, "%s: smtp_relay must be host:port, not '%s'",
			             state->path, relay);
			return false;
		}
	}
	const char *addresses[][2] = {{"smtp_from", state->config.smtp_from},
	                              {"admin_email", state->config.admin_email}};
	for (size_t i = 0; i < sizeof addresses / sizeof addresses[0]; i++) {
		const char *address = addresses[i][1];
		if (address != NULL && !plain_address(address)) {
			record_error(state, -1,
			             "%s: %s must be one address (name@domain), not '%s'",
			             state->path, addresses[i][0], address);
			return false;
		}
	}
	if (state->config.admin_email != NULL && state->config.smtp_relay == NULL) {
		record_error(state, -1,
		             "%s: admin_email needs smtp_relay (the relay it is sent through)",
		             state->path);
		return false;
	}
	return true;
}

/* public_url is an https:// URL without spaces, query or fragment; a trailing '/' is dropped
 * so that receipt_url never holds "//". Unset, it is https:// + listen (SPEC section 10). */
static bool check_public_url(struct load_state *state)
{
	struct config *c = &state->config;
	if (c->public_url == NULL) {
		char url[600];
		bool v6 = c->listen_host != NULL && strchr(c->listen_host, ':') != NULL;
		snprintf(url, sizeof url, v6 ? "https://[%s]:%d" : "https://%s:%d",
		         c->listen_host ? c->listen_host : "localhost", c->listen_port);
		c->public_url = strdup(url);
		if (c->public_url == NULL) {
			record_error(state, -1, "%s: out of memory", state->path);
			return false;
		}
		return true;
	}
	size_t len = strlen(c->public_url);
	while (len > strlen("https://") && c->public_url[len - 1] == '/')
		c->public_url[--len] = '\0';
	bool ok = strncmp(c->public_url, "https://", 8) == 0 && len > 8;
	for (const char *p = c->public_url; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
		     strchr("?#\"<>\\", *p) == NULL;
	if (!ok) {
		record_error(
		    state, -1,
		    "%s: public_url must be an https:// URL without query or fragment, not "
		    "'%s'",
		    state->path, c->public_url);
		return false;
	}
	return true;
}

bool config_load(const char *path, struct config *out, char *errbuf, size_t errlen)
{
	struct load_state state = {.path = path};

	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (config_keys[i].default_value != NULL &&
		    !key_set(&state, &config_keys[i], config_keys[i].default_value, 0, false))
			goto failed;
	}

	state.file = fopen(path, "r");
	if (state.file == NULL) {
		record_error(&state, -1, "%s: %s", path, strerror(errno));
		goto failed;
	}
	int parse_error = ini_parse_stream(read_line, &state, handle_key, &state);
	if (ferror(state.file))
		record_error(&state, -1, "%s: read error: %s", path, strerror(errno));
	/* inih reports the first line it could not parse (or whose handler failed): whichever of
	 * its line and ours comes first is the error to report. */
	if (parse_error > 0 && (state.error_line == 0 || parse_error < state.error_line)) {
		state.error_line = 0;
		record_error(&state, parse_error,
		             "%s:%d: syntax error: expected 'key = value' or '[" SECTION "]'", path,
		             parse_error);
	} else if (parse_error < 0) {
		record_error(&state, -1, "%s: out of memory", path);
	}
	if (state.error_line != 0)
		goto failed;

	for (size_t i = 0; i < KEY_COUNT; i++) {
		if ((config_keys[i].flags & CK_REQUIRED) && state.key_line[i] == 0) {
			record_error(&state, -1, "%s: missing required key '%s'", path,
			             config_keys[i].name);
			goto failed;
		}
	}
	if (!check_smtp(&state) || !check_public_url(&state))
		goto failed;
	if (state.config.instance_name == NULL && !set_instance_name_default(&state.config)) {
		record_error(&state, -1, "%s: out of memory", path);
		goto failed;
	}

	fclose(state.file);
	free(state.raw);
	*out = state.config;
	return true;

failed:
	if (state.file != NULL)
		fclose(state.file);
	free(state.raw);
	config_free(&state.config);
	snprintf(errbuf, errlen, "%s", state.error);
	return false;
}

void config_free(struct config *config)
{
	if (config == NULL)
		return;
	free(config->listen_host);
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (config_keys[i].type == CT_PATH || config_keys[i].type == CT_STRING)
			free(*(char **)key_field(config, &config_keys[i]));
	}
	memset(config, 0, sizeof *config);
}

static bool key_equal(const struct config *a, const struct config *b, const struct config_key *key)
{
	const void *fa = (const char *)a + key->offset;
	const void *fb = (const char *)b + key->offset;
	switch (key->type) {
	case CT_LISTEN:
		return a->listen_port == b->listen_port &&
		       strcmp(a->listen_host ? a->listen_host : "",
		              b->listen_host ? b->listen_host : "") == 0;
	case CT_PATH:
	case CT_STRING: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		return (sa == NULL && sb == NULL) ||
		       (sa != NULL && sb != NULL && strcmp(sa, sb) == 0);
	}
	case CT_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CT_INT:
		return *(const int *)fa == *(const int *)fb;
	case CT_LONG:
		return *(const long *)fa == *(const long *)fb;
	case CT_LOG_LEVEL:
		return *(const enum log_level *)fa == *(const enum log_level *)fb;
	case CT_LOG_FORMAT:
		return *(const enum log_format *)fa == *(const enum log_format *)fb;
	case CT_TLS_VERSION:
		return *(const int *)fa == *(const int *)fb;
	}
	return false;
}

bool config_restart_keys(const struct config *running, const struct config *loaded, char *out,
                         size_t out_size)
{
	size_t len = 0;
	bool any = false;
	if (out_size > 0)
		out[0] = '\0';
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if ((config_keys[i].flags & CK_RELOAD) ||
		    key_equal(running, loaded, &config_keys[i]))
			continue;
		any = true;
		if (len < out_size) {
			int n = snprintf(out + len, out_size - len, "%s%s", len > 0 ? ", " : "",
			                 config_keys[i].name);
			if (n > 0)
				len += (size_t)n;
		}
	}
	return any;
}

static void type_text(const struct config_key *key, char *out, size_t out_size)
{
	switch (key->type) {
	case CT_LISTEN:
		snprintf(out, out_size, "host:port");
		return;
	case CT_PATH:
		snprintf(out, out_size, "file path");
		return;
	case CT_STRING:
		snprintf(out, out_size, "string");
		return;
	case CT_BOOL:
		snprintf(out, out_size, "boolean");
		return;
	case CT_INT:
	case CT_LONG:
		snprintf(out, out_size, "integer %ld-%ld", key->min, key->max);
		return;
	case CT_LOG_LEVEL:
		snprintf(out, out_size, "level");
		return;
	case CT_LOG_FORMAT:
		snprintf(out, out_size, "format");
		return;
	case CT_TLS_VERSION:
		snprintf(out, out_size, "TLS version");
		return;
	}
	snprintf(out, out_size, "?");
}

bool config_write_reference(FILE *out)
{
	if (fprintf(out, "| key | type | default | on SIGHUP | meaning |\n"
	                 "|---|---|---|---|---|\n") < 0)
		return false;
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const struct config_key *key = &config_keys[i];
		char type[64], default_text[64];
		type_text(key, type, sizeof type);
		if (key->flags & CK_REQUIRED)
			snprintf(default_text, sizeof default_text, "required");
		else if (key->default_doc != NULL)
			snprintf(default_text, sizeof default_text, "%s", key->default_doc);
		else
			snprintf(default_text, sizeof default_text, "`%s`", key->default_value);
		if (fprintf(out, "| `%s` | %s | %s | %s | %s |\n", key->name, type, default_text,
		            key->flags & CK_RELOAD ? "reloaded" : "restart needed", key->doc) < 0)
			return false;
	}
	return true;
}
